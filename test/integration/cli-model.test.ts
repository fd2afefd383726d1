// The model verbs as a user runs them: init-model -> pretrain (with a checkpoint) -> generate,
// logprobs, export-onnx; resume; one-line errors naming the file, line and field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const bin = path.resolve(__dirname, '../../../bin/alol.js');
let dir = '';
const alol = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir });
const ok = (r: ReturnType<typeof alol>) => assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-cli-'));
  await writeFile(path.join(dir, 'text.txt'), 'Human: hello there\n\nAssistant: Hi! How can I help?\n\n'.repeat(80));
  await writeFile(
    path.join(dir, 'rows.jsonl'),
    '{"prompt":"Human: hello","response":" there","id":7}\r\n\r\n{"prompt":"","response":"Hi!"}\n',
  );
});
after(() => rm(dir, { recursive: true, force: true }));

describe('alol model verbs', () => {
  it('init-model, pretrain with a checkpoint, resume to the same weights', async () => {
    ok(alol('init-model', '--out', 'm0', '--layers', '1', '--embd', '32', '--heads', '4', '--positions', '64'));
    const common = ['--text', 'text.txt', '--steps', '12', '--seq-len', '32', '--batch-size', '4', '--eval-every', '0', '--threads', '1'];
    ok(alol('pretrain', '--model', 'm0', ...common, '--out', 'm1', '--checkpoint-every', '6'));
    ok(alol('pretrain', '--resume', 'm1-checkpoints/step-000006', ...common, '--out', 'm1b'));
    assert.deepEqual(await readFile(path.join(dir, 'm1b', 'model.safetensors')), await readFile(path.join(dir, 'm1', 'model.safetensors')));
  });

  it('generate prints a continuation; seeded sampling repeats', () => {
    const a = alol('generate', '--model', 'm1', '--prompt', 'Human:', '--max-new-tokens', '8', '--temperature', '1', '--seed', '4');
    const b = alol('generate', '--model', 'm1', '--prompt', 'Human:', '--max-new-tokens', '8', '--temperature', '1', '--seed', '4');
    ok(a);
    assert.equal(a.stdout, b.stdout);
  });

  it('logprobs writes one line per row, EOS only when asked', async () => {
    ok(alol('logprobs', '--model', 'm1', '--data', 'rows.jsonl', '--out', 'lp.jsonl'));
    ok(alol('logprobs', '--model', 'm1', '--data', 'rows.jsonl', '--out', 'lp-eos.jsonl', '--add-eos'));
    const rows = (f: string) => readFile(path.join(dir, f), 'utf8').then(
      (s) => s.trim().split('\n').map((l) => JSON.parse(l) as { line: number; id?: number; logprob: number; tokens: number }),
    );
    const [plain, eos] = [await rows('lp.jsonl'), await rows('lp-eos.jsonl')];
    assert.deepEqual(plain.map((r) => [r.line, r.id, r.tokens]), [[1, 7, 6], [3, undefined, 3]]);
    assert.deepEqual(eos.map((r) => r.tokens), [7, 4]);
    plain.forEach((r, i) => assert.ok(eos[i].logprob < r.logprob));
  });

  it('export-onnx writes a checked file', () => {
    const r = alol('export-onnx', '--model', 'm1', '--out', 'm1.onnx');
    ok(r);
    assert.match(r.stdout, /checked in a fresh session/);
  });

  it('errors are one line naming what and where', async () => {
    await writeFile(path.join(dir, 'bad.jsonl'), '{"prompt":"a","response":"b"}\n{"prompt":"a"}\n');
    const r = alol('logprobs', '--model', 'm1', '--data', 'bad.jsonl', '--out', 'x.jsonl');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.jsonl:2: field response: /);
    const m = alol('generate', '--model', 'nowhere', '--prompt', 'x');
    assert.equal(m.status, 1);
    assert.match(m.stderr, /^alol: error: .*nowhere.*\n$/);
    assert.doesNotMatch(r.stderr + m.stderr, /\n\s+at /);
  });
});
