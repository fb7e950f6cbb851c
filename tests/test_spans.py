"""Attention spans: sliding windows, KV-cache budgets (H2O, StreamingLLM), prompt compression."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rooflens
from rooflens.core import AnalysisOptions, analyze
from rooflens.core.operators import Step


def _pairs(past: int, q: int, span: float) -> float:
    step = Step(np.array(1.0), np.array(float(q)), np.array(float(past)), span=span)
    return float(step.causal_pairs)


def test_windowed_causal_pairs_by_hand() -> None:
    assert _pairs(0, 4, np.inf) == 1 + 2 + 3 + 4
    assert _pairs(0, 4, 2) == 1 + 2 + 2 + 2
    assert _pairs(3, 2, 4) == 4 + 4  # positions 4 and 5, each capped at 4
    assert _pairs(1, 3, 3) == 2 + 3 + 3


@given(st.integers(0, 5000), st.integers(1, 3000), st.integers(1, 8000))
def test_windowed_pairs_match_brute_force(past, q, span) -> None:
    brute = sum(min(j, span) for j in range(past + 1, past + q + 1))
    assert _pairs(past, q, span) == pytest.approx(brute)


def _block(past: int, q: int, span: float = np.inf, chunk: float = np.inf) -> float:
    step = Step(np.array(1.0), np.array(float(q)), np.array(float(past)), span=span, chunk=chunk)
    return float(step.block_keys)


def test_eager_blocks_span_the_held_cache_and_the_whole_step() -> None:
    """Unfused attention scores every row against the cached keys its window still holds (a
    sliding-window cache keeps W - 1) and all of the step's tokens, then masks: a 4,096-token
    prompt under gpt-oss's 128-key window is a 4,096 x 4,096 block, not 4,096 x 128."""
    assert _block(0, 4096, span=128) == 4096
    assert _block(1000, 200, span=128) == 127 + 200
    assert _block(9000, 100, chunk=8192) == 8191 + 100
    assert _block(50, 10, span=128) == 60
    # A decode token's block under a window is the keys it sees; under a chunk, the window
    # of a chunk transformers caches, the keys before its own chunk masked.
    assert _block(5000, 1, span=128) == 128
    assert _block(8192 + 9, 1, chunk=8192) == 8192
    assert _block(300, 1) == 301


def test_eager_window_prefill_ops_are_the_whole_block() -> None:
    rows = rooflens.analyze("openai/gpt-oss-20b", "h100-sxm", prompt_len=4096).operators()
    qk = rows[(rows.stage == "prefill") & (rows.name == "qk_matmul")]
    # 64 query heads of 64: 2 x 64 x 64 OPs a score, 4,096 x 4,096 scores, on both kinds of
    # layer (12 window, 12 full).
    assert sorted(qk["count"]) == [12, 12]
    assert set(qk.ops) == {2 * 64 * 64 * 4096 * 4096}
    fused = rooflens.analyze(
        "openai/gpt-oss-20b", "h100-sxm", prompt_len=4096, flash_attention=True
    ).operators()
    attn = fused[(fused.stage == "prefill") & (fused.name == "flash_attention")]
    assert attn.ops.nunique() == 2  # fused, the window layers price their causal pairs


def _budget(n: int | None, policy: str = "h2o") -> AnalysisOptions:
    return AnalysisOptions(kv_budget=n, kv_policy=policy)


def test_budget_caps_decode_attention_and_cache(tiny_model, toy_device) -> None:
    full = analyze(tiny_model, toy_device, batch=1, prompt_len=1000)
    kept = analyze(
        tiny_model, toy_device, batch=1, prompt_len=1000, options=_budget(100, "streaming")
    )
    assert kept.memory["decode"].kv_cache == full.memory["decode"].kv_cache * 100 / 1001
    rows = kept.operators()
    qk = rows[(rows.stage == "decode") & (rows.name == "qk_matmul")].iloc[0]
    # The 100 keys kept and the new token's own, attended before it is evicted.
    assert qk.load_kv == 1 * 2 * 101 * 16 * 2
    assert "h2o_scores" not in set(rows.name)


