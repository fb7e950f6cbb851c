"""What the serving and advisor pages compute, without HTTP: a simulation (and its capacity
search) and a hardware search, from validated requests, as JSON-ready dicts.

Both run the same code as `rooflens.simulate`, `rooflens.capacity` and `rooflens.advise`; the
web adds caps on the work one request may ask for, counted in engine iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel

from rooflens import api
from rooflens.advisor import search
from rooflens.advisor.choices import COUNT_COLUMNS
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.serving import api as serving
from rooflens.serving import defaults
from rooflens.serving.config import SchedulerConfig
from rooflens.serving.presets import PRESETS
from rooflens.serving.results import LATENCIES, SimulationResult
from rooflens.serving.simulate import check_context, check_expert_groups, pools
from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Requests, Workload
from rooflens.settings import parse_settings
from rooflens.web import schemas as s
from rooflens.web.service import (
    Loc,
    WebInputError,
    _field_loc,
    _num,
    catalog_device,
    located,
    option_values,
    resolve_device,
    resolve_model,
)

TIMELINE_POINTS = 400
# A capacity search's most probes (find_capacity's max_probes): the total its progress counts to.
CAPACITY_PROBES = 24
# Fewer requests than this make a capacity search's or a confirmation's percentiles noise.
MIN_REQUESTS = 20
QUANTILES = np.linspace(0.0, 1.0, 101)
# Where a field the simulator or the advisor names sits in their requests, first match wins.
SIMULATE_SECTIONS: dict[str, type[BaseModel]] = {
    "workload": s.WorkloadIn,
    "scheduler": s.SchedulerIn,
    "cluster": s.ClusterIn,
    "slo": s.SLOIn,
}
ADVISE_SECTIONS: dict[str, type[BaseModel]] = {
    "target": s.TargetIn,
    "slo": s.SLOIn,
    "": s.AdviseRequest,
}
ALIASES: dict[str, Loc] = {"hardware": ("device",), "arrival_time": ("workload", "rate")}


class Tracker(Protocol):
    """Where a run reports its progress (a background job, web/jobs.py); reporting to a
    cancelled job raises, which stops the run."""

    def start_phase(self, phase: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class Untracked:
    """Progress reported nowhere (a plain request)."""

    def start_phase(self, phase: str, total: int) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None


def _where(sections: dict[str, type[BaseModel]], field: str) -> Loc:
    name = field.split(" ")[0].lstrip("-").replace("-", "_")
    for section, model in sections.items():
        if name in model.model_fields:
            return (section, name) if section else (name,)
    return ALIASES.get(name) or _field_loc(field)


def _placed(sections: dict[str, type[BaseModel]]) -> Callable[[str], Loc]:
    return partial(_where, sections)


# Simulation ------------------------------------------------------------------------------------
# The workload's fields that set arrivals, which a closed loop (workload.concurrency) has none of.
ARRIVAL_FIELDS = ("rate", "arrivals", "cv")


def lengths_of(request: s.SimulateRequest, model: ModelSpec) -> tuple[str, str]:
    """The prompt and output lengths as text: as given, the defaults fitted to the model's
    positions as the CLI fits them (kept whole where it is simulated beyond them)."""
    return _lengths(request.workload, request.options, model)


def _lengths(spec: s.WorkloadIn, options: s.Options, model: ModelSpec) -> tuple[str, str]:
    long_context = bool(getattr(options, "allow_long_context", False))
    context = None if long_context else model.max_positions
    return defaults.default_lengths(context, spec.prompt, spec.output, spec.shared_prefix)


def workload_of(spec: s.WorkloadIn, lengths: tuple[str, str] | None = None) -> Workload:
    """The simulator's Workload for the request's (lengths as text, like the CLI's; `lengths`:
    them as fitted, lengths_of)."""
    prompt, output = lengths or (spec.prompt, spec.output)
    return Workload(
        requests=spec.requests,
        arrivals=ArrivalProcess(kind=spec.arrivals, rate=spec.rate, cv=spec.cv),
        prompt=LengthDistribution.parse("prompt", prompt),
        output=LengthDistribution.parse("output", output),
        shared_prefix=spec.shared_prefix,
        seed=spec.seed,
    )


def iterations_at_worst(requests: Requests, scheduler: SchedulerConfig) -> int:
    """Engine iterations if every request ran alone: one per output token, one per prompt
    chunk as the engine cuts prompts (`prompt_chunk`; one a prompt where it runs whole). The
    simulator's cost is about proportional to its iterations."""
    size = scheduler.prompt_chunk
    chunks = len(requests) if size is None else int(np.ceil(requests.prompt / size).sum())
    return int(requests.output.sum()) + chunks


