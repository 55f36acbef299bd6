// Barrier: small named cases on one thread, then real workers (generations and indices, the
// action's place and order, breaking by timeout / abort / a throwing action, reset while threads
// wait, async twin), then a stress run of many generations with exact per-generation counts.
//
// Threads are ordered with handshakes on raw Int32Arrays (helpers/sync.mjs), never with sleeps or
// the Barrier under test. "Parked" means `barrier.nWaiting` (or its COUNT slot) says so. Every
// wait has a timeout; every worker a watchdog.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Barrier, BrokenBarrierError, Condition, Lock, WeftError, revive } from 'weft';
import { BARRIER_LAYOUT } from '../dist/esm/barrier.js';
import { control, signal, slot, until } from './helpers/sync.mjs';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
// Per-test time limits: a wake-up that never comes fails that test (the waits outlast them).
const LIMIT = { timeout: 30_000 };
const STRESS_LIMIT = { timeout: 60_000 * Math.max(1, STRESS) };
after(terminateAll);

/** Threads inside wait() right now, whatever the state (nWaiting only counts a filling generation). */
const inside = (b) => slot(b, BARRIER_LAYOUT.COUNT);
const elapsedSince = (t0) => performance.now() - t0;
const isBroken = (e) => e instanceof BrokenBarrierError && e instanceof WeftError && e.code === 'ERR_BROKEN_BARRIER';
/** A promise's outcome as a value: the index, or the error's name. */
const outcome = (p) => p.then((i) => ({ index: i }), (e) => ({ error: e?.name ?? String(e) }));

/** Worker body: one wait on data.b (timeout data.ms, or the barrier's default); its index or the error's name. */
const waitOnce = ({ data }) => {
  const t0 = performance.now();
  try {
    const index = data.ms === undefined ? data.b.wait() : data.b.wait(data.ms);
    return { index, ms: performance.now() - t0 };
  } catch (e) {
    return { error: e.name, message: e.message, ms: performance.now() - t0 };
  }
};

/**
 * A wait on a broken barrier throws without waiting: the async twin settles rejected and never
 * parks (COUNT is back to 0 once the call returns). If it did park, abort() frees it, so a bug
 * fails the test instead of hanging it.
 */
async function refusedAtOnce(b) {
  const p = outcome(b.waitAsync(10_000));
  const entered = inside(b);
  if (entered !== 0) b.abort();
  assert.equal(entered, 0, 'a wait on a broken barrier parked');
  assert.deepEqual(await p, { error: 'BrokenBarrierError' });
}

/**
 * For async waits on the main thread that a bug could leave pending for ever: aborts `b` after
 * `ms` and remembers it did, so the test fails instead of hanging.
 */
function watchdog(b, ms = 10_000) {
  let fired = false;
  const timer = setTimeout(() => { fired = true; b.abort(); }, ms);
  return { get fired() { return fired; }, clear: () => clearTimeout(timer) };
}

/**
 * Spawns waitOnce workers one by one, each parked (nWaiting) before the next starts. Their own
 * timeout outlasts the watchdog, so a waiter that nothing wakes fails the test (rather than
 * timing out into the BrokenBarrierError the test expects).
 */
async function parkWorkers(b, n, ms = 60_000) {
  const ws = [];
  for (let i = 0; i < n; i++) {
    const before = b.nWaiting;
    ws.push(spawn(waitOnce, { b, ms }, { ms: 15_000 }));
    await until(() => b.nWaiting === before + 1, 10_000, `waiter ${i + 1} to park`);
  }
  return ws;
}

