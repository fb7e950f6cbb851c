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


def test_closed_loop_over_four_replicas(benchmark) -> None:
    """16 clients over four replicas: engines run decode steps ahead of one another up to the
    next time another could send them a request."""
    from rooflens.serving import ClusterConfig, LengthDistribution, Workload
    from rooflens.serving.api import simulate

    workload = Workload(
        requests=160,
        prompt=LengthDistribution(kind="fixed", a=1024),
        output=LengthDistribution(kind="fixed", a=1024),
    )
    result = benchmark(
        simulate,
        "meta-llama/Llama-3.1-8B-Instruct",
        "h200-sxm",
        workload,
        cluster=ClusterConfig(replicas=4),
        concurrency=16,
        engine="vllm",
    )
    assert (result.requests["generated"] == 1024).all()


def test_least_outstanding_over_eight_replicas(benchmark) -> None:
    """256 clients over eight replicas routed to the fewest unfinished requests: each route
    bisects every engine's finish times."""
    from rooflens.serving import ClusterConfig, LengthDistribution, Workload
    from rooflens.serving.api import simulate

    workload = Workload(
        requests=4000,
        prompt=LengthDistribution(kind="fixed", a=256),
        output=LengthDistribution(kind="fixed", a=32),
    )
    result = benchmark(
        simulate,
        "meta-llama/Llama-3.1-8B",
        "h200-sxm",
        workload,
        cluster=ClusterConfig(replicas=8, router="least_outstanding"),
        concurrency=256,
        engine="vllm",
    )
    # Identical requests from a synchronized start: the router spreads them evenly.
    assert result.requests["replica"].value_counts().tolist() == [500] * 8


def test_disaggregated_closed_loop(benchmark) -> None:
    """32 clients through one prefill and two decode replicas: decode runs are priced again
    whenever a handed-over request joins, each step through the engine profile's curves."""
    from rooflens.serving import ClusterConfig, LengthDistribution, Workload
    from rooflens.serving.api import simulate

    workload = Workload(
        requests=192,
        prompt=LengthDistribution(kind="fixed", a=4096),
        output=LengthDistribution(kind="fixed", a=256),
    )
    result = benchmark(
        simulate,
        "meta-llama/Llama-3.1-8B",
        "h200-sxm",
        workload,
        cluster=ClusterConfig(disaggregated=True, prefill_replicas=1, decode_replicas=2),
        concurrency=32,
        engine="sglang",
    )
    assert (result.requests["generated"] == 256).all()
