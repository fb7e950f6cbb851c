"""Benchmark-style serving: closed-loop concurrency, engine presets, benchmark outputs, per-pool
parallelism, and the vectorized decode runs against iteration-by-iteration pricing."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import rooflens
import rooflens.serving.engine as engine_module
from rooflens.api import resolve
from rooflens.cli.app import app
from rooflens.core import AnalysisOptions
from rooflens.core.errors import InvalidInputError
from rooflens.hardware.catalog import get_device
from rooflens.serving import (
    SLO,
    ArrivalProcess,
    ClusterConfig,
    LengthDistribution,
    Requests,
    SchedulerConfig,
    Workload,
    run,
)
from rooflens.serving.api import scheduler_of
from rooflens.serving.config import build
from rooflens.serving.engine import Engine, same_time
from rooflens.serving.presets import PRESETS, preset_for, scheduler_with
from rooflens.serving.simulate import pool_options, prepare

LLAMA = "meta-llama/Llama-3.1-8B"
CLUSTERS_WITH_OVERLAP = [
    ClusterConfig(replicas=3, router="least_outstanding"),
    ClusterConfig(disaggregated=True, prefill_replicas=2, decode_replicas=2),
]
NONE = np.zeros(0, dtype=np.int64)


def _fixed(n: int, prompt: int, output: int) -> Requests:
    return Requests(np.zeros(n), np.full(n, prompt), np.full(n, output))


def _setup(**options: object):
    spec, device, opts = resolve(LLAMA, "h100-sxm", dict(options))
    return spec, device, opts


def _random_requests(seed: int, n: int, closed_loop: bool, longest_output: int) -> Requests:
    """Prompts of 20-399 tokens and outputs of 1 to `longest_output - 1`, all sent at once
    (a closed loop sends them) or arriving over half a second."""
    rng = np.random.default_rng(seed)
    arrival = np.zeros(n) if closed_loop else np.sort(rng.uniform(0, 0.5, n))
    return Requests(arrival, rng.integers(20, 400, n), rng.integers(1, longest_output, n))


def _held_first_token(replica, held: int) -> float:
    """A 50-token prompt sent 1 ns after another's: the first prefills alone, then `held`
    decode steps run before the second prefills beside the next decode."""
    decodes = sum(_decode(replica, 50 + k) for k in range(held))
    beside = replica.step_time(
        np.array([50 + held]), np.array([50.0]), np.zeros(1), np.ones(1, bool)
    )
    return _prefill(replica, 50) + decodes + beside - 1e-9


def _prefill(replica, *prompts: int) -> float:
    n = len(prompts)
    return replica.step_time(NONE, np.array(prompts, float), np.zeros(n), np.ones(n, bool))


def _decode(replica, *contexts: int) -> float:
    return replica.step_time(np.array(contexts, dtype=np.int64))


# -- closed loop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["continuous", "chunked", "static"])
def test_one_client_runs_requests_back_to_back(policy: str) -> None:
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy=policy)
    prompt, output, n = 100, 5, 4
    replica = prepare(spec, device, opts, scheduler, prompt + output)
    result = run(
        spec, device, opts, _fixed(n, prompt, output), scheduler, replica=replica, concurrency=1
    )
    frame = result.requests
    ttft = _prefill(replica, prompt)
    steps = [_decode(replica, prompt + j) for j in range(output - 1)]
    e2e = ttft + sum(steps)
    np.testing.assert_allclose(frame["ttft"], ttft, rtol=1e-12)
    np.testing.assert_allclose(frame["e2e"], e2e, rtol=1e-12)
    # Each request is sent the moment the one before it finishes.
    np.testing.assert_allclose(frame["arrival"], np.arange(n) * e2e, rtol=1e-12)
    summary = result.summary()
    assert summary["request_throughput"] == pytest.approx(1 / e2e, rel=1e-12)
    assert summary["output_throughput_per_user"] == pytest.approx((output - 1) / sum(steps))
    np.testing.assert_allclose(np.sort(result.itl), np.sort(np.tile(steps, n)), rtol=1e-12)


def test_two_clients_send_their_second_wave_when_the_first_finishes() -> None:
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="continuous")
    replica = prepare(spec, device, opts, scheduler, 64)
    frame = run(
        spec, device, opts, _fixed(4, 50, 3), scheduler, replica=replica, concurrency=2
    ).requests
    both = _prefill(replica, 50, 50)
    e2e = both + _decode(replica, 50, 50) + _decode(replica, 51, 51)
    np.testing.assert_allclose(frame["ttft"], both, rtol=1e-12)
    np.testing.assert_allclose(frame["arrival"], [0, 0, e2e, e2e], rtol=1e-12)
    np.testing.assert_allclose(frame["finish"], [e2e, e2e, 2 * e2e, 2 * e2e], rtol=1e-12)


def test_a_request_waits_for_the_engines_next_look_at_its_queue() -> None:
    """SGLang's --scheduler-recv-interval 4: after the first prefill the engine looks at once,
    then every fourth decode iteration, so the request the first client sends when its answer
    ends two decodes later waits two more decodes before its prefill (one client alone, or an
    interval of 1, prefills it at once)."""
    spec, device, opts = _setup()
    requests = Requests(np.zeros(3), np.full(3, 50), np.array([3, 10, 3]))
    looks = SchedulerConfig(policy="continuous", receive_interval=4)
    replica = prepare(spec, device, opts, looks, 64)
    frame = run(spec, device, opts, requests, looks, replica=replica, concurrency=2).requests
    both = _prefill(replica, 50, 50)
    first_done = both + _decode(replica, 50, 50) + _decode(replica, 51, 51)
    assert frame["arrival"][2] == pytest.approx(first_done, rel=1e-12)
    waited = _decode(replica, 52) + _decode(replica, 53)
    assert frame["ttft"][2] == pytest.approx(waited + _prefill(replica, 50), rel=1e-12)
    every = looks.model_copy(update={"receive_interval": 1})
    frame = run(spec, device, opts, requests, every, replica=replica, concurrency=2).requests
    assert frame["ttft"][2] == pytest.approx(_prefill(replica, 50), rel=1e-12)


def test_an_overlapping_scheduler_takes_a_request_two_iterations_later() -> None:
    """The overlap schedule (SGLang's, vLLM's async scheduling, TensorRT-LLM's): the first
    client's answer ends after two decodes and it sends its next request then, but the engine
    formed the next iteration as the last one started and the one after as that next one
    started, at the same instant the request was sent: two more decodes of the other request
    run before its prefill. An idle engine takes requests at once."""
    spec, device, opts = _setup()
    requests = Requests(np.zeros(3), np.full(3, 50), np.array([3, 10, 3]))
    ahead = SchedulerConfig(policy="continuous", overlap=True)
    replica = prepare(spec, device, opts, ahead, 64)
    frame = run(spec, device, opts, requests, ahead, replica=replica, concurrency=2).requests
    both = _prefill(replica, 50, 50)
    assert frame["ttft"][0] == pytest.approx(both, rel=1e-12)
    first_done = both + _decode(replica, 50, 50) + _decode(replica, 51, 51)
    assert frame["arrival"][2] == pytest.approx(first_done, rel=1e-12)
    waited = _decode(replica, 52) + _decode(replica, 53)
    assert frame["ttft"][2] == pytest.approx(waited + _prefill(replica, 50), rel=1e-12)
    at_once = ahead.model_copy(update={"overlap": False})
    frame = run(spec, device, opts, requests, at_once, replica=replica, concurrency=2).requests
    assert frame["ttft"][2] == pytest.approx(_prefill(replica, 50), rel=1e-12)


def test_sglang_decodes_the_requests_it_just_finished_once_more() -> None:
    """SGLang's overlap loop forms the next decode step before it reads which requests the
    last finished. Two 50-token prompts with outputs of 2 and 3 prefill together and decode
    once; the step that finishes the second still carries the first (a 51-token context).
    Then every request has finished and none arrived in time, so the replica decodes the
    second once more (52 tokens), and the first client's next request, sent as the first
    finished, prefills only after that. Without the rule neither step carries them."""
    spec, device, opts = _setup()
    requests = Requests(np.zeros(3), np.full(3, 50), np.array([2, 3, 2]))
    sglang = SchedulerConfig(policy="continuous", overlap=True, finished_step=True)
    replica = prepare(spec, device, opts, sglang, 64)
    result = run(spec, device, opts, requests, sglang, replica=replica, concurrency=2)
    frame = result.requests
    both = _prefill(replica, 50, 50)
    assert frame["arrival"][2] == pytest.approx(both + _decode(replica, 50, 50), rel=1e-12)
    carried = _decode(replica, 51, 51)
    assert frame["finish"][1] == pytest.approx(frame["arrival"][2] + carried, rel=1e-12)
    waited = carried + _decode(replica, 52)
    assert frame["ttft"][2] == pytest.approx(waited + _prefill(replica, 50), rel=1e-12)
    assert result.timeline["decode_seqs"].tolist()[:5] == [0, 2, 2, 1, 0]
    plain = sglang.model_copy(update={"finished_step": False})
    frame = run(spec, device, opts, requests, plain, replica=replica, concurrency=2).requests
    alone = _decode(replica, 51)
    assert frame["finish"][1] - frame["arrival"][2] == pytest.approx(alone, rel=1e-12)
    assert frame["ttft"][2] == pytest.approx(alone + _prefill(replica, 50), rel=1e-12)
    assert preset_for("sglang").finished_step and not preset_for("vllm").finished_step
    assert not preset_for("trtllm").finished_step


def test_a_request_arriving_mid_iteration_waits_one_more_with_overlap() -> None:
    """A prompt arriving 1 ns into another's prefill: without overlap it prefills beside the
    first decode; with it, the iteration after that prefill was formed when the prefill
    started, so one decode runs alone first."""
    spec, device, opts = _setup()
    requests = Requests(np.array([0.0, 1e-9]), np.full(2, 50), np.array([20, 2]))
    for overlap, held in ((False, 0), (True, 1)):
        scheduler = SchedulerConfig(policy="chunked", max_tokens=512, overlap=overlap)
        replica = prepare(spec, device, opts, scheduler, 64)
        frame = run(spec, device, opts, requests, scheduler, replica=replica).requests
        assert frame["ttft"][1] == pytest.approx(_held_first_token(replica, held), rel=1e-12)


@pytest.mark.parametrize(
    ("ratio", "held"),
    [(0.5, 3), (0.05, 0), (0.0, 0)],
    ids=["held-to-the-timeout", "budget-share-reached", "off"],
)
def test_tensorrt_llm_batch_waiting_holds_a_prompt_while_another_decodes(
    ratio: float, held: int
) -> None:
    """TensorRT-LLM's batch_wait_timeout_iters 3 with batch_wait_max_tokens_ratio 0.5 of a
    512-token budget: a 50-token prompt arriving while one request decodes (50 + 1 tokens,
    under 256) waits three decode iterations, then prefills beside the fourth decode; at a
    share of 0.05 (25.6 tokens) or 0 it joins the first decode iteration."""
    spec, device, opts = _setup()
    requests = Requests(np.array([0.0, 1e-9]), np.full(2, 50), np.array([10, 2]))
    # Off: both limits 0 (one alone is refused: TensorRT-LLM would ignore it).
    waiting = SchedulerConfig(
        policy="chunked", max_tokens=512, batch_wait_iterations=3 if ratio else 0,
        batch_wait_ratio=ratio,
    )  # fmt: skip
    replica = prepare(spec, device, opts, waiting, 64)
    frame = run(spec, device, opts, requests, waiting, replica=replica).requests
    assert frame["ttft"][1] == pytest.approx(_held_first_token(replica, held), rel=1e-12)


def test_more_clients_than_requests_send_everything_at_once() -> None:
    spec, device, opts = _setup()
    result = run(spec, device, opts, _fixed(3, 20, 2), concurrency=10)
    assert (result.requests["arrival"] == 0).all()
    assert result.requests["finish"].notna().all()


def test_concurrency_and_an_arrival_rate_are_exclusive() -> None:
    workload = Workload(requests=4, arrivals=ArrivalProcess(rate=3.0))
    with pytest.raises(InvalidInputError, match="concurrency") as err:
        rooflens.simulate(LLAMA, "h100-sxm", workload, concurrency=2)
    assert "arrival rate" in str(err.value)
    trace = Requests(np.array([0.0, 1.0]), np.array([10, 10]), np.array([2, 2]))
    with pytest.raises(InvalidInputError, match="arrival times"):
        rooflens.simulate(LLAMA, "h100-sxm", trace, concurrency=2)
    with pytest.raises(InvalidInputError, match="concurrency"):
        rooflens.simulate(LLAMA, "h100-sxm", Workload(requests=2), concurrency=0)
    # A count no loop can have is named as such first, not as a conflict with the rate.
    with pytest.raises(InvalidInputError, match=r"^concurrency=-1 is invalid: expected a pos"):
        rooflens.simulate(LLAMA, "h100-sxm", workload, concurrency=-1)


@pytest.mark.parametrize(
    "cluster",
    [
        ClusterConfig(replicas=2),
        ClusterConfig(replicas=3, router="least_outstanding"),
        ClusterConfig(disaggregated=True, prefill_replicas=2, decode_replicas=3),
    ],
)
def test_a_closed_loop_never_has_more_requests_in_flight_than_clients(cluster) -> None:
    spec, device, opts = _setup()
    rng = np.random.default_rng(3)
    n, clients = 40, 5
    requests = Requests(np.zeros(n), rng.integers(10, 300, n), rng.integers(1, 40, n))
    frame = run(
        spec, device, opts, requests, SchedulerConfig(policy="chunked"), cluster, concurrency=5
    ).requests
    assert (frame["generated"] == frame["output_len"]).all()
    # The clients share one queue in order: the k-th request to finish sends request C + k
    # (vLLM's benchmark, one semaphore of C over every request's task).
    arrival, finish = frame["arrival"].to_numpy(), frame["finish"].to_numpy()
    np.testing.assert_allclose(arrival[clients:], np.sort(finish)[: n - clients])
    assert (np.diff(arrival) >= 0).all()
    events = sorted([(t, 1) for t in frame["arrival"]] + [(t, -1) for t in frame["finish"]])
    in_flight = np.cumsum([d for _, d in sorted(events, key=lambda e: (e[0], e[1]))])
    assert in_flight.max() <= clients
    # Until the last request is sent, all C are in flight.
    sent_by = arrival[-1]
    for t in np.linspace(0.0, sent_by, 50, endpoint=False):
        assert ((arrival <= t) & (finish > t)).sum() == clients


def test_a_closed_loop_keeps_its_clients_busy_when_lengths_vary() -> None:
    """Two clients, ten requests of alternating 1,000 and 10 output tokens: a client whose
    chain of requests were fixed (c, c + C, ...) would run the five long ones one after
    another while the other's short ones ran out; sharing one queue, as the benchmarks do, two
    stay in flight until the last is sent."""
    spec, device, opts = _setup()
    n = 10
    output = np.where(np.arange(n) % 2 == 0, 1000, 10)
    requests = Requests(np.zeros(n), np.full(n, 100), output)
    frame = run(
        spec, device, opts, requests, SchedulerConfig(policy="chunked"), ClusterConfig(),
        concurrency=2,
    ).requests  # fmt: skip
    arrival, finish = frame["arrival"].to_numpy(), frame["finish"].to_numpy()
    # The short first request's finish sends the second long one beside the first.
    assert arrival[2] == finish[1] < finish[0]
    for t in np.linspace(0.0, arrival[-1], 50, endpoint=False):
        assert ((arrival <= t) & (finish > t)).sum() == 2
    # The five long requests run two at a time, not one after another (about 2.5 long
    # requests' time, where a client's fixed chain would take five).
    assert finish.max() < 3.2 * finish[0]


# -- the vectorized decode runs --------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["continuous", "chunked"])
@pytest.mark.parametrize("concurrency", [None, 3])
@pytest.mark.parametrize("receive_interval", [1, 7])
def test_decode_runs_equal_pricing_every_iteration(
    monkeypatch, policy, concurrency, receive_interval
) -> None:
    spec, device, opts = _setup()
    requests = _random_requests(7, 30, bool(concurrency), 120)
    scheduler = SchedulerConfig(policy=policy, max_tokens=512, receive_interval=receive_interval)
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, scheduler, concurrency)


@pytest.mark.parametrize("policy", ["continuous", "chunked"])
@pytest.mark.parametrize("concurrency", [None, 3])
@pytest.mark.parametrize("cluster", [None, CLUSTERS_WITH_OVERLAP[0], CLUSTERS_WITH_OVERLAP[1]])
def test_decode_runs_equal_pricing_every_iteration_with_overlap(
    monkeypatch, policy, concurrency, cluster
) -> None:
    """An overlapping scheduler's requests join later iterations; runs and iteration by
    iteration pricing still agree, on one replica, across replicas, and disaggregated."""
    spec, device, opts = _setup()
    requests = _random_requests(3, 30, bool(concurrency), 120)
    scheduler = SchedulerConfig(policy=policy, max_tokens=512, overlap=True)
    _runs_equal_iterations(
        monkeypatch, (spec, device, opts), requests, scheduler, concurrency, cluster
    )


@pytest.mark.parametrize("cluster", [None, CLUSTERS_WITH_OVERLAP[1]])
def test_decode_runs_equal_pricing_every_iteration_with_finished_requests_carried(
    monkeypatch, cluster
) -> None:
    """SGLang's step after finishing: the step after one that finished requests is taken
    alone, and runs still agree with pricing every iteration."""
    spec, device, opts = _setup()
    requests = _random_requests(5, 30, True, 120)
    scheduler = SchedulerConfig(
        policy="continuous", chunk_size=256, max_tokens=512, overlap=True, finished_step=True
    )
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, scheduler, 3, cluster)


def test_batch_waiting_holds_no_later_chunk_of_a_prompt_cut_to_fit() -> None:
    """Two 400-token prompts arrive while one request decodes: together (801 tokens) they
    pass 1.0 of the 512-token budget and go, the second cut to the 111 tokens left. Its
    other 289 follow in the next iteration, not held back (TensorRT-LLM would have taken
    that prompt whole)."""
    spec, device, opts = _setup()
    requests = Requests(np.array([0.0, 1e-9, 1e-9]), np.array([50, 400, 400]), np.array([30, 5, 5]))
    waiting = SchedulerConfig(
        policy="chunked", max_tokens=512, batch_wait_iterations=3, batch_wait_ratio=1.0
    )
    replica = prepare(spec, device, opts, waiting, 512)
    frame = run(spec, device, opts, requests, waiting, replica=replica).requests
    together = replica.step_time(
        np.array([50]), np.array([400.0, 111.0]), np.zeros(2), np.array([True, False])
    )
    rest = replica.step_time(
        np.array([51, 400]), np.array([289.0]), np.array([111.0]), np.ones(1, bool)
    )
    expected = _prefill(replica, 50) + together + rest - 1e-9
    assert frame["ttft"][2] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("balance", "other_rank_waits", "wait", "held"),
    [(True, False, 0, 2), (True, True, 0, 0), (True, True, 2, 2), (False, False, 0, 0)],
    ids=["timeout", "every-rank-waits", "batching-wait", "off"],
)
def test_attention_dp_ranks_let_new_prompts_go_together(
    balance: bool, other_rank_waits: bool, wait: int, held: int
) -> None:
    """Two ranks of TensorRT-LLM's attention DP (timeout 3 iterations): a 50-token prompt
    reaching rank 0 while both decode waits until rank 1 has one too, or three iterations
    (two decodes, then it prefills beside the third); with a batching wait of 2 it waits two
    more iterations even when both have one; without balancing it goes at once."""
    spec, device, opts = _setup()
    n = 4 if other_rank_waits else 3
    requests = Requests(
        np.array([0.0, 0.0, 1e-9, 1e-9][:n]), np.full(n, 50), np.array([20, 20, 2, 2][:n])
    )
    # Its timings only with balancing (refused without: nothing would read them).
    timings = {"dp_balance_timeout": 3, "dp_balance_wait": wait} if balance else {}
    ranks = SchedulerConfig(policy="chunked", max_tokens=512, dp_balance=balance, **timings)
    replica = prepare(spec, device, opts, ranks, 64)
    cluster = ClusterConfig(replicas=2)
    frame = run(spec, device, opts, requests, ranks, cluster, replica=replica).requests
    assert list(frame["replica"]) == [0, 1, 0, 1][:n]
    expected = _held_first_token(replica, held)
    assert frame["ttft"][2] == pytest.approx(expected, rel=1e-12)
    if other_rank_waits:
        assert frame["ttft"][3] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("concurrency", [None, 12])
def test_decode_runs_equal_pricing_every_iteration_with_dp_balance(
    monkeypatch, concurrency
) -> None:
    """Balancing ranks count a run's decode steps as they would count them one by one."""
    spec, device, opts = _setup()
    requests = _random_requests(13, 36, bool(concurrency), 150)
    ranks = SchedulerConfig(
        policy="chunked", max_tokens=512, dp_balance=True, dp_balance_timeout=7,
        dp_balance_wait=2,
    )  # fmt: skip
    cluster = ClusterConfig(replicas=3)
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, ranks, concurrency, cluster)
    free = ranks.model_copy(update={"dp_balance": False})
    held = run(spec, device, opts, requests, ranks, cluster, concurrency=concurrency)
    unheld = run(spec, device, opts, requests, free, cluster, concurrency=concurrency)
    assert held.requests["ttft"].mean() > unheld.requests["ttft"].mean()


