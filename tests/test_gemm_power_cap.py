"""scripts/gemm_power_cap.py reads the SM clock, power and clock-event reasons nvidia-smi
logged during its sustained window (docs/engines.md, clocks under the power cap)."""

from __future__ import annotations

from datetime import datetime


def test_the_power_cap_script_reads_the_clocks_inside_its_window(tmp_path, load_script) -> None:
    """scripts/gemm_power_cap.py: medians of the SM clock and power nvidia-smi read within
    the window, and every clock-event reason flagged there (0x4: the software power cap)."""
    csv = tmp_path / "smi.csv"
    lines = ["timestamp, clocks.current.sm [MHz], power.draw [W], clocks_event_reasons.active"]
    for second, (mhz, watts, reason) in enumerate(
        [(1980, 120.0, "0x1"), (1470, 690.0, "0x4"), (1440, 692.0, "0x4"), (1500, 688.0, "0x0")]
    ):
        stamp = datetime.fromtimestamp(1_000_000 + second).strftime("%Y/%m/%d %H:%M:%S.%f")
        lines.append(f"{stamp[:-3]}, {mhz} MHz, {watts} W, {reason}")
    csv.write_text("\n".join(lines) + "\n")
    window = load_script("gemm_power_cap").clocks(csv, 1_000_001, 1_000_003)
    assert window == {"sm_mhz": 1470.0, "power_w": 690.0, "reasons": "0x4"}


def test_the_duty_cycle_times_only_its_gemm_segments(load_script) -> None:
    """`--duty`: the milliseconds per launch of the GEMM segments alone. A stand-in launch
    sleeps 2 ms, on the CPU, for a fifth of each 100 ms cycle (10 launches); copies of a 4 MiB
    buffer fill the rest. Counted in, the copies would make it about 10 ms a launch."""
    import time

    script = load_script("gemm_power_cap")
    ms = script.duty_cycle(lambda _: time.sleep(0.002), 2.0, 0.2, 0.5, "cpu", elements=2**21)
    assert 2.0 <= ms < 4.0
