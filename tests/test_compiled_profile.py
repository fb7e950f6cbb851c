"""The compiled engine's profile: the device's kernels, overheads fitted on some models' steps."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import rooflens
from rooflens.calibration.compiled import FIT_MODELS, fit_compiled, markdown, predictions
from rooflens.calibration.profile import load_profile
from rooflens.engines import load_engine_profile

POINTS = ((1, 512, 0), (4, 2048, 0), (1, 1, 2048), (32, 1, 2048))


def _synthetic_grid(a: float, e: float) -> dict:
    """Steps of the fit models (and one more), timed as the h200 kernels plus a + e x tokens x
    hidden size per layer."""
    # Compiled steps run without transformers' framework kernel rows.
    truth = load_profile("h200-sxm").model_copy(
        update={
            "graph_overhead_per_layer": a,
            "graph_overhead_per_layer_element": e,
            "framework": None,
            "kernel_kinds": {},
            "eager_host_per_kernel": 0.0,
        }
    )
    models = []
    for name in (*FIT_MODELS, "Qwen/Qwen3-8B"):
        runs = []
        for batch, new, past in POINTS:
            stage = "prefill" if new > 1 else "decode"
            result = rooflens.analyze(
                name, "h200-sxm", batch=batch, prompt_len=new if stage == "prefill" else past,
                flash_attention=True, calibration=truth,
            )  # fmt: skip
            seconds = float(result.totals()[stage]["time"])
            runs.append({"stage": stage, "batch": batch, "new_tokens": new, "past": past,
                         "eager": seconds, "graph": seconds})  # fmt: skip
        models.append({"model": name, "runs": runs})
    return {"environment": {"device_name": "NVIDIA H200", "date": "2026-11-30"}, "models": models}


def test_the_fit_recovers_known_overheads_and_keeps_the_kernels() -> None:
    grid = _synthetic_grid(a=25e-6, e=1.2e-11)
    kernels = load_profile("h200-sxm")
    profile = fit_compiled(grid, kernels, "h200-sxm")
    assert profile.graph_overhead_per_layer == pytest.approx(25e-6, rel=1e-6)
    assert profile.graph_overhead_per_layer_element == pytest.approx(1.2e-11, rel=1e-6)
    assert profile.graph_overhead_per_layer_token == 0.0
    assert profile.eager_host_per_layer == 0.0  # compiled steps replay their own graphs
    assert profile.framework is None and not profile.kernel_kinds
    assert profile.classes == kernels.classes and profile.kernel_time == kernels.kernel_time
    assert profile.provenance["overheads_fitted_on"] == f"{', '.join(FIT_MODELS)}, compiled"
    frame = predictions(grid, profile, "h200-sxm")
    assert frame["error"].abs().max() < 1e-9
    text = markdown(frame, grid, FIT_MODELS)
    assert "| Qwen/Qwen2.5-0.5B (fit) | decode | 32 | 2048 |" in text
    assert "| Qwen/Qwen3-8B | decode | 32 | 2048 |" in text  # out of sample, no mark
    with pytest.raises(ValueError, match="no steps of Qwen/Qwen3-32B"):
        fit_compiled(grid, kernels, "h200-sxm", ("Qwen/Qwen3-32B",))


def test_the_element_overhead_is_tokens_times_hidden_per_layer() -> None:
    """By hand: Qwen2.5-0.5B (24 layers, hidden 896), a prefill of 2 x 100 tokens: an
    overhead of 1e-11 s per layer, token and hidden channel adds 24 x 200 x 896 x 1e-11 s."""
    kernels = load_profile("h200-sxm")
    with_it = kernels.model_copy(update={"graph_overhead_per_layer_element": 1e-11})
    times = [
        float(rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", batch=2, prompt_len=100,
                               calibration=p).totals()["prefill"]["time"])
        for p in (kernels, with_it)
    ]  # fmt: skip
    assert times[1] - times[0] == pytest.approx(24 * 200 * 896 * 1e-11, rel=1e-9)


def _shipped_measurement(device: str) -> dict:
    return json.loads(
        resources.files("rooflens.calibration")
        .joinpath("measurements", f"compiled-grid-{device}.json")
        .read_text()
    )


@pytest.mark.parametrize(
    ("device", "measured_on", "date"),
    [
        ("h200-sxm", "NVIDIA H200", "2026-11-30"),
        ("h100-sxm", "NVIDIA H100 80GB HBM3", "2026-12-05"),
    ],
)
def test_the_shipped_compiled_profile_prices_the_engine_and_names_its_source(
    device: str, measured_on: str, date: str
) -> None:
    profile = load_engine_profile("compiled", device)
    assert profile.eager_host_per_layer == 0.0
    assert profile.provenance["overheads_fitted_on"] == f"{', '.join(FIT_MODELS)}, compiled"
    assert profile.provenance["measured_on"] == measured_on
    assert profile.provenance["date"].startswith(date)
    # The committed measurement it was fitted on is shipped beside it.
    raw = _shipped_measurement(device)
    assert raw["hardware"] == device
    fitted = [m for m in raw["models"] if m["model"] in FIT_MODELS]
    assert [len(m["runs"]) for m in fitted] == [5, 5, 5]
    # `--engine compiled` prices with exactly this profile.
    by_engine = rooflens.analyze("Qwen/Qwen3-8B", device, batch=1, prompt_len=2048,
                                 engine="compiled").totals()["decode"]["time"]  # fmt: skip
    by_profile = rooflens.analyze("Qwen/Qwen3-8B", device, batch=1, prompt_len=2048,
                                  calibration=profile).totals()["decode"]["time"]  # fmt: skip
    assert by_engine == pytest.approx(by_profile, rel=1e-12)


def test_the_h100_profile_is_its_measurement_refitted() -> None:
    """The shipped H100 overheads are what the fit gives on the committed steps, and the
    out-of-sample dense steps land where docs/validation-compiled-h100.md says."""
    grid = _shipped_measurement("h100-sxm")
    refit = fit_compiled(grid, load_profile("h100-sxm"), "h100-sxm")
    shipped = load_engine_profile("compiled", "h100-sxm")
    for field in ("graph_overhead_per_layer", "graph_overhead_per_layer_element", "kernel_time"):
        assert getattr(refit, field) == pytest.approx(getattr(shipped, field), rel=1e-9)
    frame = predictions(grid, shipped, "h100-sxm")
    held = frame[~frame["model"].isin(FIT_MODELS)]
    dense = held[held["model"] != "Qwen/Qwen3-30B-A3B"]
    assert len(dense) == 15 and dense["error"].abs().max() < 0.09
    # Llama-3.1-8B, one H100, decode 1 x 2048: 8.15 ms measured.
    step = held[(held["model"] == "meta-llama/Llama-3.1-8B") & (held["stage"] == "decode")
                & (held["batch"] == 1)].iloc[0]  # fmt: skip
    assert step["measured"] == pytest.approx(8.153e-3, rel=1e-3)
    assert step["error"] == pytest.approx(-0.034, abs=0.002)


def test_the_header_names_the_compiled_engine() -> None:
    estimate = rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", engine="compiled").options.estimate
    assert estimate.startswith("calibrated estimate (compiled (torch 2.11")
    assert "profile, h200-sxm, graphs)" in estimate
    # The transformers profile names the release it measured (it named the device alone).
    assert rooflens.analyze("Qwen/Qwen3-8B", "h200-sxm", engine="transformers").options.estimate \
        == "calibrated estimate (transformers 5.17.0 profile, h200-sxm, graphs)"  # fmt: skip
