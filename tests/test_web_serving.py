"""The serving and advisor endpoints of the web API: the same numbers as `rooflens.simulate`,
`rooflens.capacity` and `rooflens.advisor`, engine timelines and latency quantiles that match
the simulation, caps on the work one request may ask for, and 422s that name the field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

import rooflens
from rooflens.advisor.search import Target, advise, pareto_front, verify
from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig
from rooflens.serving.results import SimulationResult
from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Requests, Workload
from rooflens.web import create_app
from rooflens.web import schemas as s
from rooflens.web.serving import iterations_at_worst

LLAMA = "meta-llama/Llama-3.1-8B"
BASE = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}}
SMALL = {"requests": 120, "rate": 6.0, "prompt": "uniform:200:800", "output": "fixed:64"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


def post(client: TestClient, path: str, body: dict, status: int = 200) -> dict:
    res = client.post(path, json=body)
    assert res.status_code == status, res.text
    return res.json()


def workload(requests: int = 120, output: str = "fixed:64") -> Workload:
    return Workload(
        requests=requests,
        arrivals=ArrivalProcess(rate=6.0),
        prompt=LengthDistribution.parse("prompt", "uniform:200:800"),
        output=LengthDistribution.parse("output", output),
    )


# Simulation ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chunked(client: TestClient) -> tuple[dict, SimulationResult]:
    body = {
        **BASE,
        "options": {"w_bits": 8, "flash_attention": True},
        "workload": SMALL,
        "scheduler": {"policy": "chunked", "max_tokens": 512, "max_batch": 32},
        "cluster": {"replicas": 2, "router": "least_outstanding"},
        "slo": {"ttft": 0.5, "tpot": 0.02, "percentile": 90},
    }
    want = rooflens.simulate(
        LLAMA,
        "h100-sxm",
        workload(),
        scheduler=SchedulerConfig(policy="chunked", max_tokens=512, max_batch=32),
        cluster=ClusterConfig(replicas=2, router="least_outstanding"),
        slo=SLO(ttft=0.5, tpot=0.02, percentile=90),
        w_bits=8,
        flash_attention=True,
    )
    return post(client, "/api/simulate", body), want


def test_simulate_equals_the_python_api(chunked) -> None:
    data, want = chunked
    summary = want.summary()
    assert data["summary"].keys() == summary.keys()
    for key, value in summary.items():
        assert data["summary"][key] == pytest.approx(value, rel=1e-12), key
    assert data["kv_capacity_tokens"] == want.kv_capacity
    assert data["kv_room_requests"] == want.kv_room > 0
    for key, attribute in (
        ("kv_capacity_bytes", "kv_bytes"),
        ("peak_memory_bytes", "peak_memory"),
        ("usable_memory_bytes", "usable_memory"),
    ):
        assert data[key] == pytest.approx(getattr(want, attribute), rel=1e-12)
        assert data[key] > 0
    assert data["replicas"] == want.replicas == 2
    assert data["slo"] == {"ttft": 0.5, "tpot": 0.02, "percentile": 90.0}
    assert data["setup"] == f"{LLAMA} on h100-sxm"
    assert data["estimate"] == want.estimate == "roofline bound"
    assert data["kernels"] == want.kernels == "fused attention; fused: nothing else"
    assert data["fallbacks"] == list(want.fallbacks) == []
    # No engine's measured time per request under a roofline bound.
    assert data["host_per_request"] == want.host_per_request == 0.0
    # A roofline bound is checked against no engine's measured runs.
    assert data["validation"] is want.validation is None
    assert data["scheduler"] == want.scheduler.model_dump()
    assert (data["scheduler"]["policy"], data["scheduler"]["max_tokens"]) == ("chunked", 512)
    assert data["capacity"] is None


def test_latency_quantiles_are_the_requests(chunked) -> None:
    data, want = chunked
    for metric in ("ttft", "tpot", "e2e", "queueing"):
        dist = data["latencies"][metric]
        values = want.requests[metric].dropna().to_numpy()
        assert dist["share"][50] == 0.5
        assert dist["seconds"][0] == values.min() and dist["seconds"][-1] == values.max()
        assert dist["seconds"][50] == pytest.approx(np.median(values), rel=1e-12)
        assert dist["seconds"][99] == pytest.approx(np.quantile(values, 0.99), rel=1e-12)
        assert np.all(np.diff(dist["seconds"]) >= 0)


def test_a_simulation_with_an_engine_says_what_its_runs_measured(client: TestClient) -> None:
    """An engine's estimate comes with how far its forecasts on that device fell from the
    engine's measured runs, as the Python API says it."""
    from rooflens.engines.validated import checked_against

    body = {**BASE, "options": {"engine": "vllm"}, "workload": {**SMALL, "requests": 20}}
    data = post(client, "/api/simulate", body)
    assert data["validation"] == checked_against("vllm", "h100-sxm", LLAMA, "dense")
    # LLAMA was not measured with vLLM on the H100: the runs of dense models there speak.
    assert data["validation"].startswith(
        "138 measured runs of dense models with vllm on h100-sxm, 0 of this"
    )


