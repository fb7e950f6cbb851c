"""MiniMax Sparse Attention (MiniMax-M3; transformers' MiniMaxM3VLIndexer): in its sparse layers a
lightning indexer of `index_heads` heads (one per KV head) scores every earlier key, max-pools
the scores into blocks of `sparse_block` keys and keeps the `sparse_blocks` best blocks (the
query's own block always among them); GQA attention then reads only those keys. The index key
(`index_head_dim` wide, one per token) is cached beside K and V.

Selected keys are counted as min(j, sparse_blocks x sparse_block) for a query at position j
(the query's own block is partial: up to sparse_block - 1 fewer) and blocks as j / sparse_block,
so decode costs stay affine until that cap, where the generation sum splits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from rooflens.core.model import ModelSpec
from rooflens.core.operators import Cost, Linear, Norm, Operator, Precision, ReadsCache, Step, _cost
from rooflens.core.options import Conventions


@dataclass(frozen=True)
class BlockIndexerScores(ReadsCache):
    """Each query scores every earlier key per index head (a dot product of `head_dim`: 2d),
    max-pools them into blocks (1 per score), and picks the `top_blocks` best blocks (one
    comparison per block score); every cached index key is read once."""

    efficiency_class: ClassVar[str] = "attention"

    num_heads: int = 0
    head_dim: int = 0
    block: int = 128
    top_blocks: int = 16

    def cost(self, step: Step, prec: Precision) -> Cost:
        pairs = step.batch * step.causal_pairs * self.num_heads
        last = step.past + step.new_tokens
        return _cost(
            ops=pairs * (2 * self.head_dim + 1),
            vector_ops=pairs / self.block,
            load_act=step.tokens * self.num_heads * self.head_dim * prec.act,
            load_kv=step.batch * last * self.head_dim * prec.kv,
            # int32 ids of the selected blocks, per query and index head.
            store_act=step.tokens
            * self.num_heads
            * np.minimum(last / self.block, self.top_blocks)
            * 4,
        )


def block_indexer_operators(m: ModelSpec, conventions: Conventions, src: str) -> list[Operator]:
    """The indexer of MiniMax-M3's sparse layers from the normed input `src`: per-head queries
    and one key per token, each RMSNorm'd per head (the key cached), then the block scores."""
    h, hi, di = m.hidden_size, m.index_heads, m.index_head_dim
    ops: list[Operator] = [
        Linear("indexer_q_proj", "block", (src,), "iq", in_features=h, out_features=hi * di),
        Norm(
            "indexer_q_norm", "block", ("iq",), "iq", width=di, repeats=hi,
            conventions=conventions,
        ),
        # The normed key joins the cache (written here, as k_proj's).
        Linear(
            "indexer_k_proj", "block", (src,), "ik", in_features=h, out_features=di,
            to_kv_cache=True,
        ),
        Norm("indexer_k_norm", "block", ("ik",), "ik", width=di, conventions=conventions),
        BlockIndexerScores(
            "indexer_scores", "block", ("iq", "ik"), "blocks", num_heads=hi, head_dim=di,
            block=m.sparse_block, top_blocks=m.sparse_blocks,
        ),
    ]  # fmt: skip
    return [replace(op, layers=m.sparse_layers) for op in ops]
