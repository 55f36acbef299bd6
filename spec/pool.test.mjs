// Pool: every member with real workers, errors, crashes and recycling, lazy infinite imap,
// abort and timeout, primitives as arguments, close/join/terminate. Every wait has a watchdog
// (node:test's per-test timeout, and the pool's own timeouts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClosedError, Lock, Pool, TimeoutError, WorkerCrashedError } from 'weft';

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url);
const T = { timeout: 60_000 };

async function withPool(options, body) {
  const pool = new Pool({ filename: TASKS, size: 2, ...options });
  try {
    await body(pool);
  } finally {
    await pool.terminate();
  }
}

describe('Pool', () => {
  test('apply, applySync, default export, async tasks', T, () => withPool({}, async (pool) => {
    assert.equal(pool.size, 2);
    assert.equal(await pool.apply('add', [2, 3]), 5);
    assert.equal(await pool.apply('default', ['x']), 'default:x');
    const r = await pool.apply('later', [7]);
    assert.equal(r.x, 7);
    assert.equal(pool.applySync('add', [20, 22]), 42);
    assert.equal(pool.pending, 0);
  }));

  test('map, starmap: input order; default chunking; an error after every chunk settled', T, () => withPool({}, async (pool) => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    assert.deepEqual(await pool.map('square', xs), xs.map((x) => x * x));
    assert.deepEqual(await pool.map('square', xs, { chunksize: 7 }), xs.map((x) => x * x));
    assert.deepEqual(await pool.starmap('add', [[1, 2], [3, 4]]), [3, 7]);
    assert.deepEqual(await pool.map('square', []), []);
    await assert.rejects(pool.map('fail', ['a', 'b']), /a|b/);
    await assert.rejects(pool.map('square', 5), TypeError);
    await assert.rejects(pool.map('square', [1], { chunksize: 0 }), RangeError);
  }));

  test('imap (ordered) and imapUnordered over an infinite generator; breaking stops the feeding', T, () => withPool({}, async (pool) => {
    let pulled = 0;
    function* naturals() {
      for (let i = 0; ; i++) {
        pulled++;
        yield i;
      }
    }
    const got = [];
    for await (const v of pool.imap('square', naturals())) {
      got.push(v);
      if (got.length === 50) break;
    }
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i * i));
    assert.ok(pulled < 50 + 20, `lazy, bounded look-ahead (pulled ${pulled})`);
    const unordered = [];
    for await (const v of pool.imapUnordered('square', [1, 2, 3, 4, 5], { chunksize: 2 })) unordered.push(v);
    assert.deepEqual(unordered.sort((a, b) => a - b), [1, 4, 9, 16, 25]);
    async function* source() {
      yield 3;
      yield 4;
    }
    const fromAsync = [];
    for await (const v of pool.imap('square', source())) fromAsync.push(v);
    assert.deepEqual(fromAsync, [9, 16]);
  }));

  test('a task error carries the worker\'s name, message, code and stack; the pool goes on', T, () => withPool({}, async (pool) => {
    const e = await pool.apply('fail', ['bad input']).catch((x) => x);
    assert.ok(e instanceof RangeError);
    assert.equal(e.message, 'bad input');
    assert.equal(e.code, 'E_TASK');
    assert.match(e.stack, /fixtures[\\/]tasks\.mjs/);
    await assert.rejects(pool.apply('nope'), /not a function exported/);
    assert.equal(await pool.apply('add', [1, 1]), 2);
  }));

  test('arguments that cannot be sent reject the call at once; results that cannot be sent reject that task', T, () => withPool({}, async (pool) => {
    await assert.rejects(pool.apply('add', [() => 1, 2]), TypeError);
    await assert.rejects(pool.apply('unsendable'), /cannot clone a function/);
    assert.equal(await pool.apply('add', [1, 2]), 3);
  }));

  test('a worker that crashes rejects exactly its task with WorkerCrashedError, is replaced, nothing else lost', T, () => withPool({}, async (pool) => {
    const others = Array.from({ length: 40 }, (_, i) => pool.apply('square', [i]));
    const crash = pool.apply('crash', [7]);
    const more = Array.from({ length: 40 }, (_, i) => pool.apply('square', [i + 40]));
    await assert.rejects(crash, WorkerCrashedError);
    const results = await Promise.all([...others, ...more]);
    assert.deepEqual(results, Array.from({ length: 80 }, (_, i) => i * i));
    assert.equal(await pool.apply('add', [1, 1]), 2);
  }));

  test('initializer runs in every worker, replacements included; maxTasksPerWorker recycles', T, () => withPool({ initializer: 'init', initargs: ['tag'], maxTasksPerWorker: 3 }, async (pool) => {
    const threads = new Set();
    for (let i = 0; i < 12; i++) {
      const s = await pool.apply('initState');
      assert.equal(s.tag, 'tag', 'initialized before the first task');
      threads.add(s.thread);
    }
    assert.ok(threads.size >= 4, `workers were replaced (${threads.size} distinct threads)`);
    assert.deepEqual(await pool.map('square', Array.from({ length: 30 }, (_, i) => i), { chunksize: 1 }), Array.from({ length: 30 }, (_, i) => i * i));
  }));

  test('signal withdraws a task not yet started; timeout rejects with TimeoutError', T, () => withPool({ size: 1 }, async (pool) => {
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const running = pool.apply('gated', [ctl, 'first']);
    while (Atomics.load(ctl, 1) === 0) await new Promise((r) => setTimeout(r, 1)); // it runs
    const ac = new AbortController();
    const queued = pool.apply('add', [1, 2], { signal: ac.signal });
    ac.abort(new Error('changed my mind'));
    await assert.rejects(queued, /changed my mind/);
    const late = pool.apply('add', [1, 2], { timeout: 30 });
    await assert.rejects(late, TimeoutError);
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    assert.equal(await running, 'first');
    const aborted = AbortSignal.abort(new Error('already'));
    await assert.rejects(pool.apply('add', [1, 2], { signal: aborted }), /already/);
    await assert.rejects(pool.apply('add', [1, 2], { timeout: -1 }), RangeError);
  }));

  test('primitives as arguments arrive revived: 8 tasks increment a shared counter under a shared Lock', T, () => withPool({}, async (pool) => {
    const lock = new Lock();
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const done = await Promise.all(Array.from({ length: 8 }, () => pool.apply('locked', [lock, counter, 2_000])));
    assert.deepEqual(done, Array(8).fill(2_000));
    assert.equal(counter[0], 16_000);
    assert.equal(lock.locked, false);
  }));

  test('close then join finishes queued work; later calls reject with ClosedError', T, async () => {
    const pool = new Pool({ filename: TASKS, size: 2 });
    const queued = Array.from({ length: 100 }, (_, i) => pool.apply('square', [i]));
    pool.close();
    await assert.rejects(pool.apply('add', [1, 1]), ClosedError);
    await pool.join();
    assert.deepEqual(await Promise.all(queued), Array.from({ length: 100 }, (_, i) => i * i));
    assert.equal(pool.pending, 0);
  });

  test('terminate rejects pending tasks with ClosedError', T, async () => {
    const pool = new Pool({ filename: TASKS, size: 1 });
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const running = pool.apply('gated', [ctl, 1]);
    const queued = pool.apply('add', [1, 2]);
    while (Atomics.load(ctl, 1) === 0) await new Promise((r) => setTimeout(r, 1));
    const checks = [assert.rejects(running, ClosedError), assert.rejects(queued, ClosedError)];
    await pool.terminate();
    await Promise.all(checks);
    await assert.rejects(pool.apply('add', [1, 1]), ClosedError);
  });

  test('join before close is refused; bad options throw', T, async () => {
    assert.throws(() => new Pool({ filename: 5 }), TypeError);
    assert.throws(() => new Pool({ filename: TASKS, size: 0 }), RangeError);
    const pool = new Pool({ filename: TASKS, size: 1 });
    await assert.rejects(pool.join(), /before close/);
    await pool.terminate();
  });
});
