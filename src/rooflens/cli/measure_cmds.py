"""`rooflens measure` and `rooflens calibrate`: run on real hardware (the `measure` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rooflens.api import resolve_calibration, resolve_device
from rooflens.calibration.profile import PROFILE_SUFFIXES
from rooflens.cli import format as fmt
from rooflens.cli.common import (
    CalibrationOpt,
    FormatOpt,
    ModelArg,
    OutputFormat,
    _clean_errors,
    _console,
    app,
    err_console,
    file_name,
    writable_folder,
)
from rooflens.core.analysis import prompt_room
from rooflens.core.efficiency import EfficiencyProfile
from rooflens.core.errors import InvalidInputError, RooflensError, known_names
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.hardware.catalog import catalog_name
from rooflens.models.catalog import resolve_config
from rooflens.models.config import spec_from_config
from rooflens.settings import engine_name

DeviceOpt = Annotated[str, typer.Option("--device", help="Where to run: 'cuda' or 'cpu'.")]
TPOpt = Annotated[
    int | None,
    typer.Option(
        "--tp", help="Devices to spread over, one process each (NCCL on GPUs, gloo on CPUs)."
    ),
]
HardwareOpt = Annotated[
    str | None,
    typer.Option(
        "--hardware",
        "-H",
        help="The catalog device (or TOML file) this is; default: from the GPU's name.",
    ),
]


class MeasureExtraMissing(RooflensError):
    pass


def _torch(device: str) -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        raise MeasureExtraMissing(
            "measuring needs torch and transformers: pip install 'rooflens[measure]'"
        ) from None
    _check_device_name(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device", device, "'cpu' here: PyTorch sees no CUDA device")
    return torch


def _check_device_name(device: str) -> None:
    # Apart from probing for CUDA: a misspelt device is named on any machine, at once.
    if device not in ("cuda", "cpu"):
        raise InvalidInputError("--device", device, "'cuda' or 'cpu'")


def _output_file(option: str, path: Path | None, *suffixes: str) -> None:
    """Before any run: a file the run ends by writing takes one of its suffixes and an
    existing folder (a run of minutes would otherwise be lost at its last step)."""
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise InvalidInputError(option, str(path), f"a file ending in {' or '.join(suffixes)}")
    writable_folder(option, path)


def _check_sizes(batch: int, prompt_len: int, gen_len: int) -> None:
    for field, value in (("--batch", batch), ("--prompt-len", prompt_len), ("--gen-len", gen_len)):
        if value < 1:
            raise InvalidInputError(field, value, "a positive integer")


def _check_context(spec: ModelSpec, prompt_len: int, gen_len: int) -> None:
    """The run's positions within the model's: past them its position table has no row (an
    IndexError deep in the model) and the analysis beside the run refuses them anyway. The
    run's last step feeds position prompt_len + gen_len - 2 (prompt_len for one generated
    token), the same rule as `rooflens.core.analysis._check_context`."""
    room = prompt_room(spec, gen_len)
    if prompt_len <= room:
        return
    context = f"a context of at most {spec.max_positions} tokens (max positions of {spec.name})"
    if room >= 1:
        raise InvalidInputError(
            "--prompt-len", prompt_len, f"at most {room} tokens with --gen-len {gen_len}: {context}"
        )
    # Not even a one-token prompt fits beside this generation: the generation is what to cut.
    most = spec.max_positions
    raise InvalidInputError(
        "--gen-len", gen_len, f"at most {most} tokens beside a 1-token prompt: {context}"
    )


def _named_device(device: str, hardware: str | None) -> Device | None:
    """The device -H names (a catalog read, no torch), or None where the GPU's own name tells
    it once torch is imported."""
    if hardware is not None:
        return resolve_device(hardware)
    if device == "cpu":
        raise InvalidInputError("--hardware", None, "a catalog device or TOML file for a CPU run")
    return None


def _device_spec(device: str, hardware: str | None) -> Device:
    named = _named_device(device, hardware)
    if named is not None:
        return named
    import torch

    from rooflens.measure.validate import catalog_device

    return catalog_device(torch.cuda.get_device_name(0))


@app.command()
@_clean_errors
def measure(
    model: ModelArg,
    device: DeviceOpt = "cuda",
    hardware: HardwareOpt = None,
    batch: Annotated[int, typer.Option(help="Sequences per step.")] = 1,
    prompt_len: Annotated[int, typer.Option(help="Prompt tokens.")] = 512,
    gen_len: Annotated[int, typer.Option(help="Generated tokens.")] = 128,
    calibration: CalibrationOpt = "auto",
    output: FormatOpt = OutputFormat.table,
    out: Annotated[
        Path | None, typer.Option("-o", help="Also write the JSON here.", parser=file_name)
    ] = None,
    tp: TPOpt = None,
    compiled: Annotated[
        bool, typer.Option(help="Steps through torch.compile (reduce-overhead); not with --tp.")
    ] = False,
) -> None:
    """Run MODEL on this machine (random weights, or the checkpoint in a local model folder)
    and print measured beside predicted: whole steps eager and from CUDA graphs, TTFT/TPOT,
    peak memory, and every operator alone. With --tp N: the model sharded over N devices (one
    process each) and the collectives between them instead of the operators."""
    # Every argument, the output file and the model (a config read) are checked before torch
    # is imported or the device probed: bad input is named as itself on any machine, not as a
    # missing CUDA device, and before a model is built or a run of minutes is spent.
    _check_device_name(device)
    _check_sizes(batch, prompt_len, gen_len)
    if calibration is not None and not calibration.strip():
        calibration = None  # empty: the roofline bound alone, as the option's help says
    if tp is not None and tp < 1:
        raise InvalidInputError("--tp", tp, "a positive integer: one process per device")
    if compiled and tp is not None:
        raise InvalidInputError("--compiled", True, "a run without --tp")
    _output_file("-o", out, ".json")
    named = _named_device(device, hardware)
    _check_cpu_named(device, named, hardware)
    config, name = resolve_config(model)
    spec = spec_from_config(config, name=name)
    _check_context(spec, prompt_len, gen_len)
    if named is not None:
        _priced_with_flash(named, hardware)  # before torch is imported or the device probed
    _torch(device)
    spec_device = named if named is not None else _device_spec(device, hardware)
    _priced_with_flash(spec_device, hardware)
    from rooflens.measure.session import measure as run_measure

    profile = None
    if calibration is not None and not (calibration == "auto" and spec_device.calibration is None):
        profile = resolve_calibration(calibration, spec_device)
    weights = _checkpoint_folder(model)
    if tp is not None:
        result = _measure_tp(
            config, spec, device, spec_device, (batch, prompt_len, gen_len), profile, tp, weights
        )
    else:
        result = run_measure(
            config,
            spec,
            device,
            spec_device,
            batch,
            prompt_len,
            gen_len,
            profile,
            weights,
            compiled,
        )
    if out is not None:
        out.write_text(fmt.to_json(result))  # the commands' one writer: no NaN, no Infinity
    if output is OutputFormat.json:
        typer.echo(fmt.to_json(result), nl=False)
        return
    if output is OutputFormat.csv:
        import pandas as pd

        typer.echo(pd.DataFrame(result["rows"]).to_csv(index=False), nl=False)
        return
    _print_rows(result)


def _priced_with_flash(device: Device, hardware: str | None) -> None:
    """The run is priced with FlashAttention afterwards (measure.validate.FLASH), whose tiles
    take the device's on-chip memory: refused up front (it was refused after the run, minutes
    later, naming a setting never given)."""
    if device.onchip_memory_per_unit is None:
        raise InvalidInputError(
            "-H",
            hardware or device.name,
            "a device with onchip_memory_per_unit (the run is priced with FlashAttention, "
            "whose tiles it sizes)",
        )


def _measure_tp(
    config: dict[str, Any],
    spec: ModelSpec,
    device: str,
    spec_device: Device,
    sizes: tuple[int, int, int],
    profile: EfficiencyProfile | None,
    tp: int,
    weights: str | None,
) -> dict[str, Any]:
    from rooflens.measure.parallel import check_model, check_world
    from rooflens.measure.session import measure_tp

    if weights is not None:
        raise InvalidInputError("--tp", tp, "a model built from its config (random weights)")
    check_world(device, tp)
    check_model(config, spec, spec_device, tp)
    return measure_tp(config, spec, device, spec_device, *sizes, profile, tp)


def _checkpoint_folder(model: str) -> str | None:
    """A local model folder holding weights: measure with them instead of random ones."""
    folder = Path(model)
    if folder.is_dir() and (any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))):
        return str(folder)
    return None


def _sizes_text(inputs: dict[str, int]) -> str:
    """'batch 1 · prompt 512 · 128 tokens generated', as `analyze`'s header gives sizes."""
    return (
        f"batch {inputs['batch']} · prompt {inputs['prompt_len']} · "
        f"{fmt.count(inputs['gen_len'], 'token')} generated"
    )


