"""The plots render with the expected axes, scales and series; the CLI writes each format."""

from __future__ import annotations

import itertools

import matplotlib.text as mtext
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.views import plots

LLAMA = "meta-llama/Llama-2-7b-hf"
SETTINGS = {"W16A16": {}, "W8A8": {"w_bits": 8, "a_bits": 8}, "W4A16": {"w_bits": 4}}


def test_roofline_places_every_operator() -> None:
    result = rooflens.analyze(LLAMA, "a6000", prompt_len=2048, w_bits=4)
    ax = plots.roofline(result).axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "OP/byte" in ax.get_xlabel() and "OP/s" in ax.get_ylabel()
    dtypes = set(result.operators().compute_dtype)
    assert len(ax.get_lines()) == len(dtypes)  # one roofline per compute dtype in use
    prefill, decode = ax.collections
    rows = result.operators()
    assert len(prefill.get_offsets()) == ((rows.stage == "prefill") & (rows.ops > 0)).sum()
    assert len(decode.get_offsets()) == ((rows.stage == "decode") & (rows.ops > 0)).sum()


def test_batch_curves_one_line_per_setting_with_gaps_where_memory_runs_out() -> None:
    fig = plots.batch_curves(LLAMA, "rtx-4090", SETTINGS, batches=[1, 8, 64, 512], prompt_len=2048)
    latency, throughput = fig.axes
    assert [line.get_label() for line in latency.get_lines()] == list(SETTINGS)
    assert "(ms)" in latency.get_ylabel() and "tokens/s" in throughput.get_ylabel()
    assert latency.get_xscale() == "log"
    w16 = latency.get_lines()[0].get_ydata()
    assert np.isnan(w16[-1]) and not np.isnan(w16[0])  # batch 512 does not fit 24 GB


def test_sequence_curves() -> None:
    fig = plots.sequence_curves(LLAMA, "a6000", SETTINGS, prompt_lens=[128, 512, 2048])
    assert "prompt length" in fig.axes[0].get_xlabel()
    assert len(fig.axes[1].get_lines()) == 3


def test_memory_bars_stack_three_parts_per_setting() -> None:
    fig = plots.memory_bars(LLAMA, "a6000", {"W16": {}, "W4": {"w_bits": 4}}, batch=4)
    ax = fig.axes[0]
    assert len(ax.containers) == 3 and all(len(c) == 2 for c in ax.containers)
    weights = [bar.get_height() for bar in ax.containers[0]]
    assert weights[1] < weights[0] / 3
    assert any(line.get_ydata()[0] == pytest.approx(48) for line in ax.get_lines())
    assert "GB" in ax.get_ylabel()


def test_operator_times_one_bar_per_operator() -> None:
    result = rooflens.analyze(LLAMA, "a6000", prompt_len=512)
    ax = plots.operator_times(result, "decode").axes[0]
    decode = result.operators().query("stage == 'decode'")
    assert len(ax.patches) == len(decode)
    assert "ms" in ax.get_xlabel()


def test_operator_times_mark_the_roofline_under_a_profile() -> None:
    """Under vLLM's H200 profile each operator's bar carries a mark at its roofline time
    (its time x efficiency, over all its layers); on the roofline itself there is none."""
    result = rooflens.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", tp=2, batch=8)
    ax = plots.operator_times(result, "decode").axes[0]
    (mark,) = [line for line in ax.get_lines() if line.get_label() == "roofline time"]
    decode = result.operators().query("stage == 'decode'").dropna(subset=["efficiency"])
    expected = decode["count"] * decode["time"] * decode["efficiency"] * 1e3
    assert sorted(mark.get_xdata()) == pytest.approx(sorted(expected))
    assert len(mark.get_xdata()) < len(ax.patches)  # measured collectives carry no mark
    roofline = plots.operator_times(rooflens.analyze(LLAMA, "a6000", prompt_len=512), "decode")
    assert not roofline.axes[0].get_lines()


def test_roofline_marks_sit_on_their_own_bars_where_names_repeat() -> None:
    """Gemma 3's window and global attention are two bars of one name: the marks were placed
    by name, so the window layers' mark sat on the global layers' row (and Nemotron-NAS's
    MLPs of several widths grew rows of marks without bars)."""
    result = rooflens.analyze("google/gemma-3-27b-it", "h200-sxm", engine="vllm")
    ax = plots.operator_times(result, "decode").axes[0]
    (mark,) = [line for line in ax.get_lines() if line.get_label() == "roofline time"]
    rows = {t.get_text() for t in ax.get_yticklabels()}
    assert len(rows) == len(ax.patches)  # no row without its bar
    ticks = ax.get_yticklabels()
    bars = {t.get_text(): bar.get_width() for t, bar in zip(ticks, ax.patches, strict=True)}
    for label, at in zip(mark.get_ydata(), mark.get_xdata(), strict=True):
        assert at <= bars[label] * (1 + 1e-9), label  # the roofline time under its own bar


