/**
 * `Pool` (Python's `multiprocessing.Pool`): worker threads that run the exported functions of a
 * module, with tasks and results travelling through weft's shared-memory rings instead of one
 * `postMessage` per task.
 *
 * ## Design
 * - Each worker has its own channel block (pool-protocol.ts): a task ring (pool → worker) and a
 *   result ring (worker → pool), both single-producer/single-consumer in practice, so no worker
 *   ever waits on a lock another worker holds, and a worker that dies leaves nothing locked that
 *   others need.
 * - The pool's thread keeps submitted tasks in a FIFO and dispatches them to workers with a
 *   bounded look-ahead (PREFETCH per worker), so a task not yet dispatched can still be withdrawn
 *   (`signal`, `timeout`, `terminate`) and a slow worker does not hoard work. Each task goes to the
 *   worker with the fewest tasks in flight, and a worker that goes idle steals the tasks still
 *   queued in a busy worker's ring (#steal), so an idle worker does not watch a task wait behind
 *   a long one (Python's shared task queue gives the same).
 * - Arguments are encoded at submission (an argument that cannot be sent rejects the call at
 *   once). Values holding a `SharedArrayBuffer` (weft primitives among them) cannot travel as
 *   bytes: such arguments go through a per-worker `MessagePort`, which the worker reads
 *   synchronously (`receiveMessageOnPort`) when the ring says so; results likewise.
 * - One "pump" (an async loop on the pool's thread) drains every result ring, settles promises and
 *   refills the task rings. When nothing is ready it spins briefly (a tiny task's result usually
 *   lands within microseconds; an `Atomics.waitAsync` wake costs far more) on the result rings
 *   themselves, then sleeps on the pool-wide RESULT_SEQ word, which workers bump only while the
 *   pump says it sleeps (so a result delivered during the spin costs its worker no notify call).
 * - A worker that dies (exit, uncaught error, termination) is handled on its 'exit' event: its
 *   results are drained first; the task whose id it left in STARTED is rejected with
 *   `WorkerCrashedError`; every other task in its ring had not started and is re-queued in order;
 *   a fresh worker takes its place. `maxTasksPerWorker` retires a worker the same way, cleanly.
 */
/// <reference types="node" />
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { decode, Encoder } from './codec.js';
import { ClosedError, TimeoutError, WeftError, WorkerCrashedError } from './errors.js';
import { HAND_OFF_SPIN, learn, parkAsync, parkSync, spinUntil, SpinPolicy, wake } from './futex.js';
import { now } from './host.js';
import { describe } from './layout.js';
import { revive } from './revive.js';
import { EMPTY, KEEP, Ring } from './ring.js';
import { POOL_WORKER_URL } from './pool-worker-url.js';
import {
  CHANNEL, CHANNEL_CAPACITY, CONTROL, dropFromPort, KIND_APPLY, KIND_MAP, KIND_STARMAP, postToPort, takeFromPort, VIA_PORT,
  type PoolWorkerData, type ResultMessage, type TaskMessage,
} from './pool-protocol.js';

/** Options of `new Pool()`. */
export interface PoolOptions {
  /** Path or URL of the module whose exports are the tasks (`'default'` for its default export). */
  filename: string | URL;
  /** Number of workers (default `os.availableParallelism()`). */
  size?: number;
  /** Export run once in each worker, with `initargs`, before its first task. */
  initializer?: string;
  initargs?: unknown[];
  /** Replace a worker after this many tasks (a `map` chunk counts as one). */
  maxTasksPerWorker?: number;
  name?: string;
}

export interface ApplyOptions {
  /** Aborting withdraws a task not yet started and drops the result of a running one. */
  signal?: AbortSignal;
  /** Milliseconds until the call rejects with `TimeoutError`. */
  timeout?: number;
}

export interface MapOptions {
  /** Items per task (default: about four tasks per worker for `map`, 1 for `imap`). */
  chunksize?: number;
}

