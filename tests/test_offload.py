"""Offloading weights and KV cache to host memory (FlexGen / ZeRO-Inference style)."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, analyze


@pytest.fixture
def linked(toy_device):
    return toy_device.model_copy(update={"host_bandwidth": 10e9})


def _row(result, stage: str, name: str):
    rows = result.operators()
    return rows[(rows.stage == stage) & (rows.name == name)].iloc[0]


def test_weights_stream_over_the_host_link(tiny_model, linked) -> None:
    result = analyze(
        tiny_model, linked, batch=1, prompt_len=8, options=AnalysisOptions(offload_weights=True)
    )
    q = _row(result, "decode", "q_proj")
    assert q.time == pytest.approx(64 * 64 * 2 / 10e9)  # 8 KB of weights at 10 GB/s
    assert q.bound == "host link"
    memory = result.memory["decode"]
    assert memory.host == 86848 * 2  # every weight lives in host memory
    deep = tiny_model.model_copy(update={"num_layers": 8})
    memory = analyze(
        deep, linked, options=AnalysisOptions(offload_weights=True), prompt_len=8
    ).memory["decode"]
    assert memory.weights < memory.host / 3  # the device holds a double buffer of layers


def test_offloaded_weights_hold_two_of_the_largest_unit_streamed() -> None:
    """Llama-3.1-8B held 2 x (embedding + head), 4.2 GB: the embedding's rows are gathered
    from the host and never on the device; the largest unit streamed is the 128,256 x 4,096
    output head (1.05 GB, above a 436 MB layer), double-buffered."""
    result = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", offload_weights=True)
    assert result.memory["decode"].weights == 2 * 128256 * 4096 * 2
    # GPT-2's tied head reads the embedding's 50,257 x 768 matrix: that is what it streams.
    tied = rooflens.analyze("openai-community/gpt2", "h100-sxm", offload_weights=True)
    assert tied.memory["decode"].weights == 2 * 50257 * 768 * 2


def test_kv_cache_offload(tiny_model, linked) -> None:
    plain = analyze(tiny_model, linked, batch=4, prompt_len=1000)
    off = analyze(
        tiny_model, linked, batch=4, prompt_len=1000, options=AnalysisOptions(offload_kv=True)
    )
    qk = _row(off, "decode", "qk_matmul")
    assert qk.time >= qk.load_kv / 10e9
    assert off.memory["decode"].kv_cache == plain.memory["decode"].kv_cache * 2 / 2  # 2 layers
    assert off.memory["decode"].host == plain.memory["decode"].kv_cache


def test_generation_exact_with_offload(tiny_model, linked) -> None:
    opts = AnalysisOptions(offload_weights=True, offload_kv=True)
    whole = analyze(tiny_model, linked, batch=8, prompt_len=64, gen_len=100, options=opts)
    steps = analyze(tiny_model, linked, batch=8, prompt_len=np.arange(64, 163), options=opts)
    assert whole.generation["decode_time"] == pytest.approx(
        steps.totals()["decode"]["time"].sum(), rel=1e-9
    )


def test_offload_needs_a_host_link(tiny_model, toy_device) -> None:
    with pytest.raises(rooflens.InvalidInputError, match="host link"):
        analyze(tiny_model, toy_device, options=AnalysisOptions(offload_weights=True))


def test_finding_d_gpu_with_offloaded_weights_vs_cpu() -> None:
    """Fig. 18: with weights in CPU memory, computing on the GPU (weights streamed over PCIe)
    beats computing on the CPU at large batch, and the gap widens with the batch."""

    def ratio(batch: int) -> float:
        gpu = rooflens.analyze(
            "meta-llama/Llama-2-7b-hf", "a6000", batch=batch, prompt_len=256, offload_weights=True
        )
        cpu = rooflens.analyze(
            "meta-llama/Llama-2-7b-hf", "amd-epyc-9654", batch=batch, prompt_len=256
        )
        return float(cpu.totals()["decode"]["time"] / gpu.totals()["decode"]["time"])

    ratios = [ratio(b) for b in (64, 256, 512, 1024, 2048)]
    assert all(np.diff(ratios) > 0) and ratios[-1] > 1 and ratios[2] > 1


def test_disk_offload_streams_at_the_slower_link(tiny_model, linked) -> None:
    opts = AnalysisOptions(offload_weights=True, offload_disk_bandwidth=2e9)
    q = _row(analyze(tiny_model, linked, batch=1, prompt_len=8, options=opts), "decode", "q_proj")
    assert q.time == pytest.approx(64 * 64 * 2 / 2e9)
    with pytest.raises(rooflens.InvalidInputError, match="offload_disk_bandwidth"):
        rooflens.make_options(offload_weights=True, offload_disk_bandwidth=-1)
