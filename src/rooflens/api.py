"""The Python API: names and paths in, analyses out. Adapts user input to the pure core."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from rooflens.calibration.profile import bundled_profiles, load_profile
from rooflens.core import analysis as _core
from rooflens.core.analysis import default_prompt_len, speculative_room
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.core.results import Analysis, Footprint
from rooflens.core.speculative import ACCEPTANCE, DRAFT_TOKENS, SpeculativeEstimate
from rooflens.core.speculative import speculative as _speculative
from rooflens.core.validation import positive_int_array
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model
from rooflens.settings import Settings, parse_settings

if TYPE_CHECKING:
    import pandas as pd

    from rooflens.serving.config import SchedulerConfig

ModelLike = str | os.PathLike[str] | ModelSpec
DeviceLike = str | os.PathLike[str] | Device


def resolve_model(model: ModelLike, field: str = "model") -> ModelSpec:
    """A ModelSpec, or one loaded by name (an error names `field`: the model or its drafter)."""
    return model if isinstance(model, ModelSpec) else load_model(model, field)


def resolve_device(hardware: DeviceLike, field: str = "hardware") -> Device:
    """A Device, or one named (an error names `field`, the setting it was given as)."""
    return hardware if isinstance(hardware, Device) else get_device(hardware, field)


def resolve_calibration(calibration: object, device: Device) -> EfficiencyProfile | None:
    """None (roofline bound), "auto" (the device's bundled profile), a bundled profile name, a
    TOML file, or an EfficiencyProfile; one measured on another device than `device` says so
    in its label (`applied_to`)."""
    profile = _calibration(calibration, device)
    # Always this device: a profile resolved for another one (or a file naming one) carries
    # no stale name.
    return None if profile is None else profile.model_copy(update={"applied_to": device.name})


def _calibration(calibration: object, device: Device) -> EfficiencyProfile | None:
    if calibration is None or isinstance(calibration, EfficiencyProfile):
        return calibration
    if isinstance(calibration, str) and calibration.lower() == "auto":
        if device.calibration is None:
            raise InvalidInputError(
                "calibration",
                "auto",
                f"a device with a bundled profile ({', '.join(sorted(bundled_profiles()))}); "
                f"{device.name} has none: run `rooflens calibrate` on it",
            )
        return load_profile(device.calibration)
    return load_profile(str(calibration))


def make_options(**settings: object) -> AnalysisOptions:
    """The core's options from settings (see `rooflens.settings.Settings`); a bad value raises
    InvalidInputError naming the setting. Pruning and hardware what-ifs change the model and
    the device, not the options: give those to `analyze`, `sweep` or `simulate`."""
    profile = settings.pop("calibration", None)
    if profile is not None and not isinstance(profile, EfficiencyProfile):
        raise InvalidInputError(
            "calibration", profile, "a loaded EfficiencyProfile (names and files need a device)"
        )
    parsed = parse_settings(settings)
    for name in (*PRUNE, *WHAT_IF):
        if getattr(parsed, name) != Settings.model_fields[name].default:
            raise InvalidInputError(
                name, getattr(parsed, name), "a model/device setting: give it to analyze"
            )
    for name in ("engine", "engine_version"):
        # An engine's profile is fitted per device: options without one would carry its
        # fusions alone and price the roofline bound under its name.
        if getattr(parsed, name) is not None:
            raise InvalidInputError(
                name, getattr(parsed, name), "none here (an engine needs a device: analyze)"
            )
    return parsed.analysis_options(profile)


# Settings that change the model or the device rather than the core's options.
PRUNE = ("prune_heads", "prune_width", "prune_depth")
WHAT_IF = ("scale_bandwidth", "scale_compute", "scale_capacity", "compute_cap")


def resolve(
    model: ModelLike,
    hardware: DeviceLike,
    settings: Mapping[str, object] | Settings,
    keywords: tuple[str, ...] = (),
) -> tuple[ModelSpec, Device, AnalysisOptions]:
    """The model (pruned, and its recurrent state as wide, as asked), the device (with what-ifs
    applied) and the core's options, from the settings every entry point takes (`keywords`:
    the entry's own, which an unknown setting's "did you mean" offers too)."""
    parsed = parse_settings(settings, keywords)
    device = parsed.what_if(resolve_device(hardware))
    spec = parsed.served(resolve_model(model))
    return spec, device, options_for(parsed, spec, device)


def options_for(settings: Settings, spec: ModelSpec, device: Device) -> AnalysisOptions:
    """The core's options for `spec` on `device`: the settings with their profile (an
    engine's, a calibration, or none) and, with an engine, the activations its scheduler
    sets aside at its scheduler's defaults (with_activation_reserve)."""
    options = settings.analysis_options(resolve_profile(settings, device), spec)
    options = with_prefill_graphs(options, settings, spec, device)
    from rooflens.serving.presets import PRESETS, preset_for  # serving builds on this module

    if settings.engine not in PRESETS:
        return options  # no engine, or one (transformers, torch.compile) without a scheduler
    return with_activation_reserve(options, preset_for(settings.engine, device))


