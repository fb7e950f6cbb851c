"""Every setting is declared once (rooflens.settings) and means the same on every entry point."""

from __future__ import annotations

import json
import re

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import rooflens
from rooflens.api import operator_rows
from rooflens.cli.app import app
from rooflens.serving.config import ADVISE_SLO, SLO, ClusterConfig, SchedulerConfig, Target
from rooflens.settings import SETTING_NAMES, Settings, parse_settings, setting_from_text
from rooflens.web.app import create_app

MODEL, DEVICE = "meta-llama/Llama-2-7b-hf", "h100-sxm"
# Settings away from their defaults, falsy ones included (a zero latency is a setting).
GIVEN = {
    "tp": 2,
    "link_latency": 0.0,
    "w_bits": 8,
    "kv_bits": 8,
    "flash_attention": True,
    "fusion": ("qkv", "gate_up"),
    "scale_bandwidth": 0.5,
    "prune_depth": 0.25,
}
runner = CliRunner()


def _flags(settings: dict) -> list[str]:
    out = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        else:
            out += [flag, ",".join(value) if isinstance(value, tuple) else str(value)]
    return out


def _cli_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# Settings given at their plain values where the model or the engine would otherwise decide:
# 16-bit weights and activations on an FP8 checkpoint, nothing fused with an engine.
PLAIN_ON_FP8 = ("nvidia/Llama-3.1-8B-Instruct-FP8", {"w_bits": 16, "a_bits": 16}, {})
UNFUSED_ENGINE = (
    "meta-llama/Llama-3.1-8B",
    {"engine": "vllm", "fusion": "none"},
    {"engine": "vllm"},
)


@pytest.mark.parametrize(
    ("model", "given", "without"),
    [
        (MODEL, GIVEN, {}),
        PLAIN_ON_FP8,
        UNFUSED_ENGINE,
        ("meta-llama/Llama-3.1-8B", {"engine": "sglang", "fusion": "none"}, {"engine": "sglang"}),
    ],
    ids=[
        "away from defaults",
        "16 bits on an FP8 checkpoint",
        "no fusion with an engine",
        "no fusion with SGLang",
    ],
)
def test_every_entry_point_prices_the_same_step(model: str, given: dict, without: dict) -> None:
    """The settings given reach the step priced from every entry point, including values
    equal to a plain default that the checkpoint or the engine would otherwise replace."""
    expected = rooflens.analyze(model, DEVICE, batch=1, prompt_len=512, **given).totals()
    prefill, decode = float(expected["prefill"]["time"]), float(expected["decode"]["time"])
    default = rooflens.analyze(model, DEVICE, batch=1, prompt_len=512, **without).totals()
    assert float(default["decode"]["time"]) != pytest.approx(decode, rel=1e-3)

    cli = _cli_json("analyze", model, "-H", DEVICE, "--prompt-len", "512", *_flags(given))
    assert cli["totals"]["prefill"]["time"] == pytest.approx(prefill, rel=1e-12)
    assert cli["totals"]["decode"]["time"] == pytest.approx(decode, rel=1e-12)

    # One request of two output tokens: TTFT is the prefill step (after the engine's measured
    # time on its serving path, where it has one), TPOT one decode step.
    simulated = _cli_json(
        "simulate", model, "-H", DEVICE, "--requests", "1", "--prompt", "fixed:512",
        "--output", "fixed:2", *_flags(given),
    )  # fmt: skip
    sim = simulated["summary"]
    way_in = simulated["host_per_request"]
    assert way_in == {"vllm": 0.0099, "sglang": 0.0158}.get(given.get("engine"), 0.0)
    assert sim["ttft_mean"] == pytest.approx(prefill + way_in, rel=1e-12)
    assert sim["tpot_mean"] == pytest.approx(decode, rel=1e-12)

    base = [f"--base={k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in given.items()]
    # B restates A's tp: it keeps every other setting of A.
    vs = f"--vs=tp={given.get('tp', 1)}"
    rows = _cli_json("compare", model, "-H", DEVICE, "--prompt-len", "512", *base, vs)["rows"]
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["prefill time"]["a"] == pytest.approx(prefill, rel=1e-12)
    assert by_metric["decode step time"]["b"] == pytest.approx(decode, rel=1e-12)

    body = {
        "model": {"id": model},
        "device": {"name": DEVICE},
        "batch": 1,
        "prompt_len": 512,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()},
    }
    web = TestClient(create_app(), base_url="http://127.0.0.1").post("/api/analyze", json=body)
    assert web.status_code == 200, web.text
    totals = web.json()["totals"]
    assert totals["prefill"]["time"] == pytest.approx(prefill, rel=1e-12)
    assert totals["decode"]["time"] == pytest.approx(decode, rel=1e-12)


