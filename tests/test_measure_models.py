"""`measure` on every architecture of the catalog: a shrunken copy of one catalog config per
model_type, built by transformers and stepped on the CPU, with the keys each attention layer
attended checked against what the analysis prices (core.graph.attention_spans)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import transformers

from rooflens.core import AnalysisOptions
from rooflens.core.errors import ModelConfigError
from rooflens.core.graph import attention_spans
from rooflens.core.model import ModelSpec
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
    "top_k_experts": 2,
    "num_experts_per_token": 2,
    "num_expert_group": 1,
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
# Recurrent mixers at toy size, heads x head width matching the shrunken width where the
# architecture ties them (Mamba-2: heads x head_dim = expand x hidden_size = 128).
SHRINK |= {
    "mamba_d_ssm": 128,
    "mamba_n_heads": 8,
    "mamba_num_heads": 8,
    "mamba_d_head": 16,
    "mamba_head_dim": 16,
    "mamba_d_state": 16,
    "ssm_state_size": 16,
    "mamba_dt_rank": 8,
    "n_groups": 1,
    "mamba_n_groups": 1,
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 4,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
    "index_n_heads": 4,
    "index_head_dim": 16,
    # Gemma 3: one local layer, then the global one (5:1 in the full model).
    "sliding_window_pattern": 2,
    # Jamba: Mamba then attention, dense then MoE (attention every 8th layer from the 4th).
    "attn_layer_period": 2,
    "attn_layer_offset": 1,
    "expert_layer_period": 2,
    "expert_layer_offset": 1,
    # MiMo-V2-Flash: the sliding layers' own shape (twice the toy's 2 KV heads, as transformers
    # builds them), and the window as sliding_window_size + 1.
    "swa_num_attention_heads": 4,
    "swa_num_key_value_heads": 4,
    "swa_head_dim": 16,
    "swa_v_head_dim": 16,
    "sliding_window_size": WINDOW - 1,
}
TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")
# Bundled configs whose language model transformers cannot build without the checkpoint's own
# code: Kimi K3 (model_type kimi_linear, but with SiTU, a latent MoE and attention residuals);
# MiniMax-M3 (transformers ships it only inside its multimodal minimax_m3_vl classes); Ling 2.0
# (bailing_moe: inclusionAI's modeling_bailing_moe_v2, not in transformers).
# DeepSeek-V4 builds, but attends through its own compressor modules (window plus compressed
# entries), not through the attention function whose keys measure records.
NEEDS_REMOTE_CODE = {
    "moonshotai--Kimi-K3.json",
    "MiniMaxAI--MiniMax-M3.json",
    "deepseek-ai--DeepSeek-V4-Flash.json",
    "deepseek-ai--DeepSeek-V4-Pro.json",
    # Step 3.7: transformers builds its language model only inside Step3p7ForConditionalGeneration.
    "stepfun-ai--Step-3.7-Flash.json",
    "inclusionAI--Ling-mini-2.0.json",
    # MiniMax-M3 as published (minimax_m3_vl): its text_config names no model_type to shrink
    # apart, and transformers builds that language model only inside the multimodal class.
    "MiniMaxAI--MiniMax-M3-MXFP8.json",
    # Llama-Nemotron: NVIDIA's DeciLM code (model_type nemotron-nas), not in transformers.
    "nvidia--Llama-3_3-Nemotron-Super-49B-v1.json",
    "nvidia--Llama-3_1-Nemotron-Ultra-253B-v1.json",
}


def one_of_each(kinds: list) -> list:
    """A per-layer pattern cut to one layer of each kind in the order they first appear (at
    least 2 layers): every kind of layer is built, in few layers."""
    seen = list(dict.fromkeys(kinds))
    return seen + seen[-1:] * (2 - len(seen))


def shrink(config: dict) -> dict:
    """The same architecture at toy size: only fields the config already sets are changed;
    per-layer patterns keep one layer of each kind, and the layer count follows them."""
    out = {k: (SHRINK[k] if k in SHRINK and v is not None else v) for k, v in config.items()}
    # Hunyuan writes its MoE fields once per layer: one toy value per toy layer, the experts'
    # width kept equal to intermediate_size where the full config has them equal.
    widths = config.get("moe_intermediate_size")
    tied = isinstance(widths, list) and set(widths) == {config.get("intermediate_size")}
    per_layer = {
        "moe_topk": SHRINK["num_experts_per_tok"],
        "moe_intermediate_size": SHRINK["intermediate_size" if tied else "moe_intermediate_size"],
    }
    for key in ("moe_topk", "num_shared_expert", "moe_intermediate_size"):
        if isinstance(config.get(key), list):
            out[key] = [per_layer.get(key, config[key][0])] * SHRINK["num_hidden_layers"]
    kv = config.get("num_key_value_heads")
    if kv is not None:  # keep multi-head attention multi-head, and grouped attention grouped
        out["num_key_value_heads"] = 4 if kv == config.get("num_attention_heads") else 2
    for key in TOKEN_IDS:  # inside the toy vocabulary (Kimi Linear's class defaults are not)
        if not isinstance(out.get(key), list) and (out.get(key) or 0) >= SHRINK["vocab_size"]:
            out[key] = 1
        out.setdefault(key, 1)
    for key in ("layer_types", "attn_type_list"):  # Qwen3-Next, Granite-H; MiniMax-Text
        if isinstance(config.get(key), list):
            out[key] = one_of_each(config[key])
            out["num_hidden_layers"] = len(out[key])
    # MiMo-V2-Flash: a full then a sliding layer, a dense then an MoE one (transformers' own
    # default layout for 2 layers, which it builds whatever these lists say).
    for key in ("hybrid_layer_pattern", "moe_layer_freq"):
        if isinstance(config.get(key), list):
            out[key] = one_of_each(config[key])
            out["num_hidden_layers"] = len(out[key])
    if isinstance(config.get("hybrid_override_pattern"), str):  # Nemotron-H: one char a layer
        out["hybrid_override_pattern"] = "".join(
            one_of_each(list(config["hybrid_override_pattern"]))
        )
        out["num_hidden_layers"] = len(out["hybrid_override_pattern"])
    linear = config.get("linear_attn_config")
    if isinstance(linear, dict):  # Kimi Linear: 1-based layer lists, KDA then full attention
        out["linear_attn_config"] = linear | {
            "kda_layers": [1],
            "full_attn_layers": [2],
            "num_heads": 4,
            "head_dim": 16,
        }
    out.pop("rope_scaling", None) if "factor" not in (config.get("rope_scaling") or {}) else None
    quant = config.get("quantization_config")
    if isinstance(quant, dict):  # module lists name the full model's layers; keep the toy's
        depth = out.get("num_hidden_layers") or 0
        out["quantization_config"] = {
            key: [
                name for name in value
                if not (m := re.search(r"layers\.(\d+)\.", str(name))) or int(m[1]) < depth
            ] if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
            for key, value in quant.items()
        }  # fmt: skip
    return out


def one_config_per_type() -> tuple[dict[str, dict], dict[str, dict]]:
    """One shrunken config per model_type; a multimodal wrapper is measured as its language
    model (its `text_config`), which is what the analysis prices. Second, the config the
    analysis reads for each: the wrapper holding the shrunken language model, where the reader
    knows only the wrapper (Qwen3-VL)."""
    found: dict[str, dict] = {}
    analysed: dict[str, dict] = {}
    for path in sorted(CONFIGS.glob("*.json")):
        if path.name in NEEDS_REMOTE_CODE:
            continue
        config = json.loads(path.read_text())
        text = config.get("text_config")
        if isinstance(text, dict) and text.get("model_type"):
            wrapper, config = config, text
            if text["model_type"] not in found:
                analysed[text["model_type"]] = wrapper | {"text_config": shrink(text)}
        found.setdefault(config["model_type"], shrink(config))
    return found, analysed


TYPES, WRAPPED = one_config_per_type()


def analysed_spec(model_type: str) -> ModelSpec:
    """The analysis's spec of the measured language model."""
    try:
        return spec_from_config(TYPES[model_type])
    except ModelConfigError:  # a language model the analysis reads only inside its wrapper
        return spec_from_config(WRAPPED[model_type])


