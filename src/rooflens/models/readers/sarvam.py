"""Sarvam (Sarvam AI, 2026): Sarvam-30B (`sarvam_moe`; transformers' SarvamMoEConfig, built as
Glm4MoeForCausalLM) and Sarvam-105B (`sarvam_mla`; SarvamMLAConfig, built as
DeepseekV3ForCausalLM). Each config class only changes its base's defaults and spellings; the
released checkpoints hold no MTP weights, so `num_mtp_layers` is not read."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import dense_first
from rooflens.models.readers.v3_layout import glm4_moe_config, mla_fields, spelling

# SarvamMoEConfig's defaults where it sets its own, else Glm4MoeConfig's (its base).
_SARVAM_MOE = {
    "head_dim": 64,
    "kv_heads": 4,
    "positions": 131072,
    "tied": False,
    "qk_norm": True,
    "shared": 1,
    "experts": 128,
    "top_k": 6,
    "moe_intermediate_size": 1024,
}


def read_sarvam_moe(c: _Config, name: str) -> ModelSpec:
    return glm4_moe_config(c, name, _SARVAM_MOE)


def read_sarvam_mla(c: _Config, name: str) -> ModelSpec:
    """DeepSeek-V3's layout with SarvamMLAConfig's defaults (no query bottleneck, one dense
    first layer, 128 experts) and DeepseekV3Config's for the rest; the legacy `head_dim` key
    is not read (the class drops it: the rotary width is qk_rope_head_dim). DeepseekV3TopkRouter
    always holds a score-correction bias."""
    expert = c.positive("moe_intermediate_size", 2048, MAX_WIDTH)
    shared = c.count(spelling(c, "n_shared_experts", "num_shared_experts"), 1)
    experts = spelling(c, "n_routed_experts", "num_experts", "num_local_experts")
    return _llama_like(
        c,
        name,
        # SarvamMLAConfig has no sliding_window: transformers' model ignores it, its
        # DynamicCache (no layer_types) keeps only that window.
        refused=("sliding_window",),
        **mla_fields(c, nope=128, rope=64, v=128, kv_lora=512, q_lora=None),
        max_positions=c.get("max_position_embeddings", 4096),
        mlp_bias=False,
        num_experts=c.positive(experts, 128, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 8, MAX_COUNT),
        expert_intermediate_size=expert,
        # DeepseekV3MoE.shared_experts: one MLP of moe_intermediate_size x n_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_first(c, "first_k_dense_replace", 1),
    )
