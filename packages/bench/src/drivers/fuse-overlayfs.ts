// fuse-overlayfs: the FUSE peer with the same options as kernel overlayfs.
import { run } from '@strata/common';
import type { Driver, DriverProbe, MountSpec, MountedFs } from '../types.ts';
import { unmount, versionLine, waitMounted } from './mounts.ts';

export const fuseOverlayfs: Driver = {
  name: 'fuse-overlayfs',
  async probe(): Promise<DriverProbe> {
    const v = await versionLine('fuse-overlayfs', ['--version'], /fuse-overlayfs: version/);
    if (!v) return { available: false, reason: 'fuse-overlayfs is not installed (apt-get install fuse-overlayfs)' };
    return { available: true, version: v.replace(/^fuse-overlayfs: /, 'fuse-overlayfs '), options: 'defaults' };
  },
  async mount(spec: MountSpec): Promise<MountedFs> {
    const opts = `lowerdir=${spec.lowerDirs.join(':')},upperdir=${spec.upperDir},workdir=${spec.workDir}`;
    // fuse-overlayfs daemonises once the mount is up.
    await run('fuse-overlayfs', ['-o', opts, spec.mountpoint]);
    await waitMounted(spec.mountpoint, 'fuse-overlayfs');
    return { root: spec.mountpoint, unmount: () => unmount(spec.mountpoint) };
  },
};