def test_timeline_sums_the_engines_on_an_even_grid(chunked) -> None:
    data, want = chunked
    line = data["timeline"]
    assert len(line["time"]) == 400
    end = (want.timeline["start"] + want.timeline["duration"]).max()
    assert line["time"][0] == 0 and line["time"][-1] == pytest.approx(end)
    assert np.allclose(np.diff(line["time"]), end / 399)
    # At each grid point: the iteration each engine is running then (idle engines count 0).
    for i in (57, 123, 250, 398):
        t = line["time"][i]
        running = waiting = kv = 0
        for _, rows in want.timeline.groupby("engine"):
            now = rows[(rows.start <= t) & (t <= rows.start + rows.duration)]
            if len(now):
                row = now.iloc[-1]
                running, waiting, kv = (
                    running + row.running,
                    waiting + row.waiting,
                    kv + row.kv_tokens,
                )
        assert line["running"][i] == running and line["waiting"][i] == waiting
        assert line["kv_share"][i] == pytest.approx(kv / (2 * want.kv_capacity))
    assert max(line["running"]) > 2 and 0 < max(line["kv_share"]) <= 1


def _rate(data: dict) -> float:
    """The capacity the page found; null (a load too small to find one) reads as the API's NaN."""
    rate = data["capacity"]["rate"]
    return math.nan if rate is None else rate


def test_a_closed_loop_equals_the_python_api(client: TestClient) -> None:
    """Clients instead of a rate: the same lengths, each request sent on the last answer."""
    closed = {k: v for k, v in SMALL.items() if k != "rate"}
    body = {**BASE, "workload": {**closed, "requests": 40, "concurrency": 4}}
    data = post(client, "/api/simulate", body)
    drawn = workload(40).draw()
    # The page holds every run to its SLO (the declared defaults here), as the API is told.
    want = rooflens.simulate(
        LLAMA, "h100-sxm", Requests(np.zeros(40), drawn.prompt, drawn.output), concurrency=4,
        slo=SLO(),
    )  # fmt: skip
    for key, value in want.summary().items():
        assert data["summary"][key] == pytest.approx(value, rel=1e-12), key
    open_loop = post(client, "/api/simulate", {**BASE, "workload": {**SMALL, "requests": 40}})
    assert open_loop["summary"]["ttft_mean"] != data["summary"]["ttft_mean"]


def test_capacity_equals_the_python_api(client: TestClient) -> None:
    body = {**BASE, "workload": {**SMALL, "requests": 60}, "capacity": True}
    data = post(client, "/api/simulate", body)
    want = rooflens.capacity(LLAMA, "h100-sxm", workload(60), SLO())
    assert data["capacity"]["requests"] == 60
    assert _rate(data) == pytest.approx(want.rate, rel=1e-12, nan_ok=True)
    rates = [p["rate"] for p in data["capacity"]["probes"]]
    assert rates == pytest.approx(list(want.probes["rate"]))
    assert {"ttft_p99", "tpot_p99", "within_slo"} <= data["capacity"]["probes"][0].keys()


def test_a_capacity_search_probes_with_fewer_requests_when_asked_for_too_many(client) -> None:
    many = {**SMALL, "requests": 1000, "output": "fixed:300"}
    data = post(client, "/api/simulate", {**BASE, "workload": many, "capacity": True})
    probed = data["capacity"]["requests"]
    assert 20 <= probed < 1000
    fewer = workload(probed, output="fixed:300")
    assert iterations_at_worst(fewer.draw(), s.SchedulerIn()) <= s.MAX_CAPACITY_ITERATIONS
    assert data["summary"]["requests"] == 1000  # the simulation itself ran them all
    want = rooflens.capacity(LLAMA, "h100-sxm", fewer, SLO())
    assert _rate(data) == pytest.approx(want.rate, rel=1e-12, nan_ok=True)


