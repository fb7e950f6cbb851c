"""Collectives and tensor-parallel steps over several devices: one process per device
(torch.multiprocessing), NCCL between GPUs, gloo between CPU processes. Raw measurements as
JSON, predicted afterwards (rooflens.calibration.report_parallel).

    NCCL_NVLS_ENABLE=0 python -m rooflens.measure.parallel --tp 8 --out tp8.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from rooflens.calibration.links import KINDS, parallel_options
from rooflens.core.analysis import analyze
from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.hardware.catalog import get_device
from rooflens.measure.environment import describe
from rooflens.measure.model_runs import ModelRunner
from rooflens.measure.sharding import SHARDABLE, gather_into, shard
from rooflens.measure.timing import time_graph
from rooflens.measure.validate import catalog_device
from rooflens.models import spec_from_config
from rooflens.models.catalog import resolve_config

GPU_SIZES = tuple(4**k for k in range(5, 15))  # 1 KiB .. 256 MiB
# Measured besides the priced KINDS; kept apart in the output until the analysis prices it.
UNPRICED_KINDS = ("reduce_scatter",)
# NVLink SHARP (multicast) reduces inside the switch: not the ring the analysis prices, and on
# shared hosts it can take the GPUs out of service. Off in NCCL, PyTorch and NVSHMEM.
MULTICAST_OFF = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}
CPU_SIZES = (4**6, 4**9, 4**12)  # 4 KiB, 256 KiB, 16 MiB
SEED = 0


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def spawn(task: dict[str, Any], world: int) -> dict[str, Any]:
    """Run `task` in `world` processes, one per device; what rank 0 returns."""
    import torch.multiprocessing as mp

    for name, value in MULTICAST_OFF.items():
        os.environ[name] = value
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rank0.json"
        # Rendezvous through a file in the private folder: a free TCP port picked here could
        # be taken by another process before the workers bind it.
        for attempt in (1, 2):
            store = f"file://{Path(folder) / f'rendezvous-{attempt}'}"
            try:
                mp.spawn(_worker, args=(world, store, task, str(out)), nprocs=world, join=True)
                break
            except mp.ProcessExitedException as exc:
                # gloo on CPU now and then aborts a worker (SIGABRT) at teardown, after rank 0
                # wrote its answer; a run that got that far stands, one that did not runs again
                # once. The abort's cause in gloo is not established.
                if out.exists():
                    break
                if attempt == 2:
                    raise RuntimeError(f"the {world} processes did not finish: {exc}") from exc
        return json.loads(out.read_text())


def _worker(rank: int, world: int, store: str, task: dict[str, Any], out: str) -> None:
    device = task["device"]
    options: dict[str, Any] = {"timeout": timedelta(minutes=10)}
    if device == "cuda":
        torch.cuda.set_device(rank)
        options["device_id"] = torch.device("cuda", rank)
    else:  # processes share the cores: one thread each
        torch.set_num_threads(1)
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=store, rank=rank, world_size=world, **options)
    try:
        result = run_task(task)
        if rank == 0:
            Path(out).write_text(json.dumps(result))
        # No process tears its connections down while another still uses them.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """This process's part of `task`: collectives, model steps, checks; rank 0's view."""
    device = task["device"]
    result: dict[str, Any] = {"environment": environment(device), "world_size": world()}
    if "check" in task:
        result["check"] = _gathered(check_collectives(device))
    if "collectives" in task:
        result["collectives"] = measure_collectives(device, **task["collectives"])
    if "logits" in task:
        result["logits"] = [sharded_logits(**case) for case in task["logits"]]
    if "model" in task:
        result["model"] = tp_steps(device=device, **task["model"])
    return result


def world() -> int:
    return dist.get_world_size()


def environment(device: str) -> dict[str, Any]:
    info = describe(device) | {"backend": dist.get_backend(), "world_size": world()}
    if device == "cuda":
        info["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        info["device_names"] = sorted({_name(i) for i in range(torch.cuda.device_count())})
    info["env"] = {k: v for k, v in os.environ.items() if k.startswith(("NCCL_", "TORCH_NCCL"))}
    return info


def _name(index: int) -> str:
    return torch.cuda.get_device_name(index)


def _gathered(value: Any) -> list[Any]:
    values: list[Any] = [None] * world()
    dist.all_gather_object(values, value)
    return values


def meet(device: str) -> None:
    """All processes leave together: what a collective's time starts from."""
    dist.barrier()
    if device == "cuda":
        torch.cuda.synchronize()


