"""InternVL (`internvl`; OpenGVLab, 2024-2025; transformers' InternVLConfig, the "-hf" checkpoints
of InternVL 2.5, 3 and 3.5; vLLM reads them with its InternS1ForConditionalGeneration): an
InternViT tower, a pixel-shuffle MLP projector and any language model rooflens reads, in
`text_config` (qwen2 where absent).

The tower (InternVLVisionModel): a biased patch convolution, a class token, learned positions
for the patches and the class token, blocks of two norms (`norm_type` layer_norm or rms_norm),
q/k/v (biased with `attention_bias`), a biased projection_layer, a biased fc1/fc2 MLP and a
learned per-channel scale on each branch (lambda_1, lambda_2: 2 x hidden_size a block, not
counted here, as VisionSpec has no place for them; their products are not priced either); a
final LayerNorm only without `use_mean_pooling`. The projector (InternVLMultiModalProjector):
the class token dropped, 1 / `downsample_ratio` squared neighbouring patches concatenated
(pixel_shuffle), a LayerNorm, linear_1 into the language model's width, an activation and
linear_2, all biased.

An image is tiled as InternVLProcessor tiles it (crop_to_patches, GotOcr2ImageProcessor with its
min_patches 1 and max_patches 12): the grid of 1 to 12 tiles of `vision_config.image_size` whose
aspect ratio is closest to the image's, a larger one on a tie while the image's area exceeds half
the grid's (get_optimal_tiled_canvas), and, with more than one tile, a thumbnail of the whole
image; the language model reads image_seq_length tokens a tile (the processor's
_get_num_multimodal_tokens), between an <img> and an </img> text tag not counted.
"""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import vision_config
from rooflens.models.readers.idefics3 import text_tied_language_model
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import _HF_KEYS, DEFAULT_IMAGE_SIDE

# GotOcr2ImageProcessor's min_patches and max_patches.
_MIN_TILES, _MAX_TILES = 1, 12
_NORMS = {"layer_norm": "layernorm", "rms_norm": "rmsnorm"}


def tile_grid(
    side: int, tile: int, min_tiles: int = _MIN_TILES, max_tiles: int = _MAX_TILES
) -> int:
    """Tiles of the grid a square `side` image is cut into (get_optimal_tiled_canvas over
    get_all_supported_aspect_ratios: grids by their number of tiles, the aspect ratio
    closest to the image's first, then a larger grid on a tie while the image's area is more
    than half of it)."""
    grids = sorted(
        ((w, h) for w in range(1, max_tiles + 1) for h in range(1, max_tiles + 1)
         if min_tiles <= w * h <= max_tiles),
        key=lambda grid: grid[0] * grid[1],
    )  # fmt: skip
    best, best_diff = (1, 1), float("inf")
    for w, h in grids:
        diff = abs(1 - w / h)
        if diff < best_diff:
            best, best_diff = (w, h), diff
        elif diff == best_diff and side * side > 0.5 * tile * tile * w * h:
            best = (w, h)
    return best[0] * best[1]


def _square(v: _Config, key: str, default: int) -> int:
    """An image or patch size, an integer or a [height, width] pair of one integer (the
    config class makes a pair of it)."""
    value = v.raw.get(key)
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if value is None:
        value = default
    if type(value) is not int or value < 1:
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: {key}={v.raw.get(key)!r} is invalid: "
            "expected a positive integer or a [height, width] pair of one positive integer"
        )
    return value


