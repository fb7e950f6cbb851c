"""AIConfigurator's own estimate of a sample of the silicon-sample rows rooflens expresses.

    python scripts/aiconfigurator_estimates.py [--per-group 10] \
        [--out docs/data/aiconfigurator-estimates.csv]

Needs the `aiconfigurator` package (its CLI's `cli_estimate`, run offline from its bundled
operator databases). The sample is deterministic: for every system, engine and model, up to
`--per-group` rows rooflens can express, evenly spaced in id order. The output CSV is what
`python -m rooflens.measure.validate_engines` sets beside rooflens' own predictions. Like the
measured rows, these estimates are only compared with, never fitted to.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.core.errors import InvalidInputError, ModelConfigError
from rooflens.measure.validate_engines import (
    Inexpressible,
    catalog_model,
    sample_path,
    setup_of,
)
from rooflens.models.catalog import bundled_config

COLUMNS = ("mode", "batch_size", "tp_size", "pp_size", "attention_dp_size", "moe_tp_size",
           "moe_ep_size")  # fmt: skip
SIDES = ("batch_size", "num_workers", "tp_size", "pp_size", "attention_dp_size", "moe_tp_size",
         "moe_ep_size")  # fmt: skip


def _int(value: object) -> int | None:
    """aiconfigurator's blank means 'not used'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def sample(frame: pd.DataFrame, per_group: int) -> pd.DataFrame:
    """Up to `per_group` expressible rows per system, engine and model, evenly spaced."""
    keep = []
    for index, row in frame.iterrows():
        try:
            setup_of(row)
        except (Inexpressible, InvalidInputError, ModelConfigError):
            continue
        keep.append(index)
    expressible = frame.loc[keep].sort_values("id")
    picked = []
    for _, group in expressible.groupby(["system", "backend", "model_path"], sort=True):
        at = np.unique(np.linspace(0, len(group) - 1, min(per_group, len(group))).round())
        picked.append(group.iloc[at.astype(int)])
    return pd.concat(picked)


def _local_config(model_id: str) -> Path:
    """A folder holding rooflens' bundled config.json of `model_id`."""
    folder = Path(tempfile.gettempdir()) / "rooflens-aic-models" / model_id.replace("/", "--")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(bundled_config(model_id)))
    return folder


def estimate(row: pd.Series) -> dict[str, object]:
    """AIConfigurator's TTFT and TPOT (ms) for one row, or why it gave none."""
    from aiconfigurator.cli.api import cli_estimate

    kwargs: dict[str, object] = {
        "mode": row["mode"],
        "backend_name": row["backend"],
        "isl": int(row["isl"]),
        "osl": int(row["osl"]),
    }
    for quant in ("gemm_quant_mode", "moe_quant_mode"):
        if isinstance(row.get(quant), str):
            kwargs[quant] = row[quant]
    if row["mode"] == "agg":
        for column in COLUMNS[1:]:
            value = _int(row.get(column))
            if value:
                kwargs[column] = value
    else:
        for side in ("prefill", "decode"):
            for column in SIDES:
                value = _int(row.get(f"{side}_{column}"))
                if value:
                    kwargs[f"{side}_{column}"] = value
    started = time.perf_counter()
    model = str(row["model_path"])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                result = cli_estimate(model, str(row["system"]), **kwargs)
            except Exception as exc:
                if "Failed to download" not in str(exc):
                    raise
                # Not among aiconfigurator's bundled configs (offline): the config rooflens
                # itself reads for this row, so both read the same architecture.
                model = str(_local_config(catalog_model(model)))
                result = cli_estimate(model, str(row["system"]), **kwargs)
    except Exception as exc:
        return {"aic_reason": str(exc).split("\n")[0][:200]}
    return {
        "aic_ttft_ms": float(result.ttft),
        "aic_tpot_ms": float(result.tpot),
        "aic_backend_version": result.backend_version,
        "aic_seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="silicon_sample.csv (default: aiconfigurator-core's)")
    parser.add_argument("--per-group", type=int, default=6)
    parser.add_argument("--out", default="docs/data/aiconfigurator-estimates.csv")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from importlib.metadata import version

    frame = pd.read_csv(sample_path(args.data))
    frame = frame[frame["system"].isin(["h100_sxm", "h200_sxm", "b200_sxm"])]
    rows = sample(frame, args.per_group)
    out = []
    for n, (_, row) in enumerate(rows.iterrows(), 1):
        values = estimate(row)
        out.append({"id": row["id"]} | values)
        print(f"{n}/{len(rows)} {row['id']}: {values.get('aic_reason') or values['aic_tpot_ms']}")
    table = pd.DataFrame(out)
    table["aic_package"] = f"aiconfigurator {version('aiconfigurator')}"
    table["estimated"] = date.today().isoformat()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    print(f"{table['aic_ttft_ms'].notna().sum()} of {len(table)} rows estimated -> {args.out}")


if __name__ == "__main__":
    main()
