"""The web API's contract: request and response models (pydantic), with the caps on sizes.

Every request model forbids unknown fields and non-finite numbers, so a typo or a NaN is a 422
naming the field rather than a silently ignored or propagated value. The `group` and `title`
of each option are what the page builds its form from (through /openapi.json).
"""

from __future__ import annotations

import copy
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from rooflens.advisor.choices import AdviseSearch
from rooflens.calibration.profile import bundled_profiles
from rooflens.core.economics import FIGURES as ECONOMICS_FIGURES
from rooflens.core.economics import MAX_GRID_INTENSITY
from rooflens.core.hardware import MAX_CAPACITY, MAX_HOURLY_PRICE, MAX_TDP, ComputeDtype, Rate
from rooflens.core.speculative import ACCEPTANCE, DRAFT_TOKENS, TREE_WIDTH
from rooflens.serving import defaults as workload_defaults
from rooflens.serving.config import ADVISE_SLO, SLO, ClusterConfig, SchedulerConfig, Target
from rooflens.serving.presets import PRESET_HELP, PRESETS
from rooflens.serving.workload import cv_applies
from rooflens.settings import (
    IMAGES_HELP,
    MAX_TOKENS,
    Settings,
    empty_is_unset,
    engine_name,
    not_a_bool_number,
    setting,
    without_empty_text,
)

MAX_BODY_BYTES = 256 * 1024
MAX_BATCH = 1 << 16
MAX_SWEEP_VALUES = 64
MAX_SWEEP_POINTS = 4096
# Images one request may carry: a vision tower priced per image, as the command line's.
MAX_IMAGES = 64
MAX_MODELS_LISTED = 200
# The simulator's cost grows with its engine iterations; these keep one request to seconds.
MAX_REQUESTS = 5000
MAX_ITERATIONS = 500_000
MAX_CAPACITY_ITERATIONS = 60_000
MAX_SIMULATED_CONTEXT = 1 << 18
MAX_BATCH_SERVED = 4096
MAX_STEP_TOKENS = 1 << 16
MAX_VERIFIED = 5

# Only bundled profiles: a profile given by path would let a request read a file.
CalibrationName = Literal[("auto", *sorted(bundled_profiles()))]  # type: ignore[valid-type]


