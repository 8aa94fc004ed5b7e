// mv of a lower directory holding many files. A driver that answers EXDEV
// makes mv copy the whole tree instead; a real rename is one operation.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { loadProgram, sq, timeCommand } from '../timed.ts';

export const renameDir: Workload = {
  id: 'rename',
  metrics: [{ id: 'rename', label: 'rename a lower directory', unit: 'ms', family: 'tree operations' }],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    mkdirSync(path.join(layer, 'src'), { recursive: true });
    const data = Buffer.alloc(256, 'r');
    for (let i = 0; i < sizes.renameFiles; i++) writeFileSync(path.join(layer, 'src', `f${i}`), data);
    return [layer];
  },
  async measure(ctx) {
    // The run starts with cold caches: warm the lower tree, read straight from the layer.
    await timeCommand(`du -s ${sq(path.join(ctx.lowerDirs[0]!, 'src'))}`, ctx.root);
    await loadProgram('mv', ctx.root);
    const ms = await timeCommand('mv src dst', ctx.root);
    const n = (await readdir(path.join(ctx.root, 'dst'))).length;
    if (n !== ctx.sizes.renameFiles) throw new StrataError(`rename: dst/ holds ${n} entries, expected ${ctx.sizes.renameFiles}`);
    return { rename: ms };
  },
};
