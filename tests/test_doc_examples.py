"""Every `rooflens` command and Python example in README.md and docs/ runs as written.

Commands that need what CI lacks (a GPU and a model's worth of time for `measure` and
`calibrate`, a long-running server for `web`, and the `python -m rooflens.…` scripts that
measure or rebuild reports) are parsed instead: every flag must exist and every value
convert, so an example cannot name an option that is gone. A usage synopsis (elided with
"…", or with optional "[--flags]") names only options its command has; every TOML block is
a device file that loads.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rooflens.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PARSED_ONLY = {
    "web": "starts a server that runs until stopped",
    "measure": "times a real model on a GPU",
    "calibrate": "measures a GPU for minutes",
}
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
SHELL = ("", "bash", "sh", "console")
MODULE_COMMAND = re.compile(r"python3? -m (rooflens[\w.]+)(.*)")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def _shell_lines() -> list[tuple[str, str]]:
    """(document, command) for each command of the shell blocks, lines continued with a
    backslash joined, comments dropped, `VAR=value` and `for VAR in first …` values
    substituted for $VAR."""
    found = []
    for doc in DOCS:
        for lang, body in FENCE.findall(doc.read_text("utf-8")):
            if lang not in SHELL:
                continue
            variables: dict[str, str] = {}
            for line in body.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    command = part.split(" #")[0].strip()
                    if assigned := re.fullmatch(r"(\w+)=(\S+)", command):
                        variables[assigned[1]] = assigned[2]
                    elif loop := re.match(r"for (\w+) in (\S+)", command):
                        variables[loop[1]] = loop[2]
                    else:
                        for name, value in variables.items():
                            command = command.replace(f"${name}", value)
                        found.append((doc.name, command))
    return found


def _is_synopsis(command: str) -> bool:
    # "…" elides, "[--flag]" marks a usage synopsis rather than an example.
    return "…" in command or " [-" in command


def _commands() -> list[tuple[str, str]]:
    return [
        (doc, command)
        for doc, command in _shell_lines()
        if command.startswith("rooflens ") and not _is_synopsis(command)
    ]


def _synopses() -> list[tuple[str, str]]:
    return [
        (doc, command)
        for doc, command in _shell_lines()
        if command.startswith("rooflens ") and _is_synopsis(command)
    ]


def _module_commands() -> list[tuple[str, str, str]]:
    return [
        (doc, found[1], found[2].strip())
        for doc, command in _shell_lines()
        if (found := MODULE_COMMAND.fullmatch(command))
    ]


def _toml_blocks() -> list[tuple[str, str]]:
    return [
        (doc.name, body)
        for doc in DOCS
        for lang, body in FENCE.findall(doc.read_text("utf-8"))
        if lang == "toml"
    ]


def _python_examples() -> list[tuple[str, str]]:
    return [
        (doc.name, body)
        for doc in DOCS
        for lang, body in FENCE.findall(doc.read_text("utf-8"))
        if lang == "python"
    ]


@pytest.mark.parametrize(("doc", "command"), _commands(), ids=lambda v: v[:70])
def test_documented_command_runs(doc: str, command: str, tmp_path, monkeypatch) -> None:
    args = shlex.split(command)[1:]
    monkeypatch.chdir(tmp_path)  # files an example writes land here
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text(
        (ROOT / "src/rooflens/models/configs/meta-llama--Llama-2-7b-hf.json").read_text()
    )
    if args[0] in PARSED_ONLY:
        command_obj = typer.main.get_command(app).commands[args[0]]  # type: ignore[attr-defined]
        command_obj.make_context(args[0], args[1:])
        return
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{doc}: {command}\n{result.output}"


class _Parsed(Exception):
    """Raised once a script's arguments parsed, before it measures or writes anything."""


@pytest.mark.parametrize(("doc", "module", "args"), _module_commands(), ids=lambda v: v[:60])
def test_documented_script_parses(doc: str, module: str, args: str, monkeypatch) -> None:
    parse = argparse.ArgumentParser.parse_args

    def parsed_only(self, *a, **k):  # an unknown flag or value exits 2 here, as it would
        parse(self, *a, **k)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parsed_only)
    with pytest.raises(_Parsed):
        importlib.import_module(module).main(shlex.split(args))


