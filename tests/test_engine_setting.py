"""`engine` is a setting like any other: analyze, simulate and advise price with its profile."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.advisor.search import SLO, Target, advise
from rooflens.cli.app import app
from rooflens.engines import DEFAULTS, load_engine_profile
from rooflens.engines.sglang import request_pool
from rooflens.serving.api import scheduler_of
from rooflens.serving.presets import preset_for
from rooflens.serving.workload import LengthDistribution, Workload

MODEL = "meta-llama/Llama-3.1-8B"


def test_an_engine_prices_with_its_profile() -> None:
    profile = load_engine_profile("vllm", "h200-sxm")
    by_name = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024, engine="vllm")
    # The engine brings its profile and the kernels its model code fuses.
    fused = DEFAULTS["vllm"].fusion
    by_profile = rooflens.analyze(
        MODEL, "h200-sxm", batch=16, prompt_len=1024, calibration=profile, fusion=fused
    )
    bound = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024)
    for stage in ("prefill", "decode"):
        t = float(by_name.totals()[stage]["time"])
        assert t == float(by_profile.totals()[stage]["time"])
        assert t > float(bound.totals()[stage]["time"])
    assert "vllm" in by_name.options.estimate
    assert by_name.options.fusion == ("qkv", "gate_up", "add_norm", "moe")


def test_the_fusion_setting_overrides_the_engines() -> None:
    """Given, the setting wins (empty: nothing fused); the engine's fusion removes the fixed
    time of k, v and up (one GEMM each with q and gate) and of the adds: decode steps, whose
    kernels are short, run faster; a long prefill's joint GEMMs run at the efficiency their
    joint size has, within a percent of the separate ones' here."""
    unfused = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024, engine="vllm",
                               fusion=())  # fmt: skip
    assert unfused.options.fusion == ()
    stated_none = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024, engine="vllm",
                                   fusion="none")  # fmt: skip
    assert stated_none.options.fusion == ()
    assert stated_none.totals()["decode"]["time"] == unfused.totals()["decode"]["time"]
    fused = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024, engine="vllm")
    assert fused.totals()["decode"]["time"] < unfused.totals()["decode"]["time"]
    prefill = fused.totals()["prefill"]["time"] / unfused.totals()["prefill"]["time"]
    assert prefill == pytest.approx(1.0, abs=0.01)
    qkv = rooflens.analyze(MODEL, "h200-sxm", batch=16, prompt_len=1024, engine="vllm",
                           fusion=("qkv",))  # fmt: skip
    assert qkv.options.fusion == ("qkv",)


def test_an_estimate_fuses_attention_unless_told() -> None:
    """Profiles time fused attention kernels: an estimate runs attention as one operator; the
    roofline bound keeps LLM-Viewer's three; a stated setting wins either way."""

    kinds = {"qk_matmul", "softmax", "sv_matmul", "flash_attention"}

    def attention(**settings: object) -> tuple[bool, list[str]]:
        a = rooflens.analyze(MODEL, "h200-sxm", batch=4, prompt_len=512, **settings)
        return a.options.flash_attention, [n for n in a.operators()["name"] if n in kinds]

    unfused = ["qk_matmul", "softmax", "sv_matmul"]
    assert attention() == (False, unfused * 2)
    assert attention(engine="sglang") == (True, ["flash_attention"] * 2)
    assert attention(calibration="auto") == (True, ["flash_attention"] * 2)
    assert attention(engine="sglang", flash_attention=False) == (False, unfused * 2)
    assert attention(flash_attention=True) == (True, ["flash_attention"] * 2)
    # The CLI's header says which: "· FlashAttention" before the estimate, or nothing.
    runner = CliRunner()
    on = ["analyze", MODEL, "-H", "h200", "--engine", "vllm"]
    for args, fused in ((on, True), ([*on, "--no-flash-attention"], False)):
        res = runner.invoke(app, args, env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        header = res.output.splitlines()[0]
        assert "calibrated estimate (vllm" in header
        assert ("· FlashAttention ·" in header) is fused
        assert ("softmax" in res.output) is not fused


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [
        ({"engine": "tgi"}, "one of transformers, compiled, vllm, sglang, trtllm"),
        ({"engine": "vllm", "calibration": "auto"}, "empty when calibration is given"),
    ],
)
def test_engine_settings_that_cannot_be(settings, accepted) -> None:
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze(MODEL, "h200-sxm", **settings)
    assert info.value.field == "engine" and accepted in info.value.accepted


@pytest.mark.parametrize(
    ("spelling", "engine"),
    [("TensorRT-LLM", "trtllm"), ("trt-llm", "trtllm"), ("tensorrt_llm", "trtllm"),
     ("vLLM", "vllm"), (" SGLang ", "sglang"), ("torch.compile", "compiled")],
)  # fmt: skip
def test_engines_go_by_their_projects_spellings(spelling: str, engine: str) -> None:
    """An engine's own spelling names it everywhere: the setting, the scheduler preset it
    brings, the advisor and the profile lookup."""
    device = rooflens.get_device("h200-sxm")
    by_spelling = rooflens.analyze(MODEL, device, batch=4, prompt_len=256, engine=spelling)
    by_name = rooflens.analyze(MODEL, device, batch=4, prompt_len=256, engine=engine)
    assert by_spelling.options.estimate == by_name.options.estimate
    assert by_spelling.totals()["decode"]["time"] == by_name.totals()["decode"]["time"]
    assert load_engine_profile(spelling, "h200-sxm") == load_engine_profile(engine, "h200-sxm")
    if engine in DEFAULTS:
        workload = Workload(requests=2, prompt=LengthDistribution(kind="fixed", a=256),
                            output=LengthDistribution(kind="fixed", a=4))  # fmt: skip
        served = rooflens.simulate(MODEL, device, workload, engine=spelling)
        preset = preset_for(engine, device)
        if preset.request_pool:  # SGLang's batch limit, sized from its KV cache
            positions = rooflens.load_model(MODEL).max_positions
            pool = request_pool(served.kv_capacity, positions)
            preset = preset.model_copy(update={"max_batch": min(preset.max_batch, pool)})
        assert served.scheduler == preset
        assert preset_for(spelling, device) == preset_for(engine, device)


def test_the_cli_and_the_advisor_take_an_engines_own_spelling() -> None:
    res = CliRunner().invoke(app, ["analyze", MODEL, "-H", "h200-sxm", "--engine", "TensorRT-LLM",
                                   "--gen-len", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    version = load_engine_profile("trtllm", "h200-sxm").engine_version
    assert f"trtllm {version} profile" in " ".join(res.output.split())
    advice = advise(MODEL, Target(prompt_len=500, output_len=100, rate=2), SLO(ttft=2.0, tpot=0.06),
                    devices=["h200-sxm"], tps=(1,), weights=("stored",), kv_bits=(16,), pps=(1,),
                    engine="vLLM")  # fmt: skip
    assert advice.engine == "vllm"
    # A name no engine goes by is still refused, as written.
    for name in ("tensorrt", "TGI"):
        res = CliRunner().invoke(app, ["analyze", MODEL, "-H", "h200-sxm", "--engine", name])
        assert res.exit_code == 2
        assert f"engine='{name}' is invalid" in res.output


def test_a_device_without_the_engines_profile_names_those_that_have_one() -> None:
    res = CliRunner().invoke(app, ["analyze", MODEL, "-H", "a6000", "--engine", "vllm"])
    assert res.exit_code == 2
    assert "vllm profiles exist for b200, b300, gb200, gb300, h100-sxm, h200-sxm" in res.output


def test_simulate_with_an_engine_uses_its_scheduler() -> None:
    workload = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=512),
        output=LengthDistribution(kind="fixed", a=8),
    )
    device = rooflens.get_device("h200-sxm")
    assert scheduler_of(None, None, device, "sglang") == preset_for("sglang", device)
    by_engine = rooflens.simulate(MODEL, device, workload, engine="sglang")
    by_hand = rooflens.simulate(
        MODEL,
        device,
        workload,
        preset="sglang",
        calibration=load_engine_profile("sglang", "h200-sxm"),
        fusion=DEFAULTS["sglang"].fusion,
    )
    assert by_engine.requests.equals(by_hand.requests)


