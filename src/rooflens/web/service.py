"""What the web API computes, without HTTP: requests in, plain JSON-ready dicts out.

Models resolve only to the bundled catalog or an uploaded config held in memory, devices only to
the catalog or figures given in the request, calibration only to bundled profiles: no request
reads a file path or reaches the Hugging Face Hub (`rooflens.api.resolve_model` would do both).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from rooflens import api
from rooflens.core.analysis import default_prompt_len
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.pricing import BYTE_FIELDS
from rooflens.core.results import Analysis, compare
from rooflens.core.speculative import drafted_tokens, speculative, speculative_generation
from rooflens.hardware.catalog import (
    catalog,
    catalog_name,
    checked_tdp,
    close_names,
    device_from_dict,
    timed_figures,
)
from rooflens.models.catalog import bundled_id, bundled_models, bundled_spec, model_info
from rooflens.models.config import spec_from_config
from rooflens.views.report import ADVICE
from rooflens.web import schemas as s

Loc = tuple[str | int, ...]
SIZES = ("batch", "prompt_len", "gen_len")
# Limits on an uploaded architecture, far above any real model, so that a crafted config cannot
# make one request price an absurdly large graph.
SPEC_LIMITS = {
    "num_layers": 4096,
    "hidden_size": 1 << 18,
    "num_heads": 1 << 14,
    "head_dim": 1 << 14,
    "intermediate_size": 1 << 20,
    "vocab_size": 1 << 24,
    "num_experts": 1 << 14,
    "expert_intermediate_size": 1 << 20,
    "shared_intermediate_size": 1 << 20,
    "q_lora_rank": 1 << 18,
    "kv_lora_rank": 1 << 18,
    "embed_dim": 1 << 18,
    "v_head_dim": 1 << 14,
}
CURVE_BATCHES = tuple(2**k for k in range(11))
CURVE_PROMPTS = tuple(2**k for k in range(4, 21))


class WebInputError(Exception):
    """Bad input found past schema validation; `loc` is the path of the field in the request."""

    def __init__(self, loc: Loc, message: str, kind: str = "invalid_input") -> None:
        super().__init__(message)
        self.loc, self.message, self.kind = loc, message, kind


def _field_loc(field: str) -> Loc:
    """Where a field the core names sits in a Scenario."""
    name = field.split(" ")[0].lstrip("-").replace("-", "_")
    if name in s.Options.model_fields:
        return ("options", name)
    if name in s.Speculative.model_fields:
        return ("speculative", name)
    if name == "context":
        return ("prompt_len",)
    return (name,)


# The Python API's names of what a request names otherwise (analyze's `hardware` is the
# request's `device`), as a refusal states them.
WEB_NAMES = {"hardware": "device"}


@contextmanager
def located(
    prefix: Loc, part: str | None = None, where: Callable[[str], Loc] = _field_loc
) -> Iterator[None]:
    """Turn the core's errors into WebInputErrors that point into the request; `where` places
    a field the core names."""
    try:
        yield
    except InvalidInputError as exc:
        said = str(exc)
        if exc.field in WEB_NAMES:  # the API's name for what the request calls otherwise
            said = str(InvalidInputError(WEB_NAMES[exc.field], exc.value, exc.accepted))
        raise WebInputError(prefix + where(exc.field), said) from None
    except RooflensError as exc:
        raise WebInputError(prefix + ((part,) if part else ()), str(exc)) from None


# Models: the catalog's own lookups (bundled_id, bundled_spec), never a path or the Hub ------------
def _unknown_model(name: str) -> str:
    close = difflib.get_close_matches(name, list(bundled_models()), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"id={name!r} is invalid: expected a bundled model (GET /api/models) or an uploaded "
        f"config.json; paths and Hub ids are not read{hint}"
    )


def spec_from_upload(config: Mapping[str, Any], name: str, loc: Loc) -> ModelSpec:
    """A config.json parsed into a ModelSpec in memory; nothing is written or executed."""
    try:
        spec = spec_from_config(config, name=name or "uploaded")
    except RooflensError as exc:
        raise WebInputError((*loc, "config"), str(exc)) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as exc:
        # spec_from_config trusts a config's types (e.g. integer division of sizes); a crafted
        # upload can break that, which is bad input, not a server fault.
        raise WebInputError(
            (*loc, "config"),
            f"config is not a usable config.json: {type(exc).__name__}: {exc}"[:300],
        ) from None
    for field, top in SPEC_LIMITS.items():
        value = getattr(spec, field)
        if value is not None and value > top:
            raise WebInputError(
                (*loc, "config"),
                f"config: {field}={value} (as rooflens reads the config) is invalid: expected "
                f"at most {top:,} in the viewer (its cap on work; the command line takes more)",
            )
    return spec


def resolve_model(ref: s.ModelRef, loc: Loc) -> ModelSpec:
    if ref.config is not None:
        return spec_from_upload(ref.config, ref.name, loc)
    found = bundled_id(ref.id or "")
    if found is None:
        raise WebInputError((*loc, "id"), _unknown_model(ref.id or ""))
    return bundled_spec(found)


def resolve_draft(name: str | None, loc: Loc) -> ModelSpec | None:
    if name is None:
        return None
    found = bundled_id(name)
    if found is None:
        raise WebInputError(loc, _unknown_model(name).replace("id=", "draft=", 1))
    return bundled_spec(found)


@cache
def model_catalog() -> tuple[dict[str, Any], ...]:
    return tuple(model_info(bundled_spec(i), i) for i in sorted(bundled_models(), key=str.lower))


def search_models(query: str, limit: int) -> list[dict[str, Any]]:
    words = query.lower().split()
    return [
        m
        for m in model_catalog()
        if all(w in f"{m['id']} {m['model_type']}".lower() for w in words)
    ][:limit]


# Devices: the catalog's name and alias lookup, never a file ------------------------------------
def catalog_device(name: str, loc: Loc) -> Device:
    """The catalog device a name or alias means; `loc` is where the name sits."""
    found = catalog_name(name)
    if found is None:
        close = close_names(name)  # read against aliases and display names too
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise WebInputError(
            loc,
            f"{loc[-1]}={name!r} is invalid: expected a catalog device (GET /api/devices){hint}",
        )
    return catalog()[found]


def resolve_device(ref: s.DeviceRef, loc: Loc) -> Device:
    peaks = {str(k): float(v) for k, v in ref.peak_ops.items()}
    if ref.name is None:
        data: dict[str, Any] = {"name": "custom", "peak_ops": {}}
    else:
        base = catalog_device(ref.name, (*loc, "name"))
        try:
            checked_tdp("tdp", ref.tdp, base)
        except InvalidInputError as exc:
            raise WebInputError((*loc, "tdp"), str(exc)) from None
        if (ref.memory_bandwidth, ref.memory_capacity, ref.tdp) == (None, None, None) and not peaks:
            return base
        data = base.model_dump()
    # Figures the timing reads: what was measured on the device (and its price) no longer
    # applies (Device.as_modified); a TDP alone keeps the device.
    if ref.memory_bandwidth is not None:
        data["memory_bandwidth"] = ref.memory_bandwidth
    if ref.memory_capacity is not None:
        data["memory_capacity"] = ref.memory_capacity
    if ref.tdp is not None:
        data["tdp"] = ref.tdp
    data["peak_ops"] = {**data["peak_ops"], **peaks}
    with located(loc, "peak_ops"):
        device = device_from_dict(data, origin="")  # the error's path names the device
    # Figures given anew (not the catalog's own again): what was measured on it no longer
    # applies; a TDP alone keeps the device.
    modified = ref.name is not None and timed_figures(device) != timed_figures(base)
    return device.as_modified() if modified else device


def device_info(device: Device) -> dict[str, Any]:
    return {
        "name": device.name,
        "display_name": device.display_name or device.name,
        "vendor": device.vendor,
        "kind": device.kind,
        "memory_capacity": device.memory_capacity,
        "memory_bandwidth": device.memory_bandwidth,
        "peak_ops": dict(device.peak_ops),
        "interconnect_bandwidth": device.interconnect_bandwidth,
        "host_bandwidth": device.host_bandwidth,
        "calibration": device.calibration,
        "hourly_price": device.hourly_price,
        "tdp": device.tdp,
    }


# Analyses --------------------------------------------------------------------------------------
def option_values(options: s.Options) -> dict[str, Any]:
    """The keyword options of `rooflens.analyze` a request's options stand for."""
    return options.model_dump(exclude_defaults=True)


