// `npm start`: a short tour of weft's primitives across real worker threads.
// One file plays both roles: the main thread (the narrator) and the workers (isMainThread false).
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Barrier, Condition, DeadlockError, Event, Lock, revive, Semaphore } from 'weft';

const WORKERS = 4;

if (!isMainThread) {
  // ---------------------------------------------------------------- worker side
  const { id, start, lock, counter, room, inside, maxInside, barrier, cond, ring } = revive(workerData);
  const wait = (ok, what) => { if (!ok) throw new Error(`worker ${id}: ${what} timed out`); };

  wait(start.wait(10_000), 'start event');

  // 1. A Lock keeps a plain (non-atomic) read-modify-write exact.
  for (let i = 0; i < 50_000; i++) {
    wait(lock.acquire(10_000), 'lock');
    counter[0] = counter[0] + 1;
    lock.release();
  }

  // 2. A Semaphore(2) lets at most two workers into the room at once.
  for (let i = 0; i < 200; i++) {
    wait(room.acquire(10_000), 'room');
    const now = Atomics.add(inside, 0, 1) + 1;
    Atomics.store(maxInside, 0, Math.max(Atomics.load(maxInside, 0), now));
    Atomics.sub(inside, 0, 1);
    room.release();
  }

  // 3. A Barrier: three phases in lock step; the arrival index is distinct per phase.
  const arrivals = [];
  for (let phase = 0; phase < 3; phase++) arrivals.push(barrier.wait(10_000));

  // 4. A Condition: worker 0 produces 1..1000 into a shared slot, the others consume.
  let consumed = 0;
  if (id === 0) {
    for (let v = 1; v <= 1000; v++) {
      const held = cond.hold(10_000);
      try {
        wait(cond.waitFor(() => ring[0] === 0, 10_000), 'empty slot');
        ring[0] = v;
        cond.notifyAll();
      } finally {
        held.release();
      }
    }
    const held = cond.hold(10_000);
    try {
      wait(cond.waitFor(() => ring[0] === 0, 10_000), 'empty slot');
      ring[0] = -1; // end of stream
      cond.notifyAll();
    } finally {
      held.release();
    }
  } else {
    for (;;) {
      const held = cond.hold(10_000);
      try {
        wait(cond.waitFor(() => ring[0] !== 0, 10_000), 'full slot');
        if (ring[0] === -1) break;
        ring[1] += ring[0]; // running sum of everything consumed
        ring[0] = 0;
        consumed++;
        cond.notifyAll();
      } finally {
        held.release();
      }
    }
  }
  parentPort.postMessage({ id, arrivals, consumed });
} else {
  // ---------------------------------------------------------------- main thread
  const t0 = performance.now();
  const shared = {
    start: new Event({ name: 'start' }),
    lock: new Lock({ name: 'counter' }),
    counter: new Int32Array(new SharedArrayBuffer(4)),
    room: new Semaphore(2, { name: 'room' }),
    inside: new Int32Array(new SharedArrayBuffer(4)),
    maxInside: new Int32Array(new SharedArrayBuffer(4)),
    barrier: new Barrier(WORKERS, { name: 'phases' }),
    cond: new Condition(new Lock({ name: 'slot' }), { name: 'slot' }),
    ring: new Int32Array(new SharedArrayBuffer(8)),
  };
  console.log(`weft demo: ${WORKERS} worker threads on ${availableParallelism()} cores, sharing primitives through workerData\n`);
  const results = [];
  const workers = Array.from({ length: WORKERS }, (_, id) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { id, ...shared } });
    return new Promise((resolve, reject) => {
      w.on('message', (m) => { results.push(m); resolve(); });
      w.on('error', reject);
      w.on('exit', (code) => code !== 0 && reject(new Error(`worker ${id} exited with ${code}`)));
    });
  });
  const watchdog = setTimeout(() => { console.error('demo: watchdog fired after 60 s'); process.exit(1); }, 60_000);
  shared.start.set();
  await Promise.all(workers);
  clearTimeout(watchdog);

  const expectedSum = (1000 * 1001) / 2;
  const consumed = results.reduce((a, r) => a + r.consumed, 0);
  const phasesOk = [0, 1, 2].every((p) => results.map((r) => r.arrivals[p]).sort().join() === '0,1,2,3');
  const rows = [
    ['Event', 'one set() released all workers', 'yes'],
    ['Lock', `non-atomic counter after ${WORKERS} x 50,000 increments`, `${shared.counter[0]} (expected ${WORKERS * 50_000})`],
    ['Semaphore(2)', 'most workers inside the room at once', String(shared.maxInside[0])],
    ['Barrier', '3 phases, arrival indices 0..3 in each', phasesOk ? 'yes' : 'NO'],
    ['Condition', 'items produced by one worker, consumed by three', `${consumed} items, sum ${shared.ring[1]} (expected 1000, ${expectedSum})`],
  ];
  for (const [what, test, result] of rows) console.log(`  ${what.padEnd(13)} ${test.padEnd(52)} ${result}`);

  // 5. Deadlock safety: re-acquiring a Lock you hold throws instead of hanging for ever.
  const lock = new Lock({ name: 'demo' });
  lock.acquire();
  try {
    lock.acquire();
  } catch (e) {
    if (!(e instanceof DeadlockError)) throw e;
    console.log(`\n  DeadlockError instead of a hang: ${e.message}`);
  } finally {
    lock.release();
  }
  const ok = shared.counter[0] === WORKERS * 50_000 && shared.maxInside[0] <= 2 && phasesOk &&
    consumed === 1000 && shared.ring[1] === expectedSum;
  console.log(`\n${ok ? 'all checks passed' : 'SOME CHECKS FAILED'} in ${(performance.now() - t0).toFixed(0)} ms`);
  process.exitCode = ok ? 0 : 1;
}
