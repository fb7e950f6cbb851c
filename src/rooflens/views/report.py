"""A self-contained report of one analysis (HTML or Markdown): settings, totals, memory, energy
and cost, speculative decoding where asked, the bottleneck operators with advice drawn from what
bounds them, the operator table, and plots embedded as data URIs."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import pandas as pd

from rooflens.core.results import Analysis
from rooflens.formats import analysis_facts, analysis_notes, memory_verdict, operator_label

ADVICE = {
    "memory": "memory-bound: fewer bytes help — quantize weights or the KV cache, fuse it with "
    "its neighbours, or batch more requests to raise its arithmetic intensity",
    "compute": "compute-bound: lower-precision compute (INT8/FP8 activations and weights) or "
    "2:4 sparsity on the tensor cores helps; fewer bytes will not",
    "link": "bound by the link between devices: fewer or larger collectives (lower tp, more "
    "pp or dp) or a faster interconnect",
    "host link": "bound by the host link: keep more of the weights or KV cache on the device",
}


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt  # where figures are drawn: the web imports ADVICE only

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# What a report adds beside the analysis where asked: a speculative-decoding estimate (its
# figures, as `rooflens analyze` writes them in JSON, and what it is in words).
Speculation = tuple[dict[str, Any] | None, str] | None
# What a speculation estimate assumed, which its figures begin with (cli.common's
# speculation_context) and the report's title for them says in words.
ASSUMED = ("drafter", "draft", "medusa", "mtp", "gamma", "alpha", "tree_width", "context")


def sections(
    result: Analysis,
    speculation: Speculation = None,
    hourly_price: float | None = None,
    grid_intensity: float | None = None,
) -> dict[str, Any]:
    """The report's content, independent of its format: energy and cost at `hourly_price`
    (default the catalog's) with carbon at `grid_intensity` where given, and `speculation`'s
    figures where given (rooflens.cli.common.speculation_estimate)."""
    from rooflens.views import plots

    data = result.to_dict(hourly_price, grid_intensity)
    # In the order they run: a multimodal model's vision encoder first.
    stages = [s for s in ("vision", "prefill", "decode") if s in result.steps]
    rows = [(stage, data["totals"][stage]) for stage in stages]
    totals = pd.DataFrame(
        [
            {
                "stage": stage,
                "time (s)": row["time"],
                "OPs": row["ops"],
                "memory access (B)": row["memory_access"],
                "compute-bound share of time": row["compute_bound_time"] / row["time"]
                if row["time"]
                else 0.0,
            }
            for stage, row in rows
        ]
    )
    memory = pd.DataFrame(
        [
            {"stage": s, **{k: v for k, v in m.items() if k != "host"}}
            for s, m in data["memory"].items()
        ]
    )
    advice = []
    for stage in stages:
        for item in result.bottlenecks(stage):
            advice.append(
                {
                    "stage": stage,
                    "operator": item["name"],
                    "share of stage time": item["share"],
                    "bound": item["bound"],
                    "advice": ADVICE[item["bound"]],
                }
            )
    frame = result.operators()
    operators = frame[
        [
            "stage",
            "name",
            "count",
            "ops",
            "memory_access",
            "arithmetic_intensity",
            "performance",
            "bound",
            "time",
            "efficiency",
            "priced_by",
        ]
    ]
    # Gemma 3's window and global attention are two rows of one name: each says its reach
    # (and Nemotron-NAS's MLPs their width).
    labels = [
        operator_label(n, s, c, w)
        for n, s, c, w in zip(
            frame["name"], frame["span"], frame["chunk"], frame["mlp_width"], strict=True
        )
    ]
    operators = operators.assign(name=labels)
    figures = {"Roofline": _png(plots.roofline(result))} | {
        f"Time per operator ({stage})": _png(plots.operator_times(result, stage))
        for stage in reversed(stages)
    }
    economics = None
    if data["economics"] is not None:
        price = hourly_price or result.device.hourly_price
        basis = [f"${price:g} per device-hour"] if price else []
        basis += [f"{grid_intensity:g} gCO2e/kWh"] if grid_intensity is not None else []
        # The figures this analysis gives (the JSON lists the rest as null: cost without a
        # price, carbon without a grid intensity).
        given = result.economics(hourly_price, grid_intensity)
        table = pd.DataFrame([{k: data["economics"][k] for k in given}])
        economics = {"basis": ", ".join(basis), "table": table}
    spec = None
    if speculation is not None and speculation[0] is not None:
        figures_, title = speculation
        generation = figures_.get("generation")
        spec = {
            "title": title,
            # The figures; what the estimate assumed (drafter, γ, α, …) the title says.
            "table": pd.DataFrame(
                [{k: v for k, v in figures_.items() if k != "generation" and k not in ASSUMED}]
            ),
            # Its figures: the cost only where priced (the JSON's null otherwise).
            "generation": None
            if generation is None
            else pd.DataFrame([{k: v for k, v in generation.items() if v is not None}]),
        }
    par = result.options.parallelism
    return {
        "title": f"{result.model.name} on {result.device.display_name or result.device.name}",
        "estimate": data["estimate"],
        # What `rooflens analyze` says under the same title: the facts and the notes.
        "facts": analysis_facts(result),
        # A setup that cannot run says so first: its figures are of nothing that runs.
        "notes": ([] if result.peak_memory.fits else [memory_verdict(result)])
        + analysis_notes(result),
        # The prompt prefilled where it is not the prompt asked (compression, images), and
        # the images where a request carries any.
        "inputs": {
            k: v
            for k, v in data["inputs"].items()
            if (k != "prompt_tokens" or v != data["inputs"]["prompt_len"]) and (k != "images" or v)
        }
        | settings_beyond_inputs(result),
        "per_device": par.devices * par.expert_token_groups > 1,
        "params": data["params"],
        "totals": totals,
        "memory": memory,
        "generation": data.get("generation"),
        "advice": pd.DataFrame(advice),
        "economics": economics,
        "speculation": spec,
        "operators": operators,
        "figures": figures,
    }


def settings_beyond_inputs(result: Analysis) -> dict[str, Any]:
    """The settings the report's table shows beside the analysis's inputs: the parallelism
    (the memory and times are per device of it), the engine whose profile priced it and the
    operators run as one."""
    options = result.options
    par = options.parallelism
    profile = options.calibration
    engine = getattr(profile, "engine", None)
    if engine is not None:
        engine = f"{engine} {getattr(profile, 'engine_version', '')}".strip()
    elif profile is not None:
        engine = profile.label
    return {
        "tp": par.tp,
        "ep": par.ep,
        "pp": par.pp,
        "dp": par.dp,
        "engine": engine,
        "fusion": ",".join(options.fusion) if options.fusion else "none",
    }


def _memory_heading(s: dict[str, Any]) -> str:
    return "Memory (bytes per device)" if s["per_device"] else "Memory (bytes)"


def _fmt(frame: pd.DataFrame) -> pd.DataFrame:
    """Floats to 4 significant digits, whole ones below ten million (sizes: a batch of
    100,000, not 1e+05) in full; a missing one (NaN: an efficiency no link model kept; None:
    a TPOT with no decode step) as "—"."""

    def shown(v: object) -> object:
        if v is None:
            return "—"
        if not isinstance(v, float):
            return v
        if math.isnan(v):
            return "—"
        return f"{int(v)}" if v.is_integer() and abs(v) < 1e7 else f"{v:.4g}"

    return frame.map(shown)


def to_html(result: Analysis, **extra: Any) -> str:
    """The report as one HTML page; `extra`: what `sections` takes beside the analysis."""
    s = sections(result, **extra)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(s['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;"
        "padding:3px 7px;text-align:right}th{background:#eee}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{html.escape(s['title'])}</h1>",
        f"<p>{html.escape(' · '.join(s['facts']))}</p>",
        *(
            ["<ul>", *(f"<li>{html.escape(line)}</li>" for line in s["notes"]), "</ul>"]
            if s["notes"]
            else []
        ),
        "<h2>Settings</h2>",
        # A setting left empty reads "—", as in the Markdown report (pandas writes "None").
        pd.DataFrame([{k: "—" if v is None else v for k, v in s["inputs"].items()}]).to_html(
            index=False
        ),
        "<h2>Totals</h2>",
        _fmt(s["totals"]).to_html(index=False),
        f"<h2>{_memory_heading(s)}</h2>",
        _fmt(s["memory"]).to_html(index=False),
    ]
    if s["generation"]:
        parts += [
            "<h2>Generation</h2>",
            _fmt(pd.DataFrame([s["generation"]])).to_html(index=False, na_rep="—"),
        ]
    if s["economics"]:
        e = s["economics"]
        parts += [
            "<h2>Energy and cost (W, J, USD, gCO2e)</h2>",
            f"<p>at {html.escape(e['basis'])}</p>" if e["basis"] else "",
            _fmt(e["table"]).to_html(index=False, na_rep="—"),
        ]
    if s["speculation"]:
        spec = s["speculation"]
        parts += [
            "<h2>Speculative decoding (seconds, bytes)</h2>",
            f"<p>{html.escape(spec['title'])}</p>",
            _fmt(spec["table"]).to_html(index=False),
        ]
        if spec["generation"] is not None:
            parts += [
                "<h3>Generation, with speculative decoding</h3>",
                _fmt(spec["generation"]).to_html(index=False),
            ]
    parts += ["<h2>Bottlenecks and what would help</h2>", _fmt(s["advice"]).to_html(index=False)]
    for caption, uri in s["figures"].items():
        parts.append(
            f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' src='{uri}'>"
        )
    parts += ["<h2>Operators</h2>", _fmt(s["operators"]).to_html(index=False), "</body></html>"]
    return "\n".join(parts)


def _md_table(frame: pd.DataFrame) -> str:
    frame = _fmt(frame)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("—" if v is None else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *rows])


def to_markdown(result: Analysis, **extra: Any) -> str:
    """The report as Markdown; `extra`: what `sections` takes beside the analysis."""
    s = sections(result, **extra)
    parts = [
        f"# {s['title']}",
        "",
        " · ".join(s["facts"]),
        "",
        *([*(f"- {line}" for line in s["notes"]), ""] if s["notes"] else []),
        "## Settings",
        "",
        _md_table(pd.DataFrame([s["inputs"]])),
        "",
        "## Totals",
        "",
        _md_table(s["totals"]),
        "",
        f"## {_memory_heading(s)}",
        "",
        _md_table(s["memory"]),
        "",
    ]
    if s["generation"]:
        parts += ["## Generation", "", _md_table(pd.DataFrame([s["generation"]])), ""]
    if s["economics"]:
        e = s["economics"]
        parts += ["## Energy and cost (W, J, USD, gCO2e)", ""]
        parts += [f"at {e['basis']}", ""] if e["basis"] else []
        parts += [_md_table(e["table"]), ""]
    if s["speculation"]:
        spec = s["speculation"]
        parts += ["## Speculative decoding (seconds, bytes)", "", spec["title"], ""]
        parts += [_md_table(spec["table"]), ""]
        if spec["generation"] is not None:
            parts += ["### Generation, with speculative decoding", ""]
            parts += [_md_table(spec["generation"]), ""]
    parts += ["## Bottlenecks and what would help", "", _md_table(s["advice"]), ""]
    for caption, uri in s["figures"].items():
        parts += [f"## {caption}", "", f"![{caption}]({uri})", ""]
    parts += ["## Operators", "", _md_table(s["operators"]), ""]
    return "\n".join(parts)
