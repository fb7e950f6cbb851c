"""One serving replica as the simulator sees it: step prices and KV-cache room."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rooflens.core.batching import (
    _NO_CHUNKS,
    _NO_SAMPLES,
    _WEIGHT,
    MixedBatch,
    StepTable,
    prefills,
)
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.graph import Graph, build_graph, kv_spans, local_model
from rooflens.core.hardware import Device
from rooflens.core.memory import (
    beside_kv,
    kv_bytes_per_token,
    kv_room,
    kv_tokens_kept,
    peak_activation_bytes,
    state_bytes,
    usable_memory,
    weight_bytes,
)
from rooflens.core.model import ModelSpec
from rooflens.core.mtp import mtp_graph, mtp_model, mtp_modules_held, stored_part
from rooflens.core.operators import Cost, Step
from rooflens.core.options import AnalysisOptions
from rooflens.core.pricing import prefill_graph_limit
from rooflens.core.speculative import expected_tokens, verification_graph
from rooflens.formats import SHARE_OF


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding with the model's MTP module: a decode step drafts `tokens` per
    sequence, one MTP step each, and the model verifies them with the sequence's last token in
    one step of tokens + 1 (rooflens.core.speculative); `acceptance` per drafted token."""

    tokens: int
    acceptance: float
    # One MTP module's decode steps.
    draft: StepTable

    @property
    def per_step(self) -> float:
        """Tokens a sequence emits per step, on average (Leviathan et al. 2023)."""
        return expected_tokens(self.acceptance, self.tokens)


