// Builds the ESM and CommonJS entries of the `exports` map from one source tree.
// dist/esm: ES modules with .d.ts; dist/cjs: CommonJS with .d.ts, marked by its own package.json
// so Node (and TypeScript) read those .js/.d.ts files as CommonJS inside a "type": "module" package.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit', cwd: root });
}
mkdirSync(join(root, 'dist/cjs'), { recursive: true });
writeFileSync(join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
// import.meta does not exist in CommonJS: the pool finds its worker script from __dirname there.
writeFileSync(join(root, 'dist/cjs/pool-worker-url.js'), `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.POOL_WORKER_URL = require("node:url").pathToFileURL(require("node:path").join(__dirname, "pool-worker.js"));
`);
