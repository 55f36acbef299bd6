/**
 * weft: Python's `multiprocessing` primitives for Node.js `worker_threads`, over
 * `SharedArrayBuffer` and `Atomics`. This module only re-exports; each primitive has its file.
 */
export { Barrier, type BarrierOptions } from './barrier.js';
export { Condition, type ConditionOptions } from './condition.js';
export {
  BrokenBarrierError, ClosedError, DeadlockError, NotHeldError, QueueEmptyError, QueueFullError,
  SemaphoreOverflowError, TaskDoneError, TimeoutError, TooManyWaitersError, WeftError, WorkerCrashedError,
} from './errors.js';
export { Event, type EventOptions } from './event.js';
export { type Placement, type SharedHandle } from './layout.js';
export { Lock, type LockOptions } from './lock.js';
export { Connection, Pipe, type PipeOptions } from './pipe.js';
export { Pool, type ApplyOptions, type MapOptions, type PoolOptions } from './pool.js';
export { type CommonOptions } from './primitive.js';
export { JoinableQueue, Queue, type QueueOptions } from './queue.js';
export { formatWaitTable, waitTable, type ThreadWait } from './registry.js';
export { revive } from './revive.js';
export { RLock, type RLockOptions } from './rlock.js';
export { BoundedSemaphore, Semaphore, type SemaphoreOptions } from './semaphore.js';
export { SharedArray } from './shared-array.js';
export { type TypeName } from './ctypes.js';
export { Value, type SharedDataOptions } from './value.js';
