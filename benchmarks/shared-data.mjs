// Shared-data benchmarks, each against a baseline in the same run.
//   node benchmarks/shared-data.mjs [--quick] [--json FILE]
// - Value.add versus Atomics.add on a bare Int32Array (target: at most 1.5x).
// - Locked increments (getLock() + value += 1) versus the same loop under a raw-Atomics lock.
// - float64 reads: the seqlock weft uses versus taking the value's lock for each read.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { Value } from 'weft';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const N = quick ? 2_000_000 : 10_000_000;
const median = (f) => {
  f(N / 10);
  const t = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    f(N);
    t.push(((performance.now() - t0) * 1e6) / N);
  }
  return t.sort((a, b) => a - b)[2];
};

const raw = new Int32Array(new SharedArrayBuffer(64));
const bareAdd = median((n) => { for (let i = 0; i < n; i++) Atomics.add(raw, 0, 1); });
const v = new Value('i', 0, { lock: false });
const weftAdd = median((n) => { for (let i = 0; i < n; i++) v.add(1); });

const locked = new Value('i', 0);
const lock = locked.getLock();
const weftLocked = median((n) => {
  for (let i = 0; i < n; i++) {
    lock.acquire();
    locked.value = locked.value + 1;
    lock.release();
  }
});
const m = new Int32Array(new SharedArrayBuffer(64));
const plain = new Int32Array(new SharedArrayBuffer(64));
const rawLocked = median((n) => {
  for (let i = 0; i < n; i++) {
    while (Atomics.compareExchange(m, 0, 0, 1) !== 0);
    plain[0] = plain[0] + 1;
    Atomics.store(m, 0, 0);
  }
});

const d = new Value('d', 1.5);
const dl = d.getLock();
let sink = 0;
const seqlockRead = median((n) => { for (let i = 0; i < n; i++) sink += d.value; });
const lockedRead = median((n) => {
  for (let i = 0; i < n; i++) {
    dl.acquire();
    sink += d.value;
    dl.release();
  }
});
if (sink === 42) console.log('');

const rows = [
  ['Value.add (ns)', weftAdd, bareAdd, 'Atomics.add', weftAdd / bareAdd, '≤ 1.5×', weftAdd / bareAdd <= 1.5],
  ['Locked increment, getLock() + value += 1 (ns)', weftLocked, rawLocked, 'raw-Atomics spin lock', weftLocked / rawLocked, 'info', null],
  ['float64 read, seqlock (ns)', seqlockRead, lockedRead, 'read under the RLock', seqlockRead / lockedRead, 'info', null],
];
console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}${quick ? ' (--quick)' : ''}\n`);
console.log('| benchmark | weft | baseline | ratio | target | met? |');
console.log('|---|---|---|---|---|---|');
for (const [name, w, b, bname, ratio, target, met] of rows) {
  console.log(`| ${name} | ${w.toFixed(1)} | ${b.toFixed(1)} (${bname}) | ${ratio.toFixed(2)}× | ${target} | ${met === null ? '—' : met ? 'yes' : 'NO'} |`);
}
if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rows }, null, 2));
