"""Several devices: measured collectives and tensor-parallel steps beside their predictions.

The input is what `python -m rooflens.measure.parallel` (or `rooflens measure --tp N -o`)
writes: collectives over `world_size` processes and a model's sharded steps. The roofline
prices collectives with the datasheet link and the default latency; the calibrated estimate
with the link fitted on the measured collectives (in sample for the collectives themselves,
out of sample for the steps) over the device's single-GPU profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rooflens.calibration.collectives import fit_tables, held_out_rows
from rooflens.calibration.links import (
    LinkFit,
    collective_time,
    fit_link,
    parallel_options,
    with_link,
)
from rooflens.calibration.report import _summary_table, summarize
from rooflens.core.analysis import analyze
from rooflens.core.efficiency import CollectiveTable, EfficiencyProfile
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import DEFAULT_LINK_LATENCY, Parallelism
from rooflens.core.techniques.parallelism import link_bandwidth
from rooflens.models.catalog import load_model
from rooflens.models.config import spec_from_config

COLLECTIVES = "collectives (alone)"
STEP_CATEGORIES = {
    ("prefill", "graph"): "TP prefill (graphs)",
    ("decode", "graph"): "TP decode step (graphs)",
    ("decode", "eager"): "TP decode step (eager)",
}


def collective_rows(
    raw: dict[str, Any],
    device: Device,
    bandwidth: float | None,
    latency: float = 0.0,
    fixed: float = 0.0,
) -> list[dict[str, Any]]:
    """One row per collective measured over two or more devices; calibrated (None without a
    `bandwidth`): priced over a link of `bandwidth` (bytes/s) and `latency` (s per ring step),
    plus the `fixed` kernel cost a calibrated analysis adds to every operator."""
    rows = []
    for c in raw["collectives"]:
        if c["ranks"] < 2:
            continue
        kind, ranks, size = c["kind"], c["ranks"], np.array([float(c["bytes"])])
        datasheet = link_bandwidth(device, Parallelism(), ranks)
        roofline = collective_time(kind, ranks, size, datasheet, DEFAULT_LINK_LATENCY)[0]
        calibrated = None
        if bandwidth is not None:
            calibrated = fixed + float(collective_time(kind, ranks, size, bandwidth, latency)[0])
        rows.append(
            {
                "category": COLLECTIVES,
                "model": "",
                "kind": kind,
                "ranks": ranks,
                "bytes": c["bytes"],
                "measured": c["time"],
                "roofline": float(roofline),
                "calibrated": calibrated,
            }
        )
    return rows


def step_rows(
    raw: dict[str, Any], device: Device, profile: EfficiencyProfile
) -> list[dict[str, Any]]:
    """One row per measured tensor-parallel step and timing (graphs, eager)."""
    rows = []
    for model in raw.get("models", []):
        spec, tp = _spec(model), model["tp"]
        for run in model["runs"]:
            stage = run["stage"]
            length = run["new_tokens"] if stage == "prefill" else run["past"]
            for timing in ("graph", "eager"):
                category = STEP_CATEGORIES.get((stage, timing))
                if category is None or timing not in run:
                    continue
                execution = "graphs" if timing == "graph" else "eager"
                predicted = {
                    key: float(
                        analyze(
                            spec,
                            device,
                            batch=run["batch"],
                            prompt_len=length,
                            options=parallel_options(prof, execution, tp),
                        ).totals()[stage]["time"]
                    )
                    for key, prof in (("roofline", None), ("calibrated", profile))
                }
                rows.append(
                    {
                        "category": category,
                        "model": spec.name,
                        "tp": tp,
                        "stage": stage,
                        "batch": run["batch"],
                        "length": length,
                        "measured": run[timing],
                        **predicted,
                    }
                )
    return rows


def _spec(model: dict[str, Any]) -> ModelSpec:
    """The measured model: from the config the file carries, else a bundled one by name."""
    if "config" in model:
        return spec_from_config(model["config"], name=model["model"])
    return load_model(model["model"])


def size_label(nbytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.0f} {unit}"
    return f"{nbytes:.0f} B"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def _error(row: dict[str, Any]) -> str:
    return f"{100 * (row['calibrated'] / row['measured'] - 1):+.1f} %"


def _collective_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| collective | devices | size | measured | roofline | calibrated | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['ranks']} | {size_label(r['bytes'])} | {_us(r['measured'])} | "
            f"{_us(r['roofline'])} | {_us(r['calibrated'])} | {_error(r)} |"
        )
    return lines


def _by_kind(rows: list[dict[str, Any]]) -> list[str]:
    """Calibrated |error| per collective and group size: where the ring model holds."""
    lines = ["| collective | devices | points | median / max |error| |", "|---|---|---|---|"]
    groups = sorted({(r["kind"], r["ranks"]) for r in rows})
    for kind, ranks in groups:
        errs = [
            abs(r["calibrated"] / r["measured"] - 1)
            for r in rows
            if (r["kind"], r["ranks"]) == (kind, ranks)
        ]
        lines.append(
            f"| {kind} | {ranks} | {len(errs)} | "
            f"{100 * np.median(errs):.1f} % / {100 * max(errs):.1f} % |"
        )
    return lines


def _step_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | tp | quantity | batch | length | measured | roofline | calibrated | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model'].split('/')[-1]} | {r['tp']} | {r['category']} | {r['batch']} | "
            f"{r['length']} | {r['measured'] * 1e3:.3f} ms | {r['roofline'] * 1e3:.3f} | "
            f"{r['calibrated'] * 1e3:.3f} | {_error(r)} |"
        )
    return lines


def _header(raws: list[dict[str, Any]], device: Device, fit: LinkFit) -> list[str]:
    env = raws[0]["environment"]
    sizes = ", ".join(str(s) for s in sorted({r["world_size"] for r in raws}))
    nccl = f"NCCL {env['nccl']}, " if "nccl" in env else ""
    settings = ", ".join(f"{k}={v}" for k, v in sorted(env.get("env", {}).items()))
    datasheet = link_bandwidth(device, Parallelism(), max(fit.ranks))
    return [
        f"## Several devices: {env['device_name']} × {sizes} (`{device.name}`)",
        "",
        f"Measured {env['date']} over {env['backend']}: {nccl}driver {env.get('driver')}, "
        f"CUDA {env.get('cuda')}, PyTorch {env['torch']}, transformers {env['transformers']}"
        + (f"; {settings}" if settings else "")
        + ". One process per device; models sharded by hand as Megatron-LM does (random "
        "weights).",
        "",
        f"Link fitted on the collectives: **{fit.bandwidth / 1e9:.0f} GB/s** per direction and "
        f"**{fit.latency * 1e6:.2f} µs** per ring step ({fit.describe()}); the datasheet gives "
        f"{datasheet / 1e9:.0f} GB/s, and the default latency is "
        f"{DEFAULT_LINK_LATENCY * 1e6:.1f} µs.",
        "",
    ]


def parallel_section(
    raws: list[dict[str, Any]], device: Device, profile: EfficiencyProfile
) -> tuple[list[str], LinkFit]:
    """Markdown for one device's multi-device measurements, and the link fitted on them."""
    fixed = profile.kernel_time
    measured = [c for raw in raws for c in raw["collectives"]]
    fit = fit_link(measured, fixed)
    link = (fit.bandwidth, fit.latency, fixed)
    ring = [r for raw in raws for r in collective_rows(raw, device, *link)]
    # Calibrated collectives: the measured tables, each size predicted without itself.
    held = {
        (h["kind"], h["ranks"], h["bytes"]): h["predicted"] for h in held_out_rows(measured, fixed)
    }
    collectives = [
        {**r, "calibrated": held.get((r["kind"], r["ranks"], r["bytes"]), r["calibrated"])}
        for r in ring
    ]
    tables = fit_tables(measured, _tables_source(raws), fixed)
    linked = with_link(profile, fit, fit.describe()).model_copy(update={"collectives": tables})
    steps = [r for raw in raws for r in step_rows(raw, device, linked)]
    lines = [
        *_header(raws, device, fit),
        "Collectives calibrated with tables per kind and group size (log-log between measured "
        "sizes, as the engine profiles hold them): each size below predicted from the table "
        "without it (every other size left out in turn). Steps predicted with `tp` set, "
        f"calibrated with the `{profile.device}` profile plus the tables of all sizes (the "
        "fitted link for group sizes not measured).",
        "",
        *_summary_table(summarize(collectives + steps)),
        "",
        "The ring model with the fitted link, for comparison (in sample):",
        "",
        *_by_kind(ring),
        "",
        "Tables, each size held out:",
        "",
        *_by_kind(collectives),
        "",
    ]
    if steps:
        lines += [*_step_table(steps), ""]
    skipped = [
        (m["model"], m["tp"], s) for raw in raws for m in raw["models"] for s in m["skipped"]
    ]
    if skipped:
        lines += ["Points not run:", ""]
        lines += [
            f"- {model.split('/')[-1]} tp={tp} {s['stage']} batch {s['batch']}, "
            f"length {s['length']}: {s['why']}"
            for model, tp, s in skipped
        ]
        lines.append("")
    lines += [
        "<details><summary>Every collective</summary>",
        "",
        *_collective_table(collectives),
        "",
        "</details>",
        "",
    ]
    return lines, fit


