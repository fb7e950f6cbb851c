"""Shared fixtures. Tests never touch the network."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings

os.environ["HF_HUB_OFFLINE"] = "1"
# Property tests assert results, never time: no per-example deadline on a shared 2-core
# machine. The default profile draws the same examples on every run (derandomized), so a
# test's verdict depends on the code alone; HYPOTHESIS_PROFILE=thorough draws many more,
# fresh each run, to find new cases (each found is then pinned by a plain test).
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from rooflens.core import Device, ModelSpec  # noqa: E402  (after the offline switch)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pyproject's addopts): workers on every core for a run of whole folders
    (the suite: 320 s alone, 236 s on two workers of a 2-core machine), none for a run of
    chosen files, where starting workers costs more than they save (one file: 2 s alone,
    6 s on two) and pytest-benchmark, which xdist disables, records its timings. None: xdist's
    own count (a core each)."""
    if config.args and all(Path(arg.split("::")[0]).is_file() for arg in config.args):
        return 0
    return None


@pytest.fixture
def load_script():
    """Import `scripts/<name>.py` as a module (the scripts are not a package)."""

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def tiny_model() -> ModelSpec:
    """A small GQA llama-style model whose costs are easy to compute by hand."""
    return ModelSpec(
        name="tiny",
        model_type="llama",
        num_layers=2,
        hidden_size=64,
        num_heads=4,
        num_kv_heads=2,
        head_dim=16,
        intermediate_size=128,
        vocab_size=100,
        max_positions=4096,
        tied_embeddings=False,
        gated_mlp=True,
        activation="silu",
        norm="rmsnorm",
    )


@pytest.fixture
def toy_device() -> Device:
    """Round numbers: 1 TB/s, 100 TFLOP/s at 16 bit, ridge point 100 OP/B."""
    return Device(
        name="toy",
        memory_capacity=10e9,
        memory_bandwidth=1e12,
        peak_ops={"fp32": 10e12, "fp16": 100e12, "int8": 200e12},
        compute_units=10,
        onchip_memory_per_unit=64 * 1024,
    )


@pytest.fixture
def squeeze():
    """A function giving the device with room for exactly `kv_tokens` tokens of KV cache
    beside what a replica of the model holds there (weights, activation reserve, framework),
    for tests of memory pressure."""
    from rooflens.serving.replica import build_replica

    def squeezed(model, device, options, scheduler, kv_tokens: int) -> Device:
        replica = build_replica(
            model, device, options, max_tokens=scheduler.max_tokens, max_context=64, max_rows=8
        )
        room = kv_tokens * replica.kv_bytes_per_token + 1
        return device.model_copy(update={"memory_capacity": replica.beside_kv + room})

    return squeezed


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test leaves open (plot functions return theirs): past 20 open
    figures matplotlib warns on stderr, inside the output of whatever CLI test runs next on
    that worker."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
