/**
 * `SharedArray` (Python's `multiprocessing.Array`): a fixed-length typed array in shared memory,
 * with a lock by default.
 *
 * `get(i)` and `set(i, v)` are each atomic and never torn (see ctypes.ts; for float64 one seqlock
 * guards the whole array, so writers of different elements take turns for a few nanoseconds).
 * `array` is the live typed-array view for bulk work: its element accesses are plain, not atomic;
 * hold `getLock()` around work that must see a consistent array.
 *
 * ## Layout (Int32 slots; the elements 8-byte aligned)
 * | slot | name   | written by       | parked on | meaning                                          |
 * |------|--------|------------------|-----------|--------------------------------------------------|
 * | 0    | TAG    | creator, once    | no        | kind + layout version                            |
 * | 1    | TYPE   | creator, once    | no        | index into CTYPES (ctypes.ts)                    |
 * | 2    | SEQ    | float64 writers  | no        | seqlock sequence: odd while a write is under way |
 * | 3    | LENGTH | creator, once    | no        | number of elements                               |
 * | 4…   | DATA   | writers          | no        | the elements                                     |
 * The lock, when there is one, is a separate `Lock`/`RLock` carried in the clone as `lock`.
 */
import { Access, checkValue, CTYPES, typeIndex, type CType, type TypeName } from './ctypes.js';
import { describe, label } from './layout.js';
import type { Lock } from './lock.js';
import { defineHandle, fromClone, openBlock, restoring } from './primitive.js';
import type { RLock } from './rlock.js';
import { lockOfClone, lockOption, noLock, type SharedDataOptions } from './value.js';

const TYPE = 1;
const SEQ = 2;
const LENGTH = 3;
const DATA_AT = 16; // bytes
const HEADER_SLOTS = 4;
const MAX_BYTES = 2 ** 31;

type Num<T extends TypeName> = T extends 'bigint64' | 'biguint64' | 'q' | 'Q' ? bigint : number;

/** A fixed-length typed array in shared memory. */
export class SharedArray<T extends TypeName = TypeName> implements Iterable<Num<T>> {
  declare readonly $weft: 'SharedArray';
  declare readonly buffer: SharedArrayBuffer;
  declare readonly byteOffset: number;
  declare readonly name: string | undefined;
  /** The lock (null with `{ lock: false }`). */
  declare readonly lock: Lock | RLock | null;
  readonly #type: CType;
  readonly #view: InstanceType<CType['Array']>;
  readonly #access: Access;

  /**
   * `type`: a type name or Python typecode; `lengthOrValues`: a length (zero-filled) or the
   * initial values (an array or any iterable).
   */
  constructor(type: T, lengthOrValues: number | Iterable<Num<T>> | ArrayLike<Num<T>>, options?: SharedDataOptions) {
    let t: CType = CTYPES[0]!;
    let values: unknown[] | null = null;
    let length = 0;
    if (!restoring()) {
      const who = label('SharedArray', typeof options?.name === 'string' ? options.name : undefined);
      t = CTYPES[typeIndex(type, who)]!;
      if (typeof lengthOrValues === 'number') {
        if (!Number.isInteger(lengthOrValues) || lengthOrValues < 0 || lengthOrValues * t.bytes > MAX_BYTES) {
          throw new RangeError(`${who}: length must be an integer from 0 to ${MAX_BYTES / t.bytes}, got ${lengthOrValues}`);
        }
        length = lengthOrValues;
      } else if (lengthOrValues != null && (typeof (lengthOrValues as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (lengthOrValues as ArrayLike<unknown>).length === 'number')) {
        values = Array.from(lengthOrValues as ArrayLike<unknown>);
        values.forEach((v, i) => checkValue(t, v, `${who}: value ${i}`));
        length = values.length;
      } else {
        throw new TypeError(`${who}: expected a length or the values, got ${describe(lengthOrValues)}`);
      }
    }
    const b = openBlock('SharedArray', HEADER_SLOTS + Math.ceil((length * t.bytes) / 4) + 1, options);
    let lock: Lock | RLock | null;
    if (b.fresh) {
      lock = lockOption(options?.lock, label('SharedArray', b.name));
      b.i32[TYPE] = CTYPES.indexOf(t);
      b.i32[LENGTH] = length;
    } else {
      t = CTYPES[b.i32[TYPE]!]!;
      length = b.i32[LENGTH]!;
      lock = lockOfClone(b.clone);
    }
    defineHandle(this, 'SharedArray', b);
    (this as { lock: Lock | RLock | null }).lock = lock;
    this.#type = t;
    this.#view = new t.Array(b.buffer as unknown as ArrayBuffer, b.byteOffset + DATA_AT, length);
    this.#access = new Access(t, this.#view, new Int32Array(b.buffer, b.byteOffset, HEADER_SLOTS), SEQ);
    if (values !== null) values.forEach((v, i) => this.#access.set(i, v as number));
  }

  /** Restores a `SharedArray` (and its lock) from its structured clone (or returns the instance given). */
  static from<T extends TypeName = TypeName>(value: unknown): SharedArray<T> {
    return fromClone(SharedArray, 'SharedArray', HEADER_SLOTS, value) as SharedArray<T>;
  }

  /** Number of elements. */
  get length(): number {
    return this.#view.length;
  }

  /** The type's name (`'float64'`, …). */
  get type(): string {
    return this.#type.name;
  }

  /** The live typed-array view over the shared elements (plain, non-atomic accesses). */
  get array(): InstanceType<CType['Array']> {
    return this.#view;
  }

  /** Element `i`, read atomically and never torn. Out of range: RangeError. */
  get(i: number): Num<T> {
    return this.#access.get(this.#index(i, 'get')) as Num<T>;
  }

  /** Sets element `i` atomically. Out of range: RangeError; a value of the wrong kind: TypeError. */
  set(i: number, v: Num<T>): void {
    const at = this.#index(i, 'set');
    this.#access.set(at, checkValue(this.#type, v, this));
  }

  /** A plain array copy of the elements (float64: one consistent snapshot). */
  toArray(): Num<T>[] {
    return Array.from(this.#access.snapshot() as unknown as ArrayLike<Num<T>>);
  }

  *[Symbol.iterator](): Iterator<Num<T>> {
    for (let i = 0; i < this.#view.length; i++) yield this.#access.get(i) as Num<T>;
  }

  /** The lock; throws if created with `{ lock: false }`. */
  getLock(): Lock | RLock {
    if (this.lock === null) throw noLock(String(this));
    return this.lock;
  }

  toString(): string {
    return label('SharedArray', this.name);
  }

  #index(i: number, method: string): number {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.#view.length) {
      throw new RangeError(`${this}: ${method}(${describe(i)}): index out of range 0..${this.#view.length - 1}`);
    }
    return i;
  }
}
