"""An expert layer the operator tables do not time is priced by the nearest they time of its
type and widths (`nearest_layer`), not by the class's grid over all shapes, and the estimate
says which layer priced it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rooflens.api import analyze
from rooflens.core.efficiency import nearest_layer
from rooflens.engines import load_engine_profile

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "bf16/2048x512:e256:k8": None,
    "bf16/2048x512:e128:k4": None,
    "bf16/2048x512:e256:k4": None,
    "bf16/2048x768:e256:k10": None,
    "fp8/2048x512:e256:k10": None,
}


@pytest.mark.parametrize(
    ("layer", "kind", "nearest"),
    [
        # The same widths and expert count, top-k nearest by ratio (10/8 < 10/4).
        ("2048x512:e256:k10", "bf16", "bf16/2048x512:e256:k8"),
        # The expert count first: 160 lies nearer 128 (x1.25) than 256 (x1.6).
        ("2048x512:e160:k8", "bf16", "bf16/2048x512:e128:k4"),
        # 256 experts (x2) before 128 (x4), then the top-k its own.
        ("2048x512:e512:k8", "bf16", "bf16/2048x512:e256:k8"),
        # Only the layer's own type and widths count.
        ("2048x512:e256:k10", "fp8", "fp8/2048x512:e256:k10"),
        ("2048x640:e256:k8", "bf16", None),
        ("2048x512:e256:k8", "fp4", None),
        ("not a layer", "bf16", None),
        ("2048x512:e0:k8", "bf16", None),
    ],
)
def test_the_nearest_timed_layer_shares_type_and_widths(layer, kind, nearest) -> None:
    assert nearest_layer(LAYERS, kind, layer) == nearest


def test_an_engine_profile_prices_an_untimed_layer_by_its_nearest() -> None:
    """SGLang's H100 tables time 2,048 x 512 layers of 256 experts at top-8, not top-10 (a
    24-layer Qwen3-Next's) nor 512 experts (Qwen3-Next-80B-A3B's): both take the top-8
    layer; a timed layer keeps its own; widths nothing times keep the class's grid."""
    profile = load_engine_profile("sglang", "h100-sxm")
    top8 = "bf16/2048x512:e256:k8"
    assert profile.layer_key("bf16", "2048x512:e256:k8") == top8
    assert profile.layer_key("bf16", "2048x512:e256:k10") == top8
    assert profile.layer_key("bf16", "2048x512:e512:k10") == top8
    assert profile.layer_curve("bf16", "2048x512:e256:k10") is profile.layers[top8]
    assert profile.layer_key("bf16", "9000x512:e256:k10") is None


def test_another_types_own_shape_still_prices_memory_bound_first() -> None:
    """A Marlin MXFP4 layer whose shape the tables time only as W4A16 keeps that layer for its
    memory-bound parts (`memory_layer`) rather than a nearest Marlin one."""
    profile = load_engine_profile("vllm", "h100-sxm")
    layer = "2880x720:e128:k4"
    assert profile.layer_key("w4a16_marlin", layer) is None
    assert profile.memory_layer("w4a16_marlin", layer)[0] == f"w4a16/{layer}"


def test_the_estimate_names_the_layer_that_priced_an_untimed_one() -> None:
    hybrid = ROOT / "docs/data/qwen3-next-24-layers.config.json"
    result = analyze(str(hybrid), "h100-sxm", engine="sglang", prompt_len=1024)
    lines = [line for line in result.fallbacks if "MoE layer" in line]
    assert lines == [
        "expert_gate_proj, expert_up_proj, expert_down_proj (MoE layer bf16/2048x512:e256:k10): "
        "not a shape the operator tables time; the nearest they time, bf16/2048x512:e256:k8, "
        "prices it"
    ]
    timed = analyze("Qwen/Qwen3-30B-A3B", "h100-sxm", engine="sglang", prompt_len=1024)
    assert not [line for line in timed.fallbacks if "MoE layer" in line]


def test_a_layer_key_reads_back_into_its_parts() -> None:
    from rooflens.core.efficiency import expert_layer, layer_shape

    assert layer_shape(expert_layer(2048, 512, 256, 10)) == ("2048x512", 256, 10.0)
    assert layer_shape("7168x256:e32:k1.25") == ("7168x256", 32, 1.25)
    assert layer_shape("2048x512:e0:k8") is None and layer_shape("2048x512:e8:k0") is None
    assert layer_shape("bf16/2048x512:e8:k2") is None
