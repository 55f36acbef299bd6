// Deadlock demo: a pool task that waits on another task of the same, full pool.
//
// Python: with `Pool(1)`, task A waits (on an Event, a queue, or another task's result) for
// something only task B does; B is queued behind A and can never start, so A and the caller wait
// for ever. weft surfaces it two ways: the task's own bounded wait (`event.wait(ms)`) returns
// false, or the caller's `apply(..., { timeout })` rejects with TimeoutError; either way the pool
// goes on, and B runs once A's worker is free. The fixes: enough workers for A and B at once
// (`size: 2`), or do B's work in the caller instead of the pool.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Event, Pool, TimeoutError } from 'weft';
import { control } from '../helpers/sync.mjs';

const TASKS = new URL('./fixtures/peer-tasks.mjs', import.meta.url);
const LIMIT = { timeout: 30_000 };

async function withPool(size, body) {
  const pool = new Pool({ filename: TASKS, size });
  try {
    await body(pool);
  } finally {
    await pool.terminate();
  }
}

test('size 1: the waiting task\'s bounded wait returns false; its peer only starts afterwards', LIMIT, () => withPool(1, async (pool) => {
  const event = new Event();
  const ctl = control();
  const a = pool.apply('waitForPeer', [event, ctl, 300]);
  const b = pool.apply('peer', [event, ctl]);
  assert.deepEqual(await a, { got: false, peersStarted: 0 }, 'the peer could not start while A held the only worker');
  assert.equal(await b, 'set', 'the pool goes on: B runs once A is done');
  assert.equal(event.isSet(), true);
}));

test('size 1: the caller\'s apply timeout rejects with TimeoutError; doing the work in the caller unblocks the pool', LIMIT, () => withPool(1, async (pool) => {
  const event = new Event();
  const ctl = control();
  const a = pool.apply('waitForPeer', [event, ctl, 20_000], { timeout: 300 });
  const b = pool.apply('peer', [event, ctl]);
  await assert.rejects(a, (e) => e instanceof TimeoutError && e.code === 'ERR_TIMEOUT');
  assert.equal(Atomics.load(ctl, 0), 0, 'B has not started: A still occupies the worker');
  assert.equal(pool.pending, 1, 'A settled (its caller gave up), though it still runs; B is pending');
  event.set(); // the caller does B's work itself: A's wait ends, the worker is free
  assert.equal(await b, 'set');
  assert.equal(Atomics.load(ctl, 0), 1);
}));

// Each task goes to the worker with the fewest tasks in flight, so B starts on the idle worker.
test('the fix: size 2 runs A and B at once; A sees the event', LIMIT, () => withPool(2, async (pool) => {
  const event = new Event();
  const ctl = control();
  const [a, b] = await Promise.all([
    pool.apply('waitForPeer', [event, ctl, 2_000]),
    pool.apply('peer', [event, ctl]),
  ]);
  assert.deepEqual(a, { got: true, peersStarted: 1 });
  assert.equal(b, 'set');
}));

test('size 2, a burst of three (A, a quick task, the peer): the peer queued behind A moves to the worker that went idle', LIMIT, () => withPool(2, async (pool) => {
  const event = new Event();
  const ctl = control();
  await Promise.all([pool.apply('quick'), pool.apply('quick')]); // both workers up
  // A and the quick task take one worker each; the peer, dispatched at a tie, lands behind A.
  const a = pool.apply('waitForPeer', [event, ctl, 10_000]);
  const q = pool.apply('quick');
  const b = pool.apply('peer', [event, ctl]);
  assert.deepEqual(await Promise.all([a, q, b]), [{ got: true, peersStarted: 1 }, 'quick', 'set']);
}));

test('the other fix: the caller does the peer\'s work, so one worker is enough', LIMIT, () => withPool(1, async (pool) => {
  const event = new Event();
  const ctl = control();
  const a = pool.apply('waitForPeer', [event, ctl, 10_000]);
  event.set();
  assert.deepEqual(await a, { got: true, peersStarted: 0 });
}));
