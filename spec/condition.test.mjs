// Condition: small cases, then real workers (notify counts, FIFO, RLock levels, async twins),
// then a producer/consumer stress run with exact totals.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Condition, Lock, NotHeldError, RLock, TooManyWaitersError, revive } from 'weft';
import { CONDITION_LAYOUT, CONDITION_STATES } from '../dist/esm/condition.js';
import { awaitAtLeast, control, signal, slot, until } from './helpers/sync.mjs';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

/** Threads registered as waiting on `cond` right now (slots WAITING or SLEEPING). */
function waiting(cond) {
  const cap = slot(cond, CONDITION_LAYOUT.CAPACITY);
  let n = 0;
  for (let k = 0; k < cap; k++) {
    const st = slot(cond, CONDITION_LAYOUT.SLOTS_AT + 2 * k);
    if (st === CONDITION_STATES.WAITING || st === CONDITION_STATES.SLEEPING) n++;
  }
  return n;
}

/** A worker body: wait on the condition once (lock held around it), report through ctl. */
const waiter = ({ data, h }) => {
  const { cond, ctl, id } = data;
  cond.acquire();
  try {
    h.bump(ctl, 0); // registered intent; the main thread polls the slots to know we sleep
    const ok = cond.wait(20_000);
    Atomics.store(ctl, 4 + Atomics.add(ctl, 3, 1), id); // wake-up order, recorded before the count
    h.bump(ctl, 1);
    return ok;
  } finally {
    cond.release();
  }
};

describe('Condition: single thread', () => {
  test('wait/notify without the lock throw NotHeldError and change nothing', () => {
    const cond = new Condition(new Lock(), { name: 'c' });
    assert.throws(() => cond.wait(0), (e) => e instanceof NotHeldError && /Condition 'c'/.test(e.message));
    assert.throws(() => cond.notify(), NotHeldError);
    assert.throws(() => cond.notifyAll(), NotHeldError);
    assert.equal(cond.lock.locked, false);
    assert.equal(waiting(cond), 0);
  });

  test('wait(timeout) returns false after about the timeout and holds the lock again', async () => {
    const cond = new Condition();
    cond.acquire();
    const t0 = performance.now();
    assert.equal(cond.wait(100), false);
    assert.ok(performance.now() - t0 >= 60);
    assert.equal(cond.lock.locked, true);
    const t1 = performance.now();
    assert.equal(await cond.waitAsync(100), false);
    assert.ok(performance.now() - t1 >= 60);
    cond.release();
    assert.equal(cond.lock.locked, false);
    assert.equal(waiting(cond), 0, 'slots freed');
  });

  test('a notify with nobody waiting is not remembered', () => {
    const cond = new Condition();
    cond.acquire();
    cond.notify();
    cond.notifyAll();
    assert.equal(cond.wait(50), false);
    cond.release();
  });

  test('waitFor returns the predicate\'s last value, with and without timeout', () => {
    const cond = new Condition();
    cond.acquire();
    assert.equal(cond.waitFor(() => 'ready'), 'ready');
    let calls = 0;
    const t0 = performance.now();
    assert.equal(cond.waitFor(() => (calls++, 0), 80), 0);
    assert.ok(performance.now() - t0 >= 50 && calls >= 2);
    cond.release();
  });

  test('bad arguments', () => {
    assert.throws(() => new Condition('lock'), TypeError);
    assert.throws(() => new Condition(undefined, { maxWaiters: 0 }), RangeError);
    const cond = new Condition();
    cond.acquire();
    assert.throws(() => cond.wait(-1), RangeError);
    assert.throws(() => cond.notify(-1), RangeError);
    assert.throws(() => cond.notify(1.5), RangeError);
    cond.release();
  });

  test('new Condition(options) and an explicit Lock; from() restores the lock too', () => {
    const a = new Condition({ name: 'opts' });
    assert.equal(a.name, 'opts');
    assert.ok(a.lock instanceof RLock);
    const lock = new Lock();
    const b = new Condition(lock);
    assert.equal(b.lock, lock);
    const r = revive(structuredClone({ b }));
    assert.ok(r.b instanceof Condition && r.b.lock instanceof Lock);
    lock.acquire();
    assert.equal(r.b.lock.locked, true, 'same memory');
    lock.release();
    assert.throws(() => Condition.from(structuredClone(lock)), TypeError);
  });
});

