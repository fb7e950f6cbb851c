"""Fit a kernel-level transformers profile: operator classes from the micro-benchmarks, each
framework kernel kind from the framework kernels measured alone, host time per kernel from
eager steps, all on the models named in-sample only.

1. Operator classes and the fixed time per kernel (`fit.fit_kernels`): the micro-benchmarks
   and the in-sample models' operators timed alone (their real shapes: mid-size GEMMs,
   per-head norms, expert GEMMs as batched GEMMs).
2. Framework kernel kinds (`rooflens.core.framework_kernels`): each measured framework call
   (an unfused RMSNorm module, the gated activation as the MLP runs it) launched n kernels
   moving B bytes (counted from the model as the analysis counts them) in t seconds; per
   kind, t = n x fixed + B / (bandwidth x fraction), least squares on relative errors over
   the in-sample models. Kinds not measured alone (rotary, cache writes, copies:
   "elementwise"; MLA's decompression copies; the MoE router's softmax and top-k and the
   dispatch kernels around the grouped GEMMs) take the norm kind's rates: the same eager
   element-wise kernels.
3. The "moe" class (expert GEMMs as transformers groups them, `torch._grouped_mm`): the MoE
   experts as the model calls them, less their dispatch kernels and activation priced as
   above, is the three expert GEMMs' time; their OPs (compute-bound calls) or bytes
   (memory-bound) over it give compute and memory fractions, binned against size as the
   operator classes are (flat where one size was measured).
4. Eager host time per kernel launched: over the in-sample eager decode steps the host holds
   up (eager well above graph replay), eager time against kernels the step launches, least
   squares on relative error.
5. Resident memory beyond the analysis: kept from the profile this refines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rooflens.calibration.fit import curve, fit_kernels, measurement_options
from rooflens.core.analysis import analyze
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile
from rooflens.core.framework_kernels import (
    cache_write_bytes,
    kernels_per_call,
    output_copy_bytes,
    rotary_bytes,
)
from rooflens.core.graph import build_graph
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec

# Framework measurements (`rooflens.measure.framework`) -> kernel kind they time.
MEASURED_KIND = {
    "attn_norm module": "norm",
    "q_norm module": "norm",
    "k_norm module": "norm",
    "gated activation as the MLP runs it": "activation",
}
# Measured alone by the sweep (`rooflens.measure.framework_sweep`): parts of the kernels
# after attention, priced per token from the model's widths.
ATTENTION_PARTS = (
    "rotary as the attention runs it",
    "cache write (index_copy_)",
    "attention output to contiguous",
)
EXPERTS_CALL = "moe experts as the model calls them"
EXPERT_GEMMS = ("expert_gate_proj", "expert_up_proj", "expert_down_proj")
# Kinds not measured alone take a measured kind's rates: the same eager element-wise
# kernels. (The router's measured call is not used: DeepSeek-V2's casts the hidden states to
# fp32 and runs its GEMM in fp32, which the analysis's router operator does not price.)
BORROWED = {
    "elementwise": "norm",
    "mla_expand": "norm",
    "moe_dispatch": "norm",
    "router": "norm",
}
HOST_BOUND = 1.5  # eager / graph above which an eager step is taken as host-bound


def flat(fraction: float) -> EfficiencyCurve:
    return EfficiencyCurve(log10_sizes=(0.0,), fractions=(float(f"{fraction:.4g}"),))


def fit_kind(
    samples: Iterable[tuple[float, float, float]], bandwidth: float
) -> tuple[float, float]:
    """(kernels, bytes, seconds) samples -> (fixed seconds per kernel, bandwidth fraction) of
    t = kernels x fixed + bytes / (bandwidth x fraction), least squares on relative error.
    The fraction is kept within (0.01, 1.5] and the fixed time non-negative."""
    rows = np.array(list(samples), dtype=np.float64)
    if rows.size == 0:
        raise ValueError("no samples")
    n, b, t = rows.T
    design = np.column_stack([n / t, b / t])
    (fixed, inverse_rate), *_ = np.linalg.lstsq(design, np.ones(len(t)), rcond=None)
    if inverse_rate <= 0 or fixed < 0:
        # One term alone explains it: refit the other with the first held at zero.
        fixed = max(float(np.median((t - b * max(inverse_rate, 0.0)) / n)), 0.0)
        inverse_rate = max(float(np.median((t - n * fixed) / b)), 1e-30)
    fraction = float(np.clip(1.0 / (inverse_rate * bandwidth), 0.01, 1.5))
    return float(fixed), fraction


def kind_samples(
    framework: list[dict[str, Any]],
    specs: dict[str, ModelSpec],
    device: Device,
    kernels: EfficiencyProfile,
) -> dict[str, list[tuple[float, float, float]]]:
    """Per kind, (kernels, bytes, seconds) of each measured framework call of the `specs`
    models, kernels and bytes as the analysis counts them: a norm or activation module is its
    analysis operator's kernel plus the extra ones; the attention parts (sweep) their own."""
    probe = kernels.model_copy(update={"framework": "transformers"})
    out: dict[str, list[tuple[float, float, float]]] = {}
    for row in framework:
        if row["model"] not in specs or row.get("time", 0) <= 0:
            continue
        spec = specs[row["model"]]
        if row["kernel"] in ATTENTION_PARTS:
            tokens = row["batch"] * row["new_tokens"]
            moved = tokens * _attention_part_bytes(row["kernel"], spec)
            out.setdefault("elementwise", []).append((row["kernels"], moved, row["time"]))
            continue
        kind = MEASURED_KIND.get(row["kernel"])
        if kind is None:
            continue
        stage = "prefill" if row["new_tokens"] > 1 else "decode"
        context = row["new_tokens"] if stage == "prefill" else row["past"]
        options = measurement_options(probe)
        result = analyze(spec, device, batch=row["batch"], prompt_len=context, options=options)
        table = result.operators()
        by_name = table[table.stage == stage].drop_duplicates("name").set_index("name")
        extra = f"{row['operator']} ({kind})"
        n = float(_extra_kernels(spec, device, probe, extra)) + 1.0
        moved = float(by_name.loc[extra, "memory_access"])
        moved += float(by_name.loc[row["operator"], "memory_access"])
        out.setdefault(kind, []).append((n, moved, row["time"]))
    return out


