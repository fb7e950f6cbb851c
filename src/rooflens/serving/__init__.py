"""Serving simulator: many requests through batching schedulers, priced by the analyzer."""

from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig
from rooflens.serving.results import SimulationResult
from rooflens.serving.simulate import CapacityResult, find_capacity, run
from rooflens.serving.workload import (
    ArrivalProcess,
    LengthDistribution,
    Requests,
    Workload,
    load_trace,
)

__all__ = [
    "SLO",
    "ArrivalProcess",
    "CapacityResult",
    "ClusterConfig",
    "LengthDistribution",
    "Requests",
    "SchedulerConfig",
    "SimulationResult",
    "Workload",
    "find_capacity",
    "load_trace",
    "run",
]
