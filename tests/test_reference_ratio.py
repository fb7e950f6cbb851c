"""scripts/reference_ratio.py times rooflens against a plain-Python roofline written point by
point; that reference must be the same computation, so its totals must be rooflens'."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reference_ratio.py"


def test_the_reference_gives_rooflens_totals(load_script) -> None:
    ref = load_script("reference_ratio")
    cfg = ref.bundled_config(ref.MODEL)
    model, device = ref.load_model(ref.MODEL), ref.get_device(ref.DEVICE)
    batches, prompts = np.array([1, 3, 64]), np.array([1, 17, 4000])
    mine = ref.reference_sweep(cfg, device, batches, prompts)
    theirs = ref.rooflens_sweep(model, device, batches, prompts)
    assert (
        sorted(mine)
        == sorted(theirs)
        == sorted(f"{stage}_{k}" for stage in ("prefill", "decode") for k in "obt")
    )
    assert ref.largest_difference(mine, theirs) < 1e-12
    # One figure by hand: decode at batch 1 after a 1-token prompt reads every weight once
    # (6,738,415,616 parameters, less the 32000 x 4096 embedding table of which it reads one
    # row) at 2 bytes, plus a few MB of activations and KV cache.
    weights = (6_738_415_616 - 32000 * 4096) * 2
    assert 0 < mine["decode_b"][0, 0] - weights < 20e6


def test_the_script_runs_and_reports_its_agreement() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--side", "3"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("largest relative difference of the totals: ")
    assert float(lines[0].split(": ")[1].split()[0]) < 1e-12
    assert lines[1].startswith("one point: reference ") and lines[2].startswith("9 points: ")
