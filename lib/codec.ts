/**
 * The codec of weft's channels: structured-cloneable values to bytes and back, without
 * `v8.serialize` (NOTES.md: it costs more than `postMessage` itself) and without `node:` imports.
 *
 * ## Format
 * A value is a one-byte tag followed by its body; numbers in little-endian. Containers hold their
 * elements inline. Every object (array, plain object, Map, Set, Date, RegExp, Error, buffers) gets
 * the next index when first met; meeting it again writes a REF to that index, so cycles and shared
 * references come back as they went, like `structuredClone`.
 *
 * | tag | value                 | body                                                      |
 * |-----|-----------------------|-----------------------------------------------------------|
 * | 0–3 | undefined, null, false, true | —                                                  |
 * | 4   | integer −128…127      | i8                                                        |
 * | 5   | integer (int32)       | i32                                                       |
 * | 6   | other number          | f64 (NaN, −0, ±Infinity, fractions, large integers)       |
 * | 7   | ASCII string          | u32 length, one byte per char                             |
 * | 8   | string (UTF-8)        | u32 byte length, bytes                                    |
 * | 9   | string (UTF-16)       | u32 code units, 2 bytes each (strings with lone surrogates) |
 * | 10  | BigInt                | u8 sign, u32 64-bit word count, words (magnitude)         |
 * | 11  | Array                 | u32 length, elements (HOLE for a missing index)           |
 * | 12  | hole                  | —                                                         |
 * | 13  | plain object          | u32 key count, the key strings, then the values           |
 * | 14  | Map                   | u32 size, (key, value) pairs                              |
 * | 15  | Set                   | u32 size, values                                          |
 * | 16  | Date                  | f64 time                                                  |
 * | 17  | RegExp                | source string, flags string                               |
 * | 18  | Error                 | name, message, stack (string or undefined), has-cause u8, cause |
 * | 19  | ArrayBuffer           | u32 length, bytes                                         |
 * | 20  | typed array           | u8 kind, u32 byte length, bytes (the viewed bytes only)   |
 * | 21  | DataView              | u32 byte length, bytes                                    |
 * | 22  | REF                   | u32 index of an object met before                         |
 * | 23–26 | boxed Number, String, Boolean, BigInt | as the primitive                          |
 *
 * ## Fast paths
 * One scratch buffer per `Encoder`, grown by doubling and reused. Short ASCII strings are copied
 * with a `charCodeAt` loop and decoded with `String.fromCharCode`; other strings go through
 * `TextEncoder.encodeInto` straight into the scratch. The table of objects met is allocated once
 * per encoder and cleared after each value, and only used once an object is met.
 *
 * What cannot be cloned (functions, symbols, WeakMap/WeakSet, promises, and shared memory, which a
 * byte ring cannot carry) throws a `TypeError` naming the value and where it was found
 * (`value.jobs[2].done`); nothing of a failed value is kept. Class instances are cloned as plain
 * objects of their own enumerable properties, their prototype dropped, as `structuredClone` does.
 */

const UNDEFINED = 0, NULL = 1, FALSE = 2, TRUE = 3, INT8 = 4, INT32 = 5, FLOAT64 = 6, ASCII = 7, UTF8 = 8,
  UTF16 = 9, BIGINT = 10, ARRAY = 11, HOLE = 12, OBJECT = 13, MAP = 14, SET = 15, DATE = 16, REGEXP = 17,
  ERROR = 18, ARRAYBUFFER = 19, TYPEDARRAY = 20, DATAVIEW = 21, REF = 22, BOXED_NUMBER = 23, BOXED_STRING = 24,
  BOXED_BOOLEAN = 25, BOXED_BIGINT = 26;

const TYPED = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
type Typed = InstanceType<(typeof TYPED)[number]>;

const ERRORS: Record<string, ErrorConstructor> = {
  Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
};

