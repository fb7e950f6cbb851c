"""Operators of a decoder-only transformer and their cost formulas.

Every formula lives here, once. Sizes are numpy arrays (any broadcastable shape), so one call
prices a whole sweep. OPs count 2 per multiply-accumulate (seed 000, Table 1). Bytes are split
into weight, activation and KV-cache loads and stores, as LLM-Viewer does (seed 000, sec. 2.4).

Most operators state each cost field as `terms`: a sum of coefficients (fixed by the operator
and the precision) times products of step atoms (`STEP_ATOMS`: tokens, batch, attention
scores, ...). `cost` evaluates them for one operator; `rooflens.core.plan` evaluates those of a
whole graph for all sizes at once as one matrix product. An operator may instead define `cost`
itself (any numpy formula of the step): it is then priced by calling it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

import numpy as np

from rooflens.core.options import Conventions, Quantization
from rooflens.core.techniques import quantization, weight_sparsity

Scope = Literal["block", "head"]


@dataclass(frozen=True)
class Step:
    """One forward pass: `batch` sequences, each adding `new_tokens` after `past` cached ones."""

    batch: np.ndarray
    new_tokens: np.ndarray
    past: np.ndarray
    # Most keys one query may attend to: a sliding window.
    span: float = np.inf
    # Chunked local attention (Llama 4): a query sees only the keys of its own chunk.
    chunk: float = np.inf

    def limited(
        self, span: float | None, chunk: float | None = None, kept: float | None = None
    ) -> Step:
        """The step as a layer attending within `span` keys and its `chunk` sees it, its cache
        evicted to `kept` keys (a KV budget: H2O, StreamingLLM), which caps the cached keys
        only, the step's own being attended before eviction."""
        step = self if kept is None else replace(self, past=np.minimum(self.past, kept))
        step = step if span is None else replace(step, span=min(step.span, span))
        return step if chunk is None else replace(step, chunk=min(step.chunk, chunk))

    @property
    def tokens(self) -> np.ndarray:
        return self.batch * self.new_tokens

    @property
    def keys(self) -> np.ndarray:
        """Keys the last new token sees: the cache plus this step's tokens, within the span.
        Chunked, a decode token at position j sees the (j-1) mod C + 1 keys of its chunk; a
        step of several tokens is priced as q x (at most C) blocks, as a window of C."""
        last = self.past + self.new_tokens
        if np.isfinite(self.chunk):
            last = np.where(
                self.new_tokens == 1, (last - 1) % self.chunk + 1, np.minimum(last, self.chunk)
            )
        return np.minimum(last, self.span)

    @property
    def block_keys(self) -> np.ndarray:
        """Keys each query row of an unfused (eager) score block spans: the cached keys a
        window or chunk still holds and all of the step's own tokens, the ones its mask hides
        included (transformers' sliding-window caches keep W - 1 keys, a chunked layer's as a
        window of its chunk, and hand the step's attention all of them): under a window a
        decode token's `keys`; under a chunk, its cache's whole window."""
        held = self.past
        limit = min(self.span, self.chunk)
        if np.isfinite(limit):
            held = np.minimum(held, limit - 1)
        return held + self.new_tokens

    @property
    def seen_keys(self) -> np.ndarray:
        """Keys any of this step's new tokens sees, each read at least once: the cache and the
        step's tokens, less those before the first new token's window or chunk (a decode
        token's `keys`; a prefill of q tokens under a window W, min(past + q, q + W - 1))."""
        last = self.past + self.new_tokens
        first = np.zeros_like(last)
        if np.isfinite(self.span):
            first = np.maximum(first, self.past + 1 - self.span)
        if np.isfinite(self.chunk):
            first = np.maximum(first, np.floor(self.past / self.chunk) * self.chunk)
        return last - first

    @property
    def causal_pairs(self) -> np.ndarray:
        """(query, key) pairs a causal mask leaves per sequence and head: sum over the new
        positions j = past+1 .. past+q of min(j, span); chunked, of min((j-1) mod C + 1, span)."""
        first, last = self.past, self.past + self.new_tokens
        if np.isfinite(self.chunk):
            return self._chunked_pairs(last) - self._chunked_pairs(first)
        edge = np.clip(self.span, first, last)
        beyond = np.where(last > edge, (last - edge) * np.minimum(self.span, 1e300), 0.0)
        return (edge * (edge + 1) - first * (first + 1)) / 2 + beyond

    def _capped_sum(self, n: np.ndarray) -> np.ndarray:
        """sum_{i=1}^{n} min(i, span)."""
        edge = np.minimum(n, self.span)
        return edge * (edge + 1) / 2 + np.where(
            n > edge, (n - edge) * np.minimum(self.span, 1e300), 0
        )

    def _chunked_pairs(self, n: np.ndarray) -> np.ndarray:
        """Pairs of positions 1..n: whole chunks of C, then the partial one."""
        c = self.chunk
        return np.floor(n / c) * self._capped_sum(np.asarray(c)) + self._capped_sum(n % c)


@dataclass(frozen=True)
class Precision:
    """Bytes per element of each tensor class, derived from the quantization settings."""

    quant: Quantization

    @property
    def act(self) -> float:
        """Activations between operators (Quantization.stream_bits)."""
        return self.quant.stream_bits / 8

    @property
    def gemm_input(self) -> float:
        """A quantized GEMM's input: the activations at `a_bits`."""
        return self.quant.a_bits / 8

    @property
    def kv(self) -> float:
        """A cached key or value, with its share of the group's scales below 8 bits."""
        return self.quant.kv_value_bits / 8

    @property
    def unquantized(self) -> float:
        return self.quant.unquantized_bits / 8


@dataclass(frozen=True)
class Cost:
    ops: np.ndarray
    load_weight: np.ndarray
    load_act: np.ndarray
    store_act: np.ndarray
    load_kv: np.ndarray
    store_kv: np.ndarray
    link_time: np.ndarray
    vector_ops: np.ndarray
    # The message a device puts into a collective (bytes): what measured collectives are
    # tabulated against (rooflens.core.efficiency.EngineProfile).
    link_bytes: np.ndarray

    FIELDS = (
        "ops",
        "load_weight",
        "load_act",
        "store_act",
        "load_kv",
        "store_kv",
        "link_time",
        "vector_ops",
        "link_bytes",
    )


