// @strata/native: the syscalls Node's fs lacks (see src/syscalls.c).
// Every function is synchronous and throws errors shaped like Node's fs
// errors (.code "ENOENT", .errno negative, .syscall, .path).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface Binding {
  mknod(path: string, mode: number, major: number, minor: number): void;
  renameat2(from: string, to: string, flags: number): void;
  cloneFd(srcFd: number, dstFd: number, length: number): 'ficlone' | 'copy_file_range' | 'sendfile';
  lgetxattr(path: string, name: string): Buffer | null;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  lutimesNs(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  futimesNs(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  dupOnto(fd: number, target: number): void;
  lstatArray(path: string, out: Float64Array): void;
  fstatArray(fd: number, out: Float64Array): void;
  prefetchDirs(paths: string[], statAll?: boolean): void;
  listAhead(mountpoint: string, dirs: string[], inos: number[]): void;
  listAheadSkip(ino: number): void;
  listAheadCancel(): void;
  removeTree(path: string): boolean;
  drainRemovals(timeoutMs: number): number;
  removerWatch(activity: ArrayBuffer): void;
}

const binding = require('./build/Release/strata_native.node') as Binding;

/** renameat2 flags. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** lsetxattr flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** mknod(2). `mode` includes the file type bits (S_IFCHR etc.). */
export const mknod: Binding['mknod'] = binding.mknod;

/** renameat2(2) with RENAME_* flags; 0 behaves as rename(2). */
export const renameat2: Binding['renameat2'] = binding.renameat2;

/**
 * Copies `length` bytes of srcFd into dstFd (both at offset 0) inside the
 * kernel: FICLONE when the filesystem can share extents, else copy_file_range,
 * else sendfile (copy_file_range refuses to cross filesystems since Linux 5.19).
 * dstFd must be empty and writable at offset 0. Returns which one did the work.
 */
export const cloneFd: Binding['cloneFd'] = binding.cloneFd;

/** The value of xattr `name` on the entry itself (no symlink follow), or null if it has none. */
export const lgetxattr: Binding['lgetxattr'] = binding.lgetxattr;
/** Sets xattr `name` on the entry itself; flags XATTR_CREATE / XATTR_REPLACE or 0. */
export const lsetxattr: Binding['lsetxattr'] = binding.lsetxattr;
/** The xattr names on the entry itself. */
export const llistxattr: Binding['llistxattr'] = binding.llistxattr;
/** Removes xattr `name`; throws ENODATA if absent. */
export const lremovexattr: Binding['lremovexattr'] = binding.lremovexattr;
/** utimensat(AT_SYMLINK_NOFOLLOW) with nanosecond precision. */
export const lutimesNs: Binding['lutimesNs'] = binding.lutimesNs;

/**
 * lstat(2) into `out` (a Float64Array of at least 16): mode, uid, gid, size,
 * dev, nlink, ino, rdev, blksize, blocks, then atime, mtime, ctime as (sec,
 * nsec) pairs: the layout a FUSE server replies with, without a Stats object.
 */
export const lstatArray: Binding['lstatArray'] = binding.lstatArray;
/** lutimesNs on an open file (futimens). */
export const futimesNs: Binding['futimesNs'] = binding.futimesNs;
/** dup3(fd, target, O_CLOEXEC): descriptor `target` now names the file `fd` names (its old file is closed). */
export const dupOnto: Binding['dupOnto'] = binding.dupOnto;
/** fstat(2) into `out`, same layout as lstatArray. */
export const fstatArray: Binding['fstatArray'] = binding.fstatArray;
/** Queues absolute host directory paths to be read ahead (their subdirectories stat'ed; with statAll every entry) by background threads (src/prefetch.c): a cache hint, never an error. */
export const prefetchDirs: Binding['prefetchDirs'] = binding.prefetchDirs;
/**
 * Lists directories of the strata mount at absolute `mountpoint` (`dirs`
 * relative to its root, with inode numbers `inos`) through a private clone
 * of the mount, on a background thread, so the kernel gets their entries
 * from READDIRPLUS replies before a walk stats them (src/listahead.c).
 * Returns at once; a hint: nothing is reported back.
 */
export const listAhead: Binding['listAhead'] = binding.listAhead;
/** A walk reached the directory with inode number `ino` before listAhead did: a batch not yet there leaves it out. */
export const listAheadSkip: Binding['listAheadSkip'] = binding.listAheadSkip;
/** The program is removing files, not walking them: every batch queued or under way stops. */
export const listAheadCancel: Binding['listAheadCancel'] = binding.listAheadCancel;
/**
 * Queues an absolute host path to be removed, with everything under it, by a
 * background thread at the lowest CPU priority (src/remover.c): for trees
 * already out of sight. Symbolic links are not followed, other file systems
 * not entered. False if it could not be queued: remove it yourself then.
 */
export const removeTree: Binding['removeTree'] = binding.removeTree;
/** Waits up to `timeoutMs` for every queued removeTree to finish; returns how many are still pending. */
export const drainRemovals: Binding['drainRemovals'] = binding.drainRemovals;
/**
 * Makes removeTree's jobs wait for the FUSE loops to be quiet (50 ms with no
 * request, 2 s at most): `activity` is @strata/native/fusell's activity().
 */
export const removerWatch: Binding['removerWatch'] = binding.removerWatch;

/** Makes an overlay whiteout: a character device 0/0 named `path`. */
export function mkWhiteout(path: string): void {
  binding.mknod(path, 0o020000 | 0o000, 0, 0);
}
