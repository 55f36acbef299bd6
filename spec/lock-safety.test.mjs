// Lock safety: cycles of lock waits end in DeadlockError for one thread (the others proceed), a
// lock whose owner died is taken over (ownerDied), and waitTable() shows who waits for what.
// Threads are ordered by handshakes on raw Int32Arrays; "parked" is read from waitTable() (the
// record a waiter publishes just before it parks). Every worker runs under a watchdog.
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { after, describe, test } from 'node:test';
import { Barrier, formatWaitTable, JoinableQueue, Lock, Queue, RLock, waitTable } from 'weft';
import * as registry from '../dist/esm/registry.js';
import { Encoder } from '../dist/esm/codec.js';
import { awaitAtLeast, control, signal, slot, until } from './helpers/sync.mjs';
import { holdInWorker, spawn, terminateAll } from './helpers/workers.mjs';
import { LOCK_LAYOUT } from '../dist/esm/lock.js';
import { RING_HEADER_SLOTS, RING_LAYOUT } from '../dist/esm/ring.js';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
// A Queue's ring header starts at slot 16 of its block, its data right after it (lib/queue.ts).
const RING_AT = 16;
const innerLock = (q, at) => ({ $weft: 'Lock', buffer: q.buffer, byteOffset: q.byteOffset + 4 * (RING_AT + at), name: 'inner' });

/**
 * A worker that does by hand what a Queue's put does up to just before its TAIL store (with
 * `scribble`, half a record of garbage written too), or a get up to just before its HEAD store,
 * holding the ring's lock, then parks until the caller terminates it. Resolves once staged.
 */
function stageKilled(q, op, scribble = false) {
  const ctl = control();
  const w = spawn(({ data, h }) => {
    const { op, ring, L, ctl, scribble, dataAt } = data;
    data.lock.acquire();
    if (op === 'put') {
      const tail = Atomics.load(ring, L.TAIL);
      if (scribble) new Uint8Array(ring.buffer, dataAt).fill(0xee, tail & 1023, (tail & 1023) + 40);
      const count = Atomics.load(ring, L.PUT_COUNT);
      ring[L.PREV_PUT] = count;
      ring[L.INTENT_TAIL] = tail + 44;
      Atomics.store(ring, L.PUT_COUNT, count + 1);
    } else {
      const count = Atomics.load(ring, L.GET_COUNT);
      ring[L.PREV_GET] = count;
      ring[L.INTENT_HEAD] = Atomics.load(ring, L.HEAD) + 8;
      Atomics.store(ring, L.GET_COUNT, count + 1);
    }
    h.signal(ctl, 0);
    Atomics.wait(ctl, 1, 0); // parked until terminated
  }, {
    op, scribble, ctl, L: RING_LAYOUT, dataAt: q.byteOffset + 4 * (RING_AT + RING_HEADER_SLOTS),
    lock: innerLock(q, op === 'put' ? RING_LAYOUT.PRODUCER_LOCK : RING_LAYOUT.CONSUMER_LOCK),
    ring: new Int32Array(q.buffer, q.byteOffset + 4 * RING_AT),
  });
  w.catch(() => {}); // terminated on purpose
  awaitAtLeast(ctl, 0);
  return w.worker;
}
after(terminateAll);

/** Resolves once `thread` (Node's threadId) is recorded as waiting for a lock whose label matches. */
const waitingFor = (thread, label) => until(() => waitTable().some((r) => r.thread === thread && r.waitsFor === label && r.blocking),
  10_000, `thread ${thread} waiting for ${label}`);

/**
 * A worker that takes `first`, signals ctl[slot], waits for ctl[go], then acquires `second` for
 * ever. If that throws DeadlockError it releases `first` and returns the message; otherwise it
 * releases both and returns 'acquired'.
 */
