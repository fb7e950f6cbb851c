"""BLOOM (BigScience, 2022; transformers' BloomConfig, BloomForCausalLM; vLLM's bloom.py): a
sequential block of multi-head attention (one fused query_key_value projection) and a
non-gated 4 × hidden GELU MLP after LayerNorms with biases, a bias on every projection, a
LayerNorm over the embedding (word_embeddings_layernorm), tied embeddings by default, and
ALiBi position biases instead of a position table or rotary positions.

ALiBi adds slope_h × (j - i) to each score before the softmax. It is not priced, as rotary
positions are not: FlashAttention and vLLM's attention kernels compute it in registers from one
slope per head (their `alibi_slopes`), and transformers' eager BloomAttention folds it into the
QK^T product (baddbmm over one row of biases per head), a pass over the scores it makes anyway."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _spec
from rooflens.models.readers.common import stated_length
from rooflens.models.readers.v3_layout import spelling


def read_bloom(c: _Config, name: str) -> ModelSpec:
    # BloomConfig's attribute_map reads num_hidden_layers as n_layer and num_attention_heads as
    # n_head; its __post_init__ reads the older n_embed as hidden_size. Two spellings holding
    # different values are refused.
    hidden_key = spelling(c, "hidden_size", "n_embed")
    heads_key = spelling(c, "n_head", "num_attention_heads")
    spelling(c, "n_layer", "num_hidden_layers")
    hidden = c.req("hidden_size", "n_embed")
    heads = c.req("n_head", "num_attention_heads")
    positions, stated = stated_length(c)
    # apply_residual_connection_post_layernorm moves where the residual is taken (after the
    # norm, not before), and pretraining_tp with slow_but_exact splits two matmuls into slices
    # summed: the same arithmetic either way, which vLLM's BloomBlock runs without the split.
    return alibi_block(
        c,
        name,
        layers=c.req("n_layer", "num_hidden_layers"),
        hidden=hidden,
        heads=heads,
        head_dim=c.per_head(hidden, heads, hidden_key, heads_key),
        max_positions=positions,
        positions_stated=stated,
        # transformers' BloomGelu is GELU's tanh form, vLLM's BloomMLP the exact one: the
        # same count of operations (core.operators.ACTIVATION_OPS).
        activation="gelu_pytorch_tanh",
        norm_bias=True,
        qkv_bias=True,
        out_bias=True,
        mlp_bias=True,
        embed_norm=True,
    )


def alibi_block(
    c: _Config, name: str, *, layers: int, hidden: int, heads: int, head_dim: int, **fields: object
) -> ModelSpec:
    """BLOOM's and MPT's block: multi-head attention with ALiBi positions, a non-gated
    4 x hidden MLP (BloomMLP's and MptMLP's up projection) after LayerNorms, tied embeddings
    unless the config says otherwise; `fields` the rest (biases, activation, positions)."""
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=layers,
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=heads,
            head_dim=head_dim,
            intermediate_size=4 * hidden,
            vocab_size=c.req("vocab_size"),
            tied_embeddings=c.get("tie_word_embeddings", True),
            gated_mlp=False,
            norm="layernorm",
            alibi=True,
            **fields,
        )
    )
