"""Fuzz the command line and the Python API with hypothesis: every command with argument
lists drawn from its real options (extreme and non-finite numbers, wrong types, conflicting
options, the malformed files of tests/data/fuzz/), every API entry with wrong-typed keywords.

Asserted of every run: no traceback, exit code 0 or 2 (1 is an internal error), `-f json`
output that `json.loads` reads and that holds no NaN or Infinity; the API raises only
`RooflensError` subclasses.

CI runs a bounded sample (a few dozen examples per test). Many more on demand:

    HYPOTHESIS_PROFILE=thorough python3 -m pytest tests/test_fuzz_cli.py -q   # 2000 per test
    FUZZ_EXAMPLES=5000 python3 -m pytest tests/test_fuzz_cli.py -q            # any count
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import rooflens
from rooflens.advisor.search import Target, advise
from rooflens.cli.app import app
from rooflens.core.errors import RooflensError
from rooflens.serving.config import SLO
from rooflens.serving.workload import Workload
from rooflens.settings import SETTING_NAMES, setting_kinds

CORPUS = Path(__file__).parent / "data" / "fuzz"


def _corpus(prefix: str) -> list[str]:
    return sorted(str(p) for p in CORPUS.glob(f"{prefix}_*"))


def _examples(ci: int) -> int:
    """`ci` examples by default; the thorough profile's count, or FUZZ_EXAMPLES, on demand."""
    if os.environ.get("FUZZ_EXAMPLES"):
        return int(os.environ["FUZZ_EXAMPLES"])
    if os.environ.get("HYPOTHESIS_PROFILE") == "thorough":
        return settings().max_examples
    return ci


