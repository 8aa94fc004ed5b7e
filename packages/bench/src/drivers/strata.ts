// strata's own FUSE overlay, through @strata/overlay's mountOverlay(), which
// runs the server in a process of its own (the benchmark's measured commands
// are other child processes still). Until the overlay package exports
// mountOverlay, the driver reports itself as skipped with the reason.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Driver, DriverProbe, MountSpec, MountedFs } from '../types.ts';
import { unmount } from './mounts.ts';

interface OverlayModule {
  statsFileFor?: (mountpoint: string) => string;
  mountOverlay?: (mountpoint: string, opts: { lowerDirs: string[]; upperDir?: string; workDir?: string; noSync?: boolean; transport?: string; lowerPassthrough?: boolean; dirCache?: string }) =>
    Promise<{ mountpoint: string; pid: number; unmount(): Promise<void> }>;
}

let loaded: Promise<OverlayModule | Error> | undefined;
function load(): Promise<OverlayModule | Error> {
  // A literal specifier, so that the CLI's esbuild bundle carries the overlay
  // (a computed one left it to Node, which cannot load the .ts sources).
  loaded ??= import('@strata/overlay').then((m) => m as OverlayModule, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  return loaded;
}

function overlayVersion(): string {
  try {
    const pkg = new URL('../../../overlay/package.json', import.meta.url);
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

// A build mount's options (DESIGN: build mounts need not fsync copy-ups; the
// layer is committed afterwards). fuse-overlayfs does not fsync copy-ups
// either; kernel overlayfs does, and its figure says so.
const OPTIONS = 'nosync: copy-ups not fsynced, like fuse-overlayfs; kernel overlayfs fsyncs them; ' +
  "dircache (the default): lower directories' names kept from one mount of a stack to the next, in the benchmark's data dir " +
  '(a stack\'s first mounts, and directories changed less than 2 s before, read every directory from its layers)';

/** What the lower_passthrough setting means for the figures (strata's default is on). */
function passthroughText(lowerPassthrough: boolean | undefined): string {
  if (lowerPassthrough === false) return 'lower_passthrough=off: lower files page cached by FUSE';
  return `lower_passthrough${lowerPassthrough === undefined ? ' (the default)' : ''}: lower files read through FUSE passthrough`;
}

/** Asks the server for its per-operation stats (it writes them on SIGUSR2) and reads them. */
async function serverStats(pid: number, file: string): Promise<unknown> {
  const before = await stat(file).then((s) => s.mtimeMs, () => 0);
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return undefined;
  }
  for (let i = 0; i < 100; i++) {
    const now = await stat(file).then((s) => s.mtimeMs, () => 0);
    if (now !== before) return JSON.parse(await readFile(file, 'utf8')) as unknown;
    await sleep(20);
  }
  return undefined;
}

/** strata's FUSE transports (packages/overlay/src/fuse/select.ts). */
export type StrataTransport = 'native' | 'fuse-native';

/**
 * The strata driver. `transport` picks the FUSE transport; absent, strata's
 * own choice applies ($STRATA_FUSE_TRANSPORT, else its default), as for
 * `strata mount`. `lowerPassthrough` mounts with -o lower_passthrough=on|off;
 * absent, strata's default applies (on).
 */
export function strataDriver(transport?: StrataTransport, lowerPassthrough?: boolean): Driver {
  const transportText = transport ?? (process.env.STRATA_FUSE_TRANSPORT ? `${process.env.STRATA_FUSE_TRANSPORT} (from STRATA_FUSE_TRANSPORT)` : 'the default');
  return {
    name: 'strata',
    async probe(): Promise<DriverProbe> {
      const m = await load();
      if (m instanceof Error) {
        return { available: false, reason: `@strata/overlay failed to load: ${m.message.split('\n')[0]}` };
      }
      if (typeof m.mountOverlay !== 'function') return { available: false, reason: '@strata/overlay does not export mountOverlay yet' };
      return { available: true, version: `strata ${overlayVersion()}, FUSE transport: ${transportText}`, options: `${OPTIONS}; ${passthroughText(lowerPassthrough)}` };
    },
    async mount(spec: MountSpec): Promise<MountedFs> {
      const m = await load();
      if (m instanceof Error || typeof m.mountOverlay !== 'function') throw new Error('strata: overlay not available');
      const handle = await m.mountOverlay(spec.mountpoint, {
        lowerDirs: spec.lowerDirs, upperDir: spec.upperDir, workDir: spec.workDir, noSync: true, ...(transport ? { transport } : {}),
        ...(lowerPassthrough !== undefined ? { lowerPassthrough } : {}),
        // Kept with the benchmark's data (and deleted with it), not in the host's cache.
        ...(spec.stateDir ? { dirCache: path.join(spec.stateDir, 'strata-dircache') } : {}),
      });
      return {
        root: spec.mountpoint,
        async diagnostics() {
          return m.statsFileFor ? serverStats(handle.pid, m.statsFileFor(spec.mountpoint)) : undefined;
        },
        async unmount() {
          try {
            await handle.unmount();
          } finally {
            await unmount(spec.mountpoint);
          }
        },
      };
    },
  };
}

export const strata: Driver = strataDriver();
