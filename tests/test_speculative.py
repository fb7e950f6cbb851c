"""Speculative decoding, Medusa heads, tree verification and parallel decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.core import AnalysisOptions, analyze
from rooflens.core.speculative import expected_tokens, parallel_decoding, speculative
from rooflens.models.quant import default_quantization


def test_expected_tokens_formula() -> None:
    assert expected_tokens(0.0, 4) == 1.0
    assert expected_tokens(1.0, 4) == 5.0
    assert expected_tokens(0.5, 2) == pytest.approx(1 + 0.5 + 0.25)


@given(st.floats(0, 0.999), st.integers(1, 16))
def test_more_draft_tokens_never_emit_fewer(alpha, gamma) -> None:
    assert expected_tokens(alpha, gamma + 1) >= expected_tokens(alpha, gamma)
    assert 1 <= expected_tokens(alpha, gamma) <= gamma + 1


def test_speedup_by_hand(tiny_model, toy_device) -> None:
    draft = tiny_model.model_copy(update={"num_layers": 1, "name": "draft"})
    est = speculative(tiny_model, toy_device, gamma=3, alpha=0.5, draft=draft, batch=2, context=100)
    plain = analyze(tiny_model, toy_device, batch=2, prompt_len=100).totals()["decode"]["time"]
    d = analyze(draft, toy_device, batch=2, prompt_len=100).totals()["decode"]["time"]
    steps = analyze(tiny_model, toy_device, batch=2, prompt_len=100)
    verify = est.verify_step
    assert est.plain_step == pytest.approx(plain)
    assert est.draft_time == pytest.approx(3 * d)
    expected = expected_tokens(0.5, 3)
    assert est.speedup == pytest.approx(expected * plain / (3 * d + verify))
    assert verify > steps.totals()["decode"]["time"]  # 4 query tokens cost more than 1


def test_speculation_pays_less_at_large_batch() -> None:
    est = rooflens.speculate(
        "Qwen/Qwen2.5-7B",
        "a6000",
        gamma=4,
        alpha=0.8,
        draft="Qwen/Qwen2.5-0.5B",
        batch=np.array([1, 32, 256]),
        context=512,
    )
    assert est.speedup[0] > 2 and np.all(np.diff(est.speedup) < 0)


def test_no_acceptance_is_a_slowdown(tiny_model, toy_device) -> None:
    est = speculative(tiny_model, toy_device, gamma=2, alpha=0.0, draft=tiny_model)
    assert est.tokens_per_step == 1 and est.speedup < 1


def test_the_drafter_weights_are_counted(tiny_model, toy_device) -> None:
    """A draft model, the MTP module and the Medusa heads must be resident to draft; the
    analysis of the target alone does not hold them (DeepSeek-V3 --mtp reported its memory
    without the module's)."""
    draft = tiny_model.model_copy(update={"num_layers": 1, "name": "draft"})
    est = speculative(tiny_model, toy_device, gamma=3, alpha=0.5, draft=draft)
    assert est.drafter_weights == analyze(draft, toy_device).memory["decode"].weights
    h, v = tiny_model.hidden_size, tiny_model.vocab_size
    medusa = speculative(tiny_model, toy_device, gamma=3, alpha=0.5, medusa_heads=True)
    assert medusa.drafter_weights == 3 * (h * h + h * v) * 2  # 16-bit heads
    v3 = rooflens.load_model("deepseek-ai/DeepSeek-V3")
    stored = AnalysisOptions(quantization=default_quantization(v3))
    mtp = speculative(
        v3, rooflens.get_device("h200-sxm"), gamma=1, alpha=0.8, mtp=True, options=stored
    )
    # One module: an MoE block of 256 experts with its own embedding and head, FP8 blocks.
    assert 15e9 < mtp.drafter_weights < 18e9


def test_medusa_and_trees(tiny_model, toy_device) -> None:
    single = speculative(tiny_model, toy_device, gamma=3, alpha=0.6, medusa_heads=True)
    tree = speculative(tiny_model, toy_device, gamma=3, alpha=0.6, medusa_heads=True, tree_width=3)
    assert tree.tokens_per_step == pytest.approx(expected_tokens(1 - 0.4**3, 3))
    assert tree.tokens_per_step > single.tokens_per_step
    assert tree.verify_step >= single.verify_step


def test_parallel_decoding(tiny_model, toy_device) -> None:
    est = parallel_decoding(tiny_model, toy_device, window=8, tokens_per_step=3)
    assert est.tokens_per_step == 3
    assert est.speedup == pytest.approx(3 * est.plain_step / est.verify_step)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"gamma": 0, "alpha": 0.5, "medusa_heads": True}, "gamma"),
        ({"gamma": 2, "alpha": 1.5, "medusa_heads": True}, "alpha"),
        ({"gamma": 2, "alpha": 0.5}, "draft"),
        ({"gamma": 2, "alpha": 0.5, "medusa_heads": True, "tree_width": 0}, "tree_width"),
    ],
)
def test_bad_speculation_input(tiny_model, toy_device, kwargs, field) -> None:
    with pytest.raises(rooflens.InvalidInputError) as info:
        speculative(tiny_model, toy_device, **kwargs)
    assert info.value.field == field