def run(setup: s.Setup, loc: Loc, **sizes: Any) -> Analysis:
    """The analysis `rooflens.api.analyze` gives for this setup and these sizes."""
    model = resolve_model(setup.model, (*loc, "model"))
    device = resolve_device(setup.device, (*loc, "device"))
    with located(loc):
        return api.analyze(model, device, **sizes, **option_values(setup.options))


def with_prompt(scenario: s.Scenario, loc: Loc = ()) -> s.Scenario:
    """The scenario with its prompt length: as given, or `rooflens analyze`'s default for its
    model (2048 tokens, or what the context leaves after the generation)."""
    if scenario.prompt_len is not None:
        return scenario
    spec = resolve_model(scenario.model, (*loc, "model"))
    # With a drafter, the room a step's drafts take after the prompt, as the CLI leaves it.
    sp = scenario.speculative
    drafting = sp.draft is not None or sp.medusa_heads or sp.mtp
    drafted = drafted_tokens(drafting, sp.gamma, bool(scenario.options.allow_long_context))
    prompt = default_prompt_len(spec, scenario.gen_len, drafted)
    return scenario.model_copy(update={"prompt_len": prompt})


def _images(scenario: s.Scenario | s.SweepRequest) -> dict[str, int]:
    # Images only where given: a text-only model refuses images=0 no more than the CLI does.
    return {"images": scenario.images} if scenario.images else {}


