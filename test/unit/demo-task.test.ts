// The demo's generator repeats prompt texts (40 topics x 4 phrasings): every copy of a text must sit in one
// split, or held-out prompts would be trained on. Checked on the quick and the full demo's sizes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demoRows } from '../../src/trainer/demo/task.js';
import { promptGroup } from '../../src/trainer/data/rows.js';

describe('demo task', () => {
  for (const prompts of [240, 800]) {
    for (const seed of [1, 2, 3]) {
      it(`${prompts} prompts, seed ${seed}: no prompt text in two splits; every split has prompts`, () => {
        const rows = demoRows({ seed, noise: 0.5, prompts, responsesPerPrompt: 4 });
        const splitOf = new Map<string, string>();
        const texts = { train: new Set<string>(), validation: new Set<string>(), test: new Set<string>() };
        for (const r of rows) {
          const g = promptGroup(r.prompt);
          const s = splitOf.get(g) ?? r.split;
          assert.equal(r.split, s, `${JSON.stringify(r.prompt)} is in ${s} and ${r.split}`);
          splitOf.set(g, s);
          texts[r.split].add(g);
        }
        assert.ok(texts.test.size > 0 && texts.validation.size > 0 && texts.train.size > texts.test.size, JSON.stringify(
          Object.fromEntries(Object.entries(texts).map(([k, v]) => [k, v.size])),
        ));
      });
    }
  }
});
