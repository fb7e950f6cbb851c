"""Measured collectives as tables per kind and group size (the engine profiles' format), and
how well such a table predicts sizes it was not given.

A table holds log10(time) against log10(message bytes) per group size; between measured
sizes the analysis interpolates log-log, below the smallest it keeps the smallest's time
(latency-bound) and above the largest it grows in proportion to the bytes (bandwidth-bound)
(`rooflens.core.efficiency.CollectiveCurve`). Held-out check: every other measured size is
left out of a table, predicted from the others, and the reverse.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from rooflens.core.efficiency import CollectiveCurve, CollectiveTable


def _curve(ranks: int, points: list[tuple[float, float]]) -> CollectiveCurve:
    by_size: dict[float, list[float]] = defaultdict(list)
    for size, seconds in points:
        by_size[size].append(seconds)
    sizes = sorted(by_size)
    return CollectiveCurve(
        ranks=ranks,
        log10_bytes=tuple(float(np.log10(s)) for s in sizes),
        log10_seconds=tuple(float(np.log10(np.median(by_size[s]))) for s in sizes),
    )


def fit_tables(
    measured: list[dict[str, Any]], source: str, fixed: float = 0.0
) -> dict[str, CollectiveTable]:
    """Per kind, a curve per group size from measured collectives (kind, ranks, bytes, time);
    several timings of one size take their median. `fixed`, the time a calibrated analysis
    adds to every kernel, is taken off: the analysis adds it back."""
    groups: dict[str, dict[int, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for c in measured:
        if c["ranks"] >= 2 and c["bytes"] > 0 and c["time"] > fixed:
            groups[c["kind"]][c["ranks"]].append((float(c["bytes"]), float(c["time"]) - fixed))
    return {
        kind: CollectiveTable(
            source=source,
            curves=tuple(_curve(ranks, points) for ranks, points in sorted(by_ranks.items())),
        )
        for kind, by_ranks in sorted(groups.items())
    }


def held_out_rows(measured: list[dict[str, Any]], fixed: float = 0.0) -> list[dict[str, Any]]:
    """Each measured collective predicted (`fixed` + the table, as the analysis prices it) by
    the table of its kind and group size fitted without it: sizes alternate between two
    halves, each half predicted from the other."""
    rows = []
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for c in measured:
        if c["ranks"] >= 2 and c["bytes"] > 0 and c["time"] > 0:
            groups[(c["kind"], c["ranks"])].append(c)
    for (kind, ranks), points in sorted(groups.items()):
        sizes = sorted({p["bytes"] for p in points})
        for half in (0, 1):
            kept = {s for i, s in enumerate(sizes) if i % 2 != half}
            if not kept:
                continue
            kept_points = [(p["bytes"], p["time"] - fixed) for p in points if p["bytes"] in kept]
            curve = _curve(ranks, kept_points)
            for p in points:
                if p["bytes"] in kept:
                    continue
                predicted = fixed + float(curve(np.array([float(p["bytes"])]))[0])
                rows.append(
                    {
                        "kind": kind,
                        "ranks": ranks,
                        "bytes": p["bytes"],
                        "measured": p["time"],
                        "predicted": predicted,
                    }
                )
    return rows
