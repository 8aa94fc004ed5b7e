// Blob transfers of the distribution spec: existence checks (HEAD),
// cross-repository mount, monolithic and chunked uploads, and downloads that
// resume with a Range request after a dropped connection. A download is
// hashed as it streams and only declared good when size and digest match.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DigestMismatch, InvalidInput, newHash, type Digest } from '@strata/common';
import { repoScope, type RegistryClient } from './client.ts';
import { RegistryError } from './errors.ts';
import { drain, isRetryableNetworkError } from './transport.ts';

export interface BlobRef {
  digest: Digest;
  size: number;
}

/** True if `repo` has the blob; a HEAD, so nothing is transferred. */
export async function blobExists(client: RegistryClient, repo: string, digest: Digest, push = false): Promise<boolean> {
  const res = await client.request({
    method: 'HEAD',
    path: `/v2/${repo}/blobs/${digest}`,
    scopes: [repoScope(repo, push ? 'pull,push' : 'pull')],
    accept: [404],
  });
  await drain(res);
  return res.statusCode === 200;
}

/**
 * Asks the registry to link a blob of repository `from` into `repo` without
 * sending it. Returns true if mounted (201); false if the registry declined
 * (202: it opened an ordinary upload instead, which we abandon).
 */
export async function mountBlob(client: RegistryClient, repo: string, digest: Digest, from: string): Promise<boolean> {
  const q = new URLSearchParams({ mount: digest, from });
  const res = await client.request({
    method: 'POST',
    path: `/v2/${repo}/blobs/uploads/?${q}`,
    scopes: [repoScope(repo, 'pull,push'), repoScope(from, 'pull')],
  });
  await drain(res);
  if (res.statusCode === 201) return true;
  if (res.statusCode === 202 && res.headers.location) {
    // Cancel the upload session the registry opened for us; failure is harmless.
    await client.request({ method: 'DELETE', path: new URL(res.headers.location, client.baseUrl), scopes: [repoScope(repo, 'pull,push')], accept: [400, 404, 405], retries: 0 })
      .then(drain, () => undefined);
  }
  return false;
}

export interface UploadOptions {
  /** Send in PATCH chunks of this many bytes instead of one monolithic PUT. */
  chunkSize?: number;
  /** Called with each number of bytes sent. */
  onBytes?: (n: number) => void;
}

