"""Devices of 2025-2026: every figure equals the one typed here from its source, FP4/FP6 compute
is priced at its own peak, and scale-up domains are modelled as nodes."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.core import AnalysisOptions, Device, Quantization, analyze
from rooflens.hardware import catalog, get_device

MIB = 2**20
GIB = 2**30

# name: (memory bytes, bandwidth B/s, dense peaks, interconnect B/s per direction,
#        devices_per_node, tdp W); typed from the sources in each TOML's [sources].
EXPECTED = {
    "gb200": (
        189471 * MIB,  # nvidia-smi
        8e12,  # 576 TB/s / 72
        {"fp32": 80e12, "bf16": 2.5e15, "fp8": 5e15, "fp6": 5e15, "int8": 5e15, "fp4": 10e15},
        900e9,  # NVLink 5: 1.8 TB/s bidirectional
        72,
        1200,
    ),
    "gb300": (
        284208 * MIB,
        8e12,
        {"fp32": 80e12, "bf16": 2.5e15, "fp8": 5e15, "fp6": 5e15, "int8": 0.16e15, "fp4": 15e15},
        900e9,
        72,
        1400,
    ),
    "b300": (
        288e9,  # vendor figure, no driver total published
        8e12,
        {
            "fp32": 75e12,
            "bf16": 2.25e15,
            "fp8": 4.5e15,
            "fp6": 4.5e15,
            "int8": 0.125e15,
            "fp4": 13.5e15,
        },
        900e9,
        8,
        None,
    ),
    "h20": (
        97871 * MIB,
        4.0e12,
        {"fp32": 44e12, "tf32": 74e12, "bf16": 148e12, "fp8": 296e12, "int8": 296e12},
        450e9,
        8,
        400,
    ),
    "rtx-pro-6000-server": (
        97887 * MIB,
        1597e9,
        {"fp32": 120e12, "bf16": 480e12, "fp8": 960e12, "fp6": 960e12, "fp4": 1920e12},
        None,  # PCIe only
        None,
        600,
    ),
    "mi355x": (
        309220868096,  # rocm-smi
        8e12,
        {
            "fp32": 157.3e12,
            "bf16": 2516.6e12,
            "fp8": 5033.2e12,
            "fp6": 10066.3e12,
            "fp4": 10066.3e12,
        },
        537.6e9,
        8,
        1400,
    ),
    "gaudi3": (131072 * MIB, 3.67e12, {"bf16": 1835e12, "fp8": 1835e12}, 525e9, 8, 900),
    "tpu7x": (192 * GIB, 7.2e12, {"bf16": 2307e12, "fp8": 4614e12}, 600e9, None, None),
    "apple-m3-ultra": (512 * GIB, 819e9, {"fp32": 28.63e12}, None, None, None),
    "apple-m4-max": (128 * GIB, 546e9, {"fp32": 17.18e12}, None, None, None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_new_device_figures_match_their_sources(name: str) -> None:
    memory, bandwidth, peaks, link, per_node, tdp = EXPECTED[name]
    device = get_device(name)
    assert device.memory_capacity == memory
    assert device.memory_bandwidth == bandwidth
    for dtype, peak in peaks.items():
        assert device.peak_ops[dtype] == pytest.approx(peak, rel=1e-12), dtype
    assert device.interconnect_bandwidth == link
    assert device.devices_per_node == per_node
    assert device.tdp == tdp
    for key in ("peak_ops", "memory"):
        assert "20" in device.sources[key]  # every source carries a year or a date


def test_vendor_sparse_figures_are_halved() -> None:
    # NVIDIA prints 2:4-sparse figures: the catalog's dense peak is half of them.
    for name in ("gb200", "b300", "gb300"):
        device = get_device(name)
        for dtype in ("bf16", "fp8", "fp6"):
            assert device.sparse_peak_ops[dtype] == 2 * device.peak_ops[dtype], (name, dtype)
    # ... except where NVIDIA prints a separate dense FP4 figure (Blackwell Ultra).
    assert get_device("b300").peak_ops["fp4"] == 108e15 / 8
    assert get_device("b300").sparse_peak_ops["fp4"] == 144e15 / 8


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("GB200 NVL72", "gb200"),
        ("B300 SXM6 AC", "b300"),
        ("Ironwood", "tpu7x"),
        ("RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-server"),
        ("Gaudi 3", "gaudi3"),
        ("HL-325L", "gaudi3"),
        ("M3 Ultra", "apple-m3-ultra"),
        ("m4 max", "apple-m4-max"),
    ],
)
def test_new_devices_are_found_by_their_common_names(typed: str, name: str) -> None:
    assert get_device(typed).name == name


def test_an_nvl72_rack_is_one_nvlink_domain() -> None:
    """Tensor parallelism over 64 GB200s stays on NVLink (900 GB/s); 64 B300s span 8 nodes
    and fall back to the per-GPU network (800 Gb/s = 100 GB/s)."""
    from rooflens.core.options import Parallelism
    from rooflens.core.techniques.parallelism import link_bandwidth

    assert link_bandwidth(get_device("gb200"), Parallelism(), ranks=64) == 900e9
    assert link_bandwidth(get_device("b300"), Parallelism(), ranks=64) == 100e9


def test_fp4_gemm_on_b200_runs_at_the_fp4_peak() -> None:
    """One prefill q_proj of Llama-3.1-70B (8192 x 8192, no bias) over 8 x 1024 tokens, W4A4
    in FP4: 2 * 8192^3 OPs at B200's 9 PFLOP/s dense FP4. It reads 8192 x 8192 activations
    and weights at half a byte and writes its 16-bit output: about 6,500 OP/B, past the
    ridge (9e15 / 8e12 = 1125), so the GEMM is compute-bound. OPT-125m's 768 x 768 q_proj
    is not (about 610 OP/B: its 16-bit output outweighs its 4-bit operands)."""
    ops = 2 * 8192 * 8192 * 8192
    expected = ops / 9e15  # 1.2217e-4 s
    for w_format in ("fp", "mxfp4"):
        quant = Quantization(w_bits=4, a_bits=4, w_format=w_format)
        rows = {
            name: analyze(
                rooflens.load_model(name),
                get_device("b200"),
                prompt_len=1024,
                batch=8,
                options=AnalysisOptions(quantization=quant),
            )
            .operators()
            .set_index(["stage", "name"])
            .loc[("prefill", "q_proj")]
            for name in ("meta-llama/Llama-3.1-70B", "facebook/opt-125m")
        }
        row = rows["meta-llama/Llama-3.1-70B"]
        assert row.compute_dtype == "fp4" and row.bound == "compute"
        assert row.ops == ops
        assert row.time == pytest.approx(expected, rel=1e-12)
        small = rows["facebook/opt-125m"]
        assert small.compute_dtype == "fp4" and small.bound == "memory"


def _device(**peaks: float) -> Device:
    return Device(name="d", memory_capacity=1e9, memory_bandwidth=1e12, peak_ops=peaks)


def test_fp6_serves_4_bit_work_only_where_fp4_is_missing() -> None:
    fp6_only = _device(bf16=1e15, fp8=2e15, fp6=2e15, int8=2e15)
    assert fp6_only.matrix_dtype(4, float_first=True) == "fp6"
    assert fp6_only.matrix_dtype(8) == "int8"  # FP6 cannot hold 8-bit operands
    with_fp4 = _device(bf16=1e15, fp8=2e15, fp6=2e15, fp4=4e15)
    assert with_fp4.matrix_dtype(4, float_first=True) == "fp4"
    assert get_device("mi355x").matrix_dtype(4, float_first=True) == "fp4"


def test_every_catalog_fp4_device_also_lists_fp8() -> None:
    # FP4 tensor hardware always comes with FP8; an entry with one but not the other is a typo.
    for device in catalog().values():
        if "fp4" in device.peak_ops:
            assert device.peak_ops["fp8"] <= device.peak_ops["fp4"], device.name


# Driver-reported totals (nvidia-smi MiB, rocm-smi bytes, hw.memsize) or docs stating GiB,
# each typed from the source named in the entry's `sources.memory`.
DRIVER_CAPACITY = {
    "h100-sxm": 81559 * MIB,
    "h100-pcie": 81559 * MIB,
    "h200-sxm": 143771 * MIB,
    "b200": 183359 * MIB,
    "a100-sxm4-80gb": 81920 * MIB,
    "a100-pcie-80gb": 81920 * MIB,
    "a100-sxm4-40gb": 40960 * MIB,
    "a10": 23028 * MIB,
    "l4": 23034 * MIB,
    "l40": 46068 * MIB,
    "l40s": 46068 * MIB,
    "a40": 46068 * MIB,
    "t4": 15360 * MIB,
    "v100-sxm2-32gb": 32768 * MIB,
    "rtx-3090": 24576 * MIB,
    "rtx-4090": 24564 * MIB,
    "rtx-5090": 32607 * MIB,
    "mi250x": 2 * 68702699520,
    "mi300x": 205822885888,
    "mi325x": 256 * GIB,
    "radeon-rx-7900-xtx": 25753026560,
    "tpu-v4": 32 * GIB,
    "tpu-v5p": 95 * GIB,
    "tpu-v6e": 32 * GIB,
    "apple-m2-ultra": 192 * GIB,
}


@pytest.mark.parametrize("name", sorted(DRIVER_CAPACITY))
def test_capacity_is_what_the_device_exposes(name: str) -> None:
    device = get_device(name)
    assert device.memory_capacity == DRIVER_CAPACITY[name]
    assert device.sources["memory"].startswith("Capacity:")


def test_the_seed_a6000_keeps_the_papers_capacity() -> None:
    # Table 1 of the seed paper is computed with 48 GB; the driver's 46068 MiB is noted only.
    a6000 = get_device("a6000")
    assert a6000.memory_capacity == 48e9
    assert "46068 MiB" in a6000.sources["memory"]


def test_cli_lists_the_new_devices_and_shows_their_sources() -> None:
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    runner = CliRunner()
    listed = {
        row["name"] for row in json.loads(runner.invoke(app, ["hardware", "-f", "json"]).stdout)
    }
    assert set(EXPECTED) <= listed
    shown = json.loads(runner.invoke(app, ["hardware", "gb200", "-f", "json"]).stdout)
    assert shown["devices_per_node"] == 72 and shown["peak_ops"]["fp4"] == 10e15
    assert "189471MiB" in shown["sources"]["memory"]
    table = runner.invoke(app, ["hardware", "mi355x"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "rocm-smi" in table.stdout
