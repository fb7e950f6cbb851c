"""K-EXAONE (LG AI Research, 2025; transformers' ExaoneMoeConfig): EXAONE 4.0's attention
(per-head q/k RMSNorms, window layers by `layer_types` or `sliding_window_pattern`; the global
layers' missing rotary positions are not priced) in a pre-norm block (OlmoeDecoderLayer's
input and post-attention norms, not EXAONE 4.0's norms after the sublayers), with DeepSeek-V3's
MoE layout: dense layers first, then `num_experts` experts (top-`num_experts_per_tok`) of
`moe_intermediate_size` beside `num_shared_experts` shared ones as one MLP, routed with a
score-correction bias."""

from __future__ import annotations

from rooflens.core.model import MAX_COUNT, ModelSpec
from rooflens.models.config import _Config, _llama_like, layer_counts
from rooflens.models.readers.common import no_bias
from rooflens.models.readers.exaone4 import window_fields
from rooflens.models.readers.moe_fields import dense_first, refuse


def _dense_layers(c: _Config) -> int:
    """The dense layers, all before the first MoE layer: `mlp_layer_types` ("dense" and
    "sparse", which ExaoneMoeConfig puts before first_k_dense_replace), else
    `first_k_dense_replace` (default 1)."""
    kinds = c.get("mlp_layer_types", None)
    if kinds is None:
        return dense_first(c, "first_k_dense_replace", 1)
    dense = layer_counts(c, kinds, "mlp_layer_types", ("dense", "sparse"))["dense"]
    if kinds[:dense] != ["dense"] * dense:
        refuse(c, "mlp_layer_types", kinds, "every dense layer before the first sparse one")
    return dense


def read_exaone_moe(c: _Config, name: str) -> ModelSpec:
    """vLLM's ExaoneMoe also reads per-layer window sizes (`sliding_windows`) and SwiGLU clamps
    (`swiglu_limits`), which transformers does not: rooflens reads one window and an
    unclamped SwiGLU, so either is refused where it says otherwise. The MTP module of the
    checkpoints is not read (transformers ignores its weights)."""
    if c.raw.get("sliding_windows") is not None:
        refuse(c, "sliding_windows", c.raw["sliding_windows"],
               "null (one sliding_window for every window layer)")  # fmt: skip
    limits = c.get("swiglu_limits", [])
    if any(not isinstance(limit, int | float) or limit > 0 for limit in limits):
        refuse(c, "swiglu_limits", limits, "none above 0 (an unclamped SwiGLU)")
    no_bias(c, ("attention_bias", "mlp_bias"), "ExaoneMoe")
    expert = c.req("moe_intermediate_size")
    shared = c.count("num_shared_experts", 1)
    return _llama_like(
        c,
        name,
        num_kv_heads=c.get("num_key_value_heads", 32),
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        qk_norm=True,
        **window_fields(c),
        # Named here: ModelSpec's refusal lists other families' spellings of both.
        num_experts=c.positive("num_experts", maximum=MAX_COUNT),
        experts_per_token=c.positive("num_experts_per_tok", maximum=MAX_COUNT),
        expert_intermediate_size=expert,
        # One MLP of moe_intermediate_size x num_shared_experts (ExaoneMoeSparseMoEBlock).
        shared_intermediate_size=expert * shared or None,
        # ExaoneMoeTopkRouter's e_score_correction_bias, one value per expert.
        router_bias=True,
        dense_layers=_dense_layers(c),
    )
