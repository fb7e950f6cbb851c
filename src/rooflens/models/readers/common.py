"""What several readers share: layer-type lists, nested text configs and bias flags that the
engines read differently."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config, layer_counts
from rooflens.models.readers.moe_fields import refuse


def count_layers(c: _Config, types: object, kind: str) -> int:
    """How many of the `num_hidden_layers` entries of `layer_types` are `kind`; every other
    entry must be "full_attention" (models with one restricted kind of attention)."""
    return layer_counts(c, types, "layer_types", (kind, "full_attention"))[kind]


def stated_window(c: _Config, default: int) -> int | None:
    """`sliding_window`: absent, the class default `default`; null, none (no layer keeps a
    window: vLLM's Attention takes per_layer_sliding_window None as every key, where the
    window layers of transformers' mask raise); else a positive integer."""
    if "sliding_window" not in c.raw:
        return default
    return None if c.raw["sliding_window"] is None else c.positive("sliding_window")


def window_layers(c: _Config, windowed: int, default: int) -> dict[str, int | None]:
    """`sliding_window` and `window_layers` for `windowed` window layers: the window as
    stated_window reads it; none, and no window layer, where there are none or it is null."""
    window = stated_window(c, default) if windowed else None
    if window is None:
        return {"sliding_window": None, "window_layers": None}
    return {"sliding_window": window, "window_layers": windowed}


def required_window(c: _Config, default: int, cls: str) -> int:
    """`sliding_window` of a family whose config class types it `int` (null refused there):
    absent, `default`; null refused naming the key; else a positive integer."""
    if "sliding_window" in c.raw and c.raw["sliding_window"] is None:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: sliding_window=None is invalid: "
            f"expected a positive integer ({cls} declares it an int, {default} where absent)"
        )
    return c.positive("sliding_window", default)


def no_bias(c: _Config, keys: tuple[str, ...], model: str) -> None:
    """Refuse any of `keys` set true: transformers' `model` builds those projections without a
    bias whatever the key says, and vLLM adds one where it is set, so the checkpoint's
    projections are not known."""
    for key in keys:
        if c.get(key, False):
            refuse(c, key, True, f"false (transformers' {model} has no bias there, vLLM one)")


def text_config(c: _Config, default_type: str) -> _Config:
    """The language model's config nested under `text_config` of a multimodal wrapper."""
    inner = c.req("text_config", kind=dict)
    if not isinstance(inner, dict):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config must be an object"
        )
    model_type = inner.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        # false or 0 had read as the wrapper's default language model.
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: text_config.model_type="
            f"{model_type!r} is invalid: expected a model_type name (text)"
        )
    return _Config(inner, model_type or default_type)


def vision_config(c: _Config) -> _Config:
    inner = c.req("vision_config", kind=dict)
    if not isinstance(inner, dict):
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: vision_config must be an object"
        )
    return _Config(inner, f"{c.model_type}.vision_config")


# Why a Llama 4 or Gemma 3 wrapper whose config.json names no vision_config (aiconfigurator's
# copies of the Llama 4 configs keep text_config alone) is read without its tower: its
# transformers config class fills the class defaults of the vision config, and those describe
# a tower the model it builds cannot run on an image (the shapes are named by each reader).
NO_VISION_CONFIG = (
    "its config.json has no vision_config, and the tower of the {cls} defaults transformers "
    "fills in cannot take an image: {why}"
)


def no_vision_config(c: _Config) -> bool:
    """A wrapper without `vision_config` (absent or null), which transformers fills in."""
    return c.raw.get("vision_config") is None


# The keys vLLM reads a context length from (vllm/transformers_utils/
# model_arch_config_convertor.py, derive_max_model_len_and_key: the smallest it finds), and its
# default where a config names none (BLOOM's configs and the Mamba classes name none).
VLLM_LENGTH_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
VLLM_DEFAULT_LENGTH = 2048


def stated_length(c: _Config) -> tuple[int, bool]:
    """The context length vLLM takes from a config without a key of the model's own (the
    smallest of VLLM_LENGTH_KEYS given), and whether the config states one; else vLLM's default
    2,048, which refusals then name as the engine's."""
    given = [c.positive(key) for key in VLLM_LENGTH_KEYS if c.raw.get(key) is not None]
    return (min(given), True) if given else (VLLM_DEFAULT_LENGTH, False)