def _attention_part_bytes(kernel: str, spec: ModelSpec) -> float:
    """Bytes per token of one part of the kernels after attention, in bf16."""
    heads, kv_heads, dim = spec.num_heads, spec.num_kv_heads, spec.head_dim
    if kernel.startswith("rotary"):
        return rotary_bytes(heads, kv_heads, dim, 2.0)
    if kernel.startswith("cache write"):
        return cache_write_bytes(kv_heads, dim, dim, 2.0)
    return output_copy_bytes(heads, dim, 2.0)


def _extra_kernels(spec: ModelSpec, device: Device, profile: EfficiencyProfile, name: str) -> int:
    graph = build_graph(spec, measurement_options(profile), device)
    return next(kernels_per_call(op) for op in graph.operators if op.name == name)


def operators_as_suite(grid: dict[str, Any], models: Iterable[str]) -> list[dict[str, Any]]:
    """The grid's operators timed alone, of `models` only, as micro-benchmark samples."""
    chosen = set(models)
    return [
        {**op, "kernel": _kernel_kind(op["name"])}
        for op in grid.get("operators", [])
        if op["model"] in chosen and "time" in op
    ]


def _kernel_kind(name: str) -> str:
    # Single-kernel operators (adds, gathers) also give the fixed time per kernel.
    if name.endswith("_add") or name == "moe_combine":
        return "ResidualAdd"
    return "Embedding" if name == "embed_tokens" else name


