"""RecurrentGemma (Google, 2024; transformers' RecurrentGemmaConfig): refused, naming what
rooflens cannot express. Its "recurrent" layers (`block_types`) run the RG-LRU
(RecurrentGemmaRglru): linear_x and linear_y (h -> `lru_width`, biased), a causal conv over x,
block-diagonal input and recurrence gates (`num_attention_heads` blocks of
lru_width / heads squared, with biases), a diagonal recurrence of one value per channel,
y-gating, linear_out. None of rooflens' recurrent mixers (core.mixers) has those gates or that
state, so neither its parameters nor its scan would be priced as the model runs."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config


def read_recurrent_gemma(c: _Config, name: str) -> NoReturn:
    kinds = c.get("block_types", ["recurrent", "recurrent", "attention"])
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: block_types={kinds!r} is not supported: "
        "its 'recurrent' blocks run the RG-LRU (block-diagonal input and recurrence gates, one "
        "state value per lru_width channel), which is none of rooflens' recurrent mixers "
        "(supported: Mamba, Mamba2, Gated DeltaNet, Kimi Delta Attention, lightning attention, "
        "LFM2's short convolution)"
    )
