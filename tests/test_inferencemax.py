"""Which InferenceX benchmark configuration a silicon-sample record ran: the index and its use."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rooflens.measure.inferencemax import (
    SWEEP_WINDOW_SECONDS,
    _point,
    condense,
    condense_sweeps,
    entries,
    normal_image,
    point_kinds,
    read_index,
    shipped_index,
    speculation,
    swept_concurrencies,
    swept_keys,
)
from rooflens.measure.validate_engines import Inexpressible, _speculation_lines, setup_of

ROOT = Path(__file__).resolve().parents[1]


def _key(image: str, runner: str, framework: str, *kinds: str, precision: str = "fp8") -> dict:
    return {
        "image": image,
        "model-prefix": "dsr1",
        "runner": runner,
        "precision": precision,
        "framework": framework,
        "seq-len-configs": [
            {
                "isl": 1024,
                "osl": 1024,
                "search-space": [{"tp": 8, "spec-decoding": k} for k in kinds],
            }
        ],
    }


# Three days of a configuration file: the MTP key changes image on day 2, the plain one stays,
# a disaggregated key appears on day 2 and leaves on day 3.
DAY1 = {
    "dsr1-fp8-b200-trt": _key("nvcr.io#nvidia/trt:rc6.post2", "b200-trt", "trt", "none"),
    "dsr1-fp8-b200-trt-mtp": _key("nvcr.io#nvidia/trt:rc2", "b200-trt", "trt", "mtp"),
    "runners": ["not a key"],
    "dsr1-fp8-mi355x-atom": _key("rocm/atom:1", "mi355x", "atom", "none"),
}
DAY2 = DAY1 | {
    "dsr1-fp8-b200-trt-mtp": _key("nvcr.io#nvidia/trt:rc6.post3", "b200", "trt", "mtp"),
    "dsr1-fp8-h200-dynamo-sglang": _key(
        "lmsysorg/sglang:v0.5.8", "h200-multinode-slurm", "dynamo-sglang", "none", "mtp"
    ),
}
DAY3 = {k: v for k, v in DAY2.items() if k != "dsr1-fp8-h200-dynamo-sglang"}
SNAPSHOTS = [("2026-02-01", DAY1), ("2026-02-10", DAY2), ("2026-03-01", DAY3)]


def _record(image: str, measured: str, system: str = "b200_sxm", mode: str = "agg") -> dict:
    return {
        "silicon_data_source": (
            f"source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=8; "
            f"measured={measured}T13:00:07Z; wip=False; image={image}"
        ),
        "backend": "sglang" if "sglang" in image else "trtllm",
        "model_path": "deepseek-ai/DeepSeek-R1",
        "system": system,
        "precision": "fp8",
        "mode": mode,
    }


def test_entries_name_gpu_engine_mode_and_speculation() -> None:
    rows = {row["key"]: row for row in entries(DAY2)}
    # Not benchmark keys, or an engine rooflens has no preset for: left out.
    assert set(rows) == {
        "dsr1-fp8-b200-trt",
        "dsr1-fp8-b200-trt-mtp",
        "dsr1-fp8-h200-dynamo-sglang",
    }
    mtp = rows["dsr1-fp8-b200-trt-mtp"]
    assert (mtp["image"], mtp["gpu"], mtp["engine"], mtp["disaggregated"]) == (
        "nvcr.io/nvidia/trt:rc6.post3", "b200", "trtllm", False,
    )  # fmt: skip
    assert mtp["speculation"] == "mtp"
    dynamo = rows["dsr1-fp8-h200-dynamo-sglang"]
    assert (dynamo["gpu"], dynamo["engine"], dynamo["disaggregated"]) == ("h200", "sglang", True)
    assert dynamo["speculation"] == "mtp|none"
    assert normal_image("nvcr.io#nvidia/x:1 ") == "nvcr.io/nvidia/x:1"


def test_condense_keeps_each_state_with_the_days_it_held() -> None:
    index = condense(SNAPSHOTS)
    states = {(row.key, row.image): (row.since, row.until) for row in index.itertuples(index=False)}
    assert states == {
        ("dsr1-fp8-b200-trt", "nvcr.io/nvidia/trt:rc6.post2"): ("2026-02-01", ""),
        ("dsr1-fp8-b200-trt-mtp", "nvcr.io/nvidia/trt:rc2"): ("2026-02-01", "2026-02-10"),
        ("dsr1-fp8-b200-trt-mtp", "nvcr.io/nvidia/trt:rc6.post3"): ("2026-02-10", ""),
        ("dsr1-fp8-h200-dynamo-sglang", "lmsysorg/sglang:v0.5.8"): ("2026-02-10", "2026-03-01"),
    }
    # The CSV round trip the shipped index takes.
    assert read_index(io.StringIO("# provenance\n" + index.to_csv(index=False))).equals(index)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # Only the MTP key ran this image then.
        (_record("nvcr.io#nvidia/trt:rc6.post3", "2026-03-20"), ("mtp", "dsr1-fp8-b200-trt-mtp")),
        (_record("nvcr.io/nvidia/trt:rc6.post2", "2026-03-20"), ("none", "dsr1-fp8-b200-trt")),
        # The MTP key had not yet taken that image; nor any key on another GPU.
        (_record("nvcr.io/nvidia/trt:rc6.post3", "2026-02-05"), ("", "")),
        (_record("nvcr.io/nvidia/trt:rc6.post3", "2026-03-20", system="h200_sxm"), ("", "")),
        # One key, both kinds in its search space; gone by March.
        (
            _record("lmsysorg/sglang:v0.5.8", "2026-02-20", "h200_sxm", "disagg"),
            ("either", "dsr1-fp8-h200-dynamo-sglang"),
        ),
        (_record("lmsysorg/sglang:v0.5.8", "2026-03-02", "h200_sxm", "disagg"), ("", "")),
        # Aggregated records do not match a disaggregated key.
        (_record("lmsysorg/sglang:v0.5.8", "2026-02-20", "h200_sxm"), ("", "")),
        # No image recorded.
        ({"silicon_data_source": "db-dump/2026-04-27; config_id=733"}, ("", "")),
        # InferenceX's database names the image as its last, unnamed field.
        (
            _record("nvcr.io/nvidia/trt:rc6.post3", "2026-03-20")
            | {
                "silicon_data_source": "db-dump/2026-04-27; config_id=7; silicon_concurrency=8; "
                "measured=2026-03-20T00:00:00.000Z; workflow_run_id=9; nvcr.io/nvidia/trt:rc6.post3"
            },
            ("mtp", "dsr1-fp8-b200-trt-mtp"),
        ),
    ],
)
def test_a_record_is_matched_by_image_gpu_engine_precision_model_mode_and_day(
    record, expected
) -> None:
    assert speculation(record, condense(SNAPSHOTS)) == expected


# One image run both ways on the H200 (InferenceX's DeepSeek-R1 TensorRT-LLM keys of January
# 2026), and the changelog's sweeps: the plain key, both keys' entries landing together with
# the MTP one new, and a pattern naming both.
BOTH = {
    "dsr1-fp8-h200-trt": _key("nvcr.io#nvidia/trt:rc2", "h200", "trt", "none"),
    "dsr1-fp8-h200-trt-mtp": _key("nvcr.io#nvidia/trt:rc2", "h200", "trt", "mtp"),
}
PLAIN = [{"config-keys": ["dsr1-fp8-h200-trt"], "description": ["a"]}]
WITH_MTP = [*PLAIN, {"config-keys": ["dsr1-fp8-h200-trt-mtp"], "description": ["b"]}]
CHANGELOG = [
    ("2026-01-14T20:00:00Z", PLAIN),
    ("2026-01-14T22:26:18Z", WITH_MTP),
    ("2026-01-15T09:00:00Z", list(reversed(WITH_MTP))),  # reordered: nothing new
    ("2026-01-20T10:00:00Z", [*WITH_MTP, {"config-keys": ["dsr1*"]}]),
]


def test_condense_sweeps_keeps_each_commit_that_adds_entries_with_their_keys() -> None:
    sweeps = condense_sweeps(CHANGELOG)
    assert sweeps.to_dict("records") == [
        {"landed": "2026-01-14T20:00:00Z", "keys": "dsr1-fp8-h200-trt"},
        {"landed": "2026-01-14T22:26:18Z", "keys": "dsr1-fp8-h200-trt-mtp"},
        {"landed": "2026-01-20T10:00:00Z", "keys": "dsr1*"},
    ]
    # A changelog the parser gave as something else than a list of entries adds nothing.
    assert condense_sweeps([("2026-01-01T00:00:00Z", None)]).empty


@pytest.mark.parametrize(
    ("measured", "expected"),
    [
        # The run the MTP entry's commit started, 3 s after it landed.
        ("2026-01-14T22:26:21Z", {"dsr1-fp8-h200-trt-mtp"}),
        ("2026-01-14T20:00:04Z", {"dsr1-fp8-h200-trt"}),
        # Past the window, before any sweep, or dated by its day only: none known.
        ("2026-01-14T22:36:19Z", set()),
        ("2026-01-14T19:59:59Z", set()),
        ("2026-01-14T00:00:00.000Z", set()),
        (None, set()),
    ],
)
def test_a_record_timed_to_the_second_takes_the_keys_of_the_last_sweep_before_it(
    measured, expected
) -> None:
    assert SWEEP_WINDOW_SECONDS == 600
    assert swept_keys(measured, condense_sweeps(CHANGELOG)) == expected


@pytest.mark.parametrize(
    ("measured", "expected"),
    [
        ("2026-01-14T22:26:21Z", ("mtp", "dsr1-fp8-h200-trt-mtp")),
        ("2026-01-14T20:00:04Z", ("none", "dsr1-fp8-h200-trt")),
        # Not within a sweep's window, dated by day, or a pattern naming both keys: either.
        ("2026-01-14T23:00:00Z", ("either", "dsr1-fp8-h200-trt,dsr1-fp8-h200-trt-mtp")),
        ("2026-01-14T00:00:00.000Z", ("either", "dsr1-fp8-h200-trt,dsr1-fp8-h200-trt-mtp")),
        ("2026-01-20T10:00:03Z", ("either", "dsr1-fp8-h200-trt,dsr1-fp8-h200-trt-mtp")),
    ],
)
def test_a_record_of_an_image_run_both_ways_is_narrowed_to_the_keys_its_run_swept(
    measured, expected
) -> None:
    record = _record("nvcr.io/nvidia/trt:rc2", "2026-01-14", system="h200_sxm")
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "measured=2026-01-14T13:00:07Z", f"measured={measured}"
    )
    index = condense([("2026-01-10", BOTH)])
    assert speculation(record, index, condense_sweeps(CHANGELOG)) == expected


def test_inferencex_h200_deepseek_r1_runs_that_the_mtp_commit_started_drafted() -> None:
    """The sample's H200 TensorRT-LLM DeepSeek-R1 FP8 records of 2026-01-14T22:26:21Z started 3 s
    after InferenceX's commit adding its MTP configurations landed (#392), whose changelog
    entry swept only the MTP keys; its image ran both ways that day."""
    record = _record("nvcr.io#nvidia/tensorrt-llm/release:1.1.0rc2.post2", "2026-01-14")
    record |= {"system": "h200_sxm", "backend": "trtllm"}
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "T13:00:07Z", "T22:26:21Z"
    )
    assert speculation(record) == ("mtp", "dsr1-fp8-h200-trt-mtp")
    timed = dict(record)
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "T22:26:21Z", "T00:00:00.000Z"
    )
    assert speculation(record)[0] == "either"
    # The report counts the day-dated record of the same measurement, simulated without drafts.
    measured = {"isl": 1024, "osl": 1024, "silicon_ttft_ms": 493.98, "silicon_tpot_ms": 8.5838}
    rows = pd.DataFrame(
        [
            timed | measured | {"predicted_ttft_ms": 63.4, "predicted_tpot_ms": 5.45},
            record | measured | {"predicted_ttft_ms": 60.8, "predicted_tpot_ms": 10.8},
        ]
    ).assign(reason="")
    line, *table = [text for text in _speculation_lines(rows) if text]
    assert table[0] == "The runs simulated with MTP drafts:"
    assert "1 of them are simulated drafting" in line
    assert "1 simulated rows record an image it ran both with and without MTP" in line
    assert "1 of them repeat, to six digits, the measurement of a row simulated with" in line


def test_the_shipped_index_holds_inferencex_deepseek_r1_configurations() -> None:
    index = shipped_index()
    # InferenceX's nvidia-master.yaml from February to April 2026: DeepSeek-R1 on B200 with
    # TensorRT-LLM ran 1.2.0rc6.post2 without MTP and 1.2.0rc6.post3 with it.
    on = index[
        (index["since"] <= "2026-03-20")
        & ((index["until"] == "") | (index["until"] > "2026-03-20"))
    ]
    images = dict(zip(on["key"], on["image"], strict=True))
    assert images["dsr1-fp8-b200-trt"] == "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post2"
    assert images["dsr1-fp8-b200-trt-mtp"] == "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post3"
    kinds = dict(zip(on["key"], on["speculation"], strict=True))
    assert (kinds["dsr1-fp8-b200-trt"], kinds["dsr1-fp8-b200-trt-mtp"]) == ("none", "mtp")


def _sample_row(image: str) -> pd.Series:
    # A record of the sample's 2026-03-25 file (its columns that setup_of reads).
    return pd.Series(
        _record(image, "2026-03-23")
        | {
            "id": "2026_03_25_deepseek_r1_b200_sxm_trtllm_fp8_agg_1024x1024_c8_tp8_0_ep1_0",
            "isl": 1024, "osl": 1024, "gemm_quant_mode": "fp8_block",
            "moe_quant_mode": "fp8_block", "batch_size": 8, "tp_size": 8, "pp_size": 1,
            "attention_dp_size": 1, "moe_tp_size": 8, "moe_ep_size": 1,
        }
    )  # fmt: skip


def test_runs_of_an_mtp_only_image_without_a_draft_count_are_refused_and_counted() -> None:
    mtp, plain = (
        _sample_row(f"nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.{post}")
        for post in ("post3", "post2")
    )
    with pytest.raises(
        Inexpressible, match=r"ran MTP speculative decoding.*b200-trt-mtp"
    ) as refused:
        setup_of(mtp)
    setup, _ = setup_of(plain)
    assert (setup.model, setup.concurrency) == ("deepseek-ai/DeepSeek-R1", 8)
    rows = pd.DataFrame(
        [
            mtp.to_dict() | {"reason": str(refused.value)},
            plain.to_dict() | {"reason": ""},
        ]
    )
    (line,) = [text for text in _speculation_lines(rows) if text]
    assert line.startswith("1 rows record an engine image")
    # No version of its MTP script is known to have run 8 clients at 1k/1k then.
    assert "0 of them are simulated drafting" in line and "1 are not simulated" in line
    assert "0 simulated rows record an image it ran both with and without MTP" in line
    assert "1 one it ran only without" in line
    # No rows, or none that drafted: no line.
    assert _speculation_lines(rows.iloc[:0]) == []
    assert _speculation_lines(rows.iloc[1:]) == []


def test_the_script_condenses_a_clone_history(tmp_path) -> None:
    import yaml

    clone = tmp_path / "InferenceX"
    config = clone / ".github" / "configs" / "nvidia-master.yaml"
    config.parent.mkdir(parents=True)

    def git(*args: str, day: str = "") -> None:
        env = {"GIT_AUTHOR_DATE": f"{day}T12:00:00", "GIT_COMMITTER_DATE": f"{day}T12:00:00"}
        subprocess.run(
            ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True, capture_output=True, env={"PATH": "/usr/bin:/bin"} | env,
        )  # fmt: skip

    git("init", "-q", day="2026-01-01")
    changelog = clone / "perf-changelog.yaml"
    for (day, snapshot), (_, entries_then) in zip(SNAPSHOTS, CHANGELOG, strict=False):
        config.write_text(yaml.safe_dump(snapshot))
        changelog.write_text(yaml.safe_dump(entries_then))
        git("add", ".", day=day)
        git("commit", "-q", "-m", day, day=day)
    out, sweeps = tmp_path / "index.csv", tmp_path / "sweeps.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "inferencemax_configs.py"), str(clone),
         "--out", str(out), "--sweeps-out", str(sweeps)],
        check=True, capture_output=True,
    )  # fmt: skip
    text = out.read_text()
    assert text.startswith("# InferenceX (formerly InferenceMAX) benchmark configurations")
    assert "at its 3 commits from" in text
    assert read_index(io.StringIO(text)).equals(condense(SNAPSHOTS))
    # The changelog's three versions, each landing at noon UTC of its commit's day.
    text = sweeps.read_text()
    assert "perf-changelog.yaml at its 3 commits from" in text
    landed = [(f"{day}T12:00:00Z", entries_then) for (day, _), (_, entries_then) in zip(
        SNAPSHOTS, CHANGELOG, strict=False
    )]  # fmt: skip
    read = pd.read_csv(io.StringIO(text), comment="#", dtype=str, keep_default_na=False)
    assert read.equals(condense_sweeps(landed))
    assert list(read["keys"]) == ["dsr1-fp8-h200-trt", "dsr1-fp8-h200-trt-mtp"]


def _spaced(image: str, kind: str, concs: dict) -> dict:
    """A key of one image whose search space at 1024 x 1024 is `concs` (conc-start/-end or
    conc-list), decoding `kind`."""
    body = _key(image, "b200", "sglang", kind)
    body["seq-len-configs"][0]["search-space"] = [{"tp": 8, "spec-decoding": kind} | concs]
    return body


# InferenceX's DeepSeek-R1 FP8 SGLang keys on the B200 in March 2026: one image, the plain key
# sweeping 4 to 64 clients, the MTP key 4 to 512 (nvidia-master.yaml at 12ba0ae07).
SPACES = {
    "dsr1-fp8-b200-sglang": _spaced("lmsysorg/sglang:v0.5.9", "none", {
        "conc-start": 4, "conc-end": 64,
    }),
    "dsr1-fp8-b200-sglang-mtp": _spaced("lmsysorg/sglang:v0.5.9", "mtp", {
        "conc-start": 4, "conc-end": 512,
    }),
    "dsr1-fp8-b200-sglang-list": _spaced("lmsysorg/sglang:v0.5.9", "mtp", {
        "conc-list": [3, 1229],
    }),
}  # fmt: skip


def test_entries_write_each_search_space_point_with_its_lengths_concurrencies_and_kind() -> None:
    rows = {row["key"]: row for row in entries(SPACES)}
    assert rows["dsr1-fp8-b200-sglang"]["points"] == "1024x1024:4-64:none"
    assert rows["dsr1-fp8-b200-sglang-list"]["points"] == "1024x1024:3/1229:mtp"
    # A point stating no concurrencies is left out.
    bare = entries({"k": _key("i:1", "b200", "sglang", "none")})
    assert bare[0]["points"] == ""
    points = "1024x1024:4-64:none|1024x1024:3/1229:mtp|8192x1024:4-512:mtp"
    assert point_kinds(points, 1024, 1024, 64) == {"none"}
    assert point_kinds(points, 1024, 1024, 1229) == {"mtp"}
    assert point_kinds(points, 1024, 1024, 128) == set()
    assert point_kinds(points, 8192, 1024, 4) == {"mtp"}


@pytest.mark.parametrize(
    ("clients", "lengths", "expected"),
    [
        # Only the MTP key swept 256 clients: the run drafted.
        (256, (1024, 1024), "mtp"),
        # Both swept 8; a list holding 1229 is MTP's alone.
        (8, (1024, 1024), "either"),
        (1229, (1024, 1024), "mtp"),
        # No search space held it (other lengths, or more clients than any swept): all keys.
        (256, (8192, 1024), "either"),
        (4096, (1024, 1024), "either"),
        # No lengths on the record: not narrowed.
        (256, None, "either"),
    ],
)
def test_a_record_of_an_image_run_both_ways_is_narrowed_by_the_search_spaces_that_held_it(
    clients, lengths, expected
) -> None:
    record = _record("lmsysorg/sglang:v0.5.9", "2026-03-20")
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "silicon_concurrency=8", f"silicon_concurrency={clients}"
    )
    if lengths is not None:
        record["isl"], record["osl"] = lengths
    assert speculation(record, condense([("2026-03-11", SPACES)]), CHANGELOG_NONE)[0] == expected


CHANGELOG_NONE = condense_sweeps([])


def test_inferencex_b200_deepseek_r1_sglang_runs_past_64_clients_read_as_mtp() -> None:
    """InferenceX's dated file of 2026-03-25 records DeepSeek-R1 FP8 SGLang runs on the B200 at
    128 to 512 clients; that day its plain key swept 4 to 64 and its MTP key 4 to 512 with the
    same image, so those ran with MTP, at 64 clients either way."""
    record = _record("lmsysorg/sglang:v0.5.9-cu130", "2026-03-25")
    source = record["silicon_data_source"]
    record["silicon_data_source"] = source.replace("T13:00:07Z", "T16:34:14Z")
    record["isl"], record["osl"] = 1024, 1024
    assert speculation(record) == ("either", "dsr1-fp8-b200-sglang,dsr1-fp8-b200-sglang-mtp")
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "silicon_concurrency=8", "silicon_concurrency=256"
    )
    assert speculation(record) == ("mtp", "dsr1-fp8-b200-sglang-mtp")


def test_a_range_of_concurrencies_is_inferencex_s_doubling_steps() -> None:
    assert swept_concurrencies("4-64") == {4, 8, 16, 32, 64}
    assert swept_concurrencies("4-50") == {4, 8, 16, 32, 50}  # ends at the range's end
    assert swept_concurrencies("3/1229") == {3, 1229}
    assert point_kinds("1024x1024:4-64:none", 1024, 1024, 48) == set()  # not a step
    # A point that states no whole concurrencies or lengths is left out of the index.
    lengths = {"isl": 1024, "osl": 1024}
    assert _point(lengths, {"conc-list": ["4k"]}) == ""
    assert _point(lengths, {"conc-start": None, "conc-end": 8}) == ""
    assert _point({"isl": "long"}, {"conc-list": [4]}) == ""
    assert _point(lengths, {"conc-list": [4], "spec-decoding": "a:b|c"}) == "1024x1024:4:abc"


def test_a_record_of_unreadable_counts_or_a_key_of_unknown_space_is_not_narrowed_away() -> None:
    index = condense([("2026-03-11", SPACES)])
    record = _record("lmsysorg/sglang:v0.5.9", "2026-03-20")
    record["silicon_data_source"] = record["silicon_data_source"].replace(
        "silicon_concurrency=8", "silicon_concurrency=256.0"
    )
    record["isl"], record["osl"] = 1024, 1024
    assert speculation(record, index, CHANGELOG_NONE)[0] == "mtp"  # 256.0 is 256
    record["isl"] = ""
    assert speculation(record, index, CHANGELOG_NONE)[0] == "either"  # no lengths: as before
    # A plain key whose search space the index does not hold may have run 256 clients too.
    unknown = SPACES | {"dsr1-fp8-b200-sglang-other": _key("lmsysorg/sglang:v0.5.9", "b200",
                                                           "sglang", "none")}  # fmt: skip
    unknown["dsr1-fp8-b200-sglang-other"]["seq-len-configs"][0]["search-space"] = [{"tp": 8}]
    record["isl"] = 1024
    kind, keys = speculation(record, condense([("2026-03-11", unknown)]), CHANGELOG_NONE)
    assert kind == "either" and "dsr1-fp8-b200-sglang-other" in keys


def test_keys_of_may_2026_on_keep_their_lengths_under_scenarios() -> None:
    """nvidia-master.yaml moved each key's length configurations under `scenarios` in May
    2026 (`fixed-seq-len`): read there too, a key's decoding and search space stay known."""
    body = _key("lmsysorg/sglang:v0.5.11", "b200", "sglang", "mtp")
    moved = {k: v for k, v in body.items() if k != "seq-len-configs"}
    moved["scenarios"] = {"fixed-seq-len": body["seq-len-configs"]}
    (row,) = entries({"dsr1-fp8-b200-sglang-mtp": moved})
    (before,) = entries({"dsr1-fp8-b200-sglang-mtp": body})
    assert row["speculation"] == before["speculation"] == "mtp"
    assert row["points"] == before["points"] == ""  # `_key`'s points state no concurrencies
    moved["scenarios"]["fixed-seq-len"][0]["search-space"] = [
        {"tp": 8, "conc-start": 4, "conc-end": 512, "spec-decoding": "mtp"}
    ]
    assert entries({"k": moved})[0]["points"] == "1024x1024:4-512:mtp"
