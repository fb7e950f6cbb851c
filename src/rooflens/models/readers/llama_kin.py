"""Llama's decoder (GQA attention, SwiGLU MLP, RMSNorms before each sublayer) under other
names, each read with its own transformers config class's defaults and spellings:
InternLM3, EXAONE 3/3.5, IQuest-Coder (transformers builds all three as LlamaForCausalLM),
Helium, Ministral and CWM (window layers by `layer_types`)."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, no_bias
from rooflens.models.readers.moe_fields import refuse


def _head_dim(c: _Config, default: int | None) -> int:
    """`head_dim` as written; absent, the class default `default`; null (or absent without a
    default), the hidden size over the heads."""
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    if "head_dim" not in c.raw and default is not None:
        return default
    return c.head_dim(hidden, heads)


def _aliased(c: _Config, aliases: dict[str, str]) -> _Config:
    """`c` with each key of `aliases` also read under the name it stands for (transformers'
    attribute_map), where the config does not write that name itself."""
    raw = dict(c.raw)
    for alias, key in aliases.items():
        if raw.get(key) is None and raw.get(alias) is not None:
            raw[key] = raw[alias]
    return _Config(raw, c.model_type, c.path)


def _window(c: _Config, default: int) -> int | None:
    """`sliding_window`: absent, the class default; null, none."""
    if "sliding_window" not in c.raw:
        return default
    return None if c.raw["sliding_window"] is None else c.positive("sliding_window")


def _windows(c: _Config, default: list[str], window: int | None) -> dict[str, Any]:
    """Window layers from `layer_types` (else `default`), attending to `window` keys; a window
    layer without a window is refused rather than read as attending to every key."""
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    if not windowed:
        return {"sliding_window": None}
    if window is None:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: layer_types names "
            f"{windowed} sliding_attention layers but sliding_window is null: expected a "
            "positive window"
        )
    return {"sliding_window": window, "window_layers": windowed}


def read_internlm3(c: _Config, name: str) -> ModelSpec:
    """InternLM3 (Shanghai AI Lab, 2025): InternLM3Config spells `attention_bias` qkv_bias and
    `mlp_bias` bias; transformers builds it as Llama, one flag for q/k/v/o, and refuses the two
    apart (vLLM's Llama layers read qkv_bias for q/k/v and bias for o_proj and the MLP)."""
    c = _aliased(c, {"qkv_bias": "attention_bias", "bias": "mlp_bias"})
    attention, mlp = c.get("attention_bias", False), c.get("mlp_bias", False)
    if attention != mlp:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: attention_bias (qkv_bias)="
            f"{attention!r} and mlp_bias (bias)={mlp!r} are not supported apart; supported: "
            "both the same (transformers refuses them apart)"
        )
    return _llama_like(
        c,
        name,
        head_dim=_head_dim(c, 128),
        num_kv_heads=c.get("num_key_value_heads", 2),
        max_positions=c.get("max_position_embeddings", 32768),
        # InternLM3Config has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_exaone(c: _Config, name: str) -> ModelSpec:
    """EXAONE 3.0 and 3.5 (LG AI Research, 2024): Llama's block under GPT-2's key names
    (ExaoneConfig's attribute_map: num_layers, activation_function)."""
    c.req("num_hidden_layers", "num_layers")
    c = _aliased(c, {"num_layers": "num_hidden_layers", "activation_function": "hidden_act"})
    # vLLM's ExaoneAttention also biases q/k/v and out_proj where a `bias` key is set, which
    # transformers' Llama layers never read.
    no_bias(c, ("bias",), "ExaoneConfig (LlamaAttention)")
    return _llama_like(
        c,
        name,
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 4096),
        # ExaoneConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_iquestcoder(c: _Config, name: str) -> ModelSpec:
    """IQuest-Coder (2025): Llama's block with IQuestCoderConfig's defaults; `clip_qkv` and
    `use_sliding_window` are refused, as transformers refuses them."""
    if c.raw.get("clip_qkv") is not None:
        refuse(c, "clip_qkv", c.raw["clip_qkv"], "null (IQuestCoderConfig refuses it)")
    if c.get("use_sliding_window", False):
        refuse(c, "use_sliding_window", True, "false (IQuestCoderConfig refuses it)")
    return _llama_like(
        c,
        name,
        head_dim=_head_dim(c, 128),
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 131072),
        # IQuestCoderConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_helium(c: _Config, name: str) -> ModelSpec:
    """Helium (Kyutai, 2025): Llama's block with HeliumConfig's defaults (head_dim 128, 20 KV
    heads), a bias on q/k/v where `attention_bias`, and an o_proj of hidden_size x hidden_size
    without one (HeliumAttention), which needs the heads to span the hidden size."""
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    head_dim = _head_dim(c, 128)
    if heads * head_dim != hidden:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: num_attention_heads={heads} x "
            f"head_dim={head_dim} must equal hidden_size={hidden}: HeliumAttention's o_proj "
            "maps hidden_size to hidden_size"
        )
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 20),
        max_positions=c.get("max_position_embeddings", 4096),
        out_bias=False,
        # HeliumConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_ministral(c: _Config, name: str) -> ModelSpec:
    """Ministral-8B (Mistral AI, 2024; MinistralConfig): Mistral's block without biases, with
    window layers by `layer_types` (every layer where absent and `sliding_window` is set,
    4096 by default; none where it is null)."""
    no_bias(c, ("attention_bias", "mlp_bias"), "Ministral")
    layers = c.req("num_hidden_layers")
    window = _window(c, 4096)
    kind = "sliding_attention" if window is not None else "full_attention"
    return _llama_like(
        c,
        name,
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        **_windows(c, [kind] * layers, window),
    )


def read_cwm(c: _Config, name: str) -> ModelSpec:
    """CWM (Meta, 2025; CwmConfig): Llama's block without attention biases, head_dim 128 and 8
    KV heads by default, three of every four layers attending to `sliding_window` (8192) keys
    (`layer_types`; by default layer i attends to every key where i is a multiple of 4)."""
    # CwmAttention has no bias; vLLM serves it with its Llama layers, which read the key.
    no_bias(c, ("attention_bias",), "CwmAttention")
    layers = c.req("num_hidden_layers")
    default = ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(layers)]
    window = _window(c, 8192)
    return _llama_like(
        c,
        name,
        head_dim=_head_dim(c, 128),
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=False,
        out_bias=False,
        **_windows(c, default, window),
    )
