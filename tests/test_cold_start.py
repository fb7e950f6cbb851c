"""A cold start of the command line loads only what the command uses: pandas, the simulator, the
plots, the web server and torch load with the commands that need them. Timings are recorded with
pytest-benchmark (docs/performance.md has the figures), never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = (
    "pandas",
    "matplotlib",
    "plotly",
    "fastapi",
    "uvicorn",
    "torch",
    "transformers",
    "rooflens.serving.simulate",
    "rooflens.advisor.search",
    "rooflens.views",
    "rooflens.web",
)
# One fresh interpreter: run the command line as `rooflens ARGS` does, then list what loaded.
PROBE = """
import json, sys
sys.argv = ["rooflens", *sys.argv[1:]]
from rooflens.cli.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def _cold_start(*args: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout  # the command printed its help or its table
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.benchmark(group="cold start", min_rounds=2)
def test_help_loads_nothing_heavy(benchmark) -> None:
    loaded = benchmark.pedantic(_cold_start, args=("--help",), rounds=2, iterations=1)
    assert loaded == []


@pytest.mark.benchmark(group="cold start", min_rounds=2)
def test_analyze_loads_nothing_heavy(benchmark) -> None:
    args = ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--gen-len", "128")
    loaded = benchmark.pedantic(_cold_start, args=args, rounds=2, iterations=1)
    # Its table reads plain rows (rooflens.api.operator_rows), not a pandas frame.
    assert loaded == []


def test_the_simulator_loads_when_used() -> None:
    # rooflens.simulate and rooflens.serving's names resolve on first use (PEP 562).
    code = (
        "import sys, rooflens, rooflens.serving as s\n"
        "before = 'rooflens.serving.simulate' in sys.modules\n"
        "assert rooflens.simulate.__module__ == 'rooflens.serving.api'\n"
        "assert s.Workload.__module__ == 'rooflens.serving.workload'\n"
        "print(before, 'rooflens.serving.simulate' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["False", "True"]
