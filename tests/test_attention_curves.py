"""Attention's curves. A step that prefills prices attention by the prefill rows' own curves
(`attention_prefill`), a decode step by the class's (its memory curve fitted on decode rows);
a cache type timed only with kernels the engine does not run takes the engine kernels' bf16
rows. Both phases' grids read bytes per sequence and head (`sequence_heads`): KV heads in a
decode step, query heads in one that prefills; a shape beyond the grid's is noted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rooflens import api
from rooflens.calibration.aiconfigurator import (
    ATTENTION_KERNELS,
    _attention_samples,
    fit_engine,
    foreign_kv_types,
    mla_samples,
)
from rooflens.calibration.profile import load_profile
from rooflens.core.efficiency import EngineProfile
from rooflens.core.operators import FlashAttention, LatentAttention, Precision, Step
from rooflens.core.options import Quantization
from rooflens.core.pricing import memory_access, shape_ratios
from rooflens.core.results import Analysis
from rooflens.engines import load_engine_profile
from rooflens.hardware.catalog import get_device
from rooflens.serving.presets import scheduler_with
from rooflens.serving.replica import Replica
from rooflens.serving.simulate import prepare

H100 = get_device("h100-sxm")
FIXED = 3e-6  # seconds: each synthetic kernel's launch cost
PREFILL, DECODE = 0.25, 0.5  # the fractions of the memory bound each phase's kernels reach
HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


def _rows(decode: bool, fraction: float | Callable[[float], float]) -> list[dict]:
    """Rows of a memory-bound law: FIXED + bytes / (fraction x bandwidth), the fraction a
    constant or a function of the context (decode) or prompt (prefill) length."""
    at = fraction if callable(fraction) else lambda length: fraction
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
                "latency": (FIXED + moved / (at(length) * H100.memory_bandwidth)) * 1e3,
            })  # fmt: skip
    return rows


def _toy_gemms(tmp_path: Path, engine: str) -> None:
    """The toy system's GEMM table, which every fit needs."""
    gemm = tmp_path / "toy" / "gemm" / engine / "1.0"
    gemm.mkdir(parents=True)
    m = np.array([1, 4, 16, 64, 256, 1024, 4096], dtype=float)
    pd.DataFrame(
        {"gemm_dtype": "bfloat16", "m": m, "n": 4096, "k": 4096, "latency": 0.01 + m * 1e-4}
    ).to_csv(gemm / "gemm_perf.csv", index=False)


def _toy_profile(
    tmp_path: Path, prefill: float, decode: float | Callable[[float], float]
) -> EngineProfile:
    """A vLLM profile fitted on toy attention tables of these laws (and a GEMM table, which
    every fit needs)."""
    _toy_gemms(tmp_path, "vllm")
    attention = tmp_path / "toy" / "attention" / "vllm" / "1.0"
    attention.mkdir(parents=True)
    pd.DataFrame(_rows(False, prefill)).to_csv(attention / "context_attention_perf.csv")
    pd.DataFrame(_rows(True, decode)).to_csv(attention / "generation_attention_perf.csv")
    return fit_engine(tmp_path, "toy", "vllm", H100).profile


@pytest.fixture
def profile(tmp_path) -> EngineProfile:
    """Prefill kernels at a quarter of the memory bound, decode kernels at half."""
    return _toy_profile(tmp_path, PREFILL, DECODE)


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


def _replica_and_analysis(batch: int) -> tuple[Replica, Analysis]:
    """Llama-3.1-8B on vLLM's H100 profile: a replica, and the analysis of `batch` prompts
    of 2,048 tokens."""
    spec, device, options = api.resolve(
        "meta-llama/Llama-3.1-8B", "h100-sxm", {"engine": "vllm", "flash_attention": True}
    )
    replica = prepare(spec, device, options, scheduler_with("vllm", device, {}), 4096)
    analysis = api.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", engine="vllm", flash_attention=True, batch=batch,
        prompt_len=2048, gen_len=2,
    )  # fmt: skip
    return replica, analysis


