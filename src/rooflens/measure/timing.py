"""Timers: CUDA-graph replay with CUDA events on a GPU (launch overhead excluded), wall clock
around synchronized calls otherwise. Both warm up and return the median of repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_eager(
    fn: Callable[[], object],
    device: str,
    repeats: int = 5,
    warmup: int = 2,
    before: Callable[[], object] | None = None,
) -> float:
    """Seconds per call, host launches included (what eager frameworks pay). `before` runs
    ahead of each timed call, untimed (processes of a group meet there)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    samples = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        _sync(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_graph(
    fn: Callable[[], object] | list[Callable[[], object]],
    calls_per_graph: int = 10,
    repeats: int = 5,
    warmup: int = 2,
    before: Callable[[], object] | None = None,
) -> float:
    """Seconds per call of `fn` captured `calls_per_graph` times in one CUDA graph and replayed:
    the GPU's own time, with kernel launches taken off the host. A list of calls on distinct
    tensors is captured in turn, so no call finds its operands in cache from the one before."""
    fns = fn if isinstance(fn, list) else [fn]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            for call in fns:
                call()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls_per_graph):
            fns[i % len(fns)]()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        if before is not None:
            before()
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / calls_per_graph)
    del graph
    return statistics.median(samples)


# Operands of consecutive calls must together exceed the last-level cache (50-60 MB on Hopper),
# as a model's layers do, or memory-bound kernels would be timed from cache.
ROTATION_BYTES = 256e6


def time_kernel(
    make: Callable[[], Callable[[], object]],
    device: str,
    footprint: float,
    calls_per_graph: int = 10,
) -> float:
    """The device's own time per call of the calls `make` builds: CUDA-graph replay over enough
    distinct copies of the operands to defeat caches on a GPU, wall clock on a CPU."""
    if device != "cuda":
        return time_eager(make(), device)
    copies = int(min(calls_per_graph, max(1, -(-ROTATION_BYTES // max(footprint, 1.0)))))
    calls = [make() for _ in range(copies)]
    seconds = time_graph(calls, calls_per_graph=calls_per_graph)
    del calls
    return seconds
