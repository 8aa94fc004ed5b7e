// Body of bin/mount-worker.js. Serves strata FUSE overlay mounts with the
// overlay's own server (runServer), many per process, in a process of its
// own: the builder never serves a mount it uses (that could deadlock).
// Protocol, one JSON object per line:
//   stdin  {"id": N, "mountpoint": P, "opts": {...OverlayOptions}}
//   stdout {"id": N, "ready": true} | {"id": N, "error": MSG}   once mounted (or not)
//          {"id": N, "exited": CODE}                           once unmounted
// The worker exits when stdin closes and no mount is left.
import fs from 'node:fs';
import readline from 'node:readline';
import { runServer, settleBackgroundWork } from '@strata/overlay';

process.setMaxListeners(0);
let active = 0;
let closing = false;

function send(msg: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function mounted(mp: string): boolean {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mp);
}

function maybeExit(): void {
  if (!closing || active > 0) return;
  settleBackgroundWork(); // no mount is left to hold up
  process.exit(0);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const req = JSON.parse(line) as { id: number; mountpoint: string; opts: Parameters<typeof runServer>[1] };
  active++;
  let ready = false;
  let done = false;
  const poll = setInterval(() => {
    if (!done && !ready && mounted(req.mountpoint)) {
      ready = true;
      clearInterval(poll);
      send({ id: req.id, ready: true });
    }
  }, 3);
  runServer(req.mountpoint, req.opts).then(
    (code) => {
      done = true;
      clearInterval(poll);
      if (!ready) send({ id: req.id, error: `mount of ${req.mountpoint} failed (exit ${code})` });
      else send({ id: req.id, exited: code });
      active--;
      maybeExit();
    },
    (err: unknown) => {
      done = true;
      clearInterval(poll);
      send({ id: req.id, error: err instanceof Error ? err.message : String(err) });
      active--;
      maybeExit();
    },
  );
});
rl.on('close', () => {
  closing = true;
  maybeExit();
});
