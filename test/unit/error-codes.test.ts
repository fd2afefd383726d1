// Errors a user can act on carry their own run/didFail code and hint as fields (no text parsing):
// DataError ('data'), RewardError ('reward'), ModelFileError (its detailed code) and the other hinted
// errors of the data, model, reward and graph code — each met through the code that throws it, its
// message still reading exactly as before (ending "; hint: ..." where it has one).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { RewardComponentSchema } from '../../src/protocol/config.js';
import { parseHhTranscript } from '../../src/trainer/data/hh.js';
import { DataError, readJsonl } from '../../src/trainer/data/jsonl.js';
import type { Row } from '../../src/trainer/data/rows.js';
import { AlolError, type Failure, failureOf } from '../../src/trainer/errors.js';
import { gradients } from '../../src/trainer/graph/grad.js';
import { Graph } from '../../src/trainer/graph/ir.js';
import * as o from '../../src/trainer/graph/ops.js';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { parseModelConfig } from '../../src/trainer/model/folder.js';
import { Generator } from '../../src/trainer/model/generate.js';
import { LogprobScorer } from '../../src/trainer/model/logprobs.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { ModelFileError, readSafetensors } from '../../src/trainer/model/safetensors.js';
import { createBuiltin } from '../../src/trainer/rewards/builtins.js';
import { RewardError, RewardSet } from '../../src/trainer/rewards/registry.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-error-codes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What `act` throws (sync or async). */
async function thrown(act: () => unknown): Promise<unknown> {
  try {
    await act();
  } catch (e) {
    return e;
  }
  return assert.fail('expected a throw');
}

/** The error is an AlolError whose fields are run/didFail's, and whose message is `message` exactly. */
function expectFailure(e: unknown, expected: Failure): void {
  assert.ok(e instanceof AlolError, `not an AlolError: ${String(e)}`);
  assert.equal(e.code, expected.code);
  assert.equal(e.hint, expected.hint);
  assert.equal(e.message, expected.message);
  assert.deepEqual(failureOf(e), expected);
}

