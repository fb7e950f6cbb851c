"""Property tests of the web API's inputs: whatever a client sends, the answer is a 200 or a
4xx that names a field, never a 5xx."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooflens.models.catalog import bundled_config
from rooflens.web import create_app
from rooflens.web import schemas as s

CLIENT = TestClient(create_app(), base_url="http://127.0.0.1", raise_server_exceptions=False)
POSTS = (
    "/api/model",
    "/api/analyze",
    "/api/sweep",
    "/api/compare",
    "/api/view",
    "/api/simulate",
    "/api/scheduler",
    "/api/advise",
)
# A fixed, quick search in the suite; ROOFLENS_FUZZ_EXAMPLES=2000 searches longer and at random.
EXAMPLES = int(os.environ.get("ROOFLENS_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=EXAMPLES <= 60,
    database=None,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def send(path: str, body: Any) -> Any:
    # NaN and infinities go out as the bare words Python's json writes: a client may send them.
    res = CLIENT.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert res.status_code < 500, (path, body, res.text)
    data = res.json()
    if res.status_code == 422:
        assert data["message"] and data["detail"] and data["detail"][0]["loc"], data
    return res


@FUZZ
@given(path=st.sampled_from(POSTS), body=json_values)
def test_any_json_body_is_never_a_server_error(path: str, body: Any) -> None:
    assert send(path, body).status_code in (200, 413, 422)


SCHEMA = create_app().openapi()["components"]["schemas"]


def _valid(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts for one field (the core may still refuse a combination)."""
    alts = [a for a in prop.get("anyOf", [prop]) if a.get("type") != "null"]
    p = alts[0] | {k: v for k, v in prop.items() if k != "anyOf"}
    nullable = len(alts) < len(prop.get("anyOf", [prop]))
    if "enum" in p:
        values = st.sampled_from(p["enum"])
    elif p.get("type") == "array":
        values = st.lists(st.sampled_from(p["items"]["enum"]), max_size=3)
    elif p.get("type") == "boolean":
        values = st.booleans()
    elif p.get("type") == "integer":
        low = p.get("minimum", 0)
        values = st.integers(low, min(p.get("maximum", low + 64), low + 64))
    elif p.get("type") == "number":
        low = p.get("minimum", p.get("exclusiveMinimum", 0))
        high = p.get("maximum", p.get("exclusiveMaximum", low + 4))
        values = st.floats(low, min(high, low + 4), allow_nan=False).filter(
            lambda v: v != p.get("exclusiveMinimum") and v != p.get("exclusiveMaximum")
        )
    else:
        values = st.sampled_from(["2:4", "1:2", "q_proj,o_proj", "up_proj", "x", ""])
    return st.one_of(values, st.none()) if nullable else values


