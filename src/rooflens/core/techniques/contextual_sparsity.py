"""Contextual sparsity (Deja Vu, Liu et al. 2023): in decode each token uses only a share of
the attention heads and MLP neurons, picked per layer by a low-rank predictor.

Graph: marks the operators whose heads or neurons are skipped (`Operator.active`,
`sparse_side`) and adds the predictors (`decode_only`). Pricing: `priced` scales the terms of
their decode costs by this module's atoms.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.errors import InvalidInputError
from rooflens.core.operators import (
    Atom,
    AttentionScores,
    AttentionValues,
    FlashAttention,
    Linear,
    Operator,
    Softmax,
    Step,
    Term,
    Terms,
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
    # Nothing to skip would only add predictors: a model without attention heads, or without
    # a dense MLP (routed experts are another sparsity), is refused.
    names = {op.name for op in ops}
    if heads < 1 and not (names & (_HEAD_OUT | _HEAD_IN)):
        raise InvalidInputError(
            "active_heads", heads, f"1: {model.name} has no attention heads for Deja Vu to skip"
        )
    mlp = [op for op in ops if op.name in _NEURON_OUT]
    if neurons < 1 and not mlp:
        raise InvalidInputError(
            "active_neurons",
            neurons,
            f"1: {model.name} has no dense MLP for Deja Vu to skip neurons of (its routed "
            "experts are a sparsity of their own)",
        )
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
    # A predictor scores what is skipped, where it is: a layer's heads (the attention layers
    # alone: a hybrid's few, Jamba's 4 of 32) and its MLP's neurons (the dense MLP's layers:
    # an MoE model's first ones; Nemotron-NAS's of each width, each width a predictor of its
    # own). Where both are skipped in every layer, one predictor scores both.
    dense = mlp[0].layers if mlp else None
    attention = next((op.layers for op in ops if op.name in _HEAD_OUT), None)
    mlp_everywhere = dense is None and not local.mlp_widths
    predictors: list[tuple[int, int | None, int | None]] = []  # (outputs, layers, MLP width)
    if heads < 1 and neurons < 1 and attention is None and mlp_everywhere:
        predictors.append((local.num_heads + local.intermediate_size, None, None))
    else:
        if heads < 1:
            predictors.append((local.num_heads, attention, None))
        if neurons < 1 and local.mlp_widths:
            predictors += [(width, layers, width) for width, layers in local.mlp_widths]
        elif neurons < 1:
            predictors.append((local.intermediate_size, dense, None))
    for outputs, layers, width in predictors:
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
                layers=layers,
                mlp_width=width,
            ),
            Linear(
                "sparsity_predictor_b",
                "block",
                ("pred",),
                "pred_out",
                in_features=rank,
                out_features=outputs,
                quantized=False,
                decode_only=True,
                layers=layers,
                mlp_width=width,
            ),
        ]
    return out


def priced(op: Operator, terms: Terms) -> Terms:
    """Deja Vu in decode steps: work on the active heads or neurons of each token; weights of
    the channels any of the step's tokens uses, 1 - (1 - f)^T in expectation; the predictors
    run in decode only."""
    if op.decode_only:
        return {field: _times(t, ("decode",)) for field, t in terms.items()}
    if op.active >= 1:
        return terms
    share, touched = ("active_share", op.active), ("touched", op.active)
    scale = {"ops": share, "vector_ops": share, "load_weight": touched}
    if op.sparse_side == "heads":
        scale |= {"load_act": share, "store_act": share, "load_kv": share}
    else:
        scale["store_act" if op.sparse_side == "out" else "load_act"] = share
    return {field: _times(t, scale[field]) if field in scale else t for field, t in terms.items()}


def _times(terms: tuple[Term, ...], atom: Atom) -> tuple[Term, ...]:
    return tuple((coef, (*atoms, atom)) for coef, atoms in terms)


def _decode(step: Step) -> np.ndarray:
    return np.where(step.new_tokens == 1, 1.0, 0.0)


def _active_share(step: Step, share: float) -> np.ndarray:
    return np.where(step.new_tokens == 1, share, 1.0)


def _touched(step: Step, share: float) -> np.ndarray:
    """Share of the channels some token of a decode step uses: 1 - (1 - f)^T."""
    return np.where(step.new_tokens == 1, 1 - (1 - share) ** step.tokens, 1.0)


ATOMS = {"decode": _decode, "active_share": _active_share, "touched": _touched}
