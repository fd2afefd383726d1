// Dataset rows: the types every later stage reads (rewards, caches, sampler, DPO), row identity, and
// the zod schemas of the three record kinds a dataset file may hold (DESIGN.md "Rows and caches").
// They live in src/protocol/rows.ts, because the editor computes the same row ids; this module
// re-exports them for the trainer and has them hash with node:crypto (the same bytes, faster).

import { createHash } from 'node:crypto';
import { useSha256Hex } from '../../protocol/rows.js';

useSha256Hex((text) => createHash('sha256').update(text).digest('hex'));

export {
  classifyRecord,
  extraFields,
  HhRecord,
  KIND_SHAPES,
  normalizePrompt,
  type Pair,
  PairRecord,
  pairId,
  promptGroup,
  RECORD_SCHEMAS,
  type RecordKind,
  type Row,
  type RowKind,
  RowRecord,
  rowId,
  shortHash,
  type Split,
  SPLITS,
} from '../../protocol/rows.js';
