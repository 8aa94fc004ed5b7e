// One metadata request the kernel cannot answer from its caches: getxattr(2)
// of an attribute a lower file does not have (security.capability, which the
// kernel itself asks for before a write), many times over. A FUSE driver pays
// a round trip to its server for each; kernel overlayfs and the plain
// directory a syscall. What every cold lookup, create, unlink or chmod costs
// a FUSE driver at the least (the bench's machine line gives the floor: a
// server that answers at once, fuseprobe).
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { run, StrataError } from '@strata/common';
import type { Workload } from '../types.ts';
import { fsopsBinary } from '../tools.ts';

export const xattrRoundTrip: Workload = {
  id: 'xattr',
  metrics: [{
    id: 'xattr', label: 'getxattr, absent attribute, per call', unit: 'µs', family: 'metadata',
    // (it answers ENOTSUP, after which the kernel never asks it again: no round trip left to time)
    notApplicable: { 'unionfs-fuse': 'unionfs-fuse keeps no extended attributes (getxattr: ENOTSUP)' },
  }],
  async prepare(dir) {
    const layer = path.join(dir, 'l0');
    mkdirSync(layer, { recursive: true });
    writeFileSync(path.join(layer, 'f'), 'x');
    return [layer];
  },
  async measure(ctx) {
    const res = await run(await fsopsBinary(), ['xattr', 'f', String(ctx.sizes.xattrCalls)], { cwd: ctx.root });
    const us = Number(res.stdout.trim());
    if (!(us > 0)) throw new StrataError(`xattr: fsops printed ${JSON.stringify(res.stdout.trim())}, not a time`);
    return { xattr: us };
  },
};
