"""Replicas behind a router, or a prefill pool handing KV caches to a decode pool."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import numpy as np

from rooflens.serving.config import ClusterConfig, SchedulerConfig
from rooflens.serving.engine import Engine, EngineRecord, Mode, OnFinish, same_time
from rooflens.serving.replica import Replica
from rooflens.serving.workload import Requests

Progress = Callable[[int], None] | None


def _route(
    engines: list[Engine], ready: np.ndarray, order: np.ndarray, router: str, progress: Progress
) -> np.ndarray:
    """Send requests (in `order` of readiness) to engines; return each request's engine.
    `ready`: when each is routed (sent; the engines read when it reaches them)."""
    assignment = np.full(len(ready), -1, dtype=np.int64)
    if router == "round_robin" or len(engines) == 1:
        assignment[order] = np.arange(len(order)) % len(engines)
        for k, engine in enumerate(engines):
            engine.submit(order[assignment[order] == k].tolist())
    else:
        # Least outstanding requests: every replica is brought up to the arrival first.
        for i in order:
            t = float(ready[i])
            for engine in engines:
                engine.run(until=t, progress=progress)
            k = int(np.argmin([engine.outstanding(t) for engine in engines]))
            engines[k].submit([int(i)])
            assignment[i] = k
    if engines[0].peers:
        # Ranks that balance prompts read each other's queues: they run side by side.
        if progress:
            for engine in engines:
                engine.on_finish = lambda done, _times: progress(len(done))
        _lockstep(engines)
    else:
        for engine in engines:
            engine.run(progress=progress)
    return assignment


def _pool(
    replica: Replica,
    config: SchedulerConfig,
    requests: Requests,
    ready: np.ndarray,
    size: int,
    mode: Mode,
    max_len: int,
    last_token: np.ndarray | None = None,
    on_finish: OnFinish | None = None,
) -> list[Engine]:
    engines = [
        Engine(
            replica,
            config,
            requests.prompt,
            requests.output,
            ready,
            mode=mode,
            shared_prefix=requests.shared_prefix,
            max_len=max_len,
            last_token=last_token,
            on_finish=on_finish,
        )
        for _ in range(size)
    ]
    if config.dp_balance and mode == "full" and config.policy == "chunked":
        # One engine's attention-DP ranks, balancing new prompts across them.
        for engine in engines:
            engine.peers = tuple(engines)
    return engines


def transfer_seconds(
    prefill: Replica, decode: Replica, prompt: np.ndarray, link: float | None
) -> np.ndarray:
    """The KV hand-over of each prompt: every decode device receives its own shard of the
    cache over its own link, and the prefill devices send every decode device's shard over
    theirs, so a larger decode pool waits on its senders. A shard held on several devices
    (MLA's latent, GQA's heads under TP wider than they are) is sent once per receiver, not
    once per prefill device that holds it."""
    link = link or prefill.link_bandwidth or np.inf
    shard = decode.kv_kept(prompt) * decode.kv_bytes_per_token
    return shard * max(1.0, decode.devices / prefill.devices) / link


def serve(
    replica: Replica,
    config: SchedulerConfig,
    cluster: ClusterConfig,
    requests: Requests,
    max_len: int,
    progress: Progress = None,
    concurrency: int | None = None,
    decode_replica: Replica | None = None,
) -> tuple[list[EngineRecord], np.ndarray, dict[str, np.ndarray]]:
    """Run the cluster. Returns each engine's record, each request's engine, and request
    times merged over engines (arrival, first token, finish, start, preemptions, hand-over).

    `concurrency`: a closed loop of that many clients, each sending its next request when its
    last one finishes (the requests' arrival times are then ignored). `decode_replica`: the
    decode pool's replica when it differs from the prefill pool's (disaggregation)."""
    decode_replica = decode_replica or replica
    if concurrency is not None:
        return _closed_loop(
            replica, decode_replica, config, cluster, requests, max_len, progress, concurrency
        )
    order = np.argsort(requests.arrival, kind="stable")
    # Each request reaches the engines its serving path's time after it is sent.
    at_engine = requests.arrival + request_path(replica)
    sent = {"arrival": requests.arrival, "at_engine": at_engine}
    if not cluster.disaggregated:
        engines = _pool(replica, config, requests, at_engine, cluster.replicas, "full", max_len)
        # The router, before the serving path, picks an engine when the request is sent.
        assignment = _route(engines, requests.arrival, order, cluster.router, progress)
        records = [e.record() for e in engines]
        return records, assignment, _merge(records, assignment) | sent
    prefill = _pool(
        replica, config, requests, at_engine, cluster.prefill_replicas, "prefill", max_len
    )
    on_prefill = _route(prefill, requests.arrival, order, cluster.router, None)
    first = _merge([e.record() for e in prefill], on_prefill)
    handed = first["handoff"]
    moved = transfer_seconds(replica, decode_replica, requests.prompt, cluster.kv_link_bandwidth)
    ready = handed + moved
    needs_decode = requests.output > 1
    decode = _pool(
        decode_replica,
        config,
        requests,
        ready,
        cluster.decode_replicas,
        "decode",
        max_len,
        last_token=first["first_token"].copy(),
    )
    decode_order = np.argsort(np.where(needs_decode, ready, np.inf), kind="stable")
    decode_order = decode_order[: int(needs_decode.sum())]
    on_decode = _route(decode, ready, decode_order, cluster.router, progress)
    if progress:
        progress(int((~needs_decode).sum()))
    second = _merge([e.record() for e in decode], on_decode)
    times = dict(first)
    times["finish"] = np.where(needs_decode, second["finish"], first["handoff"])
    times["preemptions"] = first["preemptions"] + second["preemptions"]
    times["generated"] = np.where(needs_decode, second["generated"], first["generated"])
    times |= sent
    records = [e.record() for e in prefill] + [e.record() for e in decode]
    assignment = np.where(needs_decode, on_decode + len(prefill), on_prefill)
    return records, assignment, times


def request_path(replica: Replica) -> float:
    """Seconds a request takes from its client to the engine's scheduler and its tokens back,
    outside the iterations (EfficiencyProfile.request_time; 0 without a profile): counted on
    its way in, which delays its client's next request by as much as its way back would. The
    router sits before that path: it picks an engine when the request is sent."""
    return replica.profile.request_time if replica.profile is not None else 0.0


class _Router:
    """Picks an engine for each request sent while the engines run (a closed loop)."""

    def __init__(self, engines: list[Engine], rule: str, assignment: np.ndarray) -> None:
        self.engines, self.rule, self.assignment = engines, rule, assignment
        self.turn = 0

    def send(self, i: int, at: float) -> None:
        """Request `i`, sent at `at`."""
        if self.rule == "round_robin":
            k, self.turn = self.turn % len(self.engines), self.turn + 1
        else:
            k = int(np.argmin([e.outstanding(at) for e in self.engines]))
        self.assignment[i] = k
        self.engines[k].submit_one(i)


def _lockstep(engines: list[Engine]) -> None:
    """Run engines that send each other requests (their `on_finish`) to the end.

    The engine furthest behind takes its next iteration, or a decode-only run whose steps all
    start before any other engine can next finish a request. What engines finish is held and
    passed on in the order of the finish times (ties: in the engines' order), once no engine
    can still finish one earlier, so a router sees requests in the order they were sent. An
    iteration starts only once every request sent before it has been passed on; one sent while
    it runs joins the next, as an engine admits requests only between iterations."""
    if len(engines) == 1:
        engines[0].run()
        return
    sends = [e.on_finish for e in engines]
    held: list[tuple[float, int, int, int]] = []  # a heap of finish time, engine, order, request
    order = itertools.count()

    def holding(k: int) -> OnFinish:
        def hold(done: np.ndarray, times: np.ndarray) -> None:
            for i, t in zip(done.tolist(), times.tolist(), strict=True):
                heapq.heappush(held, (t, k, next(order), i))

        return hold

    for k, engine in enumerate(engines):
        engine.on_finish = holding(k)
    while True:
        while held:
            first = held[0][0]
            close = first + same_time(first)
            if close >= min(e.next_emission() for e in engines):
                break
            # Finishes at one instant go out together, in the engines' order: whoever gets
            # them next iterates after that instant, so none can finish anything before it.
            instant = []
            while held and held[0][0] <= close:
                instant.append(heapq.heappop(held))
            for t, k, _, i in sorted(instant, key=lambda h: h[1:3]):
                send = sends[k]
                if send is not None:
                    send(np.array([i]), np.array([t]))
        when = np.array([e.next_event() for e in engines])
        if when.min() == np.inf:
            if not held:
                return
            continue
        # Engines level with the furthest behind go in their order, whatever the last bits.
        k = int(np.argmax(when <= when.min() + same_time(when.min())))
        horizon = min(e.next_emission() for j, e in enumerate(engines) if j != k)
        if held:
            horizon = min(horizon, held[0][0])
        engines[k].once(horizon=horizon)


def _closed_loop(
    replica: Replica,
    decode_replica: Replica,
    config: SchedulerConfig,
    cluster: ClusterConfig,
    requests: Requests,
    max_len: int,
    progress: Progress,
    concurrency: int,
) -> tuple[list[EngineRecord], np.ndarray, dict[str, np.ndarray]]:
    """C clients share one queue of the requests in order: the first C are sent at once, and
    each request's finish sends the next unsent one (zero think time), in the order requests
    finish, so C are in flight until the last is sent, as vLLM's benchmark_serving
    --max-concurrency runs them (every request's task waits on one semaphore of C) and
    genai-perf's concurrency mode keeps C outstanding."""
    n = len(requests)
    clients = min(concurrency, n)
    # A request reaches the engines its serving path's time after its client sends it.
    way_in = request_path(replica)
    sent = np.full(n, np.inf)
    sent[:clients] = 0.0
    at_engine = sent + way_in
    unsent = iter(range(clients, n))
    full = not cluster.disaggregated
    first_pool = _pool(
        replica,
        config,
        requests,
        at_engine,
        cluster.replicas if full else cluster.prefill_replicas,
        "full" if full else "prefill",
        max_len,
    )
    on_first = np.full(n, -1, dtype=np.int64)
    to_first = _Router(first_pool, cluster.router, on_first)

    def next_of_clients(done: np.ndarray, times: np.ndarray) -> None:
        if progress:
            progress(len(done))
        # Finishes reach here in time order (one engine's at one instant, or _lockstep's).
        for t in np.sort(times).tolist():
            i = next(unsent, None)
            if i is None:
                return
            sent[i] = t
            at_engine[i] = t + way_in
            to_first.send(i, t)

    engines = list(first_pool)
    decode_pool: list[Engine] = []
    on_decode = np.full(n, -1, dtype=np.int64)
    if full:
        for engine in first_pool:
            engine.on_finish = next_of_clients
    else:
        moved = transfer_seconds(
            replica, decode_replica, requests.prompt, cluster.kv_link_bandwidth
        )
        decode_ready = np.full(n, np.inf)
        last_token = np.full(n, np.nan)
        decode_pool = _pool(
            decode_replica,
            config,
            requests,
            decode_ready,
            cluster.decode_replicas,
            "decode",
            max_len,
            last_token=last_token,
            on_finish=next_of_clients,
        )
        to_decode = _Router(decode_pool, cluster.router, on_decode)

        def hand_over(done: np.ndarray, times: np.ndarray) -> None:
            last_token[done] = times
            decode_ready[done] = times + moved[done]
            one_token = requests.output[done] <= 1
            for i, t in zip(done[~one_token].tolist(), times[~one_token].tolist(), strict=True):
                to_decode.send(i, t)
            next_of_clients(done[one_token], times[one_token])

        for engine in first_pool:
            engine.on_finish = hand_over
        engines += decode_pool
    for i in range(clients):
        to_first.send(i, 0.0)
    _lockstep(engines)
    first = _merge([e.record() for e in first_pool], on_first)
    first["arrival"] = sent
    first["at_engine"] = at_engine
    records = [e.record() for e in engines]
    if full:
        return records, on_first, first
    second = _merge([e.record() for e in decode_pool], on_decode)
    decoded = on_decode >= 0
    first["finish"] = np.where(decoded, second["finish"], first["handoff"])
    first["preemptions"] = first["preemptions"] + second["preemptions"]
    first["generated"] = np.where(decoded, second["generated"], first["generated"])
    assignment = np.where(decoded, on_decode + len(first_pool), on_first)
    return records, assignment, first


def _merge(records: list[EngineRecord], assignment: np.ndarray) -> dict[str, np.ndarray]:
    n = len(assignment)
    out = {}
    for key in ("first_token", "finish", "start", "handoff", "preemptions", "generated"):
        counts = key in ("preemptions", "generated")
        merged = np.zeros(n, dtype=np.int64) if counts else np.full(n, np.nan)
        for k, record in enumerate(records):
            mine = assignment == k
            merged[mine] = getattr(record, key)[mine]
        out[key] = merged
    return out
