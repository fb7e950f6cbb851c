"""Idefics3 (`idefics3`) and SmolVLM (`smolvlm`) (Hugging Face, 2024-2025; transformers'
Idefics3Config, SmolVLMConfig, which only renames it): a SigLIP-shaped tower, a pixel-shuffle
connector and any language model rooflens reads, in `text_config` (llama where absent).

The tower (Idefics3VisionTransformer, SmolVLMVisionTransformer): a biased patch convolution, a
learned position per patch of an `image_size` crop, LayerNorm blocks with biased q/k/v/out_proj
and fc1/fc2, a post_layernorm; no class token and no pooling head. The connector
(Idefics3Connector): `scale_factor` x `scale_factor` neighbouring patches concatenated (its
pixel_shuffle), then one linear without a bias into the language model's width.

An image is split into crops (Idefics3ImageProcessor with its default do_image_splitting): its
longest edge resized to size["longest_edge"], then cut into ceil(side / crop)^2 crops of
max_image_size["longest_edge"], beside the whole image resized to one crop. The processor's
settings are not in config.json: a crop is taken as `vision_config.image_size` (the processor's
image_seq_len presumes it) and the longest edge as 4 crops, the processor class's ratio (4 x 364
over 364) and that of the SmolVLM processor settings quoted in public code (1536 / 384,
2048 / 512). The language model reads image_seq_len tokens a crop
(Idefics3Processor._get_num_multimodal_tokens); the text tags around them (a
<fake_token_around_image> and a <row_i_col_j> a crop, a newline a row, the <global-img> tag) are
the prompt's text and not counted.
"""

from __future__ import annotations

import math

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import vision_config
from rooflens.models.readers.llava import language_model
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import _HF_KEYS

# The processor's longest edge over its crop (Idefics3ImageProcessor: 4 * 364 over 364).
_CROPS_A_SIDE = 4
# Idefics3ImageProcessor's MAX_IMAGE_SIZE: no edge is resized past it.
_MAX_IMAGE_SIZE = 4096


def split_crops(crop: int) -> int:
    """Crops a side of a square image, the whole image beside them not counted
    (Idefics3ImageProcessor.get_number_of_image_patches): its edge resized to 4 crops, within
    4096 (any square image, smaller or larger), rounded up to whole crops; 0 where that fits
    one crop."""
    edge = min(_CROPS_A_SIDE * crop, _MAX_IMAGE_SIZE)
    return math.ceil(edge / crop) if edge > crop else 0


def idefics3_vision(c: _Config, v: _Config, text_hidden: int) -> VisionSpec:
    """The tower on every crop of one square image and the connector (the module docstring)."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 32)
    crop = v.positive("image_size", 224)
    side = crop // patch
    scale = c.positive("scale_factor", 2)
    if side < 1 or side % scale:
        # pixel_shuffle views each crop's side x side patches as blocks of scale x scale.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: scale_factor={scale} is invalid: "
            f"expected a divisor of the {side} patches a side of a crop "
            f"(vision_config.image_size {crop} over patch_size {patch})"
        )
    per_side = split_crops(crop)
    crops = per_side * per_side + 1
    positions = side * side
    return v.built(
        VisionSpec,
        _HF_KEYS,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=crops * positions,
        # image_seq_len tokens a crop: (image_size // patch_size)^2 / scale_factor^2.
        tokens_per_image=crops * positions // (scale * scale),
        patch_inputs=v.positive("num_channels", 3) * patch * patch,
        activation=v.get("hidden_act", "gelu_pytorch_tanh"),
        position_rows=positions,
        # Idefics3SimpleMLP: one linear without a bias from the shuffled patches.
        projector=((h * scale * scale, text_hidden),),
        projector_bias=False,
        # Each crop is its own sequence through the tower.
        window_layers=v.req("num_hidden_layers") if crops > 1 else 0,
        window_keys=positions if crops > 1 else None,
    )


def text_tied_language_model(
    c: _Config, name: str, default_type: str, key: str = "tie_word_embeddings"
) -> ModelSpec:
    """`text_config` read by its own reader, tied as text_config's tie_word_embeddings (or its
    class default) says, as vLLM ties it; a wrapper tie_word_embeddings written beside it and
    differing is refused: transformers 5 ties by the wrapper's key, which Idefics3Config and
    InternVLConfig do not take from text_config."""
    untied = _Config({**c.raw, "tie_word_embeddings": False}, c.model_type, c.path)
    spec = language_model(untied, name, default_type)
    wrapper = c.get(key, spec.tied_embeddings)
    if wrapper != spec.tied_embeddings:
        refuse(c, key, wrapper, f"{str(spec.tied_embeddings).lower()}, as "
               "text_config's (transformers ties the output head by the wrapper's key, vLLM "
               "by text_config's)")  # fmt: skip
    return spec.model_copy(update={"model_type": c.model_type})


def read_idefics3(c: _Config, name: str) -> ModelSpec:
    spec = text_tied_language_model(c, name, "llama")
    return spec.model_copy(
        update={"vision": idefics3_vision(c, vision_config(c), spec.hidden_size)}
    )
