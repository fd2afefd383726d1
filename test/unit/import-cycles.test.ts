// No import cycle anywhere in src/ (DESIGN.md "Layout": the algorithm, the value head, the pipeline and
// the compute backend depend one way). A hand-written walk over the import lines of every source file,
// type-only imports included: a cycle through types still ties two modules together.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(__dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports (and re-exports) of a file, resolved to source files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gm)].map((m) => m[1]);
  return specs.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** The first cycle found by a depth-first walk, as a list of files, or null. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | null => {
    if (state.get(f) === 'done') return null;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      const c = visit(g);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return null;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

describe('import graph', () => {
  it('src/ has no import cycle', () => {
    const files = sources(path.join(root, 'src'));
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((g) => files.includes(g))]));
    assert.ok(graph.size > 50);
    const cycle = findCycle(graph);
    assert.equal(cycle, null, `import cycle: ${cycle?.map((f) => path.relative(root, f)).join(' -> ')}`);
  });

  it('src/trainer/alol/ (the algorithm) imports neither the pipeline, the run, nor the compute backend', () => {
    const alol = sources(path.join(root, 'src', 'trainer', 'alol'));
    for (const f of alol) {
      for (const g of importsOf(f)) {
        const rel = path.relative(path.join(root, 'src', 'trainer'), g);
        assert.ok(!/^(pipeline|run|compute[/\\]ort|runtime|cli)[/\\]/.test(rel), `${path.relative(root, f)} imports ${rel}`);
      }
    }
  });
});
