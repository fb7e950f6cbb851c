"""Serving engines: which efficiency profile prices an engine on a device, and its defaults.

`transformers` is Hugging Face transformers as `rooflens calibrate` measures it (the bundled
calibration profiles); `vllm`, `sglang` and `trtllm` are fitted from their operator databases
(`rooflens calibrate --from-aiconfigurator`, docs/engines.md); `compiled` (torch.compile'd
transformers) exists only where a profile was measured.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from rooflens.calibration.profile import bundled_profiles, load_profile, parse_profile
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.engines import sglang, trtllm, vllm
from rooflens.engines.defaults import EngineDefaults
from rooflens.settings import ENGINE_NAMES, engine_name

ENGINES = ENGINE_NAMES
DEFAULTS: dict[str, EngineDefaults] = {
    "vllm": vllm.DEFAULTS,
    "sglang": sglang.DEFAULTS,
    "trtllm": trtllm.DEFAULTS,
}
_FOLDER = "profiles"


@cache
def engine_profiles() -> dict[str, tuple[str, ...]]:
    """Engine -> devices with a shipped profile (files `<engine>-<device>.toml`)."""
    found: dict[str, list[str]] = {"transformers": sorted(bundled_profiles())}
    folder = resources.files("rooflens.engines").joinpath(_FOLDER)
    for entry in folder.iterdir():
        match = re.fullmatch(r"([a-z]+)-(.+)\.toml", entry.name)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return {engine: tuple(sorted(devices)) for engine, devices in found.items()}


@cache
def _shipped(engine: str, device: str) -> EfficiencyProfile:
    """A shipped profile, parsed once (an immutable description; the advisor asks for the
    same few per candidate)."""
    name = f"{engine}-{device}.toml"
    text = resources.files("rooflens.engines").joinpath(_FOLDER, name).read_text("utf-8")
    profile = parse_profile(text, name)
    defaults = DEFAULTS.get(engine)
    if defaults is None:
        return profile
    # The engine's memory behaviour comes with its kernels: the share of the device it takes.
    return profile.model_copy(
        update={
            "memory_fraction": defaults.memory_fraction,
            "memory_fraction_of": defaults.memory_fraction_of,
        }
    )


def load_engine_profile(engine: str, device: str, version: str | None = None) -> EfficiencyProfile:
    """The profile pricing `engine` on `device` (a catalog device name): for transformers the
    device's bundled calibration profile, else the shipped engine profile."""
    engine = str(engine_name(engine))
    if engine not in ENGINES:
        raise InvalidInputError("engine", engine, f"one of {', '.join(ENGINES)}")
    have = engine_profiles().get(engine, ())
    if device not in have:
        where = f"for {', '.join(have)}" if have else "for no device yet"
        raise InvalidInputError(
            "engine",
            engine,
            f"an engine with a profile for {device}: {engine} profiles exist {where}",
        )
    if engine == "transformers":
        return load_profile(device)
    profile = _shipped(engine, device)
    shipped = getattr(profile, "engine_version", None)
    if version is not None and shipped != version:
        raise InvalidInputError(
            "version",
            version,
            f"{shipped} (the version {engine}'s {device} profile was fitted on; fit another "
            "with `rooflens calibrate --from-aiconfigurator`)",
        )
    return profile


__all__ = ["DEFAULTS", "ENGINES", "EngineDefaults", "engine_profiles", "load_engine_profile"]
