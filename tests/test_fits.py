"""One meaning of "fits": the peak memory of the whole run, the same in every view."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app

MODEL, DEVICE = "meta-llama/Llama-2-7b-hf", "a6000"
SIZES = {"prompt_len": 1024, "gen_len": 512, "w_bits": 4}


def test_sweep_analyze_and_largest_batch_agree() -> None:
    batches = np.arange(1, 129)
    frame = rooflens.sweep(MODEL, DEVICE, batch=batches, **SIZES)
    one = rooflens.analyze(MODEL, DEVICE, batch=1, **SIZES)
    largest = int(one.peak_memory.max_batch)
    # The largest batch that fits, computed from one sequence's share, is where fits flips.
    assert 1 < largest < 128
    assert list(frame.fits) == [b <= largest for b in batches]
    for b in (largest, largest + 1):
        point = rooflens.analyze(MODEL, DEVICE, batch=b, **SIZES)
        assert bool(point.fits) == (b <= largest)
        # The peak is the whole generation: its last step's context and the larger activations.
        gen = point.memory["generation"]
        assert float(point.peak_memory.total) == float(gen.total)
        assert float(gen.total) >= float(point.memory["decode"].total)
        assert float(gen.activations) == max(
            float(point.memory["prefill"].activations), float(point.memory["decode"].activations)
        )


def test_without_a_generation_the_peak_is_the_larger_step() -> None:
    point = rooflens.analyze(MODEL, DEVICE, batch=8, prompt_len=2048)
    totals = [float(point.memory[s].total) for s in ("prefill", "decode")]
    assert float(point.peak_memory.total) == max(totals)
    assert int(point.peak_memory.max_batch) == min(
        int(point.memory[s].max_batch) for s in ("prefill", "decode")
    )


def test_the_cli_says_what_the_api_says() -> None:
    largest = int(rooflens.analyze(MODEL, DEVICE, batch=1, **SIZES).peak_memory.max_batch)
    for batch, verdict in ((largest, "fits"), (largest + 1, "DOES NOT FIT")):
        args = ["analyze", MODEL, "-H", DEVICE, "--batch", str(batch), "--w-bits", "4"]
        out = CliRunner().invoke(app, [*args, "--prompt-len", "1024", "--gen-len", "512"]).stdout
        line = next(x for x in out.splitlines() if x.startswith("memory at the peak"))
        assert f", {verdict};" in line and f"largest batch that fits: {largest}" in line


def test_one_point_gives_plain_floats() -> None:
    # totals() and .generation once returned 0-d arrays (array(2.875e+13)).
    point = rooflens.analyze(MODEL, DEVICE, batch=4, prompt_len=512, gen_len=64)
    assert type(point.totals()["prefill"]["ops"]) is float
    assert type(point.generation["tpot"]) is float
    sweep = rooflens.analyze(MODEL, DEVICE, batch=np.array([1, 2]), prompt_len=512, gen_len=64)
    assert np.shape(sweep.totals()["decode"]["time"]) == (2,)
