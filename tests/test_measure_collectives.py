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


def test_parallel_cli_writes_collectives_and_each_models_steps(tmp_path, monkeypatch) -> None:
    """Two gloo processes: one tiny model's short grid, and a model the hand sharding does not
    know refused before any process starts."""
    import json

    from rooflens.core.errors import InvalidInputError
    from rooflens.measure import parallel

    few = ((1, 16, 0), (2, 1, 32), (2, 1, 10**9))  # the last does not fit
    monkeypatch.setattr(parallel, "FEW_TP_POINTS", few)

    tiny = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 128,
        "max_position_embeddings": 16384,
    }
    (tmp_path / "tiny.json").write_text(json.dumps(tiny))
    (tmp_path / "gpt2.json").write_text(
        json.dumps(
            {"model_type": "gpt2", "n_layer": 1, "n_embd": 64, "n_head": 4, "vocab_size": 128}
        )
    )
    (tmp_path / "cpu.toml").write_text(
        'name = "two-cpu"\nmemory_capacity = 8e9\nmemory_bandwidth = 2e10\n'
        "onchip_memory_per_unit = 1e6\nhost_bandwidth = 1e10\n[peak_ops]\nfp32 = 1e11\n"
    )
    common = ["--tp", "2", "--device", "cpu", "--hardware", str(tmp_path / "cpu.toml")]
    with pytest.raises(InvalidInputError, match="model"):
        parallel.main(
            [*common, "--out", str(tmp_path / "x.json"), "--model", str(tmp_path / "gpt2.json")]
        )
    out = tmp_path / "tp2.json"
    parallel.main(
        [
            *common,
            "--few",
            "--no-collectives",
            "--out",
            str(out),
            "--model",
            str(tmp_path / "tiny.json"),
        ]
    )
    raw = json.loads(out.read_text())
    assert raw["collectives"] == [] and "unpriced_collectives" not in raw  # swept above
    (model,) = raw["models"]
    done = [(r["batch"], r["new_tokens"], r["past"]) for r in model["runs"]]
    skipped = [(s["batch"], s["length"]) for s in model["skipped"]]
    assert done == [(1, 16, 0), (2, 1, 32)]
    assert skipped == [(2, 10**9)] and model["skipped"][0]["why"] == "does not fit in device memory"
