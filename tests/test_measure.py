"""The measurement path on the CPU build of torch: tiny real models, end to end.

Timing values are not asserted (no thresholds); what is checked is that the pipeline runs,
that what it times is what the analysis describes, and that errors are computed right.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from rooflens.cli.app import app
from rooflens.core import AnalysisOptions, Device, build_graph
from rooflens.measure.kernels import operator_call
from rooflens.measure.model_runs import ModelRunner
from rooflens.models import spec_from_config

TINY = {
    "llama": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
    },
    "mistral": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "vocab_size": 128,
    },
    "qwen2": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "tie_word_embeddings": True,
    },
    "qwen3": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "head_dim": 32,
    },
    "gemma": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "vocab_size": 128,
        "head_dim": 32,
    },
    "gemma2": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "head_dim": 16,
    },
    "phi3": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 128,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 1,
    },
    "opt": {
        "hidden_size": 64,
        "ffn_dim": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 128,
        "max_position_embeddings": 64,
        "word_embed_proj_dim": 32,
        "do_layer_norm_before": False,
    },
    "gpt2": {"n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 128, "n_positions": 64},
    "gptj": {
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 4,
        "vocab_size": 128,
        "n_positions": 64,
        "rotary_dim": 8,
    },
    "gpt_neox": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 128,
    },
    "mixtral": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
    },
    "qwen2_moe": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "shared_expert_intermediate_size": 48,
    },
    "qwen3_moe": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "head_dim": 16,
    },
    "deepseek_v3": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 128,
        "q_lora_rank": 24,
        "kv_lora_rank": 16,
        "qk_nope_head_dim": 8,
        "qk_rope_head_dim": 4,
        "v_head_dim": 8,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 16,
        "n_shared_experts": 1,
        "first_k_dense_replace": 1,
        "n_group": 1,
        "topk_group": 1,
    },
    "falcon": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 128,
        "new_decoder_architecture": True,
        "num_kv_heads": 2,
    },
}


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_parameter_count_equals_transformers(model_type: str) -> None:
    """Every supported architecture, built by transformers itself, has exactly our count."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(model_type, **TINY[model_type])
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    spec = spec_from_config({"model_type": model_type, **TINY[model_type]})
    assert build_graph(spec, AnalysisOptions()).params() == sum(
        p.numel() for p in model.parameters()
    )


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_every_operator_has_a_kernel_producing_the_analysed_output(model_type: str) -> None:
    spec = spec_from_config({"model_type": model_type, **TINY[model_type]})
    device = Device(
        name="cpu",
        memory_capacity=1e9,
        memory_bandwidth=1e10,
        peak_ops={"fp32": 1e11},
        onchip_memory_per_unit=65536,
    )
    graph = build_graph(spec, AnalysisOptions(flash_attention=True), device)
    for op in graph.operators:
        call = operator_call(op, 2, 3, 0, torch.float32, "cpu")
        assert call is not None, op.name
        out = call()
        elems = op.output_bytes(*_step(2, 3, 0), _prec())
        if elems.item() > 0:  # KV-cache writes have no temporary output
            assert out.numel() * 2 == elems.item(), op.name


def _step(b, q, p):
    import numpy as np

    from rooflens.core.operators import Step

    return (Step(np.array(float(b)), np.array(float(q)), np.array(float(p))),)


def _prec():
    from rooflens.core.operators import Precision
    from rooflens.core.options import Quantization

    return Precision(Quantization())


def test_gqa_attention_matches_stock_attention() -> None:
    config = {"model_type": "llama", **TINY["llama"]}
    stock = ModelRunner(config, "cpu", torch.float32, attention="sdpa")
    ours = ModelRunner(config, "cpu", torch.float32)
    ours.model.load_state_dict(stock.model.state_dict())
    ids = torch.randint(0, 128, (2, 9))
    with torch.no_grad():
        assert torch.allclose(stock.model(ids).logits, ours.model(ids).logits, atol=1e-5)


def test_model_run_repeats_the_same_step() -> None:
    runner = ModelRunner({"model_type": "llama", **TINY["llama"]}, "cpu", torch.float32)
    result = runner.run(batch=2, new_tokens=1, past=16)
    assert result["eager"] > 0 and (result["batch"], result["past"]) == (2, 16)


