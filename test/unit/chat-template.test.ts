// Chat templates (data.chatTemplate): prompts -> messages (HH turns alternate, anything else is one user
// turn), a Llama-3.1-shaped template (bos_token, strftime_now, raise_exception, add_generation_prompt)
// and a ChatML / Qwen2-shaped one rendered by @huggingface/jinja to the exact text, that text through a
// tokenizer to the exact ids (BOS from the template, kept by left truncation; the response trimmed and
// ended by the folder's EOS), and every failure an error naming the template's file or the row.
// The expected renderings are what Python's Jinja2 gives under transformers' settings
// (scripts/check-chat-templates.py renders these templates with it and compares).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Row } from '../../src/trainer/data/rows.js';
import { promptIds, tokenizeRows } from '../../src/trainer/data/tokenize.js';
import { promptMessages, renderChat, strftime } from '../../src/trainer/model/chat-template.js';
import { evalPrompts } from '../../src/trainer/pipeline/evaluate.js';
import { NO_SETTINGS, byteLevelTokenizerJson, loadTokenizer, type ChatTemplateSource } from '../../src/trainer/model/tokenizer.js';

// Jinja string literals hold "\n" escapes, hence String.raw.
const LLAMA3 = String.raw`{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if message['role'] not in ['user', 'assistant'] %}
        {{- raise_exception("Only user and assistant roles are supported after the system message") }}
    {%- endif %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`;

const CHATML = String.raw`{%- for message in messages %}
    {%- if loop.first and message['role'] != 'system' %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
    {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}`;

const llama3: ChatTemplateSource = { text: LLAMA3, file: '/m/llama/tokenizer_config.json (chat_template)' };
const chatml: ChatTemplateSource = { text: CHATML, file: '/m/qwen/chat_template.jinja' };
const JULY_26 = () => new Date(2024, 6, 26, 9, 5, 3);

describe('prompt -> messages', () => {
  it('HH turns alternate user / assistant; the final empty Assistant turn is the one to generate', () => {
    assert.deepEqual(promptMessages('\n\nHuman: hi\n\nAssistant: hello there\n\nHuman: and you?\n\nAssistant:'), [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello there' },
      { role: 'user', content: 'and you?' },
    ]);
    assert.deepEqual(promptMessages('Human: x\n\nAssistant:'), [{ role: 'user', content: 'x' }]);
  });
  it('any other prompt is one user message; text before the first turn is a system message; repeated speakers join', () => {
    assert.deepEqual(promptMessages('Write a haiku about rain.\n'), [{ role: 'user', content: 'Write a haiku about rain.' }]);
    assert.deepEqual(promptMessages('Be brief.\n\nHuman: hi\n\nAssistant:'), [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
    ]);
    assert.deepEqual(promptMessages('\n\nHuman: a\n\nHuman: b\n\nAssistant:'), [{ role: 'user', content: 'a\n\nb' }]);
  });
});