@pytest.mark.parametrize("command", ["analyze", "memory", "sweep", "simulate", "report"])
def test_every_setting_is_an_option_with_its_declared_default(command: str) -> None:
    click = typer.main.get_command(app)
    params = {p.name: p for p in click.commands[command].params}  # type: ignore[attr-defined]
    assert set(SETTING_NAMES) <= set(params)
    for name in SETTING_NAMES:
        declared = Settings.model_fields[name].default
        # Left out, an option is None: the setting keeps its declared default (or a
        # checkpoint's precision), and the help says which.
        assert params[name].default is None, name
        assert params[name].help.startswith(Settings.model_fields[name].description)
        if declared not in (None, ()):
            shown = ",".join(declared) if isinstance(declared, tuple) else declared
            assert f"default {str(shown).lower()})" in params[name].help, name


def test_the_web_form_is_the_declaration() -> None:
    schema = TestClient(create_app(), base_url="http://127.0.0.1").get("/openapi.json").json()
    options = schema["components"]["schemas"]["Options"]["properties"]
    assert set(options) == set(SETTING_NAMES)
    # The one web-only change: a calibration is a bundled profile, never a file path.
    for name in set(SETTING_NAMES) - {"calibration"}:
        field = Settings.model_fields[name]
        assert options[name]["description"] == field.description
        assert options[name]["group"] == field.json_schema_extra["group"]


@pytest.mark.parametrize(
    ("values", "field", "accepted"),
    [
        ({"w_bits": True}, "w_bits", "one of 32, 16, 8, 4, 3, 2, 1"),
        ({"tp": True}, "tp", "an integer in [1, 1024]"),
        ({"tp": 2.0}, "tp", "an integer in [1, 1024]"),
        # pydantic's Literal[8] takes 8.0 (8.0 == 8), where an integer field refuses it.
        ({"w_bits": 8.0}, "w_bits", "one of 32, 16, 8, 4, 3, 2, 1"),
        ({"state_bits": 16.0}, "state_bits", "one of 16, 32"),
        ({"offload_kv": "false"}, "offload_kv", "true or false"),
        ({"link_latency": float("inf")}, "link_latency", "a number in [0, 1] (or empty)"),
        ({"prompt_keep": 0}, "prompt_keep", "a number in (0, 1]"),
        ({"fusion": "qkv,nope"}, "fusion", "all or none alone, or any of qkv, gate_up, act"),
        # "all" beside another read as if it were refused itself.
        ({"fusion": "all,none"}, "fusion", "all or none alone, or any of qkv"),
        ({"nm_sparsity": "2-4"}, "nm_sparsity", "N:M with N < M, like 2:4"),
        ({"nm_sparsity": "4:2"}, "nm_sparsity", "N:M with N < M"),
        ({"speed": 3}, "speed", "a known setting: w_bits"),
    ],
)
def test_bad_values_name_the_setting_and_what_it_accepts(values, field, accepted) -> None:
    with pytest.raises(rooflens.InvalidInputError) as info:
        parse_settings(values)
    assert info.value.field == field
    assert accepted in info.value.accepted


