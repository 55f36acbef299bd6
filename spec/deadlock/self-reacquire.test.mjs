// Deadlock demo: a thread acquires a Lock it already holds.
//
// Python: `lock = multiprocessing.Lock(); lock.acquire(); lock.acquire()` parks the thread for
// ever (nobody else can release it). weft: the second acquire() throws DeadlockError at once,
// naming the lock and the thread, and changes nothing: the lock is still held and releasable.
// An RLock is the tool for re-entry: it counts levels, one release per acquire.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DeadlockError, Lock, RLock, WeftError } from 'weft';
import { awaitAtLeast, control, signal } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

const LIMIT = { timeout: 20_000 };
after(terminateAll);

/** The thread number a DeadlockError's message names. */
const threadIn = (message) => Number(/thread (\d+)/.exec(message)?.[1]);

/** The message of this thread's self-deadlock on a fresh lock. */
function myDeadlockMessage() {
  const lock = new Lock();
  lock.acquire();
  try {
    lock.acquire();
  } catch (e) {
    return e.message;
  } finally {
    lock.release();
  }
  assert.fail('no DeadlockError');
}

test('Lock: the holder re-acquiring gets DeadlockError; the lock stays held and releasable', LIMIT, () => {
  const lock = new Lock({ name: 'jobs' });
  assert.equal(lock.acquire(), true);
  for (const timeout of [undefined, Infinity, 300]) {
    assert.throws(() => lock.acquire(timeout), (e) => {
      assert.ok(e instanceof DeadlockError && e instanceof WeftError);
      assert.equal(e.code, 'ERR_DEADLOCK');
      assert.match(e.message, /Lock 'jobs'/);
      assert.ok(Number.isInteger(threadIn(e.message)), `names the thread: ${e.message}`);
      return true;
    });
  }
  assert.equal(lock.locked, true, 'still held by this thread');
  assert.equal(lock.tryAcquire(), false, 'tryAcquire never throws: it just says no');
  lock.release();
  assert.equal(lock.locked, false);
  assert.equal(lock.acquire(0), true, 'usable again');
  lock.release();
});

test('in a worker: DeadlockError names that thread; the main thread still sees the lock held', LIMIT, async () => {
  const lock = new Lock({ name: 'jobs' });
  const ctl = control();
  const w = spawn(({ data, h }) => {
    data.lock.acquire();
    let error;
    try {
      data.lock.acquire();
    } catch (e) {
      error = { name: e.name, code: e.code, message: e.message };
    }
    h.signal(data.ctl, 0); // "I tried, and I still hold it"
    h.awaitAtLeast(data.ctl, 1, 1, 15_000);
    data.lock.release();
    return error;
  }, { lock, ctl }, { ms: 20_000 });
  awaitAtLeast(ctl, 0);
  assert.equal(lock.locked, true);
  assert.equal(lock.acquire(0), false, 'held by the worker, not free');
  signal(ctl, 1);
  const error = await w;
  assert.equal(error?.name, 'DeadlockError');
  assert.equal(error.code, 'ERR_DEADLOCK');
  assert.match(error.message, /Lock 'jobs'/);
  assert.ok(Number.isInteger(threadIn(error.message)));
  assert.notEqual(threadIn(error.message), threadIn(myDeadlockMessage()), 'the worker is named, not the main thread');
  assert.equal(lock.locked, false);
});

test('RLock: the holder may re-acquire; each acquire needs one release', LIMIT, () => {
  const r = new RLock({ name: 'nested' });
  assert.equal(r.acquire(), true);
  assert.equal(r.acquire(), true, 'no DeadlockError for an RLock');
  assert.equal(r.acquire(300), true);
  r.release();
  r.release();
  assert.equal(r.locked, true, 'one level left');
  r.release();
  assert.equal(r.locked, false);
});
