"""The self-contained report (HTML and Markdown) and notebook rendering."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.views.report import ADVICE, sections, to_html, to_markdown

LLAMA = "meta-llama/Llama-2-7b-hf"


@pytest.fixture(scope="module")
def result():
    return rooflens.analyze(LLAMA, "a6000", batch=4, prompt_len=2048, gen_len=64, w_bits=4)


def test_advice_follows_what_bounds_each_bottleneck(result) -> None:
    advice = sections(result)["advice"]
    decode = advice[advice.stage == "decode"]
    prefill = advice[advice.stage == "prefill"]
    assert set(decode.bound) == {"memory"} and decode.advice.str.contains("quantize").all()
    assert "compute" in set(prefill.bound)
    assert prefill[prefill.bound == "compute"].advice.str.contains("lower-precision").all()
    assert set(ADVICE) >= set(advice.bound)


def test_html_report_is_self_contained(result) -> None:
    text = to_html(result)
    headings = re.findall(r"<h2>(.*?)</h2>", text)
    for wanted in (
        "Settings",
        "Totals",
        "Memory (bytes)",
        "Generation",
        "Bottlenecks and what would help",
        "Roofline",
        "Operators",
    ):
        assert wanted in headings
    assert text.count("data:image/png;base64,") == 3
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from elsewhere
    rows = len(result.operators())
    assert text.count("<tr>") >= rows
    # A setting left empty reads "—" as in the Markdown report, never Python's "None".
    settings = text[text.index("<h2>Settings</h2>") : text.index("<h2>Totals</h2>")]
    assert "None" not in settings and "<td>—</td>" in settings


def test_a_one_token_answer_reports_no_tpot_as_a_dash() -> None:
    """The generation and cost tables held Python's "None" for a TPOT with no decode step."""
    one = rooflens.analyze("facebook/opt-125m", "h100-sxm", prompt_len=16, gen_len=1)
    text = to_html(one)
    assert "None" not in text
    generation = text[text.index("<h2>Generation</h2>") :]
    assert "<td>—</td>" in generation


def test_markdown_report(result) -> None:
    text = to_markdown(result)
    assert text.startswith(f"# {LLAMA} on NVIDIA RTX A6000 48GB")
    assert text.count("](data:image/png;base64,") == 3
    assert "## Bottlenecks and what would help" in text


def test_notebook_rendering(result) -> None:
    assert "<table" in result._repr_html_()
    sweep = rooflens.analyze(LLAMA, "a6000", batch=[1, 2])
    assert "<table" in sweep._repr_html_()


def test_report_command(tmp_path) -> None:
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        app, ["report", LLAMA, "-H", "a6000", "--flash-attention", "--tp", "2", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "flash_attention" in out.read_text()
    bad = CliRunner().invoke(app, ["report", LLAMA, "-H", "a6000", "-o", str(tmp_path / "r.doc")])
    assert bad.exit_code == 2


def test_an_engine_report_says_what_priced_each_operator() -> None:
    """Qwen3-30B-A3B on vLLM's H200 profile at TP 2: the operator table names each row's
    pricing (its expert GEMMs by their layer, the all-reduces by the measured table) and its
    efficiency, the share of its roofline bound."""
    engine = rooflens.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", tp=2, batch=8)
    table = sections(engine)["operators"]
    assert list(table.columns[-2:]) == ["efficiency", "priced_by"]
    experts = table[(table.stage == "decode") & (table.name == "expert_up_proj")]
    assert experts.priced_by.tolist() == ["moe layer bf16/2048x384:e128:k8"]
    assert 0 < experts.efficiency.iloc[0] < 1
    text = to_markdown(engine)
    (line,) = [r for r in text.splitlines() if r.startswith("| decode | o_proj_all_reduce |")]
    assert "| link |" in line and line.endswith("| — | measured all_reduce, 2 devices |")
    # No figure reads "nan"; the embedded plots' base64 may hold the letters by chance.
    assert "nan" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)


def test_report_sizes_read_in_full() -> None:
    """A batch of 100,000 read 1e+05; large figures keep four digits."""
    from rooflens.views.report import to_markdown

    text = to_markdown(rooflens.analyze("gpt2", "h100-sxm", batch=100_000, gen_len=128))
    assert "| 100000 | 897 | 128 |" in text and "1e+05" not in text
    assert "| prefill | q_proj | 12 | 1.059e+14 |" in text


