"""Where model configs come from: the bundled catalog, a local path, or the Hugging Face Hub."""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from rooflens.core.errors import ModelConfigError, ModelFetchError, UnknownModelError
from rooflens.core.model import ModelSpec
from rooflens.models.config import spec_from_config

_CONFIGS = "configs"


@cache
def bundled_models() -> dict[str, str]:
    """Hugging Face id -> bundled file name, for every config shipped with rooflens."""
    folder = resources.files("rooflens.models").joinpath(_CONFIGS)
    return {
        entry.name.removesuffix(".json").replace("--", "/", 1): entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def bundled_config(model_id: str) -> dict[str, Any]:
    file = bundled_models()[model_id]
    text = resources.files("rooflens.models").joinpath(_CONFIGS, file).read_text("utf-8")
    return json.loads(text)


def _match_bundled(name: str) -> str | None:
    ids = bundled_models()
    lowered = {i.lower(): i for i in ids}
    if name.lower() in lowered:
        return lowered[name.lower()]
    short = [i for i in ids if i.split("/", 1)[1].lower() == name.lower()]
    return short[0] if len(short) == 1 else None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a config.json, never executing anything; a folder means its config.json."""
    file = path / "config.json" if path.is_dir() else path
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise ModelConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelConfigError(
            f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _fetch(repo_id: str) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(repo_id=repo_id, filename="config.json")
    except Exception as exc:  # the hub raises many types: offline, gated, missing repo
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set" if offline else f"{type(exc).__name__}: {exc}"
        raise ModelFetchError(
            f"model {repo_id!r} is not bundled and its config.json could not be fetched from "
            f"the Hugging Face Hub ({why.splitlines()[0]}); pass a local config.json instead"
        ) from None
    return read_config_file(Path(local))


def resolve_config(name: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The parsed config.json behind a model name, and the name the model goes by."""
    text = os.fspath(name)
    bundled = _match_bundled(text)
    if bundled is not None:
        return bundled_config(bundled), bundled
    path = Path(text).expanduser()
    if path.exists():
        is_named_file = path.is_file() and path.name != "config.json"
        return read_config_file(path), path.stem if is_named_file else _folder_name(path)
    if text.count("/") == 1 and not text.startswith((".", "/")):
        return _fetch(text), text
    close = difflib.get_close_matches(text, list(bundled_models()), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"model {text!r} is neither a bundled model, a local config.json or folder, nor a "
        f"Hugging Face id of the form org/name{hint} (`rooflens models` lists the bundled ones)"
    )


def load_model(name: str | os.PathLike[str]) -> ModelSpec:
    """A bundled HF id (or its short name), a config.json / model folder, or a Hub id."""
    config, label = resolve_config(name)
    return spec_from_config(config, name=label)


def _folder_name(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    return folder.resolve().name
