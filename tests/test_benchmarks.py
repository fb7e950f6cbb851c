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


def _closed_loop(benchmark, model: str, requests: int, prompt: int, output: int, **run):
    """One closed-loop simulation of fixed-length requests, timed by pytest-benchmark."""
    from rooflens.serving import LengthDistribution, Workload
    from rooflens.serving.api import simulate

    workload = Workload(
        requests=requests,
        prompt=LengthDistribution(kind="fixed", a=prompt),
        output=LengthDistribution(kind="fixed", a=output),
    )
    return benchmark(simulate, model, "h200-sxm", workload, **run)


def test_closed_loop_over_four_replicas(benchmark) -> None:
    """16 clients over four replicas: engines run decode steps ahead of one another up to the
    next time another could send them a request."""
    from rooflens.serving import ClusterConfig

    result = _closed_loop(
        benchmark, "meta-llama/Llama-3.1-8B-Instruct", 160, 1024, 1024,
        cluster=ClusterConfig(replicas=4), concurrency=16, engine="vllm",
    )  # fmt: skip
    assert (result.requests["generated"] == 1024).all()


def test_least_outstanding_over_eight_replicas(benchmark) -> None:
    """256 clients over eight replicas routed to the fewest unfinished requests: each route
    bisects every engine's finish times."""
    from rooflens.serving import ClusterConfig

    result = _closed_loop(
        benchmark, "meta-llama/Llama-3.1-8B", 4000, 256, 32,
        cluster=ClusterConfig(replicas=8, router="least_outstanding"), concurrency=256,
        engine="vllm",
    )  # fmt: skip
    # Identical requests from a synchronized start: the router spreads them evenly.
    assert result.requests["replica"].value_counts().tolist() == [500] * 8


def test_disaggregated_closed_loop(benchmark) -> None:
    """32 clients through one prefill and two decode replicas: decode runs are priced again
    whenever a handed-over request joins, each step through the engine profile's curves."""
    from rooflens.serving import ClusterConfig

    result = _closed_loop(
        benchmark, "meta-llama/Llama-3.1-8B", 192, 4096, 256,
        cluster=ClusterConfig(disaggregated=True, prefill_replicas=1, decode_replicas=2),
        concurrency=32, engine="sglang",
    )  # fmt: skip
    assert (result.requests["generated"] == 256).all()


def test_attention_dp_ranks_holding_prompts(benchmark) -> None:
    """64 clients over four attention-DP ranks of TensorRT-LLM that balance new prompts and
    batch-wait: the ranks step in lockstep, and while prompts are held each decode step is
    taken alone, its time read from a run of such steps priced at once."""
    from rooflens.serving import ClusterConfig, SchedulerConfig

    scheduler = SchedulerConfig(
        policy="chunked", max_tokens=8192, batch_wait_iterations=10, batch_wait_ratio=0.75,
        dp_balance=True, dp_balance_timeout=20, dp_balance_wait=10,
    )  # fmt: skip
    result = _closed_loop(
        benchmark, "meta-llama/Llama-3.1-8B", 640, 1024, 256, scheduler=scheduler,
        cluster=ClusterConfig(replicas=4), concurrency=64, engine="trtllm",
    )  # fmt: skip
    assert (result.requests["generated"] == 256).all()


def test_moe_closed_loop(benchmark) -> None:
    """32 clients of gpt-oss-120b on vLLM's profile: every step reads its expert GEMMs' curves
    along their lighter loads (`efficiency._along_load`) as well as at their own."""
    result = _closed_loop(
        benchmark, "openai/gpt-oss-120b", 96, 1024, 256, concurrency=32, engine="vllm"
    )
    assert (result.requests["generated"] == 256).all()