def fit_moe_class(
    framework: list[dict[str, Any]],
    specs: dict[str, ModelSpec],
    device: Device,
    profile: EfficiencyProfile,
) -> ClassEfficiency | None:
    """Flat compute and memory fractions of the grouped expert GEMMs (see the module doc)."""
    compute, memory = [], []
    for row in framework:
        if row["kernel"] != EXPERTS_CALL or row["model"] not in specs or "time" not in row:
            continue
        stage = "prefill" if row["new_tokens"] > 1 else "decode"
        context = row["new_tokens"] if stage == "prefill" else row["past"]
        result = analyze(
            specs[row["model"]],
            device,
            batch=row["batch"],
            prompt_len=context,
            options=measurement_options(profile),
        )
        table = result.operators()
        table = table[table.stage == stage].drop_duplicates("name").set_index("name")
        around = [n for n in table.index if n.endswith("(moe_dispatch)")] + ["expert_act"]
        around += [n for n in table.index if n.startswith("expert_act (")]
        gemms = row["time"] - float(table.loc[around, "time"].sum())
        gemms -= len(EXPERT_GEMMS) * profile.fixed_time("moe")
        ops = float(table.loc[list(EXPERT_GEMMS), "ops"].sum())
        moved = float(table.loc[list(EXPERT_GEMMS), "memory_access"].sum())
        if gemms <= 0:
            continue
        peak = device.peak_ops[device.matrix_dtype(16)]
        if ops / peak > moved / device.memory_bandwidth:
            compute.append((ops, ops / peak / gemms))
        else:
            memory.append((moved, moved / device.memory_bandwidth / gemms))
    if not compute and not memory:
        return None
    matmul = profile.classes["matmul"]
    return ClassEfficiency(
        compute=curve(compute) if compute else matmul.compute,
        memory=curve(memory, cap=1.5) if memory else matmul.memory,
    )


def launched_kernels(spec: ModelSpec, device: Device, profile: EfficiencyProfile) -> float:
    """Kernels one step of `spec` launches under `profile`'s framework."""
    graph = build_graph(spec, measurement_options(profile), device)
    return float(sum(graph.count(op) * kernels_per_call(op) for op in graph.operators))


def fit_host_per_kernel(
    models: list[dict[str, Any]],
    specs: dict[str, ModelSpec],
    device: Device,
    profile: EfficiencyProfile,
) -> float:
    """Host time per kernel launched over the host-bound in-sample steps: eager time =
    kernels x h, least squares on relative error (h = sum(k/e) / sum((k/e)^2))."""
    ratios = []
    for model in models:
        if model["model"] not in specs:
            continue
        launched = launched_kernels(specs[model["model"]], device, profile)
        ratios += [
            launched / run["eager"]
            for run in model["runs"]
            if run["eager"] > HOST_BOUND * run["graph"]
        ]
    if not ratios:
        return 0.0
    r = np.array(ratios)
    return float(r.sum() / (r**2).sum())


def fit_transformers_profile(
    suite: list[dict[str, Any]],
    grid: dict[str, Any],
    in_sample: dict[str, ModelSpec],
    device: Device,
    base: EfficiencyProfile | None = None,
) -> EfficiencyProfile:
    """The kernel-level profile from the micro-benchmarks and the `in_sample` grid models."""
    fixed, classes = fit_kernels(suite + operators_as_suite(grid, in_sample), device)
    kernels = EfficiencyProfile(device=device.name, kernel_time=fixed, classes=classes)
    samples = kind_samples(grid["framework"], in_sample, device, kernels)
    kinds: dict[str, ClassEfficiency] = {}
    fits: dict[str, tuple[float, float]] = {}
    for kind, rows in sorted(samples.items()):
        fits[kind] = fit_kind(rows, device.memory_bandwidth)
    borrowed = {k: v for k, v in BORROWED.items() if k not in fits and v in fits}
    for kind, source in borrowed.items():
        fits[kind] = fits[source]
    for kind, (per_kernel, fraction) in fits.items():
        kinds[kind] = ClassEfficiency(
            compute=flat(1.0), memory=flat(fraction), fixed=max(per_kernel - fixed, 0.0)
        )
    profile = kernels.model_copy(update={"framework": "transformers", "kernel_kinds": kinds})
    moe = fit_moe_class(grid["framework"], in_sample, device, profile)
    if moe is not None:
        profile = profile.model_copy(update={"classes": {**profile.classes, "moe": moe}})
    host = fit_host_per_kernel(grid["models"], in_sample, device, profile)
    env = grid.get("environment", {})
    provenance = {
        "measured_on": str(env.get("device_name", "?")),
        "date": str(env.get("date", "?")),
        "driver": str(env.get("driver", "?")),
        "torch": str(env.get("torch", "?")),
        "transformers": str(env.get("transformers", "?")),
        "cuda": str(env.get("cuda", "?")),
        "kernels_fitted_on": "micro-benchmarks; operators alone, framework kernels and eager "
        "steps of " + ", ".join(sorted(in_sample)),
        "borrowed_kinds": ", ".join(f"{k} from {v}" for k, v in borrowed.items()),
    }
    if base is not None:
        provenance = {**base.provenance, **provenance}
        provenance.pop("overheads_fitted_on", None)
        provenance.pop("transferred_from", None)
    return profile.model_copy(
        update={
            "eager_host_per_kernel": host,
            "memory_overhead": base.memory_overhead if base is not None else 0.0,
            "link_bandwidth": base.link_bandwidth if base is not None else None,
            "link_latency": base.link_latency if base is not None else None,
            "collectives": base.collectives if base is not None else {},
            "provenance": provenance,
        }
    )


