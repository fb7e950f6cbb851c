"""Steps of a mixed batch: sequences at different contexts in one forward pass.

Continuous batching (Orca, Yu et al. 2022; vLLM, Kwon et al. 2023) runs, in one iteration,
decode tokens of some requests and prompt tokens (or chunks of prompts, SARATHI, Agrawal et al.
2023) of others. Such a step reads the weights once for all its tokens, runs every token-wise
operator (projections, norms, MLP) on the concatenated tokens, and attends per sequence, each
over its own context. Its cost per operator is therefore

    token-wise operators:  cost(all T tokens as one sequence)
    attention operators:   sum over sequences of cost(that sequence), weights read once
    head operators:        cost(one row per sequence that samples a token)

which the uniform step of rooflens.core.operators reproduces exactly for a batch of equal
sequences. Sequence axes are numpy arrays: `new_tokens` and `past` of shape (..., R) price
many steps of R sequence slots at once; slots with no new tokens are empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.graph import Graph
from rooflens.core.hardware import Device
from rooflens.core.operators import Collective, Cost, Operator, Step
from rooflens.core.options import Quantization
from rooflens.core.plan import build_plan
from rooflens.core.pricing import (
    Execution,
    Placement,
    StepCosts,
    fallback_notes,
    operator_fields,
    price_fields,
)
from rooflens.core.techniques import early_exit

_PROBE_PAST = 7.0
_WEIGHT = Cost.FIELDS.index("load_weight")
_NO_CHUNKS = np.zeros(0)


def prefills(new_tokens: np.ndarray) -> np.ndarray:
    """Whether a step prefills: some sequence takes more than one new token (a prompt chunk),
    the last axis being the step's sequences. Such a step reads the token tables' prefill
    rows and attention's prefill curves (Placement.prefill)."""
    return np.any(np.asarray(new_tokens) > 1, axis=-1)


_NO_SAMPLES = np.zeros(0, dtype=bool)


def _depends_on_context(op: Operator, graph: Graph, quant: Quantization) -> bool:
    """Whether an operator's cost (weights aside) changes with the cached context: attention
    and its bookkeeping do, token-wise operators do not."""
    # A one-off plan, kept out of the plan cache.
    single = build_plan(Graph(operators=(op,), num_layers=graph.num_layers), quant)
    one = np.ones(1)
    near = single.fields(Step(batch=one, new_tokens=one, past=0 * one))
    far = single.fields(Step(batch=one, new_tokens=one, past=_PROBE_PAST * one))
    return any(not np.allclose(near[f], far[f]) for f in Cost.FIELDS if f not in ("load_weight",))


def _is_last_token(op: Operator) -> bool:
    return bool(getattr(op, "last_token_only", False))


