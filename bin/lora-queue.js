#!/usr/bin/env node
'use strict';
// The npm bin: runs the bundled CLI (build it with `npm run build`).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('lora-queue: dist/cli.js is missing: run `npm ci && npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(bundle).run();
