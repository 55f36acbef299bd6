/**
 * `Semaphore` and `BoundedSemaphore` (Python's `threading`/`multiprocessing` semaphores): a counter
 * that `acquire` decrements, waiting while it is zero, and `release(n)` increments.
 *
 * ## Algorithm
 * VALUE is the count itself; acquire is one CAS `v → v-1` while `v > 0`. A thread that finds it
 * zero spins on VALUE, then counts itself in WAITERS and sleeps on VALUE while it is 0.
 * `release(n)` adds n with a CAS (checking the bound and Int32 range first, so a refused release
 * changes nothing) and wakes n sleepers only if WAITERS > 0.
 * Ordering: the sleeper increments WAITERS before `Atomics.wait` re-checks VALUE === 0; the
 * releaser changes VALUE before reading WAITERS. Both are sequentially consistent, so either the
 * sleeper sees the new VALUE or the releaser sees the sleeper.
 *
 * ## Layout (Int32 slots; one 64-byte line)
 * | slot | name     | written by                | parked on | meaning                               |
 * |------|----------|---------------------------|-----------|---------------------------------------|
 * | 0    | TAG      | creator, once             | no        | kind + layout version                 |
 * | 1    | VALUE    | acquire / release (CAS)   | yes       | the count, >= 0                       |
 * | 2    | WAITERS  | sleeping acquirers        | no        | threads asleep (or about to be)       |
 * | 3    | SPINNERS | spinning acquirers        | no        | threads spinning on VALUE now         |
 * | 4    | BOUND    | creator, once             | no        | BoundedSemaphore's initial value; -1  |
 */
import { SemaphoreOverflowError } from './errors.js';
import {
  checkTimeout, deadlineOf, runAsync, runSync, sleep, SpinPolicy, spinOnly, wake, CHANGED, TIMED_OUT, type Machine,
} from './futex.js';
import { describe, label, LINE } from './layout.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';

const VALUE = 1;
const WAITERS = 2;
const SPINNERS = 3;
const BOUND = 4;
export const SEMAPHORE_SLOTS = LINE;
/** Slot indices, for diagnostics and tests. */
export const SEMAPHORE_LAYOUT = { VALUE, WAITERS, SPINNERS, BOUND } as const;

const MAX_VALUE = 2 ** 31 - 1;

export type SemaphoreOptions = CommonOptions;

/** A counting semaphore over shared memory. */
export class Semaphore {
  declare readonly $weft: 'Semaphore' | 'BoundedSemaphore';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  readonly #i32: Int32Array;
  readonly #spin: SpinPolicy;

  /** `value`: the initial count, an integer from 0 to 2^31-1 (default 1). */
  constructor(value: number = 1, options?: SemaphoreOptions) {
    const kind = new.target === BoundedSemaphore ? 'BoundedSemaphore' : 'Semaphore';
    const b = openBlock(kind, SEMAPHORE_SLOTS, options);
    if (b.fresh) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_VALUE) {
        throw new RangeError(`${label(kind, b.name)}: initial value must be an integer from 0 to ${MAX_VALUE}, got ${describe(value)}`);
      }
      b.i32[VALUE] = value;
      b.i32[BOUND] = kind === 'BoundedSemaphore' ? value : -1;
    }
    defineHandle(this, kind, b);
    this.#i32 = b.i32;
    this.#spin = new SpinPolicy(b.i32, SPINNERS);
  }

  /** Restores a semaphore from its structured clone (or returns the instance given). */
  static from(value: unknown): Semaphore {
    return fromClone(Semaphore, 'Semaphore', SEMAPHORE_SLOTS, value);
  }

  /**
   * Decrements the count, waiting up to `timeout` ms while it is zero (omitted: for ever; 0: try
   * once). Returns true on success, false on timeout.
   */
  acquire(timeout?: number): boolean {
    checkTimeout(timeout, this, 'acquire');
    if (this.#tryTake()) return true;
    if (timeout === 0) return false;
    return runSync(this.#acquireMachine(deadlineOf(timeout, this, 'acquire'), true));
  }

  /** As `acquire`, without blocking the event loop. */
  acquireAsync(timeout?: number): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'acquireAsync');
      if (this.#tryTake()) return Promise.resolve(true);
      if (timeout === 0) return Promise.resolve(false);
      return runAsync(this.#acquireMachine(deadlineOf(timeout, this, 'acquireAsync'), false));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Decrements the count if it is above zero; never waits. */
  tryAcquire(): boolean {
    return this.#tryTake();
  }

  /**
   * Adds `n` (a positive integer, default 1) to the count, waking up to `n` waiters. A
   * `BoundedSemaphore` throws `SemaphoreOverflowError` (changing nothing) if the count would
   * exceed its initial value.
   */
  release(n: number = 1): void {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw new RangeError(`${this}: release(n): n must be a positive integer, got ${describe(n)}`);
    }
    const i32 = this.#i32;
    const bound = i32[BOUND]!;
    let v = Atomics.load(i32, VALUE);
    for (;;) {
      if (bound >= 0 && v + n > bound) {
        throw new SemaphoreOverflowError(`${this}: release(${n}) would raise the value from ${v} above its initial value ${bound}`);
      }
      if (v + n > MAX_VALUE) throw new RangeError(`${this}: release(${n}) would raise the value from ${v} above ${MAX_VALUE}`);
      const seen = Atomics.compareExchange(i32, VALUE, v, v + n);
      if (seen === v) break;
      v = seen;
    }
    if (Atomics.load(i32, WAITERS) > 0) wake(i32, VALUE, n);
  }

  /** The current count. */
  get value(): number {
    return Atomics.load(this.#i32, VALUE);
  }

  toString(): string {
    return label(this.$weft, this.name);
  }

  #tryTake(): boolean {
    const i32 = this.#i32;
    let v = Atomics.load(i32, VALUE);
    while (v > 0) {
      const seen = Atomics.compareExchange(i32, VALUE, v, v - 1);
      if (seen === v) return true;
      v = seen;
    }
    return false;
  }

  *#acquireMachine(deadline: number, spin: boolean): Machine<boolean> {
    const i32 = this.#i32;
    for (;;) {
      if (this.#tryTake()) return true;
      if (spin) {
        spin = false;
        if ((yield spinOnly(i32, VALUE, 0, this.#spin)) === CHANGED) continue;
      }
      Atomics.add(i32, WAITERS, 1);
      let outcome;
      try {
        outcome = yield sleep(i32, VALUE, 0, deadline, this.#spin);
      } finally {
        Atomics.sub(i32, WAITERS, 1);
      }
      if (outcome === TIMED_OUT) return this.#tryTake();
    }
  }
}

/** A semaphore whose `release` may never raise the count above its initial value. */
export class BoundedSemaphore extends Semaphore {
  declare readonly $weft: 'BoundedSemaphore';
  /** `value`: the initial count and the bound (default 1). */
  constructor(value: number = 1, options?: SemaphoreOptions) {
    super(value, options);
  }
  /** Restores a `BoundedSemaphore` from its structured clone (or returns the instance given). */
  static override from(value: unknown): BoundedSemaphore {
    return fromClone(BoundedSemaphore, 'BoundedSemaphore', SEMAPHORE_SLOTS, value);
  }
}
