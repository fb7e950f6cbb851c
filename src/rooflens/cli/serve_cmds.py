"""`rooflens simulate`: serve a request load through a scheduler, priced by the analyzer."""

from __future__ import annotations

import enum
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rooflens.api import resolve_model
from rooflens.cli import format as fmt
from rooflens.cli.common import (
    FormatOpt,
    HardwareOpt,
    ModelArg,
    OutputFormat,
    _clean_errors,
    _console,
    _device,
    _settings,
    analysis_options,
    app,
    declared_options,
    err_console,
    figure_file,
    file_name,
    table_file,
    wrote,
)
from rooflens.core.errors import InvalidInputError
from rooflens.core.speculative import expected_tokens
from rooflens.serving import defaults
from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig, build, parse_slo
from rooflens.serving.presets import PRESET_HELP
from rooflens.settings import engine_name

if TYPE_CHECKING:
    from rich.progress import Progress

    from rooflens.serving.results import SimulationResult
    from rooflens.serving.workload import Requests, Workload

# The simulator (pandas, the scheduler) is imported inside the commands that run it: `rooflens
# --help` and the analyzer's commands start without it.


class Arrival(str, enum.Enum):
    poisson = "poisson"
    gamma = "gamma"
    fixed = "fixed"


# Runs with more requests than this (or any capacity search) show a progress bar on stderr.
PROGRESS_FROM = 2000
# Requests/s when neither --rate nor --concurrency is given.
DEFAULT_RATE = defaults.RATE
# --prompt-len and --gen-len as `analyze` names the lengths, for a fixed length or any form.
PromptOpt = Annotated[
    str,
    typer.Option("--prompt", "--prompt-len", help=f"Prompt lengths: {defaults.LENGTH_FORMS}"),
]
OutputOpt = Annotated[
    str,
    typer.Option("--output", "--gen-len", help=f"Output lengths: {defaults.LENGTH_FORMS}"),
]


def _workload(
    requests: int,
    rate: float | None,
    arrival: Arrival,
    cv: float | None,
    prompt: str,
    output: str,
    *,
    shared_prefix: int,
    seed: int,
) -> Workload:
    from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Workload

    arrivals = build(
        ArrivalProcess,
        "--rate",
        kind=arrival.value,
        rate=DEFAULT_RATE if rate is None else rate,
        cv=cv,
    )
    return build(
        Workload,
        "--requests",
        requests=requests,
        arrivals=arrivals,
        prompt=LengthDistribution.parse("--prompt", prompt),
        output=LengthDistribution.parse("--output", output),
        shared_prefix=shared_prefix,
        seed=seed,
    )


def _progress(total: int, label: str) -> tuple[Progress | None, Any]:
    """A bar with its ETA on stderr for a run worth waiting on; none for a short run, nor
    where stderr is no terminal (fmt.shows_progress)."""
    if not fmt.shows_progress(err_console) or (total < PROGRESS_FROM and label == "requests"):
        return None, None
    return fmt.progress_bar(err_console, f"simulating ({label})", total)


def _kv_use(result: SimulationResult, peak_share: float) -> str:
    """The KV cache's peak share, its bytes and how many of the longest requests it holds
    (its token count alone misleads where windows or a hybrid's few attention layers keep
    fewer keys per token)."""
    longest = (
        f" ({result.memory.prompt_len} + {result.memory.gen_len} tokens)" if result.memory else ""
    )
    pooled = " of a decode replica" if result.decode_from else ""
    # Memory for more than the scheduler runs at once (SGLang's state pool: a third of its
    # slots with the radix cache): the room alone would overstate the batch.
    batch = result.scheduler.max_batch if result.scheduler is not None else None
    runs = (
        f"; at most {batch:,} run at once (the batch limit)"
        if batch and batch < result.kv_room
        else ""
    )
    # A light run's share would round to "0 %" whole: two significant digits below 10 %.
    percent = 100 * peak_share
    if not percent > 0:
        share = "0"
    elif percent < 0.01:
        share = "< 0.01"
    elif percent < 9.95:
        share = f"{percent:.2g}"
    else:
        share = f"{percent:.0f}"
    return (
        f"{share} % of {fmt.si(result.kv_bytes, 'B')} per device{pooled}: room for "
        f"{result.kv_room} of the longest requests{longest}{runs}"
    )


