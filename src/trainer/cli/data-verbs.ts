// Data verbs: `alol convert-alol` turns the A-LoL authors' published format (prefix / suffix / reward
// lists per line, data/alol-format.ts) into {prompt, responses: [{response, reward}]} records that any
// run config reads (a `field` reward on `reward`; pairs for dpo and the preference accuracy form from them).

import type { Command } from 'commander';
import { convertAlolFile } from '../data/alol-format.js';
import { oneOf } from './options.js';

async function convertAlol(flags: { in: string; out: string; turns: 'hh' | 'raw'; reward: 'sigmoid' | 'raw' }): Promise<void> {
  const r = await convertAlolFile(flags.in, flags.out, { turns: flags.turns, reward: flags.reward });
  const reward = flags.reward === 'sigmoid' ? 'sigmoid of the scores, in [0, 1]' : 'raw scores: declare their range in the config';
  console.log(`${flags.in}: ${r.lines} lines -> ${r.records} records, ${r.responses} responses (${reward}); wrote ${flags.out}`);
}

const TURNS = 'hh: HH transcripts ("Human: ..." / "Assistant:" turns); raw: the turn strings as they are';
const REWARD = 'sigmoid: the paper\'s sigmoid of the scores, in [0, 1]; raw: the scores as they are';

export function registerDataVerbs(program: Command): void {
  program
    .command('convert-alol')
    .description('convert the A-LoL authors\' format (prefix, suffix, reward lists per line) to {prompt, responses} records')
    .requiredOption('--in <file>', 'a .jsonl / .json file (one object per line, optionally .gz)')
    .requiredOption('--out <file>', 'the .jsonl file to write')
    .option('--turns <mode>', TURNS, oneOf(['hh', 'raw'] as const), 'hh')
    .option('--reward <mode>', REWARD, oneOf(['sigmoid', 'raw'] as const), 'sigmoid')
    .action(convertAlol);
}
