"""Weight quantization: how quantized weights are stored, when kernels dequantize them, and
the modules a checkpoint leaves unquantized (its `modules_to_not_convert` / ignore list,
rooflens.models.quant), whose linears stay at 16 bits whatever the settings say. The
bit-widths themselves (weights, activations, KV cache) are `rooflens.core.options.Quantization`,
which every operator's formula reads. (No runtime imports of the core: `options` uses this
module.)"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rooflens.core.hardware import Device
    from rooflens.core.model import ModelSpec
    from rooflens.core.operators import Operator
    from rooflens.core.options import AnalysisOptions, Quantization

# Per weight dequantized: unpack, subtract the zero point or look up the code, scale.
DEQUANT_OPS_PER_WEIGHT = 2


def stored_bits(quant: Quantization, in_features: int) -> float:
    """Stored bits per weight of a quantized linear layer before pruning: values, scales and
    zero points."""
    if quant.w_bits >= 16:
        return float(quant.w_bits)
    if quant.w_format == "nf4":
        # Blocks of 64 with an 8-bit absmax, itself scaled in fp32 per 256 blocks (QLoRA).
        return 4 + 8 / 64 + 32 / (64 * 256)
    if quant.w_format == "mxfp4":
        return 4 + 8 / 32  # 32-element blocks sharing an E8M0 exponent (OCP MX v1.0)
    if quant.w_format == "mxfp8":
        return 8 + 8 / 32  # FP8 E4M3 values, an E8M0 scale per 32 (OCP MX v1.0, MXFP8)
    if quant.w_format == "nvfp4":
        # 16-element blocks sharing an FP8 E4M3 scale (NVIDIA NVFP4; the per-tensor fp32
        # global scale adds < 1e-6 bit).
        return 4 + 8 / 16
    if quant.w_format == "fp":
        # One fp32 scale per output channel, per block of weights, or per tensor (< 1e-6 bit).
        if quant.w_scale == "tensor":
            return float(quant.w_bits)
        per_scale = in_features if quant.w_scale == "channel" else quant.w_scale
        return quant.w_bits + 32 / per_scale
    # An fp16 scale per group, and a w_bits zero point unless symmetric (GPTQ/AWQ layout).
    group = quant.group_size or in_features
    zero_point = quant.w_bits if quant.w_zero_point else 0
    return quant.w_bits + (16 + zero_point) / group


def dequantizes(quant: Quantization, compute_bits: int) -> bool:
    """Weight-only quantization: weights narrower than the compute type are converted to it
    tile by tile, once per `dequant_rows` activation rows, on the vector units (Marlin/AWQ-style
    kernels)."""
    return quant.w_bits < compute_bits


def runs_weight_only(quant: Quantization, device: Device | None) -> bool:
    """Float weights beside quantized activations (W8A8 FP8, W4A4 NVFP4) on a device with no
    tensor type of their width: the engines leave the activations at 16 bits and dequantize
    the weights in the GEMM's main loop (vLLM's and SGLang's Marlin FP8 and FP4 kernels, which
    they run where the GPU lacks FP8 or FP4 units: FP8 on an A100, NVFP4 on an H100)."""
    if device is None or not quant.float_weights or quant.a_bits >= 16:
        return False
    return not device.has_float_type(max(quant.w_bits, quant.a_bits))


def as_weight_only(quant: Quantization) -> Quantization:
    """`quant` run weight-only: 16-bit activations, 4-bit weights through Marlin's kernels."""
    return quant.model_copy(update={"a_bits": 16, "a_scale": "dynamic", "w4_kernel": "marlin"})


def weight_only_lines(options: AnalysisOptions, device: Device | None) -> tuple[str, ...]:
    """One line per storage that `runs_weight_only` on `device`: what runs instead."""
    if device is None:
        return ()
    storages = (options.quantization, *(own for _, own in options.module_quantization))
    name = device.display_name or device.name
    return tuple(
        f"{_label(q)} weights with {q.a_bits}-bit activations: {name} has no "
        f"{max(q.w_bits, q.a_bits)}-bit float tensor type; run weight-only (W{q.w_bits}A16: "
        "the weights dequantized to 16 bits in the GEMM, as vLLM's and SGLang's Marlin "
        "kernels run them there)"
        for q in dict.fromkeys(storages)
        if runs_weight_only(q, device)
    )


