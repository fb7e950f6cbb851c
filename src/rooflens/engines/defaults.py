"""What an engine does unless told otherwise: its memory behaviour, fusions and FP8 scales (its
scheduler's defaults are a `SchedulerConfig` beside these, `SCHEDULER` in its module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooflens.core.efficiency import version_key
from rooflens.core.hardware import Device

# NVIDIA's catalog GPUs the engines pick kernels for by architecture: Hopper (SM90) and
# Blackwell datacenter parts (SM100/SM103), by catalog name (a modified copy keeps its base's).
HOPPER = ("h100", "h200", "h20")
BLACKWELL = ("b200", "b300", "gb200", "gb300")


def on(device: Device, names: tuple[str, ...]) -> bool:
    """Whether `device` is one of the catalog GPUs `names` (h100 covers h100-sxm and -pcie)."""
    base = device.name.split(" ")[0].lower()
    return any(base == n or base.startswith(f"{n}-") for n in names)


class EngineDefaults(BaseModel):
    """An engine's documented defaults, each with where it was read (`sources`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str
    version: str
    # Share of device memory the engine takes for weights, activations and KV cache (its own
    # setting's meaning is in `memory_setting`).
    memory_fraction: float = Field(gt=0.0, le=1.0)
    # Earlier releases' shares: (first release of the next share, the share before it), in
    # release order; `memory_fraction_at` reads them.
    memory_fraction_before: tuple[tuple[str, float], ...] = ()
    # "device": a share of the whole device; "static": of it for weights and KV cache only;
    # "free": of what weights and activations leave.
    memory_fraction_of: Literal["device", "static", "free"] = "device"
    memory_setting: str
    # Kernels the engine's model code fuses (rooflens.core.techniques.fusion's kinds): what an
    # analysis with this engine fuses unless the fusion setting says otherwise.
    fusion: tuple[str, ...] = ()
    # Scales of FP8 activations for a per-tensor FP8 model the user quantizes (no checkpoint
    # saying otherwise): computed each step (online quantization) or calibrated offline.
    fp8_activation_scale: Literal["dynamic", "static"] = "dynamic"
    # Bits of a recurrent scan's state where the model's config declares none (None: the
    # model's own default, 16 bits).
    state_bits: Literal[16, 32] | None = None
    # Seconds a request spends on the engine's serving path outside its iterations (the API
    # server, tokenizing, handing the request to the scheduler, detokenizing and streaming
    # back), measured end to end from a client (None: not measured); the serving simulator
    # adds it to each request's way to the engine.
    host_per_request: float | None = Field(default=None, ge=0.0, le=3600.0, allow_inf_nan=False)
    sources: dict[str, str]

    @model_validator(mode="after")
    def _measured_with_its_source(self) -> EngineDefaults:
        # A measured time per request goes into every profile's provenance with its source.
        if self.host_per_request is not None and "host_per_request" not in self.sources:
            raise ValueError("host_per_request needs its source in `sources`")
        return self

    def with_measured(self, provenance: dict[str, str]) -> dict[str, str]:
        """A profile's provenance with where the engine's time per request was measured."""
        if self.host_per_request is None:
            return dict(provenance)
        return dict(provenance) | {"host_per_request": self.sources["host_per_request"]}

    def memory_fraction_at(self, version: str | None) -> float:
        """The share a release takes by default (None: the newest's, `memory_fraction`)."""
        if version is None:
            return self.memory_fraction
        for first, before in self.memory_fraction_before:
            if version_key(version) < version_key(first):
                return before
        return self.memory_fraction
