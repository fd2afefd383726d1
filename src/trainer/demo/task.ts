// The built-in demo task: an offline dataset like crowd-sourced assistant data, generated here with a
// seed. Each prompt asks about a topic; its responses are of mixed quality — good answers, and the
// kinds of bad ones real data has: off-topic, rude, truncated, repetitive and too long. `noise` is
// the share of bad responses. Each row carries the generator's `quality` label for people reading
// the file; nothing in training reads it (the rewards in rewards.ts read only prompt and response,
// and a test strips the labels and gets identical results). Prompts are split train/validation/test
// by prompt, so held-out prompts are never seen in training.

import { Rng } from '../util/rng.js';

const TOPICS: readonly [string, string][] = [
  ['cats', 'Cats sleep for most of the day and like a quiet, warm place to rest.'],
  ['dogs', 'Dogs need a daily walk and enjoy simple games like fetch.'],
  ['bread', 'Bread needs flour, water, yeast and time for the dough to rise.'],
  ['tea', 'Tea tastes best with water that is hot but not boiling.'],
  ['coffee', 'Coffee beans keep their flavor longer in a sealed jar.'],
  ['gardens', 'Gardens grow well with morning sun and regular watering.'],
  ['bikes', 'Bikes ride smoother when the tires have the right pressure.'],
  ['running', 'Running is easier on the knees with good shoes and short steps.'],
  ['sleep', 'Sleep improves when you keep the same bedtime every night.'],
  ['budgets', 'Budgets work when you write down what you spend each week.'],
  ['rain', 'Rain is easier to enjoy with a good coat and dry socks.'],
  ['music', 'Music practice works best in short sessions every day.'],
  ['books', 'Books are easier to finish when you read a few pages daily.'],
  ['stars', 'Stars are easiest to see far from city lights on a clear night.'],
  ['rivers', 'Rivers can be fast and cold, so always swim where it is safe.'],
  ['soup', 'Soup gets more flavor when the vegetables cook slowly.'],
  ['plants', 'Plants indoors need light from a window and a little water.'],
  ['chess', 'Chess players improve by studying their own lost games.'],
  ['maps', 'Maps are easier to read when you first find north.'],
  ['snow', 'Snow is safer to walk on with boots that have a good grip.'],
  ['birds', 'Birds visit gardens more often when there is fresh water.'],
  ['painting', 'Painting goes better when you start with light colors.'],
  ['trains', 'Trains are a calm way to travel and let you read on the way.'],
  ['kites', 'Kites fly best in a steady wind on an open field.'],
  ['rice', 'Rice cooks evenly when you rinse it and keep the lid on.'],
  ['apples', 'Apples stay fresh longer in a cool and dark place.'],
  ['swimming', 'Swimming builds strength without much stress on the joints.'],
  ['camping', 'Camping is more fun with a dry tent and warm sleeping bag.'],
  ['letters', 'Letters feel personal when you write them by hand.'],
  ['clocks', 'Clocks with batteries need a new battery about once a year.'],
  ['pasta', 'Pasta should cook in plenty of salted boiling water.'],
  ['hiking', 'Hiking is safer when someone knows your route and time.'],
  ['moths', 'Moths are drawn to light and are most active at night.'],
  ['boats', 'Boats need life jackets on board for every person.'],
  ['eggs', 'Eggs boil well when you start them in cold water.'],
  ['piano', 'Piano scales are a good warm up before playing songs.'],
  ['honey', 'Honey keeps for a very long time in a closed jar.'],
  ['storms', 'Storms are safest to wait out inside and away from windows.'],
  ['photos', 'Photos look better with the light behind the camera.'],
  ['candles', 'Candles should never burn without someone in the room.'],
];

