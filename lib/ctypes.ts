/**
 * The element types of `Value` and `SharedArray`: the contract's names and Python's typecodes,
 * their typed-array classes, and the validation and untorn access they share.
 *
 * Untorn access: integer types (64-bit included) go through `Atomics.load`/`store`, which never
 * tear. `float32` goes through an Int32 view of the same bytes. `float64` has no atomic view, so it
 * is guarded by a seqlock: a writer turns the block's SEQ word odd (a CAS, which also makes
 * writers take turns), writes, then turns it even again; a reader reads SEQ, the value, and SEQ
 * again, and retries while SEQ was odd or moved. Readers never block writers and never lock.
 * Measured against taking the value's lock for each read: see benchmarks/shared-data.mjs.
 */
import { describe } from './layout.js';

export interface CType {
  readonly name: string;
  readonly code: string;
  readonly Array: Int8ArrayConstructor | Uint8ArrayConstructor | Int16ArrayConstructor | Uint16ArrayConstructor |
    Int32ArrayConstructor | Uint32ArrayConstructor | BigInt64ArrayConstructor | BigUint64ArrayConstructor |
    Float32ArrayConstructor | Float64ArrayConstructor;
  readonly bytes: number;
  readonly kind: 'int' | 'bigint' | 'float32' | 'float64';
  readonly min?: number | bigint;
  readonly max?: number | bigint;
}

/** Index = the TYPE slot's value: never reorder. */
export const CTYPES: readonly CType[] = [
  { name: 'int8', code: 'b', Array: Int8Array, bytes: 1, kind: 'int', min: -128, max: 127 },
  { name: 'uint8', code: 'B', Array: Uint8Array, bytes: 1, kind: 'int', min: 0, max: 255 },
  { name: 'int16', code: 'h', Array: Int16Array, bytes: 2, kind: 'int', min: -32768, max: 32767 },
  { name: 'uint16', code: 'H', Array: Uint16Array, bytes: 2, kind: 'int', min: 0, max: 65535 },
  { name: 'int32', code: 'i', Array: Int32Array, bytes: 4, kind: 'int', min: -(2 ** 31), max: 2 ** 31 - 1 },
  { name: 'uint32', code: 'I', Array: Uint32Array, bytes: 4, kind: 'int', min: 0, max: 2 ** 32 - 1 },
  { name: 'bigint64', code: 'q', Array: BigInt64Array, bytes: 8, kind: 'bigint', min: -(2n ** 63n), max: 2n ** 63n - 1n },
  { name: 'biguint64', code: 'Q', Array: BigUint64Array, bytes: 8, kind: 'bigint', min: 0n, max: 2n ** 64n - 1n },
  { name: 'float32', code: 'f', Array: Float32Array, bytes: 4, kind: 'float32' },
  { name: 'float64', code: 'd', Array: Float64Array, bytes: 8, kind: 'float64' },
];

export type TypeName = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'bigint64' | 'biguint64' |
  'float32' | 'float64' | 'b' | 'B' | 'h' | 'H' | 'i' | 'I' | 'q' | 'Q' | 'f' | 'd';

/** The TYPE index of a type name or typecode; TypeError naming the valid ones otherwise. */
export function typeIndex(type: unknown, who: string): number {
  const i = CTYPES.findIndex((t) => t.name === type || t.code === type);
  if (i < 0) {
    throw new TypeError(`${who}: unknown type ${describe(type)}; valid: ${CTYPES.map((t) => `'${t.name}'`).join(', ')} or the typecodes ${CTYPES.map((t) => `'${t.code}'`).join(', ')}`);
  }
  return i;
}

/** Checks that `v` fits type `t`; returns it (as stored). */
export function checkValue(t: CType, v: unknown, who: unknown): number | bigint {
  if (t.kind === 'bigint') {
    if (typeof v !== 'bigint') throw new TypeError(`${who}: a ${t.name} value must be a bigint, got ${describe(v)}`);
    if (v < (t.min as bigint) || v > (t.max as bigint)) throw new RangeError(`${who}: ${v}n is out of range for ${t.name}`);
    return v;
  }
  if (typeof v !== 'number') throw new TypeError(`${who}: a ${t.name} value must be a number, got ${describe(v)}`);
  if (t.kind === 'int') {
    if (!Number.isInteger(v)) throw new RangeError(`${who}: a ${t.name} value must be an integer, got ${v}`);
    if (v < (t.min as number) || v > (t.max as number)) throw new RangeError(`${who}: ${v} is out of range for ${t.name}`);
  }
  return v;
}

const f32 = new Float32Array(1);
const f32bits = new Int32Array(f32.buffer);

/**
 * Untorn element access over one block: `view` is the element array, `i32` the block's Int32
 * slots (for the float64 seqlock word `seq` and the float32 bit view).
 */
export class Access {
  readonly #t: CType;
  readonly #view: InstanceType<CType['Array']>;
  readonly #bits: Int32Array | null;
  readonly #i32: Int32Array;
  readonly #seq: number;

  constructor(t: CType, view: InstanceType<CType['Array']>, i32: Int32Array, seq: number) {
    this.#t = t;
    this.#view = view;
    this.#i32 = i32;
    this.#seq = seq;
    this.#bits = t.kind === 'float32' ? new Int32Array(view.buffer, view.byteOffset, view.length) : null;
  }

  get(i: number): number | bigint {
    switch (this.#t.kind) {
      case 'int':
      case 'bigint':
        return Atomics.load(this.#view as Int32Array, i);
      case 'float32':
        f32bits[0] = Atomics.load(this.#bits!, i);
        return f32[0]!;
      default: {
        const i32 = this.#i32;
        const view = this.#view as Float64Array;
        for (;;) {
          const s1 = Atomics.load(i32, this.#seq);
          const v = view[i]!;
          // Ordering: the second SEQ load comes after the value's read (Atomics are seq-cst).
          if ((s1 & 1) === 0 && Atomics.load(i32, this.#seq) === s1) return v;
        }
      }
    }
  }

  set(i: number, v: number | bigint): void {
    switch (this.#t.kind) {
      case 'int':
      case 'bigint':
        Atomics.store(this.#view as Int32Array, i, v as number);
        return;
      case 'float32':
        f32[0] = v as number;
        Atomics.store(this.#bits!, i, f32bits[0]!);
        return;
      default: {
        const s = this.#writeBegin();
        (this.#view as Float64Array)[i] = v as number;
        Atomics.store(this.#i32, this.#seq, (s + 2) | 0);
      }
    }
  }

  /** Copies every element consistently (for float64: all under one seqlock read). */
  snapshot(): InstanceType<CType['Array']> {
    if (this.#t.kind !== 'float64') {
      const out = new this.#t.Array(this.#view.length);
      for (let i = 0; i < out.length; i++) (out as Int32Array)[i] = this.get(i) as number;
      return out;
    }
    for (;;) {
      const s1 = Atomics.load(this.#i32, this.#seq);
      const out = (this.#view as Float64Array).slice();
      if ((s1 & 1) === 0 && Atomics.load(this.#i32, this.#seq) === s1) return out;
    }
  }

  /** Float64 writers: make SEQ odd by CAS (writers take turns), return the even value it had. */
  #writeBegin(): number {
    const i32 = this.#i32;
    for (;;) {
      const s = Atomics.load(i32, this.#seq);
      if ((s & 1) === 0 && Atomics.compareExchange(i32, this.#seq, s, (s + 1) | 0) === s) return s;
    }
  }
}
