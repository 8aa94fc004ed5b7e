// The remote build cache: the builder's per-instruction cache records,
// shipped through a registry as an OCI artifact, so a machine with an empty
// store can rebuild a Dockerfile with every step cached.
//
// Format (an OCI 1.1 image manifest used as an artifact):
//   manifest.artifactType = application/vnd.strata.buildcache.v1+json
//   manifest.config       = the cache index JSON (mediaType
//                           application/vnd.strata.buildcache.index.v1+json):
//                           {"schemaVersion": 1, "records": {KEY: CacheRecord}}
//   manifest.layers       = every blob the records reference (layer tars and
//                           any extra `blobs`), deduplicated, in record order.
// The records are opaque to this package except for `layer` and `blobs`,
// the descriptors it must ship and fetch.
//
// How `strata build` uses it (packages/cli/src/build-registry.ts):
//   --cache-to REF:   after a build, exportCache(store, REF, records) with
//                     every record of the build (keys -> layer descriptors);
//   --cache-from REF: before a build, importCache(store, REF, {layers: false})
//                     -> records; on a local miss for KEY with records[KEY]
//                     present, fetchCacheBlobs(store, REF, [records[KEY]])
//                     and the builder reuses the step.
import { InvalidInput, isDigest, type Digest } from '@strata/common';
import { RegistryClient, type ClientOptions } from './client.ts';
import { getManifest, putManifest } from './manifests.ts';
import { silentProgress, type Progress } from './progress.ts';
import { formatReference, manifestTarget, parseReference, type Reference } from './reference.ts';
import { fetchIntoStore, fetchSmallBlob, pushFromStore, storeBytes } from './store-blobs.ts';
import { MediaType, type Descriptor, type Store } from '@strata/store';

export const BuildCacheMediaType = {
  /** artifactType of the cache manifest. */
  artifact: 'application/vnd.strata.buildcache.v1+json',
  /** mediaType of the config blob: the cache index. */
  index: 'application/vnd.strata.buildcache.index.v1+json',
} as const;

/** One instruction's cache entry, as the builder records it. */
export interface CacheRecord {
  /** The layer the instruction added; null when it changed only the config (ENV, WORKDIR, ...). */
  layer: Descriptor | null;
  /** The uncompressed digest of `layer` (rootfs.diff_ids entry); null with `layer`. */
  diffId: Digest | null;
  /** Further blobs the record needs (shipped and fetched like the layer). */
  blobs?: Descriptor[];
  /** Anything else the builder needs to replay the step (config changes, history); round-trips as JSON. */
  data?: unknown;
}

/** The cache index blob. */
export interface CacheIndex {
  schemaVersion: 1;
  /** Cache key (as the builder computes it) -> record. */
  records: Record<string, CacheRecord>;
}

export interface CacheOptions extends ClientOptions {
  concurrency?: number;
  progress?: Progress;
  client?: RegistryClient;
}

function blobsOf(records: Record<string, CacheRecord>): Descriptor[] {
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  for (const r of Object.values(records)) {
    for (const d of [...(r.layer ? [r.layer] : []), ...(r.blobs ?? [])]) {
      if (!seen.has(d.digest)) {
        seen.add(d.digest);
        out.push({ mediaType: d.mediaType, digest: d.digest, size: d.size });
      }
    }
  }
  return out;
}

function checkIndex(j: unknown, what: string): CacheIndex {
  const x = j as Partial<CacheIndex>;
  if (!x || typeof x !== 'object' || x.schemaVersion !== 1 || typeof x.records !== 'object' || x.records === null) {
    throw new InvalidInput(`${what}: not a strata build cache index (schemaVersion 1 with records)`);
  }
  for (const [k, r] of Object.entries(x.records)) {
    const bad = (why: string) => new InvalidInput(`${what}: record ${k}: ${why}`);
    if (typeof r !== 'object' || r === null) throw bad('not an object');
    for (const d of [...(r.layer ? [r.layer] : []), ...(r.blobs ?? [])]) {
      if (!isDigest(d?.digest) || typeof d.size !== 'number' || typeof d.mediaType !== 'string') throw bad(`malformed descriptor ${JSON.stringify(d)}`);
    }
    if (r.layer && !isDigest(r.diffId)) throw bad('layer without a diffId');
  }
  return x as CacheIndex;
}

