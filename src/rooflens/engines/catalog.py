"""The shipped engine profiles, one row each: which release and device a profile prices, where
its figures came from and when, the memory and scheduler defaults that come with the engine,
and how far its serving forecasts fell from measured runs (`rooflens engines`,
`GET /api/engines`)."""

from __future__ import annotations

from typing import Any

from rooflens.core.errors import InvalidInputError
from rooflens.engines import DEFAULTS, engine_profiles, engine_versions, profile_facts
from rooflens.engines.validated import ARCHITECTURES, engine_group
from rooflens.hardware.catalog import catalog
from rooflens.serving.presets import PRESETS, preset_for
from rooflens.settings import ENGINE_NAMES, engine_name


def _release(engine: str, provenance: dict[str, str], newest: str | None) -> str | None:
    """The release a profile stands for: the engine's (operator tables), or for a profile
    rooflens measured, the framework it measured (transformers, torch)."""
    if newest is not None:
        return newest
    if engine == "transformers":
        return provenance.get("transformers")
    return provenance.get("torch")


def _source(provenance: dict[str, str]) -> str:
    """Where the figures came from: the operator database, or the measurement rooflens ran."""
    where = provenance.get("measured_on", "a GPU")
    text = provenance.get("source") or (
        f"rooflens calibrate on {where} ({provenance.get('kernels_fitted_on', 'measured')})"
    )
    # What was taken from another device's profile says so (the H100's framework kernels,
    # grouped expert GEMMs and host times came from the H200's).
    borrowed = provenance.get("transferred_from") or provenance.get("kernels_from")
    return f"{text}; some curves from {borrowed}" if borrowed else text


def engine_catalog(engine: str | None = None) -> list[dict[str, Any]]:
    """One row per shipped profile (of `engine` only, where given), by engine then device."""
    profiles = engine_profiles()
    shipped = [name for name in ENGINE_NAMES if name in profiles]
    if engine is not None:
        engine = str(engine_name(engine))
        if engine not in profiles:
            raise InvalidInputError("engine", engine, f"one of {', '.join(shipped)}")
    rows = []
    for name in shipped if engine is None else [engine]:
        for device in profiles[name]:
            facts = profile_facts(name, device)
            versions = engine_versions(name, device)
            provenance: dict[str, str] = facts["provenance"]  # type: ignore[assignment]
            newest: str | None = facts["engine_version"]  # type: ignore[assignment]
            scheduler = preset_for(name, catalog()[device]) if name in PRESETS else None
            checked = engine_group(name, device)
            # TTFT fell apart between the architectures (docs/engines.md): each its own.
            kinds = {kind: engine_group(name, device, kind) for kind in ARCHITECTURES}
            rows.append(
                {
                    "engine": name,
                    "device": device,
                    "release": _release(name, provenance, newest),
                    "older_releases": [v for v in versions if v != newest],
                    "source": _source(provenance),
                    "fitted": (provenance.get("fit_date") or provenance.get("date", ""))[:10]
                    or None,
                    "memory_fraction": facts["memory_fraction"],
                    "memory_fraction_of": facts["memory_fraction_of"],
                    "max_tokens": scheduler.max_tokens if scheduler else None,
                    "max_batch": scheduler.max_batch if scheduler else None,
                    # Measured with the engine itself (docs/engines-measured.md), else None.
                    "host_per_request": (
                        DEFAULTS[name].host_per_request if name in DEFAULTS else None
                    ),
                    # The host's launch of a prefill run without CUDA graphs, per layer and
                    # more per mixture-of-experts layer, where measured (else None).
                    "eager_host_per_layer": (
                        DEFAULTS[name].eager_host_per_layer if name in DEFAULTS else None
                    ),
                    "eager_host_per_moe_layer": (
                        DEFAULTS[name].eager_host_per_moe_layer if name in DEFAULTS else None
                    ),
                    "validated_runs": checked["runs"] if checked else 0,
                    "ttft_error": checked["ttft_error"] if checked else None,
                    "tpot_error": checked["tpot_error"] if checked else None,
                    **{
                        f"{kind.lower()}_{key}": (group[key] if group else default)
                        for kind, group in kinds.items()
                        for key, default in (("runs", 0), ("ttft_error", None))
                    },
                }
            )
    return rows
