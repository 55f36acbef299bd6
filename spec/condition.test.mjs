// Condition: small named cases on one thread, then real workers (notify counts, FIFO order,
// RLock levels, timeouts that re-acquire, async twins, misuse), then a bounded-buffer
// producer/consumer stress run with per-item counts.
//
// Threads are ordered with handshakes on raw Int32Arrays (helpers/sync.mjs), never with sleeps or
// the Condition under test. "Parked" means: the waiter's slot in the Condition's block is WAITING
// or SLEEPING (polled through CONDITION_LAYOUT). Every wait has a timeout; every worker a watchdog.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  Barrier, Condition, DeadlockError, Lock, NotHeldError, RLock, Semaphore, TooManyWaitersError, WeftError, revive,
} from 'weft';
import { CONDITION_LAYOUT, CONDITION_STATES } from '../dist/esm/condition.js';
import { LOCK_LAYOUT } from '../dist/esm/lock.js';
import { awaitAtLeast, control, signal, slot, until } from './helpers/sync.mjs';
import { holdInWorker, spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
// Per-test time limits: a wake-up that never comes fails that test (the waits outlast them).
const LIMIT = { timeout: 30_000 };
const STRESS_LIMIT = { timeout: 60_000 * Math.max(1, STRESS) };
after(terminateAll);

const { CAPACITY, SLOTS_AT } = CONDITION_LAYOUT;
const { FREE, WAITING, SLEEPING, NOTIFIED } = CONDITION_STATES;
// Plain copies, to send to workers (they poll the same slots).
const L = { ...CONDITION_LAYOUT };
const S = { ...CONDITION_STATES };

/** The state word of every waiter slot of `cond`. */
function states(cond) {
  const cap = slot(cond, CAPACITY);
  return Array.from({ length: cap }, (_, k) => slot(cond, SLOTS_AT + 2 * k));
}
const isParked = (st) => st === WAITING || st === SLEEPING;
/** Threads registered as waiting on `cond` right now (slots WAITING or SLEEPING). */
const waiting = (cond) => states(cond).filter(isParked).length;
/** Indices of the parked slots. */
const parkedSlots = (cond) => states(cond).flatMap((st, k) => (isParked(st) ? [k] : []));

/**
 * Everything a misused call could touch: the Condition's whole block and its lock's words. (Not
 * the spinner count, and a parked waiter's WAITING → SLEEPING is its own business.)
 */
function snapshot(cond) {
  const words = SLOTS_AT + 2 * slot(cond, CAPACITY);
  const word = (i) => {
    if (i === CONDITION_LAYOUT.SPINNERS) return 0;
    const v = slot(cond, i);
    return i >= SLOTS_AT && (i - SLOTS_AT) % 2 === 0 && v === SLEEPING ? WAITING : v;
  };
  const mine = Array.from({ length: words }, (_, i) => word(i));
  return { mine, lockState: slot(cond.lock, LOCK_LAYOUT.STATE), lockDepth: slot(cond.lock, LOCK_LAYOUT.DEPTH) };
}

/**
 * Worker body: (after its gate ctl[8 + id] opens, if `gated`) wait once on the condition with the
 * lock held; on return, under the lock again, record the wake-up order in ctl[4 + k] and count it
 * in ctl[1]. Returns wait's result. Releasing in `finally` throws if wait did not re-acquire.
 */
const waiter = ({ data, h }) => {
  const { cond, ctl, id, gated, ms = 20_000 } = data;
  if (gated) h.awaitAtLeast(ctl, 8 + id, 1, 20_000, `gate of waiter ${id}`);
  cond.acquire();
  try {
    const ok = cond.wait(ms);
    Atomics.store(ctl, 4 + Atomics.load(ctl, 1), id); // under the lock: no other waiter writes now
    h.bump(ctl, 1);
    return ok;
  } finally {
    cond.release();
  }
};

const elapsedSince = (t0) => performance.now() - t0;

describe('Condition: single thread', () => {
  test('constructor: default RLock, an explicit Lock or RLock, the options-only form, name', LIMIT, () => {
    const a = new Condition();
    assert.ok(a.lock instanceof RLock);
    const lock = new Lock();
    const b = new Condition(lock, { name: 'jobs' });
    assert.equal(b.lock, lock);
    assert.equal(b.name, 'jobs');
    assert.equal(String(b), "Condition 'jobs'");
    const r = new RLock();
    assert.equal(new Condition(r).lock, r);
    const c = new Condition({ name: 'opts', maxWaiters: 3 });
    assert.equal(c.name, 'opts');
    assert.ok(c.lock instanceof RLock);
    assert.equal(slot(c, CAPACITY), 3);
    assert.equal(slot(a, CAPACITY), 64, 'default maxWaiters');
  });

  test('constructor: a lock that is not a Lock or RLock is a TypeError; bad maxWaiters a RangeError', LIMIT, () => {
    assert.throws(() => new Condition('lock'), TypeError);
    assert.throws(() => new Condition(new Semaphore()), TypeError);
    for (const maxWaiters of [0, -1, 1.5, NaN, 2 ** 17]) {
      assert.throws(() => new Condition(undefined, { maxWaiters }), RangeError, `maxWaiters ${maxWaiters}`);
    }
  });

  test('with an explicit Lock, the condition acquires that Lock (holder re-acquiring: DeadlockError)', LIMIT, () => {
    const lock = new Lock();
    const cond = new Condition(lock);
    assert.equal(cond.acquire(), true);
    assert.equal(lock.locked, true);
    assert.equal(lock.acquire(0), false);
    assert.throws(() => cond.acquire(), DeadlockError);
    cond.release();
    assert.equal(lock.locked, false);
    const held = cond.hold();
    assert.equal(lock.locked, true);
    held.release();
    assert.equal(lock.locked, false);
  });

  test('wait, notify, notifyAll, waitFor without holding the lock throw NotHeldError and change nothing', LIMIT, async () => {
    for (const cond of [new Condition(new Lock(), { name: 'c' }), new Condition({ name: 'c' })]) {
      const before = snapshot(cond);
      assert.throws(() => cond.wait(0), (e) => e instanceof NotHeldError && e instanceof WeftError &&
        e.code === 'ERR_NOT_HELD' && /Condition 'c'/.test(e.message));
      assert.throws(() => cond.wait(), NotHeldError);
      assert.throws(() => cond.notify(), NotHeldError);
      assert.throws(() => cond.notify(3), NotHeldError);
      assert.throws(() => cond.notifyAll(), NotHeldError);
      assert.throws(() => cond.waitFor(() => false, 10), NotHeldError);
      await assert.rejects(cond.waitAsync(10), NotHeldError);
      await assert.rejects(cond.waitForAsync(() => false, 10), NotHeldError);
      assert.deepEqual(snapshot(cond), before);
      assert.equal(cond.lock.locked, false);
      assert.equal(waiting(cond), 0);
    }
  });

  test('bad timeouts and counts: RangeError, and nothing changes', LIMIT, async () => {
    const cond = new Condition(new Lock());
    cond.acquire();
    const before = snapshot(cond);
    let calls = 0;
    const pred = () => (calls++, false);
    for (const t of [-1, -0.5, NaN, -Infinity]) {
      assert.throws(() => cond.wait(t), RangeError, `wait(${t})`);
      await assert.rejects(cond.waitAsync(t), RangeError, `waitAsync(${t})`);
      assert.throws(() => cond.waitFor(pred, t), RangeError, `waitFor(${t})`);
      await assert.rejects(cond.waitForAsync(pred, t), RangeError, `waitForAsync(${t})`);
    }
    for (const n of [-1, 1.5, NaN]) assert.throws(() => cond.notify(n), RangeError, `notify(${n})`);
    assert.deepEqual(snapshot(cond), before);
    cond.notify(0);
    assert.deepEqual(snapshot(cond), before);
    cond.release(); // still held by this thread
  });

  test('wait(timeout) returns false after at least the timeout and holds the lock again (Lock)', LIMIT, async () => {
    const cond = new Condition(new Lock());
    cond.acquire();
    let t0 = performance.now();
    assert.equal(cond.wait(100), false);
    assert.ok(elapsedSince(t0) >= 60, `waited ${elapsedSince(t0)} ms`);
    assert.equal(cond.lock.acquire(0), false, 'held again, by this thread');
    t0 = performance.now();
    assert.equal(await cond.waitAsync(100), false);
    assert.ok(elapsedSince(t0) >= 60, `waited ${elapsedSince(t0)} ms`);
    assert.equal(cond.lock.locked, true);
    cond.release();
    assert.equal(cond.lock.locked, false);
    assert.throws(() => cond.release(), NotHeldError, 'one release was enough: held exactly once');
    assert.equal(waiting(cond), 0, 'slots freed');
  });

  test('wait(timeout) on an RLock held twice restores both levels after the timeout', LIMIT, async () => {
    const cond = new Condition();
    cond.acquire();
    cond.acquire();
    assert.equal(cond.wait(30), false);
    assert.equal(await cond.waitAsync(30), false);
    cond.release();
    assert.equal(cond.lock.locked, true, 'one level left');
    cond.release();
    assert.equal(cond.lock.locked, false);
    assert.throws(() => cond.release(), NotHeldError);
  });

  test('wait(0) returns false at once; timed-out waits give their slot back (maxWaiters 1)', LIMIT, async () => {
    const cond = new Condition(new Lock(), { maxWaiters: 1 });
    cond.acquire();
    for (let i = 0; i < 5; i++) {
      assert.equal(cond.wait(0), false);
      assert.equal(cond.wait(1), false);
      assert.equal(await cond.waitAsync(0), false);
      assert.equal(await cond.waitAsync(1), false);
      assert.equal(cond.waitFor(() => 0, 1), 0);
    }
    assert.deepEqual(states(cond), [FREE]);
    assert.equal(cond.lock.locked, true);
    cond.release();
  });

  test('a notify with nobody waiting is not remembered', LIMIT, async () => {
    const cond = new Condition();
    cond.acquire();
    cond.notify();
    cond.notify(5);
    cond.notifyAll();
    const t0 = performance.now();
    assert.equal(cond.wait(80), false);
    assert.ok(elapsedSince(t0) >= 48);
    cond.notify();
    assert.equal(await cond.waitAsync(40), false);
    cond.release();
  });

  test('waitAsync releases every level at once and is woken by a notify from the same thread', LIMIT, async () => {
    const cond = new Condition();
    cond.acquire();
    cond.acquire();
    const p = cond.waitAsync(10_000);
    assert.equal(cond.lock.locked, false, 'both levels released while waiting');
    assert.equal(waiting(cond), 1);
    cond.acquire();
    cond.notify();
    assert.equal(waiting(cond), 0, 'the waiter was notified, not left parked');
    cond.release();
    assert.equal(await p, true);
    cond.release();
    cond.release();
    assert.throws(() => cond.release(), NotHeldError);
  });

  test('waitFor returns the predicate\'s last value: at once if truthy, the falsy one on timeout', LIMIT, async () => {
    const cond = new Condition();
    cond.acquire();
    const obj = { ready: true };
    assert.equal(cond.waitFor(() => obj), obj);
    assert.equal(await cond.waitForAsync(() => obj, 10), obj);

    for (const falsy of [0, '', null, false, undefined]) {
      let calls = 0;
      assert.equal(cond.waitFor(() => (calls++, falsy), 0), falsy);
      assert.equal(calls, 1, 'timeout 0: the predicate runs once');
    }
    let calls = 0;
    let t0 = performance.now();
    assert.equal(cond.waitFor(() => (calls++, calls > 1 ? '' : 0), 80), '');
    assert.ok(elapsedSince(t0) >= 48 && calls >= 2, `waited ${elapsedSince(t0)} ms, ${calls} calls`);
    calls = 0;
    t0 = performance.now();
    assert.equal(await cond.waitForAsync(() => (calls++, null), 80), null);
    assert.ok(elapsedSince(t0) >= 48 && calls >= 2, `waited ${elapsedSince(t0)} ms, ${calls} calls`);
    assert.equal(cond.lock.locked, true);
    cond.release();
    assert.equal(cond.lock.locked, false);
  });

  test('waitFor: an error thrown by the predicate propagates with the lock held', LIMIT, async () => {
    const cond = new Condition(new Lock());
    cond.acquire();
    let calls = 0;
    const boom = new Error('predicate failed');
    assert.throws(() => cond.waitFor(() => { if (++calls === 2) throw boom; return false; }, 20), (e) => e === boom);
    assert.equal(calls, 2);
    assert.equal(cond.lock.acquire(0), false, 'held by this thread');
    calls = 0;
    await assert.rejects(cond.waitForAsync(() => { if (++calls === 2) throw boom; return false; }, 20), (e) => e === boom);
    assert.equal(cond.lock.acquire(0), false, 'held by this thread');
    cond.release();
    assert.equal(waiting(cond), 0);
  });

  test('waitForAsync: a same-thread notify that makes the predicate true ends the wait with its value', LIMIT, async () => {
    const cond = new Condition(new Lock());
    const box = { v: 0 };
    await cond.acquireAsync();
    let calls = 0;
    const p = cond.waitForAsync(() => (calls++, box.v >= 2 && { v: box.v }), 10_000);
    for (const v of [1, 2]) {
      cond.acquire(); // the waiter released it
      box.v = v;
      cond.notify();
      cond.release();
      // v = 1: the waiter wakes, finds the predicate false and parks again (its slot was NOTIFIED).
      if (v === 1) await until(() => waiting(cond) === 1, 10_000, 'the waiter to park again');
    }
    assert.deepEqual(await p, { v: 2 });
    assert.ok(calls >= 2);
    assert.equal(cond.lock.locked, true);
    cond.release();
  });

  test('from() and revive(): same memory, name, capacity and lock kind; other kinds refused with TypeError', LIMIT, async () => {
    const lock = new Lock();
    const cond = new Condition(lock, { name: 'r', maxWaiters: 3 });
    assert.equal(Condition.from(cond), cond);
    const c2 = Condition.from(structuredClone(cond));
    assert.ok(c2 instanceof Condition && c2 !== cond);
    assert.equal(c2.name, 'r');
    assert.ok(c2.lock instanceof Lock);
    assert.equal(slot(c2, CAPACITY), 3);
    cond.acquire();
    assert.equal(c2.lock.locked, true, 'the lock is the same memory');
    assert.equal(c2.lock.acquire(0), false);
    const p = cond.waitAsync(10_000); // registers in the shared block
    assert.equal(waiting(c2), 1);
    c2.acquire();
    c2.notify(); // through the clone
    c2.release();
    assert.equal(await p, true);
    cond.release();

    const r = revive(structuredClone({ deep: [{ c: new Condition({ name: 'x' }) }] }));
    assert.ok(r.deep[0].c instanceof Condition);
    assert.ok(r.deep[0].c.lock instanceof RLock);
    assert.equal(r.deep[0].c.name, 'x');

    assert.throws(() => Condition.from(structuredClone(new Lock())), TypeError);
    assert.throws(() => Condition.from(structuredClone(new Barrier(2))), TypeError);
    assert.throws(() => Lock.from(structuredClone(cond)), TypeError);
    assert.throws(() => Condition.from({}), TypeError);
    assert.throws(() => Condition.from(null), TypeError);
    const forged = { ...structuredClone(cond), $weft: 'Condition', buffer: structuredClone(new Lock()).buffer };
    assert.throws(() => Condition.from(forged), TypeError, 'a Lock block under a Condition label');
  });
});

describe('Condition: across threads', () => {
  test('a worker waits, the main thread notifies; the worker returns true holding the lock', LIMIT, async () => {
    const cond = new Condition(new Lock());
    const ctl = control(16);
    const w = spawn(waiter, { cond, ctl, id: 1 });
    // (A waiter registers in its slot just before it releases the lock.)
    await until(() => waiting(cond) === 1 && !cond.lock.locked, 10_000, 'the worker to park and release the lock');
    cond.acquire();
    cond.notify();
    cond.release();
    assert.equal(await w, true);
    assert.equal(ctl[1], 1);
    assert.equal(cond.lock.locked, false);
  });

  test('the main thread waits (blocking), a worker notifies through the bare Lock', LIMIT, async () => {
    const lock = new Lock();
    const cond = new Condition(lock);
    const w = spawn(({ data, h }) => {
      const { cond, lock, L, S } = data;
      h.spinUntil(() => h.conditionWaiters(cond, L, S) > 0, 10_000, 'the main thread to park');
      if (!lock.acquire(5_000)) return 'the Lock was not released by wait';
      cond.notify();
      lock.release();
      return 'notified';
    }, { cond, lock, L, S });
    cond.acquire();
    assert.equal(cond.wait(15_000), true);
    assert.equal(lock.acquire(0), false, 'held again by this thread');
    cond.release();
    assert.equal(await w, 'notified');
  });

  test('notify(n) wakes at most n of k parked waiters, the oldest; the rest stay parked until notifyAll', LIMIT, async () => {
    const K = 4;
    const cond = new Condition(new Lock());
    const ctl = control(16);
    const ws = [];
    const slotOf = {};
    for (let id = 1; id <= K; id++) {
      const before = parkedSlots(cond);
      ws.push(spawn(waiter, { cond, ctl, id })); // one at a time: arrival order is 1..K
      await until(() => waiting(cond) === id, 10_000, `waiter ${id} to park`);
      slotOf[id] = parkedSlots(cond).find((k) => !before.includes(k));
    }
    cond.acquire();
    cond.notify(0);
    assert.equal(waiting(cond), K, 'notify(0) wakes nobody');
    cond.notify(2);
    // Only a notify moves a slot off WAITING/SLEEPING (the waiters' timeouts are far away).
    assert.equal(waiting(cond), K - 2, 'notify(2) took exactly two waiters');
    const st = states(cond);
    for (const id of [1, 2]) assert.ok(st[slotOf[id]] === NOTIFIED || st[slotOf[id]] === FREE, `oldest waiter ${id} notified`);
    for (const id of [3, 4]) assert.ok(isParked(st[slotOf[id]]), `younger waiter ${id} still parked`);
    cond.release();
    awaitAtLeast(ctl, 1, 2, 10_000, 'two waiters to return');
    assert.deepEqual([ctl[4], ctl[5]].sort(), [1, 2], 'the two oldest returned');
    assert.equal(Atomics.load(ctl, 1), 2, 'exactly two returned');
    assert.equal(waiting(cond), K - 2, 'the others are still waiting');
    assert.deepEqual(parkedSlots(cond).sort(), [slotOf[3], slotOf[4]].sort());
    cond.acquire();
    cond.notifyAll();
    assert.equal(waiting(cond), 0, 'notifyAll took every waiter');
    cond.release();
    assert.deepEqual(await Promise.all(ws), Array(K).fill(true));
    assert.equal(Atomics.load(ctl, 1), K);
  });

  test('FIFO: notify(1) wakes the oldest waiter, by arrival and not by slot', LIMIT, async () => {
    // 1 and 2 park; notify(1) wakes 1, freeing the lower slot; 3 then parks in it. The next
    // notify(1) must pick 2 (older, higher slot), then 3.
    const cond = new Condition(new Lock());
    const ctl = control(16);
    const ws = [1, 2, 3].map((id) => spawn(waiter, { cond, ctl, id, gated: true }));
    const arrive = async (id, n) => {
      signal(ctl, 8 + id);
      await until(() => waiting(cond) === n, 10_000, `waiter ${id} to park`);
    };
    const notifyOne = (returned) => {
      cond.acquire();
      cond.notify(1);
      cond.release();
      awaitAtLeast(ctl, 1, returned, 10_000, `${returned} waiters to return`);
    };
    await arrive(1, 1);
    await arrive(2, 2);
    notifyOne(1);
    assert.equal(ctl[4], 1);
    assert.equal(states(cond).filter((st) => st !== FREE).length, 1, 'waiter 1 left its slot');
    await arrive(3, 2);
    notifyOne(2);
    assert.equal(ctl[5], 2, 'the older waiter 2 goes before the newer 3');
    notifyOne(3);
    assert.equal(ctl[6], 3);
    assert.deepEqual(await Promise.all(ws), [true, true, true]);
  });

  test('notifyAll wakes every waiter present, and not one that arrives afterwards', LIMIT, async () => {
    const cond = new Condition();
    const ctl = control(16);
    const ws = [1, 2, 3].map((id) => spawn(waiter, { cond, ctl, id }));
    await until(() => waiting(cond) === 3, 10_000, 'three waiters to park');
    cond.acquire();
    cond.notifyAll();
    assert.equal(waiting(cond), 0);
    cond.release();
    assert.deepEqual(await Promise.all(ws), [true, true, true]);
    // The notifyAll is spent: a later waiter times out.
    const late = spawn(({ data }) => {
      data.cond.acquire();
      const t0 = performance.now();
      const ok = data.cond.wait(150);
      const ms = performance.now() - t0;
      data.cond.release();
      return { ok, ms };
    }, { cond });
    const { ok, ms } = await late;
    assert.equal(ok, false);
    assert.ok(ms >= 90, `waited ${ms} ms`);
  });

  test('a notify from another thread with nobody waiting is not remembered', LIMIT, async () => {
    const cond = new Condition(new Lock());
    await spawn(({ data }) => {
      data.cond.acquire();
      data.cond.notify();
      data.cond.notifyAll();
      data.cond.release();
    }, { cond });
    cond.acquire();
    const t0 = performance.now();
    assert.equal(cond.wait(100), false);
    assert.ok(elapsedSince(t0) >= 60);
    cond.release();
  });

  test('a timed-out wait returns false only once it holds the lock again', LIMIT, async () => {
    const cond = new Condition(new Lock());
    const ctl = control();
    const w = spawn(({ data, h }) => {
      h.signal(data.ctl, 2); // ready
      h.awaitAtLeast(data.ctl, 3, 1, 20_000, 'go');
      if (!data.lock.acquire(5_000)) return 'the lock was not released by waitAsync'; // free while main waits
      h.signal(data.ctl, 0);
      h.awaitAtLeast(data.ctl, 1, 1, 20_000, 'the main thread to let go');
      data.lock.release();
      return true;
    }, { lock: cond.lock, ctl });
    await until(() => Atomics.load(ctl, 2) === 1, 10_000, 'the worker to start');
    await cond.acquireAsync();
    const t0 = performance.now();
    let settled = false;
    // Long enough for the running worker to take the lock before the timeout.
    const p = cond.waitAsync(250).finally(() => { settled = true; });
    signal(ctl, 3);
    await until(() => Atomics.load(ctl, 0) === 1, 10_000, 'the worker to take the lock');
    await until(() => waiting(cond) === 0, 10_000, 'the wait to time out (its slot freed)');
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'waitAsync settled while another thread held the lock');
    signal(ctl, 1);
    assert.equal(await p, false);
    assert.ok(elapsedSince(t0) >= 150);
    assert.equal(cond.lock.acquire(0), false, 'held by this thread');
    cond.release();
    assert.equal(await w, true);
  });

  test('RLock held 3 levels, blocking wait on the main thread: all released, all restored', LIMIT, async () => {
    const r = new RLock();
    const cond = new Condition(r);
    r.acquire();
    r.acquire();
    r.acquire();
    const w = spawn(({ data, h }) => {
      const { cond, L, S } = data;
      h.spinUntil(() => h.conditionWaiters(cond, L, S) > 0, 10_000, 'the main thread to park');
      // Only possible if the main thread's wait released every level.
      if (!cond.acquire(5_000)) return 'could not acquire';
      cond.notify();
      cond.release();
      return 'notified';
    }, { cond, L, S });
    assert.equal(cond.wait(15_000), true);
    assert.equal(await w, 'notified');
    r.release();
    r.release();
    r.release();
    assert.equal(r.locked, false);
    assert.throws(() => r.release(), NotHeldError);
  });

  test('RLock held 3 levels, waitAsync on the main thread: all released, all restored', LIMIT, async () => {
    const r = new RLock();
    const cond = new Condition(r);
    r.acquire();
    r.acquire();
    r.acquire();
    const p = cond.waitAsync(15_000);
    assert.equal(r.locked, false);
    const w = spawn(({ data }) => {
      if (!data.cond.acquire(5_000)) return 'could not acquire';
      data.cond.notify();
      data.cond.release();
      return 'notified';
    }, { cond });
    assert.equal(await w, 'notified');
    assert.equal(await p, true);
    r.release();
    r.release();
    r.release();
    assert.throws(() => r.release(), NotHeldError);
  });

  test('RLock held 3 levels in a worker: the main thread can take it during the wait; the worker gets 3 levels back', LIMIT, async () => {
    const r = new RLock();
    const cond = new Condition(r);
    const w = spawn(({ data }) => {
      const { cond } = data;
      cond.acquire();
      cond.acquire();
      cond.acquire();
      const ok = cond.wait(20_000);
      cond.release();
      cond.release();
      cond.release();
      try {
        cond.release();
        return 'a 4th release passed';
      } catch (e) {
        if (e.name !== 'NotHeldError') throw e;
      }
      return ok;
    }, { cond });
    // (A waiter registers in its slot just before it releases the lock: with a level kept, this times out.)
    await until(() => waiting(cond) === 1 && !r.locked, 10_000, 'the worker to park, every level released');
    assert.equal(r.acquire(0), true);
    assert.equal(slot(r, LOCK_LAYOUT.DEPTH), 1);
    cond.notify();
    r.release();
    assert.equal(await w, true);
  });

  test('while a worker holds the lock, wait/notify on the main thread throw NotHeldError and change nothing', LIMIT, async () => {
    for (const cond of [new Condition(new Lock()), new Condition()]) {
      const { ctl, w } = await holdInWorker(cond.lock);
      const before = snapshot(cond);
      assert.throws(() => cond.wait(50), NotHeldError);
      assert.throws(() => cond.notify(), NotHeldError);
      assert.throws(() => cond.notifyAll(), NotHeldError);
      assert.throws(() => cond.waitFor(() => false, 50), NotHeldError);
      await assert.rejects(cond.waitAsync(50), NotHeldError);
      await assert.rejects(cond.waitForAsync(() => false, 50), NotHeldError);
      assert.throws(() => cond.release(), NotHeldError);
      assert.deepEqual(snapshot(cond), before);
      assert.equal(cond.lock.locked, true, 'still held by the worker');
      signal(ctl, 1);
      assert.equal(await w, true);
    }
  });

  test('waitAsync keeps the event loop running (setImmediate fires) and a worker wakes it', LIMIT, async () => {
    const cond = new Condition();
    const ctl = control();
    await cond.acquireAsync();
    const p = cond.waitAsync(10_000);
    const w = spawn(({ data, h }) => {
      h.awaitAtLeast(data.ctl, 0, 1, 10_000, 'the main thread\'s setImmediate');
      data.cond.acquire();
      data.cond.notify();
      data.cond.release();
      return true;
    }, { cond, ctl });
    // The worker notifies only after this callback ran: a blocked event loop would time it out.
    setImmediate(() => signal(ctl, 0));
    assert.equal(await p, true);
    assert.equal(cond.lock.locked, true, 're-acquired');
    cond.release();
    assert.equal(cond.lock.locked, false);
    assert.equal(await w, true);
  });

  test('waitForAsync on the main thread returns the predicate\'s value once a worker made it true', LIMIT, async () => {
    const cond = new Condition(new Lock());
    const ctl = control();
    const box = new Int32Array(new SharedArrayBuffer(8));
    await cond.acquireAsync();
    let calls = 0;
    const p = cond.waitForAsync(() => (calls++, box[0] >= 3 && `value ${box[0]}`), 10_000);
    const w = spawn(({ data, h }) => {
      const { cond, ctl, box } = data;
      h.awaitAtLeast(ctl, 0, 1, 10_000, 'the main thread\'s setImmediate');
      for (let i = 1; i <= 3; i++) {
        cond.acquire();
        box[0] = i;
        cond.notify();
        cond.release();
      }
      return true;
    }, { cond, ctl, box });
    setImmediate(() => signal(ctl, 0));
    assert.equal(await p, 'value 3');
    assert.ok(calls >= 2);
    assert.equal(cond.lock.acquire(0), false, 'held by this thread');
    cond.release();
    assert.equal(await w, true);
  });

  test('waitFor in a worker: the predicate is re-checked after each notify; its last value is returned', LIMIT, async () => {
    const cond = new Condition();
    const box = new Int32Array(new SharedArrayBuffer(8));
    const w = spawn(({ data }) => {
      const { cond, box } = data;
      let calls = 0;
      cond.acquire();
      try {
        const result = cond.waitFor(() => (calls++, box[0] >= 3 ? { value: box[0] } : 0), 20_000);
        return { result, calls };
      } finally {
        cond.release();
      }
    }, { cond, box });
    for (let i = 1; i <= 3; i++) {
      await until(() => waiting(cond) === 1, 10_000, `the worker to park (${i})`);
      cond.acquire();
      box[0] = i;
      cond.notify();
      cond.release();
    }
    const { result, calls } = await w;
    assert.deepEqual(result, { value: 3 });
    assert.ok(calls >= 4, `${calls} predicate calls`);
  });

  test('more waiters than maxWaiters: TooManyWaitersError, lock still held, nothing changed', LIMIT, async () => {
    const cond = new Condition(new Lock(), { maxWaiters: 2 });
    const ctl = control(16);
    const ws = [1, 2].map((id) => spawn(waiter, { cond, ctl, id }));
    await until(() => waiting(cond) === 2, 10_000, 'both slots taken (through clones)');
    cond.acquire();
    const before = snapshot(cond);
    assert.throws(() => cond.wait(10), (e) => e instanceof TooManyWaitersError && e instanceof WeftError &&
      e.code === 'ERR_TOO_MANY_WAITERS');
    await assert.rejects(cond.waitAsync(10), TooManyWaitersError);
    assert.throws(() => cond.waitFor(() => false, 10), TooManyWaitersError);
    assert.deepEqual(snapshot(cond), before);
    assert.equal(cond.lock.acquire(0), false, 'still held by this thread');
    cond.notifyAll();
    cond.release();
    assert.deepEqual(await Promise.all(ws), [true, true]);
    cond.acquire();
    assert.equal(cond.wait(1), false, 'slots are free again');
    cond.release();
  });
});

