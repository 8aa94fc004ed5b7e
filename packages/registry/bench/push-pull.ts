// Benchmark (a script, not a test): push and pull an image of --size-mib
// (default 1024) random bytes in 4 layers to a local docker-registry, with
// strata and with `skopeo copy` in the same run, and print throughput and
// the ratio. Each copy goes to a fresh registry (or a fresh store) so
// nothing is skipped as already present. skopeo runs with --preserve-digests
// (and accepts uncompressed layers in oci:) so it copies the same bytes
// rather than gzipping them on the way.
//
// Other helpers' work shares the machine, so each side runs --runs times
// (default 3), alternating which goes first, and the best time counts.
// CPU seconds are printed too: on a busy machine they are the steadier measure.
//
//   node --import tsx packages/registry/bench/push-pull.ts [--size-mib N] [--layers N] [--runs N]
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run, type Digest } from '@strata/common';
import { openStore, MediaType, type Store, type Descriptor } from '@strata/store';
import { pullImage, pushImage } from '../src/index.ts';
import { startRegistry, type RegistryServer } from '../test/helpers/registry-server.ts';

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1024' }, layers: { type: 'string', default: '4' }, runs: { type: 'string', default: '3' } } });
const sizeMiB = Number(values['size-mib']);
const nLayers = Number(values.layers);
const runs = Number(values.runs);

/** A layer tar of one file of `bytes` random bytes, streamed straight into the store. */
async function makeLayer(store: Store, dir: string, i: number, bytes: number): Promise<{ desc: Descriptor; diffId: Digest }> {
  const src = path.join(dir, `src${i}`);
  await fsp.mkdir(src);
  const fd = fs.openSync(path.join(src, `data${i}.bin`), 'w');
  const chunk = 8 << 20;
  for (let off = 0; off < bytes; off += chunk) fs.writeSync(fd, crypto.randomBytes(Math.min(chunk, bytes - off)));
  fs.closeSync(fd);
  const tarFile = path.join(dir, `layer${i}.tar`);
  await run('tar', ['-cf', tarFile, '-C', src, '.']);
  await fsp.rm(src, { recursive: true });
  const w = await store.content.writer();
  await new Promise<void>((resolve, reject) => {
    const r = fs.createReadStream(tarFile, { highWaterMark: 1 << 20 });
    r.on('error', reject);
    w.on('error', reject);
    r.on('end', resolve);
    r.pipe(w, { end: false });
  });
  const info = await w.commit();
  await fsp.rm(tarFile);
  return { desc: { mediaType: MediaType.ociLayer, digest: info.digest, size: info.size }, diffId: info.digest };
}

interface Timing { wall: number; cpu: number }

/** Wall and CPU seconds of an in-process strata operation (the registry's own CPU is not in it). */
async function timed(label: string, fn: () => Promise<unknown>): Promise<Timing> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  const t = { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6 };
  process.stderr.write(`  ${label}: ${t.wall.toFixed(2)} s (cpu ${t.cpu.toFixed(2)} s)\n`);
  return t;
}

/** The same for `skopeo ARGS`: bash's `times` reports the CPU of its finished child. */
async function timedSkopeo(label: string, args: string[]): Promise<Timing> {
  const t0 = process.hrtime.bigint();
  const r = await run('bash', ['-c', 'skopeo "$@" >/dev/null && times', 'bash', ...args]);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const secs = (s: string) => { const m = /(\d+)m([\d.]+)s/.exec(s); return m ? Number(m[1]) * 60 + Number(m[2]) : NaN; };
  const [user = '', sys = ''] = (r.stdout.trim().split('\n')[1] ?? '').split(/\s+/);
  const t = { wall, cpu: secs(user) + secs(sys) };
  process.stderr.write(`  ${label}: ${t.wall.toFixed(2)} s (cpu ${t.cpu.toFixed(2)} s)\n`);
  return t;
}

const better = (a: Timing, b: Timing): Timing => ({ wall: Math.min(a.wall, b.wall), cpu: Math.min(a.cpu, b.cpu) });

