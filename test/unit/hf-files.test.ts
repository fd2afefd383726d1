// Complete Hugging Face folders: a folder we save has tokenizer_config.json and generation_config.json
// with the right values (built from the tokenizer for a model made here, the source's carried over with
// missing keys filled in), chat_template.jinja when the source had one; loading honours them (BOS, the
// EOS set, the chat template); malformed keys are errors naming the file and key.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gptConfig } from '../../src/trainer/model/gpt-config.js';
import { loadModelFolder, saveModelFolder } from '../../src/trainer/model/folder.js';
import {
  NO_TOKENIZER_FILES,
  type TokenizerFiles,
  folderTokenizer,
  readTokenizerFiles,
  tokenizerSettings,
} from '../../src/trainer/model/hf-files.js';
import { initGptParams } from '../../src/trainer/model/params.js';
import { loadPolicy } from '../../src/trainer/model/policy.js';
import { byteLevelTokenizerJson } from '../../src/trainer/model/tokenizer.js';
import { sharedPath } from '../helpers/shared.js';

const FIXTURE = sharedPath('fixtures', 'gpt2-tiny-independent', 'model');
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmpDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'alol-hf-files-'));
  temps.push(d);
  return d;
}
const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/** Byte-level BPE (byte b = id b, <|endoftext|> 256) plus special tokens from 257 on. */
function byteLevelWith(specials: string[]): Record<string, unknown> {
  const base = byteLevelTokenizerJson() as { added_tokens: unknown[] };
  const added = specials.map((content, i) => ({ id: 257 + i, content, normalized: false, special: true }));
  return { ...base, added_tokens: [...base.added_tokens, ...added] };
}

describe('folders we write are complete Hugging Face folders', () => {
  it('a GPT-2 folder gets tokenizer_config.json and generation_config.json built from its tokenizer', async () => {
    const src = await loadModelFolder(FIXTURE);
    assert.deepEqual(src.tokenizerFiles, { ...NO_TOKENIZER_FILES, dir: FIXTURE, modelEos: 256 }, 'the fixture has neither file');
    const dir = path.join(tmpDir(), 'gpt2');
    await saveModelFolder(dir, { config: src.config, params: src.params, tokenizerJson: src.tokenizerJson, extraConfig: src.hfConfig });
    const expected = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
    assert.deepEqual(readdirSync(dir).sort(), expected);
    assert.deepEqual(readJson(path.join(dir, 'tokenizer_config.json')), {
      tokenizer_class: 'GPT2Tokenizer',
      bos_token: '<|endoftext|>',
      eos_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
      pad_token: '<|endoftext|>',
      add_bos_token: false,
      add_eos_token: false,
      clean_up_tokenization_spaces: false,
      model_max_length: 64,
    });
    assert.deepEqual(readJson(path.join(dir, 'generation_config.json')), { bos_token_id: 256, eos_token_id: 256 });
    // Loading honours them and the tokenizer behaves as before: no BOS, EOS 256, same ids.
    const back = folderTokenizer(await loadModelFolder(dir));
    assert.deepEqual(back.bosPrefix, []);
    assert.equal(back.eosTokenId, 256);
    assert.deepEqual(back.eosTokenIds, [256]);
    assert.deepEqual(back.encode('Hi there'), [...Buffer.from('Hi there')]);
    // A second save of the loaded folder writes the same files (nothing drifts through save -> load -> save).
    const again = await loadModelFolder(dir);
    const dir2 = path.join(tmpDir(), 'gpt2-again');
    await saveModelFolder(dir2, { ...again, extraConfig: again.hfConfig });
    for (const f of ['tokenizer_config.json', 'generation_config.json']) {
      assert.equal(readFileSync(path.join(dir2, f), 'utf8'), readFileSync(path.join(dir, f), 'utf8'), f);
    }
  });

  it("a source folder's files are carried over, missing keys filled in, and loading honours them", async () => {
    const specials = ['<s>', '</s>', '<|eot_id|>'];
    const tokenizerJson = byteLevelWith(specials);
    const [BOS, EOS, EOT] = [257, 258, 259];
    const cfg = gptConfig({ vocabSize: 260, nPositions: 32, nEmbd: 8, nLayer: 1, nHead: 2 });
    const template = "{{ bos_token }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '<|eot_id|>' }}{% endfor %}";
    const files: TokenizerFiles = {
      dir: '/elsewhere/source',
      tokenizerConfig: {
        add_bos_token: true,
        bos_token: { content: '<s>', special: true },
        eos_token: '<|eot_id|>',
        model_max_length: 4096,
        custom_key: 7,
      },
      generationConfig: { eos_token_id: [EOS, EOT], do_sample: true },
      chatTemplateJinja: template,
      modelEos: EOS,
    };
    const dir = path.join(tmpDir(), 'carried');
    await saveModelFolder(dir, { config: cfg, params: initGptParams(cfg, 0), tokenizerJson, tokenizerFiles: files });
    const tc = readJson(path.join(dir, 'tokenizer_config.json'));
    assert.deepEqual(tc.bos_token, { content: '<s>', special: true });
    assert.equal(tc.eos_token, '<|eot_id|>');
    assert.equal(tc.add_bos_token, true);
    assert.equal(tc.model_max_length, 4096, "the source's value is kept");
    assert.equal(tc.custom_key, 7);
    assert.equal(tc.tokenizer_class, 'GPT2Tokenizer');
    assert.equal(tc.pad_token, '<|eot_id|>');
    assert.deepEqual(readJson(path.join(dir, 'generation_config.json')), { eos_token_id: [EOS, EOT], do_sample: true });
    assert.equal(readFileSync(path.join(dir, 'chat_template.jinja'), 'utf8'), template);

    const policy = await loadPolicy(dir);
    const tok = policy.tokenizer;
    assert.deepEqual(tok.bosPrefix, [BOS]);
    assert.equal(tok.eosTokenId, EOT);
    assert.deepEqual(tok.eosTokenIds, [EOT, EOS]);
    assert.deepEqual(tok.chatTemplate, { text: template, file: path.join(dir, 'chat_template.jinja') });
    assert.deepEqual(policy.tokenizerFiles?.generationConfig, files.generationConfig);
  });

  it('a chat_template in tokenizer_config.json is kept there; chat_template.jinja wins over it', async () => {
    const dir = path.join(tmpDir(), 'm');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: 'A{{ messages[0].content }}' }));
    const files = async () => tokenizerSettings(await readTokenizerFiles(dir, {}));
    const inConfig = { text: 'A{{ messages[0].content }}', file: `${path.join(dir, 'tokenizer_config.json')} (chat_template)` };
    assert.deepEqual((await files()).chatTemplate, inConfig);
    writeFileSync(path.join(dir, 'chat_template.jinja'), 'B');
    assert.deepEqual((await files()).chatTemplate, { text: 'B', file: path.join(dir, 'chat_template.jinja') });
    const named = [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }];
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: named }));
    rmSync(path.join(dir, 'chat_template.jinja'));
    assert.equal((await files()).chatTemplate?.text, 'D');
  });
});

