"""The simulator from a model name, a device name and analyzer options, as `rooflens.analyze`
takes them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rooflens.api import DeviceLike, ModelLike, resolve, with_prefill_graphs
from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig
from rooflens.serving.presets import PRESETS, preset_for, scheduler_with
from rooflens.serving.results import SimulationResult
from rooflens.serving.simulate import (
    CapacityResult,
    Progress,
    check_expert_groups,
    check_scheduler,
    deployment,
    find_capacity,
    run,
)
from rooflens.serving.workload import (
    Requests,
    Workload,
    default_workload,
    fitted_to,
    load_trace,
)
from rooflens.settings import Settings, engine_name, parse_settings, plain

_TYPES: dict[str, tuple[type, str]] = {
    "scheduler": (SchedulerConfig, "a SchedulerConfig"),
    "cluster": (ClusterConfig, "a ClusterConfig"),
    "slo": (SLO, "an SLO"),
    "preset": (str, "an engine name: " + ", ".join(PRESETS)),
}


def _check_types(progress: object = None, **values: object) -> None:
    """Keywords of the serving entries are their declared type or None; `progress` a
    callable (checked before the run, not when it first reports)."""
    for field, value in values.items():
        kind, accepted = _TYPES[field]
        if value is not None and not isinstance(value, kind):
            raise InvalidInputError(field, value, f"{accepted} or None")
    if progress is not None and not callable(progress):
        raise InvalidInputError("progress", progress, "a callable taking a count, or None")


def _analysis_settings(options: dict[str, object]) -> dict[str, object]:
    """The analyzer's settings among a serving entry's keywords: a scheduler's or cluster's
    field given there is named with where it goes (the command line takes both alike)."""
    for field, value in options.items():
        for kind, where in ((SchedulerConfig, "scheduler"), (ClusterConfig, "cluster")):
            if field in kind.model_fields:
                raise InvalidInputError(
                    field, value, f"given in {where}={kind.__name__}({field}=...), not alone"
                )
    return options


def _requests(workload: Workload | Requests | str | Path) -> Requests:
    if isinstance(workload, Workload):
        return workload.draw()
    if isinstance(workload, Requests):
        return workload
    if isinstance(workload, str | Path):
        return load_trace(workload)
    raise InvalidInputError("workload", workload, "a Workload, Requests or a trace file path")


def scheduler_of(
    scheduler: SchedulerConfig | None,
    preset: str | None,
    device: Device,
    engine: object = None,
    model: ModelSpec | None = None,
    version: str | None = None,
) -> SchedulerConfig | None:
    """The scheduler a run uses: an engine's preset (sized for `device`, its KV block for
    `model`) with the settings given explicitly in `scheduler` (its fields set by the caller)
    in place of the preset's. Without a preset, an `engine` that has one (vllm, sglang,
    trtllm) brings its own, at its release `version` (the settings' engine_version); another
    engine's preset is that engine's newest release's (`version` is the settings' engine's:
    SGLang's 0.5.14 read as vLLM's had turned vLLM's async scheduling off)."""
    if preset is None and engine in PRESETS:
        preset = str(engine)
    if preset is None:
        return scheduler
    if engine_name(preset) != engine:
        version = None
    if scheduler is None:
        return preset_for(preset, device, model, version)
    chosen = {k: getattr(scheduler, k) for k in scheduler.model_fields_set}
    return scheduler_with(preset, device, chosen, model, version)


def closed_loop_requests(workload: Workload | Requests | str | Path, clients: int) -> Requests:
    """Requests for a closed loop of `clients`: lengths only, so a workload that sets
    arrivals is refused, and at least one request per client."""
    if isinstance(workload, Workload) and "arrivals" in workload.model_fields_set:
        raise InvalidInputError(
            "concurrency", clients, "no concurrency beside an arrival rate (one or the other)"
        )
    requests = _requests(workload)
    if isinstance(workload, Workload):
        requests = Requests(
            0 * requests.arrival, requests.prompt, requests.output, requests.shared_prefix
        )
    elif requests.arrival.any():
        raise InvalidInputError(
            "concurrency",
            clients,
            "no concurrency beside a trace's arrival times, or a trace whose arrivals are all "
            "0 (the closed loop sends each client's next request on its last one's answer)",
        )
    if len(requests) < clients:
        # Fewer requests than clients would run as fewer clients than asked for.
        raise InvalidInputError(
            "concurrency",
            clients,
            f"at most the {len(requests)} requests simulated (each client sends one at least)",
        )
    return requests


# Each entry's own keywords besides the analyzer's settings (its signature's, which a test
# holds them to), which a misspelt keyword's refusal offers too.
SIMULATE_KEYWORDS = (
    "workload", "scheduler", "cluster", "slo", "progress", "concurrency", "preset",
)  # fmt: skip
CHECK_KEYWORDS = tuple(k for k in SIMULATE_KEYWORDS if k not in ("slo", "progress"))
CAPACITY_KEYWORDS = (
    "workload", "slo", "scheduler", "cluster", "tolerance", "progress", "preset",
)  # fmt: skip


def simulate(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload | Requests | str | Path | None = None,
    *,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    slo: SLO | None = None,
    progress: Progress = None,
    concurrency: int | None = None,
    preset: str | None = None,
    **options: object,
) -> SimulationResult:
    """Serve a workload (synthetic, drawn requests, or a CSV/JSONL trace) with `model` on
    replicas of `hardware`; analyzer options (w_bits, flash_attention, tp, ep, calibration …)
    price every iteration.

    `concurrency=C`: C clients in a closed loop, each sending its next request when its last
    one finishes (vLLM's benchmark_serving --max-concurrency); exclusive with an arrival rate.
    `preset`: an engine's scheduler defaults ('vllm', 'sglang', 'trtllm'); the fields set in
    `scheduler` override it."""
    _check_types(progress, scheduler=scheduler, cluster=cluster, slo=slo, preset=preset)
    run_of = _simulation(
        model, hardware, workload, scheduler, cluster, concurrency, preset, options
    )
    result = run(*run_of.args, run_of.scheduler, cluster, slo, progress, concurrency=run_of.clients)
    return _with_preset_note(result, preset, run_of.args[2])


def _with_preset_note(
    result: SimulationResult, preset: str | None, options: AnalysisOptions
) -> SimulationResult:
    """`result` with a note where its scheduler is another engine's preset than the engine
    whose profile priced it (`--engine vllm --preset sglang`): a what-if the header's
    estimate alone would not show."""
    own = getattr(options.calibration, "engine", None)
    asked = engine_name(preset) if preset is not None else None
    if asked is None or own not in PRESETS or asked == own:
        return result
    mixed = f"preset={asked}: {asked}'s scheduler with {own}'s profile, kernels and memory share"
    return replace(result, notes=(*result.notes, mixed))


def check_simulation(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload | Requests | str | Path | None = None,
    *,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    concurrency: int | None = None,
    preset: str | None = None,
    **options: object,
) -> None:
    """Refuse, as `simulate` would, what it would refuse before serving a request (the
    settings, the workload's lengths, memory, the pools and the scheduler's admission), in
    milliseconds: without serving anything."""
    _check_types(scheduler=scheduler, cluster=cluster, preset=preset)
    run_of = _simulation(
        model, hardware, workload, scheduler, cluster, concurrency, preset, options,
        CHECK_KEYWORDS,
    )  # fmt: skip
    deployment(*run_of.args, run_of.scheduler, cluster, concurrency=run_of.clients)


@dataclass(frozen=True)
class _Simulation:
    args: tuple[ModelSpec, Device, AnalysisOptions, Requests]
    scheduler: SchedulerConfig | None
    clients: int | None


def _simulation(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload | Requests | str | Path | None,
    scheduler: SchedulerConfig | None,
    cluster: ClusterConfig | None,
    concurrency: object,
    preset: str | None,
    options: dict[str, object],
    keywords: tuple[str, ...] = SIMULATE_KEYWORDS,
) -> _Simulation:
    """What `simulate` runs: the model, device, options and requests resolved, the scheduler
    its preset with the fields given, the clients of a closed loop."""
    concurrency = plain(concurrency)  # numpy's integers too
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool)
    ):
        raise InvalidInputError("concurrency", concurrency, "a positive integer or None")
    if concurrency is not None and concurrency < 1:  # as the bad value it is, before conflicts
        raise InvalidInputError("concurrency", concurrency, "a positive number of clients")
    # Parsed once: the engine as the settings read it (its projects' spellings too) brings its
    # scheduler.
    settings = parse_settings(_analysis_settings(options), keywords)
    spec, device, opts = resolve(model, hardware, settings)
    # The defaults fit the model's positions, unless it is to be simulated beyond them.
    room = None if settings.allow_long_context else spec.max_positions
    load = default_workload(room) if workload is None else workload
    if isinstance(load, Workload):
        load = fitted_to(load, room)
    requests = _requests(load) if concurrency is None else closed_loop_requests(load, concurrency)
    sched = scheduler_run(scheduler, preset, settings, spec, device)
    check_expert_groups(spec, opts, cluster or ClusterConfig())
    opts = _served_graphs(opts, settings, spec, device, sched, cluster)
    return _Simulation((spec, device, opts, requests), sched, concurrency)


