"""An engine's scheduler preset on the serving page: POST /api/scheduler says what a run would
use for the model, device and options (the preset, with the fields set in its place), the
form shows it, and a field changed from it is sent, a true preset switch turned off included
(the form sent nothing for an unticked box, so vLLM's kv_groups stayed on).

The browser test drives the page in a headless Chromium as tests/test_web_e2e.py does (its
`server` and `browser` fixtures)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import rooflens
import test_web_e2e as e2e
import test_web_serving as web_serving
from rooflens.api import resolve
from rooflens.cli.app import app
from rooflens.serving.config import ClusterConfig, SchedulerConfig
from rooflens.serving.presets import preset_for
from rooflens.serving.simulate import pools
from rooflens.serving.workload import LengthDistribution, Workload
from rooflens.settings import parse_settings

GEMMA = "google/gemma-3-27b-it"  # window layers: vLLM's KV groups matter
LLAMA = "meta-llama/Llama-3.1-8B"
# The browser tests' server and Chromium (skipped, as there, only where no Chromium is found).
server = e2e.server
browser = e2e.browser
LOAD = {"requests": 20, "rate": 4.0, "prompt": "fixed:600", "output": "fixed:1"}
BASE = {"model": {"id": GEMMA}, "device": {"name": "h100-sxm"}, "options": {"engine": "vllm"}}


# The serving endpoints' client and request helper, as tests/test_web_serving.py has them.
client = web_serving.client
post = web_serving.post


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
    # SGLang's chunked_prefill_size: 8,192 under 160 GiB (H100), 16,384 above (B200); its
    # request pool, sized from the KV cache, holds the batch to 2,048 on the H100.
    sglang = {"model": {"id": LLAMA}, "options": {"engine": "sglang"}}
    for device, chunk, batch in (("h100-sxm", 8192, 2048), ("b200", 16384, 4096)):
        data = post(client, "/api/scheduler", {**sglang, "device": {"name": device}})
        assert data["preset"]["chunk_size"] == data["scheduler"]["chunk_size"] == chunk
        want = preset_for("sglang", rooflens.get_device(device), rooflens.load_model(LLAMA))
        assert want.max_batch == 4096
        assert data["preset"] == {**want.model_dump(), "max_batch": batch}


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
    assert said["preset"]["request_pool"] is True and said["preset"]["max_batch"] == 2048
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
    return open_url(browser, server, f"model={GEMMA}&device=h100-sxm&engine={engine}")


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
    # The batch the run holds: SGLang's request pool for this KV cache, not 4,096.
    assert page.input_value("#serve-max_batch") == "2048"
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
    assert page.inner_text("#serve-hint-max_batch") == "sglang's preset: 2048"
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
    page.wait_for_function("() => document.querySelector('#serve-max_batch').value === '2048'")
    page.fill("#serve-max_batch", "64")
    page.wait_for_function("() => location.hash.includes('serve.max_batch=64')")
    # Back to the preset: nothing set, the fields read the preset again.
    page.click("#serve-scheduler-reset")
    wait_shown(page)
    assert "serve.max_batch" not in page.url and "serve.chunk_size" not in page.url
    assert page.input_value("#serve-max_batch") == "2048"
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


# What the QA pass found -------------------------------------------------------------------------
QWEN = "Qwen/Qwen3.5-9B"  # hybrid: SGLang's state pools hold its batch


def test_the_endpoint_reports_the_batch_the_run_holds(client: TestClient) -> None:
    """SGLang's request pool (Llama 3.1 8B) and a hybrid's state pools (Qwen3.5 9B) hold the
    batch at run time: /api/scheduler says the batch /api/simulate reports (it said 4,096),
    sized for the workload and cluster sent."""
    for model, batch in ((LLAMA, 2048), (QWEN, 163)):
        body = {"model": {"id": model}, "device": {"name": "h100-sxm"}}
        body["options"] = {"engine": "sglang"}
        said = post(client, "/api/scheduler", {**body, "workload": LOAD})
        ran = post(client, "/api/simulate", {**body, "workload": LOAD})
        assert said["scheduler"] == ran["scheduler"], model
        assert said["preset"]["max_batch"] == ran["scheduler"]["max_batch"] == batch, model
    # A disaggregated decode pool of 8 GPUs holds a KV cache whose request pool is 4,096.
    body = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}, "workload": LOAD}
    body |= {"options": {"engine": "sglang"}, "cluster": {"disaggregated": True, "decode_tp": 8}}
    said = post(client, "/api/scheduler", body)
    ran = post(client, "/api/simulate", body)
    assert said["scheduler"]["max_batch"] == ran["scheduler"]["max_batch"] == 4096
    # Left out, the workload and cluster size the replicas as the defaults do.
    plain = {k: v for k, v in body.items() if k not in ("workload", "cluster")}
    assert post(client, "/api/scheduler", plain)["scheduler"]["max_batch"] == 2048
    # A batch limit given replaces the pool: it runs as given.
    said = post(client, "/api/scheduler", {**body, "scheduler": {"max_batch": 3000}})
    assert (said["scheduler"]["max_batch"], said["preset"]["max_batch"]) == (3000, 4096)


REFUSED = [
    # A scheduler the replicas refuse (prepare's checks), or its schema.
    ({"scheduler": {"max_tokens": 100}}, ["scheduler", "max_tokens"],
     "scheduler.max_tokens=100 is invalid: expected at least max_batch=1024"),
    ({"scheduler": {"chunk_size": -1}}, ["scheduler", "chunk_size"],
     "scheduler.chunk_size=-1 is invalid: expected an integer of at least 1"),
    # A workload: its schema, its lengths, the viewer's cap on work, a closed loop's arrivals.
    ({"workload": {"requests": 0}}, ["workload", "requests"],
     "workload.requests=0 is invalid: expected an integer of at least 1"),
    ({"workload": {"prompt": "uniform:9:x"}}, ["workload", "prompt"],
     "workload.prompt='uniform:9:x' is invalid: expected N (fixed), fixed:N, uniform:LOW:HIGH"),
    ({"workload": {"requests": 5000, "output": "fixed:4000"}}, ["workload", "requests"],
     "workload.requests=5000 is invalid: these requests could take 20,005,000 engine"),
    ({"workload": {"concurrency": 4, "rate": 2.0}}, ["workload", "rate"],
     "workload.rate=2.0 is invalid: no arrivals beside workload.concurrency"),
    ({"workload": {"prompt": "fixed:200000"}}, ["workload", "prompt"],
     "workload.prompt: prompt + output=201024 is invalid: expected at most 131072 tokens"),
    # A cluster: its schema, and a pool's parallelism the model cannot take.
    ({"cluster": {"replicas": 0}}, ["cluster", "replicas"],
     "cluster.replicas=0 is invalid: expected an integer of at least 1"),
    ({"cluster": {"decode_tp": 3}}, ["cluster", "decode_tp"],
     "cluster.decode_tp=3 is invalid: empty unless disaggregated"),
    ({"cluster": {"disaggregated": True, "decode_tp": 3}}, ["cluster", "decode_tp"],
     "cluster.decode_tp=3 is invalid: expected a divisor of meta-llama/Llama-3.1-8B's 32"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "loc", "message"), REFUSED)
def test_the_scheduler_endpoint_refuses_what_the_run_refuses(
    client: TestClient, change: dict, loc: list[str], message: str
) -> None:
    """A workload or cluster the run refuses had been answered with the defaults' scheduler,
    and max_tokens below max_batch taken: refused alike, the same 422 as the run's."""
    body = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}, "options": {"engine": "vllm"}}
    body |= change
    said = post(client, "/api/scheduler", body, 422)
    assert said["message"].startswith(message), said["message"]
    assert said["detail"][0]["loc"] == ["body", *loc]
    assert post(client, "/api/simulate", body, 422) == said


