#!/usr/bin/env bash
# The prepared GPU check of the built-in engine (issue 21): on a GPU machine with no Node.js and no network (the
# device tool's H200), from the bundle scripts/gpu-bundle.sh makes (.gpu/bundle.tar.xz: Node, the compiled trainer,
# onnxruntime-node, the Vulkan loader, scripts/torch_bench.py):
#   1. probe   which provider runs (bench:train --device webgpu prints a fallback line and runs on cpu without WebGPU),
#              then bench/probe.ts: int64 inputs, one 154 MB tensor (over WebGPU's default 128 MiB binding), a device
#              tensor passed from one session to another, each against a float64 host reference
#   2. train   bench:train on webgpu, the bench model (4 x 256, T 128, batch 16) and, last, GPT-2 124M's size
#              (12 x 768, T 1024, batch 4, vocab 50257; fewer steps), then a Llama layout of Qwen2-0.5B's shape (24 x 896,
#              GQA 14/2, vocab 32000, ~0.4 B) with LoRA r16 on every projection (PyTorch: scripts/torch_llama.py bench)
#   3. parity  bench/parity.ts: the same 20 training steps of the bench model on cpu and on webgpu, losses within 1e-3
#   (where WebGPU runs: the bench and 124M trainings again in float16 mixed precision, and a 10-step float16 parity
#   against the cpu's float32, losses within 5e-3)
#   4. generate  bench:generate on webgpu (--json; --quick: on cpu, as its model has a fixed size)
#   5. pytorch scripts/torch_bench.py on the same GPU (CUDA, float32, TF32 off, eager) for the same sizes; ratios
# and writes a JSON report (provider, tokens/s ours and PyTorch's and their ratios, bytes per step when bench:train
# prints them, generation tokens/s, parity, wall seconds, Node / ORT versions, nvidia-smi -L), plus a log beside it.
#
#   bash scripts/gpu-check.sh [--quick] [--out report.json] [--bundle PATH] [--python python3] [--budget 300]
# --bundle: the bundle to unpack (default .gpu/bundle.tar.xz). --quick: tiny sizes, 5 parity steps; without --bundle it
# runs this checkout's own build (npm run build) with the node on PATH — what runs on a CPU machine and in the test
# (test/integration/gpu-check.test.ts). In --quick, PyTorch runs on the CPU when it imports but has no CUDA.
# Exits non-zero when a step fails; an unavailable PyTorch is recorded ("pytorch": "not available"), not a failure.
# --budget: seconds for the whole check (default 300): every step's timeout is cut to what is left, so the report is
# written before the device tool's timeout (give it the budget plus a minute); a step with under 10 s left is skipped
# and counts as failed. The GPT-2 124M-size steps run last, so a slow one costs only themselves.
# Meant to finish well inside 5 minutes on the H200 (docs/benchmarks.md, "The GPU check").
set -uo pipefail

QUICK=0
OUTFILE=gpu-check-report.json
BUNDLE=""
PY=python3
BUDGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUTFILE="$2"; shift ;;
    --bundle) BUNDLE="$2"; shift ;;
    --python) PY="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
