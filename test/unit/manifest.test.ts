// The extension manifest's Workspace Trust declaration: settings that name a program to run are
// restricted, so a folder's own .vscode/settings.json cannot choose what runs until it is trusted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
  capabilities: { untrustedWorkspaces: { supported: boolean | 'limited'; restrictedConfigurations?: string[] } };
  contributes: { configuration: { properties: Record<string, unknown> } | { properties: Record<string, unknown> }[] };
};

describe('extension manifest: workspace trust', () => {
  it('restricts the settings that choose the program to run, and names only contributed settings', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, 'limited');
    const restricted = new Set(trust.restrictedConfigurations ?? []);
    for (const key of ['alolStudio.nodePath', 'alolStudio.trainer.command']) assert.ok(restricted.has(key), `${key} is not restricted`);
    const sections = Array.isArray(manifest.contributes.configuration) ? manifest.contributes.configuration : [manifest.contributes.configuration];
    const contributed = new Set(sections.flatMap((s) => Object.keys(s.properties)));
    for (const key of restricted) assert.ok(contributed.has(key), `${key} is restricted but not contributed`);
  });
});