@dataclass(frozen=True)
class Replica:
    """A model instance on `devices` devices (tensor parallel). Byte figures are per device."""

    table: StepTable
    devices: int
    memory: float
    weights: float
    activation_reserve: float
    # The engine's or framework's profile: its memory fraction and its own bytes.
    profile: EfficiencyProfile | None
    kv_bytes_per_token: float
    host_bandwidth: float | None
    link_bandwidth: float | None
    # (share of layers, most keys kept): sliding windows and KV budgets cap what is cached.
    kv_spans: tuple[tuple[float, int | None], ...] = ((1.0, None),)
    # A recurrent mixer's fixed state per sequence, in tokens' worth of all-layer KV: each
    # request holds it whole from its first token (core.memory.kv_tokens_kept).
    state_tokens: float = 0.0
    speculation: Speculation | None = None
    # Bytes per device set apart for a state pool of its own (SGLang's mamba pool): the KV
    # cache holds the rest, and requests hold no state in it (state_tokens 0).
    state_pool_bytes: float = 0.0
    state_slots: int | None = None  # the states that pool holds (None: no pool of its own)

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """What its profile prices with another type's or class's curves: the model's steps
        and the MTP module's drafts (MixedBatch.fallbacks)."""
        lines = self.table.batch.fallbacks
        if self.speculation is not None:
            lines += self.speculation.draft.batch.fallbacks
        return tuple(dict.fromkeys(lines))

    @property
    def kv_capacity(self) -> float:
        """KV-cache bytes per device (core.memory.kv_room: the memory the engine takes, less
        weights, the activation reserve and the framework's own bytes)."""
        room = float(kv_room(self.memory, self.weights, self.activation_reserve, self.profile))
        return room - self.state_pool_bytes

    @property
    def usable_memory(self) -> float:
        """Bytes per device the deployment may fill (core.memory.usable_memory)."""
        return float(usable_memory(self.memory, self.profile))

    @property
    def beside_kv(self) -> float:
        """Bytes per device held apart from the KV cache (core.memory.beside_kv: weights, the
        activation reserve and the framework's own), and a pool of recurrent states where the
        engine keeps one (SGLang allocates it whole at start)."""
        held = float(beside_kv(self.weights, self.activation_reserve, self.profile))
        return held + self.state_pool_bytes

    @property
    def kv_tokens(self) -> int:
        return int(self.kv_capacity // self.kv_bytes_per_token)

    def kv_kept(self, tokens: int | np.ndarray) -> int | np.ndarray:
        """Tokens' worth of all-layer KV cache a sequence of `tokens` holds: layers with a
        window or a budget keep only that many keys, rounded up to whole tokens."""
        if self.kv_spans == ((1.0, None),) and not self.state_tokens:
            return tokens
        kept = kv_tokens_kept(tokens, self.kv_spans, self.state_tokens)
        return np.ceil(kept - 1e-9).astype(np.int64)

    def shared_kept(self, tokens: int | np.ndarray) -> int | np.ndarray:
        """What a prefix shared by many requests holds: its KV only (each request keeps its own
        recurrent state)."""
        if self.kv_spans == ((1.0, None),):
            return tokens
        return np.ceil(kv_tokens_kept(tokens, self.kv_spans) - 1e-9).astype(np.int64)

    def step_time(
        self,
        decode_past: np.ndarray,
        chunk_tokens: np.ndarray = _NO_CHUNKS,
        chunk_past: np.ndarray = _NO_CHUNKS,
        chunk_samples: np.ndarray = _NO_SAMPLES,
    ) -> float:
        """One iteration: sequences decoding at contexts `decode_past` and prompt chunks. With
        speculation, the simulator takes a decode-only step as one emitted token per sequence
        at the step's time over the tokens it emits on average; a step that also prefills
        takes its whole time for one token each, and runs the MTP module over its prompt
        chunks too (its own cache, and the first drafts)."""
        spec = self.speculation
        if spec is None:
            return self.table.step_time(decode_past, chunk_tokens, chunk_past, chunk_samples)
        step = 0.0
        if len(chunk_tokens):
            none = np.zeros(0, np.int64)
            step = spec.draft.step_time(none, chunk_tokens, chunk_past, chunk_samples)
        if not len(decode_past):
            return step + self.table.step_time(decode_past, chunk_tokens, chunk_past, chunk_samples)
        past = np.asarray(decode_past, dtype=np.int64)
        fields, tokens, sequences = self._verify_fields(
            spec, past, chunk_tokens, chunk_past, chunk_samples
        )
        prefill = bool(prefills(chunk_tokens))
        step += float(self.table.priced(fields, np.asarray(tokens), np.asarray(sequences), prefill))
        step += spec.tokens * spec.draft.step_time(past)
        return step if len(chunk_tokens) else step / spec.per_step

    def _verify_fields(
        self,
        spec: Speculation,
        past: np.ndarray,
        chunk_tokens: np.ndarray = _NO_CHUNKS,
        chunk_past: np.ndarray = _NO_CHUNKS,
        chunk_samples: np.ndarray = _NO_SAMPLES,
    ) -> tuple[dict[str, np.ndarray], float, float]:
        """Fields, tokens and sequences (StepTable.fields) of a step verifying each decoding
        sequence's drafts (tokens + 1 new tokens at its context, sampled; the head priced on
        one row of each), beside prompt chunks."""
        q = spec.tokens + 1
        return self.table.fields(
            np.zeros(0, np.int64),
            np.concatenate([np.asarray(chunk_tokens, np.float64), np.full(len(past), float(q))]),
            np.concatenate([np.asarray(chunk_past, np.float64), past.astype(np.float64)]),
            np.concatenate([np.asarray(chunk_samples, bool), np.ones(len(past), bool)]),
        )

    def _speculative_run(self, spec: Speculation, past: np.ndarray, steps: int) -> np.ndarray:
        """Decode-only steps j = 0..steps-1 with speculation, each one token further: the
        verify step's fields are affine in the contexts as decode_run_times' are (two steps
        give them), the drafts' are the MTP module's decode steps."""
        first, tokens, sequences = self._verify_fields(spec, past)
        second, _, _ = self._verify_fields(spec, past + 1)
        base = np.stack([first[f] for f in Cost.FIELDS])
        slope = np.stack([second[f] for f in Cost.FIELDS]) - base
        verify = affine_run(self.table, base, slope, steps, tokens, sequences)
        drafts = spec.tokens * decode_run_times(spec.draft, past, steps)
        return (verify + drafts) / spec.per_step

    def decode_run(self, past: np.ndarray, steps: int) -> np.ndarray | None:
        """Times of up to `steps` decode-only iterations of sequences at contexts `past`, each
        step one token further, priced in one vectorized pass. The run stops before any
        sequence reaches a context where its per-sequence cost bends (a window or a budget) or
        leaves the step table, so it may be shorter than asked; None when not one step is left
        (the caller prices step by step)."""
        bends = self._bends
        # The last context of each sequence's affine piece: bends[] stays put up to it.
        last = np.searchsorted(bends, bends[np.minimum(past, len(bends) - 1)], side="right") - 1
        steps = min(steps, int((last - past).min()))
        if steps < 1:
            return None
        if self.speculation is not None:
            return self._speculative_run(self.speculation, past, steps)
        return decode_run_times(self.table, past, steps)

    @cached_property
    def _bends(self) -> np.ndarray:
        """bends[p]: contexts up to p where a per-sequence cost is not affine (its second
        difference is not zero): a run over [low, high] is affine when bends agree."""
        sequence = self.table._tables["sequence"]
        second = np.abs(np.diff(sequence, 2, axis=0))
        bent = np.any(second > 1e-9 * (np.abs(sequence[1:-1]) + 1.0), axis=(1, 2))
        return np.concatenate(([0, 0], np.cumsum(bent)))


def decode_run_times(table: StepTable, past: np.ndarray, steps: int) -> np.ndarray:
    """StepTable.fields of decode steps j = 0..steps-1 at contexts past + j: per-sequence
    fields are affine in the context (attention reads and computes over it linearly), so step
    j's are step 0's plus j times the sum of the slopes; exact where the table's second
    differences vanish over the contexts each sequence covers (Replica.decode_run checks)."""
    rows = len(past)
    tables = table._tables
    sequence = tables["sequence"]
    base_sequence = sequence[past].sum(axis=0)
    base_sequence[_WEIGHT] = tables["weights_decode"][rows, _WEIGHT]
    # Each sequence on its own affine piece (before or past a window, say): its own slope.
    slope_sequence = (sequence[past + 1] - sequence[past]).sum(axis=0)
    slope_sequence[_WEIGHT] = 0.0
    token, head = tables["token_decode"][rows], tables["rows"][rows]
    base = np.concatenate((token, base_sequence, head), axis=1)[:, table._graph_order]
    slope = np.concatenate((np.zeros_like(token), slope_sequence, np.zeros_like(head)), axis=1)[
        :, table._graph_order
    ]
    return affine_run(table, base, slope, steps, rows, rows)


def affine_run(
    table: StepTable,
    base: np.ndarray,
    slope: np.ndarray,
    steps: int,
    tokens: float,
    sequences: float,
) -> np.ndarray:
    """Times of steps j = 0..steps-1 of `tokens` each, over `sequences`, whose operator
    fields (Cost.FIELDS x operators) are `base` plus j `slope`."""
    fields = base[..., None] + slope[..., None] * np.arange(steps, dtype=np.float64)
    return table.priced(
        dict(zip(Cost.FIELDS, fields, strict=True)),
        np.full(steps, float(tokens)),
        np.full(steps, float(sequences)),
    )


def check_options(options: AnalysisOptions) -> None:
    """Settings the simulator does not model are refused, naming them."""
    par = options.parallelism
    unsupported = {
        "pp": (par.pp, 1, "1 (pipeline-parallel serving is not simulated; use tp)"),
        "dp": (par.dp, 1, "1 (data parallelism is the cluster's replicas)"),
        "micro_batches": (par.micro_batches, 1, "1"),
        "early_exit_depth": (options.early_exit_depth, 1.0, "1.0 (early exit is not simulated)"),
        "prompt_keep": (
            options.prompt_keep,
            1.0,
            "1.0 (prompt compression is not simulated; draw shorter prompts)",
        ),
    }
    for field, (value, default, accepted) in unsupported.items():
        if value != default:
            raise InvalidInputError(field, value, accepted)


def build_replica(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    *,
    max_tokens: int,
    max_context: int,
    max_rows: int,
    draft_tokens: int = 0,
    acceptance: float = 1.0,
) -> Replica:
    """Price steps of up to `max_tokens` tokens and `max_rows` sequences at contexts up to
    `max_context` from tables; reserve activations for a `max_tokens` step. `draft_tokens`:
    speculative decoding with the model's MTP module (Speculation), which the replica then
    holds too: its weights, and its layer's KV cache beside the model's."""
    check_options(options)
    quant = options.quantization
    graph = build_graph(model, options, device)
    if draft_tokens and not model.mtp_layers:
        raise InvalidInputError(
            "draft_tokens", draft_tokens, f"0: {model.name} has no multi-token-prediction module"
        )
    if draft_tokens:
        graph = verification_graph(graph, draft_tokens + 1)

    def tabled(g: Graph) -> StepTable:
        batch = MixedBatch(
            g,
            device,
            quant,
            options.calibration,
            options.execution,
            (options.offload_weights, options.offload_kv),
            options.offload_disk_bandwidth,
            prefill_graph_limit(options),
        )
        return StepTable(batch, max_tokens, max_context, max_rows)

    local = local_model(model, options.parallelism)
    one = np.ones(())
    reserve = float(peak_activation_bytes(graph, quant, Step(one, one * max_tokens, 0 * one)))
    weights = weight_bytes(graph, quant)
    kv_per_token = kv_bytes_per_token(local, quant)
    spans = kv_spans(model, options)
    speculation = None
    if draft_tokens:
        module = mtp_graph(model, options, device)
        modules = mtp_modules_held(model)  # every module, each with its layer's cache
        weights += modules * weight_bytes(stored_part(model, module), quant)
        layer = local_model(mtp_model(model), options.parallelism)
        drafted = modules * kv_bytes_per_token(layer, quant)
        # The modules' caches beside the model's, each share of a token's bytes keeping what
        # its layers keep (a module's window layer, Step 3.7's, only its window).
        total = kv_per_token + drafted
        kept: dict[int | None, float] = {}
        for weight, parts in ((kv_per_token, spans), (drafted, kv_spans(layer, options))):
            for share, span in parts:
                kept[span] = kept.get(span, 0.0) + share * weight / total
        # Every layer of one kind, all whole (DeepSeek's and its module's), stays exactly one,
        # not one up to rounding; a hybrid's few attention layers and its module's keep their
        # share (Qwen3.5-9B's 8 of 32 layers and a module: 9 x 4,096 of 135,168 bytes).
        spans = tuple((v, k) for k, v in kept.items())
        if len(kept) == 1 and math.isclose(spans[0][0], 1.0, rel_tol=1e-12):
            spans = ((1.0, spans[0][1]),)
        kv_per_token = total
        speculation = Speculation(draft_tokens, acceptance, tabled(module))
    replica = Replica(
        table=tabled(graph),
        devices=options.parallelism.tp,
        memory=device.memory_capacity,
        weights=0.0 if options.offload_weights else weights,
        activation_reserve=reserve,
        profile=options.calibration,
        kv_bytes_per_token=kv_per_token,
        host_bandwidth=device.host_bandwidth,
        link_bandwidth=device.interconnect_bandwidth or device.network_bandwidth,
        kv_spans=spans,
        state_tokens=state_bytes(local, quant) / kv_per_token,
        speculation=speculation,
    )
    if replica.kv_capacity <= 0:
        profile = options.calibration
        share = ""
        if profile is not None and profile.memory_fraction < 1:
            of = SHARE_OF[profile.memory_fraction_of]
            share = f" at the engine's memory share ({profile.memory_fraction:g} of {of})"
        raise InvalidInputError(
            "hardware",
            device.name,
            f"a device with room for a KV cache: weights {weights / 1e9:.1f} GB + activations "
            f"{reserve / 1e9:.1f} GB per device leave none in its "
            f"{device.memory_capacity / 1e9:.0f} GB{share} (quantize, add tensor parallelism, "
            f"or a smaller iteration than {max_tokens:,} tokens: max_tokens, or chunk_size "
            "under continuous batching with a chunk size)",
        )
    return replica
