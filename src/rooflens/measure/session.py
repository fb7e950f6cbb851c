"""`rooflens measure`: one model at one setting, every measured figure beside its predictions."""

from __future__ import annotations

from typing import Any

import torch

from rooflens.calibration.fit import measurement_options
from rooflens.calibration.links import fit_link, parallel_options, with_link
from rooflens.calibration.report_parallel import collective_rows, size_label
from rooflens.core.analysis import analyze
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.results import Analysis
from rooflens.measure.environment import describe
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.parallel import measure_parallel
from rooflens.measure.validate import time_operators


def _row(
    quantity: str, measured: float, roofline: float, calibrated: float | None, unit: str
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "quantity": quantity,
        "unit": unit,
        "measured": measured,
        "roofline": roofline,
        "roofline_error": roofline / measured - 1,
        # Null without a profile, never left out (docs/output.md): the same columns every run.
        "calibrated": calibrated,
        "calibrated_error": None if calibrated is None else calibrated / measured - 1,
    }
    return row


def step_rows(
    runs: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    bound: Analysis,
    graphs: Analysis | None,
    eager: Analysis | None,
    gen_len: int,
) -> list[dict[str, Any]]:
    """Prefill, decode (first and last context) and peak memory beside the analyses."""
    prefill, first, last = runs

    def both(result, stage: str) -> float:
        return float(result.totals()[stage]["time"])

    def tpot(result) -> float:
        return float(result.generation["tpot"]) if gen_len > 1 else both(result, "decode")

    # A device that captures no CUDA graphs (a CPU) ran every step eagerly: no graph rows,
    # and its time per token is the eager steps' (it had been labelled as graphs').
    captured = "graph" in prefill and "graph" in first and "graph" in last
    kernel, priced = ("graph", graphs) if captured else ("eager", eager)
    rows = []
    if captured:
        rows.append(
            _row(
                "prefill step (graphs)",
                prefill["graph"],
                both(bound, "prefill"),
                graphs and both(graphs, "prefill"),
                "s",
            )
        )
    rows.append(
        _row(
            "prefill step (eager)",
            prefill["eager"],
            both(bound, "prefill"),
            eager and both(eager, "prefill"),
            "s",
        )
    )
    if captured:
        rows.append(
            _row(
                "decode step (graphs)",
                first["graph"],
                both(bound, "decode"),
                graphs and both(graphs, "decode"),
                "s",
            )
        )
    rows.append(
        _row(
            "decode step (eager)",
            first["eager"],
            both(bound, "decode"),
            eager and both(eager, "decode"),
            "s",
        )
    )
    rows.append(
        _row(
            f"time per output token ({'graphs' if captured else 'eager'})",
            (first[kernel] + last[kernel]) / 2,
            tpot(bound),
            tpot(priced) if priced else None,
            "s",
        )
    )
    if "peak_memory" in prefill:
        rows.append(
            _row(
                "peak memory (prefill)",
                prefill["peak_memory"],
                float(bound.memory["prefill"].total),
                graphs and float(graphs.memory["prefill"].total),
                "B",
            )
        )
    return rows