def _tower(v: _Config) -> dict[str, Any]:
    """InternVLVisionModel's fields on one tile; refused where it builds what VisionSpec cannot
    hold."""
    if v.get("use_qk_norm", False):
        # RMSNorms of q and k over the whole width (InternViT-6B).
        refuse(v, "use_qk_norm", True, "false (q/k norms in the vision tower are not modelled)")
    if not v.get("attention_bias", False):
        # q/k/v without biases beside a biased projection_layer and fc1/fc2: one bias flag.
        refuse(v, "attention_bias", False, "true (q/k/v without biases beside the biased "
               "projection_layer and MLP are not modelled)")  # fmt: skip
    if v.get("use_mask_token", False):
        refuse(v, "use_mask_token", True, "false (a masked-image-modelling token inference "
               "never reads)")  # fmt: skip
    norm = v.get("norm_type", "layer_norm")
    if not isinstance(norm, str) or norm not in _NORMS:
        refuse(v, "norm_type", norm, ", ".join(_NORMS))
    pooled = v.get("use_mean_pooling", True)
    if norm == "rms_norm" and not pooled:
        # The final norm is a LayerNorm whatever norm_type says; VisionSpec has one kind.
        refuse(v, "use_mean_pooling", False, "true with norm_type rms_norm (a final LayerNorm "
               "after RMSNorm blocks is not modelled)")  # fmt: skip
    h = v.req("hidden_size")
    return dict(
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        activation=v.get("hidden_act", "gelu"),
        norm=_NORMS[norm],
        # InternVLVisionModel.layernorm is an Identity with mean pooling.
        final_norm=not pooled,
    )


def internvl_vision(
    c: _Config, v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    """The tower on every tile of one `image_side` image and the projector (the module
    docstring)."""
    fields = _tower(v)
    h = fields["hidden_size"]
    tile, patch = _square(v, "image_size", 448), _square(v, "patch_size", 14)
    side = tile // patch
    ratio = c.get("downsample_ratio", 0.5)
    shuffle = round(1 / ratio) if 0 < ratio <= 1 else 0
    if shuffle < 1 or shuffle * ratio != 1 or side < 1 or side % shuffle:
        # pixel_shuffle views side x side patches in blocks of 1/ratio; the projector's width
        # is hidden_size x int(1 / ratio)^2.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: downsample_ratio={ratio!r} is "
            f"invalid: expected 1 / n for an n dividing the {max(side, 0)} patches a side of "
            f"a tile (vision_config.image_size {tile} over patch_size {patch})"
        )
    strategy = c.get("vision_feature_select_strategy", "default")
    if strategy != "default":
        # get_image_features views the features as a square: the class token must go.
        refuse(c, "vision_feature_select_strategy", strategy, "default")
    layer = c.raw.get("vision_feature_layer", -1)
    if type(layer) is not int:
        refuse(c, "vision_feature_layer", layer, "one layer index (an integer)")
    per_tile = side * side // (shuffle * shuffle)
    seq = c.get("image_seq_length", per_tile)
    if seq != per_tile:
        # The processor writes image_seq_length tokens a tile, the projector gives per_tile.
        refuse(c, "image_seq_length", seq, f"{per_tile} ((image_size / patch_size)^2 x "
               "downsample_ratio^2, the tokens a tile's features make)")  # fmt: skip
    tiles = tile_grid(image_side, tile)
    crops = tiles + 1 if tiles > 1 else 1
    positions = side * side + 1
    merged = h * shuffle * shuffle
    absolute = v.get("use_absolute_position_embeddings", True)
    return v.built(
        VisionSpec,
        _HF_KEYS,
        **fields,
        patches=crops * positions,
        tokens_per_image=crops * per_tile,
        patch_inputs=v.positive("num_channels", 3) * patch * patch,
        # A position per patch and the class token's, and the class token as one more row.
        position_rows=positions * absolute + 1,
        projector=((merged, text_hidden), (text_hidden, text_hidden)),
        projector_norms=(merged,),
        # Each tile is its own sequence through the tower.
        window_layers=fields["num_layers"] if crops > 1 else 0,
        window_keys=positions if crops > 1 else None,
    )


def read_internvl(c: _Config, name: str) -> ModelSpec:
    spec = text_tied_language_model(c, name, "qwen2")
    return spec.model_copy(
        update={"vision": internvl_vision(c, vision_config(c), spec.hidden_size)}
    )
