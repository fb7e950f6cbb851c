"""`rooflens engines` and GET /api/engines: one row per shipped engine profile."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rooflens.cli.app import app
from rooflens.core.errors import InvalidInputError
from rooflens.engines import engine_profiles
from rooflens.engines.catalog import engine_catalog
from rooflens.engines.validated import ARCHITECTURES, engine_group
from rooflens.web.app import create_app

runner = CliRunner()


def _row(rows: list[dict], engine: str, device: str) -> dict:
    (row,) = [r for r in rows if (r["engine"], r["device"]) == (engine, device)]
    return row


def test_every_shipped_profile_has_one_row_in_the_engines_order() -> None:
    rows = engine_catalog()
    shipped = {(e, d) for e, devices in engine_profiles().items() for d in devices}
    assert {(r["engine"], r["device"]) for r in rows} == shipped and len(rows) == len(shipped)
    engines = [r["engine"] for r in rows]
    order = ["transformers", "compiled", "vllm", "sglang", "trtllm"]
    assert engines == sorted(engines, key=order.index)


def test_a_fitted_engine_profile_says_its_release_source_and_defaults() -> None:
    rows = engine_catalog()
    vllm = _row(rows, "vllm", "b200")
    # The newest tables are vLLM 0.24.0's; 0.19.0's and 0.22.0's ship beside them.
    assert vllm["release"] == "0.24.0" and vllm["older_releases"] == ["0.19.0", "0.22.0"]
    assert vllm["source"] == "aiconfigurator-core 0.12.0 (Apache-2.0), systems/data/b200_sxm"
    # vLLM's gpu_memory_utilization 0.92 of the device; V1's 8,192-token budget and 1,024
    # sequences on a GPU of 70 GiB or more.
    assert (vllm["memory_fraction"], vllm["memory_fraction_of"]) == (0.92, "device")
    assert (vllm["max_tokens"], vllm["max_batch"]) == (8192, 1024)
    # vLLM's and SGLang's times per request were measured with the engines themselves
    # (docs/engines-measured.md); TensorRT-LLM's, and a framework's, were not.
    assert vllm["host_per_request"] == 0.0099
    sglang = _row(rows, "sglang", "h100-sxm")
    assert sglang["host_per_request"] == 0.0158
    assert _row(rows, "trtllm", "h200-sxm")["host_per_request"] is None
    # And SGLang's and vLLM's launch of a prefill without CUDA graphs, none measured for
    # TensorRT-LLM.
    assert (sglang["eager_host_per_layer"], sglang["eager_host_per_moe_layer"]) == (
        0.00042,
        0.00177,
    )
    assert (vllm["eager_host_per_layer"], vllm["eager_host_per_moe_layer"]) == (0.00109, 0.00047)
    trtllm_launch = _row(rows, "trtllm", "h200-sxm")
    assert trtllm_launch["eager_host_per_layer"] is None
    assert trtllm_launch["eager_host_per_moe_layer"] is None
    assert _row(rows, "transformers", "h100-sxm")["host_per_request"] is None
    assert sglang["older_releases"] == ["0.5.6.post2", "0.5.10"]
    assert (sglang["max_tokens"], sglang["memory_fraction_of"]) == (16384, "static")
    trtllm = _row(rows, "trtllm", "h200-sxm")
    assert (trtllm["memory_fraction"], trtllm["memory_fraction_of"]) == (0.9, "free")
    # Its accuracy is the validation table's, over all of that engine's runs on that GPU.
    group = engine_group("trtllm", "h200-sxm")
    assert group is not None and group["runs"] > 100
    assert trtllm["validated_runs"] == group["runs"]
    assert (trtllm["ttft_error"], trtllm["tpot_error"]) == (
        group["ttft_error"],
        group["tpot_error"],
    )
    # And over the runs of each architecture's models, which split the runs between them.
    moe, dense = (engine_group("trtllm", "h200-sxm", kind) for kind in ARCHITECTURES)
    assert moe is not None and dense is not None
    assert (trtllm["moe_runs"], trtllm["moe_ttft_error"]) == (moe["runs"], moe["ttft_error"])
    assert (trtllm["dense_runs"], trtllm["dense_ttft_error"]) == (
        dense["runs"],
        dense["ttft_error"],
    )
    assert trtllm["moe_runs"] + trtllm["dense_runs"] == trtllm["validated_runs"]


def test_a_measured_profile_names_the_measurement_and_has_no_scheduler() -> None:
    row = _row(engine_catalog("transformers"), "transformers", "h200-sxm")
    assert row["source"].startswith("rooflens calibrate on NVIDIA H200")
    assert row["release"] == "5.17.0" and row["fitted"] == "2026-11-30"
    assert row["max_tokens"] is None and row["validated_runs"] == 0 and row["ttft_error"] is None
    assert (row["moe_runs"], row["moe_ttft_error"], row["dense_runs"]) == (0, None, 0)
    compiled = _row(engine_catalog("compiled"), "compiled", "h200-sxm")
    assert compiled["release"] == "2.11.0+cu130"


def test_an_unknown_engine_is_refused_naming_those_shipped() -> None:
    with pytest.raises(InvalidInputError, match="transformers, compiled, vllm, sglang, trtllm"):
        engine_catalog("tgi")
    refused = runner.invoke(app, ["engines", "tgi"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "error: engine='tgi' is invalid: expected one of transformers, compiled, vllm, sglang, "
        "trtllm"
    ]


def test_the_command_and_the_web_api_give_the_same_rows() -> None:
    as_json = runner.invoke(app, ["engines", "-f", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == engine_catalog()
    as_csv = runner.invoke(app, ["engines", "sglang", "-f", "csv"])
    frame = pd.read_csv(io.StringIO(as_csv.output), keep_default_na=False)
    assert list(frame.device) == list(engine_profiles()["sglang"])
    assert frame.set_index("device").older_releases["h100-sxm"] == "0.5.6.post2;0.5.10"
    table = runner.invoke(app, ["engines", "vllm"], env={"COLUMNS": "260"})
    assert table.exit_code == 0, table.output
    assert "engine profiles (6)" in table.output
    assert "0.92 of the GPU" in table.output and "8,192 tokens, 1,024 sequences" in table.output
    web = TestClient(create_app(), base_url="http://127.0.0.1").get("/api/engines")
    assert web.status_code == 200 and web.json() == engine_catalog()


def test_a_profile_partly_taken_from_another_says_so() -> None:
    # The H100 transformers profile's framework kernels, expert GEMMs and host times are the
    # H200's (provenance transferred_from): its source column said only "measured on H100".
    from rooflens.engines.catalog import engine_catalog

    rows = {(r["engine"], r["device"]): r for r in engine_catalog()}
    assert "; some curves from h200-sxm:" in rows[("transformers", "h100-sxm")]["source"]
    assert "some curves from" not in rows[("transformers", "h200-sxm")]["source"]


def test_the_frameworks_we_measure_point_at_their_own_validation() -> None:
    """transformers and torch.compile are checked against runs on our own GPUs, which the
    serving engines' column does not hold: it said "no measured runs"."""
    table = CliRunner().invoke(app, ["engines", "compiled"], env={"COLUMNS": "300"}).output
    assert "our own runs: docs/validation.md, validation-compiled.md" in " ".join(table.split())
    assert "no measured runs" not in table