def collective_tables(
    raws: list[dict[str, Any]], profile: EfficiencyProfile
) -> dict[str, CollectiveTable]:
    """The measured tables that `parallel_section` prices steps with, to ship in a profile."""
    measured = [c for raw in raws for c in raw["collectives"]]
    return fit_tables(measured, _tables_source(raws), profile.kernel_time)


def _tables_source(raws: list[dict[str, Any]]) -> str:
    env = raws[0]["environment"]
    count = sum(len(raw["collectives"]) for raw in raws)
    backend = f"NCCL {env['nccl']}" if "nccl" in env else env.get("backend", "?")
    return f"{count} collectives measured {env.get('date', '?')[:10]} over {backend}"


def engine_collectives_section(raw: dict[str, Any], engine: str, device: str) -> list[str]:
    """Measured collectives against an engine profile's NCCL tables (from the engine's
    operator database): median and largest |error| per kind."""
    from rooflens.engines import load_engine_profile

    profile = load_engine_profile(engine, device)
    errors: dict[str, list[float]] = {}
    for c in raw["collectives"]:
        table = getattr(profile, "collectives", {}).get(c["kind"])
        if table is None:
            continue
        predicted = float(np.asarray(table(c["ranks"], np.array([float(c["bytes"])])))[0])
        errors.setdefault(c["kind"], []).append(predicted / c["time"] - 1)
    lines = [
        f"### Against the {engine} profile's collective tables",
        "",
        f"The {engine} profile prices collectives from the NCCL times of its operator "
        f"database ({profile.provenance.get('source', 'aiconfigurator')}); here they are set "
        "beside ours, measured on the same kind of GPU.",
        "",
        "| collective | points | median \\|error\\| | largest |",
        "|---|---|---|---|",
    ]
    for kind, values in errors.items():
        e = np.abs(values)
        lines.append(f"| {kind} | {len(e)} | {np.median(e):.1%} | {np.max(e):.1%} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    """python -m rooflens.calibration.report_parallel MEASURED.json --device D --out F"""
    import argparse
    import json
    from pathlib import Path

    from rooflens.calibration.profile import load_profile
    from rooflens.hardware.catalog import get_device

    parser = argparse.ArgumentParser(description="Several devices: measured against predicted")
    parser.add_argument("measured", nargs="+", help="JSON of python -m rooflens.measure.parallel")
    parser.add_argument("--device", required=True)
    parser.add_argument(
        "--engine", default="vllm", help="engine whose collective tables to set beside"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    raws = [json.loads(Path(p).read_text("utf-8")) for p in args.measured]
    device = get_device(args.device)
    section, _ = parallel_section(raws, device, load_profile(device.calibration or args.device))
    lines = [
        f"# Validation: tensor parallelism on {args.device}",
        "",
        "Generated by `python -m rooflens.calibration.report_parallel`; do not edit by hand.",
        "",
        *section,
        *engine_collectives_section(raws[0], args.engine, args.device),
    ]
    Path(args.out).write_text("\n".join(lines), "utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
