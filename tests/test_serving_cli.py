"""`rooflens simulate` and the serving plots."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.engines import DEFAULTS
from rooflens.engines.validated import checked_against
from rooflens.formats import si
from rooflens.serving import SLO, ArrivalProcess, ClusterConfig, LengthDistribution, Workload
from rooflens.serving.config import parse_slo
from rooflens.views import serving_plots

LLAMA = "meta-llama/Llama-2-7b-hf"
SMALL = ["--requests", "60", "--rate", "8", "--prompt", "uniform:100:400", "--output", "fixed:20"]
runner = CliRunner()


def test_simulate_prints_a_summary_and_writes_requests_and_a_plot(tmp_path) -> None:
    out, png = tmp_path / "requests.csv", tmp_path / "timeline.png"
    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--slo", "ttft=1s,tpot=50ms"]
    result = runner.invoke(app, [*args, "--requests-out", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "request throughput" in result.output and "goodput" in result.output
    frame = pd.read_csv(out)
    assert len(frame) == 60 and frame["finish"].notna().all()
    assert png.stat().st_size > 10_000


def test_simulate_json_equals_the_api() -> None:
    result = runner.invoke(
        app, ["simulate", LLAMA, "-H", "h100", *SMALL, "-f", "json", "--w-bits", "4"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    workload = Workload(
        requests=60,
        arrivals=ArrivalProcess(rate=8),
        prompt=LengthDistribution(kind="uniform", a=100, b=400),
        output=LengthDistribution(kind="fixed", a=20),
    )
    direct = rooflens.simulate(LLAMA, "h100", workload, w_bits=4).summary()
    assert summary["ttft_p99"] == pytest.approx(direct["ttft_p99"], rel=1e-12)
    assert summary["requests"] == 60


def test_simulate_json_says_what_was_served_and_the_slo_it_measured_against() -> None:
    """The JSON had no SLO (the web API's answer has it), nor the model and device: a script
    saw an attainment without what it was measured against."""
    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--tp", "2", "-f", "json"]
    given = json.loads(runner.invoke(app, [*args, "--slo", "tpot=20ms"]).stdout)
    # The objective given, and the defaults of those left out.
    assert given["slo"] == {"ttft": 1.0, "tpot": 0.02, "percentile": 99.0}
    assert 0 <= given["summary"]["slo_attainment"] <= 1
    assert (given["model"], given["hardware"]) == (LLAMA, "h100-sxm")
    assert given["settings"] == {"tp": 2} and given["devices"] == 2
    # Without --slo no attainment is measured: the key is there, null.
    plain = json.loads(runner.invoke(app, args).stdout)
    assert plain["slo"] is None and plain["summary"]["slo_attainment"] is None
    assert plain["summary"]["goodput"] is None and plain["summary"]["within_slo"] is None
    assert list(plain) == list(given)
    assert plain["layout"] == "1 replica of 2 devices (TP=2)"


def test_a_disaggregated_run_says_its_pools_and_the_settings_given() -> None:
    """The table and the JSON gave a disaggregated cluster's run as one engine's: its settings
    held the analysis's alone and its memory lines named no pool."""
    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--disaggregated", "--decode-tp", "2"]
    args += ["--decode-replicas", "2", "--scheduler", "chunked"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    assert data["settings"] == {
        "decode_replicas": 2, "decode_tp": 2, "disaggregated": True, "policy": "chunked",
    }  # fmt: skip
    pools = "1 prefill replica of 1 device (TP=1), 2 decode replicas of 2 devices (TP=2)"
    assert data["layout"] == f"disaggregated: {pools}"
    table = runner.invoke(app, args, env={"COLUMNS": "400"}).stdout
    assert "│ deployment " in table and pools in table
    assert "per device of a decode replica: room for" in table
    assert "per device of a decode replica: " in table.split("memory at the peak")[1]


def test_lengths_go_by_analyze_names_too() -> None:
    """--prompt-len and --gen-len, as `analyze` names them, set the same lengths as --prompt
    and --output (a count or any distribution)."""
    base = ["simulate", LLAMA, "-H", "h100", "--requests", "12", "--rate", "4", "-f", "json"]
    named = runner.invoke(app, [*base, "--prompt", "100", "--output", "fixed:20"])
    aliased = runner.invoke(app, [*base, "--prompt-len", "100", "--gen-len", "fixed:20"])
    assert named.exit_code == aliased.exit_code == 0, aliased.output
    first, second = json.loads(named.output)["summary"], json.loads(aliased.output)["summary"]
    assert first == second
    # 100 prompt and 20 output tokens per request: all tokens are six times the output's.
    assert second["token_throughput"] == pytest.approx(6 * second["output_token_throughput"])


def test_simulate_says_what_priced_it_and_which_scheduler_ran() -> None:
    """The engine brings its profile and its scheduler preset: the header, the table and
    the JSON name both."""
    args = ["simulate", "meta-llama/Llama-3.1-8B", "-H", "h200-sxm", "--engine", "trtllm"]
    args += [
        "--concurrency",
        "4",
        "--requests",
        "8",
        "--prompt",
        "fixed:256",
        "--output",
        "fixed:8",
    ]
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    words = " ".join(table.output.split())  # the title wraps at the table's width
    assert "calibrated estimate (trtllm 1.3.0rc20 profile, h200-sxm, graphs)" in words
    assert "chunked: 8192 tokens, 2048 sequences per iteration" in words
    # The kernels the engine's defaults fuse, which its profile's label does not say.
    assert "│ kernels │ fused attention; fused: qkv, gate_up, add_norm, moe │" in words
    # How far the engine's forecasts on that GPU fell from its measured runs.
    checked = checked_against("trtllm", "h200-sxm", "meta-llama/Llama-3.1-8B", "dense")
    assert f"│ checked against │ {checked.split(':')[0]}:" in words
    data = json.loads(runner.invoke(app, [*args, "--max-tokens", "4096", "-f", "json"]).output)
    assert data["estimate"].startswith("calibrated estimate (trtllm 1.3.0rc20 profile")
    assert data["validation"] == checked
    assert (data["scheduler"]["policy"], data["scheduler"]["max_tokens"]) == ("chunked", 4096)
    assert data["scheduler"]["max_batch"] == 2048  # the preset's, the option replaced tokens
    # A budget below TensorRT-LLM's batch limit holds the batch to it (vLLM would refuse).
    small = json.loads(runner.invoke(app, [*args, "--max-tokens", "1152", "-f", "json"]).output)
    assert (small["scheduler"]["max_tokens"], small["scheduler"]["max_batch"]) == (1152, 1152)
    on_vllm = [a for a in args if a not in ("--engine", "trtllm")]
    refused = runner.invoke(app, [*on_vllm, "--preset", "vllm", "--max-tokens", "512"])
    assert refused.exit_code == 2
    assert "max_tokens=512 is invalid: expected at least max_batch=1024" in refused.output
    # SGLang's receive interval, as set, in the table and the JSON.
    looks = runner.invoke(app, [*args, "--receive-interval", "30"], env={"COLUMNS": "200"})
    assert "sequences per iteration; new requests looked for every 30 decode iterations" in (
        " ".join(looks.output.split())
    )
    data = json.loads(runner.invoke(app, [*args, "--receive-interval", "30", "-f", "json"]).output)
    assert data["scheduler"]["receive_interval"] == 30
    # TensorRT-LLM's attention-DP balance, as set.
    balance = ["--dp-balance", "--dp-balance-timeout", "60", "--dp-balance-wait", "0"]
    ranks = runner.invoke(app, [*args, *balance, "--replicas", "2"], env={"COLUMNS": "200"})
    assert ranks.exit_code == 0, ranks.output
    assert "balance new prompts as attention-DP ranks (timeout 60, wait 0 iterations)" in (
        " ".join(ranks.output.split())
    )
    # TensorRT-LLM's batch waiting, as set.
    wait = ["--batch-wait-iterations", "40", "--batch-wait-ratio", "0.8"]
    held = runner.invoke(app, [*args, *wait], env={"COLUMNS": "200"})
    assert "prompts held up to 40 iterations or 0.8 of the budget" in " ".join(held.output.split())
    data = json.loads(runner.invoke(app, [*args, *wait, "-f", "json"]).output)
    assert (data["scheduler"]["batch_wait_iterations"], data["scheduler"]["batch_wait_ratio"]) == (
        40,
        0.8,
    )
    # An engine's kernels under another engine's scheduler: vLLM's preset, read as vLLM
    # reads it, not TensorRT-LLM's budget rule over it (a budget below vLLM's batch limit
    # is refused, as vLLM refuses it).
    mixed = json.loads(runner.invoke(app, [*args, "--preset", "vllm", "-f", "json"]).output)
    assert mixed["estimate"].startswith("calibrated estimate (trtllm 1.3.0rc20 profile")
    vllm = json.loads(runner.invoke(app, [*on_vllm, "--preset", "vllm", "-f", "json"]).output)
    assert mixed["scheduler"] == vllm["scheduler"]
    refused = runner.invoke(app, [*args, "--preset", "vllm", "--max-tokens", "512"])
    assert refused.exit_code == 2, refused.output
    bound = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", *SMALL, "-f", "json"])
    assert json.loads(bound.output)["estimate"] == "roofline bound"
    assert json.loads(bound.output)["validation"] is None
    assert json.loads(bound.output)["kernels"] == "unfused attention; fused: nothing else"
    assert data["kernels"] == "fused attention; fused: qkv, gate_up, add_norm, moe"


def test_simulate_a_trace_to_csv(tmp_path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        "\n".join(
            json.dumps({"arrival_time": t, "prompt_len": 200, "output_len": 10}) for t in range(5)
        )
    )
    result = runner.invoke(
        app, ["simulate", LLAMA, "-H", "a100-sxm4-80gb", "--trace", str(trace), "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("arrival,prompt_len") and len(lines) == 6


def test_simulate_a_mooncake_trace_replays_its_milliseconds(tmp_path) -> None:
    """Mooncake's arrivals are milliseconds: requests 2 s apart arrive 2 s apart."""
    trace = tmp_path / "mooncake.jsonl"
    trace.write_text(
        "\n".join(
            json.dumps({"timestamp": 2000 * i, "input_length": 200, "output_length": 10})
            for i in range(3)
        )
    )
    result = runner.invoke(
        app, ["simulate", LLAMA, "-H", "a100-sxm4-80gb", "--trace", str(trace), "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [float(r["arrival"]) for r in rows] == [0.0, 2.0, 4.0]
    assert {r["prompt_len"] for r in rows} == {"200"}


def test_capacity_search_from_the_cli(tmp_path) -> None:
    png = tmp_path / "capacity.png"
    args = [
        "simulate",
        LLAMA,
        "-H",
        "h100",
        *SMALL,
        # 60 requests are one burst the replica absorbs at any rate: too few for a capacity.
        "--requests",
        "200",
        "--capacity",
        "--slo",
        "ttft_p90=0.5s,tpot_p90=20ms",
    ]
    result = runner.invoke(app, [*args, "-f", "json", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    passing = [p["rate"] for p in data["probes"] if p["within_slo"]]
    assert data["capacity"] == max(passing) > 0
    assert data["at_capacity"]["within_slo"] is True
    assert png.exists() and f"wrote {png}" in result.output
    # The CSV holds the answer too (it held the rates tried alone): on every row the capacity
    # and the caveat, and the rate tried at it marked.
    csv = runner.invoke(app, [*args, "-f", "csv"])
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(io.StringIO(csv.stdout), keep_default_na=False)
    assert list(frame.columns) == ["rate", "ttft_p90", "tpot_p90", "within_slo", "at_capacity",
                                   "capacity", "warning"]  # fmt: skip
    assert list(frame["rate"]) == [p["rate"] for p in data["probes"]]
    assert (frame["capacity"] == data["capacity"]).all()
    assert list(frame.loc[frame["at_capacity"], "rate"]) == [data["capacity"]]
    assert (frame["warning"] == (data["warning"] or "")).all()


def test_capacity_csv_says_when_none_was_found_and_what_was_not_written(tmp_path) -> None:
    """60 requests are one burst the replica absorbs at any rate: no capacity, the CSV's
    cells for it empty and its warning on every row; the per-request file asked for is not
    written, and a file of that name from an earlier run is said to be left as it was."""
    stale = tmp_path / "requests.csv"
    stale.write_text("an earlier run\n")
    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--capacity", "--requests-out", str(stale)]
    result = runner.invoke(app, [*args, "-f", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["capacity"].isna().all() and not frame["at_capacity"].any()
    assert frame["warning"].str.startswith("no capacity found: the 60 requests").all()
    assert stale.read_text() == "an earlier run\n"
    assert (
        f"--requests-out: no capacity found, so no run to write; {stale}, already there, is "
        "left as it was" in " ".join(result.stderr.split())
    )


def test_capacity_json_without_a_capacity_has_its_keys() -> None:
    """No capacity found (60 requests are one burst): the JSON keeps its shape, the rate and
    the run at it null (`at_capacity` was left out)."""
    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--capacity", "-f", "json"]
    data = json.loads(runner.invoke(app, args).stdout)
    assert data["capacity"] is None and data["at_capacity"] is None
    assert data["slo"] == {"ttft": 1.0, "tpot": 0.05, "percentile": 99.0}
    assert data["warning"].startswith("no capacity found: the 60 requests")


def test_capacity_without_an_slo_searches_within_the_declared_objectives() -> None:
    """--capacity alone takes the SLO's declared defaults, as --slo's help says and the web
    API does (it was refused: "--slo is missing"), and the answer names them."""
    from rooflens.serving.config import SLO

    args = ["simulate", LLAMA, "-H", "h100", *SMALL, "--requests", "200", "--capacity"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).output)
    slo = SLO()
    given = f"ttft_p{slo.percentile:g}={slo.ttft}s,tpot_p{slo.percentile:g}={slo.tpot}s"
    same = json.loads(runner.invoke(app, [*args, "--slo", given, "-f", "json"]).output)
    assert data["capacity"] == same["capacity"] and data["probes"] == same["probes"]
    assert data["slo"] == same["slo"] == slo.model_dump()  # and the JSON names them
    assert data["estimate"] == "roofline bound" and data["model"] == LLAMA
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "capacity within the SLO (TTFT ≤ 1 s, TPOT ≤ 50 ms at p99)" in table.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--slo", "ttft=soon"], "--slo ttft='soon'"),
        (["--slo", "latency=1s"], "--slo='latency=1s'"),
        (["--slo", ","], "--slo=',' is invalid"),  # no objective: not an SLO of none
        (["--queue", "lifo"], "queue='lifo'"),
        (["--max-batch", "0"], "max_batch=0"),
        # The option's name as typed where it is not the field's (policy).
        (["--scheduler", "lifo"], "scheduler='lifo'"),
        (["--prefill-tp", "2"], "prefill_tp=2 is invalid: expected empty unless disaggregated"),
        (["--prompt", "gauss:1"], "--prompt='gauss:1'"),
        # Two percentiles: the last one was held to both objectives, silently.
        (["--slo", "ttft_p99=1s,tpot_p90=50ms"], "one percentile for both objectives"),
        (["--replicas", "2", "--disaggregated"], "replicas"),
        (["--tp", "3"], "tp=3"),
        # Read by nothing where given: refused rather than ignored (and echoed as if applied).
        (["--dp-balance"], "dp_balance=True is invalid: expected false unless policy=chunked"),
        (
            ["--batch-wait-iterations", "50"],
            "batch_wait_ratio=0.0 is invalid: expected above 0 "
            "with batch_wait_iterations=50 (prompts are held back only while both are set)",
        ),
        # One limit alone, or a balance timing without balancing: nothing would read it.
        (
            ["--scheduler", "chunked", "--batch-wait-iterations", "5"],
            "expected above 0 with batch_wait_iterations=5",
        ),
        (
            ["--scheduler", "chunked", "--batch-wait-ratio", "0.5"],
            "batch_wait_ratio=0.5 is invalid: expected 0 without batch_wait_iterations above 0",
        ),
        (
            ["--scheduler", "chunked", "--dp-balance-timeout", "3"],
            "dp_balance_timeout=3 is invalid: expected left out without dp_balance",
        ),
        (["--kv-link-bandwidth", "1e9"], "expected empty unless disaggregated"),
        (["--scheduler", "static", "--chunk-size", "64"], "chunk_size=64 is invalid"),
        (["--decode-replicas", "3"], "decode_replicas=3 is invalid: expected 1 unless"),
    ],
)
def test_bad_simulate_options_exit_2_naming_the_field(extra, message) -> None:
    result = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", *SMALL, *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_slo_strings() -> None:
    slo = parse_slo("ttft_p90=2s,tpot_p90=60ms")
    assert (slo.ttft, slo.tpot, slo.percentile) == (2.0, 0.06, 90.0)
    assert parse_slo("tpot=500us").tpot == pytest.approx(5e-4)


def test_serving_plots_have_their_axes_and_series() -> None:
    workload = Workload(requests=40, arrivals=ArrivalProcess(rate=20), seed=2)
    slo = SLO(ttft=0.5, tpot=0.03)
    two = rooflens.simulate(LLAMA, "h100", workload, cluster=ClusterConfig(replicas=2), slo=slo)
    fig = serving_plots.timeline(two)
    running, kv, waiting = fig.axes
    assert len(running.get_lines()) == 2  # one per engine
    # ...in a shade each, not one for all (replicas trading places read as one line).
    assert len({line.get_color() for line in running.get_lines()}) == 2
    assert "KV" in kv.get_ylabel() and waiting.get_xlabel() == "time (s)"
    one = rooflens.simulate(LLAMA, "h100", workload, slo=slo)
    ttft, tpot = serving_plots.latency_cdf({"two": two, "one": one}).axes
    assert [line.get_label() for line in ttft.get_lines()] == ["two", "one", "SLO 0.5 s"]
    assert tpot.get_xscale() == "log" and "(ms)" in tpot.get_xlabel()
    found = rooflens.capacity(LLAMA, "h100", workload, slo)
    ttft, _ = serving_plots.capacity_curve(found).axes
    assert len(ttft.get_lines()[0].get_xdata()) == len(found.probes)
    assert ttft.get_xlabel() == "arrival rate (requests/s)"
    # None found (a TPOT no step meets): the SLO's lines stay, to show how far the probes are.
    none = rooflens.capacity(LLAMA, "h100", workload, SLO(ttft=0.5, tpot=1e-4))
    assert np.isnan(none.rate)
    ttft, tpot = serving_plots.capacity_curve(none).axes
    assert [line.get_ydata()[0] for line in tpot.get_lines() if line.get_label() == "SLO"] == [0.1]
    assert any(line.get_label() == "SLO" for line in ttft.get_lines())


def _fixed(requests: int, prompt: int, output: int) -> Workload:
    return Workload(
        requests=requests,
        prompt=LengthDistribution(kind="fixed", a=prompt),
        output=LengthDistribution(kind="fixed", a=output),
    )


def test_the_kv_cache_says_how_many_requests_it_holds() -> None:
    """Llama-3.1-8B caches 2 x 8 heads x 128 x 2 bytes x 32 layers = 131,072 bytes a token: its
    pool holds floor(bytes / 131,072) tokens, so many 2,304-token requests. gpt-oss-20b keeps
    128 keys in half its layers: it holds more requests than its all-layer token count says."""
    result = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", _fixed(8, 2048, 256),
                               concurrency=4)  # fmt: skip
    assert result.kv_room == int(result.kv_bytes // 131_072) // 2304
    windowed = rooflens.simulate("openai/gpt-oss-20b", "h100-sxm", _fixed(8, 8192, 256),
                                 concurrency=4)  # fmt: skip
    assert windowed.kv_room > 1.8 * (windowed.kv_capacity // (8192 + 256))


def test_memory_at_the_peak_is_what_the_run_held() -> None:
    """Weights, the activation reserve and the framework's bytes, and the KV cache at its
    fullest; never more than the engine may fill (vLLM: its share of the device)."""
    bound = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", _fixed(16, 2048, 64),
                              concurrency=8)  # fmt: skip
    assert 16.06e9 < bound.beside_kv < bound.usable_memory
    share = bound.timeline["kv_tokens"].max() / bound.kv_capacity
    assert bound.summary()["peak_kv_share"] == pytest.approx(share)
    assert bound.peak_memory == pytest.approx(bound.beside_kv + share * bound.kv_bytes)
    assert bound.beside_kv + bound.kv_bytes == pytest.approx(bound.usable_memory, rel=1e-3)
    engine = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", _fixed(16, 2048, 64),
                               concurrency=8, engine="vllm")  # fmt: skip
    fraction = DEFAULTS["vllm"].memory_fraction
    assert engine.usable_memory == pytest.approx(fraction * bound.usable_memory)
    assert engine.peak_memory <= engine.usable_memory
    args = ["simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--concurrency", "8",
            "--requests", "16", "--prompt", "2048", "--output", "64"]  # fmt: skip
    out = " ".join(runner.invoke(app, args, env={"COLUMNS": "200"}).output.split())
    assert f"room for {bound.kv_room} of the longest requests (2048 + 64 tokens)" in out
    assert "memory at the peak" in out and "largest batch" not in out
    assert f"of {si(bound.usable_memory, 'B')} per device" in out
    # An engine taking a share of the device says so: "of 73.6 GB" had read as the H100's own.
    shared = " ".join(runner.invoke(app, [*args, "--engine", "vllm"], env={"COLUMNS": "200"})
                      .output.split())  # fmt: skip
    assert (f"of the {si(engine.usable_memory, 'B')} the engine takes ({fraction:.3g} of "
            f"{si(bound.usable_memory, 'B')}) per device") in shared  # fmt: skip
    assert engine.device_memory == bound.usable_memory == engine.usable_memory / fraction
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).output)
    assert data["kv_room_requests"] == bound.kv_room
    assert data["peak_memory_bytes"] == pytest.approx(bound.peak_memory)
    # The CLI's JSON and the web API report the deployment with the same keys and values.
    deployment = bound.deployment()
    assert data["scheduler"] == deployment.pop("scheduler")
    assert data["memory"] == pytest.approx(deployment.pop("memory"))
    assert {k: data[k] for k in deployment} == pytest.approx(deployment)


def test_a_run_that_drains_long_after_its_last_arrival_says_so() -> None:
    """At the capacity found (43.5 requests/s), 300 requests arrive in 8 s and drain for 6
    more: the run's 21.7 requests/s read as a contradiction beside the capacity, unexplained."""
    args = ["simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--rate", "43.5",
            "--requests", "300"]  # fmt: skip
    out = CliRunner().invoke(app, args, env={"COLUMNS": "250"}).output
    assert "throughputs include the drain after it" in out
    steady = (
        CliRunner()
        .invoke(app, [*args[:4], "--concurrency", "4", "--requests", "40"], env={"COLUMNS": "250"})
        .output
    )
    assert "drain" not in steady


def test_the_slo_held_is_shown_with_its_defaults() -> None:
    """--slo ttft_p99=10s also held TPOT to its 50 ms default, which the output never said."""
    result = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", *SMALL, "--rate", "5",
                                 "--slo", "ttft_p99=10s"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "TTFT ≤ 10 s, TPOT ≤ 50 ms at p99" in result.output


def test_the_cluster_s_devices_are_reported() -> None:
    """Throughput per GPU divided by a count no output gave (replicas counts engines)."""
    import json

    result = runner.invoke(
        app, ["simulate", LLAMA, "-H", "h100", *SMALL, "--tp", "2", "--replicas", "2", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["devices"], data["replicas"]) == (4, 2)


@pytest.mark.parametrize(
    ("ttft", "tpot", "percentile", "text"),
    [
        (2.0, 0.06, 99.0, "ttft_p99=2s,tpot_p99=60ms"),  # the advisor's default, as its help says
        (1e-6, 0.0005, 90.0, "ttft_p90=1us,tpot_p90=500us"),  # once written "1e-06s"
        (0.25, 1.5, 50.0, "ttft_p50=250ms,tpot_p50=1.5s"),
    ],
)
def test_objectives_are_written_as_parse_slo_reads_them(ttft, tpot, percentile, text) -> None:
    from rooflens.serving.config import SLO, slo_text

    slo = SLO(ttft=ttft, tpot=tpot, percentile=percentile)
    assert slo_text(slo) == text
    back = parse_slo(text)
    assert (back.ttft, back.tpot, back.percentile) == pytest.approx((ttft, tpot, percentile))


def test_output_files_are_checked_before_any_work_and_capacity_writes_its_run(tmp_path) -> None:
    """A figure's suffix and a file's folder are refused before the simulation (they were
    refused after it, or by pandas' own words); --requests-out with --capacity writes the run
    at the capacity found (it wrote nothing, silently)."""
    base = ["simulate", LLAMA, "-H", "h100", *SMALL]
    bad = runner.invoke(app, [*base, "--plot", str(tmp_path / "t.txt")])
    assert bad.exit_code == 2 and "--plot=" in bad.output and "ending in .png" in bad.output
    missing = runner.invoke(app, [*base, "--requests-out", str(tmp_path / "no" / "r.csv")])
    assert missing.exit_code == 2
    assert "--requests-out=" in missing.output and "a folder that exists" in missing.output
    out = tmp_path / "at-capacity.csv"
    args = [*base, "--requests", "200", "--capacity", "--requests-out", str(out), "-f", "json"]
    result = runner.invoke(app, args)
    data = json.loads(result.stdout)
    rows = out.read_text().splitlines()
    assert rows[0].startswith("arrival,") and len(rows) == 1 + data["at_capacity"]["requests"]
    assert f"wrote {out}" in result.stderr
    # The per-request times are CSV whatever the name: a name that says otherwise is refused
    # before the run (results.json held CSV).
    named = tmp_path / "requests.json"
    wrong = runner.invoke(app, [*base, "--requests-out", str(named)])
    assert wrong.exit_code == 2 and not named.exists()
    assert (
        wrong.output
        == f"error: --requests-out={str(named)!r} is invalid: expected a file ending in .csv\n"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rate", "5"], "--rate=5.0 is invalid: expected left out with --trace"),
        (["--prompt", "fixed:3000"], "--prompt='fixed:3000' is invalid: expected left out with"),
        (["--seed", "3"], "--seed=3 is invalid: expected left out with --trace"),
        # It read "--arrival=<Arrival.fixed: 'fixed'>".
        (["--arrival", "fixed"], "error: --arrival='fixed' is invalid: expected left out with"),
        # The search ran the default workload, the trace unread.
        (["--capacity"], "is invalid: expected left out with --capacity (the search varies"),
    ],
)
def test_a_trace_refuses_the_workload_options_it_would_ignore(tmp_path, extra, message) -> None:
    """A trace's arrivals and lengths are the run's: each of these ran exactly as without it."""
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_time,prompt_len,output_len\n0,100,10\n0.1,200,10\n")
    res = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", "--trace", str(trace), *extra])
    assert res.exit_code == 2 and message in res.output, res.output


def test_a_closed_loop_needs_a_request_per_client() -> None:
    res = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", "--concurrency", "64",
                              "--requests", "10"])  # fmt: skip
    assert res.exit_code == 2
    assert res.output.startswith(
        "error: concurrency=64 is invalid: expected at most the 10 requests simulated"
    ), res.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # A bare number was read as seconds: a TPOT objective of 50 s.
        (["--slo", "tpot=50"], "--slo tpot='50' is invalid: expected a duration with its unit"),
        # The last of two was kept, silently.
        (["--slo", "ttft=1s,ttft=2s"], "--slo='ttft=1s,ttft=2s' is invalid: expected ttft given"),
        # An unknown key is named, with the known ones and the nearest (it had said only
        # "expected KEY=VALUE pairs like ...").
        (
            ["--slo", "tft=1s,tpot=50ms"],
            "--slo='tft=1s' is invalid: expected ttft or tpot as KEY (did you mean ttft?), in "
            "KEY=VALUE pairs like ttft=1s,tpot=50ms (or ttft_p99=2s,tpot_p99=60ms)",
        ),
        (
            ["--slo", "latency=1s"],
            "--slo='latency=1s' is invalid: expected ttft or tpot as KEY, in",
        ),
        # A cap below the mean made every prompt the cap.
        (["--prompt", "normal:100:10:50"], "(normal needs MAX >= its mean)"),
    ],
)
def test_loose_workload_and_slo_text_is_refused(extra, message) -> None:
    res = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", *SMALL, *extra])
    assert res.exit_code == 2 and message in res.output, res.output