def _cost(**fields: object) -> Cost:
    return Cost(**{f: np.asarray(fields.get(f, 0.0), dtype=np.float64) for f in Cost.FIELDS})


# An atom names a quantity of a step: (kind, *parameters), e.g. ("scores", span, chunk).
Atom = tuple
# coefficient x the product of atoms, in their order.
Term = tuple[float, tuple[Atom, ...]]
Terms = dict[str, tuple[Term, ...]]
ONE: Atom = ("one",)
TOKENS: Atom = ("tokens",)
BATCH: Atom = ("batch",)


def _scores(
    step: Step, span: float | None, chunk: float | None, kept: float | None = None
) -> np.ndarray:
    """Scores per head: batch x new tokens x the keys each sees (the full q x keys block)."""
    s = step.limited(span, chunk, kept)
    return s.batch * s.new_tokens * s.keys


def _masked_scores(
    step: Step, span: float | None, chunk: float | None, kept: float | None = None
) -> np.ndarray:
    """A causal model's unfused scores per head: batch x new tokens x the keys each row of
    the block spans, those its window's or chunk's mask hides included (Step.block_keys)."""
    s = step.limited(span, chunk, kept)
    return s.batch * s.new_tokens * s.block_keys


def _score_block(masked: bool, span: int | None, chunk: int | None, kept: int | None) -> Atom:
    """The scores an unfused kernel computes: the whole block its window's or chunk's mask
    hides part of (`masked_scores`), or only the keys each query sees (`scores`)."""
    return ("masked_scores" if masked else "scores", span, chunk, kept)


def _batch_keys(
    step: Step, span: float | None, chunk: float | None, kept: float | None = None
) -> np.ndarray:
    """Keys read per KV head: batch x the keys the step's new tokens see (a windowed prefill
    reads every key some query's window holds, not the last query's window alone)."""
    s = step.limited(span, chunk, kept)
    return s.batch * s.seen_keys


def _masked_keys(
    step: Step, span: float | None, chunk: float | None, kept: float | None = None
) -> np.ndarray:
    """Keys an unfused (eager) kernel reads per KV head, over the batch: every key its score
    block spans (Step.block_keys; a chunked decode reads its cache's whole window)."""
    s = step.limited(span, chunk, kept)
    return s.batch * s.block_keys


def _kv_read(masked: bool, span: int | None, chunk: int | None, kept: int | None) -> Atom:
    """The keys an unfused kernel reads beside its scores (`_score_block`): the whole masked
    block's, or those the step's queries see."""
    return ("masked_keys" if masked else "batch_keys", span, chunk, kept)


def _pairs(
    step: Step, span: float | None, chunk: float | None, kept: float | None = None
) -> np.ndarray:
    """Unmasked (query, key) pairs per head under the causal mask, over the batch."""
    s = step.limited(span, chunk, kept)
    return s.batch * s.causal_pairs


def _streamed_keys(
    step: Step,
    rows_per_block: float,
    span: float | None,
    chunk: float | None,
    kept: float | None = None,
) -> np.ndarray:
    """Keys FlashAttention streams per KV head, over the batch (FlashAttention-2, Dao 2023):
    query block i (1-based) of r = `rows_per_block` tokens after p cached ones sees p + i·r
    keys, the last block all of them; under a window W a block sees at most W + r − 1 (its
    first row's W and the r − 1 after it). Chunked (Llama 4), each chunk's tokens are a
    sequence of their own, as vLLM runs them (virtual batches): blocks start at a chunk's
    start and see only its keys."""
    s = step.limited(span, chunk, kept)
    if not np.isfinite(s.chunk):
        return s.batch * _block_sweep(s.past, s.new_tokens, rows_per_block, s.span)
    c = s.chunk
    into = s.past % c  # the cached tokens of the chunk the step starts in
    first = np.minimum(s.new_tokens, c - into)
    rest = s.new_tokens - first
    whole = np.floor(rest / c)
    zero = np.zeros_like(rest)
    streamed = (
        _block_sweep(into, first, rows_per_block, s.span)
        + whole * _block_sweep(zero, zero + c, rows_per_block, s.span)
        + _block_sweep(zero, rest - whole * c, rows_per_block, s.span)
    )
    return s.batch * streamed


def _block_sweep(past: np.ndarray, new: np.ndarray, rows: float, span: float) -> np.ndarray:
    """Keys the causal query blocks of `new` tokens after `past` stream: sum over blocks
    i = 1..N of min(past + i·rows, W + rows − 1), the last block's past + new (none for no
    tokens)."""
    blocks = np.ceil(new / rows)
    full = past + new  # what the last block sees
    if not np.isfinite(span):
        return np.where(
            blocks > 0, (blocks - 1) * past + rows * (blocks - 1) * blocks / 2 + full, 0
        )
    reach = span + rows - 1  # the most keys a whole block sees
    # Blocks 1..N-1 below the reach see past + i·rows, the others the reach; the last (its
    # rows what is left) all keys, or its own reach.
    whole = np.maximum(blocks - 1, 0)
    below = np.clip(np.floor((reach - past) / rows), 0, whole)
    early = below * past + rows * below * (below + 1) / 2
    last = np.minimum(full, span + new - whole * rows - 1)
    return np.where(blocks > 0, early + (whole - below) * reach + last, 0)


def _block_keys(
    step: Step,
    rows_per_block: float,
    span: float | None,
    chunk: float | None,
    kept: float | None = None,
) -> np.ndarray:
    """Keys a bidirectional FlashAttention streams per KV head, over the batch: every query
    block of `rows_per_block` tokens reads every key it sees (a ViT's patches, no mask)."""
    s = step.limited(span, chunk, kept)
    return s.batch * np.ceil(s.new_tokens / rows_per_block) * s.keys


def _splits(
    step: Step,
    split_keys: int,
    span: float | None,
    chunk: float | None,
    kept: float | None = None,
) -> np.ndarray:
    """FlashDecoding's key splits over the batch: ceil(keys / split) per decode sequence."""
    s = step.limited(span, chunk, kept)
    return s.batch * np.where(s.new_tokens == 1, np.ceil(s.keys / split_keys), 0)


