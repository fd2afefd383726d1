// The run's data: the dataset of the config read and split, and the training rows A-LoL learns from
// (rows annotated `"exclude": true` in the editor take no part). Checks what no later phase could fix.

import path from 'node:path';
import { type DatasetReport, describeReport, readDataset } from '../data/dataset.js';
import type { Pair, Row } from '../data/rows.js';
import { AlolError } from '../errors.js';
import type { RunContext } from '../run/context.js';
import { checkFitOn } from './value.js';

export interface RunData {
  report: DatasetReport;
  /** Every row and pair of the dataset, all splits. */
  allRows: Row[];
  pairs: Pair[];
  /** Training rows, in dataset order. */
  trainRows: Row[];
}

export async function readRunData(ctx: Pick<RunContext, 'config' | 'baseDir' | 'say'>): Promise<RunData> {
  const { config } = ctx;
  const dataFile = path.resolve(ctx.baseDir, config.data.path);
  const { rows, pairs, report } = await readDataset(dataFile, { format: config.data.format, split: config.data.split });
  ctx.say(`[data] ${describeReport(report)}`);
  const excluded = rows.filter((r) => r.split === 'train' && r.raw.exclude === true).length;
  const trainRows = rows.filter((r) => r.split === 'train' && r.raw.exclude !== true);
  if (excluded) ctx.say(`[data] ${excluded} training rows are marked "exclude": true and left out`);
  if (trainRows.length === 0) {
    throw new AlolError('data', `${dataFile}: no rows in the training split`, 'lower data.split.validation / data.split.test');
  }
  if (config.rewards.length === 0) throw new AlolError(
    'config',
    'the config has no reward components',
    'add at least one to "rewards" (see README)',
  );
  checkFitOn(config);
  return { report, allRows: rows, pairs, trainRows };
}