def test_the_command_line_takes_the_same_prices_as_the_viewer(client: TestClient) -> None:
    """The viewer's advisor took prices per device and `rooflens advise` took the catalog's
    only: a buyer's quoted price ranked nothing there. --hourly-prices is the same declared
    setting (AdviseSearch), aliases read as their device."""
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    body = {**ADVISE, "verify": 0, "top": 3, "hourly_prices": {"H100 SXM": 0.01}}
    web = post(client, "/api/advise", body)
    args = ["advise", LLAMA, "--workload", "prompt=1000,output=200,rate=8", "--slo",
            "ttft_p99=2s,tpot_p99=60ms", "--devices", ",".join(ADVISE["devices"]), "--tp", "1,2",
            "--pp", "1", "--verify", "0", "--top", "3", "--hourly-prices", "H100 SXM=0.01",
            "-f", "json"]  # fmt: skip
    for key in ("weights", "kv_bits", "experts"):
        if key in ADVISE:
            args += ["--" + key.replace("_", "-"), ",".join(map(str, ADVISE[key]))]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert [p["device"] for p in cli["picks"]] == [p["device"] for p in web["picks"]]
    assert cli["picks"][0]["device"] == "h100-sxm" and cli["picks"][0]["hourly_price"] == 0.01
    assert cli["settings"]["hourly_prices"] == {"H100 SXM": 0.01}
    refused = CliRunner().invoke(app, [*args[:-2], "--hourly-prices", "b200=5"])
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        "error: --hourly-prices='b200=5' is invalid: expected a price for one of the devices "
        "searched (a100-sxm4-80gb, h100-sxm, l40s, rtx-4090)"
    )


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"workload": {"requests": 5000, "output": "fixed:2000"}}, ["workload", "requests"],
         "engine iterations"),
        # The scheduler's own rule first: the cap its 1-token budget set blamed the requests.
        ({"workload": {"requests": 5000, "output": "fixed:2000"}, "scheduler": {
          "max_tokens": 1}}, ["scheduler", "max_tokens"], "expected at least max_batch=256"),
        ({"workload": {"prompt": "gauss:3"}}, ["workload", "prompt"], "lognormal:MEDIAN"),
        ({"workload": {"output": "uniform:9:3"}}, ["workload", "output"], "uniform:LOW:HIGH"),
        ({"workload": {"requests": 0}}, ["workload", "requests"], "an integer of at least 1"),
        ({"workload": {"concurrency": 0}}, ["workload", "concurrency"], "an integer of at least"),
        ({"workload": {"concurrency": 4}, "capacity": True}, ["workload", "concurrency"],
         "closed loop has no arrival rate"),
        ({"workload": {"prompt": "fixed:200000"}}, ["workload", "prompt"],
         "prompt + output=200064 is invalid: expected at most 131072 tokens"),
        ({"workload": {"prompt": "fixed:300000", "requests": 2}, "options": {
          "allow_long_context": True}, "scheduler": {"max_len": 400000}}, ["workload", "prompt"],
         "viewer simulates at most 262144"),
        ({"scheduler": {"max_batch": 5000}}, ["scheduler", "max_batch"], "an integer of at most"),
        # Sections derived from the serving declarations took true as 1, "2" as 2 and "yes"
        # or 1 as true, where the Strict sections refuse them.
        ({"scheduler": {"max_batch": True}}, ["scheduler", "max_batch"], "boolean is not a num"),
        ({"scheduler": {"overlap": "yes"}}, ["scheduler", "overlap"], "true or false"),
        # Accepted and ignored, where the command line refused it.
        ({"scheduler": {"acceptance": 0.7}}, ["scheduler", "acceptance"],
         "left out without draft_tokens"),
        ({"scheduler": {"overlap": 1}}, ["scheduler", "overlap"], "true or false"),
        # A field of words says which it takes, not "a boolean is not a number".
        ({"scheduler": {"queue": True}}, ["scheduler", "queue"], "expected fcfs or spf"),
        ({"cluster": {"replicas": "2"}}, ["cluster", "replicas"], "text is not a number"),
        ({"slo": {"ttft": "1.5"}}, ["slo", "ttft"], "text is not a number"),
        ({"capacity": "true"}, ["capacity"], "true or false"),
        ({"scheduler": {"policy": "fifo"}}, ["scheduler", "policy"], "one of static, continuous"),
        ({"scheduler": {"policy": "static"}, "cluster": {"disaggregated": True}},
         ["scheduler", "policy"], "disaggregated"),
        ({"scheduler": {"kv_layout": "contiguous", "max_len": 100}}, ["scheduler", "max_len"],
         "longest request"),
        ({"cluster": {"replicas": 2, "disaggregated": True}}, ["cluster", "disaggregated"],
         "prefill_replicas"),
        ({"cluster": {"prefill_tp": 2}}, ["cluster", "prefill_tp"], "empty unless disaggregated"),
        # A pool's own width the model cannot split was named options.tp.
        ({"cluster": {"disaggregated": True, "decode_tp": 3}}, ["cluster", "decode_tp"],
         "cluster.decode_tp=3 is invalid: expected a divisor of"),
        ({"slo": {"ttft": float("nan")}}, ["slo", "ttft"], "finite"),
        ({"slo": {"percentile": 0}}, ["slo", "percentile"], "a positive number"),
        ({"options": {"pp": 2}}, ["options", "pp"], "pipeline-parallel serving"),
        ({"device": {"name": "rtx-4090"}, "model": {"id": "meta-llama/Llama-3.1-70B"}},
         ["device"], "rtx-4090"),
        ({"model": {"id": "no/such-model"}}, ["model", "id"], "bundled model"),
        ({"speed": 3}, ["speed"], "expected a known field: model, device"),
        # The arrival process's own bounds (once a 500 below 1e-3).
        (
            {"workload": {"arrivals": "gamma", "cv": 0.0005}},
            ["workload", "cv"],
            "a number of at least 0.001",
        ),
        (
            {"workload": {"arrivals": "gamma", "cv": 2000}},
            ["workload", "cv"],
            "a number of at most 1000",
        ),
        # Poisson gaps have a cv of 1: another was ignored.
        ({"workload": {"cv": 3}}, ["workload", "cv"], r"only gamma gaps take a cv"),
    ],
)  # fmt: skip
def test_bad_simulate_input_names_the_field(client, change, loc, words) -> None:
    body = {**BASE, "workload": dict(SMALL)}
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(body.get(key), dict) else value
    headers = {"content-type": "application/json"}  # NaN goes out as Python's json writes it
    res = client.post("/api/simulate", content=json.dumps(body), headers=headers)
    assert res.status_code == 422, res.text
    data = res.json()
    assert data["detail"][0]["loc"][1 : 1 + len(loc)] == loc, data
    assert words in data["message"], data["message"]


