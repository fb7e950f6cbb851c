"""Megatron-LM tensor parallelism by hand on a transformers model (Shoeybi et al. 2019), as
rooflens prices it: attention heads and MLP width split column-wise into q/k/v and gate/up and
row-wise into o/down, each row-parallel output all-reduced; a vocabulary-parallel embedding,
all-reduced; vocabulary-parallel logits, all-gathered. KV heads fewer than the devices are
replicated. Every process keeps its slice of the model: measure.parallel builds it on the meta
device and gives only the slice memory (or, to check the slicing, builds the whole model from
one seed)."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

# Decoders whose layers hold self_attn.{q,k,v,o}_proj and mlp.{gate,up,down}_proj over a plain
# embedding: what the slicing below knows how to split.
SHARDABLE = ("llama", "mistral", "qwen2", "qwen3")


def gather_into(output: torch.Tensor, local: torch.Tensor) -> None:
    if hasattr(dist, "all_gather_single"):  # from torch 2.13, which deprecates the other
        dist.all_gather_single(output, local)
    else:
        dist.all_gather_into_tensor(output, local)


def _slice(linear: nn.Linear, rows: slice | None, cols: slice | None) -> None:
    weight = linear.weight.data
    weight = weight[rows] if rows is not None else weight
    weight = weight[:, cols] if cols is not None else weight
    linear.weight = nn.Parameter(weight.clone(), requires_grad=False)
    linear.out_features, linear.in_features = weight.shape
    if linear.bias is not None and rows is not None:
        linear.bias = nn.Parameter(linear.bias.data[rows].clone(), requires_grad=False)


def _all_reduce_output(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(output)
    return output


def _row_parallel(linear: nn.Linear, cols: slice, rank: int) -> None:
    _slice(linear, None, cols)
    if linear.bias is not None and rank:
        linear.bias.data.zero_()  # added once, by rank 0, before the sum
    linear.register_forward_hook(_all_reduce_output)


def _part(size: int, rank: int, world: int) -> slice:
    share = size // world
    return slice(rank * share, (rank + 1) * share)


class VocabParallelEmbedding(nn.Module):
    """This device's rows of the table; tokens it does not hold give zeros, the sum the rest."""

    def __init__(self, table: torch.Tensor, start: int):
        super().__init__()
        self.weight = nn.Parameter(table.clone(), requires_grad=False)
        self.start = start

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        local = ids - self.start
        outside = (local < 0) | (local >= self.weight.shape[0])
        out = F.embedding(local.masked_fill(outside, 0), self.weight)
        out = out.masked_fill(outside.unsqueeze(-1), 0)
        dist.all_reduce(out)
        return out


class VocabParallelHead(nn.Module):
    """This device's logits, all-gathered; the last shard is zero-padded to the common size."""

    def __init__(self, weight: torch.Tensor, vocab: int, world: int):
        super().__init__()
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)
        self.vocab, self.world = vocab, world

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        local = F.linear(hidden, self.weight).contiguous()
        # Concatenated along the first dimension, the one layout every backend takes.
        gathered = local.new_empty((self.world * local.shape[0], *local.shape[1:]))
        gather_into(gathered, local)
        stacked = gathered.view(self.world, *local.shape)
        logits = stacked.movedim(0, -2).reshape(*local.shape[:-1], -1)
        return logits[..., : self.vocab]


def _vocab_rows(table: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, int]:
    """This device's rows of a vocabulary-sized matrix, padded to ceil(vocab / world)."""
    share = -(-table.shape[0] // world)
    rows = table[rank * share : (rank + 1) * share]
    padding = rows.new_zeros((share - rows.shape[0], *rows.shape[1:]))
    return torch.cat([rows, padding]), rank * share


def _shard_attention(attn: nn.Module, config: Any, rank: int, world: int) -> None:
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    d = attn.head_dim
    local_heads = heads // world
    _slice(attn.q_proj, _part(heads * d, rank, world), None)
    if kv >= world:
        kv_rows, local_kv = _part(kv * d, rank, world), kv // world
    else:  # each KV head serves world / kv devices
        head = rank // (world // kv)
        kv_rows, local_kv = slice(head * d, (head + 1) * d), 1
    _slice(attn.k_proj, kv_rows, None)
    _slice(attn.v_proj, kv_rows, None)
    attn.num_key_value_groups = local_heads // local_kv
    _row_parallel(attn.o_proj, _part(heads * d, rank, world), rank)


def _shard_mlp(mlp: nn.Module, rank: int, world: int) -> None:
    width = _part(mlp.gate_proj.out_features, rank, world)
    _slice(mlp.gate_proj, width, None)
    _slice(mlp.up_proj, width, None)
    _row_parallel(mlp.down_proj, width, rank)


def shard(model: nn.Module, rank: int, world: int) -> None:
    """Keep this device's slice of every layer and wire in the collectives, in place."""
    config = model.config
    if config.model_type not in SHARDABLE:
        raise ValueError(f"tensor parallelism by hand supports {', '.join(SHARDABLE)}")
    for layer in model.model.layers:
        _shard_attention(layer.self_attn, config, rank, world)
        _shard_mlp(layer.mlp, rank, world)
    embed = model.get_input_embeddings()
    rows, start = _vocab_rows(embed.weight.data, rank, world)
    model.set_input_embeddings(VocabParallelEmbedding(rows, start))
    head = model.get_output_embeddings()
    rows, _ = _vocab_rows(head.weight.data, rank, world)
    model.set_output_embeddings(VocabParallelHead(rows, head.weight.shape[0], world))