describe('Condition: stress', () => {
  test('ping-pong on an RLock-backed condition held 2 levels: every wait gives both levels back', STRESS_LIMIT, async () => {
    // Two workers take turns; a notify often lands while the other still spins, so both the
    // spin path and the sleep path of wait() restore the RLock's depth here.
    const ROUNDS = 1_000 * STRESS;
    const cond = new Condition();
    const box = new Int32Array(new SharedArrayBuffer(8)); // [turns taken]
    const body = ({ data, h }) => {
      const { cond, box, me, ROUNDS, DEPTH } = data;
      cond.acquire();
      cond.acquire();
      try {
        for (let r = 0; r < ROUNDS; r++) {
          if (!cond.waitFor(() => box[0] % 2 === me, 15_000)) throw new Error(`worker ${me} starved at round ${r}`);
          const depth = h.slot(cond.lock, DEPTH);
          if (depth !== 2) throw new Error(`worker ${me}, round ${r}: RLock depth ${depth} after wait, not 2`);
          box[0]++;
          cond.notify();
        }
      } finally {
        cond.release();
        cond.release();
      }
      try {
        cond.release();
        return 'a third release passed';
      } catch (e) {
        if (e.name !== 'NotHeldError') throw e;
      }
      return ROUNDS;
    };
    const ws = [0, 1].map((me) => spawn(body, { cond, box, me, ROUNDS, DEPTH: LOCK_LAYOUT.DEPTH }, { ms: 60_000 }));
    assert.deepEqual(await Promise.all(ws), [ROUNDS, ROUNDS]);
    assert.equal(box[0], 2 * ROUNDS);
    assert.equal(cond.lock.locked, false);
    assert.equal(waiting(cond), 0);
  });

  test('timeouts racing notifies: a notify(n) wakes at most n, and no slot leaks (maxWaiters = waiters)', STRESS_LIMIT, async () => {
    const W = 3;
    const M = 600 * STRESS; // waits per worker
    const cond = new Condition(new Lock(), { maxWaiters: W });
    const tally = new Int32Array(new SharedArrayBuffer(4 * 4)); // [notified waits, timed-out waits, workers done]
    const body = async ({ data }) => {
      const { cond, tally, M, me } = data;
      for (let i = 0; i < M; i++) {
        const t = (i + me) % 3; // 0 (try once), 1 or 2 ms
        cond.acquire();
        let ok;
        try {
          ok = me === 0 ? await cond.waitAsync(t) : cond.wait(t);
        } finally {
          cond.release();
        }
        Atomics.add(tally, ok ? 0 : 1, 1);
      }
      Atomics.add(tally, 2, 1);
      return M;
    };
    const ws = Array.from({ length: W }, (_, me) => spawn(body, { cond, tally, M, me }, { ms: 60_000 }));
    // Notify from the main thread until every worker is done (blocking it is fine: workers run on
    // their own). Under the lock no waiter can join, so the parked count read just before notify(n)
    // bounds what it may wake: min(n, parked).
    let bound = 0;
    const deadline = performance.now() + 50_000;
    for (let k = 0; Atomics.load(tally, 2) < W; k++) {
      if (performance.now() > deadline) break;
      const n = 1 + (k % 2);
      cond.acquire();
      bound += Math.min(n, waiting(cond));
      cond.notify(n);
      cond.release();
    }
    assert.deepEqual(await Promise.all(ws), Array(W).fill(M));
    assert.equal(tally[0] + tally[1], W * M, 'every wait returned once');
    assert.ok(tally[0] <= bound, `${tally[0]} waits returned notified; the notifies could wake at most ${bound}`);
    assert.ok(tally[0] > 0, 'no wait was ever notified');
    assert.deepEqual(states(cond), Array(W).fill(FREE), 'every slot given back');
  });

  test('bounded buffer, two conditions on one Lock, notify(1): every item consumed exactly once, in order per producer', STRESS_LIMIT, async () => {
    const N = 1_500 * STRESS; // items per producer
    const PRODUCERS = 2;
    const CAP = 4;
    const lock = new Lock();
    const notFull = new Condition(lock, { name: 'notFull' });
    const notEmpty = new Condition(lock, { name: 'notEmpty' });
    // [head, tail, count, done, ring × CAP]
    const HEAD = 0, TAIL = 1, COUNT = 2, DONE = 3, RING = 4;
    const buf = new Int32Array(new SharedArrayBuffer(4 * (RING + CAP)));
    const seen = new Int32Array(new SharedArrayBuffer(4 * N * PRODUCERS));

    const producer = ({ data }) => {
      const { notFull, notEmpty, buf, p, N, CAP } = data;
      for (let k = 0; k < N; k++) {
        notFull.acquire();
        try {
          if (!notFull.waitFor(() => buf[2] < CAP, 15_000)) throw new Error(`producer ${p} starved at ${k}`);
          buf[4 + (buf[1] % CAP)] = p * N + k;
          buf[1]++;
          buf[2]++;
          notEmpty.notify();
        } finally {
          notFull.release();
        }
      }
      return N;
    };
    const consumer = ({ data }) => {
      const { notFull, notEmpty, buf, seen, N, CAP } = data;
      const last = [-1, -1];
      let mine = 0;
      for (;;) {
        let id;
        notEmpty.acquire();
        try {
          if (!notEmpty.waitFor(() => buf[2] > 0 || buf[3] === 1, 15_000)) throw new Error('consumer starved');
          if (buf[2] === 0) return mine; // done and drained
          id = buf[4 + (buf[0] % CAP)];
          buf[0]++;
          buf[2]--;
          notFull.notify();
        } finally {
          notEmpty.release();
        }
        Atomics.add(seen, id, 1);
        const p = Math.floor(id / N);
        if (id <= last[p]) throw new Error(`producer ${p}: item ${id} after ${last[p]}`);
        last[p] = id;
        mine++;
      }
    };
    const common = { notFull, notEmpty, buf, seen, N, CAP };
    const producers = Array.from({ length: PRODUCERS }, (_, p) => spawn(producer, { ...common, p }, { ms: 60_000 }));
    const consumers = [0, 1].map(() => spawn(consumer, common, { ms: 60_000 }));

    // The main thread consumes too, with the async twins.
    const mainConsumer = (async () => {
      const last = [-1, -1];
      let mine = 0;
      for (;;) {
        assert.equal(await lock.acquireAsync(15_000), true);
        let id;
        try {
          if (!(await notEmpty.waitForAsync(() => buf[COUNT] > 0 || buf[DONE] === 1, 15_000))) throw new Error('main consumer starved');
          if (buf[COUNT] === 0) return mine;
          id = buf[RING + (buf[HEAD] % CAP)];
          buf[HEAD]++;
          buf[COUNT]--;
          notFull.notify();
        } finally {
          lock.release();
        }
        Atomics.add(seen, id, 1);
        const p = Math.floor(id / N);
        assert.ok(id > last[p], `producer ${p}: item ${id} after ${last[p]}`);
        last[p] = id;
        mine++;
      }
    })();

    assert.deepEqual(await Promise.all(producers), Array(PRODUCERS).fill(N));
    assert.equal(await lock.acquireAsync(15_000), true);
    buf[DONE] = 1;
    notEmpty.notifyAll();
    lock.release();
    const counts = [...(await Promise.all(consumers)), await mainConsumer];
    assert.equal(counts.reduce((a, b) => a + b, 0), N * PRODUCERS, `consumed ${counts}`);
    const wrong = [];
    for (let id = 0; id < seen.length; id++) if (seen[id] !== 1) wrong.push(`${id}: ${seen[id]}`);
    assert.deepEqual(wrong.slice(0, 10), [], 'items lost or duplicated');
    assert.equal(buf[TAIL], N * PRODUCERS);
    assert.equal(buf[HEAD], N * PRODUCERS);
    assert.equal(waiting(notEmpty) + waiting(notFull), 0);
    assert.equal(lock.locked, false);
  });
});
