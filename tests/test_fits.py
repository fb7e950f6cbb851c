"""One meaning of "fits": the peak memory of the whole run, the same in every view: analyze,
sweep, the CLI, the simulator and the advisor (docs/model.md, "Fits")."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.advisor.choices import WEIGHTS
from rooflens.advisor.search import BATCHES, Target, advise
from rooflens.api import with_activation_reserve
from rooflens.cli.app import app
from rooflens.core.analysis import analyze
from rooflens.core.errors import InvalidInputError
from rooflens.core.results import Analysis
from rooflens.serving.config import SLO, SchedulerConfig
from rooflens.serving.workload import ArrivalProcess, LengthDistribution, Workload

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
        # A wide terminal whatever runs the test (a pytest-xdist worker has COLUMNS set, so
        # rich would wrap the line at 80 columns).
        sizes = ["--prompt-len", "1024", "--gen-len", "512"]
        out = CliRunner().invoke(app, [*args, *sizes], env={"COLUMNS": "200"}).stdout
        line = next(x for x in out.splitlines() if x.startswith("memory at the peak"))
        assert f", {verdict};" in line and f"largest batch that fits: {largest}" in line


def test_one_point_gives_plain_floats() -> None:
    # totals() and .generation once returned 0-d arrays (array(2.875e+13)).
    point = rooflens.analyze(MODEL, DEVICE, batch=4, prompt_len=512, gen_len=64)
    assert type(point.totals()["prefill"]["ops"]) is float
    assert type(point.generation["tpot"]) is float
    sweep = rooflens.analyze(MODEL, DEVICE, batch=np.array([1, 2]), prompt_len=512, gen_len=64)
    assert np.shape(sweep.totals()["decode"]["time"]) == (2,)


def _workload(requests: int, prompt: int, output: int) -> Workload:
    return Workload(
        requests=requests,
        arrivals=ArrivalProcess(rate=50.0),
        prompt=LengthDistribution(kind="fixed", a=prompt),
        output=LengthDistribution(kind="fixed", a=output),
    )


def _as_served(batch: int, scheduler: SchedulerConfig | None = None) -> Analysis:
    """`analyze` as the simulator's verdict holds it: with the activations its scheduler sets
    aside (one iteration of its token budget) in place of the whole batch's prefill."""
    spec, device, options = rooflens.api.resolve(MODEL, DEVICE, {"w_bits": 4})
    options = with_activation_reserve(options, scheduler or SchedulerConfig())
    sizes = {"prompt_len": SIZES["prompt_len"], "gen_len": SIZES["gen_len"]}
    return analyze(spec, device, batch=batch, options=options, **sizes)


def test_simulate_says_what_analyze_says() -> None:
    prompt, output = SIZES["prompt_len"], SIZES["gen_len"]
    largest = int(_as_served(1).peak_memory.max_batch)
    assert largest > 12
    workload = _workload(largest + 50, prompt, output)
    for max_batch, held in ((256, largest), (8, 8)):
        scheduler = SchedulerConfig(max_batch=max_batch)
        result = rooflens.simulate(MODEL, DEVICE, workload, scheduler=scheduler, w_bits=4)
        verdict = result.memory
        assert (verdict.prompt_len, verdict.gen_len) == (prompt, output)
        assert (verdict.max_batch, verdict.batch, verdict.fits) == (largest, held, True)
        # The peak of `held` such requests at once, as analyze prices it.
        at = _as_served(held, scheduler).peak_memory
        assert verdict.peak == float(at.total) and verdict.capacity == float(at.capacity)


def test_the_peak_holds_no_more_requests_than_the_run_sends() -> None:
    """A closed loop of C clients holds at most C requests at once, a workload of N at most N:
    the peak shown is theirs, not the scheduler's largest batch."""
    prompt, output = SIZES["prompt_len"], SIZES["gen_len"]
    largest = int(_as_served(1).peak_memory.max_batch)
    three = rooflens.simulate(MODEL, DEVICE, _workload(3, prompt, output), w_bits=4)
    lengths = {"prompt": LengthDistribution(kind="fixed", a=prompt),
               "output": LengthDistribution(kind="fixed", a=output)}  # fmt: skip
    five_clients = rooflens.simulate(
        MODEL, DEVICE, Workload(requests=40, **lengths), concurrency=5, w_bits=4
    )
    for verdict, held in ((three.memory, 3), (five_clients.memory, 5)):
        assert (verdict.batch, verdict.max_batch) == (held, largest)
        assert verdict.peak == float(_as_served(held).peak_memory.total)


