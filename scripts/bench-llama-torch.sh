#!/usr/bin/env bash
# The Llama-layout training step, this project (bench:train --arch llama, ONNX Runtime) against an
# independent PyTorch implementation of the same model (scripts/torch_llama.py bench: same sizes,
# forward + backward + clipping + AdamW, float32), alternating A B A B ... in one run on one machine
# so drift and other work hit both alike; prints each measurement, the medians and their ratio.
# Needs a built tree (`npm run build`) and python3-torch. A tool for the README's figure; no test calls it.
#
# Usage: scripts/bench-llama-torch.sh [ROUNDS] [bench flags, e.g. --embd 256 --layers 4 --heads 8 --kv-heads 4]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; shift || true
PY=${PYTHON:-/usr/bin/python3}  # Debian's python3-torch lives in the system Python
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
: >"$tmp/ours"; : >"$tmp/torch"
for r in $(seq 1 "$ROUNDS"); do
  o=$(node out/bench/train.js --arch llama --steps 10 --warmup 3 "$@" | awk '/^tokens\/s/ {print $2}')
  # OpenBLAS threads on top of torch's oversubscribe 2 cores (notes/onnx-training.md): one BLAS thread.
  t=$(OPENBLAS_NUM_THREADS=1 "$PY" scripts/torch_llama.py bench --steps 10 --warmup 3 "$@" | awk '/^tokens\/s/ {print $2}')
  echo "$o" >>"$tmp/ours"; echo "$t" >>"$tmp/torch"
  printf 'round %d: alol (onnxruntime) %s tokens/s, pytorch %s tokens/s\n' "$r" "$o" "$t"
done
mo=$(median <"$tmp/ours"); mt=$(median <"$tmp/torch")
printf 'median: alol %s tokens/s, pytorch %s tokens/s, alol/pytorch %.3f\n' "$mo" "$mt" "$(echo "$mo / $mt" | bc -l)"