def _label(quant: Quantization) -> str:
    return quant.w_format.upper() if quant.w_format != "fp" else f"FP{quant.w_bits}"


def apply(
    ops: list[Operator],
    model: ModelSpec,
    local: ModelSpec,
    options: AnalysisOptions,
    device: Device | None,
) -> list[Operator]:
    """Leave the modules a checkpoint does not quantize at 16 bits, give the classes it
    stores apart (routed experts, GPTQModel's per-module widths, a quantized head) their own
    storage, split an operator the checkpoint leaves at 16 bits in some of its layers into
    two rows, each counted in its own layers (as Gemma 4's window and global attention are),
    and run weight-only the float weights the device has no tensor type for
    (`runs_weight_only`)."""
    ops = _store_apart(ops, options)
    quant = options.quantization
    return [
        replace(op, weight_quant=as_weight_only(op.runs_at(quant)))
        if getattr(op, "quantized", False)
        and hasattr(op, "runs_at")
        and runs_weight_only(op.runs_at(quant), device)
        else op
        for op in ops
    ]


def _store_apart(ops: list[Operator], options: AnalysisOptions) -> list[Operator]:
    classes = set(options.unquantized_modules)
    own = dict(options.module_quantization)
    partial = {name: (kept, held) for name, kept, held in options.partly_unquantized}
    if not classes and not own and not partial:
        return ops
    out = []
    for op in ops:
        kind = module_class(op.name)
        if hasattr(op, "quantized") and kind in classes:
            op = replace(op, quantized=False)
        elif (op.name in own or kind in own) and hasattr(op, "weight_quant"):
            # The head is built 16-bit; a checkpoint that quantizes it says so here.
            quantized = op.quantized or kind == "lm_head"
            storage = own.get(op.name) or own[kind]  # type: ignore[index]
            op = replace(op, weight_quant=storage, quantized=quantized)
        if op.name in partial and getattr(op, "quantized", False):
            kept, held = partial[op.name]
            # The reader checked that every operator of this name is held by `held` layers.
            if kept < held:
                out.append(replace(op, layers=held - kept))
                op = replace(op, layers=kept)
            op = replace(op, quantized=False)
        out.append(op)
    return out


def module_class(name: str) -> str | None:
    """The class of module a block operator belongs to, as a checkpoint's quantization_config
    names them (rooflens.core.model.MODULE_CLASSES), or None."""
    if name.startswith("indexer_"):
        return "indexer"
    if name.startswith("expert_"):
        return "experts"
    if name.startswith("shared_"):
        return "shared_experts"
    if name.startswith("latent_") and name.endswith("_proj"):
        return "latent"
    if name == "router":
        return "router"
    if name == "lm_head":
        return "lm_head"
    if name in ("gate_proj", "up_proj", "down_proj"):
        return "mlp"
    # A recurrent mixer's projections: checkpoints file them apart from attention (Qwen3.5's
    # linear_attn, Nemotron-H's Mamba in_proj/out_proj), or under self_attn (Kimi Linear's
    # KDA, MiniMax's lightning attention), which names both classes there.
    if name.startswith("mixer_"):
        return "mixer"
    # Qwen3-Next's attention output gate is part of its q_proj in the checkpoints.
    if name in _ATTENTION_LINEARS or name == "attn_gate_proj":
        return "attention"
    return None


_ATTENTION_LINEARS = {
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "q_a_proj",
    "q_b_proj",
    "kv_a_proj",
    "latent_attention",
    # DeepSeek-V4 (core.compressed).
    "kv_proj",
    "o_a_proj",
    "compressor_kv_proj",
    "compressor_gate_proj",
}