@pytest.mark.parametrize(
    ("workload", "loc", "words"),
    [
        ({"concurrency": 4, "rate": 3.0}, "rate",
         "workload.rate=3.0 is invalid: no arrivals beside workload.concurrency"),
        ({"concurrency": 4, "arrivals": "poisson"}, "arrivals",
         "workload.arrivals='poisson' is invalid: no arrivals beside workload.concurrency"),
        ({"concurrency": 4, "cv": None}, "cv", "workload.cv=None is invalid: no arrivals"),
        # As the command line and the Python API refuse it: fewer clients would run.
        ({"requests": 16, "concurrency": 32}, "concurrency",
         "concurrency=32 is invalid: expected at most the 16 requests simulated"),
    ],
)  # fmt: skip
def test_a_closed_loop_takes_no_arrivals_and_no_more_clients_than_requests(
    client, workload, loc, words
) -> None:
    lengths = {"requests": 40, "prompt": "fixed:256", "output": "fixed:16"}
    res = client.post("/api/simulate", json={**BASE, "workload": {**lengths, **workload}})
    assert res.status_code == 422, res.text
    data = res.json()
    assert data["detail"][0]["loc"][1:3] == ["workload", loc], data
    assert words in data["message"], data["message"]


# The advisor -----------------------------------------------------------------------------------
ADVISE = {
    "model": {"id": LLAMA},
    "target": {"prompt_len": 1000, "output_len": 200, "rate": 8},
    "slo": {"ttft": 2, "tpot": 0.06},
    "devices": ["h100-sxm", "a100-sxm4-80gb", "l40s", "rtx-4090"],
    "tp": [1, 2],
    "pp": [1],
    "weights": ["stored", "fp8"],
    "kv_bits": [16],
}


@pytest.fixture(scope="module")
def advised(client: TestClient) -> tuple[dict, object]:
    data = post(client, "/api/advise", {**ADVISE, "verify": 2, "top": 6})
    target = Target(prompt_len=1000, output_len=200, rate=8)
    want = advise(LLAMA, target, SLO(ttft=2, tpot=0.06), devices=ADVISE["devices"],
                  tps=(1, 2), pps=(1,), weights=("stored", "fp8"), kv_bits=(16,))  # fmt: skip
    return data, verify(want, LLAMA, top=2)


def test_advise_equals_the_python_api(advised) -> None:
    data, want = advised
    assert data["estimate"] == want.estimate == "roofline bound"
    # TP=2 only where a device has an interconnect (not the L40S or the RTX 4090); FP8 only
    # where it has FP8 tensor cores (not the A100).
    assert data["screened"] == len(want.table) == 2 * 2 + 2 * 1 + 1 * 2 + 1 * 2
    assert data["feasible"] == len(want.feasible)
    top = want.top(6)
    assert [(p["device"], p["tp"], p["weights"], p["precision"]) for p in data["picks"]] == list(
        zip(top.device, top.tp, top.weights, top.precision, strict=True)
    )
    for pick, (_, row) in zip(data["picks"], top.iterrows(), strict=True):
        assert pick["cost_per_million"] == pytest.approx(row.cost_per_million, rel=1e-12)
        assert pick["ttft"] == pytest.approx(row.ttft, rel=1e-12)
        assert pick["explanation"] == want.explain(row)
    confirmed = data["picks"][:2]
    assert all(p["verified"] is not None and p["simulated_tpot"] > 0 for p in confirmed)
    assert [p["verified"] for p in confirmed] == list(top.verified[:2])
    assert all(p["verified"] is None for p in data["picks"][2:])


