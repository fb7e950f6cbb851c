"""Operator fusion and early exit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, analyze
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile


def _rows(model, device, **opts):
    frame = analyze(
        model, device, batch=2, prompt_len=8, options=AnalysisOptions(**opts)
    ).operators()
    return {(r["stage"], r["name"]): r for r in frame.to_dict(orient="records")}


def test_each_fusion_keeps_its_intermediates_on_chip(tiny_model, toy_device) -> None:
    plain = _rows(tiny_model, toy_device)
    fused = _rows(tiny_model, toy_device, fusion=("qkv", "gate_up", "act", "add_norm"))
    p = "prefill"
    assert fused[(p, "k_proj")]["load_act"] == fused[(p, "v_proj")]["load_act"] == 0
    assert fused[(p, "q_proj")]["load_act"] == plain[(p, "q_proj")]["load_act"]
    assert fused[(p, "up_proj")]["load_act"] == 0 and fused[(p, "gate_proj")]["load_act"] > 0
    assert fused[(p, "gate_proj")]["store_act"] == fused[(p, "up_proj")]["store_act"] == 0
    assert fused[(p, "mlp_act")]["load_act"] == 0
    assert fused[(p, "mlp_act")]["store_act"] == plain[(p, "mlp_act")]["store_act"]
    assert fused[(p, "mlp_norm")]["load_act"] == 0 and fused[(p, "attn_add")]["load_act"] > 0


def test_moe_blocks_fuse_as_the_engines_run_them() -> None:
    """Shared experts are the engines' dense MLP (gate/up one GEMM, the activation in it); the
    routed experts' activation runs inside the grouped expert kernels (moe), whose measured
    time the MoE curves hold: it moves no bytes and launches nothing of its own, while the
    expert GEMMs keep the traffic they were fitted with."""
    from rooflens.hardware.catalog import get_device
    from rooflens.models.catalog import load_model

    model, device = load_model("deepseek-ai/DeepSeek-V3"), get_device("h200-sxm")
    plain = _rows(model, device)
    fused = _rows(model, device, fusion=("gate_up", "act", "moe"))
    p = "prefill"
    assert fused[(p, "shared_up_proj")]["load_act"] == 0
    assert fused[(p, "shared_gate_proj")]["store_act"] == 0
    assert fused[(p, "shared_mlp_act")]["load_act"] == 0
    assert plain[(p, "expert_act")]["memory_access"] > 0
    assert fused[(p, "expert_act")]["memory_access"] == 0
    for name in ("expert_gate_proj", "expert_up_proj", "expert_down_proj"):
        assert fused[(p, name)]["memory_access"] == plain[(p, name)]["memory_access"]
    # Without moe, the routed experts' activation is a kernel of its own.
    act_only = _rows(model, device, fusion=("act",))
    assert act_only[(p, "expert_act")]["memory_access"] == plain[(p, "expert_act")]["memory_access"]


def test_fused_kernels_pay_no_launch_of_their_own(tiny_model, toy_device) -> None:
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    profile = EfficiencyProfile(
        device="toy",
        kernel_time=1e-5,
        classes={
            c: ClassEfficiency(compute=flat, memory=flat) for c in ("matmul", "attention", "vector")
        },
    )
    plain = analyze(tiny_model, toy_device, options=AnalysisOptions(calibration=profile))
    fused = analyze(
        tiny_model, toy_device, options=AnalysisOptions(calibration=profile, fusion=("qkv",))
    )
    saved = plain.totals()["decode"]["time"] - fused.totals()["decode"]["time"]
    # Two fused kernels per layer, two layers; each no longer reads 64 fp16 inputs.
    assert saved == pytest.approx(2 * 2 * 1e-5 + 2 * 2 * (64 * 2) / 1e12, rel=1e-6)


def test_a_fused_gemm_takes_the_efficiency_of_its_joint_kernel(tiny_model, toy_device) -> None:
    """k and v fused into q's GEMM (and up into gate's) run as one kernel: each part's bytes
    move at the memory fraction the curve gives the joint kernel's bytes, not its own."""
    # Fraction 0.1 at 10 kB rising to 1 at 100 kB (linear in log10 of the bytes).
    rising = EfficiencyCurve(log10_sizes=(4.0, 5.0), fractions=(0.1, 1.0))
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    profile = EfficiencyProfile(
        device="toy",
        classes={
            "matmul": ClassEfficiency(compute=flat, memory=rising),
            "attention": ClassEfficiency(compute=flat, memory=flat),
            "vector": ClassEfficiency(compute=flat, memory=flat),
        },
    )
    rows = _rows(tiny_model, toy_device, calibration=profile, fusion=("qkv", "gate_up"))
    d = "decode"
    q, k, v = (rows[(d, name)]["memory_access"] for name in ("q_proj", "k_proj", "v_proj"))
    # Hand count, 2 sequences, fp16: q reads its 64 x 64 weights and 2 x 64 inputs and writes
    # 2 x 64 outputs; k and v read 64 x 32 weights (their input is q's) and write 2 x 32.
    assert q == 2 * (64 * 64 + 2 * 64 + 2 * 64)
    assert k == v == 2 * (64 * 32 + 2 * 32)
    joint = q + k + v  # 25,344 bytes: fraction 0.1 + 0.9 x log10(2.5344)
    fraction = 0.1 + 0.9 * np.log10(joint / 1e4)
    for name, moved in (("q_proj", q), ("k_proj", k), ("v_proj", v)):
        assert rows[(d, name)]["time"] == pytest.approx(moved / (1e12 * fraction), rel=1e-9)
    gate, up = rows[(d, "gate_proj")]["memory_access"], rows[(d, "up_proj")]["memory_access"]
    fraction = 0.1 + 0.9 * np.log10((gate + up) / 1e4)
    assert rows[(d, "up_proj")]["time"] == pytest.approx(up / (1e12 * fraction), rel=1e-9)
    # Unfused, k_proj's 4,352 bytes sit below the curve's range: fraction 0.1.
    alone = _rows(tiny_model, toy_device, calibration=profile)
    assert alone[(d, "k_proj")]["time"] == pytest.approx(
        alone[(d, "k_proj")]["memory_access"] / 1e11, rel=1e-9
    )


