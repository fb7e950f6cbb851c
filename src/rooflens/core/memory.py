"""Memory footprint: weights, KV cache, and peak temporaries from graph liveness."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.graph import Graph
from rooflens.core.model import ModelSpec
from rooflens.core.operators import Linear, Operator, Step
from rooflens.core.options import Quantization, StatePool
from rooflens.core.plan import step_plan


def weight_bytes(graph: Graph, quant: Quantization) -> float:
    """Stored parameters at their precision (quantized linears with their scales). A pipeline
    stage (a graph of fewer layers than the model's) is the heaviest one: the first holds the
    embedding, the last the final norm and output head, so one stage holds the larger of the
    two, not both (a tied head's copy on the last stage is the embedding's size)."""
    total = float(sum(graph.count(op) * op.weight_bytes(quant) for op in graph.operators))
    if not graph.total_layers or graph.num_layers >= graph.total_layers:
        return total
    # The first stage's ends come before the first block (the embedding, OPT's project_in,
    # learned positions), the last stage's after it (final norm, project_out, head).
    ops = graph.operators
    first_block = next((i for i, op in enumerate(ops) if op.scope == "block"), len(ops))
    first = [op for op in ops[:first_block] if op.scope == "head"]
    last = [op for op in ops[first_block:] if op.scope == "head"]
    embedding = sum(op.weight_bytes(quant) for op in first)
    held = sum(op.weight_bytes(quant) for op in last)
    # The last stage's own copy of a tied head: the matrix it reads.
    last_stage = sum(matrix_bytes(op, quant) for op in last)
    return total - embedding - held + max(embedding, last_stage)


def matrix_bytes(op: Operator, quant: Quantization) -> float:
    """The weights an operator reads at its precision: its own, and a tied head's the
    embedding's matrix, which it owns no copy of (TiedLinear) where it shares the device."""
    return Linear.weight_bytes(op, quant) if isinstance(op, Linear) else op.weight_bytes(quant)


def kv_tokens_kept(
    tokens: np.ndarray,
    spans: tuple[tuple[float, int | None], ...] = ((1.0, None),),
    state_tokens: float = 0.0,
) -> np.ndarray:
    """Tokens' worth of every layer's KV cache a sequence of `tokens` holds: layers with a
    window or a KV budget (`spans`: share of layers, most keys kept) keep only that many; a
    recurrent state (`state_tokens`: its bytes in tokens' worth of KV) is held whole from the
    sequence's first token, whatever its length."""
    kept = sum(share * np.minimum(tokens, span or np.inf) for share, span in spans)
    return kept + state_tokens * (np.asarray(tokens) > 0) if state_tokens else kept


def kv_group_layers(counts: Sequence[int], slack: float) -> tuple[int, ...]:
    """The layers' worth of KV blocks each kind of attention layer holds (full attention,
    each window) where an engine allocates blocks for groups of layers (vLLM's hybrid KV
    cache manager, `rooflens.engines.vllm.GROUP_SLACK`): groups of the fewest layers any kind
    has (of the most, where that is under `slack` times the fewest), each kind's last group
    padded (Gemma 3 27B's 10 global and 52 window layers: the window layers hold 60); a kind
    with no layers (all of it pruned away) holds none."""
    held = [count for count in counts if count > 0]
    if len(held) < 2:
        return tuple(counts)
    size = min(held)
    if max(held) < size * slack:
        size = max(held)
    return tuple(-(-count // size) * size for count in counts)


def kv_group_spans(
    spans: Sequence[tuple[float, int | None]], layers: int, slack: float
) -> tuple[tuple[tuple[float, int | None], ...], float] | None:
    """KV spans (share of `layers`, most keys kept) held in groups (`kv_group_layers`): each
    kind's padded layers' share of all the padded layers, and the padded layers over `layers`
    (what a token's KV bytes grow by); None where grouping pads nothing or the kinds' shares
    are not whole layers of one width (vLLM then unifies page sizes by other rules)."""
    counts = [share * layers for share, _ in spans]
    if len(counts) < 2 or any(not math.isclose(c, round(c), abs_tol=1e-9) for c in counts):
        return None
    held = kv_group_layers([round(c) for c in counts], slack)
    padded = sum(held)
    if padded == layers:
        return None
    grouped = tuple((count / padded, span) for count, (_, span) in zip(held, spans, strict=True))
    return grouped, padded / layers


def _engine_groups(
    spans: tuple[tuple[float, int | None], ...], model: ModelSpec, slack: float | None
) -> tuple[tuple[tuple[float, int | None], ...], float] | None:
    """`kv_group_spans` where the engine groups this model's layers (`slack` given; a
    recurrent model's states share the engine's pages by other rules, left as counted)."""
    if slack is None or model.mixer is not None:
        return None
    return kv_group_spans(spans, model.all_layers, slack)


def kv_layers_held(
    spans: tuple[tuple[float, int | None], ...], model: ModelSpec, slack: float | None
) -> int | None:
    """The layers' worth of KV blocks the engine's groups hold (Gemma 3 27B's 62 layers: 70
    under vLLM); None where every layer holds its own (`held_kv_spans`)."""
    found = _engine_groups(spans, model, slack)
    return None if found is None else round(found[1] * model.all_layers)


def held_kv_spans(
    spans: tuple[tuple[float, int | None], ...], model: ModelSpec, slack: float | None
) -> tuple[tuple[float, int | None], ...]:
    """The spans the KV cache holds memory for: `spans` as they are, or with each kind's
    share grown to its padded layers where the engine groups them (`_engine_groups`;
    AnalysisOptions.kv_group_slack)."""
    found = _engine_groups(spans, model, slack)
    if found is None:
        return spans
    grouped, padded = found
    return tuple((share * padded, span) for share, span in grouped)


# DeepSeek Sparse Attention's FP8 cache (FlashMLA's sparse layout: vLLM's fp8_ds_mla, 656
# bytes a token for DeepSeek-V3.2): the latent in FP8 with an fp32 scale per 128 values, the
# rotary key kept in 16 bits.
SPARSE_FP8_GROUP, SPARSE_FP8_SCALE_BYTES, SPARSE_ROPE_BYTES = 128, 4, 2


def kv_bytes_per_token(model: ModelSpec, quant: Quantization) -> float:
    """K and V of every layer (kv_heads x (head_dim + value width) per token), or MLA's latent
    plus DSA's FP8 index key; DSA's FP8 latent with its scales and 16-bit rotary key."""
    if model.index_topk and model.is_mla and not model.compressed_attention and quant.kv_bits == 8:
        latent = model.kv_lora_rank or 0
        scales = -(-latent // SPARSE_FP8_GROUP) * SPARSE_FP8_SCALE_BYTES
        cached = latent + scales + model.qk_rope_head_dim * SPARSE_ROPE_BYTES
    else:
        cached = model.kv_elements_per_token * quant.kv_value_bits / 8
    return model.num_layers * (cached + model.index_key_bytes)


def state_bytes(model: ModelSpec, quant: Quantization) -> float:
    """The fixed recurrent state of one sequence: every mixer layer's scan state and
    convolution window (core.mixers.Mixer.state_bytes)."""
    if model.mixer is None:
        return 0.0
    return model.mixer_layers * model.mixer.state_bytes(quant.kv_bits)


def usable_memory(capacity: float, profile: EfficiencyProfile | None) -> float:
    """The device memory a deployment may fill: what the engine takes of the device (its
    memory fraction, where it is a share of the whole device)."""
    if profile is None or profile.memory_fraction_of != "device":
        return capacity  # a share of weights and KV (static) or of the free rest binds those
    return capacity * profile.memory_fraction


def beside_kv(
    weights: float | np.ndarray,
    activations: float | np.ndarray,
    profile: EfficiencyProfile | None = None,
) -> float | np.ndarray:
    """Bytes one device holds apart from the KV cache: weights, the activations' peak and
    what the framework holds beside them."""
    framework = profile.memory_overhead if profile is not None else 0.0
    return weights + activations + framework


def kv_room(
    capacity: float,
    weights: float | np.ndarray,
    activations: float | np.ndarray,
    profile: EfficiencyProfile | None = None,
) -> float | np.ndarray:
    """Bytes left for KV cache and recurrent states on one device: the memory the engine
    takes, less what it holds beside them (beside_kv). The analyzer's largest batch, the
    simulator's KV blocks and the advisor's screening all size the cache by this one rule."""
    if profile is not None and profile.memory_fraction_of == "static":
        # SGLang's share holds the weights and the KV pool; activations and CUDA graphs live
        # in the memory it leaves (the share's formula reserves them).
        return capacity * profile.memory_fraction - beside_kv(weights, 0.0, profile)
    free = usable_memory(capacity, profile) - beside_kv(weights, activations, profile)
    if profile is not None and profile.memory_fraction_of == "free":
        return free * profile.memory_fraction  # a share of what is left (TensorRT-LLM)
    return free


def state_pool_split(
    room: float | np.ndarray, state: float | np.ndarray, pool: StatePool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A room for KV cache and recurrent states split as an engine keeps the states in a pool
    of their own (SGLang's handle_max_mamba_cache, model_runner.py, v0.5.9): `pool.ratio` : 1
    of it to the states (or `pool.slots` of them where the launch fixes their number), each
    `state` bytes. Returns (the KV cache's bytes, the state slots, the running requests they
    allow, `pool.per_request` slots each)."""
    room, state = np.asarray(room, dtype=float), np.asarray(state, dtype=float)
    if pool.slots is not None:
        slots = np.full_like(room, float(pool.slots))
    else:
        share = np.maximum(room, 0.0) * pool.ratio / (1 + pool.ratio)
        # Python's floor division, as SGLang's own `//`: np.floor(a / b) may round up first.
        slots = np.floor_divide(share, np.where(state > 0, state, np.inf))
    return room - slots * state, slots, np.floor_divide(slots, pool.per_request)


def kv_cache_bytes(
    model: ModelSpec,
    quant: Quantization,
    batch: np.ndarray,
    tokens: np.ndarray,
    spans: tuple[tuple[float, int | None], ...] = ((1.0, None),),
    layer_share: float = 1.0,
) -> np.ndarray:
    """K and V of every layer (kv_heads x (head_dim + value width) per token), or MLA's latent
    (plus DSA's FP8 index key); layers with a window or a KV budget (`spans`: share of layers,
    most keys kept) keep only that many; plus the recurrent state of the mixer layers, constant
    in the context (`layer_share`: the share of the model's layers this device holds)."""
    kv = batch * kv_tokens_kept(tokens, spans) * kv_bytes_per_token(model, quant)
    # Whole bytes: the spans' layer shares are fractions (Gemma 3 1B's 22 of 26 windowed
    # layers), which left 142606336.00000003 bytes in the JSON.
    return np.round(kv + batch * state_bytes(model, quant) * layer_share)


def peak_activation_bytes(graph: Graph, quant: Quantization, step: Step) -> np.ndarray:
    """Largest sum of temporaries alive at once while one step runs.

    A tensor lives from the operator that writes it to the last one that reads it; one decoder
    block stands for all, since blocks run one after another and reuse their buffers
    (the liveness matrix of `rooflens.core.plan`).
    """
    return step_plan(graph, quant).peak_activation_bytes(step)
