"""Param-2 (BharatGen, 2026; transformers' Param2MoeConfig, built as Glm4MoeForCausalLM):
GLM-4.5's block under Param2MoeConfig's defaults (per-head q/k norms, 64-wide heads, tied
embeddings, one dense first layer, 64 experts of 2048 beside two shared ones). The released
checkpoints hold no MTP weights, so `num_mtp_layers` is not read."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config
from rooflens.models.readers.v3_layout import glm4_moe_config

# Param2MoeConfig's defaults where it sets its own, else Glm4MoeConfig's (its base).
_PARAM2 = {
    "head_dim": 64,
    "kv_heads": 8,
    "positions": 32768,
    "tied": True,
    "qk_norm": True,
    "shared": 2,
    "experts": 64,
    "top_k": 6,
    "moe_intermediate_size": 2048,
}


def read_param2moe(c: _Config, name: str) -> ModelSpec:
    return glm4_moe_config(c, name, _PARAM2)
