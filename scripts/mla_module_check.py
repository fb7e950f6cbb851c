"""Does a latent-attention layer take the sum of its operators' times? A check on operator data
the engine profiles are not fitted on: aiconfigurator's MLA module tables.

    python scripts/mla_module_check.py DATA_DIR

aiconfigurator times DeepSeek-V3's whole attention module, norm to norm (q_a, its norm, q_b,
kv_a, its norm, rotary, attention, o_proj: `mla_context_module` and `mla_generation_module`),
with TensorRT-LLM and vLLM, at 1 to 128 heads on one GPU (a TP shard of the 128), 16-bit or
block-FP8 GEMMs and a 16-bit or FP8 KV cache; and SGLang's module as its attention-DP ranks
run it (`wideep_context_mla`, `wideep_generation_mla`: 16 to 128 heads, block-FP8 GEMMs, an FP8
KV cache), whose collector feeds the module a random latent in place of the fused q_a and
kv_a projection (aiconfigurator's collector/sglang/collect_wideep_attn.py), so those two are
not priced for it. The engine profiles fit the kernels' own tables
(GEMMs, `context_mla`/`generation_mla`, or attention where an engine has no MLA table), not
these; DeepSeek-V3.2's sparse-attention modules are in sample for TensorRT-LLM and vLLM, whose
`dsa` curves are fitted on them less their other operators, and DeepSeek-V4's prefill modules
for every engine (`compressed_prefill`).
Each module row is priced here as the shipped profile of its engine and system prices
the same operators at the same shard, and the ratio priced / measured summarised per system,
engine and phase: a ratio below 1 is time the module takes that its operators' tables do not
hold. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rooflens import api
from rooflens.calibration import aiconfigurator as aic
from rooflens.core.errors import RooflensError
from rooflens.core.model import ModelSpec
from rooflens.engines import load_engine_profile
from rooflens.measure.validate_engines import QUANT_MODES, _markdown, catalog_device

MODEL = "deepseek-ai/DeepSeek-V3"
HEADS = 128  # DeepSeek-V3's attention heads: a row's num_heads is a TP shard of them
# The operators of one layer the module holds: between the add-norms around attention.
MODULE = ("q_a_proj", "q_a_norm", "q_b_proj", "kv_a_proj", "kv_a_norm", "latent_attention",
          "o_proj")  # fmt: skip
# SGLang's collector replaces the fused q_a / kv_a projection with a random latent.
SGLANG_MODULE = tuple(name for name in MODULE if name not in ("q_a_proj", "kv_a_proj"))
# Per engine: its module tables (prefill, decode) and the operators they hold.
ENGINES = {
    "trtllm": (("mla_context_module_perf", "mla_generation_module_perf"), MODULE),
    "vllm": (("mla_context_module_perf", "mla_generation_module_perf"), MODULE),
    "sglang": (("wideep_context_mla_perf", "wideep_generation_mla_perf"), SGLANG_MODULE),
}
# Prompt tokens per row (batch x isl) of the prefill bands `by_tokens` reports.
TOKEN_BANDS = (0, 512, 4096, np.inf)
# A row's GEMM type -> the quantization it prices with.
GEMMS = {"bfloat16": QUANT_MODES["bf16"], "fp8_block": QUANT_MODES["fp8_block"]}
SYSTEMS = ("h100_sxm", "h200_sxm", "b200_sxm", "b300_sxm", "gb200", "gb300")


def module_times(
    rows: pd.DataFrame,
    device: str,
    engine: str,
    decode: bool,
    module: tuple[str, ...] = MODULE,
    model: str | ModelSpec = MODEL,
    heads_of_model: int = HEADS,
) -> np.ndarray:
    """Each row's time (s) as the engine's shipped profile prices the `module` operators of
    `model` (whose `heads_of_model` heads a row's num_heads is a TP shard of): a prefill of
    batch_size x isl tokens, or one decode step of batch_size sequences at `step` tokens of
    context; NaN for a GEMM type not priced here."""
    out = np.full(len(rows), np.nan)
    keys = ["gemm_type", "kv_cache_dtype", "num_heads"]
    for (gemm, kv, heads), part in rows.groupby(keys, sort=False):
        if gemm not in GEMMS or heads_of_model % int(heads):
            continue
        # fp8 or fp8_e4m3, as the tables name it
        settings = GEMMS[gemm] | {"kv_bits": 8 if str(kv).startswith("fp8") else 16}
        batch = part["batch_size"].to_numpy(float)
        context = part["isl"].to_numpy(float)
        if decode:  # the context of a decode row: `step`, or SGLang's tables' `isl` (step 0)
            step = part["step"].to_numpy(float)
            context = np.where(step > 0, step, context)
        analysis = api.analyze(
            model, device, batch=batch, prompt_len=context, gen_len=2 if decode else 1,
            engine=engine, tp=heads_of_model // int(heads), flash_attention=True, **settings,
        )  # fmt: skip
        step = analysis.steps["decode" if decode else "prefill"]
        picked = [i for i, name in enumerate(step.names) if name in module]
        times = np.broadcast_to(np.asarray(step.time, float)[picked].T, (len(part), len(picked)))
        out[rows.index.get_indexer(part.index)] = times.sum(axis=1)
    return out


def check(root: Path, system: str, engine: str) -> pd.DataFrame:
    """The module rows of one system and engine, measured and priced (s), by phase."""
    tables, module = ENGINES[engine]
    folder = aic.pick_version(root, system, "mla", engine, None, tables)
    if folder is None:
        return pd.DataFrame()
    device = catalog_device(system).name
    frames = []
    for table, decode in zip(tables, (False, True), strict=True):
        rows = aic.read_table(folder, table)
        if rows is None:
            continue
        rows = rows[(rows["model"] == MODEL) & (rows["latency"] > 0)].reset_index(drop=True)
        rows = rows.assign(
            phase="decode" if decode else "prefill",
            measured=rows["latency"] * 1e-3,
            priced=module_times(rows, device, engine, decode, module),
        )
        frames.append(rows.assign(system=system, engine=engine, version=folder.name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summary(checked: pd.DataFrame) -> pd.DataFrame:
    """Priced / measured per system, engine and phase: rows, median, 10th and 90th
    percentiles."""
    ratio = checked.assign(ratio=checked["priced"] / checked["measured"]).dropna(subset=["ratio"])
    return (
        ratio.groupby(["system", "engine", "version", "phase"])["ratio"]
        .agg(
            rows="size",
            median="median",
            p10=lambda r: r.quantile(0.1),
            p90=lambda r: r.quantile(0.9),
        )
        .reset_index()
    )


def by_tokens(checked: pd.DataFrame) -> pd.DataFrame:
    """Prefill's priced / measured (median) per system and engine in bands of the row's
    prompt tokens (TOKEN_BANDS): short prefills show time around the kernels, long ones the
    kernels' own."""
    prefill = checked[checked["phase"] == "prefill"]
    ratio = prefill.assign(
        ratio=prefill["priced"] / prefill["measured"],
        tokens=pd.cut(prefill["batch_size"] * prefill["isl"], TOKEN_BANDS),
    ).dropna(subset=["ratio"])
    table = ratio.pivot_table(
        index=["system", "engine", "version"], columns="tokens", values="ratio",
        aggfunc="median", observed=True,
    )  # fmt: skip
    table.columns = [_band(c) for c in table.columns]
    return table.reset_index()


def _band(interval: pd.Interval) -> str:
    low, high = int(interval.left) + 1, interval.right
    return f"{low:,} tokens and more" if np.isinf(high) else f"{low:,}-{int(high):,} tokens"


# GLM-5's sparse latent attention as SGLang runs it (flash_mla_sparse_fwd), timed alone at 64
# heads on one GPU: `glm5_dsa_attn_module` rows, a prefill of `isl` tokens where step is 0.
DSA_MODEL = "zai-org/GLM-5"
DSA_TABLE = "glm5_dsa_attn_module_perf"
DSA_HEADS = 64  # GLM-5's attention heads


def dsa_check(root: Path, system: str) -> pd.DataFrame:
    """GLM-5's sparse attention kernel rows of one system (one sequence, prefill), measured and
    as SGLang's shipped profile prices the `latent_attention` operator (s); empty without the
    table."""
    folder = aic.pick_version(root, system, "sparse_attention", "sglang", None, (DSA_TABLE,))
    rows = aic.read_table(folder, DSA_TABLE) if folder else None
    if rows is None:
        return pd.DataFrame()
    rows = rows[(rows["latency"] > 0) & (rows["step"] == 0) & (rows["batch_size"] == 1)]
    keys = ["gemm_type", "kv_cache_dtype", "num_heads", "batch_size", "isl"]
    rows = rows.groupby(keys, as_index=False)["latency"].median()
    priced = module_times(
        rows, catalog_device(system).name, "sglang", False, ("latent_attention",), DSA_MODEL,
        DSA_HEADS,
    )  # fmt: skip
    return rows.assign(system=system, measured=rows["latency"] * 1e-3, priced=priced)


# DeepSeek-V3.2's whole sparse-attention module as each engine runs it, norm to norm with its
# indexer: `dsa_context_module` (prompts of `isl` tokens, step 0 rows with nothing cached) and
# `dsa_generation_module` (one token each after `step` cached).
DSA_MODULE_MODEL = "deepseek-ai/DeepSeek-V3.2"
DSA_MODULE_TABLES = ("dsa_context_module_perf", "dsa_generation_module_perf")
DSA_MODULE = (*MODULE, "indexer_q_proj", "indexer_k_proj", "indexer_k_norm",
              "indexer_weights_proj", "indexer_scores")  # fmt: skip
# Prompt (or context) lengths of the bands `dsa_bands` reports: up to the indexer's 2,048 keys
# (where SGLang's table runs dense MHA prefills) and beyond.
DSA_BANDS = (0, 2048, np.inf)


def dsa_module_check(root: Path, system: str, engine: str, decode: bool = False) -> pd.DataFrame:
    """DeepSeek-V3.2's sparse-attention module rows of one system and engine (a prefill with
    nothing cached, or with `decode` one step after `step` cached tokens), measured and priced
    as the engine's shipped profile prices the module's operators, indexer included (s), with
    the row's `context` (its prompt, or its cached tokens); empty without the table. A row's
    GEMM and KV-cache types set the analysis'."""
    device = catalog_device(system).name
    try:  # the tables of the release the shipped profile holds, else the nearest
        release = load_engine_profile(engine, device).engine_version
    except RooflensError:
        return pd.DataFrame()
    table = DSA_MODULE_TABLES[decode]
    folder = aic.pick_version(root, system, "sparse_attention", engine, release, (table,))
    rows = aic.read_table(folder, table) if folder else None
    if rows is None:
        return pd.DataFrame()
    phase = (rows["step"] > 0) if decode else (rows["step"] == 0)
    rows = rows[(rows["latency"] > 0) & phase & (rows["model"] == DSA_MODULE_MODEL)]
    keys = ["gemm_type", "kv_cache_dtype", "num_heads", "batch_size", "isl", "step"]
    rows = rows.groupby(keys, as_index=False)["latency"].median()
    out = module_times(rows, device, engine, decode, DSA_MODULE, DSA_MODULE_MODEL)
    return rows.assign(
        system=system, engine=engine, version=folder.name, measured=rows["latency"] * 1e-3,
        priced=out, context=rows["step" if decode else "isl"],
    ).dropna(subset=["priced"])  # fmt: skip


def dsa_bands(checked: pd.DataFrame, lengths: str = "prompts") -> pd.DataFrame:
    """Priced / measured (median) per system and engine, by the rows' `context` (DSA_BANDS),
    the columns naming them `lengths`."""
    ratio = checked.assign(
        ratio=checked["priced"] / checked["measured"], band=pd.cut(checked["context"], DSA_BANDS)
    )
    table = ratio.pivot_table(
        index=["system", "engine", "version"], columns="band", values="ratio",
        aggfunc="median", observed=True,
    )  # fmt: skip
    table.columns = [
        f"{lengths} of at most {int(c.right):,} tokens" if np.isfinite(c.right)
        else f"{lengths} of more than {int(c.left):,} tokens"
        for c in table.columns
    ]  # fmt: skip
    return table.reset_index()


# DeepSeek-V4's attention modules as each engine runs them (q_a to o_proj with the compressor,
# and in CSA layers the indexer; not the hyper-connections or the norm before): CSA layers
# (compress ratio 4) and HCA layers (128), a prefill with nothing cached or one decode step
# after `step` cached, at `num_heads` of the model's heads on one device. aiconfigurator's
# rows name sgl-project's FP8 conversions; each is priced as one layer of that kind of the
# bundled config.
DSV4_MODELS = aic.DSV4_MODULES.models
DSV4_KINDS = {"csa": 4, "hca": 128}
DSV4_MODULE = (*aic.DSV4_MODULES.others, aic.DSV4_MODULES.attention)
# Prompt tokens per row (batch x isl) of the bands `dsv4_bands` reports.
DSV4_BANDS = (0, 512, 4096, np.inf)


def dsv4_module_check(root: Path, system: str, engine: str, decode: bool = False) -> pd.DataFrame:
    """DeepSeek-V4's attention module rows of one system and engine, CSA and HCA, measured and
    priced as the engine's shipped profile prices the module's operators (s), with the row's
    `kind` and `context`; empty without the tables."""
    device = catalog_device(system).name
    try:  # the tables of the release the shipped profile holds, else the nearest
        release = load_engine_profile(engine, device).engine_version
    except RooflensError:
        return pd.DataFrame()
    phase = "generation" if decode else "context"
    frames = []
    for kind, ratio in DSV4_KINDS.items():
        table = f"dsv4_{kind}_{phase}_module_perf"
        folder = aic.pick_version(root, system, "sparse_attention", engine, release, (table,))
        rows = aic.read_table(folder, table) if folder else None
        if rows is None:
            continue
        wanted = (rows["step"] > 0) if decode else ((rows["step"] == 0) & (rows["isl"] > 1))
        rows = rows[(rows["latency"] > 0) & wanted & rows["model"].isin(DSV4_MODELS)]
        keys = ["model", "gemm_type", "kv_cache_dtype", "num_heads", "batch_size", "isl", "step"]
        rows = rows.groupby(keys, as_index=False)["latency"].median()
        for name, part in rows.groupby("model", sort=False):
            part = part.reset_index(drop=True)
            layer = aic.module_layer(DSV4_MODELS[str(name)], ratio)
            priced = module_times(part, device, engine, decode, DSV4_MODULE, layer, layer.num_heads)
            frames.append(part.assign(
                system=system, engine=engine, version=folder.name, kind=kind,
                measured=part["latency"] * 1e-3, priced=priced,
                context=part["step"] if decode else part["batch_size"] * part["isl"],
            ))  # fmt: skip
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).dropna(subset=["priced"])


