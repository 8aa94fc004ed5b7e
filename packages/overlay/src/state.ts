// What a running server leaves for `strata umount`, `strata which` and
// `strata mount --stats` to find: one JSON file per mountpoint under the
// runtime directory, removed when the server exits.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OverlayOptions } from './types.ts';

export interface MountState {
  pid: number;
  mountpoint: string;
  options: OverlayOptions;
  /** Where the server writes its stats when sent SIGUSR2. */
  statsFile: string;
}

/** The runtime directory for mount state ($STRATA_RUN_DIR, /run/strata as root, else under tmp). */
export function runDir(): string {
  if (process.env.STRATA_RUN_DIR) return process.env.STRATA_RUN_DIR;
  return process.getuid?.() === 0 ? '/run/strata' : path.join(os.tmpdir(), `strata-${process.getuid?.()}`);
}

function stateFile(mountpoint: string): string {
  const id = createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 16);
  return path.join(runDir(), `mount-${id}.json`);
}

export function statsFileFor(mountpoint: string): string {
  return stateFile(mountpoint).replace(/\.json$/, '.stats.json');
}

/** The server's log (its stdout and stderr) for `mountpoint`. */
export function logFileFor(mountpoint: string): string {
  return stateFile(mountpoint).replace(/\.json$/, '.log');
}

export function writeState(s: MountState): void {
  fs.mkdirSync(runDir(), { recursive: true, mode: 0o700 });
  const f = stateFile(s.mountpoint);
  fs.writeFileSync(f + '.tmp', JSON.stringify(s), { mode: 0o600 });
  fs.renameSync(f + '.tmp', f);
}

/** The state of the server at `mountpoint`, or null if none is recorded (or its process is gone). */
export function readState(mountpoint: string): MountState | null {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(mountpoint), 'utf8')) as MountState;
    return s;
  } catch {
    return null;
  }
}

export function removeState(mountpoint: string): void {
  fs.rmSync(stateFile(mountpoint), { force: true });
  fs.rmSync(statsFileFor(mountpoint), { force: true });
  fs.rmSync(logFileFor(mountpoint), { force: true });
}

/** True if process `pid` exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}
