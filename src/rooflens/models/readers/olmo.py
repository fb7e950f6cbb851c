"""OLMo 2 and Olmo 3 (Ai2, 2024-2025; transformers' Olmo2Config and Olmo3Config): Llama's
attention and SwiGLU MLP with RMSNorms over the whole q and k projections (q_norm of H·d,
k_norm of H_kv·d) and the norms after each sublayer instead of before it: every layer adds
`norm(attention(x))`, then `norm(mlp(x))`, to the residual stream. Olmo 3 adds sliding-window
layers (`layer_types`; 3 of every 4 by default) attending to `sliding_window` keys. OLMo 1
(`olmo`) is Llama's block with non-parametric LayerNorms."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, window_layers


def _olmo(c: _Config, name: str, **window: Any) -> ModelSpec:
    # Olmo2Config's and Olmo3Config's defaults for what a config may omit.
    return _llama_like(
        c,
        name,
        # Olmo2Config and Olmo3Config have no mlp_bias; vLLM serves both with its
        # Transformers backend, transformers' model.
        ignored=("mlp_bias",),
        qk_norm=True,
        qk_norm_whole=True,
        qk_norm_gathered=True,
        pre_norms=False,
        post_norms=True,
        **window,
    )


def read_olmo2(c: _Config, name: str) -> ModelSpec:
    # Olmo2Config has no sliding_window, which vLLM applies to every layer: refused.
    return _olmo(c, name, refused=("sliding_window",))


def read_olmo3(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    # Olmo3Config's default: every fourth layer attends to every key, the others to the window.
    default = ["sliding_attention" if (i + 1) % 4 else "full_attention" for i in range(layers)]
    types = c.get("layer_types", default)
    windowed = count_layers(c, types, "sliding_attention")
    return _olmo(
        c,
        name,
        **window_layers(c, windowed, 4096),  # null: no window (stated_window)
    )


def read_olmo(c: _Config, name: str) -> ModelSpec:
    """OLMo 1 (Ai2, 2024; transformers' OlmoConfig): Llama's block with LayerNorms that learn
    neither gain nor bias (OlmoLayerNorm), q/k/v/o biased where `attention_bias`. `clip_qkv`
    clamps q, k and v (one compare pair per element, not priced, as vLLM's OlmoAttention
    applies it too)."""
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in OlmoConfig; vLLM serves transformers' model
        norm="layernorm",
        norm_gain=False,
        # OlmoConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
