"""Calibrated efficiency: what fraction of the roofline an operator achieves on a real device.

A profile, fitted from measurements (rooflens.calibration), turns the roofline bound of each
operator into an estimate:

    time = fixed + max(OPs / (peak x compute_fraction(OPs)),
                       bytes / (bandwidth x memory_fraction(bytes)))

Fractions are piecewise linear in log10(size) between measured sizes and constant beyond them.
Operators fall into three classes, each with its own curves: matrix multiplications, attention,
and element-wise (vector) kernels. Frameworks add kernels the analysis does not list (rotary
embedding, cache writes, casts): their cost is a time per decoder layer plus a time per layer
and token, and eager execution a host time per layer that the GPU waits for when it exceeds the
kernels' own time. Frameworks also hold memory the analysis does not (workspaces): a constant.
Collectives between devices take the link bandwidth and latency fitted on measured ones.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

OperatorClass = Literal["matmul", "attention", "vector"]


class EfficiencyCurve(BaseModel):
    """Achieved fraction of a peak against an operator's size (OPs or bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log10_sizes: tuple[float, ...] = Field(min_length=1)
    fractions: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> EfficiencyCurve:
        if len(self.log10_sizes) != len(self.fractions):
            raise ValueError("log10_sizes and fractions must have the same length")
        if any(b <= a for a, b in zip(self.log10_sizes, self.log10_sizes[1:], strict=False)):
            raise ValueError("log10_sizes must increase")
        if any(not 0 < f <= 1.5 for f in self.fractions):
            raise ValueError("fractions must lie in (0, 1.5]")
        return self

    def __call__(self, size: np.ndarray) -> np.ndarray:
        return np.interp(np.log10(np.maximum(size, 1.0)), self.log10_sizes, self.fractions)


class ClassEfficiency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    compute: EfficiencyCurve
    memory: EfficiencyCurve


class EfficiencyProfile(BaseModel):
    """A device's measured efficiency, as `rooflens calibrate` fits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    kernel_time: NonNegativeFloat = 0.0
    classes: dict[OperatorClass, ClassEfficiency]
    graph_overhead_per_layer: NonNegativeFloat = 0.0
    graph_overhead_per_layer_token: NonNegativeFloat = 0.0
    eager_host_per_layer: NonNegativeFloat = 0.0
    memory_overhead: NonNegativeFloat = 0.0
    # The link between devices as measured collectives fit it (`rooflens calibrate
    # --collectives`): per-direction bandwidth and time per ring step, used for parallelism
    # within a node where the user gives no link figures; provenance["link"] says how.
    link_bandwidth: PositiveFloat | None = None
    link_latency: NonNegativeFloat | None = None
    provenance: dict[str, str] = Field(default_factory=dict)

    def rates(
        self, op_class: str, ops: np.ndarray, memory: np.ndarray, peak: float, bandwidth: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Achieved (OP/s, bytes/s) of an operator of this class and size."""
        curves = self.classes[op_class]  # type: ignore[index]
        return peak * curves.compute(ops), bandwidth * curves.memory(memory)