async function startUpload(client: RegistryClient, repo: string): Promise<URL> {
  const res = await client.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/`, scopes: [repoScope(repo, 'pull,push')] });
  await drain(res);
  const loc = res.headers.location;
  if (res.statusCode !== 202 || !loc) throw new RegistryError(`POST ${client.registry}/v2/${repo}/blobs/uploads/: expected 202 with a Location, got ${res.statusCode}`, res.statusCode ?? null);
  return new URL(loc, client.baseUrl);
}

function withDigest(loc: URL, digest: Digest): URL {
  const u = new URL(loc);
  u.searchParams.set('digest', digest);
  return u;
}

function checkDigestHeader(client: RegistryClient, what: string, header: string | string[] | undefined, digest: Digest): void {
  const got = Array.isArray(header) ? header[0] : header;
  if (got && got !== digest) throw new DigestMismatch(`${what} at ${client.registry}`, digest, got);
}

/**
 * Uploads a blob. `open` is called for every attempt and must return a fresh
 * stream of the whole blob: after a failure the upload restarts in a new
 * session, because a registry may have appended part of a cut-off body.
 */
export async function uploadBlob(client: RegistryClient, repo: string, blob: BlobRef, open: () => Readable, opts: UploadOptions = {}): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (opts.chunkSize) await uploadChunked(client, repo, blob, open, opts.chunkSize, opts.onBytes);
      else await uploadMonolithic(client, repo, blob, open, opts.onBytes);
      return;
    } catch (err) {
      const retryable = err instanceof RegistryError && (err.status === null || err.status >= 500);
      if (!retryable || attempt >= client.retries) throw err;
      await sleep(client.backoffMs * 2 ** attempt);
    }
  }
}

async function uploadMonolithic(client: RegistryClient, repo: string, blob: BlobRef, open: () => Readable, onBytes?: (n: number) => void): Promise<void> {
  const loc = await startUpload(client, repo);
  const res = await client.request({
    method: 'PUT',
    path: withDigest(loc, blob.digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: () => {
      const s = open();
      if (onBytes) s.on('data', (c: Buffer) => onBytes(c.length));
      return s;
    },
    scopes: [repoScope(repo, 'pull,push')],
    retries: 0,
  });
  await drain(res);
  if (res.statusCode !== 201) throw new RegistryError(`PUT blob ${blob.digest} to ${client.registry}/${repo}: expected 201, got ${res.statusCode}`, res.statusCode ?? null);
  checkDigestHeader(client, `blob ${blob.digest}`, res.headers['docker-content-digest'], blob.digest);
}

async function uploadChunked(client: RegistryClient, repo: string, blob: BlobRef, open: () => Readable, chunkSize: number, onBytes?: (n: number) => void): Promise<void> {
  let loc = await startUpload(client, repo);
  let offset = 0;
  const src = open();
  // One sequential read of the blob, cut into chunks held in memory one at a
  // time: a chunk is a Buffer so a retried PATCH can send it again.
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const flush = async () => {
    const chunk = Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    const res = await client.request({
      method: 'PATCH',
      path: loc,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      scopes: [repoScope(repo, 'pull,push')],
    });
    await drain(res);
    if (res.statusCode !== 202) throw new RegistryError(`PATCH blob ${blob.digest} to ${client.registry}/${repo}: expected 202, got ${res.statusCode}`, res.statusCode ?? null);
    offset += chunk.length;
    onBytes?.(chunk.length);
    if (res.headers.location) loc = new URL(res.headers.location, loc);
  };
  try {
    for await (const c of src as AsyncIterable<Buffer>) {
      let rest = c;
      while (rest.length) {
        const take = Math.min(rest.length, chunkSize - pendingLen);
        pending.push(rest.subarray(0, take));
        pendingLen += take;
        rest = rest.subarray(take);
        if (pendingLen === chunkSize) await flush();
      }
    }
    if (pendingLen) await flush();
  } finally {
    src.destroy();
  }
  if (offset !== blob.size) throw new InvalidInput(`blob ${blob.digest}: local content has ${offset} bytes, descriptor says ${blob.size}`);
  const res = await client.request({ method: 'PUT', path: withDigest(loc, blob.digest), scopes: [repoScope(repo, 'pull,push')] });
  await drain(res);
  if (res.statusCode !== 201) throw new RegistryError(`PUT blob ${blob.digest} to ${client.registry}/${repo}: expected 201, got ${res.statusCode}`, res.statusCode ?? null);
  checkDigestHeader(client, `blob ${blob.digest}`, res.headers['docker-content-digest'], blob.digest);
}

export interface FetchOptions {
  onBytes?: (n: number) => void;
  /**
   * Hash the bytes here (default true). A sink that verifies on its own,
   * like the store's ingest, makes a second sha256 pass pure cost: the
   * caller then checks the digest when it commits.
   */
  verify?: boolean;
  /** Times a dropped download is resumed with a Range request (default 5). */
  resumes?: number;
}

function waitDrain(sink: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = () => { sink.off('error', bad); resolve(); };
    const bad = (e: Error) => { sink.off('drain', ok); reject(e); };
    sink.once('drain', ok);
    sink.once('error', bad);
  });
}

/**
 * Streams a blob into `sink` (not ended), hashing as it goes. After a dropped
 * connection it asks for the rest with `Range: bytes=N-` (a registry that
 * ignores the range sends it all again, and the first N bytes are skipped).
 * Throws DigestMismatch naming the blob if size or digest is wrong; the
 * caller then discards what the sink received. With `verify: false` only
 * the size is checked here.
 */
export async function fetchBlob(client: RegistryClient, repo: string, blob: BlobRef, sink: NodeJS.WritableStream, opts: FetchOptions = {}): Promise<void> {
  const what = `blob ${blob.digest} from ${client.registry}/${repo}`;
  const hash = opts.verify === false ? null : newHash();
  let offset = 0;
  let resumes = 0;
  const maxResumes = opts.resumes ?? 5;
  for (;;) {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await client.request({ method: 'GET', path: `/v2/${repo}/blobs/${blob.digest}`, headers, scopes: [repoScope(repo, 'pull')] });
    let skip = 0;
    if (offset > 0) {
      const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (res.statusCode === 206 && m && Number(m[1]) === offset) skip = 0;
      else if (res.statusCode === 206) {
        res.destroy();
        throw new RegistryError(`${what}: asked for bytes ${offset}-, got range ${res.headers['content-range']}`, 206);
      } else skip = offset;
    }
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        let c = chunk;
        if (skip) {
          const s = Math.min(skip, c.length);
          skip -= s;
          c = c.subarray(s);
          if (!c.length) continue;
        }
        offset += c.length;
        if (offset > blob.size) {
          res.destroy();
          throw new DigestMismatch(what, `${blob.digest} (${blob.size} bytes)`, `more than ${blob.size} bytes`);
        }
        hash?.update(c);
        opts.onBytes?.(c.length);
        if (!sink.write(c)) await waitDrain(sink);
      }
      if (offset < blob.size) {
        const e = new Error(`${what}: connection ended after ${offset} of ${blob.size} bytes`) as NodeJS.ErrnoException;
        e.code = 'ERR_STREAM_PREMATURE_CLOSE';
        throw e;
      }
      break;
    } catch (err) {
      if (isRetryableNetworkError(err) && resumes < maxResumes) {
        resumes++;
        await sleep(100 * 2 ** resumes);
        continue;
      }
      if (err instanceof DigestMismatch || err instanceof RegistryError) throw err;
      throw new RegistryError(`${what}: ${(err as Error).message} (after ${offset} of ${blob.size} bytes)`, null);
    }
  }
  if (hash) {
    const actual: Digest = `sha256:${hash.digest('hex')}`;
    if (actual !== blob.digest) throw new DigestMismatch(what, blob.digest, actual);
  }
}
