"""Readability of the figures: log axes labelled up to the top of their data, Pareto labels
that tell setups apart, simulation titles that say the layout and the load, one meaning of
"prompt" in every title, roofline labels that keep the figure its size, and plot errors
that name fields as the rest of the API does."""

from __future__ import annotations

import inspect
import itertools

import matplotlib.image
import matplotlib.pyplot as plt
import matplotlib.text as mtext
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rooflens
from rooflens.cli.app import app
from rooflens.core.errors import InvalidInputError
from rooflens.views import plots

SMALL = "Qwen/Qwen3-0.6B"
VL = "Qwen/Qwen3-VL-4B-Instruct"  # 1,024 tokens an image


def _labels(fig, axis) -> list[tuple[float, str]]:
    """The (value, text) of each labelled major tick within the drawn axis' view."""
    fig.canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    return [
        (t.get_loc(), t.label1.get_text())
        for t in axis.get_major_ticks()
        if lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9) and t.label1.get_text()
    ]


def _top_gap(fig, axis) -> tuple[float, float]:
    """How far (in decades) the highest label lies below the top of the data, and the widest
    step between labels."""
    at = np.log10([value for value, _ in _labels(fig, axis)])
    top = np.log10(axis.get_data_interval()[1])
    return top - at[-1], float(np.max(np.diff(at)))


# -- 1. log axes: a label at or near the top of the data ----------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(3.3, 17.0), (0.013, 47.0), (1.3, 35.8), (120.0, 950.0), (1.1, 1.9), (0.167, 0.3516)],
)
def test_the_top_of_a_log_axis_data_is_labelled(lo, hi) -> None:
    """3.3 to 17 was labelled 4, 5, 6, 8, 10: the data's top half-decade had no label. The
    highest label now lies within half the widest step between labels of the top, or within
    10 % of it."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([lo, hi], [lo, hi])
    plots.log_axis(ax.xaxis)
    plots.log_axis(ax.yaxis)
    for axis in (ax.xaxis, ax.yaxis):
        gap, step = _top_gap(fig, axis)
        assert gap <= max(step / 2, np.log10(1.1)) + 1e-9, _labels(fig, axis)
    plt.close(fig)


def test_the_pareto_plots_slowest_setups_are_labelled() -> None:
    """The advisor's front from 3.3 to 17 s: its x axis stopped at 10."""
    from rooflens.advisor.search import Advice, Target
    from rooflens.serving import SLO
    from rooflens.views.advisor_plots import pareto

    table = pd.DataFrame(
        {"e2e": [3.3, 4.0, 5.9, 12.0, 17.0], "cost_per_million": [2.3, 2.3, 1.15, 0.87, 0.58],
         "feasible": True, "device": "b200", "devices": [16, 16, 8, 6, 4], "w_bits": 4,
         "pareto": [True, False, True, True, True]}
    )  # fmt: skip
    fig = pareto(Advice(table=table, rank="cost", target=Target(), slo=SLO()))
    texts = [text for _, text in _labels(fig, fig.axes[0].xaxis)]
    assert texts[-1] == "15" and texts[:5] == ["4", "5", "6", "8", "10"]
    plt.close(fig)


def test_a_thinned_size_axis_labels_its_largest_size() -> None:
    """Sizes 1 to 32,768 (doubling) on a narrow axis, too many to label each: every k-th was
    counted up from the smallest, so the largest size drawn had no label."""
    sizes = 2 ** np.arange(16)
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.plot(sizes, sizes)
    plots.log_axis(ax.xaxis, sizes)
    labels = _labels(fig, ax.xaxis)
    assert 1 < len(labels) < len(sizes)  # thinned
    assert labels[-1] == (32768, "32k")
    plt.close(fig)


# -- 2. Pareto labels tell NVFP4 from INT4 and pipeline stages from replicas ---------------


def _advice_of_look_alikes():
    """Four setups on 8 B200s each that 'b200 ×8 W4' named alike: NVFP4 and INT4 weights,
    two replicas of TP=4 and one replica of TP=4 over two pipeline stages."""
    from rooflens.advisor.search import Advice, Target
    from rooflens.serving import SLO

    table = pd.DataFrame(
        {"device": "b200", "tp": 4, "pp": [1, 1, 2, 2], "experts": "tp",
         "weights": ["nvfp4", "int4", "nvfp4", "int4"],
         "precision": ["W4A4 NVFP4, a checkpoint quantized offline (no engine quantizes to "
                       "NVFP4 on load)", "W4A16 INT4 g128", "W4A4 NVFP4", "W4A16 INT4 g128"],
         "w_bits": 4, "kv_bits": 16, "replicas": [2, 2, 1, 1], "devices": 8,
         "e2e": [2.0, 3.0, 4.0, 6.0], "cost_per_million": [4.0, 3.0, 2.0, 1.0],
         "feasible": True, "pareto": True}
    )  # fmt: skip
    return Advice(table=table, rank="cost", target=Target(), slo=SLO())


