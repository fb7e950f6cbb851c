"""SGLang's defaults (`sglang.launch_server` on an 80 GB-class GPU, one device)."""

from __future__ import annotations

from rooflens.engines.defaults import EngineDefaults


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


CHUNKED_PREFILL = 8192
GRAPH_MAX_BATCH = 256

DEFAULTS = EngineDefaults(
    engine="sglang",
    version="0.5",
    memory_fraction=mem_fraction_static(81559, CHUNKED_PREFILL, GRAPH_MAX_BATCH),
    memory_setting=(
        "mem_fraction_static: share of the device's memory for weights and KV cache "
        "(here as computed for an 80 GB H100 at tp 1)"
    ),
    max_batched_tokens=CHUNKED_PREFILL,
    max_sequences=GRAPH_MAX_BATCH,
    cuda_graph_sizes=(1, 2, 4, 8, 12, 16, 24, 32, *range(40, GRAPH_MAX_BATCH + 1, 8)),
    fusion=("qkv", "gate_up", "act", "add_norm", "moe"),
    sources={
        "fp8_activation_scale": (
            "SGLang docs, Quantization: --quantization fp8 quantizes a 16-bit checkpoint "
            "online, its activations' scales computed at run time"
        ),
        "fusion": (
            "python/sglang/srt/models/llama.py (and the other decoders): QKVParallelLinear "
            "qkv_proj, MergedColumnParallelLinear gate_up_proj, SiluAndMul, RMSNorm's fused "
            "residual add; shared experts built as that MLP; routed experts in "
            "srt/layers/moe/fused_moe_triton (FusedMoE: w13, the activation, w2)"
        ),
        "memory_fraction": (
            "python/sglang/srt/server_args.py _handle_gpu_memory_settings (formula in "
            "mem_fraction_static); 0.88 when the device memory is unknown"
        ),
        "max_batched_tokens": (
            "server_args.py: chunked_prefill_size chosen by device memory, 8192 on 80 GB GPUs"
        ),
        "max_sequences": (
            "server_args.py: max_running_requests is derived from the KV pool; the CUDA-graph "
            "batch limit (cuda_graph_max_bs 256 on 80 GB GPUs) bounds graph-replayed decodes"
        ),
        "cuda_graph_sizes": (
            "server_args.py / cuda_graph_runner.py: 1, 2, 4, 8, 12, 16, 24, 32, then every 8 "
            "up to cuda_graph_max_bs (not re-verified for every 0.5.x release)"
        ),
    },
)
