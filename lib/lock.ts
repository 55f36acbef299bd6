/**
 * `Lock` (and, through {@link OwnedLock}, the machinery `RLock` shares): a futex mutex whose word
 * also names its owner.
 *
 * ## Algorithm
 * Drepper's three-state futex mutex ("Futexes Are Tricky", mutex #2), as Rust std's futex mutex
 * writes it, with the owner's thread id folded into the LOCKED states so that ownership checks
 * cost nothing: the word is `0` when free, else `owner << 1 | CONTENDED`.
 * - acquire: one CAS `0 → me`. On failure: spin while the owner runs and nobody sleeps (Rust
 *   stops spinning once the word is CONTENDED), then set CONTENDED and sleep on the word. A thread
 *   that has slept takes the lock as `me | CONTENDED`, since others may still be asleep.
 * - release: one CAS `me → 0`; if it fails the word is `me | CONTENDED`: store 0 and wake one.
 *   So `Atomics.notify` runs only when someone may be asleep (NOTES.md §2).
 * The lock is not fair (a running thread may barge past a waking one), which is what makes
 * contended hand-offs cheap; spinning keeps the wait short.
 *
 * ## Deadlocks and dead owners (registry.ts)
 * Only the path that is about to park consults the thread registry; the fast paths are unchanged.
 * A parking thread publishes a wait record (this lock, the owner it saw) and, in a blocking wait
 * with no timeout, walks the wait-for graph: if the owner waits, through a chain of such records,
 * for a lock this thread holds, it backs off with `DeadlockError` instead of parking. Parked
 * waiters wake every CHECK_MS to look again and to see whether the owner has died; a waiter that
 * finds the owner dead takes the lock over (`ownerDied` then reads true until it releases).
 * A contended release bumps the lock's epoch in the registry after clearing the word, which is
 * how a detector tells a stale record from a live one.
 *
 * ## Layout (Int32 slots; a Lock of its own gets a whole 64-byte line, an embedded one 6 slots)
 * | slot | name     | written by                         | parked on | meaning                          |
 * |------|----------|------------------------------------|-----------|----------------------------------|
 * | 0    | TAG      | creator, once                      | no        | kind + layout version            |
 * | 1    | STATE    | acquirers (CAS), owner (release)   | yes       | 0, or owner << 1 \| CONTENDED    |
 * | 2    | SPINNERS | spinning threads                   | no        | threads spinning on STATE now    |
 * | 3    | DEPTH    | the owner only, while it owns      | no        | RLock recursion depth            |
 * | 4    | UID      | creator, once                      | no        | random id, for the registry      |
 * | 5    | RECOVERED| the owner only, while it owns      | no        | 1: taken over from a dead owner  |
 * Invariant: STATE names a thread iff that thread holds the lock (or held it and died); only the
 * owner clears STATE, except that a waiter may CAS a dead owner's word over to itself.
 */
import { DeadlockError, NotHeldError, TimeoutError } from './errors.js';
import {
  checkTimeout, deadlineOf, drivenSync, runAsync, runSync, sleep, SpinPolicy, spinOnly, spinWhile, wake, CHANGED,
  TIMED_OUT, type Machine,
} from './futex.js';
import { now, THREAD_ID } from './host.js';
import { BLOCKING, bumpEpoch, CHECK_MS, clearWait, detectCycle, epochOf, isDead, publishWait, threadLabel } from './registry.js';
import { label } from './layout.js';
import { defineHandle, disposable, fromClone, openBlock, type CommonOptions } from './primitive.js';

const STATE = 1;
const SPINNERS = 2;
const DEPTH = 3;
const UID = 4;
const RECOVERED = 5;
/** Block size in Int32 slots (other blocks may embed a Lock; one of its own is padded to a line). */
export const LOCK_SLOTS = 6;
/** Slot indices, for diagnostics and tests. */
export const LOCK_LAYOUT = { STATE, SPINNERS, DEPTH, UID, RECOVERED } as const;

const CONTENDED = 1;
/** This thread's LOCKED word. */
const ME = THREAD_ID << 1;
/** Deepest RLock recursion (DEPTH is an Int32). */
const MAX_DEPTH = 2 ** 31 - 1;

export type LockOptions = CommonOptions;

/** Saved ownership of a lock, as `Condition.wait` releases and restores it. */
export type SavedState = number;

