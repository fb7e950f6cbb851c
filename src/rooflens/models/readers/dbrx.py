"""DBRX (Databricks, 2024; transformers' DbrxConfig): GQA attention without biases
(`attn_config.kv_n_heads` KV heads, 1 by default; its `clip_qkv` clamp not priced) and, in every
layer, `ffn_config.moe_num_experts` gated experts of `ffn_config.ffn_hidden_size` (top
`moe_top_k`) behind a router without bias, after LayerNorms without bias; untied embeddings."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _spec
from rooflens.models.readers.moe_fields import refuse


def read_dbrx(c: _Config, name: str) -> ModelSpec:
    attn, ffn = c.section("attn_config"), c.section("ffn_config")
    # DbrxConfig's attribute_map: d_model, n_heads, n_layers, max_seq_len.
    hidden, heads = c.req("d_model"), c.req("n_heads")
    if c.get("tie_word_embeddings", False):
        refuse(c, "tie_word_embeddings", True, "false (DbrxConfig refuses tied embeddings)")
    act = ffn.get("ffn_act_fn", {"name": "silu"})
    if set(act) != {"name"}:
        # DbrxExperts passes only the name on to its activation.
        refuse(c, "ffn_config.ffn_act_fn", act, 'an object holding only "name"')
    width = ffn.positive("ffn_hidden_size", 3584)
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=c.req("n_layers"),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=attn.positive("kv_n_heads", 1),
            head_dim=c.per_head(hidden, heads, "d_model", "n_heads"),
            intermediate_size=width,
            vocab_size=c.req("vocab_size"),
            max_positions=c.get("max_seq_len", 2048),
            tied_embeddings=False,
            gated_mlp=True,
            activation=act["name"],
            norm="layernorm",
            norm_bias=False,
            num_experts=ffn.positive("moe_num_experts", 4),
            experts_per_token=ffn.positive("moe_top_k", 1),
            expert_intermediate_size=width,
        )
    )
