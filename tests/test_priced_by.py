"""Every operator row says what priced it (`priced_by`) and how close to its roofline bound
the estimate puts it (`efficiency`: roofline time / estimated time)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from rooflens import api
from rooflens.cli.app import app
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EngineProfile, LayerCurve
from rooflens.core.graph import build_graph
from rooflens.core.operators import Step
from rooflens.core.options import AnalysisOptions, Quantization
from rooflens.core.pricing import price_step
from rooflens.engines import load_engine_profile
from rooflens.hardware.catalog import get_device

H100 = get_device("h100-sxm")


def _rows(analysis, stage: str = "decode") -> dict[str, dict]:
    return {row["name"]: row for row in api.operator_rows(analysis) if row["stage"] == stage}


def test_the_roofline_prices_every_operator_at_its_bound() -> None:
    rows = api.operator_rows(api.analyze("Qwen/Qwen3-30B-A3B", "h200", batch=8, tp=2))
    for row in rows:
        assert row["priced_by"] == ("link model" if row["bound"] == "link" else "roofline")
        if row["time"] > 0:
            assert row["efficiency"] == pytest.approx(1.0)


def test_an_engine_profile_names_its_curves_layers_and_collectives() -> None:
    """Qwen3-30B-A3B on vLLM's H200 profile at TP 2: each device holds the 128 experts at
    width 768 / 2 = 384, a layer the tables time; the all-reduces over 2 devices are
    measured; k_proj runs in the fused QKV GEMM's kernel."""
    rows = _rows(api.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", batch=8, tp=2))
    assert rows["expert_gate_proj"]["priced_by"] == "moe layer bf16/2048x384:e128:k8"
    assert rows["q_proj"]["priced_by"] == "matmul"
    assert rows["k_proj"]["priced_by"] == "matmul, in q_proj's kernel"
    assert rows["flash_attention"]["priced_by"] == "attention"
    assert rows["attn_norm"]["priced_by"] == "vector"
    assert rows["o_proj_all_reduce"]["priced_by"] == "measured all_reduce, 2 devices"
    assert math.isnan(rows["o_proj_all_reduce"]["efficiency"])  # null in the JSON
    # A memory-bound GEMM: its bytes at the full bandwidth over its estimated time.
    q = rows["q_proj"]
    bandwidth = get_device("h200").memory_bandwidth
    assert q["bound"] == "memory"
    assert q["efficiency"] == pytest.approx(q["memory_access"] / bandwidth / q["time"])
    assert 0 < q["efficiency"] < 1


def test_a_layers_fraction_is_its_experts_efficiency() -> None:
    """With no fixed time, an expert GEMM priced by its layer's fractions (0.1 at 0.1 tokens
    per expert, 0.3 at 10) runs at that fraction of its bound: 64 tokens x 8 / 128 = 4
    tokens per expert, 0.2 + 0.1 x log10(4) = 0.2602."""
    profile = load_engine_profile("sglang", "h100-sxm")
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    data = profile.model_dump()
    data["kernel_time"] = 0.0
    data["classes"]["moe"] = ClassEfficiency(compute=flat, memory=flat)
    data["dtype_classes"] = {k: v for k, v in data["dtype_classes"].items() if "moe" not in k}
    data["moe_layers"] = {
        "bf16/2048x768:e128:k8": LayerCurve(log10_loads=(-1, 1), fractions=(0.1, 0.3))
    }
    measured = EngineProfile.model_validate(data)
    graph = build_graph(
        api.resolve_model("Qwen/Qwen3-30B-A3B"), AnalysisOptions(fusion=("moe",)), H100
    )
    step = price_step(
        graph, H100, Quantization(), Step(np.array([64.0]), np.array([1.0]), np.array([0.0])),
        measured,
    )  # fmt: skip
    names = list(step.names)
    for name in ("expert_gate_proj", "expert_up_proj", "expert_down_proj"):
        row = names.index(name)
        assert step.priced_by[row] == "moe layer bf16/2048x768:e128:k8"
        assert step.efficiency[row][0] == pytest.approx(0.2 + 0.1 * math.log10(4))


def test_a_fallback_says_so_in_the_row() -> None:
    """gpt-oss-120b's MXFP4 experts with Marlin on vLLM's H100 profile: no Marlin rows at
    their layer, so Marlin's curves of another layer price them compute-bound and the MXFP4
    kernel's layer (w4a16) memory-bound, as their fallback line says, and their rows name
    both and say so."""
    analysis = api.analyze(
        "openai/gpt-oss-120b", "h100-sxm", engine="vllm", tp=8, w4_kernel="marlin"
    )
    marked = {
        row["name"] for row in api.operator_rows(analysis) if "(fallback)" in row["priced_by"]
    }
    assert marked == {"expert_gate_proj", "expert_up_proj", "expert_down_proj"}
    rows = _rows(analysis)
    assert rows["expert_up_proj"]["priced_by"] == (
        "moe:w4a16_marlin (fallback), memory-bound as moe layer w4a16/2880x360:e128:k4"
    )
    for name in marked:
        assert any(name in line for line in analysis.fallbacks)


def test_the_cli_shows_both_columns_and_the_json_nulls_a_measured_collective() -> None:
    args = ["analyze", "Qwen/Qwen3-30B-A3B", "-H", "h200", "--engine", "vllm", "--tp", "2"]
    wide = CliRunner().invoke(app, [*args, "--stage", "decode", "--wide"], env={"COLUMNS": "240"})
    assert wide.exit_code == 0, wide.output
    assert "of roofline" in wide.output and "priced by" in wide.output
    assert "moe layer bf16/2048x384:e128:k8" in wide.output
    out = CliRunner().invoke(app, [*args, "-f", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["operators"]
    reduce = next(r for r in rows if r["name"] == "o_proj_all_reduce")
    assert reduce["efficiency"] is None
    assert reduce["priced_by"] == "measured all_reduce, 2 devices"


# What a vLLM analysis of a 2,048-token prompt says of its prefill past the CUDA graphs.
VLLM_PAST_GRAPHS = (
    "prefill iterations of more than 512 tokens run without CUDA graphs: each lasts at least "
    "the host's time to launch its kernels (the profile's 1.09 ms per layer and 0.47 ms more "
    "per mixture-of-experts layer, measured with the engine on an H100: "
    "docs/engines-measured.md)"
)


def test_a_cache_narrower_than_the_devices_types_says_which_curves_price_it() -> None:
    """A 4-bit KV cache on an H200 (no 4-bit type) is priced with the FP8 cache's curves at
    its own bytes: the fallbacks say so, where nothing did; an 8-bit cache has curves."""
    narrow = api.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", engine="vllm", kv_bits=4)
    # Beside the line a vLLM prefill past its 512-token graphs adds (its launch time).
    assert narrow.fallbacks[1:] == [VLLM_PAST_GRAPHS]
    assert narrow.fallbacks[:1] == [
        "flash_attention (4-bit KV cache): the device has no 4-bit type: the fp8 cache's "
        "curves price it, at its 4-bit bytes"
    ]
    rows = {r["name"]: r for r in api.operator_rows(narrow) if r["stage"] == "decode"}
    assert rows["flash_attention"]["priced_by"] == "attention:fp8"
    fp8 = api.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", engine="vllm", kv_bits=8)
    assert fp8.fallbacks == [VLLM_PAST_GRAPHS]
    assert api.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", kv_bits=4).fallbacks == []
