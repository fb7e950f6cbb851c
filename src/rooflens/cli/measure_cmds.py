"""`rooflens measure` and `rooflens calibrate`: run on real hardware (the `measure` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rooflens.api import resolve_calibration, resolve_device
from rooflens.cli import format as fmt
from rooflens.cli.app import (
    CalibrationOpt,
    FormatOpt,
    ModelArg,
    OutputFormat,
    _clean_errors,
    _console,
    app,
)
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.hardware import Device
from rooflens.models.catalog import resolve_config
from rooflens.models.config import spec_from_config

DeviceOpt = Annotated[str, typer.Option("--device", help="Where to run: 'cuda' or 'cpu'.")]
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
    if device not in ("cuda", "cpu"):
        raise InvalidInputError("--device", device, "'cuda' or 'cpu'")
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device", device, "'cpu' here: PyTorch sees no CUDA device")
    return torch


def _device_spec(device: str, hardware: str | None) -> Device:
    if hardware is not None:
        return resolve_device(hardware)
    if device == "cpu":
        raise InvalidInputError("--hardware", None, "a catalog device or TOML file for a CPU run")
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
    out: Annotated[Path | None, typer.Option("-o", help="Also write the JSON here.")] = None,
) -> None:
    """Run MODEL on this machine (random weights, or the checkpoint in a local model folder)
    and print measured beside predicted: whole steps eager and from CUDA graphs, TTFT/TPOT,
    peak memory, and every operator alone."""
    _torch(device)
    from rooflens.measure.session import measure as run_measure

    for field, value in (("--batch", batch), ("--prompt-len", prompt_len), ("--gen-len", gen_len)):
        if value < 1:
            raise InvalidInputError(field, value, "a positive integer")
    config, name = resolve_config(model)
    spec = spec_from_config(config, name=name)
    spec_device = _device_spec(device, hardware)
    profile = None
    if calibration is not None and not (calibration == "auto" and spec_device.calibration is None):
        profile = resolve_calibration(calibration, spec_device)
    weights = _checkpoint_folder(model)
    result = run_measure(
        config, spec, device, spec_device, batch, prompt_len, gen_len, profile, weights
    )
    if out is not None:
        out.write_text(json.dumps(result, indent=1))
    if output is OutputFormat.json:
        typer.echo(json.dumps(result, indent=1))
        return
    if output is OutputFormat.csv:
        import pandas as pd

        typer.echo(pd.DataFrame(result["rows"]).to_csv(index=False), nl=False)
        return
    _print_rows(result)


def _checkpoint_folder(model: str) -> str | None:
    """A local model folder holding weights: measure with them instead of random ones."""
    folder = Path(model)
    if folder.is_dir() and (any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))):
        return str(folder)
    return None


def _print_rows(result: dict[str, Any]) -> None:
    env = result["environment"]
    _console().print(
        f"[bold]{result['model']}[/bold] on {env['device_name']} (driver {env.get('driver', '—')},"
        f" torch {env['torch']}, transformers {env['transformers']}) · {result['inputs']}"
    )
    rows = []
    for r in result["rows"]:
        show = (lambda v: fmt.si(v, "B")) if r["unit"] == "B" else fmt.seconds
        calibrated = (
            f"{show(r['calibrated'])} ({r['calibrated_error']:+.0%})" if "calibrated" in r else "—"
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


@app.command()
@_clean_errors
def calibrate(
    device: DeviceOpt = "cuda",
    hardware: HardwareOpt = None,
    model: Annotated[
        str, typer.Option(help="Model whose real steps fit the framework overheads.")
    ] = "meta-llama/Llama-2-7b-hf",
    out: Annotated[Path, typer.Option("-o", help="Profile TOML to write.")] = Path("profile.toml"),
    raw: Annotated[Path | None, typer.Option(help="Also keep the raw measurements (JSON).")] = None,
) -> None:
    """Micro-benchmark this device, time a model's real steps, and fit an efficiency profile
    for `--calibration` (a few minutes on a GPU)."""
    _torch(device)
    from rooflens.calibration.fit import fit_profile
    from rooflens.calibration.profile import save_profile
    from rooflens.measure.environment import describe
    from rooflens.measure.suite import run_suite
    from rooflens.measure.validate import measure_model

    spec_device = _device_spec(device, hardware)
    config, name = resolve_config(model)
    spec = spec_from_config(config, name=name)
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
    profile = fit_profile(data, spec_device, spec)
    save_profile(profile, out)
    _console().print(
        f"wrote {out}: kernel {profile.kernel_time * 1e6:.2f} µs, framework "
        f"{profile.graph_overhead_per_layer * 1e6:.1f} µs per layer, eager host "
        f"{profile.eager_host_per_layer * 1e6:.0f} µs per layer"
    )
