"""Contextual sparsity (Deja Vu, Liu et al. 2023): in decode each token uses only a share of
the attention heads and MLP neurons, picked per layer by a low-rank predictor.

Graph: marks the operators whose heads or neurons are skipped (`Operator.active`,
`sparse_side`) and adds the predictors (`decode_only`). Pricing: `price` scales their decode
costs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.operators import (
    AttentionScores,
    AttentionValues,
    Cost,
    FlashAttention,
    Linear,
    Operator,
    Softmax,
    Step,
)

if TYPE_CHECKING:
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.options import AnalysisOptions

# Deja Vu's sparse channels: heads in q/o and attention, neurons in the MLP.
_HEAD_OUT, _HEAD_IN = {"q_proj"}, {"o_proj"}
_NEURON_OUT, _NEURON_IN = {"gate_proj", "up_proj"}, {"down_proj"}
_ATTENTION = (AttentionScores, Softmax, AttentionValues, FlashAttention)


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Mark the operators whose heads or neurons Deja Vu skips per token, and add its
    predictors (one low-rank MLP per layer for heads and neurons)."""
    heads, neurons = options.active_heads, options.active_neurons
    if heads >= 1 and neurons >= 1:
        return ops
    out: list[Operator] = []
    for op in ops:
        if op.name in _HEAD_OUT | _HEAD_IN and heads < 1:
            op = replace(op, active=heads, sparse_side="out" if op.name in _HEAD_OUT else "in")
        elif isinstance(op, _ATTENTION) and heads < 1:
            op = replace(op, active=heads, sparse_side="heads")
        elif op.name in _NEURON_OUT | _NEURON_IN and neurons < 1:
            op = replace(op, active=neurons, sparse_side="out" if op.name in _NEURON_OUT else "in")
        out.append(op)
    rank = options.predictor_rank
    out += [
        Linear(
            "sparsity_predictor_a",
            "block",
            ("x",),
            "pred",
            in_features=local.hidden_size,
            out_features=rank,
            quantized=False,
            decode_only=True,
        ),
        Linear(
            "sparsity_predictor_b",
            "block",
            ("pred",),
            "pred_out",
            in_features=rank,
            out_features=local.num_heads + local.intermediate_size,
            quantized=False,
            decode_only=True,
        ),
    ]
    return out


def price(op: Operator, step: Step, cost: Cost) -> Cost:
    """Deja Vu in decode steps: work on the active heads or neurons of each token; weights of
    the channels any of the step's tokens uses, 1 - (1 - f)^T in expectation."""
    decode = step.new_tokens == 1
    if op.decode_only:
        return Cost(**{f: np.where(decode, getattr(cost, f), 0.0) for f in Cost.FIELDS})
    if op.active >= 1:
        return cost
    f = op.active
    touched = 1 - (1 - f) ** step.tokens
    scale = {"ops": f, "vector_ops": f, "load_weight": touched}
    if op.sparse_side == "heads":
        scale |= {"load_act": f, "store_act": f, "load_kv": f}
    else:
        scale["store_act" if op.sparse_side == "out" else "load_act"] = f
    return replace(
        cost,
        **{
            field: np.where(decode, getattr(cost, field) * share, getattr(cost, field))
            for field, share in scale.items()
        },
    )
