// Compiled (not run) by `npm test`: the public types of the ESM entry, as a user writes them.
import {
  Barrier, BoundedSemaphore, BrokenBarrierError, Condition, DeadlockError, Event, Lock, NotHeldError, RLock,
  Semaphore, TimeoutError, WeftError, revive,
} from 'weft';

const lock = new Lock({ name: 'jobs' });
const ok: boolean = lock.acquire(10);
const later: Promise<boolean> = lock.acquireAsync();
void later;
if (ok) lock.release();
{
  using held = lock.hold();
  void held;
}
const r = new RLock();
const c: Condition = new Condition(r, { name: 'c', maxWaiters: 8 });
const c2 = new Condition(new Lock());
const v: number = c.waitFor(() => 1, 5);
const n: Promise<number> = new Barrier(2, { action: () => {}, timeout: 100 }).waitAsync();
void n; void v; void c2;
const s = new Semaphore(3);
const value: number = s.value;
new BoundedSemaphore(1).release === s.release;
const e = new Event();
const set: boolean = e.isSet() && e.wait(0);
const back: { l: Lock } = revive({ l: lock });
const restored: Lock = Lock.from({ ...lock });
const err: WeftError = new DeadlockError('x');
const code: string = err.code;
void [value, set, back, restored, code, TimeoutError, NotHeldError, BrokenBarrierError];
// @ts-expect-error: a Barrier needs its parties.
new Barrier();