def test_every_catalog_model_type_is_covered() -> None:
    assert set(TYPES) >= {"mistral", "gemma2", "phi3", "qwen3", "qwen3_moe", "mixtral"}
    assert set(TYPES) >= {"deepseek_v2", "falcon", "RefinedWebModel", "gpt2", "opt", "llama"}


@pytest.mark.parametrize("model_type", sorted(TYPES))
def test_measure_runs_each_architecture_and_attends_the_priced_keys(model_type: str) -> None:
    config = TYPES[model_type]
    # Counted on the meta device first (no memory): a field the shrink missed must not build a
    # full-size model on the CPU.
    assert ModelRunner(config, "meta", torch.float32).params() < 5_000_000
    torch.manual_seed(0)
    runner = ModelRunner(config, "cpu", torch.float32)
    spec = analysed_spec(model_type)
    past = 3 * WINDOW  # beyond any window: a windowed layer's decode sees the window only
    decode = runner.run(batch=2, new_tokens=1, past=past)
    prefill = runner.run(batch=1, new_tokens=2 * WINDOW, past=0)
    assert decode["eager"] > 0 and prefill["eager"] > 0
    if not runner.attention.startswith("rooflens_gqa"):  # transformers' own: whole sequence
        assert model_type in ("falcon", "RefinedWebModel", "gpt2", "gpt_neox", "gptj", "opt")
        assert spec.sliding_window is None
        return
    # Each layer's keys, as the analysis prices them: (layers, span) per kind of layer.
    priced = sorted(
        k
        for layers, span in attention_spans(spec, AnalysisOptions())
        for k in [min(past + 1, span or past + 1)] * (spec.num_layers if layers is None else layers)
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


def test_shrunken_hybrids_keep_each_kind_of_layer() -> None:
    # Nemotron 3 Nano stands for nemotron_h: Mamba2, MoE and attention layers.
    assert TYPES["nemotron_h"]["hybrid_override_pattern"] == "ME*"
    assert TYPES["nemotron_h"]["num_hidden_layers"] == 3
    assert TYPES["qwen3_next"]["layer_types"] == ["linear_attention", "full_attention"]
    assert TYPES["minimax"]["attn_type_list"] == [0, 1]
    assert TYPES["gpt_oss"]["layer_types"] == ["sliding_attention", "full_attention"]
    assert layer_windows(transformers_config(TYPES["gemma3_text"])) == [WINDOW, None]


def test_qwen3_vl_text_runs_as_its_text_model_with_a_vocabulary_head() -> None:
    runner = ModelRunner(TYPES["qwen3_vl_text"], "meta", torch.float32)
    assert runner.model_class() == "Qwen3VLTextModel with a vocabulary head"


def test_an_architecture_transformers_lacks_is_refused_with_its_reason() -> None:
    config = TYPES["llama"] | {"model_type": "no_such_architecture"}
    with pytest.raises(ModelConfigError) as refused:
        ModelRunner(config, "meta", torch.float32)
    assert str(refused.value) == (
        "model_type 'no_such_architecture' cannot be measured: transformers "
        f"{transformers.__version__} has no such architecture to build"
    )


def test_sparse_attention_attends_the_indexer_top_k_as_transformers_does() -> None:
    """DeepSeek-V3.2: with top-k 8 of 20 keys, the runner's attention (the decode gathers the
    chosen keys, the prefill masks the rest) gives transformers' own eager logits."""
    from transformers import DynamicCache

    config = TYPES["deepseek_v32"] | {"index_topk": 8}
    torch.manual_seed(0)
    ours = ModelRunner(config, "cpu", torch.float32)
    stock = ModelRunner(config, "cpu", torch.float32, attention="eager")
    stock.model.load_state_dict(ours.model.state_dict())
    dense = ModelRunner(TYPES["deepseek_v32"], "cpu", torch.float32)  # top-k 2048: every key
    dense.model.load_state_dict(ours.model.state_dict())
    ids = torch.randint(0, 128, (2, 21))
    logits = {}
    with torch.no_grad():
        for name, runner in (("ours", ours), ("stock", stock), ("dense", dense)):
            cache = DynamicCache(config=runner.config)
            prompt = runner.model(ids[:, :20], past_key_values=cache, use_cache=True).logits
            step = runner.model(ids[:, 20:], past_key_values=cache, use_cache=True).logits
            logits[name] = (prompt, step)
    assert torch.allclose(logits["ours"][0], logits["stock"][0], atol=1e-4)
    assert torch.allclose(logits["ours"][1], logits["stock"][1], atol=1e-4)
    # The top-k was applied: attending every key gives other logits.
    assert not torch.allclose(logits["dense"][1], logits["ours"][1], atol=1e-2)
    assert ours.attended_keys() == [8, 8]
    decode = ours.run(batch=2, new_tokens=1, past=3 * WINDOW)
    assert decode["attended_keys"] == [8, 8]
    assert decode["attention"] == "rooflens_gqa_masked"


# Catalog configs that transformers refuses, and the one line `measure` says for each.
UNMEASURABLE = {
    "meta-llama--Llama-4-Scout-17B-16E": (
        f"model_type 'llama4' cannot be measured: transformers {transformers.__version__} "
        "refuses its config.json: TypeError: Field 'attn_temperature_tuning' expected bool, "
        "got int (value: 4)"
    ),
    "MiniMaxAI--MiniMax-M3": (
        f"model_type 'minimax_m3' cannot be measured: transformers {transformers.__version__} "
        "has no such architecture to build"
    ),
    # Kimi K3 ships its own modeling code (trust_remote_code), which measure does not run.
    "moonshotai--Kimi-K3": (
        f"model_type 'kimi_k3' cannot be measured: transformers {transformers.__version__} "
        "has no such architecture to build"
    ),
    "stepfun-ai--Step-3.7-Flash": (
        f"model_type 'step3p5' cannot be measured: transformers {transformers.__version__} "
        "builds its language model (Step3p7TextConfig) only inside its multimodal model"
    ),
    # Ling 2.0 too (inclusionAI's modeling_bailing_moe_v2).
    "inclusionAI--Ling-mini-2.0": (
        f"model_type 'bailing_moe' cannot be measured: transformers {transformers.__version__} "
        "has no such architecture to build"
    ),
    **{
        name: (
            f"model_type 'nemotron-nas' cannot be measured: transformers "
            f"{transformers.__version__} has no such architecture to build"
        )
        for name in (
            "nvidia--Llama-3_3-Nemotron-Super-49B-v1",
            "nvidia--Llama-3_1-Nemotron-Ultra-253B-v1",
        )
    },
}


def test_every_catalog_config_builds_at_full_size_or_says_why_not() -> None:
    """Every catalog model at full size on the meta device (no memory): the class that would
    run its steps, or the declared reason it cannot be built."""
    built, refused = {}, {}
    for path in sorted(CONFIGS.glob("*.json")):
        config = json.loads(path.read_text())
        try:
            runner = ModelRunner(config, "meta", torch.bfloat16)
        except ModelConfigError as exc:
            refused[path.stem] = str(exc)
            continue
        built[path.stem] = runner.model_class()
    assert refused == UNMEASURABLE
    assert built["moonshotai--Kimi-K2-Instruct"] == "DeepseekV3ForCausalLM"
    # Multimodal wrappers without a causal-LM class run their language model alone.
    assert built["Qwen--Qwen3-VL-4B-Instruct"] == "Qwen3VLTextModel with a vocabulary head"
    assert built["mistralai--Mistral-Small-3.2-24B-Instruct-2506"] == "MistralForCausalLM"
    assert built["google--gemma-3-27b-it"] == "Gemma3ForConditionalGeneration"


def test_gemma3_windowed_layers_as_transformers_builds_them() -> None:
    """Gemma-3-1B: 26 layers, every 6th global (layers 6, 12, 18, 24): 22 windowed of 512."""
    config = json.loads((CONFIGS / "google--gemma-3-1b-it.json").read_text())
    windows = layer_windows(transformers_config(config))
    assert [i + 1 for i, w in enumerate(windows) if w is None] == [6, 12, 18, 24]
    spec = spec_from_config(config)
    assert (spec.window_layers, spec.sliding_window) == (22, 512)
    assert windows.count(512) == 22
