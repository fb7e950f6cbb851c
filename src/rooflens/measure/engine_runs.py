"""Serving runs rooflens measured with an engine itself (scripts/engine_serving_client.py, one
JSON line per benchmark point), set beside the serving simulator's forecast of each point:
docs/engines-measured.md.

    python -m rooflens.measure.engine_runs docs/data/engine-runs-vllm-0.22.0-h100.jsonl
    python -m rooflens.measure.engine_runs docs/data/engine-runs-sglang-0.5.17-h100.jsonl
    python -m rooflens.measure.engine_runs --inside docs/data/engine-runs-vllm-0.22.0-h100.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens.api import analyze
from rooflens.engines import prefill_graph_tokens
from rooflens.hardware.catalog import get_device
from rooflens.models.catalog import load_model
from rooflens.serving.api import simulate
from rooflens.serving.config import SchedulerConfig
from rooflens.serving.workload import Workload

# The engine's largest position in those runs (vLLM's --max-model-len, SGLang's
# --context-length: 9216).
MAX_LEN = 9216


# SGLang's option that starts it without prefill CUDA graphs.
EAGER_PREFILL = "--disable-prefill-cuda-graph"
# vLLM's option whose `cudagraph_capture_sizes` list replaces its default capture sizes.
COMPILATION_CONFIG = "--compilation-config"


def launched_graph_tokens(run: pd.Series) -> int | None:
    """The most tokens a prefill iteration ran from a CUDA graph with where the run's launch
    set it (`server_args`): 0 under SGLang's EAGER_PREFILL, the largest of vLLM's
    `cudagraph_capture_sizes` in its COMPILATION_CONFIG; None where the launch left the
    engine's default."""
    args = str(run.get("server_args", "") or "")
    if EAGER_PREFILL in args:
        return 0
    if COMPILATION_CONFIG in args:
        # Its JSON value, whatever other options follow it.
        config, _ = json.JSONDecoder().raw_decode(args.split(COMPILATION_CONFIG, 1)[1].strip())
        sizes = config.get("cudagraph_capture_sizes")
        if sizes:
            return max(int(n) for n in sizes)
    return None


def read_runs(path: Path) -> pd.DataFrame:
    """The measured points, one row each."""
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line])


def forecast(run: pd.Series, path: bool = True, **settings: object) -> dict[str, float]:
    """rooflens' closed-loop forecast of one measured point: the run's engine, release, device
    and model, its clients and requests, every prompt and output of the stated lengths.
    `path=False`: the same forecast without the engine's measured time per request;
    `settings`: more settings over those (a what-if: prefill_graph_tokens, say)."""
    workload = Workload(
        requests=int(run["requests"]),
        prompt=f"fixed:{int(run['isl'])}",
        output=f"fixed:{int(run['osl'])}",
    )
    # Without the path: the request_time setting at 0 replaces the profile's measured time.
    without: dict[str, object] = {} if path else {"request_time": 0.0}
    launched = launched_graph_tokens(run)
    if launched is not None:
        without["prefill_graph_tokens"] = launched  # the launch's own graphs
    result = simulate(
        run["model"],
        run["device"],
        workload,
        scheduler=SchedulerConfig(max_len=MAX_LEN),
        concurrency=int(run["clients"]),
        engine=run["engine"],
        engine_version=run["engine_version"],
        **(without | settings),
    )
    served = result.requests
    return {
        "ttft_predicted_ms": 1e3 * float(served["ttft"].mean()),
        "tpot_predicted_ms": 1e3 * float(served["tpot"].dropna().mean()),
    }


