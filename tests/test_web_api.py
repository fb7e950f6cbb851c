"""The web API through FastAPI's test client: the same numbers as `rooflens.api`, a 422 that
names the field, caps on sizes, and no way to make it read a path or reach the Hub."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rooflens import api
from rooflens.cli.app import app
from rooflens.core.results import compare
from rooflens.hardware.catalog import catalog
from rooflens.models.catalog import bundled_config, bundled_models
from rooflens.settings import SETTING_NAMES
from rooflens.web import create_app
from rooflens.web import schemas as s
from rooflens.web.app import plotly_url

LLAMA = "meta-llama/Llama-3.1-8B"
SCENARIO = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}, "batch": 4, "prompt_len": 1024}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


def post(client: TestClient, path: str, body: object) -> dict:
    res = client.post(path, json=body)
    assert res.status_code == 200, res.text
    return res.json()


def error(client: TestClient, path: str, body: object, status: int = 422) -> dict:
    res = client.post(path, json=body)
    assert res.status_code == status, res.text
    return res.json()


# Same numbers as the Python API ----------------------------------------------------------------
def test_analyze_totals_equal_the_python_api(client: TestClient) -> None:
    options = {"w_bits": 4, "group_size": 128, "flash_attention": True, "kv_bits": 8}
    data = post(client, "/api/analyze", {**SCENARIO, "gen_len": 256, "options": options})
    want = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=256, **options)
    for stage, row in want.totals().items():
        for key in ("time", "ops", "memory_access", "load_weight", "load_kv"):
            assert data["totals"][stage][key] == pytest.approx(float(row[key]), rel=1e-12)
    assert data["generation"]["tpot"] == pytest.approx(float(want.generation["tpot"]), rel=1e-12)
    assert data["memory"]["decode"]["weights"] == float(want.memory["decode"].weights)
    assert data["model"]["params"] == want.params == 8_030_261_248
    assert data["model"]["active_params"] == 8_030_261_248  # dense: every parameter
    moe = post(client, "/api/analyze", {**SCENARIO, "model": {"id": "Qwen/Qwen3-30B-A3B"}})
    assert (moe["model"]["params"], moe["model"]["active_params"]) == (
        30_532_122_624,
        3_353_032_704,
    )


def test_analyze_states_its_inputs_and_rows_as_the_cli_json_does(client: TestClient) -> None:
    """The web's inputs left out the format (NVFP4 read as INT4 at 4 bits), groups and the
    experts' weights; its rows left out `mlp_width`, so Nemotron's pruned MLPs listed
    gate_proj rows that nothing told apart; its devices left out the TDP energy rests on."""
    nemotron = "nvidia/Llama-3_3-Nemotron-Super-49B-v1"
    body = {"model": {"id": nemotron}, "device": {"name": "h100-sxm"}, "options": {"tp": 2},
            "gen_len": 128, "stage": "decode"}  # fmt: skip
    data = post(client, "/api/analyze", body)
    args = ["analyze", nemotron, "-H", "h100-sxm", "--tp", "2", "--gen-len", "128"]
    cli = json.loads(CliRunner().invoke(app, [*args, "--stage", "decode", "-f", "json"]).stdout)
    assert data["inputs"] == cli["inputs"]
    widths = sorted(o["mlp_width"] for o in data["operators"] if o["name"] == "gate_proj")
    assert widths == sorted(o["mlp_width"] for o in cli["operators"] if o["name"] == "gate_proj")
    assert widths[:2] == [1408, 2816]
    assert data["device"]["tdp"] == 700
    nvfp4 = {"model": {"id": "nvidia/Qwen3-32B-NVFP4"}, "device": {"name": "b200"}}
    assert post(client, "/api/analyze", nvfp4)["inputs"]["w_format"] == "nvfp4"


def test_analyze_and_sweep_say_what_the_cli_json_says_beside_the_figures(
    client: TestClient,
) -> None:
    """The web's analysis left out the devices its figures are per device of, an engine's
    activation reserve and the KV layers its groups hold; its sweep, the fallbacks that
    priced NVFP4 on an H100 and the notes."""
    body = {"model": {"id": "google/gemma-3-27b-it"}, "device": {"name": "h100-sxm"},
            "options": {"engine": "vllm"}}  # fmt: skip
    data = post(client, "/api/analyze", body)
    args = ["analyze", "google/gemma-3-27b-it", "-H", "h100-sxm", "--engine", "vllm"]
    cli = json.loads(CliRunner().invoke(app, [*args, "--gen-len", "128", "-f", "json"]).stdout)
    for key in ("devices", "activation_reserve_tokens", "kv_layers_held"):
        assert data[key] == cli[key]
    assert (data["devices"], data["kv_layers_held"]) == (1, 70)
    nvfp4 = {"model": {"id": "nvidia/Qwen3-32B-NVFP4"}, "device": {"name": "h100-sxm"},
             "options": {"engine": "vllm"}, "batch": [1, 8]}  # fmt: skip
    swept = post(client, "/api/sweep", nvfp4)
    args = ["sweep", "nvidia/Qwen3-32B-NVFP4", "-H", "h100-sxm", "--engine", "vllm"]
    cli = json.loads(CliRunner().invoke(app, [*args, "--batch", "1,8", "-f", "json"]).stdout)
    # Two of its own, and the line a prefill past vLLM's graphs adds.
    assert swept["fallbacks"] == cli["fallbacks"] and len(cli["fallbacks"]) == 3
    assert swept["notes"] == cli["notes"]


def test_analyze_lists_the_vision_stage_alone_as_the_cli_does(client: TestClient) -> None:
    """`--stage vision` listed Gemma 3's image encoder, where the API refused stage "vision"
    (prefill, decode or all only); without images both name what the stage needs."""
    gemma = "google/gemma-3-27b-it"
    body = {"model": gemma, "device": "h100-sxm", "images": 2, "prompt_len": 512}
    data = post(client, "/api/analyze", {**body, "stage": "vision"})
    args = ["analyze", gemma, "-H", "h100-sxm", "--images", "2", "--prompt-len", "512"]
    cli = json.loads(CliRunner().invoke(app, [*args, "--stage", "vision", "-f", "json"]).stdout)
    assert [o["name"] for o in data["operators"]] == [o["name"] for o in cli["operators"]]
    assert {o["stage"] for o in data["operators"]} == {"vision"} and len(data["operators"]) == 19
    refused = client.post("/api/analyze", json={"model": gemma, "device": "h100-sxm",
                                                "stage": "vision"})  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["message"] == (
        "stage='vision' is invalid: expected prefill, decode or all (vision: with images)"
    )


def test_empty_text_is_a_setting_left_out_as_its_message_says(client: TestClient) -> None:
    """w_scale="" was refused with "... (or empty)", as were nm_sparsity, low_rank_layers,
    engine and calibration, where engine_version="" was taken as not given and the command
    line takes these settings' empty values so; a list's empty text stays the empty list. A
    drafter is no setting that may be empty: "" is refused, as --draft "" is."""
    body = {"model": "gpt2", "device": "h100-sxm", "prompt_len": 64, "gen_len": 8}
    plain = post(client, "/api/analyze", body)
    for options in (
        {"w_scale": ""}, {"nm_sparsity": " "}, {"low_rank_layers": ""}, {"engine": ""},
        {"calibration": ""}, {"w_bits": ""},
    ):  # fmt: skip
        data = post(client, "/api/analyze", {**body, "options": options})
        assert data["totals"] == plain["totals"] and data["estimate"] == "roofline bound"
        res = api.analyze("gpt2", "h100-sxm", prompt_len=64, gen_len=8, **options)
        assert float(res.totals()["decode"]["time"]) == plain["totals"]["decode"]["time"]
    drafted = client.post("/api/analyze", json={**body, "speculative": {"draft": ""}})
    assert drafted.status_code == 422 and "speculative.draft=''" in drafted.json()["message"]
    unfused = post(client, "/api/analyze", {**body, "options": {"fusion": ""}})
    want = api.analyze("gpt2", "h100-sxm", prompt_len=64, gen_len=8, fusion=())
    assert unfused["totals"]["decode"]["time"] == float(want.totals()["decode"]["time"])


def test_analyze_operators_follow_the_graph_with_shares(client: TestClient) -> None:
    data = post(client, "/api/analyze", {**SCENARIO, "stage": "decode"})
    ops = data["operators"]
    want = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=128).operators()
    want = want[want.stage == "decode"]
    assert [o["name"] for o in ops] == list(want.name)
    assert [o["index"] for o in ops] == list(range(len(ops)))
    assert {o["stage"] for o in ops} == {"decode"}
    assert sum(o["share"] for o in ops) == pytest.approx(1.0)
    q = next(o for o in ops if o["name"] == "q_proj")
    row = want[want.name == "q_proj"].iloc[0]
    assert q["time"] == pytest.approx(row.time) and q["bound"] == row.bound == "memory"
    assert q["total_time"] == pytest.approx(row.time * row["count"])


@pytest.mark.parametrize(
    ("model", "options"),
    [
        (LLAMA, {"gen_len": 128}),
        ("deepseek-ai/DeepSeek-V3", {"tp": 8, "w_bits": 8, "gen_len": 64}),
        ("google/gemma-3-27b-it", {"images": 1, "kv_budget": 512}),
        ("openai/gpt-oss-120b", {"tp": 2, "offload_kv": True}),
    ],
)
def test_operator_columns_are_the_operator_table(model: str, options: dict) -> None:
    # The web and the CLI read the table's columns without building a frame; they must be
    # the frame's, value for value (NaN where the frame has NaN).
    result = api.analyze(model, "h100-sxm", batch=4, prompt_len=1024, **options)
    frame = result.operators().to_dict(orient="list")
    got = api.operator_columns(result)
    assert list(got) == list(frame)

    def same(a: object, b: object) -> bool:
        both_nan = isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)
        return type(a) is type(b) and (a == b or both_nan)

    for column, values in frame.items():
        assert len(got[column]) == len(values)
        assert all(same(a, b) for a, b in zip(got[column], values, strict=True)), column


def test_bottlenecks_carry_the_report_advice(client: TestClient) -> None:
    from rooflens.views.report import ADVICE

    data = post(client, "/api/analyze", SCENARIO)
    decode = data["totals"]["decode"]["bottlenecks"]
    # Equal shares keep the graph's order.
    assert [b["name"] for b in decode] == ["gate_proj", "up_proj", "down_proj"]
    assert all(b["advice"] == ADVICE["memory"] for b in decode)


def test_roofline_lists_the_peaks_in_use(client: TestClient) -> None:
    data = post(client, "/api/analyze", {**SCENARIO, "options": {"w_bits": 8, "a_bits": 8}})
    h100 = catalog()["h100-sxm"]
    # W8A8 projections on INT8, attention on the 16-bit KV cache in BF16, norms on FP32.
    assert data["roofline"] == {
        "memory_bandwidth": h100.memory_bandwidth,
        "peaks": {d: h100.peak_ops[d] for d in ("bf16", "fp32", "int8")},
    }
    dtypes = {o["name"]: o["compute_dtype"] for o in data["operators"]}
    assert dtypes["q_proj"] == "int8" and dtypes["qk_matmul"] == "bf16"


def test_sweep_equals_the_python_api(client: TestClient) -> None:
    body = {
        "model": {"id": LLAMA},
        "device": {"name": "a6000"},
        "batch": [1, 8, 64],
        "prompt_len": [128, 2048],
        "gen_len": [64],
    }
    data = post(client, "/api/sweep", body)
    want = api.sweep(LLAMA, "a6000", batch=[1, 8, 64], prompt_len=[128, 2048], gen_len=[64])
    assert data["columns"] == list(want.columns)
    assert len(data["rows"]) == 6
    got = [r["tpot"] for r in data["rows"]]
    np.testing.assert_allclose(got, want.tpot.to_numpy(), rtol=1e-12)
    assert data["estimate"] == "roofline bound"


def test_a_sweep_names_its_profile_and_refuses_a_value_given_twice(client: TestClient) -> None:
    """The answer had held only columns and rows, whatever engine priced them; and a repeated
    value gave a repeated row where rooflens.sweep refuses it."""
    body = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}, "batch": [2, 8]}
    data = post(client, "/api/sweep", {**body, "options": {"engine": "vllm"}})
    assert data["estimate"] == api.analyze(LLAMA, "h100-sxm", engine="vllm").options.estimate
    assert "vllm" in data["estimate"]
    refused = error(client, "/api/sweep", {**body, "batch": [8, 2, 8]})
    assert refused["message"] == (
        "batch=[8, 2, 8] is invalid: expected each value once (a sweep has one row per point), "
        "not 8 again"
    )
    assert refused["detail"][0]["loc"] == ["body", "batch"]


def test_sweep_takes_a_requests_images(client: TestClient) -> None:
    """`rooflens sweep --images` and `rooflens.sweep(images=...)` took them; the web refused
    the field."""
    vl = "Qwen/Qwen3-VL-4B-Instruct"
    body = {"model": {"id": vl}, "device": {"name": "h100-sxm"}, "batch": [1, 2],
            "prompt_len": [512], "images": 1}  # fmt: skip
    data = post(client, "/api/sweep", body)
    want = api.sweep(vl, "h100-sxm", batch=[1, 2], prompt_len=[512], images=1)
    assert [r["vision_time"] for r in data["rows"]] == pytest.approx(list(want["vision_time"]))
    assert [r["prompt_tokens"] for r in data["rows"]] == [512 + 1024] * 2


def test_compare_is_b_over_a(client: TestClient) -> None:
    b = {**SCENARIO, "options": {"w_bits": 4}}
    data = post(client, "/api/compare", {"a": SCENARIO, "b": b})
    first = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=128)
    second = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=128, w_bits=4)
    want = compare(first, second).set_index("metric")
    rows = {r["metric"]: r for r in data["rows"]}
    assert set(rows) == set(want.index)
    for metric, row in rows.items():
        ratio = want.loc[metric, "ratio"]
        assert row["ratio"] == (pytest.approx(ratio, rel=1e-12) if np.isfinite(ratio) else None)
    assert rows["decode step time"]["ratio"] < 0.35  # 4-bit weights: a third of the bytes
    fits = rows["fits in memory"]
    assert (fits["a"], fits["b"], fits["unit"], fits["ratio"]) == (True, True, "", None)
    assert isinstance(fits["a"], bool)  # not 1.0: a yes or no
    assert data["a_estimate"] == data["b_estimate"] == "roofline bound"


def test_compare_names_what_priced_each_side_even_when_alike(client: TestClient) -> None:
    """Two sides on one engine's profile had said nothing of it (labels name an estimate
    only where the sides differ)."""
    a = {**SCENARIO, "options": {"engine": "sglang"}}
    b = {**SCENARIO, "options": {"engine": "sglang", "w_bits": 4}}
    data = post(client, "/api/compare", {"a": a, "b": b})
    want = api.analyze(LLAMA, "h100-sxm", engine="sglang").options.estimate
    assert data["a_estimate"] == data["b_estimate"] == want and "sglang" in want


def test_custom_and_overridden_devices(client: TestClient) -> None:
    custom = {"memory_bandwidth": 1e12, "memory_capacity": 24e9, "peak_ops": {"bf16": 165e12}}
    data = post(client, "/api/analyze", {**SCENARIO, "device": custom})
    want = api.analyze(
        LLAMA,
        api.resolve_device("h100-sxm").model_copy(
            update={
                "name": "custom",
                "memory_bandwidth": 1e12,
                "memory_capacity": 24e9,
                "peak_ops": {"bf16": 165e12},
            }
        ),
        batch=4,
        prompt_len=1024,
        gen_len=128,
    )
    assert data["totals"]["decode"]["time"] == pytest.approx(float(want.totals()["decode"]["time"]))
    assert data["device"]["name"] == "custom"
    faster = {"name": "H100", "memory_bandwidth": 6.7e12}
    data2 = post(client, "/api/analyze", {**SCENARIO, "device": faster})
    assert data2["device"]["name"] == "h100-sxm (modified)"
    ratio = (
        data2["totals"]["decode"]["time"]
        / post(client, "/api/analyze", SCENARIO)["totals"]["decode"]["time"]
    )
    assert ratio == pytest.approx(0.5, rel=0.02)  # decode is memory-bound: twice the bandwidth


def test_what_if_and_speculative_options(client: TestClient) -> None:
    body = {
        **SCENARIO,
        "options": {"scale_bandwidth": 2.0, "prune_depth": 0.25},
        "speculative": {"draft": "meta-llama/Meta-Llama-3-8B", "gamma": 3, "alpha": 0.7},
    }
    data = post(client, "/api/analyze", body)
    want = api.analyze(
        LLAMA,
        "h100-sxm",
        batch=4,
        prompt_len=1024,
        gen_len=128,
        scale_bandwidth=2.0,
        prune_depth=0.25,
    )
    assert data["totals"]["decode"]["time"] == pytest.approx(float(want.totals()["decode"]["time"]))
    assert data["model"]["num_layers"] == 24
    spec = api.speculate(
        LLAMA,
        "h100-sxm",
        gamma=3,
        alpha=0.7,
        draft="meta-llama/Meta-Llama-3-8B",
        batch=4,
        context=1024,
        scale_bandwidth=2.0,
    )
    assert data["speculative"]["tokens_per_step"] == pytest.approx(float(spec.tokens_per_step))
    assert data["speculative"]["speedup"] > 0


def test_speculative_decoding_with_the_models_mtp_module(client: TestClient) -> None:
    body = {
        **SCENARIO,
        "model": {"id": "deepseek-ai/DeepSeek-V3"},
        "options": {"tp": 8},
        "device": {"name": "h200"},
        "speculative": {"mtp": True, "gamma": 2, "alpha": 0.5},
    }
    data = post(client, "/api/analyze", body)
    spec = api.speculate(
        "deepseek-ai/DeepSeek-V3", "h200", gamma=2, alpha=0.5, mtp=True, batch=4,
        context=1024, tp=8,
    )  # fmt: skip
    assert data["speculative"]["tokens_per_step"] == pytest.approx(1.75)
    assert data["speculative"]["time_per_token"] == pytest.approx(float(spec.time_per_token))
    # The generation with speculation beside the one without: as the command line's table.
    plain, sped = data["generation"], data["speculative"]["generation"]
    assert sped["tpot"] == pytest.approx(plain["tpot"] / float(spec.speedup), rel=1e-9)
    assert data["speculative"]["drafter_weights"] == pytest.approx(float(spec.drafter_weights))
    # The MTP module's pass over the prompt, before the first token (the answer had dropped
    # it while its TTFT held it).
    assert data["speculative"]["prompt_time"] == pytest.approx(float(spec.prompt_time))
    assert 0 < data["speculative"]["prompt_time"] < plain["ttft"] / 10
    assert sped["ttft"] == pytest.approx(plain["ttft"] + float(spec.prompt_time), rel=1e-9)
    # A model without the module: 422 naming the field.
    refused = client.post("/api/analyze", json={**body, "model": {"id": LLAMA}})
    assert refused.status_code == 422 and "mtp" in refused.text


def test_view_answers_the_page_in_one_request(client: TestClient) -> None:
    b = {**SCENARIO, "options": {"w_bits": 4}}
    data = post(client, "/api/view", {"a": SCENARIO, "b": b, "show": "b"})
    assert data["analysis"]["inputs"]["w_bits"] == 4
    batch = data["curves"]["batch"]
    assert set(batch) == {"a", "b"}
    assert batch["a"]["x"] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    tpot = api.analyze(LLAMA, "h100-sxm", batch=64, prompt_len=1024, gen_len=128).generation["tpot"]
    assert batch["a"]["time_per_token"][6] == pytest.approx(float(tpot))
    prompts = data["curves"]["prompt_len"]["a"]["x"]
    assert 1024 in prompts and max(prompts) <= 131072 - 127
    assert data["compare"]["rows"][1]["metric"] == "decode step time"


@pytest.mark.parametrize("model", sorted(bundled_models()))
def test_every_bundled_model_is_viewable(client: TestClient, model: str) -> None:
    data = post(client, "/api/view", {"a": {**SCENARIO, "model": {"id": model}, "prompt_len": 512}})
    ops = data["analysis"]["operators"]
    assert data["analysis"]["model"]["id"] == model
    assert {o["stage"] for o in ops} == {"prefill", "decode"}
    assert all(o["bound"] in ("memory", "compute", "link", "host link") for o in ops)
    assert all(len(c["a"]["x"]) == len(c["a"]["throughput"]) > 3 for c in data["curves"].values())


def test_curves_respect_micro_batches_and_context(client: TestClient) -> None:
    a = {**SCENARIO, "options": {"micro_batches": 4, "pp": 2}}
    data = post(client, "/api/view", {"a": a})
    assert data["curves"]["batch"]["a"]["x"][0] == 4
    assert all(x % 4 == 0 for x in data["curves"]["batch"]["a"]["x"])
    gpt2 = {**SCENARIO, "model": {"id": "openai-community/gpt2"}, "prompt_len": 512}
    data = post(client, "/api/view", {"a": gpt2})
    assert max(data["curves"]["prompt_len"]["a"]["x"]) <= 1024 - 127
    assert data["compare"] is None


# Models: the catalog or an upload, nothing else ------------------------------------------------
def test_uploaded_config_gives_the_bundled_numbers(client: TestClient) -> None:
    config = bundled_config(LLAMA)
    info = post(client, "/api/model", {"config": config, "name": "my-llama"})
    assert info["id"] == "my-llama" and info["params"] == 8_030_261_248
    by_id = post(client, "/api/analyze", SCENARIO)
    uploaded = post(client, "/api/analyze", {**SCENARIO, "model": {"config": config}})
    assert uploaded["totals"] == by_id["totals"]
    assert uploaded["model"]["id"] == "uploaded"


@pytest.mark.parametrize(
    "ref",
    [
        {"id": "/etc/passwd"},
        {"id": "src/rooflens/models/configs/meta-llama--Llama-3.1-8B.json"},
        {"id": "~/.cache/huggingface"},
        {"id": "someorg/some-model"},
        {"id": "../../../etc/hosts"},
    ],
)
def test_a_model_name_never_reads_a_path_or_the_hub(
    client: TestClient, ref: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the web API must not read files or the Hub for a model name")

    monkeypatch.setattr("rooflens.models.catalog.read_config_file", forbidden)
    monkeypatch.setattr("rooflens.models.catalog._fetch", forbidden)
    data = error(client, "/api/analyze", {**SCENARIO, "model": ref})
    assert data["detail"][0]["loc"] == ["body", "model", "id"]
    assert "paths and Hub ids are not read" in data["message"]


def test_short_bundled_names_resolve(client: TestClient) -> None:
    data = post(client, "/api/analyze", {**SCENARIO, "model": {"id": "llama-3.1-8b"}})
    assert data["model"]["id"] == LLAMA


@pytest.mark.parametrize("name", ["/etc/passwd", "src/rooflens/hardware/devices/h100-sxm.toml"])
def test_a_device_name_never_reads_a_path(client: TestClient, name: str) -> None:
    data = error(client, "/api/analyze", {**SCENARIO, "device": {"name": name}})
    assert data["detail"][0]["loc"] == ["body", "device", "name"]
    assert "catalog device" in data["message"]


def test_calibration_only_names_bundled_profiles(client: TestClient) -> None:
    data = error(client, "/api/analyze", {**SCENARIO, "options": {"calibration": "/etc/passwd"}})
    assert data["detail"][0]["loc"] == ["body", "options", "calibration"]
    ok = post(client, "/api/analyze", {**SCENARIO, "options": {"calibration": "auto"}})
    assert ok["estimate"].startswith("calibrated estimate (transformers 5.17.0 profile, h100-sxm")


def test_bad_uploads_are_422_naming_config(client: TestClient) -> None:
    config = bundled_config(LLAMA)
    for bad in (
        {"model_type": "llama"},
        {**config, "num_attention_heads": 0},
        {**config, "num_attention_heads": "32"},
        {**config, "model_type": ["llama"]},
        {**config, "num_hidden_layers": 10**9},
        {**config, "model_type": "bert"},
    ):
        data = error(client, "/api/model", {"config": bad})
        assert data["detail"][0]["loc"] == ["body", "config"], data
        assert data["message"].startswith("config"), data["message"]


# 422s name the field ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"batch": 0}, ["body", "batch"], "expected an integer of at least 1"),
        ({"batch": s.MAX_BATCH + 1}, ["body", "batch"], "expected an integer of at most"),
        ({"options": {"w_bits": 5}}, ["body", "options", "w_bits"], "one of 32, 16, 8, 4, 3, 2, 1"),
        (
            {"options": {"fusion": ["qkv", "warp"]}},
            ["body", "options", "fusion", 1],
            "fusion.1='warp' is invalid: expected all or none alone, or any of qkv, gate_up",
        ),
        ({"options": {"nm_sparsity": "4:2"}}, ["body", "options", "nm_sparsity"], "N < M"),
        (
            {"options": {"micro_batches": 3, "pp": 2}},
            ["body", "options", "micro_batches"],
            "a divisor of the batch size",
        ),
        (
            {"options": {"micro_batches": 2}},
            ["body", "options", "micro_batches"],
            "1 without pp above 1",
        ),
        ({"prompt_len": 131072}, ["body", "prompt_len"], "has 131072 positions"),
        ({"colour": "red"}, ["body", "colour"], "expected a known field"),
        ({"device": {}}, ["body", "device"], "missing: memory_bandwidth"),
        ({"model": 5}, ["body", "model"], 'expected a bundled model id, {"id": ...}'),
        ({"device": ["h100"]}, ["body", "device"], "expected a catalog device name"),
        ({"device": "zz"}, ["body", "device", "name"], "expected a catalog device"),
        ({"device": {"name": "h100", "peak_ops": {"fp64": 1e12}}}, None, "fp64"),
        ({"options": {"tp": 3}}, ["body", "options", "tp"], "tp"),
        ({"speculative": {"draft": "x", "gamma": 2}}, ["body", "speculative", "draft"], "draft"),
        # A wrong type in the words the other refusals use, not pydantic's.
        ({"batch": 1.5}, ["body", "batch"], "batch=1.5 is invalid: expected an integer"),
        (
            {"options": {"flash_attention": "maybe"}},
            ["body", "options", "flash_attention"],
            "flash_attention='maybe' is invalid: expected true or false",
        ),
        # A declared setting's own words, not its pattern.
        (
            {"options": {"engine": "sglang", "engine_version": "v0.5"}},
            ["body", "options", "engine_version"],
            "expected a release number such as 0.5.10 or 1.3.0rc10",
        ),
    ],
)
def test_422_names_the_field_and_why(
    client: TestClient, change: dict, loc: list | None, words: str
) -> None:
    data = error(client, "/api/analyze", {**SCENARIO, **change})
    if loc is not None:
        assert data["detail"][0]["loc"] == loc
    # The path as the message spells it: pydantic's tags ("[key]") left out.
    field = ".".join(str(p) for p in data["detail"][0]["loc"][1:] if "[" not in str(p))
    assert data["message"].startswith(field), data["message"]
    assert words in data["message"]


def test_a_device_without_a_tdp_is_priced_but_has_no_carbon(client: TestClient) -> None:
    custom = {"memory_bandwidth": 1e12, "memory_capacity": 80e9, "peak_ops": {"bf16": 5e14}}
    data = error(client, "/api/analyze", {**SCENARIO, "device": custom,
                                          "economics": {"grid_intensity": 400}})  # fmt: skip
    assert data["detail"][0]["loc"] == ["body", "economics", "grid_intensity"]
    assert data["message"] == (
        "economics.grid_intensity=400.0 is invalid: expected a device with a TDP: carbon follows "
        "from energy, and custom has none"
    )
    # A price gives the cost figures (price x time), the energy ones null.
    priced = post(client, "/api/analyze", {**SCENARIO, "device": custom,
                                           "economics": {"hourly_price": 2}})  # fmt: skip
    figures = priced["economics"]
    assert figures["decode_power"] is None and figures["cost_per_million_output"] > 0
    # Without a price there is no figure at all: economics is null.
    assert post(client, "/api/analyze", {**SCENARIO, "device": custom})["economics"] is None


def test_a_plain_id_and_device_name_stand_for_their_objects(client: TestClient) -> None:
    """A script may name the model and device as the CLI does: the answer is the same."""
    plain = {**SCENARIO, "model": SCENARIO["model"]["id"], "device": SCENARIO["device"]["name"]}
    assert post(client, "/api/analyze", plain) == post(client, "/api/analyze", SCENARIO)


def test_non_finite_numbers_are_refused(client: TestClient) -> None:
    body = json.dumps({**SCENARIO, "options": {"prompt_keep": float("nan")}})
    res = client.post("/api/analyze", content=body, headers={"content-type": "application/json"})
    assert res.status_code == 422
    assert res.json()["detail"][0]["loc"] == ["body", "options", "prompt_keep"]


def test_compare_points_into_a_or_b(client: TestClient) -> None:
    bad = {**SCENARIO, "options": {"kv_bits": 7}}
    data = error(client, "/api/compare", {"a": SCENARIO, "b": bad})
    assert data["detail"][0]["loc"] == ["body", "b", "options", "kv_bits"]
    data = error(client, "/api/view", {"a": {**SCENARIO, "options": {"micro_batches": 8}}})
    assert data["detail"][0]["loc"] == ["body", "a", "options", "micro_batches"]


def test_malformed_json_is_422(client: TestClient) -> None:
    res = client.post("/api/view", content=b"{", headers={"content-type": "application/json"})
    assert res.status_code == 422
    assert res.json()["detail"][0]["type"] == "json_invalid"


# Caps ------------------------------------------------------------------------------------------
def test_body_size_is_capped(client: TestClient) -> None:
    config = {**bundled_config(LLAMA), "padding": "x" * s.MAX_BODY_BYTES}
    data = error(client, "/api/model", {"config": config}, status=413)
    assert str(s.MAX_BODY_BYTES) in data["message"]


def test_streamed_body_size_is_capped(client: TestClient) -> None:
    def chunks():
        for _ in range(5):
            yield b" " * (s.MAX_BODY_BYTES // 4)

    res = client.post("/api/view", content=chunks(), headers={"content-type": "application/json"})
    assert res.status_code == 413


def test_sweep_sizes_are_capped(client: TestClient) -> None:
    base = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}}
    data = error(client, "/api/sweep", {**base, "batch": list(range(1, s.MAX_SWEEP_VALUES + 2))})
    assert data["detail"][0]["loc"] == ["body", "batch"]
    square = list(range(1, s.MAX_SWEEP_VALUES + 1))
    assert len(
        post(client, "/api/sweep", {**base, "batch": square, "prompt_len": square})["rows"]
    ) == (s.MAX_SWEEP_POINTS)
    cube = {**base, "batch": square, "prompt_len": square, "gen_len": [1, 2]}
    data = error(client, "/api/sweep", cube)
    # The axes' counts, not the whole body printed back.
    assert data["message"] == (
        "body is invalid: batch x prompt_len x gen_len = 64 x 64 x 2 = 8192 points; a sweep "
        f"has at most {s.MAX_SWEEP_POINTS}"
    )
    # Each value is named where it stands (the whole body was named before).
    data = error(client, "/api/sweep", {**base, "batch": [1, 0]})
    assert data["message"] == "batch.1=0 is invalid: expected an integer of at least 1"
    assert data["detail"][0]["loc"] == ["body", "batch", 1]
    items = client.get("/openapi.json").json()["components"]["schemas"]["SweepRequest"]
    assert items["properties"]["batch"]["items"]["maximum"] == s.MAX_BATCH


# Catalog, pages and assets ---------------------------------------------------------------------
def test_model_search(client: TestClient) -> None:
    everything = client.get("/api/models").json()
    assert len(everything) == len(bundled_models())
    llama = client.get("/api/models", params={"q": "llama 70b"}).json()
    assert [m["id"] for m in llama] == ["meta-llama/Llama-2-70b-hf", "meta-llama/Llama-3.1-70B"]
    assert llama[0]["num_layers"] == 80
    assert len(client.get("/api/models", params={"limit": 3}).json()) == 3
    res = client.get("/api/models", params={"limit": 0})
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["query", "limit"]


def test_devices_are_the_catalog(client: TestClient) -> None:
    devices = client.get("/api/devices").json()
    assert [d["name"] for d in devices] == list(catalog())
    h100 = next(d for d in devices if d["name"] == "h100-sxm")
    assert h100["memory_bandwidth"] == 3.35e12 and h100["calibration"] == "h100-sxm"


def test_page_and_assets_are_all_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(u.startswith(("/", "#", "data:")) for u in sources), sources
    for url in [u for u in sources if u.startswith("/") and u != "/docs"]:
        assert client.get(url).status_code == 200, url
    plotly_js = client.get("/vendor/plotly.min.js")
    assert plotly_js.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in plotly_js.content[:2000].lower() and len(plotly_js.content) > 1_000_000
    # The page loads it compressed, under its version's URL, cached for a year.
    versioned = plotly_url()
    assert f'src="{versioned}"' in client.get("/").text
    raw = client.get(versioned, headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(raw.headers["content-length"]) < len(plotly_js.content) / 2
    assert raw.content == plotly_js.content  # the client decompressed it
    plain = client.get(versioned, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == plotly_js.content
    for asset in ("/static/app.js", "/static/docs.js", "/static/style.css", "/docs"):
        text = client.get(asset).text
        assert not re.search(r"https?://(?!127\.0\.0\.1)", text), asset


def test_refusals_say_what_is_accepted_in_the_apis_words(client: TestClient) -> None:
    """These kept pydantic's sentences ("Input should be a valid dictionary or object to
    extract fields from", "String should have at most 40 characters", "Input should be 32,
    16, 8, 4, 3, 2 or 1") where every other refusal says "expected ..."."""
    gpt2, long = {"model": "gpt2", "device": "h100-sxm"}, "9" * 41
    config = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
              "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 100,
              "quantization_config": {"quant_method": "gptq", "bits": 5}}  # fmt: skip
    for method, path, body, message in (
        ("post", "/api/analyze", [], "body=[] is invalid: expected a JSON object"),
        ("post", "/api/analyze", {**gpt2, "options": None},
         "options=None is invalid: expected a JSON object"),
        ("post", "/api/analyze", {**gpt2, "options": {"engine": "vllm", "engine_version": long}},
         f"options.engine_version='{'9' * 41}' is invalid: expected text of at most 40 characters"),
        ("get", "/api/models?q=" + "x" * 101, None,
         f"q='{'x' * 76}... is invalid: expected text of at most 100 characters"),
        ("post", "/api/model", {"config": config},
         "config: quantization_config (gptq): bits=5 is invalid: expected one of 32, 16, 8, 4, 3, "
         "2, 1"),
    ):  # fmt: skip
        answer = client.post(path, json=body) if method == "post" else client.get(path)
        assert answer.status_code == 422 and answer.json()["message"] == message


