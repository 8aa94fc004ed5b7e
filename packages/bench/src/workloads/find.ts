// `find` over a tree of many files spread across 1, 8 or 32 lower layers
// (every layer holds the whole directory skeleton, as image layers do): how
// the driver's directory merging scales with layer depth, cold and warm.
import path from 'node:path';
import { run, StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { makeTree } from '../layers.ts';
import { timeCommand } from '../timed.ts';

export const FIND_FAMILY = 'find';

export function findWorkload(layers: number): Workload {
  return {
    id: `find-${layers}`,
    needsDropCaches: true,
    metrics: [
      { id: `find-${layers}-cold`, label: `find, ${layers} layer${layers > 1 ? 's' : ''}, cold`, unit: 'ms', family: FIND_FAMILY },
      { id: `find-${layers}-warm`, label: `find, ${layers} layer${layers > 1 ? 's' : ''}, warm`, unit: 'ms', family: FIND_FAMILY },
    ],
    async prepare(dir, sizes) {
      const dirs = Array.from({ length: layers }, (_, i) => path.join(dir, `l${i}`));
      makeTree(dirs, 'tree', sizes.findFiles);
      return dirs;
    },
    async measure(ctx) {
      await ctx.dropCaches();
      const cold = await timeCommand('find .', ctx.root);
      const warm = await timeCommand('find .', ctx.root);
      // A driver that loses entries would look fast: count them once, untimed.
      const count = (await run('sh', ['-c', 'find tree -type f | wc -l'], { cwd: ctx.root })).stdout.trim();
      if (Number(count) !== ctx.sizes.findFiles) throw new StrataError(`find-${layers}: ${count} files under tree/, expected ${ctx.sizes.findFiles}`);
      return { [`find-${layers}-cold`]: cold, [`find-${layers}-warm`]: warm };
    },
  };
}
