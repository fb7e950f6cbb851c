"""The entry point of the core: (model, device, sizes, options) -> Analysis."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.cache import BoundedCache
from rooflens.core.errors import InvalidInputError
from rooflens.core.generation import decode_totals
from rooflens.core.graph import Graph, build_graph, kv_spans
from rooflens.core.hardware import Device
from rooflens.core.memory import (
    held_kv_spans,
    kv_cache_bytes,
    kv_room,
    matrix_bytes,
    state_bytes,
    state_pool_split,
    usable_memory,
    weight_bytes,
)
from rooflens.core.model import ModelSpec
from rooflens.core.operators import Linear, Step
from rooflens.core.options import AnalysisOptions, Quantization, StatePool
from rooflens.core.plan import StepFields, StepPlan, step_plan
from rooflens.core.pricing import (
    Placement,
    StepCosts,
    operator_counts,
    placement,
    prefill_graph_limit,
    price_fields,
)
from rooflens.core.results import Analysis, Footprint, larger_footprint
from rooflens.core.techniques import offload
from rooflens.core.techniques.parallelism import link_bandwidth, link_latency, local_model
from rooflens.core.validation import broadcast_sizes, positive_int_array
from rooflens.core.vision import image_activations, price_images, vision_weight_bytes

if TYPE_CHECKING:
    from rooflens.core.efficiency import EfficiencyProfile


def analyze(
    model: ModelSpec,
    device: Device,
    *,
    batch: object = 1,
    prompt_len: object = 2048,
    gen_len: object | None = None,
    options: AnalysisOptions | None = None,
    images: object = 0,
) -> Analysis:
    """Price prefill of `prompt_len` tokens, the first decode step after it, and (given
    `gen_len`) the whole generation. Sizes may be arrays; they broadcast against each other.
    `images` per request (multimodal models) adds a vision stage before the prefill and the
    images' tokens to the prompt."""
    options = options or _DEFAULT_OPTIONS
    b = positive_int_array("batch", batch)
    asked = positive_int_array("prompt_len", prompt_len)
    # Prompt compression keeps a share of the prompt: prefill and context shrink alike.
    # (rounded first: 0.07 x 100 is 7.000000000000001 in floating point, which kept 8)
    s = np.maximum(np.ceil(np.round(asked * options.prompt_keep, 6)), 1.0)
    n_images = _images(model, images)
    if n_images is not None:
        s = s + n_images * model.vision.tokens_per_image  # type: ignore[union-attr]
    g = None if gen_len is None else positive_int_array("gen_len", gen_len)
    _check_context(model, options, s, g, images=n_images)
    # One common shape for every size keeps the operator axis first everywhere downstream.
    if g is None:
        b, s = broadcast_sizes(batch=b, prompt_len=s)
    else:
        b, s, g = broadcast_sizes(batch=b, prompt_len=s, gen_len=g)

    par = options.parallelism
    if np.any(b % par.micro_batches):
        raise InvalidInputError("micro_batches", par.micro_batches, "a divisor of the batch size")
    prep = _prepare(model, options, device)
    spans = prep.spans
    # Every stage works on one micro-batch at a time; the KV cache holds the whole batch.
    mb = b / par.micro_batches
    slots = par.micro_batches + par.pp - 1

    def price(step: Step, decode: bool = True, fields: StepFields | None = None) -> StepCosts:
        send = _p2p_time(model, device, options, step) if par.pp > 1 else 0.0
        return price_fields(
            prep.placement if decode else prep.placement.prefill,
            prep.decode_counts if decode else prep.prefill_counts,
            device,
            prep.plan.fields(step) if fields is None else fields,
            step.tokens,
            step.batch,
            options.calibration,
            options.execution,
            pipeline=(slots, send),
            offload=(options.offload_weights, options.offload_kv),
            disk_bandwidth=options.offload_disk_bandwidth,
            graph_tokens=np.inf if decode else prefill_graph_limit(options),
        )

    one, zero = np.ones_like(s), np.zeros_like(s)
    prefill = Step(batch=mb, new_tokens=s, past=zero)
    decode = Step(batch=mb, new_tokens=one, past=s)
    # One evaluation of each step's features gives its costs and its activations.
    prefill_fields, decode_fields = prep.plan.fields(prefill), prep.plan.fields(decode)
    steps = {
        "prefill": price(prefill, decode=False, fields=prefill_fields),
        "decode": price(decode, fields=decode_fields),
    }
    if n_images is not None:
        steps["vision"] = price_images(
            model, device, np.broadcast_to(mb * n_images, s.shape), options
        )
        # The tower runs, so it is resident beside the language model, the same at every
        # point of a sweep.
        prep = replace(prep, weights=prep.weights + vision_weight_bytes(model, options))
    act = {
        "prefill": prefill_fields.peak_activation_bytes(),
        "decode": decode_fields.peak_activation_bytes(),
    }
    if n_images is not None:
        # The encoder runs before the prefill: its temporaries (score matrices, unfused) are
        # the prefill stage's peak where larger.
        encoder = image_activations(model, device, np.broadcast_to(mb * n_images, s.shape), options)
        act["prefill"] = np.maximum(act["prefill"], encoder)
    if options.activation_reserve_tokens is not None:
        reserve = _activation_reserve(prep.plan, options, s)
        act = {"prefill": reserve, "decode": reserve}
    memory = {
        "prefill": _footprint(prep, device, options, b, s, act["prefill"], prep.prefill_spans),
        "decode": _footprint(prep, device, options, b, s + 1, act["decode"]),
    }
    generation = None
    if g is not None:
        breaks = sorted(
            {span for _, span in spans if span}
            | ({options.kv_budget} if options.kv_budget else set())
            | _sparse_breaks(model, int(np.min(s)), int(np.max(s + g)))
        )
        # Rates at a step's own context only under a profile or offloading (the roofline's
        # are the peaks at every step): else a segment's middle step is priced as its first.
        rated = options.calibration is not None or options.offload_weights or options.offload_kv
        decode_sum = _decode_sum(price, mb, s, g - 1, breaks, steps["decode"], rated)
        generation = _generation(steps["prefill"], decode_sum, b * par.dp, g, steps.get("vision"))
        peak_act = np.maximum(act["prefill"], act["decode"])
        memory["generation"] = _footprint(prep, device, options, b, s + g - 1, peak_act)
        if options.kv_budget is not None:
            # The prefill holds its whole prompt's keys until the pass ends, which may pass
            # what the budget keeps after it (a 32k prompt beside a 2,048 budget).
            whole = _footprint(prep, device, options, b, s, peak_act, prep.prefill_spans)
            memory["generation"] = larger_footprint(memory["generation"], whole)
    return Analysis(
        model=model,
        device=device,
        options=options,
        batch=b,
        prompt_len=s,
        gen_len=g,
        params=prep.params,
        active_params=prep.active_params,
        steps=steps,
        memory=memory,
        # One point's figures as plain floats; a sweep's as arrays.
        generation=None
        if generation is None
        else {k: float(v) if np.ndim(v) == 0 else v for k, v in generation.items()},
        asked_prompt_len=_asked_if_other(asked, s),
        images=n_images,
    )


