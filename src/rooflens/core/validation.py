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
    # Compared before the float cast, which rounds integers above 2**53 into range (2**53 + 1
    # became 2**53).
    beyond = arr > MAX_SIZE
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr <= 0) | beyond
    if np.any(bad):
        # An array's first entry at fault, not the array's repr.
        shown = value if arr.ndim == 0 else np.asarray(value).flat[int(np.argmax(bad))].item()
        raise InvalidInputError(field, shown, accepted)
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
