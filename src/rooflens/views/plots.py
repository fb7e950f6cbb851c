"""Plots of analyses (matplotlib, Agg): roofline with every operator placed on it, latency and
throughput against batch size and sequence length for several settings, memory breakdowns,
and time per operator. Each function returns the Figure and saves it when given a path (the
format follows the suffix: .png, .svg, .pdf). Markers and line styles, not only colours,
tell series apart, so the figures read in grayscale."""

from __future__ import annotations

import itertools
import os
import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import matplotlib.text as mtext
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator
from matplotlib.transforms import Bbox

from rooflens.api import analyze, resolve_model
from rooflens.core.analysis import prompt_room as core_prompt_room
from rooflens.core.errors import InvalidInputError
from rooflens.core.results import Analysis
from rooflens.formats import FIGURE_SUFFIXES, operator_label, save_figure, si

STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "x")]
GRAYS = ["0.0", "0.35", "0.55", "0.2", "0.45", "0.65"]
Settings = Mapping[str, Mapping[str, Any]]


SUFFIXES = FIGURE_SUFFIXES


class CurvesFigure(Figure):
    """A figure of curves against an axis, which also says in words which of its points it
    leaves out (a setting that does not fit in memory there): one line per series missing
    any, for the command line to print beside the file."""

    left_out: tuple[str, ...] = ()


def _left_out_line(label: str, axis: str, values: np.ndarray, fits: np.ndarray) -> str | None:
    """Which of a series' points do not fit in memory, in words (None where all fit)."""
    missing = [int(v) for v, held in zip(values, fits, strict=True) if not held]
    if not missing:
        return None
    name = {"batch": "batch size"}.get(axis, "prompt length")
    series = label or "the setting"
    if len(missing) == len(values):
        return f"{series} fits in memory at no {name}: not drawn"
    sizes = ", ".join(f"{v:,}" for v in missing)
    plural = "s" if len(missing) > 1 else ""
    return f"{series} does not fit in memory at {name}{plural} {sizes}: left out there"


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    if path is not None and os.path.splitext(path)[1].lower() not in SUFFIXES:
        plt.close(fig)
        # Named as the plot functions' keyword is, as every error below the command line
        # names a field by its API name (gen_len, hardware); the commands check their own
        # -o and --plot by flag before any work.
        raise InvalidInputError("path", os.fspath(path), f"a file ending in {', '.join(SUFFIXES)}")
    if path is not None:
        save_figure(fig, path, dpi=120, bbox_inches="tight")
    return fig


# Pixels (at the figure's dpi) a title keeps from the figure's left and right edges.
TITLE_MARGIN = 4


def fit_titles(fig: Figure, *titles: mtext.Text, tight: bool = False) -> None:
    """Keep each title within the figure's width: a line that would run past an edge (an
    engine's estimate, "calibrated estimate (vllm 0.24.0 profile, h200-sxm, graphs)", after
    the model and the device, is wider than a narrow figure) is broken at its clauses (", "
    outside parentheses), then at its words; a word still too wide shrinks the title's font.
    `tight`: the figure is laid out by tight_layout, which is redone when a title gains
    lines (and may move an axes, and so its title's centre: measured again after it)."""
    for _ in range(3):
        changed = [fit_title(title) for title in titles if title.get_text()]
        if not (tight and any(changed)):
            return
        fig.tight_layout()


def fit_title(title: mtext.Text) -> bool:
    """Break (or, past words, shrink) one centred title to lie within its figure, measured
    with the figure's renderer; whether it changed."""
    fig = title.figure
    renderer = fig.canvas.get_renderer()
    box = title.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    # Centred: half its width on each side of the centre, within the nearer edge.
    room = 2 * (min(centre, fig.bbox.width - centre) - TITLE_MARGIN)
    font = title.get_fontproperties()

    def width(line: str) -> float:
        return renderer.get_text_width_height_descent(line, font, ismath=False)[0]

    text = title.get_text()
    lines = [part for line in text.split("\n") for part in _broken(line, width, room)]
    widest = max(width(line) for line in lines)
    if widest > room > 0:  # a single word wider than the room: a smaller font
        title.set_fontsize(font.get_size_in_points() * room / widest)
    title.set_text("\n".join(lines))
    return title.get_text() != text or widest > room


def _broken(line: str, width: Any, room: float) -> list[str]:
    """One line as lines no wider than `room` (by `width`): at its clauses, then its words."""
    if width(line) <= room:
        return [line]
    out: list[str] = []
    for clause in _packed(_clauses(line), width, room):
        out += [clause] if width(clause) <= room else _packed(clause.split(" "), width, room)
    return out