def _kinds(annotation: object) -> set[object]:
    """The types a field takes: the members of a union, each without its Annotated bounds
    (`Rate` is a float with a range, and text in its place is as wrong as in a float's)."""
    if get_origin(annotation) is Annotated:
        return _kinds(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return {kind for member in get_args(annotation) for kind in _kinds(member)}
    return {annotation}


def _numbers_only(annotation: object) -> bool:
    """Whether a field takes numbers and no text (int, float, their optional and bounded
    forms)."""
    kinds = _kinds(annotation) - {type(None)}
    return bool(kinds) and kinds <= {int, float}


def _in_a_number_map(annotation: object, value: object, kind: type) -> str | None:
    """The first key of `value`, a mapping given for a mapping of numbers, whose value is a
    `kind` (text, or a boolean that pydantic would read as 1: peak_ops {"bf16": true})."""
    if not isinstance(value, dict) or getattr(annotation, "__origin__", None) is not dict:
        return None
    _, number = get_args(annotation)
    if not _numbers_only(number):
        return None
    return next((str(k) for k, v in value.items() if isinstance(v, kind)), None)


def json_typed(annotation: object, value: object) -> object:
    """`value`, unless JSON gave it as another type than the field's: "batch": true would
    otherwise pass as one sequence, "batch": "8" as eight and "overlap": "yes" or 1 as true
    (JSON has numbers and booleans; the Python API refuses text in a number's place); in a
    mapping of numbers, the key whose value is not one is named."""
    if isinstance(value, str) and _numbers_only(annotation):
        raise ValueError("text is not a number (send it as a JSON number)")
    for kind, what in ((str, "text"), (bool, "a boolean")):
        key = _in_a_number_map(annotation, value, kind)
        if key is not None:
            raise ValueError(f"{what} is not a number at {key} (send it as a JSON number)")
    if _booleans_only(annotation) and not isinstance(value, bool):
        raise ValueError("expected true or false (a JSON boolean)")
    return not_a_bool_number(annotation, value)


def _booleans_only(annotation: object) -> bool:
    return _kinds(annotation) - {type(None)} == {bool}


def _json_typed(cls: type[BaseModel], value: object, info: ValidationInfo) -> object:
    left_out = getattr(cls, "EMPTY_LEFT_OUT", ())
    if info.field_name in left_out and _empty_leaves_out(cls, info.field_name, value):
        return None
    return json_typed(cls.model_fields[info.field_name].annotation, value)


def _empty_leaves_out(cls: type[BaseModel], name: str, value: object) -> bool:
    """Whether `value` is empty text that leaves out `name`, an optional field (not a list),
    as the command line takes it (--preset "")."""
    return isinstance(value, str) and not value.strip() and empty_is_unset(cls, name)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    # Fields whose empty text is the field left out, as their help or the command line says
    # (a preset "", --preset ""; a device's name "": a device of one's own).
    EMPTY_LEFT_OUT: ClassVar[tuple[str, ...]] = ()

    _json_typed = field_validator("*", mode="before")(classmethod(_json_typed))


class Options(Settings):
    """Every setting of `rooflens.analyze` (declared in `rooflens.settings`), with one change:
    a calibration is a bundled profile, since a path would let a request read a file."""

    calibration: CalibrationName | None = setting(  # type: ignore[assignment]
        None,
        "Calibration",
        "calibration",
        "Empty: roofline bound; auto or a device: estimate from a measured profile.",
    )


class Speculative(Strict):
    """Speculative decoding: on when `draft`, `medusa_heads` or `mtp` is set."""

    draft: str | None = setting(
        None, "Speculative decoding", "draft model", "A bundled model as drafter.", max_length=200
    )
    medusa_heads: bool = setting(
        False, "Speculative decoding", "Medusa heads", "Draft with Medusa heads instead."
    )
    mtp: bool = setting(
        False, "Speculative decoding", "MTP module", "Draft with the model's own MTP module."
    )
    gamma: int = setting(
        DRAFT_TOKENS, "Speculative decoding", "γ", "Draft tokens per step.", ge=1, le=64
    )
    alpha: float = setting(
        ACCEPTANCE, "Speculative decoding", "α", "Acceptance rate per token.", ge=0, le=1
    )
    tree_width: int = setting(
        TREE_WIDTH, "Speculative decoding", "tree width", "Candidates per position.", ge=1, le=64
    )

    @field_validator("gamma", "alpha", "tree_width")
    @classmethod
    def _shapes_a_drafter(cls, value: float, info: ValidationInfo) -> float:
        # They shape a drafter's estimate: without one they would change nothing, so they are
        # refused as the command line refuses them (at their defaults, as a form sends them,
        # they ask for nothing).
        drafter = info.data.get("draft") or info.data.get("medusa_heads") or info.data.get("mtp")
        if not drafter and value != cls.model_fields[str(info.field_name)].default:
            raise ValueError(
                "expected left out without draft, medusa_heads or mtp (no speculation)"
            )
        return value


class Economics(Strict):
    """The price and grid intensity behind the energy and cost figures (docs/advisor.md)."""

    hourly_price: float | None = setting(
        None, "Energy and cost", "price (USD/device-h)", "Empty: the catalog's dated price.",
        gt=0, le=MAX_HOURLY_PRICE,
    )  # fmt: skip
    grid_intensity: float | None = setting(
        None, "Energy and cost", "grid (gCO2e/kWh)", "Carbon intensity; empty: no carbon.",
        ge=0, le=MAX_GRID_INTENSITY,
    )  # fmt: skip


class ModelRef(Strict):
    """A bundled model by id (GET /api/models), or an uploaded config.json; never a path or a
    Hub download."""

    id: str | None = Field(
        None, max_length=200, description="Bundled Hugging Face id, or its short name."
    )
    config: dict[str, Any] | None = Field(
        None, description="A parsed config.json (read in memory only)."
    )
    name: str = Field("uploaded", max_length=100, description="Label of an uploaded config.")

    @model_validator(mode="before")
    @classmethod
    def _plain_id(cls, data: Any) -> Any:
        # A script's {"model": "Qwen/Qwen3-8B"}: the bundled id alone, as the CLI takes it.
        if isinstance(data, str):
            return {"id": data}
        if not isinstance(data, dict):
            raise ValueError('expected a bundled model id, {"id": ...} or {"config": {...}}')
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if (self.id is None) == (self.config is None):
            raise ValueError("give either id (a bundled model) or config (a config.json)")
        return self


class DeviceRef(Strict):
    """A catalog device (GET /api/devices), optionally with figures overridden, or a device of
    your own from bandwidth, capacity and peaks."""

    EMPTY_LEFT_OUT = ("name",)
    name: str | None = Field(
        None, max_length=100, description="Catalog name or alias; empty: a custom device."
    )
    # The device's own bounds (rooflens.core.hardware.Rate).
    memory_bandwidth: Rate | None = Field(None, description="Bytes/s.")
    memory_capacity: float | None = Field(None, gt=0, le=MAX_CAPACITY, description="Bytes.")
    peak_ops: dict[ComputeDtype, Rate] = Field(
        default_factory=dict, description="Peak OP/s per compute dtype, e.g. {'bf16': 989e12}."
    )
    tdp: float | None = Field(
        None, gt=0, le=MAX_TDP, description="Board power in W: power, energy and cost need it."
    )

    @model_validator(mode="before")
    @classmethod
    def _plain_name(cls, data: Any) -> Any:
        # A script's {"device": "h100-sxm"}: the catalog name alone, as the CLI's -H takes it.
        if isinstance(data, str):
            return {"name": data}
        if not isinstance(data, dict):
            raise ValueError('expected a catalog device name or {"name": ...} (or a custom device)')
        return data

    @model_validator(mode="after")
    def _complete(self) -> DeviceRef:
        if self.name is None:
            missing = [
                k
                for k in ("memory_bandwidth", "memory_capacity", "peak_ops")
                if not getattr(self, k)
            ]
            if missing:
                raise ValueError(
                    f"a custom device (no name) needs memory_bandwidth, memory_capacity and "
                    f"peak_ops; missing: {', '.join(missing)}"
                )
        return self


class Setup(Strict):
    model: ModelRef
    device: DeviceRef
    options: Options = Field(default_factory=Options)


class Scenario(Setup):
    """One analysis: model, device, sizes and options."""

    batch: int = Field(1, ge=1, le=MAX_BATCH, description="Sequences per step.")
    prompt_len: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKENS,
        description="Prompt tokens; null: 2048, or what the model's context leaves.",
    )
    gen_len: int | None = Field(
        128,
        ge=1,
        le=MAX_TOKENS,
        description="Generated tokens (TTFT, TPOT, latency, throughput); null: none.",
    )
    images: int = Field(0, ge=0, le=MAX_IMAGES, description=IMAGES_HELP)
    speculative: Speculative = Field(default_factory=Speculative)
    economics: Economics = Field(default_factory=Economics)


