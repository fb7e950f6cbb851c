"""Hardware advice: hand-checked cases, the Pareto front, monotonicity, the CLI."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.advisor import Target, advise, candidates, pareto_front, verify
from rooflens.advisor.choices import WEIGHTS
from rooflens.cli.app import app
from rooflens.core.errors import InvalidInputError
from rooflens.engines.validated import checked_against
from rooflens.serving import SLO

LLAMA_70B = "meta-llama/Llama-2-70b-hf"
LLAMA_8B = "meta-llama/Llama-3.1-8B"
CHAT = Target(prompt_len=1000, output_len=300, rate=20)
runner = CliRunner()


def test_a_model_that_fits_only_on_one_device() -> None:
    # 70B parameters in fp16 are 138 GB: an H200 (141 GB) holds them, an A10 (24 GB) does not.
    advice = advise(
        LLAMA_70B, Target(prompt_len=200, output_len=50, rate=0.2), SLO(ttft=5, tpot=0.5),
        devices=["a10", "h200-sxm"], tps=(1,), pps=(1,), weights=("stored",), kv_bits=(16,),
    )  # fmt: skip
    table = advice.table.set_index("device")
    assert table.loc["h200-sxm", "feasible"] and not table.loc["a10", "feasible"]
    assert table.loc["a10", "binds"].startswith("memory capacity")
    assert list(advice.feasible["device"]) == ["h200-sxm"]


def test_an_slo_only_tensor_parallelism_meets() -> None:
    # FP8 Llama-2-70B reads 69 GB per token: 20.6 ms on one H100 (3.35 TB/s), about half on two.
    slo = SLO(ttft=2, tpot=0.015)
    advice = advise(
        LLAMA_70B, Target(prompt_len=500, output_len=100, rate=0.5), slo,
        devices=["h100-sxm"], tps=(1, 2), pps=(1,), weights=("fp8",), kv_bits=(16,),
    )  # fmt: skip
    table = advice.table.set_index("tp")
    assert not table.loc[1, "feasible"] and table.loc[1, "binds"].startswith("TPOT objective")
    assert table.loc[2, "feasible"] and table.loc[2, "tpot"] <= slo.tpot


def test_a_calibration_profiles_advice_names_no_release() -> None:
    """`--engine transformers` prices with the device's calibration profile, which has no
    release to name: naming one had failed the advice with an internal error."""
    res = CliRunner().invoke(
        app, ["advise", LLAMA_8B, "--devices", "h100-sxm", "--engine", "transformers", "--tp",
              "1", "--verify", "0", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["estimate"] == "estimated with transformers's fitted profiles"


def test_a_device_named_twice_is_searched_once() -> None:
    """Devices are merged by what they name (aliases too), not refused as a repeated value."""
    target, slo = Target(prompt_len=500, output_len=50, rate=1), SLO(ttft=5, tpot=0.2)
    once = advise(LLAMA_8B, target, slo, devices=["h100-sxm"], tps=(1,), pps=(1,))
    twice = advise(LLAMA_8B, target, slo, devices=["h100-sxm", "h100-sxm"], tps=(1,), pps=(1,))
    assert len(twice.table) == len(once.table)


def test_a_pipeline_parallel_pick_says_it_was_not_simulated() -> None:
    """`--verify` passes pipeline-parallel picks by (the simulator runs no stages): their
    cell had been left blank beside a confirmed pick's, and their explanation silent."""
    args = ["advise", LLAMA_8B, "--devices", "h100-sxm", "--tp", "1", "--pp", "1,2",
            "--weights", "stored", "--kv-bits", "16", "--verify", "1"]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│ h100-sxm")]
    assert [row.split("│")[-2].strip() for row in rows] == ["meets SLO", "not run (PP)"]
    said = " ".join(res.output.split())  # the explanations as words, however they wrap
    # Where nothing was simulated (--verify 0) no pick says it was not.
    unverified = CliRunner().invoke(app, [*args[:-1], "0"], env={"COLUMNS": "200"})
    assert "Not confirmed by simulation" not in unverified.output
    assert (
        said.count(
            "Not confirmed by simulation: the serving simulator does not run pipeline stages."
        )
        == 1
        and "2. 1 × PP=2 h100-sxm" in said
    )


def test_pipeline_stages_split_a_model_over_cards_without_nvlink() -> None:
    # INT4 Llama-2-70B is about 35 GB: no 24 GB RTX 4090 holds it, and without NVLink the search
    # tries no tensor parallelism there, but two pipeline stages over PCIe hold half each.
    target, slo = Target(prompt_len=500, output_len=100, rate=0.5), SLO(ttft=5, tpot=0.2)
    advice = advise(LLAMA_70B, target, slo, devices=["rtx-4090"], tps=(1, 2), pps=(1, 2),
                    weights=("int4",), kv_bits=(8,))  # fmt: skip
    table = advice.table.set_index("pp")
    assert len(table) == 2  # TP=2 is not tried on the RTX 4090
    assert not table.loc[1, "feasible"] and table.loc[1, "binds"].startswith("memory capacity")
    row = table.loc[2]
    assert row["feasible"] and row["devices"] == 2 * row["replicas"] and row["batch_limit"] % 2 == 0
    # A decode cycle is one micro-batch of B / 2 through both stages; a prompt holds each stage
    # for half its prefill: capacity = B / (t_d (g - 1) + B t_p / 2).
    options = {**WEIGHTS["int4"], "kv_bits": 8, "pp": 2}
    b = int(row["batch_limit"]) // 2
    decode = rooflens.analyze(LLAMA_70B, "rtx-4090", batch=b, prompt_len=550, **options)
    t_d = float(decode.steps["decode"].step_time())
    t_p = row["prefill_time"]
    full = 2 * b / (t_d * 99 + 2 * b * t_p / 2)
    # With every one of its 48 slots busy a request would wait for one without end: the
    # replica serves less than that, as much as the TTFT objective lets prompts wait for a slot.
    assert 0.5 * full < row["replica_capacity"] < full
    # Memory holds 96 requests beside one prompt's prefill: a full batch's TPOT binds.
    cap, limit = row["replica_capacity"], int(row["batch_limit"])
    assert row["binds"].startswith(
        f"TPOT objective: beyond {cap:.3g} req/s a full batch of {limit}"
    )
    assert "PP=2" in advice.explain(advice.feasible.iloc[0])
    # The simulator does not model pipeline stages: the pick stays unconfirmed, not failed.
    checked = verify(advice, LLAMA_70B, top=1)
    assert pd.isna(checked.table.loc[0, "verified"]) and checked.table.loc[0, "pp"] == 2


def test_pareto_front_by_hand() -> None:
    cost = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    latency = np.array([5.0, 3.0, 1.0, 4.0, 6.0])
    # (2, 4) is beaten by (2, 3); (1, 6) by (1, 5).
    assert pareto_front(cost, latency).tolist() == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pareto_front(None, None),
         "cost is missing: expected a list of numbers, one per setup"),
        (lambda: pareto_front([1.0, 2.0], [1.0]),
         "latency='1 numbers' is invalid: expected as many as cost's 2, one per setup"),
        (lambda: candidates(None),
         "devices is missing: expected a list of devices or device names"),
        (lambda: candidates(["h100-sxm"], tps=(0,)),
         "tp=0 is invalid: expected widths among 1, 2, 4, 8, 16, 32, 64, comma-separated"),
        (lambda: candidates(["h100-sxm"], kv_bits=(3,)),
         "kv_bits=3 is invalid: expected widths among 16, 8, 4, comma-separated"),
        (lambda: candidates(["h100-sxm"], weights=("foo",)),
         "weights='foo' is invalid: expected some of stored, bf16, fp8, int4, nvfp4, "
         "comma-separated"),
    ],
)  # fmt: skip
def test_the_public_search_helpers_refuse_bad_input_by_name(call, message) -> None:
    """candidates and pareto_front had no checks: a device name ended in an AttributeError,
    tp=0 listed setups of no device, arrays of two lengths gave a front of the shorter."""
    with pytest.raises(InvalidInputError) as err:
        call()
    assert str(err.value) == message


