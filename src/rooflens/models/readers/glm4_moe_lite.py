"""GLM-4.7-Flash (Z.ai, 2026; transformers' Glm4MoeLiteConfig): DeepSeek-V3's MLA attention
(Glm4MoeLiteAttention is DeepseekV3Attention: `q_lora_rank` 768, `kv_lora_rank` 512, 192 + 64
query/key widths, 256-wide values by default) with GLM-4.5's MoE: the layers `mlp_layer_types`
marks "dense" (the first, by default) a dense MLP, the others `n_routed_experts` experts
(top-`num_experts_per_tok`) of `moe_intermediate_size` beside `n_shared_experts` shared ones as
one MLP, routed with a score-correction bias (Glm4MoeLiteTopkRouter)."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.v3_layout import dense_from_types, mla_fields, spelling


def read_glm4_moe_lite(c: _Config, name: str) -> ModelSpec:
    """Glm4MoeLiteConfig's defaults stand for absent keys; its attribute_map reads `head_dim`
    as qk_rope_head_dim. The published config's `num_nextn_predict_layers` MTP modules
    (model.layers.47, which transformers skips) are recorded as GLM-4.5's are."""
    expert = c.positive("moe_intermediate_size", 1536, MAX_WIDTH)
    shared = c.count("n_shared_experts", 1)
    mla = mla_fields(
        c,
        nope=192,
        rope=64,
        v=256,
        kv_lora=512,
        q_lora=768,
        rope_key=spelling(c, "qk_rope_head_dim", "head_dim"),
    )
    return _llama_like(
        c,
        name,
        # Glm4MoeLiteConfig has no sliding_window: transformers' model ignores it, its
        # DynamicCache (no layer_types) keeps only that window; vLLM's MLA no window.
        refused=("sliding_window",),
        **mla,
        max_positions=c.get("max_position_embeddings", 202752),
        mlp_bias=False,
        num_experts=c.positive(spelling(c, "n_routed_experts", "num_local_experts"), 64, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 4, MAX_COUNT),
        expert_intermediate_size=expert,
        # Glm4MoeLiteMoE.shared_experts: one MLP of moe_intermediate_size x n_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_from_types(c, 1),
        mtp_layers=c.count("num_nextn_predict_layers"),
    )
