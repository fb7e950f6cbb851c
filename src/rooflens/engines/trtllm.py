"""TensorRT-LLM's defaults (the PyTorch-backend LLM API, `trtllm-serve`)."""

from __future__ import annotations

from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.engines.defaults import EngineDefaults
from rooflens.serving.config import SchedulerConfig

# TensorRT-LLM 0.20-1.x, `trtllm-serve` / LLM API (tensorrt_llm BuildConfig, KvCacheConfig).
SCHEDULER = SchedulerConfig(
    # In-flight batching: context (prefill) and generation requests share every iteration.
    policy="chunked",
    # llm_args.py: enable_chunked_prefill defaults to False (a context request joins only
    # whole). Whole prompts under the default 8192-token budget would keep an 8192-token
    # prompt out of every iteration that decodes anything, which measured TensorRT-LLM runs
    # of such prompts do not show (docs/serving.md): rooflens cuts prompts, as chunked.
    split_prompts=True,
    # tensorrt_llm/llmapi/llm_args.py: max_batch_size default 2048.
    max_batch=2048,
    # tensorrt_llm/llmapi/llm_args.py: max_num_tokens default 8192.
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
    # TorchLlmArgs.disable_overlap_scheduler defaults to False: the overlap executor loop.
    overlap=True,
)


def scheduler_for(
    device: Device | None, model: ModelSpec | None = None, version: str | None = None
) -> SchedulerConfig:
    """The scheduler on `device`: the same on every GPU, model and `version`."""
    return SCHEDULER


def settle(config: SchedulerConfig) -> SchedulerConfig:
    """Settings as TensorRT-LLM reads them: a token budget below the batch limit's tokens
    holds the batch to the budget, as its micro-batch scheduler counts each generating
    request as its beam and its draft tokens of max_num_tokens (_torch/pyexecutor/
    scheduler.py) where vLLM refuses such a budget."""
    per_request = config.decode_tokens
    if config.max_tokens < config.max_batch * per_request:
        return config.model_copy(update={"max_batch": max(config.max_tokens // per_request, 1)})
    return config


DEFAULTS = EngineDefaults(
    engine="trtllm",
    version="1.0-1.3",
    memory_fraction=0.9,
    memory_fraction_of="free",
    memory_setting=(
        "free_gpu_memory_fraction: share of the memory still free after loading weights "
        "that the KV cache takes"
    ),
    fusion=("qkv", "gate_up", "add_norm", "moe"),
    fp8_activation_scale="static",
    sources={
        "fp8_activation_scale": (
            "TensorRT-LLM docs, Quantization (nvidia.github.io/TensorRT-LLM/features/"
            "quantization.html): FP8 runs pre-quantized Model Optimizer checkpoints, whose "
            "per-tensor FP8 recipe stores calibrated (static) activation scales"
        ),
        "fusion": (
            "tensorrt_llm/_torch/modules/attention.py (one qkv_proj Linear), "
            "gated_mlp.py (gate_up_proj, then swiglu: flashinfer's silu_and_mul, a kernel of "
            "its own that reads the GEMM's output, not act), rms_norm.py (the "
            "residual add fused into the norm); shared experts as GatedMLP; routed experts "
            "in _torch/modules/fused_moe (one MoE module: FC1, the activation, FC2)"
        ),
        "memory_fraction": (
            "TensorRT-LLM docs, 'How to Change KV Cache Behavior' "
            "(nvidia.github.io/TensorRT-LLM/examples/kvcacheconfig.html): default 0.9"
        ),
    },
)


def memory_share(device: Device, version: str | None, tp: int = 1, pp: int = 1) -> float:
    """The share of memory it takes by default: its release's (DEFAULTS), on any device and
    layout."""
    return DEFAULTS.memory_fraction_at(version)


def prefill_graph_tokens(
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    at: str | None = None,
    scheduler: SchedulerConfig | None = None,
    **conditions: bool,
) -> int | None:
    """None: TensorRT-LLM captures generation-only batches unless piecewise graphs are on,
    and rooflens has measured no host time for its context iterations apart from their
    kernels, so every iteration is priced as its kernels (`scheduler` not read)."""
    return None
