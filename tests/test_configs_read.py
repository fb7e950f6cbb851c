"""config.json files read as they are written, or refused naming the field, the value and what
is accepted: nothing unknown is read as something rooflens knows."""

from __future__ import annotations

import json
import re

import pytest

from rooflens import ModelConfigError
from rooflens.models import spec_from_config
from rooflens.models.catalog import bundled_config


def _mutated(model: str, path: str, value: object) -> dict:
    """A bundled config with one field (`a.b` inside a nested config) set to `value`."""
    config = json.loads(json.dumps(bundled_config(model)))
    *outer, key = path.split(".")
    node = config
    for part in outer:
        node = node[part]
    node[key] = value
    return config


# --- layer_types ----------------------------------------------------------------------------


def test_known_layer_types_are_counted() -> None:
    assert spec_from_config(bundled_config("openai/gpt-oss-20b")).window_layers == 12
    # gemma-3-1b-it has no layer_types: every sixth of its 26 layers is global.
    assert spec_from_config(bundled_config("google/gemma-3-1b-it")).window_layers == 22
    every_other = ["sliding_attention", "full_attention"] * 18
    qwen = _mutated("Qwen/Qwen3-8B", "layer_types", every_other)
    assert spec_from_config(qwen | {"use_sliding_window": True}).window_layers == 18


_OSS, _GEMMA3, _QWEN3 = "openai/gpt-oss-20b", "google/gemma-3-1b-it", "Qwen/Qwen3-8B"
_WINDOWED = "['full_attention', 'sliding_attention']"


@pytest.mark.parametrize(
    ("model", "path", "value", "message"),
    [
        # Each was read as full attention in every layer it named (gpt-oss-20b's KV cache at
        # 128k tokens: twice its size, the 12 window layers holding every token).
        (_OSS, "layer_types", ["sliding_window"] * 24,
         f"layer_types holds ['sliding_window']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", ["chunked_attention", "full_attention"] * 12,
         f"layer_types holds ['chunked_attention']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", [0, 1] * 12, f"layer_types holds [0, 1]; supported: {_WINDOWED}"),
        (_GEMMA3, "layer_types", ["local"] * 5 + ["full_attention"] + ["local"] * 20,
         f"layer_types holds ['local']; supported: {_WINDOWED}"),
        (_QWEN3, "layer_types", ["sliding"] * 36,
         f"layer_types holds ['sliding']; supported: {_WINDOWED}"),
        ("meta-llama/Llama-4-Scout-17B-16E", "text_config.layer_types",
         ["sliding_attention"] * 48,
         "layer_types holds ['sliding_attention']; supported: ['chunked_attention', "
         "'full_attention']"),
        ("google/gemma-4-26B-A4B", "text_config.layer_types", ["global"] * 30,
         f"layer_types holds ['global']; supported: {_WINDOWED}"),
        (_OSS, "layer_types", ["sliding_attention"] * 23,
         "layer_types has 23 entries for num_hidden_layers=24"),
    ],
)  # fmt: skip
def test_unknown_layer_types_are_refused(model, path, value, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        spec_from_config(_mutated(model, path, value))


def test_qwen_layer_types_are_checked_with_the_window_on_or_off() -> None:
    config = _mutated(_QWEN3, "layer_types", ["sliding"] * 36)
    for on in (True, False):
        with pytest.raises(ModelConfigError, match="layer_types holds \\['sliding'\\]"):
            spec_from_config(config | {"use_sliding_window": on})
