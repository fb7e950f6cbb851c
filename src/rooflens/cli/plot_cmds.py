"""`rooflens plot`: the pictures of an analysis, to PNG, SVG or PDF."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from rooflens.cli.common import (
    AlphaOpt,
    DraftOpt,
    GammaOpt,
    GridIntensityOpt,
    HardwareOpt,
    HourlyPriceOpt,
    ImagesOpt,
    LongContextOpt,
    MedusaOpt,
    ModelArg,
    MtpOpt,
    TreeWidthOpt,
    _clean_errors,
    _console,
    _run,
    _setting,
    analysis_options,
    app,
    check_size,
    figure_file,
    file_name,
    parse_sizes,
    setting_items,
    speculation_estimate,
    speculation_given,
    writable_folder,
)
from rooflens.core.errors import InvalidInputError
from rooflens.core.options import Quantization
from rooflens.core.speculative import drafted_tokens
from rooflens.settings import SETTING_NAMES


class PlotKind(str, enum.Enum):
    roofline = "roofline"
    batch = "batch"
    sequence = "sequence"
    memory = "memory"
    operators = "operators"


# The precisions a plot compares by default: the model as stored first ({}), then 16, 8 and
# 4 bits; default_series names each by the precision it runs at.
DEFAULT_SETTINGS: dict[str, tuple[dict[str, Any], ...]] = {
    "batch": ({}, {"w_bits": 16, "a_bits": 16}, {"w_bits": 8, "a_bits": 8}, {"w_bits": 4}),
    "sequence": ({}, {"w_bits": 16, "a_bits": 16}, {"w_bits": 8, "a_bits": 8}, {"w_bits": 4}),
    "memory": ({}, {"w_bits": 16}, {"w_bits": 8}, {"w_bits": 4}, {"w_bits": 4, "kv_bits": 4}),
}
_FORMAT_NAMES = {
    "int": "",
    "fp": " fp{bits}",
    "nf4": " nf4",
    "mxfp4": " mxfp4",
    "mxfp8": " mxfp8",
    "nvfp4": " nvfp4",
}


def precision_label(quant: Quantization, activations: bool) -> str:
    """'W8A8 fp8', 'W4 mxfp4 KV4': the weights' width and format, the activations' width
    (latency plots) or the KV cache's where it is not 16 bits (memory plots)."""
    fmt = "" if quant.w_bits >= 16 else _FORMAT_NAMES[quant.w_format].format(bits=quant.w_bits)
    label = f"W{quant.w_bits}" + (f"A{quant.a_bits}" if activations else "") + fmt
    return label if activations or quant.kv_bits == 16 else f"{label} KV{quant.kv_bits}"


def default_series(kind: str, model: str) -> dict[str, dict[str, Any]]:
    """The default settings of a comparison plot for this model, each named by the precision
    it runs at; the stored one says so where the checkpoint is quantized, and a setting that
    runs at a precision already drawn is left out (an FP8 checkpoint's W8A8 is as stored)."""
    from rooflens.api import resolve_model
    from rooflens.settings import parse_settings

    checkpoint = resolve_model(model).checkpoint_quant
    stored = checkpoint.quantization if checkpoint is not None else None
    series: dict[str, dict[str, Any]] = {}
    drawn: set[Quantization] = set()
    for options in DEFAULT_SETTINGS[kind]:
        quant = parse_settings(options).quantization(stored)
        if quant in drawn:
            continue
        drawn.add(quant)
        label = precision_label(quant, activations=kind != "memory")
        series[f"as stored: {label}" if not options and stored else label] = options
    return series


