/**
 * The byte ring under `Queue`, `JoinableQueue` and `Pipe`: a bounded multi-producer,
 * multi-consumer queue of variable-size records in shared memory. Internal; not exported.
 *
 * ## Algorithm
 * A two-lock queue (Michael & Scott's two-lock variant): producers serialize on a producer lock,
 * consumers on a consumer lock, so a producer and a consumer never contend with each other and
 * each side is a single-producer/single-consumer ring while it holds its lock. Positions are byte
 * counters that only grow (wrapping at 2^32) and are masked by the power-of-two capacity
 * (NOTES.md §7). A record is `[u32 header][u32 prefix][payload][pad to 8]`, so every record and
 * every payload starts 8-aligned (a copy into or out of shared memory goes byte by byte, ~7×
 * slower, when its two ends differ in alignment mod 8: V8's relaxed memmove); it may straddle the end of the
 * ring (the payload is then written and read in two pieces), so any record up to the capacity fits.
 * - put: under the producer lock, check space (and `maxsize`), copy the record in, then publish
 *   it with one store to TAIL. A record is therefore visible whole or not at all: a producer that
 *   dies mid-copy has published nothing. The next producer takes the dead one's lock over
 *   (lock.ts) and undoes the counter the dead put may have bumped (PREV_PUT/INTENT_TAIL); a
 *   consumer killed before its HEAD store leaves its record for the next one, likewise.
 * - get: under the consumer lock, read the record at HEAD, hand its bytes to the caller (decoded
 *   in place when contiguous), then publish the space with one store to HEAD.
 * - Waiting. Consumers wait for data on DATA_SEQ and producers for space on SPACE_SEQ, counters
 *   bumped only when the other side counted itself as waiting (NOTES.md §2, §3). A waiter counts
 *   itself, reads the counter, re-checks the ring, then sleeps on the counter, so a bump between
 *   its check and its sleep is never lost. Before counting itself a blocking waiter spins on
 *   TAIL/HEAD, which costs the other side nothing.
 * - close: under the producer lock set CLOSED, then bump both counters and wake everyone. Because
 *   puts check CLOSED under the same lock, every put either published before the close or throws;
 *   a consumer that finds the ring empty and CLOSED re-reads TAIL before it reports the end.
 *
 * ## Layout (Int32 slots, relative to the ring's base; five 64-byte lines, then the data)
 * Each side's lock shares a line with what only that side touches; its published position
 * (TAIL, HEAD) has a line of its own, because the other side reads it, and spins on it when it
 * caught up: on the lock's line, every CAS of a put would first have to take the line back from
 * the spinning consumer (three transfers a put instead of one; a transfer costs more than the
 * rest of an uncontended put). The meta line is written only when a thread goes to sleep. Each
 * side keeps a cached copy of the other side's position and re-reads the real one only when the
 * copy says the ring is full (or empty), as Rigtorp's SPSC queue does.
 * | slot  | name               | written by                  | parked on | meaning                             |
 * |-------|--------------------|-----------------------------|-----------|-------------------------------------|
 * | 0     | CAPACITY           | creator, once               | no        | data bytes, a power of two          |
 * | 1     | CLOSED             | close                       | no        | bit 0: no more puts; bit 1: reader gone |
 * | 2     | MAXSIZE            | creator, once               | no        | most records at once; 0: no limit   |
 * | 3     | PRODUCERS_WAITING  | producers                   | no        | producers asleep (or about to be)   |
 * | 4     | CONSUMERS_WAITING  | consumers                   | no        | consumers asleep (or about to be)   |
 * | 5     | PRODUCER_TICKETS   | producers                   | no        | producers' sleeps ever (wraps)      |
 * | 6     | CONSUMER_TICKETS   | consumers                   | no        | consumers' sleeps ever (wraps)      |
 * | 16–21 | PRODUCER_LOCK      | producers (see lock.ts)     | yes       | serializes producers                |
 * | 22    | PUT_COUNT          | producers, under their lock | no        | records ever published              |
 * | 23    | SEEN_HEAD          | producers, under their lock | no        | cached HEAD                         |
 * | 24    | SEEN_GET_COUNT     | producers, under their lock | no        | cached GET_COUNT (for maxsize)      |
 * | 25    | PRODUCER_SPINNERS  | producers                   | no        | producers spinning now              |
 * | 26    | PREV_PUT           | producers, under their lock | no        | PUT_COUNT before the put under way  |
 * | 27    | INTENT_TAIL        | producers, under their lock | no        | the TAIL that put will publish      |
 * | 32    | TAIL               | producers, under their lock | no        | bytes ever published                |
 * | 33    | DATA_SEQ           | producers                   | yes       | bumped when data arrives for sleepers |
 * | 48–53 | CONSUMER_LOCK      | consumers (see lock.ts)     | yes       | serializes consumers                |
 * | 54    | GET_COUNT          | consumers, under their lock | no        | records ever consumed               |
 * | 55    | SEEN_TAIL          | consumers, under their lock | no        | cached TAIL                         |
 * | 56    | CONSUMER_SPINNERS  | consumers                   | no        | consumers spinning now              |
 * | 57    | PREV_GET           | consumers, under their lock | no        | GET_COUNT before the get under way  |
 * | 58    | INTENT_HEAD        | consumers, under their lock | no        | the HEAD that get will publish      |
 * | 64    | HEAD               | consumers, under their lock | no        | bytes ever consumed                 |
 * | 65    | SPACE_SEQ          | consumers                   | yes       | bumped when space frees for sleepers |
 * Invariants: 0 <= TAIL - HEAD <= CAPACITY (as unsigned 32-bit differences); every record
 * between HEAD and TAIL is complete.
 */