@pytest.mark.parametrize("concurrency", [None, 6])
def test_decode_runs_equal_pricing_every_iteration_with_batch_waiting(
    monkeypatch, concurrency
) -> None:
    """TensorRT-LLM's batch waiting holds prompts only in iterations that would take them,
    which never run vectorized: runs and iteration-by-iteration pricing agree."""
    spec, device, opts = _setup()
    requests = _random_requests(11, 30, bool(concurrency), 120)
    scheduler = SchedulerConfig(
        policy="chunked", max_tokens=512, batch_wait_iterations=5, batch_wait_ratio=0.8
    )
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, scheduler, concurrency)
    held = run(spec, device, opts, requests, scheduler, concurrency=concurrency).requests
    free = scheduler.model_copy(update={"batch_wait_iterations": 0})
    unheld = run(spec, device, opts, requests, free, concurrency=concurrency).requests
    # Holding prompts back lengthens the mean time to first token.
    assert held["ttft"].mean() > unheld["ttft"].mean()


@pytest.mark.parametrize("cluster", [None, ClusterConfig(replicas=3)])
def test_decode_steps_taken_one_by_one_read_their_times_from_one_priced_run(
    monkeypatch, cluster
) -> None:
    """Decode steps the engine takes one at a time because prompts wait (TensorRT-LLM's
    batch waiting; attention-DP ranks balancing theirs) read their times from a run of them
    priced at once: the same serving as pricing each step, with far fewer steps priced."""
    spec, device, opts = _setup()
    requests = _random_requests(5, 36, True, 150)
    scheduler = SchedulerConfig(
        policy="chunked", max_tokens=512, batch_wait_iterations=6, batch_wait_ratio=0.9,
        **({"dp_balance": True, "dp_balance_timeout": 5} if cluster is not None else {}),
    )  # fmt: skip
    cluster = cluster or ClusterConfig()
    replica = prepare(spec, device, opts, scheduler, 512)
    priced = []
    step_time, decode_run = type(replica).step_time, type(replica).decode_run

    def one_step(self, *args):
        priced.append("step")
        return step_time(self, *args)

    def steps(self, *args):
        priced.append("run")
        return decode_run(self, *args)

    monkeypatch.setattr(type(replica), "step_time", one_step)
    monkeypatch.setattr(type(replica), "decode_run", steps)
    monkeypatch.setattr(engine_module, "MIN_RUN", 10**9)
    ahead = run(spec, device, opts, requests, scheduler, cluster, replica=replica, concurrency=6)
    ahead_priced = len(priced)
    monkeypatch.setattr(engine_module, "DECODE_STEPS_PRICED", 1)
    priced.clear()
    each = run(spec, device, opts, requests, scheduler, cluster, replica=replica, concurrency=6)
    _assert_same_serving(ahead, each)
    np.testing.assert_allclose(ahead.timeline["duration"], each.timeline["duration"], rtol=1e-12)
    # Every step was priced alone the second time; the first read most decode steps from
    # runs, each priced in one call.
    assert priced == ["step"] * len(each.timeline)
    assert ahead_priced < len(priced) / 3