def test_budget_leaves_the_prefill_whole(tiny_model, toy_device) -> None:
    """Eviction follows the forward pass (H2O's reference code appends every prompt key,
    attends, then evicts; StreamingLLM alike): a prompt prefilled whole attends to all of it
    and holds all its keys meanwhile. The budget capped the prefill as a window: a
    32,768-token prompt of Llama-3.1-8B on an H100 with a budget of 2,048 reached its first
    token in 0.69 s, against 3.15 s without the budget."""
    for policy in ("h2o", "streaming"):
        full = analyze(tiny_model, toy_device, batch=1, prompt_len=1000)
        kept = analyze(
            tiny_model, toy_device, batch=1, prompt_len=1000, options=_budget(100, policy)
        )
        rows, whole = kept.operators(), full.operators()
        for name in ("qk_matmul", "softmax", "sv_matmul"):
            pick = (rows.stage == "prefill") & (rows.name == name)
            same = (whole.stage == "prefill") & (whole.name == name)
            assert rows[pick].iloc[0].ops == whole[same].iloc[0].ops
        assert kept.memory["prefill"].kv_cache == full.memory["prefill"].kv_cache
    long = {"batch": 1, "prompt_len": 32768, "gen_len": 16}
    plain = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", **long)
    budget = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", kv_budget=2048, **long)
    # Its H2O bookkeeping on top (the prefill's attention itself is the same).
    assert plain.generation["ttft"] < budget.generation["ttft"] < 1.01 * plain.generation["ttft"]
    # A chunk after 500 cached tokens sees the 100 kept and its own, causally.
    step = Step(np.array(1.0), np.array(200.0), np.array(500.0))
    assert step.limited(None, None, 100).causal_pairs == 200 * 100 + 200 * 201 / 2


def test_h2o_pays_for_its_score_bookkeeping(tiny_model, toy_device) -> None:
    rows = analyze(
        tiny_model, toy_device, batch=2, prompt_len=1000, options=_budget(100)
    ).operators()
    track = rows[(rows.stage == "decode") & (rows.name == "h2o_scores")].iloc[0]
    # Over the 100 keys kept and the new one: b x H x q x (B + 1) adds.
    assert track.ops == 2 * 4 * 1 * 101
    assert track.load_act == track.store_act == 2 * 2 * 101 * 4


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(16, 8000),
    st.integers(1, 4000),
    st.integers(1, 4000),
    st.sampled_from(["h2o", "streaming"]),
)
def test_smaller_budget_never_costs_more_bytes(b, s, x, y, policy) -> None:
    model = rooflens.load_model("meta-llama/Llama-2-7b-hf")
    low, high = sorted((x, y))
    small, large = (
        analyze(
            model,
            rooflens.get_device("a6000"),
            batch=b,
            prompt_len=s,
            options=AnalysisOptions(kv_budget=n, kv_policy=policy, allow_long_context=True),
        )
        for n in (low, high)
    )
    assert small.totals()["decode"]["memory_access"] <= large.totals()["decode"]["memory_access"]
    assert small.memory["decode"].kv_cache <= large.memory["decode"].kv_cache


@pytest.mark.parametrize("options", [_budget(300), _budget(50, "streaming")])
def test_generation_is_exact_across_the_budget(tiny_model, toy_device, options) -> None:
    b, s, g = 4, 200, 250  # the context crosses the budget part-way (or starts beyond it)
    whole = analyze(tiny_model, toy_device, batch=b, prompt_len=s, gen_len=g, options=options)
    steps = analyze(
        tiny_model, toy_device, batch=b, prompt_len=np.arange(s, s + g - 1), options=options
    )
    assert whole.generation["decode_time"] == pytest.approx(
        steps.totals()["decode"]["time"].sum(), rel=1e-12
    )


def test_mistral_window_and_gemma2_alternation(toy_device) -> None:
    mistral = rooflens.load_model("mistralai/Mistral-7B-v0.1")
    assert mistral.sliding_window == 4096 and mistral.window_layers is None
    long = rooflens.analyze(mistral, "a6000", batch=1, prompt_len=16000)
    short = rooflens.analyze(mistral, "a6000", batch=1, prompt_len=4095)
    assert long.memory["decode"].kv_cache == short.memory["decode"].kv_cache
    gemma = rooflens.load_model("google/gemma-2-9b")
    assert gemma.window_layers == 21
    rows = rooflens.analyze(
        gemma, "a6000", batch=1, prompt_len=8000, flash_attention=True
    ).operators()
    attn = rows[(rows.stage == "decode") & (rows.name == "flash_attention")]
    assert sorted(attn["count"]) == [21, 21] and attn.load_kv.nunique() == 2


