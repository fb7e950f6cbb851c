"""Fit an engine profile from the operator databases of `aiconfigurator-core` (Apache-2.0).

The package ships per-operator latencies measured with each serving engine:
`systems/data/<system>/<op>/<engine>/<version>/<table>.parquet` beside a `collection_meta.yaml`.
Each row is one kernel (a GEMM, an attention call, a fused MoE layer, a collective) at one size.
The fit prices every row with rooflens's own operator formulas (so the roofline it compares to
is the one pricing uses), then, per operator class and data type:

1. Fixed time per kernel, per class and data type: the 1st percentile of the rows' time beyond
   their roofline bound (launch, ramp-up and drain inside a CUDA graph, which the engines
   capture decode steps in, plus what every kernel of the kind adds, like an FP8 GEMM's
   quantization of its input where the tables do not time that pass apart: SGLang's).
2. Achieved fractions: a row bound by compute on the roofline gives (OPs / peak) / (time -
   fixed) at its OPs, one bound by memory (bytes / bandwidth) / (time - fixed) at its bytes;
   per quarter-decade bin the median, capped at 1 (an engine kernel never beats the roofline
   bound).
3. MoE layers: per layer shape the tables time on a device, the achieved fraction of each row
   against its tokens per expert (medians), which prices that shape in place of the grids.
4. Collectives: median time per message size, per kind and group size, kept as a log-log table.

Two departures from reading each table as its type's kernels, each stated in the profile's
`fallbacks`: a GEMM table whose floor is GEMM_FLOOR_RATIO times the bf16 GEMMs' is not fitted
(its type takes DTYPE_FALLBACK's curves), and where an engine documents running another MoE
kernel for a type on a system (MOE_KERNELS) that kernel's rows fit the type's curves.

Rooflens does not need the package to run: it is read only to refit (`rooflens calibrate
--from-aiconfigurator`); tables are read from parquet (pyarrow) or, for tests, CSV.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from rooflens.calibration.fit import BIN_WIDTH, curve, monotone_time
from rooflens.core.efficiency import (
    DTYPE_FALLBACK,
    PARENT_CLASS,
    PHASE_OF,
    SCAN_CLASSES,
    SUBCLASS_OF,
    WEIGHT_DOMINATED,
    WIDE,
    WIDE_GROUP,
    ClassEfficiency,
    CollectiveCurve,
    CollectiveTable,
    EfficiencyCurve,
    EngineProfile,
    LayerCurve,
    ShapeGrid,
    by_shape,
    expert_layer,
    memory_by_shape,
    sequence_heads,
)
from rooflens.core.errors import InvalidInputError, RooflensError
from rooflens.core.hardware import Device
from rooflens.core.mixers import Mixer, StateScan, mixer_operators
from rooflens.core.model import ModelSpec
from rooflens.core.operators import (
    Cost,
    ExpertLinear,
    FlashAttention,
    LatentAttention,
    Linear,
    Precision,
    Step,
)
from rooflens.core.options import Conventions, Quantization
from rooflens.core.pricing import QUANTIZE_BYTES, quantize_pass_time
from rooflens.engines import MODULES, nearest_version, version_key
from rooflens.settings import engine_name

PACKAGE = "aiconfigurator-core"
ENGINES = tuple(MODULES)  # the serving engines, each with its module
# rooflens device name -> aiconfigurator system folder.
SYSTEMS = {
    "h100-sxm": "h100_sxm",
    "h200-sxm": "h200_sxm",
    "b200": "b200_sxm",
    "b300": "b300_sxm",
    "gb200": "gb200",
    "gb300": "gb300",
}
# aiconfigurator type names -> rooflens quantization settings (weights, activations, format).
GEMM_TYPES = {
    "bfloat16": ("bf16", Quantization()),
    "fp8": ("fp8", Quantization(w_bits=8, a_bits=8, w_format="fp")),
    "fp8_block": ("fp8_block", Quantization(w_bits=8, a_bits=8, w_format="fp", group_size=128)),
    # NVFP4: an FP8 scale per 16 FP4 weights, 4.5 bits a weight, as checkpoints store it
    # (until 2026-12-05 read as MXFP4's 4.25, which left the fitted fractions of its
    # memory-bound GEMMs 6 % below what an NVFP4 weight's bytes give).
    "nvfp4": ("fp4", Quantization(w_bits=4, a_bits=4, w_format="nvfp4")),
}
# MXFP4 experts run by Marlin, where an engine is told to (vLLM's VLLM_MXFP4_USE_MARLIN=1):
# the Marlin rows of the MXFP4 table at the layer shapes its own MXFP4 kernel is timed at
# (gpt-oss's, the checkpoints rooflens serves as MXFP4). H100/H200/B200-class tables time
# Marlin only on another checkpoint format and layer (compressed-tensors MXFP4, 896 experts,
# top 16). Their tensor-parallel rows (expert parallelism 1, as the launches run gpt-oss) time
# Marlin's compute-bound rate, a property of the kernel (BF16 tensor cores fed by in-loop
# dequantization: a median 0.18 of the BF16 peak at 3k-16k tokens on the H200, where gpt-oss's
# Triton kernel reaches 0.37); its memory-bound expert GEMMs take the MXFP4 type's curves
# (`marlin_compute_bound`) and layers (MEMORY_LAYERS_OF), an upper bound: vLLM measured
# Marlin the faster of the two on gpt-oss-120b's decode (vllm-project/vllm#27523), and the
# other layer's rows priced gpt-oss's decode experts at up to twice the Triton kernel's time.
# Without Marlin rows the type falls back to the MXFP4 curves.
MARLIN_MXFP4 = "w4a16_mxfp4:marlin"
MOE_TYPES = GEMM_TYPES | {
    "w4a16_mxfp4": ("w4a16", Quantization(w_bits=4, w_format="mxfp4", group_size=32)),
    MARLIN_MXFP4: (
        "w4a16_marlin",
        Quantization(w_bits=4, w_format="mxfp4", group_size=32, w4_kernel="marlin"),
    ),
    # Per-tensor FP8 experts with their activations' scales stored (ModelOpt's checkpoints):
    # fitted only where an engine's kernel for them differs from its kernel for dynamic scales
    # (online_fp8_kernels); elsewhere they take the fp8 curves (DTYPE_FALLBACK).
    "fp8_static": ("fp8_static", Quantization(w_bits=8, a_bits=8, w_format="fp", a_scale="static")),
    # INT4 weight-only experts (compressed-tensors' WNA16 as Kimi K2's checkpoints store them):
    # Marlin kernels, priced apart from MXFP4's (w4a16_int; rooflens.core.pricing).
    "int4_wo": (
        "w4a16_int",
        Quantization(w_bits=4, w_format="int", group_size=32, w_zero_point=False),
    ),
}
# MXFP4 experts: the engines run gpt-oss's format (quant_method mxfp4, the checkpoints rooflens
# bundles) with their own kernels (vLLM's kernel_source "gptossmxfp4moe_flashinfer_trtllm"
# on Blackwell, "..._triton" on Hopper) and other MXFP4 formats (compressed-tensors) with
# Marlin; a table holding both fits the former.
MXFP4_OTHER_KERNEL = "marlin"
# TensorRT-LLM's NVFP4 tables time two kernels for one cell, 3-4 times apart at few tokens:
# the CUTLASS MoE and its low-latency mode (`cutlass_min_latency_mode`). Up to this many
# tokens the low-latency kernel's rows stand for the cell, as aiconfigurator's own TensorRT-LLM
# path reads them (its low-latency grid first for gated NVFP4 MoE of at most 128 tokens), and
# as InferenceX's DeepSeek-R1 FP4 scripts launch a low-latency backend
# (`moe_config.backend: TRTLLM`) at few clients; beyond it the other kernels' rows.
LOW_LATENCY_KERNEL = "moe_torch_flow_min_latency"
# An engine's attention kernels where its tables time several for one shape: SGLang runs
# FlashAttention 3 for MHA on Hopper and TensorRT-LLM's kernels on Blackwell unless told
# otherwise (server_args.py, `_get_default_attn_backend`); its Blackwell tables also time
# Triton's (1.2 times as long at the median shared decode shape, 3.4 times in prefill) and
# FlashInfer's.
ATTENTION_KERNELS = {"sglang": ("fa3", "trtllm_mha")}
ATTENTION_SHAPE = ("batch_size", "isl", "step", "num_heads", "num_key_value_heads", "head_dim")
# A MoE table row's layer shape and layout.
MOE_LAYER = ("hidden_size", "inter_size", "topk", "num_experts")  # a model's layer, whole
MOE_SHAPE = (*MOE_LAYER, "moe_tp_size", "moe_ep_size")
# The tables' layers whose experts are not gated, two GEMMs (up, then down) and no gate:
# Nemotron-3's ReLU² experts (inter, top-k, experts), Nano's 1856 x k6 of 128 and the k22 of
# 512 layers at latent widths 1,024-8,192 (aiconfigurator's NemotronH model builds them
# `is_gated=False`). Read as gated they were impossible: at every expert reached, the
# H100/H200/B200 rows of every engine took 0.72-0.98 of the time a gated layer's weights take
# to stream at the peak bandwidth, and their fractions met the cap of 1.
NON_GATED_LAYERS = frozenset({(1856, 6, 128), (2688, 22, 512), (5120, 22, 512)})
LOW_LATENCY_TOKENS = 128
# The MoE kernel an engine runs for a type on some systems, where its documentation names one
# other than the type's own table: TensorRT-LLM runs MXFP4 experts with MXFP8 activations on
# Blackwell (its GPT-OSS deployment guide, "MoE Backend Support Matrix": B200/GB200/B300/GB300
# MXFP8 activations, MXFP4 weights, TRTLLM backend, the default; H200: BF16 activations,
# TRITON). Those rows are priced as the W4A16 operator rooflens prices such experts as, so the
# fitted fractions are of that operator's roofline.
BLACKWELL = ("b200_sxm", "b300_sxm", "gb200", "gb300")
MOE_KERNELS = {("trtllm", system): {"w4a16_mxfp4": "w4a8_mxfp4_mxfp8"} for system in BLACKWELL}
# vLLM picks its FP8 MoE kernel by the scales (fused_moe/oracle/fp8.py,
# select_fp8_moe_backend): FlashInfer's CUTLASS and TensorRT-LLM kernels first, but they take
# static per-tensor activation scales only, so experts quantized online (dynamic scales, as
# rooflens' fp8 means on vLLM) run Triton's fused MoE (TritonExperts). Where a table times
# per-tensor FP8 only on FlashInfer's kernels (ModelOpt's static-scale path: vLLM 0.24's H100
# and H200 tables, 2.4-4.1 times the bf16 rows' time at 1-64 tokens on a 2048x768 layer of
# 128 experts) and block-scaled FP8 on another (Triton's), the block rows stand for dynamic
# per-tensor experts and the per-tensor rows price static ones (`online_fp8_kernels`). Its
# Blackwell tables time block-scaled FP8 on FlashInfer's kernel too: no Triton FP8 row, so
# the per-tensor rows price both there; older tables time both on Triton's.
# Where each engine's choice of MoE kernel above is stated, by engine and type.
MOE_KERNEL_SOURCES = {
    ("trtllm", "w4a16_mxfp4"): "its documentation",
    ("vllm", "fp8"): "its FP8 MoE oracle: FlashInfer's FP8 MoE kernels take static activation "
    "scales only, so experts quantized online run Triton's",
    ("vllm", "fp8_static"): "its FP8 MoE oracle: FlashInfer's CUTLASS kernel for static "
    "activation scales, as ModelOpt's checkpoints load",
}
# GEMM types whose rows an engine's tables time at a kernel choice its serving does not run,
# and the engine whose rows of the same system stand in. TensorRT-LLM picks its NVFP4 GEMM's
# kernel and tactic with its autotuner (`trtllm::nvfp4_gemm`, AutoTuner.choose_one), which
# serving runs at start-up (`PyTorchModelEngine._run_autotuner_warmup`; `enable_autotuner`
# defaults to true), while aiconfigurator's GEMM collector (collector/trtllm/collect_gemm.py)
# times it outside `autotune()`, at the untuned default; its MoE collector tunes. On the
# B200 tables its NVFP4 rows take 1.36 times vLLM's at m <= 16 (1.14 at m >= 4,096), where
# their bf16 rows (cuBLAS in both) agree within 2 %. vLLM's rows time the same work (the
# input's NVFP4 quantization and the GEMM) on FlashInfer's kernel at its heuristic choice:
# vLLM also autotunes FlashInfer's kernels at start-up (kernel_warmup.flashinfer_autotune)
# and aiconfigurator's vLLM collector does not either, so they may still be slower than served.
GEMM_STAND_INS = {"trtllm": {"nvfp4": "vllm"}}
# MoE kernels an engine runs when its launch says so (rooflens' w4_kernel setting) that its own
# tables time only at other layers, and the engine whose tables of the same system time them
# at the layers the checkpoints rooflens serves that way have: vLLM's
# VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 (which InferenceX's gpt-oss scripts for B200 export)
# runs MXFP4 experts on FlashInfer's TensorRT-LLM-gen kernel with MXFP8 activations; its
# Blackwell tables time that kernel on two other layers only (4096x2048, 256 experts; 7168x3072,
# 384), SGLang's time it through the same FlashInfer call (kernel_source
# "sglang_flashinfer_trtllm_moe") at gpt-oss's layers. Priced as the W4A16 operator rooflens
# prices MXFP4 experts as, as MOE_KERNELS prices TensorRT-LLM's rows of that kernel.
# engine, system -> the type rooflens prices -> (the MOE_TYPES type whose operator prices the
# rows, the table's type, the standing-in engine, its kernel).
#
# TensorRT-LLM's FP8 block-scale experts on Blackwell: its tables time DeepGEMM's grouped GEMM
# (aiconfigurator's collector sets moe_backend "deepgemm" for fp8_block on SM100/103), while
# its serving resolves such experts to TensorRT-LLM-gen's kernels there (TRTLLMGenFusedMoE:
# resolve_moe_backend, which that collector's comment cites) and InferenceX's DeepSeek-R1 FP8
# scripts for B200 set `moe_config.backend: TRTLLM` from 2026-01-29. FlashInfer's
# trtllm_fp8_block_scale_moe runs those kernels; SGLang's Blackwell tables time it
# (`--moe-runner-backend flashinfer_trtllm`) at DeepSeek-V3's layer, where vLLM 0.24.0's B200
# table times the same call at 1.02 times them (median of 1,053 shared cells) and both take
# 0.3-0.5 times DeepGEMM's time at 1-256 tokens under MoE TP 8. FlashInfer's launcher
# (csrc/trtllm_fused_moe_kernel_launcher.cu) runs TensorRT-LLM's trtllmgen_moe code, vendored.
MOE_STAND_INS = {
    ("vllm", system): {
        "w4a8_mxfp8": (
            "w4a16_mxfp4", "w4a8_mxfp4_mxfp8", "sglang", "sglang_flashinfer_trtllm_moe"
        )
    }
    for system in BLACKWELL
} | {
    ("trtllm", system): {
        "fp8_block_trtllm_gen": (
            "fp8_block", "fp8_block", "sglang", "sglang_flashinfer_trtllm_moe"
        )
    }
    for system in BLACKWELL
}  # fmt: skip
KV_TYPES = {"bfloat16": ("bf16", 16), "fp8": ("fp8", 8)}
# Bytes per element of a collective's message (aiconfigurator counts elements).
COMM_BYTES = {"half": 2, "bfloat16": 2, "int8": 1}
NCCL_KINDS = {"all_reduce": "all_reduce", "all_gather": "all_gather", "alltoall": "all_to_all"}
# DeepSeek-V3 latent attention, the only geometry the MLA tables measure (its config.json).
MLA_DIMS = {"head_dim": 192, "rope_dim": 64, "v_dim": 128, "kv_lora": 512}
# Prefill rows timed on the absorbed kernel's shapes, by (framework, kernel_source): SGLang's
# collector, off Blackwell, runs its context rows with queries kv_lora + rope wide over one
# shared latent key and kv_lora-wide values (aiconfigurator's collector/sglang/collect_mla.py:
# head_dim_total 576, v_head_dim 512), while SGLang's Hopper prefills run the decompressed
# form (192-wide heads, 128-wide values): its own attention module table (0.5.10, fa3) times an
# 8,192-token prefill of 128 heads on the H200 at 6.4 ms, the context rows (0.5.14, FP8 cache)
# at 15.3 ms for the kernel alone. The collector picks the form by GPU generation and names the
# Hopper rows' backend `flash_attention`; rows it named otherwise would be read as decompressed.
ABSORBED_CONTEXT_ROWS = {("SGLang", "flash_attention")}
# A GEMM table whose fastest kernel is this many times the engine's fastest bf16 GEMM is not
# a kernel's time: vLLM 0.24.0's fp8_block tables start at 55-240 us whatever the shape, while
# every other GEMM table of every engine here starts at 2-12 us (host time around the call,
# which the engines' CUDA graphs leave out). Such a table is not fitted; its type falls back.
GEMM_FLOOR_RATIO = 10.0
HOLDOUT = 2  # every other shape is held out to measure the fit's error
FLOOR = 1e-4  # smallest fraction kept: tiny kernels reach a few thousandths of a peak
MIN_ROWS = 20  # fewer measured rows than this fit nothing: the class falls back


class AiconfiguratorMissing(RooflensError):
    """Neither the package nor a --data-dir: nothing to fit from."""


@dataclass(frozen=True)
class Samples:
    """Rows of one operator class and data type, priced on rooflens's roofline."""

    op_class: str
    dtype: str
    peak_dtype: str
    ops: np.ndarray
    memory: np.ndarray
    time: np.ndarray
    sizes: np.ndarray  # a row's shape key: held-out rows are every other distinct shape
    kernels: int = 1  # kernels each row times one after another (its `fixed` is per kernel)
    # The shape grids' second axis: GEMMs' k / n, expert GEMMs' tokens routed to each expert,
    # recurrent scans' OPs per byte, attention's bytes per sequence and head (sequence_heads).
    aspect: np.ndarray | None = None
    # Which way an empty grid cell is filled first: from its size's other shapes ("ratio"), or
    # from its shape's other sizes ("size": a scan's decode steps and prefills differ more
    # than its sizes do, so a size measured only in prefill must not lend its fraction to a
    # decode step; an expert GEMM's load, tokens per expert, more than its bytes do).
    fill_first: Literal["ratio", "size"] = "ratio"
    # GEMM rows: the share of each row's bytes that are its weights, which parts the memory
    # grids (ClassEfficiency.activation_grid); None: one memory grid.
    weight_share: np.ndarray | None = None
    # Recurrent scans: the width of the state the rows carried (ClassEfficiency.state_bits).
    state_bits: int | None = None

    @property
    def family(self) -> str:
        """The engine class these rows price ("attention" of "attention_prefill")."""
        return self.op_class.split("_")[0]


