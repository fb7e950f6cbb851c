"""GLM-4.1V / GLM-4.6V-Flash (model_type glm4v) and GLM-4.5V / GLM-4.6V (glm4v_moe): the
language model of text_config read as glm4 / glm4_moe with transformers' Glm4vText differences,
the vision tower priced as its own stage. Counts here are by hand on toy configs; both equal
transformers' models on the toy configs of tests/test_params_transformers.py, less the two small
weights the reader leaves out."""

from __future__ import annotations

import re
from typing import Any

import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.memory import kv_bytes_per_token
from rooflens.core.mtp import mtp_params
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config

# A tower of one block 8 wide (2 heads), its MLP 16 wide (out_hidden_size, the text width), the
# merger's MLP 24 wide, 14-pixel patches over 2 frames, a 2 x 2 position table (image_size 28).
TOWER = {
    "depth": 1,
    "hidden_size": 8,
    "num_heads": 2,
    "out_hidden_size": 16,
    "intermediate_size": 24,
    "image_size": 28,
}
# GLM-4 dense: 2 layers, 4 heads of 4 (hidden_size split), 2 KV heads.
DENSE_TEXT = {
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 24,
    "vocab_size": 32,
}
# GLM-4.5-Air's layout: 3 layers, the first dense, then 4 experts of 8 (top 2) and a shared
# one; 1 KV head of 8 (head_dim); one MTP layer.
MOE_TEXT = DENSE_TEXT | {
    "num_hidden_layers": 3,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "moe_intermediate_size": 8,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "num_nextn_predict_layers": 1,
}


def _config(model_type: str, text: dict[str, Any], tower: dict[str, Any] = TOWER) -> dict:
    return {"model_type": model_type, "text_config": text, "vision_config": tower}


def test_the_tower_and_its_projector_by_hand() -> None:
    spec = spec_from_config(_config("glm4v", DENSE_TEXT))
    h, out, context = 8, 16, 24
    patch = 3 * 2 * 14 * 14 * h + h  # Conv3d over 2 frames of 14 x 14, with a bias
    positions = 4 * h  # (28 / 14)^2 rows
    block = 2 * h + 4 * h * h + 3 * h * out  # RMSNorms, q/k/v/o, SwiGLU of out_hidden_size
    final = h  # post_layernorm
    # downsample (4h -> out; its bias left out), merger.proj, gate, up, down, its LayerNorm.
    projector = 4 * h * out + out * out + 2 * out * context + context * out + 2 * out
    assert vision_params(spec) == patch + positions + block + final + projector == 12_064
    v = spec.vision
    assert (v.norm, v.bias, v.gated_mlp, v.activation) == ("rmsnorm", False, True, "silu")
    # A 1024 x 1024 image resized to 37 x 28 = 1036: 74 x 74 patches, merged 2 x 2.
    assert (v.patches, v.tokens_per_image) == (74 * 74, 37 * 37)


def test_glm4v_language_model_by_hand() -> None:
    spec = spec_from_config(_config("glm4v", DENSE_TEXT))
    assert (spec.model_type, spec.head_dim, spec.norms_per_block, spec.max_positions) == (
        "glm4v",
        4,
        4,
        32768,
    )
    assert spec.qkv_bias and not spec.out_bias and not spec.tied_embeddings
    # q 16x16 + 16, k and v 16x8 + 8, o 16x16; SwiGLU 3 x 16 x 24; four RMSNorms.
    layer = (256 + 16) + 2 * (128 + 8) + 256 + 3 * 16 * 24 + 4 * 16
    assert build_graph(spec, AnalysisOptions()).params() == 2 * 32 * 16 + 16 + 2 * layer
    # K and V: 2 layers x 2 KV heads x 4 at 2 bytes.
    assert kv_bytes_per_token(spec, Quantization()) == 2 * 2 * 2 * 4 * 2
    # Glm4vConfig forwards a text_config's tie_word_embeddings to the top level.
    tied = spec_from_config(_config("glm4v", DENSE_TEXT | {"tie_word_embeddings": True}))
    assert tied.tied_embeddings


def test_glm4v_moe_language_model_by_hand() -> None:
    spec = spec_from_config(_config("glm4v_moe", MOE_TEXT))
    assert (spec.num_experts, spec.experts_per_token, spec.dense_layers) == (4, 2, 1)
    # Glm4vMoeTextConfig's attention_bias defaults to true, glm4_moe's to false.
    assert spec.qkv_bias and not spec.qk_norm and spec.mtp_layers == 1
    assert spec.max_positions == 65536
    # K and V: 3 layers x 1 KV head x 8 at 2 bytes.
    assert kv_bytes_per_token(spec, Quantization()) == 2 * 3 * 1 * 8 * 2
    # q 16x32 + 32, k and v 16x8 + 8, o 32x16; two RMSNorms.
    attention = (512 + 32) + 2 * (128 + 8) + 512 + 2 * 16
    dense = attention + 3 * 16 * 24
    # Router and its score-correction bias, 4 experts of 8 and the shared one.
    moe = attention + (4 * 16 + 4) + 4 * 3 * 16 * 8 + 3 * 16 * 8
    assert build_graph(spec, AnalysisOptions()).params() == 2 * 32 * 16 + 16 + dense + 2 * moe
    assert mtp_params(spec) > 0


@pytest.mark.parametrize("model_type", ["glm4v", "glm4v_moe"])
def test_an_image_runs_through_the_vision_stage(model_type: str) -> None:
    text = DENSE_TEXT if model_type == "glm4v" else MOE_TEXT
    spec = spec_from_config(_config(model_type, text))
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 37 * 37
    assert "vision" in result.steps


@pytest.mark.parametrize(
    ("model_type", "text", "tower", "message"),
    [
        ("glm4v", {}, {"out_hidden_size": 32},
         "'glm4v.vision_config': out_hidden_size=32 is invalid: expected the language model's "
         "hidden_size (16)"),
        ("glm4v_moe", {}, {"attention_bias": True},
         "'glm4v_moe.vision_config': attention_bias=True is not supported; supported: false"),
        ("glm4v", {"head_dim": 8}, {},
         "'glm4v_text': head_dim=8 is not supported; supported: 4 (hidden_size over "
         "num_attention_heads"),
        ("glm4v", {"attention_bias": False}, {},
         "'glm4v_text': attention_bias=False is not supported; supported: true"),
        ("glm4v_moe", {"use_qk_norm": True}, {},
         "'glm4v_moe_text': use_qk_norm=True is not supported; supported: false"),
        ("glm4v", {}, {"image_size": 10},
         "image_size=10 is invalid: expected at least patch_size (14)"),
        # Named as vision_config spells it, not as VisionSpec's num_layers.
        ("glm4v", {}, {"depth": 0}, "depth=0 is invalid: expected a positive integer"),
        ("glm4v", {}, {"hidden_act": 1}, "hidden_act=1 is invalid"),
        # It divides the processor's pixel budget: 2^40 frames raised ZeroDivisionError.
        ("glm4v", {}, {"temporal_patch_size": 1 << 40},
         f"temporal_patch_size={1 << 40} is invalid: expected a positive integer of at most"),
    ],
)  # fmt: skip
def test_what_glm4v_cannot_be_is_refused(
    model_type: str, text: dict, tower: dict, message: str
) -> None:
    base = DENSE_TEXT if model_type == "glm4v" else MOE_TEXT
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_config(model_type, base | text, TOWER | tower))
