/**
 * `Queue` and `JoinableQueue` (Python's `multiprocessing.Queue` / `JoinableQueue`): a bounded
 * FIFO of structured-cloneable items between any number of producer and consumer threads.
 *
 * ## Design
 * Items are encoded by weft's codec (lib/codec.ts: no `v8.serialize` on the hot path) into one
 * record each of a shared byte ring (lib/ring.ts: two-lock MPMC ring, records published by one
 * store, waits on sequence counters, spin then park). An item is encoded before anything is
 * touched, so a value that cannot be cloned (or is larger than the ring) throws and enqueues
 * nothing. `put` returns only after the record is published: the item is visible to `get` then.
 * A fast path tries once without a state machine; only a full/empty ring or a contended lock
 * takes the slow path that blocking and async calls share.
 *
 * JoinableQueue counts `taskDone()` calls in DONE; the unfinished items are the ring's records
 * ever published (PUT_COUNT, read around a put killed half-way: ring.ts `putCount`) minus DONE. So `put` itself costs nothing extra, and a producer killed
 * in the middle of a put (whose PUT_COUNT bump the next producer undoes, ring.ts) cannot leave a
 * phantom unfinished item. `join` sleeps on DONE in ticks; `taskDone` wakes joiners only when the
 * count reaches 0 and someone may be asleep. At each tick a joiner also repairs the ring if a dead
 * producer holds its lock (nobody else may ever take it to undo the count).
 *
 * ## Layout (Int32 slots)
 * | slot    | name         | written by          | parked on | meaning                                  |
 * |---------|--------------|---------------------|-----------|------------------------------------------|
 * | 0       | TAG          | creator, once       | no        | kind + layout version                    |
 * | 1       | DONE         | taskDone            | yes       | JoinableQueue: taskDone() calls ever (wraps) |
 * | 2       | JOIN_WAITERS | join                | no        | joiners asleep (or about to be)          |
 * | 16–95   | RING         | see ring.ts         | yes       | the ring's header                        |
 * | 96…     | DATA         | see ring.ts         | no        | the ring's bytes (`capacity`)            |
 */
import { decode, Encoder } from './codec.js';
import { QueueEmptyError, QueueFullError, TaskDoneError } from './errors.js';
import { checkTimeout, deadlineOf, runAsync, runSync, sleep, wake, TIMED_OUT, type Machine } from './futex.js';
import { now } from './host.js';
import { describe, label, LINE } from './layout.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';
import {
  EMPTY, MAX_CAPACITY, PLACED, recordBytes, Ring, RING_HEADER_SLOTS, ringBytes, ringCapacity, untilClosed,
  untilClosedAsync, CLOSED_WRITE,
} from './ring.js';
import { CHECK_MS } from './registry.js';

const DONE = 1;
const JOIN_WAITERS = 2;
const RING_AT = LINE;
/** Slot indices, for diagnostics and tests. */
export const QUEUE_LAYOUT = { DONE, JOIN_WAITERS, RING_AT } as const;

/** Internal: a queue's ring, for `JoinableQueue` (a `#private` field is not inherited). */
let ringOf: (q: Queue) => Ring;

const DEFAULT_CAPACITY = 1 << 20;
const MAX_MAXSIZE = 2 ** 31 - 1;

/** Options of `new Queue()`. */
export interface QueueOptions extends CommonOptions {
  /** Most items at once (default: no limit by count; `0` or less means no limit, as in Python). */
  maxsize?: number;
  /** Bytes of the ring, rounded up to a power of two (default 1 MiB). One item must fit in it. */
  capacity?: number;
}

function queueSlots(capacity: number): number {
  return RING_AT + (ringBytes(capacity) >> 2);
}

const readItem = (_header: number, bytes: Uint8Array, start: number, end: number): unknown => decode(bytes, start, end);

/** A multi-producer, multi-consumer FIFO queue of structured-cloneable items. */
export class Queue<T = unknown> {
  declare readonly $weft: 'Queue' | 'JoinableQueue';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  protected readonly i32: Int32Array;
  readonly #ring: Ring;
  readonly #encoder = new Encoder();

