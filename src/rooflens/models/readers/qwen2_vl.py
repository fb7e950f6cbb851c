"""Qwen2-VL (`qwen2_vl`) and Qwen2.5-VL (`qwen2_5_vl`) (Alibaba, 2024-2025; transformers'
Qwen2VLConfig, Qwen2_5_VLConfig): a Qwen2 language model with multimodal (M-RoPE) rotary
positions, which cost what 1D rotary positions cost and are not priced apart, and a ViT priced as
its own stage (core.vision).

The language model (Qwen2VLTextModel, Qwen2_5_VLTextModel) is Qwen2's block: q/k/v with biases,
o_proj and the SwiGLU MLP without, heads that split hidden_size (no head_dim key is read), a
sliding window only with `use_sliding_window` (from `max_window_layers`, default 80, on).
Published configs are flat (the text keys at the top level beside `vision_config`), as
transformers reads them where `text_config` is absent.

Qwen2-VL's tower (Qwen2VisionTransformerPretrainedModel): a Conv3d patch embedding over
`temporal_patch_size` frames without a bias, 2D rotary positions only, `depth` blocks of
LayerNorms, a fused qkv and proj with biases and an fc1/fc2 MLP of embed_dim x mlp_ratio (QuickGELU)
with biases, no final norm; the PatchMerger: a LayerNorm per patch (ln_q), then
`spatial_merge_size`^2 patches concatenated through two linears with biases into `hidden_size`,
the language model's width.

Qwen2.5-VL's tower (Qwen2_5_VisionTransformerPretrainedModel): the same patch embedding and
merger with RMSNorms, blocks of RMSNorms and a SwiGLU MLP of `intermediate_size` with biases;
every block but those of `fullatt_block_indexes` attends within windows of
window_size / patch_size patches a side (transformers' vision_utils.get_vision_window_index),
smaller at the image's right and bottom edges; the merger's output is `out_hidden_size` wide.
An image is resized by Qwen2VLImageProcessor's smart_resize: to multiples of patch_size x
spatial_merge_size, at most 28 x 28 x 1280 pixels.
"""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import _Config, _llama_like, _qwen_window
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.minimax_vl import resized_side
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import DEFAULT_IMAGE_SIDE

# Qwen2VLImageProcessor's size["longest_edge"] (Qwen2.5-VL uses the same processor).
_MAX_PIXELS = 28 * 28 * 1280


def _flat_or_nested_text(c: _Config, default_type: str) -> _Config:
    """The language model's keys: `text_config` where the config has one, else the top level
    (Qwen2VLConfig.__post_init__ takes the text keys from there)."""
    if c.raw.get("text_config") is not None:
        return text_config(c, default_type)
    return _Config(c.raw, default_type)


def _language_model(c: _Config, name: str, default_type: str) -> ModelSpec:
    text = _flat_or_nested_text(c, default_type)
    heads, hidden = text.req("num_attention_heads"), text.req("hidden_size")
    split = text.per_head(hidden, heads)
    # Qwen2VLAttention splits hidden_size over the heads whatever head_dim says.
    if text.raw.get("head_dim") is not None and text.raw["head_dim"] != split:
        refuse(text, "head_dim", text.raw["head_dim"], f"{split} (hidden_size over "
               "num_attention_heads, as transformers' Qwen2-VL attention splits them)")  # fmt: skip
    # Qwen2VLTextConfig: 8 KV heads where the key is absent, every head where it is null.
    null_kv = "num_key_value_heads" in text.raw and text.raw["num_key_value_heads"] is None
    kv = heads if null_kv else text.get("num_key_value_heads", 8)
    # Qwen2VLTextConfig's max_window_layers, where Qwen2Config's differs (28 layers).
    raw: dict[str, Any] = {
        **text.raw,
        "max_window_layers": text.get("max_window_layers", 80),
    }
    text = _Config(raw, text.model_type, text.path)
    spec = _llama_like(
        text,
        name,
        head_dim=split,
        num_kv_heads=kv,
        max_positions=text.get("max_position_embeddings", 32768),
        # The wrapper's tie_word_embeddings (default false), or a pre-v5 text_config's, which
        # Qwen2VLConfig.__post_init__ forwards to it.
        tied_embeddings=c.get("tie_word_embeddings", False)
        or text.get("tie_word_embeddings", False),
        qkv_bias=True,
        out_bias=False,
        mlp_bias=False,
        **_qwen_window(text),
    )
    return spec.model_copy(update={"model_type": c.model_type})


def _side(v: _Config, patch: int, merge: int, image_side: int) -> int:
    """Patches a side of a square `image_side` image after smart_resize."""
    return resized_side(image_side, patch * merge, _MAX_PIXELS) // patch


def _out_width(v: _Config, key: str, default: int, text_hidden: int) -> int:
    out = v.positive(key, default)
    if out != text_hidden:
        # The merger's outputs replace image tokens' embeddings (Qwen2VLModel.get_image_features).
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: {v.path}{key}={out} is invalid: "
            f"expected the language model's hidden_size ({text_hidden}), the width the "
            "merger's tokens enter it at"
        )
    return out