def test_the_simulator_prices_a_step_with_a_prompt_chunk_as_a_prefill() -> None:
    """A replica's iteration of one whole prompt costs what the analysis's prefill step
    does; the same tokens as one-token decodes cost a decode step's."""
    replica, analysis = _replica_and_analysis(1)
    chunk = replica.step_time(
        np.zeros(0, np.int64), np.array([2048.0]), np.array([0.0]), np.array([True])
    )
    assert chunk == pytest.approx(float(analysis.steps["prefill"].step_time()), rel=1e-6)


def test_device_profiles_have_one_attention_class_for_both_phases() -> None:
    transformers = load_engine_profile("transformers", "h200-sxm")
    assert transformers.curves("attention_prefill") == transformers.curves("attention")
    assert transformers.curves_name("attention_prefill") == "attention"


def test_the_vision_encoder_runs_as_a_prefill() -> None:
    """Gemma 3's encoder passes an image's patches as one prompt: its attention (one fused
    kernel under an engine, the eager pair of GEMMs without FlashAttention) reads the prefill
    curves."""
    for flash, names in ((None, ["vision_flash_attention"]), (False, ["qk", "sv"])):
        analysis = api.analyze(
            "google/gemma-3-27b-it", "h200", engine="vllm", images=1, prompt_len=512, gen_len=4,
            **({} if flash is None else {"flash_attention": flash}),
        )  # fmt: skip
        vision = analysis.steps["vision"]
        pairs = zip(vision.names, vision.priced_by, strict=True)
        attention = [how for name, how in pairs if "matmul" in name or "flash" in name]
        assert attention == ["attention_prefill"] * len(names), flash


def _attention_time(analysis, stage: str) -> tuple[float, float]:
    """The attention row's time in a step of the analysis, and its memory bound."""
    step = analysis.steps[stage]
    row = list(step.names).index("flash_attention")
    return float(step.time[row]), float(memory_access(step.fields)[row]) / H100.memory_bandwidth


def test_decode_attention_of_one_size_runs_as_its_sequences_lengths_say(tmp_path) -> None:
    """Decode kernels over 256 cached tokens at a fifth of the memory bound, over longer
    contexts at 0.6: 16 sequences of 256 and one of 4,096 move the same bytes (within 2 %),
    which a curve of size alone prices alike; the grid over bytes per sequence and KV head
    gives each the time its rows took."""
    short, long = 0.2, 0.6
    profile = _toy_profile(tmp_path, PREFILL, lambda length: short if length <= 256 else long)
    bounds = {}
    for batch, context, fraction in ((16, 256, short), (1, 4096, long)):
        analysis = api.analyze(
            "meta-llama/Llama-3.1-8B", "h100-sxm", calibration=profile, flash_attention=True,
            batch=batch, prompt_len=context, gen_len=2,
        )  # fmt: skip
        time, bounds[batch] = _attention_time(analysis, "decode")
        assert time == pytest.approx(FIXED + bounds[batch] / fraction, rel=0.01)
    assert bounds[16] == pytest.approx(bounds[1], rel=0.02)


def test_the_grids_read_bytes_per_sequence_and_kv_head_in_decode_and_query_head_in_prefill():
    """Llama-3.1-8B at TP 2 (16 query heads and 4 KV heads a device), 4 sequences."""
    analysis = api.analyze(
        "meta-llama/Llama-3.1-8B", "h200", engine="vllm", tp=2, batch=4, prompt_len=1024,
        gen_len=2,
    )  # fmt: skip
    for stage, heads in (("decode", 4), ("prefill", 16)):
        step = analysis.steps[stage]
        row = list(step.names).index("flash_attention")
        memory = memory_access(step.fields)
        ratios = shape_ratios(step.placement, step.fields["ops"], memory, np.array([4.0]))
        assert ratios[row] == pytest.approx(memory[row] / (4 * heads))
        # A GEMM reads its k / n, an element-wise kernel nothing.
        assert ratios[list(step.names).index("o_proj")] == pytest.approx(2048 / 4096)
        assert np.isnan(ratios[list(step.names).index("attn_norm")])


