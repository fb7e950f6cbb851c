"""`rooflens` command line: analyze, memory, sweep, models, hardware."""

from __future__ import annotations

import enum
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import click
import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.text import Text

from rooflens.api import (
    MAX_AXIS_VALUES,
    check_sweep_size,
    resolve_device,
    resolve_model,
    resolve_profile,
)
from rooflens.cli import format as fmt
from rooflens.core import analysis as core
from rooflens.core.analysis import default_prompt_len
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.hardware import Device
from rooflens.core.results import Analysis, compare
from rooflens.hardware.catalog import catalog, device_from_dict
from rooflens.models.catalog import bundled_models, load_model
from rooflens.models.config import SUPPORTED_MODEL_TYPES
from rooflens.settings import (
    SETTING_NAMES,
    Settings,
    accepted,
    parse_settings,
    setting_from_text,
    setting_kinds,
)

app = typer.Typer(
    help="Roofline analysis of LLM inference: operators, bounds, latency and memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Markup off: names, paths and values come from users and config files, and "[/x]" in one
# must print as written, not style (or crash) the output.
err_console = Console(stderr=True, markup=False, highlight=False)


def _console() -> Console:
    """The terminal's width (COLUMNS when set); full-width tables when piped to a file (rich
    would squeeze them to 80 columns)."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 150
    return Console(width=width, markup=False)


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Stage(str, enum.Enum):
    prefill = "prefill"
    decode = "decode"
    all = "all"


F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    return typer.Exit(code)


def _clean_errors(func: F) -> F:
    """The error boundary of every command: bad input (a value, a file, its encoding) is one
    line on stderr and exit code 2; anything else is a bug, one line and exit code 1
    (ROOFLENS_DEBUG=1 shows its traceback). Never a traceback by default."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except RooflensError as exc:
            raise _fail(str(exc), 2) from None
        except OSError as exc:
            where = f" {exc.filename!r}" if exc.filename else ""
            raise _fail(f"cannot use{where}: {exc.strerror or exc}", 2) from None
        except UnicodeError as exc:
            raise _fail(f"a file is not valid UTF-8 text: {exc}", 2) from None
        except Exception as exc:
            if os.environ.get("ROOFLENS_DEBUG"):
                raise
            name = type(exc).__name__
            raise _fail(f"internal error ({name}: {exc}); please report it", 1) from None

    return wrapper  # type: ignore[return-value]


# Shared options --------------------------------------------------------------------------------
ModelArg = Annotated[
    str,
    typer.Argument(
        help="Bundled Hugging Face id (see `rooflens models`), config.json, model folder or Hub id."
    ),
]
HardwareOpt = Annotated[
    str | None,
    typer.Option(
        "--hardware", "-H", help="Catalog device (see `rooflens hardware`) or a device TOML file."
    ),
]
BandwidthOpt = Annotated[
    float | None,
    typer.Option(
        help="Memory bandwidth in bytes/s: defines a custom device, or overrides --hardware's."
    ),
]
MemoryOpt = Annotated[
    float | None,
    typer.Option(
        "--memory",
        help="Memory capacity in bytes: for a custom device, or overriding --hardware's.",
    ),
]
PeakOpt = Annotated[
    list[str] | None,
    typer.Option("--peak", help="Peak OP/s per dtype, e.g. --peak bf16=989e12 (repeatable)."),
]
CalibrationOpt = Annotated[
    str | None,
    typer.Option(
        help="Calibrated estimate from a profile: 'auto' (the device's bundled one), "
        "a bundled profile name, or a TOML file. Empty: roofline bound."
    ),
]
WideOpt = Annotated[
    bool, typer.Option("--wide", help="Every column (default: the ones that fit 80 columns).")
]
FormatOpt = Annotated[
    str,
    typer.Option(help="Weight format: int (GPTQ/AWQ), fp (FP8/FP4), nf4 (QLoRA), mxfp4 (OCP MX)."),
]
WideOpt = Annotated[
    bool, typer.Option("--wide", help="Every column (default: the ones that fit 80 columns).")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


def _device(
    hardware: str | None, bandwidth: float | None, memory: float | None, peak: list[str] | None
) -> Device:
    peaks = _parse_peaks(peak or [])
    if hardware is None:
        missing = [
            n
            for n, v in (
                ("--bandwidth", bandwidth),
                ("--memory", memory),
                ("--peak", peaks or None),
            )
            if v is None
        ]
        if missing:
            raise InvalidInputError(
                "--hardware",
                None,
                f"a catalog device or file, or a custom device from --bandwidth, --memory and "
                f"--peak (missing: {', '.join(missing)})",
            )
        return device_from_dict(
            {
                "name": "custom",
                "memory_bandwidth": bandwidth,
                "memory_capacity": memory,
                "peak_ops": peaks,
            },
            "custom device",
        )
    base = resolve_device(hardware)
    if bandwidth is None and memory is None and not peaks:
        return base
    data = base.model_dump()
    data["name"] = f"{base.name} (modified)"
    if bandwidth is not None:
        data["memory_bandwidth"] = bandwidth
    if memory is not None:
        data["memory_capacity"] = memory
    data["peak_ops"] = {**data["peak_ops"], **peaks}
    return device_from_dict(data, "--hardware with overrides")


def _catalog_name(device: Device) -> str:
    """The catalog device a (possibly overridden) device stands for: engine profiles are
    fitted per catalog device."""
    return device.name.removesuffix(" (modified)")


def _parse_peaks(items: list[str]) -> dict[str, float]:
    peaks = {}
    for item in items:
        dtype, sep, value = item.partition("=")
        try:
            peaks[dtype.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInputError("--peak", item, "DTYPE=OPS, e.g. bf16=989e12")
    return peaks


def parse_sizes(field: str, text: str) -> np.ndarray:
    """'1,8,32', '1:1024:x2' (geometric) or '128:4096:+128' (arithmetic) -> array of ints."""
    accepted = (
        "positive integers like 1,8,32 or ranges START:STOP:xFACTOR / START:STOP:+STEP with "
        f"1 <= START <= STOP and at most {MAX_AXIS_VALUES} values"
    )
    try:
        if ":" not in text:
            values = np.array([int(v) for v in text.split(",")], dtype=np.int64)
        else:
            start_s, stop_s, step_s = text.split(":")
            start, stop = int(start_s), int(stop_s)
            if not 1 <= start <= stop:
                raise ValueError
            if step_s.startswith("x"):
                factor = float(step_s[1:])
                if not factor > 1 or not np.isfinite(factor):
                    raise ValueError
                count = int(np.floor(np.log(stop / start) / np.log(factor) + 1e-9)) + 1
                if count > MAX_AXIS_VALUES:
                    raise ValueError
                values = np.unique(np.round(start * factor ** np.arange(count)).astype(np.int64))
            else:
                step = int(step_s.lstrip("+"))
                if step <= 0 or (stop - start) // step + 1 > MAX_AXIS_VALUES:
                    raise ValueError
                values = np.arange(start, stop + 1, step, dtype=np.int64)
        if values.size > MAX_AXIS_VALUES or np.any(values < 1):
            raise ValueError
        return values
    except (ValueError, OverflowError):
        raise InvalidInputError(field, text, accepted) from None


SIZE_NAMES = ("batch", "prompt_len", "gen_len")


def _settings(params: dict[str, Any]) -> Settings:
    """The declared settings among a command's parameters; an option left empty on the
    command line keeps the setting's default."""
    # Options left out are None: only what was typed is set, so a checkpoint's precision
    # stays the default where the user gave none.
    values = {name: params[name] for name in SETTING_NAMES if params.get(name) is not None}
    return parse_settings(values)


def _run(params: dict[str, Any]) -> Analysis:
    """The analysis a command asks for; every command names its parameters the same way."""
    settings = _settings(params)
    spec = settings.pruned(resolve_model(params["model"]))
    prompt_len = params["prompt_len"]
    if prompt_len is None:
        prompt_len = default_prompt_len(spec, params["gen_len"])
    device = _device(
        params.get("hardware"), params.get("bandwidth"), params.get("memory"), params.get("peak")
    )
    profile = resolve_profile(settings, settings.what_if(device), _catalog_name(device))
    device = settings.what_if(device)
    return core.analyze(
        spec,
        device,
        batch=params["batch"],
        prompt_len=prompt_len,
        gen_len=params["gen_len"],
        options=settings.analysis_options(profile, spec),
        images=params.get("images", 0),
    )


def _emit(data: Any, frame: pd.DataFrame | None, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(fmt.to_json(data))
    elif output is OutputFormat.csv and frame is not None:
        sys.stdout.write(frame.to_csv(index=False))


def _device_options(
    bandwidth: BandwidthOpt = None,
    memory: MemoryOpt = None,
    peak: PeakOpt = None,
) -> None:
    """The flags that define a custom device or override a catalog one's figures."""


def _setting_option(name: str) -> inspect.Parameter:
    """The command-line option of one declared setting: its flag, type, default, help (with
    what it accepts) and help panel all come from `rooflens.settings.Settings`."""
    field = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    kinds = setting_kinds(name)
    decls = [f"{flag}/--no-{flag[2:]}"] if bool in kinds else [flag]
    # Text (lists too, and a choice of words and numbers such as w_scale) is read as declared
    # by the settings' validators; numbers are converted by the command line.
    kind: Any = next((k for k in (bool, str, int, float) if k in kinds), str) | None
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    shown = field.default
    if isinstance(shown, tuple):
        shown = ",".join(shown) or "none"
    default_text = "" if shown is None else f"; default {str(shown).lower()}"
    help_text = f"{field.description} [{accepted(Settings, name)}{default_text}]"
    option = typer.Option(*decls, help=help_text, rich_help_panel=str(extra.get("group")))
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]
    )


def analysis_options(func: F) -> F:
    """Add every declared setting (and the custom-device flags) to a command's options, and
    hand them to it as one `options` dict. Typer reads options from a signature, so the
    signature is built from the declaration."""
    device = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(_device_options, eval_str=True).parameters.values()
    ]
    shared = [*(_setting_option(name) for name in SETTING_NAMES), *device]
    own = [
        p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "options"
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        options = {p.name: kwargs.pop(p.name) for p in shared if p.name in kwargs}
        return func(*args, options=options, **kwargs)

    wrapper.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
    return wrapper  # type: ignore[return-value]


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
    images: Annotated[
        int,
        typer.Option(
            min=0,
            help="Images per request (multimodal models): the vision encoder runs as a stage "
            "before the prefill, which reads the images' tokens.",
        ),
    ] = 0,
    stage: Annotated[Stage, typer.Option(help="Which stage's operators to show.")] = Stage.all,
    draft: Annotated[
        str | None,
        typer.Option(
            help="Speculative decoding with this draft model: adds its estimate at this point."
        ),
    ] = None,
    medusa: Annotated[
        bool,
        typer.Option(help="Speculative decoding with Medusa heads (instead of a draft model)."),
    ] = False,
    gamma: Annotated[int, typer.Option(help="Speculation: draft tokens per step.")] = 4,
    alpha: Annotated[float, typer.Option(help="Speculation: acceptance rate per token.")] = 0.8,
    tree_width: Annotated[int, typer.Option(help="Speculation: candidates per position.")] = 1,
    hourly_price: Annotated[
        float | None,
        typer.Option(help="USD per device-hour for the cost figures (default: the catalog's)."),
    ] = None,
    grid_intensity: Annotated[
        float | None, typer.Option(help="Grid carbon intensity (gCO2e/kWh): adds carbon.")
    ] = None,
    wide: WideOpt = False,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Per-operator roofline of prefill and decode, network totals, memory and generation."""
    result = _run({**locals(), **(options or {})})
    stages = ["prefill", "decode"] if stage is Stage.all else [stage.value]
    if "vision" in result.steps and stage is Stage.all:
        stages.insert(0, "vision")
    frame = result.operators()
    frame = frame[frame.stage.isin(stages)]
    speculation = None
    if draft is not None or medusa:
        from rooflens.core.speculative import speculative

        speculation = speculative(
            result.model,
            result.device,
            gamma=gamma,
            alpha=alpha,
            draft=None if draft is None else resolve_model(draft),
            medusa_heads=medusa,
            tree_width=tree_width,
            batch=result.batch,
            context=result.prompt_len,
            options=result.options,
        ).to_dict()
    money = {"hourly_price": hourly_price, "grid_intensity": grid_intensity}
    if hourly_price is not None or grid_intensity is not None:
        result.economics(**money)  # bad figures fail here, before any output
    if output is not OutputFormat.table:
        data = result.to_dict(**money)
        data["operators"] = [r for r in data["operators"] if r["stage"] in stages]
        if speculation is not None:
            data["speculative"] = speculation
        _emit(data, frame, output)
        return
    _print_analysis(result, frame, stages, money, wide)
    if speculation is not None:
        drafter = f"draft {draft}" if draft else f"{gamma} Medusa heads"
        _console().print(
            fmt.key_value_table(
                f"speculative decoding: {drafter}, γ={gamma}, α={alpha}",
                [
                    ("tokens per target step", f"{speculation['tokens_per_step']:.2f}"),
                    ("time per token", fmt.seconds(speculation["time_per_token"])),
                    ("plain decode step", fmt.seconds(speculation["plain_step"])),
                    ("speed-up", f"{speculation['speedup']:.2f}×"),
                ],
            )
        )


def _print_analysis(
    result: Analysis,
    frame: pd.DataFrame,
    stages: list[str],
    money: dict[str, float | None] | None = None,
    wide: bool = False,
) -> None:
    q = result.options.quantization
    _console().print(
        Text(result.model.name, style="bold")
        + " on "
        + Text(result.device.display_name or result.device.name, style="bold")
        + f" · {fmt.si(result.params)} params · batch {int(result.batch)} · prompt "
        f"{int(result.prompt_len)} · W{q.w_bits}A{q.a_bits}KV{q.kv_bits}"
        f"{' · FlashAttention' if result.options.flash_attention else ''}"
        f" · {result.options.estimate}"
    )
    stored = result.model.checkpoint_quant
    if stored is not None:
        kept = "as stored" if q == stored.quantization else "overridden by the settings given"
        _console().print(f"checkpoint: {stored.method} quantization_config, precision {kept}")
    changed = fmt.changed_options(
        result.options, shown=("w_bits", "a_bits", "kv_bits", "flash_attention", "execution")
    )
    if changed:
        _console().print("settings: " + ", ".join(changed))
    devices = result.options.parallelism.devices
    if devices > 1:
        _console().print(
            f"{devices} devices: weights, KV cache and times are per device; power and cost "
            "cover all of them"
        )
    totals = result.totals()
    for stage in stages:
        t = totals[stage]
        _console().print(
            fmt.operators_table(frame[frame.stage == stage], stage, float(t["time"]), wide)
        )
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
    peak = result.peak_memory
    over = "the whole generation" if result.generation is not None else "prefill and decode"
    verdict = "fits" if peak.fits else "DOES NOT FIT"
    _console().print(
        f"memory at the peak of {over}: {fmt.si(float(peak.total), 'B')} of "
        f"{fmt.si(peak.capacity, 'B')}, {verdict}; largest batch that fits: {int(peak.max_batch)}",
        style=None if peak.fits else "bold red",
    )
    if result.generation is not None:
        g = result.generation
        _console().print(
            fmt.key_value_table(
                f"generation of {int(result.gen_len)} tokens",
                [
                    ("time to first token", fmt.seconds(float(g["ttft"]))),
                    ("time per output token", fmt.seconds(float(g["tpot"]))),
                    ("end-to-end latency", fmt.seconds(float(g["e2e_latency"]))),
                    ("throughput", f"{float(g['throughput']):.4g} tokens/s"),
                ],
            )
        )
    if result.device.tdp is not None:
        rows = _economics_rows(result, **(money or {}))
        _console().print(fmt.key_value_table("energy and cost", rows))


def _economics_rows(
    result: Analysis, hourly_price: float | None = None, grid_intensity: float | None = None
) -> list[tuple[str, str]]:
    """Power, energy, price and carbon per token (docs/advisor.md gives the model)."""
    e = {k: float(v) for k, v in result.economics(hourly_price, grid_intensity).items()}
    rows = [
        ("power (prefill / decode)", f"{e['prefill_power']:.0f} W / {e['decode_power']:.0f} W"),
        ("energy per output token", fmt.si(e["energy_per_output_token"], "J")),
    ]
    if "energy_per_request" in e:
        rows.append(("energy per request", fmt.si(e["energy_per_request"], "J")))
    if "cost_per_million_output" in e:
        price = hourly_price or result.device.hourly_price
        rows.append(
            (
                f"cost per million tokens at ${price:g}/device-h",
                f"input ${e['cost_per_million_input']:.4f} · output "
                f"${e['cost_per_million_output']:.4f}",
            )
        )
    if "carbon_per_million_output" in e:
        rows.append(
            (
                f"carbon at {grid_intensity:g} gCO2e/kWh",
                f"{e['carbon_per_million_output'] / 1e3:.3g} kg per million output tokens",
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
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Memory footprint per stage: weights, KV cache, peak activations, fit and largest batch."""
    result = _run({**locals(), **(options or {})})
    data = result.to_dict()["memory"]
    frame = pd.DataFrame([{"stage": s, **v} for s, v in data.items()])
    if output is not OutputFormat.table:
        _emit(data, frame, output)
        return
    shown = frame.copy()
    for col in ("weights", "kv_cache", "activations", "total", "capacity"):
        shown[col] = shown[col].map(lambda v: fmt.si(v, "B"))
    shown["max_batch"] = shown["max_batch"].map(int)
    _console().print(fmt.frame_table(shown, f"{result.model.name} on {result.device.name}: memory"))


@app.command()
@_clean_errors
@analysis_options
def sweep(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[str, typer.Option(help="Batch sizes: 1,8,32 or 1:256:x2.")] = "1",
    prompt_len: Annotated[
        str, typer.Option(help="Prompt lengths: 128,2048 or 128:8192:x2.")
    ] = "2048",
    gen_len: Annotated[str | None, typer.Option(help="Generation lengths, same syntax.")] = None,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Every combination of batch, prompt and generation lengths, in one vectorized pass."""
    axes = [parse_sizes("batch", batch), parse_sizes("prompt_len", prompt_len)]
    if gen_len is not None:
        axes.append(parse_sizes("gen_len", gen_len))
    check_sweep_size(axes)
    grids = np.meshgrid(*axes, indexing="ij")
    sizes = {
        "batch": grids[0],
        "prompt_len": grids[1],
        "gen_len": grids[2] if gen_len is not None else None,
    }
    result = _run({**locals(), **(options or {}), **sizes})
    frame = result.summary()
    if output is OutputFormat.json:
        _emit(json.loads(frame.to_json(orient="records", double_precision=15)), frame, output)
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
    shown = frame[cols].copy()
    for col in cols:
        if col.endswith("time") or col in ("ttft", "tpot"):
            shown[col] = shown[col].map(fmt.seconds)
        elif col.endswith("memory_total") or col == "peak_memory":
            shown[col] = shown[col].map(lambda v: fmt.si(v, "B"))
        elif col == "throughput":
            shown[col] = shown[col].map(lambda v: f"{v:.4g} tok/s")
    _console().print(fmt.frame_table(shown, f"{result.model.name} on {result.device.name}"))


@app.command()
@_clean_errors
def models(wide: WideOpt = False, output: FormatOpt = OutputFormat.table) -> None:
    """The bundled models, with their computed parameter counts."""
    from rooflens.core.graph import build_graph
    from rooflens.core.options import AnalysisOptions

    rows = []
    for model_id in sorted(bundled_models(), key=str.lower):
        m = load_model(model_id)
        rows.append(
            {
                "id": model_id,
                "model_type": m.model_type,
                "params": build_graph(m, AnalysisOptions()).params(),
                "layers": m.num_layers,
                "hidden": m.hidden_size,
                "heads": m.num_heads,
                "kv_heads": m.num_kv_heads,
                "head_dim": m.head_dim,
                "intermediate": m.intermediate_size,
                "vocab": m.vocab_size,
                "max_positions": m.max_positions,
            }
        )
    frame = pd.DataFrame(rows)
    if output is not OutputFormat.table:
        _emit(rows, frame, output)
        return
    shown = frame.assign(params=frame.params.map(fmt.si))
    if not wide:
        shown = shown[["id", "model_type", "params", "layers", "max_positions"]]
    _console().print(
        fmt.frame_table(
            shown,
            f"bundled models ({len(rows)}); supported model_types: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}",
        )
    )


@app.command()
@_clean_errors
def hardware(
    name: Annotated[str | None, typer.Argument(help="Show one device in full.")] = None,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """The device catalog (or one device with the sources of its figures)."""
    if name is not None:
        device = resolve_device(name)
        data = device.model_dump()
        if output is not OutputFormat.table:
            _emit(data, pd.json_normalize(data), output)
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


def _setting(item: str) -> tuple[str, Any]:
    """'w_bits=4' -> ('w_bits', 4), each value read as its declared type."""
    key, sep, text = item.partition("=")
    key = key.strip().replace("-", "_")
    allowed = ("model", "hardware", *SIZE_NAMES, *SETTING_NAMES)
    if not sep or key not in allowed:
        raise InvalidInputError(
            "--vs/--base", item, f"KEY=VALUE with KEY one of {', '.join(allowed)}"
        )
    text = text.strip()
    if key in SETTING_NAMES:
        return key, setting_from_text(key, text)
    if key in SIZE_NAMES:
        if key == "gen_len" and text.lower() in ("", "none"):
            return key, None
        try:
            return key, int(text)
        except ValueError:
            raise InvalidInputError(key, text, "a positive integer") from None
    return key, text


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
        typer.Option(help="Setting of analysis A, KEY=VALUE (repeatable), e.g. w_bits=8."),
    ] = None,
    vs: Annotated[
        list[str] | None,
        typer.Option(
            help="What B changes from A, KEY=VALUE (repeatable), e.g. w_bits=4, tp=2, "
            "hardware=h200-sxm, model=Qwen/Qwen2.5-7B."
        ),
    ] = None,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """Two analyses side by side with ratios: a technique on and off, two devices, a teacher and
    its distilled student."""
    a = {
        "model": model,
        "hardware": hardware,
        "batch": batch,
        "prompt_len": prompt_len,
        "gen_len": gen_len,
        **dict(_setting(x) for x in base or []),
    }
    b = {**a, **dict(_setting(x) for x in vs or [])}
    first, second = _run(a), _run(b)
    frame = compare(first, second)
    if output is not OutputFormat.table:
        _emit(json.loads(frame.to_json(orient="records", double_precision=15)), frame, output)
        return
    changed = ", ".join(f"{k}={v}" for k, v in b.items() if a.get(k) != v) or "nothing"
    shown = pd.DataFrame(
        {
            "metric": frame.metric,
            "A": [_show(v, u) for v, u in zip(frame.a, frame.unit, strict=True)],
            "B": [_show(v, u) for v, u in zip(frame.b, frame.unit, strict=True)],
            "B / A": frame.ratio.map(lambda r: f"{r:.3g}×"),
        }
    )
    _console().print(
        fmt.frame_table(
            shown, f"A: {first.model.name} on {first.device.name} · B changes {changed}"
        )
    )


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
    gamma: Annotated[int, typer.Option(help="Draft tokens per target step.")] = 4,
    alpha: Annotated[float, typer.Option(help="Acceptance rate per drafted token.")] = 0.8,
    tree_width: Annotated[int, typer.Option(help="Candidates verified per position.")] = 1,
    batch: Annotated[str, typer.Option(help="Batch sizes: 1,8,32 or 1:128:x2.")] = "1,8,32",
    context: Annotated[int, typer.Option(help="Tokens already in context.")] = 1024,
    output: FormatOpt = OutputFormat.table,
    options: dict[str, Any] | None = None,
) -> None:
    """Speculative decoding: tokens per target step, time per token and speed-up over plain
    decoding, across batch sizes."""
    from rooflens.api import speculate as run

    opts = options or {}
    device = _device(hardware, opts.get("bandwidth"), opts.get("memory"), opts.get("peak"))
    sizes = parse_sizes("batch", batch)
    est = run(
        model,
        device,
        gamma=gamma,
        alpha=alpha,
        draft=draft,
        medusa_heads=medusa,
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
        }
    )
    if output is not OutputFormat.table:
        _emit(json.loads(frame.to_json(orient="records", double_precision=15)), frame, output)
        return
    shown = frame.assign(
        **{
            c: frame[c].map(fmt.seconds)
            for c in ("plain_step", "draft_time", "verify_step", "time_per_token")
        }
    )
    shown["speedup"] = frame.speedup.map(lambda v: f"{v:.2f}×")
    shown["tokens_per_step"] = frame.tokens_per_step.map(lambda v: f"{v:.2f}")
    drafter = f"draft {draft}" if draft else f"{gamma} Medusa heads"
    _console().print(fmt.frame_table(shown, f"{model} with {drafter}, γ={gamma}, α={alpha}"))


def _show(value: float, unit: str) -> str:
    if unit == "s":
        return fmt.seconds(value)
    if unit == "tokens/s":
        return f"{value:.4g} tok/s"
    return fmt.si(value, unit if unit != "OP" else "")


def main() -> None:
    app()


# Commands that run on real hardware live beside these; importing registers them.
from rooflens.cli import advise_cmds, measure_cmds, plot_cmds, serve_cmds, web_cmd  # noqa: E402, F401
