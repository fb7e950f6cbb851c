"""Hy3 (Tencent Hunyuan 3, 2026; transformers' HYV3Config, Hy3-preview): GQA attention with
per-head q/k RMSNorms (HYV3Attention, Apertus's: q/k/v/o biased where `attention_bias`), the
layers `mlp_layer_types` marks "dense" (the first, by default) a dense MLP, the others an MoE
of `num_experts` (top-`num_experts_per_tok`) of `moe_intermediate_size` beside
`num_shared_experts` shared ones as one MLP, routed by sigmoid scores with a score-correction
bias (HYV3TopKRouter, HYV3MoE.e_score_correction_bias)."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.v3_layout import dense_from_types, spelling


def read_hy_v3(c: _Config, name: str) -> ModelSpec:
    """HYV3Config's defaults stand for absent keys (`head_dim` 128, 8 KV heads, one shared
    expert). The MTP layer of the checkpoints (model.layers.80) is not read: transformers
    skips its weights."""
    if c.get("mlp_bias", False):
        # HYV3MLP (dense and shared) reads it, the routed experts have none; rooflens biases
        # every MLP alike.
        refuse(c, "mlp_bias", True, "false (HYV3Experts have no bias)")
    expert = c.positive("moe_intermediate_size", 1536, MAX_WIDTH)
    legacy = c.raw.get("expert_hidden_dim")
    if legacy is not None and legacy != expert:
        # Tencent's code sizes the experts by expert_hidden_dim, transformers by
        # moe_intermediate_size: the checkpoint's width is not known when they differ.
        refuse(c, "expert_hidden_dim", legacy, f"moe_intermediate_size={expert}")
    shared = c.count("num_shared_experts", 1)
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    bias = c.get("attention_bias", False)
    return _llama_like(
        c,
        name,
        # HYV3Config has no sliding_window; vLLM's hy_v3.py windows every layer by it.
        refused=("sliding_window",),
        head_dim=128 if "head_dim" not in c.raw else c.head_dim(hidden, heads),
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=False,
        qk_norm=True,
        # HYV3Config's attribute_map reads num_local_experts as num_experts.
        num_experts=c.positive(spelling(c, "num_experts", "num_local_experts"), 192, MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", 8, MAX_COUNT),
        expert_intermediate_size=expert,
        # HYV3MoE.shared_experts: one MLP of moe_intermediate_size x num_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_from_types(c, 1),
    )
