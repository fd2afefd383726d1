#!/usr/bin/env node
// Soak test of the UI suites: runs the webview suite (test/webview) and every end-to-end suite
// (test/e2e/*.test.mjs) N times in a row, optionally while two busy processes hog both cores, and
// prints each test's pass rate. A tool for finding flaky tests, not a test: .ci/run does not call it.
//
// Usage: scripts/ci-soak.sh N [--load] [--only PATTERN]
//   (or node scripts/ci-soak.mjs N [--load] [--only PATTERN] after `npm run package`,
//   `npm run build:webview` and scripts/e2e-setup.sh, which the .sh wrapper runs once first)
//   --load        two `node -e 'for(;;);'` processes run during every suite (started and ended here)
//   --only RE     only the suite files whose path matches RE (e.g. --only host)
// Output: one line per suite run as it ends, then a table of pass rates per test; TAP and console
// logs of every run under test/e2e/artifacts/soak-<time>/. Exit code 0 when every test passed every time.
// Ctrl+C stops after ending the suite in progress and prints the table of the runs so far.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const o = { n: NaN, load: false, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--load') o.load = true;
    else if (a === '--only') o.only = new RegExp(argv[++i]);
    else if (/^\d+$/.test(a)) o.n = Number(a);
    else throw new Error(`unknown argument ${a} (usage: ci-soak N [--load] [--only PATTERN])`);
  }
  if (!(o.n >= 1)) throw new Error('usage: ci-soak N [--load] [--only PATTERN] (N ≥ 1 runs)');
  return o;
}

/** The suite files, in the order CI runs them: the webview suite, then the e2e suites. */
function suites(only) {
  const files = [
    ...fs.readdirSync(path.join(ROOT, 'test', 'webview')).filter((f) => f.endsWith('.test.mjs')).map((f) => `test/webview/${f}`),
    ...fs.readdirSync(path.join(ROOT, 'test', 'e2e')).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => `test/e2e/${f}`),
  ];
  return only ? files.filter((f) => only.test(f)) : files;
}

