/**
 * The futex module: the only code in weft that calls `Atomics.wait`, `Atomics.waitAsync` or
 * `Atomics.notify`. It owns the spin policy, deadline arithmetic and the two drivers that let one
 * state machine serve both a blocking call and its `…Async` twin.
 *
 * ## State machines and drivers
 * A primitive's slow path is a generator (a {@link Machine}) that reads and CASes shared words
 * and, when it has to wait, yields a {@link Park} request: "wait while `i32[index] === expected`,
 * until `deadline`", by spinning, sleeping, or spinning then sleeping. {@link runSync} serves the request with spin-then-`Atomics.wait`;
 * {@link runAsync} with `Atomics.waitAsync`. Both send back an {@link Outcome}. The machine treats
 * every outcome as a hint and re-reads the shared state, so spurious wake-ups are harmless.
 *
 * ## Spin, then park (NOTES.md: a futex wake costs ~30 µs here, a spin hand-off 0.3 µs)
 * Before parking, the blocking driver spins on the word with plain `Atomics.load`s for a budget
 * learned per primitive instance (as glibc's adaptive mutex and WebKit's ParkingLot do): a wait
 * that ended soon after it parked doubles the budget, a long one halves it, a spin that succeeded
 * pulls the budget towards twice what it used. The budget is capped near one park's cost
 * (~10k loads ≈ 60 µs here). A thread spins only while fewer than `cores - 1` threads already spin
 * on the same primitive (counted in a slot of its block), leaving a core for the thread that will
 * release it; `WEFT_NO_SPIN=1` turns spinning off. The async driver never spins: an event loop
 * must not busy-wait.
 *
 * ## Bounded slices
 * A blocking park sleeps at most {@link SLICE_MS} at a time and re-checks, because
 * `worker.terminate()` cannot interrupt a thread inside one long `Atomics.wait`.
 */
import { beginAsyncWait, endAsyncWait, NO_SPIN, now, PARALLELISM } from './host.js';

/** Outcome of a request, as sent back into a machine. Every outcome is only a hint. */
export type Outcome = typeof WOKEN | typeof CHANGED | typeof TIMED_OUT | typeof SPUN_OUT;
/** `Atomics.notify` woke the thread: re-read the state. */
export const WOKEN = 0;
/** The word no longer held the expected value (spinning saw the change, or the park found it). */
export const CHANGED = 1;
/** The deadline passed. */
export const TIMED_OUT = 2;
/** A spin-only request ran out of budget (or was served by the async driver, which never spins). */
export const SPUN_OUT = 3;

/** Longest single `Atomics.wait`, so termination is noticed (see the module comment). */
export const SLICE_MS = 100;

/** Request modes. */
const SPIN_THEN_SLEEP = 0;
const SPIN_ONLY = 1;
const SLEEP = 2;

/** A request from a machine: wait while `i32[index] === expected`, at most until `deadline`. */
export interface Park {
  readonly i32: Int32Array;
  readonly index: number;
  readonly expected: number;
  /** Absolute time on the {@link now} clock; `Infinity` for no deadline. */
  readonly deadline: number;
  /** The instance's spin policy: spins with it, and learns from how long the sleep lasted. */
  readonly policy: SpinPolicy | null;
  readonly mode: typeof SPIN_THEN_SLEEP | typeof SPIN_ONLY | typeof SLEEP;
}

/** A slow path: yields requests, receives outcomes, returns the call's result. */
export type Machine<T> = Generator<Park, T, Outcome>;

/** Spin on the word (blocking driver only), then sleep on it. */
export function spinThenSleep(i32: Int32Array, index: number, expected: number, deadline: number, policy: SpinPolicy): Park {
  return { i32, index, expected, deadline, policy, mode: SPIN_THEN_SLEEP };
}

/**
 * Spin on the word but never sleep: for machines that must announce themselves (set a CONTENDED
 * bit, a SLEEPING state) between spinning and sleeping. Answers CHANGED or SPUN_OUT.
 */
export function spinOnly(i32: Int32Array, index: number, expected: number, policy: SpinPolicy): Park {
  return { i32, index, expected, deadline: Infinity, policy, mode: SPIN_ONLY };
}

/** Sleep on the word at once; `policy`, when given, learns from how long the sleep lasted. */
export function sleep(i32: Int32Array, index: number, expected: number, deadline: number, policy: SpinPolicy | null = null): Park {
  return { i32, index, expected, deadline, policy, mode: SLEEP };
}

// ---------------------------------------------------------------------------------------------
// Spin policy

const MIN_SPIN = 64;
/** Loads spun before a thread counts itself as spinning (at most MIN_SPIN, so within every budget). */
const FREE_SPIN = 48;
/** ≈ one park's cost on this machine kind (10k loads ≈ 63 µs, NOTES.md). */
const MAX_SPIN = 10_000;
const INITIAL_SPIN = 2_000;
/** A wait that parked but ended within this many ms would have been caught by a longer spin. */
const SHORT_WAIT_MS = 0.2;
const MAX_SPINNERS = Math.max(0, PARALLELISM - 1);

