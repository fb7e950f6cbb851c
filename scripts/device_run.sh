#!/usr/bin/env bash
# One time-boxed measurement run on a machine with two H200s (about 8 minutes), from the
# repository root:
#
#     OUT=/some/folder bash scripts/device_run.sh
#
# Writes under $OUT (6 files): grid.json (8 models: steps, operators alone, framework
# kernels), gemm_check.json (64 bf16 GEMMs beside aiconfigurator's database), compiled.json
# (torch.compile'd steps of 2 models), parallel_tp2.json (collectives, TP=2 steps), env.txt,
# log.txt. Every part has its own time limit and writes as it goes; one that fails or runs out
# of time is logged and the rest go on. Needs torch and transformers; pydantic (and its own
# dependencies) are installed from .whl/ when the machine lacks them (docs/measurement.md).
set -u -o pipefail

OUT=${OUT:?set OUT to the folder for the results}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
START=$(date +%s)
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# NVLink multicast stays off: not what the analysis prices, and it can take shared GPUs down.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

log() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }

# A part: its time limit in seconds, a name, the command. Failure is logged, never fatal.
part() {
    local limit=$1 name=$2
    shift 2
    log "start $name (limit ${limit}s)"
    timeout --signal=TERM --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then
        log "done $name"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        log "STOPPED $name: out of its ${limit}s (what it wrote so far stays)"
    else
        log "FAILED $name: exit $rc (log.txt above says why)"
    fi
    return 0
}

{
    nvidia-smi -L
    nvidia-smi topo -m
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "transformers", transformers.__version__)'
    env | grep -E '^(NCCL_|TORCH_SYMM|NVSHMEM_)' | sort
} >"$OUT/env.txt" 2>&1

if ! python3 -c 'import pydantic' 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install --quiet --no-index --no-deps --target /tmp/rooflens-deps .whl/*.whl >>"$LOG" 2>&1
        export PYTHONPATH="$PYTHONPATH:/tmp/rooflens-deps"
        log "installed $(ls .whl) into /tmp/rooflens-deps"
    else
        log "pydantic is missing and .whl/ holds no wheels: see docs/measurement.md"
        exit 2
    fi
fi
python3 -c 'import rooflens.measure.grid, rooflens.measure.parallel, rooflens.measure.gemm_check' >>"$LOG" 2>&1 \
    || { log "rooflens.measure does not import here (log.txt says why)"; exit 2; }
GPUS=${GPUS:-$(python3 -c 'import torch; print(torch.cuda.device_count())')}
log "GPUs: $GPUS"

# Phase 1, both GPUs at once: the model grid on GPU 0 (no model starts after 230 s); the GEMM
# check, then the compiled engine, on GPU 1. With one GPU they run one after another (longer).
MODELS="Qwen/Qwen3-30B-A3B mistralai/Mistral-7B-v0.1 google/gemma-2-9b Qwen/Qwen3-8B
    deepseek-ai/DeepSeek-V2-Lite Qwen/Qwen2.5-0.5B meta-llama/Llama-2-13b-hf Qwen/Qwen2.5-14B"
grid() {
    # shellcheck disable=SC2086  # MODELS is a list of words
    part 290 grid env CUDA_VISIBLE_DEVICES=0 \
        python3 -m rooflens.measure.grid --out "$OUT/grid.json" --deadline-s 230 --models $MODELS
}
second() {
    part 80 gemm_check env CUDA_VISIBLE_DEVICES="$1" \
        python3 -m rooflens.measure.gemm_check --out "$OUT/gemm_check.json"
    part 190 compiled env CUDA_VISIBLE_DEVICES="$1" \
        python3 -m rooflens.measure.grid --compiled --out "$OUT/compiled.json" --deadline-s 100 \
        --models Qwen/Qwen2.5-0.5B Qwen/Qwen3-8B
}
if [ "$GPUS" -ge 2 ]; then
    grid &
    second 1 &
    wait
else
    grid
    second 0
fi

# Phase 2, both GPUs together: collectives, then Llama-3.1-8B and Qwen2.5-14B sharded over 2.
if [ "$GPUS" -ge 2 ]; then
    part 150 parallel_tp2 \
        python3 -m rooflens.measure.parallel --tp 2 --few --out "$OUT/parallel_tp2.json" \
        --model meta-llama/Llama-3.1-8B Qwen/Qwen2.5-14B
else
    log "skipped parallel_tp2: $GPUS GPU(s) here, 2 needed"
fi
log "all done; files: $(cd "$OUT" && ls | tr '\n' ' ')"
