"""Where model configs come from: the bundled catalog, a local path, or the Hugging Face Hub."""

from __future__ import annotations

import difflib
import json
import os
import socket
import threading
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rooflens.core.errors import (
    InvalidInputError,
    ModelConfigError,
    ModelFetchError,
    UnknownModelError,
)
from rooflens.core.graph import build_graph
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.models.config import spec_from_config

_CONFIGS = "configs"
# A reachable Hub (or proxy) accepts a TCP connection well within this; without a network the
# check fails at once or at this timeout, instead of huggingface_hub's retries (~23 s).
_CONNECT_TIMEOUT = 1.0

# Unbundled id -> bundled id whose published config.json agrees on every field that
# models/config.py reads (layers, widths, heads, experts, vocabulary, positions, window): the
# base and the chat/instruct release of one checkpoint architecture, or two releases of one
# architecture (GLM-5 and GLM-5.1). Resolved with a note in the model's name. Pairs that
# differ (e.g. Mixtral-8x22B-Instruct's 32768-token vocabulary against the base's 32000, Qwen2.5
# and Qwen3's differing max_position_embeddings) are left out.
_SAME_ARCHITECTURE: dict[str, str] = {
    "mistralai/Mixtral-8x7B-v0.1": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.1": "mistralai/Mistral-7B-v0.1",
    "meta-llama/Llama-2-7b-chat-hf": "meta-llama/Llama-2-7b-hf",
    "meta-llama/Llama-2-13b-chat-hf": "meta-llama/Llama-2-13b-hf",
    "meta-llama/Llama-2-70b-chat-hf": "meta-llama/Llama-2-70b-hf",
    "meta-llama/Meta-Llama-3-8B-Instruct": "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-70B-Instruct": "meta-llama/Llama-3.1-70B",
    "google/gemma-7b-it": "google/gemma-7b",
    "google/gemma-2-2b-it": "google/gemma-2-2b",
    "google/gemma-2-9b-it": "google/gemma-2-9b",
    # zai-org/GLM-5's published config.json differs from GLM-5.1's only in transformers_version.
    "zai-org/GLM-5": "zai-org/GLM-5.1",
}


# NVFP4 checkpoints the engines serve (none of them quantizes to NVFP4 on load): NVIDIA's
# ModelOpt exports, bundled with their quantization files. Their DeepSeek-V3-architecture
# export keeps the latent-attention projections at 16 bits and caches keys and values in FP8
# (its exclude_modules and kv_cache_quant_algo); DeepSeek-R1 and V3 have the same
# architecture as V3.1.
NVFP4_EXPORTS: dict[str, str] = {
    "deepseek-ai/DeepSeek-R1": "nvidia/DeepSeek-V3.1-NVFP4",
    "deepseek-ai/DeepSeek-V3": "nvidia/DeepSeek-V3.1-NVFP4",
    "Qwen/Qwen3-32B": "nvidia/Qwen3-32B-NVFP4",
}


def nvfp4_export(model_id: str) -> str | None:
    """The bundled NVFP4 export an engine serves in place of `model_id` at NVFP4, or None."""
    return NVFP4_EXPORTS.get(model_id)


@cache
def bundled_models() -> Mapping[str, str]:
    """Hugging Face id -> bundled file name, for every config shipped with rooflens
    (read-only: one mapping serves the whole process)."""
    folder = resources.files("rooflens.models").joinpath(_CONFIGS)
    return MappingProxyType(
        {
            entry.name.removesuffix(".json").replace("--", "/", 1): entry.name
            for entry in folder.iterdir()
            if entry.name.endswith(".json")
        }
    )


def bundled_config(model_id: str) -> dict[str, Any]:
    file = bundled_models()[model_id]
    text = resources.files("rooflens.models").joinpath(_CONFIGS, file).read_text("utf-8")
    return json.loads(text)


def bundled_id(name: str) -> str | None:
    """The bundled id a name means: the id or its short name (unique), case ignored."""
    ids = bundled_models()
    lowered = {i.lower(): i for i in ids}
    if name.lower() in lowered:
        return lowered[name.lower()]
    short = [i for i in ids if i.split("/", 1)[1].lower() == name.lower()]
    return short[0] if len(short) == 1 else None


