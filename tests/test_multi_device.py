"""Several devices on the CPU: two gloo processes run real collectives and a tensor-parallel
model; the link fit, the calibrated link in pricing and the report's multi-device section are
checked on synthetic figures with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import rooflens.calibration
from rooflens.calibration.links import KINDS, collective_time, fit_link, ring_terms, with_link
from rooflens.calibration.profile import load_profile, save_profile
from rooflens.calibration.report import parallel_sections, summarize
from rooflens.calibration.report_parallel import parallel_section, step_rows
from rooflens.cli.app import app
from rooflens.core import AnalysisOptions, Device, InvalidInputError, analyze
from rooflens.core.options import Parallelism
from rooflens.hardware.catalog import get_device
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.parallel import check_model, check_world, materialize, spawn
from rooflens.models import spec_from_config
from rooflens.models.catalog import load_model

TINY = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 127,  # odd: the last vocabulary shard is padded
    "max_position_embeddings": 512,
}
ONE_KV_HEAD = TINY | {"num_key_value_heads": 1}  # replicated on both devices
IDS = [[1, 5, 9, 100, 3, 126], [7, 7, 2, 126, 0, 64]]
BANDWIDTH, LATENCY = 370e9, 6e-6


SIZES = 4.0 ** np.arange(5, 16)  # 1 KiB .. 1 GiB


def _synthetic_collectives(ranks=(2, 8), sizes=SIZES) -> list[dict]:
    return [
        {
            "kind": kind,
            "ranks": p,
            "bytes": float(b),
            "time": float(collective_time(kind, p, np.array([b]), BANDWIDTH, LATENCY)[0]),
        }
        for kind in KINDS
        for p in ranks
        for b in sizes
    ]


# The ring model and its fit ----------------------------------------------------------------


def test_ring_terms_are_the_collective_operators_formulas() -> None:
    steps, sent = ring_terms("all_reduce", 4, np.array([1e6]))
    assert (steps[0], sent[0]) == (6, 1.5e6)  # 2(p-1) steps moving 2(p-1)/p of the tensor
    steps, sent = ring_terms("all_gather", 8, np.array([8e6]))
    assert (steps[0], sent[0]) == (7, 7e6)  # p-1 steps moving (p-1)/p of the output
    steps, sent = ring_terms("all_to_all", 2, np.array([1e6]))
    assert (steps[0], sent[0]) == (1, 0.5e6)


def test_fit_recovers_the_link_it_was_fed() -> None:
    fit = fit_link(_synthetic_collectives())
    assert fit.bandwidth == pytest.approx(BANDWIDTH, rel=1e-9)
    assert fit.latency == pytest.approx(LATENCY, rel=1e-9)
    assert fit.points == 66 and fit.ranks == (2, 8) and fit.rms_error < 1e-12


def test_fit_under_noise_and_beyond_a_fixed_kernel_cost() -> None:
    points = _synthetic_collectives()
    rng = np.random.default_rng(7)
    for p in points:
        p["time"] = p["time"] * (1 + rng.uniform(-0.03, 0.03)) + 2e-6
    fit = fit_link(points, fixed=2e-6)
    assert fit.bandwidth == pytest.approx(BANDWIDTH, rel=0.03)
    assert fit.latency == pytest.approx(LATENCY, rel=0.05)
    assert 0.005 < fit.rms_error < 0.03


def test_fit_refuses_what_no_link_explains() -> None:
    one = [{"kind": "all_reduce", "ranks": 1, "bytes": 1e6, "time": 1e-5}]
    with pytest.raises(InvalidInputError, match="at least 2 devices"):
        fit_link(one)
    shrinking = [
        {"kind": "all_reduce", "ranks": 2, "bytes": b, "time": t}
        for b, t in ((1e3, 1e-3), (1e6, 1e-4), (1e9, 1e-5))
    ]
    with pytest.raises(InvalidInputError, match="grow with message size"):
        fit_link(shrinking)


# The fitted link in pricing ----------------------------------------------------------------


def _linked_profile():
    base = load_profile("h100-sxm")
    fit = fit_link(_synthetic_collectives())
    return with_link(base, fit, "synthetic")


def _all_reduce_time(tiny_model, device, **options) -> float:
    frame = analyze(
        tiny_model, device, batch=2, prompt_len=8, options=AnalysisOptions(**options)
    ).operators()
    row = frame[(frame.stage == "prefill") & (frame.name == "o_proj_all_reduce")]
    return float(row.time.iloc[0])


def test_calibrated_link_prices_collectives_unless_the_user_gives_one(tiny_model) -> None:
    h100, profile = get_device("h100-sxm"), _linked_profile()
    data = (
        16 * 64 * 2
    )  # 16 tokens x hidden 64 x 2 bytes; ring over 2: 2(p-1)/p = all of it, 2 steps
    calibrated = _all_reduce_time(
        tiny_model, h100, calibration=profile, parallelism=Parallelism(tp=2)
    )
    assert calibrated == pytest.approx(profile.kernel_time + data / BANDWIDTH + 2 * LATENCY)
    bound = _all_reduce_time(tiny_model, h100, parallelism=Parallelism(tp=2))
    assert bound == pytest.approx(data / 450e9 + 2 * 1.1e-6)  # datasheet and default
    given = Parallelism(tp=2, link_bandwidth=1e9, link_latency=1e-6)
    explicit = _all_reduce_time(tiny_model, h100, calibration=profile, parallelism=given)
    assert explicit == pytest.approx(profile.kernel_time + data / 1e9 + 2 * 1e-6)


def test_link_figures_round_trip_through_toml(tmp_path) -> None:
    profile = _linked_profile()
    save_profile(profile, tmp_path / "linked.toml")
    assert load_profile(tmp_path / "linked.toml") == profile
    plain = load_profile("h100-sxm")
    save_profile(plain, tmp_path / "plain.toml")
    assert "link" not in (tmp_path / "plain.toml").read_text()
    assert load_profile(tmp_path / "plain.toml").link_bandwidth is None


# Two gloo processes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spawned() -> dict:
    cases = [{"config": c, "ids": IDS} for c in (TINY, ONE_KV_HEAD)]
    steps = {"config": TINY, "points": [(1, 8, 0), (2, 1, 8)], "graphs": False}
    return spawn({"device": "cpu", "check": True, "logits": cases, "model": steps}, 2)


def test_gloo_collectives_give_the_known_answers(spawned) -> None:
    assert spawned["world_size"] == 2 and spawned["environment"]["backend"] == "gloo"
    for rank, got in enumerate(spawned["check"]):
        assert got["all_reduce"] == [3.0] * 4  # 1 + 2
        assert got["all_gather"] == [0.0, 0.5, 1.0, 1.5]  # [r, r + 0.5] from each rank
        assert got["all_to_all"] == [rank, 10.0 + rank]  # element `rank` of each rank's buffer


@pytest.mark.parametrize("case", [0, 1], ids=["kv-split", "kv-replicated"])
def test_sharded_model_gives_the_whole_models_logits(spawned, case: int) -> None:
    config = (TINY, ONE_KV_HEAD)[case]
    torch.manual_seed(0)
    whole = ModelRunner(config, "cpu", torch.float32)
    with torch.no_grad():
        expected = whole.model(torch.tensor(IDS), use_cache=False).logits
    sharded = torch.tensor(spawned["logits"][case])
    assert sharded.shape == expected.shape == (2, 6, 127)
    assert torch.allclose(sharded, expected, atol=1e-5)


def _meta_tiny() -> ModelRunner:
    return ModelRunner(TINY, "meta", torch.float32)


def test_a_meta_built_model_gets_memory_weights_and_rotary_frequencies() -> None:
    """The path that lets a 70B in bf16 be sharded over GPUs it would not fit one of."""
    built = _meta_tiny()
    assert all(p.is_meta for p in built.model.parameters())
    materialize(built.model, "cpu", seed=3)
    torch.manual_seed(0)
    whole = ModelRunner(TINY, "cpu", torch.float32)
    params = dict(built.model.named_parameters())
    assert params.keys() == dict(whole.model.named_parameters()).keys()
    assert not any(p.is_meta for p in params.values())
    for (name, got), (_, expected) in zip(
        built.model.named_buffers(), whole.model.named_buffers(), strict=True
    ):
        assert torch.equal(got, expected), name  # the rotary frequencies, computed again
    assert torch.equal(params["model.norm.weight"], torch.ones(64))
    weight = params["model.layers.0.mlp.gate_proj.weight"].detach()
    assert float(weight.mean()) == pytest.approx(0.0, abs=4e-3)
    assert float(weight.std()) == pytest.approx(0.02, rel=0.1)  # initializer_range
    with torch.no_grad():
        logits = built.model(torch.tensor(IDS), use_cache=False).logits
    assert logits.shape == (2, 6, 127) and bool(torch.isfinite(logits).all())
    again = _meta_tiny()
    materialize(again.model, "cpu", seed=3)
    head = dict(again.model.named_parameters())["lm_head.weight"]
    assert torch.equal(head, params["lm_head.weight"])  # the seed decides the weights


def test_a_buffer_the_meta_build_cannot_restore_is_refused() -> None:
    built = _meta_tiny()
    built.model.model.layers[0].register_buffer("scale", torch.ones(4, device="meta"))
    with pytest.raises(ValueError, match=r"model\.layers\.0\.scale"):
        materialize(built.model, "cpu", seed=0)


def test_sharded_steps_run_on_a_model_built_on_the_meta_device(spawned) -> None:
    # TINY over 2: q and o 64 x 32 each, one of the two KV heads (16 x 64 in k and v), 48 of
    # the 96 MLP columns in gate, up and down, norms whole; vocabulary rows ceil(127 / 2) = 64
    # in the embedding and the head.
    per_layer = 2 * 64 * 32 + 2 * 16 * 64 + 3 * 48 * 64 + 2 * 64
    assert spawned["model"]["params_per_device"] == 2 * per_layer + 2 * 64 * 64 + 64
    assert [r["stage"] for r in spawned["model"]["runs"]] == ["prefill", "decode"]
    assert all(r["eager"] > 0 for r in spawned["model"]["runs"])


@pytest.fixture(scope="module")
def cpu_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tp")
    (folder / "tiny.json").write_text(json.dumps(TINY))
    (folder / "cpu.toml").write_text(
        'name = "two-cpu"\nmemory_capacity = 8e9\nmemory_bandwidth = 2e10\n'
        "onchip_memory_per_unit = 1e6\nhost_bandwidth = 1e10\n[peak_ops]\nfp32 = 1e11\n"
    )
    return folder


@pytest.fixture(scope="module")
def measured(cpu_files) -> dict:
    res = CliRunner().invoke(
        app,
        [
            "measure",
            str(cpu_files / "tiny.json"),
            "--device",
            "cpu",
            "--hardware",
            str(cpu_files / "cpu.toml"),
            "--tp",
            "2",
            "--batch",
            "2",
            "--prompt-len",
            "16",
            "--gen-len",
            "4",
            "--calibration",
            "h100-sxm",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_gloo_collective_times_are_positive_and_grow_with_size(measured) -> None:
    assert measured["world_size"] == 2 and measured["tp"] == 2
    for kind in KINDS:
        points = sorted(
            (c["bytes"], c["time"]) for c in measured["collectives"] if c["kind"] == kind
        )
        assert [b for b, _ in points] == [4096, 262144, 16777216]
        assert all(t > 0 for _, t in points)
        assert points[-1][1] > points[0][1]  # 16 MiB take longer than 4 KiB
    assert measured["link"]["bandwidth"] > 0 and measured["link"]["latency"] >= 0


def test_measure_tp_rows_compare_sharded_steps_with_tp_predictions(measured) -> None:
    rows = {r["quantity"]: r for r in measured["rows"]}
    assert {"prefill step (eager)", "decode step (eager)", "all_reduce over 2, 16 MiB"} <= set(rows)
    for row in measured["rows"]:
        assert row["measured"] > 0
        assert row["roofline_error"] == pytest.approx(row["roofline"] / row["measured"] - 1)
        assert row["calibrated_error"] == pytest.approx(row["calibrated"] / row["measured"] - 1)
    spec = spec_from_config(TINY, name="tiny")
    device = Device(
        name="two-cpu",
        memory_capacity=8e9,
        memory_bandwidth=2e10,
        peak_ops={"fp32": 1e11},
        onchip_memory_per_unit=1e6,
        host_bandwidth=1e10,
    )
    tp2 = AnalysisOptions(flash_attention=True, parallelism=Parallelism(tp=2))
    bound = analyze(spec, device, batch=2, prompt_len=16, gen_len=4, options=tp2)
    assert rows["decode step (eager)"]["roofline"] == pytest.approx(
        float(bound.totals()["decode"]["time"])
    )
    model = measured["models"][0]
    assert model["tp"] == 2
    assert [r["stage"] for r in model["runs"]] == ["prefill", "decode", "decode"]


def test_report_renders_cpu_measured_collectives_and_steps(measured) -> None:
    device = Device(
        name="two-cpu",
        memory_capacity=8e9,
        memory_bandwidth=2e10,
        peak_ops={"fp32": 1e11},
        onchip_memory_per_unit=1e6,
        host_bandwidth=1e10,
    )
    lines, fit = parallel_section([measured], device, load_profile("h100-sxm"))
    text = "\n".join(lines)
    assert f"**{fit.bandwidth / 1e9:.0f} GB/s**" in text and "gloo" in text
    assert "| collectives (alone) | 9 |" in text
    assert "| TP decode step (eager) | 2 |" in text
    assert "| all_to_all | 2 | 16 MiB |" in text


# The report from synthetic measurements ----------------------------------------------------


def _synthetic_raw() -> dict:
    """An 8-GPU file whose collectives follow a known link and whose steps take 1 / 0.96 of
    the calibrated estimate (an error of -4 %)."""
    profile = with_link(load_profile("h100-sxm"), fit_link(_synthetic_collectives()), "known")
    collectives = _synthetic_collectives()
    for c in collectives:
        c["time"] += profile.kernel_time
    spec = "meta-llama/Llama-3.1-8B"
    runs = []
    for stage, new, past in (("prefill", 512, 0), ("decode", 1, 2048)):
        length = new if stage == "prefill" else past
        run = {"stage": stage, "batch": 8, "new_tokens": new, "past": past}
        for key, execution in (("graph", "graphs"), ("eager", "eager")):
            options = AnalysisOptions(
                flash_attention=True,
                allow_long_context=True,
                calibration=profile,
                execution=execution,
                parallelism=Parallelism(tp=8),
            )
            h100, llama = get_device("h100-sxm"), load_model(spec)
            predicted = analyze(llama, h100, batch=8, prompt_len=length, options=options)
            run[key] = float(predicted.totals()[stage]["time"]) / 0.96
        runs.append(run)
    environment = {
        "date": "2026-01-01T00:00:00+00:00",
        "device_name": "NVIDIA H100 80GB HBM3",
        "backend": "nccl",
        "nccl": "2.27.3",
        "torch": "2.11.0",
        "transformers": "5.17.0",
        "env": {"NCCL_NVLS_ENABLE": "0"},
    }
    return {
        "environment": environment,
        "hardware": "h100-sxm",
        "world_size": 8,
        "collectives": collectives,
        "models": [{"model": spec, "tp": 8, "runs": runs, "skipped": []}],
    }


def test_report_section_meets_targets_on_synthetic_measurements(tmp_path) -> None:
    lines = parallel_sections([_synthetic_raw()], tmp_path)
    text = "\n".join(lines)
    assert "## Several devices: NVIDIA H100 80GB HBM3 × 8 (`h100-sxm`)" in text
    assert "**370 GB/s** per direction and **6.00 µs** per ring step" in text
    # Calibrated collectives: the measured tables, each size predicted without itself; the
    # ring model over the fitted link, in sample, reproduces this link exactly.
    assert "| collectives (alone) | 66 |" in text
    assert "| all_reduce | 8 | 11 | 0.0 % / 0.0 % |" in text
    assert "| TP decode step (graphs) | 1 |" in text and "4.0 % / 4.0 %" in text
    assert "NCCL_NVLS_ENABLE=0" in text
    saved = load_profile(tmp_path / "h100-sxm.toml")  # the device's profile gains the link
    assert saved.link_bandwidth == pytest.approx(BANDWIDTH, rel=1e-9)
    assert saved.link_latency == pytest.approx(LATENCY, rel=1e-9)
    assert "nccl" in saved.provenance["link"]
    # ... and the measured tables, which give back each measured time (less the kernel's
    # fixed time, which the analysis adds to every operator).
    point = next(
        c for c in _synthetic_collectives() if c["kind"] == "all_reduce" and c["ranks"] == 8
    )
    table = saved.collective_time("all_reduce", 8, np.array([float(point["bytes"])]))
    assert float(table[0]) == pytest.approx(point["time"], rel=1e-9)


def test_one_gpu_dry_run_renders_steps_but_fits_no_link() -> None:
    """The committed NCCL run at world size 1 (H100): the sharded path measured what the
    single-GPU path does, within the targets; one device gives no link to fit."""
    folder = Path(rooflens.calibration.__file__).parent / "measurements"
    raw = json.loads((folder / "parallel-tp1-h100.json").read_text())
    assert raw["world_size"] == 1 and raw["environment"]["backend"] == "nccl"
    assert {c["method"] for c in raw["collectives"]} == {"cuda-graph replay"}
    h100, profile = get_device("h100-sxm"), load_profile("h100-sxm")
    summary = summarize(step_rows(raw, h100, profile))
    assert summary["TP prefill (graphs)"]["points"] == 8
    assert summary["TP decode step (graphs)"]["calibrated_median"] <= 0.10
    assert summary["TP decode step (graphs)"]["calibrated_max"] <= 0.25
    with pytest.raises(InvalidInputError, match="at least 2 devices"):
        parallel_section([raw], h100, profile)


# Bad input ---------------------------------------------------------------------------------


def test_more_processes_than_gpus_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(InvalidInputError, match=r"--tp=3 .*from 1 to 2, the GPUs"):
        check_world("cuda", 3)
    check_world("cuda", 2)


def test_models_the_sharding_cannot_split_are_refused() -> None:
    h100 = get_device("h100-sxm")
    with pytest.raises(InvalidInputError, match=r"tp=3 .*4 attention heads"):
        check_model(TINY, spec_from_config(TINY, name="tiny"), h100, 3)
    gpt2 = {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 128}
    with pytest.raises(InvalidInputError, match=r"model='gpt2'.*llama"):
        check_model(gpt2, spec_from_config(gpt2, name="gpt2"), h100, 2)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["measure", "{tiny}", "--tp", "0"], "--tp"),
        (["calibrate", "--collectives", "--tp", "1"], "--tp"),
        (["calibrate", "--tp", "2"], "--tp"),
    ],
)
def test_cli_refuses_bad_device_counts(cpu_files, args: list[str], field: str) -> None:
    common = ["--device", "cpu", "--hardware", str(cpu_files / "cpu.toml")]
    argv = [a.format(tiny=cpu_files / "tiny.json") for a in args] + common
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 2 and field in res.output, res.output


def test_calibrate_collectives_writes_the_link_into_the_profile(cpu_files) -> None:
    out, raw = cpu_files / "linked.toml", cpu_files / "collectives.json"
    res = CliRunner().invoke(
        app,
        [
            "calibrate",
            "--collectives",
            "--device",
            "cpu",
            "--hardware",
            str(cpu_files / "cpu.toml"),
            "--tp",
            "2",
            "--calibration",
            "h100-sxm",
            "-o",
            str(out),
            "--raw",
            str(raw),
        ],
    )
    assert res.exit_code == 0, res.output
    profile, base = load_profile(out), load_profile("h100-sxm")
    fit = fit_link(json.loads(raw.read_text())["collectives"], base.kernel_time)
    assert profile.link_bandwidth == pytest.approx(fit.bandwidth)
    assert profile.link_latency == pytest.approx(fit.latency)
    assert profile.classes == base.classes and "gloo" in profile.provenance["link"]