def _runs_equal_iterations(
    monkeypatch, setup, requests, scheduler, concurrency, cluster=None
) -> None:
    """The same requests served with vectorized decode runs and iteration by iteration."""
    cluster = cluster or ClusterConfig()
    taken = []
    decode_run = engine_module.Engine._decode_run

    def counted(engine, horizon):
        taken.append(decode_run(engine, horizon))
        return taken[-1]

    monkeypatch.setattr(engine_module.Engine, "_decode_run", counted)
    fast = run(*setup, requests, scheduler, cluster, concurrency=concurrency)
    # The fast pass did price decode runs (else both would be iteration by iteration).
    assert sum(taken) > 0
    monkeypatch.setattr(engine_module, "MIN_RUN", 10**9)
    # Every step priced on its own, not read from a run of decode steps priced together.
    monkeypatch.setattr(engine_module, "DECODE_STEPS_PRICED", 1)
    slow = run(*setup, requests, scheduler, cluster, concurrency=concurrency)
    _assert_same_serving(fast, slow)
    np.testing.assert_allclose(np.sort(fast.itl), np.sort(slow.itl), rtol=1e-9)
    assert len(fast.timeline) == len(slow.timeline)


def _assert_same_serving(fast, slow) -> None:
    """Two simulations of the same requests: the same times, replicas and preemptions."""
    for column in ("arrival", "first_token", "finish"):
        np.testing.assert_allclose(fast.requests[column], slow.requests[column], rtol=1e-9)
    for column in ("replica", "preemptions"):
        np.testing.assert_array_equal(fast.requests[column], slow.requests[column])


CLUSTERS = [
    ClusterConfig(replicas=3),
    ClusterConfig(replicas=3, router="least_outstanding"),
    ClusterConfig(disaggregated=True, prefill_replicas=2, decode_replicas=3),
]


@pytest.mark.parametrize("receive_interval", [1, 5])
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_engines_running_ahead_in_a_closed_loop_equal_iterations(
    monkeypatch, cluster, receive_interval
) -> None:
    """Several engines in a closed loop each run decode-only steps up to the earliest time
    another could send them a request; iteration by iteration (every engine one step at a time)
    gives the same times and the same router choices."""
    spec, device, opts = _setup()
    rng = np.random.default_rng(5)
    n = 36
    requests = Requests(np.zeros(n), rng.integers(20, 1500, n), rng.integers(1, 150, n))
    scheduler = SchedulerConfig(
        policy="chunked", max_tokens=1024, receive_interval=receive_interval
    )
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, scheduler, 9, cluster)


def test_engines_take_a_priced_run_in_part_as_iterations_would(monkeypatch) -> None:
    """A decode run already priced is taken up to another engine's next finish even when
    fewer than MIN_RUN of its steps fit before it (no pricing is left to save): those short
    pieces are taken, and the times and router choices equal iteration by iteration."""
    spec, device, opts = _setup()
    rng = np.random.default_rng(5)
    requests = Requests(np.zeros(48), rng.integers(20, 1500, 48), rng.integers(1, 150, 48))
    scheduler = SchedulerConfig(policy="chunked", max_tokens=1024)
    short = []
    decode_run = engine_module.Engine._decode_run

    def counted(engine, horizon):
        before = len(engine.timeline["duration"])
        taken = decode_run(engine, horizon)
        if taken and len(engine.timeline["duration"]) - before < engine_module.MIN_RUN:
            short.append(len(engine.timeline["duration"]) - before)
        return taken

    monkeypatch.setattr(engine_module.Engine, "_decode_run", counted)
    cluster = ClusterConfig(replicas=3, router="least_outstanding")
    fast = run(spec, device, opts, requests, scheduler, cluster, concurrency=12)
    assert short
    monkeypatch.setattr(engine_module, "MIN_RUN", 10**9)
    slow = run(spec, device, opts, requests, scheduler, cluster, concurrency=12)
    _assert_same_serving(fast, slow)
    assert len(fast.timeline) == len(slow.timeline)


