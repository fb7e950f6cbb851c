"""LFM2-VL (`lfm2_vl`; Liquid AI, 2025; transformers' Lfm2VlConfig, vLLM's
Lfm2VLForConditionalGeneration): a SigLIP2 NaFlex tower, a pixel-unshuffle projector and the
LFM2 language model rooflens reads (hybrids.py), in `text_config` (lfm2 where absent).

The tower (Siglip2VisionModel): a biased linear patch embedding of `patch_size`^2 pixels, a
table of `num_patches` learned positions resized (bilinearly, not priced) to each image's grid,
LayerNorm blocks with biased q/k/v/out_proj and fc1/fc2, a post_layernorm; its attention-pooling
head must be off (`vision_use_head`). The projector (Lfm2VlMultiModalProjector):
`downsample_factor`^2 neighbouring patches concatenated (pixel_unshuffle), a LayerNorm (with
`projector_use_layernorm`), linear_1 into `projector_hidden_size`, an activation, linear_2 into
the language model's width, biased with `projector_bias`.

An image is resized or tiled as Lfm2VlImageProcessor does it (its class defaults: 64 to 256
tokens an image, tiles of 512 pixels, 2 to 10 of them, a thumbnail, a tolerance of 2; the
encoder patch and the downsampling factor are the config's): an image of more than twice
256 tokens' pixels is cut into the grid of tiles whose aspect ratio is closest to its own (a
larger one on a tie while the image covers more than half of it) and a thumbnail resized within
256 tokens (smart_resize); a smaller one is resized alone. Each tile and the thumbnail is its
own sequence through the tower (vLLM packs them unpadded, transformers pads each to the largest),
priced as window attention of the mean keys a patch sees; the language model reads
(side / patch_size / downsample_factor)^2 tokens for each (the processor's
_get_num_multimodal_tokens; the start, end, tile and thumbnail tags are text, not counted).
"""

from __future__ import annotations

import math

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import vision_config
from rooflens.models.readers.idefics3 import text_tied_language_model
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import _HF_KEYS, DEFAULT_IMAGE_SIDE, no_pooling_head

# Lfm2VlImageProcessor's class defaults.
_MIN_TOKENS, _MAX_TOKENS = 64, 256
_TILE, _MIN_TILES, _MAX_TILES = 512, 2, 10
_TOLERANCE = 2.0


def _round_by(number: float, factor: int) -> int:
    return round(number / factor) * factor


def _smart_side(side: int, patch: int, factor: int) -> int:
    """The side a square `side` image is resized to alone or as the thumbnail: a multiple of
    patch x factor within 64 to 256 tokens (Lfm2VlImageProcessor.smart_resize)."""
    total = patch * factor
    low, high = _MIN_TOKENS * total * total, _MAX_TOKENS * total * total
    bar = max(total, _round_by(side, total))
    if bar * bar > high:
        beta = math.sqrt(side * side / high)
        return max(total, math.floor(side / beta / total) * total)
    if bar * bar < low:
        beta = math.sqrt(low / (side * side))
        return math.ceil(side * beta / total) * total
    return bar


def _grid(side: int) -> int:
    """Tiles of the grid a square `side` image is cut into (_get_grid_layout and
    find_closest_aspect_ratio over 2 to 10 tiles)."""
    ratios = sorted(
        {(w, h) for n in range(_MIN_TILES, _MAX_TILES + 1) for w in range(1, n + 1)
         for h in range(1, n + 1) if _MIN_TILES <= w * h <= _MAX_TILES},
        key=lambda r: r[0] * r[1],
    )  # fmt: skip
    best, best_diff = (1, 1), float("inf")
    for w, h in ratios:
        diff = abs(1 - w / h)
        if diff < best_diff:
            best, best_diff = (w, h), diff
        elif diff == best_diff and side * side > 0.5 * _TILE * _TILE * w * h:
            best = (w, h)
    return best[0] * best[1]


def crops(side: int, patch: int, factor: int) -> list[int]:
    """Patches a side of each crop a square `side` image becomes: the tiles then the
    thumbnail, or the image alone (Lfm2VlImageProcessor._get_split_layout)."""
    total = patch * factor
    bar = max(patch, _round_by(side, total))
    alone = _smart_side(side, patch, factor) // patch
    if bar * bar > _MAX_TOKENS * total * total * _TOLERANCE:
        return [_TILE // patch] * _grid(side) + [alone]
    return [alone]


def lfm2_vl_vision(
    c: _Config, v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    """The tower on every crop of one `image_side` image and the projector (the module
    docstring)."""
    kind = v.raw.get("model_type", "siglip2_vision_model")
    if kind != "siglip2_vision_model":
        # vLLM builds no other tower for LFM2-VL.
        refuse(v, "model_type", kind, "siglip2_vision_model")
    no_pooling_head(v)
    h, patch = v.req("hidden_size"), v.positive("patch_size", 16)
    factor = c.positive("downsample_factor", 2)
    if _TILE % (patch * factor):
        # A 512-pixel tile's patches must group into factor x factor blocks.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: downsample_factor={factor} with "
            f"vision_config.patch_size={patch} is invalid: expected patch_size x "
            f"downsample_factor to divide the processor's {_TILE}-pixel tiles"
        )
    positions = v.positive("num_patches", 256)
    if math.isqrt(positions) ** 2 != positions:
        # The table is viewed as a square before it is resized.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: vision_config.num_patches="
            f"{positions} is invalid: expected a square number"
        )
    sides = crops(image_side, patch, factor)
    patches = sum(n * n for n in sides)
    merged = h * factor * factor
    width = c.positive("projector_hidden_size", 2560)
    return v.built(
        VisionSpec,
        _HF_KEYS,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=patches,
        tokens_per_image=sum((n // factor) ** 2 for n in sides),
        patch_inputs=v.positive("num_channels", 3) * patch * patch,
        activation=v.get("hidden_act", "gelu_pytorch_tanh"),
        position_rows=positions,
        projector=((merged, width), (width, text_hidden)),
        projector_bias=c.get("projector_bias", True),
        projector_norms=(merged,) if c.get("projector_use_layernorm", True) else (),
        # Each crop attends within itself: the mean keys a patch sees over the crops.
        window_layers=v.req("num_hidden_layers") if len(sides) > 1 else 0,
        window_keys=round(sum(n**4 for n in sides) / patches) if len(sides) > 1 else None,
    )


def read_lfm2_vl(c: _Config, name: str) -> ModelSpec:
    # Lfm2VlConfig reads tie_embedding over tie_word_embeddings.
    key = "tie_embedding" if c.raw.get("tie_embedding") is not None else "tie_word_embeddings"
    spec = text_tied_language_model(c, name, "lfm2", key)
    return spec.model_copy(update={"vision": lfm2_vl_vision(c, vision_config(c), spec.hidden_size)})
