"""LFM2-VL (model_type lfm2_vl): a SigLIP2 NaFlex tower on every tile of an image, a
pixel-unshuffle projector and the LFM2 language model. Counts here are by hand on toy configs;
all equal transformers' models on the toy configs of tests/test_params_transformers.py."""

from __future__ import annotations

import re

import pytest

import rooflens
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config
from rooflens.models.readers.lfm2_vl import crops

TEXT = {
    "model_type": "lfm2",
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "layer_types": ["conv", "full_attention"],
    "intermediate_size": 24,
    "vocab_size": 32,
    "max_position_embeddings": 8192,
}
# LFM2-VL's tower shape, one block 8 wide: 16-pixel patches, 16 x 16 learned positions.
TOWER = {
    "model_type": "siglip2_vision_model",
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "patch_size": 16,
    "num_patches": 256,
    "vision_use_head": False,
}


def _config(**extra: object) -> dict:
    return {
        "model_type": "lfm2_vl",
        "text_config": TEXT,
        "vision_config": TOWER,
        "projector_hidden_size": 20,
        **extra,
    }


def test_siglip2_tower_and_projector_by_hand() -> None:
    spec = spec_from_config(_config())
    h, width, text, hidden = 8, 12, 16, 20
    embeddings = (3 * 16 * 16 * h + h) + 256 * h  # a biased linear patch embedding, positions
    block = 2 * 2 * h + 4 * (h * h + h) + (h * width + width) + (width * h + h)
    post_layernorm = 2 * h
    # 2 x 2 patches unshuffled: a LayerNorm, linear_1 into 20, linear_2 into 16, biased.
    projector = 2 * 4 * h + (4 * h * hidden + hidden) + (hidden * text + text)
    assert vision_params(spec) == embeddings + block + post_layernorm + projector
    # LFM2 ties its embeddings by default, as Lfm2VlConfig does.
    assert (spec.model_type, spec.tied_embeddings) == ("lfm2_vl", True)


@pytest.mark.parametrize(
    ("side", "sides"),
    [
        # Within twice 256 tokens' pixels (rounded to 32: 704^2 of 2 x 512^2): resized alone,
        # 64 to 256 tokens.
        (100, [16]),
        (512, [32]),
        (720, [32]),
        # Past it (736^2): 2 x 2 tiles of 512 and a thumbnail within 256 tokens.
        (721, [32] * 5),
        (1024, [32] * 5),
        # 3 x 3 once the image covers more than half of nine tiles (1,179,648 pixels).
        (1086, [32] * 5),
        (1087, [32] * 10),
    ],
)
def test_crops_of_a_square_image(side: int, sides: list[int]) -> None:
    assert crops(side, 16, 2) == sides


def test_a_1024_image_is_2_x_2_tiles_and_a_thumbnail() -> None:
    v = spec_from_config(_config()).vision
    assert v.patches == 5 * 1024
    assert v.tokens_per_image == 5 * 256 == 1280
    assert (v.window_layers, v.window_keys) == (1, 1024)
    spec = spec_from_config(_config())
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 1280


def test_tie_embedding_is_the_wrappers_tie() -> None:
    text = TEXT | {"tie_word_embeddings": False}
    assert not spec_from_config(_config(text_config=text, tie_embedding=False)).tied_embeddings


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _config(vision_config={k: v for k, v in TOWER.items() if k != "vision_use_head"}),
            "vision_use_head=True is not supported; supported: false",
        ),
        (
            _config(vision_config=TOWER | {"model_type": "siglip_vision_model"}),
            "model_type='siglip_vision_model' is not supported; supported: siglip2_vision_model",
        ),
        (
            _config(downsample_factor=3),
            "downsample_factor=3 with vision_config.patch_size=16 is invalid",
        ),
        (
            _config(vision_config=TOWER | {"num_patches": 200}),
            "vision_config.num_patches=200 is invalid: expected a square number",
        ),
        (
            _config(tie_word_embeddings=False),
            "tie_word_embeddings=False is not supported; supported: true, as text_config's",
        ),
        (
            _config(tie_word_embeddings=True, tie_embedding=False),
            "tie_embedding=False is not supported; supported: true, as text_config's",
        ),
    ],
)
def test_refusals_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)
