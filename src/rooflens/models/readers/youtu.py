"""Youtu-LLM (Tencent Youtu, 2025; transformers' YoutuConfig): DeepSeek-V3's multi-head latent
attention (queries through a `q_lora_rank` bottleneck where set, keys and values cached as one
`kv_lora_rank` latent and a shared rotary key) in a dense Llama block with a SwiGLU MLP, tied
embeddings by default. `attention_bias` biases q_a_proj, kv_a_proj_with_mqa and o_proj."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_youtu(c: _Config, name: str) -> ModelSpec:
    # YoutuConfig's defaults for what a config may omit; a null q_lora_rank: a full-rank q_proj.
    nope, rope = c.positive("qk_nope_head_dim", 128), c.positive("qk_rope_head_dim", 64)
    if "q_lora_rank" not in c.raw:
        q_rank: int | None = 1536
    else:
        q_rank = None if c.raw["q_lora_rank"] is None else c.positive("q_lora_rank")
    bias = c.get("attention_bias", False)
    return _llama_like(
        c,
        name,
        head_dim=nope + rope,
        num_kv_heads=c.req("num_attention_heads"),
        max_positions=c.get("max_position_embeddings", 131072),
        tied_embeddings=c.get("tie_word_embeddings", True),
        q_lora_rank=q_rank,
        kv_lora_rank=c.positive("kv_lora_rank", 512),
        qk_rope_head_dim=rope,
        v_head_dim=c.positive("v_head_dim", 128),
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=False,
        # YoutuConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
