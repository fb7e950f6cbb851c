"""MiMo-7B (Xiaomi, 2025; MiMoForCausalLM): a Qwen2 decoder with multi-token-prediction layers
(`num_nextn_predict_layers`, stored as model.mtp_layers)."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _qwen2


def read_mimo(c: _Config, name: str) -> ModelSpec:
    """Each MTP layer (MiMoMTPLayers; vLLM's mimo_mtp) is DeepSeek-V3's module as rooflens
    counts it (rooflens.core.mtp): token_layernorm and hidden_layernorm (enorm, hnorm),
    input_proj 2h -> h without bias (eh_proj), one Qwen2 decoder layer and final_layernorm,
    on the main model's embedding and head, of which it stores no copy."""
    spec = _qwen2(c, name)
    return spec.model_copy(
        update={"mtp_layers": c.count("num_nextn_predict_layers"), "mtp_own_embeddings": False}
    )
