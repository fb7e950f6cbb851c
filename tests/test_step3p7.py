"""Step 3.7 Flash (model_type step3p7; its language model step3p5): full-attention layers beside
sliding-window layers with more query heads, a sigmoid gate per head, dense then MoE layers with
a shared expert, and MTP modules with a head of their own. Costs and counts are computed by hand
on a toy config; the bundled config's counts were checked against transformers'
Step3p7ForConditionalGeneration (196,956,118,272 language-model parameters, plus the 42 x 288
score-correction biases it holds as buffers) and its MtpModel."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes, weight_bytes
from rooflens.core.mtp import mtp_graph, mtp_model, mtp_params, stored_part
from rooflens.core.operators import HeadGate, Linear, Precision, Step
from rooflens.core.options import Parallelism
from rooflens.core.techniques.parallelism import local_model
from rooflens.models import load_model, spec_from_config

# 4 layers (one full attention of 2 heads, three sliding ones of 4 heads over a window of 3),
# one KV head of 4, the first layer dense (6 wide), then MoE of 4 experts of 2 (top 2) with a
# shared expert of 2; one MTP layer, sliding and dense, as the published configs pad their
# per-layer lists.
TOY = {
    "model_type": "step3p5",
    "hidden_size": 8,
    "intermediate_size": 6,
    "num_hidden_layers": 4,
    "vocab_size": 16,
    "num_attention_heads": 2,
    "num_attention_groups": 1,
    "head_dim": 4,
    "attention_other_setting": {
        "attention_type": "sliding_attention",
        "num_attention_heads": 4,
        "num_attention_groups": 1,
        "head_dim": 4,
    },
    "layer_types": ["full_attention"] + ["sliding_attention"] * 4,
    "sliding_window": 3,
    "moe_layers_enum": "1,2,3",
    "moe_num_experts": 4,
    "moe_top_k": 2,
    "moe_intermediate_size": 2,
    "share_expert_dim": 2,
    "num_nextn_predict_layers": 1,
    "use_head_wise_attn_gate": True,
    "max_position_embeddings": 64,
}


def test_toy_step_parameters_by_hand() -> None:
    spec = spec_from_config(TOY)
    assert (spec.num_heads, spec.global_heads, spec.window_layers, spec.dense_layers) == (
        4,
        2,
        3,
        1,
    )
    # Per layer two norms (16); the full layer's q 8x8, k and v 8x4, o 8x8, q/k norms 4 + 4,
    # g_proj 8x2; a sliding layer's q 8x16, k, v 8x4, o 16x8, norms, g_proj 8x4.
    full, sliding = 64 + 32 + 32 + 64 + 8 + 16, 128 + 32 + 32 + 128 + 8 + 32
    dense = 3 * 8 * 6
    moe = 8 * 4 + 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2  # router and its bias, experts, shared expert
    total = 4 * 16 + full + 3 * sliding + dense + 3 * moe + 2 * 16 * 8 + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 2596
    # The MTP module: enorm and hnorm, eh_proj 16 -> 8, a sliding layer with a dense MLP, its
    # own final norm and head; the embedding is the main model's.
    assert mtp_params(spec) == 16 + 128 + 16 + sliding + dense + 8 + 16 * 8 == 800


def test_toy_step_gate_shapes_and_kv_cache_by_hand() -> None:
    spec = spec_from_config(TOY)
    graph = build_graph(spec, AnalysisOptions())
    q = sorted((op.layers, op.out_features) for op in graph.operators if op.name == "q_proj")
    assert q == [(1, 2 * 4), (3, 4 * 4)]
    gates = [op for op in graph.operators if isinstance(op, HeadGate)]
    assert sorted((g.layers, g.num_heads, g.head_dim) for g in gates) == [(1, 2, 4), (3, 4, 4)]
    step = Step(batch=np.array(1.0), new_tokens=np.array(5.0), past=np.array(0.0))
    sliding_gate = next(g for g in gates if g.num_heads == 4)
    # Per token a sigmoid per head (3 OPs) and a multiply per output: (3 + 4) x 4.
    assert float(sliding_gate.cost(step, Precision(Quantization())).ops) == 5 * (3 + 4) * 4
    # K and V of one head of 4 at 2 bytes: 16 bytes per token and layer; at 10 tokens the full
    # layer keeps all, the three sliding ones their window of 3.
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(10.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == 16 * 10 + 3 * 16 * 3


def test_transformers_spelling_reads_the_same() -> None:
    """transformers saves the per-layer lists without the MTP entries (mtp_layer_types,
    mtp_mlp_layer_types) and its own key names."""
    spelled = {
        k: v for k, v in TOY.items() if k not in ("attention_other_setting", "moe_layers_enum")
    }
    spelled |= {
        "num_key_value_heads": 1,
        "num_sliding_attention_heads": 4,
        "layer_types": TOY["layer_types"][:4],
        "mtp_layer_types": ["sliding_attention"],
        "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"],
        "mtp_mlp_layer_types": ["dense"],
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
    }
    for key in ("num_attention_groups", "moe_num_experts", "moe_top_k"):
        del spelled[key]
    assert spec_from_config(spelled) == spec_from_config(TOY)


def test_step_3_7_flash_bundled() -> None:
    spec = load_model("stepfun-ai/Step-3.7-Flash")
    assert spec.model_type == "step3p7"
    assert (spec.num_heads, spec.global_heads, spec.num_kv_heads, spec.head_dim) == (96, 64, 8, 128)
    assert (spec.window_layers, spec.sliding_window, spec.dense_layers) == (33, 512, 3)
    assert (spec.num_experts, spec.experts_per_token, spec.mtp_layers) == (288, 8, 3)
    assert spec.attention_head_gate and spec.activation == "silu" and spec.vision is None
    main = build_graph(spec, AnalysisOptions()).params()
    assert main == 196_956_118_272 + 42 * 288 == 196_956_130_368
    # transformers' MtpModel builds 3 x 247,746,816 with 64 query heads and the main model's
    # head; vLLM's Step3p5MTP gives the sliding MTP layers their 96 heads (q, o, g_proj: 32 more
    # heads of 128) and each module its own shared_head output.
    extra_heads = 2 * 32 * 128 * 4096 + 32 * 4096
    assert mtp_params(spec) == 743_240_448 + 3 * (extra_heads + 128896 * 4096) == 2_428_171_008
    layer = mtp_model(spec)
    assert (layer.num_heads, layer.global_heads, layer.window_layers) == (96, None, None)
    assert layer.dense_layers == 1
    # KV: 2 x 8 heads x 128 x 2 bytes = 4,096 bytes per token and layer; 12 full layers keep
    # the whole context, 33 sliding ones 512 tokens.
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(100_000.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == 4096 * (12 * 100_000 + 33 * 512)


def test_step_3_7_flash_splits_both_head_counts_and_drafts_with_its_mtp() -> None:
    spec = load_model("stepfun-ai/Step-3.7-Flash")
    local = local_model(spec, Parallelism(tp=8))
    assert (local.num_heads, local.global_heads, local.num_kv_heads) == (12, 8, 1)
    options = AnalysisOptions(parallelism=Parallelism(tp=8))
    graph = build_graph(spec, options, rooflens.get_device("h200-sxm"))
    gates = sorted(op.out_features for op in graph.operators if op.name == "attn_gate_proj")
    assert gates == [8, 12]
    # 40 global heads do not split over 16 devices, though the 96 window heads do.
    with pytest.raises(InvalidInputError, match=r"divisor of .* 40 global-layer attention heads"):
        local_model(spec.model_copy(update={"global_heads": 40}), Parallelism(tp=16))
    one = rooflens.speculate(spec, "h200-sxm", gamma=1, alpha=0.8, mtp=True)
    three = rooflens.speculate(spec, "h200-sxm", gamma=3, alpha=0.8, mtp=True)
    assert float(three.draft_time) == pytest.approx(3 * float(one.draft_time))
    assert float(one.draft_time) < float(one.plain_step) / 10
    with pytest.raises(InvalidInputError, match="Step3p7VisionModel"):
        rooflens.analyze(spec, "h200-sxm", prompt_len=64, images=1)
    gate_projs = [op for op in graph.operators if op.name == "attn_gate_proj"]
    assert all(isinstance(op, Linear) and not op.bias for op in gate_projs)


def test_drafting_holds_every_mtp_module_with_its_cache() -> None:
    """vLLM builds all three modules and runs one a draft step (spec_step_idx % 3): their
    weights and each one's layer cache are held, three times one module's."""
    spec = load_model("stepfun-ai/Step-3.7-Flash")
    device = rooflens.get_device("b200")
    options = AnalysisOptions()
    module = stored_part(spec, mtp_graph(spec, options, device))
    one = weight_bytes(module, Quantization())
    estimate = rooflens.speculate(spec, device, gamma=3, alpha=0.8, mtp=True, context=1024)
    assert estimate.drafter_weights == pytest.approx(3 * one)
    # The model's own cache through the three drafted tokens, beside the modules'.
    plain = rooflens.analyze(spec, device, batch=1, prompt_len=1027, gen_len=1).memory["decode"]
    # Each module's layer is a sliding-window layer: 512 keys of 8 heads x 128, 2 bytes each.
    layer = 512 * 2 * 8 * 128 * 2
    assert kv_cache_bytes(mtp_model(spec), Quantization(), 1, 1024 + 3 + 1, ((1.0, 512),)) == layer
    assert float(estimate.memory.kv_cache) == pytest.approx(float(plain.kv_cache) + 3 * layer)
    single = spec.model_copy(update={"mtp_layers": 1})
    assert rooflens.speculate(single, device, gamma=3, alpha=0.8, mtp=True).drafter_weights == (
        pytest.approx(one)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attention_other_setting": TOY["attention_other_setting"] | {"num_attention_groups": 2}},
         r"attention_other_setting.num_attention_groups=2 is not supported; supported: 1, the "
         r"full layers'"),
        ({"moe_layers_enum": None},
         r"names its MoE layers neither in mlp_layer_types nor in moe_layers_enum"),
        ({"moe_layers_enum": "1,2,9"},
         r"moe_layers_enum='1,2,9' is not supported; supported: layer indices from 0 to 4"),
        ({"layer_types": ["full_attention"] + ["sliding_attention"] * 3 + ["full_attention"]},
         r"layer_types \(its MTP layers' entries\)=\['full_attention'\] is not supported; "
         r"supported: 'sliding_attention'"),
        ({"layer_types": ["full_attention"] * 3},
         r"layer_types has 3 entries for num_hidden_layers=4 and num_nextn_predict_layers=1"),
        ({"use_head_wise_attn_gate": False},
         r"use_head_wise_attn_gate=False is not supported; supported: true"),
        ({"sliding_window": None}, r"sliding_window=None is invalid for the 3 sliding_attention"),
    ],
)  # fmt: skip
def test_what_step_cannot_be_is_refused(change: dict, message: str) -> None:
    config = {k: v for k, v in (TOY | change).items() if v is not None}
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(config)


_OTHER = TOY["attention_other_setting"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # 4.0 and true compared equal to the full layers' 4 and 1, and were read as them.
        ({"attention_other_setting": _OTHER | {"head_dim": 4.0}},
         "attention_other_setting.head_dim=4.0 is invalid: expected an integer"),
        ({"attention_other_setting": _OTHER | {"num_attention_groups": True}},
         "attention_other_setting.num_attention_groups=True is invalid: expected an integer"),
        ({"attention_other_setting": _OTHER | {"num_attention_heads": 0}},
         "attention_other_setting.num_attention_heads=0 is invalid: expected a positive integer "
         "of at most 65,536"),
        # int() read 1.5 as layer 1 and true as layer 1.
        ({"moe_layers_enum": [1.5, 2, 3]},
         "moe_layers_enum=[1.5, 2, 3] is not supported; supported: layer indices from 0 to 4, "
         "comma-separated"),
        ({"moe_layers_enum": [True, 2, 3]},
         "moe_layers_enum=[True, 2, 3] is not supported; supported: layer indices from 0 to 4, "
         "comma-separated"),
        # 1 compared equal to true.
        ({"gating": 1},
         "gating=1 is not supported; supported: true or 'per-head' (one gate per head)"),
        # Each was refused naming rooflens's fields (global_heads, experts_per_token=0.0,
        # num_experts, shared_intermediate_size).
        ({"num_attention_groups": 3,
          "attention_other_setting": _OTHER | {"num_attention_groups": 3}},
         "num_attention_heads=2 is invalid: expected a multiple of num_attention_groups=3"),
        ({"num_attention_heads": -2},
         "num_attention_heads=-2 is invalid: expected a positive integer of at most 65,536"),
        ({"num_attention_heads": 10**12},
         "num_attention_heads=1000000000000 is invalid: expected a positive integer of at most "
         "65,536"),
        ({"moe_top_k": 0}, "moe_top_k=0 is invalid: expected a positive integer of at most "
                           "65,536"),
        ({"moe_num_experts": -1},
         "moe_num_experts=-1 is invalid: expected a positive integer of at most 65,536"),
        ({"share_expert_dim": -1},
         "share_expert_dim=-1 is invalid: expected a width of 0 (no shared expert) to "
         "4,194,304"),
    ],
)  # fmt: skip
def test_malformed_step_values_are_refused_naming_the_key(change: dict, message: str) -> None:
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(TOY | change)
    assert str(error.value) == f"config.json of model_type 'step3p5': {message}"


def test_a_text_config_model_type_that_is_not_text_is_refused() -> None:
    # false read as the wrapper's default language model (step3p5).
    with pytest.raises(ModelConfigError) as error:
        spec_from_config({"model_type": "step3p7", "text_config": TOY | {"model_type": False}})
    assert str(error.value) == (
        "config.json of model_type 'step3p7': text_config.model_type=False is invalid: "
        "expected a model_type name (text)"
    )