def _summary_rows(result: SimulationResult) -> list[tuple[str, str]]:
    from rooflens.serving.results import LATENCIES, PERCENTILES

    s = result.summary()
    # Throughputs are over the whole run, as the engines' benchmarks report them: where the
    # last request arrives well before the run ends, they count the drain after it too.
    last = float(result.requests["arrival"].max())
    drained = (
        f" (the last arrives at {fmt.seconds(last)}: throughputs include the drain after it)"
        if last < 0.8 * s["duration"]
        else ""
    )
    rows = [
        ("requests", f"{s['requests']} over {fmt.seconds(s['duration'])}{drained}"),
        ("request throughput", f"{s['request_throughput']:.4g} req/s"),
        ("output tokens", f"{s['output_token_throughput']:.4g} tok/s"),
        (
            f"output tokens per GPU ({result.devices})",
            f"{s['output_throughput_per_gpu']:.4g} tok/s",
        ),
        ("output tokens per user", _rate(s["output_throughput_per_user"])),
    ]
    for metric in (*LATENCIES, "itl"):
        shown = " / ".join(fmt.seconds(s[f"{metric}_p{q}"]) for q in PERCENTILES)
        rows.append((f"{metric} p50 / p90 / p99", shown))
    rows.append(("deployment", result.layout))
    if result.scheduler is not None:
        sched = result.scheduler
        split = "" if sched.split_prompts or sched.policy != "chunked" else ", whole prompts"
        looks = sched.receive_interval
        receive = f"; new requests looked for every {looks} decode iterations" if looks > 1 else ""
        if sched.policy == "chunked" and sched.batch_wait_iterations and sched.batch_wait_ratio:
            receive += (
                f"; prompts held up to {sched.batch_wait_iterations} iterations or "
                f"{sched.batch_wait_ratio:g} of the budget"
            )
        if sched.policy == "chunked" and sched.dp_balance:
            receive += (
                f"; replicas balance new prompts as attention-DP ranks (timeout "
                f"{sched.dp_balance_timeout}, wait {sched.dp_balance_wait} iterations)"
            )
        # What else shapes the iterations: SGLang's chunk beside its prefill budget, the
        # overlap schedule every engine preset runs.
        chunk = (
            f", prompts in chunks of {sched.chunk_size}"
            if sched.chunk_size and sched.chunk_size < sched.max_tokens
            else ""
        )
        overlap = "; the next iteration formed while one runs (overlap)" if sched.overlap else ""
        rows.append(
            (
                "scheduler",
                f"{sched.policy}{split}: {sched.max_tokens} tokens, {sched.max_batch} sequences "
                f"per iteration{chunk}{receive}{overlap}",
            )
        )
        if sched.draft_tokens:
            per_step = expected_tokens(sched.acceptance, sched.draft_tokens)
            rows.append(
                (
                    "speculative decoding",
                    f"MTP module drafts {sched.draft_tokens} per step, each accepted at "
                    f"{sched.acceptance:g}: {per_step:.3g} tokens per step",
                )
            )
    rows += [("fallback", line) for line in result.fallbacks]
    rows += [("note", line) for line in result.notes]
    if result.host_per_request:
        rows.append(
            (
                "per request",
                f"{fmt.seconds(result.host_per_request)} on the engine's serving path outside "
                "its iterations, in every TTFT: "
                + (result.host_per_request_source or "as the profile gives it"),
            )
        )
    if result.validation is not None:
        rows.append(("checked against", result.validation))
    rows += [
        ("kernels", result.kernels),
        ("mean sequences per step", f"{s['mean_batch']:.1f}"),
        ("peak KV cache use", _kv_use(result, s["peak_kv_share"])),
        ("preemptions", str(s["preemptions"])),
    ]
    # What the run held at its fullest: the analyzer's verdict for a batch of whole prompts at
    # once (JSON "memory") would count activations no iteration of the scheduler holds.
    usable = fmt.si(result.usable_memory, "B")
    if 0 < result.usable_memory < result.device_memory:
        # The engine's share of the device ("of 139 GB" had read as the H200's own memory).
        share = result.usable_memory / result.device_memory
        usable = (
            f"the {usable} the engine takes ({share:.3g} of {fmt.si(result.device_memory, 'B')})"
        )
    # A disaggregated cluster's pools hold different weights and caches: these are the
    # decode pool's, as the KV cache above.
    pooled = " of a decode replica" if result.decode_from else ""
    states = ", recurrent-state pool" if result.state_pool_bytes else ""
    rows.append(
        (
            "memory at the peak",
            f"{fmt.si(result.peak_memory, 'B')} of {usable} per device{pooled}: "
            f"{fmt.si(result.beside_kv, 'B')} weights, activation reserve{states} and "
            "framework, the rest KV cache",
        )
    )
    if result.slo is not None:
        slo = result.slo
        rows += [
            # Every objective held, the defaults an --slo left out included.
            (
                "SLO",
                f"TTFT ≤ {fmt.seconds(slo.ttft)}, TPOT ≤ {fmt.seconds(slo.tpot)} at "
                f"p{slo.percentile:g}",
            ),
            ("SLO attainment", f"{100 * s['slo_attainment']:.1f} % of requests"),
            ("goodput", f"{s['goodput']:.4g} req/s"),
            (f"p{result.slo.percentile:g} within SLO", "yes" if s["within_slo"] else "no"),
        ]
    return rows