def test_pareto_labels_tell_the_weights_format_and_the_parallelism_apart() -> None:
    from rooflens.views.advisor_plots import LABEL_KEY, pareto

    fig = pareto(_advice_of_look_alikes())
    ax = fig.axes[0]
    labels = [" ".join(text.get_text().split()) for text in ax.texts]
    assert len(set(labels)) == 4  # each setup its own label
    assert sorted(labels) == sorted([
        "1 × TP=4 PP=2 b200 W4A16 INT4 g128, KV16",
        "1 × TP=4 PP=2 b200 W4A4 NVFP4, KV16",
        "2 × TP=4 b200 W4A16 INT4 g128, KV16",
        "2 × TP=4 b200 W4A4 NVFP4, KV16",
    ])  # fmt: skip
    # What "2 ×" counts is said in the legend.
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert f"Pareto front ({LABEL_KEY})" in legend and "replicas" in LABEL_KEY
    # Labels of neighbouring setups stand apart and within the axes.
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [mtext.Text.get_window_extent(text, renderer) for text in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])
    inside = ax.get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 + 0.5 for b in boxes)
    plt.close(fig)


# -- 3. simulation titles: the layout and the load ----------------------------------------


def _lengths():
    from rooflens.serving import LengthDistribution, Workload

    return Workload(requests=12, prompt=LengthDistribution(a=200), output=LengthDistribution(a=10))


def test_the_timeline_title_says_the_parallelism_and_the_load() -> None:
    from rooflens.serving import ArrivalProcess, Workload
    from rooflens.views.serving_plots import timeline

    closed = rooflens.simulate(SMALL, "h100-sxm", _lengths(), tp=2, concurrency=4)
    title = timeline(closed, title="the title").get_suptitle()
    assert title == (
        "the title\n1 replica of 2 devices (TP=2); 12 requests from 4 clients in a closed loop"
    )
    fixed = Workload(**{k: v for k, v in _lengths() if k != "arrivals"},
                     arrivals=ArrivalProcess(kind="fixed", rate=5))  # fmt: skip
    opened = rooflens.simulate(SMALL, "h100-sxm", fixed, tp=2)
    title = timeline(opened).get_suptitle().splitlines()[1]
    assert title == "1 replica of 2 devices (TP=2); 12 requests, arrivals averaging 5/s"
    # A caller that knows the load as asked for says it so.
    given = timeline(opened, load="Poisson arrivals at 5/s").get_suptitle()
    assert given.endswith("(TP=2); Poisson arrivals at 5/s")
    plt.close("all")


def test_the_capacity_title_says_the_parallelism_and_the_rates_searched() -> None:
    from rooflens.serving import SLO, LengthDistribution, Workload
    from rooflens.views.serving_plots import capacity_curve

    work = Workload(requests=300, prompt=LengthDistribution(a=1000),
                    output=LengthDistribution(a=200))  # fmt: skip
    found = rooflens.capacity("meta-llama/Llama-3.1-8B", "h100-sxm", work,
                              SLO(ttft=0.5, tpot=0.02), tp=2)  # fmt: skip
    assert found.rate > 0
    lines = capacity_curve(found, title="the title").get_suptitle().splitlines()
    rates = found.probes["rate"]
    assert lines == [
        "the title",
        f"1 replica of 2 devices (TP=2); 300 requests at each rate, {rates.min():,.4g} to "
        f"{rates.max():,.4g}/s tried; capacity {found.rate:.4g}/s",
    ]
    # None found: no run at capacity, and the search states the layout it searched.
    none = rooflens.capacity(SMALL, "h100-sxm", _lengths(), SLO(), tp=2)
    assert np.isnan(none.rate)
    assert none.layout == none.to_dict()["layout"] == "1 replica of 2 devices (TP=2)"
    title = capacity_curve(none).get_suptitle()
    assert "1 replica of 2 devices (TP=2); " in title and title.endswith("no capacity found")
    plt.close("all")


