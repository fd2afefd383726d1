// Choosing a token from a row of logits: argmax (temperature 0), or temperature / top-p sampling with a seeded RNG.

import type { Rng } from '../util/rng.js';

/** Picks the next token from one row of logits. */
export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp((logits[i] - logits[best]) / temperature);
    sum += probs[i];
  }
  let order = [...probs.keys()];
  if (topP < 1) {
    order.sort((a, b) => probs[b] - probs[a] || a - b);
    let cum = 0;
    let keep = 0;
    while (keep < order.length && cum < topP * sum) cum += probs[order[keep++]];
    order = order.slice(0, Math.max(1, keep));
    sum = cum;
  }
  let r = rng.next() * sum;
  for (const i of order) {
    r -= probs[i];
    if (r <= 0) return i;
  }
  return order[order.length - 1];
}