def data_root(data_dir: Path | None = None) -> Path:
    """The `systems/data` folder: --data-dir, else the installed package's."""
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise InvalidInputError("data_dir", str(data_dir), "a folder of <system>/<op> tables")
        return Path(data_dir)
    try:
        import aiconfigurator_core  # type: ignore[import-not-found]
    except ImportError:
        raise AiconfiguratorMissing(
            f"fitting engine profiles reads the {PACKAGE} databases (parquet): pip install "
            f"{PACKAGE} pyarrow, or rooflens[aiconfigurator] (or give --data-dir)"
        ) from None
    return Path(aiconfigurator_core.__file__).parent / "systems" / "data"


# How a tables folder is laid out (aiconfigurator-core's systems/data), for a refusal to show.
TABLES_LAYOUT = "<system>/<op>/<engine>/<version>/<table>.parquet"


def systems_held(root: Path) -> list[str]:
    """The folders of `root` that hold at least one operator table where TABLES_LAYOUT puts
    them (every table of the package is named `<op>_perf`; parquet, or CSV for tests): any
    other folder is no system (a --data-dir of /tmp named each of its folders one)."""
    return sorted(
        system.name
        for system in root.iterdir()
        if system.is_dir()
        and any(
            next(system.glob(f"*/*/*/*_perf.{kind}"), None) is not None
            for kind in ("parquet", "csv")
        )
    )


def pick_version(
    root: Path, system: str, op: str, engine: str, version: str | None, tables: tuple[str, ...]
) -> Path | None:
    """The folder of `op` measured with `engine` that holds one of `tables`: the release
    `nearest_version` picks for `version` among those measured, else (no version, or none
    at or after it) the newest."""
    folder = root / system / op / engine
    if not folder.is_dir():
        return None
    found = {p.name: p for p in folder.iterdir() if any(_has_table(p, t) for t in tables)}
    if not found:
        return None
    chosen = None if version is None else nearest_version(version, tuple(found))
    return found[chosen or max(found, key=version_key)]


# The tables whose older measurements make a profile of their own (`older_versions`): the
# kernels most layers run. Collectives and the recurrent scans alone do not.
VERSIONED_TABLES = (
    ("gemm", "gemm_perf"),
    ("attention", "context_attention_perf"),
    ("attention", "generation_attention_perf"),
    ("moe", "moe_perf"),
    ("mla", "context_mla_perf"),
    ("mla", "generation_mla_perf"),
)


def table_versions(root: Path, system: str, engine: str) -> list[str]:
    """Every release of `engine` some table of `system` was measured with, oldest first."""
    found = {
        release.name
        for op in (root / system).iterdir()
        if (op / engine).is_dir()
        for release in (op / engine).iterdir()
        if release.is_dir()
    }
    return sorted(found, key=version_key)


def older_versions(root: Path, system: str, engine: str) -> list[str]:
    """The engine's versions before its newest GEMM tables' (the default profile's) at which
    `system`'s databases time GEMMs, attention, MoE or latent attention: each gets a profile
    of its own (`shipped_profiles`), its other tables taken as `pick_version` takes them."""
    newest = pick_version(root, system, "gemm", engine, None, ("gemm_perf",))
    if newest is None:
        return []
    found: set[str] = set()
    for op, table in VERSIONED_TABLES:
        folder = root / system / op / engine
        if folder.is_dir():
            found |= {p.name for p in folder.iterdir() if _has_table(p, table)}
    newest_key = version_key(newest.name)
    return sorted((v for v in found if version_key(v) < newest_key), key=version_key)


def _has_table(folder: Path, table: str) -> bool:
    return any((folder / f"{table}.{kind}").is_file() for kind in ("parquet", "csv"))


def read_table(folder: Path, table: str) -> pd.DataFrame | None:
    """`<table>.parquet`, else `<table>.csv` (test fixtures)."""
    parquet, csv = folder / f"{table}.parquet", folder / f"{table}.csv"
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv)
    return None


def collection_date(folder: Path, tables: tuple[str, ...] = ()) -> str:
    """Dates collection_meta.yaml records (`collected_at`, else dated notes), or say none;
    for `tables`, the dates of their own entries under `tables:` where the file lists tables
    (a folder's tables are often collected on different days, or one of them undated)."""
    meta = folder / "collection_meta.yaml"
    if not meta.is_file():
        return "no collection_meta.yaml"
    text = meta.read_text("utf-8")
    listed = _table_entries(text, tables)
    if listed is not None:
        dates = re.findall(r"collected_at:\s*'?(\d{4}-\d{2}-\d{2})", listed) or re.findall(
            r"(\d{4}-\d{2}-\d{2})", listed
        )
        kind = re.search(r"^provenance:\s*(\w+)", text, re.M)
        label = kind.group(1) if kind else "unknown"
        return f"{max(dates)} ({label})" if dates else f"not recorded ({label})"
    dates = re.findall(r"collected_at:\s*'?(\d{4}-\d{2}-\d{2})", text) or re.findall(
        r"(\d{4}-\d{2}-\d{2})", text
    )
    kind = re.search(r"^provenance:\s*(\w+)", text, re.M)
    label = kind.group(1) if kind else "unknown"
    return f"{max(dates)} ({label})" if dates else f"not recorded ({label})"


def _table_entries(text: str, tables: tuple[str, ...]) -> str | None:
    """The lines of `tables`' own entries under collection_meta.yaml's `tables:` section (and
    the section's notes); None where the file has no such section, lists none of them, or
    lists no other table."""
    section = re.search(r"^tables:\n((?:[ \t].*\n?)*)", text, re.M)
    if not tables or section is None:
        return None
    blocks = re.split(r"^  (?=\S)", section.group(1), flags=re.M)
    own = [b for b in blocks if b.split(":", 1)[0].strip() in tables]
    listed = {b.split(":", 1)[0].strip() for b in blocks if not b.startswith("#") and b.strip()}
    if not own or listed <= set(tables):
        return None  # the file is about these tables alone: its notes date them
    # Notes written at the section's own indent speak of its tables alike.
    notes = [b for b in blocks if b.startswith("#")]
    return "".join(notes + own)


def _priced(cost: Cost) -> tuple[np.ndarray, np.ndarray]:
    memory = cost.load_weight + cost.load_act + cost.store_act + cost.load_kv + cost.store_kv
    return np.asarray(cost.ops, dtype=float), np.asarray(memory, dtype=float)


def _ones(n: int) -> np.ndarray:
    return np.ones(n)


def gemm_samples(df: pd.DataFrame) -> list[Samples]:
    """GEMM m x k by k x n: rooflens's Linear with k inputs, n outputs, m tokens."""
    out = []
    for name, (dtype, quant) in GEMM_TYPES.items():
        rows = df[df["gemm_dtype"] == name]
        if rows.empty:
            continue
        ops, memory, weights = [], [], []
        for (n, k), part in rows.groupby(["n", "k"], sort=False):
            step = Step(part["m"].to_numpy(float), _ones(len(part)), 0 * _ones(len(part)))
            op = Linear("gemm", "block", ("x",), "y", in_features=int(k), out_features=int(n))
            cost = op.cost(step, Precision(quant))
            o, m = _priced(cost)
            ops.append(pd.Series(np.broadcast_to(o, len(part)), index=part.index))
            memory.append(pd.Series(np.broadcast_to(m, len(part)), index=part.index))
            w = np.broadcast_to(np.asarray(cost.load_weight, dtype=float), len(part))
            weights.append(pd.Series(w, index=part.index))
        ops_s, mem_s = pd.concat(ops).loc[rows.index], pd.concat(memory).loc[rows.index]
        weight_s = pd.concat(weights).loc[rows.index]
        peak = "fp8" if dtype == "fp8_block" else dtype
        out.append(
            Samples(
                "matmul",
                dtype,
                peak,
                ops_s.to_numpy(),
                mem_s.to_numpy(),
                rows["latency"].to_numpy() * 1e-3,
                rows[["m", "n", "k"]].to_numpy(),
                aspect=(rows["k"] / rows["n"]).to_numpy(dtype=float),
                weight_share=(weight_s / mem_s).to_numpy(),
            )
        )
    return out


def static_scale_samples(fp8: Samples, compute_scale: pd.DataFrame) -> Samples | None:
    """Per-tensor FP8 GEMMs with static activation scales (read from the checkpoint): the
    measured FP8 rows, which compute their activations' scale each call (the databases'
    collectors load weights without an input scale), less that pass as its own table times it
    at the row's m and k (aiconfigurator derives its fp8_static GEMMs the same way). Rows whose
    shape the table did not time (0: a failed measurement) are left out; None where that is
    most of them (SGLang 0.5.14 times 0 for nearly every shape)."""
    scale = _at_shape(compute_scale, fp8.sizes[:, 0], fp8.sizes[:, 2])
    left = np.asarray(fp8.time, dtype=float) - scale
    kept = left > 0  # NaN (not timed) compares False
    if kept.sum() < len(left) / 2:
        return None
    return _subset(replace(fp8, dtype="fp8_static", time=left), kept)


