/**
 * What every primitive class shares: its public clone-able shape (`$weft`, `buffer`, `byteOffset`,
 * `name`) and the way a class is either built fresh or re-attached to a clone's block by `from()`.
 *
 * Structured clone copies own enumerable properties and drops prototypes and `#private` fields, so
 * a primitive keeps exactly the four public properties above as own data and everything else
 * (typed-array views, spin state) in `#private` fields. The clone that reaches another thread is
 * then a small plain object that `X.from()` or `revive()` turns back into an instance.
 */
import { allocate, attach, label, nameOption, type KindName, type Placement, type SharedHandle } from './layout.js';

/** Options every constructor takes. */
export interface CommonOptions extends Placement {
  /** Used in error messages and `toString()`. */
  name?: string;
}

/** A block ready for a constructor: fresh (to initialise) or attached to a clone's memory. */
export interface Block {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  name: string | undefined;
  i32: Int32Array;
  /** True when newly allocated/placed: the constructor must write its initial state. */
  fresh: boolean;
  /** The clone being restored (for nested members, e.g. a Condition's lock), or null. */
  clone: Record<string, unknown> | null;
}

// Set by fromClone() for the duration of one constructor call.
let pending: Block | null = null;

/** True while `from()` restores a clone: a constructor must not validate its (absent) arguments then. */
export function restoring(): boolean {
  return pending !== null;
}

/**
 * Called first thing in a constructor: returns the block of the clone being restored by
 * {@link fromClone}, or allocates a fresh one as `options` ask.
 */
export function openBlock(kind: KindName, slots: number, options: CommonOptions | undefined): Block {
  const p = pending;
  if (p !== null) {
    pending = null;
    return p;
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError(`${kind}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const name = nameOption(kind, options?.name);
  const b = allocate(kind, slots, options, label(kind, name));
  return { ...b, name, fresh: true, clone: null };
}

/** `X.from(value)`: the instance itself, or a new instance over the memory of a clone of kind `kind`. */
export function fromClone<T>(cls: abstract new (...args: never[]) => T, kind: KindName, slots: number, value: unknown): T {
  if (value instanceof cls) return value;
  const a = attach(kind, slots, value, `${kind}.from()`);
  pending = { ...a, fresh: false, clone: value as Record<string, unknown> };
  try {
    return new (cls as unknown as new () => T)();
  } finally {
    pending = null;
  }
}

/** Defines the public, clone-able properties on a new instance, in a fixed order. */
export function defineHandle(target: object, kind: KindName, b: Block): void {
  const t = target as { -readonly [K in keyof SharedHandle]: SharedHandle[K] };
  t.$weft = kind;
  t.buffer = b.buffer;
  t.byteOffset = b.byteOffset;
  t.name = b.name;
}

/** A Disposable that runs `release` once, however often it is disposed. */
export function disposable(release: () => void): Disposable & { release(): void } {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    release();
  };
  return { release: once, [Symbol.dispose]: once };
}