def transfer_profile(
    suite: list[dict[str, Any]],
    device: Device,
    source: EfficiencyProfile,
    base: EfficiencyProfile | None = None,
) -> EfficiencyProfile:
    """A kernel-level profile for a device whose framework kernels were not measured: its own
    operator classes and fixed time from its micro-benchmarks; the framework kernel kinds (as
    fractions of its bandwidth and time beyond its fixed time), the grouped expert GEMMs'
    fractions and the host time per kernel from `source`, fitted on another device of the
    same kernels (Hopper to Hopper). `provenance["transferred_from"]` says so."""
    fixed, classes = fit_kernels(suite, device)
    if "moe" in source.classes:
        classes = {**classes, "moe": source.classes["moe"]}
    provenance = {
        **(base.provenance if base is not None else {}),
        "kernels_fitted_on": "micro-benchmarks",
        "transferred_from": f"{source.device}: framework kernel kinds, grouped expert GEMMs, "
        "eager host per kernel (" + source.provenance.get("kernels_fitted_on", "?") + ")",
    }
    provenance.pop("overheads_fitted_on", None)
    return EfficiencyProfile(
        device=device.name,
        kernel_time=fixed,
        classes=classes,
        framework=source.framework,
        kernel_kinds=source.kernel_kinds,
        eager_host_per_kernel=source.eager_host_per_kernel,
        memory_overhead=base.memory_overhead if base is not None else 0.0,
        link_bandwidth=base.link_bandwidth if base is not None else None,
        link_latency=base.link_latency if base is not None else None,
        collectives=base.collectives if base is not None else {},
        provenance=provenance,
    )


def refine_profile(
    raw: dict[str, Any], device: Device, spec: ModelSpec, source: EfficiencyProfile
) -> EfficiencyProfile:
    """What `rooflens calibrate` writes where the device has a kernel-level profile: this
    machine's micro-benchmarks for the operator classes, `source`'s framework kernel kinds,
    and from this machine's steps of `spec` its host time per kernel (the host is this
    machine's CPU) and the memory the framework holds."""
    from rooflens.calibration.fit import fit_overheads

    profile = transfer_profile(raw["suite"], device, source)
    runs = next(m for m in raw["models"] if m["model"] == spec.name)
    host = fit_host_per_kernel([runs], {spec.name: spec}, device, profile)
    memory = fit_overheads([(spec, runs["runs"])], device, profile)["memory_overhead"]
    env = raw.get("environment", {})
    provenance = {
        **profile.provenance,
        "measured_on": str(env.get("device_name", "?")),
        "date": str(env.get("date", "?")),
        "torch": str(env.get("torch", "?")),
        "transformers": str(env.get("transformers", "?")),
        "eager_host_fitted_on": spec.name if host else "none host-bound: kept from the source",
    }
    return profile.model_copy(
        update={
            "eager_host_per_kernel": host or source.eager_host_per_kernel,
            "memory_overhead": memory,
            "provenance": provenance,
        }
    )
