// Following a run of the trainer from its run folder: the events of the one run under a runs folder, and a wait that
// follows the trainer's events rather than the clock (see followRun). Used by the UI tests that start runs.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep } from './harness.mjs';

/** The events of the one run folder under `runsDir` (runs/<verb>-<time>/events.jsonl), parsed; [] before it exists. */
export function runEvents(runsDir) {
  const dirs = fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((d) => fs.existsSync(path.join(runsDir, d, 'events.jsonl'))) : [];
  assert.ok(dirs.length <= 1, `more than one run in ${runsDir}: ${dirs.join(', ')}`);
  if (!dirs.length) return [];
  // The last line may be half-written while the trainer runs: only whole lines count.
  const text = fs.readFileSync(path.join(runsDir, dirs[0], 'events.jsonl'), 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** One event in a message: its type, and the phase and status or variant and step it names. */
function describeEvent(e) {
  if (!e) return 'none yet';
  const what = [e.phase, e.status, e.variant, e.step !== undefined ? `step ${e.step}` : undefined].filter((x) => x !== undefined);
  return what.length ? `${e.type} (${what.join(' ')})` : e.type;
}

/**
 * Waits until the run's events satisfy `ready(events)` (returns its truthy value), following the trainer rather than
 * the clock: on a busy machine the quick demo's phases take minutes longer, and that is not a failure as long as the
 * trainer keeps emitting events. Fails, saying why, when the run fails (run/didFail's code and message), when no new
 * event arrives for `stallMs` (the trainer stalled or never started), or after `maxMs` in all (a bound on a busy run).
 */
export async function followRun(runsDir, what, ready, { stallMs = 180_000, maxMs = 900_000 } = {}) {
  const start = Date.now();
  let seen = -1;
  let lastNew = start;
  for (;;) {
    const ev = runEvents(runsDir);
    const value = ready(ev);
    if (value) return value;
    const failed = ev.find((e) => e.type === 'run/didFail');
    if (failed) throw new Error(`the run failed while the test waited for ${what}: ${failed.code}: ${failed.message}`);
    if (ev.length !== seen) [seen, lastNew] = [ev.length, Date.now()];
    const state = `${ev.length} events so far, the last ${describeEvent(ev.at(-1))}`;
    if (Date.now() - lastNew > stallMs) {
      throw new Error(`no new trainer event for ${stallMs / 1000} s while waiting for ${what}: the trainer stalled (${state})`);
    }
    if (Date.now() - start > maxMs) throw new Error(`${what} did not come within ${maxMs / 1000} s, though the trainer ran (${state})`);
    await sleep(250);
  }
}

