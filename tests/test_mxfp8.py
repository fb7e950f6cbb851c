"""MXFP8 checkpoints: FP8 E4M3 weights with one E8M0 scale per 32 (8 + 8/32 = 8.25 bits a
weight), as quant_method mxfp8 (MiniMax-M3-MXFP8), compressed-tensors' MX float format and
ModelOpt's MXFP8 recipe store them; GEMMs at the FP8 peak, and on an engine profile, which
times no MXFP8 kernel, on the block-scaled FP8 curves, a fallback line saying so."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, analyze, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.engines import load_engine_profile
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import bundled_config
from rooflens.models.quant import default_quantization, read_quantization_config

MXFP8 = Quantization(w_bits=8, a_bits=8, w_format="mxfp8")

# A llama of round sizes: hidden 64, MLP 128, 2 layers, 4 query heads and 2 KV heads of 16.
TOY = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 100,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
}


def _toy(quantization_config: dict[str, Any]) -> rooflens.ModelSpec:
    return spec_from_config(TOY | {"quantization_config": quantization_config}, name="toy")


def test_mxfp8_stores_an_e8m0_scale_per_32_weights() -> None:
    # OCP MX v1.0: FP8 E4M3 values, an 8-bit power-of-two scale per 32.
    assert MXFP8.weight_bits_per_param(4096) == 8 + 8 / 32 == 8.25
    assert MXFP8.float_weights and not MXFP8.block_scaled


def test_toy_mxfp8_weight_bytes_by_hand() -> None:
    """Attention in MXFP8, the MLP left out (16-bit), as the checkpoint's ignore list says."""
    spec = _toy({"quant_method": "mxfp8", "ignored_layers": ["lm_head", "mlp"]})
    assert spec.checkpoint_quant.quantization == MXFP8
    assert spec.checkpoint_quant.unquantized == ("mlp",)
    result = rooflens.analyze(spec, "b200", prompt_len=16)
    attention = 2 * (64 * 64 + 64 * 32 + 64 * 32 + 64 * 64)  # q, k, v, o of 2 layers
    mlp = 2 * 3 * 64 * 128  # gate, up, down of 2 layers
    embeddings = 2 * 100 * 64  # embed_tokens and lm_head
    norms = 2 * 2 * 64 + 64
    assert attention == 24_576 and mlp == 49_152
    by_hand = attention * 8.25 / 8 + (mlp + embeddings + norms) * 2
    assert result.memory["decode"].weights == by_hand == 25_344 + 98_304 + 25_600 + 640


def _dtypes(result: Any, name: str) -> tuple[str, str]:
    rows = result.operators().set_index(["stage", "name"])
    return rows.loc[("prefill", name), "compute_dtype"], rows.loc[("prefill", name), "priced_by"]


def test_mxfp8_gemms_compute_at_the_fp8_peak_where_the_device_has_fp8(tiny_model) -> None:
    options = AnalysisOptions(quantization=MXFP8)
    b200 = rooflens.get_device("b200")
    m3 = rooflens.analyze("MiniMaxAI/MiniMax-M3-MXFP8", b200, tp=8, prompt_len=4096)
    q_proj = m3.operators().set_index(["stage", "name"]).loc[("prefill", "q_proj")]
    assert (q_proj["compute_dtype"], q_proj["bound"]) == ("fp8", "compute")
    # Compute-bound at the roofline: its OPs at the FP8 tensor peak.
    assert q_proj["ops"] / q_proj["time"] == pytest.approx(b200.peak_ops["fp8"])
    h100 = rooflens.get_device("h100-sxm")
    assert _dtypes(analyze(tiny_model, h100, prompt_len=64, options=options), "q_proj")[0] == "fp8"
    # No FP8 tensor type: BF16, as FP8 and MXFP4 weights compute there.
    a100 = rooflens.get_device("a100-sxm4-80gb")
    assert _dtypes(analyze(tiny_model, a100, prompt_len=64, options=options), "q_proj")[0] == "bf16"
    # Hopper's vLLM path (Marlin W8A16, BF16 activations) is a_bits=16: weight-only.
    marlin = Quantization(w_bits=8, a_bits=16, w_format="mxfp8")
    rows = analyze(tiny_model, h100, prompt_len=64, options=AnalysisOptions(quantization=marlin))
    q_proj = rows.operators().set_index(["stage", "name"]).loc[("decode", "q_proj")]
    assert q_proj["compute_dtype"] == "bf16" and q_proj["vector_ops"] > 0


