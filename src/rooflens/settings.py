"""Every user setting of an analysis, declared once.

Each field carries its type, default, limits, help text and group. The command line's options
(`rooflens.cli.app`), the web viewer's form and schema (`rooflens.web.schemas`), the Python
API's keywords (`rooflens.analyze(**settings)`) and their validation are all derived from this
one model, so a setting means the same wherever it is given. `Settings` turns into the core's
immutable descriptions: `AnalysisOptions`, the pruned model and the what-if device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError, known_names
from rooflens.core.hardware import RATE_BOUNDS, Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import (
    DEFAULT_LINK_LATENCY,
    DEFAULT_NETWORK_LATENCY,
    FUSIONS,
    AnalysisOptions,
    Conventions,
    Fusion,
    Parallelism,
    Quantization,
)

if TYPE_CHECKING:
    from rooflens.engines.defaults import EngineDefaults

Bits = Literal[32, 16, 8, 4, 3, 2, 1]
# The serving engines rooflens prices (rooflens.engines), and the other names they go by
# (in any case).
ENGINE_NAMES = ("transformers", "compiled", "vllm", "sglang", "trtllm")
ENGINE_SPELLINGS = {
    "tensorrt-llm": "trtllm",
    "tensorrt_llm": "trtllm",
    "trt-llm": "trtllm",
    "trt_llm": "trtllm",
    "torch.compile": "compiled",
    "torch-compile": "compiled",
}


def engine_name(value: object) -> object:
    """An engine's name as rooflens writes it, from its projects' own spellings too
    ("TensorRT-LLM", "vLLM"); anything else as given, for validation to name."""
    if not isinstance(value, str):
        return value
    name = value.strip().lower()
    name = ENGINE_SPELLINGS.get(name, name)
    return name if name in ENGINE_NAMES else value


# Generous bounds that still keep every figure finite: 1,024 devices, 2 Mi tokens.
# The engines whose profiles rooflens measures itself, on one torch release: no other
# release of theirs is priced.
MEASURED_HERE = {
    "transformers": "none with transformers (its profile is measured)",
    "compiled": "none with compiled (its profile is measured with one torch release)",
}
MAX_DEVICES = 1024
MAX_TOKENS = 1 << 21
# A request's images: a size beside batch and prompt, not a setting; its help said once for
# the command line and the web.
IMAGES_HELP = (
    "Images per request (multimodal models): the vision encoder runs as a stage before the "
    "prefill, which reads the images' tokens."
)


def setting(
    default: Any,
    group: str,
    title: str,
    help: str,
    accepts: str | None = None,
    flag: str | None = None,
    **limits: Any,
) -> Any:
    """A declared setting: `title` labels it in the web form, `help` is its one-line help,
    `accepts` says in words what a text or list setting takes (errors quote it) and `flag`
    names its command-line option where that is not the field's name."""
    extra = {"group": group} | ({"accepts": accepts} if accepts else {})
    extra |= {"flag": flag} if flag else {}
    return Field(default, title=title, description=help, json_schema_extra=extra, **limits)


