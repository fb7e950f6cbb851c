"""Early exit (CALM, Schuster et al. 2022): decode steps leave after a share of the layers on
average, paying a confidence classifier at every layer they pass.

Graph: adds the exit classifier (h -> width) to the block. Pricing: `counts` runs the block's
operators in only `exit_depth` of the layers in decode, and the classifier only there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.operators import Linear, Operator

if TYPE_CHECKING:
    from rooflens.core.graph import Graph
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.options import AnalysisOptions

CLASSIFIER = "exit_classifier"
# Layers an early exit skips still fill their KV cache from the exit state (CALM).
_KV_FILL = ("attn_norm", "k_proj", "v_proj", "k_norm", "kv_a_proj", "kv_a_norm")


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Add the confidence classifier that every layer a decode step passes runs."""
    if options.early_exit_depth >= 1:
        return ops
    classifier = Linear(
        CLASSIFIER,
        "block",
        ("y",),
        "exit_confidence",
        in_features=model.hidden_size,
        out_features=options.exit_classifier_width,
        quantized=False,
    )
    return [*ops, classifier]


def counts(graph: Graph, exit_depth: float | None) -> np.ndarray:
    """Runs per step of each operator; with early exit (decode), most block operators run in
    only `exit_depth` of the layers, and the exit classifiers only in decode."""
    out = []
    for op in graph.operators:
        count = graph.count(op)
        if op.name == CLASSIFIER and exit_depth is None:
            count = 0.0
        elif exit_depth is not None and op.scope == "block" and op.name not in _KV_FILL:
            count *= exit_depth
        out.append(count)
    return np.array(out, dtype=np.float64)
