"""Serving engines: which efficiency profile prices an engine on a device, and its defaults.

`transformers` is Hugging Face transformers as `rooflens calibrate` measures it (the bundled
calibration profiles); `vllm`, `sglang` and `trtllm` are fitted from their operator databases
(`rooflens calibrate --from-aiconfigurator`, docs/engines.md); `compiled` (torch.compile'd
transformers) exists only where a profile was measured.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

from rooflens.calibration.profile import (
    LAYERS_SUFFIX,
    bundled_profiles,
    load_profile,
    parse_profile,
)
from rooflens.core.efficiency import EfficiencyProfile, version_key
from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.engines import sglang, trtllm, vllm
from rooflens.engines.defaults import EngineDefaults
from rooflens.hardware.catalog import catalog_name, get_device
from rooflens.serving.config import SchedulerConfig
from rooflens.settings import ENGINE_NAMES, engine_name, parse_settings

ENGINES = ENGINE_NAMES
# Each serving engine's facts live in its module (rooflens.engines.<engine>): its scheduler,
# its memory behaviour and their sources.
MODULES = {"vllm": vllm, "sglang": sglang, "trtllm": trtllm}
DEFAULTS: dict[str, EngineDefaults] = {name: module.DEFAULTS for name, module in MODULES.items()}
_FOLDER = "profiles"


@cache
def engine_profiles() -> dict[str, tuple[str, ...]]:
    """Engine -> devices with a shipped profile (files `<engine>-<device>.toml`)."""
    found: dict[str, list[str]] = {"transformers": sorted(bundled_profiles())}
    for engine, device, version in _profile_files():
        if version is None:
            found.setdefault(engine, []).append(device)
    return {engine: tuple(sorted(devices)) for engine, devices in found.items()}


@cache
def _profile_files() -> tuple[tuple[str, str, str | None], ...]:
    """(engine, device, version) of each shipped profile file: `<engine>-<device>.json` (the
    newest operator tables, version None) or `<engine>-<device>@<version>.json` (an older
    release's tables where the databases time them)."""
    folder = resources.files("rooflens.engines").joinpath(_FOLDER)
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"([a-z]+)-([^@]+?)(?:@(.+))?\.json", entry.name)
        if match:
            found.append((match.group(1), match.group(2), match.group(3)))
    return tuple(sorted(found, key=str))


def engine_versions(engine: str, device: str) -> tuple[str, ...]:
    """The releases whose own operator tables price `engine` on `device`, oldest first: the
    older profiles' and the newest's (an empty tuple where none is shipped)."""
    if (engine, device, None) not in _profile_files():
        return ()
    older = [v for e, d, v in _profile_files() if (e, d) == (engine, device) and v]
    newest = _newest_release(engine, device)
    return (*sorted(older, key=version_key), *([newest] if newest else []))


def nearest_version(asked: str, versions: tuple[str, ...]) -> str | None:
    """The release whose profile prices `asked`: itself (or its post-release) where shipped,
    else the oldest after it (the nearest release whose kernels it could run), else None
    (the newest profile)."""
    if asked in versions:
        return asked
    same = [v for v in versions if version_key(v) == version_key(asked)]
    if same:
        return same[0]
    later = [v for v in versions if version_key(v) > version_key(asked)]
    return min(later, key=version_key) if later else None


@cache
def _shipped(engine: str, device: str, version: str | None) -> EfficiencyProfile:
    """A shipped profile, parsed once (an immutable description; the advisor asks for the
    same few per candidate)."""
    name = f"{engine}-{device}{'' if version is None else '@' + version}.json"
    folder = resources.files("rooflens.engines").joinpath(_FOLDER)
    layers = folder.joinpath(name.removesuffix(".json") + LAYERS_SUFFIX)
    profile = parse_profile(
        folder.joinpath(name).read_text("utf-8"),
        name,
        layers.read_bytes() if layers.is_file() else None,
    )
    defaults = DEFAULTS.get(engine)
    if defaults is None:
        return profile
    # The engine's memory behaviour comes with its kernels: the share of the device it takes.
    update: dict[str, object] = {
        "memory_fraction": memory_share(engine, device, None),
        "memory_fraction_of": defaults.memory_fraction_of,
    }
    measured = defaults.measured()
    if measured:
        # Times outside the kernels (a request's path, an eager launch), measured with the
        # engine itself.
        update |= measured
        update["provenance"] = defaults.with_measured(profile.provenance)
    return profile.model_copy(update=update)


def memory_share(engine: str, device: str, version: str | None, tp: int = 1, pp: int = 1) -> float:
    """The share of memory a serving engine takes by default on a catalog device, at a
    release and a TP and PP width, as its module says (SGLang's from the device's memory and
    the layout, the others' by release)."""
    return MODULES[engine].memory_share(get_device(device), version, tp, pp)


def prefill_graph_tokens(
    engine: str,
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    at: str | None = None,
    scheduler: SchedulerConfig | None = None,
    **conditions: bool,
) -> int | None:
    """The most tokens `engine`'s release runs a prefill iteration of `model` from a CUDA
    graph with by default on `device`, under the deployment's `conditions` (drafting,
    disaggregated, attention_dp, pipeline: its module's `prefill_graph_tokens`; `at`: the day
    a build that names no release ran, for SGLang's nightly images; `scheduler`: the one it
    serves with, where its capture sizes follow it, vLLM's); None: every iteration priced as
    from graphs (an engine without a scheduler preset, or no host launch time measured)."""
    module = MODULES.get(engine)
    if module is None:
        return None
    return module.prefill_graph_tokens(
        device, version, model, at=at, scheduler=scheduler, **conditions
    )


