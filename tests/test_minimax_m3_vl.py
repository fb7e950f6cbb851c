"""MiniMax-M3 as published (model_type minimax_m3_vl): the language model of text_config is read as
minimax_m3, the vision tower priced as its own stage. tests/data/minimax_m3_vl/config.json is the
config.json of MiniMaxAI/MiniMax-M3-MXFP8 less its quantization_config (quant_method mxfp8; the
bundled MiniMaxAI/MiniMax-M3-MXFP8 holds it: tests/test_mxfp8.py). Parameter counts are
hand-computed here and were checked against transformers' MiniMaxM3SparseForConditionalGeneration
built from the same config (427,040,132,864 parameters plus the 57 x 128 score-correction biases
it holds as buffers) and against the MXFP8 checkpoint's tensor listing."""

from __future__ import annotations

from pathlib import Path

import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_params
from rooflens.models import load_model, spec_from_config
from rooflens.models.catalog import read_config_file
from rooflens.models.readers.minimax_vl import resized_side

CONFIG = Path(__file__).parent / "data" / "minimax_m3_vl" / "config.json"


def test_minimax_m3_vl_reads_its_language_model_and_vision_tower() -> None:
    spec = load_model(CONFIG)
    assert spec.model_type == "minimax_m3_vl"
    assert (spec.sparse_layers, spec.dense_layers, spec.num_experts, spec.mtp_layers) == (
        57,
        3,
        128,
        0,
    )
    assert spec.activation == "swiglu_oai" and spec.qk_norm and not spec.qk_norm_whole
    # The language model as the flat minimax_m3 config reads it (tests/test_models_2026.py).
    language = build_graph(spec, AnalysisOptions()).params()
    assert language == 426_174_572_928
    h, w = 1280, 5120
    patch = 3 * 2 * 14 * 14 * h  # Conv3d over 2 frames of 14 x 14, no bias
    block = 4 * (h * h + h) + 2 * 2 * h + (h * w + w) + (w * h + h)
    projector = (h * 6144 + 6144) + 2 * (6144 * 6144 + 6144) + (4 * 6144 * 6144 + 6144)
    assert vision_params(spec) == patch + 2 * h + 32 * block + projector == 865_567_232
    # The MXFP8 checkpoint lists 440,279,845,760 elements, of which 13,239,705,600 are its
    # E8M0 scales (one per 32 weights of every quantized linear): the rest are these.
    assert language + vision_params(spec) == 440_279_845_760 - 13_239_705_600


def test_the_projector_runs_per_patch_until_the_merge() -> None:
    """linear_1 and linear_2 run on each of an image's 4,900 patches, merge_linear_1 and _2 on
    its 1,225 merged tokens (4 patches concatenated)."""
    from rooflens.core.vision import price_images

    spec = load_model(CONFIG)
    v = spec.vision
    assert v.projector_merged_from == 2 and (v.patches, v.tokens_per_image) == (4900, 1225)
    step = price_images(spec, rooflens.get_device("h200-sxm"), 1)
    ops = {name: float(step.ops[i]) for i, name in enumerate(step.names)}
    for i, (n_in, n_out) in enumerate(v.projector):
        rows = v.patches if i < 2 else v.tokens_per_image
        bias = n_out if v.projector_bias else 0
        assert ops[f"vision_projector{i}"] == rows * (2 * n_in * n_out + bias)


def test_an_image_is_resized_as_the_processor_does() -> None:
    # 1024 rounds to 37 x 28 = 1036, over 28 x 28 x 1280 pixels: scaled down to 35 x 28.
    assert resized_side(1024, 28) == 980
    assert resized_side(560, 28) == 560
    spec = load_model(CONFIG)
    assert (spec.vision.patches, spec.vision.tokens_per_image) == (70 * 70, 35 * 35)
    with_image = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1, tp=8)
    assert float(with_image.prompt_len) == 100 + 1225
    assert "vision" in with_image.steps


def _tiny(text: dict) -> dict:
    vision = {
        "hidden_size": 8,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "intermediate_size": 16,
        "patch_size": 14,
    }
    return {"model_type": "minimax_m3_vl", "projector_hidden_size": 32, "text_config": text,
            "vision_config": vision}  # fmt: skip


TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 16,
    "dense_intermediate_size": 32,
    "shared_intermediate_size": 16,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 100,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "hidden_act": "swigluoai",
}