# Engines whose quantize tables time their own pass that quantizes a GEMM's input to FP8
# (vLLM's static_scaled_fp8_quant and, beyond it, its dynamic per-token one; TensorRT-LLM's
# quantize op): their FP8 GEMM rows, which quantize the input inside the call, are fitted
# less that pass, which is priced apart (`quantize:<type>`, rooflens.core.pricing's
# activation_quantization). SGLang's collector times a PyTorch expression in place of its
# kernel (SCALE_MATRIX_KERNELS): its rows keep the pass inside.
QUANTIZE_APART = ("vllm", "trtllm")


def _at_shape(table: pd.DataFrame | None, m: np.ndarray, k: np.ndarray) -> np.ndarray:
    """A quantize table's time (s) at each (m, k), NaN where it timed none (0 or absent)."""
    if table is None:
        return np.full(len(m), np.nan)
    timed = table[table["latency"] > 0].groupby(["m", "k"])["latency"].median() * 1e-3
    keys = pd.MultiIndex.from_arrays([m, k], names=["m", "k"])
    return timed.reindex(keys).to_numpy()


def input_pass_time(
    scale_matrix: pd.DataFrame | None,
    compute_scale: pd.DataFrame | None,
    m: np.ndarray,
    k: np.ndarray,
    dynamic: bool = True,
) -> np.ndarray:
    """The pass quantizing an m x k FP8 GEMM input, as the quantize tables time it (s): the
    static pass (`scale_matrix`), and with a scale computed each call (`dynamic`) the extra
    `compute_scale` times where it timed one; NaN where the static pass was not timed."""
    static = _at_shape(scale_matrix, m, k)
    return static + np.nan_to_num(_at_shape(compute_scale, m, k)) if dynamic else static


def quantize_apart(
    fp8: Samples, scale_matrix: pd.DataFrame, compute_scale: pd.DataFrame | None
) -> tuple[list[Samples], np.ndarray] | None:
    """The FP8 GEMM rows less their input's quantization, as the quantize tables time it at
    the row's m and k: per-tensor FP8 with scales computed each call (`fp8`: the static pass
    and `compute_scale`'s extra) and with stored ones (`fp8_static`, the same GEMMs: they
    differ in the pass alone); then the two passes' own rows (class `quantize`, read 2 bytes
    and write 1 per element, 2 OPs), and each GEMM row's pass time. None where most rows
    have no pass timed at their shape, or would take less than it."""
    dynamic = input_pass_time(scale_matrix, compute_scale, fp8.sizes[:, 0], fp8.sizes[:, 2])
    left = np.asarray(fp8.time, dtype=float) - dynamic
    kept = left > 0  # NaN (not timed) compares False
    if kept.sum() < len(left) / 2:
        return None
    gemm = _subset(replace(fp8, dtype="fp8", time=left), kept)
    passes = []
    rows = scale_matrix[scale_matrix["latency"] > 0]
    pm, pk = rows["m"].to_numpy(float), rows["k"].to_numpy(float)
    sizes, moved = rows[["m", "k"]].to_numpy(), QUANTIZE_BYTES * pm * pk
    for dtype in ("fp8", "fp8_static"):
        time = input_pass_time(rows, compute_scale, pm, pk, dynamic=dtype == "fp8")
        passes.append(Samples("quantize", dtype, "vector", 2 * pm * pk, moved, time, sizes))
    return [gemm, replace(gemm, dtype="fp8_static"), *passes], dynamic[kept]


def kernel_rows(
    rows: pd.DataFrame, chosen: pd.Series, cell: list[str], where: pd.Series | bool = True
) -> pd.DataFrame:
    """A table's rows with one kernel per cell: where `chosen` rows timed a cell (one value of
    the `cell` columns) and `where` holds, theirs alone; elsewhere the other kernels'."""
    if not chosen.any():
        return rows
    keys = [rows[k].fillna(-1) if k in rows else pd.Series(0, rows.index) for k in cell]
    timed = chosen.groupby(keys).transform("any") & where
    return rows[np.where(timed, chosen, ~chosen)]


def kernel_choice(op: str, frames: list[pd.DataFrame], own: tuple[str, ...]) -> str | None:
    """What a profile's provenance says of the kernel its `op` tables stand for, where they
    time several at one shape and the fit takes one (kernel_rows); None elsewhere."""
    sources = {
        str(k) for f in frames if "kernel_source" in f.columns for k in f["kernel_source"].unique()
    }
    if op == "moe" and LOW_LATENCY_KERNEL in sources:
        return (
            f"{LOW_LATENCY_KERNEL}'s rows up to {LOW_LATENCY_TOKENS} tokens where it timed a "
            "shape, the other kernels' beyond"
        )
    if op == "attention" and len(sources) > 1 and sources & set(own):
        mine, others = sorted(sources & set(own)), sorted(sources - set(own))
        return f"{', '.join(mine)}'s rows where it timed a shape; {', '.join(others)} elsewhere"
    return None


