"""Energy, cost and carbon, by hand on the toy device."""

from __future__ import annotations

import numpy as np
import pytest

import rooflens
from rooflens.cli.format import dollars
from rooflens.core import AnalysisOptions, analyze
from rooflens.core.economics import IDLE_SHARE, MEMORY_POWER_WEIGHT, utilization
from rooflens.core.errors import InvalidInputError
from rooflens.core.options import Parallelism


@pytest.fixture
def priced(toy_device):
    return toy_device.model_copy(update={"tdp": 500.0, "hourly_price": 3.6})


def test_power_follows_the_binding_resource(tiny_model, priced) -> None:
    result = analyze(tiny_model, priced, batch=1, prompt_len=64, gen_len=9)
    e = result.economics()
    decode = result.steps["decode"]
    # Uncalibrated roofline: every operator busy for its whole time, so the step is the sum of
    # per-operator maxima; memory-bound time counts at the memory weight.
    compute = decode.total(decode.compute_time)
    memory = decode.total(decode.memory_time)
    total = decode.step_time()
    u = (min(compute, total) + MEMORY_POWER_WEIGHT * max(memory - compute, 0)) / total
    assert float(utilization(decode)) == pytest.approx(u)
    idle = IDLE_SHARE * 500
    assert float(e["decode_power"]) == pytest.approx(idle + (500 - idle) * u)
    # The memory-bound decode draws less than the compute-bound prefill of 64 tokens.
    assert idle < float(e["decode_power"]) < float(e["prefill_power"])


def test_a_prefills_memory_bound_operators_draw_their_streamings_power() -> None:
    """Utilization is read per operator: Llama-2-7B's 1,000-token prefill of 4 on an H100
    (69.2 ms) keeps the tensor units busy 55.0 ms, and its memory-bound operators (softmax,
    scores, norms, adds, the head) stream 14.2 ms beyond their compute. Compared in total,
    its 26.6 ms of memory time lay under the 55.0 ms of compute and streamed nothing: the
    step drew 571 W where it draws 648."""
    result = rooflens.analyze(
        "meta-llama/Llama-2-7b-hf", "h100-sxm", batch=4, prompt_len=1000, gen_len=101
    )
    prefill = result.steps["prefill"]
    compute = float(prefill.total(prefill.compute_time))
    beyond = float(prefill.total(np.maximum(prefill.memory_time - prefill.compute_time, 0)))
    total = float(prefill.step_time())
    assert (compute, beyond, total) == pytest.approx((54.97e-3, 14.19e-3, 69.17e-3), abs=5e-5)
    assert float(prefill.total(prefill.memory_time)) < compute  # in total, no streaming
    u = (compute + MEMORY_POWER_WEIGHT * beyond) / total
    assert u == pytest.approx(0.918, abs=1e-3)
    assert float(result.economics()["prefill_power"]) == pytest.approx(70 + 630 * u)
    assert float(result.economics()["prefill_power"]) == pytest.approx(648.3, abs=0.1)


def test_cost_and_energy_per_token_and_request(tiny_model, priced) -> None:
    result = analyze(tiny_model, priced, batch=4, prompt_len=64, gen_len=9)
    e = result.economics(grid_intensity=400.0)
    gen = result.generation
    per_second = 3.6 / 3600  # USD per device-second
    tpot = float(gen["tpot"])
    assert float(e["cost_per_million_output"]) == pytest.approx(per_second * tpot / 4 * 1e6)
    prefill = float(result.steps["prefill"].step_time())
    assert float(e["cost_per_million_input"]) == pytest.approx(per_second * prefill / 256 * 1e6)
    request = (
        float(e["prefill_power"]) * prefill + float(e["decode_power"]) * float(gen["decode_time"])
    ) / 4
    assert float(e["energy_per_request"]) == pytest.approx(request)
    assert float(e["carbon_per_request"]) == pytest.approx(request / 3.6e6 * 400)
    # A price given explicitly overrides the catalog's.
    assert float(result.economics(hourly_price=7.2)["cost_per_million_output"]) == pytest.approx(
        2 * float(e["cost_per_million_output"])
    )


