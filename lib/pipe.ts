/**
 * `Pipe` and `Connection` (Python's `multiprocessing.Pipe()` and its two connection ends):
 * a message channel between two ends, in both directions (or one, with `duplex: false`).
 *
 * ## Design
 * Each direction is one byte ring (lib/ring.ts). A message is a run of records: the first carries
 * FIRST and the message's total length, every record but the last carries MORE. A message that
 * fits in the ring is one record; a larger one streams through in pieces of a quarter of the
 * ring, the sender holding the producer lock and the receiver the consumer lock for the whole
 * message, so pieces of two messages never interleave and boundaries are kept (an empty
 * `sendBytes` is a message too). `sendBytes` messages carry RAW and are copied as they are;
 * `send` messages are encoded by the codec. `recv` of a RAW message returns its bytes;
 * `recvBytes` of an encoded message returns the encoded bytes (as Python returns the pickle).
 * `recvBytes(maxLength)` and `recvBytesInto` look at the total length before taking anything, so
 * a message that does not fit stays in the pipe and the call throws `RangeError`.
 *
 * Closing: `close()` on an end closes its outgoing ring for writing (the peer drains what is
 * left, then gets `ClosedError`, Python's `EOFError`) and marks its incoming ring's reader gone
 * (the peer's `send` throws `ClosedError`, Python's `BrokenPipeError`). `poll` is true when a
 * message or the peer's close is pending.
 *
 * Async calls on one `Connection` instance run one at a time, in call order: a message streamed
 * in pieces holds its ring's lock across awaits, and a second call of the same thread must wait
 * for it rather than find the lock held by its own thread.
 *
 * ## Layout (Int32 slots)
 * | slot        | name    | written by      | parked on | meaning                                     |
 * |-------------|---------|-----------------|-----------|---------------------------------------------|
 * | 0           | TAG     | creator, once   | no        | kind + layout version                       |
 * | 1           | DUPLEX  | creator, once   | no        | 1: two rings (end 0 → end 1, end 1 → end 0); 0: one ring (end 1 → end 0) |
 * | 16…         | RING 0  | see ring.ts     | yes       | messages to end 0 (from end 1)              |
 * | after it    | RING 1  | see ring.ts     | yes       | messages to end 1 (from end 0); duplex only |
 */
import { decode, Encoder } from './codec.js';
import { ClosedError, TimeoutError } from './errors.js';
import { checkTimeout, deadlineOf, runAsync, runSync, type Machine } from './futex.js';
import { attach, describe, label, LINE } from './layout.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';
import {
  EMPTY, FLAG_FIRST, FLAG_MORE, FLAG_RAW, KEEP, LENGTH_MASK, lockDeadline, MAX_CAPACITY, PLACED, recordBytes, Ring, RING_HEADER_SLOTS,
  ringBytes, ringCapacity, untilClosed, untilClosedAsync, CLOSED_READ, CLOSED_WRITE,
} from './ring.js';

const DUPLEX = 1;
const RING0_AT = LINE;
const DEFAULT_CAPACITY = 1 << 20;

/** Options of `new Pipe()`. */
export interface PipeOptions extends CommonOptions {
  /** Both ends send and receive (default true); false: `[reader, writer]`. */
  duplex?: boolean;
  /** Bytes of each direction's ring, rounded up to a power of two (default 1 MiB). */
  capacity?: number;
}

function ringAt(capacity: number, index: 0 | 1): number {
  return (RING0_AT << 2) + index * ringBytes(capacity);
}

/** A two-ended message channel. `const [a, b] = new Pipe()`; with `duplex: false`, `[reader, writer]`. */
export class Pipe {
  declare readonly $weft: 'Pipe';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  readonly #ends: readonly [Connection, Connection];

