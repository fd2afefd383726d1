// Runs inside the real VS Code extension host against the packaged extension (see index.ts and
// test/e2e/host.test.mjs). mocha's functions are imported, not used as globals.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { before, describe, it } from 'mocha';

const EXTENSION_ID = 'alol-studio.alol-studio';

interface Manifest {
  main?: string;
  contributes?: {
    commands?: { command: string }[];
    configuration?: ConfigurationSection | ConfigurationSection[];
  };
}
interface ConfigurationSection {
  properties?: Record<string, { default?: unknown }>;
}

describe('A-LoL Studio extension', () => {
  let ext: vscode.Extension<unknown>;
  let manifest: Manifest;

  before(async () => {
    const found = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(found, `${EXTENSION_ID} is not loaded`);
    ext = found;
    manifest = ext.packageJSON as Manifest;
    await ext.activate();
  });

  it('activates', () => {
    assert.equal(ext.isActive, true);
  });

  it('loads its main from the installed package', () => {
    assert.ok(manifest.main, 'package.json has no main');
    const main = path.join(ext.extensionPath, manifest.main);
    assert.ok(fs.existsSync(main) || fs.existsSync(`${main}.js`), `${main} is missing`);
  });

  it('registers alolStudio.showVersion and every contributed command', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.ok(registered.has('alolStudio.showVersion'), 'alolStudio.showVersion is not registered');
    for (const { command } of manifest.contributes?.commands ?? []) {
      assert.ok(registered.has(command), `${command} is contributed but not registered`);
    }
  });

  it('runs alolStudio.showVersion and shows the installed version', async () => {
    // The command returns the text of the message it shows (toasts are hidden in smoke-test mode;
    // test/e2e/ui.test.mjs sees the toast itself).
    const shown = await vscode.commands.executeCommand<string>('alolStudio.showVersion');
    assert.equal(shown, `A-LoL Studio ${(ext.packageJSON as { version: string }).version}`);
  });

  it('reads the alolStudio configuration section and each contributed setting', () => {
    const config = vscode.workspace.getConfiguration('alolStudio');
    assert.equal(typeof config.get, 'function');
    const sections = manifest.contributes?.configuration;
    const properties = (Array.isArray(sections) ? sections : sections ? [sections] : [])
      .flatMap((s) => Object.entries(s.properties ?? {}));
    for (const [key, schema] of properties) {
      assert.ok(key.startsWith('alolStudio.'), `setting ${key} is outside the alolStudio section`);
      const inspected = vscode.workspace.getConfiguration().inspect(key);
      assert.ok(inspected, `${key} is contributed but unknown to VS Code`);
      if ('default' in schema) assert.deepEqual(inspected.defaultValue, schema.default, `${key}: default`);
      assert.deepEqual(config.get(key.slice('alolStudio.'.length)), inspected.defaultValue, `${key}: value`);
    }
  });
});
