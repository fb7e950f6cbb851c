"""JetMoE (2024; transformers' JetMoeConfig): refused, naming what rooflens cannot express. Its
attention is itself a mixture of experts (JetMoeMoA): a router picks `num_experts_per_tok` of
`num_local_experts` experts, each with its own query and output projections (`kv_channels` x
`num_key_value_heads` wide) around one key/value projection the experts share. rooflens'
attention has one set of projections that every token runs; only MLPs are routed."""

from __future__ import annotations

from typing import NoReturn

from rooflens.core.errors import ModelConfigError
from rooflens.models.config import _Config


def read_jetmoe(c: _Config, name: str) -> NoReturn:
    experts = c.positive("num_local_experts", 8)
    top_k = c.positive("num_experts_per_tok", 2)
    raise ModelConfigError(
        f"config.json of model_type {c.model_type!r}: num_local_experts={experts} with "
        f"num_experts_per_tok={top_k} routes attention too (JetMoeMoA: each token runs the "
        "query and output projections of its top-k attention experts) and is not supported; "
        "supported: attention whose projections every token runs"
    )