_DEFAULT_OPTIONS = AnalysisOptions()


def _activation_reserve(plan: StepPlan, options: AnalysisOptions, s: np.ndarray) -> np.ndarray:
    """The activations an engine sets aside at start: the peak of one iteration of its token
    budget, a single sequence's tokens from the start (as vLLM's profile run and the
    simulator's replica take it); a scheduler that runs long prompts whole reserves for the
    longer of the budget and the prompt."""
    budget = np.full_like(s, float(options.activation_reserve_tokens))
    tokens = np.maximum(budget, s) if options.reserve_whole_prompts else budget
    one = np.ones_like(s)
    return plan.fields(Step(batch=one, new_tokens=tokens, past=0 * one)).peak_activation_bytes()


def _asked_if_other(asked: np.ndarray, prefilled: np.ndarray) -> np.ndarray | None:
    """The prompt as asked, in the analysis' shape, where the prefill processes another length
    (compression, images); None where they agree (compared after broadcasting: a prompt beside
    three batches is the same prompt)."""
    asked = np.array(np.broadcast_to(asked, prefilled.shape))
    return None if np.array_equal(asked, prefilled) else asked


@dataclass(frozen=True)
class _Prepared:
    """What an analysis needs of (model, options, device) whatever the sizes."""

    graph: Graph
    local: ModelSpec
    spans: tuple[tuple[float, int | None], ...]
    # While a prefill runs, before a KV budget evicts: its own keys are all held.
    prefill_spans: tuple[tuple[float, int | None], ...]
    plan: StepPlan
    placement: Placement
    prefill_counts: np.ndarray
    decode_counts: np.ndarray
    params: int
    active_params: int
    weights: float
    head_weights: float
    # The largest head weight streamed per step: the output head's matrix (a tied head reads
    # the embedding's); the embedding is gathered row by row.
    head_unit: float


