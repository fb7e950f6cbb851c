"""Scheduler defaults of the serving engines people deploy, as presets of rooflens' schedulers.

Each value is the engine's default on a datacenter GPU with at least 70 GiB (H100, H200, B200:
the GPUs benchmarks run on); `preset_for` applies the engines' rules for other memory sizes.
docs/serving.md says where a preset departs from its engine's scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.engines import MODULES
from rooflens.serving.config import SchedulerConfig
from rooflens.settings import engine_name

# Each engine's scheduler lives in its module (rooflens.engines.<engine>), with its sources.
_ENGINES = MODULES
PRESETS: dict[str, SchedulerConfig] = {name: module.SCHEDULER for name, module in _ENGINES.items()}
# What choosing a preset apart from the engine does, in words the command line's --preset
# and the web's `preset` both show.
PRESET_HELP = (
    f"Engine whose scheduler defaults the scheduler's fields not given take ({', '.join(PRESETS)}),"
    " where it is not the analysis' engine (vLLM's scheduler over the roofline bound, say); "
    "empty: the engine's own, where it has one."
)


def preset_for(
    name: str,
    device: Device | None = None,
    model: ModelSpec | None = None,
    version: str | None = None,
) -> SchedulerConfig:
    """The engine's scheduler defaults, sized for `device` where the engine sizes them by GPU
    memory (None: a GPU of at least 70 GiB), with the KV block the engine takes for `model`
    there (None: its default), at release `version` where its defaults changed (None: the
    newest's)."""
    name = engine_name(name)
    if name not in PRESETS:
        raise InvalidInputError("preset", name, f"one of {', '.join(PRESETS)}")
    return _ENGINES[name].scheduler_for(device, model, version)


def scheduler_with(
    name: str,
    device: Device | None,
    chosen: Mapping[str, Any],
    model: ModelSpec | None = None,
    version: str | None = None,
) -> SchedulerConfig:
    """Engine `name`'s scheduler on `device` for `model` with the `chosen` settings in place
    of its own, as the engine reads them (`settle` in rooflens.engines.<engine>)."""
    name = engine_name(name)
    if name not in PRESETS:
        raise InvalidInputError("preset", name, f"one of {', '.join(PRESETS)}")
    module = _ENGINES[name]
    chosen = dict(chosen)
    if "max_batch" in chosen:
        # A batch limit given replaces the one an engine sizes from its KV pool, as SGLang
        # takes --max-running-requests.
        chosen.setdefault("request_pool", False)
    if chosen.get("policy") == "static":
        # Static batches run whole prompts: the preset's chunk size goes with its policy
        # (left in, it was refused as if given).
        chosen.setdefault("chunk_size", None)
    return module.settle(module.scheduler_for(device, model, version).model_copy(update=chosen))