def _read_json(file: Path) -> Any:
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise ModelConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ModelConfigError(
            f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelConfigError(
            f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        # The parser recurses per nesting level; no config nests more than a few levels.
        raise ModelConfigError(f"{file} nests JSON deeper than Python can read") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a config.json, never executing anything; a folder means its config.json. A
    ModelOpt checkpoint keeps its quantization in hf_quant_config.json beside config.json:
    read as its quantization_config (quant_method "modelopt"), as vLLM and SGLang do."""
    file = path / "config.json" if path.is_dir() else path
    config = _read_json(file)
    if file.name == "config.json":
        return _with_modelopt(config, file.with_name("hf_quant_config.json"))
    return config


def _with_modelopt(config: Any, modelopt: Path | None) -> Any:
    """`config` with the ModelOpt recipe in `modelopt` (an hf_quant_config.json) as its
    quantization_config, where it has none and the file exists."""
    if (
        modelopt is None
        or not isinstance(config, dict)
        or config.get("quantization_config") is not None
        or not modelopt.is_file()
    ):
        return config
    quant = _read_json(modelopt)
    if not isinstance(quant, dict):
        raise ModelConfigError(f"{modelopt} must hold a JSON object")
    return {**config, "quantization_config": {"quant_method": "modelopt", **quant}}


def nearest_bundled(name: str, n: int = 3) -> list[str]:
    """Bundled ids closest to `name` (case ignored; a name without org/ is compared with the
    short names), for "did you mean" hints."""
    wanted = name.lower()
    short = wanted.split("/", 1)[-1]

    def score(model_id: str) -> float:
        # The model's own name weighs most: an org can differ (mistral-community, mistralai).
        full = difflib.SequenceMatcher(None, wanted, model_id.lower()).ratio()
        own = difflib.SequenceMatcher(None, short, model_id.split("/", 1)[-1].lower()).ratio()
        return max(full, own) if "/" in name else own

    ranked = sorted(bundled_models(), key=lambda i: (-score(i), i))
    return [i for i in ranked[:n] if score(i) >= 0.5]


def _did_you_mean(name: str) -> str:
    close = nearest_bundled(name)
    return f"; did you mean {', '.join(close)}?" if close else ""


def bundled_twin(name: str) -> str | None:
    """The bundled id whose config is architecturally identical to the unbundled `name` (an
    org/name id, or its short name), or None."""
    for unbundled, bundled in _SAME_ARCHITECTURE.items():
        if name.lower() in (unbundled.lower(), unbundled.split("/", 1)[1].lower()):
            return bundled if bundled in bundled_models() else None
    return None


def _hub_unreachable(endpoint: str, timeout: float | None = None) -> str | None:
    """Why the Hub (or the HTTPS proxy in the environment) cannot be reached, or None: one TCP
    connection attempt, bounded in time even where name resolution hangs."""
    # 30 ms of http and ssl modules: imported only when the Hub is asked.
    import urllib.parse
    import urllib.request

    timeout = _CONNECT_TIMEOUT if timeout is None else timeout
    via = urllib.request.getproxies().get("https") or endpoint
    url = urllib.parse.urlsplit(via if "//" in via else f"//{via}")
    host, port = url.hostname or "", url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"cannot connect to {host}:{port}: {exc.strerror or exc}")

    # getaddrinfo has no timeout of its own: a daemon thread keeps a hung lookup from blocking.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer from {host}:{port} within {timeout:g} s"


def _fetch_error(repo_id: str, why: str) -> ModelFetchError:
    return ModelFetchError(
        f"model {repo_id!r} is not bundled and its config.json could not be fetched from "
        f"the Hugging Face Hub ({why.splitlines()[0]}){_did_you_mean(repo_id)} "
        "(pass a local config.json or model folder instead; `rooflens models` lists the "
        "bundled ones)"
    )


def _modelopt_file(repo_id: str, local_only: bool) -> Path | None:
    """The repository's hf_quant_config.json (a ModelOpt checkpoint's recipe), or None where
    it has none (most repositories) or, with `local_only`, where it is not cached."""
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(
            repo_id=repo_id, filename="hf_quant_config.json", local_files_only=local_only
        )
    except Exception:  # absent from the repository or the cache: the config says it all
        return None
    # Only a file of that name is a recipe (a cache answers with the file it holds).
    return Path(local) if Path(local).name == "hf_quant_config.json" else None


def _fetch(repo_id: str) -> dict[str, Any]:
    """A Hub config: huggingface_hub's cached copy, else one download once the Hub answers;
    with it the repository's hf_quant_config.json where there is one (ModelOpt checkpoints
    keep their precision there, not in config.json)."""
    from huggingface_hub import constants, hf_hub_download

    try:
        cached = hf_hub_download(repo_id=repo_id, filename="config.json", local_files_only=True)
    except Exception:  # not in the cache (the hub raises several types for that)
        cached = None
    if cached is not None:
        return _with_modelopt(read_config_file(Path(cached)), _modelopt_file(repo_id, True))
    # The values huggingface_hub itself reads as true.
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        raise _fetch_error(repo_id, "HF_HUB_OFFLINE is set and it is not in the local cache")
    unreachable = _hub_unreachable(constants.ENDPOINT)
    if unreachable:
        raise _fetch_error(repo_id, f"offline: {unreachable}")
    try:
        local = hf_hub_download(repo_id=repo_id, filename="config.json")
    except Exception as exc:  # the hub raises many types: gated, missing repo, refused
        raise _fetch_error(repo_id, f"{type(exc).__name__}: {exc}") from None
    return _with_modelopt(read_config_file(Path(local)), _modelopt_file(repo_id, False))


def resolve_config(
    name: str | os.PathLike[str], field: str = "model"
) -> tuple[dict[str, Any], str]:
    """The parsed config.json behind a model name, and the name the model goes by (`field`:
    what an error calls it, the model or its drafter)."""
    text = os.fspath(name)
    path = Path(text).expanduser()
    # A local file or folder comes first, as transformers' from_pretrained reads a local
    # folder before the Hub: a folder named like a bundled model is the user's own.
    if path.exists():
        is_named_file = path.is_file() and path.name != "config.json"
        return read_config_file(path), path.stem if is_named_file else _folder_name(path)
    bundled = bundled_id(text)
    if bundled is not None:
        return bundled_config(bundled), bundled
    twin = bundled_twin(text)
    if twin is not None:
        # Visible wherever the model's name is shown: the config read is the twin's.
        return bundled_config(twin), f"{text} (config of bundled {twin}: same architecture)"
    if text.lower().endswith(".json"):  # a file's name, not a Hub id
        raise UnknownModelError(
            f"{field} {text!r} is invalid: expected an existing config.json (no such file)"
        )
    if text.count("/") == 1 and not text.startswith((".", "/")):
        return _fetch(text), text
    raise UnknownModelError(
        f"{field} {text!r} is neither a bundled model, a local config.json or folder, nor a "
        f"Hugging Face id of the form org/name{_did_you_mean(text)} (`rooflens models` lists "
        "the bundled ones)"
    )


def load_model(name: str | os.PathLike[str], field: str = "model") -> ModelSpec:
    """A bundled HF id (or its short name), a config.json / model folder, or a Hub id
    (`field`: what an error calls it, the model or its drafter)."""
    if not isinstance(name, str | os.PathLike) or not os.fspath(name).strip():
        # An empty name is no path either: it read the working folder's config.json.
        raise InvalidInputError(
            field, name, "a bundled id, a config.json or model folder, a Hub id or a ModelSpec"
        )
    bundled = bundled_id(os.fspath(name))
    if bundled is not None and not Path(os.fspath(name)).expanduser().exists():
        return bundled_spec(bundled)
    config, label = resolve_config(name, field)
    return spec_from_config(config, name=label)


@cache
def bundled_spec(model_id: str) -> ModelSpec:
    """A bundled model, parsed once (ModelSpec is immutable)."""
    return spec_from_config(bundled_config(model_id), name=model_id)


def _folder_name(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    return folder.resolve().name


def model_info(
    spec: ModelSpec, model_id: str | None = None, params: tuple[int, int] | None = None
) -> dict[str, Any]:
    """A model's description as the listings give it (`rooflens models`, the web's GET
    /api/models and its analyses), by its declared names. `params`: the counts, all and
    active, when known (an analysis has them), else counted from the graph."""
    if params is None:
        graph = build_graph(spec, AnalysisOptions())
        params = graph.params(), graph.active_params()
    return {
        "id": model_id or spec.name,
        "model_type": spec.model_type,
        "params": params[0],
        "active_params": params[1],
        "num_layers": spec.num_layers,
        "hidden_size": spec.hidden_size,
        "num_heads": spec.num_heads,
        "num_kv_heads": spec.num_kv_heads,
        "head_dim": spec.head_dim,
        "intermediate_size": spec.intermediate_size,
        "vocab_size": spec.vocab_size,
        "max_positions": spec.max_positions,
        "num_experts": spec.num_experts,
    }