def test_a_model_that_does_not_fit_still_shows_its_preset(client: TestClient) -> None:
    """No room for a KV cache is the run's to say (the page shows why): the preset shows."""
    body = {"model": {"id": "deepseek-ai/DeepSeek-V3"}, "device": {"name": "h100-sxm"}}
    said = post(client, "/api/scheduler", {**body, "options": {"engine": "vllm"}})
    assert said["engine"] == "vllm" and said["scheduler"]["max_batch"] == 1024
    ran = post(client, "/api/simulate", {**body, "options": {"engine": "vllm"}}, 422)
    assert ran["detail"][0]["loc"] == ["body", "device"]
    # Named as the request names it (it read "device: hardware='h100-sxm' is invalid").
    assert ran["message"].startswith("device='h100-sxm' is invalid: expected a device with room")


def test_every_empty_scheduler_setting_says_what_it_means() -> None:
    """The page names an empty (None) scheduler value by its declared help's "empty: ..."."""
    nullable = {k: f for k, f in SchedulerConfig.model_fields.items() if f.default is None}
    assert set(nullable) == {"chunk_size", "max_len"}
    meanings = {
        k: re.search(r"empty: ([^.;]+)", f.description).group(1) for k, f in nullable.items()
    }
    assert meanings == {"chunk_size": "the token budget", "max_len": "the model's maximum"}