def test_an_engine_profile_prices_mxfp8_on_block_fp8_and_names_the_fallback() -> None:
    spec = _toy({"quant_method": "mxfp8", "ignored_layers": ["lm_head"]})
    sglang = rooflens.analyze(spec, "b200", engine="sglang", prompt_len=64)
    assert _dtypes(sglang, "q_proj") == ("fp8", "matmul:fp8_block (fallback)")
    (line,) = sglang.fallbacks
    assert line == (
        "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (matmul:mxfp8): "
        "not measured: the fp8_block curves"
    )
    # vLLM's profile sets its own fp8_block GEMM rows aside (its note says why): fp8 then.
    vllm = rooflens.analyze(spec, "b200", engine="vllm", prompt_len=64)
    assert _dtypes(vllm, "q_proj") == ("fp8", "matmul:fp8 (fallback)")
    (line,) = vllm.fallbacks
    note = load_engine_profile("vllm", "b200").fallbacks["matmul:fp8_block"]
    assert line.endswith("(matmul:mxfp8): not measured, nor fp8_block: " + note)
    # Routed experts: the block-scaled FP8 MoE curves, and a line of their own.
    m3 = rooflens.analyze("MiniMaxAI/MiniMax-M3-MXFP8", "b200", engine="vllm", tp=8)
    assert _dtypes(m3, "expert_up_proj") == ("fp8", "moe:fp8_block (fallback)")
    assert (
        "expert_gate_proj, expert_up_proj, expert_down_proj (moe:mxfp8): not measured: the "
        "fp8_block curves"
    ) in m3.fallbacks
    assert rooflens.analyze(spec, "b200", prompt_len=64).fallbacks == []  # the roofline bound


def test_a_fallback_chain_goes_on_where_the_first_type_has_no_curves() -> None:
    profile = load_engine_profile("vllm", "b200")
    assert "matmul:fp8_block" not in profile.dtype_classes
    assert profile.curves_name("matmul", "mxfp8") == "matmul:fp8"
    without = profile.model_copy(update={"fallbacks": {}})
    assert without.fallback("matmul", "mxfp8") == (
        "matmul:mxfp8",
        "not measured, nor fp8_block: the fp8 curves",
    )


TRANSFORMERS_SAVED = {
    # transformers' FineGrainedFP8Config.to_dict() for an MXFP8 checkpoint: every attribute.
    "quant_method": "mxfp8",
    "activation_scheme": "dynamic",
    "weight_block_size": [1, 32],
    "dequantize": False,
    "modules_to_not_convert": ["lm_head"],
    "modules_to_convert": None,
    "scale_fmt": "ue8m0",
    "expert_dtype": "fp8",
}
MX_ARGS = {"num_bits": 8, "type": "float", "strategy": "group", "group_size": 32}


def _ct(weights: dict, fmt: str | None, group_format: str | None = None, acts: Any = None):
    group: dict[str, Any] = {"targets": ["Linear"], "weights": weights}
    if group_format is not None:
        group["format"] = group_format
    if acts is not None:
        group["input_activations"] = acts
    config: dict[str, Any] = {"quant_method": "compressed-tensors", "config_groups": {"g": group}}
    return config | ({"format": fmt} if fmt is not None else {})


