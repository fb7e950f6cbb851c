"""Hunyuan (Tencent, 2025): the dense models (transformers' HunYuanDenseV1Config, Hunyuan-7B)
and Hunyuan-A13B (HunYuanMoEV1Config, Tencent's modeling_hunyuan), both GQA attention with
per-head q/k RMSNorms; A13B holds in every layer an MoE of `num_experts` experts
(top-`moe_topk`) beside a shared MLP (`use_mixed_mlp_moe`)."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse, same_in_every_layer


def _refuse_unpriced(c: _Config) -> None:
    """Cross-layer attention (`use_cla`: a layer reuses the keys and values of the one before)
    and MLA (`use_mla`) are not priced: refused."""
    for field in ("use_cla", "use_mla"):
        if c.get(field, False):
            refuse(c, field, True, "false")


def _attention(c: _Config) -> dict[str, Any]:
    """What both families share: the head width is `head_dim`, else Tencent's
    `attention_head_dim`, else hidden_size over the heads; q/k norms where `use_qk_norm`
    (Tencent's code reads it; transformers always builds them)."""
    heads = c.req("num_attention_heads")
    hidden = c.req("hidden_size")
    return {
        "head_dim": c.head_dim(hidden, heads, ("head_dim", "attention_head_dim")),
        # The MLPs have no bias whatever mlp_bias says (HunYuanMLP builds them without).
        "mlp_bias": False,
        "qk_norm": c.get("use_qk_norm", True),
    }


def read_hunyuan_v1_dense(c: _Config, name: str) -> ModelSpec:
    """Hunyuan-7B and its smaller siblings: Llama's block (q/k/v/o biased where
    `attention_bias`) with the per-head q/k norms (HunYuanDenseV1Attention)."""
    _refuse_unpriced(c)
    # HunYuanDenseV1Config has no sliding_window; vLLM's Transformers backend, which serves
    # it, windows every layer by it (HunYuanMoEV1Config's likewise).
    return _llama_like(c, name, refused=("sliding_window",), **_attention(c))


def read_hunyuan_v1_moe(c: _Config, name: str) -> ModelSpec:
    """Tencent's config writes the MoE fields once per layer (`moe_topk`, `num_shared_expert`,
    `moe_intermediate_size` lists): read where every layer holds the same value. Skipped
    (dense) first layers are refused."""
    _refuse_unpriced(c)
    skipped = c.get("moe_layer_num_skipped", 0)
    if skipped:
        refuse(c, "moe_layer_num_skipped", skipped, "0 (every layer MoE)")
    width = c.req("intermediate_size")
    expert = same_in_every_layer(c, "moe_intermediate_size", width, 1, MAX_WIDTH)
    if expert != width:
        # Tencent's HunYuanMoE and transformers build the experts at intermediate_size, vLLM
        # at moe_intermediate_size: the checkpoint's width is not known when they differ.
        refuse(c, "moe_intermediate_size", c.raw["moe_intermediate_size"],
               f"the experts' width intermediate_size={width} in every layer")  # fmt: skip
    shared = same_in_every_layer(c, "num_shared_expert", 1)
    mixed = c.get("use_mixed_mlp_moe", True)
    attention = _attention(c)
    if c.raw.get("num_experts") is None:
        c.req("num_experts")  # a structural size: refused where absent
    return _llama_like(
        c,
        name,
        refused=("sliding_window",),
        **attention,
        num_experts=same_in_every_layer(c, "num_experts", 0, 1, MAX_COUNT),
        experts_per_token=same_in_every_layer(c, "moe_topk", 1, 1, MAX_COUNT),
        expert_intermediate_size=expert,
        # The shared MLP is intermediate_size x num_shared_expert wide (HunYuanMLP with
        # is_shared_mlp; vLLM's HunYuanSparseMoeBlock).
        shared_intermediate_size=width * shared if mixed and shared else None,
    )