def _clauses(line: str) -> list[str]:
    """'a on b, estimate (x, y)' -> ['a on b,', 'estimate (x, y)']: split after each ", "
    outside parentheses, the comma kept with the clause it ends."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(line):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0 and line[i + 1 : i + 2] == " ":
            parts.append(line[start : i + 1])
            start = i + 2
    return [*parts, line[start:]]


def _packed(pieces: list[str], width: Any, room: float) -> list[str]:
    """Pieces joined by spaces into as few lines as keep within `room`, as even as those
    lines allow: packed into the narrowest room that takes no more lines (greedy packing
    into `room` itself left a last line of one word)."""
    fewest = len(_greedy(pieces, width, room))
    narrow, wide = 0.0, room
    for _ in range(12):  # bisection to within room / 4096
        middle = (narrow + wide) / 2
        if len(_greedy(pieces, width, middle)) <= fewest:
            wide = middle
        else:
            narrow = middle
    return _greedy(pieces, width, wide)


def _greedy(pieces: list[str], width: Any, room: float) -> list[str]:
    """Pieces joined by spaces, each line filled while it keeps within `room`."""
    lines: list[str] = []
    for piece in pieces:
        joined = f"{lines[-1]} {piece}" if lines else piece
        if lines and width(joined) <= room:
            lines[-1] = joined
        else:
            lines.append(piece)
    return lines


def plain_number(value: float, unit: str = "") -> str:
    """A log axis' tick label as people write the number: 0.2, 20, 512, 2k, 1.5M (three
    significant digits at most, SI prefixes from a thousand on), never 2×10¹. A whole multiple
    of 1,024 below 1,024² is written in 1,024s (4,096 tokens: 4k), and of 1,024² below 1,024³
    in 1,024²s (1,048,576: 1M), as sizes are."""
    whole = float(value).is_integer()
    if 1024 <= value < 1024**2 and whole and value % 1024 == 0:
        return f"{int(value) // 1024}k{unit}"
    if 1024**2 <= value < 1024**3 and whole and value % 1024**2 == 0:
        return f"{int(value) // 1024**2}M{unit}"  # 1,048,576 tokens beside 256k: 1M, not 1.05M
    text = si(value, unit)  # the tables' prefixes: 999.9e6 reads 1 G, 1e18 1 E
    return text if unit else text.replace(" ", "")


# The mantissas a log axis' labelled ticks may take in each decade, densest first.
_MANTISSAS = (
    (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9),
    (1, 1.5, 2, 3, 4, 5, 6, 8),
    (1, 2, 3, 4, 5, 6, 8),
    (1, 2, 5),
    (1,),
)
# A log axis is labelled with at least this many ticks where their labels fit.
MIN_LABELS = 4


class LogTicks(LogLocator):
    """The labelled ticks of a log axis: the fewest nice numbers (powers of ten; 1, 2 and 5
    times them; denser on a narrow range) that put at least MIN_LABELS in view, or as many as
    fit; every n-th decade where even decades' labels would collide. Given `values` (the sizes
    a curve is drawn at): those values, every k-th where all would collide. Whether labels
    collide is measured on the axis' length in pixels against each label's width (x) or
    height (y), estimated from its characters and the tick font size, so no draw is needed.
    Sizes not evenly spaced on the log axis, too many to label, take the nice numbers."""

    def __init__(self, values: Any = None, unit: str = "") -> None:
        super().__init__()
        self.values = None if values is None else np.unique(np.asarray(values, dtype=float))
        self.unit = unit

    def __call__(self) -> Any:
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (hi > 0 and np.isfinite(lo) and np.isfinite(hi)):
            return np.array([])
        lo = max(lo, hi * 1e-12)
        ticks = self._chosen(lo, hi)
        return self._ends_labelled(ticks, lo, hi)

    def _chosen(self, lo: float, hi: float) -> np.ndarray:
        """The ticks by the rules of the class' docstring, before the ends are checked."""
        if self.values is not None:
            shown = self.values[(self.values >= lo * (1 - 1e-9)) & (self.values <= hi * (1 + 1e-9))]
            ratios = shown[1:] / shown[:-1]
            # Every k-th of sizes evenly spaced on the axis, counted down from the largest
            # (1, 2, 4, ... 512: 2, 8, 32, 128, 512): counted up from the smallest, the
            # largest size drawn went unlabelled (1, 4, ... 256 on an axis ending at 512).
            # Others (1, 2, 3, ... 451), thinned, read 1, 226, 451: nice numbers for them.
            steps = range(1, len(shown) + 1) if (len(ratios) == 0 or np.ptp(ratios) < 0.1) else [1]
            for k in steps:
                if self._fit(shown[::-1][::k][::-1], lo, hi):
                    return shown[::-1][::k][::-1]
        fitting = [t for t in self._nice(lo, hi) if self._fit(t, lo, hi)]
        if fitting:
            # The sparsest that labels enough, else the densest whose labels fit, unless a
            # range is too narrow for it to label more than two (1.04 to 1.25 holds one: 1.2):
            # evenly spaced numbers of up to three digits then.
            enough = [t for t in fitting if len(t) >= MIN_LABELS]
            if enough:
                # Of those, the sparsest that also labels both ends of the data (4, 5, 6, 8,
                # 10 left a Pareto front reaching 17 s unlabelled past 10).
                ends = [t for t in enough if self._reaches_ends(t, lo, hi)]
                return (ends or enough)[-1]
            densest = fitting[0]
            if len(densest) >= MIN_LABELS - 1:
                return densest
            even = _evenly(lo, hi)
            return even if len(even) > len(densest) and self._fit(even, lo, hi) else densest
        # Decades too close for their labels: every n-th one, counted down from the highest
        # in view, so that the top of the range keeps its label.
        first, last = _decades(lo, hi)
        top = int(np.floor(np.log10(hi * (1 + 1e-9))))
        decades = np.arange(first, last + 1)
        for n in range(2, len(decades) + 1):
            ticks = _within(10.0 ** decades[(top - decades) % n == 0], lo, hi)
            if self._fit(ticks, lo, hi):
                return ticks
        return _within(10.0**decades, lo, hi)[-1:]

    def _nice(self, lo: float, hi: float) -> list[np.ndarray]:
        """The nice numbers within lo..hi, one array per entry of _MANTISSAS (densest first)."""
        first, last = _decades(lo, hi)
        decades = np.arange(first, last + 1)
        return [
            _within((10.0 ** decades[:, None] * np.asarray(m)).ravel(), lo, hi) for m in _MANTISSAS
        ]

    def _data(self, lo: float, hi: float) -> tuple[float, float]:
        """The range the axis' data span within the view lo..hi (the view itself where the
        axis holds no data, or no axis is set): what the labels must reach."""
        if self.axis is None:
            return lo, hi
        dlo, dhi = sorted(float(v) for v in self.axis.get_data_interval())
        bottom = dlo if np.isfinite(dlo) and dlo > 0 else lo
        top = dhi if np.isfinite(dhi) and dhi > 0 else hi
        bottom, top = min(max(bottom, lo), hi), max(min(top, hi), lo)
        return (bottom, top) if top > bottom else (lo, hi)

    def _reaches_ends(self, ticks: np.ndarray, lo: float, hi: float) -> bool:
        """Whether the first and last labels lie at or near the ends of the data: no farther
        from them than half the widest step between labels, or within NEAR_END of them."""
        if len(ticks) == 0:
            return False
        bottom, top = self._data(lo, hi)
        at = np.log10(ticks)
        room = max(np.max(np.diff(at)) / 2 if len(at) > 1 else 0.0, np.log10(NEAR_END))
        tol = 1e-9
        return at[-1] >= np.log10(top) - room - tol and at[0] <= np.log10(bottom) + room + tol

    def _ends_labelled(self, ticks: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """`ticks`, with a label added at the top (then the bottom) of the data where none is
        near it: the end's value rounded to the fewest digits that keep it within NEAR_END,
        the labels beside it that would collide with it dropped. Sizes (`values`) are
        labelled down from the largest: their top is labelled already."""
        if self.values is not None or len(ticks) == 0 or self._reaches_ends(ticks, lo, hi):
            return ticks
        bottom, top = self._data(lo, hi)
        ticks = np.asarray(ticks, dtype=float)
        room = max(np.max(np.diff(np.log10(ticks))) / 2 if len(ticks) > 1 else 0.0,
                   np.log10(NEAR_END))  # fmt: skip
        for end, beyond in (
            (top, ticks[-1] < top / 10**room),
            (bottom, ticks[0] > bottom * 10**room),
        ):
            if not beyond:
                continue
            mark = _rounded_end(end, lo, hi)
            if mark is None:
                continue
            # Keep the ticks farthest from the new one; drop those beside it until all fit.
            kept = ticks[np.argsort(-np.abs(np.log10(ticks) - np.log10(mark)))]
            while len(kept) and not self._fit(np.sort(np.append(kept, mark)), lo, hi):
                kept = kept[:-1]
            ticks = np.sort(np.append(kept, mark))
        return ticks

    def _fit(self, ticks: np.ndarray, lo: float, hi: float) -> bool:
        """Whether these ticks' labels stand apart along the axis."""
        if len(ticks) < 2 or self.axis is None:
            return True
        axes = self.axis.axes
        horizontal = self.axis.axis_name == "x"
        box = axes.get_window_extent()
        length = box.width if horizontal else box.height
        font = matplotlib.rcParams["xtick.labelsize" if horizontal else "ytick.labelsize"]
        size = FontProperties(size=font).get_size_in_points() * axes.figure.dpi / 72
        at = (np.log10(ticks) - np.log10(lo)) / max(np.log10(hi) - np.log10(lo), 1e-12) * length
        if horizontal:
            # Characters average about 0.6 em; a gap of half an em between labels.
            widths = np.array([0.6 * size * len(plain_number(t, self.unit)) for t in ticks])
            room = (widths[1:] + widths[:-1]) / 2 + 0.5 * size
        else:
            room = np.full(len(ticks) - 1, 1.6 * size)
        return bool(np.all(np.diff(at) >= room))


def _evenly(lo: float, hi: float) -> np.ndarray:
    """MIN_LABELS numbers evenly spaced on a log axis between lo and hi, rounded to the
    fewest significant digits (three at most, as plain_number writes them) that keep them
    apart."""
    inside = np.geomspace(lo, hi, MIN_LABELS + 2)[1:-1]
    ticks = np.array([])
    for digits in (1, 2, 3):
        rounded = np.unique([float(f"{v:.{digits}g}") for v in inside])
        ticks = rounded[(rounded >= lo) & (rounded <= hi)]
        if len(ticks) >= MIN_LABELS:
            break
    return ticks


# A label within this factor of an end of the data is at that end (1.05 beside 1.09 ms).
NEAR_END = 1.1


def _decades(lo: float, hi: float) -> tuple[int, int]:
    """The powers of ten whose decades lo..hi touches."""
    return int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))


