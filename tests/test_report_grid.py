"""The out-of-sample grid report: each measured step beside the same step's estimate."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.calibration.report_grid import markdown, predictions, summary

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
    rows = summary(frame)
    assert list(rows.stage) == ["prefill", "decode"]
    assert rows.median_graph.iloc[1] == pytest.approx(abs(want[1] / 0.003 - 1))
    text = markdown(frame, GRID, "h200-sxm")
    assert "| Qwen/Qwen2.5-0.5B | decode | 8 | 1024 | 3.00 ms |" in text


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