def test_a_bad_trace_row_is_named(tmp_path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_time,prompt_len,output_len\n0,100,10\n0.1,200,-3\n")
    res = runner.invoke(app, ["simulate", LLAMA, "-H", "h100", "--trace", str(trace)])
    assert res.exit_code == 2
    assert "expected output_len a positive whole number (row 2: -3)" in res.output


def test_the_timeline_says_what_ran_and_names_each_engine_by_its_role(
    tmp_path, monkeypatch
) -> None:
    """A disaggregated run's legend had read engine 0, 1, 2: the prefill engine and the two
    decode engines are named so, and the title (which had none) says the model, the device,
    what priced it and the pools, as the summary's title does."""
    workload = Workload(requests=30, arrivals=ArrivalProcess(rate=10), seed=1)
    cluster = ClusterConfig(disaggregated=True, prefill_replicas=1, decode_replicas=2)
    result = rooflens.simulate(LLAMA, "h100", workload, cluster=cluster)
    fig = serving_plots.timeline(result, title="the title")
    running = fig.axes[0]
    assert [line.get_label() for line in running.get_lines()] == [
        "prefill 0", "decode 0", "decode 1"
    ]  # fmt: skip
    assert fig.get_suptitle() == (
        "the title\ndisaggregated: 1 prefill replica of 1 device (TP=1),\n2 decode replicas of 1 "
        "device (TP=1); 30 requests, arrivals averaging 7.79/s"
    )
    two = rooflens.simulate(LLAMA, "h100", workload, cluster=ClusterConfig(replicas=2))
    fig = serving_plots.timeline(two)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["replica 0", "replica 1"]
    assert fig.get_suptitle() == (
        "roofline bound\n2 replicas of 1 device (TP=1), round_robin router; 30 requests, "
        "arrivals averaging 7.79/s"
    )
    # The command line titles its figures as its summary.
    titles = []
    for name in ("timeline", "capacity_curve"):
        draw = getattr(serving_plots, name)
        monkeypatch.setattr(
            serving_plots,
            name,
            lambda *a, draw=draw, **k: titles.append(draw(*a, **k).get_suptitle()),
        )
    png = str(tmp_path / "t.png")
    assert (
        runner.invoke(app, ["simulate", LLAMA, "-H", "h100-sxm", *SMALL, "--plot", png]).exit_code
        == 0
    )
    capacity = [*SMALL[:2], "--capacity", "--slo", "ttft=1s,tpot=50ms"]
    assert (
        runner.invoke(
            app, ["simulate", LLAMA, "-H", "h100-sxm", *capacity, "--plot", png]
        ).exit_code
        == 0
    )
    head = "meta-llama/Llama-2-7b-hf on NVIDIA H100 SXM5 80GB, roofline bound"
    # The rate as asked for (8/s), not as the Poisson draw arrived; the capacity search's
    # rates tried and what it found.
    assert (
        titles[0] == f"{head}\n1 replica of 1 device (TP=1); 60 requests, poisson arrivals at 8/s"
    )
    assert titles[1] == f"{head}\n1 replica of 1 device (TP=1); 4 to 32/s tried; no capacity found"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        # An infinite rate sent every request at once, accepted where the web API refused it.
        (["--rate", "inf"], "error: rate=inf is invalid: expected a finite number"),
        (["--rate", "nan"], "error: rate=nan is invalid: expected a finite number"),
        # It said "expected less than or equal to 1000" of nan.
        (["--arrival", "gamma", "--cv", "nan"],
         "error: cv=nan is invalid: expected a finite number"),
        (["--arrival", "gamma", "--cv", "inf"],
         "error: cv=inf is invalid: expected a finite number"),
        # As --cv without gamma arrivals: nothing reads an acceptance without drafts.
        (["--rate", "2", "--acceptance", "0.5"],
         "error: acceptance=0.5 is invalid: expected left out without draft_tokens"),
    ],
)  # fmt: skip
def test_settings_nothing_could_use_are_refused(extra: list[str], words: str) -> None:
    args = ["simulate", "gpt2", "-H", "h100-sxm", "--requests", "4", "--prompt", "100"]
    res = runner.invoke(app, [*args, "--output", "10", *extra])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(words), res.output