def slowest(seconds: float, device: str) -> float:
    """A step of a group takes as long as its slowest process."""
    where = "cuda" if device == "cuda" else "cpu"
    value = torch.tensor([seconds], dtype=torch.float64, device=where)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())


def _dtype(device: str) -> torch.dtype:
    return torch.bfloat16 if device == "cuda" else torch.float32


def collective_call(kind: str, nbytes: int, device: str) -> tuple[Callable[[], object], int]:
    """A collective as the analysis counts it, and its size in bytes (all-reduce and
    reduce-scatter: the input tensor; all-gather: the gathered output; all-to-all: one device's
    send buffer)."""
    dtype, p = _dtype(device), world()
    size = torch.tensor([], dtype=dtype).element_size()
    n = max(p, round(nbytes / size / p) * p)  # splits evenly over the devices

    def zeros(count: int) -> torch.Tensor:
        # Zeros stay zeros under repeated sums: no overflow to slow anything down.
        return torch.zeros(count, dtype=dtype, device=device)

    if kind == "all_reduce":
        x = zeros(n)
        return (lambda: dist.all_reduce(x)), n * size
    if kind == "all_gather":
        part, full = zeros(n // p), zeros(n)
        return (lambda: gather_into(full, part)), n * size
    if kind == "all_to_all":
        send, receive = zeros(n), zeros(n)
        return (lambda: dist.all_to_all_single(receive, send)), n * size
    if kind == "reduce_scatter":  # sized by its input, as all-reduce
        whole, part = zeros(n), zeros(n // p)
        return (lambda: dist.reduce_scatter_tensor(part, whole)), n * size
    raise ValueError(f"kind={kind!r}: expected one of {', '.join(KINDS + UNPRICED_KINDS)}")


def time_collective(
    call: Callable[[], object], device: str, iters: int, repeats: int
) -> tuple[float, str]:
    """Seconds per collective, the slowest process's median, and how they were timed: on GPUs
    `iters` back to back in a CUDA graph (host launches excluded, as engines replay them), else
    by wall clock."""
    if device == "cuda":
        try:
            seconds = time_graph(
                call, calls_per_graph=iters, repeats=repeats, before=lambda: meet(device)
            )
            return slowest(seconds, device), "cuda-graph replay"
        except RuntimeError:  # a backend that refuses capture: timed with launches
            torch.cuda.synchronize()
    for _ in range(2):  # warm-up: connections and buffers are set up on first use
        call()
    samples = []
    for _ in range(repeats):
        meet(device)
        start = time.perf_counter()
        for _ in range(iters):
            call()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) / iters)
    return slowest(statistics.median(samples), device), "wall clock"


def measure_collectives(
    device: str,
    sizes: Sequence[int] | None = None,
    kinds: Sequence[str] = KINDS,
    iters: int | None = None,
    repeats: int | None = None,
) -> list[dict[str, Any]]:
    """Each collective at each message size."""
    sizes = sizes or (GPU_SIZES if device == "cuda" else CPU_SIZES)
    iters = iters or (20 if device == "cuda" else 3)
    repeats = repeats or (15 if device == "cuda" else 3)
    rows = []
    for kind in kinds:
        for nbytes in sizes:
            call, actual = collective_call(kind, nbytes, device)
            seconds, method = time_collective(call, device, iters, repeats)
            rows.append(
                {"kind": kind, "ranks": world(), "bytes": actual, "time": seconds, "method": method}
            )
            del call
        if dist.get_rank() == 0:
            _log(f"{kind} over {world()}: {len(sizes)} sizes")
    return rows


def check_collectives(device: str) -> dict[str, list[float]]:
    """Small collectives with known answers: this process's results."""
    rank, p = dist.get_rank(), world()
    values = torch.full((4,), float(rank + 1), device=device)
    dist.all_reduce(values)
    gathered = torch.empty(2 * p, device=device)
    gather_into(gathered, torch.tensor([rank, rank + 0.5], device=device))
    received = torch.empty(p, device=device)
    dist.all_to_all_single(received, torch.arange(p, device=device) + 10.0 * rank)
    part = torch.empty(2, device=device)
    dist.reduce_scatter_tensor(part, torch.arange(2.0 * p, device=device) + 10.0 * rank)
    return {
        "all_reduce": values.tolist(),
        "all_gather": gathered.tolist(),
        "all_to_all": received.tolist(),
        "reduce_scatter": part.tolist(),
    }


