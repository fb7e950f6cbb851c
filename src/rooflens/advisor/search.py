"""Which hardware serves a workload within its SLO most cheaply: a search over devices, tensor
parallelism, weight and KV quantization and batch limits, screened by a steady-state model on
the analyzer's step times and confirmed for the top picks by the serving simulator.

Steady state of one continuous-batching replica running B requests at once, each with a
prompt of s and g output tokens (decode step t_d(B) at the mean context s + g/2, prefill of
one prompt t_p): decoding pauses while prompts are prefilled (vLLM's default scheduler), so
per unit time a share f = λ t_p goes to prefill and (1 - f) / t_d(B) decode steps produce
B tokens each. Tokens balance, λ (g - 1) = B (1 - f) / t_d(B), which gives

    λ(B) = B / (t_d(B) (g - 1) + B t_p)     TPOT(B) = t_d(B) / (1 - λ t_p)

and at a load λ below λ(B) a request waits for one of the batch limit's c slots (a
birth-death chain completing requests at the replica's own throughput at each batch), then for
the running step and the prompts ahead (M/D/1, an exponential approximation of its wait), then
prefills; its decode pauses for the prompts queued or arriving while it decodes (the busy
period they begin, at its percentile). A replica's capacity
is the highest load within the SLO at the batch limit (within memory) that serves the most;
replicas = ceil(rate / capacity). The formulas and their sources: docs/advisor.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd

from rooflens.advisor.choices import (
    COUNT_COLUMNS,
    EXPERTS,
    INT4_GROUPS,
    WEIGHTS,
    WEIGHTS_NEED,
    AdviseSearch,
    parse_search,
    precision_label,
    stored_as,
)
from rooflens.api import peak_footprint, resolve, resolve_device, resolve_model
from rooflens.core import analysis as core
from rooflens.core.economics import idle_power, step_power
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.graph import build_graph
from rooflens.core.hardware import Device
from rooflens.core.memory import kv_room
from rooflens.core.model import ModelSpec
from rooflens.engines import DEFAULTS, engine_profiles, load_engine_profile
from rooflens.engines.validated import architecture, checked_against
from rooflens.formats import SHARE_OF, seconds
from rooflens.hardware.catalog import catalog
from rooflens.models.catalog import nvfp4_export
from rooflens.serving.api import simulate
from rooflens.serving.config import SLO, SchedulerConfig, Target
from rooflens.serving.presets import PRESETS, scheduler_with
from rooflens.serving.workload import (
    MAX_REQUESTS,
    ArrivalProcess,
    LengthDistribution,
    Workload,
)
from rooflens.settings import plain

BATCHES = np.array([1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512])
# Requests each confirming simulation runs. Near a replica's capacity a queue takes many
# requests to settle from an empty start: over 34 picks run at 0.95 of their capacity, the
# 99th percentile TTFT over 300 requests was a median 0.74 (at least 0.31) of that over 3,000,
# over 1,000 a median 0.88 (at least 0.69); 1,000 take 0.7 s for Llama-3.1-8B, 256 tokens out.
VERIFY_REQUESTS = 1000
# Loads within this share of each other serve alike (the capacity grid resolves 2.5e-4).
TIE = 1e-3
RANKS = {"cost": "cost_per_million", "energy": "energy_per_million", "latency": "e2e"}
# The advice table's columns, in this order, whatever the search found: a figure that does not
# apply to a setup (a setup turned away has no replicas; one not simulated, no simulated TTFT)
# is left empty, so that the CSV of every run reads alike.
COLUMNS = (
    "device", "tp", "pp", "experts", "weights", "precision", "w_bits", "kv_bits", "stand_ins",
    "hourly_price", "max_batch_memory", "prefill_time", "feasible", "binds", "batch_limit",
    "replica_capacity", "replicas", "devices", "batch_at_load", "ttft", "tpot", "e2e",
    "cost_per_hour", "cost_per_million", "energy_per_million", "priced", "pareto",
    "simulated_ttft", "simulated_tpot", "verified",
)  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    device: Device
    tp: int
    weights: str
    kv_bits: int
    pp: int = 1
    experts: str = "tp"

    def served(
        self, model: ModelSpec, engine: str | None = None, version: str | None = None
    ) -> tuple[ModelSpec, dict[str, object]]:
        """The checkpoint this setup serves and the settings it is analyzed (and simulated)
        with, as `rooflens analyze` takes them. At NVFP4, the export NVIDIA publishes of the
        model where the catalog bundles it, as stored (the engines serve those; none
        quantizes to NVFP4 on load); else the model at this setup's weights."""
        export = nvfp4_export(model.name) if self.weights == "nvfp4" else None
        checkpoint, weights = (resolve_model(export), "stored") if export else (model, self.weights)
        layout = {"ep": self.tp, "moe_tp": 1} if self.experts == "ep" else {}
        settings = WEIGHTS[weights] | layout | {
            "kv_bits": self.kv_bits, "tp": self.tp, "pp": self.pp, "engine": engine,
            "engine_version": version,
        }  # fmt: skip
        if weights == "int4":
            settings["group_size"] = _int4_group(checkpoint, self.device, settings)
        return checkpoint, settings


def _int4_group(model: ModelSpec, device: Device, settings: dict[str, object]) -> int:
    """The largest of INT4_GROUPS that divides every layer these settings quantize, per
    device; where none does, the setup cannot be served at INT4 and says why."""
    _, _, options = resolve(model, device, settings)
    widths = sorted(core.quantized_widths(build_graph(model, options, device)))
    fits = [g for g in INT4_GROUPS if all(w % g == 0 for w in widths)]
    if not fits:
        groups = ", ".join(str(g) for g in INT4_GROUPS)
        raise InvalidInputError(
            "weights",
            "int4",
            f"groups of {groups} weights (as INT4 kernels take them) whole in every quantized "
            f"layer on a device: at tp={settings['tp']} its widths are {widths}",
        )
    return fits[0]


# What a setup dearer than the budget is turned away with (Advice.over_budget counts them).
OVER_BUDGET = "over the budget"
# What a setup without a price is turned away with under a budget: its cost is not known to
# be within it (a device the catalog has no price for, unless one is given).
UNPRICED_UNDER_BUDGET = "no price to hold to the budget"

# What a setup rooflens cannot price (no engine profile for its device, say) is turned away
# with, before its device's name: one reason per device (Advice.unpriced counts them apart).
NOT_PRICED = "not priced on"


