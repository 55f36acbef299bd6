// The package as users get it: both entries of the exports map, the error classes, revive/from
// across real threads, and the rules of the package itself (no runtime dependency, no `node:`
// import in the primitives).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, describe, test } from 'node:test';
import * as esm from 'weft';
import { spawn, terminateAll } from './helpers/workers.mjs';

const require = createRequire(import.meta.url);
const cjs = require('weft');
const root = new URL('../', import.meta.url);
after(terminateAll);

const SYNC = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Event', 'Condition', 'Barrier'];
const ERRORS = {
  WeftError: 'ERR_WEFT', TimeoutError: 'ERR_TIMEOUT', DeadlockError: 'ERR_DEADLOCK',
  BrokenBarrierError: 'ERR_BROKEN_BARRIER', QueueFullError: 'ERR_QUEUE_FULL', QueueEmptyError: 'ERR_QUEUE_EMPTY',
  ClosedError: 'ERR_CLOSED', WorkerCrashedError: 'ERR_WORKER_CRASHED', NotHeldError: 'ERR_NOT_HELD',
  SemaphoreOverflowError: 'ERR_SEMAPHORE_OVERFLOW', TooManyWaitersError: 'ERR_TOO_MANY_WAITERS',
};

function make(name) {
  return name === 'Barrier' ? new esm.Barrier(2) : new esm[name]();
}

describe('entries', () => {
  test('ESM and CommonJS entries export the same names, from different builds', () => {
    for (const name of [...SYNC, 'revive', ...Object.keys(ERRORS)]) {
      assert.equal(typeof esm[name], 'function', `ESM export ${name}`);
      assert.equal(typeof cjs[name], 'function', `CJS export ${name}`);
    }
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
    assert.match(require.resolve('weft'), /dist[\\/]cjs[\\/]index\.js$/);
  });

  test('a primitive made by one build is usable through the other (same memory)', () => {
    const lock = new esm.Lock();
    const twin = cjs.Lock.from(structuredClone(lock));
    lock.acquire();
    assert.equal(twin.locked, true);
    lock.release();
  });

  test('package.json: no runtime dependencies, Node >= 20, exports map with types', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
    assert.equal(pkg.name, 'weft');
    assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
    assert.equal(pkg.engines.node, '>=20');
    assert.ok(pkg.exports['.'].import.types && pkg.exports['.'].require.types);
  });

  test('the primitives import no node: module (they must run in browsers, Deno and Bun)', () => {
    const dir = new URL('lib/', root);
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !f.startsWith('pool'))
      .filter((f) => /from\s+['"]node:|require\(['"]node:|import\(['"]node:/.test(readFileSync(new URL(f, dir), 'utf8')));
    assert.deepEqual(offenders, []);
  });
});

describe('errors', () => {
  test('every error class extends WeftError and Error, with a stable code and its own name', () => {
    for (const [name, code] of Object.entries(ERRORS)) {
      for (const mod of [esm, cjs]) {
        const e = new mod[name]('boom');
        assert.ok(e instanceof mod.WeftError && e instanceof Error, name);
        assert.equal(e.code, code);
        assert.equal(e.name, name);
        assert.equal(e.message, 'boom');
        assert.match(e.stack, new RegExp(name));
      }
    }
  });
});

describe('revive and from', () => {
  test('from() on an instance returns it; on a clone restores the class over the same memory', () => {
    for (const name of SYNC) {
      const p = make(name);
      assert.equal(esm[name].from(p), p);
      const clone = structuredClone(p);
      assert.equal(Object.getPrototypeOf(clone), Object.prototype, 'a clone is a plain object');
      const back = esm[name].from(clone);
      assert.ok(back instanceof esm[name]);
      assert.equal(back.buffer, clone.buffer);
    }
  });

  test('from() refuses other kinds, foreign buffers and junk with a TypeError that says what it got', () => {
    const lock = structuredClone(new esm.Lock());
    assert.throws(() => esm.Event.from(lock), /Event\.from\(\): expected an Event .*got a Lock/);
    assert.throws(() => esm.Lock.from({ $weft: 'Lock', buffer: new SharedArrayBuffer(64), byteOffset: 0 }), /found no weft block/);
    const forged = structuredClone(new esm.Semaphore());
    forged.$weft = 'Lock';
    assert.throws(() => esm.Lock.from(forged), /found a Semaphore block/);
    assert.throws(() => esm.Lock.from(null), TypeError);
    assert.throws(() => esm.Lock.from({ $weft: 'Lock', buffer: new ArrayBuffer(64), byteOffset: 0 }), TypeError);
    assert.throws(() => esm.Lock.from({ $weft: 'Lock', buffer: new SharedArrayBuffer(64), byteOffset: 60 }), TypeError);
  });

  test('revive restores primitives nested in objects, arrays, Maps and Sets, keeping cycles', () => {
    const lock = new esm.Lock();
    const data = { a: [lock, { deep: new esm.Event() }], m: new Map([['k', new esm.RLock()]]), s: new Set([new esm.Semaphore(2)]), n: 1 };
    data.self = data;
    data.again = data.a; // a shared reference
    const r = esm.revive(structuredClone(data));
    assert.ok(r.a[0] instanceof esm.Lock);
    assert.ok(r.a[1].deep instanceof esm.Event);
    assert.ok(r.m.get('k') instanceof esm.RLock);
    assert.ok([...r.s][0] instanceof esm.Semaphore);
    assert.equal([...r.s][0].value, 2);
    assert.equal(r.self, r);
    assert.equal(r.again, r.a);
    assert.equal(r.n, 1);
    assert.ok(esm.revive(structuredClone(lock)) instanceof esm.Lock, 'a top-level clone');
    assert.equal(esm.revive(5), 5);
  });

  test('through workerData and postMessage, every primitive arrives revived and shares memory', async () => {
    const prims = Object.fromEntries(SYNC.map((n) => [n, make(n)]));
    const kinds = await spawn(({ data, weft }) => {
      const names = Object.keys(data.prims).filter((n) => data.prims[n] instanceof weft[n]);
      data.prims.Lock.acquire(); // stays held: the worker exits holding it
      data.prims.Event.set();
      data.prims.Semaphore.acquire();
      return names;
    }, { prims });
    assert.deepEqual(kinds.sort(), [...SYNC].sort());
    assert.equal(prims.Lock.locked, true);
    assert.equal(prims.Event.isSet(), true);
    assert.equal(prims.Semaphore.value, 0);
  });
});