def test_candidates_take_names_as_advise_does() -> None:
    (named,) = candidates(
        ["h100"], tps=(1,), weights=("bf16",), kv_bits=(16,), model="facebook/opt-125m"
    )
    assert (named.device.name, named.tp, named.weights, named.kv_bits) == (
        "h100-sxm",
        1,
        "bf16",
        16,
    )


def test_verify_names_a_missing_model(chat_advice) -> None:
    with pytest.raises(InvalidInputError, match=r"^model is missing"):
        verify(chat_advice, None, top=1)


@pytest.fixture(scope="module")
def chat_advice():
    return advise(LLAMA_8B, CHAT, SLO(ttft=2, tpot=0.06))


def test_the_front_lists_no_dominated_setup(chat_advice) -> None:
    ok = chat_advice.feasible
    front = ok[ok["pareto"]]
    assert len(front) >= 2
    for _, row in front.iterrows():
        beaten = (ok["cost_per_million"] <= row["cost_per_million"]) & (ok["e2e"] <= row["e2e"])
        strictly = (ok["cost_per_million"] < row["cost_per_million"]) | (ok["e2e"] < row["e2e"])
        assert not (beaten & strictly).any()
    # Ranked by cost: the first pick is the cheapest feasible setup.
    assert ok.iloc[0]["cost_per_million"] == ok["cost_per_million"].min()


@pytest.mark.parametrize(("tight", "loose"), [((1.0, 0.03), (2.0, 0.06)), ((0.5, 0.02), (5, 0.2))])
def test_a_looser_slo_never_costs_more(tight, loose) -> None:
    devices = ["h100-sxm", "a100-sxm4-80gb", "l40s", "rtx-4090"]
    best = [
        advise(LLAMA_8B, CHAT, SLO(ttft=t, tpot=p), devices=devices)
        .feasible["cost_per_million"]
        .min()
        for t, p in (tight, loose)
    ]
    assert best[1] <= best[0]


def test_a_cheaper_device_stays_on_the_front(chat_advice) -> None:
    on_front = chat_advice.feasible[chat_advice.feasible["pareto"]]
    name = on_front.iloc[-1]["device"]
    pool = [rooflens.resolve_device(d) for d in ("h100-sxm", "a100-sxm4-80gb", "l40s", name)]
    before = advise(LLAMA_8B, CHAT, chat_advice.slo, devices=pool)
    cheaper = [d.model_copy(update={"hourly_price": d.hourly_price / 2}) if d.name == name else d
               for d in pool]  # fmt: skip
    after = advise(LLAMA_8B, CHAT, chat_advice.slo, devices=cheaper)
    front = lambda a: set(a.feasible[a.feasible["pareto"]]["device"])  # noqa: E731
    assert name in front(before) and name in front(after)


def test_budget_and_other_rankings(chat_advice) -> None:
    budget = advise(LLAMA_8B, CHAT, chat_advice.slo, budget=5.0)
    assert (budget.feasible["cost_per_hour"] <= 5.0).all()
    assert budget.table["binds"].str.startswith("over the budget").any()
    fast = advise(LLAMA_8B, CHAT, chat_advice.slo, rank="latency")
    assert fast.feasible.iloc[0]["e2e"] == fast.feasible["e2e"].min()


def test_the_simulator_confirms_the_top_pick(chat_advice) -> None:
    checked = verify(chat_advice, LLAMA_8B, top=1, requests=200)
    top = checked.table.iloc[0]
    assert bool(top["verified"])
    assert top["simulated_ttft"] <= chat_advice.slo.ttft
    assert top["simulated_tpot"] <= chat_advice.slo.tpot
    assert "each replica serves up to" in checked.explain(top)


def test_a_pick_on_a_small_device_is_confirmed_with_its_own_activation_memory() -> None:
    # W16 Llama-3.1-8B on a 24 GB RTX 4090: 16 GB of weights leave room for the KV cache of
    # the screening's one-prompt prefill, not for an 8192-token step's activations (8.7 GB).
    slo = SLO(ttft=2, tpot=0.06)
    advice = advise(LLAMA_8B, Target(prompt_len=500, output_len=100, rate=1), slo,
                    devices=["rtx-4090"], tps=(1,), weights=("stored",), kv_bits=(16,))  # fmt: skip
    checked = verify(advice, LLAMA_8B, top=1, requests=100)
    assert bool(checked.table.loc[0, "verified"])
    assert checked.table.loc[0, "simulated_tpot"] <= slo.tpot


def test_a_pick_the_simulator_cannot_run_fails_instead_of_raising(monkeypatch) -> None:
    from rooflens.advisor import search
    from rooflens.core.errors import InvalidInputError

    def refuse(*args, **kwargs):
        raise InvalidInputError("hardware", "x", "room for a KV cache")

    advice = advise(LLAMA_8B, CHAT, SLO(ttft=2, tpot=0.06), devices=["h100-sxm", "l40s"],
                    pps=(1,))  # fmt: skip
    monkeypatch.setattr(search, "simulate", refuse)
    checked = verify(advice, LLAMA_8B, top=2)
    failed = checked.table[checked.table["verified"].eq(False).fillna(False).astype(bool)]
    assert len(failed) == 2
    assert failed["binds"].str.startswith("fails in simulation: cannot be simulated").all()
    # Both move below the feasible picks the simulator was not asked about.
    assert list(failed.index) == [len(checked.feasible) - 2, len(checked.feasible) - 1]