/** Internal access for `Condition` and `Barrier`: release every level, restore them, ask about ownership. */
export let releaseAll: (lock: OwnedLock) => SavedState;
/** Re-acquires for ever and restores the saved depth; waits even if this thread holds it (async tasks). */
export let reacquire: (lock: OwnedLock, saved: SavedState) => Machine<void>;
export let ownedByMe: (lock: OwnedLock) => boolean;
/** After a blocking `acquire()` that re-took a lock released by `releaseAll`: restores the saved depth. */
export let restoreDepth: (lock: OwnedLock, saved: SavedState) => void;
/**
 * Acquires a `Lock` as a machine, until `deadline` (default: for ever); false if it ran out. Its
 * holder re-acquiring throws `DeadlockError`. For
 * weft's internal locks (rings, barriers), which are never held while waiting for another lock:
 * their waits recover from dead owners but never back off from a cycle.
 */
export let acquireExclusive: (lock: OwnedLock, deadline?: number) => Machine<boolean>;

/** True if a thread that has died holds the lock (registry.ts): a waiter would take it over. */
export let heldByDead: (lock: OwnedLock) => boolean;

/** How a waiting machine may treat a cycle of lock waits it closes. */
const MAY_BACK_OFF = true;
const MUST_WAIT = false;

/**
 * What `Lock` and `RLock` share. Not exported from the package: use `Lock` or `RLock`.
 */
export abstract class OwnedLock {
  declare readonly $weft: 'Lock' | 'RLock';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  readonly #i32: Int32Array;
  readonly #spin: SpinPolicy;
  readonly #reentrant: boolean;
  readonly #uid: number;
  /** `toString()`, kept: wait records carry it, and a park should not build it each time. */
  readonly #text: string;

  protected constructor(kind: 'Lock' | 'RLock', options: LockOptions | undefined) {
    const b = openBlock(kind, LOCK_SLOTS, options);
    defineHandle(this, kind, b);
    this.#i32 = b.i32;
    this.#spin = new SpinPolicy(b.i32, SPINNERS);
    this.#reentrant = kind === 'RLock';
    if (b.fresh) Atomics.store(b.i32, UID, (Math.random() * 0x7fffffff) | 1);
    this.#uid = Atomics.load(b.i32, UID);
    this.#text = label(kind, b.name);
  }

