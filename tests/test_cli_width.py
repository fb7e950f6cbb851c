"""The CLI reads well in an 80-column terminal: no line wider, no cell cut short."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rooflens.cli import format as fmt
from rooflens.cli.app import app

COMMANDS = [
    ["analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--gen-len", "128", "--tp", "2"],
    ["models"],
    ["hardware"],
    ["hardware", "h100-sxm"],
    ["memory", "meta-llama/Llama-2-7b-hf", "-H", "a6000"],
    ["sweep", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--batch", "1,8", "--gen-len", "64"],
    ["compare", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--vs", "w_bits=4"],
    ["simulate", "meta-llama/Llama-2-7b-hf", "-H", "h100-sxm", "--requests", "20"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_output_fits_80_columns(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert not any("…" in line for line in lines), [line for line in lines if "…" in line]


def test_wide_shows_every_operator_column() -> None:
    args = ["analyze", "meta-llama/Llama-2-7b-hf", "-H", "a6000", "--stage", "decode"]
    compact = CliRunner().invoke(app, args, env={"COLUMNS": "80"}).stdout
    wide = CliRunner().invoke(app, [*args, "--wide"], env={"COLUMNS": "200"}).stdout
    assert "performance" not in compact and "intensity" not in compact
    assert "performance" in wide and "intensity" in wide and "dtype" in wide


def test_a_wide_table_in_a_narrow_terminal_cuts_no_number() -> None:
    """--wide at 100 columns: the operator table prints wider than the terminal rather than
    cut its figures to "16.…"; only the "priced by" text folds, at word breaks."""
    args = ["analyze", "Qwen/Qwen3-30B-A3B", "-H", "h200", "--engine", "vllm", "--tp", "2"]
    args += ["--stage", "decode", "--wide"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert not any("…" in line for line in result.stdout.splitlines())
    rows = json.loads(CliRunner().invoke(app, [*args[:-1], "--format", "json"]).stdout)
    router = next(r for r in rows["operators"] if r["name"] == "router" and r["stage"] == "decode")
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("router "))
    assert fmt.si(router["performance"], "OP/s") in line
    assert f"{router['efficiency']:.1%}" in line
    assert max(len(x) for x in result.stdout.splitlines()) > 100


def test_device_figures_read_with_si_units() -> None:
    assert fmt.device_field("memory_capacity", 80e9) == "80 GB"
    assert fmt.device_field("onchip_memory_per_unit", 262144.0) == "262 kB"
    assert fmt.device_field("aliases", ("H100", "H100-SXM5")) == "H100, H100-SXM5"
    assert fmt.device_field("purchase_price", None) == "—"
    assert fmt.device_field("hourly_price", 3.49) == "$3.49/h"
    assert fmt.si(1.5e3, "J") == "1.5 kJ"


@pytest.mark.parametrize(
    ("value", "si", "seconds"),
    [(999.9e6, "1 G", "999,900,000 s"), (999.4e6, "999 M", "999,400,000 s"),
     (0.99996, "1", "1 s"), (0.9994, "0.999", "999 ms"), (1823.4, "1.82 k", "1,823 s"),
     (0.00099996, "0.001", "1 ms"), (0.0, "0", "0 s")],
)  # fmt: skip
def test_numbers_round_before_their_prefix(value: float, si: str, seconds: str) -> None:
    """google/gemma-3-1b-it's 999.9 M parameters read 1 G, not '1e+03 M'."""
    assert fmt.si(value) == si
    assert fmt.seconds(value) == seconds


def test_a_progress_bar_on_the_error_console_shows_its_label_not_markup() -> None:
    """The error console reads no markup (an error may quote brackets): the bar's label is a
    column of its own, styled, not a "[progress.description]" tag printed as text."""
    from rich.console import Console

    from rooflens.cli.format import progress_bar

    console = Console(record=True, markup=False, force_terminal=True, width=100)
    bar, advance = progress_bar(console, "screening [setups]", 4)
    with bar:
        advance(4)
        bar.refresh()
    text = console.export_text()
    assert "screening [setups]" in text and "4/4" in text
    assert "[progress" not in text


def test_the_command_list_wraps_each_summary_as_one_paragraph() -> None:
    """Each command's summary wraps to the terminal, not at its docstring's line breaks."""
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (
        "Two analyses side by side with ratios: a technique on and off, two devices, a teacher "
        "and its distilled student, a request with and without an image." in result.stdout
    )
    compare = next(c for c in app.registered_commands if c.name == "compare")
    assert compare.short_help is not None and "\n" not in compare.short_help


def test_a_switch_help_names_its_two_flags_not_a_value() -> None:
    """A switch takes no value (`--flash-attention=false` is refused), so its help names the
    two flags where it said "(true or false (or empty))", as a request's JSON takes them."""
    for command, switch, left_out in (
        ("analyze", "flash-attention", "give neither for empty"),
        ("analyze", "sparse-kernel", "default false"),
        # A preset (an engine's own too) turns it on: the help says where else it comes from.
        ("simulate", "overlap", "default false; a preset's own under --preset or --engine"),
    ):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert f"(--{switch} or --no-{switch}; {left_out})" in result.stdout
        assert "(true or false" not in result.stdout
    refused = CliRunner().invoke(app, ["analyze", "gpt2", "-H", "a6000", "--flash-attention=false"])
    assert refused.exit_code == 2
    assert "Option '--flash-attention' does not take a value" in refused.output