function taker(first, second, ctl, slot, go) {
  return spawn(({ data, h, weft }) => {
    const { first, second, ctl, slot, go } = data;
    first.acquire();
    h.signal(ctl, slot);
    h.awaitAtLeast(ctl, go, 1, 20_000);
    try {
      second.acquire();
    } catch (e) {
      first.release();
      if (e instanceof weft.DeadlockError) return `deadlock: ${e.message}`;
      throw e;
    }
    second.release();
    first.release();
    return 'acquired';
  }, { first, second, ctl, slot, go }, { ms: 30_000 });
}

describe('lock cycles', () => {
  test('two threads taking two locks in opposite order: the second to park gets DeadlockError naming both', async () => {
    const a = new Lock({ name: 'a' });
    const b = new Lock({ name: 'b' });
    const ctl = control();
    const w1 = taker(a, b, ctl, 0, 2);
    const w2 = taker(b, a, ctl, 1, 3);
    const [t1, t2] = [w1.worker.threadId, w2.worker.threadId]; // (-1 once a worker exited)
    awaitAtLeast(ctl, 0);
    awaitAtLeast(ctl, 1);
    signal(ctl, 2); // w1 now waits for b, held by w2
    await waitingFor(t1, "Lock 'b'");
    signal(ctl, 3); // w2 asks for a: that closes the cycle
    const [r1, r2] = await Promise.all([w1, w2]);
    assert.equal(r1, 'acquired', 'the first waiter proceeds once the other backs off');
    assert.match(r2, /^deadlock: Lock 'a': acquire\(\) by thread \d+ would deadlock/);
    assert.match(r2, new RegExp(`thread ${t2} waits for Lock 'a' held by thread ${t1}`));
    assert.match(r2, new RegExp(`thread ${t1} waits for Lock 'b' held by thread ${t2}`));
    assert.equal(a.locked || b.locked, false);
  });

  test('a cycle of three threads and three locks: exactly one backs off, the other two finish', async () => {
    const locks = ['x', 'y', 'z'].map((name) => new Lock({ name }));
    const ctl = control();
    const ws = [0, 1, 2].map((k) => taker(locks[k], locks[(k + 1) % 3], ctl, k, 3 + k));
    for (let k = 0; k < 3; k++) awaitAtLeast(ctl, k);
    signal(ctl, 3);
    await waitingFor(ws[0].worker.threadId, "Lock 'y'");
    signal(ctl, 4);
    await waitingFor(ws[1].worker.threadId, "Lock 'z'");
    signal(ctl, 5);
    const results = await Promise.all(ws);
    assert.deepEqual(results.slice(0, 2), ['acquired', 'acquired']);
    assert.match(results[2], /^deadlock: Lock 'x'/);
    for (const name of ['x', 'y', 'z']) assert.match(results[2], new RegExp(`waits for Lock '${name}'`));
  });

  test('an RLock in the cycle is detected as well, and a cycle with a timed wait is not a deadlock', async () => {
    const a = new RLock({ name: 'ra' });
    const b = new Lock({ name: 'lb' });
    const ctl = control();
    const w1 = taker(a, b, ctl, 0, 2);
    const w2 = spawn(({ data, h }) => {
      const { a, b, ctl } = data;
      b.acquire();
      h.signal(ctl, 1);
      h.awaitAtLeast(ctl, 3, 1, 20_000);
      const timed = a.acquire(150); // a timed wait ends by itself: no DeadlockError
      let message = null;
      try {
        a.acquire();
      } catch (e) {
        message = `${e.name}: ${e.message}`;
      }
      b.release();
      return { timed, message };
    }, { a, b, ctl });
    awaitAtLeast(ctl, 0);
    awaitAtLeast(ctl, 1);
    signal(ctl, 2);
    await waitingFor(w1.worker.threadId, "Lock 'lb'");
    signal(ctl, 3);
    const [r1, r2] = await Promise.all([w1, w2]);
    assert.equal(r1, 'acquired');
    assert.equal(r2.timed, false);
    assert.match(r2.message, /^DeadlockError: RLock 'ra'/);
  });

  test('two threads closing a cycle at the same moment: one backs off, never both, never neither', async () => {
    const rounds = 12 * STRESS;
    const a = new Lock({ name: 'a' });
    const b = new Lock({ name: 'b' });
    const ctl = control();
    const body = ({ data, h, weft }) => {
      const { mine, other, ctl, me, rounds } = data;
      let backedOff = 0;
      for (let r = 0; r < rounds; r++) {
        mine.acquire();
        // Both hold their first lock, then both go for the other one at once.
        h.bump(ctl, me);
        h.awaitAtLeast(ctl, 1 - me, r + 1, 20_000);
        try {
          other.acquire();
          other.release();
        } catch (e) {
          if (!(e instanceof weft.DeadlockError)) throw e;
          backedOff++;
        }
        mine.release();
        h.bump(ctl, 2 + me); // round done
        h.awaitAtLeast(ctl, 3 - me, r + 1, 20_000);
      }
      return backedOff;
    };
    const w1 = spawn(body, { mine: a, other: b, ctl, me: 0, rounds }, { ms: 60_000 });
    const w2 = spawn(body, { mine: b, other: a, ctl, me: 1, rounds }, { ms: 60_000 });
    const [n1, n2] = await Promise.all([w1, w2]);
    assert.equal(n1 + n2, rounds, `each round exactly one backs off (${n1} + ${n2})`);
  });
});

