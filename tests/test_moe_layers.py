"""MoE layer shapes the operator tables time are priced by their own fractions (`moe_layers`),
others by the `moe` grids; the fractions travel beside the profile as gzipped JSON."""

from __future__ import annotations

import gzip
import itertools
import pickle

import numpy as np
import pandas as pd
import pytest

from rooflens.calibration.aiconfigurator import (
    _roofline,
    fit_engine,
    layer_curves,
    moe_samples,
    predict,
    predict_layers,
)
from rooflens.calibration.profile import layers_path, load_profile, save_profile
from rooflens.core.efficiency import (
    ClassEfficiency,
    EfficiencyCurve,
    EngineProfile,
    LayerCurve,
    ShapeGrid,
    expert_layer,
)
from rooflens.core.errors import HardwareSpecError
from rooflens.core.graph import build_graph
from rooflens.core.operators import Step
from rooflens.core.options import AnalysisOptions, Quantization
from rooflens.core.pricing import price_step
from rooflens.engines import load_engine_profile
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model

H100 = get_device("h100-sxm")
TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]  # 24 rows: a fit needs 20
# Two layers of one size and load (128 experts, top 4, widths 512 and 576: one bin of the
# grids) whose kernels run at different fractions of their roofline bound, as per-shape tuned
# kernels do.
LAYERS = {512: 0.5, 576: 0.2}


def _moe_table(fraction_of=LAYERS) -> pd.DataFrame:
    rows = pd.DataFrame(
        [
            {"distribution": "balanced", "moe_dtype": "bfloat16", "hidden_size": 2048,
             "inter_size": inter, "topk": 4, "num_experts": 128, "moe_tp_size": 1,
             "moe_ep_size": 1, "num_tokens": t, "latency": 1.0}
            for inter in fraction_of
            for t in TOKENS
        ]
    )  # fmt: skip
    (s,) = moe_samples(rows)
    bound = np.maximum(*_roofline(s, H100))
    # Each of the three GEMMs takes its bound over the layer's fraction; the row, three of them.
    fraction = rows["inter_size"].map(fraction_of).to_numpy()
    return rows.assign(latency=3 * bound / fraction * 1e3)


def test_each_layer_shape_gets_its_own_fractions_which_the_grid_averages_away() -> None:
    (s,) = moe_samples(_moe_table())
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    curves = ClassEfficiency(compute=flat, memory=flat)  # no fixed time
    layers = layer_curves(s, H100, curves)
    assert set(layers) == {"2048x512:e128:k4", "2048x576:e128:k4"}
    for inter, fraction in LAYERS.items():
        curve = layers[expert_layer(2048, inter, 128, 4)]
        # Loads: tokens x top-k / experts, from 1 x 4 / 128 on.
        assert curve.log10_loads[0] == pytest.approx(np.log10(4 / 128), abs=1e-4)
        assert curve.fractions == pytest.approx([fraction] * len(TOKENS))
    by_layer = predict_layers(s, H100, curves, layers)
    assert by_layer == pytest.approx(np.asarray(s.time), rel=1e-3)
    from rooflens.calibration.aiconfigurator import fit_curves

    grid = predict(s, H100, fit_curves(s, H100))
    assert np.max(np.abs(grid / np.asarray(s.time) - 1)) > 0.3


def _toy_gemms(root, engine: str) -> None:
    """bf16 GEMM rows of a toy database (a fit needs them), under `engine`'s release 1.0."""
    gemm = root / "toy" / "gemm" / engine / "1.0"
    gemm.mkdir(parents=True)
    m = np.array([1, 4, 16, 64, 256, 1024, 4096], dtype=float)
    pd.DataFrame(
        [
            {"gemm_dtype": "bfloat16", "m": mi, "n": n, "k": 4096, "latency": 0.01 + mi * 1e-5}
            for n in (1024, 4096, 8192)
            for mi in m
        ]
    ).to_csv(gemm / "gemm_perf.csv", index=False)


@pytest.fixture
def database(tmp_path):
    """A toy database: bf16 GEMMs and the two MoE layers above."""
    _toy_gemms(tmp_path, "sglang")
    moe = tmp_path / "toy" / "moe" / "sglang" / "1.0"
    moe.mkdir(parents=True)
    _moe_table().to_csv(moe / "moe_perf.csv", index=False)
    return tmp_path


