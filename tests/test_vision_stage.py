"""A multimodal model's vision encoder as a stage of its own: what it holds and what a request
owes it, checked by hand on Gemma 3 27B (SigLIP so400m, 4,096 patches an image)."""

from __future__ import annotations

import numpy as np
import pytest

from rooflens import api

GEMMA = "google/gemma-3-27b-it"


def test_the_tower_is_resident_once_whatever_the_images_or_the_sweep() -> None:
    """Its weights, 16-bit: 416,866,032 tower and 6,194,304 projector parameters. They grew
    with the images (the position table's rows read again for each) and, in a sweep, took
    the largest point's reads at every point (74 GB at batch 1 beside batch 1,024)."""
    text = float(api.analyze(GEMMA, "h100-sxm", prompt_len=2048).memory["prefill"].weights)
    tower = 2 * (416_866_032 + 6_194_304)
    for batch, images in ((1, 1), (8, 2), (np.array([1, 1024]), 2)):
        res = api.analyze(GEMMA, "h100-sxm", batch=batch, prompt_len=2048, images=images)
        weights = np.atleast_1d(res.memory["prefill"].weights)
        assert weights == pytest.approx(np.full(weights.shape, text + tower), rel=1e-12)


def test_a_position_table_is_held_whole_not_as_a_pass_gathers_it() -> None:
    """Qwen3.5's tower gathers one position row per patch, 4,096 of a 2,304-row table, and
    Llama 4 Scout's 577 of 578: the resident tower was its pass's reads, 4,128,768 bytes
    over (1,792 x 1,152 x 2) and 2,816 under (1,408 x 2). Held: every parameter once at 16
    bits, 456,010,480 and 871,932,416 of them."""
    for model, params in (
        ("Qwen/Qwen3.5-397B-A17B", 456_010_480),
        ("meta-llama/Llama-4-Scout-17B-16E", 871_932_416),
    ):
        text = api.analyze(model, "h100-sxm", prompt_len=1024).memory["prefill"].weights
        seen = api.analyze(model, "h100-sxm", prompt_len=1024, images=1).memory["prefill"].weights
        assert float(seen) - float(text) == 2 * params


def test_a_request_owes_the_encoder_its_work_and_energy() -> None:
    """TTFT waited for the encoder, but the generation's OPs and bytes and the energy per
    request left it out."""
    res = api.analyze(GEMMA, "h100-sxm", prompt_len=2048, gen_len=128, images=2)
    plain = api.analyze(GEMMA, "h100-sxm", prompt_len=2560, gen_len=128)  # as many tokens
    vision = res.totals()["vision"]
    for key in ("ops", "memory_access"):
        assert float(res.generation[key]) == pytest.approx(
            float(plain.generation[key]) + float(vision[key]), rel=1e-9
        )
    power = float(res.economics()["prefill_power"])  # the same device's model of power
    extra = float(res.economics()["energy_per_request"]) - float(
        plain.economics()["energy_per_request"]
    )
    assert 0 < extra < power * float(vision["time"]) * 1.5


def test_the_encoder_caches_nothing() -> None:
    """Its attention's keys and values are activations, at 16 bits whatever the language
    model's KV cache is set to (an FP8 cache halved them)."""
    fp8 = api.analyze(GEMMA, "h100-sxm", prompt_len=2048, images=1, kv_bits=8).totals()["vision"]
    bf16 = api.analyze(GEMMA, "h100-sxm", prompt_len=2048, images=1).totals()["vision"]
    assert float(fp8["load_kv"]) == float(fp8["store_kv"]) == 0
    assert float(fp8["memory_access"]) == float(bf16["memory_access"])


