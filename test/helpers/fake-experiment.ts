// An experiment (runExperiment) on the fake compute backend in a run folder under `dir`: the config written to
// <dir>/<name>.json and loaded as `alol train` loads it. Returns what the run said, a reader of its events, the
// fake backend (to inspect the batches it saw) and the pending result (the fail-fast tests assert on rejections).
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseEventLine, type TrainerEvent } from '../../src/protocol/trainer.js';
import type { Variant } from '../../src/trainer/alol/rules.js';
import { runExperiment } from '../../src/trainer/pipeline/experiment.js';
import { inRun, openRunContext } from '../../src/trainer/run/context.js';
import { loadRunConfig } from '../../src/trainer/run/load-config.js';
import { FakeCompute } from './fake-compute.js';

/** Writes JSONL records to <dir>/<name>; returns `name` (a config's data path, relative to the config). */
export async function writeData(dir: string, name: string, records: object[]): Promise<string> {
  await writeFile(path.join(dir, name), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return name;
}

export async function fakeExperiment(dir: string, config: object, variants: Variant[], name: string) {
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  const fake = new FakeCompute();
  const said: string[] = [];
  const runDir = path.join(dir, name);
  const quiet = { say: (l: string) => void said.push(l), progress: () => ({ update: () => undefined, stop: () => undefined }) };
  const loaded = await loadRunConfig(file);
  const ctx = await openRunContext({ verb: 'train', loaded, runDir, cacheDir: null, compute: () => fake, ...quiet });
  const events = () => readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').trim().split('\n').map(parseEventLine)
    .flatMap((l) => (l.ok ? [l.event as TrainerEvent] : []));
  const result = inRun(ctx, () => runExperiment(ctx, variants));
  result.catch(() => undefined); // callers await it, or assert on its rejection later
  return { result, said, events, fake, runDir };
}
