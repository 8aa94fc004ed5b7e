// A fresh server compiles each JavaScript function the first time a request
// needs it: a new mount's first rename took 5.7 ms against 2.9 ms for the
// next one (mv of a 1000-file lower directory, measured by hand). So before
// it mounts, the server runs the engine's everyday operations once on a
// scratch stack of its own (in the OS temp dir, removed again; not in the
// work area, which must show nothing of this): the user's first requests then
// find them compiled. The transport's request handling (decoding, replies)
// gets the same on a second scratch stack. Nothing of the user's is touched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Overlay } from './overlay.ts';

const NOW: [number, number] = [0, (1 << 30) - 1]; // UTIME_NOW

/** The exercises this process has run. */
const warmed = new Set<(ov: Overlay) => void>();

/**
 * Exercises the engine on a throwaway stack in the OS temp dir, then (on a
 * second one) `transport`, the mount's request paths; never throws.
 */
export function warmUp(transport?: (scratch: Overlay) => void): void {
  // Once per process: the builder's mount worker serves many mounts, and
  // after the first one everything is compiled already.
  const todo = [exerciseEngine, ...(transport ? [transport] : [])].filter((fn) => !warmed.has(fn));
  if (todo.length === 0) return;
  let dir: string | undefined;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-warmup-'));
    for (const [i, fn] of todo.entries()) {
      onScratchStack(path.join(dir, String(i)), fn);
      warmed.add(fn);
    }
  } catch {
    // Only a head start: whatever failed here is compiled on first use instead.
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Files in the scratch stack's directory e/ (a walk's or an rm -rf's first directory: see exerciseSession). */
export const SCRATCH_FILES = 32;

/** A lower layer of d/sub/, d/f, e/f0..f31 and g under an empty upper layer, in `dir`. */
function onScratchStack(dir: string, fn: (ov: Overlay) => void): void {
  const lower = path.join(dir, 'lower');
  fs.mkdirSync(path.join(lower, 'd', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'd', 'f'), 'f');
  fs.mkdirSync(path.join(lower, 'e'));
  for (let i = 0; i < SCRATCH_FILES; i++) fs.writeFileSync(path.join(lower, 'e', `f${i}`), '');
  fs.writeFileSync(path.join(lower, 'g'), 'g');
  fs.mkdirSync(path.join(dir, 'upper'));
  fs.mkdirSync(path.join(dir, 'work'));
  const ov = new Overlay({ lowerDirs: [lower], upperDir: path.join(dir, 'upper'), workDir: path.join(dir, 'work'), noSync: true });
  try {
    fn(ov);
  } finally {
    ov.close();
  }
}

function exerciseEngine(ov: Overlay): void {
  const caller = { uid: 0, gid: 0 };
  ov.getattr('/');
  ov.readdir('/');
  ov.readdir('/d');
  ov.getattr('/d/f');
  ov.getxattr('/d/f', 'security.capability');
  ov.release(ov.open('/d/f', fs.constants.O_RDONLY));
  ov.release(ov.open('/g', fs.constants.O_WRONLY)); // copy-up
  ov.release(ov.create('/n', 0o644, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, caller));
  ov.chmod('/n', 0o600);
  ov.chown('/n', 0, 0);
  ov.utimens('/n', NOW, NOW);
  ov.truncate('/n', 1);
  ov.listxattr('/n');
  ov.mkdir('/m', 0o755, caller);
  ov.symlink('n', '/m/l', caller);
  ov.readlink('/m/l');
  ov.link('/n', '/m/h');
  ov.rename('/d', '/d2'); // a lower directory: one rename with a redirect
  ov.rename('/n', '/m/n2');
  ov.unlink('/g');
  ov.unlink('/m/l');
  ov.unlink('/m/h');
  ov.unlink('/m/n2');
  ov.rmdir('/m');
  ov.rmdir('/d2/sub');
}
