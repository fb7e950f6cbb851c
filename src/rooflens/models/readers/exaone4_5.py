"""EXAONE 4.5 (LG AI Research, 2026; transformers' Exaone4_5_Config,
Exaone4_5_ForConditionalGeneration; vLLM's exaone4_5.py): an EXAONE 4.0 language model
(`text_config`, read as `exaone4`) under Qwen2.5-VL's vision tower (windowed blocks, RMSNorms, a
SwiGLU MLP, the PatchMerger) whose attention has `vision_config.num_key_value_heads` K/V heads
(8 where omitted) beside `num_heads` query heads (Exaone4_5_VisionAttention's one qkv linear,
q, then k and v of the K/V heads): the tower is Qwen2.5-VL's with grouped-query attention
(VisionSpec.num_kv_heads). The checkpoint's MTP modules (`mtp.*`, vLLM's exaone4_5_mtp.py
draft) are not read: transformers skips them."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.models.config import _Config
from rooflens.models.readers.common import text_config, vision_config
from rooflens.models.readers.exaone4 import read_exaone4
from rooflens.models.readers.moe_fields import refuse
from rooflens.models.readers.qwen2_vl import qwen2_5_vl_vision

# Exaone4_5_VisionConfig's K/V heads and (Qwen2_5_VLVisionConfig's) query heads by default.
_KV_HEADS, _HEADS = 8, 16


def read_exaone4_5(c: _Config, name: str) -> ModelSpec:
    text = text_config(c, "exaone4")
    # Exaone4_5_Config reads a text_config of model_type "exaone4_5_text" as exaone4.
    if text.model_type not in ("exaone4", "exaone4_5_text"):
        refuse(c, "text_config.model_type", text.model_type, "'exaone4' or 'exaone4_5_text'")
    # transformers ties the head by the top level's key (default false), vLLM's Exaone4 language
    # model by text_config's: the two must agree.
    tied = c.get("tie_word_embeddings", False)
    if text.get("tie_word_embeddings", False) != tied:
        refuse(c, "text_config.tie_word_embeddings", text.get("tie_word_embeddings", False),
               f"{tied}, as the top level's tie_word_embeddings (transformers reads that one, "
               "vLLM's language model the text_config's)")  # fmt: skip
    spec = read_exaone4(_Config(text.raw, "exaone4"), name)
    spec = spec.model_copy(update={"model_type": c.model_type})
    v = vision_config(c)
    heads = v.positive("num_heads", _HEADS)
    kv_heads = v.positive("num_key_value_heads", _KV_HEADS)
    if kv_heads > heads or heads % kv_heads:
        refuse(c, "vision_config.num_key_value_heads", kv_heads,
               f"a divisor of vision_config.num_heads={heads} (each K/V head serves a group "
               "of query heads)")  # fmt: skip
    tower = qwen2_5_vl_vision(v, spec.hidden_size, kv_heads=kv_heads)
    return spec.model_copy(update={"vision": tower})
