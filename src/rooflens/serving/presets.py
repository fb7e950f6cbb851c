"""Scheduler defaults of the serving engines people deploy, as presets of rooflens' schedulers.

Each value is the engine's default on a datacenter GPU with at least 70 GiB (H100, H200, B200:
the GPUs benchmarks run on); `preset_for` applies the engines' rules for other memory sizes.
docs/serving.md says where a preset departs from its engine's scheduler.
"""

from __future__ import annotations

from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.serving.config import SchedulerConfig, build

_GIB = 2**30

PRESETS: dict[str, SchedulerConfig] = {
    # vLLM V1 (0.10-0.12), `vllm serve` (usage context OPENAI_API_SERVER).
    "vllm": SchedulerConfig(
        # V1 always schedules chunked prefill: decodes first, then prompt chunks in the budget
        # (vllm/engine/arg_utils.py, _set_default_args: "V1 always uses chunked prefills").
        policy="chunked",
        # EngineArgs.get_batch_defaults: >= 70 GiB and not A100: max_num_seqs 1024.
        max_batch=1024,
        # EngineArgs.get_batch_defaults: >= 70 GiB and not A100: max_num_batched_tokens 8192.
        max_tokens=8192,
        # long_prefill_token_threshold defaults to 0: no cap per request below the budget.
        chunk_size=None,
        # SchedulerConfig.policy default "fcfs".
        queue="fcfs",
        # CacheConfig.block_size default 16 on CUDA.
        block_size=16,
        # V1 preempts by recomputation only (the latest-admitted running request).
        preemption="recompute",
        # V1 enables prefix caching by default.
        prefix_sharing=True,
    ),
    # SGLang 0.4-0.5, `sglang.launch_server` (python/sglang/srt/server_args.py).
    "sglang": SchedulerConfig(
        # Prefill batches run on their own (enable_mixed_chunk defaults to False), decoding
        # pauses meanwhile; long prompts are cut into chunks of chunked_prefill_size.
        policy="continuous",
        # max_running_requests defaults to the request pool the KV cache allows,
        # min(max(tokens / context_len * 512, 2048), 4096) in model_runner: at most 4096.
        max_batch=4096,
        # max_prefill_tokens default 16384: the tokens one prefill batch may hold.
        max_tokens=16384,
        # chunked_prefill_size: 8192 for GPUs under 160 GiB (H100, H200); 16384 above (B200).
        chunk_size=8192,
        # schedule_policy default "fcfs" (longest-prefix-match only helps shared prefixes).
        queue="fcfs",
        # page_size default 1: the radix cache allocates token by token.
        block_size=1,
        # Decode out of memory: requests are retracted and recomputed later.
        preemption="recompute",
        # RadixAttention prefix caching is on unless --disable-radix-cache.
        prefix_sharing=True,
    ),
    # TensorRT-LLM 0.20-1.x, `trtllm-serve` / LLM API (tensorrt_llm BuildConfig, KvCacheConfig).
    "trtllm": SchedulerConfig(
        # In-flight batching: context (prefill) and generation requests share every iteration.
        # enable_chunked_prefill defaults to False; rooflens cuts a prompt that overruns the
        # iteration's remaining budget (docs/serving.md).
        policy="chunked",
        # BuildConfig.max_batch_size default 2048.
        max_batch=2048,
        # BuildConfig.max_num_tokens default 8192.
        max_tokens=8192,
        chunk_size=None,
        queue="fcfs",
        # KvCacheConfig.tokens_per_block default 32.
        block_size=32,
        # The default capacity policy GUARANTEED_NO_EVICT never preempts; rooflens recomputes
        # if memory runs out (docs/serving.md).
        preemption="recompute",
        # KvCacheConfig.enable_block_reuse default True.
        prefix_sharing=True,
    ),
}


def preset_for(name: str, device: Device | None = None) -> SchedulerConfig:
    """The engine's scheduler defaults, sized for `device` where the engine sizes them by GPU
    memory (None: a GPU of at least 70 GiB)."""
    if name not in PRESETS:
        raise InvalidInputError("preset", name, f"one of {', '.join(PRESETS)}")
    config = PRESETS[name]
    if device is None:
        return config
    memory = device.memory_capacity
    if name == "vllm" and (memory < 70 * _GIB or "a100" in device.name.lower()):
        # EngineArgs.get_batch_defaults: other GPUs get 2048 tokens and 256 sequences.
        return config.model_copy(update={"max_tokens": 2048, "max_batch": 256})
    if name == "sglang":
        # server_args: chunked_prefill_size 2048 under 35 GiB, 8192 under 160 GiB, else 16384.
        chunk = 2048 if memory < 35 * _GIB else 8192 if memory < 160 * _GIB else 16384
        return config.model_copy(update={"chunk_size": chunk})
    return config


def with_overrides(base: SchedulerConfig, **settings: object) -> SchedulerConfig:
    """`base` with the given scheduler settings replaced (None: keep the preset's), validated."""
    chosen = {k: v for k, v in settings.items() if v is not None}
    return build(SchedulerConfig, "scheduler", **(base.model_dump() | chosen))
