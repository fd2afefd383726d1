// The demo's reward functions: four human-designed components that read only the prompt and the
// response text (never the generator's labels), each in [0, 1], combined with weight 0.25 each. The
// demo runs this file as ordinary `module` rewards (in a worker thread, one export per component).
//
//   relevance     the response mentions a content word of the prompt (its topic)
//   politeness    no word from a small rude lexicon
//   coherence     ends a sentence (. ! ?) and does not repeat itself (distinct word bigrams >= 0.7)
//   length        1 for 8..40 words, falling linearly to 0 at 0 and at 80 words

export interface Item {
  prompt: string;
  response: string;
}

const STOP = new Set([
  'human',
  'assistant',
  'about',
  'tell',
  'what',
  'should',
  'know',
  'have',
  'want',
  'learn',
  'advice',
  'you',
  'can',
  'any',
  'tip',
  'the',
  'me',
  'do',
  'a',
  'i',
  'to',
]);
const RUDE = new Set(['stupid', 'idiot', 'dumb', 'ugh', 'shut', 'cares', 'away']);

const words = (s: string): string[] => s.toLowerCase().match(/[a-z']+/g) ?? [];

export function relevance(x: Item): number {
  const topic = words(x.prompt).filter((w) => w.length >= 3 && !STOP.has(w));
  const said = new Set(words(x.response));
  return topic.some((w) => said.has(w)) ? 1 : 0;
}

export function politeness(x: Item): number {
  return words(x.response).some((w) => RUDE.has(w)) ? 0 : 1;
}

export function coherence(x: Item): number {
  const w = words(x.response);
  const bigrams = w.slice(1).map((b, i) => `${w[i]} ${b}`);
  const varied = bigrams.length === 0 || new Set(bigrams).size / bigrams.length >= 0.7;
  const ends = /[.!?]\s*$/.test(x.response);
  return (varied ? 0.5 : 0) + (ends ? 0.5 : 0);
}

export function length(x: Item): number {
  const n = x.response.trim().split(/\s+/).filter(Boolean).length;
  if (n < 8) return n / 8;
  if (n <= 40) return 1;
  return Math.max(0, 1 - (n - 40) / 40);
}

export const COMPONENTS = { relevance, politeness, coherence, length } as const;
export type ComponentName = keyof typeof COMPONENTS;

// Batch entry points, one per component (the reward config names them with `export`).
export const scoreRelevance = (b: readonly Item[]): number[] => b.map(relevance);
export const scorePoliteness = (b: readonly Item[]): number[] => b.map(politeness);
export const scoreCoherence = (b: readonly Item[]): number[] => b.map(coherence);
export const scoreLength = (b: readonly Item[]): number[] => b.map(length);
