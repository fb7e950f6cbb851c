"""Granite 3 (IBM, 2024-2025; transformers' GraniteConfig): Llama's block; its embedding,
residual, attention and logit multipliers scale activations without adding parameters or
changing a projection's shape, so they are not priced. Granite SWA (GraniteSWAConfig) makes
some layers attend to a sliding window and gives every layer a learned sink logit per head."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, window_layers
from rooflens.models.readers.moe_fields import refuse


def read_granite(c: _Config, name: str) -> ModelSpec:
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    # GraniteAttention splits hidden_size over the heads; a config's head_dim is not read.
    # GraniteConfig has no sliding_window; vLLM's granite.py windows every layer by it.
    return _llama_like(c, name, refused=("sliding_window",), head_dim=c.per_head(hidden, heads))


def swa_fields(c: _Config) -> dict[str, Any]:
    """Granite SWA's and GraniteMoeSWA's attention: the "sliding_attention" layers of
    `layer_types` (absent: all but every fourth, from the first) attend to `sliding_window`
    keys, the "full_attention" ones to every key; each layer's GraniteSWAAttention holds a
    learned sink logit per head (`sinks`), which both kinds of layer read. The per-layer rotary
    bases (`layer_rope_theta`, 0 for no rotary positions) are not priced."""
    layers = c.req("num_hidden_layers")
    default = ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers)]
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    return {
        **window_layers(c, windowed, 128),  # null: no window (stated_window)
        "attention_sinks": True,
    }


def read_granite_swa(c: _Config, name: str) -> ModelSpec:
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim, split = c.head_dim(hidden, heads), c.per_head(hidden, heads)
    if head_dim != split:
        # GraniteSWAAttention reads a config's head_dim; Granite's vLLM attention splits
        # hidden_size over the heads.
        refuse(c, "head_dim", head_dim, f"{split} (hidden_size / num_attention_heads)")
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 4),
        max_positions=c.get("max_position_embeddings", 8192),
        tied_embeddings=c.get("tie_word_embeddings", True),
        **swa_fields(c),
    )
