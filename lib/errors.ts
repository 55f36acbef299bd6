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

/** Gives a subclass its own `name` on the prototype (so `e.name` and stacks say `DeadlockError`). */
function named(cls: { prototype: Error }, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}

/** A wait ran out of time where the API has no `false` to return (e.g. `hold(timeout)`, a pool task's `timeout`). */
export class TimeoutError extends WeftError {
  declare readonly code: 'ERR_TIMEOUT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_TIMEOUT', options);
  }
}
named(TimeoutError, 'TimeoutError');
/** Waiting would never end: a thread re-acquiring a `Lock` it holds, or a cycle of lock waits. */
export class DeadlockError extends WeftError {
  declare readonly code: 'ERR_DEADLOCK';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_DEADLOCK', options);
  }
}
named(DeadlockError, 'DeadlockError');
/** The `Barrier` is broken (timeout, `abort()`, a throwing `action`, or `reset()` while waiting). */
export class BrokenBarrierError extends WeftError {
  declare readonly code: 'ERR_BROKEN_BARRIER';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_BROKEN_BARRIER', options);
  }
}
named(BrokenBarrierError, 'BrokenBarrierError');
/** `put` on a full queue timed out (or `putNowait` found it full). */
export class QueueFullError extends WeftError {
  declare readonly code: 'ERR_QUEUE_FULL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_QUEUE_FULL', options);
  }
}
named(QueueFullError, 'QueueFullError');
/** `get` on an empty queue timed out (or `getNowait` found it empty). */
export class QueueEmptyError extends WeftError {
  declare readonly code: 'ERR_QUEUE_EMPTY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_QUEUE_EMPTY', options);
  }
}
named(QueueEmptyError, 'QueueEmptyError');
/** The channel or pool is closed. */
export class ClosedError extends WeftError {
  declare readonly code: 'ERR_CLOSED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CLOSED', options);
  }
}
named(ClosedError, 'ClosedError');
/** A pool worker died while running the task. */
export class WorkerCrashedError extends WeftError {
  declare readonly code: 'ERR_WORKER_CRASHED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_WORKER_CRASHED', options);
  }
}
named(WorkerCrashedError, 'WorkerCrashedError');

/**
 * Misuse of a lock: releasing a `Lock`/`RLock` this thread does not hold, or calling
 * `Condition.wait`/`notify` without holding the condition's lock (Python's `RuntimeError`).
 */
export class NotHeldError extends WeftError {
  declare readonly code: 'ERR_NOT_HELD';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_NOT_HELD', options);
  }
}
named(NotHeldError, 'NotHeldError');
/** `BoundedSemaphore.release()` would raise the value above its initial value (Python's `ValueError`). */
export class SemaphoreOverflowError extends WeftError {
  declare readonly code: 'ERR_SEMAPHORE_OVERFLOW';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_SEMAPHORE_OVERFLOW', options);
  }
}
named(SemaphoreOverflowError, 'SemaphoreOverflowError');
/** More threads wait on a `Condition` at once than it has waiter slots (see its `maxWaiters` option). */
export class TooManyWaitersError extends WeftError {
  declare readonly code: 'ERR_TOO_MANY_WAITERS';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_TOO_MANY_WAITERS', options);
  }
}
named(TooManyWaitersError, 'TooManyWaitersError');
/** `JoinableQueue.taskDone()` called more times than items were put (Python's `ValueError`). */
export class TaskDoneError extends WeftError {
  declare readonly code: 'ERR_TASK_DONE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_TASK_DONE', options);
  }
}
named(TaskDoneError, 'TaskDoneError');
