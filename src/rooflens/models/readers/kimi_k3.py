"""Kimi K3 (model_type kimi_k3): a multimodal wrapper whose `text_config` is a Kimi Linear
hybrid (KDA and gated MLA 3:1, a latent MoE, Block Attention Residuals; read by the
kimi_linear reader) with a MoonViT tower of its own layout: RMSNorm blocks without biases,
q/k/v wider than the stream (`qkv_hidden_size`), a 2x2 patch merger projecting through two
linears then an RMSNorm ("patchmergerv2"). Shapes as the published checkpoint's tensors."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec, VisionSpec
from rooflens.models.config import READERS, _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.kimi_k25 import VT_KEYS, moonvit_grid
from rooflens.models.readers.vision import DEFAULT_IMAGE_SIDE


def moonvit_k3_vision(
    v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE
) -> VisionSpec:
    h, patch, patches, window = moonvit_grid(v, "kimi_k3", "patchmergerv2", image_side)
    merged = h * window
    return v.built(
        VisionSpec,
        {**VT_KEYS, "activation": "activation_func"},
        num_layers=v.req("vt_num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("vt_num_attention_heads"),
        intermediate_size=v.req("vt_intermediate_size"),
        attention_width=v.get("qkv_hidden_size", h),
        patches=patches,
        tokens_per_image=patches // window,
        patch_inputs=3 * patch * patch,
        patch_bias=v.get("patch_embed_proj_bias", False),
        activation=v.get("activation_func", "gelu_pytorch_tanh"),
        norm="rmsnorm" if v.get("norm_type", "rmsnorm") == "rmsnorm" else "layernorm",
        bias=v.get("linear_bias", False) or v.get("attn_bias", False),
        position_rows=v.get("init_pos_emb_height", 64) * v.get("init_pos_emb_width", 64),
        projector=((merged, merged), (merged, v.get("text_hidden_size", text_hidden))),
        projector_bias=False,
        projector_norms=(v.get("text_hidden_size", text_hidden),),
        projector_norm="rmsnorm",
        projector_norms_after=True,
    )


def read_kimi_k3(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "kimi_linear")
    if text.model_type != "kimi_linear":
        raise ModelConfigError(
            f"model_type 'kimi_k3': text_config.model_type {text.model_type!r} is not "
            "supported; supported: kimi_linear"
        )
    spec = READERS["kimi_linear"](text, name)
    vision = moonvit_k3_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
