// Untar a source-tree-like archive (mostly small files, a few big ones)
// into a new directory of the mount: the mix a build step's writes have.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { run, StrataError } from '@strata/common';
import type { Sizes, Workload } from '../types.ts';
import { loadProgram, sq, timeCommand } from '../timed.ts';

/** Makes `dir/tree` with about `entries` entries and `bytes` bytes, and returns the number of entries. */
function makeSourceTree(dir: string, sizes: Sizes): number {
  const dirs = Math.max(1, Math.floor(sizes.untarEntries / 50));
  const bigFiles = 10;
  const smallFiles = sizes.untarEntries - dirs - bigFiles;
  const pool = randomBytes(1 << 20);
  let used = 0;
  for (let d = 0; d < dirs; d++) mkdirSync(path.join(dir, 'tree', `m${d % 10}`, `p${d}`), { recursive: true });
  const where = (i: number) => { const d = i % dirs; return path.join(dir, 'tree', `m${d % 10}`, `p${d}`); };
  for (let i = 0; i < smallFiles; i++) {
    // 512 B .. 16 KiB, like source files.
    const size = 512 + ((i * 7919) % (16 * 1024 - 512));
    const off = (i * 4099) % (pool.length - size);
    writeFileSync(path.join(where(i), `s${i}.c`), pool.subarray(off, off + size));
    used += size;
  }
  const bigSize = Math.max(0, Math.floor((sizes.untarBytes - used) / bigFiles));
  for (let b = 0; b < bigFiles; b++) {
    const buf = Buffer.allocUnsafe(bigSize);
    for (let o = 0; o < bigSize; o += pool.length) pool.copy(buf, o, 0, Math.min(pool.length, bigSize - o));
    buf.writeUInt32LE(b, 0);
    writeFileSync(path.join(where(b), `blob${b}.bin`), buf);
  }
  return 1 + Math.min(10, dirs) + dirs + smallFiles + bigFiles;
}

export const untar: Workload = {
  id: 'untar',
  layerKey: 'untar',
  metrics: [{ id: 'untar', label: 'untar a source tree', unit: 'ms', family: 'tree operations' }],
  async prepare(dir, sizes) {
    const layer = path.join(dir, 'l0');
    mkdirSync(layer, { recursive: true });
    const entries = makeSourceTree(path.join(dir, 'src'), sizes);
    await run('tar', ['-cf', path.join(dir, 'tree.tar'), '-C', path.join(dir, 'src'), 'tree']);
    writeFileSync(path.join(dir, 'entries'), String(entries));
    await run('rm', ['-rf', path.join(dir, 'src')]);
    return [layer];
  },
  async measure(ctx) {
    await mkdir(path.join(ctx.root, 'dst'));
    const tarball = path.join(ctx.prepDir, 'tree.tar');
    // Keep the tarball's own reads out of the figure: it is read from the page cache.
    await timeCommand(`cat ${sq(tarball)}`, ctx.root);
    await loadProgram('tar', ctx.root);
    const ms = await timeCommand(`tar -xf ${sq(tarball)} -C dst`, ctx.root);
    const count = (await run('sh', ['-c', 'find dst/tree | wc -l'], { cwd: ctx.root })).stdout.trim();
    const want = readFileSync(path.join(ctx.prepDir, 'entries'), 'utf8').trim();
    if (count !== want) throw new StrataError(`untar: ${count} entries under dst/tree, expected ${want}`);
    return { untar: ms };
  },
};