describe('Barrier: single thread', () => {
  test('parties 1: passes at once with index 0; the action runs on every pass', LIMIT, async () => {
    let runs = 0;
    const b = new Barrier(1, { action: () => runs++, name: 'solo' });
    assert.equal(b.wait(), 0);
    assert.equal(b.wait(0), 0);
    assert.equal(await b.waitAsync(), 0);
    assert.equal(runs, 3);
    assert.equal(b.parties, 1);
    assert.equal(b.broken, false);
    assert.equal(b.nWaiting, 0);
    assert.equal(b.name, 'solo');
    assert.equal(String(b), "Barrier 'solo'");
  });

  test('invalid parties: RangeError; invalid options and timeouts: RangeError / TypeError', LIMIT, async () => {
    for (const parties of [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, undefined]) {
      assert.throws(() => new Barrier(parties), RangeError, `parties ${parties}`);
    }
    assert.throws(() => new Barrier(2, { timeout: -1 }), RangeError);
    assert.throws(() => new Barrier(2, { timeout: NaN }), RangeError);
    assert.throws(() => new Barrier(2, { action: 'x' }), TypeError);
    const b = new Barrier(2);
    for (const t of [-1, NaN, -Infinity]) {
      assert.throws(() => b.wait(t), RangeError, `wait(${t})`);
      await assert.rejects(b.waitAsync(t), RangeError, `waitAsync(${t})`);
    }
    assert.equal(b.broken, false, 'a bad argument does not break the barrier');
    assert.equal(inside(b), 0);
    assert.equal(b.parties, 2);
  });

  test('two waitAsync calls on one thread make a generation; nWaiting counts the first; indices 0 and 1', LIMIT, async () => {
    let runs = 0;
    const b = new Barrier(2, { action: () => runs++ });
    for (let g = 1; g <= 3; g++) {
      const first = b.waitAsync(5_000);
      assert.equal(b.nWaiting, 1);
      const second = b.waitAsync(5_000);
      assert.deepEqual([await first, await second], [0, 1], 'arrival order');
      assert.equal(runs, g, 'the action ran once per generation');
      assert.equal(b.nWaiting, 0);
      assert.equal(inside(b), 0);
    }
    assert.equal(b.broken, false);
  });

  test('a timeout breaks the barrier: that wait and every later one throw BrokenBarrierError until reset()', LIMIT, async () => {
    const b = new Barrier(2, { name: 'tb' });
    let t0 = performance.now();
    assert.throws(() => b.wait(80), (e) => isBroken(e) && /Barrier 'tb'/.test(e.message));
    assert.ok(elapsedSince(t0) >= 48, `waited ${elapsedSince(t0)} ms`);
    assert.equal(b.broken, true);
    assert.equal(b.nWaiting, 0);
    assert.throws(() => b.wait(0), isBroken);
    await refusedAtOnce(b);
    await refusedAtOnce(b);
    assert.equal(b.broken, true);
    b.reset();
    assert.equal(b.broken, false);
    assert.equal(b.nWaiting, 0);
    // Usable again: a full generation passes.
    assert.deepEqual(await Promise.all([b.waitAsync(5_000), b.waitAsync(5_000)]), [0, 1]);
    // waitAsync times out and breaks it too.
    t0 = performance.now();
    await assert.rejects(b.waitAsync(80), isBroken);
    assert.ok(elapsedSince(t0) >= 48, `waited ${elapsedSince(t0)} ms`);
    assert.equal(b.broken, true);
  });

  test('wait(0) on a barrier that is not full does not wait: it breaks it', LIMIT, () => {
    const b = new Barrier(2);
    assert.throws(() => b.wait(0), isBroken);
    assert.equal(b.broken, true);
  });

  test('the default timeout option applies to waitAsync(), also through a clone', LIMIT, async () => {
    // (The blocking wait() with the default runs in a worker, below: here a watchdog can only
    // rescue an async wait.)
    const b = new Barrier(2, { timeout: 60 });
    for (const which of [b, Barrier.from(structuredClone(b))]) {
      const dog = watchdog(b);
      const t0 = performance.now();
      const r = await outcome(which.waitAsync());
      dog.clear();
      assert.equal(dog.fired, false, 'the default timeout did not end the wait');
      assert.deepEqual(r, { error: 'BrokenBarrierError' });
      assert.ok(elapsedSince(t0) >= 36, `waited ${elapsedSince(t0)} ms`);
      assert.equal(b.broken, true);
      b.reset();
    }
  });

  test('abort() breaks an idle barrier until reset()', LIMIT, async () => {
    const b = new Barrier(3);
    b.abort();
    assert.equal(b.broken, true);
    assert.throws(() => b.wait(0), isBroken);
    await refusedAtOnce(b);
    b.abort(); // idempotent
    b.reset();
    assert.equal(b.broken, false);
    assert.deepEqual(await Promise.all([b.waitAsync(5_000), b.waitAsync(5_000), b.waitAsync(5_000)]), [0, 1, 2]);
  });

  test('a throwing action: the last arriver gets its error, the other BrokenBarrierError; broken until reset()', LIMIT, async () => {
    const boom = new Error('action failed');
    let runs = 0;
    const b = new Barrier(2, { action: () => { runs++; throw boom; } });
    const dog = watchdog(b);
    const first = outcome(b.waitAsync()); // must be woken by the break, not by a timeout
    const last = b.waitAsync();
    await assert.rejects(last, (e) => e === boom);
    assert.equal(b.broken, true, 'broken as soon as the action threw');
    assert.deepEqual(await first, { error: 'BrokenBarrierError' });
    dog.clear();
    assert.equal(dog.fired, false);
    assert.equal(runs, 1);
    assert.equal(b.broken, true);
    assert.equal(inside(b), 0);
    b.reset();
    assert.equal(b.broken, false);
  });

  test('from() and revive(): same memory; the action stays with its instance; other kinds refused', LIMIT, async () => {
    let mainRuns = 0;
    let cloneRuns = 0;
    const b = new Barrier(2, { name: 'rv', action: () => mainRuns++ });
    assert.equal(Barrier.from(b), b);
    const c = Barrier.from(structuredClone(b), { action: () => cloneRuns++ });
    assert.ok(c instanceof Barrier && c !== b);
    assert.equal(c.parties, 2);
    assert.equal(c.name, 'rv');
    // b arrives first, c last: c's action runs, b's does not.
    const pb = b.waitAsync(5_000);
    assert.equal(c.nWaiting, 1, 'shared count');
    assert.equal(await c.waitAsync(5_000), 1);
    assert.equal(await pb, 0);
    assert.deepEqual([mainRuns, cloneRuns], [0, 1]);
    // A clone restored without an action runs none.
    const bare = revive(structuredClone({ x: [b] })).x[0];
    assert.ok(bare instanceof Barrier);
    const pb2 = b.waitAsync(5_000);
    assert.equal(await bare.waitAsync(5_000), 1);
    await pb2;
    assert.deepEqual([mainRuns, cloneRuns], [0, 1]);
    c.abort();
    assert.equal(b.broken, true, 'abort through a clone breaks the original');
    assert.throws(() => Barrier.from(structuredClone(b), { action: 'x' }), TypeError);
    assert.throws(() => Barrier.from(structuredClone(new Lock())), TypeError);
    assert.throws(() => Barrier.from(structuredClone(new Condition())), TypeError);
    assert.throws(() => Lock.from(structuredClone(b)), TypeError);
    assert.throws(() => Barrier.from({}), TypeError);
    assert.throws(() => Barrier.from(undefined), TypeError);
  });
});

