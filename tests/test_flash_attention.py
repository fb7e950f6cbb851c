"""FlashAttention-2 tiling model, by hand on the tiny model (d = 16, GQA group 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooflens.core import AnalysisOptions, analyze
from rooflens.core.operators import Step, _streamed_keys, flash_block_sizes

FLASH = AnalysisOptions(flash_attention=True)


def test_block_sizes_follow_the_paper() -> None:
    # 192 KiB of shared memory per SM (A100), d = 128, fp16: Bc = 192, Br = min(192, 128).
    assert flash_block_sizes(192 * 1024, 128, 2) == (128, 192)


def _flash(tiny_model, device, **sizes) -> dict:
    result = analyze(tiny_model, device, options=FLASH, **sizes)
    return {(r["stage"], r["name"]): r for r in result.operators().to_dict(orient="records")}


def test_fused_operator_replaces_the_three(tiny_model, toy_device) -> None:
    rows = _flash(tiny_model, toy_device, batch=2, prompt_len=8)
    names = {name for _, name in rows}
    assert "flash_attention" in names and not names & {"qk_matmul", "softmax", "sv_matmul"}


def test_prefill_traffic_and_causal_ops(tiny_model, toy_device) -> None:
    # 64 KiB on-chip, fp16, d = 16: Br = 16 rows = 8 tokens of a 2-head group per block.
    row = _flash(tiny_model, toy_device, batch=2, prompt_len=32)[("prefill", "flash_attention")]
    keys_streamed = 8 + 16 + 24 + 32  # 4 query blocks, each up to its causal edge
    assert row["load_kv"] == 2 * 2 * 2 * keys_streamed * 16 * 2  # K and V, b, kv heads, bytes
    assert row["load_act"] == row["store_act"] == 2 * 32 * 64 * 2  # Q in, O out, once
    pairs = 2 * 4 * (32 * 33 / 2)
    assert row["ops"] == pytest.approx(4 * pairs * 16 + 5 * pairs)


def test_decode_reads_kv_once_per_kv_head(tiny_model, toy_device) -> None:
    rows = _flash(tiny_model, toy_device, batch=2, prompt_len=8)
    assert rows[("decode", "flash_attention")]["load_kv"] == 2 * 2 * 2 * 9 * 16 * 2


def test_flash_moves_fewer_bytes_than_eager(tiny_model, toy_device) -> None:
    eager = analyze(tiny_model, toy_device, batch=4, prompt_len=1024).totals()
    flash = analyze(tiny_model, toy_device, batch=4, prompt_len=1024, options=FLASH).totals()
    for stage in ("prefill", "decode"):
        assert flash[stage]["memory_access"] < eager[stage]["memory_access"]
        assert flash[stage]["time"] < eager[stage]["time"]


def test_flash_needs_onchip_memory(tiny_model, toy_device) -> None:
    from rooflens.core import InvalidInputError

    bare = toy_device.model_copy(update={"onchip_memory_per_unit": None})
    with pytest.raises(InvalidInputError, match="onchip_memory_per_unit"):
        analyze(tiny_model, bare, options=FLASH)


def test_a_vision_encoder_attends_in_one_bidirectional_kernel() -> None:
    """A ViT's patches see every patch: with FlashAttention (as engines run their towers) the
    scores never reach memory, and each query tile streams all P keys, no causal edge."""
    import math

    import rooflens
    from rooflens.hardware.catalog import get_device

    device = get_device("h100-sxm")
    sizes = {"images": 1, "prompt_len": 64}
    fused = rooflens.analyze("google/gemma-3-27b-it", device, flash_attention=True, **sizes)
    eager = rooflens.analyze("google/gemma-3-27b-it", device, **sizes)
    v = fused.model.vision
    rows = {r["name"]: r for r in fused.operators().to_dict("records") if r["stage"] == "vision"}
    assert "vision_flash_attention" in rows
    assert not {"vision_qk_matmul", "vision_softmax", "vision_sv_matmul"} & rows.keys()
    p, h, d = v.patches, v.num_heads, v.hidden_size // v.num_heads
    assert (p, h, d) == (4096, 16, 72)  # SigLIP so400m at 896 x 896, patches of 14
    tile, _ = flash_block_sizes(device.onchip_memory_per_unit, d, 2)
    row = rows["vision_flash_attention"]
    assert row["ops"] == pytest.approx(4 * h * d * p * p + 5 * h * p * p)
    # K and V streamed once per query tile: activations, not a KV cache (the encoder caches
    # nothing), beside Q read once; the output written once.
    keys_and_values = 2 * h * d * 2 * math.ceil(p / tile) * p
    assert row["load_kv"] == row["store_kv"] == 0
    assert row["load_act"] == pytest.approx(h * d * p * 2 + keys_and_values)
    assert row["store_act"] == h * d * p * 2
    # The same work as the eager trio's, without the P x P scores written and read twice.
    trio = [r for r in eager.operators().to_dict("records") if r["stage"] == "vision"]
    trio = [
        r for r in trio if r["name"] in {"vision_qk_matmul", "vision_softmax", "vision_sv_matmul"}
    ]
    assert sum(r["ops"] for r in trio) == pytest.approx(row["ops"])
    assert fused.totals()["vision"]["time"] < eager.totals()["vision"]["time"]


def _enumerated_keys(past: int, new: int, rows: int, window: int | None, chunk: int | None) -> int:
    """Keys the query blocks stream, block by block: each chunk a sequence of its own (vLLM's
    virtual batches), a block of `rows` rows seeing from its first row's window start to its
    last row (the last block to the last token)."""
    segments, pos = [], past
    while pos < past + new:
        start = pos - pos % chunk if chunk else 0
        end = min(start + chunk, past + new) if chunk else past + new
        segments.append((pos - start, end - pos))
        pos = end
    total = 0
    for into, length in segments:
        blocks = -(-length // rows)
        for i in range(1, blocks + 1):
            first = max(0, into + (i - 1) * rows - (window or 1 << 60) + 1)
            last = into + (i * rows if i < blocks else length) - 1
            total += last - first + 1
    return total


@settings(max_examples=300, deadline=None)
@given(
    past=st.integers(0, 20_000),
    new=st.integers(1, 20_000),
    rows=st.sampled_from([1, 5, 16, 128]),
    window=st.sampled_from([None, 1, 128, 4096]),
    chunk=st.sampled_from([None, 64, 8192]),
)
def test_streamed_keys_count_each_block_as_it_sees_keys(past, new, rows, window, chunk) -> None:
    """Chunked layers streamed the causal count over the whole prompt, capped only in total
    (Llama 4 Scout at 16,384 tokens: 5,242,880 keys per KV head, about twice the 2,629,632 its
    two chunks' blocks read); a window's blocks were capped at the window, not the window
    plus the block's other rows (gpt-oss at 4,096 tokens: 32,768 keys where they read 36,040)."""
    step = Step(batch=np.array(1.0), new_tokens=np.array(float(new)), past=np.array(float(past)))
    got = float(_streamed_keys(step, rows, window, chunk))
    assert got == _enumerated_keys(past, new, rows, window, chunk)


def test_llama4_chunked_layers_stream_their_own_chunks_keys() -> None:
    """Scout's 36 chunked layers (chunks of 8,192; 40 query heads on 8 KV heads, so blocks of
    128 / 5 = 25.6 tokens) over a 16,384-token prompt: per KV head, two chunks of
    320 blocks, block i seeing 25.6 i keys, the last all 8,192."""
    per_chunk = 25.6 * 319 * 320 / 2 + 8192
    step = Step(batch=np.array(1.0), new_tokens=np.array(16384.0), past=np.array(0.0))
    assert float(_streamed_keys(step, 25.6, None, 8192)) == pytest.approx(2 * per_chunk)
    # gpt-oss' 128-token windows, 64 query heads on 8 KV heads: blocks of 16 tokens.
    gpt_oss = Step(batch=np.array(1.0), new_tokens=np.array(4096.0), past=np.array(0.0))
    assert float(_streamed_keys(gpt_oss, 16, 128, None)) == 36_040