def _field(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly values the schema accepts, sometimes edges and nonsense."""
    edges = st.sampled_from([0, -1, 1, 3, 7, 10**9, 0.999, 1.5, 1e-300, 1e300, "", "all"])
    return st.one_of(_valid(prop), _valid(prop), _valid(prop), edges, scalars)


option_fields = {k: _field(p) for k, p in SCHEMA["Options"]["properties"].items()}
spec_fields = {k: _field(p) for k, p in SCHEMA["Speculative"]["properties"].items()}


@st.composite
def changes(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True))
    return {k: draw(fields[k]) for k in keys}


MODELS = [
    {"id": "meta-llama/Llama-3.1-8B"},
    {"id": "mistralai/Mixtral-8x7B-Instruct-v0.1"},
    {"id": "deepseek-ai/DeepSeek-V3"},
    {"id": "google/gemma-2-2b"},
    {"id": "openai-community/gpt2"},
    {"id": "tiiuae/falcon-7b"},
]
models = st.one_of(
    st.sampled_from(MODELS),
    st.sampled_from(MODELS),
    st.sampled_from(MODELS),
    st.fixed_dictionaries({"id": st.text(max_size=30)}),
)
DEVICES = [{"name": "h100-sxm"}, {"name": "t4"}, {"name": "tpu-v5e"}, {"name": "m2-ultra"}]
devices = st.one_of(
    st.sampled_from(DEVICES),
    st.sampled_from(DEVICES),
    st.sampled_from(DEVICES),
    st.fixed_dictionaries(
        {
            "memory_bandwidth": st.floats(1e-3, 1e16),
            "memory_capacity": st.floats(1e-3, 1e16),
            "peak_ops": st.dictionaries(
                st.sampled_from(["fp32", "bf16", "fp16", "int8", "fp8", "int4", "fp4", "fp64"]),
                st.floats(1e-3, 1e20),
                max_size=3,
            ),
        }
    ),
)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "model": draw(models),
        "device": draw(devices),
        "batch": draw(st.one_of(st.integers(1, 256), st.sampled_from([0, -1, s.MAX_BATCH, 1.5]))),
        "prompt_len": draw(st.one_of(st.integers(1, 900), st.sampled_from([0, 9000, 10**7]))),
        "gen_len": draw(st.one_of(st.none(), st.integers(1, 100), st.sampled_from([0, 4000]))),
        "options": draw(changes(option_fields)),
        "speculative": draw(changes(spec_fields)),
    }


@FUZZ
@given(scenario=scenarios())
def test_analyze_inputs_are_answered_or_named(scenario: dict[str, Any]) -> None:
    res = send("/api/analyze", scenario)
    if res.status_code == 200:
        assert (
            res.json()["totals"]["decode"]["time"] is None
            or res.json()["totals"]["decode"]["time"] > 0
        )


@FUZZ
@given(a=scenarios(), b=changes(option_fields), show=st.sampled_from(["a", "b"]))
def test_view_inputs_are_answered_or_named(a: dict, b: dict, show: str) -> None:
    second = {**a, "options": {**a["options"], **b}}
    res = send("/api/view", {"a": a, "b": second, "show": show})
    if res.status_code == 200:
        assert len(res.json()["compare"]["rows"]) >= 9


@FUZZ
@given(
    scenario=scenarios(),
    batch=st.lists(st.integers(-2, 600), min_size=0, max_size=70),
    prompt=st.lists(st.integers(-2, 5000), min_size=0, max_size=8),
)
def test_sweep_inputs_are_answered_or_named(scenario: dict, batch: list, prompt: list) -> None:
    body = {k: scenario[k] for k in ("model", "device", "options")}
    res = send("/api/sweep", {**body, "batch": batch, "prompt_len": prompt})
    if res.status_code == 200:
        assert len(res.json()["rows"]) == len(batch) * len(prompt)


CONFIGS = [
    bundled_config(m)
    for m in (
        "meta-llama/Llama-3.1-8B",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "deepseek-ai/DeepSeek-V3",
        "openai-community/gpt2",
        "tiiuae/falcon-7b",
        "facebook/opt-125m",
        "google/gemma-2-2b",
    )
]


@st.composite
def uploads(draw: st.DrawFn) -> dict[str, Any]:
    config = dict(draw(st.sampled_from(CONFIGS)))
    keys = draw(st.lists(st.sampled_from(sorted(config)), min_size=1, max_size=3, unique=True))
    for key in keys:
        config[key] = draw(st.one_of(scalars, st.integers(0, 3), st.integers(1, 1 << 20)))
    return config


@FUZZ
@given(config=uploads(), batch=st.integers(1, 64))
def test_uploaded_configs_are_parsed_or_named(config: dict, batch: int) -> None:
    res = send("/api/model", {"config": config})
    if res.status_code == 422:
        assert res.json()["detail"][0]["loc"][:2] == ["body", "config"]
    scenario = {"model": {"config": config}, "device": {"name": "h100-sxm"}, "batch": batch}
    send("/api/analyze", {**scenario, "prompt_len": 64, "gen_len": 8})


@FUZZ
@given(q=st.text(max_size=120), limit=st.one_of(st.integers(-5, 300), st.text(max_size=4)))
def test_model_search_queries(q: str, limit: Any) -> None:
    res = CLIENT.get("/api/models", params={"q": q, "limit": limit})
    assert res.status_code in (200, 422), res.text


# Serving and the advisor: small loads, so that a run takes a fraction of a second; mostly
# valid settings (an invalid one ends a request early), now and then one that is not.
LENGTHS = ["fixed:48", "uniform:8:300", "normal:100:30", "lognormal:60:0.8:400", "fixed:0",
           "empirical:5,50,250", "uniform:9:3", "gauss:3", "lognormal:1e9:3"]  # fmt: skip
SECTIONS = ("Options", "SchedulerIn", "ClusterIn", "SLOIn", "TargetIn", "AdviseSLOIn")
valid_fields = {n: {k: _valid(p) for k, p in SCHEMA[n]["properties"].items()} for n in SECTIONS}
any_fields = {n: {k: _field(p) for k, p in SCHEMA[n]["properties"].items()} for n in SECTIONS}


def settings_of(draw: st.DrawFn, name: str) -> dict[str, Any]:
    fields = any_fields if draw(st.integers(0, 9)) == 0 else valid_fields
    return draw(changes(fields[name]))


@st.composite
def simulations(draw: st.DrawFn, capacity: bool) -> dict[str, Any]:
    most = 12 if capacity else 48
    odd = draw(st.integers(0, 9)) == 0
    workload = {
        "requests": draw(st.sampled_from([0, 10**6]) if odd else st.integers(1, most)),
        "rate": draw(st.sampled_from([1e-9, 1e7, 0]) if odd else st.floats(0.5, 50)),
        "arrivals": draw(
            st.sampled_from(["poisson", "gamma", "fixed", "burst"][: 4 if odd else 3])
        ),
        "cv": draw(st.floats(0.1, 5)),
        "prompt": draw(st.sampled_from(LENGTHS)),
        "output": draw(st.sampled_from(LENGTHS[:2] if capacity else LENGTHS)),
        "shared_prefix": draw(st.sampled_from([0, 0, 16, 5000])),
    }
    return {
        "model": draw(st.sampled_from(MODELS)),
        "device": draw(st.one_of(st.sampled_from(DEVICES), devices)),
        "options": settings_of(draw, "Options"),
        "workload": workload,
        "scheduler": settings_of(draw, "SchedulerIn"),
        "cluster": settings_of(draw, "ClusterIn"),
        "slo": settings_of(draw, "SLOIn"),
        "capacity": capacity,
    }


@FUZZ
@given(body=simulations(capacity=False))
def test_simulate_inputs_are_answered_or_named(body: dict[str, Any]) -> None:
    res = send("/api/simulate", body)
    if res.status_code == 200:
        data = res.json()
        assert data["summary"]["requests"] == body["workload"]["requests"]
        assert all(0 <= v <= 1 + 1e-9 for v in data["timeline"]["kv_share"])


@FUZZ
@given(body=simulations(capacity=False))
def test_scheduler_inputs_are_answered_or_named(body: dict[str, Any]) -> None:
    """The scheduler a simulation's settings run (the serving page's form shows it), its
    workload and cluster sizing SGLang's pools, or their 422 naming the field."""
    keys = ("model", "device", "options", "scheduler", "workload", "cluster")
    res = send("/api/scheduler", {k: body[k] for k in keys})
    if res.status_code == 422:
        assert res.json()["detail"][0]["loc"][1] in keys, res.text
    if res.status_code == 200:
        data = res.json()
        assert set(data) == {"engine", "preset", "scheduler"}
        assert (
            set(data["preset"])
            == set(data["scheduler"])
            == set(SCHEMA["SchedulerIn"]["properties"])
        )


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))
@given(body=simulations(capacity=True))
def test_capacity_inputs_are_answered_or_named(body: dict[str, Any]) -> None:
    res = send("/api/simulate", body)
    if res.status_code == 200:
        # null: the load is too small to find a capacity (rooflens.capacity's warning).
        rate = res.json()["capacity"]["rate"]
        assert rate is None or rate >= 0