def split_items(value: object) -> object:
    """'a,b' -> ('a', 'b'), '' -> (); lists and tuples as given. An empty item ('1,,2', '1,')
    is refused: it is a slip, and read as nothing it had left a value out in silence."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        parts = tuple(part.strip() for part in value.split(","))
        if not all(parts):
            raise ValueError("an empty item (two commas together, or one at an end)")
        return parts
    if isinstance(value, list):
        return tuple(value)
    return value


class Settings(BaseModel):
    """What changes an analysis besides the model, the device and the sizes."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    # Precision defaults to what the checkpoint stores (its quantization_config), else 16
    # bits: empty (None) says "not given", so an explicit 16 on an FP8 checkpoint is kept
    # wherever the settings travel (the web form sends every field).
    w_bits: Bits | None = setting(
        None, "Precision", "weight bits", "Bits per weight; empty: as stored, else 16."
    )
    a_bits: Bits | None = setting(
        None, "Precision", "activation bits", "Bits per activation; empty: as stored, else 16."
    )
    kv_bits: Bits | None = setting(
        None, "Precision", "KV-cache bits", "Bits per cached key/value; empty: as stored, else 16."
    )
    # SGLang's --mamba-ssm-dtype, vLLM's --mamba-ssm-cache-dtype.
    state_bits: Literal[16, 32] | None = setting(
        None,
        "Precision",
        "recurrent state bits",
        "Bits per element of a recurrent mixer's state (Mamba, Gated DeltaNet, KDA); empty: "
        "as the checkpoint declares (mamba_ssm_dtype, mamba_ssm_cache_dtype, or its config "
        "class's default: FP32 for Nemotron-H), else the engine's (SGLang: 32), else 16 "
        "(the KV cache's where wider).",
    )
    group_size: int | None = setting(
        None,
        "Precision",
        "quantization group",
        "Weights per quantization group (fp16 scale + zero point); empty: per channel.",
        ge=1,
        le=1 << 20,
    )
    w_format: Literal["int", "fp", "nf4", "mxfp4", "mxfp8", "nvfp4"] | None = setting(
        None,
        "Precision",
        "weight format",
        "int (GPTQ/AWQ), fp (FP8/FP4), nf4 (QLoRA), mxfp4 or mxfp8 (OCP MX) or nvfp4; empty: "
        "as stored, else int.",
    )
    w_scale: Literal["channel", "tensor"] | PositiveInt | None = setting(
        None,
        "Precision",
        "weight scales",
        "Float weights' scales: per channel, per tensor, or per block of this many weights "
        "(FP8 block: DeepSeek's 128 x 128 blocks are 16384); empty: per channel.",
        accepts="channel, tensor or a block's weight count like 16384 (128 x 128)",
    )
    a_scale: Literal["dynamic", "static"] | None = setting(
        None,
        "Precision",
        "activation scales",
        "8-bit activations' scales: computed each step (dynamic) or stored in the checkpoint "
        "(static); empty: the checkpoint's, else the engine's for per-tensor FP8, else dynamic.",
    )
    w4_kernel: Literal["native", "marlin", "mxfp8"] = setting(
        "native",
        "Precision",
        "4-bit float kernel",
        "Kernel of 4-bit float weights (MXFP4) with 16-bit activations: the engine's own; "
        "Marlin (vLLM's VLLM_MXFP4_USE_MARLIN=1), priced on a profile's Marlin rows at the "
        "model's layer shapes, else compute-bound on Marlin's rows of another layer and "
        "memory-bound as the engine's own; or, for experts, mxfp8: TensorRT-LLM-gen's kernel "
        "with MXFP8 activations (vLLM's VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1), priced on "
        "its rows where a profile has them (vLLM on Blackwell: FlashInfer's, as SGLang's "
        "tables time them), else as the engine's own. Changes calibrated estimates only.",
    )
    fp8_moe_kernel: Literal["native", "trtllm_gen"] = setting(
        "native",
        "Precision",
        "FP8 block MoE kernel",
        "Kernel of FP8 experts with block scales (DeepSeek-V3's): the engine's own tables' "
        "(TensorRT-LLM's on Blackwell time DeepGEMM), or trtllm_gen: TensorRT-LLM-gen's "
        "block-scale MoE (TensorRT-LLM's moe_config.backend TRTLLM), priced on its rows where "
        "a profile has them (TensorRT-LLM on Blackwell: FlashInfer's, as SGLang's tables time "
        "them), else as the engine's own. Changes calibrated estimates only.",
    )
    flash_attention: bool | None = setting(
        None,
        "Attention",
        "FlashAttention",
        "Fuse attention (FlashAttention-2 tiling); empty: on for a calibrated estimate (every "
        "engine runs fused attention kernels, and profiles time them), off for the roofline "
        "bound, as LLM-Viewer counts it.",
    )
    conventions: Literal["rooflens", "llm-viewer"] = setting(
        "rooflens", "Attention", "conventions", "Counting conventions: rooflens's or LLM-Viewer's."
    )
    allow_long_context: bool = setting(
        False, "Attention", "allow long context", "Analyse beyond the model's max positions."
    )
    tp: int = setting(
        1, "Parallelism", "tensor parallel", "Tensor-parallel devices.", ge=1, le=MAX_DEVICES
    )
    ep: int = setting(
        1,
        "Parallelism",
        "expert parallel",
        "Expert parallelism: each device holds 1/ep of the routed experts. Without moe_tp "
        "they spread over ep groups of tp devices, each attending to its own requests "
        "(attention data parallelism), the groups' steps alike; with moe_tp, see there.",
        ge=1,
        le=MAX_DEVICES,
    )
    moe_tp: int | None = setting(
        None,
        "Parallelism",
        "MoE tensor parallel",
        "Devices each expert's width is split over when the experts share the tensor-parallel "
        "group (ep x moe_tp = tp, as SGLang's and TensorRT-LLM's --ep) or spread over "
        "attention groups of it (ep x moe_tp = groups x tp: vLLM's data parallelism with "
        "--enable-expert-parallel at moe_tp 1); empty: ep groups of tp.",
        ge=1,
        le=MAX_DEVICES,
    )
    pp: int = setting(1, "Parallelism", "pipeline stages", "Pipeline stages.", ge=1, le=MAX_DEVICES)
    dp: int = setting(
        1, "Parallelism", "data parallel", "Data-parallel replicas.", ge=1, le=MAX_DEVICES
    )
    micro_batches: int = setting(
        1, "Parallelism", "micro-batches", "Micro-batches per pipeline step.", ge=1, le=MAX_DEVICES
    )
    link_bandwidth: float | None = setting(
        None,
        "Parallelism",
        "link bandwidth (B/s)",
        "Between devices, bytes/s per direction; empty: the device's.",
        ge=RATE_BOUNDS[0],
        le=RATE_BOUNDS[1],
    )
    link_latency: float | None = setting(
        None,
        "Parallelism",
        "link latency (s)",
        "Latency of one ring step, s; empty: the calibration's, else "
        f"{DEFAULT_LINK_LATENCY * 1e6:g} µs within a node and "
        f"{DEFAULT_NETWORK_LATENCY * 1e6:g} µs between nodes.",
        ge=0,
        le=1,
    )
    kv_budget: int | None = setting(
        None,
        "KV cache",
        "KV budget (tokens)",
        "Most keys kept per sequence (eviction); empty: all.",
        ge=1,
        le=MAX_TOKENS,
    )
    kv_policy: Literal["h2o", "streaming"] = setting(
        "h2o",
        "KV cache",
        "eviction policy",
        "h2o (heavy hitters, with score bookkeeping) or streaming (sinks + recent window).",
    )
    prompt_keep: float = setting(
        1.0, "KV cache", "prompt kept", "Prompt compression: share of tokens kept.", gt=0, le=1
    )
    offload_weights: bool = setting(
        False, "Offload", "offload weights", "Stream weights from host memory each step."
    )
    offload_kv: bool = setting(
        False, "Offload", "offload KV cache", "Stream the KV cache from host memory each step."
    )
    offload_disk_bandwidth: float | None = setting(
        None,
        "Offload",
        "disk bandwidth (B/s)",
        "Offload to disk at this read bandwidth (e.g. 7e9 for NVMe); empty: host memory.",
        ge=RATE_BOUNDS[0],
        le=RATE_BOUNDS[1],
    )
    sparsity: float = setting(
        0.0, "Sparsity", "weight sparsity", "Share of pruned weights, in [0, 1).", ge=0, lt=1
    )
    sparse_kernel: bool = setting(
        False, "Sparsity", "sparse kernel", "Compute skips pruned weights."
    )
    nm_sparsity: str | None = setting(
        None,
        "Sparsity",
        "N:M sparsity",
        "Structured sparsity, e.g. 2:4.",
        accepts="N:M with N < M, like 2:4",
        pattern=r"^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$",
    )
    low_rank_ratio: float | None = setting(
        None, "Sparsity", "low-rank ratio", "Rank as a share of min(in, out).", gt=0, le=1
    )
    low_rank_layers: str | None = setting(
        None,
        "Sparsity",
        "low-rank layers",
        "Projections to factorize, e.g. q_proj,o_proj; empty: all block projections.",
        accepts="projection names like q_proj,o_proj",
        pattern=r"^[A-Za-z0-9_]+( *, *[A-Za-z0-9_]+)*$",
        max_length=500,
    )
    prune_heads: float = setting(
        0.0, "Pruning", "prune heads", "Share of attention heads removed.", ge=0, lt=1
    )
    prune_width: float = setting(
        0.0, "Pruning", "prune width", "Share of MLP channels removed.", ge=0, lt=1
    )
    prune_depth: float = setting(
        0.0, "Pruning", "prune depth", "Share of layers removed.", ge=0, lt=1
    )
    fusion: tuple[Fusion, ...] | None = setting(
        None,
        "Kernels",
        "fused kernels",
        "Operators run as one kernel each; empty: with an engine, what its model code fuses "
        "(vllm, sglang, trtllm: qkv, gate_up, add_norm, moe), else none.",
        accepts="all or none alone, or any of " + ", ".join(FUSIONS),
        max_length=len(FUSIONS),
    )
    early_exit_depth: float = setting(
        1.0, "Kernels", "early-exit depth", "Mean share of layers a decode step runs.", gt=0, le=1
    )
    exit_classifier_width: int = setting(
        1, "Kernels", "exit classifier width", "Outputs of each exit classifier.", ge=1, le=1 << 20
    )
    active_heads: float = setting(
        1.0,
        "Kernels",
        "active heads",
        "Contextual sparsity (Deja Vu): share of heads a decode token uses.",
        gt=0,
        le=1,
    )
    active_neurons: float = setting(
        1.0,
        "Kernels",
        "active neurons",
        "Contextual sparsity: share of MLP neurons a decode token uses.",
        gt=0,
        le=1,
    )
    predictor_rank: int = setting(
        1024, "Kernels", "predictor rank", "Rank of the sparsity predictors.", ge=1, le=1 << 16
    )
    calibration: str | EfficiencyProfile | None = setting(
        None,
        "Calibration",
        "calibration",
        "Empty: roofline bound; auto (the device's bundled profile), a profile name or a "
        "TOML file: a calibrated estimate.",
        accepts="auto, a bundled profile name or a profile TOML file",
    )
    engine: Literal[ENGINE_NAMES] | None = setting(  # type: ignore[valid-type]
        None,
        "Calibration",
        "serving engine",
        "Estimate what this engine achieves, from its profile fitted to measured kernels "
        "(docs/engines.md); empty: the roofline bound.",
    )
    engine_version: str | None = setting(
        None,
        "Calibration",
        "engine version",
        "With an engine: the release to price, by the operator tables measured with it where "
        "the databases hold them, else with the oldest release after it, else the newest "
        "(docs/engines.md); empty: the newest tables.",
        accepts="a release number such as 0.5.10 or 1.3.0rc10",
        pattern=r"^[0-9][0-9A-Za-z.+-]*$",
        max_length=40,
    )
    execution: Literal["graphs", "eager"] = setting(
        "graphs", "Calibration", "execution", "With a calibration: CUDA graphs or eager launches."
    )
    prefill_graph_tokens: int | None = setting(
        None,
        "Calibration",
        "prefill graph tokens",
        "With an engine: the largest prefill iteration (tokens) the engine replays as a CUDA "
        "graph; a larger one runs without, lasting at least the host's time to launch its "
        "kernels (SGLang's measured 0.42 ms per layer, 1.77 ms more with experts; vLLM's "
        "1.09 ms and 0.47 ms more; TensorRT-LLM's is not measured, so its profile prices "
        "none); 0: none (SGLang before 0.5.10); empty: the engine's default for its release, "
        "model and layout (vLLM's from its scheduler's sequences, drafts and token budget; "
        "gpt-oss 1,024).",
        ge=0,
        le=MAX_TOKENS,
    )
    memory_fraction: float | None = setting(
        None,
        "Calibration",
        "memory fraction",
        "With an engine or a calibration: the share of memory the engine takes, as its own "
        "setting means it (vLLM's gpu_memory_utilization and SGLang's mem_fraction_static: "
        "of the device; TensorRT-LLM's free_gpu_memory_fraction: of what weights and "
        "activations leave); empty: the engine's default.",
        gt=0,
        le=1,
    )
    host_time: float | None = setting(
        None,
        "Calibration",
        "host ms per step",
        "With an engine or a calibration: the engine's host and scheduler time per iteration "
        "(ms); every step then lasts at least this long, its GPU time or the host's, "
        "whichever is longer; empty: the profile's (none of the shipped profiles has one).",
        ge=0,
        le=1e6,
    )
    request_time: float | None = setting(
        None,
        "Calibration",
        "ms per request",
        "With an engine or a calibration: each request's time on the engine's serving path "
        "outside its iterations (ms: API server, tokenizer, hand-offs, streaming), which the "
        "serving simulator adds to every TTFT and end-to-end latency (analyze prices steps "
        "alone); empty: the profile's (vLLM's measured 9.9 ms, SGLang's 15.8 ms, none for "
        "the others).",
        ge=0,
        le=3.6e6,
    )
    # A millionth either way: much slower and a step's time overflows (1e-300 made every time
    # infinite), and no what-if question needs it.
    scale_bandwidth: float = setting(
        1.0, "What-if hardware", "× bandwidth", "Scale the memory bandwidth.", ge=1e-6, le=1e6
    )
    scale_compute: float = setting(
        1.0, "What-if hardware", "× compute", "Scale every compute peak.", ge=1e-6, le=1e6
    )
    scale_capacity: float = setting(
        1.0, "What-if hardware", "× capacity", "Scale the memory capacity.", ge=1e-6, le=1e6
    )
    compute_cap: float | None = setting(
        None, "What-if hardware", "compute cap (OP/s)", "Cap every compute peak.", ge=1, le=1e20
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: object, info: Any) -> object:
        # True == 1 would otherwise pass as 1-bit weights or one device; numpy's integers
        # (a script's loop) as the numbers they are.
        annotation = cls.model_fields[info.field_name].annotation
        # Empty text is "not given" where that is the default, as the command line and the
        # help's "(or empty)" take it (w_scale="" was refused naming "(or empty)"); a list's
        # empty text stays the empty list (fusion="": nothing fused).
        if isinstance(value, str) and not value.strip() and empty_is_unset(cls, info.field_name):
            return None
        return as_choice(annotation, declared_number(cls, info.field_name, value))

    @field_validator("engine_version", mode="before")
    @classmethod
    def _release_as_typed(cls, value: object) -> object:
        # " 0.5.14 " pasted from a page is the release 0.5.14.
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_name(cls, value: object) -> object:
        return engine_name(value)

    @field_validator("w_scale", mode="before")
    @classmethod
    def _block_size(cls, value: object) -> object:
        return int(value) if isinstance(value, str) and value.isdigit() else value

    @field_validator("fusion", mode="before")
    @classmethod
    def _fusions(cls, value: object) -> object:
        value = split_items(value)
        # "none" states nothing fused, as the help's default reads (with an engine: not its
        # fusions either); either word whatever its case, as the others.
        words = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        alone = tuple(v.lower() for v in value) if words else value
        return FUSIONS if alone == ("all",) else () if alone == ("none",) else value

    @field_validator("low_rank_layers", mode="before")
    @classmethod
    def _layers(cls, value: object) -> object:
        # A list of names is the text "a,b"; any other list is left for the type check.
        listed = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        return ",".join(value) if listed else value

    # Derived descriptions -----------------------------------------------------------------
    def quantization(self, checkpoint: Quantization | None = None) -> Quantization:
        """The precision of the analysis: the settings given, over the checkpoint's stored
        precision (its `quantization_config`) where there is one, else over 16 bits."""
        nm = None
        if self.nm_sparsity is not None:
            n, m = (int(x) for x in self.nm_sparsity.split(":"))
            nm = (n, m)
        # Precision not given takes the checkpoint's stored value, else Quantization's own
        # default (16 bits, integer weights with per-channel scales, dynamic activations).
        given_here = {name for name in PRECISION if getattr(self, name) is not None}
        if checkpoint is not None and self._implies_integer(checkpoint):
            given_here.add("w_format")
        given = {name: self._given(name) for name in given_here} | {
            "sparsity": self.sparsity,
            "sparse_kernel": self.sparse_kernel,
            "w4_kernel": self.w4_kernel,
            "fp8_moe_kernel": self.fp8_moe_kernel,
            "nm_sparsity": nm,
        }
        taken: list[str] = []
        if checkpoint is not None:
            stored = checkpoint.model_dump()
            # Each weight field left empty keeps the stored value (a block size given alone
            # changes the scales of the stored FP8), unless the settings give the weights
            # another width or format: then they are quantized anew, wholly as the settings
            # say, a width left empty kept (FP8's block scales on 16-bit or on integer weights
            # would mean nothing); activations and the KV cache each likewise; pruning is
            # always the settings'.
            taken = [k for k in ("a_bits", "kv_bits") if k not in given_here]
            if "a_bits" in taken and "a_scale" not in given_here:
                taken.append("a_scale")
            if self.requantizes(checkpoint):
                # Weights quantized anew bring their own activations: the stored ones were
                # the stored weights' (FP8's W8A8), so those left empty are 16-bit.
                taken = [k for k in taken if k not in ("a_bits", "a_scale")]
                taken += [] if "w_bits" in given_here else ["w_bits"]
            else:
                # w_zero_point only a checkpoint says
                taken += [k for k in (*WEIGHT_STORAGE, "w_zero_point") if k not in given_here]
            given = given | {k: stored[k] for k in taken}
        if "w_format" in given_here and "w_bits" not in given_here:
            _check_width(given["w_format"], given.get("w_bits", 16))
        try:
            quant = Quantization.model_validate(given)  # pydantic's error, worded here
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            field = next(iter(sorted(given_here)), "w_bits")
            raise InvalidInputError(field, getattr(self, field), message) from None
        if self.group_size is not None and quant.w_bits >= 16:
            raise InvalidInputError(
                "group_size",
                self.group_size,
                "empty without weights below 16 bits (w_bits, or a checkpoint's stored "
                "integer weights): it groups the scales of integer weights",
            )
        if self.group_size is not None and quant.w_format != "int":
            raise InvalidInputError("group_size", self.group_size, _no_group_size(quant.w_format))
        if self.w_scale is not None and (quant.w_format != "fp" or quant.w_bits >= 16):
            raise InvalidInputError("w_scale", self.w_scale, _no_w_scale(quant))
        # Per-tensor FP8 quantized here (neither set nor stored with the checkpoint's
        # activations): the scales the engine's FP8 path uses.
        stored_scale = checkpoint is not None and checkpoint.a_bits == 8 and "a_bits" in taken
        engine = self._engine_defaults()
        if self.a_scale is None and not stored_scale and quant.per_tensor_fp8 and engine:
            return quant.model_copy(update={"a_scale": engine.fp8_activation_scale})
        return quant

    def _implies_integer(self, checkpoint: Quantization) -> bool:
        """A group size given without a format, over stored weights that are not integers
        (gpt-oss' MXFP4): groups are integer weights' (GPTQ, AWQ), so it asks for those."""
        return (
            self.group_size is not None and self.w_format is None and checkpoint.w_format != "int"
        )

    def _given(self, name: str) -> Any:
        """A precision setting as given; the integer format a group size implies (above)."""
        value = getattr(self, name)
        return "int" if name == "w_format" and value is None else value

    def requantizes(self, checkpoint: Quantization) -> bool:
        """Whether these settings give a checkpoint's weights another width or format than it
        stores: then the weights are quantized anew, everywhere (the modules it keeps at 16
        bits and experts it stores apart included); a scale or group size alone keeps them."""
        given = {"w_bits": self.w_bits, "w_format": self.w_format}
        if self._implies_integer(checkpoint):
            given["w_format"] = "int"
        stored = checkpoint.model_dump()
        return any(v is not None and v != stored[k] for k, v in given.items())

    def _engine_defaults(self) -> EngineDefaults | None:
        """What the chosen engine does unless told otherwise (`rooflens.engines.DEFAULTS`)."""
        if self.engine is None:
            return None
        from rooflens.engines import DEFAULTS

        return DEFAULTS.get(self.engine)

    def parallelism(self) -> Parallelism:
        return Parallelism(
            tp=self.tp,
            ep=self.ep,
            moe_tp=self.moe_tp,
            pp=self.pp,
            dp=self.dp,
            micro_batches=self.micro_batches,
            link_bandwidth=self.link_bandwidth,
            link_latency=self.link_latency,
        )

    def fused_kernels(self) -> tuple[Fusion, ...]:
        """The fusion setting where given, else the kernels the engine's model code fuses
        (`rooflens.engines.DEFAULTS`), else none."""
        if self.fusion is not None:
            return tuple(dict.fromkeys(self.fusion))
        engine = self._engine_defaults()
        return engine.fusion if engine is not None else ()  # type: ignore[return-value]

    def fused_attention(self, calibrated: bool) -> bool:
        """The FlashAttention setting where given, else on for a calibrated estimate: the
        engines' profiles and the measured ones were fitted on fused attention kernels, so
        pricing the scores' matrix through memory would apply them to work no engine does."""
        return calibrated if self.flash_attention is None else self.flash_attention

    def analysis_options(
        self, calibration: EfficiencyProfile | None = None, model: ModelSpec | None = None
    ) -> AnalysisOptions:
        """The core's options; `calibration` is the resolved profile (names and files are
        resolved against a device by the adapter); with `model`, a checkpoint's stored
        precision and the modules it leaves at 16 bits are the defaults."""
        checkpoint = model.checkpoint_quant if model is not None else None
        quantization = self.quantization(checkpoint.quantization if checkpoint else None)
        modules: tuple[tuple[str, Quantization], ...] = ()
        partial: tuple[tuple[str, int, int], ...] = ()
        if checkpoint is not None and self.requantizes(checkpoint.quantization):
            unquantized: tuple[str, ...] = ()  # the settings' weights are everywhere
        else:
            unquantized = checkpoint.unquantized if checkpoint else ()
            modules = checkpoint.modules if checkpoint else ()
            partial = checkpoint.partial if checkpoint else ()
        low_rank: dict[str, Any] = {}
        if self.low_rank_ratio is not None:
            low_rank["low_rank_ratio"] = self.low_rank_ratio
            if self.low_rank_layers is not None:
                low_rank["low_rank_layers"] = split_items(self.low_rank_layers)
        conventions = (
            Conventions.llm_viewer() if self.conventions == "llm-viewer" else Conventions()
        )
        if self.memory_fraction is not None:
            if calibration is None:
                raise InvalidInputError(
                    "memory_fraction",
                    self.memory_fraction,
                    "empty without an engine or a calibration (the roofline bound takes the "
                    "whole device)",
                )
            calibration = calibration.model_copy(update={"memory_fraction": self.memory_fraction})
        if self.host_time is not None:
            if calibration is None:
                raise InvalidInputError(
                    "host_time",
                    self.host_time,
                    "empty without an engine or a calibration (the roofline bound has no host)",
                )
            update = {"host_per_iteration": self.host_time / 1e3}
            calibration = calibration.model_copy(update=update)
        if self.request_time is not None:
            if calibration is None:
                raise InvalidInputError(
                    "request_time",
                    self.request_time,
                    "empty without an engine or a calibration (the roofline bound serves no "
                    "request path)",
                )
            # The time given replaces the profile's, and so does where it comes from.
            provenance = dict(calibration.provenance) | {
                "host_per_request": f"given: request_time {self.request_time:g} ms"
            }
            update = {"host_per_request": self.request_time / 1e3, "provenance": provenance}
            calibration = calibration.model_copy(update=update)
        if calibration is None:
            for name, accepted in KERNEL_SETTINGS.items():
                if getattr(self, name) != accepted:
                    raise InvalidInputError(
                        name,
                        getattr(self, name),
                        f"{'empty' if accepted is None else accepted} without an engine or a "
                        "calibration (the roofline bound prices no kernel)",
                    )
        return AnalysisOptions(
            quantization=quantization,
            unquantized_modules=unquantized,
            module_quantization=modules,
            partly_unquantized=partial,
            flash_attention=self.fused_attention(calibration is not None),
            conventions=conventions,
            allow_long_context=self.allow_long_context,
            calibration=calibration,
            execution=self.execution,
            prefill_graph_tokens=self.prefill_graph_tokens,
            parallelism=self.parallelism(),
            kv_budget=self.kv_budget,
            kv_policy=self.kv_policy,
            prompt_keep=self.prompt_keep,
            offload_weights=self.offload_weights,
            offload_kv=self.offload_kv,
            offload_disk_bandwidth=self.offload_disk_bandwidth,
            fusion=self.fused_kernels(),
            early_exit_depth=self.early_exit_depth,
            exit_classifier_width=self.exit_classifier_width,
            active_heads=self.active_heads,
            active_neurons=self.active_neurons,
            predictor_rank=self.predictor_rank,
            **low_rank,
        )

    def served(self, model: ModelSpec) -> ModelSpec:
        """The model as these settings serve it: with the structured pruning asked for
        (LLM-Pruner, Sheared-LLaMA) and its recurrent state as wide as asked."""
        model = model.pruned(heads=self.prune_heads, width=self.prune_width, depth=self.prune_depth)
        if self.state_bits is None:
            # An engine's own width where the config declares none (SGLang's float32).
            engine = self._engine_defaults()
            mixer = model.mixer
            if engine is None or engine.state_bits is None or mixer is None:
                return model
            if mixer.state_bits is not None or not mixer.state_elements:
                return model
            return model.model_copy(
                update={"mixer": mixer.model_copy(update={"state_bits": engine.state_bits})}
            )
        if model.mixer is None:
            raise InvalidInputError(
                "state_bits", self.state_bits, "empty for a model without a recurrent mixer"
            )
        if not model.mixer.state_elements:
            # LFM2's short convolution keeps only its inputs, cached at the KV cache's width.
            raise InvalidInputError(
                "state_bits",
                self.state_bits,
                f"empty for a model whose {model.mixer.kind} mixer has no scan state",
            )
        return model.model_copy(
            update={"mixer": model.mixer.model_copy(update={"state_bits": self.state_bits})}
        )

    def what_if(self, device: Device) -> Device:
        """The device with the hardware what-ifs asked for."""
        return device.what_if(
            bandwidth=self.scale_bandwidth,
            compute=self.scale_compute,
            capacity=self.scale_capacity,
            compute_cap=self.compute_cap,
        )

    def changed(self) -> dict[str, Any]:
        """The settings that differ from their defaults (for headers and JSON)."""
        return {
            name: getattr(self, name)
            for name, field in type(self).model_fields.items()
            if getattr(self, name) != field.default and name != "calibration"
        }


