/**
 * The thread registry: one shared block per process that says which threads are alive and which
 * lock each blocked thread waits for. It is what lets a `Lock` waiter find out that the owner died
 * (POSIX's robust mutexes, `EOWNERDEAD`) and lets a thread about to park detect that it would
 * close a cycle of lock waits (a deadlock) before it parks for ever.
 *
 * ## How threads share it
 * The first thread that loads weft creates the block and stores it in Node's
 * `worker_threads.setEnvironmentData`, which every worker spawned afterwards by that thread (and
 * by its workers, in turn) inherits; a `SharedArrayBuffer` in there is shared, not copied. So the
 * thread that spawns workers must load weft before it spawns them (the pool does). Threads of
 * separate registries cannot see each other: detection then silently covers fewer cycles, never
 * reports a false one. Hosts without `worker_threads` get a registry of their own per thread.
 *
 * ## Liveness
 * A thread registers itself when weft loads (a slot: its id, ALIVE). It is marked DEAD by
 * whichever of these comes first: its own `process.on('exit')` (a worker that returns, calls
 * `process.exit()` or dies of an uncaught error), or the thread that spawned it seeing the
 * `Worker`'s `'exit'` event (every worker spawned by a thread that loaded weft is watched, through
 * Node's `worker_threads` diagnostics channel; this covers `worker.terminate()`, which runs no
 * handler in the dying thread); a parent's death marks the workers it spawned dead too (Node
 * stops them with it, and their own parent can no longer hear of it). The parent's notice needs
 * its event loop: a parent that blocks synchronously on a lock its terminated child held learns
 * nothing (use `acquireAsync` there).
 *
 * ## Wait records and cycles
 * A thread about to park on a lock writes a wait record in its slot: the lock's uid, the owner
 * it saw, the lock's release epoch read before it looked at the owner, the lock's label, and
 * whether the wait is BLOCKING (synchronous, no timeout: only those are edges of the graph). Every contended release bumps the lock's epoch bucket *after* clearing the lock
 * word, so a record whose epoch still matches describes an owner that has not released since the
 * waiter looked (a changed epoch only makes a record stale, never a wrong cycle). A thread checks
 * for a cycle (owner → the lock its record names → that lock's owner → … → itself) before it
 * parks and again every {@link CHECK_MS} while parked, under a registry-wide detection lock, so
 * at most one thread of a cycle backs off: it clears its record before releasing the detection
 * lock. Its own edge is checked last (its lock's epoch and word unchanged since it looked), since
 * the owner may have released that lock and only then begun the wait that seems to close a cycle. Records are read under a per-slot sequence lock (writers: the slot's own thread only).
 *
 * ## Layout (Int32 slots)
 * | slot               | name         | written by                | parked on | meaning                        |
 * |--------------------|--------------|---------------------------|-----------|--------------------------------|
 * | 0                  | TAG          | creator, once             | no        | kind + layout version          |
 * | 1                  | THREADS      | creator, once             | no        | number of thread slots         |
 * | 2                  | DETECT_LOCK  | detecting threads (CAS)   | no        | 0, or the detecting thread's id |
 * | 16 + 32k …         | thread slot k (below)                                                       |
 * | EPOCHS_AT + b      | EPOCH b      | contended releases (add)  | no        | release count of locks with uid & (BUCKETS-1) = b |
 * Thread slot (32 slots, two cache lines; the record is written by the slot's thread only):
 * | +0 WHO: id << 2 \| ALIVE 1 / DEAD 2 / CLAIMING 3 (0: free) | +1 PARENT (id of the spawning thread, 0: unknown) |
 * | +2 SEQ (odd while the record is written) | +3 LOCK_UID (0: not waiting) | +4 OWNER (thread id seen holding it) |
 * | +5 EPOCH (seen before OWNER) | +6 SINCE (ms, mod 2^31) | +7 FLAGS (1: counts for cycles) | +8 NAME_LEN (UTF-16 units) |
 * | +9…+31 NAME (two units a slot) |
 * Invariant: WHO changes only by CAS, and names its id in the same word as its state, so marking
 * a thread dead can never hit the thread that reused its slot (a slot is reused only when the
 * table is full, and only a DEAD one: CLAIMING, reset, then ALIVE).
 */