def test_every_device_of_the_deployment_is_paid_for(tiny_model, priced) -> None:
    one = analyze(tiny_model, priced, batch=8, prompt_len=64, gen_len=9)
    dp = analyze(
        tiny_model,
        priced,
        batch=8,
        prompt_len=64,
        gen_len=9,
        options=AnalysisOptions(parallelism=Parallelism(dp=2)),
    )
    # Two replicas serve twice the sequences at twice the price: same cost per token.
    a, b = one.economics(), dp.economics()
    assert float(b["cost_per_million_output"]) == pytest.approx(float(a["cost_per_million_output"]))
    assert float(b["decode_power"]) == pytest.approx(2 * float(a["decode_power"]))


def test_published_idle_power_is_used(tiny_model, priced) -> None:
    quiet = priced.model_copy(update={"idle_power": 20.0})
    e = analyze(tiny_model, quiet, batch=1, prompt_len=8).economics()
    u = float(utilization(analyze(tiny_model, quiet, batch=1, prompt_len=8).steps["prefill"]))
    assert float(e["prefill_power"]) == pytest.approx(20 + 480 * u)


def test_sweeps_and_json() -> None:
    result = rooflens.analyze("meta-llama/Llama-2-7b-hf", "h100", batch=[1, 64], prompt_len=512)
    cost = result.economics()["cost_per_million_output"]
    assert cost.shape == (2,) and cost[1] < cost[0] / 10  # batching amortizes the weights
    point = rooflens.analyze("meta-llama/Llama-2-7b-hf", "h100", batch=1, prompt_len=512)
    assert point.to_dict()["economics"]["cost_per_million_output"] > 0


def test_a_device_without_tdp_has_no_energy(tiny_model, toy_device) -> None:
    result = analyze(tiny_model, toy_device, batch=1, prompt_len=8)
    assert result.to_dict()["economics"] is None  # there, null: one shape for scripts
    assert result.economics() == {}  # no power, no price: no figure
    with pytest.raises(InvalidInputError, match=r"grid_intensity.*TDP"):
        result.economics(grid_intensity=400)
    # to_dict reads it as economics() does (it returned a silent null).
    with pytest.raises(InvalidInputError, match=r"grid_intensity.*TDP"):
        result.to_dict(grid_intensity=400)
    with pytest.raises(InvalidInputError, match="hourly_price"):
        result.to_dict(hourly_price=0)
    assert np.isfinite(float(result.totals()["decode"]["time"]))


def test_a_device_without_tdp_has_a_cost_once_priced(tiny_model, toy_device) -> None:
    """Cost is price x time (a TPU v5e's $1.20/h had no cost figure: its catalog states no
    TDP, and a price given for it was refused as needing one)."""
    result = analyze(tiny_model, toy_device, batch=2, prompt_len=8, gen_len=5)
    figures = result.to_dict(hourly_price=3.6)["economics"]
    assert figures["prefill_power"] is None and figures["energy_per_output_token"] is None
    assert figures["hourly_price"] == 3.6  # the price the costs are at
    # $3.6/h is $0.001 a second: per prompt token, the prefill over 2 x 8 tokens; per output
    # token, the generation's decode time over its 2 x 4 decoded tokens.
    prefill = float(result.totals()["prefill"]["time"])
    decode = result.generation["decode_time"]
    assert figures["cost_per_million_input"] == pytest.approx(0.001 * prefill / 16 * 1e6)
    assert figures["cost_per_million_output"] == pytest.approx(0.001 * decode / 8 * 1e6)
    priced = toy_device.model_copy(update={"hourly_price": 3.6})
    again = analyze(tiny_model, priced, batch=2, prompt_len=8, gen_len=5)
    assert again.to_dict()["economics"] == figures


