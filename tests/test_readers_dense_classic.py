"""Dense decoders of 2023-2025 read from toy configs: each family's block (parallel or
sequential, its norms and biases, gated or not), its class defaults, counted by hand, and the
refusal of what rooflens cannot represent or what the engines build differently."""

from __future__ import annotations

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.options import Parallelism
from rooflens.models import spec_from_config
from rooflens.models.config import SUPPORTED_MODEL_TYPES

# h 16, 4 heads of 4, 2 KV heads, MLP 24, vocabulary 64, 8 layers.
TOY = {
    "hidden_size": 16,
    "num_hidden_layers": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 24,
    "vocab_size": 64,
}
H, LAYERS, HEADS, KV, D, FF, VOCAB = 16, 8, 4, 2, 4, 24, 64


def refused(config: dict) -> str:
    """The one-line refusal of a config."""
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(config)
    message = str(error.value)
    assert "\n" not in message
    return message


def block_names(config: dict, options: AnalysisOptions | None = None) -> list[str]:
    graph = build_graph(spec_from_config(config), options or AnalysisOptions())
    return [op.name for op in graph.operators if op.scope == "block"]


def params(config: dict) -> int:
    return build_graph(spec_from_config(config), AnalysisOptions()).params()


# --- Phi -------------------------------------------------------------------------------------

PHI = {key: value for key, value in TOY.items() if key != "num_key_value_heads"}


def test_phi_is_a_parallel_block_with_biases_everywhere() -> None:
    config = dict(PHI, model_type="phi")
    spec = spec_from_config(config)
    assert (spec.parallel_block, spec.norms_per_block, spec.gated_mlp) == (True, 1, False)
    assert (spec.norm, spec.norm_bias, spec.activation) == ("layernorm", True, "gelu_new")
    names = block_names(config)
    assert "mlp_norm" not in names and "residual_add" in names
    # Per layer: q/k/v/dense with biases, fc1/fc2 with biases, one LayerNorm with a bias; then
    # the final LayerNorm, the embedding and the untied head with its bias.
    layer = 4 * (H * H + H) + (H * FF + FF) + (FF * H + H) + 2 * H
    assert params(config) == LAYERS * layer + 2 * H + VOCAB * H + (H * VOCAB + VOCAB)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("num_key_value_heads", 2, "num_key_value_heads=2 is not supported; supported: 4"),
        ("qk_layernorm", True, "qk_layernorm=True is not supported"),
        ("head_dim", 8, "head_dim=8 is not supported; supported: 4"),
    ],
)
def test_phi_shapes_the_engines_build_otherwise_are_refused(field, value, words) -> None:
    assert words in refused(dict(PHI, model_type="phi", **{field: value}))


# --- StarCoder2 ------------------------------------------------------------------------------


def test_starcoder2_layernorms_non_gated_mlp_and_one_window() -> None:
    config = dict(TOY, model_type="starcoder2", sliding_window=8)
    spec = spec_from_config(config)
    assert (spec.gated_mlp, spec.norm, spec.norm_bias) == (False, "layernorm", True)
    assert (spec.sliding_window, spec.window_layers) == (8, None)
    q, kv = HEADS * D, KV * D
    attention = H * q + q + 2 * (H * kv + kv) + q * H + H
    layer = attention + (H * FF + FF) + (FF * H + H) + 2 * 2 * H
    # Tied embeddings by default (Starcoder2Config).
    assert params(config) == LAYERS * layer + 2 * H + VOCAB * H


# --- Command R -------------------------------------------------------------------------------


def test_cohere_qk_norms_give_every_head_its_own_gain() -> None:
    base = dict(TOY, model_type="cohere")
    plain, normed = params(base), params(dict(base, use_qk_norm=True))
    assert normed - plain == LAYERS * (HEADS + KV) * D
    spec = spec_from_config(dict(base, use_qk_norm=True))
    assert (spec.parallel_block, spec.norm, spec.norm_bias) == (True, "layernorm", False)
    # Statistics per head: no exchange between devices under tensor parallelism, unlike the
    # whole-projection norms of MiniMax-M2 or OLMo 2.
    tp2 = AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=450e9))
    names = block_names(dict(base, use_qk_norm=True), tp2)
    assert "q_norm" in names and not [n for n in names if "qk_norm" in n or "gather" in n]


# --- Llama's decoder under other names -------------------------------------------------------


def test_internlm3_reads_its_own_bias_spellings_and_refuses_them_apart() -> None:
    base = dict(TOY, model_type="internlm3", head_dim=4)
    biased = params(dict(base, qkv_bias=True, bias=True))
    q, kv = HEADS * D, KV * D
    assert biased - params(base) == LAYERS * (q + 2 * kv + H + 2 * FF + H)
    message = refused(dict(base, qkv_bias=True, bias=False))
    assert "attention_bias (qkv_bias)=True and mlp_bias (bias)=False" in message


