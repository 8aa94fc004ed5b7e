// Choosing the image for this machine from a multi-platform index, by the
// OCI platform fields (os, architecture, variant) in Go's naming.
import { NotFound } from '@strata/common';
import { hostPlatform as storeHostPlatform, type Descriptor, type Platform } from '@strata/store';

/** The platform of the running machine (the store's notion, e.g. linux/amd64). */
export function hostPlatform(): Platform {
  return storeHostPlatform();
}


/** "linux/arm64/v8" -> Platform; UsageError-free (callers validate). */
export function parsePlatform(s: string): Platform {
  const [os = '', architecture = '', variant] = s.split('/');
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  return p ? [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/') : 'unknown';
}

/**
 * The index entry for `want`. Variant must match when both sides name one
 * (arm64 without a variant means v8). NotFound lists what the index offers.
 */
export function choosePlatform(manifests: Descriptor[], want: Platform, what: string): Descriptor {
  const norm = (p: Platform) => (p.architecture === 'arm64' && !p.variant ? { ...p, variant: 'v8' } : p);
  const w = norm(want);
  const candidates = manifests.filter((m) => m.platform && m.platform.os === w.os && m.platform.architecture === w.architecture);
  const exact = candidates.find((m) => {
    const v = norm(m.platform!).variant;
    return !w.variant || !v || v === w.variant;
  });
  if (exact) return exact;
  const offered = manifests.map((m) => formatPlatform(m.platform)).join(', ') || 'nothing';
  throw new NotFound(`${what}: no image for platform ${formatPlatform(want)} in the index (it has: ${offered})`);
}