SETTING_NAMES: tuple[str, ...] = tuple(Settings.model_fields)
# The settings a checkpoint's quantization_config gives defaults for.
WEIGHT_STORAGE = ("w_bits", "group_size", "w_format", "w_scale")
PRECISION = (*WEIGHT_STORAGE, "a_bits", "a_scale", "kv_bits")
# The settings that choose how kernels run, which only a calibrated estimate prices: each
# accepts its default alone for the roofline bound.
KERNEL_SETTINGS = {
    name: Settings.model_fields[name].default
    for name in ("w4_kernel", "fp8_moe_kernel", "execution", "prefill_graph_tokens")
}


def accepted(model: type[BaseModel], name: str) -> str:
    """What a field of a declared model accepts, in words, from its declaration."""
    field = model.model_fields[name]
    annotation = field.annotation
    choices = [a for a in _flatten(annotation) if a is not type(None)]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    literals = [
        v for a in choices if getattr(a, "__origin__", None) is Literal for v in get_args(a)
    ]
    optional = type(None) in _flatten(annotation)
    if "accepts" in extra:
        text = str(extra["accepts"])
    elif literals:
        text = "one of " + ", ".join(str(v) for v in literals)
    elif bool in choices:
        text = "true or false"
    else:
        if int in choices:
            text = "an integer" + _range(field.metadata)
        elif float in choices:
            text = "a number" + _range(field.metadata)
        else:
            text = "text"
    return text + (" (or empty)" if optional and field.default is None else "")


