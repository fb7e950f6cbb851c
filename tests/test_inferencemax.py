"""Which InferenceX benchmark configuration a silicon-sample record ran: the index and its use."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rooflens.measure.inferencemax import (
    condense,
    entries,
    normal_image,
    read_index,
    shipped_index,
    speculation,
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
    for day, snapshot in SNAPSHOTS:
        config.write_text(yaml.safe_dump(snapshot))
        git("add", ".", day=day)
        git("commit", "-q", "-m", day, day=day)
    out = tmp_path / "index.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "inferencemax_configs.py"), str(clone),
         "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    text = out.read_text()
    assert text.startswith("# InferenceX (formerly InferenceMAX) benchmark configurations")
    assert "at its 3 commits from" in text
    assert read_index(io.StringIO(text)).equals(condense(SNAPSHOTS))
