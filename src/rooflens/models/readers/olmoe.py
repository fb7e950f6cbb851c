"""OLMoE (Allen AI, 2024; transformers' OlmoeConfig): every layer an MoE of `num_experts`
experts (top-`num_experts_per_tok`, no shared expert), with q/k RMSNorms over the whole
projections."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_olmoe(c: _Config, name: str) -> ModelSpec:
    """OlmoeAttention normalizes q over num_attention_heads x head_dim and k over
    num_key_value_heads x head_dim, as MiniMax-M2 does. `clip_qkv` clamps q, k and v
    element-wise (no weights; its few operations per element are not priced)."""
    return _llama_like(
        c,
        name,
        # OlmoeConfig has no mlp_bias (vLLM serves transformers' model); its sliding_window
        # is read: OlmoeAttention passes getattr(config, "sliding_window") to attention.
        ignored=("mlp_bias",),
        max_positions=c.get("max_position_embeddings", 4096),
        qk_norm=True,
        qk_norm_whole=True,
        qk_norm_gathered=True,
        num_experts=c.req("num_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("intermediate_size"),
    )