def test_the_documented_scripts_are_found() -> None:
    # measurement.md's TP 4/8 runs and validation-intro.md's reproduction among them.
    modules = {module for _, module, _ in _module_commands()}
    assert {"rooflens.measure.parallel", "rooflens.calibration.report"} <= modules


@pytest.mark.parametrize(("doc", "command"), _synopses(), ids=lambda v: v[:70])
def test_documented_synopsis_names_real_options(doc: str, command: str) -> None:
    name = shlex.split(command.replace("[", " ").replace("]", " "))[1]
    command_obj = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    known = {opt for param in command_obj.params for opt in (*param.opts, *param.secondary_opts)}
    named = set(OPTION.findall(command.split(name, 1)[1]))
    assert named <= known, f"{doc}: {sorted(named - known)} not options of rooflens {name}"


def test_documented_device_files_load(tmp_path, monkeypatch) -> None:
    """catalogs.md's device fields, then its price fields added to them: the file loads, and
    its price is the cost figure's."""
    (_, fields), (_, prices) = _toml_blocks()
    monkeypatch.chdir(tmp_path)
    Path("mygpu.toml").write_text(fields)
    shown = CliRunner().invoke(app, ["hardware", "./mygpu.toml"])
    assert shown.exit_code == 0, shown.output
    assert "mygpu" in shown.output
    priced = fields.replace("[peak_ops]", prices + "[peak_ops]", 1)
    Path("priced.toml").write_text(priced.replace('"mygpu"', '"pricedgpu"'))
    result = CliRunner().invoke(app, ["analyze", "meta-llama/Llama-2-7b-hf", "-H", "./priced.toml"])
    assert result.exit_code == 0, result.output
    assert "$3.49/device-h" in result.output


@pytest.mark.parametrize(("doc", "code"), _python_examples(), ids=lambda v: v[:40])
def test_documented_python_runs(doc: str, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{doc} example", "exec"), {})


def test_ci_runs_the_readme_test_command() -> None:
    # The README's second line is how a new user runs the tests; CI must run exactly that.
    readme_command = (ROOT / "README.md").read_text("utf-8").split("```bash\n", 1)[1]
    test_command = readme_command.splitlines()[1]
    assert test_command.endswith("python3 -m pytest")
    # PyPI's Linux torch is a CUDA build of several GB: the CPU index, and no pinned torch.
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in test_command
    assert "torch==" not in test_command
    ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert test_command in ci
    assert ci[-1] == test_command


def _speedups_in(doc: str, pattern: str) -> list[float]:
    text = " ".join((ROOT / "docs" / doc).read_text("utf-8").split())
    match = re.search(pattern, text)
    assert match, f"{doc} no longer states {pattern!r}"
    return [float(value) for value in match.groups()]


def test_the_speculation_speedups_techniques_md_states_are_what_rooflens_gives() -> None:
    """docs/techniques.md quotes the `speculate` examples' speed-ups; the figures follow the
    estimate."""
    import rooflens

    medusa = rooflens.speculate(
        "meta-llama/Llama-3.1-8B", "h200-sxm", gamma=3, alpha=0.7, medusa_heads=True,
        batch=[1, 128, 512],
    )  # fmt: skip
    stated = _speedups_in(
        "techniques.md", r"α = 0\.7: ([\d.]+)× at batch 1, ([\d.]+)× at 128, ([\d.]+)× at 512"
    )
    assert list(medusa.speedup) == pytest.approx(stated, abs=0.005)
    mtp = rooflens.speculate(
        "deepseek-ai/DeepSeek-V3", "h200-sxm", tp=8, gamma=2, alpha=0.85, mtp=True,
        batch=[1, 8, 32],
    )  # fmt: skip
    stated = _speedups_in(
        "techniques.md", r"above: ([\d.]+)×, ([\d.]+)×, ([\d.]+)× at batch 1, 8, 32"
    )
    assert list(mtp.speedup) == pytest.approx(stated, abs=0.005)