def dsv4_bands(checked: pd.DataFrame) -> pd.DataFrame:
    """Priced / measured (median) per system, engine and layer kind in bands of the rows'
    `context` (DSV4_BANDS: prompt tokens of a prefill, cached tokens of a decode step)."""
    ratio = checked.assign(
        ratio=checked["priced"] / checked["measured"],
        band=pd.cut(checked["context"], DSV4_BANDS),
    )
    table = ratio.pivot_table(
        index=["system", "engine", "version", "kind"], columns="band", values="ratio",
        aggfunc="median", observed=True,
    )  # fmt: skip
    table.columns = [_band(c) for c in table.columns]
    return table.reset_index()


def every_system(
    check: Callable[[Path, str, str, bool], pd.DataFrame], root: Path, decode: bool
) -> pd.DataFrame:
    """`check`'s rows of every system and engine, in one frame (empty where none has them)."""
    found = [check(root, system, engine, decode) for system in SYSTEMS for engine in ENGINES]
    found = [c for c in found if not c.empty]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="aiconfigurator's systems/data folder")
    args = parser.parse_args()
    checked = [check(args.data, system, engine) for system in SYSTEMS for engine in ENGINES]
    every = pd.concat([c for c in checked if not c.empty], ignore_index=True)
    print(_markdown(summary(every)))
    print()
    print(_markdown(by_tokens(every)))
    sparse = [dsa_check(args.data, system) for system in SYSTEMS]
    sparse = [c for c in sparse if not c.empty]
    if sparse:
        dsa = pd.concat(sparse, ignore_index=True)
        dsa["priced / measured"] = dsa["priced"] / dsa["measured"]
        table = dsa.pivot_table(
            index="system", columns="isl", values="priced / measured", aggfunc="median"
        )
        table.columns = [f"{int(c):,} tokens" for c in table.columns]
        print()
        print(_markdown(table.reset_index()))
    for decode, lengths in ((False, "prompts"), (True, "contexts")):
        checked = every_system(dsa_module_check, args.data, decode)
        if not checked.empty:
            print()
            print(_markdown(dsa_bands(checked, lengths)))
    for decode in (False, True):
        checked = every_system(dsv4_module_check, args.data, decode)
        if not checked.empty:
            print()
            print(_markdown(dsv4_bands(checked)))


if __name__ == "__main__":
    main()
