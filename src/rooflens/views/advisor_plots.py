"""The advisor's picture: cost per million tokens against latency, the Pareto front drawn."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from rooflens.advisor.search import Advice
from rooflens.views.plots import (
    _save,
    _separate_labels,
    fit_titles,
    log_axis,
    plt,
    prompt_words,
)

# What a point's label says, for the legend: "2 × TP=4 PP=2 b200" is 2 replicas, each of 8
# devices in 4-wide tensor and 2-deep pipeline parallelism.
LABEL_KEY = "replicas × layout device; weights, KV cache"


def setup_label(row: pd.Series | dict[str, Any]) -> str:
    """A setup as a point's label: '2 × TP=4 PP=2 b200' over 'W4A4 NVFP4, KV8' (replicas,
    their parallelism and device; the weights' precision and format and the KV cache's bits),
    as the advice's own text names a pick. 'b200 ×16 W4' had told NVFP4 from INT4 no more than
    pipeline stages from replicas. A table without those columns (older, or hand-made) gives
    what it has: the devices and the weights' bits."""
    get = row.get
    replicas, tp, pp = get("replicas"), _count(get("tp")), _count(get("pp"))
    layout = f"TP={tp} " if tp > 1 else ""
    if get("experts") == "ep" and tp > 1:
        layout += f"EP={tp} "
    layout += f"PP={pp} " if pp > 1 else ""
    if _count(replicas):
        head = f"{_count(replicas)} × {layout}{row['device']}"
    else:
        head = f"{row['device']} {layout}×{_count(get('devices'))} devices"
    weights = _precision(row)
    kv = _count(get("kv_bits"))
    return f"{head}\n{weights}" + (f", KV{kv}" if kv else "")


def _count(value: object) -> int:
    """A count column's value as a whole number; 0 where it is empty (NaN, None, missing)."""
    try:
        return int(value) if value == value and value is not None else 0  # NaN != NaN
    except (TypeError, ValueError):
        return 0


def _precision(row: pd.Series | dict[str, Any]) -> str:
    """The weights' precision, short: the advice's `precision` ('W4A4 NVFP4', 'W4A16 INT4
    g128') without its notes (modules kept at 16 bits, a checkpoint quantized offline), else
    the searched `weights` name, else the weights' bits."""
    text = row.get("precision")
    if isinstance(text, str) and text:
        # The notes: what stays at 16 bits "(...)", and ", a checkpoint quantized offline".
        parts = text.split(" (")[0].split(", ")
        return ", ".join(p for p in parts if not p.startswith("a checkpoint"))
    weights = row.get("weights")
    if isinstance(weights, str) and weights and weights != "stored":
        return weights.upper()
    bits = _count(row.get("w_bits"))
    return f"W{bits}" if bits else "weights as stored"


def pareto(advice: Advice, path: str | os.PathLike[str] | None = None) -> Figure:
    """Every feasible setup at (end-to-end latency, cost per million tokens); the front of
    setups no other beats on both is joined, and the best pick named. The title says the model,
    what priced the setups (an engine's profiles or the roofline bounds) and the load."""
    ok = advice.feasible.dropna(subset=["cost_per_million", "e2e"])
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter(ok["e2e"], ok["cost_per_million"], marker="o", facecolors="white",
               edgecolors="0.5", label="feasible setups")  # fmt: skip
    front = ok[ok["pareto"]].sort_values("e2e")
    ax.plot(front["e2e"], front["cost_per_million"], marker="s", color="0.1",
            label=f"Pareto front ({LABEL_KEY})")  # fmt: skip
    for _, row in front.iterrows():
        ax.annotate(
            setup_label(row),
            (row["e2e"], row["cost_per_million"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
            # A label moved off its neighbour's keeps a line to its point.
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.4"},
        )
    ax.set_xlabel("end-to-end latency per request (s)")
    ax.set_ylabel("cost per million tokens (USD)")
    if ok.empty:
        # Nothing to place on log axes: the picture says so (the table says why).
        ax.text(0.5, 0.5, "no setup meets the objectives", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
        # No point to scale them: matplotlib's default -0.04 to 0.04 s and USD read as data.
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        log_axis(ax.xaxis)
        log_axis(ax.yaxis)
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    t = advice.target
    # The prompt as the other plots' titles say it (no images: the advisor takes none).
    load = f"{t.rate:g} req/s, {prompt_words(t.prompt_len, 0, 0)}, output {t.output_len:,} tokens"
    what = f"{advice.model}, " if advice.model else ""
    ax.set_title(f"{what}{advice.estimate}\n{load}", fontsize=10)
    fig.tight_layout()
    fit_titles(fig, ax.title, tight=True)
    if not ok.empty:
        # Two-line labels of neighbouring setups overlapped, and one by the right edge ran
        # past the figure: apart, and within the axes.
        _separate_labels(fig, ax)
    return _save(fig, path)
