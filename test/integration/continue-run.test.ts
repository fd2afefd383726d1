// Continuing a stopped run of several variants, as the extension's Resume does on a demo (main.ts:
// runExperiment with `continue`): nll, wnll and a_lol from one audit; Stop lands during wnll. The
// continued run evaluates nll without training it again (its folder is untouched), resumes wnll from
// the checkpoint Stop wrote, trains a_lol from the start, and ends with what an uninterrupted run of the
// same variants gives: the same steps, the same final and best weights, and for each variant the best
// checkpoint by validation reward over its whole training — the first of equal rewards, as documented.
// The reward reads only the prompt, so every validation reward ties and the best is the first
// evaluation, before the stop: a resumed variant that forgot its best would choose a later one.
// Resumed into another folder (`alol train --resume`), where that best/ is not, the best is chosen again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredEvent, TrainerEvent } from '../../src/protocol/trainer.js';
import { type Summary, runExperiment } from '../../src/trainer/pipeline/experiment.js';
import type { Variant } from '../../src/trainer/alol/rules.js';
import { type LoadedConfig, validateConfig } from '../../src/trainer/run/load-config.js';
import { type RunControl, StopRequested, newControl } from '../../src/trainer/run/control.js';
import { openRunContext } from '../../src/trainer/run/context.js';
import { RunLog } from '../../src/trainer/run/events.js';

const VARIANTS: readonly Variant[] = ['nll', 'wnll', 'a_lol'];
const STOP_AFTER = { variant: 'wnll', step: 5 }; // Stop arrives once wnll has done 5 of its 8 steps
let dir = '';
let loaded: LoadedConfig;

/** The variant a training phase message names ("training wnll from the reference ..."). */
const variantOf = (message: string | undefined): string | null => /^training (\w+)/.exec(message ?? '')?.[1] ?? null;

/** A run log that asks the run to stop once `at.variant` has completed step `at.step`. */
class StoppingLog extends RunLog {
  private variant: string | null = null;

  constructor(
    runDir: string,
    private readonly control: RunControl,
    private readonly at: { variant: string; step: number },
  ) {
    super(runDir);
  }

  override emit(e: TrainerEvent): void {
    super.emit(e);
    if (e.type === 'phase/didChange' && e.phase === 'training' && e.status === 'started') this.variant = variantOf(e.message);
    if (e.type === 'step/didComplete' && this.variant === this.at.variant && e.step === this.at.step) this.control.stopRequested = true;
  }
}

const hooks = (log: RunLog, control: RunControl, say: string[] = []) => ({
  log,
  say: (l: string) => void say.push(l),
  progress: () => ({ update: () => undefined, stop: () => undefined }),
  control,
});
const run = (name: string) => path.join(dir, name);
/** The run's context as the CLI opens it, with this test's log and control (no run/didStart: phases only). */
const context = (name: string, h: ReturnType<typeof hooks>) =>
  openRunContext({ verb: 'train', loaded, runDir: run(name), cacheDir: path.join(dir, 'cache'), announce: false, ...h });
const experiment = async (name: string, log: RunLog, control: RunControl, say?: string[], continued = false) =>
  runExperiment(await context(name, hooks(log, control, say)), VARIANTS, { continue: continued });
const events = (name: string): StoredEvent[] =>
  readFileSync(path.join(run(name), 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StoredEvent);
const bytes = (...p: string[]) => createHash('sha256').update(readFileSync(path.join(dir, ...p))).digest('hex');

/** Every file under a folder with its size, modification time and content hash. */
function snapshot(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    const s = statSync(f);
    out[path.relative(folder, f)] = `${s.size} ${s.mtimeMs} ${createHash('sha256').update(readFileSync(f)).digest('hex')}`;
  }
  return out;
}

interface Trained {
  /** The messages of its training phases ("training X from the reference (resuming from ...)"). */
  started: string[];
  steps: number[];
  validation: { step: number; reward: number }[];
}

/** Per variant, in order: its training phases' messages, the steps logged and the validation evaluations. */
function byVariant(evs: readonly StoredEvent[]): Map<string, Trained> {
  const out = new Map<string, Trained>();
  let current: Trained | undefined;
  for (const e of evs) {
    if (e.type === 'phase/didChange' && e.phase === 'training' && e.status === 'started') {
      const name = variantOf(e.message) ?? '?';
      current = out.get(name) ?? { steps: [], validation: [], started: [] };
      current.started.push(e.message ?? '');
      out.set(name, current);
    } else if (e.type === 'phase/didChange' && e.phase === 'training' && e.status === 'finished') current = undefined;
    else if (current && e.type === 'step/didComplete') current.steps.push(e.step);
    else if (current && e.type === 'eval/didComplete' && e.split === 'validation') {
      current.validation.push({ step: e.step, reward: e.rewards.total });
    }
  }
  return out;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'alol-continue-'));
  const rows = Array.from({ length: 160 }, (_, i) => {
    const k = i % 40;
    return JSON.stringify({ id: `r${i}`, prompt: `Q: item ${k}?\nA:`, response: i % 3 ? ` yes, item ${k}.` : ' no' });
  });
  await writeFile(path.join(dir, 'data.jsonl'), `${rows.join('\n')}\n`);
  const reward = 'export default (b: { prompt: string }[]) => b.map((x) => (Number(/\\d+/.exec(x.prompt)?.[0]) % 5) / 4);\n';
  await writeFile(path.join(dir, 'reward.ts'), reward);
  const config = validateConfig(
    {
      data: { path: 'data.jsonl', maxPromptTokens: 16, maxResponseTokens: 16, split: { validation: 0.1, test: 0.1, seed: 0 } },
      model: { init: { layers: 1, embd: 32, heads: 4, positions: 48 } },
      reference: { sft: null },
      rewards: [{ name: 'item', kind: 'module', path: 'reward.ts', range: [0, 1] }],
      value: { fitOn: 'train', folds: 2, epochs: 2 },
      train: { steps: 8, batchSize: 8, lr: 1e-3, evalEvery: 2, checkpointEvery: 3 },
      eval: { maxNewTokens: 6, maxPrompts: 3, samplesPerPrompt: 1 },
      threads: 1,
    },
    'continue test',
  );
  loaded = { config, file: null, baseDir: dir };
});
after(() => rm(dir, { recursive: true, force: true }));

