"""Checks several MoE readers share: a refusal naming the field, and per-layer lists that
rooflens reads only when every layer holds the same value."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config


def refuse(c: _Config, field: str, value: object, accepted: str) -> NoReturn:
    """One line naming the field, its value and what rooflens reads."""
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {field}={value!r} is not supported; "
        f"supported: {accepted}"
    )


def same_in_every_layer(c: _Config, field: str, default: int) -> int:
    """`field` as one integer, or as a list of one integer per layer that holds the same
    value throughout: rooflens describes every MoE layer alike, so a list whose layers
    differ (per-layer expert widths or top-k) is refused rather than averaged."""
    value = c.raw.get(field)
    if value is None:
        return default
    layers = c.req("num_hidden_layers")
    if isinstance(value, list):
        if len(value) != layers or len(set(map(repr, value))) != 1:
            refuse(c, field, value, f"one integer, or {layers} equal integers (one per layer)")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        refuse(c, field, value, "a non-negative integer")
    return value
