"""Calibration without hardware: the fit recovers efficiencies and overheads it was fed,
calibrated pricing follows its formula, profiles round-trip, errors are computed right."""

from __future__ import annotations

import numpy as np
import pytest

from rooflens.calibration.fit import fit_kernels, fit_overheads, measurement_options
from rooflens.calibration.profile import load_profile, save_profile
from rooflens.calibration.report import summarize
from rooflens.core import HardwareSpecError, analyze
from rooflens.core.efficiency import ClassEfficiency, EfficiencyCurve, EfficiencyProfile
from rooflens.core.operators import FlashAttention, Linear, Norm, ResidualAdd
from rooflens.measure.suite import describe

FIXED = 3e-6
TRUE = {"matmul": (0.7, 0.8), "attention": (0.6, 0.9), "vector": (1.0, 0.75)}


def _flat(value: float) -> EfficiencyCurve:
    return EfficiencyCurve(log10_sizes=(0.0,), fractions=(value,))


def _profile(**overheads: float) -> EfficiencyProfile:
    classes = {
        c: ClassEfficiency(compute=_flat(fc), memory=_flat(fm)) for c, (fc, fm) in TRUE.items()
    }
    return EfficiencyProfile(device="toy", kernel_time=FIXED, classes=classes, **overheads)


def _synthetic_suite(device) -> list[dict]:
    """Kernel times generated from known fractions: time = fixed + max(tc / fc, tm / fm)."""
    cases = [
        (Linear("l", "block", ("x",), "y", in_features=4096, out_features=4096), 1, r, 0)
        for r in (1, 8, 64, 512, 4096, 32768)
    ]
    attn = FlashAttention(
        "a", "block", ("q", "k", "v"), "o", num_heads=8, num_kv_heads=2, head_dim=64
    )
    cases += [(attn, 1, q, p) for q, p in ((4096, 0), (16384, 0), (1, 4096), (1, 65536))]
    cases += [(Norm("n", "block", ("x",), "y", width=512), 1, r, 0) for r in (64, 4096, 65536)]
    cases += [(ResidualAdd("add", "block", ("x", "y"), "z", width=8), 1, 1, 0)]
    suite = []
    for op, b, q, p in cases:
        d = describe(op, b, q, p)
        fc, fm = TRUE[op.efficiency_class]
        peak = device.peak_ops["fp16" if op.efficiency_class != "vector" else "fp32"]
        t = FIXED + max(d["ops"] / peak / fc, d["bytes"] / device.memory_bandwidth / fm)
        suite.append({"class": op.efficiency_class, "kernel": type(op).__name__, **d, "time": t})
    return suite


def test_fit_recovers_the_efficiencies_it_was_fed(toy_device) -> None:
    fixed, classes = fit_kernels(_synthetic_suite(toy_device), toy_device)
    assert fixed == pytest.approx(FIXED, rel=1e-4)  # includes the tiny kernel's own bytes
    sizes = np.logspace(3, 12, 10)  # fractions are stored to 4 decimals
    assert np.allclose(classes["matmul"].compute(sizes), 0.7, rtol=1e-3)
    assert np.allclose(classes["matmul"].memory(sizes), 0.8, rtol=1e-3)
    assert np.allclose(classes["attention"].compute(sizes), 0.6, rtol=1e-3)
    assert np.allclose(classes["vector"].memory(sizes), 0.75, rtol=1e-3)


def _overhead_runs(model, device, truth, points, slower=None):
    """Steps priced with `truth`; `slower` scales the measured time of chosen points."""
    runs = []
    for stage, b, length in points:
        graphs, eager = (
            analyze(model, device, batch=b, prompt_len=length,
                    options=measurement_options(truth, ex))
            for ex in ("graphs", "eager")
        )  # fmt: skip
        runs.append(
            {
                "stage": stage,
                "batch": b,
                "past": length if stage == "decode" else 0,
                "new_tokens": length if stage == "prefill" else 1,
                "graph": float(graphs.totals()[stage]["time"]) * (slower or {}).get(
                    (stage, b, length), 1.0),
                "eager": float(eager.totals()[stage]["time"]),
                "peak_memory": float(graphs.memory[stage].total),
            }
        )  # fmt: skip
    return runs