def test_analyze_prints_energy_and_cost() -> None:
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = [
        "analyze",
        "meta-llama/Llama-2-7b-hf",
        "-H",
        "h100",
        "--batch",
        "16",
        "--gen-len",
        "256",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    api = rooflens.analyze("meta-llama/Llama-2-7b-hf", "h100", batch=16, gen_len=256)
    output = float(api.economics()["cost_per_million_output"])
    assert "energy and cost" in result.output and f"output {dollars(output)}" in result.output


@pytest.mark.parametrize(
    ("value", "shown"),
    [(83.01384, "$83.01"), (1234.5, "$1,234.50"), (0.33333, "$0.3333"), (0.00123456, "$0.001235"),
     (0.0, "$0"), (float("nan"), "—"), (None, "—")],
)  # fmt: skip
def test_dollars_keep_cents_from_a_dollar_and_four_digits_below(value, shown) -> None:
    assert dollars(value) == shown


def test_a_given_price_and_grid_intensity() -> None:
    result = rooflens.analyze("meta-llama/Llama-2-7b-hf", "h100", batch=4, gen_len=128)
    at_two, at_four = result.economics(hourly_price=2), result.economics(hourly_price=4)
    for key in ("cost_per_million_input", "cost_per_million_output"):
        assert float(at_four[key]) == pytest.approx(2 * float(at_two[key]))
    green = result.economics(grid_intensity=0)["carbon_per_million_output"]
    coal = result.economics(grid_intensity=800)
    # 800 g per kWh: energy per output token (J) × 1e6 tokens / 3.6e6 J/kWh × 800 g.
    want = float(coal["energy_per_output_token"]) * 1e6 / 3.6e6 * 800
    assert float(green) == 0 and float(coal["carbon_per_million_output"]) == pytest.approx(want)
    data = result.to_dict(hourly_price=2, grid_intensity=800)["economics"]
    assert data["cost_per_million_output"] == pytest.approx(
        float(at_two["cost_per_million_output"])
    )
    assert data["carbon_per_million_output"] == pytest.approx(want)
    for field, value in (("hourly_price", 0), ("hourly_price", float("nan")),
                         ("grid_intensity", -1)):  # fmt: skip
        with pytest.raises(InvalidInputError, match=field):
            result.economics(**{field: value})


def test_analyze_takes_a_price_and_a_grid_intensity() -> None:
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    base = ["analyze", "meta-llama/Llama-2-7b-hf", "-H", "h100", "--batch", "4", "--gen-len", "128"]
    money = ["--hourly-price", "2", "--grid-intensity", "800"]
    res = CliRunner().invoke(app, [*base, *money, "-f", "json"])
    assert res.exit_code == 0, res.output
    api = rooflens.analyze("meta-llama/Llama-2-7b-hf", "h100", batch=4, gen_len=128)
    want = api.economics(hourly_price=2, grid_intensity=800)
    got = json.loads(res.stdout)["economics"]
    assert got["cost_per_million_output"] == pytest.approx(float(want["cost_per_million_output"]))
    assert got["carbon_per_million_output"] == pytest.approx(
        float(want["carbon_per_million_output"])
    )
    table = CliRunner().invoke(app, [*base, *money])
    assert "at $2/device-h" in table.output and "carbon at 800 gCO2e/kWh" in table.output
    bad = CliRunner().invoke(app, [*base, "--hourly-price", "-1"])
    assert bad.exit_code == 2 and "hourly_price=-1.0 is invalid" in bad.output


def test_a_one_token_answer_has_no_per_output_token_figures() -> None:
    """gen_len 1: the one token is the prefill's and no decode step runs, yet energy per output
    token (2.05 J) and its cost ($4.43 per million) were the first decode step's. They do not
    apply (NaN, JSON null, "—"); the request's energy is the prefill's alone, and two tokens
    charge the second its decode step."""
    one = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", gen_len=1)
    e = one.economics(grid_intensity=400)
    for key in ("energy_per_output_token", "cost_per_million_output", "carbon_per_million_output"):
        assert np.isnan(e[key]), key
    prefill = one.steps["prefill"]
    assert float(e["energy_per_request"]) == pytest.approx(
        float(e["prefill_power"]) * float(prefill.step_time())
    )
    assert float(e["cost_per_million_input"]) > 0
    two = rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", gen_len=2).economics()
    decode_energy = float(two["energy_per_request"] - e["energy_per_request"])
    assert float(two["energy_per_output_token"]) == pytest.approx(decode_energy, rel=1e-3)
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = ["analyze", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "--gen-len", "1"]
    data = json.loads(CliRunner().invoke(app, [*args, "-f", "json"]).stdout)["economics"]
    assert data["energy_per_output_token"] is None and data["cost_per_million_output"] is None
    table = CliRunner().invoke(app, args, env={"COLUMNS": "200"}).stdout
    text = " ".join(table.split())
    assert "energy per output token │ — (no decode step: the one token is the prefill's)" in text
    assert "output —" in text and "$nan" not in text
    assert "generation of 1 token " in text + " "
