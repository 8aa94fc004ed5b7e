// Copy-up: before anything changes an entry that lives only in a lower
// layer, a copy of it (data, mode, owner, times, xattrs) is made in the
// upper layer, parents first. The copy is built in workdir and renamed into
// place, so a crash never leaves a half-copied file visible; the data moves
// with FICLONE or copy_file_range inside the kernel, never through here, and
// a sparse file's holes stay holes (native cloneFd).
import fs from 'node:fs';
import { cloneFd, lgetxattr, llistxattr, lsetxattr, lutimesNs, mknod } from '@strata/native';
import type { Node, Tree } from './tree.ts';
import { S_IFDIR, S_IFLNK, S_IFREG } from './tree.ts';
import { isPrivateXattr } from './whiteout.ts';
import { fail } from './errno.ts';

export interface CopyUpEnv {
  tree: Tree;
  workDir: string;
  /** fsync the copied data before it becomes visible. */
  sync: boolean;
  /** A fresh name inside workDir. */
  tempName(): string;
  /** Called after `node` gained its upper copy at `upper` (stat of the copy). */
  onCopiedUp(node: Node, lowerSt: fs.BigIntStats, upperSt: fs.Stats): void;
  /** Upper path of an earlier copy of the same lower inode (hard links), if any. */
  linkedCopy(lowerSt: fs.BigIntStats): string | undefined;
}

/** Copies the xattrs of `from` to `to` (both host paths), the overlay's own excepted. */
export function copyXattrs(from: string, to: string): void {
  let names: string[];
  try {
    names = llistxattr(from);
  } catch {
    return;
  }
  for (const name of names) {
    if (isPrivateXattr(name)) continue;
    const v = lgetxattr(from, name);
    if (v) {
      try {
        lsetxattr(to, name, v, 0);
      } catch (err) {
        // security.* may be refused on the upper filesystem; the rest must copy.
        if (!name.startsWith('security.')) throw err;
      }
    }
  }
}

/** Ensures `node` and all its parents exist in the upper layer. */
export function copyUp(env: CopyUpEnv, node: Node, opts: { data?: boolean } = {}): void {
  if (node.upper) return;
  if (!env.tree.layers.hasUpper) fail('EROFS', node.path);
  if (node.parent) copyUp(env, node.parent);
  const tree = env.tree;
  const src = tree.realPath(node);
  const target = tree.upperPath(node);
  const st = fs.lstatSync(src, { bigint: true });
  const mode = Number(st.mode) & 0o7777;
  const type = Number(st.mode) & 0o170000;

  const prior = type === S_IFREG && st.nlink > 1n ? env.linkedCopy(st) : undefined;
  if (prior !== undefined) {
    // Another name of the same lower inode was copied up already: keep them one file.
    fs.linkSync(prior, target);
  } else {
    const tmp = env.tempName();
    try {
      if (type === S_IFDIR) {
        fs.mkdirSync(tmp, { mode: 0o700 });
      } else if (type === S_IFREG) {
        const dataCopy = opts.data !== false && st.size > 0n;
        const inFd = dataCopy ? fs.openSync(src, 'r') : -1;
        const outFd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
        try {
          if (dataCopy) cloneFd(inFd, outFd, Number(st.size));
          if (env.sync) fs.fsyncSync(outFd);
        } finally {
          if (inFd >= 0) fs.closeSync(inFd);
          fs.closeSync(outFd);
        }
      } else if (type === S_IFLNK) {
        fs.symlinkSync(fs.readlinkSync(src), tmp);
      } else {
        mknod(tmp, type | mode, Number((st.rdev >> 8n) & 0xfffn), Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n)));
      }
      fs.lchownSync(tmp, Number(st.uid), Number(st.gid));
      if (type !== S_IFLNK) fs.chmodSync(tmp, mode);
      copyXattrs(src, tmp);
      lutimesNs(tmp, Number(st.atimeNs / 1000000000n), Number(st.atimeNs % 1000000000n), Number(st.mtimeNs / 1000000000n), Number(st.mtimeNs % 1000000000n));
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true, recursive: true });
      throw err;
    }
  }
  node.upper = true;
  if (node.isDir && node.children) {
    // The directory now has an upper part; its (known) whiteout set starts empty.
    node.upperWhiteouts = new Set();
  }
  env.onCopiedUp(node, st, fs.lstatSync(target));
}