  constructor(options?: PipeOptions) {
    let capacity = DEFAULT_CAPACITY;
    let duplex = true;
    if (options !== undefined && options !== null && typeof options === 'object') {
      const where = label('Pipe', typeof options.name === 'string' ? options.name : undefined);
      const requested = options.capacity ?? DEFAULT_CAPACITY;
      if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 1 || requested > MAX_CAPACITY) {
        throw new RangeError(`${where}: capacity must be an integer number of bytes from 1 to ${MAX_CAPACITY}, got ${describe(requested)}`);
      }
      capacity = ringCapacity(requested);
      if (options.duplex !== undefined && typeof options.duplex !== 'boolean') {
        throw new TypeError(`${where}: duplex must be a boolean, got ${describe(options.duplex)}`);
      }
      duplex = options.duplex ?? true;
    }
    const b = openBlock('Pipe', (ringAt(capacity, duplex ? 1 : 0) + ringBytes(capacity)) >> 2, options);
    if (b.fresh) b.i32[DUPLEX] = duplex ? 1 : 0;
    defineHandle(this, 'Pipe', b);
    this.#ends = [new Connection(CREATE, this, 0, b.fresh ? capacity : 0), new Connection(CREATE, this, 1, 0)];
  }

  /** Restores a `Pipe` from its structured clone (or returns the instance given). */
  static from(value: unknown): Pipe {
    return fromClone(Pipe, 'Pipe', RING0_AT + RING_HEADER_SLOTS, value);
  }

  /** The two ends: `[a, b]`, or `[reader, writer]` for a one-way pipe. */
  *[Symbol.iterator](): IterableIterator<Connection> {
    yield this.#ends[0];
    yield this.#ends[1];
  }

  toString(): string {
    return label('Pipe', this.name);
  }
}

const CREATE = Symbol('create');

/** What `recv` and friends do with a message's bytes. */
type Sink = {
  /** Called with the total length before anything is taken; may throw to leave the message be. */
  start(total: number, raw: boolean): void;
  /** Called with each piece, in order (the bytes are valid only during the call). */
  piece(bytes: Uint8Array, offset: number): void;
  /** Called once the last piece was taken. */
  finish(): unknown;
};

/** One end of a `Pipe`. Get them from the pipe: `const [a, b] = new Pipe()`. */
export class Connection<T = unknown> {
  declare readonly $weft: 'Connection';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  /** Which end of its pipe this is: 0 or 1. */
  declare readonly end: 0 | 1;
  readonly #in: Ring | null;
  readonly #out: Ring | null;
  readonly #encoder = new Encoder();
  /** Tail of this instance's chain of async calls (see the module comment). */
  #asyncTail: Promise<unknown> = Promise.resolve();

  /** @internal Connections come from a `Pipe` (or `Connection.from`). */
  constructor(token: typeof CREATE, pipe: { buffer: SharedArrayBuffer; byteOffset: number; name: string | undefined }, end: 0 | 1, initCapacity: number) {
    if (token !== CREATE) throw new TypeError('Connection: get connections from a Pipe: const [a, b] = new Pipe()');
    defineHandle(this, 'Connection' as never, { ...pipe, i32: new Int32Array(0), fresh: false, clone: null });
    (this as { end: 0 | 1 }).end = end;
    const i32 = new Int32Array(pipe.buffer, pipe.byteOffset, LINE);
    const duplex = i32[DUPLEX] === 1;
    const ring = (index: 0 | 1): Ring => {
      const init = initCapacity > 0;
      const at = pipe.byteOffset + ringAt(init ? initCapacity : ringCapacityOf(pipe.buffer, pipe.byteOffset), index);
      return new Ring(pipe.buffer, at, initCapacity, 0, init, `${label('Connection', pipe.name)} ${end}`);
    };
    if (duplex) {
      // End 0 reads ring 0 and writes ring 1; end 1 the other way round.
      const r0 = ring(0);
      const r1 = ring(1);
      this.#in = end === 0 ? r0 : r1;
      this.#out = end === 0 ? r1 : r0;
    } else {
      const r0 = ring(0);
      this.#in = end === 0 ? r0 : null;
      this.#out = end === 1 ? r0 : null;
    }
  }

  /** Restores a `Connection` from its structured clone (or returns the instance given). */
  static from<T = unknown>(value: unknown): Connection<T> {
    if (value instanceof Connection) return value as Connection<T>;
    const c = value as { $weft?: unknown; end?: unknown } | null;
    if (c === null || typeof c !== 'object' || c.$weft !== 'Connection' || (c.end !== 0 && c.end !== 1)) {
      throw new TypeError(`Connection.from(): expected a Connection (or its structured clone), got ${describe(value)}`);
    }
    const a = attach('Pipe', RING0_AT + RING_HEADER_SLOTS, { ...c, $weft: 'Pipe' }, 'Connection.from()');
    return new Connection<T>(CREATE, a, c.end, 0);
  }