def test_the_request_pool_cap_matches_the_simulator() -> None:
    """simulate.pools, which the endpoint calls, holds the batch as run() does."""
    spec = rooflens.load_model(QWEN)
    device = rooflens.get_device("h100-sxm")
    scheduler = preset_for("sglang", device, spec)
    options = resolve(spec, device, parse_settings({"engine": "sglang"}))[2]
    *_, held = pools(spec, device, options, scheduler, ClusterConfig(), 601, 600)
    assert held.max_batch == 163 and scheduler.max_batch == 4096
    workload = Workload(
        requests=20,
        prompt=LengthDistribution.parse("prompt", "fixed:600"),
        output=LengthDistribution.parse("output", "fixed:1"),
    )
    ran = rooflens.simulate(spec, device, workload, engine="sglang")
    assert ran.scheduler == held


def open_url(browser, server: str, query: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    sent: list[dict] = []
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data)) if r.url.endswith("/jobs/simulate") else None
        ),
    )
    load = "serve.requests=20&serve.rate=4&serve.prompt=fixed:600&serve.output=fixed:1"
    page.goto(f"{server}/#{query}&page=serve&{load}")
    page.wait_for_selector("body[data-rendered]", timeout=20_000)
    return page, sent


def assert_vllm_preset(page, bad: str | None) -> None:
    """vLLM's preset for Llama 3.1 8B on an H100 shown, the bad field alone marked."""
    assert page.input_value("#serve-policy") == "chunked"
    for key in ("kv_groups", "prefix_sharing", "overlap"):
        assert page.is_checked(f"#serve-{key}"), key
    assert page.inner_text("#serve-preset-note").startswith("With vllm, each field shows")
    marked = page.evaluate(
        "() => [...document.querySelectorAll('#serve-form .refused')].map((e) => e.dataset.key)"
    )
    assert marked == ([bad] if bad else [])