describe('lock cycles: what must not count', () => {
  test('a cycle through an edge that went stale (the owner released our lock, then began to wait) is not reported', async () => {
    // The interleaving, by hand: this thread recorded "I wait for L held by B"; B then released L
    // and began waiting for L2, held by this thread. B's record is fresh, ours is stale.
    const ctl = control();
    const w = spawn(async ({ data, h }) => {
      const r = await import(data.registryUrl);
      r.publishWait(1234, data.main, r.epochOf(1234), "Lock 'L2'", r.BLOCKING);
      h.signal(data.ctl, 0);
      h.awaitAtLeast(data.ctl, 1, 1, 20_000);
      r.clearWait();
      return true;
    }, { ctl, main: 1, registryUrl: new URL('../dist/esm/registry.js', import.meta.url).href }, { ms: 30_000 });
    awaitAtLeast(ctl, 0);
    const b = w.worker.threadId + 1; // registry ids are Node's threadId + 1
    registry.publishWait(5678, b, registry.epochOf(5678), "Lock 'L'", registry.BLOCKING);
    try {
      assert.equal(registry.detectCycle(b, "Lock 'L'", () => false), null, 'our own edge is stale: no cycle');
      assert.match(registry.detectCycle(b, "Lock 'L'", () => true), /waits for Lock 'L2' held by thread 0 \(main\)/, 'the same graph with a live edge is a cycle');
    } finally {
      registry.clearWait();
      signal(ctl, 1);
    }
    assert.equal(await w, true);
  });

  test('an acquireAsync started inside a blocking call (a Barrier action) is recorded as not blocking', async () => {
    const lock = new Lock({ name: 'async-in-action' });
    const { ctl, w: holder } = holdInWorker(lock);
    let pending;
    const barrier = new Barrier(1, { action: () => { pending = lock.acquireAsync(); } });
    barrier.wait(); // the action runs inside the barrier's blocking machine
    await until(() => waitTable().some((r) => r.thread === 0 && r.waitsFor === "Lock 'async-in-action'"));
    assert.equal(waitTable().find((r) => r.thread === 0).blocking, false);
    signal(ctl, 1);
    assert.equal(await pending, true);
    lock.release();
    assert.equal(await holder, true);
  });
});

