// Entry point of the extension-host suite (`extensionTestsPath`): VS Code loads this module inside
// the real extension host and calls run(); a rejection is exit code 1. The host's stdout is not
// visible, so the results go to the JSON file named by ALOL_E2E_RESULTS (test/e2e/lib/harness.mjs
// sets it on code-server, whose environment the extension host inherits) and the runner asserts them.
// Every *.test.js next to this file (compiled from test/e2e/suite/*.test.ts) is part of the suite.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import Mocha from 'mocha';

export interface SuiteTestResult {
  title: string;
  fullTitle: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs: number;
  error?: string;
}

export interface SuiteResults {
  vscodeVersion: string;
  passed: number;
  failed: number;
  pending: number;
  tests: SuiteTestResult[];
}

export function run(): Promise<void> {
  const resultsFile = process.env.ALOL_E2E_RESULTS ?? path.join(os.tmpdir(), 'alol-e2e-results.json');
  // ALOL_E2E_GREP (inherited through code-server) runs only the tests whose full title matches it.
  const grep = process.env.ALOL_E2E_GREP;
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 20_000, reporter: 'dot', ...(grep ? { grep } : {}) });
  for (const file of fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort()) {
    mocha.addFile(path.join(__dirname, file));
  }
  const results: SuiteResults = { vscodeVersion: vscode.version, passed: 0, failed: 0, pending: 0, tests: [] };
  const write = () => fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2));
  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        write();
        if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
        else resolve();
      });
      runner.on('pass', (t) => {
        results.passed++;
        results.tests.push({ title: t.title, fullTitle: t.fullTitle(), state: 'passed', durationMs: t.duration ?? 0 });
      });
      runner.on('fail', (t, err: Error) => {
        results.failed++;
        results.tests.push({ title: t.title, fullTitle: t.fullTitle(), state: 'failed', durationMs: t.duration ?? 0,
          error: err?.stack ?? String(err) });
      });
      runner.on('pending', (t) => {
        results.pending++;
        results.tests.push({ title: t.title, fullTitle: t.fullTitle(), state: 'pending', durationMs: 0 });
      });
    } catch (e) {
      results.failed++;
      results.tests.push({ title: 'load suite', fullTitle: 'load suite', state: 'failed', durationMs: 0,
        error: e instanceof Error ? e.stack ?? e.message : String(e) });
      write();
      reject(e);
    }
  });
}
