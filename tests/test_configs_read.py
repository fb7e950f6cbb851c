"""config.json files read as they are written, or refused naming the field, the value and what
is accepted: nothing unknown is read as something rooflens knows."""

from __future__ import annotations

import json
import re

import pytest

import rooflens
from config_edit import mutated
from rooflens import ModelConfigError
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import InvalidInputError
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config
from rooflens.models.catalog import bundled_config

# --- layer_types ----------------------------------------------------------------------------


def test_known_layer_types_are_counted() -> None:
    assert spec_from_config(bundled_config("openai/gpt-oss-20b")).window_layers == 12
    # gemma-3-1b-it has no layer_types: every sixth of its 26 layers is global.
    assert spec_from_config(bundled_config("google/gemma-3-1b-it")).window_layers == 22
    every_other = ["sliding_attention", "full_attention"] * 18
    qwen = mutated("Qwen/Qwen3-8B", "layer_types", every_other)
    # Qwen3-8B's sliding_window is null (no window layer); with one, layer_types marks 18.
    window = {"use_sliding_window": True, "sliding_window": 4096}
    assert spec_from_config(qwen | window).window_layers == 18
    assert spec_from_config(qwen | {"use_sliding_window": True}).window_layers is None


_OSS, _GEMMA3, _QWEN3 = "openai/gpt-oss-20b", "google/gemma-3-1b-it", "Qwen/Qwen3-8B"
_WINDOWED = "['full_attention', 'sliding_attention']"


