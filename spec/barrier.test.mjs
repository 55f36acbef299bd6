// Barrier: small cases, then real workers (generations, action, breaking, reset), then a stress
// run of many generations with exact counts.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Barrier, BrokenBarrierError } from 'weft';
import { until } from './helpers/sync.mjs';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);

/** A worker body: one wait on data.b; says 'passed' or the error's name. */
const waitOnce = ({ data }) => {
  try {
    data.b.wait(20_000);
    return 'passed';
  } catch (e) {
    return e.name;
  }
};
after(terminateAll);

describe('Barrier: single thread', () => {
  test('one party passes at once, index 0, action runs each time', () => {
    let runs = 0;
    const b = new Barrier(1, { action: () => runs++, name: 'solo' });
    assert.equal(b.wait(), 0);
    assert.equal(b.wait(0), 0);
    assert.equal(runs, 2);
    assert.equal(b.parties, 1);
    assert.equal(b.broken, false);
    assert.equal(String(b), "Barrier 'solo'");
  });

  test('bad arguments', () => {
    assert.throws(() => new Barrier(0), RangeError);
    assert.throws(() => new Barrier(1.5), RangeError);
    assert.throws(() => new Barrier(2, { timeout: -1 }), RangeError);
    assert.throws(() => new Barrier(2, { action: 'x' }), TypeError);
    assert.throws(() => new Barrier(2).wait(NaN), RangeError);
  });

  test('a timeout breaks the barrier until reset()', async () => {
    const b = new Barrier(2);
    const t0 = performance.now();
    assert.throws(() => b.wait(80), (e) => e instanceof BrokenBarrierError && e.code === 'ERR_BROKEN_BARRIER');
    assert.ok(performance.now() - t0 >= 50);
    assert.equal(b.broken, true);
    assert.throws(() => b.wait(0), BrokenBarrierError);
    await assert.rejects(b.waitAsync(10), BrokenBarrierError);
    b.reset();
    assert.equal(b.broken, false);
    assert.equal(b.nWaiting, 0);
  });

  test('the default timeout option applies', () => {
    const b = new Barrier(2, { timeout: 50 });
    assert.throws(() => b.wait(), BrokenBarrierError);
  });

  test('abort() breaks it', () => {
    const b = new Barrier(3);
    b.abort();
    assert.equal(b.broken, true);
    assert.throws(() => b.wait(), BrokenBarrierError);
  });
});

describe('Barrier: across threads', () => {
  test('parties threads pass together, distinct indices per generation, action once per generation first', async () => {
    const P = 3;
    const G = 20;
    const marks = new Int32Array(new SharedArrayBuffer(4 * (2 + G)));
    const b = new Barrier(P);
    const body = ({ data, weft }) => {
      const { marks, G } = data;
      // Functions do not cross threads: each worker gives its instance the action.
      const b = weft.Barrier.from(data.b, { action: () => { Atomics.add(marks, 0, 1); } });
      const indices = [];
      for (let g = 0; g < G; g++) {
        const i = b.wait(20_000);
        // The action of generation g ran before anyone was released from it.
        if (Atomics.load(marks, 0) < g + 1) throw new Error(`generation ${g}: released before the action ran`);
        Atomics.add(marks, 2 + g, 1 << i);
        indices.push(i);
      }
      return indices;
    };
    const ws = Array.from({ length: P }, () => spawn(body, { b, marks, G }));
    const all = await Promise.all(ws);
    assert.equal(marks[0], G, 'the action ran once per generation');
    for (let g = 0; g < G; g++) {
      assert.equal(marks[2 + g], (1 << P) - 1, `generation ${g}: indices 0..${P - 1} each once`);
      assert.deepEqual(all.map((ix) => ix[g]).sort(), [0, 1, 2]);
    }
  });

  test('an action that throws: that thread gets its error, the others BrokenBarrierError', async () => {
    const b = new Barrier(2);
    const w = spawn(waitOnce, { b });
    await until(() => b.nWaiting === 1, 10_000, 'the worker to wait');
    const local = Barrier.from(structuredClone(b), { action: () => { throw new Error('action failed'); } });
    assert.throws(() => local.wait(20_000), /action failed/);
    assert.equal(await w, 'BrokenBarrierError');
    assert.equal(b.broken, true);
  });

  test('reset() while threads wait: they get BrokenBarrierError; the barrier works afterwards', async () => {
    const b = new Barrier(3);
    const body = waitOnce;
    const ws = [spawn(body, { b }), spawn(body, { b })];
    await until(() => b.nWaiting === 2, 10_000, 'two waiters');
    b.reset();
    assert.deepEqual(await Promise.all(ws), ['BrokenBarrierError', 'BrokenBarrierError']);
    assert.equal(b.broken, false);
    const again = [spawn(body, { b }), spawn(body, { b })];
    assert.equal(b.wait(20_000) >= 0, true);
    assert.deepEqual(await Promise.all(again), ['passed', 'passed']);
  });

  test('abort() wakes waiters with BrokenBarrierError; waitAsync twin', async () => {
    const b = new Barrier(3);
    const w = spawn(waitOnce, { b });
    const p = b.waitAsync(20_000).then(() => 'passed', (e) => (e instanceof BrokenBarrierError ? e.name : String(e)));
    await until(() => b.nWaiting === 2, 10_000, 'two waiters');
    b.abort();
    assert.equal(await w, 'BrokenBarrierError');
    assert.equal(await p, 'BrokenBarrierError');
  });
});

describe('Barrier: stress', () => {
  test('4 threads x many generations: every generation complete, no thread laps another', async () => {
    const P = 4;
    const G = 300 * STRESS;
    const b = new Barrier(P);
    const gen = new Int32Array(new SharedArrayBuffer(4 * P));
    const body = async ({ data }) => {
      const { b, gen, G, me, P } = data;
      for (let g = 0; g < G; g++) {
        gen[me] = g;
        const i = g % 5 === 0 ? await b.waitAsync(30_000) : b.wait(30_000);
        if (i < 0 || i >= P) throw new Error(`bad index ${i}`);
        // After passing generation g, nobody may still be before g.
        for (let k = 0; k < P; k++) if (Atomics.load(gen, k) < g) throw new Error(`thread ${k} lapped at generation ${g}`);
      }
      return G;
    };
    const done = await Promise.all(Array.from({ length: P }, (_, me) => spawn(body, { b, gen, G, me, P }, { ms: 90_000 })));
    assert.deepEqual(done, Array(P).fill(G));
    assert.equal(b.broken, false);
  });
});
