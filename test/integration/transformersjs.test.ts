// The folders `alol export-onnx --folder` writes load as they are in transformers.js (@huggingface/transformers,
// a devDependency: the library a web page or VS Code webview would use), offline from the local folder: the
// GPT-2, Llama and Qwen2 fixtures written by independent implementations (../shared/fixtures), exported here,
// give transformers.js's own greedy generation (its tokenizer, its KV-cache loop over our decoder-with-past
// graph) exactly the fixtures' expected continuations.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { alolRunner } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'alol-tjs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const alol = alolRunner(() => dir);
type ExpectedGreedy = { prompt: string; max_new_tokens: number; text: string }[];

describe('transformers.js loads exported folders as they are', () => {
  for (const [fixture, className] of [
    ['gpt2-tiny-independent', 'GPT2LMHeadModel'],
    ['llama-tiny-independent', 'LlamaForCausalLM'],
    ['qwen2-tiny-independent', 'Qwen2ForCausalLM'],
  ]) {
    it(`${fixture}: ${className}, greedy continuations equal the independent implementation's`, async () => {
      const name = fixture.split('-')[0];
      alol('export-onnx', '--model', sharedPath('fixtures', fixture, 'model'), '--folder', name);
      const { AutoModelForCausalLM, AutoTokenizer, env } = await import('@huggingface/transformers');
      env.allowRemoteModels = false; // nothing downloads: the folder is all there is
      env.localModelPath = `${dir}${path.sep}`;
      const tok = await AutoTokenizer.from_pretrained(name);
      const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', device: 'cpu' });
      assert.equal(model.constructor.name, className);
      const expected = JSON.parse(readFileSync(sharedPath('fixtures', fixture, 'expected.json'), 'utf8')) as ExpectedGreedy;
      assert.ok(expected.length >= 5);
      for (const c of expected) {
        const inputs = tok(c.prompt, { add_special_tokens: false });
        const out = await model.generate({ ...inputs, max_new_tokens: c.max_new_tokens, do_sample: false });
        const ids = (out as { tolist(): bigint[][] }).tolist()[0].map(Number);
        const text = tok.decode(ids.slice(inputs.input_ids.dims[1]), { skip_special_tokens: false });
        assert.equal(text, c.text, `${fixture}: ${JSON.stringify(c.prompt)}`);
      }
      await model.dispose();
    });
  }
});
