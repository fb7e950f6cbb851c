"""Kimi K2.5 (model_type kimi_k25): a multimodal wrapper whose `text_config` is Kimi K2's
DeepSeek-V3 layout, with the MoonViT-3D vision tower and a patch-merger projector (shapes as in
vLLM's kimi_k25_vit.py: MoonViT3dPretrainedModel, KimiK25MultiModalProjector)."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import READERS, _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.vision import DEFAULT_IMAGE_SIDE

_LANGUAGE_MODELS = ("kimi_k2", "deepseek_v3")


# The vision_config keys MoonViT's VisionSpec fields are read from, which refusals name.
VT_KEYS = {
    "num_layers": "vt_num_hidden_layers",
    "hidden_size": "vt_hidden_size",
    "num_heads": "vt_num_attention_heads",
    "intermediate_size": "vt_intermediate_size",
}
# The same in transformers' own Kimi-K2.5 config (Kimi_K25VisionConfig, 5.x), which spells the
# tower's sizes as any vision config does and its position table pos_emb_height/width.
NATIVE_KEYS = {field: name.removeprefix("vt_") for field, name in VT_KEYS.items()}


def _tower_keys(v: _Config) -> tuple[dict[str, str], str]:
    """The key names of this vision_config's spelling: the published config.json's vt_ names,
    or transformers' own where it has hidden_size and no vt_hidden_size; and its position
    table's prefix."""
    if "vt_hidden_size" not in v.raw and "hidden_size" in v.raw:
        return NATIVE_KEYS, "pos_emb"
    return VT_KEYS, "init_pos_emb"


def moonvit_grid(
    v: _Config, model_type: str, projector: str, image_side: int
) -> tuple[int, int, int, int]:
    """What MoonViT's towers share (Kimi K2.5's and K3's): the projector kind checked, then
    (width, patch size, patches, merge window size) for one image, which the processor resizes
    to whole kh x kw merge windows of patches."""
    kind = v.get("mm_projector_type", projector)
    if kind != projector:
        raise ModelConfigError(
            f"config.json of model_type {model_type!r}: vision_config.mm_projector_type={kind!r} "
            f"is not supported; supported: {projector}"
        )
    h, patch = v.req(_tower_keys(v)[0]["hidden_size"]), v.positive("patch_size", 14)
    window = v.get("merge_kernel_size", [2, 2])
    if len(window) != 2 or any(type(k) is not int or k < 1 for k in window):
        raise ModelConfigError(
            f"config.json of model_type {model_type!r}: vision_config.merge_kernel_size="
            f"{window!r} is invalid: expected [rows, columns] of positive integers"
        )
    kh, kw = window
    rows, cols = image_side // (patch * kh) * kh, image_side // (patch * kw) * kw
    return h, patch, rows * cols, kh * kw


def moonvit_vision(
    v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    """MoonViT-3D on one image: a patch convolution with bias plus a learned position table of
    init_pos_emb_height x init_pos_emb_width rows (interpolated to the image; the temporal
    table is fixed sin-cos), LayerNorm blocks with biases and 2D rotary positions, a final
    LayerNorm; then kh x kw patches are merged: LayerNorm per patch, two linears with biases."""
    h, patch, patches, window = moonvit_grid(v, "kimi_k25", "patchmerger", image_side)
    merged = h * window
    keys, table = _tower_keys(v)
    return v.built(
        VisionSpec,
        keys,
        num_layers=v.req(keys["num_layers"]),
        hidden_size=h,
        num_heads=v.req(keys["num_heads"]),
        intermediate_size=v.req(keys["intermediate_size"]),
        patches=patches,
        tokens_per_image=patches // window,
        patch_inputs=3 * patch * patch,
        activation="gelu_pytorch_tanh",
        position_rows=v.get(f"{table}_height", 64) * v.get(f"{table}_width", 64),
        projector=((merged, merged), (merged, v.get("text_hidden_size", text_hidden))),
        projector_norms=(h,),
    )


def read_kimi_k25(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "kimi_k2")
    if text.model_type not in _LANGUAGE_MODELS:
        raise ModelConfigError(
            f"model_type 'kimi_k25': text_config.model_type {text.model_type!r} is not "
            f"supported; supported: {', '.join(_LANGUAGE_MODELS)}"
        )
    spec = READERS[text.model_type](text, name)
    vision = moonvit_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
