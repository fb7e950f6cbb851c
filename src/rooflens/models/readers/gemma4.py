"""Gemma 4 (Google, 2026; transformers' Gemma4TextConfig): Gemma 3's block (four norms, per-head
q/k norms, window layers 5:1) whose global layers attend with their own head size
(`global_head_dim`) and, where `attention_k_eq_v`, with `num_global_key_value_heads` heads whose
keys are also the values (no v_proj). The wrapper (`gemma4`) is analysed as its language model;
its vision and audio towers are left out. The MoE block (26B-A4B: `enable_moe_block`) runs
routed experts beside the dense MLP. Per-layer embeddings (E2B, E4B) and KV sharing across
layers are refused by name."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, required_window, text_config

# Gemma4TextConfig's defaults (transformers 5) for the fields a config may omit.
_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_144,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "max_position_embeddings": 131_072,
}


def _refuse(c: _Config, field: str, value: object, why: str) -> None:
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {field}={value!r} is not supported ({why})"
    )


def _global_shape(c: _Config, types: list[str]) -> tuple[int, int | None]:
    """(head size, KV heads or None for num_key_value_heads) of the global layers: from
    `per_layer_config` where a saved config spells it out, else `global_head_dim` (512) and,
    with `attention_k_eq_v`, `num_global_key_value_heads`."""
    table = c.get("per_layer_config", None)
    if table is None:
        heads = c.get("num_global_key_value_heads", 0) or None
        return c.get("global_head_dim", 512), heads if c.get("attention_k_eq_v", False) else None
    shapes = {
        (entry.get("head_dim"), entry.get("num_key_value_heads"))
        for index, entry in table.items()
        if types[int(index)] == "full_attention" and isinstance(entry, dict)
    }
    if len(shapes) != 1:
        _refuse(c, "per_layer_config", table, "the global layers must share one shape")
    head_dim, heads = shapes.pop()
    return head_dim or c.get("head_dim", 256), heads


def read_gemma4_text(c: _Config, name: str) -> ModelSpec:
    # Read before the nulls below give way to defaults: null had read as 512.
    window = required_window(c, 512, "Gemma4TextConfig")
    c = _Config(
        {**_TEXT_DEFAULTS, **{k: v for k, v in c.raw.items() if v is not None}}, c.model_type
    )
    layers = c.req("num_hidden_layers")
    per_layer = c.get("hidden_size_per_layer_input", 256)
    if per_layer:
        _refuse(c, "hidden_size_per_layer_input", per_layer, "per-layer embeddings, as in E2B/E4B")
    if c.get("num_kv_shared_layers", 0):
        _refuse(c, "num_kv_shared_layers", c.raw["num_kv_shared_layers"], "KV sharing")
    # 26B-A4B: routed experts beside the dense MLP in every layer. use_double_wide_mlp only
    # widens the MLP of KV-sharing layers, which are refused above.
    moe: dict[str, Any] = {}
    if c.get("enable_moe_block", False):
        moe = {
            "num_experts": c.req("num_experts"),
            "experts_per_token": c.req("top_k_experts"),
            "expert_intermediate_size": c.req("moe_intermediate_size"),
            "moe_beside_mlp": True,
        }
    default = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(layers)]
    types = list(c.get("layer_types", default))
    # Gemma4TextConfig forces the last layer global.
    types[-1:] = ["full_attention"]
    head_dim, kv_heads = _global_shape(c, types)
    return _llama_like(
        c,
        name,
        ignored=("mlp_bias",),  # nor in Gemma4TextConfig, nor in vLLM's gemma4.py
        activation=c.get("hidden_activation", c.get("hidden_act", "gelu_pytorch_tanh")),
        tied_embeddings=c.get("tie_word_embeddings", True),
        head_dim=c.get("head_dim", 256),
        qk_norm=True,
        post_norms=True,
        norms_per_block=4,
        sliding_window=window,
        window_layers=count_layers(c, types, "sliding_attention"),
        global_head_dim=head_dim,
        global_kv_heads=kv_heads,
        global_k_eq_v=c.get("attention_k_eq_v", False),
        **moe,
    )


def read_gemma4(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "gemma4_text")
    # The wrapper may carry the tying flag for its language model.
    if "tie_word_embeddings" in c.raw and "tie_word_embeddings" not in text.raw:
        text = _Config(
            {**text.raw, "tie_word_embeddings": c.raw["tie_word_embeddings"]}, text.model_type
        )
    spec = read_gemma4_text(text, name)
    return spec.model_copy(update={"model_type": c.model_type})
