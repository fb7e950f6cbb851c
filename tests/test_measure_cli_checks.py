"""`rooflens measure` and `rooflens calibrate` check their arguments before any run: the prompt
against the model's positions, the files they end by writing, and sizes and the model before
the device is probed. No run happens here: torch is replaced by a stand-in that sees no CUDA
device and has nothing to build a model with, so a check that came after the device probe or
the model build would show up as the wrong error (or an internal one), not pass."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rooflens.cli.app import app

OPT = "facebook/opt-125m"  # bundled: a config read, no network; 2048 positions
CPU_RUN = ["--device", "cpu", "-H", "amd-epyc-9654"]
NO_CUDA = "error: --device='cuda' is invalid: expected 'cpu' here: PyTorch sees no CUDA device"


@pytest.fixture(autouse=True)
def machine_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose torch sees no CUDA device, and no Hub to reach."""
    torch = types.ModuleType("torch")
    # A spec: libraries that ask importlib whether torch is installed get an answer, not an error.
    torch.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    no_cuda = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)
    torch.cuda = no_cuda  # type: ignore[attr-defined]
    transformers = types.ModuleType("transformers")
    transformers.__spec__ = importlib.machinery.ModuleSpec("transformers", None)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "transformers", transformers)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


# 1. The prompt and generation within the model's positions -----------------------------------
def test_measure_refuses_a_prompt_past_the_models_positions() -> None:
    # 3000 + 127 positions of OPT's 2048: once an IndexError deep in the model, rc=1.
    code, out = _run("measure", OPT, *CPU_RUN, "--prompt-len", "3000")
    assert code == 2, out
    assert out.startswith(
        "error: --prompt-len=3000 is invalid: expected at most 1921 tokens with --gen-len 128: "
        "a context of at most 2048 tokens (max positions of facebook/opt-125m)"
    ), out
    assert "internal error" not in out and "Traceback" not in out


def test_measure_refuses_a_generation_no_prompt_fits_beside() -> None:
    code, out = _run("measure", OPT, *CPU_RUN, "--prompt-len", "1", "--gen-len", "5000")
    assert code == 2, out
    assert out.startswith("error: --gen-len=5000 is invalid: expected at most 2048 tokens"), out


@pytest.mark.parametrize(
    ("prompt_len", "gen_len", "refused"),
    [
        ("1921", "128", NO_CUDA),  # the last step feeds position 2047: fits, on to the device
        ("1922", "128", "error: --prompt-len=1922 is invalid"),
        ("2047", "1", NO_CUDA),  # one token generated: the decode step feeds position 2047
        ("2048", "1", "error: --prompt-len=2048 is invalid: expected at most 2047 tokens"),
    ],
)
def test_measure_context_limit_is_the_runs_last_position(
    prompt_len: str, gen_len: str, refused: str
) -> None:
    # On CUDA (absent here): a context that fits passes the check and stops at the device
    # probe, so the boundary is seen without any run.
    code, out = _run("measure", OPT, "--prompt-len", prompt_len, "--gen-len", gen_len)
    assert code == 2, out
    assert out.startswith(refused), out


# 2. The files written at the end, checked at the start ---------------------------------------
@pytest.mark.parametrize(
    ("args", "name", "accepted"),
    [
        (["measure", OPT, *CPU_RUN, "-o"], "missing/x.json", "a file in a folder that exists"),
        (["measure", OPT, *CPU_RUN, "-o"], "x.txt", "a file ending in .json"),
        (["calibrate", *CPU_RUN, "-o"], "missing/x.toml", "a file in a folder that exists"),
        (["calibrate", *CPU_RUN, "-o"], "x.txt", "a file ending in .toml or .json"),
        (["calibrate", "--collectives", *CPU_RUN, "-o"], "missing/x.toml", "a file in a folder"),
        (
            ["calibrate", "--from-aiconfigurator", "h100_sxm", "-o"],
            "x.yaml",
            "a file ending in .toml or .json",
        ),
    ],
)
def test_output_file_is_checked_before_the_run(
    tmp_path: Path, args: list[str], name: str, accepted: str
) -> None:
    out = tmp_path / name
    code, text = _run(*args, str(out))
    assert code == 2, text
    assert text.startswith(f"error: -o={str(out)!r} is invalid: expected {accepted}"), text
    assert not out.exists()


def test_calibrate_raw_file_is_checked_before_the_run(tmp_path: Path) -> None:
    raw = tmp_path / "missing" / "raw.json"
    code, out = _run("calibrate", *CPU_RUN, "-o", str(tmp_path / "p.toml"), "--raw", str(raw))
    assert code == 2, out
    assert out.startswith(f"error: --raw={str(raw)!r} is invalid: expected a file in a folder"), out


