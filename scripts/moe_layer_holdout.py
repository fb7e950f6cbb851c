"""The MoE tables held out by token count, priced by the `moe` grids and by each layer's own
fractions (EngineProfile.moe_layers, what the shipped profiles do), on the same rows.

    python scripts/moe_layer_holdout.py [DATA_DIR]

Every other token count of each layer shape a table times is held out and predicted from a
fit on the rest, once by the class's grids alone and once by the layer's fractions. Prints
median and p90 |predicted / measured - 1| per table (H100, H200, B200; the tables the
shipped profiles fit), and their means. DATA_DIR: aiconfigurator-core's `systems/data`
(default: the installed package's).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.calibration import aiconfigurator as aic
from rooflens.hardware.catalog import get_device

SYSTEMS = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200"}


def table_errors(s: aic.Samples, device_name: str) -> dict[str, float]:
    device = get_device(device_name)
    train, held = (aic._subset(s, rows) for rows in aic.layer_holdout(s))
    curves = aic.fit_curves(train, device)
    layers = aic.layer_curves(train, device, curves)
    measured = np.asarray(held.time)
    out = {}
    for name, priced in (
        ("grid", aic.predict(held, device, curves)),
        ("layers", aic.predict_layers(held, device, curves, layers)),
    ):
        error = np.abs(priced / measured - 1)
        out[f"{name} median"] = float(np.median(error))
        out[f"{name} p90"] = float(np.percentile(error, 90))
    return out


def main(root: Path) -> pd.DataFrame:
    rows = []
    for system, device_name in SYSTEMS.items():
        for engine in aic.ENGINES:
            gemm = aic.pick_version(root, system, "gemm", engine, None, ("gemm_perf",))
            if gemm is None:
                continue
            folder = aic.pick_version(root, system, "moe", engine, gemm.name, ("moe_perf",))
            if folder is None:
                continue
            kernels = aic.MOE_KERNELS.get((engine, system))
            for s in aic.moe_samples(aic.read_table(folder, "moe_perf"), kernels):
                s = aic._subset(s, np.asarray(s.time) > 0)
                if len(s.time) < aic.MIN_ROWS:
                    continue
                errors = table_errors(s, device_name)
                rows.append({"device": device_name, "engine": f"{engine} {folder.name}",
                             "type": s.dtype, "rows": len(s.time), **errors})  # fmt: skip
    return pd.DataFrame(rows)


if __name__ == "__main__":
    table = main(aic.data_root(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
    shown = table.copy()
    for column in [c for c in table.columns if c.endswith(("median", "p90"))]:
        shown[column] = (100 * table[column]).map("{:.1f} %".format)
    print("| " + " | ".join(shown.columns) + " |")
    print("|" + "---|" * len(shown.columns))
    for values in shown.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in values) + " |")
    means = table[[c for c in table.columns if c.endswith(("median", "p90"))]].mean()
    print("\nmeans: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in means.items()))
