"""The closed-form generation estimate against a step-by-step sum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooflens.core import analyze
from rooflens.core.generation import sum_of_max_lines


def _brute(a1, b1, a2, b2, n):
    t = np.arange(n)
    return float(np.maximum(a1 + b1 * t, a2 + b2 * t).sum())


finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(finite, finite, finite, finite, st.integers(0, 300))
def test_sum_of_max_lines_matches_brute_force(a1, b1, a2, b2, n) -> None:
    got = sum_of_max_lines(np.array(a1), np.array(b1), np.array(a2), np.array(b2), np.array(n))
    assert float(got) == pytest.approx(_brute(a1, b1, a2, b2, n), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("flash", [False, True])
def test_generation_equals_sum_of_decode_steps(tiny_model, toy_device, flash) -> None:
    from rooflens.core import AnalysisOptions

    opts = AnalysisOptions(flash_attention=flash)
    # A slow device makes large-batch decode cross from memory- to compute-bound mid-way.
    device = toy_device.model_copy(update={"peak_ops": {"fp32": 1e11, "fp16": 4e11}})
    b, s, g = 16, 64, 200
    result = analyze(tiny_model, device, batch=b, prompt_len=s, gen_len=g, options=opts)
    steps = analyze(tiny_model, device, batch=b, prompt_len=np.arange(s, s + g - 1), options=opts)
    decode = steps.totals()["decode"]
    bounds = steps.steps["decode"].compute_bound
    assert bounds.any() and not bounds.all()  # the crossing is exercised
    ttft = result.totals()["prefill"]["time"]
    assert result.generation["ttft"] == pytest.approx(ttft)
    assert result.generation["decode_time"] == pytest.approx(decode["time"].sum(), rel=1e-12)
    assert result.generation["tpot"] == pytest.approx(decode["time"].mean(), rel=1e-12)
    assert result.generation["e2e_latency"] == pytest.approx(ttft + decode["time"].sum())
    assert result.generation["throughput"] == pytest.approx(b * g / (ttft + decode["time"].sum()))
    assert result.generation["ops"] == pytest.approx(
        result.totals()["prefill"]["ops"] + decode["ops"].sum(), rel=1e-12
    )


def test_single_token_generation_has_no_decode(tiny_model, toy_device) -> None:
    result = analyze(tiny_model, toy_device, batch=1, prompt_len=16, gen_len=1)
    assert result.generation["decode_time"] == 0
    assert np.isnan(result.generation["tpot"])
    assert result.to_dict()["generation"]["tpot"] is None


def test_generation_vectorizes_over_lengths(tiny_model, toy_device) -> None:
    result = analyze(tiny_model, toy_device, batch=1, prompt_len=16, gen_len=np.array([2, 10, 100]))
    assert np.all(np.diff(result.generation["e2e_latency"]) > 0)