// Web APIs every host has (not in the ECMAScript lib typings).
declare const TextEncoder: new () => { encodeInto(s: string, into: Uint8Array): { read: number; written: number } };
declare const TextDecoder: new (label?: string, options?: { fatal?: boolean }) => { decode(bytes: Uint8Array): string };

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: false });
/** Some runtimes refuse to decode a view of shared memory: then copy first. */
const decodeShared: boolean = (() => {
  try {
    textDecoder.decode(new Uint8Array(new SharedArrayBuffer(1)));
    return true;
  } catch {
    return false;
  }
})();
const hasWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
/** Up to this many chars a `charCodeAt` loop beats `TextEncoder.encodeInto`'s fixed cost. */
const SHORT_ENCODE = 16;
/** Up to this many ASCII bytes a `fromCharCode` loop beats TextDecoder (measured: 64 bytes take 2.3× longer). */
const SHORT_DECODE = 12;

/** Thrown inside the encoder; collects the path as it unwinds, then becomes a TypeError. */
class Uncloneable {
  path: string[] = [];
  constructor(readonly what: string, readonly hint = '') {}
}

/** Reusable encoder: one per channel end per thread. */
export class Encoder {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #pos = 0;
  /** Objects met in the value being encoded, by index: a short array, a Map once it grows. */
  #objects: (object | undefined)[] = [];
  #objectCount = 0;
  #seen: Map<object, number> | null = null;

  /**
   * Encodes `value`; returns a view of the internal scratch holding its bytes, valid until the
   * next `encode`. Throws `TypeError` if `value` holds something that cannot be cloned; its message
   * starts with `who` (stringified only then) and `method`, e.g. `Queue 'jobs': put(): …`.
   */
  encode(value: unknown, who: unknown = 'weft', method?: string): Uint8Array {
    this.#pos = 0;
    try {
      this.#value(value);
    } catch (e) {
      if (e instanceof Uncloneable) {
        // The label is built only here: a template string per call would cost more than a number's encoding.
        const where = 'value' + e.path.reverse().join('');
        throw new TypeError(`${String(who)}${method === undefined ? '' : `: ${method}()`}: cannot clone ${e.what} at ${where}${e.hint}`);
      }
      throw e;
    } finally {
      // Drop references to the value (setting .length would be a runtime call).
      for (let i = 0; i < this.#objectCount; i++) this.#objects[i] = undefined;
      this.#objectCount = 0;
      this.#seen = null;
    }
    return this.#buf.subarray(0, this.#pos);
  }

  #reserve(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  #tag(t: number): void {
    this.#reserve(1);
    this.#buf[this.#pos++] = t;
  }

