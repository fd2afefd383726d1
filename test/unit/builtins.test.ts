// Built-in reward scorers against values computed by hand from their definitions (AFINN valences
// read from the sentiment package's lexicon, TF-IDF arithmetic on a 4-response corpus), their
// declared range on 500 real HH responses (with rows/s as diagnostics), and option/name errors.
// Run: npx tsc -p . && node --test --test-reporter=spec out/test/unit/builtins.test.js
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { BUILTIN_NAMES, type BuiltinScorer, createBuiltin, type RewardInput, tfidfWords } from '../../src/trainer/rewards/builtins.js';
import { sharedPath } from '../helpers/shared.js';

const rows = (...responses: string[]): RewardInput[] => responses.map((response) => ({ prompt: 'Human: hi', response }));
const scoreOne = (scorer: BuiltinScorer, response: string): number => scorer.score(rows(response))[0];
const close = (actual: number, expected: number, what = '') =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what} ${actual} != ${expected}`);

/** The sentiment mapping written out independently: c -> (1 + tanh(2c)) / 2. */
const fromComparative = (c: number) => (1 + Math.tanh(2 * c)) / 2;

function hhResponses(n: number): string[] {
  const lines = gunzipSync(readFileSync(sharedPath('data', 'hh-harmless-base-test.jsonl.gz'))).toString('utf8').split('\n');
  return lines
    .filter((l) => l.trim())
    .slice(0, n)
    .map((l) => {
      const chosen = (JSON.parse(l) as { chosen: string }).chosen;
      return chosen.slice(chosen.lastIndexOf('\n\nAssistant:') + '\n\nAssistant:'.length).trim();
    });
}

describe('sentiment', () => {
  const sentiment = createBuiltin('sentiment');
  const afinn = JSON.parse(readFileSync(require.resolve('sentiment/languages/en/labels.json'), 'utf8')) as Record<string, number>;

  it('uses the AFINN-165 valences the expected values below assume', () => {
    assert.deepEqual([afinn.love, afinn.good, afinn.bad, afinn.sad, afinn.this, afinn.not], [3, 3, -3, -2, undefined, undefined]);
  });
  it('one positive word: "I love this" -> words i, love(+3), this: c = 3/3', () => {
    close(scoreOne(sentiment, 'I love this'), fromComparative(3 / 3));
  });
  it('negation flips a valence: "This is bad. Not good!" -> bad(-3), not good(-3) over 5 words', () => {
    close(scoreOne(sentiment, 'This is bad. Not good!'), fromComparative(-6 / 5));
  });
  it('is length-neutral (comparative): "sad" alone vs among 3 neutral words', () => {
    close(scoreOne(sentiment, 'sad'), fromComparative(-2 / 1));
    close(scoreOne(sentiment, 'the table is sad'), fromComparative(-2 / 4));
  });
  it('neutral and empty responses score 0.5; tabs and newlines separate words like spaces', () => {
    assert.deepEqual(sentiment.score(rows('The table is brown.', '', '   \n')), [0.5, 0.5, 0.5]);
    close(scoreOne(sentiment, 'I\tlove\r\nthis'), fromComparative(3 / 3));
  });
  it('reads the response, not the prompt', () => {
    const [a, b] = sentiment.score([{ prompt: 'I hate you', response: 'ok' }, { prompt: 'I love you', response: 'ok' }]);
    assert.equal(a, 0.5);
    assert.equal(b, 0.5);
  });
});

describe('toxicity (clean score)', () => {
  const toxicity = createBuiltin('toxicity');
  const cases: [response: string, matches: number][] = [
    ['Have a nice day, and good luck with the assessment.', 0],
    ['Scunthorpe has an assassin in a cocktail bar.', 0], // the dataset's whitelist
    ['fuck', 1],
    ['What the FUCK.', 1],
    ['sh1t', 1], // leetspeak; two of the dataset's patterns match it, counted once
    ['a$$hole', 1],
    ['fuuuuuck', 1], // repeated letters
    ['ƒuck', 1], // look-alike Unicode
    ['f u c k', 1], // spelled out: joined before matching
    ['f.u.c.k you', 1],
    ['fuck this shit', 2],
    ['shit, shit, shit', 3],
  ];
  for (const [response, m] of cases) {
    it(`${JSON.stringify(response)}: ${m} match(es) -> 1 / (1 + ${m})`, () => {
      assert.equal(scoreOne(toxicity, response), 1 / (1 + m));
    });
  }
});

describe('length', () => {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
  it('defaults: target 30, tolerance 30', () => {
    const length = createBuiltin('length');
    assert.equal(scoreOne(length, words(30)), 1);
    close(scoreOne(length, words(20)), 1 - 10 / 30);
    close(scoreOne(length, words(45)), 1 - 15 / 30);
    assert.equal(scoreOne(length, words(90)), 0); // 1 - 60/30 < 0 -> 0
    assert.equal(scoreOne(length, ''), 0); // 1 - 30/30
  });
  it('target and tolerance in words; any whitespace separates words', () => {
    const length = createBuiltin('length', { target: 10, tolerance: 5 });
    assert.equal(scoreOne(length, words(10)), 1);
    close(scoreOne(length, words(12)), 1 - 2 / 5);
    assert.equal(scoreOne(length, words(15)), 0);
    assert.equal(scoreOne(length, words(3)), 0);
    close(scoreOne(createBuiltin('length', { target: 4 }), '  one\ttwo\n\nthree,  four! five '), 1 - 1 / 4);
  });
});

describe('tfidf', () => {
  // N = 4, ln(1 + N) = ln 5. df: the 3, cat 2, sat 2, dog 1, ran 1, a 1, bird 1, flew 1.
  const corpus = ['The cat sat.', 'the dog sat', 'The cat ran!', 'A bird flew'];
  const ln5 = Math.log(5);
  const idf = { the: Math.log(5 / 4) / ln5, cat: Math.log(5 / 3) / ln5, sat: Math.log(5 / 3) / ln5, dog: Math.log(5 / 2) / ln5 };
  const fitted = () => {
    const tfidf = createBuiltin('tfidf');
    tfidf.fit?.(corpus);
    return tfidf;
  };

  it('words: lower-cased letters/digits with inner apostrophes; quotes and punctuation split', () => {
    assert.deepEqual(
      tfidfWords("Don’t say 'Hello' to R2-D2's o'clock café!"),
      ["don't", 'say', 'hello', 'to', 'r2', "d2's", "o'clock", 'café'],
    );
  });
  it('scores the mean normalised idf of the words, with repetition, against hand-computed values', () => {
    const tfidf = fitted();
    // (ln(5/4) + ln(5/3) + ln(5/3)) / ln 5 / 3
    close(scoreOne(tfidf, 'the cat sat'), (idf.the + idf.cat + idf.sat) / 3);
    // repetition and case: the, cat, the, cat
    close(scoreOne(tfidf, 'The CAT, the cat!'), (2 * idf.the + 2 * idf.cat) / 4);
    // a seen-once word next to an unseen one (idf ln(5/1) / ln 5 = 1)
    close(scoreOne(tfidf, 'dog zebra'), (idf.dog + 1) / 2);
    assert.equal(scoreOne(tfidf, 'zebra unicorn'), 1);
  });
  it('a word in every fitting response scores 0; a response without words scores 0', () => {
    const tfidf = createBuiltin('tfidf');
    tfidf.fit?.(['x a', 'x b', 'X c']);
    assert.equal(scoreOne(tfidf, 'x x'), 0);
    assert.deepEqual(tfidf.score(rows('', '!!! ...')), [0, 0]);
  });
  it('refitting replaces the previous fit', () => {
    const tfidf = fitted();
    tfidf.fit?.(['zebra']);
    assert.equal(scoreOne(tfidf, 'zebra'), 0);
    assert.equal(scoreOne(tfidf, 'cat'), 1);
  });
  it('needs a fit before scoring, on at least one response', () => {
    const tfidf = createBuiltin('tfidf');
    assert.equal(tfidf.needsFit, true);
    assert.throws(() => tfidf.score(rows('the cat')), /tfidf.*score\(\) called before fit\(\)/);
    assert.throws(() => tfidf.fit?.([]), /at least one response/);
  });
});

describe('every built-in on 500 HH responses', () => {
  const responses = hhResponses(500);
  const batch = rows(...responses);

  for (const name of BUILTIN_NAMES) {
    it(`${name}: every score is finite and within the declared range`, (t) => {
      const scorer = createBuiltin(name);
      assert.deepEqual(scorer.range, [0, 1]);
      const started = performance.now();
      scorer.fit?.(responses);
      const fitMs = performance.now() - started;
      const scores = scorer.score(batch);
      const elapsedMs = performance.now() - started;
      assert.equal(scores.length, batch.length);
      const [lo, hi] = scorer.range;
      scores.forEach((s, i) => assert.ok(Number.isFinite(s) && s >= lo && s <= hi, `row ${i}: ${s}`));
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      const rowsPerSec = Math.round((batch.length / elapsedMs) * 1000);
      const min = Math.min(...scores).toFixed(3);
      t.diagnostic(`${name}: ${rowsPerSec} rows/s (fit ${fitMs.toFixed(1)} ms + score), mean ${mean.toFixed(3)}, min ${min}`);
    });
  }
});

describe('names and options', () => {
  it('lists the four built-ins', () => {
    assert.deepEqual([...BUILTIN_NAMES], ['sentiment', 'toxicity', 'length', 'tfidf']);
    for (const name of BUILTIN_NAMES) assert.equal(createBuiltin(name).name, name);
  });
  it('an unknown scorer names it and the valid ones', () => {
    assert.throws(() => createBuiltin('bleu'), /unknown built-in scorer 'bleu'; valid scorers: sentiment, toxicity, length, tfidf/);
  });
  it('an unknown option names it and the valid ones', () => {
    assert.throws(
      () => createBuiltin('length', { targett: 10 }),
      /'length': unknown option\(s\) 'targett'; valid options: target .*tolerance/,
    );
    assert.throws(
      () => createBuiltin('sentiment', { lexicon: 'afinn' }),
      /'sentiment': unknown option\(s\) 'lexicon'; valid options: none/,
    );
  });
  it('a bad option value names the option', () => {
    assert.throws(() => createBuiltin('length', { target: -1 }), /'length': option 'target'/);
    assert.throws(() => createBuiltin('length', { target: '30' }), /'length': option 'target'/);
    assert.throws(() => createBuiltin('length', { target: 10, tolerance: 0 }), /'length': option 'tolerance'/);
    assert.throws(() => createBuiltin('length', { target: 0 }), /tolerance must be > 0/);
  });
});