def measure(
    config: dict[str, Any],
    spec: ModelSpec,
    device: str,
    device_spec: Device,
    batch: int,
    prompt_len: int,
    gen_len: int,
    profile: EfficiencyProfile | None = None,
    weights: str | None = None,
    compiled: bool = False,
) -> dict[str, Any]:
    """Run prefill and decode of the real model (through torch.compile if `compiled`) and each
    operator alone; predict each."""
    runner = ModelRunner(config, device, weights=weights, compiled=compiled)
    prefill = runner.run(batch, prompt_len, 0)
    first = runner.run(batch, 1, prompt_len)
    last = runner.run(batch, 1, prompt_len + gen_len - 2) if gen_len > 2 else first
    del runner
    if device == "cuda":
        torch.cuda.empty_cache()
    operators = time_operators(spec, device, device_spec, batch, prompt_len, 0)
    operators += time_operators(spec, device, device_spec, batch, 1, prompt_len)

    def predict(prof: EfficiencyProfile | None, execution: str = "graphs"):
        return analyze(
            spec,
            device_spec,
            batch=batch,
            prompt_len=prompt_len,
            gen_len=gen_len,
            options=measurement_options(prof, execution),
        )

    bound = predict(None)
    graphs = predict(profile) if profile else None
    eager = predict(profile, "eager") if profile else None
    rows = step_rows((prefill, first, last), bound, graphs, eager, gen_len)
    for op in operators:
        tables = [r.operators() for r in (bound, graphs) if r is not None]
        pred = [
            float(t[(t.stage == op["stage"]) & (t.name == op["name"])].time.iloc[0]) for t in tables
        ]
        rows.append(
            _row(
                f"{op['stage']}: {op['name']}",
                op["time"],
                pred[0],
                pred[1] if len(pred) > 1 else None,
                "s",
            )
        )
    return {
        "environment": describe(device),
        "hardware": device_spec.name,
        "model": spec.name,
        "inputs": {"batch": batch, "prompt_len": prompt_len, "gen_len": gen_len},
        "calibration": profile.device if profile else None,
        "weights": weights or "random",
        "engine": "compiled" if compiled else "transformers",
        "rows": rows,
        "runs": {"prefill": prefill, "decode_first": first, "decode_last": last},
    }


def measure_tp(
    config: dict[str, Any],
    spec: ModelSpec,
    device: str,
    device_spec: Device,
    batch: int,
    prompt_len: int,
    gen_len: int,
    profile: EfficiencyProfile | None,
    tp: int,
) -> dict[str, Any]:
    """The model sharded over `tp` processes, one per device, and the collectives between
    them, each beside the analysis with `tp` set. The link of the calibrated estimate is the
    profile's, else the one fitted on this run's collectives."""
    last_past = prompt_len + gen_len - 2
    points = [(batch, prompt_len, 0), (batch, 1, prompt_len)]
    points += [(batch, 1, last_past)] if gen_len > 2 else []
    raw = measure_parallel(config, spec, device, device_spec, tp, points)
    link = None
    if tp > 1:
        fit = fit_link(raw["collectives"], profile.kernel_time if profile else 0.0)
        link = {"bandwidth": fit.bandwidth, "latency": fit.latency, "source": fit.describe()}
        if profile is not None and profile.link_bandwidth is None:
            profile = with_link(profile, fit, "fitted on this run's collectives")
    runs = {(r["new_tokens"], r["past"]): r for r in raw["models"][0]["runs"]}
    first = runs[(1, prompt_len)]

    def predict(prof: EfficiencyProfile | None, execution: str = "graphs") -> Analysis:
        options = parallel_options(prof, execution, tp)
        return analyze(
            spec, device_spec, batch=batch, prompt_len=prompt_len, gen_len=gen_len, options=options
        )

    rows = step_rows(
        (runs[(prompt_len, 0)], first, runs.get((1, last_past), first)),
        predict(None),
        predict(profile) if profile else None,
        predict(profile, "eager") if profile else None,
        gen_len,
    )
    if tp > 1:
        rows += _collective_rows(raw, device_spec, profile)
    return raw | {
        "model": spec.name,
        "tp": tp,
        "inputs": {"batch": batch, "prompt_len": prompt_len, "gen_len": gen_len},
        "calibration": profile.device if profile else None,
        "link": link,
        "weights": "random",
        "rows": rows,
    }


def _collective_rows(
    raw: dict[str, Any], device_spec: Device, profile: EfficiencyProfile | None
) -> list[dict[str, Any]]:
    """Each collective beside the datasheet link and, with a profile, the profile's link
    (by then holding one: its own or this run's fit)."""
    link = (None, 0.0, 0.0)
    if profile is not None:
        link = (profile.link_bandwidth, profile.link_latency or 0.0, profile.kernel_time)
    rows = []
    for r in collective_rows(raw, device_spec, *link):
        label = f"{r['kind']} over {r['ranks']}, {size_label(r['bytes'])}"
        rows.append(_row(label, r["measured"], r["roofline"], r["calibrated"], "s"))
    return rows