def test_a_replica_prices_decode_steps_as_the_analysis_does() -> None:
    """A replica's decode iteration of 8 sequences at 2,048 cached tokens, one by one and in
    a run of steps, costs the analysis's decode step: each path gives the step its sequences."""
    replica, analysis = _replica_and_analysis(8)
    expected = float(analysis.steps["decode"].step_time())
    past = np.full(8, 2048, np.int64)
    assert replica.step_time(past) == pytest.approx(expected, rel=1e-6)
    assert replica.decode_run(past, 2)[0] == pytest.approx(expected, rel=1e-6)


def test_the_fit_reads_bytes_per_sequence_and_the_heads_of_the_rows_phase() -> None:
    """Rows of 32 query and 8 KV heads: prefill's grids read bytes per sequence and query
    head, decode's per sequence and KV head; latent attention's decode one latent head."""
    rows = pd.DataFrame(_rows(False, PREFILL))
    (prefill,) = _attention_samples(rows, False)
    (decode,) = _attention_samples(pd.DataFrame(_rows(True, DECODE)), True)
    assert prefill.aspect == pytest.approx(prefill.memory / (rows["batch_size"] * HEADS))
    assert decode.aspect == pytest.approx(decode.memory / (rows["batch_size"] * KV_HEADS))
    latent = pd.DataFrame({
        "kv_cache_dtype": "bfloat16", "num_heads": 16, "batch_size": [1.0, 8.0], "isl": 1,
        "step": [4096.0, 512.0], "latency": 0.05,
    })  # fmt: skip
    (context,) = mla_samples(latent.assign(step=0, isl=[4096, 512]), None)
    (generation,) = mla_samples(None, latent)
    assert context.aspect == pytest.approx(context.memory / (latent["batch_size"] * 16))
    assert generation.aspect == pytest.approx(generation.memory / latent["batch_size"])


def test_a_shape_beyond_the_grids_fitted_shapes_is_noted() -> None:
    """A 32k-token prompt of Llama-3.1-70B at TP 4 streams more bytes per sequence and query
    head than TensorRT-LLM's H100 prefill rows reach: the grid's edge prices it, and the
    analysis says so; a 2k-token prompt lies inside."""

    def grid_notes(prompt: int) -> list[str]:
        analysis = api.analyze(
            "meta-llama/Llama-3.1-70B", "h100-sxm", engine="trtllm", tp=4, prompt_len=prompt,
            gen_len=2,
        )  # fmt: skip
        return [note for note in analysis.notes if "grid" in note]

    grid = load_engine_profile("trtllm", "h100-sxm").classes["attention_prefill"].memory_grid
    low, edge = 10 ** grid.log10_ratios[0], 10 ** grid.log10_ratios[-1]
    (note,) = grid_notes(32768)
    assert note.startswith("prefill: flash_attention: ")
    assert f"bytes per sequence and head lies outside the {low:.3g}-{edge:.3g} bytes per" in note
    assert note.endswith(
        "its attention_prefill:bf16 memory grid was fitted over; the grid's edge prices it"
    )
    assert float(note.split()[2]) > edge
    assert grid_notes(2048) == []