def side_by_side(runs: pd.DataFrame, path: bool = True) -> pd.DataFrame:
    """Each measured point with its forecast and the errors (predicted / measured - 1);
    `path=False` forecasts without the engine's measured time per request."""
    predicted = pd.DataFrame([forecast(run, path) for _, run in runs.iterrows()], index=runs.index)
    out = pd.concat([runs, predicted], axis=1)
    out["ttft_error"] = out["ttft_predicted_ms"] / out["ttft_mean_ms"] - 1
    out["tpot_error"] = out["tpot_predicted_ms"] / out["tpot_mean_ms"] - 1
    return out


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of pre-formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown(table: pd.DataFrame) -> str:
    """The side-by-side table as docs/engines-measured.md shows it."""
    header = [
        "model", "launch", "prompt", "output", "clients", "requests", "TTFT measured ms",
        "TTFT predicted ms", "err", "TPOT measured ms", "TPOT predicted ms", "err",
    ]  # fmt: skip
    rows = [
        [
            str(r["model"]), str(r["launch"]), str(r["isl"]), str(r["osl"]),
            str(r["clients"]), str(r["requests"]), f"{r['ttft_mean_ms']:.1f}",
            f"{r['ttft_predicted_ms']:.1f}", f"{100 * r['ttft_error']:+.0f} %",
            f"{r['tpot_mean_ms']:.2f}", f"{r['tpot_predicted_ms']:.2f}",
            f"{100 * r['tpot_error']:+.0f} %",
        ]
        for _, r in table.iterrows()
    ]  # fmt: skip
    return _markdown(header, rows)


def beside(changed: pd.DataFrame, default: pd.DataFrame) -> pd.DataFrame:
    """The points measured both with a changed launch and at the defaults (same model,
    lengths and clients), one row per default launch, with the changed run's TTFT and TPOT
    over that launch's."""
    keys = ["model", "isl", "osl", "clients"]
    both = changed.merge(default, on=keys, suffixes=("", "_default"))
    both["ttft_ratio"] = both["ttft_mean_ms"] / both["ttft_mean_ms_default"]
    both["tpot_ratio"] = both["tpot_mean_ms"] / both["tpot_mean_ms_default"]
    return both[[*keys, "launch", "launch_default", "ttft_ratio", "tpot_ratio"]]


def between_launches(runs: pd.DataFrame) -> pd.DataFrame:
    """The points measured in more than one launch (same model, lengths and clients): each
    later launch's TTFT and TPOT over the first launch's."""
    keys = ["model", "isl", "osl", "clients"]
    first = runs[runs["launch"] == runs.groupby(keys)["launch"].transform("min")]
    later = runs[runs["launch"] != runs.groupby(keys)["launch"].transform("min")]
    return beside(later, first).rename(columns={"launch_default": "first_launch"})


# Each engine's Prometheus series for a request's TTFT inside the server (from its arrival
# there, before tokenizing: vLLM's renderer stamps arrival_time as it starts on the prompt,
# SGLang's tokenizer manager as it takes the request), its wait in the scheduler's queue, and
# its prefill as the engine times it (vLLM: scheduled to first token; SGLang: its
# prefill_forward stage), as (series, the labels a sample must carry).
SERVER_SERIES: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "vllm": {
        "server": ("vllm:time_to_first_token_seconds", {}),
        "queue": ("vllm:request_queue_time_seconds", {}),
        "prefill": ("vllm:request_prefill_time_seconds", {}),
    },
    "sglang": {
        "server": ("sglang:time_to_first_token_seconds", {}),
        "queue": ("sglang:queue_time_seconds", {}),
        "prefill": ("sglang:per_stage_req_latency_seconds", {"stage": "prefill_forward"}),
    },
}
# A sample's key as the client stores it: name{label="value",...}.
_SAMPLE = re.compile(r"([A-Za-z_:][\w:]*)(?:\{(.*)\})?")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _series(server: dict[str, float], series: str, labels: dict[str, str]) -> tuple[float, float]:
    """One histogram over a point's timed requests: its sum and count over the samples that
    carry `labels`."""
    total = count = 0.0
    for key, value in server.items():
        sample = _SAMPLE.fullmatch(key)
        if sample is None:
            continue
        carried = dict(_LABEL.findall(sample[2] or ""))
        if any(carried.get(k) != v for k, v in labels.items()):
            continue
        if sample[1] == f"{series}_sum":
            total += value
        elif sample[1] == f"{series}_count":
            count += value
    return total, count


