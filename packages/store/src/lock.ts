// A cross-process lock on a file path: O_EXCL creation of <path>.lock with
// our pid inside, retried with backoff. A lock whose holder is no longer
// alive (crashed mid-update) is broken, so one crash cannot wedge the store.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError, isErrno } from '@strata/common';

function holderAlive(lockPath: string): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(lockPath, 'utf8').trim());
  } catch {
    return true; // vanished or being written: treat as held, retry
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    // An empty file is a holder between open and write; give it time.
    try {
      return Date.now() - fs.statSync(lockPath).mtimeMs < 5000;
    } catch {
      return true;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

/** Runs `fn` holding the lock `lockPath`; waits up to `timeoutMs` for it. */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  let delay = 2;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx', 0o644);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      if (!holderAlive(lockPath)) {
        fs.rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() - start > timeoutMs) throw new StrataError(`timed out waiting for lock ${lockPath}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 25);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
}
