"""MiniCPM3 (latent attention in a dense block) read from toy configs: its class defaults, its
cache, its block counted by hand, and the refusal of what the engines build differently."""

from __future__ import annotations

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
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
