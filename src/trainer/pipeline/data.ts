// The run's data: the dataset of the config read and split, and the training rows A-LoL learns from
// (rows annotated `"exclude": true` in the editor take no part). What could stop the run is checked
// next, by validate.ts, before the first phase.

import path from 'node:path';
import { type DatasetReport, describeReport, readDataset } from '../data/dataset.js';
import type { Pair, Row } from '../data/rows.js';
import type { RunContext } from '../run/context.js';

export interface RunData {
  report: DatasetReport;
  /** Every row of the dataset, all splits, and the pairs that pair and HH records state. */
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
  return { report, allRows: rows, pairs, trainRows };
}
