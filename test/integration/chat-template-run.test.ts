// A model folder with a chat template, special tokens and several EOS ids through the `alol` CLI: the
// audit with data.chatTemplate scores exactly what `alol logprobs --add-eos --chat-template` scores
// (so training, reference and the CLI format prompts alike), differs from the plain prompts, ends
// responses with the folder's EOS, and the run's reference/ folder is a complete Hugging Face folder
// carrying the source's tokenizer_config.json, generation_config.json and chat_template.jinja.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { saveModelFolder } from '../../src/trainer/model/folder.js';
import { NO_TOKENIZER_FILES } from '../../src/trainer/model/hf-files.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { byteLevelTokenizerJson } from '../../src/trainer/model/tokenizer.js';
import { alolRunner } from '../helpers/cli.js';

let dir = '';
const alol = alolRunner(() => dir);
const jsonl = <T>(file: string): T[] => readFileSync(path.join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);
const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;

const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const IM_END = 258;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-chat-'));
  const base = byteLevelTokenizerJson() as { added_tokens: unknown[] };
  const special = (id: number, content: string) =>
    ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizerJson = { ...base, added_tokens: [...base.added_tokens, special(257, '<|im_start|>'), special(IM_END, '<|im_end|>')] };
  const cfg = gptConfig({ vocabSize: 259, nPositions: 128, nEmbd: 32, nLayer: 1, nHead: 4 });
  await saveModelFolder(path.join(dir, 'chat'), {
    config: cfg,
    params: initGptParams(cfg, 3),
    tokenizerJson,
    tokenizerFiles: {
      ...NO_TOKENIZER_FILES,
      tokenizerConfig: { eos_token: '<|im_end|>', chat_template: CHATML, tokenizer_class: 'Qwen2Tokenizer' },
      generationConfig: { eos_token_id: [IM_END, 256] },
    },
  });
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({
    id: `r${i}`,
    prompt: i % 2 ? `\n\nHuman: tell me about rockets #${i}\n\nAssistant:` : `What do cats eat? (${i})`,
    response: ` They eat ${i % 3 ? 'fish' : 'mice'} mostly.`,
    reward: i % 2,
  }));
  await writeFile(path.join(dir, 'rows.jsonl'), `${lines.join('\n')}\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

const runConfig = (chatTemplate: boolean) => ({
  data: { path: 'rows.jsonl', split: { validation: 0.1, test: 0.1, seed: 0 }, chatTemplate },
  reference: { path: 'chat' },
  rewards: [{ name: 'label', kind: 'field', field: 'reward' }],
  value: { fitOn: 'train', folds: 3, epochs: 2 },
  threads: 1,
});

describe('a chat-template model through the CLI', () => {
  it('the audit scores what `alol logprobs --add-eos --chat-template` scores, and not what the plain prompts give', async () => {
    await writeFile(path.join(dir, 'chat.json'), JSON.stringify(runConfig(true)));
    await writeFile(path.join(dir, 'plain.json'), JSON.stringify(runConfig(false)));
    alol('audit', '--config', 'chat.json', '--out', 'run-chat', '--no-cache');
    alol('audit', '--config', 'plain.json', '--out', 'run-plain', '--no-cache');
    alol('logprobs', '--model', 'chat', '--data', 'rows.jsonl', '--out', 'lp.jsonl', '--add-eos', '--chat-template');
    type Adv = { line: number; refLogprob: number; refTokens: number };
    const byLine = new Map(jsonl<{ line: number; logprob: number; tokens: number }>('lp.jsonl').map((r) => [r.line, r]));
    const chat = jsonl<Adv>('run-chat/advantages.jsonl');
    const plain = new Map(jsonl<Adv>('run-plain/advantages.jsonl').map((a) => [a.line, a]));
    assert.ok(chat.length >= 20, `${chat.length} training rows`);
    for (const a of chat) {
      const l = byLine.get(a.line);
      assert.ok(l, `line ${a.line}`);
      // The response "They eat fish mostly." without its leading space, then <|im_end|>.
      const text = ` They eat ${(a.line - 1) % 3 ? 'fish' : 'mice'} mostly.`;
      assert.equal(a.refTokens, Buffer.byteLength(text.trimStart()) + 1, `line ${a.line}`);
      assert.equal(a.refTokens, l.tokens);
      assert.ok(Math.abs(a.refLogprob - l.logprob) < 1e-4 * Math.abs(l.logprob), `line ${a.line}: ${a.refLogprob} vs ${l.logprob}`);
      const p = plain.get(a.line);
      assert.ok(p);
      assert.equal(p.refTokens, Buffer.byteLength(text) + 1, 'plain: the response as written, leading space included');
      assert.notEqual(p.refLogprob, a.refLogprob);
    }
  });

  it("the run's reference folder carries the source's tokenizer files", () => {
    const tc = readJson('run-chat/reference/tokenizer_config.json');
    assert.equal(tc.chat_template, CHATML);
    assert.equal(tc.eos_token, '<|im_end|>');
    assert.equal(tc.tokenizer_class, 'Qwen2Tokenizer');
    assert.equal(tc.add_bos_token, false);
    assert.deepEqual(readJson('run-chat/reference/generation_config.json'), { eos_token_id: [IM_END, 256] });
  });
});