def test_every_get_route_answers_head_as_link_checkers_ask(client: TestClient) -> None:
    """`curl -I`, link checkers and uptime checks ask HEAD, which the page and the reference
    answered 405 once, and the API's GET routes until HeadAsGet answered it for all."""
    pages = ("/", "/docs", "/static/app.js", "/vendor/plotly.min.js")
    for path in (*pages, "/api/devices", "/api/engines", "/openapi.json"):
        answer = client.head(path)
        assert answer.status_code == 200 and answer.content == b"", path
        assert answer.headers["content-length"] == client.get(path).headers["content-length"]
    assert client.head("/api/jobs/nothing").status_code == 404
    posted = client.head("/api/analyze")  # a POST route: HEAD is no method of it, as GET
    assert posted.status_code == 405 and posted.content == b""


def test_openapi_schema_is_served_and_docs_is_offline(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/models",
        "/api/devices",
        "/api/engines",
        "/api/model",
        "/api/analyze",
        "/api/sweep",
        "/api/compare",
        "/api/view",
        "/api/simulate",
        "/api/scheduler",
        "/api/advise",
        "/api/jobs/simulate",
        "/api/jobs/advise",
        "/api/jobs/{job_id}",
    }
    options = schema["components"]["schemas"]["Options"]["properties"]
    # Every declared setting is in the contract (the page's form is built from it).
    assert set(SETTING_NAMES) == set(options)
    assert options["w_bits"]["group"] == "Precision"
    view = schema["paths"]["/api/view"]["post"]["responses"]
    assert view["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert client.get("/redoc").status_code == 404


def test_no_endpoint_serves_files_outside_static(client: TestClient) -> None:
    for url in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/../../api.py"):
        assert client.get(url).status_code == 404, url


def test_cli_web_serves_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from rooflens.cli.app import app

    seen: dict = {}

    def serve(server: uvicorn.Server, sockets: list) -> None:
        seen.update(app=server.config.app, address=sockets[0].getsockname())
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    port = _free_port()
    res = CliRunner().invoke(app, ["web", "--port", str(port)])
    assert res.exit_code == 0, res.output
    assert seen["address"] == ("127.0.0.1", port)
    assert seen["app"].title == "rooflens"
    assert f"http://127.0.0.1:{port}/" in res.output
    bad = CliRunner().invoke(app, ["web", "--port", "70000"])
    assert bad.exit_code == 2
    # A port in use, or an address not this machine's, was uvicorn's log line and exit 3
    # after "viewer on ..." was printed.
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = CliRunner().invoke(app, ["web", "--port", str(port)])
    assert busy.exit_code == 2 and "viewer on" not in busy.output
    assert busy.output.startswith(
        f"error: --port={port} is invalid: expected a port free on 127.0.0.1 (this one is in use)"
    )
    # A name no lookup is made for (a label over 63 characters).
    name = "x" * 64 + ".example"
    absent = CliRunner().invoke(app, ["web", "--host", name])
    assert absent.exit_code == 2 and absent.output.startswith(
        f"error: --host='{name}' is invalid: expected an address or host name this machine resolves"
    )


def test_energy_and_cost_follow_the_given_price(client: TestClient) -> None:
    money = {"hourly_price": 3.0, "grid_intensity": 400.0}
    data = post(client, "/api/analyze", {**SCENARIO, "gen_len": 64, "economics": money})
    want = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=64).economics(**money)
    assert data["economics"].keys() == want.keys()
    for key, value in want.items():
        assert data["economics"][key] == pytest.approx(float(value), rel=1e-12), key
    plain = post(client, "/api/analyze", SCENARIO)["economics"]
    assert plain["carbon_per_million_output"] is None  # there, null: no grid intensity given
    what_if = post(client, "/api/analyze", {**SCENARIO, "options": {"scale_bandwidth": 2}})
    assert what_if["economics"]["cost_per_million_output"] is None  # no catalog price
    custom = {"memory_bandwidth": 1e12, "memory_capacity": 24e9, "peak_ops": {"bf16": 1e14}}
    assert post(client, "/api/analyze", {**SCENARIO, "device": custom})["economics"] is None
    bad = error(client, "/api/analyze", {**SCENARIO, "economics": {"grid_intensity": -1}})
    assert bad["detail"][0]["loc"] == ["body", "economics", "grid_intensity"]