def _fuzz(ci: int) -> settings:
    return settings(
        max_examples=_examples(ci),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# Values ---------------------------------------------------------------------
SMALL_MODELS = ["openai-community/gpt2", "Qwen/Qwen2.5-0.5B"]
MODELS = [*SMALL_MODELS, *_corpus("config"), "[/x]", "", "a" * 300, "no-org/no-such-model"]
DEVICES = ["a6000", "t4", "h100-sxm", *_corpus("device"), "no-such-device", "[red]x"]
NUMBERS = ["0", "-1", "1e-310", "1e308", "1e400", "inf", "-inf", "nan", "0.5", "2", "1e12", "x", ""]
INTS = ["0", "-1", "1", "2", "4", "7", "100", "99999999999999999999", "1.5", "x", ""]
SIZES = ["1", "4", "1,8", "1:8:x2", "64:256:+64", "1:0:x2", "0", "-3", "x", "1:10**9:+1", "nan"]
WORDS = [
    "", "int", "fp", "nf4", "mxfp4", "nvfp4", "tensor", "128", "rooflens", "llm-viewer",
    "h2o", "streaming", "auto", "none", "vllm", "sglang", "trtllm", "eager", "graph", "2:4",
    "[red]x", "1,2", "1:0:x2", "nan", "true", *_corpus("profile"),
]  # fmt: skip
LENGTHS = [
    "fixed:8", "uniform:4:16", "normal:8:2", "lognormal:8:0.5:32", "empirical:4,8", "fixed:1",
    "fixed:0", "fixed:-1", "uniform:9:2", "normal:nan:1", "fixed", "x:1",
]  # fmt: skip
FORMATS = ["table", "json", "csv", "yaml"]


def _out_paths(tmp: Path) -> list[str]:
    return [str(tmp / "p.png"), str(tmp / "p.svg"), str(tmp / "missing" / "p.png"), str(tmp),
            str(tmp / "p.txt"), str(tmp / "r.csv"), str(tmp / "r.html")]  # fmt: skip


def _option_values(tmp: Path) -> dict[str, list[str]]:
    """Candidate values of every non-setting option of the fuzzed commands, by flag."""
    out = _out_paths(tmp)
    return {
        "--hardware": DEVICES,
        "--batch": SIZES,
        "--prompt-len": SIZES,
        "--gen-len": [*INTS, "none"],
        "--images": INTS,
        "--stage": ["prefill", "decode", "all", "both"],
        "--draft": MODELS,
        "--gamma": INTS,
        "--alpha": NUMBERS,
        "--tree-width": INTS,
        "--hourly-price": NUMBERS,
        "--grid-intensity": NUMBERS,
        "--format": FORMATS,
        "--base": [
            "w_bits=4",
            "model=5",
            "prune_heads=abc",
            "hardware=5",
            "flash_attention=no",
            "tp=2",
            "batch=0",
            "gen_len=none",
            "x",
        ],
        "--vs": [
            "w_bits=4",
            "kv_bits=8",
            "flash_attention=true",
            "hardware=t4",
            "tp=0",
            "=",
            "model=openai-community/gpt2",
            "offload_kv=false",
            "link_latency=inf",
        ],
        "--context": SIZES,
        "--workload": [
            "prompt=100,output=20,rate=2",
            "prompt=0,output=1,rate=1",
            "rate=nan",
            "prompt=1e9",
            "x",
            "prompt=100,output=20,rate=inf",
        ],
        "--slo": ["ttft=1s", "ttft_p99=2s,tpot_p99=60ms", "tpot=0ms", "ttft=nan", "x=1", "ttft"],
        "--devices": ["a6000", "t4,l4", "nope", ""],
        "--hourly-prices": [
            "a6000=0.5",
            "t4=0.05,l4=0.1",
            "t4=0",
            "t4",
            "nope=1",
            "t4=1,,l4=2",
            "",
        ],
        "--rank": ["cost", "energy", "latency", "speed"],
        "--budget": NUMBERS,
        "--verify": ["0", "1", "-1", "x"],
        "--top": ["0", "1", "3", "-2"],
        "--plot": out,
        "-o": out,
        "--setting": ["a:w_bits=4", "b:kv_bits=8,tp=2", "x", "c:flash_attention=maybe", ":"],
        "--requests": ["1", "3", "5", "0", "-1", "x", "10000000000000"],
        "--rate": ["1", "10", "1e-310", "1e308", "inf", "nan", "0", "-1"],
        "--concurrency": ["1", "2", "0", "-1"],
        "--preset": ["vllm", "sglang", "trtllm", "tgi"],
        "--arrival": ["poisson", "gamma", "fixed", "burst"],
        "--cv": NUMBERS,
        "--prompt": LENGTHS,
        "--output": LENGTHS,
        "--shared-prefix": ["0", "4", "-1", "100000000"],
        "--seed": ["0", "1", "-1", "x"],
        "--trace": [*_corpus("trace"), str(tmp), str(tmp / "none.csv")],
        "--scheduler": ["static", "continuous", "chunked", "x"],
        "--max-batch": INTS,
        "--max-tokens": INTS,
        "--chunk-size": INTS,
        "--receive-interval": INTS,
        "--batch-wait-iterations": INTS,
        "--dp-balance-timeout": INTS,
        "--dp-balance-wait": INTS,
        "--batch-wait-ratio": ["0", "0.5", "1", "1.5", "-0.1", "nan", "x"],
        "--draft-tokens": ["0", "1", "3", "17", "-1", "x"],
        "--acceptance": ["0", "0.85", "1", "1.5", "-0.1", "nan", "x"],
        "--queue": ["fcfs", "spf", "lifo"],
        "--kv-layout": ["paged", "contiguous", "x"],
        "--block-size": INTS,
        "--max-len": INTS,
        "--preemption": ["recompute", "swap", "x"],
        "--replicas": ["1", "2", "0", "-1"],
        "--router": ["round_robin", "least_outstanding", "x"],
        "--prefill-replicas": ["1", "2", "0"],
        "--decode-replicas": ["1", "2", "0"],
        "--kv-link-bandwidth": NUMBERS,
        "--prefill-tp": ["1", "2", "0"],
        "--prefill-ep": ["1", "2", "0"],
        "--decode-tp": ["1", "2", "0"],
        "--decode-ep": ["1", "2", "0"],
        "--prefill-moe-tp": ["1", "2", "0"],
        "--decode-moe-tp": ["1", "2", "0"],
        "--requests-out": out,
        "--bandwidth": NUMBERS,
        "--memory": NUMBERS,
        "--tdp": NUMBERS,
        "--peak": ["bf16=989e12", "fp16=1e14", "fp16=inf", "fp16=nan", "x", "bf16=-1"],
        "--tp": [*INTS, "1,2"],
        "--pp": [*INTS, "1,2"],
        "--w-bits": [*INTS, "16,8,4"],
        "--weights": ["stored", "bf16,fp8", "int4,nvfp4", "fp9", "", ","],
        "--experts": ["tp", "tp,ep", "ep", "dp", ""],
        "--kv-bits": [*INTS, "16,8"],
        "--engine": ["vllm", "sglang", "trtllm", "x", ""],
    }


# Commands whose runs stay small; measure, calibrate and web run models, benchmarks or a server.
COMMANDS = {
    "analyze": ["analyze", "MODEL"],
    "memory": ["memory", "MODEL"],
    "sweep": ["sweep", "MODEL"],
    "models": ["models"],
    "hardware": ["hardware"],
    "compare": ["compare", "MODEL"],
    "speculate": ["speculate", "MODEL"],
    "advise": ["advise", "MODEL", "--devices", "a6000,l4", "--verify", "1", "--tp", "1,2"],
    "plot": ["plot", "KIND", "MODEL"],
    "report": ["report", "MODEL"],
    "simulate": [
        "simulate",
        "MODEL",
        "--requests",
        "4",
        "--prompt",
        "fixed:64",
        "--output",
        "fixed:8",
    ],
}
PLOT_KINDS = ["roofline", "batch", "sequence", "memory", "operators", "pie"]


def _options(name: str) -> list[Any]:
    """The options of command `name` as its parser declares them (typer vendors click, so
    they are read by their attributes, not their class)."""
    group = typer.main.get_command(app)
    ctx = group.make_context("rooflens", [name], resilient_parsing=True)
    command = group.get_command(ctx, name)
    if hasattr(command, "commands"):  # `plot`: its subcommands share their options
        command = command.get_command(ctx, "batch")
    return [p for p in command.params if p.param_type_name == "option"]


def _setting_values(name: str) -> list[str]:
    kinds = setting_kinds(name)
    if int in kinds and bool not in kinds:
        return INTS
    if float in kinds:
        return NUMBERS
    return WORDS


@st.composite
def _command_line(draw: st.DrawFn, tmp: Path) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    values = _option_values(tmp)
    args = []
    for word in COMMANDS[name]:
        if word == "MODEL":
            args.append(draw(st.sampled_from(SMALL_MODELS) | st.sampled_from(MODELS)))
        elif word == "KIND":
            args.append(draw(st.sampled_from(PLOT_KINDS)))
        else:
            args.append(word)
    if name in ("analyze", "memory", "sweep", "compare", "speculate", "plot", "report", "simulate"):
        args += ["-H", draw(st.sampled_from(["a6000", "t4", "h100-sxm"]))]
    if name == "hardware" and draw(st.booleans()):
        args.append(draw(st.sampled_from(DEVICES)))
    if name in ("plot", "report"):
        args += ["-o", str(tmp / ("p.png" if name == "plot" else "r.html"))]
    options = _options(name)
    for option in draw(st.lists(st.sampled_from(options), max_size=6)) if options else []:
        flag = option.opts[0]
        if option.is_flag:
            args.append(draw(st.sampled_from([*option.opts, *option.secondary_opts])))
        elif option.name in SETTING_NAMES:
            args += [flag, draw(st.sampled_from(_setting_values(option.name)))]
        elif flag != "--help":
            args += [flag, draw(st.sampled_from(values[flag]))]
    if draw(st.booleans()) and any(o.opts[0] == "--format" for o in options):
        args += ["-f", "json"]
    return args


def _no_nan(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"JSON holds {constant}")

    return json.loads(text, parse_constant=refuse)


def _format(args: list[str]) -> str | None:
    """The output format a command line asks for: its last -f/--format wins."""
    given = [v for flag, v in itertools.pairwise(args) if flag in ("-f", "--format")]
    return given[-1] if given else None


def check_cli(args: list[str]) -> None:
    """The properties every command line must have, whatever its arguments."""
    res = CliRunner().invoke(app, args)
    where = f"rooflens {' '.join(args)}\n{res.output[-2000:]}"
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"{type(res.exception).__name__}: {res.exception}\n{where}")
    assert res.exit_code in (0, 2), where
    assert "Traceback" not in res.output, where
    if res.exit_code == 2:
        assert res.stdout == "" or res.stdout.endswith("\n"), where
    elif _format(args) == "json":
        try:
            _no_nan(res.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout is not JSON ({exc})\n{where}") from None


def test_every_fuzzed_option_has_values(tmp_path) -> None:
    values = _option_values(tmp_path)
    assert len(_options("analyze")) > len(SETTING_NAMES)  # the options are really read
    for name in COMMANDS:
        for option in _options(name):
            flag = option.opts[0]
            known = option.is_flag or option.name in SETTING_NAMES or flag in values
            assert known or flag == "--help", f"{name} {flag} has no fuzz values"


@_fuzz(ci=40)
@given(data=st.data())
def test_cli_never_crashes(tmp_path, data) -> None:
    check_cli(data.draw(_command_line(tmp_path)))


@pytest.mark.parametrize("config", _corpus("config"))
def test_malformed_configs_are_one_line(config: str) -> None:
    check_cli(["analyze", config, "-H", "a6000"])


@pytest.mark.parametrize("device", _corpus("device"))
def test_malformed_devices_are_one_line(device: str) -> None:
    check_cli(["analyze", "openai-community/gpt2", "-H", device, "-f", "json"])


@pytest.mark.parametrize("trace", _corpus("trace"))
def test_malformed_traces_are_one_line(trace: str) -> None:
    check_cli(["simulate", "openai-community/gpt2", "-H", "a6000", "--trace", trace, "-f", "json"])


@pytest.mark.parametrize("profile", _corpus("profile"))
def test_malformed_profiles_are_one_line(profile: str) -> None:
    check_cli(["analyze", "openai-community/gpt2", "-H", "a6000", "--calibration", profile])


# The Python API ---------------------------------------------------------------------
WRONG = [
    0, -1, 1, 4, 1.5, 10**30, True, False, None, "4", "false", "", "x", math.nan, math.inf,
    -math.inf, [], [1, 0], {}, (2,), np.int64(2), np.float64("nan"), np.array([1, 2]), object(),
]  # fmt: skip
KEYWORDS = [*SETTING_NAMES, "batch", "prompt_len", "gen_len", "images", "bogus"]


@st.composite
def _keywords(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    return {name: draw(st.sampled_from(WRONG)) for name in chosen}


def _typed(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except RooflensError:
        return None


@_fuzz(ci=40)
@given(
    model=st.sampled_from([*SMALL_MODELS, *_corpus("config"), 5, None]),
    hardware=st.sampled_from(["a6000", "t4", *_corpus("device"), 3.5]),
    keywords=_keywords(KEYWORDS),
)
def test_analyze_and_sweep_raise_typed_errors(model, hardware, keywords) -> None:
    result = _typed(rooflens.analyze, model, hardware, **keywords)
    # Sizes given as sequences make a sweep, whose to_dict() refuses with a typed error.
    data = None if result is None else _typed(result.to_dict)
    if data is not None:
        from rooflens.cli.format import to_json

        _no_nan(to_json(data))
    sizes = {k: keywords.pop(k) for k in ("batch", "prompt_len", "gen_len") if k in keywords}
    keywords.pop("images", None)
    _typed(rooflens.sweep, model, hardware, **sizes, **keywords)


SERVING_KEYWORDS = [*SETTING_NAMES, "concurrency", "preset", "bogus"]


@_fuzz(ci=25)
@given(
    workload=st.sampled_from(
        [Workload(requests=3), Workload(requests=2).at_rate(1e-300), *_corpus("trace"), 5, "x"]
    ),
    keywords=_keywords(SERVING_KEYWORDS),
    slo=st.sampled_from([None, SLO(ttft=1.0), "ttft=1s", 3]),
)
def test_simulate_and_capacity_raise_typed_errors(workload, keywords, slo) -> None:
    _typed(rooflens.simulate, "openai-community/gpt2", "a6000", workload, slo=slo, **keywords)
    keywords.pop("concurrency", None)
    _typed(rooflens.capacity, "openai-community/gpt2", "a6000", workload, slo, **keywords)


@_fuzz(ci=25)
@given(
    gamma=st.sampled_from(WRONG),
    alpha=st.sampled_from(WRONG),
    keywords=_keywords(["tree_width", "batch", "context", "medusa_heads", "mtp", "draft", "tp"]),
)
def test_speculate_raises_typed_errors(gamma, alpha, keywords) -> None:
    _typed(rooflens.speculate, "Qwen/Qwen2.5-0.5B", "a6000", gamma=gamma, alpha=alpha, **keywords)


@_fuzz(ci=15)
@given(
    keywords=_keywords(["devices", "tps", "weights", "kv_bits", "pps", "rank", "budget", "engine"]),
    slo=st.sampled_from([SLO(ttft=2.0), None, "x"]),
)
def test_advise_raises_typed_errors(keywords, slo) -> None:
    if "devices" not in keywords:
        keywords["devices"] = ["a6000"]
    target = Target(prompt_len=100, output_len=20, rate=1.0)
    _typed(advise, "openai-community/gpt2", target, slo, **keywords)