describe('tokenizer files: values and errors', () => {
  const at = (patch: Partial<TokenizerFiles>): TokenizerFiles => ({ ...NO_TOKENIZER_FILES, dir: '/m', ...patch });
  it('eos_token_id is one id or a list; without generation_config.json it is config.json\'s', () => {
    assert.deepEqual(tokenizerSettings(at({ generationConfig: { eos_token_id: 5 } })).generationEos, [5]);
    assert.deepEqual(tokenizerSettings(at({ generationConfig: { eos_token_id: [5, 9] } })).generationEos, [5, 9]);
    const without = tokenizerSettings(at({ generationConfig: {}, modelEos: 3 }));
    assert.deepEqual(without.generationEos, [], 'a generation_config.json without eos_token_id: none');
    assert.deepEqual(tokenizerSettings(at({ modelEos: [3, 4] })).generationEos, [3, 4]);
  });
  it('bad values name the file and key', () => {
    const rejects = (patch: Partial<TokenizerFiles>, message: RegExp) => assert.throws(() => tokenizerSettings(at(patch)), message);
    rejects({ tokenizerConfig: { add_bos_token: 'yes' } }, /\/m\/tokenizer_config\.json: add_bos_token must be true or false, got "yes"/);
    rejects({ tokenizerConfig: { eos_token: 3 } }, /\/m\/tokenizer_config\.json: eos_token must be a token's text/);
    rejects({ generationConfig: { eos_token_id: ['x'] } }, /\/m\/generation_config\.json: eos_token_id must be a token id or a list/);
    rejects({ tokenizerConfig: { chat_template: 7 } }, /\/m\/tokenizer_config\.json: chat_template must be/);
  });
  it('a malformed file is an error naming it, before any weights are used', async () => {
    const dir = path.join(tmpDir(), 'bad');
    mkdirSync(dir);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      writeFileSync(path.join(dir, f), readFileSync(path.join(FIXTURE, f)));
    }
    writeFileSync(path.join(dir, 'generation_config.json'), '{"eos_token_id": [256,');
    await assert.rejects(loadModelFolder(dir), /bad\/generation_config\.json: not valid JSON/);
    writeFileSync(path.join(dir, 'generation_config.json'), '{"eos_token_id": [256, 300]}');
    await assert.rejects(loadPolicy(dir), /bad\/generation_config\.json: eos_token_id 300 is not in the vocabulary/);
    writeFileSync(path.join(dir, 'generation_config.json'), '{"eos_token_id": 256}');
    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"add_bos_token": true, "bos_token": "<s>"}');
    await assert.rejects(loadPolicy(dir), /bad\/tokenizer_config\.json: bos_token "<s>" is not a token of/);
  });
});
