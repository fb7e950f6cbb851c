"""The attention tables held out at their longest contexts, read three ways past the fit.

    python scripts/attention_context_holdout.py [DATA_DIR]

Of each prefill and decode attention table (and the latent-attention prefill tables), the
rows of its longest contexts (the top 15 % of prompt lengths, or of cached tokens in decode)
are held out and predicted from a fit on the rest, as a long prompt meets a profile fitted
on shorter ones. Three readings past the grid's last context column: as the profiles read
(the column held, its cells above the sizes it measured filled from shorter contexts at the
same size: `clamped`); size and context cut alike back to that column (`cut`, the same
sequences' work at the column's context); and the column's cells filled from its own
measured sizes first (`size-fill`). Prints median and p90 |predicted / measured - 1| per
table and their medians. DATA_DIR: aiconfigurator-core's `systems/data` (default: the
installed package's).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.calibration import aiconfigurator as aic
from rooflens.core.efficiency import ClassEfficiency, ShapeGrid, by_shape, memory_by_shape
from rooflens.hardware.catalog import get_device

SYSTEMS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200"}
LONGEST_SHARE = 0.15
READINGS = ("clamped", "cut", "size-fill")


def longest(s: aic.Samples) -> np.ndarray:
    """Rows at the table's longest contexts (column 1 of `sizes`: prompt or cached tokens)."""
    length = np.asarray(s.sizes, dtype=float)[:, 1]
    return length >= np.quantile(length, 1 - LONGEST_SHARE)


def _cut(grid: ShapeGrid | None, size: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """The size the same sequences would have at the grid's last context column."""
    if grid is None:
        return size
    return size * np.minimum(1.0, 10 ** grid.log10_ratios[-1] / ratio)


def predict(s: aic.Samples, device, curves: ClassEfficiency, cut: bool) -> np.ndarray:
    """aic.predict, with the sizes cut back to the last context column where `cut`."""
    if not cut:
        return aic.predict(s, device, curves)
    t_compute, t_memory = aic._roofline(s, device)
    ops = _cut(curves.compute_grid, s.ops, s.aspect)
    memory = _cut(curves.memory_grid, s.memory, s.aspect)
    compute = by_shape(curves.compute, curves.compute_grid, ops, s.aspect)
    memory_fraction = memory_by_shape(curves, memory, s.aspect, s.weight_share)
    return curves.fixed * s.kernels + np.where(
        t_compute >= t_memory,
        t_compute / np.minimum(compute, 1.0),
        t_memory / np.minimum(memory_fraction, 1.0),
    )


def table_errors(s: aic.Samples, device_name: str) -> dict[str, float]:
    """Median and p90 miss of the held-out longest contexts, per reading."""
    device = get_device(device_name)
    held = longest(s)
    rows = aic._subset(s, held)
    measured = np.asarray(rows.time, dtype=float)
    out: dict[str, float] = {"held": float(held.sum())}
    for reading in READINGS:
        fill = "size" if reading == "size-fill" else s.fill_first
        curves = aic.fit_curves(aic._subset(replace(s, fill_first=fill), ~held), device)
        miss = np.abs(predict(rows, device, curves, reading == "cut") / measured - 1)
        out[f"{reading} median"] = float(np.median(miss))
        out[f"{reading} p90"] = float(np.percentile(miss, 90))
    return out


def samples(root: Path, system: str, engine: str) -> list[aic.Samples]:
    """The engine's attention tables on `system`, as the fit reads them."""
    own = aic.ATTENTION_KERNELS.get(engine, ())

    def prefill(table: pd.DataFrame) -> list[aic.Samples]:
        return aic._attention_samples(table, False, own)

    def decode(table: pd.DataFrame) -> list[aic.Samples]:
        return aic._attention_samples(table, True, own)

    readers = [
        ("attention", ("context_attention_perf",), prefill),
        ("attention", ("generation_attention_perf",), decode),
        ("mla", ("context_mla_perf", "generation_mla_perf"), aic.mla_samples),
    ]
    found = []
    for op, tables, reader in readers:
        folder = aic.pick_version(root, system, op, engine, None, tables)
        if folder is None:
            continue
        for s in reader(*[aic.read_table(folder, t) for t in tables]):
            s = aic._subset(s, np.asarray(s.time) > 0)
            if s.aspect is not None and len(s.time) >= aic.MIN_ROWS and longest(s).any():
                found.append(s)
    return [s for s in found if not longest(s).all()]


def main() -> None:
    root = aic.data_root(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    out = []
    for system, device_name in SYSTEMS.items():
        for engine in ("vllm", "sglang", "trtllm"):
            for s in samples(root, system, engine):
                key = {"system": system, "engine": engine, "table": f"{s.op_class}:{s.dtype}"}
                out.append(key | table_errors(s, device_name))
    table = pd.DataFrame(out).set_index(["system", "engine", "table"])
    pd.set_option("display.width", 200)
    shown = table.drop(columns="held")
    print((100 * shown).round(1).assign(held=table["held"].astype(int)).to_string())
    print("\nmedians over the tables (%):")
    print((100 * shown.median()).round(1).to_string())
    print("\ntables each reading misses least (median):")
    best = shown[[f"{r} median" for r in READINGS]].idxmin(axis=1).str.removesuffix(" median")
    print(best.value_counts().to_string())


if __name__ == "__main__":
    main()
