"""Llama 4 (Meta, 2025): chunked local attention with NoPE global layers every 4th, MoE with a
shared expert on every `interleave_moe_layer_step`-th layer, top-1 routing
(transformers' Llama4TextConfig)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import (
    NO_VISION_CONFIG,
    count_layers,
    no_vision_config,
    text_config,
    vision_config,
)
from rooflens.models.readers.vision import llama4_vision


def read_llama4_text(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    # no_rope_layers[i] = 1: layer i uses RoPE and chunked attention; 0: NoPE, global.
    rope = c.get("no_rope_layers", [])
    if not rope:  # Llama4TextConfig's default: every no_rope_layer_interval-th layer NoPE
        interval = c.positive("no_rope_layer_interval", 4)
        rope = [int((i + 1) % interval != 0) for i in range(layers)]
    c.layer_flags("no_rope_layers", rope, layers, "0 (NoPE, global) or 1 (RoPE, chunked)")
    # Absent: transformers' default of 8,192; present as null: no chunking, every layer global.
    off = "attention_chunk_size" in c.raw and c.raw["attention_chunk_size"] is None
    chunk = None if off else c.positive("attention_chunk_size", 8192)
    default_types = [
        "chunked_attention" if r and chunk is not None else "full_attention" for r in rope
    ]
    types = c.get("layer_types", default_types)
    step = c.positive("interleave_moe_layer_step", 1)
    moe_layers = c.get("moe_layers", list(range(step - 1, layers, step)))
    expert = c.req("intermediate_size")
    heads = c.req("num_attention_heads")
    return _llama_like(
        c,
        name,
        # Llama4TextConfig has neither key; vLLM's llama4.py builds its MLPs without a bias,
        # and its layer_types (chunked and full) keep vLLM's cache config from any window.
        ignored=("mlp_bias", "sliding_window"),
        head_dim=c.head_dim(c.req("hidden_size"), heads),
        # Dense layers use intermediate_size_mlp; experts and the shared expert intermediate_size.
        intermediate_size=c.get("intermediate_size_mlp", 16384),
        attention_chunk=chunk,
        chunk_layers=count_layers(c, types, "chunked_attention") if chunk else None,
        num_experts=c.get("num_local_experts", 16),
        experts_per_token=c.get("num_experts_per_tok", 1),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert,
        dense_layers=layers - len(moe_layers),
    )


def read_llama4(c: _Config, name: str) -> ModelSpec:
    spec = read_llama4_text(text_config(c, "llama4_text"), name)
    if no_vision_config(c):
        # transformers' Llama4VisionConfig defaults (models/llama4/configuration_llama4.py:
        # hidden_size 768, intermediate_size 5632, projector dims 4096, vision_output_dim
        # 7680): Llama4VisionMLP2's fc1 takes intermediate_size inputs where the pixel shuffle
        # gives 4 x 768, and Llama4MultiModalProjector takes 7680 where the adapter gives 4096.
        why = (
            "its pixel shuffle gives 3,072 channels (4 x 768) to an adapter of 5,632 inputs, "
            "whose 4,096 outputs meet a projector of 7,680 inputs"
        )
        left_out = NO_VISION_CONFIG.format(cls="Llama4VisionConfig", why=why)
        return spec.model_copy(update={"model_type": c.model_type, "vision_left_out": left_out})
    vision = llama4_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
