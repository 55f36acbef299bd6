// Spawning test workers with a watchdog: the function `fn` runs in a fresh worker thread (only its
// source crosses, so it may use nothing but its argument { weft, h, data, threadId }). The promise
// settles with its return value or rejects with its error; if the worker does not finish within
// `ms`, it is terminated and the promise rejects, so a hang fails the test instead of stalling it.
import { Worker } from 'node:worker_threads';
import { awaitAtLeast, control } from './sync.mjs';

const entry = new URL('./worker-entry.mjs', import.meta.url);
const live = new Set();

export function spawn(fn, data = {}, { ms = 30_000, name = fn.name || 'worker' } = {}) {
  const worker = new Worker(entry, { workerData: { src: fn.toString(), data } });
  live.add(worker);
  let settled = false;
  const result = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      worker.terminate();
      reject(new Error(`watchdog: worker '${name}' did not finish within ${ms} ms`));
    }, ms);
    const done = (f) => (v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f(v);
    };
    worker.once('message', done((m) => {
      if (m.ok) resolve(m.result);
      else reject(Object.assign(new Error(`worker '${name}': ${m.error.name}: ${m.error.message}`), m.error, { message: m.error.message }));
    }));
    worker.once('error', done(reject));
    worker.once('exit', done((code) => reject(new Error(`worker '${name}' exited (code ${code}) without a result`))));
  }).finally(() => live.delete(worker));
  return Object.assign(result, { worker });
}

/** Terminates every worker still running (call from an `after`/`afterEach` hook). */
export async function terminateAll() {
  await Promise.all([...live].map((w) => w.terminate()));
  live.clear();
}

/**
 * A worker takes `lock` (any weft lock) and holds it until `signal(ctl, 1)`; returns once it
 * holds it. Releasing: `signal(ctl, 1); await w` (w resolves true).
 */
export function holdInWorker(lock) {
  const ctl = control();
  const w = spawn(({ data, h }) => {
    data.lock.acquire();
    h.signal(data.ctl, 0);
    h.awaitAtLeast(data.ctl, 1, 1, 20_000, 'the main thread to let go');
    data.lock.release();
    return true;
  }, { lock, ctl });
  awaitAtLeast(ctl, 0, 1, 10_000, 'the worker to hold the lock');
  return { ctl, w };
}