describe('continuing a stopped run of several variants (Resume)', () => {
  let whole: Summary;
  let continued: Summary;
  let nllBefore: Record<string, string>;
  let eventsBefore = 0;
  const said: string[] = [];

  it('an uninterrupted run, then the same run stopped during its second variant', async () => {
    whole = (await experiment('whole', new RunLog(run('whole')), newControl())).summary;
    const control = newControl();
    await assert.rejects(experiment('stopped', new StoppingLog(run('stopped'), control, STOP_AFTER), control), StopRequested);
    assert.deepEqual(readdirSync(path.join(run('stopped'), 'wnll', 'checkpoints')).sort(), ['step-000003', 'step-000005']);
    assert.deepEqual(readdirSync(path.join(run('stopped'), 'wnll')).sort(), ['best', 'checkpoints'], 'wnll has no final model yet');
    const folders = readdirSync(run('stopped')).filter((n) => (VARIANTS as readonly string[]).includes(n));
    assert.deepEqual(folders.sort(), ['nll', 'wnll'], 'a_lol never started');
    nllBefore = snapshot(path.join(run('stopped'), 'nll'));
    eventsBefore = events('stopped').length;
  });

  it('continued: the finished variant is evaluated, not trained again; its folder is untouched', async () => {
    continued = (await experiment('stopped', new RunLog(run('stopped')), newControl(), said, true)).summary;
    const after = byVariant(events('stopped').slice(eventsBefore));
    assert.equal(after.get('nll'), undefined, 'no training phase for nll');
    assert.ok(said.some((l) => l.startsWith('[training] nll: already trained in this run folder (8 steps)')), said.join('\n'));
    assert.deepEqual(snapshot(path.join(run('stopped'), 'nll')), nllBefore);
    const { trainSeconds, validationSeconds, evalSeconds } = continued.variants.nll; // wall times differ run to run
    assert.deepEqual(continued.variants.nll, { ...whole.variants.nll, trainSeconds, validationSeconds, evalSeconds });
  });

  it('the interrupted variant resumes from the checkpoint Stop wrote; the next one starts from step 1', () => {
    const after = byVariant(events('stopped').slice(eventsBefore));
    const wnll = after.get('wnll');
    assert.ok(wnll);
    assert.match(wnll.started[0], /resuming from .*wnll[/\\]checkpoints[/\\]step-000005/);
    assert.deepEqual(wnll.steps, [6, 7, 8]);
    const alol = after.get('a_lol');
    assert.ok(alol);
    assert.doesNotMatch(alol.started[0], /resuming/);
    assert.equal(alol.steps[0], 1);
    assert.deepEqual(alol.steps, byVariant(events('whole')).get('a_lol')?.steps);
  });

  it('ends as the uninterrupted run: same final and best weights, best = first of the best validation rewards', () => {
    const all = byVariant(events('stopped'));
    for (const v of VARIANTS) {
      assert.equal(continued.variants[v].steps, whole.variants[v].steps, v);
      assert.equal(bytes('stopped', v, 'final', 'model.safetensors'), bytes('whole', v, 'final', 'model.safetensors'), `${v} final`);
      // best by validation reward over the variant's whole training (both runs for wnll), ties to the first
      const evals = all.get(v)?.validation ?? [];
      assert.ok(evals.length >= 2, v);
      const best = evals.reduce((b, e) => (e.reward > b.reward ? e : b));
      assert.equal(continued.variants[v].evaluatedStep, best.step, `${v}: evaluated step`);
      assert.equal(continued.variants[v].evaluatedStep, whole.variants[v].evaluatedStep, v);
      assert.equal(bytes('stopped', v, 'best', 'model.safetensors'), bytes('whole', v, 'best', 'model.safetensors'), `${v} best`);
      assert.deepEqual(continued.variants[v].heldout, whole.variants[v].heldout, `${v}: the evaluated (best) policy`);
    }
    assert.equal(all.get('wnll')?.validation[0].step, 2, 'wnll was first evaluated before the stop');
  });

  it('resumed into another run folder (alol train --resume), the earlier best is not there: chosen again, and said so', async () => {
    const checkpoint = path.join(run('stopped'), 'wnll', 'checkpoints', 'step-000005');
    const lines: string[] = [];
    const elsewhere = hooks(new RunLog(run('elsewhere')), newControl(), lines);
    const { summary } = await runExperiment(await context('elsewhere', elsewhere), ['wnll'], { resume: checkpoint });
    const said = lines.find((l) => l.includes('the best policy so far (step 2) is not in'));
    assert.match(said ?? lines.join('\n'), /chosen again from step 5$/);
    assert.equal(summary.variants.wnll.evaluatedStep, 6);
    assert.equal(bytes('elsewhere', 'wnll', 'final', 'model.safetensors'), bytes('whole', 'wnll', 'final', 'model.safetensors'));
  });
});