def scheduler_run(
    scheduler: SchedulerConfig | None,
    preset: str | None,
    settings: Settings,
    spec: ModelSpec,
    device: Device,
) -> SchedulerConfig | None:
    """The scheduler a run takes (`scheduler_of`, with the settings' engine and release),
    refused where a setting given would not be read or its settings contradict each other."""
    sched = scheduler_of(scheduler, preset, device, settings.engine, spec, settings.engine_version)
    _check_read(scheduler, sched)
    if sched is not None:
        check_scheduler(sched)
    return sched


def _served_graphs(
    options: AnalysisOptions,
    settings: Settings,
    spec: ModelSpec,
    device: Device,
    scheduler: SchedulerConfig | None,
    cluster: ClusterConfig | None,
) -> AnalysisOptions:
    """The engine's prefill graphs as it serves (rooflens.api.with_prefill_graphs): none
    where it drafts or disaggregates and its release turns them off then, and as many tokens
    as the scheduler's sizes capture where they follow it (vLLM's)."""
    drafting = scheduler is not None and bool(scheduler.draft_tokens)
    disaggregated = cluster is not None and cluster.disaggregated
    return with_prefill_graphs(options, settings, spec, device, drafting, disaggregated, scheduler)


def _check_read(given: SchedulerConfig | None, used: SchedulerConfig | None) -> None:
    """Refuse a scheduler setting given in `given` that the run (`used`, with its preset)
    would not read, as SchedulerConfig refuses its siblings: nothing given is ignored in
    silence. (The state pool and KV groups are the engines' own behaviour, which a model
    without recurrent states or window layers leaves idle in them too.)"""
    if given is None or used is None:
        return
    chosen = given.model_fields_set
    if "finished_step" in chosen and given.finished_step and not used.overlap:
        raise InvalidInputError(
            "finished_step", True, "false without overlap (the overlap schedule takes that step)"
        )
    if "split_prompts" in chosen and not used.split_prompts and used.policy != "chunked":
        raise InvalidInputError(
            "split_prompts",
            False,
            "true unless policy=chunked (continuous batching runs prompts whole, or cut by "
            "chunk_size)",
        )


