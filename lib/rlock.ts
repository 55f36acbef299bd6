/**
 * `RLock`: a re-entrant lock (Python's `threading.RLock` / `multiprocessing.RLock`).
 *
 * The owning thread may acquire it again; each `acquire` needs one `release`, and only the owner
 * may release. It shares `Lock`'s owner-in-the-word futex mutex (see lock.ts for the algorithm and
 * the layout table); the recursion depth lives in the DEPTH slot, which only the owner touches.
 */
import { LOCK_SLOTS, OwnedLock, type LockOptions } from './lock.js';
import { fromClone } from './primitive.js';

export type RLockOptions = LockOptions;

/** A lock its owning thread may acquire again, one `release` per `acquire`. */
export class RLock extends OwnedLock {
  declare readonly $weft: 'RLock';
  constructor(options?: RLockOptions) {
    super('RLock', options);
  }
  /** Restores an `RLock` from its structured clone (or returns the instance given). */
  static from(value: unknown): RLock {
    return fromClone(RLock, 'RLock', LOCK_SLOTS, value);
  }
}
