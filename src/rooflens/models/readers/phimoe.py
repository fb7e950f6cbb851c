"""Phi-3.5-MoE (Microsoft, 2024; transformers' PhimoeConfig): GQA attention, LayerNorms with
biases, and in every layer an MoE of `num_local_experts` experts, top-`num_experts_per_tok`."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_phimoe(c: _Config, name: str) -> ModelSpec:
    """PhimoeDecoderLayer's norms are nn.LayerNorm (weight and bias), as is the final norm;
    the head carries a bias where `lm_head_bias`. The router (sparsemixer) is one linear
    without bias; its jitter noise is training-only."""
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in PhimoeConfig, nor in vLLM's phimoe.py
        max_positions=c.get("max_position_embeddings", 131072),
        norm="layernorm",
        norm_bias=True,
        lm_head_bias=c.get("lm_head_bias", False),
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("intermediate_size"),
    )
