"""Multi-head latent attention, by hand: latent cache, absorbed decode, decompressed prefill."""

from __future__ import annotations

import pytest

import rooflens
from rooflens.core import analyze
from rooflens.core.options import AnalysisOptions


@pytest.fixture
def mla(tiny_model):
    """The tiny model with latent attention: 4 heads of 12 (4 rotary), latent 16, values 8."""
    return tiny_model.model_copy(
        update={
            "name": "tiny-mla",
            "model_type": "deepseek_v3",
            "num_kv_heads": 4,
            "head_dim": 12,
            "intermediate_size": 96,
            "q_lora_rank": 24,
            "kv_lora_rank": 16,
            "qk_rope_head_dim": 4,
            "v_head_dim": 8,
        }
    )


def _row(result, stage: str, name: str):
    rows = result.operators()
    return rows[(rows.stage == stage) & (rows.name == name)].iloc[0]


def test_cache_holds_the_latent_and_rope_key(mla, toy_device) -> None:
    result = analyze(mla, toy_device, batch=2, prompt_len=10)
    assert result.memory["prefill"].kv_cache == 2 * 10 * 2 * (16 + 4) * 2  # b, s, layers, B
    kv_a = _row(result, "prefill", "kv_a_proj")
    assert kv_a.store_kv == 2 * 10 * 20 * 2


def test_decode_reads_the_latent_once_for_all_heads(mla, toy_device) -> None:
    result = analyze(mla, toy_device, batch=2, prompt_len=10)
    attn = _row(result, "decode", "latent_attention")
    keys = 11
    assert attn.load_kv == 2 * keys * 20 * 2  # not once per head
    assert attn.load_weight == 16 * 4 * (8 + 8) * 2  # W_UK and W_UV
    scores = 2 * 4 * 1 * keys
    absorbed = 2 * 2 * 4 * 8 * 16 + scores * (2 * 20 + 2 * 16 + 5) + 2 * 2 * 4 * 16 * 8
    assert attn.ops == absorbed


def test_prefill_decompresses_keys_and_values(mla, toy_device) -> None:
    fused = AnalysisOptions(flash_attention=True)
    result = analyze(mla, toy_device, batch=1, prompt_len=10, options=fused)
    attn = _row(result, "prefill", "latent_attention")
    pairs = 4 * 10 * 11 / 2  # causal pairs of 4 heads
    assert attn.ops == pytest.approx(2 * 10 * 16 * 4 * (8 + 8) + pairs * (2 * 12 + 2 * 8 + 5))


def test_unfused_latent_attention_is_counted_as_eager_attention(mla, toy_device) -> None:
    """Without FlashAttention the scores of the whole 10 x 10 block are computed (masked, as
    eager attention's), stored by QK^T, read and stored by the softmax and read by PV."""
    fused = analyze(
        mla, toy_device, batch=1, prompt_len=10, options=AnalysisOptions(flash_attention=True)
    )
    eager = analyze(mla, toy_device, batch=1, prompt_len=10)  # the core's default: unfused
    attn, flash = (
        _row(eager, "prefill", "latent_attention"),
        _row(fused, "prefill", "latent_attention"),
    )
    block = 4 * 10 * 10
    assert attn.ops == pytest.approx(2 * 10 * 16 * 4 * (8 + 8) + block * (2 * 12 + 2 * 8 + 5))
    assert attn.load_act - flash.load_act == 2 * block * 2  # 16-bit scores read twice
    assert attn.store_act - flash.store_act == 2 * block * 2  # and stored twice
    assert attn.load_kv == flash.load_kv and attn.load_weight == flash.load_weight
    # Decode keeps the absorbed form; its one row of scores per head goes through memory.
    step, one = _row(eager, "decode", "latent_attention"), _row(fused, "decode", "latent_attention")
    assert step.ops == one.ops
    assert step.load_act - one.load_act == 2 * (4 * 11) * 2


def test_deepseek_v3_in_the_catalog() -> None:
    v3 = rooflens.load_model("deepseek-ai/DeepSeek-V3")
    assert (v3.kv_elements_per_token, v3.num_experts, v3.dense_layers) == (576, 256, 3)
    result = rooflens.analyze(v3, "h200-sxm", batch=1, prompt_len=2048, tp=8, w_bits=16)
    # 671B parameters in bf16 over 8 devices: about 168 GB each, more than an H200 holds.
    assert not result.memory["decode"].fits
    # As published (FP8 weights with 128x128 block scales) it is about 85 GB each, and fits.
    stored = rooflens.analyze(v3, "h200-sxm", batch=1, prompt_len=2048, tp=8)
    assert stored.options.quantization.w_bits == 8
    assert 84e9 < float(stored.memory["decode"].weights) < 86e9
    assert stored.memory["decode"].fits


def test_latent_attention_runs_a_kernel_of_its_own() -> None:
    """Its FlashMLA switch once shared its name with the fusion mark (`fused`: run inside
    another operator's kernel), and priced every latent attention without its launch."""
    v3 = rooflens.load_model("deepseek-ai/DeepSeek-V3")
    for flash in (True, False):
        graph = rooflens.core.build_graph(v3, AnalysisOptions(flash_attention=flash))
        (mla,) = [op for op in graph.operators if op.name == "latent_attention"]
        assert (mla.flash, mla.fused) == (flash, False)
