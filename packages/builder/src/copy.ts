// COPY and ADD into an upper directory, with Docker's destination rules: a
// destination ending in "/" (or several sources, or an existing directory)
// is a directory to copy into; otherwise it is the name of the copy. A
// directory source copies its contents. Symlinks inside a copied directory
// stay symlinks; hardlinked sources stay hardlinked; modes (suid etc.) are
// kept; owners are root (context) or kept (--from) unless --chown;
// --chmod applies to everything copied. Missing parents are made 0755 root.
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidInput, ProcessFailed, run } from '@strata/common';
import { mknod } from '@strata/native';
import type { SourceView, Found } from './rootfs-view.ts';
import { walk, type Selected } from './sources.ts';
import { UpperWriter, lstatOrNull, makeDir } from './upper-writer.ts';

export interface CopyOptions {
  /** "Dockerfile:7: COPY" for messages. */
  what: string;
  chown?: { uid: number; gid: number };
  chmod?: number;
  /** Keep the sources' owners (COPY --from); the context's are replaced by root. */
  keepOwner: boolean;
  /** ADD: extract local tar archives. */
  extract: boolean;
  /** Scratch directory on the upper dir's filesystem (archive staging). */
  scratchDir: string;
}

/** Copies `selected` from `view` to `dest` (in-root, absolute, trailing "/" kept). */
export async function copyInto(w: UpperWriter, view: SourceView, selected: readonly Selected[], dest: string, opts: CopyOptions): Promise<void> {
  const trailingSlash = dest.endsWith('/') || dest.endsWith('/.') || dest === '.';
  const destResolved = await w.resolve(dest, true);
  const destIsDir = trailingSlash || selected.length > 1 || (await w.isDir(destResolved));
  if (selected.length > 1 && !trailingSlash && !(await w.isDir(destResolved))) {
    throw new InvalidInput(`${opts.what}: when copying more than one source, the destination must be a directory and end with a / (${dest})`);
  }
  const links = new Map<string, string>();
  const dirMeta = { mode: 0o755, uid: opts.chown?.uid ?? 0, gid: opts.chown?.gid ?? 0 };
  for (const s of selected) {
    const st = s.found.stat;
    if (st.isDirectory()) {
      await ensureTopDir(w, destResolved, dirMeta);
      await copyTree(w, view, s.resolved, destResolved, opts, links);
    } else if (opts.extract && st.isFile() && (await archiveKind(s.found.hostPath)) !== null) {
      await ensureTopDir(w, destResolved, dirMeta);
      await extractArchive(w, s.found.hostPath, destResolved, opts);
    } else {
      let target: string;
      if (destIsDir) {
        await ensureTopDir(w, destResolved, dirMeta);
        target = path.posix.join(destResolved, path.posix.basename(s.path));
      } else {
        target = await w.resolve(dest, false);
        await w.ensureDir(path.posix.dirname(target));
      }
      await copyEntry(w, s.found, target, opts, links);
    }
  }
}

/** Makes the destination directory; a new one gets --chown's owner. */
async function ensureTopDir(w: UpperWriter, dir: string, meta: { mode: number; uid: number; gid: number }): Promise<string[]> {
  const parent = path.posix.dirname(dir);
  const made = await w.ensureDir(parent);
  made.push(...(await w.ensureDir(dir, meta)));
  return made;
}

async function copyTree(w: UpperWriter, view: SourceView, srcDir: string, destDir: string, opts: CopyOptions, links: Map<string, string>): Promise<void> {
  await walk(view, srcDir, async (p, f, excluded) => {
    const target = path.posix.join(destDir, path.posix.relative(srcDir, p));
    if (excluded) {
      // An excluded directory walked for re-included entries: create it only as a parent.
      return true;
    }
    await w.ensureDir(path.posix.dirname(target));
    await copyEntry(w, f, target, opts, links);
    return true;
  });
}

function ownerOf(f: Found, opts: CopyOptions): { uid: number; gid: number } {
  if (opts.chown) return opts.chown;
  return opts.keepOwner ? { uid: f.stat.uid, gid: f.stat.gid } : { uid: 0, gid: 0 };
}

