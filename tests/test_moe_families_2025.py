"""The MoE families of 2024-2025 read from their bundled config.json (ERNIE 4.5, Hunyuan-A13B,
dots.llm1, OLMoE, Phi-3.5-MoE, Granite MoE): parameter totals against the published ones,
active parameters, KV bytes per token computed by hand from the config, expert layouts; each
reader's count equals the transformers model built from a tiny config of its type; what a
reader cannot express is refused naming the field."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rooflens
from config_edit import mutated
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_bytes_per_token, kv_cache_bytes
from rooflens.core.mtp import mtp_params
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import bundled_config
from rooflens.models.config import SUPPORTED_MODEL_TYPES


def _total_and_active(model_id: str) -> tuple[int, int]:
    """Total parameters, and those one token uses: the routed experts at top-k of E, the rest
    whole (the embedding and head included, a tied matrix once)."""
    spec = load_model(model_id)
    graph = build_graph(spec, AnalysisOptions())
    total = graph.params()
    routed = sum(graph.count(op) * op.params() for op in graph.operators if "expert_" in op.name)
    return total, round(total - routed + routed * spec.experts_per_token / spec.num_experts)


def _kv_bytes(model_id: str) -> float:
    return kv_bytes_per_token(load_model(model_id), Quantization())


def _refused(model_id: str, path: str, value: object, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(mutated(model_id, path, value))


# --- ERNIE 4.5 -------------------------------------------------------------------------------

ERNIE = "baidu/ERNIE-4.5-21B-A3B-PT"


def test_ernie_21b_a3b_reads_as_published() -> None:
    spec = load_model(ERNIE)
    # Layer 0 dense (moe_layer_start_index 1), layers 1-27 MoE: 64 experts of 1536, top-6,
    # two shared experts as one MLP of 2 x 1536.
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (64, 6, 1)
    assert (spec.expert_intermediate_size, spec.shared_intermediate_size) == (1536, 3072)
    assert spec.router_bias and spec.tied_embeddings
    total, active = _total_and_active(ERNIE)
    # transformers' Ernie4_5_MoeForCausalLM on this config; "21.8B", Baidu's "21B / 3B".
    assert total == 21_825_437_888
    assert round(active / 1e9) == 3
    # 28 layers x K and V x 4 KV heads x 128 (2560 / 20 heads) x 2 bytes.
    assert _kv_bytes(ERNIE) == 28 * 2 * 4 * 128 * 2 == 57_344


def test_ernie_moe_kv_heads_default_to_its_config_classs() -> None:
    # Ernie4_5_MoeConfig's num_key_value_heads is 4 where a config omits it, not every head.
    config = {k: v for k, v in bundled_config(ERNIE).items() if k != "num_key_value_heads"}
    assert spec_from_config(config, ERNIE).num_kv_heads == 4


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("moe_layer_interval", 2, "moe_layer_interval=2 is not supported; supported: 1"),
        ("moe_layer_end_index", 20, "moe_layer_end_index=20 is not supported; supported: -1 or 27"),
        ("use_bias", True, "use_bias=True is not supported; supported: false"),
        ("moe_layer_start_index", 28, "moe_layer_start_index=28 is not supported"),
    ],
)
def test_ernie_layouts_rooflens_cannot_express_are_refused(path, value, message) -> None:
    # Interleaved or trailing dense layers, and biases on every MLP but the routed experts.
    _refused(ERNIE, path, value, message)


# --- Hunyuan-A13B ----------------------------------------------------------------------------

HUNYUAN = "tencent/Hunyuan-A13B-Instruct"


def test_hunyuan_a13b_reads_as_published() -> None:
    spec = load_model(HUNYUAN)
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (64, 8, 0)
    assert (spec.expert_intermediate_size, spec.shared_intermediate_size) == (3072, 3072)
    assert spec.qk_norm and not spec.qk_norm_whole and spec.head_dim == 128
    total, active = _total_and_active(HUNYUAN)
    # Per layer: q, o 4096^2 each, k, v 4096 x 1024 each; norms 2 x 4096 + q/k norms 2 x 128;
    # 65 experts (64 routed, 1 shared) of 3 x 4096 x 3072; router 64 x 4096. Tied embedding.
    attention = 2 * 4096 * 4096 + 2 * 4096 * 1024
    layer = attention + 2 * 4096 + 2 * 128 + 65 * 3 * 4096 * 3072 + 64 * 4096
    assert total == 32 * layer + 128_167 * 4096 + 4096 == 80_393_183_232
    assert round(active / 1e9) == 13  # "A13B"
    assert _kv_bytes(HUNYUAN) == 32 * 2 * 8 * 128 * 2 == 131_072


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("use_cla", True, "use_cla=True is not supported; supported: false"),
        ("use_mla", True, "use_mla=True is not supported; supported: false"),
        ("moe_topk", [8] * 31 + [4], "moe_topk=[8, 8,"),
        ("moe_intermediate_size", 1536, "moe_intermediate_size=1536 is not supported"),
        ("moe_layer_num_skipped", 2, "moe_layer_num_skipped=2 is not supported"),
    ],
)
def test_hunyuan_variants_rooflens_cannot_express_are_refused(path, value, message) -> None:
    # Cross-layer KV sharing, MLA, per-layer top-k and expert widths the implementations
    # disagree on, dense first layers.
    _refused(HUNYUAN, path, value, message)


# --- dots.llm1 -------------------------------------------------------------------------------

DOTS = "rednote-hilab/dots.llm1.inst"


def test_dots_llm1_reads_as_published() -> None:
    spec = load_model(DOTS)
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (128, 6, 1)
    assert (spec.expert_intermediate_size, spec.shared_intermediate_size) == (1408, 2816)
    assert spec.qk_norm and spec.router_bias and spec.sliding_window is None
    total, active = _total_and_active(DOTS)
    # transformers' Dots1ForCausalLM (142,774,373,888) plus 61 x 128 score-correction biases.
    assert total == 142_774_373_888 + 61 * 128
    assert round(active / 1e9) == 14  # "14B activated"
    # Multi-head attention: 62 layers x K and V x 32 heads x 128 x 2 bytes.
    assert _kv_bytes(DOTS) == 62 * 2 * 32 * 128 * 2 == 1_015_808


def test_dots_window_layers_follow_max_window_layers() -> None:
    config = mutated(DOTS, "sliding_window", 4096) | {"max_window_layers": 60}
    spec = spec_from_config(config)
    assert (spec.sliding_window, spec.window_layers) == (4096, 2)
    assert spec_from_config(mutated(DOTS, "sliding_window", None)).sliding_window is None


def test_dots_unknown_layer_types_are_refused() -> None:
    _refused(DOTS, "layer_types", ["sliding"] * 62, "layer_types holds ['sliding']")


# --- OLMoE, Phi-3.5-MoE, Granite MoE ---------------------------------------------------------


def test_olmoe_reads_as_published() -> None:
    spec = load_model("allenai/OLMoE-1B-7B-0924")
    assert (spec.num_experts, spec.experts_per_token, spec.shared_intermediate_size) == (
        64,
        8,
        None,
    )
    # q/k norms over the whole projections (2048 and 16 x 128 wide).
    assert spec.qk_norm and spec.qk_norm_whole
    total, active = _total_and_active("allenai/OLMoE-1B-7B-0924")
    assert total == 6_919_161_856  # the checkpoint's safetensors count
    assert round(active / 1e8) == 13  # 1.3B active
    assert _kv_bytes("allenai/OLMoE-1B-7B-0924") == 16 * 2 * 16 * 128 * 2 == 131_072


def test_phi_3_5_moe_reads_as_published() -> None:
    spec = load_model("microsoft/Phi-3.5-MoE-instruct")
    assert (spec.num_experts, spec.experts_per_token) == (16, 2)
    assert (spec.norm, spec.norm_bias, spec.qkv_bias, spec.lm_head_bias) == (
        "layernorm", True, True, True,
    )  # fmt: skip
    total, active = _total_and_active("microsoft/Phi-3.5-MoE-instruct")
    assert total == 41_873_153_344  # "42B"
    assert round(active / 1e8) == 66  # "6.6B active parameters"
    assert _kv_bytes("microsoft/Phi-3.5-MoE-instruct") == 32 * 2 * 8 * 128 * 2


def test_granite_moe_reads_as_published() -> None:
    spec = load_model("ibm-granite/granite-3.1-3b-a800m-instruct")
    assert (spec.num_experts, spec.experts_per_token, spec.head_dim) == (40, 8, 64)
    total, _ = _total_and_active("ibm-granite/granite-3.1-3b-a800m-instruct")
    assert total == 3_298_793_472
    # 32 layers x K and V x 8 KV heads x 64 (1536 / 24 heads) x 2 bytes.
    assert _kv_bytes("ibm-granite/granite-3.1-3b-a800m-instruct") == 32 * 2 * 8 * 64 * 2


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("allenai/OLMoE-1B-7B-0924", "num_experts"),
        ("microsoft/Phi-3.5-MoE-instruct", "num_local_experts"),
        ("ibm-granite/granite-3.1-3b-a800m-instruct", "num_local_experts"),
    ],
)
def test_an_expert_count_is_never_defaulted(model_id: str, field: str) -> None:
    config = mutated(model_id, field, 0)
    del config[field]
    with pytest.raises(ModelConfigError, match=f"lacks '{field}'"):
        spec_from_config(config)


def test_phimoe_unknown_activation_is_refused() -> None:
    _refused(
        "microsoft/Phi-3.5-MoE-instruct",
        "hidden_act",
        "sparsemixer",
        "activation (hidden_act / activation_function)='sparsemixer' is invalid",
    )


@pytest.mark.parametrize("model_id", [ERNIE, HUNYUAN, DOTS, "allenai/OLMoE-1B-7B-0924"])
def test_bundled_moe_models_analyze(model_id: str) -> None:
    result = rooflens.analyze(model_id, "h100-sxm", prompt_len=512, gen_len=4)
    assert float(result.generation["ttft"]) > 0 and float(result.generation["tpot"]) > 0


# --- Ling 2.0 (bailing_moe) ------------------------------------------------------------------

LING = "inclusionAI/Ling-mini-2.0"


def test_ling_mini_2_reads_as_published() -> None:
    spec = load_model(LING)
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (256, 8, 1)
    assert (spec.expert_intermediate_size, spec.shared_intermediate_size) == (512, 512)
    assert spec.qk_norm and spec.router_bias and not spec.tied_embeddings
    total, active = _total_and_active(LING)
    # Per layer: fused q/k/v 2048 x (16 + 2 x 4) x 128, dense 2048 x 2048, q/k norms 2 x 128,
    # norms 2 x 2048; layer 0 a dense MLP of 3 x 2048 x 5120, the 19 others 257 experts
    # (routed and shared) of 3 x 2048 x 512, a gate of 256 x 2048 and 256 expert biases.
    attention = 2048 * 24 * 128 + 2048 * 2048 + 2 * 128 + 2 * 2048
    moe = 257 * 3 * 2048 * 512 + 256 * 2048 + 256
    embeddings = 2 * 157_184 * 2048 + 2048  # untied embedding and head, final norm
    assert total == embeddings + 20 * attention + 3 * 2048 * 5120 + 19 * moe == 16_255_643_392
    # "1.43B activated of 16.26B total params", "non-embedding 789M".
    assert round(active / 1e7) == 143
    assert round((active - 2 * 157_184 * 2048) / 1e6) == 789
    assert _kv_bytes(LING) == 20 * 2 * 4 * 128 * 2 == 40_960


def test_ling_mtp_layer_shares_the_embedding_and_head() -> None:
    spec = spec_from_config(mutated(LING, "num_nextn_predict_layers", 1))
    assert (spec.mtp_layers, spec.mtp_own_embeddings) == (1, False)
    # enorm, hnorm, eh_proj 4096 -> 2048, one MoE block as above, final_layernorm.
    attention = 2048 * 24 * 128 + 2048 * 2048 + 2 * 128 + 2 * 2048
    moe = 257 * 3 * 2048 * 512 + 256 * 2048 + 256
    assert mtp_params(spec) == 2 * 2048 + 2 * 2048 * 2048 + attention + moe + 2048


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # Ling 1.0 shares the model_type with another architecture (no q/k norms, no bias).
        ("architectures", ["BailingMoeForCausalLM"],
         "architectures=['BailingMoeForCausalLM'] is not supported; supported: "
         "['BailingMoeV2ForCausalLM']"),
        ("moe_shared_expert_intermediate_size", 1024,
         "moe_shared_expert_intermediate_size=1024 is not supported"),
    ],
)  # fmt: skip
def test_ling_variants_rooflens_cannot_express_are_refused(path, value, message) -> None:
    _refused(LING, path, value, message)


@pytest.mark.parametrize(
    ("model_id", "path", "value", "message"),
    [
        # Refused naming rooflens's fields, through the other families' spellings
        # (experts_per_token (num_experts_per_tok / top_k)=0.0), or as another key:
        # num_hidden_layers=-1 as "moe_layer_start_index=1 ... from 0 to -2".
        (ERNIE, "moe_k", 0,
         "'ernie4_5_moe': moe_k=0 is invalid: expected a positive integer of at most 65,536"),
        (ERNIE, "moe_num_experts", -1,
         "'ernie4_5_moe': moe_num_experts=-1 is invalid: expected a positive integer of at most "
         "65,536"),
        (ERNIE, "moe_num_experts", 10**12,
         "'ernie4_5_moe': moe_num_experts=1000000000000 is invalid: expected a positive integer "
         "of at most 65,536"),
        (ERNIE, "num_hidden_layers", -1,
         "'ernie4_5_moe': num_hidden_layers=-1 is invalid: expected a positive integer"),
        (HUNYUAN, "moe_topk", [0] * 32,
         f"'hunyuan_v1_moe': moe_topk={[0] * 32} is invalid: expected an integer from 1 to "
         "65,536"),
        (HUNYUAN, "num_hidden_layers", -1,
         "'hunyuan_v1_moe': num_hidden_layers=-1 is invalid: expected a positive integer"),
        (LING, "first_k_dense_replace", -1,
         "'bailing_moe': first_k_dense_replace=-1 is invalid: expected an integer of at least 0"),
        (LING, "first_k_dense_replace", 21,
         "'bailing_moe': first_k_dense_replace=21 is invalid: expected at most "
         "num_hidden_layers=20"),
        (DOTS, "first_k_dense_replace", 63,
         "'dots1': first_k_dense_replace=63 is invalid: expected at most num_hidden_layers=62"),
        # Accepted: a trillion shared experts, 10^21 parameters.
        (HUNYUAN, "num_shared_expert", 10**12,
         "'hunyuan_v1_moe': num_shared_expert=1000000000000 is invalid: expected an integer from "
         "0 to 10,000"),
    ],
)  # fmt: skip
def test_malformed_moe_values_are_refused_naming_the_key(model_id, path, value, message) -> None:
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(mutated(model_id, path, value))
    assert str(error.value) == f"config.json of model_type {message}"


# --- LongCat-Flash ---------------------------------------------------------------------------

# LongCat-Flash-Chat's layout as transformers' LongcatFlashConfig describes it.
LONGCAT = {"model_type": "longcat_flash", "num_layers": 28, "hidden_size": 6144,
           "n_routed_experts": 512, "zero_expert_num": 256, "moe_topk": 12}  # fmt: skip


def test_longcat_flash_is_refused_naming_what_rooflens_cannot_express() -> None:
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(LONGCAT)
    message = str(refused.value)
    assert "zero_expert_num=256 (zero-computation experts" in message
    assert "num_layers=28 (layers of two MLA attention and two MLP sublayers" in message
    # Without zero experts the layer layout alone is refused.
    with pytest.raises(ModelConfigError, match=r"num_layers=28 \(layers of .*\) is not supported"):
        spec_from_config(LONGCAT | {"zero_expert_num": 0})
    # Read only to refuse: not among the types said to be supported.
    assert "longcat_flash" not in SUPPORTED_MODEL_TYPES and "mimo" in SUPPORTED_MODEL_TYPES


# --- MiMo (dense, with MTP layers) -----------------------------------------------------------

# MiMo-7B's layout at toy widths: a Qwen2 decoder (q/k/v biases) and one MTP layer.
MIMO = {"model_type": "mimo", "num_hidden_layers": 2, "hidden_size": 8, "intermediate_size": 12,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16,
        "num_nextn_predict_layers": 1, "tie_word_embeddings": False}  # fmt: skip


def test_mimo_mtp_layer_is_counted_as_deepseeks_module_on_the_shared_embedding() -> None:
    spec = spec_from_config(MIMO)
    assert (spec.model_type, spec.mtp_layers, spec.mtp_own_embeddings) == ("mimo", 1, False)
    # A Qwen2 layer: q 8x8+8, k and v 8x4+4 each, o 8x8; gate, up, down 3 x 8 x 12; 2 norms.
    layer = 72 + 2 * 36 + 64 + 3 * 96 + 16
    assert build_graph(spec, AnalysisOptions()).params() == 2 * layer + 2 * 16 * 8 + 8
    # model.mtp_layers.0: token_layernorm and hidden_layernorm (8 each), input_proj 16 -> 8
    # without bias, one Qwen2 layer, final_layernorm; no embedding or head of its own.
    assert mtp_params(spec) == 2 * 8 + 16 * 8 + layer + 8


def test_mimo_windowed_layers_are_read_as_qwen2_reads_them() -> None:
    spec = spec_from_config(MIMO | {"use_sliding_window": True, "sliding_window": 4,
                                    "max_window_layers": 1})  # fmt: skip
    assert (spec.sliding_window, spec.window_layers) == (4, 1)
    with pytest.raises(ModelConfigError, match="layer_types holds \\['local'\\]"):
        spec_from_config(MIMO | {"layer_types": ["local", "full_attention"]})


def test_ernie_layers_named_whole_in_an_exclude_list_are_placed_by_moe_layer_start_index() -> None:
    """ERNIE 4.5's dense layers come first, up to moe_layer_start_index: an exclude list naming
    layer 0 whole keeps its dense MLP and one of the 28 attention layers at 16 bits; layer 1
    holds the experts and shared experts instead."""
    from rooflens.models.catalog import bundled_config

    config = dict(bundled_config("baidu/ERNIE-4.5-21B-A3B-PT"))
    fp8 = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}

    def excluding(layer: str):
        quant = fp8 | {"modules_to_not_convert": [layer]}
        return spec_from_config(config | {"quantization_config": quant}).checkpoint_quant

    first = excluding("model.layers.0")
    assert first.unquantized == ("mlp",) and ("q_proj", 1, 28) in first.partial
    second = excluding("model.layers.1")
    assert second.unquantized == () and ("expert_up_proj", 1, 27) in second.partial


# --- K-EXAONE and Solar Open (toy configs, counted by hand) ----------------------------------

# 4 layers of 16 wide (4 heads, 2 KV heads of 4), layer 0 dense (24 wide), layers 1-3 an MoE
# of 4 experts of 8 (top-2) beside one shared expert; three window layers in four.
EXAONE_MOE = {"model_type": "exaone_moe", "num_hidden_layers": 4, "hidden_size": 16,
              "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 24,
              "moe_intermediate_size": 8, "num_experts": 4, "num_experts_per_tok": 2,
              "num_shared_experts": 1, "first_k_dense_replace": 1, "vocab_size": 64,
              "sliding_window": 8, "sliding_window_pattern": 4}  # fmt: skip


def test_exaone_moe_reads_exaone4_attention_in_a_pre_norm_moe_block() -> None:
    spec = spec_from_config(EXAONE_MOE)
    assert spec.pre_norms and not spec.post_norms and spec.qk_norm and not spec.qk_norm_whole
    assert (spec.sliding_window, spec.window_layers, spec.dense_layers) == (8, 3, 1)
    assert (spec.shared_intermediate_size, spec.router_bias) == (8, True)
    graph = build_graph(spec, AnalysisOptions())
    # q and o 16x16, k and v 16x8, per-head q/k norms (4 each), the two norms.
    attention = 2 * 256 + 2 * 128 + 2 * 4 + 2 * 16
    dense = 3 * 16 * 24
    # Router 4 x 16 with its score-correction bias, 4 experts and the shared one of 3 x 16 x 8.
    moe = 4 * 16 + 4 + 4 * 3 * 16 * 8 + 3 * 16 * 8
    assert graph.params() == 4 * attention + dense + 3 * moe + 16 + 2 * 64 * 16 == 12_412
    # A token's K and V in each layer: 2 KV heads of 4 at 2 bytes.
    per_layer = 2 * 2 * 4 * 2
    assert kv_bytes_per_token(spec, Quantization()) == 4 * per_layer
    # A sequence of 20 tokens: the full layer keeps 20, the three window layers their last 8.
    spans = kv_spans(spec, AnalysisOptions())
    held = kv_cache_bytes(spec, Quantization(), np.array(1.0), np.array(20.0), spans)
    assert float(held) == (20 + 3 * 8) * per_layer
    assert spec_from_config(EXAONE_MOE | {"mlp_layer_types": ["dense"] + ["sparse"] * 3}) == spec


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("mlp_layer_types", ["sparse", "dense", "sparse", "sparse"],
         "mlp_layer_types=['sparse', 'dense', 'sparse', 'sparse'] is not supported; supported: "
         "every dense layer before the first sparse one"),
        ("swiglu_limits", [0, 7.0, 7.0, 7.0],
         "swiglu_limits=[0, 7.0, 7.0, 7.0] is not supported; supported: none above 0"),
        ("sliding_windows", [8, 8, 8, 0], "sliding_windows=[8, 8, 8, 0] is not supported"),
        ("attention_bias", True, "attention_bias=True is not supported; supported: false"),
    ],
)  # fmt: skip
def test_exaone_moe_variants_rooflens_cannot_express_are_refused(path, value, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(EXAONE_MOE | {path: value})


# Solar-Open-100B's layout at toy widths: 2 layers of 16 wide (4 heads of 8, 2 KV heads), every
# layer an MoE of 4 experts of 8 (top-2) beside two shared experts; q/k/v biased.
SOLAR_OPEN = {"model_type": "solar_open", "num_hidden_layers": 2, "hidden_size": 16,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
              "moe_intermediate_size": 8, "n_routed_experts": 4, "num_experts_per_tok": 2,
              "n_shared_experts": 2, "attention_bias": True, "vocab_size": 64,
              "intermediate_size": 10240, "first_k_dense_replace": 0}  # fmt: skip


def test_solar_open_every_layer_is_an_moe_layer() -> None:
    spec = spec_from_config(SOLAR_OPEN)
    assert (spec.dense_layers, spec.num_experts, spec.experts_per_token) == (0, 4, 2)
    assert (spec.qkv_bias, spec.out_bias, spec.qk_norm) == (True, False, False)
    graph = build_graph(spec, AnalysisOptions())
    # The published intermediate_size is held by no layer: no dense MLP is built.
    assert "gate_proj" not in [op.name for op in graph.operators]
    # q 16x32 and o 32x16, k and v 16x16, q/k/v biases (32 + 16 + 16), the two norms.
    attention = 2 * 512 + 2 * 256 + 64 + 2 * 16
    # Router and its bias; 4 experts of 3 x 16 x 8; the shared MLP 3 x 16 x (2 x 8).
    moe = 4 * 16 + 4 + 4 * 3 * 16 * 8 + 3 * 16 * 16
    assert graph.params() == 2 * (attention + moe) + 16 + 2 * 64 * 16 == 10_072
    assert kv_bytes_per_token(spec, Quantization()) == 2 * 2 * 2 * 8 * 2
    # SolarOpenConfig's defaults where absent: head_dim 128, 8 KV heads.
    bare = {k: v for k, v in SOLAR_OPEN.items() if k not in ("head_dim", "num_key_value_heads")}
    spec = spec_from_config(bare | {"num_attention_heads": 8})
    assert (spec.head_dim, spec.num_kv_heads) == (128, 8)


def test_solar_open_dense_layers_and_a_missing_expert_count_are_refused() -> None:
    with pytest.raises(ModelConfigError, match=re.escape(
        "first_k_dense_replace=1 is not supported; supported: 0 (every layer is an MoE layer)"
    )):  # fmt: skip
        spec_from_config(SOLAR_OPEN | {"first_k_dense_replace": 1})
    without = {k: v for k, v in SOLAR_OPEN.items() if k != "n_routed_experts"}
    with pytest.raises(ModelConfigError, match="lacks 'n_routed_experts'"):
        spec_from_config(without)
    # SolarOpenConfig's attribute_map reads num_local_experts as n_routed_experts.
    assert spec_from_config(without | {"num_local_experts": 4}).num_experts == 4
