"""Qwen2-VL (model_type qwen2_vl) and Qwen2.5-VL (qwen2_5_vl): a Qwen2 language model, flat or
under text_config, and a ViT priced as its own stage, with Qwen2.5-VL's window attention. Counts
here are by hand on toy configs; both equal transformers' models on the toy configs of
tests/test_params_transformers.py."""

from __future__ import annotations

import re

import pytest

import rooflens
from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.vision import vision_graph, vision_params
from rooflens.models import spec_from_config

# Qwen2: 2 layers, 4 heads of 4 (hidden_size split), 2 KV heads.
TEXT = {
    "hidden_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 24,
    "vocab_size": 32,
}
# Qwen2-VL: blocks 8 wide (2 heads), an MLP of 8 x 3, the merger into the text width.
QWEN2_TOWER = {"depth": 1, "embed_dim": 8, "hidden_size": 16, "num_heads": 2, "mlp_ratio": 3}
# Qwen2.5-VL: 4 blocks, block 3 attends to every patch; the default windows (112 pixels).
QWEN2_5_TOWER = {
    "depth": 4,
    "hidden_size": 8,
    "out_hidden_size": 16,
    "num_heads": 2,
    "intermediate_size": 12,
    "fullatt_block_indexes": [3],
}


def test_the_language_model_is_qwen2_read_flat_or_nested() -> None:
    flat = spec_from_config({"model_type": "qwen2_5_vl", **TEXT, "vision_config": QWEN2_5_TOWER})
    nested = spec_from_config(
        {"model_type": "qwen2_5_vl", "text_config": TEXT, "vision_config": QWEN2_5_TOWER}
    )
    assert flat.model_dump(exclude={"name"}) == nested.model_dump(exclude={"name"})
    assert (flat.model_type, flat.head_dim, flat.max_positions) == ("qwen2_5_vl", 4, 32768)
    assert flat.qkv_bias and not flat.out_bias and not flat.mlp_bias and not flat.tied_embeddings
    # q 16x16 + 16, k and v 16x8 + 8, o 16x16; SwiGLU 3 x 16 x 24; two RMSNorms.
    layer = (256 + 16) + 2 * (128 + 8) + 256 + 3 * 16 * 24 + 2 * 16
    assert build_graph(flat, AnalysisOptions()).params() == 2 * 32 * 16 + 16 + 2 * layer
    # Qwen2VLTextConfig: 8 KV heads where the key is absent.
    no_kv = {k: v for k, v in TEXT.items() if k != "num_key_value_heads"}
    no_kv |= {"num_attention_heads": 8}
    spec = spec_from_config({"model_type": "qwen2_vl", **no_kv, "vision_config": QWEN2_TOWER})
    assert (spec.num_heads, spec.num_kv_heads) == (8, 8)
    # A pre-v5 text_config's tie_word_embeddings is forwarded to the wrapper.
    tied = spec_from_config(
        {
            "model_type": "qwen2_vl",
            "text_config": TEXT | {"tie_word_embeddings": True},
            "vision_config": QWEN2_TOWER,
        }
    )
    assert tied.tied_embeddings


def test_the_sliding_window_starts_at_max_window_layers_80_by_default() -> None:
    text = TEXT | {"use_sliding_window": True, "sliding_window": 64}
    spec = spec_from_config({"model_type": "qwen2_vl", **text, "vision_config": QWEN2_TOWER})
    # Two layers, both before layer 80: no window (Qwen2Config's default 28 alike here).
    assert spec.sliding_window is None
    text |= {"max_window_layers": 1}
    spec = spec_from_config({"model_type": "qwen2_vl", **text, "vision_config": QWEN2_TOWER})
    assert (spec.sliding_window, spec.window_layers) == (64, 1)


def test_qwen2_vl_tower_by_hand() -> None:
    spec = spec_from_config({"model_type": "qwen2_vl", **TEXT, "vision_config": QWEN2_TOWER})
    h, width, merged = 8, 24, 32
    patch = 3 * 2 * 14 * 14 * h  # Conv3d over 2 frames of 14 x 14, no bias
    block = 2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (h * width + width) + (width * h + h)
    projector = 2 * h + (merged * merged + merged) + (merged * 16 + 16)  # ln_q, two linears
    assert vision_params(spec) == patch + block + projector
    v = spec.vision
    assert (v.norm, v.gated_mlp, v.activation, v.final_norm) == (
        "layernorm",
        False,
        "quick_gelu",
        False,
    )
    # A 1024 x 1024 image: 37 x 28 = 1036 pixels a side is over 28 x 28 x 1280 pixels, so
    # smart_resize scales it to 35 x 28 = 980: 70 x 70 patches, merged 2 x 2.
    assert (v.patches, v.tokens_per_image) == (70 * 70, 35 * 35)


