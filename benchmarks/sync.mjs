// Synchronization benchmarks: each weft figure against a baseline measured in the same run.
//   node benchmarks/sync.mjs [--quick] [--json FILE]
// 1. Uncontended Lock acquire()+release() versus a bare Atomics.compareExchange pair (target <= 2x).
// 2. Two threads contending on one Lock versus a textbook three-state futex mutex written with raw
//    Atomics (Drepper, "Futexes Are Tricky", mutex #2), same loop (target: at least as fast).
// 3. Hand-off round trip between two threads through two Events and through a Condition, versus a
//    postMessage round trip (target: >= 20x lower).
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Condition, Event, Lock, revive, RLock, Semaphore } from 'weft';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');

// Drepper's mutex #2 over raw Atomics: 0 unlocked, 1 locked, 2 locked with waiters. No spinning.
function textbookLock(m) {
  let c = Atomics.compareExchange(m, 0, 0, 1);
  if (c === 0) return;
  if (c !== 2) c = Atomics.exchange(m, 0, 2);
  while (c !== 0) {
    Atomics.wait(m, 0, 2);
    c = Atomics.exchange(m, 0, 2);
  }
}
function textbookUnlock(m) {
  if (Atomics.sub(m, 0, 1) !== 1) {
    Atomics.store(m, 0, 0);
    Atomics.notify(m, 0, 1);
  }
}

/** One thread's share of the contended loop: `n` critical sections over a plain shared counter. */
function contend(kind, lock, raw, counter, n) {
  if (kind === 'weft') {
    for (let i = 0; i < n; i++) {
      lock.acquire();
      counter[0] = counter[0] + 1;
      lock.release();
    }
  } else {
    for (let i = 0; i < n; i++) {
      textbookLock(raw);
      counter[0] = counter[0] + 1;
      textbookUnlock(raw);
    }
  }
}

