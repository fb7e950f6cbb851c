"""Roofline pricing of one forward step, operator by operator, over arrays of sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rooflens.core.graph import Graph
from rooflens.core.hardware import Device
from rooflens.core.operators import Cost, Precision, Step
from rooflens.core.options import Quantization

BYTE_FIELDS = ("load_weight", "load_act", "store_act", "load_kv", "store_kv")


@dataclass(frozen=True)
class StepCosts:
    """Per-operator costs of one step; every array has the operator axis first."""

    names: tuple[str, ...]
    scopes: tuple[str, ...]
    dtypes: tuple[str, ...]
    counts: np.ndarray
    peaks: np.ndarray
    bandwidth: float
    fields: dict[str, np.ndarray]

    @property
    def ops(self) -> np.ndarray:
        return self.fields["ops"]

    @property
    def memory_access(self) -> np.ndarray:
        return sum(self.fields[f] for f in BYTE_FIELDS)

    @property
    def compute_time(self) -> np.ndarray:
        return self.ops / _expand(self.peaks, self.ops)

    @property
    def memory_time(self) -> np.ndarray:
        return self.memory_access / self.bandwidth

    @property
    def time(self) -> np.ndarray:
        """Roofline time of each operator: max(OPs / peak, bytes / bandwidth)."""
        return np.maximum(self.compute_time, self.memory_time)

    @property
    def compute_bound(self) -> np.ndarray:
        return self.compute_time > self.memory_time

    @property
    def arithmetic_intensity(self) -> np.ndarray:
        mem = self.memory_access
        return np.divide(self.ops, mem, out=np.zeros_like(mem), where=mem > 0)

    @property
    def performance(self) -> np.ndarray:
        """Attainable OP/s: min(peak, intensity x bandwidth)."""
        t = self.time
        return np.divide(self.ops, t, out=np.zeros_like(t), where=t > 0)

    def total(self, values: np.ndarray) -> np.ndarray:
        """Network total: block operators count once per layer."""
        return np.tensordot(self.counts, values, axes=(0, 0))


def _expand(per_op: np.ndarray, like: np.ndarray) -> np.ndarray:
    return per_op.reshape(per_op.shape + (1,) * (like.ndim - 1))


def price_step(graph: Graph, device: Device, quant: Quantization, step: Step) -> StepCosts:
    prec = Precision(quant)
    shape = np.broadcast_shapes(step.batch.shape, step.new_tokens.shape, step.past.shape)
    costs: list[Cost] = [op.cost(step, prec) for op in graph.operators]
    fields = {
        f: np.stack([np.broadcast_to(getattr(c, f), shape) for c in costs]) for f in Cost.FIELDS
    }
    dtypes = tuple(_dtype(device, op.compute_bits(quant)) for op in graph.operators)
    return StepCosts(
        names=tuple(op.name for op in graph.operators),
        scopes=tuple(op.scope for op in graph.operators),
        dtypes=dtypes,
        counts=np.array([graph.count(op) for op in graph.operators], dtype=np.float64),
        peaks=np.array([device.peak_ops[d] for d in dtypes]),
        bandwidth=device.memory_bandwidth,
        fields=fields,
    )


def _dtype(device: Device, bits: int | None) -> str:
    return device.vector_dtype() if bits is None else device.matrix_dtype(bits)