def test_level_replicas_stay_level_in_a_closed_loop(monkeypatch) -> None:
    """Identical replicas with identical requests finish together: a decode run's summed step
    times differ from step-by-step sums only in the last bits, which must not split a wave of
    requests sent at the same instant (each replica prefills all four of its clients at once)."""
    spec, device, opts = _setup()
    requests = _fixed(32, 1024, 200)
    cluster = ClusterConfig(replicas=4)
    _runs_equal_iterations(
        monkeypatch, (spec, device, opts), requests, SchedulerConfig(), 16, cluster
    )
    frame = run(spec, device, opts, requests, SchedulerConfig(), cluster, concurrency=16).requests
    # Every wave prefills four prompts together on each replica: one TTFT for all.
    replica = prepare(spec, device, opts, SchedulerConfig(), 1224)
    np.testing.assert_allclose(frame["ttft"], _prefill(replica, 1024, 1024, 1024, 1024))


def test_outstanding_requests_count_only_what_has_finished_by_then() -> None:
    """An engine may have run past the time a router asks at: what it finishes later still
    counts as outstanding then."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="chunked")
    replica = prepare(spec, device, opts, scheduler, 256)
    requests = Requests(np.zeros(2), np.array([100, 100]), np.array([5, 50]))
    engine = Engine(
        replica, scheduler, requests.prompt, requests.output, requests.arrival, max_len=256
    )
    engine.submit([0, 1])
    engine.run()
    first, last = engine.finish
    assert first < last
    assert engine.outstanding(0.0) == 2
    assert engine.outstanding(first - 1e-9) == 2
    assert engine.outstanding(first) == 1
    assert engine.outstanding((first + last) / 2) == 1
    assert engine.outstanding(last) == 0


@pytest.mark.parametrize("policy", ["static", "continuous", "chunked"])
def test_outstanding_counts_agree_with_the_finish_times(policy: str) -> None:
    """The running count (finish times kept in order, a bisection per question) against
    counting every submitted request's finish time, at each finish and between them; static
    batches finish their requests out of order within the batch."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy=policy, max_batch=6)
    replica = prepare(spec, device, opts, scheduler, 700)
    rng = np.random.default_rng(11)
    n = 40
    requests = Requests(np.sort(rng.uniform(0, 2, n)), rng.integers(20, 500, n),
                        rng.integers(1, 120, n))  # fmt: skip
    engine = Engine(
        replica, scheduler, requests.prompt, requests.output, requests.arrival, max_len=700
    )
    engine.submit(list(range(n)))
    engine.run()
    ends = np.sort(engine.finish)
    assert np.all(np.isfinite(ends))
    for at in [0.0, *ends, *(ends[:-1] + np.diff(ends) / 2), ends[-1] * 2]:
        expected = int(np.count_nonzero(~(engine.finish <= at + same_time(at))))
        assert engine.outstanding(at) == expected


def test_a_closed_loop_routes_requests_in_the_order_they_are_sent() -> None:
    """Round robin over three replicas: sorted by when they were sent, requests go to
    replicas 0, 1, 2, 0, 1, 2, … (requests sent at the same instant in any order among
    themselves), although an engine may run ahead of the others. Before finishes were held
    back and passed on in time order, this workload sent two requests out of order."""
    workload = Workload(
        requests=90,
        prompt=LengthDistribution(kind="uniform", a=100, b=3000),
        output=LengthDistribution(kind="uniform", a=2, b=300),
        seed=3,
    )
    result = rooflens.simulate(
        LLAMA, "h200-sxm", workload, cluster=ClusterConfig(replicas=3), concurrency=12,
        engine="vllm",
    )  # fmt: skip
    frame = result.requests.sort_values("arrival", kind="stable")
    expected = np.arange(len(frame)) % 3
    for _, group in frame.groupby("arrival").indices.items():
        np.testing.assert_array_equal(
            np.sort(frame["replica"].to_numpy()[group]), np.sort(expected[group])
        )


def test_a_decode_run_stops_where_a_sequence_reaches_its_window() -> None:
    """Gemma 3's sliding layers keep 512 tokens: the cost per sequence bends there. A run of one
    sequence below the window and one past it prices each on its own piece, step for step as
    iteration by iteration, and ends before the first reaches the bend."""
    spec, device, opts = resolve("google/gemma-3-1b-it", "h100-sxm", {})
    replica = prepare(spec, device, opts, SchedulerConfig(policy="chunked"), 2048)
    past = np.array([100, 700])
    times = replica.decode_run(past, 1000)
    assert len(times) == 411  # contexts 100 … 510: the bend's neighbours are left out
    expected = [_decode(replica, *(past + j)) for j in range(len(times))]
    np.testing.assert_allclose(times, expected, rtol=1e-12)
    assert replica.decode_run(np.array([511, 700]), 10) is None


@pytest.mark.parametrize("concurrency", [None, 4])
def test_decode_runs_equal_iterations_across_a_window(monkeypatch, concurrency) -> None:
    spec, device, opts = resolve("google/gemma-3-1b-it", "h100-sxm", {})
    rng = np.random.default_rng(11)
    n = 16
    arrival = np.zeros(n) if concurrency else np.sort(rng.uniform(0, 0.2, n))
    requests = Requests(arrival, rng.integers(50, 900, n), rng.integers(100, 700, n))
    scheduler = SchedulerConfig(policy="chunked", max_tokens=512)
    _runs_equal_iterations(monkeypatch, (spec, device, opts), requests, scheduler, concurrency)


def test_decode_runs_equal_iterations_when_memory_is_short(monkeypatch) -> None:
    """A queue that cannot join (no free blocks) does not stop a decode run; preemptions and
    admissions happen at the same times as iteration by iteration."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="chunked", max_tokens=256)
    probe = prepare(spec, device, opts, scheduler, 64)
    fixed = probe.weights + probe.activation_reserve
    small = device.model_copy(
        update={"memory_capacity": fixed + 600 * probe.kv_bytes_per_token + 1}
    )
    requests = _fixed(12, 100, 60)
    fast = run(spec, small, opts, requests, scheduler, concurrency=8)
    monkeypatch.setattr(engine_module, "MIN_RUN", 10**9)
    slow = run(spec, small, opts, requests, scheduler, concurrency=8)
    assert fast.requests["preemptions"].sum() == slow.requests["preemptions"].sum()
    for column in ("first_token", "finish"):
        np.testing.assert_allclose(fast.requests[column], slow.requests[column], rtol=1e-9)


# -- outputs ---------------------------------------------------------------------------------------


def test_itl_pools_the_gaps_of_two_requests() -> None:
    """Continuous batching: B's prompt runs alone while A waits for its second token, so A's
    first gap spans B's prefill and the decode after it."""
    spec, device, opts = _setup()
    requests = Requests(np.array([0.0, 1e-6]), np.array([100, 100]), np.array([4, 2]))
    result = run(spec, device, opts, requests, SchedulerConfig(policy="continuous"))
    d = result.timeline["duration"].to_numpy()
    assert len(d) == 5  # prefill A, prefill B, decode A+B, decode A, decode A
    expected = [d[1] + d[2], d[3], d[4], d[2]]  # A: three gaps; B: one
    np.testing.assert_allclose(np.sort(result.itl), np.sort(expected), rtol=1e-12)
    itl = result.distribution("itl")
    assert itl["mean"] == pytest.approx(np.mean(expected))
    assert itl["p50"] == pytest.approx(np.percentile(expected, 50))


def test_benchmark_outputs_are_null_where_nothing_exists() -> None:
    spec, device, opts = _setup()
    result = run(spec, device, opts, _fixed(4, 30, 1), concurrency=2)
    out = result.benchmark()
    assert set(out) >= {"ttft", "tpot", "itl", "e2e", "output_throughput_per_gpu"}
    assert out["tpot"] == {"mean": None, "p50": None, "p90": None, "p99": None}
    assert out["itl"]["p99"] is None
    assert out["output_throughput_per_user"] is None
    assert out["ttft"]["p90"] == pytest.approx(result.percentile("ttft", 90))