import { hostNode, THREAD_ID } from './host.js';
import { LINE, tagOf } from './layout.js';

const THREADS = 1;
const DETECT_LOCK = 2;
const TABLE_AT = LINE;
const SLOT = 32;
const WHO = 0;
const PARENT = 1;
const SEQ = 2;
const LOCK_UID = 3;
const OWNER = 4;
const EPOCH = 5;
const SINCE = 6;
const FLAGS = 7;
const NAME_LEN = 8;
const NAME = 9;
const NAME_UNITS = (SLOT - NAME) * 2;
const THREAD_SLOTS = 512;
const BUCKETS = 8192;
const EPOCHS_AT = TABLE_AT + THREAD_SLOTS * SLOT;
const REGISTRY_SLOTS = EPOCHS_AT + BUCKETS;
/** Slot indices, for tests. */
export const REGISTRY_LAYOUT = { THREADS, DETECT_LOCK, TABLE_AT, SLOT, WHO, PARENT, SEQ, LOCK_UID, OWNER, EPOCH, FLAGS } as const;

const ALIVE = 1;
const DEAD = 2;
const CLAIMING = 3;
/** FLAGS bit: a blocking wait with no timeout, so an edge of the wait-for graph. */
export const BLOCKING = 1;
/** How often a parked lock waiter re-checks its owner's life and the wait-for graph (ms). */
export const CHECK_MS = 100;
const ENV_KEY = 'weft:registry:v2';
const PARENT_KEY = 'weft:parent';
const MAX_HOPS = 64;

const wt = hostNode.workerThreads;
const i32: Int32Array = (() => {
  const inherited = wt?.getEnvironmentData?.(ENV_KEY);
  if (inherited instanceof SharedArrayBuffer && inherited.byteLength === REGISTRY_SLOTS * 4) {
    const view = new Int32Array(inherited);
    if (Atomics.load(view, 0) === tagOf('Registry')) return view;
  }
  const view = new Int32Array(new SharedArrayBuffer(REGISTRY_SLOTS * 4));
  view[THREADS] = THREAD_SLOTS;
  Atomics.store(view, 0, tagOf('Registry'));
  wt?.setEnvironmentData?.(ENV_KEY, view.buffer);
  return view;
})();
const parentId: number = (() => {
  const p = wt?.getEnvironmentData?.(PARENT_KEY);
  // Workers this thread spawns from now on learn it as their parent.
  wt?.setEnvironmentData?.(PARENT_KEY, THREAD_ID);
  return typeof p === 'number' ? p : 0;
})();

function hashSlot(id: number): number {
  return (Math.imul(id, 0x9e3779b1) >>> 23) & (THREAD_SLOTS - 1); // THREAD_SLOTS is 2^9
}

/** Index of `id`'s slot, or -1 if it never registered here. */
function find(id: number): number {
  for (let k = 0, s = hashSlot(id); k < THREAD_SLOTS; k++, s = (s + 1) & (THREAD_SLOTS - 1)) {
    const at = TABLE_AT + s * SLOT;
    const who = Atomics.load(i32, at + WHO);
    if (who >>> 2 === id) return at;
    if (who === 0) return -1;
  }
  return -1;
}

