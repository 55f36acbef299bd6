// Event: small cases, then real workers (CPython's rule that waiters present at set() return
// true), then a stress run of set/clear rounds.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Event } from 'weft';
import { EVENT_LAYOUT } from '../dist/esm/event.js';
import { awaitAtLeast, control, signal, slot, until } from './helpers/sync.mjs';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

const sleepers = (e) => slot(e, EVENT_LAYOUT.WAITERS);

describe('Event: single thread', () => {
  test('set, isSet, clear, wait', () => {
    const e = new Event({ name: 'go' });
    assert.equal(e.isSet(), false);
    assert.equal(e.wait(0), false);
    e.set();
    e.set();
    assert.equal(e.isSet(), true);
    assert.equal(e.wait(), true);
    assert.equal(e.wait(0), true);
    e.clear();
    assert.equal(e.isSet(), false);
    assert.equal(String(e), "Event 'go'");
  });

  test('wait(timeout) returns false after about the timeout; waitAsync too', async () => {
    const e = new Event();
    const t0 = performance.now();
    assert.equal(e.wait(100), false);
    assert.ok(performance.now() - t0 >= 60);
    const t1 = performance.now();
    assert.equal(await e.waitAsync(100), false);
    assert.ok(performance.now() - t1 >= 60);
    assert.throws(() => e.wait(-1), RangeError);
    await assert.rejects(e.waitAsync(NaN), RangeError);
  });
});

describe('Event: across threads', () => {
  test('set() wakes every waiter, even if clear() follows at once', async () => {
    const e = new Event();
    const body = ({ data }) => data.e.wait(20_000);
    const ws = [0, 1, 2].map(() => spawn(body, { e }));
    await until(() => sleepers(e) === 3, 10_000, 'three sleeping waiters');
    e.set();
    e.clear();
    assert.deepEqual(await Promise.all(ws), [true, true, true]);
    assert.equal(e.isSet(), false);
  });

  test('waitAsync on the main thread keeps the loop running and is woken by a worker', async () => {
    const e = new Event();
    const ctl = control();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const p = e.waitAsync(20_000);
    const w = spawn(({ data, h }) => {
      h.awaitAtLeast(data.ctl, 0, 1, 20_000);
      data.e.set();
    }, { e, ctl });
    await until(() => ticks >= 3, 10_000, 'the event loop to tick');
    signal(ctl, 0);
    assert.equal(await p, true);
    clearInterval(ticker);
    await w;
  });

  test('a pending waitAsync keeps a worker alive until it settles', async () => {
    const e = new Event();
    const ctl = control();
    // The worker's last act is to start an async wait; if the loop were not kept alive the
    // worker would exit before the main thread sets the event, and report 'exited early'.
    const w = spawn(async ({ data, h }) => {
      const p = data.e.waitAsync(20_000);
      h.signal(data.ctl, 0);
      return p;
    }, { e, ctl });
    awaitAtLeast(ctl, 0);
    await until(() => sleepers(e) === 1, 10_000, 'the async waiter');
    e.set();
    assert.equal(await w, true);
  });
});

describe('Event: stress', () => {
  test('ping-pong rounds between two threads: every round seen, none skipped', async () => {
    const rounds = 2_000 * STRESS;
    const ping = new Event();
    const pong = new Event();
    const seen = new Int32Array(new SharedArrayBuffer(8));
    const w = spawn(({ data }) => {
      const { ping, pong, seen, rounds } = data;
      for (let i = 0; i < rounds; i++) {
        if (!ping.wait(20_000)) throw new Error(`round ${i}: ping not seen`);
        ping.clear();
        seen[0]++;
        pong.set();
      }
      return seen[0];
    }, { ping, pong, seen, rounds }, { ms: 60_000 });
    for (let i = 0; i < rounds; i++) {
      ping.set();
      assert.ok(i % 4 === 0 ? await pong.waitAsync(20_000) : pong.wait(20_000), `round ${i}: pong not seen`);
      pong.clear();
      assert.equal(seen[0], i + 1);
    }
    assert.equal(await w, rounds);
  });
});