def test_memory_bars_count_a_frameworks_own_memory() -> None:
    """transformers' framework memory (1.1 GB on an H100) is part of the total that decides
    whether a setup fits; the bars left it out."""
    fig = plots.memory_bars(LLAMA, "h100-sxm", {"HF": {"engine": "transformers"}, "bound": {}})
    ax = fig.axes[0]
    assert len(ax.containers) == 4
    result = rooflens.analyze(LLAMA, "h100-sxm", engine="transformers", prompt_len=1024,
                              gen_len=128)  # fmt: skip
    total = float(result.memory["generation"].total) / 1e9
    top = sum(container[0].get_height() for container in ax.containers)
    assert top == pytest.approx(total, rel=1e-9)
    assert ax.containers[3][1].get_height() == 0.0  # the roofline bound has none


def test_memory_bars_mark_each_engines_own_limit() -> None:
    """SGLang's share holds the weights and KV cache (0.835 of an H100): at 420 sequences its
    bar passes its limit, as `rooflens memory` says DOES NOT FIT; the line at the device's
    85.5 GB had shown it fitting. Each bar's line is its footprint's limit, and a bar above
    it is one that does not fit."""
    engines = {"vLLM": {"engine": "vllm"}, "SGLang": {"engine": "sglang"}, "bound": {}}
    fig = plots.memory_bars(LLAMA, "h100-sxm", engines, batch=420, prompt_len=1024)
    lines = fig.axes[0].collections[0].get_segments()
    for (name, options), segment in zip(engines.items(), lines, strict=True):
        result = rooflens.analyze(LLAMA, "h100-sxm", batch=420, prompt_len=1024, gen_len=128,
                                  **options)  # fmt: skip
        peak = result.memory["generation"]
        assert segment[0][1] == pytest.approx(float(peak.limit) / 1e9, rel=1e-12), name
        assert (float(peak.total) <= float(peak.limit)) == bool(peak.fits), name
    assert [round(s[0][1], 1) for s in lines] == [78.7, 72.0, 85.5]


