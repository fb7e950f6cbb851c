"""Low-rank factorization (e.g. ASVD, SVD-LLM): each listed linear W (in x out) becomes
A (in x r) B (r x out) with r = ratio x min(in, out). A graph pass only; the two thin linears
are priced as any linear."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rooflens.core.errors import InvalidInputError
from rooflens.core.operators import Linear, Operator

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
    """Replace each named linear by two thin ones through a rank-r bottleneck."""
    ratio = options.low_rank_ratio
    if ratio is None:
        return ops
    names = set(options.low_rank_layers)
    default = type(options).model_fields["low_rank_layers"].default
    linears = {op.name for op in ops if type(op) is Linear}
    unknown = sorted(names - linears) if options.low_rank_layers != default else []
    if unknown:  # a name matching no projection would factorize nothing, unseen
        raise InvalidInputError(
            "low_rank_layers", ",".join(unknown), f"projections of {model.name}: "
            f"{', '.join(sorted(linears))}"
        )  # fmt: skip
    out: list[Operator] = []
    for op in ops:
        if type(op) is not Linear or op.name not in names:
            out.append(op)
            continue
        rank = max(1, round(ratio * min(op.in_features, op.out_features)))
        out.append(
            replace(
                op,
                name=f"{op.name}_a",
                output=f"{op.output}_lr",
                out_features=rank,
                bias=False,
                to_kv_cache=False,
            )
        )
        out.append(replace(op, name=f"{op.name}_b", inputs=(f"{op.output}_lr",), in_features=rank))
    return out