/** Claims this thread's slot: the first free one on its probe path, else a DEAD one. */
function register(): number {
  const me = THREAD_ID << 2;
  // This thread loaded weft twice (its ESM and its CommonJS build): one slot for both.
  const found = find(THREAD_ID);
  if (found >= 0 && Atomics.load(i32, found + WHO) === (me | ALIVE)) return found;
  for (let pass = 0; pass < 2; pass++) {
    for (let k = 0, s = hashSlot(THREAD_ID); k < THREAD_SLOTS; k++, s = (s + 1) & (THREAD_SLOTS - 1)) {
      const at = TABLE_AT + s * SLOT;
      const who = Atomics.load(i32, at + WHO);
      if (pass === 0) {
        if (who !== 0 || Atomics.compareExchange(i32, at + WHO, 0, me | CLAIMING) !== 0) continue;
      } else {
        // The table is full: reuse a dead thread's slot (its tombstone is lost, see the invariant).
        if ((who & 3) !== DEAD || Atomics.compareExchange(i32, at + WHO, who, me | CLAIMING) !== who) continue;
      }
      // A record left odd or set by a thread killed while writing it must not leak into ours.
      Atomics.store(i32, at + SEQ, 0);
      Atomics.store(i32, at + LOCK_UID, 0);
      Atomics.store(i32, at + PARENT, parentId);
      Atomics.store(i32, at + WHO, me | ALIVE);
      return at;
    }
  }
  return -1; // 512 live threads: liveness and detection are off for this one
}

const mine = register();
// A parent that died while this thread was registering marked its ALIVE children only.
if (parentId !== 0 && isDead(parentId)) markDead(THREAD_ID, false);

/**
 * Marks a thread dead (it exited, or its Worker reported 'exit'); with `tree`, also the threads
 * it spawned, which Node stops with it and whose own parents can no longer hear of it.
 */
function markDead(id: number, tree: boolean): void {
  const at = find(id);
  if (at >= 0) {
    const alive = (id << 2) | ALIVE;
    if (Atomics.compareExchange(i32, at + WHO, alive, (id << 2) | DEAD) !== alive) {
      Atomics.compareExchange(i32, at + WHO, (id << 2) | CLAIMING, (id << 2) | DEAD);
    }
  }
  if (!tree) return;
  for (let s = 0; s < THREAD_SLOTS; s++) {
    const child = TABLE_AT + s * SLOT;
    // Only ALIVE slots, and WHO read again after PARENT: a slot being reused (CLAIMING) still
    // shows its dead occupant's PARENT, which must not be paired with the new thread.
    const who = Atomics.load(i32, child + WHO);
    if ((who & 3) !== ALIVE || who >>> 2 === id || Atomics.load(i32, child + PARENT) !== id) continue;
    if (Atomics.load(i32, child + WHO) === who) markDead(who >>> 2, true);
  }
}

(() => {
  // This thread's own exit (not run on worker.terminate(): the parent's watch below covers that).
  hostNode.onExit?.(() => markDead(THREAD_ID, false));
  hostNode.onWorkerCreated?.((threadId, onExit) => {
    const id = threadId + 1; // host.ts: THREAD_ID is Node's threadId + 1
    onExit(() => markDead(id, true));
  });
})();

/** False only when `id` is known to have died. Unknown threads (another registry) count as alive. */
export function isDead(id: number): boolean {
  const at = find(id);
  return at >= 0 && (Atomics.load(i32, at + WHO) & 3) === DEAD;
}

/** A contended release of the lock with this uid: call after clearing the lock word. */
export function bumpEpoch(uid: number): void {
  Atomics.add(i32, EPOCHS_AT + (uid & (BUCKETS - 1)), 1);
}

/** The lock's epoch; read before reading the lock word whose owner goes into a record. */
export function epochOf(uid: number): number {
  return Atomics.load(i32, EPOCHS_AT + (uid & (BUCKETS - 1)));
}

/** Writes this thread's wait record: waiting for lock `uid` (labelled `label`) held by `owner`. */
export function publishWait(uid: number, owner: number, epoch: number, label: string, flags: number): void {
  if (mine < 0) return;
  const seq = Atomics.load(i32, mine + SEQ);
  // Atomics stores throughout: on a weakly ordered CPU plain stores could pass the SEQ store.
  Atomics.store(i32, mine + SEQ, seq + 1); // odd: being written
  Atomics.store(i32, mine + OWNER, owner);
  Atomics.store(i32, mine + EPOCH, epoch);
  Atomics.store(i32, mine + FLAGS, flags);
  if (Atomics.load(i32, mine + LOCK_UID) !== uid) {
    Atomics.store(i32, mine + SINCE, Date.now() & 0x7fffffff);
    const n = Math.min(label.length, NAME_UNITS);
    Atomics.store(i32, mine + NAME_LEN, n);
    for (let k = 0; k < n; k += 2) {
      Atomics.store(i32, mine + NAME + (k >> 1), label.charCodeAt(k) | ((k + 1 < n ? label.charCodeAt(k + 1) : 0) << 16));
    }
    Atomics.store(i32, mine + LOCK_UID, uid);
  }
  Atomics.store(i32, mine + SEQ, seq + 2);
}

