"""Dense decoders whose MLP is not gated (up_proj, activation, down_proj), mostly with squared
ReLU: AFM (Arcee), Nemotron-4 and Minitron (NVIDIA) and Jais 2."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_arcee(c: _Config, name: str) -> ModelSpec:
    """AFM-4.5B (Arcee AI, 2025; transformers' ArceeConfig): Llama's attention and RMSNorms
    with ArceeMLP, up_proj, ReLU² (`hidden_act` relu2), down_proj; q/k/v/o biased where
    `attention_bias`, the MLP where `mlp_bias`."""
    return _llama_like(
        c,
        name,
        max_positions=c.get("max_position_embeddings", 4096),
        gated_mlp=False,
        activation=c.get("hidden_act", "relu2"),
        # ArceeConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_nemotron(c: _Config, name: str) -> ModelSpec:
    """Nemotron-4 and Minitron (NVIDIA, 2024; transformers' NemotronConfig): GQA attention with
    partial rotary positions (not priced), NemotronMLP (up_proj, ReLU², down_proj) and
    NemotronLayerNorm1P, a LayerNorm with a bias whose gain is stored less one (its extra add
    per element is not priced); q/k/v/o biased where `attention_bias`, the MLP where
    `mlp_bias`."""
    heads = c.req("num_attention_heads")
    return _llama_like(
        c,
        name,
        # NemotronConfig has no default for the KV heads (transformers fails without them);
        # vLLM's NemotronAttention reads every head as a KV head.
        num_kv_heads=c.get("num_key_value_heads", heads),
        max_positions=c.get("max_position_embeddings", 4096),
        gated_mlp=False,
        activation=c.get("hidden_act", "relu2"),
        norm="layernorm",
        norm_bias=True,
        # NemotronConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )


def read_jais2(c: _Config, name: str) -> ModelSpec:
    """Jais 2 (Inception/MBZUAI, 2025; transformers' Jais2Config): Llama's attention with
    LayerNorms (with a bias) in place of RMSNorms and a non-gated MLP (up_proj, ReLU²,
    down_proj); q/k/v/o biased where `attention_bias`, the MLP where `mlp_bias` (both true by
    default)."""
    return _llama_like(
        c,
        name,
        max_positions=c.get("max_position_embeddings", 8192),
        gated_mlp=False,
        activation=c.get("hidden_act", "relu2"),
        norm="layernorm",
        norm_bias=True,
        qkv_bias=c.get("attention_bias", True),
        out_bias=c.get("attention_bias", True),
        mlp_bias=c.get("mlp_bias", True),
        # Jais2Config has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