@pytest.mark.parametrize(
    ("config", "kv_bits", "a_bits"),
    [
        # MiniMax-M3-MXFP8's spelling, and the shortest (vLLM's Mxfp8Config example).
        ({"quant_method": "mxfp8", "activation_scheme": "dynamic",
          "weight_block_size": [1, 32], "ignored_layers": ["lm_head"]}, 16, 8),
        ({"quant_method": "mxfp8", "ignored_layers": []}, 16, 8),
        (TRANSFORMERS_SAVED, 16, 8),
        # verl's and SGLang's writers add fmt and scale_fmt; SGLang reads kv_cache_quant_algo.
        ({"quant_method": "mxfp8", "fmt": "e4m3", "scale_fmt": "ue8m0",
          "kv_cache_quant_algo": "FP8", "ignored_layers": ["lm_head"],
          "modules_to_not_convert": ["lm_head"]}, 8, 8),
        # compressed-tensors: AutoRound's mxfp8-quantized, a group's own format beside a
        # mixed-precision one, and 8-bit float groups of 32 with uint8 scales alone.
        (_ct({**MX_ARGS, "symmetric": True}, "mxfp8-quantized",
             acts={**MX_ARGS, "dynamic": True}), 16, 8),
        (_ct({**MX_ARGS, "scale_dtype": "torch.uint8"}, "mixed-precision", "mxfp8-quantized",
             acts={**MX_ARGS, "dynamic": True}), 16, 8),
        (_ct({**MX_ARGS, "scale_dtype": "torch.uint8"}, None), 16, 16),
        # ModelOpt: its config.json, flat, and its hf_quant_config.json, nested.
        ({"quant_method": "modelopt", "quant_algo": "MXFP8", "ignore": ["lm_head"],
          "kv_cache_scheme": {"dynamic": False, "num_bits": 8, "type": "float"}}, 8, 8),
        ({"quant_method": "modelopt", "quantization": {"quant_algo": "MXFP8",
          "kv_cache_quant_algo": "FP8", "group_size": 32, "exclude_modules": ["lm_head"]}},
         8, 8),
    ],
)  # fmt: skip
def test_each_spelling_reads_as_mxfp8(config: dict, kv_bits: int, a_bits: int) -> None:
    quant = read_quantization_config(config)
    assert quant.quantization == MXFP8.model_copy(update={"kv_bits": kv_bits, "a_bits": a_bits})
    assert quant.unquantized == ()  # lm_head is 16-bit anyway


def test_plain_fp8_in_groups_of_32_stays_fp8_with_fp32_scales() -> None:
    """Without an MX format or one-byte scales, 8-bit float groups are FP8 with a scale of
    32 bits per group, as before."""
    quant = read_quantization_config(_ct(MX_ARGS, "float-quantized")).quantization
    assert (quant.w_format, quant.w_scale) == ("fp", 32)


