// The extension manifest's Workspace Trust declaration: settings that name a program to run are
// restricted, so a folder's own .vscode/settings.json cannot choose what runs until it is trusted.
// Command ids: every one the manifest names, the extension registers or runs is in COMMANDS.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../src/extension/constants.js';

const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
  capabilities: { untrustedWorkspaces: { supported: boolean | 'limited'; restrictedConfigurations?: string[] } };
  contributes: {
    configuration: { properties: Record<string, unknown> } | { properties: Record<string, unknown> }[];
    commands: { command: string }[];
    menus?: Record<string, { command: string }[]>;
  };
};

describe('extension manifest: workspace trust', () => {
  it('restricts the settings that choose the program to run, and names only contributed settings', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, 'limited');
    const restricted = new Set(trust.restrictedConfigurations ?? []);
    for (const key of ['alolStudio.nodePath', 'alolStudio.trainer.command']) assert.ok(restricted.has(key), `${key} is not restricted`);
    const configuration = manifest.contributes.configuration;
    const sections = Array.isArray(configuration) ? configuration : [configuration];
    const contributed = new Set(sections.flatMap((s) => Object.keys(s.properties)));
    for (const key of restricted) assert.ok(contributed.has(key), `${key} is restricted but not contributed`);
  });
});

describe('extension manifest: command ids', () => {
  const ids = new Set<string>(Object.values(COMMANDS));
  const extensionDir = path.resolve(__dirname, '../../../src/extension');

  it('names only commands of COMMANDS, and contributes every one but the internal openAdvantageBin', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command);
    const inMenus = Object.values(manifest.contributes.menus ?? {}).flatMap((m) => m.map((x) => x.command));
    for (const id of [...contributed, ...inMenus]) assert.ok(ids.has(id), `${id} is not in COMMANDS`);
    assert.deepEqual([...ids].filter((id) => !contributed.includes(id)), [COMMANDS.openAdvantageBin]);
  });

  it('the extension registers every command of COMMANDS and spells no command id outside constants.ts', () => {
    const commands = readFileSync(path.join(extensionDir, 'commands.ts'), 'utf8');
    for (const key of Object.keys(COMMANDS)) {
      assert.match(commands, new RegExp(`cmd\\(COMMANDS\\.${key},`), `COMMANDS.${key} is not registered`);
    }
    for (const f of readdirSync(extensionDir).filter((n) => n.endsWith('.ts') && n !== 'constants.ts')) {
      const literal = /['"]alolStudio\.[A-Za-z.]+['"]/.exec(readFileSync(path.join(extensionDir, f), 'utf8'));
      assert.equal(literal, null, `${f} spells ${literal?.[0]}: use COMMANDS (or VIEW_DASHBOARD / CONFIG_SECTION)`);
    }
  });
});