@pytest.mark.parametrize(
    ("web", "flags"),
    [
        # Priced, with a grid intensity: every figure a number.
        (
            {"gen_len": 64, "economics": {"hourly_price": 3.0, "grid_intensity": 400.0}},
            ["--gen-len", "64", "--hourly-price", "3", "--grid-intensity", "400"],
        ),
        # A one-token answer on a what-if device (no catalog price, no grid intensity): its
        # output figures, costs and carbon null, never NaN.
        (
            {"gen_len": 1, "options": {"scale_bandwidth": 2}},
            ["--gen-len", "1", "--scale-bandwidth", "2"],
        ),
    ],
)
def test_economics_has_the_keys_and_values_of_the_cli_json(
    client: TestClient, web: dict, flags: list[str]
) -> None:
    """The web API left out the figures that did not apply where `rooflens analyze -f json`
    writes them as null: both now write every figure of FIGURES, from one place."""
    from rooflens.cli.app import app
    from rooflens.core.economics import FIGURES

    res = client.post("/api/analyze", json={**SCENARIO, **web})
    assert res.status_code == 200 and "NaN" not in res.text and "Infinity" not in res.text
    data = res.json()["economics"]
    args = ["analyze", LLAMA, "-H", "h100-sxm", "--batch", "4", "--prompt-len", "1024"]
    cli = CliRunner().invoke(app, [*args, *flags, "-f", "json"])
    assert cli.exit_code == 0, cli.output
    assert list(data) == list(json.loads(cli.stdout)["economics"]) == list(FIGURES)
    assert data == json.loads(cli.stdout)["economics"]
    if web["gen_len"] == 1:
        missing = [key for key, value in data.items() if value is None]
        assert missing == [
            "hourly_price", "energy_per_output_token", "cost_per_million_input",
            "cost_per_million_output", "carbon_per_million_output", "carbon_per_request",
        ]  # fmt: skip
        assert data["energy_per_request"] > data["energy_per_prompt_token"] > 0
    else:
        assert all(value > 0 for value in data.values())
        assert data["cost_per_million_output"] == pytest.approx(
            3.0 / 3600 * 1e6 * data["energy_per_output_token"] / data["decode_power"]
        )


