"""Calibrated efficiency: what fraction of the roofline an operator achieves on a real device.

A profile, fitted from measurements (rooflens.calibration), turns the roofline bound of each
operator into an estimate:

    time = fixed + max(OPs / (peak x compute_fraction(OPs)),
                       bytes / (bandwidth x memory_fraction(bytes)))

Fractions are piecewise linear in log10(size) between measured sizes (or, where a fit held the time
to rise, `power_law`, their logs are: a power law) and constant beyond them.
Operators fall into three classes, each with its own curves: matrix multiplications, attention,
and element-wise (vector) kernels. Frameworks add kernels the analysis does not list (rotary
embedding, cache writes, casts): their cost is a time per decoder layer plus a time per layer
and token, and eager execution a host time per layer that the GPU waits for when it exceeds the
kernels' own time. A profile that names its framework (`framework = "transformers"`) instead
has those kernels counted from the model as operators of their own
(rooflens.core.framework_kernels), each kind priced by its `kernel_kinds` entry, and eager
execution a host time per kernel launched. Frameworks also hold memory the analysis does not
(workspaces): a constant.
Collectives between devices take the link bandwidth and latency fitted on measured ones.

An engine profile (`EngineProfile`, fitted from a serving engine's operator databases) refines
this: curves per operator class AND data type (a GEMM in FP8 has its own curve, attention its
own per KV-cache type), classes of their own for MoE expert GEMMs and latent attention, and
measured collective times per kind, group size and message size in place of the link model;
and it prices an operator by the curve of its roofline regime alone (`in_regime`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from itertools import pairwise
from typing import Annotated, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    Strict,
    StrictBool,
    model_validator,
)

OperatorClass = Literal["matmul", "attention", "vector"]
# Engine profiles price MoE expert GEMMs, latent attention and the recurrent scans they have
# tables for (Gated DeltaNet's, Kimi Delta Attention's) with curves of their own; a profile
# without them prices these as the class they belong to.
EngineClass = Literal[
    "matmul", "attention", "vector", "moe", "mla", "gdn", "kda", "attention_prefill",
    "mla_prefill", "dsa", "dsa_prefill", "compressed", "compressed_prefill",
]  # fmt: skip
PARENT_CLASS = {"moe": "matmul", "mla": "attention", "gdn": "attention", "kda": "attention"}
# A class priced as another in every lookup (its data types and phase too) where a profile has
# no curves of its own: sparse latent attention (DeepSeek Sparse Attention's absorbed form over
# the keys its indexer picks, "dsa") as latent attention, whose decode kernels the operator
# tables do not time apart; DeepSeek-V4's compressed attention ("compressed") as attention.
SUBCLASS_OF = {
    "dsa": "mla",
    "dsa_prefill": "mla_prefill",
    "compressed": "attention",
    "compressed_prefill": "attention_prefill",
}
# Attention over prompt chunks (a prefill step's) has curves of its own in engine profiles:
# the operator tables time it as kernels apart from decode's (FlashAttention's and FlashInfer's
# prefill paths, TensorRT-LLM's context kernels), at fractions of the bound that decode's curves
# do not give (docs/engines.md, Format). A profile without them prices it as the class's
# (`curves` of the class and the same data type).
PREFILL_CLASSES = {
    "attention": "attention_prefill",
    "mla": "mla_prefill",
    "dsa": "dsa_prefill",
    "compressed": "compressed_prefill",
}
PHASE_OF = {prefill: cls for cls, prefill in PREFILL_CLASSES.items()}
# The engine class of a recurrent mixer's scan, by mixer kind (others: the attention class).
SCAN_CLASSES = {"gated_deltanet": "gdn", "kda": "kda"}
# Efficiency class of a framework kernel of some kind (rooflens.core.framework_kernels).
KERNEL_PREFIX = "kernel:"
# A data type an engine profile has no curves for is priced with these (block-scaled FP8
# kernels run the FP8 tensor cores as per-tensor FP8 does, with more scales to read; FP8 with
# static activation scales as the measured GEMMs, which compute their scales each call;
# integer 4-bit weights as the float 4-bit ones, both dequantized in the main loop; float
# 4-bit weights run by Marlin as the engine's own float 4-bit kernel: vLLM measured Marlin the
# faster of the two on gpt-oss-120b on an H100, vllm-project/vllm#27523, so an upper bound;
# float 4-bit experts with MXFP8 activations as the engine's own float 4-bit kernel, which
# TensorRT-LLM's Blackwell profiles fit on those very rows: rooflens.calibration.aiconfigurator,
# MOE_KERNELS; MXFP8 GEMMs, which no engine's operator tables time, as block-scaled FP8: the
# same FP8 tensor-core work, scaled per block of the reduction dimension (32 values per E8M0
# scale against DeepSeek's 1 x 128 activation and 128 x 128 weight blocks), and, where a
# profile has no block-scaled curves either, as those fall back).
DTYPE_FALLBACK = {
    "fp8_block": "fp8",
    "fp8_block_trtllm_gen": "fp8_block",
    "fp8_static": "fp8",
    "mxfp8": "fp8_block",
    "w4a16_int": "w4a16",
    "w4a16_marlin": "w4a16",
    "w4a8_mxfp8": "w4a16",
    # 4-bit weights beside FP8 activations compute on the FP8 units (docs/engines.md,
    # Fallbacks): the FP8 GEMMs' curves, not the bf16 ones, which priced them faster than
    # W8A8.
    "w4a8": "fp8",
    "w4a8_int": "fp8",  # INT4 weights beside FP8 activations (TensorRT-LLM's W4A8 AWQ)
}


def fallback_dtype(dtype: str | None) -> str | None:
    """The type whose curves price a type without its own (DTYPE_FALLBACK; a wide-group
    attention type its narrow groups' type), else None."""
    if dtype is None:
        return None
    return DTYPE_FALLBACK.get(dtype) or (dtype.removesuffix(WIDE) if dtype.endswith(WIDE) else None)


def fallback_chain(dtype: str | None) -> tuple[str, ...]:
    """The types after `dtype` that price it in turn where it has no curves of its own, each
    `fallback_dtype` of the one before (mxfp8: fp8_block, then fp8)."""
    chain: list[str] = []
    other = fallback_dtype(dtype)
    while other is not None and other not in chain:
        chain.append(other)
        other = fallback_dtype(other)
    return tuple(chain)


# Attention kernels serving more query heads per key/value head than this (multi-query
# attention: Falcon-7B's 71, DeepSeek-V4's compressed attention's 64 or 128) have curves of
# their own, type "<cache type>_wide": per byte of cache they do the group's work over it,
# and the operator tables time them at a tenth or less of a narrow group's share of the
# bandwidth at the same bytes per sequence and head (TensorRT-LLM's B200 decode rows: 128
# heads over one KV head at 1,024 tokens 0.25 %, 8 over one at 1,152 about 3 %). Pooled into
# one grid they set knots of their own between the narrow groups' and priced a GQA model's
# decode up to 2.7 times slower at 1,152 tokens than at 2,048. A profile without them prices
# them as the narrow groups' type.
WIDE_GROUP = 16
WIDE = "_wide"
# A MoE type whose memory-bound expert GEMMs take another type's layer fractions at a layer it
# has none of its own at, its compute-bound ones its own curves: MXFP4 experts on Marlin, whose
# curves the operator tables fit on another layer only (rooflens.calibration.aiconfigurator,
# MARLIN_MXFP4), take the engine's own MXFP4 kernel's, which streams the same 4-bit weights
# and which vLLM measured slower than Marlin on gpt-oss-120b's decode (vllm-project/vllm#27523).
MEMORY_LAYERS_OF = {"w4a16_marlin": "w4a16"}
# The types a class's own curves price: the operator tables' 16-bit rows, and the 16- and 32-bit
# arithmetic of element-wise kernels.
OWN_DTYPES = frozenset({"bf16", "fp16", "fp32"})
# A memory-bound GEMM reads its weights' grid (`memory_grid`) when they are at least this
# share of its bytes, else the activations' (`activation_grid`): which of the two dominates.
WEIGHT_DOMINATED = 0.5
CollectiveKind = Literal["all_reduce", "custom_all_reduce", "all_gather", "all_to_all"]


class _Derived(tuple):
    """Arrays a model derives from its fields and caches on itself (a cached_property, in its
    __dict__): equal to any other such cache, so models compare by their fields. pydantic
    compares __dict__ first, and arrays have no truth value: two equal curves that had both
    been read raised instead of comparing equal."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Derived)

    def __ne__(self, other: object) -> bool:
        return not isinstance(other, _Derived)

    __hash__ = tuple.__hash__


# A curve's numbers: finite (a NaN compares false with its neighbours, so no ordering check
# would catch it) and numbers, not strings a lenient reading would convert.
Finite = Annotated[FiniteFloat, Strict()]


class EfficiencyCurve(BaseModel):
    """Achieved fraction of a peak against an operator's size (OPs or bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log10_sizes: tuple[Finite, ...] = Field(min_length=1)
    fractions: tuple[Finite, ...] = Field(min_length=1)
    # Between points: True, a power law (log10 of the fraction linear in log10 of the size),
    # so that a time that does not fall from one point to the next does not fall between them
    # (fits that hold a rising time write it: rooflens.calibration.fit.monotone_time); False,
    # the fraction linear in log10 of the size.
    power_law: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> EfficiencyCurve:
        if len(self.log10_sizes) != len(self.fractions):
            raise ValueError("log10_sizes and fractions must have the same length")
        if any(b <= a for a, b in zip(self.log10_sizes, self.log10_sizes[1:], strict=False)):
            raise ValueError("log10_sizes must increase")
        if any(not 0 < f <= 1.5 for f in self.fractions):
            raise ValueError("fractions must lie in (0, 1.5]")
        return self

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The curve's points as arrays, built once (np.interp would convert them per call)."""
        return _Derived((np.asarray(self.log10_sizes), _stored(self.fractions, self.power_law)))

    def __call__(self, size: np.ndarray) -> np.ndarray:
        between = np.interp(np.log10(np.maximum(size, 1.0)), *self._arrays)
        return _read_back(between, self.power_law)


def _stored(fractions: ArrayLike, power_law: bool) -> np.ndarray:
    """What a curve or grid interpolates: the fractions, or their logs where it is a power
    law."""
    return np.log(fractions) if power_law else np.asarray(fractions, dtype=np.float64)


def _read_back(between: np.ndarray, power_law: bool) -> np.ndarray:
    """The fraction an interpolation of `_stored` values gives."""
    return np.exp(between) if power_law else between


class ShapeGrid(BaseModel):
    """A GEMM class's achieved fraction against size (OPs or bytes) and shape: bilinear in log10
    of both (or its log, `power_law`), flat beyond the edges. The shape of a GEMM is k / n
    (inputs over outputs): at one size a GEMM with few outputs and many inputs runs slower than
    one with many outputs and few inputs. Of expert GEMMs (`moe`) it is the tokens routed to
    each expert: at one size a layer of many lightly loaded experts runs slower than one of few
    full ones. Of attention and latent attention it is the bytes per sequence and head
    (`sequence_heads`): at one size a step of many short sequences runs slower than one of few
    long ones. A curve of size alone averages these away."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log10_sizes: tuple[Finite, ...] = Field(min_length=1)
    log10_ratios: tuple[Finite, ...] = Field(min_length=1)
    # One row per size, one column per ratio.
    fractions: tuple[tuple[Finite, ...], ...] = Field(min_length=1)
    # As EfficiencyCurve's: True, the fraction's log is bilinear (a power law along each axis).
    power_law: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> ShapeGrid:
        if len(self.fractions) != len(self.log10_sizes) or any(
            len(row) != len(self.log10_ratios) for row in self.fractions
        ):
            raise ValueError("fractions must have one row per size and one column per ratio")
        for axis in (self.log10_sizes, self.log10_ratios):
            if any(b <= a for a, b in pairwise(axis)):
                raise ValueError("log10_sizes and log10_ratios must increase")
        if any(not 0 < f <= 1.5 for row in self.fractions for f in row):
            raise ValueError("fractions must lie in (0, 1.5]")
        return self

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Both axes and the grid as arrays, built once; an axis of one point is repeated one
        decade on, so the interpolation always has a cell (of equal corners) to read."""
        grid = np.asarray(self.fractions, dtype=np.float64)
        grid = _stored(grid, self.power_law)
        grid = np.pad(grid, [(0, int(n == 1)) for n in grid.shape], mode="edge")
        axes = tuple(
            np.asarray(axis if len(axis) > 1 else (axis[0], axis[0] + 1.0), dtype=np.float64)
            for axis in (self.log10_sizes, self.log10_ratios)
        )
        return _Derived((axes[0], axes[1], grid))

    def __call__(self, size: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        sizes, ratios, grid = self._arrays
        i, a = _cell(sizes, np.log10(np.maximum(size, 1.0)))
        j, b = _cell(ratios, np.log10(ratio))
        # The cell's four corners through one flat index (cheaper than four 2-D gathers).
        flat, columns = grid.ravel(), grid.shape[1]
        corner = i * columns + j
        rest_a, rest_b = 1 - a, 1 - b
        between = (
            rest_a * rest_b * flat[corner]
            + a * rest_b * flat[corner + columns]
            + rest_a * b * flat[corner + 1]
            + a * b * flat[corner + columns + 1]
        )
        return _read_back(between, self.power_law)


def _cell(points: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower grid index of each x and its weight toward the next (held at the edges)."""
    # minimum/maximum: np.clip's own overhead dominates at these sizes.
    x = np.minimum(np.maximum(x, points[0]), points[-1])
    # x at or above points[0] sorts after it, so the index is at least 0.
    lower = np.minimum(np.searchsorted(points, x, side="right") - 1, len(points) - 2)
    return lower, (x - points[lower]) / (points[lower + 1] - points[lower])


class ClassEfficiency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    compute: EfficiencyCurve
    memory: EfficiencyCurve
    # Engine profiles' GEMM and attention classes: each regime's fraction against size and
    # shape (k / n; of expert GEMMs tokens per expert; of attention bytes per sequence and
    # head), read in place of the size curve (ShapeGrid); None: the size curves alone.
    compute_grid: ShapeGrid | None = None
    memory_grid: ShapeGrid | None = None
    # A memory-bound GEMM whose activations and outputs outweigh its weights (a tall, narrow
    # one: a prefill's K/V projection at few heads per device) reads this grid, fitted on such
    # kernels alone; one whose weights weigh most (every decode GEMM) reads `memory_grid`.
    # At one size and k / n the two run far apart, and one grid of both would price either
    # at the other's rate where only the other was measured. None: `memory_grid` for both.
    activation_grid: ShapeGrid | None = None
    # Time per kernel of this class on top of the profile's kernel_time (an FP8 GEMM's also
    # holds the pass quantizing its input where the profile does not price it apart; engine
    # profiles fit one per class and data type).
    fixed: NonNegativeFloat = 0.0
    # The data type whose peak the compute fractions are shares of, wherever these curves
    # price (engine profiles' attention and scans: BF16's, whatever the cache type, as they
    # were fitted); None: the compute type of the operator priced.
    peak: str | None = None
    # Engine profiles' recurrent scans: the width of the state their tables carried (FP32 in
    # SGLang's and vLLM's, BF16 in TensorRT-LLM's). Their grids read OPs per byte, and a scan
    # whose state is of another width reads them as if its state were this wide: its decode
    # steps then meet the tables' steps, not (a narrower state's OPs per byte being higher)
    # the chunked prefills'. None: as the scan's own.
    state_bits: PositiveInt | None = None


class CollectiveCurve(BaseModel):
    """Measured time of one collective over `ranks` devices against its message size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ranks: int = Field(ge=2)
    log10_bytes: tuple[Finite, ...] = Field(min_length=1)
    log10_seconds: tuple[Finite, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> CollectiveCurve:
        if len(self.log10_bytes) != len(self.log10_seconds):
            raise ValueError("log10_bytes and log10_seconds must have the same length")
        if any(b <= a for a, b in zip(self.log10_bytes, self.log10_bytes[1:], strict=False)):
            raise ValueError("log10_bytes must increase")
        return self

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The curve's points as arrays, built once (np.interp would convert them per call)."""
        return _Derived((np.asarray(self.log10_bytes), np.asarray(self.log10_seconds)))

    def __call__(self, message_bytes: np.ndarray) -> np.ndarray:
        # Piecewise linear in log-log between measured sizes; below the smallest the time stays
        # that of the smallest (latency-bound); above the largest it grows in proportion to the
        # bytes (bandwidth-bound at the largest measured rate).
        logs = np.log10(np.maximum(message_bytes, 1.0))
        top = self.log10_bytes[-1]
        inside = np.interp(np.minimum(logs, top), *self._arrays)
        return 10.0 ** (inside + np.maximum(logs - top, 0.0))


class LayerCurve(BaseModel):
    """Achieved fraction of the roofline bound of one MoE layer shape the operator tables time,
    against the tokens routed to each expert (log10, piecewise linear, flat beyond the loads
    measured). Expert GEMM kernels are tuned per layer shape (SGLang's and vLLM's Triton
    configs per expert count and width), so layers of one size and load run far apart: a
    layer measured is priced by its own fractions, others by the class's `moe` grids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log10_loads: tuple[Finite, ...] = Field(min_length=1)
    fractions: tuple[Finite, ...] = Field(min_length=1)
    # As EfficiencyCurve's.
    power_law: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> LayerCurve:
        if len(self.log10_loads) != len(self.fractions):
            raise ValueError("log10_loads and fractions must have the same length")
        if any(b <= a for a, b in pairwise(self.log10_loads)):
            raise ValueError("log10_loads must increase")
        if any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError("fractions must lie in (0, 1]")
        return self

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return _Derived((np.asarray(self.log10_loads), _stored(self.fractions, self.power_law)))

    def __call__(self, load: np.ndarray) -> np.ndarray:
        # A kernel of no tokens takes the fraction of the lightest load measured.
        between = np.interp(np.log10(np.maximum(load, 1e-12)), *self._arrays)
        return _read_back(between, self.power_law)


def sequence_heads(heads: ArrayLike, kv_heads: ArrayLike, prefill: bool) -> ArrayLike:
    """The heads one sequence's attention divides into as attention kernels give their thread
    blocks work: query heads in a step that prefills (FlashAttention-2 and -3 launch blocks
    per query head), KV heads in a decode step (FlashDecoding-type kernels pack the query
    heads of a KV head into one block; latent attention's one latent head). The attention
    classes' shape grids read bytes per (sequence x such head): at one size many short pieces
    of work run slower than few long ones."""
    return heads if prefill else kv_heads


_LAYER_SHAPE = re.compile(r"^(\d+x\d+):e(\d+):k([0-9.e+-]+)$")


def layer_shape(layer: str) -> tuple[str, int, float] | None:
    """A MoE layer key's parts (`expert_layer`): its widths ("2048x512"), the experts a device
    holds and the experts each token reaches among them; None if `layer` is not such a key
    or holds no expert or routes none."""
    shape = _LAYER_SHAPE.match(layer)
    if shape is None or not (int(shape[2]) > 0 and float(shape[3]) > 0):
        return None
    return shape[1], int(shape[2]), float(shape[3])


def nearest_layer(layers: Mapping[str, object], kind: str, layer: str) -> str | None:
    """The key of the layer of type `kind` the tables time nearest to the untimed `layer`
    ("2048x512:e256:k10"): the same two widths, the nearest expert count, then the nearest
    experts per token (both by ratio); None where no layer of those widths is timed.
    Checked on the operator tables, hiding each timed layer's own curve: the nearest layer's
    misses its time by a median 6-8 % (p90 26-38 %), the class's grid over all shapes by
    6-29 % (p90 42-80 %; scripts/moe_layer_fallbacks.py, docs/engines.md)."""
    shape = layer_shape(layer)
    if shape is None:
        return None
    widths, experts, top_k = shape
    prefix = f"{kind}/{widths}:"
    best: tuple[float, float, str] | None = None
    for key in layers:
        other = layer_shape(key[len(kind) + 1 :]) if key.startswith(prefix) else None
        if other is None:
            continue
        rank = (abs(np.log(other[1] / experts)), abs(np.log(other[2] / top_k)), key)
        best = rank if best is None or rank < best else best
    return None if best is None else best[2]


def expert_layer(in_features: int, out_features: int, experts: int, top_k: float) -> str:
    """The key of a MoE layer's shape on one device: its GEMMs' two widths (the model's and
    each expert's own share, larger first: gate/up and down share it), the experts it holds
    and the experts each token reaches among them, e.g. "7168x256:e32:k1"."""
    wide, narrow = max(in_features, out_features), min(in_features, out_features)
    return f"{wide}x{narrow}:e{experts}:k{top_k:g}"


class CollectiveTable(BaseModel):
    """One collective kind, a curve per measured group size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    curves: tuple[CollectiveCurve, ...] = Field(min_length=1)

    @cached_property
    def ranks(self) -> tuple[int, ...]:
        return tuple(c.ranks for c in self.curves)

    def __call__(self, ranks: int, message_bytes: np.ndarray) -> np.ndarray:
        """Time over `ranks` devices: the measured group, else the smallest larger one (a
        group is never faster than a smaller one), else the largest measured."""
        larger = [c for c in self.curves if c.ranks >= ranks]
        pick = (
            min(larger, key=lambda c: c.ranks)
            if larger
            else max(self.curves, key=lambda c: c.ranks)
        )
        return pick(message_bytes)


class EfficiencyProfile(BaseModel):
    """A device's measured efficiency, as `rooflens calibrate` fits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    kernel_time: NonNegativeFloat = 0.0
    # Curves per class; "moe" (expert GEMMs as the framework groups them), "mla", "gdn" and
    # "kda" are optional, priced as their parent class where absent (PARENT_CLASS).
    classes: dict[EngineClass, ClassEfficiency]
    # Time per layer of a step the listed kernels do not account for (seconds): a constant,
    # one per token, and one per token and hidden channel (element-wise work that compiling
    # fuses around the kernels reads and writes about tokens x hidden values).
    graph_overhead_per_layer: NonNegativeFloat = 0.0
    graph_overhead_per_layer_token: NonNegativeFloat = 0.0
    graph_overhead_per_layer_element: NonNegativeFloat = 0.0
    eager_host_per_layer: NonNegativeFloat = 0.0
    memory_overhead: NonNegativeFloat = 0.0
    # Share of the device's memory the framework or engine takes for weights, activations and
    # KV cache (vLLM's gpu_memory_utilization, SGLang's mem_fraction_static, TensorRT-LLM's
    # free_gpu_memory_fraction); 1 for a framework that takes what it needs.
    memory_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    # Of what: the whole device (vLLM), the weights and KV cache alone, activations living in
    # the rest (SGLang's mem_fraction_static), or what is free once weights, activations and
    # the framework are in place (TensorRT-LLM's KV-cache fraction).
    memory_fraction_of: Literal["device", "static", "free"] = "device"
    # The link between devices as measured collectives fit it (`rooflens calibrate
    # --collectives`): per-direction bandwidth and time per ring step, used for parallelism
    # within a node where the user gives no link figures; provenance["link"] says how.
    link_bandwidth: PositiveFloat | None = None
    link_latency: NonNegativeFloat | None = None
    # The framework whose extra kernels (unfused norms, rotary, casts, cache writes, MoE
    # routing) the analysis adds as operators of their own; None: none are added.
    framework: Literal["transformers"] | None = None
    # Per kind of framework kernel: memory curve against bytes per kernel, `fixed` per kernel
    # on top of kernel_time; a kind not listed is priced with the vector class.
    kernel_kinds: dict[str, ClassEfficiency] = Field(default_factory=dict)
    # Eager execution: host time per kernel launched, on top of eager_host_per_layer.
    eager_host_per_kernel: NonNegativeFloat = 0.0
    # Eager execution: host time per layer whose MLP is a mixture of experts, on top of
    # eager_host_per_layer (its routing and grouped expert GEMMs launch more kernels, and
    # costlier ones, than a dense MLP).
    eager_host_per_moe_layer: NonNegativeFloat = 0.0
    # Host and scheduler time per engine iteration (seconds): every step lasts at least this
    # long, as an overlap schedule prepares the next while one runs. None: not measured (the
    # operator databases time kernels, not steps), and steps take their GPU time.
    host_per_iteration: NonNegativeFloat | None = None
    # Time each request spends on the engine's serving path outside its iterations (API
    # server, tokenizer, hand-off to the scheduler, detokenizing and streaming), seconds: the
    # serving simulator delays each request's arrival at the engine by it. None: not measured
    # (the operator databases time kernels, not requests).
    host_per_request: float | None = Field(default=None, ge=0.0, le=3600.0, allow_inf_nan=False)
    # Measured collectives per kind (see EngineProfile), in place of the link model.
    collectives: dict[CollectiveKind, CollectiveTable] = Field(default_factory=dict)
    provenance: dict[str, str] = Field(default_factory=dict)
    # The device an analysis applies the profile to where that is not the one it was measured
    # on (a profile file given for another device, or a what-if of its own): set when an
    # analysis resolves it, never stored, and named in the label so no header hides it.
    applied_to: str | None = Field(default=None, exclude=True)

    @property
    def times_launches(self) -> bool:
        """Whether it holds a host time per kernel or layer launched: without one, an eager
        run is priced as from CUDA graphs (its tables time kernels, not launches)."""
        return bool(
            self.eager_host_per_kernel or self.eager_host_per_layer or self.eager_host_per_moe_layer
        )

    @property
    def request_time(self) -> float:
        """Seconds each request spends on the serving path outside the iterations (0 where
        none is measured)."""
        return float(self.host_per_request or 0.0)

    @property
    def measured_on(self) -> str:
        """The device the profile was measured on, and the one it is applied to if another."""
        if self.applied_to is None or self.applied_to == self.device:
            return self.device
        return f"measured on {self.device}, applied to {self.applied_to}"

    @property
    def label(self) -> str:
        """How an analysis header names the profile: the engine it describes, where its
        provenance names one (the compiled engine's, or the transformers release measured),
        and the device."""
        engine = self.provenance.get("engine")
        if (
            engine is None
            and self.framework == "transformers"
            and "transformers" in (self.provenance)
        ):
            engine = f"transformers {self.provenance['transformers']}"
        return f"{engine} profile, {self.measured_on}" if engine else self.measured_on

    def curves(self, op_class: str, dtype: str | None = None) -> ClassEfficiency:
        """The curves of a class (MoE and latent attention: their parent class's); transformers
        profiles have one set per class whatever the data type; framework kernels
        ("kernel:<kind>") their kind's, else the vector class's."""
        if op_class.startswith(KERNEL_PREFIX):
            kind = self.kernel_kinds.get(op_class.removeprefix(KERNEL_PREFIX))
            return kind if kind is not None else self.classes["vector"]
        if op_class in SUBCLASS_OF and op_class not in self.classes:
            return self.curves(SUBCLASS_OF[op_class], dtype)
        if self._without_phase(op_class, dtype):
            return self.curves(PHASE_OF[op_class], dtype)
        if op_class not in self.classes:
            op_class = PARENT_CLASS.get(op_class, op_class)
        return self.classes[op_class]  # type: ignore[index]

    def curves_name(self, op_class: str, dtype: str | None = None) -> str:
        """The name of the curves `curves` returns (how an analysis says what priced an
        operator): the class, its parent's, or the framework kernel kind's."""
        if op_class.startswith(KERNEL_PREFIX):
            return (
                op_class if op_class.removeprefix(KERNEL_PREFIX) in self.kernel_kinds else "vector"
            )
        if op_class in SUBCLASS_OF and op_class not in self.classes:
            return self.curves_name(SUBCLASS_OF[op_class], dtype)
        if self._without_phase(op_class, dtype):
            return self.curves_name(PHASE_OF[op_class], dtype)
        return op_class if op_class in self.classes else PARENT_CLASS.get(op_class, op_class)

    def _without_phase(self, op_class: str, dtype: str | None) -> bool:
        """A prefill class (PHASE_OF) this profile has no curves of at all: priced as its
        class is, for the same type."""
        return op_class in PHASE_OF and op_class not in self.classes

    def fallback(self, op_class: str, dtype: str | None = None) -> tuple[str, str] | None:
        """(what has no curves of its own, what prices it instead), else None: a device
        profile has one set of curves per class whatever the data type, by design."""
        return None

    def fixed_time(self, op_class: str, dtype: str | None = None) -> float:
        """Fixed time of one kernel of this class and data type."""
        return self.kernel_time + self.curves(op_class, dtype).fixed

    # True: an operator takes its roofline regime's calibrated time only, the other bound held
    # at the roofline (EngineProfile); False: the longer of both calibrated times.
    in_regime: ClassVar[bool] = False

    def rates(
        self,
        op_class: str,
        ops: np.ndarray,
        memory: np.ndarray,
        peak: float | np.ndarray,
        bandwidth: float,
        dtype: str | None = None,
        *,
        compute_bound: np.ndarray,
        aspect: np.ndarray | None = None,
        weight_share: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Achieved (OP/s, bytes/s) of an operator of this class, data type and size. A fitted
        fraction above 1 (a kernel that moved fewer bytes than the analysis counts, say from
        cache) is held at 1: an estimate is never faster than its operator's roofline bound.
        `compute_bound`: each operator's roofline regime, from its whole traffic (`memory` is
        bytes per kernel, which a row of several kernels divides). `aspect`: each operator's
        shape (`pricing.shape_ratios`: a GEMM's k / n, an expert GEMM's tokens per expert,
        attention's bytes per sequence and head; NaN where none), which the class's shape grids
        read where it has them. `weight_share`: the share of each operator's bytes that are its
        weights, which picks a GEMM's memory grid (`activation_grid`)."""
        curves = self.curves(op_class, dtype)
        expert = op_class == "moe"
        compute = by_shape(curves.compute, curves.compute_grid, ops, aspect, expert)
        memory_fraction = memory_by_shape(curves, memory, aspect, weight_share, expert)
        compute, memory_fraction = np.minimum(compute, 1.0), np.minimum(memory_fraction, 1.0)
        if self.in_regime:
            compute = np.where(compute_bound, compute, 1.0)
            memory_fraction = np.where(compute_bound, 1.0, memory_fraction)
        return peak * compute, bandwidth * memory_fraction

    def layer_curve(self, dtype: str, layer: str) -> LayerCurve | None:
        """The fractions of an expert GEMM of this MoE layer shape (`expert_layer`) and type,
        or None: priced by the class's curves (a device profile times no layers)."""
        return None

    def layer_key(self, dtype: str, layer: str) -> str | None:
        """The name of the fractions `layer_curve` returns, or None."""
        return None

    def memory_layer(self, dtype: str, layer: str) -> tuple[str, LayerCurve] | None:
        """The name and fractions of another type's MoE layer that price this layer's
        memory-bound expert GEMMs of this type (MEMORY_LAYERS_OF), or None."""
        return None

    def collective_time(
        self, kind: str, ranks: int, message_bytes: np.ndarray
    ) -> np.ndarray | None:
        """Measured time of a collective over a group size measured, or None: priced on the
        link model (a table of 2 devices says nothing of a ring of 8)."""
        table = self.collectives.get(kind)  # type: ignore[call-overload]
        if table is None or ranks not in table.ranks:
            return None
        return table(ranks, message_bytes)


# The lighter steps an expert GEMM passes through on the way to a load: its tokens per expert
# and its size (OPs or bytes) both cut by these factors (half an octave apart, down to
# 1/1024). At most one token per expert, each token reaches experts of its own, so a step of
# a share of the tokens moves that share of the OPs and bytes (`_along_load`).
LIGHTER_STEPS = 2.0 ** (-np.arange(1, 21) / 2)


def by_shape(
    curve: EfficiencyCurve,
    grid: ShapeGrid | None,
    size: np.ndarray,
    aspect: np.ndarray | None,
    along_load: bool = False,
) -> np.ndarray:
    """A size curve's fraction, or its shape grid's for the operators of a finite shape ratio.
    `along_load` (expert GEMMs, whose ratio is their tokens per expert): the grid's fraction
    lowered where a lighter step of the same layer would take longer (`_along_load`), since a
    step with more tokens never finishes sooner. The grid's cells are medians over layers of
    many shapes, and read at one layer's successive loads they had priced a MoE decode step
    at 2 sequences 14 % faster than at 1."""
    if grid is None or aspect is None:
        return curve(size)
    aspect = np.broadcast_to(aspect, np.shape(size))
    shaped = np.isfinite(aspect) & (aspect > 0)
    if not shaped.any():
        return curve(size)
    if shaped.all():
        return _read(grid, size, aspect, along_load)
    return np.where(
        shaped, _read(grid, size, np.where(shaped, aspect, 1.0), along_load), curve(size)
    )


def _read(grid: ShapeGrid, size: np.ndarray, ratio: np.ndarray, along_load: bool) -> np.ndarray:
    if not along_load:
        return grid(size, ratio)
    return _along_load(grid, np.broadcast_to(size, np.shape(ratio)), ratio)


def _along_load(grid: ShapeGrid, size: np.ndarray, load: np.ndarray) -> np.ndarray:
    """The fraction that prices no step slower than a lighter one of the same layer, at loads
    of at most one token per expert: there each token reaches experts of its own, so a step
    of a share of the tokens moves that share of the OPs and bytes, and its time is that
    share of the size over its fraction. Above, the experts all take tokens and the bytes stay
    while the loads grow; read at the same bytes and a lighter load, the grid answers for
    layers of more, smaller experts, which run slower (held out, that envelope missed the
    tables' MoE rows by up to 6 points more, median)."""
    fraction = grid(size, load)
    light = load <= 1.0
    if not light.any():
        return fraction
    # Every lighter step of every light operator in one read of the grid (a step per row).
    shares = LIGHTER_STEPS[:, None]
    lighter = grid(size[light] * shares, load[light] * shares) / shares
    fraction = np.array(fraction)
    fraction[light] = np.minimum(fraction[light], lighter.min(axis=0))
    return fraction


def memory_by_shape(
    curves: ClassEfficiency,
    memory: np.ndarray,
    aspect: np.ndarray | None,
    weight_share: np.ndarray | None = None,
    along_load: bool = False,
) -> np.ndarray:
    """A class's memory fraction: `by_shape` on its memory grid, except for the GEMMs whose
    activations outweigh their weights (`weight_share` below WEIGHT_DOMINATED), which read
    its `activation_grid` where it has one. `along_load`: expert GEMMs' (`by_shape`)."""
    fraction = by_shape(curves.memory, curves.memory_grid, memory, aspect, along_load)
    if curves.activation_grid is None or weight_share is None or aspect is None:
        return fraction
    # Read only where activations dominate: in a decode step, almost nowhere.
    streamed = np.asarray(weight_share) < WEIGHT_DOMINATED
    if not streamed.any():
        return fraction
    fraction = np.array(np.broadcast_to(fraction, streamed.shape))
    fraction[streamed] = by_shape(
        curves.memory,
        curves.activation_grid,
        np.broadcast_to(memory, streamed.shape)[streamed],
        np.broadcast_to(aspect, streamed.shape)[streamed],
        along_load,
    )
    return fraction


def version_key(version: str) -> tuple[int, ...]:
    """A release number's order: its numbers (four places), then a pre-release (rc, a, b,
    pre) below the release itself and a development build below those (PEP 440: 0.5.10.dev7
    before 0.5.10rc0). A post-release ranks as its release: it fixes that release's code,
    and its kernels are the release's."""
    match = re.match(r"(\d+(?:\.\d+)*)(.*)", version)
    if match is None:
        return (-1,)
    numbers = [int(n) for n in match.group(1).split(".")][:4]
    numbers += [0] * (4 - len(numbers))
    pre = re.search(r"(rc|dev|alpha|beta|pre|a|b)\.?(\d*)", match.group(2))
    if pre is None:
        return (*numbers, 0, 0)
    return (*numbers, -2 if pre.group(1) == "dev" else -1, int(pre.group(2) or 0))


class EngineProfile(EfficiencyProfile):
    """A serving engine's efficiency on a device, fitted from operator-level measurements
    (`rooflens calibrate --from-aiconfigurator`): usable wherever an EfficiencyProfile is.

    Its curves price an operator in its roofline regime alone (`in_regime`), as the fit
    explained each measured kernel: a memory-bound kernel by its memory curve, whatever the
    compute curve (fitted on compute-bound kernels only) reads at its small OP count."""

    in_regime: ClassVar[bool] = True

    engine: str
    engine_version: str
    # The release an analysis asked for where the databases time none of its own and this
    # release's tables price it (rooflens.engines.nearest_version): set when loaded, never
    # stored, and said beside the fallbacks so no label hides it.
    asked_version: str | None = Field(default=None, exclude=True)
    classes: dict[EngineClass, ClassEfficiency]  # type: ignore[assignment]
    # "class:dtype" -> curves measured for that data type (KV-cache type for attention);
    # missing types fall back as `fallbacks` says.
    dtype_classes: dict[str, ClassEfficiency] = Field(default_factory=dict)
    fallbacks: dict[str, str] = Field(default_factory=dict)
    # "<type>/<layer shape>" (`expert_layer`) -> the fractions of a MoE layer the operator
    # tables time at that shape on one device; other layers take the `moe` curves.
    moe_layers: dict[str, LayerCurve] = Field(default_factory=dict)
    # More such layers, stored apart from the profile and read on first use
    # (`with_stored_layers`): most analyses price no MoE layer, and reading them takes tens
    # of milliseconds a profile.
    _stored_layers: Callable[[], dict[str, LayerCurve]] | None = PrivateAttr(default=None)
    # What `_stored_layers` gave, once asked (copies made after share it).
    _stored_read: dict[str, LayerCurve] | None = PrivateAttr(default=None)

    def with_stored_layers(self, read: Callable[[], dict[str, LayerCurve]]) -> EngineProfile:
        """This profile with MoE layers that `read` gives when first asked for."""
        profile = self.model_copy()
        profile._stored_layers = read
        profile._stored_read = None
        return profile

    @property
    def layers(self) -> dict[str, LayerCurve]:
        """Every MoE layer the profile prices by its own fractions (`moe_layers` and those
        stored apart). Derived on each call, not cached on the instance: a copy that changes
        `moe_layers` (model_copy carries cached values over) must not see the old set."""
        if self._stored_layers is None:
            return self.moe_layers
        if self._stored_read is None:
            self._stored_read = self._stored_layers()
        stored = self._stored_read
        return {**stored, **self.moe_layers} if self.moe_layers else stored

    @model_validator(mode="after")
    def _never_beyond_roofline(self) -> EngineProfile:
        # An engine's kernel cannot beat the roofline bound of the operator it runs.
        for name, cls in [*self.classes.items(), *self.dtype_classes.items()]:
            grids = [
                g for g in (cls.compute_grid, cls.memory_grid, cls.activation_grid) if g is not None
            ]
            fractions = [*cls.compute.fractions, *cls.memory.fractions]
            fractions += [f for grid in grids for row in grid.fractions for f in row]
            if max(fractions) > 1.0:
                raise ValueError(f"{name}: fractions must be at most 1 in an engine profile")
        return self

    @property
    def label(self) -> str:
        return f"{self.engine} {self.engine_version} profile, {self.measured_on}"

    def curves(self, op_class: str, dtype: str | None = None) -> ClassEfficiency:
        key = self._typed_key(op_class, dtype)
        return self.dtype_classes[key] if key else super().curves(op_class, dtype)

    def curves_name(self, op_class: str, dtype: str | None = None) -> str:
        return self._typed_key(op_class, dtype) or super().curves_name(op_class, dtype)

    def _without_phase(self, op_class: str, dtype: str | None) -> bool:
        # Typed prefill curves count too. A prefill class with bf16 curves prices the types
        # it lacks with them (a prefill kernel's own fractions, as `fallback` says), not with
        # the class's decode-fitted memory curve.
        return super()._without_phase(op_class, dtype) and not self._typed_key(op_class, dtype)

    def _typed_key(self, op_class: str, dtype: str | None) -> str | None:
        """The `dtype_classes` key pricing a class and type: its own, else the first of its
        fallback types' (DTYPE_FALLBACK, followed on: fallback_chain)."""
        if dtype is None:
            return None
        for kind in (dtype, *fallback_chain(dtype)):
            key = f"{op_class}:{kind}"
            if key in self.dtype_classes:
                return key
        return None

    def fallback(self, op_class: str, dtype: str | None = None) -> tuple[str, str] | None:
        """(what has no curves of its own, what prices it instead), else None: a class the
        operator tables lack, or a type of a class beyond its own (OWN_DTYPES), as the
        profile's `fallbacks` say where they do, else as `curves` reads it. A prefill class
        without curves of this type is its class's, with that class's fallback; a subclass
        without curves of its own (SUBCLASS_OF) is its base class's, or, where that has none,
        the profile's note on the subclass."""
        if op_class in SUBCLASS_OF and op_class not in self.classes:
            # The base class's own fallback first (it says what prices it), else the
            # profile's note on the subclass, else that the base class's curves price it.
            base = self.fallback(SUBCLASS_OF[op_class], dtype)
            if base is None and op_class in self.fallbacks:
                return op_class, self.fallbacks[op_class]
            if base is None:
                return op_class, f"not measured: priced as {SUBCLASS_OF[op_class]}"
            return base
        if self._without_phase(op_class, dtype):
            return self.fallback(PHASE_OF[op_class], dtype)
        if op_class in self.fallbacks:
            return op_class, self.fallbacks[op_class]
        typed = f"{op_class}:{dtype}"
        if typed in self.fallbacks:  # stand-in rows (another kernel's or engine's) say so too
            return typed, self.fallbacks[typed]
        if not dtype or dtype in OWN_DTYPES or typed in self.dtype_classes:
            return None
        # The first fallback type with curves prices it; one the profile notes (its rows not
        # used, as vLLM's fp8_block GEMMs) says what prices that type instead. Types passed
        # over are named.
        passed: list[str] = []
        for other in fallback_chain(dtype):
            nor = "".join(f", nor {kind}" for kind in passed)
            if f"{op_class}:{other}" in self.dtype_classes:
                return typed, f"not measured{nor}: the {other} curves"
            if f"{op_class}:{other}" in self.fallbacks:
                note = self.fallbacks[f"{op_class}:{other}"]
                return typed, f"not measured{nor}, nor {other}: {note}"
            passed.append(other)
        return typed, "not measured: the bf16 curves"

    def layer_curve(self, dtype: str, layer: str) -> LayerCurve | None:
        key = self.layer_key(dtype, layer)
        return None if key is None else self.layers[key]

    def layer_key(self, dtype: str, layer: str) -> str | None:
        """The `moe_layers` key pricing this layer and type ("fp8_block/7168x256:e32:k1"), or
        None. A type without MoE curves of its own takes the layers of the type `curves`
        prices it with (DTYPE_FALLBACK). A shape the tables do not time takes the nearest
        they time of that type and widths (`nearest_layer`), unless another type's layer of
        its own shape prices it memory-bound (`memory_layer`)."""
        key, kind = self._own_layer(dtype, layer)
        if key is not None or kind is None or self.memory_layer(dtype, layer) is not None:
            return key
        return nearest_layer(self.layers, kind, layer)

    def _own_layer(self, dtype: str, layer: str) -> tuple[str | None, str | None]:
        """The key of this very shape and the type whose layers price it (the type itself,
        then its fallback types up to the first with MoE curves of its own, the one `curves`
        prices it with); (None, None) where no type in the chain has curves of its own."""
        for kind in (dtype, *fallback_chain(dtype)):
            if f"{kind}/{layer}" in self.layers:
                return f"{kind}/{layer}", kind
            if kind in OWN_DTYPES or f"moe:{kind}" in self.dtype_classes:
                return None, kind
        return None, None

    def memory_layer(self, dtype: str, layer: str) -> tuple[str, LayerCurve] | None:
        other = MEMORY_LAYERS_OF.get(dtype)
        if other is None or f"moe:{dtype}" not in self.dtype_classes:
            return None
        key = f"{other}/{layer}"
        if self._own_layer(dtype, layer)[0] is not None or key not in self.layers:
            return None
        return key, self.layers[key]

    def collective_time(
        self, kind: str, ranks: int, message_bytes: np.ndarray
    ) -> np.ndarray | None:
        """The engine picks its custom all-reduce where it is faster and measured (it falls back
        to NCCL beyond the sizes it handles); other kinds run on NCCL."""
        nccl = self.collectives.get(kind)  # type: ignore[call-overload]
        times = None if nccl is None else nccl(ranks, message_bytes)
        custom = self.collectives.get("custom_all_reduce")
        if kind == "all_reduce" and custom is not None and ranks <= max(custom.ranks):
            own = custom(ranks, message_bytes)
            if times is None:
                return own
            # Beyond the largest message measured the engine hands over to NCCL.
            largest = max(c.log10_bytes[-1] for c in custom.curves)
            handled = np.log10(np.maximum(message_bytes, 1.0)) <= largest
            times = np.where(handled, np.minimum(times, own), times)
        return times
