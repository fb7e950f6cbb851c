"""Pricing of one forward step, operator by operator, over arrays of sizes.

Without a calibration profile every operator runs at the device's peak and bandwidth with no
fixed cost: the roofline bound. With one, each runs at its measured fractions of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from rooflens.core.cache import BoundedCache
from rooflens.core.compressed import CompressedAttention
from rooflens.core.efficiency import (
    PREFILL_CLASSES,
    SCAN_CLASSES,
    WEIGHT_DOMINATED,
    WIDE,
    WIDE_GROUP,
    ClassEfficiency,
    EfficiencyCurve,
    EfficiencyProfile,
    EngineProfile,
    LayerCurve,
    ShapeGrid,
    expert_layer,
    sequence_heads,
    version_key,
)
from rooflens.core.framework_kernels import kernels_per_call
from rooflens.core.graph import Graph
from rooflens.core.hardware import DTYPE_BITS, Device
from rooflens.core.mixers import StateScan
from rooflens.core.operators import (
    Collective,
    ExpertLinear,
    LatentAttention,
    Operator,
    Step,
)
from rooflens.core.options import AnalysisOptions, Quantization
from rooflens.core.plan import BYTE_FIELDS, StepFields, step_plan
from rooflens.core.techniques import early_exit, fusion
from rooflens.core.techniques import offload as offloading

Execution = Literal["graphs", "eager"]


@dataclass(frozen=True)
class StepCosts:
    """Per-operator costs of one step; every per-operator array has the operator axis first."""

    names: tuple[str, ...]
    scopes: tuple[str, ...]
    dtypes: tuple[str, ...]
    counts: np.ndarray
    peaks: np.ndarray
    bandwidth: float
    fields: Mapping[str, np.ndarray]
    # Achieved rates, broadcasting against the fields (one per operator when uncalibrated).
    compute_rates: np.ndarray
    memory_rates: np.ndarray
    fixed: np.ndarray
    num_layers: int
    vector_rate: float = np.inf
    host_bytes: np.ndarray | float = 0.0
    host_rate: float = np.inf
    overhead_per_layer: float = 0.0
    overhead_per_layer_token: float = 0.0
    overhead_per_layer_element: float = 0.0
    hidden_size: int = 0
    tokens: np.ndarray | float = 0.0
    # The sequences each step's tokens belong to (which attention's shape grids read).
    sequences: np.ndarray | float = 1.0
    host_per_layer: float = 0.0
    execution: Execution = "graphs"
    # Eager execution: host time per kernel launched, and the kernels each operator launches.
    host_per_kernel: float = 0.0
    kernels: np.ndarray | float = 1.0
    # Eager execution: host time per layer with a mixture-of-experts MLP, on top of the above.
    host_per_moe_layer: float = 0.0
    # An engine's host and scheduler time per iteration (EngineProfile.host_per_iteration).
    host_per_iteration: float = 0.0
    # The largest step, in tokens, an engine replays from a CUDA graph where it captures only
    # some of its steps (AnalysisOptions.prefill_graph_tokens); a larger one runs eagerly.
    graph_tokens: float = np.inf
    # What priced these costs, kept to say on demand (`beyond_fit`) which operators a profile
    # curve prices outside the sizes it was fitted over; the simulator never asks.
    placement: Placement | None = None
    profile: EfficiencyProfile | None = None
    # Pipeline parallelism: a step is (micro-batches + stages - 1) slots of one stage's work,
    # each followed by sending the activations to the next stage.
    pipeline_slots: int = 1
    p2p_time: np.ndarray | float = 0.0
    # The pass that quantizes each FP8 GEMM's input before it, where a profile prices it
    # apart (`activation_quantization`); 0 elsewhere.
    quantize_time: np.ndarray | float = 0.0

    @property
    def ops(self) -> np.ndarray:
        return self.fields["ops"]

    @cached_property
    def beyond_fit(self) -> tuple[str, ...]:
        """Operators priced beyond the sizes their profile's curve was fitted over (its end
        value is used there): "name: which curve, size, fitted range"; none uncalibrated."""
        if self.profile is None or self.placement is None:
            return ()
        return beyond_fit(
            self.placement,
            self.profile,
            self.fields,
            self.compute_rates,
            self.memory_rates,
            self.sequences,
        )

    @cached_property
    def fallbacks(self) -> tuple[str, ...]:
        """Operators an engine profile prices with another type's or class's curves, as its
        `fallbacks` say: "names (class:type): what prices them"; none uncalibrated."""
        if self.profile is None or self.placement is None:
            return ()
        return fallback_notes(self.placement, self.profile)

    @cached_property
    def on_link_model(self) -> bool:
        """Whether a collective of this step is priced by the link model (pricing's
        on_link_model; always, uncalibrated, where there is one), or its pipeline stages
        send their activations over the link."""
        if np.any(np.asarray(self.p2p_time) > 0):
            return True
        return self.placement is not None and on_link_model(self.placement, self.profile)

    @cached_property
    def stand_ins(self) -> tuple[str, ...]:
        """The curves an engine profile lacks for these operators (stand_in_curves); none
        uncalibrated."""
        if self.profile is None or self.placement is None:
            return ()
        return stand_in_curves(self.placement, self.profile)

    @cached_property
    def priced_by(self) -> tuple[str, ...]:
        """What prices each operator (`priced_by`): "roofline" when uncalibrated."""
        if self.placement is None:
            return ("roofline",) * len(self.names)
        return priced_by(self.placement, self.profile)

    @cached_property
    def efficiency(self) -> np.ndarray:
        """Each operator's roofline time over its estimated time: 1 on the roofline, the
        share of the bound an engine achieves under a profile. NaN for an operator taking no
        time, and for a collective priced by a measured table (its link model's time is
        replaced, not kept)."""
        compute = self.ops / _expand(self.peaks, self.ops)
        if not _known_zero(self.fields, "vector_ops"):
            compute = compute + self.fields["vector_ops"] / self.vector_rate
        transfer = self.memory_access / self.bandwidth
        if np.ndim(self.host_bytes) or self.host_bytes:
            transfer = np.maximum(transfer, self.offload_time)
        roofline = np.maximum(compute, transfer) + self.link_time
        time = self.time
        share = np.divide(roofline, time, out=np.full(np.shape(time), np.nan), where=time > 0)
        if self.profile is not None and self.placement is not None:
            share[_measured_collective_rows(self.placement, self.profile)] = np.nan
        return share

    @property
    def memory_access(self) -> np.ndarray:
        return memory_access(self.fields)

    @cached_property
    def compute_time(self) -> np.ndarray:
        """Tensor work at its achieved rate plus vector work (dequantization) at the vector peak."""
        tensor = self.ops / self.compute_rates
        if _known_zero(self.fields, "vector_ops"):
            return tensor  # a sweep skips adding a table of zeros
        return tensor + self.fields["vector_ops"] / self.vector_rate

    @cached_property
    def memory_time(self) -> np.ndarray:
        return self.memory_access / self.memory_rates

    @property
    def link_time(self) -> np.ndarray:
        return self.fields["link_time"]

    @property
    def offload_time(self) -> np.ndarray:
        """Offloaded weights and KV cache streaming in over the host link."""
        return self.host_bytes / self.host_rate

    @cached_property
    def transfer_time(self) -> np.ndarray:
        if np.ndim(self.host_bytes) == 0 and self.host_bytes == 0:
            return self.memory_time  # nothing offloaded
        return np.maximum(self.memory_time, self.offload_time)

    @cached_property
    def time(self) -> np.ndarray:
        """fixed + max(OPs / compute rate, bytes / memory rate, host bytes / host link) + time on
        the device link: the roofline when uncalibrated (collectives run on the link alone)."""
        time = np.maximum(self.compute_time, self.transfer_time)
        if np.any(self.fixed):
            time = _expand(self.fixed, self.ops) + time
        if not _known_zero(self.fields, "link_time"):
            time = time + self.link_time
        if np.ndim(self.quantize_time) or self.quantize_time:
            time = time + self.quantize_time
        return time

    @property
    def bound(self) -> np.ndarray:
        """What limits each operator: compute, memory, or the link between devices."""
        device = np.where(self.compute_bound, "compute", "memory")
        device = np.where(
            self.offload_time > np.maximum(self.compute_time, self.memory_time), "host link", device
        )
        link = self.link_time > np.maximum(self.compute_time, self.transfer_time)
        return np.where(link, "link", device)

    @property
    def compute_bound(self) -> np.ndarray:
        return self.compute_time > self.memory_time

    @property
    def arithmetic_intensity(self) -> np.ndarray:
        mem = self.memory_access
        return np.divide(self.ops, mem, out=np.zeros_like(mem), where=mem > 0)

    @property
    def performance(self) -> np.ndarray:
        """Attainable OP/s: min(peak, intensity x bandwidth) on the roofline."""
        t = self.time
        return np.divide(self.ops, t, out=np.zeros_like(t), where=t > 0)

    def total(self, values: np.ndarray) -> np.ndarray:
        """Network total: block operators count once per layer."""
        return np.tensordot(self.counts, values, axes=(0, 0))

    def field_total(self, name: str) -> np.ndarray:
        """Network total of a cost field (or "memory_access"): from the plan's coefficients
        when the field's table was never needed (a sweep's byte fields)."""
        if isinstance(self.fields, StepFields):
            return self.fields.total(name, self.counts)
        return self.total(self.memory_access if name == "memory_access" else self.fields[name])

    @property
    def _launch_time(self) -> float:
        """The host's time to launch a step's kernels one by one (run eagerly): the profile's
        time per layer, more per mixture-of-experts layer, and per kernel launched."""
        launched = float(np.dot(self.counts, np.broadcast_to(self.kernels, self.counts.shape)))
        per_layer = self.host_per_layer * self.num_layers + self.host_per_kernel * launched
        if not self.host_per_moe_layer:
            return per_layer
        return per_layer + self.host_per_moe_layer * self.moe_layers

    @property
    def moe_layers(self) -> float:
        """Layers whose MLP is a mixture of experts: the runs per step of its expert GEMMs."""
        placement = self.placement
        if placement is None:
            return 0.0
        rows = [i for i, c in enumerate(placement.engine_classes) if c == "moe"]
        return float(np.max(self.counts[rows])) if rows else 0.0

    @property
    def host_time(self) -> float:
        """The host's time per step, which the GPU's cannot undercut: an engine's time per
        iteration (its overlap schedule prepares the next iteration while one runs), or,
        run eagerly, the time to launch every kernel, whichever is longer."""
        if self.execution != "eager":
            return self.host_per_iteration
        return max(self._launch_time, self.host_per_iteration)

    @property
    def host_floor(self) -> np.ndarray | float:
        """Each step's host time: host_time, and for a step of more tokens than the engine's
        CUDA graphs hold (graph_tokens), which runs eagerly, its launch time where longer."""
        if self.execution == "eager" or np.isinf(self.graph_tokens):
            return self.host_time
        eager = max(self._launch_time, self.host_per_iteration)
        return np.where(np.asarray(self.tokens) > self.graph_tokens, eager, self.host_time)

    def step_time(self) -> np.ndarray:
        """The whole step: kernels plus per-layer framework overhead; run eagerly, the GPU
        cannot finish before the host has launched everything."""
        stage = np.maximum(self.total(self.time) + self.overhead, self.host_floor)
        return self.pipeline_slots * (stage + self.p2p_time)

    @property
    def overhead(self) -> np.ndarray | float:
        """Framework kernels the analysis does not list, per step."""
        per_element = self.overhead_per_layer_element * self.hidden_size
        per_token = self.overhead_per_layer_token + per_element
        return (self.overhead_per_layer + per_token * self.tokens) * self.num_layers


def _known_zero(fields: Mapping[str, np.ndarray], name: str) -> bool:
    """Whether a field is zero for every operator whatever the step (known from its plan)."""
    return isinstance(fields, StepFields) and fields.known_zero(name)


def _expand(per_op: np.ndarray, like: np.ndarray) -> np.ndarray:
    return per_op.reshape(per_op.shape + (1,) * (like.ndim - 1))


@dataclass(frozen=True)
class Placement:
    """What pricing needs of a graph on a device that does not depend on sizes: each
    operator's compute dtype, peak and efficiency class. Built once, reused for every step."""

    names: tuple[str, ...]
    scopes: tuple[str, ...]
    dtypes: tuple[str, ...]
    peaks: np.ndarray
    classes: tuple[str, ...]
    fused: np.ndarray
    num_layers: int
    hidden_size: int = 0
    # What engine profiles price apart: MoE expert GEMMs ("moe") and latent attention ("mla")
    # have classes of their own, attention's curves follow the KV-cache type, and collectives
    # are looked up by kind and group size.
    engine_classes: tuple[str, ...] = ()
    curve_dtypes: tuple[str, ...] = ()
    collectives: tuple[tuple[str, int] | None, ...] = ()
    # Kernels one call of each operator launches (framework kernels count several; fused: 0).
    kernels: np.ndarray | None = None
    # The operator whose kernel each one runs in (fusion.kernel_leaders); None: every one its
    # own.
    leaders: np.ndarray | None = None
    # Each GEMM's kernel's inputs per output (k / n, its fused parts' outputs summed); NaN for
    # other operators and for expert GEMMs, whose shape is the step's (`expert_work`). Engine
    # profiles' shape grids read it.
    aspects: np.ndarray | None = None
    # Expert GEMMs: OPs of one token through every expert this device holds
    # (ExpertLinear.ops_per_routed_token x experts); a step's OPs over it are the tokens
    # routed to each expert, the shape the `moe` grids read. NaN for other operators.
    expert_work: np.ndarray | None = None
    # Operators whose shape grids read their OPs per byte (the recurrent scans: the chunked
    # prefill and the recurrent decode step are one operator); None: none.
    by_intensity: np.ndarray | None = None
    # The recurrent scans' state widths (their own, else the KV cache's bits); NaN for other
    # operators, None without scans.
    state_bits: np.ndarray | None = None
    # Attention operators: the heads each sequence's attention divides into in a decode step
    # and in one that prefills (`sequence_heads`); their shape grids read bytes per sequence
    # and head. NaN for other operators; None: no attention.
    sequence_heads: np.ndarray | None = None
    prefill_heads: np.ndarray | None = None
    # Expert GEMMs: their MoE layer's shape on this device (`expert_layer`), which an engine
    # profile may have fractions of its own for (`moe_layers`); None for other operators.
    expert_layers: tuple[str | None, ...] = ()
    # Kernel settings asked for that no operator here runs (`idle_kernels`): "setting=value:
    # what it applies to".
    idle_kernel_settings: tuple[str, ...] = ()
    # Attention's reach, to tell its layer variants apart (Gemma 3's window and global
    # layers): the most keys a query attends to (a sliding window, DSA's top-k) or a KV-cache
    # budget keeps, and chunked attention's chunk; None where the whole context, or none.
    spans: tuple[int | None, ...] = ()
    chunks: tuple[int | None, ...] = ()
    # The MLP width of each operator of a model with MLPs of several widths (Nemotron-NAS).
    mlp_widths: tuple[int | None, ...] = ()
    # A KV cache narrower than any type of the device, priced with a wider cache's curves
    # (`widened_caches`): one line saying so, which the profile's fallbacks list, and the
    # stand-in it names (`stand_in_curves`).
    widened: tuple[str, ...] = ()
    widened_stand_in: tuple[str, ...] = ()

    @cached_property
    def layer_groups(self) -> tuple[tuple[tuple[str, str], np.ndarray], ...]:
        """The expert GEMMs of each (data type, MoE layer shape): its key and their rows."""
        keys = [
            None if layer is None else (dtype, layer)
            for dtype, layer in zip(
                self.curve_dtypes or self.dtypes, self.expert_layers, strict=False
            )
        ]
        return _rows_by_key(keys)

    @cached_property
    def foreign_scans(self) -> np.ndarray:
        """The recurrent scans no class of their own prices (Mamba's, Mamba2's, lightning
        attention's; Gated DeltaNet and KDA have theirs): the attention curves price them."""
        if self.state_bits is None:
            return np.zeros(len(self.names), dtype=bool)
        own = np.array([c in SCAN_CLASSES.values() for c in self.engine_classes or self.classes])
        return ~np.isnan(self.state_bits) & ~own

    @cached_property
    def prefill(self) -> Placement:
        """The same operators in a step that prefills: attention and latent attention read
        their prefill classes' curves (PREFILL_CLASSES), which a profile without them prices
        as the classes' own."""
        if not any(c in PREFILL_CLASSES for c in self.engine_classes):
            return self
        return replace(
            self,
            engine_classes=tuple(PREFILL_CLASSES.get(c, c) for c in self.engine_classes),
            sequence_heads=self.prefill_heads,
        )

    @cached_property
    def collective_groups(self) -> tuple[tuple[tuple[str, int], np.ndarray], ...]:
        """The collectives of each kind and group size: its key and their rows."""
        return _rows_by_key(self.collectives)

    @cached_property
    def curve_groups(self) -> tuple[tuple[tuple[str, str], np.ndarray], ...]:
        """The operators each (class, data type) of curves prices: its key and their rows."""
        return _rows_by_key(_curve_keys(self))

    @classmethod
    def of(cls, graph: Graph, device: Device, quant: Quantization) -> Placement:
        ops = graph.operators
        leaders = fusion.kernel_leaders(ops)
        dtypes = tuple(
            _dtype(device, op.compute_bits(quant), op.float_compute(quant), op.float_only(quant))
            for op in ops
        )
        curve_dtypes = tuple(
            _curve_dtype(op, d, device, quant) for op, d in zip(ops, dtypes, strict=True)
        )
        peaks = [
            device.sparse_peak_ops.get(d, device.peak_ops[d])
            if op.sparse_tensor(quant)
            else device.peak_ops[d]
            for d, op in zip(dtypes, ops, strict=True)
        ]
        widened = widened_caches(ops, curve_dtypes, quant)
        return cls(
            names=tuple(op.name for op in ops),
            scopes=tuple(op.scope for op in ops),
            dtypes=dtypes,
            peaks=np.array(peaks, dtype=np.float64),
            classes=tuple(op.efficiency_class for op in ops),
            fused=np.array([op.fused for op in ops]),
            num_layers=graph.num_layers,
            hidden_size=graph.hidden_size,
            engine_classes=tuple(_engine_class(op) for op in ops),
            curve_dtypes=curve_dtypes,
            collectives=tuple(
                (op.kind, op.ranks) if isinstance(op, Collective) else None for op in ops
            ),
            kernels=np.array([kernels_per_call(op) for op in ops], dtype=np.float64),
            leaders=leaders,
            aspects=_aspects(ops, leaders),
            expert_work=_expert_work(ops, leaders),
            by_intensity=_by_intensity(ops),
            state_bits=_state_bits(ops, quant),
            sequence_heads=_attention_heads(ops, prefill=False),
            prefill_heads=_attention_heads(ops, prefill=True),
            expert_layers=tuple(
                expert_layer(op.in_features, op.out_features, op.num_experts, op.top_k)
                if isinstance(op, ExpertLinear)
                else None
                for op in ops
            ),
            idle_kernel_settings=idle_kernels(quant, curve_dtypes),
            widened=widened,
            widened_stand_in=(f"attention:{quant.kv_bits}-bit KV cache",) * bool(widened),
            spans=tuple(
                min(
                    filter(None, (getattr(op, "span", None), getattr(op, "kept", None))),
                    default=None,
                )
                for op in ops
            ),
            chunks=tuple(getattr(op, "chunk", None) for op in ops),
            mlp_widths=tuple(op.mlp_width for op in ops),
        )


