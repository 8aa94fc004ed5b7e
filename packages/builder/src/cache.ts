// The build cache: one JSON record per instruction key under <root>/cache/,
// holding what a hit must reproduce exactly (the history `created` time, so
// an unchanged rebuild yields the same image digest, and the layer made, if
// any). A record with a layer is also a gc root "cache-<key>" in the store,
// so `strata gc` keeps its blob and snapshot and `strata gc --prune-cache`
// lets them go; a record whose layer has gone is a miss. Records are written
// with temp file + rename, so concurrent builds sharing a store never see
// half a record (the last writer of a key wins, and both are valid).
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { hexOf, isErrno, sha256, type Digest } from '@strata/common';
import type { Descriptor, Store } from '@strata/store';

export interface LayerRecord {
  descriptor: Descriptor;
  diffId: Digest;
  chainId: Digest;
}

export interface CacheRecord {
  key: Digest;
  created: string;
  createdBy: string;
  /** Absent for steps that change only the config or changed no file. */
  layer?: LayerRecord;
}

/** Hashes the parts of a cache key (any JSON value) into a key. */
export function cacheKey(parts: unknown): Digest {
  return sha256(JSON.stringify(parts));
}

export class BuildCache {
  readonly dir: string;
  constructor(private readonly store: Store) {
    this.dir = path.join(store.root, 'cache');
  }

  private file(key: Digest): string {
    return path.join(this.dir, `${hexOf(key)}.json`);
  }

  /** The record for `key` whose layer is still in the store, else null. */
  async get(key: Digest): Promise<CacheRecord | null> {
    let rec: CacheRecord;
    try {
      rec = JSON.parse(await fs.readFile(this.file(key), 'utf8')) as CacheRecord;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return null;
      throw err;
    }
    if (rec.key !== key) return null;
    if (rec.layer && !(await this.store.content.has(rec.layer.descriptor.digest))) return null;
    return rec;
  }

  /** Stores a record (and its gc root when it has a layer). */
  async put(rec: CacheRecord): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    if (rec.layer) {
      await this.store.setRoot(`cache-${hexOf(rec.key)}`, { blobs: [rec.layer.descriptor.digest], chainIds: [rec.layer.chainId] });
    }
    const tmp = `${this.file(rec.key)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(rec));
    await fs.rename(tmp, this.file(rec.key));
  }

  /** Remembers which history entries of image `manifest` this build took from the cache. */
  async putBuildInfo(manifest: Digest, steps: Array<{ index: number; cached: boolean }>): Promise<void> {
    const dir = path.join(this.dir, 'builds');
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${hexOf(manifest)}.json`);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, JSON.stringify({ steps }));
    await fs.rename(tmp, file);
  }

  /** What putBuildInfo stored for `manifest`, or null. */
  async buildInfo(manifest: Digest): Promise<Array<{ index: number; cached: boolean }> | null> {
    try {
      return (JSON.parse(await fs.readFile(path.join(this.dir, 'builds', `${hexOf(manifest)}.json`), 'utf8')) as { steps: Array<{ index: number; cached: boolean }> }).steps;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return null;
      throw err;
    }
  }
}
