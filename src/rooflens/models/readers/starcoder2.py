"""StarCoder2 (BigCode, 2024; transformers' Starcoder2Config): a sequential block of GQA
attention and a non-gated MLP (c_fc, GELU, c_proj), each after a LayerNorm with a bias, a bias
on every projection where `use_bias`, one `sliding_window` over every layer where set, and
tied embeddings by default."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_starcoder2(c: _Config, name: str) -> ModelSpec:
    # Starcoder2Config's defaults; Starcoder2Attention and Starcoder2MLP read use_bias for
    # q/k/v/o and c_fc/c_proj alike (vLLM's Starcoder2 model too), never for the head.
    bias = c.get("use_bias", True)
    window = c.raw.get("sliding_window")
    return _llama_like(
        c,
        name,
        num_kv_heads=c.get("num_key_value_heads", 2),
        max_positions=c.get("max_position_embeddings", 4096),
        tied_embeddings=c.get("tie_word_embeddings", True),
        gated_mlp=False,
        activation=c.get("hidden_act", "gelu_pytorch_tanh"),
        norm="layernorm",
        norm_bias=True,
        qkv_bias=bias,
        out_bias=bias,
        mlp_bias=bias,
        sliding_window=None if window is None else c.positive("sliding_window"),
    )
