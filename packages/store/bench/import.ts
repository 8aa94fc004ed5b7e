// Import benchmark (not a test): generates a layer tar of SIZE_MIB (default
// 1024) and compares `strata import` of it (the CLI, end to end: hash,
// verified blob with fsync, unpack into a snapshot) with the floor of doing
// the same work with standard tools: `tar -x` plus `sha256sum` of the same
// file. Prints throughput, peak RSS of the import, and the ratio.
//
//   node --import tsx packages/store/bench/import.ts [--size-mib N] [--rounds N] [--keep DIR]
//
// Targets: ratio <= 1.5, peak RSS < 200 MiB. Rounds alternate baseline and
// strata so both see the same page cache and machine load; the best round
// of each is reported (the machine is shared, the minimum is the least noisy).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { run } from '@strata/common';
import { encodeHeader, padding, type TarHeader } from '../src/tar-header.ts';

const { values } = parseArgs({
  options: { 'size-mib': { type: 'string' }, rounds: { type: 'string' }, keep: { type: 'string' } },
});
const sizeMiB = Number(values['size-mib'] ?? 1024);
const rounds = Number(values.rounds ?? 2);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(repo, 'packages/cli/bin/strata.js');
const work = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-import-'));
fs.mkdirSync(work, { recursive: true });

function hdr(name: string, type: 'file' | 'dir', size: number): TarHeader {
  return { name, type, size, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeSec: 1_700_000_000, mtimeNsec: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() };
}

/**
 * The layer: 64 directories; 7/8 of the bytes in 1 MiB files, 1/8 in 4 KiB
 * files (many inodes, like a real /usr). Data is random (incompressible,
 * no zero-page shortcuts), sliced from a pool so generation is cheap.
 */
function generate(file: string): { files: number; bytes: number } {
  const pool = randomBytes(8 << 20);
  const fd = fs.openSync(file, 'w');
  let files = 0;
  let bytes = 0;
  const total = sizeMiB << 20;
  const bigBytes = Math.floor(total / 8 * 7 / (1 << 20)) * (1 << 20);
  const emit = (b: Buffer) => { fs.writeSync(fd, b); };
  for (let d = 0; d < 64; d++) emit(encodeHeader(hdr(`d${d}`, 'dir', 0)));
  const add = (size: number) => {
    const off = (files * 4099 * 13) % (pool.length - size);
    emit(encodeHeader(hdr(`d${files % 64}/f${files}`, 'file', size)));
    emit(pool.subarray(off, off + size));
    const pad = padding(size);
    if (pad) emit(Buffer.alloc(pad));
    files++;
    bytes += size;
  };
  while (bytes < bigBytes) add(1 << 20);
  while (bytes < total) add(4096);
  emit(Buffer.alloc(1024));
  fs.closeSync(fd);
  return { files, bytes };
}

/** Runs a command under /usr/bin/time: wall seconds, CPU seconds (user+sys), peak RSS in KiB. */
async function timed(cmd: string, args: string[]): Promise<{ secs: number; cpu: number; rssKiB: number }> {
  const start = process.hrtime.bigint();
  const r = await run('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args]);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const [u, s, m] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { secs, cpu: u! + s!, rssKiB: m! };
}

const layer = path.join(work, 'layer.tar');
process.stdout.write(`generating ${sizeMiB} MiB layer in ${work} ... `);
const gen = generate(layer);
console.log(`${gen.files} files, ${(fs.statSync(layer).size / 2 ** 20).toFixed(0)} MiB tar`);

let bestBase = Infinity;
let bestStrata = Infinity;
let bestBaseCpu = Infinity;
let bestStrataCpu = Infinity;
let peakRss = 0;
for (let i = 0; i < rounds; i++) {
  const x = path.join(work, 'x');
  fs.rmSync(x, { recursive: true, force: true });
  fs.mkdirSync(x);
  await run('sync', []);
  const tarRun = await timed('tar', ['-xf', layer, '-C', x]);
  const shaRun = await timed('sha256sum', [layer]);
  const base = tarRun.secs + shaRun.secs;
  const baseCpu = tarRun.cpu + shaRun.cpu;
  fs.rmSync(x, { recursive: true, force: true });

  const root = path.join(work, 'store');
  fs.rmSync(root, { recursive: true, force: true });
  await run('sync', []);
  const s = await timed(process.execPath, [cli, '--root', root, 'import', layer, 'bench:1']);
  fs.rmSync(root, { recursive: true, force: true });
  bestBase = Math.min(bestBase, base);
  bestStrata = Math.min(bestStrata, s.secs);
  bestBaseCpu = Math.min(bestBaseCpu, baseCpu);
  bestStrataCpu = Math.min(bestStrataCpu, s.cpu);
  peakRss = Math.max(peakRss, s.rssKiB);
  console.log(`round ${i + 1}: tar -x + sha256sum ${base.toFixed(2)} s (cpu ${baseCpu.toFixed(2)} s); strata import ${s.secs.toFixed(2)} s (cpu ${s.cpu.toFixed(2)} s, peak RSS ${(s.rssKiB / 1024).toFixed(0)} MiB)`);
}
const mib = fs.statSync(layer).size / 2 ** 20;
const ratio = bestStrata / bestBase;
console.log(`\nlayer: ${mib.toFixed(0)} MiB, ${gen.files} files; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`baseline (tar -x + sha256sum): ${bestBase.toFixed(2)} s (${(mib / bestBase).toFixed(0)} MiB/s), cpu ${bestBaseCpu.toFixed(2)} s`);
console.log(`strata import:                 ${bestStrata.toFixed(2)} s (${(mib / bestStrata).toFixed(0)} MiB/s), cpu ${bestStrataCpu.toFixed(2)} s (incl. ~1 s of node+tsx start), peak RSS ${(peakRss / 1024).toFixed(0)} MiB`);
console.log(`ratio (wall): ${ratio.toFixed(2)} (target <= 1.5: ${ratio <= 1.5 ? 'met' : 'MISSED'}); ratio (cpu): ${(bestStrataCpu / bestBaseCpu).toFixed(2)}; peak RSS < 200 MiB: ${peakRss / 1024 < 200 ? 'met' : 'MISSED'}`);
if (!values.keep) fs.rmSync(work, { recursive: true, force: true });