T0=$(date +%s.%N)
CHECKOUT="$(cd "$(dirname "$0")/.." && pwd)"
case "$OUTFILE" in /*) ;; *) OUTFILE="$PWD/$OUTFILE" ;; esac
mkdir -p "$(dirname "$OUTFILE")"
LOG="${OUTFILE%.json}.log"
exec > >(tee "$LOG") 2>&1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/steps"

[ -z "$BUNDLE" ] && [ "$QUICK" = 0 ] && BUNDLE="$CHECKOUT/.gpu/bundle.tar.xz"
if [ -n "$BUNDLE" ]; then
  [ -f "$BUNDLE" ] || { echo "gpu-check: no bundle at $BUNDLE: run scripts/gpu-bundle.sh first" >&2; exit 1; }
  echo "== unpacking $BUNDLE"
  ROOT="$WORK/bundle"
  mkdir -p "$ROOT"
  xz -T0 -dc "$BUNDLE" | tar -xf - -C "$ROOT" || { echo "gpu-check: cannot unpack $BUNDLE" >&2; exit 1; }
  NODE="$ROOT/node/bin/node"
  # the Vulkan loader, into the unpack folder only (never into /)
  for deb in "$ROOT"/deb/*.deb; do dpkg -x "$deb" "$ROOT/vulkan" || exit 1; done
  export LD_LIBRARY_PATH="$ROOT/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  unset NODE_PATH
  SOURCE="bundle $(cat "$ROOT/COMMIT" 2>/dev/null)"
else
  ROOT="$CHECKOUT"
  NODE="$(command -v node)" || { echo "gpu-check: no node on PATH" >&2; exit 1; }
  [ -f "$ROOT/out/bench/parity.js" ] || { echo "gpu-check: out/bench/parity.js missing: npm run build first" >&2; exit 1; }
  SOURCE="checkout $(git -C "$CHECKOUT" rev-parse HEAD 2>/dev/null)"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" # silences Dawn's warning
# The device README's NVIDIA ICD, where the loader's standard folders have none
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NV_ICD" ] \
  && ! ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES="$NV_ICD"
fi
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64"
cd "$ROOT"

NPROC=$(nproc)
if [ "$QUICK" = 1 ]; then
  TH=2
  BENCH=(--embd 64 --layers 2 --heads 4 --seq 64 --batch 4 --steps 3 --warmup 1)
  BIG=(--embd 96 --layers 3 --heads 4 --seq 64 --batch 2 --steps 2 --warmup 1)
  CAPS=(--vocab 4096 --embd 64)
  LLAMA=(--arch llama --layers 2 --embd 64 --heads 4 --kv-heads 2 --inner 176 --seq 64 --batch 2 --steps 2 --warmup 1 --lora 8)
  TORCH_LLAMA=(--layers 2 --embd 64 --heads 4 --kv-heads 2 --inner 176 --seq 64 --batch 2 --steps 2 --warmup 1 --lora 8)
  # bench:generate has no size flags (its model is the bench model's 4 x 256): on cpu here, lavapipe takes minutes
  GEN=(--device cpu --prompt 8 --new 8 --repeats 1)
  PARITY=(--quick)
  PARITY16=(--quick --tolerance 5e-3)
  TORCH_BENCH=(--embd 64 --layers 2 --heads 4 --seq 64 --batch 4 --steps 3 --warmup 1 --prompt 8 --new 8 --repeats 1)
  TORCH_BIG=(--embd 96 --layers 3 --heads 4 --seq 64 --batch 2 --steps 2 --warmup 1 --train-only)
else
  TH=$((NPROC < 8 ? NPROC : 8))
  BENCH=(--steps 20 --warmup 5)
  # GPT-2 124M's real size, its 50257 x 768 embedding (154 MB: over WebGPU's default 128 MiB binding) included
  BIG=(--embd 768 --layers 12 --heads 12 --seq 1024 --batch 4 --steps 5 --warmup 2 --vocab 50257)
  CAPS=()
  LLAMA=(--arch llama --layers 24 --embd 896 --heads 14 --kv-heads 2 --inner 4864 --vocab 32000 --seq 512 --batch 4
    --steps 5 --warmup 2 --lora 16)
  TORCH_LLAMA=(--layers 24 --embd 896 --heads 14 --kv-heads 2 --inner 4864 --vocab 32000 --seq 512 --batch 4 --steps 5 --warmup 2
    --lora 16)
  GEN=(--device webgpu)
  PARITY=()
  PARITY16=(--steps 10 --tolerance 5e-3)
  TORCH_BENCH=(--steps 20 --warmup 5)
  TORCH_BIG=(--embd 768 --layers 12 --heads 12 --seq 1024 --batch 4 --steps 5 --warmup 2 --vocab 50257 --train-only)
fi

BUDGET="${BUDGET:-300}"
FAILED=0
# step NAME TIMEOUT_S COMMAND...: runs it, its output to the console and $WORK/steps/NAME.log; rc and seconds recorded
step() {
  local name="$1" limit="$2"
  shift 2
  echo "== $name: $*"
  local t0 t1 rc left
  left=$(awk -v a="$T0" -v b="$(date +%s.%N)" -v n="$BUDGET" 'BEGIN { printf "%d", n - (b - a) - 5 }')
  [ "$left" -lt "$limit" ] && limit="$left"
  t0=$(date +%s.%N)
  if [ "$limit" -lt 10 ]; then
    echo "skipped: under 10 s of the --budget of $BUDGET s left" | tee "$WORK/steps/$name.log"
    rc=125
  else
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$WORK/steps/$name.log"
    rc=${PIPESTATUS[0]}
  fi
  t1=$(date +%s.%N)
  echo "$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >"$WORK/steps/$name.status"
  if [ "$rc" != 0 ]; then
    echo "== $name FAILED (exit $rc$([ "$rc" = 124 ] || [ "$rc" = 137 ] && echo ", over its ${limit} s"))"
    return 1
  fi
}

echo "== gpu-check$([ "$QUICK" = 1 ] && echo ' --quick') from $SOURCE on $(uname -m), $NPROC cores; node $("$NODE" --version)"
command -v nvidia-smi >/dev/null && nvidia-smi -L | tee "$WORK/nvidia-smi.txt"

step probe 90 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" \
  --embd 32 --layers 1 --heads 2 --seq 16 --batch 1 --steps 1 --warmup 0 || FAILED=1
step capabilities 60 "$NODE" out/bench/probe.js --device webgpu --json --threads "$TH" "${CAPS[@]}" || FAILED=1
# float16 (mixed precision: float16 MatMuls, float32 weights and AdamW, loss scaling) only where WebGPU runs: the CPU
# provider refuses it
PROVIDER=$(sed -n 's/^device[[:space:]]\{1,\}\([^[:space:]]\{1,\}\) (threads.*/\1/p' "$WORK/steps/probe.log" 2>/dev/null | head -1)
FP16=0
[ "$PROVIDER" = webgpu ] && FP16=1
[ "$FP16" = 1 ] || echo "== float16 steps: skipped (the provider that ran is ${PROVIDER:-unknown}, not webgpu)"
step train_bench 90 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" "${BENCH[@]}" || FAILED=1
if [ "$FP16" = 1 ]; then
  step train_bench_fp16 90 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" "${BENCH[@]}" --precision float16 || FAILED=1
