"""Run the calibration suite and the validation grid of real models on one device, and write the
raw measurements as JSON. Everything is predicted afterwards, from the JSON alone.

    python -m rooflens.measure.validate --device cuda --out raw.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from rooflens.core.analysis import analyze
from rooflens.core.errors import UnknownHardwareError
from rooflens.core.graph import build_graph
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.hardware.catalog import get_device
from rooflens.measure.environment import describe
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.suite import describe as describe_op
from rooflens.measure.suite import run_suite, time_operator
from rooflens.models.catalog import bundled_config, load_model

VALIDATION_MODELS = ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-3.1-8B")
BATCHES = (1, 8, 32, 64)
PROMPTS = (128, 512, 2048, 8192)
CONTEXTS = (512, 2048, 8192)
# (batch, new tokens, past) where every operator is also timed alone.
OPERATOR_POINTS = ((1, 2048, 0), (8, 512, 0), (1, 1, 2048), (32, 1, 2048), (64, 1, 512))
# Llama-2's 4096 positions are exceeded at the 8192-token points on purpose: cost does not care.
FLASH = AnalysisOptions(flash_attention=True, allow_long_context=True)
# Substrings of torch's device name -> catalog entry, most specific first.
KNOWN_DEVICES = (
    ("H100 PCIe", "h100-pcie"),
    ("H100", "h100-sxm"),
    ("H200", "h200-sxm"),
    ("A100-SXM4-80GB", "a100-sxm4-80gb"),
    ("A100-SXM4-40GB", "a100-sxm4-40gb"),
)


def catalog_device(device_name: str) -> Device:
    for fragment, name in KNOWN_DEVICES:
        if fragment in device_name:
            return get_device(name)
    raise UnknownHardwareError(
        f"no catalog entry is known for {device_name!r}; pass --hardware with its name or file"
    )


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def time_operators(
    spec: ModelSpec, device: str, device_spec: Device, batch: int, new_tokens: int, past: int
) -> list[dict[str, Any]]:
    """Each analysis operator of one step, timed alone."""
    model_id = spec.name
    graph = build_graph(spec, FLASH, device_spec)
    rows = []
    for op in graph.operators:
        seconds = time_operator(op, batch, new_tokens, past, torch.bfloat16, device)
        if seconds is None:
            continue
        rows.append(
            {
                "model": model_id,
                "stage": "prefill" if past == 0 else "decode",
                "name": op.name,
                "class": op.efficiency_class,
                "batch": batch,
                "new_tokens": new_tokens,
                "past": past,
                **describe_op(op, batch, new_tokens, past),
                "time": seconds,
            }
        )
    return rows


def measure_model(
    config: dict[str, Any],
    spec: ModelSpec,
    device: str,
    device_spec: Device,
    batches=BATCHES,
    prompts=PROMPTS,
    contexts=CONTEXTS,
    max_prefill_seconds: float = 1.5,
    memory_share: float = 0.85,
) -> dict[str, Any]:
    """Prefill and decode steps over the grid, skipping points that do not fit or take long."""
    runner = ModelRunner(config, device)
    model_id = spec.name
    out: dict[str, Any] = {
        "model": model_id,
        "params_in_torch": runner.params(),
        "runs": [],
        "skipped": [],
    }
    for stage, points in (
        ("prefill", [(b, s) for b in batches for s in prompts]),
        ("decode", [(b, c) for b in batches for c in contexts]),
    ):
        for batch, length in points:
            predicted = analyze(spec, device_spec, batch=batch, prompt_len=length, options=FLASH)
            bound = float(predicted.totals()[stage]["time"])
            footprint = float(predicted.memory[stage].total)
            if footprint > memory_share * device_spec.memory_capacity:
                out["skipped"].append(
                    {
                        "stage": stage,
                        "batch": batch,
                        "length": length,
                        "why": "does not fit in device memory",
                    }
                )
                continue
            if stage == "prefill" and bound * 3 > max_prefill_seconds:
                out["skipped"].append(
                    {
                        "stage": stage,
                        "batch": batch,
                        "length": length,
                        "why": "longer than the run's time budget",
                    }
                )
                continue
            new, past = (length, 0) if stage == "prefill" else (1, length)
            _log(f"{model_id} {stage} b={batch} len={length}")
            try:
                out["runs"].append({"stage": stage, **runner.run(batch, new, past)})
            except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                out["skipped"].append(
                    {
                        "stage": stage,
                        "batch": batch,
                        "length": length,
                        "why": f"failed: {str(exc).splitlines()[0][:200]}",
                    }
                )
                runner._release()
    del runner
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hardware", help="catalog device (default: from the GPU's name)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    env = describe(args.device)
    device_spec = get_device(args.hardware) if args.hardware else catalog_device(env["device_name"])
    raw: dict[str, Any] = {"environment": env, "hardware": device_spec.name}
    _log(f"suite on {env['device_name']}")
    raw["suite"] = run_suite(args.device)
    raw["models"], raw["operators"] = [], []
    for model_id in VALIDATION_MODELS:
        spec = load_model(model_id)
        raw["models"].append(
            measure_model(bundled_config(model_id), spec, args.device, device_spec)
        )
        for batch, new, past in OPERATOR_POINTS:
            raw["operators"] += time_operators(spec, args.device, device_spec, batch, new, past)
        torch.cuda.empty_cache() if args.device == "cuda" else None
    with open(args.out, "w") as fh:
        json.dump(raw, fh, indent=1)
    _log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
