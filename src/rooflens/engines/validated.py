"""How far the engine profiles' serving forecasts fell from measured engine runs, per engine,
device and model (docs/validation-engines.md), so that a simulation can say beside its own
figures how far such figures have been off.

The table (`validated.json`) is written from the shipped predictions by `python -m
rooflens.measure.validate_engines --predictions … --validated …`, and a test checks that it
is what they give: nothing here is fitted, it is only reported.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from rooflens.core.model import ModelSpec

# Fewer measured runs than this say too little to quote a median of.
MIN_RUNS = 5
# The kinds of model whose runs the table also groups apart: their TTFT fell apart
# (docs/engines.md, "Against measured engine runs").
ARCHITECTURES = ("MoE", "dense")


def architecture(model: ModelSpec) -> str:
    """ "MoE" for a model whose layers route tokens to experts, else "dense"."""
    return ARCHITECTURES[0] if model.is_moe else ARCHITECTURES[1]


@cache
def _table() -> dict[str, Any]:
    text = resources.files("rooflens.engines").joinpath("validated.json").read_text("utf-8")
    return json.loads(text)


def _group(
    engine: str, device: str, model: str | None, architecture: str | None = None
) -> dict[str, Any] | None:
    wanted = (engine, device, model, architecture)
    for group in _table()["groups"]:
        if (group["engine"], group["device"], group["model"], group["architecture"]) == wanted:
            return group
    return None


def engine_group(
    engine: str, device: str, architecture: str | None = None
) -> dict[str, Any] | None:
    """The accuracy of `engine` on `device` over all its measured runs, or those of models of
    one `architecture` ("MoE" or "dense"): runs, median errors and predicted/measured ratios
    of TTFT and TPOT, or None where none were simulated."""
    return _group(engine, device, None, architecture)


def _figures(group: dict[str, Any]) -> str:
    return (
        f"TTFT median error {group['ttft_error']:.0%} (predicted {group['ttft_ratio']:.2f} "
        f"of measured), TPOT {group['tpot_error']:.0%} ({group['tpot_ratio']:.2f})"
    )


def checked_against(engine: str, device: str, model: str, architecture: str | None = None) -> str:
    """One line on the measured runs of `engine` on `device` this forecast was checked
    against: those of `model` where there are at least MIN_RUNS, else those of models of its
    `architecture` ("MoE" or "dense": their TTFT fell apart, docs/engines.md), else all of
    that engine and device, else that there are none."""
    where = f"{engine} on {device}"
    source = _table()["source"]
    own = _group(engine, device, model)
    if own is not None and own["runs"] >= MIN_RUNS:
        # The runs of another checkpoint the catalog reads as this model (a twin's) say so.
        measured = own.get("measured", [])
        of = f"of {', '.join(measured)} (read as this model)" if measured else "of this model"
        return f"{own['runs']} measured runs {of} with {where}: {_figures(own)} ({source})"
    mine = own["runs"] if own is not None else 0
    kind = _group(engine, device, None, architecture) if architecture else None
    if kind is not None and kind["runs"] >= MIN_RUNS:
        return (
            f"{kind['runs']} measured runs of {architecture} models with {where}, {mine} of "
            f"this model: {_figures(kind)} ({source})"
        )
    every = _group(engine, device, None)
    if every is not None and every["runs"] >= MIN_RUNS:
        # Of the other architecture only, where this one's are too few: said, since their
        # TTFT misses differ (docs/engines.md).
        alike = "" if architecture is None else (
            f", {kind['runs'] if kind is not None else 0} of {architecture} models"
        )  # fmt: skip
        return (
            f"{every['runs']} measured runs with {where}{alike}, {mine} of this model: "
            f"{_figures(every)} ({source})"
        )
    return f"no measured runs with {where} ({source})"
