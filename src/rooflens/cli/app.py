"""`rooflens` command line: analyze, memory, sweep, models, hardware, compare, speculate;
the other commands register from their modules (imported at the end of this one)."""

from __future__ import annotations

import inspect
import math
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.text import Text

from rooflens.api import (
    check_sweep_size,
    operator_rows,
    resolve_device,
    resolve_model,
    speculation_context_default,
)
from rooflens.cli import format as fmt
from rooflens.cli.common import (
    SIZE_NAMES,
    AlphaOpt,
    DraftOpt,
    FormatOpt,
    GammaOpt,
    GridIntensityOpt,
    HardwareOpt,
    HourlyPriceOpt,
    ImagesOpt,
    LongContextOpt,
    MedusaOpt,
    ModelArg,
    MtpOpt,
    OutputFormat,
    Stage,
    TreeWidthOpt,
    WideOpt,
    _clean_errors,
    _console,
    _device,
    _emit,
    _run,
    _settings,
    analysis_options,
    app,
    check_size,
    drafter_words,
    err_console,
    json_context,
    parse_sizes,
    settings_once,
    speculation_context,
    speculation_estimate,
    speculation_given,
    stdout_at_null,
    stdout_to_null,
    usage_error_line,
)
from rooflens.core.analysis import default_prompt_len
from rooflens.core.errors import InvalidInputError
from rooflens.core.results import Analysis, compare
from rooflens.core.speculative import (
    ACCEPTANCE,
    DRAFT_TOKENS,
    TREE_WIDTH,
    drafted_tokens,
)
from rooflens.formats import analysis_facts, analysis_notes, memory_verdict, si_apart
from rooflens.hardware.catalog import catalog
from rooflens.models.catalog import bundled_models, load_model
from rooflens.models.config import SUPPORTED_MODEL_TYPES
from rooflens.settings import SETTING_NAMES

if TYPE_CHECKING:
    pass

__all__ = ["app", "main", "parse_sizes"]

# The most rows a sweep prints as a table (-f csv and -f json give every point).
SWEEP_TABLE_ROWS = 1_000