def test_advise_points_are_the_feasible_setups_and_the_front_is_undominated(advised) -> None:
    data = advised[0]
    points = data["points"]
    assert len(points) == data["feasible"]
    cost = np.array([p["cost_per_million"] for p in points], dtype=float)
    e2e = np.array([p["e2e"] for p in points])
    front = np.array([p["pareto"] for p in points])
    assert front.any()
    assert np.array_equal(front, pareto_front(cost, e2e))
    for i in np.flatnonzero(front):
        beaten = (cost <= cost[i]) & (e2e <= e2e[i]) & ((cost < cost[i]) | (e2e < e2e[i]))
        assert not beaten.any()


def test_one_token_answers_have_no_time_per_token(client: TestClient) -> None:
    """An answer of one token has no gap between tokens: its TPOT is null, where the
    response's declared float had failed the answer with a 500."""
    body = {**ADVISE, "target": {"prompt_len": 1000, "output_len": 1, "rate": 8}, "verify": 0}
    data = post(client, "/api/advise", {**body, "devices": ["h100-sxm"], "tp": [1]})
    assert data["picks"] and all(p["tpot"] is None for p in data["picks"])
    assert all(p["e2e"] == p["ttft"] for p in data["picks"])


def test_pipeline_stages_are_searched_and_left_unconfirmed(client: TestClient) -> None:
    body = {"model": {"id": "meta-llama/Llama-2-70b-hf"}, "devices": ["rtx-4090"],
            "target": {"prompt_len": 500, "output_len": 100, "rate": 0.5},
            "slo": {"ttft": 5, "tpot": 0.2}, "weights": ["int4"], "kv_bits": [8],
            "pp": [1, 2]}  # fmt: skip
    data = post(client, "/api/advise", body)
    assert data["screened"] == 2 and data["feasible"] == 1
    pick = data["picks"][0]
    assert pick["pp"] == 2 and pick["devices"] == 2 * pick["replicas"]
    assert pick["verified"] is None and "PP=2" in pick["explanation"]
    # Said, not left for the reader to guess from an empty cell.
    assert pick["explanation"].endswith(
        "Not confirmed by simulation: the serving simulator does not run pipeline stages."
    )
    assert data["points"][0]["pp"] == 2
    assert data["rejected"][0]["reason"] == "memory capacity"


def test_a_price_override_and_a_budget(client: TestClient) -> None:
    base = {**ADVISE, "verify": 0}
    cheap = post(client, "/api/advise", {**base, "hourly_prices": {"H100 SXM": 0.01}})
    assert cheap["picks"][0]["device"] == "h100-sxm"
    assert cheap["picks"][0]["hourly_price"] == 0.01
    broke = post(client, "/api/advise", {**base, "budget": 0.05})
    assert broke["picks"] == [] and broke["feasible"] == 0
    reasons = {r["reason"]: r for r in broke["rejected"]}
    assert reasons["over the budget of $0.05/h"]["count"] > 0
    assert sum(r["count"] for r in broke["rejected"]) == broke["screened"]


