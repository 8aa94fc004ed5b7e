// Layer apply: streams an OCI layer tar (already decompressed) into a
// snapshot directory, turning aufs whiteouts into overlay ones (`.wh.NAME`
// -> character device 0/0 NAME; `.wh..wh..opq` -> trusted.overlay.opaque=y
// on the directory) so kernel overlayfs and the FUSE server mount the
// result as a lowerdir. Every name goes through safe-path; nothing is
// followed through a symlink. Metadata survives: mode (incl. setuid/sticky),
// uid/gid, mtime in nanoseconds, xattrs (SCHILY.xattr.*), device numbers.
//
// Synchronous fs calls are deliberate: one call per syscall with no thread
// pool hop is what makes unpacking small files fast, and the store never
// runs inside a FUSE server's process (DESIGN: no sync calls into a mount
// you serve), so blocking the event loop here blocks only this unpack.
import fs from 'node:fs';
import { StrataError, InvalidInput } from '@strata/common';
import { lsetxattr, lutimesNs, mknod, mkWhiteout } from '@strata/native';
import { badEntry, type TarHeader } from './tar-header.ts';
import { readTar } from './tar-read.ts';
import { SafeTree, cleanEntryName, symlinkStaysInside } from './safe-path.ts';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** xattrs that only overlay/strata may set; a layer must not smuggle them in. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

export interface ApplyResult {
  entries: number;
  /** Bytes of regular-file data written. */
  bytes: number;
}

function removeAny(abs: string, tree: SafeTree, rel: string): void {
  // No throw for the common case (a new name): exceptions cost a stack trace per file.
  const st = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) {
    fs.rmSync(abs, { recursive: true, force: true });
    tree.forget(rel);
  } else fs.unlinkSync(abs);
}

function setMeta(abs: string, h: TarHeader, isLink: boolean): void {
  fs.lchownSync(abs, h.uid, h.gid);
  // chown clears setuid/setgid, so the mode comes after it.
  if (!isLink) fs.chmodSync(abs, h.mode);
  for (const [k, v] of h.xattrs) {
    if (isOverlayXattr(k)) continue;
    try {
      lsetxattr(abs, k, v, 0);
    } catch (err) {
      // SELinux labels from another host are meaningless here (and refused
      // where SELinux is off); every other xattr must land.
      if (k === 'security.selinux') continue;
      throw err;
    }
  }
}

function setTimes(abs: string, h: TarHeader): void {
  lutimesNs(abs, h.mtimeSec, h.mtimeNsec, h.mtimeSec, h.mtimeNsec);
}

/**
 * Unpacks the layer tar `input` into `dir` (which should be empty: a layer
 * is unpacked alone into its own snapshot). `file` names the archive in
 * errors. Throws InvalidInput naming the archive and entry for unsafe or
 * malformed entries; the caller discards `dir` on failure.
 */
export async function applyLayer(input: AsyncIterable<Buffer>, dir: string, file: string): Promise<ApplyResult> {
  const tree = new SafeTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  // Directory mtimes are set last: creating children changes them.
  const dirTimes: Array<[string, TarHeader]> = [];
  let entries = 0;
  let bytes = 0;
  for await (const entry of readTar(input, file)) {
    const h = entry.header;
    entries++;
    const clean = cleanEntryName(h.name);
    if (typeof clean !== 'string') throw badEntry(file, h.name, clean.error);
    const rel = clean;
    try {
      const slash = rel.lastIndexOf('/');
      const base = rel.slice(slash + 1);
      const parentRel = slash === -1 ? '' : rel.slice(0, slash);
      if (base.startsWith('.wh.')) {
        tree.ensureParents(rel);
        if (base === '.wh..wh..opq') {
          lsetxattr(tree.abs(parentRel), 'trusted.overlay.opaque', Buffer.from('y'), 0);
        } else if (!base.startsWith('.wh..wh.')) {
          const hidden = base.slice(4);
          if (hidden === '' || hidden === '.' || hidden === '..') throw new InvalidInput('whiteout of an empty, . or .. name refused');
          const victim = (parentRel ? parentRel + '/' : '') + hidden;
          const abs = tree.abs(victim);
          removeAny(abs, tree, victim);
          mkWhiteout(abs);
        } // other .wh..wh.* names are aufs bookkeeping: nothing to unpack
        continue;
      }
      if (rel === '') {
        if (h.type !== 'dir') throw new InvalidInput('the root entry is not a directory');
        setMeta(dir, h, false);
        dirTimes.push([dir, h]);
        continue;
      }
      tree.ensureParents(rel);
      const abs = tree.abs(rel);
      switch (h.type) {
        case 'dir': {
          const st = fs.lstatSync(abs, { throwIfNoEntry: false });
          const isDir = st?.isDirectory() ?? false;
          if (st && !isDir) fs.unlinkSync(abs);
          if (!isDir) fs.mkdirSync(abs, 0o700);
          tree.known(rel);
          setMeta(abs, h, false);
          dirTimes.push([abs, h]);
          break;
        }
        case 'file': {
          removeAny(abs, tree, rel);
          const fd = fs.openSync(abs, 'wx', 0o600);
          try {
            for await (const chunk of entry.body()) {
              let off = 0;
              while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
              bytes += chunk.length;
            }
          } finally {
            fs.closeSync(fd);
          }
          setMeta(abs, h, false);
          setTimes(abs, h);
          break;
        }
        case 'link': {
          const target = cleanEntryName(h.linkname);
          if (typeof target !== 'string' || target === '') {
            throw new InvalidInput(`hard link target ${JSON.stringify(h.linkname)} refused: ${typeof target === 'string' ? 'the root' : target.error}`);
          }
          tree.ensureParents(target);
          const absTarget = tree.abs(target);
          let st: fs.Stats;
          try {
            st = fs.lstatSync(absTarget);
          } catch {
            throw new InvalidInput(`hard link target ${JSON.stringify(h.linkname)} does not exist in the layer`);
          }
          if (st.isDirectory()) throw new InvalidInput(`hard link target ${JSON.stringify(h.linkname)} is a directory`);
          if (target === rel) break;
          removeAny(abs, tree, rel);
          fs.linkSync(absTarget, abs);
          break;
        }
        case 'symlink': {
          if (!symlinkStaysInside(rel, h.linkname)) {
            throw new InvalidInput(`symlink target ${JSON.stringify(h.linkname)} points out of the layer`);
          }
          removeAny(abs, tree, rel);
          fs.symlinkSync(h.linkname, abs);
          setMeta(abs, h, true);
          setTimes(abs, h);
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          removeAny(abs, tree, rel);
          const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
          mknod(abs, kind | (h.mode & 0o7777), h.devmajor, h.devminor);
          setMeta(abs, h, false);
          setTimes(abs, h);
          break;
        }
      }
    } catch (err) {
      if (err instanceof InvalidInput && err.message.startsWith(file)) throw err;
      if (err instanceof InvalidInput) throw badEntry(file, h.name, err.message);
      if (err instanceof StrataError) throw err;
      const msg = (err as Error).message;
      // A parent that is a symlink or a file is the layer's fault, not the disk's.
      if (/^parent /.test(msg)) throw badEntry(file, h.name, msg);
      throw new StrataError(`${file}: entry ${JSON.stringify(h.name)}: ${msg}`, { cause: err });
    }
  }
  for (let i = dirTimes.length - 1; i >= 0; i--) setTimes(dirTimes[i]![0], dirTimes[i]![1]);
  return { entries, bytes };
}
