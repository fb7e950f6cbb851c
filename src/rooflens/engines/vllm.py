"""vLLM's defaults (V1 engine, `vllm serve` on a GPU of at least 70 GiB that is not an A100)."""

from __future__ import annotations

from collections.abc import Sequence

from rooflens.core import memory
from rooflens.core.efficiency import version_key
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.engines.defaults import BLACKWELL, HOPPER, EngineDefaults, on
from rooflens.serving.config import SchedulerConfig

_GIB = 2**30

# vLLM V1 (0.10 on), `vllm serve` (usage context OPENAI_API_SERVER).
SCHEDULER = SchedulerConfig(
    # V1 always schedules chunked prefill: decodes first, then prompt chunks in the budget
    # (vllm/engine/arg_utils.py, _set_default_args: "V1 always uses chunked prefills").
    policy="chunked",
    # EngineArgs.get_batch_defaults: >= 70 GiB and not A100: max_num_seqs 1024.
    max_batch=1024,
    # EngineArgs.get_batch_defaults: >= 70 GiB and not A100: max_num_batched_tokens 8192
    # (the LLM class: 16384).
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
    # The hybrid KV cache manager groups window and full attention layers (kv_group_layers).
    kv_groups=True,
    # async_scheduling defaults to on (vllm/config/vllm.py) since pull request 27614, merged
    # at the end of 2025 (taken as 0.14), with MTP drafts too since 31998.
    overlap=True,
)


# EngineArgs.get_batch_defaults, `vllm serve` on a TPU: max_num_batched_tokens by chip (its
# device name); other chips keep the GPU rule's.
TPU_TOKENS = {"tpu-v6e": 1024, "tpu-v5e": 512, "tpu-v5p": 256}


def block_size(device: Device | None, model: ModelSpec | None) -> int:
    """CacheConfig.block_size as vllm/platforms/cuda.py settles it for the attention backend
    it picks: DeepSeek-V4's sparse window backend 256, a DSA indexer's 64 (FlashMLA sparse);
    latent attention on Hopper 64 (FlashMLA) and on Blackwell 64 (FlashInfer MLA, its default
    since pull request 32339, January 2026; CUTLASS MLA's 128 before); else 16."""
    if model is None or device is None:
        return SCHEDULER.block_size
    if model.compressed_attention:
        return 256
    if model.index_topk:
        return 64
    if model.is_mla and on(device, HOPPER + BLACKWELL):
        return 64
    return SCHEDULER.block_size


# vllm/v1/core/kv_cache_utils.py (_get_kv_cache_groups_uniform_page_size, the hybrid KV cache
# manager): a model's layers of each kind in groups of the fewest layers any kind has (of the
# most, where that is under 1.25 times the fewest), each kind's last group padded.
GROUP_SLACK = 1.25


def kv_group_layers(counts: Sequence[int]) -> tuple[int, ...]:
    """The layers' worth of KV blocks each kind of attention layer holds as vLLM groups them
    (`memory.kv_group_layers` at GROUP_SLACK)."""
    return memory.kv_group_layers(counts, GROUP_SLACK)


def kv_group_spans(
    spans: Sequence[tuple[float, int | None]], layers: int
) -> tuple[tuple[tuple[float, int | None], ...], float] | None:
    """KV spans held as vLLM groups them (`memory.kv_group_spans` at GROUP_SLACK)."""
    return memory.kv_group_spans(spans, layers, GROUP_SLACK)


# vLLM's async scheduling (the preset's `overlap`) is its default from 0.14 (pull request
# 27614, merged in the last week of 2025; before it only with --async-scheduling): the first
# release taken to have it, not checked against vLLM's tags.
ASYNC_SCHEDULING_FROM = "0.14"


