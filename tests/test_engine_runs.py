"""vLLM measured here (docs/engines-measured.md): the per-request time its profiles carry is the
one its shipped runs give, the simulator adds it where it should, and the document's table is
what the shipped runs and forecasts give."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rooflens.engines import load_engine_profile
from rooflens.measure.engine_runs import fit_points, markdown, read_runs, side_by_side
from rooflens.serving.api import simulate
from rooflens.serving.config import ClusterConfig
from rooflens.serving.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs/data/engine-runs-vllm-0.22.0-h100.jsonl"
DOC = ROOT / "docs/engines-measured.md"


@pytest.fixture(scope="module")
def table():
    return side_by_side(read_runs(RUNS))


def test_the_shipped_time_per_request_is_the_fit_of_the_shipped_runs(table) -> None:
    """Fitted on Llama-3.1-8B's single-client 16- and 128-token runs: with it in the forecast,
    their mean TTFT miss is nil (within the 0.1 ms the figure is rounded to)."""
    fitted = table[fit_points(table)]
    assert list(fitted["isl"]) == [16, 128]
    assert set(fitted["model"]) == {"meta-llama/Llama-3.1-8B"}
    miss = float((fitted["ttft_mean_ms"] - fitted["ttft_predicted_ms"]).mean())
    assert abs(miss) < 0.05
    profile = load_engine_profile("vllm", "h100-sxm", "0.22.0")
    assert profile.host_per_request == pytest.approx(0.0099)
    assert "vLLM 0.22.0" in profile.provenance["host_per_request"]


def test_the_engines_not_measured_add_no_time_per_request() -> None:
    for engine in ("sglang", "trtllm"):
        profile = load_engine_profile(engine, "h100-sxm")
        assert profile.host_per_request is None
        assert "host_per_request" not in profile.provenance
    # Every vLLM profile carries it, whatever the device or release.
    assert load_engine_profile("vllm", "b200", "0.12.0").host_per_request == pytest.approx(0.0099)


def _served(profile, concurrency=None, rate=None, disaggregated=False):
    workload = Workload(
        requests=6,
        prompt="fixed:512",
        output="fixed:32",
        **({"arrivals": {"kind": "fixed", "rate": rate}} if rate else {}),
    )
    return simulate(
        "meta-llama/Llama-3.1-8B",
        "h100-sxm",
        workload,
        cluster=ClusterConfig(disaggregated=disaggregated),
        concurrency=concurrency,
        calibration=profile,
    ).requests


@pytest.mark.parametrize(
    ("concurrency", "rate", "disaggregated"),
    [(1, None, False), (None, 0.5, False), (1, None, True), (None, 0.5, True)],
)
def test_a_request_reaches_the_engine_its_path_time_after_it_is_sent(
    concurrency, rate, disaggregated
) -> None:
    """One client, or arrivals far apart, on one pool or on prefill and decode pools: every
    request's TTFT and end-to-end latency grow by the path's 9.9 ms exactly, its queueing (at
    the engine) and TPOT do not; a closed loop's requests are sent that much later each."""
    measured = load_engine_profile("vllm", "h100-sxm")
    without = measured.model_copy(update={"host_per_request": None})
    with_path = _served(measured, concurrency, rate, disaggregated)
    bare = _served(without, concurrency, rate, disaggregated)
    np.testing.assert_allclose(with_path["ttft"] - bare["ttft"], 0.0099, atol=1e-12)
    np.testing.assert_allclose(with_path["e2e"] - bare["e2e"], 0.0099, atol=1e-12)
    np.testing.assert_allclose(with_path["queueing"], bare["queueing"], atol=1e-12)
    np.testing.assert_allclose(with_path["tpot"], bare["tpot"], atol=1e-12)
    if concurrency:
        steps = np.arange(6) * 0.0099
        np.testing.assert_allclose(with_path["arrival"] - bare["arrival"], steps, atol=1e-12)
    else:
        np.testing.assert_allclose(with_path["arrival"], bare["arrival"])


def test_the_documents_table_is_the_shipped_runs_against_their_forecasts(table) -> None:
    text = DOC.read_text("utf-8")
    assert markdown(table) in text
    rest = table[~fit_points(table)]
    median = 100 * float(np.median(rest["ttft_error"].abs()))
    stated = re.search(r"with it, (\d+) %", text)
    assert stated and int(stated[1]) == round(median)
    assert f"the {len(rest)} points not fitted" in text


@pytest.mark.parametrize("value", [-0.001, float("inf"), float("nan"), 1e12])
def test_a_profiles_time_per_request_is_a_finite_time(value) -> None:
    """A profile file's host_per_request is refused beyond an hour or not a number (1e12 s
    took the simulator's clock past its resolution; inf gave NaN rates); half a second is
    taken, and nothing else of the profile is refused."""
    measured = load_engine_profile("vllm", "h100-sxm")
    kind = type(measured)
    assert (
        kind.model_validate(measured.model_dump() | {"host_per_request": 0.5}).request_time == 0.5
    )
    with pytest.raises(ValueError, match="1 validation error") as refused:
        kind.model_validate(measured.model_dump() | {"host_per_request": value})
    assert "host_per_request" in str(refused.value)


def test_the_router_picks_an_engine_when_a_request_is_sent(monkeypatch) -> None:
    """Two replicas behind a least-outstanding router: it counts what each has finished by
    the moment a request is sent, before the request's serving path, in an open loop as in a
    closed one (it had counted 9.9 ms ahead in an open loop)."""
    from rooflens.serving.engine import Engine

    asked: list[float] = []
    outstanding = Engine.outstanding

    def recorded(self, at):
        asked.append(at)
        return outstanding(self, at)

    monkeypatch.setattr(Engine, "outstanding", recorded)
    measured = load_engine_profile("vllm", "h100-sxm")
    cluster = ClusterConfig(replicas=2, router="least_outstanding")
    workload = Workload(
        requests=20, prompt="fixed:512", output="fixed:64", arrivals={"kind": "fixed", "rate": 30}
    )
    served = simulate(
        "meta-llama/Llama-3.1-8B", "h100-sxm", workload, calibration=measured, cluster=cluster
    ).requests
    # Each request asks both replicas, at the instant it was sent.
    np.testing.assert_allclose(sorted(set(asked)), sorted(served["arrival"]))
    asked.clear()
    looped = simulate(
        "meta-llama/Llama-3.1-8B", "h100-sxm",
        Workload(requests=20, prompt="fixed:512", output="fixed:64"),
        calibration=measured, cluster=cluster, concurrency=4,
    ).requests  # fmt: skip
    np.testing.assert_allclose(sorted(set(asked)), sorted(set(looped["arrival"])))
