// The union mount a RUN executes on: the parent's layer dirs (top first)
// under a fresh upper dir. Driver "fuse" is strata's own FUSE overlay
// (@strata/overlay mountOverlay, served by its own process); "kernel" is
// kernel overlayfs via mount(8), the fallback. Both read and write the same
// overlay2 on-disk format, so the upper dir is the layer either way.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StrataError, run } from '@strata/common';
import { llistxattr, lremovexattr } from '@strata/native';

export type MountDriver = 'fuse' | 'kernel';

export interface RootfsMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

interface OverlayModule {
  mountOverlay?: (mountpoint: string, opts: Record<string, unknown>) => Promise<{ unmount(): Promise<void> }>;
}

/** The FUSE overlay's mount function, if @strata/overlay provides it yet. */
async function fuseMounter(): Promise<OverlayModule['mountOverlay']> {
  try {
    // A computed specifier: the overlay may not export mountOverlay yet in every checkout.
    const spec = '@strata/overlay';
    const mod = (await import(spec)) as OverlayModule;
    return typeof mod.mountOverlay === 'function' ? mod.mountOverlay : undefined;
  } catch {
    return undefined;
  }
}

/** The driver to use when none is asked for: fuse if available, else kernel. */
export async function defaultDriver(): Promise<MountDriver> {
  const env = process.env.STRATA_BUILD_MOUNT;
  if (env === 'kernel' || env === 'fuse') return env;
  return (await fuseMounter()) ? 'fuse' : 'kernel';
}

/** Mounts lowerDirs (top first) + upperDir/workDir on a new temp dir. */
export async function mountRootfs(driver: MountDriver, lowerDirs: string[], upperDir: string, workDir: string): Promise<RootfsMount> {
  const mountpoint = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-rootfs-'));
  let lowers = lowerDirs;
  let emptyLower: string | undefined;
  if (lowers.length === 0) {
    // FROM scratch: overlayfs needs at least one lower dir.
    emptyLower = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-empty-'));
    lowers = [emptyLower];
  }
  const cleanup = async (): Promise<void> => {
    await fs.rmdir(mountpoint).catch(() => {});
    if (emptyLower) await fs.rmdir(emptyLower).catch(() => {});
  };
  try {
    if (driver === 'fuse') {
      const mountOverlay = await fuseMounter();
      if (!mountOverlay) throw new StrataError('the FUSE overlay (@strata/overlay mountOverlay) is not available; use STRATA_BUILD_MOUNT=kernel');
      const h = await mountOverlay(mountpoint, { lowerDirs: lowers, upperDir, workDir, allowOther: true, defaultPermissions: true, noSync: true });
      return { mountpoint, unmount: async () => { await h.unmount(); await cleanup(); } };
    }
    const opts = `lowerdir=${lowers.join(':')},upperdir=${upperDir},workdir=${workDir},index=off,metacopy=off,redirect_dir=off,xino=off`;
    await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, mountpoint]);
    return {
      mountpoint,
      unmount: async () => {
        await run('umount', [mountpoint]);
        await stripOverlayXattrs(upperDir);
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Kernel overlayfs leaves bookkeeping xattrs (trusted.overlay.origin,
 * .impure, ...) on what it copied up; only .opaque belongs in a layer.
 * Walks the upper dir, which holds only what the RUN changed.
 */
async function stripOverlayXattrs(dir: string): Promise<void> {
  const visit = async (p: string): Promise<void> => {
    for (const name of llistxattr(p)) {
      if (name.startsWith('trusted.overlay.') && name !== 'trusted.overlay.opaque') lremovexattr(p, name);
    }
    const st = await fs.lstat(p);
    if (st.isDirectory()) for (const n of await fs.readdir(p)) await visit(path.join(p, n));
  };
  await visit(dir);
}