def scheduler_for(
    device: Device | None, model: ModelSpec | None = None, version: str | None = None
) -> SchedulerConfig:
    """The scheduler on `device` (None: a GPU of at least 70 GiB), by
    EngineArgs.get_batch_defaults' rules for `vllm serve`: 8,192 tokens and 1,024 sequences on
    devices of at least 70 GiB but A100s, else 2,048 and 256; a TPU's tokens by its chip;
    on a CPU 2,048 tokens and 128 sequences per rank of TP x PP (one rank: the preset is one
    device's); the sequences then at most the tokens. `model`: its block size
    (`block_size`). `version`: a release before ASYNC_SCHEDULING_FROM forms each iteration
    after the one before (no overlap); None, or a nightly or named build: the newest's."""
    release = version_key(version) if version is not None else (-1,)  # (-1,): no number
    if (-1,) < release < version_key(ASYNC_SCHEDULING_FROM):
        return scheduler_for(device, model).model_copy(update={"overlap": False})
    if device is None:
        return SCHEDULER
    blocks = block_size(device, model)
    tokens, sequences = SCHEDULER.max_tokens, SCHEDULER.max_batch
    if device.memory_capacity < 70 * _GIB or "a100" in device.name.lower():
        tokens, sequences = 2048, 256
    if device.kind == "tpu":
        tokens = TPU_TOKENS.get(device.name, tokens)
    if device.kind in ("cpu", "apple-soc"):  # vLLM runs Apple silicon on its CPU backend
        tokens, sequences = 2048, 128
    sequences = min(sequences, tokens)
    chosen = {"max_tokens": tokens, "max_batch": sequences, "block_size": blocks}
    if all(getattr(SCHEDULER, k) == v for k, v in chosen.items()):
        return SCHEDULER
    return SCHEDULER.model_copy(update=chosen)


def settle(config: SchedulerConfig) -> SchedulerConfig:
    """Settings as vLLM reads them: as given (it refuses a token budget below max_num_seqs,
    and so does rooflens' prepare)."""
    return config


DEFAULTS = EngineDefaults(
    engine="vllm",
    version="0.11-0.24",
    memory_fraction=0.92,
    memory_fraction_before=(("0.21", 0.9),),
    memory_setting="gpu_memory_utilization: share of the device's memory for the instance",
    fusion=("qkv", "gate_up", "add_norm", "moe"),
    # Measured (docs/engines-measured.md): vLLM 0.22.0's OpenAI server on an H100 SXM, one
    # streaming client, Llama-3.1-8B's shape with random weights, 16- and 128-token prompts
    # (prefilled in a CUDA graph), in two launches: mean TTFT less the prefill step the H100
    # profile prices (its tables are vLLM 0.24.0's, the H100's only ones), 8 requests each.
    host_per_request=0.0099,
    # Measured (docs/engines-measured.md, "vLLM past its CUDA graphs"): vLLM 0.22.0 on one
    # H100 SXM host started at its defaults (graphs up to 512 tokens) and with graphs captured
    # up to 4,096 tokens, one client, 1,024- to 4,096-token prompts: the TTFT the graphs saved
    # plus the prefill step priced, per layer, where it passed the starts' own difference at
    # prompts both ran in graphs; the median over Llama-3.1-8B's points (dense) and over
    # Qwen3-30B-A3B's less that (mixture of experts) (engine_runs.launch_times, margin).
    eager_host_per_layer=0.00109,
    eager_host_per_moe_layer=0.00047,
    sources={
        "eager_host_per_layer": (
            "measured by rooflens with vLLM 0.22.0 on an H100 SXM (2026-12-08, FlashAttention "
            "3, Triton MoE kernel): Llama-3.1-8B's shape started twice at its defaults and "
            "once with CUDA graphs captured up to 4,096 tokens, one client, prompts past the "
            "default 512-token graphs, the median per layer of the TTFT the graphs saved plus "
            "the prefill step priced, where it passed the starts' difference at prompts both "
            "ran in graphs (one point of six; docs/engines-measured.md)"
        ),
        "eager_host_per_moe_layer": (
            "measured by rooflens with vLLM 0.22.0 on an H100 SXM (2026-12-08, Triton MoE "
            "kernel): Qwen3-30B-A3B's shape started once at its defaults and twice with CUDA "
            "graphs captured up to 4,096 tokens, one client, prompts past the default "
            "512-token graphs, the median per layer of the TTFT the graphs saved plus the "
            "prefill step priced, less a dense layer's (docs/engines-measured.md)"
        ),
        "host_per_request": (
            "measured by rooflens with vLLM 0.22.0's OpenAI server on an H100 SXM (2026-12-07): "
            "one streaming client, Llama-3.1-8B's shape, 16- and 128-token prompts in two "
            "launches, mean TTFT less the prefill step vLLM 0.24.0's H100 tables price "
            "(docs/engines-measured.md)"
        ),
        "fp8_activation_scale": (
            "vLLM docs, FP8 W8A8 (docs.vllm.ai quantization/fp8): --quantization fp8 "
            "quantizes a 16-bit checkpoint online, activations with dynamic per-tensor scales"
        ),
        "fusion": (
            "vllm/model_executor/models/llama.py (and the other decoders): QKVParallelLinear "
            "qkv_proj, MergedColumnParallelLinear gate_up_proj, then SiluAndMul, a kernel of "
            "its own that reads the GEMM's output (not act), RMSNorm's fused residual add "
            "(fused_add_rms_norm); shared experts built as that MLP; routed "
            "experts in model_executor/layers/fused_moe (FusedMoE: w13, the activation, w2)"
        ),
        "memory_fraction": (
            "vllm/config/cache.py CacheConfig.gpu_memory_utilization: 0.92 from 0.21, which "
            "also takes its CUDA graphs' memory out of it (pull request 38284, "
            "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS; not counted by rooflens) (the "
            "shipped profiles' kernels are 0.24.0's), 0.9 in earlier releases"
        ),
    },
)