def test_cli_closed_loop_with_a_preset_writes_json_without_nan() -> None:
    args = ["simulate", LLAMA, "-H", "h100-sxm", "--concurrency", "2", "--requests", "4"]
    args += ["--prompt", "fixed:64", "--output", "fixed:1", "--preset", "vllm", "-f", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON")

    data = json.loads(result.stdout, parse_constant=refuse)
    assert data["tpot"]["mean"] is None
    assert data["ttft"]["mean"] > 0
    assert data["summary"]["tpot_p99"] is None
    # The preset is a setting given: its settings were {} beside a scheduler it changed.
    assert data["settings"] == {"preset": "vllm"}


def test_cli_refuses_concurrency_with_a_rate() -> None:
    args = ["simulate", LLAMA, "-H", "h100-sxm", "--concurrency", "2", "--rate", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "--concurrency" in result.output and "--rate" in result.output


def test_cli_replays_a_traces_lengths_in_a_closed_loop_as_the_api(tmp_path) -> None:
    """The command line refused --trace with --concurrency whatever the trace, while the API
    replays a trace whose arrivals are all 0 in the closed loop; both now take that one and
    refuse a trace with arrival times, naming them."""
    at_once = tmp_path / "at_once.csv"
    at_once.write_text("arrival_time,prompt_len,output_len\n0,100,10\n0,120,10\n0,300,20\n")
    timed = tmp_path / "timed.csv"
    timed.write_text("arrival_time,prompt_len,output_len\n0,100,10\n0.5,120,10\n")
    args = ["simulate", "Qwen/Qwen2.5-0.5B", "-H", "h100-sxm", "--concurrency", "2", "--trace"]
    result = CliRunner().invoke(app, [*args, str(at_once), "-f", "json"])
    assert result.exit_code == 0, result.output
    api = rooflens.simulate("Qwen/Qwen2.5-0.5B", "h100-sxm", at_once, concurrency=2)
    assert json.loads(result.output)["ttft"]["mean"] == pytest.approx(api.summary()["ttft_mean"])
    # The head says the loop's clients, which the trace alone does not (runs of 2 and of 3
    # clients read alike).
    assert json.loads(result.output)["workload"] == {"trace": str(at_once), "concurrency": 2}
    table = CliRunner().invoke(app, [*args, str(at_once)], env={"COLUMNS": "200"})
    assert f"the trace {at_once}, sent by a closed loop of 2 clients" in table.output
    refused = CliRunner().invoke(app, [*args, str(timed)])
    assert refused.exit_code == 2
    assert refused.output.startswith(
        "error: concurrency=2 is invalid: expected no concurrency beside a trace's arrival times"
    ), refused.output


def test_the_api_refuses_more_clients_than_requests() -> None:
    """As the command line does: 32 clients over 16 requests would run as 16 clients."""
    with pytest.raises(InvalidInputError) as refused:
        rooflens.simulate("Qwen/Qwen2.5-0.5B", "h100-sxm", Workload(requests=16), concurrency=32)
    assert str(refused.value) == (
        "concurrency=32 is invalid: expected at most the 16 requests simulated (each client "
        "sends one at least)"
    )


# -- presets ---------------------------------------------------------------------------------------


def test_presets_hold_the_engines_defaults() -> None:
    vllm, sglang, trtllm = PRESETS["vllm"], PRESETS["sglang"], PRESETS["trtllm"]
    assert (vllm.policy, vllm.max_tokens, vllm.max_batch, vllm.block_size) == (
        "chunked",
        8192,
        1024,
        16,
    )
    assert (sglang.policy, sglang.max_tokens, sglang.chunk_size, sglang.block_size) == (
        "continuous",
        16384,
        8192,
        1,
    )
    assert (trtllm.policy, trtllm.max_tokens, trtllm.max_batch, trtllm.block_size) == (
        "chunked",
        8192,
        2048,
        32,
    )
    small = preset_for("vllm", get_device("a100-sxm4-80gb"))
    assert (small.max_tokens, small.max_batch) == (2048, 256)
    assert preset_for("vllm", get_device("h200-sxm")) == vllm
    # vLLM's TPU tokens by chip and its CPU backend's (EngineArgs.get_batch_defaults), the
    # sequences at most the tokens: the GPU rule applied to both before.
    expected = {"tpu-v5p": (256, 256), "tpu-v6e": (1024, 256), "tpu-v5e": (512, 256),
                "tpu7x": (8192, 1024), "amd-epyc-9654": (2048, 128),
                "apple-m4-max": (2048, 128)}  # fmt: skip
    for name, sizes in expected.items():
        sized = preset_for("vllm", get_device(name))
        assert (sized.max_tokens, sized.max_batch) == sizes, name
    assert preset_for("sglang", get_device("b200")).chunk_size == 16384
    assert preset_for("sglang", get_device("h100-sxm")).chunk_size == 8192
    assert preset_for("sglang", get_device("l4")).chunk_size == 2048
    with pytest.raises(InvalidInputError, match="preset"):
        preset_for("tgi")


def test_explicit_settings_override_a_preset() -> None:
    device = get_device("h100-sxm")
    chosen = scheduler_of(SchedulerConfig(max_tokens=512), "vllm", device)
    assert chosen.max_tokens == 512 and chosen.max_batch == 1024 and chosen.policy == "chunked"
    assert scheduler_of(None, "trtllm", device) == PRESETS["trtllm"]
    mine = SchedulerConfig(max_tokens=512)
    assert scheduler_of(mine, None, device) is mine


def test_sglang_cuts_long_prompts_into_prefill_only_chunks() -> None:
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="continuous", chunk_size=100, max_tokens=1000)
    result = run(spec, device, opts, _fixed(1, 250, 3), scheduler)
    line = result.timeline
    assert line["prefill_tokens"].tolist()[:3] == [100, 100, 50]
    assert (line["decode_seqs"][:3] == 0).all()


def test_sglang_takes_another_whole_prompt_only_within_max_prefill_tokens() -> None:
    """SGLang's PrefillAdder: chunked_prefill_size (1,000) bounds a prefill batch's prompt
    tokens, max_prefill_tokens (250) only whether another whole prompt joins a batch that
    holds one. Five 100-token prompts go two, two and one (the third's 100 over the 50
    left); a 600-token prompt, the first of its batch, goes whole."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="continuous", chunk_size=1000, max_tokens=250, max_batch=8)
    five = run(spec, device, opts, _fixed(5, 100, 2), scheduler).timeline
    assert five["prefill_tokens"].tolist() == [200, 200, 100, 0]
    assert five["prefill_seqs"].tolist() == [2, 2, 1, 0]
    long = run(spec, device, opts, _fixed(1, 600, 2), scheduler).timeline
    assert long["prefill_tokens"].tolist() == [600, 0]


def test_sglang_mixed_chunks_decode_beside_the_prompts() -> None:
    """SGLang's --enable-mixed-chunk: a prefill iteration also decodes the running requests,
    each taking one token off chunked_prefill_size (100) and max_prefill_tokens (250). Three
    60-token prompts: the first iteration prefills 60 and 40 of the second; the next decodes
    the first beside the second's last 20 and the third's 60 (80 of the 99 left). Unmixed,
    that second iteration prefills alone."""
    spec, device, opts = _setup()
    unmixed = SchedulerConfig(policy="continuous", chunk_size=100, max_tokens=250, max_batch=8)
    mixed = unmixed.model_copy(update={"mixed_chunk": True})
    line = run(spec, device, opts, _fixed(3, 60, 4), mixed).timeline
    assert line["prefill_tokens"].tolist()[:3] == [100, 80, 0]
    assert line["decode_seqs"].tolist()[:3] == [0, 1, 3]
    alone = run(spec, device, opts, _fixed(3, 60, 4), unmixed).timeline
    assert alone["prefill_tokens"].tolist()[:2] == [100, 80]
    assert alone["decode_seqs"].tolist()[:3] == [0, 0, 3]


def test_sglang_mixed_chunks_take_the_decodes_off_the_chunk_size() -> None:
    """Two 10-token requests decode while a 100-token prompt arrives: under a chunk size of 50
    its chunks are 48, 48 and 4 (each iteration's two decodes take two tokens of the 50)."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(
        policy="continuous", chunk_size=50, max_tokens=1000, max_batch=8, mixed_chunk=True
    )
    requests = Requests(np.array([0.0, 0.0, 0.05]), np.array([10, 10, 100]), np.array([40, 40, 2]))
    line = run(spec, device, opts, requests, scheduler).timeline
    prefills = line[line["prefill_tokens"] > 0]
    assert prefills["prefill_tokens"].tolist() == [20, 48, 48, 4]
    assert prefills["decode_seqs"].tolist() == [0, 2, 2, 2]
    # Only SGLang's chunked prefill mixes: vLLM's preset (chunked) refuses it, naming it.
    args = ["simulate", LLAMA, "-H", "h100-sxm", "--engine", "vllm", "--requests", "4"]
    refused = CliRunner().invoke(app, [*args, "--mixed-chunk"])
    assert refused.exit_code == 2
    assert "mixed_chunk=True" in refused.output and "policy=continuous" in refused.output


def test_sglang_takes_a_prefill_token_limit_below_its_batch_limit() -> None:
    """SGLang accepts max_prefill_tokens below max_running_requests (vLLM refuses such a
    budget): it only keeps a second whole prompt out of a prefill batch. Four 3-token
    prompts under a 4-token limit prefill one by one, then all four decode together."""
    spec, device, opts = _setup()
    scheduler = SchedulerConfig(policy="continuous", chunk_size=1000, max_tokens=2, max_batch=4)
    line = run(spec, device, opts, _fixed(4, 3, 3), scheduler).timeline
    assert line["prefill_tokens"].tolist()[:4] == [3, 3, 3, 3]
    assert line["decode_seqs"].max() == 4
    with pytest.raises(InvalidInputError, match="at least max_batch=4"):
        run(spec, device, opts, _fixed(4, 3, 3), scheduler.model_copy(update={"policy": "chunked"}))


def test_sglang_preset_runs_with_max_prefill_tokens_below_its_running_requests() -> None:
    """`--engine sglang --max-tokens 2048` (its max_running_requests is 4,096): eight
    1,500-token prompts then prefill one by one, where the default 16,384 lets five join one
    batch and the rest wait for it: the mean client waits for fewer prompts' prefills."""
    args = ["simulate", LLAMA, "-H", "h100-sxm", "--engine", "sglang", "--requests", "8"]
    args += ["--prompt", "fixed:1500", "--output", "fixed:4", "--concurrency", "8", "-f", "json"]
    limited = CliRunner().invoke(app, [*args, "--max-tokens", "2048"])
    assert limited.exit_code == 0, limited.output
    default = CliRunner().invoke(app, args)
    assert default.exit_code == 0, default.output
    ttft = json.loads(limited.stdout)["ttft"]["mean"], json.loads(default.stdout)["ttft"]["mean"]
    assert ttft[0] < ttft[1]


# -- disaggregation and expert parallelism ------------------------------------------------------


def test_disaggregated_pools_run_their_own_tensor_parallelism() -> None:
    workload = Workload(
        requests=4,
        prompt=LengthDistribution(kind="fixed", a=200),
        output=LengthDistribution(kind="fixed", a=20),
    )
    same = ClusterConfig(disaggregated=True)
    wider = ClusterConfig(disaggregated=True, decode_tp=2, decode_replicas=2)
    one = rooflens.simulate(LLAMA, "h100-sxm", workload, cluster=same, concurrency=1)
    two = rooflens.simulate(LLAMA, "h100-sxm", workload, cluster=wider, concurrency=1)
    assert (one.devices, two.devices) == (2, 5)
    assert two.layout == (
        "disaggregated: 1 prefill replica of 1 device (TP=1), 2 decode replicas of 2 devices (TP=2)"
    )
    np.testing.assert_allclose(one.requests["ttft"], two.requests["ttft"], rtol=1e-12)
    assert two.percentile("itl", 50) < one.percentile("itl", 50)
    with pytest.raises(InvalidInputError, match="disaggregated"):
        build(ClusterConfig, "--decode-tp", decode_tp=2)


def test_each_disaggregated_pool_spreads_its_experts_its_own_way() -> None:
    """Prefill at TP 4 with its experts inside the group (moe_tp 1 x ep 4); decode ranks of
    attention DP 4 over which EP 4 spreads the experts (no moe_tp): SGLang's and Dynamo's
    DeepSeek deployments."""
    moe = "Qwen/Qwen3-30B-A3B"
    _, _, options = resolve(moe, "h100-sxm", {"tp": 4, "ep": 4})
    cluster = ClusterConfig(
        disaggregated=True, prefill_moe_tp=1, decode_tp=1, decode_ep=4, decode_replicas=4
    )
    prefill = pool_options(options, cluster, "prefill").parallelism
    decode = pool_options(options, cluster, "decode").parallelism
    assert (prefill.tp, prefill.ep, prefill.moe_tp, prefill.expert_token_groups) == (4, 4, 1, 1)
    assert (decode.tp, decode.ep, decode.moe_tp, decode.expert_token_groups) == (1, 4, None, 4)
    # Without the pool's own moe_tp the options' own rule holds: none, so spread over groups.
    plain = ClusterConfig(disaggregated=True, decode_tp=1, decode_ep=4)
    assert pool_options(options, plain, "prefill") == options
    # Options with the experts over attention groups (vLLM's DP with EP at moe_tp 1): a pool of
    # its own TP and EP keeps that expert TP over its own groups.
    _, _, dp_ep = resolve(moe, "h100-sxm", {"tp": 2, "ep": 4, "moe_tp": 1})
    assert pool_options(dp_ep, ClusterConfig(disaggregated=True), "decode") == dp_ep
    wide = ClusterConfig(disaggregated=True, decode_tp=1, decode_ep=8)
    assert pool_options(dp_ep, wide, "decode").parallelism.expert_token_groups == 8
    narrow = ClusterConfig(disaggregated=True, decode_ep=2, decode_moe_tp=1)
    with pytest.raises(InvalidInputError, match="decode_moe_tp"):
        pool_options(options, narrow, "decode")
    workload = Workload(requests=2, prompt=LengthDistribution(kind="fixed", a=300))
    result = rooflens.simulate(
        moe, "h100-sxm", workload, cluster=cluster, concurrency=1, tp=4, ep=4
    )
    assert result.devices == 4 + 4
    assert result.layout == (
        "disaggregated: 1 prefill replica of 4 devices (TP=4, EP=4, MoE TP=1), 4 decode "
        "replicas of 1 device (TP=1, EP=4)"
    )
    runner = CliRunner()
    bad = runner.invoke(
        app,
        ["simulate", moe, "-H", "h100-sxm", "--tp", "4", "--ep", "4", "--disaggregated",
         "--decode-ep", "2", "--decode-moe-tp", "1", "--requests", "2"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "decode_moe_tp" in bad.output


def test_expert_parallelism_reaches_the_simulator() -> None:
    workload = Workload(requests=2, prompt=LengthDistribution(kind="fixed", a=500))
    moe = "Qwen/Qwen3-30B-A3B"
    ep1 = rooflens.simulate(moe, "h100-sxm", workload, concurrency=1)
    ep2 = rooflens.simulate(
        moe, "h100-sxm", workload, concurrency=1, ep=2, cluster=ClusterConfig(replicas=2)
    )
    assert ep2.kv_capacity > ep1.kv_capacity  # half the experts' weights per device
    assert ep2.percentile("ttft", 50) != ep1.percentile("ttft", 50)


def test_experts_over_attention_groups_take_whole_sets_of_groups() -> None:
    """`--tp 1 --ep 4` prices each step beside three other attention groups' tokens: one
    replica took the whole load on one group and counted one device of the four."""
    moe = "Qwen/Qwen3-30B-A3B"
    workload = Workload(requests=4, prompt=LengthDistribution(kind="fixed", a=300))
    # Named as the default it is where not given (the user typed no replica count).
    spread = (
        r"^replicas=1 is invalid: expected a multiple of 4 \(not given: 1\): ep=4 at tp=1 "
        "spreads the experts"
    )
    with pytest.raises(InvalidInputError, match=spread):
        rooflens.simulate(moe, "h100-sxm", workload, ep=4)
    with pytest.raises(InvalidInputError, match=r"^replicas=2 .* or moe_tp=1, the experts "):
        rooflens.capacity(moe, "h100-sxm", workload, SLO(), tp=4, ep=4,
                          cluster=ClusterConfig(replicas=2))  # fmt: skip
    four = rooflens.simulate(moe, "h100-sxm", workload, ep=4, cluster=ClusterConfig(replicas=4))
    assert four.devices == 4 and four.replicas == 4
    # Inside the group (SGLang's --tp 4 --ep 4) one replica is one group.
    inside = rooflens.simulate(moe, "h100-sxm", workload, tp=4, ep=4, moe_tp=1)
    assert inside.devices == 4 and inside.replicas == 1
    # Each disaggregated pool by its own layout.
    pools = ClusterConfig(
        disaggregated=True, prefill_moe_tp=1, decode_tp=1, decode_ep=4, decode_replicas=2
    )
    with pytest.raises(InvalidInputError, match=r"^decode_replicas=2 is invalid: .* of 4"):
        rooflens.simulate(moe, "h100-sxm", workload, tp=4, ep=4, cluster=pools)
    res = CliRunner().invoke(
        app, ["simulate", moe, "-H", "h100-sxm", "--ep", "4", "--requests", "4"]
    )
    assert res.exit_code == 2 and res.output.startswith("error: replicas=1 is invalid"), res.output
    # An expert split the model cannot take is named before the replicas it would ask for
    # (once "replicas=1 ... a multiple of 3", then, with --replicas 3, the ep).
    for call in (rooflens.simulate, rooflens.capacity):
        extra = (SLO(),) if call is rooflens.capacity else ()
        with pytest.raises(InvalidInputError, match=r"^ep=3 is invalid: expected a divisor .*128"):
            call(moe, "h100-sxm", workload, *extra, tp=4, ep=3)
    # A disaggregated pool's own split likewise, before its replica count, named as its own.
    decode = ClusterConfig(disaggregated=True, decode_tp=1, decode_ep=3, decode_replicas=2)
    with pytest.raises(InvalidInputError, match=r"^decode_ep=3 is invalid: expected a divisor"):
        rooflens.simulate(moe, "h100-sxm", workload, cluster=decode)


def test_a_decode_pool_short_of_kv_recomputes_its_preempted_requests() -> None:
    """24 requests of 600 + 300 tokens from 8 clients on a decode pool holding 4,432 KV tokens:
    it preempts, and a preempted request prefills its prompt and tokens so far there, then
    decodes on. (It used to rejoin as a decoder with no context and take one step per token
    alone, preempted again each time: 775 preemptions, 4,534 iterations.)"""
    device = rooflens.get_device("h100-sxm").model_copy(update={"memory_capacity": 25.3e9})
    n = 24
    requests = Requests(np.zeros(n), np.full(n, 600), np.full(n, 300))
    result = rooflens.simulate(
        LLAMA, device, requests, cluster=ClusterConfig(disaggregated=True), concurrency=8
    )
    frame = result.requests
    assert result.kv_capacity == 4432
    assert (frame["generated"] == frame["output_len"]).all()
    assert 0 < frame["preemptions"].sum() < n
    assert len(result.timeline) == 1511


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cluster=st.sampled_from([*CLUSTERS, ClusterConfig(replicas=2)]),
    policy=st.sampled_from(["continuous", "chunked"]),
    clients=st.integers(1, 6),
    lengths=st.lists(st.tuples(st.integers(1, 80), st.integers(1, 60)), min_size=1, max_size=14),
    kv_tokens=st.sampled_from([None, 300]),
)
def test_any_small_closed_loop_over_engines_equals_iterations(
    tiny_model, toy_device, squeeze, cluster, policy, clients, lengths, kv_tokens
) -> None:
    """Property form of the comparison above: random small closed loops over several engines,
    with and without KV memory short enough to preempt, give the same times and router choices
    with engines running ahead as one iteration at a time."""
    prompts, outputs = (np.array(v) for v in zip(*lengths, strict=True))
    requests = Requests(np.zeros(len(prompts)), prompts, outputs)
    scheduler = SchedulerConfig(policy=policy, max_batch=8, max_tokens=64, max_len=160)
    options = AnalysisOptions()
    device = toy_device if kv_tokens is None else squeeze(
        tiny_model, toy_device, options, scheduler, kv_tokens
    )  # fmt: skip
    setup = (tiny_model, device, options, requests, scheduler, cluster)
    fast = run(*setup, concurrency=clients)
    # (monkeypatch, function-scoped, would not undo the patch between examples)
    with mock.patch.object(engine_module, "MIN_RUN", 10**9):
        slow = run(*setup, concurrency=clients)
    _assert_same_serving(fast, slow)


def test_sglang_turns_its_overlap_schedule_off_to_draft() -> None:
    """Every preset forms iterations ahead; SGLang drafting with MTP (EAGLE in its server
    args) does not, while vLLM and TensorRT-LLM keep it."""
    for name in PRESETS:
        assert preset_for(name).overlap
    drafting = {"draft_tokens": 2}
    assert not scheduler_with("sglang", None, drafting).overlap
    # Nor the step a finished request takes in the overlap loop (the JSON showed it on).
    assert not scheduler_with("sglang", None, drafting).finished_step
    assert scheduler_with("sglang", None, {}).finished_step
    assert scheduler_with("vllm", None, drafting).overlap
    assert scheduler_with("trtllm", None, drafting).overlap
    assert scheduler_with("sglang", None, {}).overlap


def test_sglang_drafting_holds_48_requests_unless_given_and_no_mixed_chunks() -> None:
    """SGLang's server args, speculative decoding on: max_running_requests 48 when not
    given, mixed chunked prefill off; a batch limit given stays."""
    drafting = {"draft_tokens": 2, "mixed_chunk": True}
    settled = scheduler_with("sglang", None, drafting)
    assert (settled.max_batch, settled.request_pool, settled.mixed_chunk) == (48, True, False)
    given = scheduler_with("sglang", None, {**drafting, "max_batch": 512})
    assert (given.max_batch, given.request_pool) == (512, False)
    assert scheduler_with("sglang", None, {"mixed_chunk": True}).max_batch == 4096
    assert scheduler_with("vllm", None, drafting).max_batch == 1024
    fixed = LengthDistribution.parse
    load = Workload(requests=64, prompt=fixed("prompt", "32"), output=fixed("output", "8"))
    run = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang", concurrency=64,
                            scheduler=SchedulerConfig(draft_tokens=2))  # fmt: skip
    assert run.timeline["running"].max() == 48
    assert run.timeline["waiting"].max() == 16


def test_sglang_sizes_its_request_pool_from_the_kv_cache() -> None:
    """SGLang's max_running_requests, when not given, is its KV pool's tokens / the context
    length x 512 within [2048, 4096], at most half the tokens (model_runner); the preset held
    4,096 requests where SGLang admits 2,048 (Llama-3.1-8B on an H100: 422,282 tokens)."""
    from rooflens.engines.sglang import request_pool
    from rooflens.serving.workload import LengthDistribution, Workload

    assert request_pool(422_282, 131_072) == 2048  # 1,649 raised to the floor
    assert request_pool(712_758, 163_840) == 2227  # DeepSeek-V3 at TP 8 on an H200
    assert request_pool(10_000_000, 8192) == 4096
    assert request_pool(3000, 4096) == 1500  # half the tokens
    fixed = LengthDistribution.parse
    load = Workload(requests=2500, prompt=fixed("prompt", "32"), output=fixed("output", "8"))
    run = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", load, engine="sglang",
                            concurrency=2500)  # fmt: skip
    assert run.kv_capacity == 422_282
    assert run.scheduler.max_batch == 2048
    assert run.timeline["running"].max() == 2048
    # A limit given replaces the pool's, as --max-running-requests does.
    limit = SchedulerConfig(max_batch=2500)
    given = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", load, engine="sglang",
                              concurrency=2500, scheduler=limit)  # fmt: skip
    assert given.scheduler.max_batch == 2500 and given.timeline["running"].max() == 2500