def _ceil_rows(step: Step, rows: Atom, per: int) -> np.ndarray:
    """Tiles of `per` rows: ceil(rows / per)."""
    return np.ceil(STEP_ATOMS[rows[0]](step, *rows[1:]) / per)


STEP_ATOMS = {
    "one": lambda step: np.ones(np.shape(step.tokens)),
    "tokens": lambda step: step.tokens,
    "batch": lambda step: step.batch,
    "scores": _scores,
    "masked_scores": _masked_scores,
    "batch_keys": _batch_keys,
    "masked_keys": _masked_keys,
    "pairs": _pairs,
    "streamed_keys": _streamed_keys,
    "block_keys": _block_keys,
    "splits": _splits,
    "ceil_rows": _ceil_rows,
}


def evaluate(terms: tuple[Term, ...], step: Step) -> np.ndarray | float:
    """Sum of coefficient x atoms of `terms` at `step` (0.0 for none)."""
    total: np.ndarray | float = 0.0
    for coef, atoms in terms:
        value: np.ndarray | float = coef
        for atom in atoms:
            value = value * STEP_ATOMS[atom[0]](step, *atom[1:])
        total = total + value
    return total


def priced_by_terms(op: Operator) -> bool:
    """Whether an operator states its costs as terms (else its own `cost` prices it)."""
    return type(op).cost is Operator.cost


def per_row(op: Operator, terms: tuple[Term, ...]) -> tuple[Term, ...]:
    """Terms counted per token, scaled to the rows the operator runs on (`row_share`)."""
    if op.row_share == 1.0:
        return terms
    return tuple((c * op.row_share if TOKENS in atoms else c, atoms) for c, atoms in terms)


@dataclass(frozen=True)
class Operator:
    """Base: a named node reading `inputs` and producing `output` (tensor names, for liveness)."""

    name: str
    scope: Scope
    inputs: tuple[str, ...]
    output: str

    # Which calibrated efficiency curves apply (rooflens.core.efficiency).
    efficiency_class: ClassVar[str] = "vector"
    # Block operators present in only some layers (dense vs MoE MLPs) say in how many.
    layers: int | None = None
    # Marks set by technique passes (rooflens.core.techniques), priced there.
    # Fusion: the input is already on chip, the output stays on chip, and the work runs inside
    # the previous operator's kernel (no kernel of its own).
    input_on_chip: bool = False
    output_on_chip: bool = False
    fused: bool = False
    # Fusion: the operator whose GEMM this one's weights are concatenated into (k/v into q's,
    # up into gate's): one kernel, whose efficiency is that of the joint size.
    joins: str | None = None
    # Contextual sparsity: in decode each token uses only this share of the operator's heads or
    # neurons; `sparse_side` says whether they are the output ("out") or input ("in") channels.
    active: float = 1.0
    sparse_side: Literal["out", "in", "heads"] = "out"
    # Runs in decode steps only (Deja Vu's predictors).
    decode_only: bool = False
    # Which of a model's MLPs of several widths this operator belongs to (Nemotron-NAS lists
    # gate_proj once per width): the tables' label; None where a model has one MLP width.
    mlp_width: int | None = None
    # Rows this operator runs on per token of the step, where fewer than one: a vision
    # projector after the tower merges its patches runs on tokens_per_image / patches of them.
    row_share: float = 1.0

    def terms(self, prec: Precision) -> Terms:
        """Each cost field as terms (fields left out cost nothing)."""
        raise NotImplementedError

    def cost(self, step: Step, prec: Precision) -> Cost:
        terms = self.terms(prec)
        return _cost(**{f: evaluate(per_row(self, t), step) for f, t in terms.items()})

    def output_terms(self, prec: Precision) -> tuple[Term, ...]:
        """Bytes of the temporary this operator writes, as terms: what it stores."""
        return self.terms(prec).get("store_act", ())

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        """Bytes of the temporary this operator writes (0 when it writes to the KV cache)."""
        if not priced_by_terms(self):
            return self.cost(step, prec).store_act
        return np.asarray(evaluate(per_row(self, self.output_terms(prec)), step), dtype=np.float64)

    def compute_bits(self, quant: Quantization) -> int | None:
        """Operand width of matrix work, or None for element-wise work on the vector units."""
        return None

    def float_compute(self, quant: Quantization) -> bool:
        """Whether matrix work prefers float tensor types (FP8/MXFP4 weights)."""
        return False

    def float_only(self, quant: Quantization) -> bool:
        """Whether its operands are float values no integer unit holds (FP8/MXFP4 weights,
        FP8 index keys): float tensor types, or a wider float type where the device has none."""
        return False

    def sparse_tensor(self, quant: Quantization) -> bool:
        return False

    def params(self) -> int:
        return 0

    def weight_bytes(self, quant: Quantization) -> float:
        return self.params() * quant.unquantized_bits / 8


