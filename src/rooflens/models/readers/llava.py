"""LLaVA (`llava`), LLaVA-NeXT (`llava_next`) and LLaVA-OneVision (`llava_onevision`)
(transformers' LlavaConfig, LlavaNextConfig, LlavaOnevisionConfig): a CLIP or SigLIP vision tower
(`vision_config.model_type` clip_vision_model or siglip_vision_model), a two-linear projector
(linear_1, an activation, linear_2, biased unless `multimodal_projector_bias` is false) and any
language model rooflens reads, in `text_config`.

The towers (transformers' CLIPVisionModel, SiglipVisionModel): a patch convolution (CLIP's without
a bias), a learned position per patch (CLIP's also a class token and its embedding), CLIP's
pre_layrnorm, LayerNorm blocks with biased q/k/v/o and fc1/fc2 MLPs, a post_layernorm. Every block
is priced, as transformers runs them all before picking `vision_feature_layer`'s output (vLLM
drops the blocks after it: one block of 24 fewer for LLaVA-1.5's -2); the post_layernorm, which
LLaVA's features skip, is counted and priced per patch, an upper bound.

LLaVA-NeXT and OneVision tile an image ("anyres", their processors' _get_number_of_features):
the pinpoint of `image_grid_pinpoints` that keeps the most of the image's pixels, then wastes the
fewest (select_best_resolution), is cut into crops of `image_size`; the tower runs on those crops
and on the whole image resized to one crop, each crop's patches attending to their own crop only
(priced as window attention of a crop's positions). The language model reads the whole image's
features, the tiles' features less the padding rows or columns (unpad_image), and an
image_newline token per row; OneVision scales the tiles' features down where they exceed
`vision_aspect_ratio`'s anyres_max_N crops by more than 10%.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import READERS, _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import _HF_KEYS, DEFAULT_IMAGE_SIDE, no_pooling_head

# transformers' class defaults of the two towers: (patch_size, hidden_act).
_TOWERS = {
    "clip_vision_model": (32, "quick_gelu"),
    "siglip_vision_model": (16, "gelu_pytorch_tanh"),
}
# LlavaNextConfig's and LlavaOnevisionConfig's image_grid_pinpoints defaults, (height, width).
_NEXT_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
_ONEVISION_PINPOINTS = [[384 * a, 384 * b] for a in range(1, 7) for b in range(1, 7)]


class Tower(NamedTuple):
    """One crop through a CLIP or SigLIP tower: its VisionSpec fields, positions (patches and
    CLIP's class token), patches a side, and whether a class token leads them."""

    fields: dict[str, Any]
    positions: int
    side: int
    cls: int


def clip_or_siglip(v: _Config, default_kind: str) -> Tower:
    """A CLIP or SigLIP tower on one `image_size` crop (the module docstring)."""
    kind = v.raw.get("model_type", default_kind)
    if not isinstance(kind, str) or kind not in _TOWERS:
        refuse(v, "model_type", kind, ", ".join(_TOWERS))
    if kind == "siglip_vision_model":
        no_pooling_head(v)
    patch_default, act = _TOWERS[kind]
    h, patch = v.req("hidden_size"), v.positive("patch_size", patch_default)
    side = v.positive("image_size", 224) // patch
    if side < 1:
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: image_size={v.raw['image_size']!r} is "
            f"invalid: expected at least patch_size ({patch})"
        )
    cls = int(kind == "clip_vision_model")
    fields = dict(
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patch_inputs=v.positive("num_channels", 3) * patch * patch,
        # CLIPVisionEmbeddings' convolution has no bias, SigLIP's has.
        patch_bias=not cls,
        activation=v.get("hidden_act", act),
        # CLIP: a position per patch and the class token's, and class_embedding as one more row.
        position_rows=side * side + 2 * cls,
        final_norm=True,
        # CLIP's pre_layrnorm, priced at the tower's end as Llama 4's is.
        projector_norms=(h,) * cls,
    )
    return Tower(fields, side * side + cls, side, cls)


def language_model(c: _Config, name: str, default_type: str) -> ModelSpec:
    """`text_config` read by its own model_type's reader; the wrapper's tie_word_embeddings (or
    the language model's, which the wrapper's __post_init__ forwards) ties."""
    text = text_config(c, default_type)
    reader = READERS.get(text.model_type)
    spec = reader(text, name) if reader is not None else None
    if spec is None or spec.vision is not None or spec.vision_left_out is not None:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config.model_type="
            f"{text.model_type!r} is not supported; supported: a language model rooflens reads "
            "(not a multimodal wrapper)"
        )
    tied = c.get("tie_word_embeddings", False) or spec.tied_embeddings
    return spec.model_copy(update={"model_type": c.model_type, "tied_embeddings": tied})


def _features(c: _Config, tower: Tower, strategy: str, layer: int) -> tuple[int, int]:
    """(features per crop, feature layers concatenated): "default" drops the first position
    (CLIP's class token), "full" keeps every one."""
    strategy = c.get("vision_feature_select_strategy", strategy)
    if strategy not in ("default", "full"):
        refuse(c, "vision_feature_select_strategy", strategy, "default, full")
    layers = c.raw.get("vision_feature_layer", layer)
    if isinstance(layers, list) and layers and all(type(i) is int for i in layers):
        count = len(layers)
    elif type(layers) is int:
        count = 1
    else:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: vision_feature_layer={layers!r} is "
            "invalid: expected a layer index or a JSON array of them"
        )
    return tower.positions - (strategy == "default"), count


