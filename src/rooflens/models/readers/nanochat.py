"""nanochat (Karpathy, 2025; transformers' NanoChatConfig): a sequential block whose RMSNorms
learn no gain, per-head q/k RMSNorms likewise without one, and a non-gated MLP (fc1, ReLU², fc2)
without bias; q/k/v/o biased where `attention_bias`. The norm of the embeddings before the first
layer (one RMSNorm of the hidden size per token, no parameter) and the final logit softcap are
not priced."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_nanochat(c: _Config, name: str) -> ModelSpec:
    return _llama_like(
        c,
        name,
        gated_mlp=False,
        activation=c.get("hidden_act", "relu2"),
        mlp_bias=False,
        qk_norm=True,
        norm_gain=False,
        # NanoChatConfig has no sliding_window, which vLLM applies to every layer: refused.
        refused=("sliding_window",),
    )