/**
 * Per-instance, per-thread spin state. `spinners` is the index of an Int32 slot in the
 * primitive's own block counting the threads spinning on it right now.
 */
export class SpinPolicy {
  budget: number;
  /** `floor`: the least budget it learns down to (default MIN_SPIN; see HAND_OFF_SPIN). */
  constructor(readonly i32: Int32Array, readonly spinners: number, readonly floor = MIN_SPIN) {
    this.budget = Math.max(INITIAL_SPIN, floor);
  }
}

/**
 * A budget floor (~36 µs of loads) for waits that are hand-offs between two busy threads, such as
 * a pool worker waiting for its next task and the pool waiting for its results: there a park
 * costs the waker an `Atomics.notify` that finds a sleeper (several µs in a VM: 7 % of the main
 * thread's profile in a loop of sequential pool applies) and the sleeper a wake-up of 30 µs or
 * more, while the gaps the budget learns from are a few µs, so a budget hugging 2× them parked at
 * every hiccup. (With this floor the same loop made half as many notify calls.)
 */
export const HAND_OFF_SPIN = 2_000;

/**
 * Spins while `i32[index] === expected`, within the policy's budget.
 * Returns true if the value changed, false if the budget ran out (or spinning was not allowed).
 */
export function spinWhile(i32: Int32Array, index: number, expected: number, policy: SpinPolicy): boolean {
  return spinFor(i32, index, expected, policy) !== expected;
}

/**
 * As {@link spinWhile}, returning the word's last value read: not `expected` if it changed, `expected`
 * if the budget ran out (so a caller that needs the new value does not pay another Atomics call).
 */
export function spinFor(i32: Int32Array, index: number, expected: number, policy: SpinPolicy): number {
  if (NO_SPIN || MAX_SPINNERS === 0) return Atomics.load(i32, index);
  const budget = policy.budget;
  // A short first stretch goes uncounted: most hand-offs land within it (a spin hand-off takes
  // ~0.3 µs here), and counting costs two Atomics calls (~35 ns, NOTES.md). It is too short to
  // starve the thread we wait for, which is what the count guards against.
  let n = 0;
  let v = expected;
  while (n < FREE_SPIN && (v = Atomics.load(i32, index)) === expected) n++;
  if (n < FREE_SPIN) return spun(policy, budget, n, v);
  const counter = policy.i32;
  // Busy threads must not exceed the cores: the releasing thread needs one.
  if (Atomics.add(counter, policy.spinners, 1) >= MAX_SPINNERS) {
    Atomics.sub(counter, policy.spinners, 1);
    return Atomics.load(i32, index);
  }
  while (n < budget && (v = Atomics.load(i32, index)) === expected) n++;
  Atomics.sub(counter, policy.spinners, 1);
  return n < budget ? spun(policy, budget, n, v) : expected;
}

/**
 * Spins until `test()` is true, within the policy's budget (each call counts as one load), for
 * a wait on several words at once (a pool's result rings). No spinner count: for a policy of
 * one thread's own. Returns false if the budget ran out (or spinning is off).
 */
export function spinUntil(test: () => boolean, policy: SpinPolicy): boolean {
  if (NO_SPIN || MAX_SPINNERS === 0) return test();
  const budget = policy.budget;
  for (let n = 0; n < budget; n++) {
    if (test()) {
      spun(policy, budget, n, 0);
      return true;
    }
  }
  return false;
}

/** A spin saw `v` after `n` loads: move the budget a step towards 2n (never below the floor). */
function spun(policy: SpinPolicy, budget: number, n: number, v: number): number {
  const target = Math.max(policy.floor, 2 * n);
  policy.budget = Math.min(MAX_SPIN, Math.max(policy.floor, budget + ((target - budget) >> 3)));
  return v;
}

/** After a spin ran out and the thread parked for `waitedMs`: learn whether spinning longer pays. */
export function learn(policy: SpinPolicy, waitedMs: number): void {
  policy.budget = waitedMs < SHORT_WAIT_MS
    ? Math.min(MAX_SPIN, policy.budget * 2)
    : Math.max(policy.floor, policy.budget >> 1);
}

// ---------------------------------------------------------------------------------------------
// Parking

/** Blocks this thread while `i32[index] === expected`, in bounded slices, until `deadline`. */
export function parkSync(i32: Int32Array, index: number, expected: number, deadline: number): Outcome {
  for (;;) {
    const left = deadline - now();
    if (left <= 0) return Atomics.load(i32, index) === expected ? TIMED_OUT : CHANGED;
    const r = Atomics.wait(i32, index, expected, left < SLICE_MS ? left : SLICE_MS);
    if (r === 'ok') return WOKEN;
    if (r === 'not-equal') return CHANGED;
    // A slice ended: go round, re-checking the deadline and the word.
  }
}

