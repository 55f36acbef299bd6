// `npm test` (after the build): type-checks the public types of both entries, then runs every
// spec/**/*.test.{mjs,cjs} with Node's test runner. WEFT_STRESS=N scales the stress runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

execFileSync(process.execPath, [tsc, '-p', join(root, 'spec/types/tsconfig.json')], { stdio: 'inherit', cwd: root });
console.log('types: the public types of the ESM and CommonJS entries compile');

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'helpers' || e.name === 'types' ? [] : find(p);
    return /\.test\.(mjs|cjs|js)$/.test(e.name) ? [relative(root, p)] : [];
  });
}
const only = process.argv.slice(2);
const files = only.length ? only : find(join(root, 'spec')).sort();
const r = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
