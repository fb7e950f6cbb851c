"""Measured vs roofline vs calibrated: per point, summarized, with a scatter plot.

    python -m rooflens.calibration.report MEASUREMENTS.json [...] --docs docs --profiles DIR
        [--parallel TP.json ...]

Each raw file (from `python -m rooflens.measure.validate`) gives one device. The profile is
fitted with the suite and the first model's runs, then predicts both models; the second
model is out of sample. The reverse fit is reported too. Files measured over several devices
(`python -m rooflens.measure.parallel`) add a section per device (report_parallel).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from rooflens.calibration.fit import fit_profile, measurement_options
from rooflens.calibration.fit_kernels import transfer_profile
from rooflens.calibration.links import with_link
from rooflens.calibration.profile import load_profile, save_profile
from rooflens.core.analysis import analyze
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.hardware import Device
from rooflens.formats import save_figure
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model

TARGETS = {  # category -> (median, max) |error| targets, None where no target applies
    "prefill (graphs)": (0.10, 0.25),
    "decode step (graphs)": (0.10, 0.25),
    "decode step (eager)": (0.25, None),
    "operators (alone)": (0.15, None),
    "peak memory": (0.10, 0.10),
    "collectives (alone)": (0.10, 0.25),
    "TP prefill (graphs)": (0.10, 0.25),
    "TP decode step (graphs)": (0.10, 0.25),
    "TP decode step (eager)": (0.25, None),
}


def _err(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured


def _length(run: dict[str, Any]) -> int:
    return run["new_tokens"] if run["stage"] == "prefill" else run["past"]


def model_rows(
    raw: dict[str, Any], device: Device, profile: EfficiencyProfile
) -> list[dict[str, Any]]:
    """One row per (model run, quantity): measured, roofline, calibrated."""
    rows = []
    for model in raw["models"]:
        spec = load_model(model["model"])
        for run in model["runs"]:
            bound = analyze(
                spec,
                device,
                batch=run["batch"],
                prompt_len=_length(run),
                options=measurement_options(),
            )
            graphs, eager = (
                analyze(
                    spec,
                    device,
                    batch=run["batch"],
                    prompt_len=_length(run),
                    options=measurement_options(profile, execution),
                )
                for execution in ("graphs", "eager")
            )
            stage = run["stage"]
            base = {
                "model": spec.name,
                "stage": stage,
                "batch": run["batch"],
                "length": _length(run),
            }
            if "graph" in run:
                category = "prefill (graphs)" if stage == "prefill" else "decode step (graphs)"
                rows.append(
                    {
                        **base,
                        "category": category,
                        "measured": run["graph"],
                        "roofline": float(bound.totals()[stage]["time"]),
                        "calibrated": float(graphs.totals()[stage]["time"]),
                    }
                )
            if stage == "decode":
                rows.append(
                    {
                        **base,
                        "category": "decode step (eager)",
                        "measured": run["eager"],
                        "roofline": float(bound.totals()[stage]["time"]),
                        "calibrated": float(eager.totals()[stage]["time"]),
                    }
                )
            if "peak_memory" in run:
                rows.append(
                    {
                        **base,
                        "category": "peak memory",
                        "measured": run["peak_memory"],
                        "roofline": float(bound.memory[stage].total),
                        "calibrated": float(graphs.memory[stage].total),
                    }
                )
    return rows


def operator_rows(
    raw: dict[str, Any], device: Device, profile: EfficiencyProfile
) -> list[dict[str, Any]]:
    rows = []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in raw["operators"]:
        groups.setdefault((r["model"], r["batch"], r["new_tokens"], r["past"]), []).append(r)
    for (model, batch, new, past), measured in groups.items():
        spec, stage = load_model(model), "prefill" if past == 0 else "decode"
        length = new if stage == "prefill" else past
        tables = {}
        for label, prof in (("roofline", None), ("calibrated", profile)):
            frame = analyze(
                spec, device, batch=batch, prompt_len=length, options=measurement_options(prof)
            ).operators()
            tables[label] = frame[frame.stage == stage].set_index("name")["time"]
        for r in measured:
            rows.append(
                {
                    "model": model,
                    "stage": stage,
                    "batch": batch,
                    "length": length,
                    "category": "operators (alone)",
                    "operator": r["name"],
                    "measured": r["time"],
                    "roofline": float(tables["roofline"][r["name"]]),
                    "calibrated": float(tables["calibrated"][r["name"]]),
                }
            )
    return rows


def summarize(
    rows: list[dict[str, Any]], models: tuple[str, ...] | None = None
) -> dict[str, dict[str, float]]:
    out = {}
    for category in TARGETS:
        sel = [
            r for r in rows if r["category"] == category and (not models or r["model"] in models)
        ]
        if not sel:
            continue
        out[category] = {"points": len(sel)}
        for key in ("roofline", "calibrated"):
            errs = np.abs([_err(r[key], r["measured"]) for r in sel])
            out[category] |= {
                f"{key}_median": float(np.median(errs)),
                f"{key}_max": float(np.max(errs)),
            }
    return out


def scatter(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if r["category"] != "peak memory"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
    markers = {
        "prefill (graphs)": "o",
        "decode step (graphs)": "s",
        "decode step (eager)": "^",
        "operators (alone)": ".",
    }
    for ax, key in zip(axes, ("roofline", "calibrated"), strict=True):
        for category, marker in markers.items():
            sel = [r for r in timed if r["category"] == category]
            ax.scatter(
                [r["measured"] for r in sel],
                [r[key] for r in sel],
                marker=marker,
                label=category,
                alpha=0.7,
                color="0.2" if marker != "." else "0.5",
            )
        lims = [min(r["measured"] for r in timed) / 2, max(r["measured"] for r in timed) * 2]
        ax.plot(lims, lims, "k--", lw=1, label="predicted = measured")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="measured time (s)",
            ylabel=f"{key} prediction (s)",
            title=f"{title}: {key}",
        )
        ax.grid(True, which="both", lw=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _summary_table(summary: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "| quantity | points | roofline median / max | calibrated median / max | target "
        "(median / max) | met |",
        "|---|---|---|---|---|---|",
    ]
    for category, s in summary.items():
        med, mx = TARGETS[category]
        ok = s["calibrated_median"] <= med and (mx is None or s["calibrated_max"] <= mx)
        target = f"≤ {_pct(med)}" + (f" / ≤ {_pct(mx)}" if mx else "")
        lines.append(
            f"| {category} | {s['points']} | {_pct(s['roofline_median'])} / "
            f"{_pct(s['roofline_max'])} | {_pct(s['calibrated_median'])} / "
            f"{_pct(s['calibrated_max'])} | {target} | {'yes' if ok else '**no**'} |"
        )
    return lines


def _points_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | quantity | batch | length | measured | roofline | calibrated | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["category"] == "operators (alone)":
            continue
        unit, scale = ("GB", 1e9) if r["category"] == "peak memory" else ("ms", 1e-3)
        lines.append(
            f"| {r['model'].split('/')[1]} | {r['category']} | {r['batch']} | {r['length']} | "
            f"{r['measured'] / scale:.3f} {unit} | {r['roofline'] / scale:.3f} | "
            f"{r['calibrated'] / scale:.3f} | {100 * _err(r['calibrated'], r['measured']):+.1f} % |"
        )
    return lines


def device_section(
    raw: dict[str, Any],
    docs: Path,
    profiles: Path | None,
    shipped: EfficiencyProfile | None = None,
) -> list[str]:
    """The device's two models against the profile shipped (`shipped`, the kernel-level one,
    which none of their steps went into) and against the per-layer fit on one of them."""
    device = get_device(raw["hardware"])
    models = [m["model"] for m in raw["models"]]
    env = raw["environment"]
    primary = fit_profile(raw, device, load_model(models[0]))
    reverse = fit_profile(raw, device, load_model(models[-1]))
    if profiles is not None:
        save_profile(shipped or primary, profiles / f"{device.name}.toml")
    rows = model_rows(raw, device, primary) + operator_rows(raw, device, primary)
    rev_rows = model_rows(raw, device, reverse) + operator_rows(raw, device, reverse)
    figure = docs / f"validation-{device.name}.png"
    head: list[str] = []
    if shipped is not None:
        kernel_rows = model_rows(raw, device, shipped) + operator_rows(raw, device, shipped)
        scatter(kernel_rows, env["device_name"], figure)
        origin = shipped.provenance.get("transferred_from")
        how = (
            f"its micro-benchmarks, with the framework kernels of {origin}"
            if origin
            else shipped.provenance.get("kernels_fitted_on", "?")
        )
        head = [
            "### Profile shipped (kernel-level), out of sample on both models",
            "",
            f"Fitted on {how}; none of these models' steps.",
            "",
            *_summary_table(summarize(kernel_rows)),
            "",
            "The per-layer fit below (one model's steps, a framework overhead per layer and "
            "token) is kept for comparison.",
            "",
        ]
    else:
        scatter(rows, env["device_name"], figure)
    lines = [
        f"## {env['device_name']} (`{device.name}`)",
        "",
        f"Measured {env['date']}: driver {env.get('driver')}, CUDA {env.get('cuda')}, "
        f"PyTorch {env['torch']}, transformers {env['transformers']}, Python {env['python']}. "
        f"Models built from their configs with random bf16 weights.",
        "",
        *head,
        f"Profile fitted on the micro-benchmarks and **{models[0]}**'s steps "
        f"(kernel {primary.kernel_time * 1e6:.2f} µs; framework overhead "
        f"{primary.graph_overhead_per_layer * 1e6:.1f} µs + "
        f"{primary.graph_overhead_per_layer_token * 1e9:.2f} ns × tokens per layer; eager host "
        f"{primary.eager_host_per_layer * 1e6:.0f} µs per layer; "
        f"{primary.memory_overhead / 1e9:.2f} GB resident).",
        "",
        f"### Both models, profile fitted on {models[0]}",
        "",
        *_summary_table(summarize(rows)),
        "",
        f"### Out of sample only: {models[-1]}, profile fitted on {models[0]}",
        "",
        *_summary_table(summarize(rows, (models[-1],))),
        "",
        f"### Out of sample only: {models[0]}, profile fitted on {models[-1]}",
        "",
        *_summary_table(summarize(rev_rows, (models[0],))),
        "",
        f"![predicted vs measured on {env['device_name']}]({figure.name})",
        "",
    ]
    skipped = [(m["model"], s) for m in raw["models"] for s in m["skipped"]]
    if skipped:
        lines += ["Grid points not run:", ""]
        lines += [
            f"- {m.split('/')[1]} {s['stage']} batch {s['batch']}, length {s['length']}: {s['why']}"
            for m, s in skipped
        ]
        lines.append("")
    lines += [
        "<details><summary>Every point</summary>",
        "",
        *_points_table(rows),
        "",
        "</details>",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write docs/validation.md from measurements.")
    parser.add_argument("raw", nargs="+", type=Path)
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--profiles", type=Path, default=None)
    parser.add_argument(
        "--preamble",
        type=Path,
        default=None,
        help="hand-written text placed before the generated sections",
    )
    parser.add_argument(
        "--parallel",
        type=Path,
        nargs="+",
        default=[],
        help="measurements over several devices (python -m rooflens.measure.parallel)",
    )
    parser.add_argument(
        "--grid",
        type=Path,
        default=None,
        help="a measurement grid (python -m rooflens.measure.grid): cross-validated over its "
        "models, its out-of-sample table first, its first fold's profile shipped",
    )
    parser.add_argument(
        "--sweep",
        type=Path,
        default=None,
        help="with --grid: framework kernels over more sizes "
        "(python -m rooflens.measure.framework_sweep) for the fits",
    )
    args = parser.parse_args(argv)
    raws = [json.loads(path.read_text()) for path in args.raw]
    grid_lines: list[str] = []
    shipped: dict[str, EfficiencyProfile] = {}
    if args.grid is not None:
        from rooflens.calibration.report_grid import with_sweep

        sweep = json.loads(args.sweep.read_text()) if args.sweep else None
        grid = with_sweep(json.loads(args.grid.read_text()), sweep)
        grid_lines, shipped = grid_section(grid, raws, args.docs)
        source = next(iter(shipped.values()))
        for raw in raws:
            if raw["hardware"] not in shipped:
                device = get_device(raw["hardware"])
                base = load_profile(raw["hardware"])
                shipped[raw["hardware"]] = transfer_profile(raw["suite"], device, source, base)
    preamble = args.preamble.read_text() if args.preamble else "# Validation\n"
    title, _, rest = preamble.partition("\n")
    lines = [title, "", *grid_lines, rest]
    for raw in raws:
        lines += device_section(raw, args.docs, args.profiles, shipped.get(raw["hardware"]))
    lines += parallel_sections([json.loads(p.read_text()) for p in args.parallel], args.profiles)
    (args.docs / "validation.md").write_text("\n".join(lines))


def grid_section(
    grid: dict[str, Any], raws: list[dict[str, Any]], docs: Path
) -> tuple[list[str], dict[str, EfficiencyProfile]]:
    """The grid's out-of-sample summary (docs/validation-grid.md in full), and the kernel-level
    profile fitted on its first fold checked on the device's own two models as well."""
    # Imported here: report_grid builds on the fit modules, not on this one.
    from rooflens.calibration.report_grid import cross_validate, markdown, out_of_sample_section

    hardware = grid["hardware"]
    raw = next(r for r in raws if r["hardware"] == hardware)
    steps, operators, fitted = cross_validate(grid, raw["suite"], hardware, load_profile(hardware))
    (docs / "validation-grid.md").write_text(
        markdown(grid, steps, operators, fitted, hardware), "utf-8"
    )
    lines = [
        *out_of_sample_section(grid, steps, operators, hardware),
        f"The profile shipped for `{hardware}` is fold 1's; the other devices' take its "
        "framework kernels with their own micro-benchmarks. Each device's section below checks "
        "the shipped profile on two more models, measured earlier and in no fit.",
        "",
    ]
    return lines, {hardware: fitted[0]}


def parallel_sections(raws: list[dict[str, Any]], profiles: Path | None) -> list[str]:
    """A section per device; with `profiles`, its profile gains the fitted link."""
    # Imported here: that module builds on this one's tables.
    from rooflens.calibration.report_parallel import collective_tables, parallel_section

    lines: list[str] = []
    for hardware in sorted({raw["hardware"] for raw in raws}):
        group = [raw for raw in raws if raw["hardware"] == hardware]
        refitted = profiles / f"{hardware}.toml" if profiles is not None else None
        profile = load_profile(refitted if refitted and refitted.is_file() else hardware)
        section, fit = parallel_section(group, get_device(hardware), profile)
        lines += section
        if refitted is not None:
            how = fit.describe(group[0]["environment"]["backend"])
            tables = collective_tables(group, profile)
            save_profile(
                with_link(profile, fit, how).model_copy(update={"collectives": tables}), refitted
            )
    return lines


if __name__ == "__main__":
    main()
