"""Serving simulator: many requests through batching schedulers, priced by the analyzer.

The names below load on first use (PEP 562), so that importing `rooflens.serving.config` or
`rooflens.serving.defaults` does not import the simulator and pandas."""

from importlib import import_module

_HOMES = {
    "SLO": "config",
    "ClusterConfig": "config",
    "SchedulerConfig": "config",
    "SimulationResult": "results",
    "CapacityResult": "simulate",
    "find_capacity": "simulate",
    "run": "simulate",
    "ArrivalProcess": "workload",
    "LengthDistribution": "workload",
    "Requests": "workload",
    "Workload": "workload",
    "load_trace": "workload",
}

__all__ = sorted(_HOMES, key=str.casefold)


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(import_module(f"rooflens.serving.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'rooflens.serving' has no attribute {name!r}")
