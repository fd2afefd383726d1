#!/usr/bin/env node
// The `alol` CLI launcher: runs the compiled trainer CLI (build it with `npm run build`).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'out', 'src', 'trainer', 'cli', 'index.js');
if (!fs.existsSync(cli)) {
  console.error(`alol: error: ${cli} is missing. hint: run \`npm run build\` in ${path.dirname(__dirname)} first`);
  process.exit(1);
}
require(cli)
  .main(process.argv)
  .then((code) => process.exit(code));
