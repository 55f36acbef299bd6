// Semaphore and BoundedSemaphore: small cases, then real workers, then a bounded-concurrency stress run.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { BoundedSemaphore, Semaphore, SemaphoreOverflowError } from 'weft';
import { SEMAPHORE_LAYOUT } from '../dist/esm/semaphore.js';
import { awaitAtLeast, control, slot, until } from './helpers/sync.mjs';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

const sleepers = (sem) => slot(sem, SEMAPHORE_LAYOUT.WAITERS);

describe('Semaphore: single thread', () => {
  test('counts down and up', () => {
    const s = new Semaphore(2);
    assert.equal(s.value, 2);
    assert.equal(s.acquire(), true);
    assert.equal(s.tryAcquire(), true);
    assert.equal(s.tryAcquire(), false);
    assert.equal(s.acquire(0), false);
    s.release(2);
    assert.equal(s.value, 2);
    assert.equal(new Semaphore().value, 1, 'default 1');
    assert.equal(new Semaphore(0).tryAcquire(), false);
  });

  test('invalid values: RangeError, nothing changed', () => {
    assert.throws(() => new Semaphore(-1), RangeError);
    assert.throws(() => new Semaphore(1.5), RangeError);
    assert.throws(() => new Semaphore('2'), RangeError);
    const s = new Semaphore(1, { name: 'slots' });
    assert.throws(() => s.release(0), /Semaphore 'slots'/);
    assert.throws(() => s.release(-2), RangeError);
    assert.throws(() => s.acquire(-1), RangeError);
    assert.throws(() => s.acquire(NaN), RangeError);
    assert.equal(s.value, 1);
    assert.throws(() => new Semaphore(2 ** 31 - 1).release(), RangeError);
  });

  test('acquire(timeout) times out at zero; the async twin too', async () => {
    const s = new Semaphore(0);
    const t0 = performance.now();
    assert.equal(s.acquire(120), false);
    assert.ok(performance.now() - t0 >= 0.6 * 120);
    const t1 = performance.now();
    assert.equal(await s.acquireAsync(120), false);
    assert.ok(performance.now() - t1 >= 0.6 * 120);
    assert.equal(s.value, 0);
  });

  test('BoundedSemaphore: over-release throws SemaphoreOverflowError and changes nothing', () => {
    const b = new BoundedSemaphore(2, { name: 'pool' });
    assert.ok(b instanceof Semaphore);
    assert.throws(() => b.release(), (e) => e instanceof SemaphoreOverflowError && e.code === 'ERR_SEMAPHORE_OVERFLOW' && /BoundedSemaphore 'pool'/.test(e.message));
    b.acquire();
    assert.throws(() => b.release(2), SemaphoreOverflowError);
    assert.equal(b.value, 1);
    b.release();
    assert.equal(b.value, 2);
  });

  test('from() restores the right kind and refuses the other', () => {
    const b = new BoundedSemaphore(1);
    const r = BoundedSemaphore.from(structuredClone(b));
    assert.ok(r instanceof BoundedSemaphore);
    assert.throws(() => r.release(), SemaphoreOverflowError, 'the bound lives in shared memory');
    assert.throws(() => Semaphore.from(structuredClone(b)), /expected a Semaphore.*got a BoundedSemaphore/);
    assert.throws(() => BoundedSemaphore.from(structuredClone(new Semaphore())), TypeError);
  });
});

describe('Semaphore: across threads', () => {
  test('release(n) wakes n sleeping waiters, not more', async () => {
    const s = new Semaphore(0);
    const ctl = control();
    const body = ({ data, h }) => {
      const got = data.s.acquire(20_000);
      h.bump(data.ctl, 0);
      return got;
    };
    const ws = [0, 1, 2].map(() => spawn(body, { s, ctl }));
    await until(() => sleepers(s) === 3, 10_000, 'three sleeping acquirers');
    s.release(2);
    awaitAtLeast(ctl, 0, 2);
    assert.equal(Atomics.load(ctl, 0), 2);
    await until(() => sleepers(s) === 1, 10_000, 'one acquirer still asleep');
    assert.equal(Atomics.load(ctl, 0), 2, 'the third is still waiting');
    s.release();
    assert.deepEqual(await Promise.all(ws), [true, true, true]);
    assert.equal(s.value, 0);
  });

  test('acquireAsync is woken by a release in another thread', async () => {
    const s = new Semaphore(0);
    const p = s.acquireAsync(20_000);
    await spawn(({ data }) => data.s.release(), { s });
    assert.equal(await p, true);
    assert.equal(s.value, 0);
  });
});

describe('Semaphore: stress', () => {
  test('never more than `value` threads inside; every acquire matched', async () => {
    const LIMIT = 2;
    const s = new BoundedSemaphore(LIMIT);
    const stats = new Int32Array(new SharedArrayBuffer(16)); // [inside, maxInside, total]
    const n = 5_000 * STRESS;
    const body = async ({ data }) => {
      const { s, stats, n } = data;
      for (let i = 0; i < n; i++) {
        const ok = i % 8 === 0 ? await s.acquireAsync(30_000) : s.acquire(30_000);
        if (!ok) throw new Error('acquire timed out');
        const inside = Atomics.add(stats, 0, 1) + 1;
        for (let m = Atomics.load(stats, 1); inside > m; m = Atomics.load(stats, 1)) {
          if (Atomics.compareExchange(stats, 1, m, inside) === m) break;
        }
        Atomics.add(stats, 2, 1);
        Atomics.sub(stats, 0, 1);
        s.release();
      }
      return n;
    };
    await Promise.all([0, 1, 2, 3].map(() => spawn(body, { s, stats, n }, { ms: 60_000 })));
    assert.equal(stats[2], 4 * n);
    assert.ok(stats[1] <= LIMIT, `at most ${LIMIT} inside, saw ${stats[1]}`);
    assert.equal(s.value, LIMIT);
  });
});
