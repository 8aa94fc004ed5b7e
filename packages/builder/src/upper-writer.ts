// Writes COPY/ADD results straight into a fresh upper directory, with no
// mount: the parent image is read through a LayerView, and the upper dir
// gets exactly what a write through an overlay mount would leave there.
// A parent directory that exists below is "copied up" (same mode and owner,
// no contents); a new one is made 0755 root. Writing a file over a lower
// symlink or file simply shadows it, and a directory written over a lower
// directory merges with it, so no whiteout is ever needed.
import fs from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { isErrno } from '@strata/common';
import { LayerView, components } from './rootfs-view.ts';

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
}

export class UpperWriter {
  /** The merged view of the upper being written over the parent's layers. */
  readonly merged: LayerView;
  constructor(
    readonly upperDir: string,
    readonly lower: LayerView,
  ) {
    this.merged = new LayerView([upperDir, ...lower.layers]);
  }

  host(p: string): string {
    return path.join(this.upperDir, ...components(p));
  }

  /** Resolves symlinks of an in-root path against what the image (plus this upper) holds. */
  resolve(p: string, followLast: boolean): Promise<string> {
    return this.merged.resolve(p, followLast);
  }

  /**
   * Makes sure directory `p` (already symlink-free) exists in the upper dir.
   * Components that exist in the merged view as directories are copied up with
   * their metadata; missing ones are created with `created` (default 0755 root).
   * Returns the in-root paths it created that did not exist anywhere.
   */
  async ensureDir(p: string, created: Meta = { mode: 0o755, uid: 0, gid: 0 }): Promise<string[]> {
    const made: string[] = [];
    let cur = '';
    for (const c of components(p)) {
      cur += '/' + c;
      const hp = this.host(cur);
      const inUpper = await lstatOrNull(hp);
      if (inUpper?.isDirectory()) continue;
      const below = await this.lower.lstat(cur);
      if (inUpper) await fs.rm(hp, { recursive: true, force: true });
      if (below && below.stat.isDirectory() && !inUpper) {
        await makeDir(hp, { mode: below.stat.mode & 0o7777, uid: below.stat.uid, gid: below.stat.gid });
        await fs.utimes(hp, below.stat.atime, below.stat.mtime);
      } else {
        await makeDir(hp, created);
        made.push(cur);
      }
    }
    return made;
  }

  /** Removes whatever the upper holds at `p` unless it is a directory and `keepDir`. */
  async clear(p: string, keepDir: boolean): Promise<boolean> {
    const hp = this.host(p);
    const st = await lstatOrNull(hp);
    if (!st) return false;
    if (st.isDirectory() && keepDir) return true;
    await fs.rm(hp, { recursive: true, force: true });
    return false;
  }

  /** True if the merged view has a directory at `p` (symlinks not followed). */
  async isDir(p: string): Promise<boolean> {
    const f = await this.merged.lstat(p);
    return !!f && f.stat.isDirectory();
  }
}

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
}

/** mkdir with an exact mode (no umask) and owner. */
export async function makeDir(hp: string, meta: Meta): Promise<void> {
  try {
    await fs.mkdir(hp);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  await fs.lchown(hp, meta.uid, meta.gid);
  await fs.chmod(hp, meta.mode);
}