def test_a_fit_holds_the_layers_out_by_token_count_and_they_round_trip_beside_the_profile(
    database, tmp_path
) -> None:
    fit = fit_engine(database, "toy", "sglang", H100)
    profile = fit.profile
    assert set(profile.moe_layers) == {"bf16/2048x512:e128:k4", "bf16/2048x576:e128:k4"}
    # Every other token count of each layer held out: 6 of 12 per layer, priced within 1 %
    # (the class's fixed time, the fastest row's time beyond its bound, bends the fractions
    # a little, and interpolation between the loads kept follows).
    held = fit.held_out["moe-layers:bf16"]
    assert held["n"] == 12
    assert held["median"] < 0.01
    path = tmp_path / "toy.toml"
    save_profile(profile, path)
    assert "moe_layers" not in path.read_text()
    assert layers_path(path).name == "toy.moe-layers.json.gz"
    loaded = load_profile(path)
    assert loaded.moe_layers == {}  # read when first priced
    # Profiles travel to the validation's worker processes: pickled unread and read.
    assert pickle.loads(pickle.dumps(load_profile(path))).layers == profile.moe_layers
    assert loaded.layers == profile.moe_layers
    assert pickle.loads(pickle.dumps(loaded)).layers == profile.moe_layers
    # A copy that changes its own layers sees them beside the stored ones, even after the
    # original was priced (model_copy carries what an instance cached over).
    extra = {"bf16/1x1:e1:k1": profile.moe_layers["bf16/2048x512:e128:k4"]}
    changed = loaded.model_copy(update={"moe_layers": extra})
    assert set(changed.layers) == set(profile.moe_layers) | set(extra)
    assert set(loaded.layers) == set(profile.moe_layers)
    # The same fit writes the same bytes (a refit changes nothing it need not), and so does
    # a profile saved as loaded.
    first = layers_path(path).read_bytes()
    save_profile(load_profile(path), path)
    assert layers_path(path).read_bytes() == first
    # A damaged file is one line when the layers are first read, which a dense model never
    # asks for.
    layers_path(path).write_bytes(gzip.compress(b"{not json"))
    damaged = load_profile(path)
    dense = build_graph(load_model("meta-llama/Llama-3.1-8B"), AnalysisOptions(), H100)
    step = Step(np.array([8.0]), np.array([1.0]), np.array([0.0]))
    assert price_step(dense, H100, Quantization(), step, damaged).step_time()[0] > 0
    with pytest.raises(HardwareSpecError, match="MoE layers file is not gzipped JSON"):
        damaged.layer_curve("bf16", "2048x512:e128:k4")


def test_a_measured_layer_takes_its_fractions_and_others_keep_the_grid() -> None:
    """Qwen3-30B-A3B on one device: 128 experts of width 768, 8 per token. With fractions of
    that layer (0.1 at 0.1 tokens per expert, 0.3 at 10), its expert GEMMs take them at the
    step's tokens x 8 / 128; without, the `moe` grid's."""
    profile = load_engine_profile("sglang", "h100-sxm")
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    grid = ShapeGrid(log10_sizes=(6.0,), log10_ratios=(-1.0, 1.0), fractions=((0.5, 0.5),))
    data = profile.model_dump()
    data["classes"]["moe"] = ClassEfficiency(compute=flat, memory=flat, memory_grid=grid)
    data["dtype_classes"] = {k: v for k, v in data["dtype_classes"].items() if "moe" not in k}
    layer = expert_layer(2048, 768, 128, 8)
    assert layer == "2048x768:e128:k8"
    data["moe_layers"] = {f"bf16/{layer}": LayerCurve(log10_loads=(-1, 1), fractions=(0.1, 0.3))}
    measured = EngineProfile.model_validate(data)
    data["moe_layers"] = {}
    unmeasured = EngineProfile.model_validate(data)
    model = load_model("Qwen/Qwen3-30B-A3B")
    graph = build_graph(model, AnalysisOptions(fusion=("qkv", "gate_up", "moe")), H100)
    names = [op.name for op in graph.operators]
    for tokens in (4.0, 64.0):
        step = Step(np.array([tokens]), np.array([1.0]), np.array([0.0]))
        load = tokens * 8 / 128
        fraction = 0.2 + 0.1 * np.log10(load)
        with_layer = price_step(graph, H100, Quantization(), step, measured)
        without = price_step(graph, H100, Quantization(), step, unmeasured)
        for name in ("expert_gate_proj", "expert_down_proj"):
            row = names.index(name)
            assert with_layer.memory_rates[row][0] == pytest.approx(
                H100.memory_bandwidth * fraction
            )
            assert without.memory_rates[row][0] == pytest.approx(H100.memory_bandwidth * 0.5)
        q = names.index("q_proj")
        assert with_layer.memory_rates[q][0] == without.memory_rates[q][0]
        assert not [n for n in with_layer.beyond_fit if "layer" in n]
    # Beyond the loads measured (1,024 tokens: 64 per expert, the layer's last 10) the last
    # load's fraction prices it, and the analysis says so, naming the layer.
    step = Step(np.array([1024.0]), np.array([1.0]), np.array([0.0]))
    notes = price_step(graph, H100, Quantization(), step, measured).beyond_fit
    assert any(
        n.startswith("expert_gate_proj")
        and "64 tokens per expert lies outside the 0.1-10 tokens per expert its layer "
        "bf16/2048x768:e128:k8"
        in n
        for n in notes
    )