def test_an_unpriced_device_is_searched_once_given_a_price(client: TestClient) -> None:
    body = {**ADVISE, "devices": None, "tp": [1], "weights": ["stored"], "verify": 0,
            "top": 100}  # fmt: skip
    plain = post(client, "/api/advise", body)
    assert "t4" not in {p["device"] for p in plain["picks"]}
    priced = post(client, "/api/advise", {**body, "hourly_prices": {"t4": 0.05}})
    assert priced["screened"] == plain["screened"] + 1


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"devices": ["h100-sxm", "gtx-9999"]}, ["devices", 1], "catalog device"),
        ({"hourly_prices": {"b200": 5}}, ["hourly_prices", "b200"], "one of the devices searched"),
        ({"hourly_prices": {"h100-sxm": -1}}, ["hourly_prices"], "(0, 1e+06]"),
        ({"tp": [3]}, ["tp", 0], "expected one of 1, 2, 4, 8, 16, 32, 64"),
        ({"weights": ["fp9"]}, ["weights", 0], "expected one of stored, bf16,"),
        ({"weights": ["nvfp4"]}, ["weights"], "tensor cores for"),
        ({"experts": ["dp"]}, ["experts", 0], "expected tp or ep"),
        ({"tp": [2], "devices": ["l40s"]}, ["tp"], "at most 1 in one node"),
        ({"tp": []}, ["tp"], "expected at least one: widths among"),
        # A value twice had searched and listed every setup twice.
        ({"tp": [1, 2, 1]}, ["tp"], "tp=[1, 2, 1] is invalid: expected each value once (1 given"),
        ({"weights": ["fp8", "FP8"]}, ["weights"], "each value once ('fp8' given twice)"),
        ({"rank": "speed"}, ["rank"], "expected one of cost, energy, latency"),
        ({"target": {"rate": 0}}, ["target", "rate"], "a positive number"),
        ({"target": {"output_len": 20000}, "verify": 2}, ["verify"], "too long to confirm"),
        # Past the model's positions: the context is blamed, not confirming it.
        ({"target": {"output_len": 200000}, "verify": 2}, ["target", "prompt_len"],
         "prompt_len + output_len=201000 is invalid: expected a context of at most 131072"),
        ({"verify": 9}, ["verify"], "an integer of at most 5"),
        ({"verify": True}, ["verify"], "a boolean is not a number"),
        ({"target": {"rate": "5"}}, ["target", "rate"], "text is not a number"),
        ({"model": {"id": "llama-9"}}, ["model", "id"], "bundled model"),
        ({"engine": "tgi"}, ["engine"], "one of transformers, compiled, vllm, sglang, trtllm"),
        ({"engine_version": "0.5.9"}, ["engine_version"], "empty without an engine"),
        ({"engine": "transformers", "engine_version": "4.5"}, ["engine_version"], "transformers"),
        ({"engine": "sglang", "engine_version": "v0.5"}, ["engine_version"], "such as 0.5.10"),
        ({"engine": "compiled", "devices": ["b200"]}, ["engine"],
         "a profile for a device searched (b200): compiled profiles exist for h100-sxm, h200-sxm"),
        ({"target": {"prompt_len": 131072, "output_len": 4096}}, ["target", "prompt_len"],
         "prompt_len + output_len=135168 is invalid: expected a context of at most 131072"),
    ],
)  # fmt: skip
def test_bad_advise_input_names_the_field(client, change, loc, words) -> None:
    res = client.post("/api/advise", json={**ADVISE, **change})
    assert res.status_code == 422, res.text
    data = res.json()
    assert data["detail"][0]["loc"][1 : 1 + len(loc)] == loc, data
    assert words in data["message"], data["message"]


def test_advise_prices_with_an_engines_profiles_as_the_python_api(client: TestClient) -> None:
    # The projects' own spelling, a release: SGLang 0.5.9 on the H100 takes its 0.5.10 tables.
    body = {**ADVISE, "devices": ["h100-sxm", "l40s"], "weights": ["stored"], "verify": 0,
            "engine": "SGLang", "engine_version": "0.5.9"}  # fmt: skip
    data = post(client, "/api/advise", body)
    target = Target(prompt_len=1000, output_len=200, rate=8)
    want = advise(LLAMA, target, SLO(ttft=2, tpot=0.06), devices=["h100-sxm", "l40s"],
                  tps=(1, 2), pps=(1,), weights=("stored",), kv_bits=(16,), engine="sglang",
                  engine_version="0.5.9")  # fmt: skip
    assert (
        data["estimate"]
        == want.estimate
        == "estimated with sglang's fitted profiles for release 0.5.9 (a device's tables of "
        "that release, else of the oldest after it, else the newest), of sglang 0.5.10 on h100-sxm"
    )
    assert data["feasible"] == len(want.feasible) > 0
    for pick, (_, row) in zip(data["picks"], want.top(10).iterrows(), strict=True):
        assert pick["device"] == row.device == "h100-sxm"
        assert pick["tpot"] == pytest.approx(row.tpot, rel=1e-12)
    plain = post(client, "/api/advise", {**body, "engine": None, "engine_version": None})
    assert plain["picks"][0]["tpot"] != pytest.approx(data["picks"][0]["tpot"], rel=1e-3)
    # No SGLang profile for the L40S: rejected, saying so.
    assert any("l40s" in r["example"] for r in data["rejected"])


