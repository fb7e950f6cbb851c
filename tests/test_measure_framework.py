"""Framework kernels as the model runs them: kernels and bytes counted from torch's dispatch,
checked by hand on a tiny model's own modules."""

from __future__ import annotations

import pytest
import torch

from rooflens.measure.framework import count_kernels, framework_calls, time_framework_kernels
from rooflens.measure.model_runs import ModelRunner

LLAMA = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
}
QWEN3_MOE = LLAMA | {
    "model_type": "qwen3_moe",
    "head_dim": 16,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
}
BATCH, NEW = 2, 3
ROWS = BATCH * NEW


@pytest.fixture(scope="module")
def llama() -> ModelRunner:
    torch.manual_seed(0)
    return ModelRunner(LLAMA, "cpu", torch.bfloat16)


def test_unfused_rmsnorm_is_eight_kernels_moving_the_bytes_counted_by_hand(llama) -> None:
    calls = framework_calls(llama.model, BATCH, NEW)
    operator, make = calls["attn_norm module"]
    counted = count_kernels(make())
    n, w = ROWS * 64, 64
    # to fp32 (2N in, 4N out), pow (4N, 4N), mean (4N, 4 per row), + eps (4R, 4R), rsqrt
    # (4R, 4R), * (4N + 4R, 4N), to bf16 (4N, 2N), * weight (2N + 2W, 2N).
    assert operator == "attn_norm" and counted["kernels"] == 8
    assert counted["kernel_bytes"] == 36 * n + 24 * ROWS + 2 * w


def test_gated_activation_is_two_kernels(llama) -> None:
    operator, make = framework_calls(llama.model, BATCH, NEW)["gated activation as the MLP runs it"]
    counted = count_kernels(make())
    n = ROWS * 96
    assert operator == "mlp_act" and counted["aten"] == ["silu.default", "mul.Tensor"]
    assert counted["kernel_bytes"] == 4 * n + 6 * n  # silu: 2N in, 2N out; mul: 4N in, 2N out


def test_views_and_allocations_are_no_kernels() -> None:
    x = torch.randn(4, 8, dtype=torch.bfloat16)
    assert count_kernels(lambda: x.view(32).to(torch.bfloat16))["kernels"] == 0
    assert count_kernels(lambda: torch.empty_like(x))["kernels"] == 0
    zeros = count_kernels(lambda: torch.zeros_like(x))
    assert (zeros["kernels"], zeros["kernel_bytes"]) == (1, 64)  # writes only


def test_moe_layer_taken_apart_with_the_permutation_counted_by_hand() -> None:
    torch.manual_seed(0)
    runner = ModelRunner(QWEN3_MOE, "cpu", torch.bfloat16)
    rows = {r["kernel"]: r for r in time_framework_kernels(runner.model, BATCH, NEW, "cpu")}
    assert {"q_norm module", "k_norm module", "moe router and top-k"} <= set(rows)
    assert not [r for r in rows.values() if "error" in r]
    assert all(r["time"] > 0 for r in rows.values())
    t, h, k = ROWS, 64, 2
    # index_select (2TH + 8Tk in, 2TkH out), zeros_like (2TH out), * gate (2TkH + 2Tk in, 2TkH
    # out), index_add_ (2TH + 8Tk + 2TkH in, 2TH out).
    permutation = rows["moe permutation (gather, scatter-add)"]
    assert permutation["kernels"] == 4
    assert permutation["kernel_bytes"] == 8 * t * h + 8 * t * k * h + 18 * t * k
    router = rows["moe router and top-k"]
    assert router["aten"][:3] == ["linear.default", "softmax.int", "topk.default"]
    whole = rows["moe block whole"]
    parts = (
        rows["moe router and top-k"]["kernels"]
        + rows["moe experts as the model calls them"]["kernels"]
    )
    assert whole["kernels"] == parts  # the block is its router then its experts


def test_priced_operator_bytes_ride_along(llama) -> None:
    rows = time_framework_kernels(
        llama.model, BATCH, NEW, "cpu", priced=lambda name: {"ops": 1.0, "bytes": 2.0}
    )
    assert all(r["roofline_bytes"] == 2.0 for r in rows)


def test_rotary_cache_write_and_output_copy_counted_by_hand(llama) -> None:
    """Rotary on q (4 heads) and k (2 heads) of width 16: neg and cat of rotate_half, q * cos,
    rotated * sin, the add: 5 kernels per tensor moving 20 bytes per bf16 element plus cos
    and sin read once each (2 bytes x 16 per token each). The cache write: index_copy_ of k and
    v; the output copy reads and writes the output once."""
    calls = framework_calls(llama.model, BATCH, NEW)
    rotary = count_kernels(calls["rotary as the attention runs it"][1]())
    q, k = ROWS * 4 * 16, ROWS * 2 * 16
    assert rotary["kernels"] == 10
    assert rotary["kernel_bytes"] == 20 * (q + k) + 2 * (2 * 2 * ROWS * 16)
    write = count_kernels(calls["cache write (index_copy_)"][1]())
    assert write["aten"] == ["index_copy_.default", "index_copy_.default"]
    copy = count_kernels(calls["attention output to contiguous"][1]())
    assert copy["kernels"] == 1 and copy["kernel_bytes"] == 2 * 2 * q


def test_few_layer_sweep_on_cpu() -> None:
    from rooflens.measure.framework_sweep import few_layers, sweep_model

    config = few_layers(LLAMA | {"num_hidden_layers": 3, "layer_types": ["full_attention"] * 3}, 2)
    assert config["num_hidden_layers"] == 2 and config["layer_types"] == ["full_attention"] * 2
    deepseek = few_layers({"num_hidden_layers": 27, "first_k_dense_replace": 3}, 2)
    assert deepseek["num_hidden_layers"] == 4  # its first MoE layer kept
    entry, framework = sweep_model("tiny", config, "cpu", points=((2, 1, 4), (1, 4, 0)), repeats=2)
    assert [r["stage"] for r in entry["runs"]] == ["decode", "prefill"]
    assert all(len(r["eager_repeats"]) == 2 for r in entry["runs"])
    kinds = {row["kernel"] for row in framework}
    assert {"attn_norm module", "rotary as the attention runs it"} <= kinds
    assert all("time" in row for row in framework)
