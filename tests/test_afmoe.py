"""Trinity (model_type afmoe): GQA with per-head q/k norms and a sigmoid gate over every
attention output value, sliding-window layers beside global ones, norms before and after each
sublayer, dense first layers then MoE with shared experts and an expert bias. Counts and bytes
by hand on a toy config (transformers' AfmoeForCausalLM agrees: test_params_transformers)."""

from __future__ import annotations

import numpy as np
import pytest

from rooflens.core import AnalysisOptions, Quantization, build_graph
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import kv_spans
from rooflens.core.memory import kv_cache_bytes
from rooflens.core.operators import Activation
from rooflens.models import spec_from_config

# 4 layers alternating sliding (window 3) and global; 2 heads, 1 KV head of 4; the first layer
# dense (6 wide), then MoE of 4 experts of 2 (top 2) with one shared expert of 2.
TOY = {
    "model_type": "afmoe",
    "hidden_size": 8,
    "intermediate_size": 6,
    "num_hidden_layers": 4,
    "vocab_size": 16,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 4,
    "global_attn_every_n_layers": 2,
    "sliding_window": 3,
    "num_dense_layers": 1,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 2,
    "num_shared_experts": 1,
}


def test_toy_trinity_parameters_by_hand() -> None:
    spec = spec_from_config(TOY)
    assert (spec.window_layers, spec.sliding_window, spec.dense_layers) == (2, 3, 1)
    assert spec.attention_output_gate and spec.qk_norm and spec.post_norms
    # Per layer: q 8x8, k and v 8x4, o 8x8, gate_proj 8x8, q/k norms 4 + 4; four norms (32).
    attention = 64 + 32 + 32 + 64 + 64 + 8
    dense = 3 * 8 * 6
    moe = 8 * 4 + 4 + 4 * 3 * 8 * 2 + 3 * 8 * 2  # router, expert_bias, experts, shared
    total = 2 * 16 * 8 + 4 * (attention + 32) + dense + 3 * moe + 8
    graph = build_graph(spec, AnalysisOptions())
    assert graph.params() == total == 2420
    gate = next(op for op in graph.operators if op.name == "attn_gate_act")
    assert isinstance(gate, Activation) and (gate.function, gate.width) == ("sigmoid", 8)


def test_toy_trinity_kv_cache_by_hand() -> None:
    spec = spec_from_config(TOY)
    # K and V of one head of 4 at 2 bytes: 16 bytes a token and layer; at 10 tokens the two
    # global layers keep all, the two sliding ones their window of 3.
    kv = kv_cache_bytes(
        spec, Quantization(), np.array(1.0), np.array(10.0), kv_spans(spec, AnalysisOptions())
    )
    assert float(kv) == 2 * 16 * 10 + 2 * 16 * 3


def test_defaults_are_afmoe_configs() -> None:
    """AfmoeConfig's defaults: head_dim 128 (not hidden / heads), every fourth layer global,
    one dense layer, two shared experts."""
    given = {k: TOY[k] for k in ("model_type", "hidden_size", "intermediate_size", "vocab_size")}
    spec = spec_from_config(
        given | {"num_hidden_layers": 8, "num_attention_heads": 2, "moe_intermediate_size": 2}
    )
    assert (spec.head_dim, spec.num_kv_heads, spec.window_layers, spec.sliding_window) == (
        128,
        2,
        6,
        1024,
    )
    assert (spec.dense_layers, spec.num_experts, spec.experts_per_token) == (1, 64, 6)
    assert spec.shared_intermediate_size == 4
    dense = spec_from_config(TOY | {"num_dense_layers": 4})
    assert not dense.is_moe


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attention_bias": True},
         r"attention_bias=True is not supported; supported: false"),
        ({"layer_types": ["sliding_attention", "chunked_attention"] * 2},
         r"layer_types holds \['chunked_attention'\]"),
        ({"num_dense_layers": 5},
         r"num_dense_layers=5 is invalid: expected at most num_hidden_layers=4"),
        ({"global_attn_every_n_layers": 0},
         r"global_attn_every_n_layers=0 is invalid: expected a positive integer"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        spec_from_config(TOY | change)