import { encodeStringInto, stringRoom } from './codec.js';
import { ClosedError } from './errors.js';
import { runSync, sleep, SpinPolicy, spinFor, spinOnly, wake, CHANGED, TIMED_OUT, type Machine, type Outcome } from './futex.js';
import { now } from './host.js';
import { LINE } from './layout.js';
import { acquireExclusive, heldByDead, Lock, LOCK_SLOTS } from './lock.js';
import { CHECK_MS } from './registry.js';

const CAPACITY = 0;
const CLOSED = 1;
const MAXSIZE = 2;
const PRODUCERS_WAITING = 3;
const CONSUMERS_WAITING = 4;
/**
 * Tickets. A sleeper adds 1 to its side's WAITING count, loads the SEQ word it will sleep on,
 * then adds 1 to its TICKETS, re-checks the ring and sleeps; it takes 1 off WAITING when it wakes.
 * A waker that finds sleepers reads TICKETS, then WAITING again, and keeps what it read when it
 * last woke them. The same tickets mean nobody began to sleep since, so that wake-up reached
 * everyone asleep now, and another would be a futex call (~1-2 µs) for each item put while a
 * woken thread is still on its way back (a wake takes 30-100 µs here): thousands a second in a
 * one-way stream. Why the order:
 * - a ticket the waker saw was taken after its sleeper loaded SEQ, so before the waker's bump:
 *   that sleeper's wait returns 'not-equal' or is queued when the notify comes (a ticket taken
 *   before the SEQ load could belong to a sleeper that read the bumped SEQ and slept on it);
 * - its count was added before its ticket, and the waker reads WAITING after TICKETS, so the
 *   count it keeps includes that sleeper: "one asleep then and now, same tickets" means the one
 *   now is the one that wake-up went to;
 * - a sleeper counted but without a ticket yet re-checks the ring after the waker's store.
 * (Both found in review: counts and tickets once shared a word, which wrapped at 1024 sleepers,
 * and the ticket once came before the SEQ load.)
 */
const PRODUCER_TICKETS = 5;
const CONSUMER_TICKETS = 6;
const PRODUCER_LOCK = LINE;
const PUT_COUNT = LINE + LOCK_SLOTS;
const SEEN_HEAD = PUT_COUNT + 1;
const SEEN_GET_COUNT = PUT_COUNT + 2;
const PRODUCER_SPINNERS = PUT_COUNT + 3;
const PREV_PUT = PUT_COUNT + 4;
const INTENT_TAIL = PUT_COUNT + 5;
const TAIL = 2 * LINE;
const DATA_SEQ = TAIL + 1;
const CONSUMER_LOCK = 3 * LINE;
const GET_COUNT = 3 * LINE + LOCK_SLOTS;
const SEEN_TAIL = GET_COUNT + 1;
const CONSUMER_SPINNERS = GET_COUNT + 2;
const PREV_GET = GET_COUNT + 3;
const INTENT_HEAD = GET_COUNT + 4;
const HEAD = 4 * LINE;
const SPACE_SEQ = HEAD + 1;
/** Header size in Int32 slots; the data follows. */
export const RING_HEADER_SLOTS = 5 * LINE;
/** Slot indices, for diagnostics and tests. */
export const RING_LAYOUT = {
  CAPACITY, CLOSED, MAXSIZE, PRODUCERS_WAITING, CONSUMERS_WAITING, PRODUCER_TICKETS, CONSUMER_TICKETS, PRODUCER_LOCK, TAIL, PUT_COUNT,
  DATA_SEQ, PREV_PUT, INTENT_TAIL, CONSUMER_LOCK, HEAD, GET_COUNT, SPACE_SEQ, PREV_GET, INTENT_HEAD, SEEN_HEAD, SEEN_TAIL,
} as const;

/** CLOSED bits. */
export const CLOSED_WRITE = 1;
export const CLOSED_READ = 2;

/** Record header: payload length in the low 29 bits, flags above; then a u32 prefix (Pipe: a message's total length). */
export const FLAG_MORE = 1 << 31; // more pieces of the same message follow
export const FLAG_RAW = 1 << 30; // raw bytes (sendBytes), not an encoded value
export const FLAG_FIRST = 1 << 29; // first piece: the prefix is the message's total length
export const LENGTH_MASK = (1 << 29) - 1;
const HEADER_BYTES = 8;
/** Payloads up to this many bytes are copied a word at a time when the caller has them as words (longer: TypedArray.set). */
const WORD_COPY = 512;
/** tryPutString's answers. */
export const PLACED = 1;
export const NO_ROOM = -1;
export const DECLINED = -2;

