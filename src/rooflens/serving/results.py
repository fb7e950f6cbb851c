"""What a simulation measured: per-request latencies, percentiles, throughput, goodput."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rooflens.core.errors import InvalidInputError
from rooflens.core.results import json_ready
from rooflens.serving.config import SLO, SchedulerConfig
from rooflens.settings import plain

if TYPE_CHECKING:
    from rooflens.serving.simulate import MemoryVerdict

PERCENTILES = (50, 90, 99)
LATENCIES = ("ttft", "tpot", "e2e", "queueing")
# The distributions a benchmark reports (vLLM's benchmark_serving, genai-perf), in seconds.
BENCHMARK = ("ttft", "tpot", "itl", "e2e")


@dataclass(frozen=True)
class SimulationResult:
    """`requests`: one row per request (times in seconds from the first arrival);
    `timeline`: one row per engine iteration; `kv_capacity`: KV tokens per (decode)
    replica, each the keys and values of every layer as if all attended (a model with sliding
    windows or a hybrid's few attention layers holds several times as many of its own tokens:
    `kv_room` counts whole requests);
    `kv_bytes`: the
    KV-cache bytes per device of a (decode) replica; `kv_room`: how many of the workload's
    longest requests it holds at once (a shared prefix held once for all, where the scheduler
    shares prefixes); `beside_kv` and `usable_memory`: its bytes per device
    held apart from the KV cache (weights, activation reserve, framework) and the bytes the
    engine may fill;
    `itl`: every gap between consecutive tokens of one request, pooled over requests;
    `devices`: accelerators in the cluster (for throughput per GPU)."""

    requests: pd.DataFrame
    timeline: pd.DataFrame
    kv_capacity: int
    replicas: int
    kv_bytes: float
    kv_room: int
    beside_kv: float
    usable_memory: float
    # What priced the iterations (the analyzer's estimate: the engine's profile, or the
    # roofline bound) and the kernels it priced as one.
    estimate: str
    kernels: str
    # Operators the engine profile prices with another type's curves (Analysis.fallbacks).
    fallbacks: tuple[str, ...] = ()
    # Of `beside_kv`, a pool of recurrent states the engine keeps apart (SGLang's; 0: none).
    state_pool_bytes: float = 0.0
    slo: SLO | None = None
    itl: np.ndarray = field(default_factory=lambda: np.zeros(0))
    devices: int = 1
    # KV tokens of each engine of the timeline (prefill and decode pools' differ), and the
    # first of the decode pool's engines (0 where every engine prefills and decodes).
    engine_kv_capacity: tuple[int, ...] = ()
    decode_from: int = 0
    # Whether the deployment fits, as the analyzer says it (serving.simulate.memory_verdict).
    memory: MemoryVerdict | None = None
    # The scheduler that batched them (a preset with its overrides).
    scheduler: SchedulerConfig | None = None
    # How far such forecasts fell from measured runs of the engine (rooflens.engines.validated);
    # None where no engine's measured runs check the estimate (the roofline, transformers).
    validation: str | None = None
    # The device's own memory, of which an engine that takes a share of it may fill
    # `usable_memory` (0: not given).
    device_memory: float = 0.0
    # The deployment in words: replicas and their parallelism, or a disaggregated cluster's
    # pools (serving.simulate.layout).
    layout: str = ""
    # Operators priced beyond their profile's fitted sizes (Analysis.notes), as the run's
    # largest prefill and decode step read them; and another engine's scheduler preset than
    # the profile's engine (serving.api).
    notes: tuple[str, ...] = ()
    # Seconds each request spent on the engine's serving path outside its iterations (its
    # profile's measured host_per_request; 0 where none is measured).
    host_per_request: float = 0.0
    # Where that time came from (its profile's provenance; "" where it has none).
    host_per_request_source: str = ""

    @property
    def peak_kv_share(self) -> float:
        """The KV cache's fullest share of its pool, over every replica's iterations."""
        return self._peak_share(0)

    def _peak_share(self, first_engine: int) -> float:
        engine = self.timeline["engine"].to_numpy()
        kept = engine >= first_engine
        if not kept.any():
            # A decode pool that never ran (every answer one token, made by the prefill).
            return 0.0
        if not self.engine_kv_capacity:
            return float(self.timeline["kv_tokens"][kept].max() / self.kv_capacity)
        capacity = np.asarray(self.engine_kv_capacity)[engine[kept]]
        return float((self.timeline["kv_tokens"].to_numpy()[kept] / capacity).max())

    @property
    def peak_memory(self) -> float:
        """Bytes per device of a (decode) replica at the run's peak: what is held beside the KV
        cache, and the KV cache at its fullest."""
        return self.beside_kv + self._peak_share(self.decode_from) * self.kv_bytes

    @property
    def duration(self) -> float:
        """From the first arrival to the last completion."""
        frame = self.requests
        return float(frame["finish"].max() - frame["arrival"].min())

    def _slo(self) -> SLO:
        if self.slo is None:
            raise InvalidInputError("slo", None, "an SLO given to the run (slo=SLO(...))")
        return self.slo

    def meets_slo(self) -> pd.Series:
        """Per request: TTFT and TPOT within the SLO (one-token answers have no TPOT)."""
        self._slo()
        frame = self.requests
        tpot_ok = frame["tpot"].isna() | (frame["tpot"] <= self.slo.tpot)
        return (frame["ttft"] <= self.slo.ttft) & tpot_ok

    def values(self, metric: str) -> np.ndarray:
        """A latency's samples: one per request, or every token gap for 'itl' (NaN dropped)."""
        if metric not in (*LATENCIES, "itl"):
            raise InvalidInputError("metric", metric, f"one of {', '.join((*LATENCIES, 'itl'))}")
        if metric == "itl":
            return self.itl
        return self.requests[metric].dropna().to_numpy()

    def percentile(self, metric: str, q: float) -> float:
        q = plain(q)
        if not isinstance(q, int | float) or isinstance(q, bool) or not 0 <= q <= 100:
            raise InvalidInputError("q", q, "a percentile from 0 to 100")
        values = self.values(metric)
        return float(np.percentile(values, q)) if len(values) else float("nan")

    def distribution(self, metric: str) -> dict[str, float | None]:
        """{mean, p50, p90, p99} in seconds; None where there is no sample (TPOT of one-token
        answers)."""
        values = self.values(metric)
        if not len(values):
            return {"mean": None} | {f"p{q}": None for q in PERCENTILES}
        return {"mean": float(values.mean())} | {
            f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES
        }

    def deployment(self) -> dict[str, Any]:
        """What the run says of the deployment itself, as the CLI's JSON and the web API both
        report it: KV capacity (tokens per replica, bytes per device, the longest requests it
        holds), memory per device at the peak and usable (a decode replica's where the
        cluster is disaggregated), the layout, what priced the iterations (and
        the fallbacks it priced with), the kernels priced as one, the scheduler's
        settings, and whether the deployment fits as the analyzer says it (`memory`: null
        where no verdict was formed)."""
        verdict = None
        if self.memory is not None:
            verdict = dataclasses.asdict(self.memory) | {"fits": self.memory.fits}
        return {
            "kv_capacity_tokens": self.kv_capacity,
            "kv_capacity_bytes": self.kv_bytes,
            "kv_room_requests": self.kv_room,
            "peak_memory_bytes": self.peak_memory,
            "state_pool_bytes": self.state_pool_bytes,
            "usable_memory_bytes": self.usable_memory,
            "layout": self.layout,
            "replicas": self.replicas,
            # Accelerators in the cluster, every engine's (throughput per GPU divides by them).
            "devices": self.devices,
            "estimate": self.estimate,
            "kernels": self.kernels,
            "fallbacks": list(self.fallbacks),
            "notes": list(self.notes),
            "host_per_request": self.host_per_request,
            "validation": self.validation,
            "scheduler": None if self.scheduler is None else self.scheduler.model_dump(),
            "memory": verdict,
        }

    def benchmark(self) -> dict[str, Any]:
        """What a serving benchmark reports: `ttft`, `tpot`, `itl`, `e2e` as {mean, p50, p90,
        p99} seconds, throughputs, and output tokens/s per GPU and per user; None (JSON null)
        where a quantity does not exist."""
        s = self.summary()
        out: dict[str, Any] = {m: self.distribution(m) for m in BENCHMARK}
        for key in (
            "requests",
            "duration",
            "request_throughput",
            "output_token_throughput",
            "token_throughput",
            "output_throughput_per_gpu",
            "output_throughput_per_user",
        ):
            value = s[key]
            out[key] = None if isinstance(value, float) and not np.isfinite(value) else value
        return out

    def within_slo(self) -> bool:
        """The SLO's percentile of TTFT and of TPOT both within their objectives."""
        q = self._slo().percentile
        tpot = self.percentile("tpot", q)
        return self.percentile("ttft", q) <= self.slo.ttft and (
            np.isnan(tpot) or tpot <= self.slo.tpot
        )

    def summary(self) -> dict[str, Any]:
        frame, seconds = self.requests, self.duration
        out: dict[str, Any] = {
            "requests": len(frame),
            "duration": seconds,
            "request_throughput": len(frame) / seconds,
            "output_token_throughput": float(frame["output_len"].sum()) / seconds,
            "token_throughput": float((frame["prompt_len"] + frame["output_len"]).sum()) / seconds,
        }
        out["output_throughput_per_gpu"] = out["output_token_throughput"] / self.devices
        # Per user: tokens/s one request sees while decoding, 1/TPOT, averaged over requests.
        per_user = 1.0 / frame["tpot"].dropna().to_numpy()
        out["output_throughput_per_user"] = (
            float(per_user.mean()) if len(per_user) else float("nan")
        )
        for metric in (*LATENCIES, "itl"):
            values = self.values(metric)
            out[f"{metric}_mean"] = float(values.mean()) if len(values) else float("nan")
            for q in PERCENTILES:
                out[f"{metric}_p{q}"] = self.percentile(metric, q)
        line = self.timeline
        busy = line["duration"].sum()
        weights = line["duration"] / busy if busy else 0.0
        out["mean_batch"] = float(((line["decode_seqs"] + line["prefill_seqs"]) * weights).sum())
        out["peak_kv_share"] = self.peak_kv_share
        out["preemptions"] = int(frame["preemptions"].sum())
        # Without an SLO nothing is attained: the keys are there without a figure (NaN, JSON
        # null), as every figure that does not exist.
        out["slo_attainment"] = out["goodput"] = float("nan")
        out["within_slo"] = None
        if self.slo is not None:
            ok = self.meets_slo()
            out["slo_attainment"] = float(ok.mean())
            out["goodput"] = float(ok.sum()) / seconds
            out["within_slo"] = self.within_slo()
        return out

    def to_dict(self) -> dict[str, Any]:
        """What `rooflens simulate -f json` writes after its head (`model`, `hardware`,
        `settings`, `workload`, which the command adds): the benchmark's figures, the
        summary, the SLO, the deployment and its memory, JSON-ready (a figure that does not
        exist is None)."""
        # The objectives attainment and goodput were measured against (null without any).
        slo = None if self.slo is None else self.slo.model_dump()
        data = self.benchmark() | {"summary": self.summary(), "slo": slo} | self.deployment()
        return json_ready(data)  # type: ignore[return-value]

    def in_system(self) -> float:
        """Time-averaged requests waiting or running, read off the engines' timelines (for
        Little's law: it should equal throughput x mean latency at the engines, each
        request's end-to-end latency less its way there, `host_per_request`)."""
        line = self.timeline
        area = ((line["waiting"] + line["running"]) * line["duration"]).sum()
        return float(area / self.duration)


def request_frame(
    arrival: np.ndarray,
    prompt: np.ndarray,
    output: np.ndarray,
    times: dict[str, np.ndarray],
    assignment: np.ndarray,
) -> pd.DataFrame:
    first, finish, start = times["first_token"], times["finish"], times["start"]
    # A closed loop decides when each request is sent: the simulation's times win.
    arrival = times.get("arrival", arrival)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output > 1, (finish - first) / (output - 1), np.nan)
    return pd.DataFrame(
        {
            "arrival": arrival,
            "prompt_len": prompt,
            "output_len": output,
            "replica": assignment,
            "start": start,
            "first_token": first,
            "finish": finish,
            "ttft": first - arrival,
            "tpot": tpot,
            "e2e": finish - arrival,
            # Waiting at the engine: from the request's arrival there, past its serving path.
            "queueing": start - times.get("at_engine", arrival),
            "preemptions": times["preemptions"],
            "generated": times["generated"],
        }
    )
