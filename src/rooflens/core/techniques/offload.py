"""Offloading (FlexGen, Sheng et al. 2023; ZeRO-Inference): weights and/or the KV cache live
in host memory (or on disk) and stream over the host link every step, overlapped with
compute; the device keeps a double buffer of two layers' worth."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rooflens.core.errors import InvalidInputError

if TYPE_CHECKING:
    from rooflens.core.hardware import Device


def host_bytes(fields: dict[str, np.ndarray], offload: tuple[bool, bool]) -> np.ndarray | float:
    """Bytes each operator streams over the host link: its weights and/or its KV cache."""
    weights, kv = offload
    moved = fields["load_weight"] if weights else 0.0
    if kv:
        moved = moved + fields["load_kv"] + fields["store_kv"]
    return moved


def host_rate(device: Device, offload: tuple[bool, bool], disk_bandwidth: float | None) -> float:
    """Bytes/s of the stream: the host link, or the slower of it and the disk."""
    if not any(offload):
        return np.inf
    if not device.host_bandwidth:
        field = "offload_weights" if offload[0] else "offload_kv"
        raise InvalidInputError(
            field, True, f"a device with a host link bandwidth ({device.name} has none)"
        )
    return min(device.host_bandwidth, disk_bandwidth or np.inf)


def resident(
    weights: float,
    kv: np.ndarray,
    offload: tuple[bool, bool],
    layers: int,
    model_layers: int,
    head_weights: float,
    head_unit: float,
) -> tuple[float, np.ndarray, np.ndarray | float]:
    """(weights, KV cache) held on the device and bytes held in host memory: offloaded state
    lives in the host; the device double-buffers two of the units it streams, a layer or the
    output head's matrix (`head_unit`), whichever is larger (the embedding's rows are
    gathered from the host: its table is never on the device)."""
    host: np.ndarray | float = 0.0
    offload_weights, offload_kv = offload
    if offload_weights:
        host = weights
        weights = 2 * max((weights - head_weights) / layers, head_unit)
    if offload_kv:
        host = host + kv
        kv = kv * 2 / model_layers
    return weights, kv, host