def with_prefill_graphs(
    options: AnalysisOptions,
    settings: Settings,
    spec: ModelSpec,
    device: Device,
    drafting: bool = False,
    disaggregated: bool = False,
    scheduler: SchedulerConfig | None = None,
) -> AnalysisOptions:
    """`options` with the engine's prefill CUDA graphs as its release runs them for `spec`
    at this layout (`rooflens.engines.prefill_graph_tokens`; a larger iteration runs
    eagerly), unless the settings give them; `drafting`, `disaggregated` and `scheduler`:
    what the serving simulator's scheduler and cluster add (None: the engine's preset)."""
    if settings.engine is None or settings.prefill_graph_tokens is not None:
        return options
    from rooflens.engines import prefill_graph_tokens, prefill_graphs_note

    par = options.parallelism
    deployment = {
        "drafting": drafting, "disaggregated": disaggregated,
        "attention_dp": par.expert_token_groups > 1, "pipeline": par.pp > 1,
    }  # fmt: skip
    default = prefill_graph_tokens(
        settings.engine, device, settings.engine_version, spec, scheduler=scheduler, **deployment
    )
    # Why the release runs none, for the estimate's fallback line.
    note = (
        prefill_graphs_note(settings.engine, device, settings.engine_version, spec, **deployment)
        if default == 0
        else None
    )
    return options.model_copy(update={"prefill_graph_tokens": default, "prefill_graph_note": note})


def with_activation_reserve(
    options: AnalysisOptions, scheduler: SchedulerConfig
) -> AnalysisOptions:
    """`options` holding the memory `scheduler` sets aside: the activations of one iteration
    of its token budget, or a whole prompt where it runs long prompts whole (AnalysisOptions'
    activation_reserve_tokens; the simulator's replica reserves the same), KV blocks for
    vLLM's padded layer groups where its `kv_groups` is on, and SGLang's pool of recurrent
    states where its `state_pool` is (as the replica holds them)."""
    from rooflens.engines import sglang
    from rooflens.engines.vllm import GROUP_SLACK

    # A batch limit given (no request pool sized for it) is SGLang's max_running_requests.
    given = None if scheduler.request_pool else scheduler.max_batch
    return options.model_copy(
        update={
            "activation_reserve_tokens": scheduler.iteration_tokens,
            "reserve_whole_prompts": scheduler.whole_prompts,
            "kv_group_slack": GROUP_SLACK if scheduler.kv_groups else None,
            "state_pool": sglang.pool(scheduler.prefix_sharing, given)
            if scheduler.state_pool
            else None,
        }
    )