@pytest.mark.parametrize(
    ("extra", "offered", "words"),
    [
        (["--rate", "10", "--prompt", "fixed:300"],
         {"requests": 40, "rate": 10.0, "arrival": "poisson", "prompt": "fixed:300"},
         "40 requests, poisson arrivals at 10/s; prompts fixed:300"),
        (["--concurrency", "8", "--shared-prefix", "64"],
         {"requests": 40, "concurrency": 8, "shared_prefix": 64},
         # Llama-2's 4,096 positions less the prefix: the default caps take 3,024 and 1,008.
         "40 requests, a closed loop of 8 clients; prompts lognormal:512:0.8:3024 after a "
         "shared prefix of 64"),
        (["--arrival", "gamma", "--cv", "2"], {"arrival": "gamma", "cv": 2.0, "rate": 4.0},
         "gamma arrivals at 4/s, cv 2"),
    ],
)  # fmt: skip
def test_a_simulation_says_what_load_it_was_offered(extra, offered, words) -> None:
    """An open loop at 10 req/s and a closed loop of 8 clients could not be told apart from
    their JSON (its settings held neither): `workload` states the load, the table's first
    row says it."""
    args = ["simulate", LLAMA, "-H", "h100", "--requests", "40", *extra]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).output)
    assert offered.items() <= data["workload"].items()
    table = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    assert words in table.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--arrival", "gamma"], "--arrival='gamma' is invalid"),
     (["--cv", "3"], "--cv=3.0 is invalid: expected left out with --concurrency")],
)  # fmt: skip
def test_a_closed_loop_refuses_an_arrival_process(extra, message) -> None:
    """The clients send on answers: gamma or fixed arrivals ran as if not given."""
    args = ["simulate", LLAMA, "-H", "h100", "--requests", "20", "--concurrency", "4", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output


def test_the_api_without_a_workload_runs_the_command_lines_default() -> None:
    """`rooflens.simulate(model, device)` and `rooflens simulate MODEL -H DEVICE`: one default
    workload (it was 1 req/s of fixed lengths in the API, 4 req/s of lognormal ones here)."""
    api_run = rooflens.simulate(LLAMA, "h100").summary()
    cli_run = json.loads(runner.invoke(app, ["simulate", LLAMA, "-H", "h100", "-f", "json"]).output)
    assert api_run["requests"] == cli_run["summary"]["requests"] == 1000
    for key in ("ttft_p99", "tpot_mean", "duration"):
        assert api_run[key] == pytest.approx(cli_run["summary"][key], rel=1e-9)


def test_a_capacity_bracketed_but_held_only_as_a_burst_says_so() -> None:
    """300 requests pass at 43.5/s, served at 19.8/s, and miss at 44/s: no capacity (NaN), and
    the warning no longer says every higher rate would pass; the table names the objectives
    it held to, the defaults included."""
    args = ["simulate", "meta-llama/Llama-2-7b-hf", "-H", "h100", "--capacity", "--requests", "300"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).output)
    assert data["capacity"] is None
    failed = [p["rate"] for p in data["probes"] if not p["within_slo"]]
    assert failed and "only as a burst" in data["warning"]
    assert f"({min(failed):.4g}/s missed it)" in data["warning"]
    table = runner.invoke(app, args, env={"COLUMNS": "200"}).output
    assert "objectives: TTFT ≤ 1 s, TPOT ≤ 50 ms at p99" in table