def _too_much(
    requests: Requests, work: int, cap: int, what: str, scheduler: SchedulerConfig
) -> WebInputError:
    # Larger chunks are a way out only where prompts are cut (not static batching's).
    ways = "fewer requests or shorter outputs"
    if scheduler.prompt_chunk is not None:
        ways = "fewer requests, shorter outputs or larger prompt chunks"
    return WebInputError(
        ("workload", "requests"),
        f"workload.requests={len(requests)} is invalid: these requests could take {work:,} "
        f"engine iterations (output tokens + prompt chunks), and {what} in the viewer takes "
        f"at most {cap:,}; use {ways} (the CLI has no cap)",
        "too_much_work",
    )


def _within_viewer_context(requests: Requests, request: s.SimulateRequest) -> None:
    longest = int((requests.prompt + requests.output).max())
    if longest > s.MAX_SIMULATED_CONTEXT:
        # The simulator tabulates one sequence's cost at every context up to the longest.
        raise WebInputError(
            ("workload", "prompt"),
            f"prompt={request.workload.prompt!r} is invalid: a request reaches {longest} "
            f"tokens (prompt + output), and the viewer simulates at most "
            f"{s.MAX_SIMULATED_CONTEXT}; the CLI has no cap",
        )


def _check_work(requests: Requests, scheduler: SchedulerConfig) -> None:
    work = iterations_at_worst(requests, scheduler)
    if work > s.MAX_ITERATIONS:
        raise _too_much(requests, work, s.MAX_ITERATIONS, "one simulation", scheduler)


def _scheduler_run(request: s.SimulateRequest, model: ModelSpec, device: Device) -> SchedulerConfig:
    """The scheduler the run takes (`serving.scheduler_run`: the preset asked for, else the
    options' engine's, with the fields given in its place), its settings checked together."""
    settings = parse_settings(option_values(request.options))
    spec, device, _ = api.resolve(model, device, settings)
    ran = serving.scheduler_run(request.scheduler, request.preset, settings, spec, device)
    return ran or request.scheduler


def capacity_workload(workload: Workload, scheduler: SchedulerConfig) -> Workload:
    """The workload a capacity search in the viewer probes with: the same distributions,
    with as many requests as fit the cap on one probe (a search runs a dozen or more)."""
    cap = s.MAX_CAPACITY_ITERATIONS
    for _ in range(4):
        requests = workload.draw()
        work = iterations_at_worst(requests, scheduler)
        if work <= cap:
            return workload
        fewer = int(len(requests) * cap / work * 0.95)
        if fewer < MIN_REQUESTS:
            raise _too_much(
                requests,
                work,
                cap,
                f"a capacity search's probe of at least {MIN_REQUESTS} requests",
                scheduler,
            )
        workload = workload.model_copy(update={"requests": fewer})
    return workload


def _timeline(result: SimulationResult, points: int = TIMELINE_POINTS) -> dict[str, list[float]]:
    """Running and waiting requests and KV use summed over engines on an even time grid; an
    engine between iterations is idle (nothing running, waiting or cached)."""
    line = result.timeline
    end = float((line["start"] + line["duration"]).max()) if len(line) else 0.0
    grid = np.linspace(0.0, end, points)
    running, waiting, kv = (np.zeros(points) for _ in range(3))
    for _, rows in line.groupby("engine"):
        rows = rows.sort_values("start", kind="stable")
        start = rows["start"].to_numpy()
        at = np.searchsorted(start, grid, side="right") - 1
        busy = (at >= 0) & (grid <= start[at.clip(0)] + rows["duration"].to_numpy()[at.clip(0)])
        for total, column in ((running, "running"), (waiting, "waiting"), (kv, "kv_tokens")):
            total += np.where(busy, rows[column].to_numpy()[at.clip(0)], 0.0)
    # Of the pools' KV tokens together (a disaggregated cluster's prefill and decode engines
    # hold different amounts).
    capacity = sum(result.engine_kv_capacity[int(e)] for e in line["engine"].unique())
    return {
        "time": grid.tolist(),
        "running": running.tolist(),
        "waiting": waiting.tolist(),
        "kv_share": (kv / max(capacity, 1)).tolist(),
    }