def test_the_simulate_command_titles_its_plot_with_the_layout_and_the_load(tmp_path) -> None:
    png = tmp_path / "t.png"
    args = ["simulate", SMALL, "-H", "h100-sxm", "--tp", "2", "--concurrency", "4",
            "--requests", "8", "--prompt", "fixed:200", "--output", "fixed:10",
            "--plot", str(png)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    title = plt.figure(plt.get_fignums()[-1]).get_suptitle()
    # The load as the command offered it, as its summary words it.
    assert "(TP=2); 8 requests, a closed loop of 4 clients" in title
    plt.close("all")


# -- 4. "prompt": every token prefilled, text and images, in every title ------------------


def test_prompt_means_text_and_image_tokens_in_every_title() -> None:
    """The batch plot had said 'prompt 1024' of the text, the roofline 'prompt 3072' of text
    and images: both now say the whole and its parts."""
    words = "prompt 3,072 tokens (text 1,024 + image 2,048), 2 images per request"
    result = rooflens.analyze(VL, "h100-sxm", prompt_len=1024, gen_len=128, images=2)
    titles = {
        "batch": plots.batch_curves(VL, "h100-sxm", {"A": {}}, [1, 2], 1024, images=2)
        .get_suptitle(),
        "roofline": plots.roofline(result).axes[0].get_title(),
        "operators": plots.operator_times(result).axes[0].get_title(),
    }  # fmt: skip
    for kind, title in titles.items():
        assert words in " ".join(title.split()), kind
    # The memory plot's context counts the same tokens, with the generated ones fed back.
    memory = plots.memory_bars(VL, "h100-sxm", {"A": {}}, prompt_len=1024, images=2)
    title = " ".join(memory.axes[0].get_title().split())
    assert "context 3,199 tokens (text 1,024 + image 2,048 + 127 generated)" in title
    # The sequence plot's axis counts the text: its label and title say so.
    sequence = plots.sequence_curves(VL, "h100-sxm", {"A": {}}, [128, 512], images=2)
    assert sequence.axes[0].get_xlabel() == "prompt text length (tokens)"
    assert "prompt: the axis' text + image 2,048 tokens" in sequence.get_suptitle()
    # Without images: "prompt N tokens" throughout, the advisor's too.
    text_only = plots.batch_curves("gpt2", "a6000", {"A": {}}, [1, 2], 512).get_suptitle()
    assert "\nprompt 512 tokens, 128 generated tokens;" in text_only
    assert plots.sequence_curves("gpt2", "a6000", {"A": {}}, [128, 256]).axes[0].get_xlabel() == (
        "prompt length (tokens)"
    )
    from rooflens.views.advisor_plots import pareto

    title = pareto(_advice_of_look_alikes()).axes[0].get_title()
    assert title.endswith("10 req/s, prompt 1,000 tokens, output 300 tokens")
    # A setting that keeps half the prompt prefills 256 of 512 tokens: the titles say so.
    kept = {"half": {"prompt_keep": 0.5}, "whole": {}}
    note = "prompts kept to 256 tokens where a setting compresses them"
    batch = plots.batch_curves("gpt2", "a6000", kept, [1, 2], 512).get_suptitle()
    memory = plots.memory_bars("gpt2", "a6000", kept, prompt_len=512).axes[0].get_title()
    assert note in " ".join(batch.split()) and note in " ".join(memory.split())
    assert "; prompts kept" not in text_only
    plt.close("all")


# -- 5. long roofline labels keep the figure its size -------------------------------------


class _Renamed:
    """An analysis whose operators carry other names (long ones), the rest as it is."""

    def __init__(self, result, frame) -> None:
        self._result, self._frame = result, frame

    def operators(self):
        return self._frame

    def __getattr__(self, name):
        return getattr(self._result, name)


def test_long_roofline_labels_keep_the_figure_its_size(tmp_path) -> None:
    """Operator names grouped into one long line (seven names) ran past the figure's right
    edge, and the figure saved tight grew to take them in (994 pixels of Qwen3-Next's 960)."""
    result = rooflens.analyze("Qwen/Qwen3-Next-80B-A3B-Instruct", "h200-sxm")
    short, long = tmp_path / "short.png", tmp_path / "long.png"
    fig = plots.roofline(result, short)
    frame = result.operators()
    frame = frame.assign(name=frame["name"] + "_with_a_much_longer_name_than_any_model_has")
    long_fig = plots.roofline(_Renamed(result, frame), long)
    assert max(len(t.get_text()) for t in long_fig.axes[0].texts) > 100  # long, and wrapped
    width, height = fig.get_size_inches() * 120  # the dpi figures are saved at
    for fig_, path in ((fig, short), (long_fig, long)):
        assert tuple(fig_.get_size_inches()) == (8.0, 5.5)
        rows, cols = matplotlib.image.imread(path).shape[:2]
        # Saved tight: at most the figure and matplotlib's pad of 0.1 inch each side.
        assert cols <= width + 24 and rows <= height + 24, (path.name, cols, rows)
        fig_.canvas.draw()
        renderer = fig_.canvas.get_renderer()
        inside = fig_.axes[0].get_window_extent(renderer)
        for text in fig_.axes[0].texts:
            box = mtext.Text.get_window_extent(text, renderer)
            assert inside.x0 - 0.5 <= box.x0 and box.x1 <= inside.x1 + 0.5, text.get_text()
            assert inside.y0 - 0.5 <= box.y0 and box.y1 <= inside.y1 + 0.5, text.get_text()
    # The long names change no pixel of the figure's size.
    assert matplotlib.image.imread(long).shape == matplotlib.image.imread(short).shape
    plt.close("all")


# -- 6. plot errors name fields as the API does -------------------------------------------


def _field(call) -> str:
    with pytest.raises(InvalidInputError) as caught:
        call()
    return caught.value.field


def test_plot_errors_name_fields_by_their_api_names() -> None:
    """Below the command line every error names its field by the keyword the API takes
    (gen_len, hardware); the plots named a bad file 'plot', a name of neither (the commands'
    flags are -o and --plot, which they check themselves before any work)."""
    result = rooflens.analyze("gpt2", "a6000", prompt_len=64)
    cases = {
        plots.roofline: lambda: plots.roofline(result, "figure.txt"),
        plots.batch_curves: lambda: plots.batch_curves(
            "gpt2", "a6000", {"A": {}}, [1, 2], 64, gen_len=1
        ),
        plots.sequence_curves: lambda: plots.sequence_curves(
            "meta-llama/Llama-2-70b-hf", "rtx-4090", {"A": {}}, [128, 256]
        ),
    }
    fields = {func.__name__: _field(call) for func, call in cases.items()}
    assert fields == {"roofline": "path", "batch_curves": "gen_len",
                      "sequence_curves": "hardware"}  # fmt: skip
    for func in cases:
        assert fields[func.__name__] in inspect.signature(func).parameters
    with pytest.raises(InvalidInputError, match=r"^path='figure.txt' is invalid: expected a file"):
        plots.roofline(result, "figure.txt")
    # The command names its own flag, as every command does.
    res = CliRunner().invoke(app, ["plot", "roofline", "gpt2", "-H", "a6000", "-o", "x.txt"])
    assert res.exit_code == 2 and "-o='x.txt' is invalid" in res.output
    plt.close("all")


# -- 7. labels and legends clear of each other and of the data ----------------------------


def _drawn(monkeypatch, tmp_path, module, name: str, args: list[str]):
    """The figure `module.name` draws for the command `args` (its file written to tmp_path)."""
    figures = []
    draw = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: figures.append(draw(*a, **k)) or figures[-1])
    res = CliRunner().invoke(app, [*args, str(tmp_path / "figure.png")])
    assert res.exit_code == 0, res.output
    (fig,) = figures
    fig.canvas.draw()
    return fig


