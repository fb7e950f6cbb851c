"""StarCoder and SantaCoder (BigCode, 2023; transformers' GPTBigCodeConfig): GPT-2's block
(LayerNorms with biases, a bias on every projection, a learned position table, a non-gated
GELU MLP of `n_inner`, 4 x the width where null, tied embeddings) with multi-query attention
where `multi_query` (true by default: one K and one V head, c_attn of h -> h + 2d)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, gpt2_block
from rooflens.models.readers.moe_fields import refuse


def read_gpt_bigcode(c: _Config, name: str) -> ModelSpec:
    # GPTBigCodeConfig's attribute_map: n_embd, n_head, n_layer, n_positions.
    if c.get("add_cross_attention", False):
        refuse(c, "add_cross_attention", True, "false (a decoder without an encoder)")
    hidden, heads = c.req("n_embd", "hidden_size"), c.req("n_head", "num_attention_heads")
    heads_key = "n_head" if c.raw.get("n_head") is not None else "num_attention_heads"
    hidden_key = "n_embd" if c.raw.get("n_embd") is not None else "hidden_size"
    positions = c.get("n_positions", c.get("max_position_embeddings", 1024))
    inner = c.raw.get("n_inner")
    return gpt2_block(
        c,
        name,
        layers=c.req("n_layer", "num_hidden_layers"),
        hidden=hidden,
        heads=heads,
        head_dim=c.per_head(hidden, heads, hidden_key, heads_key),
        intermediate=4 * hidden if inner is None else c.positive("n_inner"),
        positions=positions,
        activation=c.get("activation_function", "gelu_pytorch_tanh"),
        num_kv_heads=1 if c.get("multi_query", True) else heads,
    )
