// The synthetic task the train and Llama CLI tests learn: 600 rows over 200 distinct prompts
// ("Q: <word>? #<tag>"), each answered well (" I like <word>.") or badly, and a module reward reading
// only the text: mentions the prompt's word (0.5) and is one short sentence (0.5). Rows are grouped by
// prompt, so held-out prompts are new ones while their words are all seen in training under other tags.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Rng } from '../../src/trainer/util/rng.js';

/** Writes data.jsonl and reward.ts into `dir` (the same rows every time: seed 7). */
export async function writeWordTask(dir: string): Promise<void> {
  const rng = new Rng(7);
  const words = ['cats', 'dogs', 'rain', 'bread', 'music', 'trees', 'boats', 'snow', 'tea', 'books'];
  const bad = (w: string) => [' no.', ` ${w} ${w} ${w} ${w}`, ' blah blah', ' I like'][rng.int(4)];
  const rows = Array.from({ length: 600 }, (_, i) => {
    const w = words[rng.int(words.length)];
    const tag = rng.int(20);
    return JSON.stringify({ id: `r${i}`, prompt: `Q: ${w}? #${tag}\nA:`, response: rng.next() < 0.5 ? ` I like ${w}.` : bad(w) });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  await writeFile(path.join(dir, 'reward.ts'), 'export default (b: { prompt: string; response: string }[]) => b.map((x) => {\n'
    + '  const w = /^Q: (\\w+)\\?/.exec(x.prompt)![1];\n'
    + "  return (x.response.includes(w) ? 0.5 : 0) + (x.response.trim().endsWith('.') && x.response.split(' ').length <= 6 ? 0.5 : 0);\n"
    + '});\n');
}

/** The run config both tests train the word task with; `train` is merged over its train section. */
export const wordTaskConfig = (train: object = {}) => ({
  data: { path: 'data.jsonl', maxPromptTokens: 32, maxResponseTokens: 24, split: { validation: 0.1, test: 0.1, seed: 0 } },
  model: { init: { layers: 2, embd: 64, heads: 4, positions: 64 } },
  reference: { sft: { steps: 300, lr: 3e-3 } },
  rewards: [{ name: 'task', kind: 'module', path: 'reward.ts', range: [0, 1] }],
  value: { fitOn: 'train', folds: 3, epochs: 4 },
  train: { variant: 'a_lol', steps: 300, lr: 1e-3, batchSize: 16, evalEvery: 0, checkpointEvery: 40, ...train },
  eval: { maxNewTokens: 16, maxPrompts: 30, samplesPerPrompt: 4 },
  threads: 2,
});
