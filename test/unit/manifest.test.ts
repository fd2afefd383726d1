// The extension manifest's Workspace Trust declaration: settings that name a program to run are
// restricted, so a folder's own .vscode/settings.json cannot choose what runs until it is trusted.
// Command ids: every one the manifest names, the extension registers or runs is in COMMANDS.
// The first ten minutes: the walkthrough's steps (each with a completion event that one of our commands
// fires, and media that exist), the icons, the run config's jsonValidation, and the annotation keybindings.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { COLORS, COMMANDS } from '../../src/extension/constants.js';

const root = path.resolve(__dirname, '../../..');
interface Step {
  id: string;
  title: string;
  description: string;
  media: { markdown?: string; image?: string; altText?: string };
  completionEvents: string[];
}
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  icon?: string;
  capabilities: { untrustedWorkspaces: { supported: boolean | 'limited'; restrictedConfigurations?: string[] } };
  contributes: {
    configuration: { properties: Record<string, unknown> } | { properties: Record<string, unknown> }[];
    commands: { command: string }[];
    menus?: Record<string, { command: string }[]>;
    keybindings?: { command: string; key: string; mac?: string; when?: string }[];
    walkthroughs?: { id: string; title: string; description: string; steps: Step[] }[];
    jsonValidation?: { fileMatch: string[]; url: string }[];
    colors?: { id: string; defaults: Record<string, string> }[];
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
    const inKeys = (manifest.contributes.keybindings ?? []).map((k) => k.command);
    for (const id of [...contributed, ...inMenus, ...inKeys]) assert.ok(ids.has(id), `${id} is not in COMMANDS`);
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

describe('extension manifest: the first ten minutes', () => {
  const ids = new Set<string>(Object.values(COMMANDS));

  it('has a walkthrough: demo, dataset advantages, annotation, a reward function, training; each step completes on our command', () => {
    const [w, ...more] = manifest.contributes.walkthroughs ?? [];
    assert.ok(w, 'no walkthrough');
    assert.equal(more.length, 0);
    assert.ok(w.title && w.description);
    const events = w.steps.map((s) => s.completionEvents);
    assert.deepEqual(events.map((e) => e[0]), [
      `onCommand:${COMMANDS.runDemo}`,
      `onCommand:${COMMANDS.auditAdvantages}`,
      `onCommand:${COMMANDS.thumbsUp}`,
      `onCommand:${COMMANDS.checkReward}`,
      `onCommand:${COMMANDS.startTraining}`,
    ]);
    assert.equal(new Set(w.steps.map((s) => s.id)).size, w.steps.length, 'step ids repeat');
    for (const s of w.steps) {
      for (const e of s.completionEvents) {
        const id = /^onCommand:(.+)$/.exec(e)?.[1];
        assert.ok(id && ids.has(id), `${s.id}: completion event ${e} is not one of our commands`);
      }
      // A step's buttons are command links to contributed commands.
      const links = [...s.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]);
      assert.ok(links.length > 0, `${s.id} has no command link`);
      for (const id of links) assert.ok(ids.has(id), `${s.id} links to ${id}`);
      const media = s.media.markdown ?? s.media.image;
      assert.ok(media && existsSync(path.join(root, media)), `${s.id}: media ${media} is missing`);
      if (s.media.image) assert.ok(s.media.altText, `${s.id}: an image needs altText`);
    }
  });

  it('has the extension icon (128x128 PNG) and the activity-bar icon (monochrome SVG, currentColor)', () => {
    assert.equal(manifest.icon, 'media/icon.png');
    const png = readFileSync(path.join(root, 'media', 'icon.png'));
    assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128]);
    const svg = readFileSync(path.join(root, 'media', 'alol-activity.svg'), 'utf8');
    assert.match(svg, /viewBox="0 0 24 24"/);
    assert.match(svg, /currentColor/);
    const colours = svg.match(/#[0-9a-f]{3,6}\b/gi) ?? [];
    assert.deepEqual(colours, [], 'the activity-bar icon must be monochrome (currentColor only)');
  });

  it('contributes the theme colours of the dataset rows\' marks, for every theme kind', () => {
    const contributed = new Map((manifest.contributes.colors ?? []).map((c) => [c.id, c.defaults]));
    for (const id of Object.values(COLORS)) {
      assert.deepEqual(Object.keys(contributed.get(id) ?? {}).sort(), ['dark', 'highContrast', 'highContrastLight', 'light'], id);
    }
    for (const icon of ['filtered.svg', 'annotated.svg', 'filtered-annotated.svg']) {
      assert.ok(existsSync(path.join(root, 'media', icon)), icon);
    }
  });

  it('gives VS Code the run config schema for *.alol.json(c) files', () => {
    const entry = (manifest.contributes.jsonValidation ?? []).find((j) => j.url === './media/run-config.schema.json');
    assert.ok(entry);
    for (const g of ['*.alol.json', '*.alol.jsonc']) assert.ok(entry.fileMatch.includes(g), g);
    assert.ok(existsSync(path.join(root, 'media', 'run-config.schema.json')));
  });

  it('binds keys to Thumbs Up, Thumbs Down and Exclude in .jsonl editors only, without clashing with each other', () => {
    const keys = manifest.contributes.keybindings ?? [];
    for (const id of [COMMANDS.thumbsUp, COMMANDS.thumbsDown, COMMANDS.exclude]) {
      const k = keys.find((x) => x.command === id);
      assert.ok(k, `no keybinding for ${id}`);
      assert.ok(k.mac, `${id}: no mac key`);
      assert.match(k.when ?? '', /editorTextFocus/);
      assert.match(k.when ?? '', /resourceExtname == \.jsonl/);
    }
    const taken = keys.map((k) => k.key);
    assert.equal(new Set(taken).size, taken.length, `a key is bound twice: ${taken.join(', ')}`);
    // The README documents them (rebindable in Keyboard Shortcuts).
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const k of keys) assert.ok(readme.toLowerCase().includes(k.key.toLowerCase()), `README does not mention ${k.key}`);
  });
});