def test_a_long_prefill_does_not_set_the_decode_overhead(tiny_model, toy_device) -> None:
    # Real steps scatter by a few per cent; one long prefill 5 % slow is worth many decode
    # steps' whole overhead. Relative errors keep decode's intercept near the truth.
    model = tiny_model.model_copy(update={"num_layers": 32, "hidden_size": 4096, "num_heads": 32,
                                          "num_kv_heads": 8, "head_dim": 128,
                                          "intermediate_size": 14336})  # fmt: skip
    truth = _profile(graph_overhead_per_layer=60e-6, graph_overhead_per_layer_token=250e-9)
    points = [("prefill", b, s) for b in (1, 8) for s in (128, 512, 2048)] + [
        ("decode", b, 1024) for b in (1, 8, 32, 64)
    ]
    runs = _overhead_runs(model, toy_device, truth, points, {("prefill", 8, 2048): 1.05})
    fitted = fit_overheads([(model, runs)], toy_device, _profile())
    assert fitted["graph_overhead_per_layer"] == pytest.approx(60e-6, rel=0.1)
    # Plain least squares puts it far off: at -207 µs here (clipped to 0 in a profile).
    design = np.column_stack([np.ones(len(runs)), [r["batch"] * r["new_tokens"] for r in runs]])
    plain = [
        (r["graph"] - float(analyze(model, toy_device, batch=r["batch"],
         prompt_len=r["new_tokens"] if r["stage"] == "prefill" else r["past"],
         options=measurement_options(_profile())).totals()[r["stage"]]["time"])) / 32
        for r in runs
    ]  # fmt: skip
    (a, _), *_ = np.linalg.lstsq(design, np.array(plain), rcond=None)
    assert abs(a - 60e-6) > 3 * abs(fitted["graph_overhead_per_layer"] - 60e-6)


def test_fit_recovers_framework_overheads(tiny_model, toy_device) -> None:
    kernels = _profile()
    truth = _profile(
        graph_overhead_per_layer=40e-6,
        graph_overhead_per_layer_token=5e-9,
        eager_host_per_layer=2e-3,
        memory_overhead=1e9,
    )
    runs = []
    for stage, b, length in [
        ("prefill", 1, 128),
        ("prefill", 4, 512),
        ("prefill", 8, 2048),
        ("decode", 1, 512),
        ("decode", 16, 1024),
    ]:
        graphs, eager = (
            analyze(
                tiny_model,
                toy_device,
                batch=b,
                prompt_len=length,
                options=measurement_options(truth, ex),
            )
            for ex in ("graphs", "eager")
        )
        runs.append(
            {
                "stage": stage,
                "batch": b,
                "past": length if stage == "decode" else 0,
                "new_tokens": length if stage == "prefill" else 1,
                "graph": float(graphs.totals()[stage]["time"]),
                "eager": float(eager.totals()[stage]["time"]),
                "peak_memory": float(graphs.memory[stage].total),
            }
        )
    fitted = fit_overheads([(tiny_model, runs)], toy_device, kernels)
    assert fitted["graph_overhead_per_layer"] == pytest.approx(40e-6, rel=1e-6)
    assert fitted["graph_overhead_per_layer_token"] == pytest.approx(5e-9, rel=1e-6)
    assert fitted["eager_host_per_layer"] == pytest.approx(2e-3, rel=1e-9)
    assert fitted["memory_overhead"] == pytest.approx(1e9, rel=1e-9)


