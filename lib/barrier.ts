/**
 * `Barrier` (Python's `threading.Barrier` / `multiprocessing.Barrier`): `parties` threads wait
 * until all have arrived, then all go on together; it resets itself for the next generation.
 *
 * ## Algorithm
 * CPython's state machine (Lib/threading.py, class Barrier), line for line, over shared memory:
 * STATE is FILLING, DRAINING, RESETTING or BROKEN, and COUNT the threads inside `wait`. All of it is
 * read and written under an internal `Lock` placed in this block. "Waiting on the condition" is
 * done on EPOCH, a counter every state change increments (NOTES.md §3): read EPOCH, release the
 * lock, sleep while EPOCH is unchanged, re-acquire. Threads that arrive while the previous
 * generation still drains wait for it to empty, so a fast thread can never lap a slow one.
 * The last thread to arrive runs `action` (its own instance's) under the lock, before anyone is
 * released; if it throws, the barrier breaks and that thread re-throws the action's error.
 *
 * ## Layout (Int32 slots; two 64-byte lines when the Barrier has a buffer of its own)
 * | slot   | name     | written by                 | parked on | meaning                                |
 * |--------|----------|----------------------------|-----------|----------------------------------------|
 * | 0      | TAG      | creator, once              | no        | kind + layout version                  |
 * | 1      | PARTIES  | creator, once              | no        | threads per generation                 |
 * | 2      | STATE    | under the lock             | no        | FILLING 0 / DRAINING 1 / RESETTING -1 / BROKEN -2 |
 * | 3      | COUNT    | under the lock             | no        | threads inside wait()                  |
 * | 4      | EPOCH    | under the lock             | yes       | bumped at every notify-all (wraps)     |
 * | 5      | SLEEPERS | waiting threads            | no        | threads asleep (or about to be) on EPOCH |
 * | 6      | SPINNERS | spinning threads           | no        | threads spinning on EPOCH now          |
 * | 8–9    | TIMEOUT  | creator, once              | no        | default timeout, Float64 ms (Infinity: none) |
 * | 16–21  | LOCK     | see lock.ts                | yes       | the internal Lock's own block          |
 */
import { BrokenBarrierError } from './errors.js';
import { checkTimeout, deadlineOf, runAsync, runSync, spinThenSleep, SpinPolicy, wake, TIMED_OUT, type Machine } from './futex.js';
import { describe, label, LINE } from './layout.js';
import { acquireExclusive, Lock, LOCK_SLOTS } from './lock.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';

const PARTIES = 1;
const STATE = 2;
const COUNT = 3;
const EPOCH = 4;
const SLEEPERS = 5;
const SPINNERS = 6;
const TIMEOUT_F64 = 4; // Float64 index: bytes 32–39, slots 8–9
const LOCK_AT = LINE;
export const BARRIER_SLOTS = LOCK_AT + LOCK_SLOTS;
/** Slot indices, for diagnostics and tests. */
export const BARRIER_LAYOUT = { PARTIES, STATE, COUNT, EPOCH, SLEEPERS, SPINNERS, LOCK_AT } as const;

const FILLING = 0;
const DRAINING = 1;
const RESETTING = -1;
const BROKEN = -2;

/** Options of `new Barrier()`. */
export interface BarrierOptions extends CommonOptions {
  /** Runs once per generation in the last thread to arrive, before any waiter is released. */
  action?: () => unknown;
  /** Default timeout of `wait()` in ms (default: none). */
  timeout?: number;
}

/** A reusable barrier for a fixed number of threads. */
export class Barrier {
  declare readonly $weft: 'Barrier';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  readonly #i32: Int32Array;
  readonly #lock: Lock;
  readonly #spin: SpinPolicy;
  readonly #timeout: number;
  #action: (() => unknown) | undefined;

  /** `parties`: how many threads each generation waits for (an integer ≥ 1). */
  constructor(parties: number, options?: BarrierOptions) {
    const b = openBlock('Barrier', BARRIER_SLOTS, options);
    const where = label('Barrier', b.name);
    const f64 = new Float64Array(b.buffer, b.byteOffset, TIMEOUT_F64 + 1);
    if (b.fresh) {
      if (typeof parties !== 'number' || !Number.isInteger(parties) || parties < 1 || parties > 2 ** 31 - 1) {
        throw new RangeError(`${where}: parties must be a positive integer, got ${describe(parties)}`);
      }
      const timeout = options?.timeout;
      checkTimeout(timeout, where, 'new Barrier');
      if (options?.action !== undefined && typeof options.action !== 'function') {
        throw new TypeError(`${where}: options.action must be a function, got ${describe(options.action)}`);
      }
      b.i32[PARTIES] = parties;
      f64[TIMEOUT_F64] = timeout ?? Infinity;
      this.#action = options?.action;
      this.#lock = new Lock({ buffer: b.buffer, byteOffset: b.byteOffset + LOCK_AT * 4, name: b.name });
    } else {
      this.#lock = Lock.from({ $weft: 'Lock', buffer: b.buffer, byteOffset: b.byteOffset + LOCK_AT * 4, name: b.name });
    }
    this.#timeout = f64[TIMEOUT_F64]!;
    defineHandle(this, 'Barrier', b);
    this.#i32 = b.i32;
    this.#spin = new SpinPolicy(b.i32, SPINNERS);
  }

  /**
   * Restores a `Barrier` from its structured clone (or returns the instance given). Functions do
   * not cross threads: pass `action` here for this thread's instance to run it when it is last.
   */
  static from(value: unknown, options?: Pick<BarrierOptions, 'action'>): Barrier {
    const barrier = fromClone(Barrier, 'Barrier', BARRIER_SLOTS, value);
    if (options?.action !== undefined) {
      if (typeof options.action !== 'function') {
        throw new TypeError(`${barrier}: Barrier.from(): options.action must be a function, got ${describe(options.action)}`);
      }
      barrier.#action = options.action;
    }
    return barrier;
  }

