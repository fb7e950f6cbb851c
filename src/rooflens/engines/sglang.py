"""SGLang's defaults (`sglang.launch_server` on an 80 GB-class GPU, one device)."""

from __future__ import annotations

import re

from rooflens.core import memory
from rooflens.core.efficiency import version_key
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import StatePool
from rooflens.engines.defaults import BLACKWELL, EngineDefaults, on
from rooflens.serving.config import SchedulerConfig


def mem_fraction_static(
    gpu_mib: float, chunked_prefill: int, graph_max_batch: int, tp: int = 1, pp: int = 1
) -> float:
    """SGLang's automatic mem_fraction_static (server_args.py _handle_gpu_memory_settings): what
    is left after reserving 512 MiB, 1.5 MiB per chunked-prefill token, 2 MiB per CUDA-graph
    batch slot and 1 GiB per 8 ranks, at least 10 GiB on devices over 60 GiB."""
    reserved = 512 + 1.5 * max(chunked_prefill, 2048) + 2 * graph_max_batch + tp * pp / 8 * 1024
    if gpu_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((gpu_mib - reserved) / gpu_mib, 3)


_MIB = 2**20
# chunked_prefill_size and cuda_graph_max_bs on 80 GB GPUs (server_args.py).
CHUNKED_PREFILL = 8192
GRAPH_MAX_BATCH = 256
# server_args.py _handle_gpu_memory_settings, by the device's memory: below this many MiB,
# chunked_prefill_size, and cuda_graph_max_bs below TP 4 and from TP 4 on. Devices under
# 35 GiB take the A10/4090 bucket (SGLang has smaller ones below 20 GiB, not read here).
MEMORY_BUCKETS = (
    (35 * 1024, 2048, 24, 80),
    (60 * 1024, 4096, 32, 160),
    (160 * 1024, 8192, 256, 512),
    (float("inf"), 16384, 512, 512),
)


def launch_sizes(memory_bytes: float, tp: int = 1) -> tuple[int, int]:
    """SGLang's chunked_prefill_size and cuda_graph_max_bs on a device of this much memory
    at this TP width (MEMORY_BUCKETS)."""
    mib = memory_bytes / _MIB
    _, chunk, narrow, wide = next(b for b in MEMORY_BUCKETS if mib < b[0])
    return chunk, narrow if tp < 4 else wide


def memory_fraction_on(device: Device, tp: int = 1, pp: int = 1) -> float:
    """mem_fraction_static as SGLang computes it on `device` at this layout (its data-parallel
    attention's and speculative decoding's extra reserves not counted: docs/engines.md)."""
    chunk, graphs = launch_sizes(device.memory_capacity, tp)
    return mem_fraction_static(device.memory_capacity / _MIB, chunk, graphs, tp, pp)


# SGLang 0.4-0.5, `sglang.launch_server` (python/sglang/srt/server_args.py).
SCHEDULER = SchedulerConfig(
    # Prefill batches run on their own (enable_mixed_chunk defaults to False), decoding
    # pauses meanwhile; long prompts are cut into chunks of chunked_prefill_size.
    policy="continuous",
    # max_running_requests defaults to the request pool the KV cache allows (request_pool):
    # at most 4096. Decodes beyond cuda_graph_max_bs run without a CUDA graph; they are not
    # held back.
    max_batch=4096,
    request_pool=True,
    # A hybrid recurrent model's states live in a mamba pool of their own (state_pool).
    state_pool=True,
    # max_prefill_tokens default 16384: the tokens one prefill batch may hold.
    max_tokens=16384,
    # chunked_prefill_size: 8192 for GPUs under 160 GiB (H100, H200); 16384 above (B200).
    chunk_size=CHUNKED_PREFILL,
    # schedule_policy default "fcfs" (longest-prefix-match only helps shared prefixes).
    queue="fcfs",
    # page_size default 1: the radix cache allocates token by token.
    block_size=1,
    # Decode out of memory: requests are retracted and recomputed later.
    preemption="recompute",
    # RadixAttention prefix caching is on unless --disable-radix-cache.
    prefix_sharing=True,
    # disable_overlap_schedule defaults to False (server_args.py): the overlap event loop.
    overlap=True,
    # The overlap loop decodes the requests the step before finished once more, their tokens
    # dropped (scheduler_output_processor_mixin.py, process_batch_result_decode).
    finished_step=True,
)


