"""Granite SWA, GraniteMoeShared and GraniteMoeSWA (IBM): Granite with sliding-window layers and
attention sinks, and Granite MoE with a shared expert. The counts against transformers' own
models are in tests/test_params_transformers.py."""

from __future__ import annotations

from typing import Any

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.models import spec_from_config

TINY: dict[str, Any] = {
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 5,
    "intermediate_size": 16,
    "vocab_size": 16,
}


def test_granite_swa_windows_all_but_every_fourth_layer_and_keeps_sinks() -> None:
    model = spec_from_config(TINY | {"model_type": "granite_swa"})
    # GraniteSWAConfig's default: layers 0 and 4 full, the other 3 within 128 keys.
    assert (model.window_layers, model.sliding_window, model.attention_sinks) == (3, 128, True)
    assert model.tied_embeddings
    # Per layer: q 8 x 8, k and v 8 x 4, o 8 x 8, a sink per head (2), two norms, the MLP
    # 3 x 8 x 16; the tied embedding 16 x 8 and the final norm.
    layer = 192 + 2 + 16 + 384
    assert build_graph(model, AnalysisOptions()).params() == 5 * layer + 128 + 8
    full = spec_from_config(
        TINY | {"model_type": "granite_swa", "layer_types": ["full_attention"] * 5}
    )
    assert full.sliding_window is None and full.attention_sinks


def test_granitemoeshared_adds_the_shared_expert_to_the_experts() -> None:
    config = TINY | {
        "model_type": "granitemoeshared",
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
        "shared_intermediate_size": 8,
    }
    model = spec_from_config(config)
    assert (model.num_experts, model.expert_intermediate_size) == (4, 16)
    assert model.shared_intermediate_size == 8 and not model.shared_expert_gate
    # 0 (GraniteMoeSharedConfig's default): no shared expert, GraniteMoe's layer.
    plain = spec_from_config(config | {"shared_intermediate_size": 0})
    assert plain.shared_intermediate_size is None
    # The shared expert: input_linear 8 x 16, output_linear 8 x 8, in each of the 5 layers.
    shared = build_graph(model, AnalysisOptions()).params()
    assert shared - build_graph(plain, AnalysisOptions()).params() == 5 * (128 + 64)
    swa = spec_from_config(config | {"model_type": "granitemoe_swa", "sliding_window": 8})
    assert (swa.window_layers, swa.sliding_window, swa.attention_sinks) == (3, 8, True)
    assert build_graph(swa, AnalysisOptions()).params() == shared + 5 * 2


@pytest.mark.parametrize(
    ("model_type", "fields", "match"),
    [
        ("granite_swa", {"head_dim": 8}, "head_dim=8 is not supported; supported: 4"),
        ("granite_swa", {"layer_types": ["sliding"] * 5}, "layer_types holds \\['sliding'\\]"),
        ("granite_swa", {"sliding_window": 0}, "sliding_window=0 is invalid"),
        ("granitemoeshared", {"attention_bias": True}, "attention_bias=True is not supported"),
        ("granitemoeshared", {"hidden_act": "gelu"}, "hidden_act='gelu' is not supported"),
        ("granitemoe_swa", {"head_dim": 2}, "head_dim=2 is not supported; supported: 4"),
        ("granitemoeshared", {"shared_intermediate_size": -1}, "shared_intermediate_size=-1"),
        # Granite MoE itself: vLLM's GraniteMoeAttention, as the shared variants'.
        ("granitemoe", {"attention_bias": True}, "attention_bias=True is not supported"),
        ("granitemoe", {"head_dim": 2}, "head_dim=2 is not supported; supported: 4"),
    ],
)
def test_refusals_name_the_key(model_type: str, fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelConfigError, match=match):
        spec_from_config(TINY | {"model_type": model_type} | fields)