def _sharded_runner(config: dict[str, Any], device: str, dtype: torch.dtype) -> ModelRunner:
    """The whole model built on every process from the same seed, then sliced: the slices are
    the whole model's, which the logits check needs, but each process holds the whole model
    for a moment (a 70B in bf16 does not fit one GPU)."""
    torch.manual_seed(SEED)
    runner = ModelRunner(config, device, dtype=dtype)
    shard(runner.model, dist.get_rank(), world())
    runner._release()
    return runner


def _timed_runner(config: dict[str, Any], device: str, dtype: torch.dtype) -> ModelRunner:
    """The model built on the meta device, sliced there, and only this process's slice given
    memory on `device` with random weights: a step's time does not depend on the weights'
    values, and no process ever holds the whole model."""
    runner = ModelRunner(config, "meta", dtype=dtype)
    shard(runner.model, dist.get_rank(), world())
    materialize(runner.model, device, seed=SEED + dist.get_rank())
    runner.device = device
    return runner


def materialize(model: torch.nn.Module, device: str, seed: int) -> None:
    """Give a model built on the meta device memory on `device`, in place: weights drawn as
    transformers initializes them (normal at the config's initializer range, norms 1, biases
    0), rotary embeddings' frequencies computed again. Any other buffer would hold garbage, so
    a model with one is refused."""
    rotary = {
        name for name, module in model.named_modules() if "RotaryEmbedding" in type(module).__name__
    }
    others = [name for name, _ in model.named_buffers() if name.rpartition(".")[0] not in rotary]
    if others:
        raise ValueError(f"buffers the meta-device build cannot restore: {', '.join(others)}")
    model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    std = getattr(model.config, "initializer_range", None) or 0.02
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif param.dim() == 1:
                param.fill_(1.0)
            else:
                param.normal_(0.0, std, generator=generator)
    for name in rotary:
        parent, _, attribute = name.rpartition(".")
        owner = model.get_submodule(parent)
        old = getattr(owner, attribute)
        # Built where it runs (the constructor's device argument is not in every release).
        with torch.device(device):
            setattr(owner, attribute, type(old)(old.config).to(device))


def sharded_logits(config: dict[str, Any], ids: list[list[int]]) -> list:
    """Logits of the sharded model (fp32, CPU) for `ids`, to compare with the whole model."""
    runner = _sharded_runner(config, "cpu", torch.float32)
    with torch.inference_mode():
        logits = runner.model(torch.tensor(ids), use_cache=False).logits
    return logits.tolist()


def tp_steps(
    config: dict[str, Any], points: Sequence[Sequence[int]], device: str, graphs: bool = True
) -> dict[str, Any]:
    """Prefill and decode steps of the sharded model at (batch, new tokens, past) points, each
    as long as the slowest process took."""
    runner = _timed_runner(config, device, _dtype(device))
    out: dict[str, Any] = {"params_per_device": runner.params(), "runs": []}
    for batch, new, past in points:
        stage = "prefill" if past == 0 else "decode"
        if dist.get_rank() == 0:
            _log(f"tp={world()} {stage} b={batch} new={new} past={past}")
        run = runner.run(batch, new, past, graphs=graphs, before=lambda: meet(device))
        for key in ("eager", "graph", "peak_memory"):
            if key in run:
                run[key] = slowest(float(run[key]), device)
        out["runs"].append({"stage": stage, **run})
    return out


def check_world(device: str, tp: int) -> None:
    """One process per device: no more than there are."""
    available = torch.cuda.device_count() if device == "cuda" else max(2, os.cpu_count() or 1)
    what = "GPUs PyTorch sees here" if device == "cuda" else "processes for this CPU's cores"
    if isinstance(tp, bool) or not isinstance(tp, int) or not 1 <= tp <= available:
        raise InvalidInputError("--tp", tp, f"an integer from 1 to {available}, the {what}")


def check_model(config: dict[str, Any], spec: ModelSpec, device_spec: Device, tp: int) -> None:
    """A model the sharding knows, split evenly (the analysis's own rules), before any spawn."""
    if config.get("model_type") not in SHARDABLE:
        raise InvalidInputError(
            "model",
            spec.name,
            f"a {', '.join(SHARDABLE)} model: tensor parallelism is applied by hand to those",
        )
    analyze(spec, device_spec, batch=1, prompt_len=1, options=parallel_options(None, "graphs", tp))