/** Writes one entry at in-root `target` (parents exist, target symlink-free except its last part). */
async function copyEntry(w: UpperWriter, f: Found, target: string, opts: CopyOptions, links: Map<string, string>): Promise<void> {
  const st = f.stat;
  const hp = w.host(target);
  const { uid, gid } = ownerOf(f, opts);
  const mode = opts.chmod ?? (st.mode & 0o7777);
  if (st.isDirectory()) {
    const keep = await w.clear(target, true);
    if (!keep) await fs.mkdir(hp);
    await fs.lchown(hp, uid, gid);
    await fs.chmod(hp, mode);
    await fs.utimes(hp, st.atime, st.mtime);
    return;
  }
  await w.clear(target, false);
  const inode = `${st.dev}:${st.ino}`;
  if (st.nlink > 1 && !st.isDirectory()) {
    const first = links.get(inode);
    if (first) {
      await fs.link(first, hp);
      return;
    }
    links.set(inode, hp);
  }
  if (st.isSymbolicLink()) {
    await fs.symlink(await fs.readlink(f.hostPath), hp);
    await fs.lchown(hp, uid, gid);
    return;
  }
  if (st.isFile()) {
    await fs.copyFile(f.hostPath, hp, fs.constants.COPYFILE_FICLONE);
  } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = st.rdev;
    mknod(hp, (st.mode & 0o170000) | mode, (rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00));
  } else {
    return; // sockets are not copied, as in Docker
  }
  await fs.lchown(hp, uid, gid);
  await fs.chmod(hp, mode);
  await fs.utimes(hp, st.atime, st.mtime);
}

/** Recognises a local tar archive by its first bytes: the decompressor to use, or null. */
export async function archiveKind(hostPath: string): Promise<'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd' | null> {
  const fh = await fs.open(hostPath, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    const b = buf.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return null;
  } finally {
    await fh.close();
  }
}

const TAR_FLAG = { tar: [], gzip: ['-z'], bzip2: ['-j'], xz: ['-J'], zstd: ['--zstd'] } as const;

/**
 * ADD of a local archive: extract into a staging directory beside the upper
 * dir (GNU tar keeps owners, modes, hardlinks, fifos and refuses paths that
 * leave the directory), apply --chown, then move the entries into place,
 * merging with directories that already exist.
 */
async function extractArchive(w: UpperWriter, hostPath: string, destDir: string, opts: CopyOptions): Promise<void> {
  const kind = (await archiveKind(hostPath))!;
  await fs.mkdir(opts.scratchDir, { recursive: true });
  const staging = await fs.mkdtemp(path.join(opts.scratchDir, 'add-'));
  try {
    try {
      await run('tar', ['-x', ...TAR_FLAG[kind], '-f', hostPath, '-C', staging, '--numeric-owner', '--same-owner', '--same-permissions', '--no-overwrite-dir']);
    } catch (err) {
      if (err instanceof ProcessFailed) throw new InvalidInput(`${opts.what}: cannot extract ${path.basename(hostPath)}: ${err.message}`);
      throw err;
    }
    if (opts.chown) await chownTree(staging, opts.chown);
    await mergeInto(w, staging, destDir);
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

async function chownTree(dir: string, ids: { uid: number; gid: number }): Promise<void> {
  for (const n of await fs.readdir(dir)) {
    const p = path.join(dir, n);
    const st = await fs.lstat(p);
    const mode = st.mode & 0o7777;
    await fs.lchown(p, ids.uid, ids.gid);
    // chown clears suid/sgid; put them back as the archive had them.
    if (!st.isSymbolicLink()) await fs.chmod(p, mode);
    if (st.isDirectory()) await chownTree(p, ids);
  }
}

async function mergeInto(w: UpperWriter, stagingDir: string, destDir: string): Promise<void> {
  for (const n of await fs.readdir(stagingDir)) {
    const from = path.join(stagingDir, n);
    const target = path.posix.join(destDir, n);
    const hp = w.host(target);
    const st = await fs.lstat(from);
    const existing = await lstatOrNull(hp);
    if (st.isDirectory() && existing?.isDirectory()) {
      await mergeInto(w, from, target);
      await fs.lchown(hp, st.uid, st.gid);
      await fs.chmod(hp, st.mode & 0o7777);
      continue;
    }
    if (existing) await fs.rm(hp, { recursive: true, force: true });
    await fs.rename(from, hp);
  }
}

export { makeDir };
