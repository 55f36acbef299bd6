// Value and SharedArray: types and their extremes, locks, atomic operations, placement, revive,
// then real workers: locked and atomic increments, and untorn float64 reads under a hammering writer.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Lock, revive, RLock, SharedArray, Value, WeftError } from 'weft';
import { spawn, terminateAll } from './helpers/workers.mjs';
import { awaitAtLeast, control } from './helpers/sync.mjs';
import { VALUE_LAYOUT } from '../dist/esm/value.js';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

const EXTREMES = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1], bigint64: [-(2n ** 63n), 2n ** 63n - 1n],
  biguint64: [0n, 2n ** 64n - 1n], float32: [-3.4028234663852886e38, 1.401298464324817e-45],
  float64: [-Number.MAX_VALUE, Number.MIN_VALUE],
};
const CODES = { int8: 'b', uint8: 'B', int16: 'h', uint16: 'H', int32: 'i', uint32: 'I', bigint64: 'q', biguint64: 'Q', float32: 'f', float64: 'd' };

describe('Value', () => {
  test('every type and typecode round-trips its extremes', () => {
    for (const [name, values] of Object.entries(EXTREMES)) {
      for (const type of [name, CODES[name]]) {
        const v = new Value(type);
        assert.equal(v.type, name);
        assert.equal(v.value, typeof values[0] === 'bigint' ? 0n : 0, 'zero by default');
        for (const x of values) {
          v.value = x;
          assert.equal(v.value, x, `${type} ${x}`);
        }
      }
    }
    const f = new Value('d', NaN);
    assert.ok(Number.isNaN(f.value));
    f.value = -0;
    assert.ok(Object.is(f.value, -0));
  });

  test('64-bit integers are bigint: 2**33 -> 2**34 exactly', () => {
    const v = new Value('q', 2n ** 33n);
    assert.equal(v.value, 8589934592n);
    v.value = 2n ** 34n;
    assert.equal(v.value, 17179869184n);
    assert.equal(v.add(2n ** 34n), 2n ** 34n);
    assert.equal(v.value, 2n ** 35n);
  });

  test('bad input: unknown type (naming the valid ones), wrong kind, out of range; nothing changes', () => {
    assert.throws(() => new Value('int'), (e) => e instanceof TypeError && /'int32'.*'i'/.test(e.message));
    assert.throws(() => new Value('i', 1.5), RangeError);
    assert.throws(() => new Value('B', 256), RangeError);
    assert.throws(() => new Value('q', 1), TypeError);
    const v = new Value('i', 7, { name: 'hits' });
    assert.throws(() => { v.value = 2 ** 31; }, /Value 'hits'/);
    assert.throws(() => { v.value = '8'; }, TypeError);
    assert.equal(v.value, 7);
    assert.throws(() => new Value('d').add(1), TypeError);
    assert.throws(() => v.add(1.5), TypeError);
  });

  test('atomic operations return the previous value', () => {
    const v = new Value('i', 10);
    assert.equal(v.add(5), 10);
    assert.equal(v.sub(3), 15);
    assert.equal(v.and(0b1100), 12);
    assert.equal(v.or(0b0011), 12);
    assert.equal(v.xor(0b1111), 15);
    assert.equal(v.exchange(42), 0);
    assert.equal(v.compareExchange(41, 1), 42, 'no swap: the value was not 41');
    assert.equal(v.compareExchange(42, 1), 42);
    assert.equal(v.value, 1);
  });

  test('lock option: RLock by default, none, or the one given', () => {
    assert.ok(new Value('i').getLock() instanceof RLock);
    assert.throws(() => new Value('i', 0, { lock: false }).getLock(), (e) => e instanceof WeftError && e.code === 'ERR_NO_LOCK');
    const lock = new Lock();
    assert.equal(new Value('i', 0, { lock }).getLock(), lock);
    assert.throws(() => new Value('i', 0, { lock: 'yes' }), TypeError);
  });

  test('placed in a caller buffer at an offset; revive and from keep the memory and the lock', () => {
    const buffer = new SharedArrayBuffer(256);
    const v = new Value('d', 2.5, { buffer, byteOffset: 64 });
    assert.equal(v.buffer, buffer);
    assert.equal(new Float64Array(buffer, 64 + 16, 1)[0], 2.5);
    const r = revive(structuredClone({ v }));
    assert.ok(r.v instanceof Value);
    r.v.value = 3.5;
    assert.equal(v.value, 3.5);
    r.v.getLock().acquire();
    assert.equal(v.getLock().locked, true, 'the same lock');
    r.v.getLock().release();
    assert.throws(() => Value.from(structuredClone(new Lock())), TypeError);
  });
});