@dataclass(frozen=True)
class Linear(Operator):
    """y = x W (+ b). `last_token_only` prices a head that only needs each sequence's last token;
    `to_kv_cache` stores the output in the KV cache (k_proj, v_proj)."""

    efficiency_class: ClassVar[str] = "matmul"

    in_features: int = 0
    out_features: int = 0
    bias: bool = False
    quantized: bool = True
    last_token_only: bool = False
    to_kv_cache: bool = False
    # The operator's own storage where a checkpoint keeps this module class apart
    # (techniques.quantization); None: the analysis's quantization. It runs as stored: its
    # weights, its inputs' width and the compute type both share (a ModelOpt MIXED_PRECISION
    # checkpoint's FP8 attention computes in FP8 beside W4A16 NVFP4 MLPs, which dequantize to
    # BF16, as vLLM's ModelOptMixedPrecisionConfig runs each layer with its own method).
    weight_quant: Quantization | None = None

    def runs_at(self, quant: Quantization) -> Quantization:
        """The precision a quantized operator runs at: its own storage, else the analysis's."""
        return self.weight_quant or quant

    def _weight_bits(self, quant: Quantization) -> float:
        if self.quantized:
            return self.runs_at(quant).weight_bits_per_param(self.in_features)
        return float(quant.unquantized_bits)

    def _dequantizes(self, quant: Quantization) -> bool:
        stored = self.runs_at(quant)
        return self.quantized and quantization.dequantizes(stored, self.compute_bits(quant))

    def _dequant_ops(self, quant: Quantization, rows: np.ndarray, weights: float) -> np.ndarray:
        if not self._dequantizes(quant):
            return np.zeros_like(rows, dtype=np.float64)
        rows_per_tile = self.runs_at(quant).dequant_rows
        kept = weights * weight_sparsity.kept_share(quant)  # only stored weights dequantize
        return kept * np.ceil(rows / rows_per_tile) * quantization.DEQUANT_OPS_PER_WEIGHT

    def float_compute(self, quant: Quantization) -> bool:
        return self.quantized and self.runs_at(quant).float_weights

    def float_only(self, quant: Quantization) -> bool:
        return self.float_compute(quant)

    def _computed_share(self, quant: Quantization) -> float:
        return weight_sparsity.computed_share(quant) if self.quantized else 1.0

    def sparse_tensor(self, quant: Quantization) -> bool:
        return self.quantized and weight_sparsity.at_sparse_peak(quant)

    def terms(self, prec: Precision) -> Terms:
        rows = (BATCH if self.last_token_only else TOKENS,)
        n_in, n_out = self.in_features, self.out_features
        quant = prec.quant
        weights = n_in * n_out * self._weight_bits(quant) / 8
        bias = n_out * prec.unquantized if self.bias else 0.0
        out = ((n_out * (prec.kv if self.to_kv_cache else prec.act), rows),)
        terms: Terms = {
            # 2 OPs per MAC over rows x in x out, plus one add per output for the bias; a sparse
            # kernel skips the pruned weights.
            "ops": ((2 * n_in * n_out * self._computed_share(quant), rows),)
            + (((n_out, rows),) if self.bias else ()),
            "load_weight": ((weights + bias, (ONE,)),),
            "load_act": ((n_in * self.input_bytes(prec), rows),),
            "store_kv" if self.to_kv_cache else "store_act": out,
        }
        if self._dequantizes(quant):
            tiles = ("ceil_rows", rows[0], self.runs_at(quant).dequant_rows)
            # Only the weights a pruning keeps are stored, and dequantized.
            stored = n_in * n_out * weight_sparsity.kept_share(quant)
            terms["vector_ops"] = ((stored * quantization.DEQUANT_OPS_PER_WEIGHT, (tiles,)),)
        return terms

    def input_bytes(self, prec: Precision) -> float:
        """Bytes per input activation: quantized to `a_bits` for a quantized layer (its own,
        where it is stored apart), else the 16-bit activations between operators."""
        if not self.quantized:
            return prec.act
        return self.weight_quant.a_bits / 8 if self.weight_quant else prec.gemm_input

    def compute_bits(self, quant: Quantization) -> int:
        run = self.runs_at(quant) if self.quantized else quant
        w_bits = run.w_bits if self.quantized else quant.unquantized_bits
        # Both operands must share the compute precision: weight-only quantization (W4A16)
        # dequantizes and computes at the activation's width (seed 000, sec. 3.1.1).
        return max(w_bits, run.a_bits)

    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def weight_bytes(self, quant: Quantization) -> float:
        main = self.in_features * self.out_features * self._weight_bits(quant) / 8
        return main + (self.out_features * quant.unquantized_bits / 8 if self.bias else 0)


@dataclass(frozen=True)
class TiedLinear(Linear):
    """lm_head sharing the token embedding's matrix: loads it, owns no parameters."""

    def params(self) -> int:
        return self.out_features if self.bias else 0

    def weight_bytes(self, quant: Quantization) -> float:
        return self.out_features * quant.unquantized_bits / 8 if self.bias else 0.0


@dataclass(frozen=True)
class Embedding(Operator):
    """Gather one row per token; only the gathered rows travel, the table stays in memory."""

    rows: int = 0
    width: int = 0
    add_to_input: bool = False  # learned position embeddings are added to the token embedding

    def terms(self, prec: Precision) -> Terms:
        w = self.width
        terms: Terms = {
            "load_weight": ((w * prec.unquantized, (TOKENS,)),),
            "store_act": ((w * prec.act, (TOKENS,)),),
        }
        if self.add_to_input:
            terms |= {"ops": ((w, (TOKENS,)),), "load_act": ((w * prec.act, (TOKENS,)),)}
        return terms

    def params(self) -> int:
        return self.rows * self.width


@dataclass(frozen=True)
class Norm(Operator):
    """RMSNorm or LayerNorm over `width` elements, `repeats` times per token (per head for
    Qwen3's q/k norms)."""

    width: int = 0
    kind: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    bias: bool = False
    repeats: int = 1
    conventions: Conventions = field(default_factory=Conventions)
    # Without a learned gain (Gemma 4's value norm), and writing to the KV cache (its values).
    scaled: bool = True
    to_kv_cache: bool = False

    def terms(self, prec: Precision) -> Terms:
        elems = self.width * self.repeats
        # RMSNorm: square, sum, scale, gain = 4; LayerNorm: mean, subtract, square, sum, scale,
        # gain, shift = 7 (LLM-Viewer counts 7 for both).
        per_elem = (
            self.conventions.rmsnorm_ops_per_element
            if self.kind == "rmsnorm"
            else self.conventions.layernorm_ops_per_element
        )
        stored = (
            {"store_kv": ((elems * prec.kv, (TOKENS,)),)}
            if self.to_kv_cache
            else {"store_act": ((elems * prec.act, (TOKENS,)),)}
        )
        terms: Terms = {
            "ops": ((per_elem * elems, (TOKENS,)),),
            "load_act": ((elems * prec.act, (TOKENS,)),),
            **stored,
        }
        if self.conventions.norm_loads_weight and self.params():
            terms["load_weight"] = ((self.params() * prec.unquantized, (ONE,)),)
        return terms

    def params(self) -> int:
        return self.width * (2 if self.bias else 1) if self.scaled else 0


