// Prompts formatted with the model's chat template (run config `data.chatTemplate: true`): a prompt
// becomes chat messages, and the template (Jinja, from chat_template.jinja or tokenizer_config.json)
// renders them with @huggingface/jinja, Hugging Face's own Jinja for chat templates, given what
// transformers' apply_chat_template gives: messages, add_generation_prompt, bos_token, eos_token,
// raise_exception and strftime_now.
//
// Prompt -> messages: a prompt with HH-style turns ("Human: ..." / "Assistant: ..." after a blank line,
// as HH-RLHF transcripts and their prompts are written) becomes alternating user / assistant messages
// (text before the first turn, if any, a system message; consecutive turns of one speaker joined by a
// blank line); the empty Assistant turn a prompt ends with is where the generation prompt goes. Any
// other prompt is one user message. Contents are trimmed (templates put their own separators).

import { AlolError } from '../errors.js';
import type { ChatTemplateSource } from './tokenizer.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The subset of @huggingface/jinja used here: a parsed template, and the environment and interpreter that run it. */
interface Jinja {
  Template: new (source: string) => { parsed: unknown };
  Environment: new () => { set(name: string, value: unknown): unknown };
  Interpreter: new (env: unknown) => { run(program: unknown): { value: unknown } };
}

// The package is ESM ("type": "module") with a CommonJS build under its "require" export; tsc under
// module Node16 refuses `import` of it from this CommonJS project (TS1479), as for @huggingface/tokenizers.
function jinja(): Jinja {
  let mod: Partial<Jinja> | null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require('@huggingface/jinja') as Partial<Jinja> | null;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new AlolError('install', `chat templates need the package @huggingface/jinja, which did not load: ${why}`,
      'reinstall dependencies (npm ci)');
  }
  if (typeof mod?.Template !== 'function' || typeof mod.Environment !== 'function' || typeof mod.Interpreter !== 'function') {
    throw new AlolError('install', '@huggingface/jinja lacks Template, Environment or Interpreter', 'reinstall dependencies (npm ci)');
  }
  return mod as Jinja;
}

/** Python's range(), as the library's own global. */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const TURN = /(?:^|\n\n)(Human|Assistant):/g;

/** The chat messages of a prompt (see the file comment). */
export function promptMessages(prompt: string): ChatMessage[] {
  const marks = [...prompt.matchAll(TURN)];
  if (marks.length === 0) return [{ role: 'user', content: prompt.trim() }];
  const messages: ChatMessage[] = [];
  const push = (role: ChatMessage['role'], content: string): void => {
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content = `${last.content}\n\n${content}`;
    else messages.push({ role, content });
  };
  const preamble = prompt.slice(0, marks[0].index).trim();
  if (preamble) push('system', preamble);
  marks.forEach((m, i) => {
    const end = i + 1 < marks.length ? marks[i + 1].index : prompt.length;
    push(m[1] === 'Human' ? 'user' : 'assistant', prompt.slice(m.index + m[0].length, end).trim());
  });
  // The prompt's final "Assistant:" is the turn to generate: the template's generation prompt opens it.
  const last = messages[messages.length - 1];
  if (last.role === 'assistant' && last.content === '') messages.pop();
  return messages;
}

export interface RenderOptions {
  bosToken: string | null;
  eosToken: string | null;
  /** Ends the text with the template's opening of an assistant turn (true for prompts). */
  addGenerationPrompt: boolean;
  /** strftime_now's clock (default: now); fixed in tests. */
  now?: () => Date;
  /** What is being rendered, for errors (e.g. "the prompt of data.jsonl:12"). */
  context?: string;
}

const compiled = new Map<string, { parsed: unknown }>();

/** The template's text for these messages; a template that does not parse or render is an error naming its file. */
export function renderChat(template: ChatTemplateSource, messages: readonly ChatMessage[], opts: RenderOptions): string {
  const fail = (what: string, e: unknown): never => {
    const why = e instanceof Error ? e.message : String(e);
    const context = opts.context ? ` (rendering ${opts.context})` : '';
    const hint = 'fix the template, or format prompts without it (data.chatTemplate false)';
    throw new AlolError('chat-template', `${template.file}: the chat template ${what}${context}: ${why}`, hint);
  };
  let t = compiled.get(template.text);
  if (!t) {
    const { Template } = jinja(); // a missing library is an install error, not a template that does not parse
    try {
      t = new Template(template.text);
    } catch (e) {
      return fail('does not parse', e);
    }
    compiled.set(template.text, t);
  }
  const now = opts.now ?? (() => new Date());
  // Template.render would declare the library's own strftime_now (a few directives, month names in the
  // process's locale, no clock to fix) and refuse ours; so the same globals are set here and the
  // template run as render runs it.
  const variables: Record<string, unknown> = {
    false: false, true: true, none: null, False: false, True: true, None: null,
    range,
    raise_exception: (message: unknown) => {
      throw new Error(`raise_exception(${JSON.stringify(message)})`);
    },
    strftime_now: (format: unknown) => strftime(String(format), now()),
    messages: messages.map((m) => ({ ...m })),
    add_generation_prompt: opts.addGenerationPrompt,
    // As transformers: a special token the tokenizer does not have is left undefined (renders as '').
    ...(opts.bosToken !== null ? { bos_token: opts.bosToken } : {}),
    ...(opts.eosToken !== null ? { eos_token: opts.eosToken } : {}),
  };
  const { Environment, Interpreter } = jinja();
  try {
    const env = new Environment();
    for (const [name, value] of Object.entries(variables)) env.set(name, value);
    const out = new Interpreter(env).run(t.parsed).value;
    if (typeof out !== 'string') throw new Error(`the template gave ${typeof out}, not text`);
    return out;
  } catch (e) {
    return fail('failed to render', e);
  }
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const dayOfYear = (d: Date): number =>
  Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1)) / 864e5) + 1;

/** Python's strftime for the directives chat templates use (local time, as datetime.now()); another is an error naming it. */
export function strftime(format: string, d: Date): string {
  return format.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case 'Y': return String(d.getFullYear());
      case 'y': return pad(d.getFullYear() % 100);
      case 'm': return pad(d.getMonth() + 1);
      case 'd': return pad(d.getDate());
      case 'B': return MONTHS[d.getMonth()];
      case 'b': return MONTHS[d.getMonth()].slice(0, 3);
      case 'A': return DAYS[d.getDay()];
      case 'a': return DAYS[d.getDay()].slice(0, 3);
      case 'H': return pad(d.getHours());
      case 'M': return pad(d.getMinutes());
      case 'S': return pad(d.getSeconds());
      case 'j': return pad(dayOfYear(d), 3);
      case '%': return '%';
      default: throw new Error(`strftime_now: format directive %${c} is not supported`);
    }
  });
}
