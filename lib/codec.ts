/**
 * The codec of weft's channels: structured-cloneable values to bytes and back, for Queue, Pipe and
 * Pool records in shared-memory rings. No `v8.serialize` (NOTES.md: with `deserialize` it costs
 * more than `postMessage` itself) and no `node:` import, so it runs wherever the primitives do.
 *
 * ## Format
 * A value is a one-byte tag followed by its body. Fixed-width fields are little-endian; `str` is
 * a string value (any of the string tags), `val` any value. Containers hold their elements inline.
 *
 * | tag         | value                        | body                                                       |
 * |-------------|------------------------------|------------------------------------------------------------|
 * | 0x00–0x03   | undefined, null, false, true | —                                                          |
 * | 0x04        | integer −128…−1              | i8                                                         |
 * | 0x05        | integer (int32)              | i32                                                        |
 * | 0x06        | any other number             | f64 (NaN, −0, ±Infinity, fractions, integers past int32)   |
 * | 0x07        | BigInt in int64              | i64                                                        |
 * | 0x08        | BigInt, larger               | u8 sign (1 = negative), u32 byte count, magnitude bytes LE |
 * | 0x09        | ASCII string, 64+ chars      | u32 length, one byte per char                              |
 * | 0x0A        | string, UTF-8                | u32 byte length, bytes (64+ chars, well-formed, not ASCII) |
 * | 0x0B        | string, UTF-16               | u32 code units, 2 bytes each (short non-ASCII strings and strings with lone surrogates) |
 * | 0x0C        | Array                        | u32 length, elements; at the first hole HOLES ends them    |
 * | 0x0D        | HOLES (inside an Array only) | u32 count, count × (key str, val): the own enumerable keys from the first hole on, non-index keys too |
 * | 0x0E        | plain object                 | u32 key count, u32 key bytes, the keys (str), then the values in the same order |
 * | 0x0F        | Map                          | u32 size, size × (key val, value val)                      |
 * | 0x10        | Set                          | u32 size, size × val                                       |
 * | 0x11        | Date                         | f64 time value (NaN for an invalid Date)                   |
 * | 0x12        | RegExp                       | source str, flags str                                      |
 * | 0x13        | Error                        | name str, u8 has (1 message, 2 stack, 4 cause), [message str], [stack str], [cause val] |
 * | 0x14        | ArrayBuffer                  | u32 byte length, pad, bytes                                |
 * | 0x15        | resizable ArrayBuffer        | u32 byte length, u32 max byte length, pad, bytes           |
 * | 0x16        | view of its buffer           | u8 kind, buffer (0x14, 0x15 or REF), u32 byteOffset, u32 length (elements; bytes for a DataView) |
 * | 0x17        | view, own bytes only         | u8 kind, u32 byte length, pad, bytes                       |
 * | 0x18        | REF                          | u32 index of an object met before in this value            |
 * | 0x19–0x1C   | boxed Number, String, Boolean, BigInt | f64 / str / u8 / the BigInt value                 |
 * | 0x40–0x7F   | ASCII string of 0…63 chars   | length in the tag's low 6 bits, one byte per char          |
 * | 0x80–0xFF   | integer 0…127                | value in the tag's low 7 bits                              |
 *
 * View kinds: 0 Int8Array, 1 Uint8Array, 2 Uint8ClampedArray, 3 Int16Array, 4 Uint16Array,
 * 5 Int32Array, 6 Uint32Array, 7 Float32Array, 8 Float64Array, 9 BigInt64Array, 10 BigUint64Array,
 * 11 DataView.
 *
 * "pad": 0 to 7 zero bytes, so that a buffer's bytes start a multiple of 8 bytes after the value's
 * start. A ring's records start 8-aligned, so the decoder then copies them out of shared memory
 * between ends of the same alignment: at memcpy speed, where V8 copies byte by byte otherwise.
 *
 * ## Identity, as `structuredClone` keeps it
 * Every object gets the next index when first met, in the same order on both sides; meeting it
 * again writes a REF, so cycles and shared references come back as one object. The table costs
 * nothing until an object is met: up to 16 objects it is a linear scan of a reused array (cheaper
 * than hashing for the small items channels mostly carry), past that a reused Map.
 *
 * A typed array or DataView carries its whole buffer (with byteOffset, so views of one buffer
 * share it again after decoding) when it covers all of that buffer or the buffer was met earlier
 * in the value. A view of part of a buffer not met before carries only its own bytes, at offset
 * 0: a 3-byte Node `Buffer` is a window on an 8 KiB pool, which `structuredClone` would copy whole.
 *
 * ## Where this differs from `structuredClone` (on purpose, or as a known limit)
 * - Class instances and other objects with a foreign prototype become plain objects of their own
 *   enumerable string-keyed properties, prototype dropped — as `structuredClone` does, though the
 *   channel contract lists "a class instance's prototype" as uncloneable: it is the prototype that
 *   is lost, not the item. Host objects that `structuredClone` rejects but plain JavaScript cannot
 *   tell apart (a `MessagePort`, a `Proxy`), and built-ins of another realm (a `Map` made in a
 *   `vm` context), are cloned the same way.
 * - An Error keeps a non-standard `name` ('MyError', 'AbortError') as its own property on an
 *   `Error`; `structuredClone` turns it into 'Error'. Its other own properties (`code`) are dropped
 *   by both.
 * - Own non-index properties of an array are kept when the array has holes (they travel with the
 *   holes) and dropped otherwise: finding them in a dense array costs an `Object.keys` per array.
 * - A length-tracking view of a resizable buffer comes back with a fixed length.
 * - Shared memory cannot travel through a byte ring: a SharedArrayBuffer, or a view of one, throws
 *   and says to send it in `workerData` or a `postMessage` payload, or to use a weft `SharedArray`
 *   or `Value`, whose clones share their memory.
 *
 * ## Speed (NOTES.md technique 5; every choice below was measured on this machine)
 * Encoding: one scratch buffer per `Encoder`, grown by doubling, reused, and replaced by a small
 * one after a run of small values follows a huge one. The view `encode()` returns is cached per
 * length, so items of one size allocate nothing. Integers 0…127 and ASCII strings shorter than 64
 * chars carry their size in the tag. Strings up to 40 chars are copied by a `charCodeAt` loop
 * (`TextEncoder.encodeInto` plus the `subarray` it needs costs more below that); short non-ASCII
 * strings travel as UTF-16, which keeps lone surrogates exact and decodes faster than a
 * `TextDecoder` call; longer strings go through `encodeInto` straight into the scratch, falling
 * back to UTF-16 only when `isWellFormed` finds a lone surrogate (UTF-8 would make it U+FFFD).
 * Plain objects are walked with for-in (V8's enum cache, no key array).
 *
 * Decoding: where the host has Node's `Buffer.prototype.latin1Slice`/`utf8Slice` (feature-detected,
 * not imported), ASCII runs of 24+ chars and all UTF-8 text go through them; otherwise up to 16
 * ASCII chars are one `String.fromCharCode` call of exactly that many arguments (one flat string),
 * up to 64 a few 16-argument calls, longer text a `TextDecoder` (copied out first where the
 * runtime's `TextDecoder` refuses shared memory; Node 20's accepts it). Object keys of a sequence seen before are not decoded again: the run of key bytes is
 * looked up in a shape cache (a hash of a few of its words picks a pair of slots, a word-by-word
 * comparison proves the hit), and from its second sighting a shape has a small function made for
 * it that builds the object from a literal, so objects get V8's fast literal shape instead of one
 * hidden-class transition per key. Errors are constructed without capturing a stack trace, which
 * would cost microseconds only to be replaced by the sender's stack.
 */

