"""Which benchmark configuration a measured run came from: SemiAnalysis' InferenceX
(formerly InferenceMAX, github.com/SemiAnalysisAI/InferenceX, Apache-2.0).

The silicon sample's InferenceX records (its dated files and its database dump) name each
run's engine image and measurement date but not how the engine was launched. InferenceX's
configuration file (`.github/configs/nvidia-master.yaml`) names, per benchmark key, the
image, GPU, engine, precision and model it runs, and whether its search space decodes
speculatively (`spec-decoding: mtp`). Where a record's image, GPU, engine, precision, model
and mode match only keys that decode with MTP on the record's measurement date, the run
drafted tokens, which the record does not state (`speculation`). Where the keys matching on
that day decode both ways, the search spaces that held the record's lengths and concurrency
say which way it ran (the plain key sweeping fewer clients than the MTP one, say), and a
record timed to the second is narrowed to the keys the
benchmark workflow it started in swept: InferenceX runs, on the commit that lands an entry
of its `perf-changelog.yaml`, the keys that entry names. Nothing here reads a measured
TTFT or TPOT.

`condense` turns the configuration file's history (one parsed snapshot per commit) into the
index shipped as `data/inferencemax_configs.csv`, `condense_sweeps` the changelog's into
`data/inferencemax_sweeps.csv` (scripts/inferencemax_configs.py writes both from a clone).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import IO, Any

import pandas as pd

INDEX_FILE = "inferencemax_configs.csv"
SWEEPS_FILE = "inferencemax_sweeps.csv"
# A benchmark workflow starts a few seconds after the commit whose changelog entry it sweeps:
# the sample's records timed to the second start 3 to 210 s after such a commit (one, of a
# key that commit did not name, 1,409 s after). A record timed within this long after the
# last such commit ran one of the keys that commit named, if any of them matches it.
SWEEP_WINDOW_SECONDS = 600
COLUMNS = [
    "key",
    "image",
    "gpu",
    "engine",
    "precision",
    "model_prefix",
    "disaggregated",
    "speculation",
    "points",
    "since",
    "until",
]
# InferenceX's model prefixes -> the names the silicon sample's model paths hold (lower
# case). The database dump names DeepSeek-R1's runs DeepSeek-V3 too (the same architecture):
# 384 of its 490 DeepSeek-V3 records repeat a DeepSeek-R1 record's TTFT to the last digit.
# Its Llama-3.1-70B records are the `70b_*` scripts' runs: the only Llama 70B benchmark
# InferenceX had, its README naming nvidia/Llama-3.1-70B-Instruct-FP8 until 2025-09-17 and
# its workflows Llama-3.3-70B's exports after (the same architecture).
MODEL_NAMES = {
    "dsr1": ("deepseek-r1", "deepseek-v3"),
    "70b": ("llama-3.1-70b", "llama-3.3-70b"),
    "qwen3.5": ("qwen3.5",),
    "glm5": ("glm-5",),
    "gptoss": ("gpt-oss",),
    "kimik2.5": ("kimi-k2.5",),
    "minimaxm2.5": ("minimax-m2.5",),
}


def names_model(prefix: str, model_path: str) -> bool:
    """An InferenceX model prefix names a silicon-sample model path."""
    return any(name in model_path.lower() for name in MODEL_NAMES.get(prefix, ()))


# InferenceX's frameworks -> the sample's backend names (dynamo-*: disaggregated over Dynamo).
ENGINES = {"trt": "trtllm", "sglang": "sglang", "vllm": "vllm"}


def normal_image(image: str) -> str:
    """`nvcr.io#nvidia/...` (enroot's spelling, as InferenceX and some records write it) and
    `nvcr.io/nvidia/...` name one image."""
    return image.strip().replace("#", "/")


def entries(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One parsed snapshot of nvidia-master.yaml -> a row per benchmark key: what it runs and
    the speculative decodings its search space uses ('mtp', 'none', or both joined by '|')."""
    rows = []
    for key, body in config.items():
        if not isinstance(body, Mapping) or "image" not in body:
            continue
        framework = str(body.get("framework", ""))
        engine = ENGINES.get(framework.removeprefix("dynamo-"))
        gpu = re.match(r"(gb\d+|[a-z]\d+x?)", str(body.get("runner", "")))
        if engine is None or gpu is None:
            continue
        points = [
            (lengths, point)
            for lengths in _length_configs(body)
            for point in lengths.get("search-space") or []
            if isinstance(point, Mapping)
        ]
        kinds = {str(point.get("spec-decoding", "none")) for _, point in points}
        rows.append(
            {
                "key": str(key),
                "image": normal_image(str(body["image"])),
                "gpu": gpu.group(1),
                "engine": engine,
                "precision": str(body.get("precision", "")),
                "model_prefix": str(body.get("model-prefix", "")),
                "disaggregated": bool(body.get("disagg", framework.startswith("dynamo-"))),
                "speculation": "|".join(sorted(kinds)) or "none",
                "points": "|".join(
                    sorted({_point(lengths, point) for lengths, point in points} - {""})
                ),
            }
        )
    return rows


def _length_configs(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A key's prompt and output length configurations, each with its search space: under
    `seq-len-configs`, or, from May 2026, under each of its `scenarios` (`fixed-seq-len`,
    ...)."""
    scenarios = body.get("scenarios")
    groups = [body.get("seq-len-configs")]
    if isinstance(scenarios, Mapping):
        groups += list(scenarios.values())
    return [
        lengths
        for group in groups
        if isinstance(group, list)
        for lengths in group
        if isinstance(lengths, Mapping)
    ]


def _point(lengths: Mapping[str, Any], point: Mapping[str, Any]) -> str:
    """One search-space point as the index writes it: 'ISLxOSL:CONCS:KIND', CONCS the range
    'LOW-HIGH' of its conc-start and conc-end or its conc-list joined by '/'; '' for a point
    that states neither in whole numbers."""
    kind = str(point.get("spec-decoding", "none")).replace(":", "").replace("|", "")
    listed = point.get("conc-list")
    try:
        if isinstance(listed, list) and listed:
            concs = "/".join(str(int(conc)) for conc in listed)
        elif "conc-start" in point and "conc-end" in point:
            concs = f"{int(point['conc-start'])}-{int(point['conc-end'])}"
        else:
            return ""
        isl, osl = int(lengths.get("isl", 0)), int(lengths.get("osl", 0))
    except (TypeError, ValueError):
        return ""
    return f"{isl}x{osl}:{concs}:{kind}"


def swept_concurrencies(concs: str) -> set[int]:
    """The concurrencies a point's CONCS names: its list, or InferenceX's steps from LOW to
    HIGH, doubling and ending at HIGH (utils/matrix_logic/generate_sweep_configs.py, its
    default step size)."""
    if "-" not in concs:
        return {int(conc) for conc in concs.split("/")}
    low, high = (int(part) for part in concs.split("-"))
    steps, conc = {high}, low
    while 0 < conc < high:
        steps.add(conc)
        conc *= 2
    return steps


def point_kinds(points: str, isl: int, osl: int, clients: int) -> set[str]:
    """The speculative decodings of the points (as `_point` writes them, '|'-joined) whose
    lengths are ISL x OSL and whose concurrencies hold `clients`."""
    kinds = set()
    for point in filter(None, points.split("|")):
        lengths, concs, kind = point.split(":", 2)
        if lengths == f"{isl}x{osl}" and clients in swept_concurrencies(concs):
            kinds.add(kind)
    return kinds


def _whole(value: Any) -> int | None:
    """A count as a whole number, else None (blank, NaN, fractional or not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number > 0 else None


def condense(snapshots: Iterable[tuple[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Snapshots (date 'YYYY-MM-DD', parsed file) oldest first -> each key's states with the
    date a state first appears (`since`) and the date of the first snapshot without it
    (`until`, blank while it stands)."""
    open_states: dict[str, tuple[dict[str, Any], str]] = {}
    closed: list[dict[str, Any]] = []
    for date, config in snapshots:
        now = {row["key"]: row for row in entries(config)}
        for key, (row, since) in list(open_states.items()):
            if now.get(key) != row:
                closed.append(row | {"since": since, "until": date})
                del open_states[key]
        for key, row in now.items():
            if key not in open_states:
                open_states[key] = (row, date)
    closed += [row | {"since": since, "until": ""} for row, since in open_states.values()]
    return pd.DataFrame(closed, columns=COLUMNS)


def entry_keys(changelog: Any) -> list[tuple[str, ...]]:
    """One parsed snapshot of perf-changelog.yaml -> the config keys of each of its entries."""
    if not isinstance(changelog, list):
        return []
    return [
        tuple(str(key) for key in entry.get("config-keys") or [])
        for entry in changelog
        if isinstance(entry, Mapping)
    ]


def condense_sweeps(history: Iterable[tuple[str, Any]]) -> pd.DataFrame:
    """Snapshots (instant 'YYYY-MM-DDTHH:MM:SSZ' the commit landed, parsed changelog) oldest
    first -> a row per commit that added entries: its instant and the keys those entries name
    ('|'-joined, sorted)."""
    rows, before = [], set[tuple[str, ...]]()
    for instant, changelog in history:
        now = entry_keys(changelog)
        added = sorted({key for keys in now if keys not in before for key in keys})
        before = set(now)
        if added:
            rows.append({"landed": instant, "keys": "|".join(added)})
    return pd.DataFrame(rows, columns=["landed", "keys"])


def swept_keys(measured: str | None, sweeps: pd.DataFrame) -> set[str]:
    """The keys swept by the run a record timed to the second (`measured`, as the dated files
    write it: YYYY-MM-DDTHH:MM:SSZ) started in: the last sweep that landed at most
    SWEEP_WINDOW_SECONDS before it. Empty for a record dated by its day only."""
    if not measured or len(measured) != 20 or not measured.endswith("Z"):
        return set()
    # Instants written alike compare as text.
    earliest = pd.Timestamp(measured) - pd.Timedelta(seconds=SWEEP_WINDOW_SECONDS)
    landed = sweeps["landed"]
    before = sweeps[(landed <= measured) & (landed >= earliest.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    if before.empty:
        return set()
    return set(str(before.sort_values("landed")["keys"].iloc[-1]).split("|"))


def git_output(clone: str | os.PathLike[str], *args: str) -> str:
    """What `git -C clone args` prints, its dates in UTC (as the sample's measurement dates
    are written): the scripts that extract the shipped indexes read InferenceX's clone so."""
    return subprocess.run(
        ["git", "-C", str(clone), *args], capture_output=True, text=True, check=True,
        env=os.environ | {"TZ": "UTC"},
    ).stdout  # fmt: skip


def open_shipped(name: str) -> IO[str]:
    """A data file shipped with rooflens.measure (its provenance in its leading comments)."""
    return resources.files("rooflens.measure").joinpath("data", name).open()


@cache
def shipped_index() -> pd.DataFrame:
    """The index shipped with rooflens."""
    with open_shipped(INDEX_FILE) as handle:
        return read_index(handle)


@cache
def shipped_sweeps() -> pd.DataFrame:
    """The changelog's sweeps shipped with rooflens."""
    with open_shipped(SWEEPS_FILE) as handle:
        return pd.read_csv(handle, comment="#", dtype=str, keep_default_na=False)


def read_index(handle: IO[str]) -> pd.DataFrame:
    """An index CSV as `condense` writes it ('#' lines are provenance)."""
    frame = pd.read_csv(handle, comment="#", dtype=str, keep_default_na=False)
    frame["disaggregated"] = frame["disaggregated"] == "True"
    return frame


def _field(source: str, name: str) -> str | None:
    found = re.search(rf"(?:^|;\s*){name}=([^;]+)", source)
    return found.group(1).strip() if found else None


def measured_field(source: str) -> str | None:
    """A record's `measured=` timestamp, else None."""
    return _field(source, "measured")


def recorded_image(source: str) -> str | None:
    """The engine image a record names: `image=...` in the dated files, the last, unnamed
    field (`lmsysorg/sglang:v0.5.9-cu130`) in InferenceX's database dump."""
    named = _field(source, "image")
    if named is not None:
        return named
    bare = [part.strip() for part in source.split(";") if "=" not in part and ":" in part]
    return bare[-1] if bare else None


def _images(index: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """An index's keys by the image, GPU and engine they ran."""
    return {key: rows for key, rows in index.groupby(["image", "gpu", "engine"], sort=False)}


@cache
def _shipped_images() -> dict[tuple[str, str, str], pd.DataFrame]:
    # Grouped once: a report looks thousands of runs up.
    return _images(shipped_index())


def speculation(
    row: Mapping[str, Any], index: pd.DataFrame | None = None, sweeps: pd.DataFrame | None = None
) -> tuple[str, str]:
    """('mtp' | 'none' | 'either' | '', the matching keys) for one silicon-sample row: how the
    InferenceX keys that match its image, GPU, engine, precision, model and mode on its
    measurement date decode ('' where none match or the record names no image or date), of
    those that decode both ways the ones its run swept where the record is timed to the
    second and that sweep named any (`swept_keys`)."""
    source = str(row.get("silicon_data_source", ""))
    image, measured = recorded_image(source), _field(source, "measured")
    if image is None or measured is None:
        return "", ""
    groups = _shipped_images() if index is None else _images(index)
    gpu = str(row.get("system", "")).removesuffix("_sxm")
    match = groups.get((normal_image(image), gpu, str(row.get("backend", ""))))
    if match is None:
        return "", ""
    day = measured[:10]
    model = str(row.get("model_path", "")).lower()
    precision = str(row.get("precision", ""))
    match = match[
        (match["precision"].replace("nvfp4", "fp4") == precision.replace("nvfp4", "fp4"))
        & (match["disaggregated"] == (row.get("mode") == "disagg"))
        & match["model_prefix"].map(lambda prefix: names_model(prefix, model))
        & (match["since"] <= day)
        & ((match["until"] == "") | (match["until"] > day))
    ]
    if match.empty:
        return "", ""
    # Of keys that decode both ways, those whose search space held the record's lengths and
    # concurrency, with the kinds of the points that held it, and those whose search space
    # the index does not hold (kept as they are); where no search space held it (a run
    # outside the configuration), all of them.
    clients = _whole(_field(source, "silicon_concurrency"))
    isl, osl = _whole(row.get("isl")), _whole(row.get("osl"))
    both = len(set("|".join(match["speculation"]).split("|"))) > 1
    if both and clients is not None and isl is not None and osl is not None:
        held = match["points"].map(
            lambda points: "|".join(sorted(point_kinds(points, isl, osl, clients)))
        )
        unknown = match["points"] == ""
        if ((held != "") & ~unknown).any():
            kept = unknown | (held != "")
            kinds_held = held.where(~unknown, match["speculation"])
            match = match[kept].assign(speculation=kinds_held[kept])
    if len(set("|".join(match["speculation"]).split("|"))) > 1:
        swept = swept_keys(measured, shipped_sweeps() if sweeps is None else sweeps)
        # The changelog names keys or shell patterns of them (`dsr1*`, `70b-fp8-*-vllm`).
        ran = match["key"].map(lambda key: any(fnmatchcase(key, name) for name in swept))
        match = match[ran] if ran.any() else match
    kinds = set("|".join(match["speculation"]).split("|"))
    kind = kinds.pop() if len(kinds) == 1 else "either"
    return kind, ",".join(sorted(set(match["key"])))