def _slo_default() -> str:
    default = SLO()
    return f"ttft={default.ttft:g}s, tpot={1e3 * default.tpot:g}ms, p{default.percentile:g}"


@app.command()
@_clean_errors
@analysis_options
# A preset (--preset, or an engine's own) gives the fields not typed its values instead.
@declared_options(SchedulerConfig, "scheduling", note="; a preset's own under --preset or --engine")
@declared_options(ClusterConfig, "deployment")
def simulate(
    model: ModelArg,
    hardware: HardwareOpt = None,
    requests: Annotated[int, typer.Option(help="Synthetic requests to draw.")] = defaults.REQUESTS,
    rate: Annotated[
        float | None, typer.Option(help=f"Arrival rate in requests/s (default {DEFAULT_RATE:g}).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Closed loop: this many clients, each sending on its last answer."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help=PRESET_HELP),
    ] = None,
    arrival: Annotated[
        # The Python API's and the web's field is `arrivals`: the command line takes both.
        Arrival,
        typer.Option("--arrival", "--arrivals", help="Arrival process.", case_sensitive=False),
    ] = Arrival.poisson,
    cv: Annotated[
        float | None,
        typer.Option(
            help=f"Gamma arrivals: coefficient of variation of the gaps (default {defaults.CV:g})."
        ),
    ] = None,
    prompt: PromptOpt = defaults.PROMPT,
    output: OutputOpt = defaults.OUTPUT,
    shared_prefix: Annotated[
        int,
        typer.Option(
            help="Tokens every prompt starts with, before its drawn length (--prompt 512 "
            "--shared-prefix 400: 912-token prompts)."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the workload.")] = 0,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="CSV/JSONL trace (arrival_time, prompt_len, output_len), or a Mooncake, "
            "Azure or BurstGPT trace as published, instead."
        ),
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help="Objectives, e.g. ttft=1s,tpot=50ms or ttft_p99=2s,…; one left out keeps its "
            f"default ({_slo_default()}); left out or empty: no SLO (with --capacity, whose "
            "search needs one: those defaults)."
        ),
    ] = None,
    capacity: Annotated[
        bool, typer.Option(help="Search the highest arrival rate within the SLO.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="Timeline (or capacity curve) to .png/.svg/.pdf.", parser=file_name),
    ] = None,
    requests_out: Annotated[
        Path | None,
        typer.Option(help="Per-request times to a .csv file (with --capacity: the run at it)."),
    ] = None,
    output_format: FormatOpt = OutputFormat.table,
    *,
    options: dict[str, Any],
    scheduling: dict[str, Any],
    deployment: dict[str, Any],
) -> None:
    """Simulate serving: TTFT, time per token, throughput and goodput under a request load."""
    from rooflens.serving.api import simulate as run_simulation
    from rooflens.serving.workload import Workload, load_trace

    figure_file("--plot", plot)
    table_file("--requests-out", requests_out)
    device = _device(hardware, options)
    # Every setting given, falsy ones included (a zero link latency is a setting).
    analysis = _settings(options).model_dump(exclude_defaults=True)
    # What the JSON says was served, as the analyses' heads say it (docs/output.md).
    # Only the scheduler settings given replace the preset's (or the engine's, or the
    # defaults): the API resolves them once, as the engine reads them.
    # (An acceptance without drafts is refused by SchedulerConfig, as the APIs refuse it.)
    if preset is not None and not preset.strip():
        preset = None  # empty: the engine's own, as the option's help says (an unset variable)
    sched = build(SchedulerConfig, "--scheduler", flags=True, **scheduling)
    cluster = build(ClusterConfig, "--replicas", flags=True, **deployment)
    given = {**_settings(options).changed(), **_given(sched), **_given(cluster)}
    if preset is not None:  # the scheduler it brings changed nothing else said here
        given["preset"] = engine_name(preset)
    head = {"model": resolve_model(model).name, "hardware": device.name, "settings": given}
    # A trace replays its lengths in the closed loop where its arrivals are all 0 (the API
    # refuses others, naming them).
    if concurrency is not None and (rate is not None or capacity):
        given = "--rate" if rate is not None else "--capacity"
        raise InvalidInputError(
            "--concurrency", concurrency, f"either --concurrency or {given}, not both"
        )
    if concurrency is not None and (arrival is not Arrival.poisson or cv is not None):
        flag, value = ("--arrival", arrival.value) if cv is None else ("--cv", cv)
        raise InvalidInputError(
            flag,
            value,
            "left out with --concurrency (each client sends its next request on its last one's "
            "answer: no arrival process)",
        )
    if trace is not None and capacity:
        raise InvalidInputError(
            "--trace",
            str(trace),
            "left out with --capacity (the search varies the arrival "
            "rate of a synthetic workload: --rate, --prompt, --output)",
        )
    if trace is not None:
        _trace_alone(
            {"--requests": (requests, defaults.REQUESTS), "--rate": (rate, None),
             "--arrival": (arrival, Arrival.poisson), "--cv": (cv, None),
             "--prompt": (prompt, defaults.PROMPT), "--output": (output, defaults.OUTPUT),
             "--shared-prefix": (shared_prefix, 0), "--seed": (seed, 0)}
        )  # fmt: skip
    # Fewer requests than clients is refused by the simulator itself (closed_loop_requests),
    # as the Python and web APIs refuse it.
    objectives = parse_slo(slo) if slo else None  # empty: none, as left out
    if not analysis.get("allow_long_context"):
        context = resolve_model(model).max_positions
        prompt, output = defaults.default_lengths(context, prompt, output, shared_prefix)
    workload = _workload(
        requests, rate, arrival, cv, prompt, output, shared_prefix=shared_prefix, seed=seed
    )
    head["workload"] = _offered(
        workload, prompt, output, trace=trace, concurrency=concurrency, capacity=capacity
    )
    if capacity:
        _capacity(
            model, device, workload, objectives, sched, preset, cluster, analysis, plot,
            output_format, head, requests_out,
        )  # fmt: skip
        return
    load: Requests | Workload = load_trace(trace) if trace else workload
    if concurrency is not None and not trace:
        # Lengths only: the closed loop decides when requests are sent.
        load = Workload(**{k: v for k, v in workload if k != "arrivals"})
    bar, advance = _progress(len(load) if trace else workload.requests, "requests")
    with bar or nullcontext():
        result = run_simulation(
            model, device, load, scheduler=sched, preset=preset, cluster=cluster,
            slo=objectives, progress=advance, concurrency=concurrency, **analysis,
        )  # fmt: skip
    if requests_out:
        result.requests.to_csv(requests_out, index=False)
        wrote(requests_out)
    # The model as the JSON and every other command name it (a config's path as typed read
    # /tmp/x/config.json here).
    title = f"{head['model']} on {device.display_name or device.name}, {result.estimate}"
    if plot:
        from rooflens.views import serving_plots  # matplotlib: only when drawing

        serving_plots.timeline(result, plot, title, load=_sent_text(head["workload"]))
        wrote(plot)
    _print(result, output_format, title, head)


