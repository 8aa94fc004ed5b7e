// The remote build cache as an OCI artifact: exported from one store root,
// imported into another, empty one, with the layer blobs it references.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidInput, run, sha256 } from '@strata/common';
import { openStore } from '@strata/store';
import { BuildCacheMediaType, exportCache, importCache, type CacheRecord } from '../src/cache.ts';
import { RegistryClient } from '../src/client.ts';
import { getManifest } from '../src/manifests.ts';
import { pushImage } from '../src/push.ts';
import { startRegistry, type RegistryServer } from './helpers/registry-server.ts';
import { blobSet, makeImage } from './helpers/images.ts';

let reg: RegistryServer;
let work: string;
const fast = { credentials: null, retries: 1, backoffMs: 20 } as const;

test.before(async () => {
  reg = await startRegistry();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-cache-'));
});
test.after.always(async () => {
  await reg?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('cache records and their layers travel between two store roots', async (t) => {
  const a = await openStore(path.join(work, 'a'));
  await makeImage(a, 'localhost/built:1', [{ files: { 'bin/tool': 'v1\n' } }, { files: { 'srv/data': 200_000 }, gzip: true }]);
  const img = await a.resolve('localhost/built:1');
  const [l0, l1] = img.manifest.layers;
  const records: Record<string, CacheRecord> = {
    [sha256('FROM scratch')]: { layer: null, diffId: null, data: { step: 'FROM scratch' } },
    [sha256('COPY tool')]: { layer: l0!, diffId: img.config.rootfs.diff_ids[0]!, data: { step: 'COPY tool /bin/tool' } },
    [sha256('RUN make data')]: { layer: l1!, diffId: img.config.rootfs.diff_ids[1]!, data: { step: 'RUN make data', env: ['A=1'] } },
  };
  const digest = await exportCache(a, `${reg.host}/cache/app:buildcache`, records, fast);

  // It is an OCI artifact other tools can read.
  const client = new RegistryClient(reg.host, fast);
  t.teardown(() => client.close());
  const m = await getManifest(client, 'cache/app', 'buildcache');
  t.is(m.digest, digest);
  t.is(m.json.artifactType, BuildCacheMediaType.artifact);
  const inspect = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/cache/app:buildcache`]);
  t.is(sha256(inspect.stdout), digest);

  const b = await openStore(path.join(work, 'b'));
  t.deepEqual([...await blobSet(b)], []);
  const got = await importCache(b, `${reg.host}/cache/app:buildcache`, fast);
  t.deepEqual(got, records);
  t.true(await b.content.has(l0!.digest));
  t.true(await b.content.has(l1!.digest));

  // Lazy import: the index only.
  const c = await openStore(path.join(work, 'c'));
  t.deepEqual(await importCache(c, `${reg.host}/cache/app:buildcache`, { ...fast, layers: false }), records);
  t.false(await c.content.has(l0!.digest));
});

test('a cache reference that does not exist yet is an empty cache; an image is not a cache', async (t) => {
  const s = await openStore(path.join(work, 'empty'));
  t.deepEqual(await importCache(s, `${reg.host}/cache/none:x`, fast), {});
  await makeImage(s, 'localhost/plain:1', [{ files: { f: 'x' } }]);
  await pushImage(s, 'localhost/plain:1', `${reg.host}/cache/plain:1`, fast);
  await t.throwsAsync(importCache(s, `${reg.host}/cache/plain:1`, fast), { instanceOf: InvalidInput, message: /not a strata build cache/ });
});
