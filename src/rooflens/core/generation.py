"""Whole generation in closed form: prefill, then decode steps over a growing context.

Every decode cost is affine in the context length, so each operator's time is the maximum of
two lines (compute and memory) in the step index, and its sum over the steps has a closed
form. Sizes stay arrays; nothing loops over steps. A calibrated analysis takes each operator's
achieved rates at the middle of the generation and holds them over it.
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
    d0, k = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a1 - a2, b1 - b2)))
    zero = np.zeros_like(d0)
    n = np.broadcast_to(n, d0.shape).astype(np.float64)
    # A near-flat difference puts the crossing at +-inf, which the clip below handles.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
    at_first: StepCosts, at_second: StepCosts, rates: StepCosts, steps: np.ndarray
) -> dict[str, np.ndarray]:
    """Time, OPs and bytes summed over `steps` decode steps: the first priced by `at_first`,
    the next (one more token of context) by `at_second`, achieved rates taken from `rates`."""
    c0, c1 = _compute(at_first, rates), _compute(at_second, rates)
    m0, m1 = _transfer(at_first, rates), _transfer(at_second, rates)
    per_op = sum_of_max_lines(c0, c1 - c0, m0, m1 - m0, steps)
    # Fixed costs, framework overhead, collectives and the FP8 GEMMs' input quantization (its
    # tokens are the step's, whatever the context) do not grow with the context.
    per_step_fixed = _per_step_fixed(at_first, rates)
    kernels = at_first.total(per_op) + steps * per_step_fixed
    stages = _with_host_time(kernels, at_first, at_second, rates, steps)
    time = at_first.pipeline_slots * (stages + steps * at_first.p2p_time)
    ops = at_first.total(_series(at_first.ops, at_second.ops - at_first.ops, 0, steps))
    mem0, mem1 = at_first.memory_access, at_second.memory_access
    memory = at_first.total(_series(mem0, mem1 - mem0, 0, steps))
    return {"time": time, "ops": ops, "memory_access": memory}


def _with_host_time(
    kernels: np.ndarray, first: StepCosts, second: StepCosts, rates: StepCosts, steps: np.ndarray
) -> np.ndarray:
    """Eager steps take max(kernel time, host time); the kernel time per step is taken as the
    line through the first and last steps (exact when one side dominates throughout)."""
    host = rates.host_time
    if host == 0.0:
        return kernels
    fixed = _per_step_fixed(first, rates)
    t0 = first.total(_at(first, rates)) + fixed
    slope = second.total(_at(second, rates)) + fixed - t0
    last = t0 + slope * np.maximum(steps - 1, 0)
    mixed = sum_of_max_lines(t0, slope, np.full_like(t0, host), np.zeros_like(t0), steps)
    return np.where(
        np.minimum(t0, last) >= host,
        kernels,
        np.where(np.maximum(t0, last) <= host, steps * host, mixed),
    )


def _per_step_fixed(first: StepCosts, rates: StepCosts) -> np.ndarray:
    """A decode step's time that the context does not change (StepCosts.time's terms beside
    the operators' roofline): fixed costs, framework overhead, collectives and the pass that
    quantizes FP8 GEMMs' inputs where a profile prices it apart."""
    fixed = rates.total(rates.fixed) + rates.overhead + first.total(first.link_time)
    if np.ndim(first.quantize_time) or first.quantize_time:
        fixed = fixed + first.total(np.broadcast_to(first.quantize_time, first.link_time.shape))
    return fixed


def _at(costs: StepCosts, rates: StepCosts) -> np.ndarray:
    return np.maximum(_compute(costs, rates), _transfer(costs, rates))


def _transfer(costs: StepCosts, rates: StepCosts) -> np.ndarray:
    """Bytes from device memory or, when offloaded, over the host link, whichever is slower at
    the middle of the generation (one of them dominates each operator throughout)."""
    memory = costs.memory_access / rates.memory_rates
    host = costs.host_bytes / costs.host_rate
    if not np.any(np.asarray(host)):
        return memory
    host_wins = rates.offload_time > rates.memory_access / rates.memory_rates
    return np.where(host_wins, host, memory)


def _compute(costs: StepCosts, rates: StepCosts) -> np.ndarray:
    return costs.ops / rates.compute_rates + costs.fields["vector_ops"] / rates.vector_rate