def _build_prepared(model: ModelSpec, options: AnalysisOptions, device: Device) -> _Prepared:
    graph = build_graph(model, options, device)
    # The model's own count, whatever the options shard or prune.
    whole = build_graph(model, _DEFAULT_OPTIONS)
    quant = options.quantization
    _check_groups(graph, quant, model)
    return _Prepared(
        graph=graph,
        local=local_model(model, options.parallelism),
        spans=held_kv_spans(kv_spans(model, options), model, options.kv_group_slack),
        prefill_spans=held_kv_spans(
            kv_spans(model, options, evicted=False), model, options.kv_group_slack
        ),
        plan=step_plan(graph, quant),
        placement=placement(graph, device, quant),
        prefill_counts=operator_counts(graph, None),
        decode_counts=operator_counts(graph, options.early_exit_depth),
        params=whole.params(),
        active_params=whole.active_params(),
        weights=weight_bytes(graph, quant),
        head_weights=sum(op.weight_bytes(quant) for op in graph.operators if op.scope == "head"),
        head_unit=max(
            (
                matrix_bytes(op, quant)
                for op in graph.operators
                if op.scope == "head" and isinstance(op, Linear)
            ),
            default=0.0,
        ),
    )


_PREPARED = BoundedCache(64)


def _prepare(model: ModelSpec, options: AnalysisOptions, device: Device) -> _Prepared:
    """Graph, plan and placement of (model, options, device), built once (a bounded cache)."""
    return _PREPARED.get((model, options, device), lambda: _build_prepared(model, options, device))


def quantized_widths(graph: Graph) -> set[int]:
    """The input widths of the layers a graph quantizes, per device under tensor
    parallelism: a weight group (GPTQ/AWQ) must divide each."""
    return {
        op.in_features
        for op in graph.operators
        if isinstance(op, Linear) and op.quantized and graph.count(op) > 0
    }


def _check_groups(graph: Graph, quant: Quantization, model: ModelSpec) -> None:
    """Integer weights quantized in groups (GPTQ/AWQ) need the group to divide every quantized
    layer's input width (per device under tensor parallelism): a partial group is no layout
    the kernels store. Module classes a checkpoint stores apart (GPTQModel's per-module
    groups) are checked against their own group."""
    storages: dict[Quantization, set[int]] = {}
    for op in graph.operators:
        if isinstance(op, Linear) and op.quantized and graph.count(op) > 0:
            storages.setdefault(op.weight_quant or quant, set()).add(op.in_features)
    stored = model.checkpoint_quant
    for storage, widths in storages.items():
        group = storage.group_size
        if group is None or storage.w_bits >= 16 or storage.w_format != "int":
            continue
        uneven = sorted(w for w in widths if w % group)
        if not uneven:
            continue
        common = int(np.gcd.reduce(sorted(widths)))
        # A group the checkpoint stores, or its method's default, was never typed by the
        # user: say where it comes from.
        source = None
        if stored is not None and storage == quant:
            if stored.quantization.group_size == group:
                source = stored.source("group_size")
        elif stored is not None:
            kind = next((k for k, q in stored.modules if q == storage), None)
            source = stored.source(f"{kind}.group_size")
        where = f" ({group} is the checkpoint's {source})" if source else ""
        layers = (
            "every quantized layer's input width"
            if storage == quant
            else "the input widths of the layers stored with it"
        )
        raise InvalidInputError(
            "group_size",
            group,
            f"a divisor of {layers} {sorted(widths)} "
            f"(a divisor of {common}); {uneven} do not split into groups of it{where}",
        )