def qwen2_vl_vision(
    v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    """Qwen2-VL's tower and PatchMerger (the module docstring) on one `image_side` image."""
    h, patch = v.positive("embed_dim", 1280), v.positive("patch_size", 14)
    merge = v.positive("spatial_merge_size", 2)
    out = _out_width(v, "hidden_size", 3584, text_hidden)
    side = _side(v, patch, merge, image_side)
    merged = h * merge * merge
    keys = {"num_layers": "depth", "num_heads": "num_heads", "hidden_size": "embed_dim",
            "intermediate_size": "embed_dim x mlp_ratio", "activation": "hidden_act",
            "patch_inputs": "in_channels x temporal_patch_size x patch_size^2"}  # fmt: skip
    return v.built(
        VisionSpec,
        keys,
        num_layers=v.req("depth"),
        hidden_size=h,
        num_heads=v.req("num_heads"),
        # Qwen2VLVisionBlock: int(embed_dim * mlp_ratio).
        intermediate_size=int(h * v.get("mlp_ratio", 4.0)),
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.positive("in_channels", 3)
        * v.positive("temporal_patch_size", 2)
        * patch
        * patch,
        patch_bias=False,
        activation=v.get("hidden_act", "quick_gelu"),
        final_norm=False,
        projector=((merged, merged), (merged, out)),
        # ln_q, a LayerNorm per patch before the merge.
        projector_norms=(h,),
    )


def _windows(v: _Config, side: int, patch: int, merge: int) -> int:
    """Keys a patch attends to in a window layer, the mean over a `side` x `side` patch image
    rounded: windows of window_size // spatial_merge_size // patch_size merged tokens a side,
    the last row and column of windows holding what remains (get_vision_window_index)."""
    size = v.positive("window_size", 112)
    per_window = size // merge // patch
    if per_window < 1:  # get_vision_window_index divides by it
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: {v.path}window_size={size} is "
            f"invalid: expected at least patch_size x spatial_merge_size ({patch * merge})"
        )
    tokens = side // merge
    edges = [per_window] * (tokens // per_window) + [tokens % per_window] * bool(
        tokens % per_window
    )
    # A window of a x b merged tokens holds a b merge^2 patches, each seeing all of them.
    pairs = merge**4 * sum(a * a for a in edges) ** 2
    return max(1, round(pairs / (side * side)))


def qwen2_5_vl_vision(
    v: _Config,
    text_hidden: int,
    image_side: int = DEFAULT_IMAGE_SIDE,
    kv_heads: int | None = None,
) -> VisionSpec:
    """Qwen2.5-VL's tower, window attention and PatchMerger (the module docstring) on one
    `image_side` image; `kv_heads` where its attention groups queries (EXAONE 4.5)."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 14)
    merge = v.positive("spatial_merge_size", 2)
    out = _out_width(v, "out_hidden_size", 3584, text_hidden)
    depth = v.req("depth")
    full = v.get("fullatt_block_indexes", [7, 15, 23, 31])
    if any(type(i) is not int for i in full):
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: fullatt_block_indexes={full!r} is "
            "invalid: expected a JSON array of block indexes (integers)"
        )
    side = _side(v, patch, merge, image_side)
    merged = h * merge * merge
    # Indexes past the last block name no block (transformers tests `layer_num in` the list).
    windowed = depth - len({i for i in full if 0 <= i < depth})
    keys = {"num_layers": "depth", "num_heads": "num_heads", "activation": "hidden_act",
            "patch_inputs": "in_channels x temporal_patch_size x patch_size^2"}  # fmt: skip
    return v.built(
        VisionSpec,
        keys,
        num_layers=depth,
        hidden_size=h,
        num_heads=v.req("num_heads"),
        num_kv_heads=kv_heads,
        intermediate_size=v.req("intermediate_size"),
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.positive("in_channels", 3)
        * v.positive("temporal_patch_size", 2)
        * patch
        * patch,
        patch_bias=False,
        gated_mlp=True,
        activation=v.get("hidden_act", "silu"),
        norm="rmsnorm",
        final_norm=False,
        projector=((merged, merged), (merged, out)),
        projector_norms=(h,),
        projector_norm="rmsnorm",
        window_layers=windowed,
        window_keys=_windows(v, side, patch, merge) if windowed else None,
    )


def read_qwen2_vl(c: _Config, name: str) -> ModelSpec:
    spec = _language_model(c, name, "qwen2_vl_text")
    return spec.model_copy(update={"vision": qwen2_vl_vision(vision_config(c), spec.hidden_size)})


def read_qwen2_5_vl(c: _Config, name: str) -> ModelSpec:
    spec = _language_model(c, name, "qwen2_5_vl_text")
    vision = qwen2_5_vl_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"vision": vision})
