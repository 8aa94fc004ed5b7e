// The fuse-native transport: carries FUSE requests (libfuse 2 high-level,
// path based) to the overlay engine and its replies back. Each request hops
// from a FUSE thread to this JavaScript thread; metadata operations run
// synchronously here (fewer hops than fs callbacks), data goes to the fd
// opened at open() through the libuv pool.
import fs from 'node:fs';
import Fuse from 'fuse-native';
import { toErrno } from '../core/errno.ts';
import type { Caller, Overlay } from '../core/overlay.ts';
import { OpStats } from './stats.ts';

export interface TransportOptions {
  readOnly?: boolean;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  dev?: boolean;
  suid?: boolean;
  noatime?: boolean;
  /** Seconds the kernel may cache attributes (default 0: hard links have separate kernel inodes here). */
  attrTimeout?: number;
  /** Seconds the kernel may cache names and negative lookups (default 1). */
  entryTimeout?: number;
  /** Called once the kernel has unmounted the filesystem (by anyone). */
  onUnmounted?: () => void;
  /** Native transport: pass lower-layer files through too (default true; see ParsedMountOptions.lowerPassthrough). */
  lowerPassthrough?: boolean;
  /** Native transport: the directory whose file keeps lower directories' names between mounts (fuse/dircache.ts); undefined: none. */
  dirCache?: string;
}

export interface FuseServer {
  readonly stats: OpStats;
  /** Unmounts (lazily if busy); resolves when the kernel let go. */
  unmount(): Promise<void>;
}

type Done = (res: number, ...rest: unknown[]) => void;

/**
 * The flags a host file is opened with for a program's open through this
 * transport: O_DIRECT dropped. Reads and writes reach the engine in
 * Node's Buffers, which are not page aligned, and the host file system
 * refuses unaligned O_DIRECT transfers (EINVAL: `dd iflag=direct`
 * failed). The kernel still sends such a program's reads and writes on
 * without its page cache; the host's page cache serves them here.
 */
function hostFlags(flags: number): number {
  return flags & ~fs.constants.O_DIRECT;
}

