// Built-in reward scorers (DESIGN.md "Rewards"; config `{ "kind": "builtin", "scorer": … }`). Each scores
// a batch of {prompt, response} on the response alone, returns one number per row, and declares its
// range [0, 1] with higher = better, so components combine in weighted sums:
//
//   sentiment  (1 + tanh(2c)) / 2, c = AFINN-165 comparative score of the response (sum of word
//              valences / number of words); 0.5 = neutral, also for an empty response.
//   toxicity   a "clean" score 1 / (1 + m), m = profanities found in the response; 1 = clean.
//   length     max(0, 1 - |n - target| / tolerance), n = whitespace-separated WORDS (not tokens).
//   tfidf      mean over the response's words of idf(w) / ln(1 + N), idf(w) = ln((1 + N) / (1 + df(w))),
//              fit on N training responses; 1 = only unseen words, 0 = only words in every response.
//
// Libraries: `sentiment` (MIT, no dependencies) carries the AFINN-165 lexicon with negation handling;
// `obscenity` (MIT, no dependencies, TypeScript) matches an English profanity dataset through
// leetspeak, look-alike Unicode and repeated letters with a whitelist against false positives
// ("Scunthorpe", "assassin"). TF-IDF is a few hand-written lines. Tests: test/unit/builtins.test.ts.
import { createRequire } from 'node:module';
import { englishDataset, englishRecommendedTransformers, RegExpMatcher } from 'obscenity';
import { z } from 'zod';
import { BUILTIN_SCORERS } from '../../protocol/config.js';
import { AlolError } from '../errors.js';

export interface RewardInput {
  prompt: string;
  response: string;
}

/** The config schema's list (src/protocol/config.ts), so the two cannot drift apart. */
export const BUILTIN_NAMES = BUILTIN_SCORERS;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

export interface BuiltinScorer {
  readonly name: BuiltinName;
  /** [lo, hi] of every value `score` returns: [0, 1] for all built-ins, higher = better. */
  readonly range: readonly [number, number];
  /** true: `fit(trainingResponses)` must be called before `score`. */
  readonly needsFit: boolean;
  fit?(responses: readonly string[]): void;
  score(batch: readonly RewardInput[]): number[];
}

const UNIT_RANGE = [0, 1] as const;

/** The scorer `name` with its options (unknown name, unknown option or bad value: an Error naming it). */
export function createBuiltin(name: string, options: Record<string, unknown> = {}): BuiltinScorer {
  switch (name) {
    case 'sentiment':
      parseOptions(name, z.strictObject({}), options, 'none');
      return createSentiment();
    case 'toxicity':
      parseOptions(name, z.strictObject({}), options, 'none');
      return createToxicity();
    case 'length':
      return createLength(parseOptions(name, LengthOptionsSchema, options, LENGTH_OPTIONS_HELP));
    case 'tfidf':
      parseOptions(name, z.strictObject({}), options, 'none');
      return createTfidf();
    default:
      throw new Error(`unknown built-in scorer '${name}'; valid scorers: ${BUILTIN_NAMES.join(', ')}`);
  }
}

function parseOptions<S extends z.ZodType>(name: BuiltinName, schema: S, options: Record<string, unknown>, valid: string): z.output<S> {
  const parsed = schema.safeParse(options);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.code === 'unrecognized_keys'
      ? `unknown option(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`
      : `option '${issue.path.join('.')}': ${issue.message}`,
  );
  throw new Error(`built-in scorer '${name}': ${problems.join('; ')}; valid options: ${valid}`);
}

// ---- sentiment --------------------------------------------------------------------------------

/** The slice of the untyped `sentiment` package used here (its `analyze` result has more fields). */
interface SentimentAnalyzer {
  analyze(phrase: string): { score: number; comparative: number; tokens: string[] };
}
type SentimentConstructor = new () => SentimentAnalyzer;
const requireUntyped = createRequire(__filename);

/**
 * `sentiment`: (1 + tanh(2c)) / 2, where c is the `sentiment` package's comparative AFINN-165 score
 * of the response: the sum of the valences (integers -5..+5) of its words found in the lexicon,
 * divided by the number of its words. Words are the package's: lower-cased, the characters
 * . , / # ! ? $ % ^ & * ; : { } = _ ` " ~ ( ) removed, split on whitespace (so "don't" and
 * "well-known" are one word each); a word right after a negator (not, don't, can't, isn't, won't,
 * doesn't, non, …) counts with its valence flipped. 0.5 is neutral (no lexicon words, or an empty
 * response); c = ±0.5 (e.g. one "good" in six words) gives 0.88 / 0.12. Range [0, 1].
 */
function createSentiment(): BuiltinScorer {
  const Sentiment = requireUntyped('sentiment') as SentimentConstructor;
  const analyzer = new Sentiment();
  return {
    name: 'sentiment',
    range: UNIT_RANGE,
    needsFit: false,
    score: (batch) =>
      batch.map(({ response }) => {
        // The package splits on single spaces only; any other whitespace (tab, CR) would glue words.
        const text = response.replace(/\s+/g, ' ').trim();
        if (text === '') return 0.5;
        return (1 + Math.tanh(2 * analyzer.analyze(text).comparative)) / 2;
      }),
  };
}

// ---- toxicity ---------------------------------------------------------------------------------

// A run of >= 3 single characters each separated by one space, dot, hyphen or underscore
// ("f u c k", "s.h.1.t"): obscenity's recommended matcher does not see through these (its
// skipNonAlphabetic transformer, off by default, breaks the dataset's word-boundary patterns;
// upstream issues #46, #98), so such runs are joined into one word before matching.
const SPELLED_OUT = /(?<![\p{L}\p{N}])[\p{L}\p{N}@$!](?:[ ._-][\p{L}\p{N}@$!]){2,}(?![\p{L}\p{N}])/gu;

