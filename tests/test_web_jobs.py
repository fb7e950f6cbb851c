"""Long runs as background jobs: the answer is the plain endpoint's, progress advances, a
cancelled run stops computing on the server, failures read as a 422, and the jobs kept are
bounded in number and age."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rooflens.core.errors import InvalidInputError
from rooflens.web import create_app
from rooflens.web import serving as web_serving
from rooflens.web.jobs import Job, Jobs

LLAMA = {"model": {"id": "meta-llama/Llama-3.1-8B"}, "device": {"name": "h100-sxm"}}
SMALL = {"requests": 60, "rate": 5, "prompt": "fixed:256", "output": "fixed:16"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


def wait(client: TestClient, job_id: str, until: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_job_answers_what_the_plain_endpoint_answers(client: TestClient) -> None:
    body = {**LLAMA, "workload": SMALL}
    started = client.post("/api/jobs/simulate", json=body)
    assert started.status_code == 202
    assert started.json()["kind"] == "simulate"
    job = wait(client, started.json()["id"], {"done", "failed", "cancelled"})
    assert job["status"] == "done", job
    assert (job["phase"], job["done"], job["total"]) == ("simulating requests", 60, 60)
    plain = client.post("/api/simulate", json=body).json()
    # The whole answer, as the plain endpoint's schema gives it (a job's once had a `layout`).
    assert job["result"] == plain
    assert job["result"]["summary"]["requests"] == 60


def test_a_finished_capacity_search_reads_complete(client: TestClient) -> None:
    """The search's 24 probes are an upper bound: it stops once bracketed, and a job done
    read "5 of 24"."""
    body = {**LLAMA, "workload": {**SMALL, "requests": 200, "output": "fixed:20"}}
    started = client.post("/api/jobs/simulate", json={**body, "capacity": True})
    job = wait(client, started.json()["id"], {"done", "failed", "cancelled"})
    assert job["status"] == "done", job
    assert job["done"] == job["total"] > 0


def test_a_job_over_the_viewers_work_cap_is_refused_before_it_starts(client: TestClient) -> None:
    """The work cap, checked as POST /api/simulate checks it: a 422 naming the requests, not
    a 202 and a job that fails."""
    body = {**LLAMA, "workload": {**SMALL, "requests": 5000, "output": "fixed:2000"}}
    refused = client.post("/api/jobs/simulate", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["type"] == "too_much_work"
    assert refused.json()["message"].startswith("workload.requests=5000 is invalid")
    assert refused.json()["detail"][0]["loc"] == ["body", "workload", "requests"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tp": 3}, "options.tp=3 is invalid"),
        ({"group_size": 128}, "options.group_size=128 is invalid"),
        ({"w_format": "fp"}, "options.w_format='fp' is invalid"),
    ],
)
def test_a_jobs_bad_options_are_a_422_before_it_starts(
    client: TestClient, options, message
) -> None:
    """Each was a 202 and a job that failed, where POST /api/simulate answers a 422."""
    body = {**LLAMA, "workload": SMALL, "options": options}
    refused = client.post("/api/jobs/simulate", json=body)
    assert refused.status_code == 422 and refused.json()["message"].startswith(message)
    assert refused.json() == client.post("/api/simulate", json=body).json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # No room for a KV cache: the run's memory check.
        (
            {"model": {"id": "deepseek-ai/DeepSeek-V3"}, "device": {"name": "h100-sxm"}},
            "room for a KV cache: weights",
        ),
        # Past the model's positions, and a decode pool its heads do not split.
        ({**LLAMA, "workload": {**SMALL, "prompt": "fixed:200000"}}, "max positions"),
        ({**LLAMA, "cluster": {"disaggregated": True, "decode_tp": 3}}, "cluster.decode_tp=3"),
    ],
)
def test_what_a_run_refuses_before_serving_is_a_422_before_the_job_starts(
    client: TestClient, body, message
) -> None:
    """Each was a 202 and a job that failed, where POST /api/simulate answers a 422."""
    refused = client.post("/api/jobs/simulate", json={"workload": SMALL} | body)
    assert refused.status_code == 422, refused.text
    assert message in refused.json()["message"]
    assert refused.json() == client.post("/api/simulate", json={"workload": SMALL} | body).json()


@pytest.mark.parametrize(
    "change",
    [
        {"devices": ["h100-sxm", "nope"]},
        {"hourly_prices": {"nope": 1.0}},
        {"model": {"id": "no/such"}},
        # The search's own checks ran only once the job ran: a 202 and a failed job.
        {"devices": []},
        {"engine_version": "0.5.10"},
        {"engine": "compiled", "devices": ["b200"]},
    ],
)
def test_an_advisor_jobs_bad_input_is_a_422_before_it_starts(client: TestClient, change) -> None:
    """An unknown device was a 202 and a job that failed, where POST /api/advise answers 422."""
    body = {"model": {"id": "meta-llama/Llama-3.1-8B"}, "verify": 0} | change
    refused = client.post("/api/jobs/advise", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json() == client.post("/api/advise", json=body).json()


def test_a_cancelled_job_stops_computing(client: TestClient) -> None:
    body = {**LLAMA, "workload": {**SMALL, "requests": 3000, "rate": 20}}
    job_id = client.post("/api/jobs/simulate", json=body).json()["id"]
    deadline = time.monotonic() + 120
    while (job := client.get(f"/api/jobs/{job_id}").json())["done"] < 5:
        assert job["status"] in {"queued", "running"} and time.monotonic() < deadline, job
        time.sleep(0.05)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 200
    stopped = wait(client, job_id, {"cancelled", "done", "failed"}, timeout=30)
    assert stopped["status"] == "cancelled"
    assert stopped["result"] is None
    # Its progress stops where the cancel found it, short of the whole.
    time.sleep(0.5)
    later = client.get(f"/api/jobs/{job_id}").json()
    assert later["done"] == stopped["done"] < stopped["total"] == 3000
    # A cancel after the end changes nothing.
    assert client.delete(f"/api/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_failed_job_reads_as_a_422(client: TestClient, monkeypatch) -> None:
    # A refusal only the run itself finds reads as the plain endpoint's answer.
    def refuse(*args: object, **kwargs: object) -> None:
        raise InvalidInputError("max_tokens", 4, "a refusal only the run finds")

    monkeypatch.setattr(web_serving.serving, "simulate", refuse)
    body = {**LLAMA, "workload": SMALL}
    job = wait(client, client.post("/api/jobs/simulate", json=body).json()["id"], {"failed"})
    assert job["error"] == client.post("/api/simulate", json=body).json()
    assert (
        "max_tokens=4 is invalid: expected a refusal only the run finds"
        in (job["error"]["message"])
    )
    # Bad input is refused before any job starts; an unknown job is a 404.
    assert (
        client.post("/api/jobs/simulate", json={**LLAMA, "workload": {"rate": -1}}).status_code
        == 422
    )
    # An unknown job is a 404 with the body every refusal has.
    for missing in (client.get("/api/jobs/nope"), client.delete("/api/jobs/nope")):
        assert missing.status_code == 404
        assert missing.json()["message"].startswith("no job 'nope'")
        assert missing.json()["detail"][0]["loc"] == ["path", "job_id"]


def test_an_advisor_job_reports_its_setups(client: TestClient) -> None:
    body = {
        "model": {"id": "meta-llama/Llama-3.1-8B"},
        "devices": ["h100-sxm", "a100-sxm4-80gb"],
        "tp": [1, 2],
        "pp": [1],
        "verify": 0,
    }
    job = wait(client, client.post("/api/jobs/advise", json=body).json()["id"], {"done", "failed"})
    assert job["status"] == "done", job
    # 2 devices x 2 widths x 2 KV-cache widths x the weights tried there (the H100: stored,
    # fp8, int4; the A100, without FP8 tensor cores: stored, int4; BF16 is Llama's stored
    # precision), each screened once.
    assert (job["phase"], job["done"], job["total"]) == ("screening setups", 20, 20)
    assert job["result"] == client.post("/api/advise", json=body).json()


def _blocking(release: threading.Event) -> Any:
    def run(job: Job) -> dict[str, Any]:
        job.start_phase("waiting", 1)
        while not release.wait(0.01):
            job.advance(0)  # a progress report: where a cancel is seen
        return {"ok": True}

    return run


def test_jobs_kept_are_bounded_in_number_and_age() -> None:
    jobs = Jobs(lambda exc: None, workers=1, max_jobs=3, max_age_s=60)
    release = threading.Event()
    first = jobs.start("simulate", _blocking(release))
    queued = jobs.start("simulate", lambda job: {"ran": True})
    # A queued job cancelled never runs.
    assert jobs.cancel(queued.id).status == "cancelled"
    release.set()
    for _ in range(4):
        jobs.start("simulate", lambda job: {"ran": True})
    time.sleep(0.3)
    assert len(jobs.jobs) <= 3
    assert jobs.get(first.id) is None  # the oldest finished ones go first
    assert queued.result is None
    jobs.shutdown()

    young = Jobs(lambda exc: None, workers=1, max_jobs=10, max_age_s=0.2)
    hold = threading.Event()
    old = young.start("simulate", _blocking(hold))
    time.sleep(0.4)
    assert young.get(old.id) is None  # too old: dropped, and its run cancelled
    deadline = time.monotonic() + 5
    while old.status != "cancelled":
        assert time.monotonic() < deadline, old.status
        time.sleep(0.01)
    young.shutdown()