def inside_server(runs: pd.DataFrame) -> pd.DataFrame:
    """The single-client points whose server histograms were scraped: the client's TTFT
    beside the server's own, its queue and prefill as the engine times it, and the prefill
    step rooflens prices (its kernels), all in ms; `counted`, the requests the server's TTFT
    histogram counted over the point (its timed requests, where nothing was missed)."""
    rows = []
    has_server = runs["server"].notna() if "server" in runs else pd.Series(False, runs.index)
    known = runs["engine"].isin(list(SERVER_SERIES))
    for _, run in runs[has_server & known & (runs["clients"] == 1)].iterrows():
        sums = {k: _series(run["server"], *v) for k, v in SERVER_SERIES[run["engine"]].items()}
        means = {k: 1e3 * total / count if count else np.nan for k, (total, count) in sums.items()}
        step = analyze(
            run["model"],
            run["device"],
            batch=1,
            prompt_len=int(run["isl"]),
            engine=run["engine"],
            engine_version=run["engine_version"],
            prefill_graph_tokens=int(run["isl"]),  # its kernels, as from a graph
        ).totals()["prefill"]["time"]
        rows.append(
            {
                "engine": run["engine"],
                "model": run["model"],
                "launch": run["launch"],
                "isl": run["isl"],
                "requests": run["requests"],
                "counted": sums["server"][1],
                "client_ms": run["ttft_mean_ms"],
                "server_ms": means["server"],
                "queue_ms": means["queue"],
                "prefill_ms": means["prefill"],
                "priced_ms": 1e3 * step,
            }
        )
    return pd.DataFrame(rows)


def inside_markdown(split: pd.DataFrame) -> str:
    """The breakdown as docs/engines-measured.md shows it."""
    header = [
        "engine", "launch", "prompt", "TTFT at the client ms", "TTFT in the server ms",
        "queue ms", "prefill as the engine times it ms", "prefill step rooflens prices ms",
    ]  # fmt: skip
    rows = [
        [
            str(r["engine"]), str(r["launch"]), str(r["isl"]), f"{r['client_ms']:.1f}",
            f"{r['server_ms']:.1f}", f"{r['queue_ms']:.2f}", f"{r['prefill_ms']:.1f}",
            f"{r['priced_ms']:.1f}",
        ]
        for _, r in split.iterrows()
    ]  # fmt: skip
    return _markdown(header, rows)


# The points a launch time is read from: prompts of at most this many tokens, whose prefill
# the GPU runs in less time than the host launches it (longer ones it outlasts).
LAUNCH_POINTS_MAX_TOKENS = 1024


def prefilled_in_graphs(run: pd.Series) -> bool:
    """Whether the run's engine prefilled its prompts in CUDA graphs: the graphs its launch
    set (launched_graph_tokens), else its release's for the model at that length
    (`engines.prefill_graph_tokens`: vLLM's capture sizes; SGLang 0.5.17 not for latent
    attention), held the whole prompt."""
    tokens = launched_graph_tokens(run)
    if tokens is None:
        tokens = prefill_graph_tokens(
            run["engine"], get_device(run["device"]), run["engine_version"],
            load_model(run["model"]),
        )  # fmt: skip
    return tokens is None or tokens >= int(run["isl"])


# The least TTFT difference between two starts read as a launch (launch_points' margin): a
# point counts where its difference passes this and the pair's largest difference at the
# points both starts prefilled in CUDA graphs (the reading stated before vLLM's starts ran,
# docs/engines-measured.md).
LAUNCH_MARGIN_MS = 2.0