def test_prompt_compression_shortens_prefill(tiny_model, toy_device) -> None:
    full = analyze(tiny_model, toy_device, batch=1, prompt_len=1000)
    half = analyze(
        tiny_model, toy_device, batch=1, prompt_len=1000, options=AnalysisOptions(prompt_keep=0.5)
    )
    q_full = full.operators().query("stage == 'prefill' and name == 'q_proj'").iloc[0]
    q_half = half.operators().query("stage == 'prefill' and name == 'q_proj'").iloc[0]
    assert q_half.ops == q_full.ops / 2
    assert half.memory["decode"].kv_cache == pytest.approx(
        full.memory["decode"].kv_cache * 501 / 1001
    )


def test_a_compressed_prompt_is_reported_as_asked_beside_what_is_prefilled() -> None:
    """A sweep's rows said prompt_len 500 for a prompt of 1,000 kept at half: analysed again
    with its own prompt_len, a row halved the prompt once more (its prefill 0.5x)."""
    rows = rooflens.sweep(
        "meta-llama/Llama-3.1-8B", "h100-sxm", prompt_len=[1000, 3000], prompt_keep=0.5,
        gen_len=64,
    )  # fmt: skip
    assert list(rows.prompt_len) == [1000, 3000] and list(rows.prompt_tokens) == [500, 1500]
    again = rooflens.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", prompt_len=int(rows.prompt_len[1]),
        prompt_keep=0.5, gen_len=64,
    )  # fmt: skip
    assert again.totals()["prefill"]["time"] == pytest.approx(rows.prefill_time[1], rel=1e-12)
    inputs = again.to_dict()["inputs"]
    assert (inputs["prompt_len"], inputs["prompt_tokens"]) == (3000, 1500)
    plain = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", prompt_len=3000, gen_len=64)
    # The JSON states both always (one shape): here they agree.
    assert plain.to_dict()["inputs"]["prompt_tokens"] == 3000
    # One prompt beside several batches is the prompt as asked, broadcast, not another one.
    grid = rooflens.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", batch=[1, 2, 3], prompt_len=3000, gen_len=64
    )
    assert "prompt_tokens" not in grid.summary() and grid.asked_prompt_len is None


def test_bad_budget_options() -> None:
    for field, value in (("kv_budget", 0), ("kv_policy", "lru"), ("prompt_keep", 1.5)):
        with pytest.raises(rooflens.InvalidInputError) as info:
            rooflens.make_options(**{field: value})
        assert info.value.field == field


def test_a_kept_share_is_not_rounded_up_by_floating_point(tiny_model, toy_device) -> None:
    # 0.07 x 100 is 7.000000000000001 in floating point: 8 tokens were kept, not 7.
    for keep, kept in ((0.07, 7), (0.14, 14), (0.55, 55), (0.333, 34)):
        result = analyze(
            tiny_model, toy_device, prompt_len=100, options=AnalysisOptions(prompt_keep=keep)
        )
        assert int(result.prompt_len) == kept


def test_the_whole_generation_holds_the_prefills_keys_under_a_budget() -> None:
    """The generation's peak held the budget's keys only, so a 32k prompt "fit" 20 requests
    beside a 2,048 budget where its prefill, holding every prompt key, fits 9."""
    run = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", batch=16, prompt_len=32768,
                           gen_len=2, kv_budget=2048, flash_attention=True)  # fmt: skip
    prefill, generation = run.memory["prefill"], run.memory["generation"]
    assert float(generation.kv_cache) == float(prefill.kv_cache) == 16 * 32768 * 131072
    assert int(run.peak_memory.max_batch) == int(prefill.max_batch) == 9
    assert not bool(run.peak_memory.fits)
    # Without a budget the generation's last context is the peak, as before.
    plain = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", batch=1, prompt_len=4096,
                             gen_len=64)  # fmt: skip
    assert float(plain.memory["generation"].kv_cache) == (4096 + 63) * 131072


