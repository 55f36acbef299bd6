// Pipe and Connection: message boundaries, bytes, streaming larger than the ring, EOF semantics,
// one-way pipes, and round trips with a real worker.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ClosedError, Connection, Pipe, TimeoutError, revive } from 'weft';
import { spawn, terminateAll } from './helpers/workers.mjs';

const STRESS = Number(process.env.WEFT_STRESS ?? 1);
after(terminateAll);

describe('Pipe: single thread', () => {
  test('duplex: both ends send and receive, boundaries kept', () => {
    const [a, b] = new Pipe({ name: 'p' });
    assert.ok(a instanceof Connection && b instanceof Connection);
    a.send({ hello: 'b' });
    a.send([1, 2, 3]);
    b.send('back');
    assert.deepEqual(b.recv(), { hello: 'b' });
    assert.deepEqual(b.recv(), [1, 2, 3]);
    assert.equal(a.recv(), 'back');
    assert.equal(a.poll(), false);
    assert.equal(String(a), "Connection 'p' 0");
  });

  test('bytes: sendBytes/recvBytes/recvBytesInto, empty message, offsets', () => {
    const [a, b] = new Pipe();
    a.sendBytes(new Uint8Array([1, 2, 3, 4, 5]), 1, 3);
    a.sendBytes(new Uint8Array(0));
    a.sendBytes(new Uint16Array([0x0102]).buffer);
    assert.deepEqual(b.recvBytes(), new Uint8Array([2, 3, 4]));
    assert.equal(b.poll(), true, 'an empty message is a message');
    assert.deepEqual(b.recvBytes(), new Uint8Array(0));
    const into = new Uint8Array(8);
    assert.equal(b.recvBytesInto(into, 3), 2);
    assert.deepEqual([...into.subarray(3, 5)], [...new Uint8Array(new Uint16Array([0x0102]).buffer)]);
    assert.throws(() => a.sendBytes('nope'), TypeError);
    assert.throws(() => a.sendBytes(new Uint8Array(4), 3, 2), RangeError);
  });

  test('a message that does not fit maxLength or the buffer stays in the pipe', () => {
    const [a, b] = new Pipe();
    a.sendBytes(new Uint8Array(10).fill(7));
    assert.throws(() => b.recvBytes(5), RangeError);
    assert.throws(() => b.recvBytesInto(new Uint8Array(4)), RangeError);
    assert.deepEqual(b.recvBytes(10), new Uint8Array(10).fill(7));
  });

  test('recv of a bytes message returns its bytes; recvBytes of a value returns encoded bytes', () => {
    const [a, b] = new Pipe();
    a.sendBytes(new Uint8Array([9]));
    assert.deepEqual(b.recv(), new Uint8Array([9]));
    a.send('x');
    assert.ok(b.recvBytes() instanceof Uint8Array);
  });

  test('recv(timeout) throws TimeoutError; poll(timeout) waits and says false', async () => {
    const [a, b] = new Pipe();
    let t0 = performance.now();
    assert.throws(() => b.recv(80), TimeoutError);
    assert.ok(performance.now() - t0 >= 50);
    t0 = performance.now();
    assert.equal(b.poll(80), false);
    assert.ok(performance.now() - t0 >= 50);
    assert.equal(await b.pollAsync(30), false);
    await assert.rejects(b.recvAsync(30), TimeoutError);
    a.send(1);
    assert.equal(await b.pollAsync(1000), true);
    assert.equal(await b.recvAsync(), 1);
  });

  test('close: the peer drains, then ClosedError (EOF); poll is true at EOF; sends to a closed peer throw', async () => {
    const [a, b] = new Pipe();
    a.send(1);
    a.send(2);
    a.close();
    assert.equal(a.closed, true);
    assert.equal(b.closed, false);
    assert.throws(() => a.send(3), ClosedError);
    assert.throws(() => a.recv(), ClosedError);
    assert.equal(b.poll(), true);
    assert.equal(b.recv(), 1);
    const rest = [];
    for await (const v of b) rest.push(v);
    assert.deepEqual(rest, [2]);
    assert.equal(b.poll(), true, 'EOF is pending');
    assert.throws(() => b.recv(), ClosedError);
    assert.throws(() => b.send('to nobody'), ClosedError);
  });

  test('one-way pipe: [reader, writer]; the wrong direction throws', () => {
    const [r, w] = new Pipe({ duplex: false });
    w.send('one way');
    assert.equal(r.recv(), 'one way');
    assert.throws(() => r.send('x'), TypeError);
    assert.throws(() => w.recv(), TypeError);
    assert.throws(() => w.poll(), TypeError);
    w.close();
    assert.throws(() => r.recv(), ClosedError);
  });

  test('uncloneable values throw TypeError and send nothing', () => {
    const [a, b] = new Pipe();
    assert.throws(() => a.send({ f: () => 1 }), TypeError);
    assert.equal(b.poll(), false);
    a.send('fine');
    assert.equal(b.recv(), 'fine');
  });

  test('a message larger than the ring streams through (single thread, async receiver)', async () => {
    const [a, b] = new Pipe({ capacity: 1024 });
    const big = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const sending = Promise.resolve().then(() => a.sendAsync({ big, tag: 'big' }));
    const got = await b.recvAsync(10_000);
    await sending;
    assert.equal(got.tag, 'big');
    assert.deepEqual(got.big, big);
  });

  test('Pipe and Connection survive structured clone', () => {
    const pipe = new Pipe();
    const [a] = pipe;
    const r = revive(structuredClone({ pipe, a }));
    const [ra, rb] = r.pipe;
    a.send('x');
    assert.equal(rb.recv(), 'x');
    rb.send('y');
    assert.equal(r.a.recv(), 'y');
    assert.equal(ra.end, 0);
    assert.throws(() => Connection.from({ $weft: 'Connection', end: 2 }), TypeError);
  });
});