def test_a_bad_scheduler_value_leaves_the_preset_shown(server: str, browser) -> None:
    """One value the API refuses had made every field show the declared defaults."""
    base = f"model={LLAMA}&device=h100-sxm&engine=vllm"
    for query, bad in (
        ("serve.max_batch=5000", "max_batch"),
        ("serve.max_batch=abc", "max_batch"),
        ("serve.block_size=1.5", "block_size"),
    ):
        page, _ = open_url(browser, server, f"{base}&{query}")
        wait_shown(page)
        assert_vllm_preset(page, bad)
        assert page.inner_text(f"#serve-hint-{bad}") == (
            "vllm's preset: 1024" if bad == "max_batch" else "vllm's preset: 16"
        )
        if bad == "block_size":
            assert page.input_value("#serve-max_batch") == "1024"
        assert page.inner_text("#serve-scheduler-reset") == "back to vllm's preset"
        refused = page.get_attribute("#serve-form", "data-scheduler-refused")
        assert refused.startswith(f"scheduler.{bad}="), refused
        assert "None" not in refused
        page.close()
    # Text in the link is named as written, not as Python's None.
    page, sent = open_url(browser, server, f"{base}&serve.max_batch=abc")
    wait_shown(page)
    page.click("#run-serve")
    page.wait_for_selector("#page-serve[data-state='failed']", timeout=20_000)
    assert page.inner_text("#error-text").startswith("scheduler.max_batch='abc' is invalid")
    page.close()
    # An empty one is not set: the preset's, nothing sent.
    page, sent = open_url(browser, server, f"{base}&serve.max_batch=")
    wait_shown(page)
    assert_vllm_preset(page, None)
    assert page.input_value("#serve-max_batch") == "1024"
    assert page.is_hidden("#serve-hint-max_batch") and page.is_hidden("#serve-scheduler-reset")
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert "scheduler" not in sent[-1]
    # Typed, then another engine: its preset shows, the bad field marked.
    page.fill("#serve-max_batch", "5000")
    wait_shown(page)
    assert_vllm_preset(page, "max_batch")
    page.click("details.group:has(#opt-engine) > summary")
    page.select_option("#opt-engine", "sglang")
    wait_shown(page)
    assert page.input_value("#serve-policy") == "continuous"
    assert page.input_value("#serve-max_batch") == "5000"
    assert page.inner_text("#serve-hint-max_batch") == "sglang's preset: 2048"
    assert page.is_checked("#serve-request_pool") and page.is_checked("#serve-state_pool")
    assert page.inner_text("#serve-preset-note").startswith("With sglang")
    # A good value again: the mark goes.
    page.fill("#serve-max_batch", "64")
    wait_shown(page)
    assert page.evaluate("() => document.querySelectorAll('#serve-form .refused').length") == 0
    assert not page.is_checked("#serve-request_pool")
    page.close()


def test_text_that_is_no_number_stays_and_is_refused(server: str, browser) -> None:
    """'5e' in a scheduler box had been replaced by '5' once the box was left, and run."""
    page, sent = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=vllm")
    wait_shown(page)
    # An earlier error, which the banner must not keep showing.
    page.fill("#serve-max_batch", "5000")
    page.click("#run-serve")
    page.wait_for_selector("#page-serve[data-state='failed']", timeout=20_000)
    assert page.inner_text("#error-text").startswith("scheduler.max_batch=5000")
    page.fill("#serve-max_batch", "")
    page.focus("#serve-max_batch")
    page.keyboard.type("5e")
    bad = "() => document.querySelector('#serve-max_batch').validity.badInput"
    assert page.evaluate(bad)
    page.focus("#serve-max_tokens")
    wait_shown(page)
    page.wait_for_timeout(200)  # the focusout's redraw
    assert page.evaluate(bad), "the text typed was replaced"
    runs = len(sent)
    page.click("#run-serve")
    assert page.inner_text("#serve-status") == "max batch: not a number"
    assert page.inner_text("#error-text") == "max batch: not a number"
    assert page.get_attribute("#serve-max_batch", "class").split().count("invalid") == 1
    page.wait_for_timeout(300)
    assert len(sent) == runs
    page.close()


def test_a_switch_the_engine_turned_off_can_be_ticked(server: str, browser) -> None:
    """SGLang turns its request pool off for a max batch given: ticking it had read as
    "the preset's value" and was recorded off."""
    page, sent = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=sglang")
    wait_shown(page)
    page.fill("#serve-max_batch", "128")
    wait_shown(page)
    assert not page.is_checked("#serve-request_pool")
    page.click("#serve-request_pool")
    page.wait_for_function("() => location.hash.includes('serve.request_pool=1')")
    wait_shown(page)
    assert page.is_checked("#serve-request_pool")
    assert page.is_hidden("#serve-hint-request_pool")  # the preset's value: on
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert sent[-1]["scheduler"] == {"max_batch": 128, "request_pool": True}
    used = page.evaluate("() => runs.serve.data.scheduler")
    assert (used["max_batch"], used["request_pool"]) == (128, True)
    # Off again: sent off.
    page.click("#serve-request_pool")
    page.wait_for_function("() => location.hash.includes('serve.request_pool=0')")
    assert not page.is_checked("#serve-request_pool")
    page.close()


