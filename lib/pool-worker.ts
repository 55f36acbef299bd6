/**
 * The worker side of `Pool` (see pool.ts for the design). Started by the pool as a worker thread;
 * not part of the public API.
 *
 * Loop: take the next task from this worker's task ring (blocking: spin, then park in slices),
 * record its id in STARTED, run it (awaiting it if it returns a promise, so async tasks and the
 * worker's event loop work), put the result into this worker's result ring, wake the pool's thread
 * if it sleeps, clear STARTED. A closed task ring ends the loop and the thread.
 */
/// <reference types="node" />
import { pathToFileURL } from 'node:url';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { decode, Encoder } from './codec.js';
import { HAND_OFF_SPIN, runSync, wake, type Machine } from './futex.js';
import { EMPTY, Ring } from './ring.js';
import { revive } from './revive.js';
import {
  CHANNEL, CHANNEL_CAPACITY, CONTROL, KIND_APPLY, KIND_MAP, KIND_STARMAP, postToPort, takeFromPort, VIA_PORT,
  type PoolWorkerData, type TaskMessage,
} from './pool-protocol.js';

const data = workerData as PoolWorkerData;
const label = `Pool${data.name === undefined ? '' : ` '${data.name}'`} worker`;
// A worker between two tasks of a busy pool waits a few µs: it spins rather than parks (futex.ts HAND_OFF_SPIN).
const tasks = new Ring(data.buffer, CHANNEL.TASKS_AT, 0, 0, false, `${label} tasks`, HAND_OFF_SPIN);
const results = new Ring(data.buffer, CHANNEL.RESULTS_AT, 0, 0, false, `${label} results`);
const channel = new Int32Array(data.buffer, 0, CHANNEL.HEADER_SLOTS);
const control = new Int32Array(data.control);
const encoder = new Encoder();
/** Port messages read ahead of the task they belong to. */
const stash = new Map<number, unknown>();
/** Encoded messages above this size travel through the port, not the rings (as in pool.ts). */
const LARGE = CHANNEL_CAPACITY >> 2;
const LONG_CHUNK = 2048;
const readTask = (_h: number, bytes: Uint8Array, start: number, end: number) => decode(bytes, start, end) as TaskMessage;

type Fn = (...args: unknown[]) => unknown;

function serializeError(e: unknown): { name: string; message: string; stack: string | undefined; code?: unknown } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, stack: e.stack, ...(code !== undefined ? { code } : {}) };
  }
  return { name: 'Error', message: `a task threw a non-Error value: ${String(e)}`, stack: undefined };
}

function send(id: number, ok: boolean, value: unknown): void {
  let bytes: Uint8Array;
  if (ok && Array.isArray(value) && value.length > LONG_CHUNK) {
    // A long chunk's results go through the port without being encoded first.
    try {
      postToPort(data.port, id, value);
      bytes = encoder.encode([id, 1, VIA_PORT], label, 'result');
      return deliver(bytes);
    } catch {
      // fall through: encode reports what cannot be sent
    }
  }
  try {
    bytes = encoder.encode([id, ok ? 1 : 0, value], label, 'result');
    if (bytes.length > LARGE) {
      // Too large for the ring (a big map chunk's results): through the port.
      postToPort(data.port, id, value);
      bytes = encoder.encode([id, ok ? 1 : 0, VIA_PORT], label, 'result');
    }
  } catch (e) {
    bytes = encoder.encode([id, 0, serializeError(e)], label, 'result');
    if (ok) {
      // Shared memory cannot travel as bytes: post the result through the port instead.
      try {
        postToPort(data.port, id, value);
        bytes = encoder.encode([id, 1, VIA_PORT], label, 'result');
      } catch {
        // Not cloneable at all: a result that cannot be sent rejects that task only.
      }
    }
  }
  deliver(bytes);
}

function deliver(bytes: Uint8Array): void {
  if (!results.tryPut(bytes, 0, -1, false, encoder.words)) runSync(results.put(bytes, 0, -1, Infinity, true, false, false, encoder.words));
  if (Atomics.load(control, CONTROL.MAIN_WAITING) !== 0) {
    Atomics.add(control, CONTROL.RESULT_SEQ, 1);
    wake(control, CONTROL.RESULT_SEQ);
  }
}

function nextTask(): TaskMessage | null {
  // Spin for the next task before any state machine (as Queue.get does); the machine then sleeps.
  if (tasks.dataOrSpin(true)) {
    const m = tasks.tryGet(readTask);
    if (m !== EMPTY) return m;
  }
  try {
    const r = runSync(tasks.get(readTask, Infinity, false) as Machine<TaskMessage | typeof EMPTY>);
    return r === EMPTY ? null : r;
  } catch {
    return null; // the task ring was closed: the pool is done with this worker
  }
}

async function main(): Promise<void> {
  const target = data.filename.startsWith('file:') ? data.filename : pathToFileURL(data.filename).href;
  const mod = (await import(target)) as Record<string, unknown>;
  const find = (name: string): Fn => {
    const fn = mod[name];
    if (typeof fn !== 'function') {
      throw new TypeError(`${label}: '${name}' is not a function exported by ${data.filename} (exports: ${Object.keys(mod).join(', ') || 'none'})`);
    }
    return fn as Fn;
  };
  if (data.initializer !== undefined) {
    await find(data.initializer)(...(revive(data.initargs ?? []) as unknown[]));
  }
  parentPort!.postMessage('ready');
  let done = 0;
  for (;;) {
    const task = nextTask();
    if (task === null) return;
    const [id, name, sent, kind] = task;
    const args = sent === VIA_PORT ? takeFromPort(data.port, stash, id, receiveMessageOnPort) : sent;
    Atomics.store(channel, CHANNEL.STARTED, id);
    try {
      const fn = find(name);
      let value: unknown;
      if (kind === KIND_APPLY) {
        value = fn(...(revive(args) as unknown[]));
        if (value !== null && typeof (value as PromiseLike<unknown>)?.then === 'function') value = await value;
      } else {
        const items = revive(args) as unknown[];
        const out = new Array(items.length);
        for (let i = 0; i < items.length; i++) {
          let v = kind === KIND_MAP ? fn(items[i]) : kind === KIND_STARMAP ? fn(...(items[i] as unknown[])) : undefined;
          if (v !== null && typeof (v as PromiseLike<unknown>)?.then === 'function') v = await v;
          out[i] = v;
        }
        value = out;
      }
      send(id, true, value);
    } catch (e) {
      send(id, false, serializeError(e));
    }
    Atomics.store(channel, CHANNEL.STARTED, 0);
    if (data.maxTasks > 0 && ++done >= data.maxTasks) return; // recycled: the pool starts a fresh one
  }
}

// Tell a pool blocked in applySync (which cannot see 'exit' events) that this thread is going.
process.on('exit', () => {
  Atomics.store(channel, CHANNEL.DEAD, 1);
  Atomics.add(control, CONTROL.RESULT_SEQ, 1);
  wake(control, CONTROL.RESULT_SEQ);
});

main().catch((e) => {
  parentPort!.postMessage({ initError: serializeError(e) });
});
