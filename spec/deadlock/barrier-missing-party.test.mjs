// Deadlock demo: a Barrier whose last party never arrives.
//
// Python: `Barrier(3)` with only two threads calling `wait()` parks both for ever. weft: give one
// wait a timeout and, when it runs out, it breaks the barrier: every thread waiting there (even
// one that waits with no timeout) and every later `wait` throws BrokenBarrierError, until
// `reset()` makes the barrier usable again.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Barrier, BrokenBarrierError } from 'weft';
import { until } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

const LIMIT = { timeout: 20_000 };
after(terminateAll);

/** Worker: one `wait` on data.b (data.ms, or no timeout); its arrival index or its error. */
const party = ({ data }) => {
  try {
    return { index: data.ms === undefined ? data.b.wait() : data.b.wait(data.ms) };
  } catch (e) {
    return { error: e.name, code: e.code, message: e.message };
  }
};

test('2 of 3 parties: the timeout breaks the barrier and frees every waiter', LIMIT, async () => {
  const b = new Barrier(3, { name: 'stage' });
  const patient = spawn(party, { b }, { ms: 15_000 }); // would wait for ever
  await until(() => b.nWaiting === 1, 10_000, 'the first party to park');
  const bounded = spawn(party, { b, ms: 200 }, { ms: 15_000 });

  const [first, second] = await Promise.all([patient, bounded]);
  assert.equal(second.error, 'BrokenBarrierError');
  assert.equal(second.code, 'ERR_BROKEN_BARRIER');
  assert.match(second.message, /Barrier 'stage': wait\(\) timed out with 2 of 3 parties/);
  assert.equal(first.error, 'BrokenBarrierError', 'the thread with no timeout is freed too');
  assert.match(first.message, /broken/);
  assert.equal(b.broken, true);
  assert.equal(b.nWaiting, 0);

  // Later waits are refused (a healthy barrier would park, then say "timed out").
  assert.throws(() => b.wait(300), (e) => e instanceof BrokenBarrierError && /is broken/.test(e.message));
  const late = await spawn(party, { b, ms: 300 }, { ms: 15_000 });
  assert.equal(late.error, 'BrokenBarrierError');
  assert.match(late.message, /is broken/);
});

test('reset() repairs it: a full set of 3 parties passes, with indexes 0, 1, 2', LIMIT, async () => {
  const b = new Barrier(3);
  assert.throws(() => b.wait(100), BrokenBarrierError); // broken by a timeout
  assert.equal(b.broken, true);
  b.reset();
  assert.equal(b.broken, false);
  const workers = [spawn(party, { b, ms: 10_000 }), spawn(party, { b, ms: 10_000 })];
  const mine = b.wait(10_000);
  const indexes = [mine, ...(await Promise.all(workers)).map((r) => r.index)];
  assert.deepEqual(indexes.sort(), [0, 1, 2]);
  assert.equal(b.broken, false);
});