def test_advise_rejects_devices_the_engine_has_no_profile_for() -> None:
    advice = advise(
        MODEL,
        Target(prompt_len=500, output_len=100, rate=2),
        SLO(ttft=2.0, tpot=0.06),
        devices=["h200-sxm", "a6000"],
        tps=(1,),
        weights=("stored",),
        kv_bits=(16,),
        pps=(1,),
        engine="trtllm",
    )
    table = advice.table.set_index("device")
    assert "trtllm profiles exist for" in table.loc["a6000", "binds"]
    assert bool(table.loc["h200-sxm", "feasible"])
    assert advice.engine == "trtllm"


def test_one_rule_sizes_the_kv_cache_with_the_engines_memory_fraction() -> None:
    from rooflens.core.memory import kv_room
    from rooflens.serving.simulate import prepare

    device = rooflens.get_device("h200-sxm")
    capacity = device.memory_capacity
    vllm, trt = load_engine_profile("vllm", "h200-sxm"), load_engine_profile("trtllm", "h200-sxm")
    # vLLM takes 92 % of the device; TensorRT-LLM's KV cache 90 % of what weights leave free.
    assert kv_room(capacity, 16e9, 1e9, vllm) == pytest.approx(0.92 * capacity - 17e9)
    assert kv_room(capacity, 16e9, 1e9, trt) == pytest.approx(0.9 * (capacity - 17e9))
    assert kv_room(capacity, 16e9, 1e9, None) == pytest.approx(capacity - 17e9)
    # The analyzer's largest batch and the simulator's KV blocks follow the same rule, with
    # the same activations set aside: one iteration of vLLM's 8,192-token budget.
    result = rooflens.analyze(MODEL, device, batch=1, prompt_len=1000, gen_len=24, engine="vllm")
    peak = result.peak_memory
    assert peak.capacity == pytest.approx(0.92 * capacity)
    spec, dev, opts = rooflens.api.resolve(MODEL, device, {"engine": "vllm"})
    replica = prepare(spec, dev, opts, preset_for("vllm", dev), 2048)
    assert float(peak.activations) == pytest.approx(replica.activation_reserve)
    room = kv_room(capacity, float(peak.weights), replica.activation_reserve, vllm)
    assert int(peak.max_batch) == int(room // float(peak.kv_cache))
    assert replica.kv_capacity == pytest.approx(
        kv_room(capacity, replica.weights, replica.activation_reserve, vllm)
    )


def test_memory_with_an_engine_holds_its_iterations_reserve_not_the_whole_batchs() -> None:
    """64 prompts of 8,192 tokens: prefilled at once they would hold 64 times one iteration's
    activations; vLLM prefills them within its 8,192-token budget, whose peak it sets aside."""

    def memory(*extra: str) -> dict:
        args = ["memory", MODEL, "-H", "h100-sxm", "--prompt-len", "8192", "--gen-len", "512"]
        res = CliRunner().invoke(app, [*args, *extra, "-f", "json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    engine = memory("--batch", "64", "--engine", "vllm")
    one = memory("--batch", "1", "--engine", "vllm")
    bound = memory("--batch", "64", "--flash-attention")
    assert engine["activation_reserve_tokens"] == 8192
    assert bound["activation_reserve_tokens"] is None
    reserve = {stage: fp["activations"] for stage, fp in one["memory"].items()}
    assert {stage: fp["activations"] for stage, fp in engine["memory"].items()} == reserve
    assert len(set(reserve.values())) == 1
    # The bound prefills the 64 prompts at once: 64 times one prompt's activations.
    alone = memory("--batch", "1", "--flash-attention")["memory"]["prefill"]["activations"]
    assert bound["memory"]["prefill"]["activations"] == pytest.approx(64 * alone)
    # The largest batch is what the cache leaves beside the reserve: the simulator's count.
    spec, device, options = rooflens.api.resolve(MODEL, "h100-sxm", {"engine": "vllm"})
    from rooflens.serving.simulate import prepare

    replica = prepare(spec, device, options, preset_for("vllm", device), 8192 + 512)
    per_request = engine["memory"]["generation"]["kv_cache"] / 64
    assert engine["memory"]["generation"]["max_batch"] == int(replica.kv_capacity // per_request)


def test_the_memory_fraction_setting_replaces_the_engines() -> None:
    from rooflens.core.memory import kv_room
    from rooflens.serving.simulate import prepare

    device = rooflens.get_device("h200-sxm")
    capacity = device.memory_capacity
    # vLLM: a share of the device, here 0.5 instead of its default 0.92.
    result = rooflens.analyze(
        MODEL, device, batch=1, prompt_len=1000, gen_len=24, engine="vllm", memory_fraction=0.5
    )
    assert result.peak_memory.capacity == pytest.approx(0.5 * capacity)
    # TensorRT-LLM: a share of what weights and activations leave (AIConfigurator's generated
    # deployments set 0.8), in the simulator's KV blocks too.
    spec, dev, opts = rooflens.api.resolve(
        MODEL, device, {"engine": "trtllm", "memory_fraction": 0.8}
    )
    assert opts.calibration.memory_fraction == 0.8
    replica = prepare(spec, dev, opts, preset_for("trtllm", dev), 2048)
    free = capacity - replica.weights - replica.activation_reserve
    assert replica.kv_capacity == pytest.approx(0.8 * free)
    assert replica.kv_capacity == pytest.approx(
        kv_room(capacity, replica.weights, replica.activation_reserve, opts.calibration)
    )
    with pytest.raises(rooflens.InvalidInputError, match=r"memory_fraction=0\.5"):
        rooflens.analyze(MODEL, device, memory_fraction=0.5)


def test_a_what_if_device_has_no_engine_profile() -> None:
    # Kernels were measured on the real device: as calibration="auto", the engine says so.
    with pytest.raises(rooflens.InvalidInputError, match="not on a what-if of it") as info:
        rooflens.analyze(MODEL, "h200-sxm", engine="vllm", scale_bandwidth=2.0)
    assert info.value.field == "scale_bandwidth"
    res = CliRunner().invoke(
        app, ["analyze", MODEL, "-H", "h200-sxm", "--engine", "vllm", "--bandwidth", "5e12"]
    )
    assert res.exit_code == 2 and "vllm profile was measured there, not on" in res.output


def test_the_cli_says_when_a_profile_is_read_beyond_its_fitted_sizes() -> None:
    runner = CliRunner()
    big = runner.invoke(
        app,
        ["analyze", "meta-llama/Llama-3.1-70B", "-H", "h200-sxm", "--engine", "vllm",
         "--batch", "64", "--prompt-len", "32768", "--gen-len", "16", "--w-bits", "8",
         "--a-bits", "8", "--w-format", "fp", "--allow-long-context"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert big.exit_code == 0, big.output
    note = big.output[big.output.index("note: ") :].replace("\n", " ")
    # vLLM's fused QKV GEMM is one kernel, named by its three operators.
    assert "priced beyond the sizes their profile was fitted over" in note
    assert "q_proj+k_proj+v_proj" in note
    small = runner.invoke(app, ["analyze", MODEL, "-H", "h200-sxm", "--engine", "vllm"])
    assert small.exit_code == 0 and "note: " not in small.output


def test_an_engine_version_prices_with_that_releases_tables() -> None:
    """SGLang's H100 databases time MoE kernels of 0.5.10 beside 0.5.14's: a 0.5.9 run is
    priced by 0.5.10's, and the header says which release's profile priced it."""
    moe = "Qwen/Qwen3-30B-A3B"
    runs = {
        v: rooflens.analyze(moe, "h100-sxm", prompt_len=4096, engine="sglang", engine_version=v)
        for v in ("0.5.9", None)
    }
    assert "sglang 0.5.10 profile" in runs["0.5.9"].options.estimate
    assert "sglang 0.5.14 profile" in runs[None].options.estimate
    times = {v: float(r.totals()["prefill"]["time"]) for v, r in runs.items()}
    assert times["0.5.9"] != times[None]
    res = CliRunner().invoke(
        app, ["analyze", moe, "-H", "h100-sxm", "--engine", "sglang", "--engine-version", "0.5.9"]
    )
    assert res.exit_code == 0, res.output
    assert "sglang 0.5.10 profile" in " ".join(res.output.split())


def test_a_release_without_tables_of_its_own_says_which_priced_it_and_takes_its_memory() -> None:
    """The header named the profile, but nothing said the release asked for had none of its
    own; and vLLM 0.19's 0.9 share of memory was 0.24's 0.92."""
    cases = {
        ("vllm", "0.19.0"): "priced with 0.24.0's, the nearest release after it they time",
        ("sglang", "0.5.9"): "priced with 0.5.10's, the nearest release after it they time",
        ("sglang", "0.6.0"): "priced with 0.5.14's, the newest they time",
    }
    for (engine, version), words in cases.items():
        run = rooflens.analyze(MODEL, "h100-sxm", engine=engine, engine_version=version)
        assert (
            f"engine_version={version}: the operator databases time no kernels of that "
            f"release on h100-sxm; {words}"
        ) in run.fallbacks
    # A release with tables of its own, or its post-release, needs no word.
    for version in ("0.5.10", "0.5.10.post1", None):
        run = rooflens.analyze(MODEL, "h100-sxm", engine="sglang", engine_version=version)
        assert not any(line.startswith("engine_version") for line in run.fallbacks)
    assert load_engine_profile("vllm", "h100-sxm", "0.19.0").memory_fraction == 0.9
    assert load_engine_profile("vllm", "h100-sxm", "0.22.0").memory_fraction == 0.92
    # 0.21.0 raised gpu_memory_utilization to 0.92 (vLLM pull request 38284).
    assert load_engine_profile("vllm", "h100-sxm", "0.20.1").memory_fraction == 0.9
    assert load_engine_profile("vllm", "h100-sxm", "0.21.0").memory_fraction == 0.92
    assert load_engine_profile("vllm", "h100-sxm").memory_fraction == 0.92
    assert (
        load_engine_profile("vllm", "h100-sxm", "0.19.0").model_dump().get("asked_version") is None
    )


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [
        ({"engine_version": "0.5.10"}, "empty without an engine"),
        ({"engine": "sglang", "engine_version": "latest"}, "a release number"),
        ({"engine": "transformers", "engine_version": "4.0"}, "none with transformers"),
        # Measured with one torch release (the profile states none): it was an IndexError.
        ({"engine": "compiled", "engine_version": "2.11.0"}, "none with compiled"),
    ],
)
def test_engine_versions_that_cannot_be(settings, accepted) -> None:
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze(MODEL, "h100-sxm", **settings)
    assert info.value.field == "engine_version" and accepted in info.value.accepted
    if "engine" in settings:  # the profile's loader refuses it alike, called alone
        with pytest.raises(rooflens.InvalidInputError) as info:
            load_engine_profile(settings["engine"], "h100-sxm", settings["engine_version"])
        assert accepted in info.value.accepted or "a release number" in info.value.accepted
    args = ["analyze", MODEL, "-H", "h100-sxm"]
    for name, value in settings.items():
        args += [f"--{name.replace('_', '-')}", value]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "engine_version" in res.output


def test_advise_prices_an_engine_version_with_that_releases_tables() -> None:
    """`advise --engine-version` screens with the release's profile, as `analyze` does, and
    the simulator confirms the picks with it."""
    moe = "Qwen/Qwen3-30B-A3B"
    kwargs = dict(devices=["h100-sxm"], tps=(1,), weights=("stored",), kv_bits=(16,), pps=(1,),
                  engine="sglang")  # fmt: skip
    target, slo = Target(prompt_len=4000, output_len=50, rate=1), SLO(ttft=5.0, tpot=0.5)
    newest = advise(moe, target, slo, **kwargs)
    older = advise(moe, target, slo, engine_version="0.5.9", **kwargs)
    assert (newest.engine_version, older.engine_version) == (None, "0.5.9")
    # SGLang 0.5.10's tables price 0.5.9: another prefill time than 0.5.14's.
    assert newest.table["ttft"].iloc[0] != older.table["ttft"].iloc[0]
    assert older.table["ttft"].iloc[0] > 0
    args = ["advise", moe, "--devices", "h100-sxm", "--tp", "1", "--weights", "stored", "--kv-bits",
            "16", "--pp", "1", "--verify", "0", "--engine", "sglang", "-f", "json"]  # fmt: skip
    res = CliRunner().invoke(app, [*args, "--engine-version", "0.5.9"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["estimate"] == (
        "estimated with sglang's fitted profiles for release 0.5.9 (a device's tables of "
        "that release, else of the oldest after it, else the newest), of sglang 0.5.10 on h100-sxm"
    )
    # Refused as the setting is: a version without an engine, or with transformers.
    for bad in (
        ["--engine-version", "0.5.9"],
        ["--engine", "transformers", "--engine-version", "1"],
    ):
        res = CliRunner().invoke(app, ["advise", moe, "--devices", "h100-sxm", *bad])
        assert res.exit_code == 2 and "engine_version" in res.output
    with pytest.raises(rooflens.InvalidInputError) as info:
        advise(moe, target, slo, engine_version="0.5.9", **{**kwargs, "engine": None})
    assert info.value.field == "engine_version"


def test_a_profiles_host_time_per_iteration_bounds_every_step() -> None:
    """An engine profile's host_per_iteration (none of the shipped ones sets it): a decode
    step of a few milliseconds then takes the 50 ms the host needs, in the analysis and in
    the simulator alike, while a prefill longer than 50 ms keeps its own time."""
    profile = load_engine_profile("vllm", "h200-sxm")
    slow = profile.model_copy(update={"host_per_iteration": 0.05})
    fused = DEFAULTS["vllm"].fusion
    args = {"batch": 1, "prompt_len": 1024, "fusion": fused}
    plain = rooflens.analyze(MODEL, "h200-sxm", calibration=profile, **args).totals()
    held = rooflens.analyze(MODEL, "h200-sxm", calibration=slow, **args).totals()
    assert float(plain["decode"]["time"]) < 0.05
    assert float(held["decode"]["time"]) == pytest.approx(0.05, rel=1e-12)
    generated = rooflens.analyze(MODEL, "h200-sxm", calibration=slow, gen_len=16, **args)
    assert generated.generation["tpot"] == pytest.approx(0.05, rel=1e-12)
    long = {"batch": 16, "prompt_len": 8192, "fusion": fused}
    prefill = rooflens.analyze(MODEL, "h200-sxm", calibration=profile, **long).totals()
    assert float(prefill["prefill"]["time"]) > 0.05
    same = rooflens.analyze(MODEL, "h200-sxm", calibration=slow, **long).totals()
    assert float(same["prefill"]["time"]) == float(prefill["prefill"]["time"])
    workload = Workload(
        requests=2,
        prompt=LengthDistribution(kind="fixed", a=64),
        output=LengthDistribution(kind="fixed", a=6),
    )
    result = rooflens.simulate(
        MODEL, "h200-sxm", workload, preset="vllm", calibration=slow, fusion=fused,
        concurrency=1,
    )  # fmt: skip
    assert result.percentile("tpot", 50) == pytest.approx(0.05, rel=1e-9)


def test_the_host_time_setting_sets_the_profiles_host_time_per_iteration() -> None:
    by_setting = rooflens.analyze(MODEL, "h200-sxm", engine="vllm", host_time=50, gen_len=8)
    assert by_setting.generation["tpot"] == pytest.approx(0.05, rel=1e-12)
    res = CliRunner().invoke(app, ["analyze", MODEL, "-H", "h200-sxm", "--host-time", "50"])
    assert res.exit_code == 2
    assert "host_time=50.0 is invalid: expected empty without an engine" in res.output


def test_the_request_time_setting_sets_the_profiles_time_per_request() -> None:
    """request_time (ms) replaces the profile's host_per_request and says so: TensorRT-LLM,
    which has none measured, takes 20 ms, and each request of an open loop far below capacity
    reaches its first token exactly that much later; vLLM's measured 9.9 ms can be set to 0.
    The roofline bound has no request path: one line naming the setting, in the API, the CLI
    (exit 2) and the web API (422)."""
    workload = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=512),
        output=LengthDistribution(kind="fixed", a=8),
        arrivals={"kind": "fixed", "rate": 0.5},
    )
    bare = rooflens.simulate(MODEL, "h200-sxm", workload, engine="trtllm")
    given = rooflens.simulate(MODEL, "h200-sxm", workload, engine="trtllm", request_time=20)
    assert bare.host_per_request == 0.0 and given.host_per_request == pytest.approx(0.02)
    assert given.host_per_request_source == "given: request_time 20 ms"
    np.testing.assert_allclose(
        given.requests["ttft"] - bare.requests["ttft"], 0.02, rtol=0, atol=1e-12
    )
    none = rooflens.simulate(MODEL, "h200-sxm", workload, engine="vllm", request_time=0)
    assert none.host_per_request == 0.0
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.simulate(MODEL, "h200-sxm", workload, request_time=20)
    assert info.value.field == "request_time"
    res = CliRunner().invoke(
        app, ["simulate", MODEL, "-H", "h200-sxm", "--requests", "2", "--request-time", "20"]
    )
    assert res.exit_code == 2
    assert "request_time=20.0 is invalid: expected empty without an engine" in res.output
    from fastapi.testclient import TestClient

    from rooflens.web.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1")
    body = {
        "model": {"id": MODEL},
        "device": {"name": "h200-sxm"},
        "workload": {"requests": 2, "prompt": "fixed:512", "output": "fixed:8"},
    }
    refused = client.post("/api/simulate", json=body | {"options": {"request_time": 20}})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "options", "request_time"]
    served = client.post(
        "/api/simulate", json=body | {"options": {"engine": "trtllm", "request_time": 20}}
    )
    assert served.status_code == 200 and served.json()["host_per_request"] == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [("w4_kernel", "marlin", "native"), ("fp8_moe_kernel", "trtllm_gen", "native"),
     ("execution", "eager", "graphs")],
)  # fmt: skip
def test_kernel_settings_are_refused_for_the_roofline_bound(name, value, accepted) -> None:
    """The roofline bound prices no kernel: a kernel setting other than its default is one
    line naming it (typed error, exit 2), as memory_fraction and host_time are."""
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze(MODEL, "h100-sxm", **{name: value})
    assert info.value.field == name
    assert info.value.accepted == (
        f"{accepted} without an engine or a calibration (the roofline bound prices no kernel)"
    )
    flag = f"--{name.replace('_', '-')}"
    res = CliRunner().invoke(app, ["analyze", MODEL, "-H", "h100-sxm", flag, value])
    assert res.exit_code == 2
    assert f"{name}='{value}' is invalid: expected {accepted} without an engine" in res.output
    from fastapi.testclient import TestClient

    from rooflens.web.app import create_app

    web = TestClient(create_app(), base_url="http://127.0.0.1").post(
        "/api/analyze",
        json={"model": {"id": MODEL}, "device": {"name": "h100-sxm"}, "options": {name: value}},
    )
    assert web.status_code == 422
    assert web.json()["detail"][0]["loc"] == ["body", "options", name]


def test_a_kernel_setting_no_operator_runs_says_so_and_changes_nothing() -> None:
    """A dense BF16 model has no block-FP8 experts nor MXFP4 weights: the kernel settings for
    them price exactly as without them, and the fallback lines (CLI, JSON, simulate) say
    why; a model that has such experts takes the kernel and gets no such line."""
    plain = rooflens.analyze(MODEL, "b200", engine="trtllm", gen_len=8)
    asked = rooflens.analyze(
        MODEL, "b200", engine="trtllm", gen_len=8, fp8_moe_kernel="trtllm_gen", w4_kernel="mxfp8"
    )
    for stage in ("prefill", "decode"):
        assert float(asked.totals()[stage]["time"]) == float(plain.totals()[stage]["time"])
    assert asked.fallbacks[-2:] == [
        "w4_kernel=mxfp8: nothing here runs it (it applies to expert weights in 4-bit floats "
        "(MXFP4)); priced as without it",
        "fp8_moe_kernel=trtllm_gen: nothing here runs it (it applies to expert weights in FP8 "
        "with block scales (DeepSeek-V3's)); priced as without it",
    ]
    assert not any("nothing here runs it" in line for line in plain.fallbacks)
    deepseek = rooflens.analyze(
        "deepseek-ai/DeepSeek-V3", "b200", engine="trtllm", tp=8, fp8_moe_kernel="trtllm_gen"
    )
    assert not any("nothing here runs it" in line for line in deepseek.fallbacks)
    assert any("moe:fp8_block_trtllm_gen" in line for line in deepseek.fallbacks)
    res = CliRunner().invoke(
        app, ["simulate", MODEL, "-H", "b200", "--engine", "trtllm", "--concurrency", "2",
              "--requests", "4", "--w4-kernel", "marlin", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["fallbacks"][-1] == (
        "w4_kernel=marlin: nothing here runs it (it applies to weights in 4-bit floats (MXFP4) "
        "with 16-bit activations); priced as without it"
    )


LINK_NOTE = (
    "link_bandwidth=1e+09: nothing here runs on the link model (the profile's measured tables "
    "time every collective, if any); priced as without it"
)


def test_a_link_setting_no_collective_runs_on_says_so() -> None:
    """vLLM's H100 tables time the TP-2 all-reduces, so a slower link changes nothing there and
    says so (analyze, simulate); pipeline stages send over the link, and the roofline prices
    every collective on it: no such line."""
    plain = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", tp=2, gen_len=8)
    slow = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", tp=2, gen_len=8, link_bandwidth=1e9)
    for stage in ("prefill", "decode"):
        assert float(slow.totals()[stage]["time"]) == float(plain.totals()[stage]["time"])
    assert LINK_NOTE in slow.fallbacks and LINK_NOTE not in plain.fallbacks
    staged = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", tp=2, pp=2, link_bandwidth=1e9)
    bound = rooflens.analyze(MODEL, "h100-sxm", tp=2, link_bandwidth=1e9)
    assert not any("link model" in line for line in (*staged.fallbacks, *bound.fallbacks))
    res = CliRunner().invoke(
        app, ["simulate", MODEL, "-H", "h100-sxm", "--engine", "vllm", "--tp", "2",
              "--link-bandwidth", "1e9", "--requests", "4", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert LINK_NOTE in json.loads(res.output)["fallbacks"]
    # On one device nothing crosses a link, roofline bound or not (it was said for engines).
    alone = rooflens.analyze(MODEL, "h100-sxm", link_latency=1e-6, gen_len=8)
    assert alone.fallbacks == [
        "link_latency=1e-06: nothing here runs on the link model (no collective or pipeline "
        "hand-over runs: one device); priced as without it"
    ]
    assert float(alone.totals()["decode"]["time"]) == float(
        rooflens.analyze(MODEL, "h100-sxm", gen_len=8).totals()["decode"]["time"]
    )


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        ("analyze", ["--ep", "2"], "ep=2 is invalid: expected 1: meta-llama/Llama-3.1-8B has no "
         "routed experts"),
        # It counted 2 devices, 2 groups of 1 whose experts serve every group's tokens.
        ("analyze", ["--moe-tp", "2"], "moe_tp=2 is invalid: expected empty or tp (1): "
         "meta-llama/Llama-3.1-8B has no routed experts to split"),
        ("simulate", ["--prompt-keep", "0.5", "--requests", "4"],
         "prompt_keep=0.5 is invalid: expected 1.0 (prompt compression is not simulated"),
        # A what-if device is not the one the engine's tables were measured on (the message
        # said the engine had no profile for the H100, beside a list naming it).
        ("analyze", ["--engine", "vllm", "--scale-capacity", "0.5"],
         "scale_capacity=0.5 is invalid: expected 1.0 with an engine: its profile was measured "
         "on the catalog device"),
        ("analyze", ["--engine", "vllm", "--bandwidth", "2e12"],
         "expected h100-sxm as the catalog has it: its vllm profile was measured there, not on "
         "h100-sxm (modified)"),
        # Not a single setup to screen ("No setup meets the SLO", exit 0, before).
        ("advise", ["--engine", "trtllm", "--devices", "a100-sxm4-80gb"],
         "engine='trtllm' is invalid: expected an engine with a profile for a device searched "
         "(a100-sxm4-80gb)"),
    ],
)  # fmt: skip
def test_settings_that_would_change_nothing_are_refused(command, extra, message) -> None:
    """Each was accepted and priced exactly as without it."""
    device = [] if command == "advise" else ["-H", "h100-sxm"]
    res = CliRunner().invoke(app, [command, MODEL, *device, *extra])
    assert res.exit_code == 2 and message in res.output, res.output


def test_experts_over_several_groups_count_every_device() -> None:
    """--tp 8 --ep 8 spreads the experts over 8 groups of 8 devices: the header said "8
    devices" (and nothing at --tp 1 --ep 8), where SGLang's user means 8 (--moe-tp 1)."""
    args = ["analyze", "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--gen-len", "8"]
    wide = CliRunner().invoke(app, [*args, "--tp", "8", "--ep", "8"], env={"COLUMNS": "300"})
    assert wide.exit_code == 0, wide.output
    assert "64 devices: 8 groups of 8" in wide.output
    assert "--tp 8 --ep 8 on 8 devices is --moe-tp 1 here" in wide.output
    inside = CliRunner().invoke(
        app, [*args, "--tp", "8", "--ep", "8", "--moe-tp", "1"], env={"COLUMNS": "300"}
    )
    assert "8 devices: weights" in inside.output and "groups" not in inside.output
    alone = CliRunner().invoke(app, [*args, "--ep", "8"], env={"COLUMNS": "300"})
    assert "8 devices: 8 groups of 1" in alone.output


def test_eager_execution_an_engine_profile_cannot_price_says_so() -> None:
    """The engines' tables time kernels, not launches: --execution eager changed the label
    only, silently (the transformers profiles, which measured launches, price it)."""
    graphs = rooflens.analyze(MODEL, "h100-sxm", engine="trtllm", gen_len=8)
    eager = rooflens.analyze(MODEL, "h100-sxm", engine="trtllm", gen_len=8, execution="eager")
    assert float(eager.generation["tpot"]) == float(graphs.generation["tpot"])
    assert eager.fallbacks[-1].startswith("execution=eager: the profile has no host time")
    framework = rooflens.analyze(MODEL, "h100-sxm", calibration="auto", execution="eager")
    assert not any(line.startswith("execution=") for line in framework.fallbacks)
    # vLLM's profile holds its measured launch time: an eager decode step lasts at least
    # 32 layers x 1.09 ms, longer than its kernels from a graph.
    launched = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", gen_len=8, execution="eager")
    in_graphs = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", gen_len=8)
    assert launched.fallbacks[-1] == (
        "execution=eager: every step, decode too, lasts at least the host's time to launch its "
        "kernels (the profile's 1.09 ms per layer and 0.47 ms more per mixture-of-experts "
        "layer, measured with the engine on an H100: docs/engines-measured.md, on prefills "
        "past its CUDA graphs)"
    )
    assert float(in_graphs.generation["tpot"]) < 32 * 0.00109
    assert float(launched.generation["tpot"]) == pytest.approx(32 * 0.00109, rel=1e-12)
    res = CliRunner().invoke(
        app, ["simulate", MODEL, "-H", "h100-sxm", "--engine", "trtllm", "--execution", "eager",
              "--requests", "4", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["fallbacks"][-1].startswith("execution=eager")


def test_pruned_weights_an_engine_profile_never_measured_say_so() -> None:
    """2:4 sparsity roughly halved an engine's GEMM times with no word that no profile times
    a sparse GEMM; the roofline bound, which is what it says, needs none."""
    pruned = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", gen_len=8, nm_sparsity="2:4")
    assert (
        "nm_sparsity=2:4: the profile measured no sparse GEMMs; the pruned GEMMs are priced at "
        "its dense curves' efficiency against the device's structured-sparsity peak"
    ) in pruned.fallbacks
    skipped = rooflens.analyze(
        MODEL, "h100-sxm", engine="vllm", gen_len=8, sparsity=0.5, sparse_kernel=True
    )
    assert any(
        f.startswith("sparsity=0.5 with sparse_kernel: the profile") for f in skipped.fallbacks
    )
    dense = rooflens.analyze(MODEL, "h100-sxm", engine="vllm", gen_len=8, sparsity=0.5)
    assert not any("sparse" in line for line in dense.fallbacks)
    bound = rooflens.analyze(MODEL, "h100-sxm", gen_len=8, nm_sparsity="2:4")
    assert not bound.fallbacks


def test_a_profile_of_another_device_says_where_it_was_measured(tmp_path) -> None:
    """A B200 profile given for an H200 prices the H200's peaks with the B200's fractions: the
    header, the JSON and the CLI name both devices; the device's own profile names one, and a
    saved profile keeps no trace of where it was applied."""
    b200 = load_engine_profile("vllm", "b200")
    path = tmp_path / "vllm-b200.toml"
    from rooflens.calibration.profile import save_profile

    save_profile(b200, path)
    on_h200 = rooflens.analyze(MODEL, "h200-sxm", calibration=str(path))
    assert "measured on b200, applied to h200-sxm" in on_h200.options.estimate
    assert "applied to h200-sxm" in on_h200.to_dict()["estimate"]
    assert on_h200.options.calibration.applied_to == "h200-sxm"
    # Prices as the profile does: the label is all the copy changes.
    same = rooflens.analyze(MODEL, "h200-sxm", calibration=b200)
    assert same.totals()["prefill"]["time"] == on_h200.totals()["prefill"]["time"]
    own = rooflens.analyze(MODEL, "b200", calibration=str(path))
    assert own.options.estimate == f"calibrated estimate ({b200.label}, graphs)"
    assert "applied_to" not in on_h200.options.calibration.model_dump()
    # The profile as resolved for the H200, given again for the B200, names no H200.
    again = rooflens.analyze(MODEL, "b200", calibration=on_h200.options.calibration)
    assert again.options.estimate == own.options.estimate
    result = CliRunner().invoke(app, ["analyze", MODEL, "-H", "h200-sxm", "--calibration",
                                      str(path), "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "measured on b200, applied to h200-sxm" in json.loads(result.output)["estimate"]


def test_a_simulation_with_another_devices_profile_quotes_its_runs_as_that_devices(
    tmp_path,
) -> None:
    from rooflens.calibration.profile import save_profile

    path = tmp_path / "vllm-b200.toml"
    save_profile(load_engine_profile("vllm", "b200"), path)
    workload = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=256),
        output=LengthDistribution(kind="fixed", a=8),
    )
    on_h200 = rooflens.simulate(MODEL, "h200-sxm", workload, calibration=str(path))
    assert on_h200.validation.startswith("profile measured on b200, applied to h200-sxm; ")
    assert "with vllm on b200" in on_h200.validation
    own = rooflens.simulate(MODEL, "b200", workload, calibration=str(path))
    assert not own.validation.startswith("profile measured")


def test_a_release_typed_with_spaces_is_that_release() -> None:
    """' 0.5.10 ' pasted into the viewer's release box was refused as no release number."""
    spaced = rooflens.analyze(MODEL, "h100-sxm", engine="sglang", engine_version=" 0.5.10 ")
    plain = rooflens.analyze(MODEL, "h100-sxm", engine="sglang", engine_version="0.5.10")
    assert spaced.options.estimate == plain.options.estimate
    assert "0.5.10" in plain.options.estimate


def test_fp4_weights_beside_fp8_activations_take_the_fp8_curves() -> None:
    """W4A8 fell to the bf16 curves, which priced an 8B prefill on vLLM's H100 profile at
    29.3 ms against 37.9 ms for W8A8 on the same FP8 units."""

    def prefill(w_bits: int) -> rooflens.Analysis:
        return rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", engine="vllm",
                                w_bits=w_bits, a_bits=8, w_format="fp")  # fmt: skip

    w8a8, w4a8 = prefill(8), prefill(4)
    assert w4a8.totals()["prefill"]["time"] >= 0.95 * w8a8.totals()["prefill"]["time"]
    assert any("(matmul:w4a8): not measured: the fp8 curves" in f for f in w4a8.fallbacks)


def test_a_share_that_leaves_the_cache_no_room_says_so() -> None:
    """Llama-3.1-70B in FP8 on an H100 under SGLang: 75 GB of 85.5 GB, yet it does not fit,
    since SGLang's static share (0.835 of the device: 71.4 GB) holds weights and KV cache and
    the weights alone take 72.7 GB; `memory` printed 'False' beside a total under the
    capacity, and nothing said why."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = ["memory", "meta-llama/Llama-3.1-70B", "-H", "h100-sxm", "--engine", "sglang",
            "--w-bits", "8", "--a-bits", "8", "--w-format", "fp", "--prompt-len", "2000",
            "--gen-len", "400"]  # fmt: skip
    out = " ".join(CliRunner().invoke(app, args, env={"COLUMNS": "250"}).stdout.split())
    assert (
        "75 GB of 85.5 GB, DOES NOT FIT (the engine's memory share, 0.835 of the device, for "
        "weights and KV cache, leaves the KV cache no room); largest batch that fits: 0"
    ) in out


def test_an_eager_run_on_a_profile_without_launch_times_is_labelled_as_priced() -> None:
    """TensorRT-LLM's profile times kernels, not launches: --execution eager prices as
    graphs, and the label says graphs, as the fallback line does (it said eager over graph
    figures)."""
    import rooflens

    eager = rooflens.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", engine="trtllm", execution="eager"
    )
    graphs = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", engine="trtllm")
    assert eager.to_dict()["estimate"] == graphs.to_dict()["estimate"]
    assert eager.to_dict()["estimate"].endswith("graphs)")
    assert any("priced as from CUDA graphs" in line for line in eager.to_dict()["fallbacks"])
    transformers = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", calibration="auto",
                                    execution="eager")  # fmt: skip
    assert transformers.to_dict()["estimate"].endswith("eager)")


def test_sglang_keeps_an_undeclared_recurrent_state_in_fp32() -> None:
    """SGLang's mamba2_state_dtype: the config's mamba_ssm_dtype, else float32. Qwen3-Next
    declares none: 32-bit states under SGLang (in one pool, 1,144 requests of 601 tokens at
    TP 4 on an H100 where 16 bits held 1,770; in SGLang's own state pool 748), 16 under vLLM
    (the model's dtype); a declared or given width stays."""
    import rooflens
    from rooflens.serving import SchedulerConfig, Workload

    load = Workload(requests=2, prompt="fixed:512", output="fixed:89")
    room = {}
    for engine, bits, pool in (("sglang", None, False), ("sglang", 16, False),
                               ("sglang", None, True), ("vllm", None, None)):  # fmt: skip
        run = rooflens.simulate(
            "Qwen/Qwen3-Next-80B-A3B-Instruct", "h100-sxm", load, engine=engine,
            concurrency=1, tp=4, **({"state_bits": bits} if bits else {}),
            scheduler=None if pool is None else SchedulerConfig(state_pool=pool),
        )  # fmt: skip
        room[engine, bits, pool] = run.kv_room
    assert room == {
        ("sglang", None, False): 1144,
        ("sglang", 16, False): 1770,
        ("sglang", None, True): 748,
        ("vllm", None, None): 2214,
    }
    declared = rooflens.analyze("Qwen/Qwen3.5-9B", "h100-sxm", engine="sglang")
    assert declared.model.mixer.state_bits == 32  # its config's float32


def test_vllm_holds_window_layers_in_whole_padded_groups() -> None:
    """vLLM's hybrid KV cache manager groups each kind of attention layer by the fewest layers
    any kind has (the most, within 1.25 times the fewest), padding each kind's last group.
    Gemma 3 27B's 10 global and 52 window layers: 7 groups of 10, so a 601-token request
    holds 70 layers' blocks, where 62 had been counted (76 such requests to 67), every group
    in whole blocks. Balanced
    (gpt-oss-120b's 18 and 18) or whole (Llama 4 Scout's 12 and 36) kinds pad nothing."""
    from rooflens.engines.vllm import kv_group_layers
    from rooflens.serving import SchedulerConfig

    assert kv_group_layers([10, 52]) == (10, 60)
    assert kv_group_layers([12, 13]) == (13, 13)  # gpt-oss-20b with an EAGLE layer
    assert kv_group_layers([62]) == (62,)
    # A kind with no layers left holds nothing (Gemma 3 1B cut to one layer, a window layer:
    # the fewest layers were 0 and the grouping divided by them).
    assert kv_group_layers([0, 1]) == (0, 1)
    one = rooflens.analyze("google/gemma-3-1b-it", "h100-sxm", prune_depth=0.97, engine="vllm")
    assert one.to_dict()["kv_layers_held"] is None and one.model.window_layers == 1
    # Half its 26 layers (22 window, 4 global) keep both kinds' shares, 11 and 2: vLLM holds
    # the window layers in groups of 2, 12 of them.
    half = rooflens.analyze("google/gemma-3-1b-it", "h100-sxm", prune_depth=0.5, engine="vllm")
    assert (half.model.num_layers, half.model.window_layers) == (13, 11)
    assert half.to_dict()["kv_layers_held"] == 14
    load = Workload(requests=2, prompt="fixed:501", output="fixed:100")
    room = {}
    for model, tp in (("google/gemma-3-27b-it", 1), ("openai/gpt-oss-120b", 1),
                      ("meta-llama/Llama-4-Scout-17B-16E", 4)):  # fmt: skip
        for groups in (True, False):
            run = rooflens.simulate(model, "h100-sxm", load, engine="vllm", concurrency=1,
                                    tp=tp, scheduler=SchedulerConfig(kv_groups=groups))  # fmt: skip
            room[model, groups] = run.kv_room
    assert room["google/gemma-3-27b-it", True] == 67
    assert room["google/gemma-3-27b-it", False] == 76
    # Every group rounds to whole 16-token blocks: 15 and 99 cached tokens hold 7 x 1 and
    # 7 x 7 blocks of 10 layers, 17,940 of which fit (by hand from vLLM's rule: 2,562 and
    # 366 requests; the kinds' shares summed before rounding had held 1,446 and 413).
    for prompt, grouped, per_layer in ((15, 2562, 2893), (99, 366, 413)):
        short = Workload(requests=2, prompt=f"fixed:{prompt}", output="fixed:1")
        counted = [
            rooflens.simulate("google/gemma-3-27b-it", "h100-sxm", short, engine="vllm",
                              concurrency=1, scheduler=SchedulerConfig(kv_groups=groups)).kv_room
            for groups in (True, False)
        ]  # fmt: skip
        assert counted == [grouped, per_layer]
    assert room["openai/gpt-oss-120b", True] == room["openai/gpt-oss-120b", False]
    scout = "meta-llama/Llama-4-Scout-17B-16E"
    assert room[scout, True] == room[scout, False]
    assert preset_for("vllm").kv_groups and not preset_for("sglang").kv_groups


def test_analyze_notes_where_the_engine_holds_memory_otherwise_than_one_pool() -> None:
    """The analysis' notes say where the engine holds the cache otherwise than one pool of
    every layer at its own size: vLLM's padded layer groups (which the largest batch counts)
    and SGLang's pool of recurrent states (which it leaves to the simulator)."""
    from rooflens.formats import analysis_notes

    def noted(model: str, engine: str) -> list[str]:
        result = rooflens.analyze(model, "h100-sxm", engine=engine)
        return [line for line in analysis_notes(result) if line.startswith("memory:")]

    (gemma,) = noted("google/gemma-3-27b-it", "vllm")
    assert "62 layers hold 70 layers' blocks, as the largest batch counts them" in gemma
    assert noted("openai/gpt-oss-120b", "vllm") == []  # 18 and 18 layers: nothing padded
    (states,) = noted("Qwen/Qwen3.5-9B", "sglang")
    assert "SGLang keeps recurrent states in a pool of their own" in states
    assert "at most 163 running requests (three slots each with the radix cache)" in states
    assert noted("Qwen/Qwen3.5-9B", "vllm") == noted("google/gemma-3-27b-it", "sglang") == []


def test_analyze_counts_vllm_padded_layer_groups_in_its_largest_batch() -> None:
    """With vLLM's preset (kv_groups on) the analyzer holds the KV blocks of the padding
    layers as the simulator does: Gemma 3 27B's 52 window layers hold 60 layers' worth beside
    its 10 global layers. By hand at a 2,048-token prompt (window 1,024): 10 x 2,048 +
    60 x 1,024 = 81,920 layer-tokens against 10 x 2,048 + 52 x 1,024 = 73,728 counted layer by
    layer, 1.1111 times the bytes; at 600 tokens (within the window) 70 / 62 of them. The
    largest batch at a 600-token prompt is then 68, where the simulator holds 67 requests of
    601 tokens (its blocks of 16 tokens round 601 up to 608)."""
    from rooflens.serving.config import SchedulerConfig
    from rooflens.serving.simulate import memory_verdict
    from rooflens.serving.workload import Workload

    gemma = "google/gemma-3-27b-it"
    vllm_run = rooflens.analyze(gemma, "h100-sxm", engine="vllm")
    sglang_run = rooflens.analyze(gemma, "h100-sxm", engine="sglang")
    assert vllm_run.options.kv_group_slack == 1.25 and sglang_run.options.kv_group_slack is None
    grouped = float(vllm_run.memory["decode"].kv_cache)
    per_layer = float(rooflens.analyze(gemma, "h100-sxm").memory["decode"].kv_cache)
    assert grouped / per_layer == pytest.approx(81_920 / 73_728, rel=1e-3)
    short = rooflens.analyze(gemma, "h100-sxm", engine="vllm", prompt_len=600, gen_len=None)
    plain = rooflens.analyze(gemma, "h100-sxm", prompt_len=600)
    assert float(short.memory["decode"].kv_cache) / float(plain.memory["decode"].kv_cache) == (
        pytest.approx(70 / 62)
    )
    assert int(short.peak_memory.max_batch) == 68
    # The simulator's memory verdict counts as its scheduler holds: with kv_groups off, every
    # layer at its own size.
    spec, device = rooflens.resolve_model(gemma), rooflens.get_device("h100-sxm")
    requests = Workload(requests=1, prompt="fixed:600", output="fixed:1").draw()
    verdicts = [
        memory_verdict(spec, device, vllm_run.options, SchedulerConfig(kv_groups=on), requests)
        for on in (True, False)
    ]
    assert verdicts[0].max_batch < verdicts[1].max_batch
    # Models whose kinds pad nothing (gpt-oss-120b's 18 and 18 layers) count as before.
    oss = [rooflens.analyze("openai/gpt-oss-120b", "h100-sxm", engine=e) for e in ("vllm", None)]
    assert oss[0].memory["decode"].kv_cache == pytest.approx(oss[1].memory["decode"].kv_cache)
    # The JSON's context says how many layers' blocks the groups hold.
    assert vllm_run.context()["kv_layers_held"] == 70
    assert sglang_run.context()["kv_layers_held"] is oss[0].context()["kv_layers_held"] is None


def test_analyze_counts_sglang_state_pool_in_its_largest_batch() -> None:
    """With SGLang's preset (state_pool on, the radix cache on) the analyzer splits the room
    0.9 : 1 between recurrent states and the KV cache, three slots a running request, as the
    simulator's replica does: its largest batch is the running requests the simulator holds
    its batch to (Qwen3-Next-80B-A3B at TP 4 on an H100, 512 + 89 tokens: 748 slots, 249
    running; Qwen3.5-9B, 1,024 tokens: 491 slots, 163 running, where one pool had counted
    628), and a batch past them does not fit, saying why."""
    from rooflens.formats import memory_verdict
    from rooflens.serving.config import ClusterConfig
    from rooflens.serving.presets import preset_for
    from rooflens.serving.simulate import pools

    for model, tp, prompt, gen, slots, running in (
        ("Qwen/Qwen3-Next-80B-A3B-Instruct", 4, 512, 89, 748, 249),
        ("Qwen/Qwen3.5-9B", 1, 1024, None, 491, 163),
    ):
        settings = {"engine": "sglang", "tp": tp}
        result = rooflens.analyze(model, "h100-sxm", prompt_len=prompt, gen_len=gen, **settings)
        spec, device, options = rooflens.api.resolve(model, "h100-sxm", settings)
        scheduler = preset_for("sglang", device, spec)
        replica, _, held = pools(spec, device, options, scheduler, ClusterConfig(),
                                 prompt + (gen or 1))  # fmt: skip
        assert (replica.state_slots, held.max_batch) == (slots, running)
        assert int(result.peak_memory.max_batch) == running == slots // 3
    # Counted in one pool (vLLM keeps states in its KV blocks) the same model holds 706.
    one_pool = rooflens.analyze("Qwen/Qwen3.5-9B", "h100-sxm", engine="vllm", prompt_len=1024)
    assert int(one_pool.peak_memory.max_batch) == 706
    over = rooflens.analyze("Qwen/Qwen3.5-9B", "h100-sxm", engine="sglang", prompt_len=1024,
                            batch=[163, 164])  # fmt: skip
    assert over.peak_memory.fits.tolist() == [True, False]
    past = rooflens.analyze("Qwen/Qwen3.5-9B", "h100-sxm", engine="sglang", prompt_len=1024,
                            batch=164)  # fmt: skip
    assert "SGLang's pool of recurrent states runs at most 163 requests at once" in (
        memory_verdict(past)
    )
    # A dense model under SGLang holds no state pool: one count as before.
    dense = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", engine="sglang")
    assert dense.peak_memory.running == np.inf


def test_vllm_preset_overlaps_iterations_from_its_async_release() -> None:
    """vLLM forms each iteration while the one before runs from 0.14 (async scheduling by
    default); an engine version before it asked for runs its iterations one after another,
    where a run had kept the newest release's overlap (Llama-3.1-8B on an H200 at 32 clients
    of 1,000 + 200 tokens: TTFT p50 0.17 s at 0.12.0, 0.42 s with the overlap)."""
    from rooflens.serving import SchedulerConfig, Workload
    from rooflens.serving.presets import preset_for

    h200 = rooflens.get_device("h200-sxm")
    releases = ("0.11.2", "0.12.0", "0.13.1rc2", "0.14", "0.24.0", "nightly", None)
    overlaps = {v: preset_for("vllm", h200, None, v).overlap for v in releases}
    assert overlaps == {"0.11.2": False, "0.12.0": False, "0.13.1rc2": False, "0.14": True,
                        "0.24.0": True, "nightly": True, None: True}  # fmt: skip
    assert preset_for("sglang", h200, None, "0.5.1").overlap  # SGLang's overlap in every release
    load = Workload(requests=64, prompt="fixed:1000", output="fixed:200")
    runs = {
        v: rooflens.simulate("meta-llama/Llama-3.1-8B", "h200-sxm", load, engine="vllm",
                             concurrency=32, **({"engine_version": v} if v else {}))
        for v in ("0.12.0", None)
    }  # fmt: skip
    assert not runs["0.12.0"].scheduler.overlap and runs[None].scheduler.overlap
    assert runs["0.12.0"].percentile("ttft", 50) < runs[None].percentile("ttft", 50)
    # A setting given wins over the release's default.
    given = rooflens.simulate("meta-llama/Llama-3.1-8B", "h200-sxm", load, engine="vllm",
                              engine_version="0.12.0", concurrency=32,
                              scheduler=SchedulerConfig(overlap=True))  # fmt: skip
    assert given.scheduler.overlap


def test_simulate_counts_sglang_state_pool_in_its_memory_and_says_its_batch() -> None:
    """SGLang allocates its pool of recurrent states whole at start: the run's memory at the
    peak holds it beside the weights (Qwen3.5-9B on an H100: 491 states of 51.5 MB, 25.3 GB),
    which it had left out; and where the memory holds more of the longest requests than the
    scheduler runs at once (491 against 163, a third of the slots with the radix cache), the
    table says so beside the room."""
    from rooflens.cli.serve_cmds import _summary_rows
    from rooflens.core.memory import state_bytes
    from rooflens.serving import Workload

    load = Workload(requests=320, prompt="fixed:1024", output="fixed:64")
    run = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang", concurrency=160)
    spec, _, options = rooflens.api.resolve("Qwen/Qwen3.5-9B", "h100-sxm", {"engine": "sglang"})
    per_state = state_bytes(spec, options.quantization)
    assert per_state == 51_511_296  # 32-bit states, as SGLang keeps them
    assert run.state_pool_bytes == 491 * per_state
    assert run.beside_kv > run.state_pool_bytes + 17e9  # the weights (17.9 GB) too
    assert run.peak_memory >= run.beside_kv and run.to_dict()["state_pool_bytes"] == 491 * per_state
    assert (run.kv_room, run.scheduler.max_batch) == (491, 163)
    rows = dict(_summary_rows(run))
    assert "room for 491 of the longest requests" in rows["peak KV cache use"]
    assert "at most 163 run at once" in rows["peak KV cache use"]
    assert "recurrent-state pool" in rows["memory at the peak"]
    dense = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", load, engine="sglang",
                              concurrency=16)  # fmt: skip
    assert dense.state_pool_bytes == 0


def test_simulate_table_gives_a_light_runs_kv_share_a_decimal() -> None:
    """Four clients of Llama-3.1-8B on an H100 hold 4 x (512 + 32) tokens of a cache with room
    for hundreds of thousands: its peak share, under one percent, reads with two significant
    digits (0.47 %), not as "0 %"; below 0.01 % it reads "< 0.01 %", from 9.95 % whole."""
    from rooflens.cli.serve_cmds import _kv_use
    from rooflens.serving import Workload

    load = Workload(requests=8, prompt="fixed:512", output="fixed:32")
    run = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", load, concurrency=4)
    share = run.summary()["peak_kv_share"]
    assert 0.004 < share < 0.005
    assert _kv_use(run, share).startswith(f"{100 * share:.2g} % of ")
    for given, shown in (
        (0.5, "50"), (0.0999, "10"), (0.09951, "10"), (0.09949, "9.9"), (0.00469, "0.47"),
        (0.05, "5"), (8.3e-5, "< 0.01"), (0.0, "0"), (-0.0, "0"),
    ):  # fmt: skip
        assert _kv_use(run, given).startswith(f"{shown} % of "), given
