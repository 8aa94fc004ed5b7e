// The content store over <root>/blobs/sha256/. Blobs enter only through a
// writer that streams into <root>/ingest/, hashes what it writes, fsyncs,
// and renames into place after commit() verified size and digest: rename is
// atomic on one filesystem, so a crash leaves either no blob or a whole one,
// and two writers of the same blob both succeed (the second rename replaces
// identical bytes). Readers verify the digest as they stream.
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform, Writable, type Readable } from 'node:stream';
import { DigestMismatch, InvalidInput, NotFound, hexOf, isDigest, isErrno, newHash, parseDigest, type Digest } from '@strata/common';
import type { BlobInfo, BlobWriter, ContentStore, Descriptor } from './types.ts';

/** Bytes between background writeback kicks. */
const FLUSH_EVERY = 32 << 20;

/** The content store's BlobWriter. */
export class IngestWriter extends Writable implements BlobWriter {
  private readonly hash = newHash();
  private written = 0;
  private fdClosed = false;
  private syncedAt = 0;
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly store: FsContentStore,
    private readonly tmp: string,
    private readonly fd: number,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.hash.update(chunk);
    this.written += chunk.length;
    fs.write(this.fd, chunk, 0, chunk.length, null, (err) => { this.flushBehind(); cb(err); });
  }

  /**
   * Appends `chunk` synchronously, bypassing the stream (for callers that
   * reuse their buffers: the bytes are written and hashed before this
   * returns). Don't mix with write() on the same writer.
   */
  appendSync(chunk: Buffer): void {
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
    this.written += chunk.length;
    this.flushBehind();
  }

  /**
   * Starts writeback of what is written so far while writing goes on, so the
   * fsync in commit() waits only for the tail: for a large layer this
   * overlaps the disk flush with the unpacking instead of serialising them.
   */
  private flushBehind(): void {
    if (this.syncing || this.fdClosed || this.written - this.syncedAt < FLUSH_EVERY) return;
    const upto = this.written;
    this.syncing = new Promise<void>((resolve) => {
      fs.fdatasync(this.fd, () => { this.syncedAt = upto; this.syncing = null; resolve(); });
    });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    for (const b of bufs) { this.hash.update(b); this.written += b.length; }
    fs.writev(this.fd, bufs, (err) => { this.flushBehind(); cb(err); });
  }

  private async finished(): Promise<void> {
    if (this.writableFinished) return;
    await new Promise<void>((resolve, reject) => {
      if (this.errored) { reject(this.errored); return; }
      this.once('finish', resolve);
      this.once('error', reject);
      if (!this.writableEnded) this.end();
    });
  }

  async commit(size?: number, expected?: Digest): Promise<BlobInfo> {
    try {
      await this.finished();
      const digest: Digest = `sha256:${this.hash.digest('hex')}`;
      if (size !== undefined && size !== this.written) {
        throw new InvalidInput(`blob ${expected ?? digest}: size mismatch: expected ${size} bytes, got ${this.written}`);
      }
      if (expected !== undefined && expected !== digest) throw new DigestMismatch(`blob of ${this.written} bytes`, expected, digest);
      if (this.syncing) await this.syncing;
      const final = this.store.blobPath(digest);
      if (fs.existsSync(final)) {
        await this.discard();
        return { digest, size: this.written };
      }
      await new Promise<void>((res, rej) => fs.fsync(this.fd, (e) => (e ? rej(e) : res())));
      this.closeFd();
      await fsp.rename(this.tmp, final);
      this.store.syncBlobsDir();
      return { digest, size: this.written };
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  private closeFd(): void {
    if (!this.fdClosed) { this.fdClosed = true; fs.closeSync(this.fd); }
  }

  private async discard(): Promise<void> {
    if (this.syncing) await this.syncing;
    this.closeFd();
    await fsp.rm(this.tmp, { force: true });
  }

  async abort(): Promise<void> {
    if (!this.writableFinished && !this.destroyed) this.destroy();
    await this.discard();
  }
}

/** Verifies a stream of blob bytes against `digest` as it passes through. */
export function verifying(digest: Digest, what: string): Transform {
  const h = newHash();
  return new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Buffer, _e, cb) { h.update(chunk); cb(null, chunk); },
    flush(cb) {
      const got: Digest = `sha256:${h.digest('hex')}`;
      cb(got === digest ? null : new DigestMismatch(what, digest, got));
    },
  });
}

export class FsContentStore implements ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** fsync of blobs/sha256 so a committed blob's name survives a crash too. */
  syncBlobsDir(): void {
    const fd = fs.openSync(this.blobsDir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  }

  blobPath(digest: Digest): string {
    parseDigest(digest);
    return path.join(this.blobsDir, hexOf(digest));
  }

  async info(digest: Digest): Promise<BlobInfo> {
    try {
      const st = await fsp.stat(this.blobPath(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFound(`blob ${digest} not found in ${this.root}`);
      throw err;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return fs.existsSync(this.blobPath(digest));
  }

  reader(digest: Digest): Readable {
    const p = this.blobPath(digest);
    const src = fs.createReadStream(p, { highWaterMark: CHUNK });
    const v = verifying(digest, `blob ${p}`);
    src.on('error', (err) => v.destroy(isErrno(err, 'ENOENT') ? new NotFound(`blob ${digest} not found in ${this.root}`) : err));
    return src.pipe(v);
  }

  async readBlob(digest: Digest): Promise<Buffer> {
    const p = this.blobPath(digest);
    let data: Buffer;
    try {
      data = await fsp.readFile(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFound(`blob ${digest} not found in ${this.root}`);
      throw err;
    }
    const got: Digest = `sha256:${newHash().update(data).digest('hex')}`;
    if (got !== digest) throw new DigestMismatch(`blob ${p}`, digest, got);
    return data;
  }

  async writer(): Promise<IngestWriter> {
    // A random name, not the pid: one process may ingest many blobs at once.
    const tmp = path.join(this.ingestDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const fd = fs.openSync(tmp, 'wx', 0o644);
    return new IngestWriter(this, tmp, fd);
  }

  async writeBlob(data: Buffer | string, mediaType: string): Promise<Descriptor> {
    const w = await this.writer();
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    w.write(buf);
    const info = await w.commit(buf.length);
    return { mediaType, digest: info.digest, size: info.size };
  }

  async *walk(): AsyncIterable<BlobInfo> {
    let names: string[];
    try {
      names = (await fsp.readdir(this.blobsDir)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const n of names) {
      const digest = `sha256:${n}`;
      if (!isDigest(digest)) continue;
      try {
        const st = await fsp.stat(path.join(this.blobsDir, n));
        yield { digest, size: st.size };
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await fsp.unlink(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFound(`blob ${digest} not found in ${this.root}`);
      throw err;
    }
  }
}