def test_memory_has_the_cli_jsons_figures_and_whole_batches(client: TestClient) -> None:
    """The largest batch that fits read 358.0 in the web API's memory, 358 in the CLI's
    JSON: both now take each stage's figures from Analysis.memory_figures."""
    from rooflens.cli.app import app

    data = post(client, "/api/analyze", {**SCENARIO, "gen_len": 64})["memory"]
    args = ["analyze", LLAMA, "-H", "h100-sxm", "--batch", "4", "--prompt-len", "1024"]
    cli = CliRunner().invoke(app, [*args, "--gen-len", "64", "-f", "json"])
    assert cli.exit_code == 0, cli.output
    assert data == json.loads(cli.stdout)["memory"]
    assert list(data) == ["prefill", "decode", "generation"]
    for stage in data.values():
        assert type(stage["max_batch"]) is int and type(stage["fits"]) is bool
    want = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=64).memory
    assert data["decode"]["max_batch"] == int(want["decode"].max_batch) > 4
    assert data["decode"]["weights"] == float(want["decode"].weights)


def test_a_device_tdp_sets_its_power_and_keeps_its_profiles(client: TestClient) -> None:
    custom = {"memory_bandwidth": 1e12, "memory_capacity": 24e9, "peak_ops": {"bf16": 1e14}}
    with_tdp = post(client, "/api/analyze", {**SCENARIO, "device": {**custom, "tdp": 450}})
    spec = api.Device(name="custom", **custom, tdp=450)
    want = api.analyze(LLAMA, spec, batch=4, prompt_len=1024, gen_len=128).economics()
    assert with_tdp["economics"]["decode_power"] == pytest.approx(float(want["decode_power"]))
    # A catalog device at another TDP: its power moves, and its name (so the engine profiles
    # measured on it) stays, since timing does not read the TDP.
    h100 = post(client, "/api/analyze", {**SCENARIO, "device": {"name": "h100-sxm"}})
    half = post(client, "/api/analyze", {**SCENARIO, "device": {"name": "h100-sxm", "tdp": 350}})
    assert half["device"]["name"] == "h100-sxm"
    assert half["totals"] == h100["totals"]
    assert half["economics"]["decode_power"] < h100["economics"]["decode_power"]
    engine = {**SCENARIO, "device": {"name": "h100-sxm", "tdp": 350}, "options": {"engine": "vllm"}}
    assert post(client, "/api/analyze", engine)["economics"]["decode_power"] > 0
    bad = error(client, "/api/analyze", {**SCENARIO, "device": {**custom, "tdp": 0}})
    assert bad["detail"][0]["loc"] == ["body", "device", "tdp"]


