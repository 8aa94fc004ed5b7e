// The remote build cache end to end: machine A (one store root) builds a
// Dockerfile whose FROM is pulled on demand, and exports its cache with
// --cache-to; machine B (another, empty store root) builds the same
// Dockerfile with --cache-from: every step CACHED, the same image digest,
// and the only layers it fetched are the final image's.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../packages/common/src/index.ts';
import { importArchive, openStore } from '../packages/store/src/index.ts';
import { startRegistry, type RegistryServer } from '../packages/registry/test/helpers/registry-server.ts';

const strata = path.resolve('packages/cli/bin/strata.js');
let reg: RegistryServer;
let work: string;

test.before(async () => {
  reg = await startRegistry();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-remote-cache-'));
});
test.after.always(async () => {
  await reg?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('a second store root rebuilds from --cache-from with every step CACHED', async (t) => {
  // The base image lives only in the registry.
  const seed = await openStore(path.join(work, 'seed'));
  await importArchive(seed, path.resolve('fixtures/out/busybox-rootfs.tar'), 'localhost/busybox:latest');
  await run('node', [strata, '--root', seed.root, 'push', 'localhost/busybox:latest', `${reg.host}/base/busybox:1`]);

  const ctx = path.join(work, 'context');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'hello.txt'), 'hello from A\n');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), [
    `FROM ${reg.host}/base/busybox:1`,
    'RUN echo built > /built',
    'COPY hello.txt /hello.txt',
    'ENV GREETING=hi',
    'RUN cat /hello.txt > /copy',
    '',
  ].join('\n'));
  const cacheRef = `${reg.host}/cache/app:buildcache`;

  const rootA = path.join(work, 'a');
  const a = await run('node', [strata, '--root', rootA, '--json', 'build', '--cache-to', cacheRef, '-t', 'localhost/app:1', ctx]);
  const ra = JSON.parse(a.stdout) as { digest: string; executed: number; cached: number };
  t.is(ra.executed, 3, 'A ran both RUNs and the COPY');

  const rootB = path.join(work, 'b');
  const b = await run('node', [strata, '--root', rootB, '--json', 'build', '--cache-from', cacheRef, '-t', 'localhost/app:1', ctx]);
  const rb = JSON.parse(b.stdout) as { digest: string; executed: number; cached: number };
  t.is(rb.executed, 0, `nothing ran on B: ${b.stderr}`);
  t.is(rb.cached, 3);
  t.is(rb.digest, ra.digest, 'the same image, digest for digest');

  // B holds the final image's layers and no other layer.
  const storeB = await openStore(rootB);
  const img = await storeB.resolve('localhost/app:1');
  const layers = new Set(img.manifest.layers.map((l) => l.digest));
  const blobs: string[] = [];
  for await (const info of storeB.content.walk()) blobs.push(info.digest);
  for (const d of blobs.filter((x) => !layers.has(x))) {
    const bytes = await storeB.content.readBlob(d as `sha256:${string}`);
    // Everything else is JSON: manifests, configs, the cache index.
    t.notThrows(() => JSON.parse(bytes.toString('utf8')), `unexpected non-JSON blob ${d}`);
  }
  for (const l of layers) t.true(blobs.includes(l));
  // And the rebuilt image has A's files.
  const check = await run('umoci', ['raw', 'unpack', '--image', `${rootB}:localhost/app:1`, path.join(work, 'rootfs-b')]);
  t.is(check.code, 0);
  t.is(await fs.readFile(path.join(work, 'rootfs-b', 'copy'), 'utf8'), 'hello from A\n');
  t.is(await fs.readFile(path.join(work, 'rootfs-b', 'built'), 'utf8'), 'built\n');
});
