"""The advisor's picture: cost per million tokens against latency, the Pareto front drawn."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from rooflens.advisor.search import Advice
from rooflens.views.plots import _save, fit_titles, log_axis, plt


def pareto(advice: Advice, path: str | os.PathLike[str] | None = None) -> Figure:
    """Every feasible setup at (end-to-end latency, cost per million tokens); the front of
    setups no other beats on both is joined, and the best pick named. The title says the model,
    what priced the setups (an engine's profiles or the roofline bounds) and the load."""
    ok = advice.feasible.dropna(subset=["cost_per_million", "e2e"])
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter(ok["e2e"], ok["cost_per_million"], marker="o", facecolors="white",
               edgecolors="0.5", label="feasible setups")  # fmt: skip
    front = ok[ok["pareto"]].sort_values("e2e")
    ax.plot(front["e2e"], front["cost_per_million"], marker="s", color="0.1", label="Pareto front")
    for _, row in front.iterrows():
        ax.annotate(
            f"{row['device']} ×{int(row['devices'])} W{row['w_bits']}",
            (row["e2e"], row["cost_per_million"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
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
    load = f"{t.rate:g} req/s, {t.prompt_len}+{t.output_len} tokens"
    what = f"{advice.model}, " if advice.model else ""
    ax.set_title(f"{what}{advice.estimate}\n{load}", fontsize=10)
    fig.tight_layout()
    fit_titles(fig, ax.title, tight=True)
    return _save(fig, path)
