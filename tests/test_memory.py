"""Memory footprint: weights with quantization overhead, KV cache, liveness of temporaries."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.core import AnalysisOptions, Quantization, analyze


def test_weights_kv_and_peak_activations_by_hand(tiny_model, toy_device) -> None:
    mem = analyze(tiny_model, toy_device, batch=2, prompt_len=8).memory["prefill"]
    assert mem.weights == 86848 * 2
    assert mem.kv_cache == 2 * 2 * 32 * 2 * 8 * 2  # K and V x layers x kv_dim x b x s x bytes
    # Peak at mlp_act: residual x2 (2048) + gate, up and act (4096 each).
    assert mem.activations == 2048 + 3 * 4096


def test_group_quantization_counts_scales_and_zeros(tiny_model, toy_device) -> None:
    quant = Quantization(w_bits=4, group_size=32)
    mem = analyze(
        tiny_model, toy_device, batch=2, prompt_len=8, options=AnalysisOptions(quantization=quant)
    ).memory["prefill"]
    linear = 2 * 36864 * (4 + (16 + 4) / 32) / 8  # fp16 scale + 4-bit zero per 32 weights
    kept_16bit = (6400 + 6400 + 2 * 128 + 64) * 2  # embeddings, head, norms
    assert mem.weights == pytest.approx(linear + kept_16bit)


def test_decode_kv_includes_the_new_token(tiny_model, toy_device) -> None:
    mem = analyze(tiny_model, toy_device, batch=1, prompt_len=100).memory
    assert mem["decode"].kv_cache / mem["prefill"].kv_cache == pytest.approx(101 / 100)


def test_generation_keeps_every_token_but_the_last(tiny_model, toy_device) -> None:
    mem = analyze(tiny_model, toy_device, batch=1, prompt_len=100, gen_len=50).memory
    per_token = 2 * 2 * 32 * 2
    assert mem["generation"].kv_cache == per_token * 149


def test_flash_attention_drops_the_score_matrix(tiny_model, toy_device) -> None:
    eager = analyze(tiny_model, toy_device, batch=4, prompt_len=512).memory["prefill"]
    flash = analyze(
        tiny_model,
        toy_device,
        batch=4,
        prompt_len=512,
        options=AnalysisOptions(flash_attention=True),
    ).memory["prefill"]
    scores = 4 * 4 * 512 * 512 * 2
    assert eager.activations >= 2 * scores  # scores and probabilities alive together
    assert flash.activations < scores


def test_largest_batch_fits_and_one_more_does_not(tiny_model, toy_device) -> None:
    small = toy_device.model_copy(update={"memory_capacity": 5e6})
    mem = analyze(tiny_model, small, batch=1, prompt_len=256).memory["decode"]
    best = int(mem.max_batch)
    assert best >= 1
    at = analyze(tiny_model, small, batch=[best, best + 1], prompt_len=256).memory["decode"]
    assert list(at.fits) == [True, False]


def test_model_larger_than_device_fits_no_batch(tiny_model, toy_device) -> None:
    tiny_device = toy_device.model_copy(update={"memory_capacity": 1e5})
    mem = analyze(tiny_model, tiny_device, batch=1, prompt_len=8).memory["prefill"]
    assert not mem.fits and mem.max_batch == 0


def test_footprint_arrays_follow_sweep_shape(tiny_model, toy_device) -> None:
    result = analyze(
        tiny_model, toy_device, batch=np.array([[1], [2]]), prompt_len=np.array([8, 16, 32])
    )
    assert result.memory["prefill"].total.shape == (2, 3)


def test_an_engines_reserve_holds_one_iteration_whatever_the_batch(tiny_model, toy_device) -> None:
    # 896 bytes a prompt token at the peak (mlp_act, the first test): an engine reserving a
    # 4-token iteration holds 3,584 bytes in every stage, at any batch and prompt.
    options = AnalysisOptions(activation_reserve_tokens=4)
    for batch in (2, 64):
        memory = analyze(
            tiny_model, toy_device, batch=batch, prompt_len=8, gen_len=4, options=options
        ).memory
        assert {stage: float(fp.activations) for stage, fp in memory.items()} == {
            "prefill": 4 * 896,
            "decode": 4 * 896,
            "generation": 4 * 896,
        }
    # The reserve is set aside first: the largest batch divides what is left by the cache.
    peak = analyze(tiny_model, toy_device, batch=1, prompt_len=8, gen_len=4, options=options)
    fp = peak.peak_memory
    room = toy_device.memory_capacity - float(fp.weights) - 4 * 896
    best = int(fp.max_batch)
    assert best == int(room // float(fp.kv_cache))
    at = analyze(
        tiny_model, toy_device, batch=[best, best + 1], prompt_len=8, gen_len=4, options=options
    )
    assert list(at.peak_memory.fits) == [True, False]
    assert fp.reserved and not analyze(tiny_model, toy_device).peak_memory.reserved


def test_a_scheduler_that_runs_prompts_whole_reserves_the_longest(tiny_model, toy_device) -> None:
    whole = AnalysisOptions(activation_reserve_tokens=4, reserve_whole_prompts=True)
    memory = analyze(tiny_model, toy_device, batch=2, prompt_len=8, options=whole).memory
    assert float(memory["prefill"].activations) == 8 * 896  # one 8-token prompt, not two
    shorter = analyze(tiny_model, toy_device, batch=2, prompt_len=3, options=whole).memory
    assert float(shorter["prefill"].activations) == 4 * 896


def test_a_global_layer_beside_window_layers_holds_its_whole_score_matrix() -> None:
    """gpt-oss alternates 128-key window layers with global ones, both writing the scores and
    probabilities: the peak is the global layer's, where both matrices of every head are
    alive, as in the same model with only global layers (each variant's tensors live one
    after the other, never together). Eager attention scores a window layer's prompt against
    all of it and masks (transformers' sliding-window cache hands it the whole prompt), so
    the window layers' matrices are as large; fused, no layer holds them."""
    import json

    from rooflens import api
    from rooflens.models.catalog import load_model
    from rooflens.models.config import spec_from_config

    path = "src/rooflens/models/configs/openai--gpt-oss-20b.json"
    with open(path) as f:
        config = json.load(f)
    prompt = 8192
    mixed = api.analyze(load_model("openai/gpt-oss-20b"), "h100-sxm", prompt_len=prompt)
    config["layer_types"] = ["full_attention"] * len(config["layer_types"])
    full = api.analyze(spec_from_config(config, "global"), "h100-sxm", prompt_len=prompt)
    config["layer_types"] = ["sliding_attention"] * len(config["layer_types"])
    window = api.analyze(spec_from_config(config, "window"), "h100-sxm", prompt_len=prompt)
    peak = {
        k: float(a.memory["prefill"].activations)
        for k, a in (("mixed", mixed), ("full", full), ("window", window))
    }
    scores = 64 * prompt * prompt * 2  # 64 heads, bf16: the scores, and the probabilities
    assert peak["mixed"] == peak["full"]
    assert peak["mixed"] >= 2 * scores
    assert peak["window"] == peak["full"]
    fused = api.analyze(
        spec_from_config(config, "window"), "h100-sxm", prompt_len=prompt, flash_attention=True
    )
    assert float(fused.memory["prefill"].activations) < scores / 10


def test_a_pipeline_stage_holds_the_embedding_or_the_head_not_both() -> None:
    """Every stage was charged the embedding and the untied head: Llama-3.1-8B at pp 4
    printed 5.59 GB per device. The heaviest stage holds 8 layers (436,224,000 B each) and the
    larger of the embedding (first stage) and the final norm with the head (last stage)."""
    layer, table = 218_112_000 * 2, 128256 * 4096 * 2
    result = rooflens.analyze("meta-llama/Llama-3.1-8B", "l4", pp=4)
    assert result.memory["decode"].weights == 8 * layer + table + 4096 * 2
    # A tied head's last stage holds its own copy of the table beside the norm.
    tied = rooflens.analyze("Qwen/Qwen2.5-0.5B", "l4", pp=2)
    whole = rooflens.analyze("Qwen/Qwen2.5-0.5B", "l4")
    table = 151936 * 896 * 2
    stage = (whole.memory["decode"].weights - table - 896 * 2) / 2 + table + 896 * 2
    assert tied.memory["decode"].weights == pytest.approx(stage)


def test_kv_cache_is_whole_bytes() -> None:
    """Gemma 3 1B keeps 22 of its 26 layers' keys within a 512-token window: the layer shares
    are fractions, which left 142606336.00000003 bytes at 32,000 tokens."""
    mem = rooflens.analyze("google/gemma-3-1b-it", "h100-sxm", prompt_len=32000).memory
    # 4 global layers x 32,000 tokens + 22 windowed x 512, 1 KV head of 256 x 2 (K, V) x 2 B.
    assert mem["prefill"].kv_cache == (4 * 32000 + 22 * 512) * 256 * 2 * 2


@pytest.mark.parametrize(
    ("model", "kv_bits", "per_layer"),
    [
        # FlashMLA's sparse FP8 layout: 512 FP8 values + 4 fp32 scales + 64 x 2 rotary bytes,
        # and the FP8 index key (128 values + an fp32 scale).
        ("deepseek-ai/DeepSeek-V3.2", 8, 512 + 4 * 4 + 64 * 2 + 132),
        ("zai-org/GLM-5", 8, 656 + 132),
        # 16 bits: the latent and rotary key at 2 bytes each; a dense MLA's FP8: 576 bytes.
        ("deepseek-ai/DeepSeek-V3.2", 16, 576 * 2 + 132),
        ("deepseek-ai/DeepSeek-V3", 8, 576),
    ],
)
def test_a_sparse_latent_fp8_cache_holds_its_scales_and_a_16_bit_rotary_key(
    model, kv_bits, per_layer
) -> None:
    from rooflens.core.memory import kv_bytes_per_token
    from rooflens.models.catalog import load_model

    spec = load_model(model)
    held = kv_bytes_per_token(spec, Quantization(kv_bits=kv_bits))
    assert held == spec.num_layers * per_layer


def test_reprs_read_as_numbers(tiny_model, toy_device) -> None:
    """A point's footprint shows plain numbers (no 0-d arrays); an analysis shows its inputs
    (a sweep's axes as their distinct values), not every field of its model."""
    point = analyze(tiny_model, toy_device, batch=2, prompt_len=8)
    shown = repr(point.memory["prefill"])
    assert "array(" not in shown and "np.float64" not in shown
    assert f"weights={86848 * 2 * 1.0!r}" in shown and "reserved=False" in shown
    assert repr(point) == (
        f"Analysis(model={tiny_model.name!r}, device={toy_device.name!r}, batch=2, "
        "prompt_len=8, gen_len=None, shape=())"
    )
    swept = analyze(tiny_model, toy_device, batch=np.array([1, 4, 4]), prompt_len=8, gen_len=3)
    assert repr(swept).endswith("batch=[1, 4], prompt_len=[8], gen_len=[3], shape=(3,))")
    assert "array([" in repr(swept.memory["prefill"])  # a sweep's arrays stay arrays
