"""torch's bf16 GEMMs beside aiconfigurator's H200 GEMM database (the `aiconfigurator-core`
package, Apache-2.0: latencies its collectors measured through vLLM, SGLang and TensorRT-LLM).
The shape list carries the database's latencies, so the GPU run needs no package beyond torch.

    python -m rooflens.measure.gemm_check --out gemm.json
    python -m rooflens.measure.gemm_check --report gemm.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rooflens.measure.timing import time_kernel

SHAPES_FILE = Path(__file__).with_name("data") / "gemm_shapes_h200.json"
# Each database's bf16 rows: (folder under systems/data/h200_sxm/gemm, kernel_source).
DATABASES = {
    "vllm-0.24.0": ("vllm/0.24.0", "torch.nn.functional.linear"),
    "sglang-0.5.14": ("sglang/0.5.14", "sglang_torch_linear"),
    "trtllm-1.3.0rc20": ("trtllm/1.3.0rc20", "torch_flow"),
}
REFERENCE = "vllm-0.24.0"  # calls F.linear, as this check does: the same cuBLAS path
# (n, k) of real layers, each at decode-like to prefill-like row counts m.
LAYERS = (
    (4096, 4096, "Llama-3.1-8B o_proj"),
    (6144, 4096, "Llama-3.1-8B q/k/v fused"),
    (7168, 5120, "Qwen2.5-14B q/k/v fused"),
    (10240, 8192, "Llama-3.1-70B q/k/v fused"),
    (1536, 2048, "Qwen3-30B-A3B expert gate/up fused"),
    (2048, 768, "Qwen3-30B-A3B expert down"),
    (7168, 2048, "DeepSeek-V3 expert down"),
    (65536, 4096, "a 65536-row vocabulary head, hidden 4096"),
)
ROWS = (1, 8, 32, 128, 512, 2048, 8192, 32768)


def read_aiconfigurator(root: str | Path) -> Any:
    """The bf16 rows of each database as one table (database, m, n, k, latency_ms), from
    `root` = aiconfigurator_core/systems/data/h200_sxm/gemm (needs pandas and pyarrow)."""
    import pandas as pd

    tables = []
    for name, (folder, source) in DATABASES.items():
        rows = pd.read_parquet(Path(root) / folder / "gemm_perf.parquet")
        rows = rows[(rows.gemm_dtype == "bfloat16") & (rows.kernel_source == source)]
        tables.append(rows.assign(database=name, latency_ms=rows.latency))
    return pd.concat(tables)[["database", "m", "n", "k", "latency_ms"]]


def shapes_with_latencies(table: Any) -> list[dict[str, Any]]:
    """Every (m, n, k) of LAYERS x ROWS, with each database's latency (ms) where it has one."""
    by_shape = table.set_index(["database", "m", "n", "k"]).latency_ms
    shapes = []
    for n, k, layer in LAYERS:
        for m in ROWS:
            found = {
                name: float(by_shape.loc[(name, m, n, k)])
                for name in DATABASES
                if (name, m, n, k) in by_shape.index
            }
            shapes.append({"m": m, "n": n, "k": k, "layer": layer, "db_ms": found})
    return shapes


def load_shapes(path: str | Path = SHAPES_FILE) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def time_gemm(m: int, n: int, k: int, device: str, dtype: torch.dtype) -> float:
    """Seconds of F.linear(x[m, k], w[n, k]): CUDA-graph replay of calls over rotating copies
    (together past the L2 cache), timed by CUDA events, median of repeats; wall clock on CPU."""

    def make() -> Any:
        x = torch.randn(m, k, dtype=dtype, device=device)
        w = torch.randn(n, k, dtype=dtype, device=device)
        return lambda: F.linear(x, w)

    footprint = (m * k + n * k + m * n) * torch.tensor([], dtype=dtype).element_size()
    return time_kernel(make, device, footprint)


def run(
    shapes: Iterable[dict[str, Any]],
    device: str,
    dtype: torch.dtype = torch.bfloat16,
    progress: Callable[[list[dict[str, Any]]], object] | None = None,
) -> list[dict[str, Any]]:
    """Each shape with torch's time (s) added; a shape that fails says why and the rest go on;
    `progress` sees the rows so far after each shape."""
    out: list[dict[str, Any]] = []
    for shape in shapes:
        row = dict(shape)
        try:
            row["torch_s"] = time_gemm(shape["m"], shape["n"], shape["k"], device, dtype)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
            row["error"] = str(exc).splitlines()[0][:200]
        if device == "cuda":
            torch.cuda.empty_cache()
        out.append(row)
        if progress is not None:
            progress(out)
    return out


def report(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per database: median and largest |torch / db - 1| over the shapes both timed, and how
    many there were."""
    summary = {}
    for name in DATABASES:
        errors = [
            abs(r["torch_s"] / (r["db_ms"][name] / 1e3) - 1)
            for r in rows
            if "torch_s" in r and name in r["db_ms"]
        ]
        if errors:
            summary[name] = {
                "median_abs_error": statistics.median(errors),
                "max_abs_error": max(errors),
                "shapes": len(errors),
            }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=str(SHAPES_FILE), help="shape list (JSON)")
    parser.add_argument("--out", help="where to write the timed shapes (JSON)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--report", help="a written result: print its comparison and exit")
    args = parser.parse_args(argv)
    if args.report:
        rows = json.loads(Path(args.report).read_text())["shapes"]
        print(json.dumps(report(rows), indent=1))
        return
    if not args.out:
        parser.error("--out is required unless --report is given")
    from rooflens.measure.environment import describe

    environment = describe(args.device)

    def write(rows: list[dict[str, Any]]) -> None:  # after every shape: a stopped run keeps them
        result = {"environment": environment, "shapes": rows, "summary": report(rows)}
        Path(args.out).write_text(json.dumps(result, indent=1))

    rows = run(load_shapes(args.shapes), args.device, progress=write)
    result = {"summary": report(rows)}
    print(json.dumps(result["summary"], indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