export const MIN_CAPACITY = 64;
export const MAX_CAPACITY = 1 << 30;

/** Bytes one record of `payload` bytes takes in the ring (a multiple of 8: see the module comment). */
export function recordBytes(payload: number): number {
  return HEADER_BYTES + ((payload + 7) & ~7);
}

/** Rounds a requested capacity up to a power of two within bounds. */
export function ringCapacity(requested: number): number {
  let c = MIN_CAPACITY;
  while (c < requested) c *= 2;
  return c;
}

/** Total bytes of a ring of `capacity` data bytes, header included. */
export function ringBytes(capacity: number): number {
  return RING_HEADER_SLOTS * 4 + capacity;
}

/**
 * How long an operation with `deadline` may wait for a ring's internal lock. The lock is held
 * only for a copy, but a holder that died without its death being known yet holds it for ever:
 * an operation gives up at its own deadline, and one that must not wait (`timeout` 0, deadline
 * -Infinity) after one CHECK_MS tick, which no live holder comes near.
 */
export function lockDeadline(deadline: number): number {
  return deadline === -Infinity ? now() + CHECK_MS : deadline;
}

/** Result of a get attempt that found nothing. */
export const EMPTY: unique symbol = Symbol('empty');

/** What a reader returns to leave the record where it is (a fast path declining it). */
export const KEEP: unique symbol = Symbol('keep');

/**
 * A record handed to a consumer: its header and its payload as `bytes[start, end)` (a view of the
 * ring, or of a scratch copy when it straddles the ring's end; valid only during the callback).
 */
export type Reader<T> = (header: number, bytes: Uint8Array, start: number, end: number) => T | typeof KEEP;

/**
 * One ring inside a shared block. Each thread's Queue/Connection instance owns one `Ring` view.
 */
export class Ring {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly capacity: number;
  readonly #mask: number;
  readonly #u32: Uint32Array;
  /** The data as Int32 words, for word copies. */
  readonly #words: Int32Array;
  readonly #producerLock: Lock;
  readonly #consumerLock: Lock;
  readonly #producerSpin: SpinPolicy;
  readonly #consumerSpin: SpinPolicy;
  /** What this thread read when it last woke consumers (their count, tickets) or producers (tickets): see PRODUCER_TICKETS. */
  #wokeConsumers = 0;
  #consumerTickets = -1;
  #producerTickets = -1;
  /** A TAIL this thread loaded in dataOrSpin for the get under way (see #attemptGet). */
  #tailHint = 0;
  /** The HEAD dataOrSpin read with #tailHint; -1 (never a HEAD: HEADs are multiples of 8) once used. */
  #hintHead = -1;
  /** The HEAD a failed put attempt decided "full" on (see #attemptPut). */
  #fullAt = 0;
  /** Scratch for records that straddle the end of the ring. */
  #scratch = new Uint8Array(256);
  readonly #label: string;

  /**
   * Attaches to (or, when `init`, initialises) the ring whose header starts at `byteOffset`.
   * `spinFloor`: the consumers' least spin budget (futex.ts HAND_OFF_SPIN), for a pool's task ring.
   */
  constructor(buffer: SharedArrayBuffer, byteOffset: number, capacity: number, maxsize: number, init: boolean, label: string, spinFloor?: number) {
    this.#label = label;
    this.i32 = new Int32Array(buffer, byteOffset, RING_HEADER_SLOTS);
    if (init) {
      this.i32[CAPACITY] = capacity;
      this.i32[MAXSIZE] = maxsize;
    } else {
      capacity = this.i32[CAPACITY]!;
    }
    this.capacity = capacity;
    this.#mask = capacity - 1;
    const dataAt = byteOffset + RING_HEADER_SLOTS * 4;
    this.u8 = new Uint8Array(buffer, dataAt, capacity);
    this.#u32 = new Uint32Array(buffer, dataAt, capacity >> 2);
    this.#words = new Int32Array(buffer, dataAt, capacity >> 2);
    const lockAt = (slot: number) => ({ $weft: 'Lock', buffer, byteOffset: byteOffset + slot * 4, name: label });
    this.#producerLock = init ? new Lock({ buffer, byteOffset: byteOffset + PRODUCER_LOCK * 4, name: label }) : Lock.from(lockAt(PRODUCER_LOCK));
    this.#consumerLock = init ? new Lock({ buffer, byteOffset: byteOffset + CONSUMER_LOCK * 4, name: label }) : Lock.from(lockAt(CONSUMER_LOCK));
    this.#producerSpin = new SpinPolicy(this.i32, PRODUCER_SPINNERS);
    this.#consumerSpin = new SpinPolicy(this.i32, CONSUMER_SPINNERS, spinFloor);
  }

