// Bundles the dashboard webview (webview/src/main.ts and the CSS it imports) into
// webview/dist/dashboard.js + dashboard.css with esbuild: one IIFE for the browser, zod and the
// webview-ui-toolkit included, minified, with a linked source map. Run: `npm run build:webview`
// (`--watch` rebuilds on change).
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');

/** zod's `z.locales` namespace pulls in ~45 translated error-message tables (~300 KiB minified); the
 *  dashboard shows zod's English messages only, so the namespace keeps just `en`. If zod moves the
 *  file, the filter stops matching and the bundle is merely bigger. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/** FAST (under @vscode/webview-ui-toolkit) decides between :focus-visible and :focus at load by
 *  appending a probe <style> element, which the webview's `style-src` (no 'unsafe-inline') blocks with
 *  a CSP violation, and then falls back to :focus. VS Code's Chromium has :focus-visible (Chrome 86+),
 *  so the answer is fixed here instead. If FAST moves the file, the browser test's CSP check fails. */
const focusVisibleWithoutProbe = {
  name: 'fast-focus-visible-without-probe',
  setup(build) {
    build.onLoad({ filter: /[\\/]@microsoft[\\/]fast-foundation[\\/]dist[\\/]esm[\\/]utilities[\\/]style[\\/]focus\.js$/ }, () => ({
      contents: 'export const focusVisible = "focus-visible";\n',
      loader: 'js',
    }));
  },
};

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: { dashboard: 'webview/src/main.ts' },
  outdir: 'webview/dist',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome114'],
  minify: !watch,
  sourcemap: watch ? 'linked' : false, // maps only while developing: they would triple the .vsix share
  legalComments: 'linked',
  metafile: true,
  plugins: [zodEnglishOnly, focusVisibleWithoutProbe],
  logLevel: 'warning',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('watching webview/src …');
} else {
  const result = await esbuild.build(options);
  const outputs = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith('.map') && !file.endsWith('.LEGAL.txt'))
    .map(([file, o]) => `${path.relative(root, path.resolve(root, file))} ${(o.bytes / 1024).toFixed(0)} KiB`);
  console.log(`built ${outputs.join(', ')}`);
}
