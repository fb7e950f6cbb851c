"""MiniCPM3 (latent attention in a dense block) and the ALiBi families BLOOM and MPT read from
toy configs: class defaults, caches and blocks counted by hand, and the refusal of what the
engines build differently or rooflens cannot express."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.core.options import Parallelism
from rooflens.core.vision import vision_graph
from rooflens.models import spec_from_config

# h 16, 4 heads, MLP 24, vocabulary 64, 2 layers; MLA: q rank 8, latent 6, nope 4, rope 2.
MINICPM3 = {
    "model_type": "minicpm3",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 24,
    "vocab_size": 64,
    "q_lora_rank": 8,
    "kv_lora_rank": 6,
    "qk_nope_head_dim": 4,
    "qk_rope_head_dim": 2,
}


def refused(config: dict) -> str:
    """The one-line refusal of a config."""
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(config)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_minicpm3_caches_the_latent_and_counts_its_block_by_hand() -> None:
    spec = spec_from_config(MINICPM3)
    # Values as wide as hidden_size / heads (4); keys and queries nope + rope (6) wide.
    assert (spec.head_dim, spec.v_head_dim, spec.num_kv_heads) == (6, 4, 4)
    assert spec.kv_elements_per_token == 6 + 2
    assert (spec.tied_embeddings, spec.max_positions, spec.activation) == (True, 32768, "silu")
    h, heads, ff, vocab = 16, 4, 24, 64
    attention = (
        h * 8  # q_a_proj
        + 8  # q_a_layernorm
        + 8 * heads * 6  # q_b_proj
        + h * (6 + 2)  # kv_a_proj_with_mqa
        + 6  # kv_a_layernorm
        + 6 * heads * (4 + 4)  # kv_b_proj
        + heads * 4 * h  # o_proj
    )
    layer = attention + 3 * h * ff + 2 * h
    assert build_graph(spec, AnalysisOptions()).params() == 2 * layer + h + vocab * h


def test_minicpm3_reads_its_class_defaults() -> None:
    config = {key: v for key, v in MINICPM3.items() if "rank" not in key and "head_dim" not in key}
    spec = spec_from_config(config | {"q_lora_rank": None})
    assert (spec.q_lora_rank, spec.kv_lora_rank, spec.qk_rope_head_dim) == (None, 256, 32)
    assert spec.head_dim == 64 + 32
    assert spec_from_config(config).q_lora_rank == 768


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"attention_bias": True}, "attention_bias=True is not supported"),
        ({"mlp_bias": True}, "mlp_bias=True is not supported"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu' is not supported; supported: 'silu'"),
        ({"v_head_dim": 8}, "v_head_dim=8 is not supported; supported: 4"),
        ({"num_key_value_heads": 2}, "num_key_value_heads=2 is not supported; supported: 4"),
        ({"num_experts": 4}, "num_experts=4 is not supported"),
        ({"sliding_window": 8}, "sliding_window=8 is not supported"),
    ],
)
def test_minicpm3_refuses_what_the_engines_build_differently(fields: dict, words: str) -> None:
    assert words in refused(MINICPM3 | fields)


# --- BLOOM and MPT ---------------------------------------------------------------------------

# h 16, 4 heads of 4, MLP 4 x 16, vocabulary 64, 2 layers.
BLOOM = {"model_type": "bloom", "hidden_size": 16, "n_head": 4, "n_layer": 2, "vocab_size": 64}
MPT = {"model_type": "mpt", "d_model": 16, "n_heads": 4, "n_layers": 2, "vocab_size": 64}


def names(config: dict, options: AnalysisOptions | None = None) -> list[str]:
    graph = build_graph(spec_from_config(config), options or AnalysisOptions())
    return [op.name for op in graph.operators]


def test_bloom_norms_its_embedding_and_biases_every_projection() -> None:
    spec = spec_from_config(BLOOM)
    assert (spec.embed_norm, spec.norm, spec.norm_bias, spec.intermediate_size) == (
        True, "layernorm", True, 64,
    )  # fmt: skip
    assert (spec.learned_positions, spec.tied_embeddings, spec.num_kv_heads) == (0, True, 4)
    order = names(BLOOM)
    assert order[:2] == ["embed_tokens", "embed_norm"]
    h, ff, vocab = 16, 64, 64
    layer = 4 * (h * h + h) + (h * ff + ff) + (ff * h + h) + 2 * 2 * h
    # Two layers, the embedding LayerNorm and the final one, the tied embedding.
    assert build_graph(spec, AnalysisOptions()).params() == 2 * layer + 2 * 2 * h + vocab * h


def test_bloom_embedding_norm_reads_the_reduced_embedding_under_tensor_parallelism() -> None:
    graph = build_graph(
        spec_from_config(BLOOM),
        AnalysisOptions(parallelism=Parallelism(tp=2, link_bandwidth=450e9)),
    )
    ops = {op.name: op for op in graph.operators}
    assert ops["embed_norm"].inputs == (ops["embed_tokens_all_reduce"].output,)


def test_bloom_names_no_context_length_so_vllms_default_applies() -> None:
    spec = spec_from_config(BLOOM)
    assert (spec.max_positions, spec.positions_stated) == (2048, False)
    stated = spec_from_config(BLOOM | {"seq_length": 4096, "max_position_embeddings": 8192})
    assert (stated.max_positions, stated.positions_stated) == (4096, True)


def test_bloom_refuses_two_spellings_that_disagree() -> None:
    message = refused(BLOOM | {"n_embed": 32})
    assert "n_embed=32 is not supported; supported: the value of hidden_size=16" in message


def test_mpt_has_no_bias_anywhere_and_reads_its_length() -> None:
    spec = spec_from_config(MPT | {"attn_config": {"clip_qkv": 6, "attn_impl": "flash"}})
    assert (spec.norm, spec.norm_bias, spec.qkv_bias, spec.mlp_bias) == (
        "layernorm", False, False, False,
    )  # fmt: skip
    assert (spec.activation, spec.max_positions, spec.embed_norm) == ("gelu", 2048, False)
    h, ff, vocab = 16, 64, 64
    layer = 4 * h * h + 2 * h * ff + 2 * h
    assert build_graph(spec, AnalysisOptions()).params() == 2 * layer + h + vocab * h


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"attn_config": {"attn_type": "multiquery_attention"}},
            "attn_config.attn_type='multiquery_attention' is not supported; supported: "
            "'multihead_attention'",
        ),
        ({"attn_config": {"qk_ln": True}}, "attn_config.qk_ln=True is not supported"),
        ({"attn_config": {"alibi": False}}, "attn_config.alibi=False is not supported"),
        ({"attn_config": {"prefix_lm": True}}, "attn_config.prefix_lm=True is not supported"),
        ({"attn_config": {"rope": True}}, "attn_config.rope=True is not supported"),
        ({"attn_config": {"kv_n_heads": 2}}, "attn_config.kv_n_heads=2 is not supported"),
        ({"no_bias": False}, "no_bias=False is not supported"),
        ({"expansion_ratio": 8}, "expansion_ratio=8 is not supported; supported: 4"),
        ({"norm_type": "rmsnorm"}, "norm_type='rmsnorm' is not supported"),
        ({"ffn_config": {"ffn_type": "mptglu"}}, "ffn_config={'ffn_type': 'mptglu'} is not"),
    ],
)
def test_mpt_refuses_what_transformers_does_not_build(fields: dict, words: str) -> None:
    assert words in refused(MPT | fields)


def test_bloom_refuses_a_prompt_past_vllms_default_context() -> None:
    with pytest.raises(InvalidInputError, match="config names no context length, so it has "
                       "vLLM's default 2048 positions"):  # fmt: skip
        rooflens.analyze(spec_from_config(BLOOM), "h100-sxm", prompt_len=4096)


# --- EXAONE 4.5 -----------------------------------------------------------------------------

EXAONE4_5 = {
    "model_type": "exaone4_5",
    "text_config": {
        "model_type": "exaone4",
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "num_hidden_layers": 2,
        "intermediate_size": 96,
        "vocab_size": 100,
    },
    "vision_config": {"depth": 2, "hidden_size": 32, "num_heads": 2, "intermediate_size": 48},
}


def test_exaone4_5_reads_its_grouped_query_tower() -> None:
    """Exaone4_5_VisionAttention's qkv linear: q of num_heads heads, k and v of
    num_key_value_heads (8 where omitted); the tower is Qwen2.5-VL's otherwise. 16 query heads
    of 2 over 8 K/V heads, 32 wide: q 32 x 32, k and v 32 x 16 each, with biases."""
    vision = EXAONE4_5["vision_config"] | {"num_heads": 16, "out_hidden_size": 64}
    spec = spec_from_config(EXAONE4_5 | {"vision_config": vision})
    tower = spec.vision
    assert tower is not None and spec.vision_left_out is None
    assert (tower.num_heads, tower.num_kv_heads) == (16, 8)
    assert (tower.gated_mlp, tower.norm) == (True, "rmsnorm")
    ops = {op.name: op for op in vision_graph(tower).operators}
    assert (ops["vision_q_proj"].out_features, ops["vision_k_proj"].out_features) == (32, 16)
    assert ops["vision_v_proj"].out_features == 16
    assert (ops["vision_qk_matmul"].num_heads, ops["vision_qk_matmul"].num_kv_heads) == (16, 8)
    # More K/V heads than query heads (the default 8 beside 2) is no grouping: refused.
    message = refused(EXAONE4_5)
    assert "vision_config.num_key_value_heads=8 is not supported" in message
    assert "a divisor of vision_config.num_heads=2" in message


def test_exaone4_5_refuses_heads_tied_in_one_config_only() -> None:
    text = EXAONE4_5["text_config"] | {"tie_word_embeddings": True}
    message = refused(EXAONE4_5 | {"text_config": text})
    assert "text_config.tie_word_embeddings=True is not supported; supported: False" in message
