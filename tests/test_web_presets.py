"""An engine's scheduler preset on the serving page: POST /api/scheduler says what a run would
use for the model, device and options (the preset, with the fields set in its place), the
form shows it, and a field changed from it is sent, a true preset switch turned off included
(the form sent nothing for an unticked box, so vLLM's kv_groups stayed on).

The browser test drives the page in a headless Chromium as tests/test_web_e2e.py does (its
`server` and `browser` fixtures)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import rooflens
import test_web_e2e as e2e
from rooflens.serving.config import SchedulerConfig
from rooflens.serving.presets import preset_for
from rooflens.web import create_app

GEMMA = "google/gemma-3-27b-it"  # window layers: vLLM's KV groups matter
LLAMA = "meta-llama/Llama-3.1-8B"
# The browser tests' server and Chromium (skipped, as there, only where no Chromium is found).
server = e2e.server
browser = e2e.browser
LOAD = {"requests": 20, "rate": 4.0, "prompt": "fixed:600", "output": "fixed:1"}
BASE = {"model": {"id": GEMMA}, "device": {"name": "h100-sxm"}, "options": {"engine": "vllm"}}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


def post(client: TestClient, path: str, body: dict, status: int = 200) -> dict:
    res = client.post(path, json=body)
    assert res.status_code == status, res.text
    return res.json()


def test_the_scheduler_endpoint_gives_the_engines_preset(client: TestClient) -> None:
    data = post(client, "/api/scheduler", BASE)
    want = preset_for("vllm", rooflens.get_device("h100-sxm"), rooflens.load_model(GEMMA))
    assert data["engine"] == "vllm"
    assert data["preset"] == data["scheduler"] == want.model_dump()
    assert (data["preset"]["kv_groups"], data["preset"]["prefix_sharing"]) == (True, True)
    assert data["preset"]["overlap"] is True and data["preset"]["policy"] == "chunked"
    # Without an engine (or one without a preset): the scheduler's declared defaults.
    for options in ({}, {"engine": "transformers"}):
        plain = post(client, "/api/scheduler", {**BASE, "options": options})
        assert plain["engine"] is None
        assert plain["preset"] == plain["scheduler"] == SchedulerConfig().model_dump()
    # A setting the simulation would refuse is refused here too, naming it.
    bad = post(client, "/api/scheduler", {**BASE, "options": {"w_bits": 5}}, 422)
    assert bad["detail"][0]["loc"] == ["body", "options", "w_bits"]


def test_the_scheduler_endpoint_sizes_the_preset_for_the_device(client: TestClient) -> None:
    # SGLang's chunked_prefill_size: 8,192 under 160 GiB (H100), 16,384 above (B200).
    sglang = {"model": {"id": LLAMA}, "options": {"engine": "sglang"}}
    for device, chunk in (("h100-sxm", 8192), ("b200", 16384)):
        data = post(client, "/api/scheduler", {**sglang, "device": {"name": device}})
        assert data["preset"]["chunk_size"] == data["scheduler"]["chunk_size"] == chunk
        want = preset_for("sglang", rooflens.get_device(device), rooflens.load_model(LLAMA))
        assert data["preset"] == want.model_dump()


def test_a_field_given_replaces_the_preset_as_the_simulation_runs_it(client: TestClient) -> None:
    """The scheduler the endpoint reports is the one POST /api/simulate runs, with and
    without kv_groups switched off; off, the KV cache holds the 601-token requests of 76."""
    for scheduler, room in (({}, 67), ({"kv_groups": False}, 76)):
        said = post(client, "/api/scheduler", {**BASE, "scheduler": scheduler})
        ran = post(client, "/api/simulate", {**BASE, "workload": LOAD, "scheduler": scheduler})
        assert said["scheduler"] == ran["scheduler"]
        assert ran["scheduler"]["kv_groups"] is not bool(scheduler)
        assert ran["kv_room_requests"] == room
        assert said["preset"]["kv_groups"] is True  # the preset, whatever is given
    # SGLang: a batch limit given replaces its request pool, as the engine reads it.
    sglang = {**BASE, "model": {"id": LLAMA}, "options": {"engine": "sglang"}}
    said = post(client, "/api/scheduler", {**sglang, "scheduler": {"max_batch": 64}})
    assert said["preset"]["request_pool"] is True and said["preset"]["max_batch"] == 4096
    assert (said["scheduler"]["request_pool"], said["scheduler"]["max_batch"]) == (False, 64)
    ran = post(
        client, "/api/simulate", {**sglang, "workload": LOAD, "scheduler": {"max_batch": 64}}
    )
    assert ran["scheduler"] == said["scheduler"]


def test_the_schema_lists_the_scheduler_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    route = schema["paths"]["/api/scheduler"]["post"]
    assert route["tags"] == ["serving"] and "422" in route["responses"]
    out = schema["components"]["schemas"]["SchedulerOut"]["properties"]
    assert set(out) == {"engine", "preset", "scheduler"}


# The page ---------------------------------------------------------------------------------------
def open_serve(browser, server: str, engine: str = "vllm"):
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    sent: list[dict] = []
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data)) if r.url.endswith("/jobs/simulate") else None
        ),
    )
    load = "serve.requests=20&serve.rate=4&serve.prompt=fixed:600&serve.output=fixed:1"
    page.goto(f"{server}/#model={GEMMA}&device=h100-sxm&engine={engine}&page=serve&{load}")
    page.wait_for_selector("body[data-rendered]", timeout=20_000)
    return page, sent


def wait_shown(page) -> None:
    """Until the scheduler's fields show the server's answer for the settings now shown."""
    page.wait_for_function(
        "() => { try { return document.querySelector('#serve-form').dataset.scheduler"
        " === schedulerAsk().key; } catch (e) { return false; } }",
        timeout=20_000,
    )


def test_the_form_shows_the_preset_and_a_true_switch_turns_off(server: str, browser) -> None:
    page, sent = open_serve(browser, server)
    wait_shown(page)
    # vLLM's preset for Gemma 3 27B on an H100, not the declared defaults.
    assert page.is_checked("#serve-kv_groups")
    assert page.is_checked("#serve-prefix_sharing") and page.is_checked("#serve-overlap")
    assert page.input_value("#serve-policy") == "chunked"
    assert page.input_value("#serve-max_batch") == "1024"
    assert page.input_value("#serve-block_size") == "16"
    assert page.is_hidden("#serve-hint-kv_groups")
    assert page.inner_text("#serve-preset-note").startswith("With vllm, each field shows")

    # Off: sent, kept in the URL, the preset's value beside it; the run holds 76 requests.
    page.uncheck("#serve-kv_groups")
    page.wait_for_function("() => location.hash.includes('serve.kv_groups=0')")
    assert page.inner_text("#serve-hint-kv_groups") == "vllm's preset: on"
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert sent[-1]["scheduler"] == {"kv_groups": False}
    assert page.evaluate("() => runs.serve.data.scheduler.kv_groups") is False
    assert page.inner_text("#serve-kv-room") == "76"
    assert page.inner_text("#serve-scheduler-kv_groups") == "off"

    # A reload keeps it off.
    page.reload()
    page.wait_for_selector("body[data-rendered]", timeout=20_000)
    wait_shown(page)
    assert not page.is_checked("#serve-kv_groups")

    # On again, the preset's value: not sent, gone from the URL, the run back at 67.
    page.check("#serve-kv_groups")
    page.wait_for_function("() => !location.hash.includes('serve.kv_groups')")
    assert page.is_hidden("#serve-hint-kv_groups")
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert "scheduler" not in sent[-1]
    assert page.inner_text("#serve-kv-room") == "67"
    page.close()


def test_numbers_follow_the_preset_and_the_engine_reads_the_fields_set(
    server: str, browser
) -> None:
    page, sent = open_serve(browser, server, engine="sglang")
    wait_shown(page)
    assert page.input_value("#serve-policy") == "continuous"
    assert page.input_value("#serve-max_batch") == "4096"
    assert page.input_value("#serve-max_tokens") == "16384"
    assert page.input_value("#serve-chunk_size") == "8192"
    assert page.input_value("#serve-block_size") == "1"
    for key in ("request_pool", "state_pool", "prefix_sharing", "overlap", "finished_step"):
        assert page.is_checked(f"#serve-{key}"), key
    # A batch limit of one's own: SGLang's request pool then goes, which the form shows.
    page.fill("#serve-max_batch", "64")
    page.wait_for_function("() => location.hash.includes('serve.max_batch=64')")
    wait_shown(page)
    assert not page.is_checked("#serve-request_pool")
    assert page.inner_text("#serve-hint-request_pool") == "sglang's preset: on"
    assert page.inner_text("#serve-hint-max_batch") == "sglang's preset: 4096"
    # No chunks (an empty chunk size) is a value of its own, sent as null.
    page.fill("#serve-chunk_size", "")
    page.wait_for_function("() => location.hash.includes('serve.chunk_size=')")
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert sent[-1]["scheduler"] == {"max_batch": 64, "chunk_size": None}
    used = page.evaluate("() => runs.serve.data.scheduler")
    assert (used["max_batch"], used["request_pool"], used["chunk_size"]) == (64, False, None)
    # An emptied batch limit follows the preset again, and shows it once left.
    page.fill("#serve-max_batch", "")
    page.wait_for_function("() => !location.hash.includes('serve.max_batch')")
    page.focus("#serve-max_tokens")
    page.wait_for_function("() => document.querySelector('#serve-max_batch').value === '4096'")
    page.fill("#serve-max_batch", "64")
    page.wait_for_function("() => location.hash.includes('serve.max_batch=64')")
    # Back to the preset: nothing set, the fields read the preset again.
    page.click("#serve-scheduler-reset")
    wait_shown(page)
    assert "serve.max_batch" not in page.url and "serve.chunk_size" not in page.url
    assert page.input_value("#serve-max_batch") == "4096"
    assert page.is_checked("#serve-request_pool")
    assert page.is_hidden("#serve-scheduler-reset")
    # Another engine: the fields follow its preset.
    page.click("details.group:has(#opt-engine) > summary")
    page.select_option("#opt-engine", "vllm")
    wait_shown(page)
    assert page.input_value("#serve-max_batch") == "1024"
    assert page.is_checked("#serve-kv_groups")
    assert not page.is_checked("#serve-request_pool")
    page.close()