/** Serves one request on the blocking path. */
function serveSync(p: Park): Outcome {
  const policy = p.policy;
  if (p.mode !== SLEEP && policy !== null) {
    if (spinWhile(p.i32, p.index, p.expected, policy)) return CHANGED;
    if (p.mode === SPIN_ONLY) return SPUN_OUT;
  } else if (p.mode === SPIN_ONLY) {
    return Atomics.load(p.i32, p.index) === p.expected ? SPUN_OUT : CHANGED;
  }
  if (policy === null) return parkSync(p.i32, p.index, p.expected, p.deadline);
  const t0 = now();
  const outcome = parkSync(p.i32, p.index, p.expected, p.deadline);
  if (outcome !== TIMED_OUT) learn(policy, now() - t0);
  return outcome;
}

/**
 * Parks without blocking: `Atomics.waitAsync`. Returns the outcome at once when it is already
 * known (`{ async: false }`: the word differs or the deadline passed), else a promise. While the
 * promise is pending the event loop is kept alive.
 */
export function parkAsync(i32: Int32Array, index: number, expected: number, deadline: number): Outcome | Promise<Outcome> {
  const left = deadline - now();
  if (left <= 0) return Atomics.load(i32, index) === expected ? TIMED_OUT : CHANGED;
  const r = Atomics.waitAsync(i32, index, expected, left);
  if (!r.async) return r.value === 'not-equal' ? CHANGED : TIMED_OUT;
  beginAsyncWait();
  return r.value.then(settled, (e: unknown) => { endAsyncWait(); throw e; });
}

function settled(v: 'ok' | 'timed-out'): Outcome {
  endAsyncWait();
  return v === 'ok' ? WOKEN : TIMED_OUT;
}

// ---------------------------------------------------------------------------------------------
// Drivers

// True while runSync steps a machine. runSync never yields to the event loop, so no async machine
// can step in between: a machine reads this to know whether its thread will block.
let stepping = false;

/** True inside a machine driven by {@link runSync}: its waits block the whole thread. */
export function drivenSync(): boolean {
  return stepping;
}

/** Runs a machine to completion on the calling thread, blocking it while the machine waits. */
export function runSync<T>(machine: Machine<T>): T {
  let outcome: Outcome = WOKEN;
  const outer = stepping;
  try {
    for (;;) {
      stepping = true;
      const step = machine.next(outcome);
      stepping = outer;
      if (step.done) return step.value;
      outcome = serveSync(step.value);
    }
  } finally {
    stepping = outer;
  }
}

/** Runs a machine without ever blocking the event loop. */
export async function runAsync<T>(machine: Machine<T>): Promise<T> {
  let outcome: Outcome = WOKEN;
  for (;;) {
    // Not blocking, even when this call started inside a blocking machine's step (drivenSync).
    const outer = stepping;
    stepping = false;
    let step: IteratorResult<Park, T>;
    try {
      step = machine.next(outcome);
    } finally {
      stepping = outer;
    }
    if (step.done) return step.value;
    const p = step.value;
    if (p.mode === SPIN_ONLY) {
      outcome = Atomics.load(p.i32, p.index) === p.expected ? SPUN_OUT : CHANGED;
      continue;
    }
    const r = parkAsync(p.i32, p.index, p.expected, p.deadline);
    if (typeof r === 'number') {
      outcome = r;
    } else {
      try {
        outcome = await r;
      } catch (e) {
        machine.return(undefined as never); // run the machine's finally blocks (waiter counts)
        throw e;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Waking

/**
 * Wakes up to `count` threads parked on `i32[index]` (all of them when `count` is omitted).
 * Callers skip it when their state words say nobody can be asleep: `Atomics.notify` takes a
 * process-wide mutex inside V8 even when nobody waits (~38 ns here).
 */
export function wake(i32: Int32Array, index: number, count?: number): number {
  return Atomics.notify(i32, index, count);
}

// ---------------------------------------------------------------------------------------------
// Timeouts

/** A label for error messages, e.g. `Lock 'jobs'`. */
export interface Labelled {
  toString(): string;
}

/**
 * Turns a `timeout` argument (ms; omitted, `null` or `Infinity`: for ever; `0`: try once) into an
 * absolute deadline. Negative or NaN: `RangeError`; not a number: `TypeError`.
 */
export function deadlineOf(timeout: number | undefined, who: Labelled, method: string): number {
  if (timeout === undefined || timeout === null || timeout === Infinity) return Infinity;
  checkTimeout(timeout, who, method);
  return now() + timeout;
}

/** Validates a timeout argument without computing a deadline (for fast paths). */
export function checkTimeout(timeout: number | undefined, who: Labelled, method: string): void {
  if (timeout === undefined || timeout === null) return;
  if (typeof timeout !== 'number') {
    throw new TypeError(`${who}: ${method}(timeout): timeout must be a number of milliseconds, got ${typeof timeout}`);
  }
  if (!(timeout >= 0)) {
    throw new RangeError(`${who}: ${method}(timeout): timeout must be >= 0 milliseconds (or Infinity), got ${timeout}`);
  }
}
