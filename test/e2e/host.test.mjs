// Extension-host tests: the mocha suite compiled from test/e2e/suite/*.ts runs inside the real
// VS Code extension host (code-server with the smoke-test driver), with the packaged .vsix, as
// installed by code-server, as the development extension. Each mocha test is reported here as a
// node:test subtest. Needs `npm run package` (which also compiles the suite) and scripts/e2e-setup.sh.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, installVsix, runExtensionTests, vsixPath } from './lib/harness.mjs';

const SUITE = path.join(ROOT, 'out', 'test', 'e2e', 'suite', 'index');

// The bound covers the suite on a machine whose cores are busy with other work; runExtensionTests fails early, saying
// so, when VS Code stops printing (a hang) rather than after a fixed time.
describe('extension-host suite (mocha in the real extension host)', { timeout: 1_200_000 }, () => {
  let tmp;
  let run;

  before(async () => {
    assert.ok(fs.existsSync(`${SUITE}.js`), `${path.relative(ROOT, SUITE)}.js is missing: run \`npm run build\``);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'alol-e2e-host-'));
    const extensionPath = installVsix(vsixPath(), path.join(tmp, 'extensions'));
    const workspace = path.join(tmp, 'workspace');
    fs.mkdirSync(workspace);
    run = await runExtensionTests({ extensionPath, testsPath: SUITE, workspace });
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs the suite in VS Code and every test passes', async (t) => {
    const { results, exitCode } = run;
    console.log(`# VS Code ${results.vscodeVersion}: ${results.passed} passed, ${results.failed} failed, ${results.pending} pending`);
    assert.ok(results.tests.length > 0, 'the suite ran no tests');
    for (const r of results.tests) {
      await t.test(r.fullTitle, { skip: r.state === 'pending' }, () => {
        if (r.state === 'failed') assert.fail(r.error);
      });
    }
    assert.equal(results.failed, 0, `${results.failed} failed:\n${run.logs}`);
    assert.equal(exitCode, 0, `the suite passed but the extension host exited with ${exitCode}`);
  });
});
