"""transformers' extra kernels counted from the model, their kinds fitted, eager host time
per kernel launched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rooflens
from rooflens.calibration.collectives import fit_tables, held_out_rows
from rooflens.calibration.fit_kernels import fit_kind, launched_kernels, measurement_options
from rooflens.calibration.profile import load_profile
from rooflens.core import AnalysisOptions
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile
from rooflens.core.framework_kernels import _rmsnorm
from rooflens.core.graph import build_graph
from rooflens.core.operators import Norm
from rooflens.engines import load_engine_profile
from rooflens.hardware import get_device
from rooflens.models import load_model, spec_from_config

GRID = Path(__file__).parents[1] / "src/rooflens/calibration/measurements/grid-h200-sxm.json"
FLAT = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))


def _profile(**update: object) -> EfficiencyProfile:
    ideal = ClassEfficiency(compute=FLAT, memory=FLAT)
    base = EfficiencyProfile(
        device="h200-sxm",
        classes={"matmul": ideal, "attention": ideal, "vector": ideal},
        framework="transformers",
    )
    return base.model_copy(update=update)


def test_kind_fit_recovers_fixed_time_and_bandwidth() -> None:
    # t = n x 2 µs + bytes / (0.5 x 1 TB/s), exactly.
    samples = [(n, b, n * 2e-6 + b / 0.5e12) for n, b in ((8, 1e9), (8, 4e6), (2, 1e8))]
    fixed, fraction = fit_kind(samples, 1e12)
    assert fixed == pytest.approx(2e-6, rel=1e-9)
    assert fraction == pytest.approx(0.5, rel=1e-9)


def test_kernels_of_a_small_dense_model_hand_counted() -> None:
    """Qwen2.5-0.5B, 24 layers. Per layer: RMSNorm 8 kernels twice, q/k/v/o 4 GEMMs (bias
    folded), attention 1 + rotary 10 + cache writes 2 + output copy 1, two residual adds,
    gate/up/down 3, act(gate) * up 2: 16 + 4 + 14 + 2 + 3 + 2 = 41. Head: embedding 1, final
    RMSNorm 8, lm_head 1."""
    spec = load_model("Qwen/Qwen2.5-0.5B")
    assert launched_kernels(spec, get_device("h200-sxm"), _profile()) == 24 * 41 + 10


def test_unfused_rmsnorm_bytes_are_those_torch_dispatched() -> None:
    """The measured module's bytes (counted from torch's dispatch on the H200) equal the
    analysis norm's plus its extra kernels', within the weight read (a few kB)."""
    grid = json.loads(GRID.read_text("utf-8"))
    row = next(
        f
        for f in grid["framework"]
        if f["model"] == "mistralai/Mistral-7B-v0.1" and f["kernel"] == "attn_norm module"
    )
    result = rooflens.analyze(
        "mistralai/Mistral-7B-v0.1",
        "h200-sxm",
        batch=row["batch"],
        prompt_len=row["new_tokens"],
        calibration=_profile(),
    )
    table = result.operators()
    table = table[table.stage == "prefill"].set_index("name")
    counted = (
        table.loc["attn_norm", "memory_access"] + table.loc["attn_norm (norm)", "memory_access"]
    )
    assert counted == pytest.approx(row["kernel_bytes"], abs=2 * 4096 * 2)


def test_eager_step_waits_for_the_host_per_kernel() -> None:
    """1 ms per kernel: the host's 994 ms hide the GPU's few milliseconds."""
    profile = _profile(eager_host_per_kernel=1e-3)
    options = {"calibration": profile, "execution": "eager", "flash_attention": True}
    result = rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", batch=1, prompt_len=64, **options)
    assert float(result.totals()["decode"]["time"]) == pytest.approx((24 * 41 + 10) * 1e-3)


def test_engine_and_device_profiles_add_no_framework_rows() -> None:
    vllm = load_engine_profile("vllm", "h200-sxm")
    assert vllm.framework is None and vllm.kernel_kinds == {}
    names = rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", calibration=vllm).operators().name
    assert not any("(" in n for n in names)
    shipped = load_profile("h200-sxm")
    assert shipped.framework == "transformers"
    names = rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", calibration=shipped).operators().name
    assert "attn_norm (norm)" in set(names)


def test_framework_kernels_leave_the_roofline_bound_alone() -> None:
    plain = rooflens.analyze("Qwen/Qwen3-30B-A3B", "h200-sxm", batch=4, prompt_len=512)
    assert not any("(" in n for n in plain.operators().name)
    assert np.isfinite(float(plain.totals()["decode"]["time"]))


def test_collective_tables_hold_measured_times_and_predict_held_out_sizes() -> None:
    """Times t = 10 µs x (bytes / 1 KiB)^0.5 are a straight line in log-log: an interior size
    left out is predicted exactly; the smallest, left out, takes the next one's time
    (latency-bound below the table)."""
    sizes = [1024 * 4**i for i in range(5)]
    measured = [
        {"kind": "all_reduce", "ranks": 2, "bytes": b, "time": 1e-5 * (b / 1024) ** 0.5}
        for b in sizes
    ]
    tables = fit_tables(measured, "test", fixed=0.0)
    assert tables["all_reduce"].ranks == (2,)
    rows = {r["bytes"]: r for r in held_out_rows(measured)}
    assert rows[16384]["predicted"] == pytest.approx(rows[16384]["measured"], rel=1e-12)
    assert rows[1024]["predicted"] == pytest.approx(2e-5, rel=1e-12)
    profile = _profile(collectives=tables)
    assert profile.collective_time("all_reduce", 2, np.array([4096.0]))[0] == pytest.approx(2e-5)
    assert profile.collective_time("all_reduce", 8, np.array([4096.0])) is None


def test_calibrate_refines_a_kernel_level_profile_on_this_machine() -> None:
    """The committed H200 run (micro-benchmarks, Llama-2-7B's steps): classes and fixed time
    from its suite, the bundled profile's kernel kinds, host time per kernel from its eager
    steps (least squares on relative error over those at least 1.5 x their graph time)."""
    from rooflens.calibration.fit import fit_kernels
    from rooflens.calibration.fit_kernels import refine_profile

    measurements = GRID.parent / "h200-sxm.json"
    raw = json.loads(measurements.read_text("utf-8"))
    device, source = get_device("h200-sxm"), load_profile("h200-sxm")
    spec = load_model("meta-llama/Llama-2-7b-hf")
    refined = refine_profile(raw, device, spec, source)
    assert refined.kernel_time == fit_kernels(raw["suite"], device)[0]
    assert refined.kernel_kinds == source.kernel_kinds and refined.framework == "transformers"
    launched = launched_kernels(spec, device, refined)
    runs = next(m for m in raw["models"] if m["model"] == spec.name)["runs"]
    ratios = np.array([launched / r["eager"] for r in runs if r["eager"] > 1.5 * r["graph"]])
    assert refined.eager_host_per_kernel == pytest.approx(ratios.sum() / (ratios**2).sum())
    assert 0.9e9 < refined.memory_overhead < 1.3e9


def test_rotary_timed_alone_is_an_elementwise_sample_with_its_bytes_by_hand() -> None:
    """Qwen2.5-0.5B: 14 query and 2 KV heads of 64. Rotary per token: 10 x 2 bytes x (14 + 2)
    x 64 = 20480, plus cos and sin read once for each of q and k: 2 x 2 x 2 x 64 = 512."""
    from rooflens.calibration.fit_kernels import kind_samples

    row = {
        "model": "Qwen/Qwen2.5-0.5B",
        "kernel": "rotary as the attention runs it",
        "operator": "attention",
        "batch": 1,
        "new_tokens": 512,
        "past": 0,
        "kernels": 10,
        "time": 3e-5,
    }
    spec = {"Qwen/Qwen2.5-0.5B": load_model("Qwen/Qwen2.5-0.5B")}
    samples = kind_samples([row], spec, get_device("h200-sxm"), _profile())
    assert samples == {"elementwise": [(10, 512 * (20480 + 512), 3e-5)]}


def test_models_without_rotary_positions_run_no_rotary_kernels() -> None:
    """transformers rotates q and k only where the model has rotary positions: not GPT-2's
    learned table, not BLOOM's ALiBi. What remains after attention is the cache write of k
    and v (read, write) and the output copy: GPT-2, 12 heads of 64, bf16:
    2 x 2 x 12 x (64 + 64) + 2 x 2 x 12 x 64 = 9,216 bytes per token, 3 kernels."""
    device = get_device("h200-sxm")

    def after_attention(spec) -> tuple[int, float]:
        graph = build_graph(spec, measurement_options(_profile()), device)
        (op,) = [op for op in graph.operators if op.name == "flash_attention (elementwise)"]
        return op.kernels, op.bytes_per_token

    gpt2 = load_model("openai-community/gpt2")
    assert not gpt2.rotary_positions and after_attention(gpt2) == (3, 9216.0)
    bloom = spec_from_config(
        {"model_type": "bloom", "hidden_size": 16, "n_head": 4, "n_layer": 2, "vocab_size": 64}
    )
    assert bloom.alibi and not bloom.rotary_positions and after_attention(bloom)[0] == 3
    # Qwen2.5-0.5B rotates: 10 more kernels (test_kernels_of_a_small_dense_model_hand_counted).
    qwen = load_model("Qwen/Qwen2.5-0.5B")
    assert qwen.rotary_positions and after_attention(qwen)[0] == 13


@pytest.mark.parametrize(
    ("model", "offset"),
    [
        ("meta-llama/Llama-3.1-8B", False),
        ("google/gemma-3-1b-it", True),
        # Gemma4RMSNorm scales by its weight alone (it had been priced as Gemma's by name).
        ("google/gemma-4-26B-A4B", False),
        # (1.0 + weight) outside Gemma (they had been priced as Llama's).
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", True),
        ("Qwen/Qwen3.5-9B", True),
        ("MiniMaxAI/MiniMax-M3", True),
        ("stepfun-ai/Step-3.7-Flash", True),
    ],
)
def test_rmsnorm_kernels_follow_the_models_norm_offset(model: str, offset: bool) -> None:
    """transformers' RMSNorm in bf16, per row of width w: 8 kernels moving 36w + 24 bytes, of
    which the analysis norm holds 2 x 2w and its 7 extra kernels 32w + 24; one scaling by
    (1 + weight) 10 kernels, 9 extra moving 36w + 24."""
    spec = load_model(model)
    assert spec.norm_offset is offset
    norm = next(op for op in build_graph(spec, AnalysisOptions()).operators if isinstance(op, Norm))
    w = norm.width * norm.repeats
    extra = _rmsnorm(norm, spec, 2.0)
    assert extra.kernels + 1 == (10 if offset else 8)
    assert extra.bytes_per_token == (36 if offset else 32) * w + 24 * norm.repeats
