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


# The engine's times beside its kernels that rooflens measured with the engine itself: each
# is a profile field of that name, its source in the profile's provenance.
MEASURED = ("host_per_request", "eager_host_per_layer", "eager_host_per_moe_layer")


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
    # Seconds per layer the host takes to launch an iteration's kernels one by one, where the
    # engine runs one without a CUDA graph (a prefill past its graphs: the module's
    # prefill_graph_tokens), measured with the engine itself (None: not measured, and such
    # iterations are priced as their kernels).
    eager_host_per_layer: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)
    # And more per layer whose MLP is a mixture of experts (None: not measured).
    eager_host_per_moe_layer: float | None = Field(
        default=None, ge=0.0, le=1.0, allow_inf_nan=False
    )
    sources: dict[str, str]

    @model_validator(mode="after")
    def _measured_with_its_source(self) -> EngineDefaults:
        # A measured time goes into every profile's provenance with its source.
        for name in MEASURED:
            if getattr(self, name) is not None and name not in self.sources:
                raise ValueError(f"{name} needs its source in `sources`")
        return self

    def with_measured(self, provenance: dict[str, str]) -> dict[str, str]:
        """A profile's provenance with where the engine's times beside its kernels (per
        request, per layer launched) were measured."""
        measured = {n: self.sources[n] for n in MEASURED if getattr(self, n) is not None}
        return dict(provenance) | measured

    def measured(self) -> dict[str, float]:
        """The profile fields measured with the engine itself, by name."""
        return {n: getattr(self, n) for n in MEASURED if getattr(self, n) is not None}

    def memory_fraction_at(self, version: str | None) -> float:
        """The share a release takes by default (None: the newest's, `memory_fraction`)."""
        if version is None:
            return self.memory_fraction
        for first, before in self.memory_fraction_before:
            if version_key(version) < version_key(first):
                return before
        return self.memory_fraction