describe('dead owners', () => {
  /** A raw worker that takes `lock` (depth times), signals ctl[0], then ends as `how` says. */
  function holdAndDie(lock, how, depth = 1) {
    const ctl = control();
    const src = `
      const { workerData } = require('node:worker_threads');
      const weft = require(${JSON.stringify(new URL('../dist/cjs/index.js', import.meta.url).pathname)});
      const lock = weft.revive(workerData.lock);
      for (let i = 0; i < workerData.depth; i++) lock.acquire();
      Atomics.store(workerData.ctl, 0, 1);
      Atomics.notify(workerData.ctl, 0);
      if (workerData.how === 'exit') process.exit(0);
      if (workerData.how === 'throw') throw new Error('dying on purpose');
      if (workerData.how === 'return') return;
      Atomics.wait(workerData.ctl, 1, 0); // 'terminate': parked until the parent kills it
    `;
    const worker = new Worker(`(() => {${src}})()`, { eval: true, workerData: { lock, how, depth, ctl } });
    worker.on('error', () => {}); // 'throw' dies of its error on purpose
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    awaitAtLeast(ctl, 0);
    return { worker, exited };
  }

  for (const how of ['exit', 'throw', 'return']) {
    test(`a worker that ends (${how}) holding a Lock: the next acquire takes it over and ownerDied says so`, async () => {
      const lock = new Lock({ name: `dies-${how}` });
      const { exited } = holdAndDie(lock, how);
      await exited;
      assert.equal(lock.locked, true, 'the dead thread still holds the word');
      assert.equal(lock.tryAcquire(), false, 'tryAcquire never takes a lock over');
      assert.equal(await lock.acquireAsync(5_000), true);
      assert.equal(lock.ownerDied, true);
      lock.release();
      assert.equal(lock.ownerDied, false);
      assert.equal(lock.locked, false);
      assert.equal(lock.acquire(0), true);
      assert.equal(lock.ownerDied, false, 'a normal acquisition after the recovery');
      lock.release();
    });
  }

  test('worker.terminate() while holding an RLock three levels deep: a blocking acquire takes it over at depth 1', async () => {
    const lock = new RLock({ name: 'deep' });
    const { worker } = holdAndDie(lock, 'terminate', 3);
    await worker.terminate(); // the parent hears of the exit: that marks the thread dead
    assert.equal(lock.acquire(5_000), true);
    assert.equal(lock.ownerDied, true);
    lock.release();
    assert.equal(lock.locked, false, 'one release undoes the take-over: the dead levels are gone');
  });

  test('a waiter parked in another worker takes the lock over when its owner is terminated', async () => {
    const lock = new Lock({ name: 'parked' });
    const { worker } = holdAndDie(lock, 'terminate');
    const waiter = spawn(({ data }) => {
      const ok = data.lock.acquire(); // for ever: woken by its own periodic check
      const died = data.lock.ownerDied;
      data.lock.release();
      return { ok, died };
    }, { lock });
    await waitingFor(waiter.worker.threadId, "Lock 'parked'");
    await worker.terminate();
    assert.deepEqual(await waiter, { ok: true, died: true });
  });

  test('a grandchild worker killed with its parent (terminate) while holding a lock: the lock is taken over', async () => {
    const lock = new Lock({ name: 'grandchild' });
    const ctl = control();
    const cjs = JSON.stringify(new URL('../dist/cjs/index.js', import.meta.url).pathname);
    const grandchild = `
      const { workerData } = require('node:worker_threads');
      require(${cjs}).Lock.from(workerData.lock).acquire();
      Atomics.store(workerData.ctl, 0, 1);
      Atomics.notify(workerData.ctl, 0);
      Atomics.wait(workerData.ctl, 1, 0);
    `;
    const parent = new Worker(`
      const { Worker, workerData } = require('node:worker_threads');
      require(${cjs}); // loads weft before spawning, as the README asks
      new Worker(${JSON.stringify(grandchild)}, { eval: true, workerData });
      Atomics.wait(workerData.ctl, 1, 0);
    `, { eval: true, workerData: { lock, ctl } });
    awaitAtLeast(ctl, 0);
    await parent.terminate(); // Node stops the grandchild with it; nobody hears its own exit
    assert.equal(await lock.acquireAsync(5_000), true);
    assert.equal(lock.ownerDied, true);
    lock.release();
  });

  test('waitTable and formatWaitTable name the waiter, the lock and the holder', async () => {
    const lock = new Lock({ name: 'shown' });
    lock.acquire();
    const w = spawn(({ data }) => {
      data.lock.acquire();
      data.lock.release();
      return true;
    }, { lock });
    const id = w.worker.threadId;
    await waitingFor(id, "Lock 'shown'");
    const row = waitTable().find((r) => r.thread === id);
    assert.equal(row.heldBy, 0, 'held by the main thread');
    assert.equal(row.holderDead, false);
    assert.equal(row.blocking, true);
    assert.ok(row.waitingMs >= 0);
    assert.match(formatWaitTable(), new RegExp(`thread ${id} waits for Lock 'shown' held by thread 0 \\(main\\)`));
    lock.release();
    assert.equal(await w, true);
    assert.equal(waitTable().some((r) => r.thread === id), false, 'the record is gone once it got the lock');
    assert.equal(formatWaitTable([]), 'weft: no thread is waiting for a lock');
  });
});