# server_args.py: mamba_full_memory_ratio, the state pool's memory over the KV pool's; with
# the radix cache on, max_running_requests at most the state slots over
# MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO (model_runner init_memory_pool, v0.5.9).
STATE_MEMORY_RATIO = 0.9
SLOTS_PER_REQUEST_CACHED = 3


def state_pool(
    rest: float,
    state_bytes: float,
    prefix_sharing: bool,
    spec_reserve: float = 0.0,
    max_running: int | None = None,
) -> tuple[float, int, int]:
    """SGLang's split of a hybrid model's memory (handle_max_mamba_cache): the bytes `rest`
    the weights leave, less the drafts' intermediate states (`spec_reserve`), go
    0.9 : 1 to the state pool and the KV pool; with the radix cache off and
    max_running_requests given (`max_running`), that many states. Returns (the KV pool's
    bytes, the state slots, the running requests they allow: a third of them with the radix
    cache on)."""
    kv, slots, running = memory.state_pool_split(
        rest - spec_reserve, state_bytes, pool(prefix_sharing, max_running)
    )
    return float(kv), int(slots), int(running)


def pool(prefix_sharing: bool, max_running: int | None = None) -> StatePool:
    """The state pool as SGLang sizes it (`state_pool`): its slots fixed by
    max_running_requests only where the radix cache is off."""
    fixed = None if prefix_sharing else max_running
    per_request = SLOTS_PER_REQUEST_CACHED if prefix_sharing else 1
    return StatePool(ratio=STATE_MEMORY_RATIO, per_request=per_request, slots=fixed)