def test_sglang_hopper_context_rows_are_read_as_the_absorbed_kernel_they_time() -> None:
    """SGLang's Hopper context rows (kernel_source flash_attention) time 576-wide queries over
    one latent key with 512-wide values: one sequence of 1,024 tokens at 16 heads is 524,800
    causal pairs per head x 2,181 OPs (2 x 576 + 2 x 512 + 5), and bytes 1,024 x 16 x 576 x 2
    (queries) + 1,024 x 576 x 2 (latent) + 1,024 x 16 x 512 x 2 (outputs). The same row from
    another kernel (TensorRT-LLM's `default`) is read as the decompressed prefill."""
    from rooflens.calibration.aiconfigurator import (
        ABSORBED_CONTEXT_ROWS,
        MLA_DIMS,
        absorbed_prefill_cost,
    )

    assert ("SGLang", "flash_attention") in ABSORBED_CONTEXT_ROWS
    pairs = 1024 * 1025 / 2
    ops = 16 * pairs * (2 * 576 + 2 * 512 + 5)
    memory = 1024 * 16 * 576 * 2 + 1024 * 576 * 2 + 1024 * 16 * 512 * 2
    step = Step(np.array([1.0]), np.array([1024.0]), np.array([0.0]))
    got_ops, got_memory = absorbed_prefill_cost(step, 16, Precision(Quantization(kv_bits=16)))
    assert got_ops == pytest.approx([ops]) and got_memory == pytest.approx([memory])
    row = {"kv_cache_dtype": "bfloat16", "num_heads": 16, "batch_size": 1.0, "isl": 1024,
           "step": 0, "latency": 0.2}  # fmt: skip
    sglang = pd.DataFrame([row | {"framework": "SGLang", "kernel_source": "flash_attention"}])
    trtllm = pd.DataFrame([row | {"framework": "TRTLLM", "kernel_source": "default"}])
    (absorbed,) = mla_samples(sglang, None)
    (decompressed,) = mla_samples(trtllm, None)
    assert absorbed.ops == pytest.approx([ops]) and absorbed.memory == pytest.approx([memory])
    latent = LatentAttention("mla", "block", ("q",), "o", num_heads=16, **MLA_DIMS)
    expected = latent.cost(step, Precision(Quantization(kv_bits=16)))
    assert decompressed.ops == pytest.approx(np.atleast_1d(expected.ops))
    # Decode rows are the absorbed kernel for every engine, as LatentAttention prices them.
    (generation,) = mla_samples(None, sglang.assign(isl=1, step=1024))
    one_token = Step(np.array([1.0]), np.array([1.0]), np.array([1024.0]))
    decoded = latent.cost(one_token, Precision(Quantization(kv_bits=16)))
    assert generation.ops == pytest.approx(np.atleast_1d(decoded.ops))
    # One table of both kinds, at two head counts and a batch of 4: each row as its kernel.
    batch = Step(np.array([4.0]), np.array([512.0]), np.array([0.0]))
    mixed = pd.concat(
        [sglang, trtllm.assign(num_heads=32, batch_size=4.0, isl=512)], ignore_index=True
    )
    (both,) = mla_samples(mixed, None)
    four = LatentAttention("mla", "block", ("q",), "o", num_heads=32, **MLA_DIMS)
    expected_four = four.cost(batch, Precision(Quantization(kv_bits=16))).ops
    assert both.ops == pytest.approx([ops, float(np.squeeze(expected_four))])
    absorbed_four, _ = absorbed_prefill_cost(batch, 32, Precision(Quantization(kv_bits=16)))
    assert absorbed_four == pytest.approx([4 * 32 * (512 * 513 / 2) * 2181])


def test_sparse_latent_attention_has_prefill_curves_of_its_own() -> None:
    """GLM-5's sparse attention rows (SGLang `glm5_dsa_attn_module`, FP8 cache) are read as
    the sparse LatentAttention they time; an SGLang profile prices GLM-5's prefill attention
    with them and its decode steps as latent attention (`mla`, saying so); TensorRT-LLM's
    takes its own sparse curves (from whole modules), a device profile attention's."""
    from rooflens.calibration.aiconfigurator import DSA_DIMS, DSA_TOPK, dsa_samples

    rows = pd.DataFrame({
        "kv_cache_dtype": "fp8_e4m3", "num_heads": 64, "batch_size": [1, 4, 2],
        "isl": [8192, 1024, 8192], "step": [0, 0, 4], "latency": [4.0, 2.0, 9.0],
    })  # fmt: skip
    (samples,) = dsa_samples(rows)
    assert (samples.op_class, samples.dtype) == ("dsa_prefill", "fp8")
    assert len(samples.time) == 2  # rows after cached tokens (step 4) are not read
    op = LatentAttention(
        "dsa", "block", ("q",), "o", num_heads=64, span=DSA_TOPK, sparse=True, **DSA_DIMS
    )
    step = Step(np.array([1.0, 4.0]), np.array([8192.0, 1024.0]), np.array([0.0, 0.0]))
    expected = op.cost(step, Precision(Quantization(kv_bits=8)))
    assert samples.ops == pytest.approx(np.asarray(expected.ops))

    def priced_by(engine: str) -> dict[str, str]:
        analysis = api.analyze(
            "zai-org/GLM-5", "h200-sxm", batch=4, prompt_len=4096, gen_len=8, tp=8, kv_bits=8,
            engine=engine, w_bits=8, a_bits=8, w_format="fp", w_scale=128,
        )  # fmt: skip
        rows = api.operator_rows(analysis)
        return {r["stage"]: r["priced_by"] for r in rows if r["name"] == "latent_attention"}

    assert priced_by("sglang") == {"prefill": "dsa_prefill:fp8", "decode": "mla:fp8 (fallback)"}
    # TensorRT-LLM's Hopper modules hold a 16-bit cache only: its curves price FP8's too.
    assert priced_by("trtllm") == {"prefill": "dsa_prefill (fallback)", "decode": "dsa (fallback)"}
    assert load_engine_profile("trtllm", "h200-sxm").fallback("dsa_prefill", "fp8") == (
        "dsa_prefill:fp8",
        "not measured: the bf16 curves",
    )
    profile = load_engine_profile("sglang", "h200-sxm")
    assert profile.fallbacks["dsa"] == "its decode kernel not measured for sglang: priced as mla"
    assert profile.curves("dsa", "fp8") is profile.curves("mla", "fp8")
    # A device (transformers) profile has neither: latent attention's parent, attention.
    device = load_profile(get_device("h200-sxm").calibration)
    assert device.curves("dsa_prefill") is device.curves("attention")


