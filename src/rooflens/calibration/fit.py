"""Fit an efficiency profile from raw measurements (the JSON `rooflens calibrate` writes).

1. Kernel fixed cost: the median time of single-kernel operators (adds, gathers) whose
   roofline time is negligible: launch, ramp-up and drain of one kernel inside a CUDA graph.
2. Per operator class, achieved fractions: each micro-benchmark is compute- or memory-bound on
   the roofline; its achieved fraction of that bound, (roofline time) / (time - fixed cost), is
   a sample at its size (OPs or bytes); kernels whose time is mostly the fixed cost say
   nothing about throughput and are left out. Samples are binned by quarter decades and the median
   taken per bin. Compute fractions are capped at 1; memory fractions at 1.5, since on-chip
   caches can serve re-reads the analysis counts as memory traffic (FlashAttention's K/V).
3. Framework overheads, from whole-model steps of one model: what the per-operator estimate
   leaves unexplained per layer, as a + c x tokens (least squares on relative errors: plain
   least squares lets long prefills, with residuals of milliseconds, set the intercept and
   overstate a decode step's overhead); eager host time per layer where eager steps are
   host-bound; resident memory beyond weights, KV cache and activations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from rooflens.core.analysis import analyze
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions

MATRIX_CLASSES = ("matmul", "attention")
BIN_WIDTH = 0.25  # decades
SINGLE_KERNEL = ("ResidualAdd", "Embedding")


def measurement_options(
    profile: EfficiencyProfile | None = None, execution: str = "graphs"
) -> AnalysisOptions:
    """How measured runs are analysed: 16-bit, fused attention, any context length."""
    return AnalysisOptions(
        flash_attention=True, allow_long_context=True, calibration=profile, execution=execution
    )  # type: ignore[arg-type]


def _peak(device: Device, op_class: str) -> float:
    dtype = device.matrix_dtype(16) if op_class in MATRIX_CLASSES else device.vector_dtype()
    return device.peak_ops[dtype]


def curve(
    samples: Iterable[tuple[float, float]], cap: float = 1.0, floor: float = 0.01
) -> EfficiencyCurve:
    """(size, achieved fraction) samples -> curve of per-bin medians over log10(size)."""
    points = [(np.log10(max(size, 1.0)), frac) for size, frac in samples if size > 0]
    if not points:
        return EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    logs = np.array([p[0] for p in points])
    fracs = np.clip([p[1] for p in points], floor, cap)
    bins = np.floor(logs / BIN_WIDTH)
    centers, medians, counts = [], [], []
    for b in np.unique(bins):
        mask = bins == b
        centers.append(float(np.median(logs[mask])))
        medians.append(float(np.median(fracs[mask])))
        counts.append(int(mask.sum()))
    stored = monotone_time(np.array(centers), np.array(medians), np.array(counts), cap)
    return EfficiencyCurve(
        log10_sizes=tuple(centers), fractions=tuple(float(f) for f in stored), power_law=True
    )


def monotone_time(
    log10_bounds: np.ndarray,
    fractions: np.ndarray,
    weights: np.ndarray | None = None,
    cap: float = 1.0,
) -> np.ndarray:
    """Fractions refitted so that the time they price, bound / fraction, never falls as the
    bound grows: more work never finishes sooner. Per-bin medians of kernels of different shapes
    rise faster than their sizes here and there, which priced a decode step of a MoE model 14 %
    faster at 2 sequences than at 1. The log of the time is fitted by isotonic regression (pool
    adjacent violators, `weights` per point: rows behind it), which averages a stretch of noisy,
    flat times instead of holding the slowest. The curves these fractions make interpolate a
    power law (`power_law`, rooflens.core.efficiency), so a time that does not fall from one
    point to the next does not fall between them either. `log10_bounds` in increasing order, as
    the points are priced; returns the fractions at most `cap`, to the 4 significant digits
    profiles store (one that rounding would lift over its predecessor's time is cut instead)."""
    logs = np.asarray(log10_bounds, dtype=float)
    log_time = logs - np.log10(np.asarray(fractions, dtype=float))
    fitted = _isotonic(log_time, np.ones(len(logs)) if weights is None else weights)
    kept = np.array([float(f"{f:.4g}") for f in np.minimum(10.0 ** (logs - fitted), cap)])
    # Capping lengthens a time, rounding may shorten one a little: hold each to its
    # predecessor's time once more.
    for i in range(1, len(kept)):
        most = kept[i - 1] * 10.0 ** max(float(logs[i] - logs[i - 1]), 0.0)
        if kept[i] > most:
            kept[i] = _floor_digits(most)
    return kept


def _isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of `values` (pool adjacent violators)."""
    means: list[float] = []
    sums: list[float] = []
    counts: list[int] = []
    for value, weight in zip(values, weights, strict=True):
        means.append(float(value))
        sums.append(float(weight))
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            mean, weight_sum, count = means.pop(), sums.pop(), counts.pop()
            total = sums[-1] + weight_sum
            means[-1] = (means[-1] * sums[-1] + mean * weight_sum) / total
            sums[-1] = total
            counts[-1] += count
    return np.repeat(means, counts)


def _floor_digits(value: float, digits: int = 4) -> float:
    """`value` cut (not rounded) to the significant digits profiles store, so that storing a
    capped fraction does not lift it over its cap."""
    scale = 10.0 ** (np.floor(np.log10(value)) - (digits - 1))
    # The small allowance keeps a value already of that many digits (0.5 is 4999.999... x 1e-4).
    return float(f"{np.floor(value / scale + 1e-9) * scale:.{digits}g}")


def fit_kernels(suite: list[dict[str, Any]], device: Device) -> tuple[float, dict]:
    """Fixed cost per kernel and per-class efficiency curves from the micro-benchmarks."""
    roof = [
        max(s["ops"] / _peak(device, s["class"]), s["bytes"] / device.memory_bandwidth)
        for s in suite
    ]
    tiny = [
        s["time"]
        for s, r in zip(suite, roof, strict=True)
        if s["kernel"] in SINGLE_KERNEL and r < 0.05 * s["time"]
    ]
    fixed = float(np.median(tiny)) if tiny else 0.0
    classes = {}
    for op_class in ("matmul", "attention", "vector"):
        compute, memory = [], []
        for s in suite:
            if s["class"] != op_class:
                continue
            busy = s["time"] - fixed
            if busy < 0.25 * s["time"]:
                continue  # launch-dominated: says nothing about achieved throughput
            t_compute = s["ops"] / _peak(device, op_class)
            t_memory = s["bytes"] / device.memory_bandwidth
            if t_compute >= t_memory:
                compute.append((s["ops"], t_compute / busy))
            else:
                memory.append((s["bytes"], t_memory / busy))
        classes[op_class] = ClassEfficiency(compute=curve(compute), memory=curve(memory, cap=1.5))
    return fixed, classes


def _length(run: dict[str, Any]) -> int:
    return run["new_tokens"] if run["stage"] == "prefill" else run["past"]


def _overhead_samples(
    runs: list[dict[str, Any]], spec: ModelSpec, device: Device, kernels: EfficiencyProfile
) -> dict[str, list[float]]:
    """Per measured step of one model: what the kernels leave unexplained per layer, the
    step's tokens, tokens x hidden size, its weight (1 / measured time per layer), and the
    eager host time and resident memory where measured."""
    layers = spec.num_layers
    out: dict[str, list[float]] = {
        k: [] for k in ("residual", "tokens", "elements", "weight", "host", "memory")
    }
    for run in runs:
        result = analyze(
            spec,
            device,
            batch=run["batch"],
            prompt_len=_length(run),
            options=measurement_options(kernels),
        )
        predicted = float(result.totals()[run["stage"]]["time"])
        # A CPU times no CUDA graphs: its eager steps are what it runs (they were left out,
        # and every overhead fitted as 0).
        measured = run["graph"] if "graph" in run else run.get("eager")
        if measured is not None:
            tokens = run["batch"] * run["new_tokens"]
            out["residual"].append((measured - predicted) / layers)
            out["tokens"].append(tokens)
            out["elements"].append(tokens * spec.hidden_size)
            out["weight"].append(layers / measured)
            if "graph" in run and run["eager"] > 1.2 * run["graph"]:
                out["host"].append(run["eager"] / layers)
        if "peak_memory" in run:
            out["memory"].append(run["peak_memory"] - float(result.memory[run["stage"]].total))
    return out


def _per_layer_line(samples: dict[str, list[float]], scale: str) -> tuple[float, float]:
    """a + c x `scale` (tokens or elements) per layer, each step weighed by 1 / its measured
    time per layer: the fit minimizes relative error. Both clipped at 0."""
    if not samples["residual"]:
        return 0.0, 0.0
    w = np.array(samples["weight"])
    design = np.column_stack([np.ones(len(w)), samples[scale]]) * w[:, None]
    (a, c), *_ = np.linalg.lstsq(design, np.array(samples["residual"]) * w, rcond=None)
    return max(float(a), 0.0), max(float(c), 0.0)


# The per-layer term each scale fits: per token (transformers' kernels around the listed
# ones), or per token and hidden channel (the element-wise work compiling fuses).
OVERHEAD_TERMS = {
    "tokens": "graph_overhead_per_layer_token",
    "elements": "graph_overhead_per_layer_element",
}


def fit_overheads(
    models: list[tuple[ModelSpec, list[dict[str, Any]]]],
    device: Device,
    kernels: EfficiencyProfile,
    scale: Literal["tokens", "elements"] = "tokens",
) -> dict[str, float]:
    """Over the steps of one or more models: the per-layer graph overhead a + c x `scale`
    (tokens, or tokens x hidden size: a per-token term fitted on one model's width misprices
    another's), eager host time per layer, and resident memory beyond the analyzer's."""
    pooled: dict[str, list[float]] = {}
    for spec, runs in models:
        for key, values in _overhead_samples(runs, spec, device, kernels).items():
            pooled.setdefault(key, []).extend(values)
    a, c = _per_layer_line(pooled, scale)
    host, memory = pooled["host"], pooled["memory"]
    return {
        "graph_overhead_per_layer": a,
        OVERHEAD_TERMS[scale]: c,
        "eager_host_per_layer": float(np.median(host)) if host else 0.0,
        "memory_overhead": max(float(np.median(memory)), 0.0) if memory else 0.0,
    }


def fit_profile(raw: dict[str, Any], device: Device, spec: ModelSpec) -> EfficiencyProfile:
    """The whole profile: kernels from the suite, overheads from `spec`'s model runs only."""
    fixed, classes = fit_kernels(raw["suite"], device)
    kernels = EfficiencyProfile(device=device.name, kernel_time=fixed, classes=classes)
    runs = next(m["runs"] for m in raw["models"] if m["model"] == spec.name)
    env = raw.get("environment", {})
    provenance = {
        "measured_on": str(env.get("device_name", "?")),
        "date": str(env.get("date", "?")),
        "driver": str(env.get("driver", "?")),
        "torch": str(env.get("torch", "?")),
        "transformers": str(env.get("transformers", "?")),
        "cuda": str(env.get("cuda", "?")),
        "overheads_fitted_on": spec.name,
    }
    return kernels.model_copy(
        update={**fit_overheads([(spec, runs)], device, kernels), "provenance": provenance}
    )
