#!/usr/bin/env node
// Bundles the extension host entry point, src/extension/extension.ts, into dist/extension.js with
// esbuild (CommonJS, Node 20, `vscode` external). This is what the .vsix runs (package.json `main`
// should be ./dist/extension.js). The trainer is NOT bundled here: it ships as tsc output (out/src)
// and runs as a node subprocess. esbuild does not type-check; `npm run build` (tsc) does.
//
// Usage: node scripts/build-extension.mjs [--minify] [--watch]
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: ['src/extension/extension.ts'],
  outfile: 'dist/extension.js',
  bundle: true,
  platform: 'node',
  // Prefer packages' ESM builds: jsonc-parser's UMD main requires its modules dynamically.
  mainFields: ['module', 'main'],
  format: 'cjs',
  target: 'node20',
  // `vscode` is provided by the extension host. onnxruntime-node must never be in the extension
  // host (eslint enforces the import boundary); keep it external so a slip fails loudly at run time
  // instead of bundling a native module.
  external: ['vscode', 'onnxruntime-node'],
  sourcemap: true,
  minify: args.has('--minify'),
  logLevel: 'info',
  metafile: true,
};

if (args.has('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('[build-extension] watching src/extension ...');
} else {
  const started = Date.now();
  const result = await esbuild.build(options);
  const out = result.metafile.outputs['dist/extension.js'];
  console.log(`[build-extension] dist/extension.js ${(out.bytes / 1024).toFixed(1)} KiB, `
    + `${Object.keys(out.inputs).length} input(s), ${Date.now() - started} ms`);
}
