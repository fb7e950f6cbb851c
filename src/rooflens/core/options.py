"""Analysis settings: quantization, attention kernel and counting conventions."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import (
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import Declared
from rooflens.core.techniques import quantization, weight_sparsity

Bits = Literal[32, 16, 8, 4, 3, 2, 1]
# The fused kernels: "qkv", "gate_up", "act" (into the gate/up GEMM epilogue), "add_norm",
# "moe" (the routed experts' activation inside the grouped expert kernels), "flash_decoding"
# (split-KV decode attention, with FlashAttention).
Fusion = Literal["qkv", "gate_up", "act", "add_norm", "moe", "flash_decoding"]
FUSIONS: tuple[str, ...] = get_args(Fusion)
# Time per ring step within a node: the least of NCCL's measured small all-reduces over 2, 4
# and 8 GPUs per step (aiconfigurator-core 0.12.0's nccl_perf tables, 512 bytes, A100 to
# B300): 1.1 us, over 8 H100s (15.5 us for 14 steps), so that the roofline stays below every
# measured collective; 5 us, which it took before 2026-12-05, fitted 2 GPUs alone and priced
# 8 H200s' all-reduce at 70 us against 16 measured.
DEFAULT_LINK_LATENCY = 1.1e-6
# Between nodes (a group wider than the device's node): a few microseconds per step over the
# network, not measured here.
DEFAULT_NETWORK_LATENCY = 5e-6


# Values sharing one scale and zero point in a KV cache narrower than 8 bits (KIVI's group).
KV_GROUP = 32


class Quantization(Declared):
    """Bit-widths of weights, activations and KV cache (seed 000, sec. 3.1.1).

    `group_size` is the number of weights sharing one fp16 scale and one `w_bits` zero point
    (GPTQ/AWQ layout); None means one scale and zero point per output channel.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    w_bits: Bits = 16
    a_bits: Bits = 16
    kv_bits: Bits = 16
    group_size: PositiveInt | None = None
    # Integer weights store a `w_bits` zero point beside each scale (GPTQ's format, AWQ's
    # zero_point: true), or only scales (symmetric: compressed-tensors' `symmetric: true`, as
    # Kimi K2's INT4 experts are stored). Read from a checkpoint; settings keep the default.
    w_zero_point: bool = True
    # Weight format: integers with group scales (GPTQ/AWQ), floats with per-channel scales
    # (FP8 E4M3 / FP4), NormalFloat4 (QLoRA), MXFP4 or MXFP8 (OCP microscaling: FP4 E2M1 or
    # FP8 E4M3 values, one E8M0 scale per 32) or NVFP4.
    w_format: Literal["int", "fp", "nf4", "mxfp4", "mxfp8", "nvfp4"] = "int"
    # Float formats ("fp"): weights sharing one fp32 scale: per output channel, per tensor, or
    # per block of this many weights (DeepSeek-V3's 128x128 FP8 blocks: 16384).
    w_scale: Literal["channel", "tensor"] | PositiveInt = "channel"
    # 8-bit activations' scale: computed from each step's activations before every GEMM
    # (dynamic: online FP8 quantization, vLLM's and SGLang's --quantization fp8) or stored in
    # the checkpoint (static: ModelOpt's per-tensor FP8 exports), which skips that pass.
    a_scale: Literal["dynamic", "static"] = "dynamic"
    # Weight-only kernels dequantize a weight tile once per this many activation rows.
    dequant_rows: PositiveInt = 128
    # The kernel 4-bit float weights (MXFP4) run with 16-bit activations: the engine's own for
    # the format (gpt-oss's Triton or FlashInfer kernels), Marlin's, which dequantizes in its
    # main loop as for integer weights (vLLM's VLLM_MXFP4_USE_MARLIN=1), or, for experts,
    # TensorRT-LLM-gen's, which quantizes their activations to MXFP8 on the way in (vLLM's
    # VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1; TensorRT-LLM's own on Blackwell). Only calibrated
    # estimates differ: the engine profiles time each kernel apart.
    w4_kernel: Literal["native", "marlin", "mxfp8"] = "native"
    # The kernel FP8 experts with block scales (DeepSeek-V3's 128 x 128) run: the engine's own
    # tables' (TensorRT-LLM's on Blackwell time DeepGEMM, as aiconfigurator's collector runs
    # it), or TensorRT-LLM-gen's block-scale MoE (TensorRT-LLM's moe_config.backend TRTLLM,
    # FlashInfer's trtllm_fp8_block_scale_moe as SGLang and vLLM run it on Blackwell). Only
    # calibrated estimates differ.
    fp8_moe_kernel: Literal["native", "trtllm_gen"] = "native"
    # Pruned weights of the block's linear layers (rooflens.core.techniques.weight_sparsity):
    # unstructured (the share that is zero; computed dense unless `sparse_kernel`) or N:M.
    sparsity: float = Field(default=0.0, ge=0.0, lt=1.0)
    sparse_kernel: bool = False
    nm_sparsity: tuple[PositiveInt, PositiveInt] | None = None

    @model_validator(mode="after")
    def _check_format(self) -> Quantization:
        if self.w_format in ("nf4", "mxfp4", "nvfp4") and self.w_bits != 4:
            raise ValueError(f"w_format={self.w_format!r} stores 4-bit weights: w_bits must be 4")
        if self.w_format == "mxfp8" and self.w_bits != 8:
            raise ValueError("w_format='mxfp8' stores 8-bit weights: w_bits must be 8")
        if self.w_format == "fp" and self.w_bits not in (8, 4):
            raise ValueError("w_format='fp' is FP8 or FP4: w_bits must be 8 or 4")
        if self.a_scale == "static" and self.a_bits != 8:
            raise ValueError("8-bit activations (a_bits=8) with a static scale")
        if self.w_bits >= 16 and self.a_bits < 16:
            # Activations are quantized on the way into a quantized GEMM (its kernel's
            # operands share one width); with 16-bit weights no GEMM takes them (no engine
            # runs W16A8).
            raise ValueError(
                f"16 while w_bits is {self.w_bits}: activations are quantized on the way into "
                "quantized GEMMs (W8A8, W4A8); no engine runs 16-bit weights on them"
            )
        if self.w_format == "nf4" and self.a_bits < 16:
            raise ValueError("w_format='nf4' is weight-only: a_bits must be 16 or 32")
        if self.nm_sparsity is not None:
            n, m = self.nm_sparsity
            if n >= m:
                raise ValueError(f"nm_sparsity={n}:{m} must keep fewer than M (N < M), e.g. 2:4")
            if self.sparsity:
                raise ValueError("choose unstructured sparsity or nm_sparsity, not both")
        return self

    @property
    def kept_share(self) -> float:
        """Share of the block's weights that are not pruned."""
        return weight_sparsity.kept_share(self)

    @property
    def float_weights(self) -> bool:
        return self.w_format in ("fp", "mxfp4", "mxfp8", "nvfp4")

    @property
    def block_scaled(self) -> bool:
        """Weights scaled per group or per block (a group_size, or a w_scale block)."""
        return self.group_size is not None or isinstance(self.w_scale, int)

    @property
    def per_tensor_fp8(self) -> bool:
        """FP8 weights and activations with one scale per tensor or channel (the kind whose
        activation scales are either computed each step or stored: `a_scale`)."""
        return (self.w_bits, self.a_bits, self.w_format) == (8, 8, "fp") and not self.block_scaled

    @property
    def stream_bits(self) -> int:
        """Bits of the activations between operators. Quantized activations (`a_bits` below
        16) are the quantized GEMMs' inputs only: the GEMMs write 16-bit outputs, and the
        residual stream, norms, attention's queries and outputs and the collectives stay at
        16 bits (vLLM's `apply_fp8_linear` returns its input's dtype; SmoothQuant's W8A8
        dequantizes each GEMM's output), where LLM-Viewer counts every activation at a_bits."""
        return max(self.a_bits, 16)

    @property
    def kv_value_bits(self) -> float:
        """Stored bits per cached key or value: `kv_bits`, and below 8 bits the scale and zero
        point each group of KV_GROUP values shares (KIVI, Liu et al. 2024: fp16 both, 32
        values: one more bit each); an 8-bit cache's per-tensor scale is negligible."""
        if self.kv_bits >= 8:
            return float(self.kv_bits)
        return self.kv_bits + 2 * 16 / KV_GROUP

    @property
    def unquantized_bits(self) -> int:
        """Embeddings, lm_head, norms and biases stay at 16 bits (32 in an fp32 run), as
        GPTQ, AWQ and bitsandbytes keep them."""
        return 32 if self.w_bits == 32 else 16

    def weight_bits_per_param(self, in_features: int) -> float:
        """Stored bits per weight of a block linear layer: values, scales, zero points and, for
        pruned weights, the sparse index."""
        return weight_sparsity.stored_bits(self, quantization.stored_bits(self, in_features))


