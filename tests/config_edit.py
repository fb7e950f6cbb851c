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
