// Kernel overlayfs (`mount -t overlay`), with the kernel's default options.
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { run } from '@strata/common';
import type { Driver, DriverProbe, MountSpec, MountedFs } from '../types.ts';
import { unmount } from './mounts.ts';

export const kernel: Driver = {
  name: 'kernel',
  async probe(): Promise<DriverProbe> {
    const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
    if (!/\toverlay$/m.test(fs)) {
      // The module may just not be loaded yet.
      await run('modprobe', ['overlay'], { allowFailure: true }).catch(() => undefined);
      const again = await readFile('/proc/filesystems', 'utf8').catch(() => '');
      if (!/\toverlay$/m.test(again)) return { available: false, reason: 'overlay is not in /proc/filesystems (no overlayfs in this kernel)' };
    }
    if (process.getuid?.() !== 0) return { available: false, reason: 'mount -t overlay needs root' };
    return { available: true, version: `overlayfs, Linux ${os.release()}`, options: 'kernel defaults' };
  },
  async mount(spec: MountSpec): Promise<MountedFs> {
    const opts = `lowerdir=${spec.lowerDirs.join(':')},upperdir=${spec.upperDir},workdir=${spec.workDir}`;
    await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, spec.mountpoint]);
    return { root: spec.mountpoint, unmount: () => unmount(spec.mountpoint) };
  },
};
