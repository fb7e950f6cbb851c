"""rooflens: how a large language model runs on a piece of hardware, and why.

>>> import rooflens
>>> result = rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", batch=1, prompt_len=2048)
>>> result.operators()          # per-operator roofline rows (pandas)
>>> result.to_dict()            # JSON-ready
"""

from rooflens.api import (
    analyze,
    make_options,
    resolve_device,
    resolve_model,
    speculate,
    sweep,
)
from rooflens.core import (
    Analysis,
    AnalysisOptions,
    Conventions,
    Device,
    HardwareSpecError,
    InvalidInputError,
    ModelConfigError,
    ModelFetchError,
    ModelSpec,
    Quantization,
    RooflensError,
    UnknownHardwareError,
    UnknownModelError,
    compare,
)
from rooflens.hardware import catalog as hardware_catalog
from rooflens.hardware import get_device
from rooflens.models import SUPPORTED_MODEL_TYPES, bundled_models, load_model, spec_from_config

__version__ = "0.1.0"

# The serving simulator (and pandas with it) loads on first use of rooflens.simulate or
# rooflens.capacity, so that importing rooflens, and starting the command line, stays light.
_SERVING = ("capacity", "simulate")


# Subpackages the docs call through the package (rooflens.advisor.advise, rooflens.engines.
# engine_versions): imported on first use, as a submodule import would.
_SUBPACKAGES = (
    "advisor", "calibration", "cli", "core", "engines", "hardware", "measure", "models",
    "serving", "views", "web",
)  # fmt: skip


def __getattr__(name: str) -> object:
    if name in _SERVING:
        from rooflens.serving import api

        return getattr(api, name)
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"rooflens.{name}")
    raise AttributeError(f"module 'rooflens' has no attribute {name!r}")


__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "Analysis",
    "AnalysisOptions",
    "Conventions",
    "Device",
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
    "bundled_models",
    "capacity",
    "compare",
    "get_device",
    "hardware_catalog",
    "load_model",
    "make_options",
    "resolve_device",
    "resolve_model",
    "simulate",
    "spec_from_config",
    "speculate",
    "sweep",
]
