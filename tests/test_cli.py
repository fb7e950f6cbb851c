"""The command line, through typer's runner: outputs for scripts, exit code 2 on bad input."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app, parse_sizes

runner = CliRunner()
REQUIRED_ROW_KEYS = {
    "stage",
    "name",
    "ops",
    "memory_access",
    "load_weight",
    "load_act",
    "store_act",
    "load_kv",
    "store_kv",
    "arithmetic_intensity",
    "performance",
    "bound",
    "time",
}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_analyze_json_carries_the_contract() -> None:
    res = invoke(
        "analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--gen-len", "128", "--format", "json"
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["operators"][0]) >= REQUIRED_ROW_KEYS
    assert {"time", "ops", "memory_access"} <= set(data["totals"]["decode"])
    assert {"weights", "kv_cache", "activations", "total"} <= set(data["memory"]["prefill"])
    assert data["params"] == 6738415616
    assert data["generation"]["ttft"] > 0


def test_analyze_stage_filter_and_csv() -> None:
    res = invoke(
        "analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--stage", "decode", "-f", "csv"
    )
    assert res.exit_code == 0
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("stage,name,scope,count,ops")
    assert all(line.startswith("decode,") for line in lines[1:])


def test_analyze_table_for_people() -> None:
    res = invoke(
        "analyze",
        "meta-llama/Llama-2-7b-hf",
        "-H",
        "a6000",
        "--gen-len",
        "16",
        "--w-bits",
        "4",
        "--group-size",
        "128",
        "--flash-attention",
    )
    assert res.exit_code == 0, res.output
    for text in ("q_proj", "flash_attention", "time per output token", "W4A16KV16"):
        assert text in res.stdout


def test_llm_viewer_conventions_flag() -> None:
    res = invoke(
        "analyze",
        "meta-llama/Llama-2-7b-hf",
        "-H",
        "a6000",
        "--conventions",
        "llm-viewer",
        "-f",
        "json",
    )
    rows = {(r["stage"], r["name"]): r for r in json.loads(res.stdout)["operators"]}
    assert rows[("prefill", "attn_add")]["memory_access"] == 2 * 2048 * 4096 * 2


def test_custom_device_from_flags() -> None:
    res = invoke(
        "analyze",
        "facebook/opt-125m",
        "--bandwidth",
        "1e12",
        "--memory",
        "8e9",
        "--peak",
        "fp16=1e14",
        "--peak",
        "fp32=1e13",
        "--prompt-len",
        "128",
        "-f",
        "json",
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["hardware"] == "custom"


def test_a_tdp_flag_gives_a_device_power_as_the_viewers_does() -> None:
    """The viewer's device took a TDP and the command line had no --tdp, so a custom device
    there never had power, energy or cost. A TDP alone keeps a catalog device as measured
    (its engine profile still prices it), as the viewer's override does."""
    from fastapi.testclient import TestClient

    from rooflens.web import create_app

    web = TestClient(create_app(), base_url="http://127.0.0.1")
    custom = {"memory_bandwidth": 3.35e12, "memory_capacity": 8e10, "peak_ops": {"bf16": 989e12}}
    flags = ("--bandwidth", "3.35e12", "--memory", "8e10", "--peak", "bf16=989e12")
    for device, args in (
        ({**custom, "tdp": 700}, (*flags, "--tdp", "700")),
        ({"name": "h100-sxm", "tdp": 350}, ("-H", "h100-sxm", "--tdp", "350", "--engine", "vllm")),
    ):
        res = invoke(
            "analyze", "gpt2", "--prompt-len", "128", "--gen-len", "8", *args, "-f", "json"
        )
        assert res.exit_code == 0, res.output
        cli = json.loads(res.stdout)
        options = {"engine": "vllm"} if "--engine" in args else {}
        body = {
            "model": "gpt2",
            "device": device,
            "prompt_len": 128,
            "gen_len": 8,
            "options": options,
        }
        answer = web.post("/api/analyze", json=body).json()
        assert cli["estimate"] == answer["estimate"]
        assert cli["economics"]["decode_power"] == pytest.approx(
            answer["economics"]["decode_power"], rel=1e-12
        )
        assert cli["economics"]["decode_power"] > 0
    args = ("-H", "h100-sxm", "--engine", "vllm", "--prompt-len", "128", "--gen-len", "8")
    plain = json.loads(invoke("analyze", "gpt2", *args, "-f", "json").stdout)
    assert cli["estimate"] == plain["estimate"] and cli["estimate"].startswith("calibrated")
    assert cli["economics"]["decode_power"] == pytest.approx(
        plain["economics"]["decode_power"] / 2, rel=1e-12
    )  # H100 SXM: 700 W in the catalog, its idle draw a share of it
    # The TDP the powers are at is said with them: a --tdp given alone left no trace.
    assert (cli["economics"]["tdp"], answer["economics"]["tdp"], plain["economics"]["tdp"]) == (
        350,
        350,
        700,
    )
    table = invoke("analyze", "gpt2", "-H", "h100-sxm", "--tdp", "350").output
    assert re.search(r"power \(prefill / decode\) +│ +\d+ W / \d+ W \(TDP 350 W a device\)", table)
    refused = invoke("analyze", "gpt2", "-H", "h100-sxm", "--tdp", "0")
    assert refused.exit_code == 2
    assert "--tdp=0.0 is invalid: expected W, above 0, and at most 1e+06" in refused.output
    # Below the idle draw its catalog entry states (21 W): named as typed, not as idle_power.
    idle = "--tdp=10.0 is invalid: expected W, at least rtx-4090's idle draw, 21, and at most 1e+06"
    assert invoke("analyze", "gpt2", "-H", "rtx-4090", "--tdp", "10").output.strip() == (
        f"error: {idle}"
    )
    below = web.post("/api/analyze", json={"model": "gpt2", "device": {"name": "rtx-4090",
                                                                        "tdp": 10}})  # fmt: skip
    assert below.status_code == 422 and below.json()["message"] == "device." + idle[2:]


