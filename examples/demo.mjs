// `npm start`: what weft is for, in about half a minute on two cores.
//   node examples/demo.mjs [--files N] [--lines N] [--workers N] [--big]
//
// 1. Log analysis, the classic `multiprocessing` job: gzip-compressed web access logs (generated
//    here, deterministic, into a temp dir that is removed afterwards) analysed once on one thread
//    and once with `Pool.imapUnordered`, per-file counters merged; both results must be identical.
// 2. A producer/consumer pipeline over a `Queue` between worker threads; every item is counted.
// 3. Deadlocks: a thread re-acquiring its own `Lock`, and two threads taking two `Lock`s in
//    opposite order, each ending in `DeadlockError` instead of a hang.
// This file plays both roles: the main thread (the narrator) and the demo's worker threads
// (isMainThread false). The pool's tasks are in examples/log-task.mjs.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, threadId, Worker, workerData } from 'node:worker_threads';
import { DeadlockError, Lock, Pool, Queue, revive, SharedArray } from 'weft';
import { analyse } from './log-task.mjs';

/** Waits until `hs[i]` is non-zero: a handshake on a raw Int32Array, with a watchdog. */
function awaitFlag(hs, i, what, ms = 10_000) {
  const deadline = performance.now() + ms;
  while (Atomics.load(hs, i) === 0) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`demo: ${what} did not happen within ${ms} ms`);
    Atomics.wait(hs, i, 0, left);
  }
}
function raise(hs, i) {
  Atomics.store(hs, i, 1);
  Atomics.notify(hs, i);
}
/** Counts one more arrival at `hs[i]`. */
function arrive(hs, i) {
  Atomics.add(hs, i, 1);
  Atomics.notify(hs, i);
}
/** Main thread, without blocking its event loop: waits until `hs[i] >= n`, with a watchdog. */
async function awaitCount(hs, i, n, what, ms = 10_000) {
  const deadline = performance.now() + ms;
  for (let v; (v = Atomics.load(hs, i)) < n;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`demo: ${what}: ${v} of ${n} after ${ms} ms`);
    const r = Atomics.waitAsync(hs, i, v, left);
    if (r.async) await r.value;
  }
}

