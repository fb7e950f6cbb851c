"""The collective sweep over two gloo processes on the CPU: known answers, sizes as counted."""

from __future__ import annotations

import pytest

from rooflens.measure.parallel import GPU_SIZES, MULTICAST_OFF, spawn


@pytest.fixture(scope="module")
def swept() -> dict:
    kinds = ["all_reduce", "all_gather", "all_to_all", "reduce_scatter"]
    sweep = {"sizes": [1024, 65536], "kinds": kinds, "iters": 1, "repeats": 3}
    return spawn({"device": "cpu", "check": True, "collectives": sweep}, 2)


def test_reduce_scatter_gives_the_known_answer(swept) -> None:
    # Rank r sends [0, 1, 2, 3] + 10 r; rank 0 keeps the sum of elements 0-1, rank 1 of 2-3.
    assert [got["reduce_scatter"] for got in swept["check"]] == [[10.0, 12.0], [14.0, 16.0]]


def test_sweep_covers_every_kind_and_size_with_the_bytes_counted(swept) -> None:
    rows = {(c["kind"], c["bytes"]): c for c in swept["collectives"]}
    # fp32 on the CPU: 1024 B is 256 elements, an even split over the 2 ranks, kept exact.
    assert set(rows) == {
        (k, b)
        for k in ("all_reduce", "all_gather", "all_to_all", "reduce_scatter")
        for b in (1024, 65536)
    }
    assert all(c["ranks"] == 2 and c["time"] > 0 for c in rows.values())


def test_gpu_sweep_is_1_kib_to_256_mib_with_multicast_off() -> None:
    assert GPU_SIZES[0] == 1024 and GPU_SIZES[-1] == 256 * 2**20
    assert tuple(1024 * 4**k for k in range(10)) == GPU_SIZES
    assert MULTICAST_OFF == {
        "NCCL_NVLS_ENABLE": "0",
        "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
        "NVSHMEM_DISABLE_NVLS": "1",
    }
