// `strata pull` and `FROM host/repo:tag`: fetches an image into the store.
// Order matters for "nothing half-written": layers and config are verified
// and committed first, the manifest after them, the tag last; a failure at
// any point leaves no tag and no blob of the failed set.
import { InvalidInput, isDigest, type Digest } from '@strata/common';
import { RegistryClient, type ClientOptions } from './client.ts';
import { getManifest, type FetchedManifest } from './manifests.ts';
import { choosePlatform, hostPlatform } from './platform.ts';
import { silentProgress, type Progress } from './progress.ts';
import { formatReference, manifestTarget, parseReference, type Reference } from './reference.ts';
import { fetchIntoStore, fetchSmallBlob, storeBytes, type TransferReport } from './store-blobs.ts';
import { MediaType, type Descriptor, type ImageConfig, type Manifest, type Platform, type Store } from '@strata/store';

export interface PullOptions extends ClientOptions {
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Which image of a multi-platform index (default: this machine's, linux/amd64 here). */
  platform?: Platform;
  progress?: Progress;
  /** Tag to give the image in the store; default the reference itself; false: don't tag. */
  tag?: string | false;
  client?: RegistryClient;
}

export interface PullResult extends TransferReport {
  /** Canonical reference pulled. */
  ref: string;
  /** The tag set in the store (undefined if tag: false). */
  name?: string;
  /** Descriptor of the image manifest stored (the platform's, for an index). */
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

const IMAGE_MANIFESTS = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEXES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);

function checkDescriptor(d: unknown, what: string): Descriptor {
  const x = d as Partial<Descriptor> | undefined;
  if (!x || typeof x !== 'object' || !isDigest(x.digest) || typeof x.size !== 'number' || x.size < 0 || !Number.isSafeInteger(x.size) || typeof x.mediaType !== 'string') {
    throw new InvalidInput(`${what}: malformed descriptor ${JSON.stringify(d)}`);
  }
  return x as Descriptor;
}

/** Validates the fields of an image manifest we rely on. */
export function checkManifest(m: FetchedManifest, what: string): Manifest {
  const j = m.json as Partial<Manifest>;
  checkDescriptor(j.config, `${what}: config`);
  if (!Array.isArray(j.layers)) throw new InvalidInput(`${what}: layers is not a list`);
  j.layers.forEach((l, i) => checkDescriptor(l, `${what}: layers[${i}]`));
  return j as Manifest;
}

/**
 * Resolves a reference to one image manifest, choosing the platform's entry
 * when the reference names an index.
 */
export async function fetchImageManifest(client: RegistryClient, ref: Reference, platform: Platform): Promise<FetchedManifest> {
  const what = formatReference(ref);
  let m = await getManifest(client, ref.repository, manifestTarget(ref));
  if (INDEXES.has(m.mediaType) || Array.isArray(m.json.manifests)) {
    const list = m.json.manifests;
    if (!Array.isArray(list)) throw new InvalidInput(`${what}: index without manifests`);
    const entries = list.map((e, i) => checkDescriptor(e, `${what}: manifests[${i}]`));
    const chosen = choosePlatform(entries, platform, what);
    m = await getManifest(client, ref.repository, chosen.digest);
    if (m.bytes.length !== chosen.size) throw new InvalidInput(`${what}: manifest ${chosen.digest} has ${m.bytes.length} bytes, the index says ${chosen.size}`);
  }
  if (!IMAGE_MANIFESTS.has(m.mediaType)) throw new InvalidInput(`${what}: unsupported manifest type ${m.mediaType}`);
  return m;
}

/**
 * Pulls `ref` (HOST[:PORT]/REPO[:TAG|@DIGEST]) into the store and tags it.
 * The stored manifest is byte-identical to the registry's, so it keeps its
 * digest. Throws DigestMismatch naming the blob if any content is wrong.
 */
export async function pullImage(store: Store, ref: string | Reference, opts: PullOptions = {}): Promise<PullResult> {
  const target = typeof ref === 'string' ? parseReference(ref) : ref;
  const what = formatReference(target);
  const client = opts.client ?? new RegistryClient(target.registry, opts);
  const progress = opts.progress ?? silentProgress;
  try {
    const m = await fetchImageManifest(client, target, opts.platform ?? hostPlatform());
    const manifest = checkManifest(m, what);
    const configBytes = await fetchSmallBlob(client, target.repository, manifest.config);
    let config: ImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    } catch (err) {
      throw new InvalidInput(`${what}: config ${manifest.config.digest} is not JSON: ${(err as Error).message}`);
    }
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw new InvalidInput(`${what}: config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff_ids for ${manifest.layers.length} layers`);
    }
    const report = await fetchIntoStore(client, store, target.repository, manifest.layers, { concurrency: opts.concurrency, progress },
      [{ descriptor: manifest.config, bytes: configBytes }]);
    await storeBytes(store, m.bytes, m.digest);
    const descriptor: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    let name: string | undefined;
    if (opts.tag !== false) {
      name = opts.tag ?? defaultTagName(target, m.digest);
      await store.tag(name, descriptor);
    }
    progress.note(`${what}: pulled manifest ${m.digest}`);
    return { ...report, ref: what, name, descriptor, manifest, config };
  } finally {
    progress.close();
    if (!opts.client) client.close();
  }
}

/** The store tag for a pulled reference: host/repo:tag, or host/repo:sha256-<hex> for a digest-only one. */
export function defaultTagName(ref: Reference, digest: Digest): string {
  return `${ref.registry}/${ref.repository}:${ref.tag ?? `sha256-${digest.slice(7)}`}`;
}

