// The physical limit: no union at all, just the merged contents in one
// ordinary directory. "Mounting" hard-links the lower layers' files into a
// fresh directory (bottom layer first, so upper layers win), which is cheap
// and reads the very same inodes; it is therefore not offered for metrics
// that modify a lower file's data in place (that would change the layer).
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { run } from '@strata/common';
import type { Driver, DriverProbe, MountSpec, MountedFs } from '../types.ts';

export const plain: Driver = {
  name: 'plain',
  async probe(): Promise<DriverProbe> {
    return { available: true, version: 'plain directory', options: 'the layers hard-linked into one directory' };
  },
  async mount(spec: MountSpec): Promise<MountedFs> {
    const root = path.join(spec.upperDir, 'merged');
    await mkdir(root, { recursive: true });
    for (const lower of [...spec.lowerDirs].reverse()) {
      await run('cp', ['-al', '--remove-destination', `${lower}/.`, `${root}/`]);
    }
    return { root, async unmount() { /* the runner empties upperDir */ } };
  },
};