def memory_share(device: Device, version: str | None, tp: int = 1, pp: int = 1) -> float:
    """The share of memory it takes by default: its release's (DEFAULTS), on any device and
    layout."""
    return DEFAULTS.memory_fraction_at(version)


# vllm/config/vllm.py (VllmConfig._set_cudagraph_sizes, 0.22.0): with no capture size
# given, CUDA graphs are captured for batches of up to min(2 x max_num_seqs x (1 + the
# speculative tokens), 512) tokens, and never more than max_num_batched_tokens.
GRAPH_TOKENS_CAP = 512
# vllm/model_executor/models/config.py (GptOssForCausalLMConfig, 0.22.0): gpt-oss sets the
# largest capture size itself, 1,024 tokens whatever max_num_seqs (992 in 0.11.0).
GPT_OSS_GRAPH_TOKENS = 1024


def capture_tokens(max_seqs: int, max_tokens: int, draft_tokens: int = 0) -> int:
    """The most tokens an iteration holds and still replays one of vLLM's CUDA graphs, at its
    default capture sizes (GRAPH_TOKENS_CAP's rule)."""
    return min(2 * max_seqs * (1 + draft_tokens), GRAPH_TOKENS_CAP, max_tokens)


def prefill_graph_tokens(
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    at: str | None = None,
    scheduler: SchedulerConfig | None = None,
    **conditions: bool,
) -> int:
    """The most tokens a prefill iteration runs from vLLM's piecewise CUDA graphs
    (capture_tokens; gpt-oss's GPT_OSS_GRAPH_TOKENS) with `scheduler`'s sequences, token
    budget and drafts (None: its preset on `device`, scheduler_for); a larger one runs
    compiled but launched kernel by kernel,
    whose host time was measured (docs/engines-measured.md, "vLLM past its CUDA graphs")."""
    sched = scheduler if scheduler is not None else scheduler_for(device, model, version)
    if model is not None and model.model_type == "gpt_oss":
        return min(GPT_OSS_GRAPH_TOKENS, sched.max_tokens)
    return capture_tokens(sched.max_batch, sched.max_tokens, sched.draft_tokens)