class AnalyzeRequest(Scenario):
    stage: Literal["prefill", "decode", "vision", "all"] = Field(
        "all",
        description="Which stage's operators to list (vision: the image encoder, with images).",
    )


class SweepRequest(Setup):
    """Every combination of the given sizes (at most 64 values an axis, 4096 points)."""

    # Strict integers: a list's true or 2.5 is no size; each bounded where it stands, so a 422
    # names it (batch.0) and the schema shows its range.
    batch: list[Annotated[StrictInt, Field(ge=1, le=MAX_BATCH)]] = Field(
        [1], min_length=1, max_length=MAX_SWEEP_VALUES
    )
    # None: 2048, or what the model's context leaves after the longest generation.
    prompt_len: list[Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS)]] | None = Field(
        None, min_length=1, max_length=MAX_SWEEP_VALUES
    )
    gen_len: list[Annotated[StrictInt, Field(ge=1, le=MAX_TOKENS)]] | None = Field(
        None, min_length=1, max_length=MAX_SWEEP_VALUES
    )
    images: int = Field(0, ge=0, le=MAX_IMAGES, description=IMAGES_HELP)

    @field_validator("batch", "prompt_len", "gen_len")
    @classmethod
    def _distinct(cls, values: list[int] | None) -> list[int] | None:
        # One row per point, as rooflens.sweep holds its axes (api.check_distinct).
        repeated = sorted({v for v in values or () if values.count(v) > 1})
        if repeated:
            raise ValueError(
                "expected each value once (a sweep has one row per point), not "
                f"{', '.join(map(str, repeated))} again"
            )
        return values

    @model_validator(mode="after")
    def _bounded(self) -> SweepRequest:
        sizes = len(self.batch), len(self.prompt_len or [1]), len(self.gen_len or [1])
        points = sizes[0] * sizes[1] * sizes[2]
        if points > MAX_SWEEP_POINTS:
            counted = " x ".join(map(str, sizes))
            raise ValueError(
                f"batch x prompt_len x gen_len = {counted} = {points} points; a sweep has at "
                f"most {MAX_SWEEP_POINTS}"
            )
        return self


class CompareRequest(Strict):
    a: Scenario
    b: Scenario


class ViewRequest(Strict):
    """What the page needs after each change: the shown scenario's analysis and curves, and A
    against B when there is a B."""

    a: Scenario
    b: Scenario | None = None
    show: Literal["a", "b"] = "a"

    @field_validator("show")
    @classmethod
    def _shown_exists(cls, value: str, info: ValidationInfo) -> str:
        if value == "b" and info.data.get("b") is None:  # A was shown in its place, unsaid
            raise ValueError("'a', or 'b' with a scenario b")
        return value


