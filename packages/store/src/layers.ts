// Layer blobs <-> snapshots: unpack a stored layer into the snapshot of its
// chainID (verifying blob digest and diffID on the way), and make a layer
// blob out of a directory (diff -> diffID hash -> compress -> content store).
import { CHUNK } from './chunk.ts';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { Hash } from 'node:crypto';
import { DigestMismatch, newHash, type Digest } from '@strata/common';
import { applyLayer, type ApplyResult } from './apply.ts';
import { readFileChunks } from './tar-read.ts';
import { compressionOf, compressor, decompressor, layerMediaType, sniffCompression } from './compression.ts';
import { diffDir } from './diff.ts';
import type { FsContentStore } from './content.ts';
import type { FsSnapshotter } from './snapshots.ts';
import type { Compression, Descriptor } from './types.ts';

/** Yields `src`'s chunks, hashing them as they pass. */
export async function* hashing(src: AsyncIterable<Buffer>, h: Hash): AsyncGenerator<Buffer> {
  for await (const c of src) {
    h.update(c);
    yield c;
  }
}

/**
 * Applies an uncompressed layer stream into `dir` and returns the diffID of
 * all of its bytes (including what follows the end-of-archive marker).
 */
export async function applyHashed(tar: AsyncIterable<Buffer>, dir: string, file: string): Promise<ApplyResult & { diffId: Digest }> {
  const h = newHash();
  const gen = hashing(tar, h);
  const res = await applyLayer(gen, dir, file);
  for await (const _ of gen) { /* the rest of the stream counts toward the diffID */ }
  return { ...res, diffId: `sha256:${h.digest('hex')}` };
}

/** A stream's first bytes, without consuming them from the caller's view. */
export async function peekCompression(stream: Readable): Promise<Compression> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      if (chunk === null) return; // wait for more (or 'end')
      cleanup();
      stream.unshift(chunk);
      resolve(sniffCompression(chunk));
    };
    const onEnd = () => { cleanup(); resolve('none'); };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

/**
 * Unpacks the layer blob `desc` into the snapshot `chainId`, checking that
 * its uncompressed bytes hash to `diffId`. The snapshot appears only when
 * complete; on any error nothing is left behind.
 */
export async function unpackLayer(
  content: FsContentStore, snapshots: FsSnapshotter, desc: Descriptor, diffId: Digest, chainId: Digest,
): Promise<string> {
  if (await snapshots.exists(chainId)) return snapshots.dir(chainId);
  const tmp = snapshots.tempDir();
  const file = `layer ${desc.digest}`;
  try {
    const src = content.reader(desc.digest);
    compressionOf(desc.mediaType); // refuses media types that are not layers
    // Trust the bytes over the label: some tools label gzip layers as tar.
    const actual = await peekCompression(src);
    const dec = decompressor(actual);
    const done = pipeline(src, dec);
    done.catch(() => { /* surfaced through dec's iteration or awaited below */ });
    let res;
    try {
      if (actual === 'none') {
        // Uncompressed: blob digest and diffID hash the same bytes, so they
        // are hashed once, read into reused buffers (see readFileChunks).
        src.destroy();
        dec.destroy();
        res = await applyHashed(readFileChunks(content.blobPath(desc.digest)), tmp, file);
        if (res.diffId !== desc.digest) throw new DigestMismatch(`blob ${content.blobPath(desc.digest)}`, desc.digest, res.diffId);
      } else {
        res = await applyHashed(dec, tmp, file);
      }
      if (actual !== 'none') await done;
    } catch (err) {
      src.destroy();
      dec.destroy();
      throw err;
    }
    if (res.diffId !== diffId) throw new DigestMismatch(`${file}: uncompressed content (diffID)`, diffId, res.diffId);
    return await snapshots.install(tmp, chainId);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Counts bytes passing through. */
export function counting(onBytes: (n: number) => void): Transform {
  return new Transform({
    highWaterMark: CHUNK,
    transform(c: Buffer, _e, cb) { onBytes(c.length); cb(null, c); },
  });
}

/**
 * Tars `dir` (overlay -> aufs whiteouts), compresses it and stores the blob.
 * Returns the layer descriptor and its diffID.
 */
export async function storeDiff(content: FsContentStore, dir: string, compression: Compression): Promise<{ descriptor: Descriptor; diffId: Digest }> {
  const h = newHash();
  const w = await content.writer();
  try {
    await pipeline(diffDir(dir), new Transform({
      highWaterMark: CHUNK,
      transform(c: Buffer, _e, cb) { h.update(c); cb(null, c); },
    }), compressor(compression), w);
  } catch (err) {
    await w.abort();
    throw err;
  }
  const info = await w.commit();
  return {
    descriptor: { mediaType: layerMediaType(compression), digest: info.digest, size: info.size },
    diffId: `sha256:${h.digest('hex')}`,
  };
}
