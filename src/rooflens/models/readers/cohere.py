"""Command R and Command R+ (Cohere, 2024; transformers' CohereConfig): attention and a SwiGLU
MLP side by side after one LayerNorm without bias (their outputs summed into the residual
stream), tied embeddings, and, where `use_qk_norm` (Command R+), per-head LayerNorms of q and
k whose every head has its own gain. `logit_scale` multiplies the logits and is not priced."""

from __future__ import annotations

from typing import Any

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def command_r_block(c: _Config) -> dict[str, Any]:
    """Command R's block, Command R7B's and Command A's alike (CohereConfig's and
    Cohere2Config's defaults): attention and the MLP side by side after one LayerNorm without
    bias, attention_bias on q, k, v and o, no MLP bias (CohereMLP, Cohere2MLP and vLLM's
    commandr.py alike), tied embeddings."""
    bias = c.get("attention_bias", False)
    return dict(
        max_positions=c.get("max_position_embeddings", 8192),
        tied_embeddings=c.get("tie_word_embeddings", True),
        norm="layernorm",
        norm_bias=False,
        parallel_block=True,
        norms_per_block=1,
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=False,
    )


def read_cohere(c: _Config, name: str) -> ModelSpec:
    # CohereLayerNorm over (heads, head_dim): each head normed over its head_dim values with a
    # gain of its own (vLLM's commandr LayerNorm of the same shape, split with the heads).
    qk_norm = c.get("use_qk_norm", False)
    return _llama_like(
        c,
        name,
        **command_r_block(c),
        qk_norm=qk_norm,
        qk_norm_head_gains=qk_norm,
        # CohereConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