# Serving and the advisor ---------------------------------------------------------------------
class WorkloadIn(Strict):
    """Synthetic requests for the simulator (lengths as `rooflens simulate` takes them, and
    its defaults)."""

    requests: int = setting(
        workload_defaults.REQUESTS, "Workload", "requests", "Requests simulated.", ge=1,
        le=MAX_REQUESTS,
    )  # fmt: skip
    rate: float = setting(
        workload_defaults.RATE,
        "Workload",
        "arrival rate (req/s)",
        "Mean requests per second.",
        gt=0,
        le=1e6,
    )
    concurrency: int | None = setting(
        None,
        "Workload",
        "clients (closed loop)",
        "Closed loop: this many clients, each sending its next request on its last answer, as "
        "benchmarks measure engines (give no rate, arrivals or cv then); empty: arrivals at "
        "the rate.",
        ge=1,
        le=MAX_REQUESTS,
    )
    arrivals: Literal["poisson", "gamma", "fixed"] = setting(
        workload_defaults.ARRIVALS,
        "Workload",
        "arrivals",
        "Poisson, gamma (bursty when cv > 1) or evenly spaced.",
    )
    cv: float | None = setting(
        None,
        "Workload",
        "burstiness (cv)",
        f"Gamma arrivals: cv of the gaps; empty: {workload_defaults.CV:g}. Other arrivals "
        "take none.",
        ge=workload_defaults.CV_MIN,
        le=workload_defaults.CV_MAX,
    )

    @field_validator("cv")
    @classmethod
    def _cv_applies(cls, cv: float | None, info: ValidationInfo) -> float | None:
        return cv_applies(info.data.get("arrivals", workload_defaults.ARRIVALS), cv)

    prompt: str = setting(
        workload_defaults.PROMPT,
        "Workload",
        "prompt tokens",
        workload_defaults.LENGTH_FORMS,
        max_length=2000,
    )
    output: str = setting(
        workload_defaults.OUTPUT,
        "Workload",
        "output tokens",
        workload_defaults.LENGTH_FORMS,
        max_length=2000,
    )
    shared_prefix: int = setting(
        0, "Workload", "shared prefix", "Tokens every prompt starts with.", ge=0, le=MAX_TOKENS
    )
    seed: int = setting(0, "Workload", "seed", "Random seed.", ge=0, le=2**32 - 1)


def derived(
    model: type[BaseModel],
    name: str,
    doc: str,
    caps: dict[str, float] | None = None,
    defaults: dict[str, Any] | None = None,
    empty_left_out: bool = False,
) -> Any:
    """`model` as the web takes it: every field as declared there, with tighter upper bounds
    (`caps`, the viewer's limits on work) or other defaults where given; `empty_left_out`:
    empty text for an optional field is that field left out, as on the command line."""
    fields: dict[str, Any] = {}
    for field in {*(caps or {}), *(defaults or {})}:
        info = copy.copy(model.model_fields[field])
        if caps and field in caps:
            kept = [m for m in info.metadata if not isinstance(m, annotated_types.Le)]
            info.metadata = [*kept, annotated_types.Le(caps[field])]
        if defaults and field in defaults:
            info.default = defaults[field]
        fields[field] = (info.annotation, info)
    # Each field typed as JSON gives it, as the Strict sections are.
    validators = {"json_typed": field_validator("*", mode="before")(classmethod(_json_typed))}
    if empty_left_out:
        validators["empty_left_out"] = model_validator(mode="before")(classmethod(_drop_empty))
    return create_model(name, __base__=model, __doc__=doc, __validators__=validators, **fields)


def _drop_empty(cls: type[BaseModel], given: object) -> object:
    # A preset's value stands where "" was sent, as the command line's --chunk-size "".
    return without_empty_text(cls, given, empty_is_unset)


SchedulerIn = derived(
    SchedulerConfig,
    "SchedulerIn",
    "One replica's scheduler (docs/serving.md), with the web's caps.",
    caps={
        "max_batch": MAX_BATCH_SERVED,
        "max_tokens": MAX_STEP_TOKENS,
        "chunk_size": MAX_STEP_TOKENS,
        "block_size": 4096,
    },
    empty_left_out=True,
)
ClusterIn = derived(
    ClusterConfig,
    "ClusterIn",
    "Replicas behind a router, or disaggregated prefill and decode pools.",
    caps={"replicas": 64, "prefill_replicas": 64, "decode_replicas": 64},
    empty_left_out=True,
)
SLOIn = derived(SLO, "SLOIn", "Objectives on time to first token and time per output token.")
# The advisor's objectives: looser defaults, as `rooflens advise` has.
AdviseSLOIn = derived(
    SLOIn, "AdviseSLOIn", "The advisor's objectives.", defaults=ADVISE_SLO.model_dump()
)


# The engines with a scheduler preset, as rooflens.serving.presets holds them, by their
# projects' spellings too, as `options.engine` takes them.
PresetName = Annotated[Literal[tuple(PRESETS)], BeforeValidator(engine_name)]


def preset_field() -> Any:
    return setting(None, "Scheduler", "scheduler preset", PRESET_HELP)


class SimulateRequest(Strict):
    """Serve a synthetic workload with a model on replicas of a device (docs/serving.md);
    `capacity` also searches the highest arrival rate within the SLO."""

    EMPTY_LEFT_OUT = ("preset",)

    model: ModelRef
    device: DeviceRef
    options: Options = Field(default_factory=Options)
    workload: WorkloadIn = Field(default_factory=WorkloadIn)
    preset: PresetName | None = preset_field()
    scheduler: SchedulerIn = Field(default_factory=SchedulerIn)
    cluster: ClusterIn = Field(default_factory=ClusterIn)
    slo: SLOIn = Field(default_factory=SLOIn)
    capacity: bool = Field(False, description="Also search the capacity (slower).")