def test_flash_decoding_adds_the_split_reduction(tiny_model, toy_device) -> None:
    base = _rows(tiny_model, toy_device, flash_attention=True)
    split = _rows(tiny_model, toy_device, flash_attention=True, fusion=("flash_decoding",))
    extra = (
        split[("decode", "flash_attention")]["load_act"]
        - base[("decode", "flash_attention")]["load_act"]
    )
    assert extra == 2 * 4 * 1 * (16 + 1) * 4  # one split of 9 keys, fp32 partials
    assert (
        split[("prefill", "flash_attention")]["load_act"]
        == base[("prefill", "flash_attention")]["load_act"]
    )


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 4000),
    st.sets(st.sampled_from(["qkv", "gate_up", "act", "add_norm"]), min_size=1),
)
def test_fusion_never_moves_more_bytes(b, s, kinds) -> None:
    model = rooflens.load_model("meta-llama/Llama-2-7b-hf")
    device = rooflens.get_device("h100-sxm")
    plain = analyze(
        model, device, batch=b, prompt_len=s, options=AnalysisOptions(allow_long_context=True)
    )
    fused = analyze(
        model,
        device,
        batch=b,
        prompt_len=s,
        options=AnalysisOptions(allow_long_context=True, fusion=tuple(kinds)),
    )
    for stage in ("prefill", "decode"):
        assert fused.totals()[stage]["memory_access"] <= plain.totals()[stage]["memory_access"]
        assert fused.totals()[stage]["time"] <= plain.totals()[stage]["time"] * (1 + 1e-12)
    assert fused.memory["prefill"].activations <= plain.memory["prefill"].activations


def test_early_exit_by_hand(tiny_model, toy_device) -> None:
    plain = analyze(tiny_model, toy_device, batch=2, prompt_len=8)
    half = analyze(
        tiny_model,
        toy_device,
        batch=2,
        prompt_len=8,
        options=AnalysisOptions(early_exit_depth=0.5, exit_classifier_width=4),
    )
    step = half.steps["decode"]
    counts = dict(zip(step.names, step.counts, strict=True))
    assert counts["q_proj"] == 1 and counts["k_proj"] == 2  # skipped layers still fill KV
    assert counts["exit_classifier"] == 1
    prefill = dict(zip(half.steps["prefill"].names, half.steps["prefill"].counts, strict=True))
    assert prefill["exit_classifier"] == 0 and prefill["q_proj"] == 2
    assert half.totals()["prefill"]["time"] == plain.totals()["prefill"]["time"]
    assert half.totals()["decode"]["time"] < plain.totals()["decode"]["time"]


def test_early_exit_generation_is_exact(tiny_model, toy_device) -> None:
    opts = AnalysisOptions(early_exit_depth=0.6)
    whole = analyze(tiny_model, toy_device, batch=4, prompt_len=32, gen_len=40, options=opts)
    steps = analyze(tiny_model, toy_device, batch=4, prompt_len=np.arange(32, 71), options=opts)
    assert whole.generation["decode_time"] == pytest.approx(
        steps.totals()["decode"]["time"].sum(), rel=1e-12
    )


def test_bad_fusion_and_exit() -> None:
    for kwargs, field in (
        ({"fusion": "qkv,warp"}, "fusion"),
        ({"early_exit_depth": 0}, "early_exit_depth"),
        ({"exit_classifier_width": 0}, "exit_classifier_width"),
    ):
        with pytest.raises(rooflens.InvalidInputError) as info:
            rooflens.make_options(**kwargs)
        assert info.value.field == field
    assert rooflens.make_options(fusion="all").fusion[-1] == "flash_decoding"
