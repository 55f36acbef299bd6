// Deadlock demo: a worker dies while it holds a lock.
//
// Python: a process that dies inside `with lock:` leaves the lock held for ever; every other
// process that wants it hangs (multiprocessing has no notion of a dead owner). weft: the next
// thread that waits for the lock takes it over once the owner's death is known (its own exit, or
// its parent seeing the Worker exit, which covers terminate()), and `lock.ownerDied` reads true
// while it holds it, so it can repair what the dead owner left half-done (POSIX's EOWNERDEAD).
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { after, test } from 'node:test';
import { Lock, Pool } from 'weft';
import { awaitAtLeast, control } from '../helpers/sync.mjs';
import { terminateAll } from '../helpers/workers.mjs';

after(terminateAll);
const tasks = new URL('./fixtures/lock-tasks.mjs', import.meta.url);

test('a pool worker dies holding a lock mid-update: the next task takes the lock over and repairs the data', { timeout: 30_000 }, async () => {
  const lock = new Lock({ name: 'ledger' });
  const cells = new Int32Array(new SharedArrayBuffer(8)); // invariant: cells[0] === cells[1]
  const pool = new Pool({ filename: tasks, size: 1 });
  try {
    await assert.rejects(pool.apply('dieMidUpdate', [lock, cells]), { code: 'ERR_WORKER_CRASHED' });
    assert.equal(lock.locked, true, 'the dead worker still holds it');
    const r = await pool.apply('repair', [lock, cells]); // the replacement worker
    assert.equal(r.died, true, 'told that the previous owner died');
    assert.deepEqual(r.cells, [1, 1], 'and it repaired the half-done update');
    assert.equal(lock.locked, false);
    const again = await pool.apply('repair', [lock, cells]);
    assert.equal(again.died, false, 'an ordinary acquisition afterwards');
  } finally {
    await pool.terminate();
  }
});

test('a worker terminated while it holds a lock: the main thread gets it (acquireAsync), ownerDied true', { timeout: 30_000 }, async () => {
  const lock = new Lock({ name: 'held' });
  const ctl = control();
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads');
    const weft = require(${JSON.stringify(new URL('../../dist/cjs/index.js', import.meta.url).pathname)});
    weft.Lock.from(workerData.lock).acquire();
    Atomics.store(workerData.ctl, 0, 1);
    Atomics.notify(workerData.ctl, 0);
    Atomics.wait(workerData.ctl, 1, 0); // holds the lock until killed
  `, { eval: true, workerData: { lock, ctl } });
  awaitAtLeast(ctl, 0);
  assert.equal(await lock.acquireAsync(200), false, 'alive and holding: we wait, and time out');
  await worker.terminate();
  assert.equal(await lock.acquireAsync(5_000), true);
  assert.equal(lock.ownerDied, true);
  lock.release();
  assert.equal(lock.ownerDied, false);
});
