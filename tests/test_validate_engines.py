"""The engine validation harness on a small fixture in the silicon sample's format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rooflens
from rooflens.api import resolve
from rooflens.core.errors import InvalidInputError
from rooflens.measure.validate_engines import (
    AIC_ESTIMATES,
    REQUESTS_PER_CLIENT,
    V5_PROMPT_SCALE,
    Inexpressible,
    _repeat_lines,
    architecture_of,
    concurrency_band,
    concurrency_of,
    errors,
    gpus_of,
    inferencex_twins,
    launch_of,
    main,
    measurement_key,
    peak_share,
    predict,
    prefill_iterations,
    profile_for,
    ran_on,
    read_predictions,
    recorded_layout,
    report,
    request_lengths,
    served_prompt_scale,
    setup_of,
    table_share,
    validated_table,
)
from rooflens.serving.presets import preset_for
from rooflens.serving.simulate import prepare

COLUMNS = (
    "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,"
    "gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,"
    "moe_ep_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,prefill_pp_size,"
    "prefill_attention_dp_size,prefill_moe_tp_size,prefill_moe_ep_size,decode_batch_size,"
    "decode_num_workers,decode_tp_size,decode_pp_size,decode_attention_dp_size,"
    "decode_moe_tp_size,decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms"
)
ROWS = [
    # One client, a prompt shorter than vLLM's token budget: TTFT is one prefill step.
    "a,src; silicon_concurrency=1,vllm,0.12.0,meta-llama/Llama-3.1-8B-Instruct,h100_sxm,fp8,agg,"
    "256,32,fp8,fp8,1,1,1,1,1,1,,,,,,,,,,,,,,,20.0,5.0",
    "b,src; silicon_concurrency=4,sglang,0.5.5,acme/Unknown-7B,h100_sxm,bf16,agg,"
    "128,16,,,4,1,1,1,1,1,,,,,,,,,,,,,,,30.0,6.0",
    # MoE TP 1 x EP 2 under attention TP 2 x DP 2 (4 GPUs): rooflens cannot express it.
    "c,src; silicon_concurrency=2,trtllm,1.0.0,Qwen/Qwen3-30B-A3B,h100_sxm,fp8,agg,"
    "128,16,fp8,fp8,2,2,1,2,1,2,,,,,,,,,,,,,,,25.0,4.0",
    # Disaggregated: 1 prefill worker at TP 1, 2 decode workers at TP 2; no precision stated.
    "d,src; silicon_concurrency=4,trtllm,1.0.0,Qwen/Qwen3-32B,h200_sxm,,disagg,"
    "128,16,,,,,,,,,1,1,1,1,1,1,1,8,2,2,1,1,2,1,40.0,12.0",
]


@pytest.fixture
def sample(tmp_path) -> pd.DataFrame:
    path = tmp_path / "silicon_sample.csv"
    path.write_text("\n".join([COLUMNS, *ROWS]) + "\n")
    return pd.read_csv(path)


@pytest.mark.parametrize(
    ("model", "precision", "gemm", "expected", "source"),
    [
        # gpt-oss stores MXFP4 experts and 16-bit attention: an "fp4" row runs it as stored.
        ("openai/gpt-oss-120b", "fp4", "nvfp4", {}, "checkpoint as stored (mxfp4)"),
        # DeepSeek-R1 stores block FP8: an "fp8" row runs it as stored...
        ("deepseek-ai/DeepSeek-R1", "fp8", "fp8", {}, "checkpoint as stored (fp8)"),
        # ...an "fp4" row is another checkpoint, NVIDIA's NVFP4 export, run as it is stored.
        ("deepseek-ai/DeepSeek-R1", "fp4", "nvfp4", {}, "checkpoint as stored (modelopt)"),
        # A model with no NVFP4 export bundled: the row's label.
        (
            "meta-llama/Llama-3.1-70B", "fp4", "nvfp4",
            {"w_bits": 4, "a_bits": 4, "w_format": "nvfp4"}, "nvfp4",
        ),
        # A 16-bit checkpoint at FP8 block scales: 128 x 128 blocks.
        (
            "Qwen/Qwen3-32B", "fp8", "fp8_block",
            {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": 16384}, "fp8_block",
        ),
    ],
)  # fmt: skip
def test_a_quantized_checkpoint_runs_as_stored_at_its_own_precision(
    sample, model, precision, gemm, expected, source
) -> None:
    row = sample.iloc[0].copy()
    row["model_path"], row["precision"] = model, precision
    row["gemm_quant_mode"] = row["moe_quant_mode"] = gemm
    setup, notes = setup_of(row)
    layout = ("tp", "ep", "flash_attention", "fusion", "prefill_graph_tokens")
    options = {k: v for k, v in setup.options if k not in layout}
    assert options == expected
    assert notes["precision_source"] == source


def test_fp8_gemms_beside_block_fp8_experts_read_as_one_block_fp8_checkpoint(sample) -> None:
    """The sample's SGLang rows label a block-FP8 MoE checkpoint's GEMMs fp8 and its experts
    fp8_block (DeepSeek's, stored so; GLM-5's; Qwen3.5's): a MoE model served from a 16-bit
    bundled config at that pair runs block FP8 in every linear layer; a dense model's fp8
    row, and a MoE row labelled fp8 throughout, keep per-tensor FP8."""
    row = sample.iloc[0].copy()
    row["model_path"], row["backend"] = "Qwen/Qwen3-30B-A3B", "sglang"
    row["gemm_quant_mode"], row["moe_quant_mode"] = "fp8", "fp8_block"
    setup, notes = setup_of(row)
    assert dict(setup.options)["w_scale"] == 128 * 128
    assert notes["precision_source"].startswith("fp8_block (GEMMs labelled fp8")
    row["moe_quant_mode"] = "fp8"
    setup, notes = setup_of(row)
    assert "w_scale" not in dict(setup.options) and notes["precision_source"] == "fp8"
    dense = sample.iloc[0].copy()
    dense["moe_quant_mode"] = "fp8_block"
    assert "w_scale" not in dict(setup_of(dense)[0].options)


def test_nvfp4_rows_run_nvidias_export_with_its_16_bit_attention_and_fp8_cache(sample) -> None:
    """No engine quantizes to NVFP4 on load: an NVFP4 DeepSeek-R1 row runs NVIDIA's ModelOpt
    export of that architecture, which keeps the latent-attention projections at 16 bits and
    caches keys and values in FP8; an FP8 row of the same model runs DeepSeek's own."""
    from rooflens.api import resolve

    row = sample.iloc[0].copy()
    row["model_path"], row["precision"] = "deepseek-ai/DeepSeek-R1", "fp4"
    row["gemm_quant_mode"] = row["moe_quant_mode"] = "nvfp4"
    setup, _ = setup_of(row)
    assert setup.model == "nvidia/DeepSeek-V3.1-NVFP4"
    # The roofline bound (no engine profile here) launches nothing: no prefill graph limit.
    stored = {k: v for k, v in setup.options if k != "prefill_graph_tokens"}
    _, _, options = resolve(setup.model, "b200", stored)
    # Its exclude_modules name MLA's q_a, q_b, kv_a and kv_b projections of every layer, not
    # o_proj, which the export stores in NVFP4.
    kept = {name for name, k, n in options.partly_unquantized if k == n == 61}
    assert kept == {"q_a_proj", "q_b_proj", "kv_a_proj", "latent_attention"}
    assert (options.quantization.w_bits, options.quantization.kv_bits) == (4, 8)
    row["precision"] = row["gemm_quant_mode"] = row["moe_quant_mode"] = "fp8"
    assert setup_of(row)[0].model == "deepseek-ai/DeepSeek-R1"


def test_rows_map_to_setups_or_reasons(sample) -> None:
    a, _ = setup_of(sample.iloc[0])
    assert a.model == "meta-llama/Llama-3.1-8B"  # the -Instruct checkpoint's base
    assert a.device == "h100-sxm" and a.preset == "vllm" and a.concurrency == 1
    assert dict(a.options) == {
        "w_bits": 8,
        "a_bits": 8,
        "w_format": "fp",
        # vLLM quantizes a 16-bit checkpoint online: activation scales computed each step, the
        # default (no a_scale).
        "tp": 1,
        "ep": 1,
        "flash_attention": True,
        # vLLM's model code: one QKV GEMM, one gate/up GEMM, the activation and the residual
        # adds fused, the routed experts' activation inside FusedMoE.
        "fusion": ("qkv", "gate_up", "add_norm", "moe"),
        # vLLM's CUDA graphs at its defaults: up to min(2 x 1,024 sequences, 512) tokens.
        "prefill_graph_tokens": 512,
    }
    # TensorRT-LLM serves FP8 from ModelOpt checkpoints, whose activation scales are stored.
    trtllm = sample.iloc[0].copy()
    trtllm["backend"] = "trtllm"
    assert dict(setup_of(trtllm)[0].options)["a_scale"] == "static"
    with pytest.raises(Inexpressible, match="bundled catalog"):
        setup_of(sample.iloc[1])
    with pytest.raises(Inexpressible, match="parallelism"):
        setup_of(sample.iloc[2])
    # At TP 4 and EP 8, vLLM's data and expert parallelism: two DP groups of TP 4, the
    # experts over all eight GPUs at full width; two replicas of one client each, simulated
    # as one. (TP 2 x DP 2 with EP 4 is the N²-GPU form recorded_layout reads as 2 GPUs.)
    wide = sample.iloc[2].copy()
    wide["tp_size"], wide["moe_ep_size"] = 4, 8
    w, _ = setup_of(wide)
    assert (dict(w.options)["tp"], dict(w.options)["ep"], dict(w.options)["moe_tp"]) == (4, 8, 1)
    assert (w.cluster.replicas, w.concurrency) == (1, 1)
    # batch_size is each DP rank's batch: the clients are the source's 2 x 4 = 8, four on
    # each rank; without the note, batch_size.
    wide["batch_size"], wide["silicon_data_source"] = 4, "src; silicon_concurrency=8"
    assert (concurrency_of(wide), setup_of(wide)[0].concurrency) == (8, 4)
    wide["silicon_data_source"] = "src"
    assert concurrency_of(wide) == 4
    # MoE TP 1 x EP 2 under attention TP 2 (no attention DP): the experts share the TP group.
    inside = sample.iloc[2].copy()
    inside["attention_dp_size"], inside["moe_ep_size"] = 1, 2
    c, _ = setup_of(inside)
    assert (dict(c.options)["tp"], dict(c.options)["ep"], dict(c.options)["moe_tp"]) == (2, 2, 1)
    assert c.cluster.replicas == 1
    d, notes = setup_of(sample.iloc[3])
    assert notes["precision_source"] == "checkpoint dtype (not stated)"
    assert dict(d.options)["w_bits"] == 16 and dict(d.options)["tp"] == 1
    assert (d.cluster.decode_tp, d.cluster.prefill_replicas, d.cluster.decode_replicas) == (2, 1, 2)
    assert d.concurrency == 4
    # A prefill pool with its experts inside TP 4 (EP 4), decode ranks of attention DP 4 over
    # which EP 4 spreads the experts: each pool keeps its own layout.
    mixed = sample.iloc[3].copy()
    mixed["model_path"] = "Qwen/Qwen3-30B-A3B"
    mixed[["prefill_tp_size", "prefill_moe_tp_size", "prefill_moe_ep_size"]] = 4, 1, 4
    mixed[["decode_tp_size", "decode_attention_dp_size", "decode_moe_tp_size"]] = 1, 4, 1
    mixed[["decode_moe_ep_size", "decode_num_workers"]] = 4, 1
    m, _ = setup_of(mixed)
    assert (dict(m.options)["tp"], dict(m.options)["ep"], "moe_tp" in dict(m.options)) == (
        4,
        4,
        False,
    )
    assert (m.cluster.prefill_moe_tp, m.cluster.decode_moe_tp) == (1, None)
    assert (m.cluster.decode_tp, m.cluster.decode_ep, m.cluster.decode_replicas) == (1, 4, 4)
    # A prefill pool of attention DP 4 with its experts' width over all 4 GPUs, no EP.
    mixed[["prefill_tp_size", "prefill_attention_dp_size"]] = 1, 4
    mixed[["prefill_moe_tp_size", "prefill_moe_ep_size"]] = 4, 1
    m, _ = setup_of(mixed)
    assert (dict(m.options)["tp"], dict(m.options)["ep"], m.cluster.prefill_moe_tp) == (1, 1, 4)
    # Most disaggregated rows leave the worker counts blank: not recorded, so not one worker.
    unstated = sample.iloc[3].copy()
    unstated["decode_num_workers"] = np.nan
    with pytest.raises(Inexpressible, match="decode worker count not stated"):
        setup_of(unstated)


@pytest.mark.parametrize(
    ("source", "backend", "layout", "read"),
    [
        # TensorRT-LLM / SGLang `--tp 4 --ep 4` written as TP 16 with MoE TP 4 x EP 4.
        ("source_file=2026-04-06.csv", "trtllm", (16, 1, 4, 4), (4, 1, 1, 4)),
        ("db-dump/2026-04-27; config_id=202", "sglang", (64, 1, 8, 8), (8, 1, 1, 8)),
        # With attention DP: DP 64 with MoE TP 8 x EP 8 is DP 8 over EP 8.
        ("db-dump/2026-04-27; config_id=191", "trtllm", (1, 64, 8, 8), (1, 8, 1, 8)),
        # vLLM's `-tp 4 --enable-expert-parallel` written as TP 4 x DP 4 with EP 16.
        ("source_file=2026-04-06.csv", "vllm", (4, 4, 1, 16), (4, 1, 1, 4)),
        # The gap-analysis files state 4 GPUs (their ids: tp4_epnone), and ordinary layouts
        # stay as written.
        ("source_file=/x/aic-auto-gap-analysis/data/q.csv", "trtllm", (4, 1, 2, 2), None),
        ("source_file=2026-04-06.csv", "trtllm", (8, 1, 1, 8), None),
        ("source_file=2026-04-06.csv", "vllm", (1, 4, 1, 4), None),
    ],
)
def test_benchmark_database_records_of_n_gpus_written_as_n_squared_are_read_as_n(
    sample, source, backend, layout, read
) -> None:
    row = sample.iloc[2].copy()
    row["silicon_data_source"], row["backend"] = source, backend
    row[["tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size"]] = layout
    assert recorded_layout(row) == ((*read, True) if read else (*layout, False))
    # The GPUs the run had, as the peak-share check counts them.
    assert gpus_of(row) == (read[0] * read[1] if read else layout[0] * layout[1])
    setup, notes = setup_of(row)
    options = dict(setup.options)
    if read:
        tp, dp, _, ep = read
        assert notes["layout"] == f"read as {tp * dp} GPUs (recorded {tp * dp * ep})"
        # Every GPU holds 1/ep of the experts at MoE TP 1.
        assert (options["tp"], options["ep"], options.get("moe_tp", 1)) == (tp, ep, 1)
    else:
        assert notes["layout"] == "as recorded"


def test_a_disaggregated_pool_written_as_n_squared_is_read_as_n(sample) -> None:
    row = sample.iloc[3].copy()
    row["model_path"] = "Qwen/Qwen3-30B-A3B"
    row["silicon_data_source"] = "db-dump/2026-04-27; silicon_concurrency=4"
    row[["decode_tp_size", "decode_moe_tp_size", "decode_moe_ep_size"]] = 16, 4, 4
    assert recorded_layout(row, "decode_") == (4, 1, 1, 4, True)
    setup, notes = setup_of(row)
    assert (setup.cluster.decode_tp, setup.cluster.decode_ep, setup.cluster.decode_moe_tp) == (
        4,
        4,
        1,
    )
    assert notes["layout"] == "decode pool read as 4 GPUs per worker"


def test_predictions_follow_the_simulator_and_list_what_they_cannot_express(sample) -> None:
    predictions = predict(sample, ["roofline", "transformers"], requests_per_client=2)
    assert len(predictions) == 2 * len(sample)
    roof = predictions[predictions["profile"] == "roofline"].set_index("id")
    assert roof.loc["b", "reason"].startswith("model acme/Unknown-7B")
    assert "parallelism" in roof.loc["c", "reason"]
    assert np.isnan(roof.loc["b", "predicted_ttft_ms"])
    # Hand check of row a: one client, so each request's TTFT is the prefill of its prompt,
    # and its TPOT the mean of its decode steps; lengths drawn as InferenceX's client draws.
    prompts, outputs = request_lengths(setup_of(sample.iloc[0])[0], 2)
    spec, device, options = resolve(
        "meta-llama/Llama-3.1-8B",
        "h100-sxm",
        {"w_bits": 8, "a_bits": 8, "w_format": "fp", "flash_attention": True,
         "fusion": ("qkv", "gate_up", "add_norm", "moe")},
    )  # fmt: skip
    replica = prepare(spec, device, options, preset_for("vllm", device), 288)
    prefills = [
        replica.step_time(np.zeros(0, np.int64), np.array([float(p)]), np.zeros(1), [True])
        for p in prompts
    ]
    assert roof.loc["a", "predicted_ttft_ms"] == pytest.approx(1e3 * np.mean(prefills), rel=1e-9)
    tpots = [
        np.mean([replica.step_time(np.array([p + j])) for j in range(o - 1)])
        for p, o in zip(prompts, outputs, strict=True)
    ]
    assert roof.loc["a", "predicted_tpot_ms"] == pytest.approx(1e3 * np.mean(tpots), rel=1e-9)
    assert roof.loc["d", "predicted_tpot_ms"] > 0
    # The H100 and H200 have bundled profiles: calibrated predictions are slower.
    cal = predictions[predictions["profile"] == "transformers"].set_index("id")
    assert cal.loc["a", "calibrated"] and not roof.loc["a", "calibrated"]
    assert cal.loc["a", "predicted_ttft_ms"] > roof.loc["a", "predicted_ttft_ms"]
    done = errors(predictions)
    expected = abs(roof.loc["a", "predicted_ttft_ms"] - 20.0) / 20.0
    got = done[(done["id"] == "a") & (done["profile"] == "roofline")]["ttft_error"]
    assert got.iloc[0] == pytest.approx(expected)
    text = report(predictions, "fixture.csv", 1.0, 2, "plot.png")
    assert "2 of 4 rows simulated; 2 not expressible" in text
    assert set(predictions["layout"]) == {"as recorded", ""}
    read = predictions.assign(
        layout=np.where(predictions["id"] == "d", "read as 4 GPUs (recorded 16)", "as recorded")
    )
    assert "2 of 4 rows simulated (1 of them written for N² GPUs and read as N" in report(
        read, "fixture.csv", 1.0, 2, None
    )
    assert "acme/Unknown-7B (1)" in text
    assert "## Profile `transformers`" in text
    # Nothing simulated: still a report, of what could not be expressed.
    refused = predictions[predictions["predicted_ttft_ms"].isna()]
    aic = pd.DataFrame({"id": refused["id"], "aic_ttft_ms": 1.0, "aic_tpot_ms": 1.0})
    assert "0 of 2 rows simulated; 2 not expressible" in report(
        refused, "fixture.csv", 1.0, 2, None, aic
    )
    # The targets' systems get a table of their own: row d moved to a GB200 leaves row a.
    moved = predictions.assign(
        system=np.where(predictions["id"] == "d", "gb200", predictions["system"])
    )
    section = report(moved, "fixture.csv", 1.0, 2, None).split("## Profile `roofline`")[1]
    overall, targets = section.split("On the systems the targets are stated for")[:2]
    assert "\n| 2 |" in overall.split("Overall:")[1]
    target_table = targets.split("\n\n")[1]
    roof_a = done[(done["id"] == "a") & (done["profile"] == "roofline")].iloc[0]
    assert f"| 1 | {100 * roof_a['ttft_error']:.0f} % |" in target_table
    # Row a: one client, each request's TTFT spans its own prefill, one iteration.
    assert roof.loc["a", "prefill_iterations"] == 1.0
    assert np.isnan(roof.loc["d", "prefill_iterations"])  # disaggregated: not counted
    gaps = section.split("TTFT per prefill iteration")[1].split("\n\n")[1]
    gap_a = 20.0 - roof.loc["a", "predicted_ttft_ms"]
    assert f"| vllm | meta-llama/Llama-3.1-8B-Instruct | 1 | 1.00 | {gap_a:.2f} |" in gaps
    # Row a has one client, row d four: both in the first concurrency band, in one row.
    bands = section.split("By concurrency (clients of the closed loop):")[1].split("\n\n")[1]
    assert bands.splitlines()[2].startswith("| 1-8 | 2 |") and len(bands.splitlines()) == 3
    sample_bands = concurrency_band(pd.DataFrame({"batch_size": [1.0, 8, 9, 32, 33, 128, 129]}))
    assert list(sample_bands) == ["1-8", "1-8", "9-32", "9-32", "33-128", "33-128", "129+"]


def test_profiles_resolve_per_row(sample) -> None:
    from rooflens.hardware.catalog import get_device

    row = sample.iloc[0]
    assert profile_for(row, get_device("h100-sxm"), "roofline") is None
    assert profile_for(row, get_device("h100-sxm"), "transformers") is not None
    assert profile_for(row, get_device("b200"), "transformers") is None
    # The sample's vLLM releases all predate 0.21: gpu_memory_utilization 0.9, not the 0.92
    # of the release the shipped profiles' kernels come from.
    assert profile_for(row, get_device("h100-sxm"), "engine").memory_fraction == 0.9
    with pytest.raises(Exception, match="profile"):
        profile_for(row, get_device("h100-sxm"), "fitted-by-hand")


@pytest.mark.parametrize(
    ("release", "priced_by"),
    [("0.5.8.post1", "0.5.10"), ("0.5.5.post2", "0.5.6.post2"), ("0.5.10.post1", "0.5.10"),
     ("nightly-dev", "0.5.14"), ("glm5-hopper", "0.5.14")],
)  # fmt: skip
def test_a_row_is_priced_by_its_releases_tables(sample, release, priced_by) -> None:
    """SGLang's H100 databases time MoE kernels at 0.5.6.post2 and 0.5.10 as well as 0.5.14:
    under `engine-release` a run on a release is priced by its own tables, else the nearest
    later release's; a nightly or a named build by the newest."""
    from rooflens.hardware.catalog import get_device

    row = sample.iloc[1].copy()
    row["backend_version"] = release
    assert profile_for(row, get_device("h100-sxm"), "engine-release").engine_version == priced_by
    # `engine` takes the newest tables whatever the release, as an analysis does by default.
    assert profile_for(row, get_device("h100-sxm"), "engine").engine_version == "0.5.14"


def test_rows_of_one_setup_on_two_releases_are_priced_apart(tmp_path) -> None:
    """Two runs alike but for the SGLang release: under `engine-release` 0.5.5 is priced by
    the 0.5.6.post2 tables (GEMMs; MoE 0.5.10's), 0.5.14 by the newest, in one group of
    rows; under `engine` both by the newest, each prefilling as its release does."""
    row = (
        "{id},src; silicon_concurrency=1,sglang,{release},Qwen/Qwen3-30B-A3B,h100_sxm,bf16,agg,"
        "512,4,,,1,1,1,1,1,1,,,,,,,,,,,,,,,30.0,6.0"
    )
    path = tmp_path / "two.csv"
    rows = [row.format(id="old", release="0.5.5"), row.format(id="new", release="0.5.14")]
    path.write_text("\n".join([COLUMNS, *rows]) + "\n")
    out = predict(pd.read_csv(path), ["engine-release", "engine"])
    assert out["reason"].eq("").all()
    ttft = out.set_index(["profile", "id"])["predicted_ttft_ms"]
    assert ttft["engine-release", "old"] > 0 and ttft["engine-release", "new"] > 0
    assert ttft["engine-release", "old"] != ttft["engine-release", "new"]
    # `engine` prices both with the newest tables, as the newer release's own; the older
    # release still prefills as it did, without CUDA graphs (simulated_graph_tokens), its
    # one-client TTFT the host's launch of the 48 layers with experts, after the request's
    # path: 15.8 + 48 x (0.42 + 1.77) ms.
    assert ttft["engine", "new"] == ttft["engine-release", "new"]
    assert ttft["engine", "old"] == pytest.approx(15.8 + 48 * (0.42 + 1.77))
    assert ttft["engine", "new"] < 15.8 + 48 * (0.42 + 1.77)


def test_the_script_writes_the_report_and_the_plot(sample, tmp_path) -> None:
    data = tmp_path / "silicon_sample.csv"
    out, plot = tmp_path / "report.md", tmp_path / "scatter.png"
    main(["--data", str(data), "--out", str(out), "--plot", str(plot), "--profile", "roofline"])
    text = out.read_text()
    assert "## Profile `roofline`" in text and "![predicted" in text
    assert plot.stat().st_size > 1000


def test_the_records_name_their_benchmark() -> None:
    """InferenceX's database dump (`config_id`, `workflow_run_id`: its tables' keys) and its
    dated files are one benchmark; AIConfigurator's gap-analysis files are another."""
    from rooflens.measure.validate_engines import source_kind

    assert source_kind("db-dump/2026-04-27; config_id=733; workflow_run_id=758") == (
        "InferenceX database"
    )
    assert source_kind("source_file=/x/aic-auto-gap-analysis/data/q.csv") == "gap-analysis file"
    assert source_kind("source_file=2026-03-25.csv; image=trtllm") == "InferenceX dated file"


def test_the_plot_lies_beside_the_report_unless_told(sample, tmp_path) -> None:
    """A report written elsewhere never overwrites the docs' plot: its own sits beside it."""
    out = tmp_path / "look" / "report.md"
    out.parent.mkdir()
    main(["--data", str(tmp_path / "silicon_sample.csv"), "--out", str(out),
          "--profile", "roofline"])  # fmt: skip
    assert (tmp_path / "look" / "report.png").stat().st_size > 1000
    assert "](report.png)" in out.read_text()


def test_the_means_take_every_request_of_the_measured_phase(sample) -> None:
    """Row a at 8 clients with 4,096-token prompts, 3 requests each: the clients start
    together, as the benchmark's measured phase does after its warm-up has drained, the
    engine runs its defaults whichever InferenceX record the run comes from, and all 24
    requests are in the means."""
    from rooflens.measure import validate_engines
    from rooflens.serving.simulate import run
    from rooflens.serving.workload import Requests

    row = sample.iloc[[0]].copy()
    row["batch_size"], row["isl"] = 8.0, 4096
    row["silicon_data_source"] = "source_file=2026-04-06.csv; silicon_concurrency=8"
    got = predict(row, ["roofline"], requests_per_client=3).iloc[0]
    # The same run as InferenceX's database records it: its configuration's id.
    row["silicon_data_source"] = "db-dump/2026-04-27; config_id=7; silicon_concurrency=8"
    assert (
        predict(row, ["roofline"], requests_per_client=3).iloc[0]["predicted_ttft_ms"]
        == (got["predicted_ttft_ms"])
    )
    setup, _ = setup_of(row.iloc[0])
    spec, device, options, scheduler, replica, decode = validate_engines._replicas(
        setup, None, setup.isl + setup.osl, setup.isl
    )
    assert scheduler == preset_for("vllm", device)
    n = 3 * setup.concurrency
    result = run(
        spec, device, options, Requests(np.zeros(n), *request_lengths(setup, n)),
        scheduler, setup.cluster, replica=replica, decode_replica=decode,
        concurrency=setup.concurrency,
    )  # fmt: skip
    served = result.requests
    assert len(served) == 24
    assert got["predicted_ttft_ms"] == pytest.approx(1e3 * served["ttft"].mean(), rel=1e-12)
    assert got["predicted_tpot_ms"] == pytest.approx(1e3 * served["tpot"].mean(), rel=1e-12)
    # vLLM's default budget (8,192 tokens) takes two of these prompts (3,276-4,096 tokens)
    # per step: the first wave's last request waits for about four steps.
    first = served["ttft"].iloc[:8]
    assert 3 * first.min() < first.max() < 4.5 * first.min()
    assert got["predicted_ttft_ms"] > 1e3 * served["ttft"].iloc[8:].mean()


def test_aiconfigurator_estimates_sit_beside_rooflens_on_the_same_rows(sample) -> None:
    from rooflens.measure.validate_engines import side_by_side

    done = errors(predict(sample, ["roofline"], requests_per_client=2))
    estimates = pd.DataFrame(
        {
            "id": ["a", "b", "d"],
            # a: 30 ms against a measured 20 (+50 %); b: rooflens cannot express it.
            "aic_ttft_ms": [30.0, 10.0, np.nan],
            "aic_tpot_ms": [4.0, 1.0, np.nan],
            "aic_reason": [np.nan, np.nan, "prefill_batch_size is required for disagg mode."],
            "aic_package": "aiconfigurator 0.12.0",
            "estimated": "2026-11-30",
        }
    )
    lines = side_by_side(done, estimates)
    text = "\n".join(lines)
    assert "3 asked, 2 answered, 1 also simulated" in text
    table = [line for line in text.splitlines() if line.startswith("| AIConfigurator |")]
    # One row (a): TTFT |30 - 20| / 20 = 50 %, TPOT |4 - 5| / 5 = 20 %, ratios 1.50 and 0.80.
    assert table == ["| AIConfigurator | 1 | 50 % | 50 % | 1.50 | 20 % | 20 % | 0.80 |"]
    roof = done[(done["profile"] == "roofline") & (done["id"] == "a")].iloc[0]
    assert f"| roofline | 1 | {100 * roof['ttft_error']:.0f} % |" in text
    assert "| prefill_batch_size is required | 1 |" in text
    assert side_by_side(done, estimates.iloc[[1]]) == []


SERIES_BASE = {
    "backend": "vllm", "backend_version": "0.1", "model_path": "m", "system": "s",
    "gemm_quant_mode": "fp8", "tp_size": 1, "moe_tp_size": 1, "moe_ep_size": 1,
    "attention_dp_size": 1, "osl": 100, "mode": "agg", "silicon_data_source": "file",
    "silicon_tpot_ms": 10.0, "predicted_tpot_ms": 10.0,
}  # fmt: skip


def test_ttft_splits_into_a_time_per_prompt_token_and_one_per_request() -> None:
    """Two runs of one series at 1,000 and 3,000 prompt tokens: measured 150 and 350 ms (100 ms
    per 1,000 tokens, 50 ms per request), predicted 110 and 310 ms (the same slope, 10 ms):
    the split shows a 40 ms gap at a slope ratio of 1. A series of one prompt length, one
    above the concurrency the split reads, and runs of another precision or another
    InferenceX configuration (each a series of one) are left out."""
    from rooflens.measure.validate_engines import SPLIT_MAX_CONCURRENCY, _split_lines, ttft_split

    base = SERIES_BASE
    rows = [
        base | {"batch_size": 4, "isl": 1000, "silicon_ttft_ms": 150.0, "predicted_ttft_ms": 110.0},
        base | {"batch_size": 4, "isl": 3000, "silicon_ttft_ms": 350.0, "predicted_ttft_ms": 310.0},
        base | {"batch_size": 4, "isl": 2000, "silicon_ttft_ms": 900.0, "predicted_ttft_ms": 100.0,
                "gemm_quant_mode": "nvfp4"},
        base | {"batch_size": 4, "isl": 2000, "silicon_ttft_ms": 900.0, "predicted_ttft_ms": 100.0,
                "silicon_data_source": "db-dump; config_id=7"},
        base | {"batch_size": 2, "isl": 1000, "silicon_ttft_ms": 90.0, "predicted_ttft_ms": 80.0},
        base | {"batch_size": SPLIT_MAX_CONCURRENCY + 1, "isl": 1000, "silicon_ttft_ms": 900.0,
                "predicted_ttft_ms": 100.0},
        base | {"batch_size": SPLIT_MAX_CONCURRENCY + 1, "isl": 3000, "silicon_ttft_ms": 1900.0,
                "predicted_ttft_ms": 200.0},
    ]  # fmt: skip
    done = errors(pd.DataFrame(rows))
    split = ttft_split(done)
    assert len(split) == 1 and split["runs"].iloc[0] == 2
    assert split["measured slope"].iloc[0] == pytest.approx(100.0)
    assert split["predicted slope"].iloc[0] == pytest.approx(100.0)
    assert split["measured intercept"].iloc[0] == pytest.approx(50.0)
    assert split["predicted intercept"].iloc[0] == pytest.approx(10.0)
    table = "\n".join(_split_lines(done))
    assert "| vllm | m | 1 | 2 | 1.00 | 50.00 | 10.00 | 40.00 |" in table


def test_a_constant_per_engine_and_model_is_read_off_its_few_client_runs() -> None:
    """Model m's runs at 4 clients miss by 40 and 60 ms (median gap 50 ms); added to its run at
    64 clients (measured 100, predicted 40) that run misses by 10 %, the others by 10 % and
    10 %. Model n has no run of at most 8 clients: its gap is 0 and its 50 % miss stays. A run
    off the target systems is not counted."""
    from rooflens.measure.validate_engines import constant_bound

    base = SERIES_BASE | {"system": "h200_sxm"}
    rows = [
        base | {"batch_size": 4, "isl": 1000, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 60.0},
        base | {"batch_size": 4, "isl": 3000, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 40.0},
        base | {"batch_size": 64, "isl": 1000, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 40.0},
        base | {"batch_size": 64, "model_path": "n", "isl": 1000, "silicon_ttft_ms": 100.0,
                "predicted_ttft_ms": 50.0},
        base | {"batch_size": 64, "system": "gb200", "isl": 1000, "silicon_ttft_ms": 100.0,
                "predicted_ttft_ms": 1.0},
    ]  # fmt: skip
    median, p90 = constant_bound(errors(pd.DataFrame(rows)))
    assert median == pytest.approx(0.10)
    # |errors| 0.1, 0.1, 0.1 and 0.5: the 90th percentile lies 0.7 of the way to the last.
    assert p90 == pytest.approx(0.10 + 0.7 * 0.40)


def test_records_stating_one_point_are_compared_measurement_by_measurement() -> None:
    """Three records of one point: two repeat one measurement (read once), the third measured
    110 ms against 100 (TTFT) and 10 ms against 10 (TPOT): two ordered pairs, |a/b - 1| of 10 %
    and 1/11. A record of another image, another client count or a disaggregated run is
    another point (or none); the database dump names its image as its last, unnamed field,
    and a record naming neither image nor version is left out."""
    from rooflens.measure.validate_engines import _agreement_lines, record_agreement

    base = SERIES_BASE | {"precision": "fp8", "moe_quant_mode": "fp8", "isl": 1000}
    source = "source_file=x.csv; silicon_concurrency=4; image=vllm:v1"
    rows = pd.DataFrame([
        base | {"silicon_data_source": source, "silicon_ttft_ms": 100.0},
        base | {"silicon_data_source": source + "; wip=False", "silicon_ttft_ms": 100.0},
        base | {"silicon_data_source": source, "silicon_ttft_ms": 110.0},
        base | {"silicon_data_source": source.replace("v1", "v2"), "silicon_ttft_ms": 300.0},
        base | {"silicon_data_source": source.replace("=4", "=8"), "silicon_ttft_ms": 300.0},
        base | {"silicon_data_source": source, "silicon_ttft_ms": 300.0, "mode": "disagg"},
    ])  # fmt: skip
    found = record_agreement(rows)
    assert found["points"] == 1 and found["pairs"] == 2
    assert found["ttft_median"] == pytest.approx((0.10 + 1 / 11) / 2)
    assert found["tpot_median"] == 0.0 and found["tpot_p90"] == 0.0
    assert "1 aggregated benchmark points" in _agreement_lines(rows)[1]
    assert record_agreement(rows.iloc[[0, 3, 4]])["pairs"] == 0
    assert _agreement_lines(rows.iloc[[0, 3, 4]]) == []
    dump = "db-dump/x; config_id=1; silicon_concurrency=4; measured=2026-01-01; vllm:v1"
    unnamed = "db-dump/x; config_id=2; silicon_concurrency=4"
    more = pd.DataFrame([
        base | {"silicon_data_source": dump, "silicon_ttft_ms": 120.0},
        base | {"silicon_data_source": unnamed, "silicon_ttft_ms": 500.0,
                "backend_version": None},
    ])  # fmt: skip
    found = record_agreement(pd.concat([rows, more]))
    assert found["points"] == 1 and found["pairs"] == 6


def test_runs_are_told_dense_or_moe_by_their_models_layers() -> None:
    from rooflens.measure.validate_engines import architecture_of

    assert architecture_of("meta-llama/Llama-3.1-70B") == "dense"
    assert architecture_of("deepseek-ai/DeepSeek-R1") == "MoE"
    assert architecture_of("openai/gpt-oss-120b") == "MoE"


def test_ttft_splits_into_what_tensor_parallelism_divides_and_what_it_does_not() -> None:
    """One series at TP 1, 2 and 4: measured 450, 250 and 150 ms (400 ms of work divided
    among the GPUs, 50 ms not), predicted 410, 210 and 110 (the same work, 10 ms): a 40 ms
    gap with the divided parts alike. An expert-parallel series at TP 4 and 8 holds a record
    written for 16 GPUs (attention TP 16, MoE TP 4 x EP 4) of the TP 4 run: read as TP 4,
    it is one point with that run (medians 300 ms measured), not a third TP size. A series of
    one TP size and runs above the concurrency the split reads are left out."""
    from rooflens.measure.validate_engines import SPLIT_MAX_CONCURRENCY, _tp_lines, ttft_by_tp

    base = SERIES_BASE | {"batch_size": 4, "isl": 1000}
    rows = [
        base | {"tp_size": tp, "moe_tp_size": tp, "silicon_ttft_ms": 50.0 + 400.0 / tp,
                "predicted_ttft_ms": 10.0 + 400.0 / tp}
        for tp in (1, 2, 4)
    ]  # fmt: skip
    ep = base | {"model_path": "moe", "moe_ep_size": 4, "moe_tp_size": 1}
    rows += [
        ep | {"tp_size": 4, "silicon_ttft_ms": 300.0, "predicted_ttft_ms": 100.0},
        ep | {"tp_size": 16, "moe_tp_size": 4, "silicon_ttft_ms": 300.0,
              "predicted_ttft_ms": 100.0},
        ep | {"tp_size": 8, "silicon_ttft_ms": 200.0, "predicted_ttft_ms": 60.0},
        base | {"model_path": "alone", "silicon_ttft_ms": 90.0, "predicted_ttft_ms": 80.0},
        base | {"tp_size": 8, "moe_tp_size": 8, "batch_size": SPLIT_MAX_CONCURRENCY + 1,
                "silicon_ttft_ms": 900.0, "predicted_ttft_ms": 100.0},
    ]  # fmt: skip
    done = errors(pd.DataFrame(rows))
    split = ttft_by_tp(done).set_index("model_path")
    assert sorted(split.index) == ["m", "moe"]
    assert split.loc["m", "runs"] == 3 and split.loc["m", "tp sizes"] == 3
    assert split.loc["m", "measured divided"] == pytest.approx(400.0)
    assert split.loc["m", "predicted divided"] == pytest.approx(400.0)
    assert split.loc["m", "measured undivided"] == pytest.approx(50.0)
    assert split.loc["m", "predicted undivided"] == pytest.approx(10.0)
    # TP 4 (two records) and 8: 300 = a + b / 4, 200 = a + b / 8, so b = 800 and a = 100.
    assert split.loc["moe", "tp sizes"] == 2 and split.loc["moe", "runs"] == 3
    assert split.loc["moe", "measured divided"] == pytest.approx(800.0)
    assert split.loc["moe", "measured undivided"] == pytest.approx(100.0)
    assert split.loc["moe", "predicted undivided"] == pytest.approx(20.0)
    table = "\n".join(_tp_lines(done))
    assert "| vllm | m | 1 | 3 | 400.00 | 400.00 | 50.00 | 10.00 | 40.00 |" in table
    assert "| vllm | moe | 1 | 3 | 800.00 | 320.00 | 100.00 | 20.00 | 80.00 |" in table
    assert _tp_lines(errors(pd.DataFrame(rows[-2:]))) == []


def test_ttft_against_the_time_between_completions() -> None:
    """Four clients at 128 and 512 output tokens, measured TPOT 10 ms: a request ends every
    320 and 1,280 ms, and measured TTFT 100 ms plus that interval has slope 1; predicted TPOT
    8 ms (256 and 1,024 ms) with a flat 90 ms TTFT has slope 0. A series whose intervals are
    less than 1.5 times apart, or of one output length, is left out."""
    from rooflens.measure.validate_engines import _completion_lines, ttft_by_completions

    base = SERIES_BASE | {"batch_size": 4, "isl": 1000, "predicted_tpot_ms": 8.0}
    rows = [
        base | {"osl": 128, "silicon_ttft_ms": 420.0, "predicted_ttft_ms": 90.0},
        base | {"osl": 512, "silicon_ttft_ms": 1380.0, "predicted_ttft_ms": 90.0},
        base | {"osl": 100, "isl": 2000, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 90.0},
        base | {"osl": 120, "isl": 2000, "silicon_ttft_ms": 900.0, "predicted_ttft_ms": 90.0},
        base | {"osl": 512, "isl": 3000, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 90.0},
    ]
    slopes = ttft_by_completions(errors(pd.DataFrame(rows)))
    assert len(slopes) == 1
    assert slopes["measured"].iloc[0] == pytest.approx(1.0)
    assert slopes["predicted"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    text = "\n".join(_completion_lines(errors(pd.DataFrame(rows))))
    assert "| vllm | m | 1 | 2 | 1.00 | 1.00 | 1.00 | 0.00 |" in text
    assert _completion_lines(errors(pd.DataFrame(rows[2:]))) == []


def test_what_a_prefill_costs_the_other_clients_decoding() -> None:
    """Four clients at 128 and 1,024 output tokens: measured TPOT 12 and 10.25 ms give P =
    1.75 / (4 x (1/128 - 1/1,024)) = 64 ms, predicted 11 and 10.5625 ms give 16 ms; TTFT
    measured 300 ms, predicted 100 ms: a gap of 200 ms, 48 ms of it in P. Outputs less than
    twice apart are left out."""
    from rooflens.measure.validate_engines import _prefill_in_decode_lines, prefill_in_decode

    base = SERIES_BASE | {"batch_size": 4, "isl": 1000, "silicon_ttft_ms": 300.0,
                          "predicted_ttft_ms": 100.0}  # fmt: skip
    rows = [
        base | {"osl": 128, "silicon_tpot_ms": 12.0, "predicted_tpot_ms": 11.0},
        base | {"osl": 1024, "silicon_tpot_ms": 10.25, "predicted_tpot_ms": 10.5625},
        base | {"osl": 100, "isl": 2000, "silicon_tpot_ms": 12.0, "predicted_tpot_ms": 9.0},
        base | {"osl": 150, "isl": 2000, "silicon_tpot_ms": 10.0, "predicted_tpot_ms": 9.0},
    ]
    shares = prefill_in_decode(errors(pd.DataFrame(rows)))
    assert len(shares) == 1
    assert shares["measured"].iloc[0] == pytest.approx(64.0)
    assert shares["predicted"].iloc[0] == pytest.approx(16.0)
    assert shares["gap"].iloc[0] == pytest.approx(200.0)
    text = "\n".join(_prefill_in_decode_lines(errors(pd.DataFrame(rows))))
    assert "| vllm | m | 1 | 2 | 64.00 | 16.00 | 48.00 | 200.00 |" in text
    assert _prefill_in_decode_lines(errors(pd.DataFrame(rows[2:]))) == []


def test_tensorrt_llm_runs_under_attention_dp_are_told_apart() -> None:
    """TensorRT-LLM's runs with attention DP (measured 1,000 and 3,000 ms, predicted 200
    each) and without (measured 100, predicted 90): medians per kind, with the reason."""
    from rooflens.measure.validate_engines import _balance_lines

    base = SERIES_BASE | {"backend": "trtllm", "batch_size": 64, "osl": 1024}
    rows = [
        base | {"attention_dp_size": 8, "silicon_ttft_ms": 1000.0, "predicted_ttft_ms": 200.0},
        base | {"attention_dp_size": 8, "silicon_ttft_ms": 3000.0, "predicted_ttft_ms": 200.0},
        base | {"attention_dp_size": 1, "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 90.0},
        base | {"backend": "vllm", "attention_dp_size": 8, "silicon_ttft_ms": 9.0,
                "predicted_ttft_ms": 1.0},
    ]  # fmt: skip
    text = "\n".join(_balance_lines(errors(pd.DataFrame(rows))))
    assert "`PyExecutor._balance_adp_requests`" in text and "`dp_balance`" in text
    assert "| with attention DP | 2 | 87 % | 92 % | 0.13 |" in text
    assert "| 2000.00 | 200.00 |" in text
    assert "| without | 1 | 10 % | 10 % | 0.90 |" in text
    # Without a run under attention DP, nothing to tell apart.
    assert _balance_lines(errors(pd.DataFrame(rows[2:3]))) == []


def test_the_report_rebuilds_from_the_predictions_csv(sample, tmp_path) -> None:
    """--csv then --predictions: the same report without simulating again (the run's wall
    clock travels in the CSV); a CSV without it is refused, naming what is wanted."""
    data = tmp_path / "silicon_sample.csv"
    first, again, csv = tmp_path / "first.md", tmp_path / "again.md", tmp_path / "p.csv"
    plot = ["--plot", str(tmp_path / "scatter.png")]
    main(["--data", str(data), "--out", str(first), *plot, "--csv", str(csv),
          "--profile", "roofline"])  # fmt: skip
    main(["--data", str(data), "--out", str(again), *plot, "--predictions", str(csv)])
    assert again.read_text() == first.read_text()
    # Where it ran travels too: the --jobs default's 2 processes on this machine's cores.
    written = pd.read_csv(csv)
    assert ran_on(written) == f"2 processes on a {os.cpu_count()}-core machine"
    assert f"{ran_on(written)}." in again.read_text()
    # A CSV from before that was recorded: the shared 2-core machine those runs had.
    assert ran_on(written.drop(columns="run_on")) == "two processes on a shared 2-core machine"
    written.drop(columns="run_seconds").to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match="run_seconds"):
        main(["--data", str(data), "--out", str(again), "--predictions", str(csv)])


def test_a_partial_run_keeps_the_models_it_names(sample, tmp_path) -> None:
    """--models: a change that touches some models' rows simulates only those again."""
    csv = tmp_path / "p.csv"
    main(["--data", str(tmp_path / "silicon_sample.csv"), "--out", str(tmp_path / "r.md"),
          "--csv", str(csv), "--profile", "roofline",
          "--models", "Qwen/Qwen3-32B,acme/Unknown-7B"])  # fmt: skip
    written = pd.read_csv(csv)
    assert sorted(written["id"]) == ["b", "d"]
    assert "(its 2 rows of Qwen/Qwen3-32B, acme/Unknown-7B)" in (tmp_path / "r.md").read_text()
    main(["--data", str(tmp_path / "silicon_sample.csv"), "--out", str(tmp_path / "r.md"),
          "--csv", str(csv), "--profile", "roofline", "--ids", "d,a"])  # fmt: skip
    assert sorted(pd.read_csv(csv)["id"]) == ["a", "d"]
    assert "(its 2 rows named by id)" in (tmp_path / "r.md").read_text()


def test_a_row_past_its_cpu_budget_says_so(sample, monkeypatch) -> None:
    """The budget counts the simulating process's CPU time, not the wall clock: sleeping
    (another process's load) spends none of it; simulating past it reports the row."""
    import time

    from rooflens.measure import validate_engines

    row = sample.iloc[[0]]
    monkeypatch.setattr(validate_engines, "ROW_SECONDS_PER_REQUEST", 1e-9)
    got = predict(row, ["roofline"], requests_per_client=2).iloc[0]
    assert got["reason"] == "not simulated: over the 0 CPU s a row may take"
    monkeypatch.setattr(validate_engines, "ROW_SECONDS_PER_REQUEST", 0.5)
    slept = validate_engines.run

    def slow_run(*args, **kwargs):
        time.sleep(1.5)  # wall clock past the 1 s budget, no CPU spent
        return slept(*args, **kwargs)

    monkeypatch.setattr(validate_engines, "run", slow_run)
    got = predict(row, ["roofline"], requests_per_client=2).iloc[0]
    assert got["reason"] == "" and got["predicted_tpot_ms"] > 0


def test_prefill_iterations_count_the_prefills_within_each_ttft() -> None:
    """Engine 0 prefills at [0, 1) and [1, 2) and decodes at [2, 3); engine 1 prefills at
    [0, 4). Request 0 (engine 0) is sent at 0, first token at 2: both prefills. Request 1
    (engine 0) is sent at 1, first token at 2: the second only (the first ended at its
    sending). Request 2 (engine 1): its one prefill. Mean 4 / 3."""
    requests = pd.DataFrame(
        {"replica": [0, 0, 1], "arrival": [0.0, 1.0, 0.0], "first_token": [2.0, 2.0, 4.0]}
    )
    timeline = pd.DataFrame(
        {
            "engine": [0, 0, 0, 1],
            "start": [0.0, 1.0, 2.0, 0.0],
            "duration": [1.0, 1.0, 1.0, 4.0],
            "prefill_tokens": [100, 50, 0, 300],
        }
    )
    assert prefill_iterations(requests, timeline) == pytest.approx(4 / 3)


def test_runs_faster_than_the_peak_allows_are_listed(sample) -> None:
    """Row a (Llama-3.1-8B, FP8, one H100, 256 + 32 tokens) measured at 1,000 clients, 1 ms
    to the first token and 0.01 ms per token: 763,359 requests/s, whose prompts alone need
    the H100's fastest dense peak many times over."""
    fast = sample.copy()
    fast.loc[0, "silicon_data_source"] = "src; silicon_concurrency=1000"
    fast.loc[0, "batch_size"] = 1000  # as many sequences as clients: one worker served them
    fast.loc[0, ["silicon_ttft_ms", "silicon_tpot_ms"]] = 1.0, 0.01
    share = peak_share(fast)
    ops = rooflens.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", batch=1, prompt_len=256, gen_len=1,
        **{
            k: v
            for k, v in setup_of(fast.iloc[0])[0].options
            if k not in ("tp", "ep", "prefill_graph_tokens")
        },
    ).totals()["prefill"]["ops"]  # fmt: skip
    rate = 1000 / (0.001 + 31 * 0.00001)
    peak = max(rooflens.get_device("h100-sxm").peak_ops.values())
    assert share[0] == pytest.approx(rate * ops / peak, rel=1e-12) and share[0] > 1
    assert np.isnan(share[3])  # disaggregated
    predictions = predict(fast, ["roofline"], requests_per_client=2)
    text = report(predictions, "fixture.csv", 1.0, 2, None)
    ruled = text.split("Runs the roofline rules out")[1]
    assert f"| a | 1000 | 1 | 1 | 0.01 | {share[0]:.2f} x |" in ruled
    calm = report(predict(sample, ["roofline"], requests_per_client=2), "f.csv", 1.0, 2, None)
    ruled_calm = calm.split("Runs the roofline rules out")[1].split("Runs the operator tables")[0]
    assert ruled_calm.rstrip().endswith("None.")


def test_runs_faster_than_their_own_tables_allow_are_listed(sample) -> None:
    """The same fast row against the time its profile gives its prompts (the roofline here):
    64 prompts of 256 tokens priced in one prefill (16,384 tokens), a 64th of that time per
    prompt, times its 763,359 requests/s; a disaggregated row is not checked."""
    fast = sample.copy()
    fast.loc[0, "silicon_data_source"] = "src; silicon_concurrency=1000"
    fast.loc[0, "batch_size"] = 1000
    fast.loc[0, ["silicon_ttft_ms", "silicon_tpot_ms"]] = 1.0, 0.01
    predictions = predict(fast, ["roofline"], requests_per_client=2)
    share = table_share(errors(predictions))
    options = dict(setup_of(fast.iloc[0])[0].options)
    options.pop("prefill_graph_tokens")  # the roofline bound launches nothing
    prefill = rooflens.analyze(
        "meta-llama/Llama-3.1-8B", "h100-sxm", batch=64, prompt_len=256, gen_len=1, **options
    ).totals()["prefill"]["time"]
    rate = 1000 / (0.001 + 31 * 0.00001)
    first = predictions.index[predictions["id"] == "a"][0]
    assert share[first] == pytest.approx(rate * prefill / 64, rel=1e-12) and share[first] > 1
    disaggregated = predictions.index[predictions["mode"] == "disagg"]
    assert share[disaggregated].isna().all()
    text = report(predictions, "fixture.csv", 1.0, 2, None)
    ruled = text.split("Runs the operator tables rule out")[1]
    assert "| a | 1000 | 1 | 1 | 0.01 |" in ruled and f"| {share[first]:.2f} x |" in ruled
    calm = report(predict(sample, ["roofline"], requests_per_client=2), "f.csv", 1.0, 2, None)
    assert calm.split("Runs the operator tables rule out")[1].rstrip().endswith("None.")


def test_repeated_measurements_are_counted_once_and_named() -> None:
    rows = pd.DataFrame(
        {
            "system": ["b200_sxm", "b200_sxm", "b200_sxm", "h200_sxm"],
            "backend": ["sglang"] * 4,
            "isl": [8192] * 4,
            "osl": [1024] * 4,
            # The first two are one run recorded twice (once without its worker counts);
            # the last has the same times on another system.
            "silicon_ttft_ms": [9516.669095, 9516.6690951, 3826.9, 9516.669095],
            "silicon_tpot_ms": [39.024576, 39.024576, 29.6, 39.024576],
            "reason": ["", "prefill worker count not stated", "", ""],
            "launch": ["", "", "as InferenceX's y", "as InferenceX's x"],
            # The third, a database record read as the timed record it repeats.
            "silicon_data_source": ["a", "b", "db-dump/x; config_id=1", "q-gap-analysis.csv"],
        }
    )
    assert measurement_key(rows).nunique() == 3
    assert _repeat_lines(rows)[1] == (
        "The 4 rows hold 3 distinct measurements (same system, engine, prompt and output "
        "lengths, TTFT and TPOT to six digits): some runs are recorded more than once. Of the "
        "1 rows without worker counts, 1 repeat a record that states them and is simulated. "
        "1 gap-analysis rows repeat an InferenceX record's measurement and are read as that "
        "record, and 1 database records dated by their day only repeat a record of "
        "InferenceX's dated files timed to the second and are read as it."
    )
    # A twin that could not be simulated does not count.
    rows.loc[0, "reason"] = "not simulated: over the 30 CPU s a row may take"
    assert "1 rows without worker counts, 0 repeat" in _repeat_lines(rows)[1]


def test_inferencex_runs_draw_their_lengths_as_its_client_does(sample) -> None:
    """InferenceX's client: each prompt and output length uniform from int(0.8 L) to L,
    prompts drawn first from numpy's generator seeded 0; AIConfigurator's gap-analysis runs
    send the stated lengths."""
    row = sample.iloc[0].copy()
    row["isl"], row["osl"] = 1000, 100
    setup, _ = setup_of(row)
    prompts, outputs = request_lengths(setup, 500)
    draw = np.random.RandomState(0)
    np.testing.assert_array_equal(prompts, draw.randint(800, 1001, size=500))
    np.testing.assert_array_equal(outputs, draw.randint(80, 101, size=500))
    assert prompts.min() >= 800 and prompts.max() <= 1000 and outputs.min() >= 80
    assert 880 < prompts.mean() < 920  # the middle of the range, 900
    row["silicon_data_source"] = "source_file=/x/aic-auto-gap-analysis/data/q.csv"
    fixed = request_lengths(setup_of(row)[0], 3)
    np.testing.assert_array_equal(fixed[0], [1000] * 3)
    np.testing.assert_array_equal(fixed[1], [100] * 3)


def test_the_shipped_engine_report_is_what_its_shipped_predictions_give() -> None:
    """docs/validation-engines.md, rebuilt from the predictions shipped beside it (as
    `--predictions docs/data/validation-engines-predictions.csv.gz` rebuilds it), to the
    last character: the report says what its run predicted."""
    root = Path(__file__).resolve().parents[1]
    predictions = read_predictions(root / "docs/data/validation-engines-predictions.csv.gz")
    estimates = pd.read_csv(root / AIC_ESTIMATES)
    seconds = float(predictions["run_seconds"].iloc[0])
    text = report(
        predictions, "silicon_sample.csv", seconds, REQUESTS_PER_CLIENT,
        "validation-engines.png", estimates, ran_on(predictions),
    )  # fmt: skip
    assert text == (root / "docs/validation-engines.md").read_text()


def test_the_shipped_accuracy_table_is_what_its_shipped_predictions_give() -> None:
    """src/rooflens/engines/validated.json, which simulations quote, is what the shipped
    predictions give (`--validated`), and one of its lines is checked by hand: vLLM's
    Llama-3.1-70B runs on the H200, their median errors taken from the predictions here."""
    import json

    from rooflens.engines.validated import checked_against

    root = Path(__file__).resolve().parents[1]
    predictions = read_predictions(root / "docs/data/validation-engines-predictions.csv.gz")
    shipped = json.loads((root / "src/rooflens/engines/validated.json").read_text())
    assert shipped == json.loads(json.dumps(validated_table(predictions)))
    rows = predictions[
        (predictions["profile"] == "engine")
        & (predictions["backend"] == "vllm")
        & (predictions["system"] == "h200_sxm")
        & (predictions["model_path"] == "meta-llama/Llama-3.1-70B")
        & predictions["predicted_ttft_ms"].notna()
    ]
    figures = {}
    for metric in ("ttft", "tpot"):
        measured = rows[f"silicon_{metric}_ms"]
        ratio = rows[f"predicted_{metric}_ms"] / measured
        # Stored to 3 decimals, as the table keeps them (0.0452 is 0.045, written 4 %).
        figures[metric] = (round((ratio - 1).abs().median(), 3), round(ratio.median(), 3))
    line = checked_against("vllm", "h200-sxm", "meta-llama/Llama-3.1-70B")
    assert line.startswith(f"{len(rows)} measured runs of this model with vllm on h200-sxm: ")
    assert (
        f"TTFT median error {figures['ttft'][0]:.0%} (predicted {figures['ttft'][1]:.2f} of "
        f"measured), TPOT {figures['tpot'][0]:.0%} ({figures['tpot'][1]:.2f})"
    ) in line
    # A model never measured with the engine there: the engine's runs there, said so.
    other = checked_against("vllm", "h200-sxm", "Qwen/Qwen2.5-7B")
    everyone = (predictions["profile"] == "engine") & predictions["predicted_ttft_ms"].notna()
    on_h200 = everyone & (predictions["backend"] == "vllm") & (predictions["system"] == "h200_sxm")
    assert other.startswith(f"{on_h200.sum()} measured runs with vllm on h200-sxm, 0 of this model")
    assert checked_against("sglang", "a100-sxm4-80gb", "Qwen/Qwen2.5-7B").startswith(
        "no measured runs with sglang on a100-sxm4-80gb"
    )
    # Told its architecture, a model never measured there gets its kind's runs (their TTFT
    # fell apart, MoE from dense); an architecture with no runs there, the engine's.
    moe = on_h200 & predictions["model_path"].map(architecture_of).eq("MoE")
    kind = checked_against("vllm", "h200-sxm", "Qwen/Qwen3-30B-A3B", "MoE")
    assert kind.startswith(
        f"{moe.sum()} measured runs of MoE models with vllm on h200-sxm, 0 of this model: "
    )
    ratio = predictions.loc[moe, "predicted_ttft_ms"] / predictions.loc[moe, "silicon_ttft_ms"]
    assert f"(predicted {round(ratio.median(), 3):.2f} of measured)" in kind
    # Too few of its own architecture: the engine's runs, with how many were of its kind.
    assert checked_against("vllm", "h200-sxm", "x", "hybrid") == other.replace(
        ", 0 of this model", ", 0 of hybrid models, 0 of this model"
    )
    # A bundled twin's runs are named as the checkpoint measured (GLM-5's for GLM-5.1).
    twin = checked_against("sglang", "b200", "zai-org/GLM-5.1")
    assert " measured runs of zhipuai/GLM-5 (read as this model) with sglang on b200: " in twin


@pytest.mark.parametrize(
    ("backend", "release", "source", "overlap"),
    [
        # vLLM before 0.14 (async scheduling off by default), deployed without it.
        ("vllm", "0.12.0", "source_file=/x/aic-auto-gap-analysis/data/q.csv", False),
        # InferenceX's vLLM runs before 0.14: its gpt-oss scripts set async-scheduling: true.
        ("vllm", "0.11.2", "source_file=2026-04-06.csv; image=vllm/vllm-openai:v0.11.2", True),
        ("vllm", "0.19.0", "source_file=/x/aic-auto-gap-analysis/data/q.csv", True),
        ("vllm", "nightly-5b8c30d62b754b57", "source_file=2026-04-06.csv", True),
        ("sglang", "0.5.6.post2", "source_file=/x/aic-auto-gap-analysis/data/q.csv", True),
        ("trtllm", "1.0.0rc3", "source_file=2026-04-06.csv", True),
    ],
)
def test_the_overlap_schedule_follows_the_engines_release(
    sample, backend, release, source, overlap
) -> None:
    """Every engine forms iterations ahead by default (the presets' `overlap`), vLLM only
    from 0.14 or where launched with --async-scheduling."""
    from rooflens.serving.presets import scheduler_with

    row = sample.iloc[0].copy()
    row["backend"], row["backend_version"], row["silicon_data_source"] = backend, release, source
    setup, _ = setup_of(row)
    scheduler = scheduler_with(backend, None, dict(setup.scheduler))
    assert scheduler.overlap is overlap
    assert preset_for(backend).overlap is True


@pytest.mark.parametrize(
    ("backend", "release", "fields"),
    [
        # max_batch_size + ISL + 1500 tokens, prompts whole (no enable_chunked_prefill), the
        # template's 0.80 of the free memory.
        (
            "trtllm",
            "0.0.1",
            {
                "max_batch": 8,
                "max_tokens": 8 + 1024 + 1500,
                "split_prompts": False,
                "memory_fraction": 0.8,
            },
        ),
        # max-num-batched-tokens alike; vLLM's V1 chunks prompts.
        ("vllm", "0.0.1", {"max_batch": 8, "max_tokens": 8 + 1024 + 1500}),
        # max-prefill-tokens ISL + 1500 and mixed chunks; chunked_prefill_size stays the
        # engine's own.
        ("sglang", "0.5.6.post2", {"max_batch": 8, "max_tokens": 1024 + 1500, "mixed_chunk": True}),
        # A release whose template wrote neither flag before the rule set mixed chunks: the
        # engine's defaults.
        ("sglang", "0.5.1.post1", {"max_batch": 8}),
    ],
)
def test_a_gap_analysis_run_takes_the_generators_configuration(
    sample, backend, release, fields
) -> None:
    """AIConfigurator's gap-analysis runs deployed its generator's configurations: the batch
    limit is the row's batch size, the token budget as its rules set it."""
    from rooflens.serving.presets import scheduler_with

    row = sample.iloc[0].copy()
    row["backend"], row["backend_version"] = backend, release
    row["isl"], row["batch_size"], row["mode"] = 1024, 8.0, "agg"
    row["silicon_data_source"] = "source_file=/x/aic-auto-gap-analysis/data/q.csv"
    assert launch_of(row) == (fields, "aiconfigurator generator")
    setup, notes = setup_of(row)
    scheduler = scheduler_with(backend, None, dict(setup.scheduler))
    scheduled = {name: value for name, value in fields.items() if name != "memory_fraction"}
    assert setup.memory_fraction == fields.get("memory_fraction")
    assert {name: getattr(scheduler, name) for name in scheduled} == scheduled
    if release == "0.5.1.post1":
        default = preset_for("sglang")
        assert (scheduler.max_tokens, scheduler.mixed_chunk) == (default.max_tokens, False)
    assert notes["launch"] == "aiconfigurator generator"
    # InferenceX's runs keep their scripts' flags (none known for the fixture's rows).
    assert launch_of(sample.iloc[0]) == ({}, "")


def test_a_gap_analysis_row_repeating_an_inferencex_record_is_read_as_that_record(
    sample,
) -> None:
    """A gap-analysis row with an InferenceX record's very measurement (TTFT within 0.05 ms,
    TPOT within 0.005 ms, the same benchmark point) is that record's run: predicted as it,
    with InferenceX's client (lengths drawn from 0.8 to 1.0 of the stated). A row 0.15 ms
    away is a run of its own, read as the gap-analysis files are (the stated lengths)."""
    record = sample.iloc[0].copy()
    twin, other = record.copy(), record.copy()
    gap = "source_file=kimi-k2.5-gap-analysis.csv; silicon_concurrency=1"
    twin["id"], twin["silicon_data_source"], twin["silicon_ttft_ms"] = "g", gap, 20.04
    other["id"], other["silicon_data_source"], other["silicon_ttft_ms"] = "h", gap, 20.15
    frame = pd.DataFrame([record, twin, other]).reset_index(drop=True)
    assert inferencex_twins(frame) == {1: 0}
    got = predict(frame, ["roofline"], requests_per_client=2).set_index("id")
    assert got.loc["g", "predicted_ttft_ms"] == got.loc["a", "predicted_ttft_ms"]
    assert got.loc["g", "launch"] == "as InferenceX's a"
    assert got.loc["h", "predicted_ttft_ms"] != got.loc["a", "predicted_ttft_ms"]
    # --ids: the twin alone is still read as the record it repeats.
    alone = predict(frame, ["roofline"], requests_per_client=2, only=["g"]).set_index("id")
    assert list(alone.index) == ["g"]
    assert alone.loc["g", "predicted_ttft_ms"] == got.loc["a", "predicted_ttft_ms"]
    assert alone.loc["g", "launch"] == "as InferenceX's a"


def test_a_gap_analysis_run_with_more_clients_than_its_batch_is_not_simulated(sample) -> None:
    """A batch size below the clients leaves the workers that served them unrecorded: the
    generator's launch is not read, and the row is not expressible (as a disaggregated row
    without worker counts); at its batch, or with as many ranks of attention DP, it is."""
    row = sample.iloc[0].copy()
    row["backend"], row["isl"], row["batch_size"], row["mode"] = "trtllm", 1024, 8.0, "agg"
    row["tp_size"], row["attention_dp_size"] = 1, 1
    source = "source_file=/x/aic-auto-gap-analysis/q.csv; silicon_concurrency={}"
    row["silicon_data_source"] = source.format(32)
    assert launch_of(row) == ({}, "")
    with pytest.raises(Inexpressible, match="more clients than the batch"):
        setup_of(row)
    row["attention_dp_size"] = 4
    assert setup_of(row)[0].concurrency == 8  # one of four identical ranks
    row["silicon_data_source"], row["attention_dp_size"] = source.format(8), 1
    assert launch_of(row)[0]["max_batch"] == 8
    assert setup_of(row)[0].concurrency == 8


def test_clients_are_held_against_the_ranks_a_record_states_not_the_ranks_read(sample) -> None:
    """vLLM's TP 2 x DP 2 with EP 4 is the N²-GPU form read as 2 GPUs at DP 1; its batch of
    32 is each recorded rank's, so 64 clients are as many as it holds, not more."""
    row = sample.iloc[2].copy()
    row[["tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size"]] = 2, 2, 1, 4
    row["batch_size"], row["silicon_data_source"] = 32, "src; silicon_concurrency=64"
    assert recorded_layout(row)[1:] == (1, 1, 2, True)
    assert setup_of(row)[0].concurrency == 64


def test_block_fp8_experts_are_told_from_the_rows_quantization_or_the_checkpoint() -> None:
    """Which rows' experts a launch's block-FP8 kernel applies to: a row's quantization
    options where it states them (DeepSeek's 128 x 128 blocks yes, per-tensor FP8 and NVFP4
    no), else its checkpoint's (DeepSeek-R1's block FP8 yes; gpt-oss's MXFP4, Llama's bf16
    no)."""
    from rooflens.measure.validate_engines import QUANT_MODES, _model, block_fp8

    r1 = _model("deepseek-ai/DeepSeek-R1")
    assert block_fp8(dict(QUANT_MODES["fp8_block"]), r1)
    assert not block_fp8(dict(QUANT_MODES["fp8"]), r1)
    assert not block_fp8(dict(QUANT_MODES["nvfp4"]), r1)
    assert block_fp8({"kv_bits": 8}, r1)
    assert not block_fp8({}, _model("openai/gpt-oss-120b"))
    assert not block_fp8({}, _model("meta-llama/Llama-3.1-70B"))


def test_deepseek_on_sglang_with_transformers_5_is_read_at_the_prompts_its_server_read(
    sample,
) -> None:
    """InferenceX's client on SGLang 0.5.10 (transformers 5.3.0) counted DeepSeek's prompts
    with a misread tokenizer until 2026-05-15: the server read about five times the tokens
    (V5_PROMPT_SCALE, measured by scripts/client_prompt_tokens.py); SGLang 0.5.9
    (transformers 4.57.1), a later run, another model or engine, or another client read the
    prompts as stated."""
    row = sample.iloc[1].copy()
    row["model_path"], row["backend_version"] = "deepseek-ai/DeepSeek-R1", "0.5.10.post1"
    row["isl"] = 1024
    row["silicon_data_source"] = "source_file=2026-04-17.csv; measured=2026-04-17T00:00:00.000Z"
    assert served_prompt_scale(row) == V5_PROMPT_SCALE[1024] == 5.174
    setup, _ = setup_of(row)
    assert setup.served_isl == round(1024 * 5.174) == 5298
    prompts, outputs = request_lengths(setup, 6)
    assert prompts.max() <= setup.served_isl
    # The client's draws (its seed 0: prompts, then outputs), the prompts as the server read.
    draw = np.random.RandomState(0)
    drawn = draw.randint(int(0.8 * 1024), 1025, size=6)
    assert prompts.tolist() == np.rint(drawn * 5.174).astype(int).tolist()
    assert outputs.tolist() == draw.randint(12, 17, size=6).tolist()
    for field, value in [
        ("backend_version", "0.5.9"),
        ("backend_version", "nightly-dev"),
        ("model_path", "Qwen/Qwen3.5-397B-A17B"),
        ("backend", "trtllm"),
        ("mode", "disagg"),
        ("backend_version", float("nan")),
        ("silicon_data_source", "source_file=x.csv; measured=2026-05-15T00:00:00.000Z"),
        ("silicon_data_source", "source_file=/data/h200_sxm/sglang/0.5.10/gap-analysis.csv"),
    ]:
        other = row.copy()
        other[field] = value
        assert served_prompt_scale(other) == 1.0, (field, value)
    undated = row.copy()
    undated["silicon_data_source"] = "source_file=2026-04-17.csv"
    assert served_prompt_scale(undated) == 1.0
    row["isl"] = 2048
    with pytest.raises(Inexpressible, match="prompts of 2048 tokens as the server read them"):
        served_prompt_scale(row)


def test_runs_read_at_their_served_prompts_are_listed_apart_in_the_report(tmp_path) -> None:
    """The predictions carry each run's served prompt scale; the report names the runs read at
    a scale above 1 with their errors; a predictions file written before the column reads as
    scale 1 throughout (none listed)."""
    root = Path(__file__).resolve().parents[1]
    every = read_predictions(root / "docs/data/validation-engines-predictions.csv.gz")
    # The B300 runs (a report of all of them takes a minute).
    shipped = every[every["system"] == "b300_sxm"]
    assert (every["prompt_scale"] != 1).sum() == 31
    scaled = shipped[shipped["prompt_scale"] != 1]
    assert len(scaled) == 31
    assert set(scaled["prompt_scale"]) == {V5_PROMPT_SCALE[1024], V5_PROMPT_SCALE[8192]}
    assert (scaled["backend"] == "sglang").all() and (scaled["system"] == "b300_sxm").all()
    text = report(shipped, "silicon_sample.csv", 1.0, REQUESTS_PER_CLIENT, None)
    assert "31 simulated rows are aggregated InferenceX runs of deepseek-ai/DeepSeek-R1 or " in text
    assert "5.17 times at 1,024 tokens, 5.10 times at 8,192 tokens" in text
    older = tmp_path / "older.csv"
    shipped.drop(columns="prompt_scale").to_csv(older, index=False)
    again = read_predictions(older)
    assert (again["prompt_scale"] == 1.0).all()
    assert "rows are aggregated InferenceX runs of" not in report(
        again, "silicon_sample.csv", 1.0, REQUESTS_PER_CLIENT, None
    )


def test_the_report_opens_with_the_targets_where_and_why_they_are_missed() -> None:
    """Four runs on target systems and one off them. Llama-3.1-70B on vLLM at 4 clients, TP 1
    and 2: measured 150 and 100 ms, predicted 110 and 60 (the same 100 ms divided by TP, 40
    ms more measured outside it); DeepSeek-R1 on SGLang at 64 clients, predicted 40 and 110
    against 100. |TTFT errors| 0.1, 0.267, 0.4, 0.6: median 0.333, p90 0.54; TPOT exact.
    Two runs miss by more than 35 %, both underestimates. A 40 ms gap added to the vLLM runs
    leaves errors 0, 0, 0.6 and 0.1: median 0.05, p90 0.45."""
    from rooflens.measure.validate_engines import target_lines

    llama = SERIES_BASE | {
        "model_path": "meta-llama/Llama-3.1-70B", "system": "h200_sxm", "precision": "fp8",
        "moe_quant_mode": "fp8",
    }  # fmt: skip
    deepseek = llama | {"backend": "sglang", "model_path": "deepseek-ai/DeepSeek-R1"}
    rows = pd.DataFrame([
        llama | {"batch_size": 4, "isl": 1000, "silicon_ttft_ms": 150.0,
                 "predicted_ttft_ms": 110.0},
        llama | {"batch_size": 4, "isl": 1000, "tp_size": 2, "moe_tp_size": 2,
                 "silicon_ttft_ms": 100.0, "predicted_ttft_ms": 60.0},
        deepseek | {"batch_size": 64, "isl": 1000, "silicon_ttft_ms": 100.0,
                    "predicted_ttft_ms": 40.0},
        deepseek | {"batch_size": 64, "isl": 2000, "silicon_ttft_ms": 100.0,
                    "predicted_ttft_ms": 110.0},
        llama | {"batch_size": 4, "isl": 1000, "system": "gb200", "silicon_ttft_ms": 100.0,
                 "predicted_ttft_ms": 1.0},
    ]).assign(profile="engine")  # fmt: skip
    text = "\n".join(target_lines(errors(rows), rows))
    assert "Profile `engine` on the systems the targets are stated for" in text
    assert "4 rows;" in text
    assert "| TTFT | 33 % | 15 % | 54 % | 35 % | missed | missed (median 10 %) |" in text
    assert "| TPOT | 0 % | 15 % | 0 % | 35 % | met | met (median 10 %) |" in text
    assert "2 rows (50 %) miss by more than 35 %, 100 % of them underestimates" in text
    assert "| sglang | MoE | 2 | 1 | 35 % | 0.75 |" in text
    assert "| vllm | dense | 2 | 1 | 33 % | 0.67 |" in text
    assert "100 % of the 2 aggregated runs are underestimated, by a median of 40 ms" in text
    assert "(vllm 40 ms)" in text
    assert "vllm 1 of 1 series, its undivided part 40 ms longer measured" in text
    assert "still miss by 5 % median and 45 % p90" in text
    # The times per request measured with the engines themselves, named as in the forecasts,
    # and in the report's account of how rows are predicted.
    assert (
        "only vllm's 9.9 ms per request and sglang's 15.8 ms per request on their serving "
        "paths, and SGLang's 0.42 ms per layer, 1.77 ms more with experts; vLLM's 1.09 ms "
        "per layer, 0.47 ms more with experts launching a prefill run without CUDA graphs, "
        "measured with the engines themselves" in text
    )
    from rooflens.measure.validate_engines import _measured_times

    assert _measured_times() == ["vllm's 9.9 ms", "sglang's 15.8 ms"]
    shipped = (Path(__file__).parents[1] / "docs/validation-engines.md").read_text("utf-8")
    assert "measured one with the engine itself (vllm's 9.9 ms, sglang's 15.8 ms:" in shipped
    # No record repeats a measurement and no series varies the output length.
    assert "disagree among themselves" not in text
    assert "grows with the output length" not in text
    assert target_lines(errors(rows.iloc[[4]]), rows) == []


@pytest.mark.parametrize(
    ("version", "graphs"),
    [("0.5.9", False), ("0.5.1.post1", False), ("0.5.10", True), ("0.5.10.post1", True),
     ("0.5.17", True), ("v0.5.9-cu130", False), ("v0.5.10", True), ("0.5.10rc1", True),
     ("nightly-dev-20260216-d3bae71e", False), ("nightly-dev-20260402-d7256eb6", True),
     ("nightly-dev", None), ("glm5-hopper", None), (None, None), (float("nan"), None)],
)  # fmt: skip
def test_sglang_prefills_in_graphs_by_default_from_0_5_10(version, graphs) -> None:
    from rooflens.engines.sglang import prefill_graphs_by_default

    assert prefill_graphs_by_default(version) is graphs


def test_the_report_groups_sglang_runs_by_their_releases_prefill_graphs() -> None:
    """SGLang runs at 8 clients or fewer on a release before 0.5.10 (gaps 200 and 100 ms:
    median 150, the second a build naming no release, measured on 2026-02-20), from 0.5.10
    prefilling in graphs (Llama-3.1-8B: 80 ms), from 0.5.10 without them by its rules
    (attention DP: -50 ms; Qwen3.5, multimodal: 60 ms), and a build naming no release and
    no day (30 ms); a vLLM run and a run without a prediction are left out. Without SGLang
    runs, or without versions, no line."""
    from rooflens.measure.validate_engines import _sglang_graph_lines

    def run(
        version, gap, dp=1, model="meta-llama/Llama-3.1-8B-Instruct", source="", backend="sglang"
    ):
        return {"backend": backend, "backend_version": version, "attention_dp_size": dp,
                "model_path": model, "system": "h200_sxm", "mode": "agg", "isl": 1024,
                "osl": 1024, "batch_size": 4, "tp_size": 8, "pp_size": 1,
                "precision": "bf16", "silicon_data_source": source,
                "silicon_ttft_ms": 300.0, "predicted_ttft_ms": 300.0 - gap}  # fmt: skip

    few = pd.DataFrame([
        run("0.5.9", 200.0), run(None, 100.0, source="measured=2026-02-20"),
        run("0.5.10.post1", 80.0), run("0.5.10.post1", -50.0, dp=8),
        run("0.5.10.post1", 60.0, model="Qwen/Qwen3.5-397B-A17B"),
        run("glm5-hopper", 30.0), run("0.5.9", float("nan")), run("0.19.0", 999.0, backend="vllm"),
    ])  # fmt: skip
    (line,) = _sglang_graph_lines(few)
    assert (
        "has a median of 150 ms on releases before 0.5.10 (2 runs), 5 ms on 0.5.10 and later, "
        "without graphs by their rules (2 runs), 80 ms on 0.5.10 and later, in graphs (1 run) "
        "and 30 ms on builds naming no release and no day (1 run);" in line
    )
    assert "Prefill without CUDA graphs" in line and "none ran" not in line
    assert (
        "the predictions take that host time, 0.42 ms per layer, 1.77 ms more with experts, on "
        "every prefill"
    ) in line
    # The hybrid starts (docs/engines-measured.md) found no time of Gated DeltaNet's own.
    assert line.endswith(
        "a hybrid's Gated DeltaNet layers as its attention layers (measured alike on one H100 "
        "host, docs/engines-measured.md)."
    )
    (older,) = _sglang_graph_lines(few[few["backend_version"] == "0.5.9"])
    assert "150 ms" not in older and "200 ms on releases before 0.5.10 (1 run)" in older
    assert "(none ran 0.5.10 or later in graphs)" in older
    assert _sglang_graph_lines(few[few["backend"] == "vllm"]) == []
    assert _sglang_graph_lines(few.drop(columns="backend_version")) == []


@pytest.mark.parametrize(
    ("backend", "version", "mode", "dp", "pp", "drafting", "system", "tokens"),
    [("sglang", "0.5.9", "agg", 1, 1, False, "h200_sxm", 0),
     ("sglang", "0.5.10.post1", "agg", 1, 1, False, "h200_sxm", 8192),
     ("sglang", "0.5.10.post1", "agg", 1, 1, False, "b200_sxm", 16384),
     ("sglang", "nightly-dev", "agg", 1, 1, False, "h200_sxm", 8192),
     ("sglang", float("nan"), "agg", float("nan"), float("nan"), False, "h200_sxm", 8192),
     ("sglang", "0.5.10.post1", "agg", 8, 1, False, "h200_sxm", 0),
     ("sglang", "0.5.10.post1", "agg", 1, 1, True, "h200_sxm", 0),
     ("sglang", "0.5.10.post1", "disagg", 1, 1, False, "h200_sxm", 0),
     ("sglang", "0.5.10.post1", "agg", 1, 2, False, "h200_sxm", 0),
     ("vllm", "0.19.0", "agg", 1, 1, False, "h200_sxm", 512),
     ("trtllm", "1.2.0", "agg", 1, 1, False, "h200_sxm", None)],
)  # fmt: skip
def test_a_rows_prefill_graphs_are_its_engines_as_launched(
    backend, version, mode, dp, pp, drafting, system, tokens
) -> None:
    """SGLang's by release (none before 0.5.10, then its chunked prefill on the device; a
    nightly image or no release as the newest), none with attention DP, MTP drafting, a
    disaggregated run or pipeline parallelism; vLLM's default capture sizes at its preset
    (512 tokens); TensorRT-LLM's not priced (None)."""
    from rooflens.measure.validate_engines import catalog_device, simulated_graph_tokens

    row = pd.Series({"backend": backend, "backend_version": version, "mode": mode,
                     "attention_dp_size": dp, "pp_size": pp, "system": system})  # fmt: skip
    assert simulated_graph_tokens(row, catalog_device(system), drafting) == tokens


def test_a_vllm_rows_prefill_graphs_are_its_scripts_else_its_schedulers_capture_sizes() -> None:
    """A script's own capture sizes (InferenceX's launch reading, `graph_tokens`) win; else
    vLLM's rule at the row's scheduler: min(2 x max_num_seqs x (1 + drafts), 512,
    max_num_batched_tokens)."""
    from rooflens.measure.validate_engines import catalog_device, simulated_graph_tokens
    from rooflens.serving.config import SchedulerConfig

    row = pd.Series({"backend": "vllm", "backend_version": "0.19.0", "mode": "agg",
                     "attention_dp_size": 1, "pp_size": 1, "system": "h200_sxm"})  # fmt: skip
    h200 = catalog_device("h200_sxm")
    assert simulated_graph_tokens(row, h200, False, launched=2048) == 2048
    assert simulated_graph_tokens(row, h200, False, launched=0) == 0
    small = SchedulerConfig(max_batch=8)
    assert simulated_graph_tokens(row, h200, False, scheduler=small) == 16
    drafts = SchedulerConfig(max_batch=16, draft_tokens=3)
    assert simulated_graph_tokens(row, h200, True, scheduler=drafts) == 128
    budget = SchedulerConfig(max_batch=256, max_tokens=300)
    assert simulated_graph_tokens(row, h200, False, scheduler=budget) == 300
    # TensorRT-LLM: its launch's graphs are not simulated (no launch time measured).
    assert simulated_graph_tokens(row.replace({"vllm": "trtllm"}), h200, False, launched=0) is None


def test_a_rows_prefill_graphs_follow_its_releases_rules_for_its_model() -> None:
    """SGLang 0.5.10.post1 without attention DP: DeepSeek-V3 prefills in piecewise graphs (of
    2,048 tokens at most, latent attention's) on an H200, without them on a B200
    (TensorRT-LLM's MoE runner); GLM-5 and Qwen3.5 without
    them on both (GLM-5's architecture listed, Qwen3.5 multimodal). A nightly image whose
    tag names no day takes the newest release's rules (GLM-5 in graphs) unless the row says
    when it was measured: 2026-03-20, 0.5.10's."""
    from rooflens.measure.validate_engines import catalog_device, simulated_graph_tokens
    from rooflens.models.catalog import load_model

    row = pd.Series({"backend": "sglang", "backend_version": "0.5.10.post1", "mode": "agg",
                     "attention_dp_size": 1, "pp_size": 1, "system": "h200_sxm"})  # fmt: skip
    h200, b200 = catalog_device("h200_sxm"), catalog_device("b200_sxm")
    deepseek, glm = load_model("deepseek-ai/DeepSeek-V3"), load_model("zai-org/GLM-5")
    qwen = load_model("Qwen/Qwen3.5-397B-A17B")
    assert simulated_graph_tokens(row, h200, False, deepseek) == 2048
    assert simulated_graph_tokens(row, b200, False, deepseek) == 0
    for model in (glm, qwen):
        assert simulated_graph_tokens(row, h200, False, model) == 0
        assert simulated_graph_tokens(row, b200, False, model) == 0
    nightly = row.copy()
    nightly["backend_version"] = "nightly-dev"
    assert simulated_graph_tokens(nightly, h200, False, glm) == 2048  # no day: the newest
    nightly["silicon_data_source"] = "measured=2026-03-20"
    assert simulated_graph_tokens(nightly, h200, False, glm) == 0
    assert simulated_graph_tokens(nightly, h200, False, deepseek) == 2048
