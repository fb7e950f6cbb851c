"""The serving simulator's entry points: one run, and the capacity search over arrival rates."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from rooflens.api import peak_footprint, with_activation_reserve
from rooflens.core.errors import InvalidInputError
from rooflens.core.graph import local_model
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions, Parallelism
from rooflens.core.pricing import idle_settings, on_link_model, prefill_graph_lines
from rooflens.core.results import json_ready
from rooflens.core.techniques import quantization
from rooflens.engines import DEFAULTS, vllm
from rooflens.engines.sglang import request_pool, state_pool
from rooflens.engines.validated import architecture, checked_against
from rooflens.formats import si
from rooflens.serving.cluster import request_path, serve
from rooflens.serving.config import SLO, ClusterConfig, SchedulerConfig
from rooflens.serving.engine import TIMELINE
from rooflens.serving.replica import Replica, build_replica, check_options
from rooflens.serving.results import SimulationResult, request_frame
from rooflens.serving.workload import Requests, Workload

Progress = Callable[[int], None] | None


def check_scheduler(scheduler: SchedulerConfig) -> None:
    """Refuse a scheduler whose settings contradict each other, naming the setting."""
    if scheduler.max_tokens < scheduler.max_batch and not scheduler.budgets_prompts_only:
        # A decode iteration of max_batch sequences is max_batch tokens; vLLM refuses
        # max_num_batched_tokens < max_num_seqs for the same reason.
        raise InvalidInputError(
            "max_tokens", scheduler.max_tokens, f"at least max_batch={scheduler.max_batch}"
        )
    if scheduler.policy != "chunked":
        # TensorRT-LLM's batch waiting and attention-DP balance hold prompts back in its
        # chunked scheduler only (SchedulerConfig's help): elsewhere they would do nothing.
        for name, off in (("batch_wait_iterations", "0"), ("batch_wait_ratio", "0"),
                          ("dp_balance", "false")):  # fmt: skip
            if getattr(scheduler, name):
                raise InvalidInputError(
                    name,
                    getattr(scheduler, name),
                    f"{off} unless policy=chunked (its scheduler alone holds prompts back)",
                )
    if scheduler.policy == "static" and scheduler.chunk_size is not None:
        # Static batching runs each prompt whole, padded to the batch's longest.
        raise InvalidInputError(
            "chunk_size", scheduler.chunk_size, "empty with policy=static (prompts run whole)"
        )
    if scheduler.mixed_chunk and not scheduler.budgets_prompts_only:
        # Only SGLang's chunked prefill mixes: elsewhere decodes already share iterations with
        # prompts (chunked) or the setting would do nothing.
        raise InvalidInputError(
            "mixed_chunk", True, "false unless policy=continuous with a chunk_size"
        )


def prepare(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    scheduler: SchedulerConfig,
    longest: int,
    longest_prompt: int = 0,
) -> Replica:
    """The replica, with step tables sized for this scheduler and requests up to `longest`;
    its activations reserved for the largest iteration the scheduler forms (a whole prompt
    longer than the token budget runs alone: `longest_prompt` tokens)."""
    check_scheduler(scheduler)
    replica = build_replica(
        model,
        device,
        options,
        max_tokens=max(
            scheduler.iteration_tokens, longest_prompt if scheduler.whole_prompts else 0
        ),
        max_context=longest + 1,
        max_rows=scheduler.max_batch,
        draft_tokens=scheduler.draft_tokens,
        acceptance=scheduler.acceptance,
    )
    return _with_kv_groups(replica, model) if scheduler.kv_groups else replica


def _with_kv_groups(replica: Replica, model: ModelSpec) -> Replica:
    """The replica's KV cache held as vLLM's hybrid KV cache manager groups the layers
    (`vllm.kv_group_layers`): each kind of attention layer (full, each window) holds blocks
    for whole groups, its padding layers' included. A token is then counted over the padded
    layers (its bytes times padded / real layers), each kind's share of them its padded
    layers: a request within every window holds whole blocks of all groups, as vLLM rounds
    each group's; past a window the kinds' tokens are summed before they are rounded, and the
    block a window group keeps beyond its window is not counted. (A disaggregated hand-over
    then counts the padding's bytes.)
    Left as counted where the kinds' shares are not whole layers of one width (Gemma 4's
    wider global layers, an index key's share), or where drafts' modules or recurrent states
    share the cache: vLLM then unifies page sizes by rules the replica does not follow
    (docs/serving.md)."""
    if replica.speculation is not None or replica.state_tokens:
        return replica
    found = vllm.kv_group_spans(replica.kv_spans, model.all_layers)
    if found is None:
        return replica
    grouped, padded = found
    per_token = replica.kv_bytes_per_token * padded
    return dataclasses.replace(replica, kv_spans=grouped, kv_bytes_per_token=per_token)


def _max_len(model: ModelSpec, scheduler: SchedulerConfig, longest: int) -> int:
    # Beyond the model's positions only where asked to (allow_long_context, checked first).
    max_len = scheduler.max_len or max(model.max_positions, longest)
    if longest > max_len:
        raise InvalidInputError(
            "max_len", max_len, f"at least the longest request ({longest} tokens)"
        )
    return max_len


@dataclass(frozen=True)
class MemoryVerdict:
    """Whether the deployment fits, as `rooflens analyze` says it (docs/model.md, "Fits"): the
    peak over the whole generation of the workload's largest request (`prompt_len` +
    `gen_len`), with `batch` of them at once on one replica: as many as it can hold (the
    scheduler's batch, its share of the requests, of a closed loop's clients where the router
    balances them), at most the `max_batch` that fit. Bytes per device."""

    prompt_len: int
    gen_len: int
    batch: int
    peak: float
    capacity: float
    max_batch: int

    @property
    def fits(self) -> bool:
        return self.peak <= self.capacity


def memory_verdict(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    scheduler: SchedulerConfig,
    requests: Requests,
    concurrency: int | None = None,
    replicas: int = 1,
    balanced: bool = False,
) -> MemoryVerdict:
    """The run's "fits", from the analyzer's peak of its largest request (the longest prompt
    and answer together; of equal ones, the longest prompt, whose prefill holds the most
    activations); raises, naming the device, where it does not fit. `replicas`: how many
    replicas share the requests; `balanced`: whether the router keeps their loads even (least
    outstanding requests), so that each holds its share of a closed loop's clients, where
    round robin may send one replica every client whose turn falls to it."""
    # The activations the replica sets aside for this scheduler's iterations (prepare).
    options = with_activation_reserve(options, scheduler)
    largest = int(np.lexsort((requests.prompt, requests.prompt + requests.output))[-1])
    prompt, output = int(requests.prompt[largest]), int(requests.output[largest])
    one = peak_footprint(model, device, options, prompt_len=prompt, gen_len=output)
    # No more run at once on a replica than its scheduler batches, or its share of the
    # requests, or of a closed loop's clients where the router balances them.
    share = -(-len(requests) // replicas)
    if concurrency is not None:
        share = -(-concurrency // replicas) if balanced else min(concurrency, share)
    held = min(scheduler.max_batch, share)
    batch = max(1, min(held, int(one.max_batch)))
    at = one if batch == 1 else peak_footprint(
        model, device, options, prompt_len=prompt, gen_len=output, batch=batch
    )  # fmt: skip
    verdict = MemoryVerdict(
        prompt, output, batch, float(at.total), float(at.capacity), int(one.max_batch)
    )
    if not verdict.fits:
        # A profile's framework memory counts with the activations: neither is KV cache.
        weights, act = float(at.weights), float(at.activations) + float(at.framework)
        gb = 1e9
        tokens = scheduler.iteration_tokens
        if scheduler.whole_prompts:
            tokens = max(tokens, prompt)
        reserve = f"activation reserve {act / gb:.1f} GB for iterations of {tokens:,} tokens"
        if weights + act > verdict.capacity:
            need = f"weights {weights / gb:.1f} GB + {reserve}"
        else:
            kv = float(at.kv_cache)
            need = (
                f"weights {weights / gb:.1f} GB + KV cache {kv / gb:.2f} GB + {reserve} at the "
                f"end of a {prompt} + {output}-token request"
            )
        # Unfused attention writes each prompt's scores (tokens x keys x heads): most of a
        # long prompt's activations, which FlashAttention never holds.
        fused = "" if options.flash_attention else "turn on flash_attention, "
        room = f"its {si(verdict.capacity, 'B')}"
        if verdict.capacity < 0.999 * device.memory_capacity:
            # An engine's share of the device (its memory_fraction): the device's own
            # memory is larger, and raising the share is a way out too.
            room = (
                f"the {si(verdict.capacity, 'B')} the engine may take of its "
                f"{si(device.memory_capacity, 'B')}"
            )
            fused = "raise memory_fraction, " + fused
        raise InvalidInputError(
            "hardware",
            device.name,
            f"a device with room for a KV cache: {need} per device exceed {room} ({fused}"
            f"quantize, add tensor parallelism, shorten the requests or lower "
            f"{scheduler.iteration_knob})",
        )
    return verdict


def _kv_need(replica: Replica, scheduler: SchedulerConfig, longest: int, max_len: int) -> int:
    """KV tokens the workload's longest request takes, as the scheduler counts them: its
    prompt and every token but the last, whose keys no step caches, and its drafts' room
    (the engine's `_held`; a contiguous layout reserves max_len for each request)."""
    if scheduler.kv_layout == "contiguous":
        return int(replica.kv_kept(max_len))
    if scheduler.policy == "static":
        # A static batch holds each request's whole length from its start (_static_batch).
        return int(replica.kv_kept(longest))
    return int(replica.kv_kept(longest - 1 + scheduler.draft_tokens))


def _blocks(
    replica: Replica, scheduler: SchedulerConfig, longest: int, max_len: int
) -> tuple[int, int, int]:
    """The scheduler's allocation unit (a block of tokens, paged; a token, contiguous), the
    whole units the workload's longest request takes (a 1,002-token request takes 63 blocks of
    16: 1,008 tokens) and the whole units the replica's KV capacity holds (the rest of its
    tokens, less than a block, no request can use)."""
    unit = scheduler.block_size if scheduler.kv_layout == "paged" else 1
    need = -(-_kv_need(replica, scheduler, longest, max_len) // unit)
    return unit, need, replica.kv_tokens // unit


def _requests_held(
    replica: Replica, scheduler: SchedulerConfig, longest: int, max_len: int, prefix: int = 0
) -> int:
    """How many of the longest requests the cache holds at once, in whole blocks as the
    scheduler allocates them. `prefix`: tokens every prompt shares, held once for all of them
    where the scheduler shares prefixes (the engine's accounting: `_held`)."""
    unit, need, capacity = _blocks(replica, scheduler, longest, max_len)
    if prefix and scheduler.prefix_sharing:
        shared = int(replica.shared_kept(prefix))
        capacity -= -(-shared // unit)
        own = _kv_need(replica, scheduler, longest, max_len) - shared
        need = max(-(-own // unit), 1)
    held = max(capacity, 0) // need
    # States in a pool of their own: as many requests as it has slots, at most.
    return held if replica.state_slots is None else min(held, replica.state_slots)


def _check_admissible(
    replica: Replica, scheduler: SchedulerConfig, longest: int, max_len: int
) -> None:
    """The deployment fits (memory_verdict); the scheduler's own KV accounting, in whole
    blocks, must still admit its longest request, else the scheduler setting that prevents it
    is named."""
    unit, need, capacity = _blocks(replica, scheduler, longest, max_len)
    if need <= capacity:
        return
    if scheduler.kv_layout == "contiguous":
        raise InvalidInputError(
            "max_len",
            max_len,
            f"at most the replica's KV capacity of {replica.kv_tokens} tokens: a contiguous "
            "layout reserves max_len tokens for every request",
        )
    tokens = _kv_need(replica, scheduler, longest, max_len)
    # Its tokens may fit where its blocks do not (515 tokens in 520: 33 blocks of 16 in 32).
    held = f": {capacity} whole blocks of {unit}" if unit > 1 else ""
    whole = f": {need} blocks" if unit > 1 else ""
    raise InvalidInputError(
        "max_tokens",
        scheduler.max_tokens,
        f"a step whose activation reserve leaves the replica's KV capacity ({replica.kv_tokens} "
        f"tokens{held}) room for the longest request ({tokens} tokens{whole})",
    )


def check_context(model: ModelSpec, options: AnalysisOptions, longest: int) -> None:
    """The longest request within the model's positions, unless simulated beyond them."""
    if options.allow_long_context is False and longest > model.max_positions:
        raise InvalidInputError(
            "prompt + output",
            longest,
            f"at most {model.max_positions} tokens, the max positions of {model.name} "
            "(allow_long_context=True, --allow-long-context, simulates beyond them)",
        )


@dataclass(frozen=True)
class Deployment:
    """A run's checked deployment: the scheduler held to its replicas, the replicas of each
    pool, the memory verdict, the longest request and the scheduler's max_len."""

    scheduler: SchedulerConfig
    replica: Replica
    decode_replica: Replica
    verdict: MemoryVerdict
    longest: int
    max_len: int


def deployment(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    requests: Requests,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    *,
    concurrency: int | None = None,
    replica: Replica | None = None,
    decode_replica: Replica | None = None,
) -> Deployment:
    """Everything `run` refuses before serving a request (the clients, the context length,
    memory, the pools and the scheduler's admission of the longest request): a web job
    checks its input with it before it starts."""
    scheduler = scheduler or SchedulerConfig()
    cluster = cluster or ClusterConfig()
    if concurrency is not None and concurrency < 1:
        raise InvalidInputError("concurrency", concurrency, "a positive number of clients")
    if cluster.disaggregated and scheduler.policy == "static":
        raise InvalidInputError(
            "policy", "static", "'continuous' or 'chunked' in a disaggregated cluster"
        )
    longest = int((requests.prompt + requests.output).max())
    longest_prompt = int(requests.prompt.max())
    check_context(model, options, longest)
    max_len = _max_len(model, scheduler, longest)
    verdict = _pools_verdict(model, device, options, scheduler, cluster, requests, concurrency)
    replica, decode_replica, scheduler = pools(
        model, device, options, scheduler, cluster, longest, longest_prompt, replica,
        decode_replica,
    )  # fmt: skip
    _check_admissible(replica, scheduler, longest, max_len)
    _check_admissible(decode_replica, scheduler, longest, max_len)
    return Deployment(scheduler, replica, decode_replica, verdict, longest, max_len)


def run(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    requests: Requests,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    slo: SLO | None = None,
    progress: Progress = None,
    replica: Replica | None = None,
    concurrency: int | None = None,
    decode_replica: Replica | None = None,
) -> SimulationResult:
    """Serve `requests` and measure every request's latencies. `concurrency`: a closed loop
    of that many clients (the requests' arrival times are ignored). The pools of a
    disaggregated cluster may run their own parallelism (cluster.prefill_tp …): `replica`
    and `decode_replica` are built from `options` with those applied unless given."""
    cluster = cluster or ClusterConfig()
    ready = deployment(
        model, device, options, requests, scheduler, cluster, concurrency=concurrency,
        replica=replica, decode_replica=decode_replica,
    )  # fmt: skip
    scheduler, replica, decode_replica = ready.scheduler, ready.replica, ready.decode_replica
    verdict, longest, max_len = ready.verdict, ready.longest, ready.max_len
    records, assignment, times = serve(
        replica, scheduler, cluster, requests, max_len, progress, concurrency, decode_replica
    )
    timeline = pd.concat(
        [
            pd.DataFrame({k: r.timeline[k] for k in TIMELINE}).assign(engine=k)
            for k, r in enumerate(records)
        ],
        ignore_index=True,
    )
    frame = request_frame(requests.arrival, requests.prompt, requests.output, times, assignment)
    if cluster.disaggregated:
        devices = (
            cluster.prefill_replicas * replica.devices
            + cluster.decode_replicas * decode_replica.devices
        )
    else:
        devices = cluster.replicas * replica.devices
    return SimulationResult(
        requests=frame,
        timeline=timeline,
        # The decode pool's (the last engines'), as the bytes and room below.
        kv_capacity=records[-1].kv_capacity_tokens,
        engine_kv_capacity=tuple(r.kv_capacity_tokens for r in records),
        decode_from=len(records) - cluster.decode_replicas if cluster.disaggregated else 0,
        kv_bytes=decode_replica.kv_capacity,
        # How many of the longest requests the cache holds at once (admitted, each fits).
        kv_room=_requests_held(decode_replica, scheduler, longest, max_len, requests.shared_prefix),
        beside_kv=decode_replica.beside_kv,
        usable_memory=decode_replica.usable_memory,
        state_pool_bytes=decode_replica.state_pool_bytes,
        device_memory=decode_replica.memory,
        replicas=len(records),
        slo=slo,
        itl=np.concatenate([r.itl for r in records]),
        devices=devices,
        memory=verdict,
        estimate=options.estimate,
        kernels=options.kernels,
        fallbacks=tuple(
            dict.fromkeys(
                (
                    *replica.fallbacks,
                    *decode_replica.fallbacks,
                    *idle_settings(options, _on_link(replica, decode_replica)),
                    *prefill_graph_lines(options, _largest_prefill(timeline)),
                    *quantization.weight_only_lines(options, device),
                )
            )
        ),
        scheduler=scheduler,
        validation=_validation(options, model),
        layout=layout(options, cluster),
        notes=_beyond_fit(model, device, options, cluster, timeline, requests),
        host_per_request=request_path(replica),
        host_per_request_source=(
            replica.profile.provenance.get("host_per_request", "") if replica.profile else ""
        ),
    )


def pools(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    scheduler: SchedulerConfig,
    cluster: ClusterConfig,
    longest: int,
    longest_prompt: int = 0,
    replica: Replica | None = None,
    decode_replica: Replica | None = None,
) -> tuple[Replica, Replica, SchedulerConfig]:
    """The prefill (or only) and decode pools' replicas `run` serves with (built unless
    given), and the scheduler as it runs on them: its batch held to SGLang's state pools'
    slots and request pool where those are on."""
    if replica is None:
        replica = prepare(
            model, device, pool_options(options, cluster, "prefill"), scheduler, longest,
            longest_prompt,
        )  # fmt: skip
    if decode_replica is None and cluster.disaggregated:
        decode_options = pool_options(options, cluster, "decode")
        if decode_options != pool_options(options, cluster, "prefill"):
            decode_replica = prepare(
                model, device, decode_options, scheduler, longest, longest_prompt
            )
    decode_replica = decode_replica or replica
    if scheduler.state_pool and decode_replica.state_tokens:
        replica, decode_replica, scheduler = _with_state_pools(replica, decode_replica, scheduler)
    if scheduler.request_pool:
        # Sized from the decode pool's KV cache, where batches grow (SGLang's prefill and
        # decode servers each size their own; a prefill pool's batches stay small).
        pool = request_pool(decode_replica.kv_tokens, model.max_positions)
        scheduler = scheduler.model_copy(update={"max_batch": min(scheduler.max_batch, pool)})
    return replica, decode_replica, scheduler


def _with_state_pools(
    replica: Replica, decode_replica: Replica, scheduler: SchedulerConfig
) -> tuple[Replica, Replica, SchedulerConfig]:
    """Each pool's replica with its recurrent states in a pool of their own (SGLang's
    `state_pool`), its KV cache holding the rest, and the batch held to the running requests
    both pools' state slots allow. A pool left no state for a running request, or whose
    drafts' intermediate states take all its room, is refused."""
    running = scheduler.max_batch
    # A batch limit given (no request pool sized for it) is SGLang's max_running_requests.
    given = None if scheduler.request_pool else scheduler.max_batch
    pooled = []
    for each in (replica, decode_replica):
        state = each.state_tokens * each.kv_bytes_per_token  # bytes per request and device
        # Drafting, the intermediate states of every running request's drafts come first.
        drafts = state * scheduler.max_batch * scheduler.decode_tokens * bool(each.speculation)
        if drafts >= each.kv_capacity:
            most = int(each.kv_capacity // (state * scheduler.decode_tokens))
            raise InvalidInputError(
                "max_batch",
                scheduler.max_batch,
                f"at most {most} running requests: their drafts' intermediate recurrent states "
                f"({state / 1e6:.1f} MB a request and draft) take all the room the weights leave",
            )
        kv, slots, allowed = state_pool(
            each.kv_capacity, state, scheduler.prefix_sharing, drafts, given
        )
        if allowed < 1:
            raise InvalidInputError(
                "state_pool",
                True,
                f"a replica whose state pool holds a running request's recurrent state: it "
                f"holds {slots} of {state / 1e6:.1f} MB"
                + (", a third of them running with prefix sharing" * scheduler.prefix_sharing)
                + " (more memory or tensor parallelism, or --no-state-pool)",
            )
        pooled.append(
            dataclasses.replace(
                each, state_tokens=0.0, state_pool_bytes=each.kv_capacity - kv, state_slots=slots
            )
        )
        running = min(running, allowed)
    prefill, decode = pooled
    if decode_replica is replica:
        decode = prefill
    return prefill, decode, scheduler.model_copy(update={"max_batch": running})


def _largest_prefill(timeline: pd.DataFrame) -> float:
    """The most tokens an iteration that prefilled held (its decode tokens too), 0 where none
    prefilled."""
    prefilled = timeline["prefill_tokens"] > 0
    if not prefilled.any():
        return 0.0
    return float((timeline["prefill_tokens"] + timeline["decode_seqs"])[prefilled].max())


def _beyond_fit(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    cluster: ClusterConfig,
    timeline: pd.DataFrame,
    requests: Requests,
) -> tuple[str, ...]:
    """Operators the run's iterations priced beyond their profile's fitted sizes, as `analyze`
    states them: a lone longest prompt's prefill, and a decode step of the most sequences
    any iteration decoded at the longest context (the extremes of what the run priced; a
    prefill chunk is no larger than its prompt). None for the roofline bound."""
    if options.calibration is None:
        return ()
    from rooflens.core.analysis import analyze  # the simulator prices through tables

    prompt = int(requests.prompt.max())
    context = int((requests.prompt + requests.output).max()) - 1
    sequences = max(int(timeline["decode_seqs"].max()), 1) if len(timeline) else 1
    prefill = analyze(model, device, batch=1, prompt_len=prompt, gen_len=1,
                      options=pool_options(options, cluster, "prefill"))  # fmt: skip
    decode = analyze(model, device, batch=sequences, prompt_len=context, gen_len=2,
                     options=pool_options(options, cluster, "decode"))  # fmt: skip
    notes = [n for n in prefill.notes if n.startswith("prefill:")]
    notes += [n for n in decode.notes if n.startswith("decode:")]
    return tuple(dict.fromkeys(notes))


def layout(options: AnalysisOptions, cluster: ClusterConfig) -> str:
    """The deployment in words: '2 replicas of 4 devices (TP=4), round_robin router', or a
    disaggregated cluster's prefill and decode pools, each with its own parallelism."""

    def pool(count: int, role: str, par: Parallelism) -> str:
        widths = [f"TP={par.tp}"]
        if par.ep > 1:
            widths.append(f"EP={par.ep}")
        if par.moe_tp is not None:
            widths.append(f"MoE TP={par.moe_tp}")
        if par.pp > 1:
            widths.append(f"PP={par.pp}")
        replicas = f"{count} {role}replica" + "s" * (count > 1)
        devices = f"{par.devices} device" + "s" * (par.devices > 1)
        return f"{replicas} of {devices} ({', '.join(widths)})"

    if cluster.disaggregated:
        prefill = pool_options(options, cluster, "prefill").parallelism
        decode = pool_options(options, cluster, "decode").parallelism
        return (
            f"disaggregated: {pool(cluster.prefill_replicas, 'prefill ', prefill)}, "
            f"{pool(cluster.decode_replicas, 'decode ', decode)}"
        )
    router = f", {cluster.router} router" if cluster.replicas > 1 else ""
    return pool(cluster.replicas, "", options.parallelism) + router


def _on_link(*replicas: Replica) -> bool:
    """Whether a collective of these replicas' steps is priced by the link model."""
    return any(on_link_model(r.table.batch.placement, r.table.batch.profile) for r in replicas)


def _validation(options: AnalysisOptions, model: ModelSpec) -> str | None:
    """How far forecasts of the estimate's engine on its device have fallen from that
    engine's measured runs; None for an estimate of no serving engine."""
    profile = options.calibration
    engine = getattr(profile, "engine", None)
    if profile is None or engine not in DEFAULTS:
        return None
    checked = checked_against(engine, profile.device, model.name, architecture(model))
    if profile.applied_to in (None, profile.device):
        return checked
    # The runs are the profile's device's, not this one's: say so before quoting them.
    return f"profile measured on {profile.device}, applied to {profile.applied_to}; {checked}"


def _pools_verdict(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    scheduler: SchedulerConfig,
    cluster: ClusterConfig,
    requests: Requests,
    concurrency: int | None = None,
) -> MemoryVerdict:
    """memory_verdict of every pool (a disaggregated cluster's may differ in parallelism);
    the tighter one (fewer requests fit) is the run's."""
    prefill, decode = (pool_options(options, cluster, pool) for pool in ("prefill", "decode"))
    if cluster.disaggregated:
        pools = [(prefill, cluster.prefill_replicas), (decode, cluster.decode_replicas)]
    else:
        pools = [(prefill, cluster.replicas)]
    for pool, _ in pools:
        check_options(pool)
    balanced = cluster.router == "least_outstanding"
    verdicts = [
        memory_verdict(model, device, pool, scheduler, requests, concurrency, replicas, balanced)
        for pool, replicas in pools
    ]
    return min(verdicts, key=lambda v: (v.max_batch, -v.peak))


def check_expert_groups(model: ModelSpec, options: AnalysisOptions, cluster: ClusterConfig) -> None:
    """Experts spread over g attention groups (ep over tp devices, no moe_tp: the engines'
    attention data parallelism) serve g groups' tokens, so the analyzer prices each group's
    step beside g - 1 others alike: a pool a user asks for holds whole sets of g groups, each
    a replica with its own requests. Fewer would load one group with the whole set's
    requests while counting its devices alone. (`run` takes fewer: the validation simulates
    one of identical sets' groups, its load divided alike.) Each pool's split must suit the
    model first (ep dividing its experts): a replica count no split could fix was named
    before it."""
    named = (("prefill", "prefill_replicas"), ("decode", "decode_replicas"))
    layouts = named if cluster.disaggregated else (("prefill", "replicas"),)
    pools = [
        (pool_options(options, cluster, pool).parallelism, field)  # type: ignore[arg-type]
        for pool, field in layouts
    ]  # each pool's own layout errors first, named as the pool's setting where it has one
    for (par, _), (pool, _) in zip(pools, layouts, strict=True):
        try:
            local_model(model, par)
        except InvalidInputError as exc:
            own = f"{pool}_{exc.field}"
            if cluster.disaggregated and getattr(cluster, own, None) is not None:
                raise InvalidInputError(own, exc.value, exc.accepted) from None
            raise
    for par, field in pools:
        groups, count = par.expert_token_groups, getattr(cluster, field)
        if count % groups:
            inside = (
                f"; or moe_tp={par.tp // par.ep}, the experts inside the tensor-parallel group "
                f"(SGLang's and TensorRT-LLM's --tp {par.tp} --ep {par.ep})"
                if par.tp % par.ep == 0
                else ""
            )
            # Left at its default of 1, the count is named as such (it was never typed).
            default = "" if field in cluster.model_fields_set else f" (not given: {count})"
            raise InvalidInputError(
                field,
                count,
                f"a multiple of {groups}{default}: ep={par.ep} at tp={par.tp} spreads the experts "
                f"over {groups} attention groups, each serving its own requests as a "
                f"replica{inside}",
            )


def pool_options(
    options: AnalysisOptions, cluster: ClusterConfig, pool: Literal["prefill", "decode"]
) -> AnalysisOptions:
    """The analyzer options of one pool of a disaggregated cluster: its own TP, EP and MoE TP
    where the cluster sets them (as prefill and decode workers of Dynamo or SGLang PD are
    sized)."""
    if not cluster.disaggregated:
        return options
    par = options.parallelism
    tp = getattr(cluster, f"{pool}_tp") or par.tp
    ep = getattr(cluster, f"{pool}_ep") or par.ep
    moe_tp = getattr(cluster, f"{pool}_moe_tp")
    if moe_tp is None and par.moe_tp is not None and (tp, ep) == (par.tp, par.ep):
        moe_tp = par.moe_tp
    elif moe_tp is None and par.moe_tp is not None:
        # A pool of its own TP and EP keeps the experts as the options place them: inside its
        # own tp group, or over attention groups at the same expert TP.
        inside = par.expert_token_groups == 1
        if (tp % ep) if inside else (par.moe_tp * ep) % tp:
            raise InvalidInputError(
                "moe_tp",
                par.moe_tp,
                f"empty for a {pool} pool of tp={tp} and ep={ep} (the experts cannot be "
                "placed alike there: give the pool its own moe_tp)",
            )
        moe_tp = tp // ep if inside else par.moe_tp
    elif moe_tp is not None and (moe_tp * ep) % tp:
        raise InvalidInputError(
            f"{pool}_moe_tp",
            moe_tp,
            f"a multiple of tp / ep = {tp / ep:g} of the {pool} pool (ep x moe_tp = groups x tp)",
        )
    if (tp, ep, moe_tp) == (par.tp, par.ep, par.moe_tp):
        return options
    parallelism = par.model_copy(update={"tp": tp, "ep": ep, "moe_tp": moe_tp})
    return options.model_copy(update={"parallelism": parallelism})


@dataclass(frozen=True)
class CapacityResult:
    """The highest arrival rate (requests/s) found within the SLO, and every rate tried."""

    rate: float
    result: SimulationResult | None
    probes: pd.DataFrame
    # Why no capacity was found (`rate` is then NaN: the requests are too few to load the
    # replicas, so every rate tried holds the SLO), or why the one found may not hold (its
    # requests arrive over too few latencies to reach a steady state: `steady_caveat`).
    warning: str | None = None
    # What priced every run (the analyzer's estimate), found or not.
    estimate: str | None = None
    # The objectives the rate is held to.
    slo: SLO | None = None
    # The deployment searched, in words (`layout`), found or not.
    layout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What `rooflens simulate --capacity -f json` writes, JSON-ready (NaN as None)."""
        data: dict[str, Any] = {
            "capacity": self.rate,
            "warning": self.warning,
            # What the rate was held to and what priced the runs.
            "slo": None if self.slo is None else self.slo.model_dump(),
            "estimate": self.estimate,
            "layout": self.layout,
            "probes": self.probes.to_dict(orient="records"),
            # The run at the rate found; null where none was.
            "at_capacity": None if self.result is None else self.result.summary(),
        }
        return json_ready(data)  # type: ignore[return-value]

    def to_frame(self) -> pd.DataFrame:
        """What `rooflens simulate --capacity -f csv` writes: every rate tried, in the order
        tried, with the answer on each row (`capacity`, empty where none was found; `warning`,
        empty where there is none) and the row tried at it marked (`at_capacity`), so that a
        script reading the CSV gets what the table and the JSON say."""
        frame = self.probes.copy()
        frame["at_capacity"] = frame["rate"] == self.rate
        frame["capacity"] = self.rate
        frame["warning"] = self.warning or ""
        return frame


def find_capacity(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    workload: Workload,
    slo: SLO,
    scheduler: SchedulerConfig | None = None,
    cluster: ClusterConfig | None = None,
    tolerance: float = 0.02,
    max_probes: int = 24,
    progress: Progress = None,
) -> CapacityResult:
    """Bisect the arrival rate: double from the workload's rate until the SLO fails, then
    halve the bracket until it is within `tolerance` (relative). Every rate draws the same
    requests with gaps scaled, so results are comparable across rates."""
    scheduler = scheduler or SchedulerConfig()
    base = workload.draw()
    longest, longest_prompt = int((base.prompt + base.output).max()), int(base.prompt.max())
    cluster = cluster or ClusterConfig()
    # Whether it fits is the analyzer's verdict, asked before the scheduler's step tables.
    _pools_verdict(model, device, options, scheduler, cluster, base)
    replica = prepare(
        model, device, pool_options(options, cluster, "prefill"), scheduler, longest,
        longest_prompt,
    )  # fmt: skip
    decode_options = pool_options(options, cluster, "decode")
    decode_replica = (
        prepare(model, device, decode_options, scheduler, longest, longest_prompt)
        if decode_options != pool_options(options, cluster, "prefill")
        else replica
    )
    probes: list[dict[str, float]] = []
    searched = layout(options, cluster)

    def trial(rate: float) -> SimulationResult:
        requests = workload.at_rate(rate).draw()
        result = run(
            model, device, options, requests, scheduler, cluster, slo, None, replica,
            decode_replica=decode_replica,
        )  # fmt: skip
        summary = result.summary()
        q = slo.percentile
        probes.append(
            {
                "rate": rate,
                f"ttft_p{q:g}": result.percentile("ttft", q),
                f"tpot_p{q:g}": result.percentile("tpot", q),
                "within_slo": summary["within_slo"],
            }
        )
        if progress:
            progress(1)
        return result

    def burst(
        rate: float, result: SimulationResult, failed: float | None = None
    ) -> CapacityResult | None:
        # Requests arrive over twice as fast as they are served, yet the SLO holds: the whole
        # load is one burst the replicas absorb, not a rate they sustain.
        served = result.summary()["request_throughput"]
        if rate <= 2 * served and math.isfinite(rate * 2):
            return None
        if failed is None:  # still doubling: every higher rate would be absorbed too
            held = f"even as one burst (tried up to {rate:.4g} requests/s, served {served:.4g}/s)"
        else:  # bracketed: the rate found holds only as a burst
            held = (
                f"at {rate:.4g} requests/s only as a burst, served at {served:.4g}/s "
                f"({failed:.4g}/s missed it)"
            )
        warning = (
            f"no capacity found: the {workload.requests} requests are served within the SLO "
            f"{held}; too few to find a rate held in a steady state: simulate more requests"
        )
        return CapacityResult(
            math.nan, None, pd.DataFrame(probes), warning, options.estimate, slo, searched
        )

    low, high = 0.0, workload.arrivals.rate
    best: SimulationResult | None = None
    while len(probes) < max_probes:
        result = trial(high)
        if not result.within_slo():
            break
        if (found := burst(high, result)) is not None:
            return found
        low, best, high = high, result, high * 2
    while len(probes) < max_probes and (high - low) > tolerance * high:
        mid = (low + high) / 2 if low else high / 2
        result = trial(mid)
        if result.within_slo():
            low, best = mid, result
        else:
            high = mid
            if not low and (mid < 1e-6 or _alone(result)):
                break
    if best is None:
        slowest = min(p["rate"] for p in probes)
        alone = "each request served alone" if _alone(result) else "requests nearly alone"
        warning = (
            f"no capacity found: the SLO fails at every rate tried, down to {slowest:.3g} "
            f"requests/s ({alone})"
        )
        return CapacityResult(
            math.nan, None, pd.DataFrame(probes), warning, options.estimate, slo, searched
        )
    # The bisection's answer passes the same test: a rate found between two doublings can
    # still be one the replicas only absorb as a burst (48 requests/s served at 22.5/s).
    if (found := burst(low, best, high)) is not None:
        return found
    caveat = steady_caveat(workload.requests, low, best, float(best.requests["arrival"].max()))
    return CapacityResult(
        rate=low, result=best, probes=pd.DataFrame(probes), warning=caveat,
        estimate=options.estimate, slo=slo, layout=searched,
    )  # fmt: skip


def _alone(result: SimulationResult) -> bool:
    """Whether every request ran alone, none waiting: a lower rate serves each the same way,
    so an SLO it missed stays missed (the search stops halving)."""
    line = result.timeline
    held = line["decode_seqs"] + line["prefill_seqs"] + line["waiting"]
    return bool(len(line)) and int(held.max()) <= 1


# A rate is held in a steady state only when its requests keep arriving for this many mean
# request latencies: a shorter run ends while the requests in flight still grow, and its SLO
# holds at rates a longer one misses (Llama-2-7B on an H100, chunked prefill: 300 requests over
# 2.6 latencies of requests / rate (their arrivals took 3.0) found 36.5 requests/s, 600 over
# 6.6 29.0, 1,200 over 16 24.3, 3,000 over 39 22.75, which 3,000 requests at 36.5/s miss by
# 40 s of TTFT at p99).
STEADY_LATENCIES = 20


def steady_caveat(
    requests: int, rate: float, result: SimulationResult, window: float | None = None
) -> str | None:
    """Why a capacity found may not hold in a steady state: its requests arrived over fewer
    than STEADY_LATENCIES mean latencies (`window`: the run's last arrival; None: the nominal
    requests / rate); None where they did."""
    latency = float(np.nanmean(result.requests["e2e"]))
    window = requests / rate if window is None else window
    if not math.isfinite(latency) or window >= STEADY_LATENCIES * latency:
        return None
    enough = math.ceil(STEADY_LATENCIES * latency * rate)
    return (
        f"not a steady state: the {requests} request{'s' * (requests != 1)} arrive over "
        f"{window:.3g} s, "
        f"{window / latency:.2g} times a request's mean latency ({latency:.3g} s); a rate held "
        f"this briefly may not hold longer: simulate at least {enough} requests "
        f"({STEADY_LATENCIES} latencies)"
    )
