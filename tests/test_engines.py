"""Engine profiles: the fit from operator tables, their pricing, resolution and the CLI."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.calibration.aiconfigurator import (
    AiconfiguratorMissing,
    data_root,
    fit_engine,
    older_versions,
    pick_version,
)
from rooflens.calibration.profile import load_profile
from rooflens.cli.app import app
from rooflens.core.efficiency import CollectiveCurve, EngineProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.graph import build_graph
from rooflens.core.operators import Linear, Precision, Step
from rooflens.core.options import AnalysisOptions, Parallelism, Quantization
from rooflens.core.pricing import memory_access, price_step, quantize_pass_time
from rooflens.engines import (
    DEFAULTS,
    ENGINES,
    engine_versions,
    load_engine_profile,
    nearest_version,
    version_key,
)
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model

H100 = get_device("h100-sxm")
FIXED = 3e-6  # seconds: the synthetic kernels' launch cost
COMPUTE_FRACTION, MEMORY_FRACTION = 0.5, 0.8
NCCL_BYTES = (1024, 4096, 16384)  # elements of 2 bytes in the tables


def _gemm_law(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """The synthetic engine: fixed + max(OPs / (0.5 peak), bytes / (0.8 bandwidth)), in ms."""
    cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
        Step(m, np.ones_like(m), np.zeros_like(m)), Precision(Quantization())
    )
    memory = cost.load_weight + cost.load_act + cost.store_act
    t = FIXED + np.maximum(
        cost.ops / (COMPUTE_FRACTION * H100.peak_ops["bf16"]),
        memory / (MEMORY_FRACTION * H100.memory_bandwidth),
    )
    return t * 1e3


def _nccl_ms(kind: str, ranks: int, elements: int) -> float:
    return {"all_reduce": 0.01, "all_gather": 0.008, "alltoall": 0.012}[kind] * (
        1 + ranks / 8 + elements / 16384
    )


@pytest.fixture
def tables(tmp_path):
    """A toy aiconfigurator database: bf16 GEMMs of a known law, NCCL and custom all-reduce."""
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    rows = []
    for n, k in ((64, 64), (4096, 4096), (8192, 2048)):
        m = np.array([1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384], dtype=float)
        for mi, t in zip(m, _gemm_law(m, n, k), strict=True):
            rows.append({"gemm_dtype": "bfloat16", "m": mi, "n": n, "k": k, "latency": t})
    pd.DataFrame(rows).to_csv(gemm / "gemm_perf.csv", index=False)
    (gemm / "collection_meta.yaml").write_text(
        "provenance: collected\ntables:\n  gemm_perf:\n    collections:\n"
        "      - collected_at: '2026-08-13'\n"
    )
    nccl = tmp_path / "toy" / "comm" / "nccl" / "2.0"
    nccl.mkdir(parents=True)
    rows = [
        {"op_name": kind, "nccl_dtype": "half", "num_gpus": p, "message_size": e,
         "latency": _nccl_ms(kind, p, e)}
        for kind in ("all_reduce", "all_gather", "alltoall")
        for p in (2, 4)
        for e in NCCL_BYTES
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(nccl / "nccl_perf.csv", index=False)
    custom = tmp_path / "toy" / "comm" / "vllm" / "1.0"
    custom.mkdir(parents=True)
    rows = [
        {"allreduce_dtype": "bfloat16", "num_gpus": 4, "message_size": e, "latency": 0.004,
         "backend": backend}
        for e in (1024, 4096)
        for backend in ("vllm_graph", "vllm_eager")
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(custom / "custom_allreduce_perf.csv", index=False)
    return tmp_path


def test_the_fit_recovers_a_known_law(tables) -> None:
    fit = fit_engine(tables, "toy", "vllm", H100, package_version="9.9")
    matmul = fit.profile.classes["matmul"]
    assert matmul.fixed == pytest.approx(FIXED, rel=0.01)
    assert np.allclose(matmul.compute.fractions, COMPUTE_FRACTION, rtol=0.01)
    # Where a kernel's roofline time is a sliver of its fixed time the fraction is ill-defined
    # (a nanosecond of the fitted fixed time moves it); beyond 300 kB it is the law's.
    sizes = np.array(matmul.memory.log10_sizes)
    assert np.allclose(np.array(matmul.memory.fractions)[sizes > 5.5], MEMORY_FRACTION, rtol=0.01)
    # Held out shapes are priced within a percent of the law.
    assert fit.held_out["matmul:bf16"]["median"] < 0.01


def test_tensorrt_llm_nvfp4_gemms_are_fitted_on_vllms_rows(tables) -> None:
    """TensorRT-LLM's NVFP4 rows, timed outside its autotuner, at twice the law; vLLM's at the
    law (GEMM_STAND_INS): TensorRT-LLM's profile prices NVFP4 GEMMs as vLLM's does and says
    whose rows it read; without vLLM's table it keeps its own."""
    b200 = get_device("b200")
    vllm = tables / "toy" / "gemm" / "vllm" / "1.0"
    bf16 = pd.read_csv(vllm / "gemm_perf.csv")
    pd.concat([bf16, bf16.assign(gemm_dtype="nvfp4")]).to_csv(vllm / "gemm_perf.csv", index=False)
    trt = tables / "toy" / "gemm" / "trtllm" / "2.0"
    trt.mkdir(parents=True)
    slow = bf16.assign(gemm_dtype="nvfp4", latency=2 * bf16["latency"])
    pd.concat([bf16, slow]).to_csv(trt / "gemm_perf.csv", index=False)
    own = fit_engine(tables, "toy", "vllm", b200).profile
    fit = fit_engine(tables, "toy", "trtllm", b200).profile
    assert fit.dtype_classes["matmul:fp4"] == own.dtype_classes["matmul:fp4"]
    assert fit.dtype_classes["matmul:fp4"].fixed == pytest.approx(FIXED, rel=0.01)
    assert fit.provenance["db.gemm:fp4"].startswith("vllm 1.0, collected 2026-08-13")
    assert fit.fallbacks["matmul:fp4"].startswith("fitted from vllm's nvfp4 GEMM rows")
    assert "outside its autotuner" in fit.fallbacks["matmul:fp4"]
    # bf16 and other types stay TensorRT-LLM's own.
    assert fit.provenance["db.gemm"].startswith("trtllm 2.0")
    shutil.rmtree(vllm.parent)
    alone = fit_engine(tables, "toy", "trtllm", b200).profile
    assert "db.gemm:fp4" not in alone.provenance and "matmul:fp4" not in alone.fallbacks
    assert alone.dtype_classes["matmul:fp4"].fixed == pytest.approx(2 * FIXED, rel=0.01)


def test_a_gemm_table_with_a_host_floor_is_refused_and_falls_back(tables) -> None:
    """A GEMM table whose fastest kernel is 25 times the fastest bf16 GEMM (vLLM 0.24.0's
    fp8_block tables: 55-240 us for every shape) is not fitted: block-FP8 GEMMs take the fp8
    curves and the profile says why; an FP8 table at the bf16 law is kept."""
    gemm = tables / "toy" / "gemm" / "vllm" / "1.0"
    bf16 = pd.read_csv(gemm / "gemm_perf.csv")
    floor = 24 * bf16["latency"].min()  # on top of the fastest: 25 times it
    fp8 = bf16.assign(gemm_dtype="fp8")
    block = bf16.assign(gemm_dtype="fp8_block", latency=bf16["latency"] + floor)
    pd.concat([bf16, fp8, block]).to_csv(gemm / "gemm_perf.csv", index=False)
    profile = fit_engine(tables, "toy", "vllm", H100).profile
    assert "matmul:fp8" in profile.dtype_classes
    assert "matmul:fp8_block" not in profile.dtype_classes
    note = profile.fallbacks["matmul:fp8_block"]
    assert "25 times the fastest bf16 GEMM" in note and "fp8 curves" in note
    assert profile.curves("matmul", "fp8_block") == profile.dtype_classes["matmul:fp8"]


def test_provenance_names_source_versions_and_dates(tables) -> None:
    profile = fit_engine(tables, "toy", "vllm", H100, package_version="9.9").profile
    assert (profile.engine, profile.engine_version, profile.device) == ("vllm", "1.0", "h100-sxm")
    prov = profile.provenance
    assert prov["source"].startswith("aiconfigurator-core 9.9")
    assert prov["db.gemm"] == "vllm 1.0, collected 2026-08-13 (collected)"
    assert prov["db.nccl"].startswith("nccl 2.0")
    assert "fit_date" in prov and "host_per_iteration" in prov
    assert profile.host_per_iteration is None
    # Not measured: attention and element-wise kernels at the roofline, MoE on the GEMM curves.
    assert "roofline" in profile.fallbacks["attention"]
    assert "matmul" in profile.fallbacks["moe"]


def test_collectives_at_measured_sizes_equal_the_table(tables) -> None:
    profile = fit_engine(tables, "toy", "vllm", H100).profile
    sizes = np.array(NCCL_BYTES, dtype=float)
    for kind, name in (("all_gather", "all_gather"), ("all_to_all", "alltoall")):
        expected = [_nccl_ms(name, 4, int(e)) * 1e-3 for e in NCCL_BYTES]
        assert np.allclose(profile.collective_time(kind, 4, 2 * sizes), expected, rtol=1e-9)
    # All-reduce: the engine's custom kernel (CUDA-graph rows) where measured and faster...
    custom = profile.collective_time("all_reduce", 4, 2 * sizes[:2])
    assert np.allclose(custom, 0.004e-3)
    # ...NCCL beyond the largest message the custom kernel was measured at.
    beyond = profile.collective_time("all_reduce", 4, np.array([2 * 16384.0]))
    assert beyond[0] == pytest.approx(_nccl_ms("all_reduce", 4, 16384) * 1e-3)
    # Three devices, neither measured: the smallest larger group measured (4) bounds them.
    three = profile.collective_time("all_gather", 3, np.array([2048.0]))
    assert three[0] == pytest.approx(_nccl_ms("all_gather", 4, 1024) * 1e-3)


def test_collective_curve_interpolates_in_log_log() -> None:
    curve = CollectiveCurve(ranks=2, log10_bytes=(3.0, 5.0), log10_seconds=(-5.0, -3.0))
    # Halfway in log10(bytes): halfway in log10(time); flat below, proportional above.
    assert curve(np.array([1e4]))[0] == pytest.approx(1e-4)
    assert curve(np.array([10.0]))[0] == pytest.approx(1e-5)
    assert curve(np.array([1e6]))[0] == pytest.approx(1e-2)


def test_engine_profile_refuses_fractions_beyond_the_roofline(tables) -> None:
    profile = fit_engine(tables, "toy", "vllm", H100).profile
    data = profile.model_dump()
    data["classes"]["matmul"]["compute"]["fractions"] = (1.2,) * len(
        data["classes"]["matmul"]["compute"]["fractions"]
    )
    with pytest.raises(ValueError, match="at most 1"):
        EngineProfile.model_validate(data)
    # A shape grid beyond the roofline is refused alike.
    data = profile.model_dump()
    grid = data["classes"]["matmul"]["memory_grid"]
    grid["fractions"] = tuple((1.2,) * len(row) for row in grid["fractions"])
    with pytest.raises(ValueError, match="at most 1"):
        EngineProfile.model_validate(data)


def test_unknown_engine_and_device_are_refused() -> None:
    with pytest.raises(InvalidInputError) as err:
        load_engine_profile("tgi", "h100-sxm")
    assert err.value.field == "engine"
    with pytest.raises(
        InvalidInputError,
        match="vllm profiles exist for b200, b300, gb200, gb300, h100-sxm, h200-sxm",
    ):
        load_engine_profile("vllm", "a100-sxm4-80gb")
    with pytest.raises(InvalidInputError, match="compiled profiles exist for h100-sxm, h200-sxm"):
        load_engine_profile("compiled", "b200")


def _older_gemms(tables, version: str, slower: float) -> None:
    """An older release's GEMM table: the toy law, `slower` times as long."""
    newest = tables / "toy" / "gemm" / "vllm" / "1.0"
    older = tables / "toy" / "gemm" / "vllm" / version
    older.mkdir(parents=True)
    gemm = pd.read_csv(newest / "gemm_perf.csv")
    gemm.assign(latency=gemm["latency"] * slower).to_csv(older / "gemm_perf.csv", index=False)


def test_an_older_releases_tables_fit_a_profile_of_their_own(tables) -> None:
    _older_gemms(tables, "0.9", slower=2.0)
    # A folder of another table only (wide-EP MoE) times no GEMM: not a version of GEMMs.
    (tables / "toy" / "gemm" / "vllm" / "0.8").mkdir()
    (tables / "toy" / "gemm" / "vllm" / "0.8" / "wideep_perf.csv").write_text("a\n1\n")
    assert older_versions(tables, "toy", "vllm") == ["0.9"]
    gemm = ("gemm_perf",)
    assert pick_version(tables, "toy", "gemm", "vllm", None, gemm).name == "1.0"
    assert pick_version(tables, "toy", "gemm", "vllm", "0.9", gemm).name == "0.9"
    # A release between: the nearest later release's tables; one before all: the oldest's;
    # one after all: the newest's.
    assert pick_version(tables, "toy", "gemm", "vllm", "0.9.5", gemm).name == "1.0"
    assert pick_version(tables, "toy", "gemm", "vllm", "0.7", gemm).name == "0.9"
    assert pick_version(tables, "toy", "gemm", "vllm", "2.0", gemm).name == "1.0"
    # A post-release is its release's tables, as a shipped profile picks them.
    assert pick_version(tables, "toy", "gemm", "vllm", "0.9.post1", gemm).name == "0.9"
    old = fit_engine(tables, "toy", "vllm", H100, "0.9", package_version="9.9").profile
    new = fit_engine(tables, "toy", "vllm", H100, package_version="9.9").profile
    assert (old.engine_version, new.engine_version) == ("0.9", "1.0")
    assert old.provenance["db.gemm"].startswith("vllm 0.9")
    # Tables the older release lacks (the collectives) come from the nearest later one.
    assert old.provenance["db.custom_all_reduce"].startswith("vllm 1.0")
    # The GEMMs that took twice as long: twice the launch cost, half the compute fraction.
    assert old.classes["matmul"].fixed == pytest.approx(2 * FIXED, rel=0.01)
    assert np.allclose(old.classes["matmul"].compute.fractions, COMPUTE_FRACTION / 2, rtol=0.01)


