// Deadlock demo: joining a worker that put items on a queue before the queue is drained.
//
// Python (multiprocessing docs, "Joining processes that use queues"): a child puts more than the
// queue holds, the parent calls `p.join()` before `q.get()`, and both wait for ever: the child for
// room in the queue, the parent for the child. weft surfaces it: a bounded `put(item, timeout)`
// throws QueueFullError in the worker, and the parent's bounded wait for the worker visibly runs
// out while the worker is parked in `put`. The fix: drain first, then join.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Queue } from 'weft';
import { QUEUE_LAYOUT } from '../../dist/esm/queue.js';
import { RING_LAYOUT } from '../../dist/esm/ring.js';
import { slot, until } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

const LIMIT = { timeout: 20_000 };
after(terminateAll);

/** Producers parked in `put` right now (the ring's waiter count). */
const parkedProducers = (q) => slot(q, QUEUE_LAYOUT.RING_AT + RING_LAYOUT.PRODUCERS_WAITING);

/** Worker: puts 0…n-1 (each put bounded by data.ms, or unbounded); says how far it got. */
const producer = ({ data }) => {
  let sent = 0;
  try {
    for (; sent < data.n; sent++) data.q.put(sent, data.ms);
    return { sent };
  } catch (e) {
    return { sent, error: e.name, code: e.code, message: e.message };
  }
};

/** Resolves with the worker's result, or 'still running' if it has not finished after `ms`. */
function joinWithin(w, ms) {
  let timer;
  const late = new Promise((r) => (timer = setTimeout(r, ms, 'still running')));
  return Promise.race([w, late]).finally(() => clearTimeout(timer));
}

test('symptom in the worker: join before get → its bounded put throws QueueFullError', LIMIT, async () => {
  const q = new Queue({ maxsize: 2, name: 'results' });
  const result = await spawn(producer, { q, n: 5, ms: 200 }); // "join" first: nobody gets yet
  assert.equal(result.sent, 2, 'two items fit, the third put could not');
  assert.equal(result.error, 'QueueFullError');
  assert.equal(result.code, 'ERR_QUEUE_FULL');
  assert.match(result.message, /Queue 'results'/);
  assert.equal(q.size, 2);
  assert.deepEqual([q.get(0), q.get(0)], [0, 1], 'what was put is intact');
});

test('symptom in the parent: the bounded join runs out while the worker is parked in put; draining frees it', LIMIT, async () => {
  const q = new Queue({ maxsize: 2 });
  const w = spawn(producer, { q, n: 5 }, { ms: 20_000 }); // unbounded puts, as in Python
  await until(() => parkedProducers(q) === 1, 10_000, 'the worker to park in put');
  assert.equal(await joinWithin(w, 300), 'still running', 'the worker cannot finish: the queue is full');
  assert.equal(q.size, 2);
  assert.equal(parkedProducers(q), 1, 'still parked in put');
  const got = Array.from({ length: 5 }, () => q.get(10_000)); // drain: each get makes room
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.deepEqual(await w, { sent: 5 });
});

test('the fix: drain first, then join; every item arrives exactly once, in order', LIMIT, async () => {
  const N = 200;
  const q = new Queue({ maxsize: 4 });
  const w = spawn(producer, { q, n: N, ms: 10_000 });
  const counts = new Array(N).fill(0);
  const order = [];
  for (let i = 0; i < N; i++) {
    const v = q.get(10_000);
    counts[v]++;
    order.push(v);
  }
  assert.deepEqual(await w, { sent: N }, 'joined after draining: the worker finished');
  assert.ok(counts.every((c) => c === 1), 'no item lost or duplicated');
  assert.deepEqual(order, [...Array(N).keys()]);
  assert.equal(q.size, 0);
});
