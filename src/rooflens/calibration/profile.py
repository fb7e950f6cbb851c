"""Efficiency profiles as TOML files: bundled ones by device name, or any path."""

from __future__ import annotations

import functools
import os
import re
import sys
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from rooflens.core.efficiency import EfficiencyProfile, EngineProfile
from rooflens.core.errors import HardwareSpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def bundled_profiles() -> dict[str, str]:
    """Device name -> bundled profile file, for the devices measured with `rooflens calibrate`."""
    folder = resources.files("rooflens.calibration").joinpath("profiles")
    return {
        e.name.removesuffix(".toml"): e.name for e in folder.iterdir() if e.name.endswith(".toml")
    }


def parse_profile(text: str, origin: str) -> EfficiencyProfile:
    """A profile from TOML text: an engine profile where it names its engine."""
    try:
        data = tomllib.loads(text)
        kind = EngineProfile if "engine" in data else EfficiencyProfile
        return kind.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise HardwareSpecError(f"calibration profile {origin} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise HardwareSpecError(
            f"calibration profile {origin}: {field} is invalid: {err['msg']}"
        ) from None


def load_profile(name: str | os.PathLike[str]) -> EfficiencyProfile:
    """A bundled profile by device name (see `bundled_profiles()`), or a TOML file."""
    text = os.fspath(name)
    if text in bundled_profiles():
        return _bundled(text)
    path = Path(text)
    if not path.is_file():
        raise HardwareSpecError(
            f"calibration={text!r}: no such file, and no bundled profile of that name "
            f"(bundled: {', '.join(sorted(bundled_profiles())) or 'none'})"
        )
    return parse_profile(path.read_text("utf-8"), str(path))


@functools.cache
def _bundled(name: str) -> EfficiencyProfile:
    # Bundled files do not change while the program runs and profiles are frozen: parse once.
    folder = resources.files("rooflens.calibration").joinpath("profiles")
    return parse_profile(folder.joinpath(bundled_profiles()[name]).read_text("utf-8"), name)


def save_profile(profile: EfficiencyProfile, path: str | os.PathLike[str]) -> None:
    import tomli_w

    # TOML has no null: figures not measured (the link, say) are left out and read back as None.
    data = profile.model_dump(mode="json", exclude_none=True)
    Path(path).write_text(_one_line_arrays(tomli_w.dumps(data)), "utf-8")


# An array of numbers as tomli_w writes it: one item per line.
_NUMBER_ARRAY = re.compile(r"\[\n((?:[ \t]+[-+0-9.eE]+,\n)+)\]")


def _one_line_arrays(text: str) -> str:
    """Arrays of numbers on one line each: an engine profile holds hundreds of them (its
    curves and grids), a file a fraction of the size that one number per line gives."""
    return _NUMBER_ARRAY.sub(
        lambda m: "[" + ", ".join(v.strip().rstrip(",") for v in m.group(1).splitlines()) + "]",
        text,
    )
