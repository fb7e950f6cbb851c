"""The index of InferenceX's benchmark configurations that the engine validation reads.

    python scripts/inferencemax_configs.py CLONE [--out INDEX.csv]

CLONE is a git clone of github.com/SemiAnalysisAI/InferenceX (formerly InferenceMAX). Every
commit that changed `.github/configs/nvidia-master.yaml` is read, oldest first, and condensed
to each benchmark key's states with the dates they held (`rooflens.measure.inferencemax`).
The default --out is the index rooflens ships (src/rooflens/measure/data). Needs git and
PyYAML (a dependency of huggingface_hub).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import yaml

from rooflens.measure.inferencemax import condense, git_output

CONFIG = ".github/configs/nvidia-master.yaml"
DEFAULT_OUT = Path("src/rooflens/measure/data/inferencemax_configs.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clone", type=Path, help="a git clone of SemiAnalysisAI/InferenceX")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
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