/** Mounts `overlay` at `mountpoint`; resolves once the kernel has sent INIT (the mount is usable). */
export function serveFuse(overlay: Overlay, mountpoint: string, opts: TransportOptions): Promise<FuseServer> {
  const stats = new OpStats();
  let fuse: Fuse;
  const caller = (): Caller => ({ uid: fuse.context[0], gid: fuse.context[1] });

  // Wraps a synchronous engine call: result via cb(0, value) or cb(-errno).
  const sync = (name: string, fn: (...a: never[]) => unknown, withValue = false) =>
    (...args: unknown[]) => {
      const cb = args.pop() as Done;
      const t0 = process.hrtime.bigint();
      let value: unknown;
      try {
        value = (fn as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        stats.record(name, t0, true);
        return cb(toErrno(err));
      }
      stats.record(name, t0, false);
      return withValue ? cb(0, value) : cb(0);
    };

  const ops = {
    init: (cb: Done) => cb(0),
    getattr: sync('getattr', (p: string) => overlay.getattr(p), true),
    fgetattr: sync('fgetattr', (p: string, fh: number) => overlay.fgetattr(fh, p), true),
    statfs: (p: string, cb: Done) => {
      const t0 = process.hrtime.bigint();
      try {
        const s = overlay.statfs();
        stats.record('statfs', t0, false);
        cb(0, { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: 0, namemax: 255 });
      } catch (err) {
        stats.record('statfs', t0, true);
        cb(toErrno(err));
      }
    },
    readdir: (p: string, cb: Done) => {
      const t0 = process.hrtime.bigint();
      try {
        const entries = overlay.readdir(p);
        const names: string[] = [];
        const sts: Float64Array[] = [];
        for (const e of entries) {
          names.push(e.name);
          const st = new Float64Array(16);
          st[0] = e.type;
          st[5] = 1;
          st[6] = e.ino || 0xffffffff; // FUSE_UNKNOWN_INO until the entry is looked up
          sts.push(st);
        }
        stats.record('readdir', t0, false);
        cb(0, names, sts);
      } catch (err) {
        stats.record('readdir', t0, true);
        cb(toErrno(err));
      }
    },
    readlink: sync('readlink', (p: string) => overlay.readlink(p), true),
    open: sync('open', (p: string, flags: number) => overlay.open(p, hostFlags(flags)), true),
    create: (p: string, mode: number, flags: number, cb: Done) => {
      const t0 = process.hrtime.bigint();
      try {
        const fh = overlay.create(p, mode, hostFlags(flags), caller());
        stats.record('create', t0, false);
        cb(0, fh);
      } catch (err) {
        stats.record('create', t0, true);
        cb(toErrno(err));
      }
    },
    read: (_p: string, fh: number, buf: Buffer, len: number, pos: number, cb: Done) => {
      const t0 = process.hrtime.bigint();
      let fd: number;
      try {
        fd = overlay.fd(fh);
      } catch (err) {
        return cb(toErrno(err));
      }
      fs.read(fd, buf, 0, len, pos, (err, n) => {
        stats.record('read', t0, !!err);
        cb(err ? toErrno(err) : n);
      });
    },
    write: (_p: string, fh: number, buf: Buffer, len: number, pos: number, cb: Done) => {
      const t0 = process.hrtime.bigint();
      let fd: number;
      try {
        fd = overlay.fd(fh);
      } catch (err) {
        return cb(toErrno(err));
      }
      fs.write(fd, buf, 0, len, pos, (err, n) => {
        stats.record('write', t0, !!err);
        cb(err ? toErrno(err) : n);
      });
    },
    release: sync('release', (_p: string, fh: number) => overlay.release(fh)),
    flush: (_p: string, _fh: number, cb: Done) => cb(0),
    fsync: sync('fsync', (_p: string, datasync: number, fh: number) => overlay.fsync(fh, !!datasync)),
    fsyncdir: (_p: string, _d: number, _fh: number, cb: Done) => cb(0),
    truncate: sync('truncate', (p: string, size: number) => overlay.truncate(p, size)),
    ftruncate: sync('ftruncate', (p: string, fh: number, size: number) => overlay.ftruncate(fh, p, size)),
    utimens: sync('utimens', (p: string, a: [number, number], m: [number, number]) => overlay.utimens(p, a, m)),
    chmod: sync('chmod', (p: string, mode: number) => overlay.chmod(p, mode)),
    chown: sync('chown', (p: string, uid: number, gid: number) => overlay.chown(p, uid, gid)),
    mknod: (p: string, mode: number, dev: number, cb: Done) => sync('mknod', () => overlay.mknod(p, mode, dev, caller()))(cb),
    mkdir: (p: string, mode: number, cb: Done) => sync('mkdir', () => overlay.mkdir(p, mode, caller()))(cb),
    symlink: (target: string, p: string, cb: Done) => sync('symlink', () => overlay.symlink(target, p, caller()))(cb),
    link: sync('link', (from: string, to: string) => overlay.link(from, to)),
    unlink: sync('unlink', (p: string) => overlay.unlink(p)),
    rmdir: sync('rmdir', (p: string) => overlay.rmdir(p)),
    rename: sync('rename', (from: string, to: string) => overlay.rename(from, to)),
    setxattr: sync('setxattr', (p: string, name: string, value: Buffer, _pos: number, flags: number) => overlay.setxattr(p, name, Buffer.from(value), flags)),
    getxattr: (p: string, name: string, _pos: number, cb: Done) => {
      const t0 = process.hrtime.bigint();
      try {
        const v = overlay.getxattr(p, name);
        stats.record('getxattr', t0, false);
        cb(0, v);
      } catch (err) {
        stats.record('getxattr', t0, true);
        cb(toErrno(err));
      }
    },
    listxattr: sync('listxattr', (p: string) => overlay.listxattr(p), true),
    removexattr: sync('removexattr', (p: string, name: string) => overlay.removexattr(p, name)),
  };

  fuse = new Fuse(mountpoint, ops as unknown as Record<string, (...args: never[]) => void>, {
    fsname: 'strata',
    subtype: 'strata',
    timeout: false,
    useIno: true,
    hardRemove: true,
    bigWrites: true,
    maxWrite: 131072,
    maxRead: 131072,
    // libfuse 2's high-level API gives each name its own kernel inode, so
    // hard links do not share the kernel's attribute or page cache: attributes
    // are not cached (a chmod through one name shows through the other at
    // once) and cached data is kept across opens only while the file's mtime
    // and size are unchanged (auto_cache); lower files never change, so their
    // pages stay cached as with kernel_cache.
    autoCache: true,
    entryTimeout: opts.entryTimeout ?? 1,
    attrTimeout: opts.attrTimeout ?? 0,
    negativeTimeout: opts.entryTimeout ?? 1,
    allowOther: opts.allowOther,
    defaultPermissions: opts.defaultPermissions,
    ro: opts.readOnly,
    dev: opts.dev,
    suid: opts.suid,
    noatime: opts.noatime,
    onUnmounted: opts.onUnmounted,
  });

  return new Promise((resolve, reject) => {
    fuse.mount((err) => {
      if (err) return reject(err);
      resolve({
        stats,
        unmount: () =>
          new Promise<void>((res, rej) => fuse.unmount((e) => (e ? rej(e) : res()))),
      });
    });
  });
}
