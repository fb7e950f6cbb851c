"""torch's bf16 or FP8 GEMMs beside aiconfigurator's H200 GEMM database (the
`aiconfigurator-core` package, Apache-2.0: latencies its collectors measured through vLLM,
SGLang and TensorRT-LLM). The shape list carries the database's latencies, so the GPU run needs
no package beyond torch.

    python -m rooflens.measure.gemm_check [--dtype fp8] --out gemm.json
    python -m rooflens.measure.gemm_check --report gemm.json
    python -m rooflens.measure.gemm_check --dtype fp8 --from-aiconfigurator DATA --write-shapes F

FP8: torch._scaled_mm with per-tensor scales given, the GEMM alone; each database's FP8 row
quantizes its input inside the call, and where its quantize tables time that pass (vLLM,
TensorRT-LLM: `scale_matrix` plus `compute_scale` at the row's m and k) the shape carries it
too, so the report sets torch beside the rows with and without it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rooflens.calibration.aiconfigurator import QUANTIZE_APART
from rooflens.measure.timing import time_kernel

SHAPES_FILES = {
    "bf16": Path(__file__).with_name("data") / "gemm_shapes_h200.json",
    "fp8": Path(__file__).with_name("data") / "gemm_shapes_fp8_h200.json",
}
SHAPES_FILE = SHAPES_FILES["bf16"]
# Each database's rows: (folder under systems/data/h200_sxm/gemm, kernel_source) per type.
DATABASES = {
    "vllm-0.24.0": ("vllm/0.24.0", "torch.nn.functional.linear"),
    "sglang-0.5.14": ("sglang/0.5.14", "sglang_torch_linear"),
    "trtllm-1.3.0rc20": ("trtllm/1.3.0rc20", "torch_flow"),
}
FP8_SOURCES = {
    "vllm-0.24.0": "CutlassFP8ScaledMMLinearKernel",
    "sglang-0.5.14": "sglang_sgl_kernel_fp8_scaled_mm",
    "trtllm-1.3.0rc20": "torch_flow",
}
# The databases whose quantize tables time their engine's own pass, as the profiles' fit
# takes them (SGLang's time a PyTorch expression).
FP8_PASSES = tuple(name for name in DATABASES if name.split("-")[0] in QUANTIZE_APART)
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp8": torch.float8_e4m3fn}
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


def read_aiconfigurator(root: str | Path, dtype: str = "bf16") -> Any:
    """Each database's rows of `dtype` as one table (database, m, n, k, latency_ms; for FP8
    also pass_ms, its quantize tables' pass at the row's m and k where they time the engine's
    own), from `root` = aiconfigurator_core/systems/data/h200_sxm/gemm (needs pandas and
    pyarrow)."""
    import pandas as pd

    tables = []
    for name, (folder, source) in DATABASES.items():
        rows = pd.read_parquet(Path(root) / folder / "gemm_perf.parquet")
        if dtype == "fp8":
            rows = rows[(rows.gemm_dtype == "fp8") & (rows.kernel_source == FP8_SOURCES[name])]
        else:
            rows = rows[(rows.gemm_dtype == "bfloat16") & (rows.kernel_source == source)]
        rows = rows.assign(database=name, latency_ms=rows.latency, pass_ms=float("nan"))
        if dtype == "fp8" and name in FP8_PASSES:
            # The pass as the profiles' fit reads it (rooflens.calibration.aiconfigurator).
            from rooflens.calibration.aiconfigurator import input_pass_time

            quantize = Path(root).parent / "quantize" / folder
            scale_matrix, compute_scale = (
                pd.read_parquet(quantize / f"{table}.parquet")
                for table in ("scale_matrix_perf", "computescale_perf")
            )
            m, k = rows["m"].to_numpy(float), rows["k"].to_numpy(float)
            seconds = input_pass_time(scale_matrix, compute_scale, m, k)
            rows = rows.assign(pass_ms=seconds * 1e3)
        tables.append(rows)
    return pd.concat(tables)[["database", "m", "n", "k", "latency_ms", "pass_ms"]]


def shapes_with_latencies(table: Any) -> list[dict[str, Any]]:
    """Every (m, n, k) of LAYERS x ROWS, with each database's latency (ms) where it has one,
    and its input-quantization pass (ms) where the table says (FP8)."""
    indexed = table.set_index(["database", "m", "n", "k"])
    shapes = []
    for n, k, layer in LAYERS:
        for m in ROWS:
            found = {
                name: float(indexed.latency_ms.loc[(name, m, n, k)])
                for name in DATABASES
                if (name, m, n, k) in indexed.index
            }
            shape = {"m": m, "n": n, "k": k, "layer": layer, "db_ms": found}
            if "pass_ms" in indexed:
                passes = {name: float(indexed.pass_ms.loc[(name, m, n, k)]) for name in found}
                passes = {name: ms for name, ms in passes.items() if not math.isnan(ms)}
                if passes:
                    shape["db_pass_ms"] = passes
            shapes.append(shape)
    return shapes


def load_shapes(path: str | Path = SHAPES_FILE) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def time_gemm(m: int, n: int, k: int, device: str, dtype: torch.dtype) -> float:
    """Seconds of F.linear(x[m, k], w[n, k]) (FP8: torch._scaled_mm with per-tensor scales
    given, bf16 out): CUDA-graph replay of calls over rotating copies (together past the L2
    cache), timed by CUDA events, median of repeats; wall clock on CPU."""
    fp8 = dtype == torch.float8_e4m3fn

    def make() -> Any:
        x = torch.randn(m, k, device=device).to(dtype)
        w = torch.randn(n, k, device=device).to(dtype)
        if fp8:
            scale = torch.ones((), device=device)
            return lambda: torch._scaled_mm(
                x, w.t(), scale_a=scale, scale_b=scale, out_dtype=torch.bfloat16
            )
        return lambda: F.linear(x, w)

    size = torch.tensor([], dtype=dtype).element_size()
    footprint = (m * k + n * k) * size + m * n * (2 if fp8 else size)
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
    many there were; where shapes carry the database's input-quantization pass (FP8), the
    median against the rows less that pass too, over those shapes."""
    summary: dict[str, dict[str, float]] = {}
    for name in DATABASES:
        timed = [r for r in rows if "torch_s" in r and name in r["db_ms"]]
        errors = [abs(r["torch_s"] / (r["db_ms"][name] / 1e3) - 1) for r in timed]
        if not errors:
            continue
        summary[name] = {
            "median_abs_error": statistics.median(errors),
            "max_abs_error": max(errors),
            "shapes": len(errors),
        }
        passed = [r for r in timed if name in r.get("db_pass_ms", {})]
        if passed:
            whole = [abs(r["torch_s"] / (r["db_ms"][name] / 1e3) - 1) for r in passed]
            less = [
                abs(r["torch_s"] / ((r["db_ms"][name] - r["db_pass_ms"][name]) / 1e3) - 1)
                for r in passed
            ]
            summary[name] |= {
                "median_abs_error_with_pass": statistics.median(whole),
                "median_abs_error_less_pass": statistics.median(less),
                "shapes_with_pass": len(passed),
            }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=list(TORCH_DTYPES), default="bf16")
    parser.add_argument("--shapes", help="shape list (JSON; default: the shipped one of --dtype)")
    parser.add_argument("--out", help="where to write the timed shapes (JSON)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--report", help="a written result: print its comparison and exit")
    parser.add_argument(
        "--from-aiconfigurator",
        help="systems/data/h200_sxm/gemm of aiconfigurator-core: write --write-shapes and exit",
    )
    parser.add_argument("--write-shapes", help="the shape list to write (JSON)")
    args = parser.parse_args(argv)
    if args.from_aiconfigurator:
        if not args.write_shapes:
            parser.error("--write-shapes is required with --from-aiconfigurator")
        table = read_aiconfigurator(args.from_aiconfigurator, args.dtype)
        shapes = shapes_with_latencies(table)
        Path(args.write_shapes).write_text(json.dumps(shapes, indent=1) + "\n")
        return
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

    shapes = load_shapes(args.shapes or SHAPES_FILES[args.dtype])
    rows = run(shapes, args.device, TORCH_DTYPES[args.dtype], progress=write)
    result = {"summary": report(rows)}
    print(json.dumps(result["summary"], indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
