// Generic worker for specs: runs the function whose source the spec sent, with weft, the
// handshake helpers and the revived data, and posts back its result or its error.
import { parentPort, workerData, threadId } from 'node:worker_threads';
import * as weft from 'weft';
import * as h from './sync.mjs';

const { src, data } = workerData;
try {
  const fn = (0, eval)(`(${src})`);
  const result = await fn({ weft, h, data: weft.revive(data), threadId });
  parentPort.postMessage({ ok: true, result });
} catch (e) {
  parentPort.postMessage({
    ok: false,
    error: { name: e?.name, message: e?.message ?? String(e), code: e?.code, stack: e?.stack },
  });
}
