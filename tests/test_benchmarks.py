"""Speed is recorded with pytest-benchmark, never asserted against a wall-clock threshold."""

from __future__ import annotations

import numpy as np
import pytest

from rooflens.core import analyze
from rooflens.hardware import get_device
from rooflens.models import load_model


@pytest.fixture(scope="module")
def llama():
    return load_model("meta-llama/Llama-2-7b-hf"), get_device("a6000")


def test_one_analysis(benchmark, llama) -> None:
    model, device = llama
    result = benchmark(analyze, model, device, batch=1, prompt_len=2048)
    assert result.is_point


def test_sweep_of_10000_points(benchmark, llama) -> None:
    model, device = llama
    batch, prompt = np.meshgrid(np.arange(1, 101), np.arange(1, 101) * 40, indexing="ij")
    result = benchmark(analyze, model, device, batch=batch, prompt_len=prompt, gen_len=1)
    assert result.summary().shape[0] == 10_000


def test_generation_1024_plus_1024(benchmark, llama) -> None:
    model, device = llama
    result = benchmark(analyze, model, device, batch=1, prompt_len=1024, gen_len=1024)
    assert result.generation["e2e_latency"] > result.generation["ttft"]