def test_text_values_are_read_as_their_declared_type() -> None:
    assert setting_from_text("flash_attention", "no") is False
    assert setting_from_text("offload_kv", "yes") is True
    assert setting_from_text("w_bits", "4") == 4
    # As `--w-bits 4.0` reads it (compare --vs w_bits=4.0 refused it); a fraction is no int.
    assert setting_from_text("w_bits", "4.0") == 4 and setting_from_text("tp", "2.0") == 2
    for text in ("4.5", "inf", "nan"):
        with pytest.raises(rooflens.InvalidInputError, match="w_bits"):
            setting_from_text("w_bits", text)
    assert setting_from_text("link_latency", "0") == 0.0
    assert setting_from_text("group_size", "none") is None
    with pytest.raises(rooflens.InvalidInputError, match="true or false"):
        setting_from_text("flash_attention", "maybe")


def test_compare_reads_booleans_as_booleans() -> None:
    # `--vs flash_attention=no` once turned FlashAttention on (bool("no") is True).
    rows = _cli_json(
        "compare", MODEL, "-H", DEVICE, "--base", "flash_attention=yes", "--vs",
        "flash_attention=no",
    )["rows"]  # fmt: skip
    plain = rooflens.analyze(MODEL, DEVICE, prompt_len=2048, gen_len=128).totals()
    fused = rooflens.analyze(
        MODEL, DEVICE, prompt_len=2048, gen_len=128, flash_attention=True
    ).totals()
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["prefill time"]["a"] == pytest.approx(float(fused["prefill"]["time"]))
    assert by_metric["prefill time"]["b"] == pytest.approx(float(plain["prefill"]["time"]))


def test_a_checkpoints_precision_is_the_default_and_settings_override_it() -> None:
    # gpt-oss stores MXFP4 experts with attention and router left at 16 bits.
    stored = rooflens.analyze("openai/gpt-oss-20b", "h100-sxm", prompt_len=1024)
    q = stored.options.quantization
    assert (q.w_bits, q.w_format) == (4, "mxfp4")
    assert set(stored.options.unquantized_modules) == {"attention", "router"}
    kv8 = rooflens.analyze("openai/gpt-oss-20b", "h100-sxm", prompt_len=1024, kv_bits=8)
    assert (kv8.options.quantization.w_format, kv8.options.quantization.kv_bits) == ("mxfp4", 8)
    plain = rooflens.analyze(
        "openai/gpt-oss-20b", "h100-sxm", prompt_len=1024, w_bits=16, w_format="int"
    )
    assert plain.options.quantization.w_bits == 16
    assert plain.options.unquantized_modules == ()  # the settings' weights are everywhere
    # Another width replaces the stored weights whole (FP8 storage at 16 bits means nothing),
    # and their FP8 activations with them.
    bf16 = rooflens.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", prompt_len=512, w_bits=16)
    q16 = bf16.options.quantization
    assert (q16.w_format, q16.w_scale, q16.a_bits) == ("int", "channel", 16)
    assert float(plain.memory["decode"].weights) > 2 * float(stored.memory["decode"].weights)
    cli = _cli_json("analyze", "openai/gpt-oss-20b", "-H", "h100-sxm", "--prompt-len", "1024")
    assert cli["totals"]["decode"]["time"] == pytest.approx(
        float(stored.totals()["decode"]["time"]), rel=1e-12
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Each stored value restated, or a field left out, keeps the checkpoint as stored.
        ({"w_scale": "16384"}, (8, 8, "fp", 16384)),
        ({"w_format": "fp"}, (8, 8, "fp", 16384)),
        ({"w_bits": 8}, (8, 8, "fp", 16384)),
        # A block size alone changes the stored FP8's scales, nothing else.
        ({"w_scale": "128"}, (8, 8, "fp", 128)),
        # Another format keeps the stored width; its scales and activations are the settings'.
        ({"w_format": "int"}, (8, 16, "int", "channel")),
    ],
)
def test_a_weight_setting_given_alone_keeps_what_the_checkpoint_stores_beside_it(
    given: dict, expected: tuple
) -> None:
    """DeepSeek-V3 stores block-FP8 weights (W8A8, 128 x 128 blocks): a weight setting left
    empty is "as stored", not 16 bits (its weights had doubled, to 170 GB on eight H200s)."""
    stored = rooflens.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", tp=8, prompt_len=512)
    result = rooflens.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", tp=8, prompt_len=512, **given)
    q = result.options.quantization
    assert (q.w_bits, q.a_bits, q.w_format, q.w_scale) == expected
    if expected == (8, 8, "fp", 16384):
        assert float(result.memory["decode"].weights) == float(stored.memory["decode"].weights)