  /** Sends `value` (any structured-cloneable value) to the other end; waits while the pipe is full. */
  send(value: T): void {
    if (typeof value === 'string' && this.#writable('send').tryPutString(value, true) === PLACED) return; // (straight into the ring)
    const bytes = this.#encode(value, 'send');
    const out = this.#writable('send');
    if (recordBytes(bytes.length) <= out.capacity && out.tryPut(bytes, FLAG_FIRST, bytes.length, true, this.#encoder.words)) return;
    runSync(this.#sendMachine(out, bytes, 0, true));
  }

  /** As `send`, without blocking the event loop. */
  sendAsync(value: T): Promise<void> {
    return this.#chain(() => {
      const bytes = this.#encode(value, 'sendAsync').slice();
      return runAsync(this.#sendMachine(this.#writable('sendAsync'), bytes, 0, false));
    });
  }

  /** Sends the bytes of `bytes` (from `offset`, `size` of them) as one message. */
  sendBytes(bytes: ArrayBufferView | ArrayBuffer, offset = 0, size?: number): void {
    const view = this.#bytesOf(bytes, offset, size);
    const out = this.#writable('sendBytes');
    if (recordBytes(view.length) <= out.capacity && out.tryPut(view, FLAG_FIRST | FLAG_RAW, view.length, true)) return;
    runSync(this.#sendMachine(out, view, FLAG_RAW, true));
  }

  /**
   * Receives the next message, waiting up to `timeout` ms (omitted: for ever). Throws
   * `TimeoutError` on timeout and `ClosedError` when the peer closed and every message was taken.
   */
  recv(timeout?: number): T {
    checkTimeout(timeout, this, 'recv');
    // Fast path: a whole message waiting, no other reader in the way.
    const ring = this.#readable('recv');
    if (ring.dataOrSpin(timeout !== 0)) {
      const v = ring.tryGet(readWholeValue);
      if (v !== EMPTY) return v as T;
    }
    // (spun already: the machine goes straight to sleep)
    return this.#finish(runSync(this.#recvMachine(ring, this.#valueSink(), timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'recv'), false)), 'recv', timeout) as T;
  }

  /** As `recv`, without blocking the event loop. */
  recvAsync(timeout?: number): Promise<T> {
    return this.#chain(async () => {
      checkTimeout(timeout, this, 'recvAsync');
      const r = await runAsync(this.#recvMachine(this.#readable('recvAsync'), this.#valueSink(), timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'recvAsync'), false));
      return this.#finish(r, 'recvAsync', timeout) as T;
    });
  }

  /**
   * Receives the next message as bytes (a new `Uint8Array`). If it is longer than `maxLength`,
   * throws `RangeError` and leaves it in the pipe.
   */
  recvBytes(maxLength?: number, timeout?: number): Uint8Array {
    checkTimeout(timeout, this, 'recvBytes');
    if (maxLength !== undefined && (typeof maxLength !== 'number' || !(maxLength >= 0))) {
      throw new RangeError(`${this}: recvBytes(maxLength): maxLength must be a non-negative number, got ${describe(maxLength)}`);
    }
    let out = new Uint8Array(0);
    const sink: Sink = {
      start: (total) => {
        if (maxLength !== undefined && total > maxLength) {
          throw new RangeError(`${this}: recvBytes(${maxLength}): the next message has ${total} bytes; it stays in the pipe`);
        }
        out = new Uint8Array(total);
      },
      piece: (bytes, offset) => out.set(bytes, offset),
      finish: () => out,
    };
    return this.#finish(runSync(this.#recvMachine(this.#readable('recvBytes'), sink, timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'recvBytes'), timeout !== 0)), 'recvBytes', timeout) as Uint8Array;
  }

  /**
   * Receives the next message's bytes into `buffer` at byte `offset`; returns how many. If they do
   * not fit, throws `RangeError` and leaves the message in the pipe.
   */
  recvBytesInto(buffer: ArrayBufferView | ArrayBuffer, offset = 0, timeout?: number): number {
    checkTimeout(timeout, this, 'recvBytesInto');
    const target = this.#bytesOf(buffer, 0, undefined);
    if (!Number.isInteger(offset) || offset < 0 || offset > target.length) {
      throw new RangeError(`${this}: recvBytesInto(buffer, offset): offset must be an integer from 0 to ${target.length}, got ${describe(offset)}`);
    }
    // Fast path: a whole message waiting that fits, no other reader in the way.
    const got = this.#readable('recvBytesInto').tryGet((header, bytes, start, end) => {
      if ((header & FLAG_MORE) !== 0 || end - start > target.length - offset) return KEEP;
      target.set(bytes.subarray(start, end), offset);
      return end - start;
    });
    if (got !== EMPTY) return got;
    let n = 0;
    const sink: Sink = {
      start: (total) => {
        if (total > target.length - offset) {
          throw new RangeError(`${this}: recvBytesInto(): the next message has ${total} bytes, the buffer has room for ${target.length - offset}; it stays in the pipe`);
        }
        n = total;
      },
      piece: (bytes, at) => target.set(bytes, offset + at),
      finish: () => n,
    };
    return this.#finish(runSync(this.#recvMachine(this.#readable('recvBytesInto'), sink, timeout === 0 ? -Infinity : deadlineOf(timeout, this, 'recvBytesInto'), timeout !== 0)), 'recvBytesInto', timeout) as number;
  }

  /**
   * True if a message (or the peer's close) is waiting, waiting up to `timeout` ms for one
   * (omitted or 0: just look; `Infinity`: for ever).
   */
  poll(timeout = 0): boolean {
    checkTimeout(timeout, this, 'poll');
    const ring = this.#readable('poll');
    if (ring.readable(true) || timeout === 0) return ring.readable(true);
    return runSync(ring.waitReadable(deadlineOf(timeout, this, 'poll'), true));
  }

  /** As `poll`, without blocking the event loop. */
  pollAsync(timeout = 0): Promise<boolean> {
    try {
      checkTimeout(timeout, this, 'pollAsync');
      const ring = this.#readable('pollAsync');
      if (ring.readable(true) || timeout === 0) return Promise.resolve(ring.readable(true));
      return runAsync(ring.waitReadable(deadlineOf(timeout, this, 'pollAsync'), false));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Closes this end: the peer receives what was sent, then `ClosedError`; its sends throw
   * `ClosedError`. Idempotent.
   */
  close(): void {
    this.#out?.closeWrite();
    this.#in?.closeRead();
  }

  /** True once this end was closed (by any thread holding it). */
  get closed(): boolean {
    return this.#out !== null
      ? (this.#out.closedBits() & CLOSED_WRITE) !== 0
      : (this.#in!.closedBits() & CLOSED_READ) !== 0;
  }

  /** Receives messages until the peer closes. */
  [Symbol.iterator](): Iterator<T> {
    return untilClosed(() => this.recv());
  }

  /** Receives messages, without blocking the event loop, until the peer closes. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return untilClosedAsync(() => this.recvAsync());
  }

  toString(): string {
    return `${label('Connection', this.name)} ${this.end}`;
  }

  // -------------------------------------------------------------------------------------------

  #chain<R>(op: () => Promise<R>): Promise<R> {
    const run = this.#asyncTail.then(op, op);
    this.#asyncTail = run.catch(() => undefined);
    return run;
  }

  #encode(value: T, method: string): Uint8Array {
    return this.#encoder.encode(value, this, method);
  }

  // These read CLOSED as a hint (no Atomics call on the fast path): a close by this thread is
  // seen at once; one by another thread holding the same end, a call later at worst. The ring
  // re-checks its own CLOSED bits under its locks.
  #writable(method: string): Ring {
    if (this.#out === null) throw new TypeError(`${this}: ${method}() on the reading end of a one-way Pipe`);
    if (this.#closedHint()) throw new ClosedError(`${this}: ${method}() on a closed connection`);
    return this.#out;
  }

  #readable(method: string): Ring {
    if (this.#in === null) throw new TypeError(`${this}: ${method}() on the writing end of a one-way Pipe`);
    if (this.#closedHint()) throw new ClosedError(`${this}: ${method}() on a closed connection`);
    return this.#in;
  }

  #closedHint(): boolean {
    return this.#out !== null ? (this.#out.closedHint() & CLOSED_WRITE) !== 0 : (this.#in!.closedHint() & CLOSED_READ) !== 0;
  }

  #bytesOf(bytes: ArrayBufferView | ArrayBuffer, offset: number, size: number | undefined): Uint8Array {
    let view: Uint8Array;
    if (bytes instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && bytes instanceof SharedArrayBuffer)) view = new Uint8Array(bytes);
    else if (ArrayBuffer.isView(bytes)) view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    else throw new TypeError(`${this}: expected bytes (an ArrayBuffer or a typed array), got ${describe(bytes)}`);
    if (!Number.isInteger(offset) || offset < 0 || offset > view.length) {
      throw new RangeError(`${this}: offset must be an integer from 0 to ${view.length}, got ${describe(offset)}`);
    }
    const n = size ?? view.length - offset;
    if (!Number.isInteger(n) || n < 0 || offset + n > view.length) {
      throw new RangeError(`${this}: size must be an integer from 0 to ${view.length - offset}, got ${describe(size)}`);
    }
    return view.subarray(offset, offset + n);
  }

  #valueSink(): Sink {
    let raw = false;
    let out: Uint8Array | null = null;
    let single: unknown = undefined;
    let total = 0;
    return {
      start: (n, isRaw) => {
        raw = isRaw;
        total = n;
        out = null;
      },
      piece: (bytes, offset) => {
        if (offset === 0 && bytes.length === total) {
          // The whole message in one record: decode it in place (or copy raw bytes out).
          single = raw ? bytes.slice() : decode(bytes);
          return;
        }
        out ??= new Uint8Array(total);
        out.set(bytes, offset);
      },
      finish: () => (out === null ? single : raw ? out : decode(out)),
    };
  }

  #finish(r: unknown, method: string, timeout: number | undefined): unknown {
    if (r === EMPTY) throw new TimeoutError(`${this}: ${method}() got no message within ${timeout} ms`);
    return r;
  }

  *#sendMachine(out: Ring, bytes: Uint8Array, flags: number, spin: boolean): Machine<void> {
    const total = bytes.length;
    if (total > LENGTH_MASK) throw new RangeError(`${this}: a message of ${total} bytes is larger than weft's limit of ${LENGTH_MASK}`);
    if (recordBytes(total) <= out.capacity) {
      yield* out.put(bytes, flags | FLAG_FIRST, total, Infinity, spin, true);
      return;
    }
    // Larger than the ring: stream it in pieces, holding the producer lock throughout.
    const piece = out.capacity >> 2;
    yield* out.lockProducer();
    try {
      for (let off = 0; off < total; off += piece) {
        const end = Math.min(total, off + piece);
        const f = flags | (off === 0 ? FLAG_FIRST : 0) | (end < total ? FLAG_MORE : 0);
        yield* out.put(bytes.subarray(off, end), f, off === 0 ? total : -1, Infinity, spin, true, true);
      }
    } finally {
      out.unlockProducer();
    }
  }

  *#recvMachine(ring: Ring, sink: Sink, deadline: number, spin: boolean): Machine<unknown> {
    if (!(yield* ring.lockConsumer(lockDeadline(deadline)))) return EMPTY;
    try {
      // The first record: look at its total before taking it, so a sink may refuse it.
      for (;;) {
        const next = ring.peek();
        if (next !== null) {
          sink.start(next.prefix, (next.header & FLAG_RAW) !== 0);
          break;
        }
        if (!(yield* ring.waitReadable(deadline, spin))) return EMPTY;
        spin = false;
        const after = ring.peek();
        if (after === null && (ring.closedBits() & CLOSED_WRITE)) {
          // Peer closed and nothing is left: get() throws the ClosedError (EOF).
          yield* ring.get(() => undefined, deadline, false, true);
        }
      }
      let offset = 0;
      let more = true;
      while (more) {
        yield* ring.get((header, bytes, start, end) => {
          const payload = bytes.subarray(start, end);
          sink.piece(payload, offset);
          offset += payload.length;
          more = (header & FLAG_MORE) !== 0;
        }, Infinity, spin, true);
      }
      return sink.finish();
    } finally {
      ring.unlockConsumer();
    }
  }
}

/** Fast-path reader: a message in one record, decoded (or its raw bytes copied); else KEEP. */
function readWholeValue(header: number, bytes: Uint8Array, start: number, end: number): unknown {
  if ((header & FLAG_MORE) !== 0) return KEEP;
  return (header & FLAG_RAW) !== 0 ? bytes.slice(start, end) : decode(bytes, start, end);
}

/** Reads a pipe's ring capacity from its first ring's header. */
function ringCapacityOf(buffer: SharedArrayBuffer, byteOffset: number): number {
  return Atomics.load(new Int32Array(buffer, byteOffset + (RING0_AT << 2), 1), 0);
}