# Commands --------------------------------------------------------------------------------------
@app.command()
@_clean_errors
@analysis_options
def analyze(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 1,
    prompt_len: Annotated[
        int | None,
        typer.Option(
            help="Prompt tokens (decode: context). Default: 2048, or what the model's context "
            "leaves after the generation."
        ),
    ] = None,
    gen_len: Annotated[
        int | None, typer.Option(help="Generated tokens: adds TTFT, TPOT, latency and throughput.")
    ] = None,
    images: ImagesOpt = 0,
    stage: Annotated[
        Stage,
        typer.Option(
            help="Which stage's operators to show (vision: the image encoder, with --images).",
            case_sensitive=False,
        ),
    ] = Stage.all,
    draft: DraftOpt = None,
    medusa: MedusaOpt = False,
    mtp: MtpOpt = False,
    gamma: GammaOpt = None,
    alpha: AlphaOpt = None,
    tree_width: TreeWidthOpt = None,
    hourly_price: HourlyPriceOpt = None,
    grid_intensity: GridIntensityOpt = None,
    wide: WideOpt = False,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Per-operator roofline of prefill and decode, network totals, memory and generation."""
    drafting = draft is not None or medusa or mtp
    speculation_given(drafting, gamma, alpha, tree_width)
    if stage is Stage.vision and not images:  # no image, no encoder stage to show
        raise InvalidInputError(
            "--stage", stage.value, "prefill, decode or all (vision: with --images)"
        )
    params = {
        "model": model, "hardware": hardware, "batch": batch, "prompt_len": prompt_len,
        "gen_len": gen_len, "images": images, **(options or {}),
    }  # fmt: skip
    # A default prompt leaves room for the tokens a drafter's step verifies after it (OPT's
    # 2,047 of 2,048 positions left none, refused as a context too long).
    long_context = bool((options or {}).get("allow_long_context"))
    result = _run(params | {"drafted": drafted_tokens(drafting, gamma, long_context)})
    stages = ["prefill", "decode"] if stage is Stage.all else [stage.value]
    if "vision" in result.steps and stage is Stage.all:
        stages.insert(0, "vision")
    money = {"hourly_price": hourly_price, "grid_intensity": grid_intensity}
    speculation, drafting = speculation_estimate(
        result, draft, medusa, mtp, gamma, alpha, tree_width, hourly_price
    )
    if hourly_price is not None or grid_intensity is not None:
        result.economics(**money)  # bad figures fail here, before any output
    if output is not OutputFormat.table:
        frame = result.operators()
        frame = frame[frame.stage.isin(stages)]
        data = json_context(result, params) | result.to_dict(**money)
        data["operators"] = [r for r in data["operators"] if r["stage"] in stages]
        data["speculative"] = speculation  # null without a drafter
        _emit(data, frame, output)
        return
    # The table reads plain rows: pandas stays unloaded for `rooflens analyze`.
    _print_analysis(result, operator_rows(result), stages, money, wide, speculation is not None)
    if speculation is not None:
        rows = [
            ("tokens per target step", f"{speculation['tokens_per_step']:.2f}"),
            ("time per token", fmt.seconds(speculation["time_per_token"])),
            ("plain decode step", fmt.seconds(speculation["plain_step"])),
            ("speed-up", f"{speculation['speedup']:.2f}×"),
            # Held beside the target's weights, which the memory above counts alone.
            ("drafter weights per device", fmt.si(speculation["drafter_weights"], "B")),
            # Before the first token: a draft model's or MTP module's own pass over the prompt.
            ("drafter's pass over the prompt", fmt.seconds(speculation["prompt_time"])),
            (
                "memory with the drafter",
                "{} of {} per device, ".format(
                    *si_apart(speculation["memory"], speculation["memory_capacity"], "B")
                )
                + ("fits" if speculation["fits"] else "DOES NOT FIT"),
            ),
        ]
        _console().print(fmt.key_value_table(drafting, rows))
        spec = speculation.get("generation")
        if spec is not None:
            rows = [
                ("time to first token", fmt.seconds(spec["ttft"])),
                ("time per output token", fmt.seconds(spec["tpot"])),
                ("end-to-end latency", fmt.seconds(spec["e2e_latency"])),
                ("throughput", f"{spec['throughput']:.4g} tokens/s"),
            ]
            cost = spec["cost_per_million_output"]
            if cost is not None and math.isfinite(cost):
                rows.append(("cost per million output tokens", fmt.dollars(cost)))
            title = (
                f"generation of {fmt.count(int(result.gen_len), 'token')}, with speculative "
                "decoding"
            )
            _console().print(fmt.key_value_table(title, rows))


def _print_analysis(
    result: Analysis,
    operators: list[dict[str, Any]],
    stages: list[str],
    money: dict[str, float | None] | None = None,
    wide: bool = False,
    speculating: bool = False,
) -> None:
    # Speculative decoding is estimated apart (its own table): these figures are without it.
    plain = ", without speculative decoding" if speculating else ""
    _print_head(result)
    totals = result.totals()
    for stage in stages:
        t = totals[stage]
        table = fmt.operators_table(
            [r for r in operators if r["stage"] == stage], stage, float(t["time"]), wide
        )
        _console(at_least=fmt.narrowest_width(table)).print(table)
        rows = [
            ("time", fmt.seconds(float(t["time"]))),
            ("OPs", fmt.si(float(t["ops"]))),
            ("memory access", fmt.si(float(t["memory_access"]), "B")),
        ]
        m = result.memory.get(stage)  # the vision stage holds no KV cache of its own
        if m is not None:
            rows += [
                ("weights", fmt.si(float(m.weights), "B")),
                ("KV cache (+ recurrent state)", fmt.si(float(m.kv_cache), "B")),
                ("peak activations", fmt.si(float(m.activations), "B")),
                ("total memory", f"{fmt.si(float(m.total), 'B')} of {fmt.si(m.capacity, 'B')}"),
            ]
        bottlenecks = result.bottlenecks(stage)
        rows.append(
            (
                "bottleneck",
                ", ".join(f"{b['name']} {b['share']:.0%} ({b['bound']})" for b in bottlenecks),
            )
        )
        _console().print(fmt.key_value_table(f"{stage}: network", rows))
    _console().print(memory_verdict(result), style=None if result.peak_memory.fits else "bold red")
    if result.generation is not None:
        g = result.generation
        _console().print(
            fmt.key_value_table(
                f"generation of {fmt.count(int(result.gen_len), 'token')}{plain}",
                [
                    ("time to first token", fmt.seconds(float(g["ttft"]))),
                    ("time per output token", fmt.seconds(float(g["tpot"]))),
                    ("end-to-end latency", fmt.seconds(float(g["e2e_latency"]))),
                    ("throughput", f"{float(g['throughput']):.4g} tokens/s"),
                ],
            )
        )
    if (
        result.device.tdp is not None
        or (money or {}).get("hourly_price")
        or result.device.hourly_price
    ):
        rows = _economics_rows(result, **(money or {}))
        _console().print(fmt.key_value_table(f"energy and cost{plain}", rows))


def _print_head(result: Analysis, sizes: bool = True) -> None:
    """The lines a table of an analysis's figures opens with: 'MODEL on DEVICE' and its facts
    (what priced them among them), then its notes (settings, devices, fallbacks)."""
    _console().print(
        Text(result.model.name, style="bold")
        + " on "
        + Text(result.device.display_name or result.device.name, style="bold")
        + "".join(f" · {fact}" for fact in analysis_facts(result, sizes))
    )
    for line in analysis_notes(result):
        _console().print(line, markup=False)


def _economics_rows(
    result: Analysis, hourly_price: float | None = None, grid_intensity: float | None = None
) -> list[tuple[str, str]]:
    """Power, energy, price and carbon per token (docs/advisor.md gives the model)."""
    e = {k: float(v) for k, v in result.economics(hourly_price, grid_intensity).items()}
    # A one-token answer's token is the prefill's: no decode step runs to charge it with.
    prefill_only = " (no decode step: the one token is the prefill's)"
    per_output = e.get("energy_per_output_token", e.get("cost_per_million_output", math.nan))
    decoded = math.isfinite(per_output)
    rows = []
    if "prefill_power" in e:
        rows += [
            (
                "power (prefill / decode)",
                f"{e['prefill_power']:.0f} W / {e['decode_power']:.0f} W "
                f"(TDP {e['tdp']:.0f} W a device)",
            ),
            (
                "energy per output token",
                fmt.si(e["energy_per_output_token"], "J") if decoded else "—" + prefill_only,
            ),
        ]
    else:
        rows.append(("power and energy", f"— ({result.device.name} has no TDP in its figures)"))
    if "energy_per_request" in e:
        rows.append(("energy per request", fmt.si(e["energy_per_request"], "J")))
    if "cost_per_million_output" in e:
        price = hourly_price or result.device.hourly_price
        rows.append(
            (
                f"cost per million tokens at ${price:g}/device-h",
                f"input {fmt.dollars(e['cost_per_million_input'])} · output "
                + (fmt.dollars(e["cost_per_million_output"]) if decoded else "—"),
            )
        )
    if "carbon_per_million_output" in e:
        rows.append(
            (
                f"carbon at {grid_intensity:g} gCO2e/kWh",
                f"{e['carbon_per_million_output'] / 1e3:.3g} kg per million output tokens"
                if decoded
                else "—" + prefill_only,
            )
        )
    return rows


@app.command("memory")
@_clean_errors
@analysis_options
def memory_cmd(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[int, typer.Option(help="Sequences.")] = 1,
    prompt_len: Annotated[
        int | None, typer.Option(help="Prompt tokens. Default: 2048, or what the context leaves.")
    ] = None,
    gen_len: Annotated[int, typer.Option(help="Generated tokens.")] = 1,
    images: ImagesOpt = 0,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Memory footprint per stage: weights, KV cache, peak activations, fit and largest batch."""
    import pandas as pd

    # Images per request, as analyze takes them: the tower's weights and temporaries, and the
    # images' tokens in the prompt.
    params = {
        "model": model, "hardware": hardware, "batch": batch, "prompt_len": prompt_len,
        "gen_len": gen_len, "images": images, **(options or {}),
    }  # fmt: skip
    result = _run(params)
    data = result.to_dict()["memory"]
    frame = pd.DataFrame([{"stage": s, **v} for s, v in data.items()])
    if output is not OutputFormat.table:
        _emit(json_context(result, params) | {"memory": data}, frame, output)
        return
    shown = frame.copy()
    for col in ("weights", "kv_cache", "activations", "framework", "host", "total", "capacity"):
        shown[col] = shown[col].map(lambda v: fmt.si(v, "B"))
    shown["max_batch"] = shown["max_batch"].map(int)
    devices = result.options.parallelism.devices
    scope = f", per device of {devices}" if devices > 1 else ""
    reserve = result.options.activation_reserve_tokens
    if reserve is not None:
        scope += f"; activations: the engine's reserve for iterations of {reserve:,} tokens"
    _print_head(result)
    _console().print(fmt.frame_table(shown, f"memory{scope}"))
    peak = result.peak_memory
    _console().print(memory_verdict(result), style=None if peak.fits else "bold red")


@app.command()
@_clean_errors
@analysis_options
def sweep(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[str, typer.Option(help="Batch sizes: 1,8,32 or 1:256:x2.")] = "1",
    prompt_len: Annotated[
        str | None,
        typer.Option(
            help="Prompt lengths: 128,2048 or 128:8192:x2. Default: 2048, or what the context "
            "leaves."
        ),
    ] = None,
    gen_len: Annotated[str | None, typer.Option(help="Generation lengths, same syntax.")] = None,
    images: ImagesOpt = 0,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Every combination of batch, prompt and generation lengths, in one vectorized pass."""
    gens = None if gen_len is None else parse_sizes("gen_len", gen_len)
    if prompt_len is None:
        prompt_len = str(default_prompt_len(resolve_model(model), gens))
    axes = [parse_sizes("batch", batch), parse_sizes("prompt_len", prompt_len)]
    if gens is not None:
        axes.append(gens)
    check_sweep_size(axes)
    grids = np.meshgrid(*axes, indexing="ij")
    sizes = {
        "batch": grids[0],
        "prompt_len": grids[1],
        "gen_len": grids[2] if gen_len is not None else None,
    }
    points = grids[0].size
    # A large sweep takes seconds (analysis, then writing its rows): a spinner on stderr says
    # it is working; a small one finishes before it would show.
    with err_console.status(f"sweeping {points:,} points") if points >= 10_000 else nullcontext():
        params = {"model": model, "hardware": hardware, "images": images, **(options or {}),
                  **sizes}  # fmt: skip
        result = _run(params)
        frame = result.summary()
        if output is OutputFormat.json:
            rows = frame.to_dict(orient="records")
            _emit(json_context(result, params) | {"rows": rows}, frame, output)
            return
        if output is OutputFormat.csv:
            _emit(None, frame, output)
            return
    cols = [
        c
        for c in (
            "batch",
            "prompt_len",
            "gen_len",
            "prefill_time",
            "decode_time",
            "ttft",
            "tpot",
            "throughput",
            "peak_memory",
            "fits",
        )
        if c in frame
    ]
    # A terminal table of every point of a large sweep only scrolls away (100,000 rows took
    # 44 s to render on a 2-core machine, the sweep 0.6 s): it shows the first
    # SWEEP_TABLE_ROWS, its title saying so.
    shown = frame[cols].head(SWEEP_TABLE_ROWS).copy()
    for col in cols:
        if col.endswith("time") or col in ("ttft", "tpot"):
            shown[col] = shown[col].map(fmt.seconds)
        elif col.endswith("memory_total") or col == "peak_memory":
            shown[col] = shown[col].map(lambda v: fmt.si(v, "B"))
        elif col == "throughput":
            shown[col] = shown[col].map(lambda v: f"{v:.4g} tok/s")
    _print_head(result, sizes=False)
    title = f"{points:,} point{'s' if points != 1 else ''}"
    if len(shown) < points:
        title += f" (the first {len(shown):,} shown; -f csv or -f json gives all)"
    _console().print(fmt.frame_table(shown, title))


@app.command()
@_clean_errors
def models(
    query: Annotated[
        str | None,
        typer.Argument(help="Only the models whose id or model_type holds this text (any case)."),
    ] = None,
    wide: WideOpt = False,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """The bundled models, with their computed parameter counts."""
    import pandas as pd

    from rooflens.models.catalog import model_info

    rows = []
    for model_id in sorted(bundled_models(), key=str.lower):
        m = load_model(model_id)
        if query is not None and query.lower() not in f"{model_id} {m.model_type}".lower():
            continue
        # As the web's listing gives it, by the declared names (num_layers, hidden_size ...).
        rows.append(model_info(m, model_id))
    if not rows:
        raise InvalidInputError(
            "query",
            query,
            "text in a bundled model's id or model_type (`rooflens models` lists them)",
        )
    frame = pd.DataFrame(rows)
    if output is not OutputFormat.table:
        _emit(rows, frame, output)
        return
    # A dense model's active parameters are all of them: shown as such, as the JSON gives them.
    shown = frame.assign(
        params=frame.params.map(fmt.si), active_params=frame.active_params.map(fmt.si)
    )
    if not wide:
        shown = shown[
            ["id", "model_type", "params", "active_params", "num_layers", "max_positions"]
        ]
    # The full list of readable model_types titles the whole catalog; a filtered listing
    # names its filter instead.
    title = (
        f"bundled models ({len(rows)} holding {query!r})"
        if query is not None
        else f"bundled models ({len(rows)}); supported model_types: "
        f"{', '.join(SUPPORTED_MODEL_TYPES)}"
    )
    _console().print(fmt.frame_table(shown, title))


@app.command()
@_clean_errors
def hardware(
    name: Annotated[str | None, typer.Argument(help="Show one device in full.")] = None,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """The device catalog (or one device with the sources of its figures)."""
    import pandas as pd

    if name is not None:
        device = resolve_device(name)
        data = device.model_dump()
        if output is not OutputFormat.table:
            flat = pd.json_normalize(data)  # a CSV cell holds the aliases as a;b, not a tuple
            flat["aliases"] = ";".join(device.aliases)
            _emit(data, flat, output)
            return
        rows = [(k, fmt.device_field(k, v)) for k, v in data.items() if not isinstance(v, dict)]
        rows += [(f"peak {k}", fmt.si(v, "OP/s")) for k, v in device.peak_ops.items()]
        rows += [
            (f"2:4 sparse peak {k}", fmt.si(v, "OP/s")) for k, v in device.sparse_peak_ops.items()
        ]
        _console().print(fmt.key_value_table(device.display_name or device.name, rows))
        _console().print(fmt.key_value_table("sources", list(device.sources.items()), fold=True))
        return
    rows = []
    for dev in catalog().values():
        best16 = max(dev.peak_ops.get("bf16", 0), dev.peak_ops.get("fp16", 0)) or None
        rows.append(
            {
                "name": dev.name,
                "vendor": dev.vendor,
                "kind": dev.kind,
                "memory_capacity": dev.memory_capacity,
                "memory_bandwidth": dev.memory_bandwidth,
                "peak_16bit": best16,
                "peak_int8": dev.peak_ops.get("int8"),
                "ridge_16bit": best16 / dev.memory_bandwidth if best16 else None,
                "tdp": dev.tdp,
            }
        )
    frame = pd.DataFrame(rows)
    if output is not OutputFormat.table:
        _emit(rows, frame, output)
        return
    shown = pd.DataFrame(
        {
            "name": frame.name,
            "vendor": frame.vendor,
            "kind": frame.kind,
            "memory": frame.memory_capacity.map(lambda v: fmt.si(v, "B")),
            "bandwidth": frame.memory_bandwidth.map(lambda v: fmt.si(v, "B/s")),
            "16-bit peak": frame.peak_16bit.map(lambda v: fmt.si(v, "OP/s")),
            "int8 peak": frame.peak_int8.map(lambda v: fmt.si(v, "OP/s")),
            "ridge (OP/B)": frame.ridge_16bit.map(lambda v: "—" if pd.isna(v) else f"{v:.0f}"),
        }
    )
    _console().print(fmt.frame_table(shown, f"hardware catalog ({len(rows)} devices)"))


@app.command()
@_clean_errors
def engines(
    engine: Annotated[
        str | None,
        typer.Argument(help="Only this engine's profiles (vllm, sglang, trtllm, ...)."),
    ] = None,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """The shipped engine profiles: the release and device each prices, its source and fit
    date, the engine's memory and scheduler defaults, and its accuracy on measured runs."""
    import pandas as pd

    from rooflens.engines.catalog import engine_catalog

    rows = engine_catalog(engine)
    frame = pd.DataFrame(rows)
    if output is not OutputFormat.table:
        # A CSV cell holds the older releases as a;b, not a list.
        _emit(rows, frame.assign(older_releases=frame.older_releases.map(";".join)), output)
        return

    def budget(row: Any) -> str:
        if pd.isna(row.max_tokens):
            return "—"
        return f"{row.max_tokens:,.0f} tokens, {row.max_batch:,.0f} sequences"

    def checked(row: Any) -> str:
        if not row.validated_runs:
            # Transformers and torch.compile are checked against our own GPU runs, not the
            # serving engines' benchmarks this column draws on.
            if row.engine in ("transformers", "compiled"):
                return "our own runs: docs/validation.md, validation-compiled.md"
            return "no measured runs"
        kinds = "".join(
            f"; {name} {runs}: TTFT {error:.0%}"
            for name, runs, error in (
                ("MoE", row.moe_runs, row.moe_ttft_error),
                ("dense", row.dense_runs, row.dense_ttft_error),
            )
            if runs
        )
        return (
            f"{row.validated_runs} runs: TTFT {row.ttft_error:.0%}, TPOT {row.tpot_error:.0%}"
            + kinds
        )

    shown = pd.DataFrame(
        {
            "engine": frame.engine,
            "device": frame.device,
            "release": frame.release.fillna("—"),
            "older releases": frame.older_releases.map(lambda v: ", ".join(v) or "—"),
            "memory": [
                _memory_share(f, of)
                for f, of in zip(frame.memory_fraction, frame.memory_fraction_of, strict=True)
            ],
            "per iteration": frame.apply(budget, axis=1),
            # The engine's measured time on its serving path (docs/engines-measured.md).
            "per request": frame.host_per_request.map(
                lambda t: "—" if pd.isna(t) else fmt.seconds(t)
            ),
            "fitted": frame.fitted.fillna("—"),
            "source": frame.source,
            "checked against (median error)": frame.apply(checked, axis=1),
        }
    )
    _console().print(
        fmt.frame_table(
            shown,
            f"engine profiles ({len(rows)}); accuracy: docs/validation-engines.md",
        )
    )


def _memory_share(fraction: float, of: str) -> str:
    """An engine's memory setting in words (EfficiencyProfile.memory_fraction_of)."""
    if fraction == 1.0 and of == "device":
        return "what it needs"
    return {
        "device": f"{fraction:.3g} of the GPU",
        "static": f"{fraction:.3g} of the GPU for weights and KV cache",
        "free": f"{fraction:.3g} of the free memory for KV cache",
    }[of]


@app.command("compare")
@_clean_errors
def compare_cmd(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 1,
    prompt_len: Annotated[
        int | None, typer.Option(help="Prompt tokens. Default: 2048, or what the context leaves.")
    ] = None,
    gen_len: Annotated[int | None, typer.Option(help="Generated tokens.")] = 128,
    base: Annotated[
        list[str] | None,
        typer.Option(
            help="Setting of analysis A, KEY=VALUE (repeatable, or several joined by commas), "
            "e.g. w_bits=8."
        ),
    ] = None,
    vs: Annotated[
        list[str] | None,
        typer.Option(
            help="What B changes from A, KEY=VALUE (repeatable, or several joined by commas), "
            "e.g. w_bits=4 or w_bits=4,kv_bits=8 or hardware=h200-sxm or model=Qwen/Qwen2.5-7B."
        ),
    ] = None,
    images: ImagesOpt = 0,
    output: FormatOpt = OutputFormat.table,
    allow_long_context: LongContextOpt = False,
) -> None:
    """Two analyses side by side with ratios: a technique on and off, two devices, a teacher and
    its distilled student, a request with and without an image."""
    import pandas as pd

    for flag, size in (("--batch", batch), ("--prompt-len", prompt_len), ("--gen-len", gen_len)):
        check_size(flag, size)  # before the default prompt is read from the generation
    own = ("model", "hardware", *SIZE_NAMES, "images")
    for item in base or []:
        if item.partition("=")[0].strip().replace("-", "_").lower() in own:
            # It silently replaced the command's own argument or option (-H a6000 beside
            # --base hardware=h100-sxm compared two H100 runs).
            raise InvalidInputError(
                "--base",
                item,
                "a setting: A's model, hardware, sizes and images are the command's own "
                "(its model argument, -H, --batch, --prompt-len, --gen-len, --images)",
            )
    a = {
        "model": model,
        "hardware": hardware,
        "batch": batch,
        "prompt_len": prompt_len,
        "gen_len": gen_len,
        "images": images,
        **({"allow_long_context": True} if allow_long_context else {}),
        **settings_once(base, "--base", SETTING_NAMES),
    }
    changes = settings_once(vs, "--vs")
    if hardware is None:
        # compare takes no custom-device flags: the device of one's own is a TOML file here.
        raise InvalidInputError(
            "--hardware", None, "A's catalog device or TOML file (--vs hardware=... sets B's)"
        )
    if not vs:
        raise InvalidInputError(
            "--vs", None, "what B changes from A, KEY=VALUE (repeatable), e.g. --vs w_bits=4"
        )
    b = {**a, **changes}
    if a["prompt_len"] is None and b["prompt_len"] is None:
        # One prompt for both, which both models' contexts hold: a default of each would
        # change the prompt with the model, unnamed among what B changes.
        a["prompt_len"] = b["prompt_len"] = min(
            default_prompt_len(resolve_model(x["model"]), x["gen_len"]) for x in (a, b)
        )
    first, second = _run(a), _run(b)
    frame = compare(first, second)
    differ = {k: v for k, v in changes.items() if a.get(k) != v}
    if output is not OutputFormat.table:
        data = {
            "a": json_context(first, a),
            "b": json_context(second, b),
            # What B changes from A, of what --vs gave: those that differ.
            "changes": differ,
            "rows": frame.to_dict(orient="records"),
        }
        _emit(data, frame, output)
        return
    # A setting cleared (engine_version=) reads as typed, not as Python's None.
    changed = ", ".join(f"{k}={'' if v is None else v}" for k, v in differ.items()) or "nothing"
    # A's own settings, where --base gave any: the title says what both sides run.
    given_a = {
        **({"images": images} if images else {}),
        **settings_once(base, "--base", SETTING_NAMES),
    }
    settings = ", ".join(f"{k}={v}" for k, v in given_a.items())
    shown = pd.DataFrame(
        {
            "metric": frame.metric,
            "A": [_show(v, u) for v, u in zip(frame.a, frame.unit, strict=True)],
            "B": [_show(v, u) for v, u in zip(frame.b, frame.unit, strict=True)],
            # No ratio where either side has no figure (one generated token: no TPOT).
            "B / A": frame.ratio.map(lambda r: f"{r:.3g}×" if np.isfinite(r) else "—"),
        }
    )
    # The sizes both sides run at, unless B changes them (then its settings say so).
    sizes = f"batch {int(first.batch)} · prompt {int(first.given_prompt_len)}" + (
        f" · gen {int(first.gen_len)}" if first.gen_len is not None else ""
    )
    _console().print(
        fmt.frame_table(
            shown,
            f"A: {first.model.name} on {first.device.name} · {sizes}"
            + (f" ({settings})" if settings else "")
            + f" · B changes {changed}",
        )
    )
    # What priced each side, and its notes (fallbacks, sizes beyond a profile's), as the
    # JSON's "a" and "b" hold them: the table alone hid them.
    for side, result in (("A", first), ("B", second)):
        _console().print(f"{side}: {result.options.estimate}", markup=False)
        for line in analysis_notes(result):
            _console().print(f"{side}: {line}", markup=False)


@app.command()
@_clean_errors
@analysis_options
def speculate(
    model: ModelArg,
    hardware: HardwareOpt = None,
    draft: Annotated[
        str | None, typer.Option(help="Draft model (any catalog model or config).")
    ] = None,
    medusa: Annotated[
        bool, typer.Option(help="Draft with Medusa heads instead of a model.")
    ] = False,
    mtp: Annotated[
        bool, typer.Option(help="Draft with the model's own multi-token-prediction module.")
    ] = False,
    gamma: Annotated[
        int, typer.Option("--gamma", "--draft-tokens", help="Draft tokens per target step.")
    ] = DRAFT_TOKENS,
    alpha: Annotated[
        float, typer.Option("--alpha", "--acceptance", help="Acceptance rate per drafted token.")
    ] = ACCEPTANCE,
    tree_width: Annotated[int, typer.Option(help="Candidates verified per position.")] = TREE_WIDTH,
    batch: Annotated[str, typer.Option(help="Batch sizes: 1,8,32 or 1:128:x2.")] = "1,8,32",
    context: Annotated[
        int | None,
        typer.Option(
            help="Tokens already in context. Default: 1024, or what the model's positions leave "
            "beside the gamma + 1 tokens a step verifies."
        ),
    ] = None,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Speculative decoding: tokens per target step, time per token and speed-up over plain
    decoding, across batch sizes."""
    import pandas as pd

    from rooflens.api import speculate as run

    opts = options or {}
    if context is None:
        context = speculation_context_default(resolve_model(model), gamma, opts)
    check_size("--context", context)
    device = _device(hardware, opts)
    sizes = parse_sizes("batch", batch)
    est = run(
        model,
        device,
        gamma=gamma,
        alpha=alpha,
        draft=draft,
        medusa_heads=medusa,
        mtp=mtp,
        tree_width=tree_width,
        batch=sizes,
        context=context,
        **_settings(opts).model_dump(exclude_defaults=True),
    )
    frame = pd.DataFrame(
        {
            "batch": sizes,
            "tokens_per_step": est.tokens_per_step,
            "plain_step": est.plain_step,
            "draft_time": est.draft_time,
            "verify_step": est.verify_step,
            "time_per_token": est.time_per_token,
            "speedup": est.speedup,
            # The drafter's own pass over the prompt before the first token (per batch).
            "prompt_time": est.prompt_time,
            # Per device: the target's and the drafter's weights and caches, the larger of the
            # prefill's and the verify step's activations; a speed-up where they do not fit is
            # of a setup that cannot run.
            "memory": est.memory.total,
            "fits": est.memory.fits,
        }
    )
    if output is OutputFormat.csv:
        _emit(None, frame, output)
        return
    # The target's plain decode step at the same sizes states what was computed.
    params = {"model": model, "hardware": hardware, "batch": sizes, "prompt_len": context}
    params |= {"gen_len": None, **opts}
    target = _run(params)
    if output is OutputFormat.json:
        assumed = speculation_context(draft, medusa, mtp, gamma, alpha, tree_width, context)
        data = json_context(target, params) | {"speculative": assumed}
        _emit(data | {"rows": frame.to_dict(orient="records")}, frame, output)
        return
    shown = frame.assign(
        **{
            c: frame[c].map(fmt.seconds)
            for c in ("plain_step", "draft_time", "verify_step", "time_per_token", "prompt_time")
        }
    )
    shown["speedup"] = frame.speedup.map(lambda v: f"{v:.2f}×")
    shown["tokens_per_step"] = frame.tokens_per_step.map(lambda v: f"{v:.2f}")
    shown["memory"] = frame.memory.map(lambda v: fmt.si(v, "B"))
    shown["fits"] = frame.fits.map({True: "yes", False: "NO"})
    drafter = drafter_words(draft, medusa, gamma)
    shown = shown.rename(columns={"memory": "memory per device"})
    _print_head(target, sizes=False)
    tree = f", tree width {tree_width}" if tree_width != 1 else ""
    title = f"with {drafter}, γ={gamma}, α={alpha}{tree}, context {context:,}"
    _console().print(fmt.frame_table(shown, title))
    if not frame.fits.all():
        over = [str(b) for b in frame.batch[~frame.fits]]
        _console().print(
            f"{'batch' if len(over) == 1 else 'batches'} {', '.join(over)}: the target's and "
            f"the drafter's weights and caches at {context:,} + {gamma + 1} tokens, with the "
            "prefill's or the verify step's activations, do not fit "
            f"in {fmt.si(est.memory.capacity, 'B')} per device; "
            + ("its speed-up is of a setup" if len(over) == 1 else "their speed-ups are of setups")
            + " that cannot run",
            style="bold red",
        )


def _show(value: float | bool, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if unit == "s":
        return fmt.seconds(value)
    if unit == "tokens/s":
        return f"{value:.4g} tok/s"
    return fmt.si(value, unit if unit != "OP" else "")


def _print_version(asked: bool) -> None:
    if asked:
        from rooflens import __version__

        try:
            print(f"rooflens {__version__}", flush=True)
        except BrokenPipeError:  # the reader closed stdout (`| true`): exit 0, as a command
            stdout_to_null()
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Roofline analysis of LLM inference: operators, bounds, latency and memory."""


def main(argv: list[str] | None = None) -> None:
    """The `rooflens` script: the commands, with typer's usage errors (a value of the wrong
    type, an unknown option) as one line on stderr and exit code 2, as all bad input."""
    try:
        code = app(args=argv, prog_name="rooflens", standalone_mode=False)
    except SystemExit as exc:
        # rich exits 1 where its help met a reader that had closed stdout (`--help | true`),
        # having sent stdout to the null device; that reader read what it wanted, as every
        # command's output takes it (exit 0).
        if exc.code == 1 and stdout_at_null():
            sys.exit(0)
        raise
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # typer's parsing errors (click's, vendored)
        message = exc.format_message()
        if message:  # a bare `rooflens` printed its help already, and exits 2 as typer does
            line = Text("error: ", style="red") + Text(usage_error_line(exc))
            err_console.print(line, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


# Commands that run on real hardware live beside these; importing registers them.
from rooflens.cli import advise_cmds, measure_cmds, plot_cmds, serve_cmds, web_cmd  # noqa: E402, F401


def _summaries_on_one_line(commands: list[typer.models.CommandInfo]) -> None:
    """The command list shows each docstring's first paragraph, and rich help keeps its source
    line breaks there, mid-sentence; the list gets the paragraph as one line instead."""
    for command in commands:
        doc = inspect.getdoc(command.callback) if command.callback else None
        if command.short_help is None and doc:
            command.short_help = " ".join(doc.split("\n\n")[0].split())


_summaries_on_one_line(app.registered_commands)
