// Channel benchmarks: each weft figure against a baseline measured in the same run.
//   node benchmarks/channels.mjs [--quick] [--json FILE]
// weft and each baseline run in alternating rounds; figures are medians over the rounds.
// - Pipe round trip main <-> worker versus a MessagePort round trip (p50, target >= 20x lower).
// - Queue one-way main -> worker versus postMessage, for numbers, 64-char strings and small
//   objects (target >= 5x, 5x and 2x the messages/s).
// - Pipe bytes in 64 KiB messages versus TypedArray.set bandwidth (target >= 0.3x).
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { isMainThread, MessageChannel, parentPort, Worker, workerData } from 'node:worker_threads';
import { Pipe, Queue, revive } from 'weft';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');

const SMALL = { id: 42, name: 'widget', tags: ['a', 'b'], price: 9.99, ok: true };
const STR64 = 'x'.repeat(64);
const payloadOf = (kind, i) => (kind === 'number' ? i : kind === 'string' ? STR64 : SMALL);

if (!isMainThread) {
  const { role } = workerData;
  if (role === 'pipe-echo') {
    const { conn } = revive(workerData);
    for (;;) {
      const m = conn.recv(60_000);
      if (m === -1) break;
      conn.send(m);
    }
  } else if (role === 'port-echo') {
    workerData.port.on('message', (m) => {
      if (m === -1) workerData.port.close();
      else workerData.port.postMessage(m);
    });
  } else if (role === 'queue-sink') {
    const { q, n } = revive(workerData);
    for (;;) {
      let count = 0;
      const first = q.get(60_000);
      if (first === 'stop') break;
      count++;
      while (count < n) {
        q.get(60_000);
        count++;
      }
      parentPort.postMessage(count);
    }
  } else if (role === 'post-sink') {
    const { n } = workerData;
    let count = 0;
    parentPort.on('message', (m) => {
      if (m === 'stop') return parentPort.close();
      if (++count === n) {
        parentPort.postMessage(count);
        count = 0;
      }
    });
  } else if (role === 'bytes-sink') {
    const { conn, back } = revive(workerData);
    const into = new Uint8Array(64 * 1024);
    back.send('ready');
    for (;;) {
      let n;
      try {
        n = conn.recvBytesInto(into, 0, 60_000);
      } catch (e) {
        if (e?.name === 'ClosedError') break; // the main thread closed its end: done
        throw e;
      }
      if (n === 0) back.send('done');
    }
  }
} else {
  const log = (s) => process.stderr.write(s + '\n');
  const watchdog = setTimeout(() => { log('channels benchmark: watchdog fired'); process.exit(2); }, 5 * 60_000);
  watchdog.unref();
  const start = (data) => new Worker(new URL(import.meta.url), { workerData: data, transferList: data.port ? [data.port] : [] });
  const once = (w, ev) => new Promise((res, rej) => { w.once(ev, res); w.once('error', rej); });
  const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.floor((a.length - 1) * p)];
  const median = (a) => pct(a, 0.5);
  // Rounds alternate weft and its baseline (A B A B ...), each figure is the median over the
  // rounds and each ratio the median of the rounds' own ratios: this VM's speed drifts by ±2×
  // within seconds, and a baseline timed a minute apart from weft measures the drift, not weft.
  const ROUNDS = quick ? 3 : 7;
  const ratioOf = (weft, base, lowerIsBetter) => median(weft.map((w, i) => (lowerIsBetter ? base[i] / w : w / base[i])));

  // 1. Round trips (p50 of each block of rounds).
  const rounds = quick ? 2_000 : 4_000;
  const [mine, theirs] = new Pipe({ capacity: 64 * 1024 });
  const pipeWorker = start({ role: 'pipe-echo', conn: theirs });
  const { port1, port2 } = new MessageChannel();
  const portWorker = start({ role: 'port-echo', port: port2 });
  const portRt = () => new Promise((res) => { port1.once('message', res); port1.postMessage(1); });
  const pipeBlock = (n) => {
    // (The same values each block: a number type first met in a timed block would deoptimize the codec mid-measurement.)
    for (let i = 0; i < 200; i++) { mine.send(i); mine.recv(10_000); } // the echo thread may have parked meanwhile
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      mine.send(i);
      mine.recv(10_000);
      t[i] = performance.now() - t0;
    }
    return pct([...t], 0.5) * 1000;
  };
  const portBlock = async (n) => {
    for (let i = 0; i < 200; i++) await portRt();
    const t = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await portRt();
      t.push(performance.now() - t0);
    }
    return pct(t, 0.5) * 1000;
  };
  // Warm up for a while: the JIT, and each side's spin budget, learn from the first rounds.
  for (const end = performance.now() + 1000; performance.now() < end;) pipeBlock(100);
  for (const end = performance.now() + 1000; performance.now() < end;) await portBlock(100);
  const rt = { pipe: [], port: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rt.pipe.push(pipeBlock(rounds));
    rt.port.push(await portBlock(Math.min(rounds, quick ? 1_000 : 2_000)));
  }
  mine.send(-1);
  port1.postMessage(-1);
  port1.close();
  await once(pipeWorker, 'exit');
  await portWorker.terminate();
  log(`round trip p50: Pipe ${rt.pipe.map((x) => x.toFixed(2)).join(' ')} us; MessagePort ${rt.port.map((x) => x.toFixed(1)).join(' ')} us`);

  // 2. One-way throughput.
  const N = quick ? 100_000 : 250_000;
  const throughput = {};
  for (const kind of ['number', 'string', 'object']) {
    const q = new Queue({ capacity: 1 << 20 });
    const w = start({ role: 'queue-sink', q, n: N });
    const runQ = async () => {
      const done = once(w, 'message');
      const t0 = performance.now();
      for (let i = 0; i < N; i++) q.put(payloadOf(kind, i), 60_000);
      await done;
      return N / ((performance.now() - t0) / 1000);
    };
    const p = start({ role: 'post-sink', n: N });
    const runP = async () => {
      const done = once(p, 'message');
      const t0 = performance.now();
      for (let i = 0; i < N; i++) p.postMessage(payloadOf(kind, i));
      await done;
      return N / ((performance.now() - t0) / 1000);
    };
    await runQ();
    await runP();
    const rates = { weft: [], postMessage: [] };
    for (let r = 0; r < ROUNDS; r++) {
      rates.weft.push(await runQ());
      rates.postMessage.push(await runP());
    }
    q.put('stop');
    await once(w, 'exit');
    p.postMessage('stop');
    await p.terminate();
    throughput[kind] = { weft: median(rates.weft), postMessage: median(rates.postMessage), ratio: ratioOf(rates.weft, rates.postMessage, false), rounds: rates };
    log(`queue ${kind}: ${(throughput[kind].weft / 1e6).toFixed(2)} M/s vs postMessage ${(throughput[kind].postMessage / 1e6).toFixed(2)} M/s (median ratio ${throughput[kind].ratio.toFixed(2)}×)`);
  }

  // 3. Bytes bandwidth.
  const chunk = new Uint8Array(64 * 1024).fill(1);
  // 256 MiB a round (64 in --quick): bandwidth is a steady-state figure, and a stream of 64 MiB
  // (~25 ms here) was mostly the sink waking up from its last wait and the two threads settling.
  const total = (quick ? 1024 : 4096) * chunk.length;
  const bytes = { pipe: [], set: [] };
  {
    const [r, wr] = new Pipe({ capacity: 1 << 20, duplex: false });
    const [fromSink, back] = new Pipe({ duplex: false });
    const w = start({ role: 'bytes-sink', conn: r, back });
    if (fromSink.recv(60_000) !== 'ready') throw new Error('bytes sink did not start');
    const target = new Uint8Array(new SharedArrayBuffer(1 << 20));
    const pipeRun = () => {
      for (let i = 0; i < 16; i++) wr.sendBytes(chunk); // the sink may have parked meanwhile
      const t0 = performance.now();
      for (let sent = 0; sent < total; sent += chunk.length) wr.sendBytes(chunk);
      wr.sendBytes(new Uint8Array(0)); // the sink answers 'done' for each empty message
      if (fromSink.recv(60_000) !== 'done') throw new Error('bytes sink did not finish');
      return total / ((performance.now() - t0) / 1000);
    };
    const setRun = () => {
      const t0 = performance.now();
      for (let done = 0, off = 0; done < total; done += chunk.length, off = (off + chunk.length) & ((1 << 20) - 1)) target.set(chunk, off);
      return total / ((performance.now() - t0) / 1000);
    };
    pipeRun();
    setRun();
    for (let i = 0; i < ROUNDS; i++) {
      bytes.pipe.push(pipeRun());
      bytes.set.push(setRun());
    }
    wr.close();
    await once(w, 'exit');
  }
  const pipeBps = median(bytes.pipe);
  const setBps = median(bytes.set);
  log(`pipe bytes ${(pipeBps / 1e9).toFixed(2)} GB/s vs TypedArray.set ${(setBps / 1e9).toFixed(2)} GB/s (median ratio ${ratioOf(bytes.pipe, bytes.set, false).toFixed(2)}×)`);

  const results = [
    { name: 'round trip: Pipe', p50us: median(rt.pipe), rounds: rt.pipe },
    { name: 'round trip: MessagePort', p50us: median(rt.port), rounds: rt.port },
  ];
  const rows = [
    ['Pipe round trip p50 (µs, lower is better)', median(rt.pipe), median(rt.port), ratioOf(rt.pipe, rt.port, true), 20],
    ['Queue one-way numbers (M msgs/s)', throughput.number.weft / 1e6, throughput.number.postMessage / 1e6, throughput.number.ratio, 5],
    ['Queue one-way 64-char strings (M msgs/s)', throughput.string.weft / 1e6, throughput.string.postMessage / 1e6, throughput.string.ratio, 5],
    ['Queue one-way small objects (M msgs/s)', throughput.object.weft / 1e6, throughput.object.postMessage / 1e6, throughput.object.ratio, 2],
    ['Pipe bytes, 64 KiB messages (GB/s)', pipeBps / 1e9, setBps / 1e9, ratioOf(bytes.pipe, bytes.set, false), 0.3],
  ];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpu}${quick ? ' (--quick)' : ''}; medians of ${ROUNDS} alternating rounds, ratio = median of the rounds' ratios\n`);
  console.log('| benchmark | weft | baseline | ratio | target | met? |');
  console.log('|---|---|---|---|---|---|');
  const base = ['MessagePort', 'postMessage', 'postMessage', 'postMessage', 'TypedArray.set'];
  rows.forEach(([name, w, b, ratio, tgt], i) => {
    console.log(`| ${name} | ${w.toFixed(2)} | ${b.toFixed(2)} (${base[i]}) | ${ratio.toFixed(2)}× | ≥ ${tgt}× | ${ratio >= tgt ? 'yes' : 'NO'} |`);
  });
  if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rounds: ROUNDS, rows, base, results, throughput, bytes }, null, 2));
}