describe('Barrier: across threads', () => {
  test('parties threads pass together for several generations: distinct indices 0..P-1; the action runs once, first, in the last arriver', LIMIT, async () => {
    const P = 3;
    const G = 20;
    // [actions run, violations, ...actionThread[G], ...passed[G], ...indexMask[G]]
    const ACTIONS = 0, VIOLATIONS = 1, TID = 2, PASSED = 2 + G, MASK = 2 + 2 * G;
    const marks = new Int32Array(new SharedArrayBuffer(4 * (2 + 3 * G)));
    const b = new Barrier(P);
    const body = ({ data, weft, threadId }) => {
      const { marks, G, P, ACTIONS, VIOLATIONS, TID, PASSED, MASK } = data;
      // Functions do not cross threads: each worker gives its own instance the action.
      const b = weft.Barrier.from(data.b, {
        action: () => {
          const g = Atomics.add(marks, ACTIONS, 1);
          Atomics.store(marks, TID + g, threadId);
          // Nobody has left generation g yet, and everybody has left g - 1.
          if (Atomics.load(marks, PASSED + g) !== 0) Atomics.add(marks, VIOLATIONS, 1);
          if (g > 0 && Atomics.load(marks, PASSED + g - 1) !== P) Atomics.add(marks, VIOLATIONS, 1);
        },
      });
      const indices = [];
      for (let g = 0; g < G; g++) {
        const i = b.wait(20_000);
        // Exactly this generation's action has run, before this thread was released.
        const actions = Atomics.load(marks, ACTIONS);
        if (actions !== g + 1) throw new Error(`generation ${g}: released with ${actions} actions run`);
        // The last arriver (index P-1) is the thread that ran the action.
        if (i === P - 1 && Atomics.load(marks, TID + g) !== threadId) {
          throw new Error(`generation ${g}: the action ran in thread ${Atomics.load(marks, TID + g)}, not in the last arriver ${threadId}`);
        }
        Atomics.or(marks, MASK + g, 1 << i);
        Atomics.add(marks, PASSED + g, 1);
        indices.push(i);
      }
      return indices;
    };
    const ws = Array.from({ length: P }, () => spawn(body, { b, marks, G, P, ACTIONS, VIOLATIONS, TID, PASSED, MASK }));
    const all = await Promise.all(ws);
    assert.equal(marks[ACTIONS], G, 'the action ran once per generation');
    assert.equal(marks[VIOLATIONS], 0, 'the action ran after everyone left the previous generation and before anyone left this one');
    for (let g = 0; g < G; g++) {
      assert.equal(marks[MASK + g], (1 << P) - 1, `generation ${g}: indices 0..${P - 1} each once`);
      assert.equal(marks[PASSED + g], P);
      assert.deepEqual(all.map((ix) => ix[g]).sort(), [0, 1, 2]);
    }
    assert.equal(b.broken, false);
    assert.equal(inside(b), 0);
  });

  test('the main thread with waitAsync: the event loop runs while it waits; the action runs where the last arriver is', LIMIT, async () => {
    let mainRuns = 0;
    const b = new Barrier(2, { action: () => mainRuns++ });
    const ctl = control();
    const worker = ({ data, h, weft }) => {
      const b = weft.Barrier.from(data.b, { action: () => h.bump(data.ctl, 1) });
      if (data.gated) h.awaitAtLeast(data.ctl, 0, 1, 10_000, 'the main thread\'s setImmediate');
      return { index: b.wait(20_000), parties: b.parties, broken: b.broken };
    };
    // 1. Main first; the worker arrives only after a setImmediate callback ran during the wait.
    const p = b.waitAsync(10_000);
    assert.equal(b.nWaiting, 1);
    const w = spawn(worker, { b, ctl, gated: true });
    setImmediate(() => signal(ctl, 0));
    assert.equal(await p, 0);
    assert.deepEqual(await w, { index: 1, parties: 2, broken: false });
    assert.equal(ctl[1], 1, 'the worker (last) ran its action');
    assert.equal(mainRuns, 0, 'the main thread (not last) did not');
    // 2. The worker first (parked), the main thread last.
    const w2 = spawn(worker, { b, ctl, gated: false });
    await until(() => b.nWaiting === 1, 10_000, 'the worker to park');
    assert.equal(await b.waitAsync(10_000), 1);
    assert.deepEqual(await w2, { index: 0, parties: 2, broken: false });
    assert.equal(mainRuns, 1);
    assert.equal(ctl[1], 1);
  });

  test('an action that throws in a worker: that worker gets its error, the others BrokenBarrierError', LIMIT, async () => {
    const b = new Barrier(3);
    const ws = await parkWorkers(b, 2);
    const last = spawn(({ data, weft }) => {
      const b = weft.Barrier.from(data.b, { action: () => { throw new RangeError('action failed'); } });
      try {
        b.wait(20_000);
        return 'passed';
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    }, { b });
    assert.equal(await last, 'RangeError: action failed');
    for (const r of await Promise.all(ws)) assert.equal(r.error, 'BrokenBarrierError');
    assert.equal(b.broken, true);
    await refusedAtOnce(b);
    b.reset();
    assert.deepEqual(await Promise.all([b.waitAsync(5_000), b.waitAsync(5_000), b.waitAsync(5_000)]), [0, 1, 2]);
  });

  test('a timeout in one thread breaks the barrier for all: waiters and later arrivals, until reset()', LIMIT, async () => {
    const b = new Barrier(3);
    const [a] = await parkWorkers(b, 1);
    const timedOut = await spawn(waitOnce, { b, ms: 100 });
    assert.equal(timedOut.error, 'BrokenBarrierError');
    assert.ok(timedOut.ms >= 60, `waited ${timedOut.ms} ms`);
    assert.equal((await a).error, 'BrokenBarrierError', 'the parked waiter is woken broken');
    assert.equal(b.broken, true);
    // A later wait without any timeout throws at once (the watchdog fails the test if it hangs).
    const later = await spawn(waitOnce, { b }, { ms: 10_000 });
    assert.equal(later.error, 'BrokenBarrierError');
    await refusedAtOnce(b);
    b.reset();
    assert.equal(b.broken, false);
    const again = await parkWorkers(b, 2);
    assert.equal(await b.waitAsync(5_000), 2);
    assert.deepEqual((await Promise.all(again)).map((r) => r.index).sort(), [0, 1]);
  });

  test('the default timeout reaches the workers\' clones; an explicit timeout overrides it', LIMIT, async () => {
    const b = new Barrier(2, { timeout: 100 });
    const r = await spawn(waitOnce, { b }); // no timeout argument: the default
    assert.equal(r.error, 'BrokenBarrierError');
    assert.ok(r.ms >= 60, `waited ${r.ms} ms`);
    assert.equal(b.broken, true);
    b.reset();
    // An explicit long timeout: still parked well after the default would have broken it.
    const [w] = await parkWorkers(b, 1, 20_000);
    const t0 = performance.now();
    await until(() => elapsedSince(t0) >= 400, 10_000, 'time to pass');
    assert.equal(b.broken, false, 'the explicit timeout was not replaced by the default');
    assert.equal(b.nWaiting, 1);
    assert.equal(await b.waitAsync(5_000), 1);
    assert.equal((await w).index, 0);
  });

  test('abort() wakes every waiter (blocking in a worker, async on the main thread) with BrokenBarrierError', LIMIT, async () => {
    const b = new Barrier(3);
    const [w] = await parkWorkers(b, 1);
    const p = outcome(b.waitAsync(60_000)); // must be woken by abort(), not by its timeout
    // (Counted once it holds the barrier's internal lock, which the worker may still hold.)
    await until(() => b.nWaiting === 2, 10_000, 'the main thread to join');
    b.abort();
    assert.equal(b.broken, true);
    assert.equal((await w).error, 'BrokenBarrierError');
    assert.deepEqual(await p, { error: 'BrokenBarrierError' });
    assert.equal(inside(b), 0, 'everyone left');
    assert.equal(b.broken, true, 'still broken after they left');
    b.reset();
    assert.deepEqual(await Promise.all([b.waitAsync(5_000), b.waitAsync(5_000), b.waitAsync(5_000)]), [0, 1, 2]);
  });

  test('reset() while threads wait: they get BrokenBarrierError; the barrier works afterwards, also for arrivals during the reset', LIMIT, async () => {
    const P = 3;
    const b = new Barrier(P);
    const old = await parkWorkers(b, 2);
    b.reset();
    assert.equal(b.broken, false, 'reset() does not leave it broken');
    // Arrive at once, whether or not the old waiters have left yet: they join the next generation.
    const mine = outcome(b.waitAsync(20_000));
    for (const r of await Promise.all(old)) assert.equal(r.error, 'BrokenBarrierError');
    const fresh = [spawn(waitOnce, { b, ms: 20_000 }), spawn(waitOnce, { b, ms: 20_000 })];
    const results = [await mine, ...(await Promise.all(fresh))];
    for (const r of results) assert.equal(r.error, undefined, `a wait after reset() failed: ${r.error}`);
    assert.deepEqual(results.map((r) => r.index).sort(), [0, 1, 2]);
    assert.equal(b.broken, false);
    assert.equal(inside(b), 0);
  });
});

describe('Barrier: stress', () => {
  test('4 workers x many generations: every generation complete, one action each, no thread laps another', STRESS_LIMIT, async () => {
    const P = 4;
    const G = 300 * STRESS;
    const b = new Barrier(P);
    // [actions, ...gen[P], ...mask[G], ...count[G]]
    const GEN = 1, MASK = 1 + P, COUNT = 1 + P + G;
    const shared = new Int32Array(new SharedArrayBuffer(4 * (1 + P + 2 * G)));
    const body = async ({ data, weft }) => {
      const { shared, G, me, P, GEN, MASK, COUNT } = data;
      const b = weft.Barrier.from(data.b, { action: () => { Atomics.add(shared, 0, 1); } });
      for (let g = 0; g < G; g++) {
        Atomics.store(shared, GEN + me, g);
        const i = (g + me) % 3 === 0 ? await b.waitAsync(30_000) : b.wait(30_000);
        if (!(i >= 0 && i < P)) throw new Error(`generation ${g}: bad index ${i}`);
        const actions = Atomics.load(shared, 0);
        if (actions !== g + 1) throw new Error(`generation ${g}: released with ${actions} actions run`);
        // After passing generation g, every thread has reached g (none is behind).
        for (let k = 0; k < P; k++) {
          if (Atomics.load(shared, GEN + k) < g) throw new Error(`thread ${k} is behind at generation ${g}`);
        }
        Atomics.or(shared, MASK + g, 1 << i);
        Atomics.add(shared, COUNT + g, 1);
      }
      return G;
    };
    const done = await Promise.all(Array.from({ length: P }, (_, me) =>
      spawn(body, { b, shared, G, me, P, GEN, MASK, COUNT }, { ms: 90_000 })));
    assert.deepEqual(done, Array(P).fill(G));
    assert.equal(shared[0], G, 'one action per generation');
    const bad = [];
    for (let g = 0; g < G; g++) {
      if (shared[MASK + g] !== (1 << P) - 1 || shared[COUNT + g] !== P) bad.push(`${g}: mask ${shared[MASK + g]}, count ${shared[COUNT + g]}`);
    }
    assert.deepEqual(bad.slice(0, 10), []);
    assert.equal(b.broken, false);
    assert.equal(inside(b), 0);
  });

  test('abort and reset, round after round: waiters of an aborted round see BrokenBarrierError, the next round passes', STRESS_LIMIT, async () => {
    const P = 3;
    const R = 2 * Math.max(1, Math.round(20 * STRESS)); // even rounds are aborted, odd ones pass
    const b = new Barrier(P);
    const ctl = control(8); // [round, rounds done by worker 0, by worker 1]
    const tally = new Int32Array(new SharedArrayBuffer(4 * 2)); // [passed, broken]
    const body = ({ data, h }) => {
      const { b, ctl, tally, me, R } = data;
      for (let r = 1; r <= R; r++) {
        h.awaitAtLeast(ctl, 0, r, 20_000, `round ${r}`);
        try {
          b.wait(20_000);
          Atomics.add(tally, 0, 1);
        } catch (e) {
          if (e.name !== 'BrokenBarrierError') throw e;
          Atomics.add(tally, 1, 1);
        }
        h.bump(ctl, 1 + me);
      }
      return true;
    };
    const ws = [0, 1].map((me) => spawn(body, { b, ctl, tally, me, R }, { ms: 60_000 }));
    for (let r = 1; r <= R; r++) {
      signal(ctl, 0, r);
      if (r % 2 === 0) {
        await until(() => b.nWaiting === 2, 10_000, `round ${r}: both workers to park`);
        b.abort();
      } else {
        const i = await b.waitAsync(20_000);
        assert.ok(i >= 0 && i < P);
      }
      await until(() => Atomics.load(ctl, 1) >= r && Atomics.load(ctl, 2) >= r, 10_000, `round ${r} to finish`);
      assert.equal(inside(b), 0);
      assert.equal(b.broken, r % 2 === 0);
      assert.deepEqual([tally[0], tally[1]], [2 * Math.ceil(r / 2), 2 * Math.floor(r / 2)], `after round ${r}`);
      b.reset();
    }
    assert.deepEqual(await Promise.all(ws), [true, true]);
    assert.equal(b.broken, false);
  });
});
