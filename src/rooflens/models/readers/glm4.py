"""GLM-4-0414 (Z.ai, 2025; transformers' Glm4Config): dense GQA attention with q/k/v biases
(never on o_proj), partial rotary positions (not priced), and four RMSNorms per layer: the
input and post-attention norms before each sublayer and two more after them
(post_self_attn_layernorm, post_mlp_layernorm), as Gemma 2's sandwich; and its predecessor
GLM-4-9B (`glm`), the same attention in a plain sequential block."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_glm4(c: _Config, name: str) -> ModelSpec:
    # Glm4Config's defaults for what a config may omit; Glm4MLP's gate_up and down
    # projections never have a bias.
    bias = c.get("attention_bias", True)
    return _llama_like(
        c,
        name,
        # Glm4Config has no sliding_window; vLLM's glm4.py windows every layer by it.
        refused=("sliding_window",),
        head_dim=c.get("head_dim", 128),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=bias,
        out_bias=False,
        mlp_bias=False,
        post_norms=True,
        norms_per_block=4,
    )


def read_glm(c: _Config, name: str) -> ModelSpec:
    """GLM-4-9B (Z.ai, 2024; transformers' GlmConfig): Llama's sequential block with two
    RMSNorms a layer, q/k/v biases where `attention_bias` (never on o_proj), a fused SwiGLU
    gate_up_proj without bias, and partial rotary positions (not priced)."""
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    # GlmConfig's head_dim 128 where absent; null: the hidden size over the heads.
    head_dim = 128 if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    bias = c.get("attention_bias", True)
    return _llama_like(
        c,
        name,
        # GlmConfig has no sliding_window; vLLM's Transformers backend, which serves it,
        # windows every layer by it.
        refused=("sliding_window",),
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 2),
        max_positions=c.get("max_position_embeddings", 131072),
        qkv_bias=bias,
        out_bias=False,
        mlp_bias=False,
    )
