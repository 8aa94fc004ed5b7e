// Layer diff: streams an overlay upper (or snapshot) directory as an OCI
// layer tar, turning overlay whiteouts into aufs ones (char device 0/0 NAME
// -> empty file `.wh.NAME`; a directory with trusted.overlay.opaque=y or
// user.overlay.opaque=y -> `DIR/.wh..wh..opq`). The output is reproducible:
// entries sorted by name, headers normalised (no atime/ctime, empty
// uname/gname, whiteouts with zero metadata), so the same tree always gives
// the same diffID, which the builder's cache relies on. Overlay's own xattrs
// are not emitted. Second and later names of a hard-linked file become tar
// hard-link entries.
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { lgetxattr, llistxattr } from '@strata/native';
import { encodeHeader, padding, type EntryType, type TarHeader } from './tar-header.ts';
import { isOverlayXattr } from './apply.ts';

const ZERO_BLOCKS = Buffer.alloc(1024);
/** Files up to this size are read whole, synchronously (see dirEntries). */
const SMALL_FILE = 256 * 1024;

function isOpaque(abs: string): boolean {
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) {
    const v = lgetxattr(abs, name);
    if (v && v.toString() === 'y') return true;
  }
  return false;
}

function xattrsOf(abs: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = llistxattr(abs);
  } catch {
    return out; // filesystems without xattr support
  }
  for (const n of names.sort()) {
    if (isOverlayXattr(n)) continue;
    const v = lgetxattr(abs, n);
    if (v) out.set(n, v);
  }
  return out;
}

function typeOf(st: fs.BigIntStats): EntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not archived (tar and docker skip them too)
}

async function* walk(root: string): AsyncGenerator<Buffer> {
  const links = new Map<string, string>(); // dev:ino -> first name
  const header = (name: string, st: fs.BigIntStats, type: EntryType, extra: Partial<TarHeader> = {}): TarHeader => ({
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: Number(st.mtimeNs % 1_000_000_000n),
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    ...extra,
  });
  const whiteout = (name: string): TarHeader => ({
    name, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtimeSec: 0, mtimeNsec: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(),
  });

  async function* dirEntries(rel: string): AsyncGenerator<Buffer> {
    const absDir = rel ? path.join(root, rel) : root;
    // Sync calls for the metadata and small files: a RUN's upper dir is often
    // many small files, and three thread-pool round trips per file (open,
    // read, close) cost more than the reads themselves.
    const names = fs.readdirSync(absDir).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = path.join(absDir, n);
      const st = fs.lstatSync(abs, { bigint: true });
      const type = typeOf(st);
      if (type === null) continue;
      if (type === 'char' && st.rdev === 0n) {
        yield encodeHeader(whiteout(rel ? `${rel}/.wh.${n}` : `.wh.${n}`));
        continue;
      }
      const xattrs = xattrsOf(abs);
      if (type === 'dir') {
        yield encodeHeader(header(r, st, 'dir', { xattrs }));
        if (isOpaque(abs)) yield encodeHeader(whiteout(`${r}/.wh..wh..opq`));
        yield* dirEntries(r);
        continue;
      }
      if (type === 'symlink') {
        yield encodeHeader(header(r, st, 'symlink', { linkname: fs.readlinkSync(abs), xattrs }));
        continue;
      }
      if (type !== 'file') {
        const rdev = Number(st.rdev);
        // Linux dev_t: major in bits 8-19 (+ high bits), minor in 0-7 and 20-31.
        const devmajor = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
        const devminor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
        yield encodeHeader(header(r, st, type, { devmajor, devminor, xattrs }));
        continue;
      }
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          yield encodeHeader(header(r, st, 'link', { linkname: first, xattrs: new Map() }));
          continue;
        }
        links.set(key, r);
      }
      const size = Number(st.size);
      yield encodeHeader(header(r, st, 'file', { size, xattrs }));
      if (size <= SMALL_FILE) {
        const data = size === 0 ? Buffer.alloc(0) : fs.readFileSync(abs);
        if (data.length !== size) throw new Error(`${abs}: file changed size while being archived`);
        if (size) yield data;
        const pad = padding(size);
        if (pad) yield Buffer.alloc(pad);
        continue;
      }
      const fh = await fsp.open(abs, 'r');
      try {
        let left = size;
        while (left > 0) {
          const buf = Buffer.allocUnsafe(Math.min(left, CHUNK));
          const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
          if (bytesRead === 0) throw new Error(`${abs}: file shrank while being archived`);
          left -= bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
      const pad = padding(size);
      if (pad) yield Buffer.alloc(pad);
    }
  }

  yield* dirEntries('');
  yield ZERO_BLOCKS;
}

/**
 * A readable stream of the layer tar of `upperDir`. Entries are relative
 * names without a leading "./", directories first then their sorted
 * contents; the root directory itself is not an entry (its metadata belongs
 * to the image, not to a layer).
 */
export function diffDir(upperDir: string): Readable {
  return Readable.from(coalesce(walk(upperDir)), { objectMode: false, highWaterMark: CHUNK });
}

/**
 * Joins small pieces (512-byte headers, small files, padding) into chunks of
 * about CHUNK bytes: every chunk costs a trip through each stream of the
 * commit pipeline (hash, compressor, writer), so a tree of many small files
 * would otherwise spend its time in stream bookkeeping.
 */
async function* coalesce(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let bytes = 0;
  for await (const p of pieces) {
    if (p.length >= CHUNK && bytes === 0) {
      yield p;
      continue;
    }
    held.push(p);
    bytes += p.length;
    if (bytes >= CHUNK) {
      yield Buffer.concat(held, bytes);
      held = [];
      bytes = 0;
    }
  }
  if (bytes) yield Buffer.concat(held, bytes);
}
