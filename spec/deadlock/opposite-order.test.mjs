// Deadlock demo: two threads take two locks in opposite order.
//
// Python: thread 1 holds `a` and waits for `b`; thread 2 holds `b` and waits for `a`. Both park
// for ever, silently. weft: the thread whose acquire() would close the cycle gets DeadlockError
// at once, naming every thread and lock of the cycle; it backs off (releases what it holds) and
// the other thread, which kept waiting, gets its lock and finishes. The fix in the code: take the
// locks in one global order (here: always `a` before `b`).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Lock, waitTable } from 'weft';
import { awaitAtLeast, control, signal, until } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

after(terminateAll);

/** Takes `first`, says so in ctl[me], waits for ctl[2 + me], then takes `second`. */
function worker(first, second, ctl, me) {
  return spawn(({ data, h, weft }) => {
    const { first, second, ctl, me } = data;
    first.acquire();
    h.signal(ctl, me);
    h.awaitAtLeast(ctl, 2 + me, 1, 20_000);
    try {
      second.acquire();
    } catch (e) {
      if (!(e instanceof weft.DeadlockError)) throw e;
      first.release(); // back off: the other thread can now finish
      return e.message;
    }
    second.release();
    first.release();
    return 'finished';
  }, { first, second, ctl, me }, { ms: 20_000 });
}

test('opposite order: the second thread to wait gets DeadlockError naming the cycle; the first finishes', async () => {
  const a = new Lock({ name: 'a' });
  const b = new Lock({ name: 'b' });
  const ctl = control();
  const one = worker(a, b, ctl, 0);
  const two = worker(b, a, ctl, 1);
  const [t1, t2] = [one.worker.threadId, two.worker.threadId]; // (a Worker's threadId reads -1 once it exited)
  awaitAtLeast(ctl, 0);
  awaitAtLeast(ctl, 1); // each holds its first lock
  signal(ctl, 2); // one waits for b ...
  await until(() => waitTable().some((r) => r.thread === t1 && r.waitsFor === "Lock 'b'"));
  signal(ctl, 3); // ... and two asks for a, which would close the cycle
  const [r1, r2] = await Promise.all([one, two]);
  assert.equal(r1, 'finished');
  assert.equal(r2, `Lock 'a': acquire() by thread ${t2} would deadlock: thread ${t2} waits for Lock 'a' held by thread ${t1}; ` +
    `thread ${t1} waits for Lock 'b' held by thread ${t2}. This thread backs off (it keeps what it holds); the others keep waiting.`);
});

test('the fix: one global lock order, and both threads finish', async () => {
  const a = new Lock({ name: 'a' });
  const b = new Lock({ name: 'b' });
  const ctl = control();
  // Both take a, then b: whoever gets a first finishes, then the other.
  const one = worker(a, b, ctl, 0);
  awaitAtLeast(ctl, 0);
  signal(ctl, 2);
  const two = worker(a, b, ctl, 1);
  signal(ctl, 3);
  assert.deepEqual(await Promise.all([one, two]), ['finished', 'finished']);
});