def test_only_loopback_host_names_are_served() -> None:
    # DNS rebinding: a page at evil.example points its name at 127.0.0.1; its requests still
    # say Host: evil.example and must not reach the API.
    app = create_app()
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert TestClient(app, base_url=f"http://{host}").get("/api/devices").status_code == 200
    refused = TestClient(app, base_url="http://evil.example:8000").get("/api/devices")
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("host 'evil.example' is not served")
    lan = TestClient(create_app(("127.0.0.1", "10.1.2.3")), base_url="http://10.1.2.3:8000")
    assert lan.get("/api/devices").status_code == 200
    # Listening on every interface (--host 0.0.0.0): any address given as the Host (no
    # rebinding: a page from that address is this server's), the names listed, no others.
    every = create_app(("127.0.0.1", "localhost", "::1", "myserver.example"), any_address=True)
    for host in ("10.1.2.3:8000", "[fe80::1]:8000", "myserver.example", "127.0.0.1"):
        reached = TestClient(every, base_url=f"http://{host}").get("/api/devices")
        assert reached.status_code == 200, host
    rebound = TestClient(every, base_url="http://evil.example").get("/api/devices")
    assert rebound.status_code == 400


def test_pages_forbid_framing_and_foreign_scripts(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_web_warns_when_bound_beyond_loopback(monkeypatch) -> None:
    import uvicorn

    from rooflens.cli.app import app as cli

    seen = {}

    def serve(server: uvicorn.Server, sockets: list) -> None:
        seen.update(address=sockets[0].getsockname())
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    port = str(_free_port())
    res = CliRunner().invoke(cli, ["web", "--host", "0.0.0.0", "--port", port])
    assert res.exit_code == 0, res.output
    assert "warning: serving on 0.0.0.0, beyond this machine" in res.output
    said = " ".join(res.output.split())  # the warning is wrapped at the terminal's width
    assert "answers requests by any of this machine's addresses or by " in said
    assert "(more names: --allow-host)" in said
    assert seen["address"] == ("0.0.0.0", int(port))
    one = CliRunner().invoke(
        cli, ["web", "--host", "127.0.0.2", "--port", port, "--allow-host", "Box.example"]
    )
    assert one.exit_code == 0
    assert "answers requests as 127.0.0.2, box.example (more" in " ".join(one.output.split())
    bad = CliRunner().invoke(cli, ["web", "--port", port, "--allow-host", "a/b"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --allow-host='a/b' is invalid: expected a host name")
    quiet = CliRunner().invoke(cli, ["web", "--port", port])
    assert "warning" not in quiet.output
    # A loopback name whatever its case (LOCALHOST was warned of as beyond this machine).
    upper = CliRunner().invoke(cli, ["web", "--host", "LOCALHOST", "--port", port])
    assert upper.exit_code == 0 and "warning" not in upper.output


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_engine_goes_by_its_projects_spelling_in_the_web_api(client: TestClient) -> None:
    options = {"engine": "TensorRT-LLM"}
    data = post(client, "/api/analyze", {**SCENARIO, "options": options})
    want = api.analyze(LLAMA, "h100-sxm", batch=4, prompt_len=1024, engine="trtllm")
    assert data["totals"]["decode"]["time"] == pytest.approx(float(want.totals()["decode"]["time"]))
    body = error(client, "/api/analyze", {**SCENARIO, "options": {"engine": "tgi"}})
    assert body["message"].startswith("options.engine='tgi' is invalid")


def test_the_analysis_names_the_fallbacks_an_engine_profile_prices_with(
    client: TestClient,
) -> None:
    """gpt-oss's experts on Marlin, which vLLM's H100 tables time on another layer only: the
    payload names them and the fallback that prices them, as the API does; none for Llama."""
    scenario = {**SCENARIO, "model": {"id": "openai/gpt-oss-120b"}}
    options = {"engine": "vllm", "tp": 8, "w4_kernel": "marlin"}
    data = post(client, "/api/analyze", {**scenario, "options": options})
    want = api.analyze(
        "openai/gpt-oss-120b", "h100-sxm", batch=4, prompt_len=1024, engine="vllm", tp=8,
        w4_kernel="marlin",
    )  # fmt: skip
    assert data["fallbacks"] == want.fallbacks
    assert "(moe:w4a16_marlin)" in data["fallbacks"][0]
    plain = post(client, "/api/analyze", {**SCENARIO, "options": {"engine": "vllm"}})
    # Only the line a prefill past vLLM's 512-token graphs adds (its launch time).
    assert plain["fallbacks"] == [
        "prefill iterations of more than 512 tokens run without CUDA graphs: each lasts at "
        "least the host's time to launch its kernels (the profile's 1.09 ms per layer and 0.47 "
        "ms more per mixture-of-experts layer, measured with the engine on an H100: "
        "docs/engines-measured.md)"
    ]


def test_an_unstated_prompt_is_the_command_lines_default(client: TestClient) -> None:
    """GPT-2's 1,024 positions leave 897 prompt tokens beside a 128-token generation, as
    `rooflens analyze` takes them (a fixed 2,048 was refused, for a value nobody sent)."""
    body = {"model": {"id": "openai-community/gpt2"}, "device": {"name": "h100-sxm"}}
    assert post(client, "/api/analyze", body)["inputs"]["prompt_len"] == 1024 - 127
    assert post(client, "/api/view", {"a": body})["analysis"]["inputs"]["prompt_len"] == 897
    compared = post(client, "/api/compare", {"a": body, "b": {**body, "batch": 2}})
    want = api.analyze("openai-community/gpt2", "h100-sxm", batch=1, gen_len=128)
    assert compared["rows"][0]["a"] == pytest.approx(float(want.totals()["prefill"]["time"]))
    swept = post(client, "/api/sweep", {**body, "batch": [1, 2], "gen_len": [64, 128]})
    assert {row["prompt_len"] for row in swept["rows"]} == {897}
    assert (
        post(client, "/api/analyze", {**SCENARIO, "prompt_len": None})["inputs"]["prompt_len"]
        == 2048
    )


def test_an_analysis_says_where_its_curves_are_read_beyond_their_fit(client: TestClient) -> None:
    """The notes `rooflens analyze` prints (a curve read outside the sizes it was fitted over)
    come with the viewer's analysis too."""
    options = {"engine": "vllm", "tp": 2}
    body = {"model": {"id": "openai/gpt-oss-120b"}, "device": {"name": "h100-sxm"}}
    data = post(client, "/api/analyze", {**body, "options": options})
    want = api.analyze("openai/gpt-oss-120b", "h100-sxm", gen_len=128, **options)
    assert data["notes"] == want.notes and any("attention_sinks" in n for n in data["notes"])
    assert post(client, "/api/analyze", SCENARIO)["notes"] == []


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"device": {"name": "h100-sxm", "memory_bandwidth": 1e-300}},
         ["device", "memory_bandwidth"]),
        ({"device": {"name": "h100-sxm", "peak_ops": {"bf16": 1e-300}}},
         ["device", "peak_ops", "bf16"]),
        ({"options": {"compute_cap": 1e-300}}, ["options", "compute_cap"]),
        ({"options": {"scale_compute": 1e-300}}, ["options", "scale_compute"]),
    ],
)  # fmt: skip
def test_figures_too_small_to_time_anything_are_422(client: TestClient, change, loc) -> None:
    """Each made every time infinite: a 500 from the analysis, nulls from the simulator."""
    for path, body in (("/api/analyze", SCENARIO), ("/api/simulate", {**SCENARIO, "workload": {}})):
        body = {k: v for k, v in body.items() if k not in ("batch", "prompt_len")} | change
        data = error(client, path, body)
        assert data["detail"][0]["loc"][1:] == loc, data
        assert "1e-300 is invalid" in data["message"]