def test_a_fit_gives_sparse_attention_prefill_curves_and_leaves_its_decode_to_mla(
    tmp_path,
) -> None:
    """An SGLang fit on a toy GEMM table and 24 sparse attention rows (FP8 cache): typed and
    untyped `dsa_prefill` curves (the same), no `dsa` class (its decode steps are latent
    attention's), notes for the cache types and the decode, and held-out errors."""
    _toy_gemms(tmp_path, "sglang")
    sparse = tmp_path / "toy" / "sparse_attention" / "sglang" / "1.0"
    sparse.mkdir(parents=True)
    pd.DataFrame([
        {"kv_cache_dtype": "fp8_e4m3", "num_heads": 64, "batch_size": b, "isl": isl,
         "step": 0, "latency": 0.05 + b * isl * 5e-4}
        for b in (1, 2, 4, 8) for isl in (256, 512, 1024, 2048, 4096, 8192)
    ]).to_csv(sparse / "glm5_dsa_attn_module_perf.csv", index=False)  # fmt: skip
    fit = fit_engine(tmp_path, "toy", "sglang", get_device("h100-sxm"))
    profile = fit.profile
    assert profile.classes["dsa_prefill"] == profile.dtype_classes["dsa_prefill:fp8"]
    assert "dsa" not in profile.classes and "dsa:fp8" not in profile.dtype_classes
    assert profile.fallbacks["dsa_prefill:bf16"] == "not measured: the dsa_prefill:fp8 curves"
    assert profile.fallbacks["dsa"] == "its decode kernel not measured for sglang: priced as mla"
    assert "dsa_prefill:fp8" in fit.held_out