describe('Condition: across threads', () => {
  test('notify(n) wakes exactly n of the waiters, oldest first; notifyAll the rest', async () => {
    const cond = new Condition(new Lock());
    const ctl = control(16);
    const K = 4;
    const ws = [];
    for (let id = 1; id <= K; id++) {
      // One at a time, so arrival order is known.
      ws.push(spawn(waiter, { cond, ctl, id }));
      await until(() => waiting(cond) === id, 10_000, `waiter ${id} to register`);
    }
    cond.acquire();
    cond.notify(2);
    cond.release();
    awaitAtLeast(ctl, 1, 2);
    await until(() => waiting(cond) === K - 2, 10_000, 'two waiters to leave');
    assert.equal(Atomics.load(ctl, 1), 2, 'exactly two woke');
    assert.deepEqual([ctl[4], ctl[5]].sort(), [1, 2], 'the two oldest');
    cond.acquire();
    cond.notifyAll();
    cond.release();
    assert.deepEqual(await Promise.all(ws), [true, true, true, true]);
    assert.equal(Atomics.load(ctl, 1), K);
  });

  test('notify(1) wakes the oldest waiter', async () => {
    const cond = new Condition();
    const ctl = control(16);
    const a = spawn(waiter, { cond, ctl, id: 7 });
    await until(() => waiting(cond) === 1, 10_000, 'first waiter');
    const b = spawn(waiter, { cond, ctl, id: 8 });
    await until(() => waiting(cond) === 2, 10_000, 'second waiter');
    cond.acquire();
    cond.notify(1);
    cond.release();
    awaitAtLeast(ctl, 1, 1);
    assert.equal(ctl[4], 7);
    cond.acquire();
    cond.notify(1);
    cond.release();
    assert.deepEqual(await Promise.all([a, b]), [true, true]);
    assert.equal(ctl[5], 8);
  });

  test('wait on an RLock held 3 levels releases all of them and restores them', async () => {
    const r = new RLock();
    const cond = new Condition(r);
    const ctl = control();
    r.acquire();
    r.acquire();
    r.acquire();
    const w = spawn(({ data }) => {
      // Only possible if the main thread's wait released every level.
      if (!data.cond.acquire(20_000)) return 'could not acquire';
      data.cond.notify();
      data.cond.release();
      return 'notified';
    }, { cond, ctl });
    assert.equal(cond.wait(20_000), true);
    assert.equal(await w, 'notified');
    r.release();
    r.release();
    r.release();
    assert.throws(() => r.release(), NotHeldError);
  });

  test('waitAsync keeps the event loop running and is woken by a worker', async () => {
    const cond = new Condition();
    const ctl = control();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    await cond.acquireAsync();
    const p = cond.waitAsync(20_000);
    const w = spawn(({ data, h }) => {
      h.awaitAtLeast(data.ctl, 0, 1, 20_000);
      data.cond.acquire();
      data.cond.notify();
      data.cond.release();
    }, { cond, ctl });
    await until(() => ticks >= 3, 10_000, 'the loop to tick');
    signal(ctl, 0);
    assert.equal(await p, true);
    assert.equal(cond.lock.locked, true, 're-acquired');
    cond.release();
    clearInterval(ticker);
    await w;
  });

  test('more waiters than slots: TooManyWaitersError, nothing changed', async () => {
    const cond = new Condition(new Lock(), { maxWaiters: 1 });
    const ctl = control(16);
    const w = spawn(waiter, { cond, ctl, id: 1 });
    await until(() => waiting(cond) === 1, 10_000, 'the only slot taken');
    cond.acquire();
    assert.throws(() => cond.wait(10), (e) => e instanceof TooManyWaitersError && e.code === 'ERR_TOO_MANY_WAITERS');
    assert.equal(cond.lock.locked, true);
    cond.notify();
    cond.release();
    assert.equal(await w, true);
  });
});

describe('Condition: stress', () => {
  test('producer/consumer over a shared slot: every item consumed exactly once', async () => {
    const N = 2_000 * STRESS;
    const cond = new Condition(new Lock());
    const box = new Int32Array(new SharedArrayBuffer(16)); // [item (0 empty, -1 end), consumed count, sum]
    const consumer = ({ data }) => {
      const { cond, box } = data;
      let mine = 0;
      for (;;) {
        cond.acquire();
        try {
          if (!cond.waitFor(() => box[0] !== 0, 30_000)) throw new Error('consumer starved');
          if (box[0] === -1) return mine;
          box[2] += box[0];
          box[1]++;
          box[0] = 0;
          mine++;
          cond.notifyAll();
        } finally {
          cond.release();
        }
      }
    };
    const cs = [0, 1, 2].map(() => spawn(consumer, { cond, box }, { ms: 60_000 }));
    for (let v = 1; v <= N; v++) {
      cond.acquire();
      try {
        assert.ok(v % 3 === 0 ? await cond.waitForAsync(() => box[0] === 0, 30_000) : cond.waitFor(() => box[0] === 0, 30_000));
        box[0] = v;
        cond.notifyAll();
      } finally {
        cond.release();
      }
    }
    cond.acquire();
    cond.waitFor(() => box[0] === 0, 30_000);
    box[0] = -1;
    cond.notifyAll();
    cond.release();
    const counts = await Promise.all(cs);
    assert.equal(counts.reduce((a, b) => a + b, 0), N);
    assert.equal(box[1], N);
    assert.equal(box[2], (N * (N + 1)) / 2);
  });
});
