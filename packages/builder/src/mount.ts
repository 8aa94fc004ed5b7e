// The union mount a RUN executes on: the parent's layer dirs (top first)
// under a fresh upper dir. Driver "fuse" is strata's own FUSE overlay
// (@strata/overlay mountOverlay, served by its own process); "kernel" is
// kernel overlayfs via mount(8), the fallback. Both read and write the same
// overlay2 on-disk format, so the upper dir is the layer either way.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { mountOverlay } from '@strata/overlay';
import { llistxattr, lremovexattr } from '@strata/native';

export type MountDriver = 'fuse' | 'kernel';

export interface RootfsMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

/** The driver to use when none is asked for: $STRATA_BUILD_MOUNT, else strata's FUSE overlay. */
export function defaultDriver(): MountDriver {
  const env = process.env.STRATA_BUILD_MOUNT;
  return env === 'kernel' ? 'kernel' : 'fuse';
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
      // allow_other: RUN may execute as any user; dev/suid: images carry device nodes and setuid binaries.
      const h = await mountOverlay(mountpoint, { lowerDirs: lowers, upperDir, workDir, allowOther: true, defaultPermissions: true, noSync: true, dev: true, suid: true });
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
