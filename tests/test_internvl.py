"""InternVL (model_type internvl, the "-hf" checkpoints): an InternViT tower on every tile of an
image, a pixel-shuffle projector and any language model rooflens reads. Counts here are by hand
on toy configs; all equal transformers' models on the toy configs of
tests/test_params_transformers.py, less the blocks' lambda_1 and lambda_2."""

from __future__ import annotations

import re

import pytest

import rooflens
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.models import spec_from_config
from rooflens.models.readers.internvl import tile_grid

TEXT = {
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 24,
    "vocab_size": 32,
    "max_position_embeddings": 8192,
}
# InternViT-300M's tile: 448 pixels of 14-pixel patches (32 a side), one block 8 wide, as the
# -hf configs write it.
TOWER = {
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": [448, 448],
    "patch_size": [14, 14],
    "attention_bias": True,
}


def _config(**extra: object) -> dict:
    return {"model_type": "internvl", "text_config": TEXT, "vision_config": TOWER, **extra}


def test_internvit_tower_and_projector_by_hand() -> None:
    spec = spec_from_config(_config())
    h, width, text = 8, 12, 16
    patches = 32 * 32
    # Biased patch conv, positions for the patches and the class token, the class token.
    embeddings = 3 * 14 * 14 * h + h + (patches + 1) * h + h
    block = 2 * 2 * h + 4 * (h * h + h) + (h * width + width) + (width * h + h)
    projector = 2 * 4 * h + (4 * h * text + text) + (text * text + text)
    # No final norm with mean pooling (the default); lambda_1 and lambda_2 not counted.
    assert vision_params(spec) == embeddings + block + projector
    # Qwen2 language model (q/k/v biases), tied as text_config's class default says.
    assert (spec.model_type, spec.qkv_bias, spec.tied_embeddings) == ("internvl", True, False)


def test_a_1024_image_is_3_x_3_tiles_and_a_thumbnail() -> None:
    v = spec_from_config(_config()).vision
    # 1024^2 is more than half of 3 x 3 tiles of 448 (903,168 pixels): 9 tiles and the
    # thumbnail, each 1,025 positions (the class token), 256 tokens after the 2 x 2 shuffle.
    assert v.patches == 10 * 1025
    assert v.tokens_per_image == 10 * 256 == 2560
    assert (v.window_layers, v.window_keys) == (1, 1025)
    spec = spec_from_config(_config())
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 2560


@pytest.mark.parametrize(
    ("side", "tiles"),
    # One tile (no thumbnail) up to 448; 2 x 2 once the image exceeds half of four tiles
    # (401,408 pixels: a side of 634); 3 x 3 past half of nine (903,168: 951).
    [(448, 1), (633, 1), (634, 4), (950, 4), (951, 9), (4000, 9)],
)
def test_tile_grid_of_a_square_image(side: int, tiles: int) -> None:
    assert tile_grid(side, 448) == tiles


def test_a_448_tower_takes_one_tile_of_a_448_image() -> None:
    from rooflens.models.config import _Config
    from rooflens.models.readers.internvl import internvl_vision

    c = _Config(_config(), "internvl")
    v = internvl_vision(c, _Config(TOWER, "internvl.vision_config"), 16, image_side=448)
    assert (v.patches, v.tokens_per_image, v.window_layers) == (1025, 256, 0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _config(vision_config=TOWER | {"use_qk_norm": True}),
            "use_qk_norm=True is not supported; supported: false",
        ),
        (
            _config(vision_config={k: v for k, v in TOWER.items() if k != "attention_bias"}),
            "attention_bias=False is not supported; supported: true",
        ),
        (
            _config(vision_config=TOWER | {"norm_type": "batch_norm"}),
            "norm_type='batch_norm' is not supported; supported: layer_norm, rms_norm",
        ),
        (
            # Not text at all (a fuzz case that had raised a TypeError).
            _config(vision_config=TOWER | {"norm_type": ["layer_norm"]}),
            "norm_type=['layer_norm'] is not supported; supported: layer_norm, rms_norm",
        ),
        (
            _config(vision_config=TOWER | {"norm_type": "rms_norm", "use_mean_pooling": False}),
            "use_mean_pooling=False is not supported; supported: true with norm_type rms_norm",
        ),
        (
            _config(vision_config=TOWER | {"use_mask_token": True}),
            "use_mask_token=True is not supported",
        ),
        (
            _config(vision_config=TOWER | {"image_size": [448, 224]}),
            "image_size=[448, 224] is invalid: expected a positive integer or a [height, width] "
            "pair of one positive integer",
        ),
        (
            _config(downsample_ratio=0.3),
            "downsample_ratio=0.3 is invalid: expected 1 / n for an n dividing the 32 patches",
        ),
        (
            _config(downsample_ratio=1 / 3),
            "expected 1 / n for an n dividing the 32 patches a side",
        ),
        (
            _config(vision_feature_select_strategy="full"),
            "vision_feature_select_strategy='full' is not supported; supported: default",
        ),
        (
            _config(vision_feature_layer=[-1, -2]),
            "vision_feature_layer=[-1, -2] is not supported; supported: one layer index",
        ),
        (
            _config(image_seq_length=64),
            "image_seq_length=64 is not supported; supported: 256",
        ),
        (
            _config(tie_word_embeddings=True),
            "tie_word_embeddings=True is not supported; supported: false, as text_config's",
        ),
    ],
)
def test_refusals_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)