@dataclass(frozen=True)
class ReadsCache(Operator):
    """Matrix work against the KV cache (attention's scores and values, latent, sparse and
    compressed attention): operands as wide as the wider of the activations and the cache, on
    float tensor types first where the cache is 8-bit (FP8, as the engines' `fp8` caches and
    their profiles' curves read it) or the weights are floats (FP8/FP4 checkpoints); integer
    ones for narrower integer caches (KIVI-style INT4) and on devices without FP8."""

    # False: the keys and values read are activations the stage itself wrote, no cache (a
    # vision encoder's attention): their bytes count as activations read.
    cached: bool = True

    def kv_as_read(self, terms: Terms) -> Terms:
        """`terms`, their K/V reads among the activations read where nothing is cached."""
        if self.cached:
            return terms
        out = dict(terms)
        out["load_act"] = out.get("load_act", ()) + out.pop("load_kv", ())
        return out

    def compute_bits(self, quant: Quantization) -> int:
        return max(quant.a_bits, quant.kv_bits)

    def float_compute(self, quant: Quantization) -> bool:
        return quant.kv_bits == 8 or quant.float_weights


@dataclass(frozen=True)
class AttentionScores(ReadsCache):
    """S = Q K^T. Eager kernels compute the whole q x keys block and mask it afterwards. K is
    read once per key/value head: GQA/MQA heads share it."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    # The value heads' width, for the kernels around the scores (0: head_dim).
    v_dim: int = 0

    span: int | None = None
    chunk: int | None = None
    # The keys a KV budget keeps cached (Step.limited): None, all.
    kept: int | None = None
    # As Softmax.masked_block.
    masked_block: bool = True

    def terms(self, prec: Precision) -> Terms:
        h, d = self.num_heads, self.head_dim
        scores = (_score_block(self.masked_block, self.span, self.chunk, self.kept),)
        return self.kv_as_read(
            {
                # A score is a d-long dot product, a multiply and an add each (seed 000,
                # Table 1); scores, K read once per KV head, written out unfused.
                "ops": ((2 * h * d, scores),),
                "load_act": ((h * d * prec.act, (TOKENS,)),),
                "load_kv": (
                    (
                        self.num_kv_heads * d * prec.kv,
                        (_kv_read(self.masked_block, self.span, self.chunk, self.kept),),
                    ),
                ),
                "store_act": ((h * prec.act, scores),),
            }
        )


@dataclass(frozen=True)
class Softmax(Operator):
    num_heads: int = 0

    span: int | None = None
    chunk: int | None = None
    # The keys a KV budget keeps cached (Step.limited): None, all.
    kept: int | None = None
    # Unfused, the whole block a window's or chunk's mask then hides (a causal model's, as
    # transformers runs it); False: only the keys each query sees (a vision encoder's windows,
    # scored apart; sparse layers' selected keys).
    masked_block: bool = True

    def terms(self, prec: Precision) -> Terms:
        h = self.num_heads
        scores = (_score_block(self.masked_block, self.span, self.chunk, self.kept),)
        # max, subtract, exp, sum, divide: 5 OPs per score (seed 000, Table 1).
        return {
            "ops": ((5 * h, scores),),
            "load_act": ((h * prec.act, scores),),
            "store_act": ((h * prec.act, scores),),
        }


@dataclass(frozen=True)
class AttentionValues(ReadsCache):
    """O = P V, with V read once per key/value head; values are `v_dim` wide (0: head_dim,
    narrower in MiMo-V2)."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    v_dim: int = 0

    span: int | None = None
    chunk: int | None = None
    # The keys a KV budget keeps cached (Step.limited): None, all.
    kept: int | None = None
    # As Softmax.masked_block.
    masked_block: bool = True

    def terms(self, prec: Precision) -> Terms:
        h, d = self.num_heads, self.v_dim or self.head_dim
        scores = (_score_block(self.masked_block, self.span, self.chunk, self.kept),)
        return self.kv_as_read(
            {
                # Each probability weights a d-wide value row: a multiply and an add per
                # element (seed 000, Table 1); the probabilities read back, V once per KV head.
                "ops": ((2 * h * d, scores),),
                "load_act": ((h * prec.act, scores),),
                "load_kv": (
                    (
                        self.num_kv_heads * d * prec.kv,
                        (_kv_read(self.masked_block, self.span, self.chunk, self.kept),),
                    ),
                ),
                "store_act": ((h * d * prec.act, (TOKENS,)),),
            }
        )


def flash_block_sizes(onchip_bytes: float, head_dim: int, act_bytes: float) -> tuple[int, int]:
    """(Br, Bc) = (min(ceil(M/4d), d), ceil(M/4d)) for on-chip memory of M elements
    (FlashAttention, Dao et al. 2022, Algorithm 1)."""
    elems = onchip_bytes / act_bytes
    bc = max(1, int(np.ceil(elems / (4 * head_dim))))
    return min(bc, head_dim), bc


@dataclass(frozen=True)
class FlashAttention(ReadsCache):
    """QK^T, softmax and PV fused (FlashAttention-2, Dao 2023): scores never reach memory.

    Q is read and O written once. The query rows of one key/value head (the GQA group packed
    together) are cut into blocks of `block_rows`; each block streams the K and V it can see
    under the causal mask, so K/V traffic grows with the number of query blocks. Not `causal`
    (a vision encoder's patches): every query sees every key, each block streams them all.
    """

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    # The value heads' width where it differs from the query/key width (MiMo-V2; 0: head_dim).
    v_dim: int = 0
    block_rows: int = 128

    span: int | None = None
    chunk: int | None = None
    # The keys a KV budget keeps cached (Step.limited): None, all.
    kept: int | None = None

    # FlashDecoding (Dao et al. 2023): split the keys of a decode step into chunks processed
    # in parallel, each writing a partial output and log-sum-exp that a reduction reads back.
    split_kv: bool = False
    split_keys: int = 256
    causal: bool = True

    def terms(self, prec: Precision) -> Terms:
        h, d, span, chunk, kept = self.num_heads, self.head_dim, self.span, self.chunk, self.kept
        v = self.v_dim or d
        group = h // self.num_kv_heads
        rows = max(self.block_rows / group, 1.0)
        if self.causal:
            streamed = ("streamed_keys", rows, span, chunk, kept)
            pairs: tuple[Atom, ...] = (("pairs", span, chunk, kept),)
        else:
            streamed = ("block_keys", rows, span, chunk, kept)
            pairs = (("scores", span, chunk, kept),)
        # Q (d wide) read and O (v wide) written once.
        q: tuple[Term, ...] = ((h * d * prec.act, (TOKENS,)),)
        o: tuple[Term, ...] = ((h * v * prec.act, (TOKENS,)),)
        if self.split_kv:
            # fp32 partial outputs and log-sum-exp per split, written then read back.
            split = ((h * (v + 1) * 4, (("splits", self.split_keys, span, chunk, kept),)),)
            q, o = q + split, o + split
        return self.kv_as_read(
            {
                # QK^T (2d) and PV (2v) over the unmasked pairs, plus the softmax's 5 OPs per
                # score.
                "ops": ((2 * h * (d + v), pairs), (5 * h, pairs)),
                "load_act": q,
                # K (d) and V (v) of each KV head per streamed key.
                "load_kv": (((d + v) * self.num_kv_heads * prec.kv, (streamed,)),),
                "store_act": o,
            }
        )


