// Copy-up latency: append one byte to a big lower file, which makes the
// driver copy the whole file to the upper layer first. The lower file's data
// is put in the page cache beforehand (read directly from the layer, not via
// the mount), so the figure is the copy, not the disk.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { makeBigFile } from '../layers.ts';
import { sq, timeCommand } from '../timed.ts';

const FILE = 'cu.bin';

export const copyUp: Workload = {
  id: 'copy-up',
  metrics: [{
    id: 'copy-up', label: 'copy-up: append 1 byte to a big lower file', unit: 'ms', family: 'copy-up',
    notApplicable: { plain: 'a plain directory has no copy-up' },
  }],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    makeBigFile(path.join(layer, FILE), sizes.copyUpFileBytes);
    return [layer];
  },
  async measure(ctx) {
    await timeCommand(`cat ${sq(path.join(ctx.lowerDirs[0]!, FILE))}`, ctx.root);
    // printf is a bash builtin: the time is open(O_APPEND) (the copy-up) + write + close.
    const ms = await timeCommand(`printf x >> ${FILE}`, ctx.root);
    const st = await stat(path.join(ctx.root, FILE));
    if (st.size !== ctx.sizes.copyUpFileBytes + 1) throw new StrataError(`copy-up: ${FILE} is ${st.size} bytes after the append, expected ${ctx.sizes.copyUpFileBytes + 1}`);
    return { 'copy-up': ms };
  },
};
