"""Vision towers of the multimodal wrappers -> VisionSpec (transformers' SiglipVisionConfig,
Llama4VisionConfig, Qwen3VLVisionConfig, PixtralVisionConfig)."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.moe_fields import refuse

# Qwen3-VL takes any resolution: rooflens prices a 1024 x 1024 image unless told otherwise.
DEFAULT_IMAGE_SIDE = 1024
# The vision_config keys VisionSpec's fields are read from, which its refusals name instead.
_HF_KEYS = {
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "activation": "hidden_act",
}


def no_pooling_head(v: _Config) -> None:
    """Refuse a SigLIP tower that builds its attention-pooling head: SiglipVisionConfig's
    `vision_use_head` defaults to true, and SiglipVisionTransformer then builds a
    SiglipMultiheadAttentionPoolingHead (a probe, an nn.MultiheadAttention, a LayerNorm and an
    MLP) that the multimodal models never run (they read last_hidden_state) and VisionSpec has
    no place for; the published configs set it false."""
    if v.get("vision_use_head", True):
        refuse(v, "vision_use_head", True, "false (the attention-pooling head transformers "
               "builds is not read by the model nor counted by rooflens)")  # fmt: skip


def siglip_vision(v: _Config, text_hidden: int, tokens: int, rms_in: bool) -> VisionSpec:
    """SigLIP (Gemma 3): learned positions per patch, LayerNorm blocks with biases, a final
    LayerNorm, no pooling head (no_pooling_head); Gemma 3's projector is an RMSNorm and one
    linear without bias."""
    no_pooling_head(v)
    h, patch = v.req("hidden_size"), v.positive("patch_size", 14)
    side = v.positive("image_size", 896) // patch
    return v.built(
        VisionSpec,
        _HF_KEYS,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=side * side,
        tokens_per_image=tokens,
        patch_inputs=v.get("num_channels", 3) * patch * patch,
        activation=v.get("hidden_act", "gelu_pytorch_tanh"),
        position_rows=side * side,
        projector=((h, text_hidden),),
        projector_bias=False,
        projector_norms=(h,) if rms_in else (),
        projector_norm="rmsnorm",
    )


def llama4_vision(v: _Config, text_hidden: int) -> VisionSpec:
    """Llama 4's ViT: a class token, learned positions, pre- and post-LayerNorms, then a
    pixel-shuffle MLP (ratio r: r^2 fewer tokens, 1/r^2 wider) and a linear into the model."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 14)
    side = v.positive("image_size", 336) // patch
    ratio = v.get("pixel_shuffle_ratio", 0.5)
    if not 0 < ratio <= 1:  # r^2 fewer tokens: a ratio of 0 divided by zero
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: pixel_shuffle_ratio={ratio!r} is "
            "invalid: expected a number above 0 and at most 1"
        )
    shuffled = int(h / ratio**2)
    adapter_in = v.get("projector_input_dim", 4096)
    adapter_out = v.get("projector_output_dim", 4096)
    return v.built(
        VisionSpec,
        _HF_KEYS,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        # The class token joins the patches.
        patches=side * side + 1,
        tokens_per_image=int(side * side * ratio**2),
        patch_inputs=v.get("num_channels", 3) * patch * patch,
        patch_bias=False,
        activation=v.get("hidden_act", "gelu"),
        # positional_embedding_vlm rows, plus the class embedding as one more row.
        position_rows=side * side + 2,
        projector=(
            (shuffled, adapter_in),
            (adapter_in, adapter_out),
            (v.get("vision_output_dim", adapter_out), text_hidden),
        ),
        projector_bias=False,
        # layernorm_pre and layernorm_post, priced at the tower's ends.
        projector_norms=(h,),
    )


def qwen3_vl_vision(
    v: _Config, image_side: int = DEFAULT_IMAGE_SIDE, deepstack: bool = True
) -> VisionSpec:
    """Qwen3-VL's ViT: a 3D patch embedding (temporal patch 2), an interpolated learned
    position table, no final norm, a 2x2 patch merger (LayerNorm, two linears) and one
    DeepStack merger per `deepstack_visual_indexes` entry (LayerNorm after the shuffle).
    `deepstack` False: Qwen3.5's, the same tower without DeepStack mergers (transformers'
    Qwen3_5VisionModel deletes them whatever its config lists)."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 16)
    merge = v.positive("spatial_merge_size", 2)
    merged = h * merge * merge
    out = v.get("out_hidden_size", 3584)
    deepstack = len(v.get("deepstack_visual_indexes", [8, 16, 24])) if deepstack else 0
    side = image_side // patch
    return v.built(
        VisionSpec,
        {**_HF_KEYS, "num_layers": "depth", "num_heads": "num_heads"},
        num_layers=v.req("depth"),
        hidden_size=h,
        num_heads=v.req("num_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.get("in_channels", 3) * v.positive("temporal_patch_size", 2) * patch * patch,
        activation=v.get("hidden_act", "gelu_pytorch_tanh"),
        position_rows=v.get("num_position_embeddings", 2304),
        final_norm=False,
        projector=((merged, merged), (merged, out)) * (1 + deepstack),
        projector_norms=(h,) + (merged,) * deepstack,
    )


def pixtral_vision(v: _Config, text_hidden: int, merge: int, bias: bool) -> VisionSpec:
    """Pixtral (Mistral 3): RMSNorm blocks without biases, a gated SiLU MLP, 2D rotary
    positions; Mistral 3's projector: RMSNorm, a 2x2 patch-merging linear, two linears."""
    h, patch = v.req("hidden_size"), v.positive("patch_size", 16)
    side = v.positive("image_size", 1024) // patch
    return v.built(
        VisionSpec,
        _HF_KEYS,
        num_layers=v.req("num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_attention_heads"),
        intermediate_size=v.req("intermediate_size"),
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.get("num_channels", 3) * patch * patch,
        patch_bias=False,
        gated_mlp=True,
        activation=v.get("hidden_act", "silu"),
        norm="rmsnorm",
        bias=False,
        # ln_pre at the input; no norm after the last block.
        final_norm=False,
        projector=((h * merge * merge, h), (h, text_hidden), (text_hidden, text_hidden)),
        projector_bias=bias,
        projector_norms=(h, h),
        projector_norm="rmsnorm",
    )
