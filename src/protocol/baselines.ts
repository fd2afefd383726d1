// Run-config settings of the baselines researchers compare A-LoL with (issue 25): filtered_bc, rwr, awr,
// kto, qrpo and pro, each a loss on the same training step (src/trainer/alol/baselines.ts). One object per
// variant under `train`; every field has a default and a description. Pure: imports only zod.

import { z } from 'zod';

/** Variants added by issue 25 (their losses: src/trainer/alol/baselines.ts). */
export const BASELINE_VARIANTS = ['filtered_bc', 'rwr', 'awr', 'kto', 'qrpo', 'pro'] as const;

const threshold = (what: string) =>
  z
    .number()
    .finite()
    .nullable()
    .default(null)
    .describe(`${what} (null: the median of the training rows' total rewards)`);

const weights = (which: string) => ({
  tau: z.number().positive().default(0.1).describe(`temperature: w = exp(${which} / tau), normalised to mean 1 over each batch`),
  wMax: z.number().positive().default(20).describe('weights are clipped at this after the normalisation'),
});

export const BaselineSettingsSchema = {
  filteredBc: z
    .strictObject({
      filter: z
        .enum(['threshold', 'best_of_prompt'])
        .default('threshold')
        .describe('threshold: rows with R >= threshold; best_of_prompt: the best response of each prompt (RAFT / ReST style)'),
      threshold: threshold('filter "threshold": rows with a total reward at least this are kept'),
    })
    .prefault({})
    .describe('filtered_bc: NLL on the rows a rule keeps'),
  rwr: z.strictObject(weights('R')).prefault({}).describe('rwr: reward-weighted regression, w(R) x NLL'),
  awr: z
    .strictObject(weights('A'))
    .prefault({})
    .describe('awr: advantage-weighted regression, w(A) x NLL with A = R - V from the audit\'s value head'),
  kto: z
    .strictObject({
      beta: z.number().positive().default(0.1).describe('beta of the implicit reward beta (l - l_ref - z0)'),
      lambdaD: z.number().positive().default(1).describe('weight of desirable rows (R >= threshold)'),
      lambdaU: z.number().positive().default(1).describe('weight of undesirable rows (R < threshold)'),
      threshold: threshold('rows with a total reward at least this are desirable, the others undesirable'),
    })
    .prefault({})
    .describe('kto: Kahneman-Tversky optimisation on rows labelled desirable / undesirable by their reward (z0 as in TRL)'),
  qrpo: z
    .strictObject({
      beta: z.number().positive().default(0.1).describe('beta of (q - beta log Z - beta (l - l_ref))^2'),
      samples: z
        .number()
        .int()
        .min(1)
        .default(8)
        .describe('reference rewards per training prompt: K samples of pi_ref scored by the rewards (with rewards that score text)'),
    })
    .prefault({})
    .describe(
      'qrpo: quantile reward policy optimisation; q = the share of the prompt\'s reference rewards <= R (reference rewards: K pi_ref ' +
        'samples, or with field rewards the prompt\'s other dataset responses)',
    ),
  pro: z
    .strictObject({
      sftWeight: z
        .number()
        .min(0)
        .default(0.05)
        .describe('weight of the NLL of each prompt\'s best response (times (n - 1)^2 for n responses, as the A-LoL authors\' script)'),
    })
    .prefault({})
    .describe('pro: preference ranking optimisation over each prompt\'s responses ordered by R (needs several responses per prompt)'),
};
