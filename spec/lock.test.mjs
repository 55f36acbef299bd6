// Lock and RLock: small cases, then real workers, then a mutual-exclusion stress run.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { DeadlockError, Lock, NotHeldError, RLock, TimeoutError, WeftError } from 'weft';
import { LOCK_LAYOUT } from '../dist/esm/lock.js';
import { awaitAtLeast, control, signal, slot, until } from './helpers/sync.mjs';
import { holdInWorker, spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

/** True once some thread has announced itself asleep on the lock (the CONTENDED bit). */
const contended = (lock) => (slot(lock, LOCK_LAYOUT.STATE) & 1) === 1;

describe('Lock: single thread', () => {
  test('acquire, locked, release', () => {
    const lock = new Lock();
    assert.equal(lock.locked, false);
    assert.equal(lock.acquire(), true);
    assert.equal(lock.locked, true);
    lock.release();
    assert.equal(lock.locked, false);
  });

  test('tryAcquire and acquire(0) never wait', () => {
    const lock = new Lock();
    assert.equal(lock.tryAcquire(), true);
    assert.equal(lock.tryAcquire(), false, 'held by this thread: tryAcquire says false, not DeadlockError');
    assert.equal(lock.acquire(0), false);
    lock.release();
  });

  test('re-acquire by the holder throws DeadlockError at once, with or without a timeout', () => {
    const lock = new Lock({ name: 'jobs' });
    lock.acquire();
    for (const t of [undefined, Infinity, 1000]) {
      const t0 = performance.now();
      assert.throws(() => lock.acquire(t), (e) => {
        assert.ok(e instanceof DeadlockError && e instanceof WeftError && e instanceof Error);
        assert.equal(e.code, 'ERR_DEADLOCK');
        assert.match(e.message, /Lock 'jobs'/);
        return true;
      });
      assert.ok(performance.now() - t0 < 500, 'it must not wait out the timeout');
    }
    assert.equal(lock.locked, true, 'the failed acquire changed nothing');
    lock.release();
  });

  test('release of an unheld lock throws NotHeldError and changes nothing', () => {
    const lock = new Lock({ name: 'free' });
    assert.throws(() => lock.release(), (e) => e instanceof NotHeldError && e.code === 'ERR_NOT_HELD' && /Lock 'free'/.test(e.message));
    assert.equal(lock.locked, false);
    assert.equal(lock.acquire(0), true);
    lock.release();
  });

  test('bad timeouts: RangeError for negative and NaN, TypeError for non-numbers; nothing acquired', () => {
    const lock = new Lock();
    assert.throws(() => lock.acquire(-1), RangeError);
    assert.throws(() => lock.acquire(NaN), RangeError);
    assert.throws(() => lock.acquire('5'), TypeError);
    assert.equal(lock.locked, false);
    return assert.rejects(lock.acquireAsync(-5), RangeError);
  });

  test('hold() returns a Disposable that releases once', () => {
    const lock = new Lock();
    // `using h = lock.hold()` where the runtime has the syntax (Node 20 does not): the same calls.
    const held = lock.hold();
    try {
      assert.equal(lock.locked, true);
    } finally {
      held[Symbol.dispose]();
    }
    assert.equal(lock.locked, false);
    const h = lock.hold(0);
    h[Symbol.dispose]();
    h[Symbol.dispose]();
    assert.equal(lock.locked, false, 'a second dispose does not release someone else');
  });

  test('toString and name', () => {
    assert.equal(String(new Lock({ name: 'a' })), "Lock 'a'");
    assert.equal(String(new Lock()), 'Lock');
    assert.throws(() => new Lock({ name: 5 }), TypeError);
  });

  test('placed in a caller buffer at an offset', () => {
    const buffer = new SharedArrayBuffer(256);
    const a = new Lock({ buffer, byteOffset: 64 });
    const b = new Lock({ buffer, byteOffset: 128 });
    a.acquire();
    assert.equal(b.locked, false);
    assert.equal(Lock.from(structuredClone(a)).locked, true);
    a.release();
    assert.throws(() => new Lock({ buffer, byteOffset: 250 }), RangeError);
    assert.throws(() => new Lock({ buffer, byteOffset: 4 }), RangeError);
    assert.throws(() => new Lock({ buffer: new ArrayBuffer(64) }), TypeError);
  });
});

describe('RLock: single thread', () => {
  test('each acquire needs one release', () => {
    const r = new RLock();
    assert.equal(r.acquire(), true);
    assert.equal(r.acquire(), true);
    assert.equal(r.tryAcquire(), true);
    r.release();
    r.release();
    assert.equal(r.locked, true);
    r.release();
    assert.equal(r.locked, false);
    assert.throws(() => r.release(), NotHeldError);
  });

  test('acquireAsync by the owner counts a level at once', async () => {
    const r = new RLock();
    r.acquire();
    assert.equal(await r.acquireAsync(), true);
    r.release();
    r.release();
    assert.equal(r.locked, false);
  });
});

describe('Lock: across threads', () => {
  test('a waiter wakes when the holder releases', async () => {
    const lock = new Lock();
    const ctl = control();
    lock.acquire();
    const w = spawn(({ data, h }) => {
      h.signal(data.ctl, 0);
      const got = data.lock.acquire(20_000);
      data.lock.release();
      return got;
    }, { lock, ctl });
    awaitAtLeast(ctl, 0);
    await until(() => contended(lock), 10_000, 'the worker to sleep on the lock');
    lock.release();
    assert.equal(await w, true);
    assert.equal(lock.locked, false);
  });

  test('release by another thread throws NotHeldError and leaves the lock held', async () => {
    const lock = new Lock({ name: 'mine' });
    lock.acquire();
    const msg = await spawn(({ data, weft }) => {
      try {
        data.lock.release();
        return 'released';
      } catch (e) {
        return `${e.name}|${e.code}|${e instanceof weft.NotHeldError}|${e.message}`;
      }
    }, { lock });
    assert.match(msg, /^NotHeldError\|ERR_NOT_HELD\|true\|Lock 'mine': release\(\) by a thread that does not hold it/);
    assert.equal(lock.locked, true);
    lock.release();
  });

  test('RLock release by a non-owner throws and changes nothing', async () => {
    const r = new RLock();
    r.acquire();
    r.acquire();
    const name = await spawn(({ data }) => {
      try {
        data.r.release();
        return 'released';
      } catch (e) {
        return e.name;
      }
    }, { r });
    assert.equal(name, 'NotHeldError');
    r.release();
    assert.equal(r.locked, true, 'depth is still 1');
    r.release();
    assert.equal(r.locked, false);
  });

  test('acquire(timeout) times out while another thread holds it', async () => {
    const lock = new Lock();
    const { ctl, w } = holdInWorker(lock);
    const t0 = performance.now();
    assert.equal(lock.acquire(150), false);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 0.6 * 150, `waited ${elapsed} ms`);
    const t1 = performance.now();
    assert.equal(await lock.acquireAsync(100), false);
    assert.ok(performance.now() - t1 >= 60);
    assert.throws(() => lock.hold(10), TimeoutError);
    await assert.rejects(lock.holdAsync(10), TimeoutError);
    signal(ctl, 1);
    await w;
    assert.equal(lock.acquire(0), true);
    lock.release();
  });

  test('acquireAsync does not block the event loop and resolves when released', async () => {
    const lock = new Lock();
    const { ctl, w } = holdInWorker(lock);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const p = lock.acquireAsync(20_000);
    await until(() => ticks >= 3, 10_000, 'the event loop to run while acquireAsync waits');
    signal(ctl, 1);
    assert.equal(await p, true);
    clearInterval(ticker);
    lock.release();
    await w;
  });

  test('the holding thread may acquireAsync: another task of its loop releases', async () => {
    const lock = new Lock();
    lock.acquire();
    const p = lock.acquireAsync(10_000);
    setTimeout(() => lock.release(), 5);
    assert.equal(await p, true);
    lock.release();
  });
});

