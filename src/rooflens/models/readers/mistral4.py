"""Mistral Small 4 (Mistral AI, 2026; transformers' Mistral4Config) and Mistral Large 4
(MistralLarge4Config, MistralLarge4TextConfig: read to be refused).

Mistral Small 4's language model is DeepSeek-V3's layout: MLA attention (`q_lora_rank` 1024,
`kv_lora_rank` 256, 64 + 64 query/key widths, 128-wide values by default), the first
`first_k_dense_replace` layers dense (0 by default) and the others an MoE of `n_routed_experts`
(top-`num_experts_per_tok`) of `moe_intermediate_size` beside `n_shared_experts` shared ones as
one MLP, routed by a softmax without a score-correction bias (Mistral4TopkRouter). Its
position-dependent query scaling (`llama_4_scaling_beta`, one multiply per query element) is
not priced, as rotary positions never are."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import dense_first
from rooflens.models.readers.v3_layout import mla_fields, spelling


def read_mistral4(c: _Config, name: str) -> ModelSpec:
    expert = c.positive("moe_intermediate_size", 2048, MAX_WIDTH)
    shared = c.count("n_shared_experts", 1)
    # Mistral4Config's attribute_map reads num_local_experts as n_routed_experts.
    experts = spelling(c, "n_routed_experts", "num_local_experts")
    return _llama_like(
        c,
        name,
        # Mistral4Config has no sliding_window: transformers' model ignores it, its
        # DynamicCache (no layer_types) keeps only that window.
        refused=("sliding_window",),
        **mla_fields(c, nope=64, rope=64, v=128, kv_lora=256, q_lora=1024),
        max_positions=c.get("max_position_embeddings", 1048576),
        mlp_bias=False,
        num_experts=c.positive(experts, 128, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 4, MAX_COUNT),
        expert_intermediate_size=expert,
        # Mistral4MoE.shared_experts: one MLP of moe_intermediate_size x n_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=False,
        dense_layers=dense_first(c, "first_k_dense_replace", 0),
    )


def read_mistral_large4(c: _Config, name: str) -> NoReturn:
    """Mistral Large 4 (the `mistral_large4` wrapper, its `mistral_large4_text` language
    model): refused, naming what rooflens cannot express. Its layers attend by DeepSeek Sparse
    Attention over MLA without a query bottleneck, but (MistralLarge4TextAttention) the layers
    `no_rope_layers` marks 0 (every 4th by default) cache a latent without the rotary key, so
    the cache width and kv_a_proj_with_mqa differ by layer; the layers `kv_source_layers`
    points elsewhere attend to an earlier layer's cache and hold no kv_a_proj_with_mqa; and the
    queries of attention and of the indexer are scaled by learned per-head functions of the
    position (MistralLarge4TextSoftmaxScaling), the indexer's queries read through a LayerNorm
    of the hidden state, none of which rooflens's MLA or indexer holds."""
    text = c
    if c.model_type == "mistral_large4":
        inner = c.get("text_config", {})
        text = _Config(inner, "mistral_large4_text", "text_config.")
    layers = text.req("num_hidden_layers")
    key = f"{text.path}no_rope_layers"
    rope = text.get("no_rope_layers", None)
    if rope is None:
        interval = text.positive("no_rope_layer_interval", 4)
        rope = [int((i + 1) % interval != 0) for i in range(layers)]
    reasons = []
    nope = sum(1 for flag in rope if flag == 0) if isinstance(rope, list) else 0
    if nope:
        reasons.append(
            f"{key} with {nope} NoPE layers (their latent cache and kv_a_proj_with_mqa lack "
            "the rotary key: widths that differ by layer)"
        )
    sources = text.get("kv_source_layers", None)
    if isinstance(sources, list) and any(s != i for i, s in enumerate(sources)):
        reasons.append(
            f"{text.path}kv_source_layers={sources!r} (layers attending to an earlier layer's "
            "latent cache)"
        )
    reasons.append(
        "the learned per-head, position-dependent query scaling of its attention and "
        "indexer (MistralLarge4TextSoftmaxScaling) and the indexer's LayerNorm on the hidden "
        "state"
    )
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {'; '.join(reasons)}: not supported "
        "(rooflens's MLA and DSA indexer have one cache width in every layer, a cache per "
        "layer and no such scaling)"
    )