def test_a_scale_or_group_alone_keeps_the_experts_and_modules_stored_apart() -> None:
    """DeepSeek-V4 stores its routed experts in MXFP4 beside FP8 weights, Kimi K2.5 INT4
    experts beside 16-bit attention: a scale or group size alone changes the stored weights'
    scales, not where they apply (V4's experts had become FP8, 155.6 GB to 285.8 GB)."""
    v4 = "deepseek-ai/DeepSeek-V4-Flash"
    stored = rooflens.analyze(v4, "h200-sxm", tp=8, prompt_len=512)
    rescaled = rooflens.analyze(v4, "h200-sxm", tp=8, prompt_len=512, w_scale="channel")
    assert rescaled.options.expert_quantization == stored.options.expert_quantization
    assert rescaled.options.quantization.w_scale == "channel"
    kimi = "moonshotai/Kimi-K2.5"
    grouped = rooflens.analyze(kimi, "h200-sxm", tp=8, prompt_len=512, group_size=128)
    assert set(grouped.options.unquantized_modules) == {"attention", "shared_experts", "mlp"}
    assert grouped.options.quantization.group_size == 128
    # A group size without a format asks for integer weights: gpt-oss' INT4 in groups of 64.
    int4 = rooflens.analyze("openai/gpt-oss-120b", "h200-sxm", w_bits=4, group_size=64)
    q = int4.options.quantization
    assert (q.w_bits, q.w_format, q.group_size) == (4, "int", 64)
    assert int4.options.unquantized_modules == ()


def test_the_stored_precision_restated_keeps_the_modules_left_at_16_bits() -> None:
    """gpt-oss' MXFP4 restated is the checkpoint as stored: attention and router stay 16-bit
    and the header says "as stored"."""
    args = ["analyze", "openai/gpt-oss-120b", "-H", "h200-sxm", "--stage", "decode"]
    stored = _cli_json(*args)
    restated = _cli_json(*args, "--w-bits", "4", "--w-format", "mxfp4")
    assert restated["totals"]["decode"] == stored["totals"]["decode"]
    header = CliRunner().invoke(app, [*args, "--w-bits", "4", "--w-format", "mxfp4"]).stdout
    assert "precision as stored" in header


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"w_format": "fp"}, "w_format='fp' is invalid: expected w_bits=8 or w_bits=4 beside"),
        ({"w_format": "nvfp4"}, "w_bits=4 beside it: without w_bits the weights are 16-bit"),
        ({"group_size": 128}, "group_size=128 is invalid: expected empty without weights below"),
    ],
)
def test_a_format_without_a_width_on_16_bit_weights_says_which_width(given, message) -> None:
    with pytest.raises(rooflens.InvalidInputError, match=re.escape(message)):
        rooflens.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", **given)


@pytest.mark.parametrize(
    "empty",
    [
        ["--engine", ""],  # refused: "expected one of transformers, ... (or empty)"
        ["--calibration", " "],
        ["--w-bits", ""],  # refused before: "expected an integer"
        ["--link-bandwidth", ""],
        ["--fusion", ""],
        ["--kv-budget", ""],
    ],
)
def test_an_empty_value_is_the_setting_left_out_as_its_help_says(empty) -> None:
    """A setting whose help reads "empty: ..." (its default, None) takes an empty value on the
    command line as left out (a script's unset variable gives one); what a setting refuses
    is still named, and a setting that cannot be empty still refuses one."""
    args = ["analyze", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "-f", "json"]
    given, left_out = runner.invoke(app, [*args, *empty]), runner.invoke(app, args)
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout) == json.loads(left_out.stdout)


