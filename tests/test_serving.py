"""Serving simulator: invariants, the analyzer at zero load, and the orderings the papers report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import rooflens
import rooflens.core.graph
from rooflens.core import AnalysisOptions
from rooflens.core.errors import InvalidInputError
from rooflens.core.options import Parallelism
from rooflens.hardware.catalog import get_device
from rooflens.serving import (
    SLO,
    ArrivalProcess,
    ClusterConfig,
    LengthDistribution,
    Requests,
    SchedulerConfig,
    Workload,
    load_trace,
    run,
)
from rooflens.serving.workload import TRACE_COLUMNS

LLAMA = "meta-llama/Llama-2-7b-hf"


def _requests(arrival, prompt, output, prefix: int = 0) -> Requests:
    return Requests(
        np.asarray(arrival, dtype=float),
        np.asarray(prompt, dtype=np.int64),
        np.asarray(output, dtype=np.int64),
        prefix,
    )


# -- workloads -----------------------------------------------------------------------------------


def test_workloads_are_seeded_and_follow_their_distributions() -> None:
    w = Workload(
        requests=4000,
        arrivals=ArrivalProcess(kind="poisson", rate=8.0),
        prompt=LengthDistribution(kind="uniform", a=100, b=200),
        output=LengthDistribution(kind="lognormal", a=50, b=0.5),
        seed=3,
    )
    a, b = w.draw(), w.draw()
    np.testing.assert_array_equal(a.arrival, b.arrival)
    assert a.prompt.min() >= 100 and a.prompt.max() <= 200
    assert np.median(a.output) == pytest.approx(50, rel=0.05)
    # 4000 Poisson arrivals at 8/s span about 500 s.
    assert a.duration == pytest.approx(500, rel=0.05)
    fixed = Workload(requests=5, arrivals=ArrivalProcess(kind="fixed", rate=2.0)).draw()
    np.testing.assert_allclose(fixed.arrival, [0, 0.5, 1.0, 1.5, 2.0])
    bursty = Workload(requests=4000, arrivals=ArrivalProcess(kind="gamma", rate=1.0, cv=3.0))
    gaps = np.diff(bursty.draw().arrival)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(3.0, rel=0.15)


def test_length_strings_parse_and_bad_ones_name_the_field() -> None:
    assert LengthDistribution.parse("prompt", "normal:512:64").b == 64
    empirical = LengthDistribution.parse("output", "empirical:10,20,30")
    assert set(empirical.sample(np.random.default_rng(0), 50)) <= {10, 20, 30}
    with pytest.raises(InvalidInputError, match="prompt='gauss:3'"):
        LengthDistribution.parse("prompt", "gauss:3")
    # A bare count is a fixed length; a bare non-count is refused like any other form.
    assert LengthDistribution.parse("prompt", "1024") == LengthDistribution(kind="fixed", a=1024)
    for bad in ("0", "-5", "1e3", "10.5"):
        with pytest.raises(InvalidInputError, match="N \\(fixed\\)"):
            LengthDistribution.parse("prompt", bad)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # fixed:0.4 drew 1-token prompts; uniform:2.5:3.2 drew 2, 3 and 4 (outside its range).
        ("fixed:0.4", "fixed needs whole numbers of tokens"),
        ("uniform:2.5:3.2", "uniform needs whole numbers of tokens"),
        ("uniform:2:3.5", "uniform needs whole numbers of tokens"),
        # A MAX of 3072.5 was cut to 3072; an infinite one crashed (OverflowError).
        ("lognormal:512:0.8:3072.5", "MAX a whole number of tokens"),
        ("normal:100:10:150.5", "MAX a whole number of tokens"),
        ("lognormal:512:0.8:inf", "finite numbers"),
        ("lognormal:512:0.8:1e40", "its lengths at most 1,099,511,627,776 tokens"),
    ],
)
def test_synthetic_lengths_are_whole_numbers_of_tokens(text: str, rule: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        LengthDistribution.parse("--prompt", text)
    assert str(refused.value).startswith(f"--prompt='{text}' is invalid: expected N (fixed)")
    assert str(refused.value).endswith(f"({rule})")
    with pytest.raises(ValueError, match=f"prompt='{text}' is invalid"):
        Workload(prompt=text)


def test_real_medians_and_spreads_stay_and_whole_lengths_are_taken_written_as_reals() -> None:
    assert LengthDistribution.parse("prompt", "lognormal:512.5:0.8:3072").a == 512.5
    assert LengthDistribution.parse("prompt", "normal:100.5:10.2:150").maximum == 150
    assert LengthDistribution.parse("prompt", "fixed:512.0") == LengthDistribution(a=512)
    draws = Workload(prompt="uniform:2:3", requests=200).draw().prompt
    assert set(draws.tolist()) == {2, 3}
    with pytest.raises(ValueError, match="uniform needs whole numbers of tokens"):
        LengthDistribution(kind="uniform", a=2.5, b=3.2)


def test_traces_load_from_csv_and_jsonl(tmp_path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("timestamp,input_len,output_len\n5.0,100,20\n2.0,50,10\n")
    requests = load_trace(csv)
    np.testing.assert_array_equal(requests.arrival, [0.0, 3.0])
    np.testing.assert_array_equal(requests.prompt, [50, 100])
    jsonl = tmp_path / "t.jsonl"
    rows = [{"arrival_time": 0.1, "prompt_len": 7, "output_len": 3}]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    assert load_trace(jsonl).prompt.tolist() == [7]
    (tmp_path / "bad.csv").write_text("when,prompt_len,output_len\n1,2,3\n")
    with pytest.raises(InvalidInputError, match="arrival_time"):
        load_trace(tmp_path / "bad.csv")


def test_a_trace_without_a_column_names_every_spelling_it_takes(tmp_path) -> None:
    """The alternatives in words (a tuple's repr had been printed), each of them read, and
    docs/serving.md lists them all."""
    (tmp_path / "t.csv").write_text("arrival,input_tokens,answer\n0,5,2\n")
    with pytest.raises(InvalidInputError) as info:
        load_trace(tmp_path / "t.csv")
    assert info.value.accepted == (
        "a column output_len, output_tokens or completion_tokens"
        " (or a Mooncake, Azure or BurstGPT trace's columns)"
    )
    (tmp_path / "t.csv").write_text("arrival,input_tokens,completion_tokens\n0,5,2\n")
    assert load_trace(tmp_path / "t.csv").output.tolist() == [2]
    documented = (Path(__file__).parents[1] / "docs" / "serving.md").read_text("utf-8")
    trace = documented[documented.index("`--trace file.csv|file.jsonl`") :][:700]
    for names in TRACE_COLUMNS.values():
        assert all(f"`{name}`" in trace for name in names), names


def test_public_traces_are_read_as_published(tmp_path) -> None:
    """Mooncake's JSONL (arrivals in ms, as its README and Dynamo's say), Azure's CSV (clock
    times) and BurstGPT's CSV (seconds) each give arrivals in seconds from the first and
    their lengths; their other columns are not read."""
    mooncake = tmp_path / "mooncake.jsonl"
    rows = [
        {"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1]},
        {"timestamp": 3052, "input_length": 2287, "output_length": 316, "hash_ids": [0, 2]},
        {"timestamp": 1500, "input_length": 100, "output_length": 7, "hash_ids": [3]},
    ]
    mooncake.write_text("\n".join(json.dumps(r) for r in rows))
    read = load_trace(mooncake)
    np.testing.assert_allclose(read.arrival, [0.0, 1.5, 3.052])
    # An excerpt from later in a trace (every value past a year in seconds, as ms from 8.8
    # h on): pandas had read the column as dates, the gaps a million times too long.
    late = tmp_path / "late.jsonl"
    late.write_text("\n".join(json.dumps({**r, "timestamp": r["timestamp"] + 40_000_000})
                              for r in rows))  # fmt: skip
    np.testing.assert_allclose(load_trace(late).arrival, [0.0, 1.5, 3.052])
    own = tmp_path / "own.jsonl"
    own.write_text("\n".join(json.dumps({"arrival_time": 4e7 + t, "prompt_len": 5,
                                         "output_len": 2}) for t in (0, 1)))  # fmt: skip
    np.testing.assert_allclose(load_trace(own).arrival, [0.0, 1.0])
    assert read.prompt.tolist() == [6755, 100, 2287] and read.output.tolist() == [500, 7, 316]

    azure = tmp_path / "azure.csv"
    azure.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
        "2023-11-16 18:15:51.0000000,879,2\n"
    )
    read = load_trace(azure)
    np.testing.assert_allclose(read.arrival, [0.0, 4.314579, 4.31941], atol=1e-6)
    assert read.prompt.tolist() == [374, 396, 879] and read.output.tolist() == [44, 109, 2]

    burst = tmp_path / "burst.csv"
    burst.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,231,1318,API log\n"
    )
    read = load_trace(burst)
    np.testing.assert_allclose(read.arrival, [0.0, 40.0])
    assert read.prompt.tolist() == [472, 1087] and read.output.tolist() == [18, 231]


def test_public_trace_edge_cases(tmp_path) -> None:
    """Azure clock times at different offsets are instants (a mix had raised pandas'
    ValueError); a number where Azure has clock times, JSON's true as a length, a length over
    the bound, and a format's missing column are each refused naming what is wrong; the
    suffix is read in any case and a byte-order mark is no part of a JSONL's text."""
    azure = tmp_path / "azure.csv"
    azure.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46+00:00,100,10\n2023-11-16 19:15:47+01:00,200,10\n"
    )
    np.testing.assert_allclose(load_trace(azure).arrival, [0.0, 1.0])
    azure.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,1\n11/16/2023 10:00,1,1\n"
    )
    with pytest.raises(InvalidInputError) as info:
        load_trace(azure)  # a date in an order of its own is no guess
    assert info.value.accepted.endswith("(row 2: '11/16/2023 10:00')")
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n1,100,10\n2,200,10\n")
    with pytest.raises(InvalidInputError) as info:
        load_trace(azure)
    assert info.value.accepted == "a clock time for TIMESTAMP in every row (row 1: 1)"

    def refused(name: str, rows: list[dict]) -> str:
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(r) for r in rows))
        with pytest.raises(InvalidInputError) as info:
            load_trace(path)
        return info.value.accepted

    moon = {"timestamp": 0, "input_length": 10, "output_length": 2}
    assert refused("a.jsonl", [{**moon, "input_length": True}]) == (
        "a number for input_length in every row (row 1: True)"
    )
    assert refused("b.jsonl", [{**moon, "input_length": 1e30}]) == (
        "input_length at most 1,099,511,627,776 tokens (row 1: 1e+30)"
    )
    assert refused("c.jsonl", [{"timestamp": 0, "input_length": 10}]) == (
        "a column output_length (a Mooncake trace's timestamp, input_length and output_length)"
    )
    burst = tmp_path / "burst.CSV"
    burst.write_text("Timestamp,Request tokens\n5,472\n")
    with pytest.raises(InvalidInputError) as info:
        load_trace(burst)
    assert info.value.accepted.startswith("a column Response tokens (a BurstGPT trace's")
    upper = tmp_path / "t.JSONL"
    upper.write_bytes(b"\xef\xbb\xbf" + json.dumps(moon).encode())
    assert load_trace(upper).prompt.tolist() == [10]


