"""What the readers of DeepSeek-V3's MoE layout from 2026 share (Mistral Small 4, GLM-4.7-Flash,
Hy3, Sarvam, Param-2): MLA attention read with each config class's own defaults, the dense
layers given as a per-layer `mlp_layer_types` list, the spellings transformers' attribute_map
reads as one key, and GLM-4.5's block (transformers' Glm4MoeForCausalLM) under another
config class's defaults."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like, layer_counts
from rooflens.models.readers.moe_fields import dense_first, refuse


def spelling(c: _Config, key: str, *aliases: str) -> str:
    """The key a config gives `key` under: transformers' attribute_map reads each of `aliases`
    as `key`. Two spellings holding different values are refused (which one transformers keeps
    depends on the order of the file)."""
    given = [k for k in (key, *aliases) if c.raw.get(k) is not None]
    if len({repr(c.raw[k]) for k in given}) > 1:
        refuse(c, given[1], c.raw[given[1]], f"the value of {given[0]}={c.raw[given[0]]!r}")
    return given[0] if given else key


def mla_fields(
    c: _Config,
    *,
    nope: int,
    rope: int,
    v: int,
    kv_lora: int,
    q_lora: int | None,
    rope_key: str = "qk_rope_head_dim",
) -> dict[str, Any]:
    """DeepSeek-V3's MLA (`q_lora_rank` queries, a `kv_lora_rank` latent and a shared rotary
    key of `qk_rope_head_dim`, read from `rope_key`, cached) with a config class's defaults;
    `q_lora_rank` written as null means one q_proj, as transformers builds it. `attention_bias`
    is refused: transformers biases q_a_proj, kv_a_proj_with_mqa and o_proj, vLLM's
    DeepseekV2Attention none."""
    if c.get("attention_bias", False):
        refuse(c, "attention_bias", True,
               "false (transformers biases q_a_proj, kv_a_proj_with_mqa and o_proj, vLLM's "
               "DeepseekV2Attention nothing)")  # fmt: skip
    nope_dim = c.positive("qk_nope_head_dim", nope, MAX_WIDTH)
    rope_dim = c.positive(rope_key, rope, MAX_WIDTH)
    if "q_lora_rank" in c.raw and c.raw["q_lora_rank"] is None:
        q_rank = None
    elif q_lora is None:
        q_rank = None if "q_lora_rank" not in c.raw else c.positive("q_lora_rank", None, MAX_WIDTH)
    else:
        q_rank = c.positive("q_lora_rank", q_lora, MAX_WIDTH)
    return dict(
        head_dim=nope_dim + rope_dim,
        # Keys and values are expanded per head from the latent.
        num_kv_heads=c.req("num_attention_heads"),
        q_lora_rank=q_rank,
        kv_lora_rank=c.positive("kv_lora_rank", kv_lora, MAX_WIDTH),
        qk_rope_head_dim=rope_dim,
        v_head_dim=c.positive("v_head_dim", v, MAX_WIDTH),
        qkv_bias=False,
        out_bias=False,
    )


def dense_from_types(c: _Config, default: int, reads_first_k: bool = False) -> int:
    """The dense layers, all before the first MoE layer: `mlp_layer_types` ("dense", "sparse"),
    else the class's default layout: `default` dense layers first, or (`reads_first_k`: the
    class builds its default list from it) `first_k_dense_replace`, default `default`. Beside
    a list, or where the class ignores the key, a `first_k_dense_replace` that disagrees is
    refused: vLLM's DeepSeek layers read that key, transformers' model the list."""
    kinds = c.get("mlp_layer_types", None)
    if kinds is None:
        if reads_first_k:
            return dense_first(c, "first_k_dense_replace", default)
        dense = default
    else:
        dense = layer_counts(c, kinds, "mlp_layer_types", ("dense", "sparse"))["dense"]
        if kinds[:dense] != ["dense"] * dense:
            refuse(c, "mlp_layer_types", kinds, "every dense layer before the first sparse one")
    if c.raw.get("first_k_dense_replace") is not None:
        given = dense_first(c, "first_k_dense_replace", default)
        if given != dense:
            layout = "mlp_layer_types" if kinds is not None else "the class's default layout"
            refuse(c, "first_k_dense_replace", given, f"{dense}, the dense layers {layout} gives")
    return dense


def glm4_moe_config(c: _Config, name: str, defaults: dict[str, Any]) -> ModelSpec:
    """GLM-4.5's block (Glm4MoeForCausalLM: GQA with q/k/v biased where `attention_bias`,
    o_proj never, per-head q/k norms where `use_qk_norm`; `first_k_dense_replace` dense layers,
    then `n_routed_experts` experts beside `n_shared_experts` shared ones as one MLP, routed
    with a score-correction bias) under another config class, whose `defaults` stand for absent
    keys (head_dim, num_key_value_heads, use_qk_norm, n_shared_experts, tie_word_embeddings,
    max_position_embeddings). That class's attribute_map reads num_experts, num_shared_experts,
    use_qkv_bias and num_mtp_layers as GLM's keys. The MTP modules are not read: transformers
    skips them and the released checkpoints hold none."""
    # The original releases' code (Ling 2.0's) biases o_proj and the MLPs where `use_bias`
    # and may norm with LayerNorm (`use_rmsnorm` false); Glm4Moe does neither.
    if c.get("use_bias", False):
        refuse(c, "use_bias", True, "false (transformers' Glm4Moe builds o_proj and the MLPs "
               "without a bias)")  # fmt: skip
    if not c.get("use_rmsnorm", True):
        refuse(c, "use_rmsnorm", False, "true (transformers' Glm4Moe norms with RMSNorm)")
    bias = c.get(spelling(c, "attention_bias", "use_qkv_bias"), False)
    experts = spelling(c, "n_routed_experts", "num_experts", "num_local_experts")
    shared = c.count(spelling(c, "n_shared_experts", "num_shared_experts"), defaults["shared"])
    heads = c.req("num_attention_heads")
    if "head_dim" in c.raw:
        head_dim = c.head_dim(c.req("hidden_size"), heads)
    else:
        head_dim = defaults["head_dim"]
    expert = c.positive("moe_intermediate_size", defaults["moe_intermediate_size"], MAX_WIDTH)
    return _llama_like(
        c,
        name,
        # Neither class has a sliding_window; vLLM's param2moe.py and sarvam.py window
        # every layer by it.
        refused=("sliding_window",),
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", defaults["kv_heads"]),
        max_positions=c.get("max_position_embeddings", defaults["positions"]),
        tied_embeddings=c.get("tie_word_embeddings", defaults["tied"]),
        qkv_bias=bias,
        out_bias=False,
        mlp_bias=False,
        qk_norm=c.get("use_qk_norm", defaults["qk_norm"]),
        num_experts=c.positive(experts, defaults["experts"], MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", defaults["top_k"], MAX_COUNT),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        # Glm4MoeTopkRouter's e_score_correction_bias, one value per expert.
        router_bias=True,
        dense_layers=dense_first(c, "first_k_dense_replace", 1),
    )