def _widths(request: s.SimulateRequest) -> str:
    """The tensor parallelism of the setup's label: each pool's where they are disaggregated."""
    tp, cluster = request.options.tp, request.cluster
    if cluster.disaggregated:
        prefill, decode = cluster.prefill_tp or tp, cluster.decode_tp or tp
        return f" (prefill TP={prefill}, decode TP={decode})"
    return f" (TP={tp})" if tp > 1 else ""


def _distribution(values: pd.Series) -> dict[str, list[Any]]:
    kept = values.dropna().to_numpy()
    seconds = np.quantile(kept, QUANTILES) if kept.size else np.full(QUANTILES.size, np.nan)
    return {"share": QUANTILES.tolist(), "seconds": [_num(float(v)) for v in seconds]}


def simulation_input(request: s.SimulateRequest) -> tuple[ModelSpec, Device, Workload, Requests]:
    """What a simulation request runs, checked as a job's POST answers before it starts (a
    422, not a job that fails): the model, the device, the workload and its requests."""
    model = resolve_model(request.model, ("model",))
    device = resolve_device(request.device, ("device",))
    workload, requests = _checked_requests(request, model, device)
    return model, device, workload, requests


def checked_simulation(request: s.SimulateRequest) -> None:
    """A simulation request refused, before a job runs it, wherever its run would refuse it
    before serving a request (`serving.check_simulation`: memory, the pools, the context and
    the cluster too), as the plain endpoint answers (a 422, not a job that fails)."""
    model, device, _, requests = simulation_input(request)
    with located((), where=_placed(SIMULATE_SECTIONS)):
        serving.check_simulation(
            model, device, requests, scheduler=request.scheduler, cluster=request.cluster,
            concurrency=request.workload.concurrency, preset=request.preset,
            **option_values(request.options),
        )  # fmt: skip


def _checked_requests(
    request: s.SimulateRequest, model: ModelSpec, device: Device
) -> tuple[Workload, Requests]:
    """The request's workload and the requests it draws, refused where its run would be."""
    with located((), where=_placed(SIMULATE_SECTIONS)):
        workload = workload_of(request.workload, lengths_of(request, model))
        requests = workload.draw()
        _within_viewer_context(requests, request)
        # The options as every iteration's analysis reads them (a tp the model's heads do not
        # split, a group size its weights cannot take): one step of one token, milliseconds.
        api.analyze(model, device, batch=1, prompt_len=1, **option_values(request.options))
        # The scheduler's own rules before the cap its token budget sets (max_tokens=1 had
        # been refused as too many iterations for workload.requests).
        _check_work(requests, _scheduler_run(request, model, device))
    clients = request.workload.concurrency
    if clients is not None:
        if request.capacity:
            raise WebInputError(
                ("workload", "concurrency"),
                f"workload.concurrency={clients} is invalid: a closed loop has no arrival "
                "rate for the capacity search to raise; leave it empty or search no capacity",
            )
        arrivals = [k for k in ARRIVAL_FIELDS if k in request.workload.model_fields_set]
        if arrivals:
            given = getattr(request.workload, arrivals[0])
            raise WebInputError(
                ("workload", arrivals[0]),
                f"workload.{arrivals[0]}={given!r} is invalid: no arrivals beside "
                "workload.concurrency (the closed loop sends each client's next request on "
                "its last one's answer); leave it out, or leave out the concurrency",
            )
        # The clients send each request when their last is answered: lengths only.
        lengths = Requests(
            np.zeros(len(requests)), requests.prompt, requests.output, requests.shared_prefix
        )
        with located((), where=_placed(SIMULATE_SECTIONS)):
            requests = serving.closed_loop_requests(lengths, clients)
    return workload, requests