fi
step parity 120 "$NODE" out/bench/parity.js --device webgpu --threads "$TH" "${PARITY[@]}" || FAILED=1
if [ "$FP16" = 1 ]; then
  step parity_fp16 90 "$NODE" out/bench/parity.js --device webgpu --threads "$TH" "${PARITY16[@]}" --precision float16 || FAILED=1
fi
step generate 90 "$NODE" out/bench/generate.js --json --threads "$TH" "${GEN[@]}" || FAILED=1

TORCH_DEVICE=""
if "$PY" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  TORCH_DEVICE=cuda
elif [ "$QUICK" = 1 ] && "$PY" -c 'import torch' >/dev/null 2>&1; then
  TORCH_DEVICE=cpu
fi
export OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1
TORCH=("$PY" scripts/torch_bench.py --json --device "$TORCH_DEVICE" --threads "$TH")
if [ -n "$TORCH_DEVICE" ]; then
  step torch_bench 90 "${TORCH[@]}" "${TORCH_BENCH[@]}" || FAILED=1
else
  echo "== pytorch: not available ($PY cannot import torch$([ "$QUICK" = 1 ] || echo ' with CUDA'))"
fi
step train_gpt2_124m 150 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" "${BIG[@]}" || FAILED=1
if [ -n "$TORCH_DEVICE" ]; then
  step torch_gpt2_124m 90 "${TORCH[@]}" "${TORCH_BIG[@]}" || FAILED=1
fi
# a Llama layout (GQA, SwiGLU) with LoRA on every projection, the base frozen: Qwen2-0.5B's shape, vocab 32000 (~0.4 B)
step train_llama_lora 150 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" "${LLAMA[@]}" || FAILED=1
if [ -n "$TORCH_DEVICE" ]; then
  step torch_llama_lora 120 "$PY" scripts/torch_llama.py bench --json --device "$TORCH_DEVICE" --threads "$TH" "${TORCH_LLAMA[@]}" \
    || FAILED=1
fi
if [ "$FP16" = 1 ]; then
  step train_gpt2_124m_fp16 120 "$NODE" out/bench/train.js --device webgpu --json --threads "$TH" "${BIG[@]}" \
    --precision float16 || FAILED=1
fi

