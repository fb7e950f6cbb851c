"""How InferenceX launched the engine for a measured run: the scheduler flags of its
benchmark script on the run's date (github.com/SemiAnalysisAI/InferenceX, Apache-2.0).

InferenceX runs each single-node benchmark with a shell script per model, precision, GPU and
engine (`benchmarks/.../dsr1_fp8_b200.sh`, `..._trt.sh`) that picks the engine's flags from
the run's tensor parallelism, expert parallelism, attention DP, concurrency and lengths, and
the scripts change over time. `launch_commands` runs one script version under bash with
every external command replaced by a recorder, so its own conditions pick the flags;
`scheduler_flags` reads the scheduler's off the launch line (and trtllm-serve's options
file), `kv_cache_bits` the KV cache's precision, `recurrent_state_bits` a recurrent
mixer's state's, `memory_share` the memory it may take,
`mxfp4_kernel` the MXFP4 experts' kernel.
scripts/inferencemax_launches.py walks a clone's history and writes the index shipped as
`data/inferencemax_launches.csv`; the engine validation looks a run up there
(`scheduler_updates`). Nothing here reads a measured time.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import yaml

from rooflens.engines import vllm
from rooflens.measure.inferencemax import MODEL_NAMES, measured_field, names_model, open_shipped

INDEX_FILE = "inferencemax_launches.csv"
# Each engine's launch flags that take a number -> the SchedulerConfig field they set:
# SGLang's python/sglang/srt/server_args.py, vLLM's EngineArgs, trtllm-serve's options.
FLAGS = {
    "sglang": {
        "--scheduler-recv-interval": "receive_interval",
        "--chunked-prefill-size": "chunk_size",
        "--max-prefill-tokens": "max_tokens",
        "--max-running-requests": "max_batch",
    },
    "vllm": {"--max-num-batched-tokens": "max_tokens", "--max-num-seqs": "max_batch"},
    "trtllm": {"--max_num_tokens": "max_tokens", "--max_batch_size": "max_batch"},
}
# Flags without a value -> (field, value).
SWITCHES = {
    "sglang": {"--disable-radix-cache": ("prefix_sharing", False)},
    "vllm": {
        "--no-enable-prefix-caching": ("prefix_sharing", False),
        "--enable-prefix-caching": ("prefix_sharing", True),
    },
    "trtllm": {},
}
# trtllm-serve's options file (--extra_llm_api_options, later --config): its keys override
# the command line's; kv_cache_config.enable_block_reuse is its prefix cache. vllm serve's
# --config file holds its flags as keys without the dashes (`max-num-batched-tokens: 8192`,
# `no-enable-prefix-caching: true`), which the command line's override.
TRTLLM_FILE_FLAGS = ("--extra_llm_api_options", "--config")
TRTLLM_FILE_KEYS = {
    "max_num_tokens": "max_tokens",
    "max_batch_size": "max_batch",
    "batch_wait_timeout_iters": "batch_wait_iterations",
    "batch_wait_max_tokens_ratio": "batch_wait_ratio",
}
# TensorRT-LLM holds prompts back only without attention DP (py_executor.py, _schedule);
# with it, its attention_dp_config balances them across the ranks.
TRTLLM_BATCH_WAIT = ("batch_wait_iterations", "batch_wait_ratio")
TRTLLM_DP_BALANCE = {
    "enable_balance": "dp_balance",
    "timeout_iters": "dp_balance_timeout",
    "batching_wait_iters": "dp_balance_wait",
}
# The KV cache's storage a launch names -> its bits: vllm serve's and SGLang's
# --kv-cache-dtype (vLLM's CacheDType, SGLang's server_args choices), trtllm-serve's
# kv_cache_config.dtype. "auto" (the checkpoint's own) sets nothing.
KV_CACHE_FLAG = "--kv-cache-dtype"
KV_CACHE_BITS = {
    "fp8": 8, "fp8_e4m3": 8, "fp8_e5m2": 8, "fp8_inc": 8,
    "nvfp4": 4, "fp4_e2m1": 4,
    "bf16": 16, "bfloat16": 16, "fp16": 16, "float16": 16,
}  # fmt: skip
# The recurrent state's storage a launch names -> its bits (rooflens' state_bits): SGLang's
# --mamba-ssm-dtype and vLLM's --mamba-ssm-cache-dtype (its "auto" is the checkpoint's own).
STATE_FLAGS = {"sglang": "--mamba-ssm-dtype", "vllm": "--mamba-ssm-cache-dtype"}
STATE_BITS = {"float32": 32, "bfloat16": 16, "float16": 16}
# The memory share for weights and KV cache a launch names (rooflens' memory_fraction, read
# as each engine's profile reads it): vllm serve's --gpu-memory-utilization and SGLang's
# --mem-fraction-static (of the device), trtllm-serve's --kv_cache_free_gpu_memory_fraction
# and its options file's kv_cache_config.free_gpu_memory_fraction (of what the weights leave).
MEMORY_FLAGS = {
    "vllm": "--gpu-memory-utilization",
    "sglang": "--mem-fraction-static",
    "trtllm": "--kv_cache_free_gpu_memory_fraction",
}
# The index's columns: what a run is looked up by, then the fields its script set, by type:
# SchedulerConfig's, the KV cache's and the recurrent state's bits (kv_bits, state_bits:
# precision settings), the memory share (memory_fraction, an engine setting) and the kernels
# of MXFP4 weights and of FP8 block-scaled experts (w4_kernel, fp8_moe_kernel: precision
# settings).
KEYS = ["engine", "script", "since", "until", "tp", "ep", "dp_attention", "conc", "isl", "osl"]
FIELD_TYPES: dict[str, type] = {
    "receive_interval": int,
    "chunk_size": int,
    "max_tokens": int,
    "max_batch": int,
    "prefix_sharing": bool,
    "batch_wait_iterations": int,
    "batch_wait_ratio": float,
    "dp_balance": bool,
    "dp_balance_timeout": int,
    "dp_balance_wait": int,
    "kv_bits": int,
    "state_bits": int,
    "memory_fraction": float,
    "w4_kernel": str,
    "fp8_moe_kernel": str,
    "draft_tokens": int,
    "graph_tokens": int,
}
FIELDS = list(FIELD_TYPES)
# Fields the report reads and the simulation does not (graph_tokens: the most tokens an
# iteration that prefills may hold and still replay a CUDA graph, prefill_graph_tokens):
# script versions that differ only in them still agree on how a run was scheduled.
DESCRIPTIVE = ("graph_tokens",)
# Fields where script versions that may have run on a measured day disagree are left unknown
# rather than leaving the run's whole launch unknown: the MoE kernel (DeepSeek-R1's FP8 B200
# script went from DEEPGEMM to TRTLLM on 2026-01-29, a day InferenceX measured it, both
# versions agreeing on its scheduler flags); unknown, the engine's tables price it. And prefix
# caching (vLLM's Kimi K2.5 and MiniMax-M2.5 scripts turned it off on 2026-03-27 and 03-28,
# days InferenceX measured them, every other flag alike): InferenceX's random prompts share
# no prefix, so it changes no run's work; unknown, the preset's default holds (which, for
# SGLang's hybrid models, also sizes the recurrent states' pool).
SEPARABLE = ("fp8_moe_kernel", "prefix_sharing")
MARK = "ROOFLENS-CALL"
# The names a benchmark script of InferenceX has had: model prefix, precision and GPU, then
# the engine (SGLang and vLLM: none, or its name), and the runner it was written for (2025:
# _docker, _slurm).
# The launchers a script name may end with, after the engine's name (dsr1_fp8_h200_trt_slurm).
LAUNCHERS = ("_docker", "_slurm")
SUFFIXES = {
    "sglang": ("", "_sglang", "_docker", "_slurm"),
    "vllm": ("", "_vllm", "_docker", "_slurm"),
    "trtllm": ("_trt", "_trtllm", "_trt_docker", "_trt_slurm"),
}

# Environment variables that choose an engine's kernels: a recorded command starts with those
# set when it ran, as a shell line would (`VLLM_MXFP4_USE_MARLIN=1 vllm serve ...`).
ENGINE_ENVIRONMENT = ("VLLM_MXFP4_USE_MARLIN", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8")
_SET = "".join(f"${{{name}+{name}=${name} }}" for name in ENGINE_ENVIRONMENT)
# Stands in for benchmark_lib.sh: every function the scripts call, and any command this
# machine lacks, only records its arguments (bash's command_not_found_handle).
_LIBRARY = f"""
command_not_found_handle() {{ printf '{MARK}\\t%s\\n' "{_SET}$*" >> "$ROOFLENS_CALLS"; return 0; }}
"""
# Commands that exist on most machines but must not run: recorders named like them, first
# on PATH (python3 -c still computes, as scripts use it for arithmetic).
_RECORDED = (
    "pip", "pip3", "sleep", "curl", "wget", "nvidia-smi", "hf", "huggingface-cli", "mpirun",
    "srun", "docker", "trtllm-serve", "vllm", "sglang", "git", "nohup", "timeout", "tail",
)  # fmt: skip


def _recorder(name: str) -> str:
    return f'#!/bin/bash\nprintf \'{MARK}\\t%s\\n\' "{_SET}{name} $*" >> "$ROOFLENS_CALLS"\n'


def _python(real: str) -> str:
    return (
        f'#!/bin/bash\nif [ "$1" = "-c" ]; then exec {shlex.quote(real)} "$@"; fi\n'
        f'printf \'{MARK}\\t%s\\n\' "python3 $*" >> "$ROOFLENS_CALLS"\n'
    )


def launch_commands(
    script: str, path: str, env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The commands one benchmark script (text, its path in the repository) would run under
    `env`, each as one line of its words, none of them run, and the text files it wrote in
    its working folder by name (an engine's options file). Paths under /workspace are moved
    into that folder."""
    real_python = subprocess.run(
        ["bash", "-c", "command -v python3"], capture_output=True, text=True, check=False
    ).stdout.strip()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as scratch:
        root = Path(scratch)
        bin_dir, work = root / "bin", root / "workspace"
        bin_dir.mkdir()
        work.mkdir()
        for name in _RECORDED:
            (bin_dir / name).write_text(_recorder(name))
        for name in ("python3", "python"):
            (bin_dir / name).write_text(_python(real_python or "/usr/bin/python3"))
        for stub in bin_dir.iterdir():
            stub.chmod(0o755)
        target = root / "repo" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(script.replace("/workspace", str(work)))
        # Every benchmark_lib.sh a script could source by a relative path.
        for folder in [target.parent, *target.parent.parents]:
            if folder == root:
                break
            (folder / "benchmark_lib.sh").write_text(_LIBRARY)
        calls = root / "calls.txt"
        calls.touch()
        environment = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(root),
            "ROOFLENS_CALLS": str(calls),
            **env,
        }
        # Sourced, so that an `exit` still waits for the commands it sent to the background.
        subprocess.run(
            ["bash", "-c", 'trap wait EXIT; . "$0"', str(target)],
            cwd=work,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        lines = calls.read_text().splitlines()
        files = {}
        for written in work.iterdir():
            if written.is_file() and written.stat().st_size < 1_000_000:
                files[written.name] = written.read_text(errors="replace")
    commands = [line.split("\t", 1)[1] for line in lines if line.startswith(MARK + "\t")]
    return commands, files


def engine_of(command: str) -> str | None:
    """The engine a launch line starts ('sglang', 'vllm', 'trtllm'), else None."""
    command = _program(command)
    if "sglang.launch_server" in command:
        return "sglang"
    if command.startswith("trtllm-serve") or " trtllm-serve " in f" {command} ":
        return "trtllm"
    if command.startswith("vllm serve") or "vllm.entrypoints" in command:
        return "vllm"
    return None


def _program(command: str) -> str:
    """A recorded command without the environment it was run with (ENGINE_ENVIRONMENT)."""
    words = command.split(" ")
    while words and words[0].partition("=")[0] in ENGINE_ENVIRONMENT:
        words.pop(0)
    return " ".join(words)


# vLLM's variables that put MXFP4 experts on another kernel, and rooflens' w4_kernel for each
# (a launch setting both is read as Marlin; none of InferenceX's scripts does).
MXFP4_KERNELS = {
    "VLLM_MXFP4_USE_MARLIN": "marlin",
    "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8": "mxfp8",
}


def mxfp4_kernel(engine: str, command: str) -> str | None:
    """'marlin' where a vLLM launch ran with VLLM_MXFP4_USE_MARLIN set true, else 'mxfp8'
    where it ran with VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8 set true (vLLM reads both as
    integers: envs.py, maybe_convert_bool), on the command line or as docker's `-e`, else
    None: the engine's own MXFP4 kernels."""
    if engine != "vllm":
        return None
    found = set()
    for word in shlex.split(command):
        name, equals, value = word.partition("=")
        if equals and name in MXFP4_KERNELS:
            try:
                if int(value):
                    found.add(MXFP4_KERNELS[name])
            except ValueError:
                continue
    return next((kernel for kernel in MXFP4_KERNELS.values() if kernel in found), None)


# trtllm-serve's MoE backends (its options file's moe_config.backend) and rooflens'
# fp8_moe_kernel for each: TRTLLM runs TensorRT-LLM-gen's kernels (TRTLLMGenFusedMoE).
TRTLLM_MOE_KERNELS = {"TRTLLM": "trtllm_gen"}


def fp8_moe_kernel(engine: str, command: str, files: Mapping[str, str] | None = None
                   ) -> str | None:  # fmt: skip
    """'trtllm_gen' where a trtllm-serve launch's options file sets moe_config.backend TRTLLM
    (TRTLLM_MOE_KERNELS), else None: the engine's tables' own kernel. Read for every launch;
    it prices block-FP8 experts only (setup_of); other types keep their profile's reading
    (NVFP4: the low-latency kernel's rows up to 128 tokens; MXFP4 on Blackwell: the MXFP8
    kernel's)."""
    if engine != "trtllm":
        return None
    config = _trtllm_options(_launch_values(engine, command, files), files).get("moe_config")
    backend = config.get("backend") if isinstance(config, dict) else None
    return TRTLLM_MOE_KERNELS.get(str(backend).upper()) if backend is not None else None


def _values(words: list[str]) -> dict[str, str]:
    """Each `--flag value` or `--flag=value` of a command's words (a flag alone: '')."""
    found = {}
    for position, word in enumerate(words):
        if not word.startswith("--"):
            continue
        flag, equals, attached = word.partition("=")
        following = words[position + 1] if position + 1 < len(words) else ""
        found[flag] = attached if equals else ("" if following.startswith("--") else following)
    return found


def _launch_values(engine: str, command: str, files: Mapping[str, str] | None
                   ) -> dict[str, str]:  # fmt: skip
    """A launch line's flags (_values), with those of vllm serve's --config file under."""
    values = _values(shlex.split(command))
    if engine == "vllm" and values.get("--config") and files:
        config = _yaml(files, values["--config"])
        from_file = {
            f"--{key}": ("" if value is True else str(value))
            for key, value in config.items()
            if value is not False
        }
        values = from_file | values
    return values


def kv_cache_bits(engine: str, command: str, files: Mapping[str, str] | None = None
                  ) -> int | None:  # fmt: skip
    """The KV cache's bits an engine's launch sets (KV_CACHE_BITS), else None: the
    checkpoint's own."""
    values = _launch_values(engine, command, files)
    dtype = values.get(KV_CACHE_FLAG)
    if engine == "trtllm":
        dtype = _kv_cache_config(_trtllm_options(values, files)).get("dtype")
    return KV_CACHE_BITS.get(str(dtype).lower()) if dtype is not None else None


def recurrent_state_bits(engine: str, command: str, files: Mapping[str, str] | None = None
                         ) -> int | None:  # fmt: skip
    """The recurrent state's bits an engine's launch sets (STATE_BITS), else None: as the
    checkpoint declares."""
    flag = STATE_FLAGS.get(engine)
    if flag is None:
        return None
    dtype = _launch_values(engine, command, files).get(flag)
    return STATE_BITS.get(str(dtype).lower()) if dtype is not None else None


def memory_share(engine: str, command: str, files: Mapping[str, str] | None = None
                 ) -> float | None:  # fmt: skip
    """The share of memory an engine's launch sets for weights and KV cache (MEMORY_FLAGS),
    else None: the engine's default."""
    values = _launch_values(engine, command, files)
    share: Any = values.get(MEMORY_FLAGS[engine])
    if engine == "trtllm":
        written = _kv_cache_config(_trtllm_options(values, files)).get("free_gpu_memory_fraction")
        share = share if written is None else written
    try:
        fraction = float(share)
    except (TypeError, ValueError):
        return None
    return fraction if 0.0 < fraction <= 1.0 else None


def scheduler_flags(engine: str, command: str, files: Mapping[str, str] | None = None
                    ) -> dict[str, Any]:  # fmt: skip
    """The SchedulerConfig fields an engine's launch line sets (FLAGS, SWITCHES; a flag whose
    value is not a number is not read), with trtllm-serve's options file from `files`."""
    values = _launch_values(engine, command, files)
    found: dict[str, Any] = {}
    for flag, field in FLAGS[engine].items():
        if values.get(flag, "").isdigit():
            found[field] = int(values[flag])
    for flag, (field, value) in SWITCHES[engine].items():
        if flag in values:
            found[field] = value
    config = _trtllm_options(values, files) if engine == "trtllm" else {}
    if config:
        for key, field in TRTLLM_FILE_KEYS.items():
            value = config.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[field] = FIELD_TYPES[field](value)
        if config.get("enable_attention_dp") is True:
            for field in TRTLLM_BATCH_WAIT:
                found.pop(field, None)
            balance = config.get("attention_dp_config") or {}
            for key, field in TRTLLM_DP_BALANCE.items():
                value = balance.get(key) if isinstance(balance, dict) else None
                if isinstance(value, FIELD_TYPES[field]):
                    found[field] = value
        reuse = _kv_cache_config(config).get("enable_block_reuse")
        if isinstance(reuse, bool):
            found["prefix_sharing"] = reuse
    drafts = draft_tokens(engine, values, config)
    if drafts:
        found["draft_tokens"] = drafts
    return found


def draft_tokens(engine: str, values: Mapping[str, str], options: Mapping[str, Any]) -> int | None:
    """Tokens a launch drafts per step with the model's MTP module, one chain of them:
    SGLang's --speculative-num-steps (EAGLE or NEXTN, which run the checkpoint's MTP layer;
    --speculative-eagle-topk 1), trtllm-serve's speculative_config.num_nextn_predict_layers
    (decoding_type MTP), vllm serve's --speculative-config num_speculative_tokens (an MTP
    method); None where it drafts otherwise or not at all."""
    if engine == "sglang":
        algorithm = values.get("--speculative-algorithm", "").upper()
        steps = values.get("--speculative-num-steps", "")
        topk = values.get("--speculative-eagle-topk", "1")
        if algorithm in ("EAGLE", "NEXTN") and steps.isdigit() and topk == "1":
            return int(steps)
    elif engine == "trtllm":
        spec = options.get("speculative_config")
        if isinstance(spec, dict) and str(spec.get("decoding_type", "")).upper() == "MTP":
            layers = spec.get("num_nextn_predict_layers")
            return layers if isinstance(layers, int) and not isinstance(layers, bool) else None
    elif engine == "vllm":
        try:
            spec = json.loads(values.get("--speculative-config", ""))
        except ValueError:
            return None
        if isinstance(spec, dict) and "mtp" in str(spec.get("method", "")):
            tokens = spec.get("num_speculative_tokens")
            return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    return None


# vLLM's CUDA-graph sizes when a launch names none: rooflens.engines.vllm.capture_tokens
# (vllm/config/vllm.py, _set_cudagraph_sizes); an unset max_num_seqs (256, or 1,024 on
# large GPUs in some releases) makes that 512, an unset token budget the preset's. A prefill
# or mixed batch within them replays its piecewise graph, attention outside it
# (cudagraph_mode FULL_AND_PIECEWISE, the default from vLLM 0.11.0's release notes on).
VLLM_MAX_NUM_SEQS = 256


def prefill_graph_tokens(engine: str, command: str, files: Mapping[str, str] | None = None
                         ) -> int | None:  # fmt: skip
    """The most tokens an iteration that prefills may hold and still run as a CUDA graph, as
    an engine's launch sets them; 0 where prefills run without graphs; None where that rests
    on a default rooflens does not know for the release.

    vLLM: --enforce-eager, or a cudagraph_mode of NONE or FULL_DECODE_ONLY, gives 0; else
    --max-cudagraph-capture-size, the largest of --cuda-graph-sizes, or the compilation
    config's max_cudagraph_capture_size or cudagraph_capture_sizes; else vLLM's default
    (`rooflens.engines.vllm.capture_tokens`). TensorRT-LLM captures generation-only batches
    (cuda_graph_config): 0, unless its options file's torch_compile_config turns on
    enable_piecewise_cuda_graph, then the largest of its capture_num_tokens. SGLang's
    --disable-cuda-graph or --disable-piecewise-cuda-graph gives 0; otherwise its prefill
    graphs (piecewise, opt-in in early 2026 releases, on by default in later ones, for some
    models and layouts only) are not read: None."""
    values = _launch_values(engine, command, files)
    if engine == "vllm":
        return _vllm_graph_tokens(values)
    if engine == "trtllm":
        compiled = _trtllm_options(values, files).get("torch_compile_config")
        if not isinstance(compiled, dict):
            return 0
        if compiled.get("enable_piecewise_cuda_graph") is not True:
            return 0
        sizes = compiled.get("capture_num_tokens")
        if isinstance(sizes, list) and sizes and all(isinstance(n, int) for n in sizes):
            return max(sizes)
        return None
    if "--disable-cuda-graph" in values or "--disable-piecewise-cuda-graph" in values:
        return 0
    return None


def _vllm_graph_tokens(values: Mapping[str, str]) -> int | None:
    """prefill_graph_tokens of a vllm serve launch's flags (_launch_values)."""
    if "--enforce-eager" in values:
        return 0
    config: dict[str, Any] = {}
    for flag in ("--compilation-config", "--compilation_config", "-O"):
        try:
            parsed = json.loads(values.get(flag) or "{}")
        except ValueError:
            return None
        config |= parsed if isinstance(parsed, dict) else {}
    for flag, value in values.items():  # --compilation_config.cudagraph_mode FULL (dotted)
        for prefix in ("--compilation_config.", "--compilation-config."):
            if flag.startswith(prefix):
                config[flag.removeprefix(prefix)] = value
    if str(config.get("cudagraph_mode", "")).upper() in ("NONE", "FULL_DECODE_ONLY"):
        return 0
    sizes = [_count(values.get("--max-cudagraph-capture-size"))]
    sizes.append(_count(config.get("max_cudagraph_capture_size")))
    # A list of sizes, in JSON or as a config file's value written out ("[8, 2048]", "2048").
    listed = config.get("cudagraph_capture_sizes") or values.get("--cuda-graph-sizes", "")
    counts = [_count(n) for n in re.findall(r"\d+", str(listed))]
    sizes.append(max((n for n in counts if n is not None), default=None))
    named = [n for n in sizes if n is not None]
    budget = _count(values.get("--max-num-batched-tokens")) or vllm.SCHEDULER.max_tokens
    if named:
        # vLLM captures no size past the token budget (_set_cudagraph_sizes).
        return min(named[0], budget)
    max_seqs = _count(values.get("--max-num-seqs")) or VLLM_MAX_NUM_SEQS
    return vllm.capture_tokens(max_seqs, budget, draft_tokens("vllm", values, {}) or 0)


def _count(value: Any) -> int | None:
    """A positive whole number written as an int or its digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else None


def _trtllm_options(values: Mapping[str, str], files: Mapping[str, str] | None
                    ) -> dict[str, Any]:  # fmt: skip
    """The mapping in the options file trtllm-serve's launch names (TRTLLM_FILE_FLAGS; its
    keys override the command line's), else {}."""
    options = next((values[f] for f in TRTLLM_FILE_FLAGS if values.get(f)), None)
    return _yaml(files, options) if options and files else {}


def _kv_cache_config(options: Mapping[str, Any]) -> dict[str, Any]:
    """An options file's kv_cache_config mapping, else {}."""
    cache = options.get("kv_cache_config")
    return cache if isinstance(cache, dict) else {}


def _yaml(files: Mapping[str, str], path: str) -> dict[str, Any]:
    """The mapping in the options file a launch line names (by its file name), else {}."""
    text = files.get(path.rsplit("/", 1)[-1])
    config = yaml.safe_load(text) if text else None
    return config if isinstance(config, dict) else {}


def script_names(row: Mapping[str, Any], mtp: bool = False) -> list[str]:
    """The file names InferenceX's script for a silicon-sample row's engine, model, precision
    and GPU may have had (FP4 spelled fp4 or nvfp4: glm5_nvfp4_b200.sh); `mtp`: its script
    that drafts with the model's MTP module (dsr1_fp4_b200_trt_mtp.sh, or with the mark before
    the launcher's name: dsr1_fp8_h200_trt_mtp_slurm.sh)."""
    model = str(row.get("model_path", ""))
    prefixes = [prefix for prefix in MODEL_NAMES if names_model(prefix, model)]
    precision = str(row.get("precision", "")).replace("nvfp4", "fp4")
    precisions = [precision, "nvfp4"] if precision == "fp4" else [precision]
    gpu = str(row.get("system", "")).removesuffix("_sxm")
    suffixes = SUFFIXES.get(str(row.get("backend", "")), ())
    bases = [f"{p}_{q}_{gpu}" for p in prefixes for q in precisions]
    if not mtp:
        return [f"{base}{s}.sh" for base in bases for s in suffixes]
    names = [f"{base}{s}_mtp.sh" for base in bases for s in suffixes]
    return names + [
        f"{base}{s.removesuffix(launcher)}_mtp{launcher}.sh"
        for base in bases
        for s in suffixes
        for launcher in LAUNCHERS
        if s.endswith(launcher)
    ]


def measured_at(row: Mapping[str, Any]) -> str | None:
    """When a record says its run was measured, else None: the instant (YYYY-MM-DDTHH:MM:SSZ)
    where it records one (InferenceX's dated files: when its workflow run started, a few
    seconds after the commit it ran on landed), else the day (YYYY-MM-DD; the database dump
    writes days as midnight to the millisecond)."""
    measured = measured_field(str(row.get("silicon_data_source", "")))
    if not measured:
        return None
    if len(measured) == 20 and measured.endswith("Z") and measured[10] == "T":
        return measured
    return measured[:10]


def standing(since: Any, until: Any, measured: Any) -> np.ndarray:
    """Whether script versions (landed at `since`, replaced at `until`, '' while standing;
    instants or days, element by element) stood when runs were measured: at a measured
    instant, the version then standing; on a measured day, every version standing at some
    time that day."""
    since, until, measured = np.broadcast_arrays(
        *(np.asarray(x, dtype=str) for x in (since, until, measured))
    )
    still = until == ""
    at_instant = (since <= measured) & (still | (until > measured))
    on_day = (since <= np.char.add(measured, "T23:59:59Z")) & (still | (until >= measured))
    return np.where(np.char.find(measured, "T") >= 0, at_instant, on_day)


def script_env(model: str, tp: int, ep: int, dp_attention: bool, conc: int, isl: int, osl: int
               ) -> dict[str, str]:  # fmt: skip
    """The environment InferenceX's benchmark workflow gives a script
    (.github/workflows/benchmark-tmpl.yml; max-model-len is isl + osl + 256 in
    utils/matrix_logic)."""
    return {
        "MODEL": model,
        "TP": str(tp),
        "EP_SIZE": str(ep),
        "DP_ATTENTION": "true" if dp_attention else "false",
        "CONC": str(conc),
        "ISL": str(isl),
        "OSL": str(osl),
        "MAX_MODEL_LEN": str(isl + osl + 256),
        "RANDOM_RANGE_RATIO": "0.8",
        "RESULT_FILENAME": "result",
        "PORT": "8888",
        "RUN_EVAL": "false",
        "EVAL_ONLY": "false",
        "SPEC_DECODING": "none",
    }


@cache
def shipped_index() -> pd.DataFrame:
    """The index shipped with rooflens."""
    with open_shipped(INDEX_FILE) as handle:
        return read_index(handle)


# What a run's configuration is looked up by, before its script's name and date.
CONFIGURATION = ["engine", "tp", "ep", "dp_attention", "conc", "isl", "osl"]


def _configurations(index: pd.DataFrame) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    """An index's rows by configuration (CONFIGURATION's values): each row's script, its
    file name, since, until, and the fields it set (None where it set none)."""
    fields = index[FIELDS].astype(object).where(index[FIELDS].notna(), None)
    names = index["script"].str.rsplit("/", n=1).str[-1]
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for key, *row in zip(
        index[CONFIGURATION].itertuples(index=False, name=None),
        index["script"], names, index["since"], index["until"],
        fields.itertuples(index=False, name=None),
        strict=True,
    ):  # fmt: skip
        groups.setdefault(key, []).append(tuple(row))
    return groups


@cache
def _shipped_configurations() -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    # Grouped once: a report looks thousands of runs up.
    return _configurations(shipped_index())


def read_index(handle: IO[str]) -> pd.DataFrame:
    """An index CSV as scripts/inferencemax_launches.py writes it ('#' lines: provenance)."""
    frame = pd.read_csv(handle, comment="#", dtype={"since": str, "until": str})
    frame["until"] = frame["until"].fillna("")
    # An index extracted before a field was read sets none of it.
    return frame.reindex(columns=[*frame.columns, *(f for f in FIELDS if f not in frame)])


def scheduler_updates(
    engine: str,
    script_names: list[str],
    measured: str,
    layout: tuple[int, int, bool],
    conc: int,
    isl: int,
    osl: int,
    index: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], str]:
    """The scheduler fields InferenceX's script launching `engine` set for a run `measured`
    (measured_at: an instant or a day) with (TP, EP, attention DP), concurrency and lengths,
    and the script's path; ({}, '') where no version of the named scripts ran that
    configuration then, or where versions that may have run on a measured day (one replaced
    that day) set different flags."""
    tp, ep, dp_attention = layout
    groups = _shipped_configurations() if index is None else _configurations(index)
    rows = groups.get((engine, tp, ep, dp_attention, conc, isl, osl), [])
    named = [row for row in rows if row[1] in script_names]
    if not named:
        return {}, ""
    scripts, _, since, until, settings = zip(*named, strict=True)
    ran = standing(since, until, measured)
    stood = [
        dict(zip(FIELDS, setting, strict=True))
        for setting, standing_then in zip(settings, ran, strict=True)
        if standing_then
    ]
    # A version replaced on a measured day may or may not have run it: both must agree, on
    # the scheduling fields; a descriptive or separable field is kept only where they agree on
    # it too.
    agreed = {
        tuple(v for f, v in fields.items() if f not in DESCRIPTIVE + SEPARABLE) for fields in stood
    }
    if len(agreed) != 1:
        return {}, ""
    values = {
        field: FIELD_TYPES[field](value)
        for field, value in stood[0].items()
        if value is not None and len({fields[field] for fields in stood}) == 1
    }
    return values, ",".join(sorted({s for s, stood in zip(scripts, ran, strict=True) if stood}))