# Element-wise OPs of an activation function per element (x*sigmoid(x): exp, add, divide,
# multiply; tanh-GELU: cube, 2 multiplies, add, tanh, add, 2 multiplies).
ACTIVATION_OPS = {
    "relu": 1,
    # Squared ReLU (Nemotron-H): max, square.
    "relu2": 2,
    # 1 / (1 + exp(-x)): exp, add, divide (gates of linear-attention layers).
    "sigmoid": 3,
    "silu": 4,
    "swish": 4,
    "gelu": 8,
    "gelu_new": 8,
    "gelu_fast": 8,
    "gelu_pytorch_tanh": 8,
    "gelu_python": 8,
    "quick_gelu": 4,
    "tanh": 4,
    # gpt-oss's clamped SwiGLU: clamp(gate, max=l) 1, clamp(up, -l, l) 2, alpha*g 1, sigmoid 3,
    # g*sigmoid 1, up + 1 1 (the gated product adds the last multiply).
    "swiglu_oai": 9,
    # Kimi K3's SiTU, (b tanh(g/b) sigmoid(g)) * (b' tanh(u/b')): on the gate divide, tanh 4,
    # scale, sigmoid 3, multiply = 10; on the up input divide, tanh 4, scale = 6 (the gated
    # product adds the last multiply).
    "situ": 16,
    # Apertus' xIELU (arXiv 2411.13010; transformers' XIELUActivation._xielu_python) with both
    # branches computed, as torch.where runs them: x > 0 1; a_p x x + b x 4; expm1(min(x, eps))
    # - x, times a_n, plus b x 5; select 1.
    "xielu": 11,
}

# Learned parameters of an activation module: xIELU's alpha_p and alpha_n, one scalar each
# (transformers' XIELUActivation, vLLM's XIELU); the others have none.
ACTIVATION_PARAMS = {"xielu": 2}


@dataclass(frozen=True)
class Activation(Operator):
    """act(gate) * up for gated MLPs, act(x) otherwise, over the intermediate width."""

    width: int = 0
    function: str = "silu"
    gated: bool = True

    def terms(self, prec: Precision) -> Terms:
        w = self.width
        per_elem = ACTIVATION_OPS[self.function] + (1 if self.gated else 0)
        return {
            "ops": ((per_elem * w, (TOKENS,)),),
            "load_act": (((2 if self.gated else 1) * w * prec.act, (TOKENS,)),),
            "store_act": ((w * prec.act, (TOKENS,)),),
        }

    def params(self) -> int:
        return ACTIVATION_PARAMS.get(self.function, 0)


@dataclass(frozen=True)
class HeadGate(Operator):
    """The attention output scaled by one sigmoid gate per head (Step 3.5/3.7's g_proj):
    sigmoid of each head's logit, then a multiply over that head's `head_dim` outputs."""

    num_heads: int = 0
    head_dim: int = 0

    def terms(self, prec: Precision) -> Terms:
        h, d = self.num_heads, self.head_dim
        return {
            # A sigmoid per head (3 OPs), one multiply per output element.
            "ops": (((ACTIVATION_OPS["sigmoid"] + d) * h, (TOKENS,)),),
            "load_act": (((d + 1) * h * prec.act, (TOKENS,)),),
            "store_act": ((h * d * prec.act, (TOKENS,)),),
        }


@dataclass(frozen=True)
class DepthAttention(Operator):
    """Attention Residuals (Kimi Team 2026, arXiv 2603.15031, Eq. 9-10): a sublayer's input is
    a softmax over `sources` earlier depth representations (the embedding, sealed block sums,
    the current block's partial sum), each RMSNorm'd as its key and weighted by one learned
    query of `width`; `sources` may be a mean over the layers it stands for."""

    width: int = 0
    sources: float = 1.0
    conventions: Conventions = field(default_factory=Conventions)

    def cost(self, step: Step, prec: Precision) -> Cost:
        n, h = self.sources, self.width
        norm = self.conventions.rmsnorm_ops_per_element
        return _cost(
            # Per source: its RMSNorm, the dot product with the query, the weighted sum (2 each
            # per element); 5 per source for the softmax (max, subtract, exp, sum, divide).
            ops=step.tokens * n * ((norm + 4) * h + 5),
            load_weight=self.params() * prec.unquantized,
            load_act=step.tokens * n * h * prec.act,
            store_act=step.tokens * h * prec.act,
        )

    def params(self) -> int:
        # The pseudo-query and the key norm's gain.
        return 2 * self.width


@dataclass(frozen=True)
class ResidualAdd(Operator):
    """Sum of the residual stream and one or two branch outputs."""

    width: int = 0
    conventions: Conventions = field(default_factory=Conventions)

    def terms(self, prec: Precision) -> Terms:
        w, summed = self.width, len(self.inputs)
        # Every input is read; LLM-Viewer reads only one of the two (docs/conventions.md).
        reads = summed if self.conventions.residual_add_reads_all_inputs else summed - 1
        return {
            "ops": (((summed - 1) * w, (TOKENS,)),),
            "load_act": ((reads * w * prec.act, (TOKENS,)),),
            "store_act": ((w * prec.act, (TOKENS,)),),
        }