export GEN_DEVICE="${GEN[1]}" # what bench:generate was asked for
WALL=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
cat >"$WORK/report.js" <<'EOF'
// Reads the steps' logs and writes the report (argv: work dir, out file, quick, wall s, failed, torch device, source, python).
const fs = require('fs');
const path = require('path');
const [work, outFile, quick, wall, failed, torchDevice, source, python] = process.argv.slice(2);
const steps = {};
const read = (name) => {
  const file = path.join(work, 'steps', `${name}.log`);
  if (!fs.existsSync(file)) return null;
  const [rc, seconds] = fs.readFileSync(path.join(work, 'steps', `${name}.status`), 'utf8').trim().split(' ');
  steps[name] = { ok: rc === '0', exit: Number(rc), seconds: Number(seconds) };
  return fs.readFileSync(file, 'utf8');
};
const lastJson = (text) => {
  for (const line of (text ?? '').trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try { return JSON.parse(line); } catch { /* not a figures line */ }
  }
  return null;
};
const probeLog = read('probe');
// int64 ids, a tensor over 128 MiB (GPT-2 124M's embedding in the full check), a device tensor passed between sessions
const capabilities = lastJson(read('capabilities'));
const provider = probeLog?.match(/^device\s+(\S+) \(threads/m)?.[1] ?? null;
const fallback = probeLog?.split('\n').find((l) => /^device \S+ is not available/.test(l)) ?? null;
const ratio = (x, y) => (typeof x === 'number' && typeof y === 'number' && y > 0 ? x / y : null);
const torchOn = torchDevice !== '';
const model = (ours, torch, sizes) => {
  const o = lastJson(read(ours));
  const h = lastJson(read(`${ours}_fp16`)); // float16 mixed precision (WebGPU only; null when skipped)
  const t = torchOn ? lastJson(read(torch)) : null;
  const tokens = o?.train_tokens_per_s ?? null;
  const pt = t?.train_tokens_per_s ?? null;
  return {
    sizes,
    tokens_per_s: tokens,
    bytes_per_step: o?.bytes_per_step ?? null,
    model_gflops: o?.model_gflops ?? null,
    roofline_gflops: o?.roofline_gflops ?? null,
    pytorch_tokens_per_s: pt,
    ratio_vs_pytorch: ratio(tokens, pt),
    fp16_tokens_per_s: h?.train_tokens_per_s ?? null,
    fp16_speedup: ratio(h?.train_tokens_per_s, tokens),
    fp16_ratio_vs_pytorch_fp32: ratio(h?.train_tokens_per_s, pt),
  };
};
const q = quick === '1';
const models = {
  bench: model('train_bench', 'torch_bench', q ? '2 x 64, 4 heads, T 64, batch 4' : '4 x 256, 8 heads, T 128, batch 16'),
  gpt2_124m: model('train_gpt2_124m', 'torch_gpt2_124m', q
    ? '3 x 96, 4 heads, T 64, batch 2'
    : '12 x 768, 12 heads, vocab 50257, T 1024, batch 4'),
  llama_lora: model('train_llama_lora', 'torch_llama_lora', q
    ? 'llama 2 x 64, 4/2 heads, LoRA r8, T 64, batch 2'
    : 'llama 24 x 896, 14/2 heads, MLP 4864, vocab 32000, LoRA r16, T 512, batch 4'),
};
const genLog = read('generate');
const gen = lastJson(genLog) ?? {};
const genDevice = process.env.GEN_DEVICE === 'cpu' ? 'cpu' : /^device \S+ is not available/m.test(genLog ?? '') ? 'cpu' : 'webgpu';
const torchGen = torchOn ? lastJson(read('torch_bench')) ?? {} : {};
const generate = { device: genDevice };
// --quick: bench:generate's model is always 4 x 256, PyTorch's the tiny one: no ratio between them
if (q) generate.note = 'quick: ours is the 4 x 256 bench model, PyTorch the tiny one; no ratios';
for (const k of ['generate_b1_tokens_per_s', 'generate_b16_tokens_per_s', 'logprobs_tokens_per_s']) {
  generate[k] = { ours: gen[k] ?? null, pytorch: torchGen[k] ?? null, ratio_vs_pytorch: q ? null : ratio(gen[k], torchGen[k]) };
}
const par = lastJson(read('parity')) ?? {};
const p16 = lastJson(read('parity_fp16'));
const parityFp16 = p16
  ? { max_abs_loss_diff: p16.parity_max_abs_loss_diff, steps: p16.parity_steps, tolerance: p16.parity_tolerance, ok: p16.parity_ok }
  : null;
const tb = torchOn ? lastJson(read('torch_bench')) : null;
const ortPkg = JSON.parse(fs.readFileSync('node_modules/onnxruntime-node/package.json', 'utf8'));
const smi = path.join(work, 'nvidia-smi.txt');
const report = {
  quick: q,
  source,
  provider,
  fallback,
  capabilities,
  models,
  generate,
  parity_max_abs_loss_diff: par.parity_max_abs_loss_diff ?? null,
  parity_steps: par.parity_steps ?? null,
  parity_tolerance: par.parity_tolerance ?? null,
  parity_ok: par.parity_ok ?? false,
  parity_provider: par.provider ?? null,
  parity_fp16: parityFp16,
  pytorch: torchOn
    ? { device: torchDevice, python, torch: tb?.torch ?? null, gpu: tb?.gpu ?? null, tf32: false, compile: false }
    : 'not available',
  steps,
  ok: failed === '0',
  wall_s: Number(wall),
  node: process.version,
  onnxruntime_node: ortPkg.version,
  nvidia_smi: fs.existsSync(smi) ? fs.readFileSync(smi, 'utf8').trim() : null,
  date: new Date().toISOString(),
};
fs.writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
const f = (x, d = 0) => (typeof x === 'number' ? x.toFixed(d) : '-');
const r = (x) => (typeof x === 'number' ? `${x.toFixed(2)}x` : '-');
console.log(`\n# GPU check${q ? ' (--quick)' : ''}: provider ${provider}${fallback ? ' (fell back: WebGPU missing)' : ''}; ` +
  `pytorch ${torchOn ? `torch ${tb?.torch ?? '?'} on ${torchDevice}` : 'not available'}`);
for (const k of ['int64', 'big', 'device']) {
  const c = capabilities?.[k];
  const size = k === 'big' && c?.bytes ? ` (${c.bytes} bytes)` : '';
  console.log(`capability ${k.padEnd(7)} ${c ? (c.ok ? 'ok' : `FAILED: ${c.error}`) : '-'}${size}`);
}
for (const [name, m] of Object.entries(models)) {
  console.log(`train ${name.padEnd(10)} ${m.sizes.padEnd(50)} ours ${f(m.tokens_per_s).padStart(8)} tokens/s  ` +
    `pytorch ${f(m.pytorch_tokens_per_s).padStart(8)}  ratio ${r(m.ratio_vs_pytorch)}  bytes/step ${m.bytes_per_step ?? '-'}`);
}
for (const [k, g] of Object.entries(generate)) {
  if (typeof g === 'string') continue;
  console.log(`${k.padEnd(27)} ours ${f(g.ours).padStart(8)} (${genDevice})  ` +
    `pytorch ${f(g.pytorch).padStart(8)}  ratio ${r(g.ratio_vs_pytorch)}`);
}
for (const [name, m] of Object.entries(models)) {
  if (m.fp16_tokens_per_s !== null) {
    console.log(`train ${name.padEnd(10)} float16 ${f(m.fp16_tokens_per_s).padStart(8)} tokens/s  ${r(m.fp16_speedup)} float32's`);
  }
}
if (parityFp16) {
  console.log(`parity float16 (webgpu) vs float32 (cpu) max |loss diff| ${parityFp16.max_abs_loss_diff} over ${parityFp16.steps} steps, ` +
    `tolerance ${parityFp16.tolerance}: ${parityFp16.ok ? 'ok' : 'FAILED'}`);
}
console.log(`parity (cpu vs ${report.parity_provider}) max |loss diff| ${report.parity_max_abs_loss_diff} ` +
  `over ${report.parity_steps} steps, ` +
  `tolerance ${report.parity_tolerance}: ${report.parity_ok ? 'ok' : 'FAILED'}`);
const bad = Object.entries(steps).filter(([, s]) => !s.ok).map(([n]) => n);
console.log(`steps ${bad.length ? `FAILED: ${bad.join(', ')}` : 'all ok'}; wall ${wall} s; report ${outFile}`);
EOF
"$NODE" "$WORK/report.js" "$WORK" "$OUTFILE" "$QUICK" "$WALL" "$FAILED" "$TORCH_DEVICE" "$SOURCE" "$PY" || FAILED=1
exit "$FAILED"
