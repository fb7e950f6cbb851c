"""Command R7B and Command A (Cohere, 2024-2025; transformers' Cohere2Config): attention and
the MLP side by side after one LayerNorm without bias (their outputs summed into the residual
stream), sliding-window layers by `layer_types` (3 of every 4 by default) attending to
`sliding_window` keys, the global ones to every key, and tied embeddings."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.cohere import command_r_block
from rooflens.models.readers.common import count_layers, window_layers


def read_cohere2(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    # Cohere2Config: every sliding_window_pattern-th layer global (saved as
    # _sliding_window_pattern by transformers 4.5x).
    pattern = c.positive("sliding_window_pattern", c.get("_sliding_window_pattern", 4))
    default = [
        "sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)
    ]
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    return _llama_like(
        c,
        name,
        **command_r_block(c),
        **window_layers(c, windowed, 4096),  # null: no window (stated_window)
    )