  constructor(options?: QueueOptions) {
    const kind = new.target === JoinableQueue ? 'JoinableQueue' : 'Queue';
    const requested = options?.capacity ?? DEFAULT_CAPACITY;
    let capacity = DEFAULT_CAPACITY;
    if (options !== undefined && options !== null && typeof options === 'object') {
      const where = label(kind, typeof options.name === 'string' ? options.name : undefined);
      if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 1 || requested > MAX_CAPACITY) {
        throw new RangeError(`${where}: capacity must be an integer number of bytes from 1 to ${MAX_CAPACITY}, got ${describe(requested)}`);
      }
      capacity = ringCapacity(requested);
      const m = options.maxsize;
      if (m !== undefined && (typeof m !== 'number' || !Number.isInteger(m) || m > MAX_MAXSIZE)) {
        throw new RangeError(`${where}: maxsize must be an integer (0 or less: no limit), got ${describe(m)}`);
      }
    }
    const b = openBlock(kind, queueSlots(capacity), options);
    let ringCap = capacity;
    if (!b.fresh) ringCap = Atomics.load(new Int32Array(b.buffer, b.byteOffset + RING_AT * 4, 1), 0);
    const maxsize = Math.max(0, options?.maxsize ?? 0);
    defineHandle(this, kind, b);
    this.i32 = new Int32Array(b.buffer, b.byteOffset, RING_AT + RING_HEADER_SLOTS);
    this.#ring = new Ring(b.buffer, b.byteOffset + RING_AT * 4, ringCap, maxsize, b.fresh, label(kind, b.name));
  }

  /** Restores a `Queue` from its structured clone (or returns the instance given). */
  static from<T = unknown>(value: unknown): Queue<T> {
    return fromClone(Queue, 'Queue', RING_AT + RING_HEADER_SLOTS, value) as Queue<T>;
  }

  /**
   * Puts `item`, waiting up to `timeout` ms for room (omitted: for ever; 0: not at all). Throws
   * `QueueFullError` on timeout, `ClosedError` after `close()`, `TypeError` for a value that
   * cannot be cloned and `RangeError` for one larger than the ring; nothing is enqueued then.
   */
  put(item: T, timeout?: number): void {
    checkTimeout(timeout, this, 'put');
    // A string goes straight into the ring when it fits at once (no scratch, no copy).
    if (typeof item === 'string' && this.#ring.tryPutString(item, false) === PLACED) return;
    const bytes = this.#encode(item, 'put');
    const words = this.#encoder.words;
    if (this.#ring.tryPut(bytes, 0, -1, false, words)) return;
    if (timeout === 0) {
      if (runSync(this.#ring.put(bytes, 0, -1, -Infinity, false, false, false, words))) return;
    } else if (runSync(this.#ring.put(bytes, 0, -1, deadlineOf(timeout, this, 'put'), true, false, false, words))) {
      return;
    }
    throw this.#full(timeout);
  }

  /** Puts without waiting: `QueueFullError` if there is no room. */
  putNowait(item: T): void {
    this.put(item, 0);
  }

  /** As `put`, without blocking the event loop. */
  async putAsync(item: T, timeout?: number): Promise<void> {
    checkTimeout(timeout, this, 'putAsync');
    if (typeof item === 'string' && this.#ring.tryPutString(item, false) === PLACED) return;
    const bytes = this.#encode(item, 'putAsync');
    if (this.#ring.tryPut(bytes, 0, -1, false, this.#encoder.words)) return;
    // The encoder's scratch is reused by the next encode: an async put keeps its own copy.
    // timeout 0 means what it means for put(): no wait for room (-Infinity), as the twins must agree.
    const deadline = timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'putAsync');
    if (!(await runAsync(this.#ring.put(bytes.slice(), 0, -1, deadline, false, false)))) {
      throw this.#full(timeout);
    }
  }

  /**
   * Removes and returns the oldest item, waiting up to `timeout` ms (omitted: for ever; 0: not at
   * all). Throws `QueueEmptyError` on timeout, and `ClosedError` once the queue is closed and drained.
   */
  get(timeout?: number): T {
    checkTimeout(timeout, this, 'get');
    const ring = this.#ring;
    if (ring.dataOrSpin(timeout !== 0)) {
      const v = ring.tryGet(readItem);
      if (v !== EMPTY) return v as T;
    }
    // (spun already: the machine goes straight to sleep)
    const r = runSync(this.#ring.get(readItem, timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'get'), false));
    if (r === EMPTY) throw this.#empty(timeout);
    return r as T;
  }

  /** Gets without waiting: `QueueEmptyError` if there is nothing. */
  getNowait(): T {
    return this.get(0);
  }

  /** As `get`, without blocking the event loop. */
  async getAsync(timeout?: number): Promise<T> {
    checkTimeout(timeout, this, 'getAsync');
    const v = this.#ring.tryGet(readItem);
    if (v !== EMPTY) return v as T;
    const r = await runAsync(this.#ring.get(readItem, timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'getAsync'), false));
    if (r === EMPTY) throw this.#empty(timeout);
    return r as T;
  }

  /** Items in the queue now (exact when no put or get is under way). */
  get size(): number {
    return this.#ring.size;
  }

  /** True when the queue holds no item (exact when quiet). */
  empty(): boolean {
    return this.#ring.size === 0;
  }

  /** True when `maxsize` items are in the queue (exact when quiet). */
  full(): boolean {
    const m = this.#ring.maxsize;
    return m > 0 && this.#ring.size >= m;
  }

  /** The ring's size in bytes (the largest item must fit in it, with 8 to 15 bytes of framing). */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /** `maxsize`, or 0 for no limit. */
  get maxsize(): number {
    return this.#ring.maxsize;
  }

  /**
   * Closes the queue: later `put`s throw `ClosedError`; `get`s return what is left, then throw
   * `ClosedError`. Waiters blocked at that moment are woken. Idempotent.
   */
  close(): void {
    this.#ring.closeWrite();
  }

  /** True once `close()` was called (by any thread). */
  get closed(): boolean {
    return (this.#ring.closedBits() & CLOSED_WRITE) !== 0;
  }

  /** Yields items until the queue is closed and drained. */
  [Symbol.iterator](): Iterator<T> {
    return untilClosed(() => this.get());
  }

  /** Yields items, without blocking the event loop, until the queue is closed and drained. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return untilClosedAsync(() => this.getAsync());
  }

  toString(): string {
    return label(this.$weft, this.name);
  }

  // -------------------------------------------------------------------------------------------

  #encode(item: T, method: string): Uint8Array {
    const bytes = this.#encoder.encode(item, this, method);
    if (recordBytes(bytes.length) > this.#ring.capacity) {
      throw new RangeError(`${this}: ${method}(): the item takes ${recordBytes(bytes.length)} bytes, more than the ring's capacity of ${this.#ring.capacity} (raise options.capacity)`);
    }
    return bytes;
  }

  #full(timeout: number | undefined): QueueFullError {
    return new QueueFullError(timeout === 0 ? `${this}: full` : `${this}: still full after ${timeout} ms`);
  }

  #empty(timeout: number | undefined): QueueEmptyError {
    return new QueueEmptyError(timeout === 0 ? `${this}: empty` : `${this}: still empty after ${timeout} ms`);
  }

  static {
    ringOf = (q) => q.#ring;
  }
}



/** A `Queue` that also counts unfinished items: `taskDone()` after each `get`, `join()` waits for all. */
export class JoinableQueue<T = unknown> extends Queue<T> {
  declare readonly $weft: 'JoinableQueue';

  constructor(options?: QueueOptions) {
    super(options);
  }

  /** Restores a `JoinableQueue` from its structured clone (or returns the instance given). */
  static override from<T = unknown>(value: unknown): JoinableQueue<T> {
    return fromClone(JoinableQueue, 'JoinableQueue', RING_AT + RING_HEADER_SLOTS, value) as JoinableQueue<T>;
  }

  /**
   * Marks one item taken by `get` as processed. Throws `TaskDoneError` (changing nothing) if
   * called more times than items were put.
   */
  taskDone(): void {
    const i32 = this.i32;
    let done = Atomics.load(i32, DONE);
    for (;;) {
      if (((ringOf(this).putCount - done) | 0) <= 0) {
        throw new TaskDoneError(`${this}: taskDone() called more times than items were put`);
      }
      const seen = Atomics.compareExchange(i32, DONE, done, (done + 1) | 0);
      if (seen === done) break;
      done = seen;
    }
    if (this.#unfinished() === 0 && Atomics.load(i32, JOIN_WAITERS) > 0) wake(i32, DONE);
  }

  /** Items put (published) and not yet marked done; never below 0. */
  #unfinished(): number {
    // DONE first: a taskDone it counts followed its item's put, so putCount read after it counts
    // that put too (read the other way round, a put and its taskDone both landing in between
    // would count the taskDone alone, and join could return with an item unfinished).
    const done = Atomics.load(this.i32, DONE);
    const n = (ringOf(this).putCount - done) | 0;
    return n > 0 ? n : 0;
  }

  /** Items put and not yet marked done. */
  get unfinished(): number {
    return this.#unfinished();
  }

  /**
   * Waits up to `timeout` ms until every item put has been marked done. Returns false on timeout.
   */
  join(timeout?: number): boolean {
    checkTimeout(timeout, this, 'join');
    if (this.#unfinished() === 0) return true;
    if (timeout === 0) return false;
    return runSync(this.#joinMachine(deadlineOf(timeout, this, 'join')));
  }

  /** As `join`, without blocking the event loop. */
  joinAsync(timeout?: number): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'joinAsync');
      if (this.#unfinished() === 0) return Promise.resolve(true);
      if (timeout === 0) return Promise.resolve(false);
      return runAsync(this.#joinMachine(deadlineOf(timeout, this, 'joinAsync')));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  *#joinMachine(deadline: number): Machine<boolean> {
    const i32 = this.i32;
    Atomics.add(i32, JOIN_WAITERS, 1);
    try {
      for (;;) {
        const done = Atomics.load(i32, DONE);
        if (this.#unfinished() === 0) return true;
        // Sleeps while DONE still reads `done`; taskDone wakes joiners when the count reaches 0.
        // In ticks: a put undone by recovery changes PUT_COUNT, which wakes nobody.
        const tick = Math.min(deadline, now() + CHECK_MS);
        if ((yield sleep(i32, DONE, done, tick)) === TIMED_OUT) {
          if (this.#unfinished() === 0) return true;
          if (tick === deadline) return false;
          yield* ringOf(this).recoverDeadProducer(deadline);
        }
      }
    } finally {
      Atomics.sub(i32, JOIN_WAITERS, 1);
    }
  }
}
