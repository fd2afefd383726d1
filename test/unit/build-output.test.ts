// `npm run build` starts from an empty out/: every compiled file has its TypeScript source, so the compiled
// test of a deleted source cannot keep running (node --test runs every *.test.js under out/test/).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../../..');
const out = path.join(root, 'out');

function compiled(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? compiled(p) : e.name.endsWith('.js') ? [path.relative(out, p)] : [];
  });
}

describe('build output', () => {
  it('holds no compiled file whose source is gone', () => {
    const orphans = compiled(out).filter((f) => !existsSync(path.join(root, f.replace(/\.js$/, '.ts'))));
    assert.deepEqual(orphans, [], `compiled files without a source (npm run build cleans out/ first): ${orphans.join(', ')}`);
  });

  it('the build script empties out/ before compiling', () => {
    const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(scripts.build, /^npm run clean && tsc -p \.( && node scripts\/copy-python\.mjs)?$/);
    assert.match(scripts.clean, /rmSync\('out'/);
  });
});
