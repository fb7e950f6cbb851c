"""DGX Spark (GB10), RTX PRO 6000 Blackwell Workstation Edition and H800 SXM5: every figure
equals the one typed here from its source, the derived peaks follow the stated ratios, the
names resolve, and `rooflens analyze` prices a decode step at the bandwidth the sources give."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.core import InvalidInputError
from rooflens.core.options import Parallelism
from rooflens.core.techniques.parallelism import link_bandwidth
from rooflens.hardware import catalog, get_device
from rooflens.hardware.catalog import _key

MIB = 2**20
NEW = ("gb10", "rtx-pro-6000-workstation", "h800-sxm")

# name: (memory bytes, bandwidth B/s, dense peaks, sparse peaks, compute units,
#        on-chip bytes per unit, interconnect B/s per direction, host link B/s per direction,
#        devices_per_node, network B/s per direction, tdp W); typed from [sources].
EXPECTED = {
    "gb10": (
        122570 * MIB,  # CUDA deviceQuery "122,570 MBytes"
        273e9,  # NVIDIA DGX Spark: 273 GB/s LPDDR5x
        # 1 PFLOP FP4 sparse / 2, then FP4 : FP8 : FP16 = 4 : 2 : 1; FP32 31 TFLOPS (Hot Chips)
        {
            "fp32": 31e12,
            "bf16": 125e12,
            "fp16": 125e12,
            "fp8": 250e12,
            "fp6": 250e12,
            "int8": 250e12,
            "fp4": 500e12,
        },
        {"bf16": 250e12, "fp16": 250e12, "fp8": 500e12, "fp6": 500e12, "fp4": 1000e12},
        48,  # deviceQuery: 48 SMs x 128 = 6,144 CUDA cores
        128 * 1024,  # CC 12.x: 128 KB L1/shared per SM
        None,  # no NVLink to other GPUs
        None,  # one LPDDR5x pool with the CPU: no host link of its own
        1,  # one GB10 per DGX Spark
        None,
        140,
    ),
    "rtx-pro-6000-workstation": (
        97887 * MIB,  # nvidia-smi
        1792e9,
        # FP32 125 TFLOPS x 4 / 8 / 16 (RTX Blackwell whitepaper ratios)
        {
            "fp32": 125e12,
            "bf16": 500e12,
            "fp16": 500e12,
            "fp8": 1000e12,
            "fp6": 1000e12,
            "int8": 1000e12,
            "fp4": 2000e12,
        },
        {"bf16": 1000e12, "fp16": 1000e12, "fp8": 2000e12, "fp6": 2000e12, "fp4": 4000e12},
        188,
        128 * 1024,
        None,  # PCIe only
        64e9,  # PCIe Gen5 x16
        None,
        None,
        600,
    ),
    "h800-sxm": (
        80e9,  # vendor figure: no public driver total found
        3.35e12,
        {
            "fp32": 67e12,
            "tf32": 494.7e12,
            "bf16": 989.4e12,
            "fp16": 989.4e12,
            "fp8": 1978.9e12,
            "int8": 1978.9e12,
        },
        {
            "tf32": 989.4e12,
            "bf16": 1978.9e12,
            "fp16": 1978.9e12,
            "fp8": 3957.8e12,
            "int8": 3957.8e12,
        },
        132,
        256 * 1024,
        200e9,  # NVLink 400 GB/s bidirectional
        64e9,
        8,
        50e9,  # 400 Gb/s InfiniBand per GPU
        700,
    ),
}


@pytest.mark.parametrize("name", NEW)
def test_figures_equal_their_sources(name: str) -> None:
    (memory, bandwidth, dense, sparse, units, onchip, link, host, per_node, network, tdp) = (
        EXPECTED[name]
    )
    device = get_device(name)
    assert device.memory_capacity == memory
    assert device.memory_bandwidth == bandwidth
    assert dict(device.peak_ops) == pytest.approx(dense, rel=1e-12)
    assert dict(device.sparse_peak_ops) == pytest.approx(sparse, rel=1e-12)
    assert device.compute_units == units
    assert device.onchip_memory_per_unit == onchip
    assert device.interconnect_bandwidth == link
    assert device.host_bandwidth == host
    assert device.devices_per_node == per_node
    assert device.network_bandwidth == network
    assert device.tdp == tdp
    assert device.vendor == "NVIDIA" and device.kind == "gpu"
    for key in ("peak_ops", "memory", "compute_units", "onchip_memory", "host_bandwidth", "tdp"):
        # Every figure names where it is from, dated: a document of a year, or another entry's.
        said = device.sources[key]
        assert re.search(r"\b20\d\d\b", said) or "see peak_ops" in said or "(see " in said, key
    assert "DERIVED" in device.sources["peak_ops"] or "DERIVED" in device.sources["compute_units"]


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("gb10", "gb10"),
        ("GB10", "gb10"),
        ("DGX Spark", "gb10"),
        ("dgx-spark", "gb10"),
        ("NVIDIA DGX Spark", "gb10"),
        ("rtx-pro-6000-workstation", "rtx-pro-6000-workstation"),
        ("RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000-workstation"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000-workstation"),
        ("RTX PRO 6000 WS", "rtx-pro-6000-workstation"),
        ("rtx-pro-6000-we", "rtx-pro-6000-workstation"),
        ("h800-sxm", "h800-sxm"),
        ("H800", "h800-sxm"),
        ("H800-SXM5", "h800-sxm"),
        ("NVIDIA H800 80GB HBM3", "h800-sxm"),
        # The Server Edition keeps its names, the bare "RTX PRO 6000" among them.
        ("RTX PRO 6000", "rtx-pro-6000-server"),
        ("rtx-pro-6000", "rtx-pro-6000-server"),
        ("RTX PRO 6000 Blackwell Server Edition", "rtx-pro-6000-server"),
        ("H100", "h100-sxm"),
    ],
)
def test_names_and_aliases_resolve(typed: str, name: str) -> None:
    assert get_device(typed).name == name


def test_no_label_of_a_new_device_collides_with_another_device() -> None:
    """The catalog's index keeps the first device a label names (setdefault): a repeated
    alias would silently resolve to whichever file sorts first, so none may repeat."""
    owners: dict[str, set[str]] = {}
    for name, device in catalog().items():
        for label in (name, device.display_name, *device.aliases):
            if label:
                owners.setdefault(_key(label), set()).add(name)
    for name in NEW:
        device = catalog()[name]
        for label in (name, device.display_name, *device.aliases):
            assert owners[_key(label)] == {name}, label


def test_ridge_points_and_derived_peaks() -> None:
    gb10, ws, h800 = (get_device(n) for n in NEW)
    # Ridge = dense 16-bit peak / bandwidth.
    assert gb10.peak_ops["bf16"] / gb10.memory_bandwidth == pytest.approx(457.875, rel=1e-5)
    assert ws.peak_ops["bf16"] / ws.memory_bandwidth == pytest.approx(279.018, rel=1e-5)
    assert h800.peak_ops["bf16"] / h800.memory_bandwidth == pytest.approx(295.343, rel=1e-5)
    # GB10: NVIDIA's 1 PFLOP FP4 is with sparsity; dense halves it; 4 : 2 : 1 down to 16 bits;
    # about 16x the 31 TFLOPS FP32 (the RTX Blackwell SM's FP4 ratio).
    assert gb10.sparse_peak_ops["fp4"] == 1e15
    assert gb10.peak_ops["fp4"] == gb10.sparse_peak_ops["fp4"] / 2
    assert gb10.peak_ops["fp4"] == 2 * gb10.peak_ops["fp8"] == 4 * gb10.peak_ops["bf16"]
    assert gb10.peak_ops["fp4"] == pytest.approx(16 * gb10.peak_ops["fp32"], rel=0.02)
    # Workstation Edition: 4x / 8x / 16x FP32, as the Server Edition's file derives them, and
    # its 4,000 AI TOPS are FP4 with sparsity.
    server = get_device("rtx-pro-6000-server")
    for device in (ws, server):
        fp32 = device.peak_ops["fp32"]
        assert device.peak_ops["bf16"] == 4 * fp32
        assert device.peak_ops["fp8"] == device.peak_ops["int8"] == 8 * fp32
        assert device.peak_ops["fp4"] == 16 * fp32
    assert ws.sparse_peak_ops["fp4"] == 4000e12
    # H800: the H100 SXM's compute and memory, NVLink cut from 450 to 200 GB/s a direction.
    h100 = get_device("h100-sxm")
    assert dict(h800.peak_ops) == dict(h100.peak_ops)
    assert dict(h800.sparse_peak_ops) == dict(h100.sparse_peak_ops)
    assert h800.memory_bandwidth == h100.memory_bandwidth
    assert h800.interconnect_bandwidth == 400e9 / 2 < h100.interconnect_bandwidth
    for device in (gb10, ws, h800):
        assert device.onchip_memory_total == device.compute_units * device.onchip_memory_per_unit


def test_links_tensor_parallelism_uses() -> None:
    h800, gb10 = get_device("h800-sxm"), get_device("gb10")
    assert link_bandwidth(h800, Parallelism(), ranks=8) == 200e9  # NVLink within the node
    assert link_bandwidth(h800, Parallelism(), ranks=16) == 50e9  # InfiniBand across nodes
    # One GB10 per DGX Spark: two of them are two nodes, with no network figure given.
    with pytest.raises(InvalidInputError, match="network bandwidth"):
        link_bandwidth(gb10, Parallelism(), ranks=2)


@pytest.mark.parametrize("name", NEW)
def test_cli_analyze_prices_decode_at_the_memory_bandwidth(name: str) -> None:
    """Decode at batch 1 of Llama-3.1-8B in BF16 reads the ~15 GB of weights once a token:
    its time is the bytes it moves over the device's bandwidth (the roofline without a
    calibration), within 3% of weight bytes / bandwidth (the KV cache adds the rest)."""
    result = CliRunner().invoke(
        app, ["analyze", "meta-llama/Llama-3.1-8B", "-H", name, "--batch", "1", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    decode = data["totals"]["decode"]
    bandwidth = EXPECTED[name][1]
    assert decode["time"] == pytest.approx(decode["memory_access"] / bandwidth, rel=1e-6)
    assert decode["time"] == pytest.approx(decode["load_weight"] / bandwidth, rel=0.03)
    assert decode["load_weight"] == pytest.approx(15.0e9, rel=0.01)
    assert data["memory"]["decode"]["capacity"] == EXPECTED[name][0]
    assert data["memory"]["decode"]["fits"] is True


def test_gb10_decode_time_in_seconds() -> None:
    """The number itself: 15.31 GB moved per decode step at 273 GB/s is 56 ms a token."""
    result = rooflens.analyze(
        rooflens.load_model("meta-llama/Llama-3.1-8B"), get_device("DGX Spark"), batch=1
    )
    assert float(result.steps["decode"].step_time()) == pytest.approx(0.0561, rel=0.01)


def test_cli_hardware_lists_the_new_devices_with_their_sources() -> None:
    runner = CliRunner()
    rows = {
        row["name"]: row
        for row in json.loads(runner.invoke(app, ["hardware", "-f", "json"]).stdout)
    }
    assert set(NEW) <= set(rows)
    assert rows["gb10"]["ridge_16bit"] == pytest.approx(125e12 / 273e9)
    shown = json.loads(runner.invoke(app, ["hardware", "dgx-spark", "-f", "json"]).stdout)
    assert shown["name"] == "gb10" and shown["sparse_peak_ops"]["fp4"] == 1e15
    assert "122,570 MBytes" in shown["sources"]["memory"]
