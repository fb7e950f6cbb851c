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
from rooflens.serving.api import capacity, simulate

__version__ = "0.1.0"

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
