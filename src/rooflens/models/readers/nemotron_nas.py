"""Llama-Nemotron (NVIDIA, 2025; DeciLM's `nemotron-nas` config): Llama 3 layers reshaped by
neural architecture search (Puzzle), each laid out by its own entry of `block_configs`. A layer
holds attention with num_attention_heads / n_heads_in_group KV heads, or none (no_op), then a
SwiGLU MLP of the width its ffn_mult gives, or none (no_op). The widths are read layer by layer
(ModelSpec.mlp_widths); a linear layer in place of either sublayer (replace_with_linear), KV
heads that differ by layer, and window or sink attention are refused by name."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from rooflens.core.errors import ModelConfigError
from rooflens.core.model import MAX_WIDTH, ModelSpec
from rooflens.models.config import _Config, _llama_like

# The keys of a block's sublayer that rooflens reads; any other key must be null or false (the
# sink, window and sparsity options of DeciLM's AttentionConfig, replace_with_linear, a Mamba or
# MoE sublayer of later Puzzle configs), else the block is refused rather than read without it.
_READ = {"attention": ("n_heads_in_group", "no_op"), "ffn": ("ffn_mult", "no_op")}


def ffn_width(ffn_mult: float, hidden: int) -> int:
    """The MLP width of a block: 2/3 of ffn_mult x hidden, truncated, then rounded up to a
    multiple of 256."""
    # modeling_decilm.py, _ffn_mult_to_intermediate_size (and vLLM's nemotron_nas.py).
    width = int(2 * ffn_mult * hidden / 3)
    return -(-width // 256) * 256


def _refuse(c: _Config, where: str, value: object, accepted: str) -> ModelConfigError:
    return ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {where}={value!r} is not supported; "
        f"supported: {accepted}"
    )


def _sublayer(c: _Config, blocks: list[Any], index: int, part: str) -> dict[str, Any] | None:
    """Block `index`'s `part` ("attention" or "ffn") as its read keys, or None for no_op."""
    block = blocks[index]
    where = f"block_configs[{index}]"
    if not isinstance(block, dict):
        raise _refuse(c, where, block, "an object with attention and ffn")
    for key, value in block.items():
        if key not in _READ and value not in (None, False):
            raise _refuse(c, f"{where}.{key}", value, "attention and ffn only")
    section = block.get(part)
    if not isinstance(section, dict):
        raise _refuse(c, f"{where}.{part}", section, f"an object with {' or '.join(_READ[part])}")
    for key, value in section.items():
        if key not in _READ[part] and value not in (None, False):
            raise _refuse(c, f"{where}.{part}.{key}", value, f"{', '.join(_READ[part])}")
    no_op = section.get("no_op", False)
    if not isinstance(no_op, bool):
        raise _refuse(c, f"{where}.{part}.no_op", no_op, "true or false")
    return None if no_op else section


def _kv_heads(c: _Config, blocks: list[Any], heads: int) -> tuple[int | None, int]:
    """(KV heads, attention layers): every attention block's num_attention_heads /
    n_heads_in_group, which must be one number."""
    groups: dict[int, int] = {}
    for index in range(len(blocks)):
        attention = _sublayer(c, blocks, index, "attention")
        if attention is None:
            continue
        group = attention.get("n_heads_in_group")
        if isinstance(group, bool) or not isinstance(group, int) or group < 1 or heads % group:
            where = f"block_configs[{index}].attention.n_heads_in_group"
            raise _refuse(c, where, group, f"a positive divisor of num_attention_heads={heads}")
        groups[index] = group
    if len(set(groups.values())) > 1:
        counts = dict(sorted(Counter(groups.values()).items()))
        raise _refuse(
            c,
            "block_configs[*].attention.n_heads_in_group",
            counts,
            "one value over the attention layers (KV heads that differ by layer are not "
            "modelled); the value is given with its number of layers",
        )
    group = next(iter(groups.values()), None)
    return (None if group is None else heads // group), len(groups)


def _mlp_widths(c: _Config, blocks: list[Any], hidden: int) -> Counter[int]:
    """How many layers hold an MLP of each width (ffn_mult of each block that has one)."""
    widths: Counter[int] = Counter()
    for index in range(len(blocks)):
        ffn = _sublayer(c, blocks, index, "ffn")
        if ffn is None:
            continue
        mult = ffn.get("ffn_mult")
        number = isinstance(mult, int | float) and not isinstance(mult, bool)
        # NaN and infinity passed the sign test and broke the integer width.
        if not number or not math.isfinite(mult) or mult <= 0:
            raise _refuse(c, f"block_configs[{index}].ffn.ffn_mult", mult, "a positive number")
        width = ffn_width(mult, hidden)
        # Checked here: a block wider than ModelSpec's widest, or of no width, was refused
        # naming rooflens's fields (the intermediate_size its config leaves null).
        if not 1 <= width <= MAX_WIDTH:
            raise _refuse(
                c,
                f"block_configs[{index}].ffn.ffn_mult",
                mult,
                f"a multiplier giving a width of 1 to {MAX_WIDTH:,} (here {width:,})",
            )
        widths[width] += 1
    if not widths:
        raise _refuse(c, "block_configs[*].ffn.no_op", True, "at least one layer with an MLP")
    return widths


def read_nemotron_nas(c: _Config, name: str) -> ModelSpec:
    layers = c.req("num_hidden_layers")
    blocks = c.req("block_configs", kind=list)
    if len(blocks) != layers:
        raise ModelConfigError(
            f"config.json of model_type {c.model_type!r}: block_configs has {len(blocks)} "
            f"entries for num_hidden_layers={layers}"
        )
    # Checked first: the MLP widths scale with it, and a hidden_size of -1 or 10^12 was
    # refused as the first block's ffn_mult.
    hidden = c.positive("hidden_size", maximum=MAX_WIDTH)
    heads = c.req("num_attention_heads")
    kv_heads, attention_layers = _kv_heads(c, blocks, heads)
    widths = _mlp_widths(c, blocks, hidden)
    mlp_layers = sum(widths.values())
    grouped = tuple(sorted(widths.items()))
    # The config's own intermediate_size is null: the widths are the blocks'.
    widest = _Config({**c.raw, "intermediate_size": grouped[-1][0]}, c.model_type)
    return _llama_like(
        widest,
        name,
        # DeciLMAttention splits hidden_size over the heads; the config's head_dim is not read.
        head_dim=c.per_head(hidden, heads),
        num_kv_heads=kv_heads or heads,
        mlp_widths=grouped if len(grouped) > 1 else (),
        attention_layers=attention_layers if attention_layers < layers else None,
        mlp_layers=mlp_layers if mlp_layers < layers else None,
    )
