"""More work never finishes sooner: fitted curves, grids and MoE layers hold a time that does
not fall as the size grows, and expert GEMMs are never priced faster than a lighter step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooflens import api
from rooflens.calibration.fit import monotone_time
from rooflens.core.efficiency import (
    LIGHTER_STEPS,
    ClassEfficiency,
    EfficiencyCurve,
    ShapeGrid,
    by_shape,
)
from rooflens.engines import engine_profiles, load_engine_profile

FITTED_ENGINES = ("vllm", "sglang", "trtllm")


def _times(log10_sizes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    return 10.0**log10_sizes / fractions


def test_an_isotonic_fit_pools_the_points_whose_time_falls() -> None:
    """0.1 at 10^0 then 0.5 at 10^0.25: the time falls (1 to 0.356), so both take the mean of
    their log times, 0.7755, and fractions 10^(0 - 0.7755) and 10^(0.25 - 0.7755)."""
    fitted = monotone_time(np.array([0.0, 0.25]), np.array([0.1, 0.5]))
    pooled = (1.0 + 0.25 - np.log10(0.5)) / 2
    assert fitted == pytest.approx([10**-pooled, 10 ** (0.25 - pooled)], rel=1e-3)
    assert _times(np.array([0.0, 0.25]), fitted) == pytest.approx([10**pooled] * 2, rel=1e-3)


def test_a_rising_time_is_kept_and_weights_pull_the_pool() -> None:
    kept = monotone_time(np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.5, 0.9]))
    assert list(kept) == [0.1, 0.5, 0.9]
    # The heavy first point keeps its time; the light second one joins it.
    heavy = monotone_time(np.array([0.0, 0.25]), np.array([0.1, 0.5]), np.array([99.0, 1.0]))
    assert _times(np.array([0.0, 0.25]), heavy)[0] == pytest.approx(
        10 ** ((99 * 1.0 + 1 * (0.25 - np.log10(0.5))) / 100), rel=1e-3
    )


@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12),
    st.lists(st.floats(0.05, 0.6), min_size=12, max_size=12),
    st.lists(st.floats(0.1, 100.0), min_size=12, max_size=12),
)
def test_fitted_times_never_fall_and_fractions_stay_under_the_cap(
    fractions: list[float], gaps: list[float], weights: list[float]
) -> None:
    logs = np.cumsum([0.0, *gaps[: len(fractions) - 1]])
    fitted = monotone_time(logs, np.array(fractions), np.array(weights[: len(fractions)]))
    assert np.all(np.diff(_times(logs, fitted)) >= 0)
    assert np.all((fitted > 0) & (fitted <= 1.0))
    # Stored as profiles store them: 4 significant digits.
    assert all(float(f"{f:.4g}") == f for f in fitted)


def test_fitted_curves_interpolate_a_power_law_between_points() -> None:
    """0.1 at 10^4, 1 at 10^5: halfway (10^4.5) the fraction is 0.1 x 10^0.5, so the time,
    size / fraction, is the same at both ends and between them."""
    curve = EfficiencyCurve(log10_sizes=(4.0, 5.0), fractions=(0.1, 1.0), power_law=True)
    sizes = np.logspace(4.0, 5.0, 11)
    assert curve(np.array([10**4.5]))[0] == pytest.approx(0.1 * 10**0.5)
    assert sizes / curve(sizes) == pytest.approx(np.full(11, 1e5))
    grid = ShapeGrid(
        log10_sizes=(4.0, 5.0), log10_ratios=(0.0,), fractions=((0.1,), (1.0,)), power_law=True
    )
    assert grid(np.array([10**4.5]), np.array([1.0]))[0] == pytest.approx(0.1 * 10**0.5)
    # Without, linear in log10 of the size: 0.55 halfway (a profile of one's own, the
    # transformers profiles).
    linear = EfficiencyCurve(log10_sizes=(4.0, 5.0), fractions=(0.1, 1.0))
    assert linear(np.array([10**4.5]))[0] == pytest.approx(0.55)


def _fitted_classes():
    for engine in FITTED_ENGINES:
        for device in engine_profiles()[engine]:
            profile = load_engine_profile(engine, device)
            for name, curves in {**profile.classes, **profile.dtype_classes}.items():
                yield f"{engine}-{device}:{name}", curves


def _rises(sizes: np.ndarray, fractions: np.ndarray) -> bool:
    times = sizes / np.minimum(fractions, 1.0)
    return bool(np.all(np.diff(times) >= -1e-9 * times[:-1]))


@pytest.mark.parametrize("engine", FITTED_ENGINES)
def test_shipped_curves_and_grids_price_more_work_no_faster(engine: str) -> None:
    """Every shipped profile of the engines fitted from the operator tables: size curves, and
    the grids at each shape (attention's grids, per bytes per sequence and head, are left as
    measured: docs/engines.md, Format)."""
    sizes = np.logspace(0, 14, 2_000)
    checked = 0
    for name, curves in _fitted_classes():
        if not name.startswith(engine):
            continue
        assert isinstance(curves, ClassEfficiency)
        for curve in (curves.compute, curves.memory):
            assert curve.power_law or len(curve.fractions) == 1, name
            assert _rises(sizes, curve(sizes)), name
        grids = (curves.compute_grid, curves.memory_grid, curves.activation_grid)
        for grid in grids if curves.peak is None else ():
            for log_ratio in grid.log10_ratios if grid is not None else ():
                ratio = np.full(sizes.shape, 10.0**log_ratio)
                assert _rises(sizes, grid(sizes, ratio)), (name, log_ratio)
                checked += 1
    assert checked > 100


@pytest.mark.parametrize("engine", FITTED_ENGINES)
def test_an_expert_gemm_is_never_faster_than_a_lighter_step_of_its_layer(engine: str) -> None:
    """At loads up to one token per expert, a step of a share of the tokens moves that share
    of the bytes and OPs: the moe grids never price it slower than the full step."""
    rng = np.random.default_rng(7)
    sizes = 10.0 ** rng.uniform(4, 11, 400)
    loads = 10.0 ** rng.uniform(-3, 0, 400)
    for device in engine_profiles()[engine]:
        moe = load_engine_profile(engine, device).curves("moe")
        for grid in (moe.memory_grid, moe.compute_grid):
            if grid is None:
                continue
            time = sizes / by_shape(moe.memory, grid, sizes, loads, along_load=True)
            for share in LIGHTER_STEPS:
                lighter = (
                    sizes * share / by_shape(moe.memory, grid, sizes * share, loads * share, True)
                )
                assert np.all(time >= lighter * (1 - 1e-9)), (device, share)


def test_a_moe_decode_step_is_no_faster_with_more_sequences() -> None:
    """Qwen3-Next-80B-A3B (512 experts, 10 per token: its layer is priced by the grids) on
    8 B200s with vLLM had decoded 2 sequences in 4.08 ms and 1 in 4.41 ms."""
    sweep = api.sweep(
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        "b200",
        batch=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32],
        prompt_len=[1024],
        engine="vllm",
        tp=8,
    )
    decode = sweep["decode_time"].to_numpy()
    assert np.all(np.diff(decode) >= 0)


def test_curves_that_were_read_still_compare_by_their_fields() -> None:
    """A curve caches its points as arrays once read: two equal curves, both read, had raised
    (arrays have no truth value) instead of comparing equal."""
    make = lambda f: EfficiencyCurve(log10_sizes=(4.0, 5.0), fractions=(0.1, f))  # noqa: E731
    a, b, c = make(1.0), make(1.0), make(0.9)
    for curve in (a, b, c):
        curve(np.array([1e4]))
    assert a == b and a != c
    grid = lambda f: ShapeGrid(  # noqa: E731
        log10_sizes=(4.0,), log10_ratios=(0.0,), fractions=((f,),), power_law=True
    )
    g, h = grid(0.5), grid(0.5)
    g(np.array([1e4]), np.array([1.0]))
    h(np.array([1e4]), np.array([1.0]))
    assert g == h and g != grid(0.4)