describe('Lock: stress', () => {
  test('mutual exclusion: a non-atomic counter from 4 threads totals exactly', async () => {
    for (const Kind of [Lock, RLock]) {
      const lock = new Kind();
      const counter = new Int32Array(new SharedArrayBuffer(8));
      const n = 20_000 * STRESS;
      const body = async ({ data }) => {
        const { lock, counter, n, async: useAsync } = data;
        for (let i = 0; i < n; i++) {
          if (useAsync && i % 16 === 0) {
            if (!(await lock.acquireAsync(30_000))) throw new Error('acquireAsync timed out');
          } else if (!lock.acquire(30_000)) throw new Error('acquire timed out');
          // A deliberate non-atomic read-modify-write: only mutual exclusion keeps it exact.
          const v = counter[0];
          counter[1] = v;
          counter[0] = v + 1;
          lock.release();
        }
        return n;
      };
      const workers = [0, 1, 2, 3].map((k) => spawn(body, { lock, counter, n, async: k % 2 === 1 }, { ms: 60_000 }));
      const done = await Promise.all(workers);
      assert.equal(done.reduce((a, b) => a + b, 0), 4 * n);
      assert.equal(counter[0], 4 * n, `${Kind.name}: lost updates`);
      assert.equal(lock.locked, false);
    }
  });
});