async function main(): Promise<void> {
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'strata-regbench-'));
  const registries: RegistryServer[] = [];
  try {
    const store = await openStore(path.join(work, 'store'));
    process.stderr.write(`making a ${sizeMiB} MiB image in ${nLayers} layers...\n`);
    const per = Math.floor((sizeMiB << 20) / nLayers);
    const layers: Array<{ desc: Descriptor; diffId: Digest }> = [];
    for (let i = 0; i < nLayers; i++) layers.push(await makeLayer(store, work, i, per));
    const manifest = await store.putImage(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } },
      layers.map((l) => l.desc),
    );
    await store.tag('localhost/bench:latest', manifest);
    const total = layers.reduce((n, l) => n + l.desc.size, 0);
    const mib = total / (1 << 20);

    const none: Timing = { wall: Infinity, cpu: Infinity };
    const best = { strataPush: none, skopeoPush: none, strataPull: none, skopeoPull: none };
    let same = true;
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`run ${r + 1}/${runs}:\n`);
      const regA = await startRegistry();
      const regB = await startRegistry();
      registries.push(regA, regB);
      const pullRoot = path.join(work, `pulled${r}`);
      const skopeoDir = path.join(work, `skopeo-oci${r}`);
      const strataPush = () => timed('strata push', () => pushImage(store, 'localhost/bench:latest', `${regA.host}/bench:1`));
      const skopeoPush = () => timedSkopeo('skopeo copy oci: -> docker://', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false',
        `oci:${store.root}:localhost/bench:latest`, `docker://${regB.host}/bench:1`]);
      const strataPull = () => timed('strata pull', async () => pullImage(await openStore(pullRoot), `${regA.host}/bench:1`));
      const skopeoPull = () => timedSkopeo('skopeo copy docker:// -> oci:', ['copy', '-q', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false',
        `docker://${regB.host}/bench:1`, `oci:${skopeoDir}:bench`]);
      if (r % 2 === 0) {
        best.strataPush = better(best.strataPush, await strataPush());
        best.skopeoPush = better(best.skopeoPush, await skopeoPush());
        best.strataPull = better(best.strataPull, await strataPull());
        best.skopeoPull = better(best.skopeoPull, await skopeoPull());
      } else {
        best.skopeoPush = better(best.skopeoPush, await skopeoPush());
        best.strataPush = better(best.strataPush, await strataPush());
        best.skopeoPull = better(best.skopeoPull, await skopeoPull());
        best.strataPull = better(best.strataPull, await strataPull());
      }
      const pulled = await openStore(pullRoot);
      same &&= (await pulled.resolve(`${regA.host}/bench:1`)).manifestDescriptor.digest === manifest.digest;
      await Promise.all([regA.stop(), regB.stop()]);
      await fsp.rm(pullRoot, { recursive: true, force: true });
      await fsp.rm(skopeoDir, { recursive: true, force: true });
    }
    const line = (what: string, s: Timing, k: Timing) =>
      `${what.padEnd(6)} strata ${(mib / s.wall).toFixed(0).padStart(5)} MiB/s (${s.wall.toFixed(2)} s, cpu ${s.cpu.toFixed(2)} s)   ` +
      `skopeo ${(mib / k.wall).toFixed(0).padStart(5)} MiB/s (${k.wall.toFixed(2)} s, cpu ${k.cpu.toFixed(2)} s)   ` +
      `strata/skopeo speed ratio ${(k.wall / s.wall).toFixed(2)}, cpu ratio ${(s.cpu / k.cpu).toFixed(2)}`;
    process.stdout.write(`image: ${mib.toFixed(0)} MiB in ${nLayers} layers, manifest ${manifest.digest} (pulled digest identical: ${same}); best of ${runs} runs\n`);
    process.stdout.write(line('push', best.strataPush, best.skopeoPush) + '\n');
    process.stdout.write(line('pull', best.strataPull, best.skopeoPull) + '\n');
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
    await fsp.rm(work, { recursive: true, force: true });
  }
}

await main();
