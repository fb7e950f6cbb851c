"""The calibration micro-benchmarks: GEMM/GEMV over LLM shapes, attention prefill and decode
across lengths and GQA ratios, norms, activations, adds and gathers. Each kernel is described
by the analysis's own operator, so its OPs and bytes come from the same formulas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from rooflens.core.operators import (
    Activation,
    Embedding,
    FlashAttention,
    Linear,
    Norm,
    Operator,
    Precision,
    ResidualAdd,
    Step,
)
from rooflens.core.options import Quantization
from rooflens.core.pricing import BYTE_FIELDS
from rooflens.measure.kernels import operator_call
from rooflens.measure.timing import time_kernel

GPU_LINEARS = [
    (4096, 4096),
    (4096, 11008),
    (11008, 4096),
    (4096, 1024),
    (4096, 14336),
    (14336, 4096),
    (8192, 8192),
    (2048, 2048),
    (1024, 1024),
    (4096, 32000),
    (5120, 13824),
]
GPU_ROWS = [1, 4, 16, 64, 256, 1024, 4096, 16384]


def describe(op: Operator, batch: int, new_tokens: int, past: int) -> dict[str, float]:
    """OPs and bytes of `op` at 16-bit, as the analysis counts them."""
    step = Step(np.array(float(batch)), np.array(float(new_tokens)), np.array(float(past)))
    cost = op.cost(step, Precision(Quantization()))
    memory = sum(float(getattr(cost, f)) for f in BYTE_FIELDS)
    return {"ops": float(cost.ops), "bytes": memory}


def gpu_cases() -> Iterator[tuple[Operator, int, int, int]]:
    for k, n in GPU_LINEARS:
        for rows in GPU_ROWS:
            yield Linear("linear", "block", ("x",), "y", in_features=k, out_features=n), 1, rows, 0
    for kv_heads in (32, 8):
        attn = FlashAttention(
            "attention",
            "block",
            ("q", "k", "v"),
            "o",
            num_heads=32,
            num_kv_heads=kv_heads,
            head_dim=128,
        )
        for batch, length in ((1, 256), (1, 1024), (1, 4096), (4, 1024), (4, 4096), (1, 8192)):
            yield attn, batch, length, 0
        for batch in (1, 8, 32, 64):
            for past in (256, 1024, 4096, 16384):
                yield attn, batch, 1, past
    for rows in (1, 16, 256, 4096, 16384, 65536):
        yield Norm("norm", "block", ("x",), "y", width=4096), 1, rows, 0
        yield Activation("act", "block", ("g", "u"), "a", width=11008), 1, rows, 0
        yield ResidualAdd("add", "block", ("x", "y"), "z", width=4096), 1, rows, 0
        yield Embedding("embed", "head", ("ids",), "x", rows=32000, width=4096), 1, rows, 0


def cpu_cases() -> Iterator[tuple[Operator, int, int, int]]:
    """A small suite for CPUs and tests: the same kinds of kernel at a few sizes."""
    for k, n in ((64, 64), (256, 512), (512, 256)):
        for rows in (1, 16, 256):
            yield Linear("linear", "block", ("x",), "y", in_features=k, out_features=n), 1, rows, 0
    attn = FlashAttention(
        "attention", "block", ("q", "k", "v"), "o", num_heads=4, num_kv_heads=2, head_dim=32
    )
    for batch, q, past in ((1, 64, 0), (2, 256, 0), (1, 1, 256), (4, 1, 1024)):
        yield attn, batch, q, past
    for rows in (16, 1024, 16384):
        yield Norm("norm", "block", ("x",), "y", width=256), 1, rows, 0
        yield Activation("act", "block", ("g", "u"), "a", width=512), 1, rows, 0
        yield ResidualAdd("add", "block", ("x", "y"), "z", width=256), 1, rows, 0


def run_suite(device: str, dtype: torch.dtype = torch.bfloat16) -> list[dict[str, Any]]:
    cases = gpu_cases() if device == "cuda" else cpu_cases()
    results = []
    for op, batch, new_tokens, past in cases:
        seconds = time_operator(op, batch, new_tokens, past, dtype, device)
        if seconds is None:
            continue
        results.append(
            {
                "class": op.efficiency_class,
                "kernel": type(op).__name__,
                "batch": batch,
                "new_tokens": new_tokens,
                "past": past,
                **describe(op, batch, new_tokens, past),
                "time": seconds,
            }
        )
    return results


def time_operator(
    op: Operator, batch: int, new_tokens: int, past: int, dtype: torch.dtype, device: str
) -> float | None:
    """Seconds for `op` alone at this step, or None where no torch call does its work."""
    if operator_call(op, 1, 1, 0, dtype, "meta") is None:
        return None
    footprint = describe(op, batch, new_tokens, past)["bytes"]
    return time_kernel(
        lambda: operator_call(op, batch, new_tokens, past, dtype, device), device, footprint
    )
