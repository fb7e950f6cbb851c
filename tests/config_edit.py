"""Bundled configs with one field changed, for the tests that read a config as a checkpoint
would ship it (imported by test modules; pytest puts this folder on the path)."""

from __future__ import annotations

import json

from rooflens.models.catalog import bundled_config


def mutated(model: str, path: str, value: object) -> dict:
    """A bundled config with one field (`a.b` inside a nested config) set to `value`."""
    config = json.loads(json.dumps(bundled_config(model)))
    *outer, key = path.split(".")
    node = config
    for part in outer:
        node = node[part]
    node[key] = value
    return config


# A Llama-shaped toy, counted by hand: h 16, 4 heads of 4, 2 KV heads, MLP 24, vocabulary 64,
# 8 layers, 256 positions (readers' tests give it a model_type and their own keys).
TOY = {
    "hidden_size": 16,
    "num_hidden_layers": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 24,
    "vocab_size": 64,
    "max_position_embeddings": 256,
}