def _offered(
    workload: Workload,
    prompt: str,
    output: str,
    *,
    trace: Path | None,
    concurrency: int | None,
    capacity: bool,
) -> dict[str, Any]:
    """The load offered (JSON `workload`, the table's `workload` row): a trace, a closed loop
    of clients, or requests arriving at a rate (searched by --capacity), with the lengths as
    typed."""
    if trace is not None:  # replayed as it arrives, or by a closed loop of clients
        return {"trace": str(trace)} | ({} if concurrency is None else {"concurrency": concurrency})
    arrivals = workload.arrivals
    if concurrency is not None:
        sent: dict[str, Any] = {"concurrency": concurrency}
    else:
        sent = {"rate": None if capacity else arrivals.rate, "arrival": arrivals.kind}
        if arrivals.kind == "gamma":
            sent["cv"] = arrivals.gamma_cv
    lengths = {"prompt": prompt, "output": output, "shared_prefix": workload.shared_prefix}
    return {"requests": workload.requests, **sent, **lengths, "seed": workload.seed}


def _sent_text(load: dict[str, Any]) -> str:
    """The requests and how they are sent, as offered (a Poisson rate as asked for, not as
    the draw happened to arrive)."""
    if "trace" in load:
        clients = load.get("concurrency")
        looped = f", sent by a closed loop of {clients} clients" if clients else ""
        return f"the trace {load['trace']}{looped}"
    if "concurrency" in load:
        sent = f"a closed loop of {load['concurrency']} clients"
    elif load["rate"] is None:
        sent = f"{load['arrival']} arrivals at the rate searched"
    else:
        spread = f", cv {load['cv']:g}" if "cv" in load else ""
        sent = f"{load['arrival']} arrivals at {load['rate']:g}/s{spread}"
    return f"{load['requests']} requests, {sent}"


