// Image references of the form HOST[:PORT]/REPO[:TAG|@DIGEST], the only form
// strata talks to a registry with: the host is never implied (no silent
// docker.io), so a reference always says where bytes go.
import { isDigest, UsageError, type Digest } from '@strata/common';

export interface Reference {
  /** "host" or "host:port" exactly as written (lowercased host); the key for credentials. */
  registry: string;
  /** Hostname without the port (brackets stripped for IPv6). */
  hostname: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  repository: string;
  /** The tag; "latest" when neither a tag nor a digest is given. Undefined for a digest-only reference. */
  tag?: string;
  /** The manifest digest when the reference pins one. */
  digest?: Digest;
}

// Grammar of the distribution spec (reference.go): path components of
// lowercase alphanumerics joined by ".", "_", "__" or dashes.
const COMPONENT_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$/;

/** True if `s` starts with something that can only be a registry host (has a dot or port, or is localhost). */
export function hasRegistryHost(s: string): boolean {
  const first = s.split('/')[0] ?? '';
  return s.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) && HOST_RE.test(first);
}

/** Parses a reference; UsageError naming the reference and the part at fault otherwise. */
export function parseReference(input: string): Reference {
  const bad = (why: string) => new UsageError(`invalid image reference ${JSON.stringify(input)}: ${why} (expected HOST[:PORT]/REPO[:TAG|@DIGEST])`);
  let rest = input.trim();
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(`malformed digest ${JSON.stringify(d)}`);
    digest = d;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  if (slash < 0 || !hasRegistryHost(rest)) throw bad('no registry host');
  const registry = rest.slice(0, slash).toLowerCase();
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`malformed tag ${JSON.stringify(tag)}`);
  }
  if (!path) throw bad('empty repository');
  for (const c of path.split('/')) {
    if (!COMPONENT_RE.test(c)) throw bad(`malformed repository component ${JSON.stringify(c)}`);
  }
  if (path.length > 255) throw bad('repository name longer than 255 characters');
  if (!tag && !digest) tag = 'latest';
  const hostname = registry.replace(/:[0-9]+$/, '').replace(/^\[(.*)\]$/, '$1');
  return { registry, hostname, repository: path, tag, digest };
}

/** The canonical string: registry/repo[:tag][@digest]. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** What a manifest GET/PUT addresses: the digest if pinned, else the tag. */
export function manifestTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** Loopback hosts are the only ones spoken to over plain HTTP without being named insecure. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