describe('data errors: code "data"', () => {
  it('a bad JSON line is a DataError naming file and line (no hint)', async () => {
    const file = path.join(dir, 'bad.jsonl');
    writeFileSync(file, '{"a": 1}\n{oops\n');
    const e = await thrown(async () => {
      for await (const _ of readJsonl(file, z.unknown())) void _;
    });
    assert.ok(e instanceof DataError);
    assert.match(e.message, /bad\.jsonl:2: not valid JSON \(/);
    expectFailure(e, { code: 'data', message: e.message });
  });

  it('a DataError with a hint renders it after the message, in the message and the reason', () => {
    const e = new DataError('d.jsonl', 3, 'prompt', 'expected string, received number', 'quote it');
    const message = 'd.jsonl:3: field prompt: expected string, received number; hint: quote it';
    expectFailure(e, { code: 'data', message, hint: 'quote it' });
    assert.equal(e.reason, 'field prompt: expected string, received number; hint: quote it');
  });

  it('an HH transcript without an Assistant turn', async () => {
    const e = await thrown(() => parseHhTranscript('\n\nHuman: hi', { file: 'hh.jsonl', line: 4, field: 'chosen' }));
    const message = 'hh.jsonl:4: field chosen: transcript has no "\\n\\nAssistant:" turn, so there is no response to split off';
    expectFailure(e, { code: 'data', message });
  });

  it('a truncated .gz file', async () => {
    const file = path.join(dir, 'cut.jsonl.gz');
    const full = gzipSync(Buffer.from(Array.from({ length: 200 }, (_, i) => `{"i": ${i}}`).join('\n')));
    writeFileSync(file, full.subarray(0, full.length - 40));
    const e = await thrown(async () => {
      for await (const _ of readJsonl(file, z.unknown())) void _;
    });
    assert.ok(e instanceof AlolError);
    const hint = 'is the .gz file truncated or not gzip at all?';
    assert.ok(e.message.startsWith(`${file}: after line `), e.message);
    assert.match(e.message, /: after line \d+: not a valid gzip stream \(.*\); hint: /);
    expectFailure(e, { code: 'data', message: e.message, hint });
    assert.ok(e.message.endsWith(`; hint: ${hint}`));
  });
});

describe('model file errors: the detailed code', () => {
  it('a truncated safetensors file', async () => {
    const e = await thrown(() => readSafetensors(Uint8Array.of(1, 2), 'w.safetensors'));
    assert.ok(e instanceof ModelFileError);
    expectFailure(e, {
      code: 'truncated',
      message:
        'w.safetensors: file is 2 bytes, shorter than the 8-byte header length; hint: the file was cut short (re-download or re-save it)',
      hint: 'the file was cut short (re-download or re-save it)',
    });
  });

  it('an unsupported model type', async () => {
    const e = await thrown(() => parseModelConfig({ model_type: 'qwen3' }, 'config.json'));
    const hint = 'this trainer implements GPT-2 and the Llama family (Llama, Qwen2, Mistral)';
    expectFailure(e, {
      code: 'unsupported_config',
      message: `config.json: model_type "qwen3" is not supported (supported: "gpt2", "llama", "qwen2", "mistral"); hint: ${hint}`,
      hint,
    });
  });
});

describe('reward errors: code "reward"', () => {
  const file = path.join(process.cwd(), 'x.jsonl');
  const row: Row = { id: 'r1', file, line: 7, prompt: 'p', response: 'r', split: 'train', group: 'r1', kind: 'row', raw: {} };

  it('a field component on a row without the field', async () => {
    const config = RewardComponentSchema.parse({ name: 'human', kind: 'field', field: 'human_reward' });
    const set = await RewardSet.create([config], { baseDir: dir });
    const e = await thrown(() => set.score([row]));
    assert.ok(e instanceof RewardError);
    const hint = 'give the component a "default" for rows without it';
    const message = `reward human (field): row x.jsonl:7 (id r1) has no field 'human_reward'; hint: ${hint}`;
    expectFailure(e, { code: 'reward', message, hint });
  });

  it('a value outside the declared range (no hint)', async () => {
    const config = RewardComponentSchema.parse({ name: 'gold', kind: 'field', field: 'reward', range: [0, 1] });
    const set = await RewardSet.create([config], { baseDir: dir });
    const e = await thrown(() => set.score([{ ...row, reward: 3 }]));
    const message = 'reward gold (field): row x.jsonl:7 (id r1): returned 3, outside its declared range [0, 1]';
    expectFailure(e, { code: 'reward', message });
  });

  it('tfidf scored before it is fitted', async () => {
    const e = await thrown(() => createBuiltin('tfidf').score([{ prompt: '', response: 'x' }]));
    expectFailure(e, {
      code: 'reward',
      message: "built-in scorer 'tfidf': score() called before fit(); hint: call fit(trainingResponses) first",
      hint: 'call fit(trainingResponses) first',
    });
  });
});

describe('model limits and graph building', () => {
  const cfg = gptConfig({ vocabSize: 257, nPositions: 16, nEmbd: 8, nLayer: 1, nHead: 2 });
  const params = initGptParams(cfg, 1);

  it('a prompt that cannot fit the new tokens', async () => {
    const gen = new Generator(cfg, params, { decode: () => '', eosTokenId: 256 }, { threads: 1 });
    const e = await thrown(() => gen.generate([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], { maxNewTokens: 8 }));
    await gen.dispose();
    const hint = 'shorten the prompt or generate fewer new tokens (--max-new-tokens)';
    const message = `generate: a prompt of 10 tokens plus 8 new tokens exceeds n_positions 16; hint: ${hint}`;
    expectFailure(e, { code: 'model', message, hint });
  });

  it('scoring with EOS but a tokenizer without one', async () => {
    const scorer = new LogprobScorer(cfg, params);
    const e = await thrown(() => scorer.score([{ prompt: [1], response: [2] }], { batchSize: 1, addEos: true, eosTokenId: null }));
    const hint = 'add <|endoftext|> to tokenizer.json';
    expectFailure(e, { code: 'model', message: `logprobs: the tokenizer has no end-of-text token; hint: ${hint}`, hint });
  });

  it('an op without a gradient rule', async () => {
    const g = new Graph();
    const x = g.floatInput('x', [2, 2]);
    const e = await thrown(() => gradients(o.sumAll(o.trilu(x, false)), [x]));
    assert.ok(e instanceof AlolError);
    assert.match(e.message, /^no gradient rule for op Trilu \(node producing .*\); hint: add one to gradRules/);
    const hint = 'add one to gradRules in src/trainer/graph/grad.ts, or wrap its input in stopGradient';
    expectFailure(e, { code: 'graph', message: e.message, hint });
  });
});
