"""Bamba (IBM): Mamba2 layers with a few GQA attention layers, a SwiGLU MLP in every layer, by
hand. The counts against transformers' own models are in tests/test_params_transformers.py."""

from __future__ import annotations

from typing import Any

import pytest

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.models import spec_from_config

# Hidden 8, two heads of 4 sharing one KV head, three layers (attention in layer 1), an MLP of
# 16; Mamba2 of 4 heads of 4 (mamba_d_head "auto": 2 x 8 / 4) in one group of B and C of 4.
TINY: dict[str, Any] = {
    "model_type": "bamba",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_hidden_layers": 3,
    "attn_layer_indices": [1],
    "intermediate_size": 16,
    "mamba_n_heads": 4,
    "mamba_d_state": 4,
    "vocab_size": 16,
}


def test_tiny_bamba_parameters_by_hand() -> None:
    model = spec_from_config(TINY)
    assert (model.mixer_layers, model.attention_layers, model.mlp_layers_count) == (2, 1, 3)
    assert model.mixer is not None and (model.mixer.head_dim, model.mixer.key_dim) == (4, 4)
    # Mamba2 layer: in_proj 8 x (z 16 + x 16 + B and C 2 x 4 + dt 4); the conv over x, B and
    # C, 24 x 4 taps + 24 biases; dt_bias, A_log and D 3 x 4; the gated norm 16; out_proj 16 x 8.
    mamba = 8 * 44 + 120 + 12 + 16 + 128
    # Attention layer: q 8 x 8, k and v 8 x 4, o 8 x 8.
    attention = 64 + 32 + 32 + 64
    # Every layer: two norms of 8, the SwiGLU MLP 3 x 8 x 16.
    every = 16 + 384
    # The embedding and the untied head (BambaConfig's default) 16 x 8 each, the final norm.
    total = 2 * mamba + attention + 3 * every + 2 * 128 + 8
    assert total == 2912
    assert build_graph(model, AnalysisOptions()).params() == total


def test_the_attention_layers_are_attn_layer_indices() -> None:
    def layers(indices: list[int] | None) -> tuple[int, int | None]:
        model = spec_from_config(TINY | {"attn_layer_indices": indices})
        return model.mixer_layers, model.attention_layers

    # Absent: every layer Mamba2 (BambaConfig's default); a repeated index counts once.
    assert layers(None) == (3, 0)
    assert layers([0, 2, 2]) == (1, 2)
    # Every layer attention: a plain transformer.
    assert layers([0, 1, 2]) == (0, None)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"attn_layer_indices": [3]}, r"attn_layer_indices=\[3\] is invalid: .* 0 to .* = 2"),
        ({"attn_layer_indices": "1"}, "attn_layer_indices='1' is invalid"),
        ({"layers_block_type": ["mamba"] * 3}, "layers_block_type is not read"),
        ({"hidden_act": "gelu"}, "hidden_act='gelu' is not supported; supported: 'silu'"),
        ({"attention_bias": True}, "attention_bias=True is not supported; supported: False"),
        ({"mlp_bias": True}, "mlp_bias=True is not supported"),
        ({"head_dim": 8}, "head_dim=8 is not supported; supported: 4"),
        ({"mamba_d_head": 2}, r"mamba_n_heads=4 x mamba_d_head=2 is invalid: .* = 16"),
        ({"mamba_n_heads": 3}, "does not split into mamba_n_heads=3 heads"),
        ({"mamba_n_groups": 3}, "mamba_n_heads=4 must be a multiple of mamba_n_groups=3"),
    ],
)
def test_refusals_name_the_key(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ModelConfigError, match=match):
        spec_from_config(TINY | fields)
