"""The GEMM tables held out by whole weight shapes, with one memory grid and with two.

    python scripts/gemm_grid_holdout.py [DATA_DIR]

Every other (n, k) of a table, with all its m, is held out (as a model's layer meets a table
that never timed its shape) and predicted from a fit on the rest: once with one memory grid
for every memory-bound row, once with the weight-bound and the activation-bound rows on a
grid each (ClassEfficiency.activation_grid, what the shipped profiles do). The rows are the
tables' as they stand (FP8 with its input's quantization inside). Prints median and p90
|predicted / measured - 1| per table, over all rows and at m <= 64, and their means.
DATA_DIR: aiconfigurator-core's `systems/data` (default: the installed package's).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.calibration import aiconfigurator as aic
from rooflens.hardware.catalog import get_device

SYSTEMS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200"}
DECODE_TOKENS = 64


def by_weight_shape(s: aic.Samples) -> np.ndarray:
    """Rows of every other distinct (n, k): held out."""
    _, inverse = np.unique(s.sizes[:, 1:3], axis=0, return_inverse=True)
    return inverse.ravel() % 2 == 1


def errors(s: aic.Samples, device_name: str, split: bool) -> dict[str, float]:
    device = get_device(device_name)
    samples = s if split else replace(s, weight_share=None)  # None: one memory grid
    held = by_weight_shape(samples)
    curves = aic.fit_curves(aic._subset(samples, ~held), device)
    rows = aic._subset(samples, held)
    miss = np.abs(aic.predict(rows, device, curves) / np.asarray(rows.time) - 1)
    decode = rows.sizes[:, 0] <= DECODE_TOKENS
    return {
        "median": np.median(miss),
        "p90": np.percentile(miss, 90),
        "median m<=64": np.median(miss[decode]),
        "p90 m<=64": np.percentile(miss[decode], 90),
    }


def main() -> None:
    root = aic.data_root(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    out = []
    for system, device_name in SYSTEMS.items():
        for engine in ("vllm", "sglang", "trtllm"):
            folder = aic.pick_version(root, system, "gemm", engine, None, ("gemm_perf",))
            if folder is None:
                continue
            for s in aic.gemm_samples(aic.read_table(folder, "gemm_perf")):
                s = aic._subset(s, np.asarray(s.time) > 0)
                for split in (False, True):
                    grids = "two grids" if split else "one grid"
                    key = {"system": system, "engine": engine, "type": s.dtype, "grids": grids}
                    out.append(key | errors(s, device_name, split))
    table = pd.DataFrame(out)
    pd.set_option("display.width", 200)
    wide = table.pivot_table(index=["system", "engine", "type"], columns="grids")
    print((100 * wide).round(1).to_string())
    print("\nmeans over the tables (%):")
    print((100 * table.groupby("grids").mean(numeric_only=True)).round(2).to_string())


if __name__ == "__main__":
    main()