const PROMPTS = [
  'Can you tell me about {t}?',
  'What should I know about {t}?',
  'Do you have a tip about {t}?',
  'I want to learn about {t}. Any advice?',
];
const OPENERS = ['Sure!', 'Of course.', 'Happy to help.', 'Good question.'];
const CLOSERS = ['I hope that helps.', 'Let me know if you have more questions.', 'Have a nice day.', ''];
const RUDE = [
  'That is a stupid question.',
  'Ugh, figure it out yourself, idiot.',
  'Nobody cares about that, go away.',
  'What a dumb thing to ask.',
];
const FILLER = [
  'Also, as I said before, it really depends on many things.',
  'There is a lot more to say, and people have many different opinions.',
  'Anyway, in general and overall, it is what it is.',
  'Some say one thing and others say another thing entirely.',
];

export const QUALITIES = ['good', 'off_topic', 'rude', 'truncated', 'repetitive', 'too_long'] as const;
export type Quality = (typeof QUALITIES)[number];

export interface DemoRow {
  id: string;
  prompt: string;
  response: string;
  split: 'train' | 'validation' | 'test';
  quality: Quality;
}

export interface DemoTaskOptions {
  seed: number;
  /** Share of bad responses, in [0, 1]. */
  noise: number;
  /** Distinct prompts, and responses per prompt. */
  prompts: number;
  responsesPerPrompt: number;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** A good answer names its topic as the prompt does ("About cats: ..."), states the fact, and closes. */
function goodAnswer(rng: Rng, topic: string, fact: string): string {
  return ` ${[pick(rng, OPENERS), `About ${topic}:`, fact, pick(rng, CLOSERS)].filter(Boolean).join(' ')}`;
}

function badAnswer(rng: Rng, kind: Exclude<Quality, 'good'>, topic: string, fact: string): string {
  switch (kind) {
    case 'off_topic': {
      let other = pick(rng, TOPICS);
      while (other[0] === topic) other = pick(rng, TOPICS);
      return goodAnswer(rng, other[0], other[1]);
    }
    case 'rude':
      return ` ${pick(rng, RUDE)}`;
    case 'truncated': {
      const words = goodAnswer(rng, topic, fact).trim().split(' ');
      return ` ${words.slice(0, 2 + rng.int(Math.max(1, words.length - 4))).join(' ').replace(/[.!?]$/, '')}`;
    }
    case 'repetitive': {
      const phrase = pick(rng, [`${topic} ${topic}`, `I like ${topic}`, 'yes yes', `${topic} is good`]);
      return ` ${Array.from({ length: 4 + rng.int(4) }, () => phrase).join(' ')}`;
    }
    case 'too_long':
      return `${goodAnswer(rng, topic, fact)} ${Array.from({ length: 4 + rng.int(3) }, () => pick(rng, FILLER)).join(' ')}`;
  }
}

/** The demo dataset: prompts x responses, split by prompt text (85% / 5% / 10% of the draws). */
export function demoRows(task: DemoTaskOptions): DemoRow[] {
  if (!(task.noise >= 0 && task.noise <= 1)) throw new Error(`demo: --noise must be in [0, 1] (got ${task.noise})`);
  const rng = new Rng(task.seed * 7919 + 17);
  const rows: DemoRow[] = [];
  const splitOf = new Map<string, DemoRow['split']>();
  for (let p = 0; p < task.prompts; p++) {
    const [topic, fact] = TOPICS[p % TOPICS.length];
    const prompt = `\n\nHuman: ${pick(rng, PROMPTS).replace('{t}', topic)}\n\nAssistant:`;
    const u = rng.next();
    // Topics and phrasings repeat across prompts: a repeated text keeps the split of its first draw.
    const split = splitOf.get(prompt) ?? (u < 0.1 ? 'test' : u < 0.15 ? 'validation' : 'train');
    splitOf.set(prompt, split);
    for (let r = 0; r < task.responsesPerPrompt; r++) {
      const quality: Quality = rng.next() < task.noise ? (QUALITIES[1 + rng.int(QUALITIES.length - 1)] as Quality) : 'good';
      const response = quality === 'good' ? goodAnswer(rng, topic, fact) : badAnswer(rng, quality, topic, fact);
      rows.push({ id: `demo-${p}-${r}`, prompt, response, split, quality });
    }
  }
  return rows;
}
