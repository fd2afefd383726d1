// The reward registry: the run config's reward components (builtin, module, field, onnx), each with a
// weight and a declared range; the total is the weighted sum and every component is kept on its own.
// Every value is checked — a throw, NaN, a non-number, the wrong number of values, a value outside
// the declared range or a time-out is an error naming the component and the row — and values are
// cached per component (cache.ts), so only rows whose text changed are scored again. The components
// themselves are in components.ts.

import path from 'node:path';
import type { RewardComponentConfig } from '../../protocol/config.js';
import type { Row } from '../data/rows.js';
import type { SessionPool } from '../runtime/pool.js';
import type { Provider } from '../runtime/session.js';
import { RewardCache, rowKey } from './cache.js';
import {
  type Component,
  RewardError,
  builtinComponent,
  describeRow,
  fieldComponent,
  label,
  moduleComponent,
  onnxComponent,
  timedScore,
} from './components.js';
import { ModuleReward } from './module-reward.js';
import { OnnxReward } from './onnx-reward.js';

export { RewardError, describeRow };

export interface ScoreResult {
  total: Float64Array;
  components: Map<string, Float64Array>;
  /** Per component: values computed now and values taken from the cache. */
  computed: Map<string, number>;
  cached: Map<string, number>;
}

export interface RewardSetOptions {
  /** Resolves the components' relative paths (modules, onnx folders): the config file's folder. */
  baseDir: string;
  /** Where values are cached per component; null or absent: no cache. */
  cacheDir?: string | null;
  /** Where `onnx` components' sessions come from (the run's pool); without one each keeps its own. */
  pool?: SessionPool;
  /** For `onnx` components' own pools (a given pool has its own provider and threads). */
  provider?: Provider;
  threads?: number;
  /** Modules run with no time limit (debugging). */
  noTimeLimit?: boolean;
  /** Modules run on this thread, so a debugger's breakpoints bind (no time limit either). */
  inProcess?: boolean;
}

export class RewardSet {
  private constructor(
    private readonly parts: Component[],
    private readonly cache: RewardCache | null,
  ) {}

  static async create(configs: readonly RewardComponentConfig[], opts: RewardSetOptions): Promise<RewardSet> {
    const parts: Component[] = [];
    try {
      for (const c of configs) {
        if (c.kind === 'builtin') parts.push(builtinComponent(c));
        else if (c.kind === 'field') parts.push(fieldComponent(c));
        else if (c.kind === 'module') {
          const timeoutMs = opts.noTimeLimit || opts.inProcess ? null : c.timeoutMs;
          const m = await ModuleReward.load(path.resolve(opts.baseDir, c.path), timeoutMs, c.export);
          if (opts.inProcess) m.runInProcess(); // debugging: on this thread, so breakpoints in the module bind
          parts.push(moduleComponent(c, m));
        }
        else {
          const session = { pool: opts.pool, provider: opts.provider, threads: opts.threads };
          parts.push(onnxComponent(c, await OnnxReward.load(path.resolve(opts.baseDir, c.path), c.label, session)));
        }
      }
    } catch (e) {
      for (const p of parts) await p.dispose?.();
      throw e;
    }
    return new RewardSet(parts, opts.cacheDir ? new RewardCache(opts.cacheDir) : null);
  }

  get names(): string[] {
    return this.parts.map((p) => p.config.name);
  }

  rangeOf(name: string): readonly [number, number] {
    const p = this.parts.find((q) => q.config.name === name);
    if (!p) throw new Error(`no reward component named ${name}`);
    return p.range;
  }

  /** [r_min, r_max] of the weighted total, from the components' ranges and weights. */
  range(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (const p of this.parts) {
      const w = p.config.weight;
      lo += Math.min(w * p.range[0], w * p.range[1]);
      hi += Math.max(w * p.range[0], w * p.range[1]);
    }
    return [lo, hi];
  }

  /** Fits components that learn from the training responses (tfidf). */
  fit(train: readonly Row[]): void {
    for (const p of this.parts) p.fit?.(train);
  }

  private validate(p: Component, v: unknown, r: Row): number {
    const where = `${label(p.config)}: row ${describeRow(r)}`;
    if (typeof v !== 'number') {
      const what = v === null ? 'null' : typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v;
      throw new RewardError(`${where}: returned ${what} instead of a number`);
    }
    if (Number.isNaN(v)) throw new RewardError(`${where}: returned NaN`);
    if (!Number.isFinite(v)) throw new RewardError(`${where}: returned ${v}`);
    const [lo, hi] = p.range;
    const slack = 1e-9 * (hi - lo);
    if (v < lo - slack || v > hi + slack) throw new RewardError(`${where}: returned ${v}, outside its declared range [${lo}, ${hi}]`);
    return v;
  }

