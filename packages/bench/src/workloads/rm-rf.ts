// rm -rf of a lower tree: a whiteout (or its equivalent) per entry.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { makeTree } from '../layers.ts';
import { loadProgram, sq, timeCommand } from '../timed.ts';

export const rmRf: Workload = {
  id: 'rm-rf',
  metrics: [{ id: 'rm-rf', label: 'rm -rf a lower tree', unit: 'ms', family: 'tree operations' }],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    makeTree([layer], 'tree', sizes.rmFiles);
    return [layer];
  },
  async measure(ctx) {
    // The run starts with cold caches: warm the lower tree, read straight from the layer.
    await timeCommand(`du -s ${sq(path.join(ctx.lowerDirs[0]!, 'tree'))}`, ctx.root);
    await loadProgram('rm', ctx.root);
    const ms = await timeCommand('rm -rf tree', ctx.root);
    const gone = await access(path.join(ctx.root, 'tree')).then(() => false, () => true);
    if (!gone) throw new StrataError('rm-rf: tree/ is still visible after rm -rf');
    return { 'rm-rf': ms };
  },
};
