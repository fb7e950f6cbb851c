"""MPT (MosaicML, 2023; transformers' MptConfig, MptForCausalLM): a sequential block of
multi-head attention (one fused Wqkv projection) and a non-gated 4 × d_model GELU MLP after
LayerNorms, no bias anywhere (norms included), tied embeddings by default, and ALiBi position
biases, priced as nothing as BLOOM's are (models.readers.bloom).

transformers builds that block whatever most of the config says; MosaicML's own code (which the
checkpoints' auto_map names) reads the keys. A key whose value would make the two build
different models is refused; so is one rooflens cannot express. vLLM 0.34 does not serve MPT: its
registry lists MPTForCausalLM and MptForCausalLM as supported until 0.28.0, and transformers'
MptForCausalLM is not compatible with its Transformers backend (no attention interface)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config
from rooflens.models.readers.bloom import alibi_block
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.v3_layout import spelling

# attn_config keys at the value transformers builds, where MosaicML's code (and llm-foundry's,
# for the keys MptAttentionConfig lacks) would build another model at any other: attention
# type, q/k LayerNorms or GroupNorms, a prefix LM's bidirectional prefix, rotary positions, a
# window, logit soft-capping; with alibi false it builds a learned position table of max_seq_len
# rows and no ALiBi, while transformers still adds ALiBi.
ATTENTION_KEYS = {
    "attn_type": "multihead_attention",
    "qk_ln": False,
    "qk_gn": False,
    "prefix_lm": False,
    "alibi": True,
    "rope": False,
    "sliding_window_size": -1,
    "attn_logit_softcapping": None,
}
# Norm types computing LayerNorm's arithmetic (the low-precision one in the activations' type).
LAYER_NORMS = ("low_precision_layernorm", "layernorm")


def read_mpt(c: _Config, name: str) -> ModelSpec:
    attn = c.section("attn_config")
    for key, built in ATTENTION_KEYS.items():
        value = attn.raw.get(key)
        if value is not None and value != built:
            refuse(c, f"attn_config.{key}", value,
                   f"{built!r} or absent (transformers' MptAttention)")  # fmt: skip
    # clip_qkv clamps the fused projection's output (one pass, not priced, as DBRX's);
    # softmax_scale and alibi_bias_max change values, not work; attn_impl names a kernel
    # (rooflens's own flash_attention option chooses); attn_uses_sequence_id acts in training.
    attn.get("clip_qkv", 0.0)
    if not c.get("no_bias", True):
        refuse(c, "no_bias", False,
               "true or absent (transformers' MPT has no bias; MosaicML's code biases every "
               "projection and norm)")  # fmt: skip
    ratio = c.get("expansion_ratio", 4)
    if ratio != 4:
        refuse(c, "expansion_ratio", ratio,
               "4 or absent (transformers' MptMLP is 4 × d_model wide whatever the key "
               "says)")  # fmt: skip
    norm = c.get("norm_type", "low_precision_layernorm")
    if norm not in LAYER_NORMS:
        refuse(c, "norm_type", norm, f"one of {list(LAYER_NORMS)} (transformers' MPT LayerNorms)")
    ffn = c.section("ffn_config")
    ffn_type = ffn.get("ffn_type", "mptmlp")
    if ffn_type != "mptmlp" or set(ffn.raw) - {"ffn_type"}:
        refuse(c, "ffn_config", ffn.raw,
               "absent or {'ffn_type': 'mptmlp'} (transformers' MptMLP: up_proj, GELU, "
               "down_proj)")  # fmt: skip
    # MptConfig's attribute_map reads hidden_size, num_attention_heads and num_hidden_layers as
    # d_model, n_heads and n_layers; two spellings holding different values are refused.
    hidden_key = spelling(c, "d_model", "hidden_size")
    heads_key = spelling(c, "n_heads", "num_attention_heads")
    spelling(c, "n_layers", "num_hidden_layers")
    hidden, heads = c.req("d_model", "hidden_size"), c.req("n_heads", "num_attention_heads")
    # vLLM's mpt.py (to 0.28) read llm-foundry's kv_n_heads whatever attn_type says.
    kv_heads = attn.get("kv_n_heads", heads)
    if kv_heads != heads:
        refuse(c, "attn_config.kv_n_heads", kv_heads,
               f"{heads} (n_heads) or absent (transformers' MptAttention: multi-head)")  # fmt: skip
    # logit_scale multiplies the logits (one multiply per logit, not priced). With ALiBi,
    # learned_pos_emb builds no position table in transformers, nor did vLLM's mpt.py.
    return alibi_block(
        c,
        name,
        layers=c.req("n_layers", "num_hidden_layers"),
        hidden=hidden,
        heads=heads,
        head_dim=c.per_head(hidden, heads, hidden_key, heads_key),
        max_positions=c.positive("max_seq_len", 2048),
        # nn.GELU(approximate="none").
        activation="gelu",
        norm_bias=False,
    )