@pytest.mark.parametrize(
    ("model", "path", "value", "message"),
    [
        # Each was read as full attention in every layer it named (gpt-oss-20b's KV cache at
        # 128k tokens: twice its size, the 12 window layers holding every token).
        (_OSS, "layer_types", ["sliding_window"] * 24,
         f"layer_types holds ['sliding_window']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", ["chunked_attention", "full_attention"] * 12,
         f"layer_types holds ['chunked_attention']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", [0, 1] * 12, f"layer_types holds [0, 1]; supported: {_WINDOWED}"),
        (_GEMMA3, "layer_types", ["local"] * 5 + ["full_attention"] + ["local"] * 20,
         f"layer_types holds ['local']; supported: {_WINDOWED}"),
        (_QWEN3, "layer_types", ["sliding"] * 36,
         f"layer_types holds ['sliding']; supported: {_WINDOWED}"),
        ("meta-llama/Llama-4-Scout-17B-16E", "text_config.layer_types",
         ["sliding_attention"] * 48,
         "layer_types holds ['sliding_attention']; supported: ['chunked_attention', "
         "'full_attention']"),
        ("google/gemma-4-26B-A4B", "text_config.layer_types", ["global"] * 30,
         f"layer_types holds ['global']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", ["sliding_attention"] * 23,
         "layer_types has 23 entries for num_hidden_layers=24"),
    ],
)  # fmt: skip
def test_unknown_layer_types_are_refused(model, path, value, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(mutated(model, path, value))


def test_qwen_layer_types_are_checked_with_the_window_on_or_off() -> None:
    config = mutated(_QWEN3, "layer_types", ["sliding"] * 36)
    for on in (True, False):
        with pytest.raises(ModelConfigError, match="layer_types holds \\['sliding'\\]"):
            spec_from_config(config | {"use_sliding_window": on})


# --- values that crashed the reader (exit 1) --------------------------------------------------


def _qwen3_8b(quantization_config: object) -> dict:
    return {**bundled_config("Qwen/Qwen3-8B"), "quantization_config": quantization_config}


# ModelOpt's FP8 export as its convert_hf_quant_config_format wrote it into config.json in 0.29
# to 0.31: the KV recipe's name in kv_cache_scheme, where later versions write FP8 as
# compressed-tensors' object and keep the name for the other recipes.
_MODELOPT_FP8 = {
    "config_groups": {"group_0": {
        "input_activations": {"dynamic": False, "num_bits": 8, "type": "float"},
        "weights": {"dynamic": False, "num_bits": 8, "type": "float"},
    }},
    "ignore": ["lm_head"],
    "quant_algo": "FP8",
    "kv_cache_scheme": "FP8",
    "producer": {"name": "modelopt", "version": "0.31.0"},
    "quant_method": "modelopt",
}  # fmt: skip


@pytest.mark.parametrize(
    ("scheme", "kv_bits"),
    [("FP8", 8), ("INT8", 8), ("NVFP4", 4), ({"num_bits": 8, "type": "float"}, 8), (None, 16)],
)
def test_modelopt_kv_cache_scheme_is_read_as_named_or_as_an_object(scheme, kv_bits) -> None:
    spec = spec_from_config(_qwen3_8b(_MODELOPT_FP8 | {"kv_cache_scheme": scheme}))
    quant = spec.checkpoint_quant.quantization
    assert (quant.w_bits, quant.w_format, quant.a_bits, quant.kv_bits) == (8, "fp", 8, kv_bits)


def test_modelopt_kv_cache_scheme_string_prices_an_8_bit_cache() -> None:
    import rooflens

    spec = spec_from_config(_qwen3_8b(_MODELOPT_FP8))
    fp8 = rooflens.analyze(spec, "h100-sxm", batch=1, prompt_len=1000, gen_len=1)
    bf16 = rooflens.analyze(spec, "h100-sxm", batch=1, prompt_len=1000, gen_len=1, kv_bits=16)
    # 36 layers x 8 KV heads x 128 x (K and V) = 73,728 values per token, 1,000 tokens.
    assert fp8.memory["prefill"].kv_cache == 73_728_000
    assert bf16.memory["prefill"].kv_cache == 2 * 73_728_000


_CT_FP8 = {
    "quant_method": "compressed-tensors",
    "config_groups": {"g": {
        "targets": ["Linear"],
        "weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
    }},
}  # fmt: skip
_ARGS = "expected an object with num_bits (compressed-tensors' QuantizationArgs) or null"


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        # Each was an internal error (AttributeError, ValueError) or, for the names, read
        # letter by letter ("cannot tell which module 'l'").
        (_CT_FP8 | {"kv_cache_scheme": "FP8"}, f"kv_cache_scheme='FP8' is invalid: {_ARGS}"),
        ({**_CT_FP8, "config_groups": {"g": {**_CT_FP8["config_groups"]["g"],
                                              "input_activations": "fp8"}}},
         f"config_groups.g.input_activations='fp8' is invalid: {_ARGS}"),
        (_CT_FP8 | {"ignore": "lm_head"},
         "ignore='lm_head' is invalid: expected a JSON array of module names"),
        ({**_CT_FP8, "config_groups": {"g": {**_CT_FP8["config_groups"]["g"],
                                              "targets": "Linear"}}},
         "config_groups.g.targets='Linear' is invalid: expected a JSON array of module names"),
        ({"quant_method": "modelopt", "quantization": [1]},
         "(modelopt): quantization=[1] is invalid: expected an object"),
        ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_scheme": [8]},
         f"kv_cache_scheme=[8] is invalid: {_ARGS}, or a KV recipe's name"),
        ({"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_scheme": {"num_bits": "x"}},
         "kv_cache_scheme.num_bits='x' is invalid: expected a positive integer"),
        (_MODELOPT_FP8 | {"kv_cache_scheme": "NVFP4_AFFINE"},
         "kv_cache_scheme='NVFP4_AFFINE' is not supported; supported: FP8, INT8, NVFP4 or null"),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4", "exclude_modules": "lm_head"},
         "exclude_modules='lm_head' is invalid: expected a JSON array of module names"),
        ({"quant_method": "fp8", "modules_to_not_convert": [1, 2]},
         "modules_to_not_convert=[1, 2] is invalid: expected a JSON array of module names"),
        ({"quant_method": "awq", "bits": 4, "modules_to_not_convert": "self_attn"},
         "modules_to_not_convert='self_attn' is invalid: expected a JSON array of module names"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "llm_int8_skip_modules": "x"},
         "llm_int8_skip_modules='x' is invalid: expected a JSON array of module names"),
    ],
)  # fmt: skip
def test_quantization_config_values_of_the_wrong_form_are_refused(recipe, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_qwen3_8b(recipe))


def _without(model: str, key: str, **changes: object) -> dict:
    """A bundled config (its text_config for wrappers) without `key`, with `changes`."""
    config = json.loads(json.dumps(bundled_config(model)))
    config.pop(key)
    return config | changes


def test_layer_patterns_without_layer_types_are_read() -> None:
    # Qwen3-Next-80B: every fourth of 48 layers full attention.
    qwen3_next = _without("Qwen/Qwen3-Next-80B-A3B-Instruct", "layer_types")
    spec = spec_from_config(qwen3_next)
    assert (spec.mixer_layers, spec.attention_layers) == (36, 12)
    spec = spec_from_config(qwen3_next | {"full_attention_interval": 6})
    assert (spec.mixer_layers, spec.attention_layers) == (40, 8)


