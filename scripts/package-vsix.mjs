#!/usr/bin/env node
// `npm run package`: builds (`npm run build`, the esbuild extension bundle, and `npm run build:webview`
// when package.json has that script) and packs a linux-x64 .vsix with
// @vscode/vsce, offline, into <repo>/<name>-linux-x64-<version>.vsix; then checks its contents
// against ALLOWED below and prints its size and a per-folder summary.
//
// Why a staging folder: package.json has a "files" field (for npm), and vsce refuses to combine it
// with a .vscodeignore. vsce runs in a temporary folder holding a copy of package.json without
// "files" and symlinks to the folders that ship (STAGED); .vscodeignore filters inside them.
// (Once package.json has no "files", `vsce package` in the repository gives the same contents.)
//
// Usage: node scripts/package-vsix.mjs [--skip-build] [--main ./dist/extension.js] [--out FILE]
//   --main  overrides `main` in the packed manifest only (to try the bundle before package.json does).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 'linux-x64';

// What the staging folder links in (plus README, LICENSE and CHANGELOG files at the top level).
const STAGED = ['.vscodeignore', 'dist', 'out/src', 'webview/dist', 'media', 'docs', 'node_modules'];
// Top-level entries of the .vsix's extension/ folder; anything else fails the check.
const ALLOWED = [/^dist\//, /^out\/src\//, /^webview\/dist\//, /^media\//, /^docs\//, /^node_modules\//,
  /^package\.json$/, /^readme\.md$/i, /^LICENSE(\.\w+)?$/i, /^CHANGELOG\.md$/];
// Never in a linux-x64 .vsix.
const FORBIDDEN = [/^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/(darwin|win32|linux\/arm64)\//,
  /^out\/(test|bench)\//, /^src\//, /^test\//, /^node_modules\/protobufjs\/cli\//];

function parseArgs(argv) {
  const opts = { build: true, main: undefined, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--skip-build') opts.build = false;
    else if (a === '--main') opts.main = argv[++i];
    else if (a === '--out') opts.out = path.resolve(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

function run(cmd, args, cwd = root) {
  console.log(`[package] $ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/** Central directory of a zip file: [{name, size (uncompressed), csize}]. No dependency needed. */
export function listZip(file) {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const csize = buf.readUInt32LE(p + 20), size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    entries.push({ name: buf.toString('utf8', p + 46, p + 46 + nameLen), size, csize });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const vsix = opts.out ?? path.join(root, `${manifest.name}-${TARGET}-${manifest.version}.vsix`);

  if (opts.build) {
    run('npm', ['run', 'build']);
    run(process.execPath, ['scripts/write-config-schema.mjs']);
    run(process.execPath, ['scripts/build-extension.mjs']);
    if (manifest.scripts?.['build:webview']) run('npm', ['run', 'build:webview']);
  }
  if (fs.existsSync(path.join(root, 'webview', 'src')) && !fs.existsSync(path.join(root, 'webview', 'dist'))) {
    console.log('[package] warning: webview/src exists but webview/dist does not: the dashboard is not in this .vsix');
  }

  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-vsix-'));
  try {
    // Only what may ship is linked in, so vsce never walks sources, tests or run output (which
    // other processes may be writing while this runs); .vscodeignore filters inside these.
    const shipped = [...STAGED, ...fs.readdirSync(root).filter((f) => /^(readme|licen[sc]e|changelog)(\.\w+)?$/i.test(f))];
    for (const rel of shipped) {
      if (!fs.existsSync(path.join(root, rel))) continue;
      fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
      fs.symlinkSync(path.join(root, rel), path.join(stage, rel));
    }
    const staged = { ...manifest };
    delete staged.files;
    if (opts.main) staged.main = opts.main;
    fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n');
    if (staged.main !== './dist/extension.js') {
      console.log(`[package] note: main is ${staged.main}; dist/extension.js (the bundle) is packed but not what VS Code loads`);
    }

    const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    const hasLicense = fs.readdirSync(root).some((f) => /^LICEN[SC]E(\.\w+)?$/i.test(f));
    fs.rmSync(vsix, { force: true });
    run(process.execPath, [vsce, 'package', '--target', TARGET, '--out', vsix, '--follow-symlinks',
      '--no-yarn', '--allow-missing-repository', '--no-rewrite-relative-links',
      ...(hasLicense ? [] : ['--skip-license'])], stage);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }

  // Check and summarize.
  const entries = listZip(vsix).filter((e) => e.name.startsWith('extension/'));
  const rel = entries.map((e) => ({ ...e, name: e.name.slice('extension/'.length) }));
  const unexpected = rel.filter((e) => !ALLOWED.some((re) => re.test(e.name)));
  const forbidden = rel.filter((e) => FORBIDDEN.some((re) => re.test(e.name)));
  const groups = new Map();
  for (const e of rel) {
    const parts = e.name.split('/');
    const key = parts[0] === 'node_modules' ? `node_modules/${parts[1].startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]}`
      : parts[0] === 'out' || parts[0] === 'webview' ? `${parts[0]}/${parts[1]}` : parts[0];
    const g = groups.get(key) ?? { files: 0, bytes: 0 };
    g.files++; g.bytes += e.size;
    groups.set(key, g);
  }
  console.log(`[package] contents of ${path.relative(root, vsix)} (uncompressed):`);
  const sorted = [...groups].sort((a, b) => b[1].bytes - a[1].bytes);
  const line = (key, g) => console.log(`  ${key.padEnd(44)} ${String(g.files).padStart(5)} files ${mib(g.bytes).padStart(10)}`);
  for (const [key, g] of sorted.slice(0, 12)) line(key, g);
  const rest = sorted.slice(12);
  if (rest.length) {
    line(`(${rest.length} more)`,
      rest.reduce((s, [, g]) => ({ files: s.files + g.files, bytes: s.bytes + g.bytes }), { files: 0, bytes: 0 }));
  }
  const total = rel.reduce((s, e) => s + e.size, 0);
  console.log(`[package] ${path.relative(root, vsix)}: ${mib(fs.statSync(vsix).size)} `
    + `(${rel.length} files, ${mib(total)} uncompressed), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (unexpected.length || forbidden.length) {
    for (const e of unexpected) console.error(`[package] unexpected in the .vsix (add to .vscodeignore or ALLOWED): ${e.name}`);
    for (const e of forbidden) console.error(`[package] must not be in a ${TARGET} .vsix: ${e.name}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    console.error(`[package] ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  }
}