describe('Pipe: record sizes', () => {
  test('messages of 0 to 300 bytes through 64- and 128-byte pipes: one record, straddling, streamed (found in review)', async () => {
    for (const capacity of [64, 128]) {
      const [a, b] = new Pipe({ capacity });
      for (let n = 0; n <= 300; n++) {
        const v = { u: new Uint8Array(n).map((_, i) => (i * 7 + n) & 255), n };
        const sending = Promise.resolve().then(() => a.sendAsync(v));
        const got = await b.recvAsync(5_000);
        await sending;
        assert.deepEqual(got, v, `capacity ${capacity}, n ${n}`);
      }
    }
  });

  test('a small message right after the encoder gives back a huge scratch arrives whole (found in review)', () => {
    const [a, b] = new Pipe({ capacity: 1 << 22 });
    a.send(new Uint8Array(1_500_000));
    b.recv();
    for (let i = 0; i < 64; i++) {
      a.send({ i });
      assert.deepEqual(b.recv(0), { i }, `message ${i}`);
    }
  });
});

describe('Pipe: across threads', () => {
  test('round trips with a worker, in order', async () => {
    const [mine, theirs] = new Pipe();
    const w = spawn(({ data }) => {
      const c = data.theirs;
      for (;;) {
        const m = c.recv(20_000);
        if (m === 'stop') return 'stopped';
        c.send({ echo: m });
      }
    }, { theirs });
    for (let i = 0; i < 1000 * STRESS; i++) {
      mine.send(i);
      assert.deepEqual(mine.recv(20_000), { echo: i });
    }
    mine.send('stop');
    assert.equal(await w, 'stopped');
  });

  test('16 MiB through a 64 KiB pipe arrives whole; bytes messages too', async () => {
    const [r, wr] = new Pipe({ duplex: false, capacity: 64 * 1024 });
    const size = 16 * 1024 * 1024;
    const w = spawn(({ data }) => {
      const big = new Uint8Array(data.size);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
      data.wr.sendBytes(big);
      data.wr.send({ again: big.subarray(0, 1 << 20) });
      data.wr.close();
      return 'sent';
    }, { wr, size }, { ms: 60_000 });
    const got = r.recvBytes(undefined, 30_000);
    assert.equal(got.length, size);
    let bad = -1;
    for (let i = 0; i < got.length; i++) if (got[i] !== ((i * 31) & 0xff)) { bad = i; break; }
    assert.equal(bad, -1, 'every byte in place');
    const again = r.recv(30_000);
    assert.equal(again.again.length, 1 << 20);
    assert.equal(again.again[12345], (12345 * 31) & 0xff);
    assert.throws(() => r.recv(30_000), ClosedError);
    assert.equal(await w, 'sent');
  });

  test('close wakes a reader blocked in another thread', async () => {
    const [a, b] = new Pipe();
    const w = spawn(({ data }) => {
      try {
        data.b.recv(20_000);
        return 'got';
      } catch (e) {
        return e.name;
      }
    }, { b });
    // The worker may or may not be asleep yet: either way it must see EOF, not hang.
    a.close();
    assert.equal(await w, 'ClosedError');
  });
});
