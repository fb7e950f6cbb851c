"""Static and dynamic FP8 activation scales: checkpoints, settings, engines, curves and fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rooflens.calibration.aiconfigurator import fit_engine
from rooflens.core.errors import InvalidInputError
from rooflens.core.operators import Linear, Precision, Step
from rooflens.core.options import Quantization
from rooflens.core.pricing import quantize_pass_time
from rooflens.engines import load_engine_profile
from rooflens.hardware.catalog import get_device
from rooflens.models.quant import read_quantization_config
from rooflens.settings import parse_settings

H100 = get_device("h100-sxm")
FIXED, SCALE = 3e-6, 5e-6  # seconds: the synthetic GEMM's launch, its activation-scale pass
FP8 = {"w_bits": 8, "a_bits": 8, "w_format": "fp"}


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        # ModelOpt's per-tensor FP8 recipe calibrates input_scale offline.
        ({"quant_method": "modelopt", "quant_algo": "FP8"}, "static"),
        ({"quant_method": "fp8", "activation_scheme": "static", "weight_block_size": None},
         "static"),
        ({"quant_method": "fp8", "activation_scheme": "dynamic"}, "dynamic"),
        (
            {"quant_method": "compressed-tensors", "config_groups": {"g": {
                "weights": {"num_bits": 8, "type": "float", "strategy": "tensor"},
                "input_activations": {"num_bits": 8, "type": "float", "dynamic": False}}}},
            "static",
        ),
        (
            {"quant_method": "compressed-tensors", "config_groups": {"g": {
                "weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
                "input_activations": {"num_bits": 8, "type": "float", "dynamic": True}}}},
            "dynamic",
        ),
    ],
)  # fmt: skip
def test_a_checkpoint_says_how_its_activations_are_scaled(recipe, expected) -> None:
    checkpoint = read_quantization_config(recipe)
    assert checkpoint is not None
    assert checkpoint.quantization.a_scale == expected


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # Quantized here (a 16-bit checkpoint): the engine's FP8 path decides.
        (FP8 | {"engine": "trtllm"}, "static"),
        (FP8 | {"engine": "vllm"}, "dynamic"),
        (FP8 | {"engine": "sglang"}, "dynamic"),
        (FP8, "dynamic"),
        # Said outright, it wins.
        (FP8 | {"engine": "trtllm", "a_scale": "dynamic"}, "dynamic"),
        (FP8 | {"a_scale": "static"}, "static"),
        # Block-scaled FP8 computes per-block activation scales whatever the engine.
        (FP8 | {"engine": "trtllm", "w_scale": 16384}, "dynamic"),
    ],
)
def test_settings_take_the_engines_scales_unless_given(settings, expected) -> None:
    assert parse_settings(settings).quantization().a_scale == expected


def test_a_checkpoints_scales_win_over_the_engines() -> None:
    static = Quantization(**FP8, w_scale="tensor", a_scale="static")
    dynamic = Quantization(**FP8, w_scale="tensor")
    assert parse_settings({"engine": "vllm"}).quantization(static).a_scale == "static"
    assert parse_settings({"engine": "trtllm"}).quantization(dynamic).a_scale == "dynamic"
    # Activations set anew: the settings' (and the engine's) scales, not the checkpoint's.
    given = parse_settings({"engine": "vllm", "a_bits": 8}).quantization(static)
    assert given.a_scale == "dynamic"


def test_a_static_scale_needs_8_bit_activations() -> None:
    with pytest.raises(InvalidInputError, match="a_scale") as caught:
        parse_settings({"a_scale": "static"}).quantization()
    assert "expected 8-bit activations (a_bits=8)" in str(caught.value)
    with pytest.raises(InvalidInputError, match="dynamic, static"):
        parse_settings({"a_scale": "calibrated"})


def test_static_fp8_gemms_take_their_own_curves() -> None:
    from rooflens.core.graph import build_graph
    from rooflens.core.options import AnalysisOptions
    from rooflens.core.pricing import Placement
    from rooflens.models.catalog import load_model

    model = load_model("meta-llama/Llama-3.1-8B")
    picked = {}
    for scale in ("dynamic", "static"):
        quant = Quantization(**FP8, a_scale=scale)
        graph = build_graph(model, AnalysisOptions(quantization=quant), H100)
        placement = Placement.of(graph, H100, quant)
        picked[scale] = dict(zip(placement.names, placement.curve_dtypes, strict=True))
    assert picked["dynamic"]["q_proj"] == "fp8"
    assert picked["static"]["q_proj"] == "fp8_static"
    assert picked["static"]["lm_head"] == picked["dynamic"]["lm_head"]  # 16-bit either way
    # TensorRT-LLM's shipped H100 profile: the same GEMMs, the input's quantizing pass priced
    # apart, shorter with a stored scale than with one computed each call.
    trtllm = load_engine_profile("trtllm", "h100-sxm")
    assert trtllm.curves("matmul", "fp8_static") == trtllm.curves("matmul", "fp8")
    elements = np.array([4096.0, 8192 * 4096.0])
    stored, computed = (
        quantize_pass_time(trtllm.dtype_classes[f"quantize:{t}"], elements, H100.memory_bandwidth)
        for t in ("fp8_static", "fp8")
    )
    assert np.all(stored < computed)
    # SGLang's tables time no scale pass apart (all 0): its fp8 curves, stated.
    sglang = load_engine_profile("sglang", "h100-sxm")
    assert sglang.curves("matmul", "fp8_static") == sglang.curves("matmul", "fp8")
    assert "static activation scales" in sglang.fallbacks["matmul:fp8_static"]


def _fp8_ms(m: np.ndarray, n: int, k: int, scale: float) -> np.ndarray:
    """The synthetic engine's FP8 GEMM with dynamic scales: fixed + memory-bound time at 80 %
    of the bandwidth + the scale pass, in ms."""
    cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
        Step(m, np.ones_like(m), np.zeros_like(m)), Precision(Quantization(**FP8))
    )
    memory = cost.load_weight + cost.load_act + cost.store_act
    compute = cost.ops / (0.5 * H100.peak_ops["fp8"])
    return (FIXED + np.maximum(compute, memory / (0.8 * H100.memory_bandwidth)) + scale) * 1e3


def _database(tmp_path, scale: float) -> None:
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    quantize = tmp_path / "toy" / "quantize" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    quantize.mkdir(parents=True)
    m = np.array([1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384], dtype=float)
    rows, scales = [], []
    for n, k in ((64, 64), (1024, 1024), (4096, 4096), (8192, 2048)):
        for dtype, extra in (("bfloat16", 0.0), ("fp8", scale)):
            for mi, t in zip(m, _fp8_ms(m, n, k, extra), strict=True):
                rows.append({"gemm_dtype": dtype, "m": mi, "n": n, "k": k, "latency": t})
        scales += [{"m": mi, "k": k, "latency": scale * 1e3} for mi in m]
    pd.DataFrame(rows).to_csv(gemm / "gemm_perf.csv", index=False)
    pd.DataFrame(scales).drop_duplicates().to_csv(quantize / "computescale_perf.csv", index=False)


def test_the_fit_takes_the_scale_pass_out_of_the_fp8_rows(tmp_path) -> None:
    _database(tmp_path, SCALE)
    fit = fit_engine(tmp_path, "toy", "vllm", H100)
    curves = fit.profile.dtype_classes
    # Hand check: the rows' floor is the launch plus the scale pass; without it, the launch.
    assert curves["matmul:fp8"].fixed == pytest.approx(FIXED + SCALE, rel=0.01)
    assert curves["matmul:fp8_static"].fixed == pytest.approx(FIXED, rel=0.01)
    assert "matmul:fp8_static" not in fit.profile.fallbacks
    assert fit.held_out["matmul:fp8_static"]["median"] < 0.01
    assert "db.computescale" in fit.profile.provenance


def test_a_table_of_zeros_leaves_static_scales_on_the_fp8_curves(tmp_path) -> None:
    _database(tmp_path, 0.0)
    profile = fit_engine(tmp_path, "toy", "vllm", H100).profile
    assert "matmul:fp8_static" not in profile.dtype_classes
    assert profile.curves("matmul", "fp8_static") == profile.dtype_classes["matmul:fp8"]
    assert "priced as the fp8 GEMMs" in profile.fallbacks["matmul:fp8_static"]


def test_shapes_the_scale_table_did_not_time_are_left_out(tmp_path) -> None:
    """A 0 in the scale table is a failed measurement: those GEMM rows drop out of the static
    fit (vLLM's B200 table has 8 such rows); the rest still fit it."""
    _database(tmp_path, SCALE)
    path = tmp_path / "toy" / "quantize" / "vllm" / "1.0" / "computescale_perf.csv"
    table = pd.read_csv(path)
    table.loc[table["k"] == 64, "latency"] = 0.0  # one of the four shapes' k
    table.to_csv(path, index=False)
    fit = fit_engine(tmp_path, "toy", "vllm", H100)
    assert fit.held_out["matmul:fp8_static"]["n"] == fit.held_out["matmul:fp8"]["n"] * 3 // 4
    assert fit.profile.dtype_classes["matmul:fp8_static"].fixed < FIXED + SCALE / 2


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_a_generations_decode_steps_take_the_scale_pass(engine: str) -> None:
    """The pass that quantizes FP8 GEMMs' inputs (dynamic scales) is part of every decode
    step, as StepCosts.time prices it: a two-token generation's TPOT is its one decode step's
    time (it had left the pass out, 6.59 ms against 7.28 for Qwen3-32B on vLLM at TP 4), and
    a longer one's decode time lies between its first and last steps' times."""
    import rooflens

    settings = {"engine": engine, "tp": 4, **FP8, "a_scale": "dynamic"}
    two = rooflens.analyze("Qwen/Qwen3-32B", "h100-sxm", prompt_len=4000, gen_len=2, **settings)
    step = float(two.steps["decode"].step_time())
    assert float(two.steps["decode"].total(two.steps["decode"].quantize_time)) > 0
    assert two.generation["tpot"] == pytest.approx(step, rel=1e-9)
    long = rooflens.analyze("Qwen/Qwen3-32B", "h100-sxm", prompt_len=4000, gen_len=513, **settings)
    last = rooflens.analyze("Qwen/Qwen3-32B", "h100-sxm", prompt_len=4511, gen_len=2, **settings)
    first_step, last_step = step, float(last.steps["decode"].step_time())
    assert first_step <= long.generation["tpot"] <= last_step