const PREFETCH = 64;
/** Encoded messages above this size travel through the worker's MessagePort, not its rings. */
const LARGE = CHANNEL_CAPACITY >> 2;
/** map chunks longer than this go through the port without being encoded first. */
const LONG_CHUNK = 2048;
const LONG = Symbol('long chunk');

interface Task {
  id: number;
  bytes: Uint8Array;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  state: 'pending' | 'dispatched' | 'settled';
  /** Set when the caller no longer wants the result (aborted, timed out). */
  dropped: boolean;
  timer?: ReturnType<typeof setTimeout>;
  cleanup?: () => void;
  /** For applySync: the outcome, captured synchronously. */
  outcome?: { ok: boolean; value: unknown };
  /** Arguments sent through the port instead of the ring. */
  portArgs?: unknown;
}

interface Slot {
  worker: Worker;
  /** The worker's thread id, kept: `worker.threadId` reads -1 once it exited. */
  threadId: number;
  buffer: SharedArrayBuffer;
  channel: Int32Array;
  tasks: Ring;
  results: Ring;
  port: MessagePort;
  inflight: Task[];
  /** Port messages read ahead of the result they belong to. */
  stash: Map<number, unknown>;
  dispatched: number;
  exited: Promise<void>;
  gone: boolean;
}