describe('SharedArray', () => {
  test('from a length (zero-filled) or from values; get, set, length, array, toArray, iteration', () => {
    const a = new SharedArray('i', 4);
    assert.equal(a.length, 4);
    assert.deepEqual(a.toArray(), [0, 0, 0, 0]);
    a.set(2, -5);
    assert.equal(a.get(2), -5);
    assert.equal(a.array[2], -5, 'array is the live view');
    a.array[3] = 9;
    assert.equal(a.get(3), 9);
    assert.deepEqual([...a], [0, 0, -5, 9]);
    const b = new SharedArray('Q', [1n, 2n ** 64n - 1n]);
    assert.deepEqual(b.toArray(), [1n, 2n ** 64n - 1n]);
    const c = new SharedArray('f', new Set([0.5, 1.5]));
    assert.deepEqual(c.toArray(), [0.5, 1.5]);
    assert.equal(new SharedArray('d', 0).length, 0);
  });

  test('bad input: RangeError out of range, TypeError for a wrong kind or type', () => {
    const a = new SharedArray('B', [1, 2], { name: 'bytes' });
    assert.throws(() => a.get(2), (e) => e instanceof RangeError && /SharedArray 'bytes'/.test(e.message));
    assert.throws(() => a.get(-1), RangeError);
    assert.throws(() => a.set(0, 300), RangeError);
    assert.throws(() => a.set(0, 'x'), TypeError);
    assert.throws(() => new SharedArray('nope', 3), TypeError);
    assert.throws(() => new SharedArray('i', -1), RangeError);
    assert.throws(() => new SharedArray('i', [1, 'a']), TypeError);
    assert.throws(() => new SharedArray('i'), TypeError);
    assert.deepEqual(a.toArray(), [1, 2]);
  });

  test('placement, revive, lock', () => {
    const buffer = new SharedArrayBuffer(1024);
    const a = new SharedArray('d', [1.5, 2.5, 3.5], { buffer, byteOffset: 128, lock: false });
    const r = SharedArray.from(structuredClone(a));
    r.set(1, 9.5);
    assert.equal(a.get(1), 9.5);
    assert.throws(() => r.getLock(), WeftError);
    assert.ok(new SharedArray('i', 1).getLock() instanceof RLock);
  });
});

describe('Value and SharedArray: across threads', () => {
  test('locked read-modify-write from 4 workers totals exactly', async () => {
    const v = new Value('i', 0);
    const n = 5_000 * STRESS;
    await Promise.all([0, 1, 2, 3].map(() => spawn(({ data }) => {
      const { v, n } = data;
      const lock = v.getLock();
      for (let i = 0; i < n; i++) {
        lock.acquire();
        v.value = v.value + 1; // not atomic on its own: the lock makes it so
        lock.release();
      }
    }, { v, n })));
    assert.equal(v.value, 4 * n);
  });

  test('atomic add without a lock totals exactly (Value and a 64-bit Value)', async () => {
    const v = new Value('i', 0, { lock: false });
    const big = new Value('q', 0n, { lock: false });
    const n = 20_000 * STRESS;
    await Promise.all([0, 1, 2, 3].map(() => spawn(({ data }) => {
      for (let i = 0; i < data.n; i++) {
        data.v.add(1);
        data.big.add(2n ** 32n);
      }
    }, { v, big, n })));
    assert.equal(v.value, 4 * n);
    assert.equal(big.value, BigInt(4 * n) * 2n ** 32n);
  });

  test('float64 never tears: readers only ever see written values while a writer hammers', async () => {
    // Every written value has different upper and lower 32-bit halves from its neighbours, so a
    // torn read (half of one, half of another) would be a value that was never written.
    const v = new Value('d', 0, { lock: false });
    const arr = new SharedArray('d', 4, { lock: false });
    const stop = new Int32Array(new SharedArrayBuffer(8)); // [0]: writer done, [1]: reader reading
    const writes = 50_000 * STRESS;
    const writer = spawn(({ data, h }) => {
      const { v, arr, stop, writes } = data;
      h.awaitAtLeast(stop, 1, 1, 30_000); // a handshake: the reader is in its loop before we write
      for (let k = 1; k <= writes; k++) {
        const x = k * (1 + 2 ** -40); // low bits differ from high bits' pattern at every k
        v.value = x;
        arr.set(k & 3, x);
      }
      Atomics.store(stop, 0, 1);
      return writes;
    }, { v, arr, stop, writes }, { ms: 60_000 });
    const reader = ({ data }) => {
      const { v, arr, stop } = data;
      let reads = 0;
      const ok = (x) => {
        if (x === 0) return true;
        const k = Math.round(x / (1 + 2 ** -40));
        return k >= 1 && x === k * (1 + 2 ** -40);
      };
      while (Atomics.load(stop, 0) === 0) {
        const x = v.value;
        if (!ok(x)) throw new Error(`torn read: ${x}`);
        const y = arr.get(reads & 3);
        if (!ok(y)) throw new Error(`torn element read: ${y}`);
        if (reads++ === 0) {
          Atomics.store(stop, 1, 1);
          Atomics.notify(stop, 1);
        }
      }
      return reads;
    };
    const readers = [spawn(reader, { v, arr, stop }, { ms: 60_000 })];
    const [w, r] = await Promise.all([writer, ...readers]);
    assert.equal(w, writes);
    assert.ok(r > 0, 'the reader read while the writer wrote');
    assert.equal(v.value, writes * (1 + 2 ** -40));
  });

  test('a float64 read never returns a value while a write is under way (the seqlock)', async () => {
    // Stage a write in progress by hand: SEQ odd, garbage in the data. A reader must wait for the
    // write to finish and see the finished value; without the seqlock it would return the garbage.
    const v = new Value('d', 1.5, { lock: false });
    const i32 = new Int32Array(v.buffer, v.byteOffset, VALUE_LAYOUT.SEQ + 1);
    const data = new Float64Array(v.buffer, v.byteOffset + VALUE_LAYOUT.DATA_AT, 1);
    const seq = Atomics.load(i32, VALUE_LAYOUT.SEQ);
    Atomics.store(i32, VALUE_LAYOUT.SEQ, seq + 1);
    data[0] = 666;
    const ctl = control();
    const reader = spawn(({ data, h }) => {
      h.signal(data.ctl, 0);
      return data.v.value;
    }, { v, ctl });
    awaitAtLeast(ctl, 0);
    data[0] = 2.5;
    Atomics.store(i32, VALUE_LAYOUT.SEQ, seq + 2);
    assert.equal(await reader, 2.5);
  });
});