@pytest.mark.parametrize(
    ("older", "newer"),
    [("0.5.9", "0.5.10"), ("1.3.0rc10", "1.3.0rc20"), ("1.3.0rc20", "1.3.0"),
     ("1.1.0-dev.2", "1.1.0"), ("0.5.1-rc0.pre1", "0.5.1"), ("0.9", "0.10.0"),
     ("nightly-dev", "0.0.1")],
)  # fmt: skip
def test_releases_order_by_their_numbers(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_a_post_release_is_its_release() -> None:
    assert version_key("0.5.10.post1") == version_key("0.5.10")
    assert version_key("0.5.6") == version_key("0.5.6.post2")


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [("0.5.10", "0.5.10"), ("0.5.10.post1", "0.5.10"), ("0.5.6", "0.5.6.post2"),
     ("0.5.8", "0.5.10"), ("0.5.1", "0.5.6.post2"), ("0.5.14", "0.5.14"), ("0.6.0", None)],
)  # fmt: skip
def test_the_nearest_later_release_prices_a_release(asked: str, chosen: str | None) -> None:
    assert nearest_version(asked, ("0.5.6.post2", "0.5.10", "0.5.14")) == chosen


def test_shipped_older_releases_price_their_runs() -> None:
    """SGLang's H100 databases time GEMMs at 0.5.6.post2 and MoE kernels at 0.5.10 as well as
    at 0.5.14; vLLM's H100 databases hold 0.24.0 only."""
    assert engine_versions("sglang", "h100-sxm") == ("0.5.6.post2", "0.5.10", "0.5.14")
    assert engine_versions("vllm", "h100-sxm") == ("0.24.0",)
    assert engine_versions("vllm", "a100-sxm4-80gb") == ()
    picked = {v: load_engine_profile("sglang", "h100-sxm", v).engine_version
              for v in ("0.5.5", "0.5.9", "0.5.10.post1", "0.5.14", "0.6.0")}  # fmt: skip
    assert picked == {"0.5.5": "0.5.6.post2", "0.5.9": "0.5.10", "0.5.10.post1": "0.5.10",
                      "0.5.14": "0.5.14", "0.6.0": "0.5.14"}  # fmt: skip
    assert load_engine_profile("vllm", "h100-sxm", "0.1").engine_version == "0.24.0"
    # Each release's MoE curves come from its own table.
    moe = {v: load_engine_profile("sglang", "h100-sxm", v) for v in ("0.5.10", "0.5.14")}
    assert moe["0.5.10"].provenance["db.moe"].startswith("sglang 0.5.10")
    assert moe["0.5.14"].provenance["db.moe"].startswith("sglang 0.5.14")
    with pytest.raises(InvalidInputError) as err:
        load_engine_profile("transformers", "h100-sxm", "4.0")
    assert err.value.field == "engine_version"


def test_missing_package_names_the_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    with pytest.raises(AiconfiguratorMissing, match="pip install aiconfigurator-core pyarrow"):
        data_root(None)


def test_calibrate_reads_the_engines_projects_spellings(monkeypatch) -> None:
    """--engine vLLM and TensorRT-LLM, as every other --engine reads them: the run gets as
    far as the missing databases."""
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    for spelling in ("vLLM", "TensorRT-LLM"):
        result = CliRunner().invoke(
            app, ["calibrate", "--from-aiconfigurator", "h100-sxm", "--engine", spelling]
        )
        assert result.exit_code == 2 and "pip install aiconfigurator-core" in result.output


def test_the_refit_module_says_what_is_missing_in_one_line(monkeypatch, tmp_path, capsys) -> None:
    """`python -m rooflens.calibration.aiconfigurator` without the package, or with a folder
    that is not there: one line and exit 2, before any fitting."""
    from rooflens.calibration.aiconfigurator import main

    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    for argv, words in (([], "pip install aiconfigurator-core"),
                        ([str(tmp_path / "none")], "data_dir=")):  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and err.count("\n") == 1


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
@pytest.mark.parametrize("device", ["h100-sxm", "h200-sxm", "b200"])
def test_shipped_profiles_load_with_provenance(engine: str, device: str) -> None:
    profile = load_engine_profile(engine, device)
    assert isinstance(profile, EngineProfile)
    assert (profile.engine, profile.device) == (engine, device)
    assert profile.provenance["source"].startswith("aiconfigurator-core 0.12.0")
    assert {"all_reduce", "custom_all_reduce", "all_gather", "all_to_all"} <= set(
        profile.collectives
    )


def test_transformers_resolves_to_the_bundled_calibration() -> None:
    assert load_engine_profile("transformers", "h100-sxm") == load_profile("h100-sxm")
    assert set(ENGINES) == {"transformers", "compiled", "vllm", "sglang", "trtllm"}
    assert DEFAULTS["vllm"].memory_fraction == 0.92  # vllm/config/cache.py from 0.21
    assert DEFAULTS["trtllm"].memory_fraction == 0.9
    assert 0.8 < DEFAULTS["sglang"].memory_fraction < 0.9


@pytest.mark.parametrize("kv_bits", [16, 8])
def test_no_operator_beats_its_roofline_bound(kv_bits: int) -> None:
    """Every operator priced with an engine profile takes at least its roofline time, and the
    step is slower than the roofline bound."""
    model = load_model("meta-llama/Llama-3.1-8B")
    device = get_device("h200-sxm")
    quant = Quantization(kv_bits=kv_bits)
    options = AnalysisOptions(quantization=quant, flash_attention=True)
    graph = build_graph(model, options, device)
    step = Step(np.array([1.0, 8.0, 64.0]), np.array([1.0, 1.0, 1.0]), np.array([512.0] * 3))
    prefill = Step(np.array([1.0, 4.0]), np.array([512.0, 2048.0]), np.array([0.0, 0.0]))
    profile = load_engine_profile("vllm", "h200-sxm")
    for s in (step, prefill):
        bound = price_step(graph, device, quant, s)
        engine = price_step(graph, device, quant, s, profile)
        assert np.all(engine.time >= bound.time * (1 - 1e-12))
        assert np.all(engine.step_time() > bound.step_time())


def test_an_engine_profile_prices_each_operator_in_its_roofline_regime(tables) -> None:
    """As the fit explains each kernel: a memory-bound GEMM takes its memory curve's time even
    where the compute curve (fitted on compute-bound kernels) is low at its OP count, and a
    compute-bound one its compute curve's time whatever the memory curve says."""
    profile = fit_engine(tables, "toy", "vllm", H100).profile
    data = profile.model_dump()
    matmul = data["classes"]["matmul"]
    # Compute fractions low at decode's OP counts, memory fractions low at prefill's bytes.
    matmul["compute"] = {"log10_sizes": (9.0, 13.0), "fractions": (0.001, 0.5)}
    matmul["memory"] = {"log10_sizes": (8.2, 8.6), "fractions": (0.5, 0.001)}
    matmul["fixed"] = 0.0
    matmul["compute_grid"] = matmul["memory_grid"] = None  # the size curves alone
    slow = EngineProfile.model_validate(data)
    curves = slow.classes["matmul"]
    model = load_model("meta-llama/Llama-3.1-8B")
    graph = build_graph(model, AnalysisOptions(), H100)
    # One decode token (memory-bound: 2 OPs per weight byte pair) and a 16,384-token prefill.
    step = Step(np.array([1.0, 1.0]), np.array([1.0, 16384.0]), np.array([0.0, 0.0]))
    costs = price_step(graph, H100, Quantization(), step, slow)
    row = [op.name for op in graph.operators].index("gate_proj")
    ops, memory = costs.fields["ops"][row], memory_access(costs.fields)[row]
    # Hand check: 4096 x 14336 bf16 weights, 2 OPs per weight and token.
    assert ops[0] == 2 * 4096 * 14336 and memory[0] >= 2 * 4096 * 14336
    peak, bandwidth = H100.peak_ops["bf16"], H100.memory_bandwidth
    assert ops[0] / peak < memory[0] / bandwidth and ops[1] / peak > memory[1] / bandwidth
    compute_time = ops / (peak * curves.compute(ops))
    memory_time = memory / (bandwidth * curves.memory(memory))
    # The other curve would have taken longer: the longer of both is not what is priced.
    assert compute_time[0] > memory_time[0] and memory_time[1] > compute_time[1]
    assert costs.time[row][0] == pytest.approx(memory_time[0])
    assert costs.time[row][1] == pytest.approx(compute_time[1])


def test_tensor_parallel_collectives_take_the_measured_time() -> None:
    model = load_model("meta-llama/Llama-3.1-8B")
    device = get_device("h100-sxm")
    profile = load_engine_profile("vllm", "h100-sxm")
    options = AnalysisOptions(parallelism=Parallelism(tp=4), calibration=profile)
    graph = build_graph(model, options, device)
    step = Step(np.array([8.0]), np.array([1.0]), np.array([1024.0]))
    costs = price_step(graph, device, Quantization(), step, profile)
    rows = [i for i, op in enumerate(graph.operators) if type(op).__name__ == "Collective"]
    assert rows
    for i in rows:
        op = graph.operators[i]
        message = costs.fields["link_bytes"][i]
        expected = profile.collective_time(op.kind, op.ranks, message)
        assert costs.link_time[i] == pytest.approx(expected)
    reduces = [i for i in rows if graph.operators[i].kind == "all_reduce"]
    assert reduces
    for i in reduces:
        # 8 tokens x 4096 x 2 bytes over 4 H100s: vLLM 0.24.0's custom all-reduce measured
        # 5.234 us at 32768 elements in CUDA graphs (NCCL: 11.27 us).
        assert costs.fields["link_bytes"][i][0] == 8 * 4096 * 2
        assert costs.link_time[i][0] == pytest.approx(5.234e-6, rel=1e-3)


@pytest.mark.parametrize(
    ("engine", "measured"), [("vllm", 5.80), ("sglang", 4.14), ("trtllm", 4.26)]
)
def test_a_measured_collective_takes_its_tables_time_and_nothing_on_top(engine, measured) -> None:
    """docs/engines.md's example: 128 KiB (8 tokens x 8192 x bf16) all-reduced over 4 H100s,
    from each engine's custom all-reduce table (SGLang 0.5.14's: 4.142 us at 65,536 elements
    in CUDA graphs). The operator's time is that, not that plus the vector class's fixed
    cost (SGLang's H100 profile has 1.78 us of it)."""
    res = rooflens.analyze(
        "meta-llama/Llama-3.1-70B", "h100-sxm", engine=engine, tp=4, prompt_len=8, gen_len=None
    )
    ops = res.operators()
    reduce = ops[(ops.stage == "prefill") & (ops.name == "o_proj_all_reduce")].iloc[0]
    assert reduce.link_time == pytest.approx(measured * 1e-6, abs=0.01e-6)
    assert reduce.time == pytest.approx(reduce.link_time, rel=1e-9)
    if engine == "sglang":
        assert load_engine_profile("sglang", "h100-sxm").classes["vector"].fixed > 1e-6


