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

// Shared data, channels and the pool.
import { JoinableQueue, Pipe, Pool, Queue, SharedArray, Value, type Connection } from 'weft';
const hits = new Value('q', 2n ** 33n);
const h64: bigint = hits.add(1n);
const f = new Value('d', 1.5);
const fv: number = f.value;
const xs = new SharedArray('i', [1, 2]);
const x0: number = xs.get(0);
const q = new Queue<{ id: number }>({ maxsize: 10 });
q.put({ id: 1 });
const item: { id: number } = q.get(0);
const jq = new JoinableQueue<string>();
const joined: boolean = jq.join(0);
const [ca, cb]: Connection[] = [...new Pipe()];
const pool = new Pool({ filename: new URL('file:///tasks.mjs'), size: 2 });
const squared: Promise<number> = pool.apply<number>('square', [3]);
void [h64, fv, x0, item, joined, ca, cb, squared];
// @ts-expect-error: a bigint Value takes bigints.
hits.add(1);

// Lock safety: the dead-owner flag and the wait-for table.
import { formatWaitTable, waitTable, type ThreadWait } from 'weft';
const died: boolean = new Lock().ownerDied || new RLock().ownerDied;
const rows: ThreadWait[] = waitTable();
const firstWaiter: number | undefined = rows[0]?.thread;
const heldBy: number | undefined = rows[0]?.heldBy;
const text: string = formatWaitTable(rows) + formatWaitTable();
void [died, firstWaiter, heldBy, text];
