"""The keys an eager attention reads under a sliding window or chunks: every key some new
token's window holds, each once (a prefill read the last token's window alone)."""

from __future__ import annotations

import numpy as np
import pytest

from rooflens import api
from rooflens.core.operators import Step


def test_a_windowed_prefill_reads_every_key_its_queries_see() -> None:
    """Mistral-7B (4,096-key window, 8 KV heads of 128) prefilling 16,384 tokens: the keys
    k_proj writes, 8 x 16,384 x 128 x 2 bytes, are all read by some query's window (it read
    4,096 of them); a decode step reads its window."""
    res = api.analyze("mistralai/Mistral-7B-v0.1", "h100-sxm", prompt_len=16384, gen_len=None,
                      allow_long_context=True)  # fmt: skip
    ops = res.operators()
    prefill = ops[ops.stage == "prefill"].set_index("name")
    assert prefill.loc["qk_matmul", "load_kv"] == prefill.loc["k_proj", "store_kv"]
    assert prefill.loc["qk_matmul", "load_kv"] == 8 * 16384 * 128 * 2
    decode = ops[ops.stage == "decode"].set_index("name")
    assert decode.loc["qk_matmul", "load_kv"] == 8 * 4096 * 128 * 2


@pytest.mark.parametrize(
    ("past", "new", "span", "chunk", "seen"),
    [
        (0, 100, 4096, np.inf, 100),  # the whole prompt inside the window
        (0, 16384, 4096, np.inf, 16384),
        (10000, 100, 4096, np.inf, 100 + 4095),  # min(past + q, q + W - 1)
        (10000, 1, 4096, np.inf, 4096),  # a decode token's window
        (10000, 1, np.inf, 8192, 10001 - 8192),  # its chunk's keys
        (10000, 500, np.inf, 8192, 10500 - 8192),  # the chunk the first new token is in on
        (5000, 5000, np.inf, 8192, 10000),  # two chunks touched: both read
    ],
)
def test_the_keys_a_step_sees_by_hand(past, new, span, chunk, seen) -> None:
    step = Step(np.array([1.0]), np.array([float(new)]), np.array([float(past)]))
    assert step.limited(span, chunk).seen_keys[0] == seen
