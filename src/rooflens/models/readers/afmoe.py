"""Trinity (Arcee AI, 2025; transformers' AfmoeConfig, vLLM's AfmoeForCausalLM, model_type
afmoe): GQA with per-head q/k RMSNorms and a sigmoid gate over every attention output value
(`gate_proj`, h -> H·d, no bias), sliding-window layers (`layer_types`; by default all but every
`global_attn_every_n_layers`-th) beside global ones, RMSNorms before and after each sublayer,
the first `num_dense_layers` layers with a dense MLP of `intermediate_size` and the others an MoE
of `num_experts` experts of `moe_intermediate_size` (sigmoid scores with a per-expert
`expert_bias`) beside `num_shared_experts` shared experts, one MLP of that many times the width.
Not priced: the rotary positions (sliding layers only), the muP embedding scale."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, window_layers
from rooflens.models.readers.moe_fields import dense_first, refuse


def read_afmoe(c: _Config, name: str) -> ModelSpec:
    layers = c.positive("num_hidden_layers")
    # AfmoeConfig's default: every global_attn_every_n_layers-th layer global, the rest sliding.
    period = c.positive("global_attn_every_n_layers", 4)
    default = ["sliding_attention" if (i + 1) % period else "full_attention" for i in range(layers)]
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    if c.get("attention_bias", False):
        # transformers' AfmoeAttention (LlamaAttention's q/k/v/o) takes it, its gate_proj not;
        # vLLM's builds no bias at all.
        refuse(c, "attention_bias", True, "false (vLLM's AfmoeAttention has no biases)")
    dense = dense_first(c, "num_dense_layers", 1)
    experts: dict[str, Any] = {}
    if dense < layers:
        width = c.positive("moe_intermediate_size", 1408, MAX_WIDTH)
        # AfmoeSparseMoeBlock: one shared MLP of moe_intermediate_size * num_shared_experts.
        shared = width * c.count("num_shared_experts", 2)
        experts = dict(
            num_experts=c.positive("num_experts", 64, MAX_COUNT),
            experts_per_token=c.positive("num_experts_per_tok", 6, MAX_COUNT),
            expert_intermediate_size=width,
            shared_intermediate_size=shared or None,
            # The router's per-expert expert_bias, added to the scores that pick the top-k.
            router_bias=True,
            dense_layers=dense,
        )
    return _llama_like(
        c,
        name,
        head_dim=c.positive("head_dim", 128, MAX_WIDTH),
        max_positions=c.get("max_position_embeddings", 16384),
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        qk_norm=True,
        attention_output_gate=True,
        # input_layernorm, post_attention_layernorm, pre_mlp_layernorm, post_mlp_layernorm.
        post_norms=True,
        norms_per_block=4,
        **window_layers(c, windowed, 1024),  # null: no window (stated_window)
        **experts,
    )