def _label_boxes(fig) -> list:
    renderer = fig.canvas.get_renderer()
    return [mtext.Text.get_window_extent(t, renderer) for t in fig.axes[0].texts]


def _along(points: np.ndarray) -> np.ndarray:
    """A polyline in pixels as a point every half pixel or so along it (NaN gaps skipped)."""
    out = [points[np.all(np.isfinite(points), axis=1)]]
    for a, b in itertools.pairwise(points):
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
            t = np.linspace(0, 1, 2 * int(np.hypot(*(b - a))) + 2)[:, None]
            out.append(a + t * (b - a))
    return np.concatenate(out)


def _inside(box, points: np.ndarray) -> np.ndarray:
    x, y = points.T
    return (box.x0 < x) & (x < box.x1) & (box.y0 < y) & (y < box.y1)


ADVICE_70B = ["advise", "meta-llama/Llama-3.1-70B", "--workload", "prompt=1000,output=300,rate=20",
              "--slo", "ttft_p99=2s,tpot_p99=60ms", "--plot"]  # fmt: skip
ADVICE_8B = ["advise", "meta-llama/Llama-3.1-8B", "--workload", "rate=10", "--plot"]


@pytest.mark.parametrize("args", [ADVICE_70B, ADVICE_8B], ids=["70b", "8b"])
def test_pareto_labels_never_overlap(monkeypatch, tmp_path, args) -> None:
    """The 70B's last two labels ran into each other ("KV83 × mi325x"): the label kept within
    the axes was moved back over its neighbour after the labels were set apart. No two label
    boxes overlap, none covers the legend, and each lies within the axes."""
    from rooflens.views import advisor_plots

    fig = _drawn(monkeypatch, tmp_path, advisor_plots, "pareto", args)
    ax = fig.axes[0]
    boxes = _label_boxes(fig)
    assert len(boxes) >= 4
    # Apart by 3 points at least: labels 2 points apart read as one ("KV83 × mi325x").
    room = 3 * fig.dpi / 72
    assert not any(a.padded(room).overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    assert not any(box.overlaps(legend) for box in boxes)
    inside = ax.get_window_extent()
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1
               for b in boxes)  # fmt: skip
    # Each label stays by its point: within 60 points of it.
    for text, box in zip(ax.texts, boxes, strict=True):
        x, y = ax.transData.transform(text.xy)
        far = max(box.x0 - x, x - box.x1, box.y0 - y, y - box.y1)
        assert far <= 60 * fig.dpi / 72, text.get_text()
    plt.close(fig)


