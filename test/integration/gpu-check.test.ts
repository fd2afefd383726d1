// scripts/gpu-check.sh --quick from this built checkout (no bundle): the GPU check's steps on tiny sizes, its report's
// fields, and parity. Where WebGPU runs (here: Mesa's lavapipe, software Vulkan) the report says webgpu; where no
// adapter exists it says cpu with the fallback line, and parity then compares cpu with cpu. When the first run found
// WebGPU, a second run hides the Vulkan drivers (VK_DRIVER_FILES pointing at no file) so the fallback path runs too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';

const ROOT = path.resolve(__dirname, '../../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gpu-check-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface ModelFigures {
  tokens_per_s: number | null;
  bytes_per_step: unknown;
  pytorch_tokens_per_s: unknown;
  ratio_vs_pytorch: unknown;
  fp16_tokens_per_s: number | null;
}

interface Report {
  quick: boolean;
  provider: string | null;
  fallback: string | null;
  capabilities: ({ provider: string } & Record<'int64' | 'big' | 'device', { ok: boolean }>) | null;
  models: Record<string, ModelFigures>;
  generate: Record<string, unknown>;
  parity_max_abs_loss_diff: number;
  parity_steps: number;
  parity_tolerance: number;
  parity_ok: boolean;
  parity_provider: string;
  parity_fp16: { max_abs_loss_diff: number; steps: number; tolerance: number; ok: boolean } | null;
  pytorch: unknown;
  steps: Record<string, { ok: boolean }>;
  ok: boolean;
  wall_s: number;
  node: string;
  onnxruntime_node: string;
  nvidia_smi: unknown;
}

function check(name: string, env: NodeJS.ProcessEnv = {}): Report {
  const out = path.join(tmp, name, 'r.json');
  // PYTHON that cannot exist: the PyTorch peer is recorded as not available (its own path runs on a GPU machine)
  const r = spawnSync('bash', ['scripts/gpu-check.sh', '--quick', '--out', out, '--python', '/nonexistent/python3'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 170_000,
  });
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-30).join('\n');
  assert.equal(r.status, 0, tail);
  const report = JSON.parse(readFileSync(out, 'utf8')) as Report;
  assert.equal(report.quick, true);
  assert.equal(report.ok, true);
  for (const key of ['models', 'generate', 'pytorch', 'steps', 'wall_s', 'node', 'onnxruntime_node', 'nvidia_smi', 'fallback']) {
    assert.ok(key in report, `report has ${key}`);
  }
  for (const s of ['probe', 'capabilities', 'train_bench', 'train_gpt2_124m', 'train_llama_lora', 'generate', 'parity']) {
    assert.equal(report.steps[s]?.ok, true, s);
  }
  // bench/probe.ts on the provider that ran: int64 ids, a large tensor (--quick: 4096 x 64), a device tensor between sessions
  for (const k of ['int64', 'big', 'device'] as const) assert.equal(report.capabilities?.[k]?.ok, true, `capability ${k}`);
  assert.equal(report.capabilities?.provider, report.provider);
  for (const m of ['bench', 'gpt2_124m', 'llama_lora']) {
    assert.ok((report.models[m].tokens_per_s ?? 0) > 0, `${m} tokens/s`);
    for (const k of ['bytes_per_step', 'pytorch_tokens_per_s', 'ratio_vs_pytorch']) assert.ok(k in report.models[m], `${m}.${k}`);
  }
  assert.ok(Object.keys(report.generate).some((k) => k.startsWith('generate_b1')));
  assert.equal(report.generate.device, 'cpu'); // --quick runs bench:generate (fixed 4 x 256) on cpu
  assert.equal(report.pytorch, 'not available');
  assert.equal(report.parity_ok, true);
  assert.equal(report.parity_steps, 5);
  assert.ok(report.parity_max_abs_loss_diff <= report.parity_tolerance);
  assert.equal(report.parity_provider, report.provider);
  assert.match(report.node, /^v\d+\./);
  assert.match(report.onnxruntime_node, /^\d+\.\d+\.\d+/);
  return report;
}

it('gpu-check.sh --quick writes a report with every field and parity within tolerance, on the provider that ran', (t) => {
  const report = check('natural');
  t.diagnostic(`provider ${report.provider}; wall ${report.wall_s} s; parity max |loss diff| ${report.parity_max_abs_loss_diff}`);
  assert.ok(report.provider === 'webgpu' || report.provider === 'cpu', String(report.provider));
  if (report.provider === 'cpu') assert.match(String(report.fallback), /device webgpu is not available/);
  else assert.equal(report.fallback, null);
  // float16 mixed precision runs where WebGPU does (the cpu provider refuses it): training and parity against float32
  if (report.provider === 'webgpu') {
    for (const s of ['train_bench_fp16', 'parity_fp16', 'train_gpt2_124m_fp16']) assert.equal(report.steps[s]?.ok, true, s);
    for (const m of ['bench', 'gpt2_124m']) assert.ok((report.models[m].fp16_tokens_per_s ?? 0) > 0, `${m} float16 tokens/s`);
    assert.equal(report.parity_fp16?.ok, true);
    assert.ok((report.parity_fp16?.max_abs_loss_diff ?? 1) <= (report.parity_fp16?.tolerance ?? 0));
  } else {
    assert.equal(report.parity_fp16, null);
    assert.equal(report.models.bench.fp16_tokens_per_s, null);
  }

  // the fallback path too, where this run had WebGPU: hide the Vulkan drivers from the loader
  if (report.provider !== 'webgpu') return;
  const fell = check('no-adapter', { VK_DRIVER_FILES: '/nonexistent/icd.json', VK_ICD_FILENAMES: '/nonexistent/icd.json' });
  t.diagnostic(`without Vulkan drivers: provider ${fell.provider}; wall ${fell.wall_s} s`);
  assert.equal(fell.provider, 'cpu');
  assert.match(String(fell.fallback), /device webgpu is not available/);
  assert.equal(fell.parity_max_abs_loss_diff, 0); // cpu against cpu: the same kernels, the same losses
  assert.equal(fell.parity_fp16, null, 'no float16 steps without WebGPU');
  assert.equal(fell.steps.train_bench_fp16, undefined);
});
