"""dots.llm1 (rednote-hilab, 2025; transformers' Dots1Config): Qwen3's attention (per-head q/k
RMSNorms) with DeepSeek-V3's MoE layout: `first_k_dense_replace` dense layers, then
`n_routed_experts` experts (top-`num_experts_per_tok`) beside `n_shared_experts` shared ones,
routed with a score-correction bias."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _ATTENTION_KINDS, _Config, _llama_like, layer_counts
from rooflens.models.readers.moe_fields import dense_first


def _window(c: _Config) -> dict[str, object]:
    """Dots1Config's layers: `layer_types`, else those from `max_window_layers` on slide over
    `sliding_window` (defaults 62 and 4096: with 62 layers, none)."""
    layers = c.req("num_hidden_layers")
    # Written as null, no layer slides; absent, the class default of 4096 applies.
    off = "sliding_window" in c.raw and c.raw["sliding_window"] is None
    window = None if off else c.get("sliding_window", 4096)
    first = c.get("max_window_layers", 62)
    default = [
        "sliding_attention" if window is not None and i >= first else "full_attention"
        for i in range(layers)
    ]
    types = c.get("layer_types", default)
    windowed = layer_counts(c, types, "layer_types", _ATTENTION_KINDS)["sliding_attention"]
    if not windowed:
        return {"sliding_window": None}
    return {"sliding_window": window, "window_layers": windowed}


def read_dots1(c: _Config, name: str) -> ModelSpec:
    expert = c.req("moe_intermediate_size")
    shared = c.count("n_shared_experts")
    return _llama_like(
        c,
        name,
        # Dots1Config has no mlp_bias, transformers' Dots1 builds none; vLLM no longer serves
        # dots.llm1 (removed in 0.23).
        ignored=("mlp_bias",),
        qk_norm=True,
        **_window(c),
        num_experts=c.req("n_routed_experts"),
        experts_per_token=c.req("num_experts_per_tok"),
        expert_intermediate_size=expert,
        # One MLP of n_shared_experts x moe_intermediate_size (Dots1MoE.shared_experts).
        shared_intermediate_size=expert * shared or None,
        # Dots1TopkRouter's e_score_correction_bias, one value per expert, in the checkpoint.
        router_bias=True,
        dense_layers=dense_first(c, "first_k_dense_replace", 0),
    )