def test_the_encoders_temporaries_join_the_memory_peak() -> None:
    """Gemma 3's SigLIP tower (4,096 patches, 16 heads) writes a 16 x 4,096 x 4,096 score
    matrix per image and layer, 537 MB at 16 bits, and its softmax another: 8 images held
    8.6 GB on every device (the tower is not split), against the 3.03 GB reported."""
    args = ("google/gemma-3-27b-it", "h100-sxm")
    result = api.analyze(*args, tp=2, batch=8, images=1)
    scores = 8 * 16 * 4096 * 4096 * 2
    assert result.memory["prefill"].activations >= 2 * scores
    text = api.analyze(*args, tp=2, batch=8, prompt_len=2048)
    assert text.memory["prefill"].activations < scores
    # Fused (FlashAttention), the tower holds no score matrix: the prefill's peak stands.
    fused = api.analyze(*args, tp=2, batch=8, images=1, flash_attention=True)
    assert fused.memory["prefill"].activations < scores


def test_memory_takes_images_as_analyze_does() -> None:
    """`rooflens memory` had no --images: a VLM's largest batch came out 2.5 times too big
    (45 against 18 for Gemma 3 27B on an H100 at 1,024 + 128 tokens)."""
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = [GEMMA, "-H", "h100-sxm", "--batch", "2", "--prompt-len", "1024", "--gen-len", "128",
            "--images", "1", "-f", "json"]  # fmt: skip
    memory = json.loads(CliRunner().invoke(app, ["memory", *args]).stdout)
    analyzed = json.loads(CliRunner().invoke(app, ["analyze", *args]).stdout)
    assert memory["memory"] == analyzed["memory"]
    assert memory["inputs"]["prompt_tokens"] == 1024 + 256


def test_sweep_takes_images_as_analyze_does() -> None:
    import io

    import pandas as pd
    from typer.testing import CliRunner

    from rooflens.cli.app import app

    args = [GEMMA, "-H", "h100-sxm", "--prompt-len", "1024", "--gen-len", "16", "--images", "1"]
    swept = CliRunner().invoke(app, ["sweep", *args, "--batch", "1,4", "-f", "csv"])
    rows = pd.read_csv(io.StringIO(swept.stdout))
    one = api.analyze(GEMMA, "h100-sxm", batch=4, prompt_len=1024, gen_len=16, images=1)
    at4 = rows[rows.batch == 4].iloc[0]
    assert at4.prompt_tokens == 1024 + 256 and at4.ttft == pytest.approx(one.generation["ttft"])
    assert at4.vision_time == pytest.approx(float(one.totals()["vision"]["time"]))


def test_compare_weighs_a_request_with_and_without_images() -> None:
    """`compare --vs images=1` was refused (images were no key of it) and compare had no
    --images: a VLM user could not set a request with an image beside one without."""
    import json

    from typer.testing import CliRunner

    from rooflens.cli.app import app

    runner = CliRunner()
    args = ["compare", GEMMA, "-H", "h100-sxm", "--prompt-len", "2048", "--vs", "images=2"]
    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    assert (data["a"]["inputs"]["images"], data["b"]["inputs"]["images"]) == (0, 2)
    # Gemma 3 pools each image to 256 tokens, which join the prompt.
    assert data["b"]["inputs"]["prompt_tokens"] == 2048 + 2 * 256
    rows = {r["metric"]: r for r in data["rows"]}
    with_images = api.analyze(GEMMA, "h100-sxm", prompt_len=2048, gen_len=128, images=2)
    assert rows["time to first token"]["b"] == pytest.approx(
        float(with_images.generation["ttft"]), rel=1e-12
    )
    assert data["changes"] == {"images": 2}
    # A's images go in its title, as --base's settings do.
    table = " ".join(runner.invoke(app, [*args[:-1], "images=0", "--images", "1"]).stdout.split())
    assert "(images=1) · B changes images=0" in table
    for bad, message in (
        ("images=x", "images='x' is invalid: expected a whole number of images per request"),
        ("images=-1", "images='-1' is invalid: expected a whole number of images per request"),
    ):
        res = runner.invoke(app, [*args[:-1], bad])
        assert res.exit_code == 2 and message in res.output, res.output
    text_only = runner.invoke(app, ["compare", "gpt2", "-H", "a6000", "--vs", "images=1"])
    assert text_only.exit_code == 2
    assert (
        "images=1 is invalid: expected 0: openai-community/gpt2 has no vision encoder"
        in text_only.output
    )
