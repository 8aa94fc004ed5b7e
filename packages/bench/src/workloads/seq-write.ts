// Sequential write of a new file as big as the read file (no fsync: the
// page-cache write path of the driver, as a build step's writes are).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { fio } from '../fio.ts';
import { prepareEmptyLayer } from './empty-layer.ts';

export const seqWrite: Workload = {
  id: 'seq-write',
  layerKey: 'empty',
  metrics: [{ id: 'seq-write', label: 'seq write, new file', unit: 'MB/s', family: 'sequential I/O' }],
  prepare: prepareEmptyLayer,
  async measure(ctx) {
    const w = await fio({ filename: 'new.bin', rw: 'write', bs: '1M', size: ctx.sizes.seqFileBytes }, ctx.root);
    const st = await stat(path.join(ctx.root, 'new.bin'));
    if (st.size !== ctx.sizes.seqFileBytes) throw new StrataError(`seq-write: new.bin is ${st.size} bytes, expected ${ctx.sizes.seqFileBytes}`);
    return { 'seq-write': w.bwBytesPerSec / 1e6 };
  },
};