def test_the_form_shows_the_batch_the_run_used(server: str, browser) -> None:
    """Qwen3.5 9B with SGLang: its state pools hold the batch to 163, which the form said
    was 4,096; the card and the form agree."""
    page, _ = open_url(browser, server, f"model={QWEN}&device=h100-sxm&engine=sglang")
    wait_shown(page)
    assert page.input_value("#serve-max_batch") == "163"
    assert page.is_hidden("#serve-hint-max_batch")
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert page.inner_text("#serve-scheduler-max_batch") == "163"
    assert page.evaluate("() => runs.serve.data.scheduler.max_batch") == 163
    title = "#serve-cards .card:has(#serve-scheduler-max_batch) h3"
    assert page.inner_text(title) == "Scheduler used (sglang's preset where not set)"
    page.close()


def test_the_card_names_a_preset_only_where_one_applied(server: str, browser) -> None:
    page, _ = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=transformers")
    wait_shown(page)
    assert page.is_hidden("#serve-preset-note")
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    title = "#serve-cards .card:has(#serve-scheduler-max_batch) h3"
    assert page.inner_text(title) == "Scheduler used"
    assert page.inner_text("#serve-scheduler-max_batch") == "256"
    page.close()


def test_a_preset_of_none_is_named_as_the_box_names_it(server: str, browser) -> None:
    page, _ = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=vllm")
    wait_shown(page)
    assert page.get_attribute("#serve-chunk_size", "placeholder") == "none"
    page.fill("#serve-chunk_size", "512")
    page.wait_for_function("() => location.hash.includes('serve.chunk_size=512')")
    assert page.inner_text("#serve-hint-chunk_size") == "vllm's preset: none (the token budget)"
    page.close()


def shown_errors(page) -> dict[str, str]:
    """The serving form's lines beneath a field saying why the server refused it, by field."""
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#serve-form .field-error')]"
        ".filter((e) => !e.hidden).map((e) => [e.id.replace('serve-error-', ''), e.innerText])"
        ")"
    )


def test_a_refused_scheduler_field_says_why_beside_it_at_once(server: str, browser) -> None:
    """The message of a field /api/scheduler refused had shown only once the user ran."""
    page, sent = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=vllm")
    wait_shown(page)
    assert shown_errors(page) == {}
    # Below vLLM's batch of 1,024: refused by the replicas, as the run refuses it.
    page.fill("#serve-max_tokens", "100")
    page.wait_for_function("() => location.hash.includes('serve.max_tokens=100')")
    wait_shown(page)
    want = "scheduler.max_tokens=100 is invalid: expected at least max_batch=1024"
    assert shown_errors(page) == {"max_tokens": want}
    assert page.is_visible("#serve-error-max_tokens")
    assert "refused" in page.get_attribute("#serve-max_tokens", "class").split()
    assert page.input_value("#serve-max_batch") == "1024"  # the preset still shown
    # Mended, the line goes; another field refused says its own.
    page.fill("#serve-max_tokens", "")
    page.fill("#serve-chunk_size", "-5")
    page.wait_for_function("() => location.hash.includes('serve.chunk_size=-5')")
    wait_shown(page)
    assert shown_errors(page) == {
        "chunk_size": "scheduler.chunk_size=-5 is invalid: expected an integer of at least 1"
    }
    page.fill("#serve-chunk_size", "512")
    page.wait_for_function("() => location.hash.includes('serve.chunk_size=512')")
    wait_shown(page)
    assert shown_errors(page) == {}
    assert page.evaluate("() => document.querySelectorAll('#serve-form .refused').length") == 0
    assert sent == []  # all said without a run
    page.close()