/**
 * Pushes `records` and the blobs they reference (from `store`) to `ref` as
 * a build cache artifact. Returns the artifact manifest's digest.
 */
export async function exportCache(store: Store, ref: string | Reference, records: Record<string, CacheRecord>, opts: CacheOptions = {}): Promise<Digest> {
  const target = typeof ref === 'string' ? parseReference(ref) : ref;
  const index: CacheIndex = { schemaVersion: 1, records };
  const indexDesc = await store.content.writeBlob(JSON.stringify(index), BuildCacheMediaType.index);
  const layers = blobsOf(records);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: BuildCacheMediaType.artifact,
    config: { mediaType: BuildCacheMediaType.index, digest: indexDesc.digest, size: indexDesc.size },
    layers,
    annotations: { 'org.opencontainers.image.created': new Date().toISOString() },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const client = opts.client ?? new RegistryClient(target.registry, opts);
  const progress = opts.progress ?? silentProgress;
  try {
    await pushFromStore(client, store, target.repository, [...layers, manifest.config], [], { concurrency: opts.concurrency, progress });
    const digest = await putManifest(client, target.repository, manifestTarget(target), bytes, MediaType.ociManifest);
    progress.note(`${formatReference(target)}: exported ${Object.keys(records).length} cache records (${digest})`);
    return digest;
  } finally {
    progress.close();
    if (!opts.client) client.close();
  }
}

/**
 * Fetches the cache artifact at `ref`: its index and (unless `layers` is
 * false) every blob it references that the store lacks, verified. Returns
 * the records; a reference that does not exist yet is an empty cache.
 */
export async function importCache(store: Store, ref: string | Reference, opts: CacheOptions & { layers?: boolean } = {}): Promise<Record<string, CacheRecord>> {
  const target = typeof ref === 'string' ? parseReference(ref) : ref;
  const what = formatReference(target);
  const client = opts.client ?? new RegistryClient(target.registry, opts);
  const progress = opts.progress ?? silentProgress;
  try {
    let m;
    try {
      m = await getManifest(client, target.repository, manifestTarget(target));
    } catch (err) {
      // A first build has nothing to import: that is not an error.
      if ((err as { status?: number }).status === 404) return {};
      throw err;
    }
    const j = m.json as { artifactType?: string; config?: Descriptor; layers?: Descriptor[] };
    if (j.config?.mediaType !== BuildCacheMediaType.index || !isDigest(j.config.digest)) {
      throw new InvalidInput(`${what}: not a strata build cache (artifactType ${j.artifactType ?? 'none'}, config ${j.config?.mediaType ?? 'none'})`);
    }
    const indexBytes = await fetchSmallBlob(client, target.repository, j.config);
    let parsed: unknown;
    try {
      parsed = JSON.parse(indexBytes.toString('utf8'));
    } catch (err) {
      throw new InvalidInput(`${what}: cache index ${j.config.digest} is not JSON: ${(err as Error).message}`);
    }
    const index = checkIndex(parsed, `${what}: cache index ${j.config.digest}`);
    await storeBytes(store, indexBytes, j.config.digest);
    if (opts.layers !== false) {
      await fetchIntoStore(client, store, target.repository, blobsOf(index.records), { concurrency: opts.concurrency, progress });
    }
    progress.note(`${what}: imported ${Object.keys(index.records).length} cache records`);
    return index.records;
  } finally {
    progress.close();
    if (!opts.client) client.close();
  }
}

/** Fetches the blobs of some records on demand (when importCache ran with layers: false). */
export async function fetchCacheBlobs(store: Store, ref: string | Reference, records: CacheRecord[], opts: CacheOptions = {}): Promise<void> {
  const target = typeof ref === 'string' ? parseReference(ref) : ref;
  const client = opts.client ?? new RegistryClient(target.registry, opts);
  try {
    await fetchIntoStore(client, store, target.repository, blobsOf(Object.fromEntries(records.map((r, i) => [String(i), r]))), {
      concurrency: opts.concurrency,
      progress: opts.progress ?? silentProgress,
    });
  } finally {
    if (!opts.client) client.close();
  }
}
