/**
 * `Value` (Python's `multiprocessing.Value`): one typed number in shared memory, with a lock by
 * default.
 *
 * Reads and writes of `value` are each atomic and never torn (see ctypes.ts: Atomics for integers,
 * an Int32 view for float32, a seqlock for float64). A read-modify-write such as
 * `v.value += 1` is not atomic, in Python either: hold `getLock()` around it, or use the atomic
 * operations integer types have (`add`, `sub`, `and`, `or`, `xor`, `exchange`, `compareExchange`,
 * each returning the previous value).
 *
 * ## Layout (Int32 slots; the value 8-byte aligned)
 * | slot | name  | written by        | parked on | meaning                                         |
 * |------|-------|-------------------|-----------|-------------------------------------------------|
 * | 0    | TAG   | creator, once     | no        | kind + layout version                           |
 * | 1    | TYPE  | creator, once     | no        | index into CTYPES (ctypes.ts)                   |
 * | 2    | SEQ   | float64 writers   | no        | seqlock sequence: odd while a write is under way |
 * | 4–5  | DATA  | writers           | no        | the value (1 to 8 bytes)                        |
 * The lock, when there is one, is a separate `Lock`/`RLock` carried in the clone as `lock`.
 */
import { WeftError } from './errors.js';
import { Access, checkValue, CTYPES, typeIndex, type CType, type TypeName } from './ctypes.js';
import { describe, label } from './layout.js';
import { Lock } from './lock.js';
import { defineHandle, fromClone, openBlock, type CommonOptions } from './primitive.js';
import { RLock } from './rlock.js';

const TYPE = 1;
const SEQ = 2;
const DATA_AT = 16; // bytes
const VALUE_SLOTS = 6;
/** Slot indices (and the data's byte offset), for diagnostics and tests. */
export const VALUE_LAYOUT = { TYPE, SEQ, DATA_AT } as const;

/** Options of `new Value()` and `new SharedArray()`. */
export interface SharedDataOptions extends CommonOptions {
  /** `true` (default): a new `RLock`; `false`: none (`getLock()` throws); or a `Lock`/`RLock` to use. */
  lock?: boolean | Lock | RLock;
}

type Num<T extends TypeName> = T extends 'bigint64' | 'biguint64' | 'q' | 'Q' ? bigint : number;

/** Resolves the `lock` option (shared by Value and SharedArray). */
export function lockOption(option: unknown, who: string): Lock | RLock | null {
  if (option === undefined || option === true) return new RLock();
  if (option === false) return null;
  if (option instanceof Lock || option instanceof RLock) return option;
  throw new TypeError(`${who}: options.lock must be true, false, a Lock or an RLock, got ${describe(option)}`);
}

/** Restores the lock carried in a clone. */
export function lockOfClone(clone: Record<string, unknown> | null): Lock | RLock | null {
  const c = clone?.lock as { $weft?: unknown } | null | undefined;
  if (c == null) return null;
  return c.$weft === 'RLock' ? RLock.from(c) : Lock.from(c);
}

export function noLock(who: string): WeftError {
  return new WeftError(`${who}: getLock(): created with { lock: false }, it has no lock`, 'ERR_NO_LOCK');
}

/** A typed number in shared memory. */
export class Value<T extends TypeName = TypeName> {
  declare readonly $weft: 'Value';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  /** The lock (null with `{ lock: false }`). */
  declare readonly lock: Lock | RLock | null;
  readonly #type: CType;
  readonly #view: InstanceType<CType['Array']>;
  readonly #access: Access;

