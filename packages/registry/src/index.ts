// @strata/registry: the OCI distribution client behind `strata push`,
// `strata pull`, `strata login` and the remote build cache.
export * from './errors.ts';
export * from './reference.ts';
export * from './credentials.ts';
export { RegistryClient, repoScope, type ClientOptions } from './client.ts';
export { blobExists, mountBlob, uploadBlob, fetchBlob, type BlobRef } from './blobs.ts';
export { getManifest, putManifest, MANIFEST_ACCEPT, type FetchedManifest } from './manifests.ts';