def request_pool(kv_tokens: int, context_len: int) -> int:
    """max_running_requests when not given (model_runner's _resolve_max_num_reqs): the KV
    pool's tokens / the model's context length x 512, within [2048, 4096], and at most half
    the KV tokens (its newer releases' cap)."""
    estimated = min(max(int(kv_tokens / context_len * 512), 2048), 4096)
    return max(min(estimated, kv_tokens // 2), 1)


def page_size(device: Device | None, model: ModelSpec | None) -> int:
    """page_size when none is given (server_args.py: the model's adjustments, then its
    attention backend's, then _handle_page_size's 1): DeepSeek-V4's dsv4 backend 256; a DSA
    indexer's nsa backend 64; on Blackwell (SM100) the default backends trtllm_mla for latent
    attention and trtllm_mha for the rest, 64 (trtllm_mha for every model there since pull
    request 14291, December 2025; for hybrid recurrent models since 19030, March 2026);
    else 1 (fa3 on Hopper)."""
    if model is None or device is None:
        return SCHEDULER.block_size
    if model.compressed_attention:
        return 256
    if model.index_topk or on(device, BLACKWELL):
        return 64
    return SCHEDULER.block_size


# SGLang prefills in CUDA graphs by default from 0.5.10 (python/sglang/srt/server_args.py of
# each release: 0.5.9's enable_piecewise_cuda_graph is False unless given; 0.5.10-0.5.14 run
# piecewise graphs, _handle_piecewise_cuda_graph or 0.5.14's tc_piecewise rules turning them
# off for some deployments and architectures; from 0.5.15 "breakable" graphs are the default
# on CUDA, _disable_breakable_cudagraph_if_incompatible turning them off for others).
PREFILL_GRAPHS_FROM = "0.5.10"
# Its first release candidate already had them on.
FIRST_CANDIDATE = "0.5.10rc0"
BREAKABLE_GRAPHS_FROM = "0.5.15"
# The day each release's rules reached the nightly images, for a nightly read by its date:
# PyPI's upload day of the release, but 0.5.10's from the day its default landed on main
# (pull request 16331, merged 2026-03-02; the release came 2026-04-05).
RELEASE_DAYS = (
    ("0.5.10", "2026-03-02"),
    ("0.5.11", "2026-05-07"),
    ("0.5.12", "2026-05-16"),
    ("0.5.13", "2026-06-11"),
    ("0.5.14", "2026-06-26"),
    ("0.5.15", "2026-07-10"),
    ("0.5.16", "2026-07-25"),
    ("0.5.17", "2026-08-08"),
)
# Architectures whose piecewise prefill graphs 0.5.10-0.5.14 turn off (configs/model_config.py,
# piecewise_cuda_graph_disabled_model_archs), by model_type: the first release that lists
# them and the first that no longer does (None: still listed in 0.5.14).
PIECEWISE_OFF = {
    "qwen3_next": ("0.5.10", None),
    "glm_moe_dsa": ("0.5.10", "0.5.13"),
    "deepseek_v32": ("0.5.10", "0.5.13"),
    "deepseek_v4": ("0.5.12", None),
}
# The auto MoE runner 0.5.10-0.5.12 choose on Blackwell (flashinfer_trtllm) for DeepSeek V3's
# architecture and the Qwen3 MoE family in 16 bits or FP8, with which they turn piecewise
# graphs off (server_args.py: moe_runner_backend flashinfer_trtllm or flashinfer_mxfp4,
# gpt-oss excepted; 0.5.13 runs those MoE layers inside the graphs). The runner's choices that
# hang on the checkpoint's precision (Llama 4 in FP8, GLM-4.x in NVFP4) are not read.
TRTLLM_MOE_RUNNER = ("deepseek_v3", "kimi_k2", "kimi_k25", "qwen3_moe", "qwen3_next", "qwen3_5_moe")
TRTLLM_MOE_RUNNER_UNTIL = "0.5.13"
# Multimodal wrappers SGLang serves as text models unless --enable-multimodal is given
# (model_config.py's mm_disabled_models), and whose language model its graph runner finds
# only from 0.5.16 (resolve_language_model; before, "not a language model": no graphs).
TEXT_WRAPPERS = ("gemma3", "llama4")
WRAPPERS_REACHED_FROM = "0.5.16"
# Multimodal wrappers whose breakable prefill graphs are allowed from 0.5.16
# (multimodal_breakable_cuda_graph_supported_model_archs), and those moved to piecewise
# graphs instead (multimodal_piecewise_cuda_graph_supported_model_archs).
ALLOWLISTS_FROM = "0.5.16"
BREAKABLE_MULTIMODAL = ("qwen3_5", "qwen3_5_moe")
PIECEWISE_MULTIMODAL = ("kimi_k25", "minimax_m3_vl")
# 0.5.17 keeps breakable graphs for DP attention and prefills DSA's latent attention in them.
BREAKABLE_WIDENED = "0.5.17"
# Every release captures prefill graphs of at most 2,048 tokens for latent attention
# (server_args.py: piecewise_cuda_graph_max_tokens, from 0.5.14 the prefill config's max_bs).
MLA_GRAPH_TOKENS = 2048
# A nightly image's day in its tag: 20260402, 2026-04-02 or 2026_04_02.
DAY_IN_TAG = r"(20\d\d)[-_]?(\d\d)[-_]?(\d\d)"
# A release a tag names: 0.5.10, v0.5.10.post1, 0.5.10rc0, 0.5.9.0, or a development build
# of one, 0.5.10.dev3 (before it: version_key), read before any suffix (v0.5.15-cu129-amd64).
# A fourth number or a dev build had matched nothing and been read as a build naming no
# release (the newest's rules), while its tables were the release's. A dev build stamped
# with its day (0.5.10.dev20260315) names none: it is read by its day, as a nightly is.
RELEASE_IN_TAG = (
    r"[vV]?(\d+\.\d+\.\d+(?:\.\d+)?(?:\.?(?:post|rc)\d+|\.?dev(?!20\d{6})\d+)?)(?![\d.])"
)


def named_release(version: str | None) -> str | None:
    """The release an image tag names (RELEASE_IN_TAG), None for one that names none (a
    nightly image, a named build)."""
    if not isinstance(version, str):
        return None
    found = re.match(RELEASE_IN_TAG, version.strip())
    return found.group(1) if found else None


def tag_day(version: str | None, at: str | None = None) -> str | None:
    """The day a build that names no release is read by: the one in its tag (DAY_IN_TAG),
    else `at` (the day it was measured, YYYY-MM-DD...), else None."""
    found = re.search(DAY_IN_TAG, version) if isinstance(version, str) else None
    if found:
        return "-".join(found.groups())
    return at[:10] if at else None


def rules_release(version: str | None, at: str | None = None) -> str:
    """The release whose prefill-graph rules `version` runs: the one it names (named_release);
    for a build that names none, the last release whose rules had reached the nightlies on its
    day (tag_day; RELEASE_DAYS, "0.5.9" before them); with no day either, the newest."""
    release = named_release(version)
    if release is not None:
        return release
    day = tag_day(version, at)
    if day is None:
        return RELEASE_DAYS[-1][0]
    reached = [release for release, since in RELEASE_DAYS if since <= day]
    return reached[-1] if reached else "0.5.9"


def _piecewise_rules(
    device: Device, key: tuple[int, ...], kind: str, multimodal: bool, drafting: bool,
    disaggregated: bool, attention_dp: bool, pipeline: bool,
) -> tuple[tuple[str, bool], ...]:  # fmt: skip
    """0.5.10-0.5.14's piecewise graphs: off with speculative decoding (0.5.10's
    _handle_piecewise_cuda_graph; later an EAGLE target's extend captures hidden states its
    runner cannot replay), attention DP, pipeline parallelism, disaggregation, a multimodal
    model, a listed architecture (PIECEWISE_OFF), TensorRT-LLM's MoE runner (to 0.5.12)."""
    listed = PIECEWISE_OFF.get(kind)
    return (
        ("speculative decoding", drafting),
        ("attention DP", attention_dp),
        ("pipeline parallelism", pipeline),
        ("a disaggregated deployment", disaggregated),
        ("a multimodal model", multimodal),
        (f"the {kind} architecture", listed is not None and key >= version_key(listed[0])
         and (listed[1] is None or key < version_key(listed[1]))),
        ("TensorRT-LLM's MoE runner, its choice on Blackwell",
         kind in TRTLLM_MOE_RUNNER and on(device, BLACKWELL)
         and key < version_key(TRTLLM_MOE_RUNNER_UNTIL)),
    )  # fmt: skip


def prefill_graphs_off(
    device: Device,
    release: str,
    model: ModelSpec | None = None,
    *,
    drafting: bool = False,
    disaggregated: bool = False,
    attention_dp: bool = False,
    pipeline: bool = False,
) -> str | None:
    """Why `release` (rules_release) prefills without CUDA graphs by default, None where it
    prefills in them. Before 0.5.10: opt-in. A multimodal wrapper SGLang serves as text
    (TEXT_WRAPPERS): none before 0.5.16. 0.5.10-0.5.14: _piecewise_rules. From 0.5.15
    (breakable graphs): off with latent attention (0.5.17: without DSA's indexer),
    DeepSeek-V4, attention DP (before 0.5.17), Nemotron-H (0.5.17), a multimodal model other
    than Qwen3.5 (0.5.16); the multimodal models moved to piecewise graphs (0.5.16: Kimi K2.5,
    MiniMax M3) keep them off with speculative decoding (an EAGLE target,
    cuda_graph_setup.py), attention DP, pipeline parallelism or disaggregation."""
    key = version_key(release)
    if key < version_key(FIRST_CANDIDATE):
        return OPT_IN
    kind = model.model_type if model is not None else ""
    wrapped = model is not None and (model.vision is not None or model.vision_left_out is not None)
    if kind in TEXT_WRAPPERS:
        if key < version_key(WRAPPERS_REACHED_FROM):
            return "its multimodal wrapper, in which the graph runner finds no language model"
        wrapped = False
    if key < version_key(BREAKABLE_GRAPHS_FROM):
        rules = _piecewise_rules(
            device, key, kind, wrapped, drafting, disaggregated, attention_dp, pipeline
        )
    elif wrapped and kind in PIECEWISE_MULTIMODAL and key >= version_key(ALLOWLISTS_FROM):
        rules = (
            ("speculative decoding", drafting),
            ("attention DP", attention_dp),
            ("pipeline parallelism", pipeline),
            ("a disaggregated deployment", disaggregated),
        )
    else:
        mla = model is not None and model.is_mla
        widened = key >= version_key(BREAKABLE_WIDENED)
        rules = (
            ("latent attention", mla and not widened),
            ("latent attention without DSA",
             mla and model is not None and model.index_topk is None),
            ("DeepSeek-V4", kind == "deepseek_v4"),
            ("attention DP", attention_dp and not widened),
            ("Nemotron-H", kind == "nemotron_h" and widened),
            ("a multimodal model", wrapped and not (
                kind in BREAKABLE_MULTIMODAL and key >= version_key(ALLOWLISTS_FROM))),
        )  # fmt: skip
    return next((reason for reason, applies in rules if applies), None)


# prefill_graphs_off's answer for a release before 0.5.10.
OPT_IN = "prefill graphs opt-in before 0.5.10"


def prefill_graphs_note(
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    at: str | None = None,
    **conditions: bool,
) -> str | None:
    """Why SGLang `version` prefills without CUDA graphs here, in words for the estimate's
    fallback line (prefill_graphs_off); None where it prefills in them."""
    release = rules_release(version, at)
    off = prefill_graphs_off(device, release, model, **conditions)
    if off is None:
        return None
    if off == OPT_IN:
        return f"SGLang {release}: {off}"
    return f"SGLang {release} turns them off for {off}"


def prefill_graph_tokens(
    device: Device,
    version: str | None,
    model: ModelSpec | None = None,
    *,
    drafting: bool = False,
    disaggregated: bool = False,
    attention_dp: bool = False,
    pipeline: bool = False,
    at: str | None = None,
    scheduler: SchedulerConfig | None = None,
) -> int:
    """The most tokens a prefill iteration runs from a CUDA graph with by default: 0 where
    `version`'s rules (rules_release; `at`: the day a build naming no release was measured)
    turn them off for this deployment (prefill_graphs_off), else the chunked-prefill size
    (0.5.17 captured graphs up to its 8,192 on an H100, its log said), at most
    MLA_GRAPH_TOKENS for latent attention. `scheduler` is not read: the chunk size is the one
    SGLang sets from the device's memory (launch_sizes)."""
    release = rules_release(version, at)
    off = prefill_graphs_off(
        device, release, model, drafting=drafting, disaggregated=disaggregated,
        attention_dp=attention_dp, pipeline=pipeline,
    )  # fmt: skip
    if off is not None:
        return 0
    chunk, _ = launch_sizes(device.memory_capacity)
    return min(chunk, MLA_GRAPH_TOKENS) if model is not None and model.is_mla else chunk


def prefill_graphs_by_default(version: str | None, at: str | None = None) -> bool | None:
    """Whether an SGLang release prefills in CUDA graphs by default, before the conditions
    that turn them off (rules_release); None where neither a release nor a day is known, which
    rules_release reads as the newest."""
    if named_release(version) is None and tag_day(version, at) is None:
        return None
    return version_key(rules_release(version, at)) >= version_key(FIRST_CANDIDATE)


def scheduler_for(
    device: Device | None, model: ModelSpec | None = None, version: str | None = None
) -> SchedulerConfig:
    """The scheduler on `device` (None: an 80 GB-class GPU); `model`: its page size
    (`page_size`); the same for every `version`."""
    if device is None:
        return SCHEDULER
    chunk, _ = launch_sizes(device.memory_capacity)
    pages = page_size(device, model)
    return SCHEDULER.model_copy(update={"chunk_size": chunk, "block_size": pages})


# max_running_requests when speculative decoding runs and none is given
# (server_args.py, _handle_speculative_decoding).
SPECULATIVE_REQUESTS = 48


def settle(config: SchedulerConfig) -> SchedulerConfig:
    """Settings as SGLang reads them: speculative decoding (EAGLE, which its MTP runs as)
    turns the overlap schedule off unless SGLANG_ENABLE_SPEC_V2 is set, which rooflens does
    not read, and mixed chunks off, and takes 48 running requests where none is given, the
    request pool then no larger (server_args.py, _handle_speculative_decoding). Without the
    overlap loop no finished request takes a step more."""
    if not config.draft_tokens:
        return config
    update: dict[str, object] = {"overlap": False, "mixed_chunk": False, "finished_step": False}
    if config.request_pool:  # max_running_requests not given (presets.scheduler_with)
        update["max_batch"] = min(config.max_batch, SPECULATIVE_REQUESTS)
    return config.model_copy(update=update)


DEFAULTS = EngineDefaults(
    engine="sglang",
    version="0.5",
    memory_fraction=mem_fraction_static(81559, CHUNKED_PREFILL, GRAPH_MAX_BATCH),
    memory_fraction_of="static",
    memory_setting=(
        "mem_fraction_static: share of the device's memory for weights and KV cache "
        "(as SGLang computes it from the device's memory and the TP and PP widths: "
        "memory_fraction_on; here an 80 GB H100's at tp 1)"
    ),
    fusion=("qkv", "gate_up", "add_norm", "moe"),
    # mamba_utils.py mamba2_state_dtype: SGLANG_MAMBA_SSM_DTYPE, else the config's
    # mamba_ssm_dtype, else float32 (Qwen3-Next, Falcon-H1, Granite-4.0-H, Kimi-Linear).
    state_bits=32,
    # Measured (docs/engines-measured.md): SGLang 0.5.17's OpenAI server on an H100 SXM, one
    # streaming client, Llama-3.1-8B's shape with random weights, 16- and 128-token prompts
    # (prefilled in a CUDA graph), in two launches at its defaults: mean TTFT less the prefill
    # step the H100 profile prices (its tables are SGLang 0.5.14's), 8 requests each.
    host_per_request=0.0158,
    # Measured (docs/engines-measured.md, "Prefill without CUDA graphs"): SGLang 0.5.17 on an
    # H100 SXM started with and without prefill graphs, one client, prompts of up to 1,024
    # tokens: the TTFT the graphs saved plus the prefill step priced, per layer, the median
    # over Llama-3.1-8B's and Qwen3-8B's points (dense) and over Qwen3-30B-A3B's less that
    # (mixture of experts) (engine_runs.launch_times).
    eager_host_per_layer=0.00042,
    eager_host_per_moe_layer=0.00177,
    sources={
        "eager_host_per_layer": (
            "measured by rooflens with SGLang 0.5.17 on an H100 SXM (2026-12-07, Triton "
            "attention): Llama-3.1-8B's and Qwen3-8B's shapes started with and without "
            "prefill CUDA graphs, one client, 16- to 1,024-token prompts, the median per "
            "layer of the TTFT the graphs saved plus the prefill step priced "
            "(docs/engines-measured.md)"
        ),
        "eager_host_per_moe_layer": (
            "measured by rooflens with SGLang 0.5.17 on an H100 SXM (2026-12-07, Triton "
            "attention): Qwen3-30B-A3B's shape started twice without prefill CUDA graphs and "
            "once with, one client, 16- to 1,024-token prompts, the median per layer of the "
            "TTFT the graphs saved plus the prefill step priced, less a dense layer's "
            "(docs/engines-measured.md)"
        ),
        "host_per_request": (
            "measured by rooflens with SGLang 0.5.17's OpenAI server on an H100 SXM "
            "(2026-12-07, Triton attention): one streaming client, Llama-3.1-8B's shape, 16- "
            "and 128-token prompts in two launches, mean TTFT less the prefill step SGLang "
            "0.5.14's H100 tables price (docs/engines-measured.md)"
        ),
        "fp8_activation_scale": (
            "SGLang docs, Quantization: --quantization fp8 quantizes a 16-bit checkpoint "
            "online, its activations' scales computed at run time"
        ),
        "fusion": (
            "python/sglang/srt/models/llama.py (and the other decoders): QKVParallelLinear "
            "qkv_proj, MergedColumnParallelLinear gate_up_proj, then SiluAndMul, a kernel of "
            "its own that reads the GEMM's output (not act), RMSNorm's fused residual add; "
            "shared experts built as that MLP; routed experts in "
            "srt/layers/moe/fused_moe_triton (FusedMoE: w13, the activation, w2)"
        ),
        "memory_fraction": (
            "python/sglang/srt/server_args.py _handle_gpu_memory_settings (formula in "
            "mem_fraction_static); 0.88 when the device memory is unknown; the KV pool is "
            "total memory x mem_fraction_static - weights (model_runner's memory pool "
            "sizing), activations and CUDA graphs in the reserved rest"
        ),
    },
)


def memory_share(device: Device, version: str | None, tp: int = 1, pp: int = 1) -> float:
    """The share of memory it takes by default: as SGLang computes it from the device's
    memory and the TP and PP widths (memory_fraction_on), in every release rooflens prices."""
    return memory_fraction_on(device, tp, pp)