  /** `type`: a type name (`'int32'`, `'float64'`, …) or Python typecode (`'i'`, `'d'`, …). */
  constructor(type: T, initial?: Num<T>, options?: SharedDataOptions) {
    const b = openBlock('Value', VALUE_SLOTS, options);
    const who = label('Value', b.name);
    let t: CType;
    let lock: Lock | RLock | null;
    if (b.fresh) {
      const index = typeIndex(type, who);
      t = CTYPES[index]!;
      if (initial !== undefined) checkValue(t, initial, who);
      lock = lockOption(options?.lock, who);
      b.i32[TYPE] = index;
    } else {
      t = CTYPES[b.i32[TYPE]!]!;
      lock = lockOfClone(b.clone);
    }
    defineHandle(this, 'Value', b);
    (this as { lock: Lock | RLock | null }).lock = lock;
    this.#type = t;
    this.#view = new t.Array(b.buffer as unknown as ArrayBuffer, b.byteOffset + DATA_AT, 1);
    this.#access = new Access(t, this.#view, b.i32, SEQ);
    if (b.fresh && initial !== undefined) this.#access.set(0, initial);
  }

  /** Restores a `Value` (and its lock) from its structured clone (or returns the instance given). */
  static from<T extends TypeName = TypeName>(value: unknown): Value<T> {
    return fromClone(Value, 'Value', VALUE_SLOTS, value) as Value<T>;
  }

  /** The type's name (`'int32'`, …). */
  get type(): string {
    return this.#type.name;
  }

  /** The value; each read and each write is atomic and never torn. */
  get value(): Num<T> {
    return this.#access.get(0) as Num<T>;
  }
  set value(v: Num<T>) {
    this.#access.set(0, checkValue(this.#type, v, this));
  }

  /** The lock; throws if created with `{ lock: false }`. */
  getLock(): Lock | RLock {
    if (this.lock === null) throw noLock(String(this));
    return this.lock;
  }

  /** Atomically adds `n`; returns the previous value (integer types). */
  add(n: Num<T>): Num<T> {
    return Atomics.add(this.#int('add', n), 0, n as number) as Num<T>;
  }
  /** Atomically subtracts `n`; returns the previous value (integer types). */
  sub(n: Num<T>): Num<T> {
    return Atomics.sub(this.#int('sub', n), 0, n as number) as Num<T>;
  }
  /** Atomic bitwise and; returns the previous value (integer types). */
  and(n: Num<T>): Num<T> {
    return Atomics.and(this.#int('and', n), 0, n as number) as Num<T>;
  }
  /** Atomic bitwise or; returns the previous value (integer types). */
  or(n: Num<T>): Num<T> {
    return Atomics.or(this.#int('or', n), 0, n as number) as Num<T>;
  }
  /** Atomic bitwise xor; returns the previous value (integer types). */
  xor(n: Num<T>): Num<T> {
    return Atomics.xor(this.#int('xor', n), 0, n as number) as Num<T>;
  }
  /** Atomically replaces the value; returns the previous one (integer types). */
  exchange(v: Num<T>): Num<T> {
    const view = this.#int('exchange', v);
    checkValue(this.#type, v, this);
    return Atomics.exchange(view, 0, v as number) as Num<T>;
  }
  /** Atomically replaces the value if it equals `expected`; returns the previous value (integer types). */
  compareExchange(expected: Num<T>, replacement: Num<T>): Num<T> {
    const view = this.#int('compareExchange', expected);
    checkValue(this.#type, replacement, this);
    return Atomics.compareExchange(view, 0, expected as number, replacement as number) as Num<T>;
  }

  toString(): string {
    return label('Value', this.name);
  }

  /** The integer view for an atomic operation, after checking the type and the operand's kind. */
  #int(method: string, n: unknown): Int32Array {
    const t = this.#type;
    if (t.kind !== 'int' && t.kind !== 'bigint') {
      throw new TypeError(`${this}: ${method}() needs an integer type; this Value is ${t.name}`);
    }
    if (t.kind === 'bigint' ? typeof n !== 'bigint' : typeof n !== 'number' || !Number.isInteger(n)) {
      throw new TypeError(`${this}: ${method}(): a ${t.name} operand must be ${t.kind === 'bigint' ? 'a bigint' : 'an integer'}, got ${describe(n)}`);
    }
    return this.#view as Int32Array;
  }
}
