// `npm run bench`: every benchmark in turn, each printing its table of ratios against baselines
// measured in the same run. `--quick` for short runs. (A later issue aggregates these into
// benchmarks/RESULTS.md and a chart.)
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
let failed = 0;
for (const name of ['sync', 'shared-data', 'codec', 'channels', 'pool']) {
  process.stderr.write(`\n== benchmarks/${name}.mjs ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [new URL(`./${name}.mjs`, import.meta.url).pathname, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
