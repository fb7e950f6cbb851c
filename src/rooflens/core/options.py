"""Analysis settings: quantization, attention kernel and counting conventions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt

from rooflens.core.efficiency import EfficiencyProfile

Bits = Literal[32, 16, 8, 4, 3, 2, 1]


class Quantization(BaseModel):
    """Bit-widths of weights, activations and KV cache (seed 000, sec. 3.1.1).

    `group_size` is the number of weights sharing one fp16 scale and one `w_bits` zero point
    (GPTQ/AWQ layout); None means one scale and zero point per output channel.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    w_bits: Bits = 16
    a_bits: Bits = 16
    kv_bits: Bits = 16
    group_size: PositiveInt | None = None

    @property
    def unquantized_bits(self) -> int:
        """Embeddings, lm_head, norms and biases stay at 16 bits (32 in an fp32 run), as
        GPTQ, AWQ and bitsandbytes keep them."""
        return 32 if self.w_bits == 32 else 16

    def weight_bits_per_param(self, in_features: int) -> float:
        """Stored bits per weight of a quantized linear layer, scales and zero points included."""
        if self.w_bits >= 16:
            return float(self.w_bits)
        group = self.group_size or in_features
        return self.w_bits + (16 + self.w_bits) / group


class Conventions(BaseModel):
    """Counting choices where tools differ. The defaults are rooflens's; `llm_viewer()` gives the
    choices of the original LLM-Viewer so its published tables reproduce (docs/conventions.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    residual_add_reads_all_inputs: bool = True
    rmsnorm_ops_per_element: PositiveInt = 4
    layernorm_ops_per_element: PositiveInt = 7
    norm_loads_weight: bool = True

    @classmethod
    def llm_viewer(cls) -> Conventions:
        return cls(
            residual_add_reads_all_inputs=False,
            rmsnorm_ops_per_element=7,
            norm_loads_weight=False,
        )


class Parallelism(BaseModel):
    """How the model is spread over devices (Megatron-LM, Shoeybi et al. 2019; GPipe, Huang et
    al. 2019). `tp` shards heads and MLP width, `pp` splits the layers into stages fed with
    `micro_batches` micro-batches, `dp` runs independent replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt = 1
    micro_batches: PositiveInt = 1
    # Per-direction bandwidth of the link between devices; default: the device's interconnect
    # (NVLink, Infinity Fabric, ICI), else its host link (PCIe).
    link_bandwidth: PositiveFloat | None = None
    # Latency of one step of a ring collective: a few microseconds over NVLink with NCCL.
    link_latency: NonNegativeFloat = 5e-6

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp


class AnalysisOptions(BaseModel):
    """Everything besides model, device and sizes that changes the analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantization: Quantization = Field(default_factory=Quantization)
    flash_attention: bool = False
    conventions: Conventions = Field(default_factory=Conventions)
    allow_long_context: bool = False
    # A measured profile turns roofline bounds into estimates; `execution` then chooses
    # between CUDA-graph replay and eager launches (whose host time can dominate).
    parallelism: Parallelism = Field(default_factory=Parallelism)
    # KV-cache eviction: keep at most `kv_budget` keys per sequence (H2O: heavy hitters, with
    # score bookkeeping; StreamingLLM: attention sinks plus a recent window).
    kv_budget: PositiveInt | None = None
    kv_policy: Literal["h2o", "streaming"] = "h2o"
    # Prompt compression / token pruning: the share of prompt tokens kept (LLMLingua-style).
    prompt_keep: float = Field(default=1.0, gt=0.0, le=1.0)
    calibration: EfficiencyProfile | None = None
    execution: Literal["graphs", "eager"] = "graphs"

    @property
    def estimate(self) -> str:
        if self.calibration is None:
            return "roofline bound"
        return f"calibrated estimate ({self.calibration.device}, {self.execution})"
