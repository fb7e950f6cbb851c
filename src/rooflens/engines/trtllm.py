"""TensorRT-LLM's defaults (the PyTorch-backend LLM API, `trtllm-serve`)."""

from __future__ import annotations

from rooflens.engines.defaults import EngineDefaults

DEFAULTS = EngineDefaults(
    engine="trtllm",
    version="1.0-1.3",
    memory_fraction=0.9,
    memory_fraction_of="free",
    memory_setting=(
        "free_gpu_memory_fraction: share of the memory still free after loading weights "
        "that the KV cache takes"
    ),
    max_batched_tokens=8192,
    max_sequences=2048,
    cuda_graph_sizes=(1, 2, 4, 8, 16, 32, 64, 128),
    fusion=("qkv", "gate_up", "act", "add_norm", "moe"),
    fp8_activation_scale="static",
    sources={
        "fp8_activation_scale": (
            "TensorRT-LLM docs, Quantization (nvidia.github.io/TensorRT-LLM/features/"
            "quantization.html): FP8 runs pre-quantized Model Optimizer checkpoints, whose "
            "per-tensor FP8 recipe stores calibrated (static) activation scales"
        ),
        "fusion": (
            "tensorrt_llm/_torch/modules/attention.py (one qkv_proj Linear), "
            "gated_mlp.py (gate_up_proj with the activation fused), rms_norm.py (the "
            "residual add fused into the norm); shared experts as GatedMLP; routed experts "
            "in _torch/modules/fused_moe (one MoE module: FC1, the activation, FC2)"
        ),
        "memory_fraction": (
            "TensorRT-LLM docs, 'How to Change KV Cache Behavior' "
            "(nvidia.github.io/TensorRT-LLM/examples/kvcacheconfig.html): default 0.9"
        ),
        "max_batched_tokens": "tensorrt_llm/llmapi/llm_args.py: max_num_tokens default 8192",
        "max_sequences": "tensorrt_llm/llmapi/llm_args.py: max_batch_size default 2048",
        "cuda_graph_sizes": (
            "tensorrt_llm/llmapi/llm_args.py CudaGraphConfig: powers of two up to 128 when no "
            "batch sizes are given (not re-verified for every 1.x release)"
        ),
    },
)
