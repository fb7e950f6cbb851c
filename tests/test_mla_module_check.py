"""scripts/mla_module_check.py prices aiconfigurator's MLA module rows with the operators the
module holds (docs/engines.md): its sums must be the analysis' own, at the row's TP shard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rooflens import api
from rooflens.calibration import aiconfigurator as aic

COMMON = {"model": "deepseek-ai/DeepSeek-V3", "mla_dtype": "bfloat16", "kv_cache_dtype": "bfloat16"}


def _write(folder, table: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([COMMON | row for row in rows]).to_csv(folder / f"{table}.csv", index=False)


def _module_sum(stage: str, **point: object) -> float:
    """The operators of one layer between the add-norms, as the analysis lists them."""
    settings = {"engine": "trtllm", "flash_attention": True, "w_bits": 16, "a_bits": 16}
    rows = api.operator_rows(
        api.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", **settings, **point)
    )
    names = {"q_a_proj", "q_a_norm", "q_b_proj", "kv_a_proj", "kv_a_norm", "latent_attention"}
    names.add("o_proj")
    return sum(r["time"] for r in rows if r["stage"] == stage and r["name"] in names)


def test_module_rows_are_priced_as_the_sum_of_their_operators(tmp_path, load_script) -> None:
    script = load_script("mla_module_check")
    folder = tmp_path / "h200_sxm" / "mla" / "trtllm" / "1.3.0rc20"
    _write(folder, "mla_context_module_perf", [
        {"gemm_type": "bfloat16", "num_heads": 128, "batch_size": 1, "isl": 1024, "step": 0,
         "latency": 0.7},
        {"gemm_type": "bfloat16", "num_heads": 64, "batch_size": 2, "isl": 512, "step": 0,
         "latency": 0.4},
        # A GEMM type the check does not price, and another model's row: left unpriced, out.
        {"gemm_type": "fp8", "num_heads": 128, "batch_size": 1, "isl": 1024, "step": 0,
         "latency": 0.5},
        {"gemm_type": "bfloat16", "num_heads": 128, "batch_size": 1, "isl": 64, "step": 0,
         "latency": 0.2, "model": "moonshotai/Kimi-K2.5"},
    ])  # fmt: skip
    _write(folder, "mla_generation_module_perf", [
        {"gemm_type": "bfloat16", "num_heads": 128, "batch_size": 8, "isl": 1, "step": 1024,
         "latency": 0.15},
    ])  # fmt: skip
    checked = script.check(tmp_path, "h200_sxm", "trtllm")
    prefill = checked[checked["phase"] == "prefill"].reset_index(drop=True)
    assert len(prefill) == 3 and np.isnan(prefill.loc[2, "priced"])
    assert prefill.loc[0, "priced"] == pytest.approx(
        _module_sum("prefill", batch=1, prompt_len=1024, gen_len=1, tp=1), rel=1e-9
    )
    # 64 heads on one GPU: half of the 128, the shard of TP 2.
    assert prefill.loc[1, "priced"] == pytest.approx(
        _module_sum("prefill", batch=2, prompt_len=512, gen_len=1, tp=2), rel=1e-9
    )
    decode = checked[checked["phase"] == "decode"].reset_index(drop=True)
    assert decode.loc[0, "priced"] == pytest.approx(
        _module_sum("decode", batch=8, prompt_len=1024, gen_len=2, tp=1), rel=1e-9
    )
    assert decode.loc[0, "measured"] == pytest.approx(0.15e-3)
    table = script.summary(checked).set_index("phase")
    assert table.loc["prefill", "rows"] == 2  # the unpriced row is not counted
    ratios = prefill["priced"][:2] / prefill["measured"][:2]
    assert table.loc["prefill", "median"] == pytest.approx(ratios.median())
    assert table.loc["decode", "median"] == pytest.approx(decode.loc[0, "priced"] / 0.15e-3)
    # No tables for an engine or system: nothing to check.
    assert script.check(tmp_path, "h200_sxm", "vllm").empty


def test_sglang_module_rows_leave_out_the_projections_its_collector_replaces(
    tmp_path, load_script
) -> None:
    """SGLang's attention-DP module rows (`wideep_*`): its collector feeds a random latent in
    place of the fused q_a / kv_a projection, so the priced module leaves those two out; a
    decode row states its context in `isl` (step 0). Block-FP8 GEMMs, FP8 cache, SGLang's
    profile."""
    from rooflens.measure.validate_engines import QUANT_MODES

    script = load_script("mla_module_check")
    folder = tmp_path / "h200_sxm" / "mla" / "sglang" / "0.5.10"
    sglang = {"gemm_type": "fp8_block", "kv_cache_dtype": "fp8", "num_heads": 16, "step": 0}
    _write(folder, "wideep_context_mla_perf", [
        sglang | {"batch_size": 1, "isl": 8192, "latency": 1.2},
    ])  # fmt: skip
    _write(folder, "wideep_generation_mla_perf", [
        sglang | {"batch_size": 4, "isl": 2048, "latency": 0.1},
    ])  # fmt: skip
    checked = script.check(tmp_path, "h200_sxm", "sglang").set_index("phase")
    settings = {"engine": "sglang", "flash_attention": True, "kv_bits": 8, "tp": 8}
    settings |= QUANT_MODES["fp8_block"]

    def priced(stage: str, **point: object) -> float:
        analysis = api.analyze("deepseek-ai/DeepSeek-V3", "h200-sxm", **settings, **point)
        rows = [r for r in api.operator_rows(analysis) if r["stage"] == stage]
        kept = {"q_a_norm", "q_b_proj", "kv_a_norm", "latent_attention", "o_proj"}
        assert set(script.SGLANG_MODULE) == kept
        assert kept <= {r["name"] for r in rows}  # every name is one the analysis lists
        projections = sum(r["time"] for r in rows if r["name"] in ("q_a_proj", "kv_a_proj"))
        assert projections > 0  # what the module leaves out is priced in the analysis
        return sum(r["time"] for r in rows if r["name"] in kept)

    assert checked.loc["prefill", "priced"] == pytest.approx(
        priced("prefill", batch=1, prompt_len=8192, gen_len=1), rel=1e-9
    )
    assert checked.loc["decode", "priced"] == pytest.approx(
        priced("decode", batch=4, prompt_len=2048, gen_len=2), rel=1e-9
    )
    bands = script.by_tokens(checked.reset_index())
    ratio = checked.loc["prefill", "priced"] / 1.2e-3
    assert bands.loc[0, "4,097 tokens and more"] == pytest.approx(ratio)


def test_glm5_sparse_attention_rows_are_priced_as_the_latent_attention_operator(
    tmp_path, load_script
) -> None:
    """GLM-5's sparse attention kernel rows (SGLang `glm5_dsa_attn_module`): one sequence's
    prefill at 64 heads, priced as SGLang's profile prices GLM-5's `latent_attention` at TP 1
    (32 heads: TP 2); rows of another batch size or step are left out."""
    script = load_script("mla_module_check")
    folder = tmp_path / "h200_sxm" / "sparse_attention" / "sglang" / "0.5.14"
    folder.mkdir(parents=True)
    types = {"gemm_type": "fp8_block", "kv_cache_dtype": "fp8_e4m3"}
    pd.DataFrame([
        types | {"num_heads": 64, "batch_size": 1, "isl": 4096, "step": 0, "latency": 2.0},
        types | {"num_heads": 32, "batch_size": 1, "isl": 1024, "step": 0, "latency": 0.3},
        types | {"num_heads": 64, "batch_size": 2, "isl": 4096, "step": 0, "latency": 9.0},
        types | {"num_heads": 64, "batch_size": 1, "isl": 4096, "step": 4, "latency": 9.0},
    ]).to_csv(folder / "glm5_dsa_attn_module_perf.csv", index=False)  # fmt: skip
    checked = script.dsa_check(tmp_path, "h200_sxm").set_index(["num_heads", "isl"])
    assert len(checked) == 2
    from rooflens.measure.validate_engines import QUANT_MODES

    def priced(tp: int, prompt: int) -> float:
        analysis = api.analyze(
            "zai-org/GLM-5", "h200-sxm", batch=1, prompt_len=prompt, gen_len=1,
            engine="sglang", tp=tp, flash_attention=True, kv_bits=8, **QUANT_MODES["fp8_block"],
        )  # fmt: skip
        rows = api.operator_rows(analysis)
        (row,) = [r for r in rows if r["stage"] == "prefill" and r["name"] == "latent_attention"]
        return row["time"]

    assert checked.loc[(64, 4096), "priced"] == pytest.approx(priced(1, 4096), rel=1e-9)
    assert checked.loc[(32, 1024), "priced"] == pytest.approx(priced(2, 1024), rel=1e-9)
    assert checked.loc[(64, 4096), "measured"] == pytest.approx(2.0e-3)
    assert script.dsa_check(tmp_path, "b200_sxm").empty


def test_deepseek_v32_sparse_attention_modules_are_priced_with_their_indexer(
    tmp_path, load_script
) -> None:
    """DeepSeek-V3.2's `dsa_context_module` rows: a prompt of 4,096 tokens at 128 heads on
    TensorRT-LLM's H200 profile is priced as the module's operators, the indexer's included,
    sum; rows after cached tokens or of another model are left out; the bands table gives
    priced / measured for prompts beyond 2,048 tokens."""
    script = load_script("mla_module_check")
    folder = tmp_path / "h200_sxm" / "sparse_attention" / "trtllm" / "1.3.0rc20"
    folder.mkdir(parents=True)
    base = {
        "model": "deepseek-ai/DeepSeek-V3.2",
        "gemm_type": "bfloat16",
        "kv_cache_dtype": "bfloat16",
        "num_heads": 128,
        "batch_size": 1,
        "isl": 4096,
    }
    pd.DataFrame([
        base | {"step": 0, "latency": 10.0},
        base | {"step": 128, "latency": 99.0},
        base | {"step": 0, "latency": 99.0, "model": "zai-org/GLM-5"},
    ]).to_csv(folder / "dsa_context_module_perf.csv", index=False)  # fmt: skip
    checked = script.dsa_module_check(tmp_path, "h200_sxm", "trtllm")
    assert len(checked) == 1 and checked["measured"].iloc[0] == pytest.approx(10.0e-3)
    analysis = api.analyze(
        "deepseek-ai/DeepSeek-V3.2", "h200-sxm", batch=1, prompt_len=4096, gen_len=1,
        engine="trtllm", tp=1, flash_attention=True, w_bits=16, a_bits=16, kv_bits=16,
    )  # fmt: skip
    rows = [r for r in api.operator_rows(analysis) if r["stage"] == "prefill"]
    names = set(script.DSA_MODULE)
    assert {"indexer_scores", "latent_attention", "q_a_proj"} <= {r["name"] for r in rows}
    expected = sum(r["time"] for r in rows if r["name"] in names)
    assert checked["priced"].iloc[0] == pytest.approx(expected, rel=1e-9)
    bands = script.dsa_bands(checked)
    ratio = expected / 10.0e-3
    assert bands.loc[0, "prompts of more than 2,048 tokens"] == pytest.approx(ratio)
    assert script.dsa_module_check(tmp_path, "b200_sxm", "trtllm").empty
    # Decode: 8 sequences of one token after 1,024 cached, the module's decode operators.
    pd.DataFrame([
        base | {"isl": 1, "batch_size": 8, "step": 1024, "latency": 0.5},
        base | {"isl": 1, "batch_size": 8, "step": 0, "latency": 99.0},
    ]).to_csv(folder / "dsa_generation_module_perf.csv", index=False)  # fmt: skip
    decode = script.dsa_module_check(tmp_path, "h200_sxm", "trtllm", decode=True)
    assert len(decode) == 1 and decode["context"].iloc[0] == 1024
    analysis = api.analyze(
        "deepseek-ai/DeepSeek-V3.2", "h200-sxm", batch=8, prompt_len=1024, gen_len=2,
        engine="trtllm", tp=1, flash_attention=True, w_bits=16, a_bits=16, kv_bits=16,
    )  # fmt: skip
    rows = [r for r in api.operator_rows(analysis) if r["stage"] == "decode"]
    expected = sum(r["time"] for r in rows if r["name"] in names)
    assert decode["priced"].iloc[0] == pytest.approx(expected, rel=1e-9)
    bands = script.dsa_bands(decode, "contexts")
    assert bands.loc[0, "contexts of at most 2,048 tokens"] == pytest.approx(expected / 0.5e-3)


def test_deepseek_v4_attention_modules_are_priced_as_one_layer_of_their_kind(
    tmp_path, load_script
) -> None:
    """DeepSeek-V4-Flash's CSA module rows (compress ratio 4, `dsv4_csa_context_module`) are
    priced as one CSA layer of the bundled config, its module's operators summed at the row's
    TP shard (8 of the 64 heads: TP 8), the indexer included; one-token prompts and rows of
    another model are left out; an HCA layer holds no indexer."""
    script = load_script("mla_module_check")
    folder = tmp_path / "h200_sxm" / "sparse_attention" / "vllm" / "0.24.0"
    folder.mkdir(parents=True)
    base = {"model": "sgl-project/DeepSeek-V4-Flash-FP8", "gemm_type": "fp8_block",
            "kv_cache_dtype": "fp8", "num_heads": 8, "batch_size": 2, "step": 0}  # fmt: skip
    pd.DataFrame([
        base | {"isl": 2048, "latency": 3.0},
        base | {"isl": 1, "latency": 9.0},
        base | {"isl": 2048, "latency": 9.0, "model": "someone/else"},
    ]).to_csv(folder / "dsv4_csa_context_module_perf.csv", index=False)  # fmt: skip
    checked = script.dsv4_module_check(tmp_path, "h200_sxm", "vllm")
    assert len(checked) == 1 and checked["context"].iloc[0] == 4096
    layer = aic.module_layer("deepseek-ai/DeepSeek-V4-Flash", 4)
    analysis = api.analyze(
        layer, "h200-sxm", batch=2, prompt_len=2048, gen_len=1, engine="vllm", tp=8,
        flash_attention=True, kv_bits=8, w_bits=8, a_bits=8, w_format="fp", w_scale=128 * 128,
    )  # fmt: skip
    rows = [r for r in api.operator_rows(analysis) if r["stage"] == "prefill"]
    assert {"indexer_scores", "compressed_attention", "kv_compressor"} <= {r["name"] for r in rows}
    expected = sum(r["time"] for r in rows if r["name"] in script.DSV4_MODULE)
    assert checked["priced"].iloc[0] == pytest.approx(expected, rel=1e-9)
    bands = script.dsv4_bands(checked)
    assert bands.loc[0, "513-4,096 tokens"] == pytest.approx(expected / 3.0e-3)
    hca = aic.module_layer("deepseek-ai/DeepSeek-V4-Flash", 128)
    names = {r["name"] for r in api.operator_rows(api.analyze(hca, "h200-sxm", gen_len=1))}
    assert "compressed_attention" in names and "indexer_scores" not in names