@pytest.fixture(scope="module")
def cpu_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cpu")
    (folder / "tiny.json").write_text(
        json.dumps({"model_type": "llama", **TINY["llama"], "max_position_embeddings": 512})
    )
    (folder / "cpu.toml").write_text(
        "memory_capacity = 8e9\nmemory_bandwidth = 2e10\n"
        "onchip_memory_per_unit = 1e6\n[peak_ops]\nfp32 = 1e11\n"
    )
    return folder


def test_calibrate_then_measure_end_to_end(cpu_files) -> None:
    runner = CliRunner()
    profile, raw = cpu_files / "profile.toml", cpu_files / "raw.json"
    res = runner.invoke(
        app,
        [
            "calibrate",
            "--device",
            "cpu",
            "--hardware",
            str(cpu_files / "cpu.toml"),
            "--model",
            str(cpu_files / "tiny.json"),
            "-o",
            str(profile),
            "--raw",
            str(raw),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(raw.read_text())
    assert data["suite"] and data["models"][0]["runs"]
    assert data["environment"]["torch"] == torch.__version__
    res = runner.invoke(
        app,
        [
            "measure",
            str(cpu_files / "tiny.json"),
            "--device",
            "cpu",
            "--hardware",
            str(cpu_files / "cpu.toml"),
            "--batch",
            "2",
            "--prompt-len",
            "16",
            "--gen-len",
            "4",
            "--calibration",
            str(profile),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    names = [r["quantity"] for r in result["rows"]]
    assert "decode step (eager)" in names and "prefill: q_proj" in names
    # A CPU captures no CUDA graphs: its steps are the eager ones, named so (they were also
    # printed as "(graphs)" rows holding the eager times).
    assert not [n for n in names if "graphs" in n]
    steps = names[: names.index("time per output token (eager)") + 1]
    assert steps == [
        "prefill step (eager)",
        "decode step (eager)",
        "time per output token (eager)",
    ]
    for row in result["rows"]:
        assert row["measured"] > 0
        assert row["roofline_error"] == pytest.approx(row["roofline"] / row["measured"] - 1)
        assert row["calibrated_error"] == pytest.approx(row["calibrated"] / row["measured"] - 1)


def test_measure_with_an_empty_calibration_is_the_roofline_bound_alone(cpu_files) -> None:
    """--calibration "" is what its help says, the roofline bound (it was looked up as a file
    named ""); the title gives the sizes as words, not a Python dict."""
    args = ["measure", str(cpu_files / "tiny.json"), "--device", "cpu", "--hardware",
            str(cpu_files / "cpu.toml"), "--prompt-len", "16", "--gen-len", "1",
            "--calibration", ""]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    title = res.stdout.splitlines()[0]
    assert title.endswith(" · batch 1 · prompt 16 · 1 token generated"), title
    assert "calibrated: no profile" in res.stdout
    # Its JSON and CSV keep the profile's columns, null (they were left out).
    res = CliRunner().invoke(app, [*args, "-f", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert all(r["calibrated"] is None and r["calibrated_error"] is None for r in rows)
    res = CliRunner().invoke(app, [*args, "-f", "csv"])
    assert res.stdout.splitlines()[0] == (
        "quantity,unit,measured,roofline,roofline_error,calibrated,calibrated_error"
    )


def test_measure_rejects_bad_input(cpu_files) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["measure", str(cpu_files / "tiny.json"), "--device", "tpu"])
    assert bad.exit_code == 2 and "--device" in bad.output
    no_hw = runner.invoke(app, ["measure", str(cpu_files / "tiny.json"), "--device", "cpu"])
    assert no_hw.exit_code == 2 and "--hardware" in no_hw.output


def test_measure_uses_real_weights_from_a_local_folder(tmp_path, cpu_files) -> None:
    config = {"model_type": "llama", **TINY["llama"], "max_position_embeddings": 512}
    source = ModelRunner(config, "cpu", torch.float32)
    source.model.save_pretrained(tmp_path / "ckpt")
    loaded = ModelRunner(config, "cpu", torch.float32, weights=str(tmp_path / "ckpt"))
    for name, tensor in source.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name
    res = CliRunner().invoke(
        app,
        [
            "measure",
            str(tmp_path / "ckpt"),
            "--device",
            "cpu",
            "--hardware",
            str(cpu_files / "cpu.toml"),
            "--prompt-len",
            "8",
            "--gen-len",
            "2",
            "--calibration",
            "auto",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["weights"] == str(tmp_path / "ckpt") and result["calibration"] is None
