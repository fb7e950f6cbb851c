"""Invariants of the roofline model, checked on random sizes and settings (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflens.core import AnalysisOptions, Device, ModelSpec, Quantization, analyze

MODEL = ModelSpec(
    name="prop",
    model_type="llama",
    num_layers=4,
    hidden_size=512,
    num_heads=8,
    num_kv_heads=2,
    head_dim=64,
    intermediate_size=1408,
    vocab_size=1000,
    max_positions=1 << 20,
    tied_embeddings=False,
    gated_mlp=True,
    activation="silu",
    norm="rmsnorm",
)
DEVICE = Device(
    name="prop",
    memory_capacity=80e9,
    memory_bandwidth=2e12,
    peak_ops={"fp32": 60e12, "bf16": 900e12, "int8": 1800e12, "int4": 3600e12},
    compute_units=100,
    onchip_memory_per_unit=200e3,
)

batches = st.integers(1, 512)
lengths = st.integers(1, 16384)
bits = st.sampled_from([16, 8, 4, 3, 2, 1])
flash = st.booleans()
many = settings(max_examples=60, deadline=None)


def _opts(flash_attention: bool = False, **q: int) -> AnalysisOptions:
    return AnalysisOptions(quantization=Quantization(**q), flash_attention=flash_attention)


@many
@given(batches, lengths, st.floats(1.01, 10), flash)
def test_more_bandwidth_is_never_slower(b, s, factor, fa) -> None:
    fast = DEVICE.model_copy(update={"memory_bandwidth": DEVICE.memory_bandwidth * factor})
    slow_r = analyze(MODEL, DEVICE, batch=b, prompt_len=s, gen_len=64, options=_opts(fa))
    fast_r = analyze(MODEL, fast, batch=b, prompt_len=s, gen_len=64, options=_opts(fa))
    for stage in ("prefill", "decode"):
        assert np.all(fast_r.steps[stage].time <= slow_r.steps[stage].time)
    assert fast_r.generation["e2e_latency"] <= slow_r.generation["e2e_latency"]


@many
@given(batches, lengths, bits, bits, st.sampled_from(["w_bits", "a_bits", "kv_bits"]), flash)
def test_fewer_bits_never_use_more_memory(b, s, x, y, which, fa) -> None:
    low, high = sorted((x, y))
    # Activations narrower than 16 bits are a quantized GEMM's inputs: 4-bit weights take them.
    weights = {"w_bits": 4} if which == "a_bits" else {}
    small, large = (
        analyze(MODEL, DEVICE, batch=b, prompt_len=s, gen_len=8,
                options=_opts(fa, **weights, **{which: bits_}))
        for bits_ in (low, high)
    )  # fmt: skip
    for stage in ("prefill", "decode", "generation"):
        assert small.memory[stage].total <= large.memory[stage].total
    for stage in ("prefill", "decode"):
        assert small.totals()[stage]["memory_access"] <= large.totals()[stage]["memory_access"]


@many
@given(batches, lengths, st.integers(1, 8192), flash)
def test_decode_time_grows_with_context(b, s, extra, fa) -> None:
    result = analyze(MODEL, DEVICE, batch=b, prompt_len=np.array([s, s + extra]), options=_opts(fa))
    shorter, longer = result.totals()["decode"]["time"]
    assert longer > shorter


@many
@given(batches, lengths, st.integers(1, 8192), flash)
def test_prefill_ops_grow_with_prompt_length(b, s, extra, fa) -> None:
    result = analyze(MODEL, DEVICE, batch=b, prompt_len=np.array([s, s + extra]), options=_opts(fa))
    shorter, longer = result.totals()["prefill"]["ops"]
    assert longer > shorter


@many
@given(batches, lengths)
def test_roofline_time_is_the_larger_of_the_two_bounds(b, s) -> None:
    step = analyze(MODEL, DEVICE, batch=b, prompt_len=s).steps["prefill"]
    assert np.all(step.time >= step.memory_access / DEVICE.memory_bandwidth)
    assert np.all(step.performance <= step.peaks + 1e-3)


@many
@given(st.lists(batches, min_size=1, max_size=5), st.lists(lengths, min_size=1, max_size=5))
def test_sweep_equals_point_by_point(bs, ss) -> None:
    grid_b, grid_s = np.meshgrid(bs, ss, indexing="ij")
    swept = analyze(MODEL, DEVICE, batch=grid_b, prompt_len=grid_s, gen_len=16)
    for i, b in enumerate(bs):
        for j, s in enumerate(ss):
            point = analyze(MODEL, DEVICE, batch=b, prompt_len=s, gen_len=16)
            assert np.isclose(
                swept.generation["e2e_latency"][i, j], point.generation["e2e_latency"], rtol=1e-12
            )
