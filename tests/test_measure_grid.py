"""The time-boxed grid on the CPU: one tiny MoE model end to end, and a failing model that
leaves one line and the file standing."""

from __future__ import annotations

import json

import pytest

from rooflens.core import Device
from rooflens.measure import grid
from rooflens.measure.grid import main, measure_one

TINY_MOE = {
    "model_type": "qwen3_moe",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 128,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "max_position_embeddings": 512,
}
CPU = Device(
    name="cpu",
    memory_capacity=8e9,
    memory_bandwidth=2e10,
    peak_ops={"fp32": 1e11, "bf16": 1e11},
    onchip_memory_per_unit=1e6,
)


def test_one_model_steps_operators_and_framework_kernels() -> None:
    entry, operators, framework = measure_one(
        "tiny-moe",
        "cpu",
        CPU,
        points=((1, 8, 0), (2, 1, 16)),
        operator_points=((2, 1, 16),),
        config=TINY_MOE,
    )
    assert [(r["stage"], r["batch"], r["past"]) for r in entry["runs"]] == [
        ("prefill", 1, 0),
        ("decode", 2, 16),
    ]
    assert entry["attention"] == "rooflens_gqa" and not entry["skipped"]
    assert all(r["attended_keys"] == [17, 17] for r in entry["runs"] if r["stage"] == "decode")
    names = {r["name"] for r in operators}
    assert {"router", "expert_gate_proj", "q_norm"} <= names
    kernels = {r["kernel"]: r for r in framework}
    assert kernels["q_norm module"]["operator"] == "q_norm"
    # The analysis prices 16-bit: 2 B per element in and out plus the 16 weights, for 2
    # tokens x 4 heads x 16; the fp32 framework kernels move more.
    assert kernels["q_norm module"]["roofline_bytes"] == 2 * 4 * 16 * 4 + 16 * 2
    assert kernels["q_norm module"]["kernel_bytes"] > kernels["q_norm module"]["roofline_bytes"]


def test_failing_model_is_one_line_and_the_file_is_written(tmp_path) -> None:
    out = tmp_path / "grid.json"
    hardware = tmp_path / "cpu.toml"
    hardware.write_text(
        'name = "cpu"\nmemory_capacity = 8e9\nmemory_bandwidth = 2e10\n'
        "onchip_memory_per_unit = 1e6\n[peak_ops]\nfp32 = 1e11\n"
    )
    main(["--out", str(out), "--device", "cpu", "--hardware", str(hardware), "--models", "no/such"])
    raw = json.loads(out.read_text())
    assert raw["models"][0]["model"] == "no/such"
    assert raw["models"][0]["failed"].startswith("ModelFetchError")
    assert "\n" not in raw["models"][0]["failed"]


def test_chosen_points_only(tmp_path, monkeypatch) -> None:
    """`--point` measures just the points asked for (one an earlier run ran out of time for),
    in the order given."""
    asked = []

    def measure(model_id, device, spec, points, **kwargs):
        asked.append(points)
        return {"model": model_id, "runs": []}, [], []

    monkeypatch.setattr(grid, "measure_one", measure)
    hardware = tmp_path / "cpu.toml"
    hardware.write_text(
        'name = "cpu"\nmemory_capacity = 8e9\nmemory_bandwidth = 2e10\n'
        "onchip_memory_per_unit = 1e6\n[peak_ops]\nfp32 = 1e11\n"
    )
    main(["--out", str(tmp_path / "grid.json"), "--device", "cpu", "--hardware", str(hardware),
          "--compiled", "--models", "Qwen/Qwen3-30B-A3B", "--point", "32,1,2048",
          "--point", "8,1,8192"])  # fmt: skip
    assert asked == [((32, 1, 2048), (8, 1, 8192))]


def test_a_bad_point_names_what_it_takes(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--out", "unused.json", "--device", "cpu", "--point", "32,1"])
    assert stopped.value.code == 2
    assert "argument --point: '32,1': expected BATCH,NEW,PAST" in capsys.readouterr().err