def test_an_acceptance_without_drafts_is_refused_by_the_api() -> None:
    """The command line refused it; the Python and web APIs ignored it."""
    with pytest.raises(ValueError, match="left out without draft_tokens"):
        SchedulerConfig(acceptance=0.7)
    assert SchedulerConfig(draft_tokens=2, acceptance=0.7).acceptance == 0.7


def test_drafts_count_against_the_token_budget_and_hold_kv_slots() -> None:
    """vLLM's scheduler takes a drafting sequence's next token and its drafts off the token
    budget, and holds KV slots for them (lookahead); with 3 drafts at a 2,048-token budget
    no iteration carries more than 2,048 tokens (rooflens had counted one per decode: up to
    2,420), and a lone request's decode steps hold its context + 1 + 3 tokens."""
    fixed = LengthDistribution.parse
    load = Workload(requests=300, prompt=fixed("prompt", "4096"), output=fixed("output", "64"))
    drafting = SchedulerConfig(max_batch=256, max_tokens=2048, draft_tokens=3)
    run = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, concurrency=256,
                            preset="vllm", scheduler=drafting)  # fmt: skip
    tokens = run.timeline["decode_seqs"] * 4 + run.timeline["prefill_tokens"]
    assert tokens.max() == 2048
    one = Workload(requests=1, prompt=fixed("prompt", "100"), output=fixed("output", "4"))
    held = {}
    for drafts in (0, 3):
        scheduler = SchedulerConfig(block_size=1, **({"draft_tokens": drafts} if drafts else {}))
        single = rooflens.simulate("deepseek-ai/DeepSeek-V3", "h200", one, concurrency=1,
                                   preset="vllm", scheduler=scheduler, tp=8)  # fmt: skip
        held[drafts] = single.timeline["kv_tokens"].tolist()
    assert held == {0: [100, 101, 102, 103], 3: [100, 104, 105, 106]}
    # Handed over to a decode pool, it holds them from its first step there.
    handed = {}
    for drafts in (0, 3):
        scheduler = SchedulerConfig(block_size=1, **({"draft_tokens": drafts} if drafts else {}))
        pools = rooflens.simulate("deepseek-ai/DeepSeek-V3", "h200", one, concurrency=1,
                                  preset="vllm", scheduler=scheduler, tp=8,
                                  cluster=ClusterConfig(disaggregated=True))  # fmt: skip
        decode = pools.timeline[pools.timeline["engine"] == 1]
        handed[drafts] = decode["kv_tokens"].tolist()
    assert handed == {0: [101, 102, 103], 3: [104, 105, 106]}


