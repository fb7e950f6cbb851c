"""MiMo-V2-Flash (model_type mimo_v2_flash): GQA with values narrower than queries and keys,
full-attention layers beside sliding-window layers with twice the KV heads and attention sinks,
a dense first layer then MoE layers without shared experts, and MTP modules of one sliding layer
with a dense MLP. Counts and bytes are computed by hand on a toy config; the bundled config's
count equals transformers' MiMoV2FlashForCausalLM built from it (308,778,768,832 parameters)
plus the 47 MoE layers' score-correction biases (256 each), which it holds as buffers."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_bytes_per_token, kv_cache_bytes
from rooflens.core.mtp import mtp_model, mtp_params
from rooflens.core.operators import (
    AttentionSinks,
    AttentionValues,
    FlashAttention,
    Precision,
    Step,
)
from rooflens.core.options import Parallelism
from rooflens.core.techniques.parallelism import local_model
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import bundled_config

# 3 layers: a full one (2 heads, 1 KV head) then two sliding ones (2 heads, 2 KV heads) over
# 3 previous keys plus the query; queries and keys 4 wide, values 2; sinks in the sliding layers
# only; the first layer dense (6 wide), then MoE of 4 experts of 2 (top 2); one MTP layer.
TOY = {
    "model_type": "mimo_v2_flash",
    "hidden_size": 8,
    "intermediate_size": 6,
    "num_hidden_layers": 3,
    "vocab_size": 16,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "v_head_dim": 2,
    "swa_num_attention_heads": 2,
    "swa_num_key_value_heads": 2,
    "swa_head_dim": 4,
    "swa_v_head_dim": 2,
    "hybrid_layer_pattern": [0, 1, 1],
    "sliding_window": 3,
    "sliding_window_size": 3,
    "add_swa_attention_sink_bias": True,
    "add_full_attention_sink_bias": False,
    "moe_layer_freq": [0, 1, 1],
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 2,
    "n_shared_experts": None,
    "num_nextn_predict_layers": 1,
    "max_position_embeddings": 64,
}


def test_toy_mimo_parameters_by_hand() -> None:
    spec = spec_from_config(TOY)
    assert (spec.num_kv_heads, spec.global_kv_heads, spec.head_dim, spec.v_head_dim) == (2, 1, 4, 2)
    assert (spec.window_layers, spec.sliding_window, spec.dense_layers) == (2, 4, 1)
    assert spec.attention_sinks and spec.global_sinks is False
    # The full layer: q 8x8, k 8x4, v 8x2, o 4x8; a sliding layer: q 8x8, k 8x8, v 8x4, o 4x8
    # and a sink per head. Two norms per layer (16).
    full, sliding = 64 + 32 + 16 + 32, 64 + 64 + 32 + 32 + 2
    dense = 3 * 8 * 6
    moe = 8 * 4 + 4 + 4 * 3 * 8 * 2  # router and its bias, experts
    total = 2 * 16 * 8 + full + 2 * sliding + 3 * 16 + dense + 2 * moe + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 1444
    # The MTP module: enorm and hnorm, eh_proj 16 -> 8, a sliding layer with a dense MLP, its
    # final norm; the embedding and head are the main model's.
    assert mtp_params(spec) == 16 + 128 + sliding + 16 + dense + 8 == 506
    layer = mtp_model(spec)
    assert (layer.num_kv_heads, layer.global_kv_heads, layer.global_sinks) == (2, None, None)
    assert layer.attention_sinks and layer.dense_layers == 1


def test_toy_mimo_kv_cache_and_attention_by_hand() -> None:
    spec = spec_from_config(TOY)
    # K (4) and V (2) per KV head at 2 bytes: a sliding layer 2 x 6 x 2 = 24 bytes a token, the
    # full layer 1 x 6 x 2 = 12; kv_bytes_per_token counts every layer at the window layers'.
    assert kv_bytes_per_token(spec, Quantization()) == 3 * 24
    spans = kv_spans(spec, AnalysisOptions())
    assert spans == ((1 / 3 * 0.5, None), (2 / 3, 4))
    # At 10 tokens the full layer keeps all, the sliding ones their window of 4.
    kv = kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(10.0), spans)
    assert float(kv) == pytest.approx(12 * 10 + 2 * 24 * 4)
    graph = build_graph(spec, AnalysisOptions())
    v = sorted((op.layers, op.out_features) for op in graph.operators if op.name == "v_proj")
    assert v == [(1, 1 * 2), (2, 2 * 2)]
    o = sorted((op.layers, op.in_features) for op in graph.operators if op.name == "o_proj")
    assert o == [(1, 2 * 2), (2, 2 * 2)]
    sinks = [op for op in graph.operators if isinstance(op, AttentionSinks)]
    assert [(op.layers, op.num_heads) for op in sinks] == [(2, 2)]
    # P V over the 2-wide values: 2 x heads x v per score; V read once per KV head.
    values = next(
        op for op in graph.operators if isinstance(op, AttentionValues) and op.layers == 2
    )
    step = Step(batch=np.array(1.0), new_tokens=np.array(1.0), past=np.array(9.0))
    cost = values.cost(step, Precision(Quantization()))
    assert float(cost.ops) == 2 * 2 * 2 * 4  # 4 keys in the window
    assert float(cost.load_kv) == 2 * 2 * 2 * 4
    flash = build_graph(
        spec, AnalysisOptions(flash_attention=True), rooflens.get_device("h100-sxm")
    )
    fa = next(op for op in flash.operators if isinstance(op, FlashAttention) and op.layers == 1)
    cost = fa.cost(step, Precision(Quantization()))
    # QK^T (2 x 4) and PV (2 x 2) per head and pair, the softmax 5; 10 pairs in the full layer.
    assert float(cost.ops) == (2 * 2 * (4 + 2) + 5 * 2) * 10
    # Q read (2 x 4) and O written (2 x 2) at 2 bytes.
    assert (float(cost.load_act), float(cost.store_act)) == (2 * 4 * 2, 2 * 2 * 2)


def test_transformers_spelling_reads_the_same() -> None:
    """transformers saves layer_types and mlp_layer_types and drops the swa_* shapes and sink
    flags, which its MiMoV2FlashConfig hard-codes: sliding layers of twice the KV heads with
    sinks, full layers without; sliding_window is then the keys a query sees."""
    hub_only = (
        "hybrid_layer_pattern",
        "moe_layer_freq",
        "sliding_window_size",
        "n_shared_experts",
        "add_swa_attention_sink_bias",
        "add_full_attention_sink_bias",
    )
    spelled = {k: v for k, v in TOY.items() if k not in hub_only and not k.startswith("swa_")}
    spelled |= {
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
        "mlp_layer_types": ["dense", "sparse", "sparse"],
        "sliding_window": 4,
    }
    assert spec_from_config(spelled) == spec_from_config(TOY)


def test_mimo_v2_flash_bundled() -> None:
    spec = load_model("XiaomiMiMo/MiMo-V2-Flash")
    assert spec.model_type == "mimo_v2_flash"
    assert (spec.num_heads, spec.num_kv_heads, spec.global_kv_heads) == (64, 8, 4)
    assert (spec.head_dim, spec.global_head_dim, spec.v_head_dim) == (192, 192, 128)
    assert (spec.window_layers, spec.sliding_window) == (39, 129)
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (256, 8, 1)
    assert spec.shared_intermediate_size is None
    assert spec.attention_sinks and spec.global_sinks is False and spec.mtp_layers == 0
    graph = build_graph(spec, AnalysisOptions())
    assert graph.params() == 308_778_768_832 + 47 * 256 == 308_778_780_864
    sinks = [op for op in graph.operators if isinstance(op, AttentionSinks)]
    assert [(op.layers, op.num_heads) for op in sinks] == [(39, 64)]
    # K (192) and V (128) at 2 bytes: 8 KV heads in a sliding layer (5,120 bytes a token), 4 in
    # a full one (2,560). At 100,000 tokens the 9 full layers keep them all, the 39 sliding ones
    # their 129 keys.
    assert kv_bytes_per_token(spec, Quantization()) == 48 * 8 * 320 * 2
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(100_000.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == pytest.approx(9 * 2560 * 100_000 + 39 * 5120 * 129)
    # The checkpoint's FP8 blocks are read.
    assert spec.checkpoint_quant is not None and spec.checkpoint_quant.method == "fp8"


def test_mimo_v2_flash_mtp_modules_when_the_config_names_them() -> None:
    """The published config names no num_nextn_predict_layers (its 3 MTP layers are weights the
    main model skips); a config that names them gets modules of 0.33B each, as Xiaomi's card
    gives them: a sliding layer with a dense MLP, eh_proj and three norms."""
    config = bundled_config("XiaomiMiMo/MiMo-V2-Flash")
    spec = spec_from_config(config | {"num_nextn_predict_layers": 3})
    attention = 64 * 192 * 4096 + 8 * (192 + 128) * 4096 + 64 * 128 * 4096 + 64
    module = 2 * 4096 + 8192 * 4096 + attention + 2 * 4096 + 3 * 4096 * 16384 + 4096
    assert mtp_params(spec) == 3 * module == 3 * 329_273_408


def test_mimo_v2_flash_splits_over_tensor_parallelism() -> None:
    spec = load_model("XiaomiMiMo/MiMo-V2-Flash")
    local = local_model(spec, Parallelism(tp=8))
    assert (local.num_heads, local.num_kv_heads, local.global_kv_heads) == (8, 1, 1)
    options = AnalysisOptions(parallelism=Parallelism(tp=8))
    # Each device holds one KV head of each kind: every layer keeps 320 values a token.
    assert kv_spans(spec, options) == ((9 / 48, None), (39 / 48, 129))
    graph = build_graph(spec, options, rooflens.get_device("h200-sxm"))
    o = sorted({op.in_features for op in graph.operators if op.name == "o_proj"})
    assert o == [8 * 128]
    result = rooflens.analyze(spec, "h200-sxm", batch=8, prompt_len=4096, gen_len=256, tp=8)
    assert float(result.totals()["decode"]["time"]) > 0


def test_one_kind_of_layer() -> None:
    """All full: the full layers' shape and their sinks; all sliding: the window layers'."""
    no_window = {"hybrid_layer_pattern": [0, 0, 0], "num_nextn_predict_layers": 0}
    full = spec_from_config(TOY | no_window | {"add_full_attention_sink_bias": True})
    assert (full.num_kv_heads, full.sliding_window, full.global_head_dim) == (1, None, None)
    assert full.attention_sinks and full.v_head_dim == 2
    sliding = spec_from_config(TOY | {"hybrid_layer_pattern": [1, 1, 1]})
    assert (sliding.num_kv_heads, sliding.sliding_window, sliding.window_layers) == (2, 4, None)
    assert sliding.global_head_dim is None and sliding.attention_sinks


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"swa_v_head_dim": 4},
         r"swa_v_head_dim=4 is not supported; supported: 2, the full layers' v_head_dim"),
        ({"n_shared_experts": 1},
         r"n_shared_experts=1 is not supported; supported: null or 0 \(no shared experts\)"),
        ({"layer_types": ["full_attention"] * 3},
         r"layer_types=\['full_attention', 'full_attention', 'full_attention'\] is not "
         r"supported; supported: the layer kinds hybrid_layer_pattern gives"),
        ({"mlp_layer_types": ["dense", "dense", "sparse"]},
         r"mlp_layer_types=\['dense', 'dense', 'sparse'\] is not supported; supported: the "
         r"layer kinds moe_layer_freq gives"),
        ({"moe_layer_freq": 1},
         r"moe_layer_freq=1 is invalid: expected 0 \(dense\) or 1 \(MoE\) for each of the 3 "
         r"layers"),
        ({"hybrid_layer_pattern": [0, 1]},
         r"hybrid_layer_pattern=\[0, 1\] is invalid: expected 0 \(full attention\) or 1 "
         r"\(sliding window\) for each of the 3 layers"),
        ({"hybrid_layer_pattern": [0, 0, 0]},
         r"num_nextn_predict_layers=1 is not supported; supported: 0 where no layer slides"),
        ({"swa_num_key_value_heads": 3},
         r"swa_num_attention_heads=2 is invalid: expected a multiple of "
         r"swa_num_key_value_heads=3"),
        ({"add_swa_attention_sink_bias": 1},
         r"add_swa_attention_sink_bias=1 is invalid: expected true or false"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(TOY | change)