_NANO = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # Each was an internal error: ZeroDivisionError, TypeError, ValueError.
        (mutated(_GEMMA3, "sliding_window_pattern", 0),
         "'gemma3_text': sliding_window_pattern=0 is invalid: expected a positive integer"),
        (_without("Qwen/Qwen3-Next-80B-A3B-Instruct", "layer_types", full_attention_interval=0),
         "'qwen3_next': full_attention_interval=0 is invalid: expected a positive integer"),
        (mutated(_NANO, "hybrid_override_pattern", 5),
         "'nemotron_h': hybrid_override_pattern=5 is invalid: expected a string of one symbol "
         "per layer among M, *, -, E"),
        (mutated("MiniMaxAI/MiniMax-Text-01", "attn_type_list", True),
         "'minimax': attn_type_list=True is invalid: expected a JSON array"),
        (mutated("MiniMaxAI/MiniMax-Text-01", "attn_type_list", [0, 2] * 40),
         "attn_type_list=[0, 2, 0, 2, 0, 2"),
        (mutated("moonshotai/Kimi-Linear-48B-A3B-Instruct", "linear_attn_config.full_attn_layers",
                  4),
         "linear_attn_config.full_attn_layers=4 is invalid: expected a JSON array of layer "
         "numbers from 1 to num_hidden_layers=27"),
        (mutated("Qwen/Qwen3.5-9B", "text_config", "x"),
         "'qwen3_5': text_config='x' is invalid: expected a JSON object"),
        (mutated("meta-llama/Llama-4-Scout-17B-16E", "text_config.no_rope_layers", [1, 0]),
         "no_rope_layers=[1, 0] is invalid: expected 0 (NoPE, global) or 1 (RoPE, chunked) for "
         "each of the 48 layers"),
        (mutated("meta-llama/Llama-4-Scout-17B-16E", "vision_config.pixel_shuffle_ratio", 0),
         "pixel_shuffle_ratio=0 is invalid: expected a number above 0 and at most 1"),
        (mutated("mistralai/Mistral-Small-3.2-24B-Instruct-2506", "spatial_merge_size", 0),
         "'mistral3': spatial_merge_size=0 is invalid: expected a positive integer"),
        (mutated("moonshotai/Kimi-K2.5", "vision_config.patch_size", 0),
         "patch_size=0 is invalid: expected a positive integer"),
        (mutated("moonshotai/Kimi-K2.5", "vision_config.merge_kernel_size", [2]),
         "'kimi_k25': vision_config.merge_kernel_size=[2] is invalid: expected [rows, columns] "
         "of positive integers"),
        (mutated("MiniMaxAI/MiniMax-M3", "sparse_attention_config", "x"),
         "'minimax_m3': sparse_attention_config='x' is invalid: expected a JSON object"),
    ],
)  # fmt: skip
def test_config_values_that_crashed_the_reader_are_refused(config, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # Each was refused naming rooflens's fields (shared_intermediate_size, num_experts
        # (num_experts / num_local_experts / n_routed_experts), experts_per_token=0.0).
        ("moe_shared_expert_intermediate_size", -1,
         "moe_shared_expert_intermediate_size=-1 is invalid: expected a positive integer of at "
         "most 4,194,304"),
        ("n_routed_experts", 10**12,
         "n_routed_experts=1000000000000 is invalid: expected a positive integer of at most "
         "65,536"),
        ("num_experts_per_tok", 0,
         "num_experts_per_tok=0 is invalid: expected a positive integer of at most 65,536"),
    ],
)  # fmt: skip
def test_nemotron_h_moe_sizes_are_refused_naming_their_keys(path, value, message) -> None:
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(mutated(_NANO, path, value))
    assert str(error.value) == f"config.json of model_type 'nemotron_h': {message}"


def test_a_nemotron_h_config_without_a_layer_pattern_names_every_spelling() -> None:
    # The refusal left out hybrid_override_pattern, the key Nemotron-H's own configs use.
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(mutated(_NANO, "hybrid_override_pattern", None))
    assert str(error.value) == (
        "config.json of model_type 'nemotron_h' lacks 'hybrid_override_pattern' or "
        "'layers_block_type' or 'layer_types'"
    )