@dataclass(frozen=True)
class Collective(Operator):
    """A ring collective over `ranks` devices of `width` activations per row (Patarasuk and Yuan
    2009): all-reduce moves 2(p-1)/p of the data in 2(p-1) steps, all-gather (p-1)/p in p-1."""

    kind: Literal["all_reduce", "all_gather", "all_to_all"] = "all_reduce"
    # Copies of each row sent (an all-to-all dispatches each token to its k experts' devices).
    fan_out: float = 1.0
    width: int = 0
    ranks: int = 1
    link_bandwidth: float = 1.0
    link_latency: float = 0.0
    last_token_only: bool = False
    # Bytes per value where they are not the activations' (a norm's FP32 statistics).
    value_bytes: float | None = None

    def terms(self, prec: Precision) -> Terms:
        rows = (BATCH if self.last_token_only else TOKENS,)
        data = self.fan_out * self.width * (self.value_bytes or prec.act)
        p = self.ranks
        # All-to-all: the (p-1)/p of the data bound elsewhere, in p-1 exchanges.
        steps = 2 * (p - 1) if self.kind == "all_reduce" else p - 1
        return {
            "link_time": (
                (data * steps / p / self.link_bandwidth, rows),
                (steps * self.link_latency, (ONE,)),
            ),
            "link_bytes": ((data, rows),),
        }

    def output_terms(self, prec: Precision) -> tuple[Term, ...]:
        rows = (BATCH if self.last_token_only else TOKENS,)
        return ((self.width * (self.value_bytes or prec.act), rows),)


def expected_experts_hit(num_experts: int, top_k: float, tokens: np.ndarray) -> np.ndarray:
    """Distinct experts that `tokens` tokens, each routed to `top_k` of `num_experts`, touch in
    expectation under uniform routing: E (1 - (1 - k/E)^T) (occupancy of E bins)."""
    return num_experts * (1 - (1 - top_k / num_experts) ** tokens)


def balanced_experts_hit(num_experts: int, top_k: float, tokens: np.ndarray) -> np.ndarray:
    """Distinct experts touched when the T·k routes are dealt out round robin, as operator
    benchmarks route (aiconfigurator's `balanced` rows): min(E, T·k). Uniform routing
    touches fewer (E (1 - e^(-Tk/E)) near T·k = E: 63 % of them)."""
    return np.minimum(num_experts, tokens * top_k)


EXPERTS_HIT = {"uniform": expected_experts_hit, "balanced": balanced_experts_hit}