def _within(ticks: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))]


def _rounded_end(end: float, lo: float, hi: float) -> float | None:
    """An end of the data as a label: rounded to the fewest significant digits (three at
    most, as plain_number writes them) that keep it within NEAR_END of the end and in view."""
    for digits in (1, 2, 3):
        value = float(f"{end:.{digits}g}")
        if max(value, end) / min(value, end) <= NEAR_END and lo <= value <= hi:
            return value
    return None


def log_axis(axis: Any, values: Any = None, unit: str = "") -> None:
    """Put one axis (ax.xaxis or ax.yaxis) on a log scale labelled in plain numbers (128, 2k,
    0.2; `unit` after an SI prefix: 1 TOP/s) at LogTicks' ticks; the minor ticks mark the
    grid unlabelled. Every log axis of rooflens' figures goes through here."""
    ax = axis.axes
    (ax.set_xscale if axis.axis_name == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogTicks(values, unit))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v, unit)))
    axis.set_minor_formatter(NullFormatter())
    if values is not None:  # the sizes drawn are the grid: no lines between them
        axis.set_minor_locator(NullLocator())


def roofline(
    result: Analysis, path: str | os.PathLike[str] | None = None, label: str = ""
) -> Figure:
    """The device roofline, one per compute dtype in use, with every operator of every stage
    (the vision encoder's too, where images were given) at (arithmetic intensity, attainable
    performance); `label`: the setting's, which the title names."""
    rows = result.operators()
    # An operator that moves no bytes of its own (an activation run in a GEMM's epilogue) has
    # no intensity to stand at: drawn at the axis' edge, it sat far above the roof.
    rows = rows[(rows.ops > 0) & (rows.memory_access > 0)]
    device = result.device
    fig, ax = plt.subplots(figsize=(8, 5.5))
    intensity = np.logspace(-2, 5, 200)
    for i, dtype in enumerate(sorted(set(rows.compute_dtype))):
        peak = device.peak_ops[dtype]
        style, _ = STYLES[i % len(STYLES)]
        ax.plot(
            intensity,
            np.minimum(peak, intensity * device.memory_bandwidth),
            linestyle=style,
            color="0.3",
            label=f"roofline {dtype} ({peak / 1e12:.4g} TOP/s)",
        )
    # A multimodal model's vision encoder, where images were given, as squares.
    marks = (("vision", "s", "0.6"), ("prefill", "o", "0.2"), ("decode", "^", "white"))
    for stage, marker, fill in marks:
        sel = rows[rows.stage == stage]
        if stage == "vision" and sel.empty:
            continue
        ax.scatter(
            sel.arithmetic_intensity.clip(lower=1e-2),
            sel.performance,
            marker=marker,
            facecolors=fill,
            edgecolors="black",
            zorder=3,
            label=f"{stage} operators",
        )
    _label_points(ax, rows)
    log_axis(ax.xaxis)
    log_axis(ax.yaxis, unit="OP/s")
    ax.set(
        xlabel="arithmetic intensity (OP/byte)",
        ylabel="attainable performance (OP/s)",
        title=f"{subject([result])}\n{_named(label)}roofline, {point(result)}"
        + _per_device([result]),
    )
    fit_titles(fig, ax.title)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _separate_labels(fig, ax)
    return _save(fig, path)


