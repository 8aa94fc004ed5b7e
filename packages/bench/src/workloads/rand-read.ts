// Random 4 KiB reads of a big lower file whose data is already cached
// (read once through the mount first): the per-request cost of the driver.
import type { Workload } from '../types.ts';
import { fio } from '../fio.ts';
import { timeCommand } from '../timed.ts';
import { BIG_FILE, prepareBigFile } from './big-file.ts';

export const randRead: Workload = {
  id: 'rand-read',
  layerKey: 'big-file',
  metrics: [{ id: 'rand-read-hot', label: 'random 4k read, hot', unit: 'IOPS', family: 'random read' }],
  prepare: prepareBigFile,
  async measure(ctx) {
    await timeCommand(`cat ${BIG_FILE}`, ctx.root);
    const r = await fio({ filename: BIG_FILE, rw: 'randread', bs: '4k', size: ctx.sizes.seqFileBytes, invalidate: false, runtimeSec: ctx.sizes.fioRuntimeSec }, ctx.root);
    return { 'rand-read-hot': r.iops };
  },
};
