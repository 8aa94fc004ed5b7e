// Sequential read of a big lower file: first cold (after drop_caches, so it
// comes from the disk through the driver), then hot (the same file again, as
// much of it as the driver lets the page cache keep).
import type { Workload } from '../types.ts';
import { fio } from '../fio.ts';
import { BIG_FILE, prepareBigFile } from './big-file.ts';

export const seqRead: Workload = {
  id: 'seq-read',
  layerKey: 'big-file',
  needsDropCaches: true,
  metrics: [
    { id: 'seq-read-cold', label: 'seq read, cold', unit: 'MB/s', family: 'sequential I/O' },
    { id: 'seq-read-hot', label: 'seq read, hot', unit: 'MB/s', family: 'sequential I/O' },
  ],
  prepare: prepareBigFile,
  async measure(ctx) {
    const job = { filename: BIG_FILE, rw: 'read' as const, bs: '1M', size: ctx.sizes.seqFileBytes };
    await ctx.dropCaches();
    const cold = await fio(job, ctx.root);
    const hot = await fio({ ...job, invalidate: false }, ctx.root);
    return { 'seq-read-cold': cold.bwBytesPerSec / 1e6, 'seq-read-hot': hot.bwBytesPerSec / 1e6 };
  },
};