class Conventions(Declared):
    """Counting choices where tools differ. The defaults are rooflens's; `llm_viewer()` gives the
    choices of the original LLM-Viewer so its published tables reproduce (docs/conventions.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

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


class Parallelism(Declared):
    """How the model is spread over devices (Megatron-LM, Shoeybi et al. 2019; GPipe, Huang et
    al. 2019). `tp` shards heads and MLP width, `pp` splits the layers into stages fed with
    `micro_batches` micro-batches, `dp` runs independent replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    tp: PositiveInt = 1
    # Expert parallelism: the routed experts are spread over `ep` devices, tokens sent to
    # them and back with all-to-all exchanges (GShard, DeepSpeed-MoE).
    ep: PositiveInt = 1
    # Expert parallelism inside the tensor-parallel group (SGLang's and TensorRT-LLM's --ep):
    # the tp devices that share every token's attention hold E/ep experts each, each expert
    # split over moe_tp of them (ep x moe_tp = tp); no token exchange, the group's all-reduce
    # combines the experts' outputs. None: `ep` groups of `tp` devices, as above. With
    # ep x moe_tp = g x tp, g > 1, the experts spread over g attention groups of tp devices
    # at an expert TP of their own (vLLM's --data-parallel-size g --enable-expert-parallel
    # at moe_tp 1): every group's tokens are gathered to every device and the experts'
    # outputs reduce-scattered back (vLLM's default allgather_reducescatter exchange).
    moe_tp: PositiveInt | None = None
    pp: PositiveInt = 1
    dp: PositiveInt = 1
    micro_batches: PositiveInt = 1
    # Per-direction bandwidth of the link between devices; default: the device's interconnect
    # (NVLink, Infinity Fabric, ICI), else its host link (PCIe).
    link_bandwidth: PositiveFloat | None = None
    # Latency of one step of a ring collective; default: a calibrated profile's, else
    # DEFAULT_LINK_LATENCY.
    link_latency: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _experts_in_the_group(self) -> Parallelism:
        if self.moe_tp is not None and (self.moe_tp * self.ep) % self.tp:
            raise ValueError(
                f"moe_tp x ep must be a multiple of tp ({self.moe_tp} x {self.ep}, tp {self.tp})"
            )
        return self

    @property
    def expert_token_groups(self) -> int:
        """Attention groups whose tokens each device's routed experts serve: all the groups
        the experts spread over, each assumed to run a step like the one priced (the steady
        state of engines that step their attention-DP ranks together, and the load
        AIConfigurator's MoE operator scales by attention_dp_size); inside the tp group, one."""
        return self.ep if self.moe_tp is None else self.moe_tp * self.ep // self.tp

    @property
    def expert_tp(self) -> int:
        """Devices each expert's width is split over."""
        return self.tp if self.moe_tp is None else self.moe_tp

    @property
    def devices(self) -> int:
        return self.tp * self.pp * self.dp


