"""Modules a checkpoint leaves unquantized (its `modules_to_not_convert` / ignore list,
rooflens.models.quant): their linears stay at 16 bits whatever the quantization says."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rooflens.core.operators import Operator

if TYPE_CHECKING:
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.options import AnalysisOptions


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Leave the modules a checkpoint does not quantize at 16 bits."""
    classes = set(options.unquantized_modules)
    if not classes:
        return ops
    return [
        replace(op, quantized=False)
        if hasattr(op, "quantized") and module_class(op.name) in classes
        else op
        for op in ops
    ]


def module_class(name: str) -> str | None:
    """The class of module a block operator belongs to, as a checkpoint's quantization_config
    names them (rooflens.core.model.MODULE_CLASSES), or None."""
    if name.startswith("indexer_"):
        return "indexer"
    if name.startswith("expert_"):
        return "experts"
    if name.startswith("shared_"):
        return "shared_experts"
    if name == "router":
        return "router"
    if name in ("gate_proj", "up_proj", "down_proj"):
        return "mlp"
    if name in _ATTENTION_LINEARS:
        return "attention"
    return None


_ATTENTION_LINEARS = {
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "q_a_proj",
    "q_b_proj",
    "kv_a_proj",
    "latent_attention",
}
