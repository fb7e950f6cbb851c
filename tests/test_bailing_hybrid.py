"""Ling 3 (bailing_hybrid): the KDA/MLA schedule as both transformers and vLLM build it, the
full-rank KDA gates, the per-head MLA gate, the MTP module, and the keys the two engines read
apart refused by name."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
import transformers

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.mixers import Mixer
from rooflens.core.mtp import mtp_params
from rooflens.models import spec_from_config

LING = {
    "model_type": "bailing_hybrid",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "vocab_size": 100,
    "num_hidden_layers": 6,
    "layer_group_size": 3,
    "head_dim": 8,
    "intermediate_size": 96,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 12,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "first_k_dense_replace": 1,
    "pad_token_id": 0,
    "eos_token_id": 1,
}


def _op(spec: Any, name: str) -> Any:
    return next(op for op in build_graph(spec, AnalysisOptions()).operators if op.name == name)


def test_layers_gates_and_mixer_as_the_config_says() -> None:
    spec = spec_from_config(LING)
    # Every third layer MLA (2 of 6), the rest KDA; the first layer dense.
    assert (spec.mixer_layers, spec.attention_layers, spec.dense_layers) == (4, 2, 1)
    assert spec.is_mla and spec.attention_head_gate and spec.mtp_layers == 1
    mixer = spec.mixer
    assert mixer.kind == "kda" and mixer.full_rank_decay and mixer.full_rank_gate
    assert (mixer.num_heads, mixer.head_dim, mixer.key_dim, mixer.low_rank) == (4, 8, 8, 0)
    # MLA's gate: one logit per head (g_proj h -> heads) in the 2 MLA layers.
    gate = _op(spec, "attn_gate_proj")
    assert (gate.in_features, gate.out_features, gate.layers) == (64, 4, 2)
    # KDA's decay: one h -> H*P projection (f_proj), no bottleneck.
    decay = _op(spec, "mixer_decay_proj")
    assert (decay.in_features, decay.out_features, decay.layers) == (64, 32, 4)


def test_full_rank_kda_parameters_by_hand() -> None:
    spec = spec_from_config(LING)
    mixer_ops = [op for op in build_graph(spec, AnalysisOptions()).operators if "mixer" in op.name]
    # q/k/v 64 x 96, beta 64 x 4, decay 64 x 32, gate 64 x 32, conv 96 x 4, A_log 4 and
    # dt_bias 32, the output norm 8, o_proj 32 x 64, in each of the 4 KDA layers.
    layer = 64 * 96 + 64 * 4 + 64 * 32 + 64 * 32 + 96 * 4 + 4 + 32 + 8 + 32 * 64
    assert sum(op.params() for op in mixer_ops) == layer
    assert {op.layers for op in mixer_ops} == {4}


def test_the_mtp_module_is_an_mla_and_moe_layer_on_the_main_embedding_and_head() -> None:
    # vLLM's BailingMoeV3MultiTokenPredictorLayer: enorm, hnorm, eh_proj 2h -> h, a decoder
    # layer of MLA and MoE, final_layernorm; its head and embedding are the main model's.
    sizes = {k: v for k, v in LING.items() if k != "model_type"}
    config = transformers.AutoConfig.for_model("bailing_hybrid", **sizes)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    layer = model.model.layers[5]  # an MLA and MoE layer
    assert type(layer.self_attn).__name__ == "BailingHybridAttention"
    block = sum(p.numel() for p in layer.parameters())
    block += layer.mlp.gate.e_score_correction_bias.numel()
    h = 64
    assert mtp_params(spec_from_config(LING)) == block + 2 * h + 2 * h * h + h


def test_layers_past_the_last_whole_group() -> None:
    # 7 layers in groups of 3: transformers' default makes layer 6 KDA, vLLM's BailingMoeV3 MLA.
    with pytest.raises(ModelConfigError, match="layer_group_size=3 is not supported"):
        spec_from_config(LING | {"num_hidden_layers": 7})
    # Written out as vLLM builds it, both engines agree.
    kinds = ["linear_attention", "linear_attention", "full_attention"] * 2 + ["full_attention"]
    spec = spec_from_config(LING | {"num_hidden_layers": 7, "layer_types": kinds})
    assert (spec.mixer_layers, spec.attention_layers) == (4, 3)
    # A list vLLM does not build (it reads layer_group_size alone) is refused.
    with pytest.raises(ModelConfigError, match="layer_types="):
        spec_from_config(LING | {"layer_types": ["linear_attention"] * 5 + ["full_attention"]})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # Ling 2.5's lightning attention shares the model_type.
        ("architectures", ["BailingMoeV2_5ForCausalLM"]),
        ("no_kda_lora", False),
        ("gated_attention_proj_granularity_type", "element_wise"),
        ("moe_shared_expert_intermediate_size", 48),
        ("tie_word_embeddings", True),
        ("use_bias", True),
        ("attention_bias", True),
        ("hidden_act", "gelu"),
    ],
)
def test_keys_the_engines_read_apart_are_refused_by_name(key: str, value: Any) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(f"{key}={value!r} is not supported")):
        spec_from_config(LING | {key: value})


def test_the_published_spellings_read_as_transformers_reads_them() -> None:
    published = LING | {
        "architectures": ["BailingMoeV3ForCausalLM"],
        "no_kda_lora": True,
        "gated_attention_proj_granularity_type": "head_wise",
        "moe_shared_expert_intermediate_size": 32,
        "num_shared_experts": 1,
    }
    assert spec_from_config(published) == spec_from_config(LING).model_copy(
        update={"name": spec_from_config(published).name}
    )
    # Two spellings of one key that disagree: which one transformers keeps is the file's order.
    with pytest.raises(ModelConfigError, match="num_local_experts=8"):
        spec_from_config(LING | {"num_local_experts": 8})


def test_kda_gate_fields_are_checked() -> None:
    shape = {"num_heads": 2, "head_dim": 4, "num_key_heads": 2, "key_dim": 4, "conv_kernel": 4}
    with pytest.raises(ValueError, match="low_rank=4 is unused"):
        Mixer(kind="kda", full_rank_gate=True, full_rank_decay=True, low_rank=4, **shape)
    with pytest.raises(ValueError, match="needs low_rank"):
        Mixer(kind="kda", full_rank_decay=True, **shape)
    with pytest.raises(ValueError, match="are KDA's"):
        Mixer(kind="gated_deltanet", full_rank_decay=True, **shape)
