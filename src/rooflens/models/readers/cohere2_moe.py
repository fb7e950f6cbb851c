"""Command A MoE (Cohere, 2026; transformers' Cohere2MoeConfig): Command A's parallel block
(attention and the MLP side by side after one norm: an RMSNorm where `rms_norm_eps` is set,
else a LayerNorm without bias), sliding-window layers by `layer_types`, and an MoE in the layers
`mlp_layer_types` marks "sparse": `num_experts` (top-`num_experts_per_tok`) experts of
`intermediate_size` beside `num_shared_experts` shared ones as one MLP of `intermediate_size`
each, a router without bias; the first `first_k_dense_replace` layers hold a dense MLP of
`prefix_dense_intermediate_size`. Neither the averaging of the routed and shared outputs
(`shared_expert_combination_strategy` "average") nor `logit_scale` is priced: one multiply per
element each."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers
from rooflens.models.readers.moe_fields import dense_first, refuse
from rooflens.models.readers.v3_layout import dense_from_types


def _attention_layers(c: _Config, layers: int, dense: int) -> dict[str, Any]:
    """The window: on the layers `layer_types` marks "sliding_attention", by default (as
    Cohere2MoeConfig lays them out) all but every `prefix_dense_sliding_window_pattern`-th of
    the first `first_k_dense_replace` layers (1: none of them) and all but every
    `sliding_window_pattern`-th of the rest."""
    prefix = c.positive("prefix_dense_sliding_window_pattern", 1)
    pattern = c.positive("sliding_window_pattern", 4)
    default = [
        "sliding_attention" if (i + 1) % prefix else "full_attention" for i in range(dense)
    ] + [
        "sliding_attention" if (i + 1) % pattern else "full_attention"
        for i in range(layers - dense)
    ]
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    # Written as null, no layer keeps a window (Cohere2MoeAttention's sliding_window None).
    if not windowed or ("sliding_window" in c.raw and c.raw["sliding_window"] is None):
        return {"sliding_window": None}
    return {"sliding_window": c.positive("sliding_window", 4096), "window_layers": windowed}


def read_cohere2_moe(c: _Config, name: str) -> ModelSpec:
    """Cohere2MoeConfig's defaults stand for absent keys (`head_dim` 128, every head a KV head,
    8 experts of top 2, no shared expert, tied embeddings)."""
    for key, accepted in (
        ("shared_expert_combination_strategy", ("average", "sum")),
        ("expert_selection_fn", ("softmax", "sigmoid")),
    ):
        # transformers raises on any other; each of these costs the same.
        value = c.get(key, accepted[0])
        if value not in accepted:
            refuse(c, key, value, " or ".join(accepted))
    layers = c.req("num_hidden_layers")
    first_k = dense_first(c, "first_k_dense_replace", 0)
    dense = dense_from_types(c, 0, reads_first_k=True)
    expert = c.req("intermediate_size")
    # Cohere2MoeMLP(config, None) falls back to intermediate_size.
    dense_width = c.get("prefix_dense_intermediate_size", expert)
    if dense_width < 1 or dense_width > MAX_WIDTH:
        refuse(c, "prefix_dense_intermediate_size", dense_width, "a positive width")
    shared = c.count("num_shared_experts", 0)
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    bias = c.get("attention_bias", False)
    rms = c.raw.get("rms_norm_eps") is not None
    return _llama_like(
        c,
        name,
        head_dim=128 if "head_dim" not in c.raw else c.head_dim(hidden, heads),
        max_positions=c.get("max_position_embeddings", 8192),
        tied_embeddings=c.get("tie_word_embeddings", True),
        norm="rmsnorm" if rms else "layernorm",
        norm_bias=False,
        parallel_block=True,
        norms_per_block=1,
        # Cohere2Attention: one attention_bias for q, k, v and o; the MLPs have no bias.
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=False,
        **_attention_layers(c, layers, first_k),
        intermediate_size=dense_width,
        num_experts=c.positive("num_experts", 8, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 2, MAX_COUNT),
        expert_intermediate_size=expert,
        # Cohere2MoeSparseMoeBlock.shared_experts: intermediate_size x num_shared_experts.
        shared_intermediate_size=expert * shared or None,
        dense_layers=dense,
    )
