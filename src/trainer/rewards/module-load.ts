// Evaluating a bundled reward module and picking its score function: shared by the worker thread
// (normal runs, with time limits) and the in-process host used while debugging (breakpoints).

import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export type ScoreFn = (batch: unknown[]) => unknown;

export function loadScoreFunction(code: string, file: string, exportName: string | null): ScoreFn {
  const mod = { exports: {} as Record<string, unknown> };
  // The bundle is generated code: named apart from the user's file, mapped back to it by its source map,
  // whose comment must stay the script's last line for debuggers to find it (lines are not shifted).
  const map = /\n(\/\/# sourceMappingURL=[^\n]*)\s*$/.exec(code);
  const body = map ? code.slice(0, map.index) : code;
  const source = `(function (exports, require, module, __filename, __dirname) {${body}\n})${map ? `\n${map[1]}` : ''}`;
  const wrapper = new vm.Script(source, { filename: `${file}.alol-bundle.js` });
  const fn = wrapper.runInThisContext() as (...args: unknown[]) => void;
  fn(mod.exports, createRequire(file), mod, file, path.dirname(file));
  const candidate = exportName ? mod.exports[exportName] : (mod.exports.default ?? mod.exports.score);
  if (typeof candidate !== 'function') {
    throw new Error(
      exportName
        ? `${file} has no exported function '${exportName}' (exports: ${Object.keys(mod.exports).join(', ') || 'none'})`
        : `${file} exports no score function: export default function score(batch) { ... } or export function score(batch)`,
    );
  }
  return candidate as ScoreFn;
}
