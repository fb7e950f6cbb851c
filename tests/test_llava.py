"""LLaVA (model_type llava), LLaVA-NeXT (llava_next) and LLaVA-OneVision (llava_onevision): a CLIP
or SigLIP tower, a two-linear projector and any language model rooflens reads; NeXT's and
OneVision's image tiles. Counts here are by hand on toy configs; all equal transformers' models on
the toy configs of tests/test_params_transformers.py (less the image_newline)."""

from __future__ import annotations

import re

import pytest

import rooflens
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_graph, vision_params
from rooflens.models import spec_from_config

TEXT = {
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 24,
    "vocab_size": 32,
}
# LLaVA-1.5's tower shape, one block 8 wide: CLIP ViT of 14-pixel patches on 336-pixel crops.
CLIP = {
    "model_type": "clip_vision_model",
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 336,
    "patch_size": 14,
}
# LLaVA-OneVision's: SigLIP of 14-pixel patches on 384-pixel crops, without its pooling head.
SIGLIP = CLIP | {"model_type": "siglip_vision_model", "image_size": 384, "vision_use_head": False}


def _config(model_type: str, tower: dict, **extra: object) -> dict:
    return {"model_type": model_type, "text_config": TEXT, "vision_config": tower, **extra}


def test_llava_clip_tower_by_hand() -> None:
    spec = spec_from_config(_config("llava", CLIP))
    h, width, text = 8, 12, 16
    patches = 24 * 24
    embeddings = 3 * 14 * 14 * h + (patches + 1) * h + h  # no conv bias, positions, class token
    block = 2 * 2 * h + 4 * (h * h + h) + (h * width + width) + (width * h + h)
    norms = 2 * 2 * h  # pre_layrnorm, post_layernorm
    projector = (h * text + text) + (text * text + text)
    assert vision_params(spec) == embeddings + block + norms + projector
    v = spec.vision
    # 577 positions (the class token), 576 tokens ("default" drops it).
    assert (v.patches, v.tokens_per_image, v.window_layers) == (577, 576, 0)
    assert (spec.model_type, spec.num_layers, spec.tied_embeddings) == ("llava", 2, False)


def test_llava_reads_any_language_model_and_feature_layers() -> None:
    spec = spec_from_config(
        _config(
            "llava",
            SIGLIP,
            text_config=TEXT | {"model_type": "qwen2", "tie_word_embeddings": True},
            vision_feature_layer=[-2, -5, -8],
            vision_feature_select_strategy="full",
        )
    )
    assert spec.qkv_bias and spec.tied_embeddings
    # SigLIP: no class token; three feature layers concatenated into linear_1.
    assert (spec.vision.patches, spec.vision.tokens_per_image) == (27 * 27, 27 * 27)
    assert spec.vision.projector[0] == (3 * 8, 16)


def test_llava_next_tiles_a_1024_image_by_hand() -> None:
    spec = spec_from_config(_config("llava_next", CLIP))
    v = spec.vision
    # The default pinpoints: 672 x 672 keeps the most of a 1024 x 1024 image, 2 x 2 crops of
    # 336 beside the whole image resized to one: 5 crops of 577 positions.
    assert v.patches == 5 * 577
    # 576 for the whole image, 48 x 48 for the tiles, a newline per row of them.
    assert v.tokens_per_image == 576 + 48 * 48 + 48 == 2928
    assert v.projector_rows == 5 * 576
    # Each crop attends within itself, in every block.
    assert (v.window_layers, v.window_keys) == (1, 577)
    ops = [op for op in vision_graph(v).operators if op.name == "vision_qk_matmul"]
    assert [(op.layers, op.chunk) for op in ops] == [(None, 577)]


def test_llava_next_cuts_the_padding_of_a_wide_grid() -> None:
    # One pinpoint, 336 high and 1008 wide: the square image fills 336 x 336 of it, so of the
    # 24 x 72 tiles' features 24 x 24 are kept.
    spec = spec_from_config(_config("llava_next", CLIP, image_grid_pinpoints=[[336, 1008]]))
    assert spec.vision.patches == 4 * 577
    assert spec.vision.tokens_per_image == 576 + 24 * 24 + 24


def test_llava_onevision_scales_down_past_anyres_max() -> None:
    spec = spec_from_config(_config("llava_onevision", SIGLIP))
    # 1152 x 1152: 3 x 3 crops of 384 (27 x 27 patches), within 9 crops' features.
    assert spec.vision.patches == 10 * 729
    assert spec.vision.tokens_per_image == 729 + 81 * 81 + 81 == 7371
    # 4 x 4 crops exceed anyres_max_4 by a ratio of 2: 108 / 2 = 54 rows and columns.
    spec = spec_from_config(
        _config(
            "llava_onevision",
            SIGLIP,
            image_grid_pinpoints=[[1536, 1536]],
            vision_aspect_ratio="anyres_max_4",
        )
    )
    assert spec.vision.patches == 17 * 729
    assert spec.vision.tokens_per_image == 729 + 54 * 54 + 54


def test_an_image_runs_through_the_vision_stage() -> None:
    text = TEXT | {"max_position_embeddings": 4096}
    spec = spec_from_config(_config("llava_next", CLIP, text_config=text))
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 2928
    assert "vision" in result.steps


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _config("llava", SIGLIP | {"vision_use_head": True}),
            "vision_use_head=True is not supported; supported: false",
        ),
        (
            _config("llava", CLIP | {"model_type": "pixtral"}),
            "model_type='pixtral' is not supported; supported: clip_vision_model, "
            "siglip_vision_model",
        ),
        (
            _config("llava", CLIP | {"model_type": ["clip_vision_model"]}),
            "model_type=['clip_vision_model'] is not supported; supported: clip_vision_model",
        ),
        (
            _config("llava", CLIP, text_config=TEXT | {"model_type": "clip_text_model"}),
            "text_config.model_type='clip_text_model' is not supported; supported: a language "
            "model",
        ),
        (
            _config("llava", CLIP, vision_feature_select_strategy="cls"),
            "vision_feature_select_strategy='cls' is not supported",
        ),
        (
            _config("llava_next", SIGLIP),
            "vision_feature_select_strategy gives 728 features a crop, not the 27 x 27",
        ),
        (
            _config("llava_next", CLIP, image_grid_pinpoints=[[336, 500]]),
            "image_grid_pinpoints=[[336, 500]] is invalid: expected [height, width] pairs of "
            "multiples of vision_config.image_size (336)",
        ),
        (
            _config("llava_onevision", SIGLIP, vision_aspect_ratio="anyres"),
            "vision_aspect_ratio='anyres' is not supported; supported: anyres_max_N",
        ),
    ],
)
def test_refusals_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)