@pytest.mark.parametrize(
    ("path", "change", "loc"),
    [
        ("/api/analyze", {"batch": True}, ["batch"]),
        ("/api/analyze", {"gen_len": False}, ["gen_len"]),
        ("/api/sweep", {"batch": [True, 2]}, ["batch", 0]),
        ("/api/simulate", {"workload": {"requests": True}}, ["workload", "requests"]),
        # Text in a number's place was read as the number (the Python API refuses it).
        ("/api/analyze", {"batch": "8"}, ["batch"]),
        ("/api/simulate", {"workload": {"rate": "2"}}, ["workload", "rate"]),
        ("/api/simulate", {"workload": {"concurrency": "4"}}, ["workload", "concurrency"]),
        # A boolean inside a mapping of numbers was read as 1: a bf16 peak of 1 OP/s, $1/h.
        (
            "/api/analyze",
            {"device": {"name": "h100-sxm", "peak_ops": {"bf16": True}}},
            ["device", "peak_ops"],
        ),
        ("/api/advise", {"hourly_prices": {"h100-sxm": True}}, ["hourly_prices"]),
    ],
)
def test_a_boolean_is_no_size(client: TestClient, path: str, change: dict, loc: list) -> None:
    """true once passed as 1 (a batch of one), as the options have long refused it; "8" as 8."""
    body = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}} | change
    data = error(client, path, body)
    assert data["detail"][0]["loc"][1:] == loc, data
    if any(isinstance(v, str) for v in [*change.values(), *change.get("workload", {}).values()]):
        assert data["message"].endswith(
            "is invalid: text is not a number (send it as a JSON number)"
        )
    elif path == "/api/advise" or "device" in change:
        # The key whose value is one, not the whole mapping alone.
        key = "h100-sxm" if path == "/api/advise" else "bf16"
        assert data["message"].endswith(
            f"is invalid: a boolean is not a number at {key} (send it as a JSON number)"
        ), data


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        ("/api/analyze", {"options": {"wbits": 4}},
         "options.wbits=4 is invalid: expected a known field: w_bits, a_bits, kv_bits,"),
        ("/api/analyze", {"speed": 1}, "speed=1 is invalid: expected a known field: model, "
         "device, options, batch, prompt_len, gen_len, images, speculative, economics, stage"),
        ("/api/analyze", {"model": {"id": LLAMA, "foo": 1}},
         "model.foo=1 is invalid: expected a known field: id, config, name"),
        ("/api/simulate", {"scheduler": {"maxbatch": 3}},
         "scheduler.maxbatch=3 is invalid: expected a known field: policy, max_batch,"),
    ],
)  # fmt: skip
def test_an_unknown_field_is_told_what_is_known(client, path, change, message) -> None:
    """It read "Extra inputs are not permitted", where the Python API names the settings."""
    data = error(client, path, {**SCENARIO, **change})
    assert data["message"].startswith(message), data["message"]


@pytest.mark.parametrize("speculative", [{"gamma": 8}, {"alpha": 0.5}, {"tree_width": 2}])
def test_a_drafters_shape_needs_a_drafter(client: TestClient, speculative: dict) -> None:
    """`rooflens analyze --gamma 8` without a drafter is refused; the web took it and priced
    nothing of it. At their defaults (a form sends them) they ask for nothing."""
    [(name, value)] = speculative.items()
    data = error(client, "/api/analyze", {**SCENARIO, "speculative": speculative})
    assert data["message"] == (
        f"speculative.{name}={value} is invalid: expected left out without draft, "
        "medusa_heads or mtp (no speculation)"
    )
    assert (
        post(client, "/api/analyze", {**SCENARIO, "speculative": {"gamma": 4}})["speculative"]
        is None
    )
    medusa = {"medusa_heads": True, **speculative}
    assert post(client, "/api/analyze", {**SCENARIO, "speculative": medusa})["speculative"]