def grid(
    spec: ModelSpec,
    device_spec: Device,
    tp: int,
    points: Sequence[tuple[int, int, int]],
    memory_share: float = 0.85,
    max_prefill_seconds: float = 1.5,
) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]]]:
    """The points to run, and those left out (too big for a device, or too long)."""
    keep, skipped = [], []
    for batch, new, past in points:
        stage, length = ("prefill", new) if past == 0 else ("decode", past)
        options = parallel_options(None, "graphs", tp)
        predicted = analyze(spec, device_spec, batch=batch, prompt_len=length, options=options)
        why = None
        if float(predicted.memory[stage].total) > memory_share * device_spec.memory_capacity:
            why = "does not fit in device memory"
        elif stage == "prefill" and 3 * float(predicted.totals()[stage]["time"]) > (
            max_prefill_seconds
        ):
            why = "longer than the run's time budget"
        if why:
            skipped.append({"stage": stage, "batch": batch, "length": length, "why": why})
        else:
            keep.append((batch, new, past))
    return keep, skipped


def measure_parallel(
    config: dict[str, Any] | None,
    spec: ModelSpec | None,
    device: str,
    device_spec: Device,
    tp: int,
    points: Sequence[tuple[int, int, int]] = (),
    sizes: Sequence[int] | None = None,
    skipped: Sequence[dict[str, Any]] = (),
    kinds: Sequence[str] | None = KINDS,
) -> dict[str, Any]:
    """Collectives over `tp` processes (`kinds`; None: none) and, given a model, its sharded
    steps at `points`: the raw measurements the report and `rooflens measure --tp` predict.
    Collectives the analysis does not price come apart, under "unpriced_collectives"."""
    task: dict[str, Any] = {"device": device}
    if kinds:
        task["collectives"] = {"sizes": sizes, "kinds": list(kinds)}
    if config is not None and points:
        task["model"] = {"config": config, "points": list(points)}
    raw = spawn(task, tp)
    measured = raw.get("collectives", [])
    out = {
        "environment": raw["environment"],
        "hardware": device_spec.name,
        "world_size": raw["world_size"],
        "collectives": [c for c in measured if c["kind"] in KINDS],
        "models": [],
    }
    unpriced = [c for c in measured if c["kind"] not in KINDS]
    if unpriced:
        out["unpriced_collectives"] = unpriced
    if spec is not None:
        model = raw.get("model", {"runs": []})
        entry = {"model": spec.name, "tp": tp, "config": config, **model}
        out["models"].append(entry | {"skipped": list(skipped)})
    return out


TP_POINTS = tuple(
    [(b, s, 0) for b in (1, 8, 32) for s in (128, 512, 2048)]
    + [(b, 1, c) for b in (1, 8, 32, 64) for c in (512, 2048, 8192)]
)
# A short grid for a time-boxed run: two prefills, three decodes.
FEW_TP_POINTS = ((1, 512, 0), (8, 2048, 0), (1, 1, 2048), (32, 1, 2048), (64, 1, 8192))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tp", type=int, required=True, help="devices, one process each")
    parser.add_argument("--model", nargs="*", default=["meta-llama/Llama-3.1-8B"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hardware", help="catalog device (default: from the GPU's name)")
    parser.add_argument("--few", action="store_true", help="the short grid of steps")
    parser.add_argument("--no-collectives", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.device != "cuda" and not args.hardware:
        parser.error("--hardware: a catalog device or TOML file for a CPU run")
    check_world(args.device, args.tp)
    device_spec = get_device(args.hardware) if args.hardware else catalog_device(_name(0))
    models = []
    for name in args.model:  # a bundled id or a config.json
        config, label = resolve_config(name)
        models.append((name, spec_from_config(config, name=label), config))
    for _, spec, config in models:
        check_model(config, spec, device_spec, args.tp)
    raw: dict[str, Any] = {
        "environment": None,
        "hardware": device_spec.name,
        "world_size": args.tp,
        "collectives": [],
        "models": [],
    }
    if not args.no_collectives:
        kinds = KINDS + UNPRICED_KINDS
        raw = measure_parallel(None, None, args.device, device_spec, args.tp, kinds=kinds)
        Path(args.out).write_text(json.dumps(raw, indent=1))  # partial results as they come
    for name, spec, config in models:
        points, skipped = grid(spec, device_spec, args.tp, FEW_TP_POINTS if args.few else TP_POINTS)
        try:
            one = measure_parallel(
                config, spec, args.device, device_spec, args.tp, points, skipped=skipped, kinds=None
            )
            raw["models"] += one["models"]
            raw["environment"] = raw["environment"] or one["environment"]
        except Exception as exc:  # one model failing leaves the others (and the file) standing
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            raw["models"].append({"model": name, "tp": args.tp, "failed": why})
            _log(f"{name} failed: {why}")
        Path(args.out).write_text(json.dumps(raw, indent=1))
    _log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
