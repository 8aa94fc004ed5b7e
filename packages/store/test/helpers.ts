// Test helpers: temp dirs removed after the test, and a small tar builder
// for hand-made (often hostile) layers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
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