  async score(
    rows: readonly Row[],
    opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<ScoreResult> {
    const batchSize = opts.batchSize ?? 64;
    const components = new Map<string, Float64Array>();
    const computed = new Map<string, number>();
    const cached = new Map<string, number>();
    const units = this.parts.length * rows.length;
    let done = 0;
    for (const p of this.parts) {
      const values = new Float64Array(rows.length);
      const fp = this.cache ? p.fingerprint() : null;
      const known = fp && this.cache ? await this.cache.load(fp) : new Map<string, number>();
      const keys = rows.map((r) => (fp ? rowKey(r.id, p.reads(r)) : ''));
      const todo: number[] = [];
      rows.forEach((_, i) => {
        const hit = fp ? known.get(keys[i]) : undefined;
        if (hit === undefined) todo.push(i);
        else values[i] = hit;
      });
      cached.set(p.config.name, rows.length - todo.length);
      computed.set(p.config.name, todo.length);
      done += rows.length - todo.length;
      for (let k = 0; k < todo.length; k += batchSize) {
        const idx = todo.slice(k, k + batchSize);
        const batch = idx.map((i) => rows[i]);
        const out = await p.score(batch);
        if (out.length !== batch.length) {
          const span = `${describeRow(batch[0])} .. ${describeRow(batch[batch.length - 1])}`;
          throw new RewardError(`${label(p.config)}: returned ${out.length} values for a batch of ${batch.length} rows (${span})`);
        }
        const fresh: [string, number][] = [];
        idx.forEach((i, j) => {
          values[i] = this.validate(p, out[j], rows[i]);
          if (fp) fresh.push([keys[i], values[i]]);
        });
        if (fp && this.cache) await this.cache.append(fp, fresh);
        done += batch.length;
        opts.onProgress?.(done, units);
      }
      components.set(p.config.name, values);
    }
    const total = new Float64Array(rows.length);
    for (const p of this.parts) {
      const v = components.get(p.config.name) as Float64Array;
      for (let i = 0; i < rows.length; i++) total[i] += p.config.weight * v[i];
    }
    return { total, components, computed, cached };
  }

  /**
   * Scores every row it can and names the others (the Reward Report and Score Row: one bad row must not
   * hide the rest). Each component scores in batches; a batch that throws, times out or comes back the
   * wrong length is scored again one row at a time, so only its bad rows are lost. A row is bad when any
   * component fails on it; `result` covers the good rows only (in order, `good` their indices). No cache.
   */
  async scoreEach(rows: readonly Row[], batchSize = 64): Promise<TolerantScore> {
    const failed = new Map<number, { component: string; message: string }[]>();
    const fail = (i: number, component: string, message: string) => failed.set(i, [...(failed.get(i) ?? []), { component, message }]);
    const all = new Map<string, Float64Array>();
    for (const p of this.parts) {
      const values = new Float64Array(rows.length).fill(NaN);
      const take = (i: number, v: unknown) => {
        try {
          values[i] = this.validate(p, v, rows[i]);
        } catch (e) {
          fail(i, p.config.name, (e as Error).message);
        }
      };
      for (let k = 0; k < rows.length; k += batchSize) {
        const idx = Array.from({ length: Math.min(batchSize, rows.length - k) }, (_, j) => k + j);
        let out: unknown[] | null = null;
        try {
          out = await p.score(idx.map((i) => rows[i]));
        } catch {
          out = null; // scored again row by row below, where the error is named with its row
        }
        if (out && out.length === idx.length) {
          idx.forEach((i, j) => take(i, (out as unknown[])[j]));
          continue;
        }
        for (const i of idx) {
          try {
            const one = await p.score([rows[i]]);
            const where = `${label(p.config)}: row ${describeRow(rows[i])}`;
            if (one.length !== 1) fail(i, p.config.name, `${where}: returned ${one.length} values for 1 row`);
            else take(i, one[0]);
          } catch (e) {
            fail(i, p.config.name, (e as Error).message);
          }
        }
      }
      all.set(p.config.name, values);
    }
    const good = rows.map((_, i) => i).filter((i) => !failed.has(i));
    const components = new Map([...all].map(([n, v]) => [n, Float64Array.from(good, (i) => v[i])]));
    const total = new Float64Array(good.length);
    for (const p of this.parts) {
      const v = components.get(p.config.name) as Float64Array;
      for (let j = 0; j < good.length; j++) total[j] += p.config.weight * v[j];
    }
    const counts = new Map(this.parts.map((p) => [p.config.name, rows.length]));
    const bad = [...failed].sort((a, b) => a[0] - b[0]).map(([i, errors]) => ({ index: i, row: rows[i], errors }));
    return { result: { total, components, computed: counts, cached: new Map(this.parts.map((p) => [p.config.name, 0])) }, good, bad };
  }

  /**
   * A dry run that reports instead of stopping: each component on each row alone (timed), then on the
   * rows as one batch (a wrong-length result shows there). Every throw, NaN, non-number, out-of-range
   * value, time-out and call slower than `slowMs` becomes a finding naming the row. A call's time is the
   * scorer's own: for a module, measured inside its worker (the thread's start-up is not counted).
   */
  async check(rows: readonly Row[], opts: { slowMs: number; only?: string }): Promise<CheckReport> {
    const findings: CheckFinding[] = [];
    const timing: Record<string, { calls: number; meanMs: number; maxMs: number }> = {};
    for (const p of this.parts.filter((q) => !opts.only || q.config.name === opts.only)) {
      const name = p.config.name;
      let total = 0;
      let max = 0;
      const good: Row[] = []; // rows scored without a problem: the batch call below uses these
      const onRow = (r: Row, problem: CheckProblem, detail: string): void => {
        findings.push({ component: name, row: describeRow(r), rowId: r.id, line: r.line, problem, detail });
      };
      for (const r of rows) {
        const t0 = performance.now();
        let out: unknown[] | null = null;
        let ms: number;
        try {
          ({ values: out, elapsedMs: ms } = await timedScore(p, [r]));
        } catch (e) {
          onRow(r, /time limit/.test((e as Error).message) ? 'timeout' : 'throw', (e as Error).message);
          ms = performance.now() - t0;
        }
        total += ms;
        max = Math.max(max, ms);
        if (out) {
          if (out.length !== 1) onRow(r, 'wrong length', `returned ${out.length} values for 1 row`);
          else {
            try {
              this.validate(p, out[0], r);
              good.push(r);
            } catch (e) {
              const d = (e as Error).message;
              const problem = /NaN/.test(d)
                ? 'nan'
                : /outside/.test(d)
                  ? 'out of range'
                  : /instead of a number|returned (Infinity|-Infinity)/.test(d)
                    ? 'not a number'
                    : 'throw';
              onRow(r, problem, d.replace(/^.*?: row .*?\): /, ''));
            }
          }
          if (ms > opts.slowMs) onRow(r, 'slow', `${ms.toFixed(0)} ms for one row (over ${opts.slowMs} ms)`);
        }
      }
      timing[name] = { calls: rows.length, meanMs: rows.length ? total / rows.length : 0, maxMs: max };
      if (good.length > 1) {
        const onBatch = (problem: CheckProblem, detail: string): void => {
          const span = `${describeRow(good[0])} .. ${describeRow(good[good.length - 1])}`;
          findings.push({ component: name, row: span, rowId: good[0].id, line: good[0].line, problem, detail });
        };
        try {
          const out = await p.score(good);
          if (out.length !== good.length) onBatch('wrong length', `returned ${out.length} values for a batch of ${good.length} rows`);
        } catch (e) {
          onBatch('throw', `a batch of rows that each score fine alone failed together: ${(e as Error).message}`);
        }
      }
    }
    return { findings, timing };
  }

  async dispose(): Promise<void> {
    for (const p of this.parts) await p.dispose?.();
  }
}

export type CheckProblem = 'throw' | 'nan' | 'not a number' | 'wrong length' | 'out of range' | 'timeout' | 'slow';

export interface CheckFinding {
  component: string;
  row: string;
  rowId: string;
  line: number;
  problem: CheckProblem;
  detail: string;
}

/** What scoreEach returns: scores of the good rows (indices `good`) and each bad row with its errors. */
export interface TolerantScore {
  result: ScoreResult;
  good: number[];
  bad: { index: number; row: Row; errors: { component: string; message: string }[] }[];
}

export interface CheckReport {
  findings: CheckFinding[];
  timing: Record<string, { calls: number; meanMs: number; maxMs: number }>;
}