/** Clears this thread's wait record (it got the lock, timed out or backed off). */
export function clearWait(): void {
  if (mine < 0 || Atomics.load(i32, mine + LOCK_UID) === 0) return;
  const seq = Atomics.load(i32, mine + SEQ);
  Atomics.store(i32, mine + SEQ, seq + 1);
  Atomics.store(i32, mine + LOCK_UID, 0);
  Atomics.store(i32, mine + SEQ, seq + 2);
}

interface WaitRecord {
  seq: number;
  uid: number;
  owner: number;
  epoch: number;
  since: number;
  flags: number;
  label: string;
}

/** Reads slot `at`'s record consistently, or null if it is not waiting. */
function readRecord(at: number): WaitRecord | null {
  for (let tries = 0; tries < 100; tries++) {
    const seq = Atomics.load(i32, at + SEQ);
    if (seq & 1) continue;
    const uid = Atomics.load(i32, at + LOCK_UID);
    if (uid === 0) {
      if (Atomics.load(i32, at + SEQ) === seq) return null;
      continue;
    }
    const owner = Atomics.load(i32, at + OWNER);
    const epoch = Atomics.load(i32, at + EPOCH);
    const since = Atomics.load(i32, at + SINCE);
    const flags = Atomics.load(i32, at + FLAGS);
    const n = Math.min(Atomics.load(i32, at + NAME_LEN), NAME_UNITS);
    let label = '';
    for (let k = 0; k < n; k++) {
      const word = Atomics.load(i32, at + NAME + (k >> 1));
      label += String.fromCharCode(k & 1 ? word >>> 16 : word & 0xffff);
    }
    if (Atomics.load(i32, at + SEQ) === seq) return { seq, uid, owner, epoch, since, flags, label };
  }
  return null; // a writer kept writing: treat as not waiting (a later check sees it)
}

/** `thread 0 (main)`, `thread 3`: Node's numbering (THREAD_ID is Node's threadId + 1). */
export function threadLabel(id: number): string {
  if (id >= 2 ** 28) return `thread #${id.toString(16)}`;
  return id === 1 ? 'thread 0 (main)' : `thread ${id - 1}`;
}

/** One hop of a cycle: `thread` waits for `lock`, held by `owner`. */
interface Hop {
  thread: number;
  lock: string;
  owner: number;
}

/**
 * Looks for a cycle through this thread, which has published a record for a lock (label
 * `lockLabel`) held by `owner`. Returns the cycle's description if this thread must back off (its
 * record is cleared already), else null. `stillHeld()` tells whether `owner` still holds that
 * lock since this thread looked (the lock's epoch and word unchanged): this thread's own edge,
 * checked last, under the detection lock. That lock is taken only when the owner itself waits,
 * and only briefly; if another thread holds it, returns null (the caller looks again at its next
 * tick).
 */
export function detectCycle(owner: number, lockLabel: string, stillHeld: () => boolean): string | null {
  if (mine < 0) return null;
  // Most parks wait for an owner that runs: no cycle, and no need for the detection lock.
  const first = find(owner);
  if (first < 0) return null;
  const r = readRecord(first);
  if (r === null || (r.flags & BLOCKING) === 0) return null;
  if (!takeDetectLock()) return null;
  try {
    const cycle = walk(owner);
    if (cycle === null) return null;
    // Second look: every record still the same one and not stale (nothing moved while we walked),
    // and our own edge last: the owner may have released our lock before it began to wait.
    const again = walk(owner);
    if (again === null || again.length !== cycle.length || again.some((h, k) => h.seq !== cycle[k]!.seq)) return null;
    if (!stillHeld()) return null;
    clearWait();
    const hops: Hop[] = [{ thread: THREAD_ID, lock: lockLabel, owner }, ...cycle];
    return hops.map((h) => `${threadLabel(h.thread)} waits for ${h.lock} held by ${threadLabel(h.owner)}`).join('; ');
  } finally {
    Atomics.store(i32, DETECT_LOCK, 0);
  }
}

