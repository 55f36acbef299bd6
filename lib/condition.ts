/**
 * `Condition` (Python's `threading.Condition` / `multiprocessing.Condition`): a lock plus a queue
 * of waiters that `notify(n)` wakes in arrival order.
 *
 * ## Algorithm
 * A condition variable that parks every waiter on one sequence word wakes too many: `notify(1)`
 * would release every waiter that had released the lock but not yet parked. `notify(n)` must
 * wake at most n current waiters, and a notify with nobody waiting must not be remembered, so each
 * waiter gets a slot of its own (CPython likewise gives each waiter its own lock):
 * - `wait` (lock held): claim a FREE slot, stamp it with the next TICKET, mark it WAITING, release
 *   every level of the lock, spin while WAITING, then CAS WAITING → SLEEPING and sleep while
 *   SLEEPING. Then free the slot and re-acquire the lock (also after a timeout, as in Python).
 * - `notify(n)` (lock held): pick the n WAITING/SLEEPING slots with the oldest tickets, CAS each
 *   to NOTIFIED, and `Atomics.notify` only those that were SLEEPING.
 * - timeout: the waiter CASes SLEEPING → FREE. If that fails the slot is NOTIFIED: a notify raced
 *   the deadline and won, so `wait` returns true and the notify is not lost. Either way exactly
 *   one side decides each slot, so no notify is wasted on a waiter that is gone.
 * Claims and notifies happen under the lock; only a waiter frees its own slot, by CAS or store.
 *
 * ## Layout (Int32 slots)
 * | slot          | name        | written by                       | parked on | meaning                          |
 * |---------------|-------------|----------------------------------|-----------|----------------------------------|
 * | 0             | TAG         | creator, once                    | no        | kind + layout version            |
 * | 1             | NEXT_TICKET | waiters, under the lock          | no        | arrival counter (wraps)          |
 * | 2             | CAPACITY    | creator, once                    | no        | number of waiter slots           |
 * | 3             | SPINNERS    | spinning waiters                 | no        | threads spinning on a slot now   |
 * | 4             | HIGH        | waiters, under the lock          | no        | slots ever used (scan bound)     |
 * | 16 + 2k       | STATE(k)    | waiter k; notifier (CAS)         | yes       | FREE / WAITING / SLEEPING / NOTIFIED |
 * | 16 + 2k + 1   | TICKET(k)   | waiter k, under the lock         | no        | its arrival ticket               |
 * The lock is a separate `Lock` or `RLock` block, shared by reference in the clone.
 */
import { NotHeldError, TooManyWaitersError } from './errors.js';
import {
  checkTimeout, deadlineOf, runAsync, runSync, sleep, SpinPolicy, spinOnly, spinWhile, wake, CHANGED, TIMED_OUT, type Machine,
} from './futex.js';
import { now } from './host.js';
import { describe, label, LINE } from './layout.js';
import { Lock, OwnedLock, ownedByMe, reacquire, releaseAll, restoreDepth } from './lock.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';
import { RLock } from './rlock.js';

const NEXT_TICKET = 1;
const CAPACITY = 2;
const SPINNERS = 3;
const HIGH = 4;
const SLOTS_AT = LINE;
/** Slot indices, for diagnostics and tests. */
export const CONDITION_LAYOUT = { NEXT_TICKET, CAPACITY, SPINNERS, HIGH, SLOTS_AT } as const;

const FREE = 0;
const WAITING = 1;
const SLEEPING = 2;
const NOTIFIED = 3;
/** Waiter-slot states, for diagnostics and tests. */
export const CONDITION_STATES = { FREE, WAITING, SLEEPING, NOTIFIED } as const;

const DEFAULT_MAX_WAITERS = 64;
const LIMIT_MAX_WAITERS = 1 << 16;

/** Options of `new Condition()`. */
export interface ConditionOptions extends CommonOptions {
  /** How many threads may wait at once (default 64); one more throws `TooManyWaitersError`. */
  maxWaiters?: number;
}

function slotsFor(capacity: number): number {
  return SLOTS_AT + 2 * capacity;
}

/** A condition variable: wait for a notify while holding a lock, across threads. */
export class Condition {
  declare readonly $weft: 'Condition';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  /** The lock the condition uses (a new `RLock` unless one was given). */
  declare readonly lock: Lock | RLock;
  readonly #i32: Int32Array;
  readonly #spin: SpinPolicy;