describe('rendering real-shaped templates', () => {
  const messages = promptMessages('\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How are you?\n\nAssistant:');
  it('Llama 3.1 shape: bos_token, strftime_now, turns and the generation prompt', () => {
    const opts = { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>', addGenerationPrompt: true, now: JULY_26 };
    const text = renderChat(llama3, messages, opts);
    assert.equal(
      text,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
        '<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    const system = renderChat(llama3, [{ role: 'system', content: ' Be brief. ' }, { role: 'user', content: 'x' }], {
      bosToken: '<B>', eosToken: null, addGenerationPrompt: false, now: JULY_26,
    });
    assert.equal(
      system,
      '<B><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
        'Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>',
    );
  });
  it('ChatML / Qwen2 shape: a default system turn, then the turns', () => {
    const text = renderChat(chatml, messages, { bosToken: null, eosToken: '<|im_end|>', addGenerationPrompt: true });
    assert.equal(
      text,
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n' +
        '<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n',
    );
  });
  it('strftime_now formats as Python does for the directives templates use', () => {
    const d = JULY_26();
    assert.equal(strftime('%d %b %Y', d), '26 Jul 2024');
    assert.equal(strftime('%A %d %B %Y, %H:%M:%S (%y-%m, day %j) 100%%', d), 'Friday 26 July 2024, 09:05:03 (24-07, day 208) 100%');
    assert.throws(() => strftime('%Q', d), /directive %Q is not supported/);
  });
  it('a template that raises, does not parse or calls an unknown directive is an error naming its file', () => {
    const plain = { bosToken: '', eosToken: '', addGenerationPrompt: true };
    assert.throws(
      () => renderChat(llama3, [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }], plain),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'chat-template');
        assert.match(e.message, /^\/m\/llama\/tokenizer_config\.json \(chat_template\): the chat template failed to render: /);
        assert.match(e.message, /Only user and assistant roles are supported after the system message/);
        return true;
      },
    );
    const broken = { text: '{% if messages %}unclosed', file: '/m/x/chat_template.jinja' };
    assert.throws(
      () => renderChat(broken, [], { bosToken: '', eosToken: '', addGenerationPrompt: true }),
      /\/m\/x\/chat_template\.jinja: the chat template does not parse: /,
    );
    const badDate = { text: '{{ strftime_now("%Q") }}', file: '/m/y/chat_template.jinja' };
    assert.throws(() => renderChat(badDate, [], { ...plain, context: 'the prompt of d.jsonl:3' }),
      /\/m\/y\/chat_template\.jinja: the chat template failed to render \(rendering the prompt of d\.jsonl:3\): .*%Q is not supported/);
  });

  it('a missing @huggingface/jinja is an install error saying so, not a template that does not parse', () => {
    // A fresh node in which resolving the package fails as it does when node_modules lacks it.
    const script = `
      const Module = require('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request === '@huggingface/jinja') {
          throw Object.assign(new Error("Cannot find module '@huggingface/jinja'"), { code: 'MODULE_NOT_FOUND' });
        }
        return resolve.call(this, request, ...rest);
      };
      const { renderChat } = require(${JSON.stringify(require.resolve('../../src/trainer/model/chat-template.js'))});
      try {
        renderChat({ text: '{{ 1 }}', file: 'chat_template.jinja' }, [], { bosToken: '', eosToken: '', addGenerationPrompt: true });
      } catch (e) {
        console.log(JSON.stringify({ code: e.code, message: e.message }));
      }`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { code: string; message: string };
    assert.equal(out.code, 'install');
    assert.match(out.message, /^chat templates need the package @huggingface\/jinja, which did not load: Cannot find module/);
  });
});