def test_exaone_reads_gpt2_key_names_and_refuses_a_bias_key() -> None:
    config = {k: v for k, v in TOY.items() if k != "num_hidden_layers"}
    config |= {"model_type": "exaone", "num_layers": 8, "activation_function": "silu"}
    spec = spec_from_config(config)
    assert (spec.num_layers, spec.activation, spec.num_kv_heads) == (8, "silu", 2)
    assert "bias=True is not supported" in refused(dict(config, bias=True))
    assert "lacks 'num_hidden_layers' or 'num_layers'" in refused(
        {k: v for k, v in config.items() if k != "num_layers"}
    )


def test_helium_o_proj_needs_the_heads_to_span_the_hidden_size() -> None:
    # HeliumConfig's head_dim is 128 where omitted: 4 x 128 is not 16.
    message = refused(dict(TOY, model_type="helium"))
    assert "num_attention_heads=4 x head_dim=128 must equal hidden_size=16" in message
    spec = spec_from_config(dict(TOY, model_type="helium", head_dim=4, attention_bias=True))
    assert (spec.qkv_bias, spec.out_bias) == (True, False)


def test_iquestcoder_refuses_what_its_config_class_refuses() -> None:
    base = dict(TOY, model_type="iquestcoder", head_dim=4)
    assert "clip_qkv=8.0 is not supported" in refused(dict(base, clip_qkv=8.0))
    assert "use_sliding_window=True" in refused(dict(base, use_sliding_window=True))


def test_ministral_and_cwm_window_layers() -> None:
    ministral = spec_from_config(dict(TOY, model_type="ministral", head_dim=4))
    # MinistralConfig: every layer windowed (4096 keys) unless sliding_window is null.
    assert (ministral.sliding_window, ministral.window_layers) == (4096, 8)
    none = spec_from_config(dict(TOY, model_type="ministral", head_dim=4, sliding_window=None))
    assert none.sliding_window is None
    # Inside a mistral3 wrapper, a ministral text_config takes MinistralConfig's defaults too.
    vision = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
              "num_attention_heads": 2, "image_size": 64, "patch_size": 16}  # fmt: skip
    wrapped = spec_from_config(
        {
            "model_type": "mistral3",
            "text_config": dict(TOY, model_type="ministral", head_dim=4),
            "vision_config": vision,
        }
    )
    assert (wrapped.sliding_window, wrapped.window_layers) == (4096, 8)
    # CwmConfig: layers 0 and 4 attend to every key, the other six to 8192.
    cwm = spec_from_config(dict(TOY, model_type="cwm", head_dim=4))
    assert (cwm.sliding_window, cwm.window_layers) == (8192, 6)
    windowless = dict(TOY, model_type="cwm", head_dim=4, sliding_window=None)
    assert "6 sliding_attention layers but sliding_window is null" in refused(windowless)


# --- Non-gated MLPs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_type", "norm_params"),
    [("arcee", 2 * H), ("nemotron", 2 * 2 * H), ("jais2", 2 * 2 * H)],
)
def test_squared_relu_mlps_are_not_gated(model_type: str, norm_params: int) -> None:
    config = dict(TOY, model_type=model_type, attention_bias=False, mlp_bias=False)
    spec = spec_from_config(config)
    assert (spec.gated_mlp, spec.activation) == (False, "relu2")
    q, kv = HEADS * D, KV * D
    layer = 2 * H * q + 2 * H * kv + 2 * H * FF + norm_params
    final = norm_params // 2
    assert params(config) == LAYERS * layer + final + 2 * VOCAB * H


# --- StableLM, OLMo 1, nanochat, VaultGemma -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("qk_layernorm", "qk_layernorm=True is not supported"),
        ("use_parallel_residual", "use_parallel_residual=True is not supported"),
    ],
)
def test_stablelm_refuses_per_head_norms_and_a_shared_norm(field: str, words: str) -> None:
    assert words in refused(dict(TOY, model_type="stablelm", **{field: True}))


def test_stablelm_splits_the_hidden_size_over_the_heads() -> None:
    spec = spec_from_config(dict(TOY, model_type="stablelm", head_dim=64))
    assert (spec.head_dim, spec.norm, spec.norm_bias, spec.out_bias) == (
        4,
        "layernorm",
        True,
        False,
    )