def test_a_float_is_no_choice_of_integers(client: TestClient) -> None:
    """`"w_bits": 8.0` passed as 8 (pydantic's Literal compares by value) where `"tp": 2.0`
    is refused."""
    data = error(client, "/api/analyze", {**SCENARIO, "options": {"w_bits": 8.0}})
    assert data["message"] == (
        "options.w_bits=8.0 is invalid: expected one of the integers 32, 16, 8, 4, 3, 2, 1"
    )


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        ("/api/analyze", {"batch": 4.0}, "batch=4.0 is invalid: expected an integer"),
        ("/api/analyze", {"options": {"tp": 2.0}},
         "options.tp=2.0 is invalid: expected an integer"),
        ("/api/simulate", {"workload": {"requests": 10.0}},
         "workload.requests=10.0 is invalid: expected an integer"),
        ("/api/simulate", {"scheduler": {"max_batch": 8.0}},
         "scheduler.max_batch=8.0 is invalid: expected an integer"),
        ("/api/simulate", {"cluster": {"replicas": 2.0}},
         "cluster.replicas=2.0 is invalid: expected an integer"),
    ],
)  # fmt: skip
def test_a_whole_float_is_no_integer_in_any_section(
    client: TestClient, path, change, message
) -> None:
    """`"requests": 10.0` and `"max_batch": 8.0` passed as integers where `"tp": 2.0` was
    refused (as the command line refuses 8.0): every integer field refuses a float alike."""
    body = {**SCENARIO}
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(body.get(key), dict) else value
    assert error(client, path, body)["message"] == message


@pytest.mark.parametrize("value", [0, "abc", -128])
def test_a_setting_of_several_types_says_what_it_takes(client: TestClient, value) -> None:
    """w_scale takes a name or a block size: its errors named a pydantic union member
    ("options.w_scale.literal['channel','tensor']") and read "expected Input should be";
    now one item at the setting, in the declaration's words, as the command line says it."""
    data = error(client, "/api/analyze", {**SCENARIO, "options": {"w_scale": value}})
    assert [item["loc"] for item in data["detail"]] == [["body", "options", "w_scale"]]
    assert data["message"] == (
        f"options.w_scale={value!r} is invalid: expected channel, tensor or a block's weight "
        "count like 16384 (128 x 128) (or empty)"
    )


def test_showing_b_needs_a_b(client: TestClient) -> None:
    """The page's A was shown in B's place, without a word."""
    data = error(client, "/api/view", {"a": SCENARIO, "show": "b"})
    assert data["detail"][0]["loc"] == ["body", "show"]


def test_the_documented_upload_limits_are_the_viewers(client: TestClient) -> None:
    """docs/web.md said the viewer takes 10,000 layers and widths of 4,194,304 (the Python
    API's bounds), where it refuses past its own caps (4,096 layers, hidden 262,144)."""
    from pathlib import Path

    from rooflens.core.model import MAX_LAYERS, MAX_WIDTH
    from rooflens.web.service import SPEC_LIMITS

    text = " ".join((Path(__file__).parents[1] / "docs" / "web.md").read_text().split())
    caps = (SPEC_LIMITS["num_layers"], SPEC_LIMITS["hidden_size"])
    assert f"at most {caps[0]:,} layers, a hidden width of {caps[1]:,}" in text
    assert f"up to {MAX_LAYERS:,} layers and widths of {MAX_WIDTH:,}" in text
    for key, field in (
        ("num_hidden_layers", "num_layers"),
        ("intermediate_size", "intermediate_size"),
    ):
        config = {**bundled_config(LLAMA), key: SPEC_LIMITS[field] + 1}
        data = error(client, "/api/model", {"config": config})
        assert data["message"] == (
            f"config: {field}={SPEC_LIMITS[field] + 1} (as rooflens reads the config) is "
            f"invalid: expected at most {SPEC_LIMITS[field]:,} in the viewer (its cap on work; "
            "the command line takes more)"
        )


@pytest.mark.parametrize(
    ("change", "loc", "at"),
    [({"hourly_prices": {"l4": "1"}}, ["hourly_prices"], " at l4"), ({"top": "3"}, ["top"], "")],
)
def test_the_advisor_takes_no_text_for_a_number(client: TestClient, change, loc, at) -> None:
    """A price of "1" passed as 1 USD/h where the other requests refuse text for a number;
    its lists still come as text ("1,2") as the page sends them."""
    body = {"model": {"id": LLAMA}, "devices": ["l4"]} | change
    data = error(client, "/api/advise", body)
    assert data["detail"][0]["loc"][1:] == loc, data
    assert data["message"].endswith(
        f"is invalid: text is not a number{at} (send it as a JSON number)"
    )


def test_the_advisor_leaves_out_a_setting_sent_as_empty_text(client: TestClient) -> None:
    """engine, engine_version, budget and devices sent empty were refused (devices "" as "[]
    expected at least one device"), where `rooflens advise --devices ''` searches every priced
    device, as the field's help says, and the analysis's options take empty text as left out.
    A list that must hold something still refuses it."""
    from rooflens.advisor.choices import AdviseSearch

    empty = AdviseSearch.model_validate(
        {"engine": "", "engine_version": " ", "budget": "", "devices": ""}
    )
    assert empty == AdviseSearch()
    body = {"model": {"id": LLAMA}, "devices": "h100-sxm", "verify": 0, "top": 1}
    base = client.post("/api/advise", json=body).json()
    for field in ("engine", "engine_version", "budget"):
        answer = client.post("/api/advise", json=body | {field: ""})
        assert answer.status_code == 200 and answer.json()["picks"] == base["picks"], field
    every = client.post("/api/advise", json=body | {"devices": ""}).json()
    assert every["screened"] > base["screened"]
    assert error(client, "/api/advise", body | {"tp": ""})["message"].startswith(
        "tp='' is invalid: expected at least one: "
    )


@pytest.mark.parametrize("field", ["kv_bits", "tp", "pp"])
def test_the_advisor_takes_no_float_for_a_width(client: TestClient, field: str) -> None:
    """kv_bits [8.0] was searched as 8 (a Literal of integers compares by value)."""
    body = {"model": {"id": LLAMA}, "devices": ["h100-sxm"], field: [8.0]}
    data = error(client, "/api/advise", body)
    assert data["detail"][0]["loc"][1:] == [field], data
    assert data["message"] == f"{field}=[8.0] is invalid: expected whole numbers, not 8.0"
    # Empty: named as sent, not as the empty tuple it was read into ("tp=()").
    data = error(client, "/api/advise", {**body, field: []})
    assert data["message"].startswith(f"{field}=[] is invalid: expected at least one: ")


