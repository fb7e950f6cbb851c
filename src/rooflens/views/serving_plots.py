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


def offered_load(result: SimulationResult) -> str:
    """The load a run was given, read from its requests: a closed loop of clients ('64
    requests from 16 clients in a closed loop': each request after the first wave sent when
    the one C before it finished), requests at the mean rate they arrived at ('500
    requests, arrivals averaging 9.87/s': a Poisson process' draw, not the rate asked for,
    which the result does not keep: a caller that knows it passes `load` to timeline), all at
    once, or one request."""
    frame = result.requests
    arrival = frame["arrival"].to_numpy(dtype=float)
    finish = frame["finish"].to_numpy(dtype=float)
    n = len(arrival)
    count = f"{n:,} request{'s' * (n != 1)}"
    if n <= 1:
        return count
    first = arrival.min()
    clients = int(np.sum(arrival == first))
    # A closed loop sends request i + C at the moment request i finishes (serving.cluster).
    if 1 <= clients < n and np.allclose(arrival[clients:], finish[:-clients], rtol=0, atol=1e-12):
        return f"{count} from {clients:,} client{'s' * (clients > 1)} in a closed loop"
    span = arrival.max() - first
    if span <= 0:
        return f"{count} arriving at once"
    return f"{count}, arrivals averaging {(n - 1) / span:.3g}/s"


def timeline(
    result: SimulationResult,
    path: Path = None,
    title: str | None = None,
    load: str | None = None,
) -> Figure:
    """Requests in the running batch, KV-cache use and queue length over time (every engine,
    named by its role); `title`: what ran (the model on the device, what priced it), above
    the deployment (replicas and their parallelism) and the load offered (`load`, as the
    caller put it, else read from the requests: offered_load)."""
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
    # The deployment with its parallelism and the load: "1 replica" alone had left out both.
    deployed = result.layout or pools(result)
    offered = offered_load(result) if load is None else load
    heading = fig.suptitle(f"{head}\n{deployed}; {offered}", fontsize="medium")
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


def capacity_curve(
    capacity: CapacityResult,
    path: Path = None,
    title: str | None = None,
    layout: str | None = None,
) -> Figure:
    """The capacity search's probes: TTFT and TPOT percentiles against the arrival rate, the
    SLO and the capacity found; `title`: what ran (the model on the device, what priced it;
    by default what priced it alone), above the deployment (`layout`, else the run at
    capacity's) and the load: the rates tried and the capacity found; the warning, if any,
    under the plots."""
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
    searched = _searched(capacity, probes, layout)
    heading = fig.suptitle("\n".join(filter(None, (head, searched))), fontsize="medium")
    if capacity.warning is not None:  # why none was found, or the caveat on the one found
        fig.text(0.5, 0.0, capacity.warning, fontsize=8, wrap=True, ha="center", va="top")
    fig.tight_layout()
    fit_titles(fig, heading, tight=True)
    return _save(fig, path)


def _searched(capacity: CapacityResult, probes: pd.DataFrame, layout: str | None) -> str:
    """The capacity plot's second line: the deployment, where known ('1 replica of 2 devices
    (TP=2)'), and the load: the requests of each run, the rates tried and the capacity."""
    run = capacity.result
    deployed = layout or capacity.layout or (run.layout if run is not None else "")
    rates = probes["rate"].to_numpy(dtype=float)
    each = f"{len(run.requests):,} requests at each rate, " if run is not None else ""
    tried = f"{each}{rates.min():,.4g} to {rates.max():,.4g}/s tried" if len(rates) else ""
    found = (
        f"capacity {capacity.rate:.4g}/s" if not np.isnan(capacity.rate) else "no capacity found"
    )
    return "; ".join(filter(None, (deployed, tried, found)))