def _label_points(ax: Any, rows: Any) -> None:
    """Name the operators that take the most time: one label for operators drawn close
    together (within a fifth of a decade), listing each name once."""
    top = rows.sort_values("time", ascending=False).groupby("stage").head(6)
    x = np.log10(top.arithmetic_intensity.clip(lower=1e-2).to_numpy())
    y = np.log10(top.performance.to_numpy())
    names = list(top.name)
    placed: list[tuple[float, float, list[str]]] = []
    for xi, yi, name in zip(x, y, names, strict=True):
        for i, (px, py, group) in enumerate(placed):
            if abs(px - xi) < 0.2 and abs(py - yi) < 0.2:
                if name not in group:
                    placed[i] = (px, py, [*group, name])
                break
        else:
            placed.append((xi, yi, [name]))
    for px, py, group in placed:
        ax.annotate(
            # Lines of a few names: one line of seven names ran past the figure's edge, and a
            # figure saved tight grew to take it in.
            textwrap.fill(", ".join(group), POINT_LABEL_WIDTH, break_on_hyphens=False),
            (10**px, 10**py),
            fontsize=7,
            xytext=(6, -12),
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4"},
        )


def _text_box(label: Any, renderer: Any) -> Any:
    """A label's text in pixels, without its leader line (which may cross other labels)."""
    label.update_positions(renderer)
    return mtext.Text.get_window_extent(label, renderer)


# Characters per line of a roofline point's label (about two operator names).
POINT_LABEL_WIDTH = 32
# Points between a label and its point, and the step (points) a label moves farther out by.
LABEL_GAP = 4
LABEL_STEP = 9
# What a label's spot costs (_spot_cost): covering another label or the legend, a leader
# line crossing a label, a line of the data (or the roofline) through it, covering a marker,
# and each LABEL_STEP away from its point.
COVERS_LABEL, CROSSES, ON_LINE, COVERS_MARK, PER_STEP = 1000, 50, 20, 10, 5
# Markers counted under one label: a cloud of them (the advisor's feasible setups) had sent
# labels far from their points, with long leader lines.
MARKS_COUNTED = 2
# Points kept clear between labels (two that met, 2 points apart, read as one: "KV83 × mi325x").
LABEL_ROOM = 4
# A label over its own point's marker hides what it names ("3 × mi325x" over its square).
COVERS_OWN = 100


def _separate_labels(fig: Figure, ax: Any) -> None:
    """Place each point label, in turn, at the spot around its point that hides least:
    where it was put, beside the point (right or left, above or below), then farther up or
    down, LABEL_STEP points at a time, each kept within the axes (so that the figure keeps
    its size when saved tight). Worst is a spot over a label placed before or the legend,
    then one whose leader line crosses a label placed before (or whose box a leader placed
    before crosses), then one a line runs through, then one over a marker (labels had run
    into each other, "KV83 × mi325x", and markers had hidden the start of "lm_head"). The
    labels sit at offsets in points from their points, so moving one moves its box by as
    many pixels (dpi / 72 a point): the boxes are measured once, without drawing (a draw
    per label made a plot take seconds)."""
    renderer = fig.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # the limits autoscaled before the points are placed
    legend = ax.get_legend()
    placed = []  # boxes kept clear of: the legend's and the labels placed
    if legend is not None:
        box = legend.get_window_extent(renderer)
        placed.append(box)
        # Fixed where it is: "best" weighs the labels, which are about to move.
        frame = ax.get_window_extent(renderer)
        legend.set_loc(((box.x0 - frame.x0) / frame.width, (box.y0 - frame.y0) / frame.height))
    inside = ax.get_window_extent(renderer).padded(-1)  # a pixel clear of the frame
    pixels = fig.dpi / 72
    marks, lines = _marks(ax), _lines(ax)
    leaders: list[tuple[Any, np.ndarray]] = []
    for label in [t for t in ax.texts if isinstance(t, mtext.Annotation)]:
        box = _text_box(label, renderer)
        point = ax.transData.transform(label.xy)
        best = None
        for x0, y0, steps in _spots(box, point, LABEL_GAP * pixels, LABEL_STEP * pixels):
            x0 = min(max(x0, inside.x0), inside.x1 - box.width)
            y0 = min(max(y0, inside.y0), inside.y1 - box.height)
            spot = Bbox.from_bounds(x0, y0, box.width, box.height)
            cost = _spot_cost(spot, point, placed, leaders, marks, lines, LABEL_ROOM * pixels)
            cost += PER_STEP * steps
            if best is None or cost < best[0]:
                best = (cost, spot)
        spot = best[1]
        x, y = label.xyann
        label.xyann = (x + (spot.x0 - box.x0) / pixels, y + (spot.y0 - box.y0) / pixels)
        placed.append(spot)
        leaders.append((spot, point))