@pytest.mark.parametrize("model_type", ["olmo", "nanochat"])
def test_norms_without_gain_hold_no_parameter(model_type: str) -> None:
    config = dict(TOY, model_type=model_type)
    graph = build_graph(spec_from_config(config), AnalysisOptions())
    norms = [op for op in graph.operators if op.name.endswith("norm")]
    assert norms and all(op.params() == 0 for op in norms)
    q, kv = HEADS * D, KV * D
    mlp = (3 if model_type == "olmo" else 2) * H * FF
    assert graph.params() == LAYERS * (2 * H * q + 2 * H * kv + mlp) + 2 * VOCAB * H


def test_vaultgemma_windows_every_other_layer_with_two_norms_a_layer() -> None:
    config = dict(TOY, model_type="vaultgemma", head_dim=4, sliding_window=8)
    spec = spec_from_config(config)
    assert (spec.sliding_window, spec.window_layers, spec.post_norms) == (8, 4, False)
    assert (spec.tied_embeddings, spec.activation) == (True, "gelu_pytorch_tanh")
    q, kv = HEADS * D, KV * D
    layer = 2 * H * q + 2 * H * kv + 3 * H * FF + 2 * H
    assert params(config) == LAYERS * layer + H + VOCAB * H


# --- StarCoder (GPTBigCode), DBRX, Youtu-LLM -------------------------------------------------


def test_gpt_bigcode_caches_one_kv_head_under_multi_query() -> None:
    config = {"model_type": "gpt_bigcode", "n_embd": 16, "n_head": 4, "n_layer": 8}
    config |= {"vocab_size": 64, "n_positions": 32}
    spec = spec_from_config(config)
    assert (spec.num_kv_heads, spec.intermediate_size, spec.learned_positions) == (1, 64, 32)
    # c_attn of h -> h + 2d with its bias, c_proj, c_fc, c_proj with biases, two LayerNorms.
    layer = (H * (H + 2 * D) + H + 2 * D) + (H * H + H) + (H * 64 + 64) + (64 * H + H) + 4 * H
    assert params(config) == LAYERS * layer + 2 * H + 32 * H + VOCAB * H
    assert spec_from_config(dict(config, multi_query=False)).num_kv_heads == 4
    assert "add_cross_attention=True" in refused(dict(config, add_cross_attention=True))


DBRX = {"model_type": "dbrx", "d_model": 16, "n_heads": 4, "n_layers": 8, "vocab_size": 64}


def test_dbrx_every_layer_routes_to_gated_experts() -> None:
    config = DBRX | {
        "attn_config": {"kv_n_heads": 2},
        "ffn_config": {"ffn_hidden_size": 8, "moe_num_experts": 4, "moe_top_k": 2},
    }
    spec = spec_from_config(config)
    assert (spec.num_experts, spec.experts_per_token, spec.expert_intermediate_size) == (4, 2, 8)
    assert (spec.dense_layers, spec.norm, spec.norm_bias) == (0, "layernorm", False)
    q, kv = HEADS * D, KV * D
    layer = 2 * H * q + 2 * H * kv + 4 * 3 * H * 8 + H * 4 + 2 * H
    assert params(config) == LAYERS * layer + H + 2 * VOCAB * H
    # DbrxConfig's defaults: one KV head, 4 experts of 3584, top 1.
    defaults = spec_from_config(DBRX)
    assert (defaults.num_kv_heads, defaults.num_experts, defaults.experts_per_token) == (1, 4, 1)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tie_word_embeddings": True}, "tie_word_embeddings=True is not supported"),
        (
            {"ffn_config": {"ffn_act_fn": {"name": "gelu", "approximate": "tanh"}}},
            "ffn_config.ffn_act_fn=",
        ),
    ],
)
def test_dbrx_refusals_name_the_key(fields: dict, words: str) -> None:
    assert words in refused(DBRX | fields)


def test_youtu_caches_the_latent_and_the_rotary_key() -> None:
    config = dict(TOY, model_type="youtu", kv_lora_rank=8, qk_rope_head_dim=2)
    config |= {"qk_nope_head_dim": 4, "v_head_dim": 4, "q_lora_rank": None}
    spec = spec_from_config(config)
    assert (spec.is_mla, spec.is_moe, spec.q_lora_rank) == (True, False, None)
    assert spec.kv_elements_per_token == 8 + 2
    assert (spec.head_dim, spec.num_kv_heads, spec.tied_embeddings) == (6, 4, True)


def test_jetmoe_is_read_and_refused_for_its_routed_attention() -> None:
    message = refused({"model_type": "jetmoe", "num_local_experts": 8, "num_experts_per_tok": 2})
    assert "num_local_experts=8 with num_experts_per_tok=2 routes attention too" in message
    assert "jetmoe" not in SUPPORTED_MODEL_TYPES