def _attention_samples(
    df: pd.DataFrame, decode: bool, kernels: tuple[str, ...] = ()
) -> list[Samples]:
    """FlashAttention per row: prefill of `isl` new tokens; decode of one token over `step`
    cached ones. Full-attention rows only (window_size 0); of several kernels timed at one
    shape, the engine's (`kernels`, ATTENTION_KERNELS). A cache type whose rows time none of
    the engine's kernels (`foreign_kv_types`) takes its bf16 rows as they were measured,
    priced with that type's cache: the tables time an FP8-cache prefill at about a bf16 one's
    time (0.6-1.2 times it, medians by kernel and length, on TensorRT-LLM's and vLLM's H200
    and B200 tables), which a 16-bit cache's fractions of the smaller FP8 bound would halve."""
    df = full_attention_rows(df)
    foreign = foreign_kv_types(df, kernels)
    if kernels and "kernel_source" in df.columns:
        chosen = df["kernel_source"].astype(str).isin(kernels)
        df = kernel_rows(df, chosen, [*ATTENTION_SHAPE, "kv_cache_dtype"])
    out = []
    for name, (dtype, kv_bits) in KV_TYPES.items():
        rows = df[df["kv_cache_dtype"] == ("bfloat16" if dtype in foreign else name)]
        if rows.empty:
            continue
        quant = Quantization(kv_bits=kv_bits)
        ops, memory = np.empty(len(rows)), np.empty(len(rows))
        keys = ["num_heads", "num_key_value_heads", "head_dim"]
        position = pd.Series(np.arange(len(rows)), index=rows.index)
        for (h, g, d), part in rows.groupby(keys, sort=False):
            b = part["batch_size"].to_numpy(float)
            if decode:
                step = Step(b, _ones(len(part)), part["step"].to_numpy(float))
            else:
                step = Step(b, part["isl"].to_numpy(float), 0 * b)
            op = FlashAttention(
                "attention", "block", ("q",), "o", num_heads=int(h), num_kv_heads=int(g),
                head_dim=int(d),
            )  # fmt: skip
            o, m = _priced(op.cost(step, Precision(quant)))
            idx = position[part.index].to_numpy()
            ops[idx], memory[idx] = np.broadcast_to(o, len(part)), np.broadcast_to(m, len(part))
        length = rows["step"] if decode else rows["isl"]
        shape = np.column_stack([rows["batch_size"], length, rows["num_heads"], rows["head_dim"]])
        phase = "decode" if decode else "prefill"
        time = rows["latency"].to_numpy() * 1e-3
        # The grids' second axis: bytes per sequence and head (many short pieces or few long).
        parts = rows["batch_size"] * sequence_heads(
            rows["num_heads"], rows["num_key_value_heads"], not decode
        )
        aspect = memory / parts.to_numpy(float)
        # Wide query groups (multi-query attention) take curves of their own (WIDE_GROUP).
        wide = (rows["num_heads"] // rows["num_key_value_heads"] > WIDE_GROUP).to_numpy()
        for kind, keep in ((dtype, ~wide), (dtype + WIDE, wide)):
            if keep.any():
                out.append(
                    Samples(
                        f"attention_{phase}", kind, "bf16", ops[keep], memory[keep],
                        time[keep], shape[keep], aspect=aspect[keep],
                    )
                )  # fmt: skip
    return out


def full_attention_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the attention curves are fitted on: full attention (window 0), bf16 queries."""
    return df[(df.get("window_size", 0) == 0) & (df["attn_dtype"] == "bfloat16")]


def foreign_kv_types(df: pd.DataFrame, kernels: tuple[str, ...]) -> list[str]:
    """The cache types whose attention rows time none of the engine's own kernels
    (`kernels`) where its other rows do: such rows time kernels it does not run (SGLang's
    FP8-cache prefill rows, Triton's and FlashInfer's only, where it runs FlashAttention 3 or
    TensorRT-LLM's), so they are not fitted: the type's curves come from the bf16 rows of
    the engine's own kernels (`_attention_samples`)."""
    if not kernels or "kernel_source" not in df.columns:
        return []
    own = df["kernel_source"].astype(str).isin(kernels)
    if not own.any():
        return []
    timed = own.groupby(df["kv_cache_dtype"]).any()
    return [KV_TYPES[name][0] for name, has in timed.items() if name in KV_TYPES and not has]


# The tensor type a MoE type's experts compute in (block FP8 as FP8, 4-bit weights at 16 bits).
MOE_PEAK = {
    "fp8_block": "fp8", "fp8_static": "fp8", "w4a16": "bf16", "w4a16_int": "bf16",
    "w4a16_marlin": "bf16",
}  # fmt: skip


def _marlin_split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A MoE table's Marlin MXFP4 rows, and of them those at the layer shapes the table's
    other MXFP4 kernel is timed at (all of them where it times none)."""
    rows = df[df["moe_dtype"] == MARLIN_MXFP4.partition(":")[0]]
    if "kernel_source" not in rows.columns:
        return rows.iloc[:0], rows.iloc[:0]
    marlin = rows["kernel_source"].astype(str).str.contains(MXFP4_OTHER_KERNEL)
    native_layers = rows.loc[~marlin, list(MOE_LAYER)].drop_duplicates()
    if native_layers.empty:
        return rows[marlin], rows[marlin]
    return rows[marlin], rows[marlin].merge(native_layers, on=list(MOE_LAYER))


def marlin_elsewhere(df: pd.DataFrame) -> bool:
    """Whether a MoE table times Marlin's MXFP4 kernel only on layer shapes its own MXFP4
    kernel is not timed at (MARLIN_MXFP4): the type's curves then come from another layer."""
    every, same_layers = _marlin_split(df)
    return not every.empty and same_layers.empty


# A MOE_KERNELS table narrowed to one kernel's rows: "fp8_block|triton".
KERNEL_OF = "|"
# Kernels a type reads under another type's name that are its own, no stand-in: vLLM's
# per-tensor FP8 rows on FlashInfer's kernels time static activation scales (online_fp8_kernels).
OWN_ROWS = {("fp8_static", "fp8")}


def online_fp8_kernels(engine: str, df: pd.DataFrame) -> dict[str, str]:
    """The MoE types whose rows another kernel's stand for (as MOE_KERNELS): vLLM's FP8
    experts quantized online where its table times per-tensor FP8 on FlashInfer's kernels
    alone and block-scaled FP8 on another (the comment above MOE_KERNEL_SOURCES)."""
    if engine != "vllm" or "kernel_source" not in df.columns:
        return {}
    source = df["kernel_source"].astype(str)
    per_tensor = source[df["moe_dtype"] == "fp8"]
    block = source[df["moe_dtype"] == "fp8_block"]
    triton = block.str.contains("triton")
    if per_tensor.empty or not triton.any() or not per_tensor.str.contains("flashinfer").all():
        return {}
    return {"fp8": f"fp8_block{KERNEL_OF}triton", "fp8_static": "fp8"}


def moe_type_rows(df: pd.DataFrame, name: str, kernels: dict[str, str] | None) -> pd.DataFrame:
    """A MoE table's rows of one type (MOE_TYPES): the table an engine runs for it
    (`kernels`, MOE_KERNELS), and of MXFP4 rows gpt-oss's kernels rather than Marlin's; the
    Marlin type its own table's Marlin rows at the layer shapes the other MXFP4 rows time
    (every Marlin row where no other kernel is timed; where Marlin is timed on other layers
    only, their rows without expert parallelism: MARLIN_MXFP4); where a low-latency kernel
    was timed beside the others, its rows up to LOW_LATENCY_TOKENS tokens and the others'
    beyond."""
    if name == MARLIN_MXFP4:
        every, same_layers = _marlin_split(df)
        if not same_layers.empty:
            return same_layers
        return every[every["moe_ep_size"] == 1]
    table, _, kernel = (kernels or {}).get(name, name).partition(KERNEL_OF)
    rows = df[df["moe_dtype"] == table]
    if kernel:  # one kernel's rows of a table that times several (online_fp8_kernels)
        rows = rows[rows["kernel_source"].astype(str).str.contains(kernel)]
    if name == "w4a16_mxfp4" and "kernel_source" in rows.columns:
        other = rows["kernel_source"].astype(str).str.contains(MXFP4_OTHER_KERNEL)
        rows = rows[~other] if (~other).any() else rows
    if "kernel_source" in rows.columns:
        low_latency = rows["kernel_source"].astype(str) == LOW_LATENCY_KERNEL
        few = rows["num_tokens"] <= LOW_LATENCY_TOKENS
        rows = kernel_rows(rows, low_latency, [*MOE_SHAPE, "num_tokens"], few)
    return rows


def marlin_compute_bound(marlin: ClassEfficiency, mxfp4: ClassEfficiency) -> ClassEfficiency:
    """Marlin's MXFP4 curves fitted on another layer (MARLIN_MXFP4): its compute-bound
    fractions, and the engine's own MXFP4 kernel's memory-bound ones and fixed time."""
    return marlin.model_copy(
        update={
            "memory": mxfp4.memory,
            "memory_grid": mxfp4.memory_grid,
            "activation_grid": mxfp4.activation_grid,
            "fixed": mxfp4.fixed,
        }
    )


# Serving does not deal routes out round robin: the tables time each cell again with each
# expert's load drawn from a power law, and the milder of their two exponents, 1.01, is the one
# the tables' authors estimated for DeepSeek-V3/R1 on CNN-DailyMail and OpenOrca (the lower
# imbalance; 1.2 for Qwen3-235B) and their estimator defaults to for DeepSeek-like models
# (aiconfigurator's collector docs, "Power-Law Distribution in MoE Workload Simulation";
# sdk/models/deepseek.py). Under expert parallelism those rows time the busiest rank.
SKEWED_DISTRIBUTION = "power_law_1.01"
# A step of one token routes the same work under any distribution (its top-k experts, on one
# rank without expert parallelism): there the tables' skewed rows take 0.94-1.03 times the
# balanced (medians over each H100, H200 and B200 table's cells; 1.01-1.15 at the 95th
# percentile). A skewed series more than this much slower there was measured apart from the
# work it states (TensorRT-LLM's H100 table times Llama 4 Scout's layer at TP 4 2.8 times its
# balanced row at one token, 6 times the H200's at eight), and is not read.
SKEWED_AGREEMENT = 1.5


# A layer at MoE TP t holds half the expert weights a rank holds at t / 2, and each token's
# work on a rank halves with them: its series without expert parallelism is as fast or faster
# there at every token count. One measured more than this much slower than the same layer's at
# half its TP (median over the token counts both time) was measured apart from the work it
# states and is not read, any distribution of it (TensorRT-LLM's H200 table times Llama 4
# Scout's layer at TP 2 at 3.45 times its TP 1 series; 33 series in aiconfigurator 0.12.0's
# tables, SGLang 0.5.10's Hopper tables timing a Nemotron-3 layer at TP 16 at 13 times its
# TP 8 series among them).
TP_AGREEMENT = 1.5


def tp_agreeing(df: pd.DataFrame) -> pd.DataFrame:
    """A MoE table less each series without expert parallelism timed over TP_AGREEMENT times
    the same layer's at half its MoE TP (TP_AGREEMENT)."""
    needed = {"num_tokens", "moe_tp_size", "moe_ep_size", "latency"}
    if df.empty or not needed <= set(df.columns):
        return df
    apart = pd.Series(False, index=df.index)
    # The layer a row times (shape, type, kernel), as one key (a missing field too).
    layer = df[[c for c in df.columns if c not in (*needed, "distribution")]]
    key = layer.astype(str).agg("|".join, axis=1)
    one_rank = df["moe_ep_size"] == 1
    balanced = one_rank & (df.get("distribution", "balanced") == "balanced")
    for name, rows in df[balanced].groupby(key[balanced], sort=False):
        times = rows.pivot_table(
            index="num_tokens", columns="moe_tp_size", values="latency", aggfunc="median"
        )
        for tp in times.columns:
            half = tp // 2
            if tp < 2 or half not in times.columns:
                continue
            if (times[tp] / times[half]).median() > TP_AGREEMENT:
                apart |= (key == name) & one_rank & (df["moe_tp_size"] == tp)
    return df[~apart]


def skewed_time(df: pd.DataFrame) -> pd.DataFrame:
    """A MoE table's `balanced` rows, each with the latency of the same cell's
    SKEWED_DISTRIBUTION rows (their median; a series that disagrees where the work is the
    same left out: SKEWED_AGREEMENT) where that is longer: a skewed load's busiest
    expert (or rank) holds up a long step. Where the skewed rows are faster (small steps, which
    touch fewer experts) the balanced time stays: serving's uniform routing already reads fewer
    experts' weights than the balanced rows (`ExpertLinear.routing`). A table without skewed
    rows is read as it is."""
    if "distribution" not in df.columns:
        return df
    balanced = df[df["distribution"] == "balanced"]
    skewed = df[df["distribution"] == SKEWED_DISTRIBUTION]
    if skewed.empty:
        return balanced
    cell = [c for c in df.columns if c not in ("distribution", "latency")]
    skewed = _agreeing(skewed, balanced, [c for c in cell if c != "num_tokens"])
    longest = skewed.groupby(cell, dropna=False, sort=False)["latency"].median()
    at = pd.MultiIndex.from_frame(balanced[cell]) if len(cell) > 1 else balanced[cell[0]]
    other = longest.reindex(at).to_numpy()
    latency = np.fmax(balanced["latency"].to_numpy(float), other)
    return balanced.assign(latency=latency)


def _agreeing(skewed: pd.DataFrame, balanced: pd.DataFrame, series: list[str]) -> pd.DataFrame:
    """The skewed rows less each series whose one-token step, without expert parallelism,
    takes over SKEWED_AGREEMENT times the balanced series' (SKEWED_AGREEMENT)."""
    if "num_tokens" not in skewed.columns or "moe_ep_size" not in skewed.columns:
        return skewed

    def one_token(rows: pd.DataFrame) -> pd.Series:
        first = rows[(rows["num_tokens"] == 1) & (rows["moe_ep_size"] == 1)]
        return first.groupby(series, dropna=False, sort=False)["latency"].median()

    ratio = one_token(skewed) / one_token(balanced)
    apart = ratio[ratio > SKEWED_AGREEMENT].index
    if apart.empty:
        return skewed
    at = pd.MultiIndex.from_frame(skewed[series]) if len(series) > 1 else skewed[series[0]]
    return skewed[~at.isin(apart)]


def moe_samples(df: pd.DataFrame, kernels: dict[str, str] | None = None) -> list[Samples]:
    """A fused MoE layer (routing, the gate/up/down expert GEMMs, the combine) per row: three
    rooflens ExpertLinears over the experts and route share one device holds (two, up and
    down, for a layer of NON_GATED_LAYERS). The `balanced`
    rows, priced as they route: round robin, so a row of T tokens reads min(E, T·k) experts'
    weights, where serving's uniform routing reads fewer (`ExpertLinear.routing`); the
    fraction is of the bytes the kernel moved. Each takes the time of the same cell's
    skewed row where that is longer (`skewed_time`). The shape the `moe` grids read is the
    tokens routed to each expert (OPs over one routed token's OPs through every expert, as
    pricing reads it: rooflens.core.pricing.shape_ratios). `kernels`: the table an engine
    runs for a type instead of the type's own (MOE_KERNELS). A series that scales against
    its layer's work across TP is left out (`tp_agreeing`)."""
    df = skewed_time(tp_agreeing(df))
    out = []
    for name, (dtype, quant) in MOE_TYPES.items():
        rows = moe_type_rows(df, name, kernels)
        if rows.empty:
            continue
        ops, memory, routed = np.empty(len(rows)), np.empty(len(rows)), np.empty(len(rows))
        gemms = np.empty(len(rows))
        position = pd.Series(np.arange(len(rows)), index=rows.index)
        keys = list(MOE_SHAPE)
        for (hid, inter, k, e, tp, ep), part in rows.groupby(keys, sort=False):
            tokens = part["num_tokens"].to_numpy(float)
            step = Step(tokens, _ones(len(part)), 0 * tokens)
            width, experts, top_k = device_layer(inter, k, e, tp, ep)
            total_o = total_m = work = 0.0
            gated = (int(inter), int(k), int(e)) not in NON_GATED_LAYERS
            layer = ((hid, width),) * (2 if gated else 1) + ((width, hid),)
            for fan_in, fan_out in layer:
                op = ExpertLinear(
                    "expert", "block", ("x",), "y", in_features=int(fan_in),
                    out_features=int(fan_out), num_experts=experts, top_k=top_k,
                    routing="balanced",
                )  # fmt: skip
                o, m = _priced(op.cost(step, Precision(quant)))
                total_o, total_m = total_o + o, total_m + m
                work += op.ops_per_routed_token * op.num_experts
            idx = position[part.index].to_numpy()
            ops[idx] = np.broadcast_to(total_o, len(part))
            memory[idx] = np.broadcast_to(total_m, len(part))
            routed[idx] = np.broadcast_to(total_o / work, len(part))
            gemms[idx] = len(layer)
        peak = MOE_PEAK.get(dtype, dtype)
        shape = rows[["num_tokens", *keys]].to_numpy()
        # rooflens prices the expert GEMMs one by one, each a third of a gated layer's OPs and
        # bytes (a half of a non-gated one's): the curves are fitted per GEMM, that share of
        # the layer's time each.
        time = rows["latency"].to_numpy() * 1e-3 / gemms
        # An empty cell takes its tokens per expert at other sizes first: a table of one
        # layer shape ties its sizes to its loads, and another model's layer meets them at
        # other pairs (on the held-out shapes, mean of the MoE medians 13.1 % to 12.7 %).
        out.append(
            Samples(
                "moe", dtype, peak, ops / gemms, memory / gemms, time, shape, aspect=routed,
                fill_first="size",
            )
        )  # fmt: skip
    return out


# The precision of the recurrent state the operator tables' scans carry, per engine: SGLang's
# and vLLM's collectors hold it in FP32, as those engines serve Qwen3.5, whose checkpoints pin
# mamba_ssm_dtype float32 (aiconfigurator's collector/{sglang,vllm}/collect_gdn.py and
# collect_kda.py, the versions that collected the tables); TensorRT-LLM's in BF16
# (collector/trtllm/collect_gdn.py). Priced with a 16-bit state, FP32 rows would count half
# the state bytes they moved, and a model served with an FP32 state (its config's
# mamba_ssm_dtype) be priced at up to twice their time.
SCAN_STATE_BITS = {"sglang": 32, "vllm": 32, "trtllm": 16}


def scan_samples(df: pd.DataFrame, kind: str, state_bits: int = 16) -> list[Samples]:
    """A recurrent mixer's scan per row of its table (`gdn_perf`: Gated DeltaNet; `kda_perf`:
    Kimi Delta Attention), its state of `state_bits` (SCAN_STATE_BITS): rooflens's StateScan
    as mixer_operators builds it for the heads one device holds (`num_v_heads` of
    `head_v_dim`, `num_k_heads` of `head_k_dim`); a context row is a prefill of `batch_size`
    sequences of `seq_len` tokens, a generation row one token each over a carried state. The
    rows' causal_conv1d kernels are the convolution, which the vector curves price, and
    "verify" rows are speculative decoding's: neither is read. Both phases in one class,
    whose grids read the scan's OPs per byte: it parts the chunked prefill (about 100) from
    the recurrent step (about 1 with an FP32 state, 2 with a 16-bit one) whatever their
    bytes."""
    scan_rows = ~df["kernel_source"].astype(str).str.contains("conv")
    rows = df[scan_rows & df["phase"].isin(["context", "generation"])]
    if rows.empty:
        return []
    ops, memory = np.empty(len(rows)), np.empty(len(rows))
    position = pd.Series(np.arange(len(rows)), index=rows.index)
    keys = ["num_v_heads", "head_v_dim", "num_k_heads", "head_k_dim", "d_model"]
    for (h, p, g, n, width), part in rows.groupby(keys, sort=False):
        mixer = Mixer(
            kind=kind, num_heads=int(h), head_dim=int(p), num_key_heads=int(g), key_dim=int(n),
            conv_kernel=4, low_rank=1 if kind == "kda" else 0, state_bits=state_bits,
        )  # fmt: skip
        scan = next(
            op
            for op in mixer_operators(mixer, int(width), "x", "y", 1, Conventions())
            if isinstance(op, StateScan)
        )
        decode = (part["phase"] == "generation").to_numpy()
        b = part["batch_size"].to_numpy(float)
        new = np.where(decode, 1.0, part["seq_len"].to_numpy(float))
        o, m = _priced(
            scan.cost(Step(b, new, np.where(decode, 1.0, 0.0)), Precision(Quantization()))
        )
        idx = position[part.index].to_numpy()
        ops[idx], memory[idx] = np.broadcast_to(o, len(part)), np.broadcast_to(m, len(part))
    shape = np.column_stack(
        [rows["phase"] == "generation", rows[["batch_size", "seq_len", *keys]].to_numpy(float)]
    )
    return [
        Samples(
            SCAN_CLASSES[kind], "bf16", "bf16", ops, memory, rows["latency"].to_numpy() * 1e-3,
            shape.astype(float), aspect=ops / memory, fill_first="size",
            state_bits=state_bits,
        )
    ]  # fmt: skip


def _absorbed_context(rows: pd.DataFrame) -> pd.Series:
    """Which MLA rows were timed on the absorbed kernel's shapes (ABSORBED_CONTEXT_ROWS)."""
    if not {"framework", "kernel_source"} <= set(rows.columns):
        return pd.Series(False, index=rows.index)
    keys = zip(rows["framework"].astype(str), rows["kernel_source"].astype(str), strict=True)
    return pd.Series([key in ABSORBED_CONTEXT_ROWS for key in keys], index=rows.index)


def absorbed_prefill_cost(
    step: Step, heads: int, precision: Precision
) -> tuple[np.ndarray, np.ndarray]:
    """OPs and bytes of the kernel an absorbed-shape context row times: causal attention of
    `heads` queries kv_lora + rope wide over one latent key of that width, kv_lora-wide values
    (FlashMLA's form, DeepSeek-V2 sec. 2.1.2), no decompression and no absorption GEMMs (the
    collector feeds the latent queries in): per score 2(c + r) OPs for QK^T, 2c for PV and 5
    for the softmax, as LatentAttention counts its absorbed scores."""
    c, r = MLA_DIMS["kv_lora"], MLA_DIMS["rope_dim"]
    ops = step.batch * heads * step.causal_pairs * (2 * (c + r) + 2 * c + 5)
    memory = (
        step.tokens * heads * (c + r) * precision.act  # latent queries
        + step.batch * step.keys * (c + r) * precision.kv  # the shared latent keys and values
        + step.tokens * heads * c * precision.act  # latent outputs
    )
    return np.asarray(ops, dtype=float), np.asarray(memory, dtype=float)


# GLM-5's sparse latent attention, the geometry SGLang's `glm5_dsa_attn_module` rows time (its
# config.json): 256-wide heads of which 64 rotary, 256-wide values, a 512-wide latent, each
# query over the 2,048 keys its indexer picks.
DSA_DIMS = {"head_dim": 256, "rope_dim": 64, "v_dim": 256, "kv_lora": 512}
DSA_TOPK = 2048
# The sparse-attention tables' KV-cache types, by their names there (SGLang's: fp8_e4m3).
SPARSE_KV_TYPES = KV_TYPES | {"fp8_e4m3": ("fp8", 8)}


def dsa_samples(df: pd.DataFrame) -> list[Samples]:
    """Sparse latent attention's prefill kernel (`flash_mla_sparse_fwd`), priced as rooflens's
    LatentAttention prices GLM-5's (sparse, the absorbed form over DSA_TOPK keys): rows of
    `isl` new tokens with nothing cached (step 0), `num_heads` on one device. The table's rows
    after `step` cached tokens time the same kernel at about the same time (it runs every
    query over DSA_TOPK key slots), and its one-token rows the decode shapes; neither is read:
    decode steps take the latent-attention class's curves (SUBCLASS_OF)."""
    out = []
    rows = df[(df["step"] == 0) & (df["latency"] > 0)]
    for name, (dtype, kv_bits) in SPARSE_KV_TYPES.items():
        typed = rows[rows["kv_cache_dtype"] == name].drop_duplicates(
            ["num_heads", "batch_size", "isl"]
        )
        if typed.empty:
            continue
        ops, memory = np.empty(len(typed)), np.empty(len(typed))
        position = pd.Series(np.arange(len(typed)), index=typed.index)
        for h, part in typed.groupby("num_heads", sort=False):
            b = part["batch_size"].to_numpy(float)
            step = Step(b, part["isl"].to_numpy(float), 0 * b)
            op = LatentAttention(
                "dsa", "block", ("q",), "o", num_heads=int(h), span=DSA_TOPK, sparse=True,
                **DSA_DIMS,
            )  # fmt: skip
            o, m = _priced(op.cost(step, Precision(Quantization(kv_bits=kv_bits))))
            idx = position[part.index].to_numpy()
            ops[idx] = np.broadcast_to(o, len(part))
            memory[idx] = np.broadcast_to(m, len(part))
        shape = typed[["batch_size", "isl", "step", "num_heads"]].to_numpy()
        time = typed["latency"].to_numpy() * 1e-3
        parts = typed["batch_size"] * sequence_heads(typed["num_heads"], 1, True)
        aspect = memory / parts.to_numpy(float)
        out.append(Samples("dsa_prefill", dtype, "bf16", ops, memory, time, shape, aspect=aspect))
    return out


@dataclass(frozen=True)
class ModuleTables:
    """Attention an engine's tables time only inside whole modules: its rows' tables (prefill,
    decode), the models they name (row model -> bundled id), the operator whose time is the
    module's less its `others`, and the engine class its rows fit (`<name>_prefill`,
    `<name>_decode`). With `ratio_column`, a row's model is one layer of the bundled config
    whose attention compresses by that column's ratio (DeepSeek-V4's CSA and HCA layers)."""

    name: str
    tables: tuple[str, ...]
    decode: tuple[bool, ...]
    models: dict[str, str]
    attention: str
    others: tuple[str, ...]
    engines: tuple[str, ...]
    what: str  # the other operators, as the fallback note names them
    ratio_column: str | None = None
    # Where no decode table is read: what prices the class's decode steps, and why.
    decode_note: str | None = None
    # The attention's query heads all share one KV head (its curves part wide groups, as
    # pricing's query_group does): DeepSeek-V4's; latent attention's group is its own.
    shared_kv: bool = False


# DeepSeek Sparse Attention as TensorRT-LLM and vLLM run it: their tables time it only inside
# the whole attention module, norm to norm with the indexer (`dsa_context_module`: prompts of
# `isl` tokens, step 0 with nothing cached; `dsa_generation_module`: one token each after `step`
# cached), for DeepSeek-V3.2 and GLM-5 at `num_heads` of their heads on one device. SGLang's
# kernel table times the prefill alone (dsa_samples).
DSA_OTHERS = ("q_a_proj", "q_a_norm", "q_b_proj", "kv_a_proj", "kv_a_norm", "o_proj",
              "indexer_q_proj", "indexer_k_proj", "indexer_k_norm", "indexer_weights_proj",
              "indexer_scores")  # fmt: skip
DSA_MODULES = ModuleTables(
    name="dsa",
    tables=("dsa_context_module_perf", "dsa_generation_module_perf"),
    decode=(False, True),
    models={m: m for m in ("deepseek-ai/DeepSeek-V3.2", "zai-org/GLM-5")},
    attention="latent_attention",
    others=DSA_OTHERS,
    engines=("trtllm", "vllm"),
    what="projections, norms and indexer",
)
# DeepSeek-V4's attention modules on all three engines (aiconfigurator's collectors time the
# attention layer's forward, q_a to o_proj with the compressor and, in CSA layers, the
# indexer; not the hyper-connections): CSA layers (compress ratio 4) and HCA layers (128),
# V4-Flash and V4-Pro as sgl-project's FP8 conversions name them. Prefills only: curves fitted
# on the decode modules less their other operators (`dsv4_*_generation_module`) priced those
# modules worse than the attention curves do (median |error| over all rows, SGLang 27 % to
# 47 %, TensorRT-LLM 29 % to 64 %; docs/engines.md), so decode steps keep attention's.
DSV4_TABLES = ("dsv4_csa_context_module_perf", "dsv4_hca_context_module_perf")
DSV4_OTHERS = ("q_a_proj", "q_a_norm", "q_b_proj", "kv_proj", "kv_norm", "compressor_kv_proj",
               "compressor_gate_proj", "kv_compressor", "indexer_q_proj", "indexer_k_proj",
               "indexer_gate_proj", "indexer_compressor", "indexer_weights_proj",
               "indexer_scores", "o_a_proj", "o_proj")  # fmt: skip
DSV4_MODULES = ModuleTables(
    name="compressed",
    tables=DSV4_TABLES,
    decode=(False, False),
    models={
        "sgl-project/DeepSeek-V4-Flash-FP8": "deepseek-ai/DeepSeek-V4-Flash",
        "sgl-project/DeepSeek-V4-Pro-FP8": "deepseek-ai/DeepSeek-V4-Pro",
    },
    attention="compressed_attention",
    others=DSV4_OTHERS,
    engines=("trtllm", "vllm", "sglang"),
    what="projections, norms, compressors and indexer",
    ratio_column="compress_ratio",
    shared_kv=True,
    decode_note=(
        "its decode modules (dsv4_csa_generation_module, dsv4_hca_generation_module) are not "
        "fitted: priced as attention, which misses them by less than curves fitted on them"
    ),
)
MODULE_TABLES = (DSA_MODULES, DSV4_MODULES)
# A row's GEMM type -> the settings its module's projections run at (weights and activations).
MODULE_GEMMS: dict[str, dict[str, object]] = {
    "bfloat16": {"w_bits": 16, "a_bits": 16},
    "fp8_block": {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": 128 * 128},
}
# Rows whose attention is less than this share of the module say little about it: the
# remainder is within the other operators' pricing error (held-out GEMM errors are 5-15 %).
MODULE_MIN_SHARE = 0.2


def module_layer(model_id: str, ratio: int | None) -> ModelSpec:
    """The bundled model, or (`ratio`) one layer of it whose attention compresses by `ratio`
    (a DeepSeek-V4 config's list runs one past its layers: the MTP module's)."""
    from rooflens.models import spec_from_config
    from rooflens.models.catalog import bundled_config, load_model

    if ratio is None:
        return load_model(model_id)
    config = bundled_config(model_id) | {"num_hidden_layers": 1, "compress_ratios": [ratio, 0]}
    config.pop("layer_types", None)
    return spec_from_config(config)


def module_samples(
    frames: list[pd.DataFrame | None],
    family: ModuleTables,
    engine: str,
    device: Device,
    profile: EngineProfile,
) -> list[Samples]:
    """The attention's kernel time per module row of `family` (its `frames`, one per table;
    prefill and decode, by KV-cache type): the measured module less its other operators as
    `profile` prices them with `engine`'s fusions, the row's GEMM and cache types, at the
    tensor-parallel share its `num_heads` is of the model's heads. Rows where that remainder
    is below MODULE_MIN_SHARE of the module are not read, nor one-token prompts (the decode
    kernel's form) and decode rows without a context."""
    from rooflens.core.analysis import analyze
    from rooflens.settings import parse_settings

    found: dict[tuple[str, str], list[tuple[np.ndarray, ...]]] = {}
    for df, decode in zip(frames, family.decode, strict=True):
        if df is None:
            continue
        phase = (df["step"] > 0) if decode else ((df["step"] == 0) & (df["isl"] > 1))
        rows = df[
            (df["latency"] > 0)
            & df["model"].isin(family.models)
            & df["gemm_type"].isin(MODULE_GEMMS)
            & df["kv_cache_dtype"].isin(SPARSE_KV_TYPES)
            & phase
        ]
        ratio = family.ratio_column
        keys = ["model", "gemm_type", "kv_cache_dtype", "num_heads", *([ratio] if ratio else [])]
        cells = [*keys, "batch_size", "isl", "step"]
        rows = rows.groupby(cells, as_index=False)["latency"].median()
        for group, part in rows.groupby(keys, sort=False):
            model, gemm, kv, heads = group[:4]
            spec = module_layer(family.models[str(model)], int(group[4]) if ratio else None)
            if spec.num_heads % int(heads):
                continue
            kv_type, kv_bits = SPARSE_KV_TYPES[str(kv)]
            settings = parse_settings(
                {"engine": engine, "tp": spec.num_heads // int(heads), "flash_attention": True,
                 "kv_bits": kv_bits, **MODULE_GEMMS[str(gemm)]}
            )  # fmt: skip
            served = settings.served(spec)
            batch = part["batch_size"].to_numpy(float)
            # A decode row's context is its `step` cached tokens.
            context = part["step" if decode else "isl"].to_numpy(float)
            step = analyze(
                served, device, batch=batch, prompt_len=context, gen_len=2 if decode else 1,
                options=settings.analysis_options(profile, served),
            ).steps["decode" if decode else "prefill"]  # fmt: skip
            names = list(step.names)
            times = np.asarray(step.time, float)
            others = sum(
                np.broadcast_to(times[i], len(part))
                for i, n in enumerate(names)
                if n in family.others
            )
            attention = names.index(family.attention)
            measured = part["latency"].to_numpy() * 1e-3
            remainder = measured - others
            kept = remainder >= MODULE_MIN_SHARE * measured
            ops = np.broadcast_to(np.asarray(step.ops, float)[attention], len(part))
            memory = np.broadcast_to(np.asarray(step.memory_access, float)[attention], len(part))
            # As pricing reads them: a compressed attention's heads all share one KV head.
            group_heads = int(heads) if family.shared_kv else 1
            dtype = kv_type + (WIDE if group_heads > WIDE_GROUP else "")
            parts = batch * sequence_heads(int(heads), 1, not decode)
            shape = np.column_stack(
                [batch, part["isl"].to_numpy(float), part["step"].to_numpy(float),
                 np.full(len(part), float(heads)), np.full(len(part), float(spec.num_heads)),
                 np.full(len(part), float(gemm == "fp8_block")),
                 np.full(len(part), float(group[4]) if ratio else 0.0)]
            )[kept]  # fmt: skip
            found.setdefault(("decode" if decode else "prefill", dtype), []).append(
                (ops[kept], memory[kept], remainder[kept], shape, (memory / parts)[kept])
            )
    out = []
    for (phase, dtype), got in found.items():
        ops, memory, time, shape, aspect = (np.concatenate(c) for c in zip(*got, strict=True))
        out.append(
            Samples(
                f"{family.name}_{phase}", dtype, "bf16", ops, memory, time, shape, aspect=aspect
            )
        )
    return out


def mla_samples(context: pd.DataFrame | None, generation: pd.DataFrame | None) -> list[Samples]:
    """Latent attention kernels (DeepSeek-V3 geometry, `num_heads` on one device)."""
    out = []
    for df, decode in ((context, False), (generation, True)):
        if df is None:
            continue
        for name, (dtype, kv_bits) in KV_TYPES.items():
            rows = df[df["kv_cache_dtype"] == name].drop_duplicates(
                ["num_heads", "batch_size", "isl", "step"]
            )
            if rows.empty:
                continue
            ops, memory = np.empty(len(rows)), np.empty(len(rows))
            position = pd.Series(np.arange(len(rows)), index=rows.index)
            absorbed = _absorbed_context(rows) & (not decode)
            for (h, kernel_absorbed), part in rows.groupby(
                [rows["num_heads"], absorbed], sort=False
            ):
                b = part["batch_size"].to_numpy(float)
                precision = Precision(Quantization(kv_bits=kv_bits))
                if decode:
                    step = Step(b, _ones(len(part)), part["step"].to_numpy(float))
                else:
                    step = Step(b, part["isl"].to_numpy(float), 0 * b)
                if kernel_absorbed:
                    o, m = absorbed_prefill_cost(step, int(h), precision)
                else:
                    op = LatentAttention("mla", "block", ("q",), "o", num_heads=int(h), **MLA_DIMS)
                    o, m = _priced(op.cost(step, precision))
                idx = position[part.index].to_numpy()
                ops[idx] = np.broadcast_to(o, len(part))
                memory[idx] = np.broadcast_to(m, len(part))
            phase = "decode" if decode else "prefill"
            shape = rows[["batch_size", "isl", "step", "num_heads"]].to_numpy()
            time = rows["latency"].to_numpy() * 1e-3
            # As attention's, of one latent KV head.
            parts = rows["batch_size"] * sequence_heads(rows["num_heads"], 1, not decode)
            aspect = memory / parts.to_numpy(float)
            out.append(
                Samples(f"mla_{phase}", dtype, "bf16", ops, memory, time, shape, aspect=aspect)
            )
    return out


# What a `scale_matrix` row times, by its kernel_source: kernels run one after another, and
# bytes moved and OPs per element over all of them. vLLM's static_scaled_fp8_quant and
# TensorRT-LLM's quantize op are one kernel (read 2 bytes, write 1; scale and cast). SGLang's
# collector times a PyTorch expression instead, out.copy_((x / scale).clamp(...).to(fp8))
# (collector/sglang/collect_computescale.py): divide, clamp and cast read 2 bytes and write
# 2, 2 and 1, the copy reads 1 and writes 1.
SCALE_MATRIX_KERNELS: dict[str, tuple[int, int, int]] = {"sglang": (4, 13, 3)}


def vector_samples(df: pd.DataFrame) -> list[Samples]:
    """Static-scale FP8 quantization of an m x k activation, the element-wise kernel measured
    with every engine (`scale_matrix`); the `compute_scale` rows are read for fp8_static."""
    m, k = df["m"].to_numpy(float), df["k"].to_numpy(float)
    source = str(df["kernel_source"].iloc[0]) if "kernel_source" in df.columns else ""
    kernels, moved, ops = SCALE_MATRIX_KERNELS.get(source, (1, 3, 2))
    return [
        Samples(
            "vector", "bf16", "vector", ops * m * k, moved * m * k,
            df["latency"].to_numpy() * 1e-3, df[["m", "k"]].to_numpy(), kernels,
        )
    ]  # fmt: skip


def _roofline(s: Samples, device: Device) -> tuple[np.ndarray, np.ndarray]:
    peak = device.peak_ops[device.vector_dtype() if s.peak_dtype == "vector" else s.peak_dtype]
    return s.ops / peak, s.memory / device.memory_bandwidth


def fixed_cost(s: Samples, device: Device) -> float:
    """Time of the table's kernels beyond their roofline bound, at its 1st percentile: the
    launch and drain of a kernel (and what the smallest kernels of this class always add,
    such as SGLang's FP8 GEMM's input quantization). A few rows beat the bound (caches): the
    percentile leaves them out."""
    excess = np.asarray(s.time, dtype=float) - np.maximum(*_roofline(s, device))
    return max(float(np.percentile(excess, 1)), 0.0)


def fit_curves(s: Samples, device: Device) -> ClassEfficiency:
    """Per-bin median achieved fractions of the compute and memory bounds (see module doc)."""
    fixed = fixed_cost(s, device)
    t_compute, t_memory = _roofline(s, device)
    time = np.asarray(s.time, dtype=float)
    # Every row counts, short ones too (leaving out those the fixed time dominates biases the
    # small sizes' fractions low); a row faster than fixed + roofline gets the cap.
    busy = np.maximum(time - fixed, 1e-12)
    compute_bound = t_compute >= t_memory
    c, m = compute_bound, ~compute_bound
    compute = curve(zip(s.ops[c], t_compute[c] / busy[c], strict=True), cap=1.0, floor=FLOOR)
    memory = curve(zip(s.memory[m], t_memory[m] / busy[m], strict=True), cap=1.0, floor=FLOOR)
    fixed = round(fixed / s.kernels, 9)
    # Attention kernels' rows compute in BF16 (attn_dtype bfloat16) whatever the cache type:
    # their shares are of BF16's peak, and price so. A GEMM's are of its own type's peak,
    # and a type not measured borrows the BF16 curves as shares of its own (`fallbacks`).
    family = SUBCLASS_OF.get(s.family, s.family)
    peak = s.peak_dtype if PARENT_CLASS.get(family, family) == "attention" else None
    # Attention's grids are left as the medians fell: held to a rising time per bytes per
    # sequence and head, TensorRT-LLM's wide-group decode tables missed their held-out rows by
    # 43 % median on the B200 instead of 29 % (docs/engines.md, Format).
    monotone = peak is None
    if s.aspect is None:
        return ClassEfficiency(compute=compute, memory=memory, fixed=fixed, peak=peak)
    achieved = np.clip(np.where(compute_bound, t_compute, t_memory) / busy, FLOOR, 1.0)
    # GEMMs: memory-bound rows whose weights weigh most and those whose activations do run
    # far apart at one size and k / n (held out, the split lowered the GEMM tables' median
    # error: docs/engines.md), so each has a grid of its own.
    weighty = (
        np.ones(len(s.memory), dtype=bool)
        if s.weight_share is None
        else s.weight_share >= WEIGHT_DOMINATED
    )
    streamed = m & ~weighty
    return ClassEfficiency(
        compute=compute,
        memory=memory,
        fixed=fixed,
        peak=peak,
        compute_grid=shape_grid(s.ops[c], s.aspect[c], achieved[c], s.fill_first, monotone),
        memory_grid=shape_grid(
            s.memory[m & weighty],
            s.aspect[m & weighty],
            achieved[m & weighty],
            s.fill_first,
            monotone,
        ),
        activation_grid=shape_grid(
            s.memory[streamed], s.aspect[streamed], achieved[streamed], s.fill_first, monotone
        ),
        state_bits=s.state_bits,
    )


def shape_grid(
    sizes: np.ndarray,
    ratios: np.ndarray,
    fractions: np.ndarray,
    fill_first: Literal["ratio", "size"] = "ratio",
    monotone: bool = True,
) -> ShapeGrid | None:
    """Per-cell medians of the achieved fractions over bins of BIN_WIDTH decades of size and
    of the shape ratio (k / n; tokens per expert; OPs per byte), each axis at its bins'
    median; an empty cell takes the nearest filled one of its size, else of its ratio
    (`fill_first` "size": of its ratio, else of its size). None without rows."""
    if not len(sizes):
        return None
    axes, cells = [], []
    for values in (np.log10(np.maximum(sizes, 1.0)), np.log10(ratios)):
        bins = np.floor(values / BIN_WIDTH)
        labels, cell = np.unique(bins, return_inverse=True)
        axes.append([round(float(np.median(values[cell == b])), 4) for b in range(len(labels))])
        cells.append(cell.ravel())
    grid = np.full((len(axes[0]), len(axes[1])), np.nan)
    frame = pd.DataFrame({"i": cells[0], "j": cells[1], "f": fractions})
    rows = np.zeros(grid.shape)
    for (i, j), cell in frame.groupby(["i", "j"])["f"]:
        grid[i, j], rows[i, j] = cell.median(), len(cell)
    for along in (1, 0) if fill_first == "ratio" else (0, 1):  # 1: along the ratio
        view = grid if along == 1 else grid.T
        for line in view:
            filled = np.flatnonzero(~np.isnan(line))
            if filled.size:
                empty = np.flatnonzero(np.isnan(line))
                nearest = np.abs(empty[:, None] - filled[None, :]).argmin(axis=1)
                line[empty] = line[filled[nearest]]
    # `monotone`: each ratio's column refitted to a time that grows with the size
    # (monotone_time), the cells filled from a neighbour weighing a tenth of one measured row.
    sizes = np.asarray(axes[0])
    for j in range(grid.shape[1]) if monotone else ():
        grid[:, j] = monotone_time(sizes, grid[:, j], np.maximum(rows[:, j], 0.1))
    return ShapeGrid(
        log10_sizes=tuple(axes[0]),
        log10_ratios=tuple(axes[1]),
        # 4 digits, as stored (monotone_time's columns already are).
        fractions=tuple(tuple(float(f"{f:.4g}") for f in row) for row in grid),
        power_law=monotone,
    )


def predict(s: Samples, device: Device, curves: ClassEfficiency) -> np.ndarray:
    """Time the profile gives these rows: EngineProfile.rates inside StepCosts.time, each row
    in its roofline regime as the fit explained it."""
    t_compute, t_memory = _roofline(s, device)
    compute_bound = t_compute >= t_memory
    expert = s.family == "moe"
    compute = by_shape(curves.compute, curves.compute_grid, s.ops, s.aspect, expert)
    memory = memory_by_shape(curves, s.memory, s.aspect, s.weight_share, expert)
    return curves.fixed * s.kernels + np.where(
        compute_bound,
        t_compute / np.minimum(compute, 1.0),
        t_memory / np.minimum(memory, 1.0),
    )


def device_layer(inter: float, k: float, e: float, tp: float, ep: float) -> tuple[int, int, float]:
    """A MoE table row's layer on one device: each expert's width there (MoE TP splits it),
    the experts it holds (EP splits them) and the experts each token reaches among them."""
    return max(int(inter) // int(tp), 1), max(int(e) // int(ep), 1), int(k) / int(ep)


def moe_layer_keys(s: Samples) -> list[str]:
    """Each MoE row's layer shape on one device (`expert_layer`), as moe_samples prices it."""
    return [
        expert_layer(int(hid), *device_layer(inter, k, e, tp, ep))
        for _, hid, inter, k, e, tp, ep in np.asarray(s.sizes, dtype=float)
    ]


def layer_curves(s: Samples, device: Device, curves: ClassEfficiency) -> dict[str, LayerCurve]:
    """Per MoE layer shape of the rows, its achieved fraction of each row's roofline bound
    (beyond the class's fixed time, as `fit_curves` reads them) against the tokens routed to
    each expert: the median per load, capped at 1."""
    t_compute, t_memory = _roofline(s, device)
    busy = np.maximum(np.asarray(s.time, dtype=float) - curves.fixed * s.kernels, 1e-12)
    frame = pd.DataFrame(
        {
            "layer": moe_layer_keys(s),
            "load": np.round(np.log10(np.asarray(s.aspect, dtype=float)), 4),
            "fraction": np.clip(np.maximum(t_compute, t_memory) / busy, FLOOR, 1.0),
        }
    )
    grouped = frame.assign(bound=np.maximum(t_compute, t_memory)).groupby(["layer", "load"])
    medians = grouped[["fraction", "bound"]].median().assign(rows=grouped.size())
    # Each layer's time, its bound over its fraction, held to grow with the load: a layer
    # given more tokens never finishes sooner.
    return {
        str(layer): LayerCurve(
            log10_loads=tuple(float(x) for x in part.index.get_level_values("load")),
            fractions=tuple(
                float(f)
                for f in monotone_time(
                    np.log10(part["bound"].to_numpy()),
                    part["fraction"].to_numpy(),
                    part["rows"].to_numpy(dtype=float),
                )
            ),
            power_law=True,
        )
        for layer, part in medians.groupby(level="layer")
    }


def layer_holdout(s: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Every other token count of each MoE layer shape (in sorted order) is held out."""
    frame = pd.DataFrame({"layer": moe_layer_keys(s), "tokens": np.asarray(s.sizes)[:, 0]})
    rank = frame.groupby("layer")["tokens"].rank(method="dense").to_numpy()
    held = rank % HOLDOUT == 0
    return ~held, held


def predict_layers(
    s: Samples, device: Device, curves: ClassEfficiency, layers: dict[str, LayerCurve]
) -> np.ndarray:
    """Time the profile gives MoE rows: their layer's fractions where it has them, else the
    class's (`predict`)."""
    time = predict(s, device, curves)
    bound = np.maximum(*_roofline(s, device))
    keys = pd.Series(moe_layer_keys(s))
    for layer, rows in keys.groupby(keys).groups.items():
        if layer in layers:
            rows = np.asarray(rows)
            fraction = layers[layer](np.asarray(s.aspect)[rows])
            time[rows] = curves.fixed * s.kernels + bound[rows] / fraction
    return time


def _holdout(s: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Every other distinct shape (in sorted order) is held out."""
    _, inverse = np.unique(np.asarray(s.sizes, dtype=float), axis=0, return_inverse=True)
    held = inverse.ravel() % HOLDOUT == 1
    return ~held, held


def _subset(s: Samples, rows: np.ndarray) -> Samples:
    return Samples(
        s.op_class,
        s.dtype,
        s.peak_dtype,
        s.ops[rows],
        s.memory[rows],
        np.asarray(s.time)[rows],
        np.asarray(s.sizes)[rows],
        s.kernels,
        None if s.aspect is None else s.aspect[rows],
        s.fill_first,
        None if s.weight_share is None else s.weight_share[rows],
        s.state_bits,
    )


def errors(values: np.ndarray) -> dict[str, float]:
    a = np.abs(values)
    if not len(a):
        return {"median": np.nan, "p90": np.nan, "n": 0}
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "n": len(a)}


def collective_tables(
    df: pd.DataFrame, kind_column: str | None, source: str, kinds: dict[str, str]
) -> dict[str, tuple[pd.DataFrame, str]]:
    """Rows per rooflens collective kind, with message sizes in bytes."""
    dtype_col = next(c for c in ("nccl_dtype", "allreduce_dtype") if c in df.columns)
    df = df[df[dtype_col].isin(COMM_BYTES) & (df["latency"] > 0)].copy()
    df["bytes"] = df["message_size"] * df[dtype_col].map(COMM_BYTES)
    if "backend" in df.columns:  # the engines run decode in CUDA graphs
        graph = df["backend"].astype(str).str.contains("graph")
        df = df[graph] if graph.any() else df
    out = {}
    for name, kind in kinds.items():
        rows = df if kind_column is None else df[df[kind_column] == name]
        rows = rows[rows[dtype_col] != "int8"] if (rows[dtype_col] != "int8").any() else rows
        if not rows.empty:
            out[kind] = (rows, source)
    return out


def collective_table(rows: pd.DataFrame, source: str) -> CollectiveTable:
    """Median measured time per message size, one curve per group size."""
    curves = []
    for ranks, part in rows.groupby("num_gpus"):
        med = part.groupby("bytes")["latency"].median()
        curves.append(
            CollectiveCurve(
                ranks=int(ranks),
                log10_bytes=tuple(np.log10(med.index.to_numpy(float))),
                log10_seconds=tuple(np.log10(med.to_numpy(float) * 1e-3)),
            )
        )
    return CollectiveTable(source=source, curves=tuple(curves))


def collective_errors(rows: pd.DataFrame, source: str) -> dict[str, float]:
    """Fit on every other message size per group, error on the others."""
    misses = []
    for _, part in rows.groupby("num_gpus"):
        med = part.groupby("bytes")["latency"].median()
        if len(med) < 3:
            continue
        fit, held = med.iloc[::2], med.iloc[1::2]
        held = held[held.index < fit.index[-1]]  # interpolation, not extrapolation
        c = CollectiveCurve(
            ranks=int(part["num_gpus"].iloc[0]),
            log10_bytes=tuple(np.log10(fit.index.to_numpy(float))),
            log10_seconds=tuple(np.log10(fit.to_numpy(float))),
        )
        misses.append(c(held.index.to_numpy(float)) / held.to_numpy(float) - 1)
    return errors(np.concatenate(misses)) if misses else {"median": np.nan, "p90": np.nan, "n": 0}


@dataclass(frozen=True)
class Fit:
    profile: EngineProfile
    held_out: dict[str, dict[str, float]]  # "class:dtype" or "collective:kind" -> errors


def fit_engine(
    root: Path,
    system: str,
    engine: str,
    device: Device,
    version: str | None = None,
    package_version: str = "unknown",
    source: str | None = None,
) -> Fit:
    """The engine's profile on `system`, and the held-out errors of the same fit on half the
    shapes. Where the engine's tables time an attention only inside whole modules
    (MODULE_TABLES: sparse latent attention, DeepSeek-V4's compressed attention), a second fit
    adds its curves, from the modules less their other operators as the first fit prices
    them."""
    # Where the tables were read: the package's systems/data, or `source` (a folder of the
    # user's, whose package version is not known).
    named = {"source": source} if source else {}
    fit = _fit_engine(root, system, engine, device, version, package_version, None, None, named)
    engine, release = fit.profile.engine, fit.profile.engine_version
    extra: list[Samples] = []
    notes: dict[str, str] = {}
    provenance: dict[str, str] = dict(named)
    for family in MODULE_TABLES:
        if engine not in family.engines:
            continue
        # The module tables of the release the other tables were read at (the GEMMs'), else
        # the nearest.
        folder = pick_version(root, system, "sparse_attention", engine, release, family.tables)
        if folder is None:
            continue
        frames = [read_table(folder, t) for t in family.tables]
        found = [
            x
            for x in module_samples(frames, family, engine, device, fit.profile)
            if len(x.time) >= MIN_ROWS
        ]
        if not found:
            continue
        models = sorted(
            {str(m) for f in frames if f is not None for m in f["model"].unique()}
            & set(family.models)
        )
        read = [t for t, f in zip(family.tables, frames, strict=True) if f is not None]
        note = (
            f"fitted on {engine}'s whole attention modules ({', '.join(read)}, "
            f"{' and '.join(models)}) less their {family.what} as this profile prices them: "
            "the kernel's time and whatever the module spends around its operators"
        )
        extra += found
        notes |= {f"{x.op_class.removesuffix('_decode')}:{x.dtype}": note for x in found}
        if family.decode_note:
            notes[family.name] = family.decode_note
        provenance[f"db.{family.name}_modules"] = (
            f"{engine} {folder.name}, collected {collection_date(folder)}"
        )
    if not extra:
        return fit
    return _fit_engine(
        root, system, engine, device, version, package_version, extra, notes, provenance
    )


def _fit_engine(
    root: Path,
    system: str,
    engine: str,
    device: Device,
    version: str | None = None,
    package_version: str = "unknown",
    extra: list[Samples] | None = None,
    extra_notes: dict[str, str] | None = None,
    extra_provenance: dict[str, str] | None = None,
) -> Fit:
    """fit_engine's one fit, with `extra` samples beside the tables' own, their fallback
    notes and provenance."""
    engine = str(engine_name(engine))
    if engine not in ENGINES:
        raise InvalidInputError("engine", engine, f"one of {', '.join(ENGINES)}")
    if not (root / system).is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise InvalidInputError("system", system, f"a system of {root}: {', '.join(have)}")
    if version is not None:
        # A release the tables do not hold would be fitted on another's and named for it.
        held = table_versions(root, system, engine)
        if version not in held:
            raise InvalidInputError(
                "version",
                version,
                f"a release the tables hold for {engine} on {system}: "
                + (", ".join(held) or "none"),
            )
    gemm_dir = pick_version(root, system, "gemm", engine, version, ("gemm_perf",))
    if gemm_dir is None:
        raise InvalidInputError(
            "engine", engine, f"an engine with GEMM tables on {system} ({root / system / 'gemm'})"
        )
    version = version or gemm_dir.name
    provenance = {
        "source": f"{PACKAGE} {package_version} (Apache-2.0), systems/data/{system}",
        "system": system,
        "fit_date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "host_per_iteration": "not measured: the operator databases time kernels, not steps",
        "moe_rows": (
            f"balanced, each at its cell's {SKEWED_DISTRIBUTION} time where longer (a series "
            f"over {SKEWED_AGREEMENT:g} times the balanced at one token, one rank, left out; "
            f"a series over {TP_AGREEMENT:g} times its layer's at half the MoE TP, left out); "
            "Nemotron-3's ReLU² layers as two GEMMs (NON_GATED_LAYERS), the others three"
        ),
    }
    samples: list[Samples] = []
    foreign: dict[str, str] = {}  # attention types fitted on no rows of the engine's kernels
    marlin_other_layer = False
    own = ATTENTION_KERNELS.get(engine, ())
    state = SCAN_STATE_BITS[engine]
    # The kernels standing for a MoE type's own: the engine's on this system, and those its
    # MoE table says (online_fp8_kernels), which the fallback notes below name.
    moe_kernels = dict(MOE_KERNELS.get((engine, system), {}))

    def read_moe(table: pd.DataFrame) -> list[Samples]:
        moe_kernels.update(online_fp8_kernels(engine, table))
        return moe_samples(table, moe_kernels)

    readers: list[tuple[str, list[str], Callable[..., list[Samples]]]] = [
        ("gemm", ["gemm_perf"], gemm_samples),
        ("attention", ["context_attention_perf"], lambda d: _attention_samples(d, False, own)),
        ("attention", ["generation_attention_perf"], lambda d: _attention_samples(d, True, own)),
        ("moe", ["moe_perf"], read_moe),
        ("mla", ["context_mla_perf", "generation_mla_perf"], mla_samples),
        ("sparse_attention", ["glm5_dsa_attn_module_perf"], dsa_samples),
        ("linear_attention", ["gdn_perf"], lambda d: scan_samples(d, "gated_deltanet", state)),
        ("kda", ["kda_perf"], lambda d: scan_samples(d, "kda", state)),
        ("quantize", ["scale_matrix_perf"], vector_samples),
    ]
    for op, tables, reader in readers:
        folder = pick_version(root, system, op, engine, version, tuple(tables))
        frames = [read_table(folder, t) if folder else None for t in tables]
        if all(f is None for f in frames):
            continue
        provenance[f"db.{op}"] = (
            f"{engine} {folder.name}, collected {collection_date(folder, tuple(tables))}"  # type: ignore[union-attr,arg-type]
        )
        chosen = kernel_choice(op, [f for f in frames if f is not None], own)
        if chosen:
            provenance[f"kernels.{op}"] = chosen
        if op == "attention":
            phase = "prefill" if tables == ["context_attention_perf"] else "decode"
            priced_as = "attention_prefill" if phase == "prefill" else "attention"
            for kv in foreign_kv_types(full_attention_rows(frames[0]), own):
                others = sorted(set(frames[0]["kernel_source"].astype(str)) - set(own))
                foreign[f"{priced_as}:{kv}"] = (
                    f"its {kv}-cache {phase} rows time only kernels {engine} does not run here "
                    f"({', '.join(others)}): fitted on the bf16-cache rows of its own "
                    f"({', '.join(own)}) at their measured times, priced with the {kv} cache"
                )
        if op == "mla" and frames[0] is not None and _absorbed_context(frames[0]).any():
            foreign["mla_prefill"] = (
                "its context rows time the absorbed kernel's shapes (576-wide queries over one "
                "latent key, 512-wide values), not the decompressed prefill the engine runs "
                "here: fitted as that kernel's OPs and bytes, priced on the decompressed form"
            )
        if op == "moe":
            marlin_other_layer = marlin_elsewhere(frames[0])
        # Rows recorded with no time (failed measurements) say nothing.
        kept = [_subset(x, np.asarray(x.time) > 0) for x in reader(*frames)]
        samples += [x for x in kept if len(x.time) >= MIN_ROWS]
    samples += extra or []
    provenance |= extra_provenance or {}
    samples, stand_ins = _stand_in_gemms(samples, root, system, engine, provenance)
    samples, moe_stand_ins = _stand_in_moe(samples, root, system, engine, provenance)
    stand_ins |= moe_stand_ins
    samples, refused = _plausible_gemms(samples)
    fp8 = next((x for x in samples if (x.op_class, x.dtype) == ("matmul", "fp8")), None)
    quantize_dir = pick_version(root, system, "quantize", engine, version, ("computescale_perf",))
    compute_scale = read_table(quantize_dir, "computescale_perf") if quantize_dir else None
    static = (
        static_scale_samples(fp8, compute_scale)
        if fp8 is not None and compute_scale is not None
        else None
    )
    if static is not None:
        samples.append(static)
        provenance["db.computescale"] = (
            f"{engine} {quantize_dir.name}, collected {collection_date(quantize_dir)}"  # type: ignore[union-attr]
        )
    scale_matrix = read_table(quantize_dir, "scale_matrix_perf") if quantize_dir else None
    apart = (
        quantize_apart(fp8, scale_matrix, compute_scale)
        if engine in QUANTIZE_APART and fp8 is not None and scale_matrix is not None
        else None
    )
    if apart is not None:
        typed = ("fp8", "fp8_static")
        samples = [x for x in samples if not (x.op_class == "matmul" and x.dtype in typed)]
        samples += apart[0]
        provenance["quantize"] = (
            "FP8 GEMM rows fitted less their input's quantization as the quantize tables time "
            "it at the row's m and k; the pass priced apart (quantize:fp8, quantize:fp8_static)"
        )
    full: tuple[dict, dict] = ({}, {})
    half: tuple[dict, dict] = ({}, {})
    for s in samples:
        fit_part, _ = _holdout(s)
        _store(s, fit_curves(s, device), *full)
        _store(s, fit_curves(_subset(s, fit_part), device), *half)
    classes, dtype_classes = _merge_phases(*full)
    half_classes, half_dtypes = _merge_phases(*half)
    held_out: dict[str, dict[str, float]] = {}
    fallbacks: dict[str, str] = dict(refused) | foreign
    marlin_key, mxfp4_key = "moe:w4a16_marlin", "moe:w4a16"
    if marlin_other_layer and marlin_key in dtype_classes and mxfp4_key in dtype_classes:
        for fitted in (dtype_classes, half_dtypes):
            fitted[marlin_key] = marlin_compute_bound(fitted[marlin_key], fitted[mxfp4_key])
        fallbacks[marlin_key] = (
            "no Marlin MXFP4 kernel measured at the layer shapes of the engine's own MXFP4 "
            "kernel (gpt-oss's): compute-bound expert GEMMs take the fractions of Marlin's "
            "tensor-parallel rows of another layer, memory-bound ones the w4a16 (MXFP4) "
            "kernel's (its layer's fractions where measured), an upper bound where vLLM "
            "measured Marlin the faster (vllm-project/vllm#27523)"
        )
    for s in samples:
        # Prefill rows are priced by their own class's curves, others by the merged class's.
        cls = s.op_class if s.op_class in PHASE_OF else s.family
        curves = half_dtypes.get(f"{cls}:{s.dtype}") or half_classes[cls]
        held_s = _subset(s, _holdout(s)[1])
        held_out[f"{s.op_class}:{s.dtype}"] = errors(
            predict(held_s, device, curves) / np.asarray(held_s.time) - 1
        )
    moe_layers: dict[str, LayerCurve] = {}
    for s in samples:
        if s.op_class != "moe":
            continue
        curves = dtype_classes.get(f"moe:{s.dtype}") or classes["moe"]
        moe_layers |= {
            f"{s.dtype}/{layer}": c for layer, c in layer_curves(s, device, curves).items()
        }
        # Held out: every other token count of each layer, against the fit on the others.
        fit_part, held = layer_holdout(s)
        train, held_s = _subset(s, fit_part), _subset(s, held)
        train_curves = fit_curves(train, device)
        layers = layer_curves(train, device, train_curves)
        held_out[f"moe-layers:{s.dtype}"] = errors(
            predict_layers(held_s, device, train_curves, layers) / np.asarray(held_s.time) - 1
        )
    if apart is not None:
        # Held out as measured: the whole FP8 rows against GEMM and pass both priced.
        gemm, dynamic = apart[0][0], apart[1]
        held = _holdout(gemm)[1]
        rows = _subset(gemm, held)
        static_pass = input_pass_time(
            scale_matrix, None, rows.sizes[:, 0], rows.sizes[:, 2], dynamic=False
        )
        for dtype, measured_pass in (("fp8", dynamic[held]), ("fp8_static", static_pass)):
            priced = predict(rows, device, half_dtypes[f"matmul:{dtype}"]) + quantize_pass_time(
                half_dtypes[f"quantize:{dtype}"],
                rows.sizes[:, 0] * rows.sizes[:, 2],
                device.memory_bandwidth,
            )
            whole = np.asarray(rows.time) + measured_pass
            held_out[f"matmul:{dtype}"] = errors(priced / whole - 1)
    for cls in ("matmul", "attention", "vector"):
        if cls not in classes:
            classes[cls] = ClassEfficiency(compute=_FLAT, memory=_FLAT)
            fallbacks[cls] = "not measured: priced at the roofline bound"
    for cls, parent in PARENT_CLASS.items():
        if cls not in classes:
            fallbacks[cls] = f"not measured for {engine}: priced with the {parent} curves"
    for cls in SUBCLASS_OF:
        own = sorted(k for k in dtype_classes if k.partition(":")[0] == cls)
        if cls not in classes and own:
            # The only kernel measured prices the cache types it was not timed with.
            narrow = [k for k in own if not k.endswith(WIDE)] or own
            wide = [k for k in own if k.endswith(WIDE)]
            classes[cls] = dtype_classes[narrow[0]]
            for dtype in ("bf16", "fp8", "fp4"):
                if f"{cls}:{dtype}" not in own:
                    fallbacks[f"{cls}:{dtype}"] = f"not measured: the {narrow[0]} curves"
                # A wide group of an unmeasured cache type takes a measured wide group's.
                if wide and f"{cls}:{dtype}{WIDE}" not in own:
                    dtype_classes[f"{cls}:{dtype}{WIDE}"] = dtype_classes[wide[0]]
                    fallbacks[f"{cls}:{dtype}{WIDE}"] = f"not measured: the {wide[0]} curves"
    # A profile with a subclass's prefill curves prices its decode steps as the base class's:
    # said where it holds (without them, the base class's own fallback says what prices it).
    for phase, cls in PHASE_OF.items():
        if cls in SUBCLASS_OF and phase in classes and cls not in classes:
            fallbacks[cls] = (
                f"its decode kernel not measured for {engine}: priced as {SUBCLASS_OF[cls]}"
            )
    for dtype in ("fp8", "fp4"):
        if dtype not in device.peak_ops:
            runs_as = device.matrix_dtype(8 if dtype == "fp8" else 4, True, True)
            fallbacks[f"matmul:{dtype}"] = (
                f"{device.name} has no {dtype} tensor type: such operands compute as {runs_as}, "
                f"priced with the {runs_as} curves"
            )
        elif f"matmul:{dtype}" not in dtype_classes:
            fallbacks[f"matmul:{dtype}"] = (
                f"no {dtype} GEMM measured: the bf16 curves' fractions of the {dtype} peak"
            )
    if "matmul:fp8" in dtype_classes and "matmul:fp8_static" not in dtype_classes:
        fallbacks["matmul:fp8_static"] = (
            "no activation-scale pass measured apart from the FP8 GEMMs: static activation "
            "scales are priced as the fp8 GEMMs, which compute theirs"
        )
    if "moe:w4a16_marlin" not in dtype_classes:
        fallbacks["moe:w4a16_marlin"] = (
            "no Marlin MXFP4 kernel measured at the layer shapes of the engine's own MXFP4 "
            "kernel (gpt-oss's): the w4a16 (MXFP4) curves, an upper bound where vLLM measured "
            "Marlin the faster (vllm-project/vllm#27523), else bf16's"
        )
    if "moe:w4a16_int" not in dtype_classes:
        fallbacks["moe:w4a16_int"] = (
            "no INT4 weight-only MoE kernel measured: the w4a16 (MXFP4) curves, else bf16's"
        )
    for cls in ("matmul", "moe"):
        if f"{cls}:w4a16" not in dtype_classes:
            fallbacks[f"{cls}:w4a16"] = (
                "no weight-only 4-bit kernel measured: the bf16 curves' fractions of the bf16 "
                "peak, over the 4-bit weights' bytes"
            )
    for own, runs in moe_kernels.items():
        if (own, runs) in OWN_ROWS:  # the type's own kernel, timed under another type's name
            continue
        key = f"moe:{MOE_TYPES[own][0]}"
        table, _, kernel = runs.partition(KERNEL_OF)
        source = f"the {table} table's {kernel} rows" if kernel else f"the {table} table"
        if key in dtype_classes:
            fallbacks[key] = (
                f"fitted from {source}, the kernel {engine} runs for {own} experts on {system} "
                f"({MOE_KERNEL_SOURCES[engine, own]}), priced as the {MOE_TYPES[own][0]} "
                "operator"
            )
    fallbacks.update(stand_ins)
    fallbacks.update(extra_notes or {})
    fallbacks["sizes"] = "beyond the measured sizes the fractions stay those of the nearest size"
    collectives = {}
    nccl_dir = pick_version(root, system, "comm", "nccl", None, ("nccl_perf",))
    nccl = read_table(nccl_dir, "nccl_perf") if nccl_dir else None
    parts: dict[str, tuple[pd.DataFrame, str]] = {}
    if nccl is not None:
        provenance["db.nccl"] = f"nccl {nccl_dir.name}, collected {collection_date(nccl_dir)}"  # type: ignore[union-attr]
        parts |= collective_tables(nccl, "op_name", f"NCCL {nccl_dir.name}", NCCL_KINDS)  # type: ignore[union-attr]
    custom_dir = pick_version(root, system, "comm", engine, version, ("custom_allreduce_perf",))
    custom = read_table(custom_dir, "custom_allreduce_perf") if custom_dir else None
    if custom is not None:
        provenance["db.custom_all_reduce"] = (
            f"{engine} {custom_dir.name}, collected "  # type: ignore[union-attr]
            f"{collection_date(custom_dir, ('custom_allreduce_perf',))}"  # type: ignore[arg-type]
        )
        parts |= collective_tables(
            custom, None, f"{engine} {custom_dir.name} custom all-reduce",  # type: ignore[union-attr]
            {"all_reduce": "custom_all_reduce"},
        )  # fmt: skip
    for kind, (rows, source) in parts.items():
        collectives[kind] = collective_table(rows, source)
        held_out[f"collective:{kind}"] = collective_errors(rows, source)
    if not collectives:
        fallbacks["collectives"] = "none measured: the link model"
    profile = EngineProfile(
        device=device.name,
        engine=engine,
        engine_version=version,
        kernel_time=0.0,
        classes=classes,
        dtype_classes=dtype_classes,
        collectives=collectives,
        fallbacks=fallbacks,
        provenance=provenance,
        moe_layers=moe_layers,
    )
    return Fit(profile, held_out)


def _stand_in_gemms(
    samples: list[Samples], root: Path, system: str, engine: str, provenance: dict[str, str]
) -> tuple[list[Samples], dict[str, str]]:
    """The samples with each GEMM type of GEMM_STAND_INS[engine] fitted on the standing-in
    engine's newest rows of `system` where it has enough of them (their source in
    `provenance`, `db.gemm:<type>`), and the fallback note of each type so fitted."""
    notes: dict[str, str] = {}
    for table_type, other in GEMM_STAND_INS.get(engine, {}).items():
        folder = pick_version(root, system, "gemm", other, None, ("gemm_perf",))
        rows = read_table(folder, "gemm_perf") if folder is not None else None
        if folder is None or rows is None:
            continue
        found = gemm_samples(rows[rows["gemm_dtype"] == table_type])
        kept = [_subset(x, np.asarray(x.time) > 0) for x in found]
        kept = [x for x in kept if len(x.time) >= MIN_ROWS]
        if not kept:
            continue
        dtype = GEMM_TYPES[table_type][0]
        # In the place of the engine's own rows, so the profile lists its types in one order.
        own = [i for i, x in enumerate(samples) if (x.op_class, x.dtype) == ("matmul", dtype)]
        at = own[0] if own else len(samples)
        rest = [x for i, x in enumerate(samples) if i not in own]
        samples = [*rest[:at], *kept, *rest[at:]]
        provenance[f"db.gemm:{dtype}"] = (
            f"{other} {folder.name}, collected {collection_date(folder)}"
        )
        notes[f"matmul:{dtype}"] = (
            f"fitted from {other}'s {table_type} GEMM rows: {engine}'s own are timed outside "
            "its autotuner, which its serving runs (GEMM_STAND_INS)"
        )
    return samples, notes


def _stand_in_moe(
    samples: list[Samples], root: Path, system: str, engine: str, provenance: dict[str, str]
) -> tuple[list[Samples], dict[str, str]]:
    """The samples with each MoE type of MOE_STAND_INS[(engine, system)] fitted on the
    standing-in engine's newest rows of its kernel on `system`, priced as the operator of the
    type the entry names, where it has enough of them (their source in `provenance`,
    `db.moe:<type>`), and the fallback note of each type so fitted."""
    notes: dict[str, str] = {}
    stand_ins = MOE_STAND_INS.get((engine, system), {})
    for dtype, (priced_as, table_type, other, kernel) in stand_ins.items():
        folder = pick_version(root, system, "moe", other, None, ("moe_perf",))
        rows = read_table(folder, "moe_perf") if folder is not None else None
        if folder is None or rows is None or "kernel_source" not in rows.columns:
            continue
        rows = rows[rows["kernel_source"].astype(str) == kernel]
        operator = MOE_TYPES[priced_as][0]
        found = moe_samples(rows, {priced_as: table_type})
        kept = [_subset(x, np.asarray(x.time) > 0) for x in found if x.dtype == operator]
        kept = [replace(x, dtype=dtype) for x in kept if len(x.time) >= MIN_ROWS]
        if not kept:
            continue
        samples = [*samples, *kept]
        provenance[f"db.moe:{dtype}"] = (
            f"{other} {folder.name} ({kernel}), collected {collection_date(folder)}"
        )
        notes[f"moe:{dtype}"] = (
            f"fitted from {other}'s {table_type} MoE rows of {kernel} (the kernel {engine} "
            f"runs for {dtype}), priced as the {operator} operator: its own tables do not "
            "time it at the layers it runs (MOE_STAND_INS)"
        )
    return samples, notes


def _plausible_gemms(samples: list[Samples]) -> tuple[list[Samples], dict[str, str]]:
    """The samples without GEMM tables whose floor is GEMM_FLOOR_RATIO times the bf16 GEMMs'
    (see GEMM_FLOOR_RATIO), and the fallback each refused type takes."""
    bf16 = [float(np.min(s.time)) for s in samples if (s.op_class, s.dtype) == ("matmul", "bf16")]
    if not bf16:
        return samples, {}
    kept, refused = [], {}
    for s in samples:
        floor = float(np.min(s.time))
        if s.op_class == "matmul" and floor > GEMM_FLOOR_RATIO * bf16[0]:
            to = DTYPE_FALLBACK.get(s.dtype, "bf16")
            refused[f"matmul:{s.dtype}"] = (
                f"its GEMM table is not used: its fastest kernel takes {floor * 1e6:.1f} us, "
                f"{floor / bf16[0]:.0f} times the fastest bf16 GEMM ({bf16[0] * 1e6:.1f} us), "
                f"time around the kernel that no other table shows; priced with the {to} curves"
            )
        else:
            kept.append(s)
    return kept, refused


_FLAT = EfficiencyCurve(log10_sizes=(0.0,), fractions=(1.0,))


def _store(s: Samples, curves: ClassEfficiency, classes: dict, dtype_classes: dict) -> None:
    # bf16 curves are the class's own; other types' curves override them for that type.
    if s.dtype == "bf16":
        classes[s.op_class] = curves
    else:
        dtype_classes[f"{s.op_class}:{s.dtype}"] = curves


def _merge_phases(classes: dict, dtype_classes: dict) -> tuple[dict, dict]:
    """Attention and MLA: the class (decode steps') takes its compute curve and grid from
    prefill and its memory curve and grid from decode (decode rows are memory-bound on the
    roofline); a step that prefills reads the prefill rows' own curves (`attention_prefill`,
    `mla_prefill`), since rooflens's FlashAttention traffic makes most prefill rows
    memory-bound too (all of vLLM's H200 bf16 rows), at fractions decode's memory curve does
    not give."""
    merged_classes = {k: v for k, v in classes.items() if "_" not in k}
    merged_dtypes = {k: v for k, v in dtype_classes.items() if "_" not in k.split(":")[0]}
    for source, target, key_of in (
        (classes, merged_classes, lambda cls, dt: cls),
        (dtype_classes, merged_dtypes, lambda cls, dt: f"{cls}:{dt}"),
    ):
        for key in list(source):
            name, _, dtype = key.partition(":")
            if not name.endswith("_prefill"):
                continue
            cls = name.removesuffix("_prefill")
            decode_key = f"{cls}_decode" + (f":{dtype}" if dtype else "")
            prefill = source[key]
            target[key_of(name, dtype)] = prefill
            if cls in SUBCLASS_OF and decode_key not in source:
                continue  # its decode steps take the class it is a kind of (SUBCLASS_OF)
            decode = source.get(decode_key, prefill)
            target[key_of(cls, dtype)] = ClassEfficiency(
                compute=prefill.compute,
                memory=decode.memory,
                compute_grid=prefill.compute_grid,
                memory_grid=decode.memory_grid,
                fixed=decode.fixed,  # the fixed time matters in short decode kernels
                peak=prefill.peak,
            )
        for key in list(source):  # decode measured without prefill
            name, _, dtype = key.partition(":")
            if name.endswith("_decode"):
                cls = name.removesuffix("_decode")
                target.setdefault(key_of(cls, dtype), source[key])
    return merged_classes, merged_dtypes


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version(PACKAGE)
    except Exception:  # not installed: a --data-dir copy
        return "unknown"


def shipped_profiles(root: Path, out_dir: Path, version_label: str) -> list[str]:
    """Refit every shipped profile (vllm, sglang, trtllm on each device of SYSTEMS, at the
    newest tables and at each of `older_versions`) into `out_dir`; returns the held-out errors
    of the newest as markdown table rows for docs/engines.md."""
    from rooflens.calibration.profile import save_profile
    from rooflens.hardware.catalog import get_device

    rows = []
    for device_name, system in SYSTEMS.items():
        device = get_device(device_name)
        for engine in ENGINES:
            for older in older_versions(root, system, engine):
                fit = fit_engine(root, system, engine, device, older, version_label)
                save_profile(fit.profile, out_dir / f"{engine}-{device_name}@{older}.json")
            fit = fit_engine(root, system, engine, device, package_version=version_label)
            save_profile(fit.profile, out_dir / f"{engine}-{device_name}.json")
            for key, err in fit.held_out.items():
                rows.append(
                    f"| {device_name} | {engine} {fit.profile.engine_version} | {key} | "
                    f"{err['median']:.1%} | {err['p90']:.1%} | {err['n']} |"
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    """python -m rooflens.calibration.aiconfigurator [DATA_DIR] [PACKAGE_VERSION]"""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m rooflens.calibration.aiconfigurator",
        description="Refit every shipped vLLM, SGLang and TensorRT-LLM profile from "
        "aiconfigurator's operator tables and print the held-out errors (docs/engines.md).",
    )
    parser.add_argument(
        "data_dir", nargs="?", default=None,
        help="a copy of aiconfigurator-core's systems/data folder; default: the installed "
        "package's",
    )  # fmt: skip
    parser.add_argument(
        "package_version", nargs="?", default=None,
        help="the aiconfigurator-core release the tables come from (the profiles' provenance); "
        "default: the installed package's",
    )  # fmt: skip
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parents[1] / "engines" / "profiles"
    try:
        data = data_root(Path(args.data_dir) if args.data_dir else None)
    except RooflensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    label = args.package_version or package_version()
    print("| device | engine | operator:dtype | median abs. error | p90 | held-out rows |")
    print("|---|---|---|---|---|---|")
    print("\n".join(shipped_profiles(data, here, label)))


if __name__ == "__main__":
    main()
