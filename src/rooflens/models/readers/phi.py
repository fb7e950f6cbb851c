"""Phi-1, Phi-1.5 and Phi-2 (Microsoft, 2023; transformers' PhiConfig): GPT-J's parallel
block, attention and a non-gated MLP (fc1, GELU, fc2) both reading one LayerNorm with a bias,
their outputs summed into the residual stream; a bias on every projection and on the head,
and rotary positions over part of each head (`partial_rotary_factor`, not priced)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, gptj_block
from rooflens.models.readers.moe_fields import refuse


def read_phi(c: _Config, name: str) -> ModelSpec:
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    # vLLM's and SGLang's PhiAttention split the hidden size over the heads and build K and V
    # for every head, without q/k norms; transformers' reads all three keys: where they would
    # differ the checkpoint's shapes are not known.
    head_dim = c.per_head(hidden, heads)
    if c.raw.get("head_dim") is not None and c.positive("head_dim") != head_dim:
        refuse(c, "head_dim", c.raw["head_dim"], f"{head_dim} (hidden_size over the heads)")
    kv_heads = c.get("num_key_value_heads", heads)
    if kv_heads != heads:
        refuse(c, "num_key_value_heads", kv_heads, f"{heads} (num_attention_heads)")
    if c.get("qk_layernorm", False):
        refuse(c, "qk_layernorm", True, "false (vLLM's and SGLang's PhiAttention have none)")
    return gptj_block(
        c,
        name,
        layers=c.req("num_hidden_layers"),
        hidden=hidden,
        heads=heads,
        head_dim=head_dim,
        intermediate=c.req("intermediate_size"),
        positions=c.get("max_position_embeddings", 2048),
        activation=c.get("hidden_act", "gelu_new"),
        # PhiAttention: q/k/v and dense biased too.
        qkv_bias=True,
        out_bias=True,
    )
