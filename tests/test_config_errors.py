"""Settings built by hand (SLO, Target, SchedulerConfig, ClusterConfig; AnalysisOptions and its
parts, workloads) refuse a bad
value with InvalidInputError naming the field, the value and what is accepted, as the rest of
the API does, not with pydantic's ValidationError; the command line's and the web's own
validation of the same models keep their messages."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from rooflens import InvalidInputError, RooflensError
from rooflens.core import AnalysisOptions, Quantization
from rooflens.core.options import Parallelism
from rooflens.serving.config import (
    SLO,
    ClusterConfig,
    SchedulerConfig,
    Target,
    build,
    parse_slo,
)
from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Requests, Workload

BAD: list[tuple[type, dict[str, Any], str, str, str]] = [
    # model, keywords, field named, value shown, what is accepted
    (SLO, {"ttft": -1.0}, "ttft", "-1.0", "a number in (0, 100000]"),
    (SLO, {"tpot": math.nan}, "tpot", "nan", "a number in (0, 1000]"),
    (SLO, {"percentile": math.inf}, "percentile", "inf", "a number in (0, 100]"),
    (SLO, {"percentile": "high"}, "percentile", "'high'", "a number in (0, 100]"),
    (SLO, {"ttft": [1.0]}, "ttft", "[1.0]", "a number in (0, 100000]"),
    # An unknown keyword: the nearest known ones first, then every one.
    (SLO, {"ttfft": 1.0}, "ttfft", "1.0", "a known setting (did you mean ttft?): ttft, tpot, "),
    (Target, {"rate": -5}, "rate", "-5", "a number in (0, 1e+09]"),
    (Target, {"prompt_len": 1.5}, "prompt_len", "1.5", "an integer in [1, 2097152]"),
    (Target, {"output_len": "many"}, "output_len", "'many'", "an integer in [1, 2097152]"),
    (Target, {"qps": 3}, "qps", "3", "a known setting: prompt_len, output_len, rate"),
    (SchedulerConfig, {"max_batch": 0}, "max_batch", "0", "an integer in [1, 1000000]"),
    (SchedulerConfig, {"max_batch": -3}, "max_batch", "-3", "an integer in [1, 1000000]"),
    (SchedulerConfig, {"policy": "dynamic"}, "policy", "'dynamic'", "one of static, continuous"),
    (SchedulerConfig, {"chunk_size": "big"}, "chunk_size", "'big'", "(or empty)"),
    (SchedulerConfig, {"batch_wait_ratio": math.nan}, "batch_wait_ratio", "nan", "in [0, 1]"),
    (SchedulerConfig, {"overlap": "maybe"}, "overlap", "'maybe'", "true or false"),
    # A whole float is no integer by hand either (8.0 passed as 8), as the command line and
    # the web refuse it; "expected" once.
    (SchedulerConfig, {"max_batch": 8.0}, "max_batch", "8.0", "expected an integer"),
    (ClusterConfig, {"replicas": 2.0}, "replicas", "2.0", "expected an integer"),
    (Workload, {"requests": 10.0}, "requests", "10.0", "expected an integer"),
    (Workload, {"seed": True}, "seed", "True", "expected an integer, not true or false"),
    (
        SchedulerConfig,
        {"max_batches": 8},
        "max_batches",
        "8",
        "a known setting (did you mean max_batch or max_tokens?): policy, ",
    ),
    # Text is no number by hand (pydantic's lax mode read '8' as 8), as analyze(batch='2')
    # refuses it; text that is no number says the declaration's range.
    (SchedulerConfig, {"max_batch": "8"}, "max_batch", "'8'", "an integer, not text"),
    (SchedulerConfig, {"batch_wait_ratio": "0.5"}, "batch_wait_ratio", "'0.5'", "a number, not"),
    (ClusterConfig, {"replicas": "2"}, "replicas", "'2'", "an integer, not text"),
    (SLO, {"ttft": "1"}, "ttft", "'1'", "a number, not text"),
    (Target, {"rate": " 5 "}, "rate", "' 5 '", "a number, not text"),
    (
        SchedulerConfig,
        {"policy": "static", "draft_tokens": 1},
        "draft_tokens",
        "1",
        "0 with policy=static",
    ),
    (SchedulerConfig, {"acceptance": 0.7}, "acceptance", "0.7", "left out without draft_tokens"),
    (ClusterConfig, {"replicas": -1}, "replicas", "-1", "an integer in [1, 1024]"),
    (ClusterConfig, {"router": "random"}, "router", "'random'", "round_robin, least_outstanding"),
    (ClusterConfig, {"decode_tp": 2}, "decode_tp", "2", "empty unless disaggregated"),
    (
        ClusterConfig,
        {"disaggregated": True, "kv_link_bandwidth": math.nan},
        "kv_link_bandwidth",
        "nan",
        "a number in [1000000, 1e+16] (or empty)",
    ),
]


@pytest.mark.parametrize(
    ("model", "keywords", "field", "shown", "accepts"),
    BAD,
    ids=[f"{m.__name__}-{f}-{s}" for m, _, f, s, _ in BAD],
)
def test_a_hand_built_setting_refuses_a_bad_value_with_the_typed_error(
    model: type, keywords: dict[str, Any], field: str, shown: str, accepts: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        model(**keywords)
    error = info.value
    assert type(error) is InvalidInputError
    assert not isinstance(error, ValidationError)
    assert isinstance(error, RooflensError) and isinstance(error, ValueError)
    assert error.field == field
    message = str(error)
    assert message.startswith(f"{field}={shown} is invalid: expected ")
    assert accepts in message and "expected expected" not in message
    assert "\n" not in message  # one line
    assert "pydantic" not in message and "validation error" not in message
    # No ValidationError behind it.
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None)


def test_the_value_is_named_as_given_and_kept_on_the_error() -> None:
    with pytest.raises(InvalidInputError) as info:
        SLO(ttft=0.5, tpot=-0.25)
    assert (info.value.field, info.value.value) == ("tpot", -0.25)
    assert str(info.value) == "tpot=-0.25 is invalid: expected a number in (0, 1000]"


def test_a_positional_value_is_refused_with_the_keywords_accepted() -> None:
    with pytest.raises(InvalidInputError) as info:
        SLO(1.0)
    assert (
        str(info.value) == "SLO=1.0 is invalid: expected keyword arguments: ttft, tpot, percentile"
    )
    with pytest.raises(InvalidInputError, match=r"^Target=\(1000, 300\) is invalid"):
        Target(1000, 300)


def test_good_values_still_build_and_word_choices_read_in_any_case() -> None:
    assert SLO(ttft=2, tpot=0.06).ttft == 2.0
    # The length forms as text or a count, and a distribution's own fields as a dict.
    assert Workload(prompt="uniform:10:20", output=64).output.longest == 64
    assert Workload(prompt={"kind": "fixed", "a": 128}).prompt.longest == 128
    assert SchedulerConfig(policy="chunked", chunk_size=None).chunk == 8192
    assert Target(prompt_len=100, output_len=10, rate=1).rate == 1.0
    assert SchedulerConfig(policy="Chunked", queue="SPF").policy == "chunked"
    assert SchedulerConfig(draft_tokens=2, acceptance=0.7).acceptance == 0.7
    assert ClusterConfig(router="Round_Robin").router == "round_robin"
    # The fields set by the caller are still those given (presets read them).
    assert SchedulerConfig(max_tokens=4096).model_fields_set == {"max_tokens"}


def test_validation_outside_the_constructor_keeps_pydantics_errors() -> None:
    """model_validate (the web's request bodies validate these models nested) is not reworded:
    the web formats pydantic's errors itself."""
    with pytest.raises(ValidationError):
        SLO.model_validate({"ttft": -1})
    assert not SLO.__pydantic_custom_init__
    assert not SchedulerConfig.__pydantic_custom_init__


def test_the_command_lines_build_names_flags_as_before() -> None:
    with pytest.raises(InvalidInputError) as info:
        build(SchedulerConfig, "--scheduler", flags=True, policy="dynamic")
    # The policy's option is --scheduler (its `flag`), as typed.
    assert info.value.field == "scheduler"
    assert str(info.value) == (
        "scheduler='dynamic' is invalid: expected one of static, continuous, chunked"
    )
    with pytest.raises(InvalidInputError) as info:
        build(SLO, "--slo", ttft=-1.0)
    assert str(info.value) == "ttft=-1.0 is invalid: expected a positive number"
    with pytest.raises(InvalidInputError, match=r"^--slo ttft='-1s' is invalid"):
        parse_slo("ttft=-1s")


CORE_BAD: list[tuple[Any, str]] = [
    # A construction by hand, and the one line it is refused with.
    (lambda: Workload(requests="5"), "requests='5' is invalid: expected an integer, not text"),
    (lambda: ArrivalProcess(rate="2"), "rate='2' is invalid: expected a number, not text"),
    # A length of another type names the forms a length takes, not pydantic's "a valid
    # dictionary or instance of LengthDistribution".
    (
        lambda: Workload(prompt=5.5),
        "prompt=5.5 is invalid: expected N (fixed), fixed:N, uniform:LOW:HIGH, "
        "normal:MEAN:STD[:MAX], lognormal:MEDIAN:SIGMA[:MAX] or empirical:N,N,..., or a "
        "LengthDistribution",
    ),
    (lambda: Workload(output=[300]), "output=[300] is invalid: expected N (fixed), fixed:N"),
    (
        lambda: Workload(requests=-1),
        "requests=-1 is invalid: expected an integer of at least 1",
    ),
    (lambda: ArrivalProcess(rate=-2), "rate=-2 is invalid: expected a positive number"),
    (
        lambda: LengthDistribution(kind="zz"),
        "kind='zz' is invalid: expected one of fixed, uniform, normal, lognormal, empirical",
    ),
    (lambda: Quantization(kv_bits=5), "kv_bits=5 is invalid: expected one of 32, 16, 8, 4, 3"),
    (lambda: Parallelism(tp=0), "tp=0 is invalid: expected a positive integer"),
    # Inside a nested description: its own field by its path.
    (
        lambda: AnalysisOptions(quantization={"kv_bits": 5}),
        "quantization.kv_bits=5 is invalid: expected one of 32, 16, 8, 4, 3, 2, 1",
    ),
    (
        lambda: AnalysisOptions(parallelism={"pp": 2, "foo": 1}),
        "parallelism.foo=1 is invalid: expected a known setting of parallelism: tp, ep, moe_tp,",
    ),
    # A misspelt one names its nearest settings first.
    (
        lambda: AnalysisOptions(parallelism={"tpp": 2}),
        "parallelism.tpp=2 is invalid: expected a known setting of parallelism (did you mean tp "
        "or pp?): tp, ep,",
    ),
    (
        lambda: AnalysisOptions(w_bits=4),
        "w_bits=4 is invalid: expected a known setting: quantization",
    ),
]


@pytest.mark.parametrize(("build_it", "line"), CORE_BAD)
def test_the_analysis_and_workload_descriptions_built_by_hand_refuse_in_one_typed_line(
    build_it, line
) -> None:
    """AnalysisOptions, Quantization, Parallelism, Workload, ArrivalProcess and
    LengthDistribution had raised pydantic's ValidationError (a multi-line message with a
    link) when built by hand."""
    with pytest.raises(InvalidInputError) as caught:
        build_it()
    assert str(caught.value).startswith(line)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and (
        caught.value.__suppress_context__ or caught.value.__context__ is None
    )


def test_a_length_forms_rule_survives_the_typed_constructor() -> None:
    """LengthDistribution.parse validates as pydantic reports it, so a known form with numbers
    its rules refuse still says the rule (the constructor's typed error would have lost it)."""
    with pytest.raises(InvalidInputError, match=r"MAX a whole number of tokens"):
        LengthDistribution.parse("prompt", "normal:500:10:3072.5")
    with pytest.raises(InvalidInputError, match=r"its lengths above 0"):
        LengthDistribution.parse("prompt", "uniform:0:10")


@pytest.mark.parametrize(
    ("build_it", "line"),
    [
        # A validator's own refusal, said once (it had been wrapped in a second one).
        (
            lambda: Workload(prompt="uniform:1024:256"),
            "prompt='uniform:1024:256' is invalid: expected N (fixed)",
        ),
        # Every branch of a union: w_scale takes a word or a block size.
        (
            lambda: Quantization(w_scale=0),
            "w_scale=0 is invalid: expected channel or tensor or a positive integer",
        ),
        # A nested description's missing field, named by its path.
        (
            lambda: AnalysisOptions(calibration={"x": 1}),
            "calibration.device is missing: expected a value",
        ),
        # A rule across fields names the one given.
        (
            lambda: Quantization(w_format="nvfp4"),
            "w_format='nvfp4' is invalid: expected w_format='nvfp4' stores",
        ),
        # pydantic's lax mode would take these as another type.
        (lambda: Parallelism(tp=True), "tp=True is invalid: expected an integer"),
        (lambda: SLO(ttft=True), "ttft=True is invalid: expected a number"),
        (
            lambda: SchedulerConfig(kv_groups="yes"),
            "kv_groups='yes' is invalid: expected true or false",
        ),
        # Infinite bounds of an analysis (a link latency of inf had put NaN in the JSON).
        (
            lambda: Parallelism(tp=2, link_latency=math.inf),
            "link_latency=inf is invalid: expected a finite number",
        ),
        (
            lambda: Requests([0, 1], [5], [3, 3]),
            "requests='2, 1 and 2' is invalid: expected as many arrival times",
        ),
        # A model inside a tuple of pairs: its own field, by its path.
        (
            lambda: AnalysisOptions(module_quantization=(("q_proj", {"w_bitz": 4}),)),
            "module_quantization.0.1.w_bitz=4 is invalid: expected a known setting of "
            "module_quantization (did you mean w_bits, a_bits or kv_bits?): w_bits,",
        ),
        (
            lambda: AnalysisOptions(module_quantization=(("q_proj", {"w_bits": 5}),)),
            "module_quantization.0.1.w_bits=5 is invalid: expected one of 32, 16, 8, 4, 3, 2, 1",
        ),
        # A boolean where a word or a block size is wanted.
        (
            lambda: Quantization(w_scale=True),
            "w_scale=True is invalid: expected an integer or a word",
        ),
    ],
)
def test_refusals_say_the_field_once_in_the_users_terms(build_it, line) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_it()
    assert str(caught.value).startswith(line)
    assert str(caught.value).count("expected") == 1


def test_a_rule_across_a_models_fields_names_the_field_not_the_whole_model() -> None:
    """A hand-built ModelSpec breaking a rule across its fields: the field its rule names, not
    the model's every value (a 404-character line for Llama-3.1-8B)."""
    from rooflens.core.model import ModelSpec
    from rooflens.models.catalog import load_model

    given = load_model("meta-llama/Llama-3.1-8B").model_dump(exclude_defaults=True)
    with pytest.raises(InvalidInputError) as caught:
        ModelSpec(**(given | {"dense_layers": 99}))
    assert caught.value.field == "dense_layers" and caught.value.value == 99
    assert len(str(caught.value)) < 120


def test_a_refusal_crosses_a_process_boundary() -> None:
    """A worker's InvalidInputError reaches its parent whole (it could not be unpickled)."""
    import pickle

    error = pickle.loads(pickle.dumps(InvalidInputError("tp", 0, "a value greater than 0")))
    assert (error.field, error.value, error.accepted) == ("tp", 0, "a value greater than 0")
    assert str(error) == "tp=0 is invalid: expected a value greater than 0"


def test_a_declared_signature_shows_its_keywords_alone() -> None:
    """help() and editors read the fields as keywords (the constructor's *args, kept to
    refuse a positional value, had shown first)."""
    import inspect

    for model in (SLO, SchedulerConfig, AnalysisOptions, Workload):
        kinds = {p.kind for p in inspect.signature(model).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, model.__name__
