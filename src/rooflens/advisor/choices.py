"""The named choices the advisor's search tries beside devices and widths: weight precisions,
as engines serve them, and how a setup's is said; expert layouts. Light (no pandas): the
command line and the viewer declare their search fields from it."""

from __future__ import annotations

from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions

# The weight precisions the advisor tries, as engines serve them: the checkpoint as stored;
# BF16; FP8 weights and activations, quantized on load (vLLM's and SGLang's --quantization
# fp8; per-channel weight scales, activation scales each step); INT4 weights with 16-bit
# activations in groups of 128 (AWQ and GPTQ checkpoints, Marlin kernels); NVFP4 weights and
# activations (ModelOpt's exports, Blackwell's FP4 tensor cores). Each is a set of settings.
WEIGHTS: dict[str, dict[str, object]] = {
    "stored": {},
    "bf16": {"w_bits": 16, "a_bits": 16},
    "fp8": {"w_bits": 8, "a_bits": 8, "w_format": "fp"},
    "int4": {"w_bits": 4, "a_bits": 16, "w_format": "int", "group_size": 128},
    "nvfp4": {"w_bits": 4, "a_bits": 4, "w_format": "nvfp4"},
}
# The tensor type a device needs for each: without it, the precision is not tried there.
WEIGHTS_NEED = {"fp8": "fp8", "nvfp4": "fp4"}


# How a mixture of experts' routed experts are laid over the tensor-parallel group: "tp",
# each expert's width split over all its devices; "ep", whole experts, E / tp on each (expert
# parallelism inside the group: SGLang's and TensorRT-LLM's --ep equal to --tp, vLLM's
# --enable-expert-parallel), their outputs combined by the group's all-reduce.
EXPERTS = ("tp", "ep")
EXPERTS_HELP = (
    "Expert layouts tried for a mixture of experts over more than one device: tp (each "
    "expert split over the tensor-parallel group) and ep (whole experts, E / tp on each)."
)

# What the search's `weights` field means, for the CLI's option and the viewer's field.
WEIGHTS_HELP = (
    "Weight precisions tried: stored (the checkpoint's own), bf16, fp8 (W8A8, quantized on "
    "load), int4 (W4A16, groups of 128), nvfp4 (W4A4); fp8 and nvfp4 only where the device "
    "has those tensor cores, and none the checkpoint already stores (stored is that one)."
)


def stored_as(model: ModelSpec, weights: str) -> bool:
    """Whether the checkpoint already stores its weights as `weights` would quantize them
    (then "stored" is that setup, without re-quantizing)."""
    stored = model.checkpoint_quant
    if stored is None:
        return weights == "bf16"
    q = stored.quantization
    return {
        "fp8": q.w_bits == 8 and q.w_format == "fp",
        "int4": q.w_bits == 4 and q.w_format == "int",
        "nvfp4": q.w_format == "nvfp4",
    }.get(weights, False)


def precision_label(options: AnalysisOptions) -> str:
    """A setup's weight precision in a few words: "BF16", "W8A8 FP8 block scales", "W4A16
    MXFP4 (attention, router at 16 bits)"."""
    q = options.quantization
    if q.w_bits == 16:
        return "BF16"
    kind = {"fp": f"FP{q.w_bits}", "int": f"INT{q.w_bits}"}.get(q.w_format, q.w_format.upper())
    label = f"W{q.w_bits}A{q.a_bits} {kind}"
    if q.group_size:
        label += f" g{q.group_size}"
    elif isinstance(q.w_scale, int):
        label += " block scales"
    experts = options.expert_quantization
    if experts is not None:
        label += f", experts W{experts.w_bits} {experts.w_format.upper()}"
    if options.unquantized_modules:
        label += f" ({', '.join(options.unquantized_modules)} at 16 bits)"
    return label
