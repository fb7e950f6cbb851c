"""DeepSeek-V4's attention and residual streams (transformers' deepseek_v4; DeepSeek-V4 report,
sec. 2): shared-KV multi-query attention over a sliding window plus compressed KV entries
(CSA: one entry per `csa_ratio` tokens, of which a lightning indexer picks the top k; HCA: one
per `hca_ratio` tokens, all attended), a grouped low-rank output projection, and
manifold-constrained hyper-connections (mHC) that carry `hc_streams` residual streams.

Compressed entries are counted as `j / ratio` for a query at position `j` (the real count,
floor(j / ratio), is at most one entry fewer), so every cost stays affine in the context
between the window's and the top-k's breakpoints and the generation sum stays closed-form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

import numpy as np

from rooflens.core.model import ModelSpec
from rooflens.core.operators import (
    Cost,
    Linear,
    Norm,
    Operator,
    Precision,
    ReadsCache,
    Step,
    _cost,
    sparse_heads,
)
from rooflens.core.options import Conventions, Quantization


def compressed_sum(n: np.ndarray, ratio: int, cap: float = np.inf) -> np.ndarray:
    """sum_{j=1}^{n} min(j / ratio, cap): compressed entries seen by queries 1..n."""
    edge = np.minimum(n, cap * ratio)
    return edge * (edge + 1) / (2 * ratio) + np.where(
        n > edge, (n - edge) * np.minimum(cap, 1e300), 0
    )


@dataclass(frozen=True)
class CompressedAttention(ReadsCache):
    """One fused kernel: each of `num_heads` query heads attends, over one shared KV head of
    `head_dim` (keys are the values), to the last `window` tokens and to the compressed
    entries (`ratio` tokens each; the `top_k` the indexer picked, else all), with a learned
    sink logit per head. QK and SV each cost 2d per pair, softmax 5, the sink 4 per query and
    head. Decode reads the keys it attends; a prefill reads every cached key once, and its
    scores are counted as the engines' sparse kernel computes them, the heads in blocks
    (SPARSE_HEAD_BLOCK): aiconfigurator's V4 attention modules, less their other operators,
    take 1.2-1.9 times at 64 heads a device what they take at 8, not 8 times
    (docs/engines.md)."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    head_dim: int = 0
    window: int = 128
    ratio: int = 0
    top_k: float = np.inf
    # Steps of at most this many new tokens per sequence run the decode kernel, its heads
    # unpadded: 1, or the verified tokens of speculative decoding (verification_graph).
    decode_up_to: int = 1

    def _entries(self, n: np.ndarray, capped: bool) -> np.ndarray:
        if not self.ratio:
            return np.zeros_like(n, dtype=np.float64)
        return np.minimum(n / self.ratio, self.top_k) if capped else n / self.ratio

    def cost(self, step: Step, prec: Precision) -> Cost:
        h, d = self.num_heads, self.head_dim
        first, last = step.past, step.past + step.new_tokens
        pairs = step.limited(self.window).causal_pairs
        if self.ratio:
            pairs = (
                pairs
                + compressed_sum(last, self.ratio, self.top_k)
                - compressed_sum(first, self.ratio, self.top_k)
            )
        decode = step.new_tokens == 1
        # A prefill runs the sparse kernel's head blocks (SPARSE_HEAD_BLOCK), fewer padded.
        blocks = np.where(step.new_tokens <= self.decode_up_to, h, sparse_heads(h))
        window_rows = np.where(
            decode, np.minimum(last, self.window), np.minimum(first, self.window) + step.new_tokens
        )
        rows = window_rows + self._entries(last, capped=True) * decode
        rows = rows + self._entries(last, capped=False) * (~decode)
        return _cost(
            ops=step.batch * blocks * pairs * (4 * d + 5) + 4 * step.tokens * h,
            load_weight=self.params() * prec.unquantized,
            load_act=step.tokens * h * d * prec.act,
            store_act=step.tokens * h * d * prec.act,
            load_kv=step.batch * rows * d * prec.kv,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return step.tokens * self.num_heads * self.head_dim * prec.act

    def params(self) -> int:
        return self.num_heads  # the sink logits


@dataclass(frozen=True)
class KVCompressor(Operator):
    """Pools the projected tokens (kv, gate: `series` x `width` each; CSA's two overlapping
    series, HCA's one) into one entry per `ratio` tokens: softmax over the window of
    gate + position bias, weighted sum, RMSNorm; the entry joins the KV cache at its width
    (index keys too: vLLM's 9.62 GiB for a 1M-token V4-Pro sequence in bf16 counts them so)."""

    ratio: int = 4
    width: int = 0
    series: int = 1
    conventions: Conventions = field(default_factory=Conventions)

    def cost(self, step: Step, prec: Precision) -> Cost:
        elems = step.tokens * self.series * self.width
        entries = step.tokens / self.ratio
        norm = self.conventions.rmsnorm_ops_per_element
        return _cost(
            # Bias add 1, softmax 5 (max, subtract, exp, sum, divide), weighted sum 2.
            ops=8 * elems + norm * entries * self.width,
            load_weight=self.params() * prec.unquantized,
            load_act=2 * elems * prec.act,
            store_kv=entries * self.width * prec.kv,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return np.zeros_like(step.tokens, dtype=np.float64)

    def params(self) -> int:
        # position_bias (ratio x series x width) and the entry's RMSNorm.
        return self.ratio * self.series * self.width + self.width


@dataclass(frozen=True)
class CompressedIndexerScores(ReadsCache):
    """The lightning indexer over compressed index keys (one per `ratio` tokens): each query
    scores every earlier entry, sum_h w_h ReLU(q_h . k) (2d + 2 per head), and keeps the
    `top_k` best (one comparison per score). Priced at the attention's width: the reference
    code scores in fp32, where V3.2's indexer used FP8."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    head_dim: int = 0
    ratio: int = 4
    top_k: int = 512

    def cost(self, step: Step, prec: Precision) -> Cost:
        last = step.past + step.new_tokens
        pairs = step.batch * (
            compressed_sum(last, self.ratio) - compressed_sum(step.past, self.ratio)
        )
        entries = step.batch * last / self.ratio
        return _cost(
            ops=pairs * self.num_heads * (2 * self.head_dim + 2),
            vector_ops=pairs,
            load_act=step.tokens * self.num_heads * (self.head_dim + 1) * prec.act,
            load_kv=entries * self.head_dim * prec.kv,
            # int32 indices of the selected entries.
            store_act=step.tokens * np.minimum(last / self.ratio, self.top_k) * 4,
        )


HyperStage = Literal["pre", "post", "head"]


@dataclass(frozen=True)
class HyperConnection(Operator):
    """Manifold-constrained hyper-connections (Xie et al. 2026; transformers'
    DeepseekV4HyperConnection) over `streams` residual streams of `width`.

    pre: weightless RMSNorm of the n*h concatenated streams, one projection to (2 + n) n mixing
    weights (pre, post, comb; sigmoid or softmax, then `sinkhorn_iters` row and column
    normalisations of the n x n comb), and the pre-weighted sum of the streams (the sublayer's
    input). post: new streams = post (x) output + comb^T streams. head: the final collapse
    (n weights, no comb)."""

    width: int = 0
    streams: int = 4
    sinkhorn_iters: int = 20
    stage: HyperStage = "pre"
    conventions: Conventions = field(default_factory=Conventions)

    @property
    def _mixes(self) -> int:
        n = self.streams
        return n if self.stage == "head" else (2 + n) * n

    def cost(self, step: Step, prec: Precision) -> Cost:
        n, h, m = self.streams, self.width, self._mixes
        t = step.tokens
        if self.stage == "post":
            return _cost(
                # post x output (n h), comb^T streams (2 n^2 h), their sum (n h).
                ops=t * h * (2 * n * n + 2 * n),
                load_act=t * (n * h + h) * prec.act + t * (n + n * n) * 4,
                store_act=t * n * h * prec.act,
            )
        norm = self.conventions.rmsnorm_ops_per_element
        sinkhorn = 4 * self.sinkhorn_iters * n * n if self.stage == "pre" else 0
        weights = t * (m - n) * 4 if self.stage == "pre" else 0  # post, comb in fp32
        return _cost(
            # Norm, projection, 6 per mix (scale, bias, sigmoid/softmax), Sinkhorn, collapse.
            ops=t * (norm * n * h + 2 * n * h * m + 6 * m + sinkhorn + 2 * n * h),
            load_weight=self.params() * prec.unquantized,
            load_act=t * n * h * prec.act,
            store_act=t * h * prec.act + weights,
        )

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        if self.stage == "post":
            return step.tokens * self.streams * self.width * prec.act
        return self.cost(step, prec).store_act

    def params(self) -> int:
        if self.stage == "post":
            return 0
        # fn (mixes x n h), base (mixes), scale (3 for pre/post/comb; 1 in the head).
        return self._mixes * (self.streams * self.width + 1) + (1 if self.stage == "head" else 3)


@dataclass(frozen=True)
class GroupedLinear(Linear):
    """`groups` independent linears of in_features -> out_features each (block-diagonal):
    DeepSeek-V4's o_a_proj, each group of heads projected to `o_lora_rank`."""

    groups: int = 1

    def cost(self, step: Step, prec: Precision) -> Cost:
        one = super().cost(step, prec)
        return _cost(**{name: getattr(one, name) * self.groups for name in Cost.FIELDS})

    def output_bytes(self, step: Step, prec: Precision) -> np.ndarray:
        return super().output_bytes(step, prec) * self.groups

    def params(self) -> int:
        return super().params() * self.groups

    def weight_bytes(self, quant: Quantization) -> float:
        return super().weight_bytes(quant) * self.groups


def compressed_attention_operators(
    m: ModelSpec, conventions: Conventions, src: str
) -> list[Operator]:
    """DeepSeek-V4's attention (transformers' DeepseekV4Attention) from the normed input `src`
    to `attn_out`: every layer's queries, window KV and grouped output projection; the CSA
    layers' compressor and indexer; the HCA layers' compressor; each counted in its layers."""
    h, d, heads = m.hidden_size, m.head_dim, m.num_heads
    q_rank = m.q_lora_rank or h

    def linear(name: str, inp: str, out: str, n_in: int, n_out: int, **kw) -> Linear:
        return Linear(name, "block", (inp,), out, in_features=n_in, out_features=n_out, **kw)

    def norm(name: str, tensor: str, width: int) -> Norm:
        return Norm(name, "block", (tensor,), tensor, width=width, conventions=conventions)

    ops: list[Operator] = [
        linear("q_a_proj", src, "qa", h, q_rank),
        norm("q_a_norm", "qa", q_rank),
        linear("q_b_proj", "qa", "q", q_rank, heads * d),
        # The shared key (also the value) of the window: one head of d, cached.
        linear("kv_proj", src, "kv", h, d, to_kv_cache=True),
        norm("kv_norm", "kv", d),
    ]
    window = m.sliding_window or 0
    kinds = [
        (m.all_layers - m.csa_layers - m.hca_layers, 0),
        (m.csa_layers, m.csa_ratio),
        (m.hca_layers, m.hca_ratio),
    ]
    for layers, ratio in kinds:
        if not layers:
            continue
        sparse = ratio == m.csa_ratio and ratio > 0
        part: list[Operator] = []
        if ratio:
            series = 2 if sparse else 1  # CSA's overlapping windows carry two series
            part += [
                linear("compressor_kv_proj", src, "ckv", h, series * d),
                linear("compressor_gate_proj", src, "cgate", h, series * d),
                KVCompressor(
                    "kv_compressor", "block", ("ckv", "cgate"), "centries", ratio=ratio,
                    width=d, series=series, conventions=conventions,
                ),
            ]  # fmt: skip
        if sparse:
            hi, di = m.index_heads, m.index_head_dim
            part += [
                linear("indexer_q_proj", "qa", "iq", q_rank, hi * di),
                linear("indexer_k_proj", src, "ikv", h, 2 * di),
                linear("indexer_gate_proj", src, "igate", h, 2 * di),
                KVCompressor(
                    "indexer_compressor", "block", ("ikv", "igate"), "ientries", ratio=ratio,
                    width=di, series=2, conventions=conventions,
                ),
                # Kept in bf16, as V3.2's weights_proj.
                linear("indexer_weights_proj", src, "iw", h, hi, quantized=False),
                CompressedIndexerScores(
                    "indexer_scores", "block", ("iq", "iw"), "topk", num_heads=hi,
                    head_dim=di, ratio=ratio, top_k=m.index_topk or 0,
                ),
            ]  # fmt: skip
        part.append(
            CompressedAttention(
                "compressed_attention", "block", ("q", "kv"), "attn", num_heads=heads,
                head_dim=d, window=window, ratio=ratio,
                top_k=float(m.index_topk) if sparse and m.index_topk else np.inf,
            )
        )  # fmt: skip
        ops += [replace(op, layers=layers) for op in part]
    groups = m.o_groups or 1
    ops += [
        GroupedLinear(
            "o_a_proj", "block", ("attn",), "oa", in_features=heads * d // groups,
            out_features=m.o_lora_rank or d, groups=groups,
        ),
        linear("o_proj", "oa", "attn_out", groups * (m.o_lora_rank or d), h),
    ]  # fmt: skip
    return ops


def hyper_connection(
    m: ModelSpec, conventions: Conventions, stage: HyperStage, inputs: tuple[str, ...], out: str,
    name: str, scope: Literal["block", "head"] = "block",
) -> HyperConnection:  # fmt: skip
    return HyperConnection(
        name, scope, inputs, out, width=m.hidden_size, streams=m.hc_streams,
        sinkhorn_iters=m.hc_sinkhorn_iters, stage=stage, conventions=conventions,
    )  # fmt: skip