def test_sparse_attention_curves_from_whole_modules_less_their_other_operators(
    tmp_path,
) -> None:
    """TensorRT-LLM times DeepSeek-V3.2's sparse attention only inside whole modules
    (`dsa_context_module`, `dsa_generation_module`): each row's attention is the module less
    its projections, norms and indexer as the profile prices them, rows where that is under
    MODULE_MIN_SHARE of the module are not read, and a toy fit takes `dsa_prefill` and `dsa`
    curves from them, saying so."""
    from rooflens.calibration.aiconfigurator import (
        DSA_MODULES,
        MODULE_MIN_SHARE,
        module_samples,
    )

    device = get_device("h200-sxm")
    shipped = load_engine_profile("trtllm", "h200-sxm")
    model = "deepseek-ai/DeepSeek-V3.2"
    settings = {"tp": 8, "flash_attention": True, "kv_bits": 16, "w_bits": 16, "a_bits": 16}
    analysis = api.analyze(
        model, "h200-sxm", batch=np.array([1.0, 2.0]), prompt_len=np.array([4096.0, 512.0]),
        gen_len=1, engine="trtllm", **settings,
    )  # fmt: skip
    step = analysis.steps["prefill"]
    names = list(step.names)
    others = sum(np.asarray(step.time)[names.index(n)] for n in DSA_MODULES.others)
    attention = names.index("latent_attention")
    # 16 heads of the 128 (TP 8): one row well above its other operators, one barely.
    measured = np.array([others[0] + 2e-3, others[1] * (1 + MODULE_MIN_SHARE / 2)])
    rows = pd.DataFrame(
        {
            "model": model,
            "gemm_type": "bfloat16",
            "kv_cache_dtype": "bfloat16",
            "num_heads": 16,
            # The third, a one-token prompt, runs the decode form: not read.
            "batch_size": [1, 2, 4],
            "isl": [4096, 512, 1],
            "step": 0,
            "latency": [*(measured * 1e3), 5.0],
        }
    )
    (samples,) = module_samples([rows, None], DSA_MODULES, "trtllm", device, shipped)
    assert (samples.op_class, samples.dtype) == ("dsa_prefill", "bf16")
    assert samples.time == pytest.approx([2e-3], rel=1e-6)
    assert samples.ops == pytest.approx([np.asarray(step.ops)[attention][0]])
    assert samples.memory == pytest.approx([np.asarray(step.memory_access)[attention][0]])

    # A toy fit: GEMMs, and module rows whose attention grows with tokens and context.
    _toy_gemms(tmp_path, "trtllm")
    sparse = tmp_path / "toy" / "sparse_attention" / "trtllm" / "1.0"
    sparse.mkdir(parents=True)
    common = {"model": model, "gemm_type": "bfloat16", "kv_cache_dtype": "bfloat16"}
    pd.DataFrame([
        {**common, "num_heads": h, "batch_size": b, "isl": isl, "step": 0,
         "latency": 5.0 + b * isl * h * 1e-4}
        for h in (16, 64) for b in (1, 2, 4) for isl in (512, 1024, 2048, 4096, 8192)
    ]).to_csv(sparse / "dsa_context_module_perf.csv", index=False)  # fmt: skip
    pd.DataFrame([
        {**common, "num_heads": h, "batch_size": b, "isl": 1, "step": s,
         "latency": 5.0 + b * s * 1e-5}
        for h in (16, 64) for b in (1, 8, 64) for s in (512, 2048, 8192, 32768)
    ]).to_csv(sparse / "dsa_generation_module_perf.csv", index=False)  # fmt: skip
    # A later release's tables are not read: the GEMMs' release (1.0) is the profile's.
    later = tmp_path / "toy" / "sparse_attention" / "trtllm" / "2.0"
    later.mkdir(parents=True)
    for table in ("dsa_context_module_perf", "dsa_generation_module_perf"):
        pd.read_csv(sparse / f"{table}.csv").assign(latency=99.0).to_csv(
            later / f"{table}.csv", index=False
        )
    fit = fit_engine(tmp_path, "toy", "trtllm", get_device("h100-sxm"))
    profile = fit.profile
    assert {"dsa", "dsa_prefill"} <= set(profile.classes)
    for key in ("dsa_prefill:bf16", "dsa:bf16"):
        note = profile.fallbacks[key]
        assert (
            "dsa_context_module_perf, dsa_generation_module_perf, deepseek-ai/DeepSeek-V3.2)"
            in note
        )
    assert profile.fallback("dsa", "bf16")[0] == "dsa:bf16"
    assert profile.provenance["db.dsa_modules"].startswith("trtllm 1.0,")
    assert {"dsa_prefill:bf16", "dsa_decode:bf16"} <= set(fit.held_out)
    # Without curves of its own the subclass is its base class's, and says so.
    classes = {k: v for k, v in shipped.classes.items() if not k.startswith("dsa")}
    typed = {k: v for k, v in shipped.dtype_classes.items() if not k.startswith("dsa")}
    notes = {k: v for k, v in shipped.fallbacks.items() if not k.startswith("dsa")}
    bare = shipped.model_copy(
        update={"classes": classes, "dtype_classes": typed, "fallbacks": notes}
    )
    assert bare.curves("dsa_prefill", "bf16") is bare.curves("mla_prefill", "bf16")
    assert bare.fallback("dsa_prefill", "bf16") == (
        "dsa_prefill",
        "not measured: priced as mla_prefill",
    )


