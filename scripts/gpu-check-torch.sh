#!/usr/bin/env bash
# The PyTorch backend's GPU check, for a lent GPU machine (torch 2.11, transformers, peft, accelerate; no network):
#   1. the worker's Python tests, the transformers comparisons included (they skip where transformers is missing);
#   2. where Node and this checkout's node_modules and out/ are there too: the worker's integration tests through
#      transformers (ALOL_TEST_TORCH_ENGINE=auto) and bench:torch — tokens/s of GPT-2 124M and of a ~0.5 B Llama
#      layout with LoRA, the worker on CUDA (bf16) against the built-in engine on WebGPU, same GPU.
# Prints a report; writes it to $OUT/gpu-check-torch.txt when $OUT is set (the device tool's output folder).
#
#   bash scripts/gpu-check-torch.sh [PYTHON]
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
REPORT="${OUT:-/tmp}/gpu-check-torch.txt"
exec > >(tee "$REPORT") 2>&1
echo "== $(date -u) $(uname -m); $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "== 1. the worker's Python tests"
(cd src/trainer/compute/torch && OPENBLAS_NUM_THREADS=1 "$PY" -m unittest -v 2>&1 | tail -40)
if ! command -v node >/dev/null || [ ! -d node_modules ] || [ ! -d out ]; then
  echo "== 2. skipped: needs node, node_modules and out/ (npm ci && npm run build) on this machine"
  exit 0
fi
echo "== 2a. integration tests through transformers"
ALOL_TEST_PYTHON="$(command -v "$PY")" ALOL_TEST_TORCH_ENGINE=auto node --test --test-reporter=spec \
  out/test/integration/torch-worker.test.js 2>&1 | tail -60
echo "== 2b. GPT-2 124M: torch (cuda, bf16) vs built-in (webgpu)"
node out/bench/torch.js --python "$(command -v "$PY")" --device cuda --precision bfloat16 --builtin-device webgpu --rounds 2 \
  --vocab 50257 --positions 1024 --embd 768 --layers 12 --heads 12 --batch 8 --seq 256 --new-tokens 32
echo "== 2c. ~0.5 B Llama layout, LoRA r 16: torch (cuda, bf16) vs built-in (webgpu)"
node out/bench/torch.js --python "$(command -v "$PY")" --device cuda --precision bfloat16 --builtin-device webgpu --rounds 2 \
  --arch llama --vocab 32000 --positions 2048 --embd 1024 --layers 24 --heads 16 --kv-heads 4 --inner 2816 --lora 16 \
  --batch 8 --seq 256 --new-tokens 32
