"""Gemma 3n (Google, 2025; transformers' Gemma3nConfig, Gemma3nTextConfig): refused, naming what
rooflens cannot express. Its language model (Gemma3nTextModel) carries `altup_num_inputs` copies
of the residual stream, each layer predicting and correcting them around its sublayers (AltUp);
a low-rank residual branch of `laurel_rank` beside attention (Laurel); a second embedding table of
`vocab_size_per_layer_input` rows and `hidden_size_per_layer_input` values per layer, projected
into every layer (per-layer embeddings); its last `num_kv_shared_layers` layers reuse the keys
and values of earlier ones (KV sharing); and, in the layers `activation_sparsity_pattern` names,
MLP activations cut to a Gaussian top-k. rooflens' layer holds one residual stream, one attention
with its own cache and one MLP. The vision tower (MobileNetV5, convolutional) and the audio
encoder are not ViTs either."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config
from rooflens.models.readers.common import text_config


def _refuse(text: _Config, where: str) -> NoReturn:
    # Gemma3nTextConfig's defaults where a key is absent.
    parts = [
        f"altup_num_inputs={text.get('altup_num_inputs', 4)} (AltUp: several residual streams "
        "predicted and corrected around each layer)",
        f"laurel_rank={text.get('laurel_rank', 64)} (Laurel: a low-rank residual branch)",
        f"hidden_size_per_layer_input={text.get('hidden_size_per_layer_input', 256)} "
        "(per-layer embeddings: a second table projected into every layer)",
        f"num_kv_shared_layers={text.get('num_kv_shared_layers', 15)} (layers that reuse "
        "earlier layers' keys and values)",
    ]
    raise ModelConfigError(
        f"config.json of model_type {where!r}: {'; '.join(parts)} are not supported; supported: "
        "one residual stream, one attention with its own KV cache and one MLP per layer"
    )


def read_gemma3n(c: _Config, name: str) -> NoReturn:
    _refuse(text_config(c, "gemma3n_text"), c.model_type)


def read_gemma3n_text(c: _Config, name: str) -> NoReturn:
    _refuse(c, c.model_type)
