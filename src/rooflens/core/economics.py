"""Energy, money and carbon of an analysed step or generation.

Power follows the linear utilization model of Fan, Weber and Barroso ("Power provisioning
for a warehouse-sized computer", ISCA 2007): P = P_idle + (P_max - P_idle) * u, with P_max the
device's TDP. The utilization u of a step is read off its roofline: the share of the step
the tensor units are busy at their achieved rate, plus MEMORY_POWER_WEIGHT times the share
the memory system is busy streaming (memory-bound work leaves the arithmetic units mostly
idle and draws less, as Splitwise (Patel et al., ISCA 2024) reports for token generation).
Where the catalog has no idle figure, P_idle is IDLE_SHARE of the TDP. Both constants are
assumptions stated here, not measurements.
"""

from __future__ import annotations

import numpy as np

from rooflens.core.errors import InvalidInputError
from rooflens.core.hardware import Device
from rooflens.core.pricing import StepCosts

# Assumed: idle draw as a share of TDP where no figure is published (data-centre GPUs idle
# at roughly a tenth of their TDP).
IDLE_SHARE = 0.1
# Assumed: power of memory-bound streaming relative to compute-bound work, per unit of busy
# time above idle.
MEMORY_POWER_WEIGHT = 0.6
SECONDS_PER_HOUR = 3600.0
# The largest grid intensity taken (the price's: MAX_HOURLY_PRICE, with the device): far above
# any real one, and low enough that the figures stay finite.
MAX_GRID_INTENSITY = 1e4
JOULES_PER_KWH = 3.6e6


def idle_power(device: Device) -> float:
    tdp = _tdp(device)
    return device.idle_power if device.idle_power is not None else IDLE_SHARE * tdp


def _tdp(device: Device) -> float:
    if device.tdp is None:
        raise InvalidInputError(
            "hardware", device.name, "a device with a TDP for energy figures (its catalog has none)"
        )
    return device.tdp


def utilization(step: StepCosts) -> np.ndarray:
    """Busy share of a step, compute counted fully and memory streaming at its weight, each
    operator on its own roofline: a memory-bound operator's streaming beyond its compute
    counts even where the step's compute outlasts its memory in total (a prefill's softmax
    and norms drew idle power beside its GEMMs)."""
    total = step.step_time()
    compute = step.total(step.compute_time)
    stream = step.total(np.maximum(step.memory_time - step.compute_time, 0.0))
    busy = np.minimum(compute, total) + MEMORY_POWER_WEIGHT * stream
    return np.clip(np.divide(busy, total, out=np.zeros_like(total), where=total > 0), 0.0, 1.0)


def step_power(step: StepCosts, device: Device, occupancy: float = 1.0) -> np.ndarray:
    """Watts one device draws while running the step; `occupancy` times the step's own work
    keeps it busy (a full pipeline of p stages runs p micro-batches in one step's time)."""
    idle = idle_power(device)
    return idle + (_tdp(device) - idle) * np.minimum(1.0, occupancy * utilization(step))


# Every figure `economics` gives, in its order; the JSON writes each (null where it does not
# apply: cost without a price, carbon without a grid intensity, a request without gen_len).
FIGURES = (
    # The price per device-hour the costs are at (the one given, else the catalog's).
    "hourly_price",
    # The board power the powers are at (the device's TDP, or the one given for it).
    "tdp",
    "prefill_power",
    "decode_power",
    "energy_per_prompt_token",
    "energy_per_output_token",
    "energy_per_request",
    "cost_per_million_input",
    "cost_per_million_output",
    "carbon_per_million_output",
    "carbon_per_request",
)


def economics(
    steps: dict[str, StepCosts],
    generation: dict[str, np.ndarray] | None,
    device: Device,
    devices: int,
    sequences: np.ndarray,
    prompt_len: np.ndarray,
    gen_len: np.ndarray | None,
    hourly_price: float | None = None,
    grid_intensity: float | None = None,
) -> dict[str, np.ndarray]:
    """Energy (J) and, given a price per device-hour and a grid intensity (gCO2e/kWh), cost
    (USD) and carbon (gCO2e), per token and per request, for `devices` devices serving
    `sequences` sequences together. A device without a TDP has no power, energy or carbon
    figures (a grid intensity for it is refused where it is read); its cost needs only a
    price and the times."""
    prefill_t = steps["prefill"].step_time()
    decode_t = steps["decode"].step_time()
    # A vision encoder's pass is the input's: its images' tokens are in the prompt.
    vision = steps.get("vision")
    input_t = prefill_t + (0.0 if vision is None else vision.step_time())
    # Seconds per output token: the first decode step's, or with a generation its decode time
    # over the tokens after the first, which the prefill gives (a one-token answer runs no
    # decode step to charge an output token with: NaN).
    output_t = decode_t / sequences
    decoded = None
    if generation is not None and gen_len is not None:
        decoded = sequences * (gen_len - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            output_t = np.where(gen_len > 1, generation["decode_time"] / decoded, np.nan)
    out: dict[str, np.ndarray] = {}
    if device.tdp is not None:
        prefill_w = devices * step_power(steps["prefill"], device)
        decode_w = devices * step_power(steps["decode"], device)
        input_j = prefill_w * prefill_t
        if vision is not None:
            input_j = input_j + devices * step_power(vision, device) * vision.step_time()
        out = {
            "tdp": np.full(np.shape(prefill_w), _tdp(device)),
            "prefill_power": prefill_w,
            "decode_power": decode_w,
            # Prefill energy (and the encoder's) is charged to prompt tokens, decode energy to
            # generated tokens, every decode step at the first decode step's power.
            "energy_per_prompt_token": input_j / (sequences * prompt_len),
            "energy_per_output_token": decode_w * output_t,
        }
        if decoded is not None:
            out["energy_per_request"] = (input_j + decode_w * generation["decode_time"]) / sequences
    price = device.hourly_price if hourly_price is None else hourly_price
    if price is not None:
        per_second = devices * price / SECONDS_PER_HOUR
        out["hourly_price"] = price
        out["cost_per_million_input"] = per_second * input_t / (sequences * prompt_len) * 1e6
        out["cost_per_million_output"] = per_second * output_t * 1e6
    if grid_intensity is not None and "energy_per_output_token" in out:
        out["carbon_per_million_output"] = (
            out["energy_per_output_token"] * 1e6 / JOULES_PER_KWH * grid_intensity
        )
        if "energy_per_request" in out:
            out["carbon_per_request"] = out["energy_per_request"] / JOULES_PER_KWH * grid_intensity
    return out