def _print_rows(result: dict[str, Any]) -> None:
    env = result["environment"]
    _console().print(
        f"{result['model']} on {env['device_name']} (driver {env.get('driver', '—')},"
        f" torch {env['torch']}, transformers {env['transformers']}) · "
        + _sizes_text(result["inputs"])
        + (f" · tp={result['tp']} over {env['backend']}" if "tp" in result else "")
    )
    if result.get("tp") == 1:
        _console().print("collectives over one device cross no link: their times are in the JSON")
    rows = []
    for r in result["rows"]:
        show = (lambda v: fmt.si(v, "B")) if r["unit"] == "B" else fmt.seconds
        calibrated = (
            "—"
            if r["calibrated"] is None
            else f"{show(r['calibrated'])} ({r['calibrated_error']:+.0%})"
        )
        rows.append(
            {
                "quantity": r["quantity"],
                "measured": show(r["measured"]),
                "roofline (error)": f"{show(r['roofline'])} ({r['roofline_error']:+.0%})",
                f"calibrated: {result['calibration'] or 'no profile'}": calibrated,
            }
        )
    import pandas as pd

    _console().print(fmt.frame_table(pd.DataFrame(rows), "measured vs predicted"))


def _calibrate_engine(
    system: str,
    engine: str,
    version: str | None,
    data_dir: Path | None,
    hardware: str | None,
    out: Path,
) -> None:
    from rooflens.calibration.aiconfigurator import (
        ENGINES,
        PACKAGE,
        SYSTEMS,
        TABLES_LAYOUT,
        data_root,
        fit_engine,
        package_version,
        systems_held,
    )
    from rooflens.calibration.profile import layers_path, save_profile

    # What the command line alone can tell is wrong, before the tables are looked for (a user
    # would otherwise install the package only to meet the next error).
    # The projects' spellings in any case (vLLM, TensorRT-LLM), as every --engine reads them.
    engine = str(engine_name(engine))
    if engine not in ENGINES:
        raise InvalidInputError("--engine", engine, f"one of {', '.join(ENGINES)} here")
    devices = {v: k for k, v in SYSTEMS.items()}
    typed = system
    # A catalog alias names its device ("h200" for h200-sxm), as -H reads it.
    system = SYSTEMS.get(catalog_name(system) or system, system)
    if data_dir is None and hardware is None and system not in devices:
        # Refused whatever the installed tables hold (a system rooflens does not know needs
        # --hardware): said before the package is looked for, which may not be installed.
        raise InvalidInputError(
            "--from-aiconfigurator",
            typed,
            known_names(typed, devices, "a system rooflens knows")
            + " (another system of the tables with --hardware naming its catalog device)",
        )
    root = data_root(data_dir)
    held = systems_held(root)
    if not held:
        where = "--data-dir" if data_dir is not None else "the installed tables"
        raise InvalidInputError(
            where,
            str(root),
            f"a folder of aiconfigurator tables, one folder per system ({TABLES_LAYOUT}, as "
            f"{PACKAGE}'s systems/data holds them): it holds none",
        )
    if system not in held:
        raise InvalidInputError(
            "--from-aiconfigurator", typed, known_names(typed, held, "a system the tables hold")
        )
    if hardware is None and system not in devices:
        raise InvalidInputError(
            "--hardware",
            None,
            f"the catalog device that system {system} is (rooflens knows: {', '.join(devices)})",
        )
    device = resolve_device(hardware or devices[system])
    if system in devices and device.name != devices[system]:
        # The tables time kernels on that GPU: read against another's peaks they would fit
        # fractions of a device they were never measured on.
        raise InvalidInputError(
            "--hardware",
            hardware,
            f"{devices[system]}, the device {system}'s tables were measured on (or left out)",
        )
    if "bf16" not in device.peak_ops:
        raise InvalidInputError(
            "--hardware", hardware, "a GPU with BF16 tensor cores, as the tables' systems are"
        )
    # About ten seconds: a spinner on a terminal (none when piped).
    with err_console.status(f"fitting the {engine} profile on {system}'s operator tables"):
        # Tables read from a folder of the user's are of no version the package can tell.
        source = (
            None
            if data_dir is None
            else f"{PACKAGE} tables read from {Path(data_dir) / system} (Apache-2.0; their "
            "package version not recorded)"
        )
        try:
            fit = fit_engine(root, system, engine, device, version, package_version(), source)
        except InvalidInputError as exc:
            if exc.field != "version":
                raise
            # Named by its flag, as the refusals above name theirs.
            raise InvalidInputError("--engine-version", exc.value, exc.accepted) from None
    save_profile(fit.profile, out)
    worst = max(
        (e["median"] for k, e in fit.held_out.items() if e["n"] and not k.startswith("coll")),
        default=float("nan"),
    )
    tables = sum(not k.startswith("moe-layers") for k in fit.held_out)
    layers = f" and {layers_path(out)}" if fit.profile.moe_layers else ""
    _console().print(
        f"wrote {out}{layers}: {engine} {fit.profile.engine_version} on {device.name} "
        f"({tables} operator tables; worst held-out median error {worst:.0%})"
    )


