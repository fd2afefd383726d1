// The run config's descriptions reach the editor: every field of the schema has one (zod .describe()),
// media/run-config.schema.json is the schema generated from src/protocol/config.ts (so hovers never go
// stale; ALOL_WRITE_SCHEMA=1 rewrites it), and package.json's jsonValidation gives that file to VS Code
// for the names run configs have (the New Run Config template writes alol.run.jsonc).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runConfigJsonSchema } from '../../src/protocol/config.js';

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

describe('run config schema for the editor', () => {
  const generated = runConfigJsonSchema();
  if (process.env.ALOL_WRITE_SCHEMA === '1') writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`);

  it('describes every field', () => {
    assert.deepEqual(undescribed(generated as Schema), []);
    assert.ok((generated as Schema).description);
  });

  it('media/run-config.schema.json is the generated schema', () => {
    const hint = 'regenerate: npm run build && ALOL_WRITE_SCHEMA=1 node --test out/test/unit/config-schema.test.js';
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), generated, hint);
  });

  it('package.json hands it to VS Code for run config files', () => {
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      contributes: { jsonValidation: { fileMatch: string[]; url: string }[] };
    };
    const entry = manifest.contributes.jsonValidation.find((j) => j.url === './media/run-config.schema.json');
    assert.ok(entry, 'no jsonValidation entry for ./media/run-config.schema.json');
    const glob = (g: string) => new RegExp(`^${g.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    const matches = (name: string) => entry.fileMatch.some((g) => glob(g).test(name));
    for (const name of ['alol.run.jsonc', 'alol.run-2.jsonc', 'score.alol.json', 'hh.alol.jsonc']) assert.ok(matches(name), name);
    for (const name of ['package.json', 'tsconfig.json', 'settings.json']) assert.ok(!matches(name), name);
  });
});
