/**
 * Every error weft throws on purpose.
 *
 * Each class extends {@link WeftError} (itself an `Error`), carries a stable string `code` that
 * callers can switch on across threads and builds, and is constructed fresh at each throw so its
 * stack points at the caller. Messages name the primitive (`Lock 'jobs'`) and the offending value.
 *
 * Argument validation uses the built-in classes users expect: `TypeError` for a value of the
 * wrong kind, `RangeError` for a number out of range (a negative or NaN timeout, for example).
 */

/** Base class of every weft error. `code` is stable; the message is for humans. */
export class WeftError extends Error {
  /** A stable identifier, e.g. `'ERR_DEADLOCK'`. */
  readonly code: string;
  constructor(message: string, code = 'ERR_WEFT', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
Object.defineProperty(WeftError.prototype, 'name', { value: 'WeftError', writable: true, configurable: true });

/** Defines one subclass with its own `name` and default `code`. */
function subclass<C extends string>(name: string, code: C) {
  const cls = class extends WeftError {
    declare readonly code: C;
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, code, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  return cls;
}

/** A wait ran out of time where the API has no `false` to return (e.g. `hold(timeout)`, a pool task's `timeout`). */
export class TimeoutError extends subclass('TimeoutError', 'ERR_TIMEOUT') {}
/** Waiting would never end: a thread re-acquiring a `Lock` it holds, or a cycle of lock waits. */
export class DeadlockError extends subclass('DeadlockError', 'ERR_DEADLOCK') {}
/** The `Barrier` is broken (timeout, `abort()`, a throwing `action`, or `reset()` while waiting). */
export class BrokenBarrierError extends subclass('BrokenBarrierError', 'ERR_BROKEN_BARRIER') {}
/** `put` on a full queue timed out (or `putNowait` found it full). */
export class QueueFullError extends subclass('QueueFullError', 'ERR_QUEUE_FULL') {}
/** `get` on an empty queue timed out (or `getNowait` found it empty). */
export class QueueEmptyError extends subclass('QueueEmptyError', 'ERR_QUEUE_EMPTY') {}
/** The channel or pool is closed. */
export class ClosedError extends subclass('ClosedError', 'ERR_CLOSED') {}
/** A pool worker died while running the task. */
export class WorkerCrashedError extends subclass('WorkerCrashedError', 'ERR_WORKER_CRASHED') {}

/**
 * Misuse of a lock: releasing a `Lock`/`RLock` this thread does not hold, or calling
 * `Condition.wait`/`notify` without holding the condition's lock (Python's `RuntimeError`).
 */
export class NotHeldError extends subclass('NotHeldError', 'ERR_NOT_HELD') {}
/** `BoundedSemaphore.release()` would raise the value above its initial value (Python's `ValueError`). */
export class SemaphoreOverflowError extends subclass('SemaphoreOverflowError', 'ERR_SEMAPHORE_OVERFLOW') {}
/** More threads wait on a `Condition` at once than it has waiter slots (see its `maxWaiters` option). */
export class TooManyWaitersError extends subclass('TooManyWaitersError', 'ERR_TOO_MANY_WAITERS') {}
/** `JoinableQueue.taskDone()` called more times than items were put (Python's `ValueError`). */
export class TaskDoneError extends subclass('TaskDoneError', 'ERR_TASK_DONE') {}