class SchedulerRequest(Strict):
    """The scheduler a simulation of this model on this device with these options runs: the
    serving engine's preset (`options.engine`: vllm, sglang, trtllm) sized for them, with the
    fields given in `scheduler` in its place, as POST /api/simulate takes them."""

    EMPTY_LEFT_OUT = ("preset",)

    model: ModelRef
    device: DeviceRef
    options: Options = Field(default_factory=Options)
    preset: PresetName | None = preset_field()
    scheduler: SchedulerIn = Field(default_factory=SchedulerIn)
    workload: WorkloadIn | None = Field(
        None,
        description="The workload the simulation serves (POST /api/simulate's `workload`): "
        "its longest request sizes the replica, whose KV cache sizes SGLang's request pool "
        "and state pools, which hold the batch. Left out: the default workload's. One the "
        "simulation refuses is refused alike (422 naming its field).",
    )
    cluster: ClusterIn | None = Field(
        None,
        description="The cluster the simulation serves with (POST /api/simulate's "
        "`cluster`): a disaggregated decode pool's parallelism sizes its request pool. Left "
        "out: the default cluster's. One the simulation refuses is refused alike (422 naming "
        "its field).",
    )


class SchedulerOut(BaseModel):
    engine: str | None = Field(
        description="The engine whose scheduler preset applies; null: none does (no engine, "
        "or one without a preset), and a field not given runs at its declared default."
    )
    preset: dict[str, Any] = Field(
        description="Every scheduler field as the engine's preset sets it for this model and "
        "device (its declared default without a preset), its batch held to SGLang's request "
        "and state pools as the run sizes them: what a field not given runs at."
    )
    scheduler: dict[str, Any] = Field(
        description="What a simulation with the fields given runs: the preset with them in "
        "place, as the engine reads them and the run holds them (POST /api/simulate's "
        "`scheduler`)."
    )


TargetIn = derived(Target, "TargetIn", "The load the advisor sizes for.", caps={"rate": 1e6})


# The serving engine setting's type, as `rooflens.settings` declares it.
EngineName = Settings.model_fields["engine"].annotation