def test_an_empty_value_is_left_out_of_every_declared_options_command() -> None:
    scheduled = ["simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--requests", "4",
                 "-f", "json"]  # fmt: skip
    empty = runner.invoke(app, [*scheduled, "--chunk-size", "", "--prefill-tp", ""])
    assert empty.exit_code == 0, empty.output
    assert (
        json.loads(empty.stdout)["summary"]
        == json.loads(runner.invoke(app, scheduled).stdout)["summary"]
    )
    searched = ["advise", "meta-llama/Llama-3.1-8B", "--devices", "l4", "--tp", "1",
                "--verify", "0", "-f", "json"]  # fmt: skip
    assert json.loads(runner.invoke(app, [*searched, "--engine", ""]).stdout)["estimate"] == (
        "roofline bound"
    )
    # Weights to try cannot be none: an empty list is still refused, naming what it takes.
    none = runner.invoke(app, [*searched, "--weights", ""])
    assert none.output.startswith("error: weights='' is invalid: expected some of stored")


def test_the_rendered_help_shows_what_each_setting_accepts() -> None:
    out = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "200"}).stdout
    assert (
        "Bits per weight; empty: as stored, else 16. (one of 32, 16, 8, 4, 3, 2, 1 (or empty))"
        in out
    )
    assert "(h2o, streaming; default h2o)" not in out  # literals read "one of ..."
    assert "(one of h2o, streaming; default h2o)" in out


SERVING_MODELS = {"SchedulerIn": SchedulerConfig, "ClusterIn": ClusterConfig, "SLOIn": SLO}


@pytest.mark.parametrize("declared", [SchedulerConfig, ClusterConfig])
def test_every_serving_setting_is_a_simulate_option_from_its_declaration(declared) -> None:
    click = typer.main.get_command(app)
    params = {p.name: p for p in click.commands["simulate"].params}  # type: ignore[attr-defined]
    for name, field in declared.model_fields.items():
        flag = "--" + field.json_schema_extra.get("flag", name).replace("_", "-")
        assert flag in params[name].opts, name
        # Left out, an option is None: the declared default (or the preset's) stands.
        assert params[name].default is None, name
        assert params[name].help.startswith(field.description), name
        if field.default is not None:
            # (the scheduler's: a preset's own where one runs, the help goes on to say)
            shown = f"default {str(field.default).lower()}"
            assert f"{shown})" in params[name].help or f"{shown};" in params[name].help, name


def test_the_web_serving_forms_are_the_declarations_with_the_viewers_caps() -> None:
    schema = TestClient(create_app(), base_url="http://127.0.0.1").get("/openapi.json").json()
    for web, declared in SERVING_MODELS.items():
        fields = schema["components"]["schemas"][web]["properties"]
        assert set(fields) == set(declared.model_fields), web
        for name, field in declared.model_fields.items():
            assert fields[name]["description"] == field.description, name
            assert fields[name]["group"] == field.json_schema_extra["group"], name
            assert fields[name]["title"] == field.title, name
    scheduler = schema["components"]["schemas"]["SchedulerIn"]["properties"]
    # The viewer caps the work one request may ask for; the declaration allows more.
    assert scheduler["max_batch"]["maximum"] == 4096
    assert SchedulerConfig(max_batch=100_000).max_batch == 100_000
    advise = schema["components"]["schemas"]["AdviseSLOIn"]["properties"]
    assert (advise["ttft"]["default"], advise["tpot"]["default"]) == (2.0, 0.06)


