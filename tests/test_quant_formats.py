"""Weight formats (int, fp, nf4, mxfp4) and the cost of dequantizing weights on the fly."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, analyze


@pytest.mark.parametrize(
    ("fmt", "bits", "expected"),
    [
        ("int", 4, 4 + 20 / 128),  # group 128: fp16 scale + 4-bit zero
        ("nf4", 4, 4 + 8 / 64 + 32 / 16384),  # QLoRA double quantization: 4.127 bits
        ("mxfp4", 4, 4.25),  # 32-element blocks with an 8-bit exponent
        ("fp", 8, 8 + 32 / 4096),  # FP8 with one fp32 scale per output channel
    ],
)
def test_bits_per_weight(fmt: str, bits: int, expected: float) -> None:
    # A group size is the integer format's; the others scale by their own blocks.
    q = Quantization(w_bits=bits, w_format=fmt, group_size=128 if fmt == "int" else None)
    assert q.weight_bits_per_param(4096) == pytest.approx(expected)


def _dtype(model, device, **q) -> str:
    rows = analyze(
        model, device, prompt_len=64, options=AnalysisOptions(quantization=Quantization(**q))
    ).operators()
    return rows.set_index(["stage", "name"]).loc[("decode", "q_proj"), "compute_dtype"]


def test_float_formats_use_float_tensor_types(tiny_model) -> None:
    h100 = rooflens.get_device("h100-sxm")
    assert _dtype(tiny_model, h100, w_bits=8, a_bits=8) == "int8"
    assert _dtype(tiny_model, h100, w_bits=8, a_bits=8, w_format="fp") == "fp8"
    b200 = rooflens.get_device("b200")
    if "fp4" in b200.peak_ops:
        assert _dtype(tiny_model, b200, w_bits=4, a_bits=4, w_format="mxfp4") == "fp4"
    # No FP8 tensor type: integer units cannot hold float values, so FP8 and MXFP4 compute at
    # BF16 on an A100 (they were priced at its INT8 peak, 1.7 times faster than BF16).
    a100 = rooflens.get_device("a100-sxm4-80gb")
    assert "fp8" not in a100.peak_ops and "int8" in a100.peak_ops
    assert _dtype(tiny_model, a100, w_bits=8, a_bits=8, w_format="fp") == "bf16"
    assert _dtype(tiny_model, a100, w_bits=4, a_bits=4, w_format="mxfp4") == "bf16"
    assert _dtype(tiny_model, a100, w_bits=8, a_bits=8) == "int8"  # integer W8A8 keeps INT8


@pytest.mark.parametrize(
    ("q", "field", "message"),
    [
        ({"w_bits": 8, "w_format": "nf4"}, "w_bits", "expected 4 with w_format='nf4'"),
        ({"w_bits": 4, "a_bits": 8, "w_format": "nf4"}, "a_bits", "weight-only"),
        ({"w_bits": 2, "w_format": "fp"}, "w_bits", "FP8 or FP4"),
        ({"w_format": "awq"}, "w_format", "one of int, fp, nf4, mxfp4"),
    ],
)
def test_bad_format_combinations(q: dict, field: str, message: str) -> None:
    # Each rule across settings names the setting the user would change.
    with pytest.raises(rooflens.InvalidInputError, match=message) as info:
        rooflens.make_options(**q)
    assert info.value.field == field


def _q_proj(model, device, batch: int, **q):
    rows = analyze(
        model,
        device,
        batch=batch,
        prompt_len=8,
        options=AnalysisOptions(quantization=Quantization(**q)),
    ).operators()
    return rows[(rows.stage == "decode") & (rows.name == "q_proj")].iloc[0]


def test_weight_only_pays_dequantization_per_row_tile(tiny_model, toy_device) -> None:
    # 64 x 64 weights, 2 ops each, once per 128 rows of activations.
    assert _q_proj(tiny_model, toy_device, 1, w_bits=4).vector_ops == 64 * 64 * 2
    assert _q_proj(tiny_model, toy_device, 300, w_bits=4).vector_ops == 64 * 64 * 2 * 3
    assert _q_proj(tiny_model, toy_device, 300, w_bits=8, a_bits=8).vector_ops == 0
    assert _q_proj(tiny_model, toy_device, 300).vector_ops == 0
    # Pruned, only the weights kept are stored and dequantized (every dense weight was).
    assert _q_proj(tiny_model, toy_device, 1, w_bits=4, nm_sparsity=(2, 4)).vector_ops == (
        64 * 64 / 2 * 2
    )
    pruned = _q_proj(tiny_model, toy_device, 300, w_bits=4, sparsity=0.75, sparse_kernel=True)
    assert pruned.vector_ops == 64 * 64 / 4 * 2 * 3


def test_dequantization_shows_at_large_batch() -> None:
    """W4A16 decode: much faster than fp16 at batch 1, no faster at a compute-bound batch."""

    def decode(bits: int, batch: int) -> float:
        result = rooflens.analyze(
            "meta-llama/Llama-2-7b-hf", "a6000", batch=batch, prompt_len=256, w_bits=bits
        )
        return float(result.totals()["decode"]["time"])

    assert decode(4, 1) < 0.35 * decode(16, 1)
    assert decode(4, 1024) > decode(16, 1024)


def test_float_weights_without_their_tensor_type_run_weight_only(tiny_model, toy_device) -> None:
    # The toy device has no FP8 or FP4 units: NVFP4 W4A4 runs as Marlin's W4A16, its 64 x 64
    # weights dequantized once per 128 rows (3 tiles at 300 rows, 2 OPs each) and its
    # inputs read at 16 bits (300 rows x 64 x 2 bytes); the weights stay 4.5 bits each.
    row = _q_proj(tiny_model, toy_device, 300, w_bits=4, a_bits=4, w_format="nvfp4")
    assert row.compute_dtype == "fp16"
    assert row.vector_ops == 64 * 64 * 2 * 3
    assert row.load_act == 300 * 64 * 2
    assert row.load_weight == 64 * 64 * 4.5 / 8
    # With FP4 units it computes at FP4 on 4-bit inputs, with nothing to dequantize.
    fp4 = toy_device.model_copy(update={"peak_ops": {**toy_device.peak_ops, "fp4": 400e12}})
    native = _q_proj(tiny_model, fp4, 300, w_bits=4, a_bits=4, w_format="nvfp4")
    assert (native.compute_dtype, native.vector_ops, native.load_act) == ("fp4", 0, 300 * 64 / 2)
    # FP4 weights beside FP8 activations compute at FP8 where the device has it.
    fp8 = toy_device.model_copy(update={"peak_ops": {**toy_device.peak_ops, "fp8": 200e12}})
    assert _q_proj(tiny_model, fp8, 300, w_bits=4, a_bits=8, w_format="fp").compute_dtype == "fp8"


def test_weight_only_fallback_is_said(tiny_model) -> None:
    def lines(device: str, **q) -> list[str]:
        options = AnalysisOptions(quantization=Quantization(**q))
        return analyze(tiny_model, rooflens.get_device(device), options=options).fallbacks

    (line,) = lines("h100-sxm", w_bits=4, a_bits=4, w_format="nvfp4")
    assert line.startswith("NVFP4 weights with 4-bit activations: NVIDIA H100 SXM5 80GB has no")
    assert "W4A16" in line
    (line,) = lines("a100-sxm4-80gb", w_bits=8, a_bits=8, w_format="fp")
    assert line.startswith("FP8 weights with 8-bit activations") and "W8A16" in line
    assert lines("b200", w_bits=4, a_bits=4, w_format="nvfp4") == []
    assert lines("h100-sxm", w_bits=8, a_bits=8, w_format="fp") == []
    assert lines("a100-sxm4-80gb", w_bits=4, w_format="mxfp4") == []  # already W4A16


def test_simulation_says_weight_only_fallback() -> None:
    from rooflens.serving.workload import Workload

    result = rooflens.simulate(
        "nvidia/Qwen3-32B-NVFP4", "h100-sxm", Workload(requests=2, prompt=64, output=4)
    )
    assert any(line.startswith("NVFP4 weights with 4-bit") for line in result.fallbacks)
