"""What several readers share: layer-type lists and nested text configs."""

from __future__ import annotations

from collections.abc import Sequence

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config


def count_layers(c: _Config, types: Sequence[str], kind: str) -> int:
    """How many of the `num_hidden_layers` entries of `layer_types` are `kind`."""
    layers = c.req("num_hidden_layers")
    if len(types) != layers:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: layer_types has {len(types)} entries "
            f"for num_hidden_layers={layers}"
        )
    return sum(1 for t in types if t == kind)


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
