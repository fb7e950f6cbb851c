"""Granite 3.0/3.1 MoE (IBM, 2024; transformers' GraniteMoeConfig): Llama-style attention and
in every layer an MoE of `num_local_experts` experts, top-`num_experts_per_tok`, no shared
expert."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_granitemoe(c: _Config, name: str) -> ModelSpec:
    """The muP scalars (embedding_multiplier, attention_multiplier, residual_multiplier,
    logits_scaling) scale activations by constants: no weights, and one multiply per element
    that is not priced."""
    return _llama_like(
        c,
        name,
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("intermediate_size"),
    )