def test_shipped_profiles_price_the_layers_of_the_models_the_tables_time() -> None:
    """DeepSeek-R1's MoE layer (hidden 7168, 256 experts of width 2048, 8 per token) at
    `tp=8, ep=8`: each device holds 32 experts of width 256 and the experts take the
    tokens of 8 groups of 32 sequences, so a decode step routes 32 x 8 x 8 / 256 = 8 tokens
    to each expert; its expert GEMMs take the bandwidth times the shipped layer's fraction
    there."""
    from rooflens import api

    analysis = api.analyze(
        "deepseek-ai/DeepSeek-R1", "b200", engine="sglang", batch=32, prompt_len=1024,
        gen_len=16, tp=8, ep=8,
    )  # fmt: skip
    decode = analysis.steps["decode"]
    curve = decode.profile.layer_curve("fp8_block", "7168x256:e32:k1")
    assert curve is not None
    bandwidth = get_device("b200").memory_bandwidth
    for name in ("expert_gate_proj", "expert_down_proj"):
        row = list(decode.names).index(name)
        assert decode.memory_rates[row] == pytest.approx(bandwidth * curve(np.array(8.0)))


def test_the_cli_writes_the_layers_beside_the_profile_it_fits(database, tmp_path) -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    out = tmp_path / "engine.toml"
    res = CliRunner().invoke(
        app,
        ["calibrate", "--from-aiconfigurator", "toy", "--engine", "sglang", "--hardware",
         "h100-sxm", "--data-dir", str(database), "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "engine.moe-layers.json.gz" in res.output.replace("\n", "")
    # Two tables fitted (GEMM and MoE); the layers' held-out line is not a table of its own.
    assert "2 operator tables" in res.output.replace("\n", " ")
    assert len(load_profile(out).layers) == 2


def test_the_holdout_script_prices_the_same_rows_both_ways(load_script) -> None:
    """scripts/moe_layer_holdout.py on the two layers above: their own fractions price the
    held-out token counts within 1 %, the grid (one bin for both) misses by a third or more."""
    (s,) = moe_samples(_moe_table())
    errors = load_script("moe_layer_holdout").table_errors(s, "h100-sxm")
    assert errors["layers median"] < 0.01
    assert errors["grid median"] > 0.3


def test_a_load_at_the_smallest_measured_one_is_inside_the_layers_range() -> None:
    """Qwen3-30B-A3B decoding one sequence on vLLM's H200 profile routes 1 x 8 / 128 =
    0.0625 tokens to each expert: the load of the tables' one-token rows, the layer's first
    measured load (stored as log10 to 4 decimals, -1.2041, which reads back 0.0625029).
    Nothing is priced beyond the fit; one token per expert beyond the last load is."""
    from rooflens import api

    analysis = api.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", batch=1, prompt_len=100)
    decode = analysis.steps["decode"]
    curve = decode.profile.layer_curve("bf16", "2048x768:e128:k8")
    assert curve.log10_loads[0] == -1.2041
    assert 10 ** curve.log10_loads[0] != 0.0625
    assert not [n for n in decode.beyond_fit if "tokens per expert" in n]
    batch = int(np.ceil(10 ** curve.log10_loads[-1] * 128 / 8)) + 16  # one more per expert
    wide = api.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", batch=batch, prompt_len=100)
    assert [n for n in wide.steps["decode"].beyond_fit if "tokens per expert" in n]


MARLIN_SOURCE = "vllm_compressedtensorsw4a4mxfp4moe_marlin_marlinexperts"


def _mxfp4_rows(inter: int, topk: int, experts: int, ep: int, kernel: str, fraction: float):
    """MXFP4 MoE rows of one layer and kernel at `fraction` of their roofline bound, at TP 1
    and 2 (24 rows: a fit needs 20)."""
    rows = []
    for t, tp in itertools.product(TOKENS, (1, 2)):
        row = {
            "distribution": "balanced", "moe_dtype": "w4a16_mxfp4", "hidden_size": 2048,
            "inter_size": inter, "topk": topk, "num_experts": experts, "moe_tp_size": tp,
            "moe_ep_size": ep, "num_tokens": t, "kernel_source": kernel, "latency": 1.0,
        }  # fmt: skip
        s = moe_samples(pd.DataFrame([row]))[0]
        row["latency"] = 3 * float(np.maximum(*_roofline(s, H100))[0]) / fraction * 1e3
        rows.append(row)
    return rows


def test_marlin_timed_on_another_layer_gives_its_compute_rate_and_the_native_memory_rate(
    tmp_path,
) -> None:
    """A vLLM table timing gpt-oss's MXFP4 kernel on one layer (at half its bound) and
    Marlin only on another (at a fifth without expert parallelism, at a hundredth with EP 8):
    the Marlin type's compute-bound curves come from the tensor-parallel Marlin rows, its
    memory-bound curves and fixed time are the native kernel's, and the profile says so."""
    _toy_gemms(tmp_path, "vllm")
    moe = tmp_path / "toy" / "moe" / "vllm" / "1.0"
    moe.mkdir(parents=True)
    rows = (
        _mxfp4_rows(512, 4, 128, 1, "vllm_gptossmxfp4moe_triton", 0.5)
        + _mxfp4_rows(576, 8, 64, 1, MARLIN_SOURCE, 0.2)
        + _mxfp4_rows(576, 8, 64, 8, MARLIN_SOURCE, 0.01)
    )
    pd.DataFrame(rows).to_csv(moe / "moe_perf.csv", index=False)
    profile = fit_engine(tmp_path, "toy", "vllm", H100).profile
    marlin, native = profile.dtype_classes["moe:w4a16_marlin"], profile.dtype_classes["moe:w4a16"]
    assert marlin.memory == native.memory and marlin.memory_grid == native.memory_grid
    assert marlin.fixed == native.fixed
    # Compute-bound: a fifth of the BF16 peak, Marlin's rows without expert parallelism (with
    # the EP 8 rows, at a hundredth, the fractions would fall well below), at the largest
    # sizes (the fixed time bends the smaller ones).
    assert max(marlin.compute.fractions) == pytest.approx(0.2, rel=0.05)
    assert min(marlin.compute.fractions) > 0.1
    assert marlin.compute != native.compute
    assert "tensor-parallel rows of another layer" in profile.fallbacks["moe:w4a16_marlin"]
    # Marlin timed at the native kernel's layer too: its own curves in both regimes.
    same = _mxfp4_rows(512, 4, 128, 1, MARLIN_SOURCE, 0.2)
    pd.DataFrame(rows + same).to_csv(moe / "moe_perf.csv", index=False)
    own = fit_engine(tmp_path, "toy", "vllm", H100).profile
    assert own.dtype_classes["moe:w4a16_marlin"].memory != own.dtype_classes["moe:w4a16"].memory
    assert "tensor-parallel" not in own.fallbacks.get("moe:w4a16_marlin", "")


def test_a_kernel_another_engine_times_at_the_layer_fits_a_type_of_its_own(
    tmp_path, monkeypatch
) -> None:
    """vLLM's MXFP4 experts with MXFP8 activations (w4_kernel mxfp8), timed at the model's
    layer only in SGLang's table of the same system (MOE_STAND_INS): the vLLM fit gains the
    type from those rows of that kernel alone (SGLang's other kernel, at a hundredth of its
    bound, left out), priced as the w4a16 operator, with their source and a fallback note;
    its own MXFP4 curves are untouched. Without enough such rows there is no such type."""
    from rooflens.calibration import aiconfigurator

    stand_in = {
        ("vllm", "toy"): {"w4a8_mxfp8": ("w4a16_mxfp4", "w4a8_mxfp4_mxfp8", "sglang", "fi_trtllm")}
    }
    monkeypatch.setattr(aiconfigurator, "MOE_STAND_INS", stand_in)
    _toy_gemms(tmp_path, "vllm")
    own = tmp_path / "toy" / "moe" / "vllm" / "1.0"
    own.mkdir(parents=True)
    pd.DataFrame(_mxfp4_rows(512, 4, 128, 1, "vllm_gptossmxfp4moe_triton", 0.5)).to_csv(
        own / "moe_perf.csv", index=False
    )
    other = tmp_path / "toy" / "moe" / "sglang" / "2.0"
    other.mkdir(parents=True)
    rows = _mxfp4_rows(512, 4, 128, 1, "fi_trtllm", 0.8) + _mxfp4_rows(
        512, 4, 128, 1, "other_kernel", 0.01
    )
    pd.DataFrame(rows).assign(moe_dtype="w4a8_mxfp4_mxfp8").to_csv(
        other / "moe_perf.csv", index=False
    )
    profile = fit_engine(tmp_path, "toy", "vllm", H100).profile
    mxfp8 = profile.dtype_classes["moe:w4a8_mxfp8"]
    # At the largest size (where the fixed time bends least): the kernel's 0.8 of its bound,
    # not pulled down by the other kernel's hundredth; vLLM's own MXFP4 kernel keeps its 0.5.
    assert mxfp8.memory.fractions[-1] == pytest.approx(0.8, rel=0.02)
    native = profile.dtype_classes["moe:w4a16"]
    assert native.memory.fractions[-1] == pytest.approx(0.5, rel=0.02)
    assert set(profile.layers) >= {"w4a16/2048x512:e128:k4", "w4a8_mxfp8/2048x512:e128:k4"}
    assert profile.provenance["db.moe:w4a8_mxfp8"].startswith("sglang 2.0 (fi_trtllm)")
    assert "priced as the w4a16 operator" in profile.fallbacks["moe:w4a8_mxfp8"]
    pd.DataFrame(rows[:10]).assign(moe_dtype="w4a8_mxfp4_mxfp8").to_csv(
        other / "moe_perf.csv", index=False
    )
    few = fit_engine(tmp_path, "toy", "vllm", H100).profile
    assert "moe:w4a8_mxfp8" not in few.dtype_classes


def test_marlin_experts_memory_bound_on_the_native_layer_say_where_its_loads_end() -> None:
    """gpt-oss-120b's experts on Marlin, decoding 4 sequences on one H200: memory-bound, so
    their memory rate is the native MXFP4 kernel's fractions of gpt-oss's layer; a layer
    measured only from 1 to 10 tokens per expert prices 4 x 4 / 128 = 0.125 at its nearest
    load and the analysis says so, naming that layer."""
    from rooflens.api import resolve

    device = get_device("h200-sxm")
    vllm = load_engine_profile("vllm", "h200-sxm")
    layer = "w4a16/2880x2880:e128:k4"
    narrow = LayerCurve(log10_loads=(0.0, 1.0), fractions=(0.3, 0.3))
    data = vllm.model_dump()  # the shipped layers stay apart: this layer alone
    data["moe_layers"] = {layer: narrow}
    profile = EngineProfile.model_validate(data)
    spec, _, options = resolve(
        "openai/gpt-oss-120b", device, {"w4_kernel": "marlin", "calibration": profile}
    )
    graph = build_graph(spec, options, device)
    step = Step(np.array([4.0]), np.array([1.0]), np.array([1024.0]))
    costs = price_step(graph, device, options.quantization, step, profile)
    row = list(costs.names).index("expert_gate_proj")
    assert costs.memory_rates[row][0] == pytest.approx(device.memory_bandwidth * 0.3)
    assert any(
        note.startswith("expert_gate_proj")
        and f"0.125 tokens per expert lies outside the 1-10 tokens per expert its layer {layer}"
        in note
        for note in costs.beyond_fit
    )
