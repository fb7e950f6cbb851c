"""The compiled engine's profile: the device's kernels, overheads fitted on one model's steps."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import rooflens
from rooflens.calibration.compiled import fit_compiled, markdown, predictions
from rooflens.calibration.profile import load_profile
from rooflens.engines import load_engine_profile

POINTS = ((1, 512, 0), (4, 2048, 0), (1, 1, 2048), (32, 1, 2048))


def _synthetic_grid(a: float, c: float) -> dict:
    """Steps of Llama-2-7B timed as the h200 kernels plus a + c x tokens per layer."""
    # Compiled steps run without transformers' framework kernel rows.
    truth = load_profile("h200-sxm").model_copy(
        update={
            "graph_overhead_per_layer": a,
            "graph_overhead_per_layer_token": c,
            "framework": None,
            "kernel_kinds": {},
            "eager_host_per_kernel": 0.0,
        }
    )
    runs = []
    for batch, new, past in POINTS:
        stage = "prefill" if new > 1 else "decode"
        result = rooflens.analyze(
            "meta-llama/Llama-2-7b-hf", "h200-sxm", batch=batch,
            prompt_len=new if stage == "prefill" else past, flash_attention=True,
            calibration=truth,
        )  # fmt: skip
        seconds = float(result.totals()[stage]["time"])
        runs.append({"stage": stage, "batch": batch, "new_tokens": new, "past": past,
                     "eager": seconds, "graph": seconds})  # fmt: skip
    return {"environment": {"device_name": "NVIDIA H200", "date": "2026-11-30"},
            "models": [{"model": "meta-llama/Llama-2-7b-hf", "runs": runs}]}  # fmt: skip


def test_the_fit_recovers_known_overheads_and_keeps_the_kernels() -> None:
    grid = _synthetic_grid(a=40e-6, c=2e-8)
    kernels = load_profile("h200-sxm")
    profile = fit_compiled(grid, kernels, "h200-sxm")
    assert profile.graph_overhead_per_layer == pytest.approx(40e-6, rel=1e-6)
    assert profile.graph_overhead_per_layer_token == pytest.approx(2e-8, rel=1e-6)
    assert profile.eager_host_per_layer == 0.0  # compiled steps replay their own graphs
    assert profile.framework is None and not profile.kernel_kinds
    assert profile.classes == kernels.classes and profile.kernel_time == kernels.kernel_time
    assert profile.provenance["overheads_fitted_on"] == "meta-llama/Llama-2-7b-hf, compiled"
    frame = predictions(grid, profile, "h200-sxm")
    assert frame["error"].abs().max() < 1e-9
    text = markdown(frame, grid, "meta-llama/Llama-2-7b-hf")
    assert "| meta-llama/Llama-2-7b-hf (fit) | decode | 32 | 2048 |" in text


def test_the_shipped_compiled_profile_prices_the_engine_and_names_its_source() -> None:
    profile = load_engine_profile("compiled", "h200-sxm")
    assert profile.eager_host_per_layer == 0.0
    assert "Llama-2-7b-hf" in profile.provenance["overheads_fitted_on"]
    assert profile.provenance["date"].startswith("2026-11-30")
    # The committed measurement it was fitted on is shipped beside it.
    raw = json.loads(
        resources.files("rooflens.calibration")
        .joinpath("measurements", "compiled-grid-h200-sxm.json")
        .read_text()
    )
    fit = next(m for m in raw["models"] if m["model"] == "meta-llama/Llama-2-7b-hf")
    assert len(fit["runs"]) == 5
    # `--engine compiled` prices with exactly this profile.
    by_engine = rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", batch=1, prompt_len=2048,
                                 engine="compiled").totals()["decode"]["time"]  # fmt: skip
    by_profile = rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", batch=1, prompt_len=2048,
                                  calibration=profile).totals()["decode"]["time"]  # fmt: skip
    assert by_engine == pytest.approx(by_profile, rel=1e-12)


def test_the_header_names_the_compiled_engine() -> None:
    estimate = rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", engine="compiled").options.estimate
    assert estimate.startswith("calibrated estimate (compiled (torch 2.11")
    assert "profile, h200-sxm, graphs)" in estimate
    # The transformers profile keeps its device name alone.
    assert rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", engine="transformers").options.estimate \
        == "calibrated estimate (h200-sxm, graphs)"  # fmt: skip
