"""Apertus (Swiss AI, 2025; transformers' ApertusConfig, Apertus-8B and -70B): Llama's
attention with per-head q/k RMSNorms, and a non-gated MLP, up_proj, xIELU, down_proj
(ApertusMLP), whose activation holds two learned scalars a layer."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like
from rooflens.models.readers.common import no_bias


def read_apertus(c: _Config, name: str) -> ModelSpec:
    """q/k/v/o biased where `attention_bias` (LlamaAttention); the norms before attention and
    the MLP are ApertusDecoderLayer's attention_layernorm and feedforward_layernorm."""
    # vLLM's ApertusMLP reads mlp_bias, transformers' builds up/down_proj without.
    no_bias(c, ("mlp_bias",), "ApertusMLP")
    return _llama_like(
        c,
        name,
        # ApertusConfig has no sliding_window; vLLM's apertus.py windows every layer by it.
        refused=("sliding_window",),
        max_positions=c.get("max_position_embeddings", 65536),
        gated_mlp=False,
        activation=c.get("hidden_act", "xielu"),
        mlp_bias=False,
        qk_norm=True,
    )
