"""The pure core: (model description, device, options) -> operator rows and totals.

No files, no network, no printing. Adapters (catalogs, CLI, views) build on it.
"""

from rooflens.core.analysis import analyze
from rooflens.core.errors import (
    HardwareSpecError,
    InvalidInputError,
    ModelConfigError,
    ModelFetchError,
    RooflensError,
    UnknownHardwareError,
    UnknownModelError,
)
from rooflens.core.graph import Graph, build_graph
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions, Conventions, Quantization
from rooflens.core.results import Analysis, Footprint, compare

__all__ = [
    "Analysis",
    "AnalysisOptions",
    "Conventions",
    "Device",
    "Footprint",
    "Graph",
    "HardwareSpecError",
    "InvalidInputError",
    "ModelConfigError",
    "ModelFetchError",
    "ModelSpec",
    "Quantization",
    "RooflensError",
    "UnknownHardwareError",
    "UnknownModelError",
    "analyze",
    "build_graph",
    "compare",
]