CATALOG_NAMES = ["h100-sxm", "a10", "l4", "t4", "tpu-v5e", "mi300x", "rtx-4090", "gtx-1"]


@st.composite
def advice_requests(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "model": draw(st.sampled_from(MODELS)),
        "target": settings_of(draw, "TargetIn"),
        "slo": settings_of(draw, "AdviseSLOIn"),
        "devices": draw(st.lists(st.sampled_from(CATALOG_NAMES), min_size=1, max_size=3)),
        "hourly_prices": draw(
            st.dictionaries(st.sampled_from(CATALOG_NAMES), st.floats(-1, 10), max_size=1)
        ),
        "tp": draw(st.lists(st.sampled_from([1, 2, 4, 1, 2, 3]), min_size=1, max_size=2)),
        "w_bits": draw(st.lists(st.sampled_from([16, 8, 4, 16, 8, 5]), min_size=1, max_size=2)),
        "kv_bits": draw(st.lists(st.sampled_from([16, 8]), min_size=1, max_size=2)),
        "rank": draw(st.sampled_from(["cost", "energy", "latency", "cost", "speed"])),
        "budget": draw(st.one_of(st.none(), st.none(), st.floats(-1, 20))),
        "verify": draw(st.sampled_from([0, 0, 0, 0, 0, 1])),
    }


@FUZZ
@given(body=advice_requests())
def test_advise_inputs_are_answered_or_named(body: dict[str, Any]) -> None:
    res = send("/api/advise", body)
    if res.status_code == 200:
        data = res.json()
        assert data["feasible"] == len(data["points"]) <= data["screened"]