def test_layer_variants_are_told_apart_in_the_report_and_the_operator_plot() -> None:
    """Gemma 3's window and global attention: two rows of one name, labelled by their reach in
    the report's table and as two bars of the operator plot (one bar had been drawn over the
    other)."""
    from rooflens.views import plots
    from rooflens.views.report import to_markdown

    gemma = rooflens.analyze("google/gemma-3-27b-it", "h200-sxm", prompt_len=32768)
    text = to_markdown(gemma)
    assert "| decode | qk_matmul | 10 |" in text
    assert "| decode | qk_matmul (≤1,024 keys) | 52 |" in text
    fig = plots.operator_times(gemma, "decode")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    decode = gemma.operators().query("stage == 'decode'")
    assert len(labels) == len(decode) == len(set(labels))


def test_a_report_says_what_analyze_says_of_its_settings_and_devices(tmp_path) -> None:
    """DeepSeek-V3 over 8 H200s under SGLang's profile: the report's settings hold the
    parallelism, engine and fusion, its memory is per device and says so, and the notes under
    its title are the lines `rooflens analyze` prints (checkpoint, settings, devices,
    fallbacks), not a copy of them that could drift."""
    args = ["deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "8", "--engine", "sglang"]
    analyzed = CliRunner().invoke(app, ["analyze", *args], env={"COLUMNS": "1000"})
    assert analyzed.exit_code == 0, analyzed.output
    out = tmp_path / "ds.md"
    res = CliRunner().invoke(app, ["report", *args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    notes = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    printed = analyzed.output.splitlines()
    assert notes and all(note in printed for note in notes)
    assert notes[0] == "checkpoint: fp8 quantization_config, precision as stored"
    assert any(n.startswith("settings: ") and "tp=8" in n for n in notes)
    assert (
        "8 devices: weights, KV cache and times are per device; power and cost cover all of them"
        in notes
    )
    assert any(n.startswith("fallback: latent_attention") for n in notes)
    # The header's facts, as analyze's first line has them after the device.
    facts = text.splitlines()[2]
    assert printed[0].endswith(facts) and "sglang" in facts
    head, _, row = text.split("## Settings\n\n")[1].splitlines()[:3]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in (head, row)]
    settings = dict(zip(*cells, strict=True))
    assert (settings["tp"], settings["ep"], settings["pp"]) == ("8", "1", "1")
    assert settings["engine"].startswith("sglang ")
    assert settings["fusion"] == "qkv,gate_up,add_norm,moe"
    assert "## Memory (bytes per device)" in text
    html_out = tmp_path / "ds.html"
    assert CliRunner().invoke(app, ["report", *args, "-o", str(html_out)]).exit_code == 0
    page = html_out.read_text()
    assert "<li>8 devices: weights, KV cache and times are per device" in page
    assert "<h2>Memory (bytes per device)</h2>" in page and "<th>engine</th>" in page


def _md_rows(text: str, heading: str) -> list[dict[str, str]]:
    """The first table under a Markdown heading, as rows of cells by column."""
    after = text.split(heading + "\n", 1)[1].split("\n|", 1)[1]
    lines = ("|" + after).split("\n\n", 1)[0].splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    head, _, *rows = cells
    return [dict(zip(head, row, strict=True)) for row in rows]


def test_a_report_takes_what_analyze_adds_beside_the_analysis(tmp_path) -> None:
    """The report had no --images, --draft/--medusa/--mtp (with --gamma, --alpha,
    --tree-width), --hourly-price or --grid-intensity: it takes them as analyze does (the
    same declarations, the same estimate) and shows energy and cost, speculative decoding and
    a vision stage with the figures analyze's JSON holds."""
    args = ["deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--tp", "8", "--gen-len", "128",
            "--mtp", "--hourly-price", "3", "--grid-intensity", "400"]  # fmt: skip
    analyzed = CliRunner().invoke(app, ["analyze", *args, "-f", "json"])
    data = json.loads(analyzed.output)
    out = tmp_path / "ds.md"
    res = CliRunner().invoke(app, ["report", *args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    heading = "## Energy and cost (W, J, USD, gCO2e)"
    assert text.split(heading + "\n\n")[1].startswith("at $3 per device-hour, 400 gCO2e/kWh\n")
    (economics,) = _md_rows(text, heading)
    assert economics == {k: f"{v:.4g}" for k, v in data["economics"].items()}
    heading = "## Speculative decoding (seconds, bytes)"
    assert "\nspeculative decoding: its MTP module, γ=4, α=0.85\n" in text.split(heading)[1]
    (spec,) = _md_rows(text, heading)
    assert spec["speedup"] == f"{data['speculative']['speedup']:.4g}"
    (generation,) = _md_rows(text, "### Generation, with speculative decoding")
    expected = data["speculative"]["generation"]["cost_per_million_output"]
    assert generation["cost_per_million_output"] == f"{expected:.4g}"
    # Speculation's figures without a drafter are refused, as analyze refuses them.
    bad = CliRunner().invoke(
        app, ["report", LLAMA, "-H", "a6000", "--alpha", "0.7", "-o", str(tmp_path / "x.md")]
    )
    assert (
        bad.exit_code == 2
        and "--alpha/--acceptance=0.7 is invalid: expected left out without" in bad.output
    )
    # Images: the vision encoder's stage, its bottlenecks and its operator plot.
    vl = tmp_path / "vl.md"
    args = ["report", "Qwen/Qwen3-VL-4B-Instruct", "-H", "h100-sxm", "--images", "2", "-o", str(vl)]
    assert CliRunner().invoke(app, args).exit_code == 0
    text = vl.read_text()
    assert " · prompt 2048 (4096 prefilled) · " in text.splitlines()[2]
    assert [row["stage"] for row in _md_rows(text, "## Totals")] == ["vision", "prefill", "decode"]
    assert {row["stage"] for row in _md_rows(text, "## Bottlenecks and what would help")} == {
        "vision", "prefill", "decode"
    }  # fmt: skip
    assert "## Time per operator (vision)" in text


def test_a_report_of_a_setup_that_does_not_fit_says_so_first() -> None:
    """Llama-3.1-70B on an L4: analyze says 'DOES NOT FIT'; the report showed its TTFT, energy
    and cost with only a False in its memory table."""
    from rooflens.formats import memory_verdict
    from rooflens.views.report import to_markdown

    result = rooflens.analyze("meta-llama/Llama-3.1-70B", "l4", gen_len=128)
    text = to_markdown(result)
    verdict = memory_verdict(result)
    assert "DOES NOT FIT; largest batch that fits: 0" in verdict
    assert f"- {verdict}" in text
    fitting = to_markdown(rooflens.analyze("meta-llama/Llama-3.1-8B", "h100-sxm", gen_len=128))
    assert "DOES NOT FIT" not in fitting and "memory at the peak" not in fitting


def test_an_engines_state_pool_is_named_only_where_a_model_holds_states() -> None:
    """SGLang's pool of recurrent states is among the options its preset sets: its fields read
    under its name (`state_pool.ratio`, not a bare `ratio`), and a model without recurrent
    layers, which the pool holds nothing of, is not told of it; nor vLLM's KV group padding
    where it pads nothing."""
    from rooflens import analyze
    from rooflens.formats import analysis_notes

    def settings(model: str, **options: object) -> str:
        result = analyze(model, "b200", engine="sglang", **options)
        return next(line for line in analysis_notes(result) if line.startswith("settings: "))

    hybrid = settings("Qwen/Qwen3.5-397B-A17B", tp=4)
    assert "state_pool.ratio=0.9" in hybrid and "state_pool.per_request=3" in hybrid
    assert ", ratio=" not in hybrid
    plain = settings("Qwen/Qwen3-30B-A3B")
    assert "state_pool" not in plain and "ratio" not in plain
    assert "activation_reserve_tokens=" in plain
    # Likewise vLLM's padding of KV layer groups: said for Gemma 3's window and global
    # layers, not for a model whose every layer holds its own blocks.
    for model, said in (("google/gemma-3-27b-it", True), ("meta-llama/Llama-3.1-8B", False)):
        result = analyze(model, "h100-sxm", engine="vllm")
        line = next(x for x in analysis_notes(result) if x.startswith("settings: "))
        assert ("kv_group_slack=1.25" in line) is said
