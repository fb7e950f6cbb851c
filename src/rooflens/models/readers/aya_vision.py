"""Aya Vision (`aya_vision`; Cohere, 2025; transformers' AyaVisionConfig, vLLM's
AyaVisionForConditionalGeneration): a SigLIP tower, a pixel-shuffle SwiGLU projector and the
Cohere2 language model rooflens reads, in `text_config` (cohere2 where absent).

The tower (SiglipVisionModel, the only one vLLM builds): a biased patch convolution, a learned
position per patch of an `image_size` tile, LayerNorm blocks with biased q/k/v/out_proj and
fc1/fc2, a post_layernorm (built and run; the features are read before it, from
`vision_feature_layer`'s hidden state: counted and priced per patch, an upper bound, as LLaVA's);
its pooling head must be off. The projector (AyaVisionMultiModalProjector): `downsample_factor`^2
neighbouring patches concatenated (pixel_shuffle), a LayerNorm, linear_1 into
`alignment_intermediate_size` (the language model's width where absent), a SwiGLU that halves it
(not priced) and linear_2 into the language model, both biased.

An image is tiled as AyaVisionProcessor tiles it (crop_to_patches, GotOcr2ImageProcessor with its
min_patches 1 and max_patches 12, tiles of `vision_config.image_size`): InternVL's rule
(internvl.tile_grid) and a global thumbnail where there is more than one tile. The language model
reads (image_size / (patch_size x downsample_factor))^2 tokens a tile (the processor's
_get_num_multimodal_tokens with its patch_size of patch_size x downsample_factor); the start,
end and tile tags around them are text, not counted.
"""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import vision_config
from rooflens.models.readers.idefics3 import text_tied_language_model
from rooflens.models.readers.internvl import tile_grid
from rooflens.models.readers.llava import clip_or_siglip
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import _HF_KEYS, DEFAULT_IMAGE_SIDE


def aya_vision_vision(
    c: _Config, v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    """The tower on every tile of one `image_side` image and the projector (the module
    docstring)."""
    kind = v.raw.get("model_type", "siglip_vision_model")
    if kind != "siglip_vision_model":
        refuse(v, "model_type", kind, "siglip_vision_model (the tower vLLM builds)")
    tower = clip_or_siglip(v, "siglip_vision_model")
    strategy = c.get("vision_feature_select_strategy", "full")
    if strategy != "full":
        # "default" drops a patch, and the shuffle views the rest as a square.
        refuse(c, "vision_feature_select_strategy", strategy, "full (SigLIP has no class token)")
    layer = c.raw.get("vision_feature_layer", -1)
    if type(layer) is not int:
        # Concatenated layers would widen the shuffled features past the projector's LayerNorm.
        refuse(c, "vision_feature_layer", layer, "one layer index (an integer)")
    side, h = tower.side, tower.fields["hidden_size"]
    factor = c.positive("downsample_factor", 2)
    if side % factor:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: downsample_factor={factor} is "
            f"invalid: expected a divisor of the {side} patches a side of a tile "
            "(vision_config.image_size over patch_size)"
        )
    width = c.positive("alignment_intermediate_size", text_hidden)
    if width % 2:
        # The SwiGLU splits linear_1's output in halves.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: alignment_intermediate_size={width} "
            "is invalid: expected an even width (the SwiGLU splits it in halves)"
        )
    tiles = tile_grid(image_side, v.positive("image_size", 224))
    crops = tiles + 1 if tiles > 1 else 1
    merged = h * factor * factor
    # SigLIP has no pre-norm (tower.fields' projector_norms are CLIP's pre_layrnorm).
    fields = {**tower.fields, "projector_norms": (merged,)}
    return v.built(
        VisionSpec,
        _HF_KEYS,
        **fields,
        patches=crops * tower.positions,
        tokens_per_image=crops * (side // factor) ** 2,
        projector=((merged, width), (width // 2, text_hidden)),
        # Each tile is its own sequence through the tower.
        window_layers=tower.fields["num_layers"] if crops > 1 else 0,
        window_keys=tower.positions if crops > 1 else None,
    )


def read_aya_vision(c: _Config, name: str) -> ModelSpec:
    spec = text_tied_language_model(c, name, "cohere2")
    vision = aya_vision_vision(c, vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"vision": vision})