# --- values that were read as a guess ---------------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        # Read as a 1-bit and an 8-bit cache (int()).
        (_MODELOPT_FP8 | {"kv_cache_scheme": {"num_bits": True}},
         "(modelopt): kv_cache_scheme.num_bits=True is invalid: expected a positive integer"),
        (_MODELOPT_FP8 | {"kv_cache_scheme": {"num_bits": 8.5}},
         "(modelopt): kv_cache_scheme.num_bits=8.5 is invalid: expected a positive integer"),
        # Read as LLM.int8(), where transformers refuses an unknown quantization type.
        ({"quant_method": "bitsandbytes", "bnb_4bit_quant_type": "nf4"},
         "(bitsandbytes): load_in_4bit=False and load_in_8bit=False are invalid: expected "
         "exactly one of them true"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "load_in_8bit": True},
         "load_in_4bit=True and load_in_8bit=True are invalid: expected exactly one of them"),
        # The text "false" was true: 4-bit weights.
        ({"quant_method": "bitsandbytes", "load_in_4bit": "false", "load_in_8bit": True},
         "(bitsandbytes): load_in_4bit='false' is invalid: expected true or false"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "int4"},
         "bnb_4bit_quant_type='int4' is not supported; supported: fp4, nf4"),
    ],
)  # fmt: skip
def test_quantization_values_once_guessed_are_refused(recipe, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_qwen3_8b(recipe))


def test_bitsandbytes_flags_read_as_written() -> None:
    nf4 = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    quant = spec_from_config(_qwen3_8b(nf4)).checkpoint_quant.quantization
    assert (quant.w_bits, quant.w_format) == (4, "nf4")
    int8 = {"quant_method": "bitsandbytes", "load_in_8bit": True, "load_in_4bit": False}
    assert spec_from_config(_qwen3_8b(int8)).checkpoint_quant.quantization.w_bits == 8


_QWEN35 = "Qwen/Qwen3.5-9B"


@pytest.mark.parametrize(
    ("model", "path", "value", "bits"),
    [
        (_NANO, "mamba_ssm_cache_dtype", "float32", 32),
        (_NANO, "mamba_ssm_cache_dtype", None, 32),  # NemotronHConfig's default
        (_NANO, "mamba_ssm_cache_dtype", "bfloat16", 16),
        (_QWEN35, "text_config.mamba_ssm_dtype", "float32", 32),
        (_QWEN35, "text_config.mamba_ssm_dtype", "float16", 16),
        (_QWEN35, "text_config.mamba_ssm_dtype", None, None),  # the KV cache's width
    ],
)
def test_declared_state_dtypes_set_the_state_width(model, path, value, bits) -> None:
    assert spec_from_config(mutated(model, path, value)).mixer.state_bits == bits


@pytest.mark.parametrize(
    ("config", "message"),
    [
        # Each fell back to the KV cache's width unsaid.
        (mutated(_NANO, "mamba_ssm_cache_dtype", "float8"),
         "'nemotron_h': mamba_ssm_cache_dtype='float8' is not supported; supported: float32, "
         "bfloat16, float16"),
        (mutated(_QWEN35, "text_config.mamba_ssm_dtype", "float8_e4m3"),
         "mamba_ssm_dtype='float8_e4m3' is not supported; supported: float32, bfloat16, float16"),
        # Each was read as no MTP module.
        (mutated("deepseek-ai/DeepSeek-V3", "num_nextn_predict_layers", -1),
         "'deepseek_v3': num_nextn_predict_layers=-1 is invalid: expected an integer of at "
         "least 0"),
        (mutated(_QWEN35, "text_config.mtp_num_hidden_layers", -1),
         "mtp_num_hidden_layers=-1 is invalid: expected an integer of at least 0"),
    ],
)  # fmt: skip
def test_model_values_once_guessed_are_refused(config, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)


# --- messages that name what the file holds ---------------------------------------------------


def _gpt_oss_int4(**recipe: object) -> dict:
    """gpt-oss-20b with a GPTQ recipe: its experts' 2880-wide inputs take no groups of 128."""
    return {**bundled_config(_OSS), "quantization_config": {"quant_method": "gptq", **recipe}}