@pytest.mark.parametrize(
    ("kind", "suffix", "magic"),
    [
        ("roofline", ".png", b"\x89PNG"),
        ("batch", ".svg", b"<?xml"),
        ("memory", ".pdf", b"%PDF"),
        ("operators", ".png", b"\x89PNG"),
        ("sequence", ".png", b"\x89PNG"),
    ],
)
def test_plot_command_writes_each_format(tmp_path, kind, suffix, magic) -> None:
    out = tmp_path / f"plot{suffix}"
    batch = "1,4" if kind == "batch" else "4"
    prompt = "128,512" if kind == "sequence" else "512"
    sizes = ["--batch", batch, "--prompt-len", prompt]
    res = CliRunner().invoke(app, ["plot", kind, LLAMA, "-H", "a6000", *sizes, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("suffix", [".svg", ".pdf", ".png"])
def test_a_figure_saved_twice_is_the_same_file(tmp_path, suffix) -> None:
    """SVG and PDF carried the time of writing and SVG clip paths ids salted at random: two
    runs of one command gave different files. Every figure is saved through
    formats.save_figure, which leaves both out."""
    import matplotlib.pyplot as plt

    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    result = rooflens.analyze(LLAMA, "a6000", batch=4, prompt_len=512)
    for path in (first, second):
        plt.close(plots.operator_times(result, path=path))
    assert first.read_bytes() == second.read_bytes()
    assert b"clip" in first.read_bytes() or suffix != ".svg"  # the ids were the random part
    assert b"<dc:date>" not in first.read_bytes() and b"CreationDate" not in first.read_bytes()


def _last_figure():
    """The figure the last plot command drew (the command runs in this process)."""
    import matplotlib.pyplot as plt

    return plt.figure(plt.get_fignums()[-1])


@pytest.mark.parametrize(
    ("kind", "model", "expected"),
    [
        # Not one point: the axis a batch or sequence plot draws when none is given.
        ("batch", LLAMA, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
        ("sequence", LLAMA, [128, 256, 512, 1024, 2048]),  # 4096 + 127 > Llama-2's 4,096
        ("sequence", "gpt2", [128, 256, 512]),  # 1024 + 127 > GPT-2's 1,024 positions
    ],
)
def test_plot_axes_default_to_a_range_within_the_context(tmp_path, kind, model, expected) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
    out = tmp_path / "axis.png"
    res = CliRunner().invoke(app, ["plot", kind, model, "-H", "a6000", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert list(_last_figure().axes[0].get_lines()[0].get_xdata()) == expected


def test_plot_fixed_prompt_defaults_to_what_the_context_leaves(tmp_path) -> None:
    # GPT-2's 1,024 positions hold 897 prompt tokens beside 128 generated ones (was refused).
    out = str(tmp_path / "b.png")
    res = CliRunner().invoke(app, ["plot", "batch", "gpt2", "-H", "a6000", "-o", out])
    assert res.exit_code == 0, res.output
    title = _last_figure().get_suptitle().splitlines()
    assert title[0].startswith("openai-community/gpt2 on NVIDIA RTX A6000 48GB")
    assert title[1].startswith("prompt 897 tokens, 128 generated")


def test_plot_and_compare_take_the_long_context_flag_their_errors_name(tmp_path) -> None:
    out = str(tmp_path / "s.png")
    args = ["plot", "sequence", "gpt2", "-H", "a6000", "--prompt-len", "512,2048", "-o", out]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "(--allow-long-context)" in refused.output
    res = CliRunner().invoke(app, [*args, "--allow-long-context"])
    assert res.exit_code == 0, res.output
    assert list(_last_figure().axes[0].get_lines()[0].get_xdata()) == [512, 2048]
    compare = ["compare", "gpt2", "-H", "a6000", "--prompt-len", "2000", "--vs", "w_bits=4"]
    assert CliRunner().invoke(app, compare).exit_code == 2
    res = CliRunner().invoke(app, [*compare, "--allow-long-context", "-f", "json"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "roofline", LLAMA, "-H", "a6000", "-o", "x.txt"],
        ["plot", "batch", LLAMA, "-H", "a6000", "--setting", "no-colon"],
        ["plot", "batch", LLAMA, "-H", "a6000", "--setting", "W4:w_bits=5"],
        ["plot", "roofline", LLAMA],
        # A second size on an axis the plot does not draw was dropped unseen.
        ["plot", "sequence", LLAMA, "-H", "a6000", "--batch", "1,4"],
        ["plot", "memory", LLAMA, "-H", "a6000", "--prompt-len", "128,512"],
        # The model, device and sizes are the command's options, not a line's.
        ["plot", "batch", LLAMA, "-H", "a6000", "--setting", "A:hardware=h100-sxm"],
        ["plot", "batch", LLAMA, "-H", "a6000", "--setting", "A:batch=4"],
        # One label twice: the second line was drawn over the first.
        ["plot", "batch", LLAMA, "-H", "a6000", "--setting", "A:w_bits=4", "--setting",
         "A:w_bits=8"],
        # One analysis is drawn: a second setting was dropped without a word.
        ["plot", "roofline", LLAMA, "-H", "a6000", "--setting", "A:w_bits=8", "--setting",
         "B:tp=2"],
        ["plot", "operators", LLAMA, "-H", "a6000", "--setting", "A:w_bits=8", "--setting",
         "B:tp=2"],
        # The other plots ignored a stage; a vision stage without images drew nothing.
        ["plot", "roofline", LLAMA, "-H", "a6000", "--stage", "prefill"],
        ["plot", "batch", LLAMA, "-H", "a6000", "--stage", "decode"],
        ["plot", "operators", LLAMA, "-H", "a6000", "--stage", "vision"],
    ],
)  # fmt: skip
def test_plot_bad_input(args) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_operator_legend_matches_the_bars_and_roofline_labels_do_not_collide() -> None:
    import matplotlib.colors as mcolors

    import rooflens
    from rooflens.views import plots

    result = rooflens.analyze("meta-llama/Llama-2-7b-hf", "a6000", batch=1, prompt_len=2048)
    fig = plots.operator_times(result, "prefill")
    ax = fig.axes[0]
    legend = {
        t.get_text(): h
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)
    }
    assert set(legend) == {"compute-bound", "memory-bound"}
    grey = mcolors.to_rgba("0.6")
    assert all(tuple(h.get_facecolor()) == grey for h in legend.values())
    assert legend["compute-bound"].get_hatch() == "//" and not legend["memory-bound"].get_hatch()
    many = rooflens.analyze(
        "deepseek-ai/DeepSeek-V3.2", "b200", batch=8, tp=8, engine="trtllm", prompt_len=2048
    )
    for analysis, least in ((result, 2), (many, 6)):
        # The boxes are moved as the labels are, measured once (a draw per pass took seconds);
        # a label's text, not its leader line, keeps clear of the others.
        fig = plots.roofline(analysis)
        ax = fig.axes[0]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [mtext.Text.get_window_extent(t, renderer) for t in ax.texts]
        assert len(boxes) >= least
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])


def test_an_operator_moving_no_bytes_of_its_own_is_not_drawn() -> None:
    """gpt-oss's experts' activation runs inside the MoE kernel (0 bytes of its own, 67 TOP/s
    over its priced time): it stood at the axis' edge far above the roof; every operator that
    moves bytes is drawn and none above its dtype's roof."""
    result = rooflens.analyze("openai/gpt-oss-120b", "h200-sxm", engine="vllm", tp=2, gen_len=8)
    rows = result.operators()
    moving = rows[(rows.ops > 0) & (rows.memory_access > 0)]
    assert ((rows.name == "expert_act") & (rows.memory_access == 0)).any()
    prefill, decode = plots.roofline(result).axes[0].collections
    assert len(prefill.get_offsets()) == (moving.stage == "prefill").sum()
    assert len(decode.get_offsets()) == (moving.stage == "decode").sum()
    device = result.device
    for collection in (prefill, decode):
        x, y = np.asarray(collection.get_offsets()).T
        roof = np.minimum(max(device.peak_ops.values()), x * device.memory_bandwidth)
        assert np.all(y <= roof * 1.0001)


def test_a_setting_may_list_several_values() -> None:
    from rooflens.cli.plot_cmds import parse_setting

    label, values = parse_setting("F:fusion=qkv,gate_up,w_bits=8")
    assert (label, values["w_bits"]) == ("F", 8)
    result = rooflens.analyze(LLAMA, "a6000", prompt_len=64, **values)
    assert result.options.fusion == ("qkv", "gate_up")


def test_the_plot_functions_default_within_the_context() -> None:
    """From Python too: Llama-2's 4,096 positions refused the default 4,096-token prompt
    beside 128 generated, and OPT's 2,048 the memory bars' 2,048."""
    fig = plots.sequence_curves(LLAMA, "a6000", {"A": {}})
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [128, 256, 512, 1024, 2048]
    bars = plots.memory_bars("facebook/opt-1.3b", "a6000", {"A": {}})
    assert bars.axes[0].patches  # drawn, at the 1,921 tokens OPT's context leaves


@pytest.mark.parametrize(
    ("kind", "model", "labels"),
    [
        ("memory", "meta-llama/Llama-3.1-8B", ["W16", "W8", "W4", "W4 KV4"]),
        ("batch", "meta-llama/Llama-3.1-8B", ["W16A16", "W8A8", "W4A16"]),
        # gpt-oss stores MXFP4: its default bar is that, not a "W16" of 65 GB; 4-bit given
        # alone is the stored MXFP4, drawn once.
        ("memory", "openai/gpt-oss-120b", ["as stored: W4 mxfp4", "W16", "W8", "W4 mxfp4 KV4"]),
        # DeepSeek-V3 stores block FP8: its W8A8 is as stored.
        ("batch", "deepseek-ai/DeepSeek-V3", ["as stored: W8A8 fp8", "W16A16", "W4A16"]),
    ],
)
def test_default_series_are_named_by_the_precision_they_run_at(kind, model, labels) -> None:
    from rooflens.cli.plot_cmds import default_series

    series = default_series(kind, model)
    assert list(series) == labels
    weights = {
        label: float(rooflens.analyze(model, "h200-sxm", **opts).memory["decode"].weights)
        for label, opts in series.items()
    }
    if model == "openai/gpt-oss-120b":
        assert weights["W16"] > 3 * weights["as stored: W4 mxfp4"]


def test_the_timeline_shows_an_engine_idle_between_requests() -> None:
    """Two requests half a second apart on an H100: between them nothing runs, where the
    step line had held the last iteration's batch across the gap."""
    from rooflens.serving import ArrivalProcess, LengthDistribution, Workload
    from rooflens.views.serving_plots import timeline, with_idle

    work = Workload(requests=2, arrivals=ArrivalProcess(kind="fixed", rate=2),
                    prompt=LengthDistribution(a=500), output=LengthDistribution(a=20))  # fmt: skip
    result = rooflens.simulate("meta-llama/Llama-3.1-8B", "h100-sxm", work)
    rows = result.timeline
    shown = with_idle(rows)
    idle = shown[shown["running"] == 0]
    ends = (rows["start"] + rows["duration"]).to_numpy()
    # One idle spell after each request's last iteration, at the moment it ends.
    assert len(idle) == 2 and np.isin(idle["start"].to_numpy(), ends).all()
    assert idle["kv_tokens"].isna().all() and (idle["waiting"] == 0).all()
    first_gap = idle["start"].iloc[0]
    assert first_gap < 0.5 <= rows["start"].iloc[-1]
    timeline(result)  # draws


def tick_labels(fig, axis) -> list[str]:
    """The labels a drawn figure shows on one axis (ticks within its view), checked to stand
    apart from one another."""
    fig.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    ticks = [
        t
        for t in axis.get_major_ticks()
        if lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9) and t.label1.get_text()
    ]
    boxes = [t.label1.get_window_extent() for t in ticks]
    texts = [t.label1.get_text() for t in ticks]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2)), texts
    return texts


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (128, "", "128"),
        (512, "", "512"),
        (1024, "", "1k"),
        (2048, "", "2k"),
        (8192, "", "8k"),
        (2000, "", "2k"),
        (1500, "", "1.5k"),
        (20, "", "20"),
        (0.25, "", "0.25"),
        (0.01, "", "0.01"),
        (1.5e6, "", "1.5M"),
        # Beside 256k on a token axis: 1,024² is 1M, not 1.05M.
        (1024**2, "", "1M"),
        (4 * 1024**2, "", "4M"),
        (1e14, "OP/s", "100 TOP/s"),
        (5e9, "OP/s", "5 GOP/s"),
        # The tables' prefixes (rooflens.formats.si): rounded before one is chosen, up to E.
        (999.9e6, "B", "1 GB"),
        (1e18, "B", "1 EB"),
    ],
)
def test_log_axes_read_in_plain_numbers(value, unit, text) -> None:
    assert plots.plain_number(value, unit) == text