function takeDetectLock(): boolean {
  for (let k = 0; k < 1000; k++) {
    const holder = Atomics.compareExchange(i32, DETECT_LOCK, 0, THREAD_ID);
    if (holder === 0) return true;
    // A detector killed in the middle must not stop detection for ever.
    if (isDead(holder) && Atomics.compareExchange(i32, DETECT_LOCK, holder, THREAD_ID) === holder) return true;
  }
  return false;
}

/** Follows owners from `owner` until it comes back to this thread (a cycle) or the chain ends. */
function walk(owner: number): (Hop & { seq: number })[] | null {
  const hops: (Hop & { seq: number })[] = [];
  let cur = owner;
  for (let k = 0; k < MAX_HOPS; k++) {
    if (cur === THREAD_ID) return hops;
    if (hops.some((h) => h.thread === cur)) return null; // a cycle not through us: its members will see it
    const at = find(cur);
    if (at < 0 || (Atomics.load(i32, at + WHO) & 3) === DEAD) return null;
    const r = readRecord(at);
    if (r === null || (r.flags & BLOCKING) === 0 || epochOf(r.uid) !== r.epoch) return null;
    hops.push({ thread: cur, lock: r.label, owner: r.owner, seq: r.seq });
    cur = r.owner;
  }
  return null;
}

/** One row of {@link waitTable}. */
export interface ThreadWait {
  /** Node's `threadId` of the waiting thread (0: the main thread). */
  thread: number;
  /** The lock it waits for, e.g. `Lock 'jobs'`. */
  waitsFor: string;
  /** Node's `threadId` of the thread that held the lock when the waiter last looked. */
  heldBy: number;
  /** True if that holder has died (the waiter takes the lock over at its next check). */
  holderDead: boolean;
  /** How long it has waited, in ms. */
  waitingMs: number;
  /** True for a blocking wait with no timeout: the kind that can close a deadlock cycle. */
  blocking: boolean;
}

/**
 * Who waits for which lock right now, across every thread that shares this thread's registry
 * (see the README's Deadlocks section). Safe to call from any thread at any time, for example
 * from a watchdog timer when something seems to hang.
 */
export function waitTable(): ThreadWait[] {
  const rows: ThreadWait[] = [];
  const nowMs = Date.now() & 0x7fffffff;
  for (let s = 0; s < THREAD_SLOTS; s++) {
    const at = TABLE_AT + s * SLOT;
    const who = Atomics.load(i32, at + WHO);
    if ((who & 3) !== ALIVE) continue;
    const id = who >>> 2;
    const r = readRecord(at);
    if (r === null) continue;
    rows.push({
      thread: toNodeId(id), waitsFor: r.label, heldBy: toNodeId(r.owner), holderDead: isDead(r.owner),
      waitingMs: (nowMs - r.since) & 0x7fffffff, blocking: (r.flags & BLOCKING) !== 0,
    });
  }
  return rows.sort((a, b) => a.thread - b.thread);
}

/** {@link waitTable} as text, one line per waiting thread (or a line saying nobody waits). */
export function formatWaitTable(rows: ThreadWait[] = waitTable()): string {
  if (rows.length === 0) return 'weft: no thread is waiting for a lock';
  const name = (id: number) => threadLabel(id + 1);
  return rows.map((r) =>
    `${name(r.thread)} waits for ${r.waitsFor} held by ${name(r.heldBy)}${r.holderDead ? ' (dead)' : ''}` +
    ` for ${Math.round(r.waitingMs)} ms${r.blocking ? '' : ' (with a timeout or async)'}`).join('\n');
}

function toNodeId(id: number): number {
  return id >= 2 ** 28 ? id : id - 1;
}
