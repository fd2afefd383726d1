// The one place sessions are made: a pool keyed by what a session computes (a graph's name and the
// shapes it was built for) on one provider and thread count. Callers say how to build the graph's
// bytes; the pool builds and loads it the first time that key is asked for, hands back the same
// session after, and releases them all together when the run (or the owner of the pool) is done.

import { Session, type SessionOptions } from './session.js';

export type PoolOptions = Pick<SessionOptions, 'provider' | 'threads'>;

/** How many sessions were ever created in this process (tests count them; the pool is the only caller). */
let created = 0;
export const sessionsCreated = (): number => created;

/**
 * A pool key: the graph's name and every value that shapes it, sorted by name (so the order an object
 * was built in does not matter), e.g. `gpt_logprobs[batch=8,nEmbd=64,...,seqLen=32,vocabSize=257]`.
 * Pass the model's config and the batch shape; a name given twice with two values is a caller's bug.
 */
export function poolKey(graph: string, ...shapes: object[]): string {
  const fields = new Map<string, string>();
  for (const shape of shapes) {
    for (const [k, v] of Object.entries(shape)) {
      if (v === undefined) continue;
      const shown = typeof v === 'object' ? JSON.stringify(v) : String(v);
      const had = fields.get(k);
      if (had !== undefined && had !== shown) throw new Error(`poolKey(${graph}): ${k} is both ${had} and ${shown}`);
      fields.set(k, shown);
    }
  }
  return `${graph}[${[...fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(',')}]`;
}

export class SessionPool {
  private readonly sessions = new Map<string, Promise<Session>>();
  private released = false;

  constructor(readonly options: PoolOptions = {}) {}

  /**
   * The session for `key`, made from `build()` the first time. `key` must name the graph and every
   * shape it was built for (two graphs with one key would share a session). `extra` adds options for
   * this session (e.g. a quiet log for a device probe, fewer threads); they are part of what the key must name.
   */
  async get(key: string, build: () => Uint8Array, extra: Omit<SessionOptions, 'provider'> = {}): Promise<Session> {
    if (this.released) throw new Error(`session pool: asked for '${key}' after the pool was released`);
    let s = this.sessions.get(key);
    if (!s) {
      created++;
      // `extra.threads` may lower the pool's thread count for one session (a graph too small to share out)
      const fewer = extra.threads !== undefined ? { threads: Math.min(extra.threads, this.options.threads ?? Infinity) } : {};
      s = Session.create(build(), key, { ...extra, ...this.options, ...fewer });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key)); // a failed load is not kept: the next ask tries again
    }
    return s;
  }

  /** The keys of the sessions held now. */
  keys(): string[] {
    return [...this.sessions.keys()];
  }

  /** Sessions held now. */
  get size(): number {
    return this.sessions.size;
  }

  /** Releases one session (e.g. a graph that will not run again), if the pool holds it. */
  async drop(key: string): Promise<void> {
    const s = this.sessions.get(key);
    this.sessions.delete(key);
    await (await s?.catch(() => null))?.release();
  }

  /** Releases every session; the pool cannot be used after. */
  async release(): Promise<void> {
    this.released = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => null))?.release();
  }
}

/** Runs `f` with a pool of its own, released when `f` ends (also on a throw). */
export async function withPool<T>(options: PoolOptions, f: (pool: SessionPool) => Promise<T>): Promise<T> {
  const pool = new SessionPool(options);
  try {
    return await f(pool);
  } finally {
    await pool.release();
  }
}
