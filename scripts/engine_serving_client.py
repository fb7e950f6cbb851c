"""Closed-loop streaming client for an OpenAI-compatible completions server: the runs of
docs/engines-measured.md (started by scripts/engine_serving_run.sh).

C clients share one queue of requests (as vLLM's benchmark_serving with --max-concurrency):
each takes the next request when its last one ends, after a warm-up of up to 4 requests that
drains first. Prompts are random words of a word-level tokenizer, one token each, so a prompt
of N words is N tokens. Outputs run to `osl` tokens (ignore_eos, min_tokens). TTFT: from
sending to the first streamed chunk holding text, as benchmark_serving reads it; TPOT: (end -
first chunk) / (output tokens - 1). One JSON line per point: means, medians and every
request's TTFT and TPOT; with --metrics, also what the server's Prometheus histograms summed
and counted over the point's timed requests (scraped after its warm-up and after it), so
that a request's time inside the engine can be set beside the client's. --tag key=value
(repeatable) heads every line with what the point was measured on: engine, engine_version,
device, model, launch, server_args, as docs/data/engine-runs-*.jsonl hold them (whole numbers
as numbers)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time

import aiohttp


def prompt(rng: random.Random, tokens: int) -> str:
    return " ".join(f"t{rng.randrange(1000, 100000)}" for _ in range(tokens))


async def one(session: aiohttp.ClientSession, url: str, model: str, text: str, osl: int) -> dict:
    payload = {
        "model": model,
        "prompt": text,
        "max_tokens": osl,
        "min_tokens": osl,
        "ignore_eos": True,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    stamps: list[float] = []
    tokens = None
    async with session.post(url, json=payload) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk.get("choices") and chunk["choices"][0].get("text"):
                stamps.append(time.perf_counter())
    end = time.perf_counter()
    tokens = tokens or len(stamps)
    ttft = stamps[0] - start
    tpot = (end - stamps[0]) / (tokens - 1) if tokens > 1 else 0.0
    return {
        "ttft": ttft,
        "tpot": tpot,
        "e2e": end - start,
        "tokens": tokens,
        "chunks": len(stamps),
        "start": start,
    }


# A Prometheus text sample: name, optional {labels}, value, optional timestamp.
SAMPLE = re.compile(r"([A-Za-z_:][\w:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?")


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The server's histogram and summary sums and counts (`name_sum{labels}`,
    `name_count{labels}`)."""
    async with session.get(url) as resp:
        resp.raise_for_status()
        text = await resp.text()
    found = {}
    for line in text.splitlines():
        sample = SAMPLE.fullmatch(line.strip())
        if sample and sample[1].endswith(("_sum", "_count")):
            found[sample[1] + (sample[2] or "")] = float(sample[3])
    return found


async def point(
    url: str,
    model: str,
    isl: int,
    osl: int,
    clients: int,
    per_client: int,
    seed: int,
    metrics: str | None = None,
) -> dict:
    rng = random.Random(seed)
    texts = [prompt(rng, isl) for _ in range(clients * per_client)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)
    results: list[dict] = []
    timeout = aiohttp.ClientTimeout(total=3600)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Warm-up: one request per client, drained before timing.
        await asyncio.gather(
            *(one(session, url, model, prompt(rng, isl), osl) for _ in range(min(clients, 4)))
        )

        async def worker() -> None:
            while True:
                try:
                    text = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results.append(await one(session, url, model, text, osl))

        before = await scrape(session, metrics) if metrics else {}
        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        span = time.perf_counter() - begin
        after = await scrape(session, metrics) if metrics else {}
    ttfts = [r["ttft"] for r in results]
    tpots = [r["tpot"] for r in results]
    return {
        "isl": isl,
        "osl": osl,
        "clients": clients,
        "requests": len(results),
        "ttft_mean_ms": 1e3 * statistics.mean(ttfts),
        "ttft_median_ms": 1e3 * statistics.median(ttfts),
        "ttft_min_ms": 1e3 * min(ttfts),
        "tpot_mean_ms": 1e3 * statistics.mean(tpots),
        "tpot_median_ms": 1e3 * statistics.median(tpots),
        "tokens_mean": statistics.mean(r["tokens"] for r in results),
        "chunks_mean": statistics.mean(r["chunks"] for r in results),
        "seconds": span,
        "ttft_ms": [round(1e3 * v, 3) for v in ttfts],
        "tpot_ms": [round(1e3 * v, 4) for v in tpots],
        **(
            {"server": {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)}}
            if metrics
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000/v1/completions")
    parser.add_argument("--model", default="m")
    parser.add_argument(
        "--points", required=True, help="isl:osl:clients:per_client,... each one benchmark point"
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", help="the server's Prometheus endpoint, scraped per point")
    parser.add_argument(
        "--tag", action="append", default=[], help="key=value written first on every line"
    )
    args = parser.parse_args()
    tags: dict[str, object] = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            parser.error(f"--tag {tag!r}: expected key=value")
        tags[key] = int(value) if value.isdigit() else value
    with open(args.out, "a") as out:
        for n, item in enumerate(args.points.split(",")):
            isl, osl, clients, per_client = (int(v) for v in item.split(":"))
            found = asyncio.run(
                point(args.url, args.model, isl, osl, clients, per_client, n, args.metrics)
            )
            out.write(json.dumps(tags | found) + "\n")
            out.flush()
            print(
                f"isl {isl} osl {osl} c {clients}: TTFT {found['ttft_mean_ms']:.2f} ms "
                f"(median {found['ttft_median_ms']:.2f}), TPOT {found['tpot_mean_ms']:.3f} ms, "
                f"tokens {found['tokens_mean']:.1f}, chunks {found['chunks_mean']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
