"""Compute-bound GEMMs in short bursts (as operator databases time them) against the same
GEMMs run back to back for many seconds (as a long prefill runs them), with the SM clock,
power and clock-event reasons nvidia-smi reports alongside.

    python scripts/gemm_power_cap.py --out DIR [--seconds 45] [--size 8192] [--duty 0.5,0.2]

Per type (bf16; fp8 e4m3 through torch._scaled_mm where the GPU has it): three bursts, each
after 5 s idle (5 warm-up launches, then the median of 20 launches timed with CUDA events),
then `--seconds` of back-to-back launches timed in windows of about 0.25 s. Writes
windows.csv, smi.csv and summary.json under DIR and prints the summary. `--duty S,...`: then,
per share S, `--seconds` of 100 ms cycles that spend S of their time in these GEMMs and the
rest copying a 1 GiB buffer (memory-bound, as decode steps are), the GEMMs timed apart:
how near the power cap a mix of prefills and decode steps keeps them. Reads the GPU's state
only; changes no setting. Needs torch and a CUDA GPU (`--device cpu`: a smoke test).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path

import torch

SMI_FIELDS = "timestamp,clocks.sm,power.draw,clocks_event_reasons.active"


def operands(dtype: str, size: int, device: str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Four random input pairs (rotated, so L2 does not hold them) and the B operand."""
    gen = torch.Generator(device=device).manual_seed(0)
    a = [torch.randn(size, size, generator=gen, device=device) for _ in range(4)]
    b = torch.randn(size, size, generator=gen, device=device)
    if dtype == "fp8":
        return [x.to(torch.float8_e4m3fn) for x in a], b.to(torch.float8_e4m3fn).t()
    return [x.to(torch.bfloat16) for x in a], b.to(torch.bfloat16)


def launcher(dtype: str, a: list[torch.Tensor], b: torch.Tensor):
    one = torch.ones((), device=b.device)
    if dtype == "fp8":
        return lambda i: torch._scaled_mm(a[i % 4], b, one, one, out_dtype=torch.bfloat16)
    return lambda i: a[i % 4] @ b


def timed(run, launches: int, device: str) -> float:
    """Milliseconds per launch over `launches` back-to-back launches."""
    if device == "cpu":
        start = time.perf_counter()
        for i in range(launches):
            run(i)
        return (time.perf_counter() - start) * 1e3 / launches
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for i in range(launches):
        run(i)
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / launches


def duty_cycle(
    run, burst_ms: float, share: float, seconds: float, device: str, elements: int = 2**29
) -> float:
    """GEMM milliseconds per launch over the last 20 s (or all) of `seconds` of 100 ms cycles
    spending `share` of their time in the GEMMs and the rest copying a buffer of `elements`
    bf16 values (1 GiB)."""
    source = torch.empty(elements, dtype=torch.bfloat16, device=device)
    target = torch.empty_like(source)
    timed(lambda _: target.copy_(source), 1, device)  # first touch of the pages
    copy_ms = timed(lambda _: target.copy_(source), 5, device)
    gemms = max(round(share * 100 / burst_ms), 1)
    copies = max(round((1 - share) * 100 / copy_ms), 1)
    segments, start = [], time.time()
    while time.time() - start < seconds:
        segments.append((time.time() - start, timed(run, gemms, device)))
        timed(lambda _: target.copy_(source), copies, device)
    late = [ms for t, ms in segments if t > seconds - 20] or [ms for _, ms in segments]
    return statistics.median(late)