// Tags (see the table above).
const UNDEFINED = 0x00, NULL = 0x01, FALSE = 0x02, TRUE = 0x03, INT8 = 0x04, INT32 = 0x05, FLOAT64 = 0x06,
  BIGINT64 = 0x07, BIGINT = 0x08, ASCII = 0x09, UTF8 = 0x0a, UTF16 = 0x0b, ARRAY = 0x0c, HOLES = 0x0d,
  OBJECT = 0x0e, MAP = 0x0f, SET = 0x10, DATE = 0x11, REGEXP = 0x12, ERROR = 0x13, ARRAY_BUFFER = 0x14,
  RESIZABLE_BUFFER = 0x15, VIEW = 0x16, VIEW_COPY = 0x17, REF = 0x18, BOXED_NUMBER = 0x19,
  BOXED_STRING = 0x1a, BOXED_BOOLEAN = 0x1b, BOXED_BIGINT = 0x1c;
/** 0x40 + length: an ASCII string of 0…63 chars. */
const FIXASCII = 0x40;
/** 0x80 + n: the integer n, 0…127. */
const FIXINT = 0x80;

/** Error `has` bits. */
const HAS_MESSAGE = 1, HAS_STACK = 2, HAS_CAUSE = 4;

/** View kinds, by index. */
const TYPED = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array] as const;
const DATA_VIEW = 11;
type TypedArrayCtor = (typeof TYPED)[number];

/** The constructors an Error decodes to, by name (a Map: a name like 'constructor' must not hit Object.prototype). */
const ERRORS = new Map<string, ErrorConstructor>([
  ['Error', Error], ['EvalError', EvalError], ['RangeError', RangeError], ['ReferenceError', ReferenceError],
  ['SyntaxError', SyntaxError], ['TypeError', TypeError], ['URIError', URIError],
]);

// Web APIs every target runtime has, absent from the ECMAScript lib typings this project compiles with.
declare const TextEncoder: new () => { encodeInto(s: string, into: Uint8Array): { read: number; written: number } };
declare const TextDecoder: new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) => {
  decode(bytes: Uint8Array): string;
};

const textEncoder = new TextEncoder();
// ignoreBOM: without it a string starting with U+FEFF would lose that character.
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
/** Where shared memory is off (a browser page without cross-origin isolation), there is no such class. */
const SharedBuffer: (new (n: number) => ArrayBufferLike) | null = typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : null;
/** Browsers' TextDecoder refuses views of shared memory; Node 20's accepts them. */
const decodesShared: boolean = (() => {
  if (SharedBuffer === null) return true;
  try {
    textDecoder.decode(new Uint8Array(new SharedBuffer(1)));
    return true;
  } catch {
    return false;
  }
})();

/**
 * Node's (and Bun's) native string codecs, found on `Buffer.prototype` by feature
 * detection (no import: elsewhere they are absent and the portable paths serve). They take any
 * Uint8Array, shared memory included: `latin1Slice` makes a flat one-byte string of an ASCII run
 * about 3x faster than 16-argument `fromCharCode` calls at 64 chars, and `utf8Slice` decodes
 * UTF-8 faster than a `TextDecoder` call, and `utf8Write` writes into the scratch at an offset
 * without the `subarray` that `encodeInto` needs (measured on this machine kind, Node 20).
 */
interface NativeSlices {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  utf8Slice(this: Uint8Array, start: number, end: number): string;
  /** Writes `s` as UTF-8 at `offset`, at most `length` bytes (whole characters); returns the bytes written. */
  utf8Write(this: Uint8Array, s: string, offset: number, length: number): number;
}
const nativeSlices: NativeSlices | null = (() => {
  const proto = (globalThis as { Buffer?: { prototype?: Partial<NativeSlices> } }).Buffer?.prototype;
  if (typeof proto?.latin1Slice !== 'function' || typeof proto.utf8Slice !== 'function' || typeof proto.utf8Write !== 'function') return null;
  try {
    // Shared memory and a plain Uint8Array (not a Buffer) as `this`: the ring hands both.
    const probe = new Uint8Array(SharedBuffer ? new SharedBuffer(4) : new ArrayBuffer(4));
    probe.set([0x61, 0xc3, 0xa9, 0x62]);
    if (proto.latin1Slice.call(probe, 0, 1) !== 'a' || proto.utf8Slice.call(probe, 1, 4) !== '\u00e9b') return null;
    const out = new Uint8Array(4);
    if (proto.utf8Write.call(out, '\u00e9', 1, 3) !== 2 || out[1] !== 0xc3 || out[2] !== 0xa9) return null;
  } catch {
    return null;
  }
  return proto as NativeSlices;
})();
const latin1Slice = nativeSlices?.latin1Slice ?? null;
const utf8Slice = nativeSlices?.utf8Slice ?? null;
const utf8Write = nativeSlices?.utf8Write ?? null;
/** Strings up to this long are encoded by `utf8Write` where the host has it (it needs room for 3 bytes a unit). */
const NATIVE_WRITE = 4096;
/** ASCII runs at least this long go to `latin1Slice` where the host has it (measured crossover ~20 chars). */
const NATIVE_ASCII = 24;

const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : isWellFormedSlow;

/** %TypedArray%.prototype[Symbol.toStringTag]: the kind's name for any typed array (a Node Buffer says 'Uint8Array'), undefined otherwise. */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!
  .get as (this: unknown) => string | undefined;
const objectToString = Object.prototype.toString;
const hasOwn = Object.prototype.hasOwnProperty;

/** Strings up to this length are encoded by a charCodeAt loop; longer ones by encodeInto (measured crossover ~40 chars). */
const SHORT_ENCODE = 40;
/** ASCII up to this many bytes is decoded by fromCharCode calls, longer by TextDecoder (at par near 64 once the joined string is flattened). */
const SHORT_DECODE = 64;
/** Objects met before the back-reference table switches from a linear scan to a Map. */
const LINEAR_REFS = 16;
const INITIAL_SCRATCH = 1024;
/** A scratch larger than this is replaced by a new small one after a run of small values. */
const SHRINK_ABOVE = 1 << 20;
/** Returned views are cached for lengths below this. */
const VIEW_CACHE = 256;

const SHARED_HINT = ': shared memory cannot travel through a byte ring; send it in workerData or a postMessage ' +
  'payload, or use a weft SharedArray or Value, whose clones share their memory';

const EMPTY = new Uint8Array(0);

/** Thrown inside the encoder; collects the path while it unwinds, then becomes a TypeError. */
class Uncloneable {
  readonly path: string[] = [];
  constructor(readonly what: string, readonly hint = '') {}

