// Compiled (not run) by `npm test`: the public types of the CommonJS entry.
import weft = require('weft');

const lock = new weft.Lock();
const ok: boolean = lock.tryAcquire();
const sem: weft.Semaphore = new weft.BoundedSemaphore(2);
const err: weft.WeftError = new weft.TimeoutError('late');
void [ok, sem, err, weft.revive, weft.Event, weft.Condition, weft.Barrier, weft.RLock];
