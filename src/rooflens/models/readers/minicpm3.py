"""MiniCPM3 (OpenBMB, 2024; transformers' MiniCPM3Config, MiniCPM3ForCausalLM): DeepSeek-V2's
multi-head latent attention (queries through a `q_lora_rank` bottleneck, keys and values from one
`kv_lora_rank` latent and a shared rotary key) in a dense Llama block with a SwiGLU MLP, tied
embeddings by default. Its muP scalings (`scale_emb` on the embedding, `scale_depth` /
sqrt(layers) on each residual branch, hidden_size / `dim_model_base` before the head) are one
multiply per element where engines fuse them into neighbouring kernels: not priced."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.v3_layout import mla_fields


def read_minicpm3(c: _Config, name: str) -> ModelSpec:
    heads, hidden = c.req("num_attention_heads"), c.req("hidden_size")
    # MiniCPM3Config: v_head_dim defaults to hidden_size // num_attention_heads, which is the
    # only width SGLang's minicpm3.py builds (it never reads the key).
    per_head = c.per_head(hidden, heads)
    mla = mla_fields(c, nope=64, rope=32, v=per_head, kv_lora=256, q_lora=768)
    if mla["v_head_dim"] != per_head:
        refuse(c, "v_head_dim", mla["v_head_dim"],
               f"{per_head} (hidden_size // num_attention_heads) or absent: SGLang's MiniCPM3 "
               "builds its values that wide whatever the key says")  # fmt: skip
    # Keys and values are expanded for every head; transformers' eager attention repeats them
    # by num_attention_heads // num_key_value_heads, which only 1 keeps whole.
    kv_heads = c.get("num_key_value_heads", heads)
    if kv_heads != heads:
        refuse(c, "num_key_value_heads", kv_heads,
               f"{heads} (num_attention_heads) or absent: latent attention expands keys and "
               "values for every head")  # fmt: skip
    # vLLM's and SGLang's MiniCPM MLP run SiLU only (vLLM's also "fatrelu"), without a bias.
    act = c.get("hidden_act", "silu")
    if act != "silu":
        refuse(c, "hidden_act", act, "'silu' (vLLM's and SGLang's MiniCPM3 MLP run SiLU only)")
    if c.get("mlp_bias", False):
        refuse(c, "mlp_bias", True, "false (vLLM's and SGLang's MiniCPM3 MLP have no bias)")
    # vLLM's MiniCPMDecoderLayer builds a MoE where num_experts is set; transformers' and
    # SGLang's MiniCPM3 never do.
    experts = c.raw.get("num_experts")
    if experts not in (None, 0):
        refuse(c, "num_experts", experts,
               "0 or absent (transformers builds a dense MLP, vLLM a MoE)")  # fmt: skip
    return _llama_like(
        c,
        name,
        # MiniCPM3Config (a LlamaConfig) has no sliding_window; vLLM's Attention would take one.
        refused=("sliding_window",),
        **mla,
        max_positions=c.get("max_position_embeddings", 32768),
        tied_embeddings=c.get("tie_word_embeddings", True),
        activation=act,
        mlp_bias=False,
    )