def test_a_modelopt_mixed_precision_recipe_may_list_mxfp8_modules() -> None:
    spec = spec_from_config(
        TOY
        | {
            "quantization_config": {
                "quant_method": "modelopt",
                "quant_algo": "MIXED_PRECISION",
                "quantized_layers": {
                    f"model.layers.{i}.{m}": {"quant_algo": algo, "group_size": group}
                    for i in range(2)
                    for m, algo, group in (
                        *((f"self_attn.{p}_proj", "FP8", None) for p in "qkvo"),
                        *((f"mlp.{p}_proj", "MXFP8", 32) for p in ("gate", "up", "down")),
                    )
                },
            }
        },
        name="toy",
    )
    quant = spec.checkpoint_quant
    assert quant.quantization == MXFP8  # the MLPs hold the most weights
    ((cls, attention),) = quant.modules
    assert (cls, attention.w_format, attention.w_scale) == ("attention", "fp", "tensor")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"quant_method": "mxfp8", "activation_scheme": "static"},
         "quantization_config (mxfp8): activation_scheme='static' is invalid: expected "
         "'dynamic' (MXFP8: FP8 E4M3 weights, an E8M0 scale per 32, activations quantized as "
         "they come) or absent"),
        ({"quant_method": "mxfp8", "weight_block_size": [128, 128]},
         "quantization_config (mxfp8): weight_block_size=[128, 128] is invalid: expected "
         "[1, 32] (MXFP8: FP8 E4M3 weights, an E8M0 scale per 32, activations quantized as "
         "they come) or absent"),
        ({"quant_method": "mxfp8", "scale_fmt": "float"},
         "quantization_config (mxfp8): scale_fmt='float' is invalid: expected 'ue8m0'"),
        ({"quant_method": "mxfp8", "fmt": "e5m2"},
         "quantization_config (mxfp8): fmt='e5m2' is invalid: expected 'e4m3' or "
         "'float8_e4m3fn'"),
        ({"quant_method": "mxfp8", "dequantize": True},
         "quantization_config (mxfp8): dequantize=True is invalid: expected False"),
        ({"quant_method": "mxfp8", "modules_to_convert": ["model.embed_tokens"]},
         "quantization_config (mxfp8): modules_to_convert=['model.embed_tokens'] is invalid: "
         "expected []"),
        ({"quant_method": "mxfp8", "expert_dtype": "fp4"},
         "quantization_config (mxfp8): expert_dtype='fp4' is invalid: expected 'fp8'"),
        ({"quant_method": "mxfp8", "moe_quant_algo": "NVFP4"},
         "quantization_config (mxfp8): moe_quant_algo='NVFP4' is not supported; rooflens reads "
         "quant_method, activation_scheme, weight_block_size, scale_fmt, fmt, dequantize, "
         "modules_to_convert, expert_dtype, ignored_layers, modules_to_not_convert, "
         "kv_cache_quant_algo"),
        ({"quant_method": "mxfp8", "ignored_layers": ["lm_head"],
          "modules_to_not_convert": ["lm_head", "mlp"]},
         "quantization_config (mxfp8): ignored_layers=['lm_head'] and modules_to_not_convert="
         "['lm_head', 'mlp'] differ; vLLM reads the first, transformers the second: give one "
         "list"),
        ({"quant_method": "mxfp8", "ignored_layers": "lm_head"},
         "quantization_config (mxfp8): ignored_layers='lm_head' is invalid: expected a JSON "
         "array of module names"),
        ({"quant_method": "mxfp8", "kv_cache_quant_algo": "INT4"},
         "quantization_config (mxfp8): kv_cache_quant_algo='INT4' is not supported; "
         "supported: FP8, INT8, NVFP4 or null"),
        (_ct({**MX_ARGS, "group_size": 16}, "mxfp8-quantized"),
         "quantization_config (compressed-tensors): weights.group_size=16 is invalid for "
         "MXFP8: expected 32 (FP8 E4M3 values, an E8M0 scale per 32)"),
        (_ct({**MX_ARGS, "num_bits": 4}, None, "mxfp8-quantized"),
         "quantization_config (compressed-tensors): weights.num_bits=4 is invalid for MXFP8: "
         "expected 8 (FP8 E4M3 values, an E8M0 scale per 32)"),
        (_ct({**MX_ARGS, "symmetric": False}, "mxfp8-quantized"),
         "quantization_config (compressed-tensors): weights.symmetric=False is invalid for "
         "MXFP8: expected true (MX stores scales, no zero points)"),
        (_ct(MX_ARGS, "mxfp8-quantized", acts={**MX_ARGS, "dynamic": False}),
         "quantization_config (compressed-tensors): input_activations.dynamic=False is "
         "invalid for MXFP8: expected true (MX scales activations per 32 as they come)"),
        ({"quant_method": "modelopt", "quantization": {"quant_algo": "MXFP8",
          "group_size": 16}},
         "quantization_config (modelopt): group_size=16 is invalid: MXFP8 scales groups of 32"),
    ],
)  # fmt: skip
def test_what_mxfp8_cannot_be_is_refused_in_one_line(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        read_quantization_config(config)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_minimax_m3_mxfp8_weighs_what_its_checkpoint_stores() -> None:
    """The published config.json with its quantization_config: every block linear but the
    57 routers in MXFP8. The checkpoint lists 440,279,845,760 elements, 13,239,705,600 of them
    E8M0 scales (one byte each, one per 32 FP8 weights); its other tensors are BF16."""
    spec = load_model("MiniMaxAI/MiniMax-M3-MXFP8")
    assert default_quantization(spec) == MXFP8
    assert spec.checkpoint_quant.unquantized == ("router",)
    scales, elements = 13_239_705_600, 440_279_845_760
    graph = build_graph(spec, AnalysisOptions(quantization=MXFP8, unquantized_modules=("router",)))
    quantized = sum(
        round(graph.count(op) * op.params())
        for op in graph.operators
        if getattr(op, "quantized", 0)
    )
    assert quantized == 32 * scales
    stored = 32 * scales + scales + 2 * (elements - scales - 32 * scales)  # bytes
    language = rooflens.analyze(spec, "b200").memory["decode"].weights
    assert language + 2 * vision_params(spec) == stored == 443_649_406_720  # about 444 GB
    # Everything else in it is the published config the vision tests read without it.
    published = copy.deepcopy(bundled_config("MiniMaxAI/MiniMax-M3-MXFP8"))
    del published["quantization_config"]
    without = json.loads(
        (Path(__file__).parent / "data" / "minimax_m3_vl" / "config.json").read_text()
    )
    assert published == without


MX4_ARGS = {"num_bits": 4, "type": "float", "strategy": "group", "group_size": 32}


@pytest.mark.parametrize(
    "config",
    [
        _ct(MX4_ARGS, "mxfp4-pack-quantized"),
        # A group's own format (beside a mixed-precision one), and one-byte scales alone.
        _ct(MX4_ARGS, "mixed-precision", "mxfp4-pack-quantized"),
        _ct({**MX4_ARGS, "scale_dtype": "torch.uint8"}, None),
    ],
)
def test_compressed_tensors_mxfp4_is_told_apart_as_mxfp8_is(config: dict) -> None:
    """4-bit floats in groups of 32 are MXFP4 (4.25 bits a weight) wherever the format or the
    scales say so: a group's own format had read as FP4 with a 32-bit scale per group."""
    quant = read_quantization_config(config).quantization
    assert (quant.w_bits, quant.w_format) == (4, "mxfp4")
    plain = read_quantization_config(_ct(MX4_ARGS, "float-quantized")).quantization
    assert (plain.w_format, plain.w_scale) == ("fp", 32)


@pytest.mark.parametrize("value", [[], "", False, 0])
def test_a_quantization_config_that_is_not_an_object_is_refused(value: object) -> None:
    # Each read as a 16-bit checkpoint, as an absent quantization_config does.
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(TOY | {"quantization_config": value})
    assert str(error.value) == f"quantization_config={value!r} is invalid: expected a JSON object"


_MXFP8_CT = {**MX_ARGS, "symmetric": True}
_MXFP8_ACTS = {**MX_ARGS, "dynamic": True}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # [true, 32] and [1.0, 32] compared equal to [1, 32].
        ({"quant_method": "mxfp8", "weight_block_size": [True, 32]},
         "(mxfp8): weight_block_size=[True, 32] is invalid: expected [1, 32] (MXFP8: FP8 E4M3 "
         "weights, an E8M0 scale per 32, activations quantized as they come) or absent"),
        ({"quant_method": "mxfp8", "weight_block_size": [1.0, 32]},
         "(mxfp8): weight_block_size=[1.0, 32] is invalid: expected [1, 32] (MXFP8: FP8 E4M3 "
         "weights, an E8M0 scale per 32, activations quantized as they come) or absent"),
        ({"quant_method": "modelopt", "quantization": {"quant_algo": "MXFP8", "group_size": 32.0}},
         "(modelopt): group_size=32.0 is invalid: MXFP8 scales groups of 32"),
        (_ct({**_MXFP8_CT, "group_size": 32.0}, "mxfp8-quantized"),
         "(compressed-tensors): weights.group_size=32.0 is invalid for MXFP8: expected 32 (FP8 "
         "E4M3 values, an E8M0 scale per 32)"),
        # A format or scale dtype that is not text read as "not MX": FP8 with a 32-bit scale
        # per group of 32; a type or strategy that is not text as integer weights or a scale
        # per tensor; any dynamic flag as dynamic.
        (_ct(_MXFP8_CT, 1.5, acts=_MXFP8_ACTS),
         "(compressed-tensors): format=1.5 is invalid: expected text"),
        (_ct(_MXFP8_CT, "mixed-precision", 8, acts=_MXFP8_ACTS),
         "(compressed-tensors): config_groups.g.format=8 is invalid: expected text"),
        (_ct({**MX_ARGS, "scale_dtype": 8}, None),
         "(compressed-tensors): weights.scale_dtype=8 is invalid: expected text"),
        (_ct({**MX_ARGS, "type": 1.5}, None),
         "(compressed-tensors): weights.type=1.5 is invalid: expected 'int' or 'float'"),
        (_ct({**MX_ARGS, "strategy": 1.5}, None),
         "(compressed-tensors): weights.strategy=1.5 is invalid: expected text (tensor, "
         "channel, group, block, ...)"),
        (_ct(_MXFP8_CT, "mxfp8-quantized", acts={**MX_ARGS, "dynamic": "x"}),
         "(compressed-tensors): input_activations.dynamic='x' is invalid: expected true, false "
         "or 'local'"),
        # Refused as "scheme as read=None is invalid: Value error, w_format='fp' ...".
        (_ct({**MX_ARGS, "num_bits": 1}, "float-quantized"),
         "(compressed-tensors): weights.num_bits=1 is invalid for float weights: expected 8 "
         "(FP8) or 4 (FP4)"),
    ],
)  # fmt: skip
def test_malformed_mx_recipes_are_refused_naming_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError) as error:
        _toy(config)
    assert str(error.value) == f"quantization_config {message}"