@pytest.mark.parametrize(
    ("recipe", "source"),
    [
        # The group was named as if typed: "group_size=128 is invalid", a value the file lacks.
        ({"bits": 4},
         " (128 is the checkpoint's quantization_config.group_size (gptq default 128))"),
        ({"bits": 4, "group_size": 128},
         " (128 is the checkpoint's quantization_config.group_size)"),
    ],
)  # fmt: skip
def test_a_stored_group_that_does_not_divide_says_where_it_comes_from(recipe, source) -> None:
    import rooflens
    from rooflens import InvalidInputError

    message = (
        "group_size=128 is invalid: expected a divisor of every quantized layer's input width "
        "[2880, 4096] (a divisor of 64); [2880] do not split into groups of it" + source
    )
    spec = spec_from_config(_gpt_oss_int4(**recipe))
    with pytest.raises(InvalidInputError, match=re.escape(message) + "$"):
        rooflens.analyze(spec, "h100-sxm")
    # A group the user gives is theirs: nothing more to say.
    with pytest.raises(InvalidInputError, match=r"do not split into groups of it$"):
        rooflens.analyze(_OSS, "h100-sxm", w_bits=4, w_format="int", group_size=128)


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        # Once "w_bits=5 as read", rooflens's name for it.
        ({"quant_method": "awq", "bits": 5},
         "quantization_config (awq): bits=5 is invalid: expected one of 32, 16, 8, 4, 3, 2, 1"),
        ({"quant_method": "awq", "w_bit": 5, "q_group_size": 128},
         "quantization_config (awq): w_bit=5 is invalid: expected one of 32, 16"),
        ({"quant_method": "compressed-tensors",
          "config_groups": {"g": {"weights": {"num_bits": 5, "type": "int"}}}},
         "(compressed-tensors): weights.num_bits=5 is invalid: expected one of 32, 16"),
        # GPTQConfig has no default width: it was read as 4 bits.
        ({"quant_method": "gptq", "group_size": 128},
         "quantization_config (gptq) lacks 'bits' (transformers' GPTQConfig has no default)"),
    ],
)  # fmt: skip
def test_quantization_errors_name_the_files_keys(recipe, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_qwen3_8b(recipe))


def test_awq_defaults_are_read_as_awqconfig_has_them() -> None:
    quant = spec_from_config(_qwen3_8b({"quant_method": "awq"})).checkpoint_quant.quantization
    assert (quant.w_bits, quant.group_size, quant.w_zero_point) == (4, 128, True)


def test_a_config_with_only_a_text_config_points_to_it() -> None:
    config = {"text_config": bundled_config(_QWEN3)}
    message = (
        "config.json lacks 'model_type' (its text_config.model_type='qwen3' is the language "
        "model's; the top level names the wrapper around it); supported: RefinedWeb"
    )
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"decoder_sparse_step": 2}, "decoder_sparse_step=2 and mlp_only_layers=[]"),
        ({"mlp_only_layers": [0, 1]}, "decoder_sparse_step=1 and mlp_only_layers=[0, 1]"),
    ],
)
def test_moe_layer_patterns_not_supported_show_their_values(changes, shown) -> None:
    message = (
        f"config.json of model_type 'qwen3_moe': {shown} are not supported; supported: "
        "decoder_sparse_step 1 and mlp_only_layers [] (every layer MoE)"
    )
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config({**bundled_config("Qwen/Qwen3-30B-A3B"), **changes})


# --- GPTQ's per-module settings ---------------------------------------------------------------

# Qwen3-8B by hand: 36 layers of q/k/v/o (4096 -> 4096, 1024, 1024; 4096 -> 4096) and a gated
# MLP of 12288, an untied embedding and head of 151,936 x 4096, 16-bit norms.
_ATTENTION = 36 * (2 * 4096 * 4096 + 2 * 4096 * 1024)
_MLP = 36 * 3 * 4096 * 12288
_VOCAB = 151_936 * 4096
_NORMS = 36 * (2 * 4096 + 2 * 128) + 4096
_G4, _G8 = 4 + 20 / 128, 8 + 24 / 128  # bits per weight, groups of 128 with zero points


def _qwen3_8b_weights(attention: float, mlp: float, head: float = 16) -> float:
    return (_ATTENTION * attention + _MLP * mlp + _VOCAB * (16 + head) + _NORMS * 16) / 8


