"""Plots of serving simulations: the engine over time, latency distributions against the SLO,
and latency percentiles against the arrival rate from a capacity search."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rooflens.serving.results import SimulationResult
from rooflens.serving.simulate import CapacityResult
from rooflens.views.plots import GRAYS, STYLES, _save, fit_titles, log_axis, plt

Path = str | os.PathLike[str] | None


def engine_name(result: SimulationResult, engine: int) -> str:
    """An engine of the timeline by its role: 'replica 1', or in a disaggregated cluster
    'prefill 0' and 'decode 1' (each pool numbered from 0)."""
    if result.decode_from == 0:
        return f"replica {engine}"
    if engine < result.decode_from:
        return f"prefill {engine}"
    return f"decode {engine - result.decode_from}"


def pools(result: SimulationResult) -> str:
    """The engines a run had, in words: '2 replicas', or '1 prefill and 2 decode replicas'."""
    if result.decode_from == 0:
        return f"{result.replicas} replica{'s' if result.replicas > 1 else ''}"
    return (
        f"disaggregated: {result.decode_from} prefill and {result.replicas - result.decode_from} "
        "decode replicas"
    )


def timeline(result: SimulationResult, path: Path = None, title: str | None = None) -> Figure:
    """Requests in the running batch, KV-cache use and queue length over time (every engine,
    named by its role); `title`: what ran (the model on the device, what priced it), above
    the engines the run had."""
    line = result.timeline.sort_values("start", kind="stable")
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    t = line["start"].to_numpy()
    for engine, rows in line.groupby("engine"):
        style, _ = STYLES[int(engine) % len(STYLES)]
        # A shade of its own too: replicas that trade places a step apart read as one line
        # in one shade whatever their dashes.
        gray = GRAYS[int(engine) % len(GRAYS)]
        label = engine_name(result, int(engine))
        rows = with_idle(rows)
        axes[0].step(
            rows["start"], rows["running"], where="post", linestyle=style, color=gray, label=label
        )
        share = 100 * rows["kv_tokens"] / result.kv_capacity
        axes[1].step(rows["start"], share, where="post", linestyle=style, color=gray)
        axes[2].step(rows["start"], rows["waiting"], where="post", linestyle=style, color=gray)
    axes[0].set_ylabel("requests running")
    axes[1].set_ylabel("KV cache used (%)")
    axes[1].set_ylim(0, 105)
    axes[2].set_ylabel("requests waiting")
    axes[2].set_xlabel("time (s)")
    for counts in (axes[0], axes[2]):
        # Counts of requests: whole-number ticks from 0, and at least 0 to 1 where none ever
        # waits (matplotlib's range around an all-zero line read -0.06 to 0.06).
        counts.yaxis.set_major_locator(MaxNLocator(integer=True))
        counts.set_ylim(0, max(1.0, counts.get_ylim()[1]))
    if line["engine"].nunique() > 1:
        axes[0].legend(fontsize=8)
    if len(t):
        axes[2].set_xlim(0, float(t.max()))
    head = result.estimate if title is None else title
    heading = fig.suptitle(f"{head}\n{pools(result)}", fontsize="medium")
    fig.tight_layout()
    fit_titles(fig, heading, tight=True)
    return _save(fig, path)


def with_idle(rows: pd.DataFrame) -> pd.DataFrame:
    """One engine's iterations with a row where each idle spell begins (an iteration ending
    before the next starts, and the last one): nothing running or waiting, the KV cache's use
    left blank. A step line held its last iteration's batch across the gap, so an engine idle
    most of the time read as always busy."""
    end = rows["start"] + rows["duration"]
    idle = end.to_numpy() < rows["start"].shift(-1, fill_value=np.inf).to_numpy() * (1 - 1e-9)
    spells = pd.DataFrame(
        {"start": end[idle], "running": 0, "waiting": 0, "kv_tokens": np.nan}, index=None
    )
    return pd.concat([rows, spells], ignore_index=True).sort_values("start", kind="stable")


def latency_cdf(results: Mapping[str, SimulationResult], path: Path = None) -> Figure:
    """Cumulative distributions of TTFT and TPOT, one line per run, the SLO marked."""
    fig, (ttft_ax, tpot_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    slo = None
    for i, (label, result) in enumerate(results.items()):
        style, _ = STYLES[i % len(STYLES)]
        slo = slo or result.slo
        for ax, metric, scale in ((ttft_ax, "ttft", 1.0), (tpot_ax, "tpot", 1e3)):
            values = np.sort(result.requests[metric].dropna().to_numpy()) * scale
            share = 100 * np.arange(1, len(values) + 1) / max(len(values), 1)
            ax.plot(values, share, linestyle=style, color=GRAYS[i % len(GRAYS)], label=label)
    if slo is not None:
        ttft_ax.axvline(slo.ttft, color="0.5", linestyle=":", label=f"SLO {slo.ttft:g} s")
        tpot_ax.axvline(
            slo.tpot * 1e3, color="0.5", linestyle=":", label=f"SLO {slo.tpot * 1e3:g} ms"
        )
    ttft_ax.set_xlabel("time to first token (s)")
    tpot_ax.set_xlabel("time per output token (ms)")
    for ax in (ttft_ax, tpot_ax):
        ax.set_ylabel("requests (%)")
        log_axis(ax.xaxis)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def capacity_curve(capacity: CapacityResult, path: Path = None, title: str | None = None) -> Figure:
    """The capacity search's probes: TTFT and TPOT percentiles against the arrival rate, the
    SLO and the capacity found; `title`: what ran (the model on the device, what priced it;
    by default what priced it alone); the warning, if any, under the plots."""
    probes = capacity.probes.sort_values("rate")
    ttft_col = next(c for c in probes.columns if c.startswith("ttft_p"))
    tpot_col = next(c for c in probes.columns if c.startswith("tpot_p"))
    fig, (ttft_ax, tpot_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, col, scale, unit in ((ttft_ax, ttft_col, 1.0, "s"), (tpot_ax, tpot_col, 1e3, "ms")):
        ax.plot(probes["rate"], probes[col] * scale, marker="o", color="0.2", label=col)
        if not np.isnan(capacity.rate):  # none found: no line, the title says why
            ax.axvline(
                capacity.rate, color="0.5", linestyle="--", label=f"capacity {capacity.rate:.4g}/s"
            )
        ax.set_xlabel("arrival rate (requests/s)")
        ax.set_ylabel(f"{col.replace('_p', ' p')} ({unit})")
        log_axis(ax.yaxis)
        ax.grid(True, which="both", alpha=0.3)
    # The search's own SLO: a run found none at has no result to read it from, and lost its lines.
    slo = capacity.slo
    if slo is not None:
        ttft_ax.axhline(slo.ttft, color="0.5", linestyle=":", label="SLO")
        tpot_ax.axhline(slo.tpot * 1e3, color="0.5", linestyle=":", label="SLO")
    for ax in (ttft_ax, tpot_ax):
        ax.legend(fontsize=8)
    head = capacity.estimate if title is None else title
    heading = fig.suptitle(head, fontsize="medium") if head else None
    if capacity.warning is not None:  # why none was found, or the caveat on the one found
        fig.text(0.5, 0.0, capacity.warning, fontsize=8, wrap=True, ha="center", va="top")
    fig.tight_layout()
    if heading is not None:
        fit_titles(fig, heading, tight=True)
    return _save(fig, path)
