"""Kernels Hugging Face transformers launches that the analysis does not list, counted from
the model as operators of their own (added when a calibration profile names the framework).

The analysis prices each operator as one ideal kernel. transformers (5.17, the version the
committed measurements ran; eager modules, a static cache) runs more: its RMSNorm is eight
element-wise kernels through fp32, the gated activation two, rotary embedding five per
tensor, the cache write one per tensor, the attention output one copy, the MoE router five
after its GEMM, the grouped-GEMM experts path seventeen around its GEMMs (sort, gather, masked
fills, scatter, sum), and latent attention decompresses its whole cache every decode step.
Each is counted with the bytes it moves (reads plus writes, as `rooflens.measure.framework`
counts them from torch's dispatch), minus what the analysis operator it accompanies already
counts, and priced by its kind's fitted rates (`EfficiencyProfile.kernel_kinds`).

Not counted: a step's own few kernels (rotary tables, positions), Gemma-2's embedding scale
and logit soft-capping. The output copy is counted in decode too, where a one-token output
is already contiguous and transformers launches none (one kernel per layer too many).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rooflens.core.efficiency import KERNEL_PREFIX
from rooflens.core.model import ModelSpec
from rooflens.core.operators import (
    Activation,
    AttentionScores,
    Cost,
    ExpertLinear,
    FlashAttention,
    LatentAttention,
    Linear,
    Norm,
    Operator,
    Precision,
    Step,
)
from rooflens.core.options import Quantization

FP32 = 4.0  # bytes: transformers' norms and routers compute in fp32
INDEX = 8.0  # bytes: int64 indices (top-k, sort)


@dataclass(frozen=True)
class FrameworkKernels(Operator):
    """`kernels` kernels of one kind per call, moving `bytes_per_token` per new token plus
    `bytes_per_key` per cached key a decode step reads; `ops_per_key` is matrix work per such
    key (MLA's decompression of the whole cache, a GEMM)."""

    kind: str = "elementwise"
    kernels: int = 1
    bytes_per_token: float = 0.0
    bytes_per_key: float = 0.0
    ops_per_key: float = 0.0

    @property
    def efficiency_class(self) -> str:  # type: ignore[override]
        return "matmul" if self.ops_per_key else KERNEL_PREFIX + self.kind

    def compute_bits(self, quant: Quantization) -> int | None:
        return 16 if self.ops_per_key else None

    def cost(self, step: Step, prec: Precision) -> Cost:
        # Only decode steps read the cache through the framework's own kernels (MLA).
        keys = np.where(step.new_tokens == 1, step.batch * step.keys, 0.0)
        moved = step.tokens * self.bytes_per_token + keys * self.bytes_per_key
        zero = np.zeros_like(np.asarray(moved, dtype=np.float64))
        return Cost(
            ops=zero + keys * self.ops_per_key,
            load_weight=zero,
            load_act=zero + moved,
            store_act=zero,
            load_kv=zero,
            store_kv=zero,
            link_time=zero,
            vector_ops=zero,
            link_bytes=zero,
        )


class Extra(NamedTuple):
    """Kernels of one kind after an analysis operator: their count and bytes per new token
    beyond the operator's own; per cached key of a decode step, bytes and matrix OPs."""

    kind: str
    kernels: int
    bytes_per_token: float
    bytes_per_key: float = 0.0
    ops_per_key: float = 0.0
    label: str | None = None


def transformers_kernels(
    ops: Sequence[Operator], model: ModelSpec, quant: Quantization
) -> list[Operator]:
    """`ops` with transformers' extra kernels after the operators they accompany."""
    act = quant.stream_bits / 8
    out: list[Operator] = []
    for op in ops:
        out.append(op)
        if not op.fused:
            out += [_operator(op, extra) for extra in _extras(op, model, act)]
    return out


def _operator(parent: Operator, extra: Extra) -> Operator:
    return FrameworkKernels(
        f"{parent.name} ({extra.label or extra.kind})",
        parent.scope,
        (parent.output,),
        f"{parent.output}.{extra.label or extra.kind}",
        layers=parent.layers,
        kind=extra.kind,
        kernels=extra.kernels,
        bytes_per_token=extra.bytes_per_token,
        bytes_per_key=extra.bytes_per_key,
        ops_per_key=extra.ops_per_key,
    )


def _extras(op: Operator, model: ModelSpec, act: float) -> list[Extra]:
    """What transformers runs beyond `op` itself."""
    if isinstance(op, Norm) and op.kind == "rmsnorm":
        return [_rmsnorm(op, model, act)]
    if isinstance(op, Activation) and op.gated and not op.name.startswith("expert_"):
        # act_fn(gate) * up: act reads and writes I, mul reads two and writes one; the
        # analysis counts one fused kernel reading two and writing one. (The routed experts'
        # activation is part of their dispatch path, below.)
        return [Extra("activation", 1, 2 * act * op.width)]
    if isinstance(op, FlashAttention | AttentionScores):
        v_dim = op.v_dim or op.head_dim
        rotary = model.rotary_positions
        return [_attention(op.num_heads, op.num_kv_heads, op.head_dim, v_dim, act, rotary)]
    if isinstance(op, LatentAttention):
        return _latent(op, act)
    if isinstance(op, Linear) and op.name == "router":
        return [_router(model, op.out_features, act)]
    if isinstance(op, ExpertLinear) and op.name == "expert_down_proj":
        return [_moe_dispatch(op, act)]
    return []


def _rmsnorm(op: Norm, model: ModelSpec, act: float) -> Extra:
    """transformers' RMSNorm: x.to(fp32), pow(2), mean, + eps, rsqrt, x * r, .to(bf16),
    weight * x (8 kernels); one scaling by (1 + weight) (ModelSpec.norm_offset: Gemma's)
    does that in fp32 and casts back (10). Per
    row of `width`: 36 bytes per element in bf16 (x in, fp32 through), 24 per row."""
    w, rows = op.width * op.repeats, op.repeats
    row_bytes = 6 * FP32 * rows  # mean writes, + eps and rsqrt read and write, mul reads
    if model.norm_offset:
        # to, pow, mean, add, rsqrt, mul, (weight's to and 1 + w: per call), mul, type_as
        # (torch's dispatch also lists type_as's argument `x` as read: 2 bytes per element
        # more than the kernel moves)
        total = (act + FP32) * w + 2 * FP32 * w + FP32 * w + 2 * FP32 * w
        total += 2 * FP32 * w + (FP32 + act) * w + row_bytes
        kernels = 10
    else:
        # to, pow, mean, add, rsqrt, mul, to, mul
        total = (act + FP32) * w + 2 * FP32 * w + FP32 * w + 2 * FP32 * w
        total += (FP32 + act) * w + 2 * act * w + row_bytes
        kernels = 8
    return Extra("norm", kernels - 1, total - 2 * act * w)


def rotary_bytes(heads: int, kv_heads: int, dim: int, act: float) -> float:
    """Bytes per token of rotary on q and k, 5 kernels each (neg and cat of rotate_half, two
    multiplies, an add): 10 x the tensor's bytes, plus cos and sin read once each."""
    return sum(10 * act * n * dim + 2 * act * dim for n in (heads, kv_heads))


def cache_write_bytes(kv_heads: int, k_dim: int, v_dim: int, act: float) -> float:
    """Bytes per token of the static cache's write of k and v (index_copy_: read, write)."""
    return 2 * act * kv_heads * (k_dim + v_dim)


def output_copy_bytes(heads: int, v_dim: int, act: float) -> float:
    """Bytes per token of the attention output's transpose to contiguous (read, write)."""
    return 2 * act * heads * v_dim


def _attention(
    heads: int, kv_heads: int, qk_dim: int, v_dim: int, act: float, rotary: bool = True
) -> Extra:
    """Rotary on q and k (10 kernels; none with learned positions or ALiBi), the cache write
    of k and v (2), the output copy (1)."""
    moved = rotary_bytes(heads, kv_heads, qk_dim, act) if rotary else 0.0
    moved += cache_write_bytes(kv_heads, qk_dim, v_dim, act)
    moved += output_copy_bytes(heads, v_dim, act)
    return Extra("elementwise", (10 if rotary else 0) + 2 + 1, moved)


def _latent(op: LatentAttention, act: float) -> list[Extra]:
    """transformers' MLA (DeepseekV2Attention, 5.x): rotary on the rope parts, the latent and
    rope key written to the cache, the query's cat, and every decode step decompresses the
    whole cache: kv_b_proj over every key (a GEMM), the key assembled by two copies, then
    attention over the expanded K and V (what the analysis's absorbed form does not read)."""
    h, d, r, v, c = op.num_heads, op.head_dim, op.rope_dim, op.v_dim, op.kv_lora
    rotary = 10 * act * (h * r + r) + 2 * 2 * act * r
    cache = 2 * act * (c + r)
    cat = 2 * act * h * d
    copy = 2 * act * h * v
    nope = d - r
    expand = h * (nope + v)
    return [
        Extra("elementwise", 10 + 2 + 1 + 1, rotary + cache + cat + copy),
        # kv_b_proj over every key: reads the latent, writes the heads' K and V parts (a GEMM).
        Extra("mla_expand", 1, 0.0, act * (c + expand), 2.0 * c * expand),
        # The key assembled by two copies (read and write the nope and rope parts), then
        # attention reads the expanded K and V, which the analysis's absorbed form does not.
        Extra(
            "elementwise",
            2,
            0.0,
            2 * act * h * d + act * h * (d + v),
            label="elementwise, expanded cache",
        ),
    ]


def _router(model: ModelSpec, experts: int, act: float) -> Extra:
    """After the router GEMM: softmax in fp32, top-k, and the weights' sum, divide and cast
    (Qwen-MoE: softmax, topk, sum, div_, to; DeepSeek: to, to, softmax, topk, mul): 5
    kernels, the logits read and the fp32 probabilities written and read."""
    k = model.experts_per_token
    return Extra("router", 5, (act + 2 * FP32) * experts + (FP32 + INDEX) * k * 4 + act * k)


def _moe_dispatch(op: ExpertLinear, act: float) -> Extra:
    """transformers' grouped-GEMM experts path around its GEMMs as 5.17 (the version measured)
    runs it (21 kernels, the analysis counts 4; 5.24 drops the masked fills and scatters
    indices only, 16): sort of the top-k ids, floor_divide, gathers of token rows and weights, cast,
    histc, cumsum, ge, clamp_, masked_fill_, masked fills of both GEMM outputs, silu and
    multiply unfused, the routing-weight multiply, arange, index_put_ (scatter), index, sum
    over the k copies. Per routed copy of a token: 11 x hidden x bytes (gather, masked fill,
    weight multiply, scatter, index, sum) and 6 x width beyond the analysis's fused act."""
    k, h, width = op.top_k, op.out_features, op.in_features
    per_copy = act * (11 * h + 6 * width) + 6 * INDEX
    return Extra("moe_dispatch", 17, k * per_copy + act * h)


def kernels_per_call(op: Operator) -> int:
    """Kernels one call of `op` launches: its own count, none when fused into another."""
    if op.fused:
        return 0
    return op.kernels if isinstance(op, FrameworkKernels) else 1


__all__ = [
    "FrameworkKernels",
    "cache_write_bytes",
    "kernels_per_call",
    "output_copy_bytes",
    "rotary_bytes",
    "transformers_kernels",
]