  get maxsize(): number {
    return this.i32[MAXSIZE]!;
  }

  /** Records in the ring now (exact when no put or get is under way). */
  get size(): number {
    const i32 = this.i32;
    const gets = Atomics.load(i32, GET_COUNT);
    // Consumer side likewise: a get killed after its GET_COUNT bump, before its HEAD store.
    const taken = Atomics.load(i32, HEAD) !== i32[INTENT_HEAD] && heldByDead(this.#consumerLock) ? i32[PREV_GET]! : gets;
    // (Never below 0: a racing reader can see a get's count before the put's it followed.)
    const n = (this.putCount - taken) | 0;
    return n > 0 ? n : 0;
  }

  /**
   * Records ever published. A producer killed between its PUT_COUNT bump and its TAIL store
   * published nothing: until the next producer takes its lock over and undoes the bump, read
   * around it, so `size`, `empty()` and a JoinableQueue's count are right in the meantime.
   */
  get putCount(): number {
    const i32 = this.i32;
    const puts = Atomics.load(i32, PUT_COUNT);
    return Atomics.load(i32, TAIL) !== i32[INTENT_TAIL] && heldByDead(this.#producerLock) ? i32[PREV_PUT]! : puts;
  }

  /** Bytes in use now. */
  get used(): number {
    return (Atomics.load(this.i32, TAIL) - Atomics.load(this.i32, HEAD)) >>> 0;
  }

  closedBits(): number {
    return Atomics.load(this.i32, CLOSED);
  }

  /**
   * CLOSED by a plain read: a hint for fast paths that re-check under the ring's locks (a close
   * by another thread may be seen a call late; one by this thread, at once).
   */
  closedHint(): number {
    return this.i32[CLOSED]!;
  }

  /** True when a record is waiting (or, with `orClosed`, when the writer closed). */
  readable(orClosed: boolean): boolean {
    if (Atomics.load(this.i32, TAIL) !== Atomics.load(this.i32, HEAD)) return true;
    return orClosed && (Atomics.load(this.i32, CLOSED) & CLOSED_WRITE) !== 0;
  }

  // -------------------------------------------------------------------------------------------
  // Producing

  /**
   * One put without waiting, for the fast path: false if the ring is full or another producer
   * holds the lock (the caller then runs {@link put}). `prefix` >= 0 goes in the record's second
   * header word (a message's total length).
   */
  tryPut(payload: Uint8Array, flags: number, prefix: number, readerMatters: boolean, words: Int32Array | null = null): boolean {
    if (!this.#producerLock.tryAcquire()) return false;
    let placed: boolean;
    try {
      placed = this.#attemptPut(payload, flags, prefix, readerMatters, words);
    } finally {
      this.#producerLock.release();
    }
    if (placed) this.#dataArrived();
    return placed;
  }

  /**
   * Puts one record, waiting for space until `deadline`; returns false on timeout. Throws
   * `ClosedError` once closed for writing (or, with `readerMatters`, once the reader is gone).
   * With `holdLock` the caller already holds the producer lock (a message streamed in pieces).
   * `words`, when given, is the payload as 32-bit words from word 0 (an Encoder's `words`).
   */
  *put(payload: Uint8Array, flags: number, prefix: number, deadline: number, spin: boolean, readerMatters: boolean, holdLock = false, words: Int32Array | null = null): Machine<boolean> {
    const i32 = this.i32;
    const closedBits = readerMatters ? CLOSED_WRITE | CLOSED_READ : CLOSED_WRITE;
    for (;;) {
      if (!holdLock && !(yield* this.lockProducer(lockDeadline(deadline)))) return false;
      let placed: boolean;
      try {
        placed = this.#attemptPut(payload, flags, prefix, readerMatters, words);
      } finally {
        if (!holdLock) this.#producerLock.release();
      }
      if (placed) {
        this.#dataArrived();
        return true;
      }
      // Full: wait for a consumer to move HEAD from where the attempt saw it.
      const head = this.#fullAt;
      if (spin) {
        spin = false;
        if ((yield spinOnly(i32, HEAD, head, this.#producerSpin)) === CHANGED) continue;
      }
      Atomics.add(i32, PRODUCERS_WAITING, 1);
      let outcome;
      // In ticks: a consumer killed between its HEAD store and its wake-up leaves nobody to wake us.
      const tick = Math.min(deadline, now() + CHECK_MS);
      try {
        const seq = Atomics.load(i32, SPACE_SEQ);
        Atomics.add(i32, PRODUCER_TICKETS, 1); // after the SEQ load: see PRODUCER_TICKETS
        if (Atomics.load(i32, HEAD) !== head || (Atomics.load(i32, CLOSED) & closedBits) !== 0) continue;
        outcome = yield sleep(i32, SPACE_SEQ, seq, tick, this.#producerSpin);
      } finally {
        Atomics.sub(i32, PRODUCERS_WAITING, 1);
      }
      if (outcome === TIMED_OUT && tick === deadline && Atomics.load(i32, HEAD) === head) return false;
    }
  }

  /** With the producer lock held: places the record if it fits; false if the ring is full. */
  #attemptPut(payload: Uint8Array, flags: number, prefix: number, readerMatters: boolean, words: Int32Array | null): boolean {
    this.#checkWritable(readerMatters);
    const n = payload.length;
    const tail = this.#reserve(recordBytes(n));
    if (tail === NO_ROOM) return false;
    const from = this.#header(tail, n, flags, prefix);
    const first = this.capacity - from;
    if (words !== null && n <= WORD_COPY) {
      // A word at a time (from and first are multiples of 8; the last word's extra bytes land in
      // the record's padding): TypedArray.prototype.set has a fixed cost of ~50 ns, and into
      // shared memory copies byte by byte unless both ends share their alignment mod 8.
      const d = this.#words;
      const at = from >> 2;
      const nw = (n + 3) >> 2;
      const fw = first >> 2;
      if (nw <= fw) {
        for (let i = 0; i < nw; i++) d[at + i] = words[i]!;
      } else {
        for (let i = 0; i < fw; i++) d[at + i] = words[i]!;
        for (let i = fw; i < nw; i++) d[i - fw] = words[i]!;
      }
    } else if (n <= 32 && n <= first) {
      // Small records: a byte loop beats TypedArray.prototype.set's fixed cost.
      const u8 = this.u8;
      for (let i = 0; i < n; i++) u8[from + i] = payload[i]!;
    } else if (n <= first) {
      this.u8.set(payload, from);
    } else {
      this.u8.set(payload.subarray(0, first), from);
      this.u8.set(payload.subarray(first), 0);
    }
    this.#commit(tail, recordBytes(n));
    return true;
  }

  /**
   * A string item encoded straight into the ring (codec.ts encodeStringInto: no scratch, no
   * copy), without waiting: PLACED; NO_ROOM if the ring is full for its worst case or another
   * producer holds the lock; DECLINED where it must go the usual way (its worst case would
   * straddle the ring's end, or the codec declines it). Nothing is published unless PLACED.
   * With `message`, the record is a whole Pipe message (FLAG_FIRST, its length as the prefix, and
   * the reader's close matters).
   */
  tryPutString(s: string, message: boolean): number {
    if (!this.#producerLock.tryAcquire()) return NO_ROOM;
    let r: number;
    try {
      r = this.#attemptPutString(s, message);
    } finally {
      this.#producerLock.release();
    }
    if (r === PLACED) this.#dataArrived();
    return r;
  }

  #attemptPutString(s: string, message: boolean): number {
    this.#checkWritable(message);
    const room = stringRoom(s);
    const tail = this.#reserve(recordBytes(room));
    if (tail === NO_ROOM) return NO_ROOM;
    const from = (tail + HEADER_BYTES) & this.#mask;
    if (from + room > this.capacity) return DECLINED;
    const n = encodeStringInto(s, this.u8, from);
    if (n < 0) return DECLINED;
    if (message) this.#header(tail, n, FLAG_FIRST, n);
    else this.#header(tail, n, 0, -1);
    this.#commit(tail, recordBytes(n));
    return PLACED;
  }

  /**
   * With the producer lock held: TAIL if a record of `need` bytes fits now, else NO_ROOM. Space
   * comes from the cached HEAD first; the real one only when the cache says full. On failure,
   * #fullAt keeps the HEAD the decision was made on: the waiter must compare against that very
   * value (a HEAD read after the failure could already include the get that made room, whose
   * wake-up went to nobody, and the producer would sleep with room in the ring).
   */
  #reserve(need: number): number {
    const i32 = this.i32;
    const tail = i32[TAIL]!; // only producers write TAIL, and we hold their lock
    if (this.capacity - ((tail - i32[SEEN_HEAD]!) >>> 0) < need) {
      const head = Atomics.load(i32, HEAD);
      i32[SEEN_HEAD] = head;
      if (this.capacity - ((tail - head) >>> 0) < need) {
        this.#fullAt = head;
        return NO_ROOM;
      }
    }
    const limit = i32[MAXSIZE]!;
    if (limit !== 0 && ((i32[PUT_COUNT]! - i32[SEEN_GET_COUNT]!) | 0) >= limit) {
      // HEAD before GET_COUNT: a get that lands after this read of HEAD moves HEAD past it.
      const head = Atomics.load(i32, HEAD);
      i32[SEEN_GET_COUNT] = Atomics.load(i32, GET_COUNT);
      if (((i32[PUT_COUNT]! - i32[SEEN_GET_COUNT]!) | 0) >= limit) {
        this.#fullAt = head;
        return NO_ROOM;
      }
    }
    return tail;
  }

  /** Writes a record's two header words at `tail`; returns where its payload starts. */
  #header(tail: number, length: number, flags: number, prefix: number): number {
    // (tail is 8-aligned and masked at most capacity - 8: both words lie before the ring's end.)
    const at = tail & this.#mask;
    this.#u32[at >> 2] = (length | flags) >>> 0;
    this.#u32[(at >> 2) + 1] = prefix >= 0 ? prefix : 0;
    return (at + HEADER_BYTES) & this.#mask;
  }

  /** Publishes the record of `need` bytes written at `tail` (producer lock held). */
  #commit(tail: number, need: number): void {
    const i32 = this.i32;
    // A put killed from here on is undone or completed by the next producer (#recoverProducer):
    // the intent first, then PUT_COUNT, then TAIL, the one store that commits the put.
    // PUT_COUNT is a plain store: TAIL's store publishes it with the record (each Atomics call
    // costs ~15-20 ns here, NOTES.md; readers that need it exact synchronize on TAIL or the lock).
    const count = i32[PUT_COUNT]!;
    i32[PREV_PUT] = count;
    i32[INTENT_TAIL] = (tail + need) | 0;
    i32[PUT_COUNT] = (count + 1) | 0;
    // Ordering: the record's bytes and PUT_COUNT are written before TAIL publishes them.
    Atomics.store(i32, TAIL, (tail + need) | 0);
  }

  /**
   * After a put: wake one sleeping consumer, if any may be asleep, unless the one consumer asleep
   * is the one this thread's last wake-up was for (one asleep then and now, the same tickets: see
   * PRODUCER_TICKETS).
   */
  #dataArrived(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, CONSUMERS_WAITING) === 0) return;
    const tickets = Atomics.load(i32, CONSUMER_TICKETS);
    const asleep = Atomics.load(i32, CONSUMERS_WAITING);
    if (asleep === 0 || (asleep === 1 && this.#wokeConsumers === 1 && tickets === this.#consumerTickets)) return;
    this.#wokeConsumers = asleep;
    this.#consumerTickets = tickets;
    Atomics.add(i32, DATA_SEQ, 1);
    wake(i32, DATA_SEQ, 1);
  }

  /** If a dead thread holds the producer lock: takes it over (which repairs the ring) and lets go; gives up at `deadline`. */
  *recoverDeadProducer(deadline = Infinity): Machine<void> {
    if (!heldByDead(this.#producerLock)) return;
    if (yield* this.lockProducer(deadline)) this.unlockProducer();
  }

  /** Takes the producer lock as a machine (also for a multi-record message); false past `deadline`. */
  *lockProducer(deadline = Infinity): Machine<boolean> {
    if (!(yield* acquireExclusive(this.#producerLock, deadline))) return false;
    if (this.#producerLock.ownerDied) this.#recoverProducer();
    return true;
  }

  /**
   * The previous producer died holding the lock (registry.ts): if its put never reached the TAIL
   * store, undo its PUT_COUNT; its record was never published, so no consumer sees a part of it.
   */
  #recoverProducer(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, TAIL) !== i32[INTENT_TAIL]) Atomics.store(i32, PUT_COUNT, i32[PREV_PUT]!);
  }

  unlockProducer(): void {
    this.#producerLock.release();
  }

  #checkWritable(readerMatters: boolean): void {
    // A plain read, under the producer lock: CLOSED_WRITE is set under that lock, so the lock
    // orders it; CLOSED_READ (set by the reader, lock-free) may be seen one put late, as a
    // closed socket's peer learns of it. A producer that waits for space re-reads it atomically.
    const c = this.i32[CLOSED]!;
    if (c & CLOSED_WRITE) throw new ClosedError(`${this.#label}: closed for writing`);
    if (readerMatters && (c & CLOSED_READ)) throw new ClosedError(`${this.#label}: the reading end is closed`);
  }

  // -------------------------------------------------------------------------------------------
  // Consuming

  /**
   * One get without waiting, for the fast path: EMPTY if nothing is there or another consumer
   * holds the lock (the caller then runs {@link get}).
   */
  tryGet<T>(read: Reader<T>): T | typeof EMPTY {
    if (!this.#consumerLock.tryAcquire()) return EMPTY; // (also when this thread holds it: no fast path then)
    let value: T | typeof EMPTY;
    try {
      value = this.#attemptGet(read);
    } finally {
      this.#consumerLock.release();
    }
    if (value !== EMPTY) this.#spaceFreed();
    return value;
  }

  /**
   * Takes one record, waiting until `deadline`, and returns `read(header, bytes)` (the bytes are
   * valid only during the call, which runs under the consumer lock). Returns EMPTY on timeout;
   * throws `ClosedError` when the writer closed and the ring is drained. With `holdLock` the
   * caller already holds the consumer lock (a message read in pieces).
   */
  *get<T>(read: Reader<T>, deadline: number, spin: boolean, holdLock = false): Machine<T | typeof EMPTY> {
    let lastTry = false;
    for (;;) {
      if (!holdLock && !(yield* this.lockConsumer(lockDeadline(deadline)))) return EMPTY;
      let value: T | typeof EMPTY;
      try {
        value = this.#attemptGet(read);
      } finally {
        if (!holdLock) this.#consumerLock.release();
      }
      if (value !== EMPTY) {
        this.#spaceFreed();
        return value;
      }
      if (this.#drained()) throw new ClosedError(`${this.#label}: closed and drained`);
      if (lastTry) return EMPTY;
      // On timeout, look once more: a put may have landed as we woke (its wake-up spent on us).
      if ((yield* this.#awaitData(deadline, spin)) === TIMED_OUT) lastTry = true;
      spin = false;
    }
  }

  /**
   * A consumer's fast path, before {@link tryGet}: true when a record looks present; when the ring
   * looks empty and `spin` is set, spins (within the consumer spin policy) until one is. A hint:
   * the cached TAIL and HEAD are plain reads, the real TAIL is loaded only when the cache says
   * empty, so a consumer that is behind pays no Atomics call and one that caught up pays one
   * (a failed `tryGet` costs three; each Atomics call ~15-20 ns here, NOTES.md).
   */
  dataOrSpin(spin: boolean): boolean {
    const i32 = this.i32;
    const head = i32[HEAD]!;
    if (i32[SEEN_TAIL] !== head) return true;
    let tail = Atomics.load(i32, TAIL);
    if (tail === head) {
      if (!spin) return false;
      tail = spinFor(i32, TAIL, tail, this.#consumerSpin);
      if (tail === head) return false;
    }
    this.#tailHint = tail;
    this.#hintHead = head;
    return true;
  }

  /**
   * Waits until a record is there or the writer closed (`poll`); false on timeout. Takes nothing.
   */
  *waitReadable(deadline: number, spin: boolean): Machine<boolean> {
    for (;;) {
      if (this.readable(true)) return true;
      if ((yield* this.#awaitData(deadline, spin)) === TIMED_OUT) return this.readable(true);
      spin = false;
    }
  }

  /** True when the writer closed and every record was taken. */
  #drained(): boolean {
    const i32 = this.i32;
    if ((Atomics.load(i32, CLOSED) & CLOSED_WRITE) === 0) return false;
    // CLOSED was set after the last put published: read TAIL after it before calling it the end.
    return Atomics.load(i32, TAIL) === Atomics.load(i32, HEAD);
  }

  /**
   * One wait for data: spin on TAIL (if asked), else count ourselves as waiting, re-check, and
   * sleep on DATA_SEQ. Returns CHANGED when there is something to look at, else the sleep's outcome.
   */
  *#awaitData(deadline: number, spin: boolean): Machine<Outcome> {
    const i32 = this.i32;
    const tail = Atomics.load(i32, TAIL);
    if (tail !== Atomics.load(i32, HEAD) || (Atomics.load(i32, CLOSED) & CLOSED_WRITE)) return CHANGED;
    if (spin && (yield spinOnly(i32, TAIL, tail, this.#consumerSpin)) === CHANGED) return CHANGED;
    Atomics.add(i32, CONSUMERS_WAITING, 1);
    try {
      const seq = Atomics.load(i32, DATA_SEQ);
      Atomics.add(i32, CONSUMER_TICKETS, 1); // after the SEQ load: see PRODUCER_TICKETS
      // Counted before this re-check: a put after it sees us and bumps DATA_SEQ.
      if (Atomics.load(i32, TAIL) !== tail || (Atomics.load(i32, CLOSED) & CLOSED_WRITE)) return CHANGED;
      // In ticks: a producer killed between its TAIL store and its wake-up leaves nobody to wake us.
      const tick = Math.min(deadline, now() + CHECK_MS);
      const outcome = yield sleep(i32, DATA_SEQ, seq, tick, this.#consumerSpin);
      return outcome === TIMED_OUT && tick !== deadline ? CHANGED : outcome;
    } finally {
      Atomics.sub(i32, CONSUMERS_WAITING, 1);
    }
  }

  /** With the consumer lock held: reads and consumes the next record, or returns EMPTY. */
  #attemptGet<T>(read: Reader<T>): T | typeof EMPTY {
    const i32 = this.i32;
    const head = i32[HEAD]!; // only consumers write HEAD, and we hold their lock
    if (i32[SEEN_TAIL] === head) {
      // A TAIL that this get's dataOrSpin loaded, at this same HEAD, is a valid cache while it is
      // ahead of HEAD (TAIL only grows, and that load synchronized with the puts up to it). Only
      // then: an older hint could alias a position 2^32 bytes on (found in review).
      const hint = this.#tailHint;
      const fresh = this.#hintHead === head;
      this.#hintHead = -1;
      const ahead = (hint - head) >>> 0;
      i32[SEEN_TAIL] = fresh && ahead !== 0 && ahead <= this.capacity ? hint : Atomics.load(i32, TAIL);
      if (i32[SEEN_TAIL] === head) return EMPTY;
    }
    const header = this.#u32[(head & this.#mask) >> 2]!;
    const n = header & LENGTH_MASK;
    const from = ((head & this.#mask) + HEADER_BYTES) & this.#mask;
    const value = from + n <= this.capacity
      ? read(header, this.u8, from, from + n)
      : this.#readStraddling(read, header, from, n);
    if (value === KEEP) return EMPTY;
    // As in #attemptPut: the intent, GET_COUNT (before HEAD, which producers' maxsize check
    // relies on), then HEAD, the commit (#recoverConsumer undoes a get killed before it).
    const count = i32[GET_COUNT]!;
    i32[PREV_GET] = count;
    i32[INTENT_HEAD] = (head + recordBytes(n)) | 0;
    i32[GET_COUNT] = (count + 1) | 0; // plain, as PUT_COUNT: HEAD's store publishes it
    // Ordering: the record is fully read before HEAD hands its space back to producers.
    Atomics.store(i32, HEAD, (head + recordBytes(n)) | 0);
    return value;
  }

  /**
   * After a get: wake sleeping producers, if any may be asleep, unless this thread's last wake-up
   * (of all of them) came after every one of them began to sleep (the same tickets: see
   * PRODUCER_TICKETS).
   */
  #spaceFreed(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, PRODUCERS_WAITING) === 0) return;
    const tickets = Atomics.load(i32, PRODUCER_TICKETS);
    if (tickets === this.#producerTickets) return;
    this.#producerTickets = tickets;
    Atomics.add(i32, SPACE_SEQ, 1);
    wake(i32, SPACE_SEQ);
  }

  /** Takes the consumer lock as a machine (also for a multi-record message); false past `deadline`. */
  *lockConsumer(deadline = Infinity): Machine<boolean> {
    if (!(yield* acquireExclusive(this.#consumerLock, deadline))) return false;
    if (this.#consumerLock.ownerDied) this.#recoverConsumer();
    return true;
  }

  /** As {@link #recoverProducer}: a get killed before its HEAD store leaves its record in the ring. */
  #recoverConsumer(): void {
    const i32 = this.i32;
    if (Atomics.load(i32, HEAD) !== i32[INTENT_HEAD]) Atomics.store(i32, GET_COUNT, i32[PREV_GET]!);
  }

  unlockConsumer(): void {
    this.#consumerLock.release();
  }

  /**
   * With the consumer lock held: the header and prefix (a message's total length) of the next
   * record, without taking it; null if there is none.
   */
  peek(): { header: number; prefix: number } | null {
    const head = this.i32[HEAD]!;
    if (Atomics.load(this.i32, TAIL) === head) return null;
    const at = head & this.#mask;
    return { header: this.#u32[at >> 2]! | 0, prefix: this.#u32[(at >> 2) + 1]! };
  }

  /**
   * Hands `read` a record's payload that straddles the ring's end, copied into the scratch buffer.
   * It goes in at `from & 7` (0 while payloads are 8-aligned), where both pieces keep their
   * alignment mod 8: a copy out of shared memory between ends that differ there goes byte by byte
   * (V8's relaxed memmove, ~7× slower); with 4-byte headers a 64 KiB message made the reader fall
   * behind once every 16 messages that way.
   */
  #readStraddling<T>(read: Reader<T>, header: number, from: number, n: number): T | typeof KEEP {
    const first = this.capacity - from;
    const at = from & 7;
    if (this.#scratch.length < at + n) this.#scratch = new Uint8Array(Math.max(at + n, this.#scratch.length * 2));
    const out = this.#scratch;
    out.set(this.u8.subarray(from, this.capacity), at);
    out.set(this.u8.subarray(0, n - first), at + first);
    return read(header, out, at, at + n);
  }

  // -------------------------------------------------------------------------------------------
  // Closing

  /** Closes for writing: later puts throw, gets drain then throw. Idempotent. */
  closeWrite(): void {
    runSync(this.lockProducer());
    try {
      Atomics.or(this.i32, CLOSED, CLOSED_WRITE);
    } finally {
      this.unlockProducer();
    }
    this.#wakeAll();
  }

  /** Marks the reader gone: producers that care (pipes) throw instead of waiting for space. */
  closeRead(): void {
    Atomics.or(this.i32, CLOSED, CLOSED_READ);
    this.#wakeAll();
  }

  #wakeAll(): void {
    const i32 = this.i32;
    Atomics.add(i32, DATA_SEQ, 1);
    Atomics.add(i32, SPACE_SEQ, 1);
    wake(i32, DATA_SEQ);
    wake(i32, SPACE_SEQ);
  }
}

/** Yields `next()` until it throws `ClosedError` (a drained, closed channel): the channels' iterators. */
export function* untilClosed<T>(next: () => T): Generator<T, void, undefined> {
  for (;;) {
    let v: T;
    try {
      v = next();
    } catch (e) {
      if (e instanceof ClosedError) return;
      throw e;
    }
    yield v;
  }
}

/** As `untilClosed`, awaiting `next()`. */
export async function* untilClosedAsync<T>(next: () => Promise<T>): AsyncGenerator<T, void, undefined> {
  for (;;) {
    let v: T;
    try {
      v = await next();
    } catch (e) {
      if (e instanceof ClosedError) return;
      throw e;
    }
    yield v;
  }
}