/** A FIFO with O(1) shift (Array.prototype.shift moves every element: 20k queued tasks made it quadratic). */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  get size(): number {
    return this.#items.length - this.#head;
  }
  push(x: T): void {
    this.#items.push(x);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const x = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return x;
  }
  unshiftAll(xs: T[]): void {
    this.#items = [...xs, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }
  remove(x: T): void {
    const i = this.#items.indexOf(x, this.#head);
    if (i >= 0) this.#items.splice(i, 1);
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/** A pool of worker threads running the exported functions of one module. */
export class Pool {
  readonly name: string | undefined;
  readonly #filename: string;
  readonly #size: number;
  readonly #initializer: string | undefined;
  readonly #initargs: unknown[] | undefined;
  readonly #maxTasks: number;
  readonly #control = new Int32Array(new SharedArrayBuffer(CONTROL.SLOTS * 4));
  readonly #spin = new SpinPolicy(new Int32Array(new SharedArrayBuffer(4)), 0, HAND_OFF_SPIN);
  /** RESULT_SEQ when the pump began to wait, for #resultOrBump. */
  #seq = 0;
  readonly #resultOrBump = (): boolean => this.#anyResult() || Atomics.load(this.#control, CONTROL.RESULT_SEQ) !== this.#seq;
  readonly #encoder = new Encoder();
  readonly #slots = new Set<Slot>();
  readonly #queue = new Fifo<Task>();
  readonly #byId = new Map<number, Task>();
  #nextId = 1;
  #pumping = false;
  #closed = false;
  #terminated = false;
  #broken: Error | null = null;
  #idle: (() => void) | null = null;

  constructor(options: PoolOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`Pool: options must be an object, got ${describe(options)}`);
    const { filename, size = availableParallelism(), initializer, initargs, maxTasksPerWorker = 0, name } = options;
    this.name = name;
    if (typeof filename === 'string') this.#filename = filename.startsWith('file:') ? fileURLToPath(filename) : filename;
    else if (filename instanceof URL) this.#filename = fileURLToPath(filename);
    else throw new TypeError(`${this}: filename must be a path or a file URL, got ${describe(filename)}`);
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`${this}: size must be a positive integer, got ${describe(size)}`);
    if (initializer !== undefined && typeof initializer !== 'string') throw new TypeError(`${this}: initializer must be an export name, got ${describe(initializer)}`);
    if (initargs !== undefined && !Array.isArray(initargs)) throw new TypeError(`${this}: initargs must be an array, got ${describe(initargs)}`);
    if (!Number.isInteger(maxTasksPerWorker) || maxTasksPerWorker < 0) throw new RangeError(`${this}: maxTasksPerWorker must be a non-negative integer, got ${describe(maxTasksPerWorker)}`);
    this.#size = size;
    this.#initializer = initializer;
    this.#initargs = initargs;
    this.#maxTasks = maxTasksPerWorker;
    for (let i = 0; i < size; i++) this.#spawn();
  }

  /** Number of workers. */
  get size(): number {
    return this.#size;
  }

  /** Tasks submitted and not yet settled. */
  get pending(): number {
    // A task whose caller gave up (timeout, signal) is settled, though it may still run.
    let n = 0;
    for (const t of this.#byId.values()) if (!t.dropped) n++;
    return n;
  }

  /** Runs `task(...args)` in a worker; resolves with its result (Python's `apply_async`). */
  apply<R = unknown>(task: string, args: unknown[] = [], options: ApplyOptions = {}): Promise<R> {
    try {
      const t = this.#submit(task, args, KIND_APPLY, options);
      return t.promise as Promise<R>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Runs `task(...args)` in a worker and blocks this thread until it is done (Python's `apply`). */
  applySync<R = unknown>(task: string, args: unknown[] = [], options: Omit<ApplyOptions, 'signal'> = {}): R {
    const { task: t, promise } = this.#submit(task, args, KIND_APPLY, {});
    promise.catch(() => undefined); // settled synchronously below; the promise is not the API here
    const deadline = options.timeout === undefined ? Infinity : performance.now() + checkMs(this, options.timeout);
    for (;;) {
      this.#dispatch();
      this.#drain();
      if (t.outcome !== undefined) {
        if (t.outcome.ok) return t.outcome.value as R;
        throw t.outcome.value;
      }
      this.#checkDeadWorkers();
      if (t.outcome !== undefined) continue;
      if (performance.now() >= deadline) {
        this.#drop(t, new TimeoutError(`${this}: applySync('${task}') timed out after ${options.timeout} ms`));
        throw t.outcome!.value;
      }
      const c = this.#control;
      Atomics.store(c, CONTROL.MAIN_WAITING, 1);
      const seq = Atomics.load(c, CONTROL.RESULT_SEQ);
      if (!this.#anyResult()) parkSync(c, CONTROL.RESULT_SEQ, seq, Math.min(deadline, performance.now() + 50));
      Atomics.store(c, CONTROL.MAIN_WAITING, 0);
    }
  }

  /** Maps `task` over `iterable`; results in input order (Python's `map`). */
  async map<R = unknown>(task: string, iterable: Iterable<unknown>, options: MapOptions = {}): Promise<R[]> {
    return this.#mapAll<R>(task, iterable, KIND_MAP, options);
  }

  /** As `map`, spreading each item (an array of arguments) into the call (Python's `starmap`). */
  async starmap<R = unknown>(task: string, iterable: Iterable<unknown[]>, options: MapOptions = {}): Promise<R[]> {
    return this.#mapAll<R>(task, iterable, KIND_STARMAP, options);
  }

  /** Lazily maps `task` over `iterable` (sync or async), yielding results in input order. */
  imap<R = unknown>(task: string, iterable: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions = {}): AsyncIterableIterator<R> {
    return this.#lazyMap<R>(task, iterable, options, true);
  }

  /** Lazily maps `task` over `iterable`, yielding results as they complete. */
  imapUnordered<R = unknown>(task: string, iterable: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions = {}): AsyncIterableIterator<R> {
    return this.#lazyMap<R>(task, iterable, options, false);
  }

  /** No new tasks; queued ones still run. */
  close(): void {
    this.#closed = true;
  }

  /** After `close()`: resolves once every task settled and every worker exited. */
  async join(): Promise<void> {
    if (!this.#closed) throw new WeftError(`${this}: join() before close() (or terminate())`, 'ERR_POOL_NOT_CLOSED');
    if (this.#byId.size > 0) await new Promise<void>((resolve) => { this.#idle = resolve; this.#kick(); });
    const slots = [...this.#slots];
    for (const s of slots) {
      s.worker.ref(); // workers are unref'd while idle; now the caller waits for their exit
      s.tasks.closeWrite();
    }
    await Promise.all(slots.map((s) => s.exited));
  }

  /** Stops now: pending tasks reject with `ClosedError`; workers are terminated. */
  async terminate(): Promise<void> {
    this.#closed = true;
    this.#terminated = true;
    const err = () => new ClosedError(`${this}: terminated`);
    for (const t of [...this.#byId.values()]) this.#settle(t, false, err(), true);
    this.#queue.clear();
    const slots = [...this.#slots];
    for (const s of slots) s.worker.ref();
    await Promise.all(slots.map((s) => s.worker.terminate().then(() => s.exited)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.join();
  }

  toString(): string {
    return this.name === undefined ? 'Pool' : `Pool '${this.name}'`;
  }

  // -------------------------------------------------------------------------------------------
  // Submitting

  #submit(name: string, args: unknown, kind: number, options: ApplyOptions): { task: Task; promise: Promise<unknown> } {
    if (this.#closed) throw new ClosedError(`${this}: closed; no new tasks`);
    if (this.#broken) throw this.#broken;
    if (typeof name !== 'string') throw new TypeError(`${this}: the task must be an export name, got ${describe(name)}`);
    if (kind === KIND_APPLY && !Array.isArray(args)) throw new TypeError(`${this}: apply('${name}', args): args must be an array, got ${describe(args)}`);
    const { signal, timeout } = options;
    if (timeout !== undefined) checkMs(this, timeout);
    if (signal?.aborted) throw signal.reason;
    const id = this.#nextId++;
    let bytes!: Uint8Array;
    let portArgs: unknown;
    try {
      // A long chunk certainly goes through the port: do not encode it just to find that out
      // (postMessage at dispatch reports what cannot be cloned, rejecting this call).
      if (kind !== KIND_APPLY && (args as unknown[]).length > LONG_CHUNK) throw LONG;
      bytes = this.#encoder.encode([id, name, args, kind], this, name).slice();
      // A large task (a big map chunk) would not fit the ring: it goes through the port too.
      if (bytes.length > LARGE) portArgs = args;
    } catch (e) {
      if (e === LONG) {
        portArgs = args;
      } else {
        // Shared memory cannot travel as bytes: send the arguments through the worker's port.
        if (!containsShared(args)) throw e;
        // Cloned now: throws at the call if something else in them cannot be sent, and is what
        // every post of them sends (a task may be posted again when it moves to another worker),
        // so a change the caller makes to them after the call does not reach the task.
        portArgs = structuredClone(args);
      }
    }
    if (portArgs !== undefined) bytes = this.#encoder.encode([id, name, VIA_PORT, kind], this, name).slice();
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => { resolve = res; reject = rej; });
    const task: Task = { id, bytes, resolve, reject, state: 'pending', dropped: false, portArgs };
    if (timeout !== undefined && timeout !== Infinity) {
      task.timer = setTimeout(() => this.#drop(task, new TimeoutError(`${this}: ${name}() timed out after ${timeout} ms`)), timeout);
    }
    if (signal) {
      const onAbort = () => this.#drop(task, signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      task.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.#byId.set(id, task);
    this.#queue.push(task);
    this.#kick();
    return { task, promise };
  }

  /** The caller gave up on `task`: withdraw it if not dispatched, else drop its result. */
  #drop(task: Task, reason: unknown): void {
    if (task.state === 'settled') return;
    if (task.state === 'pending') {
      this.#queue.remove(task);
    }
    this.#settle(task, false, reason, true);
  }

  #settle(task: Task, ok: boolean, value: unknown, dropped = false): void {
    if (task.state === 'settled' && !task.dropped) return;
    const wasSettled = task.state === 'settled';
    task.state = 'settled';
    if (dropped) task.dropped = true;
    if (task.timer !== undefined) clearTimeout(task.timer);
    task.cleanup?.();
    if (!wasSettled) {
      task.outcome = { ok, value };
      if (ok) task.resolve(value);
      else task.reject(value);
    }
    // A dropped task still running stays known until its result (or its worker's death) arrives.
    if (!task.dropped || !this.#isInflight(task)) this.#forget(task);
  }

  #isInflight(task: Task): boolean {
    for (const s of this.#slots) if (s.inflight.includes(task)) return true;
    return false;
  }

  #forget(task: Task): void {
    this.#byId.delete(task.id);
    if (this.#byId.size === 0 && this.#idle) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Workers

  #spawn(): void {
    const buffer = new SharedArrayBuffer(CHANNEL.BYTES);
    const tasks = new Ring(buffer, CHANNEL.TASKS_AT, CHANNEL_CAPACITY, 0, true, `${this} tasks`);
    const results = new Ring(buffer, CHANNEL.RESULTS_AT, CHANNEL_CAPACITY, 0, true, `${this} results`);
    const { port1, port2 } = new MessageChannel();
    const workerData: PoolWorkerData = {
      buffer, control: this.#control.buffer as SharedArrayBuffer, filename: this.#filename,
      initializer: this.#initializer, initargs: this.#initargs, maxTasks: this.#maxTasks, name: this.name, port: port2,
    };
    const worker = new Worker(POOL_WORKER_URL, { workerData, transferList: [port2] });
    worker.unref();
    let onExit!: () => void;
    const slot: Slot = {
      worker, threadId: worker.threadId, buffer, channel: new Int32Array(buffer, 0, CHANNEL.HEADER_SLOTS), tasks, results, port: port1,
      inflight: [], stash: new Map(), dispatched: 0, exited: new Promise<void>((r) => { onExit = r; }), gone: false,
    };
    worker.on('message', (m: { initError?: { name: string; message: string; stack?: string } }) => {
      if (m && typeof m === 'object' && m.initError) this.#breakPool(m.initError);
    });
    worker.on('error', () => { /* reported through 'exit' */ });
    worker.on('exit', () => {
      this.#retire(slot);
      onExit();
    });
    this.#slots.add(slot);
  }

  /** A worker is gone: settle or re-queue what it held, and replace it if the pool goes on. */
  #retire(slot: Slot): void {
    if (slot.gone) return;
    slot.gone = true;
    this.#drainSlot(slot);
    this.#slots.delete(slot);
    const started = Atomics.load(slot.channel, CHANNEL.STARTED);
    const requeue: Task[] = [];
    for (const t of slot.inflight) {
      if (t.id === started) {
        this.#settle(t, false, new WorkerCrashedError(`${this}: the worker (thread ${slot.threadId}) died while running task ${t.id}`));
        if (t.dropped) this.#forget(t);
      } else if (t.state === 'settled') {
        this.#forget(t);
      } else {
        t.state = 'pending';
        requeue.push(t);
      }
    }
    slot.inflight.length = 0;
    slot.port.close();
    this.#queue.unshiftAll(requeue);
    if (!this.#terminated && !this.#broken && (!this.#closed || this.#byId.size > 0 || requeue.length > 0)) this.#spawn();
    this.#kick();
    this.#wakePump();
  }

  #breakPool(info: { name: string; message: string; stack?: string }): void {
    if (this.#broken) return;
    const e = new WeftError(`${this}: a worker failed to start: ${info.name}: ${info.message}`, 'ERR_POOL_BROKEN', { cause: toError(info) });
    this.#broken = e;
    this.#closed = true;
    for (const t of [...this.#byId.values()]) this.#settle(t, false, e, true);
    this.#queue.clear();
    for (const s of this.#slots) void s.worker.terminate();
  }

  /** applySync cannot see 'exit' events while it blocks: a dead worker marks its channel instead. */
  #checkDeadWorkers(): void {
    for (const s of [...this.#slots]) {
      if (Atomics.load(s.channel, CHANNEL.DEAD) !== 0) this.#retire(s);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The pump

  /** Starts the pump unless it runs. */
  #kick(): void {
    if (this.#pumping) {
      this.#wakePump();
      return;
    }
    this.#pumping = true;
    void this.#pump();
  }

  #wakePump(): void {
    const c = this.#control;
    if (Atomics.load(c, CONTROL.MAIN_WAITING) !== 0) {
      Atomics.add(c, CONTROL.RESULT_SEQ, 1);
      wake(c, CONTROL.RESULT_SEQ);
    }
  }

  async #pump(): Promise<void> {
    const c = this.#control;
    // #pumping is cleared by the finally below, synchronously as the loop ends: a `.finally()` on
    // this promise would clear it a microtask late, after a caller woken by the last result may
    // already have submitted more work and found the pump still marked as running.
    try {
      while (this.#byId.size > 0 && !this.#terminated) {
        this.#dispatch();
        if (this.#drain() > 0) continue;
        // Spin on the result rings themselves (and RESULT_SEQ, which a dying worker bumps) with
        // MAIN_WAITING still 0, so a worker delivering a result meanwhile makes no bump and no
        // notify call; only then say so and sleep (the Dekker pair: workers store TAIL, then
        // read MAIN_WAITING; we store MAIN_WAITING, then look at the rings).
        this.#seq = Atomics.load(c, CONTROL.RESULT_SEQ);
        if (!this.#anyResult() && !spinUntil(this.#resultOrBump, this.#spin)) {
          Atomics.store(c, CONTROL.MAIN_WAITING, 1);
          const seq = Atomics.load(c, CONTROL.RESULT_SEQ);
          if (!this.#anyResult()) {
            const t0 = now();
            const r = parkAsync(c, CONTROL.RESULT_SEQ, seq, Infinity);
            if (typeof r !== 'number') await r;
            learn(this.#spin, now() - t0); // a result that came soon after parking: spin longer next time
          }
          Atomics.store(c, CONTROL.MAIN_WAITING, 0);
        }
        // Let timers, aborts and 'exit' events of this thread run between rounds.
        await undefined;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Moves queued tasks into workers' rings, each to the worker with the fewest tasks in flight
   * (up to PREFETCH each): an idle worker gets the next task rather than it queueing behind a
   * busy one (a task waiting for another task of the pool needs that other task to start); then
   * lets idle workers steal what prefetching already committed elsewhere.
   */
  #dispatch(): void {
    let full: Slot[] | null = null; // slots whose task ring had no room this time
    while (this.#queue.size > 0) {
      let slot: Slot | undefined;
      for (const s of this.#slots) {
        if (s.gone || s.inflight.length >= PREFETCH || (this.#maxTasks !== 0 && s.dispatched >= this.#maxTasks) || full?.includes(s)) continue;
        if (slot === undefined || s.inflight.length < slot.inflight.length) slot = s;
      }
      if (slot === undefined) return;
      const task = this.#queue.peek()!;
      if (task.portArgs !== undefined) {
        try {
          postToPort(slot.port, task.id, task.portArgs);
        } catch (e) {
          this.#queue.shift();
          this.#settle(task, false, new TypeError(`${this}: task ${task.id}: its arguments cannot be sent: ${(e as Error).message}`));
          continue;
        }
      }
      if (!slot.tasks.tryPut(task.bytes, 0, -1, false)) {
        if (task.portArgs !== undefined) dropFromPort(slot.port, task.id); // the worker would keep them for ever
        (full ??= []).push(slot);
        continue;
      }
      this.#queue.shift();
      task.state = 'dispatched';
      slot.inflight.push(task);
      slot.dispatched++;
    }
    if (this.#queue.size === 0) this.#steal();
  }

  /**
   * Work stealing, for what prefetching committed too early: while a worker is idle and another
   * has tasks queued in its ring that it has not taken yet, the pool takes the oldest such record
   * back out of that ring (it is a multi-consumer ring: the worker and the pool serialize on its
   * consumer lock, so each record goes to exactly one of them) and gives it to the idle worker.
   * A task that waits for another task of the pool then never waits behind it while a worker
   * idles, as with Python's shared task queue. Arguments that went through the busy worker's
   * port are posted again to the idle one's, and the busy one is told to drop its copy.
   */
  #steal(): void {
    for (const idle of this.#slots) {
      if (idle.gone || idle.inflight.length !== 0 || (this.#maxTasks !== 0 && idle.dispatched >= this.#maxTasks)) continue;
      let victim: Slot | undefined;
      for (const s of this.#slots) {
        if (!s.gone && s.inflight.length >= 2 && (victim === undefined || s.inflight.length > victim.inflight.length)) victim = s;
      }
      if (victim === undefined) return;
      const from = victim;
      const task = from.tasks.tryGet((_h, bytes, start, end) => {
        let id: number;
        try {
          id = (decode(bytes, start, end) as TaskMessage)[0];
        } catch {
          return KEEP; // (the pool encoded it: cannot happen; never let it stop the pump)
        }
        const t = from.inflight.find((x) => x.id === id);
        return t === undefined ? KEEP : t;
      });
      if (task === EMPTY) continue; // the worker holds its ring, or the head is not ours to move
      from.inflight.splice(from.inflight.indexOf(task), 1);
      from.dispatched--;
      if (task.portArgs !== undefined) dropFromPort(from.port, task.id);
      // The idle worker's ring is empty and the record fitted in a ring of the same size.
      let placed = false;
      try {
        if (task.portArgs !== undefined) postToPort(idle.port, task.id, task.portArgs);
        placed = idle.tasks.tryPut(task.bytes, 0, -1, false);
      } catch {
        // (The arguments were posted once already, so posting them again does not fail.)
      }
      if (!placed) {
        // Back to the head of the queue: #dispatch places it on its next round (unless its caller
        // gave up meanwhile: then it is only forgotten).
        if (task.portArgs !== undefined) dropFromPort(idle.port, task.id);
        if (task.state === 'settled') {
          this.#forget(task);
        } else {
          task.state = 'pending';
          this.#queue.unshiftAll([task]);
        }
        return;
      }
      idle.inflight.push(task);
      idle.dispatched++;
    }
  }

  #anyResult(): boolean {
    // (dataOrSpin(false): plain reads of the ring's cached positions, one Atomics call at most.)
    for (const s of this.#slots) if (s.results.dataOrSpin(false)) return true;
    return false;
  }

  #drain(): number {
    let n = 0;
    for (const slot of this.#slots) n += this.#drainSlot(slot);
    return n;
  }

  #drainSlot(slot: Slot): number {
    let n = 0;
    for (;;) {
      if (!slot.results.dataOrSpin(false)) return n; // (cheaper than a tryGet that finds nothing)
      const r = slot.results.tryGet(readResult);
      if (r === EMPTY) return n;
      n++;
      let [id, ok, value] = r as ResultMessage;
      if (value === VIA_PORT) value = takeFromPort(slot.port, slot.stash, id, receiveMessageOnPort);
      const i = slot.inflight.findIndex((t) => t.id === id);
      const task = i >= 0 ? slot.inflight.splice(i, 1)[0]! : this.#byId.get(id);
      if (task === undefined) continue;
      if (task.dropped) {
        this.#forget(task);
        continue;
      }
      this.#settle(task, ok === 1, ok === 1 ? revive(value) : toError(value as ErrorInfo));
    }
  }

  // -------------------------------------------------------------------------------------------
  // map, imap

  async #mapAll<R>(name: string, iterable: Iterable<unknown>, kind: number, options: MapOptions): Promise<R[]> {
    if (iterable === null || typeof (iterable as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${this}: map('${name}', iterable): not iterable: ${describe(iterable)}`);
    }
    const items = Array.isArray(iterable) ? iterable : [...iterable];
    let chunksize = options.chunksize;
    if (chunksize === undefined) {
      // Python's default: about four chunks per worker.
      chunksize = Math.ceil(items.length / (this.#size * 4)) || 1;
    }
    checkChunk(this, chunksize);
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < items.length; i += chunksize) {
      chunks.push(this.#submit(name, items.slice(i, i + chunksize), kind, {}).promise);
    }
    const settled = await Promise.allSettled(chunks);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const out = new Array<R>(items.length);
    let k = 0;
    for (const s of settled) for (const v of (s as PromiseFulfilledResult<R[]>).value) out[k++] = v;
    return out;
  }

  async *#lazyMap<R>(name: string, iterable: Iterable<unknown> | AsyncIterable<unknown>, options: MapOptions, ordered: boolean): AsyncIterableIterator<R> {
    const chunksize = options.chunksize ?? 1;
    checkChunk(this, chunksize);
    const source = (iterable as AsyncIterable<unknown>)?.[Symbol.asyncIterator]?.() ??
      (iterable as Iterable<unknown>)?.[Symbol.iterator]?.();
    if (!source) throw new TypeError(`${this}: imap('${name}', iterable): not iterable: ${describe(iterable)}`);
    const lookahead = this.#size * 2;
    type Slot = { p: Promise<unknown>; done: boolean; value?: unknown; error?: unknown; failed?: boolean };
    const window: Slot[] = [];
    let exhausted = false;
    let wake: (() => void) | null = null;
    const fill = async () => {
      while (!exhausted && window.length < lookahead) {
        const chunk: unknown[] = [];
        while (chunk.length < chunksize) {
          const step = await source.next();
          if (step.done) { exhausted = true; break; }
          chunk.push(step.value);
        }
        if (chunk.length === 0) break;
        const slot: Slot = { p: this.#submit(name, chunk, KIND_MAP, {}).promise, done: false };
        slot.p.then((v) => { slot.value = v; }, (e) => { slot.error = e; slot.failed = true; })
          .finally(() => { slot.done = true; wake?.(); });
        window.push(slot);
      }
    };
    try {
      for (;;) {
        await fill();
        if (window.length === 0) return;
        let slot: Slot;
        if (ordered) {
          slot = window[0]!;
          await slot.p.catch(() => undefined);
          while (!slot.done) await new Promise<void>((r) => { wake = r; });
          window.shift();
        } else {
          let i = window.findIndex((s) => s.done);
          while (i < 0) {
            await new Promise<void>((r) => { wake = r; });
            i = window.findIndex((s) => s.done);
          }
          slot = window.splice(i, 1)[0]!;
        }
        if (slot.failed) throw slot.error;
        for (const v of slot.value as R[]) yield v;
      }
    } finally {
      // Breaking out stops the feeding; results still in flight are dropped.
      exhausted = true;
      await (source as { return?: () => unknown }).return?.();
    }
  }
}

type ErrorInfo = { name: string; message: string; stack?: string; code?: unknown };

const readResult = (_h: number, bytes: Uint8Array, start: number, end: number): unknown => decode(bytes, start, end);

/** Rebuilds a worker's error: the standard class where there is one, its name, message, stack and code. */
function toError(info: ErrorInfo): Error {
  const Ctor = ERROR_TYPES[info.name] ?? Error;
  const e = new Ctor(info.message);
  if (e.name !== info.name) Object.defineProperty(e, 'name', { value: info.name, writable: true, configurable: true });
  if (info.stack !== undefined) e.stack = info.stack;
  if (info.code !== undefined) (e as { code?: unknown }).code = info.code;
  return e;
}

function containsShared(value: unknown, seen = new Set<unknown>()): boolean {
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (value instanceof SharedArrayBuffer) return true;
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer;
  if (value instanceof Map) {
    for (const [k, v] of value) if (containsShared(k, seen) || containsShared(v, seen)) return true;
    return false;
  }
  const items = value instanceof Set ? [...value] : Object.values(value);
  return items.some((v) => containsShared(v, seen));
}

function checkMs(pool: Pool, timeout: unknown): number {
  if (typeof timeout !== 'number' || !(timeout >= 0)) throw new RangeError(`${pool}: timeout must be a non-negative number of milliseconds, got ${describe(timeout)}`);
  return timeout;
}

function checkChunk(pool: Pool, chunksize: unknown): void {
  if (!Number.isInteger(chunksize) || (chunksize as number) < 1) throw new RangeError(`${pool}: chunksize must be a positive integer, got ${describe(chunksize)}`);
}