def run_scenario(scenario: s.Scenario, loc: Loc = ()) -> Analysis:
    return run(
        scenario,
        loc,
        batch=scenario.batch,
        prompt_len=scenario.prompt_len,
        gen_len=scenario.gen_len,
        **_images(scenario),
    )


def _num(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python numbers, NaN and infinities to None."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _operators(result: Analysis) -> list[dict[str, Any]]:
    """Every stage's operator rows (Analysis.operators, in its order: stage by stage), each
    with its place in its stage, its time over all its layers and its share of the stage."""
    result._require_point("operators")
    columns = {k: [_num(v) for v in values] for k, values in api.operator_columns(result).items()}
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    stage_time: dict[str, float] = {}
    for row in rows:
        row["total_time"] = _num(row["count"] * row["time"])
        stage_time[row["stage"]] = stage_time.get(row["stage"], 0.0) + (row["total_time"] or 0.0)
    place: dict[str, int] = {}
    for row in rows:
        total = stage_time[row["stage"]]
        row["index"] = place[row["stage"]] = place.get(row["stage"], -1) + 1
        row["share"] = (
            _num(row["total_time"] / total) if total and row["total_time"] is not None else 0.0
        )
    return rows


def _totals(result: Analysis) -> dict[str, Any]:
    out = {}
    for stage, row in result.totals().items():
        keys = ("time", "ops", "memory_access", *BYTE_FIELDS, "compute_bound_time")
        out[stage] = {k: _num(row[k]) for k in keys} | {
            "bottlenecks": [
                b | {"advice": ADVICE.get(b["bound"], "")} for b in result.bottlenecks(stage)
            ]
        }
    return out


def _speculative(
    result: Analysis, spec: s.Speculative, loc: Loc, hourly_price: float | None = None
) -> dict[str, Any] | None:
    if spec.draft is None and not spec.medusa_heads and not spec.mtp:
        return None
    draft = resolve_draft(spec.draft, (*loc, "speculative", "draft"))
    with located(loc):
        estimate = speculative(
            result.model,
            result.device,
            gamma=spec.gamma,
            alpha=spec.alpha,
            draft=draft,
            medusa_heads=spec.medusa_heads,
            mtp=spec.mtp,
            tree_width=spec.tree_width,
            batch=result.batch,
            context=result.prompt_len,
            options=result.options,
        )
    out: dict[str, Any] = {k: _num(v) for k, v in estimate.to_dict().items()}
    with located(loc):
        generation = speculative_generation(
            result, float(estimate.speedup), hourly_price, float(estimate.prompt_time)
        )
    out["generation"] = None if generation is None else {k: _num(v) for k, v in generation.items()}
    return out


def _economics(result: Analysis, money: s.Economics, loc: Loc) -> dict[str, Any] | None:
    """The keys and values `rooflens analyze -f json` writes (Analysis.economics_figures):
    every figure, null where it does not apply (null altogether without a TDP or a price); a
    grid intensity for a device without a TDP is refused as the command line refuses it."""
    with located((*loc, "economics")):
        return result.economics_figures(money.hourly_price, money.grid_intensity)


def analysis_payload(
    result: Analysis, scenario: s.Scenario, loc: Loc = (), stage: str = "all"
) -> dict[str, Any]:
    every = _operators(result)
    frame_ops = every if stage == "all" else [op for op in every if op["stage"] == stage]
    dtypes = sorted({op["compute_dtype"] for op in every if op["ops"]})
    info = model_info(result.model, params=(int(result.params), int(result.active_params)))
    context = result.context()
    return {
        "model": info,
        "device": device_info(result.device),
        "estimate": result.options.estimate,
        "fallbacks": result.fallbacks,
        "notes": result.notes,
        # As `rooflens analyze -f json` states them: the sizes and the precision as run
        # (its format, groups and experts' weights too), the devices the figures are per
        # device of, an engine's activation reserve and the KV layers its groups hold.
        "inputs": context["inputs"],
        **{k: context[k] for k in ("devices", "activation_reserve_tokens", "kv_layers_held")},
        "operators": frame_ops,
        "totals": _totals(result),
        "memory": result.memory_figures(),
        "generation": None
        if result.generation is None
        else {k: _num(v) for k, v in result.generation.items()},
        "speculative": _speculative(
            result, scenario.speculative, loc, scenario.economics.hourly_price
        ),
        "economics": _economics(result, scenario.economics, loc),
        "roofline": {
            "memory_bandwidth": result.device.memory_bandwidth,
            "peaks": {d: result.device.peak_ops[d] for d in dtypes if d in result.device.peak_ops},
        },
    }


def analyze(request: s.AnalyzeRequest) -> dict[str, Any]:
    if request.stage == "vision" and not request.images:  # no image, no encoder stage
        accepted = "prefill, decode or all (vision: with images)"
        raise WebInputError(("stage",), str(InvalidInputError("stage", "vision", accepted)))
    request = with_prompt(request)
    return analysis_payload(run_scenario(request), request, stage=request.stage)


def sweep(request: s.SweepRequest) -> dict[str, Any]:
    prompts = request.prompt_len
    if prompts is None:
        spec = resolve_model(request.model, ("model",))
        prompts = [default_prompt_len(spec, request.gen_len)]
    axes = [np.array(request.batch), np.array(prompts)]
    if request.gen_len is not None:
        axes.append(np.array(request.gen_len))
    grids = np.meshgrid(*axes, indexing="ij")
    sizes = {"gen_len": None} | dict(zip(SIZES, grids, strict=False))
    result = run(request, (), **sizes, **_images(request))
    frame = result.summary()
    return {
        "estimate": result.options.estimate,
        # What `rooflens sweep -f json` says beside its rows: the curves that stood in for
        # ones the profile lacks, and what the settings changed.
        "fallbacks": result.fallbacks,
        "notes": result.notes,
        "columns": list(frame.columns),
        "rows": [{k: _num(v) for k, v in r.items()} for r in frame.to_dict(orient="records")],
    }


# The page's view -------------------------------------------------------------------------------
def _curve_values(axis: str, scenario: s.Scenario) -> list[int]:
    """Powers of two along the axis plus the scenario's own value, within what the model and
    the options accept (context length, micro-batch divisibility)."""
    if axis == "batch":
        step = scenario.options.micro_batches
        values = {b for b in CURVE_BATCHES if b % step == 0} | {scenario.batch}
        return sorted(values)
    limit = s.MAX_TOKENS
    if not scenario.options.allow_long_context:
        spec = resolve_model(scenario.model, ("model",))
        keep = scenario.options.prompt_keep
        # The images' tokens join the prompt in the context (a model refuses images it has no
        # encoder for before any curve is drawn).
        image_tokens = scenario.images * spec.vision.tokens_per_image if spec.vision else 0
        room = spec.max_positions - image_tokens - max((scenario.gen_len or 2) - 1, 1)
        limit = int(room / keep)
    return sorted({p for p in CURVE_PROMPTS if p <= limit} | {scenario.prompt_len})


def curve(scenario: s.Scenario, axis: str) -> dict[str, Any]:
    """Time per token, throughput and memory along batch or prompt length, in one pass."""
    x = _curve_values(axis, scenario)
    sizes = {"batch": scenario.batch, "prompt_len": scenario.prompt_len}
    # The scenario's images too: each point's prefill reads their tokens after the encoder.
    sizes |= {"gen_len": scenario.gen_len, axis: np.array(x), **_images(scenario)}
    empty = {"axis": axis, "x": x, "time_per_token": [], "throughput": [], "memory_total": []}
    try:
        result = run(scenario, (), **sizes)
    except WebInputError as exc:
        # The point itself analysed; a size along the axis the options cannot take leaves the
        # curve out with the reason rather than failing the whole view.
        return empty | {"fits": [], "capacity": None, "error": exc.message}
    if result.generation is not None:
        per_token, throughput = result.generation["tpot"], result.generation["throughput"]
        memory = result.memory["generation"]
    else:
        per_token = result.totals()["decode"]["time"]
        throughput = result.batch * result.options.parallelism.dp / per_token
        memory = result.memory["decode"]
    shape = (len(x),)
    return {
        "axis": axis,
        "x": x,
        "time_per_token": [_num(v) for v in np.broadcast_to(per_token, shape)],
        "throughput": [_num(v) for v in np.broadcast_to(throughput, shape)],
        "memory_total": [_num(v) for v in np.broadcast_to(memory.total, shape)],
        "fits": [bool(v) for v in np.broadcast_to(memory.fits, shape)],
        "capacity": _num(float(np.max(memory.capacity))),
        "error": None,
    }


def compare_payload(a: Analysis, b: Analysis) -> dict[str, Any]:
    frame = compare(a, b)
    # What priced each side, where the sides differ in it (an engine beside the roofline).
    priced = a.options.estimate != b.options.estimate
    return {
        "rows": [{k: _num(v) for k, v in r.items()} for r in frame.to_dict(orient="records")],
        **{
            side: f"{r.model.name} on {r.device.name}" + (f", {r.options.estimate}" * priced)
            for side, r in (("a", a), ("b", b))
        },
        # What priced each side, always (the labels name it only where the sides differ).
        "a_estimate": a.options.estimate,
        "b_estimate": b.options.estimate,
    }


def compare_request(request: s.CompareRequest) -> dict[str, Any]:
    a, b = with_prompt(request.a, ("a",)), with_prompt(request.b, ("b",))
    return compare_payload(run_scenario(a, ("a",)), run_scenario(b, ("b",)))


def view(request: s.ViewRequest) -> dict[str, Any]:
    scenarios: dict[str, s.Scenario] = {"a": with_prompt(request.a, ("a",))}
    if request.b is not None:
        scenarios["b"] = with_prompt(request.b, ("b",))
    results = {k: run_scenario(v, (k,)) for k, v in scenarios.items()}
    shown = request.show if request.show in results else "a"
    curves = {
        axis: {k: curve(v, axis) for k, v in scenarios.items()} for axis in ("batch", "prompt_len")
    }
    return {
        "analysis": analysis_payload(results[shown], scenarios[shown], (shown,)),
        "curves": curves,
        "compare": compare_payload(results["a"], results["b"]) if "b" in results else None,
    }


def upload(request: s.UploadRequest) -> dict[str, Any]:
    return model_info(spec_from_upload(request.config, request.name, ()))


def devices() -> list[dict[str, Any]]:
    return [device_info(d) for d in catalog().values()]