def test_measure_writes_to_an_existing_folder_past_the_checks(tmp_path: Path) -> None:
    # A good -o is no error: the run goes on to the device (absent here).
    code, out = _run("measure", OPT, "-o", str(tmp_path / "x.json"))
    assert (code, out.startswith(NO_CUDA)) == (2, True), out


# 3. Sizes and the model before the device ----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["measure", OPT, "--batch", "0"], "error: --batch=0 is invalid: expected a positive"),
        (["measure", OPT, "--gen-len", "-1"], "error: --gen-len=-1 is invalid"),
        (["measure", OPT, "--tp", "0"], "error: --tp=0 is invalid: expected a positive integer"),
        (["measure", "nope/nope"], "error: model 'nope/nope' is not bundled"),
        (["calibrate", "--model", "nope/nope"], "error: model 'nope/nope' is not bundled"),
        (["measure", OPT, "--device", "tpu"], "error: --device='tpu' is invalid: expected 'cuda'"),
    ],
)
def test_bad_arguments_are_named_before_the_missing_cuda_device(
    args: list[str], message: str
) -> None:
    code, out = _run(*args)
    assert code == 2, out
    assert out.startswith(message), out


def test_good_arguments_reach_the_device_check() -> None:
    # The stand-in machine is what the tests above assume: good input stops at its device.
    code, out = _run("measure", OPT)
    assert code == 2, out
    assert out.startswith(NO_CUDA), out


def test_an_engine_fit_refuses_what_the_command_line_alone_shows_first(tmp_path: Path) -> None:
    """--engine transformers asked to pip install aiconfigurator-core first; an empty
    --data-dir listed no system, saying nothing of why."""
    code, out = _run("calibrate", "--from-aiconfigurator", "h200_sxm", "--engine", "transformers")
    assert (code, out.strip()) == (
        2, "error: --engine='transformers' is invalid: expected one of vllm, sglang, trtllm here"
    )  # fmt: skip
    code, out = _run("calibrate", "--from-aiconfigurator", "h200_sxm", "--data-dir", str(tmp_path))
    assert code == 2 and f"--data-dir='{tmp_path}' is invalid" in out, out
    assert "expected a folder of aiconfigurator tables" in out and "it holds none" in out, out


def test_calibrate_reads_aliases_and_refuses_options_of_the_other_mode(tmp_path) -> None:
    """`--from-aiconfigurator h200` was refused though -H takes it; --engine and --version
    without it, and --collectives with it, were silently dropped."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    # A system's folder holding a table, but none of GEMMs.
    tables = tmp_path / "h200_sxm" / "nccl" / "vllm" / "0.1.0"
    tables.mkdir(parents=True)
    (tables / "nccl_perf.csv").write_text("message_size,latency\n")
    out = str(tmp_path / "p.json")

    def line(*args: str) -> str:
        res = CliRunner().invoke(app, ["calibrate", *args])
        assert res.exit_code == 2, res.output
        return " ".join(res.stderr.split())

    # The alias reaches the system's folder (empty here: no GEMM tables to fit).
    assert "expected an engine with GEMM tables on h200_sxm" in line(
        "--from-aiconfigurator", "h200", "--data-dir", str(tmp_path), "-o", out
    )
    assert line("--engine", "sglang", "--device", "cpu").startswith(
        "error: --engine='sglang' is invalid: expected only with --from-aiconfigurator"
    )
    assert "left out with --from-aiconfigurator" in line(
        "--from-aiconfigurator", "h200", "--collectives", "-o", out
    )
    assert line("--from-aiconfigurator", "h200", "--model", "openai-community/gpt2", "-o",
                out).startswith("error: --model='openai-community/gpt2' is invalid")  # fmt: skip
    assert "only with --collectives" in line("--calibration", "x", "--device", "cpu")


def test_measure_refuses_a_device_without_on_chip_memory_before_the_run(tmp_path: Path) -> None:
    """The run is priced with FlashAttention, whose tiles take the device's on-chip memory:
    a device file without it was refused after the run, naming flash_attention."""
    device = tmp_path / "cpu.toml"
    device.write_text(
        'name = "mycpu"\nkind = "cpu"\nmemory_capacity = 64e9\nmemory_bandwidth = 100e9\n'
        "[peak_ops]\nfp32 = 2e12\nbf16 = 2e12\n"
    )
    # With CUDA asked for on a machine without it too: the device file is at fault first.
    code, out = _run("measure", OPT, "-H", str(device))
    assert code == 2, out
    assert out.startswith(f"error: -H='{device}' is invalid"), out
    code, out = _run("measure", OPT, "--device", "cpu", "-H", str(device))
    assert code == 2, out
    assert out.startswith(
        f"error: -H='{device}' is invalid: expected a device with onchip_memory_per_unit (the "
        "run is priced with FlashAttention"
    ), out