@pytest.mark.parametrize("output", ["table", "json", "csv", "version", "help", "analyze-help"])
def test_a_reader_that_stops_reading_ends_the_command_cleanly(output: str) -> None:
    """`rooflens analyze ... | head -1` exited 1 (rich's answer to the closed pipe) and JSON
    or CSV 2 ("error: cannot use: Broken pipe"), where output that fit the pipe before it
    closed exited 0; `rooflens --version | true` exited 1 with a traceback of the flush at
    exit, and `--help | true` 1 (rich's answer). The pipe is closed here before the command
    writes."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "rooflens", "analyze", "gpt2", "-H", "a6000"]
    args = ["--prompt-len", "128", "-f", output]
    if output == "version":
        command, args = [sys.executable, "-m", "rooflens"], ["--version"]
    elif output.endswith("help"):  # rich's help console exited 1 (`--help | true`)
        command = [sys.executable, "-m", "rooflens", *(["analyze"] if "-" in output else [])]
        args = ["--help"]
    run = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert run.stdout is not None and run.stderr is not None
    run.stdout.close()
    assert run.stderr.read() == b""
    assert run.wait(timeout=120) == 0


def test_a_file_whose_reader_goes_away_is_still_an_error(tmp_path) -> None:
    """Only stdout's reader stopping is no error: a --requests-out pipe that closes midway
    cut the file short and sent the summary to the null device, with exit code 0."""
    import os
    import subprocess
    import sys
    import threading

    fifo = tmp_path / "requests.csv"
    os.mkfifo(fifo)

    def read_one_byte() -> None:
        with open(fifo, "rb") as reader:
            reader.read(1)

    threading.Thread(target=read_one_byte, daemon=True).start()
    summary = tmp_path / "summary.txt"
    with open(summary, "w") as out:
        run = subprocess.run(
            [sys.executable, "-m", "rooflens", "simulate", "gpt2", "-H", "a6000",
             "--requests", "2000", "--requests-out", str(fifo)],
            stdout=out, stderr=subprocess.PIPE, timeout=300,
        )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.decode().strip().endswith("error: cannot use: Broken pipe")


def test_json_keys_are_there_where_they_do_not_apply() -> None:
    """One shape whatever the device and options: a key that does not apply is null, not
    left out (a custom device without a TDP dropped `economics`; an unpriced one, its costs)."""
    from rooflens.core.economics import FIGURES

    def data(*args: str) -> dict:
        res = invoke("analyze", "gpt2", "--prompt-len", "128", *args, "-f", "json")
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    full = data("-H", "a6000", "--gen-len", "8", "--medusa", "--grid-intensity", "400")
    custom = data("--bandwidth", "1e12", "--memory", "8e9", "--peak", "fp16=1e14")
    apple = data("-H", "apple-m4-max", "--gen-len", "8")  # neither a TDP nor a price
    unpriced = data("-H", "h20", "--gen-len", "8")  # a TDP and no price
    assert set(custom) == set(apple) == set(unpriced) == set(full)
    assert set(custom["inputs"]) == set(full["inputs"])
    assert custom["economics"] is None and custom["generation"] is None
    assert apple["economics"] is None and apple["generation"]["tpot"] > 0
    assert custom["speculative"] is None and apple["speculative"] is None
    assert custom["inputs"]["prompt_tokens"] == 128 and custom["inputs"]["gen_len"] is None
    # Every figure economics gives, each a number where it applies and null where it does not.
    assert list(full["economics"]) == list(unpriced["economics"]) == list(FIGURES)
    assert all(value > 0 for value in full["economics"].values())
    assert unpriced["economics"]["energy_per_request"] > 0
    costs = ("cost_per_million_input", "cost_per_million_output")
    costs += ("carbon_per_million_output", "carbon_per_request")
    assert all(unpriced["economics"][key] is None for key in costs)
    assert full["speculative"]["generation"]["cost_per_million_output"] > 0
    spec = data("-H", "h20", "--gen-len", "8", "--medusa")["speculative"]
    assert spec["generation"]["cost_per_million_output"] is None and spec["speedup"] > 1


def test_hardware_override_is_a_what_if() -> None:
    base = json.loads(
        invoke("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "-f", "json").stdout
    )
    faster = json.loads(
        invoke(
            "analyze",
            "meta-llama/Llama-2-7b-hf",
            "-H",
            "a6000",
            "--bandwidth",
            "1536e9",
            "-f",
            "json",
        ).stdout
    )
    assert faster["totals"]["decode"]["time"] == pytest.approx(
        base["totals"]["decode"]["time"] / 2, rel=1e-3
    )


def test_memory_command() -> None:
    res = invoke(
        "memory",
        "meta-llama/Llama-2-7b-hf",
        "-H",
        "a6000",
        "--batch",
        "8",
        "--gen-len",
        "512",
        "-f",
        "json",
    )
    data = json.loads(res.stdout)
    assert data["inputs"]["batch"] == 8 and data["inputs"]["gen_len"] == 512
    assert set(data["memory"]) == {"prefill", "decode", "generation"}
    assert data["memory"]["prefill"]["weights"] == 6738415616 * 2
    assert invoke("memory", "meta-llama/Llama-2-7b-hf", "-H", "a6000").exit_code == 0


def test_sweep_grid_and_formats() -> None:
    res = invoke(
        "sweep",
        "meta-llama/Llama-2-7b-hf",
        "-H",
        "a6000",
        "--batch",
        "1:64:x2",
        "--prompt-len",
        "128,1024",
        "--gen-len",
        "64",
        "-f",
        "json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    rows = data["rows"]
    assert len(rows) == 7 * 2
    # What was swept heads the rows: each axis' values, the precision as run.
    assert data["inputs"]["batch"] == [1, 2, 4, 8, 16, 32, 64]
    assert data["inputs"]["prompt_len"] == [128, 1024] and data["inputs"]["gen_len"] == [64]
    assert data["model"] == "meta-llama/Llama-2-7b-hf" and data["inputs"]["w_bits"] == 16
    assert {"batch", "prompt_len", "gen_len", "ttft", "tpot", "throughput"} <= set(rows[0])
    assert invoke("sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000").exit_code == 0
    csv = invoke("sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "1,2", "-f", "csv")
    assert len(csv.stdout.strip().splitlines()) == 3


def test_a_large_sweep_table_shows_its_first_rows_and_says_so() -> None:
    """A table of 1,200 points shows the first 1,000 and says how to get all; CSV gives all."""
    args = ["sweep", "gpt2", "-H", "a6000", "--batch", "1:1200:+1", "--prompt-len", "128"]
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "1,200 points (the first 1,000 shown; -f csv or -f json gives all)" in table.stdout
    batches = [line.split("│")[1].strip() for line in table.stdout.splitlines() if "│" in line]
    assert batches == [str(b) for b in range(1, 1001)]
    csv = runner.invoke(app, [*args, "-f", "csv"])
    assert len(csv.stdout.strip().splitlines()) == 1201
    small = runner.invoke(app, ["sweep", "gpt2", "-H", "a6000", "--batch", "1,2"])
    assert "2 points" in small.stdout and "shown" not in small.stdout


def test_parse_sizes() -> None:
    assert list(parse_sizes("b", "1,8,32")) == [1, 8, 32]
    assert list(parse_sizes("b", "1:16:x2")) == [1, 2, 4, 8, 16]
    assert list(parse_sizes("b", "128:512:+128")) == [128, 256, 384, 512]
    # The step's + may be left out, as the refusal's list of forms says.
    assert list(parse_sizes("b", "1:10:3")) == [1, 4, 7, 10]
    assert list(parse_sizes("b", "3:3:x2")) == [3]


def test_listings() -> None:
    models = json.loads(invoke("models", "-f", "json").stdout)
    assert any(m["id"] == "meta-llama/Llama-2-7b-hf" for m in models)
    devices = json.loads(invoke("hardware", "-f", "json").stdout)
    assert len(devices) >= 20
    one = invoke("hardware", "a6000")
    assert one.exit_code == 0 and "source" in one.stdout
    assert invoke("models").exit_code == 0 and invoke("hardware").exit_code == 0
    # A mixture of experts' active parameters beside its total, formatted; a dense model's
    # equal to its total, as the JSON gives them.
    mixtral = next(m for m in models if m["id"] == "mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert (mixtral["params"], mixtral["active_params"]) == (46_702_792_704, 12_879_925_248)
    table = runner.invoke(app, ["models"], env={"COLUMNS": "200"}).stdout
    row = next(
        line for line in table.splitlines() if "mistralai/Mixtral-8x7B-Instruct-v0.1 " in line
    )
    assert "46.7 G" in row and "12.9 G" in row
    dense = next(line for line in table.splitlines() if "meta-llama/Llama-2-7b-hf " in line)
    assert dense.count("6.74 G") == 2 and "—" not in dense


def test_the_models_listing_is_the_webs() -> None:
    """`rooflens models -f json` gives each model as GET /api/models does, by the declared
    names (it had its own: layers, hidden, kv_heads ...)."""
    from fastapi.testclient import TestClient

    from rooflens.web import create_app

    listed = json.loads(invoke("models", "llama-4", "-f", "json").stdout)
    web = TestClient(create_app(), base_url="http://127.0.0.1")
    served = web.get("/api/models", params={"q": "llama-4", "limit": 10}).json()
    assert listed == served
    assert listed[0]["num_layers"] == 48 and listed[0]["num_experts"] == 128
    # And the web's unknown device is offered the nearest by its aliases too.
    res = web.post("/api/analyze", json={"model": "gpt2", "device": "NVIDIA H100 80G HBM3"})
    assert "did you mean h100-sxm," in res.json()["message"]


def test_models_are_found_by_a_part_of_their_id_or_type() -> None:
    """`rooflens models TEXT` lists the bundled models whose id or model_type holds the text,
    in any case; none holding it is refused in one line."""
    every = json.loads(invoke("models", "-f", "json").stdout)
    found = json.loads(invoke("models", "GEMMA3", "-f", "json").stdout)
    assert [m["id"] for m in found] == [
        m["id"] for m in every if "gemma3" in f"{m['id']} {m['model_type']}".lower()
    ]
    assert found and all("gemma3" in m["model_type"] for m in found)
    table = runner.invoke(app, ["models", "llama-4"], env={"COLUMNS": "200"}).stdout
    assert table.lstrip().startswith("bundled models (")
    assert " holding 'llama-4')" in table.splitlines()[0]
    assert "supported model_types" not in table
    none = invoke("models", "zzzz")
    assert none.exit_code == 2
    assert none.output.startswith("error: query='zzzz' is invalid: expected text in a bundled")


@pytest.mark.parametrize(
    "args",
    [
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "0"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "two"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--prompt-len", "5000"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--w-bits", "5"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "no-such-gpu"),
        ("analyze", "meta-llama/Llama-2-7b-hf"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "--bandwidth", "1e12"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--peak", "fp16"),
        ("analyze", "not-a-model", "-H", "a6000"),
        ("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "4", "-f", "xml"),
        ("sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "1:x:2"),
        ("hardware", "no-such-gpu"),
        # Poisson arrivals took a --cv and ignored it.
        ("simulate", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--requests", "5", "--cv", "5"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args) -> None:
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_error_message_names_field_and_accepted() -> None:
    res = invoke("analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--prompt-len", "5000")
    assert "prompt_len=5000 is invalid" in res.output and "at most 4095 tokens" in res.output


def test_images_add_the_vision_stage_to_the_cli() -> None:
    import rooflens

    model, device = "google/gemma-3-27b-it", "h100-sxm"
    api = rooflens.analyze(model, device, images=2, gen_len=32)
    args = ["analyze", model, "-H", device, "--images", "2", "--gen-len", "32", "-f", "json"]
    data = json.loads(invoke(*args).stdout)
    vision = float(api.totals()["vision"]["time"])
    assert data["totals"]["vision"]["time"] == pytest.approx(vision, rel=1e-12)
    # The image tokens join the prompt, and the encoder's time is part of the first token's.
    plain = rooflens.analyze(model, device, gen_len=32, prompt_len=int(api.prompt_len))
    assert float(api.generation["ttft"]) == pytest.approx(
        float(plain.generation["ttft"]) + vision, rel=1e-9
    )
    table = invoke("analyze", model, "-H", device, "--images", "1", "--gen-len", "8").stdout
    assert "vision: network" in table


def test_no_command_module_imports_the_app_module_back() -> None:
    # app.py registers the command modules by importing them; they share rooflens.cli.common.
    import ast
    from pathlib import Path

    import rooflens.cli

    folder = Path(rooflens.cli.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "app.py":
            continue
        tree = ast.parse(path.read_text("utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            f"rooflens.cli.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "rooflens.cli"
            for alias in node.names
        }
        assert "rooflens.cli.app" not in imported, path.name


def test_analyze_and_speculate_price_a_models_own_mtp_module() -> None:
    """--mtp: gamma steps of the model's MTP module and one verify step, as
    rooflens.speculate(mtp=True) prices them; a model without the module is refused."""
    import rooflens

    args = ["-H", "h200", "--tp", "8", "--mtp", "--gamma", "2", "--alpha", "0.5"]
    point = ["--batch", "8", "--prompt-len", "512"]
    out = runner.invoke(app, ["analyze", "deepseek-ai/DeepSeek-V3", *point, *args, "-f", "json"])
    assert out.exit_code == 0, out.output
    spec = json.loads(out.stdout)["speculative"]
    assert spec["tokens_per_step"] == pytest.approx(1.75)  # 1 + 1/2 + 1/4
    api = rooflens.speculate(
        "deepseek-ai/DeepSeek-V3", "h200", gamma=2, alpha=0.5, mtp=True, batch=8, context=512,
        tp=8,
    )  # fmt: skip
    assert spec["time_per_token"] == pytest.approx(float(api.time_per_token), rel=1e-12)
    table = runner.invoke(app, ["speculate", "deepseek-ai/DeepSeek-V3", *args, "--batch", "8"])
    assert table.exit_code == 0 and "its MTP module" in table.stdout
    refused = runner.invoke(app, ["speculate", "openai-community/gpt2", "-H", "a6000", "--mtp"])
    assert refused.exit_code == 2 and "no multi-token-prediction" in refused.output


def test_speculation_takes_simulates_names_for_its_two_figures() -> None:
    """--draft-tokens and --acceptance, as `simulate` names them, are --gamma and --alpha."""
    llama = ["deepseek-ai/DeepSeek-V3", "-H", "h200", "--tp", "8", "--mtp", "-f", "json"]
    for command in ("speculate", "analyze"):
        greek = runner.invoke(app, [command, *llama, "--gamma", "2", "--alpha", "0.5"])
        named = runner.invoke(app, [command, *llama, "--draft-tokens", "2", "--acceptance", "0.5"])
        assert greek.exit_code == named.exit_code == 0, named.output
        assert json.loads(named.stdout) == json.loads(greek.stdout)
        spec = json.loads(named.stdout)
        spec = spec.get("speculative", spec)
        assert spec["gamma"] == 2 and spec["alpha"] == 0.5


def test_analyze_and_simulate_agree_on_a_lone_speculating_request() -> None:
    """The simulator runs the MTP module over the prompt before the first token; analyze's
    speculative generation had left it out (0.913 ms of Qwen3.5-9B's 512-token prompt on an
    H100: its e2e 0.3376 s against the simulator's 0.3385 s)."""
    import numpy as np

    import rooflens
    from rooflens.serving import Requests, SchedulerConfig

    shape = {"prompt_len": 512, "gen_len": 128}
    flags = ["--mtp", "--gamma", "2", "--alpha", "0.8", "--prompt-len", "512", "--gen-len", "128"]
    out = invoke("analyze", "Qwen/Qwen3.5-9B", "-H", "h100", *flags, "-f", "json")
    spec = json.loads(out.stdout)["speculative"]
    one = Requests(np.zeros(1), np.full(1, shape["prompt_len"]), np.full(1, shape["gen_len"]))
    run = rooflens.simulate(
        "Qwen/Qwen3.5-9B", "h100", one, scheduler=SchedulerConfig(draft_tokens=2, acceptance=0.8)
    )
    served = run.requests.iloc[0]
    assert spec["generation"]["ttft"] == pytest.approx(served.ttft, rel=1e-9)
    assert spec["generation"]["e2e_latency"] == pytest.approx(served.e2e, rel=1e-5)


def test_analyze_with_speculation_gives_the_generation_both_ways() -> None:
    """--mtp with --gen-len: the generation and cost tables say they are without speculation,
    and a table (JSON `speculative.generation`) gives them with it: every decode step sped up
    as the speculation estimate's, TTFT longer by the MTP module's pass over the prompt (once,
    the headline cost read 2.6 times the speculative one with nothing to say so)."""
    args = ["analyze", "deepseek-ai/DeepSeek-V3.2", "-H", "h200-sxm", "--tp", "8", "--mtp"]
    args += ["--engine", "sglang", "--prompt-len", "4096", "--gen-len", "256"]
    data = json.loads(invoke(*args, "-f", "json").stdout)
    spec, plain = data["speculative"], data["generation"]
    speedup = spec["speedup"]
    assert speedup > 1.5
    assert spec["generation"]["tpot"] == pytest.approx(plain["tpot"] / speedup, rel=1e-12)
    decode = plain["e2e_latency"] - plain["ttft"]
    assert 0 < spec["prompt_time"] < plain["ttft"] / 10  # one module beside 61 layers
    ttft = plain["ttft"] + spec["prompt_time"]
    assert spec["generation"]["ttft"] == pytest.approx(ttft, rel=1e-12)
    e2e = ttft + decode / speedup
    assert spec["generation"]["e2e_latency"] == pytest.approx(e2e, rel=1e-12)
    assert spec["generation"]["throughput"] == pytest.approx(256 / e2e, rel=1e-12)
    cost = data["economics"]["cost_per_million_output"] / speedup
    assert spec["generation"]["cost_per_million_output"] == pytest.approx(cost, rel=1e-12)
    # Titles wrap at their table's width.
    table = " ".join(runner.invoke(app, args, env={"COLUMNS": "120"}).stdout.split())
    assert "generation of 256 tokens, without speculative decoding" in table
    assert "energy and cost, without speculative decoding" in table
    assert "generation of 256 tokens, with speculative decoding" in table


def test_compare_says_what_priced_each_side() -> None:
    """The table had hidden the estimates, the fallback (0.5.9 priced with 0.5.10's) and the
    notes the JSON holds, and printed a cleared setting as engine_version=None."""
    args = ["compare", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--base", "engine=sglang"]
    args += ["--base", "engine_version=0.5.9", "--vs", "engine=vllm", "--vs", "engine_version="]
    table = " ".join(runner.invoke(app, args, env={"COLUMNS": "200"}).output.split())
    assert (
        "A: calibrated estimate (sglang 0.5.10 profile, h100-sxm, graphs for decode, eager prefill)"
    ) in table
    assert (
        "B: calibrated estimate (vllm 0.24.0 profile, h100-sxm, graphs, prefill's up to 512 tokens)"
    ) in table
    assert "A: fallback: engine_version=0.5.9" in table
    assert "B changes engine=vllm, engine_version=" in table and "None" not in table


def test_compare_says_whether_each_side_fits() -> None:
    # Llama-3.1-70B in bf16 (141 GB of weights) fits neither an H100 nor an L40S: compare
    # once printed their ratios without a word of it.
    args = ("compare", "meta-llama/Llama-3.1-70B", "-H", "h100-sxm", "--vs", "hardware=l40s")
    rows = {r["metric"]: r for r in json.loads(invoke(*args, "-f", "json").stdout)["rows"]}
    assert rows["fits in memory"] == {
        "metric": "fits in memory", "a": False, "b": False, "unit": "", "ratio": None
    }  # fmt: skip
    assert rows["memory capacity"]["a"] == pytest.approx(85.5e9, rel=0.01)
    assert rows["memory capacity"]["b"] == pytest.approx(48.3e9, rel=0.01)
    assert rows["peak memory"]["a"] > 141e9
    table = invoke(*args).output
    assert re.search(r"fits in memory\s*│\s*NO\s*│\s*NO", table)
    small = ("compare", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--vs", "hardware=l40s")
    assert re.search(r"fits in memory\s*│\s*yes\s*│\s*yes", invoke(*small).output)


def test_attention_layer_variants_are_told_apart() -> None:
    """Gemma 3 lists attention twice, its 52 window layers and its 10 global ones: each row
    says how far it reaches (JSON/CSV `span`, `chunk`; the table after the name), where
    scripts keyed on the name alone once found two identical `flash_attention` rows."""
    args = ["analyze", "google/gemma-3-27b-it", "-H", "h200-sxm", "--stage", "decode"]
    args += ["--prompt-len", "32768", "--engine", "vllm"]
    rows = json.loads(invoke(*args, "-f", "json").stdout)["operators"]
    attention = {
        (r["count"], r["span"], r["chunk"]) for r in rows if r["name"] == "flash_attention"
    }
    assert attention == {(10, None, None), (52, 1024, None)}
    assert all(r["span"] is None for r in rows if "attention" not in r["name"])
    table = runner.invoke(app, args, env={"COLUMNS": "100"}).stdout
    assert re.search(r"flash_attention \(≤1,024 keys\)\s+52 ", table)
    # Llama 4's local layers attend within chunks of 8,192 tokens, its global ones do not.
    scout = ["analyze", "meta-llama/Llama-4-Scout-17B-16E", "-H", "h200-sxm", "--tp", "8"]
    rows = json.loads(invoke(*scout, "--prompt-len", "32768", "-f", "json").stdout)["operators"]
    chunks = {(r["count"], r["chunk"]) for r in rows if r["name"] == "qk_matmul"}
    assert chunks == {(36, 8192), (12, None)}


def test_counts_are_whole_numbers_in_json_and_csv() -> None:
    """Sizes and counts read as integers ("batch": 1, not 1.0), where a script compares them
    with integers: the analysis' inputs and largest batch, the advice's widths and batches."""
    data = json.loads(invoke("analyze", "gpt2", "-H", "a6000", "--batch", "4", "-f", "json").stdout)
    assert data["inputs"]["batch"] == 4 and isinstance(data["inputs"]["batch"], int)
    assert isinstance(data["inputs"]["prompt_len"], int)
    assert isinstance(data["memory"]["decode"]["max_batch"], int)
    args = ["advise", "openai/gpt-oss-120b", "--workload", "prompt=2000,output=500,rate=5"]
    args += ["--devices", "h200-sxm", "--tp", "1,2", "--kv-bits", "16"]
    picks = json.loads(invoke(*args, "-f", "json").stdout)["picks"]
    for key in ("tp", "pp", "w_bits", "kv_bits", "max_batch_memory", "batch_limit"):
        assert all(isinstance(p[key], int) for p in picks), key
    header, *rows = invoke(*args, "-f", "csv").stdout.splitlines()
    at = header.split(",").index("tp")
    assert all(re.fullmatch(r"\d+", row.split(",")[at]) for row in rows)


def test_json_says_what_was_computed() -> None:
    """compare, speculate, sweep and memory wrote bare rows: nothing said which model, device,
    tp, γ or α they were of, nor that their figures are per device. Each now heads its
    figures with what analyze's JSON states, in one shape."""
    llama, tp = ("meta-llama/Llama-2-7b-hf", "-H", "a6000"), ("--tp", "2")

    def data(*args: str) -> dict:
        res = invoke(*args, "-f", "json")
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    analyzed = data("analyze", *llama, *tp, "--w-bits", "4", "--medusa", "--gamma", "2")
    head = list(analyzed)[: list(analyzed).index("operators")]
    assert head == ["model", "hardware", "params", "active_params", "inputs", "estimate",
                    "settings", "devices", "activation_reserve_tokens", "kv_layers_held", "notes",
                    "fallbacks"]  # fmt: skip
    assert analyzed["activation_reserve_tokens"] is None  # no engine: no scheduler's reserve
    assert analyzed["settings"] == {"w_bits": 4, "tp": 2} and analyzed["devices"] == 2
    memory = data("memory", *llama, *tp)
    assert list(memory) == [*head, "memory"]
    assert memory["settings"] == {"tp": 2} and memory["devices"] == 2
    assert memory["memory"]["decode"]["weights"] == pytest.approx(6738415616, rel=0.01)  # 2 B / 2
    swept = data("sweep", *llama, *tp, "--batch", "1,4")
    assert list(swept) == [*head, "rows"] and swept["inputs"]["batch"] == [1, 4]
    assert swept["settings"] == {"tp": 2} and swept["estimate"] == "roofline bound"
    spec = data("speculate", *llama, *tp, "--medusa", "--gamma", "3", "--alpha", "0.7")
    assert list(spec) == [*head, "speculative", "rows"]
    assert spec["speculative"] == {
        "drafter": "3 Medusa heads", "draft": None, "medusa": True, "mtp": False, "gamma": 3,
        "alpha": 0.7, "tree_width": 1, "context": 1024,
    }  # fmt: skip
    assert spec["inputs"]["batch"] == [1, 8, 32] and spec["inputs"]["prompt_len"] == [1024]
    assert spec["settings"] == {"tp": 2} and spec["devices"] == 2
    # Experts over 8 attention groups of 2 devices: 16 devices, as the table's note says (the
    # JSON said 2).
    experts = data("memory", "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "2", "--ep", "8")
    assert experts["devices"] == 16
    # A block-scaled FP8 checkpoint's scales are stated (the table said w_scale=16384, the
    # JSON nothing).
    assert (experts["inputs"]["w_scale"], experts["inputs"]["a_scale"]) == (16384, "dynamic")
    # analyze --medusa states the same assumptions beside its figures.
    assumed = {k: analyzed["speculative"][k] for k in spec["speculative"]}
    assert assumed == {"drafter": "2 Medusa heads", "draft": None, "medusa": True, "mtp": False,
                       "gamma": 2, "alpha": 0.85, "tree_width": 1, "context": 2048}  # fmt: skip
    compared = data("compare", *llama, "--base", "tp=2", "--vs", "hardware=h100-sxm")
    assert list(compared) == ["a", "b", "changes", "rows"]
    assert list(compared["a"]) == list(compared["b"]) == head
    assert (compared["a"]["hardware"], compared["b"]["hardware"]) == ("a6000", "h100-sxm")
    assert compared["a"]["settings"] == compared["b"]["settings"] == {"tp": 2}
    assert compared["changes"] == {"hardware": "h100-sxm"}


@pytest.mark.parametrize(
    "args",
    [
        ("sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "1,3", "--gen-len", "128"),
        ("compare", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--vs", "w_bits=4"),
        ("speculate", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--medusa", "--batch", "1,3"),
    ],
    ids=lambda args: args[0],
)
def test_json_numbers_are_the_csv_numbers(args) -> None:
    """Every digit: the JSON was rounded to 15 decimals (0.019183720666667 against the CSV's
    0.019183720666666668), a small time to 11 significant digits."""
    rows = json.loads(invoke(*args, "-f", "json").stdout)["rows"]
    table = list(csv.DictReader(io.StringIO(invoke(*args, "-f", "csv").stdout)))
    assert len(rows) == len(table) > 1
    floats = 0
    for row, line in zip(rows, table, strict=True):
        for key, value in row.items():
            if isinstance(value, float):
                assert value == float(line[key]), (key, value, line[key])
                floats += 1
    assert floats > 10


def test_the_memory_table_says_its_figures_are_per_device() -> None:
    args = ["memory", "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "8"]
    assert "memory, per device of 8" in runner.invoke(app, args, env={"COLUMNS": "120"}).stdout
    one = runner.invoke(app, ["memory", "gpt2", "-H", "h200-sxm"], env={"COLUMNS": "120"})
    assert "per device" not in one.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["memory", "openai/gpt-oss-120b", "-H", "b200"],
        ["sweep", "openai/gpt-oss-120b", "-H", "b200", "--batch", "1,16", "--prompt-len", "512"],
        ["speculate", "openai/gpt-oss-120b", "-H", "b200", "--draft", "openai/gpt-oss-20b"],
    ],
)
def test_every_table_says_what_priced_it_and_what_fell_back(command: list[str]) -> None:
    """As `analyze` does: the header names the engine's profile, and the lines under it the
    checkpoint's storage and the operators the profile prices with another type's curves."""
    shown = runner.invoke(app, [*command, "--engine", "trtllm"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0, shown.output
    head = shown.stdout.splitlines()
    assert head[0].startswith("openai/gpt-oss-120b on NVIDIA B200")
    assert head[0].endswith("calibrated estimate (trtllm 1.3.0rc20 profile, b200, graphs)")
    assert "checkpoint: mxfp4 quantization_config, precision as stored" in head
    assert any(line.startswith("fallback: expert_gate_proj") for line in head)
    bound = runner.invoke(app, command, env={"COLUMNS": "400"})
    assert bound.stdout.splitlines()[0].endswith("· roofline bound")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["compare", "gpt2", "-H", "a6000", "--vs", "wbits=4"],
         "error: --vs='wbits=4' is invalid: expected KEY=VALUE with a known KEY (did you mean "
         "w_bits, a_bits or kv_bits?): model, hardware, batch, prompt_len, gen_len, images, "
         "w_bits,"),
        (["compare", "gpt2", "-H", "a6000", "--vs", "batchsize=4"],
         "error: --vs='batchsize=4' is invalid: expected KEY=VALUE with a known KEY (did you "
         "mean batch?): model,"),
        # The option as written, its label too.
        (["plot", "batch", "gpt2", "-H", "a6000", "--setting", "A:wbits=4", "-o", "x.png"],
         "error: --setting='A:wbits=4' is invalid: expected KEY=VALUE with a known KEY (did you "
         "mean w_bits, a_bits or kv_bits?): w_bits, a_bits,"),
        # Nothing near: every key, as before.
        (["compare", "gpt2", "-H", "a6000", "--vs", "zzz=4"],
         "error: --vs='zzz=4' is invalid: expected KEY=VALUE with a known KEY: model, hardware,"),
        # A known key without its value: the value is what is missing.
        (["compare", "gpt2", "-H", "a6000", "--vs", "w_bits"],
         "error: --vs='w_bits' is invalid: expected KEY=VALUE: w_bits=... with the value it "
         "takes"),
    ],
)  # fmt: skip
def test_an_unknown_key_value_setting_is_offered_the_nearest_keys(args, line, tmp_path) -> None:
    res = runner.invoke(app, [a.replace("x.png", str(tmp_path / "x.png")) for a in args])
    assert res.exit_code == 2, res.output
    assert " ".join(res.output.split()).startswith(line)


def test_a_key_given_twice_to_compare_is_refused() -> None:
    """The last of two values silently won (--slo refuses a repeat; so do --vs and --base)."""
    args = ["compare", "gpt2", "-H", "h100-sxm"]
    twice = runner.invoke(app, [*args, "--vs", "w_bits=4", "--vs", "w_bits=8"])
    assert twice.exit_code == 2
    assert twice.output.startswith(
        "error: --vs='w_bits=8' is invalid: expected each KEY once (w_bits is given twice)"
    )
    base = runner.invoke(app, [*args, "--base", "tp=1", "--base", "tp=2", "--vs", "w_bits=4"])
    assert base.exit_code == 2 and "--base='tp=2' is invalid" in base.output
    both = runner.invoke(app, [*args, "--vs", "w_bits=4", "--vs", "kv_bits=8", "-f", "json"])
    assert both.exit_code == 0 and json.loads(both.output)["changes"] == {"w_bits": 4, "kv_bits": 8}
    # Several joined by commas, as a plot's --setting takes them (a value listing items too).
    joined = runner.invoke(app, [*args, "--vs", "w_bits=4,kv_bits=8", "-f", "json"])
    assert json.loads(joined.output)["changes"] == {"w_bits": 4, "kv_bits": 8}
    fused = runner.invoke(
        app, [*args, "--base", "tp=2,fusion=qkv,gate_up", "--vs", "tp=4", "-f", "json"]
    )
    assert fused.exit_code == 0, fused.output
    assert json.loads(fused.output)["a"]["settings"] == {"tp": 2, "fusion": ["qkv", "gate_up"]}
    joined_twice = runner.invoke(app, [*args, "--vs", "w_bits=4,w_bits=8"])
    assert joined_twice.exit_code == 2 and "(w_bits is given twice)" in joined_twice.output
    # An empty item was joined to the value before it ("w_bits='4,' is invalid").
    gap = runner.invoke(app, [*args, "--vs", "w_bits=4,,kv_bits=8"])
    assert gap.output == (
        "error: --vs='w_bits=4,,kv_bits=8' is invalid: expected KEY=VALUE items joined by "
        "commas, none empty\n"
    )
    # An unknown key among several: the option as written, as plot's --setting names it.
    unknown = runner.invoke(app, [*args, "--vs", "w_bits=4,wbits=8"])
    assert unknown.output.startswith("error: --vs='w_bits=4,wbits=8' is invalid: expected KEY")
    # --base replaced the command's own -H, --batch or model without a word.
    for item in (
        "hardware=a6000",
        "HARDWARE=a6000",
        "batch=4",
        "model=Qwen/Qwen2.5-7B",
        "prompt-len=64",
    ):
        own = runner.invoke(app, [*args, "--base", item, "--vs", "w_bits=4"])
        assert own.exit_code == 2, own.output
        assert own.output.startswith(
            f"error: --base='{item}' is invalid: expected a setting: A's model, hardware, "
            "sizes and images are the command's own"
        )


def test_a_verdict_shows_the_digits_that_tell_its_figures_apart() -> None:
    """'78.7 GB of 78.7 GB, DOES NOT FIT' hid an overshoot of 18 MB."""
    from rooflens.formats import si_apart

    assert si_apart(78.697e9, 78.679e9, "B") == ("78.7 GB", "78.68 GB")
    assert si_apart(60e9, 80e9, "B") == ("60 GB", "80 GB")
    assert si_apart(1.0000001e9, 1e9, "B") == ("1 GB", "1 GB")  # six digits at most
    args = ["analyze", "moonshotai/Kimi-K2.5", "-H", "h100-sxm", "--engine", "vllm", "--tp", "8"]
    args += ["--batch", "8", "--prompt-len", "2048", "--gen-len", "128"]
    shown = runner.invoke(app, args, env={"COLUMNS": "300"}).stdout
    assert "78.7 GB of 78.68 GB, DOES NOT FIT" in shown


def test_progress_shows_under_json_only_where_stderr_is_a_terminal() -> None:
    """advise -f json ran for seconds without a word: its bar goes to stderr, which a script
    reading stdout never sees, whenever stderr is a terminal."""
    import io

    from rich.console import Console

    from rooflens.cli import format as fmt

    terminal = Console(file=io.StringIO(), force_terminal=True)
    piped = Console(file=io.StringIO(), force_terminal=False)
    assert fmt.shows_progress(terminal)
    # Into a log (a table's bar only left a blank line on stderr), whatever the output.
    assert not fmt.shows_progress(piped)


def test_version_flag_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"rooflens {rooflens.__version__}"


def test_tables_name_a_config_as_the_json_does_and_count_one_point(tmp_path) -> None:
    """simulate titled its table with the config's path as typed, where its JSON and every
    other command name the model; a sweep of one point said "1 points"."""
    folder = tmp_path / "toy"
    folder.mkdir()
    config = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "vocab_size": 100, "max_position_embeddings": 128}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    args = ["simulate", str(folder / "config.json"), "-H", "h100-sxm", "--requests", "5"]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert res.output.split("\n")[0].strip().startswith("toy on NVIDIA H100")
    res = runner.invoke(app, ["sweep", "gpt2", "-H", "h100-sxm", "--batch", "1"])
    assert res.exit_code == 0 and "1 point" in [line.strip() for line in res.output.splitlines()]


def test_choices_are_read_whatever_their_case(tmp_path) -> None:
    """Devices and engines matched whatever their case; word choices did not (-f JSON,
    --w-format FP, plot Roofline, --arrival Gamma were refused)."""
    res = runner.invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", "--w-bits", "8",
                              "--w-format", "FP", "-f", "JSON"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["settings"]["w_format"] == "fp"
    res = runner.invoke(app, ["plot", "Roofline", "gpt2", "-H", "h100-sxm", "-o",
                              str(tmp_path / "r.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["simulate", "gpt2", "-H", "h100-sxm", "--arrival", "Gamma",
                              "--requests", "5", "-f", "Json"])  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.stdout)["workload"]["arrival"] == "gamma"
    bad = runner.invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", "--w-format", "FPX"])
    assert bad.exit_code == 2 and "w_format='FPX' is invalid" in bad.output
    # Lists of words, the scheduler's and the cluster's, the advisor's and compare's keys too.
    res = runner.invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", "--fusion", "QKV,Act",
                              "-f", "json"])  # fmt: skip
    assert json.loads(res.stdout)["settings"]["fusion"] == ["qkv", "act"]
    assert (
        runner.invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", "--fusion", "ALL"]).exit_code == 0
    )
    res = runner.invoke(app, ["simulate", "gpt2", "-H", "h100-sxm", "--queue", "SPF",
                              "--replicas", "2", "--router", "Round_Robin", "--requests", "5",
                              "-f", "json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["settings"]["queue"] == "spf"
    from rooflens.advisor.choices import parse_search

    search = parse_search({"rank": "Latency", "weights": "FP8,BF16", "experts": ["TP"]})
    assert (search.rank, search.weights, search.experts) == ("latency", ("fp8", "bf16"), ("tp",))
    res = runner.invoke(app, ["compare", "gpt2", "-H", "h100-sxm", "--vs", "W_BITS=4",
                              "-f", "json"])  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.stdout)["changes"] == {"w_bits": 4}
    res = runner.invoke(app, ["plot", "operators", "gpt2", "-H", "h100-sxm", "--stage",
                              "Prefill", "-o", str(tmp_path / "o.png")])  # fmt: skip
    assert res.exit_code == 0, res.output


def test_the_vision_stage_is_shown_alone() -> None:
    """`--stage vision` keeps the image encoder's operators (as `plot operators` takes it and
    docs/output.md says); without images there is no such stage, and it is refused so."""
    args = ["analyze", "google/gemma-3-27b-it", "-H", "b200", "--images", "1", "--stage", "vision"]
    data = json.loads(invoke(*args, "-f", "json").stdout)
    assert {r["stage"] for r in data["operators"]} == {"vision"}
    assert len(data["operators"]) == 19  # the SigLIP encoder's operators and the projector
    table = runner.invoke(app, args, env={"COLUMNS": "200"}).stdout
    assert "vision: per operator" in table and "prefill: per operator" not in table
    refused = invoke("analyze", "google/gemma-3-27b-it", "-H", "b200", "--stage", "vision")
    assert refused.exit_code == 2
    assert refused.output == (
        "error: --stage='vision' is invalid: expected prefill, decode or all (vision: with "
        "--images)\n"
    )


def test_compare_without_a_device_names_what_it_takes() -> None:
    """compare without -H told the user to build a device from --bandwidth, --memory and
    --peak, options compare does not have ("No such option: --bandwidth")."""
    for device in ([], ["-H", ""]):
        missing = runner.invoke(app, ["compare", "gpt2", *device, "--vs", "hardware=h200-sxm"])
        assert missing.exit_code == 2
        assert missing.output.strip() == (
            "error: --hardware is missing: expected A's catalog device or TOML file "
            "(--vs hardware=... sets B's)"
        )


def test_an_empty_hardware_is_a_device_of_ones_own() -> None:
    """-H "" was refused as no catalog device, where the API takes an empty device name as a
    device of one's own (its help: "empty: a custom device")."""
    own = ["--bandwidth", "1e12", "--memory", "8e10", "--peak", "bf16=1e14"]
    named = invoke("analyze", "gpt2", "-H", "", *own, "-f", "json")
    unnamed = invoke("analyze", "gpt2", *own, "-f", "json")
    assert named.exit_code == 0 and json.loads(named.stdout) == json.loads(unnamed.stdout)
    alone = invoke("analyze", "gpt2", "-H", "")
    assert alone.exit_code == 2 and "--hardware is missing" in alone.output