def resolve_profile(settings: Settings, device: Device) -> EfficiencyProfile | None:
    """The profile that turns bounds into estimates: the engine's fitted on this catalog
    device, else the calibration asked for, else none (the roofline bound). A what-if or
    overridden device is not the one measured: like `calibration="auto"`, an engine then
    names the devices it has a profile for."""
    if settings.engine is not None:
        from rooflens.engines import load_engine_profile

        for name in WHAT_IF:
            if getattr(settings, name) != Settings.model_fields[name].default:
                raise InvalidInputError(
                    name,
                    getattr(settings, name),
                    f"{Settings.model_fields[name].default or 'empty'} with an engine: its "
                    "profile was measured on the catalog device, not on a what-if of it (the "
                    "roofline bound, without an engine, takes what-ifs)",
                )
        return load_engine_profile(
            settings.engine, device.name, settings.engine_version, settings.tp, settings.pp
        )
    return resolve_calibration(settings.calibration, device)


# Each entry's own keywords besides the settings (its signature's, which a test holds them
# to): a misspelt one arrives among the settings, and its refusal offers these too.
ANALYZE_KEYWORDS = ("batch", "prompt_len", "gen_len", "images")
SWEEP_KEYWORDS = ("batch", "prompt_len", "gen_len", "images")
SPECULATE_KEYWORDS = (
    "gamma", "alpha", "draft", "medusa_heads", "mtp", "tree_width", "batch", "context",
)  # fmt: skip


def analyze(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    batch: object = 1,
    prompt_len: object | None = None,
    gen_len: object | None = None,
    images: object = 0,
    **options: object,
) -> Analysis:
    """Roofline analysis of `model` on `hardware`.

    `images`: images per request for a multimodal model (its vision encoder runs as a stage
    of its own, `steps["vision"]`, before the prefill, which reads the images' tokens).

    `model`: a bundled Hugging Face id, a config.json or model folder, a Hub id, or a ModelSpec.
    `hardware`: a catalog name or alias, a device TOML file, or a Device.
    Sizes may be arrays, which broadcast; the prompt defaults to 2048 tokens or what the
    model's context leaves after the generation. `options` are the settings declared in
    `rooflens.settings.Settings` (precision, attention, parallelism, KV cache, offload,
    sparsity, pruning, kernels, calibration, hardware what-ifs), validated as declared there.
    """
    spec, device, opts = resolve(model, hardware, options, ANALYZE_KEYWORDS)
    if prompt_len is None:
        prompt_len = default_prompt_len(spec, gen_len)
    return _core.analyze(
        spec,
        device,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        options=opts,
        images=images,
    )


# A sweep holds every operator's fields at every point (a few kB a point): a million points
# is already gigabytes.
MAX_SWEEP_POINTS = 1_000_000
MAX_AXIS_VALUES = 100_000


def peak_footprint(
    model: ModelSpec,
    device: Device,
    options: AnalysisOptions,
    *,
    prompt_len: int,
    gen_len: int,
    batch: int = 1,
) -> Footprint:
    """What "fits" means in every view (docs/model.md, "Fits"): the memory per device at
    the peak of a whole generation of `batch` requests of `prompt_len` + `gen_len` tokens (the
    last step's context with the larger of prefill's and decode's activations), with the
    largest batch of such requests that fits. The simulator asks it of its workload's largest
    request, the advisor of its target's."""
    return _core.analyze(
        model, device, batch=batch, prompt_len=prompt_len, gen_len=gen_len, options=options
    ).peak_memory


def operator_columns(result: Analysis) -> dict[str, list[object]]:
    """Analysis.operators() as columns of Python values, without pandas (the CLI's table and
    the web's rows: building a frame cost as much as the analysis)."""
    return result.operator_columns()


def operator_rows(result: Analysis) -> list[dict[str, object]]:
    """operator_columns as one dict per operator."""
    columns = operator_columns(result)
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def check_distinct(name: str, axis: np.ndarray) -> None:
    """Refuse an axis that gives a value twice: a sweep has one row per point, and its head
    lists each axis' distinct values (docs/output.md), which a repeated row would belie."""
    values, counts = np.unique(axis, return_counts=True)
    if (counts > 1).any():
        repeated = [int(v) for v in values[counts > 1]]
        raise InvalidInputError(name, repeated, "each value once (a sweep has one row per point)")