def test_the_default_sequence_plot_labels_each_prompt_length_apart() -> None:
    """Llama-2-7B's prompts of 128 to 2,048 tokens: each labelled as written (the x labels had
    read 2×10², 3×10²4×10² and overlapped), the times and throughputs in plain numbers, at
    least four of each."""
    fig = plots.sequence_curves(LLAMA, "a6000", SETTINGS)
    for ax in fig.axes:
        assert tick_labels(fig, ax.xaxis) == ["128", "256", "512", "1k", "2k"]
        y = tick_labels(fig, ax.yaxis)
        assert len(y) >= 4 and all(label.replace(".", "").isdigit() for label in y)
    assert tick_labels(fig, fig.axes[0].yaxis) == ["5", "6", "8", "10", "20"]


def test_a_narrow_range_is_labelled_too() -> None:
    """GPT-2's three prompts (its context holds no more): 128 and 512 had no label, and the
    time per token (0.17 to 0.35 ms) only 0.2 and 0.3, as 2×10⁻¹ and 3×10⁻¹; both ends of
    the data are labelled (0.35 ms had none past 0.3)."""
    fig = plots.sequence_curves("openai-community/gpt2", "a6000", SETTINGS)
    latency, throughput = fig.axes
    assert tick_labels(fig, latency.xaxis) == ["128", "256", "512"]
    assert tick_labels(fig, latency.yaxis) == ["0.17", "0.2", "0.25", "0.3", "0.35"]
    assert tick_labels(fig, throughput.yaxis) == ["3k", "4k", "5k", "6k"]


