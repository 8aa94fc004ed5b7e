// @strata/registry: the OCI distribution client behind `strata push`,
// `strata pull`, `strata login` and the remote build cache.
export * from './errors.ts';
export * from './reference.ts';
export * from './credentials.ts';
export { RegistryClient, repoScope, type ClientOptions } from './client.ts';
export { blobExists, mountBlob, uploadBlob, fetchBlob, type BlobRef } from './blobs.ts';
export { getManifest, putManifest, MANIFEST_ACCEPT, type FetchedManifest } from './manifests.ts';
export { pushImage, type PushOptions, type PushResult } from './push.ts';
export { pullImage, fetchImageManifest, defaultTagName, type PullOptions, type PullResult } from './pull.ts';
export { exportCache, importCache, fetchCacheBlobs, BuildCacheMediaType, type CacheRecord, type CacheIndex, type CacheOptions } from './cache.ts';
export { progressFor, silentProgress, formatBytes, type Progress } from './progress.ts';
export { hostPlatform, parsePlatform, choosePlatform } from './platform.ts';
export { mapLimit } from './limit.ts';