def _p2p_time(model: ModelSpec, device: Device, options: AnalysisOptions, step: Step) -> np.ndarray:
    """Handing one micro-batch's activations to the next pipeline stage."""
    par = options.parallelism
    data = step.tokens * model.hidden_size * options.quantization.stream_bits / 8
    # Stages are laid out after the tensor-parallel groups: a pipeline wider than a node hops
    # across the network.
    link = options.calibration
    ranks = par.tp * par.pp
    return data / link_bandwidth(device, par, ranks, link) + link_latency(par, link, device, ranks)


DEFAULT_PROMPT_LEN = 2048


def _positions_after_prompt(gen_len: np.ndarray | int | None) -> np.ndarray | int:
    # The decode step after the prompt feeds position s, so it needs s + 1 positions; a
    # generation of g tokens feeds g - 1 more.
    return 1 if gen_len is None else np.maximum(np.asarray(gen_len) - 1, 1)


def default_prompt_len(
    model: ModelSpec, gen_len: object | None = None, drafted: int | None = None
) -> int:
    """The prompt an analysis takes when none is given: 2048 tokens, or what the model's
    context leaves after the generation (GPT-2's 1024 positions, OPT's 2048), and with
    speculative decoding of `drafted` tokens a step, after the drafts a step verifies and the
    token after them (speculative_room); `gen_len` may be an array (the longest counts), and
    is validated as a size."""
    room = prompt_room(model, gen_len)
    if drafted is not None:
        room = min(room, speculative_room(model, drafted))
    return max(1, min(DEFAULT_PROMPT_LEN, room))


def speculative_room(model: ModelSpec, drafted: int) -> int:
    """The longest context a speculative step of `drafted` drafts verifies after: the model's
    positions less the drafted + 1 tokens verified and the one after them."""
    return model.max_positions - drafted - 2


def prompt_room(model: ModelSpec, gen_len: object | None = None) -> int:
    """The longest prompt the model's positions hold beside `gen_len` generated tokens (the
    longest of an array; None: the decode step after the prompt only). The one rule the
    analysis' defaults, the plots' default axes and `measure` read. `gen_len` is validated as
    a size (InvalidInputError), as every caller takes it from a user."""
    if gen_len is not None:
        gen_len = positive_int_array("gen_len", gen_len)
    return model.max_positions - int(np.max(_positions_after_prompt(gen_len)))


def _check_context(
    model: ModelSpec,
    options: AnalysisOptions,
    s: np.ndarray,
    g: np.ndarray | None,
    images: np.ndarray | None = None,
) -> None:
    """The prompt (its images' tokens included) and the positions the generation feeds after
    it fit the model's positions; the error names the size at fault and how much room the
    others leave it (the worst point of a sweep)."""
    if options.allow_long_context:
        return
    after = _positions_after_prompt(g)
    needed = s + after
    if not np.any(needed > model.max_positions):
        return
    beyond = "allow_long_context=True (--allow-long-context) analyses beyond it"
    worst = np.unravel_index(int(np.argmax(needed - model.max_positions)), np.shape(needed))
    room = model.max_positions - int(np.broadcast_to(after, np.shape(needed))[worst])
    worst_g = None if g is None else int(np.broadcast_to(g, np.shape(needed))[worst])
    # One token generated feeds none, but the decode step after the prompt is priced anyway.
    fed_back = worst_g is not None and worst_g > 1
    beside = f"gen_len={worst_g}" if fed_back else "the decode step after it"
    has = (
        f"{model.name} has {model.max_positions} positions"
        if model.positions_stated
        else f"{model.name}'s config names no context length, so it has vLLM's default "
        f"{model.max_positions} positions (max_model_len)"
    )
    why = f"{has}, and {beside} feeds {model.max_positions - room} more" + (
        " (the last token generated is not fed back)" if fed_back else ""
    )
    prompt = int(np.broadcast_to(s, np.shape(needed))[worst])
    if images is not None:  # the images' tokens join the prompt: their count is the culprit
        per = model.vision.tokens_per_image  # type: ignore[union-attr]
        count = int(np.broadcast_to(images, np.shape(needed))[worst])
        text = prompt - count * per
        raise InvalidInputError(
            "images",
            count,
            f"at most {max((room - text) // per, 0)} images of {per} tokens beside a prompt of "
            f"{text} tokens: {why}; {beyond}",
        )
    if room < 1 and g is not None and prompt < model.max_positions:
        # No prompt fits beside the generation: the generation is at fault, not the prompt
        # (a default one of a token, say).
        longest = model.max_positions - prompt + 1
        raise InvalidInputError(
            "gen_len",
            int(np.broadcast_to(g, np.shape(needed))[worst]),
            f"at most {longest} tokens beside a prompt of {prompt}: {has}, and the last token "
            f"generated is not fed back; {beyond}",
        )
    if room < 1:
        # The prompt alone passes the positions: its limit is theirs, less the one decode step
        # after it (a generation asks for more still).
        raise InvalidInputError(
            "prompt_len", prompt, f"at most {model.max_positions - 1} tokens: {has}; {beyond}"
        )
    raise InvalidInputError("prompt_len", prompt, f"at most {room} tokens: {why}; {beyond}")


