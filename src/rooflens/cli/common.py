"""What every `rooflens` command shares: the Typer app, consoles, the error boundary, the
options derived from the settings declaration, device flags, sizes and the analysis run.
Command modules import from here; `rooflens.cli.app` imports them to register their
commands, so no module of the package imports another that imports it back."""

from __future__ import annotations

import enum
import functools
import inspect
import math
import os
import re
import select
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args

import numpy as np
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from rooflens.api import (
    MAX_AXIS_VALUES,
    options_for,
    resolve_device,
    resolve_model,
)
from rooflens.cli import format as fmt
from rooflens.core import analysis as core
from rooflens.core.analysis import default_prompt_len
from rooflens.core.errors import InvalidInputError, RooflensError, bound_words, known_names
from rooflens.core.hardware import MAX_CAPACITY, RATE_BOUNDS, ComputeDtype, Device
from rooflens.core.results import Analysis
from rooflens.core.speculative import (
    ACCEPTANCE,
    DRAFT_TOKENS,
    TREE_WIDTH,
    speculative_generation,
)
from rooflens.core.validation import MAX_SIZE
from rooflens.formats import FIGURE_SUFFIXES, TABLE_SUFFIXES
from rooflens.hardware.catalog import checked_tdp, device_from_dict, modified, timed_figures
from rooflens.settings import (
    IMAGES_HELP,
    SETTING_NAMES,
    Settings,
    accepted,
    option_name,
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

if TYPE_CHECKING:
    import pandas as pd
# Markup off: names, paths and values come from users and config files, and "[/x]" in one
# must print as written, not style (or crash) the output.
err_console = Console(stderr=True, markup=False, highlight=False, emoji=False)


class _Output(Console):
    """The console commands print to. A reader that stopped reading (`| head`) ends the
    command with exit code 0, as output that fit the pipe before it closed does; rich's own
    answer is 1, which read as a failure."""

    def on_broken_pipe(self) -> None:
        try:
            super().on_broken_pipe()  # further output to the null device
        except SystemExit:
            raise SystemExit(0) from None


def _console(at_least: int = 0) -> Console:
    """The terminal's width (COLUMNS when set); full-width tables when piped to a file (rich
    would squeeze them to 80 columns). `at_least`: wider than the terminal if need be, for a
    table whose cells would otherwise be cut (fmt.narrowest_width)."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 150
    console = _Output(width=width, markup=False, emoji=False)
    if console.width < at_least:
        console = _Output(width=at_least, markup=False, emoji=False)
    return console


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Stage(str, enum.Enum):
    prefill = "prefill"
    decode = "decode"
    vision = "vision"  # the image encoder, with --images
    all = "all"


F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    return typer.Exit(code)


# What typer's parsers accept, by the pydantic error a refused value raised.
_PARSED_AS = {
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
}


def usage_error_line(exc: typer.TyperException) -> str:
    """Typer's usage error (a value it could not parse, an unknown or incomplete option) as
    one line like every other bad input's: the option, the value and what it accepts."""
    param = getattr(exc, "param", None)
    cause = exc.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if param is None or not errors or "input" not in errors[0]:
        command = getattr(getattr(exc, "ctx", None), "command_path", "rooflens")
        # click suggests the options nearest in spelling: --help alone is no suggestion.
        message = exc.format_message().replace(" (Possible options: --help)", "")
        unknown = type(exc).__name__ == "NoSuchOption"  # click's, as typer vendors it
        if unknown and command.startswith("rooflens plot") and _setting_flag(exc.option_name):
            # The plots take the analysis's settings per line, not as options of their own;
            # any other unknown option keeps click's words and suggestions alone.
            message += "; a plot's lines take settings as --setting LABEL:key=value (tp=8)"
        elif unknown:
            ours = _own_spelling(exc)
            if ours:
                # click's nearest spelling misleads here (--device: "Possible options: --engine").
                message = f"No such option: {exc.option_name}; rooflens calls it {ours}"
        return f"{message} (see `{command} --help`)"
    # The option by its first long name as declared (--hardware, not -H; --arrival beside its
    # --arrivals alias).
    option = next((o for o in param.opts if o.startswith("--")), param.name)
    error = errors[0]
    choices = re.search(r"is not one of (.+?)\.?$", str(error.get("msg", "")))
    if choices:
        accepted = "one of " + choices.group(1).replace("'", "")
    else:
        accepted = _PARSED_AS.get(error.get("type", "")) or _bound(error)
    return f"{option}={error['input']!r} is invalid: expected {accepted}"


# The spellings the engines' and benchmarks' own command lines use (vLLM, SGLang, TensorRT-LLM,
# AIConfigurator, benchmark_serving), by rooflens' option for the same thing.
_OWN_SPELLINGS = {
    "--hardware": ("--device", "--gpu", "--gpus", "--system", "--accelerator"),
    "--devices": ("--device", "--gpu", "--gpus", "--system", "--hardware", "-H"),
    "--tp": ("--tensor-parallel-size", "--tp-size", "--tensor-parallel"),
    "--pp": ("--pipeline-parallel-size", "--pp-size"),
    "--dp": ("--data-parallel-size", "--dp-size"),
    "--ep": ("--expert-parallel-size", "--ep-size", "--moe-ep-size"),
    "--batch": ("--batch-size", "--bs"),
    "--prompt-len": ("--input-len", "--input-length", "--isl", "--random-input-len"),
    "--gen-len": ("--output-len", "--output-length", "--osl", "--random-output-len"),
    "--concurrency": ("--max-concurrency",),
    "--requests": ("--num-prompts", "--num-requests"),
    "--rate": ("--request-rate", "--qps"),
    "--max-batch": ("--max-num-seqs", "--max-running-requests", "--max-batch-size"),
    "--max-tokens": ("--max-num-batched-tokens", "--max-num-tokens", "--max-prefill-tokens"),
    "--memory-fraction": (
        "--gpu-memory-utilization",
        "--mem-fraction-static",
        "--free-gpu-memory-fraction",
    ),
    "--kv-bits": ("--kv-cache-dtype",),
    # Other tools' output switches (rooflens: -f json, -f csv).
    "--format": ("--json", "--csv", "--output-format"),
}


def _setting_flag(option: str) -> bool:
    """Whether `option` is a declared setting's flag (--tp, --w-bits, --no-offload-kv), as
    `analyze` takes it."""
    name = option.removeprefix("--").removeprefix("no-").replace("-", "_")
    flags = {option_name(Settings, n) for n in SETTING_NAMES}
    return option.startswith("--") and (name in flags or name in SETTING_NAMES)


def _own_spelling(exc: typer.TyperException) -> str:
    """rooflens' option for an engine's spelling of it, where this command takes that option
    ('--hardware (-H)' for --device); empty for any other unknown option."""
    typed = getattr(exc, "option_name", "")
    command = getattr(getattr(exc, "ctx", None), "command", None)
    for ours, theirs in _OWN_SPELLINGS.items():
        if typed not in theirs:
            continue
        for param in getattr(command, "params", ()):
            if ours in param.opts:
                short = [opt for opt in param.opts if not opt.startswith("--")]
                return f"{ours} ({short[0]})" if short else ours
    return ""


def _bound(error: Mapping[str, Any]) -> str:
    """'at least 1' for a value under an option's min=1 (a bound typer's parser checks, by
    the pydantic error it raised); else pydantic's own words."""
    return bound_words(error) or str(error.get("msg", ""))


def file_name(value: str | Path) -> Path:
    """A file option's value as given: an empty name is refused before Path reads it as '.',
    the folder it would then name."""
    if isinstance(value, Path):
        return value
    if not value.strip():
        raise typer.BadParameter(f"{value!r}: expected a file name")
    return Path(value)


def writable_folder(option: str, path: Path | None) -> None:
    """Before any work: a file to write needs its folder (the run would be lost after it)."""
    if path is not None and not path.resolve().parent.is_dir():
        raise InvalidInputError(option, str(path), "a file in a folder that exists")


def figure_file(option: str, path: Path | None) -> None:
    """Before any work: a figure's file needs a suffix it can be written as, and its folder."""
    _suffixed(option, path, FIGURE_SUFFIXES)


def table_file(option: str, path: Path | None) -> None:
    """Before any work: a table's file is CSV, and says so (results.json held CSV)."""
    _suffixed(option, path, TABLE_SUFFIXES)


def _suffixed(option: str, path: Path | None, suffixes: tuple[str, ...]) -> None:
    if path is not None and path.suffix.lower() not in suffixes:
        raise InvalidInputError(option, str(path), f"a file ending in {', '.join(suffixes)}")
    writable_folder(option, path)


def wrote(path: Path) -> None:
    """Say where a file went. On stderr: a command that writes a file beside its answer
    (simulate's --plot, advise's) keeps stdout to the answer, which a script may read as JSON
    or CSV."""
    err_console.print(f"wrote {path}", soft_wrap=True)  # a path broken over lines is no path


def stdout_closed() -> bool:
    """Whether stdout is a pipe its reader has closed (poll reports an error on its end),
    not a file or pipe a command writes beside it (--requests-out)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor
        return False
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def stdout_at_null() -> bool:
    """Whether stdout now writes to the null device: where rich sent it on meeting a reader
    that had closed the pipe (Console.on_broken_pipe), or stdout_to_null."""
    try:
        here, null = os.fstat(sys.stdout.fileno()), os.stat(os.devnull)
    except (AttributeError, OSError, ValueError):
        return False
    return (here.st_dev, here.st_ino, here.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def stdout_to_null() -> None:
    """Send what stdout still holds to the null device, once its reader has closed it: the
    flush at exit would otherwise fail on the closed pipe (exit 1, a traceback)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _clean_errors(func: F) -> F:
    """The error boundary of every command: bad input (a value, a file, its encoding) is one
    line on stderr and exit code 2; anything else is a bug, one line and exit code 1
    (ROOFLENS_DEBUG=1 shows its traceback). Never a traceback by default."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own usage errors
            raise
        except RooflensError as exc:
            raise _fail(str(exc), 2) from None
        except BrokenPipeError as exc:
            if not stdout_closed():  # a file or pipe the command writes to: bad input
                raise _fail(f"cannot use: {exc.strerror or exc}", 2) from None
            # The reader stopped reading (`| head`): what it read was all it wanted (exit 0,
            # as the tables' console does).
            stdout_to_null()
            raise typer.Exit(0) from None
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


def _empty_is_none(value: str | None) -> str | None:
    # -H "": no device named (a device of one's own, as the API's empty name), in every command.
    return None if value is not None and not value.strip() else value


HardwareOpt = Annotated[
    str | None,
    typer.Option(
        "--hardware",
        "-H",
        help="Catalog device (see `rooflens hardware`) or a device TOML file.",
        callback=_empty_is_none,
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
TdpOpt = Annotated[
    float | None,
    typer.Option(
        "--tdp",
        help="Board power in W, for power, energy and cost: for a custom device, or overriding "
        "--hardware's.",
    ),
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
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
# What analyze and report add beside the analysis (no analysis settings: the images a request
# carries, a speculative-decoding estimate, the price and carbon figures), declared once here.
ImagesOpt = Annotated[
    int,
    typer.Option(min=0, help=IMAGES_HELP),
]
DraftOpt = Annotated[
    str | None,
    typer.Option(
        help="Speculative decoding with this draft model: adds its estimate at this point."
    ),
]
MedusaOpt = Annotated[
    bool,
    typer.Option(help="Speculative decoding with Medusa heads (instead of a draft model)."),
]
MtpOpt = Annotated[
    bool,
    typer.Option(help="Speculative decoding with the model's own multi-token-prediction module."),
]
# --draft-tokens and --acceptance too, as `simulate` names the same two figures.
GammaOpt = Annotated[
    int | None,
    typer.Option(
        "--gamma",
        "--draft-tokens",
        help=f"Speculation: draft tokens per step (default {DRAFT_TOKENS}).",
    ),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        "--acceptance",
        help=f"Speculation: acceptance rate per token (default {ACCEPTANCE:g}).",
    ),
]
TreeWidthOpt = Annotated[
    int | None,
    typer.Option(help=f"Speculation: candidates per position (default {TREE_WIDTH})."),
]
HourlyPriceOpt = Annotated[
    float | None,
    typer.Option(help="USD per device-hour for the cost figures (default: the catalog's)."),
]
GridIntensityOpt = Annotated[
    float | None, typer.Option(help="Grid carbon intensity (gCO2e/kWh): adds carbon.")
]


def speculation_given(
    drafting: bool, gamma: int | None, alpha: float | None, tree_width: int | None
) -> None:
    """Speculation's figures without a drafter would be taken and mean nothing: refused."""
    if drafting:
        return  # the estimate checks their values
    # Each by both its names: either may have been typed.
    named = (("--gamma/--draft-tokens", gamma), ("--alpha/--acceptance", alpha))
    for flag, value in (*named, ("--tree-width", tree_width)):
        if value is not None:
            raise InvalidInputError(
                flag, value, "left out without --draft, --medusa or --mtp (no speculation)"
            )


def drafter_words(draft: str | None, medusa: bool, gamma: int) -> str:
    """What drafts, in words: a draft model, Medusa heads or the model's MTP module."""
    if draft:
        return f"draft {draft}"
    return f"{gamma} Medusa heads" if medusa else "its MTP module"


def speculation_estimate(
    result: Analysis,
    draft: str | None,
    medusa: bool,
    mtp: bool,
    gamma: int | None,
    alpha: float | None,
    tree_width: int | None,
    hourly_price: float | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Speculative decoding at the analysis's point, as `rooflens analyze --draft/--medusa/--mtp`
    estimates it: its figures (with the generation sped up as "generation" where the analysis
    generates) and what it is, in words ('speculative decoding: its MTP module, γ=4, α=0.85');
    (None, "") without a drafter."""
    if draft is None and not medusa and not mtp:
        return None, ""
    from rooflens.core.speculative import speculative

    gamma = DRAFT_TOKENS if gamma is None else gamma
    alpha = ACCEPTANCE if alpha is None else alpha
    tree_width = TREE_WIDTH if tree_width is None else tree_width
    speculation = speculative(
        result.model,
        result.device,
        gamma=gamma,
        alpha=alpha,
        draft=None if draft is None else resolve_model(draft, "--draft"),
        medusa_heads=medusa,
        mtp=mtp,
        tree_width=tree_width,
        batch=result.batch,
        context=result.prompt_len,
        options=result.options,
    ).to_dict()
    # What it assumed, then its figures: the context is the prompt the analysis prefilled.
    assumed = (draft, medusa, mtp, gamma, alpha, tree_width, int(np.asarray(result.prompt_len)))
    speculation = speculation_context(*assumed) | speculation
    # None without gen_len: the key is there either way.
    speculation["generation"] = speculative_generation(
        result, speculation["speedup"], hourly_price, speculation["prompt_time"]
    )
    drafter = drafter_words(draft, medusa, gamma)
    return speculation, f"speculative decoding: {drafter}, γ={gamma}, α={alpha}"


# For commands whose settings come as KEY=VALUE lists (compare, plot): the declared setting's
# flag, which the context-length errors name, applied to every analysis the command runs.
LongContextOpt = Annotated[
    bool,
    typer.Option(
        "--allow-long-context",
        help=f"{Settings.model_fields['allow_long_context'].description.rstrip('.')}, in "
        "every analysis the command runs.",
    ),
]


def _device(hardware: str | None, flags: dict[str, Any]) -> Device:
    """The device a command runs on: `hardware` from the catalog or a file, its figures
    overridden by the custom-device flags in `flags` (`_device_options`), or a custom device
    of those flags alone."""
    bandwidth, memory, tdp = flags.get("bandwidth"), flags.get("memory"), flags.get("tdp")
    _check_rate("--bandwidth", bandwidth, "bytes/s")
    _check_rate("--memory", memory, "bytes", (1.0, MAX_CAPACITY))
    peaks = _parse_peaks(flags.get("peak") or [])
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
                "tdp": checked_tdp("--tdp", tdp),
            },
            "custom device",
        )
    base = resolve_device(hardware)
    checked_tdp("--tdp", tdp, base)
    if bandwidth is None and memory is None and not peaks and tdp is None:
        return base
    data = base.model_dump()
    if bandwidth is not None:
        data["memory_bandwidth"] = bandwidth
    if memory is not None:
        data["memory_capacity"] = memory
    if tdp is not None:
        data["tdp"] = tdp
    data["peak_ops"] = {**data["peak_ops"], **peaks}
    device = device_from_dict(data, "--hardware with overrides")
    # Flags repeating the catalog's own figures leave its device as it is; others make it a
    # device not measured (its calibration gone), keeping a price its file gave it.
    if timed_figures(device) == timed_figures(base):
        # A TDP alone keeps the device as measured, as the viewer's override does.
        return base if tdp is None else base.model_copy(update={"tdp": tdp})
    return modified(device, base)


def _parse_peaks(items: list[str]) -> dict[str, float]:
    peaks = {}
    dtypes = get_args(ComputeDtype)
    for item in items:
        dtype, sep, value = item.partition("=")
        if dtype.strip() in peaks:  # the last one given silently won
            raise InvalidInputError("--peak", item, f"one peak per type ({dtype.strip()} twice)")
        try:
            peaks[dtype.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidInputError("--peak", item, "DTYPE=OPS, e.g. bf16=989e12")
        if dtype.strip() not in dtypes:
            raise InvalidInputError(
                "--peak", item, f"DTYPE=OPS with DTYPE one of {', '.join(dtypes)}"
            )
        # The item, not its number alone: which type's peak was at fault.
        _check_rate("--peak", peaks[dtype.strip()], "OP/s", shown=item)
    return peaks


def _check_rate(
    flag: str,
    value: float | None,
    unit: str,
    bounds: tuple[float, float] = RATE_BOUNDS,
    shown: str | None = None,
) -> None:
    """A device figure given on the command line, within the Device's own bounds, named by the
    flag typed rather than by the field it sets (`shown`: the text it came in, where that says
    more than the number)."""
    low, high = bounds
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        named = value if shown is None else shown
        raise InvalidInputError(flag, named, f"{unit}, from {low:g} to {high:g}")


# Every form an axis of sizes takes, which a refusal lists before saying what is wrong.
SIZE_FORMS = (
    "positive integers up to 2**53, each once, like 1,8,32, or a range START:STOP:xFACTOR "
    "(geometric, FACTOR > 1), START:STOP:+STEP or START:STOP:STEP (arithmetic, STEP >= 1), "
    f"with 1 <= START <= STOP, at most {MAX_AXIS_VALUES} values"
)


def parse_sizes(field: str, text: str) -> np.ndarray:
    """'1,8,32', '1:1024:x2' (geometric) or '128:4096:+128' (arithmetic, the + optional) ->
    array of ints; a refusal lists every form and says which part is wrong."""

    def refuse(why: str) -> InvalidInputError:
        return InvalidInputError(field, text, f"{SIZE_FORMS} ({why})")

    def integer(part: str, name: str) -> int:
        try:
            value = int(part)
        except ValueError:
            raise refuse(f"{name} {part.strip()!r} is no whole number") from None
        if value < 1:
            raise refuse(f"{name} {value} is below 1")
        if value > MAX_SIZE:  # above 2**53 a size loses its last digits as a float
            raise refuse(f"{name} {value} is above 2**53")
        return value

    def too_many(count: int) -> InvalidInputError:
        return refuse(f"{count} values, over {MAX_AXIS_VALUES}")

    if ":" not in text:
        listed = [integer(v, "value") for v in text.split(",")]
        repeated = sorted({v for v in listed if listed.count(v) > 1})
        if repeated:
            # Each point is one row: a value twice would be a row twice (docs/output.md).
            raise refuse(f"{', '.join(map(str, repeated))} given more than once")
        if len(listed) > MAX_AXIS_VALUES:
            raise too_many(len(listed))
        return np.array(listed, dtype=np.int64)
    parts = text.split(":")
    start = integer(parts[0], "START")
    stop = integer(parts[1], "STOP") if len(parts) > 1 else start
    if stop < start:
        raise refuse(f"STOP {stop} is below START {start}")
    if len(parts) != 3:
        raise refuse(f"a range has three parts, START:STOP:STEP; {len(parts)} given")
    step_s = parts[2].strip()
    if step_s.startswith("x"):
        try:
            factor = float(step_s[1:])
        except ValueError:
            raise refuse(f"FACTOR {step_s[1:]!r} is no number") from None
        if not factor > 1 or not np.isfinite(factor):
            raise refuse(f"FACTOR {step_s[1:]} is not above 1")
        count = int(np.floor(np.log(stop / start) / np.log(factor) + 1e-9)) + 1
        if count > MAX_AXIS_VALUES:
            raise too_many(count)
        # Rounding may land two powers on one size: each is one point.
        return np.unique(np.round(start * factor ** np.arange(count)).astype(np.int64))
    try:
        step = int(step_s.removeprefix("+"))
    except ValueError:
        raise refuse(f"STEP {step_s!r} is no whole number") from None
    if step < 1:
        raise refuse(f"STEP {step} is below 1")
    if (stop - start) // step + 1 > MAX_AXIS_VALUES:
        raise too_many((stop - start) // step + 1)
    return np.arange(start, stop + 1, step, dtype=np.int64)


SIZE_NAMES = ("batch", "prompt_len", "gen_len")
# What one size given on the command line takes (the core's own error offers arrays, which
# only the API takes).
ONE_SIZE = f"a positive integer up to 2**53 ({MAX_SIZE:,})"


def check_size(flag: str, value: object) -> None:
    """One size given on the command line (--batch 8, --context 1024, --vs batch=8), named as
    it was given."""
    if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= MAX_SIZE:
        raise InvalidInputError(flag, value, ONE_SIZE)


def _settings(params: dict[str, Any]) -> Settings:
    """The declared settings among a command's parameters; an option left empty on the
    command line keeps the setting's default."""
    # Options left out are None: only what was typed is set, so a checkpoint's precision
    # stays the default where the user gave none.
    values = {name: params[name] for name in SETTING_NAMES if params.get(name) is not None}
    return parse_settings(values)


def _run(params: dict[str, Any]) -> Analysis:
    """The analysis a command asks for; every command names its parameters the same way."""
    for name in SIZE_NAMES:  # a sweep's axes are arrays, parse_sizes' already
        check_size("--" + name.replace("_", "-"), params.get(name))
    settings = _settings(params)
    spec = settings.served(resolve_model(params["model"]))
    prompt_len = params["prompt_len"]
    if prompt_len is None:
        # With a drafter ("drafted": its tokens a step), the room its verify step takes.
        prompt_len = default_prompt_len(spec, params["gen_len"], params.get("drafted"))
    device = _device(params.get("hardware"), params)
    device = settings.what_if(device)
    return core.analyze(
        spec,
        device,
        batch=params["batch"],
        prompt_len=prompt_len,
        gen_len=params["gen_len"],
        options=options_for(settings, spec, device),
        images=params.get("images", 0),
    )


def json_context(result: Analysis, params: dict[str, Any]) -> dict[str, Any]:
    """What a command's JSON says it computed, before its figures (docs/output.md): the
    analysis' context (model, device, inputs, estimate, ...) with the settings given that
    differ from their defaults, by their declared names, after the estimate."""
    context = result.context()
    given = {"settings": _settings(params).changed()}
    at = list(context).index("estimate") + 1
    items = list(context.items())
    return dict(items[:at]) | given | dict(items[at:])


def speculation_context(
    draft: str | None,
    medusa: bool,
    mtp: bool,
    gamma: int,
    alpha: float,
    tree_width: int,
    context: int,
) -> dict[str, Any]:
    """What a speculation estimate assumed, as `analyze --draft/--medusa/--mtp` and
    `speculate` state it in their JSON: the drafter, γ, α, the tree width and the context."""
    return {
        "drafter": drafter_words(draft, medusa, gamma),
        "draft": draft,
        "medusa": medusa,
        "mtp": mtp,
        "gamma": gamma,
        "alpha": alpha,
        "tree_width": tree_width,
        "context": context,
    }


def _emit(data: Any, frame: pd.DataFrame | None, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        sys.stdout.write(fmt.to_json(data))
    elif output is OutputFormat.csv and frame is not None:
        sys.stdout.write(frame.to_csv(index=False))


def _device_options(
    bandwidth: BandwidthOpt = None,
    memory: MemoryOpt = None,
    peak: PeakOpt = None,
    tdp: TdpOpt = None,
) -> None:
    """The flags that define a custom device or override a catalog one's figures."""


def declared_option(model: type[BaseModel], name: str, note: str = "") -> inspect.Parameter:
    """The command-line option of one declared setting: its flag, type, default, help (with
    what it accepts) and help panel all come from the field of `model` that declares it;
    `note` ends what it accepts (where else its default may come from)."""
    field = model.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    flag = "--" + option_name(model, name).replace("_", "-")
    kinds = setting_kinds(name, model)
    decls = [f"{flag}/--no-{flag[2:]}"] if bool in kinds else [flag]
    # Text (lists too, and a choice of words and numbers such as w_scale) is read as declared
    # by the settings' validators; numbers are converted by the command line.
    kind: Any = next((k for k in (bool, str, int, float) if k in kinds), str) | None
    shown = field.default
    if isinstance(shown, tuple):
        shown = ",".join(str(v) for v in shown) or "none"
    elif isinstance(shown, dict):  # pairs, as the option takes them
        shown = ",".join(f"{k}={v}" for k, v in shown.items()) or "none"
    default_text = "" if shown is None else f"; default {str(shown).lower()}"
    # A switch takes no value: its help names the two flags, not the "true or false" a
    # request's JSON takes (`--flash-attention=false` is refused, as a switch must).
    if bool in kinds:
        left_out = "; give neither for empty" if field.default is None else default_text
        accepts = f"{flag} or --no-{flag[2:]}{left_out}{note}"
    else:
        accepts = f"{accepted(model, name)}{default_text}{note}"
    # Parentheses, not brackets: rich would read "[...]" in help as markup and drop it.
    help_text = f"{field.description} ({accepts})"
    # A setting that may be empty (None: its declared default) takes an empty value as left
    # out, as its help's "empty:" says (--engine "" was refused as no engine's name, --w-bits
    # "" as no integer; a script's unset variable gives one). A flag has no value to empty.
    parser = _empty_or(kind.__args__[0]) if type(None) in kinds and bool not in kinds else None
    option = typer.Option(
        *decls, help=help_text, rich_help_panel=str(extra.get("group")), parser=parser
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option]
    )


def _empty_or(kind: type) -> Callable[[Any], Any]:
    """A command-line value read as `kind`, or None where it is empty. What `kind` refuses
    keeps its parser's error (int_parsing for "x" as an integer), which the script's usage
    error names as every other (`usage_error_line`)."""
    from pydantic import TypeAdapter, ValidationError
    from pydantic_core import PydanticCustomError

    adapter = TypeAdapter(kind)

    def parse(value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise PydanticCustomError(error["type"], error["msg"]) from None

    return parse


def declared_options(
    model: type[BaseModel], into: str, more: tuple[inspect.Parameter, ...] = (), note: str = ""
) -> Callable[[F], F]:
    """Add every field of `model` (and `more`) to a command's options, and hand those typed on
    the command line to it as one dict, keyword `into`; an option left out is not in it, so
    the declared default (or a preset's value) stands. Typer reads options from a signature,
    so the signature is built from the declaration. `note` ends each option's help."""
    shared = [*(declared_option(model, name, note) for name in model.model_fields), *more]

    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values()]
        own = [p for p in own if p.name != into]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            typed = {p.name: kwargs.pop(p.name) for p in shared if p.name in kwargs}
            given = {name: value for name, value in typed.items() if value is not None}
            return func(*args, **{into: given}, **kwargs)

        wrapper.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
        return wrapper  # type: ignore[return-value]

    return decorate


def analysis_options(func: F) -> F:
    """Every declared analysis setting (`rooflens.settings.Settings`) and the custom-device
    flags as a command's options, handed to it as one `options` dict."""
    device = tuple(
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(_device_options, eval_str=True).parameters.values()
    )
    return declared_options(Settings, "options", device)(func)


COMPARED_KEYS = ("model", "hardware", *SIZE_NAMES, "images", *SETTING_NAMES)


def setting_items(text: str, flag: str) -> list[str]:
    """'w_bits=4,fusion=qkv,gate_up' -> ['w_bits=4', 'fusion=qkv,gate_up']: KEY=VALUE items
    joined by commas, where a part without "=" continues the value before it (a value that
    lists several items). An empty part (two commas together, or one at an end) is refused,
    as settings.split_items refuses one: it had been joined to the value before it."""
    parts: list[str] = []
    for part in text.split(","):
        if not part.strip() and "," in text:
            raise InvalidInputError(flag, text, "KEY=VALUE items joined by commas, none empty")
        if "=" in part or not parts:
            parts.append(part)
        else:
            parts[-1] += "," + part
    return [part for part in parts if part.strip()]


def settings_once(
    items: list[str] | None, flag: str, allowed: tuple[str, ...] = COMPARED_KEYS
) -> dict[str, Any]:
    """Repeated KEY=VALUE options (--vs, --base; each may join several with commas) as a
    dict, each key given once: a second value of a key would silently win; `allowed`: the
    keys it takes."""
    given: dict[str, Any] = {}
    for text in items or []:
        for item in setting_items(text, flag) or [text]:
            try:
                key, value = _setting(item, flag, allowed)
            except InvalidInputError as exc:
                if exc.field != flag or item == text:  # a value refused: named by its key
                    raise
                # An item of several that is no KEY=VALUE of a known key: the option as
                # written, as plot's --setting names it.
                raise InvalidInputError(flag, text, exc.accepted) from None
            if key in given:
                raise InvalidInputError(flag, item, f"each KEY once ({key} is given twice)")
            given[key] = value
    return given


def _setting(
    item: str, flag: str = "--vs/--base", allowed: tuple[str, ...] = COMPARED_KEYS
) -> tuple[str, Any]:
    """'w_bits=4' -> ('w_bits', 4), each value read as its declared type; `flag` is the option
    it came from and `allowed` the keys it takes, which an error names."""
    key, sep, text = item.partition("=")
    key = key.strip().replace("-", "_").lower()  # W_BITS=4 is w_bits, as words are read
    if not sep and key in allowed:  # a known key without its value
        raise InvalidInputError(flag, item, f"KEY=VALUE: {key}=... with the value it takes")
    if not sep or key not in allowed:
        raise InvalidInputError(flag, item, known_names(key, allowed, "KEY=VALUE with a known KEY"))
    text = text.strip()
    if key in SETTING_NAMES:
        return key, setting_from_text(key, text)
    if key in SIZE_NAMES:
        if key == "gen_len" and text.lower() in ("", "none"):
            return key, None
        try:
            size = int(text)
        except ValueError:
            raise InvalidInputError(key, text, ONE_SIZE) from None
        check_size(key, size)
        return key, size
    if key == "images":  # a count per request, which may be none
        if not text.isdigit():
            raise InvalidInputError(key, text, "a whole number of images per request, 0 or more")
        return key, int(text)
    return key, text
