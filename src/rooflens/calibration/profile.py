"""Efficiency profiles as TOML or JSON files: bundled ones by device name, or any path. The
engine profiles rooflens ships are JSON, which Python parses some fourteen times faster than
TOML (SGLang's B200 profile: 0.008 s against 0.113 s, docs/performance.md). An engine
profile's MoE layer fractions (hundreds of curves more) lie beside it in gzipped JSON
(`<name>.moe-layers.json.gz`), read when a MoE layer is first priced."""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import sys
from importlib import resources
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from rooflens.core.efficiency import EfficiencyProfile, EngineProfile, LayerCurve
from rooflens.core.errors import HardwareSpecError, type_words

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


LAYERS_SUFFIX = ".moe-layers.json.gz"


# The files a profile may be written as: TOML, or JSON (the shipped engine profiles).
PROFILE_SUFFIXES = (".toml", ".json")


def layers_path(path: Path) -> Path:
    """Where the MoE layer fractions of the profile at `path` lie."""
    return path.with_name(path.stem + LAYERS_SUFFIX)


def parse_profile(text: str, origin: str, layers: bytes | None = None) -> EfficiencyProfile:
    """A profile from TOML text, or JSON where `origin` ends in .json: an engine profile where
    it names its engine, with its MoE layer fractions (`layers`, gzipped JSON) read when first
    priced."""
    as_json = origin.endswith(".json")
    try:
        data = json.loads(text) if as_json else tomllib.loads(text)
        kind = EngineProfile if "engine" in data else EfficiencyProfile
        profile = kind.model_validate(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        written = "JSON" if as_json else "TOML"
        raise HardwareSpecError(
            f"calibration profile {origin} is not valid {written}: {exc}"
        ) from None
    except ValidationError as exc:
        raise _invalid(origin, exc) from None
    if layers is None or not isinstance(profile, EngineProfile):
        return profile
    return profile.with_stored_layers(_StoredLayers(layers, origin))


_LAYERS = TypeAdapter(dict[str, LayerCurve])


class _StoredLayers:
    """A profile's MoE layers file, read at most once whichever copy of the profile asks
    first: copies made before the first read (a memory share set per run, say) share this
    reader, and with it what it read. Picklable, as profiles travel to worker processes."""

    def __init__(self, layers: bytes, origin: str) -> None:
        self.layers, self.origin = layers, origin
        self.read: dict[str, LayerCurve] | None = None

    def __call__(self) -> dict[str, LayerCurve]:
        if self.read is None:
            self.read = _read_layers(self.layers, self.origin)
        return self.read


def _read_layers(layers: bytes, origin: str) -> dict[str, LayerCurve]:
    try:
        return _LAYERS.validate_python(json.loads(gzip.decompress(layers)))
    except ValidationError as exc:
        raise _invalid(origin, exc, "moe_layers.") from None
    except (OSError, EOFError, ValueError) as exc:  # gzip's and JSON's
        raise HardwareSpecError(
            f"calibration profile {origin}: its MoE layers file is not gzipped JSON: {exc}"
        ) from None


def _invalid(origin: str, exc: ValidationError, prefix: str = "") -> HardwareSpecError:
    err = exc.errors()[0]
    field = prefix + ".".join(str(p) for p in err["loc"])
    # A check across fields (a model's own validator) has no location of its own: its message
    # names what it checks.
    message = err["msg"].removeprefix("Value error, ")
    if type_words(err) is not None:  # a wrong type, in the words of the other refusals
        message = f"expected {type_words(err)}"
    if not field:
        return HardwareSpecError(f"calibration profile {origin}: {message}")
    value = err.get("input")
    shown = f" ({value!r})" if isinstance(value, str | int | float | bool) else ""
    return HardwareSpecError(f"calibration profile {origin}: {field}{shown} is invalid: {message}")


def load_profile(name: str | os.PathLike[str]) -> EfficiencyProfile:
    """A bundled profile by device name (see `bundled_profiles()`), or a TOML file."""
    text = os.fspath(name)
    path = Path(text)
    # A bundled profile's name reads whatever its case, as device names do; a file wins.
    if not path.is_file() and text.lower() in bundled_profiles():
        return _bundled(text.lower())
    if path.is_dir():
        raise HardwareSpecError(
            f"calibration={text!r}: a folder; expected a profile file (.toml or .json) or a "
            f"bundled profile's name ({', '.join(sorted(bundled_profiles())) or 'none'})"
        )
    if not path.is_file():
        raise HardwareSpecError(
            f"calibration={text!r}: no such file, and no bundled profile of that name "
            f"(bundled: {', '.join(sorted(bundled_profiles())) or 'none'}; or auto, the "
            "device's own)"
        )
    layers = layers_path(path)
    return parse_profile(
        path.read_text("utf-8"), str(path), layers.read_bytes() if layers.is_file() else None
    )


@functools.cache
def _bundled(name: str) -> EfficiencyProfile:
    # Bundled files do not change while the program runs and profiles are frozen: parse once.
    folder = resources.files("rooflens.calibration").joinpath("profiles")
    return parse_profile(folder.joinpath(bundled_profiles()[name]).read_text("utf-8"), name)


def save_profile(profile: EfficiencyProfile, path: str | os.PathLike[str]) -> None:
    """Write `profile` as TOML, or as JSON where `path` ends in .json, its MoE layers beside
    it (`layers_path`)."""
    # TOML has no null: figures not measured (the link, say) are left out and read back as None.
    data = profile.model_dump(mode="json", exclude_none=True)
    data.pop("moe_layers", None)
    layers = None
    if isinstance(profile, EngineProfile):
        layers = _LAYERS.dump_python(profile.layers, mode="json")
    path = Path(path)
    path.write_text(profile_text(data, path.suffix.lower() == ".json"), "utf-8")
    if layers:
        text = json.dumps(layers, separators=(",", ":"), sort_keys=True).encode()
        # mtime 0: the same fit writes the same bytes.
        layers_path(path).write_bytes(gzip.compress(text, mtime=0))
    else:
        layers_path(path).unlink(missing_ok=True)


def profile_text(data: dict[str, object], as_json: bool) -> str:
    """A profile's fields as TOML or JSON text, each array of numbers on one line."""
    if as_json:
        return _one_line_arrays(json.dumps(data, indent=1) + "\n", _JSON_NUMBER_ARRAY)
    import tomli_w

    return _one_line_arrays(tomli_w.dumps(data), _TOML_NUMBER_ARRAY)


# An array of numbers as tomli_w writes it (one item per line, each ending in a comma), and as
# json.dumps(indent=1) does (the last item without one).
_TOML_NUMBER_ARRAY = re.compile(r"\[\n((?:[ \t]+[-+0-9.eE]+,\n)+)\]")
_JSON_NUMBER_ARRAY = re.compile(r"\[\n((?:[ \t]+[-+0-9.eE]+,?\n)+)[ \t]*\]")


def _one_line_arrays(text: str, arrays: re.Pattern[str]) -> str:
    """Arrays of numbers on one line each: an engine profile holds hundreds of them (its
    curves and grids), a file a fraction of the size that one number per line gives."""
    return arrays.sub(
        lambda m: "[" + ", ".join(v.strip().rstrip(",") for v in m.group(1).splitlines()) + "]",
        text,
    )