def option_name(model: type[BaseModel], name: str) -> str:
    """The command-line name of a declared field: its `flag` where it has one, else its name."""
    extra = model.model_fields[name].json_schema_extra
    return str(extra.get("flag", name)) if isinstance(extra, dict) else name


def without_empty_text(
    model: type[BaseModel], given: object, leaves_out: Callable[[type[BaseModel], str], bool]
) -> object:
    """`given`, a mapping of `model`'s fields, less those sent as empty text that it leaves
    out (`leaves_out(model, name)`), so that a field's default, or a preset's value, stands."""
    if not isinstance(given, dict):
        return given
    return {
        k: v
        for k, v in given.items()
        if not (
            isinstance(v, str)
            and not v.strip()
            and k in model.model_fields
            and leaves_out(model, k)
        )
    }


def empty_is_unset(model: type[BaseModel], name: str) -> bool:
    """Whether empty text gives setting `name` its default, None: an optional setting that
    is not a list."""
    kinds = setting_kinds(name, model)
    return model.model_fields[name].default is None and type(None) in kinds and tuple not in kinds


def setting_kinds(name: str, model: type[BaseModel] = Settings) -> set[type]:
    """The plain Python types a declared setting takes (a Literal counts as its values' type)."""
    kinds: set[type] = set()
    for a in _flatten(model.model_fields[name].annotation):
        if getattr(a, "__origin__", None) is Literal:
            kinds |= {type(v) for v in get_args(a)}
        elif getattr(a, "__origin__", None) is tuple:
            kinds.add(tuple)
        elif isinstance(a, type):
            kinds.add(a)
    return kinds


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def setting_from_text(name: str, text: str) -> object:
    """A setting's value from text (`compare --vs w_bits=4`), read as its declared type; the
    result is still validated by `parse_settings`."""
    kinds = setting_kinds(name)
    lowered = text.strip().lower()
    # "none" is a list's own word for "empty" (fusion=none: nothing fused), else "not given".
    if type(None) in kinds and (lowered == "" or (lowered == "none" and tuple not in kinds)):
        return None
    try:
        if bool in kinds:
            if lowered not in (*_TRUE, *_FALSE):
                raise ValueError
            return lowered in _TRUE
        if int in kinds:
            try:
                return int(text)
            except ValueError:
                # "4.0" reads as 4, as the command line's integer options read it.
                number = float(text)
                if not number.is_integer():
                    raise
                return int(number)
        if float in kinds:
            return float(text)
    except ValueError:
        raise InvalidInputError(name, text, accepted(Settings, name)) from None
    return text