def launch_points(
    eager: pd.DataFrame,
    graphs: pd.DataFrame,
    max_tokens: int = LAUNCH_POINTS_MAX_TOKENS,
    margin: bool = False,
) -> pd.DataFrame:
    """The host's time to launch a prefill iteration without CUDA graphs, per point: each
    single-client point of at most `max_tokens` tokens that a launch (`eager`) prefilled
    without graphs and another (`graphs`) in them (prefilled_in_graphs), where the former
    took longer: its TTFT less the one with graphs, plus the prefill step rooflens prices
    (the GPU's time, which the TTFT with graphs holds beside the request's path). `margin`:
    only where it took longer by more than LAUNCH_MARGIN_MS and than the pair of launches
    differ by at any point both prefilled in graphs (`control_ms`; 0 where they have none,
    LAUNCH_MARGIN_MS alone then). Columns: model, launch,
    launch_graphs, isl, ttft_mean_ms, ttft_graphs_ms, control_ms, priced_ms, launch_ms,
    layers, moe_layers, per_layer_ms."""
    keys = ["model", "isl", "osl", "clients"]
    start = ["launch", "launch_graphs"]
    both_graphed = graphs.apply(prefilled_in_graphs, axis=1).astype(bool)
    with_graphs = graphs.loc[
        both_graphed & (graphs["clients"] == 1), [*keys, "ttft_mean_ms", "launch"]
    ]
    single = eager[eager["clients"] == 1]
    single = single.assign(graphed=single.apply(prefilled_in_graphs, axis=1).astype(bool))
    pairs = single.merge(with_graphs, on=keys, suffixes=("", "_graphs"))
    pairs["gap"] = pairs["ttft_mean_ms"] - pairs["ttft_mean_ms_graphs"]
    # What two starts differ by where both ran the prompt in graphs.
    control = (
        pairs[pairs["graphed"]]
        .groupby(["model", *start])["gap"]
        .agg(lambda gaps: float(gaps.abs().max()))
    )
    pairs = pairs.join(control.rename("control_ms"), on=["model", *start])
    pairs["control_ms"] = pairs["control_ms"].fillna(0.0)
    floor = np.maximum(pairs["control_ms"], LAUNCH_MARGIN_MS) if margin else 0.0
    counted = pairs[~pairs["graphed"] & (pairs["isl"] <= max_tokens) & (pairs["gap"] > floor)]
    rows = []
    for _, run in counted.iterrows():
        prefill = analyze(
            run["model"], run["device"], engine=run["engine"],
            engine_version=run["engine_version"], prompt_len=int(run["isl"]),
            prefill_graph_tokens=int(run["isl"]),
        ).steps["prefill"]  # fmt: skip
        priced = 1e3 * float(np.max(prefill.step_time()))
        launch = float(run["gap"]) + priced
        rows.append({
            "model": run["model"], "launch": run["launch"],
            "launch_graphs": run["launch_graphs"], "isl": int(run["isl"]),
            "ttft_mean_ms": run["ttft_mean_ms"], "ttft_graphs_ms": run["ttft_mean_ms_graphs"],
            "control_ms": float(run["control_ms"]), "priced_ms": priced, "launch_ms": launch,
            "layers": prefill.num_layers, "moe_layers": prefill.moe_layers,
            "per_layer_ms": launch / prefill.num_layers,
        })  # fmt: skip
    return pd.DataFrame(rows)


def launch_times(
    eager: pd.DataFrame,
    graphs: pd.DataFrame,
    max_tokens: int = LAUNCH_POINTS_MAX_TOKENS,
    margin: bool = False,
) -> tuple[float, float]:
    """The host's time per layer to launch a prefill without CUDA graphs (seconds), and its
    more per mixture-of-experts layer: the median per layer over the points of the dense
    models, and over those of the mixture-of-experts models less that (launch_points, with
    `max_tokens` and `margin`; a model must be all one or all the other)."""
    points = launch_points(eager, graphs, max_tokens, margin)
    if points.empty:
        raise ValueError("no single-client point where the launch without graphs was slower")
    moe = points["moe_layers"] == points["layers"]
    if not (moe | (points["moe_layers"] == 0)).all():
        raise ValueError("a model with both dense and mixture-of-experts layers")
    if moe.all() or not moe.any():
        raise ValueError("points of dense and of mixture-of-experts models are both needed")
    dense = float(points.loc[~moe, "per_layer_ms"].median()) / 1e3
    return dense, float(points.loc[moe, "per_layer_ms"].median()) / 1e3 - dense


def fit_points(runs: pd.DataFrame) -> pd.Series:
    """The points `host_per_request` is measured on: one client, prompts of at most 128
    tokens (prefilled inside a CUDA graph), of the first model."""
    return (runs["clients"] == 1) & (runs["isl"] <= 128) & (runs["model"] == runs["model"].iloc[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument(
        "--inside",
        action="store_true",
        help="the single-client points' TTFT as the server's own histograms split it",
    )
    args = parser.parse_args(argv)
    if args.inside:
        split = inside_server(read_runs(args.runs))
        if split.empty:
            print(
                f"{args.runs}: no single-client point of {' or '.join(SERVER_SERIES)} with the "
                "server's histograms (the client's --metrics)"
            )
            return
        print(inside_markdown(split))
        return
    table = side_by_side(read_runs(args.runs))
    print(markdown(table))
    rest = table[~fit_points(table)]
    print(
        f"\nOutside the fitted points ({len(rest)}): |TTFT error| median "
        f"{100 * float(np.median(rest['ttft_error'].abs())):.0f} %, |TPOT error| median "
        f"{100 * float(np.median(rest['tpot_error'].abs())):.0f} %."
    )


if __name__ == "__main__":
    main()