def assert_sglang_preset(page) -> None:
    """SGLang's preset for Llama 3.1 8B on an H100, its batch held by its request pool."""
    assert page.input_value("#serve-policy") == "continuous"
    assert page.input_value("#serve-max_batch") == "2048"
    assert page.input_value("#serve-chunk_size") == "8192"
    assert page.is_checked("#serve-request_pool")
    assert page.inner_text("#serve-preset-note").startswith("With sglang")


def test_a_refused_workload_or_cluster_is_named_and_the_preset_stays(server: str, browser) -> None:
    """/api/scheduler had answered a workload or cluster the run refuses with the defaults'
    scheduler, unsaid; refused, its field says why and the fields keep the preset."""
    page, sent = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=sglang")
    wait_shown(page)
    assert_sglang_preset(page)
    page.fill("#serve-requests", "0")
    page.wait_for_function("() => location.hash.includes('serve.requests=0')")
    wait_shown(page)
    want = "workload.requests=0 is invalid: expected an integer of at least 1"
    assert shown_errors(page) == {"requests": want}
    assert "refused" in page.get_attribute("#serve-requests", "class").split()
    assert_sglang_preset(page)
    page.fill("#serve-requests", "20")
    page.wait_for_function("() => location.hash.includes('serve.requests=20')")
    wait_shown(page)
    assert shown_errors(page) == {}
    # A decode pool's width without disaggregation.
    page.fill("#serve-decode_tp", "3")
    page.wait_for_function("() => location.hash.includes('serve.decode_tp=3')")
    wait_shown(page)
    errors = shown_errors(page)
    assert list(errors) == ["decode_tp"]
    assert errors["decode_tp"].startswith(
        "cluster.decode_tp=3 is invalid: empty unless disaggregated"
    )
    assert_sglang_preset(page)
    assert sent == []
    page.close()
    # A link whose workload the run refuses, nothing answered before: the preset as the
    # default workload sizes it, the field saying why.
    page, _ = open_url(
        browser, server, f"model={LLAMA}&device=h100-sxm&engine=sglang&serve.shared_prefix=-1"
    )
    wait_shown(page)
    errors = shown_errors(page)
    assert errors == {
        "shared_prefix": "workload.shared_prefix=-1 is invalid: expected an integer of at least 0"
    }
    assert_sglang_preset(page)
    page.close()


def test_the_card_says_what_an_empty_setting_runs_at(server: str, browser) -> None:
    """The Scheduler used card showed vLLM's empty chunk size as a bare dash."""
    page, _ = open_url(browser, server, f"model={LLAMA}&device=h100-sxm&engine=vllm")
    wait_shown(page)
    page.click("#run-serve")
    page.wait_for_selector("body[data-served='1']", timeout=60_000)
    assert page.evaluate("() => runs.serve.data.scheduler.chunk_size") is None
    assert page.inner_text("#serve-scheduler-chunk_size") == "none (the token budget)"
    assert page.inner_text("#serve-scheduler-max_tokens") == "8192"
    # A length reserved per request, set: the hint beneath it names the preset's empty one.
    page.fill("#serve-max_len", "4096")
    page.wait_for_function("() => location.hash.includes('serve.max_len=4096')")
    assert page.inner_text("#serve-hint-max_len") == "vllm's preset: none (the model's maximum)"
    page.close()


