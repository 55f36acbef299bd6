// Deadlock demo: a JoinableQueue consumer that forgets taskDone() for one item.
//
// Python: `q.join()` waits until every item put has been marked done; one forgotten
// `q.task_done()` and it waits for ever. weft: `join(timeout)` returns false when the time runs
// out, and `unfinished` says how many items are still owed a `taskDone()`. Once the missing call
// comes, `join()` returns true. Calling `taskDone()` once too often is misuse: TaskDoneError, and
// nothing changes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { JoinableQueue, TaskDoneError } from 'weft';
import { awaitAtLeast, control, signal } from '../helpers/sync.mjs';
import { spawn, terminateAll } from '../helpers/workers.mjs';

const LIMIT = { timeout: 20_000 };
after(terminateAll);

test('a forgotten taskDone: join(timeout) is false, unfinished says 1; the late taskDone lets join return true', LIMIT, async () => {
  const q = new JoinableQueue({ name: 'jobs' });
  const ctl = control(); // [0]: consumer processed everything (bar one taskDone); [1]: "remember it now"
  for (const job of ['a', 'b', 'c']) q.put(job);
  assert.equal(q.unfinished, 3);

  const consumer = spawn(({ data, h }) => {
    const seen = [];
    for (let i = 0; i < 3; i++) {
      seen.push(data.q.get(10_000));
      if (i !== 1) data.q.taskDone(); // the bug: no taskDone() for the second item
    }
    h.signal(data.ctl, 0);
    h.awaitAtLeast(data.ctl, 1, 1, 15_000);
    data.q.taskDone(); // the fix, late
    return seen;
  }, { q, ctl }, { ms: 20_000 });

  awaitAtLeast(ctl, 0);
  assert.equal(q.size, 0, 'every item was taken');
  assert.equal(q.join(200), false, 'join gives up instead of hanging');
  assert.equal(q.unfinished, 1, 'one item is still owed a taskDone()');

  signal(ctl, 1);
  assert.equal(q.join(10_000), true, 'the consumer\'s late taskDone() wakes the joiner');
  assert.equal(q.unfinished, 0);
  assert.deepEqual(await consumer, ['a', 'b', 'c']);
});

test('taskDone() more times than items were put throws TaskDoneError and changes nothing', LIMIT, () => {
  const q = new JoinableQueue({ name: 'jobs' });
  q.put(1);
  q.get(0);
  q.taskDone();
  assert.throws(() => q.taskDone(), (e) => {
    assert.ok(e instanceof TaskDoneError);
    assert.equal(e.code, 'ERR_TASK_DONE');
    assert.match(e.message, /JoinableQueue 'jobs': taskDone\(\) called more times/);
    return true;
  });
  assert.equal(q.unfinished, 0, 'not driven negative');
  assert.equal(q.join(0), true);
  q.put(2); // still counts normally afterwards
  assert.equal(q.unfinished, 1);
  assert.equal(q.join(0), false);
});
