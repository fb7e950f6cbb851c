"""The `compiled` engine's profile: torch.compile'd transformers on a device we measured.

    python -m rooflens.calibration.compiled MEASURED.json --device h200-sxm \\
        --out src/rooflens/engines/profiles/compiled-h200-sxm.json \\
        --report docs/validation-compiled.md

(and `--device h100-sxm` into compiled-h100-sxm.json, docs/validation-compiled-h100.md).

torch.compile runs the same GEMM and attention kernels as eager transformers, so the kernels
are the device's bundled calibration profile (fitted on micro-benchmarks). What compiling
changes is around them: fused norms, rotary and casts, and its own CUDA graphs. Those
overheads are fitted on the compiled steps of some of the measured models (`--fit-models`, a
small, a mid-size and a large dense model, widths 896 to 5,120) as a + e x tokens x hidden
size per layer; every other model of the measurement is reported out of sample.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import rooflens
from rooflens.calibration.fit import fit_overheads
from rooflens.calibration.profile import load_profile, save_profile
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model

# Fitted on these; the rest of the measurement (Llama-3.1-8B, Qwen3-8B, Mistral-7B and the
# MoE Qwen3-30B-A3B) is out of sample.
FIT_MODELS = ("meta-llama/Llama-2-7b-hf", "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-14B")


def fit_compiled(
    grid: dict[str, Any],
    kernels: EfficiencyProfile,
    device: str,
    fit_models: tuple[str, ...] = FIT_MODELS,
) -> EfficiencyProfile:
    """The device's kernels with the overheads of `fit_models`' compiled steps."""
    runs = {m["model"]: m["runs"] for m in grid["models"]}
    missing = [name for name in fit_models if name not in runs]
    if missing:
        raise ValueError(f"the measurement has no steps of {', '.join(missing)}")
    device_spec = get_device(device)
    # Compiling fuses transformers' extra kernels (norms, rotary, casts) into its own: the
    # device profile's framework kernel rows and their eager host time do not apply.
    base = kernels.model_copy(
        update={
            "framework": None,
            "kernel_kinds": {},
            "eager_host_per_kernel": 0.0,
            "graph_overhead_per_layer": 0.0,
            "graph_overhead_per_layer_token": 0.0,
            "eager_host_per_layer": 0.0,
            "link_bandwidth": None,
            "link_latency": None,
        }
    )
    overheads = fit_overheads(
        [(load_model(name), runs[name]) for name in fit_models], device_spec, base, "elements"
    )
    env = grid.get("environment", {})
    provenance = {
        "engine": f"compiled (torch {env.get('torch', '?')})",
        "source": "torch.compile(mode='reduce-overhead') steps measured by rooflens.measure.grid",
        "measured_on": str(env.get("device_name", "?")),
        "date": str(env.get("date", "?")),
        "torch": str(env.get("torch", "?")),
        "transformers": str(env.get("transformers", "?")),
        "kernels_from": f"the bundled {kernels.device} calibration profile (micro-benchmarks)",
        "overheads_fitted_on": f"{', '.join(fit_models)}, compiled",
    }
    # A compiled step replays its CUDA graphs: no eager host time per layer.
    return base.model_copy(
        update={**overheads, "eager_host_per_layer": 0.0, "provenance": provenance}
    )


def predictions(grid: dict[str, Any], profile: EfficiencyProfile, device: str) -> pd.DataFrame:
    """Each measured compiled step beside the roofline bound and the compiled estimate."""
    rows = []
    for model in grid["models"]:
        for run in model.get("runs", []):
            stage = run["stage"]
            context = run["new_tokens"] if stage == "prefill" else run["past"]
            times = {}
            for label, calibration in (("bound", None), ("estimate", profile)):
                result = rooflens.analyze(
                    model["model"], device, batch=run["batch"], prompt_len=context,
                    flash_attention=True, allow_long_context=True, calibration=calibration,
                )  # fmt: skip
                times[label] = float(result.totals()[stage]["time"])
            rows.append(
                {
                    "model": model["model"],
                    "stage": stage,
                    "batch": run["batch"],
                    "tokens": run["new_tokens"] if stage == "prefill" else run["past"],
                    "measured": run["graph"],
                    **times,
                }
            )
    frame = pd.DataFrame(rows)
    frame["error"] = frame["estimate"] / frame["measured"] - 1
    return frame


def _pct(value: float) -> str:
    return f"{100 * value:+.1f}%"


def markdown(frame: pd.DataFrame, grid: dict[str, Any], fit_models: tuple[str, ...]) -> str:
    """docs/validation-compiled.md: the out-of-sample models first."""
    env = grid.get("environment", {})
    fitted = frame["model"].isin(fit_models)
    held = frame[~fitted]
    lines = [
        "# Validation: the `compiled` engine on models it was not fitted on",
        "",
        "Generated by `python -m rooflens.calibration.compiled`; do not edit by hand.",
        "",
        f"Measured on {env.get('device_name', '?')} with torch {env.get('torch', '?')} and "
        f"transformers {env.get('transformers', '?')} ({env.get('date', '?')[:10]}): each "
        "model built from its catalog config with random bf16 weights and run through "
        "torch.compile(mode='reduce-overhead'), timed by wall clock per call once compiled "
        "(`rooflens.measure.grid --compiled --all-points`). The profile's kernels are the "
        "device's calibration profile (micro-benchmarks); its overheads (a + e x tokens x "
        "hidden size per layer) were fitted on the compiled steps of "
        f"{', '.join(fit_models)} only, so every other row is out of sample. "
        "Error = estimate / measured - 1.",
        "",
        "| stage | steps | median \\|error\\| | largest \\|error\\| |",
        "|---|---|---|---|",
    ]
    for stage, group in held.groupby("stage", sort=False):
        err = group["error"].abs()
        lines.append(f"| {stage} | {len(group)} | {100 * err.median():.1f}% | "
                     f"{100 * err.max():.1f}% |")  # fmt: skip
    lines += [
        "",
        "| model | stage | batch | tokens | measured | estimate | error | bound / measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, row in pd.concat([held, frame[fitted]]).iterrows():
        mark = " (fit)" if row["model"] in fit_models else ""
        lines.append(
            f"| {row['model']}{mark} | {row['stage']} | {row['batch']} | {row['tokens']} | "
            f"{1e3 * row['measured']:.2f} ms | {1e3 * row['estimate']:.2f} ms | "
            f"{_pct(row['error'])} | {row['bound'] / row['measured']:.2f} |"
        )
    note = grid.get("note")
    if note:
        lines += ["", f"About the measurement: {note}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measured", help="compiled grid JSON from rooflens.measure.grid")
    parser.add_argument("--device", required=True, help="catalog device it was measured on")
    parser.add_argument(
        "--fit-models",
        default=",".join(FIT_MODELS),
        help="models whose steps the overheads are fitted on, comma-separated",
    )
    parser.add_argument(
        "--out", required=True, help="profile to write (.json, as shipped, or .toml)"
    )
    parser.add_argument("--report", help="markdown report to write")
    args = parser.parse_args(argv)
    grid = json.loads(Path(args.measured).read_text())
    fit_models = tuple(name.strip() for name in args.fit_models.split(",") if name.strip())
    profile = fit_compiled(grid, load_profile(args.device), args.device, fit_models)
    save_profile(profile, args.out)
    if args.report:
        frame = predictions(grid, profile, args.device)
        Path(args.report).write_text(markdown(frame, grid, fit_models))
        held = frame[~frame["model"].isin(fit_models)]
        print(f"out of sample: median |error| {100 * np.median(held['error'].abs()):.1f}%")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
