"""Gemma 3n (model_type gemma3n, and gemma3n_text, its language model): read only to refuse,
naming the parts of its layers rooflens cannot express."""

from __future__ import annotations

import pytest

from rooflens.core.errors import ModelConfigError
from rooflens.models import spec_from_config
from rooflens.models.config import SUPPORTED_MODEL_TYPES

# gemma-3n-E4B's text layout as Gemma3nTextConfig describes it (its defaults).
TEXT = {"hidden_size": 2048, "num_hidden_layers": 35, "intermediate_size": 16384}


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "gemma3n", "text_config": TEXT, "vision_config": {}},
        {"model_type": "gemma3n_text", **TEXT, "altup_num_inputs": 2, "laurel_rank": 32},
    ],
)
def test_gemma3n_is_refused_naming_what_rooflens_cannot_express(config: dict) -> None:
    with pytest.raises(ModelConfigError) as refused:
        spec_from_config(config)
    message = str(refused.value)
    assert message.startswith(f"config.json of model_type {config['model_type']!r}: ")
    inputs, rank = (2, 32) if config["model_type"] == "gemma3n_text" else (4, 64)
    assert f"altup_num_inputs={inputs} (AltUp" in message
    assert f"laurel_rank={rank} (Laurel" in message
    assert "hidden_size_per_layer_input=256 (per-layer embeddings" in message
    assert "num_kv_shared_layers=15 (layers that reuse" in message
    assert message.endswith("are not supported; supported: one residual stream, one attention "
                            "with its own KV cache and one MLP per layer")  # fmt: skip
    # Read only to refuse: not among the types said to be supported.
    assert config["model_type"] not in SUPPORTED_MODEL_TYPES