  #u32(n: number): void {
    this.#reserve(4);
    const b = this.#buf;
    const p = this.#pos;
    b[p] = n;
    b[p + 1] = n >>> 8;
    b[p + 2] = n >>> 16;
    b[p + 3] = n >>> 24;
    this.#pos = p + 4;
  }

  #f64(tag: number, n: number): void {
    this.#reserve(9);
    this.#buf[this.#pos] = tag;
    this.#view.setFloat64(this.#pos + 1, n, true);
    this.#pos += 9;
  }

  #bytes(src: Uint8Array): void {
    this.#u32(src.length);
    this.#reserve(src.length);
    this.#buf.set(src, this.#pos);
    this.#pos += src.length;
  }

  #value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        return this.#number(v);
      case 'string':
        return this.#string(v);
      case 'boolean':
        return this.#tag(v ? TRUE : FALSE);
      case 'undefined':
        return this.#tag(UNDEFINED);
      case 'bigint':
        this.#tag(BIGINT);
        return this.#bigint(v);
      case 'object':
        if (v === null) return this.#tag(NULL);
        return this.#object(v);
      case 'function':
        throw new Uncloneable(`a function${v.name ? ` (${v.name})` : ''}`);
      default:
        throw new Uncloneable(`a ${typeof v}`);
    }
  }

  #number(n: number): void {
    if ((n | 0) === n && !(n === 0 && 1 / n < 0)) {
      if (n >= -128 && n <= 127) {
        this.#reserve(2);
        this.#buf[this.#pos] = INT8;
        this.#buf[this.#pos + 1] = n & 0xff;
        this.#pos += 2;
      } else {
        this.#tag(INT32);
        this.#u32(n);
      }
      return;
    }
    this.#f64(FLOAT64, n);
  }

  #string(s: string): void {
    const n = s.length;
    if (n <= SHORT_ENCODE) {
      this.#reserve(5 + n);
      const buf = this.#buf;
      const at = this.#pos + 5;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n) {
        buf[this.#pos++] = ASCII;
        this.#u32(n);
        this.#pos = at + n;
        return;
      }
    }
    if (n > SHORT_ENCODE) {
      // encodeInto first: as many bytes as chars means every char was ASCII (no surrogate either).
      this.#reserve(5 + 3 * n);
      const at = this.#pos + 5;
      const { written } = textEncoder.encodeInto(s, this.#buf.subarray(at));
      if (written === n) {
        this.#buf[this.#pos++] = UTF8;
        this.#u32(written);
        this.#pos = at + written;
        return;
      }
    }
    if (hasWellFormed ? !(s as unknown as { isWellFormed(): boolean }).isWellFormed() : /[\uD800-\uDFFF]/.test(s) && !isWellFormedSlow(s)) {
      // TextEncoder would replace lone surrogates with U+FFFD: keep the code units as they are.
      this.#tag(UTF16);
      this.#u32(n);
      this.#reserve(2 * n);
      for (let i = 0; i < n; i++) this.#view.setUint16(this.#pos + 2 * i, s.charCodeAt(i), true);
      this.#pos += 2 * n;
      return;
    }
    this.#reserve(5 + 3 * n);
    const at = this.#pos + 5;
    const { written } = textEncoder.encodeInto(s, this.#buf.subarray(at));
    this.#buf[this.#pos] = UTF8;
    this.#view.setUint32(this.#pos + 1, written, true);
    this.#pos = at + written;
  }

  #bigint(b: bigint): void {
    const negative = b < 0n;
    let m = negative ? -b : b;
    const words: bigint[] = [];
    while (m > 0n) {
      words.push(m & 0xffffffffffffffffn);
      m >>= 64n;
    }
    this.#reserve(5 + 8 * words.length);
    this.#buf[this.#pos] = negative ? 1 : 0;
    this.#view.setUint32(this.#pos + 1, words.length, true);
    this.#pos += 5;
    for (const w of words) {
      this.#view.setBigUint64(this.#pos, w, true);
      this.#pos += 8;
    }
  }

  #object(o: object): void {
    // Shared references and cycles: every object gets an index when first met. Most values hold
    // a few objects, for which a linear scan beats a Map; past 16 a Map takes over.
    const objects = this.#objects;
    const count = this.#objectCount;
    let index = -1;
    if (this.#seen !== null) {
      index = this.#seen.get(o) ?? -1;
    } else {
      for (let i = 0; i < count; i++) {
        if (objects[i] === o) {
          index = i;
          break;
        }
      }
    }
    if (index >= 0) {
      this.#tag(REF);
      this.#u32(index);
      return;
    }
    if (count === 16 && this.#seen === null) {
      this.#seen = new Map();
      for (let i = 0; i < count; i++) this.#seen.set(objects[i]!, i);
    }
    this.#seen?.set(o, count);
    objects[count] = o;
    this.#objectCount = count + 1;
    if (Array.isArray(o)) return this.#array(o);
    if (ArrayBuffer.isView(o)) return this.#view_(o);
    const proto = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) return this.#plain(o as Record<string, unknown>, true);
    if (o instanceof Map) {
      this.#tag(MAP);
      this.#u32(o.size);
      for (const [k, v] of o) {
        this.#at('.<key>', () => this.#value(k));
        this.#at(`.get(${keyLabel(k)})`, () => this.#value(v));
      }
      return;
    }
    if (o instanceof Set) {
      this.#tag(SET);
      this.#u32(o.size);
      let i = 0;
      for (const v of o) this.#at(`.<item ${i++}>`, () => this.#value(v));
      return;
    }
    if (o instanceof Date) return this.#f64(DATE, o.getTime());
    if (o instanceof RegExp) {
      this.#tag(REGEXP);
      this.#string(o.source);
      this.#string(o.flags);
      return;
    }
    if (o instanceof Error) return this.#error(o);
    if (o instanceof ArrayBuffer) {
      this.#tag(ARRAYBUFFER);
      this.#bytes(new Uint8Array(o));
      return;
    }
    if (typeof SharedArrayBuffer !== 'undefined' && o instanceof SharedArrayBuffer) {
      throw new Uncloneable('a SharedArrayBuffer', ': shared memory cannot travel through a byte ring; share it through workerData or postMessage');
    }
    if (o instanceof Number) return this.#f64(BOXED_NUMBER, o.valueOf());
    if (o instanceof String) {
      this.#tag(BOXED_STRING);
      return this.#string(o.valueOf());
    }
    if (o instanceof Boolean) {
      this.#tag(BOXED_BOOLEAN);
      return this.#tag(o.valueOf() ? 1 : 0);
    }
    if (typeof BigInt !== 'undefined' && o instanceof (BigInt as unknown as new () => object)) {
      this.#tag(BOXED_BIGINT);
      return this.#bigint((o as unknown as { valueOf(): bigint }).valueOf());
    }
    if (o instanceof WeakMap || o instanceof WeakSet || o instanceof Promise || (typeof WeakRef !== 'undefined' && o instanceof WeakRef)) {
      throw new Uncloneable(`${article(proto?.constructor?.name ?? 'object')}`);
    }
    // Any other object: its own enumerable properties, as structuredClone does.
    return this.#plain(o as Record<string, unknown>, false);
  }

  #at(segment: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(segment);
      throw e;
    }
  }

  #array(a: unknown[]): void {
    const n = a.length;
    this.#tag(ARRAY);
    this.#u32(n);
    let i = 0;
    try {
      for (; i < n; i++) {
        if (i in a) this.#value(a[i]);
        else this.#tag(HOLE);
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(`[${i}]`);
      throw e;
    }
  }

  #plain(o: Record<string, unknown>, plain: boolean): void {
    // A plain object's prototype has no enumerable properties, so for-in sees exactly its own
    // keys, from V8's enum cache and without the array Object.keys would allocate.
    const keys = plain ? null : Object.keys(o);
    this.#tag(OBJECT);
    const countAt = this.#pos;
    this.#u32(0);
    let n = 0;
    // All keys, then all values: the decoder recognises the run of keys as a known shape.
    if (keys === null) {
      for (const k in o) {
        this.#string(k);
        n++;
      }
    } else {
      for (const k of keys) this.#string(k);
      n = keys.length;
    }
    const b = this.#buf;
    b[countAt] = n;
    b[countAt + 1] = n >>> 8;
    b[countAt + 2] = n >>> 16;
    b[countAt + 3] = n >>> 24;
    let k = '';
    try {
      if (keys === null) {
        for (k in o) this.#value(o[k]);
      } else {
        for (k of keys) this.#value(o[k]);
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
      throw e;
    }
  }

  #error(e: Error): void {
    this.#tag(ERROR);
    this.#string(String(e.name));
    this.#string(String(e.message));
    if (typeof e.stack === 'string') this.#string(e.stack);
    else this.#tag(UNDEFINED);
    const hasCause = Object.prototype.hasOwnProperty.call(e, 'cause');
    this.#tag(hasCause ? 1 : 0);
    if (hasCause) this.#at('.cause', () => this.#value(e.cause));
  }

  #view_(v: ArrayBufferView): void {
    if (typeof SharedArrayBuffer !== 'undefined' && v.buffer instanceof SharedArrayBuffer) {
      throw new Uncloneable(`a view of a SharedArrayBuffer (${v.constructor.name})`, ': shared memory cannot travel through a byte ring; share it through workerData or postMessage');
    }
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof DataView) {
      this.#tag(DATAVIEW);
      this.#bytes(bytes);
      return;
    }
    const kind = TYPED.findIndex((C) => v instanceof C);
    if (kind < 0) throw new Uncloneable(article(v.constructor.name));
    this.#tag(TYPEDARRAY);
    this.#tag(kind);
    this.#bytes(bytes);
  }
}

