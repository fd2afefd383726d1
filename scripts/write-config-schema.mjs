#!/usr/bin/env node
// Writes media/run-config.schema.json from the zod run config (out/src/protocol/config.js, so run
// `npm run build` first): `npm run build:schema`, and every `npm run package`, so a .vsix always carries
// the schema of the trainer it ships. test/unit/config-schema.test.ts fails when the committed file is stale.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { runConfigJsonSchema } = createRequire(import.meta.url)(path.join(root, 'out', 'src', 'protocol', 'config.js'));
const file = path.join(root, 'media', 'run-config.schema.json');
const text = `${JSON.stringify(runConfigJsonSchema(), null, 2)}\n`;
const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
if (old !== text) fs.writeFileSync(file, text);
console.log(`[schema] ${path.relative(root, file)} ${old === text ? 'up to date' : 'written'}`);