def _footprint(
    prep: _Prepared,
    device: Device,
    options: AnalysisOptions,
    b: np.ndarray,
    tokens: np.ndarray,
    activations: np.ndarray,
    spans: tuple[tuple[float, int | None], ...] | None = None,
) -> Footprint:
    """Memory holding `tokens` of each sequence's KV cache within `spans` (the analysis'
    own, after eviction, unless given)."""
    graph, model = prep.graph, prep.local
    quant = options.quantization
    # Pipeline stages hold their share of the (global) mixer layers' state.
    held = graph.num_layers / (graph.total_layers or graph.num_layers)
    kv = kv_cache_bytes(model, quant, b, tokens, prep.spans if spans is None else spans, held)
    # The batch's recurrent states, which an engine's state pool holds apart (footprint); a
    # model without them has no such pool.
    pool = options.state_pool if model.mixer is not None else None
    states = b * state_bytes(model, quant) * held if pool is not None else 0.0
    weights, kv, host = offload.resident(
        prep.weights,
        kv,
        (options.offload_weights, options.offload_kv),
        graph.num_layers,
        model.num_layers,
        prep.head_weights,
        prep.head_unit,
    )
    held_weights = np.full_like(kv, weights)
    reserved = options.activation_reserve_tokens is not None
    return footprint(
        device, options.calibration, b, held_weights, kv, activations, host, reserved,
        states, pool,
    )  # fmt: skip


def footprint(
    device: Device,
    profile: EfficiencyProfile | None,
    batch: np.ndarray,
    weights: np.ndarray,
    kv: np.ndarray,
    activations: np.ndarray,
    host: np.ndarray | float = 0.0,
    reserved: bool = False,
    states: np.ndarray | float = 0.0,
    pool: StatePool | None = None,
) -> Footprint:
    """The footprint of `batch` sequences from the bytes each device holds: what fits and the
    largest batch, by the rule every view applies (speculation adds its drafter's weights and
    cache to the target's through it). `reserved`: the activations are an engine's reserve,
    the same at every batch. `pool`: the engine keeps the batch's recurrent states (`states`
    bytes of `kv`) in a pool of their own, whose slots bound the running requests, the KV
    cache holding the rest of the room."""
    framework = profile.memory_overhead if profile else 0.0
    if reserved:
        # An engine's reserve is set aside whatever the batch: the cache alone grows with it.
        per_sequence = kv / batch
        room = kv_room(device.memory_capacity, weights, activations, profile)
    else:
        # Every tensor scales with the batch, so one sequence's share fixes the largest batch;
        # the room excludes only weights and framework.
        per_sequence = (kv + activations) / batch
        room = kv_room(device.memory_capacity, weights, 0.0, profile)
    running: np.ndarray | float = np.inf
    if pool is not None:
        kv_pool, _, running = state_pool_split(room, states / batch, pool)
        # The KV cache's own pool holds the rest (the batch's states were in `kv`): `room`
        # is then what the batch's cache and states may fill, for `fits` and `limit`.
        per_sequence = per_sequence - states / batch
        room = kv_pool + states
        # A model of recurrent layers alone holds no KV cache: its slots alone bound it.
        caches = np.floor(np.divide(kv_pool, per_sequence, out=np.full_like(kv_pool, np.inf),
                                    where=per_sequence > 0))  # fmt: skip
        max_batch = np.where(kv_pool > 0, np.minimum(caches, running), 0)
    else:
        max_batch = np.where(room > 0, np.floor(room / per_sequence), 0)
    return Footprint(
        weights=weights,
        kv_cache=kv,
        activations=activations,
        capacity=usable_memory(device.memory_capacity, profile),
        max_batch=max_batch,
        framework=framework,
        host=host,
        room=room,
        reserved=reserved,
        batch=batch,
        running=running,
    )