  /**
   * Waits until all parties have arrived; returns this thread's arrival index (0 … parties-1,
   * distinct within a generation). Times out after `timeout` ms (default: the barrier's
   * `timeout` option), which breaks the barrier. Throws `BrokenBarrierError` if the barrier is or
   * becomes broken; the last arriver whose `action` throws re-throws that error.
   */
  wait(timeout?: number): number {
    return runSync(this.#waitMachine(this.#deadline(timeout, 'wait')));
  }

  /** As `wait`, without blocking the event loop. */
  waitAsync(timeout?: number): Promise<number> {
    try {
      return runAsync(this.#waitMachine(this.#deadline(timeout, 'waitAsync')));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Breaks the barrier: every waiter and every later `wait` throws `BrokenBarrierError` until `reset()`. */
  abort(): void {
    runSync(this.#locked(() => this.#break()));
  }

  /**
   * Returns the barrier to its empty state. Threads waiting at that moment throw
   * `BrokenBarrierError`; later `wait`s start a fresh generation.
   */
  reset(): void {
    runSync(this.#locked(() => {
      const i32 = this.#i32;
      if (Atomics.load(i32, COUNT) > 0) {
        const state = Atomics.load(i32, STATE);
        // Waiters present: they leave broken; the last one out returns the barrier to FILLING.
        if (state === FILLING || state === BROKEN) Atomics.store(i32, STATE, RESETTING);
      } else {
        Atomics.store(i32, STATE, FILLING);
      }
      this.#notifyAll();
    }));
  }

  /** True while the barrier is broken. */
  get broken(): boolean {
    return Atomics.load(this.#i32, STATE) === BROKEN;
  }

  /** Threads per generation. */
  get parties(): number {
    return this.#i32[PARTIES]!;
  }

  /** Threads currently waiting in this generation. */
  get nWaiting(): number {
    return Atomics.load(this.#i32, STATE) === FILLING ? Atomics.load(this.#i32, COUNT) : 0;
  }

  toString(): string {
    return label('Barrier', this.name);
  }

  // -------------------------------------------------------------------------------------------

  #deadline(timeout: number | undefined, method: string): number {
    return deadlineOf(timeout === undefined ? this.#timeout : timeout, this, method);
  }

  *#locked(body: () => void): Machine<void> {
    yield* acquireExclusive(this.#lock);
    try {
      body();
    } finally {
      this.#lock.release();
    }
  }

  *#waitMachine(deadline: number): Machine<number> {
    const i32 = this.#i32;
    yield* acquireExclusive(this.#lock);
    try {
      // Enter: wait while the previous generation drains or resets.
      while (Atomics.load(i32, STATE) === DRAINING || Atomics.load(i32, STATE) === RESETTING) {
        yield* this.#condWait(Infinity);
      }
      if (Atomics.load(i32, STATE) === BROKEN) throw this.#brokenError();
      const index = Atomics.add(i32, COUNT, 1);
      try {
        if (index + 1 === i32[PARTIES]) {
          // Release: the last thread runs the action, then lets everyone go.
          try {
            this.#action?.();
          } catch (e) {
            this.#break();
            throw e;
          }
          Atomics.store(i32, STATE, DRAINING);
          this.#notifyAll();
        } else {
          while (Atomics.load(i32, STATE) === FILLING) {
            if (!(yield* this.#condWait(deadline)) && Atomics.load(i32, STATE) === FILLING) {
              this.#break();
              throw new BrokenBarrierError(`${this}: wait() timed out with ${Atomics.load(i32, COUNT)} of ${i32[PARTIES]} parties arrived; the barrier is now broken`);
            }
          }
          if (Atomics.load(i32, STATE) < 0) throw this.#brokenError();
        }
        return index;
      } finally {
        // Exit: the last one out of a draining or resetting generation re-opens the barrier.
        if (Atomics.sub(i32, COUNT, 1) === 1) {
          const state = Atomics.load(i32, STATE);
          if (state === DRAINING || state === RESETTING) {
            Atomics.store(i32, STATE, FILLING);
            this.#notifyAll();
          }
        }
      }
    } finally {
      this.#lock.release();
    }
  }

  /**
   * Python's `Condition.wait` on the internal lock: release it, sleep until EPOCH moves or the
   * deadline passes, re-acquire. Returns false on timeout.
   */
  *#condWait(deadline: number): Machine<boolean> {
    const i32 = this.#i32;
    const epoch = Atomics.load(i32, EPOCH);
    this.#lock.release();
    Atomics.add(i32, SLEEPERS, 1);
    let outcome;
    try {
      outcome = yield spinThenSleep(i32, EPOCH, epoch, deadline, this.#spin);
    } finally {
      Atomics.sub(i32, SLEEPERS, 1);
    }
    yield* acquireExclusive(this.#lock);
    return outcome !== TIMED_OUT || Atomics.load(i32, EPOCH) !== epoch;
  }

  #notifyAll(): void {
    const i32 = this.#i32;
    Atomics.add(i32, EPOCH, 1);
    if (Atomics.load(i32, SLEEPERS) > 0) wake(i32, EPOCH);
  }

  #break(): void {
    Atomics.store(this.#i32, STATE, BROKEN);
    this.#notifyAll();
  }

  #brokenError(): BrokenBarrierError {
    return new BrokenBarrierError(`${this}: the barrier is broken (reset() it to use it again)`);
  }
}
