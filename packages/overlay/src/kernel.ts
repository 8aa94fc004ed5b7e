// Kernel overlayfs, for tests, comparisons and as the builder's fallback:
// the same OverlayOptions mounted with mount(2) via mount(8) (root only).
import fs from 'node:fs';
import path from 'node:path';
import { run } from '@strata/common';
import type { MountHandle, OverlayOptions } from './types.ts';

/** The kernel's option string: it has no escapes for ':' or ',' in paths, so such paths are refused. */
export function kernelOptions(opts: OverlayOptions, extra: string[] = []): string {
  const all = [...opts.lowerDirs, opts.upperDir ?? '', opts.workDir ?? ''];
  for (const p of all) if (/[:,]/.test(p)) throw new Error(`kernel overlayfs cannot take a path with ':' or ',': ${p}`);
  const parts = [`lowerdir=${opts.lowerDirs.map((d) => path.resolve(d)).join(':')}`];
  if (opts.upperDir) parts.push(`upperdir=${path.resolve(opts.upperDir)}`, `workdir=${path.resolve(opts.workDir!)}`);
  return [...parts, ...extra].join(',');
}

/** Mounts kernel overlayfs at `mountpoint`; unmount() detaches it. `extra` adds options such as redirect_dir=on. */
export async function mountKernelOverlay(mountpoint: string, opts: OverlayOptions, extra: string[] = []): Promise<MountHandle> {
  const mp = path.resolve(mountpoint);
  fs.mkdirSync(mp, { recursive: true });
  const o = kernelOptions(opts, [...(opts.readOnly ? ['ro'] : []), ...extra]);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', o, mp]);
  return {
    mountpoint: mp,
    pid: 0,
    async unmount() {
      await run('umount', [mp]);
    },
  };
}
