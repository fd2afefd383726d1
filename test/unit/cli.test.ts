// The `alol` CLI as a user runs it: help, the devices verb, and one-line errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('alol CLI', () => {
  it('--help lists the verbs', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /devices/);
  });

  it('devices reports what each request resolves to', () => {
    const r = run('devices', '--device', 'cpu');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /onnxruntime-node 1\.30\.0/);
    assert.match(r.stdout, /--device cpu\s+-> cpu/);
  });

  it('a bad argument is one clear line, no stack trace', () => {
    const r = run('devices', '--device', 'tpu');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /argument 'tpu' is invalid\. use one of: auto, cpu, cuda, webgpu/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
