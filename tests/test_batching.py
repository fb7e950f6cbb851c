"""Mixed batches: sequences at different contexts in one step, as continuous batching runs them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.batching import MixedBatch, StepTable
from rooflens.core.operators import Step
from rooflens.core.options import Parallelism
from rooflens.core.pricing import price_step

CASES = {
    "llama-calibrated": ("meta-llama/Llama-2-7b-hf", "h100", {"calibration": "auto"}),
    "flash-w4": ("meta-llama/Llama-2-7b-hf", "h100", {"flash_attention": True, "w_bits": 4}),
    "gqa-tp2": ("meta-llama/Llama-3.1-8B", "h100", {"tp": 2}),
    "moe": ("mistralai/Mixtral-8x7B-Instruct-v0.1", "a100-sxm4-80gb", {"ep": 1}),
    "mla": ("deepseek-ai/DeepSeek-V3", "h200", {}),
    "window": ("google/gemma-2-2b", "l4", {"kv_budget": 300}),
}


def _mixed(name: str) -> tuple[MixedBatch, object]:
    model_id, hw, opts = CASES[name]
    model = rooflens.resolve_model(model_id)
    device = rooflens.resolve_device(hw)
    profile = rooflens.api.resolve_calibration(opts.pop("calibration", None), device)
    options = rooflens.make_options(calibration=profile, **opts)
    graph = build_graph(model, options, device)
    return MixedBatch(graph, device, options.quantization, profile), (graph, device, options)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(("batch", "new", "past"), [(4, 1, 100), (2, 300, 0), (3, 64, 500)])
def test_equal_sequences_price_as_the_uniform_step(name, batch, new, past) -> None:
    mixed, (graph, device, options) = _mixed(name)
    uniform = price_step(
        graph,
        device,
        options.quantization,
        Step(batch=np.array(float(batch)), new_tokens=np.array(float(new)), past=np.array(past)),
        options.calibration,
    )
    # Two empty slots (no new tokens) ride along and must cost nothing.
    slots = np.arange(batch + 2) < batch
    got = mixed.price(np.where(slots, new, 0), np.full(batch + 2, past))
    for field in ("ops", "load_weight", "load_act", "store_act", "load_kv", "store_kv"):
        assert uniform.total(uniform.fields[field]) == pytest.approx(
            got.total(got.fields[field]), rel=1e-12
        )
    assert float(got.step_time()) == pytest.approx(float(uniform.step_time()), rel=1e-12)


def test_weights_are_read_once_and_attention_per_sequence(tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    graph = build_graph(tiny_model, options)
    mixed = MixedBatch(graph, toy_device, options.quantization)
    costs = mixed.price(np.array([1, 1, 10]), np.array([5, 20, 0]))
    names = list(costs.names)
    # Hand count: q_proj reads its 64x64 fp16 weights once for the step's 12 tokens.
    q = names.index("q_proj")
    assert costs.fields["load_weight"][q] == 64 * 64 * 2
    assert costs.fields["ops"][q] == 2 * 12 * 64 * 64
    # K and V of 2 heads x 16 dims in fp16 per key: decode sequences see 6 and 21 keys, the
    # 10-token prompt reads the 10 keys it wrote once (unfused attention).
    sv = names.index("sv_matmul")
    assert costs.fields["load_kv"][sv] == (6 + 21 + 10) * 2 * 16 * 2
    # lm_head: one row per sequence (the prompt samples its first token).
    head = names.index("lm_head")
    assert costs.fields["ops"][head] == 2 * 3 * 64 * 100


def test_a_prompt_chunk_that_does_not_finish_samples_nothing(tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    mixed = MixedBatch(build_graph(tiny_model, options), toy_device, options.quantization)
    costs = mixed.price(np.array([1, 32]), np.array([5, 0]), sampled=np.array([True, False]))
    head = list(costs.names).index("lm_head")
    assert costs.fields["ops"][head] == 2 * 1 * 64 * 100


def test_many_steps_at_once_match_one_at_a_time(tiny_model, toy_device) -> None:
    options = AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=1e11))
    mixed = MixedBatch(build_graph(tiny_model, options), toy_device, options.quantization)
    new = np.array([[1, 1, 0], [1, 7, 1], [3, 1, 1]])
    past = np.array([[9, 40, 0], [10, 0, 2], [0, 41, 3]])
    together = mixed.step_time(new, past)
    alone = [float(mixed.step_time(n, p)) for n, p in zip(new, past, strict=True)]
    np.testing.assert_allclose(together, alone, rtol=1e-12)


@pytest.fixture(scope="module")
def table() -> StepTable:
    mixed, _ = _mixed("llama-calibrated")
    return StepTable(mixed, max_tokens=600, max_context=900, max_rows=40)


@settings(max_examples=40, deadline=None)
@given(
    decode=st.lists(st.integers(0, 1000), max_size=30),
    chunks=st.lists(st.tuples(st.integers(1, 300), st.integers(0, 500), st.booleans()), max_size=3),
)
def test_tabulated_steps_equal_direct_pricing(table, decode, chunks) -> None:
    """Within the tables and beyond them (contexts up to 1000 > 900, tokens up to 930 > 600)."""
    if not decode and not chunks:
        decode = [3]
    n_chunk = np.array([c[0] for c in chunks], dtype=float)
    p_chunk = np.array([c[1] for c in chunks], dtype=float)
    s_chunk = np.array([c[2] for c in chunks], dtype=bool)
    direct = table.batch.step_time(
        np.r_[np.ones(len(decode)), n_chunk],
        np.r_[np.array(decode, dtype=float), p_chunk],
        np.r_[np.ones(len(decode), bool), s_chunk],
    )
    fast = table.step_time(np.array(decode, dtype=np.int64), n_chunk, p_chunk, s_chunk)
    assert fast == pytest.approx(float(direct), rel=1e-12)
