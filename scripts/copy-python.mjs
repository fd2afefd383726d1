#!/usr/bin/env node
// Copies the PyTorch worker's Python package (src/trainer/compute/torch/: pyproject.toml, alol_torch/*.py) beside
// its compiled Node client in out/src/trainer/compute/torch/, where the client finds it at run time (the .vsix
// ships out/src, not src). Part of `npm run build`, after tsc. Tests and __pycache__ stay behind.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'src/trainer/compute/torch');
const to = path.join(root, 'out/src/trainer/compute/torch');
mkdirSync(path.join(to, 'alol_torch'), { recursive: true });
cpSync(path.join(from, 'pyproject.toml'), path.join(to, 'pyproject.toml'));
const files = readdirSync(path.join(from, 'alol_torch')).filter((f) => f.endsWith('.py'));
for (const f of files) cpSync(path.join(from, 'alol_torch', f), path.join(to, 'alol_torch', f));
console.log(`[copy-python] ${files.length} files of alol_torch -> out/src/trainer/compute/torch/`);
