"""The Python API: names and paths in, analyses out. Adapts user input to the pure core."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError

from rooflens.calibration.profile import bundled_profiles, load_profile
from rooflens.core import analysis as _core
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions, Conventions, Parallelism, Quantization
from rooflens.core.results import Analysis
from rooflens.core.speculative import SpeculativeEstimate
from rooflens.core.speculative import speculative as _speculative
from rooflens.core.validation import positive_int_array
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model

ModelLike = str | os.PathLike[str] | ModelSpec
DeviceLike = str | os.PathLike[str] | Device
ConventionName = Literal["rooflens", "llm-viewer"]


def resolve_model(model: ModelLike) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else load_model(model)


def resolve_device(hardware: DeviceLike) -> Device:
    return hardware if isinstance(hardware, Device) else get_device(hardware)


def _nm(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None or isinstance(value, tuple):
        return value
    n, sep, m = str(value).partition(":")
    if not (sep and n.isdigit() and m.isdigit()):
        raise InvalidInputError("nm_sparsity", value, "N:M like 2:4")
    return int(n), int(m)


def _low_rank(ratio: float | None, layers: str | tuple[str, ...] | None) -> dict[str, object]:
    if ratio is None:
        return {}
    if not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise InvalidInputError("low_rank_ratio", ratio, "a share in (0, 1]")
    out: dict[str, object] = {"low_rank_ratio": float(ratio)}
    if layers is not None:
        names = tuple(x.strip() for x in layers.split(",")) if isinstance(layers, str) else layers
        out["low_rank_layers"] = names
    return out


def _positive(field: str, value: float | None) -> float | None:
    if value is not None and (not isinstance(value, int | float) or value <= 0):
        raise InvalidInputError(field, value, "a positive number of bytes/s")
    return value


FUSIONS = ("qkv", "gate_up", "act", "add_norm", "flash_decoding")


def _fusion(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = tuple(x.strip() for x in value.split(",")) if isinstance(value, str) else value
    if names == ("all",):
        return FUSIONS
    unknown = [n for n in names if n not in FUSIONS]
    if unknown:
        raise InvalidInputError("fusion", value, f"'all' or any of {', '.join(FUSIONS)}")
    return names


def _early_exit(depth: float, width: int) -> dict[str, object]:
    if not isinstance(depth, int | float) or not 0 < depth <= 1:
        raise InvalidInputError("early_exit_depth", depth, "a share of the layers in (0, 1]")
    if not isinstance(width, int) or width < 1:
        raise InvalidInputError("exit_classifier_width", width, "a positive integer")
    return {"early_exit_depth": float(depth), "exit_classifier_width": width}


def _contextual(heads: float, neurons: float, rank: int) -> dict[str, object]:
    for field, share in (("active_heads", heads), ("active_neurons", neurons)):
        if not isinstance(share, int | float) or not 0 < share <= 1:
            raise InvalidInputError(field, share, "a share in (0, 1]")
    if not isinstance(rank, int) or rank < 1:
        raise InvalidInputError("predictor_rank", rank, "a positive integer")
    return {"active_heads": float(heads), "active_neurons": float(neurons), "predictor_rank": rank}


PRUNE = ("prune_heads", "prune_width", "prune_depth")


def prune(model: ModelSpec, options: dict[str, object]) -> ModelSpec:
    """Apply (and remove from `options`) structured pruning."""
    shares = {
        name: float(options.pop(name))
        for name in PRUNE  # type: ignore[arg-type]
        if options.get(name) is not None
    }
    return model.pruned(
        heads=shares.get("prune_heads", 0.0),
        width=shares.get("prune_width", 0.0),
        depth=shares.get("prune_depth", 0.0),
    )


WHAT_IF = ("scale_bandwidth", "scale_compute", "scale_capacity", "compute_cap")


def what_if(device: Device, options: dict[str, object]) -> Device:
    """Apply (and remove from `options`) hardware what-if settings."""
    scales = {name: options.pop(name) for name in WHAT_IF if name in options}
    return device.what_if(
        bandwidth=float(scales.get("scale_bandwidth", 1.0)),  # type: ignore[arg-type]
        compute=float(scales.get("scale_compute", 1.0)),  # type: ignore[arg-type]
        capacity=float(scales.get("scale_capacity", 1.0)),  # type: ignore[arg-type]
        compute_cap=scales.get("compute_cap"),  # type: ignore[arg-type]
    )


def resolve_calibration(calibration: object, device: Device) -> EfficiencyProfile | None:
    """None (roofline bound), "auto" (the device's bundled profile), a bundled profile name, a
    TOML file, or an EfficiencyProfile."""
    if calibration is None or isinstance(calibration, EfficiencyProfile):
        return calibration
    if calibration == "auto":
        if device.calibration is None:
            raise InvalidInputError(
                "calibration",
                "auto",
                f"a device with a bundled profile ({', '.join(sorted(bundled_profiles()))}); "
                f"{device.name} has none: run `rooflens calibrate` on it",
            )
        return load_profile(device.calibration)
    return load_profile(str(calibration))


def make_options(
    *,
    w_bits: int = 16,
    a_bits: int = 16,
    kv_bits: int = 16,
    group_size: int | None = None,
    w_format: str = "int",
    sparsity: float = 0.0,
    sparse_kernel: bool = False,
    nm_sparsity: str | tuple[int, int] | None = None,
    low_rank_ratio: float | None = None,
    low_rank_layers: str | tuple[str, ...] | None = None,
    flash_attention: bool = False,
    conventions: ConventionName = "rooflens",
    allow_long_context: bool = False,
    calibration: EfficiencyProfile | None = None,
    execution: str = "graphs",
    tp: int = 1,
    ep: int = 1,
    pp: int = 1,
    dp: int = 1,
    micro_batches: int = 1,
    link_bandwidth: float | None = None,
    link_latency: float | None = None,
    kv_budget: int | None = None,
    kv_policy: str = "h2o",
    prompt_keep: float = 1.0,
    offload_weights: bool = False,
    offload_kv: bool = False,
    offload_disk_bandwidth: float | None = None,
    fusion: str | tuple[str, ...] = (),
    early_exit_depth: float = 1.0,
    exit_classifier_width: int = 1,
    active_heads: float = 1.0,
    active_neurons: float = 1.0,
    predictor_rank: int = 1024,
) -> AnalysisOptions:
    """Build validated options; a bad value raises InvalidInputError naming the field."""
    if conventions not in ("rooflens", "llm-viewer"):
        raise InvalidInputError("conventions", conventions, "'rooflens' or 'llm-viewer'")
    if execution not in ("graphs", "eager"):
        raise InvalidInputError("execution", execution, "'graphs' or 'eager'")
    if kv_policy not in ("h2o", "streaming"):
        raise InvalidInputError("kv_policy", kv_policy, "'h2o' or 'streaming'")
    if kv_budget is not None and (
        isinstance(kv_budget, bool) or not isinstance(kv_budget, int) or kv_budget < 1
    ):
        raise InvalidInputError("kv_budget", kv_budget, "a positive integer number of tokens")
    if not isinstance(prompt_keep, int | float) or not 0 < prompt_keep <= 1:
        raise InvalidInputError("prompt_keep", prompt_keep, "a share in (0, 1]")
    try:
        quant = Quantization(
            w_bits=w_bits,
            a_bits=a_bits,
            kv_bits=kv_bits,
            group_size=group_size,
            w_format=w_format,
            sparsity=sparsity,
            sparse_kernel=bool(sparse_kernel),
            nm_sparsity=_nm(nm_sparsity),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a rule across fields: format, bit-widths, sparsity
            message = err["msg"].removeprefix("Value error, ")
            field = "nm_sparsity" if "sparsity" in message else "w_format"
            value = nm_sparsity if field == "nm_sparsity" else w_format
            raise InvalidInputError(field, value, message) from None
        field = str(err["loc"][0])
        accepted = {
            "w_format": "one of int, fp, nf4, mxfp4",
            "sparsity": "a share in [0, 1)",
            "sparse_kernel": "true or false",
        }.get(
            field,
            "one of 32, 16, 8, 4, 3, 2, 1" if field.endswith("bits") else "a positive integer",
        )
        raise InvalidInputError(field, err.get("input"), accepted) from None
    conv = Conventions.llm_viewer() if conventions == "llm-viewer" else Conventions()
    try:
        par = Parallelism(
            tp=tp,
            ep=ep,
            pp=pp,
            dp=dp,
            micro_batches=micro_batches,
            link_bandwidth=link_bandwidth,
            link_latency=link_latency,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInputError(str(err["loc"][0]), err.get("input"), err["msg"].lower()) from None
    return AnalysisOptions(
        quantization=quant,
        flash_attention=bool(flash_attention),
        conventions=conv,
        allow_long_context=bool(allow_long_context),
        calibration=calibration,
        execution=execution,  # type: ignore[arg-type]
        parallelism=par,
        kv_budget=kv_budget,
        kv_policy=kv_policy,  # type: ignore[arg-type]
        prompt_keep=float(prompt_keep),
        offload_weights=bool(offload_weights),
        offload_kv=bool(offload_kv),
        offload_disk_bandwidth=_positive("offload_disk_bandwidth", offload_disk_bandwidth),
        **_low_rank(low_rank_ratio, low_rank_layers),
        fusion=_fusion(fusion),
        **_early_exit(early_exit_depth, exit_classifier_width),
        **_contextual(active_heads, active_neurons, predictor_rank),
    )


def resolve(
    model: ModelLike, hardware: DeviceLike, options: dict[str, object]
) -> tuple[ModelSpec, Device, AnalysisOptions]:
    """The model (pruned as asked), the device (with what-ifs applied) and validated options,
    from the keyword options every entry point takes."""
    device = what_if(resolve_device(hardware), options)
    options["calibration"] = resolve_calibration(options.get("calibration"), device)
    spec = prune(resolve_model(model), options)
    return spec, device, make_options(**options)  # type: ignore[arg-type]


def analyze(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    batch: object = 1,
    prompt_len: object = 2048,
    gen_len: object | None = None,
    images: object = 0,
    **options: object,
) -> Analysis:
    """Roofline analysis of `model` on `hardware`.

    `images`: images per request for a multimodal model (its vision encoder runs as a stage
    of its own, `steps["vision"]`, before the prefill, which reads the images' tokens).

    `model`: a bundled Hugging Face id, a config.json or model folder, a Hub id, or a ModelSpec.
    `hardware`: a catalog name or alias, a device TOML file, or a Device.
    Sizes may be arrays, which broadcast. Options: w_bits, a_bits, kv_bits, group_size,
    flash_attention, conventions ('rooflens' | 'llm-viewer'), allow_long_context,
    Hardware what-ifs: scale_bandwidth, scale_compute, scale_capacity, compute_cap.
    calibration (None: roofline bound; 'auto', a profile name or file: calibrated estimate),
    execution ('graphs' | 'eager', for calibrated estimates), tp, pp, dp, micro_batches,
    link_bandwidth (bytes/s) and link_latency (s) for parallelism (default: a calibrated
    profile's fitted link, else the device's interconnect and 5 µs).
    """
    spec, device, opts = resolve(model, hardware, options)
    return _core.analyze(
        spec,
        device,
        batch=batch,
        prompt_len=prompt_len,
        gen_len=gen_len,
        options=opts,
        images=images,
    )


def sweep(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    batch: object = 1,
    prompt_len: object = 2048,
    gen_len: object | None = None,
    **options: object,
) -> pd.DataFrame:
    """Every combination of the given batch sizes, prompt and generation lengths, in one
    vectorized pass: one row per point with stage totals, memory and generation figures."""
    axes = [positive_int_array("batch", batch), positive_int_array("prompt_len", prompt_len)]
    if gen_len is not None:
        axes.append(positive_int_array("gen_len", gen_len))
    grids = np.meshgrid(*(a.reshape(-1) for a in axes), indexing="ij")
    result = analyze(
        model,
        hardware,
        batch=grids[0],
        prompt_len=grids[1],
        gen_len=grids[2] if gen_len is not None else None,
        **options,
    )
    return result.summary()


def speculate(
    model: ModelLike,
    hardware: DeviceLike,
    *,
    gamma: int,
    alpha: float,
    draft: ModelLike | None = None,
    medusa_heads: bool = False,
    mtp: bool = False,
    tree_width: int = 1,
    batch: object = 1,
    context: object = 1024,
    **options: object,
) -> SpeculativeEstimate:
    """Speculative decoding of `model` with a `draft` model, `gamma` Medusa heads or its own
    MTP modules (`mtp=True`): tokens per target step, time per token and speed-up over plain
    decoding (docs/techniques.md)."""
    spec, device, opts = resolve(model, hardware, options)
    return _speculative(
        spec,
        device,
        gamma=gamma,
        alpha=alpha,
        draft=None if draft is None else resolve_model(draft),
        medusa_heads=medusa_heads,
        mtp=mtp,
        tree_width=tree_width,
        batch=batch,
        context=context,
        options=opts,
    )
