"""Cost and power figures of the device catalog: sourced, dated, plausible, validated."""

from __future__ import annotations

import re

import pytest

from rooflens import HardwareSpecError, InvalidInputError
from rooflens.core.hardware import Device
from rooflens.hardware import catalog, get_device, load_device_file
from rooflens.hardware.catalog import device_from_dict

_YEAR = re.compile(r"\b(19|20)\d\d\b")
_URL = re.compile(r"https?://\S+")
_PRICE_FIELDS = ("hourly_price", "purchase_price", "idle_power")


def _with(field: str) -> list[str]:
    return sorted(name for name, device in catalog().items() if getattr(device, field) is not None)


def test_most_of_the_catalog_has_an_hourly_price() -> None:
    # Devices without a findable list price stay unpriced rather than guessed; this guards
    # against the figures being dropped wholesale.
    assert len(_with("hourly_price")) >= 20


@pytest.mark.parametrize("name", _with("hourly_price"))
def test_hourly_price_cites_a_dated_public_list(name: str) -> None:
    device = catalog()[name]
    source = device.sources.get("hourly_price", "")
    # A price is only meaningful with the date it was seen: lists change month to month.
    assert _YEAR.search(source), source
    assert _URL.search(source), source
    # Per device-hour, not per 8-GPU node: a node price would land far above this band.
    assert 0.05 <= device.hourly_price <= 20, device.hourly_price


@pytest.mark.parametrize("field", ["purchase_price", "idle_power"])
def test_other_cost_and_power_figures_are_sourced(field: str) -> None:
    for name in _with(field):
        source = catalog()[name].sources.get(field, "")
        assert _URL.search(source), (name, source)


@pytest.mark.parametrize("name", _with("idle_power"))
def test_idle_power_is_a_fraction_of_tdp(name: str) -> None:
    device = catalog()[name]
    assert device.tdp is not None and device.idle_power < device.tdp


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("h100-sxm", "hourly_price", 3.49),
        ("b200", "hourly_price", 6.79),
        ("a10", "hourly_price", 1.29),
        ("tpu-v4", "hourly_price", 3.22),
        ("tpu-v6e", "hourly_price", 2.70),
        ("rtx-4090", "hourly_price", 0.34),
        ("rtx-4090", "purchase_price", 1599),
        ("radeon-rx-7900-xtx", "purchase_price", 999),
        ("rtx-3090", "idle_power", 18),
    ],
)
def test_spot_values_match_their_sources(name: str, field: str, value: float) -> None:
    device = get_device(name)
    assert getattr(device, field) == pytest.approx(value)
    # The figure itself appears in its source text, so the two cannot drift apart silently.
    assert f"{value:,.2f}".rstrip("0").rstrip(".") in device.sources[field].replace("$", "")


def test_unpriced_devices_stay_unpriced() -> None:
    # No honest per-device figure was found for these: they must not acquire a made-up one.
    for name in ("t4", "v100-sxm2-32gb", "amd-epyc-9654", "apple-m2-ultra"):
        assert get_device(name).hourly_price is None, name


_BASE = "memory_capacity = 1e9\nmemory_bandwidth = 1e12\n"


@pytest.mark.parametrize("field", _PRICE_FIELDS)
@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_non_positive_figures_are_rejected_naming_the_field(
    tmp_path, field: str, value: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f"{_BASE}{field} = {value}\n[peak_ops]\nfp16 = 1e14\n")
    with pytest.raises(HardwareSpecError, match=rf"{field}={value}.*expected a positive number"):
        load_device_file(path)
    # Built by hand: the typed error, naming the field.
    with pytest.raises(InvalidInputError) as info:
        Device(
            name="x",
            memory_capacity=1e9,
            memory_bandwidth=1e12,
            peak_ops={"fp16": 1e14},
            **{field: float(value)},
        )
    assert info.value.field == field


def test_idle_power_above_tdp_is_rejected() -> None:
    data = {
        "name": "x",
        "memory_capacity": 1e9,
        "memory_bandwidth": 1e12,
        "peak_ops": {"fp16": 1e14},
        "tdp": 100,
        "idle_power": 150,
    }
    with pytest.raises(HardwareSpecError, match=r"idle_power=150 .*must not exceed tdp"):
        device_from_dict(data)


def test_user_device_sets_its_own_prices(tmp_path) -> None:
    # Overriding a snapshot means writing the figure into a device file; sources stay optional.
    path = tmp_path / "rented.toml"
    path.write_text(
        f"{_BASE}tdp = 300\nhourly_price = 1.25\npurchase_price = 9000\nidle_power = 40\n"
        "[peak_ops]\nfp16 = 1e14\n"
    )
    device = load_device_file(path)
    assert (device.hourly_price, device.purchase_price, device.idle_power) == (1.25, 9000, 40)


def test_prices_survive_a_round_trip_through_the_override_path() -> None:
    # The CLI rebuilds a catalog device from its dump when flags override figures.
    h100 = get_device("h100-sxm")
    rebuilt = device_from_dict({**h100.model_dump(), "memory_bandwidth": 4e12})
    assert rebuilt.hourly_price == h100.hourly_price
    assert rebuilt.sources["hourly_price"] == h100.sources["hourly_price"]
