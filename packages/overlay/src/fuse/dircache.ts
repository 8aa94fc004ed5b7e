// Where the native loop keeps the names of lower directories between mounts
// (native/src/dircache.c): one file per lower stack, in a directory of the
// host's cache. $STRATA_DIRCACHE names another directory, or "off".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hexOf, sha256 } from '@strata/common';

/** Stacks remembered at most, and bytes (a file holds at most 16 MiB of entries); the least recently used go first. */
const FILES_MAX = 64;
const BYTES_MAX = 256 * 1024 * 1024;

/** The cache directory: $STRATA_DIRCACHE, else /var/cache/strata/dircache for root, else under $XDG_CACHE_HOME or ~/.cache. */
export function dirCacheDir(): string | undefined {
  const env = process.env.STRATA_DIRCACHE;
  if (env === 'off') return undefined;
  if (env) return path.resolve(env);
  if (process.getuid?.() === 0) return '/var/cache/strata/dircache';
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'strata', 'dircache');
}

/**
 * The cache file of the stack of `lowerDirs` (top first) in `dir`, made
 * ready: the directory exists, and the oldest files beyond FILES_MAX are
 * gone. Undefined when the directory cannot be made, or is not private to
 * this user (others could plant names in a mount's listings, or read the
 * layers' names): the mount then reads every directory from its layers, as
 * without a cache.
 */
export function dirCacheFile(dir: string, lowerDirs: string[]): string | undefined {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const key = hexOf(sha256(lowerDirs.map((d) => path.resolve(d)).join('\0')));
  const file = path.join(dir, key.slice(0, 32));
  // Used now, before the pruning, which then keeps it longest (the loop
  // rewrites it only when it read something new).
  try {
    const now = new Date();
    fs.utimesSync(file, now, now);
  } catch {
    // not there yet
  }
  try {
    prune(dir);
  } catch {
    return undefined;
  }
  return file;
}

function prune(dir: string): void {
  const files = fs
    .readdirSync(dir)
    .map((name) => {
      try {
        const st = fs.lstatSync(path.join(dir, name));
        return { name, mtime: st.mtimeMs, size: st.size };
      } catch {
        return { name, mtime: 0, size: 0 };
      }
    })
    .sort((a, b) => b.mtime - a.mtime);
  let bytes = 0;
  files.forEach((f, i) => {
    bytes += f.size;
    if (i >= FILES_MAX || bytes > BYTES_MAX) fs.rmSync(path.join(dir, f.name), { force: true });
  });
}
