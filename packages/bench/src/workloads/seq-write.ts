// Sequential write of a new file as big as the read file (no fsync: the
// page-cache write path of the driver, as a build step's writes are).
//
// On a VM whose balloon reports free pages to the host (virtio-balloon
// free page reporting, as here), memory that has been free for about two
// seconds is given back, and the next writer pays a host fault for every
// page it takes: the same 1 GiB write ran at 0.6-1.3 GB/s after a pause and
// at 4.5-5 GB/s right after another write had been deleted, for every
// driver, so each figure said more about the run's place in the schedule
// than about the driver. Each run therefore first writes and deletes an
// untimed file of the same size outside the mount, and every driver writes
// into memory the guest holds.
//
// That alone left the figures bimodal (in the full runs every fast driver
// wrote at 0.5-1 GB/s in a third to a half of its runs): the balloon's
// reporting pass starts about two seconds after a large amount of memory
// is freed and then gives back everything free at that moment. The runner
// drops the caches (and deletes the last run's file) just before it mounts,
// so that pass could fall between the untimed file's deletion and the timed
// write and take the memory just freed for it. By hand (bare ext4, fio
// 1 GiB: free 1 GiB and drop caches, wait, write and delete 1 GiB, write
// 1 GiB timed): with 0.2-2.2 s of waiting the timed write was slow in 5 of
// 12, with 3.5-4.5 s in 1 of 13. So each run first waits sizes.settleMs
// (4 s; none in --quick, which asserts nothing about speed).
import { rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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
    await sleep(ctx.sizes.settleMs);
    const resident = path.join(ctx.scratch, 'resident.bin');
    await fio({ filename: resident, rw: 'write', bs: '1M', size: ctx.sizes.seqFileBytes }, ctx.scratch);
    await rm(resident);
    const w = await fio({ filename: 'new.bin', rw: 'write', bs: '1M', size: ctx.sizes.seqFileBytes }, ctx.root);
    const st = await stat(path.join(ctx.root, 'new.bin'));
    if (st.size !== ctx.sizes.seqFileBytes) throw new StrataError(`seq-write: new.bin is ${st.size} bytes, expected ${ctx.sizes.seqFileBytes}`);
    return { 'seq-write': w.bwBytesPerSec / 1e6 };
  },
};