  toTypeError(who: unknown, method: string | undefined): TypeError {
    const where = 'value' + this.path.reverse().join('');
    const label = who === undefined ? 'weft' : String(who);
    return new TypeError(`${label}${method === undefined ? '' : `: ${method}()`}: cannot clone ${this.what} at ${where}${this.hint}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes the string `s`, as a whole value, straight into `target` at `at` (a channel's ring: no
 * scratch, no copy), in the same format `Encoder` writes; `target` must have `stringRoom(s)`
 * bytes there. Returns the bytes written, or -1 where it declines (a string `Encoder` writes as
 * UTF-16, or one too long for the native writer): the caller then encodes it the usual way. The
 * bytes it may have written by then are left as garbage for the caller to ignore.
 */
export function encodeStringInto(s: string, target: Uint8Array, at: number): number {
  const n = s.length;
  if (n <= SHORT_ENCODE) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return -1; // short non-ASCII: UTF-16, as Encoder #string
      target[at + 1 + i] = c;
    }
    target[at] = FIXASCII | n;
    return 1 + n;
  }
  if (utf8Write === null || n > NATIVE_WRITE) return -1;
  const head = n < 64 ? 1 : 5;
  const written = utf8Write.call(target, s, at + head, 3 * n);
  if (written === n) {
    // As many bytes as code units: all ASCII (as Encoder #longString decides).
    if (n < 64) {
      target[at] = FIXASCII | n;
    } else {
      target[at] = ASCII;
      putU32(target, at + 1, n);
    }
    return head + n;
  }
  if (n < 64 || !isWellFormed(s)) return -1; // UTF-16, as Encoder #longString
  target[at] = UTF8;
  putU32(target, at + 1, written);
  return 5 + written;
}

/** The most bytes {@link encodeStringInto} writes for `s`. */
export function stringRoom(s: string): number {
  return 5 + 3 * s.length;
}

function putU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n;
  b[at + 1] = n >>> 8;
  b[at + 2] = n >>> 16;
  b[at + 3] = n >>> 24;
}

/** Reusable encoder: one per channel end per thread; its scratch buffer grows as needed and is reused. */
export class Encoder {
  #buf: Uint8Array = new Uint8Array(INITIAL_SCRATCH);
  #dv: DataView = new DataView(this.#buf.buffer);
  #words: Int32Array = new Int32Array(this.#buf.buffer);
  #pos = 0;
  /** Objects met in the value being encoded, by index (only the first LINEAR_REFS once #seen is on). */
  readonly #objects: unknown[] = [];
  #count = 0;
  /** Object → index, used once a value holds more than LINEAR_REFS objects; kept and cleared for reuse. */
  #seen: Map<unknown, number> | null = null;
  #useSeen = false;
  /** Views of #buf returned by encode(), by length; the last long one. */
  #views: (Uint8Array | undefined)[] = [];
  #lastView: Uint8Array = EMPTY;
  #smallRun = 0;
  #busy = false;
  #shrink = false;

  /**
   * Encodes `value`; returns a view of the internal scratch holding the bytes, valid until the
   * next `encode()` call. Throws `TypeError` (and nothing else changes) if `value` holds something
   * that cannot be cloned; the message starts with `who` and `method`, stringified only then:
   * `encode(v, "Queue 'jobs'", 'put')` or `encode(v, "Queue 'jobs': put()")` both give
   * `Queue 'jobs': put(): cannot clone a function (onDone) at value.handlers[2].onDone`.
   */
  encode(value: unknown, who?: unknown, method?: string): Uint8Array {
    if (this.#busy) {
      // A getter of the value put something on the same channel end: that would overwrite the scratch.
      throw new Error(`${who === undefined ? 'weft' : String(who)}: encode re-entered from inside the value being encoded`);
    }
    this.#busy = true;
    if (this.#shrink) {
      // Deferred from the last encode: its bytes (and words) stayed valid until this call.
      this.#shrink = false;
      this.#setBuffer(new Uint8Array(INITIAL_SCRATCH));
    }
    this.#pos = 0;
    try {
      this.#value(value);
    } catch (e) {
      if (e instanceof Uncloneable) throw e.toTypeError(who, method);
      throw e;
    } finally {
      this.#busy = false;
      if (this.#count !== 0) this.#forget();
    }
    const n = this.#pos;
    let out: Uint8Array;
    if (n < VIEW_CACHE) out = this.#views[n] ??= this.#buf.subarray(0, n);
    else if (this.#lastView.length === n) out = this.#lastView;
    else out = this.#lastView = this.#buf.subarray(0, n);
    if (this.#buf.length > SHRINK_ABOVE) this.#maybeShrink(n);
    return out;
  }

  /**
   * The scratch as 32-bit words: the bytes `encode()` returned last start at word 0, and the
   * scratch holds whole words past them (its size is a power of two), so a ring can copy a short
   * record a word at a time. Valid until the next `encode()` call, like the bytes.
   */
  get words(): Int32Array {
    return this.#words;
  }

  #forget(): void {
    // Drop the references to the value's objects (stores, not .length = 0, which is a runtime call).
    const objects = this.#objects;
    const linear = Math.min(this.#count, LINEAR_REFS);
    for (let i = 0; i < linear; i++) objects[i] = undefined;
    this.#count = 0;
    if (this.#useSeen) {
      this.#seen!.clear();
      this.#useSeen = false;
    }
  }

  #maybeShrink(n: number): void {
    if (n > this.#buf.length >>> 4) {
      this.#smallRun = 0;
    } else if (++this.#smallRun >= 64) {
      // The view just returned keeps the big buffer alive for as long as its caller holds it.
      this.#shrink = true;
      this.#smallRun = 0;
    }
  }

  #setBuffer(b: Uint8Array): void {
    this.#buf = b;
    this.#dv = new DataView(b.buffer);
    this.#words = new Int32Array(b.buffer);
    this.#views = [];
    this.#lastView = EMPTY;
  }

  /** Makes room for `need` bytes in all (callers pass #pos + what they are about to write). */
  #grow(need: number): void {
    if (need > 0xffffffff) throw new RangeError('weft codec: a value cannot take more than 4 GiB');
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(Math.min(size, 0xffffffff));
    next.set(this.#buf.subarray(0, this.#pos));
    this.#setBuffer(next);
  }

  #byte(t: number): void {
    const p = this.#pos;
    if (p >= this.#buf.length) this.#grow(p + 1);
    this.#buf[p] = t;
    this.#pos = p + 1;
  }

  /** Tag plus u32. */
  #tagU32(tag: number, n: number): void {
    const p = this.#pos;
    if (p + 5 > this.#buf.length) this.#grow(p + 5);
    const b = this.#buf;
    b[p] = tag;
    b[p + 1] = n;
    b[p + 2] = n >>> 8;
    b[p + 3] = n >>> 16;
    b[p + 4] = n >>> 24;
    this.#pos = p + 5;
  }

  #u32At(at: number, n: number): void {
    putU32(this.#buf, at, n);
  }

  #f64(tag: number, n: number): void {
    const p = this.#pos;
    if (p + 9 > this.#buf.length) this.#grow(p + 9);
    this.#buf[p] = tag;
    this.#dv.setFloat64(p + 1, n, true);
    this.#pos = p + 9;
  }

  /** A byte (a tag or a view kind), u32 length, padding to 8 (see #pad), then the bytes. */
  #bytes(tag: number, bytes: Uint8Array): void {
    const n = bytes.length;
    this.#tagU32(tag, n);
    this.#pad();
    const p = this.#pos;
    if (p + n > this.#buf.length) this.#grow(p + n);
    this.#buf.set(bytes, p);
    this.#pos = p + n;
  }

  /**
   * Zero bytes up to the next multiple of 8 from the value's start. A buffer's bytes start there,
   * so that where the encoding itself starts 8-aligned (a ring's records do) the decoder copies
   * them out of shared memory between ends of the same alignment mod 8: at memcpy speed, not
   * byte by byte (V8's relaxed memmove, ~7× slower).
   */
  #pad(): void {
    const p = this.#pos;
    const k = -p & 7;
    if (k === 0) return;
    if (p + k > this.#buf.length) this.#grow(p + k);
    const b = this.#buf;
    for (let i = p; i < p + k; i++) b[i] = 0; // (a fill() call costs more than 7 stores)
    this.#pos = p + k;
  }

  #value(v: unknown): void {
    switch (typeof v) {
      case 'number':
        return this.#number(v);
      case 'string':
        return this.#string(v);
      case 'object':
        return v === null ? this.#byte(NULL) : this.#object(v);
      case 'boolean':
        return this.#byte(v ? TRUE : FALSE);
      case 'undefined':
        return this.#byte(UNDEFINED);
      case 'bigint':
        return this.#bigint(v);
      case 'function':
        throw new Uncloneable(v.name ? `a function (${v.name})` : 'a function');
      default:
        throw new Uncloneable(`a symbol (${String(v)})`);
    }
  }

  #number(n: number): void {
    const i = n | 0;
    // (-0 | 0) is 0: the second test keeps −0 out of the integer encodings.
    if (i === n && (i !== 0 || 1 / n > 0)) {
      const p = this.#pos;
      if (p + 5 > this.#buf.length) this.#grow(p + 5);
      const b = this.#buf;
      if (i >= 0 && i < 128) {
        b[p] = FIXINT | i;
        this.#pos = p + 1;
      } else if (i < 0 && i >= -128) {
        b[p] = INT8;
        b[p + 1] = i;
        this.#pos = p + 2;
      } else {
        b[p] = INT32;
        b[p + 1] = i;
        b[p + 2] = i >>> 8;
        b[p + 3] = i >>> 16;
        b[p + 4] = i >>> 24;
        this.#pos = p + 5;
      }
      return;
    }
    this.#f64(FLOAT64, n);
  }

  #string(s: string): void {
    const n = s.length;
    if (n > SHORT_ENCODE) return this.#longString(s, n);
    const p = this.#pos;
    // Room for the UTF-16 fallback too, so the loop needs no check.
    if (p + 5 + 2 * n > this.#buf.length) this.#grow(p + 5 + 2 * n);
    const b = this.#buf;
    const at = p + 1;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.#utf16(s, n);
      b[at + i] = c;
    }
    b[p] = FIXASCII | n;
    this.#pos = at + n;
  }

  /** Code units as they are: lone surrogates stay exact. */
  #utf16(s: string, n: number): void {
    this.#tagU32(UTF16, n);
    const p = this.#pos;
    if (p + 2 * n > this.#buf.length) this.#grow(p + 2 * n);
    const b = this.#buf;
    for (let i = 0, q = p; i < n; i++, q += 2) {
      const c = s.charCodeAt(i);
      b[q] = c;
      b[q + 1] = c >>> 8;
    }
    this.#pos = p + 2 * n;
  }

  #longString(s: string, n: number): void {
    const p = this.#pos;
    // A short string has a 1-byte header; only ASCII ends up there (non-ASCII short ones go UTF-16).
    const at = n < 64 ? p + 1 : p + 5;
    let read: number;
    let written: number;
    if (utf8Write !== null && n <= NATIVE_WRITE) {
      // Room for the worst case (3 bytes a unit), so all of it is written in one call.
      if (at + 3 * n > this.#buf.length) this.#grow(at + 3 * n);
      written = utf8Write.call(this.#buf, s, at, 3 * n);
      read = n;
    } else {
      // Room for ASCII first; encodeInto says how far it got, and a second call finishes the rest.
      if (at + n > this.#buf.length) this.#grow(at + n);
      ({ read, written } = textEncoder.encodeInto(s, this.#buf.subarray(at)));
    }
    if (written === n && read === n) {
      // As many bytes as code units, all of them read: every unit was ASCII (any other takes 2 or
      // 3 bytes; `read` matters where the room ends exactly at n bytes and a stop fills it).
      if (n < 64) {
        this.#buf[p] = FIXASCII | n;
      } else {
        this.#buf[p] = ASCII;
        this.#u32At(p + 1, n);
      }
      this.#pos = at + n;
      return;
    }
    if (n < 64 || !isWellFormed(s)) {
      // UTF-8 would turn a lone surrogate into U+FFFD: keep the code units instead.
      return this.#utf16(s, n);
    }
    if (read < n) {
      this.#pos = at + written;
      this.#grow(at + written + 3 * (n - read));
      written += textEncoder.encodeInto(s.slice(read), this.#buf.subarray(at + written)).written;
    }
    this.#buf[p] = UTF8;
    this.#u32At(p + 1, written);
    this.#pos = at + written;
  }

  #bigint(v: bigint): void {
    if (BigInt.asIntN(64, v) === v) {
      const p = this.#pos;
      if (p + 9 > this.#buf.length) this.#grow(p + 9);
      this.#buf[p] = BIGINT64;
      this.#dv.setBigInt64(p + 1, v, true);
      this.#pos = p + 9;
      return;
    }
    // Past 64 bits: the magnitude's bytes from its hex digits (linear, where shifting 64 bits at a time is quadratic).
    const negative = v < 0n;
    const hex = (negative ? -v : v).toString(16);
    const digits = hex.length;
    const n = (digits + 1) >>> 1;
    const p = this.#pos;
    if (p + 6 + n > this.#buf.length) this.#grow(p + 6 + n);
    const b = this.#buf;
    b[p] = BIGINT;
    b[p + 1] = negative ? 1 : 0;
    this.#u32At(p + 2, n);
    for (let i = 0, d = digits - 1; i < n; i++, d -= 2) {
      const lo = hexValue(hex.charCodeAt(d));
      b[p + 6 + i] = d > 0 ? (hexValue(hex.charCodeAt(d - 1)) << 4) | lo : lo;
    }
    this.#pos = p + 6 + n;
  }

  #indexOf(o: object): number {
    if (this.#useSeen) return this.#seen!.get(o) ?? -1;
    const objects = this.#objects;
    for (let i = 0, n = this.#count; i < n; i++) if (objects[i] === o) return i;
    return -1;
  }

  #remember(o: object): void {
    const count = this.#count;
    if (this.#useSeen) {
      this.#seen!.set(o, count);
    } else if (count < LINEAR_REFS) {
      this.#objects[count] = o;
    } else {
      const seen = (this.#seen ??= new Map());
      for (let i = 0; i < count; i++) seen.set(this.#objects[i], i);
      seen.set(o, count);
      this.#useSeen = true;
    }
    this.#count = count + 1;
  }

  #object(o: object): void {
    if (this.#count !== 0) {
      const index = this.#indexOf(o);
      if (index >= 0) return this.#tagU32(REF, index);
    }
    this.#remember(o);
    if (Array.isArray(o)) return this.#array(o);
    const proto: unknown = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) return this.#plain(o as Record<string, unknown>, null);
    return this.#special(o, proto);
  }

  #array(a: unknown[]): void {
    const n = a.length;
    this.#tagU32(ARRAY, n);
    let i = 0;
    let hole = -1;
    try {
      for (; i < n; i++) {
        const v = a[i];
        // (The `in` test only for undefined: it costs a lookup per element.)
        if (v === undefined && !(i in a)) {
          hole = i;
          break;
        }
        this.#value(v);
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(`[${i}]`);
      throw e;
    }
    if (hole >= 0) this.#holes(a, hole);
  }

  /** From the first hole on: the array's own enumerable keys, index or not, as (key, value) pairs. */
  #holes(a: unknown[], from: number): void {
    this.#tagU32(HOLES, 0);
    const countAt = this.#pos - 4;
    const keys = Object.keys(a);
    let m = 0;
    let k = '';
    try {
      for (k of keys) {
        if (isIndexBelow(k, from)) continue;
        this.#string(k);
        this.#value((a as unknown as Record<string, unknown>)[k]);
        m++;
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(isIndexBelow(k, 0xffffffff) ? `[${k}]` : propertyLabel(k));
      throw e;
    }
    this.#u32At(countAt, m);
  }

  /** Plain object (keys === null: enumerate with for-in) or any other object's own enumerable keys. */
  #plain(o: Record<string, unknown>, keys: string[] | null): void {
    const p = this.#pos;
    if (p + 9 > this.#buf.length) this.#grow(p + 9);
    this.#buf[p] = OBJECT;
    this.#pos = p + 9;
    let n = 0;
    // All keys, then all values: the decoder recognises the run of keys as a shape it has seen.
    // (Two for-in loops measured faster than one that parks the values in an array.)
    if (keys === null) {
      // for-in on an object whose prototype is Object.prototype or null walks V8's enum cache
      // without allocating, and `o[k]` inside it is a fast load. It would also list enumerable
      // properties someone added to Object.prototype: the hasOwnProperty test keeps those out.
      for (const k in o) {
        if (!hasOwn.call(o, k)) continue;
        this.#string(k);
        n++;
      }
    } else {
      for (const k of keys) this.#string(k);
      n = keys.length;
    }
    this.#u32At(p + 1, n);
    this.#u32At(p + 5, this.#pos - p - 9);
    let k = '';
    try {
      if (keys === null) {
        for (k in o) if (hasOwn.call(o, k)) this.#value(o[k]);
      } else {
        for (k of keys) this.#value(o[k]);
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(propertyLabel(k));
      throw e;
    }
  }

  #special(o: object, proto: unknown): void {
    if (ArrayBuffer.isView(o)) return this.#view(o, proto);
    if (o instanceof Map) return this.#map(o);
    if (o instanceof Set) return this.#set(o);
    if (o instanceof Date) return this.#f64(DATE, o.getTime());
    if (o instanceof RegExp) {
      this.#byte(REGEXP);
      this.#string(o.source);
      return this.#string(o.flags);
    }
    if (o instanceof Error) return this.#error(o);
    if (o instanceof ArrayBuffer) return this.#arrayBuffer(o);
    if (o instanceof Number) return this.#f64(BOXED_NUMBER, o.valueOf());
    if (o instanceof String) {
      this.#byte(BOXED_STRING);
      return this.#string(o.valueOf());
    }
    if (o instanceof Boolean) {
      this.#byte(BOXED_BOOLEAN);
      return this.#byte(o.valueOf() ? 1 : 0);
    }
    if (o instanceof (BigInt as unknown as new () => { valueOf(): bigint })) {
      this.#byte(BOXED_BIGINT);
      return this.#bigint(o.valueOf());
    }
    if (SharedBuffer !== null && o instanceof SharedBuffer) {
      throw new Uncloneable('a SharedArrayBuffer', SHARED_HINT);
    }
    // What structuredClone refuses and instanceof alone would miss (a boxed Symbol, a generator,
    // an iterator): their built-in toStringTag names them.
    const tag = objectToString.call(o).slice(8, -1);
    if (UNCLONEABLE.has(tag) || tag.endsWith(' Iterator') || tag.startsWith('WebAssembly.')) {
      throw new Uncloneable(article(tag));
    }
    // Any other object (a class instance): its own enumerable properties, prototype dropped, as structuredClone does.
    return this.#plain(o as Record<string, unknown>, Object.keys(o));
  }

  #map(m: Map<unknown, unknown>): void {
    this.#tagU32(MAP, 0);
    const countAt = this.#pos - 4;
    let i = 0;
    let key: unknown;
    let inKey = false;
    try {
      for (const [k, v] of m) {
        key = k;
        inKey = true;
        this.#value(k);
        inKey = false;
        this.#value(v);
        i++;
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(inKey ? `.keys()[${i}]` : `.get(${keyLabel(key)})`);
      throw e;
    }
    this.#u32At(countAt, i);
  }

  #set(s: Set<unknown>): void {
    this.#tagU32(SET, 0);
    const countAt = this.#pos - 4;
    let i = 0;
    try {
      for (const v of s) {
        this.#value(v);
        i++;
      }
    } catch (e) {
      if (e instanceof Uncloneable) e.path.push(`.values()[${i}]`);
      throw e;
    }
    this.#u32At(countAt, i);
  }

  #error(e: Error): void {
    // As structuredClone: the name read through the prototype chain, message only if own, stack if a string, cause if own.
    const name: unknown = e.name;
    this.#byte(ERROR);
    this.#string(typeof name === 'string' ? name : 'Error');
    const hasMessage = hasOwn.call(e, 'message');
    const stack: unknown = e.stack;
    const hasCause = hasOwn.call(e, 'cause');
    this.#byte((hasMessage ? HAS_MESSAGE : 0) | (typeof stack === 'string' ? HAS_STACK : 0) | (hasCause ? HAS_CAUSE : 0));
    if (hasMessage) this.#string(String(e.message));
    if (typeof stack === 'string') this.#string(stack);
    if (hasCause) {
      try {
        this.#value(e.cause);
      } catch (x) {
        if (x instanceof Uncloneable) x.path.push('.cause');
        throw x;
      }
    }
  }

  #arrayBuffer(b: ArrayBuffer): void {
    if (b.byteLength === 0 && isDetached(b)) throw new Uncloneable('a detached ArrayBuffer');
    const r = b as ArrayBuffer & { resizable?: boolean; maxByteLength?: number };
    if (r.resizable === true) {
      this.#tagU32(RESIZABLE_BUFFER, b.byteLength);
      const p = this.#pos;
      if (p + 4 > this.#buf.length) this.#grow(p + 4);
      this.#u32At(p, r.maxByteLength!);
      this.#pos = p + 4;
      this.#pad();
      const at = this.#pos;
      const n = b.byteLength;
      if (at + n > this.#buf.length) this.#grow(at + n);
      this.#buf.set(new Uint8Array(b), at);
      this.#pos = at + n;
      return;
    }
    this.#bytes(ARRAY_BUFFER, new Uint8Array(b));
  }

  #view(v: ArrayBufferView, proto: unknown): void {
    const buffer = v.buffer;
    if (!(buffer instanceof ArrayBuffer)) throw new Uncloneable(`a view of a SharedArrayBuffer (${typedArrayName.call(v) ?? 'DataView'})`, SHARED_HINT);
    // The prototype names the kind, unless the view's class is a subclass (a Node Buffer).
    const kind = VIEW_KINDS.get(proto) ?? viewKind(v);
    const offset = v.byteOffset;
    const length = v.byteLength;
    // The buffer travels with the view (and is shared again on the other side) when the view
    // covers all of it or it was met before; else only the view's own bytes travel.
    const known = this.#count === 0 ? -1 : this.#indexOf(buffer);
    if (known >= 0 || (offset === 0 && length === buffer.byteLength)) {
      this.#byte(VIEW);
      this.#byte(kind);
      this.#object(buffer);
      const p = this.#pos;
      if (p + 8 > this.#buf.length) this.#grow(p + 8);
      this.#u32At(p, offset);
      this.#u32At(p + 4, kind === DATA_VIEW ? length : length / TYPED[kind]!.BYTES_PER_ELEMENT);
      this.#pos = p + 8;
      return;
    }
    this.#byte(VIEW_COPY);
    this.#bytes(kind, new Uint8Array(buffer, offset, length));
  }
}

/** Names whose objects structuredClone refuses (Object.prototype.toString tags). */
const UNCLONEABLE = new Set(['Symbol', 'Promise', 'WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry',
  'Generator', 'AsyncGenerator', 'Function', 'AsyncFunction', 'GeneratorFunction', 'AsyncGeneratorFunction', 'Module']);

const VIEW_KINDS = new Map<unknown, number>([...TYPED.map((C, i) => [C.prototype, i] as const), [DataView.prototype, DATA_VIEW]]);

function viewKind(v: ArrayBufferView): number {
  switch (typedArrayName.call(v)) {
    case 'Int8Array': return 0;
    case 'Uint8Array': return 1;
    case 'Uint8ClampedArray': return 2;
    case 'Int16Array': return 3;
    case 'Uint16Array': return 4;
    case 'Int32Array': return 5;
    case 'Uint32Array': return 6;
    case 'Float32Array': return 7;
    case 'Float64Array': return 8;
    case 'BigInt64Array': return 9;
    case 'BigUint64Array': return 10;
    case undefined: return DATA_VIEW;
    default:
      // A kind newer than this codec (Float16Array).
      throw new Uncloneable(article(typedArrayName.call(v)!));
  }
}

/** (ArrayBuffer.prototype.detached is newer than Node 20: a view of a detached buffer cannot be made.) */
function isDetached(b: ArrayBuffer): boolean {
  try {
    void new Uint8Array(b);
    return false;
  } catch {
    return true;
  }
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57; // '0'-'9', 'a'-'f' (toString(16) is lower case)
}

/** `k` is a canonical array index below `limit`. */
function isIndexBelow(k: string, limit: number): boolean {
  const n = k.length;
  if (n === 0 || n > 10) return false;
  const c0 = k.charCodeAt(0);
  if (c0 < 0x30 || c0 > 0x39 || (c0 === 0x30 && n > 1)) return false;
  for (let i = 1; i < n; i++) {
    const c = k.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return +k < limit;
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

function propertyLabel(k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

function keyLabel(k: unknown): string {
  switch (typeof k) {
    case 'string': return JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k);
    case 'number': case 'boolean': case 'undefined': return String(k);
    case 'bigint': return `${k}n`;
    default: return k === null ? 'null' : '…';
  }
}

function article(noun: string): string {
  return `${/^[AEIOU]/.test(noun) ? 'an' : 'a'} ${noun}`;
}

// ---------------------------------------------------------------------------------------------
// Decoding

// The decoder's state lives in module variables: decoding runs no user code, so it is never
// re-entered, and a value costs no reader object.
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;
/** Where the value being decoded starts: buffers' bytes are padded to 8 from there (Encoder #pad). */
let base = 0;
/** Objects met so far in the value being decoded, for REF; slots past objectCount are stale. */
const objects: unknown[] = [];
let objectCount = 0;

/** 8 bytes for f64 / i64 reads: no DataView of the caller's buffer needed. */
const scratch8 = new Uint8Array(8);
const scratchF64 = new Float64Array(scratch8.buffer);
const scratchI64 = new BigInt64Array(scratch8.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A non-shared copy for runtimes whose TextDecoder refuses shared memory. */
let textScratch = new Uint8Array(0);

/**
 * Decodes one value from `bytes` (or from `bytes[start, stop)`). `bytes` may be a view over a
 * SharedArrayBuffer that another thread overwrites after this returns: nothing is kept of it,
 * every string and buffer is copied out. Malformed or truncated bytes throw `RangeError`.
 */
export function decode(bytes: Uint8Array, start = 0, stop: number = bytes.length): unknown {
  if (!(start >= 0 && start <= stop && stop <= bytes.length)) {
    throw new RangeError(`weft codec: bad range [${start}, ${stop}) of ${bytes.length} bytes`);
  }
  src = bytes;
  pos = start;
  end = stop;
  base = start;
  try {
    const v = readValue();
    if (pos !== end) throw new RangeError(`weft codec: ${end - pos} bytes left over after a value`);
    return v;
  } finally {
    src = EMPTY;
    if (objectCount !== 0) {
      // Drop the references; after a huge value, the table's storage too (a runtime call, rarely).
      if (objectCount > 4096) objects.length = 0;
      else for (let i = 0; i < objectCount; i++) objects[i] = undefined;
      objectCount = 0;
    }
  }
}

function truncated(): RangeError {
  return new RangeError('weft codec: truncated value');
}

function need(n: number): void {
  if (pos + n > end) throw truncated();
}

function u8(): number {
  if (pos >= end) throw truncated();
  return src[pos++]!;
}

function u32(): number {
  const p = pos;
  if (p + 4 > end) throw truncated();
  const b = src;
  pos = p + 4;
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** Copies 8 bytes at `pos` into scratch8, in host order. */
function load8(): void {
  const p = pos;
  if (p + 8 > end) throw truncated();
  const b = src;
  const s = scratch8;
  if (littleEndian) {
    s[0] = b[p]!; s[1] = b[p + 1]!; s[2] = b[p + 2]!; s[3] = b[p + 3]!;
    s[4] = b[p + 4]!; s[5] = b[p + 5]!; s[6] = b[p + 6]!; s[7] = b[p + 7]!;
  } else {
    for (let i = 0; i < 8; i++) s[i] = b[p + 7 - i]!;
  }
  pos = p + 8;
}

function f64(): number {
  load8();
  return scratchF64[0]!;
}

function remember<T>(o: T): T {
  objects[objectCount++] = o;
  return o;
}

/** Skips the encoder's padding to 8 from the value's start (Encoder #pad). */
function skipPad(): void {
  pos += (base - pos) & 7;
}

/** A fresh (non-shared) ArrayBuffer holding the next `n` bytes (after the padding). */
function copyBuffer(n: number): ArrayBuffer {
  skipPad();
  need(n);
  const p = pos;
  pos = p + n;
  // TypedArray slice allocates a plain ArrayBuffer even when `src` views shared memory.
  return src.slice(p, p + n).buffer as ArrayBuffer;
}

const fromCharCode = String.fromCharCode;

/**
 * `n` ASCII bytes at `p`. Up to 16: one fromCharCode call of exactly n arguments, so one flat
 * string is made; longer: 16 chars per call, one string per call instead of one per char.
 */
function asciiAt(b: Uint8Array, p: number, n: number): string {
  switch (n) {
    case 0: return '';
    case 1: return fromCharCode(b[p]!);
    case 2: return fromCharCode(b[p]!, b[p + 1]!);
    case 3: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!);
    case 4: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
    case 5: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!);
    case 6: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!);
    case 7: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!);
    case 8: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!);
    case 9: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!);
    case 10: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!);
    case 11: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!);
    case 12: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!);
    case 13: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!);
    case 14: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!);
    case 15: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!);
    case 16: return fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!, b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!);
    default:
      return asciiLong(b, p, n);
  }
}

function asciiLong(b: Uint8Array, p: number, n: number): string {
  let s = '';
  for (; n >= 16; p += 16, n -= 16) {
    s += fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!, b[p + 4]!, b[p + 5]!, b[p + 6]!, b[p + 7]!,
      b[p + 8]!, b[p + 9]!, b[p + 10]!, b[p + 11]!, b[p + 12]!, b[p + 13]!, b[p + 14]!, b[p + 15]!);
  }
  for (; n >= 4; p += 4, n -= 4) s += fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
  switch (n) {
    case 1: return s + fromCharCode(b[p]!);
    case 2: return s + fromCharCode(b[p]!, b[p + 1]!);
    case 3: return s + fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!);
    default: return s;
  }
}

/** `n` little-endian UTF-16 code units at `p`. */
function utf16At(b: Uint8Array, p: number, n: number): string {
  if (n > 256) return utf16Long(b, p, n);
  let s = '';
  for (; n >= 8; p += 16, n -= 8) {
    s += fromCharCode(b[p]! | (b[p + 1]! << 8), b[p + 2]! | (b[p + 3]! << 8), b[p + 4]! | (b[p + 5]! << 8),
      b[p + 6]! | (b[p + 7]! << 8), b[p + 8]! | (b[p + 9]! << 8), b[p + 10]! | (b[p + 11]! << 8),
      b[p + 12]! | (b[p + 13]! << 8), b[p + 14]! | (b[p + 15]! << 8));
  }
  for (; n > 0; p += 2, n--) s += fromCharCode(b[p]! | (b[p + 1]! << 8));
  return s;
}

/** A long UTF-16 string (one with a lone surrogate): code units gathered, then made into a string 8192 at a time. */
function utf16Long(b: Uint8Array, p: number, n: number): string {
  const units = new Uint16Array(n);
  for (let i = 0, q = p; i < n; i++, q += 2) units[i] = b[q]! | (b[q + 1]! << 8);
  let s = '';
  for (let i = 0; i < n; i += 8192) s += fromCharCode.apply(null, units.subarray(i, Math.min(n, i + 8192)) as unknown as number[]);
  return s;
}

function textAt(p: number, n: number): string {
  if (utf8Slice !== null) return utf8Slice.call(src, p, p + n);
  const view = src.subarray(p, p + n);
  if (decodesShared || !(src.buffer instanceof SharedBuffer!)) return textDecoder.decode(view);
  // A copy in ordinary memory first: a reused scratch, or for a long text a one-off copy.
  if (n > 0x10000) return textDecoder.decode(view.slice());
  if (textScratch.length < n) textScratch = new Uint8Array(0x10000);
  textScratch.set(view);
  return textDecoder.decode(textScratch.subarray(0, n));
}

function readAscii(n: number): string {
  need(n);
  const p = pos;
  pos = p + n;
  if (n >= NATIVE_ASCII && latin1Slice !== null) return latin1Slice.call(src, p, p + n);
  return n <= SHORT_DECODE ? asciiAt(src, p, n) : textAt(p, n);
}

function readStringTagged(tag: number): string {
  if (tag >= FIXASCII && tag < FIXINT) return readAscii(tag - FIXASCII);
  switch (tag) {
    case ASCII:
      return readAscii(u32());
    case UTF8: {
      const n = u32();
      need(n);
      const p = pos;
      pos = p + n;
      return textAt(p, n);
    }
    case UTF16: {
      const n = u32();
      need(2 * n);
      const p = pos;
      pos = p + 2 * n;
      return utf16At(src, p, n);
    }
    default:
      throw new RangeError(`weft codec: expected a string, found tag ${tag} at byte ${pos - 1}`);
  }
}

function readString(): string {
  return readStringTagged(u8());
}

// Object keys. Storing a property under a fresh (not internalized) string makes V8 look the
// string up in its string table: short ASCII keys come from a small cache indexed by a hash of
// their bytes (checked byte for byte), so a key decoded again is the same string as before.
const KEY_CACHE_SIZE = 4096;
const keyCache: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_SIZE).fill(undefined);

function readKey(): string {
  const tag = u8();
  if (tag < FIXASCII || tag >= FIXINT) return readStringTagged(tag);
  const n = tag - FIXASCII;
  need(n);
  const b = src;
  const from = pos;
  pos = from + n;
  if (n > 24) return asciiAt(b, from, n);
  let h = n;
  for (let i = from; i < from + n; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  const slot = (h ^ (h >>> 15)) & (KEY_CACHE_SIZE - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === n) {
    let i = 0;
    while (i < n && cached.charCodeAt(i) === b[from + i]) i++;
    if (i === n) return cached;
  }
  return (keyCache[slot] = asciiAt(b, from, n));
}

// Object shapes. Built key by key, `{ id, name, … }` changes hidden class at every key. A key
// sequence seen twice instead gets a small function made for it (an object literal, then named
// stores, as msgpackr and V8's own deserializer fast path do), found by a hash of the raw key
// bytes and checked byte for byte. Only from the second sighting, so objects used as dictionaries
// with ever-new keys compile nothing. Where `Function` is unavailable (a strict CSP) or a key is
// `__proto__`, keys are added one by one.
type Builder = (read: () => unknown, keep: <T>(o: T) => T) => Record<string, unknown>;
interface Shape {
  /** The encoded keys, as little-endian 32-bit words (the last one zero-padded). */
  words: Int32Array;
  keyBytes: number;
  keys: string[];
  sightings: number;
  build: Builder | null;
}
const SHAPE_CACHE_SIZE = 1024;
/** Objects with more keys, or longer key runs, than this are not cached (nor compiled). */
const MAX_SHAPE_KEYS = 64;
const MAX_SHAPE_BYTES = 2048;
const MAX_COMPILED_KEYS = 32;
const shapes: (Shape | undefined)[] = new Array<Shape | undefined>(SHAPE_CACHE_SIZE).fill(undefined);
const canCompile: boolean = (() => {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
})();

function readObject(): Record<string, unknown> {
  const n = u32();
  const keyBytes = u32();
  if (n === 0) {
    if (keyBytes !== 0) throw new RangeError('weft codec: malformed object');
    return remember({});
  }
  need(keyBytes);
  if (n > MAX_SHAPE_KEYS || keyBytes > MAX_SHAPE_BYTES) return readObjectUncached(n, pos + keyBytes);
  const at = pos;
  const keysEnd = at + keyBytes;
  const b = src;
  // The slot pair comes from a hash of a few words of the keys (count, length, first, middle and
  // last word); the full comparison, word by word, is what proves a hit. Two shapes that agree on
  // those samples share the pair of slots.
  let h = Math.imul(keyBytes ^ (n << 20), 0x9e3779b1);
  h = Math.imul(h ^ wordAt(b, at, keysEnd), 0x85ebca6b);
  h = Math.imul(h ^ wordAt(b, at + ((keyBytes >>> 3) << 2), keysEnd), 0xc2b2ae35);
  h = Math.imul(h ^ wordAt(b, keysEnd - 4 > at ? keysEnd - 4 : at, keysEnd), 0x27d4eb2f);
  const slot = (h ^ (h >>> 15)) & (SHAPE_CACHE_SIZE - 1);
  let shape = shapes[slot];
  if (!isShapeAt(shape, n, keyBytes, b, at)) {
    shape = shapes[slot ^ 1];
    if (!isShapeAt(shape, n, keyBytes, b, at)) {
      const keys = new Array<string>(n);
      for (let i = 0; i < n; i++) keys[i] = readKey();
      if (pos !== keysEnd) throw new RangeError('weft codec: malformed object keys');
      const words = new Int32Array((keyBytes + 3) >>> 2);
      for (let j = 0; j < words.length; j++) words[j] = wordAt(b, at + 4 * j, keysEnd);
      shape = { words, keyBytes, keys, sightings: 0, build: null };
      // The newest in the first slot of the pair, the one it displaces in the second.
      shapes[slot ^ 1] = shapes[slot];
      shapes[slot] = shape;
    }
  }
  pos = keysEnd;
  if (shape!.build === null && ++shape!.sightings === 2) shape!.build = compileShape(shape!.keys);
  if (shape!.build !== null) return shape!.build(readValue, remember);
  return readProperties(shape!.keys);
}

/** A big object (a dictionary, most likely): its keys are not worth a place in the shape cache. */
function readObjectUncached(n: number, keysEnd: number): Record<string, unknown> {
  const keys = new Array<string>(n);
  for (let i = 0; i < n; i++) keys[i] = readKey();
  if (pos !== keysEnd) throw new RangeError('weft codec: malformed object keys');
  return readProperties(keys);
}

/** A new object (registered first, for references to it), its values read for `keys` one by one. */
function readProperties(keys: string[]): Record<string, unknown> {
  const o = remember({} as Record<string, unknown>);
  for (const k of keys) {
    const v = readValue();
    // Assigning '__proto__' would set the prototype: define it as the own property it was.
    if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    else o[k] = v;
  }
  return o;
}

/** The little-endian 32-bit word at `i`, bytes at or past `stop` read as 0. */
function wordAt(b: Uint8Array, i: number, stop: number): number {
  if (i + 4 <= stop) return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
  let w = 0;
  for (let k = 0; i + k < stop; k++) w |= b[i + k]! << (8 * k);
  return w;
}

function isShapeAt(shape: Shape | undefined, n: number, keyBytes: number, b: Uint8Array, at: number): boolean {
  if (shape === undefined || shape.keyBytes !== keyBytes || shape.keys.length !== n) return false;
  const words = shape.words;
  const full = keyBytes >>> 2;
  for (let j = 0, i = at; j < full; j++, i += 4) {
    if (words[j] !== (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24))) return false;
  }
  return full === words.length || words[full] === wordAt(b, at + 4 * full, at + keyBytes);
}

function compileShape(keys: string[]): Builder | null {
  if (!canCompile || keys.length > MAX_COMPILED_KEYS || keys.includes('__proto__') || new Set(keys).size !== keys.length) {
    return null;
  }
  // JSON.stringify makes each key a safe string literal (it escapes quotes, backslashes, lone surrogates).
  const names = keys.map((k) => JSON.stringify(k));
  const body = `const o = keep({ ${names.map((k) => `${k}: undefined`).join(', ')} });\n` +
    names.map((k) => `o[${k}] = read();\n`).join('') + 'return o;';
  return new Function('read', 'keep', body) as Builder;
}

function readBigint(tag: number): bigint {
  if (tag === BIGINT64) {
    load8();
    return scratchI64[0]!;
  }
  if (tag !== BIGINT) throw new RangeError(`weft codec: expected a BigInt, found tag ${tag}`);
  const negative = u8() === 1;
  const n = u32();
  need(n);
  const b = src;
  const p = pos;
  pos = p + n;
  let hex = '';
  for (let i = p + n - 1; i >= p; i--) hex += HEX[b[i]!];
  const m = BigInt(`0x${hex || '0'}`);
  return negative ? -m : m;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function readArray(): unknown[] {
  const n = u32();
  // Sized at once (one allocation; holey, as V8's own deserializer makes them), unless the length
  // is huge: a sparse array's holes must not be allocated.
  const a: unknown[] = remember(n <= 0x10000 ? new Array(n) : []);
  for (let i = 0; i < n; i++) {
    if (pos < end && src[pos] === HOLES) {
      pos++;
      readHoles(a);
      // (Setting length is a runtime call: only here, for trailing holes of a huge sparse array.)
      if (a.length !== n) a.length = n;
      return a;
    }
    a[i] = readValue();
  }
  return a;
}

function readHoles(a: unknown[]): void {
  const m = u32();
  for (let j = 0; j < m; j++) {
    const k = readKey();
    const v = readValue();
    if (k === '__proto__') Object.defineProperty(a, k, { value: v, enumerable: true, writable: true, configurable: true });
    else (a as unknown as Record<string, unknown>)[k] = v;
  }
}

function readError(): Error {
  const name = readString();
  const has = u8();
  const message = (has & HAS_MESSAGE) !== 0 ? readString() : undefined;
  const e = remember(newError(ERRORS.get(name) ?? Error, message));
  if (e.name !== name) Object.defineProperty(e, 'name', { value: name, writable: true, configurable: true });
  // The sender's stack; without one, undefined as structuredClone gives (not the decoder's own).
  // An assignment, not defineProperty: replacing V8's own 'stack' property that way costs ~20×
  // more, and the assignment leaves the same writable, non-enumerable data property.
  e.stack = (has & HAS_STACK) !== 0 ? readString() : (undefined as unknown as string);
  if ((has & HAS_CAUSE) !== 0) Object.defineProperty(e, 'cause', { value: readValue(), writable: true, configurable: true });
  return e;
}

/**
 * A real error object of class `Ctor` without capturing a stack trace (which costs microseconds
 * and is overwritten with the sender's): V8's Error.stackTraceLimit set to 0 around the
 * construction, where it exists and can be set.
 */
function newError(Ctor: ErrorConstructor, message: string | undefined): Error {
  const E = Error as { stackTraceLimit?: unknown };
  const limit = E.stackTraceLimit;
  let lowered = false;
  if (typeof limit === 'number') {
    try {
      E.stackTraceLimit = 0;
      lowered = true;
    } catch {
      // Frozen intrinsics: pay for the stack trace.
    }
  }
  try {
    return message === undefined ? new Ctor() : new Ctor(message);
  } finally {
    if (lowered) E.stackTraceLimit = limit;
  }
}

function readView(): ArrayBufferView {
  const kind = u8();
  if (kind > DATA_VIEW) throw new RangeError(`weft codec: unknown view kind ${kind}`);
  // The view's index comes before its buffer's, as on the encoding side.
  const index = objectCount++;
  const buffer = readValue();
  if (!(buffer instanceof ArrayBuffer)) throw new RangeError('weft codec: a view without its buffer');
  const offset = u32();
  const length = u32();
  const v = kind === DATA_VIEW ? new DataView(buffer, offset, length) : new (TYPED[kind] as TypedArrayCtor)(buffer, offset, length);
  objects[index] = v;
  return v;
}

function readViewCopy(): ArrayBufferView {
  const kind = u8();
  if (kind > DATA_VIEW) throw new RangeError(`weft codec: unknown view kind ${kind}`);
  const n = u32();
  const buffer = copyBuffer(n);
  if (kind === DATA_VIEW) return remember(new DataView(buffer));
  const C = TYPED[kind] as TypedArrayCtor;
  if (n % C.BYTES_PER_ELEMENT !== 0) throw new RangeError('weft codec: malformed typed array');
  return remember(new C(buffer));
}

function readValue(): unknown {
  if (pos >= end) throw truncated();
  const tag = src[pos++]!;
  if (tag >= FIXINT) return tag - FIXINT;
  if (tag >= FIXASCII) return readAscii(tag - FIXASCII);
  switch (tag) {
    case UNDEFINED: return undefined;
    case NULL: return null;
    case FALSE: return false;
    case TRUE: return true;
    case INT8: return (u8() << 24) >> 24;
    case INT32: return u32() | 0;
    case FLOAT64: return f64();
    case BIGINT64: case BIGINT: return readBigint(tag);
    case ASCII: case UTF8: case UTF16: return readStringTagged(tag);
    case ARRAY: return readArray();
    case OBJECT: return readObject();
    case MAP: {
      const n = u32();
      const m = remember(new Map<unknown, unknown>());
      for (let i = 0; i < n; i++) {
        const k = readValue();
        m.set(k, readValue());
      }
      return m;
    }
    case SET: {
      const n = u32();
      const s = remember(new Set<unknown>());
      for (let i = 0; i < n; i++) s.add(readValue());
      return s;
    }
    case DATE: return remember(new Date(f64()));
    case REGEXP: {
      const source = readString();
      return remember(new RegExp(source, readString()));
    }
    case ERROR: return readError();
    case ARRAY_BUFFER: return remember(copyBuffer(u32()));
    case RESIZABLE_BUFFER: {
      const n = u32();
      const max = u32();
      const AB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
      const b = remember(new AB(n, { maxByteLength: max }));
      skipPad();
      need(n);
      new Uint8Array(b).set(src.subarray(pos, pos + n));
      pos += n;
      return b;
    }
    case VIEW: return readView();
    case VIEW_COPY: return readViewCopy();
    case REF: {
      const i = u32();
      if (i >= objectCount || objects[i] === undefined) throw new RangeError(`weft codec: reference to unknown object ${i}`);
      return objects[i];
    }
    case BOXED_NUMBER: return remember(Object(f64()));
    case BOXED_STRING: return remember(Object(readString()));
    case BOXED_BOOLEAN: return remember(Object(u8() === 1));
    case BOXED_BIGINT: return remember(Object(readBigint(u8())));
    default:
      throw new RangeError(`weft codec: unknown tag ${tag} at byte ${pos - 1}`);
  }
}
