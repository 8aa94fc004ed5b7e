// Checks a layer stack before mounting, so a bad one fails with a message
// naming the culprit and leaves no mount behind.
import fs from 'node:fs';
import path from 'node:path';
import { AlreadyExists, InvalidInput, NotFound, UsageError } from '@strata/common';
import type { OverlayOptions } from './types.ts';

function dirOk(what: string, p: string, write: boolean): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new NotFound(`${what} ${p}: no such directory`);
  }
  if (!st.isDirectory()) throw new InvalidInput(`${what} ${p}: not a directory`);
  try {
    fs.accessSync(p, fs.constants.R_OK | fs.constants.X_OK | (write ? fs.constants.W_OK : 0));
    fs.readdirSync(p);
  } catch (err) {
    throw new InvalidInput(`${what} ${p}: not ${write ? 'writable' : 'readable'} (${(err as NodeJS.ErrnoException).code})`);
  }
  return st;
}

/** Mount points in /proc/self/mountinfo (unescaped). */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** Throws a StrataError if `opts` cannot be mounted at `mountpoint`. */
export function validateMount(mountpoint: string, opts: OverlayOptions): void {
  if (opts.lowerDirs.length === 0) throw new UsageError('at least one lower directory is required');
  for (const d of opts.lowerDirs) dirOk('lowerdir', d, false);
  if (opts.upperDir !== undefined || opts.workDir !== undefined) {
    if (opts.upperDir === undefined || opts.workDir === undefined) throw new UsageError('upperdir and workdir go together');
    const up = dirOk('upperdir', opts.upperDir, true);
    const wk = dirOk('workdir', opts.workDir, true);
    if (up.dev !== wk.dev) throw new InvalidInput(`workdir ${opts.workDir} is not on the same filesystem as upperdir ${opts.upperDir}`);
    const u = path.resolve(opts.upperDir);
    const w = path.resolve(opts.workDir);
    if (u === w || u.startsWith(w + '/') || w.startsWith(u + '/')) throw new InvalidInput(`upperdir ${u} and workdir ${w} must not contain each other`);
  }
  const mp = path.resolve(mountpoint);
  let st: fs.Stats;
  try {
    st = fs.statSync(mp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') throw new AlreadyExists(`mountpoint ${mp}: a dead mount is still there (run strata umount ${mp})`);
    throw new NotFound(`mountpoint ${mp}: no such directory`);
  }
  if (!st.isDirectory()) throw new InvalidInput(`mountpoint ${mp}: not a directory`);
  if (mountPoints().has(mp)) throw new AlreadyExists(`mountpoint ${mp}: already in use by another mount`);
}