def test_tensorrt_llm_holds_drafting_requests_to_the_token_budget() -> None:
    """TensorRT-LLM's micro-batch scheduler counts a generating request as 1 + its drafts of
    max_num_tokens: 512 tokens hold 128 requests drafting 3, 512 drafting none."""
    assert scheduler_with("trtllm", None, {"max_tokens": 512, "draft_tokens": 3}).max_batch == 128
    assert scheduler_with("trtllm", None, {"max_tokens": 512}).max_batch == 512


def test_a_replicated_kv_shard_is_handed_over_once_per_receiver() -> None:
    """MLA's latent cache sits whole on every TP rank: a prompt prefilled at TP 1, 2 or 4
    hands one copy (4,000 tokens x 27 layers x 576 x 2 bytes = 124.4 MB) to a TP 1 decode
    rank, 0.1244 s at 1 GB/s; it had been sent once per prefill rank (0.25 s, 0.50 s)."""
    workload = Workload(
        requests=1,
        prompt=LengthDistribution(kind="fixed", a=4000),
        output=LengthDistribution(kind="fixed", a=2),
    )
    for prefill_tp in (1, 2, 4):
        cluster = ClusterConfig(
            disaggregated=True, prefill_tp=prefill_tp, decode_tp=1, kv_link_bandwidth=1e9
        )
        run = rooflens.simulate("deepseek-ai/DeepSeek-V2-Lite", "h100", workload,
                                cluster=cluster, concurrency=1)  # fmt: skip
        decode_step = run.timeline.loc[run.timeline["engine"] == 1, "duration"].sum()
        handover = run.requests["tpot"].iloc[0] - decode_step
        assert handover == pytest.approx(4000 * 27 * 576 * 2 / 1e9, rel=1e-9)


