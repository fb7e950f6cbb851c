"""scripts/moe_routing_check.py prices aiconfigurator's power-law MoE rows with the experts
their skewed loads touch (docs/engines.md): its experts and bytes must be what it says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rooflens.calibration.aiconfigurator import moe_samples


@pytest.mark.parametrize(("tokens", "alpha"), [(1, 1.01), (8, 1.2), (32, 1.01), (512, 1.2)])
def test_a_skewed_load_touches_at_most_the_dealt_experts(tokens, alpha, load_script) -> None:
    """Of 128 experts, top-4: a skewed load never touches more experts than its routes or the
    experts there are; from a few tokens on, some experts take several routes."""
    touched = load_script("moe_routing_check").touched(tokens, 128, 4, alpha)
    assert 1 <= touched <= min(128, tokens * 4)
    if 8 <= tokens <= 32:
        assert touched < tokens * 4  # skewed: some experts take several routes


@pytest.mark.parametrize(
    ("dtype", "per_expert"),
    [
        ("bfloat16", 256 * 512 * 2),  # 2 bytes a weight
        # FP8 and 32 bits of scale per output channel, spread over its inputs: 256 in gate
        # and up, 512 in down; a third of the three GEMMs.
        ("fp8", (2 * 256 * 512 * (1 + 4 / 256) + 512 * 256 * (1 + 4 / 512)) / 3),
    ],
)
def test_power_law_rows_are_priced_like_the_fit_with_their_experts(
    dtype, per_expert, load_script
) -> None:
    """Given the experts a balanced row reads, the script's pricing of a power-law row is
    the fit's (moe_samples'); with fewer experts only the weights' bytes drop, by each
    expert's share of the three GEMMs."""
    script = load_script("moe_routing_check")
    common = {
        "moe_dtype": dtype, "hidden_size": 256, "inter_size": 512, "topk": 4,
        "num_experts": 128, "moe_tp_size": 1, "moe_ep_size": 1, "num_tokens": [8, 64],
        "latency": [0.01, 0.03],
    }  # fmt: skip
    balanced = moe_samples(pd.DataFrame(common | {"distribution": "balanced"}))[0]
    skewed = pd.DataFrame(common | {"distribution": "power_law_1.2"})
    dealt = script.power_law_samples(skewed, None, lambda t, e, k, a: min(e, t * k))[0]
    assert np.allclose(dealt.memory, balanced.memory)
    assert np.allclose(dealt.ops, balanced.ops)
    assert np.allclose(dealt.aspect, balanced.aspect)
    ten = script.power_law_samples(skewed, None, lambda t, e, k, a: 10.0)[0]
    assert np.allclose(balanced.memory - ten.memory, (np.array([32, 128]) - 10) * per_expert)
    # Rows with expert parallelism are left out (the generator's rank logic is not modelled).
    assert script.power_law_samples(skewed.assign(moe_ep_size=2), None, lambda *a: 1.0) == []