@pytest.mark.parametrize("images", [[], ["--images", "2"]], ids=["text", "images"])
def test_sequence_legends_hide_no_line(monkeypatch, tmp_path, images) -> None:
    """Gemma 3's left panel put its legend ("best" of matplotlib's nine places) over the
    W4A16 line: each panel's legend now covers no point of any line, its segments sampled in
    pixels, and the figure keeps its size."""
    args = ["plot", "sequence", "google/gemma-3-27b-it", "-H", "h100-sxm", *images, "-o"]
    fig = _drawn(monkeypatch, tmp_path, plots, "sequence_curves", args)
    assert tuple(fig.get_size_inches()) == (11.0, 4.5)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        assert ax.get_window_extent().contains(legend.x0, legend.y0)
        assert ax.get_window_extent().contains(legend.x1, legend.y1)
        for line in ax.lines:
            points = _along(line.get_transform().transform(line.get_xydata()))
            assert not _inside(legend, points).any(), (ax.get_ylabel(), line.get_label())
    plt.close(fig)


ROOFLINES = [
    ["google/gemma-3-27b-it", "-H", "h100-sxm", "--images", "2"],
    ["Qwen/Qwen3-30B-A3B", "-H", "h200-sxm", "--setting", "vLLM:engine=vllm"],
]


@pytest.mark.parametrize("args", ROOFLINES, ids=["gemma-images", "qwen-moe-vllm"])
def test_roofline_labels_clear_of_markers_and_leader_lines(monkeypatch, tmp_path, args) -> None:
    """Gemma 3's markers hid the start of "lm_head", and Qwen3-30B-A3B's leader lines ran
    across "expert_down_proj": no marker touches a label's text, no leader line crosses
    another label, no two labels overlap, and none covers the legend."""
    fig = _drawn(monkeypatch, tmp_path, plots, "roofline", ["plot", "roofline", *args, "-o"])
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    boxes = _label_boxes(fig)
    assert len(boxes) >= 4
    # Apart by 3 points at least: labels 2 points apart read as one ("KV83 × mi325x").
    room = 3 * fig.dpi / 72
    assert not any(a.padded(room).overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(box.overlaps(legend) for box in boxes)
    pixels = fig.dpi / 72
    for collection in ax.collections:
        centres = collection.get_offset_transform().transform(collection.get_offsets())
        radius = np.sqrt(collection.get_sizes()[0]) / 2 * pixels
        for text, box in zip(ax.texts, boxes, strict=True):
            dx = np.maximum.reduce(
                [box.x0 - centres[:, 0], centres[:, 0] - box.x1, 0 * centres[:, 0]]
            )
            dy = np.maximum.reduce(
                [box.y0 - centres[:, 1], centres[:, 1] - box.y1, 0 * centres[:, 1]]
            )
            assert np.all(np.hypot(dx, dy) >= radius), text.get_text()
    for i, text in enumerate(ax.texts):
        # The leader line as drawn: from the label's box to its point.
        arrow = text.arrow_patch
        path = arrow.get_transform().transform_path(arrow.get_path())
        points = _along(path.vertices)
        for j, box in enumerate(boxes):
            if j != i:
                assert not _inside(box, points).any(), (text.get_text(), ax.texts[j].get_text())
    plt.close(fig)
