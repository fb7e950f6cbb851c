"""How many tokens a serving engine reads from the random prompts InferenceX's benchmark client
sends, when the client's tokenizer and the server's disagree.

    python scripts/client_prompt_tokens.py --tokenizer DIR [--isl 1024,8192] [--prompts 200]

The client (InferenceX's utils/bench_serving/benchmark_serving.py, `sample_random_requests`
as it stood in April 2026, the serial path) draws each prompt length from 0.8 to 1.0 of the
stated one, decodes that many consecutive token ids from a random offset into text, and
re-encodes and pads or cuts it until its own tokenizer counts the drawn length. The server
reads that text with the tokenizer as `tokenizer.json` defines it. DIR holds a model's
`tokenizer.json` and `tokenizer_config.json`: the client's tokenizer is what the installed
transformers' AutoTokenizer loads from them, the server's `tokenizers.Tokenizer` from the
file itself (as SGLang restores it under transformers 5: `_fix_v5_tokenizer_components`).
Prints, per stated length, the server's tokens per drawn token over the prompts (mean,
median, min, max) and how many prompts the client could not fit to their drawn length, as
JSON. Needs transformers and tokenizers (not rooflens' dependencies).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence

import numpy as np

Encode = Callable[[str], list[int]]
Decode = Callable[[Sequence[int]], str]

RANGE_RATIO = 0.8  # InferenceX's RANDOM_RANGE_RATIO
FIT_ATTEMPTS = 10  # the client's retries to fit a prompt to its drawn length


def client_prompt(
    length: int, offset: int, vocab: int, encode: Encode, decode: Decode, pad: np.random.RandomState
) -> str:
    """One prompt as the client builds it: `length` consecutive ids from `offset`, decoded,
    then re-encoded and padded with random ids or cut until its tokenizer counts `length`."""
    ids: list[int] = [(offset + j) % vocab for j in range(length)]
    prompt = decode(ids)
    for _ in range(FIT_ATTEMPTS):
        ids = encode(prompt)
        if len(ids) < length:
            ids.extend(pad.randint(0, vocab, size=length - len(ids)).tolist())
        elif len(ids) > length:
            ids = ids[:length]
        else:
            break
        prompt = decode(ids)
    return prompt


def served_ratios(
    isl: int,
    prompts: int,
    vocab: int,
    client_encode: Encode,
    client_decode: Decode,
    server_encode: Encode,
    seed: int = 0,
) -> tuple[list[float], int]:
    """The server's tokens per drawn token of `prompts` prompts drawn for a stated `isl`, and
    how many of them the client could not fit to their drawn length (it sends them anyway).
    The ids it pads with come from a generator of their own (the client's from its global
    one): random either way."""
    draw = np.random.RandomState(seed)
    lengths = draw.randint(int(isl * RANGE_RATIO), isl + 1, size=prompts)
    offsets = draw.randint(0, vocab, size=prompts)
    pad = np.random.RandomState(seed + 1)
    ratios, unfitted = [], 0
    for index, (length, offset) in enumerate(zip(lengths, offsets, strict=True)):
        prompt = client_prompt(
            int(length), int(offset) + index, vocab, client_encode, client_decode, pad
        )
        ratios.append(len(server_encode(prompt)) / int(length))
        unfitted += int(len(client_encode(prompt)) != length)
    return ratios, unfitted


def summary(ratios: list[float], unfitted: int = 0) -> dict[str, float]:
    return {
        "prompts": len(ratios),
        "unfitted": unfitted,
        "mean": statistics.fmean(ratios),
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", required=True, help="folder with tokenizer.json")
    parser.add_argument("--isl", default="1024,8192", help="stated prompt lengths, comma-separated")
    parser.add_argument("--prompts", type=int, default=200, help="prompts per length")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import transformers
    from tokenizers import Tokenizer

    client = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    server = Tokenizer.from_file(f"{args.tokenizer}/tokenizer.json")
    backend = client._tokenizer  # the fast tokenizer's components, as the client runs them

    def client_encode(text: str) -> list[int]:
        return client.encode(text, add_special_tokens=False)

    def server_encode(text: str) -> list[int]:
        return server.encode(text, add_special_tokens=False).ids

    out: dict[str, object] = {
        "transformers": transformers.__version__,
        "client": type(client).__name__,
        "client_pre_tokenizer": type(backend.pre_tokenizer).__name__,
        "server_pre_tokenizer": type(server.pre_tokenizer).__name__,
    }
    for isl in (int(x) for x in args.isl.split(",")):
        ratios, unfitted = served_ratios(
            isl, args.prompts, client.vocab_size, client_encode, client.decode, server_encode,
            args.seed,
        )  # fmt: skip
        out[str(isl)] = summary(ratios, unfitted)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