def test_cli_fits_a_profile_from_a_data_dir(tables, tmp_path) -> None:
    out = tmp_path / "engine.toml"
    res = CliRunner().invoke(
        app,
        ["calibrate", "--from-aiconfigurator", "toy", "--engine", "vllm", "--hardware",
         "h100-sxm", "--data-dir", str(tables), "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    profile = load_profile(out)
    assert isinstance(profile, EngineProfile)
    assert profile.classes["matmul"].fixed == pytest.approx(FIXED, rel=0.01)
    # Its source is the folder read, not the installed package's (it named systems/data and
    # the package's version whatever folder the tables came from).
    assert profile.provenance["source"] == (
        f"aiconfigurator-core tables read from {tables / 'toy'} (Apache-2.0; their package "
        "version not recorded)"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # A system the tables do not hold was blamed on --hardware.
        (["--from-aiconfigurator", "h999"],
         "--from-aiconfigurator='h999' is invalid: expected a system the tables hold: toy"),
        # A release the tables do not hold was fitted on another's and named for it.
        (["--from-aiconfigurator", "toy", "--engine-version", "9.9.9"],
         "--engine-version='9.9.9' is invalid: expected a release the tables hold for vllm on toy"),
        # Its first name, kept.
        (["--from-aiconfigurator", "toy", "--version", "9.9.9"],
         "--engine-version='9.9.9' is invalid: expected a release the tables hold for vllm on toy"),
    ],
)  # fmt: skip
def test_cli_refuses_a_system_or_release_the_tables_do_not_hold(tables, extra, message) -> None:
    args = ["calibrate", "--engine", "vllm", "--hardware", "h100-sxm", "--data-dir", str(tables)]
    res = CliRunner().invoke(app, [*args, *extra])
    assert res.exit_code == 2 and message in res.output, res.output


def test_cli_refuses_a_device_the_tables_were_not_measured_on(tables) -> None:
    """H100 tables fitted against a T4's peaks ended in an internal error (KeyError: 'bf16');
    against another GPU's they would fit fractions of a device never measured."""
    import shutil

    shutil.copytree(tables / "toy", tables / "h100_sxm")
    args = ["calibrate", "--engine", "vllm", "--data-dir", str(tables)]
    for system, device, expected in (
        ("h100_sxm", "t4", "h100-sxm, the device h100_sxm's tables were measured on"),
        ("h100_sxm", "h100-pcie", "h100-sxm, the device h100_sxm's tables were measured on"),
        ("toy", "t4", "a GPU with BF16 tensor cores, as the tables' systems are"),
    ):
        res = CliRunner().invoke(app, [*args, "--from-aiconfigurator", system, "-H", device])
        assert res.exit_code == 2, res.output
        assert " ".join(res.output.split()) == (
            f"error: --hardware='{device}' is invalid: expected {expected} (or left out)"
            if system == "h100_sxm"
            else f"error: --hardware='{device}' is invalid: expected {expected}"
        )


def test_cli_says_a_data_dir_holds_no_tables_rather_than_listing_its_folders(tmp_path) -> None:
    """Every folder of a --data-dir (/tmp's) had been listed as a system the tables hold."""
    for folder in ("notes", "cache/a/b"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "cache" / "a" / "b" / "c").mkdir()
    (tmp_path / "cache" / "a" / "b" / "c" / "rows.csv").write_text("x\n1\n")
    res = CliRunner().invoke(
        app,
        ["calibrate", "--from-aiconfigurator", "h100_sxm", "--engine", "vllm", "--data-dir",
         str(tmp_path), "-o", str(tmp_path / "x.toml")],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert " ".join(res.output.split()) == (
        f"error: --data-dir='{tmp_path}' is invalid: expected a folder of aiconfigurator "
        "tables, one folder per system (<system>/<op>/<engine>/<version>/<table>.parquet, as "
        "aiconfigurator-core's systems/data holds them): it holds none"
    )


def test_cli_names_a_system_it_cannot_know_before_asking_for_the_package(monkeypatch) -> None:
    """Without the package (or pyarrow), a misspelt system without --hardware is refused
    naming it, not with the install line it would meet again after installing."""
    monkeypatch.setitem(sys.modules, "aiconfigurator_core", None)
    res = CliRunner().invoke(app, ["calibrate", "--from-aiconfigurator", "h100_sxmx"])
    assert res.exit_code == 2, res.output
    assert " ".join(res.output.split()) == (
        "error: --from-aiconfigurator='h100_sxmx' is invalid: expected a system rooflens knows "
        "(did you mean h100_sxm, h200_sxm or b300_sxm?): h100_sxm, h200_sxm, b200_sxm, "
        "b300_sxm, gb200, gb300 (another system of the tables with --hardware naming its "
        "catalog device)"
    )


@pytest.mark.parametrize(
    ("quant", "linear", "attention"),
    [
        (Quantization(), "bf16", "bf16"),
        (Quantization(w_bits=8, a_bits=8, w_format="fp", kv_bits=8), "fp8", "fp8"),
        # Scales per group of 128 weights (float weights group by w_scale, not group_size).
        (Quantization(w_bits=8, a_bits=8, w_format="fp", w_scale=128), "fp8_block", "bf16"),
        # DeepSeek-V3's checkpoint: scales per 128 x 128 block of weights.
        (Quantization(w_bits=8, a_bits=8, w_format="fp", w_scale=16384), "fp8_block", "bf16"),
        # Integer weight-only (GPTQ, AWQ, WNA16) and MXFP4 weights run different kernels.
        (Quantization(w_bits=4, group_size=128), "w4a16_int", "bf16"),
        (Quantization(w_bits=4, w_format="mxfp4"), "w4a16", "bf16"),
    ],
)
def test_each_operator_takes_the_curves_of_its_data_type(quant, linear, attention) -> None:
    from rooflens.core.pricing import Placement

    model = load_model("meta-llama/Llama-3.1-8B")
    device = get_device("h100-sxm")
    graph = build_graph(model, AnalysisOptions(quantization=quant, flash_attention=True), device)
    placement = Placement.of(graph, device, quant)
    picked = dict(zip(placement.names, placement.curve_dtypes, strict=True))
    assert (picked["q_proj"], picked["flash_attention"]) == (linear, attention)
    profile = load_engine_profile("sglang", "h100-sxm")
    expected = profile.dtype_classes.get(f"matmul:{linear}", profile.classes["matmul"])
    assert profile.curves("matmul", linear) == expected


def test_vllm_block_fp8_gemms_take_the_fp8_curves_and_its_moe_the_block_ones() -> None:
    """vLLM 0.24.0's fp8_block GEMM table is refused (its floor, 55 us on the H100), its
    block-FP8 MoE table kept: a DeepSeek-style checkpoint's dense GEMMs price on the fp8
    curves, its experts on the fp8_block ones."""
    profile = load_engine_profile("vllm", "h100-sxm")
    assert "matmul:fp8_block" not in profile.dtype_classes
    assert "55.1 us" in profile.fallbacks["matmul:fp8_block"]
    assert profile.curves("matmul", "fp8_block") == profile.dtype_classes["matmul:fp8"]
    assert profile.curves("moe", "fp8_block") == profile.dtype_classes["moe:fp8_block"]


def test_an_operator_priced_beyond_its_fitted_sizes_is_stated() -> None:
    """A long FP8 prefill of a 70B model asks the vLLM H200 GEMM curve for more OPs than its
    database held: the analysis says so, naming the curve and its fitted range."""
    import rooflens

    profile = load_engine_profile("vllm", "h200-sxm")
    top = 10 ** profile.curves("matmul", "fp8").compute.log10_sizes[-1]
    big = rooflens.analyze(
        "meta-llama/Llama-3.1-70B", "h200-sxm", batch=256, prompt_len=32768, engine="vllm",
        w_bits=8, a_bits=8, w_format="fp", allow_long_context=True,
    )  # fmt: skip
    # vLLM fuses q, k and v into one GEMM: the note names the kernel by its three operators.
    qkv = [n for n in big.notes if n.startswith("prefill: q_proj+k_proj+v_proj:")]
    assert len(qkv) == 1
    assert not [n for n in big.notes if n.startswith(("prefill: k_proj", "prefill: v_proj"))]
    assert f"-{top:.3g} OPs its matmul:fp8 compute curve was fitted over" in qkv[0]
    # The kernel's OPs: 2 x tokens x 8192 x (8192 + 2 x 1024) (hand count), past the curve's end.
    assert f"{2 * 256 * 32768 * 8192 * (8192 + 2 * 1024):.3g} OPs" in qkv[0]
    assert big.to_dict()["notes"] == big.notes
    small = rooflens.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", batch=1, prompt_len=128,
                             engine="vllm")  # fmt: skip
    assert small.notes == []
    assert rooflens.analyze("meta-llama/Llama-3.1-70B", "h200-sxm", batch=256,
                            prompt_len=32768, allow_long_context=True).notes == []  # fmt: skip


def test_a_gemm_beyond_its_grids_shapes_is_noted_in_its_own_terms() -> None:
    """Qwen3.5's shared-expert gate (4,096 inputs, one output) has a k / n no GEMM of SGLang's
    B200 tables reaches."""
    import rooflens

    analysis = rooflens.analyze(
        "Qwen/Qwen3.5-397B-A17B", "b200", engine="sglang", tp=4, prompt_len=1024, gen_len=2
    )
    assert any(
        note.startswith("decode: shared_expert_gate: 4.1e+03 k / n lies outside the ")
        for note in analysis.notes
    )


def test_an_engine_documented_moe_kernel_prices_its_type() -> None:
    """TensorRT-LLM runs MXFP4 experts with MXFP8 activations on Blackwell: its w4a8 rows fit
    the w4a16 curves (the operator rooflens prices), the rows' time a third per expert GEMM."""
    from rooflens.calibration.aiconfigurator import MOE_KERNELS, moe_samples

    rows = pd.DataFrame(
        {
            "distribution": "balanced", "moe_dtype": "w4a8_mxfp4_mxfp8", "hidden_size": 2880,
            "inter_size": 2880, "topk": 4, "num_experts": 128, "moe_tp_size": 1,
            "moe_ep_size": 1, "num_tokens": [1, 16, 256], "latency": [0.03, 0.15, 0.3],
        }
    )  # fmt: skip
    assert moe_samples(rows) == []  # no w4a8 type of its own
    (w4a16,) = moe_samples(rows, MOE_KERNELS[("trtllm", "b200_sxm")])
    assert (w4a16.op_class, w4a16.dtype, w4a16.peak_dtype) == ("moe", "w4a16", "bf16")
    assert np.allclose(w4a16.time, np.array([0.03, 0.15, 0.3]) * 1e-3 / 3)
    # The moe grids' shape: tokens routed to each expert, tokens x top-k / experts.
    assert np.allclose(w4a16.aspect, np.array([1, 16, 256]) * 4 / 128)
    assert ("trtllm", "h200_sxm") not in MOE_KERNELS
    note = load_engine_profile("trtllm", "b200").fallbacks["moe:w4a16"]
    assert "w4a8_mxfp4_mxfp8" in note
    assert "moe:w4a16" not in load_engine_profile("trtllm", "h200-sxm").fallbacks


def test_balanced_moe_rows_are_priced_with_the_experts_they_read() -> None:
    """A `balanced` row deals its T·k routes out round robin: at 8 tokens of top-4 over 128
    experts it reads 32 experts' weights (uniform routing would read 28.5 in expectation), and
    from 32 tokens on all 128; the fitted fraction is of those bytes. Exponent-1.2 rows are
    not read."""
    from rooflens.calibration.aiconfigurator import moe_samples

    rows = pd.DataFrame(
        {
            "distribution": ["balanced"] * 3 + ["power_law_1.2"], "moe_dtype": "bfloat16",
            "hidden_size": 256, "inter_size": 512, "topk": 4, "num_experts": 128,
            "moe_tp_size": 1, "moe_ep_size": 1, "num_tokens": [8, 32, 64, 8],
            "latency": [0.01, 0.02, 0.03, 0.005],
        }
    )  # fmt: skip
    (bf16,) = moe_samples(rows)
    assert len(bf16.time) == 3
    tokens = np.array([8.0, 32.0, 64.0])
    experts = np.minimum(128, tokens * 4)  # 32, 128, 128
    # One of the three GEMMs (a third of the layer): its experts' bf16 weights, and each
    # routed token's input (256 or 512 wide) and output in and out, 2 bytes each.
    weights = experts * 256 * 512 * 2
    activations = tokens * 4 * (256 + 512) * 2
    assert np.allclose(bf16.memory, weights + activations)


def test_a_non_gated_moe_layer_is_read_as_its_two_gemms() -> None:
    """Nemotron-3-Nano's ReLU² experts (2688 x 1856, top-6 of 128) run up and down, no gate:
    read as three GEMMs, the H100 vLLM rows at 32 tokens and more (every expert reached) took
    less time than a gated layer's weights take to stream at the peak bandwidth, and their
    fractions met the cap of 1. Each of the two takes half the layer's time and bytes."""
    from rooflens.calibration.aiconfigurator import moe_samples

    layer = {"distribution": "balanced", "moe_dtype": "bfloat16", "hidden_size": 2688,
             "topk": 6, "num_experts": 128, "moe_tp_size": 1, "moe_ep_size": 1,
             "num_tokens": 64, "latency": 0.857211}  # fmt: skip
    rows = pd.DataFrame([{**layer, "inter_size": 1856}, {**layer, "inter_size": 1920}])
    non_gated, gated = (moe_samples(rows.iloc[[i]])[0] for i in (0, 1))
    assert non_gated.time[0] == pytest.approx(0.857211e-3 / 2)
    assert gated.time[0] == pytest.approx(0.857211e-3 / 3)
    # Every expert's up or down weights, and the routed tokens in and out.
    weights = 128 * 2688 * 1856 * 2
    assert non_gated.memory[0] == pytest.approx(weights + 64 * 6 * (2688 + 1856) * 2)
    fraction = non_gated.memory[0] / non_gated.time[0] / 3.35e12  # of the H100's bandwidth
    assert 0.85 < fraction < 0.95
    # The shipped profile, refitted so: the layer's decode below the cap it had met (364.6 us
    # at the full 3.35 TB/s, a batch of 64 at 2,048 tokens).
    result = rooflens.analyze(
        "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "h100-sxm", engine="vllm", batch=64,
        prompt_len=2048, gen_len=None,
    )  # fmt: skip
    ops = result.operators()
    up = ops[(ops["stage"] == "decode") & (ops["name"] == "expert_up_proj")].iloc[0]
    assert up["priced_by"] == "moe layer bf16/2688x1856:e128:k6"
    assert 0.8 < up["efficiency"] < 0.95


def test_a_skewed_load_lengthens_a_cell_only_where_it_is_slower() -> None:
    """Each balanced MoE row takes its cell's power-law (exponent 1.01) time where that is
    longer (a long step waits for the busiest expert), keeps its own where the skewed row is
    faster (a small step touching fewer experts, which uniform routing's bytes already count)
    or absent; the exponent-1.2 rows are not read."""
    from rooflens.calibration.aiconfigurator import moe_samples, skewed_time

    cell = {
        "moe_dtype": "bfloat16", "hidden_size": 256, "inter_size": 512, "topk": 4,
        "num_experts": 128, "moe_tp_size": 1, "moe_ep_size": 1,
    }  # fmt: skip
    rows = pd.DataFrame(
        {
            **cell,
            "distribution": ["balanced"] * 3 + ["power_law_1.01"] * 3 + ["power_law_1.2"],
            "num_tokens": [8, 4096, 8192, 8, 4096, 4096, 8192],
            "latency": [0.010, 1.0, 2.0, 0.008, 1.2, 1.4, 9.0],
        }
    )  # fmt: skip
    read = skewed_time(rows)
    assert list(read["distribution"]) == ["balanced"] * 3
    # 8 tokens: the skewed row is faster, the balanced 0.010 stays; 4,096: the median of the
    # two skewed rows, 1.3; 8,192: no exponent-1.01 row, the balanced 2.0.
    assert np.allclose(read["latency"], [0.010, 1.3, 2.0])
    (bf16,) = moe_samples(rows)
    assert np.allclose(bf16.time, np.array([0.010, 1.3, 2.0]) * 1e-3 / 3)
    # A table without a distribution column is read as it is.
    plain = rows.drop(columns="distribution").iloc[:3]
    assert skewed_time(plain) is plain


def test_a_skewed_series_that_disagrees_where_the_work_is_the_same_is_not_read() -> None:
    """At one token every routing does the same work (its top-k experts, one rank): there
    TensorRT-LLM's H100 table timed Llama 4 Scout's layer at TP 4 under the skewed load 2.8
    times its balanced row, and 4 to 6 times beyond at every step, which priced the layer at
    a fifth of its bound. A series that agrees within SKEWED_AGREEMENT is read as before, and
    under expert parallelism (where the busiest rank may hold more of one token's experts)
    the one-token rows are not compared."""
    from rooflens.calibration.aiconfigurator import SKEWED_AGREEMENT, skewed_time

    def table(skewed_one: float, ep: int = 1) -> pd.DataFrame:
        cell = {"moe_dtype": "bfloat16", "hidden_size": 5120, "inter_size": 8192, "topk": 1,
                "num_experts": 16, "moe_tp_size": 4, "moe_ep_size": ep}  # fmt: skip
        return pd.DataFrame(
            {
                **cell,
                "distribution": ["balanced"] * 2 + ["power_law_1.01"] * 2,
                "num_tokens": [1, 4096, 1, 4096],
                "latency": [0.046, 0.55, skewed_one, 3.4],
            }
        )

    apart = table(0.128)  # 2.8 times the balanced row at one token
    assert np.allclose(skewed_time(apart)["latency"], [0.046, 0.55])
    agreeing = table(0.046 * SKEWED_AGREEMENT * 0.99)
    assert np.allclose(skewed_time(agreeing)["latency"], [0.046 * SKEWED_AGREEMENT * 0.99, 3.4])
    assert np.allclose(skewed_time(table(0.128, ep=4))["latency"], [0.128, 3.4])


def test_vllm_experts_quantized_online_take_its_triton_fp8_rows() -> None:
    """vLLM runs FP8 experts with dynamic activation scales on Triton's fused MoE (FlashInfer's
    FP8 MoE kernels take static scales only): where its table times per-tensor FP8 on
    FlashInfer alone and block FP8 on Triton too, the Triton block rows fit the fp8 type and
    the per-tensor rows the static one; elsewhere nothing is remapped."""
    from rooflens.calibration.aiconfigurator import moe_type_rows, online_fp8_kernels

    def table(per_tensor: str, block: tuple[str, ...]) -> pd.DataFrame:
        kinds = [("fp8", per_tensor)] + [("fp8_block", k) for k in block]
        return pd.DataFrame(
            {
                "moe_dtype": [d for d, _ in kinds],
                "kernel_source": [k for _, k in kinds],
                "num_tokens": 1,
                "latency": [0.3] + [0.1] * len(block),
            }
        )

    hopper = table(
        "vllm_modeloptfp8moe_flashinfer_cutlass_flashinferexperts",
        ("vllm_fp8moe_triton_tritonexperts", "vllm_fp8moe_flashinfer_cutlass_flashinferexperts"),
    )
    kernels = online_fp8_kernels("vllm", hopper)
    assert kernels == {"fp8": "fp8_block|triton", "fp8_static": "fp8"}
    online = moe_type_rows(hopper, "fp8", kernels)
    assert list(online["kernel_source"]) == ["vllm_fp8moe_triton_tritonexperts"]
    assert list(moe_type_rows(hopper, "fp8_static", kernels)["moe_dtype"]) == ["fp8"]
    # Blackwell's block rows are FlashInfer's too; older tables time per-tensor on Triton;
    # other engines choose otherwise.
    blackwell = table("vllm_modeloptfp8moe_flashinfer_trtllm", ("vllm_fp8moe_flashinfer_trtllm",))
    older = table("vllm_fused_moe", ("vllm_fused_moe",))
    assert online_fp8_kernels("vllm", blackwell) == online_fp8_kernels("vllm", older) == {}
    assert online_fp8_kernels("sglang", hopper) == {}


def test_fp8_experts_quantized_online_decode_no_slower_than_bf16_on_vllm_hopper() -> None:
    """Qwen3-30B-A3B's FP8 experts (W8A8, dynamic scales) had decoded at 1.9 times its bf16
    step on vLLM's H200 profile (8.33 against 4.44 ms), priced by ModelOpt's static-scale
    FlashInfer rows; a static-scale checkpoint still is."""
    steps = {}
    for name, settings in (("bf16", {}), ("fp8", {"w_format": "fp"}),
                           ("fp8_static", {"w_format": "fp", "a_scale": "static"})):  # fmt: skip
        fp8 = {"w_bits": 8, "a_bits": 8} if settings else {}
        result = rooflens.analyze(
            "Qwen/Qwen3-30B-A3B", "h200-sxm", engine="vllm", prompt_len=1024, **fp8, **settings
        )
        steps[name] = float(result.steps["decode"].step_time())
    assert steps["fp8"] <= steps["bf16"] < steps["fp8_static"]


def test_llama_4_scouts_layer_on_tensorrt_llm_h100_is_priced_near_the_h200s() -> None:
    """The shipped profiles, refitted without that series: Scout's expert GEMMs at TP 4 and
    batch 8 took 198 us a layer on the H100 (20 % of their bound) against 37 us on the H200."""
    times = {}
    for device in ("h100-sxm", "h200-sxm"):
        result = rooflens.analyze(
            "meta-llama/Llama-4-Scout-17B-16E", device, engine="trtllm", tp=4, batch=8
        )
        ops = result.operators()
        row = ops[(ops.stage == "decode") & (ops.name == "expert_gate_proj")].iloc[0]
        times[device] = float(row.time)
    assert times["h100-sxm"] < 1.6 * times["h200-sxm"]


@pytest.mark.parametrize(("source", "kernels", "moved"), [("static_scaled_fp8_quant", 1, 3),
                                                         ("sglang", 4, 13)])  # fmt: skip
def test_element_wise_rows_are_read_as_the_kernels_they_time(source, kernels, moved) -> None:
    """vLLM's scale_matrix rows time one quantize kernel; SGLang's collector times a PyTorch
    expression of four (divide, clamp, cast, copy: 13 bytes per element): the fitted fixed
    time is per kernel, so SGLang's element-wise operators are not priced at four launches."""
    from rooflens.calibration.aiconfigurator import fit_curves, predict, vector_samples

    m, k = np.meshgrid(2.0 ** np.arange(0, 15), np.array([64.0, 1024.0, 8192.0]))
    m, k = m.ravel(), k.ravel()
    seconds = kernels * FIXED + moved * m * k / (MEMORY_FRACTION * H100.memory_bandwidth)
    table = pd.DataFrame({"m": m, "k": k, "latency": seconds * 1e3, "kernel_source": source})
    (samples,) = vector_samples(table)
    assert samples.kernels == kernels
    assert samples.memory[0] == moved * m[0] * k[0]
    curves = fit_curves(samples, H100)
    assert curves.fixed == pytest.approx(FIXED, rel=0.02)
    assert np.median(np.abs(predict(samples, H100, curves) / seconds - 1)) < 0.01


def _shaped_law(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """A synthetic engine whose memory-bound GEMMs depend on shape, not size alone: 0.8 of the
    bandwidth with more outputs than inputs (k < n), 0.4 with more inputs (k > n), 0.6
    square; compute-bound ones 0.5 of the peak whatever the shape. In ms."""
    cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
        Step(m, np.ones_like(m), np.zeros_like(m)), Precision(Quantization())
    )
    memory = cost.load_weight + cost.load_act + cost.store_act
    fraction = 0.8 if k < n else 0.4 if k > n else 0.6
    t = FIXED + np.maximum(
        cost.ops / (COMPUTE_FRACTION * H100.peak_ops["bf16"]),
        memory / (fraction * H100.memory_bandwidth),
    )
    return t * 1e3


def test_gemm_shape_grids_recover_a_law_in_k_over_n(tmp_path) -> None:
    """Same bytes, different shapes: a size curve alone takes their median; the grids give
    each shape its own fraction back."""
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    m = np.array([1, 2, 4, 8, 16, 32, 4096, 16384], dtype=float)
    shapes = ((1, 4), (4, 1), (2, 2), (1, 2), (2, 1))
    # And a tiny square GEMM, whose time is nearly all the fixed time the fit takes out.
    sizes = [(2048 * a, 2048 * b) for a, b in shapes] + [(64, 64)]
    rows = [
        {"gemm_dtype": "bfloat16", "m": mi, "n": n, "k": k, "latency": t}
        for n, k in sizes
        for mi, t in zip(m, _shaped_law(m, n, k), strict=True)
    ]
    pd.DataFrame(rows).to_csv(gemm / "gemm_perf.csv", index=False)
    (gemm / "collection_meta.yaml").write_text("provenance: collected\n")
    fit = fit_engine(tmp_path, "toy", "vllm", H100, package_version="9.9")
    matmul = fit.profile.classes["matmul"]
    assert matmul.memory_grid is not None and matmul.compute_grid is not None
    # One decode token through the 2048 x 8192 (k / n = 4) and 8192 x 2048 (1/4) GEMMs: the
    # same bytes, at the law's 0.4 and 0.8 of the bandwidth.
    one = Step(np.ones(1), np.ones(1), np.zeros(1))
    for (n, k), fraction in (((2048, 8192), 0.4), ((8192, 2048), 0.8)):
        cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
            one, Precision(Quantization())
        )
        moved = cost.load_weight + cost.load_act + cost.store_act
        assert matmul.memory_grid(moved, np.array([k / n])) == pytest.approx(fraction, rel=0.01)
        # The size curve alone gives both shapes one fraction, at neither.
        assert abs(matmul.memory(moved) - fraction) > 0.05