def test_a_range_narrower_than_any_nice_numbers_takes_evenly_spaced_ones() -> None:
    """gpt-oss-120b's time per token spans 1.04 to 1.25 ms: 1.2 was its only label."""
    fig = plots.sequence_curves("openai/gpt-oss-120b", "h200-sxm", {"stored": {}})
    labels = tick_labels(fig, fig.axes[0].yaxis)
    assert labels == ["1.05", "1.06", "1.07", "1.08"]  # 1.04 to 1.09 ms: none before
    assert plots._evenly(1.04, 1.25).tolist() == [1.08, 1.12, 1.16, 1.2]
    # A series that fits at no point says so in the legend (it had stood there, lineless).
    fig = plots.sequence_curves(
        "openai/gpt-oss-120b", "h100-sxm", {"W16": {"w_bits": 16}, "W4": {}}
    )
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend == ["W16 (fits in memory at no point)", "W4"]
    assert fig.left_out == ("W16 fits in memory at no prompt length: not drawn",)


def test_the_command_says_which_points_it_leaves_out(tmp_path) -> None:
    """Points that do not fit are left out of the curves; the command line says which, per
    setting, beside the file it wrote (only the figure's title had said that some were)."""
    args = ["plot", "batch", "meta-llama/Llama-3.1-8B", "-H", "h100-sxm", "-o"]
    res = CliRunner().invoke(app, [*args, str(tmp_path / "b.png")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    # On the H100 16-bit weights leave room for 236 sequences of 1,152 tokens, 8-bit 260,
    # 4-bit 272 (the default series: W16A16, W8A8, W4A16 over batch sizes 1 to 512).
    assert res.output.splitlines() == [
        "note: W16A16 does not fit in memory at batch sizes 256, 512: left out there",
        "note: W8A8 does not fit in memory at batch size 512: left out there",
        "note: W4A16 does not fit in memory at batch size 512: left out there",
        f"wrote {tmp_path / 'b.png'}",
    ]
    fig = plots.batch_curves("meta-llama/Llama-3.1-8B", "h100-sxm", {"w16": {}}, [1, 2])
    assert fig.left_out == ()


def test_every_log_axis_is_labelled_alike() -> None:
    """The roofline's decades (OP/s with SI prefixes), a batch axis of ten sizes and the
    advisor's narrow Pareto plot: plain numbers, none overlapping."""
    from rooflens.advisor.search import Advice, Target
    from rooflens.serving import SLO
    from rooflens.views.advisor_plots import pareto

    fig = plots.roofline(rooflens.analyze(LLAMA, "a6000", prompt_len=2048))
    ax = fig.axes[0]
    assert tick_labels(fig, ax.xaxis) == ["0.01", "0.1", "1", "10", "100", "1k", "10k", "100k"]
    assert tick_labels(fig, ax.yaxis) == [
        "10 GOP/s", "100 GOP/s", "1 TOP/s", "10 TOP/s", "100 TOP/s"
    ]  # fmt: skip
    fig = plots.batch_curves("openai-community/gpt2", "a6000", {"A": {}}, prompt_len=128)
    assert tick_labels(fig, fig.axes[0].xaxis)[::3] == ["1", "8", "64", "512"]
    # Sizes 1 to 200 one by one: too many to label, and every k-th would read 1, 101, 201.
    fig = plots.batch_curves("openai-community/gpt2", "a6000", {"A": {}}, np.arange(1, 201), 128)
    assert tick_labels(fig, fig.axes[0].xaxis) == ["1", "2", "5", "10", "20", "50", "100", "200"]
    e2e = np.array([3.3, 4.0, 5.9, 12.0, 17.0, 9.0])
    cost = np.array([2.3, 2.3, 1.15, 0.87, 0.58, 100.0])
    table = pd.DataFrame(
        {"e2e": e2e, "cost_per_million": cost, "feasible": True, "device": "b200",
         "devices": [16, 16, 8, 6, 4, 1], "w_bits": 4,
         "pareto": [True, False, True, True, True, False]}
    )  # fmt: skip
    fig = pareto(Advice(table=table, rank="cost", target=Target(), slo=SLO()))
    ax = fig.axes[0]
    # 3.3 to 17 s: 4 to 10 had left the front's slowest setups unlabelled.
    assert tick_labels(fig, ax.xaxis) == ["4", "5", "6", "8", "10", "15"]
    assert tick_labels(fig, ax.yaxis) == ["0.5", "1", "2", "5", "10", "20", "50", "100"]
    # No feasible setup: no axis scaled to nothing (-0.04 to 0.04 s and USD read as data).
    none = pareto(Advice(table=table.assign(feasible=False), rank="cost", target=Target(),
                         slo=SLO()))  # fmt: skip
    assert not none.axes[0].get_xticks().size and not none.axes[0].get_yticks().size
    assert any(t.get_text() == "no setup meets the objectives" for t in none.axes[0].texts)


def test_long_setting_names_under_the_memory_bars_stand_apart() -> None:
    """Six settings with names of up to 24 characters: each name is broken into lines as wide
    as its bar's share of the axis (they had run into one another), and reads as given."""
    settings = {
        "BF16 baseline long label": {},
        "W8 KV8 quantized": {"w_bits": 8, "kv_bits": 8},
        "W4 group128 KV4": {"w_bits": 4, "group_size": 128, "kv_bits": 4},
        "W4 TP2": {"w_bits": 4, "tp": 2},
        "W3": {"w_bits": 3},
        "an_unbroken_name_of_thirty_chars": {"w_bits": 2},
    }
    fig = plots.memory_bars(LLAMA, "rtx-4090", settings)
    labels = tick_labels(fig, fig.axes[0].xaxis)
    assert [" ".join(label.split("\n")) for label in labels][:5] == list(settings)[:5]
    assert "".join(labels[5].split("\n")) == "an_unbroken_name_of_thirty_chars"
    assert labels[0] == "BF16 baseline\nlong label" and labels[3] == "W4 TP2"


def test_each_plot_names_the_model_the_device_and_what_priced_it() -> None:
    """Titles that say what a figure shows: the batch, sequence and memory plots had named the
    model alone, the operator plot neither the device nor the engine."""
    a6000 = "meta-llama/Llama-2-7b-hf on NVIDIA RTX A6000 48GB, roofline bound"
    fig = plots.batch_curves(LLAMA, "a6000", SETTINGS, batches=[1, 8])
    assert fig.get_suptitle().splitlines() == [
        a6000,
        "prompt 1,024 tokens, 128 generated tokens; points that do not fit in memory are left out",
    ]
    fig = plots.sequence_curves(LLAMA, "a6000", SETTINGS, prompt_lens=[128, 512])
    assert fig.get_suptitle().splitlines()[0] == a6000
    # The memory plot is narrow (5 inches for two settings): its title breaks after the
    # device, where the line would run past the figure's edges (fit_titles).
    fig = plots.memory_bars(LLAMA, "a6000", {"W16": {}, "W4 TP2": {"w_bits": 4, "tp": 2}})
    assert fig.axes[0].get_title().splitlines() == [
        "meta-llama/Llama-2-7b-hf on NVIDIA RTX A6000 48GB,", "roofline bound",
        "batch 1, context 1,151 tokens; per device",
    ]  # fmt: skip
    fig = plots.memory_bars(LLAMA, "a6000", {"TP2": {"tp": 2}})
    assert fig.axes[0].get_title().endswith("; per device of 2")
    # Series priced apart: each label says its own, the title only the model and device.
    mixed = {"vLLM": {"engine": "vllm"}, "roofline": {}}
    fig = plots.batch_curves("Qwen/Qwen3-30B-A3B", "h200", mixed, batches=[1, 8])
    assert fig.get_suptitle().startswith("Qwen/Qwen3-30B-A3B on NVIDIA H200 SXM 141GB\n")
    # ...which they had not: "A" and "B" alone, W4's bars read as the engine's.
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend == [
        "vLLM: vllm 0.24.0 profile, h200-sxm, graphs, prefill's up to 512 tokens",
        "roofline: roofline bound",
    ]
    fig = plots.memory_bars("Qwen/Qwen3-30B-A3B", "h200", mixed)
    assert [" ".join(x.split("\n")) for x in tick_labels(fig, fig.axes[0].xaxis)] == legend
    # vLLM takes 0.92 of the device: each bar its own capacity (the last series' line was all).
    limit = "limit (the device, or the engine's share)"
    marks = [c for c in fig.axes[0].collections if c.get_label() == limit]
    heights = sorted(round(seg[0][1]) for seg in marks[0].get_segments())
    h200 = rooflens.get_device("h200").memory_capacity / 1e9
    assert heights == [round(0.92 * h200), round(h200)]
    result = rooflens.analyze("Qwen/Qwen3-30B-A3B", "h200", engine="vllm", tp=2, batch=8)
    title = plots.operator_times(result, "decode").axes[0].get_title().splitlines()
    assert title == [
        "Qwen/Qwen3-30B-A3B on NVIDIA H200 SXM 141GB,",
        "calibrated estimate (vllm 0.24.0 profile,",
        "h200-sxm, graphs, prefill's up to 512 tokens)",
        "decode: time per operator, batch 8, prompt 2,048 tokens; per device of 2",
    ]
    roof = plots.roofline(rooflens.analyze(LLAMA, "a6000")).axes[0].get_title()
    # The point the figure shows: its batch and the prompt's tokens.
    assert roof == f"{a6000}\nroofline, batch 1, prompt 2,048 tokens"


def _outside_the_figure(fig, title) -> list[float]:
    """How far a drawn title runs past the figure's left and right edges, in pixels (none:
    both at most 0), measured by the renderer that draws it."""
    fig.canvas.draw()
    box = title.get_window_extent(fig.canvas.get_renderer())
    return [-box.x0, box.x1 - fig.bbox.width]


def test_a_long_engine_label_keeps_a_narrow_figures_title_within_it(tmp_path) -> None:
    """An engine's estimate after the model and the device ran past a narrow figure's edges
    (the memory plot of one setting, 5 inches: 720 pixels of title in 500, from -221 to 734):
    broken at its clauses, then its words, each title lies within its figure, and reads as
    given."""
    from rooflens.serving import ArrivalProcess, LengthDistribution, Workload
    from rooflens.views.advisor_plots import pareto
    from rooflens.views.serving_plots import timeline

    model, device = "Qwen/Qwen3-30B-A3B", "h200"
    result = rooflens.analyze(model, device, engine="vllm", tp=2, batch=8)
    estimate = (
        "calibrated estimate (vllm 0.24.0 profile, h200-sxm, graphs, prefill's up to 512 tokens)"
    )
    subject = f"{model} on NVIDIA H200 SXM 141GB, {estimate}"
    memory = plots.memory_bars(model, device, {"vLLM": {"engine": "vllm"}})
    drawn = {
        "memory": (memory, memory.axes[0].title, f"{subject}\nbatch 1, context 1,151 tokens"),
    }
    figure = plots.operator_times(result, "decode")
    at = "batch 8, prompt 2,048 tokens"
    drawn["operators"] = (
        figure,
        figure.axes[0].title,
        f"{subject}\ndecode: time per operator, {at}; per device of 2",
    )
    figure = plots.roofline(result)
    drawn["roofline"] = (
        figure,
        figure.axes[0].title,
        f"{subject}\nroofline, {at}; per device of 2",
    )
    work = Workload(requests=2, arrivals=ArrivalProcess(kind="fixed", rate=2),
                    prompt=LengthDistribution(a=500), output=LengthDistribution(a=20))  # fmt: skip
    run = rooflens.simulate("Qwen/Qwen3-0.6B", "h100-sxm", work, engine="vllm")
    long = f"Qwen/Qwen3-0.6B on NVIDIA H100 SXM5 80GB, {run.estimate}, {run.estimate}"
    figure = timeline(run, title=long)
    heading = next(t for t in figure.texts if t.get_text() == figure.get_suptitle())
    drawn["timeline"] = (
        figure,
        heading,
        f"{long}\n1 replica of 1 device (TP=1); 2 requests, arrivals averaging 2/s",
    )
    for name, (fig, title, given) in drawn.items():
        assert max(_outside_the_figure(fig, title)) <= 0, (name, title.get_text())
        # Broken at ", " and at spaces only: joined, it reads as given.
        assert " ".join(title.get_text().split()) == " ".join(given.split()), name
    # Broken where it must, after the device; the memory plot's estimate at its words too,
    # in lines as even as they go.
    assert memory.axes[0].get_title().splitlines() == [
        f"{model} on NVIDIA H200 SXM 141GB,", "calibrated estimate (vllm 0.24.0 profile,",
        "h200-sxm, graphs, prefill's up to 512 tokens)", "batch 1, context 1,151 tokens",
    ]  # fmt: skip
    # A name without a space to break at: a smaller font, still within the figure.
    fig = plots.memory_bars(LLAMA, "a6000", {"W16": {}})
    fig.axes[0].set_title("x" * 200)
    plots.fit_titles(fig, fig.axes[0].title)
    assert max(_outside_the_figure(fig, fig.axes[0].title)) <= 0
    assert fig.axes[0].title.get_fontsize() < 12 and fig.axes[0].get_title() == "x" * 200
    # A title that fits is left as it was.
    wide = plots.batch_curves(model, device, {"vLLM": {"engine": "vllm"}}, batches=[1, 8])
    assert wide.get_suptitle().splitlines()[0] == subject
    # The advisor's picture, of an engine's release: its estimate is longer still.
    advice_plot = pareto(_toy_advice())
    assert advice_plot.axes[0].get_title().splitlines() == [
        "nvidia/DeepSeek-V3-0324-FP4,",
        "estimated with trtllm's fitted profiles for release 1.2.0 (a device's",
        "tables of that release, else of the oldest after it, else the newest),",
        "of trtllm 1.3.0rc20 on b200",
        "10 req/s, prompt 1,000 tokens, output 300 tokens",
    ]
    assert max(_outside_the_figure(advice_plot, advice_plot.axes[0].title)) <= 0


def _toy_advice():
    from rooflens.advisor.search import Advice, Target
    from rooflens.serving import SLO

    table = pd.DataFrame(
        {"e2e": [3.3, 5.9], "cost_per_million": [2.3, 1.15], "feasible": True, "device": "b200",
         "devices": [16, 8], "w_bits": 4, "pareto": [True, True]}
    )  # fmt: skip
    return Advice(
        table=table, rank="cost", target=Target(), slo=SLO(), engine="trtllm",
        engine_version="1.2.0", model="nvidia/DeepSeek-V3-0324-FP4",
    )  # fmt: skip


def test_a_timeline_where_nothing_waits_counts_requests_in_whole_numbers() -> None:
    """Two requests half a second apart: none ever waits, and the waiting axis read -0.06 to
    0.06 in steps of 0.02 (the running one 0.2 apart). Counts of requests take whole-number
    ticks from 0."""
    from rooflens.serving import ArrivalProcess, LengthDistribution, Workload
    from rooflens.views.serving_plots import timeline

    work = Workload(requests=2, arrivals=ArrivalProcess(kind="fixed", rate=2),
                    prompt=LengthDistribution(a=500), output=LengthDistribution(a=20))  # fmt: skip
    result = rooflens.simulate("Qwen/Qwen3-0.6B", "h100-sxm", work)
    assert (result.timeline["waiting"] == 0).all() and result.timeline["running"].max() == 1
    fig = timeline(result)
    running, _, waiting = fig.axes
    assert tick_labels(fig, waiting.yaxis) == ["0", "1"]
    assert tick_labels(fig, running.yaxis) == ["0", "1"]
    for ax in (running, waiting):
        low, high = ax.get_ylim()
        assert low == 0 and high >= 1
        shown = [t for t in ax.get_yticks() if low <= t <= high]
        assert shown and all(float(t).is_integer() for t in shown)


@pytest.mark.parametrize("kind", ["roofline", "operators", "batch", "sequence", "memory"])
def test_every_plot_takes_a_requests_images(tmp_path, kind) -> None:
    """plot had no --images: a vision model's figures showed its text alone. Qwen3-VL-4B's
    image is 1,024 tokens; two join a 1,024-token prompt (the plots' default)."""
    vl = "Qwen/Qwen3-VL-4B-Instruct"
    out = str(tmp_path / f"{kind}.png")
    args = ["plot", kind, vl, "-H", "h100-sxm", "--images", "2", "--prompt-len", "1024"]
    res = CliRunner().invoke(app, [*args, "-o", out])
    assert res.exit_code == 0, res.output
    figure = _last_figure()
    title = figure.get_suptitle() or figure.axes[0].get_title()
    assert "2 images per request" in title, title
    with_images = rooflens.analyze(vl, "h100-sxm", prompt_len=1024, gen_len=128, images=2)
    if kind == "memory":
        # 1,024 + 2 x 1,024 + 127
        assert (
            "context 3,199 tokens (text 1,024 + image 2,048 + 127 generated), 2 images "
            "per request" in " ".join(title.split())
        )
        held = sum(b.get_height() for b in figure.axes[0].patches[::4][:3])
        generation = with_images.memory["generation"]
        parts = generation.weights + generation.kv_cache + generation.activations
        assert held == pytest.approx(float(parts) / 1e9, rel=1e-9)
    if kind == "batch":
        first = figure.axes[0].get_lines()[0].get_ydata()[0]  # batch 1, ms
        assert first == pytest.approx(float(with_images.generation["tpot"]) * 1e3, rel=1e-12)
    # "prompt" is every token prefilled, in each plot: the text's and the images'.
    if kind in ("roofline", "operators", "batch"):
        words = "prompt 3,072 tokens (text 1,024 + image 2,048), 2 images per request"
        assert words in " ".join(title.split()), title


@pytest.mark.parametrize("kind", ["roofline", "batch", "memory"])
def test_a_generation_past_the_context_is_blamed_not_a_prompt_never_given(tmp_path, kind):
    """GPT-2's 1,024 positions beside 1,100 generated tokens: the plots' default prompt went
    negative and the error named `--prompt-len=-75`, a value nobody typed."""
    args = ["plot", kind, "gpt2", "-H", "h100-sxm", "--gen-len", "1100"]
    res = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2
    assert res.output.startswith("error: gen_len=1100 is invalid: expected at most 1024 tokens")
    assert plots.default_prompt("gpt2", 1100, 1024) == 1
    assert plots.default_prompt("gpt2", 128, 1024) == 897


@pytest.mark.parametrize("kind", ["batch", "sequence", "memory", "roofline"])
def test_the_default_prompt_leaves_room_for_the_images(tmp_path, kind) -> None:
    """A Gemma 3 of 1,200 positions with an image (256 tokens) beside 128 generated: the
    default prompt took 1,024 tokens, and the error blamed the images beside "a prompt of
    1024 tokens" nobody gave; it takes the 817 left (1,200 - 256 - 127)."""
    import json

    from rooflens.models.catalog import bundled_config

    config = json.loads(json.dumps(bundled_config("google/gemma-3-27b-it")))
    config["text_config"]["max_position_embeddings"] = 1200
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    args = ["plot", kind, str(path), "-H", "h100-sxm", "--images", "1"]
    res = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 0, res.output
    assert plots.default_prompt(str(path), 128, 1024, images=1) == 817
    assert list(plots._default_prompts(str(path), 128, images=1)) == [128, 256, 512]


def test_a_one_setting_plot_names_its_setting_and_layout(tmp_path) -> None:
    """The roofline and operator plots' titles said neither the setting's label nor that the
    figures are per device of 8."""
    import matplotlib.image

    for kind in ("roofline", "operators"):
        path = tmp_path / f"{kind}.png"
        args = ["plot", kind, "deepseek-ai/DeepSeek-V3", "-H", "h200-sxm", "--setting",
                "TP8:tp=8", "-o", str(path)]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        assert matplotlib.image.imread(path).shape[0] > 100
    from rooflens.views import plots

    result = rooflens.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", tp=8, prompt_len=1024)
    title = plots.roofline(result, label="TP8").axes[0].get_title()
    assert "TP8: roofline, batch 1, prompt 1,024 tokens; per device of 8" in " ".join(title.split())
    title = plots.operator_times(result, "prefill", label="TP8").axes[0].get_title()
    assert "TP8: prefill: time per operator" in " ".join(title.split())
