"""gpt-oss (OpenAI, 2025): alternating banded-window / full attention with attention sinks, and
an MoE of biased experts with a clamped SwiGLU (transformers' GptOssConfig)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, window_layers


def read_gpt_oss(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    # GptOssConfig's default: even layers (0, 2, ...) slide, odd ones attend fully.
    default = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    types = c.get("layer_types", default)
    expert = c.req("intermediate_size")
    return _llama_like(
        c,
        name,
        # The config's hidden_act ("silu") names the base of gpt-oss's clamped SwiGLU.
        activation="swiglu_oai",
        qkv_bias=c.get("attention_bias", True),
        out_bias=c.get("attention_bias", True),
        # Every expert projection has a bias; the router too.
        mlp_bias=True,
        router_bias=True,
        # Null: every layer attends to every key, as vLLM's gpt_oss.py runs it (its window
        # layers get per_layer_sliding_window None; transformers' window mask raises).
        **window_layers(c, count_layers(c, types, "sliding_attention"), 128),
        attention_sinks=True,
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.get("num_experts_per_tok", c.get("experts_per_token", 4)),
        expert_intermediate_size=expert,
    )
