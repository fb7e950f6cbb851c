"""Human-readable numbers and rich tables for the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pandas as pd
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """1.23e12 -> '1.23 T' + unit (SI prefixes, as the seed's tables print)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    for scale, prefix in _PREFIXES:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def json_ready(value: object) -> object:
    """Plain JSON values: numpy scalars and arrays as Python numbers and lists, and a number
    that does not exist (NaN, an infinity) as null, never as the invalid JSON `NaN`."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value: object) -> str:
    return json.dumps(json_ready(value), indent=2, allow_nan=False, default=str) + "\n"


def seconds(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def changed_options(options: object, shown: tuple[str, ...] = ()) -> list[str]:
    """'name=value' for every analysis option that differs from its default (nested
    descriptions flattened), so a header says everything that changed the answer."""
    from rooflens.core.options import AnalysisOptions

    def flat(data: dict, out: dict) -> dict:
        for key, value in data.items():
            if isinstance(value, dict) and key != "calibration":
                flat(value, out)
            else:
                out[key] = value
        return out

    default = flat(AnalysisOptions().model_dump(), {})
    given = flat(options.model_dump(), {})  # type: ignore[attr-defined]
    items = []
    for key, value in given.items():
        if key in shown or key == "calibration" or value == default.get(key):
            continue
        if key == "nm_sparsity":
            value = ":".join(str(v) for v in value)
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value) if value else "none"
        items.append(f"{key}={value}")
    return items


def operators_table(frame: pd.DataFrame, stage: str, total_time: float) -> Table:
    table = Table(
        title=f"{stage}: per operator (block operators are per layer)", box=box.SIMPLE_HEAVY
    )
    for col, justify in (
        ("operator", "left"),
        ("×", "right"),
        ("OPs", "right"),
        ("memory", "right"),
        ("intensity", "right"),
        ("attainable", "right"),
        ("bound", "left"),
        ("dtype", "left"),
        ("time", "right"),
        ("share", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in frame.itertuples():
        share = row.count * row.time / total_time if total_time else 0.0
        style = "red" if row.bound == "compute" else None
        table.add_row(
            row.name,
            f"{row.count:g}",
            si(row.ops),
            si(row.memory_access, "B"),
            f"{row.arithmetic_intensity:.3g}",
            si(row.performance, "OP/s"),
            row.bound,
            row.compute_dtype,
            seconds(row.time),
            f"{share:.1%}",
            style=style,
        )
    return table


def key_value_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    return table


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def progress_bar(
    console: Console, label: str, total: int
) -> tuple[Progress, Callable[[int], None]]:
    """A transient bar on `console` and the callback that advances it by n."""
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=total)
    return bar, lambda n: bar.advance(task, n)