def check_sweep_size(axes: list[np.ndarray]) -> None:
    """Refuse a sweep whose grid is over MAX_SWEEP_POINTS points, naming its size."""
    points = int(np.prod([a.size for a in axes], dtype=np.float64))
    if points > MAX_SWEEP_POINTS:
        shape = " x ".join(str(a.size) for a in axes)
        raise InvalidInputError(
            "sweep", f"{shape} = {points} points", f"at most {MAX_SWEEP_POINTS} points"
        )


def sweep(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    batch: object = 1,
    prompt_len: object | None = None,
    gen_len: object | None = None,
    images: object = 0,
    **options: object,
) -> pd.DataFrame:
    """Every combination of the given batch sizes, prompt and generation lengths, in one
    vectorized pass: one row per point with stage totals, memory and generation figures. The
    prompt defaults as `analyze`'s: 2048 tokens, or what the model's context leaves; `images`
    per request as `analyze` takes them."""
    # Checked before the axes are read: a misspelt keyword is refused first, offered these.
    parse_settings(options, SWEEP_KEYWORDS)
    if prompt_len is None:
        prompt_len = default_prompt_len(resolve_model(model), gen_len)
    axes = [positive_int_array("batch", batch), positive_int_array("prompt_len", prompt_len)]
    if gen_len is not None:
        axes.append(positive_int_array("gen_len", gen_len))
    for name, axis in zip(("batch", "prompt_len", "gen_len"), axes, strict=False):
        check_distinct(name, axis)
    check_sweep_size(axes)
    grids = np.meshgrid(*(a.reshape(-1) for a in axes), indexing="ij")
    result = analyze(
        model,
        hardware,
        batch=grids[0],
        prompt_len=grids[1],
        gen_len=grids[2] if gen_len is not None else None,
        images=images,
        **options,
    )
    return result.summary()


# The context `speculate` prices at when none is given.
SPECULATION_CONTEXT = 1024


def speculation_context_default(model: ModelSpec, gamma: object, options: dict) -> int:
    """SPECULATION_CONTEXT, or what the model's positions leave beside a step's `gamma`
    drafts (GPT-2's 1,024 leave 1,018 at 4), unless long contexts are allowed."""
    if options.get("allow_long_context") or not isinstance(gamma, numbers.Integral) or gamma < 1:
        return SPECULATION_CONTEXT  # (a bad gamma is refused where it is read)
    return max(1, min(SPECULATION_CONTEXT, speculative_room(model, gamma)))


def speculate(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    gamma: int = DRAFT_TOKENS,
    alpha: float = ACCEPTANCE,
    draft: ModelLike | None = None,
    medusa_heads: bool = False,
    mtp: bool = False,
    tree_width: int = 1,
    batch: object = 1,
    context: object = None,
    **options: object,
) -> SpeculativeEstimate:
    """Speculative decoding of `model` with a `draft` model, `gamma` Medusa heads or its own
    MTP modules (`mtp=True`): tokens per target step, time per token and speed-up over plain
    decoding (docs/techniques.md). `gamma` and `alpha` default to the command's 4 and 0.85
    (DeepSeek-V3's reported MTP acceptance). `context` defaults to 1,024 tokens, or what the model's
    positions leave beside a step's drafts."""
    spec, device, opts = resolve(model, hardware, options, SPECULATE_KEYWORDS)
    if context is None:
        context = speculation_context_default(spec, gamma, options)
    return _speculative(
        spec,
        device,
        gamma=gamma,
        alpha=alpha,
        draft=None if draft is None else resolve_model(draft, "draft"),
        medusa_heads=medusa_heads,
        mtp=mtp,
        tree_width=tree_width,
        batch=batch,
        context=context,
        options=opts,
    )
