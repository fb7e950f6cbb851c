"""Idefics3 (model_type idefics3) and SmolVLM (smolvlm): a SigLIP-shaped tower on every crop of
an image, a pixel-shuffle connector and any language model rooflens reads. Counts here are by
hand on toy configs; all equal transformers' models on the toy configs of
tests/test_params_transformers.py."""

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
    "max_position_embeddings": 8192,
}
# Idefics3-8B's crop: 364-pixel crops of 14-pixel patches (26 a side), one block 8 wide.
TOWER = {
    "hidden_size": 8,
    "intermediate_size": 12,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 364,
    "patch_size": 14,
}


def _config(model_type: str = "idefics3", **extra: object) -> dict:
    return {"model_type": model_type, "text_config": TEXT, "vision_config": TOWER, **extra}


def test_idefics3_tower_and_connector_by_hand() -> None:
    spec = spec_from_config(_config())
    h, width, text = 8, 12, 16
    positions = 26 * 26
    embeddings = 3 * 14 * 14 * h + h + positions * h  # biased patch conv, a position per patch
    block = 2 * 2 * h + 4 * (h * h + h) + (h * width + width) + (width * h + h)
    post_layernorm = 2 * h
    connector = 4 * h * text  # 2 x 2 patches shuffled into one linear without a bias
    assert vision_params(spec) == embeddings + block + post_layernorm + connector
    assert (spec.model_type, spec.tied_embeddings) == ("idefics3", False)


def test_a_square_image_is_4_x_4_crops_and_the_whole_image() -> None:
    v = spec_from_config(_config()).vision
    # Its edge resized to 4 x 364 = 1456, cut into 4 x 4 crops, beside the whole image: 17
    # crops of 26 x 26 patches, 169 tokens each after the 2 x 2 shuffle (the processor's
    # image_seq_len).
    assert v.patches == 17 * 676
    assert v.tokens_per_image == 17 * 169 == 2873
    # Each crop attends within itself, in every block; the connector runs on the tokens.
    assert (v.window_layers, v.window_keys, v.projector_rows) == (1, 676, None)
    ops = [op for op in vision_graph(v).operators if op.name == "vision_qk_matmul"]
    assert [(op.layers, op.chunk) for op in ops] == [(None, 676)]


def test_smolvlm_shapes() -> None:
    # SmolVLM-256M's crop: 512 pixels of 16-pixel patches (32 a side), shuffled 4 x 4: 64 tokens
    # a crop, 17 crops.
    tower = TOWER | {"image_size": 512, "patch_size": 16}
    spec = spec_from_config(_config("smolvlm", vision_config=tower, scale_factor=4))
    assert (spec.vision.patches, spec.vision.tokens_per_image) == (17 * 1024, 17 * 64)
    assert spec.vision.projector == ((16 * 8, 16),)
    # A 2048-pixel crop: the edge stops at 4096 (the processor's MAX_IMAGE_SIZE), 2 x 2 crops.
    tower = TOWER | {"image_size": 2048, "patch_size": 64}
    spec = spec_from_config(_config("smolvlm", vision_config=tower))
    assert (spec.vision.patches, spec.vision.tokens_per_image) == (5 * 1024, 5 * 256)


def test_ties_as_the_language_model_says() -> None:
    text = TEXT | {"tie_word_embeddings": True}
    assert spec_from_config(_config(text_config=text, tie_word_embeddings=True)).tied_embeddings
    # Where the wrapper does not say, text_config's (vLLM's reading).
    assert spec_from_config(_config(text_config=text)).tied_embeddings


def test_an_image_runs_through_the_vision_stage() -> None:
    spec = spec_from_config(_config())
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 2873
    assert "vision" in result.steps


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            _config(scale_factor=4),
            "scale_factor=4 is invalid: expected a divisor of the 26 patches a side of a crop",
        ),
        (
            _config(text_config=TEXT | {"tie_word_embeddings": True}, tie_word_embeddings=False),
            "tie_word_embeddings=False is not supported; supported: true, as text_config's",
        ),
        (
            _config("smolvlm", tie_word_embeddings=True),
            "tie_word_embeddings=True is not supported; supported: false, as text_config's",
        ),
        (
            _config(text_config=TEXT | {"model_type": "clip_text_model"}),
            "text_config.model_type='clip_text_model' is not supported",
        ),
    ],
)
def test_refusals_name_the_key(config: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(config)
