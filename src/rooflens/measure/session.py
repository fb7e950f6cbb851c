"""`rooflens measure`: one model at one setting, every measured figure beside its predictions."""

from __future__ import annotations

from typing import Any

import torch

from rooflens.calibration.fit import measurement_options
from rooflens.core.analysis import analyze
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.measure.environment import describe
from rooflens.measure.model_runs import ModelRunner
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
    }
    if calibrated is not None:
        row |= {"calibrated": calibrated, "calibrated_error": calibrated / measured - 1}
    return row


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
) -> dict[str, Any]:
    """Run prefill and decode of the real model and each operator alone; predict each."""
    runner = ModelRunner(config, device, weights=weights)
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

    def both(result, stage: str) -> float:
        return float(result.totals()[stage]["time"])

    kernel = "graph" if "graph" in prefill else "eager"
    rows = [
        _row(
            "prefill step (graphs)",
            prefill[kernel],
            both(bound, "prefill"),
            graphs and both(graphs, "prefill"),
            "s",
        ),
        _row(
            "prefill step (eager)",
            prefill["eager"],
            both(bound, "prefill"),
            eager and both(eager, "prefill"),
            "s",
        ),
        _row(
            "decode step (graphs)",
            first.get("graph", first["eager"]),
            both(bound, "decode"),
            graphs and both(graphs, "decode"),
            "s",
        ),
        _row(
            "decode step (eager)",
            first["eager"],
            both(bound, "decode"),
            eager and both(eager, "decode"),
            "s",
        ),
        _row(
            "time per output token (graphs)",
            (first.get("graph", first["eager"]) + last.get("graph", last["eager"])) / 2,
            float(bound.generation["tpot"]) if gen_len > 1 else both(bound, "decode"),
            (float(graphs.generation["tpot"]) if gen_len > 1 else both(graphs, "decode"))
            if graphs
            else None,
            "s",
        ),
    ]
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
        "rows": rows,
        "runs": {"prefill": prefill, "decode_first": first, "decode_last": last},
    }
