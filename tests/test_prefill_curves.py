"""A step that prefills prices attention by the prefill rows' own curves (`attention_prefill`),
a decode step by the class's (its memory curve fitted on decode rows); a cache type timed
only with kernels the engine does not run takes the engine kernels' bf16 rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rooflens import api
from rooflens.calibration.aiconfigurator import (
    ATTENTION_KERNELS,
    _attention_samples,
    fit_engine,
    foreign_kv_types,
)
from rooflens.core.efficiency import EngineProfile
from rooflens.core.operators import FlashAttention, Precision, Step
from rooflens.core.options import Quantization
from rooflens.core.pricing import memory_access
from rooflens.engines import load_engine_profile
from rooflens.hardware.catalog import get_device

H100 = get_device("h100-sxm")
FIXED = 3e-6  # seconds: each synthetic kernel's launch cost
PREFILL, DECODE = 0.25, 0.5  # the fractions of the memory bound each phase's kernels reach
HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


def _rows(decode: bool, fraction: float) -> list[dict]:
    """Rows of a memory-bound law: FIXED + bytes / (fraction x bandwidth)."""
    op = FlashAttention(
        "attention", "block", ("q",), "o", num_heads=HEADS, num_kv_heads=KV_HEADS,
        head_dim=HEAD_DIM,
    )  # fmt: skip
    rows = []
    for batch in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0):
        for length in (256.0, 1024.0, 2048.0, 4096.0, 8192.0):
            new, past = (1.0, length) if decode else (length, 0.0)
            cost = op.cost(
                Step(np.array([batch]), np.array([new]), np.array([past])),
                Precision(Quantization()),
            )
            moved = float(memory_access(cost.__dict__)[0])
            rows.append({
                "num_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
                "batch_size": batch, "isl": 0 if decode else length,
                "step": length if decode else 0, "kv_cache_dtype": "bfloat16",
                "attn_dtype": "bfloat16", "window_size": 0,
                "latency": (FIXED + moved / (fraction * H100.memory_bandwidth)) * 1e3,
            })  # fmt: skip
    return rows


@pytest.fixture
def profile(tmp_path) -> EngineProfile:
    """A vLLM profile fitted on toy attention tables: prefill kernels at a quarter of the
    memory bound, decode kernels at half (and a GEMM table, which every fit needs)."""
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    m = np.array([1, 4, 16, 64, 256, 1024, 4096], dtype=float)
    pd.DataFrame(
        {"gemm_dtype": "bfloat16", "m": m, "n": 4096, "k": 4096, "latency": 0.01 + m * 1e-4}
    ).to_csv(gemm / "gemm_perf.csv", index=False)
    attention = tmp_path / "toy" / "attention" / "vllm" / "1.0"
    attention.mkdir(parents=True)
    pd.DataFrame(_rows(False, PREFILL)).to_csv(attention / "context_attention_perf.csv")
    pd.DataFrame(_rows(True, DECODE)).to_csv(attention / "generation_attention_perf.csv")
    return fit_engine(tmp_path, "toy", "vllm", H100).profile


def test_each_phase_keeps_the_memory_curve_of_its_own_rows(profile) -> None:
    prefill = profile.classes["attention_prefill"].memory(np.array([1e9, 3e9]))
    decode = profile.classes["attention"].memory(np.array([1e8, 1e9]))
    assert prefill == pytest.approx(PREFILL, rel=0.02)
    assert decode == pytest.approx(DECODE, rel=0.02)


def test_a_prefill_step_reads_the_prefill_curves_and_a_decode_step_the_class(profile) -> None:
    """Llama-3.1-8B (32 heads, 8 KV heads of 128): its prefill attention takes a quarter of
    its bound beyond the fixed time, its decode attention half."""
    analysis = api.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", calibration=profile, flash_attention=True,
        batch=4, prompt_len=4096, gen_len=8,
    )  # fmt: skip
    phases = (("prefill", PREFILL, "attention_prefill"), ("decode", DECODE, "attention"))
    for stage, fraction, name in phases:
        step = analysis.steps[stage]
        row = list(step.names).index("flash_attention")
        bound = memory_access(step.fields)[row] / H100.memory_bandwidth
        assert step.time[row] == pytest.approx(
            profile.fixed_time(name) + bound / fraction, rel=0.03
        )
        assert step.priced_by[row] == name


def test_a_profile_without_prefill_curves_prices_prefill_as_the_class() -> None:
    """Profiles fitted before the prefill curves (and device profiles) have none: a prefill
    step's attention takes the class's curves of its type, as it did."""
    shipped = load_engine_profile("vllm", "h100-sxm")
    data = shipped.model_dump()
    data["classes"] = {k: v for k, v in data["classes"].items() if not k.endswith("_prefill")}
    data["dtype_classes"] = {k: v for k, v in data["dtype_classes"].items() if "_prefill" not in k}
    older = EngineProfile.model_validate(data)
    for dtype in ("bf16", "fp8"):
        assert older.curves("attention_prefill", dtype) == older.curves("attention", dtype)
        assert older.curves_name("attention_prefill", dtype) == older.curves_name(
            "attention", dtype
        )
        assert older.fallback("attention_prefill", dtype) == older.fallback("attention", dtype)


def test_a_type_without_prefill_curves_takes_the_bf16_prefill_ones_and_says_so() -> None:
    shipped = load_engine_profile("vllm", "h100-sxm")
    data = shipped.model_dump()
    data["dtype_classes"] = {
        k: v for k, v in data["dtype_classes"].items() if k != "attention_prefill:fp8"
    }
    profile = EngineProfile.model_validate(data)
    assert profile.curves("attention_prefill", "fp8") == profile.classes["attention_prefill"]
    assert profile.fallback("attention_prefill", "fp8") == (
        "attention_prefill:fp8",
        "not measured: the bf16 curves",
    )


def _kernel_rows() -> pd.DataFrame:
    """Prefill rows of one shape: bf16 by the engine's kernel (fa3) and Triton; fp8 by Triton
    alone (SGLang's Hopper tables)."""
    return pd.DataFrame(
        {
            "batch_size": 1, "isl": 1024, "step": np.nan, "num_heads": HEADS,
            "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "window_size": 0,
            "attn_dtype": "bfloat16", "kv_cache_dtype": ["bfloat16", "bfloat16", "fp8"],
            "kernel_source": ["fa3", "triton", "triton"], "latency": [0.1, 0.17, 0.29],
        }
    )  # fmt: skip


def test_a_cache_type_timed_only_by_other_kernels_takes_the_engines_bf16_rows() -> None:
    rows = _kernel_rows()
    assert foreign_kv_types(rows, ATTENTION_KERNELS["sglang"]) == ["fp8"]
    assert foreign_kv_types(rows, ()) == []
    bf16, fp8 = _attention_samples(rows, False, ATTENTION_KERNELS["sglang"])
    assert (bf16.dtype, fp8.dtype) == ("bf16", "fp8")
    # Both fit the fa3 row's time; the fp8 one against the bound of an FP8 cache.
    assert np.asarray(bf16.time) == pytest.approx([0.1e-3])
    assert np.asarray(fp8.time) == pytest.approx([0.1e-3])
    assert fp8.memory[0] < bf16.memory[0]
    # Pooled (no kernel choice), the fp8 row stands for itself.
    _, pooled = _attention_samples(rows, False)
    assert np.asarray(pooled.time) == pytest.approx([0.29e-3])


def test_sglangs_shipped_fp8_prefill_is_its_own_kernels_bf16_law_and_says_so() -> None:
    """SGLang's H200 tables time FP8-cache prefill with Triton only: the profile's
    `attention_prefill:fp8` comes from FlashAttention 3's bf16 rows, so an FP8-cache prefill
    takes about a bf16-cache one's time (within 10 % on Llama-3.1-70B at TP 4), where the
    decode-fitted curve had priced it at under half of that."""
    profile = load_engine_profile("sglang", "h200-sxm")
    assert "attention_prefill:fp8" in profile.fallbacks
    times = {}
    for kv in (8, 16):
        analysis = api.analyze(
            "meta-llama/Llama-3.1-70B", "h200", engine="sglang", tp=4, batch=4, prompt_len=8192,
            kv_bits=kv,
        )  # fmt: skip
        step = analysis.steps["prefill"]
        times[kv] = float(step.time[list(step.names).index("flash_attention")])
        if kv == 8:
            assert any("attention_prefill:fp8" in line for line in analysis.fallbacks)
    assert times[8] == pytest.approx(times[16], rel=0.1)


def test_the_simulator_prices_a_step_with_a_prompt_chunk_as_a_prefill() -> None:
    """A replica's iteration of one whole prompt costs what the analysis's prefill step
    does; the same tokens as one-token decodes cost a decode step's."""
    from rooflens.serving.presets import scheduler_with
    from rooflens.serving.simulate import prepare

    spec, device, options = api.resolve(
        "meta-llama/Llama-3.1-8B", "h100-sxm", {"engine": "vllm", "flash_attention": True}
    )
    replica = prepare(spec, device, options, scheduler_with("vllm", device, {}), 4096)
    analysis = api.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", engine="vllm", flash_attention=True, batch=1,
        prompt_len=2048, gen_len=2,
    )  # fmt: skip
    chunk = replica.step_time(
        np.zeros(0, np.int64), np.array([2048.0]), np.array([0.0]), np.array([True])
    )
    assert chunk == pytest.approx(float(analysis.steps["prefill"].step_time()), rel=1e-6)


def test_device_profiles_have_one_attention_class_for_both_phases() -> None:
    transformers = load_engine_profile("transformers", "h200-sxm")
    assert transformers.curves("attention_prefill") == transformers.curves("attention")
    assert transformers.curves_name("attention_prefill") == "attention"


def test_the_vision_encoder_runs_as_a_prefill() -> None:
    """Gemma 3's encoder passes an image's patches as one prompt: its attention reads the
    prefill curves."""
    analysis = api.analyze(
        "google/gemma-3-27b-it", "h200", engine="vllm", images=1, prompt_len=512, gen_len=4
    )
    vision = analysis.steps["vision"]
    pairs = zip(vision.names, vision.priced_by, strict=True)
    attention = [how for name, how in pairs if "matmul" in name]
    assert attention == ["attention_prefill", "attention_prefill"]