def prefill_graphs_note(
    engine: str,
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    at: str | None = None,
    **conditions: bool,
) -> str | None:
    """Why `engine`'s release runs no prefill iteration from a CUDA graph here, in words
    (its module's `prefill_graphs_note`); None where it does, or where its module gives no
    reason (vLLM, whose default capture sizes are never empty; TensorRT-LLM, whose launch
    time is not measured)."""
    note = getattr(MODULES.get(engine), "prefill_graphs_note", None)
    return None if note is None else note(device, version, model, at=at, **conditions)


@cache
def _newest_release(engine: str, device: str) -> str | None:
    """The release whose tables the shipped `<engine>-<device>.toml` was fitted on (None for
    one rooflens measured), read from its head alone."""
    return profile_facts(engine, device)["engine_version"]  # type: ignore[return-value]


def profile_facts(engine: str, device: str) -> dict[str, object]:
    """What a shipped profile says of itself, read without validating its curves (a catalog
    listing needs none): `engine_version` (None for one rooflens measured), `provenance`, and
    the engine's `memory_fraction` and `memory_fraction_of`, as `load_engine_profile` gives
    them."""
    if engine == "transformers":
        profile = load_profile(device)
        return {
            "engine_version": None,
            "provenance": dict(profile.provenance),
            "memory_fraction": profile.memory_fraction,
            "memory_fraction_of": profile.memory_fraction_of,
        }
    name = f"{engine}-{device}.json"
    text = resources.files("rooflens.engines").joinpath(_FOLDER, name).read_text("utf-8")
    head = json.loads(text)
    defaults = DEFAULTS.get(engine)
    provenance = dict(head.get("provenance", {}))
    if defaults is not None:
        provenance = defaults.with_measured(provenance)
    return {
        "engine_version": head.get("engine_version"),
        "provenance": provenance,
        "memory_fraction": memory_share(engine, device, None)
        if defaults
        else head["memory_fraction"],
        "memory_fraction_of": (
            defaults.memory_fraction_of if defaults else head["memory_fraction_of"]
        ),
    }


def load_engine_profile(
    engine: str, device: str, version: str | None = None, tp: int = 1, pp: int = 1
) -> EfficiencyProfile:
    """The profile pricing `engine` on `device` (a catalog device name): for transformers the
    device's bundled calibration profile, else the shipped engine profile: fitted on the
    newest operator tables, or for a `version`, on the tables of that release where the
    databases time it, else of the oldest release after it (`nearest_version`); its label
    names the release it stands for. `tp` and `pp`: the layout, where the engine's share of
    memory depends on it (SGLang's)."""
    engine = str(engine_name(engine))
    if engine not in ENGINES:
        raise InvalidInputError("engine", engine, f"one of {', '.join(ENGINES)}")
    if version is not None:  # a release number, for an engine that has releases to price
        parse_settings({"engine": engine, "engine_version": version})
    have = engine_profiles().get(engine, ())
    # A catalog alias is its device ("h200" for h200-sxm), as every command reads it.
    device = catalog_name(device) or device
    if device not in have:
        base = device.split(" (")[0]
        if base in have:  # "h100-sxm (modified)": figures overridden
            accepted = (
                f"{base} as the catalog has it: its {engine} profile was measured there, "
                f"not on {device}"
            )
            raise InvalidInputError("engine", engine, accepted)
        where = f"for {', '.join(have)}" if have else "for no device yet"
        raise InvalidInputError(
            "engine",
            engine,
            f"an engine with a profile for {device}: {engine} profiles exist {where}",
        )
    if engine == "transformers":
        return load_profile(device)
    # An engine whose share of memory follows the layout (SGLang's) takes it there.
    by_layout = engine in MODULES and (tp, pp) != (1, 1)
    if by_layout and memory_share(engine, device, version, tp, pp) != memory_share(
        engine, device, version
    ):
        return _at_layout(engine, device, version, tp, pp)
    if version is None:
        return _shipped(engine, device, None)
    return _for_release(engine, device, version)


@cache
def _for_release(engine: str, device: str, version: str) -> EfficiencyProfile:
    """The profile pricing a release, made once (the advisor asks for it per candidate, and
    analyses cache their steps by the profile they are given)."""
    versions = engine_versions(engine, device)
    chosen = nearest_version(version, versions)
    # The newest tables price the releases after them.
    newest = chosen is None or chosen == versions[-1]
    profile = _shipped(engine, device, None if newest else chosen)
    update: dict[str, object] = {}
    if version_key(version) != version_key(chosen or versions[-1]):
        update["asked_version"] = version  # priced by another release's tables: say so
    if engine in DEFAULTS:
        # The share of memory is the release's own, whichever tables price its kernels.
        update["memory_fraction"] = memory_share(engine, device, version)
    return profile.model_copy(update=update)


@cache
def _at_layout(
    engine: str, device: str, version: str | None, tp: int, pp: int
) -> EfficiencyProfile:
    """The profile with the memory share its engine takes at this TP and PP width, made once
    per layout (analyses cache their steps by the profile they are given)."""
    profile = (
        _shipped(engine, device, None) if version is None else _for_release(engine, device, version)
    )
    return profile.model_copy(
        update={"memory_fraction": memory_share(engine, device, version, tp, pp)}
    )


__all__ = [
    "DEFAULTS",
    "ENGINES",
    "EngineDefaults",
    "engine_profiles",
    "engine_versions",
    "load_engine_profile",
    "nearest_version",
    "profile_facts",
    "version_key",
]
