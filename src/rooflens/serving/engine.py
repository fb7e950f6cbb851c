"""One replica's engine, iteration by iteration: admission, KV blocks, preemption, pricing.

The clock advances by the analyzer's price of each iteration (rooflens.core.batching), so
nothing here has a cost formula of its own except moving swapped KV over the host link.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rooflens.serving.config import SchedulerConfig
from rooflens.serving.replica import Replica

Mode = Literal["full", "prefill", "decode"]
# Fewer decode-only steps than this are cheaper one by one than priced as a run.
MIN_RUN = 4
# Decode-only steps priced together for one set of sequences that the engine takes a step at
# a time (Engine._decode_step_time): enough to cover the steps before one of them finishes in
# most batches, few enough that pricing those not taken costs little.
DECODE_STEPS_PRICED = 32
# Called with the requests an engine has just finished (a prefill engine: handed over) and
# their finish times, so that a closed loop can send each client's next request.
OnFinish = Callable[[np.ndarray, np.ndarray], None]
TIMELINE = (
    "start",
    "duration",
    "decode_seqs",
    "prefill_seqs",
    "prefill_tokens",
    "kv_tokens",
    "waiting",
    "running",
)
# same_time's instant: a picosecond, relative beyond a second.
INSTANT = 1e-12


def same_time(t: float) -> float:
    """How close another time must be to `t` to be the same instant: a decode run's step times
    summed at once and the same steps summed a few at a time differ in their last bits, and a
    request sent at the end of one must still join the iteration that starts at the end of the
    other (a picosecond, relative beyond a second; none around never)."""
    return INSTANT * max(1.0, abs(t)) if math.isfinite(t) else 0.0


def same_times(t: np.ndarray) -> np.ndarray:
    """same_time of each of `t` (finite times: a timeline's)."""
    return INSTANT * np.maximum(1.0, np.abs(t))


@dataclass(frozen=True)
class EngineRecord:
    """What one engine measured: per-request times (NaN where not reached) and its timeline."""

    first_token: np.ndarray
    finish: np.ndarray
    start: np.ndarray
    handoff: np.ndarray
    preemptions: np.ndarray
    generated: np.ndarray
    timeline: dict[str, np.ndarray]
    kv_capacity_tokens: int
    # Gaps between consecutive tokens of the same request, pooled over requests.
    itl: np.ndarray


class Engine:
    """Serves the requests submitted to it (indices into the shared request arrays).

    mode 'full' prefills and decodes; 'prefill' stops at the first token and hands the
    request over (disaggregation); 'decode' receives requests whose prompt is already cached.
    """

    def __init__(
        self,
        replica: Replica,
        config: SchedulerConfig,
        prompt: np.ndarray,
        output: np.ndarray,
        ready: np.ndarray,
        *,
        mode: Mode = "full",
        shared_prefix: int = 0,
        max_len: int,
        last_token: np.ndarray | None = None,
        on_finish: OnFinish | None = None,
    ) -> None:
        """`ready` may be filled in while the engine runs (a closed loop) for requests not yet
        submitted; `last_token`: when each request's latest token came out (a decode engine
        receives it from the prefill engine), for inter-token gaps."""
        self.replica, self.config, self.mode = replica, config, mode
        self.on_finish = on_finish
        self.prompt, self.output, self.ready = prompt, output, ready
        n = len(prompt)
        self.target = prompt.astype(np.int64).copy()
        self.kv = np.zeros(n, dtype=np.int64)
        self.generated = np.zeros(n, dtype=np.int64)
        self.units = np.zeros(n, dtype=np.int64)
        self.swapped = np.zeros(n, dtype=bool)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.first_token = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        # This engine's finish times in order: what a router counts as done by a time.
        self.finish_times: list[float] = []
        self.start = np.full(n, np.nan)
        self.handoff = np.full(n, np.nan)
        self.last_token = np.full(n, np.nan) if last_token is None else last_token
        self.gaps: list[np.ndarray] = []
        paged = config.kv_layout == "paged"
        self.unit = config.block_size if paged else 1
        self.capacity = replica.kv_tokens // self.unit
        self.prefix = shared_prefix if config.prefix_sharing else 0
        self.prefix_cached = False
        # The shared prefix is held once, for every request, from the first that computes it.
        kept, shared = replica.kv_kept, replica.shared_kept
        self.used = self._units_for(shared(self.prefix)) if self.prefix else 0
        self.reserve = None if paged else self._units_for(kept(max_len) - shared(self.prefix))
        if mode == "decode":
            self.kv[:] = self.target
            self.generated[:] = 1
        self.pending: list[int] = []
        self.next_pending = 0
        # The timeline row from which each request is in this engine's queue (inf: not yet
        # taken in), for the requests that had reached it before (record).
        self.taken_in = np.full(n, np.inf)
        self.waiting: list[tuple[float, int, int]] = []
        self.running: list[int] = []
        self.clock = 0.0
        self.finished = 0
        # Iterations since the engine last looked for new requests (SGLang's receive counter,
        # which starts full: the first loop looks).
        self.since_receive = config.receive_interval
        # Iterations TensorRT-LLM's batch waiting has held prompts back since it last let
        # them go.
        self.held_prompts = 0
        # The other attention-DP ranks of one engine with this one (the cluster sets them
        # under dp_balance), this rank's two balancing counts, and a release another rank
        # made for every rank.
        self.peers: tuple[Engine, ...] = ()
        self.dp_waited = 0
        self.dp_batched = 0
        self.dp_released = False
        self.timeline: dict[str, list[float]] = {k: [] for k in TIMELINE}
        self._sequence = 0
        # Bumped whenever the engine's state changes: next_emission's cache key.
        self._version = 0
        # The decode-only steps last priced as one run (_decode_step_time): the sequences, their
        # contexts at its first step, and its step times.
        self._decode_steps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._plan_version = -1
        self._plan: tuple[np.ndarray, np.ndarray] | None = None
        self._emission = math.inf
        # The contexts of requests the last step finished that the next decode step still
        # carries (SGLang's overlap loop: SchedulerConfig.finished_step).
        self.finished_kv = np.zeros(0, dtype=np.int64)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _units_for(self, tokens: int | np.ndarray) -> int | np.ndarray:
        return -(-np.maximum(tokens, 0) // self.unit)

    def _held(self, kv: int | np.ndarray) -> int | np.ndarray:
        """Units a request with `kv` cached tokens holds (its share beyond the shared prefix;
        windowed layers hold only their window)."""
        if self.reserve is not None:
            return self.reserve
        kept, shared = self.replica.kv_kept, self.replica.shared_kept
        return self._units_for(kept(kv) - shared(self.prefix))

    def submit(self, requests: list[int]) -> None:
        """Hand requests to this engine, in order of readiness."""
        self.pending.extend(requests)
        self._version += 1

    def submit_one(self, i: int) -> None:
        """Hand over one request while running: it joins the pending ones by readiness."""
        ready = self.ready
        bisect.insort(self.pending, i, lo=self.next_pending, key=lambda j: ready[j])
        self._version += 1

    def next_event(self) -> float:
        """When this engine next has something to do (inf: nothing submitted is left)."""
        if self.running or self.waiting or len(self.finished_kv):
            return self.clock
        if self.next_pending < len(self.pending):
            return max(self.clock, float(self.ready[self.pending[self.next_pending]]))
        return math.inf

    def outstanding(self, at: float) -> int:
        """Requests handed to this engine and not finished by `at` (an engine may have run
        past it: what it finishes later is not yet known to a router at `at`)."""
        return len(self.pending) - bisect.bisect_right(self.finish_times, at + same_time(at))

    def _queue(self, i: int, front: bool = False) -> None:
        # Preempted requests go back first (vLLM requeues them at the head).
        if front:
            key = -1.0 - self.preemptions[i]
        elif self.config.queue == "spf":
            key = float(self.target[i])
        else:
            key = float(self.ready[i])
        self._sequence += 1
        heapq.heappush(self.waiting, (key, self._sequence, i))

    def _due(self) -> bool:
        """The next submitted request is ready now (or an instant later: last bits)."""
        return self.next_pending < len(self.pending) and bool(
            self.ready[self.pending[self.next_pending]] <= self.clock + same_time(self.clock)
        )

    @property
    def interval(self) -> int:
        """Decode iterations between the engine's looks for new requests."""
        return self.config.receive_interval

    def _receiving(self) -> bool:
        """The engine looks for new requests now: every iteration, or (receive_interval > 1,
        SGLang's scheduler_recv_skipper.py) once that many decode iterations have run since it
        last looked, after any prefill iteration, and whenever it is idle."""
        idle = not self.running and not self.waiting
        return self.interval <= 1 or idle or self.since_receive >= self.interval

    def _formed(self) -> float:
        """The instant the coming iteration's requests were fixed. With the overlap schedule a
        busy replica formed it as the iteration before it started, so a request that reached
        the replica then or later (a client's next, sent when the engine reported the last one
        finished, after it had formed this iteration) joins the one after. inf: the replica
        forms it now from what has arrived (no overlap, an idle replica, or a disaggregated
        prefill pool: TensorRT-LLM's context servers run without the overlap scheduler, and
        rooflens keeps the others' prefill pools alike)."""
        busy = self.running or self.waiting or len(self.finished_kv)
        if self.config.overlap and self.mode != "prefill" and busy and self.timeline["start"]:
            return self.timeline["start"][-1]
        return math.inf

    def _arrive(self) -> None:
        if not self._receiving():
            return
        self.since_receive = 0
        formed = self._formed()
        cutoff = formed - same_time(formed) if formed < math.inf else math.inf
        while self._due() and self.ready[self.pending[self.next_pending]] < cutoff:
            i = self.pending[self.next_pending]
            # One sent an instant later (last bits) arrives now: never before it was sent.
            self.clock = max(self.clock, float(self.ready[i]))
            self.taken_in[i] = len(self.timeline["start"])
            self._queue(i)
            self.next_pending += 1
            self._version += 1

    # -- the loop ------------------------------------------------------------------------------

    def run(self, until: float = math.inf, progress: Callable[[int], None] | None = None) -> None:
        """Iterate until every submitted request is done or the clock reaches `until`."""
        while self.once(until, progress, horizon=until):
            pass

    def once(
        self,
        until: float = math.inf,
        progress: Callable[[int], None] | None = None,
        horizon: float = math.inf,
    ) -> bool:
        """One iteration (or a wait for the next arrival, or a run of decode-only iterations
        that start before `horizon`, when nothing else can join them); False when there is
        nothing to do before `until`."""
        self._arrive()
        if not self.running and not self.waiting:
            if len(self.finished_kv):
                if self.clock >= until:
                    return False
                # Every request finished, and none arrived in time for the iteration the
                # replica formed meanwhile: it decodes the finished ones once more.
                seconds = self.replica.step_time(self.finished_kv)
                self._advance(seconds, [], [], finished=len(self.finished_kv))
                self.finished_kv = self.finished_kv[:0]
                self._version += 1
                return True
            if self.next_pending >= len(self.pending):
                return False
            nxt = float(self.ready[self.pending[self.next_pending]])
            if nxt >= until:
                return False
            self.clock = max(self.clock, nxt)
            self._version += 1
            return True
        if self.clock >= until:
            return False
        before = self.finished
        if self.config.policy == "static":
            self._static_batch()
            self._version += 1
        elif not self._decode_run(horizon):
            self._iteration()
            self._version += 1
        if progress and self.finished != before:
            progress(self.finished - before)
        return True

    def _iteration(self) -> None:
        cfg = self.config
        if self.mode == "decode":
            decoders, swap = self._grow(self._decoders())
            admitted, swap_in = self._admit(
                cfg.iteration_tokens - len(decoders) * cfg.decode_tokens, whole=True
            )
            # Handed-over requests decode at once; one preempted here by recomputation
            # prefills its prompt and tokens so far on this replica first.
            handed = [i for i, chunk in admitted if chunk == 0]
            recomputed = [(i, chunk) for i, chunk in admitted if chunk > 0]
            self._run(decoders + handed, recomputed, swap + swap_in)
        elif cfg.policy == "continuous":
            # Waiting prompts take an iteration of their own; decoding pauses meanwhile. With a
            # chunk size, prompts are cut into chunks of it (SGLang's chunked prefill).
            decoders, grown = [], 0.0
            mixing = cfg.mixes_decodes
            if cfg.chunk_size is None:
                chunks, swap = (
                    self._admit(cfg.max_tokens, whole=True) if self.waiting else ([], 0.0)
                )
            else:
                # SGLang's PrefillAdder (managers/schedule_policy.py): chunked_prefill_size
                # bounds the prefill batch's prompt tokens, a prompt being cut to what it
                # leaves; max_prefill_tokens only decides whether another whole prompt joins
                # a batch that holds one. Mixed, the decodes ride along and each takes its
                # token and drafts off both.
                if mixing:
                    decoders, grown = self._grow(self._decoders())
                size = cfg.chunk_size - len(decoders) * cfg.decode_tokens
                chunks = self._continue_prefills(size, size)
                taken = sum(c for _, c in chunks)
                admitted, swap = self._admit(
                    size - taken,
                    whole=False,
                    alone=not chunks,
                    joins=cfg.max_tokens - len(decoders) * cfg.decode_tokens - taken,
                )
                chunks += admitted
            if chunks or mixing:
                self._run(decoders, chunks, swap + grown)
                return
            decoders, swap_out = self._grow(self._decoders())
            self._run(decoders, [], swap + swap_out)
        else:
            # Decodes first, then prompt chunks of running requests, then new requests (whole
            # ones only, when prompts are not split: alone if longer than the budget).
            decoders, swap = self._grow(self._decoders())
            budget = cfg.max_tokens - len(decoders) * cfg.decode_tokens
            chunks = self._continue_prefills(budget)
            budget -= sum(c for _, c in chunks)
            # Both rules count every iteration, whether or not the other holds the prompts.
            balancing = self._balancing()
            if self._holding_prompts(decoders, budget) or balancing:
                self._run(decoders, chunks, swap)
                return
            admitted, swap_in = self._admit(
                budget, whole=not cfg.split_prompts, alone=not decoders and not chunks
            )
            self._run(decoders, chunks + admitted, swap + swap_in)

    def _holding_prompts(self, decoders: list[int], budget: int) -> bool:
        """TensorRT-LLM's batch waiting (py_executor.py, _waiting_requests): in an iteration
        that decodes and would also take new prompts, they are held back until their tokens
        (each request's whole prompt, as it counts them) and the decodes reach
        batch_wait_ratio of the token budget, or it has held them batch_wait_iterations
        iterations; letting them go restarts that count. Either setting at 0 never holds.
        A prompt rooflens cut into chunks went whole in TensorRT-LLM (its default does not
        chunk): its later chunks are not held, and `budget` is what they leave."""
        cfg = self.config
        if not decoders or not cfg.batch_wait_iterations or not cfg.batch_wait_ratio:
            return False
        contexts = prompt_tokens = 0
        # The queue's head, as far as the budget and the batch reach (KV blocks not checked:
        # the count only decides whether prompts go now).
        room = cfg.max_batch - len(self.running)
        for _, _, i in heapq.nsmallest(max(room, 0), self.waiting):
            if budget <= 0:
                break
            if self.swapped[i]:
                continue
            budget -= min(int(self.target[i] - self.kv[i]), budget, cfg.chunk)
            contexts, prompt_tokens = contexts + 1, prompt_tokens + int(self.target[i])
        if not contexts:
            return False
        decode_tokens = len(decoders) * cfg.decode_tokens
        enough = prompt_tokens + decode_tokens >= cfg.batch_wait_ratio * cfg.max_tokens
        if self.held_prompts >= cfg.batch_wait_iterations or enough:
            self.held_prompts = 0
            return False
        self.held_prompts += 1
        return True

    def _has_new(self, at: float) -> bool:
        """Prompts wait here, or one has reached this engine by `at` (not yet taken in)."""
        return bool(self.waiting) or (
            self.next_pending < len(self.pending)
            and bool(self.ready[self.pending[self.next_pending]] <= at + same_time(at))
        )

    def _balancing(self) -> bool:
        """TensorRT-LLM's attention-DP balance (py_executor.py, _balance_adp_requests), as one
        rank here takes it: new prompts go when every rank has one waiting and every rank is
        below its batch limit (after dp_balance_wait more iterations while every rank
        generates), and then on every rank; else once dp_balance_timeout iterations have
        passed since the last time they went, or while some rank generates nothing. True:
        hold this iteration's new prompts. TensorRT-LLM's ranks step together and share one
        count; here each counts its own iterations (a rank with nothing waiting only counts,
        also through a run of decode steps) and reads the others as they stand."""
        cfg = self.config
        if not cfg.dp_balance or len(self.peers) < 2:
            return False
        if not self.waiting:
            self.dp_waited = (self.dp_waited + 1) % cfg.dp_balance_timeout
            return False
        if self.dp_released:
            self.dp_released, self.dp_waited, self.dp_batched = False, 0, 0
            return False
        generating = [len(peer._decoders()) for peer in self.peers]
        every_gen = all(generating)
        if all(n < cfg.max_batch for n in generating) and all(
            peer._has_new(self.clock) for peer in self.peers
        ):
            self.dp_waited = 0
            if every_gen and self.dp_batched < cfg.dp_balance_wait:
                self.dp_batched += 1
                return True
            self.dp_batched = 0
            for peer in self.peers:
                # The others let theirs go in their next iteration too.
                peer.dp_released = peer is not self and peer._has_new(self.clock)
            return False
        self.dp_waited += 1
        if self.dp_waited >= cfg.dp_balance_timeout or not every_gen:
            self.dp_waited = 0
            return False
        return True

    def _run(self, decoders: list[int], chunks: list[tuple[int, int]], swap_time: float) -> None:
        if decoders or chunks:
            self._step(decoders, chunks, swap_time)
        elif swap_time:
            self._advance(swap_time, [], [])
        elif self._decoders():
            # Swapped back in at no cost (no host link to price): they decode next iteration.
            return
        elif self.running:
            # Prompt chunks blocked on KV blocks that only they hold: free the latest.
            self._advance(self._preempt(self.running[-1]), [], [])
        else:
            self._stall()

    def next_emission(self) -> float:
        """A lower bound on when this engine next finishes (a prefill engine: hands over) a
        request, were nothing new to reach it before then: the end of the decode-only run it
        would take now, since a run finishes nothing before its last step; otherwise when it
        next acts, plus a few nanoseconds (every iteration lasts longer). Cached until the
        engine runs or is handed a request."""
        if self._plan_version == self._version:
            return self._emission
        self._plan_version, self._plan = self._version, None
        after = self.next_event()
        self._emission = after + 4 * same_time(after)
        if self.config.policy != "static" and not (self._due() and self._receiving()):
            plan = self._decode_plan(math.inf)
            if plan is not None:
                self._plan = plan
                self._emission = self.clock + float(np.sum(plan[1]))
        return self._emission

    def _decode_plan(self, horizon: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The requests and step times of the decode-only run `_decode_run` would take now,
        without taking it; None when it would take an ordinary iteration instead."""
        if self.mode == "prefill" or len(self.running) < 1 or len(self.finished_kv):
            return None
        ids = np.fromiter(self.running, np.int64, len(self.running))
        if np.any(self.kv[ids] < self.target[ids]) or np.any(self.swapped[ids]):
            return None
        if self.waiting and not self._blocked(ids):
            return None
        steps = int((self.output[ids] - self.generated[ids]).min())
        arrival = math.inf
        if self.next_pending < len(self.pending):
            arrival = float(self.ready[self.pending[self.next_pending]])
        # A request arriving during the run joins at the engine's next look for new ones.
        waits = self.interval > 1 and arrival < horizon
        limit = min(horizon, arrival)
        durations = self.timeline["duration"]
        if durations and durations[-1] > 0 and limit < math.inf:
            # Steps only lengthen as contexts grow: the last one bounds how many fit.
            fit = int((limit - self.clock) / durations[-1]) + 2
            steps = min(steps, fit + self.interval if waits else fit)
        free = self.capacity - self.used
        while (
            steps >= MIN_RUN
            and int(
                np.sum(
                    self._held(self.kv[ids] + steps + self.config.draft_tokens) - self.units[ids]
                )
            )
            > free
        ):
            steps //= 2
        if steps < MIN_RUN:
            return None
        times = self.replica.decode_run(self.kv[ids], steps)
        if times is None:
            return None
        if waits:
            times = times[: self._next_look(times, arrival)]
            return self._before(ids, times, horizon)
        return self._before(ids, times, limit)

    def _next_look(self, times: np.ndarray, arrival: float) -> int:
        """Steps of a decode run after which the engine first looks for new requests with the
        one arriving at `arrival` there: it looks after receive_interval decode steps counted
        from its last look, so at `first`, `first + interval`, ... steps into the run."""
        starts = self.clock + np.cumsum(times) - times
        before = int(np.count_nonzero(starts < arrival - same_time(arrival)))
        first = max(self.interval - self.since_receive, 0)
        if before <= first:
            return first
        return first + -(-(before - first) // self.interval) * self.interval

    def _before(
        self, ids: np.ndarray, times: np.ndarray, horizon: float, least: int = MIN_RUN
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The run's steps that start before `horizon` (not at the same instant); None when
        fewer than `least`."""
        starts = self.clock + np.cumsum(times) - times
        steps = int(np.count_nonzero(starts < horizon - same_time(horizon)))
        return (ids, times[:steps]) if steps >= least else None

    def _decode_run(self, horizon: float) -> bool:
        """Decode-only iterations in one vectorized pass, up to the first request's last token:
        only when nothing waits, every running request decodes, no submitted request becomes
        ready before a step would start (and none can arrive before `horizon`), and the KV
        blocks for the whole run are free. False: take one ordinary iteration instead."""
        priced = self._plan if self._plan_version == self._version else None
        # The run next_emission priced, cut where the horizon cuts it.
        # A run already priced costs nothing more to take in part: even one step of it.
        plan = self._decode_plan(horizon) if priced is None else self._before(*priced, horizon, 1)
        if plan is None:
            return False
        ids, times = plan
        starts = self.clock + np.cumsum(times) - times
        steps = len(times)
        b = len(ids)
        # Step k holds each sequence's blocks for its context k + 1 tokens on and its drafts,
        # as a step taken alone does once it has grown them (a steps x sequences array,
        # summed).
        ahead = np.arange(1, steps + 1)[:, None] + self.config.draft_tokens
        grown = self._held(self.kv[ids] + ahead) - self.units[ids]
        kv_tokens = (self.used + np.sum(grown, axis=-1)) * self.unit
        extra = self._held(self.kv[ids] + steps + self.config.draft_tokens) - self.units[ids]
        self.units[ids] += extra
        self.used += int(extra.sum())
        # The queue stays as it is through the run (nothing joins it or leaves it before the
        # run ends); record() adds the requests that reach the replica meanwhile.
        columns = (starts, times, b, 0, 0.0, kv_tokens, len(self.waiting), b)
        for key, values in zip(TIMELINE, columns, strict=True):
            self.timeline[key].extend(np.broadcast_to(values, (steps,)).tolist())
        first_gap = self.clock + times[0] - self.last_token[ids]
        self.gaps.append(first_gap[~np.isnan(first_gap)])
        self.gaps.append(np.repeat(times[1:], b))
        self.clock = float(starts[-1] + times[-1])
        # It looked (and restarted its count) after every receive_interval of these steps.
        self.since_receive = (self.since_receive + steps - 1) % self.interval + 1
        if self.config.dp_balance and len(self.peers) > 1:
            # Nothing waits during a run: each step only counts (_balancing).
            self.dp_waited = (self.dp_waited + steps) % self.config.dp_balance_timeout
        self.last_token[ids] = self.clock
        self.kv[ids] += steps
        self.generated[ids] += steps
        self._retire(ids)
        self._version += 1
        if priced is not None and steps < len(priced[1]):
            # A run cut short finished nothing and let nothing in: the rest of it stays priced.
            rest = priced[1][steps:]
            self._plan, self._plan_version = (ids, rest), self._version
            self._emission = self.clock + float(np.sum(rest))
        return True

    def _blocked(self, ids: np.ndarray) -> bool:
        """The head of the queue cannot join any of the coming decode-only steps: the batch is
        full, or its first chunk needs more blocks than the first step leaves free (decodes
        only take more blocks, and nothing finishes before the run ends)."""
        if len(self.running) >= self.config.max_batch:
            return True
        i = self.waiting[0][2]
        if self.swapped[i] or self.prefix:
            return False
        cfg, remaining = self.config, int(self.target[i] - self.kv[i])
        decode_tokens = len(ids) * cfg.decode_tokens
        # Continuous batching admits prompts before the decodes grow; the others after.
        growth = int(np.sum(self._held(self.kv[ids] + cfg.decode_tokens) - self.units[ids]))
        if self.mode == "decode" and self.kv[i] >= self.target[i]:
            chunk = cfg.decode_tokens
        elif cfg.mixes_decodes:
            # Mixed: the decodes grow first and take their tokens off both budgets.
            chunk = min(remaining, cfg.chunk_size - decode_tokens)
            if chunk <= 0 or cfg.max_tokens - decode_tokens <= 0:
                return True
        elif cfg.policy == "continuous":
            chunk = remaining if cfg.chunk_size is None else min(remaining, cfg.chunk_size)
            growth = 0
        elif not cfg.split_prompts:
            # Whole prompts only: one that does not fit beside the decodes waits for them.
            chunk = remaining
            if chunk > cfg.max_tokens - decode_tokens:
                return True
        else:
            chunk = min(remaining, cfg.max_tokens - decode_tokens, cfg.chunk)
            if chunk <= 0:
                return True
        need = self._held(self.kv[i] + chunk) - self.units[i]
        return bool(need > self.capacity - self.used - growth)

    def _decoders(self) -> list[int]:
        if not self.running:
            return []
        ids = np.fromiter(self.running, np.int64, len(self.running))
        return ids[(self.kv[ids] >= self.target[ids]) & ~self.swapped[ids]].tolist()

    def _stall(self) -> None:
        """Nothing can run: the head of the queue waits for blocks no one will free."""
        i = self.waiting[0][2]
        # A request preempted by recomputation prefills its generated tokens with its prompt.
        raise RuntimeError(
            f"request {i} ({self.prompt[i]} prompt tokens, {self.generated[i]} generated, "
            f"{self.target[i] - self.kv[i]} to prefill) cannot be admitted to an idle replica "
            f"with {self.capacity * self.unit} KV tokens"
        )

    # -- admission, growth, preemption ---------------------------------------------------------

    def _admit(
        self, budget: int, whole: bool, alone: bool = True, joins: int | None = None
    ) -> tuple[list[tuple[int, int]], float]:
        """Waiting requests that join this iteration, in queue order, within `budget` tokens:
        prompt chunks, or `whole` prompts, the first of which may overrun the budget if the
        iteration has nothing else (`alone`). `joins`: the tokens within which a prompt's
        whole remainder must fit for it to join once another prompt has (SGLang's
        max_prefill_tokens); chunks are then cut by `budget` alone."""
        chunks: list[tuple[int, int]] = []
        swap_time = 0.0
        cfg = self.config
        while self.waiting and len(self.running) < cfg.max_batch:
            i = self.waiting[0][2]
            # A request back from the host or handed over decodes at once: room for its next
            # token and its drafts, as a running decoder holds (_grow).
            if self.swapped[i]:
                need = self._held(self.kv[i] + cfg.decode_tokens)
                if need > self.capacity - self.used:
                    break
                swap_time += self._swap_seconds(i)
                self.swapped[i] = False
                self._take(i, need)
                continue
            if self.mode == "decode" and self.kv[i] >= self.target[i]:
                # It decodes in this iteration: its tokens count against the iteration's
                # budget, as every token an engine schedules does (vLLM's token_budget),
                # but one joins an iteration that has nothing else whatever the budget.
                need = self._held(self.kv[i] + cfg.decode_tokens)
                idle = not chunks and budget >= cfg.iteration_tokens
                if need > self.capacity - self.used or (budget < cfg.decode_tokens and not idle):
                    break
                self._take(i, need)
                chunks.append((i, 0))
                budget -= cfg.decode_tokens
                continue
            if self.prefix_cached and self.kv[i] < self.prefix:
                self.kv[i] = self.prefix
            remaining = int(self.target[i] - self.kv[i])
            if joins is not None:
                if joins <= 0 or ((chunks or not alone) and remaining > joins):
                    break
                chunk = min(remaining, budget)
            else:
                chunk = remaining if whole else min(remaining, budget, cfg.chunk)
            # A whole prompt longer than the budget still runs alone (it could never fit).
            if chunk <= 0 or (chunk > budget and (chunks or not whole or not alone)):
                break
            need = self._held(self.kv[i] + chunk) - self.units[i]
            if need > self.capacity - self.used:
                break
            self._take(i, need)
            chunks.append((i, chunk))
            budget -= chunk
            if joins is not None:
                joins -= chunk
        return chunks, swap_time

    def _take(self, i: int, units: int) -> None:
        heapq.heappop(self.waiting)
        self.units[i] += units
        self.used += units
        self.running.append(i)
        if np.isnan(self.start[i]):
            self.start[i] = self.clock

    def _continue_prefills(self, budget: int, size: int | None = None) -> list[tuple[int, int]]:
        """The next chunks of prompts already running, within `budget` tokens, each at most
        `size` (the scheduler's chunk, unless given)."""
        size = self.config.chunk if size is None else size
        chunks: list[tuple[int, int]] = []
        if not self.running:
            return chunks
        ids = np.fromiter(self.running, np.int64, len(self.running))
        for i in ids[(self.kv[ids] < self.target[ids]) & ~self.swapped[ids]].tolist():
            if budget <= 0:
                break
            remaining = int(self.target[i] - self.kv[i])
            chunk = min(remaining, budget, size)
            need = self._held(self.kv[i] + chunk) - self.units[i]
            if need > self.capacity - self.used:
                break
            self.units[i] += need
            self.used += need
            chunks.append((i, chunk))
            budget -= chunk
        return chunks

    def _grow(self, decoders: list[int]) -> tuple[list[int], float]:
        """Blocks for each decoder's next token; preempt the latest admitted when short."""
        swap_time = 0.0
        while decoders:
            ids = np.fromiter(decoders, np.int64, len(decoders))
            extra = self._held(self.kv[ids] + self.config.decode_tokens) - self.units[ids]
            need = int(np.sum(extra))
            if need <= self.capacity - self.used:
                self.units[ids] += extra
                self.used += need
                return decoders, swap_time
            victim = self.running[-1]
            swap_time += self._preempt(victim)
            decoders = [i for i in decoders if i != victim]
        return decoders, swap_time

    def _preempt(self, i: int) -> float:
        self.running.remove(i)
        self.used -= self.units[i]
        self.units[i] = 0
        self.preemptions[i] += 1
        seconds = 0.0
        if self.config.preemption == "swap" and self.kv[i] >= self.target[i]:
            self.swapped[i] = True
            seconds = self._swap_seconds(i)
        else:
            # Recompute: the prompt and every token generated so far become the new prompt,
            # whose prefill samples the next token.
            self.target[i] = self.prompt[i] + self.generated[i]
            self.kv[i] = 0
        self._queue(i, front=True)
        return seconds

    def _swap_seconds(self, i: int) -> float:
        """A request's KV cache moving over the host link (out on preemption, in on return)."""
        if not self.replica.host_bandwidth:
            return 0.0
        moved = self.replica.kv_kept(self.kv[i]) * self.replica.kv_bytes_per_token
        return float(moved / self.replica.host_bandwidth)

    # -- one priced iteration ------------------------------------------------------------------

    def _step(self, decoders: list[int], chunks: list[tuple[int, int]], swap_time: float) -> None:
        dec = np.array(decoders, dtype=np.int64)
        ids = np.array([i for i, _ in chunks], dtype=np.int64)
        sizes = np.array([c for _, c in chunks], dtype=np.float64)
        past = self.kv[ids].astype(np.float64)
        samples = past + sizes >= self.target[ids]
        finished = self.finished_kv
        self.finished_kv = finished[:0]
        if len(ids) or not len(dec):
            # Prompts take the iteration: the finished requests are read out before the
            # decode step after it is formed.
            finished = finished[:0]
            seconds = self.replica.step_time(self.kv[dec], sizes, past, samples) + swap_time
        elif len(finished):
            seconds = self.replica.step_time(np.concatenate([self.kv[dec], finished]))
            seconds += swap_time
        else:
            seconds = self._decode_step_time(dec) + swap_time
        self._advance(seconds, decoders, chunks, float(sizes.sum()), len(finished))
        # A prefill iteration makes the engine look for new requests next (its weight, 1000 in
        # SGLang, passes any interval); a decode-only one counts one.
        self.since_receive = self.interval if len(ids) else self.since_receive + 1
        self.kv[dec] += 1
        self.generated[dec] += 1
        self.kv[ids] += sizes.astype(np.int64)
        if self.prefix and len(ids) and np.any(self.kv[ids] >= self.prefix):
            self.prefix_cached = True
        done_prefill = ids[samples]
        self.generated[done_prefill] += 1
        fresh = done_prefill[np.isnan(self.first_token[done_prefill])]
        self.first_token[fresh] = self.clock
        produced = np.concatenate([dec, done_prefill])
        self._tokens_out(produced)
        self._retire(produced)

    def _decode_step_time(self, dec: np.ndarray) -> float:
        """A decode-only step of sequences `dec`: the next step of the run priced for them while
        they stay the same, each step one token further; else the first of a new run of such
        steps (Replica.decode_run, up to DECODE_STEPS_PRICED of them, none past the step in
        which one of them ends). The engine takes these steps one at a time where prompts wait
        that any step might take (TensorRT-LLM's batch waiting and attention-DP balance hold
        them); priced in one call, they cost about what one step priced alone does."""
        past = self.kv[dec]
        if self._decode_steps is not None:
            ids, start, times = self._decode_steps
            offset = past - start if len(ids) == len(dec) and np.array_equal(ids, dec) else None
            if offset is not None and 0 <= offset[0] < len(times) and np.all(offset == offset[0]):
                return float(times[offset[0]])
        steps = min(int((self.output[dec] - self.generated[dec]).min()), DECODE_STEPS_PRICED)
        times = self.replica.decode_run(past, steps) if steps >= 2 else None
        if times is None:
            self._decode_steps = None
            return self.replica.step_time(past)
        self._decode_steps = (dec, past, times)
        return float(times[0])

    def _tokens_out(self, ids: np.ndarray) -> None:
        """Requests `ids` each emitted a token now: record the gap since each one's last."""
        gaps = self.clock - self.last_token[ids]
        self.gaps.append(gaps[~np.isnan(gaps)])
        self.last_token[ids] = self.clock

    def _advance(
        self,
        seconds: float,
        decoders: list[int],
        chunks: list[tuple[int, int]],
        tokens: float = 0,
        finished: int = 0,
    ) -> None:
        """Record an iteration of `seconds` and move the clock past it; `finished`: requests
        already finished that it decodes once more, counted with its decoding sequences."""
        # Waiting: the queue here; record() adds the requests that had reached the replica.
        row = (
            self.clock,
            seconds,
            len(decoders) + finished,
            len(chunks),
            tokens,
            self.used * self.unit,
            len(self.waiting),
            len(self.running),
        )
        for key, value in zip(TIMELINE, row, strict=True):
            self.timeline[key].append(value)
        self.clock += seconds

    def _retire(self, ids: np.ndarray) -> None:
        done = ids[self.generated[ids] >= self.output[ids]]
        if self.mode == "prefill":
            prefilled = ids[self.kv[ids] >= self.target[ids]]
            self.handoff[prefilled] = self.clock
            done = prefilled
        if not len(done):
            return
        if self.config.finished_step and self.config.overlap and self.mode != "prefill":
            self.finished_kv = self.kv[done].copy()
        self.finish[done] = self.clock
        self.finish_times.extend([self.clock] * len(done))
        self.finished += len(done)
        gone = set(done.tolist())
        self.running = [i for i in self.running if i not in gone]
        freed = int(self.units[done].sum())
        self.units[done] = 0
        self.used -= freed
        if self.on_finish:
            self.on_finish(done, self.finish[done])

    # -- request-level batching ----------------------------------------------------------------

    def _static_batch(self) -> None:
        """FasterTransformer: a batch of waiting requests, padded to its longest prompt, decodes
        until its longest output is done; finished requests keep their slots until then."""
        cfg = self.config
        batch: list[int] = []
        while self.waiting and len(batch) < cfg.max_batch:
            i = self.waiting[0][2]
            need = self._held(self.target[i] + self.output[i])
            if need > self.capacity - self.used:
                break
            self._take(i, need)
            batch.append(i)
        if not batch:
            self._stall()
        ids = np.array(batch)
        width, longest = int(self.target[ids].max()), int(self.output[ids].max())
        b = len(ids)
        prefill = self.replica.step_time(
            np.zeros(0, np.int64), np.full(b, float(width)), np.zeros(b), np.ones(b, bool)
        )
        self._advance(prefill, [], [(int(i), width) for i in ids], float(b * width))
        self.first_token[ids] = self.clock
        self.last_token[ids] = self.clock
        steps = longest - 1
        if steps:
            k = np.arange(steps, dtype=np.float64)[:, None]
            times = self.replica.table.batch.step_time(
                np.ones((steps, b)), np.broadcast_to(width + k, (steps, b))
            )
            ends = self.clock + np.cumsum(times)
            last = np.maximum(self.output[ids] - 2, 0)
            self.finish[ids] = np.where(self.output[ids] > 1, ends[last], self.clock)
            # Step k's gap is every request's that still has a token to produce in it; those
            # are the requests still running (the finished ones only keep their slots).
            still = (self.output[ids][None, :] - 1 > np.arange(steps)[:, None]).sum(axis=1)
            columns = (ends - times, times, b, 0, 0.0, self.used * self.unit, len(self.waiting))
            for key, values in zip(TIMELINE, (*columns, still), strict=True):
                self.timeline[key].extend(np.broadcast_to(values, times.shape).tolist())
            self.gaps.append(np.repeat(times, still))
            self.clock = float(ends[-1])
        else:
            self.finish[ids] = self.clock
        # The batch's finishes, ordered, all after any earlier batch's.
        self.finish_times.extend(np.sort(self.finish[ids]).tolist())
        self.generated[ids] = self.output[ids]
        self.kv[ids] = self.target[ids] + self.output[ids] - 1
        self.finished += b
        self.running = []
        self.used -= int(self.units[ids].sum())
        self.units[ids] = 0
        if self.on_finish:
            self.on_finish(ids, self.finish[ids])

    def _reached(self, starts: np.ndarray) -> np.ndarray:
        """Per timeline row: the requests that had reached the replica by its start but that it
        had not yet taken into its queue (the overlap schedule had formed that iteration before
        they came; an engine looking every few iterations had not looked; a decode run or a
        static batch was under way): waiting all the same. Counted once the engine has run, as
        a closed loop sends a request while a batch that it finished still runs."""
        ids = np.asarray(self.pending, dtype=np.int64)
        ready, taken = np.sort(self.ready[ids]), np.sort(self.taken_in[ids])
        came = np.searchsorted(ready, starts + same_times(starts), side="right")
        return came - np.searchsorted(taken, np.arange(len(starts)), side="right")

    def record(self) -> EngineRecord:
        timeline = {k: np.array(v) for k, v in self.timeline.items()}
        if len(timeline["start"]):
            timeline["waiting"] = timeline["waiting"] + self._reached(timeline["start"])
        return EngineRecord(
            first_token=self.first_token,
            finish=self.finish,
            start=self.start,
            handoff=self.handoff,
            preemptions=self.preemptions,
            generated=self.generated,
            timeline=timeline,
            kv_capacity_tokens=int(self.capacity * self.unit),
            itl=np.concatenate(self.gaps) if self.gaps else np.zeros(0),
        )