def test_a_cpus_eager_steps_fit_its_overheads(tiny_model, toy_device) -> None:
    """A CPU times no CUDA graphs: its runs were all left out of the fit, every overhead came
    out 0 and the profile missed its own runs 2-15 times over. Its eager steps are what it
    runs: they fit the per-layer overheads (no host bound: nothing to compare them with)."""
    kernels = _profile()
    truth = _profile(graph_overhead_per_layer=40e-6, graph_overhead_per_layer_token=5e-9)
    runs = []
    for stage, b, length in [("prefill", 1, 128), ("prefill", 4, 512), ("decode", 1, 512)]:
        step = analyze(tiny_model, toy_device, batch=b, prompt_len=length,
                       options=measurement_options(truth, "graphs"))  # fmt: skip
        runs.append(
            {"stage": stage, "batch": b, "past": length if stage == "decode" else 0,
             "new_tokens": length if stage == "prefill" else 1,
             "eager": float(step.totals()[stage]["time"])}
        )  # fmt: skip
    fitted = fit_overheads([(tiny_model, runs)], toy_device, kernels)
    assert fitted["graph_overhead_per_layer"] == pytest.approx(40e-6, rel=1e-6)
    assert fitted["graph_overhead_per_layer_token"] == pytest.approx(5e-9, rel=1e-6)
    assert fitted["eager_host_per_layer"] == 0