def _projector(c: _Config, tower: Tower, layers: int, text_hidden: int) -> dict[str, Any]:
    # LlavaMultiModalProjector: linear_1 from the concatenated feature layers, linear_2.
    h = tower.fields["hidden_size"]
    return dict(
        projector=((h * layers, text_hidden), (text_hidden, text_hidden)),
        projector_bias=c.get("multimodal_projector_bias", True),
    )


def read_llava(c: _Config, name: str) -> ModelSpec:
    spec = language_model(c, name, "llama")
    v = vision_config(c)
    tower = clip_or_siglip(v, "clip_vision_model")
    features, layers = _features(c, tower, "default", -2)
    vision = v.built(
        VisionSpec,
        _HF_KEYS,
        **tower.fields,
        **_projector(c, tower, layers, spec.hidden_size),
        patches=tower.positions,
        tokens_per_image=features,
    )
    return spec.model_copy(update={"vision": vision})


def select_best_resolution(side: int, pinpoints: list[list[int]]) -> tuple[int, int]:
    """The (height, width) of `pinpoints` a `side` x `side` image is resized into: the most of
    its pixels kept, then the fewest wasted (transformers' select_best_resolution)."""
    best, kept, wasted = (0, 0), 0, math.inf
    for height, width in pinpoints:
        scale = min(width / side, height / side)
        effective = min(int(side * scale) * int(side * scale), side * side)
        waste = width * height - effective
        if effective > kept or (effective == kept and waste < wasted):
            best, kept, wasted = (height, width), effective, waste
    return best


def _pinpoints(c: _Config, default: list[list[int]], crop: int) -> list[list[int]]:
    pinpoints = c.get("image_grid_pinpoints", default)
    if not pinpoints or any(
        not isinstance(p, list)
        or len(p) != 2
        or any(type(x) is not int or x < crop or x % crop for x in p)
        for p in pinpoints
    ):
        # The processor cuts ceil(side / crop) crops a side, the model views floor(side / crop).
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: image_grid_pinpoints={pinpoints!r} is "
            f"invalid: expected [height, width] pairs of multiples of vision_config.image_size "
            f"({crop})"
        )
    return pinpoints


def _unpadded(side: int, rows: int, cols: int) -> tuple[int, int]:
    """(rows, columns) of the tiles' features a square image keeps, the padding the grid adds
    around it cut off (LlavaNextProcessor._get_unpadded_features, for an image as high as
    wide: the longer way is cut to the shorter)."""
    height, width = side * rows, side * cols
    if width < height:  # padding rows above and below the image
        height -= 2 * ((height - width) // 2)
    else:
        width -= 2 * ((width - height) // 2)
    return height, width


def _anyres(
    c: _Config,
    name: str,
    default_text: str,
    default_tower: str,
    strategy: str,
    layer: int,
    pinpoints: list[list[int]],
    max_crops: int | None,
    image_side: int = DEFAULT_IMAGE_SIDE,
) -> ModelSpec:
    spec = language_model(c, name, default_text)
    v = vision_config(c)
    tower = clip_or_siglip(v, default_tower)
    features, layers = _features(c, tower, strategy, layer)
    side = tower.side
    if features != side * side:
        # pack_image_features views each crop's features as side x side.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: vision_feature_select_strategy gives "
            f"{features} features a crop, not the {side} x {side} patches the tiles are laid "
            "out by: expected default with a CLIP tower (its class token dropped), full with "
            "SigLIP"
        )
    crop = v.positive("image_size", 224)
    height, width = select_best_resolution(image_side, _pinpoints(c, pinpoints, crop))
    rows, cols = height // crop, width // crop
    kept_rows, kept_cols = _unpadded(side, rows, cols)
    if max_crops is not None:
        ratio = math.sqrt(kept_rows * kept_cols / (max_crops * side * side))
        if ratio > 1.1:  # the tiles' features scaled down (bilinear) to about max_crops crops
            kept_rows, kept_cols = int(kept_rows // ratio), int(kept_cols // ratio)
    crops = 1 + rows * cols
    vision = v.built(
        VisionSpec,
        _HF_KEYS,
        **tower.fields,
        **_projector(c, tower, layers, spec.hidden_size),
        patches=crops * tower.positions,
        # The whole image's features, the tiles' and an image_newline token a row of them.
        tokens_per_image=side * side + kept_rows * kept_cols + kept_rows,
        # The projector runs on every crop's features, before the unpadding and newlines.
        projector_rows=crops * features,
        # Each crop's patches attend within their crop, in every block.
        window_layers=tower.fields["num_layers"],
        window_keys=tower.positions,
    )
    return spec.model_copy(update={"vision": vision})


def read_llava_next(c: _Config, name: str) -> ModelSpec:
    return _anyres(c, name, "llama", "clip_vision_model", "default", -2, _NEXT_PINPOINTS, None)


def read_llava_onevision(c: _Config, name: str) -> ModelSpec:
    aspect = c.get("vision_aspect_ratio", "anyres_max_9")
    match = re.fullmatch(r"anyres_max_(\d+)", str(aspect))
    if match is None or int(match[1]) < 1:
        refuse(c, "vision_aspect_ratio", aspect, "anyres_max_N (N crops at most, N >= 1)")
    return _anyres(
        c,
        name,
        "qwen2",
        "siglip_vision_model",
        "full",
        -1,
        _ONEVISION_PINPOINTS,
        int(match[1]),
    )
