// `strata push`: sends an image from the store to a registry. The manifest
// goes up as the exact bytes stored locally, so the remote digest is the
// local digest; blobs the repository already has are not sent again, which
// is also what makes a push interrupted half-way cheap to repeat.
import { InvalidInput, UsageError, type Digest } from '@strata/common';
import { RegistryClient, type ClientOptions } from './client.ts';
import { putManifest } from './manifests.ts';
import { silentProgress, type Progress } from './progress.ts';
import { formatReference, hasRegistryHost, manifestTarget, parseReference, type Reference } from './reference.ts';
import { pushFromStore, type TransferReport } from './store-blobs.ts';
import type { Store } from '@strata/store';

export interface PushOptions extends ClientOptions {
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Upload in PATCH chunks of this many bytes instead of one PUT per blob. */
  chunkSize?: number;
  progress?: Progress;
  /** Other repositories on the same registry to try mounting blobs from. */
  mountFrom?: string[];
  /** A client to reuse (its options win over these). */
  client?: RegistryClient;
}

export interface PushResult extends TransferReport {
  /** Where it went, canonical. */
  ref: string;
  /** The manifest digest (the same locally and remotely). */
  digest: Digest;
}

/**
 * Pushes local image `image` (anything store.resolve() accepts) to `dest`
 * (HOST[:PORT]/REPO[:TAG|@DIGEST]; default: `image` itself if it names a
 * registry). A dest digest must equal the local manifest digest.
 */
export async function pushImage(store: Store, image: string, dest?: string | Reference, opts: PushOptions = {}): Promise<PushResult> {
  if (dest === undefined && !hasRegistryHost(image)) {
    throw new UsageError(`push ${image}: the image name has no registry host; name a destination HOST[:PORT]/REPO[:TAG]`);
  }
  const target = dest === undefined ? parseReference(image) : typeof dest === 'string' ? parseReference(dest) : dest;
  const resolved = await store.resolve(image);
  const digest = resolved.manifestDescriptor.digest;
  if (target.digest && target.digest !== digest) {
    throw new InvalidInput(`${formatReference(target)}: image ${image} has manifest ${digest}, not ${target.digest}`);
  }
  const bytes = await store.content.readBlob(digest);
  const mediaType = resolved.manifest.mediaType ?? resolved.manifestDescriptor.mediaType;

  // An image pulled from (or named after) another repository on the same
  // registry probably shares its layers there: let the registry link them.
  const mountFrom = [...(opts.mountFrom ?? [])];
  for (const name of [image, resolved.ref]) {
    if (hasRegistryHost(name)) {
      try {
        const src = parseReference(name);
        if (src.registry === target.registry && src.repository !== target.repository && !mountFrom.includes(src.repository)) mountFrom.push(src.repository);
      } catch {
        // not a registry reference; nothing to mount from
      }
    }
  }

  const client = opts.client ?? new RegistryClient(target.registry, opts);
  const progress = opts.progress ?? silentProgress;
  try {
    const blobs = [...resolved.manifest.layers, resolved.manifest.config];
    const report = await pushFromStore(client, store, target.repository, blobs, mountFrom, {
      concurrency: opts.concurrency,
      chunkSize: opts.chunkSize,
      progress,
    });
    await putManifest(client, target.repository, manifestTarget(target), bytes, mediaType);
    const ref = formatReference(target);
    progress.note(`${ref}: pushed manifest ${digest}`);
    return { ...report, ref, digest };
  } finally {
    progress.close();
    if (!opts.client) client.close();
  }
}