def test_transformers_spelling_of_the_text_config_reads_the_same() -> None:
    """transformers saves layer_types / mlp_layer_types and flat index_* sizes (and hidden_act
    'silu', though every MLP is SwiGLU-OAI); the published config, sparse_attention_config and
    moe_layer_freq."""
    published = TINY_TEXT | {
        "moe_layer_freq": [0, 1, 1, 1],
        "sparse_attention_config": {
            "use_sparse_attention": True,
            "sparse_attention_freq": [0, 0, 1, 1],
            "sparse_num_index_heads": 2,
            "sparse_index_dim": 8,
            "sparse_block_size": 4,
            "sparse_topk_blocks": 2,
        },
    }
    native = TINY_TEXT | {
        "hidden_act": "silu",
        "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"],
        "layer_types": ["full_attention"] * 2 + ["minimax_m3_sparse"] * 2,
        "index_n_heads": 2,
        "index_head_dim": 8,
        "index_block_size": 4,
        "index_topk_blocks": 2,
    }
    one, other = spec_from_config(_tiny(published)), spec_from_config(_tiny(native))
    assert one == other
    assert (one.sparse_layers, one.sparse_block, one.sparse_blocks) == (2, 4, 2)
    assert one.dense_layers == 1
    # A 980 x 980 image of 14-pixel patches; the projector's merge linear reads 4 x 64.
    assert one.vision.projector == ((8, 32), (32, 64), (256, 32), (32, 64))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ({"hidden_act": "gelu"}, r"text_config.hidden_act='gelu' is not supported; supported: "),
        ({"mlp_layer_types": ["dense", "moe", "sparse", "sparse"]},
         r"mlp_layer_types holds \['moe'\]; supported: \['dense', 'sparse'\]"),
        ({"layer_types": ["full_attention", "sliding_attention"] * 2},
         r"layer_types holds \['sliding_attention'\]"),
    ],
)  # fmt: skip
def test_what_minimax_m3_vl_cannot_be_is_refused(text: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(_tiny(TINY_TEXT | text))


def test_the_published_config_names_its_nested_merge_size() -> None:
    config = read_config_file(CONFIG)
    vision = config["vision_config"]
    nested = vision["img_token_compression_config"] | {"spatial_merge_size": 0}
    bad = config | {"vision_config": vision | {"img_token_compression_config": nested}}
    with pytest.raises(ModelConfigError, match="spatial_merge_size=0 is invalid"):
        spec_from_config(bad)


_SPARSE = {"use_sparse_attention": True, "sparse_attention_freq": [0, 0, 1, 1]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 1.0 made the dense-layer count a float (TypeError, an internal error); false and true
        # passed as 0 and 1.
        ({"moe_layer_freq": [0, 1.0, 1, 1]},
         "moe_layer_freq=[0, 1.0, 1, 1] is invalid: expected 0 or 1 for each of the 4 layers"),
        ({"moe_layer_freq": [False, 1, 1, 1]},
         "moe_layer_freq=[False, 1, 1, 1] is invalid: expected 0 or 1 for each of the 4 layers"),
        ({"sparse_attention_config": _SPARSE | {"sparse_attention_freq": [0, 0, True, 1]}},
         "sparse_attention_config.sparse_attention_freq=[0, 0, True, 1] is invalid: expected "
         "0 or 1 for each of the 4 layers"),
        # Dense layers after an MoE one: rooflens places the dense layers first.
        ({"moe_layer_freq": [1, 0, 1, 1]},
         "moe_layer_freq=[1, 0, 1, 1] is not supported: expected the dense layers (0) first, "
         "then the MoE layers (1)"),
        # Any text read as true, 0 or "" as false; the indexer's sizes were refused naming
        # rooflens's fields (index_head_dim, sparse_blocks) or its rule across them.
        ({"sparse_attention_config": {"use_sparse_attention": "yes"}},
         "sparse_attention_config.use_sparse_attention='yes' is invalid: expected true or false"),
        ({"sparse_attention_config": _SPARSE | {"sparse_index_dim": 0}},
         "sparse_attention_config.sparse_index_dim=0 is invalid: expected a positive integer "
         "of at most 4,194,304"),
        ({"sparse_attention_config": _SPARSE | {"sparse_topk_blocks": 1.5}},
         "sparse_attention_config.sparse_topk_blocks=1.5 is invalid: expected an integer"),
        ({"sparse_attention_config": _SPARSE | {"sparse_init_block": ""}},
         "sparse_attention_config.sparse_init_block='' is invalid: expected an integer"),
        # Anything but "per_layer" read as per-head norms.
        ({"qk_norm_type": "per_token"},
         "qk_norm_type='per_token' is invalid: expected 'per_head' or 'per_layer'"),
        # Named as rooflens's shared_intermediate_size (-16) and intermediate_size.
        ({"n_shared_experts": -1}, "n_shared_experts=-1 is invalid: expected an integer of at "
                                   "least 0"),
        ({"dense_intermediate_size": 0},
         "dense_intermediate_size=0 is invalid: expected a positive integer of at most "
         "4,194,304"),
        ({"dense_intermediate_size": 10**12},
         "dense_intermediate_size=1000000000000 is invalid: expected a positive integer of at "
         "most 4,194,304"),
        ({"num_hidden_layers": -1}, "num_hidden_layers=-1 is invalid: expected a positive integer"),
    ],
)  # fmt: skip
def test_malformed_language_model_values_are_refused_naming_the_key(text, message) -> None:
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(_tiny(TINY_TEXT | text))
    assert str(error.value) == f"config.json of model_type 'minimax_m3_vl_text': {message}"


@pytest.mark.parametrize(
    ("vision", "message"),
    [
        # Each was refused naming VisionSpec's fields (num_heads, patch_inputs=-392).
        ({"num_attention_heads": 0},
         "num_attention_heads=0 is invalid: expected a positive integer"),
        ({"num_hidden_layers": 10**5},
         "num_hidden_layers=100000 is invalid: expected at most 10,000"),
        ({"num_channels": -1}, "num_channels=-1 is invalid: expected a positive integer"),
        ({"hidden_act": 1.5}, "hidden_act=1.5 is invalid: expected text"),
    ],
)  # fmt: skip
def test_malformed_vision_values_are_refused_naming_the_key(vision, message) -> None:
    config = _tiny(TINY_TEXT)
    config["vision_config"] |= vision
    with pytest.raises(ModelConfigError) as error:
        spec_from_config(config)
    assert str(error.value) == f"config.json of model_type 'minimax_m3_vl.vision_config': {message}"