  /**
   * Acquires the lock, waiting up to `timeout` ms (omitted: for ever; 0: try once).
   * Returns true once held, false on timeout. A `Lock` re-acquired by its holder throws
   * `DeadlockError` (unless `timeout` is 0, which returns false); an `RLock` counts a level.
   */
  acquire(timeout?: number): boolean {
    checkTimeout(timeout, this, 'acquire');
    if (Atomics.compareExchange(this.#i32, STATE, 0, ME) === 0) {
      if (this.#reentrant) this.#i32[DEPTH] = 1;
      return true;
    }
    return this.#acquireSlow(timeout);
  }

  /**
   * Acquires without blocking the event loop; resolves true once held, false on timeout.
   * The holding thread may wait here for another task of its own event loop to release a `Lock`
   * (that is no deadlock); an `RLock` held by this thread counts a level at once.
   */
  acquireAsync(timeout?: number): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'acquireAsync');
      if (Atomics.compareExchange(this.#i32, STATE, 0, ME) === 0) {
        if (this.#reentrant) this.#i32[DEPTH] = 1;
        return Promise.resolve(true);
      }
      if (this.#reentrant && this.#ownsWord(Atomics.load(this.#i32, STATE))) return Promise.resolve(this.#enterAgain());
      if (timeout === 0) return Promise.resolve(false);
      return runAsync(this.#acquireMachine(deadlineOf(timeout, this, 'acquireAsync'), false, MUST_WAIT));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Acquires if free (or, for an `RLock`, already held by this thread); never waits. */
  tryAcquire(): boolean {
    return this.acquire(0);
  }

  /**
   * Releases the lock (one level of an `RLock`). Throws `NotHeldError`, changing nothing, if this
   * thread does not hold it.
   */
  release(): void {
    const i32 = this.#i32;
    if (this.#reentrant) {
      if (!this.#ownsWord(Atomics.load(i32, STATE))) throw this.#notHeld();
      const depth = i32[DEPTH]! - 1;
      i32[DEPTH] = depth;
      if (depth > 0) return;
    }
    // Ordering: the CAS (or exchange) publishes every write of the critical section.
    const w = Atomics.compareExchange(i32, STATE, ME, 0);
    if (w !== ME) this.#releaseSlow(w);
  }

  /** Someone may be asleep (CONTENDED), or this thread does not hold the lock. */
  #releaseSlow(w: number): void {
    const i32 = this.#i32;
    if (w !== (ME | CONTENDED)) throw this.#notHeld(); // (an RLock's owner never gets here)
    // A lock taken over from a dead owner is always CONTENDED, so this is where RECOVERED ends.
    i32[RECOVERED] = 0;
    // Only the owner clears STATE, and CONTENDED is already set: a plain store suffices.
    Atomics.store(i32, STATE, 0);
    // After the store (registry.ts): a waiter that read the old epoch then saw us as the owner
    // is told by the new epoch that its record went stale.
    bumpEpoch(this.#uid);
    wake(i32, STATE, 1);
  }

  /** True while some thread holds the lock (also a thread that died holding it). */
  get locked(): boolean {
    return Atomics.load(this.#i32, STATE) !== 0;
  }

  /**
   * True while this thread holds the lock because it took it over from a thread that died
   * holding it (POSIX's `EOWNERDEAD`): what the lock protects may be half-updated. Reads false
   * again once this thread releases it. Only a waiting `acquire`/`acquireAsync` (not `tryAcquire`
   * or a timeout of 0) takes a lock over, within about 100 ms of the death becoming known.
   */
  get ownerDied(): boolean {
    return this.#ownsWord(Atomics.load(this.#i32, STATE)) && this.#i32[RECOVERED] === 1;
  }

  /**
   * Acquires (as `acquire(timeout)`) and returns a `Disposable` that releases, for
   * `using _ = lock.hold()`. Throws `TimeoutError` if not acquired in time.
   */
  hold(timeout?: number): Disposable & { release(): void } {
    if (!this.acquire(timeout)) throw new TimeoutError(`${this}: hold(${timeout}) timed out`);
    return disposable(() => this.release());
  }

  /** As `hold`, without blocking the event loop. */
  async holdAsync(timeout?: number): Promise<Disposable & { release(): void }> {
    if (!(await this.acquireAsync(timeout))) throw new TimeoutError(`${this}: holdAsync(${timeout}) timed out`);
    return disposable(() => this.release());
  }

  toString(): string {
    return label(this.$weft, this.name);
  }

  // -------------------------------------------------------------------------------------------

  #ownsWord(w: number): boolean {
    return w >> 1 === THREAD_ID;
  }

  #enterAgain(): boolean {
    const depth = this.#i32[DEPTH]!;
    if (depth >= MAX_DEPTH) throw new RangeError(`${this}: acquired ${depth} times over by one thread`);
    this.#i32[DEPTH] = depth + 1;
    return true;
  }

  #notHeld(): NotHeldError {
    const w = Atomics.load(this.#i32, STATE);
    const by = w === 0 ? 'it is not held' : `it is held by ${threadLabel(w >> 1)}`;
    return new NotHeldError(`${this}: release() by a thread that does not hold it (${threadLabel(THREAD_ID)}; ${by})`);
  }

  #selfDeadlock(): DeadlockError {
    return new DeadlockError(`${this}: acquire() by ${threadLabel(THREAD_ID)}, which already holds it, would wait for ever`);
  }

  #acquireSlow(timeout: number | undefined): boolean {
    const w = Atomics.load(this.#i32, STATE);
    if (this.#ownsWord(w)) {
      if (this.#reentrant) return this.#enterAgain();
      if (timeout === 0) return false;
      throw this.#selfDeadlock();
    }
    if (timeout === 0) {
      if (w === 0 && Atomics.compareExchange(this.#i32, STATE, 0, ME) === 0) return this.#entered();
      return false;
    }
    // Spin inline first (the machine would spin too, after building itself): most hand-offs
    // between two running threads end here. Only while nobody sleeps (Rust std does the same).
    if ((w & CONTENDED) === 0 && spinWhile(this.#i32, STATE, w, this.#spin) &&
        Atomics.compareExchange(this.#i32, STATE, 0, ME) === 0) {
      return this.#entered();
    }
    return runSync(this.#acquireMachine(deadlineOf(timeout, this, 'acquire'), false, MAY_BACK_OFF)); // spun already
  }

  #entered(): boolean {
    if (this.#reentrant) this.#i32[DEPTH] = 1;
    return true;
  }

  /**
   * The contended path, shared by blocking and async acquires. Parks in ticks of CHECK_MS: at
   * each, it re-publishes its wait record, takes over a dead owner's lock, and (when `mayBackOff`
   * and this is a blocking wait with no deadline) backs off from a cycle with `DeadlockError`.
   */
  *#acquireMachine(deadline: number, spin: boolean, mayBackOff: boolean): Machine<boolean> {
    const i32 = this.#i32;
    const blocking = deadline === Infinity && drivenSync();
    let slept = false;
    let published = false;
    try {
      for (;;) {
        let w = Atomics.load(i32, STATE);
        if (w === 0) {
          // After sleeping, others may be asleep too: keep CONTENDED so our release wakes one.
          if (Atomics.compareExchange(i32, STATE, 0, slept ? ME | CONTENDED : ME) === 0) return this.#entered();
          continue;
        }
        if (spin && (w & CONTENDED) === 0) {
          // Spin once while the owner runs and nobody sleeps; then announce ourselves.
          spin = false;
          if ((yield spinOnly(i32, STATE, w, this.#spin)) === CHANGED) continue;
        }
        // About to park. The epoch is read before the word that names the owner (registry.ts).
        const epoch = epochOf(this.#uid);
        w = Atomics.load(i32, STATE);
        if (w === 0) continue;
        const owner = w >> 1;
        if (isDead(owner)) {
          // Keep CONTENDED: others may sleep here, and our release (slow path) clears RECOVERED.
          if (Atomics.compareExchange(i32, STATE, w, ME | CONTENDED) !== w) continue;
          if (this.#reentrant) i32[DEPTH] = 1;
          i32[RECOVERED] = 1;
          return true;
        }
        if ((w & CONTENDED) === 0) {
          if (Atomics.compareExchange(i32, STATE, w, w | CONTENDED) !== w) continue;
          w |= CONTENDED;
        }
        publishWait(this.#uid, owner, epoch, this.#text, blocking ? BLOCKING : 0);
        published = true;
        if (blocking && mayBackOff) {
          const seen = w;
          const cycle = detectCycle(owner, this.#text, () => epochOf(this.#uid) === epoch && Atomics.load(i32, STATE) === seen);
          if (cycle !== null) {
            published = false; // (detectCycle cleared the record, under its lock)
            throw new DeadlockError(`${this}: acquire() by ${threadLabel(THREAD_ID)} would deadlock: ${cycle}. ` +
              'This thread backs off (it keeps what it holds); the others keep waiting.');
          }
        }
        const tick = Math.min(deadline, now() + CHECK_MS);
        const outcome = yield sleep(i32, STATE, w, tick, this.#spin);
        slept = true;
        if (outcome === TIMED_OUT && tick === deadline) {
          // A last look: the lock may have come free exactly at the deadline.
          return Atomics.compareExchange(i32, STATE, 0, ME | CONTENDED) === 0 ? this.#entered() : false;
        }
      }
    } finally {
      if (published) clearWait();
    }
  }

  static {
    releaseAll = (lock) => {
      const i32 = lock.#i32;
      if (!lock.#ownsWord(i32[STATE]!)) throw lock.#notHeld(); // (a plain read suffices: see ownedByMe)
      const depth = lock.#reentrant ? i32[DEPTH]! : 1;
      if (lock.#reentrant) i32[DEPTH] = 1;
      lock.release();
      return depth;
    };
    reacquire = function* (lock, saved) {
      const i32 = lock.#i32;
      if (Atomics.compareExchange(i32, STATE, 0, ME) !== 0) {
        // Condition.wait must return holding the lock: it waits, and a cycle through it is
        // broken by another member backing off.
        yield* lock.#acquireMachine(Infinity, true, MUST_WAIT);
      }
      if (lock.#reentrant) i32[DEPTH] = saved;
    };
    // A plain read: while this thread holds the lock every value STATE takes names it (others
    // only add CONTENDED), and once it released the lock it reads its own release or later.
    ownedByMe = (lock) => lock.#ownsWord(lock.#i32[STATE]!);
    heldByDead = (lock) => {
      const w = Atomics.load(lock.#i32, STATE);
      return w !== 0 && isDead(w >> 1);
    };
    restoreDepth = (lock, saved) => {
      if (lock.#reentrant) lock.#i32[DEPTH] = saved;
    };
    acquireExclusive = function* (lock, deadline = Infinity) {
      if (Atomics.compareExchange(lock.#i32, STATE, 0, ME) === 0) return true;
      if (lock.#ownsWord(Atomics.load(lock.#i32, STATE))) throw lock.#selfDeadlock();
      return yield* lock.#acquireMachine(deadline, true, MUST_WAIT);
    };
  }
}

/**
 * A mutual-exclusion lock (Python's `threading.Lock` / `multiprocessing.Lock`) over shared
 * memory. Owned by the thread that acquired it: only that thread may release it, and its own
 * blocking re-`acquire()` throws `DeadlockError` instead of hanging.
 */
export class Lock extends OwnedLock {
  declare readonly $weft: 'Lock';
  constructor(options?: LockOptions) {
    super('Lock', options);
  }
  /** Restores a `Lock` from its structured clone (or returns the instance given). */
  static from(value: unknown): Lock {
    return fromClone(Lock, 'Lock', LOCK_SLOTS, value);
  }
}
