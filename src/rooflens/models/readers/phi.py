"""Phi-1, Phi-1.5 and Phi-2 (Microsoft, 2023; transformers' PhiConfig): GPT-J's parallel
block, attention and a non-gated MLP (fc1, GELU, fc2) both reading one LayerNorm with a bias,
their outputs summed into the residual stream; a bias on every projection and on the head,
and rotary positions over part of each head (`partial_rotary_factor`, not priced)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _spec
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
    return _spec(
        dict(
            name=name,
            model_type=c.model_type,
            num_layers=c.req("num_hidden_layers"),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=heads,
            head_dim=head_dim,
            intermediate_size=c.req("intermediate_size"),
            vocab_size=c.req("vocab_size"),
            max_positions=c.get("max_position_embeddings", 2048),
            tied_embeddings=c.get("tie_word_embeddings", False),
            gated_mlp=False,
            activation=c.get("hidden_act", "gelu_new"),
            norm="layernorm",
            norm_bias=True,
            parallel_block=True,
            norms_per_block=1,
            # PhiAttention: q/k/v and dense biased; PhiMLP's fc1/fc2 and PhiForCausalLM's
            # lm_head too.
            qkv_bias=True,
            out_bias=True,
            mlp_bias=True,
            lm_head_bias=True,
        )
    )
