"""Gemma 3 (Google, 2025): 5 local (sliding-window) layers per global one, q/k norms, Gemma-2's
pre- and post-norms, and a SigLIP vision tower (transformers' Gemma3TextConfig)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import (
    NO_VISION_CONFIG,
    count_layers,
    no_vision_config,
    text_config,
    vision_config,
    window_layers,
)
from rooflens.models.readers.vision import siglip_vision

# Gemma3TextConfig's defaults that Google's own configs rely on (gemma-3-27b-it's config.json
# names no vocab_size; gemma-3-4b-it's no heads either). Widths and depth stay required.
_TEXT_DEFAULTS = {
    "vocab_size": 262_208,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
}


def read_gemma3_text(c: _Config, name: str) -> ModelSpec:
    stated = c  # its null sliding_window, which the defaults below would replace
    c = _Config(
        {**_TEXT_DEFAULTS, **{k: v for k, v in c.raw.items() if v is not None}}, c.model_type
    )
    types = c.get("layer_types", None)
    if types is None:
        # Every pattern-th layer global (Gemma3TextConfig's default for layer_types).
        pattern = c.positive("sliding_window_pattern", 6)
        types = [
            "sliding_attention" if (i + 1) % pattern else "full_attention"
            for i in range(c.req("num_hidden_layers"))
        ]
    windowed = count_layers(c, types, "sliding_attention")
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in Gemma3TextConfig, nor in vLLM's gemma3.py
        activation=c.get("hidden_activation", c.get("hidden_act", "gelu_pytorch_tanh")),
        tied_embeddings=c.get("tie_word_embeddings", True),
        head_dim=c.get("head_dim", 256),
        max_positions=c.get("max_position_embeddings", 131072),
        qk_norm=True,
        post_norms=True,
        norms_per_block=4,
        norm_offset=True,  # Gemma3RMSNorm: output * (1.0 + self.weight.float())
        # Null: every layer attends to every key, as vLLM's gemma3.py runs it (transformers'
        # window mask raises) and as Gemma 2 reads it.
        **window_layers(stated, windowed, 4096),
    )


def read_gemma3(c: _Config, name: str) -> ModelSpec:
    spec = read_gemma3_text(text_config(c, "gemma3_text"), name)
    if no_vision_config(c):
        # transformers' SiglipVisionConfig defaults (models/siglip/configuration_siglip.py):
        # 224-pixel images of 16-pixel patches, 14 a side, which Gemma3MultiModalProjector
        # cannot pool to mm_tokens_per_image's 16 a side (its AvgPool2d kernel is 14 // 16).
        side = int(c.positive("mm_tokens_per_image", 256) ** 0.5)
        why = (
            "14 x 14 patches (224-pixel images, 16-pixel patches) do not pool to "
            f"mm_tokens_per_image's {side} x {side}"
        )
        left_out = NO_VISION_CONFIG.format(cls="SiglipVisionConfig", why=why)
        return spec.model_copy(update={"model_type": c.model_type, "vision_left_out": left_out})
    vision = siglip_vision(
        vision_config(c), spec.hidden_size, c.positive("mm_tokens_per_image", 256), rms_in=True
    )
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