def test_a_gemm_is_priced_by_its_shape_grid(tables) -> None:
    """Pricing reads the grid at the GEMM kernel's size and k / n: a fused Q/K/V kernel at its
    input width over the three outputs summed; an operator that is not a GEMM keeps the size
    curve."""
    from rooflens.core.efficiency import ShapeGrid

    profile = fit_engine(tables, "toy", "vllm", H100).profile
    data = profile.model_dump()
    # 0.3 of the bandwidth at k / n = 1/10, 0.1 at 10 (linear in log10 between), any size.
    grid = ShapeGrid(log10_sizes=(6.0,), log10_ratios=(-1.0, 1.0), fractions=((0.3, 0.1),))
    data["classes"]["matmul"]["memory_grid"] = grid.model_dump()
    shaped = EngineProfile.model_validate(data)
    model = load_model("meta-llama/Llama-3.1-8B")
    graph = build_graph(model, AnalysisOptions(fusion=("qkv",)), H100)
    step = Step(np.array([1.0]), np.array([1.0]), np.array([0.0]))
    plain = price_step(graph, H100, Quantization(), step, profile)
    costs = price_step(graph, H100, Quantization(), step, shaped)
    names = [op.name for op in graph.operators]
    # down_proj: 14336 inputs, 4096 outputs; q/k/v: 4096 inputs, 4096 + 2 x 1024 outputs.
    for name, ratio in (("down_proj", 14336 / 4096), ("k_proj", 4096 / 6144)):
        fraction = 0.2 - 0.1 * np.log10(ratio)
        row = names.index(name)
        assert costs.memory_rates[row] == pytest.approx(H100.memory_bandwidth * fraction)
    norm = names.index("attn_norm")
    assert costs.memory_rates[norm] == pytest.approx(plain.memory_rates[norm])


def _streamed_law(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """A synthetic engine whose memory-bound GEMMs run at 0.8 of the bandwidth where their
    weights are most of the bytes and at 0.2 where the activations are (in ms)."""
    cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
        Step(m, np.ones_like(m), np.zeros_like(m)), Precision(Quantization())
    )
    memory = cost.load_weight + cost.load_act + cost.store_act
    fraction = np.where(cost.load_weight >= memory / 2, 0.8, 0.2)
    return 1e3 * (FIXED + memory / (fraction * H100.memory_bandwidth))


def test_weight_and_activation_bound_gemms_get_a_memory_grid_each(tmp_path) -> None:
    """A decode GEMM (8192 outputs, 2048 inputs, a few tokens) and a tall, narrow one (512 x
    128 at 26-33k tokens) move 33-42 MB each at k / n = 1/4: one grid cell. Each kind
    gets its own fraction back, 0.8 and 0.2, where one grid of both gave a blend; pricing
    reads the grid of the bytes that dominate (WEIGHT_DOMINATED)."""
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    kinds = {
        (8192, 2048): np.arange(1.0, 13.0),
        (512, 128): np.arange(25600.0, 33000.0, 768.0),
        # Tiny GEMMs, nearly all fixed time, from which the fit takes that time out.
        (64, 64): np.arange(1.0, 13.0),
    }
    rows = [
        {"gemm_dtype": "bfloat16", "m": mi, "n": n, "k": k, "latency": t}
        for (n, k), m in kinds.items()
        for mi, t in zip(m, _streamed_law(m, n, k), strict=True)
    ]
    pd.DataFrame(rows).to_csv(gemm / "gemm_perf.csv", index=False)
    (gemm / "collection_meta.yaml").write_text("provenance: collected\n")
    matmul = fit_engine(tmp_path, "toy", "vllm", H100).profile.classes["matmul"]
    assert matmul.memory_grid is not None and matmul.activation_grid is not None
    moved = np.array([3.4e7])
    assert matmul.memory_grid(moved, np.array([0.25])) == pytest.approx(0.8, rel=0.01)
    assert matmul.activation_grid(moved, np.array([0.25])) == pytest.approx(0.2, rel=0.01)
    curves = {"compute": matmul.compute, "memory": matmul.memory}
    rates = EngineProfile.model_validate(
        {"device": "toy", "engine": "vllm", "engine_version": "1.0",
         "classes": {"matmul": matmul.model_dump(), "attention": curves, "vector": curves}}
    ).rates(
        "matmul", np.ones(2), np.full(2, 3.4e7), H100.peak_ops["bf16"], 1.0,
        compute_bound=np.zeros(2, dtype=bool), aspect=np.full(2, 0.25),
        weight_share=np.array([0.99, 0.01]),
    )[1]  # fmt: skip
    assert rates == pytest.approx([0.8, 0.2], rel=0.01)


def test_pricing_reads_the_weight_share_of_each_gemm_kernel(tables) -> None:
    """Llama-3.1-70B at TP 8: k_proj has 128 outputs per device, so over a 4,096-token prefill
    its activations are nearly all its bytes, and a decode token's q_proj is nearly all
    weights: each takes the memory grid of its kind."""
    from rooflens.core.efficiency import ShapeGrid

    profile = fit_engine(tables, "toy", "vllm", H100).profile
    data = profile.model_dump()
    data["classes"]["matmul"]["memory_grid"] = ShapeGrid(
        log10_sizes=(6.0,), log10_ratios=(0.0,), fractions=((0.7,),)
    ).model_dump()
    data["classes"]["matmul"]["activation_grid"] = ShapeGrid(
        log10_sizes=(6.0,), log10_ratios=(0.0,), fractions=((0.3,),)
    ).model_dump()
    split = EngineProfile.model_validate(data)
    model = load_model("meta-llama/Llama-3.1-70B")
    graph = build_graph(model, AnalysisOptions(parallelism=Parallelism(tp=8)), H100)
    names = [op.name for op in graph.operators]
    for tokens, name, fraction in ((4096.0, "k_proj", 0.3), (1.0, "q_proj", 0.7)):
        step = Step(np.array([tokens]), np.array([1.0]), np.array([0.0]))
        costs = price_step(graph, H100, Quantization(), step, split)
        row = names.index(name)
        assert costs.memory_rates[row][0] == pytest.approx(H100.memory_bandwidth * fraction)


def test_expert_gemms_are_priced_by_the_tokens_routed_to_each_expert(tables) -> None:
    """The moe grids read an expert GEMM's kernel at the step's tokens x top-k / experts (its
    OPs over one routed token's through every expert): at 4 and at 64 tokens the same GEMM
    takes the grid's fraction at 4 x 8 / 128 and 64 x 8 / 128 tokens per expert."""
    from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, ShapeGrid

    profile = fit_engine(tables, "toy", "vllm", H100).profile
    data = profile.model_dump()
    flat = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))
    # 0.2 of the bandwidth at 0.1 tokens per expert, 0.6 at 10 (linear in log10 between).
    grid = ShapeGrid(log10_sizes=(6.0,), log10_ratios=(-1.0, 1.0), fractions=((0.2, 0.6),))
    data["classes"]["moe"] = ClassEfficiency(
        compute=flat, memory=flat, memory_grid=grid
    ).model_dump()
    shaped = EngineProfile.model_validate(data)
    model = load_model("Qwen/Qwen3-30B-A3B")  # 128 experts, 8 per token
    graph = build_graph(model, AnalysisOptions(fusion=("qkv", "gate_up", "moe")), H100)
    names = [op.name for op in graph.operators]
    for tokens in (4.0, 64.0):
        step = Step(np.array([tokens]), np.array([1.0]), np.array([0.0]))
        costs = price_step(graph, H100, Quantization(), step, shaped)
        fraction = 0.4 + 0.2 * np.log10(tokens * 8 / 128)
        for name in ("expert_gate_proj", "expert_down_proj"):
            row = names.index(name)
            assert costs.memory_rates[row][0] == pytest.approx(H100.memory_bandwidth * fraction)
        # A dense GEMM keeps the matmul curves.
        q = names.index("q_proj")
        assert costs.memory_rates[q][0] == pytest.approx(
            price_step(graph, H100, Quantization(), step, profile).memory_rates[q][0]
        )


