"""Do expert GEMMs take the time of the experts' weights they read? A check on aiconfigurator's
`power_law` MoE rows, which the engine profiles were not fitted on until 2026-12-05 (since
then an exponent-1.01 row's time stands in for its balanced cell's where longer:
aiconfigurator.skewed_time; the exponent-1.2 rows are still held out).

    python scripts/moe_routing_check.py DATA_DIR [--old-ref REV]   (REV: OLD_REF)

The profiles fit the `balanced` rows, which deal a step's T·k routes out round robin and so
read min(E, T·k) experts' weights; the `power_law` rows skew the load on purpose and read
fewer. Each power-law row (one device's experts, no expert parallelism) is priced here with
the experts its load touches, averaged over draws of the benchmark's load generator (loads
from a power law on [xmin, xmax], scaled to T·k routes and rounded, as its documentation and
source describe), by the shipped profile, and by the profile of git revision REV priced as
rooflens priced every step before (its fit counted uniform routing's experts for the balanced
rows too). Prints median |error| and median predicted / measured per system and engine.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.calibration import aiconfigurator as aic
from rooflens.calibration.profile import parse_profile
from rooflens.core.operators import ExpertLinear, expected_experts_hit
from rooflens.hardware import get_device

# The last revision whose profiles counted uniform routing's experts for the balanced rows.
OLD_REF = "a412ffd"
SYSTEMS = {"h100-sxm": "h100_sxm", "h200-sxm": "h200_sxm", "b200": "b200_sxm"}
DRAWS = 64


@functools.cache
def touched(tokens: int, experts: int, top_k: int, alpha: float) -> float:
    """Experts with at least one route, in the mean over DRAWS draws of the generator."""
    rng = np.random.default_rng([tokens, experts, top_k, int(alpha * 100)])
    routes = tokens * top_k
    low, high = (1.0, 0.8 * tokens) if routes > experts else (0.01, 2.0)
    a = 1.0 - alpha
    load = ((high**a - low**a) * rng.random((DRAWS, experts)) + low**a) ** (1.0 / a)
    load = np.round(load / load.sum(axis=1, keepdims=True) * routes)
    counts = []
    for draw in load:  # the rounding's remainder: onto the busiest, off the least loaded
        order = np.argsort(-draw, kind="stable")
        delta = int(routes - draw.sum())
        for i in range(abs(delta)):
            j = order[i % experts] if delta > 0 else order[-(i % experts) - 1]
            draw[j if delta > 0 or draw[j] > 0 else order[0]] += 1 if delta > 0 else -1
        counts.append(np.count_nonzero(draw))
    return float(np.mean(counts))


def power_law_samples(
    df: pd.DataFrame, kernels: dict[str, str] | None, hits: Callable[[int, int, int, float], float]
) -> list[aic.Samples]:
    """The fit's pricing of the power-law rows (aic.moe_samples, one device's experts, no
    expert parallelism), with the weights of `hits(tokens, experts, top_k, alpha)` experts
    in place of the min(E, T·k) a balanced row reads."""
    skewed = df["distribution"].astype(str).str.startswith("power_law")
    df = df[skewed & (df["moe_ep_size"] == 1) & (df["latency"] > 0)]
    names = {dtype: name for name, (dtype, _) in aic.MOE_TYPES.items()}
    out = []
    for s in aic.moe_samples(df.assign(distribution="balanced"), kernels):
        quant = aic.MOE_TYPES[names[s.dtype]][1]
        rows = aic.moe_type_rows(df, names[s.dtype], kernels)  # moe_samples' order
        tokens, experts, top_k = (
            rows[c].to_numpy(int) for c in ("num_tokens", "num_experts", "topk")
        )
        alphas = rows["distribution"].str.rsplit("_", n=1).str[1].astype(float).to_numpy()
        hit = np.array([hits(*a) for a in zip(tokens, experts, top_k, alphas, strict=True)])
        # One expert's bytes, a third of its gate, up and down GEMMs' (as the samples are).
        width = np.maximum(rows["inter_size"] // rows["moe_tp_size"], 1)
        per_expert = np.array([
            sum(ExpertLinear("e", "block", ("x",), "y", in_features=a, out_features=b)
                .weight_bytes(quant) for a, b in ((h, w), (h, w), (w, h))) / 3
            for h, w in zip(rows["hidden_size"], width, strict=True)
        ])  # fmt: skip
        dealt = np.minimum(experts, tokens * top_k)
        out.append(dataclasses.replace(s, memory=s.memory + (hit - dealt) * per_expert))
    return out


def uniform(tokens: int, experts: int, top_k: int, alpha: float) -> float:
    """Uniform routing's experts, as rooflens priced any step of T tokens (and counted for
    the balanced rows) before."""
    return float(expected_experts_hit(experts, top_k, np.array(float(tokens))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="aiconfigurator-core's systems/data folder")
    parser.add_argument(
        "--old-ref", default=OLD_REF, help="git revision of profiles fitted the old way"
    )
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1] / "src" / "rooflens" / "engines" / "profiles"
    lines = [
        "| system | engine | routes | rows | new: median err | new: pred/meas | "
        "old: median err | old: pred/meas |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for device_name, system in SYSTEMS.items():
        device = get_device(device_name)
        for engine in aic.ENGINES:
            path = here / f"{engine}-{device_name}.toml"
            new = parse_profile(path.read_text(), str(path))
            old_text = subprocess.run(
                ["git", "show", f"{args.old_ref}:{path.relative_to(here.parents[3])}"],
                capture_output=True, text=True, check=True, cwd=here,
            ).stdout  # fmt: skip
            old = parse_profile(old_text, f"{args.old_ref}:{path.name}")
            folder = aic.pick_version(args.data, system, "moe", engine, new.engine_version)
            table = aic.read_table(folder, "moe_perf") if folder else None
            if table is None:
                continue
            kernels = aic.MOE_KERNELS.get((engine, system))
            ratios: dict[str, list[np.ndarray]] = {"new": [], "old": [], "few": []}
            pairs = zip(
                power_law_samples(table, kernels, touched),
                power_law_samples(table, kernels, uniform),
                strict=True,
            )
            for s_new, s_old in pairs:
                key = f"moe:{s_new.dtype}"
                curves_new = new.dtype_classes.get(key) or new.classes["moe"]
                curves_old = old.dtype_classes.get(key) or old.classes["moe"]
                ratios["new"].append(aic.predict(s_new, device, curves_new) / s_new.time)
                ratios["old"].append(aic.predict(s_old, device, curves_old) / s_old.time)
                ratios["few"].append(s_new.aspect <= 1.0)  # T·k <= E: routes per expert <= 1
            new_r, old_r = np.concatenate(ratios["new"]), np.concatenate(ratios["old"])
            few = np.concatenate(ratios["few"])
            for label, rows in (("T·k ≤ E", few), ("T·k > E", ~few)):
                n, o = new_r[rows], old_r[rows]
                lines.append(
                    f"| {device_name} | {engine} | {label} | {rows.sum()} | "
                    f"{np.median(abs(n - 1)):.1%} | {np.median(n):.2f} | "
                    f"{np.median(abs(o - 1)):.1%} | {np.median(o):.2f} |"
                )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