def test_a_request_whose_blocks_do_not_fit_is_refused_naming_them() -> None:
    """22,406,504,448 bytes leave Llama-2-7B on an H100 520 KV tokens, 32 whole blocks of 16;
    a 512 + 4-token request, 515 tokens held at most, takes 33 (it exited 1, "internal
    error", where its tokens fit)."""
    args = ["simulate", LLAMA, "-H", "h100-sxm", "--memory", "22406504448", "--concurrency", "1"]
    args += ["--requests", "1", "--prompt", "512", "--output", "4"]
    refused = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert refused.exit_code == 2, refused.output
    assert (
        "max_tokens=8192 is invalid: expected a step whose activation reserve leaves the "
        "replica's KV capacity (520 tokens: 32 whole blocks of 16) room for the longest request "
        "(515 tokens: 33 blocks)"
    ) in " ".join(refused.output.split())


def test_the_arrival_flag_takes_the_apis_spelling_too() -> None:
    """The Python API's and the web's field is `arrivals`; `--arrivals` was an unknown option."""
    args = ["simulate", "gpt2", "-H", "a6000", "--requests", "6", "--rate", "2", "-f", "json"]
    plural = CliRunner().invoke(app, [*args, "--arrivals", "fixed"])
    singular = CliRunner().invoke(app, [*args, "--arrival", "fixed"])
    assert plural.exit_code == 0, plural.output
    assert json.loads(plural.stdout)["summary"] == json.loads(singular.stdout)["summary"]


