"""Mixture of experts: routing cost by hand on a tiny Mixtral-style model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, analyze, build_graph
from rooflens.core.operators import (
    ExpertLinear,
    Precision,
    Step,
    balanced_experts_hit,
    expected_experts_hit,
)
from rooflens.core.options import Parallelism, Quantization


@pytest.fixture
def moe(tiny_model):
    """The tiny model with 8 experts of width 96, 2 per token."""
    return tiny_model.model_copy(
        update={
            "name": "tiny-moe",
            "model_type": "mixtral",
            "num_experts": 8,
            "experts_per_token": 2,
            "expert_intermediate_size": 96,
        }
    )


def test_expected_experts_hit() -> None:
    assert expected_experts_hit(8, 2, np.array(1.0)) == pytest.approx(2.0)
    assert expected_experts_hit(8, 2, np.array(2.0)) == pytest.approx(8 * (1 - 0.75**2))
    assert expected_experts_hit(8, 2, np.array(1e4)) == pytest.approx(8.0)


def test_balanced_routing_deals_routes_to_as_many_experts_as_it_can() -> None:
    """A benchmark's round-robin routing: T tokens of k routes touch min(E, T·k) experts,
    where uniform routing touches E (1 - (1 - k/E)^T): at T·k = E, 8 and 8 (1 - 0.75^4)."""
    assert balanced_experts_hit(8, 2, np.array(1.0)) == 2.0
    assert balanced_experts_hit(8, 2, np.array(4.0)) == 8.0
    assert balanced_experts_hit(8, 2, np.array(100.0)) == 8.0
    assert expected_experts_hit(8, 2, np.array(4.0)) == pytest.approx(8 * (1 - 0.75**4))
    step = Step(np.array([4.0]), np.ones(1), np.zeros(1))
    prec = Precision(Quantization())
    up = ExpertLinear("up", "block", ("x",), "y", in_features=64, out_features=96,
                      num_experts=8, top_k=2)  # fmt: skip
    balanced = ExpertLinear("up", "block", ("x",), "y", in_features=64, out_features=96,
                            num_experts=8, top_k=2, routing="balanced")  # fmt: skip
    per_expert = 64 * 96 * 2  # bf16 bytes of one expert's projection
    assert balanced.cost(step, prec).load_weight[0] == pytest.approx(8 * per_expert)
    assert up.cost(step, prec).load_weight[0] == pytest.approx(8 * (1 - 0.75**4) * per_expert)
    # Routing sets only the weights read: the work and the activations are the same.
    assert balanced.cost(step, prec).ops[0] == up.cost(step, prec).ops[0] == 4 * 2 * 2 * 64 * 96
    assert balanced.cost(step, prec).load_act[0] == up.cost(step, prec).load_act[0]


@given(st.integers(1, 256), st.integers(1, 64))
def test_more_tokens_never_hit_fewer_experts(e, t) -> None:
    k = max(1, e // 4)
    assert expected_experts_hit(e, k, np.array(t + 1.0)) >= expected_experts_hit(e, k, t * 1.0)
    assert expected_experts_hit(e, k, np.array(t * 1.0)) <= e


def test_decode_loads_the_experts_hit_and_computes_top_k(moe, toy_device) -> None:
    rows = analyze(moe, toy_device, batch=1, prompt_len=8).operators()
    up = rows[(rows.stage == "decode") & (rows.name == "expert_up_proj")].iloc[0]
    assert up.ops == 2 * 1 * 2 * 64 * 96  # one token through its 2 experts
    assert up.load_weight == pytest.approx(2 * 64 * 96 * 2)  # 2 of 8 experts read
    router = rows[(rows.stage == "decode") & (rows.name == "router")].iloc[0]
    assert router.ops == 2 * 64 * 8
    big = analyze(moe, toy_device, batch=256, prompt_len=8).operators()
    up = big[(big.stage == "decode") & (big.name == "expert_up_proj")].iloc[0]
    assert up.load_weight == pytest.approx(8 * 64 * 96 * 2)  # every expert is hit


def test_parameters_and_active_compute(moe, toy_device) -> None:
    per_layer_attn = 4096 + 2048 + 2048 + 4096 + 2 * 64
    experts = 8 * 3 * 64 * 96
    assert build_graph(moe, AnalysisOptions()).params() == (
        6400 + 2 * (per_layer_attn + 64 * 8 + experts) + 64 + 6400
    )


def test_dense_leading_layers_and_shared_experts(moe, toy_device) -> None:
    mixed = moe.model_copy(
        update={"dense_layers": 1, "shared_intermediate_size": 32, "shared_expert_gate": True}
    )
    graph = build_graph(mixed, AnalysisOptions())
    counts = {op.name: graph.count(op) for op in graph.operators}
    assert counts["gate_proj"] == 1 and counts["expert_up_proj"] == 1
    assert counts["shared_up_proj"] == 1 and counts["q_proj"] == 2
    per_layer_attn = 4096 + 2048 + 2048 + 4096 + 2 * 64
    dense = 3 * 64 * 128
    moe = 64 * 8 + 8 * 3 * 64 * 96 + 3 * 64 * 32 + 64
    assert graph.params() == 6400 + 2 * per_layer_attn + dense + moe + 64 + 6400


def test_tensor_parallel_shards_experts(moe, toy_device) -> None:
    opts = AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=1e11))
    rows = analyze(moe, toy_device, batch=1, prompt_len=8, options=opts).operators()
    up = rows[(rows.stage == "decode") & (rows.name == "expert_up_proj")].iloc[0]
    assert up.load_weight == pytest.approx(2 * 64 * 48 * 2)
    assert "expert_down_proj_all_reduce" in set(rows.name)


def test_bundled_moe_models_load() -> None:
    mixtral = rooflens.load_model("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert (mixtral.num_experts, mixtral.experts_per_token) == (8, 2)
    qwen = rooflens.load_model("Qwen/Qwen3-30B-A3B")
    assert qwen.expert_intermediate_size == 768 and qwen.qk_norm


def test_expert_parallel_splits_experts_and_exchanges_tokens(moe, toy_device) -> None:
    opts = AnalysisOptions(parallelism=Parallelism(ep=4, link_bandwidth=1e11, link_latency=1e-6))
    rows = analyze(moe, toy_device, batch=1, prompt_len=8, options=opts).operators()
    decode = rows[rows.stage == "decode"].set_index("name")
    # 2 of 8 experts on this device, serving the tokens of all 4 attention groups (one each),
    # half a route of each token's 2 on average.
    assert decode.loc["expert_up_proj", "ops"] == 2 * 4 * 0.5 * 64 * 96
    assert decode.loc["expert_up_proj", "load_weight"] == pytest.approx(
        2 * (1 - 0.75**4) * 64 * 96 * 2
    )
    dispatch = decode.loc["moe_dispatch"]
    # Each token goes to its 2 experts: 2 x 64 fp16 values, 3/4 of them off-device, 3 steps.
    assert dispatch.time == pytest.approx(2 * 64 * 2 * 3 / 4 / 1e11 + 3 * 1e-6)
    assert "moe_gather" in decode.index
    # Every device does the work one device would do for one group: the same expert OPs as
    # without expert parallelism at the group's batch.
    alone = analyze(moe, toy_device, batch=3, prompt_len=8).operators()
    spread = analyze(moe, toy_device, batch=3, prompt_len=8, options=opts).operators()
    down = [frame[frame.name == "expert_down_proj"].ops.to_numpy() for frame in (alone, spread)]
    assert down[1] == pytest.approx(down[0])
    with pytest.raises(rooflens.InvalidInputError, match="ep=3"):
        analyze(
            moe,
            toy_device,
            options=AnalysisOptions(parallelism=Parallelism(ep=3, link_bandwidth=1e11)),
        )