if (!isMainThread) {
  const d = revive(workerData);
  if (d.role === 'contend') {
    Atomics.add(d.ready, 0, 1);
    Atomics.notify(d.ready, 0);
    while (Atomics.load(d.ready, 1) === 0) Atomics.wait(d.ready, 1, 0, 50);
    contend(d.kind, d.lock, d.raw, d.counter, d.n);
  } else if (d.role === 'events') {
    const { ping, pong } = d;
    for (;;) {
      if (!ping.wait(10_000)) throw new Error('events: ping timed out');
      ping.clear();
      if (Atomics.load(d.stop, 0) === 1) break;
      pong.set();
    }
  } else if (d.role === 'condition') {
    const { cond, turn } = d;
    for (;;) {
      cond.acquire();
      try {
        if (!cond.waitFor(() => turn[0] !== 0, 10_000)) throw new Error('condition: turn timed out');
        if (turn[0] === 2) break;
        turn[0] = 0;
        cond.notify();
      } finally {
        cond.release();
      }
    }
  } else if (d.role === 'echo') {
    parentPort.on('message', (m) => {
      if (m === 'stop') parentPort.close();
      else parentPort.postMessage(m);
    });
  }
} else {
  const log = (s) => process.stderr.write(s + '\n');
  const watchdog = setTimeout(() => { log('sync benchmark: watchdog fired'); process.exit(2); }, 5 * 60_000);
  watchdog.unref();
  const start = (data) => new Worker(new URL(import.meta.url), { workerData: data });
  const exited = (w) => new Promise((res, rej) => { w.once('exit', res); w.once('error', rej); });
  const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const rows = [];

  // 1. Uncontended pairs, ns per acquire+release.
  const N1 = quick ? 2_000_000 : 10_000_000;
  const pair = (f) => {
    f(N1 / 10);
    const t = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      f(N1);
      t.push(((performance.now() - t0) * 1e6) / N1);
    }
    return median(t);
  };
  const raw = new Int32Array(new SharedArrayBuffer(64));
  const bare = pair((n) => {
    for (let i = 0; i < n; i++) {
      Atomics.compareExchange(raw, 0, 0, 1);
      Atomics.compareExchange(raw, 0, 1, 0);
    }
  });
  const lock = new Lock();
  const weftLock = pair((n) => { for (let i = 0; i < n; i++) { lock.acquire(); lock.release(); } });
  const rlock = new RLock();
  const weftRLock = pair((n) => { for (let i = 0; i < n; i++) { rlock.acquire(); rlock.release(); } });
  const sem = new Semaphore(1);
  const weftSem = pair((n) => { for (let i = 0; i < n; i++) { sem.acquire(); sem.release(); } });
  log(`uncontended: CAS pair ${bare.toFixed(1)} ns, Lock ${weftLock.toFixed(1)}, RLock ${weftRLock.toFixed(1)}, Semaphore ${weftSem.toFixed(1)}`);
  rows.push(['Uncontended Lock acquire+release (ns)', weftLock, bare, 'CAS pair', weftLock / bare, '≤ 2×', weftLock / bare <= 2]);
  rows.push(['Uncontended RLock acquire+release (ns)', weftRLock, bare, 'CAS pair', weftRLock / bare, 'info', null]);
  rows.push(['Uncontended Semaphore acquire+release (ns)', weftSem, bare, 'CAS pair', weftSem / bare, 'info', null]);

  // 2. Two threads contending, critical sections per second (both threads together).
  const N2 = quick ? 200_000 : 1_000_000;
  const contended = async (kind) => {
    const lock = new Lock();
    const raw = new Int32Array(new SharedArrayBuffer(64));
    const counter = new Int32Array(new SharedArrayBuffer(64));
    const ready = new Int32Array(new SharedArrayBuffer(8));
    const w = start({ role: 'contend', kind, lock, raw, counter, n: N2, ready });
    while (Atomics.load(ready, 0) === 0) await new Promise((r) => setTimeout(r, 1));
    const t0 = performance.now();
    Atomics.store(ready, 1, 1);
    Atomics.notify(ready, 1);
    contend(kind, lock, raw, counter, N2);
    await exited(w);
    const rate = (2 * N2) / ((performance.now() - t0) / 1000);
    if (counter[0] !== 2 * N2) throw new Error(`${kind} lock: counter ${counter[0]}, expected ${2 * N2}: mutual exclusion failed`);
    return rate;
  };
  const best = async (kind) => Math.max(await contended(kind), await contended(kind), await contended(kind));
  const textbook = await best('textbook');
  const weftContended = await best('weft');
  log(`contended: weft ${(weftContended / 1e6).toFixed(2)} M/s, textbook futex mutex ${(textbook / 1e6).toFixed(2)} M/s`);
  rows.push(['Two threads contending on one Lock (M sections/s)', weftContended / 1e6, textbook / 1e6, 'textbook futex mutex', weftContended / textbook, '≥ 1×', weftContended >= textbook]);

  // 3. Hand-off round trips.
  const R = quick ? 5_000 : 20_000;
  const warm = quick ? 300 : 1000;
  let events;
  {
    const ping = new Event();
    const pong = new Event();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const w = start({ role: 'events', ping, pong, stop });
    const once = () => {
      ping.set();
      if (!pong.wait(10_000)) throw new Error('events: pong timed out');
      pong.clear();
    };
    for (const end = performance.now() + warm; performance.now() < end;) once();
    const t = new Float64Array(R);
    for (let i = 0; i < R; i++) { const t0 = performance.now(); once(); t[i] = performance.now() - t0; }
    Atomics.store(stop, 0, 1);
    ping.set();
    await exited(w);
    events = median([...t]) * 1000;
  }
  let condition;
  {
    const cond = new Condition(new Lock());
    const turn = new Int32Array(new SharedArrayBuffer(4));
    const w = start({ role: 'condition', cond, turn });
    const once = () => {
      cond.acquire();
      try {
        turn[0] = 1;
        cond.notify();
        if (!cond.waitFor(() => turn[0] === 0, 10_000)) throw new Error('condition: reply timed out');
      } finally {
        cond.release();
      }
    };
    for (const end = performance.now() + warm; performance.now() < end;) once();
    const t = new Float64Array(R);
    for (let i = 0; i < R; i++) { const t0 = performance.now(); once(); t[i] = performance.now() - t0; }
    cond.acquire();
    turn[0] = 2;
    cond.notify();
    cond.release();
    await exited(w);
    condition = median([...t]) * 1000;
  }
  let post;
  {
    const w = start({ role: 'echo' });
    const rt = () => new Promise((res) => { w.once('message', res); w.postMessage(1); });
    for (let i = 0; i < 300; i++) await rt();
    const t = [];
    for (let i = 0; i < Math.min(R, 3000); i++) { const t0 = performance.now(); await rt(); t.push(performance.now() - t0); }
    w.postMessage('stop');
    await exited(w);
    post = median(t) * 1000;
  }
  log(`hand-off round trip p50: Events ${events.toFixed(2)} us, Condition ${condition.toFixed(2)} us, postMessage ${post.toFixed(2)} us`);
  rows.push(['Hand-off round trip via two Events, p50 (µs)', events, post, 'postMessage', post / events, '≥ 20× lower', post / events >= 20]);
  rows.push(['Hand-off round trip via a Condition, p50 (µs)', condition, post, 'postMessage', post / condition, '≥ 20× lower', post / condition >= 20]);

  console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}${quick ? ' (--quick)' : ''}\n`);
  console.log('| benchmark | weft | baseline | ratio | target | met? |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, w, b, bname, ratio, target, met] of rows) {
    console.log(`| ${name} | ${w.toFixed(2)} | ${b.toFixed(2)} (${bname}) | ${ratio.toFixed(2)}× | ${target} | ${met === null ? '—' : met ? 'yes' : 'NO'} |`);
  }
  if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rows }, null, 2));
}
