"""vLLM's defaults (V1 engine, `vllm serve` on a GPU of at least 70 GiB that is not an A100)."""

from __future__ import annotations

from rooflens.engines.defaults import EngineDefaults


def _capture_sizes(largest: int) -> tuple[int, ...]:
    # 1, 2, 4, then every 8 up to 256, then every 16 up to the largest capture size.
    sizes = [1, 2, 4, *range(8, 256, 8), *range(256, largest + 1, 16)]
    return tuple(s for s in sizes if s <= largest)


DEFAULTS = EngineDefaults(
    engine="vllm",
    version="0.11-0.24",
    memory_fraction=0.9,
    memory_setting="gpu_memory_utilization: share of the device's memory for the instance",
    max_batched_tokens=8192,
    max_sequences=1024,
    cuda_graph_sizes=_capture_sizes(512),
    fusion=("qkv", "gate_up", "act", "add_norm", "moe"),
    sources={
        "fp8_activation_scale": (
            "vLLM docs, FP8 W8A8 (docs.vllm.ai quantization/fp8): --quantization fp8 "
            "quantizes a 16-bit checkpoint online, activations with dynamic per-tensor scales"
        ),
        "fusion": (
            "vllm/model_executor/models/llama.py (and the other decoders): QKVParallelLinear "
            "qkv_proj, MergedColumnParallelLinear gate_up_proj, SiluAndMul, RMSNorm's fused "
            "residual add (fused_add_rms_norm); shared experts built as that MLP; routed "
            "experts in model_executor/layers/fused_moe (FusedMoE: w13, the activation, w2)"
        ),
        "memory_fraction": "vllm/config/cache.py CacheConfig.gpu_memory_utilization = 0.9",
        "max_batched_tokens": (
            "vllm/engine/arg_utils.py EngineArgs.get_batch_defaults: device memory >= 70 GiB and "
            "not A100, OPENAI_API_SERVER -> 8192 (LLM class 16384); else 2048"
        ),
        "max_sequences": (
            "vllm/engine/arg_utils.py EngineArgs.get_batch_defaults: 1024 on >= 70 GiB devices, "
            "else 256"
        ),
        "cuda_graph_sizes": (
            "vllm/config/compilation.py: capture sizes 1, 2, 4, 8..248 step 8, 256.. step 16 up "
            "to max_cudagraph_capture_size (default min(2 x max_num_seqs, 512))"
        ),
    },
)
