"""The immutable description of a device: peaks, memory, links."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
)

from rooflens.core.errors import Declared, InvalidInputError

ComputeDtype = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "int8", "int4", "fp4"]

# Storage bit-width -> tensor-core data types that compute at it, in order of preference.
# Integer types come first because the quantization this models (seed 000, sec. 3.1.1) is integer.
# `fp4` is the FP4 (E2M1) tensor peak, whatever the block scaling (NVFP4, MXFP4): vendors print
# one figure for both. FP6 (E2M3/E3M2) holds every FP4 value, so 4-bit work on a device with
# FP6 but no FP4 tensor type runs at the FP6 peak.
_DTYPES_BY_BITS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (4, ("int4", "fp4")),
    (6, ("fp6",)),
    (8, ("int8", "fp8")),
    (16, ("bf16", "fp16")),
    (32, ("fp32",)),
)
# Each tensor type's width in bits.
DTYPE_BITS: dict[str, int] = {d: bits for bits, dtypes in _DTYPES_BY_BITS for d in dtypes}


# A rate (bytes or OPs per second) of at least one a second: below it times overflow to
# infinity (1e-300 B/s), and no device is that slow.
RATE_BOUNDS = (1.0, 1e21)
Rate = Annotated[float, Field(ge=RATE_BOUNDS[0], le=RATE_BOUNDS[1])]
# At most an exabyte: token counts derived from it stay integers.
MAX_CAPACITY = 1e18
# The largest price per device-hour taken: far above any real one, and low enough that costs
# stay finite (a price of 1e308 overflowed to an infinite cost).
MAX_HOURLY_PRICE = 1e6
# The largest board power taken, in watts: far above any device's, and low enough that
# energy and carbon stay finite (a TDP of 1e300 W gave powers of 1e299).
MAX_TDP = 1e6


class Device(Declared):
    """A compute device as the roofline sees it."""

    # Figures are finite: an infinite capacity or a NaN bandwidth prices nothing.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str
    display_name: str = ""
    aliases: tuple[str, ...] = ()
    vendor: str = ""
    kind: Literal["gpu", "tpu", "apple-soc", "cpu", "other"] = "gpu"
    memory_capacity: float = Field(gt=0, le=MAX_CAPACITY)
    memory_bandwidth: Rate
    peak_ops: dict[ComputeDtype, Rate] = Field(min_length=1)
    sparse_peak_ops: dict[ComputeDtype, Rate] = Field(default_factory=dict)
    compute_units: PositiveInt | None = None
    onchip_memory_per_unit: PositiveFloat | None = None
    interconnect_bandwidth: Rate | None = None
    # Devices the interconnect joins, where fewer than a node's (an NVLink bridge pairs two
    # cards): a wider group's collectives cross the host link. None: the whole node.
    interconnect_group: PositiveInt | None = None
    # Links of a fully connected mesh, one per peer (MI300X's 7 xGMI links): a group of k
    # devices drives k - 1 of them, so its bandwidth is that share of the interconnect's
    # (a pair of MI300Xs shares one 64 GB/s link, not 448 GB/s). None: a switch (NVSwitch),
    # whose full bandwidth any group reaches.
    interconnect_links: PositiveInt | None = None
    host_bandwidth: Rate | None = None
    tdp: float | None = Field(None, gt=0, le=MAX_TDP)
    # Between nodes: the network bandwidth per device (bytes/s per direction) in the vendor's
    # reference system, and how many devices one node holds.
    network_bandwidth: Rate | None = None
    devices_per_node: PositiveInt | None = None
    # Name of the bundled efficiency profile measured on this device, if any.
    calibration: str | None = None
    # Cost and power for hardware advice. Prices are dated snapshots of a public list (the
    # date and the list are in `sources`), not quotes: they move, so users override them.
    # On-demand cloud price in USD per device-hour (one GPU / accelerator chip).
    hourly_price: float | None = Field(default=None, gt=0, le=MAX_HOURLY_PRICE)
    # List price / MSRP in USD of one device, where the vendor publishes one.
    purchase_price: PositiveFloat | None = None
    # Draw in W with nothing running; left out where no datasheet or measurement gives it,
    # so that the energy model falls back to its documented share of `tdp`.
    idle_power: PositiveFloat | None = None
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("idle_power")
    @classmethod
    def _check_idle_below_tdp(cls, value: float | None, info: ValidationInfo) -> float | None:
        # An idle draw above the rated maximum is a unit or transcription slip, and would make
        # the energy of a loaded device come out lower than that of an idle one.
        tdp = info.data.get("tdp")
        if value is not None and tdp is not None and value > tdp:
            raise ValueError(f"idle_power must not exceed tdp ({tdp:g} W)")
        return value

    @field_validator("peak_ops")
    @classmethod
    def _check_has_float_peak(cls, value: dict[str, float]) -> dict[str, float]:
        # Element-wise work and 16-bit GEMMs need a float peak (vector_dtype).
        if not set(value) & {"fp32", "fp16", "bf16"}:
            raise ValueError("expected at least one of fp32, fp16 or bf16 among them")
        return value

    def matrix_dtype(self, bits: int, float_first: bool = False, float_only: bool = False) -> str:
        """Compute dtype for matrix work on operands of `bits`: the narrowest the device has,
        raised to the next wider one where it lacks that width (INT4 on an H100 runs as INT8).
        `float_first` prefers float tensor types at a width (an 8-bit KV cache: FP8 where the
        device has it, else INT8); `float_only` takes nothing else, for values integer units
        cannot hold (FP8 and MXFP4 weights: on an A100 at BF16, as engines serve FP8
        checkpoints there, weight-only through Marlin, not at its INT8 peak)."""
        for width, dtypes in _DTYPES_BY_BITS:
            if width < bits:
                continue
            for dtype in sorted(dtypes, key=lambda d: float_first and d.startswith("int")):
                if float_only and dtype.startswith("int"):
                    continue
                if dtype in self.peak_ops:
                    return dtype
        return self.vector_dtype()

    def has_float_type(self, bits: int) -> bool:
        """Whether float values of `bits` have a tensor type here to compute at: FP8 on FP8
        units, FP4 on FP4 units or on FP6 ones (which hold every FP4 value); 16 bits always."""
        if bits >= 16:
            return True
        held_by = {4: ("fp4", "fp6"), 6: ("fp6",), 8: ("fp8",)}.get(bits, ())
        return any(dtype in self.peak_ops for dtype in held_by)

    def vector_dtype(self) -> str:
        """Element-wise work (norms, softmax, activations) runs on the vector units, whose
        throughput the datasheets give as the non-tensor FP32 peak."""
        if "fp32" in self.peak_ops:
            return "fp32"
        return "bf16" if "bf16" in self.peak_ops else "fp16"

    def what_if(
        self,
        bandwidth: float = 1.0,
        compute: float = 1.0,
        capacity: float = 1.0,
        compute_cap: float | None = None,
    ) -> Device:
        """This device with memory bandwidth, every compute peak and memory capacity scaled,
        and peaks optionally capped (near-memory compute: more bandwidth, weaker compute)."""
        for field, value in (
            ("scale_bandwidth", bandwidth),
            ("scale_compute", compute),
            ("scale_capacity", capacity),
            ("compute_cap", compute_cap),
        ):
            if value is not None and not value > 0:
                raise InvalidInputError(field, value, "a positive number")
        if (bandwidth, compute, capacity, compute_cap) == (1.0, 1.0, 1.0, None):
            return self
        cap = compute_cap or float("inf")
        changes = ", ".join(
            f"{label} x{value:g}"
            for label, value in (
                ("bandwidth", bandwidth),
                ("compute", compute),
                ("capacity", capacity),
            )
            if value != 1.0
        ) + (f", compute <= {compute_cap:.3g} OP/s" if compute_cap else "")
        return self.model_copy(
            update={
                "name": f"{self.name} (what-if: {changes.lstrip(', ')})",
                # The tables' headers and the report name the device by this: the what-if too.
                "display_name": f"{self.display_name or self.name} (what-if: "
                f"{changes.lstrip(', ')})",
                "memory_bandwidth": self.memory_bandwidth * bandwidth,
                "memory_capacity": self.memory_capacity * capacity,
                "peak_ops": {k: min(v * compute, cap) for k, v in self.peak_ops.items()},
                "calibration": None,
                # A device that does not exist has no market price; a cost needs one given.
                "hourly_price": None,
                "purchase_price": None,
            }
        )

    def as_modified(self) -> Device:
        """This device once some of its figures were given anew (bandwidth, memory, peaks): not
        the one the catalog has, so its names say so, and what was measured on it (its
        calibration) and its market price no longer apply, as for a what-if."""
        if self.name.endswith(" (modified)"):  # modified again: said once
            return self.model_copy(update={"calibration": None})
        return self.model_copy(
            update={
                "name": f"{self.name} (modified)",
                "display_name": f"{self.display_name or self.name} (modified)",
                "calibration": None,
                "hourly_price": None,
                "purchase_price": None,
                # The catalog's price sources went with its prices.
                "sources": {
                    k: v
                    for k, v in self.sources.items()
                    if k not in ("hourly_price", "purchase_price")
                },
            }
        )

    @property
    def onchip_memory_total(self) -> float | None:
        if self.onchip_memory_per_unit is None or self.compute_units is None:
            return None
        return self.onchip_memory_per_unit * self.compute_units