def _spots(box: Any, point: np.ndarray, gap: float, step: float) -> Any:
    """Where a label's box (its lower-left corner, in pixels) may go, with how many steps out
    each is: where it is, then right or left of its point, below or above it, then farther
    down (below) or up (above)."""
    width, height = box.width, box.height
    yield box.x0, box.y0, 0
    for k in range(25):
        for x0 in (point[0] + gap, point[0] - gap - width):
            yield x0, point[1] - gap - height - k * step, k
            yield x0, point[1] + gap + k * step, k


def _spot_cost(
    spot: Any,
    point: np.ndarray,
    placed: list[Any],
    leaders: list[Any],
    marks: np.ndarray,
    lines: list[np.ndarray],
    room: float,
) -> float:
    """What placing a label's box at `spot`, its leader line to `point`, hides (see
    _separate_labels): labels or the legend covered (or nearer than `room` pixels), leader
    lines crossing, lines through it, markers covered."""
    padded = spot.padded(room)
    cost = COVERS_LABEL * sum(padded.overlaps(other) for other in placed)
    centre = np.array([(spot.x0 + spot.x1) / 2, (spot.y0 + spot.y1) / 2])
    cost += CROSSES * sum(_crosses(centre, point, other, spot) for other in placed)
    for other, to in leaders:
        start = np.array([(other.x0 + other.x1) / 2, (other.y0 + other.y1) / 2])
        cost += CROSSES * _crosses(start, to, padded, other)
    if len(marks):
        x, y, r = marks.T
        r = r + 2  # the marker's edge, and a little room
        dx = np.maximum.reduce([spot.x0 - x, x - spot.x1, np.zeros_like(x)])
        dy = np.maximum.reduce([spot.y0 - y, y - spot.y1, np.zeros_like(y)])
        covered = dx**2 + dy**2 < r**2
        own = np.hypot(x - point[0], y - point[1]) < 0.5
        cost += COVERS_MARK * min(int(np.sum(covered)), MARKS_COUNTED)
        cost += COVERS_OWN * bool(np.any(covered & own))
    for along in lines:
        x, y = along.T
        through = (spot.x0 < x) & (x < spot.x1) & (spot.y0 < y) & (y < spot.y1)
        cost += ON_LINE * bool(np.any(through))
    return float(cost)


def _crosses(start: np.ndarray, end: np.ndarray, box: Any, own: Any) -> bool:
    """Whether the leader line from `start` (its label's centre, within `own`) to `end`
    crosses `box` outside its own label's box: the stretch of the segment inside `box` goes
    on past where it leaves `own` (both clipped exactly, as Liang and Barsky clip a line)."""
    inside = _clipped(start, end, box)
    if inside is None:
        return False
    mine = _clipped(start, end, own)
    return inside[1] > (mine[1] if mine is not None else 0.0) and inside[1] > inside[0]


def _clipped(start: np.ndarray, end: np.ndarray, box: Any) -> tuple[float, float] | None:
    """The stretch (t from 0 at `start` to 1 at `end`) of a segment inside an axis-aligned box,
    or None where it misses the box (Liang and Barsky, 1984)."""
    low, high = 0.0, 1.0
    delta = end - start
    for d, p, lo, hi in (
        (delta[0], start[0], box.x0, box.x1),
        (delta[1], start[1], box.y0, box.y1),
    ):
        if d == 0:
            if not lo <= p <= hi:
                return None
            continue
        a, b = (lo - p) / d, (hi - p) / d
        low, high = max(low, min(a, b)), min(high, max(a, b))
        if low > high:
            return None
    return low, high


def _marks(ax: Any) -> np.ndarray:
    """Every marker drawn in the axes (scatter points, and lines' markers) as rows of
    (x, y, radius) in pixels."""
    pixels = ax.figure.dpi / 72
    rows = []
    for collection in ax.collections:
        at = collection.get_offset_transform().transform(collection.get_offsets())
        sizes = np.broadcast_to(collection.get_sizes() if len(collection.get_sizes()) else [0],
                                len(at))  # fmt: skip
        rows += [np.column_stack([at, np.sqrt(sizes) / 2 * pixels])]
    for line in ax.lines:
        if line.get_marker() in (None, "None", "", " "):
            continue
        at = line.get_transform().transform(line.get_xydata())
        rows += [np.column_stack([at, np.full(len(at), line.get_markersize() / 2 * pixels)])]
    marks = np.concatenate(rows) if rows else np.empty((0, 3))
    return marks[np.all(np.isfinite(marks), axis=1)]


def _clear_legend(ax: Any, **options: Any) -> None:
    """The axes' legend where it hides the fewest points of its lines (sampled along each
    segment, in pixels): "best" where that hides none, else the first spot, down from the top
    (right, left, then centred) that hides none, else the least hiding. Call after the
    layout is done. "best" weighs only matplotlib's nine places: of three lines across the
    panel, each met one (the legend covered Gemma 3's W4A16)."""
    legend = ax.legend(**options)
    renderer = ax.figure.canvas.get_renderer()
    ax.get_xlim(), ax.get_ylim()  # the limits autoscaled before they are used
    frame = ax.get_window_extent(renderer)
    points = _line_points(ax)
    box = legend.get_window_extent(renderer)
    pad = 3 * ax.figure.dpi / 72  # a marker's half size, and a little
    inner = frame.padded(-pad)

    def hidden(x0: float, y0: float) -> int:
        x, y = points.T
        return int(np.sum((x0 - pad <= x) & (x <= x0 + box.width + pad)
                          & (y0 - pad <= y) & (y <= y0 + box.height + pad)))  # fmt: skip

    if not hidden(box.x0, box.y0):
        return
    xs = (inner.x1 - box.width, inner.x0, (frame.x0 + frame.x1 - box.width) / 2)
    ys = np.arange(inner.y1 - box.height, inner.y0 - 1, -LABEL_STEP * ax.figure.dpi / 72)
    spots = [(x0, y0) for y0 in ys for x0 in xs]
    x0, y0 = min(spots, key=lambda spot: hidden(*spot))  # the first of the fewest
    legend.set_loc(((x0 - frame.x0) / frame.width, (y0 - frame.y0) / frame.height))