def test_a_public_trace_bad_row_names_its_own_column(tmp_path) -> None:
    """BurstGPT records a failed request with 0 response tokens: refused at its row and
    column, not dropped silently; an Azure clock time that is none is named too."""
    burst = tmp_path / "burst.csv"
    burst.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n6,ChatGPT,300,0,300,Conversation log\n"
    )
    with pytest.raises(InvalidInputError) as info:
        load_trace(burst)
    assert info.value.accepted == "Response tokens a positive whole number (row 2: 0)"
    azure = tmp_path / "azure.csv"
    azure.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,44\nsoon,396,109\n"
    )
    with pytest.raises(InvalidInputError) as info:
        load_trace(azure)
    assert info.value.accepted == "a clock time for TIMESTAMP in every row (row 2: 'soon')"


# -- invariants ----------------------------------------------------------------------------------

SCHEDULERS = st.builds(
    SchedulerConfig,
    policy=st.sampled_from(["static", "continuous", "chunked"]),
    max_batch=st.integers(1, 8),
    max_tokens=st.sampled_from([64, 256]),
    chunk_size=st.sampled_from([None, 16]),
    queue=st.sampled_from(["fcfs", "spf"]),
    kv_layout=st.sampled_from(["paged", "contiguous"]),
    block_size=st.sampled_from([1, 16]),
    max_len=st.just(120),
    preemption=st.sampled_from(["recompute", "swap"]),
    prefix_sharing=st.booleans(),
).map(
    # Static batching runs prompts whole: a chunk size beside it is refused (simulate.prepare).
    lambda s: s.model_copy(update={"chunk_size": None}) if s.policy == "static" else s
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheduler=SCHEDULERS,
    prompts=st.lists(st.integers(1, 60), min_size=1, max_size=12),
    outputs=st.data(),
    gaps=st.data(),
    cluster=st.sampled_from(
        [
            ClusterConfig(),
            ClusterConfig(replicas=2, router="least_outstanding"),
            ClusterConfig(disaggregated=True, decode_replicas=2),
        ]
    ),
)
def test_every_request_finishes_once_within_memory_and_in_order(
    squeeze, tiny_model, toy_device, scheduler, prompts, outputs, gaps, cluster
) -> None:
    assume(not (cluster.disaggregated and scheduler.policy == "static"))
    n = len(prompts)
    out = outputs.draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    arrival = np.cumsum(gaps.draw(st.lists(st.floats(0, 2e-4), min_size=n, max_size=n)))
    requests = _requests(arrival, np.array(prompts) + 4, out, prefix=4)
    options = AnalysisOptions()
    device = squeeze(tiny_model, toy_device, options, scheduler, kv_tokens=130)
    result = run(tiny_model, device, options, requests, scheduler, cluster)
    frame = result.requests
    # Every request finishes exactly once with all its tokens, after it arrived.
    assert frame["finish"].notna().all() and len(frame) == n
    np.testing.assert_array_equal(frame["generated"], out)
    assert (frame["first_token"] >= frame["arrival"]).all()
    assert (frame["finish"] >= frame["first_token"]).all()
    assert (frame["start"] >= frame["arrival"]).all()
    line = result.timeline
    # KV use never exceeds the capacity; time never runs backwards on any engine.
    assert (line["kv_tokens"] <= result.kv_capacity).all()
    assert (line["duration"] >= 0).all()
    for _, engine in line.groupby("engine"):
        ends = engine["start"] + engine["duration"]
        assert (engine["start"].to_numpy()[1:] >= ends.to_numpy()[:-1] - 1e-12).all()


def test_a_request_swapped_back_in_for_free_decodes_instead_of_looping(
    squeeze, tiny_model, toy_device
) -> None:
    # Found by the property test above: with no host link to price, a swap-in took no time, so
    # the iteration had nothing to run and freed the request again, forever.
    scheduler = SchedulerConfig(policy="chunked", max_batch=4, queue="spf", block_size=1,
                                max_len=120, preemption="swap")  # fmt: skip
    cluster = ClusterConfig(disaggregated=True, decode_replicas=2)
    prompts = np.array([5, 4, 14, 4, 13, 16, 57, 32, 31, 48, 17, 35]) + 4
    outputs = [17, 7, 18, 14, 28, 25, 16, 22, 14, 12, 19, 23]
    gaps = [1.07e-4, 1.7e-4, 1.81e-4, 1.16e-4, 0.0, 1.45e-4, 1e-9, 1e-9, 0.0, 1.56e-4, 1e-5, 1.2e-7]
    requests = _requests(np.cumsum(gaps), prompts, outputs, prefix=4)
    device = squeeze(tiny_model, toy_device, AnalysisOptions(), scheduler, kv_tokens=130)
    assert device.host_bandwidth is None
    result = run(tiny_model, device, AnalysisOptions(), requests, scheduler, cluster)
    np.testing.assert_array_equal(result.requests["generated"], outputs)
    assert result.requests["preemptions"].sum() > 0


# -- the analyzer at zero load ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "options"),
    [
        ("continuous", {"calibration": "auto"}),
        ("chunked", {"flash_attention": True, "w_bits": 4}),
        ("static", {}),
        ("continuous", {"tp": 2}),
    ],
)
def test_a_lone_request_sees_the_analyzers_prefill_and_decode(policy, options) -> None:
    prompt, gen = 700, 64
    analysis = rooflens.analyze(LLAMA, "h100", batch=1, prompt_len=prompt, gen_len=gen, **options)
    result = rooflens.simulate(
        LLAMA,
        "h100",
        _requests([0.0], [prompt], [gen]),
        scheduler=SchedulerConfig(policy=policy),
        **options,
    )
    row = result.requests.iloc[0]
    assert row["ttft"] == pytest.approx(float(analysis.generation["ttft"]), rel=1e-9)
    # The analyzer sums decode steps in closed form: exact on the roofline, and within 1e-5
    # of the step-by-step sum where calibrated efficiency curves bend.
    exact = "calibration" not in options
    tpot = float(analysis.generation["tpot"])
    assert row["tpot"] == pytest.approx(tpot, rel=1e-9 if exact else 1e-5)


