// Test helpers: temp dirs removed after the test, and a small tar builder
// for hand-made (often hostile) layers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { lgetxattr } from '@strata/native';
import { encodeHeader, padding, type TarHeader } from '../src/tar-header.ts';

/** A temp dir under os.tmpdir(), removed when the test ends (pass or fail). */
export function tmpDir(t: ExecutionContext, prefix = 'strata-store-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export type EntrySpec = Partial<TarHeader> & { name: string; data?: string | Buffer };

/** A tar archive (as bytes) of `entries`, in order, with the end-of-archive blocks. */
export function makeTar(entries: EntrySpec[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const h: TarHeader = {
      type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeSec: 1_700_000_000, mtimeNsec: 0, linkname: '',
      devmajor: 0, devminor: 0, xattrs: new Map(), ...e, size: (e.type ?? 'file') === 'file' ? data.length : 0,
    };
    parts.push(encodeHeader(h));
    if (h.type === 'file') parts.push(data, Buffer.alloc(padding(data.length)));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Yields a buffer in chunks (as a stream would). */
export async function* chunks(buf: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export interface Snap { type: string; mode: number; uid: number; gid: number; mtimeNs: bigint; rdev: bigint; size: bigint; link?: string; sha?: string; xattrs: Record<string, string> }

/** Everything about a tree that a layer must preserve (not atime/ctime/inode numbers). */
export function snapshot(root: string): Record<string, Snap> {
  const out: Record<string, Snap> = {};
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs, { bigint: true });
      const xattrs: Record<string, string> = {};
      for (const x of ['security.capability', 'user.note', 'trusted.overlay.opaque']) {
        const v = lgetxattr(abs, x);
        if (v) xattrs[x] = v.toString('hex');
      }
      out[r] = {
        type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'fifo',
        mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid),
        mtimeNs: (st.isCharacterDevice() && st.rdev === 0n) ? 0n : st.mtimeNs, rdev: st.rdev, size: st.isDirectory() ? 0n : st.size,
        link: st.isSymbolicLink() ? fs.readlinkSync(abs) : undefined, xattrs,
        sha: st.isFile() ? createHash('sha256').update(fs.readFileSync(abs)).digest('hex') : undefined,
      };
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

