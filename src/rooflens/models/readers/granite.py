"""Granite 3 (IBM, 2024-2025; transformers' GraniteConfig): Llama's block; its embedding,
residual, attention and logit multipliers scale activations without adding parameters or
changing a projection's shape, so they are not priced."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_granite(c: _Config, name: str) -> ModelSpec:
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    # GraniteAttention splits hidden_size over the heads; a config's head_dim is not read.
    return _llama_like(c, name, head_dim=c.per_head(hidden, heads))