def test_integer_4bit_experts_take_their_own_curves_else_the_mxfp4_ones() -> None:
    """Kimi K2.5's INT4 experts (compressed-tensors WNA16, Marlin) price on moe:w4a16_int where
    an engine measured it (vLLM's int4_wo table), gpt-oss's MXFP4 experts on moe:w4a16; a
    profile without INT4 MoE rows gives INT4 experts the MXFP4 curves and says so."""
    from rooflens.api import resolve
    from rooflens.core.pricing import Placement

    picked = {}
    for model_id in ("moonshotai/Kimi-K2.5", "openai/gpt-oss-120b"):
        spec, device, options = resolve(model_id, get_device("h200-sxm"), {"tp": 8})
        graph = build_graph(spec, options, device)
        placement = Placement.of(graph, device, options.quantization)
        picked[model_id] = dict(zip(placement.names, placement.curve_dtypes, strict=True))
    assert picked["moonshotai/Kimi-K2.5"]["expert_gate_proj"] == "w4a16_int"
    assert picked["openai/gpt-oss-120b"]["expert_gate_proj"] == "w4a16"
    vllm = load_engine_profile("vllm", "h200-sxm")
    assert vllm.curves("moe", "w4a16_int") == vllm.dtype_classes["moe:w4a16_int"]
    trtllm = load_engine_profile("trtllm", "h200-sxm")
    assert "moe:w4a16_int" not in trtllm.dtype_classes
    assert trtllm.curves("moe", "w4a16_int") == trtllm.dtype_classes["moe:w4a16"]
    assert "INT4" in trtllm.fallbacks["moe:w4a16_int"]


def test_mxfp4_expert_tables_leave_out_marlin_rows_where_others_are_measured() -> None:
    """vLLM times gpt-oss's MXFP4 kernels and MXFP4 on Marlin in one type; the fit keeps the
    former for MXFP4 experts, and Marlin's alone where a table has nothing else. Marlin's
    rows are also the w4a16_marlin type's, for engines told to run them, at the layer shapes
    the other kernels are timed at: Marlin rows of another layer (compressed-tensors MXFP4 of
    896 experts, top 16, as the H100-H200-B200 tables hold) are left out of it where such
    rows exist, and are its rows where none do, those without expert parallelism only."""
    from rooflens.calibration.aiconfigurator import marlin_elsewhere, moe_samples

    both = pd.DataFrame(
        {
            "distribution": "balanced", "moe_dtype": "w4a16_mxfp4", "hidden_size": 2880,
            "inter_size": 2880, "topk": 4, "num_experts": 128, "moe_tp_size": 1,
            "moe_ep_size": 1, "num_tokens": [1, 8, 1, 8], "latency": [0.03, 0.12, 0.05, 0.2],
            "kernel_source": ["vllm_gptossmxfp4moe_flashinfer_trtllm"] * 2
            + ["vllm_gptossmxfp4moe_marlin_marlinexperts"] * 2,
        }
    )  # fmt: skip
    other_layer = both.iloc[2:].assign(
        hidden_size=3584, inter_size=3072, topk=16, num_experts=896, latency=[0.4, 0.9],
        kernel_source="vllm_compressedtensorsw4a4mxfp4moe_marlin_marlinexperts",
    )  # fmt: skip
    table = pd.concat([both, other_layer], ignore_index=True)
    kept, marlin = moe_samples(table)
    assert (kept.dtype, marlin.dtype, marlin.peak_dtype) == ("w4a16", "w4a16_marlin", "bf16")
    assert np.allclose(kept.time, np.array([0.03, 0.12]) * 1e-3 / 3)
    assert np.allclose(marlin.time, np.array([0.05, 0.2]) * 1e-3 / 3)
    assert not marlin_elsewhere(table)
    # Only another layer's Marlin rows beside the native ones: the Marlin type is theirs,
    # less the expert-parallel rows (an EP 8 row at 3 ms here).
    expert_parallel = other_layer.iloc[:1].assign(moe_ep_size=8, latency=3.0)
    elsewhere = pd.concat([both.iloc[:2], other_layer, expert_parallel], ignore_index=True)
    alone, other = moe_samples(elsewhere)
    assert alone.dtype == "w4a16" and np.allclose(alone.time, kept.time)
    assert other.dtype == "w4a16_marlin"
    assert np.allclose(other.time, np.array([0.4, 0.9]) * 1e-3 / 3)
    assert marlin_elsewhere(elsewhere)
    # Marlin's rows alone: they are both types, whatever layer they time.
    marlin_only, same = moe_samples(table[table["kernel_source"].str.contains("marlin")])
    assert np.allclose(marlin_only.time, np.array([0.05, 0.2, 0.4, 0.9]) * 1e-3 / 3)
    assert np.array_equal(same.time, marlin_only.time)
    # A table naming no kernel says nothing of Marlin's.
    (unnamed,) = moe_samples(both.drop(columns="kernel_source").iloc[:2])
    assert unnamed.dtype == "w4a16"


def test_nvfp4_expert_tables_take_the_low_latency_kernel_at_few_tokens() -> None:
    """TensorRT-LLM's NVFP4 tables time the CUTLASS MoE and its low-latency mode for one
    cell: up to 128 tokens the low-latency rows stand for it, beyond the others; a cell the
    low-latency kernel did not time keeps the others' rows."""
    from rooflens.calibration.aiconfigurator import moe_samples

    tokens = [4, 4, 128, 128, 256, 256, 8]
    rows = pd.DataFrame(
        {
            "distribution": "balanced", "moe_dtype": "nvfp4", "hidden_size": 7168,
            "inter_size": 2048, "topk": 8, "num_experts": 256, "moe_tp_size": 4,
            "moe_ep_size": 1, "num_tokens": tokens,
            "latency": [0.041, 0.159, 0.3, 0.9, 1.1, 1.5, 0.2],
            "kernel_source": ["moe_torch_flow_min_latency", "moe_torch_flow_cutlass"] * 3
            + ["moe_torch_flow_cutlass"],
        }
    )  # fmt: skip
    (fp4,) = moe_samples(rows)
    assert fp4.dtype == "fp4"
    assert list(fp4.sizes[:, 0]) == [4, 128, 256, 8]
    assert np.allclose(fp4.time, np.array([0.041, 0.3, 1.5, 0.2]) * 1e-3 / 3)


def test_attention_shapes_timed_by_several_kernels_take_the_engines_own() -> None:
    """SGLang's Blackwell tables time TensorRT-LLM's, FlashInfer's and Triton's attention at
    some shapes: SGLang's own (TensorRT-LLM's on Blackwell) stands for a shape it timed; a
    shape only another kernel timed keeps that kernel's row; engines without a choice listed
    keep every row."""
    from rooflens.calibration.aiconfigurator import ATTENTION_KERNELS, _attention_samples

    rows = pd.DataFrame(
        {
            "batch_size": [1, 1, 1, 8], "isl": [1024, 1024, 1024, 1024], "step": np.nan,
            "num_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "window_size": 0,
            "attn_dtype": "bfloat16", "kv_cache_dtype": "bfloat16",
            "kernel_source": ["trtllm_mha", "triton", "flashinfer", "triton"],
            "latency": [0.1, 0.34, 0.14, 0.9],
        }
    )  # fmt: skip
    (own,) = _attention_samples(rows, False, ATTENTION_KERNELS["sglang"])
    assert np.allclose(own.time, np.array([0.1, 0.9]) * 1e-3)
    assert list(own.sizes[:, 0]) == [1, 8]
    (pooled,) = _attention_samples(rows, False)
    assert len(pooled.time) == 4


def test_provenance_names_the_kernel_a_table_of_several_is_read_as() -> None:
    from rooflens.calibration.aiconfigurator import ATTENTION_KERNELS, kernel_choice

    moe = pd.DataFrame({"kernel_source": ["moe_torch_flow_cutlass", "moe_torch_flow_min_latency"]})
    assert kernel_choice("moe", [moe], ()) == (
        "moe_torch_flow_min_latency's rows up to 128 tokens where it timed a shape, the other "
        "kernels' beyond"
    )
    attention = pd.DataFrame({"kernel_source": ["trtllm_mha", "triton", "flashinfer"]})
    assert kernel_choice("attention", [attention], ATTENTION_KERNELS["sglang"]) == (
        "trtllm_mha's rows where it timed a shape; flashinfer, triton elsewhere"
    )
    # One kernel, or no choice for the engine: nothing to say.
    assert kernel_choice("attention", [attention.iloc[:1]], ATTENTION_KERNELS["sglang"]) is None
    assert kernel_choice("attention", [attention], ()) is None
    assert (
        load_engine_profile("trtllm", "b200")
        .provenance["kernels.moe"]
        .startswith("moe_torch_flow_min_latency")
    )


def test_a_profile_names_what_prices_the_types_and_classes_it_has_no_curves_for() -> None:
    """A type the operator tables lack is reported with the profile's own words where it has
    them, else with the curves `curves` reads instead; a class's own 16- and 32-bit types and
    measured types are not."""
    vllm = load_engine_profile("vllm", "h100-sxm")
    assert vllm.fallback("matmul", "bf16") is None
    assert vllm.fallback("vector", "fp32") is None
    assert vllm.fallback("matmul", "fp8") is None  # measured
    what, how = vllm.fallback("moe", "w4a16_marlin")
    assert what == "moe:w4a16_marlin" and "vllm-project/vllm#27523" in how
    # INT4 weights fall back to the 4-bit type, which vLLM's GEMM tables lack too.
    what, how = vllm.fallback("matmul", "w4a16_int")
    assert what == "matmul:w4a16_int"
    assert how.startswith("not measured, nor w4a16: no weight-only 4-bit kernel measured")
    bare = vllm.model_copy(update={"fallbacks": {}})
    assert bare.fallback("matmul", "fp8_static") is None  # measured on vLLM's H100
    assert bare.fallback("matmul", "int8") == ("matmul:int8", "not measured: the bf16 curves")
    blocks = bare.model_copy(
        update={
            "dtype_classes": {
                k: v for k, v in vllm.dtype_classes.items() if k != "matmul:fp8_block"
            }
        }
    )
    assert blocks.fallback("matmul", "fp8_block") == (
        "matmul:fp8_block",
        "not measured: the fp8 curves",
    )
    trtllm = load_engine_profile("trtllm", "h100-sxm")
    assert trtllm.fallback("kda")[0] == "kda"  # a class its tables lack


