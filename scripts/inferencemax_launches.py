"""The index of scheduler flags (and KV cache precision, memory share and MXFP4 kernel)
InferenceX's benchmark scripts launched SGLang, vLLM and TensorRT-LLM with, which the engine
validation reads (`rooflens.measure.inferencemax_launches`).

    python scripts/inferencemax_launches.py CLONE SAMPLE [--out INDEX.csv]

CLONE is a git clone of github.com/SemiAnalysisAI/InferenceX; SAMPLE is aiconfigurator's
silicon_sample.csv, read only for the configurations its InferenceX records ran (model,
precision, GPU, TP, EP, attention DP, concurrency, lengths, date), never for a measured time.
Every main-line commit that changed `benchmarks/` around those dates is read; each version of
each single-node script that could have run one of them is run under bash with its commands
recorded (`launch_commands`), once per configuration measured while it stood; the scheduler
flags (the MTP draft count among them), KV cache precision, memory share and MXFP4 kernel of
the engine's launch line (and its options file and environment) are kept. The default --out
is the index rooflens ships.
"""

from __future__ import annotations

import argparse
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from rooflens.measure.inferencemax import git_output
from rooflens.measure.inferencemax_launches import (
    FIELD_TYPES,
    FIELDS,
    KEYS,
    engine_of,
    fp8_moe_kernel,
    kv_cache_bits,
    launch_commands,
    measured_at,
    memory_share,
    mxfp4_kernel,
    prefill_graph_tokens,
    recurrent_state_bits,
    scheduler_flags,
    script_env,
    script_names,
    standing,
)
from rooflens.measure.validate_engines import concurrency_of, recorded_layout, source_kind

DEFAULT_OUT = Path("src/rooflens/measure/data/inferencemax_launches.csv")
# Scripts of other benchmarks than fixed prompt and output lengths, and retired ones.
SKIPPED = re.compile(r"/(multi_node|agentic|deprecated)/")


def configurations(sample: pd.DataFrame) -> pd.DataFrame:
    """One row per aggregated InferenceX run the sample records: its engine, its scripts'
    possible names, its configuration and when it was measured (measured_at)."""
    rows = []
    for _, row in sample.iterrows():
        if row["mode"] != "agg":
            continue
        if source_kind(str(row.get("silicon_data_source", ""))) == "gap-analysis file":
            continue
        # A run may have been launched by the configuration's MTP script (speculation).
        names, measured = script_names(row) + script_names(row, mtp=True), measured_at(row)
        if not names or measured is None:
            continue
        tp, dp, _, ep, _ = recorded_layout(row)
        rows.append(
            {
                "engine": str(row["backend"]),
                "names": tuple(names),
                "model": str(row["model_path"]),
                "tp": tp * dp,
                "ep": ep,
                "dp_attention": dp > 1,
                "conc": concurrency_of(row),
                "isl": int(row["isl"]),
                "osl": int(row["osl"]),
                "measured": measured,
            }
        )
    return pd.DataFrame(rows)


