"""What several readers share: layer-type lists and nested text configs."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config, layer_counts


def count_layers(c: _Config, types: object, kind: str) -> int:
    """How many of the `num_hidden_layers` entries of `layer_types` are `kind`; every other
    entry must be "full_attention" (models with one restricted kind of attention)."""
    return layer_counts(c, types, "layer_types", (kind, "full_attention"))[kind]


def text_config(c: _Config, default_type: str) -> _Config:
    """The language model's config nested under `text_config` of a multimodal wrapper."""
    inner = c.req("text_config", kind=dict)
    if not isinstance(inner, dict):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config must be an object"
        )
    return _Config(inner, str(inner.get("model_type") or default_type))


def vision_config(c: _Config) -> _Config:
    inner = c.req("vision_config", kind=dict)
    if not isinstance(inner, dict):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: vision_config must be an object"
        )
    return _Config(inner, f"{c.model_type}.vision_config")
