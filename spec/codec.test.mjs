// The channel codec (internal, lib/codec.ts): exact round trips like structuredClone for every
// supported type, identity (cycles, shared references), uncloneable values reported with their
// path, decoding from shared memory at an offset, malformed input, and a seeded randomized
// comparison against structuredClone.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { decode, Encoder } from '../dist/esm/codec.js';

const enc = new Encoder();
const rt = (v) => decode(enc.encode(v));
/** Round trip equals structuredClone, including prototypes, and shares objects where it does. */
const same = (v, message) => {
  const ours = rt(v);
  const theirs = structuredClone(v);
  assert.deepStrictEqual(ours, theirs, message);
  assert.deepStrictEqual(identityShape(ours), identityShape(theirs), `${message ?? ''} (identity)`);
  return ours;
};
const bytesOf = (v) => Array.from(enc.encode(v));

/**
 * The identity structure of a value: objects numbered in depth-first order of first visit, and
 * the number met at each position. Two values with the same sequence share (and cycle) alike.
 */
function identityShape(root) {
  const ids = new Map();
  const out = [];
  const visit = (v) => {
    if (v === null || typeof v !== 'object') return;
    if (ids.has(v)) return void out.push(ids.get(v));
    ids.set(v, ids.size);
    out.push(ids.get(v));
    if (v instanceof Map) for (const [k, x] of v) visit(k), visit(x);
    else if (v instanceof Set) for (const x of v) visit(x);
    else if (v instanceof Error) visit(v.cause);
    else if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    else for (const k of Object.keys(v)) visit(v[k]);
  };
  visit(root);
  return out;
}

