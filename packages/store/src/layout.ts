// The OCI image layout files at the store root: `oci-layout` and
// `index.json`. index.json is read fresh for every lookup (other processes
// change it) and every mutation runs under a cross-process lock and lands
// by temp file + fsync + rename, so a reader sees the old or the new index.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { InvalidInput, isDigest, isErrno } from '@strata/common';
import { withLock } from './lock.ts';
import { MediaType, type ImageIndex } from './types.ts';

export const REF_NAME = 'org.opencontainers.image.ref.name';

/** Creates the layout files and the store's directories if they are missing. */
export function initLayout(root: string): void {
  for (const d of ['blobs/sha256', 'ingest', 'snapshots', 'active', 'gcroots', 'quarantine', 'tmp']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  const layout = path.join(root, 'oci-layout');
  if (!fs.existsSync(layout)) atomicWrite(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = path.join(root, 'index.json');
  if (!fs.existsSync(index)) {
    // A temp name of this process's own: with a shared name, a second process
    // opening the same new store removed the first one's file under it.
    const tmp = `${index}.init-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      const fd = fs.openSync(tmp, 'wx');
      fs.writeSync(fd, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.linkSync(tmp, index); // link, not rename: never replaces an index another process made
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
}

/** Writes `data` to `file` atomically (temp beside it, fsync, rename). */
export function atomicWrite(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Parses and checks an index.json; InvalidInput naming `file` if it is not one. */
export function parseIndex(text: string, file: string): ImageIndex {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (err) {
    throw new InvalidInput(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const idx = j as ImageIndex;
  if (typeof j !== 'object' || j === null || idx.schemaVersion !== 2 || !Array.isArray(idx.manifests)) {
    throw new InvalidInput(`${file}: not an OCI image index (need schemaVersion 2 and a manifests array)`);
  }
  idx.manifests.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || !isDigest(m.digest) || typeof m.size !== 'number' || typeof m.mediaType !== 'string') {
      throw new InvalidInput(`${file}: manifests[${i}] is not a valid descriptor`);
    }
  });
  return idx;
}

export class Layout {
  readonly indexPath: string;
  constructor(readonly root: string) {
    this.indexPath = path.join(root, 'index.json');
  }

  async read(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await fsp.readFile(this.indexPath, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      throw err;
    }
    return parseIndex(text, this.indexPath);
  }

  /** Read-modify-write of index.json under the store's lock. */
  async update<T>(fn: (idx: ImageIndex) => T | Promise<T>): Promise<T> {
    return withLock(this.indexPath + '.lock', async () => {
      const idx = await this.read();
      const out = await fn(idx);
      atomicWrite(this.indexPath, JSON.stringify(idx));
      return out;
    });
  }
}
