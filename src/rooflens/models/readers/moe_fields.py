"""Checks several MoE readers share: a refusal naming the field, and per-layer lists that
rooflens reads only when every layer holds the same value."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_LAYERS
from rooflens.models.config import _Config


def refuse(c: _Config, field: str, value: object, accepted: str) -> NoReturn:
    """One line naming the field, its value and what rooflens reads."""
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {field}={value!r} is not supported; "
        f"supported: {accepted}"
    )


def same_in_every_layer(
    c: _Config, field: str, default: int, minimum: int = 0, maximum: int = MAX_LAYERS
) -> int:
    """`field` as one integer, or as a list of one integer per layer that holds the same
    value throughout: rooflens describes every MoE layer alike, so a list whose layers
    differ (per-layer expert widths or top-k) is refused rather than averaged. The value is
    `minimum` (1 for a count of experts a token runs) to `maximum` (a count of shared experts
    past any model's multiplied into exabytes)."""
    value = c.raw.get(field)
    if value is None:
        return default
    layers = c.positive("num_hidden_layers")
    if isinstance(value, list):
        if len(value) != layers or len(set(map(repr, value))) != 1:
            refuse(c, field, value, f"one integer, or {layers} equal integers (one per layer)")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {field}={c.raw[field]!r} is "
            f"invalid: expected an integer from {minimum} to {maximum:,}"
        )
    return value


def dense_first(c: _Config, field: str, default: int) -> int:
    """The `field` dense layers before the first MoE layer (first_k_dense_replace): 0 up to
    num_hidden_layers, named where it is not."""
    dense = c.count(field, default)
    layers = c.positive("num_hidden_layers")
    if dense > layers:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: {field}={dense} is invalid: "
            f"expected at most num_hidden_layers={layers}"
        )
    return dense
