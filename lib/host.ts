/**
 * What weft needs from its host, found by feature detection so that the primitives import no
 * `node:` module and can later run in browsers, Deno and Bun:
 *
 * - a thread identity that is unique within the process, for lock owners;
 * - the number of cores, for the spin policy;
 * - the `WEFT_NO_SPIN` switch;
 * - a monotonic clock for deadlines;
 * - a way to keep the event loop alive while an `Atomics.waitAsync` is pending (Node does not:
 *   nodejs/node#61941), using only timers, which every host has.
 */

// The host's globals, typed loosely: none of them is an ECMAScript API, so each is optional.
interface HostGlobals {
  process?: {
    env?: Record<string, string | undefined>;
    getBuiltinModule?: (id: string) => unknown;
  };
  navigator?: { hardwareConcurrency?: number };
  performance?: { now(): number };
  crypto?: { getRandomValues<T extends ArrayBufferView>(a: T): T };
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (handle: unknown) => void;
}
const host = globalThis as unknown as HostGlobals;

function builtin<T>(id: string): T | undefined {
  try {
    return host.process?.getBuiltinModule?.(id) as T | undefined;
  } catch {
    return undefined;
  }
}

/**
 * This thread's identity, a positive integer below 2^29 (it is stored shifted left by one in lock
 * words). Node: `worker_threads.threadId + 1` (the main thread is 0 there, and ids are never
 * reused within a process). Elsewhere, or on a Node without `process.getBuiltinModule` (< 20.16):
 * a random id, unique with overwhelming probability among the few dozen threads a process has.
 */
export const THREAD_ID: number = (() => {
  const wt = builtin<{ threadId?: number }>('node:worker_threads');
  if (wt && typeof wt.threadId === 'number' && wt.threadId + 1 < 2 ** 29) return wt.threadId + 1;
  const r = new Uint32Array(1);
  if (host.crypto) host.crypto.getRandomValues(r);
  else r[0] = Math.floor(Math.random() * 2 ** 32);
  // Random ids live in the upper half so they can never collide with small Node thread ids.
  return 2 ** 28 + (r[0]! % 2 ** 28);
})();

/** How many threads can run at once: `os.availableParallelism()` where the host tells. */
export const PARALLELISM: number = (() => {
  const os = builtin<{ availableParallelism?: () => number; cpus?: () => unknown[] }>('node:os');
  const n = os?.availableParallelism?.() ?? os?.cpus?.().length ?? host.navigator?.hardwareConcurrency;
  return typeof n === 'number' && n >= 1 ? Math.floor(n) : 1;
})();

/** `WEFT_NO_SPIN=1` (or any value other than `0`/empty) turns spinning off: waits park at once. */
export const NO_SPIN: boolean = (() => {
  const v = host.process?.env?.WEFT_NO_SPIN;
  return v !== undefined && v !== '' && v !== '0';
})();

/** Monotonic milliseconds. */
export const now: () => number = host.performance
  ? host.performance.now.bind(host.performance)
  : Date.now;

// One long interval keeps the event loop referenced while any async wait of this thread is pending.
let pendingAsync = 0;
let keepAliveHandle: unknown;
const KEEPALIVE_MS = 2 ** 30; // below Node's 2^31-1 limit, above which it would fire at once

/** Counts an async wait as pending; the event loop stays alive until the matching `endAsyncWait`. */
export function beginAsyncWait(): void {
  if (pendingAsync++ === 0 && host.setInterval) keepAliveHandle = host.setInterval(noop, KEEPALIVE_MS);
}

/** Ends what `beginAsyncWait` began. */
export function endAsyncWait(): void {
  if (--pendingAsync === 0 && host.clearInterval) {
    host.clearInterval(keepAliveHandle);
    keepAliveHandle = undefined;
  }
}

function noop(): void {}

interface WorkerThreadsModule {
  getEnvironmentData?: (key: string) => unknown;
  setEnvironmentData?: (key: string, value: unknown) => void;
}
interface ExitEmitter {
  on?: (event: 'exit', listener: () => void) => unknown;
}
interface DiagnosticsChannelModule {
  subscribe?: (name: string, listener: (message: unknown) => void) => void;
}

/**
 * Node's hooks for the thread registry (registry.ts), each absent where the host lacks it:
 * environment data that spawned workers inherit, this thread's exit, and the creation of every
 * `Worker` this thread spawns (the `worker_threads` diagnostics channel, which Node 20 has), with
 * a way to hear of its exit.
 */
export const hostNode: {
  workerThreads: WorkerThreadsModule | undefined;
  onExit: ((fn: () => void) => void) | undefined;
  onWorkerCreated: ((fn: (threadId: number, onExit: (cb: () => void) => void) => void) => void) | undefined;
} = (() => {
  const workerThreads = builtin<WorkerThreadsModule>('node:worker_threads');
  const proc = host.process as (HostGlobals['process'] & ExitEmitter) | undefined;
  const onExit = typeof proc?.on === 'function' ? (fn: () => void) => { proc.on!('exit', fn); } : undefined;
  const dc = builtin<DiagnosticsChannelModule>('node:diagnostics_channel');
  const onWorkerCreated = typeof dc?.subscribe === 'function'
    ? (fn: (threadId: number, onExit: (cb: () => void) => void) => void) => {
      dc.subscribe!('worker_threads', (message) => {
        const worker = (message as { worker?: { threadId?: number } & { once?: (e: 'exit', cb: () => void) => unknown } }).worker;
        // Read the id now: a Worker's threadId reads -1 once it exited.
        if (worker && typeof worker.threadId === 'number' && typeof worker.once === 'function') {
          fn(worker.threadId, (cb) => { worker.once!('exit', cb); });
        }
      });
    }
    : undefined;
  return { workerThreads, onExit, onWorkerCreated };
})();
