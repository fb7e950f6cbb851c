"""What one update of the page costs: the /api/view request it sends after a change, recorded
with pytest-benchmark (never asserted against a wall-clock threshold)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rooflens.web import create_app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://127.0.0.1")


@pytest.mark.parametrize(
    "model",
    ["openai-community/gpt2", "meta-llama/Llama-3.1-8B", "deepseek-ai/DeepSeek-V3"],
)
def test_page_update_with_comparison(benchmark, client: TestClient, model: str) -> None:
    """The heaviest update the page sends: A and B analysed, both with batch and prompt-length
    curves, and the comparison."""
    a = {
        "model": {"id": model},
        "device": {"name": "h100-sxm"},
        "batch": 8,
        "prompt_len": 512,
        "gen_len": 128,
    }
    b = {**a, "options": {"w_bits": 4, "kv_bits": 8, "flash_attention": True}}
    body = {"a": a, "b": b, "show": "b"}
    res = benchmark.pedantic(
        client.post, args=("/api/view",), kwargs={"json": body}, rounds=15, warmup_rounds=2
    )
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["analysis"]["inputs"]["w_bits"] == 4
    assert {r["metric"] for r in data["compare"]["rows"]} >= {"decode step time", "throughput"}


def test_one_analysis_request(benchmark, client: TestClient) -> None:
    """One POST /api/analyze (scripts/web_throughput.py measures the same through a real
    server: docs/performance.md)."""
    body = {
        "model": {"id": "meta-llama/Llama-2-7b-hf"},
        "device": {"name": "a6000"},
        "prompt_len": 1024,
        "gen_len": 128,
    }
    res = benchmark.pedantic(
        client.post, args=("/api/analyze",), kwargs={"json": body}, rounds=50, warmup_rounds=5
    )
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["inputs"]["prompt_len"] == 1024
    assert sum(o["share"] for o in data["operators"] if o["stage"] == "decode") == pytest.approx(1)