def measure(dtype: str, size: int, seconds: float, device: str, duty: list[float]) -> dict:
    a, b = operands(dtype, size, device)
    run = launcher(dtype, a, b)
    reference = a[0].float() @ b.float()
    result = run(0).float()
    error = float((result - reference).norm() / reference.norm())
    flop = 2.0 * size**3
    bursts = []
    for _ in range(3):
        time.sleep(5.0)  # idle: the clock recovers as between a database's shapes
        timed(run, 5, device)
        bursts.append(statistics.median(timed(run, 1, device) for _ in range(20)))
    time.sleep(10.0)
    per_window = max(int(250 / bursts[0]), 1)
    windows, start = [], time.time()
    while time.time() - start < seconds:
        ms = timed(run, per_window, device)
        windows.append({"type": dtype, "t": time.time() - start, "ms": ms})
    time.sleep(10.0)
    late = [w["ms"] for w in windows if w["t"] > seconds - 20] or [w["ms"] for w in windows]
    burst = flop / (statistics.median(bursts) * 1e-3) / 1e12
    sustained = flop / (statistics.median(late) * 1e-3) / 1e12
    summary = {"type": dtype, "size": size, "relative_error": error,
               "burst_tflops": burst, "sustained_tflops": sustained,
               "sustained_over_burst": sustained / burst, "window_start": start}  # fmt: skip
    summary["duty"] = []
    for share in duty:
        ms = duty_cycle(run, statistics.median(bursts), share, seconds, device)
        time.sleep(10.0)
        rate = flop / (ms * 1e-3) / 1e12
        summary["duty"].append({"share": share, "tflops": rate, "over_burst": rate / burst})
    return {"summary": summary, "windows": windows}


def clocks(smi_csv: Path, start: float, end: float) -> dict:
    """Median SM clock and power nvidia-smi read between `start` and `end` (epoch seconds),
    and the clock-event reasons it flagged (a bit mask, OR-ed)."""
    clock, power, reasons = [], [], 0
    for line in smi_csv.read_text().splitlines()[1:]:
        parts = [p.strip() for p in line.split(",")]
        try:
            t = datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            if start <= t <= end:
                clock.append(float(parts[1].split()[0]))
                power.append(float(parts[2].split()[0]))
                reasons |= int(parts[3], 16)
        except (ValueError, IndexError):
            continue
    if not clock:
        return {}
    return {"sm_mhz": statistics.median(clock), "power_w": statistics.median(power),
            "reasons": hex(reasons)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--duty", default="", help="GEMM shares of 100 ms cycles: 0.5,0.2")
    args = parser.parse_args()
    duty = [float(x) for x in args.duty.split(",") if x]
    args.out.mkdir(parents=True, exist_ok=True)
    smi = None
    if args.device == "cuda":
        command = ["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv", "-lms", "100"]
        smi = subprocess.Popen(command, stdout=(args.out / "smi.csv").open("w"))
    types = ["bf16"]
    if args.device == "cuda" and torch.cuda.get_device_capability() >= (8, 9):
        types.append("fp8")
    results = [measure(t, args.size, args.seconds, args.device, duty) for t in types]
    if smi is not None:
        smi.terminate()
    rows = [w for r in results for w in r["windows"]]
    lines = ["type,t,ms"] + [f"{w['type']},{w['t']:.3f},{w['ms']:.5f}" for w in rows]
    (args.out / "windows.csv").write_text("\n".join(lines) + "\n")
    summaries = [r["summary"] for r in results]
    for s in summaries if smi is not None else []:
        end = s["window_start"] + args.seconds
        s["last_20_s"] = clocks(args.out / "smi.csv", end - 20, end)
    (args.out / "summary.json").write_text(json.dumps(summaries, indent=1))
    for s in summaries:
        print(f"{s['type']} {s['size']}^3: burst {s['burst_tflops']:.1f} TFLOP/s, sustained "
              f"(last 20 s) {s['sustained_tflops']:.1f}, ratio {s['sustained_over_burst']:.3f}, "
              f"relative error {s['relative_error']:.1e}, {s.get('last_20_s', {})}")  # fmt: skip
        for d in s["duty"]:
            print(f"  GEMMs {d['share']:.0%} of each 100 ms, the rest copying: "
                  f"{d['tflops']:.1f} TFLOP/s, {d['over_burst']:.3f} of the burst")  # fmt: skip


if __name__ == "__main__":
    main()
