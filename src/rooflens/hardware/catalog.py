"""The device catalog (one TOML file per device) and user-defined devices."""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from rooflens.core.errors import (
    HardwareSpecError,
    InvalidInputError,
    UnknownHardwareError,
    bound_accepted,
    bound_words,
)
from rooflens.core.hardware import MAX_TDP, Device

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def device_from_dict(data: dict[str, Any], origin: str = "device") -> Device:
    """Validate a device description; errors name the field, its value and what is accepted."""
    # Strict: a TOML's "80e9" is text, not a number (TOML arrays are lists: aliases a tuple).
    if isinstance(data.get("aliases"), list):
        data = {**data, "aliases": tuple(data["aliases"])}
    calibration = data.get("calibration")
    if isinstance(calibration, str):
        from rooflens.calibration.profile import bundled_profiles

        # A name no profile has failed only later, under --calibration auto.
        if calibration not in bundled_profiles():
            names = ", ".join(sorted(bundled_profiles()))
            where = f"{origin}: " if origin else ""
            raise HardwareSpecError(
                f"{where}calibration={calibration!r} is invalid: expected a bundled profile "
                f"({names}) or none"
            )
    try:
        return Device.model_validate(data, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        value = err.get("input")
        shown = "(missing)" if err["type"] == "missing" else repr(value)
        if loc[-1:] == ["[key]"]:
            # A table's key (peak_ops' type names): named as one, not pydantic's path
            # "peak_ops.bf17.[key]".
            field, shown = ".".join(loc[:-2]) + " key", f" {value!r}"
        else:
            field, shown = ".".join(loc) or "device", f"={shown}"
        reason = (
            f"expected {bound_accepted(err)}"
            if bound_words(err) is not None
            else str(err["msg"]).removeprefix("Value error, ")
        )
        if err["type"] == "literal_error":
            reason = f"expected {err['ctx']['expected']}"
        where = f"{origin}: " if origin else ""
        raise HardwareSpecError(f"{where}{field}{shown} is invalid: {reason}") from None


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HardwareSpecError(f"{origin} is not valid TOML: {exc}") from None


@cache
def catalog() -> Mapping[str, Device]:
    """Every bundled device by its name (read-only: one mapping serves the whole process)."""
    folder = resources.files("rooflens.hardware").joinpath("devices")
    devices = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = _parse_toml(entry.read_text("utf-8"), entry.name)
            devices[data.get("name", entry.name)] = device_from_dict(data, entry.name)
    return MappingProxyType(devices)


def _key(name: str) -> str:
    # Case, spaces, dashes and underscores only: other marks are part of a name
    # (`h100-sxm!!!` is no device; "Xeon Platinum 8480+" keeps its plus).
    return "".join(ch for ch in name.lower() if not (ch.isspace() or ch in "-_"))


@cache
def _index() -> dict[str, str]:
    index = {}
    for name, device in catalog().items():
        for label in (name, device.display_name, *device.aliases):
            if label:
                index.setdefault(_key(label), name)
    return index


def close_names(text: str, n: int = 3) -> list[str]:
    """The catalog names nearest to `text` in spelling, read against every device's name,
    display name and aliases as lookups read them (nvidia-smi's 'NVIDIA H100 80GB HBM3' is
    nearest the H100's own alias, not the A100s' names)."""
    keys = list(_index())
    matched = difflib.get_close_matches(_key(text), keys, n=4 * n, cutoff=0.4)
    return list(dict.fromkeys(_index()[key] for key in matched))[:n]


def catalog_name(name: str) -> str | None:
    """The catalog device a name or alias means (case, spaces, dashes and underscores
    ignored), or None."""
    return _index().get(_key(name))


def load_device_file(path: str | os.PathLike[str]) -> Device:
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise HardwareSpecError(f"cannot read {file}: {exc.strerror or exc}") from None
    data = _parse_toml(text, str(file))
    data.setdefault("name", file.stem)
    device = device_from_dict(data, str(file))
    # A file naming a catalog device with other figures is not that device: what was measured
    # on it (an engine's or a calibration's profile) does not apply, as with overridden flags.
    found = catalog_name(device.name)
    if found is None or timed_figures(device) == timed_figures(catalog()[found]):
        return device
    return modified(device.model_copy(update={"name": found}), device, f"given in {file}")


def modified(changed: Device, given: Device, where: str | None = None) -> Device:
    """`changed` (a device with figures of its own) as not the one measured (as_modified),
    keeping a price `given` states of its own: not the catalog's for its name, which went
    with the catalog's figures (a copied file states the catalog's)."""
    out = changed.as_modified()
    found = catalog_name(given.name.removesuffix(" (modified)"))
    catalog_price = catalog()[found].hourly_price if found else None
    if given.hourly_price not in (None, catalog_price):
        source = where or given.sources.get("hourly_price", "given with the device")
        out = out.model_copy(
            update={
                "hourly_price": given.hourly_price,
                "sources": {**out.sources, "hourly_price": source},
            }
        )
    return out


def checked_tdp(field: str, tdp: float | None, device: Device | None = None) -> float | None:
    """A board power given for `device` (None: a device of one's own), within the Device's
    bounds and not below the idle draw its catalog entry states (which the Device refuses
    in its own words, naming idle_power, not the TDP typed)."""
    if tdp is None:
        return None
    idle = device.idle_power if device is not None and device.idle_power else 0.0
    if not (math.isfinite(tdp) and 0 < tdp <= MAX_TDP and tdp >= idle):
        low = f"at least {device.name}'s idle draw, {idle:g}" if device and idle else "above 0"
        raise InvalidInputError(field, tdp, f"W, {low}, and at most {MAX_TDP:g}")
    return tdp


def timed_figures(device: Device) -> tuple[object, ...]:
    """The figures timing reads: a device with other ones is not the one measured."""
    return (device.memory_bandwidth, device.memory_capacity, dict(device.peak_ops))


def get_device(name: str | os.PathLike[str], field: str = "hardware") -> Device:
    """A catalog name or alias (case, spaces, dashes and underscores ignored), or a path to a
    TOML file; `field`: the setting it was given as, which an error names."""
    if not isinstance(name, str | os.PathLike):
        raise InvalidInputError(
            field, name, "a catalog device name, a device TOML file or a Device"
        )
    text = os.fspath(name)
    found = catalog_name(text)
    if found is not None:
        return catalog()[found]
    if Path(text).is_file():
        return load_device_file(text)
    names = list(catalog())
    if text.endswith(".toml"):
        raise UnknownHardwareError(
            f"{field}={text!r} is invalid: expected a catalog device or a device TOML file; "
            f"there is no file {text}"
        )
    close = close_names(text)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownHardwareError(
        f"{field}={text!r} is invalid: expected a catalog device (`rooflens hardware` lists "
        f"all {len(names)}) or a device TOML file{hint}"
    )
