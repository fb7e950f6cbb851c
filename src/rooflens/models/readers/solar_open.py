"""Solar Open (Upstage, 2025; transformers' SolarOpenConfig, Solar-Open-100B): Llama's GQA
attention with q/k/v biased where `attention_bias` (o_proj never) and in every layer
GLM-4.5's MoE: `n_routed_experts` experts (top-`num_experts_per_tok`) of
`moe_intermediate_size` beside `n_shared_experts` shared ones as one MLP, routed with a
score-correction bias."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse

# SolarOpenConfig's head width where a config omits the key.
_HEAD_DIM = 128


def read_solar_open(c: _Config, name: str) -> ModelSpec:
    """No layer holds a dense MLP (transformers' and vLLM's SolarOpenDecoderLayer): the
    published config's `intermediate_size` is not read, and a `first_k_dense_replace` above 0
    is refused: both would ignore it and build MoE layers there."""
    dense = c.count("first_k_dense_replace")
    if dense:
        refuse(c, "first_k_dense_replace", dense, "0 (every layer is an MoE layer)")
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    head_dim = _HEAD_DIM if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    expert = c.req("moe_intermediate_size")
    shared = c.count("n_shared_experts", 1)
    # SolarOpenConfig's attribute_map reads num_local_experts as n_routed_experts.
    alias = c.raw.get("n_routed_experts") is None and c.raw.get("num_local_experts") is not None
    experts = "num_local_experts" if alias else "n_routed_experts"
    # _llama_like reads a dense width, which no layer holds here: the experts' stands for it.
    view = _Config({**c.raw, "intermediate_size": expert}, c.model_type, c.path)
    return _llama_like(
        view,
        name,
        # SolarOpenConfig has no sliding_window; vLLM (its Transformers backend) windows
        # every layer by it.
        refused=("sliding_window",),
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 8),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=c.get("attention_bias", False),
        out_bias=False,
        mlp_bias=False,
        # Named here: ModelSpec's refusal lists other families' spellings of both.
        num_experts=c.positive(experts, maximum=MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", maximum=MAX_COUNT),
        expert_intermediate_size=expert,
        # One MLP of moe_intermediate_size x n_shared_experts (SolarOpenMoE.shared_experts).
        shared_intermediate_size=expert * shared or None,
        # SolarOpenTopkRouter's e_score_correction_bias, one value per expert.
        router_bias=True,
    )
