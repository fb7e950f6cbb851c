"""Checks of user-given sizes: one clear message, never a silent fix."""

from __future__ import annotations

import numpy as np

from rooflens.core.errors import InvalidInputError

# The largest size taken: the largest integer float64 holds exactly. Beyond it a float such
# as 1e300 was taken as a batch, and its costs overflowed to inf and NaN.
MAX_SIZE = 2**53


def positive_int_array(field: str, value: object) -> np.ndarray:
    """A positive integer or array of them, as float64 (costs overflow int64 otherwise)."""
    accepted = f"a positive integer up to 2**53 ({MAX_SIZE:,}), or an array of them"
    if type(value) is int and 0 < value <= MAX_SIZE:
        return np.array(float(value))  # the common case, without the array checks
    if isinstance(value, bool | np.bool_):
        raise InvalidInputError(field, value, accepted)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:  # 10**20 overflows int64
        raise InvalidInputError(field, value, accepted) from exc
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        raise InvalidInputError(field, value, accepted)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr <= 0):
        raise InvalidInputError(field, value, accepted)
    if np.any(arr > MAX_SIZE):
        raise InvalidInputError(field, value, accepted)
    return arr


def broadcast_sizes(**sizes: np.ndarray) -> tuple[np.ndarray, ...]:
    """The sizes broadcast to one shape, as numpy broadcasts them; shapes that do not
    broadcast (3 batches beside 2 prompts) are one error naming them all."""
    try:
        return tuple(np.array(a) for a in np.broadcast_arrays(*sizes.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {np.shape(v)}" for name, v in sizes.items())
        raise InvalidInputError(
            " and ".join(sizes),
            shapes,
            "shapes that broadcast: equal lengths or length 1 (rooflens.sweep takes every "
            "combination)",
        ) from None
