"""Ministral 3 (Mistral AI, 2025; transformers' Ministral3Config): the language model of the
Ministral 3 and Mistral 3 releases, Mistral's block (no bias, one `sliding_window` over every
layer where set) with Ministral3Config's defaults. Its position-dependent query scaling
(`rope_parameters.llama_4_scaling_beta`, one multiply per query element) is not priced, as
rotary positions never are."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import no_bias

# Ministral3Config's head width and KV heads where a config omits the key (written as null,
# its __post_init__ makes them hidden_size / heads and every head).
_HEAD_DIM = 128
_KV_HEADS = 8


def read_ministral3(c: _Config, name: str) -> ModelSpec:
    # vLLM serves it as Mistral (Llama's layers, which read both keys); MistralAttention and
    # MistralMLP have no bias.
    no_bias(c, ("attention_bias", "mlp_bias"), "Ministral3")
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = _HEAD_DIM if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    absent = "num_key_value_heads" not in c.raw
    window = c.raw.get("sliding_window")
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        num_kv_heads=_KV_HEADS if absent else c.get("num_key_value_heads", heads),
        max_positions=c.get("max_position_embeddings", 262144),
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        sliding_window=None if window is None else c.positive("sliding_window"),
    )
