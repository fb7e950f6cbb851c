"""Hardware what-ifs, comparisons, and the seed survey's findings (seed 000) reproduced."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app

LLAMA = "meta-llama/Llama-2-7b-hf"


def test_what_if_scales_the_device() -> None:
    base = rooflens.get_device("a6000")
    faster = base.what_if(bandwidth=2, compute=3, capacity=0.5)
    assert faster.memory_bandwidth == 2 * base.memory_bandwidth
    assert faster.peak_ops["fp16"] == 3 * base.peak_ops["fp16"]
    assert faster.memory_capacity == base.memory_capacity / 2
    capped = base.what_if(bandwidth=4, compute_cap=10e12)
    assert max(capped.peak_ops.values()) == 10e12 and "what-if" in capped.name
    with pytest.raises(rooflens.InvalidInputError, match="scale_bandwidth"):
        base.what_if(bandwidth=0)


def test_a_what_if_is_named_where_the_tables_and_report_name_the_device() -> None:
    """The header read "on NVIDIA H100 SXM5 80GB" at twice its bandwidth: only the JSON's
    device name said so."""
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    faster = rooflens.get_device("h100-sxm").what_if(bandwidth=2)
    assert faster.display_name == "NVIDIA H100 SXM5 80GB (what-if: bandwidth x2)"
    out = CliRunner().invoke(app, ["analyze", "gpt2", "-H", "h100-sxm", "--scale-bandwidth", "2"])
    assert out.exit_code == 0
    assert out.stdout.startswith(
        "openai-community/gpt2 on NVIDIA H100 SXM5 80GB (what-if: bandwidth x2) · "
    )


def test_a_what_if_device_has_no_price_of_its_own() -> None:
    base = rooflens.get_device("h100-sxm")
    faster = base.what_if(bandwidth=2)
    assert base.hourly_price and faster.hourly_price is None and faster.purchase_price is None
    result = rooflens.analyze(LLAMA, faster, prompt_len=512, gen_len=64)
    assert "cost_per_million_output" not in result.economics()
    priced = result.economics(hourly_price=base.hourly_price)
    plain = rooflens.analyze(LLAMA, base, prompt_len=512, gen_len=64).economics()
    # Twice the bandwidth: a memory-bound decode costs about half as much at the same price.
    ratio = priced["cost_per_million_output"] / plain["cost_per_million_output"]
    assert 0.5 <= float(ratio) < 0.55


def test_compare_gives_ratios() -> None:
    a = rooflens.analyze(LLAMA, "a6000", prompt_len=512, gen_len=64)
    b = rooflens.analyze(LLAMA, "a6000", prompt_len=512, gen_len=64, scale_bandwidth=2)
    frame = rooflens.compare(a, b).set_index("metric")
    # Decode on an A6000 is memory-bound throughout: twice the bandwidth, half the time.
    assert frame.loc["decode step time", "ratio"] == pytest.approx(0.5)
    assert frame.loc["weights", "ratio"] == 1.0
    assert frame.loc["throughput", "ratio"] > 1.9


def test_compare_command() -> None:
    res = CliRunner().invoke(
        app,
        [
            "compare",
            LLAMA,
            "-H",
            "a6000",
            "--vs",
            "w_bits=4",
            "--vs",
            "hardware=h100-sxm",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = {r["metric"]: r for r in json.loads(res.stdout)["rows"]}
    # 4-bit linears with per-channel scales; embeddings and head stay 16-bit.
    assert 0.25 < rows["weights"]["ratio"] < 0.3


def test_compare_of_two_models_runs_both_at_one_prompt() -> None:
    """Without --prompt-len each model took its own default (Llama-2 2,048 tokens, OPT's
    context 1,921 beside 128 generated), so every ratio mixed the model with the prompt."""
    res = CliRunner().invoke(
        app,
        ["compare", LLAMA, "-H", "a6000", "--vs", "model=facebook/opt-1.3b", "-f", "json"],
    )
    assert res.exit_code == 0, res.output
    rows = {r["metric"]: r for r in json.loads(res.stdout)["rows"]}
    a = rooflens.analyze(LLAMA, "a6000", prompt_len=1921, gen_len=128)
    b = rooflens.analyze("facebook/opt-1.3b", "a6000", prompt_len=1921, gen_len=128)
    want = rooflens.compare(a, b).set_index("metric")
    assert rows["prefill time"]["ratio"] == pytest.approx(want.loc["prefill time", "ratio"])


def _decode_time(bits: int, batch: int) -> float:
    result = rooflens.analyze(
        LLAMA, "a6000", batch=batch, prompt_len=1024, w_bits=bits, a_bits=bits if bits >= 8 else 16
    )
    return float(result.totals()["decode"]["time"])


def test_finding_a_quantization_helps_small_batch_decode_not_large() -> None:
    """Fig. 8: at batch 1 fewer weight bits cut decode time nearly in proportion; at a large
    batch the linear layers turn compute-bound and going 4 -> 2 -> 1 bits stops helping."""
    assert _decode_time(4, 1) / _decode_time(16, 1) < 0.35
    result = rooflens.analyze(LLAMA, "a6000", batch=512, prompt_len=64, w_bits=4)
    rows = result.operators().query("stage == 'decode' and name == 'gate_proj'")
    assert rows.bound.iloc[0] == "compute"
    large = [
        float(
            rooflens.analyze(LLAMA, "a6000", batch=512, prompt_len=64, w_bits=bits).totals()[
                "decode"
            ]["time"]
        )
        for bits in (4, 2, 1)
    ]
    assert large[2] / large[0] > 0.9


def test_finding_b_prefill_gains_from_quantization_fade_with_prompt_length() -> None:
    """Fig. 9: the relative prefill speed-up of 4-bit weights shrinks as prompts grow."""

    def gain(s: int) -> float:
        full = rooflens.analyze(LLAMA, "a6000", prompt_len=s).totals()["prefill"]["time"]
        quant = rooflens.analyze(LLAMA, "a6000", prompt_len=s, w_bits=4)
        return float(full / quant.totals()["prefill"]["time"])

    gains = [gain(s) for s in (8, 64, 512, 4000)]
    # At long prompts the gain is gone; dequantizing weights on the fly even costs a little.
    assert gains[0] > 2 and gains[0] > gains[1] > gains[2]
    assert gains[2:] == pytest.approx([1.0, 1.0], abs=0.05)


def test_finding_c_flash_attention_decode_vs_prefill() -> None:
    """Fig. 16: FlashAttention's time reduction equals its memory-access reduction in decode,
    but is smaller than it in prefill, where parts are compute-bound."""

    def reductions(stage: str) -> tuple[float, float]:
        kw = {"batch": 8, "prompt_len": 4000, "allow_long_context": True}
        off = rooflens.analyze(LLAMA, "a6000", **kw).totals()[stage]
        on = rooflens.analyze(LLAMA, "a6000", flash_attention=True, **kw).totals()[stage]
        return (
            float(1 - on["time"] / off["time"]),
            float(1 - on["memory_access"] / off["memory_access"]),
        )

    time_cut, memory_cut = reductions("decode")
    assert time_cut == pytest.approx(memory_cut, rel=1e-3)
    time_cut, memory_cut = reductions("prefill")
    assert 0 < time_cut < memory_cut


def test_finding_e_bandwidth_helps_decode_until_compute_bound() -> None:
    """Fig. 20: decode linear layers speed up with bandwidth until they turn compute-bound."""

    def gate_time(scale: float) -> tuple[float, str]:
        result = rooflens.analyze(LLAMA, "a6000", batch=64, prompt_len=512, scale_bandwidth=scale)
        row = result.operators().query("stage == 'decode' and name == 'gate_proj'").iloc[0]
        return row.time, row.bound

    times = [gate_time(s) for s in (0.5, 1, 2, 4, 8)]
    assert times[0][1] == "memory" and times[-1][1] == "compute"
    assert all(later[0] <= earlier[0] for earlier, later in itertools.pairwise(times))
    assert times[-1][0] == times[-2][0]  # flat once compute-bound


def test_sweep_and_report_default_the_prompt_to_what_the_context_leaves(tmp_path) -> None:
    """A fixed 2,048-token default refused OPT (2,048 positions) where analyze adapts."""
    res = CliRunner().invoke(app, ["sweep", "facebook/opt-1.3b", "-H", "a6000", "-f", "json"])
    assert res.exit_code == 0, res.output
    assert [row["prompt_len"] for row in json.loads(res.stdout)["rows"]] == [2047]
    rows = rooflens.sweep("facebook/opt-1.3b", "a6000", gen_len=[64, 128])
    assert set(rows.prompt_len) == {1921}  # the longest generation leaves 1,921
    out = tmp_path / "r.md"
    res = CliRunner().invoke(app, ["report", "facebook/opt-1.3b", "-H", "a6000", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "1921" in out.read_text()