def test_weights_leave_less_room_for_kv_with_more_precision() -> None:
    few = rooflens.simulate(LLAMA, "a10", _requests([0.0], [100], [2]))
    more = rooflens.simulate(LLAMA, "a10", _requests([0.0], [100], [2]), w_bits=4)
    # A10: 24 GB; 7B weights take 13.5 GB in fp16 and about 3.5 GB at 4 bits.
    assert more.kv_capacity > 2 * few.kv_capacity


# -- what the papers report ---------------------------------------------------------------------

CHAT = Workload(
    requests=400,
    arrivals=ArrivalProcess(kind="poisson", rate=4.0),
    prompt=LengthDistribution(kind="lognormal", a=600, b=0.6, maximum=3000),
    output=LengthDistribution(kind="lognormal", a=150, b=0.6, maximum=800),
    seed=1,
)


def test_continuous_batching_sustains_more_than_static_at_the_same_slo() -> None:
    slo = SLO(ttft=2.0, tpot=0.1)
    static = rooflens.capacity(
        LLAMA, "h100", CHAT, slo, scheduler=SchedulerConfig(policy="static", max_batch=64)
    )
    continuous = rooflens.capacity(
        LLAMA, "h100", CHAT, slo, scheduler=SchedulerConfig(policy="continuous", max_batch=64)
    )
    assert continuous.rate > 1.5 * static.rate > 0
    assert continuous.result is not None and continuous.result.within_slo()
    # The search brackets the answer: the next rate it tried above it failed.
    failed = continuous.probes[~continuous.probes["within_slo"]]
    assert failed["rate"].min() <= continuous.rate * 1.05


def test_paging_admits_more_concurrent_requests_than_contiguous_allocation() -> None:
    burst = CHAT.at_rate(50.0)
    paged = rooflens.simulate(
        LLAMA, "a100-sxm4-40gb", burst, scheduler=SchedulerConfig(kv_layout="paged")
    )
    contiguous = rooflens.simulate(
        LLAMA, "a100-sxm4-40gb", burst, scheduler=SchedulerConfig(kv_layout="contiguous")
    )
    assert paged.timeline["running"].max() > 3 * contiguous.timeline["running"].max()
    assert paged.summary()["request_throughput"] > contiguous.summary()["request_throughput"]


def test_chunked_prefill_lowers_tail_time_per_token_under_mixed_load() -> None:
    mixed = CHAT.model_copy(
        update={"prompt": LengthDistribution(kind="uniform", a=1000, b=3000)}
    ).at_rate(3.0)
    whole = rooflens.simulate(LLAMA, "h100", mixed, scheduler=SchedulerConfig(policy="continuous"))
    chunked = rooflens.simulate(
        LLAMA, "h100", mixed, scheduler=SchedulerConfig(policy="chunked", max_tokens=512)
    )
    assert chunked.percentile("tpot", 99) < 0.9 * whole.percentile("tpot", 99)


def test_littles_law_on_a_steady_run() -> None:
    result = rooflens.simulate(LLAMA, "h100", CHAT.at_rate(6.0))
    frame = result.requests
    throughput = len(frame) / result.duration
    assert result.in_system() == pytest.approx(throughput * frame["e2e"].mean(), rel=0.03)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_littles_law_holds_exactly_in_a_closed_loop_under_the_overlap_schedule(engine) -> None:
    """32 clients are always in the system: the timeline's waiting and running requests
    average to throughput x mean latency. Under the overlap schedule (every engine's preset)
    the requests that reached a replica after it formed its iteration went uncounted (vLLM's
    preset read 30.03 for 31.98, 6 % short). The timelines count requests at the engines: a
    request on its way there (vLLM's and SGLang's measured serving paths, host_per_request) is
    not yet, and one that reaches an engine during an iteration counts from the next (each
    misses less than its iteration: exact where requests arrive as iterations end)."""
    load = Workload(requests=320, prompt="fixed:2000", output="fixed:300")
    result = rooflens.simulate(LLAMA, "h100", load, engine=engine, concurrency=32)
    frame = result.requests
    throughput = len(frame) / result.duration
    at_engines = throughput * (frame["e2e"].mean() - result.host_per_request)
    if engine == "trtllm":
        assert result.host_per_request == 0
        assert result.in_system() == pytest.approx(at_engines, rel=1e-6)
        return
    assert result.host_per_request == pytest.approx({"vllm": 0.0099, "sglang": 0.0158}[engine])
    longest = float(result.timeline["duration"].max())
    assert at_engines - throughput * longest < result.in_system() < at_engines


def _first_seen(result) -> np.ndarray:
    """Per request: the start of the first iteration of its replica's timeline at or after its
    arrival (a request that arrives while an iteration runs is first counted in the next)."""
    line, frame = result.timeline, result.requests
    seen = np.empty(len(frame))
    for k, rows in frame.groupby("replica"):
        starts = np.sort(line.loc[line["engine"] == k, "start"].to_numpy())
        arrival = rows["arrival"].to_numpy()
        at = np.searchsorted(starts, arrival - 1e-12 * np.maximum(1.0, arrival))
        seen[rows.index.to_numpy()] = starts[at]
    return seen


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheduler=SCHEDULERS,
    overlap=st.booleans(),
    receive_interval=st.sampled_from([1, 3]),
    prompts=st.lists(st.integers(1, 60), min_size=1, max_size=12),
    outputs=st.data(),
    gaps=st.data(),
    clients=st.sampled_from([None, 1, 3]),
    replicas=st.sampled_from([1, 2]),
)
def test_littles_law_holds_under_kv_pressure(
    squeeze, tiny_model, toy_device, scheduler, overlap, receive_interval, prompts, outputs,
    gaps, clients, replicas,
) -> None:  # fmt: skip
    """Every instant a request spends between its arrival and its last token is counted in
    its replica's timeline, waiting or running (also while a run of decode steps or a static
    batch holds the queue): the timeline's requests average to throughput x mean time in the
    system. A closed loop sends each request at another's finish, where an iteration starts;
    an open loop's request arriving mid-iteration is counted from the next one, so its area
    falls short by those gaps alone."""
    n = len(prompts)
    out = outputs.draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    arrival = np.cumsum(gaps.draw(st.lists(st.floats(0, 2e-4), min_size=n, max_size=n)))
    requests = _requests(arrival, np.array(prompts) + 4, out, prefix=4)
    if scheduler.policy != "static":
        scheduler = scheduler.model_copy(
            update={"overlap": overlap, "receive_interval": receive_interval}
        )
    options = AnalysisOptions()
    # Room for about two of the longest requests: requests wait for blocks, and are preempted.
    device = squeeze(tiny_model, toy_device, options, scheduler, kv_tokens=130)
    cluster = ClusterConfig(replicas=replicas, router="least_outstanding")
    clients = None if clients is None else min(clients, n)
    result = run(tiny_model, device, options, requests, scheduler, cluster, concurrency=clients)
    frame, line = result.requests, result.timeline
    area = float(((line["waiting"] + line["running"]) * line["duration"]).sum())
    sojourn = float(frame["e2e"].sum())
    throughput = len(frame) / result.duration
    if clients is not None:
        assert result.in_system() == pytest.approx(throughput * frame["e2e"].mean(), rel=1e-9)
    late = float((_first_seen(result) - frame["arrival"]).sum())
    assert area == pytest.approx(sojourn - late, rel=1e-9, abs=1e-12)


def test_requests_waiting_for_kv_blocks_are_counted_through_a_decode_run() -> None:
    """4 clients send 512 + 40-token requests to a replica with 1,648 KV tokens (103 blocks of
    16): 3 prompts (3 x 32 blocks) are admitted, the 4th waits for blocks while they decode
    in runs of steps. Its wait was counted as 0 through the runs, and the KV cache shown at
    each run's end value (1,632 from the first step): in the system 2.198 for X x W 2.670."""
    device = get_device("h100-sxm").model_copy(update={"memory_capacity": 23e9})
    load = Workload(requests=4, prompt="fixed:512", output="fixed:40")
    result = rooflens.simulate(LLAMA, device, load, concurrency=4)
    frame, line = result.requests, result.timeline
    assert result.kv_capacity == 1648
    assert frame["start"].iloc[3] == pytest.approx(0.18824, abs=1e-5)
    waiting = line[(line["start"] > 0) & (line["start"] < frame["start"].iloc[3])]
    assert (waiting["waiting"] >= 1).all()
    # The first decode step holds each prompt and its first token: 513 tokens, 33 blocks;
    # the 17th writes the 529th token, the first of a 34th block.
    decodes = line[line["decode_seqs"] == 3]["kv_tokens"].to_numpy()
    assert decodes[0] == 3 * 33 * 16 == 1584
    assert decodes[15] == 1584 and decodes[16] == 3 * 34 * 16 == 1632
    throughput = len(frame) / result.duration
    assert result.in_system() == pytest.approx(throughput * frame["e2e"].mean(), rel=1e-9)


