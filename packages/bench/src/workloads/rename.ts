// Rename of a lower directory holding many files, two ways:
//  - `rename`: one rename(2), timed by the fsops tool around the call
//    itself. A driver that answers EXDEV leaves a program to copy the tree
//    and delete it: for it the figure is `mv`'s, which does exactly that.
//  - `rename-mv`: `mv` of a second such directory, the program's start
//    included (about 7 ms on a host where a new process is slow to map its
//    memory: more than a real rename costs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { run, StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { fsopsBinary } from '../tools.ts';
import { loadProgram, sq, timeCommand } from '../timed.ts';

/** fsops's exit status when rename(2) answered EXDEV. */
const EXIT_EXDEV = 3;

export const renameDir: Workload = {
  id: 'rename',
  metrics: [
    { id: 'rename', label: 'rename a lower directory (rename(2); EXDEV: mv copies)', unit: 'ms', family: 'tree operations' },
    { id: 'rename-mv', label: 'mv a lower directory (program start included)', unit: 'ms', family: 'tree operations' },
  ],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    const data = Buffer.alloc(256, 'r');
    for (const d of ['src', 'src2']) {
      mkdirSync(path.join(layer, d), { recursive: true });
      for (let i = 0; i < sizes.renameFiles; i++) writeFileSync(path.join(layer, d, `f${i}`), data);
    }
    return [layer];
  },
  async measure(ctx) {
    // The run starts with cold caches: warm the lower trees, read straight from the layer.
    await timeCommand(`du -s ${sq(path.join(ctx.lowerDirs[0]!, 'src'))} ${sq(path.join(ctx.lowerDirs[0]!, 'src2'))}`, ctx.root);
    const res = await run(await fsopsBinary(), ['rename', 'src', 'dst'], { cwd: ctx.root, allowFailure: true });
    let ms: number;
    if (res.code === 0) {
      ms = Number(res.stdout.trim());
      if (!Number.isFinite(ms)) throw new StrataError(`rename: fsops printed ${JSON.stringify(res.stdout)}, not a time`);
    } else if (res.code === EXIT_EXDEV) {
      await loadProgram('mv', ctx.root);
      ms = await timeCommand('mv src dst', ctx.root);
    } else {
      throw new StrataError(`rename: src to dst in ${ctx.root} failed (exit ${res.code ?? res.signal}): ${res.stderr.trim()}`);
    }
    await expectEntries(ctx.root, 'dst', ctx.sizes.renameFiles);
    await loadProgram('mv', ctx.root);
    const mv = await timeCommand('mv src2 dst2', ctx.root);
    await expectEntries(ctx.root, 'dst2', ctx.sizes.renameFiles);
    return { rename: ms, 'rename-mv': mv };
  },
};

async function expectEntries(root: string, dir: string, n: number): Promise<void> {
  const got = (await readdir(path.join(root, dir))).length;
  if (got !== n) throw new StrataError(`rename: ${dir}/ holds ${got} entries, expected ${n}`);
}
