"""The out-of-sample grid report: each measured step beside the same step's estimate."""

from __future__ import annotations

import pandas as pd
import pytest

import rooflens
from rooflens.calibration.report_grid import predictions, quantities, summary_table

GRID = {
    "environment": {"device_name": "NVIDIA H200", "torch": "2.11", "date": "2026-11-30"},
    "models": [
        {
            "model": "Qwen/Qwen2.5-0.5B",
            "runs": [
                {"stage": "prefill", "batch": 2, "new_tokens": 512, "past": 0,
                 "graph": 0.004, "eager": 0.010},
                {"stage": "decode", "batch": 8, "new_tokens": 1, "past": 1024,
                 "graph": 0.003, "eager": 0.012},
            ],
        }
    ],
}  # fmt: skip


def test_each_step_is_priced_as_measured() -> None:
    frame = predictions(GRID, "h200-sxm")
    common = {"flash_attention": True, "calibration": "auto"}
    prefill = rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", batch=2, prompt_len=512, **common)
    decode = rooflens.analyze("Qwen/Qwen2.5-0.5B", "h200-sxm", batch=8, prompt_len=1024, **common)
    want = [float(prefill.totals()["prefill"]["time"]), float(decode.totals()["decode"]["time"])]
    assert list(frame.estimate_graph) == pytest.approx(want, rel=1e-12)
    assert list(frame.error_graph) == pytest.approx([want[0] / 0.004 - 1, want[1] / 0.003 - 1])


def test_out_of_sample_table_from_a_fixture() -> None:
    """Hand-made errors: model a has prefill errors 2 % and 4 %, model b 20 %; the worst
    model's median (20 %) breaks the per-model target; eager and operators are judged on the
    median over all points."""
    steps = pd.DataFrame(
        {
            "model": ["x/a", "x/a", "x/b", "x/a"],
            "stage": ["prefill", "prefill", "prefill", "decode"],
            "error_graph": [0.02, -0.04, 0.20, 0.01],
            "bound_share": [0.5, 0.5, 0.5, 0.4],
            "bound": [1.0, 1.0, 1.0, 1.0],
            "measured_eager": [4.0, 4.0, 4.0, 4.0],
            "error_eager": [0.0, 0.0, 0.0, -0.05],
        }
    )
    operators = pd.DataFrame(
        {"model": ["x/a"], "name": ["q_proj"], "measured": [2.0], "bound": [1.0], "estimate": [2.1]}
    )
    parts = quantities(steps, operators)
    assert list(parts["prefill (graphs)"].error) == pytest.approx([0.02, 0.04, 0.20])
    lines = summary_table(parts)
    assert lines[2] == (
        "| prefill (graphs) | 3 | 50.0 % / 50.0 % | 4.0 % / 20.0 % | b (20.0 %) | "
        "≤ 5.0 % / ≤ 15.0 % | **no** |"
    )
    assert lines[3].endswith("| a (1.0 %) | ≤ 5.0 % / ≤ 15.0 % | yes |")
    assert lines[4] == (
        "| decode step (eager) | 1 | 75.0 % / 75.0 % | 5.0 % / 5.0 % | a (5.0 %) | ≤ 10.0 % | yes |"
    )
    assert "| operators (alone) | 1 | 50.0 % / 50.0 % | 5.0 % / 5.0 %" in lines[5]


def test_measured_collectives_set_beside_an_engines_tables() -> None:
    import numpy as np

    from rooflens.calibration.report_parallel import engine_collectives_section
    from rooflens.engines import load_engine_profile

    table = load_engine_profile("vllm", "h200-sxm").collectives["all_reduce"]
    priced = float(np.asarray(table(2, np.array([1 << 20])))[0])
    raw = {
        "collectives": [{"kind": "all_reduce", "ranks": 2, "bytes": 1 << 20, "time": 2 * priced}]
    }
    text = "\n".join(engine_collectives_section(raw, "vllm", "h200-sxm"))
    assert "| all_reduce | 1 | 50.0% | 50.0% |" in text


def test_the_shipped_profiles_and_validation_docs_are_what_the_documented_run_writes(
    tmp_path,
) -> None:
    """docs/validation.md's "Reproduce" command, run on the committed measurements, writes the
    bundled h100-sxm and h200-sxm profiles and docs/validation.md and validation-grid.md as
    shipped: the fitting code and what it shipped cannot drift apart."""
    from pathlib import Path

    import tomllib

    from rooflens.calibration.report import main

    root = Path(__file__).resolve().parents[1]
    measured = root / "src/rooflens/calibration/measurements"
    docs, profiles = tmp_path / "docs", tmp_path / "profiles"
    docs.mkdir()
    profiles.mkdir()
    main([
        str(measured / "h100-sxm.json"), str(measured / "h200-sxm.json"),
        "--docs", str(docs), "--profiles", str(profiles),
        "--preamble", str(root / "docs/validation-intro.md"),
        "--grid", str(measured / "grid-h200-sxm.json"),
        "--parallel", str(measured / "parallel-tp2-h200-sxm.json"),
    ])  # fmt: skip
    for device in ("h100-sxm", "h200-sxm"):
        written = tomllib.loads((profiles / f"{device}.toml").read_text())
        shipped = tomllib.loads(
            (root / f"src/rooflens/calibration/profiles/{device}.toml").read_text()
        )
        assert written == shipped, device
    for name in ("validation.md", "validation-grid.md"):
        assert (docs / name).read_text() == (root / "docs" / name).read_text(), name
