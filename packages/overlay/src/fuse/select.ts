// Which FUSE transport serves a mount: `-o transport=...` wins, then the
// STRATA_FUSE_TRANSPORT environment variable, then the default. Both carry
// the same engine; "native" is strata's own /dev/fuse loop with passthrough
// (it mounts with mount(2), so root only), "fuse-native" the portable
// libfuse 2 binding (fusermount, any user). The default is native for root,
// where it passes the same tests and is faster, and fuse-native otherwise.
import { UsageError } from '@strata/common';
import { prefaultHeap } from '@strata/native/fusell';
import type { Overlay } from '../core/overlay.ts';
import { exerciseSession, serveLowLevel } from './lowlevel.ts';
import { serveFuse, type FuseServer, type TransportOptions } from './transport.ts';

export type TransportName = 'native' | 'fuse-native';

export const TRANSPORTS: readonly TransportName[] = ['native', 'fuse-native'];

/** The default when neither the option nor the environment names one: native for root. */
export function defaultTransport(uid: number | undefined = process.geteuid?.()): TransportName {
  return uid === 0 ? 'native' : 'fuse-native';
}

/** Resolves the transport name (`env` empty or undefined: unset); throws UsageError naming the bad value. */
export function chooseTransport(option?: string, env: string | undefined = process.env.STRATA_FUSE_TRANSPORT, uid: number | undefined = process.geteuid?.()): TransportName {
  const v = option ?? (env || undefined) ?? defaultTransport(uid);
  if (!(TRANSPORTS as readonly string[]).includes(v)) {
    const from = option !== undefined ? 'mount option transport' : 'STRATA_FUSE_TRANSPORT';
    throw new UsageError(`${from}=${v}: expected ${TRANSPORTS.join(' or ')}`);
  }
  return v as TransportName;
}

/** Mounts `overlay` with transport `name`; resolves once the mount is usable. */
export function serveWith(name: TransportName, overlay: Overlay, mountpoint: string, opts: TransportOptions): Promise<FuseServer> {
  return name === 'native' ? serveLowLevel(overlay, mountpoint, opts) : serveFuse(overlay, mountpoint, opts);
}

/**
 * What a transport does first as a server starts, while the rest of the
 * start-up runs: the native loop's heap is touched ahead (prefaultHeap).
 * Started later, at the mount, that thread's 70 ms of page faults held up
 * the mount's first requests: a rename(2) right after mounting took
 * 4.1-10.7 ms against 2.1-3.3 without it (strata bench --workloads rename).
 */
export function prepareTransport(name: TransportName): void {
  if (name === 'native') prefaultHeap();
}

/** The transport's own request paths, run once by the warm-up on a scratch overlay (core/warmup.ts). */
export function exerciseTransport(name: TransportName): ((scratch: Overlay) => void) | undefined {
  return name === 'native' ? exerciseSession : undefined;
}