class StatePool(Declared):
    """A serving engine's pool of recurrent states apart from its KV cache (SGLang's mamba
    pool, `rooflens.engines.sglang.state_pool`): the room for both split `ratio` : 1 between
    them (or `slots` states where the launch fixes their number), every running request
    holding `per_request` of the slots."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio: PositiveFloat
    per_request: PositiveInt = 1
    slots: PositiveInt | None = None


class AnalysisOptions(Declared):
    """Everything besides model, device and sizes that changes the analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __hash__(self) -> int:
        # The profile by identity (its tables are dicts, which do not hash), every other field
        # by value: options rebuilt per call around one loaded profile (api.options_for) find
        # the graph and plan built for them (core.cache) instead of building them again.
        return hash(
            tuple((k, id(v) if k == "calibration" else v) for k, v in self.__dict__.items())
        )

    quantization: Quantization = Field(default_factory=Quantization)
    # Module classes whose linears stay 16-bit whatever `quantization` says (a checkpoint's
    # modules_to_not_convert / ignore list, rooflens.models.quant): attention, mixer, indexer,
    # mlp, experts, shared_experts, router, latent (rooflens.core.model.MODULE_CLASSES).
    unquantized_modules: tuple[str, ...] = ()
    # (module class, storage) for the classes a checkpoint stores apart from `quantization`
    # (rooflens.core.model.CheckpointQuant.modules: FP4 routed experts, GPTQModel's per-module
    # widths, a quantized lm_head); the others as `quantization` says.
    module_quantization: tuple[tuple[str, Quantization], ...] = ()
    # (operator, layers of it kept at 16 bits, layers holding it) where a checkpoint leaves an
    # operator unquantized in some of its layers (rooflens.core.model.CheckpointQuant.partial):
    # those layers' copies are priced at 16 bits, the others as stored.
    partly_unquantized: tuple[tuple[str, int, int], ...] = ()
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
    # Offloading (FlexGen, ZeRO-Inference): weights and/or the KV cache live in host memory and
    # stream over the host link every step, overlapped with compute; the device keeps a
    # double buffer of two layers' weights.
    offload_weights: bool = False
    offload_kv: bool = False
    # Offloaded state on disk instead: it streams at the slower of the disk and the host link.
    offload_disk_bandwidth: PositiveFloat | None = None
    # Operator fusion (FUSIONS; rooflens.core.techniques.fusion).
    fusion: tuple[Fusion, ...] = ()
    # Early exit (CALM, Schuster et al. 2022): decode steps leave after this share of the layers
    # on average, paying a confidence classifier (h -> width) at every layer they pass.
    early_exit_depth: float = Field(default=1.0, gt=0.0, le=1.0)
    exit_classifier_width: PositiveInt = 1
    # Contextual sparsity (Deja Vu, Liu et al. 2023): in decode each token uses this share of
    # the attention heads and of the MLP neurons, chosen per layer by a low-rank predictor
    # (h -> predictor_rank -> heads + neurons).
    active_heads: float = Field(default=1.0, gt=0.0, le=1.0)
    active_neurons: float = Field(default=1.0, gt=0.0, le=1.0)
    predictor_rank: PositiveInt = 1024
    # Low-rank factorization: each listed linear W (in x out) becomes A (in x r) B (r x out)
    # with r = low_rank_ratio x min(in, out) (e.g. ASVD, SVD-LLM).
    low_rank_ratio: float | None = Field(default=None, gt=0.0, le=1.0)
    low_rank_layers: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    # Prompt compression / token pruning: the share of prompt tokens kept (LLMLingua-style).
    prompt_keep: float = Field(default=1.0, gt=0.0, le=1.0)
    calibration: EfficiencyProfile | None = None
    execution: Literal["graphs", "eager"] = "graphs"
    # With execution "graphs", an engine that replays prefill iterations from CUDA graphs only
    # up to this many tokens: a larger one runs eagerly, lasting at least the host's time to
    # launch it (the profile's eager host time). 0: no prefill in a graph (SGLang before
    # 0.5.10); None: every iteration from graphs.
    prefill_graph_tokens: int | None = Field(default=None, ge=0)
    # Why an engine's release runs no prefill graph here (its rules, in words), where
    # `prefill_graph_tokens` is its default of 0; said in the estimate's fallback line.
    prefill_graph_note: str | None = None
    # A serving engine's activations: it sets aside, at start, the peak of one iteration of
    # its token budget (vLLM's profile run; the simulator's replica reserves the same), and no
    # iteration holds more, prompts past the budget being chunked. Every stage then holds
    # that reserve, whatever its batch. None: each stage's own peak, the whole batch's
    # prompts at once. `reserve_whole_prompts`: a prompt longer than the budget runs whole
    # (a scheduler that never splits one), so its own length bounds the reserve from below.
    activation_reserve_tokens: PositiveInt | None = None
    reserve_whole_prompts: bool = False
    # A serving engine that allocates KV blocks for groups of layers (vLLM's hybrid KV cache
    # manager, where a scheduler's kv_groups is on): the grouping's slack
    # (memory.kv_group_layers); a window model's cache then holds its padding layers' blocks
    # too. None: every layer holds its own.
    kv_group_slack: float | None = Field(default=None, ge=1.0)
    # A serving engine that keeps a hybrid model's recurrent states in a pool of their own
    # (SGLang's, where a scheduler's state_pool is on): its running requests at most that
    # pool's slots allow, its KV cache the rest. None: one pool holds both.
    state_pool: StatePool | None = None

    @property
    def expert_quantization(self) -> Quantization | None:
        """The routed experts' storage where a checkpoint keeps them apart; None: as
        `quantization` says."""
        return dict(self.module_quantization).get("experts")

    @property
    def estimate(self) -> str:
        if self.calibration is None:
            return "roofline bound"
        profile = self.calibration
        # Priced as graphs where the profile times no launches (pricing's fallback line says
        # why): the label says so.
        execution = "graphs" if not profile.times_launches else self.execution
        cap = self.prefill_graph_tokens
        if execution == "graphs" and profile.times_launches and cap is not None:
            # Past the engine's prefill graphs an iteration runs eagerly: say where they end.
            execution = (
                "graphs for decode, eager prefill"
                if cap == 0
                else f"graphs, prefill's up to {cap:,} tokens"
            )
        return f"calibrated estimate ({profile.label}, {execution})"

    @property
    def kernels(self) -> str:
        """The kernels priced as one, in words: what the settings or an engine's defaults
        chose, which the estimate's label does not say."""
        attention = "fused attention" if self.flash_attention else "unfused attention"
        return f"{attention}; fused: {', '.join(self.fusion) if self.fusion else 'nothing else'}"