def distinct(devices: Iterable[Device]) -> list[Device]:
    """The devices, each once: one named twice (or by an alias beside its name) is searched
    and listed once."""
    return list({d.model_dump_json(): d for d in devices}.values())


def _node_size(device: Device) -> int:
    """Devices tensor parallelism can span: the node's, else the interconnect's group (an
    NVLink bridge's pair), else 8 with an interconnect, else 1."""
    if device.devices_per_node:
        return device.devices_per_node
    if not device.interconnect_bandwidth:
        return 1
    return device.interconnect_group or 8


def _pipeline_fits(device: Device, devices: int) -> bool:
    """Pipeline stages hand activations over any link: within a box of up to 8 (NVLink or
    PCIe), or across nodes over the network."""
    box = device.devices_per_node or (8 if device.interconnect_bandwidth or device.host_bandwidth
                                      else 1)  # fmt: skip
    return devices <= box or bool(device.network_bandwidth and device.devices_per_node)


def candidates(
    devices: Iterable[Device | str],
    tps: Sequence[int] = (1, 2, 4, 8),
    weights: Sequence[str] = tuple(WEIGHTS),
    kv_bits: Sequence[int] = (16, 8),
    pps: Sequence[int] = (1,),
    model: ModelSpec | str | None = None,
    experts: Sequence[str] = EXPERTS,
) -> list[Candidate]:
    """Devices × tensor parallelism within one node × pipeline stages × weight precisions
    (WEIGHTS: those the device has tensor cores for; with `model`, none the checkpoint
    already stores, which "stored" is) × KV widths × expert layouts (EXPERTS: "ep" for a
    mixture of experts over more than one device; with `model`, "tp" alone for a dense
    one). Devices may be named; a bad axis raises InvalidInputError naming it, as `advise`."""
    if isinstance(devices, str) or not isinstance(devices, Iterable):
        raise InvalidInputError("devices", devices, "a list of devices or device names")
    devices = [resolve_device(d, "devices") for d in devices]
    search = parse_search(
        {"tp": tps, "pp": pps, "weights": weights, "experts": experts, "kv_bits": kv_bits}
    )
    tps, pps, weights, experts, kv_bits = (
        search.tp, search.pp, search.weights, search.experts, search.kv_bits
    )  # fmt: skip
    if model is not None and not isinstance(model, ModelSpec):
        model = resolve_model(model)
    if model is not None and "stored" in weights:
        weights = [w for w in weights if not stored_as(model, w)]
    dense = model is not None and not model.is_moe
    out = []
    for device in devices:
        node = _node_size(device)
        kinds = [w for w in weights if WEIGHTS_NEED.get(w, "") in ("", *device.peak_ops)]
        for tp in tps:
            if tp > node:
                continue
            for pp in pps:
                if pp > 1 and not _pipeline_fits(device, tp * pp):
                    continue
                layouts = [e for e in experts if e == "tp" or (tp > 1 and not dense)]
                out += [Candidate(device, tp, w, kv, pp, e) for w in kinds for kv in kv_bits
                        for e in layouts]  # fmt: skip
    return out


