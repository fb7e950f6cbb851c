"""Seed 000, Table 1: Llama-2-7b on an A6000, sequence 2048, batch 1, FP16, row by row.

Each printed figure is rounded; a computed value passes when it rounds to the printed one.
The table is reproduced with the original LLM-Viewer's counting conventions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import rooflens

TABLE = Path(__file__).parent / "data" / "llm_viewer_table1.tsv"
SI = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
# Table 1 prints one "norm" and one "add" row per stage; the block has two of each, equal.
ROW_TO_OPERATOR = {"norm": "attn_norm", "add": "attn_add"}


def _rows() -> list[dict[str, str]]:
    lines = [ln for ln in TABLE.read_text().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def printed_interval(text: str) -> tuple[float, float]:
    """'1.25' -> [1.245, 1.255]; '69G' -> [68.5e9, 69.5e9]."""
    scale = SI.get(text[-1], 1.0)
    digits = text[:-1] if text[-1] in SI else text
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    half = 0.5 * 10.0**-decimals * scale
    value = float(digits) * scale
    return value - half, value + half


@pytest.fixture(scope="module")
def table() -> dict[tuple[str, str], dict]:
    result = rooflens.analyze(
        "meta-llama/Llama-2-7b-hf", "a6000", batch=1, prompt_len=2048, conventions="llm-viewer"
    )
    return {(r["stage"], r["name"]): r for r in result.operators().to_dict(orient="records")}


def test_printed_interval() -> None:
    assert printed_interval("69G") == (68.5e9, 69.5e9)
    assert printed_interval("0.99") == pytest.approx((0.985, 0.995))


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"{r['stage']}-{r['layer']}")
def test_row_reproduces(table: dict, row: dict[str, str]) -> None:
    ours = table[(row["stage"], ROW_TO_OPERATOR.get(row["layer"], row["layer"]))]
    for column, key in (
        ("ops", "ops"),
        ("memory_access", "memory_access"),
        ("arithmetic_intensity", "arithmetic_intensity"),
        ("max_performance", "performance"),
    ):
        low, high = printed_interval(row[column])
        assert low <= ours[key] <= high, (column, row[column], ours[key])
    assert ours["bound"] == row["bound"]


def test_every_printed_row_is_checked() -> None:
    assert len(_rows()) == 24
