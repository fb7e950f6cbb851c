"""GLM-4.1V-Thinking and GLM-4.6V-Flash (`glm4v`: a GLM-4 dense language model) and GLM-4.5V and
GLM-4.6V (`glm4v_moe`: GLM-4.5-Air's MoE language model) (Z.ai, 2025; transformers' Glm4vConfig,
Glm4vMoeConfig). The `text_config` is read as `glm4` or `glm4_moe` with the differences of
transformers' Glm4vTextModel / Glm4vMoeTextModel; the vision tower (Glm4vVisionModel, the same in
both) is priced as its own stage (core.vision).

The tower: a Conv3d patch embedding over `temporal_patch_size` frames with a bias, an RMSNorm
after it (post_conv_layernorm), a learned position table of (image_size / patch_size)^2 rows
interpolated to the image (plus 2D rotary positions, not priced), `depth` blocks of RMSNorms,
q/k/v/o without biases and a SwiGLU MLP whose width is `out_hidden_size` (not
`intermediate_size`), a final RMSNorm (post_layernorm), then the projector: a
`spatial_merge_size` x `spatial_merge_size` Conv2d with a bias (downsample: h * m^2 ->
out_hidden_size), and the merger: a linear, a LayerNorm and GELU, and a SwiGLU MLP of
`intermediate_size` (gate, up, down; no biases) back to `out_hidden_size`, the language model's
width.

Not priced (VisionSpec has no place for them): post_conv_layernorm's `hidden_size` weights and the
downsample's `out_hidden_size` bias, hidden_size + out_hidden_size parameters (1,536 + 4,096 =
5,632 at Glm4vVisionConfig's defaults; the projector's other linears have no bias); the
merger's GELU and SiLU (no projector prices its activations).
"""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_COUNT, ModelSpec, VisionSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.deepseek import read_glm4_moe
from rooflens.models.readers.glm4 import read_glm4
from rooflens.models.readers.minimax_vl import resized_side
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.vision import DEFAULT_IMAGE_SIDE

# Glm4vImageProcessor's size["longest_edge"]: at most 28 x 28 x 15000 pixels over the
# temporal_patch_size frames an image is repeated to (its smart_resize).
_MAX_PIXELS = 28 * 28 * 15000