def test_a_body_the_parser_gives_up_on_or_of_another_type_says_so(client: TestClient) -> None:
    """A body nested 5,000 deep was FastAPI's bare 400 without a message; one sent as text/plain
    read "body=b'{...}' is invalid: Input should be a valid dictionary"."""
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    res = client.post("/api/analyze", content=deep, headers={"content-type": "application/json"})
    assert res.status_code == 400
    assert res.json()["message"] == (
        "body is invalid: expected a JSON object its parser reads (there was an error parsing "
        "the body)"
    )
    body = json.dumps({"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}})
    res = client.post("/api/analyze", content=body, headers={"content-type": "text/plain"})
    assert res.status_code == 422
    assert res.json()["message"] == (
        "body is invalid: expected a JSON object sent as application/json, not text/plain"
    )
    # Other HTTP errors carry the same message and detail (test_unknown_routes_and_methods…).
    assert client.get("/api/nothing").status_code == 404


def test_a_comparison_priced_apart_names_what_priced_each_side(client: TestClient) -> None:
    """A and B were both "…on h100-sxm": which was the roofline and which vLLM's profile
    showed only in what B changes."""
    side = {"model": {"id": LLAMA}, "device": {"name": "h100-sxm"}}
    mixed = post(client, "/api/compare", {"a": side, "b": side | {"options": {"engine": "vllm"}}})
    assert mixed["a"] == f"{LLAMA} on h100-sxm, roofline bound"
    assert mixed["b"] == (
        f"{LLAMA} on h100-sxm, calibrated estimate (vllm 0.24.0 profile, h100-sxm, graphs, "
        "prefill's up to 512 tokens)"
    )
    alike = post(client, "/api/compare", {"a": side, "b": side | {"batch": 8}})
    assert alike["a"] == alike["b"] == f"{LLAMA} on h100-sxm"


def test_a_scenario_takes_images_as_the_command_line_does(client: TestClient) -> None:
    """`rooflens analyze --images 1` priced Gemma 3's vision encoder; the API refused images."""
    body = {"model": {"id": "google/gemma-3-27b-it"}, "device": {"name": "b200"}, "images": 1}
    data = post(client, "/api/analyze", body | {"gen_len": 64})
    want = api.analyze("google/gemma-3-27b-it", "b200", images=1, gen_len=64)
    assert data["generation"]["ttft"] == pytest.approx(float(want.generation["ttft"]), rel=1e-12)
    assert data["totals"]["vision"]["time"] == pytest.approx(
        float(want.totals()["vision"]["time"]), rel=1e-12
    )
    assert "vision" in {op["stage"] for op in data["operators"]}
    refused = error(client, "/api/analyze", {**body, "model": {"id": "openai-community/gpt2"}})
    assert refused["message"].startswith("images=1 is invalid: expected 0: ")
    assert error(client, "/api/analyze", {**body, "images": 65})["detail"][0]["loc"] == [
        "body", "images"
    ]  # fmt: skip


# Refusals of every kind have one shape -------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "message", "loc"),
    [
        ("get", "/api/nothing", 404,
         "GET /api/nothing is not found: the page is at /, the API's routes at /docs", "path"),
        ("post", "/nowhere", 404,
         "POST /nowhere is not found: the page is at /, the API's routes at /docs", "path"),
        ("get", "/static/missing.js", 404,
         "GET /static/missing.js is not found: the page is at /, the API's routes at /docs",
         "path"),
        ("get", "/api/analyze", 405,
         "GET /api/analyze is not allowed: this route takes POST", "method"),
        ("delete", "/api/models", 405,
         "DELETE /api/models is not allowed: this route takes GET, HEAD", "method"),
        # Every method its routes take: it had said GET alone.
        ("put", "/api/jobs/abc", 405,
         "PUT /api/jobs/abc is not allowed: this route takes DELETE, GET, HEAD", "method"),
    ],
)  # fmt: skip
def test_unknown_routes_and_methods_answer_as_every_refusal(
    client: TestClient, method: str, path: str, status: int, message: str, loc: str
) -> None:
    """A 404 or 405 was FastAPI's bare {"detail": "Not Found"}, without the `message` every
    other refusal has."""
    res = client.request(method.upper(), path)
    assert res.status_code == status
    data = res.json()
    assert data["message"] == message
    assert data["detail"] == [{"loc": [loc], "msg": message, "type": data["detail"][0]["type"]}]
    assert data["detail"][0]["type"] == ("not_found" if status == 404 else "method_not_allowed")
    s.ErrorOut.model_validate(data)  # the declared error body
    if status == 405:  # the methods it takes, as HTTP says them
        assert res.headers["allow"] == message.split("takes ", 1)[1]


def test_an_unknown_routes_message_keeps_to_one_short_line(client: TestClient) -> None:
    data = client.get("/" + "x" * 500).json()
    assert data["message"] == (
        f"GET /{'x' * 76}... is not found: the page is at /, the API's routes at /docs"
    )


@pytest.mark.parametrize(
    ("device", "field", "at"),
    [
        ({"name": "h100-sxm", "peak_ops": {"fp8": 1e15, "bf16": "5e14"}},
         "device.peak_ops={'fp8': 1000000000000000.0, 'bf16': '5e14'}", " at bf16"),
        ({"name": "h100-sxm", "memory_bandwidth": "2e12"}, "device.memory_bandwidth='2e12'", ""),
    ],
)  # fmt: skip
def test_a_devices_rate_takes_no_text(client: TestClient, device: dict, field: str, at) -> None:
    """peak_ops {"bf16": "5e14"} passed as 5e14 (its bounded type, Rate, hid the float from
    the check every other number field has); the key is named, not the mapping alone."""
    data = error(client, "/api/analyze", {**SCENARIO, "device": device})
    assert data["message"] == (
        f"{field} is invalid: text is not a number{at} (send it as a JSON number)"
    )
    assert data["detail"][0]["loc"][:3] == ["body", "device", field.split("=")[0].split(".")[1]]


def test_a_devices_rate_as_a_number_is_taken(client: TestClient) -> None:
    device = {"name": "h100-sxm", "peak_ops": {"bf16": 5e14}, "memory_bandwidth": 2e12}
    data = post(client, "/api/analyze", {**SCENARIO, "device": device})
    assert data["device"]["peak_ops"]["bf16"] == 5e14
    assert data["device"]["memory_bandwidth"] == 2e12
    assert data["roofline"]["peaks"]["bf16"] == 5e14


FUSION_TAKES = (
    "expected all or none alone, or any of qkv, gate_up, act, add_norm, moe, flash_decoding "
    "(or empty)"
)


def test_a_word_that_stands_alone_in_a_list_says_so(client: TestClient) -> None:
    """fusion ["all", "qkv"] read "Input should be 'qkv', …", which never says that all and
    none are taken on their own; the declaration's words do."""
    from rooflens.settings import Settings, accepted

    assert f"expected {accepted(Settings, 'fusion')}" == FUSION_TAKES
    data = error(client, "/api/analyze", {**SCENARIO, "options": {"fusion": ["all", "qkv"]}})
    assert data["message"] == f"options.fusion.0='all' is invalid: {FUSION_TAKES}"
    assert data["detail"][0]["loc"] == ["body", "options", "fusion", 0]
    # Alone, each word is taken.
    for word in ("all", "none"):
        post(client, "/api/analyze", {**SCENARIO, "options": {"fusion": [word]}})


def test_a_number_among_a_lists_words_is_a_422(client: TestClient) -> None:
    """fusion ["qkv", 3] was a 500 (the setting lower-cased every item)."""
    res = TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False).post(
        "/api/analyze", json={**SCENARIO, "options": {"fusion": ["qkv", 3]}}
    )
    assert res.status_code == 422, res.text
    message = res.json()["message"]
    assert message.startswith("options.fusion"), message
    assert "all or none alone, or any of qkv" in message, message


def test_the_schema_says_what_a_search_and_a_capacity_warning_are(client: TestClient) -> None:
    """q's words match the model type too (qwen3_moe finds Qwen3-30B-A3B); a capacity's
    warning is also given beside a rate, as a caveat on it."""
    schema = client.get("/openapi.json").json()
    q = next(p for p in schema["paths"]["/api/models"]["get"]["parameters"] if p["name"] == "q")
    assert q["description"].startswith("Words that must all appear in the id or the model type")
    found = client.get("/api/models", params={"q": "qwen3_moe"}).json()
    assert found and all(m["model_type"] == "qwen3_moe" for m in found)
    assert "Qwen/Qwen3-30B-A3B" in [m["id"] for m in found]
    assert not any("qwen3_moe" in m["id"].lower() for m in found)
    warning = schema["components"]["schemas"]["CapacityOut"]["properties"]["warning"]
    assert "beside a rate, a caveat on it" in warning["description"]


def test_the_serving_caps_are_those_docs_web_lists() -> None:
    """docs/web.md's Limits: batch limit 4,096, token budgets and chunks 65,536, KV blocks
    4,096 tokens, 64 replicas a pool, an advised rate of 10^6 requests/s."""
    import annotated_types

    from rooflens.web import schemas as s

    def most(model: type, name: str) -> float:
        metadata = model.model_fields[name].metadata
        return min(m.le for m in metadata if isinstance(m, annotated_types.Le))

    caps = {
        (s.SchedulerIn, "max_batch"): 4096,
        (s.SchedulerIn, "max_tokens"): 65536,
        (s.SchedulerIn, "chunk_size"): 65536,
        (s.SchedulerIn, "block_size"): 4096,
        (s.ClusterIn, "replicas"): 64,
        (s.ClusterIn, "prefill_replicas"): 64,
        (s.ClusterIn, "decode_replicas"): 64,
        (s.TargetIn, "rate"): 1e6,
    }
    for (model, name), cap in caps.items():
        assert most(model, name) == cap, (model.__name__, name)


def test_a_list_too_long_and_a_query_of_the_wrong_type_are_said_in_words(
    client: TestClient,
) -> None:
    """pydantic's "List should have at most 64 items after validation, not 65" and "Input
    should be a valid integer, unable to parse string as an integer", in the API's words."""
    body = {**SCENARIO, "batch": list(range(1, 66))}
    data = error(client, "/api/sweep", body)
    assert data["message"].endswith("is invalid: expected at most 64 values")
    res = client.get("/api/models?limit=abc")
    assert res.status_code == 422
    assert res.json()["message"] == "limit='abc' is invalid: expected an integer"


def test_a_scenarios_setting_and_a_dict_key_are_named_as_the_request_spells_them(
    client: TestClient,
) -> None:
    """A scenario's setting of several types in /api/view said pydantic's branch tag and half
    its words ("a.options.w_scale.literal['channel','tensor']='banana' ... channel or
    tensor"); a peak of an unknown type said "peak_ops.foo.[key]"."""
    scenario = {"model": {"id": "gpt2"}, "device": {"name": "h100-sxm"}}
    view = {"a": {**scenario, "options": {"w_scale": "banana"}}, "b": None, "show": "a"}
    data = error(client, "/api/view", view)
    assert data["message"].startswith(
        "a.options.w_scale='banana' is invalid: expected channel, tensor or a block's weight count"
    )
    assert data["detail"][0]["loc"] == ["body", "a", "options", "w_scale"]
    device = {
        "name": "x",
        "memory_bandwidth": 1e12,
        "memory_capacity": 1e10,
        "peak_ops": {"foo": 1e15},
    }
    data = error(client, "/api/analyze", {**SCENARIO, "device": device})
    assert data["message"].startswith("device.peak_ops.foo='foo' is invalid: expected one of fp32")


def test_an_empty_device_name_is_a_device_of_ones_own(client: TestClient) -> None:
    """The field's help says "empty: a custom device", but "" was refused as no catalog
    device: it is now the name left out, a device from the figures given."""
    own = {"memory_bandwidth": 1e12, "memory_capacity": 8e10, "peak_ops": {"bf16": 1e14}}
    named = client.post("/api/analyze", json={"model": "gpt2", "device": {"name": "", **own}})
    unnamed = client.post("/api/analyze", json={"model": "gpt2", "device": own})
    assert named.status_code == 200 and named.json()["totals"] == unnamed.json()["totals"]
    assert error(client, "/api/analyze", {"model": "gpt2", "device": {"name": ""}})[
        "message"
    ].endswith("needs memory_bandwidth, memory_capacity and peak_ops; missing: "
                "memory_bandwidth, memory_capacity, peak_ops")  # fmt: skip