/**
 * `toxicity`, reported as a clean score: 1 / (1 + m), 1 for clean text, 1/2 for one profanity, 1/3
 * for two. m = the number of profanities `obscenity` finds in the response with its English dataset
 * (profanity, sexual terms and slurs; whitelisted look-alikes such as "Scunthorpe" or "assassin" are
 * not matched) and its recommended transformers, which read through look-alike Unicode ("ƒuck"),
 * leetspeak ("sh1t", "a$$hole") and repeated letters ("fuuuuck"); words spelled out one character
 * at a time ("f u c k", "f.u.c.k") are joined first. Overlapping matches (one word matched by several
 * of the dataset's patterns) count once; separate occurrences count separately ("shit shit": m = 2).
 */
function createToxicity(): BuiltinScorer {
  const matcher = new RegExpMatcher({ ...englishDataset.build(), ...englishRecommendedTransformers });
  const countProfanities = (text: string): number => {
    const joined = text.replace(SPELLED_OUT, (run) => run.replace(/[ ._-]/g, ''));
    let count = 0;
    let lastEnd = -1; // endIndex is inclusive
    for (const { startIndex, endIndex } of matcher.getAllMatches(joined, true)) {
      if (startIndex > lastEnd) count += 1;
      lastEnd = Math.max(lastEnd, endIndex);
    }
    return count;
  };
  return {
    name: 'toxicity',
    range: UNIT_RANGE,
    needsFit: false,
    score: (batch) => batch.map(({ response }) => 1 / (1 + countProfanities(response))),
  };
}

// ---- length -----------------------------------------------------------------------------------

const LengthOptionsSchema = z.strictObject({
  target: z.number().min(0).default(30),
  tolerance: z.number().positive().optional(),
});
const LENGTH_OPTIONS_HELP = 'target (words, >= 0, default 30), tolerance (words, > 0, default = target)';

/**
 * `length`: max(0, 1 - |n - target| / tolerance), n = the number of whitespace-separated words of
 * the response (words, not model tokens). Options: `target` (default 30) and `tolerance` (default =
 * target), both in words: 1 at the target, falling linearly to 0 at target ± tolerance and beyond;
 * with the defaults an empty response scores 0. Range [0, 1].
 */
function createLength(options: z.output<typeof LengthOptionsSchema>): BuiltinScorer {
  const { target } = options;
  const tolerance = options.tolerance ?? target;
  if (!(tolerance > 0)) {
    const why = 'tolerance must be > 0 (with target 0, set it explicitly)';
    throw new Error(`built-in scorer 'length': ${why}; valid options: ${LENGTH_OPTIONS_HELP}`);
  }
  return {
    name: 'length',
    range: UNIT_RANGE,
    needsFit: false,
    score: (batch) =>
      batch.map(({ response }) => {
        const n = response.split(/\s+/).filter((w) => w !== '').length;
        return Math.max(0, 1 - Math.abs(n - target) / tolerance);
      }),
  };
}

// ---- tfidf ------------------------------------------------------------------------------------

// Letters, combining marks and digits, joined by inner apostrophes ("don't", "o'clock"); applied after
// lower-casing and reading ’ as '. Edge apostrophes (quotes: 'this') are not part of the word.
const TFIDF_WORD = /[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*/gu;

/** The words TF-IDF counts, with repetition: TFIDF_WORD matches in the lower-cased text. */
export function tfidfWords(text: string): string[] {
  return text.toLowerCase().replace(/\u2019/g, "'").match(TFIDF_WORD) ?? [];
}

/**
 * `tfidf`: informativeness as in the A-LoL paper's Reddit task. `fit(responses)` counts, over the N
 * fitting responses (the training responses), df(w) = the number of responses containing word w;
 * idf(w) = ln((1 + N) / (1 + df(w))). score = the mean of idf(w) / ln(1 + N) over the response's
 * words with repetition, so a word seen in every fitting response adds 0 and an unseen word adds 1;
 * a response without words scores 0. Words: maximal runs of letters, combining marks and digits,
 * lower-cased, joined by inner apostrophes (’ read as '), i.e. the matches of the Unicode regex
 * `[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*` in the lower-cased text.
 * Fitting is O(total words); fitting again replaces the previous fit. Range [0, 1].
 */
function createTfidf(): BuiltinScorer {
  let fitted: { df: Map<string, number>; n: number } | null = null;
  return {
    name: 'tfidf',
    range: UNIT_RANGE,
    needsFit: true,
    fit(responses) {
      if (responses.length === 0) {
        throw new AlolError('reward', "built-in scorer 'tfidf': fit() needs at least one response", 'fit on the training responses');
      }
      const df = new Map<string, number>();
      for (const response of responses) {
        for (const w of new Set(tfidfWords(response))) df.set(w, (df.get(w) ?? 0) + 1);
      }
      fitted = { df, n: responses.length };
    },
    score(batch) {
      if (fitted === null) {
        throw new AlolError('reward', "built-in scorer 'tfidf': score() called before fit()", 'call fit(trainingResponses) first');
      }
      const { df, n } = fitted;
      const lnN1 = Math.log(1 + n);
      return batch.map(({ response }) => {
        const words = tfidfWords(response);
        if (words.length === 0) return 0;
        let sum = 0;
        for (const w of words) sum += Math.log((1 + n) / (1 + (df.get(w) ?? 0))) / lnN1;
        return sum / words.length;
      });
    },
  };
}
