"""Ling 2.0 and Ring 2.0 (inclusionAI, 2025; BailingMoeV2Config and modeling_bailing_moe_v2 of
inclusionAI/Ling-V2): GQA attention through one fused q/k/v projection with per-head q/k
RMSNorms, `first_k_dense_replace` dense layers, then `num_experts` experts (top-
`num_experts_per_tok`, sigmoid scores routed within `topk_group` of `n_group` groups) beside
`num_shared_experts` shared ones, and multi-token-prediction layers."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import dense_first, refuse

# The class Ling 2.0's config.json names: its model_type "bailing_moe" is also Ling 1.0's
# (BailingMoeForCausalLM: no q/k norms, no expert bias), which this reader does not describe.
_V2 = "BailingMoeV2ForCausalLM"


def read_bailing_moe(c: _Config, name: str) -> ModelSpec:
    """The grouped routing and routed_scaling_factor weigh the top-k scores (no weights).
    Every gate keeps an `expert_bias` buffer of one value per expert (BailingMoeV2Gate,
    saved with the checkpoint). The MTP layers (`num_nextn_predict_layers`, after the
    decoder's in model.layers) are DeepSeek-V3's module (enorm, hnorm, eh_proj, one MoE
    block, final_layernorm) on the main model's embedding and head."""
    architectures = c.raw.get("architectures")
    if c.model_type == "bailing_moe" and architectures != [_V2]:
        refuse(c, "architectures", architectures, f"['{_V2}'] (Ling 2.0, Ring 2.0)")
    expert = c.req("moe_intermediate_size")
    shared = c.count("num_shared_experts", 1)
    shared_width = c.get("moe_shared_expert_intermediate_size", expert * shared)
    if shared_width != expert * shared:
        # BailingMoeV2SparseMoeBlock builds num_shared_experts x moe_intermediate_size.
        refuse(c, "moe_shared_expert_intermediate_size", shared_width,
               f"num_shared_experts x moe_intermediate_size = {expert * shared}")  # fmt: skip
    heads = c.req("num_attention_heads")
    # head_dim, else (null) hidden_size over the heads; BailingMoeV2Config's default is 128.
    written_null = "head_dim" in c.raw and c.raw["head_dim"] is None
    head_dim = c.per_head(c.req("hidden_size"), heads) if written_null else c.get("head_dim", 128)
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        max_positions=c.get("max_position_embeddings", 32768),
        qk_norm=c.get("use_qk_norm", True),
        # q/k/v carry use_qkv_bias, the output projection (dense) use_bias, the MLPs none.
        qkv_bias=c.get("use_qkv_bias", False),
        out_bias=c.get("use_bias", False),
        mlp_bias=False,
        num_experts=c.req("num_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_first(c, "first_k_dense_replace", 1),
        mtp_layers=c.count("num_nextn_predict_layers"),
        mtp_own_embeddings=False,
    )