def test_speculate_command() -> None:
    res = CliRunner().invoke(
        app,
        [
            "speculate",
            "Qwen/Qwen2.5-7B",
            "-H",
            "h100-sxm",
            "--draft",
            "Qwen/Qwen2.5-0.5B",
            "--batch",
            "1,32",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output

    rows = json.loads(res.stdout)["rows"]
    assert [r["batch"] for r in rows] == [1, 32] and rows[0]["speedup"] > rows[1]["speedup"]
    bad = CliRunner().invoke(app, ["speculate", "Qwen/Qwen2.5-7B", "-H", "h100-sxm"])
    assert bad.exit_code == 2
    # The API takes the command's defaults (it required gamma and alpha).
    api = rooflens.speculate("Qwen/Qwen2.5-7B", "h100-sxm", draft="Qwen/Qwen2.5-0.5B", batch=1)
    assert float(api.speedup) == pytest.approx(rows[0]["speedup"], rel=1e-9)


def test_speculation_follows_quantization(tiny_model, toy_device) -> None:
    opts = AnalysisOptions(quantization=rooflens.Quantization(w_bits=4))
    q4 = speculative(tiny_model, toy_device, gamma=2, alpha=0.7, medusa_heads=True, options=opts)
    q16 = speculative(tiny_model, toy_device, gamma=2, alpha=0.7, medusa_heads=True)
    assert q4.plain_step < q16.plain_step


def test_analyze_reports_speculation_at_its_point() -> None:
    res = CliRunner().invoke(
        app,
        [
            "analyze",
            "Qwen/Qwen2.5-7B",
            "-H",
            "h100-sxm",
            "--batch",
            "8",
            "--prompt-len",
            "1024",
            "--draft",
            "Qwen/Qwen2.5-0.5B",
            "--w-bits",
            "4",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output

    spec = json.loads(res.stdout)["speculative"]
    direct = rooflens.speculate(
        "Qwen/Qwen2.5-7B",
        "h100-sxm",
        gamma=4,
        alpha=0.85,  # the command line's default
        draft="Qwen/Qwen2.5-0.5B",
        batch=8,
        context=1024,
        w_bits=4,
    )
    assert spec["speedup"] == pytest.approx(float(direct.speedup))


def test_a_context_past_the_positions_is_named_as_the_context() -> None:
    """It was named prompt_len=131075 (the verify step's prompt), a field speculate lacks."""
    gpt2 = rooflens.load_model("gpt2")
    device = rooflens.get_device("h100-sxm")
    kwargs = {"gamma": 2, "alpha": 0.5, "medusa_heads": True}
    assert speculative(gpt2, device, context=1020, **kwargs).speedup > 1
    with pytest.raises(
        rooflens.InvalidInputError,
        match=r"^context=1021 is invalid: expected "
        r"at most 1020 tokens: verifying 3 tokens",
    ):
        speculative(gpt2, device, context=1021, **kwargs)  # fmt: skip


def test_a_draft_with_another_tokenizer_is_refused() -> None:
    """A draft's tokens are the target's: Qwen2.5-0.5B (151,936 tokens) for Llama-3.1-8B
    (128,256) priced a 2.6x speed-up no engine could give; Qwen2.5-7B's padded 152,064 keeps
    its own family's draft."""
    with pytest.raises(rooflens.InvalidInputError, match="151,936 tokens, the target's 128,256"):
        rooflens.speculate("meta-llama/Llama-3.1-8B", "h200-sxm", gamma=4, alpha=0.8,
                           draft="Qwen/Qwen2.5-0.5B")  # fmt: skip
    same = rooflens.speculate("Qwen/Qwen2.5-7B", "h200-sxm", gamma=4, alpha=0.8,
                              draft="Qwen/Qwen2.5-0.5B")  # fmt: skip
    assert float(same.speedup) > 1


def test_whether_target_drafter_and_caches_fit_is_said_per_batch() -> None:
    """A speed-up of a setup that cannot be held meant nothing, and `speculate` said nothing of
    it (Llama-2-70B with a 7B draft on a 24 GB card: 2.40x). Per device: both models' weights
    (as `analyze` holds them), both caches at the context and the gamma + 1 tokens a step
    verifies, and the larger of the prefill's and the verify step's activations (the drafter
    is resident while the context is prefilled: it said 'fits' beside a prefill peak that left
    no room for it)."""
    est = rooflens.speculate("Qwen/Qwen2.5-7B", "l4", gamma=4, alpha=0.8,
                             draft="Qwen/Qwen2.5-0.5B", batch=[1, 64], context=4096)  # fmt: skip
    target = rooflens.analyze("Qwen/Qwen2.5-7B", "l4").memory["decode"].weights
    assert est.memory.weights[0] == target + est.drafter_weights
    # K and V of 28 layers x 4 heads x 128 (7B) and 24 x 2 x 64 (0.5B), 16 bits, 4,101 tokens.
    assert est.memory.kv_cache[0] == 4101 * (28 * 4 * 128 + 24 * 2 * 64) * 2 * 2
    assert est.memory.capacity == rooflens.get_device("l4").memory_capacity
    assert list(est.fits) == [True, False]  # 18.4 GB, then 157 GB of 24 GB
    big = rooflens.speculate("meta-llama/Llama-2-70b-hf", "rtx-4090", gamma=4, alpha=0.8,
                             draft="meta-llama/Llama-2-7b-hf", batch=1)  # fmt: skip
    assert not big.fits and big.memory.weights > 150e9
    # DeepSeek-V3's latent cache is whole on each of 8 devices: 4,096 requests of 2,048
    # tokens hold 600 GB per device, one request fits.
    v3 = rooflens.speculate("deepseek-ai/DeepSeek-V3", "h200-sxm", gamma=1, alpha=0.8, mtp=True,
                            tp=8, batch=[1, 4096], context=2048)  # fmt: skip
    assert list(v3.fits) == [True, False] and v3.memory.kv_cache[1] > 590e9
    # One point's figures, as `analyze --draft`'s JSON gives them.
    point = rooflens.speculate("Qwen/Qwen2.5-7B", "l4", gamma=4, alpha=0.8,
                               draft="Qwen/Qwen2.5-0.5B", batch=64, context=4096)  # fmt: skip
    data = point.to_dict()
    assert data["fits"] is False and data["memory"] == pytest.approx(float(est.memory.total[1]))


def test_the_speculate_command_says_which_batches_do_not_fit() -> None:
    args = ["speculate", "Qwen/Qwen2.5-7B", "-H", "l4", "--draft", "Qwen/Qwen2.5-0.5B",
            "--batch", "1,64,256", "--context", "4096"]  # fmt: skip
    table = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "memory per device" in text and "18.4 GB │ yes" in text and "157 GB │ NO" in text
    assert (
        "batches 64, 256: the target's and the drafter's weights and caches at 4,096 + 5 tokens, "
        "with the prefill's or the verify step's activations, do not fit in 24.2 GB per device; "
        "their speed-ups are of setups that cannot run" in text
    )

    rows = json.loads(CliRunner().invoke(app, [*args, "-f", "json"]).stdout)["rows"]
    assert [r["fits"] for r in rows] == [True, False, False]
    header = CliRunner().invoke(app, [*args, "-f", "csv"]).stdout.splitlines()[0]
    assert header.endswith(",speedup,prompt_time,memory,fits")
    fitting = CliRunner().invoke(app, [*args[:-4], "--batch", "1"], env={"COLUMNS": "200"})
    assert "do not fit" not in fitting.output and "does not fit" not in fitting.output


def test_one_acceptance_rate_is_the_default_of_analyze_speculate_and_simulate() -> None:
    """MTP drafts were accepted at 0.8 by default in `analyze` and `speculate` and at 0.85,
    DeepSeek-V3's reported rate, in `simulate`: one declared default now."""
    from rooflens.core.speculative import ACCEPTANCE
    from rooflens.serving.config import SchedulerConfig

    assert ACCEPTANCE == SchedulerConfig().acceptance == 0.85
    for command in ("analyze", "speculate"):
        text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "0.85" in text and "0.8 " not in text, command
    args = ["speculate", "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "8", "--mtp",
            "--batch", "1", "-f", "json"]  # fmt: skip
    default = CliRunner().invoke(app, args).stdout
    assert default == CliRunner().invoke(app, [*args, "--alpha", "0.85"]).stdout


def test_a_drafter_beside_a_prefill_peak_that_fills_the_device_does_not_fit() -> None:
    """Qwen3-8B at batch 8 over 4,096 tokens peaks at 38.96 GB of a 39 GB device; with a
    0.6B draft (1.19 GB of weights, its own cache) it was said to fit at 26.2 GB."""
    args = ["analyze", "Qwen/Qwen3-8B", "-H", "h100-sxm", "--memory", "39e9", "--draft",
            "Qwen/Qwen3-0.6B", "--batch", "8", "--prompt-len", "4096", "--gen-len", "256",
            "-f", "json"]  # fmt: skip
    data = json.loads(CliRunner().invoke(app, args).stdout)
    assert data["memory"]["generation"]["fits"] is True
    assert data["speculative"]["fits"] is False
    assert data["speculative"]["memory"] > data["memory"]["generation"]["total"]


def test_a_draft_models_own_prefill_is_in_the_peak() -> None:
    """The draft prefills the context too, after the target: the larger of the two prefills'
    temporaries is the peak. It was left out (a draft's prefill is seldom the larger; here,
    a 7B drafting for a 0.5B, it is 15.3 GB beside 7.59 GB without FlashAttention)."""
    target, draft = "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-7B"
    sizes = {"batch": 8, "prompt_len": 4096 + 4, "flash_attention": False}
    est = rooflens.speculate(target, "h100-sxm", gamma=4, alpha=0.8, draft=draft, batch=8,
                             context=4096, flash_attention=False)  # fmt: skip
    drafted = rooflens.analyze(draft, "h100-sxm", **sizes).memory["prefill"].activations
    own = rooflens.analyze(target, "h100-sxm", **sizes).memory["prefill"].activations
    assert float(drafted) > 1.9 * float(own)
    assert float(est.memory.activations) == pytest.approx(float(drafted), rel=1e-12)