def test_the_engines_take_the_kv_block_their_attention_backend_needs() -> None:
    """vLLM: FlashMLA's and FlashInfer MLA's 64 for latent attention on Hopper and Blackwell,
    a DSA indexer's 64, DeepSeek-V4's 256, else 16; SGLang: trtllm_mha's and trtllm_mla's 64
    on Blackwell, a DSA indexer's 64, DeepSeek-V4's 256, else 1; a block given stays."""
    blocks = {}
    for model in ("deepseek-ai/DeepSeek-V3", "meta-llama/Llama-3.1-8B", "deepseek-ai/DeepSeek-V3.2",
                  "deepseek-ai/DeepSeek-V4-Flash"):  # fmt: skip
        spec = rooflens.load_model(model)
        for engine in ("vllm", "sglang", "trtllm"):
            for device in ("h200", "b200", "a100-sxm4-80gb"):
                scheduler = preset_for(engine, get_device(device), spec)
                blocks[model.split("/")[1], engine, device] = scheduler.block_size
    assert [blocks["DeepSeek-V3", e, d] for e in ("vllm", "sglang") for d in ("h200", "b200",
            "a100-sxm4-80gb")] == [64, 64, 16, 1, 64, 1]  # fmt: skip
    assert [blocks["Llama-3.1-8B", e, "b200"] for e in ("vllm", "sglang", "trtllm")] == [16, 64, 32]
    assert {
        blocks["DeepSeek-V3.2", e, d] for e in ("vllm", "sglang") for d in ("h200", "b200")
    } == {64}
    assert {blocks["DeepSeek-V4-Flash", e, "h200"] for e in ("vllm", "sglang")} == {256}
    given = scheduler_with("sglang", get_device("b200"), {"block_size": 16},
                           rooflens.load_model("meta-llama/Llama-3.1-8B"))  # fmt: skip
    assert given.block_size == 16
    fixed = LengthDistribution.parse
    load = Workload(requests=2, prompt=fixed("prompt", "100"), output=fixed("output", "4"))
    run = rooflens.simulate("meta-llama/Llama-3.1-8B", "b200", load, engine="sglang", concurrency=1)
    assert run.timeline["kv_tokens"].tolist()[:2] == [128, 128]  # two pages of 64


def test_a_disaggregated_run_of_one_token_answers_leaves_its_decode_pool_idle() -> None:
    """Every first token comes from the prefill pool: the decode pool runs no iteration, its
    KV cache peaks at nothing (the memory figure had raised numpy's empty-max error)."""
    workload = Workload(
        requests=3,
        prompt=LengthDistribution(kind="fixed", a=2000),
        output=LengthDistribution(kind="fixed", a=1),
    )
    run = rooflens.simulate(LLAMA, "h100-sxm", workload, cluster=ClusterConfig(disaggregated=True))
    assert run.peak_memory == run.beside_kv
    assert run.requests["generated"].tolist() == [1, 1, 1]


def test_a_static_scheduler_over_a_preset_leaves_its_chunk_size_out() -> None:
    """`--engine sglang --scheduler static` was refused for the preset's chunk size (8192),
    which no option could clear; a chunk size given with it is still refused."""
    static = scheduler_with("sglang", get_device("h100"), {"policy": "static"})
    assert (static.policy, static.chunk_size) == ("static", None)
    result = CliRunner().invoke(app, ["simulate", LLAMA, "-H", "h100", "--requests", "3",
                                      "--engine", "sglang", "--scheduler", "static",
                                      "--chunk-size", "512"])  # fmt: skip
    assert result.exit_code == 2 and "chunk_size=512" in result.output


def test_a_run_says_which_operators_it_priced_beyond_their_profile() -> None:
    """As analyze states them: a 98,304-token prompt's attention lies beyond the 32k rows
    SGLang's H100 prefill table was fitted over (simulate had said nothing)."""
    fixed = LengthDistribution.parse
    long = Workload(requests=1, prompt=fixed("prompt", "98304"), output=fixed("output", "2"))
    run = rooflens.simulate(LLAMA, "h100-sxm", long, engine="sglang", concurrency=1)
    assert len(run.notes) == 1 and run.notes[0].startswith("prefill: flash_attention: ")
    assert run.to_dict()["notes"] == list(run.notes)
    analysis = rooflens.analyze(LLAMA, "h100-sxm", engine="sglang", prompt_len=98304, gen_len=2)
    assert run.notes[0] in analysis.notes
    short = Workload(requests=1, prompt=fixed("prompt", "512"), output=fixed("output", "2"))
    assert rooflens.simulate(LLAMA, "h100-sxm", short, concurrency=1).notes == ()


def test_the_room_counts_what_a_request_holds_at_most() -> None:
    """Its prompt and every token but the last (whose keys no step caches), and its drafts:
    DeepSeek-V3's 63 + 2-token requests hold 64 tokens, one block of vLLM's 64 (the room had
    counted 65 tokens, two blocks: 5,810 requests where the analyzer's batch limit is 11,620)."""
    fixed = LengthDistribution.parse
    load = Workload(requests=2, prompt=fixed("prompt", "63"), output=fixed("output", "2"))
    run = rooflens.simulate("deepseek-ai/DeepSeek-V3", "h200-sxm", load, engine="vllm",
                            concurrency=1, tp=8)  # fmt: skip
    assert run.kv_room == run.to_dict()["memory"]["max_batch"] == 11620
    assert run.kv_room == run.kv_capacity // 64


def test_sglang_keeps_a_hybrids_states_in_a_pool_of_their_own() -> None:
    """SGLang's mamba pool (handle_max_mamba_cache, init_memory_pool): of the 53.5 GB the
    weights leave Qwen3.5-9B on an H100, 0.9 / 1.9 hold 491 states of 51.5 MB, the KV pool
    the remaining 28.2 GB (860,907 tokens of its 8 attention layers), and the radix cache
    caps the running requests at a third of the slots, 163 (the preset held 2,048, and
    counted room for 750 requests of 601 tokens and 90 of 16,385 in one pool)."""
    fixed = LengthDistribution.parse
    rooms = {}
    for prompt, output in ((512, 89), (16000, 385)):
        load = Workload(requests=2, prompt=fixed("prompt", str(prompt)),
                        output=fixed("output", str(output)))  # fmt: skip
        run = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang",
                                concurrency=1)  # fmt: skip
        rooms[prompt] = run.kv_room
        assert run.scheduler.max_batch == 163
        assert run.kv_bytes == pytest.approx(28.21e9, rel=1e-3)
        assert run.kv_capacity * 4 == pytest.approx(860_907, rel=1e-4)  # 8 of 32 layers
    assert rooms == {512: 491, 16000: 52}
    # Without prefix sharing (--disable-radix-cache) every slot may run a request.
    load = Workload(requests=2, prompt=fixed("prompt", "512"), output=fixed("output", "89"))
    uncached = SchedulerConfig(prefix_sharing=False)
    plain = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang",
                              concurrency=1, scheduler=uncached)  # fmt: skip
    assert plain.scheduler.max_batch == 491
    # ...and with a limit given too, SGLang keeps that many states, the KV cache the rest.
    given = SchedulerConfig(prefix_sharing=False, max_batch=64)
    limited = rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang",
                                concurrency=1, scheduler=given)  # fmt: skip
    assert (limited.scheduler.max_batch, limited.kv_room) == (64, 64)
    assert limited.kv_bytes == pytest.approx(53.50e9 - 64 * 51_511_296, rel=1e-3)


def test_a_state_pool_with_no_room_is_refused() -> None:
    """A pool of 2 states runs none with prefix sharing (a third of them), and drafts'
    intermediate states beyond the room leave none: each refused in one line (the first ran
    a request anyway, the second showed a negative KV capacity)."""
    fixed = LengthDistribution.parse
    load = Workload(requests=1, prompt=fixed("prompt", "64"), output=fixed("output", "8"))
    with pytest.raises(InvalidInputError, match=r"state_pool=True .* it holds 2 of 51\.5 MB"):
        rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, preset="sglang", concurrency=1,
                          scale_capacity=0.2265)  # fmt: skip
    drafting = SchedulerConfig(draft_tokens=3, max_batch=1024)
    with pytest.raises(InvalidInputError, match=r"max_batch=1024 .* at most 257 running requests"):
        rooflens.simulate("Qwen/Qwen3.5-9B", "h100-sxm", load, engine="sglang", concurrency=1,
                          scheduler=drafting)  # fmt: skip


def test_a_static_batch_is_admitted_on_its_whole_length() -> None:
    """A static batch holds each request's prompt and output from its start: 509 + 4 tokens
    in 512 were admitted by the continuous rule (512 tokens held at most) and stopped with an
    internal error."""
    args = ["simulate", "meta-llama/Llama-2-7b-hf", "-H", "h100-sxm", "--memory", "22406504448"]
    args += ["--concurrency", "1", "--requests", "1", "--prompt", "509", "--output", "4"]
    result = CliRunner().invoke(app, [*args, "--scheduler", "static"])
    assert result.exit_code == 2
    assert "room for the longest request (513 tokens: 33 blocks)" in " ".join(result.output.split())
    assert CliRunner().invoke(app, args).exit_code == 0  # continuous: 512 tokens, 32 blocks


def test_a_schedulers_fields_given_back_build_it_again() -> None:
    """A preset's fields as a scheduler gives them (its DP-balance timings at their
    defaults) build the same scheduler: the checks on timings without balancing refuse
    only values that would be ignored."""
    from rooflens.serving.presets import PRESETS

    for name, preset in PRESETS.items():
        assert SchedulerConfig(**preset.model_dump()) == preset, name
    with pytest.raises(InvalidInputError, match=r"^dp_balance_timeout=3 is invalid"):
        SchedulerConfig(policy="chunked", dp_balance_timeout=3)
