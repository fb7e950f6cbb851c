"""How much faster rooflens is than a plain-Python roofline written point by point.

    python scripts/reference_ratio.py [--side 100]

The reference below prices Llama-2-7B's prefill and first decode step on an A6000 the
straightforward way: per point, per operator, with `math` only — the same operators, OPs and
bytes as rooflens (docs/model.md), each timed at max(OPs / peak, bytes / bandwidth). The
script first checks that both give the same totals, then times one analysis and a side × side
sweep of batch × prompt length (10,000 points by default) both ways.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rooflens.core import analyze
from rooflens.hardware import get_device
from rooflens.models import load_model
from rooflens.models.catalog import bundled_config

MODEL, DEVICE = "meta-llama/Llama-2-7b-hf", "a6000"
B = 2  # bytes per element: 16-bit weights, activations and KV cache


def reference_point(cfg: dict, bw: float, mm_peak: float, vec_peak: float, b: int, s: int):
    """{stage: (ops, bytes, time)} for prefill of s tokens and one decode step after it."""
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, layers = cfg["num_attention_heads"], cfg["num_hidden_layers"]
    d = h // heads
    kv = cfg.get("num_key_value_heads", heads) * d
    out = {}
    for stage, t, ctx in (("prefill", s, s), ("decode", 1, s + 1)):
        x = b * t * h * B  # one activation of the residual stream
        scores = b * heads * t * ctx * B
        block = [  # (ops, bytes, peak) of one layer's operators
            (4 * b * t * h, 2 * x + h * B, vec_peak),  # attn_norm
            (2 * b * t * h * h, h * h * B + 2 * x, mm_peak),  # q_proj
            (2 * b * t * h * kv, h * kv * B + x + b * t * kv * B, mm_peak),  # k_proj
            (2 * b * t * h * kv, h * kv * B + x + b * t * kv * B, mm_peak),  # v_proj
            (2 * b * heads * t * ctx * d, x + b * ctx * kv * B + scores, mm_peak),  # q·kᵀ
            (5 * b * heads * t * ctx, 2 * scores, vec_peak),  # softmax
            (2 * b * heads * t * ctx * d, scores + b * ctx * kv * B + x, mm_peak),  # s·v
            (2 * b * t * h * h, h * h * B + 2 * x, mm_peak),  # o_proj
            (b * t * h, 3 * x, vec_peak),  # attn_add
            (4 * b * t * h, 2 * x + h * B, vec_peak),  # mlp_norm
            (2 * b * t * h * inter, h * inter * B + x + b * t * inter * B, mm_peak),  # gate
            (2 * b * t * h * inter, h * inter * B + x + b * t * inter * B, mm_peak),  # up
            (5 * b * t * inter, 3 * b * t * inter * B, vec_peak),  # act × up
            (2 * b * t * h * inter, h * inter * B + x + b * t * inter * B, mm_peak),  # down
            (b * t * h, 3 * x, vec_peak),  # mlp_add
        ]
        head = [
            (0, 2 * x, vec_peak),  # embed_tokens
            (4 * b * t * h, 2 * x + h * B, vec_peak),  # final_norm
            # lm_head: the last token of each sequence only.
            (2 * b * h * vocab, vocab * h * B + b * h * B + b * vocab * B, mm_peak),
        ]
        ops = nbytes = seconds = 0.0
        for count, operators in ((layers, block), (1, head)):
            for op, moved, peak in operators:
                ops += count * op
                nbytes += count * moved
                seconds += count * max(op / peak, moved / bw)
        out[stage] = (ops, nbytes, seconds)
    return out


def reference_sweep(cfg: dict, device, batches, prompts) -> dict[str, np.ndarray]:
    """The reference at every point of batches × prompts: one Python call per point."""
    args = (device.memory_bandwidth, device.peak_ops["bf16"], device.peak_ops["fp32"])
    shape = (len(batches), len(prompts))
    totals = {f"{st}_{k}": np.empty(shape) for st in ("prefill", "decode") for k in "obt"}
    for i, b in enumerate(batches):
        for j, s in enumerate(prompts):
            for stage, (o, n, t) in reference_point(cfg, *args, int(b), int(s)).items():
                totals[f"{stage}_o"][i, j] = o
                totals[f"{stage}_b"][i, j] = n
                totals[f"{stage}_t"][i, j] = t
    return totals


def rooflens_sweep(model, device, batches, prompts) -> dict[str, np.ndarray]:
    batch, prompt = np.meshgrid(batches, prompts, indexing="ij")
    result = analyze(model, device, batch=batch, prompt_len=prompt)
    out = {}
    for stage, row in result.totals().items():
        if stage in ("prefill", "decode"):
            out[f"{stage}_o"], out[f"{stage}_b"] = row["ops"], row["memory_access"]
            out[f"{stage}_t"] = row["time"]
    return out


def largest_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest relative difference between the two over every total and point."""
    return max(float(np.max(np.abs(a[k] / b[k] - 1))) for k in a)


def timed(run, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=100, help="sweep of side × side points")
    args = parser.parse_args()
    cfg, model, device = bundled_config(MODEL), load_model(MODEL), get_device(DEVICE)
    batches = np.arange(1, args.side + 1)
    prompts = 32 * np.arange(1, args.side + 1)

    diff = largest_difference(
        reference_sweep(cfg, device, batches, prompts),
        rooflens_sweep(model, device, batches, prompts),
    )
    print(f"largest relative difference of the totals: {diff:.1e} ({args.side**2} points)")

    one_ref = timed(lambda: reference_sweep(cfg, device, [1], [2048]), 50)
    one_rl = timed(lambda: rooflens_sweep(model, device, np.array([1]), np.array([2048])), 50)
    all_ref = timed(lambda: reference_sweep(cfg, device, batches, prompts), 3)
    all_rl = timed(lambda: rooflens_sweep(model, device, batches, prompts), 3)
    for what, ref, ours in (
        ("one point", one_ref, one_rl),
        (f"{args.side**2} points", all_ref, all_rl),
    ):
        print(
            f"{what}: reference {ref * 1e3:.3f} ms, rooflens {ours * 1e3:.3f} ms, "
            f"reference / rooflens = {ref / ours:.3g}"
        )


if __name__ == "__main__":
    main()
