"""docs/output.md lists every column each command writes, with its unit and meaning: each
command runs here and its CSV header is held to the list, so neither can change alone.

A row whose meaning starts "(with `--flag`" is a column that only some runs write; the runs
below write it exactly under that flag."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rooflens.advisor.search import COLUMNS as ADVICE_COLUMNS
from rooflens.cli.app import app
from rooflens.core.results import OPERATOR_COLUMNS

DOC = Path(__file__).resolve().parents[1] / "docs" / "output.md"
SMALL_LOAD = ["--requests", "6", "--rate", "2", "--prompt", "100", "--output", "4"]


Row = tuple[list[str], str, str]


def _tables() -> dict[str, list[list[Row]]]:
    """Under "## Output columns": each "### COMMAND" heading's tables, each a list of rows:
    (the names in the row's first cell, its unit, its meaning)."""
    text = DOC.read_text("utf-8").split("\n## Output columns\n", 1)[1]
    sections: dict[str, list[list[Row]]] = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = block.partition("\n")
        tables: list[list[Row]] = []
        for line in body.splitlines():
            if line.startswith(("| column |", "| metric |")):
                tables.append([])
            elif line.startswith("| `"):
                cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
                tables[-1].append((re.findall(r"`([^`]+)`", cells[0]), cells[1], cells[2]))
        sections[title.strip()] = tables
    return sections


TABLES = _tables()


def _names(table: list[Row]) -> list[str]:
    return [name for names, _, _ in table for name in names]


def _when(table: list[Row]) -> dict[str, str | None]:
    """Each column's condition: the flag its meaning starts "(with" by, else None."""
    out = {}
    for names, _, meaning in table:
        flag = re.match(r"\(with `(--[a-z-]+)`", meaning)
        out |= dict.fromkeys(names, flag.group(1) if flag else None)
    return out


def _header(*args: str) -> list[str]:
    res = CliRunner().invoke(app, [*args, "-f", "csv"])
    assert res.exit_code == 0, res.output
    return res.stdout.splitlines()[0].split(",")


def test_every_command_with_a_csv_has_its_section() -> None:
    assert list(TABLES) == [
        "analyze", "memory", "sweep", "compare", "speculate", "advise", "simulate", "models",
        "hardware", "engines", "measure",
    ]  # fmt: skip
    for title, tables in TABLES.items():
        assert tables and all(tables), title
        for table in tables:
            assert all(names and meaning for names, _, meaning in table), title
            assert len(set(_names(table))) == len(_names(table)), title


@pytest.mark.parametrize(
    ("title", "args", "declared"),
    [
        ("analyze", ("analyze", "gpt2", "-H", "a6000"), list(OPERATOR_COLUMNS)),
        ("memory", ("memory", "gpt2", "-H", "a6000"), None),
        ("speculate", ("speculate", "gpt2", "-H", "a6000", "--medusa", "--batch", "1",
                       "--context", "512"), None),
        ("advise", ("advise", "gpt2", "--workload", "prompt=100,output=20,rate=1",
                    "--devices", "a6000", "--tp", "1", "--verify", "0"), list(ADVICE_COLUMNS)),
        ("simulate", ("simulate", "gpt2", "-H", "a6000", *SMALL_LOAD), None),
        ("models", ("models",), None),
        ("hardware", ("hardware",), None),
        ("engines", ("engines", "vllm"), None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)  # fmt: skip
def test_a_commands_columns_are_listed_in_order(title, args, declared) -> None:
    listed = _names(TABLES[title][0])
    assert _header(*args) == listed
    if declared is not None:  # where the code declares them, the declaration says the same
        assert declared == listed
    assert not any(_when(TABLES[title][0]).values())  # none of them depends on a flag


def test_simulate_writes_the_same_columns_to_its_requests_file(tmp_path) -> None:
    out = tmp_path / "requests.csv"
    res = CliRunner().invoke(
        app, ["simulate", "gpt2", "-H", "a6000", *SMALL_LOAD, "--requests-out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert out.read_text().splitlines()[0].split(",") == _names(TABLES["simulate"][0])


def test_sweep_columns_and_the_flags_that_add_them() -> None:
    base = ("sweep", "gpt2", "-H", "a6000", "--batch", "1,2")
    plain = _header(*base)
    added = {
        "--gen-len": set(_header(*base, "--gen-len", "8")) - set(plain),
        "--prompt-keep": set(_header(*base, "--prompt-keep", "0.5")) - set(plain),
    }
    # A vision model's images add the encoder's columns, and the prompt's tokens with theirs.
    vision = ("sweep", "google/gemma-3-27b-it", "-H", "h100-sxm", "--batch", "1,2")
    with_images = set(_header(*vision, "--images", "1")) - set(_header(*vision))
    when = _when(TABLES["sweep"][0])
    assert set(when) == set(plain).union(*added.values(), with_images)
    assert {c for c in plain if when[c] is not None} == set()
    for flag, columns in added.items():
        assert columns and columns == {c for c, given in when.items() if given == flag}, flag
    images = {c for c, given in when.items() if given == "--images"}
    assert images and with_images == images | {"prompt_tokens"}


def test_compare_columns_and_metrics() -> None:
    args = ("compare", "gpt2", "-H", "a6000", "--prompt-len", "512", "--vs", "w_bits=4")
    columns, metrics = TABLES["compare"]
    assert _header(*args) == _names(columns)
    rows = json.loads(CliRunner().invoke(app, [*args, "-f", "json"]).stdout)["rows"]
    units = {name: unit for names, unit, _ in metrics for name in names}
    assert {r["metric"]: r["unit"] for r in rows} == units


def test_capacity_columns() -> None:
    """The percentile's columns are named by the SLO's percentile: `ttft_pP` is ttft_p90 here."""
    args = ("simulate", "gpt2", "-H", "a6000", *SMALL_LOAD, "--capacity", "--slo", "ttft_p90=1s")
    header = [re.sub(r"_p90$", "_pP", column) for column in _header(*args)]
    assert header == _names(TABLES["simulate"][1])


def test_simulate_summary_keys() -> None:
    """The summary's keys, with and without an SLO (whose figures are then null)."""
    args = ["simulate", "gpt2", "-H", "a6000", *SMALL_LOAD, "-f", "json"]
    listed = _names(TABLES["simulate"][2])
    for extra in ([], ["--slo", "ttft=1s"]):
        summary = json.loads(CliRunner().invoke(app, [*args, *extra]).stdout)["summary"]
        assert list(summary) == listed, extra


def _advise_head() -> list[str]:
    """The keys the table under "`advise` searches many setups" lists, in order."""
    text = DOC.read_text("utf-8").split("\n## Output columns\n", 1)[0]
    table = text.split("`advise` searches many setups", 1)[1].split("\n\n")[1]
    return [re.match(r"\| `(\w+)` \|", line).group(1) for line in table.splitlines()[2:]]


def test_advise_json_opens_with_its_documented_head_and_the_csv_rows() -> None:
    """`advise -f json` opened with its picks and named neither the model nor the devices
    searched: it now heads them as the analyses do; the picks keep the CSV's columns and
    numbers (the CSV's first rows, the picks first)."""
    args = ("advise", "gpt2", "--workload", "prompt=100,output=20,rate=1",
            "--devices", "a6000,l40s", "--tp", "1", "--verify", "1", "--top", "3")  # fmt: skip
    res = CliRunner().invoke(app, [*args, "-f", "json"])
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout and "Infinity" not in res.stdout
    data = json.loads(res.stdout)
    head = _advise_head()
    assert head == ["model", "hardware", "estimate", "settings", "workload", "slo"]
    assert list(data) == [
        *head,
        "picks",
        "explanations",
        "verify_requests",
        "rejected",
        "not_priced",
        "rejections",
        "validation",
    ]
    assert data["model"] == "openai-community/gpt2" and data["hardware"] == ["a6000", "l40s"]
    assert data["settings"] == {"devices": ["a6000", "l40s"], "tp": [1]}
    assert data["workload"] == {"prompt_len": 100, "output_len": 20, "rate": 1.0}
    picks = data["picks"]
    assert len(picks) == 3 and all(list(pick) == list(ADVICE_COLUMNS) for pick in picks)
    table = list(csv.DictReader(io.StringIO(CliRunner().invoke(app, [*args, "-f", "csv"]).stdout)))
    floats = 0
    for pick, line in zip(picks, table, strict=False):
        for key, value in pick.items():
            if isinstance(value, float):
                assert value == float(line[key]), (key, value, line[key])
                floats += 1
            elif value is None:
                assert line[key] == "", key
    assert floats > 20


def test_measures_columns_are_its_rows_keys() -> None:
    """`measure -f csv` writes its JSON's rows (a run on a GPU, shipped: the H100's)."""
    path = Path(__file__).resolve().parents[1] / (
        "src/rooflens/calibration/measurements/measure-llama31-8b-h100.json"
    )
    rows = json.loads(path.read_text())["rows"]
    assert list(rows[0]) == _names(TABLES["measure"][0])