@dataclass(frozen=True)
class ExpertLinear(Linear):
    """One projection of every routed expert. Compute follows the top-k routing; the weights
    read are those of the distinct experts the step's tokens hit."""

    num_experts: int = 1
    top_k: float = 1
    # How tokens pick experts, which sets the weights a step reads (EXPERTS_HIT): "uniform"
    # (each token's experts at random: serving) or "balanced" (round robin: the benchmarks
    # engine profiles are fitted on).
    routing: Literal["uniform", "balanced"] = "uniform"
    # Attention groups whose tokens reach these experts, each as many as this step's: expert
    # parallelism over attention-DP groups sends every group's tokens to every device's
    # experts (Parallelism.expert_token_groups).
    token_groups: int = 1

    @property
    def ops_per_routed_token(self) -> int:
        """OPs of one token in one expert: its multiply-adds and the bias."""
        return 2 * self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def cost(self, step: Step, prec: Precision) -> Cost:
        tokens = step.tokens * self.token_groups
        routed = tokens * self.top_k
        stored = self.weight_quant or prec.quant
        per_expert = self.in_features * self.out_features * self._weight_bits(stored) / 8
        hit = EXPERTS_HIT[self.routing](self.num_experts, self.top_k, tokens)
        per_hit = routed / np.maximum(hit, 1e-30)
        bias = self.out_features * prec.unquantized if self.bias else 0.0
        return _cost(
            ops=routed * self.ops_per_routed_token,
            load_weight=hit * (per_expert + bias),
            load_act=routed * self.in_features * self.input_bytes(prec),
            store_act=routed * self.out_features * prec.act,
            vector_ops=self._dequant_ops(
                stored, per_hit, hit * self.in_features * self.out_features
            ),
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return step.tokens * self.token_groups * self.top_k * self.out_features * prec.act

    def params(self) -> int:
        return self.num_experts * super().params()

    def weight_bytes(self, quant: Quantization) -> float:
        return self.num_experts * super().weight_bytes(quant)


# DeepSeek Sparse Attention's prefill kernel, FlashMLA's sparse prefill as vLLM, SGLang and
# TensorRT-LLM run it, scores each query over all index_topk slots, those beyond its context
# masked, and takes query heads in blocks of 64, padding fewer (vLLM's flashmla_sparse backend:
# "Prefill BF16 kernel requires 64 on Hopper, 128 on Blackwell"). Measured on aiconfigurator's
# DeepSeek-V3.2 module tables (H200, TensorRT-LLM 1.3.0rc20): the module less its other
# operators takes about the same time at 1 to 64 heads (within 16 % at 1,024 tokens) and twice
# at 128, in proportion to the tokens from about 256 to 32,768 a sequence. Blackwell's
# 128-head blocks are left to its fitted curves.
SPARSE_HEAD_BLOCK = 64


def sparse_heads(heads: int) -> int:
    """The query heads a sparse prefill kernel computes for `heads`: SPARSE_HEAD_BLOCK's
    multiple at or above it."""
    return -(-heads // SPARSE_HEAD_BLOCK) * SPARSE_HEAD_BLOCK


@dataclass(frozen=True)
class LatentAttention(ReadsCache):
    """Multi-head latent attention (DeepSeek-V2, 2024) from the cached latent `c` (kv_lora
    wide) and shared rotary key, with the up-projection W_UK|W_UV (`kv_b_proj`) inside.

    Several new tokens (prefill): decompress every key's K and V, then fused causal attention
    with `head_dim`-wide queries/keys and `v_dim`-wide values. One new token (decode): absorb
    W_UK into the query and W_UV into the output and attend over the latent, which all heads
    share, so the cache is read once (the "absorbed" form)."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    head_dim: int = 0
    rope_dim: int = 0
    v_dim: int = 0
    kv_lora: int = 0
    quantized: bool = True
    # DeepSeek Sparse Attention runs MLA in its absorbed (MQA) form for prefill too, each query
    # over the keys its indexer picked (`span` = index_topk) (DeepSeek-V3.2 report, sec. 2).
    sparse: bool = False
    # Steps of at most this many new tokens per sequence use the absorbed form: 1 (decode), or
    # the verified tokens of speculative decoding, which engines run with the decode kernel.
    absorbed_up_to: int = 1
    # FlashMLA / FlashAttention on the decompressed keys, as `flash_attention` says for the
    # other attentions; without, as eager attention is counted (docs/conventions.md): masked
    # scores over the whole q x keys block, each score written by QK^T, read and written by
    # the softmax and read by PV. (Not `fused`: that field marks an operator run inside
    # another's kernel, which takes no launch of its own.)
    flash: bool = True

    def params(self) -> int:
        return self.kv_lora * self.num_heads * (self.head_dim - self.rope_dim + self.v_dim)

    def weight_bytes(self, quant: Quantization) -> float:
        bits = quant.weight_bits_per_param(self.kv_lora) if self.quantized else 16
        return self.params() * bits / 8

    span: int | None = None
    chunk: int | None = None
    # The keys a KV budget keeps cached (Step.limited): None, all.
    kept: int | None = None

    def cost(self, step: Step, prec: Precision) -> Cost:
        step = step.limited(self.span, self.chunk, self.kept)
        h, d, v, r, c = self.num_heads, self.head_dim, self.v_dim, self.rope_dim, self.kv_lora
        nope = d - r
        b, keys = step.batch, step.keys
        weights = self.weight_bytes(prec.quant)
        latent = b * keys * (c + r) * prec.kv
        q_in = step.tokens * h * d * prec.act
        out = step.tokens * h * v * prec.act
        pairs = b * h * (step.causal_pairs if self.flash else step.new_tokens * step.block_keys)
        # Prefill: decompress K_nope and V for every key, write and read them, attend.
        kv_rows = b * keys
        naive_ops = 2 * kv_rows * c * h * (nope + v) + pairs * (2 * d + 2 * v + 5)
        naive_act = 2 * kv_rows * h * (nope + v) * prec.act
        # Decode: q_nope -> latent, attention over (latent + rope), output latent -> v.
        scores = b * h * step.new_tokens * keys
        absorbed_ops = (
            2 * step.tokens * h * nope * c
            + scores * (2 * (c + r) + 2 * c + 5)
            + 2 * step.tokens * h * c * v
        )
        decode = step.new_tokens <= self.absorbed_up_to
        if self.sparse:
            # Every cached latent is read once. Decode: each query scores its selected keys.
            # Prefill: the sparse kernel's work, every query over all `span` index slots with
            # its heads in blocks (SPARSE_HEAD_BLOCK).
            slots = self.span or keys
            per_score = 2 * (c + r) + 2 * c + 5
            padded = b * sparse_heads(h) * step.new_tokens * slots
            prefill_ops = absorbed_ops + (padded - scores) * per_score
            sparse_ops = np.where(decode, absorbed_ops, prefill_ops)
            rows = np.where(decode, keys, step.past + step.new_tokens)
            return _cost(
                ops=sparse_ops,
                load_weight=weights,
                load_act=q_in,
                store_act=out,
                load_kv=b * rows * (c + r) * prec.kv,
            )
        # Unfused, the scores go through memory: stored twice and read twice per score.
        score_bytes = 0.0 if self.flash else 2 * np.where(decode, scores, pairs) * prec.act
        return _cost(
            ops=np.where(decode, absorbed_ops, naive_ops),
            load_weight=weights,
            load_act=q_in + np.where(decode, 0.0, naive_act / 2) + score_bytes,
            store_act=out + np.where(decode, 0.0, naive_act / 2) + score_bytes,
            load_kv=latent,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        out = step.tokens * self.num_heads * self.v_dim * prec.act
        if self.flash:
            return out
        # Unfused, the whole block of scores is held at once, as eager attention holds it.
        limited = step.limited(self.span, self.chunk, self.kept)
        block = limited.new_tokens * limited.block_keys
        return out + limited.batch * self.num_heads * block * prec.act


@dataclass(frozen=True)
class AttentionSinks(Operator):
    """gpt-oss's attention sinks: one learned logit per head joins each softmax's max and
    denominator (max, subtract, exp, add: 4 OPs per query and head)."""

    num_heads: int = 0

    def terms(self, prec: Precision) -> Terms:
        h = self.num_heads
        return {"ops": ((4 * h, (TOKENS,)),), "load_weight": ((h * prec.unquantized, (ONE,)),)}

    def params(self) -> int:
        return self.num_heads


# The indexer's keys are cached in FP8 with one fp32 scale per key (DeepSeek-V3.2 inference).
INDEX_KEY_SCALE_BYTES = 4


@dataclass(frozen=True)
class IndexerScores(Operator):
    """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2 report, eq. 1): each query
    scores every earlier key, I = sum_h w_h ReLU(q_h . k), in FP8 (dot product 2d, ReLU and
    weighted sum 2 per head), then keeps the `top_k` best (one comparison per score). It also
    writes the new tokens' index keys to the cache."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    head_dim: int = 0
    top_k: int = 2048

    def cost(self, step: Step, prec: Precision) -> Cost:
        pairs = step.batch * step.causal_pairs
        keys = step.batch * (step.past + step.new_tokens)
        return _cost(
            ops=pairs * self.num_heads * (2 * self.head_dim + 2),
            vector_ops=pairs,
            load_act=step.tokens * self.num_heads * (self.head_dim + 1) * prec.act,
            load_kv=keys * (self.head_dim + INDEX_KEY_SCALE_BYTES),
            # The new tokens' index keys join the cache in FP8 with their scales.
            store_kv=step.tokens * (self.head_dim + INDEX_KEY_SCALE_BYTES),
            # int32 indices of the selected keys.
            store_act=step.tokens * np.minimum(step.past + step.new_tokens, self.top_k) * 4,
        )

    def compute_bits(self, quant: Quantization) -> int:
        return 8

    def float_compute(self, quant: Quantization) -> bool:
        return True

    def float_only(self, quant: Quantization) -> bool:
        return True