def test_a_length_form_prints_as_typed() -> None:
    """Rich read ":100:" in `uniform:100:200` as an emoji code and printed a 💯."""
    args = ["simulate", "gpt2", "-H", "a6000", "--requests", "4", "--prompt", "uniform:100:200"]
    out = CliRunner().invoke(app, args, env={"COLUMNS": "200"}).stdout
    assert "prompts uniform:100:200" in out and "\N{HUNDRED POINTS SYMBOL}" not in out


def test_a_device_too_small_for_the_weights_names_its_memory_in_its_own_unit() -> None:
    """A 1 MB device read "exceed its 0 GB"."""
    args = ["simulate", "facebook/opt-125m", "-H", "h100-sxm", "--requests", "4", "--memory"]
    result = runner.invoke(app, [*args, "1e6"], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "per device exceed its 1 MB (turn on flash_attention" in " ".join(result.output.split())


def test_hybrid_block_rounding_example_of_the_serving_docs() -> None:
    """docs/serving.md: Jamba-v0.1 on an H200 with --engine trtllm at 1,024 + 256 tokens has
    room for 1,248 requests in the simulator's blocks, where analyze counts 1,411."""
    two = rooflens.serving.Requests(np.zeros(2), np.full(2, 1024), np.full(2, 256))
    run = rooflens.simulate("ai21labs/Jamba-v0.1", "h200-sxm", two, engine="trtllm")
    assert run.to_dict()["kv_room_requests"] == 1248
    shape = {"prompt_len": 1024, "gen_len": 256}
    alone = rooflens.analyze("ai21labs/Jamba-v0.1", "h200-sxm", engine="trtllm", **shape)
    assert alone.to_dict()["memory"]["generation"]["max_batch"] == 1411


def test_an_engine_share_too_small_for_the_weights_says_it_is_the_engines_share() -> None:
    """With vLLM's share at 0.1 the refusal read "exceed its 8.55 GB" of an 80 GB H100, and
    its ways out left the share itself unnamed."""
    args = ["simulate", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--engine", "vllm"]
    result = runner.invoke(app, [*args, "--memory-fraction", "0.1", "--requests", "4"])
    assert result.exit_code == 2
    assert (
        "per device exceed the 8.55 GB the engine may take of its 85.5 GB (raise "
        "memory_fraction, quantize," in " ".join(result.output.split())
    )
