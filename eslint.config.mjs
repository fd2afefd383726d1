// Lint: typescript-eslint's recommended rules plus the architecture's import boundaries
// (DESIGN.md "Layout"): the trainer never imports vscode, the extension never imports
// onnxruntime-node nor src/trainer, only src/trainer/runtime imports onnxruntime-node, only
// src/trainer/graph knows ONNX protobuf, and src/protocol imports nothing but zod, @noble/hashes
// (row identity) and its own modules. Every linted file, the plain .js/.mjs scripts and e2e tests
// included, keeps its lines within 140 characters (max-len); those scripts get no other rule.
import tseslint from 'typescript-eslint';

const restrict = (paths, patterns = []) => ({
  'no-restricted-imports': ['error', { paths, patterns }],
});
const msg = {
  vscode: 'src/trainer runs without VS Code (CLI, subprocess): never import vscode here.',
  ort: 'onnxruntime-node is imported only by src/trainer/runtime (DESIGN.md); use its Session/tensor helpers.',
  ortExt: 'The extension host never loads onnxruntime-node: training runs in the trainer subprocess.',
  trainerExt: 'The extension never imports src/trainer (it runs as a subprocess); shared pieces live in src/protocol.',
  proto: 'ONNX protobuf is known only to src/trainer/graph (serialization lives in graph/onnx.ts).',
};

const tsFiles = ['**/*.ts', '**/*.tsx', '**/*.mts', '**/*.cts'];
const maxLen = { 'max-len': ['error', { code: 140 }] };

export default tseslint.config(
  {
    // Plain JavaScript is linted only where the project writes it (not users' reward bundles, caches or run folders).
    ignores: [
      'out/**', 'dist/**', 'node_modules/**', 'webview/dist/**', 'test/e2e/artifacts/**', 'test/webview/artifacts/**',
      '**/*.{js,mjs,cjs}', '!scripts/**/*.{js,mjs}', '!test/**/*.{js,mjs}', '!bin/**/*.js', '!eslint.config.mjs',
    ],
  },
  { files: tsFiles, extends: [...tseslint.configs.recommended] },
  { files: ['**/*.js', '**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
  { rules: maxLen },
  {
    files: tsFiles,
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/trainer/**/*.ts'],
    ignores: ['src/trainer/runtime/**', 'src/trainer/graph/**'],
    rules: restrict([
      { name: 'vscode', message: msg.vscode },
      { name: 'onnxruntime-node', message: msg.ort },
      { name: 'onnx-proto', message: msg.proto },
    ]),
  },
  {
    files: ['src/trainer/runtime/**/*.ts'],
    rules: restrict([
      { name: 'vscode', message: msg.vscode },
      { name: 'onnx-proto', message: msg.proto },
    ]),
  },
  {
    files: ['src/trainer/graph/**/*.ts'],
    rules: restrict([
      { name: 'vscode', message: msg.vscode },
      { name: 'onnxruntime-node', message: msg.ort },
    ]),
  },
  {
    files: ['src/extension/**/*.ts', 'webview/**/*.ts'],
    rules: restrict(
      [
        { name: 'onnxruntime-node', message: msg.ortExt },
        { name: 'onnx-proto', message: msg.proto },
      ],
      [
        { group: ['**/trainer/runtime/**', '**/trainer/graph/**'], message: msg.ortExt },
        { group: ['**/trainer/**'], message: msg.trainerExt },
      ],
    ),
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: restrict([], [
      {
        regex: '^(?!zod$|@noble/hashes/[a-z0-9]+$|\\./[^/]+$).*',
        message: 'src/protocol is pure: it imports only zod, @noble/hashes and ./ modules.',
      },
    ]),
  },
);
