// fsck: re-hashes every blob and checks that every tagged image has its
// manifest, config and layers. With `repair`, a corrupt blob is moved to
// quarantine/ (kept for inspection, out of the content store), so readers
// get NotFound instead of wrong bytes and a re-import or pull can heal it.
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { hexOf, newHash, type Digest } from '@strata/common';
import type { FsStore } from './store.ts';

export interface FsckProblem {
  kind: 'corrupt' | 'missing' | 'bad-index' | 'bad-image';
  digest?: Digest;
  image?: string;
  message: string;
  /** Where a corrupt blob was moved (with repair). */
  quarantined?: string;
}

export interface FsckResult {
  blobsChecked: number;
  bytesChecked: number;
  problems: FsckProblem[];
}

async function hashFile(file: string): Promise<Digest> {
  const h = newHash();
  for await (const c of fs.createReadStream(file, { highWaterMark: CHUNK })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

export async function fsck(store: FsStore, opts: { repair?: boolean } = {}): Promise<FsckResult> {
  const res: FsckResult = { blobsChecked: 0, bytesChecked: 0, problems: [] };
  for await (const b of store.content.walk()) {
    const file = store.content.blobPath(b.digest);
    const got = await hashFile(file);
    res.blobsChecked++;
    res.bytesChecked += b.size;
    if (got === b.digest) continue;
    const p: FsckProblem = { kind: 'corrupt', digest: b.digest, message: `blob ${file} is corrupt: content hashes to ${got}` };
    if (opts.repair) {
      const dest = path.join(store.root, 'quarantine', `${hexOf(b.digest)}-${Date.now()}`);
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await fsp.rename(file, dest);
      p.quarantined = dest;
    }
    res.problems.push(p);
  }
  let images: Awaited<ReturnType<FsStore['images']>> = [];
  try {
    images = await store.images();
  } catch (err) {
    res.problems.push({ kind: 'bad-index', message: (err as Error).message });
  }
  for (const im of images) {
    try {
      const r = await store.resolve(im.name);
      for (const d of [r.configDescriptor, ...r.manifest.layers]) {
        if (!(await store.content.has(d.digest))) {
          res.problems.push({ kind: 'missing', image: im.name, digest: d.digest, message: `image ${im.name} needs blob ${d.digest}, which is missing` });
        }
      }
    } catch (err) {
      res.problems.push({ kind: 'bad-image', image: im.name, message: `image ${im.name}: ${(err as Error).message}` });
    }
  }
  return res;
}
