"""Operator fusion (TensorRT-LLM, DeepSpeed-Inference, xFormers): fused kernels keep
intermediates on chip and run inside the previous operator's kernel.

Graph: marks `Operator.input_on_chip`, `output_on_chip` and `fused` (and FlashDecoding's
split-KV attention). Pricing: `priced` drops the on-chip reads and writes, `launch_times` the
fused kernels' fixed time, `stored_output` the on-chip temporaries from memory liveness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.operators import FlashAttention, Operator, Term, Terms

if TYPE_CHECKING:
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.options import AnalysisOptions

# The norms that follow a residual add (add_norm fuses the add into them).
_AFTER_ADD = {"attn_norm", "mlp_norm", "final_norm"}
# Up projections whose weights the engines concatenate with their gate's (vLLM's and SGLang's
# MergedColumnParallelLinear, TensorRT-LLM's fused gate_up): one GEMM.
_JOINS_GATE = {"up_proj": "gate_proj", "shared_up_proj": "shared_gate_proj"}
# GEMMs whose output the activation reads (act keeps it on chip).
_GATE_UP = {"gate_proj", "up_proj", "shared_gate_proj", "shared_up_proj"}


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Mark what fused kernels keep on chip: k/v read q's input and run in its GEMM (qkv); up
    reads gate's input and runs in its GEMM (gate_up); the activation runs in the gate/up
    epilogue (act), the dense MLP's and the shared experts' alike; the routed experts'
    activation runs inside the grouped expert kernels (moe: FusedMoE in vLLM and SGLang,
    TensorRT-LLM's MoE module); a norm reads the residual add it follows (add_norm); decode
    attention splits its keys (flash_decoding)."""
    kinds = set(options.fusion)
    if not kinds:
        return ops
    out: list[Operator] = []
    for op in ops:
        if "qkv" in kinds and op.name in ("k_proj", "v_proj"):
            op = replace(op, input_on_chip=True, fused=True, joins="q_proj")
        if "gate_up" in kinds and op.name in _JOINS_GATE:
            op = replace(op, input_on_chip=True, fused=True, joins=_JOINS_GATE[op.name])
        if "act" in kinds and op.name in _GATE_UP:
            op = replace(op, output_on_chip=True)
        if "act" in kinds and op.name in ("mlp_act", "shared_mlp_act"):
            op = replace(op, input_on_chip=True, fused=True)
        if "moe" in kinds and op.name == "expert_act":
            op = replace(op, input_on_chip=True, output_on_chip=True, fused=True)
        if "add_norm" in kinds and op.name in _AFTER_ADD:
            op = replace(op, input_on_chip=True, fused=True)
        if "flash_decoding" in kinds and isinstance(op, FlashAttention):
            op = replace(op, split_kv=True)
        out.append(op)
    return out


def priced(op: Operator, terms: Terms) -> Terms:
    """Fused operators neither read an input nor write an output that stays on chip."""
    on_chip = {"load_act"} if op.input_on_chip else set()
    if op.output_on_chip:
        on_chip.add("store_act")
    return {field: t for field, t in terms.items() if field not in on_chip}


def kernel_leaders(ops: Sequence[Operator]) -> np.ndarray | None:
    """Index of the operator whose kernel each one runs in: the nearest earlier operator of the
    scope it `joins`, else its own; None when every operator runs its own. Pricing reads a
    calibrated curve at the joint kernel's size (a fused QKV GEMM is one large GEMM, not three
    small ones at their small sizes' efficiency)."""
    leaders = np.arange(len(ops))
    last: dict[tuple[str, str], int] = {}
    for i, op in enumerate(ops):
        if op.joins is not None and (op.joins, op.scope) in last:
            leaders[i] = leaders[last[op.joins, op.scope]]
        last[op.name, op.scope] = i
    return None if bool(np.all(leaders == np.arange(len(ops)))) else leaders


def kernel_totals(leaders: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """Each operator's value summed over the kernel it runs in (`kernel_leaders`), operator
    axis first; unchanged when every operator runs its own."""
    if leaders is None:
        return values
    total = np.zeros(np.shape(values), dtype=np.float64)
    np.add.at(total, leaders, values)
    return total[leaders]


def launch_times(fused: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """A fused operator runs inside its neighbour's kernel: no fixed launch time of its own."""
    return np.where(fused, 0.0, fixed)


def stored_output(op: Operator, output: tuple[Term, ...]) -> tuple[Term, ...]:
    """An operator's temporary held in memory: none when it stays on chip."""
    return () if op.output_on_chip else output
