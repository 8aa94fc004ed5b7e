// lstat every file of a lower tree: cold (after drop_caches: lookups go to
// the driver) and warm (the same again: what the kernel's caches give back).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Workload } from '../types.ts';
import { fsopsBinary } from '../tools.ts';
import { makeTree } from '../layers.ts';
import { sq, timeCommand } from '../timed.ts';

export const statFiles: Workload = {
  id: 'stat',
  needsDropCaches: true,
  metrics: [
    { id: 'stat-cold', label: 'stat lower files, cold', unit: 'files/s', family: 'metadata' },
    { id: 'stat-warm', label: 'stat lower files, warm', unit: 'files/s', family: 'metadata' },
  ],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    const files = makeTree([layer], 'tree', sizes.statFiles);
    writeFileSync(path.join(dir, 'list'), files.join('\n') + '\n');
    return [layer];
  },
  async measure(ctx) {
    const cmd = `${sq(await fsopsBinary())} stat ${sq(path.join(ctx.prepDir, 'list'))}`;
    const n = ctx.sizes.statFiles;
    await ctx.dropCaches();
    const cold = await timeCommand(cmd, ctx.root);
    const warm = await timeCommand(cmd, ctx.root);
    return { 'stat-cold': n / (cold / 1000), 'stat-warm': n / (warm / 1000) };
  },
};
