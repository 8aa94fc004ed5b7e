// unionfs-fuse in copy-on-write mode: branches top first, the upper one RW.
import { run } from '@strata/common';
import type { Driver, DriverProbe, MountSpec, MountedFs } from '../types.ts';
import { unmount, versionLine, waitMounted } from './mounts.ts';

export const unionfsFuse: Driver = {
  name: 'unionfs-fuse',
  async probe(): Promise<DriverProbe> {
    const v = await versionLine('unionfs', ['--version'], /unionfs-fuse version/);
    if (!v) return { available: false, reason: 'unionfs is not installed (apt-get install unionfs-fuse)' };
    return { available: true, version: v.replace(/ version:/, ''), options: '-o cow' };
  },
  async mount(spec: MountSpec): Promise<MountedFs> {
    const branches = [`${spec.upperDir}=RW`, ...spec.lowerDirs.map((d) => `${d}=RO`)].join(':');
    await run('unionfs', ['-o', 'cow', branches, spec.mountpoint]);
    await waitMounted(spec.mountpoint, 'unionfs');
    return { root: spec.mountpoint, unmount: () => unmount(spec.mountpoint) };
  },
};
