"""Granite 3.0/3.1 MoE (IBM, 2024; transformers' GraniteMoeConfig): Llama-style attention and
in every layer an MoE of `num_local_experts` experts, top-`num_experts_per_tok`, no shared
expert. GraniteMoeShared adds a SwiGLU shared expert beside them; GraniteMoeSWA adds to that
Granite SWA's sliding-window layers and attention sinks (readers.granite)."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.granite import swa_fields
from rooflens.models.readers.moe_fields import refuse


def _engines_attention(c: _Config) -> int:
    """The head width both builds share, refusing where they differ: vLLM's GraniteMoeAttention
    builds no biases and hidden_size / num_attention_heads wide heads; transformers' reads both
    from the config."""
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = c.head_dim(hidden, heads)
    engines = c.per_head(hidden, heads)
    if c.get("attention_bias", False):
        refuse(c, "attention_bias", True, "false (vLLM's GraniteMoeAttention has no bias)")
    if head_dim != engines:
        refuse(c, "head_dim", head_dim, f"{engines} (hidden_size / num_attention_heads, vLLM's)")
    return head_dim


def read_granitemoe(c: _Config, name: str) -> ModelSpec:
    """The muP scalars (embedding_multiplier, attention_multiplier, residual_multiplier,
    logits_scaling) scale activations by constants: no weights, and one multiply per element
    that is not priced."""
    return _llama_like(
        c,
        name,
        head_dim=_engines_attention(c),
        # GraniteMoeConfig has neither key: vLLM's granitemoe.py builds no MLP bias and
        # windows every layer by a sliding_window.
        ignored=("mlp_bias",),
        refused=("sliding_window",),
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=c.req("intermediate_size"),
    )


def _granitemoe_shared(c: _Config, name: str, swa: bool) -> ModelSpec:
    """GraniteMoeShared (transformers' GraniteMoeSharedDecoderLayer, vLLM's granitemoeshared.py,
    which also serves granitemoe_swa): the experts and, where `shared_intermediate_size` is
    not 0, a SwiGLU shared MLP (input_linear h -> 2s, output_linear s -> h) added to them."""
    head_dim = _engines_attention(c)
    # vLLM's shared MLP runs SiLU only.
    act = c.get("hidden_act", "silu")
    if act != "silu":
        refuse(c, "hidden_act", act, "'silu' (vLLM's GraniteMoeSharedMLP)")
    shared = c.get("shared_intermediate_size", 0)
    if shared < 0 or shared > MAX_WIDTH:
        refuse(c, "shared_intermediate_size", shared, f"0 (none) to {MAX_WIDTH:,}")
    window = swa_fields(c) if swa else {}
    return _llama_like(
        c,
        name,
        # Neither class has mlp_bias (vLLM's GraniteMoeSharedMLP has no bias); GraniteMoeShared
        # has no sliding_window, which vLLM's granitemoeshared.py puts on every layer.
        ignored=("mlp_bias",),
        refused=() if swa else ("sliding_window",),
        head_dim=head_dim,
        max_positions=c.get("max_position_embeddings", 2048),
        num_experts=c.positive("num_local_experts", 8, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 2, MAX_COUNT),
        expert_intermediate_size=c.req("intermediate_size"),
        shared_intermediate_size=shared or None,
        **window,
    )


def read_granitemoeshared(c: _Config, name: str) -> ModelSpec:
    return _granitemoe_shared(c, name, swa=False)


def read_granitemoe_swa(c: _Config, name: str) -> ModelSpec:
    return _granitemoe_shared(c, name, swa=True)
