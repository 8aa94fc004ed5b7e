// The contracts of @strata/store, written once here; implementations live in
// one file each (content.ts, layout.ts, snapshots.ts, layers.ts, store.ts).
//
// Lifecycle of an image in the store:
//   1. blobs enter through ContentStore.writer(): streamed into ingest/,
//      hashed as written, fsynced, and renamed into blobs/sha256/<hex> only
//      after commit() verified size and digest. A blob is visible whole or not at all.
//   2. a manifest is tagged in index.json (org.opencontainers.image.ref.name),
//      which makes the root an OCI image layout that skopeo/umoci read as is.
//   3. layers are unpacked once per chainID into snapshots/<chainid-hex>/
//      (overlay whiteout format), shared by every image with that chain.
//   4. gc marks from the tags (and the build cache's roots) and sweeps the rest.
import type { Readable } from 'node:stream';
import type { Digest } from '@strata/common';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The OCI image config (only the fields strata reads or writes are typed). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  Shell?: string[];
  OnBuild?: string[] | null;
  ArgsEscaped?: boolean;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** An open ingest. Write to it as a stream; nothing is visible until commit(). */
export interface BlobWriter extends NodeJS.WritableStream {
  /**
   * Finishes the ingest: verifies that what was written has `size` bytes (if
   * given) and hashes to `expected` (if given), fsyncs, and makes the blob
   * visible under its digest. If the blob already exists it is left as is and
   * the ingest discarded. Throws DigestMismatch / InvalidInput and leaves
   * nothing behind on a mismatch.
   */
  commit(size?: number, expected?: Digest): Promise<BlobInfo>;
  /** Drops the ingest; nothing becomes visible. */
  abort(): Promise<void>;
}

/** containerd-style content store over blobs/sha256/. */
export interface ContentStore {
  /** Size of a blob; NotFound if absent. */
  info(digest: Digest): Promise<BlobInfo>;
  has(digest: Digest): Promise<boolean>;
  /** A stream of the blob's bytes, verified against its digest as it is read (the stream errors with DigestMismatch at the end otherwise). NotFound if absent. */
  reader(digest: Digest): Readable;
  /** The whole blob (for small JSON blobs), verified. */
  readBlob(digest: Digest): Promise<Buffer>;
  /** A new ingest. */
  writer(): Promise<BlobWriter>;
  /** Writes a small blob at once and returns its descriptor. */
  writeBlob(data: Buffer | string, mediaType: string): Promise<Descriptor>;
  /** Path of a blob on disk (for tools that read the layout directly). */
  blobPath(digest: Digest): string;
  walk(): AsyncIterable<BlobInfo>;
  delete(digest: Digest): Promise<void>;
}

/** Where an image's layers are unpacked: lowerdirs for a union mount, top first. */
export interface ResolvedImage {
  /** The name the image was asked for, normalised (e.g. "localhost/busybox:latest"). */
  ref: string;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDescriptor: Descriptor;
}

/**
 * A committed snapshot is an unpacked layer directory named by its chainID;
 * an active one has an upper and a work directory under active/<key>/.
 */
export interface Snapshotter {
  /** Directory of the committed snapshot with this chainID, unpacking from `layers` if needed. */
  dir(chainId: Digest): string;
  exists(chainId: Digest): Promise<boolean>;
  /** New active snapshot: fresh empty upper and work dirs on the store's filesystem. */
  prepare(key: string): Promise<{ upperDir: string; workDir: string }>;
  /** Turns an active snapshot's upper dir into the committed snapshot `chainId` (a rename: no copy). */
  commit(chainId: Digest, key: string): Promise<string>;
  remove(key: string): Promise<void>;
  walk(): AsyncIterable<{ chainId: Digest; dir: string }>;
  usage(chainId: Digest): Promise<{ size: number; inodes: number }>;
}

/**
 * The store as the builder, the registry client and the CLI use it.
 * Opening a store creates the layout if the root is empty; every mutation of
 * index.json is atomic (temp file + rename) and serialised across processes.
 */
export interface Store {
  readonly root: string;
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  /** NAME[:TAG], a full "host/repo:tag", or a manifest digest (or unique prefix) -> image; NotFound otherwise. */
  resolve(ref: string): Promise<ResolvedImage>;
  /** Points tag `name` at a manifest in index.json (replacing an existing tag). */
  tag(name: string, manifest: Descriptor): Promise<void>;
  /** Removes a tag; NotFound if absent. Blobs stay until gc. */
  untag(name: string): Promise<void>;
  /** Every tag, in index.json order. */
  images(): Promise<Array<{ name: string; descriptor: Descriptor }>>;
  /** Unpacks each layer once per chainID; returns the snapshot dirs as lowerdirs, top layer first. */
  layerDirs(image: Pick<ResolvedImage, 'manifest' | 'config'>): Promise<string[]>;
  /**
   * Makes a layer of an upper dir: tars it (overlay whiteouts -> aufs),
   * compresses, stores the blob, then commits the upper dir itself as the
   * snapshot of chain (parentChainId, diffId) by rename. The upper dir is gone after.
   */
  commitLayer(upperDir: string, parentChainId: Digest | null, opts: { compression: Compression }):
    Promise<{ descriptor: Descriptor; diffId: Digest; chainId: Digest }>;
  /** Stores config and manifest blobs; returns the manifest's descriptor (not tagged). */
  putImage(config: ImageConfig, layers: Descriptor[], annotations?: Record<string, string>): Promise<Descriptor>;
  /**
   * GC roots besides tags: a JSON file <root>/gcroots/<name>.json of the form
   * {"blobs": Digest[], "chainIds": Digest[]} keeps those alive. The build
   * cache writes one per cache entry; `strata gc --prune-cache` drops them first.
   */
  setRoot(name: string, refs: { blobs: Digest[]; chainIds: Digest[] }): Promise<void>;
  removeRoot(name: string): Promise<void>;
}
