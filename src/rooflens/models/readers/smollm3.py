"""SmolLM3 (Hugging Face, 2025; transformers' SmolLM3Config): Llama's block with tied
embeddings, where every `no_rope_layer_interval`-th layer attends without rotary positions
(NoPE). Positions add no parameters and are not priced, so the NoPE layers cost what the others
do; the schedule is read only to refuse a malformed one. Sliding-window layers
(`use_sliding_window`) are refused: the released checkpoints attend globally."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config, _llama_like


def read_smollm3(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    where = f"config.json of model_type {c.model_type!r}"
    # no_rope_layers[i] = 1: layer i rotates q and k; 0: NoPE (SmolLM3Config's convention).
    rope = c.get("no_rope_layers", None)
    if rope is None:
        c.positive("no_rope_layer_interval", 4)
    else:
        c.layer_flags("no_rope_layers", rope, layers, "0 (NoPE) or 1 (RoPE)")
    if c.get("use_sliding_window", False):
        raise ModelConfigError(
            f"{where}: use_sliding_window=True is not supported: expected false (which layers "
            "a window would apply to is not stated)"
        )
    # SmolLM3Config's defaults for what a config may omit.
    return _llama_like(
        c,
        name,
        max_positions=c.get("max_position_embeddings", 32768),
        tied_embeddings=c.get("tie_word_embeddings", True),
        sliding_window=None,
    )
