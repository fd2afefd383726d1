// Evaluation metrics against values computed by hand: distinct-n over a corpus (repeats, case,
// whitespace, generations shorter than n, empty corpus), mean lengths in tokens and words, reward
// means, and the errors for mismatched inputs or a component named `total`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { corpusMetrics, distinctN, mean, rewardMeans, words } from '../../src/trainer/pipeline/metrics.js';

describe('distinct-n', () => {
  // Words: [the cat sat] [the cat ran] [hi] [] -> 7 unigrams (the, cat, sat, ran, hi unique),
  // bigrams: the-cat x2, cat-sat, cat-ran (hi adds none), trigrams: the-cat-sat, the-cat-ran.
  const corpus = ['The cat sat', 'the CAT ran', 'Hi', ''];
  it('counts unique n-grams over the whole corpus, lower-cased', () => {
    assert.equal(distinctN(corpus, 1), 5 / 7);
    assert.equal(distinctN(corpus, 2), 3 / 4);
    assert.equal(distinctN(corpus, 3), 1);
  });

  it('repeats within one generation count as one n-gram type', () => {
    // a a a a: unigrams 4 (1 unique), bigrams 3 (1), trigrams 2 (1).
    assert.equal(distinctN(['a a a a'], 1), 1 / 4);
    assert.equal(distinctN(['a a a a'], 2), 1 / 3);
    assert.equal(distinctN(['a a a a'], 3), 1 / 2);
  });

  it('repeats across generations count once; n-grams never span two generations', () => {
    // [x y] [x y]: bigrams x-y twice (no y-x across the boundary) -> 1/2.
    assert.equal(distinctN(['x y', 'X Y'], 2), 1 / 2);
    assert.equal(distinctN(['x y', 'X Y'], 3), 0);
  });

  it('splits on any whitespace and ignores leading, trailing and repeated whitespace', () => {
    assert.deepEqual(words('  Hello\tWORLD\n\n hello '), ['Hello', 'WORLD', 'hello']);
    assert.equal(distinctN(['  Hello\tWORLD\n\n hello '], 1), 2 / 3);
    assert.equal(distinctN(['word,', 'word'], 1), 1); // punctuation stays part of the token
  });

  it('generations shorter than n add nothing; no n-grams at all gives 0', () => {
    assert.equal(distinctN(['one', 'two words'], 2), 1);
    assert.equal(distinctN(['one', 'two words'], 3), 0);
    assert.equal(distinctN([], 1), 0);
    assert.equal(distinctN(['', '   '], 1), 0);
  });

  it('rejects n < 1', () => assert.throws(() => distinctN(['a'], 0), /positive integer/));
});

describe('corpus metrics', () => {
  const gens = [
    { text: 'a b', tokens: 3 },
    { text: ' c', tokens: 5 },
    { text: '', tokens: 0 },
  ];
  const rewards = {
    total: [1, 2, 3], components: new Map<string, ArrayLike<number>>([['len', [0, 0.5, 1]], ['mood', Float64Array.from([0.2, 0.2, 0.8])]]),
  };

  it('mean lengths in tokens and words, reward means, distinct-n, count', () => {
    const m = corpusMetrics(gens, rewards);
    assert.equal(m.length, 8 / 3);
    assert.equal(m.lengthWords, 1); // (2 + 1 + 0) / 3
    assert.deepEqual(Object.keys(m.reward), ['total', 'len', 'mood']);
    assert.equal(m.reward.total, 2);
    assert.equal(m.reward.len, 0.5);
    assert.ok(Math.abs(m.reward.mood - 0.4) < 1e-12);
    assert.equal(m.distinct1, 1);
    assert.equal(m.distinct2, 1);
    assert.equal(m.distinct3, 0);
    assert.equal(m.count, 3);
  });

  it('an empty corpus gives finite zeros', () => {
    const m = corpusMetrics([], { total: [], components: new Map([['len', []]]) });
    assert.deepEqual(m, { reward: { total: 0, len: 0 }, distinct1: 0, distinct2: 0, distinct3: 0, length: 0, lengthWords: 0, count: 0 });
    assert.equal(mean([]), 0);
  });

  it('mismatched lengths and a component named total are errors', () => {
    assert.throws(() => corpusMetrics(gens, { total: [1], components: new Map() }), /1 reward totals for 3 generations/);
    assert.throws(() => corpusMetrics(gens, { total: [1, 2, 3], components: new Map([['len', [1]]]) }), /1 values of reward len/);
    assert.throws(() => rewardMeans({ total: [1], components: new Map([['total', [1]]]) }), /named 'total'.*hint: rename/);
  });
});
