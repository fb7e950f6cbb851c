"""MiniMax-M3 as published (2026; transformers' MiniMaxM3VLConfig, model_type minimax_m3_vl): the
language model of `text_config` is MiniMax-M3 (readers.minimax), and a CLIP-like vision tower
with a 3D patch embedding, 3D rotary positions and a patch-merging projector is priced as its own
stage (core.vision)."""

from __future__ import annotations

import math
from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_WIDTH, ModelSpec, VisionSpec
from rooflens.models.config import _Config, layer_counts
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.minimax import read_minimax_m3
from rooflens.models.readers.vision import DEFAULT_IMAGE_SIDE

# transformers' MiniMaxM3VLImageProcessor default: at most 28 x 28 x 1280 pixels an image.
_MAX_PIXELS = 28 * 28 * 1280


def resized_side(side: int, factor: int, max_pixels: int = _MAX_PIXELS) -> int:
    """The side a `side` x `side` image is resized to: the nearest multiple of `factor`, scaled
    down to at most `max_pixels` (transformers' minimax_m3_vl smart_resize, as Qwen2-VL's)."""
    rounded = max(factor, round(side / factor) * factor)
    if rounded * rounded <= max_pixels:
        return rounded
    beta = math.sqrt(side * side / max_pixels)
    return max(factor, math.floor(side / beta / factor) * factor)


def _legacy_text_fields(text: _Config) -> dict[str, Any]:
    """transformers' own spelling of the language model (`layer_types` of full_attention and
    minimax_m3_sparse, `mlp_layer_types` of dense and sparse, the flat `index_*` sizes) as the
    published checkpoints' keys read_minimax_m3 reads (`sparse_attention_config`,
    `moe_layer_freq`); a key already given in the published spelling is kept."""
    fields: dict[str, Any] = {}
    mlp = text.raw.get("mlp_layer_types")
    if mlp is not None and text.raw.get("moe_layer_freq") is None:
        layer_counts(text, mlp, "mlp_layer_types", ("dense", "sparse"))
        fields["moe_layer_freq"] = [int(kind == "sparse") for kind in mlp]
    kinds = text.raw.get("layer_types")
    if kinds is not None and text.raw.get("sparse_attention_config") is None:
        layer_counts(text, kinds, "layer_types", ("full_attention", "minimax_m3_sparse"))
        freq = [int(kind == "minimax_m3_sparse") for kind in kinds]
        # MiniMaxM3VLTextConfig's defaults for the indexer.
        fields["sparse_attention_config"] = {
            "use_sparse_attention": any(freq),
            "sparse_attention_freq": freq,
            "sparse_num_index_heads": text.get("index_n_heads", 4),
            "sparse_index_dim": text.get("index_head_dim", 128),
            "sparse_block_size": text.get("index_block_size", 128),
            "sparse_topk_blocks": text.get("index_topk_blocks", 16),
        }
    return fields


def minimax_m3_vision(
    v: _Config, text_hidden: int, projector_hidden: int, bias: bool, image_side: int
) -> VisionSpec:
    """MiniMax-M3's tower (transformers' MiniMaxM3VLVisionModel): a Conv3d patch embedding of
    `temporal_patch_size` frames without bias, rotary positions only, a pre-LayerNorm, CLIP
    blocks (LayerNorms, q/k/v/o and fc1/fc2 with biases, GELU), no final norm; the projector
    (MiniMaxM3VLMultiModalProjector): per patch linear_1 and linear_2 into the text width, then
    `spatial_merge_size`^2 patches concatenated through merge_linear_1 and merge_linear_2."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 14)
    # The published config nests the merge and temporal sizes in img_token_compression_config.
    nested = v.get("img_token_compression_config", {})
    compression = _Config(nested, f"{v.model_type}.img_token_compression_config")
    merge = v.positive("spatial_merge_size", compression.positive("spatial_merge_size", 2))
    frames = v.positive("temporal_patch_size", compression.positive("temporal_patch_size", 2))
    side = resized_side(image_side, patch * merge) // patch
    merged = text_hidden * merge * merge
    # A refusal names the vision_config keys, not VisionSpec's fields.
    keys = {"num_layers": "num_hidden_layers", "num_heads": "num_attention_heads",
            "activation": "hidden_act", "patch_inputs": "num_channels x temporal_patch_size "
            "x patch_size^2"}  # fmt: skip
    return v.built(
        VisionSpec,
        keys,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.positive("num_channels", 3) * frames * patch * patch,
        patch_bias=False,
        activation=v.get("hidden_act", "gelu"),
        final_norm=False,
        projector=(
            (h, projector_hidden),
            (projector_hidden, text_hidden),
            (merged, projector_hidden),
            (projector_hidden, text_hidden),
        ),
        # linear_1 and linear_2 run on every patch, merge_linear_1 and _2 on the merged ones.
        projector_merged_from=2,
        projector_bias=bias,
        # pre_layrnorm, priced at the tower's end as Llama 4's is.
        projector_norms=(h,),
    )


def read_minimax_m3_vl(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "minimax_m3_vl_text")
    if text.raw.get("hidden_act", "swigluoai") not in ("swigluoai", "silu"):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config.hidden_act="
            f"{text.raw['hidden_act']!r} is not supported; supported: swigluoai (transformers "
            "saves it as silu; MiniMaxM3VL's MLPs are clamped SwiGLU-OAI either way)"
        )
    # MiniMaxM3VLTextConfig computes every MLP as SwiGLU-OAI whatever hidden_act says.
    raw = {**text.raw, **_legacy_text_fields(text), "hidden_act": "swigluoai"}
    spec = read_minimax_m3(_Config(raw, text.model_type), name)
    vision = minimax_m3_vision(
        vision_config(c),
        spec.hidden_size,
        c.positive("projector_hidden_size", 6144, maximum=MAX_WIDTH),
        c.get("multimodal_projector_bias", True),
        DEFAULT_IMAGE_SIDE,
    )
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