def _gptq(**settings: object) -> dict:
    return {"quant_method": "gptq", "bits": 4, "group_size": 128, **settings}


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        (_gptq(), _qwen3_8b_weights(_G4, _G4)),
        # Each was read as the plain 4-bit checkpoint (6.10 GB).
        (_gptq(dynamic={"-:.*self_attn.*": {}}), _qwen3_8b_weights(16, _G4)),
        ({"quant_method": "awq", "bits": 4, "group_size": 128,
          "modules_to_not_convert": ["self_attn"]}, _qwen3_8b_weights(16, _G4)),
        (_gptq(dynamic={"+:.*mlp.*": {"bits": 8}}), _qwen3_8b_weights(_G4, _G8)),
        (_gptq(dynamic={".*mlp.*": {"bits": 8}}), _qwen3_8b_weights(_G4, _G8)),
        # The first rule that matches a module decides, as GPTQModel's dynamic_get.
        (_gptq(dynamic={"-:.*self_attn.*": {}, "+:.*": {"bits": 8}}),
         _qwen3_8b_weights(16, _G8)),
        (_gptq(modules_in_block_to_quantize=[
            ["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj"], ["self_attn.o_proj"]]),
         _qwen3_8b_weights(_G4, 16)),
        (_gptq(lm_head=True), _qwen3_8b_weights(_G4, _G4, head=_G4)),
        # Rules for modules rooflens keeps at 16 bits anyway change nothing.
        (_gptq(dynamic={"-:.*visual.*": {}}), _qwen3_8b_weights(_G4, _G4)),
    ],
)  # fmt: skip
def test_gptq_per_module_settings_store_the_weights_they_say(recipe, expected) -> None:
    import rooflens

    spec = spec_from_config(_qwen3_8b(recipe))
    weights = float(rooflens.analyze(spec, "h100-sxm").memory["decode"].weights)
    assert weights == pytest.approx(expected, rel=1e-12)
    assert rooflens.analyze(spec, "h100-sxm").params == 8_190_735_360


def test_gptq_per_module_widths_are_read_and_replaced_by_other_weights() -> None:
    import rooflens

    spec = spec_from_config(_qwen3_8b(_gptq(dynamic={"+:.*mlp.*": {"bits": 8}})))
    # Rules over every name reach only the classes Qwen3-8B holds (no experts, no router).
    assert [(kind, q.w_bits) for kind, q in spec.checkpoint_quant.modules] == [("mlp", 8)]
    # Another width quantizes the weights anew, everywhere (as for DeepSeek-V4's experts).
    eight = rooflens.analyze(spec, "h100-sxm", w_bits=8)
    assert eight.options.module_quantization == ()
    plain = rooflens.analyze(spec_from_config(_qwen3_8b(_gptq())), "h100-sxm", w_bits=8)
    assert eight.memory["decode"].weights == plain.memory["decode"].weights


def test_a_per_module_group_that_does_not_divide_says_where_it_comes_from() -> None:
    import rooflens
    from rooflens import InvalidInputError

    spec = spec_from_config(_qwen3_8b(_gptq(dynamic={"+:.*mlp.*": {"group_size": 8192}})))
    message = (
        "group_size=8192 is invalid: expected a divisor of the input widths of the layers "
        "stored with it [4096, 12288] (a divisor of 4096); [4096, 12288] do not split into "
        "groups of it (8192 is the checkpoint's quantization_config.dynamic['+:.*mlp.*']."
        "group_size)"
    )
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        rooflens.analyze(spec, "h100-sxm")


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        # Per-layer and per-projection rules: rooflens stores a module class at one width.
        (_gptq(dynamic={r"+:model\.layers\.0\..*": {"bits": 8}}),
         r"dynamic rule '+:model\\.layers\\.0\\..*' covers part of the attention modules"),
        (_gptq(dynamic={"-:.*down_proj": {}}),
         "dynamic rule '-:.*down_proj' covers part of the mlp modules"),
        (_gptq(dynamic={"+:.*block_sparse_moe.*": {"bits": 8}}),
         "cannot tell which modules dynamic rule '+:.*block_sparse_moe.*' covers"),
        (_gptq(dynamic={"+:.*mlp.*": {"adapter": {"rank": 8}}}),
         "dynamic['+:.*mlp.*'] sets ['adapter']; supported: ['bits', 'desc_act', 'group_size', "
         "'sym']"),
        (_gptq(dynamic={"+:.*mlp.*": {"bits": 5}}),
         "dynamic['+:.*mlp.*'].bits=5 is invalid: expected one of 32, 16, 8, 4, 3, 2, 1"),
        (_gptq(dynamic={"+:.*mlp.*": {"bits": "8"}}),
         "dynamic['+:.*mlp.*'].bits='8' is invalid: expected a positive integer"),
        (_gptq(dynamic={"+:(": {"bits": 8}}), "dynamic rule '+:(' is invalid: missing )"),
        (_gptq(dynamic=[".*mlp.*"]), "dynamic=['.*mlp.*'] is invalid: expected an object"),
        (_gptq(modules_in_block_to_quantize=[["self_attn.q_proj"], ["mlp.down_proj"]]),
         "modules_in_block_to_quantize names ['self_attn.q_proj'] of the attention modules"),
        (_gptq(modules_in_block_to_quantize=["self_attn.q_proj"]),
         "modules_in_block_to_quantize=['self_attn.q_proj'] is invalid: expected a JSON array "
         "of arrays of module names"),
        (_gptq(lm_head="true"), "(gptq): lm_head='true' is invalid: expected true or false"),
    ],
)  # fmt: skip
def test_gptq_per_module_settings_rooflens_cannot_store_are_refused(recipe, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_qwen3_8b(recipe))