def _line_points(ax: Any) -> np.ndarray:
    """The axes' lines as points in pixels: their vertices and a point every pixel or so
    between each two drawn."""
    return np.concatenate([np.empty((0, 2)), *_lines(ax)])


def _lines(ax: Any) -> list[np.ndarray]:
    """Each of the axes' lines as points in pixels, a point every pixel or so along it."""
    out = []
    for line in ax.lines:
        xy = line.get_transform().transform(line.get_xydata())
        along = [xy[np.all(np.isfinite(xy), axis=1)]]
        for a, b in itertools.pairwise(xy):
            if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
                t = np.linspace(0, 1, max(2, int(np.hypot(*(b - a)))))[:, None]
                along.append(a + t * (b - a))
        out.append(np.concatenate(along))
    return out


def _curves(
    model: Any,
    hardware: Any,
    axis: str,
    values: np.ndarray,
    settings: Settings,
    fixed: dict[str, int],
    path: str | os.PathLike[str] | None,
    title: str,
) -> CurvesFigure:
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.5), FigureClass=CurvesFigure)
    fitted = timed = False
    left_out = []
    results = [
        analyze(model, hardware, **{**fixed, axis: values}, **options)
        for options in settings.values()
    ]
    labels = series_labels(list(settings), results)
    for i, (label, result) in enumerate(zip(labels, results, strict=True)):
        style, marker = STYLES[i % len(STYLES)]
        gen = result.generation or {}
        # Settings that do not fit the device's memory at a point leave a gap there.
        fits = np.asarray(result.memory["generation"].fits)
        tpot = np.where(fits, np.asarray(gen["tpot"]) * 1e3, np.nan)
        throughput = np.where(fits, np.asarray(gen["throughput"]), np.nan)
        fitted = fitted or bool(np.any(fits))
        timed = timed or bool(np.any(np.isfinite(tpot)))
        left_out.append(_left_out_line(label, axis, values, np.broadcast_to(fits, values.shape)))
        kw = {
            "linestyle": style,
            "marker": marker,
            "color": GRAYS[i % len(GRAYS)],
            # A series with no point drawn says why, rather than an empty legend entry.
            "label": label if np.any(fits) else f"{label} (fits in memory at no point)",
            "markersize": 4,
        }
        lat.plot(values, tpot, **kw)
        thr.plot(values, throughput, **kw)
    if not fitted:
        # Nothing to draw (and no log axis of nothing): say so instead of an empty figure.
        plt.close(fig)
        raise InvalidInputError(
            "hardware",
            _name(hardware),
            f"a device whose memory holds {_name(model)} at one of these points "
            f"({axis} {values.min()}..{values.max()}; settings {', '.join(settings)}): none fits",
        )
    if not timed:
        plt.close(fig)
        raise InvalidInputError(
            "gen_len", fixed["gen_len"], "at least 2: one token has no time per output token"
        )
    # With images a prompt is its text and the images' tokens: the axis counts the text.
    name = {"batch": "batch size"}.get(
        axis, "prompt text length (tokens)" if fixed.get("images") else "prompt length (tokens)"
    )
    lat.set(xlabel=name, ylabel="time per output token (ms)")
    thr.set(xlabel=name, ylabel="throughput (tokens/s)")
    for ax in (lat, thr):
        log_axis(ax.xaxis, values)
        log_axis(ax.yaxis)
        ax.grid(True, which="both", lw=0.3)
    if axis == "batch":  # one prompt for every point: a setting may prefill fewer of it
        asked = fixed["prompt_len"] + image_tokens(model, fixed.get("images", 0))
        title += _kept_note(results, asked, "prompts")
    heading = fig.suptitle(
        f"{subject(results)}\n{title}; points that do not fit in memory are left out",
        fontsize="medium",
    )
    fig.tight_layout()
    fit_titles(fig, heading, tight=True)
    for ax in (lat, thr):  # where the lines are, once laid out
        _clear_legend(ax, fontsize=8)
    fig.left_out = tuple(line for line in left_out if line is not None)
    _save(fig, path)
    return fig


# The sizes the curves take where none are given (LLM-Viewer's figures' ranges), the prompts
# cut where the model's context ends.
DEFAULT_BATCHES = 2 ** np.arange(0, 10)
DEFAULT_PROMPTS = 2 ** np.arange(7, 13)


def prompt_room(model: Any, gen_len: int) -> int:
    """The longest prompt the model's positions hold beside `gen_len` generated tokens
    (rooflens.core.analysis.prompt_room, for a model given by name too)."""
    return core_prompt_room(resolve_model(model), gen_len)


# The prompt of a plot that draws no prompt axis, unless given (memory_bars: 2,048).
PLOT_PROMPT = 1024


def default_prompt(model: Any, gen_len: int, longest: int = PLOT_PROMPT, images: int = 0) -> int:
    """A plot's one prompt when none is given: `longest` tokens, or what the model's context
    leaves beside the generation and the images' tokens, at least one (a generation or images
    past the context are then refused naming them, as `rooflens analyze` refuses them, not a
    prompt never given)."""
    spec = resolve_model(model)
    pictured = images * spec.vision.tokens_per_image if images and spec.vision else 0
    return max(1, min(longest, prompt_room(spec, gen_len) - pictured))


def _default_prompts(model: Any, gen_len: int, images: int = 0) -> np.ndarray:
    room = default_prompt(model, gen_len, int(DEFAULT_PROMPTS[-1]), images)
    within = DEFAULT_PROMPTS[room >= DEFAULT_PROMPTS]
    return within if len(within) else DEFAULT_PROMPTS[:1]  # the context error then says why