class AdviseRequest(AdviseSearch):
    """Which setup serves the load within the SLO most cheaply (docs/advisor.md): the search
    as `rooflens.advisor.choices.AdviseSearch` declares it, and what the viewer adds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=False, strict=False)

    model: ModelRef
    target: TargetIn = Field(default_factory=TargetIn)
    slo: AdviseSLOIn = Field(default_factory=AdviseSLOIn)
    verify: int = setting(
        2, "Search", "confirm top", "Top picks re-run in the simulator.", ge=0, le=MAX_VERIFIED
    )
    top: int = setting(10, "Search", "picks listed", "Picks in the answer.", ge=1, le=100)

    @field_validator("*", mode="before")
    @classmethod
    def _no_text_numbers(cls, value: object, info: ValidationInfo) -> object:
        # Lax here (the search's lists come as "1,2" text too), but a number stays a number
        # and a boolean a boolean.
        return json_typed(cls.model_fields[info.field_name].annotation, value)


class UploadRequest(Strict):
    config: dict[str, Any] = Field(description="A parsed config.json.")
    name: str = Field("uploaded", max_length=100)


# Responses -------------------------------------------------------------------------------------
Number = float | None


class ModelInfo(BaseModel):
    id: str
    model_type: str
    params: int
    # Those one token runs through (its layers' top-k routed experts): `params` when dense.
    active_params: int
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    num_experts: int


class DeviceInfo(BaseModel):
    name: str
    display_name: str
    vendor: str
    kind: str
    memory_capacity: float
    memory_bandwidth: float
    peak_ops: dict[str, float]
    interconnect_bandwidth: Number
    host_bandwidth: Number
    calibration: str | None
    hourly_price: Number = Field(description="USD per device-hour, from the catalog's source.")
    tdp: Number = Field(description="Watts: the power figure energy and carbon are priced at.")


class EngineInfo(BaseModel):
    engine: str
    device: str
    release: str | None = Field(description="The release the profile prices.")
    older_releases: list[str] = Field(description="Releases with profiles of their own tables.")
    source: str = Field(description="Where the profile's figures came from.")
    fitted: str | None = Field(description="The date the profile was fitted or measured.")
    memory_fraction: float
    memory_fraction_of: Literal["device", "static", "free"]
    max_tokens: int | None = Field(description="The scheduler preset's token budget.")
    max_batch: int | None = Field(description="The scheduler preset's batch limit.")
    host_per_request: float | None = Field(
        description="Seconds each request spends on the engine's serving path outside its "
        "iterations, measured with the engine (docs/engines-measured.md); null where not "
        "measured."
    )
    eager_host_per_layer: float | None = Field(
        description="Seconds per layer the host takes to launch a prefill the engine runs "
        "without CUDA graphs, measured with the engine (the same document); null where not "
        "measured."
    )
    eager_host_per_moe_layer: float | None = Field(
        description="Seconds more per mixture-of-experts layer; null where not measured."
    )
    validated_runs: int = Field(description="Measured serving runs its forecasts were checked on.")
    ttft_error: float | None = Field(description="Their median |error| of TTFT (a share).")
    tpot_error: float | None = Field(description="Their median |error| of TPOT (a share).")
    moe_runs: int = Field(description="Of those runs, the MoE models'.")
    moe_ttft_error: float | None = Field(description="Their median |error| of TTFT.")
    dense_runs: int = Field(description="Of those runs, the dense models'.")
    dense_ttft_error: float | None = Field(description="Their median |error| of TTFT.")


class Operator(BaseModel):
    stage: str
    index: int = Field(description="Position in its stage's graph order.")
    name: str
    scope: str = Field(description="block (per layer, × count) or head (once).")
    count: float
    ops: Number
    memory_access: Number
    load_weight: Number
    load_act: Number
    store_act: Number
    load_kv: Number
    store_kv: Number
    vector_ops: Number
    link_time: Number
    quantize_time: Number = Field(
        description="Of `time`: the pass quantizing an FP8 GEMM's input where the engine "
        "profile prices it apart (docs/engines.md); 0 elsewhere."
    )
    arithmetic_intensity: Number
    performance: Number
    bound: str
    compute_dtype: str
    mlp_width: int | None = Field(
        None,
        description="A dense MLP's width per device where layers differ in it (Nemotron's "
        "pruned layers); null elsewhere.",
    )
    time: Number = Field(description="Seconds per layer (block) or per step (head).")
    efficiency: Number = Field(
        description="Roofline time / time: 1 on the roofline; null for an operator taking no "
        "time or a collective priced by a measured table."
    )
    priced_by: str = Field(
        description="What prices it: roofline, link model, an engine profile's curves, a MoE "
        "layer's own fractions or a measured collective (docs/engines.md)."
    )
    span: int | None = Field(
        None,
        description="Attention: the most keys a query attends to (a sliding window, a KV-cache "
        "budget, sparse attention's top-k); null: the whole context, or not attention.",
    )
    chunk: int | None = Field(
        None, description="Chunked attention's chunk (Llama 4's local layers); null: none."
    )
    total_time: Number = Field(description="time × count.")
    share: Number = Field(description="Share of its stage's operator time.")


class Bottleneck(BaseModel):
    name: str
    share: float
    bound: str
    advice: str


class StageTotals(BaseModel):
    time: Number
    ops: Number
    memory_access: Number
    load_weight: Number
    load_act: Number
    store_act: Number
    load_kv: Number
    store_kv: Number
    compute_bound_time: Number
    bottlenecks: list[Bottleneck]


class Memory(BaseModel):
    weights: Number
    kv_cache: Number
    activations: Number
    framework: Number
    host: Number
    total: Number
    capacity: Number
    fits: bool
    max_batch: int | None = Field(description="The largest batch that fits, a whole number.")


class Generation(BaseModel):
    ttft: Number
    tpot: Number
    e2e_latency: Number
    throughput: Number
    decode_time: Number
    ops: Number
    memory_access: Number


class SpeculativeOut(BaseModel):
    tokens_per_step: Number
    plain_step: Number
    draft_time: Number
    verify_step: Number
    time_per_token: Number
    speedup: Number
    drafter_weights: Number = Field(
        None, description="Bytes per device the drafter's weights add beside the target's."
    )
    prompt_time: Number = Field(
        None,
        description="Seconds of the drafter's own pass over the prompt (a draft model's or "
        "MTP module's), which the first token waits for; 0 for Medusa heads.",
    )
    memory: Number = Field(
        None,
        description="Bytes per device while speculating: the target's and the drafter's "
        "weights and caches at the context and the tokens a step verifies, the verify step's "
        "activations.",
    )
    memory_capacity: Number = Field(None, description="Bytes per device it may fill.")
    fits: bool | None = Field(
        None, description="Whether `memory` fits: a speed-up where it does not cannot be had."
    )
    generation: dict[str, Number] | None = Field(
        None,
        description="With gen_len: ttft (the prefill and prompt_time), tpot, e2e_latency, "
        "throughput and cost_per_million_output with every decode step sped up as the one at "
        "the prompt's context (the generation and economics above are without speculation).",
    )


class Roofline(BaseModel):
    memory_bandwidth: float
    peaks: dict[str, float] = Field(description="Peak OP/s of each compute dtype in use.")


FALLBACKS = (
    "Operators the engine profile prices with another type's or class's curves, and what "
    "prices them (its `fallbacks`); empty for the roofline bound."
)


NOTES = (
    "Operators whose profile curve is read outside the sizes it was fitted over, and what "
    "prices them there (`rooflens analyze`'s `notes`); empty for the roofline bound."
)


class AnalysisOut(BaseModel):
    model: ModelInfo
    device: DeviceInfo
    estimate: str
    fallbacks: list[str] = Field(description=FALLBACKS)
    notes: list[str] = Field(description=NOTES)
    inputs: dict[str, Any]
    devices: int = Field(
        description="The devices the figures are per device of (tp x pp x dp, in each group of "
        "attention ranks the experts serve), as `rooflens analyze -f json` says."
    )
    activation_reserve_tokens: int | None = Field(
        description="An engine's activations: the peak of one iteration of this many tokens, "
        "set aside at start; null: each stage's own peak."
    )
    kv_layers_held: int | None = Field(
        description="The layers' worth of KV blocks an engine's layer groups hold (vLLM pads "
        "Gemma 3 27B's 62 layers to 70); null: every layer its own."
    )
    operators: list[Operator]
    totals: dict[str, StageTotals]
    memory: dict[str, Memory]
    generation: Generation | None
    speculative: SpeculativeOut | None
    economics: dict[str, Number] | None = Field(
        description="Power, energy, cost and carbon (rooflens.core.economics), as `rooflens "
        f"analyze -f json` writes them: every one of {', '.join(ECONOMICS_FIGURES)}, null "
        "where it does not apply (cost without a price, carbon without a grid intensity, a "
        "request without gen_len); null without a TDP."
    )
    roofline: Roofline


class SweepOut(BaseModel):
    estimate: str = Field(description="What the figures are: the bound, or whose profile.")
    fallbacks: list[str] = Field(description=FALLBACKS)
    notes: list[str] = Field(description=NOTES)
    columns: list[str]
    rows: list[dict[str, float | int | bool | None]]


class Curve(BaseModel):
    axis: Literal["batch", "prompt_len"]
    x: list[int]
    time_per_token: list[Number] = Field(description="TPOT, or the decode step without gen_len.")
    throughput: list[Number] = Field(description="Tokens/s.")
    memory_total: list[Number]
    fits: list[bool]
    capacity: Number | None = Field(None, description="Device memory the totals are held to.")
    error: str | None = None


class CompareRow(BaseModel):
    metric: str
    # A figure, or (fits in memory) whether each side fits.
    a: bool | Number
    b: bool | Number
    unit: str
    ratio: Number = Field(description="b / a; none where either has no figure, or a yes/no.")


class CompareOut(BaseModel):
    rows: list[CompareRow]
    a: str = Field(description="A's model on its device (and its estimate where B's differs).")
    b: str
    a_estimate: str = Field(description="What priced A: the bound, or whose profile.")
    b_estimate: str = Field(description="What priced B.")


class ViewOut(BaseModel):
    analysis: AnalysisOut
    curves: dict[str, dict[str, Curve]] = Field(
        description="axis -> a/b -> curve (B only when given)."
    )
    compare: CompareOut | None


class Timeline(BaseModel):
    """The engines over time, sampled on an even grid (summed over replicas)."""

    time: list[float]
    running: list[float]
    waiting: list[float]
    kv_share: list[float] = Field(description="KV-cache use over the replicas' capacity.")


class Distribution(BaseModel):
    """Quantiles of a per-request latency: `seconds[i]` is the `share[i]` quantile."""

    share: list[float]
    seconds: list[Number]


class CapacityOut(BaseModel):
    rate: float | None = Field(
        description="Highest arrival rate found within the SLO (req/s); null when none was."
    )
    warning: str | None = Field(
        None,
        description="Why no rate is reported, when none is; beside a rate, a caveat on it (the "
        "probes too short to show the rate held in a steady state); null when there is none.",
    )
    requests: int = Field(
        description="Requests each probe ran: the workload's, or fewer to fit the viewer's cap."
    )
    probes: list[dict[str, float | bool | None]] = Field(description="Every rate tried.")


class SimulateOut(BaseModel):
    setup: str
    lengths: dict[str, str] = Field(
        description="The prompt and output lengths drawn from, as text: as given, or the "
        "defaults fitted to a model with fewer positions than they span."
    )
    summary: dict[str, float | int | bool | None]
    kv_capacity_tokens: int = Field(
        description="KV-cache tokens per replica, each the keys and values of every layer as "
        "if all attended (a model with sliding windows or a hybrid's few attention layers holds "
        "several times as many of its own tokens: kv_room_requests counts them)."
    )
    kv_capacity_bytes: float = Field(description="KV-cache bytes per device of a (decode) replica.")
    kv_room_requests: int = Field(
        description="How many of the workload's longest requests one replica's KV cache holds "
        "(a shared prefix held once for all, where the scheduler shares prefixes)."
    )
    peak_memory_bytes: float = Field(
        description="Bytes per device at the run's peak: weights, activation reserve, framework "
        "and the KV cache at its fullest."
    )
    state_pool_bytes: float = Field(
        description="Bytes per device of a hybrid model's recurrent-state pool, where the "
        "scheduler keeps one apart (SGLang's mamba pool); 0 where none."
    )
    usable_memory_bytes: float = Field(description="Bytes per device the engine may fill.")
    layout: str = Field(description="The replicas and their devices, as the CLI's setup line.")
    replicas: int = Field(description="Engines simulated.")
    devices: int = Field(description="Accelerators in the cluster, every engine's.")
    estimate: str = Field(
        description="What priced the iterations: an engine's or a calibration's profile, or "
        "the roofline bound."
    )
    kernels: str = Field(
        description="The kernels priced as one (attention, fused GEMMs and element-wise work), "
        "as the settings or the engine's defaults chose them."
    )
    fallbacks: list[str] = Field(description=FALLBACKS)
    notes: list[str] = Field(
        description=NOTES + " Read at the run's longest prompt's prefill and its most "
        "sequences decoding at the longest context."
    )
    host_per_request: float = Field(
        0.0,
        description="Seconds each request spent on the engine's serving path outside its "
        "iterations, in every TTFT and end-to-end latency (its profile's host_per_request: "
        "vLLM's measured 9.9 ms, SGLang's 15.8 ms, docs/engines-measured.md); 0 where the "
        "profile has none.",
    )
    validation: str | None = Field(
        description="How far forecasts of this engine on this device fell from its measured "
        "runs (docs/validation-engines.md); null for an estimate no engine's runs check."
    )
    scheduler: dict[str, Any] | None = Field(
        description="The scheduler that batched them: its settings, an engine's preset where "
        "one applied."
    )
    memory: dict[str, float | int | bool] | None = Field(
        description="Whether the deployment fits, as `rooflens analyze` says it: the workload's "
        "largest request (prompt_len + gen_len), batch of them at once, peak and capacity "
        "bytes per device, max_batch that fit, fits; null where no verdict was formed."
    )
    slo: dict[str, float]
    timeline: Timeline
    latencies: dict[str, Distribution] = Field(description="ttft, tpot, e2e, queueing.")
    capacity: CapacityOut | None


class Pick(BaseModel):
    device: str
    tp: int
    pp: int
    experts: str = Field(description="How a mixture of experts' experts are laid (tp or ep).")
    weights: str = Field(description="The precision tried (the search's `weights`).")
    precision: str = Field(description='What it is, e.g. "W8A8 FP8 block scales".')
    stand_ins: str = Field(
        description="Curves its engine's profile lacks and prices with others' (class:type, "
        "comma-separated); empty: every kernel measured."
    )
    w_bits: int
    kv_bits: int
    replicas: int
    devices: int
    batch_limit: int
    replica_capacity: float
    ttft: float
    tpot: Number = Field(
        description="None where each answer is one token (no gaps between tokens)."
    )
    e2e: float
    hourly_price: Number
    cost_per_hour: Number
    cost_per_million: Number
    energy_per_million: Number
    binds: str
    pareto: bool
    simulated_ttft: Number = None
    simulated_tpot: Number = None
    verified: bool | None = None
    explanation: str


class SetupPoint(BaseModel):
    device: str
    tp: int
    pp: int
    experts: str
    weights: str
    w_bits: int
    kv_bits: int
    cost_per_million: Number
    e2e: float
    pareto: bool


class Rejection(BaseModel):
    reason: str
    count: int
    example: str


class AdviseOut(BaseModel):
    model: str
    rank: str
    estimate: str = Field(
        description="What priced every setup: an engine's fitted profiles, or the roofline bound."
    )
    screened: int
    feasible: int
    picks: list[Pick]
    verify_requests: int = Field(
        description="Requests each confirming simulation served (0: none ran): the CLI's "
        "1,000, or fewer for long answers within the viewer's cap."
    )
    points: list[SetupPoint] = Field(description="Every feasible setup, for the Pareto plot.")
    rejected: list[Rejection]
    validation: dict[str, str] = Field(
        description="Per device among the picks, how far the engine's forecasts there fell "
        "from its measured runs (as a simulation's `validation`); empty for roofline bounds."
    )


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    message: str = Field(description="The first error: field, value and what is accepted.")
    detail: list[ErrorItem]


class JobOut(BaseModel):
    """A background run: `done` of `total` steps of its current `phase`; `result` is the
    answer of POST /api/simulate or /api/advise once `status` is done, `error` a 422's body
    once it failed."""

    id: str
    kind: Literal["simulate", "capacity", "advise"]
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    phase: str
    done: int
    total: int
    elapsed: float = Field(description="Seconds since the job started, or until it finished.")
    result: dict[str, Any] | None = None
    error: ErrorOut | None = None
