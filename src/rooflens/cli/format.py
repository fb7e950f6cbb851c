"""Human-readable numbers and rich tables for the CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from rooflens.core.results import json_ready

# Times (seconds) and SI prefixes have one home, shared with the other adapters.
from rooflens.formats import operator_label, seconds, si

if TYPE_CHECKING:
    import pandas as pd

# The unit of each numeric device field, for `rooflens hardware NAME`.
DEVICE_UNITS = {
    "memory_capacity": "B",
    "memory_bandwidth": "B/s",
    "onchip_memory_per_unit": "B",
    "interconnect_bandwidth": "B/s",
    "host_bandwidth": "B/s",
    "network_bandwidth": "B/s",
    "tdp": "W",
    "idle_power": "W",
}


def to_json(value: object) -> str:
    """Every command's JSON. A frame's rows come as `frame.to_dict(orient="records")`, not
    through pandas' `to_json`, which rounds to 15 decimals (a 43.69 µs time to 11 significant
    digits): numbers here read back exactly as the CSV writes them."""
    return json.dumps(json_ready(value), indent=2, allow_nan=False, default=str) + "\n"


def device_field(key: str, value: object) -> str:
    """A device figure for people: SI units, lists joined, a missing figure as a dash."""
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if key in DEVICE_UNITS and isinstance(value, int | float):
        return si(float(value), DEVICE_UNITS[key])
    if key in ("hourly_price", "purchase_price") and isinstance(value, int | float):
        return f"${value:,.2f}" + ("/h" if key == "hourly_price" else "")
    return str(value)


def count(n: int, noun: str) -> str:
    """'1 token', '128 tokens', '1,024 tokens'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def dollars(value: float | None) -> str:
    """'$83.01', '$0.3333', '$0.001234': cents from a dollar on, else four significant
    digits (a fixed four decimals had printed $198.0997 and $0.0000)."""
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.4g}" if value else "$0"


# The columns of the operator table; the compact set fits an 80-column terminal.
OPERATOR_COLUMNS = (
    ("operator", "left"),
    ("×", "right"),
    ("OPs", "right"),
    ("memory", "right"),
    ("intensity", "right"),
    ("performance", "right"),
    ("bound", "left"),
    ("dtype", "left"),
    ("time", "right"),
    ("share", "right"),
    ("of roofline", "right"),
    ("priced by", "left"),
)
COMPACT_OPERATOR_COLUMNS = ("operator", "×", "OPs", "memory", "bound", "time", "share")


def operators_table(
    rows: list[dict[str, Any]], stage: str, total_time: float, wide: bool = False
) -> Table:
    """One stage's operators (rooflens.api.operator_rows)."""
    shown = [c for c in OPERATOR_COLUMNS if wide or c[0] in COMPACT_OPERATOR_COLUMNS]
    table = Table(
        title=f"{stage}: per operator (block operators are per layer)", box=box.SIMPLE_HEAVY
    )
    lines = []
    for row in rows:
        share = row["count"] * row["time"] / total_time if total_time else 0.0
        style = "red" if row["bound"] == "compute" else None
        cells = {
            "operator": operator_label(
                row["name"], row.get("span"), row.get("chunk"), row.get("mlp_width")
            ),
            "×": f"{row['count']:g}",
            "OPs": si(row["ops"]),
            "memory": si(row["memory_access"], "B"),
            "intensity": f"{row['arithmetic_intensity']:.3g}",
            "performance": si(row["performance"], "OP/s"),
            "bound": row["bound"],
            "dtype": row["compute_dtype"],
            "time": seconds(row["time"]),
            "share": f"{share:.1%}",
            "of roofline": _share_or_dash(row["efficiency"]),
            "priced by": row["priced_by"],
        }
        lines.append(([cells[c] for c, _ in shown], style))
    for i, (col, justify) in enumerate(shown):
        longest = max((len(cells[i]) for cells, _ in lines), default=0)
        if col == "priced by":
            # The one long text: it folds at word breaks rather than push numbers off.
            table.add_column(col, overflow="fold", min_width=min(longest, PRICED_BY_FOLD))
        else:
            # A number cut to "16.…" says nothing: these columns keep their widest cell.
            table.add_column(col, justify=justify, no_wrap=True, min_width=longest)  # type: ignore[arg-type]
    for cells, style in lines:
        table.add_row(*cells, style=style)
    return table


# The narrowest the "priced by" column folds to (its sources read in pieces of this length).
PRICED_BY_FOLD = 24


def narrowest_width(table: Table) -> int:
    """The fewest columns a table prints in without cutting a cell, as rich measures it."""
    return Console(width=100_000, emoji=False).measure(table).minimum


def _share_or_dash(value: float | None) -> str:
    """A share as a percentage; "–" where there is none (NaN or None)."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.1%}"


def key_value_table(title: str, rows: list[tuple[str, str]], fold: bool = False) -> Table:
    """Two columns; `fold`: long texts (sources) left-aligned and folded, never cut."""
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="left" if fold else "right", overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for col in frame.columns:
        # Ids and names have no spaces to wrap at: fold them rather than cut them to "dee…".
        table.add_column(str(col), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def shows_progress(console: Console) -> bool:
    """Whether a slow command shows its progress on `console` (stderr): where stderr is a
    terminal or a notebook, whatever the output (stdout, which a script reads, holds none);
    not into a log, where a table's bar only left a blank line."""
    return console.is_terminal or console.is_jupyter


def progress_bar(
    console: Console, label: str, total: int
) -> tuple[Progress, Callable[[int], None]]:
    """A transient bar on `console` and the callback that advances it by n."""
    bar = Progress(
        # A column of its own, styled without markup: the error console reads none, and a
        # label may hold brackets.
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=total)
    return bar, lambda n: bar.advance(task, n)