def test_the_schema_lists_both_endpoints_and_device_prices(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/api/simulate", "/api/advise"):
        assert schema["paths"][path]["post"]["tags"] == ["serving"]
        assert "422" in schema["paths"][path]["post"]["responses"]
    devices = {d["name"]: d for d in client.get("/api/devices").json()}
    assert devices["h100-sxm"]["hourly_price"] > 0 and devices["t4"]["hourly_price"] is None


def test_the_web_settings_default_to_the_simulators() -> None:
    # The web's models are the declarations with the viewer's caps: the same defaults.
    for web, core in ((s.SchedulerIn, SchedulerConfig), (s.ClusterIn, ClusterConfig),
                      (s.SLOIn, SLO)):  # fmt: skip
        assert web().model_dump() == core().model_dump()


def test_simulate_defaults_are_the_clis() -> None:
    """The same "default" simulation gives the same answer on the page and in the CLI."""
    import typer

    from rooflens.cli import serve_cmds
    from rooflens.cli.app import app
    from rooflens.serving import defaults

    command = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    cli = {p.name: p.default for p in command.params}
    rate = cli["rate"] if cli["rate"] is not None else serve_cmds.DEFAULT_RATE
    web = s.WorkloadIn()
    assert (web.requests, web.rate, web.arrivals, web.cv) == (
        cli["requests"],
        rate,
        cli["arrival"].value if hasattr(cli["arrival"], "value") else cli["arrival"],
        cli["cv"],
    )
    assert (web.prompt, web.output) == (cli["prompt"], cli["output"])
    assert (web.requests, web.cv, web.prompt) == (defaults.REQUESTS, None, defaults.PROMPT)
    assert (web.requests, web.rate, web.cv) == (1000, 4.0, None)
    # No cv given: gamma gaps take the default's.
    from rooflens.serving.workload import ArrivalProcess

    assert ArrivalProcess(kind="gamma").gamma_cv == defaults.CV == 2.0


def test_an_advised_pick_names_the_curves_that_stood_in(client: TestClient) -> None:
    body = {**ADVISE, "devices": ["h100-sxm"], "tp": [1], "weights": ["int4", "fp8"],
            "verify": 0, "engine": "vllm"}  # fmt: skip
    data = post(client, "/api/advise", body)
    picks = {p["weights"]: p for p in data["picks"]}
    assert picks["int4"]["stand_ins"] == "matmul:w4a16_int"
    assert picks["fp8"]["stand_ins"] == ""


def test_an_advice_with_an_engine_says_what_its_measured_runs_showed(client: TestClient) -> None:
    """Per device among the picks, the line a simulation there gives (the model's runs, else
    its architecture's); none for the roofline bounds."""
    from rooflens.engines.validated import checked_against

    body = {**ADVISE, "devices": ["h100-sxm"], "tp": [1], "verify": 0}
    model = ADVISE["model"]["id"]
    engine = post(client, "/api/advise", {**body, "engine": "vllm"})
    assert engine["validation"] == {"h100-sxm": checked_against("vllm", "h100-sxm", model, "dense")}
    assert post(client, "/api/advise", body)["validation"] == {}


def test_an_advice_whose_every_setup_is_refused_lists_why(client: TestClient) -> None:
    """Every setup refused before it is priced (Qwen2.5-0.5B's 14 heads do not split over 4
    devices): the answer the command line gives, no picks and the reason (once an internal
    error)."""
    body = {**ADVISE, "model": {"id": "Qwen/Qwen2.5-0.5B"}, "devices": ["h100-sxm"],
            "tp": [4], "verify": 0}  # fmt: skip
    data = post(client, "/api/advise", body)
    assert data["feasible"] == 0 and data["picks"] == [] and data["points"] == []
    [rejected] = data["rejected"]
    assert rejected["count"] == data["screened"] == 2  # weights stored, fp8
    assert "tp=4 is invalid: expected a divisor of Qwen/Qwen2.5-0.5B's 14" in rejected["example"]


def test_a_disaggregated_run_reports_the_decode_pools_cache(client: TestClient) -> None:
    """KV tokens, bytes and room are all the decode pool's (its TP 8), not the prefill pool's
    (TP 2) beside the decode pool's bytes; the label names both widths."""
    body = {
        "model": {"id": "meta-llama/Llama-3.1-70B"}, "device": {"name": "h100-sxm"},
        "options": {"engine": "vllm", "tp": 4}, "workload": {**SMALL, "requests": 40},
        "cluster": {"disaggregated": True, "prefill_replicas": 1, "decode_replicas": 1,
                    "prefill_tp": 2, "decode_tp": 8},
    }  # fmt: skip
    data = post(client, "/api/simulate", body)
    assert data["setup"] == "meta-llama/Llama-3.1-70B on h100-sxm (prefill TP=2, decode TP=8)"
    # Llama-3.1-70B caches 80 layers x 8 KV heads x 128 x 2 x 2 bytes a token, an eighth of it
    # on each of the 8 devices.
    per_device = 80 * 8 * 128 * 2 * 2 / 8
    assert data["kv_capacity_tokens"] == pytest.approx(data["kv_capacity_bytes"] / per_device, 1e-3)
    assert data["kv_room_requests"] <= data["kv_capacity_tokens"] / 800
    assert 0 < max(data["timeline"]["kv_share"]) <= 1


def test_a_simulation_states_the_lengths_it_drew_from(client) -> None:
    """A short-context model's defaults are fitted to it, as the CLI fits them; the answer
    said nothing of the lengths it used."""
    body = {"model": "facebook/opt-125m", "device": "h100-sxm", "workload": {"requests": 20}}
    res = client.post("/api/simulate", json=body)
    assert res.status_code == 200, res.text
    assert res.json()["lengths"] == {
        "prompt": "lognormal:512:0.8:1536",
        "output": "lognormal:128:0.8:512",
    }
    given = {**body, "workload": {"requests": 20, "prompt": "100", "output": "10"}}
    assert client.post("/api/simulate", json=given).json()["lengths"] == {
        "prompt": "100",
        "output": "10",
    }


def test_a_simulation_says_of_its_deployment_what_the_cli_json_says(client) -> None:
    """The web's answer dropped the recurrent-state pool (25 GB on Qwen3.5-9B with SGLang's
    preset), the layout and the memory verdict the CLI's JSON gives."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    body = {"model": {"id": "Qwen/Qwen3.5-9B"}, "device": {"name": "h100-sxm"},
            "workload": {"requests": 20, "rate": 6.0}, "options": {"engine": "sglang"}}  # fmt: skip
    data = post(client, "/api/simulate", body)
    args = ["simulate", "Qwen/Qwen3.5-9B", "-H", "h100-sxm", "--engine", "sglang"]
    args += ["--requests", "20", "--rate", "6", "-f", "json"]
    cli = json.loads(CliRunner().invoke(app, args).stdout)
    for key in ("state_pool_bytes", "layout", "memory", "kv_room_requests", "scheduler"):
        assert data[key] == cli[key], key
    assert data["state_pool_bytes"] > 20e9 and data["memory"]["fits"] is True


def test_the_advice_says_how_many_requests_confirmed_its_picks(client) -> None:
    """The viewer confirms with fewer requests than the CLI where its cap binds (833 at its
    default two picks of 300-token answers), and its answer had not said so."""
    body = {"model": {"id": LLAMA}, "devices": ["h100-sxm"], "tp": [1], "weights": ["bf16"],
            "kv_bits": [16], "pp": [1]}  # fmt: skip
    assert post(client, "/api/advise", body)["verify_requests"] == 833
    assert post(client, "/api/advise", {**body, "verify": 0})["verify_requests"] == 0
    checked = verify(advise(LLAMA, Target(), SLO(), devices=["h100-sxm"], tps=[1]), LLAMA, top=1)
    assert checked.verify_requests == 1000
    # Nothing to confirm (no setup fits): none ran, whatever `top` asked for.
    big = "meta-llama/Llama-2-70b-hf"
    none = verify(advise(big, Target(), SLO(), devices=["l4"], tps=[1]), big, top=1)
    assert none.feasible.empty and none.verify_requests == 0


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [
        # Whole prompts: one iteration each, however long.
        (SchedulerConfig(policy="continuous", max_tokens=512, max_batch=8), 2 + 16),
        # Chunked: prompts cut at the token budget (4096 / 512 = 8, and 1).
        (SchedulerConfig(policy="chunked", max_tokens=512, max_batch=8), 9 + 16),
        # SGLang's: the budget bounds which prompts join, the chunk size cuts them (4096 /
        # 1024 = 4, and 1); a budget of 16 counted 256 + 7 chunks and refused the request.
        (SchedulerConfig(policy="continuous", max_tokens=16, max_batch=8, chunk_size=1024),
         5 + 16),
        # Static batches run prompts whole, whatever the budget (8 + 1 chunks counted once).
        (SchedulerConfig(policy="static", max_tokens=512, max_batch=8), 2 + 16),
    ],
)  # fmt: skip
def test_the_work_cap_counts_prompt_chunks_as_the_engine_cuts_them(scheduler, expected) -> None:
    requests = Requests(np.array([0.0, 1.0]), np.array([4096, 100]), np.array([8, 8]))
    assert iterations_at_worst(requests, scheduler) == expected


@pytest.mark.parametrize(
    ("settings", "status"),
    [
        # SGLang's preset cuts 512-token prompts at a chunk size of 1: 512 chunks each.
        ({"preset": "sglang", "scheduler": {"chunk_size": 1}}, 422),
        ({"options": {"engine": "sglang"}, "scheduler": {"chunk_size": 1}}, 422),
        # The same requests at a chunk size of 8: 64 chunks each, within the cap.
        ({"preset": "sglang", "scheduler": {"chunk_size": 8}}, 200),
    ],
)
def test_the_work_cap_counts_the_presets_scheduler(client, settings, status) -> None:
    """The cap reads the scheduler the run takes, a preset's or an engine's with the fields
    given: 1,000 requests of 512 + 8 tokens are 8,000 decode iterations plus the chunks."""
    workload = {"requests": 1000, "prompt": "fixed:512", "output": "fixed:8", "rate": 4.0}
    res = client.post("/api/scheduler", json={**BASE, **settings, "workload": workload})
    assert res.status_code == status, res.text
    if status == 422:
        assert "could take 520,000 engine iterations" in res.json()["message"]