def test_deepseek_v4_attention_curves_from_its_modules(tmp_path) -> None:
    """DeepSeek-V4's attention modules (`dsv4_csa_context_module`): a CSA row's compressed
    attention is the module less its projections, norms, compressors and indexer as the
    profile prices one CSA layer; 64 heads on a device is a wide group (`_wide` curves), 8
    is not; a toy SGLang fit takes `compressed_prefill` curves from such rows, saying so,
    and V4's decode steps, whose modules are not fitted, are attention's, saying why."""
    from rooflens.calibration.aiconfigurator import DSV4_MODULES, module_layer, module_samples

    shipped = load_engine_profile("sglang", "h200-sxm")
    layer = module_layer("deepseek-ai/DeepSeek-V4-Flash", 4)
    fp8 = {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": 128 * 128}
    times = {}
    for tp in (1, 8):
        analysis = api.analyze(
            layer, "h200-sxm", batch=2, prompt_len=4096, gen_len=1, engine="sglang", tp=tp,
            flash_attention=True, kv_bits=8, **fp8,
        )  # fmt: skip
        step = analysis.steps["prefill"]
        names = list(step.names)
        others = sum(float(np.ravel(step.time[names.index(n)])[0]) for n in DSV4_MODULES.others)
        times[tp] = (others, step, names.index("compressed_attention"))
    row = {"model": "sgl-project/DeepSeek-V4-Flash-FP8", "gemm_type": "fp8_block",
           "kv_cache_dtype": "fp8_e4m3", "batch_size": 2, "isl": 4096, "step": 0,
           "compress_ratio": 4}  # fmt: skip
    hca = module_layer("deepseek-ai/DeepSeek-V4-Flash", 128)
    hca_step = api.analyze(
        hca, "h200-sxm", batch=2, prompt_len=4096, gen_len=1, engine="sglang", tp=8,
        flash_attention=True, kv_bits=8, **fp8,
    ).steps["prefill"]  # fmt: skip
    hca_names = list(hca_step.names)
    hca_others = sum(
        float(np.ravel(hca_step.time[hca_names.index(n)])[0])
        for n in DSV4_MODULES.others
        if n in hca_names
    )
    assert "indexer_scores" not in hca_names
    rows = pd.DataFrame([
        row | {"num_heads": 64, "latency": (times[1][0] + 3e-3) * 1e3},
        row | {"num_heads": 8, "latency": (times[8][0] + 1e-3) * 1e3},
        row | {"num_heads": 8, "compress_ratio": 128, "latency": (hca_others + 2e-3) * 1e3},
    ])  # fmt: skip
    frames = [rows, None]
    device = get_device("h200-sxm")
    got = {s.dtype: s for s in module_samples(frames, DSV4_MODULES, "sglang", device, shipped)}
    assert set(got) == {"fp8", "fp8_wide"}
    assert got["fp8_wide"].time == pytest.approx([3e-3], rel=1e-6)
    assert got["fp8"].time == pytest.approx([1e-3, 2e-3], rel=1e-6)  # CSA, HCA
    step, attention = times[8][1], times[8][2]
    hca_ops = float(np.ravel(hca_step.ops[hca_names.index("compressed_attention")])[0])
    assert got["fp8"].ops == pytest.approx([float(np.ravel(step.ops[attention])[0]), hca_ops])
    assert got["fp8"].op_class == "compressed_prefill"

    _toy_gemms(tmp_path, "sglang")
    folder = tmp_path / "toy" / "sparse_attention" / "sglang" / "1.0"
    folder.mkdir(parents=True)
    pd.DataFrame([
        row | {"num_heads": h, "batch_size": b, "isl": isl, "latency": 2.0 + b * isl * 1e-3}
        for h in (8, 64) for b in (1, 2, 4, 8) for isl in (256, 512, 1024, 2048, 4096, 8192)
    ]).to_csv(folder / "dsv4_csa_context_module_perf.csv", index=False)  # fmt: skip
    fit = fit_engine(tmp_path, "toy", "sglang", get_device("h100-sxm"))
    profile = fit.profile
    assert "compressed_prefill:fp8" in profile.dtype_classes
    assert "compressed" not in profile.classes
    # A 16-bit cache's wide group takes the measured wide group's curves, its narrow one the
    # narrow's.
    typed = profile.dtype_classes
    assert typed["compressed_prefill:bf16_wide"] == typed["compressed_prefill:fp8_wide"]
    assert profile.classes["compressed_prefill"] == typed["compressed_prefill:fp8"]
    note = profile.fallbacks["compressed_prefill:fp8"]
    assert note.startswith("fitted on sglang's whole attention modules (dsv4_csa_context")
    assert profile.fallbacks["compressed"] == DSV4_MODULES.decode_note
    # The shipped profile, whose attention curves are measured, names the note for V4's decode.
    note = ("compressed", DSV4_MODULES.decode_note)
    assert load_engine_profile("sglang", "h200-sxm").fallback("compressed", "fp8") == note
    assert "compressed_prefill:fp8" in fit.held_out


def test_deepseek_v4_prefill_attention_is_priced_by_its_module_curves() -> None:
    """A V4 analysis on vLLM's H200 profile prices its compressed attention's prefill with
    `compressed_prefill` curves and its decode steps with attention's, noting both."""
    analysis = api.analyze(
        "deepseek-ai/DeepSeek-V4-Flash", "h200-sxm", batch=2, prompt_len=4096, gen_len=4, tp=8,
        engine="vllm", kv_bits=8,
    )  # fmt: skip
    priced = {
        (r["stage"], r["priced_by"])
        for r in api.operator_rows(analysis)
        if r["name"] == "compressed_attention"
    }
    # Both are marked: the prefill curves are fitted on modules, the decode steps borrowed.
    assert priced == {
        ("prefill", "compressed_prefill:fp8 (fallback)"),
        ("decode", "attention:fp8 (fallback)"),
    }


def _prefill_rows_by_batch(fraction: Callable[[float], float]) -> pd.DataFrame:
    """Prefill rows whose fraction of the memory bound depends on the batch alone."""
    rows = pd.DataFrame(_rows(False, 1.0))
    moved = (rows["latency"] * 1e-3 - FIXED) * H100.memory_bandwidth
    rows["latency"] = (
        FIXED + moved / (H100.memory_bandwidth * rows["batch_size"].map(fraction))
    ) * 1e3
    return rows


def test_the_context_holdout_script_tells_the_readings_apart(load_script) -> None:
    """scripts/attention_context_holdout.py holds out the longest prompts (8,192 tokens, the
    top 15 % of the lengths) and reads them past the fit three ways. Kernels whose fraction
    depends on the batch alone run a prompt of 8,192 tokens as the same batch of 4,096-token
    prompts: cut back to that column (its bytes per sequence and head, about a quarter of
    theirs), the grid reads them within 1 %; held at the column (`clamped`, and `size-fill`,
    where the column measured every size), it reads a larger batch's fraction, 28 % fast.
    Where the column lacks its largest batches, the cells above its sizes are filled from
    shorter prompts at the same size (`clamped`) or from its own largest size (`size-fill`),
    and the two part. Of a fraction that depends on nothing, every reading is exact."""
    script = load_script("attention_context_holdout")
    rows = _prefill_rows_by_batch(lambda b: 0.05 * b**0.25)
    (s,) = _attention_samples(rows, False)
    errors = script.table_errors(s, "h100-sxm")
    assert errors["held"] == 6  # the six batches at 8,192 tokens
    assert errors["cut median"] < 0.01
    assert errors["clamped median"] == errors["size-fill median"] == pytest.approx(0.28, abs=0.01)
    (s,) = _attention_samples(rows[~((rows["isl"] == 4096) & (rows["batch_size"] >= 8))], False)
    gaps = script.table_errors(s, "h100-sxm")
    assert gaps["clamped median"] == pytest.approx(0.29, abs=0.01)
    assert gaps["size-fill median"] == pytest.approx(0.23, abs=0.01)
    (s,) = _attention_samples(_prefill_rows_by_batch(lambda b: 0.05), False)
    flat = script.table_errors(s, "h100-sxm")
    assert max(flat[f"{r} median"] for r in script.READINGS) < 0.01