def _decode_sum(
    price,
    b: np.ndarray,
    s: np.ndarray,
    n: np.ndarray,
    spans: list[int],
    decode: StepCosts,
    rated: bool = True,
) -> dict[str, np.ndarray]:
    """Decode steps at contexts s .. s+n-1 in closed form. Costs are affine in the context
    until a span (window or KV budget) is reached and flat after it, so the steps are summed
    in segments split where each span is reached. `decode`: the step at context s, priced
    already; `rated`: whether achieved rates depend on the step (a profile, offloading),
    which a segment then reads at its middle step."""
    bounds = [np.zeros_like(s), *(np.clip(span - s, 0, n) for span in spans), n]
    total = {key: np.zeros_like(s, dtype=np.float64) for key in ("time", "ops", "memory_access")}
    one = np.ones_like(s)
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        count = np.maximum(hi - lo, 0)
        if not np.any(count):
            continue  # no decode step in this segment at any point
        first = decode if index == 0 else price(Step(batch=b, new_tokens=one, past=s + lo))
        second = price(Step(batch=b, new_tokens=one, past=s + lo + 1))
        middle = (
            price(Step(batch=b, new_tokens=one, past=s + lo + np.maximum(count - 1, 0) // 2))
            if rated
            else first
        )
        part = decode_totals(first, second, middle, count)
        total = {key: total[key] + part[key] for key in total}
    return total


def _sparse_breaks(model: ModelSpec, shortest: int, longest: int) -> set[int]:
    """Contexts where a decode step's cost changes slope besides the spans: DSA's top-k, and
    every chunk boundary of chunked attention (a new chunk starts with one key again) that
    some generation crosses."""
    breaks = {model.index_topk} if model.index_topk else set()
    if model.csa_layers and model.index_topk:
        # DeepSeek-V4: the indexer's top-k caps the compressed entries at topk x ratio tokens.
        breaks.add(model.index_topk * model.csa_ratio)
    if model.sparse_layers:
        # MiniMax-M3: attention reads at most sparse_blocks blocks of keys.
        breaks.add(model.sparse_block * model.sparse_blocks)
    chunk = model.attention_chunk
    if chunk and model.chunk_layers:
        first = (shortest // chunk + 1) * chunk
        breaks |= set(range(first, longest + 1, chunk))
    return breaks


def _images(model: ModelSpec, images: object) -> np.ndarray | None:
    """Images per request: None for none, else positive counts (a model with a vision tower)."""
    if isinstance(images, int | np.integer) and not isinstance(images, bool) and images == 0:
        return None
    if model.vision is None:
        why = f": {model.vision_left_out}" if model.vision_left_out else ""
        raise InvalidInputError("images", images, f"0: {model.name} has no vision encoder{why}")
    return positive_int_array("images", images)


def _generation(
    prefill: StepCosts,
    decode: dict[str, np.ndarray],
    b: np.ndarray,
    g: np.ndarray,
    vision: StepCosts | None = None,
) -> dict[str, np.ndarray]:
    # The vision encoder runs before the prefill that reads its tokens.
    ttft = prefill.step_time() + (vision.step_time() if vision is not None else 0.0)
    e2e = ttft + decode["time"]
    with np.errstate(divide="ignore", invalid="ignore"):
        tpot = np.where(g > 1, decode["time"] / (g - 1), np.nan)
    shape = np.broadcast_shapes(ttft.shape, e2e.shape)
    return {
        "ttft": np.broadcast_to(ttft, shape),
        "tpot": np.broadcast_to(tpot, shape),
        "e2e_latency": e2e,
        "throughput": b * g / e2e,
        "decode_time": decode["time"],
        # The encoder's work is the request's too, as its time is in the TTFT.
        "ops": prefill.field_total("ops") + decode["ops"] + _stage_total(vision, "ops"),
        "memory_access": prefill.field_total("memory_access")
        + decode["memory_access"]
        + _stage_total(vision, "memory_access"),
    }


def _stage_total(stage: StepCosts | None, field: str) -> np.ndarray | float:
    return 0.0 if stage is None else stage.field_total(field)