def test_qwen2_5_vl_window_attention() -> None:
    spec = spec_from_config({"model_type": "qwen2_5_vl", **TEXT, "vision_config": QWEN2_5_TOWER})
    v = spec.vision
    assert (v.norm, v.gated_mlp, v.activation, v.projector_norm) == (
        "rmsnorm",
        True,
        "silu",
        "rmsnorm",
    )
    # Windows of 112 // 2 // 14 = 4 merged tokens (8 x 8 patches) a side: 35 merged tokens
    # a side make 8 whole windows and one of 3, so a patch sees
    # 2^4 x (8 x 16 + 9)^2 / 70^2 = 61.3 keys on average.
    assert (v.window_layers, v.window_keys) == (3, 61)
    ops = [op for op in vision_graph(v).operators if op.name == "vision_qk_matmul"]
    assert [(op.layers, op.chunk) for op in ops] == [(1, None), (3, 61)]
    # Indexes past the last block name none.
    spec = spec_from_config(
        {
            "model_type": "qwen2_5_vl",
            **TEXT,
            "vision_config": QWEN2_5_TOWER | {"fullatt_block_indexes": [7, 15, 23, 31]},
        }
    )
    assert spec.vision.window_layers == 4
    ops = [op for op in vision_graph(spec.vision).operators if op.name == "vision_qk_matmul"]
    assert [(op.layers, op.chunk) for op in ops] == [(None, 61)]


def test_window_layers_cost_less_than_full_attention() -> None:
    windowed = spec_from_config(
        {"model_type": "qwen2_5_vl", **TEXT, "vision_config": QWEN2_5_TOWER}
    )
    full = spec_from_config(
        {
            "model_type": "qwen2_5_vl",
            **TEXT,
            "vision_config": QWEN2_5_TOWER | {"fullatt_block_indexes": [0, 1, 2, 3]},
        }
    )
    assert full.vision.window_layers == 0 and full.vision.window_keys is None

    def vision_ops(spec: object) -> float:
        result = rooflens.analyze(spec, "h200-sxm", prompt_len=16, gen_len=2, images=1)
        return float(result.totals()["vision"]["ops"])

    # The scores of the three window layers: 4,900 x 61 rather than 4,900 x 4,900.
    assert vision_ops(windowed) < vision_ops(full)


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_an_image_runs_through_the_vision_stage(model_type: str) -> None:
    tower = QWEN2_TOWER if model_type == "qwen2_vl" else QWEN2_5_TOWER
    spec = spec_from_config({"model_type": model_type, **TEXT, "vision_config": tower})
    result = rooflens.analyze(spec, "h200-sxm", prompt_len=100, gen_len=2, images=1)
    assert float(result.prompt_len) == 100 + 35 * 35
    assert "vision" in result.steps


@pytest.mark.parametrize(
    ("model_type", "text", "tower", "message"),
    [
        (
            "qwen2_vl",
            TEXT | {"head_dim": 8},
            QWEN2_TOWER,
            "head_dim=8 is not supported; supported: 4 (hidden_size over num_attention_heads",
        ),
        (
            "qwen2_vl",
            TEXT,
            QWEN2_TOWER | {"hidden_size": 32},
            "'qwen2_vl.vision_config': hidden_size=32 is invalid: expected the language "
            "model's hidden_size (16)",
        ),
        (
            "qwen2_5_vl",
            TEXT,
            QWEN2_5_TOWER | {"out_hidden_size": 32},
            "out_hidden_size=32 is invalid: expected the language model's hidden_size (16)",
        ),
        (
            "qwen2_5_vl",
            TEXT,
            QWEN2_5_TOWER | {"window_size": 20},
            "window_size=20 is invalid: expected at least patch_size x spatial_merge_size (28)",
        ),
        (
            "qwen2_5_vl",
            TEXT,
            QWEN2_5_TOWER | {"fullatt_block_indexes": ["3"]},
            "fullatt_block_indexes=['3'] is invalid",
        ),
    ],
)
def test_refusals_name_the_key(model_type: str, text: dict, tower: dict, message: str) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config({"model_type": model_type, **text, "vision_config": tower})
