"""The simulator from a model name, a device name and analyzer options, as `rooflens.analyze`
takes them."""

from __future__ import annotations

from pathlib import Path

from rooflens.api import DeviceLike, ModelLike, resolve
from rooflens.core.errors import InvalidInputError
from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig
from rooflens.serving.results import SimulationResult
from rooflens.serving.simulate import CapacityResult, Progress, find_capacity, run
from rooflens.serving.workload import Requests, Workload, load_trace


def _requests(workload: Workload | Requests | str | Path) -> Requests:
    if isinstance(workload, Workload):
        return workload.draw()
    if isinstance(workload, Requests):
        return workload
    if isinstance(workload, str | Path):
        return load_trace(workload)
    raise InvalidInputError("workload", workload, "a Workload, Requests or a trace file path")


def simulate(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload | Requests | str | Path | None = None,
    *,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    slo: SLO | None = None,
    progress: Progress = None,
    **options: object,
) -> SimulationResult:
    """Serve a workload (synthetic, drawn requests, or a CSV/JSONL trace) with `model` on
    replicas of `hardware`; analyzer options (w_bits, flash_attention, tp, calibration …)
    price every iteration."""
    spec, device, opts = resolve(model, hardware, options)
    requests = _requests(workload if workload is not None else Workload())
    return run(spec, device, opts, requests, scheduler, cluster, slo, progress)


def capacity(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload,
    slo: SLO,
    *,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    tolerance: float = 0.02,
    progress: Progress = None,
    **options: object,
) -> CapacityResult:
    """The highest arrival rate at which the SLO's percentile of TTFT and TPOT hold."""
    if not isinstance(workload, Workload):
        raise InvalidInputError("workload", workload, "a synthetic Workload (its rate is varied)")
    spec, device, opts = resolve(model, hardware, options)
    return find_capacity(
        spec, device, opts, workload, slo, scheduler, cluster, tolerance, progress=progress
    )