# The model whose real steps `calibrate` times where none is given.
DEFAULT_CALIBRATION_MODEL = "meta-llama/Llama-2-7b-hf"


@app.command()
@_clean_errors
def calibrate(
    device: DeviceOpt = "cuda",
    hardware: HardwareOpt = None,
    model: Annotated[
        str, typer.Option(help="Model whose real steps fit the framework overheads.")
    ] = DEFAULT_CALIBRATION_MODEL,
    out: Annotated[
        Path,
        typer.Option(
            "-o", help="Profile to write (.toml, or .json as rooflens ships).", parser=file_name
        ),
    ] = Path("profile.toml"),
    raw: Annotated[
        Path | None, typer.Option(help="Also keep the raw measurements (JSON).", parser=file_name)
    ] = None,
    collectives: Annotated[
        bool,
        typer.Option(
            "--collectives",
            help="Instead: time all-reduce, all-gather and all-to-all over --tp devices and "
            "add the fitted link bandwidth and latency to the --calibration profile.",
        ),
    ] = False,
    tp: TPOpt = None,
    calibration: Annotated[
        str,
        typer.Option(
            help="With --collectives: the profile the link is added to ('auto': the device's "
            "bundled one, a profile name or a TOML file)."
        ),
    ] = "auto",
    from_aiconfigurator: Annotated[
        str | None,
        typer.Option(
            "--from-aiconfigurator",
            help="Instead: fit an engine profile from aiconfigurator-core's operator "
            "databases of this system (h100_sxm, h200_sxm, b200_sxm, b300_sxm, gb200, gb300, "
            "or a catalog device name or alias).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="With --from-aiconfigurator: vllm (default), sglang or trtllm."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--engine-version",
            "--version",  # its first name, kept
            help="With --from-aiconfigurator: the engine version (default: newest), as "
            "--engine-version names it in the other commands.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="With --from-aiconfigurator: a systems/data folder to read instead."),
    ] = None,
) -> None:
    """Micro-benchmark this device, time a model's real steps, and fit an efficiency profile
    for `--calibration` (a few minutes on a GPU). With --collectives, fit the link between
    devices instead (one process per device). With --from-aiconfigurator, fit a serving
    engine's profile from measured operator tables instead (no GPU needed)."""
    # The files every mode ends by writing, checked before any of them runs (a profile is
    # read back by its suffix, and its MoE layers are named after its stem).
    _output_file("-o", out, *PROFILE_SUFFIXES)
    _output_file("--raw", raw, ".json")
    if from_aiconfigurator is not None:
        # (options with defaults count as given where they differ from them)
        other_mode = (
            ("--collectives", collectives or None),
            ("--tp", tp),
            ("--raw", raw),
            ("--device", None if device == "cuda" else device),
            ("--model", None if model == DEFAULT_CALIBRATION_MODEL else model),
            ("--calibration", None if calibration == "auto" else calibration),
        )
        for flag, value in other_mode:
            if value is not None:
                raise InvalidInputError(
                    flag, str(value), "left out with --from-aiconfigurator (it fits from tables)"
                )
        _calibrate_engine(from_aiconfigurator, engine or "vllm", version, data_dir, hardware, out)
        return
    only = (("--engine", engine), ("--engine-version", version), ("--data-dir", data_dir))
    for flag, value in only:
        if value is not None:
            raise InvalidInputError(flag, str(value), "only with --from-aiconfigurator")
    _check_device_name(device)
    if collectives:
        _torch(device)
        _calibrate_link(device, hardware, tp, calibration, out, raw)
        return
    if tp is not None:
        raise InvalidInputError("--tp", tp, "only with --collectives: the suite runs on one device")
    if calibration != "auto":
        raise InvalidInputError(
            "--calibration", calibration, "only with --collectives (the profile the link joins)"
        )
    # The device -H names and the model too before the device is probed (see `measure`).
    named = _named_device(device, hardware)
    _check_cpu_named(device, named, hardware)
    config, name = resolve_config(model)
    spec = spec_from_config(config, name=name)
    _torch(device)
    from rooflens.calibration.fit import fit_profile
    from rooflens.calibration.profile import save_profile
    from rooflens.measure.environment import describe
    from rooflens.measure.suite import run_suite
    from rooflens.measure.validate import measure_model

    spec_device = named if named is not None else _device_spec(device, hardware)
    grid = (
        {"batches": (1, 8, 32), "prompts": (128, 512, 2048), "contexts": (512, 2048, 8192)}
        if device == "cuda"
        else {"batches": (1, 2), "prompts": (16, 64), "contexts": (32, 128)}
    )
    data: dict[str, Any] = {
        "environment": describe(device),
        "hardware": spec_device.name,
        "suite": run_suite(device),
        "operators": [],
    }
    data["models"] = [measure_model(config, spec, device, spec_device, **grid)]
    if raw is not None:
        raw.write_text(json.dumps(data, indent=1))
    source = _kernel_level_profile(spec_device.name)
    if source is not None:
        # The device has a kernel-level profile: refine its kernels on this machine.
        from rooflens.calibration.fit_kernels import refine_profile

        profile = refine_profile(data, spec_device, spec, source)
        save_profile(profile, out)
        _console().print(
            f"wrote {out}: kernel {profile.kernel_time * 1e6:.2f} µs, framework kernels of "
            f"{source.device}, eager host {profile.eager_host_per_kernel * 1e6:.1f} µs per kernel"
        )
        return
    profile = fit_profile(data, spec_device, spec)
    save_profile(profile, out)
    _console().print(
        f"wrote {out}: kernel {profile.kernel_time * 1e6:.2f} µs, framework "
        f"{profile.graph_overhead_per_layer * 1e6:.1f} µs per layer, eager host "
        f"{profile.eager_host_per_layer * 1e6:.0f} µs per layer"
    )


def _check_cpu_named(device: str, named: Device | None, hardware: str | None) -> None:
    """What this machine's CPU runs describes a CPU, not the catalog's GPU named (a device
    file of one's own may describe this machine however it likes)."""
    if device == "cpu" and named is not None and named.kind == "gpu" and _in_catalog(named):
        raise InvalidInputError(
            "--hardware", hardware, "a CPU from the catalog with --device cpu (or --device cuda)"
        )


def _in_catalog(device: Device) -> bool:
    from rooflens.hardware.catalog import catalog

    return catalog().get(device.name) == device


def _kernel_level_profile(device: str) -> Any:
    """The device's bundled profile where it counts framework kernels, else None."""
    from rooflens.calibration.profile import bundled_profiles, load_profile

    if device not in bundled_profiles():
        return None
    profile = load_profile(device)
    return profile if profile.framework is not None else None


def _calibrate_link(
    device: str, hardware: str | None, tp: int | None, base: str, out: Path, raw: Path | None
) -> None:
    """Collectives over `tp` processes (default: every GPU, or 2 on a CPU), the link fitted
    on them and written into the base profile."""
    import torch

    from rooflens.calibration.links import fit_link, with_link
    from rooflens.calibration.profile import save_profile
    from rooflens.measure.parallel import check_world, measure_parallel

    spec_device = _device_spec(device, hardware)
    tp = tp if tp is not None else (torch.cuda.device_count() if device == "cuda" else 2)
    check_world(device, tp)
    if tp < 2:
        raise InvalidInputError("--tp", tp, "2 or more devices: one device crosses no link")
    profile = resolve_calibration(base, spec_device)
    data = measure_parallel(None, None, device, spec_device, tp)
    if raw is not None:
        raw.write_text(json.dumps(data, indent=1))
    fit = fit_link(data["collectives"], profile.kernel_time if profile else 0.0)
    env = data["environment"]
    how = f"{fit.describe(env['backend'])}, {env['device_name']}, {env['date']}"
    save_profile(with_link(profile, fit, how), out)
    _console().print(
        f"wrote {out}: link {fit.bandwidth / 1e9:.1f} GB/s per direction, "
        f"{fit.latency * 1e6:.2f} µs per ring step ({how})"
    )
