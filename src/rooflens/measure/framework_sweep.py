"""Framework kernels and few-layer steps over many sizes, for the kernel-level calibration
(`rooflens.calibration.fit_kernels`) where the grid measured two sizes only.

Each model is built with `--layers` decoder layers (its first MoE layer included) from its
catalog config with random weights: cheap to build, and its steps are the per-layer costs
plus the embedding and head. At every point, (1) transformers' own modules alone, with the
kernels they launch (`rooflens.measure.framework`: norms, activation, rotary, cache write,
output copy, MoE router, permutation, experts as the model calls them, the whole MoE block);
(2) the whole few-layer step, eagerly (timed `--repeats` times: the host's time varies from
call to call) and replayed from a CUDA graph. JSON in the grid's layout (`models`,
`framework`), with `layers` per model; rewritten after every model.

    python -m rooflens.measure.framework_sweep --out sweep.json --deadline-s 240
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rooflens.measure.environment import describe
from rooflens.measure.framework import time_framework_kernels
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.validate import catalog_device
from rooflens.models.catalog import bundled_config

DEFAULT_MODELS = (
    "Qwen/Qwen3-30B-A3B",
    "deepseek-ai/DeepSeek-V2-Lite",
    "Qwen/Qwen2.5-0.5B",
    "mistralai/Mistral-7B-v0.1",
    "google/gemma-2-9b",
)
# (batch, new tokens, past): routed tokens per MoE layer from 1 to 8192 (rows per expert from
# under one to hundreds), decode contexts for MLA's decompression of the whole cache.
POINTS = (
    (1, 1, 2048),
    (8, 1, 2048),
    (32, 1, 2048),
    (128, 1, 2048),
    (8, 1, 8192),
    (1, 128, 0),
    (1, 512, 0),
    (4, 2048, 0),
)


def few_layers(config: dict[str, Any], layers: int) -> dict[str, Any]:
    """`config` with `layers` decoder layers, at least one past its dense ones (DeepSeek's
    first_k_dense_replace); per-layer lists (layer types, windows) cut to match."""
    total = config["num_hidden_layers"]
    keep = min(total, max(layers, int(config.get("first_k_dense_replace", 0) or 0) + 1))
    out = dict(config)
    out["num_hidden_layers"] = keep
    for key, value in config.items():
        if isinstance(value, list) and len(value) == total:
            out[key] = value[:keep]
    return out


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sweep_model(
    model_id: str,
    config: dict[str, Any],
    device: str,
    points: Sequence[tuple[int, int, int]] = POINTS,
    repeats: int = 3,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One model's few-layer steps and framework kernels over `points`."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    runner = ModelRunner(config, device, dtype=dtype)
    entry: dict[str, Any] = {
        "model": model_id,
        "layers": config["num_hidden_layers"],
        "attention": runner.attention,
        "runs": [],
        "skipped": [],
    }
    framework: list[dict[str, Any]] = []
    for batch, new, past in points:
        stage = "prefill" if past == 0 else "decode"
        try:
            runs = [runner.run(batch, new, past, graphs=(i == 0)) for i in range(repeats)]
            run = {"stage": stage, **runs[0]}
            run["eager_repeats"] = [r["eager"] for r in runs]
            entry["runs"].append(run)
            rows = time_framework_kernels(runner.model, batch, new, device)
            framework += [{"model": model_id, "past": past, **r} for r in rows]
        except (RuntimeError, ValueError, torch.cuda.OutOfMemoryError) as exc:
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            entry["skipped"].append(
                {"stage": stage, "batch": batch, "new_tokens": new, "past": past, "why": why}
            )
            if device == "cuda":
                torch.cuda.empty_cache()
    return entry, framework


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS))
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="eager timings per step")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hardware", help="catalog device (default: from the GPU's name)")
    parser.add_argument(
        "--deadline-s", type=float, default=None, help="start no model after this many seconds"
    )
    parser.add_argument("--points", type=int, default=None, help="the first N points only")
    args = parser.parse_args(argv)
    start = time.monotonic()
    env = describe(args.device)
    hardware = args.hardware or catalog_device(env["device_name"]).name
    raw: dict[str, Any] = {
        "environment": env,
        "hardware": hardware,
        "engine": "transformers",
        "models": [],
        "framework": [],
    }
    for model_id in args.models:
        if args.deadline_s is not None and time.monotonic() - start > args.deadline_s:
            raw["models"].append({"model": model_id, "failed": "not started: time budget spent"})
            continue
        try:
            config = few_layers(bundled_config(model_id), args.layers)
            points = POINTS[: args.points]
            entry, framework = sweep_model(
                model_id, config, args.device, points=points, repeats=args.repeats
            )
            raw["models"].append(entry)
            raw["framework"] += framework
        except Exception as exc:  # one model failing leaves the others standing
            raw["models"].append({"model": model_id, "failed": f"{type(exc).__name__}: {exc}"})
        Path(args.out).write_text(json.dumps(raw, indent=1))
        _log(f"{model_id} done, {time.monotonic() - start:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
