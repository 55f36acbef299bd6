// A/B of the Lock's fast and contended paths between two builds of weft, in one process, rounds
// interleaved (order alternating) so both see the same noise; medians and their ratio.
//   git worktree add /tmp/before <rev> && (cd /tmp/before && npm ci && npm run build)
//   node benchmarks/lock-ab.mjs /tmp/before/dist/esm/index.js [dist/esm/index.js]
// Used for the deadlock-detection issue: the registry must cost the uncontended path nothing.
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const url = (p) => pathToFileURL(resolve(p)).href;
if (!isMainThread) {
  const weft = await import(workerData.build);
  const lock = weft.Lock.from(workerData.lock);
  const { counter, ready, n } = workerData;
  Atomics.add(ready, 0, 1);
  Atomics.notify(ready, 0);
  while (Atomics.load(ready, 1) === 0) Atomics.wait(ready, 1, 0, 50);
  for (let i = 0; i < n; i++) { lock.acquire(); counter[0]++; lock.release(); }
} else {
  const [a = '', b = 'dist/esm/index.js'] = process.argv.slice(2);
  if (!a) throw new Error('usage: node benchmarks/lock-ab.mjs OLD_INDEX_JS [NEW_INDEX_JS]');
  const builds = { before: url(a), after: url(b) };
  const mods = { before: await import(builds.before), after: await import(builds.after) };
  const med = (x) => x.slice().sort((p, q) => p - q)[x.length >> 1];
  const order = (r) => (r % 2 ? ['before', 'after'] : ['after', 'before']);

  const uncontended = (lock) => {
    const N = 5_000_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) { lock.acquire(); lock.release(); }
    return ((performance.now() - t0) * 1e6) / N;
  };
  const contended = async (k) => {
    const N = 500_000;
    const lock = new mods[k].Lock();
    const counter = new Int32Array(new SharedArrayBuffer(64));
    const ready = new Int32Array(new SharedArrayBuffer(8));
    const w = new Worker(new URL(import.meta.url), { workerData: { build: builds[k], lock, counter, ready, n: N } });
    const exited = new Promise((r) => w.once('exit', r));
    while (Atomics.load(ready, 0) === 0) await new Promise((r) => setTimeout(r, 1));
    const t0 = performance.now();
    Atomics.store(ready, 1, 1);
    Atomics.notify(ready, 1);
    for (let i = 0; i < N; i++) { lock.acquire(); counter[0]++; lock.release(); }
    await exited;
    if (counter[0] !== 2 * N) throw new Error(`${k}: mutual exclusion failed`);
    return (2 * N) / ((performance.now() - t0) / 1000) / 1e6;
  };

  const rows = [];
  for (const kind of ['Lock', 'RLock']) {
    const locks = { before: new mods.before[kind](), after: new mods.after[kind]() };
    const t = { before: [], after: [] };
    for (let r = 0; r < 16; r++) for (const k of order(r)) t[k].push(uncontended(locks[k]));
    rows.push([`uncontended ${kind} acquire+release (ns)`, med(t.before), med(t.after)]);
  }
  const c = { before: [], after: [] };
  for (let r = 0; r < 6; r++) for (const k of order(r)) c[k].push(await contended(k));
  rows.push(['two threads contending on a Lock (M sections/s)', med(c.before), med(c.after)]);
  console.log('| benchmark | before | after | after / before |\n|---|---|---|---|');
  for (const [name, x, y] of rows) console.log(`| ${name} | ${x.toFixed(2)} | ${y.toFixed(2)} | ${(y / x).toFixed(2)} |`);
}