def batch_curves(
    model: Any,
    hardware: Any,
    settings: Settings,
    batches=None,
    prompt_len: int | None = None,
    gen_len: int = 128,
    path: str | os.PathLike[str] | None = None,
    images: int = 0,
) -> CurvesFigure:
    """Latency and throughput against batch size, one line per setting (seed 000, Fig. 8);
    the prompt 1,024 tokens unless given, or what the model's context leaves; `images` per
    request (multimodal models)."""
    values = np.asarray(batches if batches is not None else DEFAULT_BATCHES)
    if prompt_len is None:
        prompt_len = default_prompt(model, gen_len, PLOT_PROMPT, images)
    words = prompt_words(prompt_len, images, image_tokens(model, images))
    return _curves(
        model,
        hardware,
        "batch",
        values,
        settings,
        {"prompt_len": prompt_len, "gen_len": gen_len, "images": images},
        path,
        f"{words}, {gen_len:,} generated tokens",
    )


def sequence_curves(
    model: Any,
    hardware: Any,
    settings: Settings,
    prompt_lens=None,
    batch: int = 1,
    gen_len: int = 128,
    path: str | os.PathLike[str] | None = None,
    images: int = 0,
) -> CurvesFigure:
    """Latency and throughput against prompt length, one line per setting (Fig. 9); 128 to
    4,096 tokens unless given, as far as the model's context holds them; `images` per
    request (multimodal models)."""
    values = np.asarray(
        prompt_lens if prompt_lens is not None else _default_prompts(model, gen_len, images)
    )
    return _curves(
        model,
        hardware,
        "prompt_len",
        values,
        settings,
        {"batch": batch, "gen_len": gen_len, "images": images},
        path,
        f"batch {batch:,}, {gen_len:,} generated tokens" + _beside_axis(model, images),
    )


def memory_bars(
    model: Any,
    hardware: Any,
    settings: Settings,
    batch: int = 1,
    prompt_len: int | None = None,
    gen_len: int = 128,
    path: str | os.PathLike[str] | None = None,
    images: int = 0,
) -> Figure:
    """Weights, KV cache and peak activations per setting as stacked bars, with each bar's
    limit marked (Fig. 7): the device's capacity, or an engine's share where it binds; the
    prompt 1,024 tokens unless given, as `rooflens plot memory` takes it, or what the context
    leaves; `images` per request (multimodal models)."""
    if prompt_len is None:
        prompt_len = default_prompt(model, gen_len, 1024, images)
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(settings) + 2), 4.5))
    labels = list(settings)
    parts: dict[str, list[float]] = {
        "weights": [],
        "KV cache": [],
        "activations": [],
        "framework": [],
    }
    capacities = []
    results = []
    for options in settings.values():
        result = analyze(
            model,
            hardware,
            batch=batch,
            prompt_len=prompt_len,
            gen_len=gen_len,
            images=images,
            **options,
        )
        results.append(result)
        mem = result.memory["generation"]
        parts["weights"].append(float(mem.weights) / 1e9)
        parts["KV cache"].append(float(mem.kv_cache) / 1e9)
        parts["activations"].append(float(mem.activations) / 1e9)
        # A framework's own memory (transformers' CUDA context and allocator): part of the
        # total that decides whether it fits, which the bars left out.
        parts["framework"].append(float(mem.framework) / 1e9)
        # What the total may reach and fit: an engine's share can bind below the device
        # (SGLang's and TensorRT-LLM's), where a line at the device's capacity showed
        # setups that do not fit below it.
        capacities.append(float(mem.limit) / 1e9)
    if not any(parts["framework"]):
        del parts["framework"]
    bottom = np.zeros(len(labels))
    at = np.arange(len(labels))
    for (name, values), hatch, gray in zip(
        parts.items(), ("", "//", "..", "xx"), ("0.3", "0.6", "0.85", "1.0"), strict=False
    ):
        ax.bar(at, values, bottom=bottom, label=name, color=gray, hatch=hatch, edgecolor="black")
        bottom += np.array(values)
    ax.set_xticks(at, _wrapped(ax, series_labels(labels, results)))
    # The images' tokens join the prompt.
    pictured = image_tokens(results[0].model, images)
    context = prompt_len + pictured + gen_len - 1
    # With images, what the context holds: the prompt's text and images' tokens, and the
    # generated ones fed back.
    fed = gen_len - 1
    held = f" (text {prompt_len:,} + image {pictured:,} + {fed:,} generated)" if images else ""
    device = float(results[0].device.memory_capacity) / 1e9
    if len(set(capacities)) == 1 and capacities[0] == device:
        ax.axhline(capacities[0], color="black", linestyle="--", label="device capacity")
    else:
        # An engine takes its share of the device (vLLM 0.92, SGLang's for weights and KV
        # cache): each bar's own limit.
        ax.hlines(capacities, at - 0.45, at + 0.45, color="black", linestyle="--",
                  label="limit (the device, or the engine's share)")  # fmt: skip
    # Room above the marks and bars for the legend, which would hide one of them.
    ax.set_ylim(0, max(*capacities, *bottom) * 1.4)
    held += _kept_note(results, prompt_len + pictured, "prompts")
    ax.set(
        ylabel="memory (GB)",
        title=f"{subject(results)}\nbatch {batch:,}, context {context:,} tokens{held}"
        + _images(images)
        + _per_device(results),
    )
    fit_titles(fig, ax.title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _wrapped(ax: Any, labels: list[str]) -> list[str]:
    """Category labels broken into lines as wide as each category's share of the axis (a
    character taken as 0.6 em of the tick font), so long setting names stand apart."""
    size = FontProperties(size=matplotlib.rcParams["xtick.labelsize"]).get_size_in_points()
    slot = ax.get_window_extent().width / max(len(labels), 1) * 72 / ax.figure.dpi
    width = max(4, int(0.9 * slot / (0.6 * size)))
    return [textwrap.fill(label, width) or label for label in labels]


def operator_times(
    result: Analysis,
    stage: str = "decode",
    path: str | os.PathLike[str] | None = None,
    label: str = "",
) -> Figure:
    """Time per operator over the whole network (per-layer time x layers), with its bound;
    under a profile, each bar also marks its roofline time (time x `efficiency`), so the gap
    between the mark and the bar's end is what the engine loses against the bound; `label`:
    the setting's, which the title names."""
    rows = result.operators()
    rows = rows[rows.stage == stage].assign(total=lambda f: f["count"] * f["time"])
    rows = rows.sort_values("total")
    bound_times = rows["total"] * rows["efficiency"]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1.5))
    hatches = {"compute": "//", "memory": "", "link": "xx", "host link": ".."}
    # Gemma 3's window and global attention share a name: one bar each, labelled.
    labels = [operator_label(r.name, r.span, r.chunk, r.mlp_width) for r in rows.itertuples()]
    for row, name in zip(rows.itertuples(), labels, strict=True):
        ax.barh(
            name,
            row.total * 1e3,
            color="0.6",
            edgecolor="black",
            hatch=hatches.get(row.bound, ""),
        )
    # Legend entries drawn as the bars are (an empty bar container would take the default
    # colour), one per bound present.
    handles = [
        Patch(facecolor="0.6", edgecolor="black", hatch=hatch, label=f"{bound}-bound")
        for bound, hatch in hatches.items()
        if bound in set(rows.bound)
    ]
    # Estimates under a profile: the bound each operator would take on the roofline (none
    # where a measured collective replaced its link model, NaN efficiency).
    if result.options.calibration is not None:
        marked = bound_times.notna().to_numpy()
        # On the bars' own rows: by their labels, not the names two variants share (the
        # marks of Gemma 3's window layers landed on its global layers' row, or on rows of
        # their own).
        (mark,) = ax.plot(
            bound_times[marked] * 1e3, np.array(labels, dtype=object)[marked], "|",
            color="black", markersize=12, markeredgewidth=2, label="roofline time",
        )  # fmt: skip
        handles.append(mark)
    ax.set(
        xlabel="time per step (ms)",
        title=f"{subject([result])}\n{_named(label)}{stage}: time per operator, "
        f"{point(result)}" + _per_device([result]),
    )
    fit_titles(fig, ax.title)
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    return _save(fig, path)