def capacity(
    model: ModelLike,
    hardware: DeviceLike,
    workload: Workload,
    slo: SLO,
    *,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    tolerance: float = 0.02,
    progress: Progress = None,
    preset: str | None = None,
    **options: object,
) -> CapacityResult:
    """The highest arrival rate at which the SLO's percentile of TTFT and TPOT hold."""
    if not isinstance(workload, Workload):
        raise InvalidInputError("workload", workload, "a synthetic Workload (its rate is varied)")
    if not isinstance(slo, SLO):
        raise InvalidInputError("slo", slo, "an SLO to hold the capacity to")
    _check_types(progress, scheduler=scheduler, cluster=cluster, preset=preset)
    tolerance = plain(tolerance)
    if (
        not isinstance(tolerance, int | float)
        or isinstance(tolerance, bool)
        or not 0 < tolerance < 1
    ):
        # NaN or 1 and above would end the bisection at its first bracket's low end.
        raise InvalidInputError(
            "tolerance", tolerance, "a number between 0 and 1 (the bracket's width over its top)"
        )
    settings = parse_settings(_analysis_settings(options), CAPACITY_KEYWORDS)
    spec, device, opts = resolve(model, hardware, settings)
    workload = fitted_to(workload, None if settings.allow_long_context else spec.max_positions)
    sched = scheduler_run(scheduler, preset, settings, spec, device)
    check_expert_groups(spec, opts, cluster or ClusterConfig())
    opts = _served_graphs(opts, settings, spec, device, sched, cluster)
    found = find_capacity(
        spec, device, opts, workload, slo, sched, cluster, tolerance, progress=progress
    )
    if found.result is None:
        return found
    return replace(found, result=_with_preset_note(found.result, preset, opts))