def test_a_serving_setting_given_on_the_command_line_replaces_the_presets() -> None:
    base = ["simulate", MODEL, "-H", DEVICE, "--requests", "20", "--concurrency", "4"]
    base += ["--prompt", "fixed:64", "--output", "fixed:8", "--preset", "vllm"]
    preset = _cli_json(*base)
    capped = _cli_json(*base, "--max-batch", "1", "--scheduler", "continuous")
    # One sequence at a time: each request waits for the one before, so TTFT grows.
    assert capped["ttft"]["mean"] > preset["ttft"]["mean"]
    assert capped["summary"]["mean_batch"] == pytest.approx(1.0)


def test_advise_defaults_are_the_declared_load_and_objectives() -> None:
    click = typer.main.get_command(app)
    params = {p.name: p for p in click.commands["advise"].params}  # type: ignore[attr-defined]
    assert "prompt=1000,output=300,rate=10" in params["workload"].help
    assert "ttft_p99=2s,tpot_p99=60ms" in params["slo"].help
    assert Target() == Target(prompt_len=1000, output_len=300, rate=10.0)
    assert SLO(ttft=2.0, tpot=0.06, percentile=99.0) == ADVISE_SLO


def test_a_recurrent_states_precision_sets_the_bytes_its_scan_moves() -> None:
    """state_bits over the checkpoint's declared float32 (Qwen3.5's mamba_ssm_dtype, as
    SGLang's --mamba-ssm-dtype bfloat16 serves it): a decode step's Gated DeltaNet scan reads
    and writes half the state bytes; a model without a recurrent mixer refuses it, naming it."""

    def scan_bytes(**settings: object) -> float:
        result = rooflens.analyze("Qwen/Qwen3.5-397B-A17B", "b200", batch=8, prompt_len=512,
                                  tp=8, **settings)  # fmt: skip
        rows = [row for row in operator_rows(result) if row["stage"] == "decode"]
        return next(float(row["load_kv"] + row["store_kv"]) for row in rows
                    if row["name"] == "mixer_scan")  # fmt: skip

    as_declared, sixteen = scan_bytes(), scan_bytes(state_bits=16)
    assert sixteen == pytest.approx(as_declared / 2)
    assert scan_bytes(state_bits=32) == pytest.approx(as_declared)
    with pytest.raises(rooflens.InvalidInputError) as info:
        rooflens.analyze(MODEL, DEVICE, state_bits=16)
    assert info.value.field == "state_bits"
    result = runner.invoke(app, ["analyze", MODEL, "-H", DEVICE, "--state-bits", "16"])
    assert result.exit_code == 2
    assert "state_bits=16" in result.output


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"sparse_kernel": True}, "sparse_kernel"),
        ({"nm_sparsity": "2:4", "sparse_kernel": True}, "sparse_kernel"),
        ({"low_rank_layers": "q_proj"}, "low_rank_layers"),
        ({"kv_policy": "streaming"}, "kv_policy"),
        ({"predictor_rank": 256}, "predictor_rank"),
        ({"exit_classifier_width": 10}, "exit_classifier_width"),
        ({"offload_disk_bandwidth": 7e9}, "offload_disk_bandwidth"),
        ({"fusion": "flash_decoding"}, "fusion"),
    ],
)
def test_a_setting_that_only_shapes_an_absent_technique_is_refused(given, field) -> None:
    """Each changed nothing while the settings line listed it as applied."""
    with pytest.raises(rooflens.InvalidInputError) as info:
        parse_settings(given)
    assert info.value.field == field


def test_dependent_settings_beside_what_they_shape_are_taken() -> None:
    for given in (
        {"sparsity": 0.5, "sparse_kernel": True},
        {"low_rank_ratio": 0.5, "low_rank_layers": "q_proj"},
        {"kv_budget": 512, "kv_policy": "streaming"},
        {"active_heads": 0.5, "predictor_rank": 256},
        {"early_exit_depth": 0.5, "exit_classifier_width": 10},
        {"offload_weights": True, "offload_disk_bandwidth": 7e9},
        {"flash_attention": True, "fusion": "flash_decoding"},
        {"fusion": "all"},
    ):
        parse_settings(given)
