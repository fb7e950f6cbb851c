"""Multimodal wrappers whose language model is an existing architecture: the `text_config` is
analysed as that model, the vision tower priced as its own stage."""

from __future__ import annotations

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import ModelSpec
from rooflens.models.config import READERS, _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.vision import pixtral_vision, qwen3_vl_vision


def _language_model(c: _Config, name: str, default_type: str, as_type: str) -> ModelSpec:
    text = text_config(c, default_type)
    reader = READERS.get(as_type)
    if reader is None:  # pragma: no cover - the base readers are registered first
        raise ModelConfigError(f"no reader for the language model type {as_type!r}")
    return reader(_Config(text.raw, text.model_type), name)


def read_qwen3_vl(c: _Config, name: str) -> ModelSpec:
    # Qwen3-VL's language model is Qwen3 (q/k norms, GQA) with interleaved multimodal RoPE.
    spec = _language_model(c, name, "qwen3_vl_text", "qwen3")
    vision = qwen3_vl_vision(vision_config(c))
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})


def read_qwen3_vl_moe(c: _Config, name: str) -> ModelSpec:
    # Qwen3-VL-MoE's language model is Qwen3-MoE; the vision tower is Qwen3-VL's.
    spec = _language_model(c, name, "qwen3_vl_moe_text", "qwen3_moe")
    vision = qwen3_vl_vision(vision_config(c))
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})


def read_mistral3(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "mistral")
    # Ministral 3's language model has its own defaults (head_dim 128, 8 KV heads); Mistral
    # Small 4's is MLA with an MoE (Mistral4Config).
    inner = {
        "mistral": "mistral",
        "ministral": "ministral",
        "ministral3": "ministral3",
        "mistral4": "mistral4",
    }.get(text.model_type)
    if inner is None:
        raise ModelConfigError(
            f"model_type 'mistral3': text_config.model_type {text.model_type!r} is not "
            "supported; supported: mistral, ministral, ministral3, mistral4"
        )
    spec = READERS[inner](text, name)
    vision = pixtral_vision(
        vision_config(c),
        spec.hidden_size,
        c.positive("spatial_merge_size", 2),
        c.get("multimodal_projector_bias", False),
    )
    return spec.model_copy(update={"model_type": c.model_type, "vision": vision})