  /**
   * `lock`: a `Lock` or `RLock` to use (default: a new `RLock`). `new Condition(options)` is
   * accepted too.
   */
  constructor(lock?: Lock | RLock | ConditionOptions | null, options?: ConditionOptions) {
    if (options === undefined && lock != null && !(lock instanceof OwnedLock) && typeof lock === 'object' && !('$weft' in lock)) {
      options = lock;
      lock = undefined;
    }
    const capacity = options?.maxWaiters ?? DEFAULT_MAX_WAITERS;
    const restoring = openBlockFor(capacity, options);
    const b = restoring;
    let theLock: Lock | RLock;
    if (b.fresh) {
      if (!Number.isInteger(capacity) || capacity < 1 || capacity > LIMIT_MAX_WAITERS) {
        throw new RangeError(`${label('Condition', b.name)}: maxWaiters must be an integer from 1 to ${LIMIT_MAX_WAITERS}, got ${describe(capacity)}`);
      }
      if (lock == null) theLock = new RLock();
      else if (lock instanceof Lock || lock instanceof RLock) theLock = lock;
      else throw new TypeError(`${label('Condition', b.name)}: lock must be a Lock or an RLock, got ${describe(lock)}`);
      b.i32[CAPACITY] = capacity;
    } else {
      const c = b.clone!.lock as { $weft?: unknown } | undefined;
      theLock = c?.$weft === 'RLock' ? RLock.from(c) : Lock.from(c);
    }
    defineHandle(this, 'Condition', b);
    (this as { lock: Lock | RLock }).lock = theLock;
    this.#i32 = b.i32;
    this.#spin = new SpinPolicy(b.i32, SPINNERS);
  }

  /** Restores a `Condition` (and its lock) from its structured clone (or returns the instance given). */
  static from(value: unknown): Condition {
    return fromClone(Condition, 'Condition', SLOTS_AT, value);
  }

  /** Acquires the underlying lock (see `Lock.acquire`). */
  acquire(timeout?: number): boolean {
    return this.lock.acquire(timeout);
  }
  /** Acquires the underlying lock without blocking the event loop. */
  acquireAsync(timeout?: number): Promise<boolean> {
    return this.lock.acquireAsync(timeout);
  }
  /** Releases the underlying lock. */
  release(): void {
    this.lock.release();
  }
  /** Holds the underlying lock until the returned `Disposable` is disposed. */
  hold(timeout?: number): Disposable & { release(): void } {
    return this.lock.hold(timeout);
  }
  /** As `hold`, without blocking the event loop. */
  holdAsync(timeout?: number): Promise<Disposable & { release(): void }> {
    return this.lock.holdAsync(timeout);
  }

  /**
   * Releases the lock (every level of an `RLock`), waits up to `timeout` ms for a notify, and
   * re-acquires the lock before returning, also on timeout. Returns false on timeout.
   * Throws `NotHeldError` if this thread does not hold the lock.
   */
  wait(timeout?: number): boolean {
    checkTimeout(timeout, this, 'wait');
    return this.#waitUntil(timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'wait'));
  }