describe('channels survive killed workers', () => {

  test('a producer killed in the middle of a put (lock held, half a record written, PUT_COUNT bumped, TAIL not) loses and garbles nothing', async () => {
    const q = new Queue({ capacity: 1024, maxsize: 2, name: 'half-put' });
    q.put('before');
    const worker = stageKilled(q, 'put', true);
    assert.equal(q.size, 2, 'the half-done put counts while its producer lives');
    await worker.terminate();
    assert.equal(q.size, 1, 'once it is known dead, its put is read around, before any repair');
    assert.equal(q.full(), false);
    await q.putAsync('after', 5_000); // takes the dead producer's lock over and undoes its count
    assert.equal(q.size, 2);
    assert.equal(q.full(), true, 'maxsize 2: the phantom item is gone, the real ones count');
    assert.equal(q.getNowait(), 'before');
    assert.equal(q.getNowait(), 'after');
    assert.throws(() => q.getNowait(), { code: 'ERR_QUEUE_EMPTY' });
  });

  test('a consumer killed in the middle of a get (GET_COUNT bumped, HEAD not) leaves its item for the next get', async () => {
    const q = new Queue({ capacity: 1024, name: 'half-get' });
    q.put({ n: 1 });
    q.put({ n: 2 });
    await stageKilled(q, 'get').terminate();
    assert.equal(q.size, 2, 'the dead consumer took nothing');
    assert.deepEqual(await q.getAsync(5_000), { n: 1 }, 'the item the dead consumer was taking');
    assert.equal(q.size, 1);
    assert.deepEqual(q.getNowait(), { n: 2 });
    assert.equal(q.size, 0);
    q.put('still works');
    assert.equal(q.get(1_000), 'still works');
  });

  test('a producer terminated while blocked in put on a full JoinableQueue leaves no phantom unfinished item', async () => {
    const q = new JoinableQueue({ maxsize: 1, name: 'jq' });
    q.put('only');
    const w = spawn(({ data }) => {
      data.q.put('blocked'); // full: parks here until terminated
    }, { q });
    w.catch(() => {});
    await until(() => slot(q, RING_AT + RING_LAYOUT.PRODUCERS_WAITING) > 0, 10_000, 'the producer parked');
    await w.worker.terminate();
    assert.equal(q.get(1_000), 'only');
    q.taskDone();
    assert.equal(q.unfinished, 0);
    assert.equal(await q.joinAsync(5_000), true);
  });

  test('a producer killed mid-put with its count bumped: join() repairs the ring itself and returns', async () => {
    const q = new JoinableQueue({ capacity: 1024, name: 'jq-half' });
    q.put('real');
    await stageKilled(q, 'put').terminate();
    assert.equal(q.get(1_000), 'real');
    q.taskDone();
    // No producer comes to take the dead one's lock over: the joiner does, at its next tick.
    assert.equal(await q.joinAsync(5_000), true);
    assert.equal(q.unfinished, 0);
  });

  test("a get or put with a timeout gives up on a ring lock whose holder never lets go (a thread not yet known dead)", async () => {
    const q = new Queue({ capacity: 1024, name: 'stuck' });
    q.put('waiting');
    const { ctl, w } = holdInWorker(innerLock(q, RING_LAYOUT.CONSUMER_LOCK));
    assert.throws(() => q.get(150), { code: 'ERR_QUEUE_EMPTY' }, 'the item is there, but its lock is not ours within the timeout');
    await assert.rejects(q.getAsync(150), { code: 'ERR_QUEUE_EMPTY' });
    // A call that must not wait gives up after one check tick, not never (the holder could be dead).
    assert.throws(() => q.getNowait(), { code: 'ERR_QUEUE_EMPTY' });
    await assert.rejects(q.getAsync(0), { code: 'ERR_QUEUE_EMPTY' });
    q.put('more', 150); // the producer side is not stuck
    signal(ctl, 1);
    assert.equal(await w, true);
    assert.equal(q.get(1_000), 'waiting');
    assert.equal(q.get(1_000), 'more');
  });

  test('timeout 0: the blocking call and its async twin agree while another thread briefly holds the ring lock', async () => {
    const q = new Queue({ capacity: 4096, name: 'twins' });
    q.put('a');
    const ctl = control();
    const w = spawn(({ data, h }) => {
      data.lock.acquire();
      h.signal(data.ctl, 0);
      h.awaitAtLeast(data.ctl, 1, 1, 20_000);
      // Held for a moment after the main thread's calls have begun, then let go.
      const until = performance.now() + 20;
      while (performance.now() < until);
      data.lock.release();
      return true;
    }, { lock: innerLock(q, RING_LAYOUT.PRODUCER_LOCK), ctl });
    awaitAtLeast(ctl, 0);
    const twin = q.putAsync('b', 0); // waits for the lock, as put('b', 0) does, instead of failing
    signal(ctl, 1);
    await twin;
    assert.equal(await w, true);
    q.put('c', 0);
    assert.deepEqual([q.get(0), await q.getAsync(0), q.getNowait()], ['a', 'b', 'c']);
  });

  test('a consumer parked in get() notices a record whose producer died before waking it', async () => {
    const q = new Queue({ capacity: 1024, name: 'no-wake' });
    const consumer = spawn(({ data }) => data.q.get(), { q });
    await until(() => slot(q, RING_AT + RING_LAYOUT.CONSUMERS_WAITING) > 0, 10_000, 'the consumer parked');
    // What a put does up to its TAIL store, with no wake-up after it (its thread died there).
    const ring = new Int32Array(q.buffer, q.byteOffset + 4 * RING_AT);
    const payload = new Encoder().encode({ late: true });
    const data = new Uint8Array(q.buffer, q.byteOffset + 4 * (RING_AT + RING_HEADER_SLOTS));
    const tail = Atomics.load(ring, RING_LAYOUT.TAIL);
    new DataView(q.buffer).setUint32(q.byteOffset + 4 * (RING_AT + RING_HEADER_SLOTS) + tail, payload.length, true);
    data.set(payload, tail + 8); // (an 8-byte header: length, prefix; ring.ts)
    Atomics.store(ring, RING_LAYOUT.PUT_COUNT, Atomics.load(ring, RING_LAYOUT.PUT_COUNT) + 1);
    Atomics.store(ring, RING_LAYOUT.TAIL, tail + 8 + ((payload.length + 7) & ~7));
    assert.deepEqual(await consumer, { late: true });
  });

  test('producers terminated at random points in heavy Queue traffic: no hang, nothing garbled or duplicated, nothing reported sent is lost', async (t) => {
    const kills = 250 * STRESS;
    const PRODUCERS = 3;
    const q = new Queue({ capacity: 16_384, name: 'fuzz' });
    // sent[p]: the last sequence number producer p saw put() return for (0: none yet).
    const sent = new Int32Array(new SharedArrayBuffer(4 * (kills + PRODUCERS)));
    const seen = new Map(); // producer -> last sequence received
    let received = 0;
    const check = (item) => {
      // A garbled item fails one of these: the payload is derived from (p, seq) twice over.
      assert.equal(typeof item, 'object');
      const { p, seq, text, list } = item;
      assert.equal(text, `p${p}:s${seq}:`.padEnd(100 + (seq % 64) * 16, '*'));
      assert.deepEqual(list, [p, seq, p + seq]);
      const last = seen.get(p) ?? 0;
      assert.ok(seq > last, `producer ${p}: ${seq} after ${last} (duplicate or out of order)`);
      seen.set(p, seq);
      received++;
    };
    const producer = (p) => spawn(({ data }) => {
      const { q, sent, p } = data;
      for (let seq = 1; ; seq++) {
        q.put({ p, seq, text: `p${p}:s${seq}:`.padEnd(100 + (seq % 64) * 16, '*'), list: [p, seq, p + seq] });
        Atomics.store(sent, p, seq);
      }
    }, { q, sent, p }, { ms: 120_000 });
    const producerLockWord = new Int32Array(q.buffer, q.byteOffset + 4 * (16 + RING_LAYOUT.PRODUCER_LOCK + LOCK_LAYOUT.STATE), 1);
    let killedInLock = 0;
    let next = 0;
    const live = new Set();
    const start = () => {
      const w = producer(next++);
      w.catch(() => {}); // terminated on purpose
      live.add(w);
    };
    for (let k = 0; k < PRODUCERS; k++) start();
    // The consumer: the main thread, async, so its event loop also hears of every worker's exit.
    let stop = false;
    const consumer = (async () => {
      while (!stop) {
        let item;
        try {
          item = await q.getAsync(200);
        } catch (e) {
          if (e?.code === 'ERR_QUEUE_EMPTY') continue;
          throw e;
        }
        check(item);
      }
    })();
    for (let k = 0; k < kills; k++) {
      // Kill a random producer after a random few items, while the others keep going.
      const victims = [...live];
      const victim = victims[Math.floor(Math.random() * victims.length)];
      const before = received;
      await until(() => received >= before + 1 + Math.floor(Math.random() * 20), 30_000, 'traffic');
      live.delete(victim);
      const id = victim.worker.threadId;
      await victim.worker.terminate();
      // Did it die inside the producer lock? (The ring's header starts at slot 16 of the Queue.)
      if (Atomics.load(producerLockWord, 0) >> 1 === id + 1) killedInLock++;
      start();
    }
    await Promise.all([...live].map((w) => w.worker.terminate()));
    stop = true;
    await consumer;
    for (;;) {
      let item;
      try {
        item = q.getNowait();
      } catch (e) {
        if (e?.code === 'ERR_QUEUE_EMPTY') break;
        throw e;
      }
      check(item);
    }
    assert.equal(q.size, 0);
    for (let p = 0; p < next; p++) {
      const got = seen.get(p) ?? 0;
      const reported = Atomics.load(sent, p);
      assert.ok(got >= reported, `producer ${p}: ${reported} reported sent, ${got} received`);
      assert.ok(got <= reported + 1, `producer ${p}: received ${got}, more than the one put under way past ${reported}`);
    }
    assert.ok(received > kills, `traffic went on between the kills (${received} items)`);
    t.diagnostic(`${kills} kills, ${killedInLock} inside the producer lock, ${received} items`);
  });
});
