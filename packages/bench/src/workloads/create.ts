// Create many small files (1 KiB each) in a new directory of the mount.
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { fsopsBinary } from '../tools.ts';
import { sq, timeCommand } from '../timed.ts';
import { prepareEmptyLayer } from './empty-layer.ts';

export const create: Workload = {
  id: 'create',
  layerKey: 'empty',
  metrics: [{ id: 'create', label: 'create small files', unit: 'files/s', family: 'metadata' }],
  prepare: prepareEmptyLayer,
  async measure(ctx) {
    const bin = await fsopsBinary();
    await mkdir(path.join(ctx.root, 'new'));
    const n = ctx.sizes.createFiles;
    const ms = await timeCommand(`${sq(bin)} create new ${n} 1024`, ctx.root);
    const got = (await readdir(path.join(ctx.root, 'new'))).length;
    if (got !== n) throw new StrataError(`create: ${got} files in new/, expected ${n}`);
    return { create: n / (ms / 1000) };
  },
};