def test_a_quantized_head_with_tied_embeddings_is_refused() -> None:
    qwen3_06b = {**bundled_config("Qwen/Qwen3-0.6B"), "quantization_config": _gptq(lm_head=True)}
    with pytest.raises(ModelConfigError, match="lm_head=True with tied embeddings"):
        spec_from_config(qwen3_06b)


@pytest.mark.parametrize(
    ("model_id", "language_params", "why"),
    [
        # aiconfigurator's copies of the Llama 4 configs keep text_config alone.
        (
            "meta-llama/Llama-4-Scout-17B-16E",
            107_769_861_120,
            "the tower of the Llama4VisionConfig defaults transformers fills in cannot take an "
            "image: its pixel shuffle gives 3,072 channels (4 x 768) to an adapter of 5,632 "
            "inputs, whose 4,096 outputs meet a projector of 7,680 inputs",
        ),
        (
            "google/gemma-3-27b-it",
            27_009_346_304,
            "the tower of the SiglipVisionConfig defaults transformers fills in cannot take an "
            "image: 14 x 14 patches (224-pixel images, 16-pixel patches) do not pool to "
            "mm_tokens_per_image's 16 x 16",
        ),
    ],
)
def test_a_wrapper_without_vision_config_is_read_as_its_language_model(
    model_id: str, language_params: int, why: str
) -> None:
    """transformers' Llama4Config and Gemma3Config fill a missing vision_config with the
    defaults of its class, on which the model transformers builds fails at the first image
    (a shape mismatch, an AvgPool2d of kernel 0, as transformers 5.25 runs them): the language
    model is read, images are refused."""
    config = {k: v for k, v in bundled_config(model_id).items() if k != "vision_config"}
    spec = spec_from_config(config, "no-vision")
    full = spec_from_config(dict(bundled_config(model_id)), "no-vision")
    assert spec.vision is None and spec.model_copy(update={"vision_left_out": None}) == (
        full.model_copy(update={"vision": None})
    )
    # The checkpoints' exact counts (tests/data/published_params.toml) less their towers.
    assert build_graph(spec, AnalysisOptions()).params() == language_params
    assert language_params + vision_params(full) in (108_641_793_536, 27_432_406_640)
    result = rooflens.analyze(spec, "h100", prompt_len=16, gen_len=2)
    assert float(result.memory["decode"].weights) == 2 * language_params  # BF16
    with pytest.raises(InvalidInputError) as caught:
        rooflens.analyze(spec, "h100", prompt_len=16, images=1)
    assert str(caught.value) == (
        f"images=1 is invalid: expected 0: no-vision has no vision encoder: its config.json "
        f"has no vision_config, and {why}"
    )


@pytest.mark.parametrize(
    ("names", "unquantized"),
    [
        (None, ("attention", "router")),
        ([], ("attention", "router")),
        (["model.layers.*.mlp.experts"], ("experts", "attention", "router")),
    ],
)
def test_mxfp4_stores_the_experts_only_whatever_its_list_says(names, unquantized) -> None:
    """transformers' Mxfp4 quantizer swaps only the experts and vLLM's Mxfp4Config leaves every
    linear layer unquantized: attention stays 16-bit without modules_to_not_convert (it had
    read as MXFP4, gpt-oss-120b's q_proj 6,275,072 bytes)."""
    recipe = {"quant_method": "mxfp4"} | (
        {} if names is None else {"modules_to_not_convert": names}
    )
    spec = spec_from_config(mutated("openai/gpt-oss-120b", "quantization_config", recipe))
    stored = spec.checkpoint_quant
    assert stored.unquantized == unquantized
    graph = build_graph(spec, AnalysisOptions(unquantized_modules=stored.unquantized))
    weights = {op.name: op.weight_bytes(stored.quantization) for op in graph.operators}
    # q_proj: 2,880 x 4,096 at 2 bytes plus its 4,096-wide bias, as the published list has it.
    assert weights["q_proj"] == 2880 * 4096 * 2 + 4096 * 2 == 23_601_152
    # The experts' gates: 128 x 2,880 x 2,880 at 4 bits and an 8-bit scale per 32 (16 bits
    # where the list names them), plus their biases.
    bits = 16 if "experts" in unquantized else 4 + 8 / 32
    assert weights["expert_gate_proj"] == 128 * 2880 * 2880 * bits / 8 + 128 * 2880 * 2