def subject(results: list[Analysis]) -> str:
    """What a figure's title says it shows: the model on the device, and what priced it (the
    engine's profile, or the roofline bound) where every series shares it; each series' label
    says its own otherwise."""
    first = results[0]
    device = first.device.display_name or first.device.name
    estimates = {r.options.estimate for r in results}
    priced = f", {estimates.pop()}" if len(estimates) == 1 else ""
    return f"{first.model.name} on {device}{priced}"


def point(result: Analysis) -> str:
    """The sizes a one-point figure shows: 'batch 8, prompt 2,048 tokens' (the tokens
    prefilled), and where a request carries images, 'prompt 3,072 tokens (text 1,024 + image
    2,048), 2 images per request'."""
    images = 0 if result.images is None else int(np.max(result.images))
    pictured = image_tokens(result.model, images)
    prefilled = int(np.max(result.prompt_len))
    return f"batch {int(np.max(result.batch)):,}, " + prompt_words(
        prefilled - pictured, images, pictured
    )


def _kept_note(results: list[Analysis], asked: int, what: str) -> str:
    """'; prompts kept to 512 tokens where a setting compresses them': the tokens a setting
    prefills where it keeps fewer than the prompt asked for (prompt_keep), which the title's
    prompt would otherwise overstate for it."""
    kept = sorted({int(np.max(r.prompt_len)) for r in results} - {asked})
    if not kept:
        return ""
    counts = ", ".join(f"{k:,}" for k in kept)
    return f"; {what} kept to {counts} tokens where a setting compresses them"


def image_tokens(model: Any, images: int) -> int:
    """The tokens `images` images add to each prompt (none for a model without a vision
    encoder); `model` a ModelSpec or a name."""
    if not images:
        return 0
    spec = model if hasattr(model, "vision") else resolve_model(model)
    return images * spec.vision.tokens_per_image if spec.vision else 0


def prompt_words(text: int, images: int, pictured: int) -> str:
    """A prompt as every title says it: 'prompt' is every token prefilled, the images' with
    the text's ('prompt 3,072 tokens (text 1,024 + image 2,048), 2 images per request');
    titles had said 'prompt 1024' of the text alone in one plot and of text and images in
    another."""
    if not images:
        return f"prompt {text:,} tokens"
    return f"prompt {text + pictured:,} tokens (text {text:,} + image {pictured:,})" + _images(
        images
    )


def _beside_axis(model: Any, images: int) -> str:
    """What a prompt-length axis leaves out where requests carry images: the axis counts the
    prompt's text, and the images add their tokens to every prompt."""
    if not images:
        return ""
    pictured = image_tokens(model, images)
    return f"{_images(images)}; prompt: the axis' text + image {pictured:,} tokens"


def _images(images: int) -> str:
    """', 2 images per request' where a request carries any."""
    return "" if not images else f", {images} image{'s' if images > 1 else ''} per request"


def series_labels(labels: list[str], results: list[Analysis]) -> list[str]:
    """Each series' label, and what priced it where the series differ in that (an engine's
    profile beside the roofline bound): the title then names none (`subject`)."""
    if len({r.options.estimate for r in results}) == 1:
        return labels
    return [f"{label}: {_priced(r)}" for label, r in zip(labels, results, strict=True)]


def _priced(result: Analysis) -> str:
    """'vllm 0.24.0 profile, h100-sxm, graphs', or 'roofline bound'."""
    return result.options.estimate.removeprefix("calibrated estimate (").removesuffix(")")


def _named(label: str) -> str:
    """'W8A8 fp8: ' before what a one-setting figure shows, where its setting has a label."""
    return f"{label}: " if label else ""


def _per_device(results: list[Analysis]) -> str:
    """'; per device of 8' where the settings spread the model over 8 devices (memory is per
    device), '; per device' where they differ, nothing on one device."""
    counts = set()
    for result in results:
        par = result.options.parallelism
        counts.add(par.devices * par.expert_token_groups)
    if counts == {1}:
        return ""
    return f"; per device of {counts.pop()}" if len(counts) == 1 else "; per device"


def _name(model: Any) -> str:
    return getattr(model, "name", str(model))