/** Small seeded PRNG (mulberry32): the randomized test is reproducible. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('codec: primitives', () => {
  test('numbers of every encoding, at their boundaries', () => {
    const values = [0, 1, 42, 127, 128, 255, 256, -1, -127, -128, -129, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1,
      2 ** 32, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE,
      Number.EPSILON, 0.1, 9.99, -1.5, 1e-300, 1e300, NaN, Infinity, -Infinity];
    for (const n of values) assert.ok(Object.is(rt(n), n), String(n));
    assert.ok(Object.is(rt(-0), -0), '-0 stays -0');
    assert.ok(Object.is(rt([-0])[0], -0), '-0 in an array');
  });

  test('compact encodings pin the format: small integers in the tag, short ASCII with its length in the tag', () => {
    assert.deepEqual(bytesOf(5), [0x85]);
    assert.deepEqual(bytesOf(0), [0x80]);
    assert.deepEqual(bytesOf(127), [0xff]);
    assert.deepEqual(bytesOf(-1), [0x04, 0xff]);
    assert.deepEqual(bytesOf(128), [0x05, 128, 0, 0, 0]);
    assert.equal(bytesOf(-0).length, 9);
    assert.equal(bytesOf(1.5).length, 9);
    assert.deepEqual(bytesOf('ab'), [0x42, 0x61, 0x62]);
    assert.deepEqual(bytesOf(''), [0x40]);
    assert.deepEqual(bytesOf([undefined, null, false, true]), [0x0c, 4, 0, 0, 0, 0, 1, 2, 3]);
    assert.deepEqual(bytesOf({ a: 1 }), [0x0e, 1, 0, 0, 0, 2, 0, 0, 0, 0x41, 0x61, 0x81]);
    assert.equal(bytesOf('x'.repeat(63)).length, 64);
    assert.equal(bytesOf('x'.repeat(64)).length, 69);
  });

  test('booleans, null, undefined', () => {
    for (const v of [true, false, null, undefined]) assert.equal(rt(v), v);
  });

  test('BigInt: zero, int64 limits, past them, huge, negative', () => {
    const values = [0n, 1n, -1n, 127n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n - 1n, 2n ** 64n,
      -(2n ** 64n), 2n ** 65n + 3n, 0xfn << 200n, -(2n ** 1000n) + 12345n, 3n ** 5000n, -(7n ** 3000n)];
    for (const v of values) assert.equal(rt(v), v, String(v).slice(0, 30));
    assert.equal(bytesOf(2n ** 63n - 1n).length, 9);
  });
});

describe('codec: strings', () => {
  test('every length across the thresholds, ASCII and not', () => {
    for (let n = 0; n <= 300; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7) % 95))).join('');
      assert.equal(rt(ascii), ascii, `ascii ${n}`);
      const latin = ascii.replace(/e/g, 'é');
      assert.equal(rt(latin), latin, `latin ${n}`);
      const mixed = 'ж' + ascii.slice(1);
      if (n > 0) assert.equal(rt(mixed), mixed, `mixed ${n}`);
      const cjk = '漢字'.repeat(n >> 1);
      assert.equal(rt(cjk), cjk, `cjk ${n}`);
    }
  });

  test('unicode: emoji, combining marks, NUL, a leading BOM (which TextDecoder would eat)', () => {
    const values = ['🌍', 'a🌍b', '👩‍👩‍👧‍👦'.repeat(20), 'e\u0301', '\0', 'a\0b', '\uFEFF', '\uFEFFabc',
      '\uFEFF' + 'é'.repeat(100), '\uFEFF' + 'x'.repeat(100), 'x'.repeat(100) + '\uFEFF', '\uFFFD', '\uFFFF', '\u2028\u2029'];
    for (const s of values) assert.equal(rt(s), s, JSON.stringify(s).slice(0, 40));
  });

  test('lone surrogates stay exact (TextEncoder would write U+FFFD)', () => {
    const values = ['\uD800', '\uDC00', 'a\uD800', '\uDFFFb', 'a\uD800b', '\uDC00\uD800', '\uD83D', '🌍\uD83D',
      'x'.repeat(100) + '\uD800', '\uDC00' + 'é'.repeat(100), '🌍'.repeat(50) + '\uDBFF' + '🌍'.repeat(50)];
    for (const s of values) assert.equal(rt(s), s, JSON.stringify(s).slice(0, 40));
    // Every code unit once, lone surrogates included.
    const all = Array.from({ length: 65536 }, (_, i) => String.fromCharCode(i)).join('');
    assert.equal(rt(all), all);
  });

  test('strings over 64 KiB: ASCII, UTF-8, UTF-16 with a lone surrogate', () => {
    for (const s of ['x'.repeat(70_000), 'é'.repeat(70_000), '漢'.repeat(100_000), '🌍'.repeat(40_000), 'a\uD800'.repeat(40_000), 'y'.repeat(1 << 20)]) {
      assert.equal(rt(s), s, `${s.slice(0, 2)}… (${s.length})`);
    }
  });

  test('the portable paths (a host without Node\'s Buffer) give the same strings', async () => {
    const saved = globalThis.Buffer;
    globalThis.Buffer = undefined; // read once, when the codec module is evaluated
    let portable;
    try {
      portable = await import('../dist/esm/codec.js?portable');
    } finally {
      globalThis.Buffer = saved;
    }
    const penc = new portable.Encoder();
    const values = ['x'.repeat(30), 'x'.repeat(64), 'x'.repeat(5000), 'é'.repeat(100), 'a\uD800'.repeat(50), '\uFEFF' + 'x'.repeat(100)];
    for (let n = 0; n <= 130; n++) values.push('é'.repeat(n & 3) + 'a'.repeat(n));
    for (const v of values) {
      assert.equal(portable.decode(penc.encode(v)), v, `portable ${v.length}`);
      assert.equal(decode(penc.encode(v)), v, `portable encode, native decode ${v.length}`);
      assert.equal(portable.decode(enc.encode(v)), v, `native encode, portable decode ${v.length}`);
    }
    // A scratch that ends exactly where an all-ASCII string would: the first 2043 units of this one
    // fill it as UTF-8 with one unit left over, which must not pass for ASCII.
    const fit = 'é' + 'a'.repeat(2042);
    assert.equal(portable.decode(new portable.Encoder().encode(fit)), fit);
    assert.equal(decode(new Encoder().encode(fit)), fit);
  });

  test('strings as object keys and Map keys', () => {
    same({ '': 1, 'é': 2, '🌍': 3, '\uD800': 4, 'a b': 5, ['k'.repeat(100)]: 6, '\uFEFF': 7 });
    same(new Map([['é', 1], ['\uDC00', 2], ['x'.repeat(1000), 3]]));
  });
});

describe('codec: containers', () => {
  test('arrays: empty, nested, with undefined', () => {
    for (const v of [[], [[]], [1, [2, [3, []]]], [undefined], ['a', 1, null, true, 2n], Array.from({ length: 10_000 }, (_, i) => i * 1.5)]) same(v);
  });

  test('holes: kept as holes, distinct from undefined; sparse arrays stay small', () => {
    same([1, , 3]);
    same([, 1]);
    same([1, ,]);
    same(new Array(5));
    same([undefined, , undefined]);
    const r = rt([undefined, , undefined]);
    assert.ok(0 in r && !(1 in r) && 2 in r);
    const sparse = [];
    sparse[1e9] = 'far';
    sparse[5] = 'near';
    assert.ok(enc.encode(sparse).length < 40, 'a sparse array does not spell out its holes');
    const back = rt(sparse);
    assert.equal(back.length, 1e9 + 1);
    assert.equal(back[1e9], 'far');
    assert.equal(back[5], 'near');
    assert.deepEqual(Object.keys(back), ['5', '1000000000']);
  });

  test('an array with holes keeps its own non-index properties', () => {
    const a = [1, , 3];
    a.extra = { x: 1 };
    a['0x'] = 'not an index';
    a['01'] = 'not canonical';
    same(a);
  });

  test('plain objects: key order (integer-like keys first), null prototype, __proto__ as an own key', () => {
    same({});
    same({ b: 1, a: 2, 2: 'two', 1: 'one', '-1': 'neg', '1.5': 'frac' });
    same(Object.assign(Object.create(null), { x: 1 }));
    const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    for (let i = 0; i < 3; i++) {
      // (three times: the third decodes through the compiled shape, if __proto__ were allowed there)
      const r = rt(v);
      assert.equal(Object.getPrototypeOf(r), Object.prototype);
      assert.equal({}.polluted, undefined);
      assert.deepEqual(Object.getOwnPropertyDescriptor(r, '__proto__').value, { polluted: true });
    }
  });

  test('objects of one shape decode alike the first, second and later times; keys like constructor and toString', () => {
    for (let i = 0; i < 5; i++) {
      same({ id: i, name: `n${i}`, constructor: i, toString: 'x', hasOwnProperty: null, valueOf: [i] });
      same({ 'quote"': 1, 'back\\slash': 2, 'new\nline': 3, '${x}': 4, '`': 5, '\u2028': 6 });
    }
    // 40 keys: cached, not compiled; 100 keys: not cached.
    for (const n of [40, 100]) {
      const many = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      for (let i = 0; i < 3; i++) same(many);
    }
  });

  test('thousands of shapes in turn (the shape cache evicts, and never mixes them up)', () => {
    const values = Array.from({ length: 3000 }, (_, i) => ({ [`key${i}`]: i, common: [i], [`k${i % 7}`]: 'x' }));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < values.length; i += 1 + round) assert.deepStrictEqual(rt(values[i]), values[i]);
    }
  });

  test('enumerable properties added to Object.prototype are not cloned', () => {
    Object.prototype.injected = 'bad';
    try {
      const r = rt({ a: 1 });
      assert.deepEqual(Object.keys(r), ['a']);
    } finally {
      delete Object.prototype.injected;
    }
  });

  test('Map and Set, nested, with object keys, NaN and -0 keys', () => {
    same(new Map());
    same(new Set());
    same(new Map([[1, 'a'], ['k', { v: new Set([1, 2]) }], [{ o: 1 }, [1]], [NaN, 'nan'], [-0, 'zero']]));
    same(new Set(['a', 1, { x: 1 }, [2], NaN, undefined, null]));
    same({ m: new Map([[new Map([[1, 2]]), new Set([new Set([3])])]]) });
  });

  test('class instances become plain objects of their own enumerable properties', () => {
    class Point {
      #secret = 1;
      constructor() { this.x = 1; this.y = 2; }
      get norm() { return 0; }
      method() { return this.#secret; }
    }
    const r = same(new Point());
    assert.deepEqual(r, { x: 1, y: 2 });
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    const withGetter = Object.defineProperty({ a: 1 }, 'b', { get: () => 'got', enumerable: true });
    same(withGetter);
    same(Object.defineProperty({ a: 1 }, 'hidden', { value: 2, enumerable: false }));
    same({ a: 1, [Symbol('s')]: 2 });
  });
});

describe('codec: built-in objects', () => {
  test('Date, including an invalid one', () => {
    for (const d of [new Date(0), new Date(8.64e15), new Date(-8.64e15), new Date(1700000000123)]) same(d);
    const invalid = rt(new Date(NaN));
    assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()));
  });

  test('RegExp: source and flags, lastIndex reset as structuredClone does', () => {
    for (const re of [/x+y/gimsuy, /a/d, /[\p{L}--[a-z]]/v, new RegExp(''), /\//, /é🌍/u]) same(re);
    const re = /a/g;
    re.lastIndex = 3;
    assert.equal(rt(re).lastIndex, 0);
  });

  test('Errors: the standard constructors, message, stack, cause', () => {
    for (const C of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]) {
      const e = new C('boom');
      const r = same(e);
      assert.equal(Object.getPrototypeOf(r), C.prototype);
      assert.equal(r.stack, e.stack);
    }
    same(new Error());
    assert.deepEqual(Object.getOwnPropertyNames(rt(new Error())), Object.getOwnPropertyNames(structuredClone(new Error())));
    same(new RangeError('r', { cause: { why: [1, 2] } }));
    same(new Error('e', { cause: new TypeError('inner') }));
    same(new Error('e', { cause: undefined }));
    const noStack = new Error('x');
    delete noStack.stack;
    assert.equal(rt(noStack).stack, undefined);
    const e = new Error('self');
    e.cause = e;
    const r = rt(e);
    assert.equal(r.cause, r);
    // (Decoding builds errors with Error.stackTraceLimit lowered for a moment: it is put back.)
    assert.equal(Error.stackTraceLimit, 10);
    assert.ok(new Error('after').stack.split('\n').length > 1);
  });

  test('Errors: a non-standard name is kept on an Error (structuredClone says "Error"); other own properties dropped as it does', () => {
    class MyError extends Error {}
    MyError.prototype.name = 'MyError';
    const e = new MyError('mine');
    e.code = 'E_MINE';
    const r = rt(e);
    assert.equal(Object.getPrototypeOf(r), Error.prototype);
    assert.equal(r.name, 'MyError');
    assert.equal(r.message, 'mine');
    assert.equal(r.code, undefined);
    assert.equal(rt(new DOMException('stop', 'AbortError')).name, 'AbortError');
    const renamed = new Error('x');
    renamed.name = 'constructor';
    assert.equal(Object.getPrototypeOf(rt(renamed)), Error.prototype);
    assert.equal(Object.getPrototypeOf(rt(Object.assign(new Error('t'), { name: 'TypeError' }))), TypeError.prototype);
  });

  test('ArrayBuffer, resizable ArrayBuffer', () => {
    same(new ArrayBuffer(0));
    same(new Uint8Array([1, 2, 3, 250]).buffer);
    const rab = new ArrayBuffer(4, { maxByteLength: 16 });
    new Uint8Array(rab).set([9, 8, 7, 6]);
    const r = rt(rab);
    assert.equal(r.resizable, true);
    assert.equal(r.maxByteLength, 16);
    assert.deepEqual(new Uint8Array(r), new Uint8Array([9, 8, 7, 6]));
  });

  test('every typed array kind and DataView, with their contents', () => {
    const values = [
      new Int8Array([-128, 0, 127]), new Uint8Array([0, 1, 255]), new Uint8ClampedArray([0, 9, 255]),
      new Int16Array([-32768, 32767]), new Uint16Array([0, 65535]), new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
      new Uint32Array([0, 2 ** 32 - 1]), new Float32Array([0.5, -0, NaN, Infinity]), new Float64Array([NaN, -0, 1e300, 5e-324]),
      new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]), new BigUint64Array([0n, 2n ** 64n - 1n]),
      new DataView(new Uint8Array([1, 2, 3]).buffer), new Float64Array(0), new Uint8Array(1 << 20).fill(7),
    ];
    for (const v of values) {
      const r = same(v);
      assert.equal(Object.getPrototypeOf(r), Object.getPrototypeOf(v));
    }
    const b = rt(Buffer.from('node buffer'));
    assert.equal(Object.getPrototypeOf(b), Uint8Array.prototype, 'a Node Buffer arrives as a Uint8Array, as with structuredClone');
    assert.deepEqual(b, new Uint8Array(Buffer.from('node buffer')));
  });

  test('buffer bytes start 8-aligned from the value\'s start (fast copies out of a ring), also when decoded from an odd offset', () => {
    const enc = new Encoder();
    for (const lead of [[], [1], ['ab'], [1, 'abc', 2.5]]) {
      const value = [...lead, new Uint8Array([0xa1, 0xa2, 0xa3]), new Float64Array([1.5]).buffer, new Uint16Array(new ArrayBuffer(8, { maxByteLength: 16 }))];
      const bytes = enc.encode(value).slice();
      const at = bytes.findIndex((b, i) => b === 0xa1 && bytes[i + 1] === 0xa2);
      assert.equal(at % 8, 0, `the Uint8Array's bytes at offset ${at}`);
      for (const off of [0, 1, 3, 8]) {
        const shifted = new Uint8Array(new SharedArrayBuffer(off + bytes.length));
        shifted.set(bytes, off);
        assert.deepEqual(decode(shifted, off, off + bytes.length), structuredClone(value));
      }
    }
  });

  test('views: a whole-buffer view brings its buffer; views of one buffer share it again; a partial view carries its own bytes', () => {
    const ab = new ArrayBuffer(16);
    new Uint8Array(ab).set(Array.from({ length: 16 }, (_, i) => i));
    const r = same({ whole: new Uint8Array(ab), words: new Uint32Array(ab, 4, 2), dv: new DataView(ab, 2, 6), ab });
    assert.equal(r.whole.buffer, r.ab);
    assert.equal(r.words.buffer, r.ab);
    assert.equal(r.dv.buffer, r.ab);
    assert.equal(r.words.byteOffset, 4);
    assert.equal(r.dv.byteOffset, 2);
    assert.equal(r.dv.byteLength, 6);
    r.whole[4] = 99;
    assert.equal(new Uint8Array(r.words.buffer)[4], 99, 'the views alias one buffer');

    // A window on a larger buffer that was not met before: only the window travels, at offset 0.
    const part = rt(new Int16Array(ab, 6, 3));
    assert.deepEqual(part, new Int16Array(ab, 6, 3));
    assert.equal(part.byteOffset, 0);
    assert.equal(part.buffer.byteLength, 6);
    const slab = Buffer.from('abc');
    assert.ok(enc.encode(slab).length < 16, 'a small Buffer does not drag its pool slab along');
    const window = new DataView(ab, 3, 5);
    assert.deepEqual(rt(window), new DataView(ab.slice(3, 8)));
  });

  test('boxed primitives', () => {
    for (const v of [Object(1.5), Object(-0), Object(NaN), Object('s'), Object('é🌍\uD800'), Object(true), Object(false), Object(5n), Object(-(2n ** 100n))]) same(v);
  });
});

describe('codec: identity', () => {
  test('cycles and shared references come back as one object', () => {
    const shared = { s: 1 };
    const v = { a: shared, b: [shared], m: new Map([['x', shared]]), set: new Set([shared]) };
    v.self = v;
    v.b.push(v.b);
    v.m.set(v.m, v);
    const r = same(v);
    assert.equal(r.a, r.b[0]);
    assert.equal(r.a, r.m.get('x'));
    assert.equal(r.self, r);
    assert.equal(r.b[1], r.b);
    assert.equal(r.m.get(r.m), r);
    assert.ok(r.set.has(r.a));
  });

  test('many objects (past the linear table) and a reference to each of them later', () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const v = { items, again: items.slice().reverse(), first: items[0], last: items[999] };
    const r = same(v);
    assert.equal(r.again[0], r.items[999]);
    assert.equal(r.first, r.items[0]);
    // And the table is clean for the next value: no stale references leak into it.
    const next = rt([{ i: 0 }, { i: 0 }]);
    assert.notEqual(next[0], next[1]);
  });

  test('deep nesting: 1000 levels of arrays, objects and Maps', () => {
    let a = 'bottom';
    let o = 'bottom';
    let m = 'bottom';
    for (let i = 0; i < 1000; i++) {
      a = [a];
      o = { o };
      m = new Map([[i, m]]);
    }
    same(a);
    same(o);
    let r = rt(m);
    for (let i = 999; i >= 0; i--) r = r.get(i);
    assert.equal(r, 'bottom');
  });
});

describe('codec: what cannot be cloned', () => {
  const fails = (value, pattern, ...label) => assert.throws(() => enc.encode(value, ...label), (e) => {
    assert.equal(e.constructor, TypeError);
    assert.match(e.message, pattern);
    return true;
  });

  test('throws TypeError naming what was found and where', () => {
    fails({ handlers: [1, 2, { onDone() {} }] }, /^Queue 'jobs': put\(\): cannot clone a function \(onDone\) at value\.handlers\[2\]\.onDone$/, "Queue 'jobs'", 'put');
    fails({ handlers: [() => {}] }, /^Queue 'jobs': put\(\): cannot clone a function at value\.handlers\[0\]$/, "Queue 'jobs': put()");
    fails(Symbol('s'), /^weft: cannot clone a symbol \(Symbol\(s\)\) at value$/);
    fails(new Map([['k', Symbol.iterator]]), /a symbol \(Symbol\(Symbol\.iterator\)\) at value\.get\("k"\)/);
    fails(new Map([[() => 1, 1]]), /a function at value\.keys\(\)\[0\]/);
    fails(new Set([1, new WeakSet()]), /a WeakSet at value\.values\(\)\[1\]/);
    fails({ 'odd key': { p: Promise.resolve() } }, /a Promise at value\["odd key"\]\.p$/);
    fails(new Error('e', { cause: { f: Math.max } }), /a function \(max\) at value\.cause\.f$/);
    fails([1, , { w: new WeakMap() }], /a WeakMap at value\[2\]\.w$/);
    fails(Object.assign([1, , 3], { extra: Symbol() }), /a symbol \(Symbol\(\)\) at value\.extra$/);
    fails({ r: new WeakRef({}) }, /a WeakRef at value\.r$/);
    fails({ g: (function* () {})() }, /a Generator at value\.g$/);
    fails({ it: [1].values() }, /an Array Iterator at value\.it$/);
    fails({ s: Object(Symbol('boxed')) }, /a Symbol at value\.s$/);
    fails({ c: class Klass {} }, /a function \(Klass\) at value\.c$/);
  });

  test('shared memory cannot travel through the ring: the message says how to share it', () => {
    fails(new SharedArrayBuffer(4), /cannot clone a SharedArrayBuffer at value: .*workerData.*postMessage.*SharedArray/);
    fails({ v: new Int32Array(new SharedArrayBuffer(8)) }, /a view of a SharedArrayBuffer \(Int32Array\) at value\.v: /);
    fails([new DataView(new SharedArrayBuffer(8))], /a view of a SharedArrayBuffer \(DataView\) at value\[0\]/);
  });

  test('a detached ArrayBuffer, or a view of one, is refused as structuredClone refuses it', () => {
    const ab = new ArrayBuffer(8);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] });
    fails({ x: ab }, /cannot clone a detached ArrayBuffer at value\.x$/);
    fails([view], /cannot clone a detached ArrayBuffer at value\[0\]$/);
    same(new ArrayBuffer(0));
  });

  test('after a failed encode the encoder produces exactly what a fresh one does', () => {
    const e = new Encoder();
    const big = { list: Array.from({ length: 100 }, (_, i) => ({ i, s: 'x'.repeat(i) })) };
    const shared = { s: 1 };
    const value = { a: shared, b: shared, big };
    assert.throws(() => e.encode({ ...big, bad: [shared, { f() {} }] }));
    assert.deepEqual(Array.from(e.encode(value)), Array.from(new Encoder().encode(value)));
    const r = decode(e.encode(value));
    assert.equal(r.a, r.b);
    assert.deepEqual(r, structuredClone(value));
  });

  test('a getter that encodes on the same encoder is refused instead of corrupting the scratch', () => {
    const e = new Encoder();
    const v = { get sneaky() { return e.encode(1).length; } };
    assert.throws(() => e.encode(v, "Queue 'q'"), /encode re-entered from inside the value being encoded/);
    assert.deepEqual(decode(e.encode({ ok: 1 })), { ok: 1 });
  });

  test('a getter that throws: its error comes through unchanged', () => {
    const boom = new Error('from the getter');
    assert.throws(() => enc.encode({ get x() { throw boom; } }), (e) => e === boom);
    assert.deepEqual(rt([1]), [1]);
  });
});

describe('codec: bytes', () => {
  test('decodes from a view of shared memory at an offset, which is overwritten afterwards', () => {
    const value = {
      text: 'hello', long: 'l'.repeat(500), utf8: 'é'.repeat(300), lone: 'a\uD800'.repeat(50),
      n: [1, 2.5, -3], big: 2n ** 100n, bytes: new Uint8Array([1, 2, 3]), ab: new Float64Array([1.5]).buffer, d: new Date(5),
    };
    const bytes = enc.encode(value);
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 100));
    shared.set(bytes, 37);
    const viaRange = decode(shared, 37, 37 + bytes.length);
    const viaSubarray = decode(shared.subarray(37, 37 + bytes.length));
    shared.fill(0xee);
    assert.deepStrictEqual(viaRange, structuredClone(value));
    assert.deepStrictEqual(viaSubarray, structuredClone(value));
    assert.ok(!(viaRange.bytes.buffer instanceof SharedArrayBuffer), 'buffers are copied out, not views of the ring');
    assert.ok(!(viaRange.ab instanceof SharedArrayBuffer));
  });

  test('where TextDecoder refuses shared memory (browsers), strings are copied out of it first', async () => {
    const Real = globalThis.TextDecoder;
    let refused = 0;
    globalThis.TextDecoder = class RefusingShared extends Real {
      decode(view, options) {
        if (view?.buffer instanceof SharedArrayBuffer) {
          refused++;
          throw new TypeError('The provided ArrayBufferView value must not be shared.');
        }
        return super.decode(view, options);
      }
    };
    let codec;
    try {
      // A second instance of the module, which meets the refusing TextDecoder when it loads.
      codec = await import('../dist/esm/codec.js?text-decoder-refuses-shared-memory');
    } finally {
      globalThis.TextDecoder = Real;
    }
    assert.equal(refused, 1, 'the module probed its TextDecoder once');
    const value = ['l'.repeat(500), 'é'.repeat(3000), { k: 'x'.repeat(100) }, 'ü'.repeat(40_000)];
    const bytes = new codec.Encoder().encode(value);
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 3));
    shared.set(bytes, 3);
    assert.deepStrictEqual(codec.decode(shared, 3), value);
    assert.equal(refused, 1, 'no shared view reached decode()');
  });

  test('truncated, trailing and malformed bytes throw RangeError', () => {
    const bytes = enc.encode({ a: [1, 'two', 3.5, 2n ** 70n], m: new Map([[1, new Date(0)]]), e: new Error('x'), t: new Uint16Array([1, 2]) }).slice();
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decode(bytes.subarray(0, n)), RangeError, `prefix of ${n} bytes`);
    assert.throws(() => decode(Uint8Array.from([...bytes, 0])), /left over/);
    assert.throws(() => decode(Uint8Array.of(0x3f)), /unknown tag/);
    assert.throws(() => decode(Uint8Array.of(0x18, 0, 0, 0, 0)), /reference to unknown object/);
    assert.throws(() => decode(bytes, 5, 2), /bad range/);
    assert.throws(() => decode(bytes, 0, bytes.length + 1), /bad range/);
  });

  test('the returned view is reused per length and stays valid until the next encode', () => {
    const e = new Encoder();
    const a = e.encode('abc');
    const copy = Array.from(a);
    assert.deepEqual(Array.from(a), copy);
    assert.equal(e.encode('xyz'), a, 'same length: the same view object');
    assert.deepEqual(Array.from(a), Array.from(new Encoder().encode('xyz')));
    const long = 'q'.repeat(5000);
    assert.equal(decode(e.encode(long)), long);
    assert.equal(decode(e.encode('abc')), 'abc');
  });

  test('the scratch grows for a huge value and the encoder goes on with small ones', () => {
    const e = new Encoder();
    const huge = { s: 'z'.repeat(3 << 20), a: new Uint8Array(1 << 20).fill(1) };
    const hugeBytes = e.encode(huge);
    assert.ok(hugeBytes.length > 4 << 20);
    assert.deepStrictEqual(decode(hugeBytes), structuredClone(huge));
    for (let i = 0; i < 200; i++) assert.deepStrictEqual(decode(e.encode({ i, s: 'x'.repeat(i) })), { i, s: 'x'.repeat(i) });
  });

  test('the CommonJS build is the same codec', () => {
    const cjs = createRequire(import.meta.url)('../dist/cjs/codec.js');
    const v = { a: [1, 'é', 2n], d: new Date(3) };
    assert.deepStrictEqual(cjs.decode(enc.encode(v)), v);
    assert.deepStrictEqual(decode(new cjs.Encoder().encode(v)), v);
  });
});

describe('codec: randomized against structuredClone', () => {
  test('decode(encode(x)) deep-equals structuredClone(x), identity included, for 4000 seeded values', () => {
    const seed = Number(process.env.WEFT_SEED ?? 20240611);
    const rnd = prng(seed);
    const int = (n) => Math.floor(rnd() * n);
    const pick = (a) => a[int(a.length)];
    const KEYS = ['id', 'name', 'tags', 'price', 'ok', '', 'é', '🌍', '__proto__', 'constructor', '0', '1', '10', 'a b', 'k'.repeat(30), '\uD800'];
    const NUMBERS = [0, -0, 1, -1, 127, 128, -128, -129, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, NaN, Infinity, -Infinity, 0.1, 9.99, 1e-310];
    const TYPED_KINDS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array];
    const ERRORS = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError];
    const randomString = () => {
      const n = pick([0, 1, 3, 8, 16, 40, 41, 63, 64, 65, 100, 300]);
      const alphabet = pick(['ascii', 'latin', 'bmp', 'any']);
      let s = '';
      for (let i = 0; i < n; i++) {
        if (alphabet === 'ascii') s += String.fromCharCode(int(128));
        else if (alphabet === 'latin') s += String.fromCharCode(rnd() < 0.8 ? 97 + int(26) : 0xe0 + int(32));
        else if (alphabet === 'bmp') s += String.fromCharCode(rnd() < 0.5 ? 0x4e00 + int(100) : 0x20 + int(90));
        else s += String.fromCharCode(int(65536)); // lone surrogates likely
      }
      return s;
    };
    const randomBigint = () => {
      let b = BigInt(int(2 ** 30));
      for (let i = int(6); i > 0; i--) b = (b << 30n) | BigInt(int(2 ** 30));
      return rnd() < 0.5 ? -b : b;
    };
    const primitive = () => {
      switch (int(7)) {
        case 0: return pick(NUMBERS);
        case 1: return int(3) === 0 ? rnd() * 1e6 - 5e5 : int(2 ** 20) - 2 ** 19;
        case 2: return randomString();
        case 3: return pick([true, false, null, undefined]);
        case 4: return randomBigint();
        case 5: return pick(KEYS);
        default: return int(300) - 150;
      }
    };
    const gen = (depth, pool) => {
      if (pool.length > 0 && rnd() < 0.08) return pick(pool); // a shared reference, perhaps a cycle
      const r = rnd();
      if (depth > 4 || r < 0.4) return primitive();
      let v;
      if (r < 0.55) {
        v = [];
        pool.push(v);
        const n = int(6);
        for (let i = 0; i < n; i++) {
          if (rnd() < 0.1) v.length++; // a hole
          else v.push(gen(depth + 1, pool));
        }
        if (rnd() < 0.05) v.length += 3;
      } else if (r < 0.72) {
        v = rnd() < 0.05 ? Object.create(null) : {};
        pool.push(v);
        const n = int(6);
        for (let i = 0; i < n; i++) {
          const k = rnd() < 0.8 ? pick(KEYS) : randomString();
          if (k === '__proto__') Object.defineProperty(v, k, { value: gen(depth + 1, pool), enumerable: true, writable: true, configurable: true });
          else v[k] = gen(depth + 1, pool);
        }
      } else if (r < 0.78) {
        v = new Map();
        pool.push(v);
        for (let i = int(4); i > 0; i--) v.set(gen(depth + 1, pool), gen(depth + 1, pool));
      } else if (r < 0.82) {
        v = new Set();
        pool.push(v);
        for (let i = int(4); i > 0; i--) v.add(gen(depth + 1, pool));
      } else if (r < 0.84) {
        v = new Date(int(2 ** 42) - 2 ** 41); // (not an invalid Date: deepStrictEqual finds two of them unequal)
      } else if (r < 0.86) {
        v = new RegExp(pick(['a.b', '^x+$', '[é-ü]', '\\d{2,}', '']), pick(['', 'g', 'gimsuy', 'd', 'v']));
      } else if (r < 0.89) {
        const C = pick(ERRORS);
        v = rnd() < 0.5 ? new C(randomString(), { cause: gen(depth + 1, pool) }) : rnd() < 0.5 ? new C(randomString()) : new C();
        pool.push(v);
      } else if (r < 0.95) {
        const C = pick(TYPED_KINDS);
        const n = int(9);
        const bytes = new Uint8Array(n * C.BYTES_PER_ELEMENT).map(() => int(256));
        v = rnd() < 0.15 ? new DataView(bytes.buffer) : new C(bytes.buffer);
        if (rnd() < 0.3) v = { view: v, buffer: v.buffer, again: rnd() < 0.5 ? new Uint8Array(v.buffer) : v };
      } else if (r < 0.97) {
        v = new Uint8Array(int(20)).map(() => int(256)).buffer;
      } else {
        v = Object(pick([1.5, -0, 'boxed', 'é\uD800', true, false, 10n, -(2n ** 80n)]));
      }
      return v;
    };
    for (let i = 0; i < 4000; i++) {
      const v = gen(0, []);
      try {
        same(v);
      } catch (e) {
        // A fresh error: the reporter would otherwise serialize the values, which it cannot always do.
        throw new Error(`value #${i} (WEFT_SEED=${seed}): ${e.message}`);
      }
    }
  });
});
