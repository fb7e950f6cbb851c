"""How InferenceX launched SGLang for a measured run: a benchmark script run with its commands
recorded, the flags read off its launch line, the index by script version and day, its use."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rooflens.engines import load_engine_profile
from rooflens.measure.inferencemax import speculation
from rooflens.measure.inferencemax_launches import (
    engine_of,
    fp8_moe_kernel,
    kv_cache_bits,
    launch_commands,
    measured_at,
    memory_share,
    mxfp4_kernel,
    prefill_graph_tokens,
    read_index,
    recurrent_state_bits,
    scheduler_flags,
    scheduler_updates,
    script_env,
    script_names,
)
from rooflens.measure.validate_engines import (
    _launch_lines,
    _replicas,
    inferencex_twins,
    launch_of,
    peak_share,
    prefill_graph_tokens_of,
    prefill_graphs,
    setup_of,
)
from rooflens.serving.presets import scheduler_with

ROOT = Path(__file__).resolve().parents[1]

# A benchmark script in InferenceX's manner: its own conditions pick the flags, it computes
# one with python3 -c, logs to /workspace, downloads, installs and benchmarks (recorded only).
SCRIPT = """#!/usr/bin/env bash
source "$(dirname "$0")/../benchmark_lib.sh"
check_env_vars MODEL TP CONC ISL OSL
nvidia-smi
if [[ "$MODEL" != /* ]]; then hf download "$MODEL"; fi
SERVER_LOG=/workspace/server.log
if [[ $TP -eq 8 ]]; then
  if [[ $CONC -ge 16 ]]; then RECV=30; else RECV=10; fi
else
  echo "TP=$TP not supported"
  exit 1
fi
CHUNK=$(python3 -c "print(4096 * 4)")
python3 -m sglang.launch_server --model-path=$MODEL --tensor-parallel-size=$TP \\
  --chunked-prefill-size $CHUNK --max-running-requests=$CONC --disable-radix-cache \\
  --scheduler-recv-interval $RECV > $SERVER_LOG 2>&1 &
SERVER_PID=$!
wait_for_server_ready --port "$PORT" --server-log "$SERVER_LOG" --server-pid "$SERVER_PID"
pip install -q datasets pandas
run_benchmark_serving --model "$MODEL" --max-concurrency "$CONC"
"""
PATH = "benchmarks/single_node/dsr1_fp8_b200.sh"


def _env(tp: int = 8, conc: int = 8) -> dict[str, str]:
    return script_env("deepseek-ai/DeepSeek-R1", tp, 1, False, conc, 1024, 1024)


def test_a_script_runs_with_its_commands_recorded_and_its_own_conditions() -> None:
    calls, files = launch_commands(SCRIPT, PATH, _env(conc=8))
    # Everything the script calls is recorded and none of it runs; python3 -c still computes.
    assert calls[0] == "check_env_vars MODEL TP CONC ISL OSL"
    assert "nvidia-smi " in calls and "hf download deepseek-ai/DeepSeek-R1" in calls
    assert "pip install -q datasets pandas" in calls
    (launch,) = [c for c in calls if engine_of(c)]
    assert launch.startswith("python3 -m sglang.launch_server --model-path=deepseek-ai/")
    assert scheduler_flags("sglang", launch) == {
        "chunk_size": 16384,
        "max_batch": 8,
        "prefix_sharing": False,
        "receive_interval": 10,
    }
    # The server's log went to the scratch folder in place of /workspace.
    assert list(files) == ["server.log"]
    (launch,) = [c for c in launch_commands(SCRIPT, PATH, _env(conc=32))[0] if engine_of(c)]
    assert scheduler_flags("sglang", launch)["receive_interval"] == 30
    # A configuration the script refuses launches nothing.
    assert not [c for c in launch_commands(SCRIPT, PATH, _env(tp=4))[0] if engine_of(c)]


# TensorRT-LLM's manner: the token budget computed in bash, the rest in an options file.
TRT_SCRIPT = """#!/usr/bin/env bash
source "$(dirname "$0")/../benchmark_lib.sh"
CONFIG=dsr1-fp8.yml
cat > $CONFIG << EOF
kv_cache_config:
    dtype: fp8
    enable_block_reuse: false
max_batch_size: $CONC
EOF
MAX_NUM_TOKENS=$(( ($CONC+$ISL+64+63)/64*64 ))
mpirun -n 1 --oversubscribe trtllm-serve $MODEL --port=$PORT --max_num_tokens=$MAX_NUM_TOKENS \\
    --max_batch_size 512 --tp_size=$TP --extra_llm_api_options=$CONFIG > /workspace/log 2>&1 &
wait_for_server_ready --port "$PORT"
"""


def test_tensorrt_llms_options_file_overrides_its_command_line() -> None:
    calls, files = launch_commands(TRT_SCRIPT, "benchmarks/x/dsr1_fp8_b200_trt.sh", _env(conc=64))
    (launch,) = [c for c in calls if engine_of(c)]
    assert engine_of(launch) == "trtllm"
    # (64 + 1024 + 127) // 64 * 64 tokens; the file's 64 sequences over the line's 512.
    assert scheduler_flags("trtllm", launch, files) == {
        "max_tokens": 1152,
        "max_batch": 64,
        "prefix_sharing": False,
    }
    # Without the file, the command line alone: the flags as launched (TensorRT-LLM holds
    # the batch to the budget when it reads them: rooflens.engines.trtllm.settle).
    assert scheduler_flags("trtllm", launch) == {"max_tokens": 1152, "max_batch": 512}
    assert scheduler_flags("trtllm", "trtllm-serve m --max_num_tokens 1152") == {"max_tokens": 1152}
    alone = scheduler_flags("trtllm", "trtllm-serve m --max_num_tokens 1152")
    held = scheduler_with("trtllm", None, alone)
    assert (held.max_tokens, held.max_batch) == (1152, 1152)  # not the default 2048
    assert scheduler_with("trtllm", None, scheduler_flags("trtllm", launch)).max_batch == 512


# TensorRT-LLM's batch waiting, written to the options file at 64 clients and more, and
# its attention-DP balance.
TRT_WAITING = """#!/usr/bin/env bash
source "$(dirname "$0")/../benchmark_lib.sh"
cat > dsr1-fp8.yml << EOF
enable_attention_dp: $DP_ATTENTION
EOF
if [[ "$DP_ATTENTION" == "true" ]]; then
    cat << EOF >> dsr1-fp8.yml
attention_dp_config:
    batching_wait_iters: 0
    enable_balance: true
    timeout_iters: 60
EOF
fi
if [[ $CONC -ge 64 ]]; then
    cat << EOF >> dsr1-fp8.yml
batch_wait_timeout_iters: 40
batch_wait_max_tokens_ratio: 0.8
EOF
fi
trtllm-serve $MODEL --max_num_tokens=8192 --extra_llm_api_options=dsr1-fp8.yml &
"""


@pytest.mark.parametrize(
    ("conc", "dp_attention", "expected"),
    [
        (64, False, {"batch_wait_iterations": 40, "batch_wait_ratio": 0.8}),
        # TensorRT-LLM holds prompts back only without attention DP; with it, it balances
        # them across the ranks.
        (64, True, {"dp_balance": True, "dp_balance_timeout": 60, "dp_balance_wait": 0}),
        (32, False, {}),
    ],
)
def test_tensorrt_llms_batch_waiting_is_read_from_its_options_file(
    conc, dp_attention, expected
) -> None:
    env = _env(conc=conc) | {"DP_ATTENTION": "true" if dp_attention else "false"}
    calls, files = launch_commands(TRT_WAITING, "benchmarks/x/dsr1_fp8_b200_trt.sh", env)
    (launch,) = [c for c in calls if engine_of(c)]
    found = scheduler_flags("trtllm", launch, files)
    assert found == {"max_tokens": 8192} | expected


@pytest.mark.parametrize(
    ("engine", "command", "files", "bits"),
    [
        ("vllm", "vllm serve m --kv-cache-dtype fp8 --max-num-seqs 4", {}, 8),
        # vllm serve's --config file, its command line over it.
        ("vllm", "vllm serve m --config c.yaml", {"c.yaml": "kv-cache-dtype: fp8\n"}, 8),
        ("vllm", "vllm serve m --config c.yaml --kv-cache-dtype=auto",
         {"c.yaml": "kv-cache-dtype: fp8\n"}, None),
        ("sglang", "python3 -m sglang.launch_server --kv-cache-dtype fp8_e4m3", {}, 8),
        ("sglang", "python3 -m sglang.launch_server --kv-cache-dtype bf16", {}, 16),
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "kv_cache_config:\n  dtype: fp8\n  enable_block_reuse: false\n"}, 8),
        ("trtllm", "trtllm-serve m --config o.yml",
         {"o.yml": "kv_cache_config:\n  dtype: auto\n"}, None),
        ("trtllm", "trtllm-serve m --max_num_tokens 8192", {}, None),
    ],
)  # fmt: skip
def test_the_kv_caches_precision_is_read_off_the_launch(engine, command, files, bits) -> None:
    assert kv_cache_bits(engine, command, files) == bits


@pytest.mark.parametrize(
    ("engine", "command", "bits"),
    [
        ("sglang", "python3 -m sglang.launch_server --mamba-ssm-dtype bfloat16", 16),
        ("sglang", "python3 -m sglang.launch_server --mamba-ssm-dtype=float32", 32),
        ("vllm", "vllm serve m --mamba-ssm-cache-dtype float16", 16),
        # vLLM's "auto" is the checkpoint's own; TensorRT-LLM names none.
        ("vllm", "vllm serve m --mamba-ssm-cache-dtype auto", None),
        ("sglang", "python3 -m sglang.launch_server --kv-cache-dtype fp8_e4m3", None),
        ("trtllm", "trtllm-serve m --mamba-ssm-dtype bfloat16", None),
    ],
)
def test_a_recurrent_states_precision_is_read_off_the_launch(engine, command, bits) -> None:
    assert recurrent_state_bits(engine, command) == bits


def test_a_qwen3_5_run_keeps_its_recurrent_state_in_the_bits_its_script_launched() -> None:
    """InferenceX's Qwen3.5 SGLang scripts launch with --mamba-ssm-dtype bfloat16 over the
    checkpoint's float32 (the shipped index): the run's Gated DeltaNet state is priced at 16
    bits, and the report counts it."""
    record = _record("Qwen/Qwen3.5-397B-A17B", "2026-03-24", 4) | {
        "precision": "fp8", "gemm_quant_mode": "fp8", "moe_quant_mode": "fp8_block",
        "moe_tp_size": 8, "moe_ep_size": 1,
    }  # fmt: skip
    record["silicon_data_source"] = str(record["silicon_data_source"]).replace(
        "model=DeepSeek-R1", "model=Qwen-3.5-397B-A17B"
    )
    run = pd.Series(record)
    launch, script = launch_of(run)
    assert (launch["state_bits"], script) == (16, "benchmarks/single_node/qwen3.5_fp8_b200.sh")
    setup, notes = setup_of(run)
    assert dict(setup.options)["state_bits"] == 16
    assert "state_bits" not in dict(setup.scheduler)
    assert notes["precision_source"].endswith("recurrent state 16-bit as launched")
    line = " ".join(_launch_lines(pd.DataFrame([run]).assign(predicted_ttft_ms=1.0)))
    assert "a recurrent state launched in 16 bits: 1" in line


@pytest.mark.parametrize(
    ("engine", "command", "files", "share"),
    [
        ("vllm", "vllm serve m --gpu-memory-utilization 0.95", {}, 0.95),
        ("vllm", "vllm serve m --config c.yaml", {"c.yaml": "gpu-memory-utilization: 0.9\n"}, 0.9),
        ("sglang", "python3 -m sglang.launch_server --mem-fraction-static=0.82", {}, 0.82),
        # The options file over the command line; a share outside (0, 1] is not one.
        ("trtllm", "trtllm-serve m --kv_cache_free_gpu_memory_fraction 0.9 --config o.yml",
         {"o.yml": "kv_cache_config:\n  free_gpu_memory_fraction: 0.8\n"}, 0.8),
        ("trtllm", "trtllm-serve m --kv_cache_free_gpu_memory_fraction 0.75", {}, 0.75),
        ("sglang", "python3 -m sglang.launch_server --mem-fraction-static $X", {}, None),
        ("vllm", "vllm serve m --gpu-memory-utilization 1.5", {}, None),
        ("vllm", "vllm serve m", {}, None),
    ],
)  # fmt: skip
def test_the_memory_an_engine_may_take_is_read_off_the_launch(engine, command, files, share
                                                             ) -> None:  # fmt: skip
    assert memory_share(engine, command, files) == share


def test_a_run_takes_the_memory_share_it_was_launched_with() -> None:
    # InferenceX's dsr1_fp4_b200.sh of 2026-03-11 to 03-27 at TP 8, 4 clients, 1k/1k:
    # --mem-fraction-static 0.85 (the shipped index), as SGLang's profile reads it (of the
    # device); the analysis it is simulated with takes it in place of the profile's.
    setup, _ = setup_of(pd.Series(_record("deepseek-ai/DeepSeek-R1", "2026-03-25", 4)))
    assert setup.memory_fraction == 0.85
    assert "memory_fraction" not in dict(setup.scheduler) | dict(setup.options)
    calibration = load_engine_profile("sglang", setup.device)
    assert calibration.memory_fraction != 0.85
    options = _replicas(setup, calibration, 2048, 1024)[2]
    assert options.calibration.memory_fraction == 0.85
    # The report's roofline check prices the prompt alone, whatever memory it may take.
    rows = pd.DataFrame([_record("deepseek-ai/DeepSeek-R1", "2026-03-25", 4)])
    assert np.isfinite(peak_share(rows).iloc[0])
    # The roofline bound (no engine profile) takes the whole device.
    assert _replicas(setup, None, 2048, 1024)[2].calibration is None


def test_a_run_launched_with_an_fp8_kv_cache_holds_twice_the_tokens() -> None:
    # 70b_fp8_h200_trt_slurm.sh's options file caches keys and values in FP8 (the shipped
    # index); Llama-3.1-70B's checkpoint states no KV precision of its own.
    run = pd.Series(_llama_70b_run())
    setup, notes = setup_of(run)
    assert dict(setup.options)["kv_bits"] == 8
    assert notes["precision_source"] == "fp8; KV cache 8-bit as launched"
    assert "kv_bits" not in dict(setup.scheduler)
    line = " ".join(_launch_lines(pd.DataFrame([run]).assign(predicted_ttft_ms=1.0)))
    assert "a KV cache launched in FP8: 1; a recurrent state launched in 16 bits: 0" in line
    assert "MXFP4 experts on Marlin: 0, with MXFP8" in line
    # The same run on a day no script version is known for: the checkpoint's 16 bits.
    later = str(run["silicon_data_source"]).replace("2025-10-29", "2025-12-29")
    unknown, _ = setup_of(pd.Series(_llama_70b_run() | {"silicon_data_source": later}))
    assert "kv_bits" not in dict(unknown.options)


def test_launch_lines_name_their_engine_and_flags() -> None:
    assert engine_of("vllm serve openai/gpt-oss-120b --max-num-seqs 64") == "vllm"
    assert engine_of("mpirun -n 1 trtllm-serve /m --max_num_tokens 8192") == "trtllm"
    assert engine_of("python3 -m sglang.launch_server --tp 8") == "sglang"
    assert engine_of("pip install sglang") is None
    assert scheduler_flags("sglang", "python3 -m sglang.launch_server --tp 8") == {}
    # A flag without a number is not read.
    assert scheduler_flags("sglang", "x --max-prefill-tokens=4096 --chunked-prefill-size $C") == {
        "max_tokens": 4096
    }
    vllm = "vllm serve m --max-num-batched-tokens 2048 --no-enable-prefix-caching --max-num-seqs 64"
    assert scheduler_flags("vllm", vllm) == {
        "max_tokens": 2048,
        "max_batch": 64,
        "prefix_sharing": False,
    }
    # One engine's flags are not another's.
    assert scheduler_flags("sglang", vllm) == {}
    # vllm serve's --config file holds flags as keys; the command line's win.
    config = {"config.yaml": "no-enable-prefix-caching: true\nmax-num-batched-tokens: 8192\n"}
    line = "vllm serve m --config config.yaml --max-num-seqs 64 --max-num-batched-tokens 4096"
    assert scheduler_flags("vllm", line, config) == {
        "max_tokens": 4096,
        "max_batch": 64,
        "prefix_sharing": False,
    }
    assert scheduler_flags("vllm", "vllm serve m --config config.yaml", config) == {
        "max_tokens": 8192,
        "prefix_sharing": False,
    }


INDEX = """# provenance
engine,script,since,until,tp,ep,dp_attention,conc,isl,osl,receive_interval,chunk_size,max_tokens,max_batch,prefix_sharing,batch_wait_iterations,batch_wait_ratio,dp_balance,dp_balance_timeout,dp_balance_wait,kv_bits,memory_fraction
sglang,benchmarks/dsr1_fp8_b200_docker.sh,2026-03-01,2026-03-10,8,1,False,32,1024,1024,10,16384,,256,False,,,,,,,
sglang,benchmarks/single_node/dsr1_fp8_b200.sh,2026-03-10,,8,1,False,32,1024,1024,30,16384,,256,False,,,,,,,
sglang,benchmarks/single_node/dsr1_fp8_b200.sh,2026-03-10,,8,1,False,8,1024,1024,10,,,,True,,,,,,,
trtllm,benchmarks/dsr1_fp8_b200_trt.sh,2026-01-29,,8,1,False,64,1024,1024,,,8192,,False,40,0.8,,,,8,
"""


def test_a_record_is_measured_at_its_instant_or_on_its_day() -> None:
    dated = "source_file=2026-03-25.csv; model=DeepSeek-R1; measured=2026-01-29T15:27:29Z"
    dump = "db-dump/2026-04-27; config_id=75; measured=2026-01-29T00:00:00.000Z; x:y"
    assert measured_at({"silicon_data_source": dated}) == "2026-01-29T15:27:29Z"
    assert measured_at({"silicon_data_source": dump}) == "2026-01-29"
    assert measured_at({"silicon_data_source": "model=x"}) is None


def test_a_tensorrt_llm_run_takes_its_batch_waiting_typed() -> None:
    index = read_index(io.StringIO(INDEX))
    updates, script = scheduler_updates(
        "trtllm", ["dsr1_fp8_b200_trt.sh"], "2026-03-25", (8, 1, False), 64, 1024, 1024, index
    )
    assert script == "benchmarks/dsr1_fp8_b200_trt.sh"
    assert updates == {
        "max_tokens": 8192,
        "prefix_sharing": False,
        "batch_wait_iterations": 40,
        "batch_wait_ratio": 0.8,
        "kv_bits": 8,
    }
    assert type(updates["batch_wait_iterations"]) is int
    assert type(updates["batch_wait_ratio"]) is float


@pytest.mark.parametrize(
    ("day", "conc", "expected"),
    [
        ("2026-03-05", 32, {"receive_interval": 10, "chunk_size": 16384, "max_batch": 256}),
        ("2026-03-12", 32, {"receive_interval": 30, "chunk_size": 16384, "max_batch": 256}),
        # The day one version replaced the other: either may have run, and they differ.
        ("2026-03-10", 32, None),
        # Only flags the script set; the radix cache as SGLang's default.
        ("2026-03-12", 8, {"receive_interval": 10, "prefix_sharing": True}),
        ("2026-03-12", 16, None),
        ("2026-02-27", 32, None),
    ],
)
def test_a_run_takes_the_flags_of_the_script_version_of_its_day(day, conc, expected) -> None:
    index = read_index(io.StringIO(INDEX))
    names = ["dsr1_fp8_b200.sh", "dsr1_fp8_b200_docker.sh"]
    updates, script = scheduler_updates(
        "sglang", names, day, (8, 1, False), conc, 1024, 1024, index
    )
    # The same script's flags are not another engine's.
    assert scheduler_updates("vllm", names, day, (8, 1, False), conc, 1024, 1024, index)[0] == {}
    if expected is None:
        assert (updates, script) == ({}, "")
        return
    assert updates == expected | ({} if "prefix_sharing" in expected else {"prefix_sharing": False})
    assert script.endswith(".sh")


def _record(model: str, day: str, conc: int, *, db: bool = False) -> dict:
    image = "lmsysorg/sglang:v0.5.9-cu130"
    source = (
        f"db-dump/2026-04-27; config_id=202; silicon_concurrency={conc}; "
        f"measured={day}T00:00:00.000Z; workflow_run_id=337; {image}"
        if db
        else f"source_file={day}.csv; model=DeepSeek-R1; silicon_concurrency={conc}; "
        f"measured={day}T10:00:00Z; wip=False; image={image}"
    )
    return {
        "id": f"{model}_{day}_c{conc}", "silicon_data_source": source, "backend": "sglang",
        "backend_version": "0.5.9", "model_path": model, "system": "b200_sxm",
        "precision": "fp4", "mode": "agg", "isl": 1024, "osl": 1024,
        "gemm_quant_mode": "nvfp4", "moe_quant_mode": "nvfp4", "batch_size": conc,
        "tp_size": 8, "pp_size": 1, "attention_dp_size": 1, "moe_tp_size": 1,
        "moe_ep_size": 8, "silicon_ttft_ms": 1.0, "silicon_tpot_ms": 1.0,
    }  # fmt: skip


def test_the_database_dump_names_deepseek_r1_runs_deepseek_v3() -> None:
    r1 = _record("deepseek-ai/DeepSeek-R1", "2026-03-25", 4)
    v3 = _record("deepseek-ai/DeepSeek-V3", "2026-03-25", 4, db=True)
    assert script_names(v3) == script_names(r1)
    assert script_names(v3)[:2] == ["dsr1_fp4_b200.sh", "dsr1_fp4_b200_sglang.sh"]
    # FP4 scripts were also named nvfp4; TensorRT-LLM's carry _trt.
    assert "dsr1_nvfp4_b200.sh" in script_names(v3)
    assert script_names(r1 | {"backend": "trtllm"})[0] == "dsr1_fp4_b200_trt.sh"
    assert speculation(v3)[1] == speculation(r1)[1] == "dsr1-fp4-b200-sglang"


def _llama_70b_run() -> dict[str, object]:
    return {
        "id": "llama_70b_h200_trtllm_fp8_1024x1024_c4_tp1", "backend": "trtllm",
        "model_path": "meta-llama/Llama-3.1-70B", "system": "h200_sxm", "precision": "fp8",
        "mode": "agg", "isl": 1024, "osl": 1024, "batch_size": 4, "tp_size": 1,
        "pp_size": 1, "attention_dp_size": 1, "moe_tp_size": 1, "moe_ep_size": 1,
        "gemm_quant_mode": "fp8", "moe_quant_mode": "fp8",
        "silicon_data_source": "source_file=2026-04-06.csv; model=Llama-3.1-70B; "
        "silicon_concurrency=4; measured=2025-10-29T00:00:00.000Z; wip=False",
    }  # fmt: skip


def test_llama_70b_runs_take_the_70b_scripts_flags_of_their_day() -> None:
    # InferenceX's only Llama 70B benchmark ran as 70b_*: on 2025-10-29 two versions of
    # 70b_fp8_h200_trt_slurm.sh stood (a commit at 22:37 UTC dropped an error check) and
    # both launch trtllm-serve with --max_num_tokens 16384, block reuse off and, on 1k/1k
    # below TP 8, batch waiting of 20 iterations or 0.9 of the budget, caching in FP8.
    run = _llama_70b_run()
    assert "70b_fp8_h200_trt_slurm.sh" in script_names(run)
    assert launch_of(pd.Series(run)) == (
        {
            "max_tokens": 16384,
            "prefix_sharing": False,
            "batch_wait_iterations": 20,
            "batch_wait_ratio": 0.9,
            "kv_bits": 8,
            # No piecewise graphs: TensorRT-LLM captures generation-only batches.
            "graph_tokens": 0,
        },
        "benchmarks/70b_fp8_h200_trt_slurm.sh",
    )
    # 8k outputs wait for nothing; Llama-3.1-8B is not a 70B run.
    assert "batch_wait_iterations" not in launch_of(pd.Series(run | {"osl": 8192}))[0]
    assert script_names(run | {"model_path": "meta-llama/Llama-3.1-8B-Instruct"}) == []


def test_an_inferencex_sglang_run_is_simulated_with_its_scripts_flags() -> None:
    # InferenceX's dsr1_fp4_b200.sh of 2026-03-11 to 03-27 at TP 8, EP 8, 4 clients, 1k/1k:
    # --scheduler-recv-interval 10, --chunked-prefill-size 16384, --max-running-requests
    # 256, --disable-radix-cache (the shipped index).
    setup, notes = setup_of(pd.Series(_record("deepseek-ai/DeepSeek-R1", "2026-03-25", 4)))
    assert dict(setup.scheduler) == {
        "chunk_size": 16384,
        "max_batch": 256,
        "prefix_sharing": False,
        "receive_interval": 10,
    }
    assert notes["launch"] == "benchmarks/single_node/dsr1_fp4_b200.sh"
    # The same configuration on an engine InferenceX ran no script of then: the preset.
    other = _record("deepseek-ai/DeepSeek-R1", "2026-03-25", 4) | {"backend": "vllm"}
    assert setup_of(pd.Series(other))[0].scheduler == ()


def test_a_tensorrt_llm_run_holds_prompts_as_its_script_version_then_did() -> None:
    # InferenceX's dsr1_fp8_b200_trt.sh gained batch waiting at 64 clients and more on 1k/1k
    # in the commit that landed 2026-01-29 15:27:25 UTC; its dated file records the run at
    # 15:27:29 (the database dump only the day, when the older version also stood).
    at = "2026-01-29T15:27:29Z"
    run = _record("deepseek-ai/DeepSeek-R1", "2026-01-29", 64) | {
        "backend": "trtllm", "precision": "fp8", "moe_ep_size": 1,
        "silicon_data_source": f"source_file=2026-03-25.csv; model=DeepSeek-R1; "
        f"silicon_concurrency=64; measured={at}; wip=False; image=nvcr.io#nvidia/x:1",
    }  # fmt: skip
    updates, script = launch_of(pd.Series(run))
    assert script == "benchmarks/dsr1_fp8_b200_trt.sh"
    assert (updates["batch_wait_iterations"], updates["batch_wait_ratio"]) == (40, 0.8)
    day_only = run | {
        "silicon_data_source": "db-dump/2026-04-27; config_id=75; silicon_concurrency=64; "
        "measured=2026-01-29T00:00:00.000Z; workflow_run_id=248; nvcr.io/nvidia/x:1"
    }
    assert launch_of(pd.Series(day_only)) == ({}, "")
    # Another run of that day: the preset. The same run's record (its very TTFT and TPOT) is
    # read as the timed record it repeats (inferencex_twins), and takes its flags.
    other = day_only | {"silicon_tpot_ms": run["silicon_tpot_ms"] + 0.01}
    rows = pd.DataFrame([run, other]).assign(predicted_ttft_ms=1.0)
    line = " ".join(_launch_lines(rows))
    assert "1 of the 2 simulated aggregated InferenceX runs take" in line
    assert "TensorRT-LLM's batch waiting: 1" in line
    rows = pd.DataFrame([run, day_only]).assign(predicted_ttft_ms=1.0)
    line = " ".join(_launch_lines(rows))
    assert "2 of the 2 simulated aggregated InferenceX runs take" in line
    assert "TensorRT-LLM's batch waiting: 2" in line


def test_attention_dp_ranks_that_balance_prompts_are_simulated_together() -> None:
    # InferenceX's dsr1_fp8_b200_trt_slurm.sh of 2026-01-14 under attention DP on 8 B200s,
    # 64 clients (recorded as 64 ranks: read as 8), balances prompts across the ranks:
    # all eight are simulated side by side with the 64 clients, not one rank with eight.
    run = {
        "id": "dp", "backend": "trtllm", "backend_version": "1.1.0rc2.post2",
        "model_path": "deepseek-ai/DeepSeek-R1", "system": "b200_sxm", "precision": "fp8",
        "mode": "agg", "isl": 1024, "osl": 1024, "gemm_quant_mode": "fp8",
        "moe_quant_mode": "fp8", "batch_size": 1.0, "tp_size": 1.0, "pp_size": 1.0,
        "attention_dp_size": 64.0, "moe_tp_size": 8.0, "moe_ep_size": 8.0,
        "silicon_ttft_ms": 1.0, "silicon_tpot_ms": 1.0,
        "silicon_data_source": "source_file=2026-04-06.csv; model=DeepSeek-R1; "
        "silicon_concurrency=64; measured=2026-01-14T00:00:00.000Z; wip=False; "
        "image=nvcr.io/nvidia/tensorrt-llm/release:1.1.0rc2.post2",
    }  # fmt: skip
    setup, notes = setup_of(pd.Series(run))
    assert notes["launch"] == "benchmarks/dsr1_fp8_b200_trt_slurm.sh"
    flags = dict(setup.scheduler)
    assert (flags["dp_balance"], flags["dp_balance_timeout"], flags["dp_balance_wait"]) == (
        True,
        60,
        0,
    )
    assert (setup.cluster.replicas, setup.concurrency) == (8, 64)
    assert setup.cluster.router == "least_outstanding"  # to the rank with the fewest
    # Without the balance the eight ranks are alike: one is simulated, with its 8 clients.
    plain = run | {"backend": "vllm"}
    alike = setup_of(pd.Series(plain))[0]
    assert (alike.cluster.replicas, alike.concurrency, alike.cluster.router) == (
        1,
        8,
        "round_robin",
    )


def test_the_script_indexes_a_clone_history(tmp_path) -> None:
    clone = tmp_path / "InferenceX"
    script = clone / PATH

    def git(*args: str, day: str) -> None:
        env = {"GIT_AUTHOR_DATE": f"{day}T12:00:00", "GIT_COMMITTER_DATE": f"{day}T12:00:00"}
        subprocess.run(
            ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True, capture_output=True, env={"PATH": "/usr/bin:/bin"} | env,
        )  # fmt: skip

    script.parent.mkdir(parents=True)
    git("init", "-q", day="2026-03-01")
    # Day one: every concurrency looks every 10 iterations; from 03-10 by the script above.
    for day, text in [("2026-03-01", SCRIPT.replace("RECV=30", "RECV=10")), ("2026-03-10", SCRIPT)]:
        script.write_text(text)
        git("add", ".", day=day)
        git("commit", "-q", "-m", day, day=day)
    records = [
        _record("deepseek-ai/DeepSeek-R1", day, conc) | {"precision": "fp8"}
        for day in ("2026-03-05", "2026-03-10", "2026-03-12")
        for conc in (8, 32)
    ]
    sample, out = tmp_path / "sample.csv", tmp_path / "index.csv"
    pd.DataFrame(records).to_csv(sample, index=False)
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "inferencemax_launches.py"), str(clone),
         str(sample), "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    text = out.read_text()
    assert text.startswith("# InferenceX (formerly InferenceMAX) single-node benchmark")
    index = read_index(io.StringIO(text))
    rows = zip(index["since"], index["conc"], index["receive_interval"], strict=True)
    # Each version from the instant its commit landed (UTC).
    assert sorted(rows) == [
        ("2026-03-01T12:00:00Z", 8, 10), ("2026-03-01T12:00:00Z", 32, 10),
        ("2026-03-10T12:00:00Z", 8, 10), ("2026-03-10T12:00:00Z", 32, 30),
    ]  # fmt: skip
    names, layout = ["dsr1_fp8_b200.sh"], (8, 8, False)
    measured = ("2026-03-05", "2026-03-10", "2026-03-12", "2026-03-10T11:59:59Z",
                "2026-03-10T12:00:04Z")  # fmt: skip
    looks = {
        (when, conc): scheduler_updates("sglang", names, when, layout, conc, 1024, 1024, index)[
            0
        ].get("receive_interval")
        for when in measured
        for conc in (8, 32)
    }
    # A run measured on the day the script changed: ambiguous where the versions differ;
    # one measured at an instant that day ran the version standing then.
    assert looks == {
        ("2026-03-05", 8): 10, ("2026-03-05", 32): 10, ("2026-03-10", 8): 10,
        ("2026-03-10", 32): None, ("2026-03-12", 8): 10, ("2026-03-12", 32): 30,
        ("2026-03-10T11:59:59Z", 8): 10, ("2026-03-10T11:59:59Z", 32): 10,
        ("2026-03-10T12:00:04Z", 8): 10, ("2026-03-10T12:00:04Z", 32): 30,
    }  # fmt: skip


# vLLM's gpt-oss scripts for Hopper in the manner of InferenceX's gptoss_fp4_h200.sh (2026):
# the MXFP4 experts told onto Marlin through the environment.
MARLIN_SCRIPT = """#!/usr/bin/env bash
source "$(dirname "$0")/../benchmark_lib.sh"
export VLLM_MXFP4_USE_MARLIN=1
vllm serve $MODEL --tensor-parallel-size $TP --max-num-seqs $CONC > /workspace/server.log 2>&1 &
"""


def test_an_engine_launched_with_a_kernel_variable_is_recorded_with_it() -> None:
    env = script_env("openai/gpt-oss-120b", 1, 1, False, 4, 1024, 1024)
    calls, _ = launch_commands(MARLIN_SCRIPT, "benchmarks/single_node/gptoss_fp4_h200.sh", env)
    (launch,) = [c for c in calls if engine_of(c)]
    assert launch.startswith("VLLM_MXFP4_USE_MARLIN=1 vllm serve openai/gpt-oss-120b")
    assert engine_of(launch) == "vllm"
    assert scheduler_flags("vllm", launch) == {"max_batch": 4}
    assert mxfp4_kernel("vllm", launch) == "marlin"
    # The MXFP8-activation kernel's variable is recorded the same way.
    mxfp8 = MARLIN_SCRIPT.replace("VLLM_MXFP4_USE_MARLIN", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8")
    calls, _ = launch_commands(mxfp8, "benchmarks/single_node/gptoss_fp4_b200.sh", env)
    (launch,) = [c for c in calls if engine_of(c)]
    assert launch.startswith("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 vllm serve")
    assert mxfp4_kernel("vllm", launch) == "mxfp8"
    # Without the export, the engine's own kernels.
    plain = MARLIN_SCRIPT.replace("export VLLM_MXFP4_USE_MARLIN=1\n", "")
    calls, _ = launch_commands(plain, "benchmarks/single_node/gptoss_fp4_h200.sh", env)
    (launch,) = [c for c in calls if engine_of(c)]
    assert launch.startswith("vllm serve") and mxfp4_kernel("vllm", launch) is None


@pytest.mark.parametrize(
    ("engine", "command", "kernel"),
    [
        ("vllm", "VLLM_MXFP4_USE_MARLIN=1 vllm serve m", "marlin"),
        ("vllm", "VLLM_MXFP4_USE_MARLIN=0 vllm serve m", None),
        ("vllm", "docker run -e VLLM_MXFP4_USE_MARLIN=1 img vllm serve m", "marlin"),
        ("vllm", "VLLM_MXFP4_USE_MARLIN=yes vllm serve m", None),  # vLLM reads an integer
        ("vllm", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 vllm serve m", "mxfp8"),
        ("vllm", "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=0 vllm serve m", None),
        (
            "vllm",
            "VLLM_MXFP4_USE_MARLIN=1 VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 vllm serve m",
            "marlin",
        ),
        ("sglang", "VLLM_MXFP4_USE_MARLIN=1 python3 -m sglang.launch_server", None),
    ],
)
def test_the_mxfp4_kernel_is_read_off_the_launch(engine, command, kernel) -> None:
    assert mxfp4_kernel(engine, command) == kernel


@pytest.mark.parametrize(
    ("record", "script", "kernel", "note", "counted"),
    [
        # gptoss_fp4_h200.sh exported VLLM_MXFP4_USE_MARLIN=1: the checkpoint's MXFP4
        # weights, run by Marlin.
        (
            {"id": "2026_04_06_gpt_oss_120b_h200_sxm_vllm_fp4_agg_8192x1024_c8_tp1_ep1_254",
             "measured": "2026-03-27", "version": "0.18.0", "system": "h200_sxm",
             "isl": 8192, "conc": 8},
            "benchmarks/single_node/gptoss_fp4_h200.sh", "marlin", "Marlin",
            "Marlin: 1, with MXFP8 activations: 0;",
        ),
        # gptoss_fp4_b200.sh exported VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1: TensorRT-LLM-gen's
        # kernel with MXFP8 activations.
        (
            {"id": "2026_04_06_gpt_oss_120b_b200_sxm_vllm_fp4_agg_1024x1024_c64_tp1_ep1_434",
             "measured": "2026-02-25", "version": "0.15.1", "system": "b200_sxm",
             "isl": 1024, "conc": 64},
            "benchmarks/single_node/gptoss_fp4_b200.sh", "mxfp8",
            "TensorRT-LLM-gen with MXFP8 activations", "Marlin: 0, with MXFP8 activations: 1;",
        ),
    ],
)  # fmt: skip
def test_a_gpt_oss_run_prices_its_experts_on_the_kernel_its_script_exported(
    record, script, kernel, note, counted
) -> None:
    """The shipped index, read off InferenceX's scripts run under bash, names the kernel
    vLLM's environment put gpt-oss's MXFP4 experts on; the run is priced on it and says so."""
    run = {
        "id": record["id"],
        "silicon_data_source": "source_file=2026-04-06.csv; model=GPT-OSS-120B; "
        f"silicon_concurrency={record['conc']}; measured={record['measured']}T00:00:00.000Z; "
        f"wip=False; image=vllm/vllm-openai:v{record['version']}",
        "backend": "vllm", "backend_version": record["version"],
        "model_path": "openai/gpt-oss-120b", "system": record["system"], "precision": "fp4",
        "mode": "agg", "isl": record["isl"], "osl": 1024, "gemm_quant_mode": "nvfp4",
        "moe_quant_mode": "nvfp4", "batch_size": record["conc"], "tp_size": 1, "pp_size": 1,
        "attention_dp_size": 1, "moe_tp_size": 1, "moe_ep_size": 1,
    }  # fmt: skip
    launch, found = launch_of(pd.Series(run))
    assert found == script and launch["w4_kernel"] == kernel
    setup, notes = setup_of(pd.Series(run))
    assert dict(setup.options)["w4_kernel"] == kernel
    assert notes["precision_source"].endswith(f"; MXFP4 on {note} as launched")
    line = " ".join(_launch_lines(pd.DataFrame([run]).assign(predicted_ttft_ms=1.0)))
    assert f"MXFP4 experts on {counted}" in line


# MTP scripts: SGLang's EAGLE over the checkpoint's MTP layer, TensorRT-LLM's options file,
# vLLM's --speculative-config.
MTP_TRT_SCRIPT = """#!/usr/bin/env bash
MTP=3
if [[ "$DP_ATTENTION" == "true" ]]; then
    MTP=1
fi
cat > mtp.yml << EOF
speculative_config:
    decoding_type: MTP
    num_nextn_predict_layers: ${MTP}
EOF
trtllm-serve $MODEL --max_batch_size 64 --extra_llm_api_options=mtp.yml &
"""


def test_mtp_scripts_name_their_draft_count() -> None:
    sglang = (
        "python3 -m sglang.launch_server --model-path m --speculative-algorithm EAGLE "
        "--speculative-num-steps 3 --speculative-eagle-topk 1 --speculative-num-draft-tokens 4"
    )
    assert scheduler_flags("sglang", sglang)["draft_tokens"] == 3
    # A tree of drafts (top-k 2) is not a chain of them: not read.
    assert "draft_tokens" not in scheduler_flags("sglang", sglang.replace("topk 1", "topk 2"))
    path = "benchmarks/single_node/dsr1_fp4_b200_trt_mtp.sh"
    for dp, drafts in ((False, 3), (True, 1)):
        env = script_env("deepseek-ai/DeepSeek-R1", 8, 8 if dp else 1, dp, 8, 1024, 1024)
        calls, files = launch_commands(MTP_TRT_SCRIPT, path, env)
        (launch,) = [c for c in calls if engine_of(c)]
        assert scheduler_flags("trtllm", launch, files)["draft_tokens"] == drafts
    vllm = """vllm serve m --speculative-config '{"method": "mtp", "num_speculative_tokens": 2}'"""
    assert scheduler_flags("vllm", vllm)["draft_tokens"] == 2
    eagle = vllm.replace('"mtp"', '"eagle3"')
    assert "draft_tokens" not in scheduler_flags("vllm", eagle)
    row = {"model_path": "deepseek-ai/DeepSeek-R1", "precision": "fp4", "system": "b200_sxm",
           "backend": "trtllm"}  # fmt: skip
    assert "dsr1_fp4_b200_trt_mtp.sh" in script_names(row, mtp=True)
    # InferenceX's first TensorRT-LLM MTP scripts put the mark before the launcher's name.
    assert "dsr1_fp4_b200_trt_mtp_slurm.sh" in script_names(row, mtp=True)
    assert not any("_mtp" in name for name in script_names(row))


def test_a_run_inferencex_ran_only_with_mtp_drafts_as_its_script_launched() -> None:
    """InferenceX's dsr1_fp8_b200_trt_mtp.sh of February 2026 set num_nextn_predict_layers
    3 without attention DP (the shipped index): the run drafts 3 tokens a step."""
    run = {
        "id": "2026_03_25_deepseek_r1_b200_sxm_trtllm_fp8_agg_8192x1024_c4_tp8_0_ep1_0_1014",
        "silicon_data_source": "source_file=2026-03-25.csv; model=DeepSeek-R1; "
        "silicon_concurrency=4; measured=2026-02-05T19:55:05Z; wip=False; "
        "image=nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post3",
        "backend": "trtllm", "backend_version": "1.2.0rc6.post3",
        "model_path": "deepseek-ai/DeepSeek-R1", "system": "b200_sxm", "precision": "fp8",
        "mode": "agg", "isl": 8192, "osl": 1024, "gemm_quant_mode": "fp8",
        "moe_quant_mode": "fp8", "batch_size": 4.0, "tp_size": 8.0, "pp_size": 1.0,
        "attention_dp_size": 1.0, "moe_tp_size": 8.0, "moe_ep_size": 1.0,
    }  # fmt: skip
    setup, notes = setup_of(pd.Series(run))
    assert notes["launch"] == "benchmarks/dsr1_fp8_b200_trt_mtp.sh"
    assert dict(setup.scheduler)["draft_tokens"] == 3
    # Its plain script ran no such configuration then: the MTP one is the run's.
    assert launch_of(pd.Series(run))[1] != notes["launch"]


@pytest.mark.parametrize(
    ("engine", "command", "files", "tokens"),
    [
        # vLLM's default sizes: up to twice its batch limit, at most 512 tokens.
        ("vllm", "vllm serve m --max-num-seqs 4", None, 8),
        ("vllm", "vllm serve m --max-num-seqs 1024", None, 512),
        ("vllm", "vllm serve m", None, 512),
        ("vllm", "vllm serve m --max-num-seqs 4 --max-cudagraph-capture-size 2048", None, 2048),
        ("vllm", "vllm serve m --cuda-graph-sizes 1024", None, 1024),
        ("vllm", "vllm serve m --config c.yaml", {"c.yaml": "cuda-graph-sizes: [8, 64, 1024]\n"},
         1024),
        ("vllm", "vllm serve m --config c.yaml",
         {"c.yaml": "max-num-seqs: 16\nmax-cudagraph-capture-size: 2048\n"}, 2048),
        ("vllm", """vllm serve m --compilation-config '{"max_cudagraph_capture_size": 4096}'""",
         None, 4096),
        ("vllm", """vllm serve m --compilation-config '{"cudagraph_capture_sizes": [1, 2, 96]}'""",
         None, 96),
        ("vllm", """vllm serve m --compilation-config '{"cudagraph_mode": "FULL_DECODE_ONLY"}'""",
         None, 0),
        ("vllm", "vllm serve m --compilation_config.cudagraph_mode NONE", None, 0),
        # A pass setting alone leaves the sizes at their default.
        ("vllm", "vllm serve m --max-num-seqs 8 "
         "--compilation_config.pass_config.fuse_allreduce_rms true", None, 16),
        ("vllm", "vllm serve m --enforce-eager --max-cudagraph-capture-size 2048", None, 0),
        # Its default sizes: at most the token budget, twice the sequences with each's drafts.
        ("vllm", "vllm serve m --max-num-seqs 512 --max-num-batched-tokens 256", None, 256),
        ("vllm", "vllm serve m --max-num-seqs 16 --speculative-config "
         """'{"method": "deepseek_mtp", "num_speculative_tokens": 3}'""", None, 128),
        # Named sizes past the token budget are not captured.
        ("vllm", "vllm serve m --max-num-batched-tokens 1024 --max-cudagraph-capture-size 2048",
         None, 1024),
        # TensorRT-LLM: generation-only graphs, unless piecewise graphs are on.
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "cuda_graph_config:\n  max_batch_size: 64\n"}, 0),
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "torch_compile_config:\n  capture_num_tokens: [1, 256, 8448]\n"
                   "  enable_piecewise_cuda_graph: true\n"}, 8448),
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "torch_compile_config:\n  enable_piecewise_cuda_graph: true\n"}, None),
        # SGLang: turned off where the launch says so, otherwise its release's default.
        ("sglang", "python3 -m sglang.launch_server --model m --disable-piecewise-cuda-graph",
         None, 0),
        ("sglang", "python3 -m sglang.launch_server --model m --cuda-graph-max-bs 256", None, None),
    ],
)  # fmt: skip
def test_the_prefill_cuda_graphs_are_read_off_the_launch(engine, command, files, tokens) -> None:
    assert prefill_graph_tokens(engine, command, files) == tokens


GRAPH_INDEX = """# provenance
engine,script,since,until,tp,ep,dp_attention,conc,isl,osl,max_batch,graph_tokens
vllm,benchmarks/single_node/kimik2.5_fp4_b200.sh,2026-03-11T16:00:00Z,2026-04-20T14:22:32Z,4,1,False,4,1024,1024,4,8
vllm,benchmarks/single_node/kimik2.5_fp4_b200.sh,2026-04-20T14:22:32Z,,4,1,False,4,1024,1024,4,2048
"""


def test_script_versions_that_differ_only_in_graphs_agree_on_the_scheduler() -> None:
    index = read_index(io.StringIO(GRAPH_INDEX))
    names = ["kimik2.5_fp4_b200.sh"]

    def looked_up(measured: str) -> dict:
        return scheduler_updates("vllm", names, measured, (4, 1, False), 4, 1024, 1024, index)[0]

    assert looked_up("2026-03-25T10:00:00Z") == {"max_batch": 4, "graph_tokens": 8}
    assert looked_up("2026-04-22") == {"max_batch": 4, "graph_tokens": 2048}
    # Measured the day the capture size changed: the batch limit is known, the graphs not.
    assert looked_up("2026-04-20") == {"max_batch": 4}


def _minimax_b200_run(measured: str, wip: bool) -> dict:
    # As InferenceX's dated files record MiniMax-M2.5 FP8 on vLLM, B200, TP 4, 4 clients.
    source = (
        f"source_file=2026-03-25.csv; model=MiniMax-M2.5; silicon_concurrency=4; "
        f"measured={measured}; wip={wip}; image=vllm/vllm-openai:v0.19.0-cu130"
    )
    return {
        "id": "minimax", "silicon_data_source": source, "backend": "vllm",
        "backend_version": "0.19.0", "model_path": "MiniMaxAI/MiniMax-M2.5",
        "system": "b200_sxm", "precision": "fp8", "mode": "agg", "isl": 1024, "osl": 1024,
        "gemm_quant_mode": "fp8_block", "moe_quant_mode": "fp8_block", "batch_size": 4,
        "tp_size": 4, "pp_size": 1, "attention_dp_size": 1, "moe_tp_size": 4,
        "moe_ep_size": 1, "silicon_ttft_ms": 61.9, "silicon_tpot_ms": 8.4, "launch": "",
    }  # fmt: skip


def test_a_work_in_progress_run_takes_no_main_line_flags() -> None:
    # 2026-04-03T02:34Z on the v0.19.0 image: the main line's script still launched v0.17.0
    # then, with vLLM's default capture sizes; the run came from a branch.
    early = pd.Series(_minimax_b200_run("2026-04-03T02:34:55Z", wip=True))
    assert launch_of(early) == ({}, "")
    # Not marked, the same instant takes the main line's version then standing: graphs up
    # to vLLM's default 512 tokens, so a 1,024-token prompt prefills without one.
    marked = pd.Series(_minimax_b200_run("2026-04-03T02:34:55Z", wip=False))
    assert launch_of(marked)[0]["graph_tokens"] == 512
    assert prefill_graph_tokens_of(marked) == 512
    assert prefill_graphs(pd.DataFrame([marked, early])).tolist() == [
        "without CUDA graphs",
        "not known",
    ]
    # From 16:31 that day the main line launches --max-cudagraph-capture-size 2048.
    later = pd.Series(_minimax_b200_run("2026-04-22T10:00:00Z", wip=False))
    assert prefill_graph_tokens_of(later) == 2048
    assert prefill_graphs(pd.DataFrame([later])).tolist() == ["in a CUDA graph"]
    # The simulation takes the scheduler's flags, and the graphs as its prefill graph limit
    # (vLLM's launch time past them); with no launch known, vLLM's default at its preset.
    assert "graph_tokens" not in dict(setup_of(later)[0].scheduler)
    assert dict(setup_of(later)[0].options)["prefill_graph_tokens"] == 2048
    assert dict(setup_of(marked)[0].options)["prefill_graph_tokens"] == 512
    assert dict(setup_of(early)[0].options)["prefill_graph_tokens"] == 512


def test_the_report_pairs_a_point_measured_with_and_without_prefill_graphs() -> None:
    # One benchmark point measured twice: on 2026-04-01 the main line's script left vLLM's
    # default sizes (a 1,024-token prompt prefills without a graph), on 04-22 it captured
    # up to 2,048 tokens.
    from rooflens.measure.validate_engines import _graph_lines, errors

    runs = []
    for measured, ttft in (("2026-04-01T10:00:00Z", 150.0), ("2026-04-22T10:00:00Z", 60.0)):
        run = _minimax_b200_run(measured, wip=False) | {"id": measured, "silicon_ttft_ms": ttft}
        runs.append(run | {"predicted_ttft_ms": 30.0, "predicted_tpot_ms": 8.4})
    lines = _graph_lines(errors(pd.DataFrame(runs)))
    text = "\n".join(lines)
    # At 1-8 clients, one run each way, with its measured and predicted TTFT.
    assert "| vllm | in a CUDA graph | 1 | 50 % |" in text  # |30 - 60| / 60
    assert "| vllm | without CUDA graphs | 1 | 80 % |" in text  # |30 - 150| / 150
    # The pair: measured 150 / 60 ms; measured - predicted 120 and 30 ms.
    assert "| vllm | MiniMaxAI/MiniMax-M2.5 | 1 | 2.50 | 120.00 | 30.00 |" in text


@pytest.mark.parametrize(
    ("engine", "command", "files", "kernel"),
    [
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "moe_config:\n    backend: TRTLLM\n"}, "trtllm_gen"),
        ("trtllm", "trtllm-serve m --config o.yml",
         {"o.yml": "moe_config:\n    backend: DEEPGEMM\n"}, None),
        ("trtllm", "trtllm-serve m --extra_llm_api_options o.yml",
         {"o.yml": "kv_cache_config:\n  dtype: fp8\n"}, None),
        # SGLang's FlashInfer TensorRT-LLM-gen MoE is what its own tables time.
        ("sglang", "python3 -m sglang.launch_server --moe-runner-backend flashinfer_trtllm",
         None, None),
    ],
)  # fmt: skip
def test_the_moe_kernel_is_read_off_a_tensorrt_llm_launch(engine, command, files, kernel) -> None:
    assert fp8_moe_kernel(engine, command, files) == kernel


KERNEL_INDEX = """# provenance
engine,script,since,until,tp,ep,dp_attention,conc,isl,osl,max_tokens,kv_bits,fp8_moe_kernel
trtllm,benchmarks/dsr1_fp8_b200_trt.sh,2026-01-27T10:00:00Z,2026-01-29T15:27:25Z,8,1,False,8,1024,1024,8192,8,
trtllm,benchmarks/dsr1_fp8_b200_trt.sh,2026-01-29T15:27:25Z,,8,1,False,8,1024,1024,8192,8,trtllm_gen
"""


def test_versions_of_a_day_that_disagree_on_the_moe_kernel_leave_only_it_unknown() -> None:
    """DeepSeek-R1's FP8 B200 script went from DEEPGEMM to TRTLLM on 2026-01-29: a run timed
    after that commit takes the new kernel, one dated by that day only takes its scheduler
    flags and KV cache, both versions' alike, and the engine's own kernel."""
    index = read_index(io.StringIO(KERNEL_INDEX))
    names = ["dsr1_fp8_b200_trt.sh"]

    def looked_up(measured: str) -> dict:
        return scheduler_updates("trtllm", names, measured, (8, 1, False), 8, 1024, 1024, index)[0]

    assert looked_up("2026-01-29T15:27:29Z") == {
        "max_tokens": 8192, "kv_bits": 8, "fp8_moe_kernel": "trtllm_gen"
    }  # fmt: skip
    assert looked_up("2026-01-28T12:00:00Z") == {"max_tokens": 8192, "kv_bits": 8}
    assert looked_up("2026-01-29") == {"max_tokens": 8192, "kv_bits": 8}


PREFIX_INDEX = """# provenance
engine,script,since,until,tp,ep,dp_attention,conc,isl,osl,max_batch,prefix_sharing,memory_fraction
vllm,benchmarks/single_node/kimik2.5_fp4_b200.sh,2026-03-11T20:28:08Z,2026-03-27T22:21:53Z,4,1,False,16,1024,1024,32,True,0.9
vllm,benchmarks/single_node/kimik2.5_fp4_b200.sh,2026-03-27T22:21:53Z,,4,1,False,16,1024,1024,32,False,0.9
"""


def test_versions_of_a_day_that_disagree_on_prefix_caching_leave_only_it_unknown() -> None:
    """Kimi K2.5's FP4 B200 script turned vLLM's prefix caching off on 2026-03-27, every other
    flag alike: InferenceX's random prompts share no prefix, so a run dated by that day only
    takes the flags both versions set and leaves prefix caching to the preset."""
    index = read_index(io.StringIO(PREFIX_INDEX))
    names = ["kimik2.5_fp4_b200.sh"]

    def looked_up(measured: str) -> dict:
        return scheduler_updates("vllm", names, measured, (4, 1, False), 16, 1024, 1024, index)[0]

    assert looked_up("2026-03-27") == {"max_batch": 32, "memory_fraction": 0.9}
    assert looked_up("2026-03-27T23:00:00Z") == {
        "max_batch": 32, "prefix_sharing": False, "memory_fraction": 0.9
    }  # fmt: skip
    assert looked_up("2026-03-26")["prefix_sharing"] is True


def _dsr1_b200_trt_run(precision: str, measured: str) -> dict:
    # As InferenceX's dated file of 2026-03-25 records DeepSeek-R1 on TensorRT-LLM, B200, TP 8.
    source = (
        "source_file=2026-03-25.csv; model=DeepSeek-R1; silicon_concurrency=8; "
        f"measured={measured}; wip=False; image=nvcr.io#nvidia/tensorrt-llm/release:1.2.0rc6.post2"
    )
    return {
        "id": "dsr1", "silicon_data_source": source, "backend": "trtllm",
        "backend_version": "1.2.0rc6.post2", "model_path": "deepseek-ai/DeepSeek-R1",
        "system": "b200_sxm", "precision": precision, "mode": "agg", "isl": 1024, "osl": 1024,
        "gemm_quant_mode": None, "moe_quant_mode": None, "batch_size": 8, "tp_size": 8,
        "pp_size": 1, "attention_dp_size": 1, "moe_tp_size": 8, "moe_ep_size": 1,
        "silicon_ttft_ms": 181.5, "silicon_tpot_ms": 6.8, "launch": "",
    }  # fmt: skip


def test_block_fp8_experts_launched_on_tensorrt_llm_gen_are_priced_on_that_kernel() -> None:
    """The shipped index: from 2026-01-29T15:27:25Z InferenceX's DeepSeek-R1 FP8 script for
    B200 sets moe_config.backend TRTLLM. Its FP8 checkpoint's block-scaled experts then take
    the kernel, and the row's precision note says so; an earlier run takes the tables' own."""
    after = pd.Series(_dsr1_b200_trt_run("fp8", "2026-01-29T15:27:29Z"))
    launch, script = launch_of(after)
    assert script == "benchmarks/dsr1_fp8_b200_trt.sh"
    assert launch["fp8_moe_kernel"] == "trtllm_gen"
    setup, notes = setup_of(after)
    assert dict(setup.options)["fp8_moe_kernel"] == "trtllm_gen"
    assert notes["precision_source"].endswith("; FP8 block experts on TensorRT-LLM-gen as launched")
    line = " ".join(_launch_lines(pd.DataFrame([after]).assign(predicted_ttft_ms=1.0, **notes)))
    assert "FP8 block experts on TensorRT-LLM-gen: 1)" in line
    before = pd.Series(_dsr1_b200_trt_run("fp8", "2026-01-22T12:00:00Z"))
    assert "fp8_moe_kernel" not in dict(setup_of(before)[0].options)


def test_a_database_record_dated_by_day_is_read_as_the_timed_record_it_repeats() -> None:
    """InferenceX's database dump dates DeepSeek-R1's FP8 B200 run of 2026-01-29 by the day
    (and names it DeepSeek-V3), the day the script's MoE backend changed; its dated file
    times the same run, to the same TTFT and TPOT, at 15:27:29Z, after the change. The dump's
    record is read as the timed one: TensorRT-LLM-gen's kernel. Not so a record of another
    day, another measurement, or a disaggregated run (whose workers only the dump states)."""
    timed = _dsr1_b200_trt_run("fp8", "2026-01-29T15:27:29Z")
    dump = timed | {
        "id": "dump", "model_path": "deepseek-ai/DeepSeek-V3",
        "silicon_data_source": "db-dump/2026-04-27; config_id=75; silicon_concurrency=8; "
        "measured=2026-01-29T00:00:00.000Z; workflow_run_id=248; "
        "nvcr.io/nvidia/tensorrt-llm/release:1.2.0rc6.post2",
    }  # fmt: skip
    other_day = dump | {"id": "later", "silicon_data_source": dump["silicon_data_source"]
                        .replace("2026-01-29T", "2026-01-30T")}  # fmt: skip
    other_run = dump | {"id": "slower", "silicon_tpot_ms": dump["silicon_tpot_ms"] + 0.01}
    disagg = dump | {"id": "disagg", "mode": "disagg"}
    frame = pd.DataFrame([timed, dump, other_day, other_run, disagg])
    assert inferencex_twins(frame) == {1: 0}
    assert "fp8_moe_kernel" not in launch_of(pd.Series(dump))[0]
    assert dict(setup_of(frame.loc[0])[0].options)["fp8_moe_kernel"] == "trtllm_gen"
