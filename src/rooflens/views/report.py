"""A self-contained report of one analysis (HTML or Markdown): settings, totals, memory, the
bottleneck operators with advice drawn from what bounds them, the operator table, and plots
embedded as data URIs."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import pandas as pd

from rooflens.core.results import Analysis
from rooflens.formats import analysis_facts, analysis_notes, operator_label

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


def sections(result: Analysis) -> dict[str, Any]:
    """The report's content, independent of its format."""
    from rooflens.views import plots

    data = result.to_dict()
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
            for stage, row in data["totals"].items()
        ]
    )
    memory = pd.DataFrame(
        [
            {"stage": s, **{k: v for k, v in m.items() if k != "host"}}
            for s, m in data["memory"].items()
        ]
    )
    advice = []
    for stage in ("prefill", "decode"):
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
    # Gemma 3's window and global attention are two rows of one name: each says its reach.
    labels = [
        operator_label(n, s, c)
        for n, s, c in zip(frame["name"], frame["span"], frame["chunk"], strict=True)
    ]
    operators = operators.assign(name=labels)
    figures = {
        "Roofline": _png(plots.roofline(result)),
        "Time per operator (decode)": _png(plots.operator_times(result, "decode")),
        "Time per operator (prefill)": _png(plots.operator_times(result, "prefill")),
    }
    par = result.options.parallelism
    return {
        "title": f"{result.model.name} on {result.device.display_name or result.device.name}",
        "estimate": data["estimate"],
        # What `rooflens analyze` says under the same title: the facts and the notes.
        "facts": analysis_facts(result),
        "notes": analysis_notes(result),
        "inputs": data["inputs"] | settings_beyond_inputs(result),
        "per_device": par.devices * par.expert_token_groups > 1,
        "params": data["params"],
        "totals": totals,
        "memory": memory,
        "generation": data.get("generation"),
        "advice": pd.DataFrame(advice),
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
    100,000, not 1e+05) in full; a missing one (NaN: an efficiency no link model kept) as
    "—"."""

    def shown(v: object) -> object:
        if not isinstance(v, float):
            return v
        if math.isnan(v):
            return "—"
        return f"{int(v)}" if v.is_integer() and abs(v) < 1e7 else f"{v:.4g}"

    return frame.map(shown)


def to_html(result: Analysis) -> str:
    s = sections(result)
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


def to_markdown(result: Analysis) -> str:
    s = sections(result)
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
    parts += ["## Bottlenecks and what would help", "", _md_table(s["advice"]), ""]
    for caption, uri in s["figures"].items():
        parts += [f"## {caption}", "", f"![{caption}]({uri})", ""]
    parts += ["## Operators", "", _md_table(s["operators"]), ""]
    return "\n".join(parts)
