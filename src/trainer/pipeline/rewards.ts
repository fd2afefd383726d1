// The rewards phase: every training row scored by the config's reward components (their weighted sum is
// R), reusing cached values where the row and the component are unchanged; fields are read from the data.

import type { Row } from '../data/rows.js';
import { RewardSet } from '../rewards/registry.js';
import type { RunContext } from '../run/context.js';
import type { PhaseClock } from './phase.js';

export interface Rewards {
  total: Float64Array;
  components: Map<string, Float64Array>;
  range: [number, number];
}

/** Scores the training rows; the caller disposes the returned reward set (the value phase still uses it). */
export async function rewardsPhase(ctx: RunContext, clock: PhaseClock, trainRows: readonly Row[]): Promise<{
  rewardSet: RewardSet; rewards: Rewards,
}> {
  const { config } = ctx;
  const names = config.rewards.map((r) => r.name).join(', ');
  clock.start('rewards', `scoring ${trainRows.length} training rows with ${config.rewards.length} reward components (${names})`);
  const rewardSet = await RewardSet.create(
    config.rewards,
    { baseDir: ctx.baseDir, cacheDir: ctx.cacheDir, threads: config.threads, provider: ctx.device.provider },
  );
  try {
    rewardSet.fit(trainRows);
    const scored = await rewardSet.score(trainRows, { onProgress: clock.progress('rewards') });
    const rewards = { total: scored.total, components: scored.components, range: rewardSet.range() };
    const cachedKinds = config.rewards.filter((c) => c.kind !== 'field'); // fields are read from the data, never cached
    const computed = cachedKinds.reduce((a, c) => a + (scored.computed.get(c.name) ?? 0), 0);
    const reused = cachedKinds.reduce((a, c) => a + (scored.cached.get(c.name) ?? 0), 0);
    const fields = cachedKinds.length < config.rewards.length ? ' (fields read from the data)' : '';
    const range = `total reward range [${rewards.range[0]}, ${rewards.range[1]}]`;
    clock.finish('rewards', `rewards ready: ${computed} values computed, ${reused} reused from the cache${fields}; ${range}`);
    return { rewardSet, rewards };
  } catch (e) {
    await rewardSet.dispose();
    throw e;
  }
}
