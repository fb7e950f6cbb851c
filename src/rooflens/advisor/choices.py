"""The named choices the advisor's search tries beside devices and widths: weight precisions,
as engines serve them, and how a setup's is said; expert layouts. Light (no pandas): the
command line and the viewer declare their search fields from it."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rooflens.core.hardware import MAX_HOURLY_PRICE
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.settings import (
    ENGINE_NAMES,
    Settings,
    as_choice,
    engine_name,
    invalid_input,
    parse_settings,
    plain,
    setting,
    split_items,
    without_empty_text,
)

# Devices one search may name (the viewer's answers stay small).
MAX_ADVISED_DEVICES = 64

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
# INT4's groups, largest first: 128 where it divides every quantized layer's width on a
# device, else the next that does (gpt-oss' 2,880-wide layers take 64, as its AWQ/GPTQ
# exports are grouped).
INT4_GROUPS = (128, 64, 32)
# The advice table's columns that count things: a setup turned away leaves them empty, which
# makes pandas hold them as floats; its outputs give them as whole numbers.
COUNT_COLUMNS = (
    "tp", "pp", "w_bits", "kv_bits", "max_batch_memory", "batch_limit", "replicas", "devices",
)  # fmt: skip
# The tensor type a device needs for each: without it, the precision is not tried there.
WEIGHTS_NEED = {"fp8": "fp8", "nvfp4": "fp4"}
WEIGHT_NAMES = tuple(WEIGHTS)


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
    "load), int4 (W4A16, groups of 128, or of 64 or 32 where 128 does not divide the "
    "model's layers), nvfp4 (W4A4); fp8 and nvfp4 only where the device "
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
    for kind, own in options.module_quantization:
        acts = f"A{own.a_bits}" if own.a_bits != q.a_bits else ""
        label += f", {kind} W{own.w_bits}{acts} {own.w_format.upper()}"
    kept = [*options.unquantized_modules] + [
        name + ("" if k == n else f" in {k} of {n} layers")
        for name, k, n in options.partly_unquantized
    ]
    if kept:
        label += f" ({', '.join(kept)} at 16 bits)"
    return label


def _listed(value: object) -> object:
    """'1,2' or [1, 2] -> (1, 2): a list setting from the command line's text or a JSON
    array, whole numbers typed as text read as numbers."""
    value = plain(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)  # tps=2: one width
    parts = split_items(value)
    if isinstance(parts, tuple):
        parts = tuple(plain(p) for p in parts)
        if any(isinstance(p, bool) for p in parts):  # True == 1 would pass as one device
            raise ValueError("a boolean is not a number")
        return tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in parts)
    return parts


# What a search list refuses beyond its choices: a value given twice (settings.invalid_input
# adds it to what the list accepts).
ONCE = "each value once"


def _default_is_none(model: type[BaseModel], name: str) -> bool:
    return model.model_fields[name].default is None


class AdviseSearch(BaseModel):
    """What `advise` searches, declared once: the command line's options, the viewer's
    fields and the API's checks derive from it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    devices: tuple[str, ...] | None = setting(
        None, "Search", "devices", "Catalog devices to try; empty: every priced one.",
        accepts="catalog device names, comma-separated", max_length=MAX_ADVISED_DEVICES,
    )  # fmt: skip
    # Up to 64: a 72-GPU NVLink domain (GB200, GB300) holds a group of 64.
    tp: tuple[Literal[1, 2, 4, 8, 16, 32, 64], ...] = setting(
        (1, 2, 4, 8), "Search", "tensor parallel", "Tensor-parallel widths tried (within "
        "one node's links).", accepts="widths among 1, 2, 4, 8, 16, 32, 64, comma-separated",
        min_length=1, max_length=7,
    )  # fmt: skip
    pp: tuple[Literal[1, 2, 4, 8], ...] = setting(
        (1, 2), "Search", "pipeline stages", "Pipeline stage counts tried.",
        accepts="counts among 1, 2, 4, 8, comma-separated", min_length=1, max_length=4,
    )  # fmt: skip
    weights: tuple[Literal[WEIGHT_NAMES], ...] = setting(  # type: ignore[valid-type]
        WEIGHT_NAMES, "Search", "weights", WEIGHTS_HELP,
        accepts="some of " + ", ".join(WEIGHT_NAMES) + ", comma-separated", min_length=1,
        max_length=len(WEIGHT_NAMES),
    )  # fmt: skip
    experts: tuple[Literal[EXPERTS], ...] = setting(  # type: ignore[valid-type]
        EXPERTS, "Search", "experts", EXPERTS_HELP,
        accepts="some of " + ", ".join(EXPERTS) + ", comma-separated", min_length=1,
        max_length=len(EXPERTS),
    )  # fmt: skip
    kv_bits: tuple[Literal[16, 8, 4], ...] = setting(
        (16, 8), "Search", "KV-cache bits", "KV-cache widths tried.",
        accepts="widths among 16, 8, 4, comma-separated", min_length=1, max_length=3,
    )  # fmt: skip
    rank: Literal["cost", "energy", "latency"] = setting(
        "cost", "Search", "rank by", "Rank by cost per million tokens, energy, or end-to-end "
        "latency.",
    )  # fmt: skip
    budget: float | None = setting(
        None,
        "Search",
        "budget (USD/h)",
        "Drop setups dearer than this many USD per hour (all their devices).",
        gt=0,
        le=1e9,
    )
    # The engine whose profiles price the setups: the analysis's own declared settings.
    engine: Literal[ENGINE_NAMES] | None = copy.copy(  # type: ignore[valid-type]
        Settings.model_fields["engine"]
    )
    engine_version: str | None = copy.copy(Settings.model_fields["engine_version"])
    # Prices a buyer was quoted (a reserved rate, another provider's list), per device.
    hourly_prices: dict[str, float] = setting(
        {}, "Search", "prices (USD/h)", "Prices per device overriding the catalog's, e.g. "
        "h100-sxm=2.5,a100=1.2 ({'h100-sxm': 2.5} in JSON); a device without a catalog price "
        "is searched once given one.",
        accepts="DEVICE=USD_PER_HOUR pairs, comma-separated, each price in "
        f"(0, {MAX_HOURLY_PRICE:g}]",
    )  # fmt: skip

    def changed(self) -> dict[str, object]:
        """The search settings that differ from their defaults, by their declared names, as
        an analysis's JSON states the settings given (`Settings.changed`)."""
        return {
            name: getattr(self, name)
            for name, field in type(self).model_fields.items()
            if getattr(self, name) != field.default
        }

    @model_validator(mode="before")
    @classmethod
    def _empty_left_out(cls, given: object) -> object:
        # Empty text for a setting whose default is none leaves it out (devices "": every
        # priced one, as its help and --devices "" say; engine, engine_version, budget).
        return without_empty_text(cls, given, _default_is_none)

    @field_validator("devices", "tp", "pp", "weights", "experts", "kv_bits", mode="before")
    @classmethod
    def _lists(cls, value: object, info: ValidationInfo) -> object:
        field = cls.model_fields[str(info.field_name)]
        # FP8 is fp8, TP tp (settings.as_choice).
        listed = as_choice(field.annotation, _listed(value))
        floats = [p for p in listed if isinstance(p, float)] if isinstance(listed, tuple) else []
        if floats and info.field_name in ("tp", "pp", "kv_bits"):
            # 8.0 == 8 would pass a Literal of integer choices (kv_bits: [8.0]); a name list
            # says which names it takes.
            raise ValueError(f"expected whole numbers, not {floats[0]!r}")
        if listed == () and any(getattr(m, "min_length", 0) for m in field.metadata):
            # Named as given ('' or []), not as the empty tuple it was read into ("tp=()").
            raise ValueError(f"expected at least one: {field.json_schema_extra['accepts']}")  # type: ignore[index]
        if isinstance(listed, tuple) and info.field_name != "devices":
            # A value twice would be searched twice: every setup screened and listed twice.
            # (Devices are merged by the device they name, aliases too: search.distinct.)
            again = [p for i, p in enumerate(listed) if p in listed[:i]]
            if again:
                raise ValueError(f"expected {ONCE} ({again[0]!r} given twice)")
        return listed

    @field_validator("hourly_prices", mode="before")
    @classmethod
    def _prices_as_pairs(cls, value: object) -> object:
        # The command line's "h100-sxm=2.5,a100=1.2"; a JSON object as it is.
        if not isinstance(value, str):
            return value
        prices: dict[str, object] = {}
        for item in split_items(value) or ():  # an empty item refused, as every list's
            name, sep, price = str(item).partition("=")
            if not sep or not name.strip():
                raise ValueError(f"expected DEVICE=USD_PER_HOUR, not {item!r}")
            if name.strip() in prices:
                raise ValueError(f"expected each device once ({name.strip()!r} given twice)")
            try:
                prices[name.strip()] = float(price)
            except ValueError:
                raise ValueError(f"expected a number of USD per hour for {name.strip()}, not "
                                 f"{price.strip()!r}") from None  # fmt: skip
        return prices

    @field_validator("hourly_prices")
    @classmethod
    def _prices_bounded(cls, prices: dict[str, float]) -> dict[str, float]:
        if len(prices) > MAX_ADVISED_DEVICES:
            raise ValueError(f"at most {MAX_ADVISED_DEVICES} devices")
        bad = [k for k, v in prices.items() if not 0 < v <= MAX_HOURLY_PRICE]
        if bad:
            raise ValueError(
                f"{bad[0]}={prices[bad[0]]} is not in (0, {MAX_HOURLY_PRICE:g}] USD per hour"
            )
        return prices

    @field_validator("rank", mode="before")
    @classmethod
    def _rank_any_case(cls, value: object) -> object:
        return as_choice(cls.model_fields["rank"].annotation, value)

    @field_validator("engine", mode="before")
    @classmethod
    def _engine_name(cls, value: object) -> object:
        return engine_name(value)


def parse_search(values: Mapping[str, object]) -> AdviseSearch:
    """Validated search settings; a bad value raises InvalidInputError naming it."""
    try:
        search = AdviseSearch(**dict(values))
    except ValidationError as exc:
        raise invalid_input(exc, AdviseSearch) from None
    # An engine's release is checked as the analysis's settings check it.
    parse_settings({"engine": search.engine, "engine_version": search.engine_version})
    return search
