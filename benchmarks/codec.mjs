// Codec benchmark: weft's channel codec versus v8.serialize + v8.deserialize, same values, same run.
//   node benchmarks/codec.mjs [--quick] [--json FILE]
// Target: encode+decode of a small object at least 5x faster than v8.serialize+deserialize.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import v8 from 'node:v8';
import { decode, Encoder } from '../dist/esm/codec.js';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const enc = new Encoder();
const cases = [
  ['small object', { id: 42, name: 'widget', tags: ['a', 'b'], price: 9.99, ok: true }, 5],
  ['number', 12345.5, null],
  ['64-char string', 'x'.repeat(64), null],
  ['1 KiB Float64Array', new Float64Array(128).fill(1.5), null],
];
const time = (f, n) => {
  for (let i = 0; i < n / 5; i++) f();
  const t = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    t.push(((performance.now() - t0) * 1e6) / n);
  }
  return t.sort((a, b) => a - b)[2];
};
const n = quick ? 50_000 : 300_000;
const rows = [];
for (const [name, value, target] of cases) {
  const weft = time(() => decode(enc.encode(value)), n);
  const base = time(() => v8.deserialize(v8.serialize(value)), n / 2);
  process.stderr.write(`${name}: weft ${weft.toFixed(0)} ns, v8 ${base.toFixed(0)} ns\n`);
  rows.push([`encode+decode ${name} (ns)`, weft, base, base / weft, target]);
}
console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}${quick ? ' (--quick)' : ''}\n`);
console.log('| benchmark | weft | baseline | ratio | target | met? |');
console.log('|---|---|---|---|---|---|');
for (const [name, w, b, ratio, target] of rows) {
  console.log(`| ${name} | ${w.toFixed(0)} | ${b.toFixed(0)} (v8.serialize+deserialize) | ${ratio.toFixed(2)}× faster | ${target ? `≥ ${target}×` : 'info'} | ${target ? (ratio >= target ? 'yes' : 'NO') : '—'} |`);
}
if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rows }, null, 2));
