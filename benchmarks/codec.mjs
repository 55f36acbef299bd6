// Codec benchmark: weft's channel codec (encode + decode) against v8.serialize + v8.deserialize of
// the same values, measured in the same run, rounds interleaved so that both see the same noise.
//   node benchmarks/codec.mjs [--quick] [--json FILE]
// Target (the codec issue): the small object at least 5x faster than v8.serialize+deserialize.
// structuredClone is shown for reference (it does both halves in one native call, no bytes).
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import v8 from 'node:v8';
import { decode, Encoder } from '../dist/esm/codec.js';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const enc = new Encoder();

const smallObject = () => ({ id: 42, name: 'widget', tags: ['a', 'b'], price: 9.99, ok: true });
const cases = [
  // [name, value, target ratio or null]
  ['small object', smallObject(), 5],
  ['number (12345.5)', 12345.5, null],
  ['64-char ASCII string', 'x'.repeat(64), null],
  ['1 KiB Float64Array', new Float64Array(128).fill(1.5), null],
  ['64-char non-ASCII string', 'héllo wörld, ça va? '.repeat(4).slice(0, 64), null],
  ['100 small objects in an array', Array.from({ length: 100 }, (_, i) => ({ ...smallObject(), id: i })), null],
  ['Map, Set, Date, BigInt, Error', { m: new Map([['a', 1], ['b', 2]]), s: new Set([1, 2, 3]), d: new Date(0), b: 2n ** 70n, e: new RangeError('r') }, null],
];

/**
 * ns per call of each function. Each is warmed up for `warmMs` (long enough for V8 to optimize
 * it: a short warm-up would time the interpreter), then gets its own iteration count for rounds of
 * about `roundMs`; rounds of the functions are interleaved and the median round counts.
 */
function measure(fns, warmMs, roundMs, rounds) {
  const counts = fns.map((f) => {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < warmMs) {
      for (let i = 0; i < 100; i++) f();
      n += 100;
    }
    return Math.max(100, Math.round((n * roundMs) / warmMs));
  });
  const samples = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((f, k) => {
      const n = counts[k];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) f();
      samples[k].push(((performance.now() - t0) * 1e6) / n);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[s.length >> 1]);
}

const [warmMs, roundMs, rounds] = quick ? [150, 20, 7] : [500, 50, 15];
const rows = [];
for (const [name, value, target] of cases) {
  const size = enc.encode(value).length;
  const v8size = v8.serialize(value).length;
  const [weft, base, clone] = measure([
    () => decode(enc.encode(value)),
    () => v8.deserialize(v8.serialize(value)),
    () => structuredClone(value),
  ], warmMs, roundMs, rounds);
  process.stderr.write(`${name}: weft ${weft.toFixed(0)} ns, v8 ${base.toFixed(0)} ns, structuredClone ${clone.toFixed(0)} ns\n`);
  rows.push({ name, weft, base, clone, ratio: base / weft, target, size, v8size });
}

console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}${quick ? ' (--quick)' : ''}\n`);
console.log('| encode+decode | weft (ns) | v8.serialize+deserialize (ns) | ratio | target | met? | structuredClone (ns) | bytes weft / v8 |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const met = r.target ? (r.ratio >= r.target ? 'yes' : 'NO') : '—';
  console.log(`| ${r.name} | ${r.weft.toFixed(0)} | ${r.base.toFixed(0)} | ${r.ratio.toFixed(2)}× faster | ${r.target ? `≥ ${r.target}×` : 'info'} | ${met} | ${r.clone.toFixed(0)} | ${r.size} / ${r.v8size} |`);
}
if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rows }, null, 2));
