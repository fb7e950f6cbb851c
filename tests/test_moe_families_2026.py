"""DeepSeek-V3's MoE layout in the families of 2026: Mistral Small 4 (mistral4, alone or in a
mistral3 wrapper), Hy3 (hy_v3), GLM-4.7-Flash (glm4_moe_lite), Sarvam (sarvam_moe, sarvam_mla)
and Param-2 (param2moe); Mistral Large 4 read and refused. Counts and bytes by hand on toy
configs (transformers agrees on each family's tiny configs: test_params_transformers), the
layouts and spellings each config class reads, and refusals naming the key."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
import transformers

from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.memory import kv_bytes_per_token
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config

# Mistral Small 4 in miniature: 2 layers of 2 heads over 8, MLA with a query rank of 4, a
# latent of 6, 3 + 2 query/key widths and 4-wide values; the first layer dense (10 wide), the
# second an MoE of 4 experts of 2 (top 2) beside one shared expert of 2.
MISTRAL4 = {
    "model_type": "mistral4",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 16,
    "intermediate_size": 10,
    "q_lora_rank": 4,
    "kv_lora_rank": 6,
    "qk_nope_head_dim": 3,
    "qk_rope_head_dim": 2,
    "v_head_dim": 4,
    "moe_intermediate_size": 2,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
}


def _refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)


def test_toy_mistral4_parameters_and_cache_by_hand() -> None:
    spec = spec_from_config(MISTRAL4)
    assert (spec.q_lora_rank, spec.kv_lora_rank, spec.head_dim, spec.v_head_dim) == (4, 6, 5, 4)
    assert (spec.dense_layers, spec.shared_intermediate_size, spec.router_bias) == (1, 2, False)
    # q_a 8x4, its norm 4, q_b 4x(2x5); kv_a 8x(6+2), its norm 6, kv_b 6x2x(3+4); o 8x8.
    attention = 32 + 4 + 40 + 64 + 6 + 84 + 64
    dense = 3 * 8 * 10
    moe = 8 * 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2  # router (no bias), experts, shared expert
    total = 2 * 16 * 8 + 2 * (attention + 16) + dense + moe + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 1396
    # The cache holds the latent and the rotary key: 2 layers x (6 + 2) x 2 bytes.
    assert kv_bytes_per_token(spec, Quantization()) == 2 * 8 * 2


def test_mistral4_reads_its_config_classs_defaults() -> None:
    # Mistral4Config: q_lora_rank 1024, kv_lora_rank 256, 64 + 64 query/key widths, 128-wide
    # values, 128 experts (top 4) of 2048 beside one shared, every layer MoE, 1M positions.
    spec = spec_from_config(
        {key: MISTRAL4[key] for key in ("model_type", "num_hidden_layers", "vocab_size")}
        | {"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 12288}
    )
    assert (spec.q_lora_rank, spec.kv_lora_rank, spec.qk_rope_head_dim) == (1024, 256, 64)
    assert (spec.head_dim, spec.v_head_dim, spec.num_kv_heads) == (128, 128, 32)
    assert (spec.num_experts, spec.experts_per_token, spec.expert_intermediate_size) == (
        128,
        4,
        2048,
    )
    assert (spec.shared_intermediate_size, spec.dense_layers) == (2048, 0)
    assert spec.max_positions == 1048576
    # Written as null, there is no query bottleneck (one q_proj).
    assert spec_from_config(MISTRAL4 | {"q_lora_rank": None}).q_lora_rank is None


def test_mistral3_wrapper_reads_a_mistral4_language_model() -> None:
    # Mistral Small 4 as published: a mistral3 wrapper (Pixtral tower) around mistral4.
    text = {key: value for key, value in MISTRAL4.items()} | {"hidden_size": 16}
    vision = {
        "model_type": "pixtral",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "head_dim": 16,
        "patch_size": 8,
        "image_size": 64,
    }
    wrapper = {"text_config": text, "vision_config": vision, "tie_word_embeddings": False}
    config = transformers.AutoConfig.for_model("mistral3", **wrapper)
    with torch.device("meta"):
        model = transformers.AutoModelForImageTextToText.from_config(config)
    tower = sum(
        p.numel()
        for part in (model.model.vision_tower, model.model.multi_modal_projector)
        for p in part.parameters()
    )
    spec = spec_from_config(wrapper | {"model_type": "mistral3"})
    assert spec.is_mla and spec.vision is not None
    assert build_graph(spec, AnalysisOptions()).params() == (
        sum(p.numel() for p in model.parameters()) - tower
    )
    assert vision_params(spec) == tower


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Every 4th layer NoPE by default: its latent cache lacks the rotary key.
        ({}, "text_config.no_rope_layers with 1 NoPE layers"),
        (
            {"no_rope_layers": [1, 1, 1, 1], "kv_source_layers": [0, 0, 2, 2]},
            "text_config.kv_source_layers=[0, 0, 2, 2] (layers attending to an earlier",
        ),
        ({"no_rope_layers": [1, 1, 1, 1]}, "MistralLarge4TextSoftmaxScaling"),
    ],
)
def test_mistral_large4_is_read_and_refused(change: dict[str, Any], message: str) -> None:
    text = {"num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 4} | change
    _refused({"model_type": "mistral_large4", "text_config": text}, message)
    # Its language model alone names its keys without the prefix.
    _refused(
        text | {"model_type": "mistral_large4_text"},
        message.replace("text_config.", ""),
    )


# Hy3 in miniature: 4 layers, the first two dense by mlp_layer_types.
HY_V3 = {
    "model_type": "hy_v3",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "num_hidden_layers": 4,
    "vocab_size": 16,
    "intermediate_size": 10,
    "moe_intermediate_size": 2,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "mlp_layer_types": ["dense", "dense", "sparse", "sparse"],
}


def test_toy_hy_v3_parameters_by_hand() -> None:
    spec = spec_from_config(HY_V3)
    assert (spec.dense_layers, spec.shared_intermediate_size) == (2, 2)
    assert spec.qk_norm and spec.router_bias
    # q 8x8, k and v 8x4, o 8x8, per-head q/k norms 4 + 4; two norms of 8.
    attention = 64 + 32 + 32 + 64 + 8 + 16
    dense = 3 * 8 * 10
    moe = 8 * 4 + 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2  # router and its correction bias, experts
    total = 2 * 16 * 8 + 4 * attention + 2 * dense + 2 * moe + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 2160
    # HYV3Config's default: the first layer dense.
    assert (
        spec_from_config({k: v for k, v in HY_V3.items() if k != "mlp_layer_types"}).dense_layers
        == 1
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mlp_bias": True}, "mlp_bias=True is not supported; supported: false (HYV3Experts"),
        (
            {"expert_hidden_dim": 4},
            "expert_hidden_dim=4 is not supported; supported: moe_intermediate_size=2",
        ),
        (
            {"first_k_dense_replace": 1},
            "first_k_dense_replace=1 is not supported; supported: 2, the dense layers "
            "mlp_layer_types gives",
        ),
        (
            {"mlp_layer_types": ["dense", "sparse", "dense", "sparse"]},
            "supported: every dense layer before the first sparse one",
        ),
        (
            {"num_local_experts": 8},
            "num_local_experts=8 is not supported; supported: the value of num_experts=4",
        ),
    ],
)
def test_hy_v3_layouts_it_cannot_express_are_refused(change: dict[str, Any], message: str) -> None:
    _refused(HY_V3 | change, message)


GLM_LITE = {key: value for key, value in MISTRAL4.items() if key != "first_k_dense_replace"} | {
    "model_type": "glm4_moe_lite"
}


def test_glm4_moe_lite_layout_and_spellings() -> None:
    spec = spec_from_config(GLM_LITE | {"num_nextn_predict_layers": 1})
    # Glm4MoeLiteConfig: the first layer dense, a score-correction bias, MTP recorded.
    assert (spec.dense_layers, spec.router_bias, spec.mtp_layers) == (1, True, 1)
    # Its attribute_map reads head_dim as the rotary width.
    assert spec_from_config(GLM_LITE | {"head_dim": 2, "qk_rope_head_dim": None}).head_dim == 5
    _refused(
        GLM_LITE | {"head_dim": 4},
        "head_dim=4 is not supported; supported: the value of qk_rope_head_dim=2",
    )
    _refused(
        GLM_LITE | {"attention_bias": True},
        "attention_bias=True is not supported; supported: false (transformers biases q_a_proj",
    )
    # vLLM's DeepSeek layers read first_k_dense_replace, transformers' model the list.
    _refused(
        GLM_LITE | {"first_k_dense_replace": 2},
        "first_k_dense_replace=2 is not supported; supported: 1, the dense layers the class's "
        "default layout gives",
    )


def test_sarvam_and_param2_read_their_classes_spellings_and_defaults() -> None:
    base = {key: HY_V3[key] for key in ("hidden_size", "num_hidden_layers", "vocab_size")}
    base |= {"num_attention_heads": 8, "intermediate_size": 10, "num_experts": 8}
    sarvam = spec_from_config(base | {"model_type": "sarvam_moe", "use_qkv_bias": True})
    # SarvamMoEConfig: 64-wide heads, 4 KV heads, q/k norms, one shared expert of 1024, top 6,
    # untied; use_qkv_bias is attention_bias, o_proj never biased.
    assert (sarvam.head_dim, sarvam.num_kv_heads, sarvam.qk_norm) == (64, 4, True)
    assert (sarvam.expert_intermediate_size, sarvam.shared_intermediate_size) == (1024, 1024)
    assert (sarvam.experts_per_token, sarvam.tied_embeddings) == (6, False)
    assert (sarvam.qkv_bias, sarvam.out_bias, sarvam.dense_layers) == (True, False, 1)
    param2 = spec_from_config(base | {"model_type": "param2moe"})
    # Param2MoeConfig: 8 KV heads, two shared experts of 2048, tied embeddings.
    assert (param2.num_kv_heads, param2.shared_intermediate_size) == (8, 4096)
    assert param2.tied_embeddings
    mla = spec_from_config(base | {"model_type": "sarvam_mla", "num_shared_experts": 2})
    # SarvamMLAConfig: no query bottleneck, DeepseekV3Config's latent of 512 and 128 + 64.
    assert (mla.q_lora_rank, mla.kv_lora_rank, mla.head_dim, mla.v_head_dim) == (
        None,
        512,
        192,
        128,
    )
    assert (mla.shared_intermediate_size, mla.num_experts, mla.router_bias) == (4096, 8, True)
    # The original releases' code biases o_proj and the MLPs; transformers' Glm4Moe never.
    _refused(
        base | {"model_type": "param2moe", "use_bias": True},
        "use_bias=True is not supported; supported: false (transformers' Glm4Moe",
    )
    _refused(
        base | {"model_type": "sarvam_moe", "use_qkv_bias": True, "attention_bias": False},
        "use_qkv_bias=True is not supported; supported: the value of attention_bias=False",
    )


def test_minicpm5_moe_gates_every_value_and_reads_its_layout() -> None:
    config = {key: value for key, value in HY_V3.items() if key != "num_experts"}
    config |= {"model_type": "minicpm5_moe", "n_routed_experts": 4, "attention_bias": True}
    spec = spec_from_config(config)
    # q_gate_proj 8 -> 2 x 8 (biased), k and v 8x4 (biased), o 8x8 (biased); no q/k norms.
    assert spec.attention_output_gate and not spec.qk_norm
    attention = (8 * 16 + 16) + 2 * (32 + 4) + (64 + 8) + 16
    dense = 3 * 8 * 10
    moe = 8 * 4 + 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2
    total = 2 * 16 * 8 + 4 * attention + 2 * dense + 2 * moe + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 2512
    # Its class builds the default list from first_k_dense_replace.
    del config["mlp_layer_types"]
    assert spec_from_config(config | {"first_k_dense_replace": 3}).dense_layers == 3
    _refused(
        config | {"use_gated_attention": False},
        "use_gated_attention=False is not supported; supported: true",
    )


COHERE2_MOE = {
    "model_type": "cohere2_moe",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "num_hidden_layers": 5,
    "vocab_size": 16,
    "intermediate_size": 2,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "num_shared_experts": 1,
    "first_k_dense_replace": 1,
    "prefix_dense_intermediate_size": 10,
    "sliding_window": 3,
}


def test_toy_cohere2_moe_parameters_and_windows_by_hand() -> None:
    spec = spec_from_config(COHERE2_MOE)
    # The dense first layer attends globally (prefix pattern 1); of the other four, every 4th.
    assert (spec.window_layers, spec.sliding_window, spec.dense_layers) == (3, 3, 1)
    assert spec.parallel_block and spec.norm == "layernorm" and spec.tied_embeddings
    assert (spec.intermediate_size, spec.expert_intermediate_size) == (10, 2)
    # q 8x8, k and v 8x4, o 8x8; one LayerNorm of 8 without bias.
    attention = 64 + 32 + 32 + 64 + 8
    dense = 3 * 8 * 10
    moe = 8 * 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2  # a router without bias, experts, shared expert
    total = 16 * 8 + 5 * attention + dense + 4 * moe + 8
    assert build_graph(spec, AnalysisOptions()).params() == total == 2464
    assert spec_from_config(COHERE2_MOE | {"rms_norm_eps": 1e-6}).norm == "rmsnorm"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"shared_expert_combination_strategy": "max"},
            "shared_expert_combination_strategy='max' is not supported; supported: average or sum",
        ),
        (
            {"mlp_layer_types": ["dense"] * 2 + ["sparse"] * 3},
            "first_k_dense_replace=1 is not supported; supported: 2, the dense layers "
            "mlp_layer_types gives",
        ),
        (
            {"layer_types": ["full_attention"] * 4 + ["chunked_attention"]},
            "layer_types holds ['chunked_attention']",
        ),
    ],
)
def test_cohere2_moe_layouts_it_cannot_express_are_refused(
    change: dict[str, Any], message: str
) -> None:
    _refused(COHERE2_MOE | change, message)