def plain(value: object) -> object:
    """`value` with numpy's scalars and arrays as Python's (np.int64(2) -> 2, an array -> a
    list): a script's numpy loop passes them where a setting takes a number or a list."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def as_choice(annotation: object, value: object) -> object:
    """A word of a field of lower-case word choices, in lower case ("FP" is fp, as a device's
    or an engine's name matches whatever its case), and so each word of a list of them
    ("QKV,act" or ["QKV"]); anything else as given."""
    kinds = _flatten(annotation)
    listed = [k for k in kinds if getattr(k, "__origin__", None) is tuple]
    words = _words([*kinds, *(a for k in listed for a in _flatten(get_args(k)[0]))])
    if not words:
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in words:
            return lowered
        parts = [p.strip() for p in lowered.split(",")]
        return ",".join(parts) if listed and all(p in words for p in parts) else value
    if listed and isinstance(value, list | tuple):
        return type(value)(_as_word(v, words) for v in value)
    return value


def _words(kinds: list[object]) -> set[str]:
    """The words of Literal choices among `kinds` where every choice is a lower-case word."""
    choices = [c for k in kinds if getattr(k, "__origin__", None) is Literal for c in get_args(k)]
    if choices and all(isinstance(c, str) and c == c.lower() for c in choices):
        return set(choices)
    return set()


def _as_word(value: object, words: set[str]) -> object:
    if isinstance(value, str) and value.strip().lower() in words:
        return value.strip().lower()
    return value


def not_a_bool_number(annotation: object, value: object) -> object:
    """`value`, unless it is a boolean where `annotation` takes none (pydantic reads True as
    1 in a number's place), or a float where it takes only integers or integer choices
    (pydantic reads 8.0 as 8, and Literal[8] takes it): a field validator's check, raising
    ValueError, that every declared section shares (the command line refuses 8.0 too)."""
    kinds = _flatten(annotation)
    choices = _integer_choices(kinds)
    numeric = bool(choices) or any(kind in (int, float) for kind in kinds)
    if isinstance(value, bool) and bool not in kinds and numeric:
        # A field of words (scheduler.queue: true) is left to say which words it takes.
        raise ValueError("a boolean is not a number")
    if isinstance(value, float) and float not in kinds and choices:
        raise ValueError(f"expected one of the integers {', '.join(map(str, choices))}")
    if isinstance(value, float) and int in kinds and float not in kinds:
        raise ValueError("expected an integer")
    return value


def declared_number(model: type[BaseModel], name: str, value: object) -> object:
    """`value` for field `name` of a declared model, numpy's scalars as Python's, refused
    where not_a_bool_number refuses it: the check every declared section's validator makes."""
    return not_a_bool_number(model.model_fields[name].annotation, plain(value))


def _integer_choices(kinds: list[object]) -> tuple[int, ...]:
    return tuple(
        choice
        for kind in kinds
        if getattr(kind, "__origin__", None) is Literal
        and all(type(choice) is int for choice in get_args(kind))
        for choice in get_args(kind)
    )


def _flatten(annotation: object) -> list[object]:
    args = get_args(annotation)
    if (
        args
        and getattr(annotation, "__origin__", None) is not Literal
        and getattr(annotation, "__origin__", None) is not tuple
    ):
        return [x for a in args for x in _flatten(a)]
    return [annotation]


def _number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() and abs(value) < 1e7 else f"{value:g}"


def _range(metadata: list[object]) -> str:
    low = high = None
    low_open = high_open = False
    for m in metadata:
        for attr, is_low, is_open in (("ge", 1, 0), ("gt", 1, 1), ("le", 0, 0), ("lt", 0, 1)):
            value = getattr(m, attr, None)
            if value is None:
                continue
            if is_low:
                low, low_open = value, bool(is_open)
            else:
                high, high_open = value, bool(is_open)
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {_number(low)}"
    if low is None:
        return f" {'<' if high_open else '<='} {_number(high)}"
    bounds = f"{_number(low)}, {_number(high)}"
    return f" in {'(' if low_open else '['}{bounds}{')' if high_open else ']'}"


def invalid_input(
    exc: ValidationError,
    model: type[BaseModel],
    prefix: str = "",
    keywords: tuple[str, ...] = (),
) -> InvalidInputError:
    """One validation error of a declared model as the typed error every entry point shows:
    the field, the value given and what the declaration accepts. `keywords`: the calling
    function's own keywords besides the model's fields (analyze's batch), which an unknown
    name may be a typo of too."""
    err = exc.errors()[0]
    if not err["loc"]:
        message = str(err["msg"]).removeprefix("Value error, ")
        return InvalidInputError(prefix.rstrip(".") or "settings", err.get("input"), message)
    name = str(err["loc"][0])
    if err["type"] == "extra_forbidden":
        known = known_names(name, (*keywords, *model.model_fields))
        return InvalidInputError(prefix + name, err.get("input"), known)
    value = err.get("input")
    if name in model.model_fields:
        said = str(err["msg"]).removeprefix("Value error, ")
        # A rule beyond the field's choices (a list's values each once) says itself too.
        beyond = err["type"] == "value_error" and said.startswith("expected each ")
        rule = f", {said.removeprefix('expected ')}" if beyond else ""
        return InvalidInputError(prefix + name, value, accepted(model, name) + rule)
    return InvalidInputError(prefix + name, value, str(err["msg"]))


def parse_settings(
    values: Mapping[str, object] | Settings | None = None, keywords: tuple[str, ...] = ()
) -> Settings:
    """Validated settings from keyword values; a bad value raises InvalidInputError naming it.
    `keywords`: the calling function's own keywords (analyze's batch, prompt_len, ...), which
    an unknown name is matched against as well as the settings ("did you mean batch?")."""
    if isinstance(values, Settings):
        return values
    try:
        settings = Settings(**dict(values or {}))
    except ValidationError as exc:
        raise invalid_input(exc, Settings, keywords=keywords) from None
    _check_combinations(settings)
    return settings


def _no_group_size(w_format: str) -> str:
    """What a group size is refused with, beside weights that are not integers."""
    if w_format == "fp":
        how = "which scales by w_scale (channel, tensor or a block of weights)"
    else:
        how = "which has its own blocks (nf4 64, mxfp4 and mxfp8 32, nvfp4 16 weights per scale)"
    return f"empty with w_format={w_format!r}, {how}; group sizes are for integer weights"


def _no_w_scale(quant: Quantization) -> str:
    """What a weight scale is refused with, beside weights that are not FP8 or FP4 (w_format
    'fp'): it would be stated and priced as nothing."""
    if quant.w_bits >= 16:
        weights = f"{quant.w_bits}-bit weights, which have no scales"
    elif quant.w_format == "int":
        weights = "integer weights, which group their scales by group_size"
    else:
        weights = f"w_format={quant.w_format!r}, which has its own blocks"
    return f"empty with {weights}: it sets FP8 or FP4 weights' scales (w_format='fp')"


# The widths each float weight format stores (Quantization refuses others).
FORMAT_WIDTHS = {"fp": (8, 4), "nf4": (4,), "mxfp4": (4,), "mxfp8": (8,), "nvfp4": (4,)}


def _check_width(w_format: str, w_bits: int) -> None:
    """A weight format given without a width, at the width the weights otherwise have (a
    checkpoint's stored one, else 16 bits)."""
    widths = FORMAT_WIDTHS.get(w_format)
    if widths is not None and w_bits not in widths:
        beside = " or ".join(f"w_bits={b}" for b in widths)
        raise InvalidInputError(
            "w_format", w_format, f"{beside} beside it: without w_bits the weights are {w_bits}-bit"
        )


def _check_dependents(s: Settings) -> None:
    """A setting that only shapes another technique, given without it, would change nothing
    while the settings line listed it as applied: refused, naming what it needs."""

    def default(name: str) -> object:
        return Settings.model_fields[name].default

    def given(name: str) -> bool:  # set to other than its declared default
        return getattr(s, name) != default(name)

    rules = (
        ("sparse_kernel", s.sparse_kernel, s.sparse_kernel and not s.sparsity,
         "False without sparsity (unstructured: the zeros it skips); N:M runs at the sparse "
         "peak without it"),
        ("low_rank_layers", s.low_rank_layers,
         s.low_rank_layers is not None and s.low_rank_ratio is None,
         "empty without low_rank_ratio (the rank the projections are factorized to)"),
        ("kv_policy", s.kv_policy, given("kv_policy") and s.kv_budget is None,
         f"{default('kv_policy')} (its default) without kv_budget (the keys the policy keeps)"),
        ("predictor_rank", s.predictor_rank,
         given("predictor_rank") and not (given("active_heads") or given("active_neurons")),
         f"{default('predictor_rank')} (its default) without active_heads or active_neurons "
         "below 1 (contextual sparsity's predictors)"),
        ("exit_classifier_width", s.exit_classifier_width,
         given("exit_classifier_width") and not given("early_exit_depth"),
         f"{default('exit_classifier_width')} (its default) without early_exit_depth below 1 "
         "(the exits it classifies at)"),
        ("offload_disk_bandwidth", s.offload_disk_bandwidth,
         s.offload_disk_bandwidth is not None and not (s.offload_weights or s.offload_kv),
         "empty without offload_weights or offload_kv (what streams from the disk)"),
        # Alone, a device runs its micro-batches one after another, reading the weights for
        # each: a batch of 2 in 2 decoded twice as slowly, for nothing.
        ("micro_batches", s.micro_batches, s.micro_batches > 1 and s.pp == 1,
         "1 without pp above 1 (the pipeline stages micro-batches keep busy)"),
        # (fusion=all asks for every fusion that applies.)
        ("fusion", ",".join(s.fusion or ()),
         "flash_decoding" in (s.fusion or ()) and set(s.fusion or ()) != set(FUSIONS)
         and (s.flash_attention is False or (s.flash_attention is None and s.engine is None
                                             and s.calibration is None)),
         "flash_decoding with flash_attention on (it splits FlashAttention's decode over the "
         "keys)"),
    )  # fmt: skip
    for name, value, idle, needs in rules:
        if idle:
            raise InvalidInputError(name, value, needs)


def _check_combinations(s: Settings) -> None:
    """Rules across settings, each reported against the setting that breaks it. A width or
    format left empty may come from a checkpoint's stored precision, which is checked with
    them when the quantization is built (Settings.quantization)."""
    a_bits = s.a_bits or 16
    widths = FORMAT_WIDTHS.get(s.w_format or "")
    if widths is not None and s.w_bits is not None and s.w_bits not in widths:
        named = " or ".join(str(b) for b in widths)
        kind = " (FP8 or FP4)" if s.w_format == "fp" else ""
        raise InvalidInputError("w_bits", s.w_bits, f"{named} with w_format={s.w_format!r}{kind}")
    if s.group_size is not None and s.w_format not in (None, "int"):
        raise InvalidInputError("group_size", s.group_size, _no_group_size(s.w_format))
    if s.w_format == "nf4" and a_bits < 16:
        raise InvalidInputError("a_bits", a_bits, "16 or 32: w_format='nf4' is weight-only")
    if s.nm_sparsity is not None:
        n, m = (int(x) for x in s.nm_sparsity.split(":"))
        if n >= m:
            raise InvalidInputError("nm_sparsity", s.nm_sparsity, "N:M with N < M, e.g. 2:4")
        if s.sparsity:
            raise InvalidInputError(
                "nm_sparsity", s.nm_sparsity, "empty when sparsity (unstructured) is set"
            )
    _check_dependents(s)
    if s.engine is not None and s.calibration is not None:
        raise InvalidInputError(
            "engine", s.engine, "empty when calibration is given (an engine brings its profile)"
        )
    if s.engine_version is not None and s.engine is None:
        raise InvalidInputError(
            "engine_version", s.engine_version, "empty without an engine (it names its release)"
        )
    if s.engine_version is not None and s.engine in MEASURED_HERE:
        raise InvalidInputError("engine_version", s.engine_version, MEASURED_HERE[s.engine])
    if s.moe_tp is not None and (s.moe_tp * s.ep) % s.tp:
        raise InvalidInputError(
            "moe_tp",
            s.moe_tp,
            f"a multiple of tp / ep = {s.tp / s.ep:g}: the experts share the tp devices (ep x "
            "moe_tp = tp) or spread over attention groups of them (ep x moe_tp = groups x tp)",
        )