def test_an_analysis_says_which_fallback_prices_its_operators() -> None:
    """gpt-oss's experts told onto Marlin on vLLM's H100 profile: the analysis, its JSON and
    the CLI name the experts and the fallback that prices them; on the native kernel, and
    for the roofline bound, there is none."""
    import rooflens

    marlin = rooflens.analyze(
        "openai/gpt-oss-120b", "h100-sxm", engine="vllm", tp=8, batch=64, w4_kernel="marlin"
    )
    # Beside the line a vLLM prefill past its CUDA graphs adds (its measured launch time);
    (line, graphs) = marlin.fallbacks
    # gpt-oss captures up to 1,024 tokens (its model config).
    assert graphs.startswith("prefill iterations of more than 1,024 tokens run without CUDA graphs")
    assert line.startswith(
        "expert_gate_proj, expert_up_proj, expert_down_proj (moe:w4a16_marlin): "
    )
    assert marlin.to_dict()["fallbacks"] == [line, graphs]
    native = rooflens.analyze("openai/gpt-oss-120b", "h100-sxm", engine="vllm", tp=8, batch=64)
    assert native.fallbacks == [graphs]
    assert rooflens.analyze("openai/gpt-oss-120b", "h100-sxm", tp=8).fallbacks == []
    out = CliRunner().invoke(
        app,
        ["analyze", "openai/gpt-oss-120b", "-H", "h100-sxm", "--engine", "vllm", "--tp", "8",
         "--w4-kernel", "marlin", "--stage", "decode"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "fallback: expert_gate_proj, expert_up_proj, expert_down_proj (moe:w4a16_marlin)" in (
        out.output.replace("\n", " ")
    )
    # A simulation priced by that profile says so too, in its table and its JSON.
    args = ["simulate", "openai/gpt-oss-120b", "-H", "h100-sxm", "--engine", "vllm", "--tp",
            "8", "--w4-kernel", "marlin", "--concurrency", "2", "--requests", "4",
            "--prompt-len", "256", "--gen-len", "8"]  # fmt: skip
    served = CliRunner().invoke(app, [*args, "-f", "json"])
    assert served.exit_code == 0, served.output
    assert json.loads(served.output)["fallbacks"] == [line]
    table = CliRunner().invoke(app, args)
    assert "(moe:w4a16_marlin)" in table.output.replace("\n", " ")


def _gpt_oss_on(device, kernel: str):
    """gpt-oss-120b's graph and precision with its MXFP4 experts on `kernel` (w4_kernel), and
    the data type whose curves price each operator."""
    from rooflens.api import resolve
    from rooflens.core.pricing import Placement

    # A kernel setting needs a profile to price (the roofline bound refuses it).
    profile = load_engine_profile("vllm", device.name)
    spec, _, options = resolve(
        "openai/gpt-oss-120b", device, {"w4_kernel": kernel, "calibration": profile}
    )
    graph = build_graph(spec, options, device)
    quant = options.quantization
    placement = Placement.of(graph, device, quant)
    return graph, quant, dict(zip(placement.names, placement.curve_dtypes, strict=True))


def test_mxfp4_experts_told_onto_marlin_take_its_compute_rate_and_the_native_memory_rate() -> None:
    """gpt-oss's MXFP4 experts on vLLM with VLLM_MXFP4_USE_MARLIN=1 (w4_kernel marlin). The
    shipped H200 table times Marlin only on another layer (896 experts, top 16), so an 8k-token
    prefill's expert GEMMs (compute-bound) take Marlin's compute fractions from that layer's
    tensor-parallel rows, under a quarter of the BF16 peak where gpt-oss's Triton kernel
    reaches 0.57 at most, and a decode step's (memory-bound) the native kernel's fractions
    of gpt-oss's own layer, an upper bound (vLLM measured Marlin the faster on gpt-oss-120b's
    decode); the profile and the analysis say so, and the checkpoint's precision is
    unchanged."""
    import rooflens

    device = get_device("h200-sxm")
    vllm = load_engine_profile("vllm", "h200-sxm")
    marlin_curves = vllm.dtype_classes["moe:w4a16_marlin"]
    assert marlin_curves.memory == vllm.dtype_classes["moe:w4a16"].memory
    assert max(marlin_curves.compute.fractions) < 0.25
    assert "27523" in vllm.fallbacks["moe:w4a16_marlin"]
    prefill = Step(np.array([1.0]), np.array([8192.0]), np.array([0.0]))
    decode = Step(np.array([64.0]), np.array([1.0]), np.array([2048.0]))
    costs = {}
    for kernel in ("native", "marlin"):
        graph, quant, picked = _gpt_oss_on(device, kernel)
        assert (quant.w_bits, quant.w_format, quant.w4_kernel) == (4, "mxfp4", kernel)
        assert picked["expert_gate_proj"] == ("w4a16_marlin" if kernel == "marlin" else "w4a16")
        assert picked["q_proj"] == "bf16"  # attention stays unquantized
        row = [op.name for op in graph.operators].index("expert_gate_proj")
        for name, step in (("prefill", prefill), ("decode", decode)):
            priced = price_step(graph, device, quant, step, vllm)
            costs[kernel, name] = (
                priced.time[row][0],
                priced.compute_rates[row][0],
                priced.memory_rates[row][0],
            )
    # Decode: the same memory rate (gpt-oss's layer, native kernel), so the same time.
    assert costs["marlin", "decode"][2] == costs["native", "decode"][2]
    assert costs["marlin", "decode"][0] == pytest.approx(costs["native", "decode"][0])
    # Prefill: Marlin's compute rate, a fraction of the BF16 peak in its fitted range, and
    # more than twice the native kernel's time.
    marlin_rate = costs["marlin", "prefill"][1] / device.peak_ops["bf16"]
    assert 0.15 < marlin_rate < 0.25
    assert costs["marlin", "prefill"][0] > 2 * costs["native", "prefill"][0]
    ops = rooflens.analyze(
        "openai/gpt-oss-120b", "h200-sxm", engine="vllm", batch=64, w4_kernel="marlin"
    ).operators()
    (how,) = set(ops.loc[ops["name"] == "expert_gate_proj", "priced_by"])
    assert how == ("moe:w4a16_marlin (fallback), memory-bound as moe layer w4a16/2880x2880:e128:k4")


def test_mxfp4_experts_with_mxfp8_activations_are_priced_on_that_kernels_rows() -> None:
    """gpt-oss's MXFP4 experts on vLLM with VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 (w4_kernel
    mxfp8) run FlashInfer's TensorRT-LLM-gen kernel with MXFP8 activations. vLLM's Blackwell
    tables time it at other layers only; its B200 profile fits the type on SGLang's rows of
    that FlashInfer kernel at gpt-oss's layers and says so. On the B200 tables those rows take
    less time than vLLM's own MXFP4 kernel's at gpt-oss-120b's layer (a decode step's 64
    tokens: 0.29 ms against 0.38 ms), so the experts cost less; dense layers keep bf16. A
    profile without the type (vLLM's H100) prices it as the engine's own MXFP4 kernel, saying
    so."""
    import rooflens

    device = get_device("b200")
    vllm = load_engine_profile("vllm", "b200")
    assert "moe:w4a8_mxfp8" in vllm.dtype_classes
    assert vllm.provenance["db.moe:w4a8_mxfp8"].startswith(
        "sglang 0.5.14 (sglang_flashinfer_trtllm_moe)"
    )
    assert "MOE_STAND_INS" in vllm.fallbacks["moe:w4a8_mxfp8"]
    decode = Step(np.array([64.0]), np.array([1.0]), np.array([2048.0]))
    times = {}
    for kernel in ("native", "mxfp8"):
        graph, quant, picked = _gpt_oss_on(device, kernel)
        assert picked["expert_gate_proj"] == ("w4a8_mxfp8" if kernel == "mxfp8" else "w4a16")
        assert picked["q_proj"] == "bf16"
        row = [op.name for op in graph.operators].index("expert_gate_proj")
        times[kernel] = price_step(graph, device, quant, decode, vllm).time[row][0]
    assert times["mxfp8"] < 0.9 * times["native"]
    ops = rooflens.analyze(
        "openai/gpt-oss-120b", "b200", engine="vllm", batch=64, w4_kernel="mxfp8"
    ).operators()
    (how,) = set(ops.loc[ops["name"] == "expert_gate_proj", "priced_by"])
    assert how == "moe layer w4a8_mxfp8/2880x2880:e128:k4 (fallback)"
    hopper = load_engine_profile("vllm", "h100-sxm")
    assert hopper.fallback("moe", "w4a8_mxfp8") == (
        "moe:w4a8_mxfp8",
        "not measured: the w4a16 curves",
    )


def test_block_fp8_experts_on_tensorrt_llm_gen_are_priced_on_that_kernels_rows() -> None:
    """DeepSeek-R1's FP8 block-scaled experts on TensorRT-LLM told `moe_config.backend:
    TRTLLM` (fp8_moe_kernel trtllm_gen) run TensorRT-LLM-gen's kernels, which its B200 tables
    do not time (they time DeepGEMM); its B200 profile fits the type on SGLang's rows of
    FlashInfer's call of those kernels and says so. On those tables the kernel takes a third
    of DeepGEMM's time at 8-32 tokens under MoE TP 8 (0.057 against 0.178 ms at 8), so a
    16-sequence decode step's expert GEMMs cost under half; the other FP8 GEMMs keep their
    block-scaled curves. TensorRT-LLM's H200 profile has no such rows: the fp8_block curves
    price it, saying so."""
    b200 = load_engine_profile("trtllm", "b200")
    assert b200.provenance["db.moe:fp8_block_trtllm_gen"].startswith(
        "sglang 0.5.14 (sglang_flashinfer_trtllm_moe)"
    )
    assert "MOE_STAND_INS" in b200.fallbacks["moe:fp8_block_trtllm_gen"]
    times = {}
    for kernel in ("native", "trtllm_gen"):
        ops = rooflens.analyze(
            "deepseek-ai/DeepSeek-R1", "b200", engine="trtllm", tp=8, batch=16,
            prompt_len=1024, fp8_moe_kernel=kernel,
        ).operators()  # fmt: skip
        decode = ops[ops["stage"] == "decode"].set_index("name")
        times[kernel] = decode.loc["expert_gate_proj", "time"]
        assert decode.loc["q_a_proj", "priced_by"] == "matmul:fp8_block"
        layer = "fp8_block_trtllm_gen" if kernel == "trtllm_gen" else "fp8_block"
        assert decode.loc["expert_gate_proj", "priced_by"].startswith(
            f"moe layer {layer}/7168x256:e256:k8"
        )
    assert times["trtllm_gen"] < 0.5 * times["native"]
    hopper = load_engine_profile("trtllm", "h200-sxm")
    assert hopper.fallback("moe", "fp8_block_trtllm_gen") == (
        "moe:fp8_block_trtllm_gen",
        "not measured: the fp8_block curves",
    )


def _scan_rows(scan, width: int, decode: bool, fraction: float) -> list[dict]:
    """Rows of a recurrent-scan table (gdn_perf, kda_perf) of a synthetic engine whose scan
    runs at `fraction` of the bandwidth: `scan` (a model's StateScan) at several batches,
    and the convolution rows such tables also hold, which the fit must leave out."""
    rows = []
    for b in (1, 2, 4, 8, 16, 32, 64):
        for s in (1,) if decode else (256, 1024, 4096):
            new = 1.0 if decode else float(s)
            cost = scan.cost(Step(np.array([b]), np.array([new]), np.array([1.0 * decode])),
                             Precision(Quantization()))  # fmt: skip
            moved = float(memory_access(cost.__dict__)[0])
            common = {
                "phase": "generation" if decode else "context", "batch_size": b, "seq_len": s,
                "num_v_heads": scan.num_heads, "head_v_dim": scan.head_dim,
                "num_k_heads": scan.num_key_heads, "head_k_dim": scan.key_dim, "d_model": width,
            }  # fmt: skip
            seconds = FIXED + moved / (fraction * H100.memory_bandwidth)
            rows.append(common | {"kernel_source": "scan", "latency": seconds * 1e3})
            rows.append(common | {"kernel_source": "causal_conv1d_fn", "latency": 1.0})
    return rows


@pytest.mark.parametrize(
    ("folder", "table", "cls", "model_id"),
    [
        ("linear_attention", "gdn_perf", "gdn", "Qwen/Qwen3-Next-80B-A3B-Instruct"),
        ("kda", "kda_perf", "kda", "moonshotai/Kimi-Linear-48B-A3B-Instruct"),
    ],
)
def test_recurrent_scans_take_their_own_curves_by_ops_per_byte(
    tables, folder, table, cls, model_id
) -> None:
    """A scan table whose chunked prefill runs at 0.1 of the bandwidth and whose recurrent
    decode runs at 0.6: the class's grid, read at the scan's OPs per byte, gives the model's
    scan (at TP 2) each phase's fraction back; held out, the law within 2 %. TensorRT-LLM's
    tables carry a 16-bit state, as these models' scans do (SCAN_STATE_BITS)."""
    from rooflens.core.mixers import StateScan

    model = load_model(model_id)
    graph = build_graph(model, AnalysisOptions(parallelism=Parallelism(tp=2)), H100)
    row = [op.name for op in graph.operators].index("mixer_scan")
    scan = graph.operators[row]
    assert isinstance(scan, StateScan)
    gemm = tables / "toy" / "gemm"
    shutil.copytree(gemm / "vllm", gemm / "trtllm")  # every fit needs GEMM tables
    path = tables / "toy" / folder / "trtllm" / "1.0"
    path.mkdir(parents=True)
    rows = _scan_rows(scan, model.hidden_size, False, 0.1)
    rows += _scan_rows(scan, model.hidden_size, True, 0.6)
    pd.DataFrame(rows).to_csv(path / f"{table}.csv", index=False)
    fit = fit_engine(tables, "toy", "trtllm", H100)
    assert fit.held_out[f"{cls}:bf16"]["median"] < 0.02
    # (Kernels of a few MB are mostly the fitted fixed time: their fractions are not the
    # law's, as in the GEMM fit; these are 10-70 MB.)
    for batch, new, past, fraction in ((4.0, 1024.0, 0.0, 0.1), (64.0, 1.0, 500.0, 0.6)):
        step = Step(np.array([batch]), np.array([new]), np.array([past]))
        costs = price_step(graph, H100, Quantization(), step, fit.profile)
        assert costs.memory_rates[row][0] == pytest.approx(
            fraction * H100.memory_bandwidth, rel=0.05
        )
    # Without the table the scan keeps the attention curves (here the roofline).
    (path / f"{table}.csv").unlink()
    plain = fit_engine(tables, "toy", "trtllm", H100).profile
    assert cls not in plain.classes and "attention" in plain.fallbacks[cls]


def test_a_scan_reads_its_grids_as_if_its_state_were_as_wide_as_the_tables(tables) -> None:
    """An FP32-state scan table (SGLang's: SCAN_STATE_BITS) whose chunked prefill runs at 0.1
    of the bandwidth and whose recurrent decode at 0.6. Qwen3-Next's config declares no state
    type, so its state is 16-bit: read per byte, its decode steps lie at twice the tables'
    OPs per byte, where the grid leans toward the prefills' 0.1 (priced so, it took 3.5 times
    an FP32 state's time on SGLang's B200 profile). The profile keeps the tables' width
    (ClassEfficiency.state_bits) and the scan is read as if its state were that wide: 0.6."""
    import dataclasses

    from rooflens.core.mixers import StateScan

    model = load_model("Qwen/Qwen3-Next-80B-A3B-Instruct")
    graph = build_graph(model, AnalysisOptions(parallelism=Parallelism(tp=2)), H100)
    row = [op.name for op in graph.operators].index("mixer_scan")
    scan = graph.operators[row]
    assert isinstance(scan, StateScan) and scan.state_bits is None
    wide = dataclasses.replace(scan, state_bits=32)
    gemm = tables / "toy" / "gemm"
    shutil.copytree(gemm / "vllm", gemm / "sglang")
    path = tables / "toy" / "linear_attention" / "sglang" / "1.0"
    path.mkdir(parents=True)
    rows = _scan_rows(wide, model.hidden_size, False, 0.1)
    rows += _scan_rows(wide, model.hidden_size, True, 0.6)
    pd.DataFrame(rows).to_csv(path / "gdn_perf.csv", index=False)
    profile = fit_engine(tables, "toy", "sglang", H100).profile
    assert profile.curves("gdn", "bf16").state_bits == 32
    step = Step(np.array([64.0]), np.array([1.0]), np.array([500.0]))
    costs = price_step(graph, H100, Quantization(), step, profile)
    assert costs.memory_rates[row][0] == pytest.approx(0.6 * H100.memory_bandwidth, rel=0.05)
    # Without the width the grid is read per byte, as before: off the decode steps' fraction.
    plain = profile.model_copy(
        update={
            "classes": profile.classes
            | {"gdn": profile.classes["gdn"].model_copy(update={"state_bits": None})}
        }
    )
    costs = price_step(graph, H100, Quantization(), step, plain)
    assert costs.memory_rates[row][0] < 0.95 * 0.6 * H100.memory_bandwidth


def test_scan_rows_are_priced_with_the_state_their_engine_carried() -> None:
    """SGLang's and vLLM's scan tables carry an FP32 state: a decode row of b sequences moves
    b x heads x key x value x 4 bytes of state in and out, twice what a 16-bit one would.
    Qwen3.5-397B-A17B at TP 4 (16 value heads, 4 key heads of 128) decoding 32 sequences is
    priced, on SGLang's B200 profile, at the 13.36 us its table measured for that shape (the
    16-bit accounting had priced it at 23.4 us)."""
    from rooflens.calibration.aiconfigurator import SCAN_STATE_BITS, scan_samples

    assert SCAN_STATE_BITS == {"sglang": 32, "vllm": 32, "trtllm": 16}
    shape = {
        "num_v_heads": 16, "head_v_dim": 128, "num_k_heads": 4, "head_k_dim": 128,
        "d_model": 4096, "kernel_source": "scan", "phase": "generation", "seq_len": 1,
        "batch_size": [1, 32], "latency": [0.004345, 0.013359],
    }  # fmt: skip
    rows = pd.DataFrame(shape)
    (wide,), (narrow,) = (scan_samples(rows, "gated_deltanet", bits) for bits in (32, 16))
    state_bytes = rows["batch_size"].to_numpy() * 16 * 128 * 128 * 2  # in and out
    assert wide.memory - narrow.memory == pytest.approx(state_bytes * (4 - 2))
    analysis = rooflens.analyze(
        "Qwen/Qwen3.5-397B-A17B", "b200", engine="sglang", tp=4, batch=32, prompt_len=1024,
        gen_len=2,
    )  # fmt: skip
    decode = analysis.steps["decode"]
    scan = float(decode.time[list(decode.names).index("mixer_scan")])
    assert scan == pytest.approx(13.359e-6, rel=0.02)
    # An FP8 KV cache leaves the FP32 state's scan where it was, on its own curves, with no
    # fallback (the cache type had named the curves: gdn:fp8, "not measured").
    fp8_cache = rooflens.analyze(
        "Qwen/Qwen3.5-397B-A17B", "b200", engine="sglang", tp=4, batch=32, prompt_len=1024,
        gen_len=2, kv_bits=8,
    )  # fmt: skip
    decode = fp8_cache.steps["decode"]
    row = list(decode.names).index("mixer_scan")
    assert float(decode.time[row]) == pytest.approx(scan)
    assert decode.priced_by[row] == "gdn"
    assert not [line for line in fp8_cache.fallbacks if "mixer_scan" in line]


def test_attention_curves_price_at_the_peak_they_were_fitted_against(tables) -> None:
    """Attention tables time kernels computing in BF16 whatever the cache type, so an FP8
    cache's curves are shares of BF16's peak, and so is the regime the fit read each row in.
    An FP8 model with an FP8 cache computes its attention as FP8 on the roofline; at B300's
    INT8 peak (1/18 of BF16's, where attention read INT8 before) a prefill would be
    compute-bound and take several times the table's time. Priced at the curve's own peak it
    takes the table's law (memory-bound at BF16's peak, at half the bandwidth)."""
    from rooflens.core.operators import FlashAttention

    b300 = get_device("b300")
    heads, kv_heads, head_dim = 32, 8, 128
    op = FlashAttention(
        "attention", "block", ("q",), "o", num_heads=heads, num_kv_heads=kv_heads,
        head_dim=head_dim,
    )  # fmt: skip

    def law(ops: float, moved: float) -> float:
        assert ops / b300.peak_ops["bf16"] < moved / b300.memory_bandwidth  # memory-bound
        return FIXED + moved / (0.5 * b300.memory_bandwidth)

    rows = []
    for batch in (1.0, 2.0, 4.0, 8.0, 16.0):
        for isl in (1024.0, 2048.0, 4096.0, 8192.0, 16384.0):
            step = Step(np.array([batch]), np.array([isl]), np.array([0.0]))
            cost = op.cost(step, Precision(Quantization(kv_bits=8)))
            seconds = law(float(cost.ops[0]), float(memory_access(cost.__dict__)[0]))
            rows.append({
                "num_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
                "batch_size": batch, "isl": isl, "step": 0, "kv_cache_dtype": "fp8",
                "attn_dtype": "bfloat16", "window_size": 0, "latency": seconds * 1e3,
            })  # fmt: skip
    path = tables / "toy" / "attention" / "vllm" / "1.0"
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "context_attention_perf.csv", index=False)
    profile = fit_engine(tables, "toy", "vllm", b300).profile
    assert profile.dtype_classes["attention:fp8"].peak == "bf16"
    # GEMM curves stay shares of the operator's own type's peak.
    assert profile.classes["matmul"].peak is None

    fp8 = Quantization(w_bits=8, a_bits=8, w_format="fp", kv_bits=8)
    model = load_model("meta-llama/Llama-3.1-8B")
    graph = build_graph(model, AnalysisOptions(quantization=fp8, flash_attention=True), b300)
    row = [op.name for op in graph.operators].index("flash_attention")
    step = Step(np.array([2.0]), np.array([4096.0]), np.array([0.0]))
    costs = price_step(graph, b300, fp8, step, profile)
    assert costs.dtypes[row] == "fp8"  # the roofline's compute type: an FP8 cache's
    ops, moved = costs.fields["ops"][row][0], memory_access(costs.fields)[row][0]
    assert costs.time[row][0] == pytest.approx(law(ops, moved), rel=0.03)
    assert costs.time[row][0] < 0.2 * ops / b300.peak_ops["int8"]


def test_an_empty_moe_grid_cell_takes_its_load_at_another_size_first() -> None:
    """Two cells measured: a light load (0.1 token per expert) at 10 MB at half the
    bandwidth, a heavy one (2 per expert) at 1 GB at 0.8. The empty cell of the heavy load
    at 10 MB, where another model's decode lands, takes the heavy load's 0.8, not the light
    load's 0.5 at its own size; a GEMM's grid fills the other way."""
    from rooflens.calibration.aiconfigurator import moe_samples, shape_grid

    rows = pd.DataFrame(
        {
            "distribution": "balanced", "moe_dtype": "bfloat16", "hidden_size": 1024,
            "inter_size": 1024, "topk": 1, "num_experts": 8, "moe_tp_size": 1,
            "moe_ep_size": 1, "num_tokens": [1, 8], "latency": [0.01, 0.02],
        }
    )  # fmt: skip
    (moe,) = moe_samples(rows)
    assert moe.fill_first == "size"
    sizes, loads = np.array([1e7, 1e9]), np.array([0.1, 2.0])
    grid = shape_grid(sizes, loads, np.array([0.5, 0.8]), moe.fill_first)
    assert grid(np.array([1e7]), np.array([2.0]))[0] == pytest.approx(0.8)
    assert grid(np.array([1e9]), np.array([0.1]))[0] == pytest.approx(0.5)
    by_size = shape_grid(sizes, loads, np.array([0.5, 0.8]), "ratio")
    assert by_size(np.array([1e7]), np.array([2.0]))[0] == pytest.approx(0.5)


def test_a_profile_reads_back_as_written_with_one_line_per_array(tables, tmp_path) -> None:
    from rooflens.calibration.profile import parse_profile, save_profile

    profile = fit_engine(tables, "toy", "vllm", H100).profile
    save_profile(profile, tmp_path / "toy.toml")
    text = (tmp_path / "toy.toml").read_text()
    sizes = profile.classes["matmul"].compute.log10_sizes
    assert f"log10_sizes = [{', '.join(map(str, sizes))}]" in text
    assert parse_profile(text, "toy.toml") == profile


def test_a_profile_written_as_json_reads_back_the_same(tables, tmp_path) -> None:
    """The shipped engine profiles are JSON (parsed faster than TOML: docs/performance.md); a
    profile written either way reads back equal, its MoE layers beside it by its stem."""
    from rooflens.calibration.profile import layers_path, load_profile, save_profile

    profile = fit_engine(tables, "toy", "vllm", H100).profile
    save_profile(profile, tmp_path / "toy.json")
    text = (tmp_path / "toy.json").read_text()
    sizes = profile.classes["matmul"].compute.log10_sizes
    assert f'"log10_sizes": [{", ".join(map(str, sizes))}]' in text
    assert load_profile(tmp_path / "toy.json") == profile
    save_profile(profile, tmp_path / "toy.toml")
    assert load_profile(tmp_path / "toy.toml") == load_profile(tmp_path / "toy.json")
    assert layers_path(tmp_path / "toy.json") == tmp_path / "toy.moe-layers.json.gz"


def test_the_shipped_engine_profiles_are_json() -> None:
    from importlib import resources

    folder = resources.files("rooflens.engines").joinpath("profiles")
    names = [entry.name for entry in folder.iterdir()]
    assert not [n for n in names if n.endswith(".toml")]
    assert "vllm-h200-sxm.json" in names and "sglang-h100-sxm@0.5.10.json" in names


# A synthetic FP8 engine whose GEMM rows quantize their input inside the call: a pass of
# FIXED + 3 bytes per input element at 0.6 of the bandwidth with stored scales, that and 1
# byte more per element computing them each call (quantize tables), then the GEMM itself.
QUANT_FRACTION = 0.6


def _pass_ms(m: np.ndarray, k: float, extra: bool) -> np.ndarray:
    moved = (4 if extra else 3) * m * k
    return (FIXED + moved / (QUANT_FRACTION * H100.memory_bandwidth)) * 1e3


def _fp8_gemm_ms(m: np.ndarray, n: int, k: int) -> np.ndarray:
    cost = Linear("g", "block", ("x",), "y", in_features=k, out_features=n).cost(
        Step(m, np.ones_like(m), np.zeros_like(m)), Precision(Quantization(w_bits=8, a_bits=8))
    )
    memory = cost.load_weight + cost.load_act + cost.store_act
    t = FIXED + np.maximum(
        cost.ops / (COMPUTE_FRACTION * H100.peak_ops["fp8"]),
        memory / (MEMORY_FRACTION * H100.memory_bandwidth),
    )
    return t * 1e3


def test_fp8_gemms_are_fitted_less_their_input_quantization(tmp_path) -> None:
    gemm = tmp_path / "toy" / "gemm" / "vllm" / "1.0"
    quantize = tmp_path / "toy" / "quantize" / "vllm" / "1.0"
    gemm.mkdir(parents=True)
    quantize.mkdir(parents=True)
    m = 2.0 ** np.arange(0, 15)
    # And a tiny GEMM, nearly all fixed time, as the fit takes that out first.
    shapes = ((4096, 4096), (8192, 2048), (2048, 8192), (1024, 4096), (64, 64))
    rows = [
        {"gemm_dtype": dtype, "m": mi, "n": n, "k": k, "latency": t}
        for n, k in shapes
        for dtype, law in (
            ("bfloat16", _gemm_law(m, n, k)),
            ("fp8", _fp8_gemm_ms(m, n, k) + _pass_ms(m, k, extra=True)),
        )
        for mi, t in zip(m, law, strict=True)
    ]
    pd.DataFrame(rows).to_csv(gemm / "gemm_perf.csv", index=False)
    ks = sorted({k for _, k in shapes})
    grid_m, grid_k = (a.ravel() for a in np.meshgrid(m, np.array(ks, dtype=float)))
    source = "static_scaled_fp8_quant"
    pd.DataFrame(
        {"m": grid_m, "k": grid_k, "latency": _pass_ms(grid_m, grid_k, extra=False),
         "kernel_source": source}
    ).to_csv(quantize / "scale_matrix_perf.csv", index=False)  # fmt: skip
    extra = _pass_ms(grid_m, grid_k, extra=True) - _pass_ms(grid_m, grid_k, extra=False)
    pd.DataFrame({"m": grid_m, "k": grid_k, "latency": extra}).to_csv(
        quantize / "computescale_perf.csv", index=False
    )
    fit = fit_engine(tmp_path, "toy", "vllm", H100, package_version="9.9")
    profile = fit.profile
    assert "FP8 GEMM rows fitted less" in profile.provenance["quantize"]
    # The GEMMs alone: the law's half of the FP8 peak where compute-bound, fixed time its own.
    gemm_curves = profile.dtype_classes["matmul:fp8"]
    assert gemm_curves.fixed == pytest.approx(FIXED, rel=0.02)
    assert np.allclose(gemm_curves.compute.fractions, COMPUTE_FRACTION, rtol=0.02)
    # Stored scales run the same GEMMs.
    assert profile.dtype_classes["matmul:fp8_static"] == gemm_curves
    # The passes, 3 bytes per element: computing the scale moves a third more.
    elements = np.array([1e6, 1e8])
    for dtype, extra_bytes in (("fp8", True), ("fp8_static", False)):
        curves = profile.dtype_classes[f"quantize:{dtype}"]
        law = _pass_ms(elements, 1.0, extra=extra_bytes) * 1e-3
        got = quantize_pass_time(curves, elements, H100.memory_bandwidth)
        assert got == pytest.approx(law, rel=0.02)
    # The whole measured rows, held out, priced as GEMM plus pass.
    assert fit.held_out["matmul:fp8"]["median"] < 0.02
    assert fit.held_out["matmul:fp8_static"]["median"] < 0.02


def test_sglangs_fp8_rows_keep_their_quantization_inside() -> None:
    # SGLang's quantize table times a PyTorch expression, not its own pass: no pass apart.
    profile = load_engine_profile("sglang", "h100-sxm")
    assert "quantize:fp8" not in profile.dtype_classes
    assert "quantize:fp8" in load_engine_profile("vllm", "h100-sxm").dtype_classes
    assert "quantize:fp8_static" in load_engine_profile("trtllm", "h100-sxm").dtype_classes


def test_an_fp8_gemm_pays_its_input_quantization_once_per_kernel() -> None:
    profile = load_engine_profile("vllm", "h100-sxm")
    # The same GEMMs priced without the pass: the profile less its quantize curves.
    kept = {k: v for k, v in profile.dtype_classes.items() if not k.startswith("quantize:")}
    bare = profile.model_copy(update={"dtype_classes": kept})
    kwargs = dict(batch=4, prompt_len=2048, gen_len=8, fusion=("qkv", "gate_up", "act"))
    fp8 = dict(w_bits=8, a_bits=8, w_format="fp", a_scale="dynamic")

    def prefill(calibration, **settings) -> pd.DataFrame:
        analysis = rooflens.analyze(
            "meta-llama/Llama-3.1-8B", "h100-sxm", calibration=calibration, **kwargs, **settings
        )
        return analysis.operators().set_index(["stage", "name"]).loc["prefill"]

    with_pass, without = prefill(profile, **fp8), prefill(bare, **fp8)
    tokens = 4 * 2048
    dynamic = profile.dtype_classes["quantize:fp8"]
    for head, width in (("q_proj", 4096), ("gate_proj", 4096), ("o_proj", 4096),
                        ("down_proj", 14336)):  # fmt: skip
        added = with_pass.loc[head, "time"] - without.loc[head, "time"]
        want = quantize_pass_time(dynamic, np.array([tokens * width]), H100.memory_bandwidth)
        assert added == pytest.approx(float(want[0]), rel=1e-9)
        assert added > 0
        # The row says how much of its time the pass is.
        assert with_pass.loc[head, "quantize_time"] == pytest.approx(added, rel=1e-9)
        assert without.loc[head, "quantize_time"] == 0
    # K and V run inside Q's kernel, up inside gate's: their shared input is quantized once.
    for fused in ("k_proj", "v_proj", "up_proj"):
        assert with_pass.loc[fused, "time"] == without.loc[fused, "time"]
    # 16-bit GEMMs pay none.
    assert prefill(profile)["time"].equals(prefill(bare)["time"])


@pytest.mark.parametrize(
    ("engine", "device"), [("sglang", "b200"), ("vllm", "h200-sxm"), ("trtllm", "b200")]
)
def test_a_scan_on_the_attention_curves_stays_within_its_bound_and_says_so(engine, device) -> None:
    """Jamba's Mamba scan (fp32 work on the CUDA cores) has no table of its own: priced with
    the attention curves, fractions of the tensor cores' bf16 peak, it came out up to 1.98
    times faster than its own roofline bound (SGLang, B200, 256 x 4,096 tokens), and no
    fallback line said which curves priced it."""
    result = rooflens.analyze(
        "ai21labs/Jamba-v0.1", device, engine=engine, tp=2, batch=256, prompt_len=4096, gen_len=4
    )
    ops = result.operators()
    scans = ops[ops["name"] == "mixer_scan"]
    assert len(scans) == 2 and (scans["efficiency"] <= 1 + 1e-12).all()
    assert (
        "mixer_scan (scan:bf16): no table times it; the attention_prefill curves price it"
        in result.fallbacks
    )
    assert "scan:bf16" in result.stand_ins
    # The rows say so too (they had read plain "attention_prefill").
    assert set(scans["priced_by"]) == {"attention_prefill (fallback)", "attention (fallback)"}
    # Gated DeltaNet has tables of its own: no such line.
    qwen = rooflens.analyze("Qwen/Qwen3.5-397B-A17B", device, engine=engine, tp=8, gen_len=4)
    assert not any("scan:" in line for line in qwen.fallbacks)
    gdn = qwen.operators()
    assert not gdn[gdn["name"] == "mixer_scan"]["priced_by"].str.contains("fallback").any()


def test_a_scan_beside_fp8_gemms_computes_on_the_16_bit_activations() -> None:
    """With W8A8 FP8 the scans had computed at 8 bits on the INT8 tensor types, which a B300
    all but lacks (0.125 POP/s): Nemotron-Nano-9B-v2's prefill scan took 34.2 ms there against
    5.7 ms on a B200 or without FP8."""
    shape = {"batch": 64, "prompt_len": 8192, "engine": "vllm"}
    fp8 = {"w_bits": 8, "a_bits": 8, "w_format": "fp"}
    times = {}
    for device, precision in (("b300", fp8), ("b300", {}), ("b200", fp8)):
        ops = rooflens.analyze("nvidia/NVIDIA-Nemotron-Nano-9B-v2", device, **shape, **precision)
        rows = ops.operators()
        scan = rows[(rows["name"] == "mixer_scan") & (rows["stage"] == "prefill")].iloc[0]
        assert scan["compute_dtype"] == "bf16"
        times[device, bool(precision)] = float(scan["time"])
    assert times["b300", True] == pytest.approx(times["b300", False], rel=1e-9)
    assert times["b300", True] < 1.5 * times["b200", True]


def test_wide_query_groups_take_curves_of_their_own(tables) -> None:
    """Decode rows of 8 query heads per KV head at half the bandwidth, and of 128 over one (a
    multi-query kernel) at a fiftieth, some at the very bytes per sequence and head of the
    narrow ones: fitted apart (`attention:bf16_wide`), each prices its own law, and a
    grouped-query decode no longer dips into the wide rows' share between two of its
    lengths (TensorRT-LLM's B200 profile priced Llama-3.1-70B's decode 2.7 times slower at
    1,152 tokens than at 2,048)."""
    from rooflens.core.efficiency import WIDE_GROUP
    from rooflens.core.operators import FlashAttention

    b200 = get_device("b200")
    share = {8: 0.5, 128: 0.02}
    shapes = {8: (64, 8), 128: (128, 1)}  # group: (heads, KV heads)
    rows = []
    for group, (heads, kv) in shapes.items():
        op = FlashAttention(
            "attention", "block", ("q",), "o", num_heads=heads, num_kv_heads=kv, head_dim=128
        )
        for batch in (1.0, 4.0, 16.0, 64.0):
            for cached in (255.0, 511.0, 1023.0, 1151.0, 2047.0, 4095.0, 8191.0):
                step = Step(np.array([batch]), np.array([1.0]), np.array([cached]))
                moved = float(memory_access(op.cost(step, Precision(Quantization())).__dict__)[0])
                seconds = FIXED + moved / (share[group] * b200.memory_bandwidth)
                rows.append({
                    "num_heads": heads, "num_key_value_heads": kv, "head_dim": 128,
                    "batch_size": batch, "isl": 1, "step": cached, "kv_cache_dtype": "bfloat16",
                    "attn_dtype": "bfloat16", "window_size": 0, "latency": seconds * 1e3,
                })  # fmt: skip
    assert 8 <= WIDE_GROUP < 128
    path = tables / "toy" / "attention" / "vllm" / "1.0"
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "generation_attention_perf.csv", index=False)
    profile = fit_engine(tables, "toy", "vllm", b200).profile
    assert "attention:bf16_wide" in profile.dtype_classes

    def decode_time(heads: int, kv: int, cached: float) -> float:
        model = load_model("meta-llama/Llama-3.1-8B").model_copy(
            update={"num_heads": heads, "num_kv_heads": kv, "hidden_size": heads * 128}
        )
        graph = build_graph(model, AnalysisOptions(flash_attention=True), b200)
        row = [op.name for op in graph.operators].index("flash_attention")
        step = Step(np.array([16.0]), np.array([1.0]), np.array([cached]))
        costs = price_step(graph, b200, Quantization(), step, profile)
        law = FIXED + memory_access(costs.fields)[row][0] / (
            share[heads // kv] * b200.memory_bandwidth
        )
        assert costs.time[row][0] == pytest.approx(law, rel=0.05), (heads, kv, cached)
        return float(costs.time[row][0])

    narrow = [decode_time(64, 8, c) for c in (1023.0, 1151.0, 1500.0, 2047.0)]
    assert narrow == sorted(narrow)
    decode_time(128, 1, 1151.0)


@pytest.mark.parametrize(("engine", "device"), [("trtllm", "b200"), ("trtllm", "h200-sxm")])
def test_a_grouped_query_decode_is_no_slower_at_a_shorter_context(engine, device) -> None:
    """The shipped profiles, TP 4 over Llama-3.1-70B's 8 KV heads at batch 32: from 1,024 to
    2,048 cached tokens every decode step takes at least the one before (TensorRT-LLM's B200
    profile gave 10.1 ms at 1,024 tokens, 30.2 at 1,152 and 10.3 at 2,048)."""
    contexts = np.array([1024, 1100, 1152, 1200, 1300, 1536, 1800, 2048])
    result = rooflens.analyze(
        "meta-llama/Llama-3.1-70B", device, engine=engine, tp=4, batch=32, prompt_len=contexts,
        gen_len=2,
    )  # fmt: skip
    steps = result.totals()["decode"]["time"]
    assert np.all(np.diff(steps) >= -1e-3 * steps[:-1]), steps


def test_a_profiles_facts_read_from_its_head_equal_its_whole_parse() -> None:
    """The catalog reads each profile's release, provenance and memory share without its
    curves (parsing all of them took seconds): the same as the whole profile says."""
    from rooflens.engines import engine_profiles, load_engine_profile, profile_facts

    for engine, devices in engine_profiles().items():
        for device in devices:
            whole = load_engine_profile(engine, device)
            assert profile_facts(engine, device) == {
                "engine_version": getattr(whole, "engine_version", None),
                "provenance": dict(whole.provenance),
                "memory_fraction": whole.memory_fraction,
                "memory_fraction_of": whole.memory_fraction_of,
            }, (engine, device)


@pytest.mark.parametrize(
    ("device", "tp", "share"),
    [("h100-sxm", 1, 0.835), ("h100-sxm", 8, 0.818), ("h200-sxm", 1, 0.907),
     ("h200-sxm", 8, 0.897), ("b200", 1, 0.857)],
)  # fmt: skip
def test_sglangs_memory_share_is_its_rule_on_the_device_at_the_layout(device, tp, share) -> None:
    """SGLang's mem_fraction_static by hand (server_args.py): an H200 (143,771 MiB) at TP 1
    reserves 512 + 1.5 x 8,192 + 2 x 256 + 1,024 / 8 = 13,440 MiB: (143,771 - 13,440) /
    143,771 = 0.907; at TP 8, 512 + 12,288 + 2 x 512 + 1,024 = 14,848 MiB: 0.897. A B200's
    chunk is 16,384 and its graphs 512: 512 + 24,576 + 1,024 + 128 = 26,240 of 183,359 MiB.
    The share holds the weights and the KV pool, which sizes the largest batch."""
    profile = load_engine_profile("sglang", device, tp=tp)
    assert profile.memory_fraction == share
    res = rooflens.analyze("meta-llama/Llama-3.1-8B", device, engine="sglang", tp=tp,
                           prompt_len=1024, gen_len=None)  # fmt: skip
    memory = res.memory["prefill"]
    pool = get_device(device).memory_capacity * share - float(memory.weights)
    assert int(memory.max_batch) == int(pool // float(memory.kv_cache))


def test_the_figures_docs_engines_quotes_are_what_rooflens_gives() -> None:
    """docs/engines.md's worked examples, computed again: Qwen3-32B's TTFT on an H200 with
    SGLang, fused and unfused attention (they had drifted to 1.80 and 2.18 s while the page
    said 1.74 and 2.12), and vLLM's H200 decode attention at 256 x 63 and 1 x 16,383 keys."""
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[1] / "docs/engines.md").read_text().split())
    args = ("Qwen/Qwen3-32B", "h200-sxm")
    fused = rooflens.analyze(*args, engine="sglang", batch=8, prompt_len=2048, gen_len=1)
    eager = rooflens.analyze(*args, engine="sglang", batch=8, prompt_len=2048, gen_len=1,
                             flash_attention=False)  # fmt: skip
    ttfts = f"{float(fused.generation['ttft']):.2f} s to the first token fused, " + (
        f"{float(eager.generation['ttft']):.2f} s unfused"
    )
    assert ttfts in text
    times = []
    for batch, past in ((256, 63), (1, 16383)):
        res = rooflens.analyze("meta-llama/Llama-3.1-8B", "h200-sxm", engine="vllm",
                               batch=batch, prompt_len=past, gen_len=None)  # fmt: skip
        ops = res.operators()
        times.append(
            float(ops[(ops.stage == "decode") & (ops.name == "flash_attention")].time.iloc[0])
        )
    assert f"the grid prices them at {times[0] * 1e6:.1f} and {times[1] * 1e6:.1f} µs" in text


