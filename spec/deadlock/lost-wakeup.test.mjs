// Deadlock demo: a Condition notified before anyone waits (the lost wake-up).
//
// Python: a thread calls `cond.notify()` while nobody waits, then another calls `cond.wait()` and
// parks for ever: a notify is not remembered. weft keeps that contract (a bare `wait(timeout)`
// just returns false when the time runs out) and the fix is the same as in Python: wait on shared
// state, not on the notify. `waitFor(predicate, timeout)` checks the predicate first, so state set
// before the wait is seen at once, and it returns the predicate's value.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Condition, Value } from 'weft';
import { awaitAtLeast, control, signal } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

const LIMIT = { timeout: 20_000 };
after(terminateAll);

/** Worker: under the condition's lock, sets data.ready (if given) and notifies; then ctl[0] = 1. */
const notifier = ({ data, h }) => {
  data.cond.acquire();
  if (data.ready) data.ready.value = 1;
  data.cond.notify();
  data.cond.release();
  h.signal(data.ctl, 0);
  return true;
};

test('the bug: notify before wait is lost; wait(timeout) returns false', LIMIT, async () => {
  const cond = new Condition();
  const ctl = control();
  const w = spawn(notifier, { cond, ctl });
  awaitAtLeast(ctl, 0); // the notify has happened: nobody was waiting
  assert.equal(await w, true);
  cond.acquire();
  try {
    assert.equal(cond.wait(200), false, 'the earlier notify was not remembered');
    assert.equal(cond.lock.locked, true, 'wait re-acquired the lock on timeout');
  } finally {
    cond.release();
  }
});

test('the fix: waitFor on shared state returns at once with the predicate\'s value', LIMIT, async () => {
  const cond = new Condition();
  const ready = new Value('int32', 0);
  const ctl = control();
  const w = spawn(notifier, { cond, ready, ctl });
  awaitAtLeast(ctl, 0); // same order as above: the notify came first
  assert.equal(await w, true);
  cond.acquire();
  try {
    assert.equal(cond.waitFor(() => ready.value === 1, 10_000), true, 'the state is seen, not the notify');
    assert.equal(cond.waitFor(() => ready.value * 7, 0), 7, 'returns the predicate\'s own value');
  } finally {
    cond.release();
  }
});

test('waitFor works in the other order too, and a predicate that stays false gives its value back', LIMIT, async () => {
  const cond = new Condition();
  const ready = new Value('int32', 0);
  const ctl = control();
  cond.acquire();
  // The worker can take the lock only once this thread is inside waitFor (which releases it).
  const w = spawn(({ data, h }) => {
    h.awaitAtLeast(data.ctl, 1);
    data.cond.acquire();
    data.ready.value = 1;
    data.cond.notify();
    data.cond.release();
    return true;
  }, { cond, ready, ctl });
  signal(ctl, 1);
  try {
    assert.equal(cond.waitFor(() => ready.value === 1, 10_000), true);
    ready.value = 0;
    assert.equal(cond.waitFor(() => ready.value, 200), 0, 'timed out: the predicate\'s last value');
  } finally {
    cond.release();
  }
  assert.equal(await w, true);
});