def simulate(request: s.SimulateRequest, track: Tracker | None = None) -> dict[str, Any]:
    track = track or Untracked()
    model, device, workload, requests = simulation_input(request)
    options = option_values(request.options)
    clients = request.workload.concurrency
    with located((), where=_placed(SIMULATE_SECTIONS)):
        settings = {
            "scheduler": request.scheduler,
            "cluster": request.cluster,
            "preset": request.preset,
        }
        track.start_phase("simulating requests", len(requests))
        result = serving.simulate(
            model, device, requests, slo=request.slo, progress=track.advance,
            concurrency=clients, **settings, **options,
        )  # fmt: skip
        probed = None
        if request.capacity:
            probed = capacity_workload(workload, _scheduler_run(request, model, device))
        found = None
        if probed is not None:
            track.start_phase("searching the capacity (probes)", CAPACITY_PROBES)
            found = serving.capacity(
                model, device, probed, request.slo, progress=track.advance, **settings,
                **options,
            )  # fmt: skip
    prompt, output = lengths_of(request, model)
    return {
        "setup": f"{model.name} on {device.name}{_widths(request)}",
        # The lengths drawn from, as the CLI's workload line gives them (a short-context
        # model's defaults fitted to it).
        "lengths": {"prompt": prompt, "output": output},
        "summary": {k: _num(v) for k, v in result.summary().items()},
        **result.deployment(),
        "slo": request.slo.model_dump(),
        "timeline": _timeline(result),
        "latencies": {m: _distribution(result.requests[m]) for m in LATENCIES},
        "capacity": None
        if found is None
        else {
            # No number where the search could not find one (a load that is one burst).
            "rate": _num(found.rate),
            "warning": found.warning,
            "requests": probed.requests,
            "probes": [
                {k: _num(v) for k, v in row.items()}
                for row in found.probes.to_dict(orient="records")
            ],
        },
    }


# The sections of a simulation request whose fields a run refuses on the replicas it builds
# (prepare's checks across the scheduler's fields); others (a model that leaves no room for a
# KV cache on the device) leave the scheduler shown as it is, and the run says why.
REFUSED_ON_REPLICAS = ("scheduler", "workload", "cluster")


def _as_run(
    scheduler: SchedulerConfig,
    spec: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    cluster: s.ClusterIn,
    requests: Requests,
) -> SchedulerConfig:
    """`scheduler` as a run holds its batch on the replicas it builds for these requests and
    this cluster (SGLang's request pool and hybrids' state pools,
    `rooflens.serving.simulate.pools`), refused as the run refuses its fields (max_tokens
    below max_batch); as it is where the replicas cannot be built for another reason."""
    longest = int((requests.prompt + requests.output).max())
    try:
        check_context(spec, options, longest)
        return pools(
            spec, device, options, scheduler, cluster, longest, int(requests.prompt.max())
        )[2]
    except InvalidInputError as exc:
        loc = _where(SIMULATE_SECTIONS, exc.field)
        if loc[0] in REFUSED_ON_REPLICAS:
            raise WebInputError(loc, str(exc)) from None
        return scheduler
    except RooflensError:
        return scheduler


def scheduler_used(request: s.SchedulerRequest) -> dict[str, Any]:
    """The scheduler a simulation with these settings runs, resolved as `serving.simulate`
    resolves it (the device with its what-ifs, the model as served) and held to the replicas
    `run` builds for the workload and cluster (SGLang's request and state pools): the engine's
    preset with the fields given in its place; and the preset alone, what a field not given
    runs at. A workload, cluster or scheduler the run would refuse is refused alike (422
    naming the field), not shown as the defaults' scheduler."""
    model = resolve_model(request.model, ("model",))
    device = resolve_device(request.device, ("device",))
    cluster = request.cluster or s.ClusterIn()
    run = s.SimulateRequest.model_construct(
        model=request.model,
        device=request.device,
        options=request.options,
        preset=request.preset,
        workload=request.workload or s.WorkloadIn(),
        scheduler=request.scheduler,
        cluster=cluster,
    )
    _, requests = _checked_requests(run, model, device)
    with located((), where=_placed(SIMULATE_SECTIONS)):
        settings = parse_settings(option_values(request.options))
        spec, device, options = api.resolve(model, device, settings)
        check_expert_groups(spec, options, cluster)
        # The preset asked for, else the options' engine's (serving.scheduler_of's order).
        engine = request.preset or (settings.engine if settings.engine in PRESETS else None)
        given = request.scheduler.model_fields_set
        ran = (request.preset, device, settings.engine, spec, settings.engine_version)
        preset = serving.scheduler_of(None, *ran) or s.SchedulerIn()
        used = serving.scheduler_of(request.scheduler, *ran) or request.scheduler
    preset = _as_run(preset, spec, device, options, cluster, requests)
    used = preset if not given else _as_run(used, spec, device, options, cluster, requests)
    return {"engine": engine, "preset": preset.model_dump(), "scheduler": used.model_dump()}


