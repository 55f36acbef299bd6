// Handshakes between test threads on raw Int32Array + Atomics: never the primitive under test,
// never a sleep. Every wait has a deadline and throws when it passes, so a hang fails the test.
// Usable on both sides: the main thread (spec) and workers (spec/helpers/worker-entry.mjs).

/** A control block of `n` Int32 slots in shared memory, to pass to workers. */
export function control(n = 16) {
  return new Int32Array(new SharedArrayBuffer(4 * n));
}

/** Sets ctl[i] = value and wakes whoever waits on it. */
export function signal(ctl, i, value = 1) {
  Atomics.store(ctl, i, value);
  Atomics.notify(ctl, i);
}

/** Adds 1 to ctl[i], wakes waiters, returns the new value. */
export function bump(ctl, i) {
  const v = Atomics.add(ctl, i, 1) + 1;
  Atomics.notify(ctl, i);
  return v;
}

/** Blocks until ctl[i] >= value (default 1); throws after `ms`. */
export function awaitAtLeast(ctl, i, value = 1, ms = 10_000, what = `slot ${i} >= ${value}`) {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = Atomics.load(ctl, i);
    if (v >= value) return v;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`handshake timed out after ${ms} ms waiting for ${what} (it is ${v})`);
    Atomics.wait(ctl, i, v, Math.min(left, 50));
  }
}

/** Polls `predicate` (sync) until true, without blocking the event loop; rejects after `ms`. */
export async function until(predicate, ms = 10_000, what = 'condition') {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Blocks (polling) until `predicate` is true; throws after `ms`. For use inside workers. */
export function spinUntil(predicate, ms = 10_000, what = 'condition') {
  const deadline = performance.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    Atomics.wait(pause, 0, 0, 0.2);
  }
}

/** Reads Int32 slot `index` of a primitive's block (see the layout tables in lib/). */
export function slot(primitive, index) {
  return Atomics.load(new Int32Array(primitive.buffer, primitive.byteOffset, index + 1), index);
}

/**
 * Threads parked on a Condition now: its waiter slots in state WAITING or SLEEPING. `L` is
 * CONDITION_LAYOUT and `S` CONDITION_STATES (lib/condition.ts), passed in so workers can call it.
 */
export function conditionWaiters(cond, L, S) {
  let n = 0;
  for (let k = 0; k < slot(cond, L.CAPACITY); k++) {
    const st = slot(cond, L.SLOTS_AT + 2 * k);
    if (st === S.WAITING || st === S.SLEEPING) n++;
  }
  return n;
}
