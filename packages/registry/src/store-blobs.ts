// Moving blobs between the store and a registry, for push, pull and the
// remote cache alike.
//   - into the store: every blob is streamed into its own ingest, which
//     hashes it as it is written (one sha256 pass: hashing here too cost a
//     fifth of pull throughput). Only when all downloads of a set finished
//     are they committed, which verifies each; if any fails verification the
//     blobs this call committed are deleted again, so a corrupt blob leaves
//     nothing of the set behind;
//   - out of the store: HEAD first (nothing already there is sent again),
//     then a cross-repository mount if a sibling repository may hold it,
//     then an upload streamed from the store's verifying reader.
import { PassThrough } from 'node:stream';
import { DigestMismatch, type Digest } from '@strata/common';
import { blobExists, fetchBlob, mountBlob, uploadBlob } from './blobs.ts';
import type { RegistryClient } from './client.ts';
import { mapLimit } from './limit.ts';
import { formatBytes, type Progress } from './progress.ts';
import type { BlobWriter, Descriptor, Store } from '@strata/store';

export interface TransferOptions {
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  progress: Progress;
  /** Upload in PATCH chunks of this many bytes (default: one monolithic PUT). */
  chunkSize?: number;
}

/** A small blob already in memory (a config), committed with a fetched set. */
export interface InlineBlob {
  descriptor: Descriptor;
  bytes: Buffer;
}

const short = (d: Digest) => d.slice(7, 19);

/** What happened to each blob of a transfer. */
export interface TransferReport {
  /** Sent over the wire (push) or received (pull). */
  transferred: Digest[];
  /** Already at the destination, skipped. */
  present: Digest[];
  /** Linked from another repository by the registry (push only). */
  mounted: Digest[];
}

function uniq(blobs: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return blobs.filter((b) => (seen.has(b.digest) ? false : (seen.add(b.digest), true)));
}

/**
 * Fetches the blobs the store lacks from `repo`, verifies every one (and
 * the `inline` ones), and keeps them only if all verified. On any failure every ingest is aborted,
 * blobs committed by this call are deleted, and the first error (e.g.
 * DigestMismatch naming the blob and repository) is thrown.
 */
export async function fetchIntoStore(client: RegistryClient, store: Store, repo: string, blobs: Descriptor[], opts: TransferOptions, inline: InlineBlob[] = []): Promise<TransferReport> {
  const report: TransferReport = { transferred: [], present: [], mounted: [] };
  const open: Array<{ w: BlobWriter; d: Descriptor }> = [];
  try {
    await mapLimit(uniq(blobs), opts.concurrency ?? 4, async (d) => {
      const id = short(d.digest);
      opts.progress.start(id, id, d.size);
      if (await store.content.has(d.digest)) {
        report.present.push(d.digest);
        opts.progress.finish(id, 'already present');
        return;
      }
      const w = await store.content.writer();
      open.push({ w, d });
      try {
        await fetchBlob(client, repo, d, w, { verify: false, onBytes: (n) => opts.progress.advance(id, n) });
      } catch (err) {
        opts.progress.finish(id, 'failed');
        throw err;
      }
      opts.progress.finish(id, 'downloaded');
      report.transferred.push(d.digest);
    });
    // In-memory blobs join the same all-or-nothing commit (one fsync round fewer than storing them after).
    for (const { descriptor: d, bytes } of inline) {
      if (await store.content.has(d.digest)) continue;
      const w = await store.content.writer();
      open.push({ w, d });
      await new Promise<void>((resolve, reject) => w.write(bytes, (err) => (err ? reject(err) : resolve())));
    }
  } catch (err) {
    await Promise.all(open.map(({ w }) => w.abort().catch(() => undefined)));
    throw err;
  }
  // Commits run together so their fsyncs overlap instead of queueing.
  const results = await Promise.allSettled(open.map(({ w, d }) => w.commit(d.size, d.digest)));
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) {
    // Undo the good ones: the set is all or nothing.
    await Promise.all(open.map(({ d }, i) => (results[i]!.status === 'fulfilled' ? store.content.delete(d.digest).catch(() => undefined) : undefined)));
    const reason = (results[failed] as PromiseRejectedResult).reason as unknown;
    const d = open[failed]!.d;
    if (reason instanceof DigestMismatch) {
      throw new DigestMismatch(`blob ${d.digest} from ${client.registry}/${repo}`, d.digest, reason.actual);
    }
    throw reason;
  }
  return report;
}

/** Fetches one small blob (a config, a cache index) into memory, verified. */
export async function fetchSmallBlob(client: RegistryClient, repo: string, d: Descriptor, limit = 16 << 20): Promise<Buffer> {
  if (d.size > limit) throw new RangeError(`blob ${d.digest} is ${formatBytes(d.size)}, more than the ${formatBytes(limit)} allowed for a config`);
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  await fetchBlob(client, repo, d, sink);
  return Buffer.concat(chunks);
}

/** Writes exact bytes to the store under their (expected) digest. */
export async function storeBytes(store: Store, bytes: Buffer, expected: Digest): Promise<void> {
  const w = await store.content.writer();
  try {
    await new Promise<void>((resolve, reject) => {
      w.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.commit(bytes.length, expected);
}

/**
 * Sends the blobs `repo` lacks: HEAD each; if absent try mounting it from
 * each of `mountFrom`; else upload it from the store.
 */
export async function pushFromStore(client: RegistryClient, store: Store, repo: string, blobs: Descriptor[], mountFrom: string[], opts: TransferOptions): Promise<TransferReport> {
  const report: TransferReport = { transferred: [], present: [], mounted: [] };
  await mapLimit(uniq(blobs), opts.concurrency ?? 4, async (d) => {
    const id = short(d.digest);
    opts.progress.start(id, id, d.size);
    try {
      if (await blobExists(client, repo, d.digest, true)) {
        report.present.push(d.digest);
        opts.progress.finish(id, 'already exists');
        return;
      }
      for (const from of mountFrom) {
        if (from !== repo && await mountBlob(client, repo, d.digest, from)) {
          report.mounted.push(d.digest);
          opts.progress.finish(id, `mounted from ${from}`);
          return;
        }
      }
      await uploadBlob(client, repo, d, () => store.content.reader(d.digest), {
        chunkSize: opts.chunkSize,
        onBytes: (n) => opts.progress.advance(id, n),
      });
    } catch (err) {
      opts.progress.finish(id, 'failed');
      throw err;
    }
    report.transferred.push(d.digest);
    opts.progress.finish(id, 'pushed');
  });
  return report;
}
