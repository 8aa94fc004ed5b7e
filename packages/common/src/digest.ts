// The one digest helper: OCI digests are "sha256:<64 hex>".
import { createHash, type Hash } from 'node:crypto';
import { InvalidInput } from './errors.ts';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True if `s` is a well-formed sha256 digest. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Returns `s` as a Digest or throws InvalidInput naming `what`. */
export function parseDigest(s: unknown, what = 'digest'): Digest {
  if (!isDigest(s)) throw new InvalidInput(`${what}: not a sha256 digest: ${JSON.stringify(s)}`);
  return s;
}

/** The hex part of a digest. */
export function hexOf(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function newHash(): Hash {
  return createHash('sha256');
}

/**
 * chainID per the OCI image spec: chain(L0) = diffID(L0);
 * chain(Ln) = sha256(chain(Ln-1) + " " + diffID(Ln)).
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  }
  return out;
}