def test_a_preset_apart_from_the_engine_is_the_apis(client: TestClient) -> None:
    """`preset` (rooflens simulate --preset) takes another engine's scheduler: without an
    engine over the roofline bound, or beside one, whose profile still prices the run (a
    note says so). Another engine's release is not read as the preset's (SGLang 0.5.14 read
    as vLLM's release turned vLLM's async scheduling off)."""
    base = {"model": LLAMA, "device": "h100-sxm"}
    answer = post(client, "/api/scheduler", {**base, "preset": "TensorRT-LLM"})
    want = preset_for(
        "trtllm", rooflens.get_device("h100-sxm"), resolve(LLAMA, "h100-sxm", parse_settings({}))[0]
    )
    assert answer["engine"] == "trtllm"
    assert answer["preset"] == answer["scheduler"] == want.model_dump()
    sglang = {"engine": "sglang", "engine_version": "0.5.14"}
    mixed = post(client, "/api/scheduler", {**base, "options": sglang, "preset": "vllm"})
    assert mixed["engine"] == "vllm" and mixed["preset"]["overlap"] is True
    old = {"engine": "vllm", "engine_version": "0.11.0"}  # before vLLM's async scheduling
    assert post(client, "/api/scheduler", {**base, "options": old})["preset"]["overlap"] is False
    # The run is the API's with that preset, and says whose profile priced it.
    load = {"requests": 16, "concurrency": 4, "prompt": "fixed:256", "output": "fixed:16"}
    ran = post(
        client, "/api/simulate", {**base, "options": sglang, "preset": "vllm", "workload": load}
    )
    lengths = Workload(
        requests=16,
        prompt=LengthDistribution(kind="fixed", a=256),
        output=LengthDistribution(kind="fixed", a=16),
    )
    api = rooflens.simulate(LLAMA, "h100-sxm", lengths, concurrency=4, preset="vllm", **sglang)
    assert ran["summary"]["ttft_mean"] == pytest.approx(api.summary()["ttft_mean"])
    assert ran["notes"] == [
        "preset=vllm: vllm's scheduler with sglang's profile, kernels and memory share"
    ]
    refused = client.post("/api/simulate", json={**base, "preset": "tgi"})
    assert refused.status_code == 422
    assert (
        refused.json()["message"] == "preset='tgi' is invalid: expected one of vllm, sglang, trtllm"
    )


def test_empty_text_leaves_a_scheduler_field_or_the_preset_out_as_the_command_line() -> None:
    """`--chunk-size ""` under SGLang's preset runs the preset's 8,192-token chunks and
    `--preset ""` no preset; the API refused both (text in a number's place, not a preset).
    Empty text now leaves the field out there too, where null stays a value of its own (no
    chunks); a field that may not be empty is still refused, as on the command line."""
    body = {"model": "gpt2", "device": "h100-sxm", "workload": {"requests": 4}}
    with TestClient(rooflens.web.app.create_app(), base_url="http://localhost") as api:
        chunks = {}
        for sent in ("", None, 512):
            answer = api.post(
                "/api/simulate", json=body | {"preset": "sglang", "scheduler": {"chunk_size": sent}}
            )
            chunks[sent] = answer.json()["scheduler"]["chunk_size"]
        assert chunks == {"": 8192, None: None, 512: 512}
        no_preset = api.post("/api/scheduler", json={**body, "preset": "", "workload": None})
        assert no_preset.status_code == 200 and no_preset.json()["engine"] is None
        # Left out, the options' engine brings its own preset, as with no preset sent.
        engine = {**body, "options": {"engine": "sglang"}, "workload": None}
        own = api.post("/api/scheduler", json={**engine, "preset": ""}).json()
        assert own["engine"] == "sglang" and own == api.post("/api/scheduler", json=engine).json()
        split = api.post("/api/simulate", json=body | {"cluster": {"prefill_tp": ""}})
        assert split.status_code == 200
        refused = api.post("/api/simulate", json=body | {"scheduler": {"max_batch": ""}})
        assert refused.status_code == 422
        assert refused.json()["message"].startswith("scheduler.max_batch='' is invalid")
    cli = CliRunner()
    args = ["simulate", "gpt2", "-H", "h100-sxm", "--requests", "4", "-f", "json"]
    ran = cli.invoke(app, [*args, "--preset", "sglang", "--chunk-size", ""])
    assert ran.exit_code == 0 and json.loads(ran.output)["scheduler"]["chunk_size"] == 8192
    assert cli.invoke(app, [*args, "--max-batch", ""]).exit_code == 2
