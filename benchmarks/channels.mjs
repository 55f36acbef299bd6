// Channel benchmarks: each weft figure against a baseline measured in the same run.
//   node benchmarks/channels.mjs [--quick] [--json FILE]
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
      const n = conn.recvBytesInto(into, 0, 60_000);
      if (n === 0) break;
    }
    back.send('done');
  }
} else {
  const results = [];
  const log = (s) => process.stderr.write(s + '\n');
  const watchdog = setTimeout(() => { log('channels benchmark: watchdog fired'); process.exit(2); }, 5 * 60_000);
  watchdog.unref();
  const start = (data) => new Worker(new URL(import.meta.url), { workerData: data, transferList: data.port ? [data.port] : [] });
  const once = (w, ev) => new Promise((res, rej) => { w.once(ev, res); w.once('error', rej); });
  const pct = (a, p) => a.slice().sort((x, y) => x - y)[Math.floor((a.length - 1) * p)];

  // 1. Round trips.
  const rounds = quick ? 2_000 : 20_000;
  {
    const [mine, theirs] = new Pipe({ capacity: 64 * 1024 });
    const w = start({ role: 'pipe-echo', conn: theirs });
    // Warm up for a while: the JIT, and each side's spin budget, learn from the first rounds.
    // (The same values as the timed rounds: a number type first met there would deoptimize the codec mid-measurement.)
    for (let i = 0, end = performance.now() + 1000; performance.now() < end; i = (i + 1) % rounds) { mine.send(i); mine.recv(10_000); }
    const t = new Float64Array(rounds);
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      mine.send(i);
      mine.recv(10_000);
      t[i] = performance.now() - t0;
    }
    mine.send(-1);
    await once(w, 'exit');
    const arr = [...t];
    results.push({ name: 'round trip: Pipe', p50us: pct(arr, 0.5) * 1000, p99us: pct(arr, 0.99) * 1000 });
    log(`pipe round trip p50 ${(pct(arr, 0.5) * 1000).toFixed(2)} us`);
  }
  {
    const { port1, port2 } = new MessageChannel();
    const w = start({ role: 'port-echo', port: port2 });
    const rt = () => new Promise((res) => { port1.once('message', res); port1.postMessage(1); });
    for (const end = performance.now() + 1000; performance.now() < end;) await rt(); // the same warm-up time
    const n = Math.min(rounds, quick ? 1_000 : 5_000);
    const t = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await rt();
      t.push(performance.now() - t0);
    }
    port1.postMessage(-1);
    port1.close();
    await w.terminate();
    results.push({ name: 'round trip: MessagePort', p50us: pct(t, 0.5) * 1000, p99us: pct(t, 0.99) * 1000 });
    log(`MessagePort round trip p50 ${(pct(t, 0.5) * 1000).toFixed(2)} us`);
  }

  // 2. One-way throughput.
  const N = quick ? 100_000 : 500_000;
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
    await runQ();
    const qRate = Math.max(await runQ(), await runQ());
    q.put('stop');
    await once(w, 'exit');

    const p = start({ role: 'post-sink', n: N });
    const runP = async () => {
      const done = once(p, 'message');
      const t0 = performance.now();
      for (let i = 0; i < N; i++) p.postMessage(payloadOf(kind, i));
      await done;
      return N / ((performance.now() - t0) / 1000);
    };
    await runP();
    const pRate = Math.max(await runP(), await runP());
    p.postMessage('stop');
    await p.terminate();
    throughput[kind] = { weft: qRate, postMessage: pRate };
    log(`queue ${kind}: ${(qRate / 1e6).toFixed(2)} M/s vs postMessage ${(pRate / 1e6).toFixed(2)} M/s`);
  }

  // 3. Bytes bandwidth.
  const chunk = new Uint8Array(64 * 1024).fill(1);
  const total = (quick ? 256 : 2048) * chunk.length;
  let pipeBps;
  {
    const [r, wr] = new Pipe({ capacity: 1 << 20, duplex: false });
    const [fromSink, back] = new Pipe({ duplex: false });
    const w = start({ role: 'bytes-sink', conn: r, back });
    if (fromSink.recv(60_000) !== 'ready') throw new Error('bytes sink did not start');
    for (let i = 0; i < 64; i++) wr.sendBytes(chunk); // warm-up
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += chunk.length) wr.sendBytes(chunk);
    wr.sendBytes(new Uint8Array(0));
    if (fromSink.recv(60_000) !== 'done') throw new Error('bytes sink did not finish');
    pipeBps = total / ((performance.now() - t0) / 1000);
    await once(w, 'exit');
  }
  const target = new Uint8Array(new SharedArrayBuffer(1 << 20));
  const tSet0 = performance.now();
  for (let done = 0, off = 0; done < total * 4; done += chunk.length, off = (off + chunk.length) & ((1 << 20) - 1)) target.set(chunk, off);
  const setBps = (total * 4) / ((performance.now() - tSet0) / 1000);
  log(`pipe bytes ${(pipeBps / 1e9).toFixed(2)} GB/s vs TypedArray.set ${(setBps / 1e9).toFixed(2)} GB/s`);

  const pipe = results[0];
  const port = results[1];
  const rows = [
    ['Pipe round trip p50 (µs, lower is better)', pipe.p50us, port.p50us, port.p50us / pipe.p50us, 20],
    ['Queue one-way numbers (M msgs/s)', throughput.number.weft / 1e6, throughput.number.postMessage / 1e6, throughput.number.weft / throughput.number.postMessage, 5],
    ['Queue one-way 64-char strings (M msgs/s)', throughput.string.weft / 1e6, throughput.string.postMessage / 1e6, throughput.string.weft / throughput.string.postMessage, 5],
    ['Queue one-way small objects (M msgs/s)', throughput.object.weft / 1e6, throughput.object.postMessage / 1e6, throughput.object.weft / throughput.object.postMessage, 2],
    ['Pipe bytes, 64 KiB messages (GB/s)', pipeBps / 1e9, setBps / 1e9, pipeBps / setBps, 0.3],
  ];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Node ${process.version}, ${availableParallelism()} cores, ${cpu}${quick ? ' (--quick)' : ''}\n`);
  console.log('| benchmark | weft | baseline | ratio | target | met? |');
  console.log('|---|---|---|---|---|---|');
  const base = ['MessagePort', 'postMessage', 'postMessage', 'postMessage', 'TypedArray.set'];
  rows.forEach(([name, w, b, ratio, tgt], i) => {
    console.log(`| ${name} | ${w.toFixed(2)} | ${b.toFixed(2)} (${base[i]}) | ${ratio.toFixed(2)}× | ≥ ${tgt}× | ${ratio >= tgt ? 'yes' : 'NO'} |`);
  });
  if (jsonAt > 0) writeFileSync(process.argv[jsonAt + 1], JSON.stringify({ node: process.version, quick, rows, base, results, throughput }, null, 2));
}
