"""scripts/client_prompt_tokens.py builds prompts as InferenceX's benchmark client does and
counts the tokens a server reads from them (docs/validation-engines.md's runs whose client
misread the tokenizer)."""

from __future__ import annotations

import numpy as np

VOCAB = 26


def client_decode(ids) -> str:
    return "".join(chr(97 + i) for i in ids)


def client_encode(text: str) -> list[int]:
    return [ord(c) - 97 for c in text]


def test_a_server_reading_two_tokens_per_client_token_reads_twice_the_prompt(load_script) -> None:
    """A client whose ids round-trip exactly builds each prompt at its drawn length, from 0.8
    to 1.0 of the stated one, of consecutive ids from its offset; a server that splits every
    character in two reads each at exactly twice its length."""
    script = load_script("client_prompt_tokens")

    def server_encode(text: str) -> list[int]:
        return [token for c in text for token in (ord(c), ord(c))]

    ratios, unfitted = script.served_ratios(
        40, 5, VOCAB, client_encode, client_decode, server_encode
    )
    assert (ratios, unfitted) == ([2.0] * 5, 0)
    draw = np.random.RandomState(0)
    lengths = draw.randint(32, 41, size=5)
    offsets = draw.randint(0, VOCAB, size=5)
    prompt = script.client_prompt(
        int(lengths[1]), int(offsets[1]) + 1, VOCAB, client_encode, client_decode,
        np.random.RandomState(1),
    )  # fmt: skip
    assert len(prompt) == lengths[1]
    assert client_encode(prompt[:3]) == [(offsets[1] + 1 + j) % VOCAB for j in range(3)]
    assert script.summary([1.0, 2.0, 6.0], 1) == {
        "prompts": 3, "unfitted": 1, "mean": 3.0, "median": 2.0, "min": 1.0, "max": 6.0
    }  # fmt: skip


def test_a_client_that_cannot_fit_its_prompt_sends_its_last_attempt(load_script) -> None:
    """A client whose decoding merges two ids into one character re-encodes fewer ids than it
    drew and pads with random ids, which merge again: as InferenceX's client, it stops after
    ten attempts and sends the text it decoded last."""
    script = load_script("client_prompt_tokens")

    def decode(ids) -> str:  # every two ids one character
        return "".join(chr(97 + (a + b) % VOCAB) for a, b in zip(ids[::2], ids[1::2], strict=False))

    prompt = script.client_prompt(10, 0, VOCAB, client_encode, decode, np.random.RandomState(1))
    # 10 ids -> 5 characters -> 5 ids, padded to 10 -> 5 characters ... never 10: the client
    # gives up after its tenth attempt with the last text it decoded.
    assert len(prompt) == 5
    # The server's tokens are counted against the drawn length, as the harness scales it: a
    # server reading the client's text as it is reads half of it (a character per two drawn
    # ids), and every prompt is unfitted.
    ratios, unfitted = script.served_ratios(
        40, 4, VOCAB, client_encode, decode, client_encode
    )  # fmt: skip
    lengths = np.random.RandomState(0).randint(32, 41, size=4)
    assert ratios == [(length // 2) / length for length in lengths]
    assert unfitted == 4
