"""StableLM 2 and StableLM-3B-4E1T (Stability AI, 2023-2024; transformers' StableLmConfig):
a sequential block of attention (q/k/v biased where `use_qkv_bias`, an o_proj of hidden_size x
hidden_size without bias) and a SwiGLU MLP without biases, each after a LayerNorm with a bias,
rotary positions over a quarter of each head (`partial_rotary_factor`, not priced)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse


def read_stablelm(c: _Config, name: str) -> ModelSpec:
    # StableLmLayerNormPerHead: a LayerNorm without bias for each head beside the block's
    # LayerNorms with one, which one norm kind cannot describe (StableLM 2 12B).
    if c.get("qk_layernorm", False):
        refuse(c, "qk_layernorm", True, "false (per-head LayerNorms without bias)")
    # transformers then shares input_layernorm between the two branches; vLLM's
    # StablelmDecoderLayer runs them one after the other, each with its own norm.
    if c.get("use_parallel_residual", False):
        refuse(c, "use_parallel_residual", True, "false (vLLM's Stablelm block is sequential)")
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    bias = c.get("use_qkv_bias", False)
    return _llama_like(
        c,
        name,
        # StableLmAttention splits the hidden size over the heads; a head_dim key is not read.
        head_dim=c.per_head(hidden, heads),
        num_kv_heads=c.get("num_key_value_heads", 32),
        max_positions=c.get("max_position_embeddings", 4096),
        norm="layernorm",
        norm_bias=True,
        qkv_bias=bias,
        out_bias=False,
        mlp_bias=False,
        # StableLmConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
