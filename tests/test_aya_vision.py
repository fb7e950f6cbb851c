"""Aya Vision (model_type aya_vision): a SigLIP tower on every tile of an image, a pixel-shuffle
SwiGLU projector and the Cohere2 language model. Counts here are by hand on toy configs; all
equal transformers' models on the toy configs of tests/test_params_transformers.py."""

from __future__ import annotations

import re

import pytest

import rooflens
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config

TEXT = {
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 4,
    "intermediate_size": 24,
    "vocab_size": 32,
    "sliding_window": 8,
    "max_position_embeddings": 8192,
}
# Aya Vision 8B's tile: SigLIP on 364 pixels of 14-pixel patches (26 a side), one block 8 wide.
TOWER = {
    "model_type": "siglip_vision_model",
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 364,
    "patch_size": 14,
    "vision_use_head": False,
}


def _config(**extra: object) -> dict:
    return {"model_type": "aya_vision", "text_config": TEXT, "vision_config": TOWER, **extra}


def test_tower_and_swiglu_projector_by_hand() -> None:
    spec = spec_from_config(_config())
    h, width, text = 8, 12, 16
    embeddings = 3 * 14 * 14 * h + h + 26 * 26 * h  # biased patch conv, a position per patch
    block = 2 * 2 * h + 4 * (h * h + h) + (h * width + width) + (width * h + h)
    post_layernorm = 2 * h
    # 2 x 2 patches: a LayerNorm, linear_1 into 16, SwiGLU to 8, linear_2 into 16, biased.
    projector = 2 * 4 * h + (4 * h * text + text) + (text // 2 * text + text)
    assert vision_params(spec) == embeddings + block + post_layernorm + projector
    # Cohere2: window layers (three of four), tied embeddings (its default).
    assert (spec.model_type, spec.window_layers, spec.tied_embeddings) == ("aya_vision", 3, True)


def test_a_1024_image_is_3_x_3_tiles_and_a_thumbnail() -> None:
    v = spec_from_config(_config()).vision
    # 1024^2 is more than half of 3 x 3 tiles of 364: 9 tiles and the global thumbnail, 169
    # tokens each (AyaVisionProcessor: (364 // 28)^2).
    assert v.patches == 10 * 676
    assert v.tokens_per_image == 10 * 169 == 1690
    assert (v.window_layers, v.window_keys) == (1, 676)
    spec = spec_from_config(_config())
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 1690


def test_alignment_width_sets_the_swiglu() -> None:
    spec = spec_from_config(_config(alignment_intermediate_size=40))
    assert spec.vision.projector == ((32, 40), (20, 16))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _config(vision_config={k: v for k, v in TOWER.items() if k != "vision_use_head"}),
            "vision_use_head=True is not supported; supported: false",
        ),
        (
            _config(vision_config=TOWER | {"model_type": "clip_vision_model"}),
            "model_type='clip_vision_model' is not supported; supported: siglip_vision_model",
        ),
        (
            _config(vision_feature_select_strategy="default"),
            "vision_feature_select_strategy='default' is not supported; supported: full",
        ),
        (
            _config(vision_feature_layer=[-1, -2]),
            "vision_feature_layer=[-1, -2] is not supported; supported: one layer index",
        ),
        (
            _config(downsample_factor=4),
            "downsample_factor=4 is invalid: expected a divisor of the 26 patches a side",
        ),
        (
            _config(alignment_intermediate_size=41),
            "alignment_intermediate_size=41 is invalid: expected an even width",
        ),
        (
            _config(text_config=TEXT | {"model_type": "zamba2"}),
            "text_config.model_type='zamba2' is not supported",
        ),
    ],
)
def test_refusals_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)


def test_aya_vision_32b_reads_its_command_r_language_model() -> None:
    # Aya Vision 32B's text model is Command R (cohere, no window): read as that reader reads it.
    text = {k: v for k, v in TEXT.items() if k != "sliding_window"} | {"model_type": "cohere"}
    spec = spec_from_config(_config(text_config=text))
    assert spec.model_type == "aya_vision" and spec.vision is not None
    alone = spec_from_config(text)
    assert (spec.num_layers, spec.hidden_size, spec.parallel_block) == (
        alone.num_layers,
        alone.hidden_size,
        alone.parallel_block,
    )