if (!isMainThread) {
  // ------------------------------------------------------------------------------ worker side
  const d = revive(workerData);
  if (d.role === 'producer') {
    arrive(d.start, 1);
    awaitFlag(d.start, 0, 'start');
    const paths = ['/', '/cart', '/login', '/search', '/api/v1/orders'];
    for (let seq = 0; seq < d.n; seq++) {
      d.q.put({ producer: d.id, seq, path: paths[seq % paths.length], bytes: seq % 1000 }, 10_000);
    }
    parentPort.postMessage({ produced: d.n });
  } else if (d.role === 'consumer') {
    arrive(d.start, 1);
    awaitFlag(d.start, 0, 'start');
    let count = 0;
    let bytes = 0;
    for (const item of d.q) { // until the queue is closed and drained
      Atomics.add(d.seen.array, item.producer * d.n + item.seq, 1); // each item must be seen once
      bytes += item.bytes;
      count++;
    }
    parentPort.postMessage({ count, bytes });
  } else if (d.role === 'deadlock') {
    // Take `first`, say so, wait until the other thread holds the other lock, then take `second`.
    const { first, second, hs, mine, theirs } = d;
    const me = `thread ${threadId}`; // as Node numbers threads, and weft's messages name them
    first.acquire();
    raise(hs, mine);
    awaitFlag(hs, theirs, `the other thread taking ${second.name}`);
    let backedOff = null;
    try {
      second.acquire(); // for ever: one of the two closes the cycle and gets DeadlockError
    } catch (e) {
      if (!(e instanceof DeadlockError)) throw e;
      backedOff = e;
    }
    if (backedOff) {
      first.release(); // back off: the other thread proceeds
      parentPort.postMessage({ me, backedOff: true, message: backedOff.message, code: backedOff.code });
    } else { // got both: the other thread backed off
      second.release();
      first.release();
      parentPort.postMessage({ me, backedOff: false });
    }
  }
} else {
  // ------------------------------------------------------------------------------ main thread
  const usage = 'usage: npm start -- [--big] [--files N] [--lines N] [--workers N]';
  let opt;
  try {
    ({ values: opt } = parseArgs({
      options: {
        files: { type: 'string' },
        lines: { type: 'string' },
        workers: { type: 'string' },
        big: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  const FILES = Number(opt.files ?? (opt.big ? 48 : 16));
  const LINES = Number(opt.lines ?? (opt.big ? 300_000 : 150_000));
  const WORKERS = Number(opt.workers ?? availableParallelism());
  for (const [k, v] of Object.entries({ files: FILES, lines: LINES, workers: WORKERS })) {
    if (!Number.isInteger(v) || v < 1) {
      console.error(`--${k}: a positive integer, not ${opt[k]}\n${usage}`);
      process.exit(2);
    }
  }

  const t00 = performance.now();
  const tty = process.stdout.isTTY;
  const say = (s = '') => process.stdout.write(s + '\n');
  const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const int = (n) => n.toLocaleString('en-US');
  const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
  /** Progress: in place on a terminal; in a log, a few steps on one line. */
  const progress = (label, done, total) => {
    const step = Math.max(1, Math.ceil(total / 4));
    if (tty) process.stdout.write(`\r    ${label} ${done}/${total}${done === total ? '\n' : ''}`);
    else if (done === 1) process.stdout.write(`    ${label} ${done}/${total}${total === 1 ? '\n' : ''}`);
    else if (done % step === 0 || done === total) process.stdout.write(` ${done}/${total}${done === total ? '\n' : ''}`);
  };
  let ok = true;
  const check = (cond, what) => {
    if (!cond) { ok = false; say(`    CHECK FAILED: ${what}`); }
    return cond;
  };

  say(`weft demo: Python's multiprocessing for Node worker_threads`);
  say(`Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), pool of ${WORKERS} workers\n`);

  const dir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.once('SIGINT', () => { cleanup(); process.exit(130); });
  const pool = new Pool({ filename: new URL('./log-task.mjs', import.meta.url), size: WORKERS, name: 'logs' });
  try {
    // ---------------------------------------------------------------- 1. the logs
    say(`[1/5] generating ${FILES} gzip'd access logs of ${int(LINES)} lines (combined log format, seeded PRNG), with the pool`);
    say(`    into ${dir}`);
    let t0 = performance.now();
    const specs = Array.from({ length: FILES }, (_, i) => ({ file: join(dir, `access-${String(i).padStart(3, '0')}.log.gz`), seed: i + 1, lines: LINES }));
    let gz = 0;
    let raw = 0;
    let done = 0;
    for await (const g of pool.imapUnordered('generate', specs)) {
      gz += g.gzBytes;
      raw += g.rawBytes;
      progress('files written', ++done, FILES);
    }
    say(`    ${int(FILES * LINES)} lines, ${mb(gz)} gzip'd (${mb(raw)} raw) in ${secs(performance.now() - t0)}`);
    const files = specs.map((s) => s.file);

    const merge = (into, r) => {
      into.files++;
      into.lines += r.lines;
      into.malformed += r.malformed;
      into.bytes += r.bytes;
      into.bots += r.bots;
      r.hours.forEach((n, h) => { into.hours[h] += n; });
      for (const [k, v] of Object.entries(r.status)) into.status.set(k, (into.status.get(k) ?? 0) + v);
      for (const [k, v] of Object.entries(r.methods)) into.methods.set(k, (into.methods.get(k) ?? 0) + v);
      for (const [k, v] of Object.entries(r.paths)) into.paths.set(k, (into.paths.get(k) ?? 0) + v);
      return into;
    };
    const empty = () => ({ files: 0, lines: 0, malformed: 0, bytes: 0, bots: 0, hours: new Array(24).fill(0), status: new Map(), methods: new Map(), paths: new Map() });
    /** A canonical form of a merged result, for comparing two runs. */
    const canon = (m) => JSON.stringify({
      files: m.files, lines: m.lines, malformed: m.malformed, bytes: m.bytes, bots: m.bots, hours: m.hours,
      status: [...m.status].sort(), methods: [...m.methods].sort(), paths: [...m.paths].sort(),
    });

    say(`\n[2/5] analysing them on one thread: for (const f of files) merge(analyse(f))`);
    t0 = performance.now();
    const one = empty();
    for (const f of files) {
      merge(one, analyse(f));
      progress('files analysed', one.files, FILES);
    }
    const tOne = performance.now() - t0;

    say(`\n[3/5] analysing them with Pool(${WORKERS}): for await (const r of pool.imapUnordered('analyse', files)) merge(r)`);
    t0 = performance.now();
    const cpu0 = process.cpuUsage(); // all of this process's threads: the pool's workers included
    const many = empty();
    for await (const r of pool.imapUnordered('analyse', files)) {
      merge(many, r);
      progress('files analysed', many.files, FILES);
    }
    const tPool = performance.now() - t0;
    const { user, system } = process.cpuUsage(cpu0);
    const coresUsed = (user + system) / 1000 / tPool;
    const same = canon(one) === canon(many);
    pool.close(); // Python's pool.close(); pool.join()
    await pool.join();

    say(`\n    ${int(one.lines)} requests in ${one.files} files, ${(one.bytes / 1e9).toFixed(2)} GB sent, ${one.malformed} malformed lines`);
    const list = (m) => [...m].sort().map(([k, v]) => `${k} ${int(v)}`).join(' · ');
    say(`    status codes: ${list(one.status)}`);
    const busiest = one.hours.indexOf(Math.max(...one.hours));
    say(`    methods: ${list(one.methods)}; bots ${int(one.bots)}; busiest hour ${String(busiest).padStart(2, '0')}:00 UTC`);
    say('    top 10 paths:');
    const top = [...one.paths].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
    top.forEach(([p, n], i) => say(`      ${String(i + 1).padStart(2)}. ${p.padEnd(34)} ${int(n).padStart(11)}`));
    say('');
    const table = [['run', 'time', 'speed-up'], null,
      ['1 thread, analyse() in a loop', secs(tOne), '1.00×'],
      [`Pool(${WORKERS}).imapUnordered('analyse')`, secs(tPool), `${(tOne / tPool).toFixed(2)}×`]];
    for (const r of table) {
      say(r ? `    | ${r[0].padEnd(36)} | ${r[1].padStart(8)} | ${r[2].padStart(8)} |` : `    |${'-'.repeat(38)}|${'-'.repeat(10)}|${'-'.repeat(10)}|`);
    }
    say(`    the pool run kept ${coresUsed.toFixed(2)} of ${availableParallelism()} cores busy on average` +
      (coresUsed < Math.min(WORKERS, availableParallelism()) * 0.8 ? ': other processes were competing for the cores, so the speed-up is lower than on a quiet machine' : ''));
    check(same, 'the one-thread and the pool results differ');
    check(one.lines === FILES * LINES && one.malformed === 0, `expected ${FILES * LINES} well-formed lines, got ${one.lines} (+${one.malformed} malformed)`);
    say(`    results identical (every count of every status, method, hour and path, total bytes): ${same ? 'yes' : 'NO'}`);

    // ---------------------------------------------------------------- 2. the pipeline
    const P = 2;
    const C = 2;
    const N = 200_000;
    say(`\n[4/5] a pipeline over one Queue: ${P} producer threads put ${int(N)} items each, ${C} consumer threads get them`);
    const q = new Queue({ maxsize: 4096, name: 'requests' });
    const seen = new SharedArray('uint8', P * N, { lock: false, name: 'seen' });
    const start = new Int32Array(new SharedArrayBuffer(8)); // [0] go, [1] threads ready
    const spawn = (data) => {
      const w = new Worker(new URL(import.meta.url), { workerData: data });
      const result = new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`${data.role} thread exited (code ${code}) without a result`)));
      });
      result.catch(() => {}); // awaited later; a failure before then must not crash the demo unhandled
      return { w, result };
    };
    const producers = Array.from({ length: P }, (_, id) => spawn({ role: 'producer', id, q, n: N, start }));
    const consumers = Array.from({ length: C }, () => spawn({ role: 'consumer', q, seen, n: N, start }));
    const watchdog = setTimeout(() => { say('    watchdog: the pipeline took over 30 s; closing the queue'); ok = false; q.close(); }, 30_000);
    await awaitCount(start, 1, P + C, 'pipeline threads started');
    t0 = performance.now();
    raise(start, 0);
    await Promise.all(producers.map((p) => p.result));
    q.close(); // producers are done: consumers drain what is left, then their loops end
    const got = await Promise.all(consumers.map((c) => c.result));
    const tPipe = performance.now() - t0;
    clearTimeout(watchdog);
    const count = got.reduce((a, g) => a + g.count, 0);
    const once = seen.array.every((x) => x === 1);
    const bytes = got.reduce((a, g) => a + g.bytes, 0);
    let expectedBytes = 0;
    for (let s = 0; s < N; s++) expectedBytes += s % 1000;
    say(`    ${int(count)} items in ${secs(tPipe)} (${int(Math.round(count / (tPipe / 1000)))} items/s); per consumer: ${got.map((g) => int(g.count)).join(' + ')}`);
    check(count === P * N, `consumed ${count} items, expected ${P * N}`);
    check(once, 'some item was lost or delivered twice');
    check(bytes === P * expectedBytes, 'the items\' contents differ');
    say(`    every item delivered exactly once: ${count === P * N && once ? 'yes' : 'NO'}`);

    // ---------------------------------------------------------------- 3. deadlocks
    say(`\n[5/5] deadlocks end in DeadlockError, not a hang`);
    {
      const lock = new Lock({ name: 'config' });
      lock.acquire();
      try {
        lock.acquire();
        check(false, 'a second acquire() of a held Lock returned');
      } catch (e) {
        if (!(e instanceof DeadlockError)) throw e;
        say(`    self-deadlock, main thread: acquire() of a Lock it holds → ${e.name} (${e.code}):`);
        say(`      ${e.message}`);
      } finally {
        lock.release();
      }
    }
    {
      // Two threads, two locks, opposite order, ordered by handshakes on a raw Int32Array. Both
      // are worker threads so that the main thread stays free to run the watchdog: a thread
      // parked for ever in acquire() cannot time itself out, and only a wait for ever is what
      // cycle detection promises to catch.
      const a = new Lock({ name: 'A' });
      const b = new Lock({ name: 'B' });
      const hs = new Int32Array(new SharedArrayBuffer(8));
      const t1 = spawn({ role: 'deadlock', first: a, second: b, hs, mine: 0, theirs: 1 });
      const t2 = spawn({ role: 'deadlock', first: b, second: a, hs, mine: 1, theirs: 0 });
      say(`    lock cycle: thread ${t1.w.threadId} takes A then B, thread ${t2.w.threadId} takes B then A`);
      const LIMIT = 5_000;
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), LIMIT); });
      const outcome = await Promise.race([Promise.all([t1.result, t2.result]), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        say(`    deadlock detection not available: timed out (both threads still waiting after ${LIMIT / 1000} s; stopping them)`);
        for (const t of [t1, t2]) t.result.catch(() => {});
        await Promise.all([t1.w.terminate(), t2.w.terminate()]);
      } else {
        for (const r of outcome) {
          if (r.backedOff) say(`    ${r.me}: ${r.code} → releases its lock and backs off:\n      ${r.message}`);
          else say(`    ${r.me}: got both locks and proceeded`);
        }
        check(outcome.filter((r) => r.backedOff).length === 1, 'exactly one thread should back off');
      }
    }
  } finally {
    await pool.terminate().catch(() => {}); // after an error: stop whatever is left
    cleanup();
  }
  say(`\n${ok ? 'all checks passed' : 'SOME CHECKS FAILED'} in ${secs(performance.now() - t00)} (temp dir removed)`);
  process.exitCode = ok ? 0 : 1;
}
