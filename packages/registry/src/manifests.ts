// Manifest and index GET/PUT. Manifests travel as exact bytes: their digest
// is the sha256 of those bytes, so we never re-serialise one we received.
import { DigestMismatch, InvalidInput, sha256, type Digest } from '@strata/common';
import { MediaType } from '@strata/store';
import { repoScope, type RegistryClient } from './client.ts';
import { RegistryError } from './errors.ts';
import { drain, readAll } from './transport.ts';

/** Every manifest type we can read, OCI first. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');

export interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
  /** Parsed JSON (shape checked by the caller per mediaType). */
  json: Record<string, unknown>;
}

const MAX_MANIFEST = 4 << 20;

/**
 * GETs a manifest or index by tag or digest. Verified: by digest, the bytes
 * must hash to it; by tag, to the Docker-Content-Digest the registry states.
 */
export async function getManifest(client: RegistryClient, repo: string, target: string): Promise<FetchedManifest> {
  const res = await client.request({
    method: 'GET',
    path: `/v2/${repo}/manifests/${target}`,
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [repoScope(repo, 'pull')],
  });
  const bytes = await readAll(res, MAX_MANIFEST);
  const what = `manifest ${client.registry}/${repo}${target.startsWith('sha256:') ? '@' : ':'}${target}`;
  const digest = sha256(bytes);
  if (target.startsWith('sha256:') && digest !== target) throw new DigestMismatch(what, target, digest);
  const stated = res.headers['docker-content-digest'];
  if (typeof stated === 'string' && stated.startsWith('sha256:') && stated !== digest) throw new DigestMismatch(what, stated, digest);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidInput(`${what}: not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || json.schemaVersion !== 2) throw new InvalidInput(`${what}: not a schemaVersion 2 manifest`);
  const ct = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : Array.isArray(json.manifests) ? MediaType.ociIndex : ct || MediaType.ociManifest;
  return { bytes, digest, mediaType, json };
}

/** PUTs manifest bytes under `target` (a tag or its digest); returns the digest the registry stored. */
export async function putManifest(client: RegistryClient, repo: string, target: string, bytes: Buffer, mediaType: string): Promise<Digest> {
  const digest = sha256(bytes);
  const res = await client.request({
    method: 'PUT',
    path: `/v2/${repo}/manifests/${target}`,
    headers: { 'content-type': mediaType },
    body: bytes,
    scopes: [repoScope(repo, 'pull,push')],
  });
  await drain(res);
  if (res.statusCode !== 201) throw new RegistryError(`PUT manifest ${client.registry}/${repo}:${target}: expected 201, got ${res.statusCode}`, res.statusCode ?? null);
  const stated = res.headers['docker-content-digest'];
  if (typeof stated === 'string' && stated !== digest) throw new DigestMismatch(`manifest ${client.registry}/${repo}:${target}`, digest, stated);
  return digest;
}