@pytest.mark.parametrize(
    ("model", "path", "message"),
    [
        # It had named rooflens's field: "attention_chunk=0 is invalid: Input should be
        # greater than 0".
        ("meta-llama/Llama-4-Scout-17B-16E", "text_config.attention_chunk_size",
         "'llama4_text': attention_chunk_size=0 is invalid: expected a positive integer"),
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", "linear_num_value_heads",
         "'qwen3_next': linear_num_value_heads=0 is invalid: expected a positive integer"),
        ("deepseek-ai/DeepSeek-V3", "kv_lora_rank",
         "'deepseek_v3': kv_lora_rank=0 is invalid: expected a positive integer"),
        ("ai21labs/Jamba-v0.1", "mamba_d_state",
         "'jamba': mamba_d_state=0 is invalid: expected a positive integer"),
        # Once accepted: the convolution and its state had vanished.
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", "linear_conv_kernel_dim",
         "'qwen3_next': linear_conv_kernel_dim=0 is invalid: expected a positive integer"),
        ("nvidia/Nemotron-H-8B-Base-8K", "conv_kernel",
         "'nemotron_h': conv_kernel=0 is invalid: expected a positive integer"),
        ("tiiuae/Falcon-H1-0.5B-Base", "mamba_d_conv",
         "'falcon_h1': mamba_d_conv=0 is invalid: expected a positive integer"),
        ("moonshotai/Kimi-Linear-48B-A3B-Instruct", "linear_attn_config.short_conv_kernel_size",
         "linear_attn_config.short_conv_kernel_size=0 is invalid: expected a positive integer"),
        # An indexer that scored nothing had still cached its keys, the MLA still top-2,048.
        ("deepseek-ai/DeepSeek-V3.2", "index_n_heads",
         "'deepseek_v32': index_n_heads=0 is invalid: expected a positive integer"),
        ("deepseek-ai/DeepSeek-V3.2", "index_head_dim",
         "'deepseek_v32': index_head_dim=0 is invalid: expected a positive integer"),
        ("zai-org/GLM-5.1", "index_n_heads",
         "'glm_moe_dsa': index_n_heads=0 is invalid: expected a positive integer"),
        ("deepseek-ai/DeepSeek-V4-Flash", "index_head_dim",
         "'deepseek_v4': index_head_dim=0 is invalid: expected a positive integer"),
    ],
)  # fmt: skip
def test_a_zero_size_is_refused_in_the_words_of_its_siblings(model, path, message) -> None:
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(mutated(model, path, 0))
    assert message in str(refused.value)


def test_a_config_built_with_numpy_values_reads_as_its_json() -> None:
    """A config assembled in Python from numpy or pandas (integer and float scalars, an
    array of layer types) reads as the same config written as JSON; its bad values are still
    refused by name."""
    import numpy as np

    config = bundled_config("openai/gpt-oss-20b")
    as_numpy = {
        **config,
        "hidden_size": np.int64(config["hidden_size"]),
        "rope_theta": np.float64(config["rope_theta"]),
        "layer_types": np.array(config["layer_types"]),
    }
    assert spec_from_config(as_numpy) == spec_from_config(config)
    with pytest.raises(ModelConfigError, match="hidden_size=-1 is invalid"):
        spec_from_config({**as_numpy, "hidden_size": np.int32(-1)})


def test_a_config_nested_past_pythons_depth_is_refused_by_name() -> None:
    """A config nested hundreds of levels deep, which the JSON parser still reads, is refused
    as one, not with Python's RecursionError."""
    nested: dict = {}
    for _ in range(5000):
        nested = {"inner": nested}
    config = {**bundled_config("Qwen/Qwen3-8B"), "extra": nested}
    with pytest.raises(ModelConfigError, match="nests deeper than Python can read"):
        spec_from_config(config)
