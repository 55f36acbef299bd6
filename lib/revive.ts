/**
 * `revive(value)`: restores every weft primitive inside a value received from another thread
 * (`workerData`, a `postMessage` payload, a pool task's arguments).
 *
 * Structured clone turns a primitive into a plain object `{ $weft, buffer, byteOffset, name, … }`
 * that still shares the original memory. `revive` walks objects, arrays, Maps and Sets (cycles
 * and shared references included), replaces each such object by an instance of its class, and
 * returns the same structure, mutated in place (a top-level clone is returned restored).
 */
import { Barrier } from './barrier.js';
import { Condition } from './condition.js';
import { Event } from './event.js';
import { Lock } from './lock.js';
import { Connection, Pipe } from './pipe.js';
import { JoinableQueue, Queue } from './queue.js';
import { RLock } from './rlock.js';
import { BoundedSemaphore, Semaphore } from './semaphore.js';
import { SharedArray } from './shared-array.js';
import { Value } from './value.js';

const classes: Record<string, { from(value: unknown): unknown }> = {
  Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, Queue, JoinableQueue, Pipe, Connection, Value, SharedArray,
};

function isClone(value: object): boolean {
  const kind = (value as { $weft?: unknown }).$weft;
  return typeof kind === 'string' && Object.prototype.hasOwnProperty.call(classes, kind) &&
    Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Returns `value` with every structured clone of a weft primitive inside it (at any depth, in
 * objects, arrays, Maps and Sets) restored to its class, sharing the same memory.
 */
export function revive<T>(value: T): T {
  const seen = new Map<object, unknown>();
  const visit = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return seen.get(v);
    if (isClone(v)) {
      const kind = (v as { $weft: string }).$weft;
      const restored = classes[kind]!.from(v);
      seen.set(v, restored);
      return restored;
    }
    seen.set(v, v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
    } else if (v instanceof Map) {
      const entries = [...v];
      v.clear();
      for (const [k, val] of entries) v.set(visit(k), visit(val));
    } else if (v instanceof Set) {
      const items = [...v];
      v.clear();
      for (const item of items) v.add(visit(item));
    } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      const o = v as Record<string, unknown>;
      for (const key of Object.keys(o)) o[key] = visit(o[key]);
    }
    return v;
  };
  return visit(value) as T;
}
