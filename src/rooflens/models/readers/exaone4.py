"""EXAONE 4.0 (LG AI Research, 2025; transformers' Exaone4Config): per-head q/k RMSNorms and
the norms after each sublayer only (post_attention_layernorm, post_feedforward_layernorm;
OLMo 2's placement), with sliding-window layers by `layer_types` attending to
`sliding_window` keys (global layers use no rotary positions, which is not priced)."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers

# Exaone4Config's window where a config omits the key (null turns the window off).
_WINDOW = 4096


def _window(c: _Config) -> int | None:
    window = c.raw.get("sliding_window", _WINDOW)
    return None if window is None else c.positive("sliding_window", _WINDOW)


def _window_layers(c: _Config) -> int:
    """Layers attending to the window: `layer_types`, else all but every
    `sliding_window_pattern`-th layer (Exaone4Config's default); none without a window."""
    if c.raw.get("layer_types") is not None:
        return count_layers(c, c.raw["layer_types"], "sliding_attention")
    if _window(c) is None:
        return 0
    pattern = c.raw.get("sliding_window_pattern", 4)
    if isinstance(pattern, bool) or not isinstance(pattern, int) or pattern < 1:
        # EXAONE's own configs spell the pattern as letters ("LLLG") beside layer_types.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: sliding_window_pattern={pattern!r} "
            "without layer_types is not supported; supported: layer_types, or a positive "
            "integer period"
        )
    layers = c.req("num_hidden_layers")
    return sum(1 for i in range(layers) if (i + 1) % pattern)


def window_fields(c: _Config) -> dict[str, Any]:
    """`sliding_window` and `window_layers` as Exaone4Config lays them out (ExaoneMoeConfig
    too); window layers without a window are refused."""
    windowed = _window_layers(c)
    if windowed and _window(c) is None:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: sliding_window=None with "
            f"{windowed} sliding_attention layers is not supported; supported: a positive "
            "window for them"
        )
    return {"sliding_window": _window(c) if windowed else None, "window_layers": windowed or None}


def read_exaone4(c: _Config, name: str) -> ModelSpec:
    return _llama_like(
        c,
        name,
        # Exaone4Config declares neither bias; vLLM's exaone4.py reads both.
        refused=("attention_bias", "mlp_bias"),
        qk_norm=True,
        pre_norms=False,
        post_norms=True,
        **window_fields(c),
    )