def script_states(clone: Path, names: set[str], first: str, last: str) -> pd.DataFrame:
    """Each single-node script named in `names`: its versions (blob) on the main line with
    when each landed (`since`) and when the next did (`until`, blank while it stands), in
    UTC to the second, from the commits that changed benchmarks/ between the days `first`
    and `last`."""
    log = git_output(
        clone, "log", "--first-parent", "--reverse", "--format=%H %cd",
        "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        f"--until={last}", "--", "benchmarks",
    )  # fmt: skip
    commits = [line.split() for line in log.splitlines()]
    # The state standing on `first`: the last commit before it, then every one after.
    start = max([i for i, (_, landed) in enumerate(commits) if landed < first] or [0])
    open_states: dict[str, tuple[str, str]] = {}
    closed = []
    for commit, landed in commits[start:]:
        listing = git_output(clone, "ls-tree", "-r", commit, "benchmarks")
        now = {}
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            if path.rsplit("/", 1)[-1] in names and not SKIPPED.search(path):
                now[path] = meta.split()[2]
        for path, (blob, since) in list(open_states.items()):
            if now.get(path) != blob:
                closed.append((path, blob, since, landed))
                del open_states[path]
        for path, blob in now.items():
            if path not in open_states:
                open_states[path] = (blob, landed)
    closed += [(path, blob, since, "") for path, (blob, since) in open_states.items()]
    return pd.DataFrame(closed, columns=["script", "blob", "since", "until"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clone", type=Path, help="a git clone of SemiAnalysisAI/InferenceX")
    parser.add_argument("sample", type=Path, help="aiconfigurator's silicon_sample.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    wanted = configurations(pd.read_csv(args.sample))
    days = wanted["measured"].str.slice(0, 10)
    first = (date.fromisoformat(days.min()) - timedelta(days=1)).isoformat()
    last = (date.fromisoformat(days.max()) + timedelta(days=1)).isoformat()
    names = {name for group in wanted["names"] for name in group}
    states = script_states(args.clone, names, first, last)
    rows, runs = [], 0
    for state in states.itertuples():
        name = state.script.rsplit("/", 1)[-1]
        during = wanted[
            wanted["names"].map(lambda group, n=name: n in group)
            & standing(state.since, state.until, wanted["measured"])
        ]
        during = during.drop_duplicates(
            ["engine", "tp", "ep", "dp_attention", "conc", "isl", "osl"]
        )
        if during.empty:
            continue
        text = git_output(args.clone, "cat-file", "-p", state.blob)
        for config in during.itertuples():
            env = script_env(config.model, config.tp, config.ep, config.dp_attention,
                             config.conc, config.isl, config.osl)  # fmt: skip
            runs += 1
            commands, files = launch_commands(text, state.script, env)
            launches = [c for c in commands if engine_of(c)]
            if len(launches) != 1 or engine_of(launches[0]) != config.engine:
                continue
            rows.append(
                {
                    "engine": config.engine,
                    "script": state.script,
                    "since": state.since,
                    "until": state.until,
                    "tp": config.tp,
                    "ep": config.ep,
                    "dp_attention": config.dp_attention,
                    "conc": config.conc,
                    "isl": config.isl,
                    "osl": config.osl,
                    "prefix_sharing": True,
                    **scheduler_flags(config.engine, launches[0], files),
                    "kv_bits": kv_cache_bits(config.engine, launches[0], files),
                    "state_bits": recurrent_state_bits(config.engine, launches[0], files),
                    "memory_fraction": memory_share(config.engine, launches[0], files),
                    "w4_kernel": mxfp4_kernel(config.engine, launches[0]),
                    "fp8_moe_kernel": fp8_moe_kernel(config.engine, launches[0], files),
                    "graph_tokens": prefill_graph_tokens(config.engine, launches[0], files),
                }
            )
    index = pd.DataFrame(rows, columns=KEYS + FIELDS)
    for field in FIELDS:
        if FIELD_TYPES[field] is int:
            index[field] = index[field].astype("Int64")
    head = git_output(args.clone, "log", "-1", "--format=%h %cd", "--date=short").split()
    header = (
        "# InferenceX (formerly InferenceMAX) single-node benchmark scripts' scheduler flags, "
        "KV cache and recurrent state precision, memory share, MXFP4 and FP8 MoE kernels and "
        "prefill CUDA graphs (SGLang, vLLM, TensorRT-LLM), "
        "github.com/SemiAnalysisAI/InferenceX, Apache-2.0\n"
        f"# main-line history of benchmarks/ from {first} to {last} (clone at {head[0]}, "
        f"{head[1]}); {len(states)} script versions, {runs} configurations run under bash "
        f"with commands recorded; extracted {date.today().isoformat()} by "
        "scripts/inferencemax_launches.py\n"
    )
    args.out.write_text(header + index.to_csv(index=False))
    print(f"{args.out}: {len(index)} rows from {runs} runs of {len(states)} script versions")


if __name__ == "__main__":
    main()
