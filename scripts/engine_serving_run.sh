#!/usr/bin/env bash
# The serving runs of docs/engines-measured.md, on a GPU machine with PyTorch 2.11 (CUDA 13)
# and no network: vLLM 0.22.0 or SGLang 0.5.17 from a bundle made elsewhere, its OpenAI server
# on a model folder with random weights (--load-format dummy), and
# scripts/engine_serving_client.py over the points given. Writes steps.txt, points.jsonl and
# server.log under $OUT.
#
#   ENGINE=vllm|sglang bash scripts/engine_serving_run.sh POINTS [MODEL_DIR]
#
# POINTS: isl:osl:clients:requests_per_client,... MODEL_DIR: a config.json with a word-level
# tokenizer.json (one token per word "t<id>", ids covering the model's vocabulary).
# BUNDLE_PARTS: the bundle's pieces in order, a tar holding deps/*.whl (the engine's wheels and
# those it needs that the machine lacked) and the engine's compiled part: for vLLM
# vllm022.tar.xz, its wheel unpacked less its FA2 kernels (Hopper runs FA3) and its vllm-rs
# binary (deps then holds no vLLM wheel); for SGLang sglk.tar.xz, sglang-kernel 0.4.5's wheel
# unpacked less its FA3 kernels (flash_ops, 1.1 GB), its Blackwell, FlashMLA and InfLLM
# kernels, so SGLang runs its Triton attention backend (deps holds SGLang's wheel, the
# transformers 5.12.1 and tokenizers 0.22.2 it pins, and FlashInfer's Python package, which it
# imports). EXTRA: a folder of wheels installed only where the machine lacks them; STUB: a
# folder on PYTHONPATH last (scripts/engine_stub, an xgrammar stand-in: structured output,
# unused). Neither engine samples with FlashInfer (vLLM runs without it). SERVER_ARGS: more
# options for the server (SGLang's --scheduler-recv-interval 30, say); CLIENT_ARGS: for the
# client (--metrics URL, --tag model=meta-llama/Llama-3.1-8B --tag launch=2 ...).
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export VLLM_USE_FLASHINFER_SAMPLER=0
ENGINE="${ENGINE:-vllm}"
POINTS="$1"
MODEL="${2:-model}"
BUNDLE_PARTS="${BUNDLE_PARTS:-/tmp/ch/part0 /tmp/ch/part1 /tmp/ch/part2 /tmp/ch/part3}"
EXTRA="${EXTRA:-extra}"
STUB="${STUB:-$(dirname "$0")/engine_stub}"
CLIENT="$(dirname "$0")/engine_serving_client.py"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.txt"; }
case "$ENGINE" in
  vllm) COMPILED=vllm022.tar.xz ;;
  sglang) COMPILED=sglk.tar.xz ;;
  *) echo "ENGINE=$ENGINE: expected vllm or sglang" >&2; exit 2 ;;
esac
# Each engine in folders of its own, so that a machine that served one can assemble the other.
B="/tmp/b-$ENGINE" SITE="/tmp/site-$ENGINE" SITE2="/tmp/site2-$ENGINE"
if [ ! -d "$SITE2/$ENGINE" ] && [ ! -d "$SITE/$ENGINE" ]; then
  log "assemble"
  # shellcheck disable=SC2086
  cat $BUNDLE_PARTS > /tmp/bundle.tar || exit 3
  sha256sum /tmp/bundle.tar | tee -a "$OUT/steps.txt"
  mkdir -p "$B" "$SITE" "$SITE2" && tar xf /tmp/bundle.tar -C "$B" || exit 4
  xz -dc "$B/$COMPILED" | tar x -C "$SITE" || exit 5
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$SITE2" "$B"/deps/*.whl > "$OUT/pip.txt" 2>&1 || { log "pip failed"; exit 6; }
  missing=""
  for w in "$EXTRA"/*.whl; do
    name=$(basename "$w" | cut -d- -f1)
    PYTHONPATH="$SITE2" python3 -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" \
      "$name" 2> /dev/null || missing="$missing $w"
  done
  log "extra wheels installed: $missing"
  # shellcheck disable=SC2086
  [ -z "$missing" ] || python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target "$SITE2" $missing >> "$OUT/pip.txt" 2>&1
fi
export PYTHONPATH="$SITE:$SITE2:$STUB"
log "import"
python3 -c "import $ENGINE, torch; print('$ENGINE', $ENGINE.__version__, 'torch', torch.__version__)" \
  >> "$OUT/steps.txt" 2>&1 || { log "import failed"; exit 7; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,power.limit --format=csv \
  >> "$OUT/steps.txt"
if curl -s -o /dev/null http://127.0.0.1:8000/health; then
  log "port 8000 answers already: another server runs"
  exit 9
fi
log "serve"
# shellcheck disable=SC2086
if [ "$ENGINE" = vllm ]; then
  setsid python3 -m vllm.entrypoints.openai.api_server --model "$MODEL" --served-model-name m \
    --load-format dummy --max-model-len 9216 --port 8000 ${SERVER_ARGS:-} > /tmp/server.log 2>&1 &
else
  # CUDA graphs up to 64 sequences, the most clients a point runs (SGLang's own limit on an
  # H100 is larger and only lengthens the start).
  setsid python3 -m sglang.launch_server --model-path "$MODEL" --served-model-name m \
    --load-format dummy --context-length 9216 --port 8000 --attention-backend triton \
    --sampling-backend pytorch --grammar-backend none --cuda-graph-max-bs 64 ${SERVER_ARGS:-} \
    > /tmp/server.log 2>&1 &
fi
SERVER=$!
# The server's process group (SGLang's scheduler and detokenizer are processes of their own)
# goes when this script ends, however it ends, so that a next run finds the GPU and port free.
stop() {
  kill -- -"$SERVER" 2> /dev/null
  for _ in $(seq 1 30); do kill -0 -- -"$SERVER" 2> /dev/null || return; sleep 1; done
  kill -9 -- -"$SERVER" 2> /dev/null
}
trap stop EXIT
ready=""
for _ in $(seq 1 200); do
  if curl -sf http://127.0.0.1:8000/health > /dev/null; then ready=1; break; fi
  if ! kill -0 $SERVER 2> /dev/null; then
    log "server died"
    tail -n 400 /tmp/server.log > "$OUT/server_tail.log"
    exit 8
  fi
  sleep 2
done
if [ -z "$ready" ]; then
  log "server not ready after 400 s"
  tail -n 400 /tmp/server.log > "$OUT/server_tail.log"
  exit 10
fi
log "ready"
# shellcheck disable=SC2086
python3 "$CLIENT" --points "$POINTS" --out "$OUT/points.jsonl" ${CLIENT_ARGS:-} \
  >> "$OUT/steps.txt" 2>&1
log "client done"
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu --format=csv >> "$OUT/steps.txt"
stop
grep -v -e "Avg prompt throughput" -e "Decode batch" /tmp/server.log | tail -n 3000 > "$OUT/server.log"
log "end"