/** Two processes that keep both cores busy until stop() (each in its own group, killed with it). */
function startLoad() {
  const hogs = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore', detached: true }));
  const stop = () => {
    for (const h of hogs) {
      try {
        process.kill(-h.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  process.on('exit', stop);
  return stop;
}

/**
 * Results of one TAP stream: full test title (parents joined by " › ") → 'pass' | 'fail' | 'skip', leaves only,
 * and the first line of each failure's error.
 */
export function parseTap(text) {
  const stack = [];
  const results = new Map();
  const errors = new Map();
  let lastFailed = null;
  let errorNext = false; // `error: |-`: the message is on the next line
  for (const line of text.split('\n')) {
    if (errorNext) {
      errorNext = false;
      if (lastFailed && !errors.has(lastFailed)) errors.set(lastFailed, line.trim().slice(0, 300));
      continue;
    }
    const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (sub) {
      const depth = sub[1].length / 4;
      stack.length = depth;
      stack[depth] = sub[2];
      continue;
    }
    const res = /^(\s*)(not ok|ok) \d+ - (.*?)(\s+#\s*(SKIP|TODO).*)?$/.exec(line);
    if (res) {
      const depth = res[1].length / 4;
      const title = [...stack.slice(0, depth), res[3]].join(' › ');
      results.set(title, res[5] ? 'skip' : res[2] === 'ok' ? 'pass' : 'fail');
      lastFailed = res[2] === 'not ok' ? title : null;
      continue;
    }
    const err = /^\s*error: (.*)$/.exec(line);
    if (err && /^[|>]-?$/.test(err[1].trim())) errorNext = true;
    else if (err && lastFailed && !errors.has(lastFailed)) errors.set(lastFailed, err[1].replace(/^'|'$/g, '').slice(0, 300));
  }
  const titles = [...results.keys()];
  const leaves = new Map(titles.filter((t) => !titles.some((u) => u !== t && u.startsWith(`${t} › `))).map((t) => [t, results.get(t)]));
  return { leaves, errors };
}

// Ctrl+C (or SIGTERM) ends the suite in progress (its harness kills its servers) and prints the table so far.
let stopping = false;
let current = null;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping = true;
    if (current) {
      try {
        process.kill(-current.pid, 'SIGTERM'); // the suite's whole group: node --test and the test file's process
      } catch {
        // gone already
      }
    }
  });
}

function runSuite(file, tapFile, logFile) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const log = fs.openSync(logFile, 'w');
    const args = ['--test', '--test-concurrency=1', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      '--test-reporter=spec', '--test-reporter-destination=stdout', file];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', log, log], detached: true });
    current = child;
    child.on('exit', (code, signal) => {
      current = null;
      fs.closeSync(log);
      resolve({ code: code ?? signal, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const files = suites(o.only);
  if (files.length === 0) throw new Error('no suite file matches --only');
  const out = path.join(ROOT, 'test', 'e2e', 'artifacts', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(out, { recursive: true });
  const hog = o.load ? ', with a CPU hog on 2 cores' : '';
  console.log(`# ci-soak: ${o.n} run(s) of ${files.join(', ')}${hog}; logs in ${path.relative(ROOT, out)}`);
  const stopLoad = o.load ? startLoad() : () => {};
  const tally = new Map(); // title -> { pass, fail, skip, errors: [] }
  const suiteFailures = [];
  const t0 = Date.now();
  let rounds = 0; // whole rounds done (every suite once)
  try {
    for (let i = 1; i <= o.n && !stopping; i++) {
      for (const file of files) {
        const base = `${i}-${path.basename(file, '.test.mjs')}`;
        const tapFile = path.join(out, `${base}.tap`);
        const { code, seconds } = await runSuite(file, tapFile, path.join(out, `${base}.log`));
        if (stopping) {
          console.log(`run ${i}/${o.n} ${file}: interrupted (not counted)`);
          break;
        }
        const { leaves, errors } = parseTap(fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '');
        let pass = 0;
        let fail = 0;
        for (const [title, state] of leaves) {
          const t = tally.get(`${file} › ${title}`) ?? { pass: 0, fail: 0, skip: 0, errors: [] };
          t[state]++;
          if (state === 'fail') t.errors.push(`run ${i}: ${errors.get(title) ?? '(see the log)'}`);
          tally.set(`${file} › ${title}`, t);
          if (state === 'pass') pass++;
          if (state === 'fail') fail++;
        }
        // A suite that exits non-zero with no failing test (a crash, a hook, a timeout) counts as a failure of its own.
        if (code !== 0 && fail === 0) suiteFailures.push(`run ${i}: ${file} exited ${code} with no failing test (see ${base}.log)`);
        console.log(`run ${i}/${o.n} ${file}: ${pass} passed, ${fail} failed, exit ${code}, ${seconds.toFixed(0)} s`);
      }
      if (!stopping) rounds = i;
    }
  } finally {
    stopLoad();
  }
  const done = stopping ? `${rounds} whole round(s) of ${o.n} before the interrupt` : `${o.n} run(s)`;
  console.log(`\n# pass rate per test (${done}${o.load ? ', under load' : ''}, ${((Date.now() - t0) / 60_000).toFixed(1)} min)`);
  let flaky = 0;
  for (const [title, t] of [...tally].sort((a, b) => a[0].localeCompare(b[0]))) {
    const runs = t.pass + t.fail;
    if (t.fail) flaky++;
    const skipped = t.skip ? ` (${t.skip} skipped)` : '';
    console.log(`${t.fail ? 'FAIL' : 'ok  '} ${String(t.pass).padStart(3)}/${String(runs).padEnd(3)} ${title}${skipped}`);
    for (const e of t.errors) console.log(`       ${e}`);
  }
  for (const s of suiteFailures) console.log(`FAIL ${s}`);
  const tests = tally.size;
  const passedAll = tests - flaky;
  console.log(`\n${passedAll} passed, ${flaky + suiteFailures.length} failed`
    + ' (tests that passed every time they ran / tests or suites that failed at least once)');
  process.exitCode = stopping ? 130 : flaky || suiteFailures.length ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`ci-soak: ${e.message}`);
    process.exit(2);
  });
}
