"""MiniCPM 5 MoE (OpenBMB, 2026; transformers' MiniCPM5MoeConfig): GQA whose output is gated by
sigmoid(x W_g) over every value before o_proj (MiniCPM5MoeAttention's q_gate_proj, the second
half of one fused projection; q/k/v/o and the gate biased where `attention_bias`), no q/k
norms, then DeepSeek-V3's MoE: the layers `mlp_layer_types` marks "dense" (the first
`first_k_dense_replace`, 1 by default) a dense MLP, the others `n_routed_experts`
(top-`num_experts_per_tok`) of `moe_intermediate_size` beside `n_shared_experts` shared ones as
one MLP, routed by sigmoid scores with a score-correction bias (MiniCPM5MoeTopkRouter)."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.v3_layout import dense_from_types, spelling


def read_minicpm5_moe(c: _Config, name: str) -> ModelSpec:
    """MiniCPM5MoeConfig's defaults stand for absent keys (`head_dim` 128 and 2 KV heads; null:
    the hidden size over the heads, every head)."""
    if not c.get("use_gated_attention", True):
        # transformers refuses it too (MiniCPM5MoeConfig.validate_architecture).
        refuse(c, "use_gated_attention", False, "true (the output gate is in every layer)")
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = 128 if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    absent = "num_key_value_heads" not in c.raw
    expert = c.positive("moe_intermediate_size", 512, MAX_WIDTH)
    shared = c.count("n_shared_experts", 1)
    bias = c.get("attention_bias", False)
    return _llama_like(
        c,
        name,
        # MiniCPM5MoeConfig has no sliding_window; vLLM (its Transformers backend, as it has
        # no model of its own) windows every layer by it.
        refused=("sliding_window",),
        head_dim=head_dim,
        num_kv_heads=2 if absent else c.get("num_key_value_heads", heads),
        max_positions=c.get("max_position_embeddings", 524288),
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=False,
        attention_output_gate=True,
        # MiniCPM5MoeConfig's attribute_map reads num_local_experts as n_routed_experts.
        num_experts=c.positive(
            spelling(c, "n_routed_experts", "num_local_experts"), 160, MAX_COUNT
        ),
        experts_per_token=c.positive("num_experts_per_tok", 16, MAX_COUNT),
        expert_intermediate_size=expert,
        # MiniCPM5MoeMoE.shared_experts: one MLP of moe_intermediate_size x n_shared_experts.
        shared_intermediate_size=expert * shared or None,
        router_bias=True,
        dense_layers=dense_from_types(c, 1, reads_first_k=True),
    )