# The advisor -----------------------------------------------------------------------------------
def _pool(request: s.AdviseRequest) -> list[Device]:
    """The devices searched, with the request's prices; unpriced ones stay unpriced."""
    # Catalog name -> (the name as given, its price).
    given = {
        catalog_device(name, ("hourly_prices", name)).name: (name, price)
        for name, price in request.hourly_prices.items()
    }
    prices = {key: price for key, (_, price) in given.items()}
    named = None
    if request.devices is not None:
        named = [catalog_device(name, ("devices", i)) for i, name in enumerate(request.devices)]
    pool = search.priced_pool(named, request.engine, prices)
    outside = search.unsearched_price(pool, given)
    if outside is not None:
        name, price, accepted = outside
        raise WebInputError(
            ("hourly_prices", name), f"{name}={price} is invalid: expected {accepted}"
        )
    return pool


def _verified_requests(target: s.TargetIn, picks: int) -> int:
    """Requests each confirming simulation runs: as many as the CLI's, fewer for long answers
    so that the picks together stay within the viewer's iteration cap."""
    return min(search.VERIFY_REQUESTS, s.MAX_ITERATIONS // (picks * target.output_len))


def _pick(advice: search.Advice, row: pd.Series) -> dict[str, Any]:
    keys = s.Pick.model_fields.keys() - {"explanation"}
    out = {k: _num(row[k]) if k in row else None for k in keys}
    for k in COUNT_COLUMNS:
        if k in keys:
            out[k] = int(row[k])
    out["pareto"] = bool(row["pareto"])
    out["verified"] = None if pd.isna(row.get("verified", pd.NA)) else bool(row["verified"])
    return out | {"explanation": advice.explain(row)}


def advice_input(request: s.AdviseRequest) -> tuple[ModelSpec, list[Device]]:
    """What an advice request searches, checked as a job's POST answers before it starts (a
    422, not a job that fails): the model and the devices."""
    model = resolve_model(request.model, ("model",))
    pool = _pool(request)
    with located((), where=_placed(ADVISE_SECTIONS)):
        # The search's own checks (no device, a release without an engine, an engine without
        # a profile for any device searched, a context past the model's), as the search runs
        # them: before the viewer's cap on confirming, which a context too long for the model
        # would otherwise be blamed on.
        search.plan_advice(
            model, request.target, request.slo, devices=pool, tps=request.tp, pps=request.pp,
            weights=request.weights, kv_bits=request.kv_bits, experts=request.experts,
            rank=request.rank, budget=request.budget, engine=request.engine,
            engine_version=request.engine_version,
        )  # fmt: skip
    if request.verify and _verified_requests(request.target, request.verify) < MIN_REQUESTS:
        raise WebInputError(
            ("verify",),
            f"verify={request.verify} is invalid: answers of {request.target.output_len} "
            "tokens are too long to confirm in the viewer; expected 0",
        )
    return model, pool


def advise(request: s.AdviseRequest, track: Tracker | None = None) -> dict[str, Any]:
    track = track or Untracked()
    model, pool = advice_input(request)
    with located((), where=_placed(ADVISE_SECTIONS)):
        setups = search.candidates(
            pool, request.tp, request.weights, request.kv_bits, request.pp, model, request.experts
        )
        track.start_phase("screening setups", len(setups))
        advice = search.advise(
            model,
            request.target,
            request.slo,
            devices=pool,
            tps=request.tp,
            pps=request.pp,
            weights=request.weights,
            kv_bits=request.kv_bits,
            experts=request.experts,
            rank=request.rank,
            budget=request.budget,
            progress=track.advance,
            engine=request.engine,
            engine_version=request.engine_version,
        )
        if request.verify:
            # One step a pick simulated: a cancel is seen between them.
            runs = len(search.picks_to_verify(advice.table, request.verify))
            track.start_phase("confirming the top picks in the simulator", runs)
            requests = _verified_requests(request.target, request.verify)
            advice = search.verify(
                advice, model, top=request.verify, requests=requests, progress=track.advance
            )
    table = advice.table
    feasible = advice.feasible
    # Where no setup was analysed (each refused before pricing), the table lacks their columns.
    points = feasible.reindex(columns=list(s.SetupPoint.model_fields))
    return {
        "model": model.name,
        "rank": request.rank,
        "estimate": advice.estimate,
        "screened": len(table),
        "feasible": len(feasible),
        "picks": [_pick(advice, row) for _, row in advice.top(request.top).iterrows()],
        "verify_requests": advice.verify_requests,
        "points": [{k: _num(v) for k, v in r.items()} for r in points.to_dict(orient="records")],
        "rejected": advice.rejections(),
        "validation": advice.measured_runs(advice.top(request.top), model),
    }
