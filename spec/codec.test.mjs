// The channel codec (internal): exact round trips like structuredClone, cycles and shared
// references, errors with paths, and decoding from shared memory at an offset.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, Encoder } from '../dist/esm/codec.js';

const enc = new Encoder();
const roundTrip = (v) => decode(enc.encode(v));

describe('codec', () => {
  test('every supported type round-trips exactly', () => {
    const values = [
      0, -0, NaN, Infinity, -Infinity, 1.5, 127, 128, -129, 2 ** 31, -(2 ** 31), 2 ** 53 + 2, Number.MIN_VALUE,
      '', 'ascii', 'héllo wörld', '🌍 emoji', 'a\uD800b', '\uDC00', 'x'.repeat(70_000), 'é'.repeat(5000),
      true, false, null, undefined, 0n, -1n, 2n ** 64n, -(2n ** 200n) + 7n,
      [], [1, [2, [3, []]]], [1, , 3], {}, { a: 1, 'b c': [2], '': null }, Object.create(null),
      new Map([[1, 'a'], ['k', { v: new Set([1, 2]) }]]), new Set(), new Date(0), /x+y/gimsuy,
      new Error('e'), new TypeError('t'), new RangeError('r', { cause: { why: 1 } }),
      new ArrayBuffer(3), new Uint8Array([1, 2, 255]), new Int8Array([-1]), new Uint8ClampedArray([9]),
      new Int16Array([-300]), new Uint16Array([60_000]), new Int32Array([-5]), new Uint32Array([2 ** 32 - 1]),
      new Float32Array([0.5]), new Float64Array([NaN, -0]), new BigInt64Array([-5n]), new BigUint64Array([2n ** 64n - 1n]),
      new DataView(new Uint8Array([1, 2, 3]).buffer), Object(1), Object('s'), Object(true), Object(5n),
    ];
    values.forEach((v, i) => assert.deepStrictEqual(roundTrip(v), structuredClone(v), `values[${i}]`));
    // (deepStrictEqual cannot compare two invalid Dates: check that one by hand.)
    const invalid = roundTrip(new Date(NaN));
    assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()));
  });

  test('a typed array keeps only its viewed bytes', () => {
    const base = new Uint8Array([0, 1, 2, 3, 4, 5]);
    assert.deepEqual(roundTrip(base.subarray(2, 4)), new Uint8Array([2, 3]));
  });

  test('cycles and shared references come back as one object', () => {
    const shared = { s: 1 };
    const v = { a: shared, b: [shared], m: new Map([['x', shared]]) };
    v.self = v;
    v.b.push(v.b);
    const r = roundTrip(v);
    assert.equal(r.a, r.b[0]);
    assert.equal(r.a, r.m.get('x'));
    assert.equal(r.self, r);
    assert.equal(r.b[1], r.b);
  });

  test('deep nesting (1000 levels)', () => {
    let v = 'bottom';
    for (let i = 0; i < 1000; i++) v = [v];
    let r = roundTrip(v);
    for (let i = 0; i < 1000; i++) r = r[0];
    assert.equal(r, 'bottom');
  });

  test('__proto__ as a key stays a plain own property', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const r = roundTrip(v);
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    assert.equal({}.polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(r, '__proto__').value, { polluted: true });
  });

  test('class instances become plain objects of their own enumerable properties', () => {
    class Point { constructor() { this.x = 1; this.y = 2; } norm() { return 0; } }
    const r = roundTrip(new Point());
    assert.deepEqual(r, { x: 1, y: 2 });
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
  });

  test('what cannot be cloned throws TypeError naming it and where; the encoder still works', () => {
    assert.throws(() => enc.encode({ jobs: [1, { done() {} }] }, "Queue 'q'", 'put'), {
      name: 'TypeError', message: "Queue 'q': put(): cannot clone a function (done) at value.jobs[1].done",
    });
    assert.throws(() => enc.encode(new Map([['k', Symbol('s')]])), /a symbol at value\.get\("k"\)/);
    assert.throws(() => enc.encode(new WeakMap()), /WeakMap/);
    assert.throws(() => enc.encode({ p: Promise.resolve() }), /Promise at value\.p/);
    assert.throws(() => enc.encode(new SharedArrayBuffer(4)), /SharedArrayBuffer.*workerData/);
    assert.throws(() => enc.encode(new Int32Array(new SharedArrayBuffer(4))), /SharedArrayBuffer/);
    assert.deepEqual(roundTrip({ ok: [1, 2] }), { ok: [1, 2] });
  });

  test('decodes from a view of shared memory at an offset, which may change afterwards', () => {
    const bytes = enc.encode({ text: 'hello', n: [1, 2, 3] });
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 16));
    shared.set(bytes, 9);
    const r = decode(shared, 9, 9 + bytes.length);
    shared.fill(0);
    assert.deepEqual(r, { text: 'hello', n: [1, 2, 3] });
    assert.throws(() => decode(shared, 0, 3), RangeError);
  });

  test('randomized: decode(encode(x)) equals structuredClone(x) for 3000 generated values', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const strs = ['', 'a', 'héllo', '🌍x', 'a\uD800', 'x'.repeat(40), '__proto__', 'constructor', 'k'];
    const prims = [0, -0, NaN, 1.5, -7, 300, 2 ** 31, -(2 ** 40), Infinity, true, false, null, undefined, 10n, -(2n ** 70n)];
    const gen = (d) => {
      const r = rnd();
      if (d > 4 || r < 0.35) return rnd() < 0.5 ? prims[Math.floor(rnd() * prims.length)] : strs[Math.floor(rnd() * strs.length)];
      if (r < 0.55) return Array.from({ length: Math.floor(rnd() * 5) }, () => gen(d + 1));
      if (r < 0.75) return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, (_, i) => [strs[Math.floor(rnd() * strs.length)] + i, gen(d + 1)]));
      if (r < 0.82) return new Map([[gen(d + 1), gen(d + 1)]]);
      if (r < 0.87) return new Set([gen(d + 1), 'k']);
      if (r < 0.9) return new Date(Math.floor(rnd() * 1e12));
      if (r < 0.93) return new Int16Array([1, -2, 3]);
      if (r < 0.96) return /a.b/m;
      return new TypeError('boom');
    };
    for (let i = 0; i < 3000; i++) {
      const v = gen(0);
      assert.deepStrictEqual(roundTrip(v), structuredClone(v));
    }
  });
});