@dataclass(frozen=True)
class MixedBatch:
    """Prices steps of sequences that each add `new_tokens` after `past` cached tokens."""

    graph: Graph
    device: Device
    quant: Quantization
    profile: EfficiencyProfile | None = None
    execution: Execution = "graphs"
    offload: tuple[bool, bool] = (False, False)
    disk_bandwidth: float | None = None
    # The most tokens a prefilling step runs from a CUDA graph with (pricing's
    # prefill_graph_limit): a larger one runs eagerly.
    prefill_graph_tokens: float = np.inf

    @cached_property
    def placement(self) -> Placement:
        return Placement.of(self.graph, self.device, self.quant)

    @cached_property
    def fallbacks(self) -> tuple[str, ...]:
        """What the profile prices with another type's or class's curves (fallback_notes)."""
        return () if self.profile is None else fallback_notes(self.placement, self.profile)

    @cached_property
    def counts(self) -> np.ndarray:
        return early_exit.counts(self.graph, None)

    @cached_property
    def _kinds(self) -> np.ndarray:
        """Per operator: 0 token-wise, 1 per sequence (context), 2 one row per sampled sequence."""
        kinds = []
        for op in self.graph.operators:
            if isinstance(op, Collective):
                kinds.append(2 if _is_last_token(op) else 0)
            elif _depends_on_context(op, self.graph, self.quant):
                kinds.append(1)
            else:
                kinds.append(2 if _is_last_token(op) else 0)
        return np.array(kinds)

    def _subgraph(self, kind: int) -> Graph:
        ops = tuple(
            op for op, k in zip(self.graph.operators, self._kinds, strict=True) if k == kind
        )
        return Graph(
            operators=ops, num_layers=self.graph.num_layers, hidden_size=self.graph.hidden_size
        )

    @cached_property
    def _graphs(self) -> tuple[Graph, Graph, Graph]:
        return (self._subgraph(0), self._subgraph(1), self._subgraph(2))

    def fields(
        self, new_tokens: np.ndarray, past: np.ndarray, sampled: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Operator fields (operator axis first, then the step shape), tokens and sequences
        (those with new tokens) per step. `sampled` marks the sequences that produce a token
        this step (all non-empty ones by default; a prompt chunk that does not finish its
        prompt samples none)."""
        n = np.asarray(new_tokens, dtype=np.float64)
        p = np.asarray(past, dtype=np.float64)
        n, p = np.broadcast_arrays(n, p)
        live = n > 0
        samples = (live if sampled is None else np.asarray(sampled) & live).sum(axis=-1)
        tokens = n.sum(axis=-1)
        decode_only = np.all(n <= 1, axis=-1)
        # Token-wise work sees the step as one sequence of all its tokens; in a step of decode
        # tokens only, as that many one-token sequences (Deja Vu's sparsity applies to those).
        one = np.ones_like(tokens)
        token_step = Step(
            batch=np.where(decode_only, tokens, one),
            new_tokens=np.where(decode_only, one, tokens),
            past=np.zeros_like(tokens),
        )
        per_sequence = Step(batch=live.astype(np.float64), new_tokens=n, past=np.where(live, p, 0))
        row_step = Step(
            batch=samples.astype(np.float64), new_tokens=one, past=np.zeros_like(tokens)
        )
        token_g, sequence_g, row_g = self._graphs
        parts = {}
        if token_g.operators:
            parts[0] = operator_fields(token_g, self.quant, token_step)
        if row_g.operators:
            parts[2] = operator_fields(row_g, self.quant, row_step)
        if sequence_g.operators:
            seq = operator_fields(sequence_g, self.quant, per_sequence)
            weights = operator_fields(sequence_g, self.quant, token_step)["load_weight"]
            parts[1] = {f: v.sum(axis=-1) for f, v in seq.items()} | {"load_weight": weights}
        return _interleave(self._kinds, parts, tokens.shape), tokens, live.sum(axis=-1)

    def price(
        self,
        new_tokens: np.ndarray,
        past: np.ndarray,
        sampled: np.ndarray | None = None,
        prefill: bool = False,
    ) -> StepCosts:
        """Priced steps; `prefill`: as steps that prefill (Placement.prefill)."""
        fields, tokens, sequences = self.fields(new_tokens, past, sampled)
        return price_fields(
            self.placement.prefill if prefill else self.placement,
            self.counts,
            self.device,
            fields,
            tokens,
            sequences,
            self.profile,
            self.execution,
            offload=self.offload,
            disk_bandwidth=self.disk_bandwidth,
            graph_tokens=self.prefill_graph_tokens if prefill else np.inf,
        )

    def step_time(
        self, new_tokens: np.ndarray, past: np.ndarray, sampled: np.ndarray | None = None
    ) -> np.ndarray:
        """Each step's time, a step with a prompt chunk (more than one new token for some
        sequence) priced as one that prefills."""
        prefill = prefills(new_tokens)
        if prefill.all() or not prefill.any():
            return self.price(new_tokens, past, sampled, bool(prefill.all())).step_time()
        decode_times = self.price(new_tokens, past, sampled).step_time()
        prefill_times = self.price(new_tokens, past, sampled, prefill=True).step_time()
        return np.where(prefill, prefill_times, decode_times)


def _interleave(
    kinds: np.ndarray, parts: dict[int, dict[str, np.ndarray]], shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Put the operator rows of each kind back in graph order."""
    out = {}
    for f in Cost.FIELDS:
        rows = np.zeros((len(kinds), *shape))
        for kind, fields in parts.items():
            rows[kinds == kind] = fields[f]
        out[f] = rows
    return out


