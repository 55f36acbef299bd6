/// <reference types="node" />
/**
 * What the pool's thread and its workers agree on: the layout of a worker's channel block, the
 * pool-wide control words, and the shape of task and result messages. Internal.
 *
 * ## Channel block, one per worker (bytes / Int32 slots)
 * | where            | name    | written by        | parked on | meaning                                   |
 * |------------------|---------|-------------------|-----------|-------------------------------------------|
 * | slot 0           | STARTED | the worker        | no        | id of the task it runs now; 0 between tasks |
 * | slot 1           | DEAD    | the worker, last  | no        | 1 once its thread is exiting               |
 * | byte TASKS_AT…   | TASKS   | see ring.ts       | yes       | pool → worker: task messages              |
 * | byte RESULTS_AT… | RESULTS | see ring.ts       | yes       | worker → pool: result messages            |
 * A worker that dies with STARTED = id had begun that task (it is rejected with
 * `WorkerCrashedError`); every other task still in its TASKS ring had not (they are re-queued), so
 * no task is lost or run twice.
 *
 * ## Control block, one per pool (Int32 slots)
 * | slot | name         | written by   | parked on | meaning                                       |
 * |------|--------------|--------------|-----------|-----------------------------------------------|
 * | 0    | RESULT_SEQ   | workers      | yes       | bumped after a result when the pool sleeps    |
 * | 1    | MAIN_WAITING | pool thread  | no        | 1 while the pool's thread sleeps on RESULT_SEQ |
 */
import { LINE } from './layout.js';
import { ringBytes } from './ring.js';

export const CHANNEL_CAPACITY = 1 << 16;
export const CHANNEL = {
  STARTED: 0,
  DEAD: 1,
  HEADER_SLOTS: LINE,
  TASKS_AT: LINE * 4,
  RESULTS_AT: LINE * 4 + ringBytes(CHANNEL_CAPACITY),
  BYTES: LINE * 4 + 2 * ringBytes(CHANNEL_CAPACITY),
} as const;

export const CONTROL = { RESULT_SEQ: 0, MAIN_WAITING: 1, SLOTS: LINE } as const;

/** Task kinds: call with the args spread; map fn over items; starmap fn over arg lists. */
export const KIND_APPLY = 0;
export const KIND_MAP = 1;
export const KIND_STARMAP = 2;

/** Marker in a task or result message: the real payload went through the worker's port. */
export const VIA_PORT = '\u0000weft:port';

/** `[id, task name, args (or items), kind]` */
export type TaskMessage = [id: number, name: string, args: unknown, kind: number];
/** `[id, 1, value]` or `[id, 0, { name, message, stack, code? }]` */
export type ResultMessage = [id: number, ok: 0 | 1, value: unknown];

export interface PoolWorkerData {
  port: import('node:worker_threads').MessagePort;
  buffer: SharedArrayBuffer;
  control: SharedArrayBuffer;
  filename: string;
  initializer: string | undefined;
  initargs: unknown[] | undefined;
  maxTasks: number;
  name: string | undefined;
}

/**
 * Arrays of numbers cross the port as a transferred Float64Array (structured clone spends far
 * more per element than a copy); `unpackNumbers` turns them back into arrays.
 */
export function packNumbers(value: unknown): { packed: Float64Array } | null {
  if (!Array.isArray(value) || value.length < 64) return null;
  const n = value.length;
  const f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = value[i];
    if (typeof v !== 'number' || !(i in value)) return null;
    f[i] = v;
  }
  return { packed: f };
}

export function unpackNumbers(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || !((value as { packed?: unknown }).packed instanceof Float64Array)) return value;
  const f = (value as { packed: Float64Array }).packed;
  const out = new Array<number>(f.length);
  for (let i = 0; i < f.length; i++) out[i] = f[i]!;
  return out;
}

/**
 * Reads the port message for task `id`, setting aside any other (a message posted for a task
 * that was then dispatched elsewhere, or out of order).
 */
export function takeFromPort(port: import('node:worker_threads').MessagePort, stash: Map<number, unknown>, id: number,
  receive: (p: import('node:worker_threads').MessagePort) => { message: unknown } | undefined): unknown {
  if (stash.has(id)) {
    const v = stash.get(id);
    stash.delete(id);
    return v;
  }
  for (;;) {
    const m = receive(port)?.message as { id: number; payload: unknown } | undefined;
    if (m === undefined) throw new Error(`weft pool: the message for task ${id} did not arrive`);
    if (m.id < 0) {
      // The pool moved task -m.id to another worker after posting its arguments here (they came
      // before this message: the port is FIFO). Already used (the task came back here and ran
      // on that first copy)? Then a later copy is the one to drop: count it under the negative id.
      if (!stash.delete(-m.id)) stash.set(m.id, ((stash.get(m.id) as number | undefined) ?? 0) + 1);
      continue;
    }
    const dropped = stash.get(-m.id) as number | undefined;
    if (dropped !== undefined) {
      if (dropped > 1) stash.set(-m.id, dropped - 1);
      else stash.delete(-m.id);
      continue;
    }
    const payload = unpackNumbers(m.payload);
    if (m.id === id) return payload;
    stash.set(m.id, payload);
  }
}

/** Tells a worker to forget the arguments posted for task `id`: the task went elsewhere. */
export function dropFromPort(port: import('node:worker_threads').MessagePort, id: number): void {
  port.postMessage({ id: -id, payload: undefined });
}

/** Posts `payload` for task `id`, transferring packed numbers. */
export function postToPort(port: import('node:worker_threads').MessagePort, id: number, payload: unknown): void {
  const packed = packNumbers(payload);
  if (packed) port.postMessage({ id, payload: packed }, [packed.packed.buffer as ArrayBuffer]);
  else port.postMessage({ id, payload });
}
