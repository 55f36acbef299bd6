/**
 * `Event` (Python's `threading.Event` / `multiprocessing.Event`): a flag threads wait on.
 *
 * ## Algorithm
 * Waiters never sleep on the flag itself but on a generation counter, GEN, which every `set()`
 * that turns the flag on increments (NOTES.md §3: park on a counter, never on a constant word).
 * A waiter reads GEN, then FLAG; if the flag is off it waits while GEN is unchanged, and returns
 * true as soon as GEN moves, even if `clear()` has already turned the flag off again. That keeps
 * CPython's rule: every thread waiting when `set()` ran returns true.
 * Ordering: `set` writes FLAG, then GEN, then reads WAITERS; a waiter reads GEN before FLAG and
 * counts itself in WAITERS before sleeping on GEN. So a waiter either sees the flag, or sleeps
 * on the old GEN and is woken (or finds GEN changed).
 * A `set()` that finds the flag already on changes nothing: no waiter can be between reading the
 * flag off and sleeping without a later `set()` moving GEN for it.
 *
 * ## Layout (Int32 slots; one 64-byte line)
 * | slot | name     | written by            | parked on | meaning                                  |
 * |------|----------|-----------------------|-----------|------------------------------------------|
 * | 0    | TAG      | creator, once         | no        | kind + layout version                    |
 * | 1    | FLAG     | set / clear           | no        | 1 when set                               |
 * | 2    | GEN      | set (off → on)        | yes       | count of off → on transitions (wraps)    |
 * | 3    | WAITERS  | sleeping waiters      | no        | threads asleep (or about to be) on GEN   |
 * | 4    | SPINNERS | spinning waiters      | no        | threads spinning on GEN now              |
 */
import {
  checkTimeout, deadlineOf, runAsync, runSync, sleep, SpinPolicy, spinOnly, wake, CHANGED, TIMED_OUT, type Machine,
} from './futex.js';
import { label, LINE } from './layout.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';

const FLAG = 1;
const GEN = 2;
const WAITERS = 3;
const SPINNERS = 4;
export const EVENT_SLOTS = LINE;
/** Slot indices, for diagnostics and tests. */
export const EVENT_LAYOUT = { FLAG, GEN, WAITERS, SPINNERS } as const;

export type EventOptions = CommonOptions;

/** A flag that threads can wait on, set and clear across threads. */
export class Event {
  declare readonly $weft: 'Event';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  readonly #i32: Int32Array;
  readonly #spin: SpinPolicy;

  constructor(options?: EventOptions) {
    const b = openBlock('Event', EVENT_SLOTS, options);
    defineHandle(this, 'Event', b);
    this.#i32 = b.i32;
    this.#spin = new SpinPolicy(b.i32, SPINNERS);
  }

  /** Restores an `Event` from its structured clone (or returns the instance given). */
  static from(value: unknown): Event {
    return fromClone(Event, 'Event', EVENT_SLOTS, value);
  }

  /** Sets the flag and wakes every waiting thread. */
  set(): void {
    const i32 = this.#i32;
    if (Atomics.exchange(i32, FLAG, 1) !== 0) return;
    Atomics.add(i32, GEN, 1);
    if (Atomics.load(i32, WAITERS) > 0) wake(i32, GEN);
  }

  /** Clears the flag; later `wait`s block until the next `set()`. */
  clear(): void {
    Atomics.store(this.#i32, FLAG, 0);
  }

  /** True while the flag is set. */
  isSet(): boolean {
    return Atomics.load(this.#i32, FLAG) !== 0;
  }

  /**
   * Waits up to `timeout` ms (omitted: for ever; 0: just look) for the flag. Returns true if it
   * was set (or a `set()` happened while waiting), false on timeout.
   */
  wait(timeout?: number): boolean {
    checkTimeout(timeout, this, 'wait');
    if (Atomics.load(this.#i32, FLAG) !== 0) return true;
    if (timeout === 0) return false;
    return runSync(this.#waitMachine(deadlineOf(timeout, this, 'wait'), true));
  }

  /** As `wait`, without blocking the event loop. */
  waitAsync(timeout?: number): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'waitAsync');
      if (Atomics.load(this.#i32, FLAG) !== 0) return Promise.resolve(true);
      if (timeout === 0) return Promise.resolve(false);
      return runAsync(this.#waitMachine(deadlineOf(timeout, this, 'waitAsync'), false));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  toString(): string {
    return label('Event', this.name);
  }

  *#waitMachine(deadline: number, spin: boolean): Machine<boolean> {
    const i32 = this.#i32;
    // Ordering: GEN before FLAG (see the module comment).
    const gen = Atomics.load(i32, GEN);
    if (Atomics.load(i32, FLAG) !== 0) return true;
    if (spin && (yield spinOnly(i32, GEN, gen, this.#spin)) === CHANGED) return true;
    Atomics.add(i32, WAITERS, 1);
    try {
      for (;;) {
        const outcome = yield sleep(i32, GEN, gen, deadline, this.#spin);
        if (Atomics.load(i32, GEN) !== gen) return true;
        if (outcome === TIMED_OUT) return Atomics.load(i32, FLAG) !== 0;
      }
    } finally {
      Atomics.sub(i32, WAITERS, 1);
    }
  }
}