# The kernel settings that choose which curves price an operator (_curve_dtype): the curve
# type each one's operators take, and what a model needs for it to apply.
KERNEL_CHOICES = {
    ("w4_kernel", "marlin"): ("_marlin", "weights in 4-bit floats (MXFP4) with 16-bit activations"),
    ("w4_kernel", "mxfp8"): ("w4a8_mxfp8", "expert weights in 4-bit floats (MXFP4)"),
    ("fp8_moe_kernel", "trtllm_gen"): (
        "fp8_block_trtllm_gen",
        "expert weights in FP8 with block scales (DeepSeek-V3's)",
    ),
}


def widened_caches(
    ops: Sequence[Operator], curve_dtypes: Sequence[str], quant: Quantization
) -> tuple[str, ...]:
    """Attention over a KV cache narrower than the type its curves are read at (a 4-bit cache
    on a device with no 4-bit type takes the FP8 cache's): one line naming them."""
    names, wider = [], ""
    for op, dtype in zip(ops, curve_dtypes, strict=True):
        cache = dtype.removesuffix(WIDE)
        reads_kv = op.efficiency_class == "attention" and not isinstance(op, StateScan)
        # (a curve type is a tensor type, as wide as the cache it reads)
        if reads_kv and DTYPE_BITS.get(cache, 0) > quant.kv_bits:
            names.append(op.name)
            wider = cache
    if not names:
        return ()
    bits = quant.kv_bits
    return (
        f"{', '.join(dict.fromkeys(names))} ({bits}-bit KV cache): the device has no {bits}-bit "
        f"type: the {wider} cache's curves price it, at its {bits}-bit bytes",
    )


