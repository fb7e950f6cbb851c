"""LongCat-Flash (Meituan, 2025; transformers' LongcatFlashConfig): refused, naming what rooflens
cannot express. Each of its `num_layers` layers holds two MLA attention and two dense MLP
sublayers, and beside them an MoE fed from the first attention's output (shortcut-connected
MoE, LongcatFlashDecoderLayer); its router picks among `n_routed_experts` experts and
`zero_expert_num` zero-computation experts that return their input, so the experts a token runs
vary from token to token. rooflens' layer holds one attention and one MLP or MoE, and prices a
fixed top-k."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config


def read_longcat_flash(c: _Config, name: str) -> NoReturn:
    layers = c.req("num_layers")
    reasons = []
    zero = c.count("zero_expert_num", 256)
    if zero:
        reasons.append(
            f"zero_expert_num={zero} (zero-computation experts: the experts a token runs vary "
            "by token; supported: 0)"
        )
    reasons.append(
        f"num_layers={layers} (layers of two MLA attention and two MLP sublayers beside a "
        "shortcut-connected MoE; supported: one attention and one MLP or MoE per layer)"
    )
    verb = "are" if len(reasons) > 1 else "is"
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: {' and '.join(reasons)} {verb} not supported"
    )
