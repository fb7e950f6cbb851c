"""The device catalog, lookups and user-defined devices."""

from __future__ import annotations

import json

import pytest

import rooflens
from rooflens import HardwareSpecError, UnknownHardwareError
from rooflens.hardware import catalog, get_device, load_device_file


def test_catalog_covers_the_kinds_of_device() -> None:
    devices = catalog().values()
    assert len(devices) >= 20
    kinds = {(d.vendor, d.kind) for d in devices}
    for wanted in [("NVIDIA", "gpu"), ("AMD", "gpu"), ("Google", "tpu"), ("Apple", "apple-soc")]:
        assert wanted in kinds, wanted
    assert any(d.kind == "cpu" for d in devices)


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_entry_is_complete_and_sourced(name: str) -> None:
    device = catalog()[name]
    assert device.memory_capacity > 0 and device.memory_bandwidth > 0
    assert device.tdp is None or device.tdp > 0
    assert {"peak_ops", "memory"} <= set(device.sources), device.sources.keys()
    assert all(len(text) > 20 for text in device.sources.values())
    for dtype, sparse in device.sparse_peak_ops.items():
        assert sparse >= device.peak_ops.get(dtype, 0)


def test_seed_a6000_figures_are_kept() -> None:
    a6000 = get_device("a6000")
    assert a6000.memory_bandwidth == 768e9
    assert a6000.peak_ops["fp16"] == pytest.approx(155e12, rel=0.005)
    assert a6000.peak_ops["int8"] == pytest.approx(310e12, rel=0.005)


@pytest.mark.parametrize(
    "typed", ["A6000", "rtx a6000", "RTX-A6000", "nvidia rtx a6000", "RTX_A6000"]
)
def test_lookup_ignores_case_spaces_dashes_and_underscores(typed: str) -> None:
    assert get_device(typed).name == "a6000"


@pytest.mark.parametrize("typed", ["h100-sxm!!!", "h100.sxm", "h100/sxm", "(h100-sxm)"])
def test_other_marks_are_part_of_a_name(typed: str) -> None:
    """Only case, spaces, dashes and underscores are ignored: `h100-sxm!!!` is no device (it
    resolved to the H100 once), and the refusal offers the nearest names."""
    with pytest.raises(UnknownHardwareError, match=r"did you mean h100-sxm"):
        get_device(typed)


def test_a_display_name_with_its_marks_names_its_device() -> None:
    assert get_device("NVIDIA B200 (HGX B200, 180GB)").name == "b200"
    assert get_device("xeon 8480+").name == "intel-xeon-platinum-8480"


def test_unknown_device_suggests_close_names() -> None:
    with pytest.raises(UnknownHardwareError, match=r"did you mean.*h100"):
        get_device("h100-sxn")
    # nvidia-smi's name for an H100 SXM is an alias; one mistyped is nearest to it, not to the
    # A100s' catalog names (suggestions read aliases and display names as lookups do).
    assert get_device("NVIDIA H100 80GB HBM3").name == "h100-sxm"
    with pytest.raises(UnknownHardwareError, match=r"did you mean h100-sxm, "):
        get_device("NVIDIA H100 80G HBM3")
    with pytest.raises(UnknownHardwareError, match=r"did you mean h200-sxm, "):
        get_device("NVIDIA H200 SXM 141G")


def test_user_device_from_file(tmp_path) -> None:
    path = tmp_path / "mygpu.toml"
    path.write_text(
        "memory_capacity = 24e9\nmemory_bandwidth = 1e12\n[peak_ops]\nfp16 = 100e12\nfp32 = 25e12\n"
    )
    device = get_device(str(path))
    assert device.name == "mygpu" and device.peak_ops["fp16"] == 100e12
    assert rooflens.analyze("facebook/opt-125m", str(path), prompt_len=128).params > 0