def test_a_tables_collection_date_is_its_own(tmp_path) -> None:
    """vLLM's comm folder holds the custom all-reduce table, undated, beside an all-to-all
    table collected on 2026-08-31: the all-reduce's provenance took that date. A folder of
    one table (or of only the tables asked about) is dated by its file's notes, as before."""
    from rooflens.calibration.aiconfigurator import collection_date

    comm = tmp_path / "comm"
    comm.mkdir()
    (comm / "collection_meta.yaml").write_text(
        "schema_version: 1\nruntime:\n  version: 0.24.0\ntables:\n"
        "  custom_allreduce_perf:\n    status: complete\n"
        "  moe_a2a_perf:\n    collected_at: '2026-08-31'\n    status: complete\n"
    )
    assert collection_date(comm, ("custom_allreduce_perf",)) == "not recorded (unknown)"
    assert collection_date(comm, ("moe_a2a_perf",)) == "2026-08-31 (unknown)"
    assert collection_date(comm) == "2026-08-31 (unknown)"
    moe = tmp_path / "moe"
    moe.mkdir()
    (moe / "collection_meta.yaml").write_text(
        "provenance: collected\n# 2026-08-09: appended 3078 rows\ntables:\n"
        "  moe_perf:\n    status: complete\n"
    )
    assert collection_date(moe, ("moe_perf",)) == "2026-08-09 (collected)"


