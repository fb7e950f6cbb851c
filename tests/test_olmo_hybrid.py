"""OLMo Hybrid (Ai2): Gated DeltaNet layers with OLMo 3's attention every fourth layer, by hand.
The counts against transformers' own models are in tests/test_params_transformers.py."""

from __future__ import annotations

from typing import Any

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.models import spec_from_config

# Hidden 8, two heads of 4 sharing one KV head, four layers (the default: attention in the
# last), an MLP of 16; Gated DeltaNet with OlmoHybridConfig's derived shapes: 2 key heads of
# int(0.75 x 8 / 2) = 3, 2 value heads of 6.
TINY: dict[str, Any] = {
    "model_type": "olmo_hybrid",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 4,
    "intermediate_size": 16,
    "vocab_size": 16,
}


def test_tiny_olmo_hybrid_parameters_by_hand() -> None:
    model = spec_from_config(TINY)
    assert (model.mixer_layers, model.attention_layers) == (3, 1)
    assert model.mixer is not None
    assert (model.mixer.num_key_heads, model.mixer.key_dim, model.mixer.head_dim) == (2, 3, 6)
    assert model.qk_norm_whole and model.qk_norm_gathered
    # Gated DeltaNet: q and k 8 x 6 each, v and g 8 x 12 each, a and b 8 x 2 each, the conv
    # over q, k and v 24 x 4 taps, A_log and dt_bias 2 each, the gated norm 6, o_proj 12 x 8.
    gdn = 96 + 192 + 32 + 96 + 4 + 6 + 96
    # Attention: q 8 x 8, k and v 8 x 4, o 8 x 8; q_norm 8 and k_norm 4 over the projections.
    attention = 192 + 12
    # Every layer: two norms of 8, the SwiGLU MLP 3 x 8 x 16.
    every = 16 + 384
    # The embedding and the untied head 16 x 8 each, the final norm 8.
    total = 3 * gdn + attention + 4 * every + 2 * 128 + 8
    assert total == 3634
    assert build_graph(model, AnalysisOptions()).params() == total


@pytest.mark.parametrize(("layers", "attention"), [(3, 1), (4, 1), (8, 2), (10, 2)])
def test_the_default_layout_is_every_fourth_layer_attention(layers: int, attention: int) -> None:
    # OlmoHybridConfig: layers 3, 7, ... attend; with fewer than four layers, the last one.
    model = spec_from_config(TINY | {"num_hidden_layers": layers})
    assert (model.mixer_layers, model.attention_layers) == (layers - attention, attention)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (
            {"layer_types": ["linear_attention"] * 4},
            "expected at least one 'linear_attention' and one 'full_attention' layer",
        ),
        ({"layer_types": ["sliding_attention"] * 4}, "layer_types holds \\['sliding_attention'\\]"),
        ({"attention_bias": True}, "attention_bias=True is not supported; supported: False"),
        ({"head_dim": 8}, "head_dim=8 is not supported; supported: 4"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu' is not supported; supported: 'silu'"),
        ({"linear_num_key_heads": 4}, "linear_num_value_heads=2 must be a multiple of"),
        ({"linear_key_head_dim": 0}, "linear_key_head_dim=0 is invalid"),
    ],
)
def test_refusals_name_the_key(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelConfigError, match=match):
        spec_from_config(TINY | fields)
