// The linter enforces DESIGN.md's import boundaries: each forbidden import is reported, and the
// allowed ones are not; and lines of at most 140 characters, in .ts files and in the plain .mjs
// scripts alike. Runs ESLint's API with the project's own config on snippets.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../..');
const eslint = new ESLint({ cwd: root });

async function boundaryErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: [file: string, source: string, forbidden: boolean][] = [
  ['src/trainer/alol/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n", true],
  ['src/trainer/runtime/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n", true],
  ['src/trainer/alol/x.ts', "import * as ort from 'onnxruntime-node';\nexport const v = ort;\n", true],
  ['src/trainer/runtime/x.ts', "import * as ort from 'onnxruntime-node';\nexport const v = ort;\n", false],
  ['src/trainer/graph/x.ts', "import * as ort from 'onnxruntime-node';\nexport const v = ort;\n", true],
  ['src/trainer/model/x.ts', "import { onnx } from 'onnx-proto';\nexport const v = onnx;\n", true],
  ['src/trainer/graph/x.ts', "import { onnx } from 'onnx-proto';\nexport const v = onnx;\n", false],
  ['src/extension/x.ts', "import * as ort from 'onnxruntime-node';\nexport const v = ort;\n", true],
  ['src/extension/x.ts', "import { Session } from '../trainer/runtime/session.js';\nexport const v = Session;\n", true],
  ['src/extension/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode;\n", false],
  ['src/protocol/x.ts', "import { z } from 'zod';\nexport const v = z;\n", false],
  ['src/protocol/x.ts', "import * as fs from 'node:fs';\nexport const v = fs;\n", true],
  ['src/extension/x.ts', "import { rowId } from '../trainer/data/rows.js';\nexport const v = rowId;\n", true],
  ['src/extension/x.ts', "import { rowId } from '../protocol/rows.js';\nexport const v = rowId;\n", false],
  ['webview/src/x.ts', "import { rowId } from '../../src/trainer/data/rows.js';\nexport const v = rowId;\n", true],
  ['webview/src/x.ts', "import { rowId } from '../../src/protocol/rows.js';\nexport const v = rowId;\n", false],
  ['src/protocol/x.ts', "import { sha256 } from '@noble/hashes/sha2';\nexport const v = sha256;\n", false],
  ['src/protocol/x.ts', "import { z } from './config.js';\nexport const v = z;\n", false],
  ['src/protocol/x.ts', "import { rowId } from '../trainer/data/rows.js';\nexport const v = rowId;\n", true],
  ['src/protocol/x.ts', "import { createHash } from 'node:crypto';\nexport const v = createHash;\n", true],
];

describe('import boundaries (eslint)', () => {
  for (const [file, source, forbidden] of cases) {
    const what = source.split('\n')[0];
    it(`${file}: ${what} is ${forbidden ? 'reported' : 'allowed'}`, async () => {
      const errors = await boundaryErrors(file, source);
      assert.equal(errors.length > 0, forbidden, errors.join('; '));
    });
  }
});

/** `export const s = 'xxx…';` exactly `length` characters long, plus its newline. */
function lineOf(length: number): string {
  const head = "export const s = '";
  const tail = "';";
  return `${head}${'x'.repeat(length - head.length - tail.length)}${tail}\n`;
}

describe('line length (eslint max-len 140)', () => {
  for (const file of ['src/trainer/x.ts', 'scripts/x.mjs']) {
    for (const [length, reported] of [[140, false], [141, true]] as const) {
      it(`${file}: a ${length}-character line is ${reported ? 'reported' : 'allowed'}`, async () => {
        const source = lineOf(length);
        assert.equal(source.length, length + 1);
        const [result] = await eslint.lintText(source, { filePath: path.join(root, file) });
        const tooLong = result.messages.filter((m) => m.ruleId === 'max-len');
        assert.equal(tooLong.length, reported ? 1 : 0, JSON.stringify(result.messages));
        if (reported) assert.match(tooLong[0].message, /length of 141\. Maximum allowed is 140/);
        else assert.deepEqual(result.messages, []);
      });
    }
  }
});
