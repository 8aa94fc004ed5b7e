// Image name normalisation, the podman rule: a name stored locally is kept
// fully qualified, "host/path:tag". A short name gets "localhost/" (when
// its first component is not a host: no '.' or ':' and not "localhost"),
// and a missing tag is ":latest". So `busybox` -> `localhost/busybox:latest`,
// `busybox:1.36` -> `localhost/busybox:1.36`, `quay.io/x/y` -> `quay.io/x/y:latest`.
//
// That full string is what index.json carries in
// org.opencontainers.image.ref.name, and what other tools are given:
// `skopeo inspect oci:$ROOT:localhost/busybox:latest`,
// `umoci unpack --image $ROOT:localhost/busybox:latest` (both split the
// layout path at the first ':' and match the rest against ref.name exactly).
import { UsageError } from '@strata/common';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** Splits "name[:tag]" (a ':' after the last '/' is the tag). */
function splitTag(ref: string): [string, string | null] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, null];
}

/** True if `first` (the first path component) names a registry host. */
function isHost(first: string): boolean {
  return first === 'localhost' || first.includes('.') || first.includes(':');
}

/**
 * The stored form of an image name; UsageError naming the input if it is not
 * a valid reference. Digest references ("name@sha256:...") are not tags.
 */
export function normalizeName(ref: string): string {
  if (ref.includes('@')) throw new UsageError(`invalid image name ${JSON.stringify(ref)}: a tag name cannot contain a digest`);
  const [name, tag] = splitTag(ref);
  const parts = name.split('/');
  if (parts.length > 1 && isHost(parts[0]!)) {
    if (!HOST.test(parts[0]!)) throw new UsageError(`invalid image name ${JSON.stringify(ref)}: bad registry host ${parts[0]}`);
  } else {
    parts.unshift('localhost');
  }
  for (const p of parts.slice(1)) {
    if (!COMPONENT.test(p)) throw new UsageError(`invalid image name ${JSON.stringify(ref)}: bad path component ${JSON.stringify(p)} (lowercase letters, digits, '.', '_', '-')`);
  }
  const t = tag ?? 'latest';
  if (!TAG.test(t)) throw new UsageError(`invalid image name ${JSON.stringify(ref)}: bad tag ${JSON.stringify(t)}`);
  return `${parts.join('/')}:${t}`;
}

/** normalizeName, or null instead of an error (for lookups of names other tools wrote). */
export function tryNormalizeName(ref: string): string | null {
  try {
    return normalizeName(ref);
  } catch {
    return null;
  }
}
