"""Pruned weights of the block's linear layers.

Unstructured: a share of the weights is zero, stored as the kept values plus a 1-bit-per-weight
bitmap (never more than dense), computed dense unless a sparse kernel skips them. N:M (2:4): N
of every M kept with log2(M)-bit indices, computed at the device's structured-sparsity peak
(Mishra et al. 2021). The settings are validated in `rooflens.core.options.Quantization`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rooflens.core.options import Quantization


def kept_share(quant: Quantization) -> float:
    """Share of the block's weights that are not pruned."""
    if quant.nm_sparsity is not None:
        return quant.nm_sparsity[0] / quant.nm_sparsity[1]
    return 1.0 - quant.sparsity


def stored_bits(quant: Quantization, dense_bits: float) -> float:
    """Stored bits per weight once pruned: N/M x (bits + log2 M index bits) for N:M; the kept
    values plus a 1-bit bitmap, capped at dense, for unstructured sparsity."""
    if quant.nm_sparsity is not None:
        n, m = quant.nm_sparsity
        return n / m * (dense_bits + float(np.log2(m)))
    if quant.sparsity:
        return min(dense_bits, (1 - quant.sparsity) * dense_bits + 1)
    return dense_bits


def computed_share(quant: Quantization) -> float:
    """Share of a pruned linear's multiply-adds computed: a sparse kernel skips the zeros of
    unstructured sparsity; N:M runs dense work at the sparse peak instead."""
    if quant.sparsity and quant.sparse_kernel:
        return 1.0 - quant.sparsity
    return 1.0


def at_sparse_peak(quant: Quantization) -> bool:
    """N:M-pruned weights run at the device's structured-sparsity peak where the pattern is
    one its tensor cores take: at most 2 of every 4 kept (2:4, 1:4, 1:2; NVIDIA's sparse
    tensor cores run 2:4 only, Ampere whitepaper sec. "Fine-grained structured sparsity"), a
    twice-dense rate whatever the share kept; other patterns (3:4, 4:8) run dense."""
    if quant.nm_sparsity is None:
        return False
    n, m = quant.nm_sparsity
    return (m == 4 and n <= 2) or (m == 2 and n == 1)
