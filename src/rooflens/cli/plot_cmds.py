"""`rooflens plot`: the pictures of an analysis, to PNG, SVG or PDF."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from rooflens.api import resolve_model
from rooflens.cli.common import (
    HardwareOpt,
    LongContextOpt,
    ModelArg,
    _clean_errors,
    _console,
    _run,
    _setting,
    analysis_options,
    app,
    parse_sizes,
    writable_folder,
)
from rooflens.core.errors import InvalidInputError
from rooflens.settings import SETTING_NAMES


class PlotKind(str, enum.Enum):
    roofline = "roofline"
    batch = "batch"
    sequence = "sequence"
    memory = "memory"
    operators = "operators"


DEFAULT_SETTINGS = {
    "batch": {"W16A16": {}, "W8A8": {"w_bits": 8, "a_bits": 8}, "W4A16": {"w_bits": 4}},
    "sequence": {"W16A16": {}, "W8A8": {"w_bits": 8, "a_bits": 8}, "W4A16": {"w_bits": 4}},
    "memory": {
        "W16": {},
        "W8": {"w_bits": 8},
        "W4": {"w_bits": 4},
        "W4 KV4": {"w_bits": 4, "kv_bits": 4},
    },
}
SUFFIXES = (".png", ".svg", ".pdf")


# The axes a batch or sequence plot draws where none is given (LLM-Viewer's figures' ranges),
# and the one value the other plots take.
DEFAULT_BATCHES = {"axis": "1:512:x2", "one": 1}
DEFAULT_PROMPTS = {"axis": "128:4096:x2", "one": 1024}


def context_room(model: str, gen_len: int) -> int:
    """The longest prompt the model's positions leave room for beside `gen_len` tokens (the
    decode step feeds the prompt's last position plus the generation's)."""
    spec = resolve_model(model)
    return spec.max_positions - max(gen_len - 1, 1)


def axis_sizes(
    flag: str, text: str | None, is_axis: bool, default: dict[str, Any], room: int | None = None
) -> np.ndarray:
    """The sizes a plot takes for one option: a range along its axis, one value otherwise
    (more would be dropped unseen); the default capped at `room` where the context binds."""
    if text is None:
        if not is_axis:
            return np.array([min(default["one"], room or default["one"])])
        values = parse_sizes(flag.lstrip("-").replace("-", "_"), default["axis"])
        if room is not None:  # the default range stops where the model's context does
            values = values[values <= room] if (values <= room).any() else values[:1]
        return values
    values = parse_sizes(flag.lstrip("-").replace("-", "_"), text)
    if not is_axis and len(values) > 1:
        raise InvalidInputError(flag, text, "one size: this plot's axis is another")
    return values


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """'W4 KV4:w_bits=4,kv_bits=4' -> ('W4 KV4', {'w_bits': 4, 'kv_bits': 4})."""
    label, sep, body = text.partition(":")
    if not sep or not label.strip():
        raise InvalidInputError("--setting", text, "LABEL:KEY=VALUE,KEY=VALUE (e.g. W4:w_bits=4)")
    # Settings only: the model, device and sizes are the command's own options.
    # A value may list several items (fusion=qkv,gate_up): a part without "=" continues the
    # one before.
    parts: list[str] = []
    for part in body.split(","):
        if "=" in part or not parts:
            parts.append(part)
        else:
            parts[-1] += "," + part
    items = (_setting(item, "--setting", SETTING_NAMES) for item in parts if item.strip())
    return label.strip(), dict(items)


def parse_settings_lines(texts: list[str]) -> dict[str, dict[str, Any]]:
    """Every --setting by its label; a label given twice would draw one line over another."""
    settings: dict[str, dict[str, Any]] = {}
    for text in texts:
        label, values = parse_setting(text)
        if label in settings:
            raise InvalidInputError("--setting", text, f"a label other than {label!r}, used before")
        settings[label] = values
    return settings


@app.command()
@_clean_errors
def plot(
    kind: Annotated[PlotKind, typer.Argument(help="What to draw.")],
    model: ModelArg,
    hardware: HardwareOpt = None,
    out: Annotated[Path, typer.Option("-o", help="Output file: .png, .svg or .pdf.")] = Path(
        "rooflens.png"
    ),
    batch: Annotated[
        str | None,
        typer.Option(help="Batch size (batch plot: sizes, e.g. 1:512:x2). Default: 1 (1:512:x2)."),
    ] = None,
    prompt_len: Annotated[
        str | None,
        typer.Option(
            help="Prompt length (sequence plot: lengths, e.g. 128:8192:x2). Default: 1024 "
            "(128:4096:x2), or what the model's context leaves."
        ),
    ] = None,
    gen_len: Annotated[int, typer.Option(help="Generated tokens.")] = 128,
    stage: Annotated[str, typer.Option(help="Operators plot: prefill or decode.")] = "decode",
    setting: Annotated[
        list[str] | None,
        typer.Option(
            help="A line or bar: LABEL:KEY=VALUE,... (repeatable); roofline/operators take one."
        ),
    ] = None,
    allow_long_context: LongContextOpt = False,
) -> None:
    """Roofline with every operator, latency/throughput against batch or prompt length,
    memory breakdown across settings, or time per operator."""
    from rooflens.views import plots

    if out.suffix.lower() not in SUFFIXES:
        raise InvalidInputError("-o", str(out), f"a file ending in {', '.join(SUFFIXES)}")
    writable_folder("-o", out)
    if stage not in ("prefill", "decode"):
        raise InvalidInputError("--stage", stage, "prefill or decode")
    if hardware is None:
        raise InvalidInputError("--hardware", None, "a catalog device or TOML file")
    settings = parse_settings_lines(setting or []) or DEFAULT_SETTINGS.get(kind.value, {"": {}})
    if allow_long_context:  # a line's own setting, where it states one, is kept
        settings = {k: {"allow_long_context": True, **v} for k, v in settings.items()}
    batches = axis_sizes("--batch", batch, kind is PlotKind.batch, DEFAULT_BATCHES)
    room = None if prompt_len is not None else context_room(model, gen_len)
    prompts = axis_sizes(
        "--prompt-len", prompt_len, kind is PlotKind.sequence, DEFAULT_PROMPTS, room
    )
    if kind in (PlotKind.roofline, PlotKind.operators):
        if len(settings) > 1:  # one analysis is drawn: the others would be dropped unseen
            raise InvalidInputError(
                "--setting", ", ".join(setting or []), f"one setting for a {kind.value} plot"
            )
        options = next(iter(settings.values()))
        result = _run(
            {
                "model": model,
                "hardware": hardware,
                "batch": int(batches[0]),
                "prompt_len": int(prompts[0]),
                "gen_len": gen_len,
                **options,
            }
        )
        if kind is PlotKind.roofline:
            plots.roofline(result, out)
        else:
            plots.operator_times(result, stage, out)
    elif kind is PlotKind.batch:
        plots.batch_curves(model, hardware, settings, batches, int(prompts[0]), gen_len, out)
    elif kind is PlotKind.sequence:
        plots.sequence_curves(model, hardware, settings, prompts, int(batches[0]), gen_len, out)
    else:
        plots.memory_bars(model, hardware, settings, int(batches[0]), int(prompts[0]), gen_len, out)
    _console().print(f"wrote {out}")


@app.command()
@_clean_errors
@analysis_options
def report(
    model: ModelArg,
    hardware: HardwareOpt = None,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 1,
    prompt_len: Annotated[
        int | None, typer.Option(help="Prompt tokens. Default: 2048, or what the context leaves.")
    ] = None,
    gen_len: Annotated[int | None, typer.Option(help="Generated tokens.")] = 128,
    out: Annotated[Path, typer.Option("-o", help="Report file: .html or .md.")] = Path(
        "rooflens-report.html"
    ),
    options: dict[str, Any] | None = None,
) -> None:
    """One self-contained report: settings, totals, memory, bottlenecks with advice, plots and
    the operator table."""
    from rooflens.views.report import to_html, to_markdown

    if out.suffix.lower() not in (".html", ".md"):
        raise InvalidInputError("-o", str(out), "a file ending in .html or .md")
    writable_folder("-o", out)
    result = _run(
        {
            "model": model,
            "hardware": hardware,
            "batch": batch,
            "prompt_len": prompt_len,
            "gen_len": gen_len,
            **(options or {}),
        }
    )
    text = to_html(result) if out.suffix.lower() == ".html" else to_markdown(result)
    out.write_text(text, "utf-8")
    _console().print(f"wrote {out}")