def test_a_speculative_estimate_holds_the_prefills_keys_under_a_budget() -> None:
    """The speculative footprint read the decode step's evicted cache, 74.1 GB that 'fit',
    beside the analysis' own 134 GB that does not."""
    long = {"batch": 16, "kv_budget": 2048, "flash_attention": True}
    estimate = rooflens.speculate("meta-llama/Llama-3.1-8B", "h100-sxm", medusa_heads=True,
                                  context=32768, **long)  # fmt: skip
    assert float(estimate.memory.kv_cache) >= 16 * 32768 * 131072
    assert not bool(estimate.memory.fits)
    plain = rooflens.speculate("meta-llama/Llama-3.1-8B", "h100-sxm", medusa_heads=True,
                               context=4096, batch=4)  # fmt: skip
    # Without a budget: the decode step's cache, at the context, its drafts and the token after.
    assert float(plain.memory.kv_cache) == 4 * (4096 + 4 + 1) * 131072


def _mistral_window() -> tuple[object, object]:
    import transformers
    import transformers.models.mistral.modeling_mistral as mistral

    config = transformers.MistralConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=100, sliding_window=16, max_position_embeddings=512,
    )  # fmt: skip
    return config, mistral


def _llama4_chunk() -> tuple[object, object]:
    import transformers
    import transformers.models.llama4.modeling_llama4 as llama4

    config = transformers.Llama4TextConfig(
        hidden_size=64, intermediate_size=128, intermediate_size_mlp=128, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=100,
        attention_chunk_size=16, num_local_experts=2, num_experts_per_tok=1,
        max_position_embeddings=512, no_rope_layers=[1], moe_layers=[],
    )  # fmt: skip
    return config, llama4


@pytest.mark.parametrize(("build", "limit"), [(_mistral_window, "span"), (_llama4_chunk, "chunk")])
def test_eager_blocks_are_the_keys_transformers_hands_its_eager_attention(build, limit) -> None:
    """A sliding-window layer (Mistral's, window 16) and a chunked one (Llama 4's, chunks of
    16, cached as a window of its chunk) in transformers' eager attention: a 100-token prompt
    is scored against all 100 keys, a 50-token continuation against the 15 the cache keeps
    and its own 50, a decode token against 16, as Step.block_keys counts."""
    import torch
    import transformers

    config, module = build()
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    seen: list[tuple[int, int]] = []
    eager = module.eager_attention_forward

    def spy(layer, query, key, *args, **kwargs):
        seen.append((query.shape[2], key.shape[2]))
        return eager(layer, query, key, *args, **kwargs)

    cache = transformers.DynamicCache(config=config)
    ids = torch.randint(0, 100, (1, 151))
    module.eager_attention_forward = spy
    try:
        with torch.no_grad():
            for start, end in ((0, 100), (100, 150), (150, 151)):
                model(ids[:, start:end], past_key_values=cache, use_cache=True)
    finally:
        module.eager_attention_forward = eager
    ours = [(q, int(_block(past, q, **{limit: 16}))) for past, q in ((0, 100), (100, 50), (150, 1))]
    assert seen == ours == [(100, 100), (50, 65), (1, 16)]


def test_eager_attention_reads_every_key_its_block_spans() -> None:
    """transformers hands its eager attention the whole cached window (test above), and its
    matmuls read every key of it: a Llama 4 chunked layer's decode at position 8,201 (chunks
    of 8,192) reads the 8,192 keys of its cache's window, not the 9 of its own chunk (the keys
    a query sees, which an operator scoring only those reads)."""
    from rooflens.core.operators import AttentionScores, AttentionValues, Precision
    from rooflens.core.options import Quantization

    prec = Precision(Quantization())
    for chunk, past, new, block, seen in [
        (8192, 8200, 1, 8192, 9),
        # A 50-token continuation after 100 under chunks of 16: the 15 cached keys and its own
        # 50 (as transformers hands them, test above), where its queries see keys 96 to 150.
        (16, 100, 50, 65, 54),
    ]:
        step = Step(np.array(1.0), np.array(float(new)), np.array(float(past)))
        heads = {"num_heads": 4, "num_kv_heads": 2, "head_dim": 16, "chunk": chunk}
        for op in (
            AttentionScores("qk", "block", ("q", "k"), "s", **heads),
            AttentionValues("sv", "block", ("p", "v"), "o", **heads),
        ):
            # K or V: 2 KV heads x 16 values x 2 bytes a key.
            assert float(op.cost(step, prec).load_kv) == block * 2 * 16 * 2
            seen_only = replace(op, masked_block=False)
            assert float(seen_only.cost(step, prec).load_kv) == seen * 2 * 16 * 2
