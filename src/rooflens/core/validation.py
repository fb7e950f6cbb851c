"""Checks of user-given sizes: one clear message, never a silent fix."""

from __future__ import annotations

import numpy as np

from rooflens.core.errors import InvalidInputError


def positive_int_array(field: str, value: object) -> np.ndarray:
    """A positive integer or array of them, as float64 (costs overflow int64 otherwise)."""
    accepted = "a positive integer or an array of positive integers"
    if type(value) is int and 0 < value < 2**63:
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
    return arr
