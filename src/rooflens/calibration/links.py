"""Link bandwidth and latency from measured collectives (`rooflens calibrate --collectives`).

A measurement is one collective over `ranks` devices of `bytes` (all-reduce: the reduced
tensor; all-gather: the gathered output; all-to-all: one device's send buffer) taking `time`
seconds. The analysis prices it as

    time = steps · latency + bytes_sent / bandwidth

so the two link figures follow by linear least squares. Residuals are relative, since times
span decades and the small messages are what pins the latency. A calibrated analysis adds the
profile's fixed kernel cost to every operator, collectives included: that is taken off the
measured times first, so the analysis gives back what was measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rooflens.calibration.fit import measurement_options
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.operators import Collective, Precision, Step
from rooflens.core.options import AnalysisOptions, Parallelism, Quantization

KINDS = ("all_reduce", "all_gather", "all_to_all")


def ring_terms(kind: str, ranks: int, nbytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ring steps, bytes each device sends) of a collective of `nbytes`, as priced."""
    # From the Collective operator itself (core/operators.py, Patarasuk and Yuan 2009): unit
    # bandwidth and no latency leave the bytes sent, unit latency and no transfer the steps.
    elements = np.asarray(nbytes, dtype=np.float64) / 2  # one row of 16-bit activations
    step = Step(np.ones_like(elements), elements, np.zeros_like(elements))
    prec = Precision(Quantization())

    def link_time(bandwidth: float, latency: float) -> np.ndarray:
        op = Collective(
            "collective",
            "block",
            ("x",),
            "y",
            kind=kind,  # type: ignore[arg-type]
            width=1,
            ranks=ranks,
            link_bandwidth=bandwidth,
            link_latency=latency,
        )
        return op.cost(step, prec).link_time

    return link_time(np.inf, 1.0), link_time(1.0, 0.0)


def collective_time(
    kind: str, ranks: int, nbytes: np.ndarray, bandwidth: float, latency: float
) -> np.ndarray:
    steps, sent = ring_terms(kind, ranks, nbytes)
    return steps * latency + sent / bandwidth


@dataclass(frozen=True)
class LinkFit:
    bandwidth: float  # bytes/s per direction
    latency: float  # s per ring step
    points: int
    ranks: tuple[int, ...]
    rms_error: float  # relative, over the points fitted

    def describe(self, backend: str = "") -> str:
        """One line for a profile's provenance and the report."""
        ranks = "/".join(str(r) for r in self.ranks)
        via = f" ({backend})" if backend else ""
        return (
            f"ring fit of {self.points} measured collectives{via} over {ranks} devices, "
            f"rms error {self.rms_error:.1%}"
        )


def _terms(points: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps, sent = [], []
    for p in points:
        s, b = ring_terms(p["kind"], p["ranks"], np.array([float(p["bytes"])]))
        steps.append(float(s[0]))
        sent.append(float(b[0]))
    return np.array(steps), np.array(sent), np.array([float(p["time"]) for p in points])


def fit_link(measurements: Iterable[dict[str, Any]], fixed: float = 0.0) -> LinkFit:
    """Bandwidth and latency that best explain the collectives over two or more devices,
    beyond `fixed` seconds per collective."""
    points = [p for p in measurements if p["ranks"] >= 2 and p["kind"] in KINDS]
    if not points:
        raise InvalidInputError(
            "collectives",
            "no measurement over 2 or more devices",
            "collectives timed over at least 2 devices: one device sends nothing over a link",
        )
    steps, sent, measured = _terms(points)
    time = measured - fixed
    if np.any(time <= 0):
        raise InvalidInputError(
            "collectives", f"a time <= {fixed} s", f"times in seconds above the fixed {fixed} s"
        )
    inverse_bandwidth, latency = _least_squares(sent, steps, time)
    if inverse_bandwidth <= 0:
        raise InvalidInputError(
            "collectives",
            f"{len(points)} measurements",
            "times that grow with message size (no bandwidth explains these)",
        )
    predicted = steps * latency + sent * inverse_bandwidth
    return LinkFit(
        bandwidth=1 / inverse_bandwidth,
        latency=latency,
        points=len(points),
        ranks=tuple(sorted({int(p["ranks"]) for p in points})),
        rms_error=float(np.sqrt(np.mean(((fixed + predicted) / measured - 1) ** 2))),
    )


def _least_squares(sent: np.ndarray, steps: np.ndarray, time: np.ndarray) -> tuple[float, float]:
    """(1 / bandwidth, latency) minimizing the relative residuals, neither below zero."""
    design = np.column_stack([sent, steps]) / time[:, None]
    (inverse, latency), *_ = np.linalg.lstsq(design, np.ones_like(time), rcond=None)
    if latency < 0:  # no latency is visible: bandwidth alone
        (inverse,), *_ = np.linalg.lstsq(design[:, :1], np.ones_like(time), rcond=None)
        latency = 0.0
    return float(inverse), float(latency)


def with_link(profile: EfficiencyProfile, fit: LinkFit, how: str) -> EfficiencyProfile:
    """The profile with the fitted link figures and how they were measured."""
    return profile.model_copy(
        update={
            "link_bandwidth": fit.bandwidth,
            "link_latency": fit.latency,
            "provenance": {**profile.provenance, "link": how},
        }
    )


def parallel_options(profile: EfficiencyProfile | None, execution: str, tp: int) -> AnalysisOptions:
    """How measured tensor-parallel steps are analysed: as single-device runs, over `tp`."""
    base = measurement_options(profile, execution)
    return base.model_copy(update={"parallelism": Parallelism(tp=tp)})
