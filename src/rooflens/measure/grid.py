"""A time-boxed measurement grid over several catalog models on one device: prefill and decode
steps (eager and graph-replayed, or compiled), each analysis operator alone, and the framework
kernels as the model runs them. JSON in validate's layout, rewritten after every model, so a
run stopped early keeps what it measured; a model that fails says why in one line and the rest
go on.

    python -m rooflens.measure.grid --out grid.json --models Qwen/Qwen2.5-0.5B Qwen/Qwen3-8B
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from rooflens.calibration.fit import measurement_options
from rooflens.core.analysis import analyze
from rooflens.core.graph import build_graph
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.hardware.catalog import get_device
from rooflens.measure.environment import describe
from rooflens.measure.framework import time_framework_kernels
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.suite import describe as describe_op
from rooflens.measure.validate import catalog_device, time_operators
from rooflens.models.catalog import bundled_config, load_model

DEFAULT_MODELS = (
    "Qwen/Qwen2.5-0.5B",
    "Qwen/Qwen3-8B",
    "mistralai/Mistral-7B-v0.1",
    "google/gemma-2-9b",
    "meta-llama/Llama-2-13b-hf",
    "Qwen/Qwen2.5-14B",
    "Qwen/Qwen3-30B-A3B",
    "deepseek-ai/DeepSeek-V2-Lite",
)
# (batch, new tokens, past): two prefills within the 4096-token windows, three decodes, one of
# them past the windows (Mistral, Gemma-2 attend 4096 keys of the 8192 there).
POINTS = ((1, 512, 0), (4, 2048, 0), (1, 1, 2048), (32, 1, 2048), (8, 1, 8192))
# The compiled engine's points, decode first (each shape compiles anew: tens of seconds).
COMPILED_POINTS = ((1, 1, 2048), (32, 1, 2048), (1, 512, 0))
# Where each operator and framework kernel is also timed alone: one prefill, one decode.
OPERATOR_POINTS = ((4, 2048, 0), (32, 1, 2048))


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _free(device: str) -> None:
    if device == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def _fits(spec: ModelSpec, device_spec: Device, point: tuple[int, int, int]) -> str | None:
    """Why a point is left out (too big for the device), or None."""
    batch, new, past = point
    stage, length = ("prefill", new) if past == 0 else ("decode", past)
    predicted = analyze(
        spec, device_spec, batch=batch, prompt_len=length, options=measurement_options()
    )
    if float(predicted.memory[stage].total) > 0.85 * device_spec.memory_capacity:
        return "does not fit in device memory"
    return None


def measure_one(
    model_id: str,
    device: str,
    device_spec: Device,
    points: Sequence[tuple[int, int, int]] = POINTS,
    operator_points: Sequence[tuple[int, int, int]] = OPERATOR_POINTS,
    compiled: bool = False,
    config: dict[str, Any] | None = None,
    progress: Callable[[dict[str, Any]], object] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One model's steps, operators alone and framework kernels (the last two not compiled);
    `progress` sees the model's entry after each step (to write partial results)."""
    spec = load_model(model_id) if config is None else _spec(config, model_id)
    config = bundled_config(model_id) if config is None else config
    dtype = torch.bfloat16 if device == "cuda" else torch.float32  # CPUs lack fast bf16 GEMMs
    runner = ModelRunner(config, device, dtype=dtype, compiled=compiled)
    entry: dict[str, Any] = {
        "model": model_id,
        "engine": "compiled" if compiled else "transformers",
        "attention": runner.attention,
        "params_in_torch": runner.params(),
        "runs": [],
        "skipped": [],
    }
    for point in points:
        batch, new, past = point
        stage, length = ("prefill", new) if past == 0 else ("decode", past)
        why = _fits(spec, device_spec, point)
        if why is None:
            _log(f"{model_id} {stage} b={batch} len={length}")
            try:
                entry["runs"].append({"stage": stage, **runner.run(batch, new, past)})
            except (RuntimeError, ValueError, torch.cuda.OutOfMemoryError) as exc:
                why = f"failed: {_why(exc)}"
                _free(device)
        if why is not None:
            entry["skipped"].append({"stage": stage, "batch": batch, "length": length, "why": why})
        if progress is not None:
            progress(entry)
    operators, framework = [], []
    if not compiled:
        graph = build_graph(spec, measurement_options(), device_spec)
        by_name = {op.name: op for op in graph.operators}
        for batch, new, past in operator_points:
            if _fits(spec, device_spec, (batch, new, past)) is not None:
                continue

            def priced(name: str, b: int = batch, n: int = new, p: int = past) -> Any:
                op = by_name.get(name)
                return describe_op(op, b, n, p) if op is not None else None

            rows = time_framework_kernels(runner.model, batch, new, device, priced)
            framework += [{"model": model_id, "past": past, **r} for r in rows]
    del runner
    _free(device)
    if not compiled:
        for batch, new, past in operator_points:
            if _fits(spec, device_spec, (batch, new, past)) is None:
                operators += time_operators(spec, device, device_spec, batch, new, past)
        _free(device)
    return entry, operators, framework