def _offered_text(load: dict[str, Any]) -> str:
    if "trace" in load:
        return _sent_text(load)
    prefix = f" after a shared prefix of {load['shared_prefix']}" if load["shared_prefix"] else ""
    return (
        f"{_sent_text(load)}; prompts {load['prompt']}{prefix}, outputs "
        f"{load['output']}; seed {load['seed']}"
    )


def _given(config: SchedulerConfig | ClusterConfig) -> dict[str, Any]:
    """The settings of a serving section given on the command line, by their declared names
    (JSON `settings`, beside the analysis's)."""
    return {name: getattr(config, name) for name in sorted(config.model_fields_set)}


def _trace_alone(given: dict[str, tuple[object, object]]) -> None:
    """A trace brings its arrivals and lengths: a workload option beside it would be ignored."""
    for flag, (value, default) in given.items():
        if value != default:
            # An --arrival as typed ('fixed'), not as its enum's repr.
            shown = value.value if isinstance(value, enum.Enum) else value
            raise InvalidInputError(
                flag, shown, "left out with --trace (the trace gives arrivals and lengths)"
            )


def _capacity(
    model: str,
    device: Any,
    workload: Workload,
    slo: SLO | None,
    scheduler: SchedulerConfig,
    preset: str | None,
    cluster: ClusterConfig,
    analysis: dict[str, Any],
    plot: Path | None,
    output_format: OutputFormat,
    head: dict[str, Any],
    requests_out: Path | None = None,
) -> None:
    from rooflens.serving.api import capacity as capacity_search

    slo = slo or SLO()  # the declared objectives, as the help says and the web API takes
    bar, advance = _progress(24, "capacity search")
    with bar or nullcontext():
        found = capacity_search(
            model, device, workload, slo, scheduler=scheduler, preset=preset, cluster=cluster,
            progress=advance, **analysis,
        )  # fmt: skip
    if requests_out and found.result is not None:
        found.result.requests.to_csv(requests_out, index=False)  # the run at capacity
        wrote(requests_out)
    elif requests_out:
        # A file of that name from an earlier run would pass for this one's.
        kept = f"; {requests_out}, already there, is left as it was" * requests_out.exists()
        err_console.print(
            f"--requests-out: no capacity found, so no run to write{kept}", soft_wrap=True
        )
    if plot:
        from rooflens.views import serving_plots

        shown = f"{head['model']} on {device.display_name or device.name}, {found.estimate}"
        serving_plots.capacity_curve(found, plot, shown)
        wrote(plot)
    if output_format is OutputFormat.json:
        sys.stdout.write(fmt.to_json(head | found.to_dict()))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(found.to_frame().to_csv(index=False))
    else:
        console = _console()
        within = (
            f"TTFT ≤ {fmt.seconds(slo.ttft)}, TPOT ≤ {fmt.seconds(slo.tpot)} at p{slo.percentile:g}"
        )
        if math.isnan(found.rate):
            console.print(found.warning, style="bold")
            console.print(f"objectives: {within}")  # those held to, the defaults included
        else:
            console.print(
                f"capacity within the SLO ({within}): {found.rate:.4g} requests/s", style="bold"
            )
            if found.warning is not None:  # a rate found, that may not hold in a longer run
                console.print(f"caveat: {found.warning}", style="bold red")
        shown = found.probes.copy()
        for column in shown.columns:
            if column.startswith(("ttft", "tpot")):
                shown[column] = shown[column].map(fmt.seconds)
        shown["rate"] = shown["rate"].map(lambda v: f"{v:.4g}/s")
        console.print(fmt.frame_table(shown, "rates tried"))
        if found.result is not None:
            console.print(fmt.key_value_table("at capacity", _summary_rows(found.result)))


def _print(
    result: SimulationResult, output_format: OutputFormat, title: str, head: dict[str, Any]
) -> None:
    if output_format is OutputFormat.json:
        sys.stdout.write(fmt.to_json(head | result.to_dict()))
    elif output_format is OutputFormat.csv:
        sys.stdout.write(result.requests.to_csv(index=False))
    else:
        rows = [("workload", _offered_text(head["workload"])), *_summary_rows(result)]
        _console().print(fmt.key_value_table(title, rows))


def _rate(value: float) -> str:
    return f"{value:.4g} tok/s" if math.isfinite(value) else "—"