def test_a_compute_bound_kernel_on_a_curve_nothing_measured_is_noted() -> None:
    """SGLang's GB300 tables time FP4 experts only memory-bound: its compute curve is the peak,
    and a compute-bound prefill's experts ran at 100 % of 15 PFLOP/s with nothing to say so
    (vLLM's latent attention, which its tables do not time, likewise on the attention
    curves). The issue asks for a visible note wherever a kernel is priced past its data."""
    nvfp4 = {"w_bits": 4, "a_bits": 4, "w_format": "nvfp4"}
    scout = rooflens.analyze(
        "meta-llama/Llama-4-Scout-17B-16E", "gb300", engine="sglang", batch=64, prompt_len=2048,
        **nvfp4,
    )  # fmt: skip
    # Its layer (16 experts, top-1) is not a shape the tables time: the nearest they time of
    # its widths prices it, as a fallback line says.
    assert any(
        line.endswith("(MoE layer fp4/8192x5120:e16:k1): not a shape the operator tables time; "
                      "the nearest they time, fp4/8192x5120:e16:k0.6875, prices it")
        for line in scout.fallbacks
    )  # fmt: skip
    # Without a timed layer of its widths the class's curves price it, and say so.
    profile = load_engine_profile("sglang", "gb300")
    untimed = profile.with_stored_layers(
        lambda: {k: v for k, v in profile.layers.items() if "/8192x5120:" not in k}
    )
    scout = rooflens.analyze(
        "meta-llama/Llama-4-Scout-17B-16E", "gb300", calibration=untimed, batch=64,
        prompt_len=2048, fusion=("qkv", "gate_up", "add_norm", "moe"), **nvfp4,
    )  # fmt: skip
    assert (
        "prefill: expert_gate_proj: compute-bound, where the moe:fp4 curves pricing it hold no "
        "compute-bound kernel measured; priced at the peak (its roofline bound)" in scout.notes
    )
    kimi = rooflens.analyze("moonshotai/Kimi-K2.5", "b200", engine="vllm", tp=8, prompt_len=8192)
    assert any(n.startswith("prefill: latent_attention: compute-bound, where the attention ")
               for n in kimi.notes)  # fmt: skip
    # Measured compute curves, and element-wise work (memory-bound by design), say nothing.
    llama = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", engine="vllm", batch=64)
    assert not any("compute-bound, where" in n for n in llama.notes)


def test_a_moe_series_slower_than_its_layer_at_half_the_tp_is_not_read() -> None:
    """A layer at MoE TP 2 holds half the weights a rank holds at TP 1: a series timed three
    times its TP 1 series (as TensorRT-LLM's Hopper tables time Llama 4 Scout's) is left out,
    every distribution of it, while its TP 4 series, the same layer under expert parallelism
    and another layer at TP 2 are kept."""
    from rooflens.calibration.aiconfigurator import tp_agreeing

    rows = []
    for inter, at_tp2 in ((8192, 3.0), (4096, 0.5)):
        for tp, ep, factor in ((1, 1, 1.0), (2, 1, at_tp2), (4, 1, 0.25), (2, 2, 0.5)):
            for tokens in (1, 16, 256, 4096):
                for dist in ("balanced", "power_law_1.01"):
                    rows.append({
                        "moe_dtype": "bfloat16", "hidden_size": 5120, "inter_size": inter,
                        "topk": 1, "num_experts": 16, "num_tokens": tokens, "moe_tp_size": tp,
                        "moe_ep_size": ep, "distribution": dist,
                        "latency": factor * (0.05 + tokens * 1e-4),
                    })  # fmt: skip
    table = pd.DataFrame(rows)
    kept = tp_agreeing(table)
    gone = table.loc[table.index.difference(kept.index)]
    assert set(map(tuple, gone[["inter_size", "moe_tp_size", "moe_ep_size"]].values)) == {
        (8192, 2, 1)
    }
    assert len(gone) == 4 * 2  # its token counts, both distributions
    # A table without the TP and EP columns, or without rows, is read as it is.
    assert tp_agreeing(table.drop(columns="moe_ep_size")).equals(table.drop(columns="moe_ep_size"))
    assert tp_agreeing(table.iloc[:0]).empty