def test_advise_cli(tmp_path) -> None:
    png = tmp_path / "pareto.png"
    args = ["advise", LLAMA_8B, "--workload", "prompt=1000,output=300,rate=20", "--slo",
            "ttft_p99=2s,tpot_p99=60ms", "--devices", "h100-sxm,l40s", "--verify", "1"]  # fmt: skip
    # A wide terminal whatever runs the test (a pytest-xdist worker sets COLUMNS=80).
    result = runner.invoke(app, [*args, "--plot", str(png)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "best setups by cost" in result.output and "what binds" in result.output
    assert "roofline bound" in " ".join(result.output.split())
    # Headers a person reads, not the table's column names.
    for header in ("weights", "batch limit", "$/hour", "$/M tokens"):
        assert header in result.output
    assert "cost_per" not in result.output
    assert png.stat().st_size > 10_000
    assert f"wrote {png}" in result.output  # as plot and report say what they wrote
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    # Headed, as the analyses' JSON is, with what was searched (it had opened with the picks).
    assert list(data)[:6] == ["model", "hardware", "estimate", "settings", "workload", "slo"]
    assert data["model"] == LLAMA_8B and data["hardware"] == ["h100-sxm", "l40s"]
    assert data["settings"] == {"devices": ["h100-sxm", "l40s"]}
    assert data["picks"][0]["verified"] is True and len(data["explanations"]) == len(data["picks"])
    assert data["estimate"] == "roofline bound"
    assert data["slo"] == {"ttft": 2.0, "tpot": 0.06, "percentile": 99.0}
    assert (data["workload"]["prompt_len"], data["workload"]["rate"]) == (1000, 20.0)
    engine = ["advise", LLAMA_8B, "--devices", "h100-sxm", "--verify", "0", "--engine", "vllm"]
    priced = json.loads(runner.invoke(app, [*engine, "--tp", "1", "-f", "json"]).output)
    assert priced["estimate"] == "estimated with vllm's fitted profiles, of vllm 0.24.0 on h100-sxm"
    assert priced["settings"] == {"devices": ["h100-sxm"], "tp": [1], "engine": "vllm"}
    # How far vLLM's forecasts on the picks' device fell from its measured runs, as a
    # simulation there says it (Llama-3.1-8B unmeasured: the dense models' runs); the
    # roofline bounds have none, and the table prints the line.
    line = checked_against("vllm", "h100-sxm", LLAMA_8B, "dense")
    assert priced["validation"] == {"h100-sxm": line}
    assert data["validation"] == {}
    text = runner.invoke(app, [*engine, "--tp", "1"], env={"COLUMNS": "400"}).output
    assert f"checked against, h100-sxm: {line}" in " ".join(text.split())


def test_advise_says_which_objectives_applied_and_why_setups_were_turned_away() -> None:
    # A TTFT objective alone kept the default TPOT one unsaid; setups no engine profile
    # priced were counted as missing the SLO, with the reason only in the JSON.
    args = ["advise", LLAMA_8B, "--workload", "prompt=1000,output=200,rate=5",
            "--slo", "ttft_p99=1s", "--engine", "vllm", "--devices", "mi300x,h100-sxm",
            "--verify", "0"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "objectives: ttft_p99=1s,tpot_p99=60ms" in text
    assert "42 setups, for example: not priced on mi300x: engine='vllm' is invalid" in text
    assert "a profile for mi300x" in text and "; 42 could not be priced." in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workload", "prompt=1000,users=3"], "--workload="),
        # Commas alone: no key given (it ran the default load without a word); an empty
        # value is left out, as an empty declared option is.
        (["--workload", ","], "--workload=',' is invalid: expected prompt=N,output=N,rate=R"),
        (["--slo", ","], "--slo=',' is invalid: expected KEY=VALUE pairs"),
        (["--slo", "ttft=quick"], "--slo ttft='quick'"),
        (["--rank", "vibes"], "rank='vibes' is invalid: expected one of cost, energy, latency"),
        (["--tp", "two"], "tp='two' is invalid: expected widths among 1, 2, 4, 8, 16, 32, 64"),
        (["--tp", "3"], "tp=3 is invalid: expected widths among 1, 2, 4, 8, 16, 32, 64"),
        (["--budget", "-1"], "budget=-1.0 is invalid: expected a number in (0, 1e+09]"),
        (["--engine", "tgi"], "engine='tgi' is invalid"),
        (["--engine-version", "0.5.9"], "engine_version='0.5.9' is invalid: expected empty"),
        (["--devices", "h900"], "h900"),
        (["--devices", "a10", "--tp", "2"], "tp=2 is invalid: expected a width the devices"),
        (["--pp", "0"], "pp=0 is invalid: expected counts among 1, 2, 4, 8"),
        (["--weights", "fp9"], "weights='fp9' is invalid: expected some of stored, bf16"),
        (
            ["--devices", "h100-sxm", "--weights", "nvfp4"],
            "weights='nvfp4' is invalid: expected a precision the devices have tensor cores",
        ),
        # A dense model has no experts to lay out: the weights were blamed.
        (["--experts", "ep"], "experts='ep' is invalid: expected tp for a dense model"),
    ],
)
def test_bad_advise_input_exits_2(extra, message) -> None:
    result = runner.invoke(app, ["advise", LLAMA_8B, "--verify", "0", *extra])
    assert result.exit_code == 2 and message in result.output


def test_a_pareto_plot_with_no_feasible_setup_says_so(tmp_path) -> None:
    # No setup answers within a microsecond: nothing to place on log axes (once an internal
    # error), the picture says so and the table says why.
    png = tmp_path / "pareto.png"
    args = ["advise", LLAMA_8B, "--devices", "a6000", "--verify", "0", "--slo", "ttft_p99=1us"]
    result = runner.invoke(app, [*args, "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "No setup meets the SLO" in result.output and "TTFT objective" in result.output
    assert png.stat().st_size > 10_000


def test_the_csv_lists_every_setup_in_the_same_columns_whatever_the_outcome() -> None:
    """The CSV's columns are COLUMNS, in order, whether setups meet the SLO or none does
    (which dropped batch_limit to tpot and reordered the rest) and whether the simulator ran
    (--verify 0 dropped simulated_*); a figure that does not apply is an empty cell. It holds
    every setup screened, where --top bounds the JSON's picks."""
    from rooflens.advisor.search import COLUMNS

    none = ["advise", "meta-llama/Llama-3.1-70B", "--devices", "l4,t4", "--tp", "1,2",
            "--pp", "1", "--slo", "ttft_p99=0.1s,tpot_p99=5ms"]  # fmt: skip
    some = ["advise", LLAMA_8B, "--devices", "l4,l40s", "--tp", "1", "--top", "2"]
    runs = {
        "none": [*none, "--verify", "0"],
        "screened": [*some, "--verify", "0"],
        "simulated": [*some, "--verify", "1"],
    }
    frames = {}
    for name, args in runs.items():
        result = runner.invoke(app, [*args, "-f", "csv"])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == ",".join(COLUMNS), name
        frames[name] = pd.read_csv(io.StringIO(result.stdout))
    # Neither an L4 (24 GB) nor a T4 (16 GB) holds 70B weights, 35 GB even at INT4, and
    # neither has a link for tp 2: all turned away, with nothing to say of replicas or latency.
    turned_away = frames["none"]
    assert not turned_away["feasible"].any()
    assert turned_away[["batch_limit", "replicas", "ttft", "tpot"]].isna().all().all()
    assert turned_away["binds"].str.startswith("memory capacity").all()
    # L4 and L40S at tp 1, pp 1 and 2: stored (BF16), fp8 and int4 (bf16 is what is stored;
    # neither has FP4 for nvfp4) x 2 KV widths: 24 setups, each a row, where the JSON keeps
    # --top's 2 picks.
    picks = json.loads(runner.invoke(app, [*runs["screened"], "-f", "json"]).stdout)["picks"]
    assert len(picks) == 2
    assert len(frames["screened"]) == len(frames["simulated"]) == 24
    assert list(frames["screened"]["device"][:2]) == [p["device"] for p in picks]
    assert frames["screened"]["verified"].isna().all()
    assert frames["simulated"]["verified"].iloc[0] == True  # noqa: E712 (read back as object)
    assert frames["simulated"]["simulated_ttft"].notna().sum() == 1


def test_a_load_longer_than_the_context_is_bad_input() -> None:
    """GPT-2's 1,024 positions hold no 1,000 + 300-token request on any setup: one line naming
    the lengths (once every setup was screened and refused alike, at a length never asked)."""
    result = runner.invoke(app, ["advise", "openai-community/gpt2", "--verify", "0"])
    assert result.exit_code == 2
    assert "prompt_len + output_len=1300 is invalid" in result.output
    assert "at most 1024 tokens" in result.output


def test_each_precision_is_tried_as_engines_serve_it() -> None:
    """The weights searched: the checkpoint as stored, and the others a device has tensor
    cores for, none re-quantizing the checkpoint into the format it is stored in."""
    from rooflens.advisor.search import candidates

    pool = [rooflens.resolve_device(d) for d in ("a100-sxm4-80gb", "h100-sxm", "b200")]
    tried = {}
    for model in (LLAMA_8B, "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b"):
        spec = rooflens.resolve_model(model)
        setups = candidates(pool, (1,), tuple(WEIGHTS), (16,), (1,), spec)
        tried[model] = {d: [c.weights for c in setups if c.device.name == d] for d in
                        ("a100-sxm4-80gb", "h100-sxm", "b200")}  # fmt: skip
    assert tried[LLAMA_8B] == {
        "a100-sxm4-80gb": ["stored", "int4"],
        "h100-sxm": ["stored", "fp8", "int4"],
        "b200": ["stored", "fp8", "int4", "nvfp4"],
    }
    # DeepSeek-V3 is stored in FP8 (block scales): "stored" is its FP8 setup.
    assert tried["deepseek-ai/DeepSeek-V3"]["b200"] == ["stored", "bf16", "int4", "nvfp4"]
    assert tried["openai/gpt-oss-120b"]["h100-sxm"] == ["stored", "bf16", "fp8", "int4"]


def test_a_setup_is_priced_as_analyze_prices_it_with_the_engine() -> None:
    """Each row is the analysis `rooflens analyze` gives its settings, the engine's fusions,
    the checkpoint's stored precision and the profile's fallbacks included."""
    target = Target(prompt_len=1000, output_len=200, rate=2)
    advice = advise("openai/gpt-oss-120b", target, SLO(ttft=5, tpot=0.2), devices=["h200-sxm"],
                    tps=(1,), pps=(1,), kv_bits=(16,), engine="vllm")  # fmt: skip
    table = advice.table.set_index("weights")
    assert sorted(table.index) == ["bf16", "fp8", "int4", "stored"]
    assert table.loc["stored", "precision"] == "W4A16 MXFP4 (attention, router at 16 bits)"
    assert table.loc["fp8", "precision"] == "W8A8 FP8"
    # gpt-oss's width (2,880) does not split into groups of 128: it is tried in groups of 64,
    # as its INT4 exports are grouped (it was turned away as "group_size=128 is invalid").
    assert table.loc["int4", "precision"] == "W4A16 INT4 g64"
    assert table.loc["int4", "priced"]
    # At tp=4 a device's share of the experts is 720 wide: no group INT4 kernels take splits it.
    wide = advise("openai/gpt-oss-120b", target, SLO(ttft=5, tpot=0.2), devices=["h200-sxm"],
                  tps=(4,), pps=(1,), kv_bits=(16,), weights=("int4",), experts=("tp",),
                  engine="vllm")  # fmt: skip
    assert wide.table.iloc[0]["binds"] == (
        "not priced on h200-sxm: weights='int4' is invalid: expected groups of 128, 64, 32 "
        "weights (as INT4 kernels take them) whole in every quantized layer on a device: at "
        "tp=4 its widths are [720, 1024, 2880]"
    )
    for weights in ("stored", "fp8"):
        alone = rooflens.analyze("openai/gpt-oss-120b", "h200-sxm", engine="vllm", batch=1,
                                 prompt_len=1000, kv_bits=16, **WEIGHTS[weights])  # fmt: skip
        prefill = float(alone.steps["prefill"].step_time())
        assert table.loc[weights, "prefill_time"] == pytest.approx(prefill, rel=1e-12)
    # vLLM's experts quantized online run Triton's kernel, which its H200 tables time with
    # block scales only: those rows stand in, and the row says so.
    assert table.loc["fp8", "stand_ins"] == "moe:fp8"
    # No engine's tables time weight-only INT4 GEMMs: the row and its explanation say what
    # priced them.
    llama = advise(LLAMA_8B, target, SLO(ttft=5, tpot=0.2), devices=["h100-sxm"], tps=(1,),
                   pps=(1,), kv_bits=(16,), weights=("int4",), engine="vllm")  # fmt: skip
    row = llama.table.iloc[0]
    assert row["feasible"] and row["precision"] == "W4A16 INT4 g128"
    assert row["stand_ins"] == "matmul:w4a16_int"
    assert "no curves of its own for matmul:w4a16_int: priced with stand-ins" in llama.explain(row)
    # A 4-bit KV cache, a type the H100 lacks: the FP8 cache's curves price it, said so.
    narrow = advise(LLAMA_8B, target, SLO(ttft=5, tpot=0.2), devices=["h100-sxm"], tps=(1,),
                    pps=(1,), kv_bits=(4,), weights=("fp8",), engine="vllm")  # fmt: skip
    assert narrow.table.iloc[0]["stand_ins"] == "attention:4-bit KV cache"


def test_an_engines_picks_are_confirmed_with_its_scheduler(monkeypatch) -> None:
    """With vLLM the simulator confirms a pick as vLLM schedules (its preset: chunked prefill
    within its token budget), batched up to the pick's limit; without an engine, as the
    screening assumes (one prompt per prefill iteration)."""
    from rooflens.advisor import search
    from rooflens.serving.presets import scheduler_with

    target, slo = Target(prompt_len=1000, output_len=200, rate=5), SLO(ttft=2, tpot=0.06)
    used = []
    real = search.simulate

    def spy(*args, **kwargs):
        used.append(kwargs["scheduler"])
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "simulate", spy)
    limits = {}
    for engine in ("vllm", None):
        advice = advise(LLAMA_8B, target, slo, devices=["h100-sxm"], tps=(1,), pps=(1,),
                        weights=("stored",), kv_bits=(16,), engine=engine)  # fmt: skip
        checked = verify(advice, LLAMA_8B, top=1, requests=50)
        assert bool(checked.table.loc[0, "verified"])
        limits[engine] = int(checked.table.loc[0, "batch_limit"])
    device = rooflens.resolve_device("h100-sxm")
    assert used[0] == scheduler_with("vllm", device, {"max_batch": limits["vllm"]})
    assert used[0].policy == "chunked" and used[0].max_tokens > target.prompt_len
    assert used[1].max_batch == limits[None] and used[1].max_tokens == target.prompt_len


def test_a_mixture_of_experts_is_tried_with_whole_experts_per_device_too() -> None:
    """Over more than one device a MoE model's experts are tried split over the group (tp) and
    whole, E / tp on each (ep); a dense model, and one device, only as tp. The ep row is the
    analysis of `--tp N --ep N --moe-tp 1`, and the pick says EP=N."""
    from rooflens.advisor.search import candidates

    moe = "Qwen/Qwen3-30B-A3B"
    pool = [rooflens.resolve_device("h100-sxm")]
    layouts = {
        model: [(c.tp, c.experts) for c in candidates(
            pool, (1, 2), ("stored",), (16,), (1,), rooflens.resolve_model(model))]
        for model in (moe, LLAMA_8B)
    }  # fmt: skip
    assert layouts == {moe: [(1, "tp"), (2, "tp"), (2, "ep")], LLAMA_8B: [(1, "tp"), (2, "tp")]}
    target = Target(prompt_len=1000, output_len=200, rate=2)
    advice = advise(moe, target, SLO(ttft=5, tpot=0.2), devices=pool, tps=(2,), pps=(1,),
                    weights=("stored",), kv_bits=(16,), experts=("ep",),
                    engine="sglang")  # fmt: skip
    row = advice.table.iloc[0]
    assert row["experts"] == "ep" and row["feasible"]
    alone = rooflens.analyze(moe, "h100-sxm", engine="sglang", tp=2, ep=2, moe_tp=1, batch=1,
                             prompt_len=1000, kv_bits=16)  # fmt: skip
    assert row["prefill_time"] == pytest.approx(
        float(alone.steps["prefill"].step_time()), rel=1e-12
    )
    assert "× TP=2 EP=2 h100-sxm" in advice.explain(row)
    checked = verify(advice, moe, top=1, requests=50)
    assert checked.table.loc[0, "simulated_tpot"] > 0
    with pytest.raises(rooflens.InvalidInputError, match="expected some of tp, ep"):
        advise(moe, target, SLO(), devices=pool, experts=("dp",))


def test_the_search_is_declared_once() -> None:
    """The command line's search options and the viewer's search fields are the fields of one
    declaration (AdviseSearch): same names, defaults and help; the API checks against it."""
    import typer

    from rooflens.advisor.choices import AdviseSearch, parse_search
    from rooflens.web.schemas import AdviseRequest

    group = typer.main.get_command(app)
    ctx = group.make_context("rooflens", ["advise"], resilient_parsing=True)
    options = {p.name: p for p in group.get_command(ctx, "advise").params}
    for name, field in AdviseSearch.model_fields.items():
        assert AdviseRequest.model_fields[name].default == field.default
        assert AdviseRequest.model_fields[name].description == field.description
        assert options[name].help.startswith(field.description)
    # Text, a JSON array and a tuple read alike.
    assert (
        parse_search({"tp": "1,2"}) == parse_search({"tp": [1, 2]}) == parse_search({"tp": (1, 2)})
    )
    assert parse_search({}).weights == ("stored", "bf16", "fp8", "int4", "nvfp4")


def test_nvfp4_is_the_export_nvidia_publishes_where_the_catalog_bundles_it() -> None:
    """No engine quantizes to NVFP4 on load: DeepSeek-V3 at nvfp4 is NVIDIA's export as
    stored (its latent attention kept at 16 bits), Llama-3.1-8B, without a bundled export,
    is quantized as the recipe says."""
    target, slo = Target(prompt_len=1000, output_len=200, rate=2), SLO(ttft=5, tpot=0.2)
    kw = dict(devices=["b200"], pps=(1,), weights=("nvfp4",), kv_bits=(8,), experts=("tp",),
              engine="trtllm")  # fmt: skip
    deepseek = advise("deepseek-ai/DeepSeek-V3", target, slo, tps=(8,), **kw).table.iloc[0]
    assert deepseek["precision"] == (
        "W4A4 NVFP4 (kv_a_proj, latent_attention, q_a_proj, q_b_proj at 16 bits)"
    )
    export = rooflens.analyze("nvidia/DeepSeek-V3.1-NVFP4", "b200", engine="trtllm", tp=8,
                              kv_bits=8, batch=1, prompt_len=1000)  # fmt: skip
    assert deepseek["prefill_time"] == pytest.approx(
        float(export.steps["prefill"].step_time()), rel=1e-12
    )
    llama = advise(LLAMA_8B, target, slo, tps=(1,), **kw).table.iloc[0]
    assert llama["precision"] == (
        "W4A4 NVFP4, a checkpoint quantized offline (no engine quantizes to NVFP4 on load)"
    )


def test_picks_priced_on_stand_in_curves_are_marked() -> None:
    """The table marks a pick whose engine's tables lack a kernel it runs (INT4 weight-only
    GEMMs: none time them) and says which curves stood in; one fully measured is unmarked."""
    args = ["advise", LLAMA_8B, "--engine", "vllm", "--devices", "h100-sxm", "--tp", "1",
            "--pp", "1", "--kv-bits", "16", "--verify", "0", "--weights"]  # fmt: skip
    marked = runner.invoke(app, [*args, "int4,fp8"], env={"COLUMNS": "200"})
    assert marked.exit_code == 0, marked.output
    assert "int4 †" in marked.output and "fp8 †" not in marked.output
    assert "† priced partly on stand-in curves: matmul:w4a16_int" in marked.output
    plain = runner.invoke(app, [*args, "fp8"], env={"COLUMNS": "200"})
    assert "†" not in plain.output
    data = json.loads(runner.invoke(app, [*args, "int4", "-f", "json"]).output)
    assert data["picks"][0]["stand_ins"] == "matmul:w4a16_int"


def test_a_72_gpu_nvlink_domain_is_searched_at_wide_tensor_parallelism() -> None:
    """A GB200 NVL72 node holds tensor-parallel groups of 32 and 64 (its devices_per_node);
    an HGX B200 node of 8 does not, and says so."""
    target, slo = Target(prompt_len=1000, output_len=200, rate=2), SLO(ttft=5, tpot=0.2)
    wide = advise(LLAMA_70B, target, slo, devices=["gb200"], tps=(32, 64), pps=(1,),
                  weights=("stored",), kv_bits=(16,))  # fmt: skip
    assert sorted(wide.table["tp"]) == [32, 64]
    with pytest.raises(rooflens.InvalidInputError, match="at most 8 in one node"):
        advise(LLAMA_70B, target, slo, devices=["b200"], tps=(32,), pps=(1,))


def test_the_json_says_why_setups_were_turned_away() -> None:
    """A JSON answer with no pick said only how many setups failed ("rejected": 48); the
    reasons, as the table and the viewer list them, come with it."""
    args = ["advise", LLAMA_8B, "--devices", "h100-sxm", "--verify", "0",
            "--slo", "ttft_p99=10ms,tpot_p99=100us", "-f", "json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["picks"] == [] and data["rejected"] == 48
    assert [r["count"] for r in data["rejections"]] == [48]
    assert data["rejections"][0]["reason"] == "TPOT objective"
    assert data["rejections"][0]["example"].startswith("TPOT objective: even one request")


def test_nvfp4_without_a_published_export_says_it_needs_an_offline_checkpoint() -> None:
    """No engine quantizes to NVFP4 on load: gpt-oss at NVFP4 needs a checkpoint quantized
    offline, and its precision says so; DeepSeek-V3's is NVIDIA's export, as stored."""
    from rooflens.advisor.search import Candidate, _screen

    b200 = rooflens.resolve_device("b200")
    target, slo = Target(prompt_len=1000, output_len=200, rate=4), SLO(ttft=2, tpot=0.06)
    gpt = _screen(rooflens.resolve_model("openai/gpt-oss-120b"),
                  Candidate(b200, 1, "nvfp4", 16), target, slo, "vllm")  # fmt: skip
    assert gpt["precision"].endswith(
        ", a checkpoint quantized offline (no engine quantizes to NVFP4 on load)"
    )
    deepseek = _screen(rooflens.resolve_model("deepseek-ai/DeepSeek-V3"),
                       Candidate(b200, 8, "nvfp4", 16), target, slo, "trtllm")  # fmt: skip
    assert "offline" not in deepseek["precision"]


def test_the_table_says_once_what_every_pick_shares() -> None:
    """Fourteen columns wrapped mid-word in a 100-column terminal ("expert s", "replic as"):
    those every pick shares leave the table for one line, and it fits."""
    args = ["advise", LLAMA_8B, "--devices", "h100-sxm", "--tp", "1", "--pp", "1", "--verify", "0"]
    out = runner.invoke(app, args, env={"COLUMNS": "100"}).output
    assert "every setup shown: tp 1, pp 1" in out
    table = [line for line in out.splitlines() if line.startswith(("┃", "│"))]
    assert table and max(len(line) for line in table) <= 100
    assert not any(" pp " in line for line in table if line.startswith("┃"))


def test_energy_below_one_request_at_a_time_counts_the_idle_time() -> None:
    """At 0.25 requests/s a B200 serving Llama-3.1-8B one request at a time (about 6 a
    second) runs 4 % of the hour; its energy charged the busy draw all hour (641 W, 5x).
    Below that rate the draw above idle grows in proportion to the load."""
    from rooflens.core.economics import idle_power
    from rooflens.hardware.catalog import get_device
    from rooflens.serving import SLO

    def watts(rate: float) -> float:
        target = Target(prompt_len=1024, output_len=256, rate=rate)
        row = advise(
            "meta-llama/Llama-3.1-8B", target, SLO(ttft=1.0, tpot=0.05), devices=["b200"],
            tps=(1,), pps=(1,), weights=("nvfp4",), kv_bits=(8,),
        ).table.iloc[0]  # fmt: skip
        assert row.replicas == 1 and row.batch_at_load == 1
        return row.energy_per_million * rate * (1024 + 256) / 1e6 / row.devices

    idle = idle_power(get_device("b200"))
    low, high = watts(0.25), watts(1.0)
    assert low - idle == pytest.approx((high - idle) / 4)
    assert low < 0.2 * get_device("b200").tdp


def test_a_pick_refuted_in_simulation_leaves_the_front_and_counts_as_rejected() -> None:
    """FP8 Llama-3.1-8B on an L40S, 1,024-token prompts within 60 ms: screened at 59.4 ms
    (ten replicas at 0.5 req/s each, 0.97 of their capacity), it simulates at 68.7 ms over
    1,000 requests, the 99th percentile of rare prompt collisions."""
    from rooflens.serving import SLO

    target = Target(prompt_len=1024, output_len=256, rate=5)
    only = {"devices": ["l40s"], "tps": (1,), "pps": (1,), "weights": ("fp8",), "kv_bits": (8,)}
    screened = advise(LLAMA_8B, target, SLO(ttft=0.06, tpot=0.012), **only)
    checked = verify(screened, LLAMA_8B, top=1)
    row = checked.table.iloc[0]
    assert bool(screened.table.iloc[0]["pareto"]) and row["simulated_ttft"] > 0.06
    assert not bool(row["pareto"]) and row["binds"].startswith("fails in simulation")
    reasons = {r["reason"]: r["count"] for r in checked.rejections()}
    assert reasons.get("fails in simulation") == 1
    # It names the objective the simulator found missed, not the screen's reason for the
    # pick's limit (a TTFT miss read "fails in simulation: TPOT objective: ...").
    assert row["simulated_ttft"] == pytest.approx(0.0687, abs=5e-5)
    assert row["binds"] == "fails in simulation: TTFT p99 68.7 ms over 60 ms"
    assert row["simulated_tpot"] <= 0.012


def test_counts_and_percentiles_the_advisor_cannot_take() -> None:
    from rooflens.serving import SLO
    from rooflens.serving.config import parse_slo

    runner = CliRunner()
    for args, message in (
        (["--top", "0"], "--top=0 is invalid"),  # printed "No setup meets the SLO"
        (["--verify", "-1"], "--verify=-1 is invalid"),  # simulated all but the last
        (["--slo", "ttft_p100=1s,tpot_p100=50ms"], "slo.percentile=100.0 is invalid"),
    ):
        res = runner.invoke(app, ["advise", LLAMA_8B, "--devices", "h100-sxm", *args])
        assert res.exit_code == 2 and res.output.startswith(f"error: {message}"), res.output
    with pytest.raises(rooflens.InvalidInputError, match="top=-1"):
        verify(advise(LLAMA_8B, Target(), SLO(), devices=["h100-sxm"]), LLAMA_8B, top=-1)
    # An objective the text leaves out keeps the advisor's default, not the simulator's.
    from rooflens.serving.config import ADVISE_SLO

    assert parse_slo("ttft=2s", ADVISE_SLO).tpot == ADVISE_SLO.tpot != SLO().tpot


def test_a_ttft_objective_a_lone_prompt_meets_is_met_below_batch_1s_full_rate() -> None:
    """FP8 Llama-3.1-8B on an L40S prefills 1,024 tokens in 47 ms: a 60 ms TTFT was refused
    because one request at a time at its full rate queues prompts to 60.1 ms; replicas run
    below that rate meet it. The simulator puts the pick's 99th percentile near the
    objective (at 1,000 requests 69 ms: the screen is 13 % short of it). A 40 ms TTFT no
    load meets."""
    from rooflens.serving import SLO

    target = Target(prompt_len=1024, output_len=256, rate=5)
    only = {"devices": ["l40s"], "tps": (1,), "pps": (1,), "weights": ("fp8",), "kv_bits": (8,)}
    advice = advise(LLAMA_8B, target, SLO(ttft=0.06, tpot=0.012), **only)
    row = advice.table.iloc[0]
    assert row["feasible"] and row["ttft"] <= 0.06
    assert row["replicas"] == math.ceil(5 / row["replica_capacity"]) == 10
    assert row["binds"].startswith("TTFT objective: beyond 0.514 req/s prompts queue behind")
    checked = verify(advice, LLAMA_8B, top=1).table.iloc[0]
    assert 0.047 < checked["simulated_ttft"] < 0.06 * 1.2
    (reason,) = advise(LLAMA_8B, target, SLO(ttft=0.04, tpot=0.012), **only).rejections()
    assert reason["example"] == (
        "TTFT objective: a lone prompt reaches its first token in 0.0472 s, queueing behind no "
        "other"
    )


def test_the_wait_for_a_batch_slot_by_hand() -> None:
    """Completions at k times one request's rate are M/M/c: one slot at half load waits with
    probability 1/2, two at one request in service with 1/3 (2 rho^2 / (1 + rho)); a wait
    given one is exponential at rate mu(c) - lambda. A replica's throughput grows less than
    that with the batch: two slots at rates 1 and 1.5 with one arrival a second wait half the
    time (p = 1, 1, 2/3, then 2/3 of that each state on: busy 2 of 4)."""
    from rooflens.advisor.search import _slot_wait

    q = 0.99
    assert _slot_wait(np.array([0.25]), np.array([0.5]), q)[0] == pytest.approx(
        math.log(0.5 / 0.01) / (0.5 - 0.25), rel=1e-12
    )
    two = _slot_wait(np.array([1.0, 2.0]), np.array([1.0, 2.0]), q)
    assert two[0] == pytest.approx(math.log((1 / 3) / (1 - q)) / (2 - 1), rel=1e-12)
    assert two[1] == np.inf  # every slot busy: the queue grows without end
    sublinear = _slot_wait(np.array([1.0]), np.array([1.0, 1.5]), q)[0]
    assert sublinear == pytest.approx(math.log(0.5 / 0.01) / (1.5 - 1), rel=1e-12)
    # Two slots at a quarter load each: 1 in 10 requests waits, so the 80th percentile waits
    # for nothing.
    assert _slot_wait(np.array([0.5]), np.array([1.0, 2.0]), 0.8)[0] == 0.0
    # 512 slots at 500 in service: Erlang C from the Poisson terms, summed in full here.
    a, c = 500.0, 512
    terms = [math.exp(k * math.log(a) - math.lgamma(k + 1) - a) for k in range(c + 1)]
    chance = terms[c] / (terms[c] + (1 - a / c) * sum(terms[:c]))
    want = 3.0 / (c - a) * math.log(chance / (1 - q))
    rates = np.arange(1, c + 1) / 3.0
    assert _slot_wait(np.array([a / 3]), rates, q)[0] == pytest.approx(want, rel=1e-9)


def test_the_wait_behind_other_prompts_by_hand() -> None:
    """M/D/1 at utilization u, its wait exponential with P(W > 0) = u and the
    Pollaczek-Khinchine mean u h / (2 (1 - u)): P(W > t) = u exp(-2 (1 - u) t / h)."""
    from rooflens.advisor.search import _prompt_wait

    got = _prompt_wait(np.array([0.5, 0.005, 1.0]), 1.0, 0.99)
    assert got[0] == pytest.approx(math.log(0.5 / 0.01), rel=1e-12)
    assert got[1] == 0.0 and got[2] == np.inf  # within the percentile; saturated


def test_a_replica_serves_the_highest_load_within_the_slo() -> None:
    """A hand-made replica: 10 ms decode steps at any batch, 100 ms prefills, 100 tokens out."""
    from rooflens.advisor.search import _Replica

    sizes = np.array([1, 2, 4, 8])
    t_d = np.full(4, 0.01)
    t_p = 0.1
    rate = sizes / (t_d * 99 + sizes * t_p)
    z = NormalDist().inv_cdf(0.99)
    replica = _Replica(sizes, t_d, rate, t_p, 99, t_p, z, 1, SLO(ttft=0.5, tpot=0.05))
    cap = replica.capacity(3)
    assert 0 < cap < rate[3]
    at = replica.ttft(np.array([cap, cap * 1.001]), 3)
    assert at[0] <= 0.5 < at[1]
    # More slots wait less: a limit of 8 serves more than one of 2 (the TPOT objective far).
    assert replica.capacity(1) < cap
    assert replica.best_limit(np.array([True, True, True, True])) == (3, cap)
    # The TPOT objective's percentile: 99 steps of 10 ms of decode and the prompts queued as
    # it starts, w = 0.99 + W_99, end with a busy period of mean w / (1 - u) and variance
    # w u 0.1 / (1 - u)^3 at u = 0.1 λ; TPOT_99 = (mean + z sd) / 99 <= 12.5 ms.
    tight = _Replica(sizes, t_d, rate, t_p, 99, t_p, z, 1, SLO(ttft=50.0, tpot=0.0125))

    def tpot_99(lam: float) -> float:
        u = 0.1 * lam
        queued = 0.1 / (2 * (1 - u)) * math.log(u / 0.01) if u > 0.01 else 0.0
        w = 0.99 + queued
        return (w / (1 - u) + z * math.sqrt(w * u * 0.1 / (1 - u) ** 3)) / 99

    lo, hi = 0.0, 2.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tpot_99(mid) <= 0.0125 else (lo, mid)
    want = lo
    assert tight.tpot_bound(3) == pytest.approx(2.0)  # its mean's bound, above
    assert tight.capacity(3) == pytest.approx(want, rel=1e-3)
    assert tight.capacity(3) <= want


def test_workload_sizes_are_whole_and_unpriced_devices_show_no_cost() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["advise", LLAMA_8B, "--workload", "prompt=1.5"])
    assert res.exit_code == 2 and res.output.startswith(
        "error: --workload prompt=1.5 is invalid: expected a whole number of tokens"
    )
    # A bound is refused by the key typed too (it read prompt_len=-1).
    res = runner.invoke(app, ["advise", LLAMA_8B, "--workload", "prompt=-1"])
    assert res.exit_code == 2 and res.output.startswith("error: --workload prompt=-1 is invalid")
    res = runner.invoke(app, ["advise", LLAMA_8B, "--workload", "rate=5", "--devices", "b300",
                              "--verify", "0"])  # fmt: skip
    assert res.exit_code == 0 and "$nan" not in res.output and "│ —" in res.output


def test_a_one_token_answer_has_no_tpot_objective() -> None:
    """Prompts answered with one token decode nothing: a 1 ms TPOT objective (which no decode
    step meets) limited their batch to 2 and the explanation printed 'TPOT ≈ nan ms'."""
    from rooflens.serving import SLO

    target = Target(prompt_len=1000, output_len=1, rate=5)
    only = {"devices": ["l4"], "tps": (1,), "pps": (1,), "weights": ("fp8",), "kv_bits": (8,)}
    tight, loose = (advise(LLAMA_8B, target, SLO(ttft=2, tpot=t), **only) for t in (0.001, 10))
    row = tight.table.iloc[0]
    assert row["feasible"] and np.isnan(row["tpot"]) and row["e2e"] == row["ttft"]
    assert row["replica_capacity"] == loose.table.iloc[0]["replica_capacity"]
    assert "TPOT" not in tight.explain(row)
    res = CliRunner().invoke(
        app, ["advise", LLAMA_8B, "--workload", "prompt=1000,output=1,rate=5", "--devices", "l4",
              "--tp", "1", "--pp", "1", "--verify", "0", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.output)["picks"][0]["tpot"] is None


def test_a_percentile_below_the_median_waits_no_less_than_nothing() -> None:
    """At the 0.001st percentile the prompts' count drawn below its mean gave a TTFT of
    -0.23 s."""
    from rooflens.serving import SLO

    target = Target(prompt_len=1000, output_len=300, rate=5)
    advice = advise(LLAMA_8B, target, SLO(ttft=2, tpot=0.06, percentile=0.001), devices=["l4"])
    feasible = advice.feasible
    assert (feasible["ttft"] >= feasible["prefill_time"]).all() and (feasible["tpot"] > 0).all()


def test_setups_without_a_profile_are_not_priced_apart_from_those_that_miss() -> None:
    """vLLM has profiles for the H200, none for the A100 or the L40S: their setups are not
    priced, one reason per device (they had been counted as missing the SLO, all under the
    A100's name), and the command counts them apart."""
    target = Target(prompt_len=1024, output_len=256, rate=2)
    only = {"tps": (1,), "pps": (1,), "weights": ("bf16",), "kv_bits": (16,)}
    advice = advise(
        LLAMA_8B, target, SLO(ttft=2, tpot=0.06), devices=["a100", "l40s", "h200-sxm"],
        engine="vllm", **only,
    )  # fmt: skip
    reasons = {r["reason"]: r["count"] for r in advice.rejections()}
    assert reasons == {"not priced on a100-sxm4-80gb": 1, "not priced on l40s": 1}
    assert list(advice.feasible["device"]) == ["h200-sxm"]
    assert int(advice.unpriced.sum()) == 2
    result = CliRunner().invoke(
        app,
        ["advise", LLAMA_8B, "--engine", "vllm", "--verify", "0", "--devices",
         "a100,l40s,h200-sxm", "--weights", "bf16", "--kv-bits", "16", "--tp", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # Two setups a device here (one and two pipeline stages).
    assert "2 setups meet the SLO; 0 do not; 4 could not be priced." in result.output
    assert "2 setups, for example: not priced on l40s: engine='vllm' is invalid" in result.output


def test_verify_spends_its_checks_on_picks_the_simulator_can_run() -> None:
    """On L40S cards the best picks are two pipeline stages, which the simulator cannot run:
    --verify 3 took a check for each and confirmed one pick of three. Its checks now go to the
    best single-stage picks, and the tally counts a refuted pick as missing the SLO, as the
    rejections do."""
    from rooflens.cli.advise_cmds import _tally

    target, slo = Target(prompt_len=1024, output_len=128, rate=5), SLO(ttft=0.06, tpot=0.06)
    advice = advise(LLAMA_8B, target, slo, devices=["l40s"], tps=(1,), pps=(1, 2))
    feasible = advice.feasible
    assert (feasible["pp"].iloc[:2] == 2).all() and (feasible["pp"] == 1).sum() == 2
    from rooflens.advisor.search import picks_to_verify

    ends: list[int] = []
    assert picks_to_verify(advice.table, 3) == list(feasible.index[feasible["pp"] == 1])
    checked = verify(advice, LLAMA_8B, top=3, requests=200, progress=ends.append).table
    single = checked[checked["pp"] == 1]
    assert single["verified"].notna().sum() == 2  # both, where one had been
    assert ends == [1, 1]  # one step of progress as each of the two simulations ends
    assert checked.loc[checked["pp"] == 2, "verified"].isna().all()
    refuted = int(checked["verified"].eq(False).fillna(False).sum())
    total = len(checked)
    meet = int(checked["feasible"].sum()) - refuted
    line = _tally(replace(advice, table=checked))
    meets = f"{meet} setup meets" if meet == 1 else f"{meet} setups meet"
    assert line == f"{meets} the SLO; {total - meet} do not."


def test_the_pareto_plot_names_the_model_what_priced_it_and_the_load() -> None:
    """The plot's title had said only the load; the advice now carries its model's name."""
    from rooflens.views.advisor_plots import pareto

    advice = advise(LLAMA_8B, CHAT, SLO(ttft=2, tpot=0.06), devices=["h100-sxm", "l40s"])
    assert advice.model == LLAMA_8B
    title = pareto(advice).axes[0].get_title()
    assert title == f"{LLAMA_8B}, roofline bound\n20 req/s, prompt 1,000 tokens, output 300 tokens"


def test_an_engine_searches_the_devices_it_has_profiles_for_unless_told() -> None:
    """Unasked, the devices searched are the priced catalog's; with an engine, those its
    profiles describe (the others' setups would all be turned away as not priced)."""
    from rooflens.advisor.search import default_devices
    from rooflens.engines import engine_profiles
    from rooflens.hardware.catalog import catalog

    priced = {d.name for d in catalog().values() if d.hourly_price}
    assert {d.name for d in default_devices(None)} == priced
    for engine in ("vllm", "transformers"):
        described = set(engine_profiles()[engine])
        assert {d.name for d in default_devices(engine)} == priced & described
    assert {d.name for d in default_devices("transformers")} == {"h100-sxm", "h200-sxm"}


def test_unpriced_setups_are_not_within_a_budget_nor_ranked_by_cost() -> None:
    """B300s have no catalog price: under a $1/h budget they were offered as within it, and
    a search of unpriced devices alone was titled 'by cost' while ranked by latency."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = ["advise", "meta-llama/Llama-3.1-8B", "--verify", "0"]
    budget = CliRunner().invoke(app, [*args, "--devices", "b300,h100", "--budget", "1"])
    assert budget.exit_code == 0, budget.output
    text = " ".join(budget.output.split())
    assert "No setup meets the SLO within the budget." in text
    assert "no price to hold to the budget of $1/h: the catalog has none for b300" in text
    unpriced = CliRunner().invoke(app, [*args, "--devices", "b300,gb200"], env={"COLUMNS": "200"})
    assert "best setups by latency (none has a price to rank by cost)" in unpriced.output


def test_memory_reason_names_the_requests_the_cache_holds() -> None:
    """Where memory binds, the reason says how many requests' KV cache fits and the batch
    limit screened next (it said "more than 24" where 27 fit)."""
    args = ["advise", "meta-llama/Llama-3.1-70B", "--devices", "h100-sxm", "--tp", "2",
            "--pp", "1", "--weights", "fp8", "--kv-bits", "16", "--slo",
            "ttft_p99=60s,tpot_p99=2s", "--workload", "prompt=8000,output=1000,rate=50",
            "--verify", "0", "-f", "csv"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    pick = pd.read_csv(io.StringIO(res.stdout)).iloc[0]
    assert (pick["max_batch_memory"], pick["batch_limit"]) == (27, 24)
    assert pick["binds"].startswith(
        "memory capacity: the KV cache holds 27 requests at most, short of the next batch "
        "limit screened (32); "
    )


def test_an_empty_search_list_is_named_as_given() -> None:
    """`--tp ''` read "tp=() is invalid"."""
    for flag, field in (("--tp", "tp"), ("--pp", "pp"), ("--kv-bits", "kv_bits")):
        res = CliRunner().invoke(app, ["advise", "gpt2", flag, ""])
        assert res.exit_code == 2
        assert res.output.startswith(f"error: {field}='' is invalid: expected "), res.output


def test_an_empty_item_of_a_list_is_refused() -> None:
    """`--tp 1,,2` searched 1 and 2 as if the slip were not there (sweep refuses it)."""
    for flag, field, text in (("--tp", "tp", "1,,2"), ("--weights", "weights", "bf16,"),
                              ("--devices", "devices", "h100,,h200")):  # fmt: skip
        res = CliRunner().invoke(app, ["advise", "gpt2", flag, text])
        assert res.exit_code == 2
        assert res.output.startswith(f"error: {field}='{text}' is invalid: expected "), res.output


def test_a_search_value_given_twice_is_refused() -> None:
    """`--tp 1,1` searched every setup twice: screened and listed twice."""
    res = CliRunner().invoke(app, ["advise", "gpt2", "--tp", "1,2,1"])
    assert res.exit_code == 2
    assert res.output == (
        "error: tp='1,2,1' is invalid: expected widths among 1, 2, 4, 8, 16, 32, 64, "
        "comma-separated, each value once (1 given twice)\n"
    )
    with pytest.raises(InvalidInputError, match=r"each value once \('int4' given twice\)$"):
        advise("gpt2", Target(), SLO(), weights=["int4", "INT4"])


def test_a_rejection_for_memory_names_what_does_not_fit() -> None:
    """It said the weights and one request's KV cache do not fit where the weights (72.7 GB)
    and an 8,000-token prompt's unfused activations (16.5 GB) left the KV cache no room, and
    where two pipeline stages held one request of the two they need in flight."""

    def fp8_70b(**engine: str) -> pd.Series:
        advice = advise(
            "meta-llama/Llama-3.1-70B", Target(prompt_len=8000, output_len=1000, rate=2),
            SLO(ttft=5, tpot=0.06), devices=["h100-sxm"], tps=[1], pps=[1], weights=["fp8"],
            kv_bits=[16], **engine,
        )  # fmt: skip
        return advice.table.iloc[0]

    row = fp8_70b()
    assert row["binds"] == (
        "memory capacity: the weights (72.7 GB) and one prompt's activations (16.5 GB) leave "
        "no room for a KV cache"
    )
    # SGLang's static share holds the weights and KV cache alone: 0.835 of an H100 is less
    # than the weights, whatever the activations.
    assert fp8_70b(engine="sglang")["binds"] == (
        "memory capacity: the weights (72.7 GB) leave no room within the engine's memory share "
        "(0.835 of the device, for weights and KV cache)"
    )
    staged = advise(
        "meta-llama/Llama-3.1-70B", Target(prompt_len=7000, output_len=1000, rate=0.1),
        SLO(ttft=30, tpot=0.2), devices=["h100-sxm"], tps=[1], pps=[2], weights=["stored"],
        kv_bits=[16],
    )  # fmt: skip
    row = staged.table.iloc[0]
    assert row["max_batch_memory"] == 1
    assert row["binds"] == (
        "memory capacity: the KV cache holds 1 request, and 2 pipeline stages need 2 in flight"
    )


def test_one_token_answers_are_charged_no_decode_step() -> None:
    """A one-token answer's token is the prefill's: energy at the prefill's power for the
    load's share of prefill time and idle power otherwise (16.4 kJ per million tokens for
    FP8 Llama-3.1-8B on an L40S at 5 prompts/s of 1,000 tokens; a phantom decode step had
    given 18.2 kJ)."""
    advice = advise(LLAMA_8B, Target(prompt_len=1000, output_len=1, rate=5),
                    SLO(ttft=1, tpot=0.05), devices=["l40s"], tps=[1], weights=["fp8"],
                    kv_bits=[8])  # fmt: skip
    pick = advice.feasible.iloc[0]
    analysis = rooflens.analyze(LLAMA_8B, "l40s", prompt_len=1000, gen_len=1, w_bits=8,
                                a_bits=8, w_format="fp", kv_bits=8)  # fmt: skip
    figures = analysis.economics()
    share = 5 * float(analysis.steps["prefill"].step_time())
    device = rooflens.get_device("l40s")
    power = share * float(figures["prefill_power"]) + (1 - share) * 0.1 * device.tdp
    assert pick["energy_per_million"] == pytest.approx(power * 3600 / (5 * 1001 * 3600) * 1e6,
                                                       rel=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("engine", "way_in"), [("vllm", 0.0099), ("sglang", 0.0158), ("trtllm", 0.0)]
)
def test_the_screen_adds_the_engines_measured_time_per_request_to_ttft(engine, way_in) -> None:
    """At a load far below capacity a request waits for nothing but the running step: its
    screened TTFT is that step's share, its prefill and the engine's measured time on its
    serving path (vLLM's 9.9 ms and SGLang's 15.8 ms, docs/engines-measured.md; none measured
    for TensorRT-LLM), as the confirming simulation counts it."""
    target = Target(prompt_len=1000, output_len=200, rate=0.01)
    advice = advise(LLAMA_8B, target, SLO(ttft=5, tpot=0.2), devices=["h100-sxm"], tps=(1,),
                    pps=(1,), kv_bits=(16,), weights=("stored",), engine=engine)  # fmt: skip
    row = advice.table.iloc[0]
    assert row["feasible"]
    running = row["ttft"] - row["prefill_time"] - way_in
    # The running decode step of a batch of about one request: a few milliseconds.
    assert 0.0 < running < 0.01