def test_calibrate_on_a_cpu_names_a_cpu() -> None:
    """`--device cpu -H h100-sxm` measured the CPU and then failed with an internal
    KeyError fitting an H100's kernel-level profile from it."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = ["calibrate", "--device", "cpu", "-H", "h100-sxm", "--model", "gpt2", "-o", "x.toml"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert "--hardware='h100-sxm' is invalid: expected a CPU from the catalog" in res.output
    # measure too: it had printed CPU timings against the H100's predictions (-100 % errors).
    args = ["measure", "gpt2", "--device", "cpu", "-H", "h100-sxm", "--prompt-len", "16"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert "--hardware='h100-sxm' is invalid: expected a CPU from the catalog" in res.output


def test_calibrated_operator_time_by_hand(tiny_model, toy_device) -> None:
    rows = analyze(
        tiny_model, toy_device, batch=2, prompt_len=8, options=measurement_options(_profile())
    ).operators()
    q = rows[(rows.stage == "prefill") & (rows.name == "q_proj")].iloc[0]
    expected = FIXED + max(q.ops / (100e12 * 0.7), q.memory_access / (1e12 * 0.8))
    assert q.time == pytest.approx(expected)


def test_step_time_adds_overheads_and_eager_waits_for_the_host(tiny_model, toy_device) -> None:
    prof = _profile(graph_overhead_per_layer=1e-5, eager_host_per_layer=1e-2)
    graphs = analyze(
        tiny_model, toy_device, batch=1, prompt_len=64, options=measurement_options(prof)
    )
    eager = analyze(
        tiny_model, toy_device, batch=1, prompt_len=64, options=measurement_options(prof, "eager")
    )
    step = graphs.steps["decode"]
    assert graphs.totals()["decode"]["time"] == pytest.approx(
        float(step.total(step.time)) + 2 * 1e-5
    )
    assert eager.totals()["decode"]["time"] == pytest.approx(2 * 1e-2)  # host-bound
    assert graphs.to_dict()["estimate"] == "calibrated estimate (toy, graphs)"


@pytest.mark.parametrize("execution", ["graphs", "eager"])
def test_calibrated_generation_close_to_step_by_step(tiny_model, toy_device, execution) -> None:
    prof = _profile(graph_overhead_per_layer=2e-6, eager_host_per_layer=2e-5)
    opts = measurement_options(prof, execution)
    b, s, g = 8, 512, 300
    whole = analyze(tiny_model, toy_device, batch=b, prompt_len=s, gen_len=g, options=opts)
    steps = analyze(
        tiny_model, toy_device, batch=b, prompt_len=np.arange(s, s + g - 1), options=opts
    )
    # Rates are held at the mid-generation context: close, not exact.
    assert whole.generation["decode_time"] == pytest.approx(
        steps.totals()["decode"]["time"].sum(), rel=0.02
    )


def test_profile_round_trip(tmp_path) -> None:
    prof = _profile(memory_overhead=123.0)
    save_profile(prof, tmp_path / "p.toml")
    assert load_profile(tmp_path / "p.toml") == prof


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("device = \n", "not valid TOML"),
        ('device = "x"\nkernel_time = -1\n[classes]\n', "kernel_time"),
        (
            'device = "x"\n[classes.matmul.compute]\nlog10_sizes = [1.0]\nfractions = [2.0]\n',
            "classes",
        ),
        # A NaN compares false with its neighbours: no ordering check would refuse it, and
        # it had priced every operator at NaN (a simulation with it never ended).
        (
            'device = "x"\n[classes.matmul.compute]\nlog10_sizes = [1.0, nan]\n'
            "fractions = [0.5, 0.6]\n",
            r"classes\.matmul\.compute\.log10_sizes\.1 \(nan\) is invalid: .*finite number",
        ),
        (
            'device = "x"\n[classes.matmul.compute]\nlog10_sizes = [1.0]\nfractions = ["0.5"]\n',
            r"fractions\.0 \('0\.5'\) is invalid: expected a number",
        ),
        (
            'device = "x"\n[classes.matmul.compute]\nlog10_sizes = [1.0]\nfractions = [0.5]\n'
            'power_law = "yes"\n',
            r"power_law \('yes'\) is invalid: expected true or false",
        ),
        # A check across fields names what it checks, without pydantic's prefix.
        (
            'device = "x"\n[classes.matmul.compute]\nlog10_sizes = [2.0, 1.0]\n'
            "fractions = [0.5, 0.6]\n",
            r"classes\.matmul\.compute is invalid: log10_sizes must increase$",
        ),
    ],
)
def test_bad_profiles_name_the_problem(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HardwareSpecError, match=message):
        load_profile(path)


def test_unknown_profile_lists_bundled_ones() -> None:
    with pytest.raises(HardwareSpecError, match="no bundled profile"):
        load_profile("no-such-profile")


def test_a_folder_given_as_a_profile_is_called_a_folder(tmp_path) -> None:
    """It read "no such file", of a path that exists."""
    with pytest.raises(HardwareSpecError) as err:
        load_profile(tmp_path)
    assert str(err.value) == (
        f"calibration='{tmp_path}': a folder; expected a profile file (.toml or .json) or a "
        "bundled profile's name (h100-sxm, h200-sxm)"
    )


def test_error_summary_arithmetic() -> None:
    rows = [
        {"category": "peak memory", "model": "m", "measured": m, "roofline": r, "calibrated": c}
        for m, r, c in ((100, 50, 110), (100, 80, 95), (200, 100, 190))
    ]
    s = summarize(rows)["peak memory"]
    assert s["points"] == 3
    assert s["roofline_median"] == pytest.approx(0.5) and s["roofline_max"] == pytest.approx(0.5)
    assert s["calibrated_median"] == pytest.approx(0.05)
    assert s["calibrated_max"] == pytest.approx(0.10)


@pytest.mark.parametrize("device", ["h100-sxm", "h200-sxm"])
def test_bundled_profiles_are_used_by_auto(device: str) -> None:
    import rooflens

    profile = load_profile(device)
    assert profile.device == device and profile.provenance["measured_on"].startswith("NVIDIA H")
    plain = rooflens.analyze("meta-llama/Llama-2-7b-hf", device, batch=1, prompt_len=512)
    tuned = rooflens.analyze(
        "meta-llama/Llama-2-7b-hf", device, batch=1, prompt_len=512, calibration="auto"
    )
    assert tuned.to_dict()["estimate"] == (
        f"calibrated estimate (transformers 5.17.0 profile, {device}, graphs)"
    )
    # Real kernels never beat the bound.
    assert tuned.totals()["decode"]["time"] > plain.totals()["decode"]["time"]


def test_auto_without_a_profile_is_a_clear_error() -> None:
    import rooflens

    with pytest.raises(rooflens.InvalidInputError, match=r"calibration.*bundled profile"):
        rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", calibration="auto")


def test_curve_keeps_per_bin_medians_where_efficiency_falls() -> None:
    from rooflens.calibration.fit import curve

    c = curve([(1e9, 0.5), (1e11, 0.8), (1e12, 0.7), (1e13, 0.65)])
    assert list(c.fractions) == [0.5, 0.8, 0.7, 0.65]  # no running maximum
