/**
 * `Event` (Python's `threading.Event` / `multiprocessing.Event`): a flag threads wait on.
 *
 * ## Algorithm
 * One word holds both the flag and a generation: STATE = generation << 1 | flag. `set()` turns the
 * flag on and bumps the generation in one CAS; `clear()` turns the flag off and keeps the
 * generation. A waiter that finds the flag off sleeps on STATE while it is unchanged (NOTES.md §3:
 * park on a counter, never on a constant word); while the flag is off, the only change STATE can
 * undergo is a `set()`, so any change means "set happened" and the waiter returns true, even if
 * `clear()` has already turned the flag off again. That keeps CPython's rule: every thread
 * waiting when `set()` ran returns true.
 * Why one word: with the flag and the generation in two words, a waiter could consume a `set()`
 * through the flag, `clear()` it, wait again, and then see that same `set()`'s late generation bump
 * as a new one (a spec caught exactly that).
 * Ordering: `set` changes STATE, then reads WAITERS; a waiter counts itself in WAITERS before
 * sleeping on STATE, so either it sees the change or `set` sees it and wakes it.
 *
 * ## Layout (Int32 slots; one 64-byte line)
 * | slot | name     | written by            | parked on | meaning                                      |
 * |------|----------|-----------------------|-----------|----------------------------------------------|
 * | 0    | TAG      | creator, once         | no        | kind + layout version                        |
 * | 1    | STATE    | set (CAS), clear (CAS)| yes       | generation << 1 \| flag (generation wraps)   |
 * | 2    | WAITERS  | sleeping waiters      | no        | threads asleep (or about to be) on STATE     |
 * | 3    | SPINNERS | spinning waiters      | no        | threads spinning on STATE now                |
 */
import {
  checkTimeout, deadlineOf, runAsync, runSync, sleep, SpinPolicy, spinOnly, wake, CHANGED, TIMED_OUT, type Machine,
} from './futex.js';
import { label, LINE } from './layout.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';

const STATE = 1;
const WAITERS = 2;
const SPINNERS = 3;
const FLAG = 1;
export const EVENT_SLOTS = LINE;
/** Slot indices, for diagnostics and tests. */
export const EVENT_LAYOUT = { STATE, WAITERS, SPINNERS } as const;

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
    let s = Atomics.load(i32, STATE);
    for (;;) {
      if ((s & FLAG) !== 0) return;
      // Flag on and generation + 1, in one step.
      const seen = Atomics.compareExchange(i32, STATE, s, (s + 2) | FLAG);
      if (seen === s) break;
      s = seen;
    }
    if (Atomics.load(i32, WAITERS) > 0) wake(i32, STATE);
  }

  /** Clears the flag; later `wait`s block until the next `set()`. */
  clear(): void {
    const i32 = this.#i32;
    let s = Atomics.load(i32, STATE);
    while ((s & FLAG) !== 0) {
      const seen = Atomics.compareExchange(i32, STATE, s, s & ~FLAG);
      if (seen === s) return;
      s = seen;
    }
  }

  /** True while the flag is set. */
  isSet(): boolean {
    return (Atomics.load(this.#i32, STATE) & FLAG) !== 0;
  }

  /**
   * Waits up to `timeout` ms (omitted: for ever; 0: just look) for the flag. Returns true if it
   * was set (or a `set()` happened while waiting), false on timeout.
   */
  wait(timeout?: number): boolean {
    checkTimeout(timeout, this, 'wait');
    if ((Atomics.load(this.#i32, STATE) & FLAG) !== 0) return true;
    if (timeout === 0) return false;
    return runSync(this.#waitMachine(deadlineOf(timeout, this, 'wait'), true));
  }

  /** As `wait`, without blocking the event loop. */
  waitAsync(timeout?: number): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'waitAsync');
      if ((Atomics.load(this.#i32, STATE) & FLAG) !== 0) return Promise.resolve(true);
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
    const s = Atomics.load(i32, STATE);
    if ((s & FLAG) !== 0) return true;
    // While the flag is off, STATE changes only by a set(): any change means we were set.
    if (spin && (yield spinOnly(i32, STATE, s, this.#spin)) === CHANGED) return true;
    Atomics.add(i32, WAITERS, 1);
    try {
      for (;;) {
        const outcome = yield sleep(i32, STATE, s, deadline, this.#spin);
        if (Atomics.load(i32, STATE) !== s) return true;
        if (outcome === TIMED_OUT) return false;
      }
    } finally {
      Atomics.sub(i32, WAITERS, 1);
    }
  }
}
