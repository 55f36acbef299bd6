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
