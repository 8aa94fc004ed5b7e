// Where `strata build` meets the registry: the builder knows only the store
// (DESIGN: builder -> store, overlay), so the CLI hands it three functions
// made here from @strata/registry:
//   - pullImage:   FROM / COPY --from of HOST[:PORT]/REPO[:TAG|@DIGEST] not in
//                  the store is pulled on demand (verified, tagged);
//   - cacheSource: --cache-from REF... : the remote cache indexes are read
//                  once, and a record's layer blob is fetched only when the
//                  builder misses locally on its key and hits remotely, so an
//                  empty machine pulls the layers it uses and nothing else;
//   - exportBuildCache: --cache-to REF: every record of the build, with the
//                  layers they reference, as one OCI artifact.
import { InvalidInput, isDigest, type Digest } from '@strata/common';
import type { Store } from '@strata/store';
import type { CacheRecord as BuilderRecord } from '@strata/builder';
import {
  exportCache, fetchCacheBlobs, hasRegistryHost, importCache, pullImage, progressFor, silentProgress,
  type CacheRecord, type ClientOptions,
} from '@strata/registry';

/** The builder's pullImage hook: registry references are pulled; other names are not ours (null). */
export function registryPuller(store: Store, opts: ClientOptions, progressOut: NodeJS.WritableStream | null): (ref: string) => Promise<string | null> {
  return async (ref) => {
    if (!hasRegistryHost(ref)) return null;
    const res = await pullImage(store, ref, { ...opts, progress: progressOut ? progressFor(progressOut) : silentProgress });
    return res.descriptor.digest;
  };
}

/** The builder record carried in a remote record's `data`, checked against the descriptor it travelled with. */
function builderRecord(ref: string, key: string, r: CacheRecord): BuilderRecord {
  const rec = r.data as Partial<BuilderRecord> | undefined;
  const bad = (why: string) => new InvalidInput(`--cache-from ${ref}: record ${key}: ${why}`);
  if (!rec || typeof rec !== 'object' || rec.key !== key || typeof rec.created !== 'string' || typeof rec.createdBy !== 'string') throw bad('not a strata build record');
  if (rec.layer) {
    if (!r.layer || rec.layer.descriptor?.digest !== r.layer.digest || !isDigest(rec.layer.diffId) || !isDigest(rec.layer.chainId)) throw bad('layer does not match its descriptor');
  } else if (r.layer) {
    throw bad('descriptor without a layer record');
  }
  return rec as BuilderRecord;
}

/** The builder's cacheSource hook over the caches at `refs` (first one that has a key wins). */
export async function remoteCacheSource(store: Store, refs: string[], opts: ClientOptions): Promise<(key: Digest) => Promise<BuilderRecord | null>> {
  const sources: Array<{ ref: string; records: Record<string, CacheRecord> }> = [];
  for (const ref of refs) sources.push({ ref, records: await importCache(store, ref, { ...opts, layers: false }) });
  return async (key) => {
    for (const s of sources) {
      const r = s.records[key];
      if (!r) continue;
      const rec = builderRecord(s.ref, key, r);
      await fetchCacheBlobs(store, s.ref, [r], opts);
      return rec;
    }
    return null;
  };
}

/** --cache-to: pushes the build's records and their layers; returns the artifact's digest. */
export function exportBuildCache(store: Store, ref: string, records: BuilderRecord[], opts: ClientOptions): Promise<Digest> {
  const entries: Record<string, CacheRecord> = {};
  for (const r of records) {
    entries[r.key] = { layer: r.layer?.descriptor ?? null, diffId: r.layer?.diffId ?? null, data: r };
  }
  return exportCache(store, ref, entries, opts);
}
