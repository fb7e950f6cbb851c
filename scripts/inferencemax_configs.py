"""The index of InferenceX's benchmark configurations that the engine validation reads.

    python scripts/inferencemax_configs.py CLONE [--out INDEX.csv]

CLONE is a git clone of github.com/SemiAnalysisAI/InferenceX (formerly InferenceMAX). Every
commit that changed `.github/configs/nvidia-master.yaml` is read, oldest first, and condensed
to each benchmark key's states with the dates they held; every commit that changed
`perf-changelog.yaml`, to the instant it landed and the keys its new entries name, which the
benchmark workflow it started swept (`rooflens.measure.inferencemax`). The default --out and
--sweeps-out are the indexes rooflens ships (src/rooflens/measure/data). Needs git and PyYAML
(a dependency of huggingface_hub).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import yaml

from rooflens.measure.inferencemax import condense, condense_sweeps, git_output

CONFIG = ".github/configs/nvidia-master.yaml"
CHANGELOG = "perf-changelog.yaml"
DEFAULT_OUT = Path("src/rooflens/measure/data/inferencemax_configs.csv")
DEFAULT_SWEEPS_OUT = Path("src/rooflens/measure/data/inferencemax_sweeps.csv")


def write_sweeps(clone: Path, out: Path) -> None:
    """The changelog's sweeps: each commit's landing instant (its committer date, in UTC)."""
    commits = git_output(
        clone, "log", "--reverse", "--format=%H %cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        "--", CHANGELOG,
    )  # fmt: skip
    history = []
    for line in commits.splitlines():
        commit, instant = line.split()
        listed = git_output(clone, "ls-tree", "--name-only", commit, CHANGELOG).strip()
        text = git_output(clone, "show", f"{commit}:{CHANGELOG}") if listed else "[]"
        try:
            history.append((instant, yaml.safe_load(text)))
        except yaml.YAMLError:
            # A version the parser refuses adds nothing; the next one's new entries count.
            continue
    sweeps = condense_sweeps(history)
    lines = [line.split() for line in commits.splitlines()]
    span = (
        f" from {lines[0][0][:9]} ({lines[0][1]}) to {lines[-1][0][:9]} ({lines[-1][1]})"
        if lines
        else ""
    )
    header = (
        "# InferenceX (formerly InferenceMAX) benchmark sweeps, "
        "github.com/SemiAnalysisAI/InferenceX, Apache-2.0\n"
        f"# {CHANGELOG} at its {len(history)} commits{span}: when each commit that added "
        f"entries landed and the keys they name; extracted {date.today().isoformat()} by "
        "scripts/inferencemax_configs.py\n"
    )
    out.write_text(header + sweeps.to_csv(index=False))
    print(f"{out}: {len(sweeps)} sweeps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clone", type=Path, help="a git clone of SemiAnalysisAI/InferenceX")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sweeps-out", type=Path, default=DEFAULT_SWEEPS_OUT)
    args = parser.parse_args()
    write_sweeps(args.clone, args.sweeps_out)
    # Author days in UTC, as the sample's measurement dates are written.
    commits = git_output(
        args.clone, "log", "--reverse", "--format=%H %ad", "--date=format-local:%Y-%m-%d", "--",
        CONFIG,
    )  # fmt: skip
    snapshots = []
    for line in commits.splitlines():
        commit, day = line.split()
        # The commit that removed the file closes every state (git lists it too).
        listed = git_output(args.clone, "ls-tree", "--name-only", commit, CONFIG).strip()
        text = git_output(args.clone, "show", f"{commit}:{CONFIG}") if listed else "{}"
        snapshots.append((day, yaml.safe_load(text) or {}))
    index = condense(snapshots)
    first, last = commits.splitlines()[0].split(), commits.splitlines()[-1].split()
    header = (
        "# InferenceX (formerly InferenceMAX) benchmark configurations, "
        "github.com/SemiAnalysisAI/InferenceX, Apache-2.0\n"
        f"# {CONFIG} at its {len(snapshots)} commits from {first[0][:9]} ({first[1]}) "
        f"to {last[0][:9]} ({last[1]}); extracted {date.today().isoformat()} by "
        "scripts/inferencemax_configs.py\n"
    )
    args.out.write_text(header + index.to_csv(index=False))
    print(f"{args.out}: {len(index)} states of {index['key'].nunique()} keys")


if __name__ == "__main__":
    main()
