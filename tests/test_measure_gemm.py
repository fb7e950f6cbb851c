"""The GEMM check's shape list against aiconfigurator's H200 database, and its report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from rooflens.measure.gemm_check import (
    REFERENCE,
    SHAPES_FILES,
    load_shapes,
    report,
    run,
    shapes_with_latencies,
)

# The database's bf16 rows for the listed shapes, extracted from aiconfigurator-core 0.12.0's
# systems/data/h200_sxm/gemm/*/*/gemm_perf.parquet (Apache-2.0) by read_aiconfigurator.
EXTRACT = Path(__file__).parent / "data" / "aiconfigurator_h200_gemm_bf16.csv"


def test_committed_shapes_carry_the_database_latencies() -> None:
    shapes = load_shapes()
    expected = shapes_with_latencies(pd.read_csv(EXTRACT))
    assert len(shapes) == 64 and len({(s["m"], s["n"], s["k"]) for s in shapes}) == 64
    assert [(s["m"], s["n"], s["k"]) for s in shapes] == [
        (s["m"], s["n"], s["k"]) for s in expected
    ]
    for got, want in zip(shapes, expected, strict=True):
        assert got["db_ms"].keys() == want["db_ms"].keys()
        for name, value in want["db_ms"].items():
            assert got["db_ms"][name] == pytest.approx(value, rel=1e-9)
    assert all(REFERENCE in s["db_ms"] for s in shapes)
    # One row read off the parquet by hand: vLLM 0.24.0, F.linear, m=1, n=k=4096.
    first = next(s for s in shapes if (s["m"], s["n"], s["k"]) == (1, 4096, 4096))
    assert first["db_ms"][REFERENCE] == pytest.approx(0.01255733354224099, rel=1e-12)
    # Decode-like to prefill-like rows, over the database's range.
    assert {s["m"] for s in shapes} == {1, 8, 32, 128, 512, 2048, 8192, 32768}


def test_report_is_the_median_absolute_relative_error() -> None:
    rows = [
        {"torch_s": 1.1e-3, "db_ms": {REFERENCE: 1.0}},
        {"torch_s": 1.8e-3, "db_ms": {REFERENCE: 2.0, "sglang-0.5.14": 1.5}},
        {"torch_s": 5.0e-3, "db_ms": {REFERENCE: 4.0}},
        {"error": "out of memory", "db_ms": {REFERENCE: 4.0}},
    ]
    summary = report(rows)
    assert summary[REFERENCE]["median_abs_error"] == pytest.approx(0.1)  # of 0.1, 0.1, 0.25
    assert summary[REFERENCE]["max_abs_error"] == pytest.approx(0.25)
    assert summary[REFERENCE]["shapes"] == 3
    assert summary["sglang-0.5.14"]["median_abs_error"] == pytest.approx(0.2)
    assert "trtllm-1.3.0rc20" not in summary


def test_run_times_each_shape_on_the_cpu() -> None:
    rows = run([{"m": 4, "n": 32, "k": 16, "db_ms": {}}], "cpu", torch.float32)
    assert rows[0]["torch_s"] > 0 and (rows[0]["m"], rows[0]["n"], rows[0]["k"]) == (4, 32, 16)


def test_cli_writes_each_shape_and_the_summary(tmp_path) -> None:
    import json

    from rooflens.measure.gemm_check import main

    shapes = [
        {"m": 2, "n": 16, "k": 8, "db_ms": {REFERENCE: 1e-3}},
        {"m": 4, "n": 8, "k": 8, "db_ms": {}},
    ]
    (tmp_path / "shapes.json").write_text(json.dumps(shapes))
    out = tmp_path / "gemm.json"
    main(["--shapes", str(tmp_path / "shapes.json"), "--out", str(out), "--device", "cpu"])
    result = json.loads(out.read_text())
    assert [(r["m"], r["n"], r["k"]) for r in result["shapes"]] == [(2, 16, 8), (4, 8, 8)]
    assert all(r["torch_s"] > 0 for r in result["shapes"])
    assert result["summary"][REFERENCE]["shapes"] == 1
    expected = abs(result["shapes"][0]["torch_s"] / 1e-6 - 1)
    assert result["summary"][REFERENCE]["median_abs_error"] == pytest.approx(expected)


# The databases' FP8 rows for the listed shapes, with each one's input-quantization pass at
# the row's m and k where its quantize tables time the engine's own (read_aiconfigurator).
FP8_EXTRACT = Path(__file__).parent / "data" / "aiconfigurator_h200_gemm_fp8.csv"
MEASURED_FP8 = (
    Path(__file__).parents[1] / "src/rooflens/calibration/measurements/gemm-check-fp8-h200-sxm.json"
)


def test_committed_fp8_shapes_carry_the_rows_and_their_passes() -> None:
    shapes = load_shapes(SHAPES_FILES["fp8"])
    assert shapes == shapes_with_latencies(pd.read_csv(FP8_EXTRACT))
    # Read off the parquets by hand: vLLM 0.24.0's CUTLASS FP8 GEMM, m=1, n=k=4096, and its
    # static_scaled_fp8_quant pass plus the dynamic one's extra at m=1, k=4096.
    first = next(s for s in shapes if (s["m"], s["n"], s["k"]) == (1, 4096, 4096))
    assert first["db_ms"][REFERENCE] == pytest.approx(0.012031111452314587, rel=1e-12)
    assert first["db_pass_ms"][REFERENCE] == pytest.approx(0.002628266563018163, rel=1e-12)
    # SGLang's quantize tables time a PyTorch expression: no pass of its own.
    assert all("sglang-0.5.14" not in s.get("db_pass_ms", {}) for s in shapes)


def test_the_report_sets_torch_beside_the_rows_with_and_without_their_pass() -> None:
    rows = [
        {"torch_s": 1.0e-3, "db_ms": {REFERENCE: 1.5}, "db_pass_ms": {REFERENCE: 0.5}},
        {"torch_s": 3.0e-3, "db_ms": {REFERENCE: 4.0}, "db_pass_ms": {REFERENCE: 1.0}},
    ]
    summary = report(rows)[REFERENCE]
    assert summary["median_abs_error_with_pass"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert summary["median_abs_error_less_pass"] == pytest.approx(0.0)
    assert summary["shapes_with_pass"] == 2


def test_an_fp8_gemm_runs_on_the_cpu_through_the_cli(tmp_path) -> None:
    import json

    from rooflens.measure.gemm_check import main

    shapes = [{"m": 4, "n": 32, "k": 16, "db_ms": {REFERENCE: 1e-3}}]
    (tmp_path / "shapes.json").write_text(json.dumps(shapes))
    out = tmp_path / "fp8.json"
    main(["--dtype", "fp8", "--shapes", str(tmp_path / "shapes.json"), "--out", str(out),
          "--device", "cpu"])  # fmt: skip
    assert json.loads(out.read_text())["shapes"][0]["torch_s"] > 0


def test_our_h200s_fp8_gemms_match_the_rows_less_their_pass() -> None:
    """Measured on an H200 of ours (2026-12-03): torch._scaled_mm is the GEMM alone, and the
    databases' FP8 rows less the pass their quantize tables time land near it."""
    import json

    measured = json.loads(MEASURED_FP8.read_text())
    assert measured["environment"]["device_name"] == "NVIDIA H200"
    summary = report(measured["shapes"])
    for name, figures in measured["summary"].items():
        assert summary[name] == pytest.approx(figures)
    trtllm, vllm = summary["trtllm-1.3.0rc20"], summary[REFERENCE]
    assert trtllm["median_abs_error_less_pass"] == pytest.approx(0.0525, abs=5e-4)
    assert trtllm["median_abs_error_with_pass"] == pytest.approx(0.375, abs=5e-4)
    assert vllm["median_abs_error_less_pass"] == pytest.approx(0.126, abs=5e-4)
    assert vllm["median_abs_error_with_pass"] == pytest.approx(0.225, abs=5e-4)