def test_a_static_batch_counts_running_only_the_requests_not_yet_finished() -> None:
    """A static batch keeps a finished request's slot until its longest output is done, but
    the request has left the system: 6 clients read 6.00 in the system for X x W 5.87."""
    load = Workload(requests=60, prompt="uniform:100:600", output="uniform:10:200")
    result = rooflens.simulate(
        LLAMA, "h100-sxm", load, concurrency=6, scheduler=SchedulerConfig(policy="static")
    )
    frame, line = result.requests, result.timeline
    throughput = len(frame) / result.duration
    assert result.in_system() == pytest.approx(throughput * frame["e2e"].mean(), rel=1e-9)
    assert result.in_system() < 5.9
    # The first batch: outputs of each request, running counts falling as each ends.
    first = frame.iloc[:6]
    steps = line.iloc[1 : int(first["output_len"].max())]
    expected = [(first["output_len"] - 1 > k).sum() for k in range(len(steps))]
    assert steps["running"].tolist() == expected


def test_preemption_by_recompute_and_by_swap(squeeze, tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    scheduler = SchedulerConfig(max_batch=16, block_size=4)
    device = squeeze(tiny_model, toy_device, options, scheduler, kv_tokens=200)
    device = device.model_copy(update={"host_bandwidth": 1e9})
    requests = _requests(np.zeros(8), np.full(8, 20), np.full(8, 60))
    results = {
        mode: run(
            tiny_model,
            device,
            options,
            requests,
            scheduler.model_copy(update={"preemption": mode}),
        )
        for mode in ("recompute", "swap")
    }
    for result in results.values():
        assert result.summary()["preemptions"] > 0
        np.testing.assert_array_equal(result.requests["generated"], 60)
    # Swapped requests keep their KV cache and are never prefilled twice; recomputed ones are.
    prefilled = {mode: r.timeline["prefill_tokens"].sum() for mode, r in results.items()}
    assert prefilled["swap"] == 8 * 20 < prefilled["recompute"]


def test_prefix_sharing_skips_the_shared_prompt_and_its_memory(tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    # The first request computes the 80-token prefix; five more arrive while it decodes.
    arrival = np.r_[0.0, 1e-6 + np.arange(5) * 1e-7]
    requests = _requests(arrival, np.full(6, 90), np.full(6, 50), prefix=80)
    plain, shared = (
        run(tiny_model, toy_device, options, requests, SchedulerConfig(prefix_sharing=on))
        for on in (False, True)
    )
    assert shared.timeline["prefill_tokens"].sum() == 90 + 5 * 10
    assert plain.timeline["prefill_tokens"].sum() == 6 * 90
    # Six private copies of 90 + 50 tokens in blocks of 16 against one shared prefix.
    assert plain.timeline["kv_tokens"].max() == 6 * 144
    assert shared.timeline["kv_tokens"].max() == 80 + 6 * 64
    assert shared.requests["ttft"].iloc[1:].max() < plain.requests["ttft"].iloc[1:].min()


@pytest.mark.parametrize(
    ("change", "options", "kept"),
    [
        # Every layer's window of 64 keys: a request holds 64 tokens' worth, in 4 blocks.
        ({"sliding_window": 64}, {}, 64),
        # One layer of two windowed (Gemma-2 alternates): 0.5 × 300 + 0.5 × 64 = 182 -> 192.
        ({"sliding_window": 64, "window_layers": 1}, {}, 192),
        # An eviction budget of 100 keys on every layer: 100 -> 112 in blocks of 16.
        ({}, {"kv_budget": 100}, 112),
        ({}, {}, 304),
    ],
)
def test_windows_and_kv_budgets_cap_the_cache_a_request_holds(
    tiny_model, toy_device, change, options, kept
) -> None:
    model = tiny_model.model_copy(update=change)
    lone = _requests([0.0], [250], [51])  # 300 tokens cached before the last one is sampled
    result = run(model, toy_device, rooflens.make_options(**options), lone)
    assert result.timeline["kv_tokens"].max() == kept
    # The analyzer's KV cache for that request, in the same tokens' worth, before rounding up.
    spans = rooflens.core.graph.kv_spans(model, rooflens.make_options(**options))
    want = sum(share * min(300, span or 300) for share, span in spans)
    assert kept - 16 < want <= kept


def test_a_window_lets_more_long_requests_run_at_once(squeeze, tiny_model, toy_device) -> None:
    burst = _requests(np.zeros(8), np.full(8, 900), np.full(8, 20))
    scheduler = SchedulerConfig()
    squeezed = squeeze(tiny_model, toy_device, AnalysisOptions(), scheduler, kv_tokens=2000)
    full = run(tiny_model, squeezed, AnalysisOptions(), burst, scheduler)
    windowed = run(
        tiny_model.model_copy(update={"sliding_window": 128}), squeezed, AnalysisOptions(), burst
    )
    assert full.timeline["running"].max() == 2  # 2 × 928 of 2000 tokens
    assert windowed.timeline["running"].max() == 8  # 8 × 128
    assert windowed.timeline["kv_tokens"].max() <= 2000


def test_disaggregation_hands_the_kv_cache_over_the_link(tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    requests = _requests([0.0], [1000], [5])
    link = 1e6  # bytes/s: 256 bytes x 1000 tokens take 0.256 s
    cluster = ClusterConfig(disaggregated=True, kv_link_bandwidth=link)
    split = run(tiny_model, toy_device, options, requests, cluster=cluster)
    together = run(tiny_model, toy_device, options, requests)
    row, base = split.requests.iloc[0], together.requests.iloc[0]
    assert row["ttft"] == pytest.approx(base["ttft"])
    # The second token waits for the hand-over, then decodes as before.
    assert row["finish"] == pytest.approx(base["finish"] + 0.256, rel=1e-6)


def test_handed_over_requests_decode_within_the_iterations_token_budget() -> None:
    """A disaggregated decode pool drafting 3 tokens: each sequence takes 1 + 3 tokens of an
    iteration, so an 8-token budget decodes 2 at a time. Six requests handed over at once had
    all joined the first iteration (24 tokens); the others now wait for room, and their
    time per token grows from 3.9 ms to 7.5 ms."""
    burst = _requests(np.zeros(6), np.full(6, 8), np.full(6, 200))
    scheduler = SchedulerConfig(
        policy="chunked", max_tokens=8, max_batch=8, draft_tokens=3, acceptance=0.5
    )
    cluster = ClusterConfig(disaggregated=True, prefill_replicas=1, decode_replicas=1)
    result = rooflens.simulate("Qwen/Qwen3.5-9B", "h100", burst, scheduler=scheduler,
                               cluster=cluster)  # fmt: skip
    decode = result.timeline[result.timeline["engine"] == 1]
    assert decode["decode_seqs"].max() == 2
    assert result.requests["tpot"].mean() == pytest.approx(7.5e-3, rel=0.01)
    # A budget below one sequence's 1 + 3 tokens still decodes one at a time: an iteration
    # with nothing else takes one (every request had stalled on an idle replica).
    narrow = scheduler.model_copy(update={"max_tokens": 3, "max_batch": 1})
    alone = rooflens.simulate("Qwen/Qwen3.5-9B", "h100", burst, scheduler=narrow,
                              cluster=cluster)  # fmt: skip
    assert alone.timeline[alone.timeline["engine"] == 1]["decode_seqs"].max() == 1
    assert (alone.requests["generated"] == 200).all()


def test_two_replicas_serve_twice_the_overload() -> None:
    overload = CHAT.at_rate(1000.0)
    one = rooflens.simulate(LLAMA, "h100", overload)
    two = rooflens.simulate(
        LLAMA, "h100", overload, cluster=ClusterConfig(replicas=2, router="least_outstanding")
    )
    ratio = two.summary()["request_throughput"] / one.summary()["request_throughput"]
    assert ratio == pytest.approx(2.0, rel=0.15)
    assert set(two.requests["replica"]) == {0, 1}


def test_tensor_parallel_replicas_hold_more_kv() -> None:
    one = rooflens.simulate(LLAMA, "a10", _requests([0.0], [10], [2]))
    two = rooflens.simulate(LLAMA, "a10", _requests([0.0], [10], [2]), tp=2)
    # Each of the two devices holds half the weights and half of every token's KV cache.
    assert two.kv_capacity > 2 * one.kv_capacity


def test_the_memory_verdict_holds_one_replicas_share_of_the_requests() -> None:
    """64 requests at once over 4 replicas are 16 on each: the verdict's peak per device is
    16 requests' (it had put all 64 on one replica, their KV cache included), the same
    peak one replica gives 16 requests; the largest batch that fits stays the device's."""
    burst = _requests(np.zeros(64), np.full(64, 1000), np.full(64, 100))
    four = rooflens.simulate(LLAMA, "h100", burst, cluster=ClusterConfig(replicas=4))
    one = rooflens.simulate(LLAMA, "h100", burst)
    sixteen = rooflens.simulate(
        LLAMA, "h100", _requests(np.zeros(16), np.full(16, 1000), np.full(16, 100))
    )
    assert (one.memory.batch, four.memory.batch) == (64, 16)
    assert four.memory.peak == sixteen.memory.peak < one.memory.peak
    assert four.memory.max_batch == one.memory.max_batch

    # A closed loop of 16 clients: least outstanding requests keeps 4 on each replica; round
    # robin may send one replica every client whose turn falls to it (its runs held 6 or 7).
    loop = Workload(requests=200, prompt="fixed:500", output="empirical:20,400")
    held = {
        router: rooflens.simulate(LLAMA, "h100", loop, concurrency=16,
                                  cluster=ClusterConfig(replicas=4, router=router)).memory.batch
        for router in ("least_outstanding", "round_robin")
    }  # fmt: skip
    assert held == {"least_outstanding": 4, "round_robin": 16}

    disaggregated = ClusterConfig(disaggregated=True, prefill_replicas=2, decode_replicas=4)
    split = rooflens.simulate(LLAMA, "h100", burst, cluster=disaggregated)
    # The prefill pool's 2 replicas hold 32 each: the tighter pool's verdict is the run's.
    assert split.memory.batch == 32


# -- bad input -----------------------------------------------------------------------------------


def test_bad_settings_name_the_field(squeeze, tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    with pytest.raises(InvalidInputError, match="max_len=50"):
        run(
            tiny_model, toy_device, options, _requests([0], [40], [20]), SchedulerConfig(max_len=50)
        )
    with pytest.raises(InvalidInputError, match="pp=2"):
        run(
            tiny_model,
            toy_device,
            AnalysisOptions(parallelism=Parallelism(pp=2)),
            _requests([0], [4], [2]),
        )
    with pytest.raises(InvalidInputError, match="hardware='a10'"):
        rooflens.simulate("meta-llama/Llama-2-13b-hf", "a10", _requests([0], [4], [2]))
    small = squeeze(tiny_model, toy_device, options, SchedulerConfig(), kv_tokens=30)
    # The verdict holds the scheduler's reserve, as the replica does (8,192 tokens' worth).
    with pytest.raises(InvalidInputError, match=r"iterations of 8,192 tokens.*lower max_tokens"):
        run(tiny_model, small, options, _requests([0], [40], [20]))
    with pytest.raises(InvalidInputError, match="policy='static'"):
        run(
            tiny_model,
            toy_device,
            options,
            _requests([0], [4], [2]),
            SchedulerConfig(policy="static"),
            ClusterConfig(disaggregated=True),
        )
    with pytest.raises(InvalidInputError, match="output_len"):
        _requests([0], [4], [0])


def test_ten_thousand_requests_benchmark(benchmark) -> None:
    """Continuous batching of a 7B model on an H100: 10,000 chat requests."""
    workload = Workload(
        requests=10_000,
        arrivals=ArrivalProcess(kind="poisson", rate=40.0),
        prompt=LengthDistribution(kind="lognormal", a=512, b=0.8, maximum=3000),
        output=LengthDistribution(kind="lognormal", a=128, b=0.8, maximum=1000),
    )
    result = benchmark.pedantic(
        rooflens.simulate, args=(LLAMA, "h100", workload), rounds=1, iterations=1
    )
    assert len(result.requests) == 10_000 and result.requests["finish"].notna().all()


def test_whole_prompts_join_an_iteration_only_if_they_fit(tiny_model, toy_device) -> None:
    options = AnalysisOptions()
    # Two 60-token prompts and a 150-token one, all at t = 0, under a 100-token budget.
    requests = _requests(np.zeros(3), [60, 60, 150], [3, 3, 3])
    base = SchedulerConfig(policy="chunked", max_tokens=100, max_batch=8)
    split, whole = (
        run(tiny_model, toy_device, options, requests, base.model_copy(update={"split_prompts": s}))
        for s in (True, False)
    )
    # Split: 60 + 40 of the second; then one decode, its last 20 and 79 of the third.
    assert split.timeline["prefill_tokens"][:2].tolist() == [100.0, 99.0]
    # Whole: the first prompt alone (the second does not fit beside it), then the second
    # beside the first's decode; the 150-token prompt waits until nothing else runs, then
    # runs alone over the budget.
    tokens = whole.timeline["prefill_tokens"].tolist()
    decodes = whole.timeline["decode_seqs"].tolist()
    assert tokens[:2] == [60.0, 60.0] and decodes[:2] == [0, 1]
    alone = tokens.index(150.0)
    assert decodes[alone] == 0 and whole.timeline["prefill_seqs"][alone] == 1
    # The long prompt waits for the others' decodes instead of starting in chunks at once.
    assert whole.requests["ttft"][2] > split.requests["ttft"][2]
    np.testing.assert_array_equal(whole.requests["generated"], 3)


# -- speculative decoding ------------------------------------------------------------------------


def test_mtp_speculation_prices_a_verify_step_and_drafts_per_expected_token(
    tiny_model, toy_device
) -> None:
    from rooflens.serving.replica import build_replica

    model = tiny_model.model_copy(update={"mtp_layers": 1})
    sizes = {"max_tokens": 256, "max_context": 512, "max_rows": 8}
    plain = build_replica(model, toy_device, AnalysisOptions(), **sizes)
    spec = build_replica(
        model, toy_device, AnalysisOptions(), **sizes, draft_tokens=3, acceptance=1.0
    )
    # The MTP layer's K and V beside the model's two layers': 2 x 2 heads x 16 x 2 bytes each.
    assert (plain.kv_bytes_per_token, spec.kv_bytes_per_token) == (256, 384)
    assert spec.weights > plain.weights
    past = np.array([10, 100, 300])
    none = np.zeros(0, np.int64)
    verify = spec.table.step_time(none, np.full(3, 4.0), past.astype(float), np.ones(3, bool))
    draft = spec.speculation.draft.step_time(past)
    # Every draft accepted: four tokens a step.
    assert spec.step_time(past) == pytest.approx((verify + 3 * draft) / 4, rel=1e-12)
    # A step that also prefills takes its whole time, for one token each, and runs the MTP
    # module over the prompt chunk too.
    chunk = (np.array([32.0]), np.array([0.0]), np.array([True]))
    mixed = spec.step_time(past, *chunk)
    both = spec.table.step_time(
        none, np.array([32.0, 4, 4, 4]), np.array([0.0, 10, 100, 300]), np.ones(4, bool)
    )
    module = spec.speculation.draft.step_time(none, *chunk)
    assert module > 0
    assert mixed == pytest.approx(both + 3 * draft + module, rel=1e-12)
    assert spec.step_time(none, *chunk) == pytest.approx(
        plain.step_time(none, *chunk) + module, rel=1e-12
    )
    # A vectorized run of decode steps is the steps one by one.
    run = spec.decode_run(past, 20)
    assert np.allclose(run, [spec.step_time(past + j) for j in range(20)], rtol=1e-12)
    # Half the drafts accepted, each given the last: 1 + 1/2 + 1/4 + 1/8 tokens a step.
    half = build_replica(
        model, toy_device, AnalysisOptions(), **sizes, draft_tokens=3, acceptance=0.5
    )
    assert half.speculation.per_step == pytest.approx(1.875)


def test_a_lone_request_with_mtp_drafts_sees_the_analyzers_speculative_decoding() -> None:
    from rooflens.core.speculative import speculative
    from rooflens.settings import parse_settings

    model = rooflens.load_model("deepseek-ai/DeepSeek-V3")
    prompt = 900
    result = rooflens.simulate(
        model,
        "h200",
        _requests([0.0], [prompt], [2]),
        scheduler=SchedulerConfig(draft_tokens=2, acceptance=0.7),
        tp=8,
    )
    # The checkpoint's block FP8 as stored, as simulate runs it.
    options = parse_settings({"tp": 8}).analysis_options(None, model)
    device = rooflens.get_device("h200")
    expected = speculative(
        model, device, gamma=2, alpha=0.7, mtp=True, context=prompt, options=options
    )
    tpot = result.requests.iloc[0]["tpot"]
    assert tpot == pytest.approx(float(expected.time_per_token), rel=1e-9)


def test_mtp_drafts_need_an_mtp_module_and_iteration_batching() -> None:
    with pytest.raises(InvalidInputError, match=r"draft_tokens=2.*no multi-token-prediction"):
        rooflens.simulate(
            LLAMA, "h100", _requests([0.0], [64], [4]), scheduler=SchedulerConfig(draft_tokens=2)
        )
    with pytest.raises(ValueError, match="policy=static"):
        SchedulerConfig(policy="static", draft_tokens=1)


def test_accepted_drafts_shorten_the_time_per_token_and_rejected_ones_lengthen_it() -> None:
    workload = _requests([0.0, 0.0, 0.0, 0.0], [512] * 4, [64] * 4)

    def tpot(**drafts: float) -> float:
        result = rooflens.simulate(
            "deepseek-ai/DeepSeek-V3", "h200", workload, tp=8, scheduler=SchedulerConfig(**drafts)
        )
        return float(result.requests["tpot"].mean())

    plain = tpot()
    assert tpot(draft_tokens=3, acceptance=0.9) < plain < tpot(draft_tokens=1, acceptance=0.0)


def test_simulation_and_capacity_results_have_the_json_the_cli_writes() -> None:
    """Scripts had no to_dict for a simulation (the CLI built its JSON itself); a figure that
    does not exist is None, so json.dumps(allow_nan=False) takes it."""
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app
    from rooflens.serving import LengthDistribution, Workload

    fixed = LengthDistribution(kind="fixed", a=256)
    work = Workload(requests=6, prompt=fixed, output=LengthDistribution(kind="fixed", a=1))
    result = rooflens.simulate("gpt2", "h100-sxm", work, concurrency=2)
    data = result.to_dict()
    assert data["summary"]["tpot_mean"] is None  # one output token: no time per token
    json.dumps(data, allow_nan=False)
    res = CliRunner().invoke(
        app, ["simulate", "gpt2", "-H", "h100-sxm", "--requests", "6", "--prompt", "256",
              "--output", "1", "--concurrency", "2", "-f", "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["summary"] == data["summary"]


def test_a_whole_prompt_beyond_the_budget_has_its_activations_reserved() -> None:
    """Continuous batching runs a prompt longer than the token budget whole and alone: the KV
    pool was sized beside activations for the budget (8,192 tokens: 8.7 GB) while a
    20,000-token prefill holds 51.4 GB of them (Llama-3.1-8B on an 85.5 GB H100, 16.1 GB of
    weights, a 60.8 GB pool; the run reported 78.2 GB at its peak)."""
    from rooflens.core.memory import peak_activation_bytes
    from rooflens.core.operators import Step
    from rooflens.serving import SchedulerConfig
    from rooflens.serving.simulate import prepare

    spec = rooflens.load_model("meta-llama/Llama-3.1-8B")
    device = rooflens.get_device("h100-sxm")
    whole = SchedulerConfig()  # continuous, no chunk size: whole prompts
    assert whole.whole_prompts and not SchedulerConfig(policy="chunked").whole_prompts
    budget = prepare(spec, device, AnalysisOptions(), whole, 20_400)
    long = prepare(spec, device, AnalysisOptions(), whole, 20_400, longest_prompt=20_000)
    graph = rooflens.core.graph.build_graph(spec, AnalysisOptions(), device)
    one = np.ones(())
    need = float(peak_activation_bytes(graph, AnalysisOptions().quantization,
                                       Step(one, one * 20_000, 0 * one)))  # fmt: skip
    assert long.activation_reserve == pytest.approx(need)
    assert budget.activation_reserve < need and long.kv_capacity < budget.kv_capacity
    # A chunked scheduler cuts prompts to its budget: its reserve stays the budget's.
    chunked = SchedulerConfig(policy="chunked")
    assert (
        prepare(spec, device, AnalysisOptions(), chunked, 20_400, 20_000).activation_reserve
        == prepare(spec, device, AnalysisOptions(), chunked, 20_400).activation_reserve
    )


def test_a_capacity_found_by_bisection_is_checked_as_a_burst_too() -> None:
    """200 requests: the bisection settled on 48 requests/s, served at 22.5/s, which the
    doubling steps' burst test would have refused (300 requests give 40.5/s)."""
    from rooflens.serving import SLO, ArrivalProcess, Workload
    from rooflens.serving import LengthDistribution as L

    slo = SLO(ttft=0.5, tpot=0.02, percentile=99)
    lengths = {
        "prompt": L(kind="lognormal", a=512, b=0.8, maximum=3072),
        "output": L(kind="lognormal", a=128, b=0.8, maximum=1024),
    }
    work = Workload(requests=200, arrivals=ArrivalProcess(rate=2), seed=0, **lengths)
    found = rooflens.capacity("meta-llama/Llama-3.1-8B", "h100-sxm", work, slo)
    assert np.isnan(found.rate) and "only as a burst" in found.warning
    assert "at 48 requests/s only as a burst, served at 22.54/s" in found.warning


def test_room_for_the_longest_requests_counts_whole_blocks() -> None:
    """A 1,002-token request holds 32 blocks of 32 (1,024 tokens): the room was tokens //
    1,002, 462 where 453 ran at most (block 32, Llama-3.1-8B on an H100)."""
    from rooflens.serving import LengthDistribution, SchedulerConfig, Workload

    work = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=1000),
        output=LengthDistribution(kind="fixed", a=2),
    )
    result = rooflens.simulate(
        "meta-llama/Llama-3.1-8B", "h100-sxm", work, concurrency=4,
        scheduler=SchedulerConfig(block_size=32),
    )  # fmt: skip
    assert result.kv_room == (result.kv_capacity // 32) // 32


def test_room_holds_a_shared_prefix_once() -> None:
    """2,000-token prompts whose first 1,000 tokens every request shares, 200 output tokens,
    blocks of 16: the prefix takes 63 blocks once, each request 75 of its own (1,199 tokens:
    the last token's keys are never cached). The room had counted 2,199 tokens a request."""
    from rooflens.serving import LengthDistribution, SchedulerConfig, Workload

    work = Workload(
        requests=8,
        prompt=LengthDistribution(kind="fixed", a=1000),
        output=LengthDistribution(kind="fixed", a=200),
        shared_prefix=1000,
    )
    shared, alone = (
        rooflens.simulate(
            "meta-llama/Llama-3.1-8B", "h100-sxm", work, concurrency=8,
            scheduler=SchedulerConfig(block_size=16, prefix_sharing=sharing),
        )
        for sharing in (True, False)
    )  # fmt: skip
    blocks = shared.kv_capacity // 16
    assert shared.kv_room == (blocks - 63) // 75
    assert alone.kv_room == blocks // 138


def test_a_request_whose_tokens_fit_but_whose_blocks_do_not_is_refused(
    squeeze, tiny_model, toy_device
) -> None:
    """520 KV tokens hold 32 whole blocks of 16 (512 tokens): a 512 + 4-token request takes
    33 (it holds 515 tokens at most, its last token's keys never cached: 528). The check
    compared its tokens with 520 and passed it; the engine then preempted it at its first
    decode step and stopped with an internal error that said its 512-token prompt had 513
    tokens. Blocks of 8 hold it: 65 of them in 65."""
    from rooflens.serving.engine import Engine
    from rooflens.serving.replica import build_replica

    options, scheduler = AnalysisOptions(), SchedulerConfig(block_size=16)
    device = squeeze(tiny_model, toy_device, options, scheduler, kv_tokens=520)
    requests = _requests([0.0], [512], [4])
    with pytest.raises(
        InvalidInputError,
        match=r"^max_tokens=8192 .*\(520 tokens: 32 whole blocks of 16\) room for the longest "
        r"request \(515 tokens: 33 blocks\)$",
    ):
        run(tiny_model, device, options, requests, scheduler)
    eights = run(tiny_model, device, options, requests, SchedulerConfig(block_size=8))
    assert (eights.kv_capacity, eights.kv_room) == (520, 1)
    # The engine's own refusal, were a request to reach it, counts what it says.
    replica = build_replica(
        tiny_model, device, options, max_tokens=8192, max_context=600, max_rows=8
    )
    engine = Engine(
        replica, scheduler, requests.prompt, requests.output, requests.arrival, max_len=600
    )
    engine.submit([0])
    with pytest.raises(RuntimeError, match=r"512 prompt tokens, 1 generated, 513 to prefill"):
        engine.run()


def test_sglang_s_memory_share_holds_weights_and_kv_only() -> None:
    """mem_fraction_static sizes the KV pool as total x fraction - weights, activations and
    CUDA graphs living in the rest; rooflens also took an activation reserve out of the
    share (Llama-3.1-8B on an H100: 5.461e10 bytes of KV for 5.535e10)."""
    from rooflens.core.memory import weight_bytes
    from rooflens.engines import load_engine_profile
    from rooflens.serving import LengthDistribution, Workload

    work = Workload(
        requests=2,
        prompt=LengthDistribution(kind="fixed", a=512),
        output=LengthDistribution(kind="fixed", a=8),
    )
    result = rooflens.simulate(
        "meta-llama/Llama-3.1-8B", "h100-sxm", work, concurrency=2, engine="sglang"
    )
    device = rooflens.get_device("h100-sxm")
    profile = load_engine_profile("sglang", "h100-sxm")
    assert profile.memory_fraction_of == "static"
    spec = rooflens.load_model("meta-llama/Llama-3.1-8B")
    options = rooflens.api.resolve(spec, device, {"engine": "sglang"})[2]
    weights = weight_bytes(rooflens.core.graph.build_graph(spec, options, device),
                           options.quantization)  # fmt: skip
    expected = device.memory_capacity * profile.memory_fraction - weights - profile.memory_overhead
    assert result.kv_bytes == pytest.approx(expected)


def test_a_workload_takes_the_command_lines_length_forms() -> None:
    # Workload(prompt="fixed:1000") was refused with a pydantic type error: the API needed
    # LengthDistribution.parse for what the command line takes as text.
    load = Workload(prompt="fixed:1000", output=200)
    assert (load.prompt.kind, load.prompt.a, load.output.kind, load.output.a) == (
        "fixed", 1000, "fixed", 200
    )  # fmt: skip
    assert Workload(prompt="uniform:100:200").prompt == LengthDistribution(
        kind="uniform", a=100, b=200
    )
    with pytest.raises(ValueError, match=r"prompt='banana' is invalid: expected N \(fixed\)"):
        Workload(prompt="banana")


def test_a_workload_left_out_is_the_command_lines() -> None:
    """Workload(requests=50) served 1 request/s of 512 + 128 tokens where `--requests 50`
    served 4/s of lognormal lengths: the API's defaults are rooflens simulate's
    (serving/defaults.py), and a distribution has no length of its own."""
    from rooflens.serving import defaults
    from rooflens.serving.workload import default_workload, fitted_to

    load = Workload()
    assert load == default_workload()
    assert (load.requests, load.arrivals.kind, load.arrivals.rate) == (1000, "poisson", 4.0)
    assert load.prompt == LengthDistribution(kind="lognormal", a=512, b=0.8, maximum=3072)
    assert load.output == LengthDistribution(kind="lognormal", a=128, b=0.8, maximum=1024)
    assert (defaults.PROMPT, defaults.OUTPUT) == (
        "lognormal:512:0.8:3072",
        "lognormal:128:0.8:1024",
    )
    assert ArrivalProcess().rate == defaults.RATE == 4.0
    # A model of 2,048 positions takes the defaults' shares of them: 1,536 and 512.
    assert (default_workload(2048).prompt.maximum, default_workload(2048).output.maximum) == (
        1536, 512
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"fixed needs its length \(a\)"):
        LengthDistribution()
    assert LengthDistribution(kind="empirical", values=(3, 4)).mean == 3.5
    # Left out of the API as of the command line: a closed loop takes the default workload,
    # whose arrivals it replaces (it was refused as a rate beside the clients).
    served = rooflens.simulate("Qwen/Qwen2.5-0.5B", "h100-sxm", concurrency=4).requests
    drawn = Workload().draw()
    assert served["prompt_len"].tolist() == drawn.prompt.tolist() and len(served) == 1000
    # A model of fewer positions fits the lengths left at their defaults, as the command line
    # does (GPT-2 refused Workload(requests=50) naming 2,597 tokens nobody gave); a length
    # given is kept, the other capped at what the given one's longest draw leaves.
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    gpt2 = rooflens.simulate("openai-community/gpt2", "h100-sxm", Workload(requests=50))
    cli = CliRunner().invoke(app, ["simulate", "gpt2", "-H", "h100-sxm", "--requests", "50",
                                   "-f", "json"])  # fmt: skip
    figures = json.loads(cli.stdout)["summary"]
    assert gpt2.summary()["ttft_mean"] == pytest.approx(figures["ttft_mean"], rel=1e-12)
    assert gpt2.requests["prompt_len"].max() <= 768
    # Simulated beyond the positions, the defaults stay whole, as the command line keeps them
    # (a shared prefix had shrunk them through the API).
    prefixed = Workload(requests=30, shared_prefix=500)
    beyond = rooflens.simulate("openai-community/gpt2", "h100-sxm", prefixed,
                               allow_long_context=True)  # fmt: skip
    cli = CliRunner().invoke(app, ["simulate", "gpt2", "-H", "h100-sxm", "--requests", "30",
                                   "--shared-prefix", "500", "--allow-long-context", "-f",
                                   "json"])  # fmt: skip
    ttft = json.loads(cli.stdout)["summary"]["ttft_mean"]
    assert beyond.summary()["ttft_mean"] == pytest.approx(ttft, rel=1e-12)
    assert beyond.requests["prompt_len"].tolist() == prefixed.draw().prompt.tolist()
    fixed = Workload(requests=50, prompt=LengthDistribution(kind="fixed", a=300))
    short = rooflens.simulate("openai-community/gpt2", "h100-sxm", fixed)
    assert set(short.requests["prompt_len"]) == {300}
    # The output's default takes what the 300 tokens leave of the 1,024 positions.
    assert fitted_to(fixed, 1024).output.maximum == 724
    assert 256 < short.requests["output_len"].max() <= 724  # was capped at a quarter: 256


def test_a_capacity_from_too_short_a_run_says_it_may_not_hold() -> None:
    """300 requests at the capacity found arrive over 3.0 mean latencies: the run ends while
    the requests in flight still grow, and the SLO holds at 36.5 requests/s where 3,000
    requests find 22.75 (and miss at 36.5 by 40 s of TTFT). The rate comes with a caveat
    naming how many requests would reach a steady state."""
    from rooflens.serving.simulate import STEADY_LATENCIES

    args = ("meta-llama/Llama-2-7b-hf", "h100-sxm")
    slo = SLO(ttft=1.0, tpot=0.03, percentile=99)
    workload = Workload(
        requests=300,
        prompt=LengthDistribution.parse("prompt", "lognormal:512:0.8:3072"),
        output=LengthDistribution.parse("output", "lognormal:128:0.8:1024"),
    )
    found = rooflens.capacity(*args, workload, slo, scheduler=SchedulerConfig(policy="chunked"))
    latency = float(np.nanmean(found.result.requests["e2e"]))
    # The span the run's arrivals took, not the nominal 300 / rate (8.22 s where the last
    # arrived at 9.50 s, as the table's requests row said).
    window = float(found.result.requests["arrival"].max())
    assert window != pytest.approx(300 / found.rate, rel=0.01)
    assert window < STEADY_LATENCIES * latency
    assert found.warning is not None and found.warning.startswith(
        f"not a steady state: the 300 requests arrive over {window:.3g} s"
    )
    assert f"simulate at least {int(np.ceil(STEADY_LATENCIES * latency * found.rate))}" in (
        found.warning
    )
    assert found.to_dict()["capacity"] == found.rate  # the rate stays, with its caveat
    # Its plot keeps the capacity's line (it was dropped whenever a warning came) and says the
    # caveat under the plots, what priced the runs above them.
    from rooflens.views.serving_plots import capacity_curve

    fig = capacity_curve(found)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"capacity {found.rate:.3g}/s" in labels
    assert found.warning in [text.get_text() for text in fig.texts]
    assert fig.get_suptitle() == (
        "roofline bound\n1 replica of 1 device (TP=1); 300 requests at each rate, 4 to 64/s "
        f"tried; capacity {found.rate:.4g}/s"
    )


def test_every_mtp_module_is_held_and_a_window_module_keeps_its_window(
    tiny_model, toy_device
) -> None:
    """Three modules (Step 3.7 Flash's count) hold three layers' caches; where the modules'
    layers attend to a window, a long sequence keeps only the window in them, the model's own
    layers everything."""
    from rooflens.serving.replica import build_replica

    sizes = {"max_tokens": 256, "max_context": 512, "max_rows": 8}
    model = tiny_model.model_copy(update={"mtp_layers": 3})
    whole = build_replica(model, toy_device, AnalysisOptions(), **sizes, draft_tokens=3)
    # Two model layers and three module layers of 2 x 2 heads x 16 x 2 bytes each.
    assert whole.kv_bytes_per_token == 5 * 128 and whole.kv_spans == ((1.0, None),)
    assert whole.kv_kept(400) == 400
    windowed = model.model_copy(update={"sliding_window": 64, "window_layers": 0})
    replica = build_replica(windowed, toy_device, AnalysisOptions(), **sizes, draft_tokens=3)
    assert dict((span, share) for share, span in replica.kv_spans) == pytest.approx(
        {None: 2 / 5, 64: 3 / 5}
    )
    # 400 tokens: the model's layers keep 400, the modules' 64: 2/5 x 400 + 3/5 x 64.
    assert replica.kv_kept(400) == math.ceil(2 / 5 * 400 + 3 / 5 * 64)


def test_mtp_drafts_on_a_hybrid_keep_its_few_attention_layers_share() -> None:
    """Qwen3.5-9B caches keys in 8 of its 32 layers (4,096 bytes a token each) and its MTP
    module in one more: 9 x 4,096 of the 135,168 bytes a token of every layer would take. The
    merged share (0.273) was replaced by 1 as if every layer attended, and a 512 + 8-token
    request held 520 tokens' worth of 32 layers: room for 508 where it holds 878."""
    from rooflens.core.memory import state_bytes
    from rooflens.serving.replica import build_replica

    sizes = {"max_tokens": 8192, "max_context": 521, "max_rows": 256}
    spec, device, options = rooflens.api.resolve("Qwen/Qwen3.5-9B", "h100-sxm", {})
    replica = build_replica(spec, device, options, **sizes, draft_tokens=2)
    assert replica.kv_bytes_per_token == 32 * 4096 + 4096 == 135_168
    assert replica.kv_spans == ((pytest.approx(9 * 4096 / 135_168), None),)
    # 9 layers' keys and values of 520 tokens, and the recurrent layers' state.
    state = state_bytes(spec, options.quantization)
    assert replica.kv_kept(520) == math.ceil((9 * 4096 * 520 + state) / 135_168) == 523
    load = Workload(requests=1, prompt="fixed:512", output="fixed:8")
    result = rooflens.simulate(
        "Qwen/Qwen3.5-9B", "h100-sxm", load, concurrency=1,
        scheduler=SchedulerConfig(draft_tokens=2),
    )  # fmt: skip
    # 523 tokens take 33 blocks of 16.
    assert result.kv_room == (result.kv_capacity // 16) // 33 == 878


def test_sglangs_activation_reserve_is_its_largest_prefill_batch() -> None:
    """SGLang's PrefillAdder spends chunked_prefill_size on every prompt it adds, so a prefill
    batch holds at most 8,192 tokens on an H100 beside max_prefill_tokens 16,384: the preset
    reserved activations for 16,384, which halved Llama-2-7B's KV cache without FlashAttention
    (37.55 GB where 63.39 GB are left)."""
    from rooflens.serving.presets import preset_for

    h100 = get_device("h100-sxm")
    sglang = preset_for("sglang", h100)
    assert (sglang.chunk_size, sglang.max_tokens, sglang.max_batch) == (8192, 16384, 4096)
    assert sglang.iteration_tokens == 8192
    # With mixed chunks or not, decodes beyond the chunk are the larger iteration.
    wide = sglang.model_copy(update={"max_batch": 10_000})
    assert wide.iteration_tokens == 10_000
    # A first prompt passes max_prefill_tokens up to the chunk (SGLang's add_one_req cuts it
    # only at the chunk): two 12,000-token prompts under a 4,096 budget prefill 12,000 at once.
    loose = SchedulerConfig(policy="continuous", chunk_size=16384, max_tokens=4096, max_batch=256)
    assert (loose.iteration_tokens, loose.iteration_knob) == (16384, "chunk_size")
    # Where decodes outnumber the chunk, the batch limit bounds the iteration: a refusal names it.
    many = loose.model_copy(update={"chunk_size": 512, "max_tokens": 512, "max_batch": 65536})
    assert (many.iteration_tokens, many.iteration_knob) == (65536, "max_batch")
    long = Requests(np.zeros(2), np.full(2, 12_000), np.full(2, 2))
    run = rooflens.simulate(
        "meta-llama/Llama-3.1-8B", "h200-sxm", long, scheduler=loose, flash_attention=True
    )
    # The step table and the reserve are sized for it (the iteration it runs, 12,000 tokens).
    assert run.timeline["prefill_tokens"].max() == 12_000 <= loose.iteration_tokens
    requests = Requests(np.zeros(2), np.full(2, 512), np.full(2, 4))
    held = rooflens.simulate(LLAMA, "h100-sxm", requests, preset="sglang")
    budget = rooflens.simulate(
        LLAMA, "h100-sxm", requests, scheduler=sglang.model_copy(update={"max_tokens": 8192})
    )
    capacity = held.deployment()["kv_capacity_bytes"]
    assert capacity == budget.deployment()["kv_capacity_bytes"]
    assert capacity == pytest.approx(63.39e9, rel=1e-3)


def test_checking_a_simulation_refuses_as_the_run_does_without_serving(monkeypatch) -> None:
    """check_simulation (a web job's check before it starts) raises the run's own refusal,
    and passes a run that serves, without serving a request: the serving loop is made to
    fail, which the check never reaches and the run does."""
    import rooflens.serving.simulate as simulate_module
    from rooflens.serving.api import check_simulation

    def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("served")

    monkeypatch.setattr(simulate_module, "serve", served)
    with pytest.raises(AssertionError, match="served"):
        rooflens.simulate(LLAMA, "h100-sxm", engine="vllm", concurrency=4)

    for model, hardware in (("deepseek-ai/DeepSeek-V3", "h100-sxm"), (LLAMA, "rtx-4090")):
        with pytest.raises(InvalidInputError) as ran:
            rooflens.simulate(model, hardware, engine="vllm")
        with pytest.raises(InvalidInputError) as checked:
            check_simulation(model, hardware, engine="vllm")
        assert str(checked.value) == str(ran.value)
    assert check_simulation(LLAMA, "h100-sxm", engine="vllm", concurrency=4) is None
    # Refused past the model's positions, as the run refuses it (not by serving).
    from rooflens.serving import LengthDistribution, Workload

    long = Workload(requests=4, prompt=LengthDistribution(kind="fixed", a=5000))
    with pytest.raises(InvalidInputError, match=r"^prompt \+ output=.* at most 4096 tokens"):
        check_simulation(LLAMA, "h100-sxm", long, engine="vllm")
    # Its own keywords offered for a misspelt one: no slo, nothing to hold to.
    with pytest.raises(InvalidInputError, match=r"^slo=.* is invalid: expected a known setting"):
        check_simulation(LLAMA, "h100-sxm", engine="vllm", slo=SLO())


def test_another_engines_preset_is_noted() -> None:
    """`--engine vllm --preset sglang` ran SGLang's scheduler under vLLM's profile and memory
    share, with only vLLM named in the header."""
    from rooflens.serving import LengthDistribution, Workload

    work = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=200),
        output=LengthDistribution(kind="fixed", a=4),
    )
    mixed = rooflens.simulate(LLAMA, "h100-sxm", work, engine="vllm", preset="sglang")
    assert mixed.notes[-1] == (
        "preset=sglang: sglang's scheduler with vllm's profile, kernels and memory share"
    )
    # The engine's own preset, however spelt, is no what-if.
    for spelt in ("vllm", "vLLM"):
        same = rooflens.simulate(LLAMA, "h100-sxm", work, engine="vllm", preset=spelt)
        assert not any(note.startswith("preset=") for note in same.notes)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"finished_step": True},
         "finished_step=True is invalid: expected false without overlap (the overlap schedule "
         "takes that step)"),
        ({"split_prompts": False},
         "split_prompts=False is invalid: expected true unless policy=chunked (continuous "
         "batching runs prompts whole, or cut by chunk_size)"),
    ],
)  # fmt: skip
def test_a_scheduler_setting_the_run_would_not_read_is_refused(given, message) -> None:
    """Both ran as if not given (the same TTFT, TPOT and notes); a preset's own value, and the
    same setting where it is read, pass."""
    requests = Requests(np.zeros(2), np.full(2, 64), np.full(2, 4))
    from rooflens.serving.api import check_simulation

    for call in (rooflens.simulate, check_simulation):
        with pytest.raises(InvalidInputError) as err:
            call("facebook/opt-125m", "h100-sxm", requests, scheduler=SchedulerConfig(**given))
        assert str(err.value) == message
    read = {"overlap": True} if "finished_step" in given else {"policy": "chunked"}
    rooflens.simulate(
        "facebook/opt-125m", "h100-sxm", requests, scheduler=SchedulerConfig(**given, **read)
    )
    # SGLang's preset takes the step after finishing; without overlap, it is not given here.
    rooflens.simulate(
        "facebook/opt-125m", "h100-sxm", requests, preset="sglang",
        scheduler=SchedulerConfig(overlap=False),
    )  # fmt: skip