function isWellFormedSlow(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

function keyLabel(k: unknown): string {
  return typeof k === 'string' ? JSON.stringify(k) : typeof k === 'number' || typeof k === 'boolean' ? String(k) : '…';
}

function article(noun: string): string {
  return `${/^[AEIOU]/.test(noun) ? 'an' : 'a'} ${noun}`;
}

// ---------------------------------------------------------------------------------------------
// Decoding

// The decoder's state lives in module variables: decoding calls nothing outside this module, so
// it is never re-entered, and a value costs no reader object.
let src: Uint8Array = new Uint8Array(0);
/** A DataView of `src`'s buffer, made only when a float, BigInt or UTF-16 string needs it. */
let view: DataView | null = null;
let pos = 0;
let end = 0;
/** Objects met so far in the value being decoded (for REF); slots past `objectCount` are stale. */
const objects: unknown[] = [];
let objectCount = 0;

/**
 * Decodes one value from `bytes[start, stop)`. `bytes` may view shared memory that changes after
 * this returns: nothing keeps it.
 */
export function decode(bytes: Uint8Array, start = 0, stop = bytes.length): unknown {
  if (view !== null && src !== bytes) view = null;
  src = bytes;
  pos = start;
  end = stop;
  try {
    const v = readValue();
    if (pos !== end) throw new RangeError(`weft codec: ${end - pos} bytes left over after a value`);
    return v;
  } finally {
    // Drop references to what was decoded (setting .length would be a runtime call).
    for (let i = 0; i < objectCount; i++) objects[i] = undefined;
    objectCount = 0;
  }
}

function dataView(): DataView {
  return (view ??= new DataView(src.buffer as ArrayBuffer));
}

function need(n: number): void {
  if (pos + n > end) throw new RangeError('weft codec: truncated value');
}

function u8(): number {
  need(1);
  return src[pos++]!;
}

function u32(): number {
  need(4);
  const b = src;
  const p = pos;
  pos = p + 4;
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

function f64(): number {
  need(8);
  const n = dataView().getFloat64(src.byteOffset + pos, true);
  pos += 8;
  return n;
}

function remember<T>(o: T): T {
  objects[objectCount++] = o;
  return o;
}

function copyBytes(n: number): Uint8Array {
  need(n);
  const out = src.slice(pos, pos + n);
  pos += n;
  return out;
}

function readString(tag: number): string {
  const n = u32();
  switch (tag) {
    case ASCII: {
      need(n);
      const from = pos;
      pos += n;
      if (n <= SHORT_DECODE) {
        const b = src;
        let s = '';
        for (let i = from; i < from + n; i++) s += String.fromCharCode(b[i]!);
        return s;
      }
      return decodeText(src.subarray(from, from + n));
    }
    case UTF8: {
      need(n);
      const from = pos;
      pos += n;
      return decodeText(src.subarray(from, from + n));
    }
    case UTF16: {
      need(2 * n);
      let s = '';
      const at = src.byteOffset + pos;
      const v = dataView();
      for (let i = 0; i < n; i++) s += String.fromCharCode(v.getUint16(at + 2 * i, true));
      pos += 2 * n;
      return s;
    }
    default:
      throw new RangeError(`weft codec: expected a string, found tag ${tag}`);
  }
}

// Object keys: a store with a fresh (not internalized) string key makes V8 look the string up in
// its string table every time. Short ASCII keys therefore come from a small cache indexed by a
// hash of their bytes (checked byte for byte), so a key decoded again is the same string as before.
const KEY_CACHE_SIZE = 4096;
const keyCache: (string | undefined)[] = new Array(KEY_CACHE_SIZE);

function readKey(): string {
  const tag = u8();
  if (tag !== ASCII) return readString(tag);
  const n = u32();
  need(n);
  const b = src;
  const from = pos;
  pos += n;
  if (n > 24) return decodeText(b.subarray(from, from + n));
  let h = n;
  for (let i = from; i < from + n; i++) h = (Math.imul(h, 31) + b[i]!) | 0;
  const slot = (h ^ (h >>> 13)) & (KEY_CACHE_SIZE - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== b[from + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  let s = '';
  for (let i = from; i < from + n; i++) s += String.fromCharCode(b[i]!);
  keyCache[slot] = s;
  return s;
}

// Object shapes. Decoding `{ id, name, … }` key by key makes V8 add one property at a time,
// changing the object's hidden class at each step. Objects of a key sequence seen before are
// instead built by a small function made once for that sequence (an object literal, then named
// stores, as msgpackr and V8's own deserializer fast paths do), found by a hash of the raw key
// bytes and checked byte for byte. Where `Function` is unavailable (a strict CSP), keys are added
// one by one.
interface Shape {
  raw: Uint8Array;
  keys: string[];
  build: ((read: () => unknown, keep: <T>(o: T) => T) => Record<string, unknown>) | null;
}
const SHAPE_CACHE_SIZE = 1024;
const shapes: (Shape | undefined)[] = new Array(SHAPE_CACHE_SIZE);
const canCompile: boolean = (() => {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
})();

function readObject(n: number): Record<string, unknown> {
  const keysAt = pos;
  // Skip over the keys to find their extent (each: tag, u32 length, bytes).
  let h = n;
  for (let i = 0; i < n; i++) {
    need(5);
    const tag = src[pos]!;
    const len = (src[pos + 1]! | (src[pos + 2]! << 8) | (src[pos + 3]! << 16) | (src[pos + 4]! << 24)) >>> 0;
    const bytes = tag === UTF16 ? 2 * len : len;
    need(5 + bytes);
    pos += 5 + bytes;
  }
  const keysEnd = pos;
  for (let i = keysAt; i < keysEnd; i++) h = (Math.imul(h, 31) + src[i]!) | 0;
  const slot = (h ^ (h >>> 15)) & (SHAPE_CACHE_SIZE - 1);
  let shape = shapes[slot];
  if (shape === undefined || shape.raw.length !== keysEnd - keysAt || !sameBytes(shape.raw, keysAt)) {
    pos = keysAt;
    const keys = new Array<string>(n);
    for (let i = 0; i < n; i++) keys[i] = readKey();
    shape = { raw: src.slice(keysAt, keysEnd), keys, build: compileShape(keys) };
    shapes[slot] = shape;
  }
  pos = keysEnd;
  if (shape.build !== null) return shape.build(readValue, remember);
  const o = remember({} as Record<string, unknown>);
  for (const k of shape.keys) {
    const v = readValue();
    if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    else o[k] = v;
  }
  return o;
}

function sameBytes(raw: Uint8Array, at: number): boolean {
  const b = src;
  for (let i = 0; i < raw.length; i++) if (raw[i] !== b[at + i]) return false;
  return true;
}

function compileShape(keys: string[]): Shape['build'] {
  if (!canCompile || keys.length === 0 || keys.length > 32 || keys.includes('__proto__')) return null;
  if (new Set(keys).size !== keys.length) return null;
  const names = keys.map((k) => JSON.stringify(k));
  const body = `const o = keep({${names.map((k) => `${k}: undefined`).join(', ')}});\n` +
    names.map((k) => `o[${k}] = read();`).join('\n') + '\nreturn o;';
  return new Function('read', 'keep', body) as Shape['build'];
}

function readBigint(): bigint {
  const negative = u8() === 1;
  const words = u32();
  need(8 * words);
  let m = 0n;
  const at = src.byteOffset + pos;
  const v = dataView();
  for (let i = words - 1; i >= 0; i--) m = (m << 64n) | v.getBigUint64(at + 8 * i, true);
  pos += 8 * words;
  return negative ? -m : m;
}

function readValue(): unknown {
  const tag = u8();
  switch (tag) {
    case UNDEFINED: return undefined;
    case NULL: return null;
    case FALSE: return false;
    case TRUE: return true;
    case INT8: return (u8() << 24) >> 24;
    case INT32: return u32() | 0;
    case FLOAT64: return f64();
    case ASCII: case UTF8: case UTF16: return readString(tag);
    case BIGINT: return readBigint();
    case ARRAY: {
      const n = u32();
      const a = remember(new Array(n));
      for (let i = 0; i < n; i++) {
        if (src[pos] === HOLE) pos++;
        else a[i] = readValue();
      }
      return a;
    }
    case OBJECT: return readObject(u32());
    case MAP: {
      const n = u32();
      const m = remember(new Map());
      for (let i = 0; i < n; i++) {
        const k = readValue();
        m.set(k, readValue());
      }
      return m;
    }
    case SET: {
      const n = u32();
      const set = remember(new Set());
      for (let i = 0; i < n; i++) set.add(readValue());
      return set;
    }
    case DATE: return remember(new Date(f64()));
    case REGEXP: {
      const source = readString(u8());
      return remember(new RegExp(source, readString(u8())));
    }
    case ERROR: {
      const name = readString(u8());
      const message = readString(u8());
      const Ctor = ERRORS[name] ?? Error;
      const e = remember(new Ctor(message));
      if (e.name !== name) Object.defineProperty(e, 'name', { value: name, writable: true, configurable: true });
      const stackTag = u8();
      const stack = stackTag === UNDEFINED ? undefined : readString(stackTag);
      Object.defineProperty(e, 'stack', { value: stack, writable: true, configurable: true });
      if (u8() === 1) Object.defineProperty(e, 'cause', { value: readValue(), writable: true, configurable: true });
      return e;
    }
    case ARRAYBUFFER: return remember(copyBytes(u32()).buffer);
    case TYPEDARRAY: {
      const C = TYPED[u8()];
      if (C === undefined) throw new RangeError('weft codec: unknown typed array kind');
      const b = copyBytes(u32());
      return remember(new C(b.buffer as ArrayBuffer, 0, b.byteLength / C.BYTES_PER_ELEMENT) as Typed);
    }
    case DATAVIEW: return remember(new DataView(copyBytes(u32()).buffer as ArrayBuffer));
    case REF: {
      const i = u32();
      if (i >= objectCount) throw new RangeError(`weft codec: reference to unknown object ${i}`);
      return objects[i];
    }
    case BOXED_NUMBER: return remember(Object(f64()));
    case BOXED_STRING: return remember(Object(readString(u8())));
    case BOXED_BOOLEAN: return remember(Object(u8() === 1));
    case BOXED_BIGINT: return remember(Object(readBigint()));
    default:
      throw new RangeError(`weft codec: unknown tag ${tag} at byte ${pos - 1}`);
  }
}

function decodeText(view: Uint8Array): string {
  if (decodeShared || !(view.buffer instanceof SharedArrayBuffer)) return textDecoder.decode(view);
  return textDecoder.decode(view.slice());
}
