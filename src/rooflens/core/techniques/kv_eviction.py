"""KV-cache eviction: keep at most `kv_budget` keys per sequence. H2O (Zhang et al. 2023)
keeps the heavy hitters and pays score bookkeeping; StreamingLLM (Xiao et al. 2023) keeps
attention sinks plus a recent window, at no cost beyond the capped attention.

The budget caps the keys each attention layer keeps cached (`kept` on the attention
operators, `rooflens.core.operators.Step.limited`): a step's own tokens are attended before
eviction, so a prompt prefilled whole attends to all of it, and decode steps to at most the
budget and themselves. The cache holds the budget (`rooflens.core.graph.attention_spans`,
where it meets sliding windows). This module adds H2O's bookkeeping operator after each
attention kernel and prices it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rooflens.core.operators import (
    AttentionScores,
    AttentionValues,
    FlashAttention,
    Operator,
    Precision,
    Term,
    Terms,
)

if TYPE_CHECKING:
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.options import AnalysisOptions


@dataclass(frozen=True)
class ScoreTracking(Operator):
    """H2O's bookkeeping (Zhang et al. 2023): accumulate each cached key's attention mass per
    KV head every step (fp32 running sums read and written) to evict the lightest."""

    num_heads: int = 0
    num_kv_heads: int = 0
    span: int | None = None
    chunk: int | None = None
    kept: int | None = None

    def terms(self, prec: Precision) -> Terms:
        scores = (("scores", self.span, self.chunk, self.kept),)
        sums = ((self.num_kv_heads * 4, (("batch_keys", self.span, self.chunk, self.kept),)),)
        return {"ops": ((self.num_heads, scores),), "load_act": sums, "store_act": sums}

    def output_terms(self, prec: Precision) -> tuple[Term, ...]:
        return ()


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """H2O: after each kind of attention layer's kernel, its score bookkeeping over the same
    heads, keys and layers."""
    if options.kv_budget is None or options.kv_policy != "h2o":
        return ops
    out: list[Operator] = []
    query = ""
    for op in ops:
        out.append(op)
        if isinstance(op, AttentionScores | FlashAttention):
            query = op.inputs[0]
        if isinstance(op, AttentionValues | FlashAttention):
            out.append(
                ScoreTracking(
                    "h2o_scores",
                    "block",
                    (query,),
                    "h2o",
                    num_heads=op.num_heads,
                    num_kv_heads=op.num_kv_heads,
                    span=op.span,
                    chunk=op.chunk,
                    kept=op.kept,
                    layers=op.layers,
                )
            )
    return out
