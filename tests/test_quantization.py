"""Bit-widths, group scales and the compute precision rule (seed 000, sec. 3.1.1)."""

from __future__ import annotations

import pytest

from rooflens.core import AnalysisOptions, Device, InvalidInputError, Quantization, analyze

H100_LIKE = Device(
    name="h100-like",
    memory_capacity=80e9,
    memory_bandwidth=3.35e12,
    peak_ops={"fp32": 67e12, "bf16": 989e12, "fp16": 989e12, "fp8": 1979e12, "int8": 1979e12},
)
A100_LIKE = H100_LIKE.model_copy(
    update={"peak_ops": {"fp32": 19.5e12, "bf16": 312e12, "int8": 624e12, "int4": 1248e12}}
)


def _dtypes(model, device, **bits) -> dict:
    opts = AnalysisOptions(quantization=Quantization(**bits))
    frame = analyze(model, device, batch=1, prompt_len=64, options=opts).operators()
    return dict(zip(frame.name, frame.compute_dtype, strict=False))


@pytest.mark.parametrize(
    ("bits", "device", "linear", "attention"),
    [
        ({"w_bits": 4, "a_bits": 16}, H100_LIKE, "bf16", "bf16"),  # weight-only: 16-bit compute
        ({"w_bits": 8, "a_bits": 8}, H100_LIKE, "int8", "bf16"),  # W8A8 with a 16-bit KV cache
        ({"w_bits": 4, "a_bits": 4, "kv_bits": 4}, H100_LIKE, "int8", "int8"),  # no INT4: raised
        ({"w_bits": 4, "a_bits": 4, "kv_bits": 4}, A100_LIKE, "int4", "int4"),
        ({"w_bits": 2, "a_bits": 2, "kv_bits": 8}, A100_LIKE, "int4", "int8"),
    ],
)
def test_compute_runs_at_shared_precision(tiny_model, bits, device, linear, attention) -> None:
    dtypes = _dtypes(tiny_model, device, **bits)
    assert dtypes["q_proj"] == linear
    assert dtypes["qk_matmul"] == attention
    assert dtypes["softmax"] == "fp32"  # vector units
    assert dtypes["lm_head"] == "bf16"  # the head stays 16-bit, so its matmul does too


def test_weight_bytes_scale_with_bits(tiny_model, toy_device) -> None:
    def q_proj_weight(w_bits: int) -> float:
        opts = AnalysisOptions(quantization=Quantization(w_bits=w_bits, group_size=64))
        frame = analyze(tiny_model, toy_device, options=opts, prompt_len=8).operators()
        return frame[frame.name == "q_proj"].load_weight.iloc[0]

    # 64 x 64 weights; each group of 64 adds a 16-bit scale and a w_bits zero point.
    for bits in (8, 4, 3, 2, 1):
        assert q_proj_weight(bits) == pytest.approx(64 * 64 * bits / 8 + 64 * (16 + bits) / 8)
    assert q_proj_weight(16) == 64 * 64 * 2


def test_kv_and_activation_bits(tiny_model, toy_device) -> None:
    opts = AnalysisOptions(quantization=Quantization(w_bits=8, a_bits=8, kv_bits=4))
    rows = analyze(tiny_model, toy_device, batch=2, prompt_len=8, options=opts).operators()
    prefill = rows[rows.stage == "prefill"].set_index("name")
    # 8-bit activations are the quantized GEMMs' inputs: q_proj reads 16 tokens x 64 at one
    # byte and writes its 16 x 64 output at two; the queries attention reads stay 16-bit.
    assert prefill.loc["q_proj", "load_act"] == 16 * 64 * 1
    assert prefill.loc["q_proj", "store_act"] == 16 * 64 * 2
    assert prefill.loc["qk_matmul", "load_act"] == 16 * 64 * 2
    # A 4-bit cache stores a 16-bit scale and zero point per 32 values (KIVI): 5 bits each.
    assert prefill.loc["qk_matmul", "load_kv"] == 2 * 2 * 8 * 16 * 5 / 8
    # The residual stream and norms too: the add reads two and writes one 16 x 64 tensor.
    assert prefill.loc["attn_add", "load_act"] + prefill.loc["attn_add", "store_act"] == (
        3 * 16 * 64 * 2
    )


def test_quantized_decode_is_faster_when_memory_bound(tiny_model, toy_device) -> None:
    def decode_time(w_bits: int) -> float:
        opts = AnalysisOptions(quantization=Quantization(w_bits=w_bits))
        return analyze(tiny_model, toy_device, options=opts, prompt_len=8).totals()["decode"][
            "time"
        ]

    assert decode_time(4) < decode_time(8) < decode_time(16)


def test_an_fp8_cache_computes_attention_as_fp8_where_int8_is_slower() -> None:
    """A B300's INT8 peak is 1/36 of its FP8 one (NVIDIA's HGX B300 table); attention over an
    FP8 cache of an FP8 checkpoint ran at INT8's and a prefill of 8,192 tokens took 3.5 times
    a B200's (347 ms against 100 ms). B200 and B300 share FP8 peak and bandwidth, so the two
    prefills are now equal."""
    import rooflens

    def prefill(device: str):
        return rooflens.analyze(
            "nvidia/Llama-3.1-8B-Instruct-FP8", device, batch=1, prompt_len=8192, gen_len=None
        )

    b300, b200 = prefill("b300"), prefill("b200")
    rows = b300.operators()
    attention = rows[rows.name.isin(["qk_matmul", "sv_matmul"])]
    assert set(attention.compute_dtype) == {"fp8"}
    assert b300.totals()["prefill"]["time"] == pytest.approx(b200.totals()["prefill"]["time"])


def test_narrow_activations_need_quantized_weights() -> None:
    """Activations are quantized on the way into a quantized GEMM: with 16-bit weights no
    GEMM takes 8-bit inputs (W16A8 runs on no engine), so it is refused, naming a_bits; W8A8
    and W4A8 stand, as do 16 or 32-bit activations beside 16-bit weights."""
    with pytest.raises(InvalidInputError, match=r"^a_bits=8 is invalid: expected 16 while "):
        Quantization(a_bits=8)
    for w_bits, a_bits in ((8, 8), (4, 8), (16, 16), (16, 32)):
        assert Quantization(w_bits=w_bits, a_bits=a_bits).a_bits == a_bits