def _stacked(fields: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([fields[f] for f in Cost.FIELDS])


@dataclass(frozen=True)
class StepTable:
    """MixedBatch with its costs tabulated once: token-wise operators for every token count up
    to `max_tokens`, one decode sequence at every context up to `max_context`, the head for up
    to `max_rows` sampled sequences. A step then costs a few lookups and sums, so a simulator
    can price every iteration; steps beyond the tables are priced directly."""

    batch: MixedBatch
    max_tokens: int
    max_context: int
    max_rows: int

    @cached_property
    def _tables(self) -> dict[str, np.ndarray]:
        mb = self.batch
        token_g, sequence_g, row_g = mb._graphs
        q = mb.quant
        t = np.arange(self.max_tokens + 1, dtype=np.float64)
        ones, zeros = np.ones_like(t), np.zeros_like(t)
        as_decode = Step(batch=t, new_tokens=ones, past=zeros)
        as_prefill = Step(batch=ones, new_tokens=t, past=zeros)
        p = np.arange(self.max_context + 1, dtype=np.float64)
        rows = np.arange(self.max_rows + 1, dtype=np.float64)
        tables = {}
        for name, graph, step in (
            ("token_decode", token_g, as_decode),
            ("token_prefill", token_g, as_prefill),
            ("weights_decode", sequence_g, as_decode),
            ("weights_prefill", sequence_g, as_prefill),
            (
                "sequence",
                sequence_g,
                Step(batch=np.ones_like(p), new_tokens=np.ones_like(p), past=p),
            ),
            ("rows", row_g, Step(batch=rows, new_tokens=np.ones_like(rows), past=0 * rows)),
            ("prompt", sequence_g, as_prefill),
        ):
            stacked = (
                _stacked(operator_fields(graph, q, step))
                if graph.operators
                else np.zeros((len(Cost.FIELDS), 0, len(step.past)))
            )
            # Size axis first, so one lookup is one contiguous (field, operator) block.
            tables[name] = np.ascontiguousarray(stacked.transpose(2, 0, 1))
        return tables

    @cached_property
    def _graph_order(self) -> np.ndarray:
        """Columns of [token-wise | per-sequence | per-row] operators -> graph order."""
        return np.argsort(np.argsort(self.batch._kinds, kind="stable"), kind="stable")

    def fields(
        self,
        decode_past: np.ndarray,
        chunk_tokens: np.ndarray,
        chunk_past: np.ndarray,
        chunk_samples: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], float, float]:
        """Fields, tokens and sequences of one step: decode sequences at contexts
        `decode_past`, and prompt chunks of `chunk_tokens` after `chunk_past`, of which those
        flagged in `chunk_samples` end their prompt (and sample a first token)."""
        decode_past = np.asarray(decode_past, dtype=np.int64)
        chunk_tokens = np.asarray(chunk_tokens, dtype=np.float64)
        tokens = len(decode_past) + float(chunk_tokens.sum())
        sequences = float(len(decode_past) + len(chunk_tokens))
        rows = len(decode_past) + int(np.count_nonzero(chunk_samples))
        fits = (
            tokens <= self.max_tokens
            and rows <= self.max_rows
            and (not len(decode_past) or decode_past.max() <= self.max_context)
        )
        if not fits:
            n = np.concatenate([np.ones(len(decode_past)), chunk_tokens])
            past = np.concatenate([decode_past, np.asarray(chunk_past, dtype=np.float64)])
            sampled = np.concatenate([np.ones(len(decode_past), bool), chunk_samples])
            return self.batch.fields(n, past, sampled)[0], tokens, sequences
        tables = self._tables
        t = int(tokens)
        flavour = "prefill" if prefills(chunk_tokens) else "decode"
        sequence = tables["sequence"][decode_past].sum(axis=0)
        if len(chunk_tokens):
            chunk_past = np.asarray(chunk_past, dtype=np.float64)
            fresh = chunk_past == 0
            # Whole prompts (nothing cached yet) come from a table; later chunks are priced.
            sequence = sequence + tables["prompt"][chunk_tokens[fresh].astype(np.int64)].sum(0)
            if not fresh.all():
                step = Step(
                    batch=np.ones(int((~fresh).sum())),
                    new_tokens=chunk_tokens[~fresh],
                    past=chunk_past[~fresh],
                )
                graph = self.batch._graphs[1]
                fields = _stacked(operator_fields(graph, self.batch.quant, step))
                sequence = sequence + fields.sum(-1)
        sequence[_WEIGHT] = tables[f"weights_{flavour}"][t, _WEIGHT]
        parts = (tables[f"token_{flavour}"][t], sequence, tables["rows"][rows])
        out = np.concatenate(parts, axis=1)[:, self._graph_order]
        return dict(zip(Cost.FIELDS, out, strict=True)), tokens, sequences

    def step_time(
        self,
        decode_past: np.ndarray,
        chunk_tokens: np.ndarray = _NO_CHUNKS,
        chunk_past: np.ndarray = _NO_CHUNKS,
        chunk_samples: np.ndarray = _NO_SAMPLES,
    ) -> float:
        fields, tokens, sequences = self.fields(
            decode_past, chunk_tokens, chunk_past, chunk_samples
        )
        prefill = bool(prefills(chunk_tokens))
        return float(self.priced(fields, np.asarray(tokens), np.asarray(sequences), prefill))

    def priced(
        self,
        fields: Mapping[str, np.ndarray],
        tokens: np.ndarray,
        sequences: np.ndarray,
        prefill: bool = False,
    ) -> np.ndarray:
        """Step times of operator fields (operator axis first, then the steps'), `tokens` and
        `sequences` per step: the batch's pricing; `prefill`: of steps with a prompt chunk
        (Placement.prefill), as `fields` tabulates them."""
        mb = self.batch
        costs = price_fields(
            mb.placement.prefill if prefill else mb.placement,
            mb.counts,
            mb.device,
            fields,
            tokens,
            sequences,
            mb.profile,
            mb.execution,
            offload=mb.offload,
            disk_bandwidth=mb.disk_bandwidth,
            graph_tokens=mb.prefill_graph_tokens if prefill else np.inf,
        )
        return np.asarray(costs.step_time(), dtype=np.float64)