/** Byte-level BPE (byte b = id b) with added special tokens from 257 on, as Llama 3 and Qwen2 add theirs. */
function byteLevelWith(specials: string[]): Record<string, unknown> {
  const base = byteLevelTokenizerJson() as { added_tokens: unknown[] };
  const added = specials.map((content, i) =>
    ({ id: 257 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return { ...base, added_tokens: [...base.added_tokens, ...added] };
}
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];
const row = (prompt: string, response: string, line = 1): Row =>
  ({ id: `r${line}`, file: 'data.jsonl', line, prompt, response, split: 'train', group: `r${line}`, kind: 'row', raw: {} });

describe('chat-formatted prompts as token ids', () => {
  // Qwen2-like: no BOS, <|im_end|> ends a turn and is the folder's EOS; generation also stops at <|endoftext|>.
  const qwen = loadTokenizer(byteLevelWith(['<|im_start|>', '<|im_end|>']), '/m/qwen/tokenizer.json', {
    ...NO_SETTINGS, eosToken: '<|im_end|>', generationEos: [258, 256], chatTemplate: chatml,
  });
  const [IM_START, IM_END] = [257, 258];
  const lengths = { maxPromptTokens: 256, maxResponseTokens: 32, nPositions: 512 };

  it('renders the template and encodes the text: special tokens as their ids, the response trimmed and ended by EOS', () => {
    const { rows } = tokenizeRows([row('\n\nHuman: hi\n\nAssistant:', ' Hello')], qwen, { ...lengths, chatTemplate: true });
    assert.deepEqual(rows[0].prompt, [
      IM_START, ...utf8('system\nYou are a helpful assistant.'), IM_END, 10,
      IM_START, ...utf8('user\nhi'), IM_END, 10,
      IM_START, ...utf8('assistant\n'),
    ]);
    assert.deepEqual(rows[0].response, [...utf8('Hello'), IM_END]);
    assert.deepEqual(qwen.eosTokenIds, [IM_END, 256]);
  });
  it('evaluation prompts are the same ids as training prompts', () => {
    const rows = [row('\n\nHuman: hi\n\nAssistant:', ' Hello'), row('Plain question?', 'x', 2)];
    const limits = { maxPrompts: 10, maxPromptTokens: 256, maxNewTokens: 16, nPositions: 512 };
    const training = tokenizeRows(rows, qwen, { ...lengths, chatTemplate: true }).rows.map((r) => r.prompt);
    assert.deepEqual(evalPrompts(rows, qwen, { ...limits, chatTemplate: true }).map((p) => p.ids), training);
    assert.deepEqual(evalPrompts(rows, qwen, limits).map((p) => p.ids), rows.map((r) => utf8(r.prompt)));
  });
  it('without data.chatTemplate the prompt is its text as it is (no BOS: the folder names none)', () => {
    const { rows } = tokenizeRows([row('\n\nHuman: hi\n\nAssistant:', ' Hello')], qwen, lengths);
    assert.deepEqual(rows[0].prompt, utf8('\n\nHuman: hi\n\nAssistant:'));
    assert.deepEqual(rows[0].response, [...utf8(' Hello'), IM_END]);
  });

  // Llama-3-like: <|begin_of_text|> from the post-processor, written by the template itself in chat mode.
  const llamaJson = {
    ...byteLevelWith(['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>']),
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [257], tokens: ['<|begin_of_text|>'] } },
        },
      ],
    },
  };
  const llama = loadTokenizer(llamaJson, '/m/llama/tokenizer.json', { ...NO_SETTINGS, eosToken: '<|eot_id|>', chatTemplate: llama3 });
  const [BOT, SH, EH, EOT] = [257, 258, 259, 260];

  it('BOS: the post-processor\'s before a plain prompt, the template\'s own in chat mode, never twice; truncation keeps it', () => {
    assert.deepEqual(llama.bosPrefix, [BOT]);
    assert.deepEqual(promptIds(llama, 'Hi', {}, 100).ids, [BOT, ...utf8('Hi')]);
    const chat = promptIds(llama, 'Hi', { chatTemplate: true }, 1000).ids;
    assert.equal(chat.filter((t) => t === BOT).length, 1);
    assert.equal(chat[0], BOT);
    assert.deepEqual(chat.slice(1, 4), [SH, ...utf8('sy')]);
    const tail = [EOT, SH, ...utf8('assistant'), EH, ...utf8('\n\n')];
    assert.deepEqual(chat.slice(-tail.length), tail);
    const cut = promptIds(llama, 'Hi', { chatTemplate: true }, 5);
    assert.deepEqual(cut.ids, [BOT, ...tail.slice(-4)]);
    assert.equal(cut.dropped, chat.length - 5);
    const plainCut = promptIds(llama, 'abcdef', {}, 3);
    assert.deepEqual(plainCut, { ids: [BOT, ...utf8('ef')], dropped: 4 });
  });

  it('data.chatTemplate without a template, and a prompt ending inside an Assistant turn, are errors naming model or row', () => {
    const plain = loadTokenizer(byteLevelTokenizerJson(), '/m/gpt2/tokenizer.json');
    assert.throws(() => tokenizeRows([row('hi', 'x')], plain, { ...lengths, chatTemplate: true }),
      /data\.chatTemplate is true, but the model's tokenizer \(\/m\/gpt2\/tokenizer\.json\) has no chat template/);
    assert.throws(() => tokenizeRows([row('\n\nHuman: hi\n\nAssistant: Sure,', ' here', 7)], qwen, { ...lengths, chatTemplate: true }),
      /data\.jsonl:7: field prompt: the prompt ends inside an Assistant turn/);
  });
});
