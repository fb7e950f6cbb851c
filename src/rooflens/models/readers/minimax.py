"""MiniMax-M2 (2025): full attention with q/k RMSNorms over the whole projection, and an MoE of
`num_local_experts` with a score-correction bias, top-8 (transformers' MiniMaxM2Config)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_minimax_m2(c: _Config, name: str) -> ModelSpec:
    expert = c.req("intermediate_size")
    return _llama_like(
        c,
        name,
        qk_norm=c.get("use_qk_norm", True),
        qk_norm_whole=c.get("qk_norm_type", "per_layer") == "per_layer",
        num_experts=c.req("num_local_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        router_bias=c.get("use_routing_bias", True),
        # use_mtp/num_mtp_modules describe training: the released checkpoints ship no MTP
        # weights (their 228,689,764,864 parameters are the main model's), so none are read.
    )
