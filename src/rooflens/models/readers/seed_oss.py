"""Seed-OSS (ByteDance Seed, 2025; transformers' SeedOssConfig): Llama's block with q/k/v
biases (attention_bias) and, apart from them, an o_proj bias only where attention_out_bias."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_seed_oss(c: _Config, name: str) -> ModelSpec:
    # SeedOssConfig's defaults for what a config may omit.
    return _llama_like(
        c,
        name,
        # SeedOssConfig has no sliding_window; vLLM's Transformers backend, which serves it,
        # windows every layer by it.
        refused=("sliding_window",),
        head_dim=c.get("head_dim", 128),
        max_positions=c.get("max_position_embeddings", 524288),
        qkv_bias=c.get("attention_bias", True),
        out_bias=c.get("attention_out_bias", False),
    )