def idle_kernels(quant: Quantization, curve_dtypes: Sequence[str]) -> tuple[str, ...]:
    """The kernel settings `quant` asks for that no operator's curve type takes (a model
    without the weights they apply to): "setting=value: what it applies to"."""
    return tuple(
        f"{name}={value}: nothing here runs it (it applies to {what}); priced as without it"
        for (name, value), (suffix, what) in KERNEL_CHOICES.items()
        if getattr(quant, name) == value and not any(d.endswith(suffix) for d in curve_dtypes)
    )


def _rows_by_key(keys: Sequence[Any]) -> tuple[tuple[Any, np.ndarray], ...]:
    """Each distinct key (in first-seen order, None left out) and the rows that hold it."""
    return tuple(
        (key, np.flatnonzero([k == key for k in keys]))
        for key in dict.fromkeys(keys)
        if key is not None
    )


def _aspects(ops: tuple[Operator, ...], leaders: np.ndarray | None) -> np.ndarray:
    """k / n of each GEMM's kernel: its inputs over the outputs of every part fused into it
    (NaN for expert GEMMs: `_expert_work`)."""
    inputs = np.array(
        [np.nan if isinstance(op, ExpertLinear) else getattr(op, "in_features", 0) or np.nan
         for op in ops],
        dtype=np.float64,
    )  # fmt: skip
    outputs = np.array([getattr(op, "out_features", 0) for op in ops], dtype=np.float64)
    joint = fusion.kernel_totals(leaders, outputs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(joint > 0, inputs / joint, np.nan)


def _expert_work(ops: tuple[Operator, ...], leaders: np.ndarray | None) -> np.ndarray | None:
    """OPs of one token through every expert of each expert GEMM's kernel (its fused parts
    summed); NaN for other operators. None without expert GEMMs."""
    if not any(isinstance(op, ExpertLinear) for op in ops):
        return None
    work = np.array(
        [op.ops_per_routed_token * op.num_experts if isinstance(op, ExpertLinear) else 0.0
         for op in ops],
        dtype=np.float64,
    )  # fmt: skip
    joint = fusion.kernel_totals(leaders, work)
    return np.where(joint > 0, joint, np.nan)


def _by_intensity(ops: tuple[Operator, ...]) -> np.ndarray | None:
    scans = np.array([_engine_class(op) in SCAN_CLASSES.values() for op in ops])
    return scans if scans.any() else None


def _state_bits(ops: tuple[Operator, ...], quant: Quantization) -> np.ndarray | None:
    """Each recurrent scan's state width in bits (its own, else the KV cache's, as its cost
    counts), NaN for other operators; None without scans."""
    if not any(isinstance(op, StateScan) for op in ops):
        return None
    return np.array(
        [float(op.state_bits or quant.kv_bits) if isinstance(op, StateScan) else np.nan
         for op in ops],
        dtype=np.float64,
    )  # fmt: skip


def _state_widths(placement: Placement, profile: EfficiencyProfile | None) -> np.ndarray:
    """Per operator, the factor that turns a scan's OPs per byte into what its class's grids
    read: its state's width over the width the curves' tables carried
    (ClassEfficiency.state_bits), 1 where either is not known."""
    widths = np.ones(len(placement.names))
    if placement.state_bits is None or profile is None:
        return widths
    for row in np.flatnonzero(np.isfinite(placement.state_bits)):
        key = (placement.engine_classes[row], placement.curve_dtypes[row])
        fitted = profile.curves(*key).state_bits
        if fitted:
            widths[row] = placement.state_bits[row] / fitted
    return widths


def _attention_heads(ops: tuple[Operator, ...], prefill: bool) -> np.ndarray | None:
    """`sequence_heads` of each attention operator, NaN for other operators (recurrent scans
    read their OPs per byte); None without any. Operators without KV heads of their own
    (latent and compressed attention, indexers) read one shared head."""
    heads = [
        sequence_heads(
            getattr(op, "num_heads", 0) or 1, getattr(op, "num_kv_heads", 0) or 1, prefill
        )
        if _engine_class(op) in PREFILL_CLASSES and not isinstance(op, StateScan)
        else np.nan
        for op in ops
    ]
    return None if np.isnan(heads).all() else np.array(heads, dtype=np.float64)


def shape_ratios(
    placement: Placement,
    ops: np.ndarray,
    memory: np.ndarray,
    sequences: np.ndarray | float,
    profile: EfficiencyProfile | None = None,
) -> np.ndarray | None:
    """What the shape grids read for each operator of a step: a GEMM's k / n; an expert
    GEMM's tokens routed to each expert (its kernel's OPs over `expert_work`); a recurrent
    scan its OPs per byte; attention its bytes per sequence (of the step's `sequences`) and
    head (`sequence_heads`); NaN for others. `ops`, `memory`: each kernel's, operator axis first."""
    if placement.aspects is None:
        return None
    ratio = _expand(placement.aspects, ops)
    with np.errstate(divide="ignore", invalid="ignore"):
        if placement.expert_work is not None:
            work = _expand(placement.expert_work, ops)
            ratio = np.where(np.isfinite(work), ops / work, ratio)
        if placement.by_intensity is not None:
            # As if its state were as wide as the tables' (`profile`'s), whose steps a
            # narrower state's would otherwise pass, toward their chunked prefills.
            scan = _expand(placement.by_intensity, ops)
            width = _expand(_state_widths(placement, profile), ops)
            ratio = np.where(scan, ops / np.maximum(memory, 1.0) * width, ratio)
        if placement.sequence_heads is not None:
            heads = _expand(placement.sequence_heads, ops)
            per_head = memory / (np.maximum(sequences, 1.0) * heads)
            ratio = np.where(np.isfinite(heads), per_head, ratio)
    return ratio


def _engine_class(op: Operator) -> str:
    if isinstance(op, ExpertLinear):
        return "moe"
    if isinstance(op, LatentAttention):
        return "dsa" if op.sparse else "mla"
    if isinstance(op, CompressedAttention):
        return "compressed"
    if isinstance(op, StateScan) and op.kind in SCAN_CLASSES:
        return SCAN_CLASSES[op.kind]
    return op.efficiency_class


def _curve_dtype(op: Operator, dtype: str, device: Device, quant: Quantization) -> str:
    """Which data type's curves price an operator: attention by the KV-cache type it reads, a
    recurrent scan by its state's type,
    weight-only quantized GEMMs by their kernel (w4a16: dequantize in the main loop; w4a16_int
    for integer weights, w4a16_marlin for float ones run by Marlin, w4a8_mxfp8 for float
    experts run by TensorRT-LLM-gen with MXFP8 activations), FP8
    with scales per block (a group_size, or a w_scale block as DeepSeek-V3's 128 x 128) by
    the block-scaled kernels (a profile without them falls back to the fp8 curves; experts on
    TensorRT-LLM-gen's, `fp8_moe_kernel`, by that kernel's where timed), per-tensor
    FP8 with static activation scales by kernels without the scale pass (fp8_static), others
    by compute type; MXFP8 weights computed in FP8 by the MXFP8 kernels (mxfp8)."""
    if isinstance(op, StateScan):  # by the state it carries, which the KV type sets only
        bits = op.state_bits or quant.kv_bits  # where the model states none (its cost reads so)
        return device.matrix_dtype(bits, True) if bits < 16 else "bf16"
    if op.efficiency_class == "attention":
        cache = device.matrix_dtype(quant.kv_bits, True) if quant.kv_bits < 16 else "bf16"
        return cache + WIDE if query_group(op) > WIDE_GROUP else cache
    own = getattr(op, "weight_quant", None)
    if own is not None and own.a_bits != quant.a_bits:
        # Stored apart with activations of its own (MIXED_PRECISION's FP8 attention beside
        # W4A16 MLPs, NVIDIA's NVFP4 experts in an FP8 DeepSeek-V4): its own kernel's curves.
        # Narrower weights alone (DeepSeek's FP4 experts with FP8 activations) keep the
        # checkpoint's.
        quant = own
    if getattr(op, "quantized", False) and quant.w_bits < quant.a_bits:
        stored = getattr(op, "weight_quant", None) or quant
        # Integer weights (GPTQ, AWQ, compressed-tensors WNA16) run Marlin-type kernels,
        # float ones (MXFP4) their own unless the engine is told Marlin (`w4_kernel`): each
        # its curves where measured (DTYPE_FALLBACK).
        if stored.w_format == "int":
            return f"w{stored.w_bits}a{quant.a_bits}_int"
        if quant.w4_kernel == "mxfp8" and quant.w_bits == 4 and isinstance(op, ExpertLinear):
            return "w4a8_mxfp8"  # activations quantized to MXFP8 inside the MoE kernel
        marlin = quant.w4_kernel == "marlin" and quant.w_bits == 4
        return f"w{quant.w_bits}a{quant.a_bits}" + ("_marlin" if marlin else "")
    stored = getattr(op, "weight_quant", None) or quant
    if dtype == "fp8" and getattr(op, "quantized", False) and stored.w_format == "mxfp8":
        # MXFP8 GEMMs (FP8 operands, an E8M0 scale per 32 of each): their own curves, which no
        # engine table times; DTYPE_FALLBACK prices them with the block-scaled FP8 ones.
        return "mxfp8"
    if dtype == "fp8" and getattr(op, "quantized", False) and quant.block_scaled:
        trtllm_gen = quant.fp8_moe_kernel == "trtllm_gen" and isinstance(op, ExpertLinear)
        return "fp8_block_trtllm_gen" if trtllm_gen else "fp8_block"
    if dtype == "fp8" and getattr(op, "quantized", False) and quant.a_scale == "static":
        return "fp8_static"
    return dtype


def query_group(op: Operator) -> int:
    """Query heads an attention kernel serves per key/value head it reads: a grouped-query
    attention's group, every head of a compressed attention (one shared KV head); 1 where
    the operator states no heads."""
    if isinstance(op, CompressedAttention):
        return max(op.num_heads, 1)
    heads, kv_heads = getattr(op, "num_heads", 0), getattr(op, "num_kv_heads", 0)
    return heads // kv_heads if heads and kv_heads else 1


def memory_access(fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """Bytes each operator moves: every byte field."""
    if isinstance(fields, StepFields):
        return fields.memory_access()
    return sum(fields[f] for f in BYTE_FIELDS)


def operator_fields(graph: Graph, quant: Quantization, step: Step) -> dict[str, np.ndarray]:
    """Every cost field of every operator for `step`, operator axis first."""
    return dict(step_plan(graph, quant).fields(step))


_PLACEMENTS = BoundedCache(64)
_COUNTS = BoundedCache(64)


def placement(graph: Graph, device: Device, quant: Quantization) -> Placement:
    """`Placement.of`, built once per graph, device and precision."""
    return _PLACEMENTS.get(
        (quant,), lambda: Placement.of(graph, device, quant), identities=(graph, device)
    )


def operator_counts(graph: Graph, exit_depth: float | None = None) -> np.ndarray:
    """Runs per step of each operator (`early_exit.counts`), built once per graph."""
    return _COUNTS.get((exit_depth,), lambda: early_exit.counts(graph, exit_depth), (graph,))


def price_step(
    graph: Graph,
    device: Device,
    quant: Quantization,
    step: Step,
    profile: EfficiencyProfile | None = None,
    execution: Execution = "graphs",
    pipeline: tuple[int, np.ndarray | float] = (1, 0.0),
    offload: tuple[bool, bool] = (False, False),
    exit_depth: float | None = None,
    disk_bandwidth: float | None = None,
    prefill: bool = False,
    graph_tokens: float = np.inf,
) -> StepCosts:
    """A step of `graph` priced; `prefill`: as a step that prefills (Placement.prefill);
    `graph_tokens`: the most tokens it runs from a CUDA graph with (StepCosts.graph_tokens)."""
    placed = placement(graph, device, quant)
    return price_fields(
        placed.prefill if prefill else placed,
        operator_counts(graph, exit_depth),
        device,
        step_plan(graph, quant).fields(step),
        step.tokens,
        step.batch,
        profile,
        execution,
        pipeline,
        offload,
        disk_bandwidth,
        graph_tokens,
    )


def price_fields(
    placement: Placement,
    counts: np.ndarray,
    device: Device,
    fields: Mapping[str, np.ndarray],
    tokens: np.ndarray,
    sequences: np.ndarray | float,
    profile: EfficiencyProfile | None = None,
    execution: Execution = "graphs",
    pipeline: tuple[int, np.ndarray | float] = (1, 0.0),
    offload: tuple[bool, bool] = (False, False),
    disk_bandwidth: float | None = None,
    graph_tokens: float = np.inf,
) -> StepCosts:
    """Turn operator fields (from any step, uniform or mixed) into priced step costs; `tokens`
    and `sequences`: each step's new tokens and the sequences they belong to; `graph_tokens`:
    the largest of them the engine runs from a CUDA graph (StepCosts.graph_tokens)."""
    peaks = placement.peaks
    if profile is None:
        # Uncalibrated rates are the peaks: one per operator, broadcast over the points.
        compute_rates = peaks.reshape((-1,) + (1,) * (np.ndim(fields["ops"]) - 1))
        memory_rates = np.float64(device.memory_bandwidth)
        fixed = np.zeros(len(peaks))
        quantize: np.ndarray | float = 0.0
    else:
        compute_rates, memory_rates = _calibrated_rates(
            placement, profile, fields, device, sequences
        )
        # A scan no table times runs on the attention curves, fractions of the tensor cores'
        # peak; its own work (Mamba's selective scan: fp32 on the CUDA cores) is bounded by
        # its own type's peak, which its roofline reads: priced faster than it otherwise.
        foreign = placement.foreign_scans
        if foreign.any():
            own_peak = peaks.reshape((-1,) + (1,) * (np.ndim(compute_rates) - 1))
            capped = np.minimum(compute_rates, own_peak)
            compute_rates = np.where(foreign.reshape(own_peak.shape), capped, compute_rates)
        fixed = fusion.launch_times(placement.fused, _fixed_times(placement, profile))
        if placement.kernels is not None:
            fixed = fixed * np.maximum(placement.kernels, 1.0)
        fields, measured = _measured_collectives(placement, profile, fields)
        # A measured collective's time is its kernel's whole time: no class's fixed cost on top.
        fixed = np.where(_rows_mask(measured, len(placement.names), np.ndim(fixed)), 0.0, fixed)
        quantize = activation_quantization(placement, profile, fields, device.memory_bandwidth)
    return StepCosts(
        names=placement.names,
        scopes=placement.scopes,
        dtypes=placement.dtypes,
        counts=counts,
        peaks=peaks,
        bandwidth=device.memory_bandwidth,
        fields=fields,
        compute_rates=compute_rates,
        memory_rates=memory_rates,
        fixed=fixed,
        num_layers=placement.num_layers,
        vector_rate=device.peak_ops[device.vector_dtype()],
        host_bytes=offloading.host_bytes(fields, offload),
        host_rate=offloading.host_rate(device, offload, disk_bandwidth),
        overhead_per_layer=profile.graph_overhead_per_layer if profile else 0.0,
        overhead_per_layer_token=profile.graph_overhead_per_layer_token if profile else 0.0,
        overhead_per_layer_element=profile.graph_overhead_per_layer_element if profile else 0.0,
        hidden_size=placement.hidden_size,
        tokens=tokens,
        sequences=sequences,
        pipeline_slots=pipeline[0],
        p2p_time=pipeline[1],
        host_per_layer=profile.eager_host_per_layer if profile else 0.0,
        execution=execution,
        host_per_kernel=profile.eager_host_per_kernel if profile else 0.0,
        host_per_moe_layer=profile.eager_host_per_moe_layer if profile else 0.0,
        host_per_iteration=(profile.host_per_iteration or 0.0) if profile else 0.0,
        graph_tokens=graph_tokens,
        kernels=1.0 if placement.kernels is None else placement.kernels,
        placement=placement,
        profile=profile,
        quantize_time=quantize,
    )


def beyond_fit(
    placement: Placement,
    profile: EfficiencyProfile,
    fields: Mapping[str, np.ndarray],
    compute_rates: np.ndarray,
    memory_rates: np.ndarray,
    sequences: np.ndarray | float,
) -> tuple[str, ...]:
    """The operators whose bounding curve (compute or memory, whichever takes longer) is read
    outside the sizes it was fitted over, or whose shape grid outside the shapes it was
    fitted over, at any point: a profile holds its end value there, an extrapolation the
    analysis states rather than hides. Collectives are priced by their own tables or the link
    model, not by a curve."""
    ops = _joint(placement, fields["ops"])
    memory = _joint(placement, memory_access(fields))
    per_kernel = 1.0 if placement.kernels is None else np.maximum(placement.kernels, 1.0)
    per_kernel = _expand(np.broadcast_to(per_kernel, (len(placement.names),)), memory)
    compute_time = ops / np.broadcast_to(compute_rates, ops.shape)
    memory_time = memory / np.broadcast_to(memory_rates, memory.shape)
    keys = _curve_keys(placement)
    notes = []
    leaders = np.arange(len(keys)) if placement.leaders is None else placement.leaders
    layered = {
        int(row): (profile.layer_key(dtype, layer), curve)
        for dtype, layer, rows, curve in _measured_layers(placement, profile)
        for row in rows
    }
    memory_layered = {
        int(row): layer for rows, layer in _memory_layers(placement, profile) for row in rows
    }
    ratios = shape_ratios(placement, ops, memory, sequences, profile)
    shares = _joint(placement, fields["load_weight"]) / np.maximum(memory, 1.0)
    for row, key in enumerate(keys):
        if placement.collectives and placement.collectives[row] is not None:
            continue
        if leaders[row] != row:
            continue  # its kernel's leader states it
        # A fused kernel is named by every operator it runs ("q_proj+k_proj+v_proj").
        name = "+".join(placement.names[i] for i in np.flatnonzero(leaders == row))
        if row in layered:  # priced by its MoE layer's own fractions, not the class's curves
            layer, curve = layered[row]
            load = np.asarray(ratios[row])[np.asarray(ops[row]) > 0]  # type: ignore[index]
            notes += _layer_note(name, layer, curve, load)
            continue
        curves = profile.curves(*key)
        compute_bound = compute_time[row] >= memory_time[row]
        what = f"{key[0]}:{key[1]}" if key[1] else key[0]
        for bound, size, curve, kind, unit in (
            (compute_bound, ops[row], curves.compute, "compute", "OPs"),
            (~compute_bound, memory[row] / per_kernel[row], curves.memory, "memory", "bytes"),
        ):
            priced = np.broadcast_to(np.asarray(bound) & (np.asarray(size) > 0), np.shape(size))
            if not priced.any():
                continue
            if kind == "memory" and row in memory_layered:
                layer, layer_curve = memory_layered[row]
                load = np.broadcast_to(ratios[row], np.shape(size))[priced]  # type: ignore[index]
                notes += _layer_note(name, layer, layer_curve, load)
                continue
            if kind == "compute" and _unmeasured_compute(profile, key[0], curve):
                notes.append(
                    f"{name}: compute-bound, where the {profile.curves_name(*key)} curves "
                    "pricing it hold no compute-bound kernel measured; priced at the peak (its "
                    "roofline bound)"
                )
            # A curve of one fraction for every size has no fitted range to leave.
            if len(curve.log10_sizes) > 1:
                beyond = _beyond(np.asarray(size)[priced], curve.log10_sizes, unit)
                if beyond:
                    notes.append(
                        f"{name}: {beyond} its {what} {kind} curve was fitted over; the "
                        f"curve's end value prices it"
                    )
            shape = np.broadcast_to(ratios[row], np.shape(size)) if ratios is not None else None
            if shape is None or not np.isfinite(shape[priced]).any():
                continue
            streamed = np.broadcast_to(shares[row] < WEIGHT_DOMINATED, np.shape(size))
            grids = (
                ((curves.compute_grid, priced),)
                if kind == "compute"
                else _memory_grids(curves, priced, streamed)
            )
            for grid, rows in grids:
                note = _grid_note(grid, shape[rows], _shape_unit(placement, row))
                if note:
                    notes.append(
                        f"{name}: {note} its {what} {kind} grid was fitted over; the grid's "
                        f"edge prices it"
                    )
    return tuple(dict.fromkeys(notes))


# Classes whose kernels are memory-bound by nature: their engine profiles' compute curves are
# the peak by design (element-wise work, the FP8 quantizing pass).
PEAK_BY_DESIGN = ("vector", "quantize")


def _unmeasured_compute(profile: EfficiencyProfile, op_class: str, curve: EfficiencyCurve) -> bool:
    """Whether an engine profile's compute curve for a tensor-core class holds no measured
    kernel: one fraction of 1 (its operator tables' rows of that class and type were all
    memory-bound as rooflens counts them), the peak standing in for a measurement."""
    if not isinstance(profile, EngineProfile) or op_class.split(":")[0] in PEAK_BY_DESIGN:
        return False
    return len(curve.log10_sizes) == 1 and curve.fractions[0] == 1.0


def _layer_note(name: str, layer: str, curve: LayerCurve, load: np.ndarray) -> list[str]:
    """The note on an operator priced by a MoE layer's fractions at loads (tokens per expert)
    outside those the layer was measured at, or none."""
    outside = _outside(load, curve.log10_loads[0], curve.log10_loads[-1])
    if not outside.size:
        return []
    lo, hi = 10 ** curve.log10_loads[0], 10 ** curve.log10_loads[-1]
    return [
        f"{name}: {outside[0]:.3g} tokens per expert lies outside the {lo:.3g}-{hi:.3g} "
        f"tokens per expert its layer {layer} was measured at; the nearest load's fraction "
        "prices it"
    ]


def _memory_grids(
    curves: ClassEfficiency, priced: np.ndarray, streamed: np.ndarray
) -> tuple[tuple[ShapeGrid | None, np.ndarray], ...]:
    """The memory grids that price a memory-bound operator's points (`memory_by_shape`)."""
    if curves.activation_grid is None:
        return ((curves.memory_grid, priced),)
    return (
        (curves.memory_grid, priced & ~streamed),
        (curves.activation_grid, priced & streamed),
    )


def _shape_unit(placement: Placement, row: int) -> str:
    """What an operator's shape ratio (`shape_ratios`) counts."""
    if placement.expert_work is not None and np.isfinite(placement.expert_work[row]):
        return "tokens per expert"
    if placement.by_intensity is not None and placement.by_intensity[row]:
        return "OPs per byte at the tables' state width"
    if placement.sequence_heads is not None and np.isfinite(placement.sequence_heads[row]):
        return "bytes per sequence and head"
    return "k / n"


def _grid_note(grid: ShapeGrid | None, shapes: np.ndarray, unit: str) -> str | None:
    """`_beyond` for the shapes a grid reads (its edge prices those beyond its own)."""
    shapes = shapes[np.isfinite(shapes) & (shapes > 0)]
    if grid is None or len(grid.log10_ratios) == 1:
        return None
    return _beyond(shapes, grid.log10_ratios, unit)


def _beyond(values: np.ndarray, log10_axis: Sequence[float], unit: str) -> str | None:
    """ "<value> <unit> lies outside the <lo>-<hi> <unit>": the value farthest beyond the
    fitted axis (above it where any is, else below), or None where all lie inside."""
    lo, hi = log10_axis[0], log10_axis[-1]
    outside = _outside(values, lo, hi)
    if not outside.size:
        return None
    found = outside.max() if outside.max() > 10**hi else outside.min()
    return f"{found:.3g} {unit} lies outside the {10**lo:.3g}-{10**hi:.3g} {unit}"


def _calibrated_rates(
    placement: Placement,
    profile: EfficiencyProfile,
    fields: Mapping[str, np.ndarray],
    device: Device,
    sequences: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Achieved rates of every operator, one vectorized pass per (class, data type); an
    operator run inside another's kernel (a fused QKV or gate/up GEMM) at the joint kernel's
    size and regime, and one whose curves are shares of another type's peak at that peak."""
    bandwidth = device.memory_bandwidth
    ops, memory = _joint(placement, fields["ops"]), _joint(placement, memory_access(fields))
    weights: np.ndarray | None = None  # the kernels' weight bytes, where a grid asks for them
    compute = np.empty_like(memory)
    mem = np.empty_like(memory)
    # A row of several kernels reads its memory curve at the bytes of one of them.
    if placement.kernels is not None:
        memory_per_kernel = memory / _expand(np.maximum(placement.kernels, 1.0), memory)
    else:
        memory_per_kernel = memory
    ratios = shape_ratios(placement, ops, memory, sequences, profile)
    if ratios is not None:
        ratios = np.broadcast_to(ratios, ops.shape)
    for (op_class, dtype), rows in placement.curve_groups:
        group_ops, group_memory = ops[rows], memory[rows]
        curves = profile.curves(op_class, dtype)
        peak = _expand(_curve_peaks(placement, rows, curves, device), group_ops)
        share = None
        if curves.activation_grid is not None:
            if weights is None:
                weights = _joint(placement, fields["load_weight"])
            share = weights[rows] / np.maximum(group_memory, 1.0)
        compute[rows], mem[rows] = profile.rates(
            op_class, group_ops, memory_per_kernel[rows], peak, bandwidth, dtype,
            compute_bound=group_ops / peak >= group_memory / bandwidth,
            aspect=None if ratios is None else ratios[rows], weight_share=share,
        )  # fmt: skip
    if ratios is not None:
        _layer_rates(placement, profile, ratios, compute, mem, device)
    return compute, mem


def _layer_rates(
    placement: Placement,
    profile: EfficiencyProfile,
    loads: np.ndarray,
    compute: np.ndarray,
    memory: np.ndarray,
    device: Device,
) -> None:
    """Expert GEMMs of a MoE layer shape the profile has fractions of (`moe_layers`) take
    them, at the tokens routed to each expert, in place of the class's grids (in place); those
    of a type priced memory-bound by another type's layer (`memory_layer`) take its fractions
    for their memory rate only."""
    for dtype, _, rows, curve in _measured_layers(placement, profile):
        fraction = curve(loads[rows])
        peaks = _curve_peaks(placement, rows, profile.curves("moe", dtype), device)
        peak = _expand(peaks, fraction)
        compute[rows] = peak * fraction
        memory[rows] = device.memory_bandwidth * fraction
    for rows, (_, curve) in _memory_layers(placement, profile):
        memory[rows] = device.memory_bandwidth * curve(loads[rows])


def _memory_layers(
    placement: Placement, profile: EfficiencyProfile
) -> list[tuple[np.ndarray, tuple[str, LayerCurve]]]:
    """The expert GEMMs whose memory rate another type's MoE layer prices
    (`EfficiencyProfile.memory_layer`): per layer, their rows and that layer's name and
    fractions."""
    found = []
    for (dtype, layer), rows in placement.layer_groups:
        other = profile.memory_layer(dtype, layer)
        if other is not None:
            found.append((rows, other))
    return found


def _measured_layers(
    placement: Placement, profile: EfficiencyProfile
) -> list[tuple[str, str, np.ndarray, LayerCurve]]:
    """The expert GEMMs the profile prices by their MoE layer's own fractions: per layer, its
    type, its shape (`expert_layer`), its rows and its curve."""
    found = []
    for (dtype, layer), rows in placement.layer_groups:
        curve = profile.layer_curve(dtype, layer)
        if curve is not None:
            found.append((dtype, layer, rows, curve))
    return found


def _curve_peaks(
    placement: Placement, rows: np.ndarray, curves: ClassEfficiency, device: Device
) -> np.ndarray:
    """The peaks a group's curves are shares of: the operators' own, or, for curves fitted
    against another type's peak (engine profiles' attention, against BF16's whatever the cache
    type), that type's, scaled as the operator's own (a sparse peak stays sparse), and never
    above the operator's own: an operator computing in a type slower than BF16 on this device
    (INT8 attention over a 4-bit cache on a B300) must not beat its own roofline bound."""
    own = placement.peaks[rows]
    reference = device.peak_ops.get(curves.peak) if curves.peak else None
    if reference is None:  # a device without that type: the operators' own peaks
        return own
    dense = np.array([device.peak_ops[placement.dtypes[row]] for row in rows])
    return np.minimum(own * (reference / dense), own)


def _joint(placement: Placement, values: np.ndarray) -> np.ndarray:
    """Each operator's value summed over the kernel it runs in (its own where it has one)."""
    return fusion.kernel_totals(placement.leaders, values)


def priced_by(placement: Placement, profile: EfficiencyProfile | None) -> tuple[str, ...]:
    """What prices each operator, whatever its size: "roofline" without a profile (a
    collective: "link model"); else the profile's curves by name ("matmul:fp8_block"; with
    " (fallback)" where the profile prices a type or class it lacks with another's, as its
    fallback lines say), a MoE layer's own fractions ("moe layer fp8_block/7168x256:e32:k1"),
    or a collective's measured table ("measured all_reduce, 8 devices"); an operator run in
    another's kernel (a fused QKV GEMM) adds that kernel's leader."""
    layered, memory_layered = {}, {}
    if profile is not None:
        layered = {
            int(row): f"moe layer {profile.layer_key(dtype, layer)}"
            for dtype, layer, rows, _ in _measured_layers(placement, profile)
            for row in rows
        }
        memory_layered = {
            int(row): key for rows, (key, _) in _memory_layers(placement, profile) for row in rows
        }
    leaders = np.arange(len(placement.names)) if placement.leaders is None else placement.leaders
    measured = set() if profile is None else set(_measured_collective_rows(placement, profile))
    foreign = placement.foreign_scans
    out = []
    for row, key in enumerate(_curve_keys(placement)):
        collective = placement.collectives[row] if placement.collectives else None
        if collective is not None:
            kind, ranks = collective
            out.append(f"measured {kind}, {ranks} devices" if row in measured else "link model")
            continue
        if profile is None:
            how = "roofline"
        else:
            how = layered.get(row) or profile.curves_name(*key)
            # A recurrent scan no table times is priced with the attention curves: a stand-in,
            # as its fallback line says (_fallbacks).
            if profile.fallback(*key) is not None or foreign[row]:
                how += " (fallback)"
            if row in memory_layered:
                how += f", memory-bound as moe layer {memory_layered[row]}"
        if leaders[row] != row:
            how += f", in {placement.names[leaders[row]]}'s kernel"
        out.append(how)
    return tuple(out)


def _measured_collective_rows(placement: Placement, profile: EfficiencyProfile) -> list[int]:
    """The collectives a profile times for their kind and group size (the others keep the
    link model)."""
    return [
        int(row)
        for (kind, ranks), rows in placement.collective_groups
        if profile.collective_time(kind, ranks, ONE_BYTE) is not None
        for row in rows
    ]


# A message size to ask a profile whether it times a collective at all.
ONE_BYTE = np.ones(1)


def _outside(values: np.ndarray, log10_lo: float, log10_hi: float) -> np.ndarray:
    """The values beyond a curve's range, compared as the curve reads them (log10) with room
    for the stored ends' rounding (RANGE_ROUNDING): a batch of one at the smallest load
    measured is inside the range."""
    logs = np.log10(values)
    return values[(logs < log10_lo - RANGE_ROUNDING) | (logs > log10_hi + RANGE_ROUNDING)]


# Decades a size may lie beyond a curve's end and still count as measured: the fit stores
# the MoE layers' log10 loads to 4 decimals (calibration.aiconfigurator), so a load exactly
# at a measured end comes back up to 5e-5 decades off.
RANGE_ROUNDING = 1e-4


def fallback_notes(placement: Placement, profile: EfficiencyProfile) -> tuple[str, ...]:
    """One line per curve an engine profile lacks and prices otherwise (its `fallbacks`),
    naming the operators it prices, and one per kernel setting no operator here runs
    (`idle_kernels`); collectives, priced by their own tables, are left out."""
    return (
        tuple(
            f"{', '.join(dict.fromkeys(names))} ({what}): {how}"
            for (what, how), names in _fallbacks(placement, profile).items()
        )
        + _nearest_layer_lines(placement, profile)
        + placement.widened
        + placement.idle_kernel_settings
    )


def _nearest_layer_lines(placement: Placement, profile: EfficiencyProfile) -> tuple[str, ...]:
    """One line per MoE layer shape the operator tables do not time, priced by the nearest
    they time (`EngineProfile.layer_key`, `nearest_layer`), naming its operators."""
    lines = []
    for (dtype, layer), rows in placement.layer_groups:
        key = profile.layer_key(dtype, layer)
        if key is None or key.split("/", 1)[1] == layer:
            continue
        names = ", ".join(dict.fromkeys(placement.names[int(row)] for row in rows))
        lines.append(
            f"{names} (MoE layer {dtype}/{layer}): not a shape the operator tables time; the "
            f"nearest they time, {key}, prices it"
        )
    return tuple(lines)


def on_link_model(placement: Placement, profile: EfficiencyProfile | None) -> bool:
    """Whether a collective here is priced by the link model: none of the profile's tables
    times its kind and group size (or there is no profile)."""
    measured = set() if profile is None else set(_measured_collective_rows(placement, profile))
    return any(
        kind is not None and row not in measured for row, kind in enumerate(placement.collectives)
    )


def prefill_graph_limit(options: AnalysisOptions) -> float:
    """The most tokens a prefill iteration may hold and still run from a CUDA graph
    (AnalysisOptions.prefill_graph_tokens; infinite where every iteration does, or where all
    run eagerly, which host_time prices already)."""
    if options.prefill_graph_tokens is None or options.execution == "eager":
        return np.inf
    return float(options.prefill_graph_tokens)


def _prefill_graph_lines(options: AnalysisOptions, profile: EfficiencyProfile) -> list[str]:
    """A cap on prefill graphs the profile cannot price, in one line."""
    limit = prefill_graph_limit(options)
    if np.isinf(limit) or profile.times_launches:
        return []
    return [
        f"prefill_graph_tokens={limit:.0f}: the profile has no host time per kernel launched "
        "(its tables time kernels, not launches); priced as from CUDA graphs"
    ]


def prefill_graph_lines(options: AnalysisOptions, largest_prefill: float) -> list[str]:
    """Where the estimate prices a prefill iteration (of `largest_prefill` tokens at most)
    without CUDA graphs, one line saying at what host time."""
    profile = options.calibration
    limit = prefill_graph_limit(options)
    if profile is None or not profile.times_launches or not largest_prefill > limit:
        return []
    why = f" ({options.prefill_graph_note})" if limit == 0 and options.prefill_graph_note else ""
    which = (
        "every prefill iteration runs"
        if limit == 0
        else (f"prefill iterations of more than {limit:,.0f} tokens run")
    )
    return [
        f"{which} without CUDA graphs{why}: each lasts at least the host's time to launch its "
        f"kernels ({_launch_words(profile)})"
    ]


def _launch_words(profile: EfficiencyProfile) -> str:
    """The profile's host times to launch a step's kernels, in words, and where they were
    measured where an engine's were."""
    per_layer, per_moe, per_kernel = (
        profile.eager_host_per_layer,
        profile.eager_host_per_moe_layer,
        profile.eager_host_per_kernel,
    )
    launch = [
        text
        for text, value in (
            (f"{per_layer * 1e3:.2f} ms per layer", per_layer),
            (f"{per_moe * 1e3:.2f} ms more per mixture-of-experts layer", per_moe),
            (f"{per_kernel * 1e6:.1f} µs per kernel", per_kernel),
        )
        if value
    ]
    # An engine's launch times were measured on one host, whatever device it prices.
    where = (
        ", measured with the engine on an H100: docs/engines-measured.md"
        if _engine_measured_launch(profile)
        else ""
    )
    return f"the profile's {' and '.join(launch)}{where}"


def _engine_measured_launch(profile: EfficiencyProfile) -> bool:
    """Whether the profile's launch times were measured with a serving engine (on its
    prefills past the CUDA graphs), not with a framework's eager kernels."""
    return "eager_host_per_layer" in profile.provenance


def idle_settings(options: AnalysisOptions, on_link: bool) -> tuple[str, ...]:
    """Settings a calibrated estimate cannot price here, or prices with curves measured on
    other kernels, one line each: a link bandwidth or latency where nothing runs on the link
    model (`on_link` False: a profile's tables time every collective, or there is none), eager
    execution where the profile has no host time per kernel launched (the engines' tables time
    kernels, not launches), and pruned weights' sparse GEMMs (no profile measured one). None
    for the roofline bound, which prices them all but a link setting where nothing crosses a
    link (one device)."""
    profile = options.calibration
    par = options.parallelism
    why = (
        "no collective or pipeline hand-over runs: one device"
        if profile is None
        else "the profile's measured tables time every collective, if any"
    )
    lines = [] if on_link else [
        f"{name}={value:g}: nothing here runs on the link model ({why}); priced as without it"
        for name, value in (("link_bandwidth", par.link_bandwidth),
                            ("link_latency", par.link_latency))
        if value is not None
    ]  # fmt: skip
    if profile is None:
        return tuple(lines)
    if options.execution == "eager" and not profile.times_launches:
        lines.append(
            "execution=eager: the profile has no host time per kernel launched (its tables "
            "time kernels, not launches); priced as from CUDA graphs"
        )
    elif options.execution == "eager" and _engine_measured_launch(profile):
        # Measured on prefills past the engine's graphs, applied to every step run eagerly.
        lines.append(
            "execution=eager: every step, decode too, lasts at least the host's time to "
            f"launch its kernels ({_launch_words(profile)}, on prefills past its CUDA graphs)"
        )
    lines += _prefill_graph_lines(options, profile)
    asked = getattr(profile, "asked_version", None)
    if asked is not None:
        used = getattr(profile, "engine_version", "")
        which = "nearest release after it" if version_key(used) > version_key(asked) else "newest"
        lines.append(
            f"engine_version={asked}: the operator databases time no kernels of that release "
            f"on {profile.device}; priced with {used}'s, the {which} they time"
        )
    # Pruned weights: no profile times a sparse GEMM (its curves are dense kernels').
    q = options.quantization
    if q.nm_sparsity is not None:
        n, m = q.nm_sparsity
        lines.append(
            f"nm_sparsity={n}:{m}: the profile measured no sparse GEMMs; the pruned GEMMs are "
            "priced at its dense curves' efficiency against the device's structured-sparsity "
            "peak"
        )
    elif q.sparsity and q.sparse_kernel:
        lines.append(
            f"sparsity={q.sparsity:g} with sparse_kernel: the profile measured no sparse GEMMs; "
            "the kept multiply-adds are priced at its dense curves' efficiency"
        )
    return tuple(lines)


def stand_in_curves(placement: Placement, profile: EfficiencyProfile) -> tuple[str, ...]:
    """The curves ("class:type") an engine profile lacks for these operators and prices with
    others' (fallback_notes says with which), a KV cache narrower than the device's types
    among them ("attention:4-bit KV cache", priced with a wider cache's curves)."""
    lacked = [what for what, _ in _fallbacks(placement, profile)]
    return tuple(dict.fromkeys((*lacked, *placement.widened_stand_in)))


def _fallbacks(
    placement: Placement, profile: EfficiencyProfile
) -> dict[tuple[str, str], list[str]]:
    """Each (curve lacked, what prices it) of a profile's fallbacks, with the operators it
    prices; collectives, priced by their own tables, are left out."""
    named: dict[tuple[str, str], list[str]] = {}
    foreign = placement.foreign_scans
    for row, key in enumerate(_curve_keys(placement)):
        if placement.collectives and placement.collectives[row] is not None:
            continue
        found = profile.fallback(*key)
        if found is None and foreign[row]:
            found = (f"scan:{key[1]}", f"no table times it; the {key[0]} curves price it")
        if found is not None:
            named.setdefault(found, []).append(placement.names[row])
    return named


def _curve_keys(placement: Placement) -> list[tuple[str, str]]:
    return list(
        zip(
            placement.engine_classes or placement.classes,
            placement.curve_dtypes or placement.dtypes,
            strict=True,
        )
    )


# Bytes the pass quantizing a GEMM's input to FP8 moves per input element: it reads the
# 16-bit activation and writes the 8-bit one (the quantize tables' rows, docs/engines.md).
QUANTIZE_BYTES = 3


def activation_quantization(
    placement: Placement,
    profile: EfficiencyProfile,
    fields: Mapping[str, np.ndarray],
    bandwidth: float,
) -> np.ndarray | float:
    """Time of the pass that quantizes each FP8 GEMM's 16-bit input, where an engine profile
    prices it apart from the GEMM (`quantize:<type>` curves: the databases time the engine's
    own pass, and its GEMM curves were fitted without it): fixed + bytes / (bandwidth x
    fraction), once per kernel (a fused GEMM's parts share one input); 0 elsewhere."""
    if not isinstance(profile, EngineProfile):
        return 0.0
    keys = _curve_keys(placement)
    curves = {
        dtype: profile.dtype_classes.get(f"quantize:{dtype}")
        for cls, dtype in set(keys)
        if cls == "matmul"
    }
    rows = [
        i
        for i, (cls, dtype) in enumerate(keys)
        if cls == "matmul" and curves.get(dtype) is not None and not placement.fused[i]
    ]
    if not rows:
        return 0.0
    # An FP8 GEMM reads its input at one byte per element: load_act counts the elements.
    load_act = np.asarray(fields["load_act"], dtype=np.float64)
    out = np.zeros_like(load_act)
    for dtype in {keys[i][1] for i in rows}:
        these = [i for i in rows if keys[i][1] == dtype]
        quantize = curves[dtype]
        assert quantize is not None
        out[these] = quantize_pass_time(quantize, load_act[these], bandwidth)
    return out


def quantize_pass_time(
    curves: ClassEfficiency, elements: np.ndarray, bandwidth: float
) -> np.ndarray:
    """One pass quantizing `elements` 16-bit values to FP8: fixed + bytes / (bandwidth x the
    memory curve's fraction at those bytes); nothing to quantize takes no time."""
    moved = QUANTIZE_BYTES * np.asarray(elements, dtype=np.float64)
    busy = moved / (bandwidth * curves.memory(np.maximum(moved, 1.0)))
    return np.where(moved > 0, curves.fixed + busy, 0.0)


def _fixed_times(placement: Placement, profile: EfficiencyProfile) -> np.ndarray:
    """Fixed time of each operator's kernel (a few distinct values: one per class and type)."""
    known = {key: profile.fixed_time(*key) for key in set(_curve_keys(placement))}
    return np.array([known[key] for key in _curve_keys(placement)], dtype=np.float64)


def _measured_collectives(
    placement: Placement, profile: EfficiencyProfile, fields: Mapping[str, np.ndarray]
) -> tuple[Mapping[str, np.ndarray], list[int]]:
    """Collectives at the profile's measured time for their kind, group and message size,
    where it has one (and the operator rows so priced); else they keep the link model's
    time."""
    link_time = fields["link_time"]
    replaced = None
    priced: list[int] = []
    for (kind, ranks), rows in placement.collective_groups:
        moved = fields["link_bytes"][rows]
        measured = profile.collective_time(kind, ranks, moved)
        if measured is None:
            continue
        if replaced is None:
            replaced = link_time.copy()
        # A collective moving nothing (no tokens at this point) takes no time.
        replaced[rows] = np.where(moved > 0, measured, 0.0)
        priced.extend(np.atleast_1d(np.arange(len(placement.names))[rows]).tolist())
    return (fields if replaced is None else fields | {"link_time": replaced}), priced


def _rows_mask(rows: list[int], operators: int, ndim: int) -> np.ndarray:
    """True at the given operator rows, shaped to broadcast over an array of `ndim` axes whose
    first is the operators'."""
    mask = np.zeros(operators, dtype=bool)
    mask[rows] = True
    return mask.reshape((operators,) + (1,) * max(ndim - 1, 0))


def _dtype(
    device: Device, bits: int | None, float_first: bool = False, float_only: bool = False
) -> str:
    if bits is None:
        return device.vector_dtype()
    return device.matrix_dtype(bits, float_first, float_only)
