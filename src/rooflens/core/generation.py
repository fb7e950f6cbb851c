"""Whole generation in closed form: prefill, then decode steps over a growing context.

Every decode cost is affine in the context length, so each operator's time is the maximum of
two lines (compute and memory) in the step index, and its sum over the steps has a closed
form. Sizes stay arrays; nothing loops over steps.
"""

from __future__ import annotations

import numpy as np

from rooflens.core.pricing import StepCosts


def _series(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """sum_{t=lo}^{hi-1} (a + b t)."""
    n = hi - lo
    return n * a + b * n * (lo + hi - 1) / 2


def sum_of_max_lines(
    a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """sum_{t=0}^{n-1} max(a1 + b1 t, a2 + b2 t), elementwise."""
    d0, k = a1 - a2, b1 - b2
    zero = np.zeros_like(d0)
    n = np.broadcast_to(n, d0.shape).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = -d0 / k
    # Line 1 wins on [lo, hi): above the crossing if it rises faster, below it if slower.
    lo = np.where(k > 0, np.clip(np.ceil(cross), 0, n), zero)
    hi = np.where(k < 0, np.clip(np.floor(cross) + 1, 0, n), n)
    flat = k == 0
    lo = np.where(flat, np.where(d0 >= 0, 0, n), lo)
    hi = np.where(flat, n, hi)
    hi = np.maximum(hi, lo)
    first = _series(a1, b1, lo, hi)
    second = _series(a2, b2, zero, lo) + _series(a2, b2, hi, n)
    return first + second


def decode_totals(
    at_first: StepCosts, at_second: StepCosts, steps: np.ndarray
) -> dict[str, np.ndarray]:
    """Time, OPs and bytes summed over `steps` decode steps, the first priced by `at_first`
    and the one after it by `at_second` (one more token of context)."""
    peaks = at_first.peaks.reshape(at_first.peaks.shape + (1,) * (at_first.ops.ndim - 1))
    c0, c1 = at_first.ops / peaks, at_second.ops / peaks
    m0, m1 = at_first.memory_time, at_second.memory_time
    time = at_first.total(sum_of_max_lines(c0, c1 - c0, m0, m1 - m0, steps))
    ops = at_first.total(_series(at_first.ops, at_second.ops - at_first.ops, 0, steps))
    mem0, mem1 = at_first.memory_access, at_second.memory_access
    memory = at_first.total(_series(mem0, mem1 - mem0, 0, steps))
    return {"time": time, "ops": ops, "memory_access": memory}
