"""VaultGemma (Google, 2025; transformers' VaultGemmaConfig): Gemma 2's attention and GeGLU MLP
in a block with the two pre-norms only (input_layernorm, pre_feedforward_layernorm; no norms
after the sublayers), window layers by `layer_types` (every other layer, the first windowed,
by default), tied embeddings. The attention and final logit softcaps are not priced."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import count_layers, window_layers


def read_vaultgemma(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    # VaultGemmaConfig: layer i windowed where i is even.
    default = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    windowed = count_layers(c, c.get("layer_types", default), "sliding_attention")
    hidden, heads = c.req("hidden_size"), c.req("num_attention_heads")
    # VaultGemmaConfig's head_dim 256 where absent.
    head_dim = 256 if "head_dim" not in c.raw else c.head_dim(hidden, heads)
    return _llama_like(
        c,
        name,
        head_dim=head_dim,
        num_kv_heads=c.get("num_key_value_heads", 4),
        max_positions=c.get("max_position_embeddings", 8192),
        tied_embeddings=c.get("tie_word_embeddings", True),
        activation=c.get("hidden_activation", "gelu_pytorch_tanh"),
        mlp_bias=False,
        norm_offset=True,  # VaultGemmaRMSNorm: output * (1.0 + self.weight.float())
        **window_layers(c, windowed, 4096),  # null: no window (stated_window)
    )
