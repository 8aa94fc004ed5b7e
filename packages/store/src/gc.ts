// Garbage collection: mark from the tags in index.json and the gc roots
// (gcroots/*.json), then sweep blobs and committed snapshots nothing marks,
// plus leftovers of crashed writers (ingest files and .tmp-* snapshot dirs
// whose process is gone). Runs under the index lock, so tags cannot change
// underneath it. Not safe against a concurrent import that has stored blobs
// but not yet tagged them: run gc when nothing else writes the store.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { chainIds, isDigest, isErrno, type Digest } from '@strata/common';
import { withLock } from './lock.ts';
import type { ImageIndex, Manifest } from './types.ts';
import type { FsStore } from './store.ts';

export interface GcResult {
  removedBlobs: Digest[];
  removedSnapshots: Digest[];
  freedBytes: number;
  prunedRoots: string[];
  leftovers: number;
}

function pidAlive(name: string): boolean {
  const m = /^(?:\.tmp-)?(\d+)-/.exec(name);
  if (!m) return false;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'ESRCH');
  }
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await dirBytes(p);
    else n += (await fsp.lstat(p)).size;
  }
  return n;
}

/** Marks what an image blob (index or manifest) keeps alive; missing blobs are skipped. */
async function markImage(store: FsStore, digest: Digest, blobs: Set<string>, chains: Set<string>, depth = 0): Promise<void> {
  if (blobs.has(digest) && depth > 0) return;
  blobs.add(digest);
  if (depth > 8 || !(await store.content.has(digest))) return;
  let j: Partial<Manifest & ImageIndex>;
  try {
    j = JSON.parse((await store.content.readBlob(digest)).toString('utf8'));
  } catch {
    return; // not JSON: a layer or a corrupt blob; fsck reports those
  }
  if (Array.isArray(j.manifests)) {
    for (const m of j.manifests) if (isDigest(m?.digest)) await markImage(store, m.digest, blobs, chains, depth + 1);
    return;
  }
  if (j.config && Array.isArray(j.layers)) {
    if (isDigest(j.config.digest)) blobs.add(j.config.digest);
    for (const l of j.layers) if (isDigest(l?.digest)) blobs.add(l.digest);
    if (isDigest(j.config.digest) && (await store.content.has(j.config.digest))) {
      try {
        const cfg = JSON.parse((await store.content.readBlob(j.config.digest)).toString('utf8'));
        const ids = (cfg?.rootfs?.diff_ids ?? []).filter(isDigest) as Digest[];
        for (const c of chainIds(ids)) chains.add(c);
      } catch { /* fsck's business */ }
    }
  }
}

/** Collects everything the tags and gc roots keep alive. */
export async function mark(store: FsStore): Promise<{ blobs: Set<string>; chains: Set<string> }> {
  const blobs = new Set<string>();
  const chains = new Set<string>();
  const idx = await store.layout.read();
  for (const m of idx.manifests) await markImage(store, m.digest, blobs, chains);
  for (const [, r] of await store.roots()) {
    for (const b of r.blobs) await markImage(store, b, blobs, chains);
    for (const c of r.chainIds) chains.add(c);
  }
  return { blobs, chains };
}

/** Sweeps unreferenced blobs and snapshots. `pruneCache` first drops gc roots named cache-*. */
export async function gc(store: FsStore, opts: { pruneCache?: boolean; dryRun?: boolean } = {}): Promise<GcResult> {
  return withLock(store.layout.indexPath + '.lock', async () => {
    const res: GcResult = { removedBlobs: [], removedSnapshots: [], freedBytes: 0, prunedRoots: [], leftovers: 0 };
    if (opts.pruneCache) {
      for (const name of (await store.roots()).keys()) {
        if (!name.startsWith('cache-')) continue;
        if (!opts.dryRun) await store.removeRoot(name);
        res.prunedRoots.push(name);
      }
    }
    const live = await mark(store);
    for await (const b of store.content.walk()) {
      if (live.blobs.has(b.digest)) continue;
      if (!opts.dryRun) await store.content.delete(b.digest).catch(() => undefined);
      res.removedBlobs.push(b.digest);
      res.freedBytes += b.size;
    }
    for await (const s of store.snapshots.walk()) {
      if (live.chains.has(s.chainId)) continue;
      res.freedBytes += await dirBytes(s.dir).catch(() => 0);
      if (!opts.dryRun) await fsp.rm(s.dir, { recursive: true, force: true });
      res.removedSnapshots.push(s.chainId);
    }
    // Leftovers of crashed writers: only those whose process is gone.
    for (const [dir, filter] of [
      [store.content.ingestDir, (n: string) => !pidAlive(n)],
      [store.snapshots.snapshotsDir, (n: string) => n.startsWith('.tmp-') && !pidAlive(n)],
      [path.join(store.root, 'tmp'), (n: string) => !pidAlive(n)],
    ] as const) {
      if (!fs.existsSync(dir)) continue;
      for (const n of await fsp.readdir(dir)) {
        if (!filter(n)) continue;
        res.leftovers++;
        if (!opts.dryRun) await fsp.rm(path.join(dir, n), { recursive: true, force: true });
      }
    }
    return res;
  });
}
