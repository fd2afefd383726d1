// The PyTorch worker's own Python tests (src/trainer/compute/torch/tests/: the built-in GPT-2 / Llama modules against
// the shared fixtures, LoRA, generation with the KV cache, every loss against the golden values; the transformers
// comparisons skip where transformers is not installed), run with unittest under Debian's python3-torch. unittest's
// summary is printed as this test's diagnostics; see torch-worker.test.ts for when it skips.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';

const PYTHON = process.env.ALOL_TEST_PYTHON ?? '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const skip = HAVE_TORCH || process.env.ALOL_REQUIRE_TORCH === '1' ? false : `no torch for ${PYTHON}`;
const PKG = path.resolve(__dirname, '../../../src/trainer/compute/torch');

it('the worker\'s Python tests pass (python -m unittest in src/trainer/compute/torch)', { skip: skip || undefined }, (t) => {
  const r = spawnSync(PYTHON, ['-m', 'unittest', '-v'], {
    cwd: PKG,
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  const lines = `${r.stdout}\n${r.stderr}`.trim().split('\n');
  const summary = lines.filter((l) => /^(Ran \d+ tests|OK|FAILED)/.test(l));
  for (const l of summary) t.diagnostic(l);
  assert.equal(r.status, 0, lines.slice(-40).join('\n'));
  assert.match(summary.join(' '), /Ran \d+ tests/);
});
