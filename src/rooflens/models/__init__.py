"""Model catalog and config loading: Hugging Face config.json -> ModelSpec."""

from rooflens.models.catalog import bundled_models, load_model
from rooflens.models.config import SUPPORTED_MODEL_TYPES, spec_from_config
from rooflens.models.quant import default_quantization, unquantized_modules

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "bundled_models",
    "default_quantization",
    "load_model",
    "spec_from_config",
    "unquantized_modules",
]
