// The run config's JSON Schema reaches the editor and agrees with the trainer: every field has a
// description (zod .describe(): hovers), media/run-config.schema.json is the schema generated from
// src/protocol/config.ts (ALOL_WRITE_SCHEMA=1 or `npm run build:schema` rewrites it; packaging always
// does), package.json's jsonValidation gives it to VS Code for the names run configs have, and a JSON
// Schema validator (ajv, draft 7 as VS Code reads it) accepts every config the project documents or writes
// (README/docs jsonc blocks, examples/*.alol.json, the New Run Config template) and rejects a typo at the
// key path the trainer's own loader names.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import { type ParseError, parse as parseJsonc } from 'jsonc-parser';
import { runConfigJsonSchema } from '../../src/protocol/config.js';
import { runConfigTemplate } from '../../src/extension/runConfigTemplate.js';
import { validateConfig } from '../../src/trainer/run/load-config.js';

const root = path.resolve(__dirname, '../../..');
const file = path.join(root, 'media', 'run-config.schema.json');
type Schema = { properties?: Record<string, Schema>; anyOf?: Schema[]; items?: Schema | Schema[]; description?: string };

/** Dotted paths of the properties without a description (union members and array items walked too). */
function undescribed(s: Schema, at = ''): string[] {
  const own = Object.entries(s.properties ?? {}).flatMap(([k, v]) => [
    ...(v.description ? [] : [`${at}${k}`]),
    ...undescribed(v, `${at}${k}.`),
  ]);
  const items = Array.isArray(s.items) ? s.items : s.items ? [s.items] : [];
  return [...own, ...(s.anyOf ?? []).flatMap((x) => undescribed(x, at)), ...items.flatMap((x) => undescribed(x, `${at}[].`))];
}

const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  contributes: { jsonValidation: { fileMatch: string[]; url: string }[] };
};
const entry = manifest.contributes.jsonValidation.find((j) => j.url === './media/run-config.schema.json');
/** VS Code's fileMatch: a pattern with a '/' matches the end of the path, one without matches the file name. */
const matches = (rel: string) => entry?.fileMatch.some((g) => {
  const re = g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(g.includes('/') ? `(^|/)${re.replace(/^\\?\//, '')}$` : `(^|/)${re}$`).test(rel);
});

/** Every config the project documents or writes: [where, text]. */
function documentedConfigs(): [string, string][] {
  const out: [string, string][] = [];
  const docs = ['README.md', 'CONTRIBUTING.md', ...readdirSafe('docs').map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));
  for (const doc of docs) {
    let text: string;
    try {
      text = readFileSync(path.join(root, doc), 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^```jsonc?\n([\s\S]*?)^```/gm)) {
      const line = text.slice(0, m.index).split('\n').length;
      out.push([`${doc}:${line}`, m[1]]);
    }
  }
  for (const f of readdirSafe('examples').filter((n) => /\.json$/.test(n))) {
    out.push([`examples/${f}`, readFileSync(path.join(root, 'examples', f), 'utf8')]);
  }
  out.push(['the New Run Config template', runConfigTemplate('data/train.jsonl')]);
  return out;
}
function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(path.join(root, dir));
  } catch {
    return [];
  }
}

describe('run config schema for the editor', () => {
  const generated = runConfigJsonSchema();
  if (process.env.ALOL_WRITE_SCHEMA === '1') writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`);
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);

  it('describes every field; draft 7, as VS Code reads it', () => {
    assert.deepEqual(undescribed(generated as Schema), []);
    assert.ok((generated as Schema).description);
    assert.equal((generated as { $schema?: string }).$schema, 'http://json-schema.org/draft-07/schema#');
  });

  it('media/run-config.schema.json is the generated schema', () => {
    const hint = 'regenerate: npm run build && npm run build:schema';
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), generated, hint);
  });

  it('package.json hands it to VS Code for run config files (*.alol.json(c), examples/), and only those', () => {
    assert.ok(entry, 'no jsonValidation entry for ./media/run-config.schema.json');
    for (const name of ['run.alol.jsonc', 'run-2.alol.jsonc', 'score.alol.json', 'examples/hh-harmless.alol.json', 'alol.run.jsonc']) {
      assert.ok(matches(name), name);
    }
    for (const name of ['package.json', 'tsconfig.json', '.vscode/settings.json', 'data.jsonl']) assert.ok(!matches(name), name);
    // The examples are named by the convention, so they match without a folder rule.
    for (const f of readdirSafe('examples').filter((n) => n.endsWith('.json'))) assert.match(f, /\.alol\.json$/, `examples/${f}`);
  });

  it('every documented or written config validates clean, in the schema and in the trainer', () => {
    const configs = documentedConfigs();
    assert.ok(configs.length >= 4, `found only ${configs.map((c) => c[0]).join(', ')}`);
    for (const [where, text] of configs) {
      const errors: ParseError[] = [];
      const value = parseJsonc(text, errors, { allowTrailingComma: true }) as Record<string, unknown>;
      assert.deepEqual(errors, [], `${where}: not JSON with comments`);
      assert.ok(validate(value), `${where}: ${ajv.errorsText(validate.errors)}`);
      assert.doesNotThrow(() => validateConfig(value, where));
    }
  });

  it('accepts "$schema" as a key (and so does the trainer)', () => {
    const config = { $schema: './node_modules/alol/media/run-config.schema.json', train: { variant: 'dpo' } };
    assert.ok(validate(config), ajv.errorsText(validate.errors));
    assert.doesNotThrow(() => validateConfig(config, 'x.alol.json'));
  });

  /** ajv's errors as key paths: "train.varient" for an unknown key, "train.variant" for a bad value. */
  const ajvPaths = (v: unknown): string[] => {
    assert.equal(validate(v), false, 'a typo validated');
    return [...new Set((validate.errors ?? []).map((e) => {
      const at = e.instancePath.split('/').filter(Boolean);
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return [...at, ...(extra ? [extra] : [])].join('.');
    }))];
  };
  /** The trainer's loader's message for the same config: "x.alol.json: train: unknown key "varient"". */
  const trainerMessage = (v: Record<string, unknown>): string => {
    try {
      validateConfig(v, 'x.alol.json');
    } catch (e) {
      return (e as Error).message;
    }
    return assert.fail('the trainer accepted a typo');
  };

  it('rejects a misspelt key and a misspelt value at the key path the trainer reports', () => {
    const key = { train: { varient: 'a_lol' } };
    assert.deepEqual(ajvPaths(key), ['train.varient']);
    assert.equal(trainerMessage(key), 'x.alol.json: train: unknown key "varient"');

    const value = { train: { variant: 'a_lol_sq' } };
    assert.deepEqual(ajvPaths(value), ['train.variant']);
    assert.match(trainerMessage(value), /^x\.alol\.json: train\.variant: /);

    const nested = { rewards: [{ name: 'r', kind: 'builtin', scorer: 'sentiment', wieght: 2 }] };
    assert.ok(ajvPaths(nested).includes('rewards.0.wieght'), JSON.stringify(ajvPaths(nested)));
    assert.match(trainerMessage(nested), /rewards\.0(\.wieght)?: /);
  });
});