def test_simulate_fits_exactly_where_analyze_does() -> None:
    prompt, output = SIZES["prompt_len"], SIZES["gen_len"]
    peak = float(rooflens.analyze(MODEL, DEVICE, batch=1, **SIZES).peak_memory.total)
    # A step of one prompt reserves the activations analyze counts; a few tokens' slack covers
    # the scheduler keeping the last token's KV, which the generation's peak never holds.
    scheduler = SchedulerConfig(max_batch=4, max_tokens=prompt)
    workload = _workload(2, prompt, output)
    for memory, fits in ((peak + 2e6, True), (peak - 1e6, False)):
        device = rooflens.get_device(DEVICE).model_copy(update={"memory_capacity": memory})
        assert bool(rooflens.analyze(MODEL, device, batch=1, **SIZES).fits) == fits
        if fits:
            result = rooflens.simulate(MODEL, device, workload, scheduler=scheduler, w_bits=4)
            assert (result.memory.max_batch, result.memory.fits) == (1, True)
            assert len(result.requests) == 2
        else:
            with pytest.raises(InvalidInputError, match=r"hardware=.*room for a KV cache"):
                rooflens.simulate(MODEL, device, workload, scheduler=scheduler, w_bits=4)


def test_advise_admits_what_memory_holds_beside_one_prefill() -> None:
    """The advisor prefills one prompt at a time (as its confirming simulation): its largest
    batch is the KV cache of as many requests as fit beside the weights and one prompt's
    activations, not `analyze`'s, whose batch prefills all at once. At one request both
    agree on what fits."""
    target = Target(prompt_len=SIZES["prompt_len"], output_len=SIZES["gen_len"], rate=1.0)
    slo = SLO(ttft=60.0, tpot=10.0)
    # The advisor's INT4 setup, as `analyze` takes its settings.
    sizes = {"prompt_len": SIZES["prompt_len"], "gen_len": SIZES["gen_len"], **WEIGHTS["int4"]}
    one = rooflens.analyze(MODEL, DEVICE, batch=1, **sizes).peak_memory
    memory = rooflens.get_device(DEVICE).memory_capacity
    room = memory - float(one.weights) - float(one.activations)
    largest = int(room // float(one.kv_cache))
    assert largest > int(one.max_batch)
    only = {"tps": (1,), "pps": (1,), "weights": ("int4",), "kv_bits": (16,)}
    row = advise(MODEL, target, slo, devices=[DEVICE], **only).table.iloc[0]
    assert row["max_batch_memory"] == largest and row["feasible"]
    # With an SLO this loose only memory binds: the largest screened batch within `largest`.
    assert row["batch_limit"] == max(b for b in BATCHES if b <= largest)
    assert row["binds"].startswith("memory capacity")
    device = rooflens.get_device(DEVICE)
    for memory, fits in ((float(one.total), True), (float(one.total) - 1e6, False)):
        squeezed = device.model_copy(update={"memory_capacity": memory})
        row = advise(MODEL, target, slo, devices=[squeezed], **only).table.iloc[0]
        assert bool(rooflens.analyze(MODEL, squeezed, batch=1, **sizes).fits) == fits
        assert bool(row["feasible"]) == fits
        assert row["max_batch_memory"] == int(fits)


def test_a_long_prompt_without_flashattention_is_told_to_turn_it_on() -> None:
    """100,000-token prompts on an L4: 1,281 GB of activations are the unfused attention's
    scores, which FlashAttention never holds; the refusal named every remedy but it."""
    workload = _workload(2, 100_000, 10)
    with pytest.raises(InvalidInputError) as eager:
        rooflens.simulate("meta-llama/Llama-3.1-8B", "l4", workload)
    assert "activation reserve 1280.8 GB" in str(eager.value)
    assert str(eager.value).endswith(
        "(turn on flash_attention, quantize, add tensor parallelism, shorten the requests or "
        "lower max_tokens)"
    )
    with pytest.raises(InvalidInputError) as fused:
        rooflens.simulate("meta-llama/Llama-3.1-8B", "l4", workload, flash_attention=True)
    assert "activation reserve 9.4 GB" in str(fused.value)
    assert "flash_attention" not in str(fused.value)