def test_a_file_naming_a_catalog_device_with_other_figures_is_not_that_device(tmp_path) -> None:
    """A copy of the H100 at 6.7 TB/s named h100-sxm took the H100's vLLM profile, labelled
    as measured there; it is 'h100-sxm (modified)', as the same figures given as flags are,
    and an engine names the catalog device it was measured on. The same figures keep the
    name."""
    import tomli_w

    h100 = get_device("h100-sxm")
    figures = {
        "name": "h100-sxm",
        "memory_capacity": h100.memory_capacity,
        "memory_bandwidth": h100.memory_bandwidth,
        "peak_ops": dict(h100.peak_ops),
        "tdp": h100.tdp,
    }
    same, faster = tmp_path / "same.toml", tmp_path / "faster.toml"
    same.write_text(tomli_w.dumps(figures))
    faster.write_text(tomli_w.dumps(figures | {"memory_bandwidth": 6.7e12}))
    assert load_device_file(same).name == "h100-sxm"
    modified = load_device_file(faster)
    assert modified.name == "h100-sxm (modified)"
    # Nobody sells it: no catalog price (a cost needs one given), and its name says so.
    assert modified.hourly_price is None and modified.display_name.endswith("(modified)")
    res = rooflens.analyze("meta-llama/Llama-2-7b-hf", str(faster), gen_len=8)
    assert "cost_per_million_output" not in res.economics()
    assert "cost_per_million_output" in res.economics(hourly_price=3.0)
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze("meta-llama/Llama-3.1-8B", str(faster), engine="vllm")
    assert "h100-sxm as the catalog has it" in info.value.accepted
    # A price of the file's own is the user's and stays (it was dropped with the catalog's);
    # the catalog's, copied with its figures, goes with them.
    priced = tmp_path / "priced.toml"
    priced.write_text(tomli_w.dumps(figures | {"memory_bandwidth": 6.7e12, "hourly_price": 2.0}))
    own = load_device_file(priced)
    assert own.name == "h100-sxm (modified)" and own.hourly_price == 2.0
    assert own.sources["hourly_price"] == f"given in {priced}"
    # Flags on top keep the file's price and the name it already has.
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = ["analyze", "gpt2", "-H", str(priced), "--memory", "80e9", "-f", "json"]
    data = json.loads(CliRunner().invoke(app, args).stdout)
    assert (data["hardware"], data["economics"]["hourly_price"]) == ("h100-sxm (modified)", 2.0)
    # A device not the catalog's given figures by flags is modified too: its calibration goes
    # (a copy named "mydev" kept the H100's profile, applied to other figures).
    mine = tmp_path / "mydev.toml"
    mine.write_text(tomli_w.dumps(figures | {"name": "mydev", "calibration": "h100-sxm",
                                             "hourly_price": 2.0}))  # fmt: skip
    args = ["analyze", "gpt2", "-H", str(mine), "--bandwidth", "1e12", "-f", "json"]
    data = json.loads(CliRunner().invoke(app, args).stdout)
    assert (data["hardware"], data["economics"]["hourly_price"]) == ("mydev (modified)", 2.0)
    copied = tmp_path / "copied.toml"
    copied.write_text(tomli_w.dumps(figures | {"memory_bandwidth": 6.7e12, "hourly_price": 3.49}))
    assert load_device_file(copied).hourly_price is None


def test_flags_repeating_the_catalog_figures_keep_the_catalog_device() -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    h100 = get_device("h100-sxm")
    args = ["analyze", "gpt2", "-H", "h100", "--memory", repr(h100.memory_capacity), "-f", "json"]
    data = json.loads(CliRunner().invoke(app, args).stdout)
    assert data["hardware"] == "h100-sxm" and data["economics"]["hourly_price"] == 3.49


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("memory_bandwidth = 1e12\n[peak_ops]\nfp16 = 1e14\n", "memory_capacity"),
        (
            "memory_capacity = 1e9\nmemory_bandwidth = -1\n[peak_ops]\nfp16 = 1e14\n",
            "memory_bandwidth",
        ),
        ("memory_capacity = 1e9\nmemory_bandwidth = 1e12\n[peak_ops]\nfp9 = 1e14\n", "peak_ops"),
        ("memory_capacity = 1e9\nmemory_bandwidth = 1e12\n[peak_ops]\nint8 = 1e14\n", "fp32, fp16"),
        ("memory_capacity = 1e9\nmemory_bandwidth = \n", "not valid TOML"),
    ],
)
def test_incomplete_device_names_the_field(tmp_path, body: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(HardwareSpecError, match=field):
        load_device_file(path)


def test_missing_precision_is_raised_to_the_next(tiny_model) -> None:
    h100 = get_device("h100-sxm")
    assert "int4" not in h100.peak_ops
    assert h100.matrix_dtype(4) == "int8"
    assert h100.matrix_dtype(16) == "bf16"
    assert h100.vector_dtype() == "fp32"


def test_a_device_naming_a_profile_that_is_not_bundled_is_refused_on_loading(tmp_path) -> None:
    """calibration = "nope" was taken, and failed only under --calibration auto."""
    from rooflens.core.errors import HardwareSpecError
    from rooflens.hardware.catalog import load_device_file

    text = (
        'name = "mine"\nmemory_capacity = 80e9\nmemory_bandwidth = 3e12\n[peak_ops]\nbf16 = 1e15\n'
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('calibration = "nope"\n' + text)
    with pytest.raises(
        HardwareSpecError, match=r"calibration='nope' is invalid: expected a bundled"
    ):
        load_device_file(bad)
    good = tmp_path / "ok.toml"
    good.write_text('calibration = "h100-sxm"\n' + text)
    assert load_device_file(good).calibration == "h100-sxm"
