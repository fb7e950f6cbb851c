"""A key a family's transformers config class does not declare is one its transformers model
never reads. Setting `attention_bias`, `mlp_bias` or `sliding_window` on such a family's
config must leave rooflens's description as it was (vLLM ignores the key too) or be refused
naming the key (vLLM reads it, transformers does not): never priced silently as biases or a
window the model may not have. Checked on each supported model_type's class defaults."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from rooflens.core import AnalysisOptions, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.models import spec_from_config
from rooflens.models.config import SUPPORTED_MODEL_TYPES, UNDECLARED_KEYS

# Keys a class lacks that its modeling code reads all the same (getattr), read as it does.
READ_ANYWAY = {
    # modeling_olmoe.py:269: OlmoeAttention passes getattr(self.config, "sliding_window", None)
    # to its attention function.
    ("olmoe", "sliding_window"),
}

# Truthy values of the keys: a window narrower than any default context.
PROBES = {"attention_bias": True, "mlp_bias": True, "sliding_window": 64}

# What a class's defaults leave out that rooflens requires (a structural size the class
# defaults to null, a layer schedule in the names rooflens reads, a width the tower and the
# language model must share), set in the part that holds the language model's keys.
FILLED: dict[str, dict[str, Any]] = {
    "deepseek_v2": {"num_experts_per_tok": 6},
    "dots1": {"n_routed_experts": 8, "num_experts_per_tok": 2},
    "glm4_moe": {"head_dim": 128},
    "glm4v_moe": {"head_dim": 128},
    "qwen3_moe": {"num_experts": 8, "num_experts_per_tok": 2},
    "qwen3_vl_moe": {"num_experts": 8, "num_experts_per_tok": 2},
    "qwen2_vl": {"hidden_size": 3584},
    "qwen2_5_vl": {"hidden_size": 3584},
    "exaone4_5": {"hidden_size": 3584},
    "gemma4": {"hidden_size_per_layer_input": 0},
    "gemma4_text": {"hidden_size_per_layer_input": 0},
    "lfm2_moe": {"layer_types": ["conv", "conv", "conv", "full_attention"] * 8},
    "kimi_linear": {"linear_attn_config": {}},
}
# What a multimodal class's defaults leave that rooflens refuses outside its language model:
# top-level keys, and (under "vision_config") its tower's. Each is the published models' own
# setting (SigLIP towers without the pooling head, tiles the projector's merge divides, q/k/v
# biases, the output head tied as text_config says).
WRAPPER_FILLED: dict[str, dict[str, Any]] = {
    "aya_vision": {"vision_config": {"image_size": 364}},
    "gemma3": {"vision_config": {"vision_use_head": False}},
    "idefics3": {"vision_config": {"image_size": 364, "patch_size": 14}},
    "smolvlm": {"vision_config": {"image_size": 512, "patch_size": 16}},
    "internvl": {"tie_word_embeddings": False, "vision_config": {"attention_bias": True}},
    "lfm2_vl": {"vision_config": {"vision_use_head": False}},
}


def _defaults(model_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The class's default config.json (model_type set) and the part of it that holds the
    language model's keys (its text_config in a multimodal wrapper)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = CONFIG_MAPPING[model_type]().to_dict()
    config = {k: v for k, v in raw.items() if not k.startswith("_")} | {"model_type": model_type}
    for key, value in WRAPPER_FILLED.get(model_type, {}).items():
        config[key] = config[key] | value if isinstance(value, dict) else value
    text = config.get("text_config")
    part = text if isinstance(text, dict) else config
    part |= FILLED.get(model_type, {})
    return config, part


def _described(config: dict[str, Any]) -> tuple[int, Any, Any]:
    spec = spec_from_config(config)
    params = build_graph(spec, AnalysisOptions()).params()
    return params, spec.sliding_window, spec.window_layers


CASES = [
    (model_type, key)
    for model_type in SUPPORTED_MODEL_TYPES
    if model_type in CONFIG_MAPPING
    for key in UNDECLARED_KEYS
]


@pytest.mark.parametrize(("model_type", "key"), CASES)
def test_an_undeclared_key_changes_nothing_or_is_refused(model_type: str, key: str) -> None:
    config, part = _defaults(model_type)
    if key in part or (model_type, key) in READ_ANYWAY:
        return  # the class declares it (or its model reads it): read as its model does
    before = _described(config)  # the defaults, as filled above, read
    part[key] = PROBES[key]
    try:
        after = _described(config)
    except ModelConfigError as exc:
        assert f"{key}={PROBES[key]!r}" in str(exc)
        return
    assert after == before, f"{model_type}: {key}={PROBES[key]!r} changed the description"