def _spec(config: dict[str, Any], name: str) -> ModelSpec:
    from rooflens.models import spec_from_config

    return spec_from_config(config, name=name)


def _point(text: str) -> tuple[int, int, int]:
    """'32,1,2048' -> (32, 1, 2048): batch, new tokens per sequence, tokens already cached
    (argparse reports a bad one as a usage error, exit 2)."""
    parts = text.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected BATCH,NEW,PAST like 32,1,2048")
    batch, new, past = (int(part) for part in parts)
    if batch < 1 or new < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: batch and new tokens must be at least 1")
    return batch, new, past


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hardware", help="catalog device (default: from the GPU's name)")
    parser.add_argument("--compiled", action="store_true", help="torch.compile'd steps only")
    parser.add_argument(
        "--points",
        type=int,
        default=None,
        help="the first N (batch, new tokens, past) points of the grid (default: all)",
    )
    parser.add_argument(
        "--all-points",
        action="store_true",
        help="with --compiled: the whole grid's points, not the three compiled ones",
    )
    parser.add_argument(
        "--point",
        action="append",
        type=_point,
        metavar="BATCH,NEW,PAST",
        help="measure only this (batch, new tokens, past tokens) point (repeatable; e.g. a "
        "point an earlier run ran out of time for)",
    )
    parser.add_argument(
        "--deadline-s", type=float, default=None, help="start no model after this many seconds"
    )
    args = parser.parse_args(argv)
    if args.point:
        points = tuple(args.point)
    else:
        points = (COMPILED_POINTS if args.compiled and not args.all_points else POINTS)[
            : args.points
        ]
    start = time.monotonic()
    env = describe(args.device)
    device_spec = get_device(args.hardware) if args.hardware else catalog_device(env["device_name"])
    raw: dict[str, Any] = {
        "environment": env,
        "hardware": device_spec.name,
        "engine": "compiled" if args.compiled else "transformers",
        "models": [],
        "operators": [],
        "framework": [],
    }
    for model_id in args.models:
        if args.deadline_s is not None and time.monotonic() - start > args.deadline_s:
            raw["models"].append({"model": model_id, "failed": "not started: time budget spent"})
            continue

        steps: dict[str, Any] = {}  # the model's entry so far: kept should it fail later

        def write(
            entry: dict[str, Any], done: int = len(raw["models"]), steps: dict = steps
        ) -> None:
            steps.update(entry)
            snapshot = raw | {"models": [*raw["models"][:done], entry | {"partial": True}]}
            Path(args.out).write_text(json.dumps(snapshot, indent=1))

        try:
            entry, operators, framework = measure_one(
                model_id,
                args.device,
                device_spec,
                points=points,
                compiled=args.compiled,
                progress=write,
            )
            raw["models"].append(entry)
            raw["operators"] += operators
            raw["framework"] += framework
        except Exception as exc:  # one model failing leaves the others standing
            raw["models"].append(steps | {"model": model_id, "failed": _why(exc)})
            _log(f"{model_id} failed: {_why(exc)}")
            _free(args.device)
        Path(args.out).write_text(json.dumps(raw, indent=1))
        _log(f"{model_id} done, {time.monotonic() - start:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
