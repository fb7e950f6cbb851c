"""`measure` on every architecture of the catalog: a shrunken copy of one catalog config per
model_type, built by transformers and stepped on the CPU, with the keys each attention layer
attended checked against what the analysis prices (core.graph.attention_spans)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rooflens.core import AnalysisOptions
from rooflens.core.graph import attention_spans
from rooflens.measure.model_runs import ModelRunner, layer_windows, transformers_config
from rooflens.models import spec_from_config

CONFIGS = Path(__file__).parents[1] / "src" / "rooflens" / "models" / "configs"
WINDOW = 16

# Every size-like field a catalog config may carry, and its shrunken value: 2 layers (Gemma-2
# alternates windowed and full ones; DeepSeek keeps one dense layer, then MoE), width 64.
SHRINK = {
    "num_hidden_layers": 2,
    "n_layer": 2,
    "hidden_size": 64,
    "n_embd": 64,
    "word_embed_proj_dim": 64,
    "intermediate_size": 96,
    "ffn_dim": 96,
    "n_inner": 96,
    "num_attention_heads": 4,
    "n_head": 4,
    "head_dim": 16,
    "vocab_size": 128,
    "rotary_dim": 8,
    "num_local_experts": 4,
    "num_experts": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 48,
    "kv_lora_rank": 32,
    "q_lora_rank": 24,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16,
    "v_head_dim": 16,
    "n_group": 1,
    "topk_group": 1,
    "first_k_dense_replace": 1,
    "n_shared_experts": 1,
    "num_kv_heads": 2,
    "n_head_kv": 2,
    "sliding_window": WINDOW,
    "max_window_layers": 2,
}
TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")


def shrink(config: dict) -> dict:
    """The same architecture at toy size: only fields the config already sets are changed."""
    out = {k: (SHRINK[k] if k in SHRINK and v is not None else v) for k, v in config.items()}
    kv = config.get("num_key_value_heads")
    if kv is not None:  # keep multi-head attention multi-head, and grouped attention grouped
        out["num_key_value_heads"] = 4 if kv == config.get("num_attention_heads") else 2
    for key in TOKEN_IDS:
        if isinstance(out.get(key), int) and out[key] >= SHRINK["vocab_size"]:
            out[key] = 1
    out.pop("layer_types", None)
    out.pop("rope_scaling", None) if "factor" not in (config.get("rope_scaling") or {}) else None
    return out


def one_config_per_type() -> dict[str, dict]:
    """One shrunken config per model_type; a multimodal wrapper is measured as its language
    model (its `text_config`), which is what the analysis prices."""
    found: dict[str, dict] = {}
    for path in sorted(CONFIGS.glob("*.json")):
        config = json.loads(path.read_text())
        text = config.get("text_config")
        if isinstance(text, dict) and text.get("model_type"):
            config = text
        found.setdefault(config["model_type"], shrink(config))
    return found


TYPES = one_config_per_type()


def test_every_catalog_model_type_is_covered() -> None:
    assert set(TYPES) >= {"mistral", "gemma2", "phi3", "qwen3", "qwen3_moe", "mixtral"}
    assert set(TYPES) >= {"deepseek_v2", "falcon", "RefinedWebModel", "gpt2", "opt", "llama"}


@pytest.mark.parametrize("model_type", sorted(TYPES))
def test_measure_runs_each_architecture_and_attends_the_priced_keys(model_type: str) -> None:
    config = TYPES[model_type]
    torch.manual_seed(0)
    runner = ModelRunner(config, "cpu", torch.float32)
    spec = spec_from_config(config)
    past = 3 * WINDOW  # beyond any window: a windowed layer's decode sees the window only
    decode = runner.run(batch=2, new_tokens=1, past=past)
    prefill = runner.run(batch=1, new_tokens=2 * WINDOW, past=0)
    assert decode["eager"] > 0 and prefill["eager"] > 0
    if runner.attention != "rooflens_gqa":  # transformers' own attention: whole sequence
        assert model_type in ("falcon", "RefinedWebModel", "gpt2", "gpt_neox", "gptj", "opt")
        assert spec.sliding_window is None
        return
    # Each layer's keys, as the analysis prices them: (layers, span) per kind of layer.
    priced = sorted(
        k
        for layers, span in attention_spans(spec, AnalysisOptions())
        for k in [min(past + 1, span or past + 1)] * (layers or spec.num_layers)
    )
    assert sorted(decode["attended_keys"]) == priced
    priced_prefill = sorted(min(2 * WINDOW, k) for k in priced)
    assert sorted(prefill["attended_keys"]) == priced_prefill


def test_windows_per_layer_follow_the_architecture() -> None:
    assert layer_windows(transformers_config(TYPES["mistral"])) == [WINDOW, WINDOW]
    gemma = transformers_config(TYPES["gemma2"])
    assert layer_windows(gemma) == [WINDOW, None]  # even layers windowed, as priced
    assert layer_windows(transformers_config(TYPES["qwen2"])) == [None, None]  # window off


def test_windowed_prefill_equals_transformers_masked_attention() -> None:
    """The banded prefill gives transformers' own (eager, masked) logits."""
    config = TYPES["mistral"] | {"num_hidden_layers": 1}
    torch.manual_seed(0)
    ours = ModelRunner(config, "cpu", torch.float32)
    stock = ModelRunner(config, "cpu", torch.float32, attention="eager")
    stock.model.load_state_dict(ours.model.state_dict())
    ids = torch.randint(0, 128, (1, 3 * WINDOW))
    with torch.no_grad():
        got, want = ours.model(ids).logits, stock.model(ids).logits
    assert torch.allclose(got, want, atol=1e-4)
    full = ModelRunner(config | {"sliding_window": None}, "cpu", torch.float32)
    full.model.load_state_dict(ours.model.state_dict())
    with torch.no_grad():  # the window changes the result: it was applied
        assert not torch.allclose(full.model(ids).logits[:, -1], got[:, -1], atol=1e-3)


def test_compiled_flag_steps_through_torch_compile(monkeypatch) -> None:
    """Dynamo traces the step (inductor itself is left to the GPU run: its compile is slow)."""
    from rooflens.measure import model_runs

    assert model_runs.COMPILE_OPTIONS == {"mode": "reduce-overhead", "dynamic": False}
    monkeypatch.setattr(model_runs, "COMPILE_OPTIONS", {"backend": "eager", "dynamic": False})
    config = TYPES["mistral"] | {"num_hidden_layers": 1}
    torch.manual_seed(0)
    runner = ModelRunner(config, "cpu", torch.float32, compiled=True)
    result = runner.run(batch=1, new_tokens=1, past=3 * WINDOW)
    assert result["graph"] == result["eager"] > 0
    assert "torch.compile" in result["graph_method"]
    assert result["attended_keys"] == [WINDOW]