def glm4v_vision(v: _Config, text_hidden: int, image_side: int = DEFAULT_IMAGE_SIDE) -> VisionSpec:
    """GLM-4.xV's tower and projector (the module docstring); an image is `image_side` square as
    the processor resizes it (multiples of patch_size x spatial_merge_size), one temporal
    patch."""
    # Glm4vVisionAttention: vLLM's Glm4vVisionAttention builds q/k/v without a bias whatever
    # attention_bias says, so the checkpoint's projections are not known.
    if v.get("attention_bias", False):
        refuse(v, "attention_bias", True, "false (vLLM's GLM-4V tower has no bias there, "
               "transformers' one)")  # fmt: skip
    h, patch = v.req("hidden_size"), v.positive("patch_size", 14)
    merge = v.positive("spatial_merge_size", 2)
    # Bounded: the processor's pixel budget is divided by it (a larger count left none).
    frames = v.positive("temporal_patch_size", 2, maximum=MAX_COUNT)
    out = v.positive("out_hidden_size", 4096)
    if out != text_hidden:
        # The merger's outputs replace image tokens' embeddings (Glm4vModel.get_image_features).
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: out_hidden_size={out} is invalid: "
            f"expected the language model's hidden_size ({text_hidden}), the width the "
            "merger's tokens enter it at"
        )
    merged, context = h * merge * merge, v.req("intermediate_size")
    # Glm4vVisionEmbeddings: num_positions = (image_size // patch_size) ** 2.
    table = v.positive("image_size", 336) // patch
    if table < 1:
        raise ModelConfigError(
            f"config.json of model_type {v.model_type!r}: image_size={v.raw['image_size']!r} is "
            f"invalid: expected at least patch_size ({patch}), the position table's side"
        )
    # Glm4vImageProcessor.resize: smart_resize over temporal_patch_size frames.
    side = resized_side(image_side, patch * merge, _MAX_PIXELS // frames) // patch
    # A refusal names the vision_config keys, not VisionSpec's fields.
    keys = {
        "num_layers": "depth",
        "intermediate_size": "out_hidden_size",
        "activation": "hidden_act",
        "patch_inputs": "in_channels x temporal_patch_size x patch_size^2",
    }
    return v.built(
        VisionSpec,
        keys,
        num_layers=v.req("depth", "num_hidden_layers"),
        hidden_size=h,
        num_heads=v.req("num_heads", "num_attention_heads"),
        # Glm4VisionMlp: gate/up/down of out_hidden_size.
        intermediate_size=out,
        patches=side * side,
        tokens_per_image=side * side // (merge * merge),
        patch_inputs=v.positive("in_channels", 3) * frames * patch * patch,
        gated_mlp=True,
        activation=v.get("hidden_act", "silu"),
        norm="rmsnorm",
        bias=False,
        position_rows=table * table,
        # post_layernorm.
        final_norm=True,
        # downsample (its bias not priced), merger.proj, gate_proj, up_proj, down_proj.
        projector=(
            (merged, out),
            (out, out),
            (out, context),
            (out, context),
            (context, out),
        ),
        projector_bias=False,
        # merger.post_projection_norm, a LayerNorm with a bias.
        projector_norms=(out,),
        projector_norm="layernorm",
    )


def _tied(c: _Config, text: _Config) -> bool:
    # Glm4vConfig.__post_init__: a text_config's tie_word_embeddings (pre-v5 saves) is forwarded
    # to the top level, whose default is false.
    return c.get("tie_word_embeddings", False) or text.get("tie_word_embeddings", False)


def read_glm4v(c: _Config, name: str) -> ModelSpec:
    """GLM-4.1V's language model (Glm4vTextModel) is GLM-4-0414's block (`glm4`: four RMSNorms a
    layer, q/k/v biases, none on o_proj or the MLP) whose heads split hidden_size (no head_dim
    key is read) and whose q/k/v always carry a bias; Glm4vTextConfig's 32,768 positions."""
    text = text_config(c, "glm4v_text")
    heads, hidden = text.req("num_attention_heads"), text.req("hidden_size")
    split = text.per_head(hidden, heads)
    # vLLM serves it as Glm4ForCausalLM, which reads head_dim and attention_bias where
    # transformers reads neither: refused where the two would build different weights.
    if text.raw.get("head_dim") is not None and text.raw["head_dim"] != split:
        refuse(text, "head_dim", text.raw["head_dim"], f"{split} (hidden_size over "
               "num_attention_heads, as transformers' Glm4vTextAttention splits them)")  # fmt: skip
    if not text.get("attention_bias", True):
        refuse(text, "attention_bias", False, "true (transformers' Glm4vTextAttention always has "
               "q/k/v biases, vLLM none where it is false)")  # fmt: skip
    raw = {
        **text.raw,
        "head_dim": split,
        "attention_bias": True,
        "max_position_embeddings": text.get("max_position_embeddings", 32768),
        "tie_word_embeddings": _tied(c, text),
    }
    spec = read_glm4(_Config(raw, text.model_type), name)
    vision = glm4v_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})


def read_glm4v_moe(c: _Config, name: str) -> ModelSpec:
    """GLM-4.5V's language model (Glm4vMoeTextModel) is GLM-4.5-Air's (`glm4_moe`) with q/k/v
    biases unless `attention_bias` is false (Glm4vMoeTextConfig's default true) and no q/k
    norms; its MTP layers (`num_nextn_predict_layers`) as glm4_moe reads them."""
    text = text_config(c, "glm4v_moe_text")
    # transformers builds no q/k norms here (Glm4vMoeTextConfig has no use_qk_norm); vLLM's
    # Glm4MoeAttention builds them where it is set.
    if text.get("use_qk_norm", False):
        refuse(text, "use_qk_norm", True, "false (transformers' Glm4vMoeTextAttention has no q/k "
               "norms, vLLM's would)")  # fmt: skip
    raw = {
        **text.raw,
        "attention_bias": text.get("attention_bias", True),
        "max_position_embeddings": text.get("max_position_embeddings", 65536),
        "tie_word_embeddings": _tied(c, text),
    }
    spec = read_glm4_moe(_Config(raw, text.model_type), name)
    vision = glm4v_vision(vision_config(c), spec.hidden_size)
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
