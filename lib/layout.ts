/**
 * The registry of shared-block kinds and the helpers every primitive uses to allocate, tag and
 * re-attach to its block.
 *
 * Every primitive lives in a block of Int32 slots inside a `SharedArrayBuffer` (its own, or one the
 * caller supplies at an offset). Slot 0 of every block is its TAG, written once before the block is
 * shared and never again:
 *
 * | bits   | meaning                                  |
 * |--------|------------------------------------------|
 * | 31..16 | MAGIC 0x5746 ('WF')                      |
 * | 15..8  | KIND (below)                             |
 * | 7..0   | layout VERSION of that kind              |
 *
 * `X.from(clone)` and `revive()` check the tag, so a clone of another kind, a block from an
 * incompatible weft version, or a buffer that was never a weft block is refused with a message
 * saying what was found instead of silently misbehaving.
 */

export const MAGIC = 0x5746;

/** Each kind's number and current layout version. Never reuse or renumber a kind. */
export const KINDS = {
  Lock: { id: 1, version: 2 },
  RLock: { id: 2, version: 2 },
  Semaphore: { id: 3, version: 1 },
  BoundedSemaphore: { id: 4, version: 1 },
  Event: { id: 5, version: 2 },
  Condition: { id: 6, version: 1 },
  Barrier: { id: 7, version: 2 },
  Value: { id: 8, version: 1 },
  SharedArray: { id: 9, version: 1 },
  Queue: { id: 10, version: 3 },
  JoinableQueue: { id: 11, version: 4 },
  Pipe: { id: 12, version: 3 },
  Registry: { id: 13, version: 1 },
} as const;
export type KindName = keyof typeof KINDS;

/** Slot 0 of every block. */
export const TAG = 0;
/** 16 Int32 slots: one 64-byte cache line. Blocks are padded to whole lines (NOTES.md §4). */
export const LINE = 16;

export function tagOf(kind: KindName): number {
  const k = KINDS[kind];
  return ((MAGIC << 16) | (k.id << 8) | k.version) | 0;
}

/** Names the kind a tag stands for, for error messages. */
export function describeTag(tag: number): string {
  if (tag >>> 16 !== MAGIC) return `no weft block (slot 0 holds 0x${(tag >>> 0).toString(16)})`;
  const id = (tag >>> 8) & 0xff;
  const version = tag & 0xff;
  const name = (Object.keys(KINDS) as KindName[]).find((k) => KINDS[k].id === id);
  return name ? `${article(name)} block of layout version ${version}` : `a weft block of unknown kind ${id}`;
}

/** Where a block lives: a caller may place primitives inside a buffer of their own. */
export interface Placement {
  /** The buffer to place the block in; a new one of the block's size by default. */
  buffer?: SharedArrayBuffer;
  /** Byte offset of the block inside `buffer`; a multiple of 8 (default 0). */
  byteOffset?: number;
}

/** The shape every primitive has when structured-cloned to another thread. */
export interface SharedHandle {
  readonly $weft: KindName;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly name: string | undefined;
}

/**
 * Allocates (or places) a block of `slots` Int32 slots, zero-filled when new, and writes its tag.
 * A block placed in a caller's buffer is written as this kind's fresh state: the caller gives the
 * memory over to it.
 */
export function allocate(kind: KindName, slots: number, where: Placement | undefined, label: string): {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  i32: Int32Array;
} {
  const bytes = slots * 4;
  let buffer = where?.buffer;
  let byteOffset = where?.byteOffset ?? 0;
  if (buffer === undefined) {
    // A buffer of its own is padded to whole cache lines, so no other block shares its last line.
    buffer = new SharedArrayBuffer(Math.ceil(bytes / (LINE * 4)) * LINE * 4);
    byteOffset = 0;
  } else {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError(`${label}: options.buffer must be a SharedArrayBuffer, got ${describe(buffer)}`);
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0) {
      throw new RangeError(`${label}: options.byteOffset must be a non-negative multiple of 8, got ${byteOffset}`);
    }
    if (byteOffset + bytes > buffer.byteLength) {
      throw new RangeError(`${label}: needs ${bytes} bytes at byteOffset ${byteOffset}, but the buffer has ${buffer.byteLength}`);
    }
  }
  const i32 = new Int32Array(buffer, byteOffset, slots);
  if (where?.buffer !== undefined) i32.fill(0);
  // The tag is written last, so a block is never tagged before its other slots are initialised.
  Atomics.store(i32, TAG, tagOf(kind));
  return { buffer, byteOffset, i32 };
}

/**
 * Checks that `value` is a clone of a `kind` block and returns a view of its slots.
 * `label` names the call for messages, e.g. `Lock.from()`.
 */
export function attach(kind: KindName, slots: number, value: unknown, label: string): {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  name: string | undefined;
  i32: Int32Array;
} {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`${label}: expected ${article(kind)} (or its structured clone), got ${describe(value)}`);
  }
  const h = value as Partial<SharedHandle>;
  if (h.$weft !== kind) {
    throw new TypeError(`${label}: expected ${article(kind)} (or its structured clone), got ${typeof h.$weft === 'string' ? article(h.$weft) : describe(value)}`);
  }
  const { buffer, byteOffset } = h;
  if (!(buffer instanceof SharedArrayBuffer) || typeof byteOffset !== 'number' || !Number.isInteger(byteOffset) ||
      byteOffset < 0 || byteOffset % 4 !== 0 || byteOffset + slots * 4 > buffer.byteLength) {
    throw new TypeError(`${label}: the ${kind} clone has no valid shared buffer (buffer ${describe(buffer)}, byteOffset ${String(byteOffset)})`);
  }
  const i32 = new Int32Array(buffer, byteOffset, slots);
  const tag = Atomics.load(i32, TAG);
  if (tag !== tagOf(kind)) {
    throw new TypeError(`${label}: expected ${article(kind)} block of layout version ${KINDS[kind].version}, found ${describeTag(tag)}`);
  }
  const name = typeof h.name === 'string' ? h.name : undefined;
  return { buffer, byteOffset, name, i32 };
}

/** Short description of any value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value) + (typeof value === 'bigint' ? 'n' : '');
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor ? article(ctor) : 'an object';
}

/** `a Lock`, `an Event`. */
export function article(noun: string): string {
  return `${/^[AEIOU]/.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** `Lock 'jobs'`, or `Lock` when unnamed. */
export function label(kind: string, name: string | undefined): string {
  return name === undefined ? kind : `${kind} '${name}'`;
}

/** Validates the `name` option. */
export function nameOption(kind: string, name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string') throw new TypeError(`${kind}: options.name must be a string, got ${describe(name)}`);
  return name;
}