def _screen(
    model: ModelSpec,
    cand: Candidate,
    target: Target,
    slo: SLO,
    engine: str | None = None,
    engine_version: str | None = None,
) -> dict[str, object]:
    """One candidate through the steady-state model; a row of the advice table.

    With p pipeline stages, p micro-batches of b = B / p requests are in flight (vLLM's
    virtual engines): a decode cycle is one micro-batch's trip through the stages (the
    analyzer's step with pp = p and one micro-batch), in which all B requests gain a token;
    a prompt holds each stage for a p-th of its prefill."""
    s, g, p = target.prompt_len, target.output_len, cand.pp
    # As `rooflens analyze` resolves these settings: the checkpoint's stored precision, the
    # engine's profile for the device and what its model code fuses.
    served, settings = cand.served(model, engine, engine_version)
    # NVFP4 weights where NVIDIA publishes no export: no engine quantizes to them on load.
    offline = cand.weights == "nvfp4" and nvfp4_export(model.name) is None
    model, _, options = resolve(served, cand.device, settings)
    mid = s + g // 2
    # One vectorized analysis: decode at micro-batch b and mean context, then one prefill.
    batch = np.r_[BATCHES, 1]
    prompt = np.r_[np.full(len(BATCHES), mid), s]
    result = core.analyze(model, cand.device, batch=batch, prompt_len=prompt, options=options)
    decode, prefill = result.steps["decode"], result.steps["prefill"]
    t_d = decode.step_time()[:-1]
    t_p = float(prefill.step_time()[-1])
    sizes = p * BATCHES  # requests running at once: B = p x b
    compute = decode.total(decode.compute_time)[:-1]
    # Memory holds the KV cache of B requests at s + g tokens (every stage its layers' share)
    # beside the weights and the activations of one request's prefill: the screen prefills one
    # prompt at a time, as the confirming simulation does (with an engine, the activations its
    # scheduler reserves, as `resolve` gives them and its preset's simulation holds them).
    # (`rooflens analyze`'s largest batch without an engine prefills the whole batch at once:
    # 1 request of 8,000-token prompts for FP8 Llama-3.1-8B on an L4, where one prompt at a
    # time leaves room for 12.)
    one = peak_footprint(model, cand.device, options, prompt_len=s, gen_len=g)
    room = kv_room(
        cand.device.memory_capacity, float(one.weights), float(one.activations), options.calibration
    )
    # With an engine's reserve the footprint counts the same room, and the pools the engine
    # keeps (SGLang's recurrent states: their slots bound the running requests).
    reserved = options.activation_reserve_tokens is not None
    max_batch = int(one.max_batch) if reserved else max(int(room // float(one.kv_cache)), 0)
    held = t_p / p  # how long a prompt holds each stage
    # A one-token answer runs no decode step (its token is the prefill's).
    rate = sizes / (t_d * (g - 1) + sizes * held)
    z = NormalDist().inv_cdf(slo.percentile / 100)
    fits = max_batch >= sizes
    # The full rate as a curve to read backwards: where a larger batch's step grows faster
    # than the batch (a kernel's tile boundary), it serves no more than the smaller.
    # A request's time on the engine's serving path, where the profile measured one: in every
    # TTFT, as the confirming simulation adds it, not in any step.
    way_in = options.calibration.request_time if options.calibration is not None else 0.0
    curve = _Replica(sizes, t_d, np.maximum.accumulate(rate), held, g - 1, t_p, z, p, slo, way_in)
    row: dict[str, object] = {
        "device": cand.device.name,
        "tp": cand.tp,
        "pp": p,
        "experts": cand.experts,
        "weights": cand.weights,
        "precision": precision_label(options)
        + (", a checkpoint quantized offline (no engine quantizes to NVFP4 on load)" * offline),
        "w_bits": options.quantization.w_bits,
        "kv_bits": cand.kv_bits,
        "stand_ins": ", ".join(result.stand_ins),
        "hourly_price": cand.device.hourly_price,
        "max_batch_memory": max_batch,
        "prefill_time": t_p,
    }
    best, capacity = curve.best_limit(fits)
    if capacity <= 0:
        short = _memory_short(
            max_batch, p, float(one.weights), float(one.activations), room, options.calibration
        )
        return row | {
            "feasible": False,
            "binds": _why_not(fits, t_d, t_d[0] / p + t_p + way_in, slo, short),
        }
    replicas = math.ceil(target.rate / capacity)
    # The batch each replica actually runs at its share of the load.
    load = target.rate / replicas
    b_load = float(curve.batch(np.array([load]))[0])
    # A one-token answer has no time per output token.
    tpot_load = float(curve.tpot(np.array([load]))[0]) if g > 1 else np.nan
    share = load * held
    # Below one request at a time's rate the replica idles between requests: it runs a
    # request load / rate(1) of the time (at 0.25 requests/s of Llama-3.1-8B on a B200, 4 %),
    # at its idle draw otherwise.
    running = min(1.0, load / float(rate[0]))
    power = (
        share * float(step_power(prefill, cand.device, p)[-1])
        + (running - share)
        * float(np.interp(b_load, sizes, step_power(decode, cand.device, p)[:-1]))
        + (1 - running) * idle_power(cand.device)
        if cand.device.tdp
        else np.nan
    )
    ttft_load = float(curve.ttft(np.array([load]), best)[0])
    devices = replicas * cand.tp * p
    tokens_per_hour = target.rate * (s + g) * 3600
    price = cand.device.hourly_price
    return row | {
        "feasible": True,
        "binds": _binds(curve, best, capacity, max_batch, slo, p * compute / t_d),
        "batch_limit": int(sizes[best]),
        "replica_capacity": capacity,
        "replicas": replicas,
        "devices": devices,
        "batch_at_load": b_load,
        "ttft": ttft_load,
        "tpot": tpot_load,
        "e2e": ttft_load + (g - 1) * tpot_load if g > 1 else ttft_load,
        "cost_per_hour": devices * price if price else np.nan,
        "cost_per_million": devices * price / tokens_per_hour * 1e6 if price else np.nan,
        "energy_per_million": devices * power * 3600 / tokens_per_hour * 1e6,
    }


def _prompt_wait(load: np.ndarray, held: float, q: float) -> np.ndarray:
    """The q-quantile of a prompt's wait behind the prompts ahead of it: one prompt per prefill
    iteration, each holding the first stage `held` seconds ahead of the decodes, so prompts
    queue as in M/D/1 at utilization u = λ·held. Its waiting time is taken as exponential with
    P(W > 0) = u and the mean u·held / (2 (1 - u)) (Pollaczek-Khinchine): P(W > t) = u
    exp(-2 (1 - u) t / held) (Abate, Choudhury and Whitt, Operations Research 43(5), 1995)."""
    u = np.asarray(load, dtype=float) * held
    return _exponential_quantile(u, 2 * (1 - u) / held, q)


def _exponential_quantile(chance: np.ndarray, rate: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of a wait W with P(W > t) = chance · exp(-rate · t): nothing where at
    most 1 - q of requests wait, no end where the queue grows (rate <= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        quantile = np.log(chance / (1 - q)) / rate
    return np.where(rate <= 0, np.inf, np.where(chance > 1 - q, quantile, 0.0))


def _slot_wait(load: np.ndarray, rates: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of the wait for one of c batch slots, c = len(rates): a birth-death
    chain whose completions run at `rates[k - 1]` with k requests in service (the replica's
    throughput at that batch, less than k times one request's as decode steps grow with the
    batch) and at rates[c - 1] with every slot busy (Kleinrock, Queueing Systems I, 1975,
    sec. 3.1: p(n) ∝ Π λ / μ(k)). An arrival finding all slots busy waits for the queue
    ahead to drain: geometric in length at ρ = λ / μ(c), so its wait is exponential at rate
    μ(c) - λ, reached with the chance of finding them busy (Poisson arrivals see the chain's
    own distribution)."""
    lam = np.asarray(load, dtype=float)
    mu = np.asarray(rates, dtype=float)
    k = np.arange(len(mu) + 1)
    # log p(k) = k log λ - Σ_{j<=k} log μ(j): states 0 .. c, then a geometric tail at ratio ρ.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(lam)[:, None] * k - np.concatenate([[0.0], np.cumsum(np.log(mu))])
    log_p[:, 0] = 0.0  # an empty replica, whatever the load
    p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        busy = p[:, -1] / (1 - lam / mu[-1])
        waits = busy / (p[:, :-1].sum(axis=1) + busy)
    return _exponential_quantile(waits, mu[-1] - lam, q)


@dataclass(frozen=True)
class _Replica:
    """One replica's steady state over the screened batch sizes, and the load it serves
    within the SLO at each batch limit. At a load λ the replica runs b(λ) requests on average
    (λ = b / S(b), the rate curve read backwards). A request waits for one of the c slots
    (`_slot_wait`), then for the running step and the prompts ahead of it (`_prompt_wait`),
    then prefills: TTFT_q ≈ W_slot + t_d / p + W_prompts + t_p + t_r, the quantiles added (at
    least the sum's), t_r the engine's measured time per request outside its iterations
    (`host_per_request`, as the simulator adds it). Its g - 1 decode steps pause for every
    prompt queued or arriving meanwhile (`tpot`)."""

    sizes: np.ndarray
    t_d: np.ndarray
    rate: np.ndarray  # the full rate at each size, made non-decreasing
    held: float  # how long a prompt holds each stage
    decodes: int  # decode steps per request, g - 1 (0: a one-token answer, no TPOT)
    t_p: float
    z: float
    stages: int
    slo: SLO
    way_in: float = 0.0  # t_r: the engine's time per request on its serving path

    def batch(self, load: np.ndarray) -> np.ndarray:
        """Requests in service on average at each load (below one request at a time's rate,
        the first size: a lone request's step)."""
        return np.interp(load, self.rate, self.sizes)

    def step(self, batch: np.ndarray | float) -> np.ndarray:
        """The decode step at a batch, between the screened sizes' steps."""
        return np.interp(batch, self.sizes, self.t_d)

    def ttft(self, load: np.ndarray, limit: int) -> np.ndarray:
        """The TTFT quantile at each load with a batch limit of `sizes[limit]`."""
        return self.slot_wait(load, limit) + self.prompt_part(load)

    def slot_wait(self, load: np.ndarray, limit: int) -> np.ndarray:
        slots = np.arange(1, int(self.sizes[limit]) + 1)
        rates = np.interp(slots, self.sizes, self.rate)
        return _slot_wait(load, rates, self.slo.percentile / 100)

    def prompt_part(self, load: np.ndarray) -> np.ndarray:
        """What a request pays once it holds a slot: the running step, the prompts ahead, its
        own prefill."""
        wait = _prompt_wait(load, self.held, self.slo.percentile / 100)
        # One-token answers decode nothing: no running step to wait for.
        running = self.step(self.batch(load)) / self.stages if self.decodes else 0.0
        return running + wait + self.t_p + self.way_in

    def tpot(self, load: np.ndarray, limit: int | None = None) -> np.ndarray:
        """The TPOT quantile at each load: with the batch the load sustains, or (`limit`) a full
        batch of sizes[limit], the most a request decodes beside."""
        load = np.asarray(load, dtype=float)
        if self.decodes == 0:
            return np.zeros_like(load)
        b = self.batch(load) if limit is None else float(self.sizes[limit])
        work = self.decodes * self.step(b)
        u = load * self.held
        # Prefills run ahead of decodes, so a request's decode ends with the busy period its
        # own steps and the prompts queued when it starts begin: mean w / (1 - u), variance
        # w u t_p / (1 - u)^3 for work w of an M/D/1 queue (Takacs; Kleinrock, Queueing Systems
        # II, 1976, sec. 3.7), at the percentile by the normal approximation.
        started = work + _prompt_wait(load, self.held, self.slo.percentile / 100)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = started / (1 - u)
            spread = np.sqrt(started * u * self.held / (1 - u) ** 3)
            tpot = np.maximum(mean + self.z * spread, work) / self.decodes
        return np.where(u >= 1, np.inf, tpot)

    def tpot_bound(self, limit: int) -> float:
        """The highest load at which a full batch at this limit decodes within the TPOT
        objective on average, t_d(c) / (1 - λ t_p / p): its percentile binds sooner."""
        if self.decodes == 0:
            return np.inf
        spare = 1 - float(self.t_d[limit]) / self.slo.tpot
        return spare / self.held if self.held > 0 else np.inf

    def meets(self, load: np.ndarray, limit: int) -> np.ndarray:
        return (self.ttft(load, limit) <= self.slo.ttft) & (self.tpot(load, limit) <= self.slo.tpot)

    def capacity(self, limit: int) -> float:
        """The highest load within the SLO at this batch limit (0: none): below the batch's
        full rate, where waiting for a slot grows without bound, and its TPOT bound; found on
        a grid (geometric, then twice refined), TTFT and TPOT growing with the load."""
        top = min(float(self.rate[limit]), self.tpot_bound(limit))
        if top <= 0:
            return 0.0
        steps = np.geomspace(1e-12, 1, 41)
        grid = top * np.unique(np.concatenate([steps[:-1] / 2, 1 - steps[::-1] / 2, [1.0]]))
        for _ in range(3):
            meets = self.meets(grid, limit)
            if not meets[0]:
                return 0.0
            i = int(np.flatnonzero(meets)[-1])
            if i == len(grid) - 1:
                return float(grid[i])
            grid = np.linspace(grid[i], grid[i + 1], 65)
        return float(grid[0])

    def best_limit(self, fits: np.ndarray) -> tuple[int, float]:
        """The batch limit (an index of `sizes`) whose replica serves the most within the SLO,
        and that load; of limits serving alike (within the grid's 0.1 %), the largest. More
        slots shorten the wait for one; a larger full batch decodes slower: the limits are
        tried from the highest bound down, until none can match the best found."""
        allowed = np.flatnonzero(fits)
        bounds = np.array([min(float(self.rate[i]), self.tpot_bound(i)) for i in allowed])
        found: dict[int, float] = {}
        for j in np.argsort(-bounds, kind="stable"):
            if found and bounds[j] < max(found.values()) * (1 - TIE):
                break
            found[int(allowed[j])] = self.capacity(int(allowed[j]))
        most = max(found.values(), default=0.0)
        if most <= 0:
            return (int(allowed[0]) if len(allowed) else 0), 0.0
        best = max(i for i, cap in found.items() if cap >= most * (1 - TIE))
        return best, found[best]


def _memory_short(
    max_batch: int,
    stages: int,
    weights: float,
    activations: float,
    room: float,
    profile: EfficiencyProfile | None,
) -> str:
    """What memory lacks where no batch fits: room for any KV cache beside the weights and a
    prompt's activations (within an engine's memory share, which under SGLang's static share
    holds the weights and KV cache alone: core.memory.kv_room), room for one request's, or
    (pipeline stages) for as many requests as stages, one micro-batch in each."""
    if room <= 0:
        within = ""
        if profile is not None and profile.memory_fraction < 1:
            within = (
                f" within the engine's memory share ({profile.memory_fraction:g} of "
                f"{SHARE_OF[profile.memory_fraction_of]})"
            )
        if profile is not None and profile.memory_fraction_of == "static":
            return f"memory capacity: the weights ({weights / 1e9:.1f} GB) leave no room{within}"
        return (
            f"memory capacity: the weights ({weights / 1e9:.1f} GB) and one prompt's "
            f"activations ({activations / 1e9:.1f} GB) leave no room for a KV cache{within}"
        )
    if max_batch < 1:
        return "memory capacity: the weights and one request's KV cache do not fit"
    return (
        f"memory capacity: the KV cache holds {max_batch} request"
        f"{'s' * (max_batch != 1)}, and {stages} pipeline stages need {stages} in flight"
    )


def _why_not(fits: np.ndarray, t_d: np.ndarray, alone: float, slo: SLO, short: str) -> str:
    """Why no batch limit serves any load: memory (`short`, what it lacks), a lone request's
    decode step (`t_d[0]`), or a lone prompt's first token (`alone`)."""
    if not fits[0]:
        return short
    if t_d[0] >= slo.tpot:
        return f"TPOT objective: even one request decodes at {t_d[0] * 1e3:.1f} ms per token"
    return (
        f"TTFT objective: a lone prompt reaches its first token in {alone:.3g} s, queueing "
        f"behind no other"
    )


def _binds(
    curve: _Replica,
    best: int,
    capacity: float,
    held: int,
    slo: SLO,
    busy: np.ndarray,
) -> str:
    """What keeps a replica from serving more, in plain words (`held`: the requests whose KV
    cache fits; `busy`: share of a decode step the compute units work)."""
    c = int(curve.sizes[best])
    load = np.array([capacity])
    beyond = np.array([capacity * (1 + 2 * TIE)])
    if curve.tpot(beyond, best)[0] > slo.tpot:
        resource = "compute" if busy[best] > 0.5 else "memory bandwidth"
        return (
            f"TPOT objective: beyond {capacity:.3g} req/s a full batch of {c} decodes a token "
            f"in more than {slo.tpot * 1e3:g} ms at the percentile, prompts prefilled between "
            f"its steps (decode bound by {resource})"
        )
    wait = float(curve.slot_wait(load, best)[0])
    rest = float(curve.prompt_part(load)[0])
    if wait <= 0:
        return (
            f"TTFT objective: beyond {capacity:.3g} req/s prompts queue behind other prompts' "
            f"prefills past it ({rest:.3g} s at the percentile)"
        )
    queue = (
        f"beyond {capacity:.3g} req/s prompts wait past the TTFT objective ({wait:.3g} s for "
        f"one of {c} slots at the percentile, {rest:.3g} s more)"
    )
    if best == len(curve.sizes) - 1:
        return f"batch limit: {c} requests at once; {queue}"
    if held < curve.sizes[best + 1]:
        return (
            f"memory capacity: the KV cache holds {held} request{'s' * (held != 1)} at most, "
            "short of the next "
            f"batch limit screened ({int(curve.sizes[best + 1])}); {queue}"
        )
    return f"TTFT objective: {queue}; a larger batch limit misses the TPOT objective sooner"


@dataclass(frozen=True)
class Advice:
    """Every candidate (feasible or not, with why), ranked; `pareto` marks the front of cost
    per million tokens against end-to-end latency."""

    table: pd.DataFrame
    rank: str
    target: Target
    slo: SLO
    # The serving engine whose fitted profile priced every setup (None: roofline bounds), and
    # the release asked for (None: the newest tables).
    engine: str | None = None
    engine_version: str | None = None
    # The model advised on (its name), for what shows the advice to say.
    model: str | None = None
    # Whether `verify` ran its top picks through the simulator (which passes pipeline
    # stages by: their explanations say so).
    simulated: bool = False
    # The requests each confirming simulation served (0: none ran), which its percentiles
    # rest on: the web's viewer runs fewer for long answers.
    verify_requests: int = 0

    @property
    def feasible(self) -> pd.DataFrame:
        return self.table[self.table["feasible"]]

    @property
    def estimate(self) -> str:
        """What priced every setup: an engine's fitted profiles (for the release asked for),
        or the roofline bounds."""
        if self.engine is None:
            return "roofline bound"
        release = (
            ""
            if self.engine_version is None
            else f" for release {self.engine_version} (a device's tables of that release, "
            "else of the oldest after it, else the newest)"
        )
        # The release each device's tables stand for, as analyze's estimate names it.
        releases: dict[str, list[str]] = {}
        for device in dict.fromkeys(self.table["device"]):
            try:
                profile = load_engine_profile(self.engine, device, self.engine_version)
            except RooflensError:  # a device given by its figures: no shipped profile to name
                continue
            version = getattr(profile, "engine_version", None)
            if version is None:  # a calibration profile (transformers): no release to name
                continue
            releases.setdefault(version, []).append(str(device))
        named = "; ".join(
            f"{self.engine} {version} on {', '.join(devices)}"
            for version, devices in releases.items()
        )
        return f"estimated with {self.engine}'s fitted profiles{release}" + (
            f", of {named}" if named else ""
        )

    def top(self, n: int = 5) -> pd.DataFrame:
        return self.feasible.head(_count("n", n, 1))

    def measured_runs(self, picks: pd.DataFrame, model: ModelSpec) -> dict[str, str]:
        """Per device among `picks`, how far the serving engine's forecasts there fell from
        its measured runs (`checked_against`: the model's, else those of models of its
        architecture, else all), as `simulate` says it; {} for the roofline bounds or an
        engine no measured runs check."""
        if self.engine not in DEFAULTS:
            return {}
        kind = architecture(model)
        return {
            str(device): checked_against(self.engine, str(device), model.name, kind)
            for device in dict.fromkeys(picks["device"])
        }

    @property
    def unpriced(self) -> pd.Series:
        """The setups rooflens could not price (no engine profile for the device, say), turned
        away apart from those that miss the objectives (their `binds` says NOT_PRICED)."""
        return ~self.table["priced"]

    @property
    def over_budget(self) -> pd.Series:
        """The setups that would serve the load but cost more than the budget."""
        return self.table["binds"].astype(str).str.startswith(OVER_BUDGET)

    @property
    def unpriced_under_budget(self) -> pd.Series:
        """The setups that would serve the load but have no price to hold to the budget."""
        return self.table["binds"].astype(str).str.startswith(UNPRICED_UNDER_BUDGET)

    @property
    def refuted(self) -> pd.Series:
        """The screened picks the simulator found outside the SLO, or could not run."""
        verified = self.table.get("verified", pd.Series(pd.NA, self.table.index))
        return verified.eq(False).fillna(False).astype(bool)

    def rejections(self) -> list[dict[str, object]]:
        """Why the other setups do not serve the load: each reason (what binds, before its
        colon; "fails in simulation" for a screened pick the simulator refuted), how many
        setups it turned away and one of them in full, commonest first."""
        turned_away = ~self.table["feasible"] | self.refuted
        binds = self.table.loc[turned_away, "binds"].astype(str)
        out = [
            {"reason": str(name), "count": len(group), "example": str(group.iloc[0])}
            for name, group in binds.groupby(binds.str.split(":").str[0], sort=False)
        ]
        return sorted(out, key=lambda r: -int(r["count"]))  # type: ignore[call-overload]

    def explain(self, row: pd.Series) -> str:
        """One pick in plain words."""
        w = f"{row['precision']}, KV{row['kv_bits']}"
        tp = f"TP={row['tp']} " if row["tp"] > 1 else ""
        if row.get("experts") == "ep":
            tp += f"EP={row['tp']} "
        pp = f"PP={row['pp']} " if row.get("pp", 1) > 1 else ""
        head = f"{int(row['replicas'])} × {tp}{pp}{row['device']} ({w})"
        cost = (
            f"${row['cost_per_hour']:.2f}/h, ${row['cost_per_million']:.3f} per million tokens"
            if np.isfinite(row["cost_per_hour"])
            else "no price in the catalog"
        )
        missing = row.get("stand_ins") or ""
        unmeasured = (
            f" The profile has no curves of its own for {missing}: priced with stand-ins (the "
            "fallback lines of `rooflens analyze` say which)."
            if missing
            else ""
        )
        # A one-token answer has no time per output token.
        tpot = f", TPOT ≈ {seconds(row['tpot'])}" if np.isfinite(row["tpot"]) else ""
        # `verify` passes pipeline-parallel picks by: say so, not leave the reader guessing.
        staged = (
            " Not confirmed by simulation: the serving simulator does not run pipeline stages."
            if row.get("pp", 1) > 1 and self.simulated
            else ""
        )
        return (
            f"{head}: each replica serves up to {row['replica_capacity']:.3g} req/s with at most "
            f"{int(row['batch_limit'])} requests at once; what binds: {row['binds']}. At "
            f"{self.target.rate:g} req/s: TTFT ≈ {seconds(row['ttft'])}{tpot}; {cost}."
            f"{unmeasured}{staged}"
        )


def _count(field: str, value: object, least: int, most: int | None = None) -> int:
    """A count of picks or requests: an integer of at least `least` (a negative one sliced
    from the end, all but the last), at most `most`; numpy's integers read as Python's."""
    value = plain(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < least
        or (most is not None and value > most)
    ):
        upto = "" if most is None else f" and at most {most:,}"
        raise InvalidInputError(field, value, f"an integer of at least {least}{upto}")
    return value


def pareto_front(cost: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Points no other point beats on both cost and latency (ties kept)."""
    arrays = []
    for field, values in (("cost", cost), ("latency", latency)):
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            array = np.empty((0, 0))
        if array.ndim != 1:
            raise InvalidInputError(field, values, "a list of numbers, one per setup")
        arrays.append(array)
    cost, latency = arrays
    if len(cost) != len(latency):
        raise InvalidInputError(
            "latency", f"{len(latency)} numbers", f"as many as cost's {len(cost)}, one per setup"
        )
    better_or_equal = (cost[None, :] <= cost[:, None]) & (latency[None, :] <= latency[:, None])
    strictly = (cost[None, :] < cost[:, None]) | (latency[None, :] < latency[:, None])
    dominated = (better_or_equal & strictly).any(axis=1)
    return ~dominated & np.isfinite(cost) & np.isfinite(latency)


def default_devices(engine: str | None, priced: Collection[str] = ()) -> list[Device]:
    """The devices searched when none are named: every catalog device with a price (or named
    in `priced`, given one), and with an engine only those its profiles describe (every setup
    on the others would be turned away as not priced); all of them if it describes none, so
    that the search says so."""
    pool = [d for d in catalog().values() if d.hourly_price or d.name in priced]
    described = engine_profiles().get(engine, ()) if engine is not None else ()
    return [d for d in pool if d.name in described] or pool


def priced_pool(
    named: Sequence[Device] | None, engine: str | None, prices: Mapping[str, float]
) -> list[Device]:
    """The devices a search tries, each once, with `prices` (USD per hour, by catalog name)
    over the catalog's: those `named` (none named: none searched, which the search refuses),
    else every device with a price, or given one here, that the engine's profiles describe
    (default_devices)."""
    pool = distinct(named) if named is not None else default_devices(engine, prices)
    return [d.model_copy(update={"hourly_price": prices.get(d.name, d.hourly_price)}) for d in pool]


def unsearched_price(
    pool: Sequence[Device], given: Mapping[str, tuple[str, float]]
) -> tuple[str, float, str] | None:
    """The first price `given` (catalog name -> the name as given, its price) for a device
    the search does not try, with what a price must name instead; None if every one is
    searched (a price for a device left out would change nothing, in silence)."""
    searched = {d.name for d in pool}
    for key, (name, price) in given.items():
        if key not in searched:
            return (
                name,
                price,
                f"a price for one of the devices searched ({', '.join(sorted(searched))})",
            )
    return None


# What a search tries unless told otherwise: the declaration's defaults (choices.AdviseSearch).
SEARCHED = AdviseSearch()


class AdvicePlan(NamedTuple):
    """A search checked before it runs: the model, the devices, the setups to screen and how
    they rank (`plan_advice`)."""

    spec: ModelSpec
    setups: list[Candidate]
    target: Target
    slo: SLO
    rank: str
    budget: float | None
    engine: str | None
    engine_version: str | None


def plan_advice(
    model: ModelSpec | str,
    target: Target,
    slo: SLO,
    *,
    devices: Iterable[Device | str] | None = None,
    tps: Sequence[int] = SEARCHED.tp,
    weights: Sequence[str] = SEARCHED.weights,
    kv_bits: Sequence[int] = SEARCHED.kv_bits,
    pps: Sequence[int] = SEARCHED.pp,
    experts: Sequence[str] = SEARCHED.experts,
    rank: str = SEARCHED.rank,
    budget: float | None = None,
    engine: str | None = None,
    engine_version: str | None = None,
) -> AdvicePlan:
    """`advise`'s input checked and its setups listed, before any is screened: bad input is
    refused here (the web checks a background search's input so, before it starts)."""
    for field, value, kind in (("target", target, Target), ("slo", slo, SLO)):
        if not isinstance(value, kind):
            raise InvalidInputError(field, value, f"a {kind.__name__}")
    if slo.percentile >= 100:
        # The screen's quantiles are a normal spread's, which has no 100th (the simulator's
        # percentile 100 is the slowest request).
        raise InvalidInputError("slo.percentile", slo.percentile, "below 100 for the advisor")
    search = parse_search(
        {"tp": tps, "pp": pps, "weights": weights, "experts": experts, "kv_bits": kv_bits,
         "rank": rank, "budget": budget, "engine": engine, "engine_version": engine_version}
    )  # fmt: skip
    tps, pps, weights, experts, kv_bits = (
        search.tp, search.pp, search.weights, search.experts, search.kv_bits
    )  # fmt: skip
    rank, budget, engine = search.rank, search.budget, search.engine
    spec = resolve_model(model)
    if devices is not None and (isinstance(devices, str) or not isinstance(devices, Iterable)):
        raise InvalidInputError("devices", devices, "a list of devices or device names")
    pool = (
        default_devices(engine)
        if devices is None
        else [resolve_device(d, "devices") for d in devices]
    )
    pool = distinct(pool)
    if not pool:
        raise InvalidInputError("devices", devices, "at least one device")
    if engine is not None:
        # Devices the engine has no profile for are each refused below, saying so; none is
        # bad input, as `rooflens analyze --engine` says it.
        have = engine_profiles().get(engine, ())
        if not any(d.name in have for d in pool):
            where = ", ".join(have) or "no device yet"
            raise InvalidInputError(
                "engine",
                engine,
                f"an engine with a profile for a device searched "
                f"({', '.join(d.name for d in pool)}): {engine} profiles exist for {where}",
            )
    # Checked once here: every setup would be refused alike, at the context it analyses.
    if target.prompt_len + target.output_len > spec.max_positions:
        raise InvalidInputError(
            "prompt_len + output_len",
            target.prompt_len + target.output_len,
            f"a context of at most {spec.max_positions} tokens (max positions of {spec.name})",
        )
    setups = candidates(pool, tps, weights, kv_bits, pps, spec, experts)
    if not setups:
        widest = max(_node_size(d) for d in pool)
        if not candidates(pool, tps, tuple(WEIGHTS), kv_bits):
            raise InvalidInputError(
                "tp", _listed(tps), f"a width the devices allow (at most {widest} in one node here)"
            )
        if not candidates(pool, tps, tuple(WEIGHTS), kv_bits, model=spec, experts=experts):
            # The precisions allow setups; the expert layouts asked for place none.
            why = (
                f"tp for a dense model ({spec.name} has no experts to lay out)"
                if not spec.is_moe
                else "tp, or ep with a tensor-parallel width above 1 (--tp)"
            )
            raise InvalidInputError("experts", _listed(experts), why)
        if not candidates(pool, tps, weights, kv_bits, model=spec, experts=experts):
            raise InvalidInputError(
                "weights",
                _listed(weights),
                "a precision the devices have tensor cores for (fp8: FP8, nvfp4: FP4) and "
                "the checkpoint does not already store (stored is that one)",
            )
        raise InvalidInputError("pp", _listed(pps), "stage counts the devices' links allow")
    return AdvicePlan(spec, setups, target, slo, rank, budget, engine, engine_version)


def advise(
    model: ModelSpec | str,
    target: Target,
    slo: SLO,
    *,
    devices: Iterable[Device | str] | None = None,
    tps: Sequence[int] = SEARCHED.tp,
    weights: Sequence[str] = SEARCHED.weights,
    kv_bits: Sequence[int] = SEARCHED.kv_bits,
    pps: Sequence[int] = SEARCHED.pp,
    experts: Sequence[str] = SEARCHED.experts,
    rank: str = SEARCHED.rank,
    budget: float | None = None,
    progress: Callable[[int], None] | None = None,
    engine: str | None = None,
    engine_version: str | None = None,
) -> Advice:
    """Screen every candidate (devices × tensor parallelism `tps` × pipeline stages `pps` ×
    weight precisions `weights` (WEIGHTS) × KV widths × expert layouts `experts` (EXPERTS)) and
    rank the feasible ones by `rank`
    ('cost', 'energy' or 'latency'); `budget` (USD per hour) drops the dearer ones. Devices
    default to the catalog's priced devices. `engine` prices each setup with that engine's
    profile for its device (at `engine_version`, as the setting of that name reads it),
    resolved as `rooflens analyze` resolves it; a device the engine has no profile for is
    rejected, saying so."""
    if progress is not None and not callable(progress):
        raise InvalidInputError("progress", progress, "a callable taking a count, or None")
    plan = plan_advice(
        model, target, slo, devices=devices, tps=tps, weights=weights, kv_bits=kv_bits,
        pps=pps, experts=experts, rank=rank, budget=budget, engine=engine,
        engine_version=engine_version,
    )  # fmt: skip
    spec, setups, engine, engine_version = plan.spec, plan.setups, plan.engine, plan.engine_version
    rows = []
    for cand in setups:
        try:
            rows.append(_screen(spec, cand, target, slo, engine, engine_version))
        except RooflensError as exc:
            rows.append(
                {"device": cand.device.name, "tp": cand.tp, "pp": cand.pp,
                 "experts": cand.experts, "weights": cand.weights, "kv_bits": cand.kv_bits,
                 "feasible": False, "priced": False,
                 "binds": f"{NOT_PRICED} {cand.device.name}: {exc}"}
            )  # fmt: skip
        if progress:
            progress(1)
    # Every setup says whether it was priced (a priced setup's row carries no flag).
    table = pd.DataFrame(rows)
    table["priced"] = table["priced"].fillna(True).astype(bool) if "priced" in table else True
    ranked = _rank(table, plan.rank, plan.budget, target, slo, engine, engine_version)
    return replace(ranked, model=spec.name)


def _listed(values: Sequence[object]) -> object:
    """A searched axis as a user types it: one value as itself (tp=16, not the text '16'),
    several as "1,2,4" (a tuple's repr printed "(64,)")."""
    if len(values) == 1:
        return values[0]
    return ",".join(str(v) for v in values)


def _rank(
    table: pd.DataFrame,
    rank: str,
    budget: float | None,
    target: Target,
    slo: SLO,
    engine: str | None = None,
    engine_version: str | None = None,
) -> Advice:
    table = table.reindex(columns=list(COLUMNS))
    for column in COUNT_COLUMNS:  # whole numbers, empty where a setup was turned away
        table[column] = table[column].astype("Int64")
    # Whether the simulator confirmed a pick: empty until `verify` runs it.
    table["verified"] = table["verified"].astype("boolean")
    if budget is not None:
        over = table["feasible"] & (table["cost_per_hour"] > budget)
        table.loc[over, "feasible"] = False
        table.loc[over, "binds"] = f"{OVER_BUDGET} of ${budget:g}/h"
        unknown = table["feasible"] & table["cost_per_hour"].isna()
        table.loc[unknown, "feasible"] = False
        table.loc[unknown, "binds"] = (
            f"{UNPRICED_UNDER_BUDGET} of ${budget:g}/h: the catalog has none for "
            + table.loc[unknown, "device"].astype(str)
            + " (give it a price)"
        )
    table["pareto"] = False
    ok = table["feasible"].to_numpy(dtype=bool)
    table.loc[ok, "pareto"] = pareto_front(
        table.loc[ok, "cost_per_million"].to_numpy(), table.loc[ok, "e2e"].to_numpy()
    )
    key = RANKS[rank]
    table = table.sort_values(
        ["feasible", key, "e2e"], ascending=[False, True, True], na_position="last"
    ).reset_index(drop=True)
    return Advice(
        table=table, rank=rank, target=target, slo=slo, engine=engine, engine_version=engine_version
    )


def _simulated_misses(ttft: float, tpot: float, slo: SLO) -> str:
    """The objectives a simulated pick misses: 'TTFT p99 1.93 s over 1.5 s'."""
    # As SimulationResult.within_slo holds them: one-token answers have no TPOT to miss.
    missed = [("TTFT", ttft, slo.ttft)] if not ttft <= slo.ttft else []
    missed += [("TPOT", tpot, slo.tpot)] if tpot > slo.tpot else []
    return "; ".join(
        f"{name} p{slo.percentile:g} {seconds(value)} over {seconds(objective)}"
        for name, value, objective in missed
    )


def picks_to_verify(table: pd.DataFrame, top: int) -> list[Hashable]:
    """The rows `verify` runs through the simulator: the `top` best feasible picks it can run
    (pipeline-parallel ones it cannot are passed over; they had taken a check each and left
    it unrun)."""
    runnable = [i for i in table.index[table["feasible"]] if table.loc[i].get("pp", 1) <= 1]
    return runnable[:top]


def verify(
    advice: Advice,
    model: ModelSpec | str,
    top: int = 3,
    requests: int = VERIFY_REQUESTS,
    progress: Callable[[int], None] | None = None,
) -> Advice:
    """Run the top picks through the serving simulator (one replica at its share of the load,
    Poisson arrivals, continuous batching with the pick's batch limit and one prompt per
    prefill iteration, as the screening assumes; with vLLM, SGLang or TensorRT-LLM, that
    engine's scheduler with the pick's batch limit) and record the SLO percentile of TTFT and
    TPOT it measures. Picks the simulator finds outside the SLO, or cannot run, move below
    those it confirms, marked 'fails in simulation'. Pipeline-parallel picks stay unconfirmed
    (the simulator does not model pipeline stages): the `top` checks go to the best picks
    without them. `progress` is called with 1 as each pick's simulation ends (the picks it
    will run: `picks_to_verify`)."""
    if not isinstance(advice, Advice):
        # Named by its type: a table's repr would run to many lines.
        shown = advice if isinstance(advice, str | int | float) else f"a {type(advice).__name__}"
        raise InvalidInputError("advice", shown, "an Advice from rooflens.advisor.advise")
    if progress is not None and not callable(progress):
        raise InvalidInputError("progress", progress, "a callable taking a count, or None")
    top = _count("top", top, 0)
    requests = _count("requests", requests, 1, MAX_REQUESTS)
    spec = model if isinstance(model, ModelSpec) else resolve_model(model)
    if advice.model is not None and spec.name != advice.model:
        # The picks were sized for the advised model: another one's simulations would be
        # filed under them.
        raise InvalidInputError("model", spec.name, f"the advised model, {advice.model}")
    table = advice.table.copy()
    for column in ("simulated_ttft", "simulated_tpot"):
        table[column] = np.nan
    table["verified"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    q = advice.slo.percentile
    checked = picks_to_verify(table, top)
    for i in checked:
        row = table.loc[i]
        workload = Workload(
            requests=requests,
            arrivals=ArrivalProcess(rate=advice.target.rate / row["replicas"]),
            prompt=LengthDistribution(kind="fixed", a=advice.target.prompt_len),
            output=LengthDistribution(kind="fixed", a=advice.target.output_len),
        )
        device = resolve_device(row["device"])
        limit = int(row["batch_limit"])
        scheduler = (
            # A serving engine confirms as it schedules (its preset), batched up to the pick's
            # limit: the screening's steady state only approximates its chunked prefills.
            scheduler_with(advice.engine, device, {"max_batch": limit}, spec)
            if advice.engine in PRESETS
            # One prompt per prefill iteration, whatever the batch limit: the chunk bounds the
            # prefill's tokens, the decodes ride outside the budget (a budget of one short
            # prompt was refused below a larger limit: max_tokens >= max_batch).
            else SchedulerConfig(
                max_batch=limit,
                max_tokens=advice.target.prompt_len,
                chunk_size=advice.target.prompt_len,
            )
        )
        setup = Candidate(device, int(row["tp"]), str(row["weights"]), int(row["kv_bits"]),
                          experts=str(row["experts"]))  # fmt: skip
        served, settings = setup.served(spec, advice.engine, advice.engine_version)
        try:
            result = simulate(
                served, device, workload, scheduler=scheduler, slo=advice.slo, **settings
            )
        except RooflensError as exc:
            table.loc[i, ["verified", "binds"]] = [False, f"cannot be simulated: {exc}"]
        else:
            ttft, tpot = result.percentile("ttft", q), result.percentile("tpot", q)
            table.loc[i, "simulated_ttft"] = ttft
            table.loc[i, "simulated_tpot"] = tpot
            table.loc[i, "verified"] = result.within_slo()
            if not result.within_slo():
                # What the simulator found missed, not the screen's reason for the pick's
                # limit (a TTFT miss read "TPOT objective: ...").
                table.loc[i, "binds"] = _simulated_misses(ttft, tpot, advice.slo)
        if progress:
            progress(1)
    failed = table["verified"].eq(False).fillna(False).astype(bool)
    table.loc[failed, "binds"] = "fails in simulation: " + table.loc[failed, "binds"]
    # The front holds what the simulator did not refute: a failed pick leaves it, and the
    # setups it dominated may join it.
    standing = (table["feasible"] & ~failed).to_numpy(dtype=bool)
    table["pareto"] = False
    table.loc[standing, "pareto"] = pareto_front(
        table.loc[standing, "cost_per_million"].to_numpy(), table.loc[standing, "e2e"].to_numpy()
    )
    order = np.lexsort((np.arange(len(table)), failed.to_numpy(), ~table["feasible"].to_numpy()))
    return replace(
        advice,
        table=table.iloc[order].reset_index(drop=True),
        simulated=top > 0,
        verify_requests=requests if checked else 0,
    )