  /** `wait` with an absolute deadline (-Infinity: do not wait), shared with `waitFor`. */
  #waitUntil(deadline: number): boolean {
    const [slot, saved] = this.#enter(undefined, 'wait');
    if (deadline !== -Infinity && spinWhile(this.#i32, slot, WAITING, this.#spin)) {
      // Notified while spinning (only a notifier moves a slot off WAITING): no machine needed.
      Atomics.store(this.#i32, slot, FREE);
      this.lock.acquire(); // this thread released it in #enter: no self-deadlock possible
      restoreDepth(this.lock, saved);
      return true;
    }
    return runSync(this.#waitMachine(slot, saved, deadline, false));
  }

  /** As `wait`, without blocking the event loop. */
  waitAsync(timeout?: number): Promise<boolean> {
    try {
      const [slot, saved, deadline] = this.#enter(timeout, 'waitAsync');
      return runAsync(this.#waitMachine(slot, saved, deadline, false));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Waits until `predicate()` is truthy, for up to `timeout` ms in all; returns the predicate's
   * last value. The predicate runs with the lock held.
   */
  waitFor<T>(predicate: () => T, timeout?: number): T {
    checkTimeout(timeout, this, 'waitFor');
    const deadline = deadlineOf(timeout, this, 'waitFor');
    let result = predicate();
    // (The deadline is absolute: no clock reads in the loop while there is none.)
    while (!result && (deadline === Infinity || deadline > now())) {
      this.#waitUntil(deadline);
      result = predicate();
    }
    return result;
  }

  /** As `waitFor`, without blocking the event loop. */
  async waitForAsync<T>(predicate: () => T, timeout?: number): Promise<T> {
    checkTimeout(timeout, this, 'waitForAsync');
    const deadline = deadlineOf(timeout, this, 'waitForAsync');
    let result = predicate();
    while (!result) {
      const left = deadline - now();
      if (left <= 0) break;
      await this.waitAsync(left);
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` threads waiting on this condition, oldest first (default 1). A notify with
   * nobody waiting does nothing. Throws `NotHeldError` if this thread does not hold the lock.
   */
  notify(n: number = 1): void {
    if (typeof n !== 'number' || !(n >= 0) || (n !== Infinity && !Number.isInteger(n))) {
      throw new RangeError(`${this}: notify(n): n must be a non-negative integer, got ${describe(n)}`);
    }
    if (!ownedByMe(this.lock)) throw new NotHeldError(`${this}: notify() by a thread that does not hold its lock`);
    if (n > 0) this.#notify(n);
  }

  /** Wakes every thread waiting on this condition right now. */
  notifyAll(): void {
    if (!ownedByMe(this.lock)) throw new NotHeldError(`${this}: notifyAll() by a thread that does not hold its lock`);
    this.#notify(Infinity);
  }

  toString(): string {
    return label('Condition', this.name);
  }

  // -------------------------------------------------------------------------------------------

  /** Validates, claims a slot and releases the lock: the synchronous start of every wait. */
  #enter(timeout: number | undefined, method: string): [slot: number, saved: number, deadline: number] {
    checkTimeout(timeout, this, method);
    if (!ownedByMe(this.lock)) throw new NotHeldError(`${this}: ${method}() by a thread that does not hold its lock`);
    const deadline = deadlineOf(timeout, this, method);
    const slot = this.#claim();
    let saved: number;
    try {
      saved = releaseAll(this.lock);
    } catch (e) {
      Atomics.store(this.#i32, slot, FREE);
      throw e;
    }
    return [slot, saved, deadline];
  }

  /** Claims a FREE waiter slot (lock held); returns the index of its STATE word. */
  #claim(): number {
    const i32 = this.#i32;
    const capacity = i32[CAPACITY]!;
    for (let k = 0; k < capacity; k++) {
      const s = SLOTS_AT + 2 * k;
      if (Atomics.load(i32, s) !== FREE) continue;
      // Ticket before state: a notifier that sees WAITING reads a valid ticket (both under the lock).
      // NEXT_TICKET and HIGH change only under the lock, which orders them: plain accesses
      // (an Atomics call costs ~15-20 ns here, and a hand-off makes a dozen).
      const ticket = i32[NEXT_TICKET]!;
      i32[NEXT_TICKET] = (ticket + 1) | 0;
      i32[s + 1] = ticket;
      if (Atomics.compareExchange(i32, s, FREE, WAITING) !== FREE) continue;
      if (k >= i32[HIGH]!) i32[HIGH] = k + 1;
      return s;
    }
    throw new TooManyWaitersError(`${this}: more than ${capacity} threads waiting at once (raise options.maxWaiters)`);
  }

  *#waitMachine(s: number, saved: number, deadline: number, spin: boolean): Machine<boolean> {
    const i32 = this.#i32;
    let notified = true;
    if (!(spin && (yield spinOnly(i32, s, WAITING, this.#spin)) === CHANGED) &&
        Atomics.compareExchange(i32, s, WAITING, SLEEPING) === WAITING) {
      for (;;) {
        const outcome = yield sleep(i32, s, SLEEPING, deadline, this.#spin);
        if (Atomics.load(i32, s) === NOTIFIED) break;
        // On timeout, the CAS decides: if a notify got there first, it counts.
        if (outcome === TIMED_OUT && Atomics.compareExchange(i32, s, SLEEPING, FREE) === SLEEPING) {
          notified = false; // the CAS freed the slot; it may already be someone else's
          break;
        }
      }
    }
    if (notified) Atomics.store(i32, s, FREE); // NOTIFIED → FREE: only we move it from NOTIFIED
    yield* reacquire(this.lock, saved);
    return notified;
  }

  /** Moves up to n waiters, oldest ticket first, to NOTIFIED (lock held). */
  #notify(n: number): void {
    const i32 = this.#i32;
    let left = n;
    while (left > 0) {
      const high = i32[HIGH]!; // (under the lock, as #claim writes it)
      let waiting: number[] = [];
      for (let k = 0; k < high; k++) {
        const s = SLOTS_AT + 2 * k;
        const st = Atomics.load(i32, s);
        if (st === WAITING || st === SLEEPING) waiting.push(s);
      }
      if (waiting.length === 0) return;
      if (waiting.length > left) {
        // Oldest first; tickets wrap, so compare by signed difference.
        waiting.sort((a, b) => (i32[a + 1]! - i32[b + 1]!) | 0);
        waiting = waiting.slice(0, left);
      }
      let missed = 0;
      for (const s of waiting) {
        let st = Atomics.load(i32, s);
        for (;;) {
          if (st !== WAITING && st !== SLEEPING) {
            missed++; // it timed out meanwhile: pick someone else
            break;
          }
          const seen = Atomics.compareExchange(i32, s, st, NOTIFIED);
          if (seen === st) {
            if (st === SLEEPING) wake(i32, s, 1);
            left--;
            break;
          }
          st = seen;
        }
      }
      if (missed === 0) return;
    }
  }
}

/** Opens a fresh block sized for `capacity` slots, or the block of the clone being restored. */
function openBlockFor(capacity: number, options: ConditionOptions | undefined) {
  const b = openBlock('Condition', slotsFor(Number.isInteger(capacity) && capacity >= 1 && capacity <= LIMIT_MAX_WAITERS ? capacity : 1), options);
  if (!b.fresh) {
    // A clone: its real size comes from CAPACITY, which attach() could not know.
    const cap = Atomics.load(b.i32, CAPACITY);
    return { ...b, i32: new Int32Array(b.buffer, b.byteOffset, slotsFor(cap)) };
  }
  return b;
}