def given_sizes(flag: str, text: str | None, is_axis: bool) -> np.ndarray | None:
    """The sizes given for one option (None: the plot's defaults): a range along the plot's
    axis, one value otherwise (more would be dropped unseen)."""
    if text is None:
        return None
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
    try:
        parts = setting_items(body, "--setting")
        items = [_setting(item, "--setting", SETTING_NAMES) for item in parts]
    except InvalidInputError as exc:
        if exc.field != "--setting":  # a value refused: named by its key
            raise
        # An item that is no KEY=VALUE of a known key: the option as written, its label too.
        raise InvalidInputError("--setting", text, exc.accepted) from None
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
    kind: Annotated[PlotKind, typer.Argument(help="What to draw.", case_sensitive=False)],
    model: ModelArg,
    hardware: HardwareOpt = None,
    out: Annotated[
        Path, typer.Option("-o", help="Output file: .png, .svg or .pdf.", parser=file_name)
    ] = Path("rooflens.png"),
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
    stage: Annotated[
        str | None,
        typer.Option(
            help="Operators plot: prefill, decode (its default) or, with --images, vision."
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            help="A line or bar: LABEL:KEY=VALUE,... (repeatable); roofline/operators take one."
        ),
    ] = None,
    images: ImagesOpt = 0,
    allow_long_context: LongContextOpt = False,
) -> None:
    """Roofline with every operator, latency/throughput against batch or prompt length,
    memory breakdown across settings, or time per operator."""
    from rooflens.views import plots

    figure_file("-o", out)
    check_size("--gen-len", gen_len)
    stage = stage.strip().lower() if stage is not None else None  # Prefill is prefill
    if stage is not None and kind is not PlotKind.operators:
        # The other plots draw every stage, or latency over whole requests: it was ignored.
        raise InvalidInputError("--stage", stage, "left out but for the operators plot")
    stages = ("prefill", "decode", "vision") if images else ("prefill", "decode")
    if stage is not None and stage not in stages:
        raise InvalidInputError(
            "--stage", stage, " or ".join(stages) + ("" if images else " (vision: with --images)")
        )
    if hardware is None:
        raise InvalidInputError("--hardware", None, "a catalog device or TOML file")
    settings = parse_settings_lines(setting or []) or (
        default_series(kind.value, model) if kind.value in DEFAULT_SETTINGS else {"": {}}
    )
    if allow_long_context:  # a line's own setting, where it states one, is kept
        settings = {k: {"allow_long_context": True, **v} for k, v in settings.items()}
    batches = given_sizes("--batch", batch, kind is PlotKind.batch)
    prompts = given_sizes("--prompt-len", prompt_len, kind is PlotKind.sequence)
    one_batch = 1 if batches is None else int(batches[0])
    # One prompt for the plots that draw no prompt axis: 1,024 tokens, or what the context
    # leaves beside the generation.
    one_prompt = (
        int(prompts[0])
        if prompts is not None
        else plots.default_prompt(model, gen_len, plots.PLOT_PROMPT, images)
    )
    if kind in (PlotKind.roofline, PlotKind.operators):
        if len(settings) > 1:  # one analysis is drawn: the others would be dropped unseen
            raise InvalidInputError(
                "--setting", ", ".join(setting or []), f"one setting for a {kind.value} plot"
            )
        label, options = next(iter(settings.items()))
        result = _run(
            {
                "model": model,
                "hardware": hardware,
                "batch": one_batch,
                "prompt_len": one_prompt,
                "gen_len": gen_len,
                "images": images,
                **options,
            }
        )
        if kind is PlotKind.roofline:
            plots.roofline(result, out, label)
        else:
            plots.operator_times(result, stage or "decode", out, label)
    elif kind in (PlotKind.batch, PlotKind.sequence):
        if kind is PlotKind.batch:
            fig = plots.batch_curves(
                model, hardware, settings, batches, one_prompt, gen_len, out, images
            )
        else:
            fig = plots.sequence_curves(
                model, hardware, settings, prompts, one_batch, gen_len, out, images
            )
        for line in fig.left_out:  # the figure's gaps, said where the command's output is read
            _console().print(f"note: {line}")
    else:
        plots.memory_bars(model, hardware, settings, one_batch, one_prompt, gen_len, out, images)
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
    out: Annotated[
        Path, typer.Option("-o", help="Report file: .html or .md.", parser=file_name)
    ] = Path("rooflens-report.html"),
    images: ImagesOpt = 0,
    draft: DraftOpt = None,
    medusa: MedusaOpt = False,
    mtp: MtpOpt = False,
    gamma: GammaOpt = None,
    alpha: AlphaOpt = None,
    tree_width: TreeWidthOpt = None,
    hourly_price: HourlyPriceOpt = None,
    grid_intensity: GridIntensityOpt = None,
    options: dict[str, Any] | None = None,
) -> None:
    """One self-contained report: settings, totals, memory, bottlenecks with advice, energy
    and cost, speculative decoding where asked, plots and the operator table."""
    from rooflens.views.report import to_html, to_markdown

    if out.suffix.lower() not in (".html", ".md"):
        raise InvalidInputError("-o", str(out), "a file ending in .html or .md")
    writable_folder("-o", out)
    drafting = draft is not None or medusa or mtp
    speculation_given(drafting, gamma, alpha, tree_width)
    result = _run(
        {
            "model": model,
            "hardware": hardware,
            "batch": batch,
            "prompt_len": prompt_len,
            "gen_len": gen_len,
            "images": images,
            **(options or {}),
            # A default prompt leaves a drafter's verified tokens their room, as analyze's.
            "drafted": drafted_tokens(
                drafting, gamma, bool((options or {}).get("allow_long_context"))
            ),
        }
    )
    speculation = speculation_estimate(
        result, draft, medusa, mtp, gamma, alpha, tree_width, hourly_price
    )
    money = {"hourly_price": hourly_price, "grid_intensity": grid_intensity}
    if hourly_price is not None or grid_intensity is not None:
        result.economics(**money)  # bad figures fail here, before any output
    write = to_html if out.suffix.lower() == ".html" else to_markdown
    text = write(result, speculation=speculation, **money)
    out.write_text(text, "utf-8")
    _console().print(f"wrote {out}")
