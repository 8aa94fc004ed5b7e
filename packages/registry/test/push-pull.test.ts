// strata push / pull against a real docker-registry, checked with skopeo and
// umoci: digests survive both directions, rootfs is identical, indexes give
// the machine's platform, and the fault cases behave.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DigestMismatch, run, sha256, type Digest } from '@strata/common';
import { openStore, MediaType, type Store } from '@strata/store';
import { RegistryClient } from '../src/client.ts';
import { uploadBlob } from '../src/blobs.ts';
import { putManifest } from '../src/manifests.ts';
import { pushImage } from '../src/push.ts';
import { pullImage } from '../src/pull.ts';
import { RegistryError } from '../src/errors.ts';
import type { Progress } from '../src/progress.ts';
import { startRegistry, type RegistryServer } from './helpers/registry-server.ts';
import { startProxy, type Proxy } from './helpers/proxy.ts';
import { blobSet, makeImage } from './helpers/images.ts';

const BUSYBOX_TAR = path.resolve('fixtures/out/busybox-rootfs.tar');
let reg: RegistryServer;
let work: string;
const cleanup: Array<() => Promise<void>> = [];
const fast = { credentials: null, retries: 1, backoffMs: 20 } as const;

test.before(async () => {
  reg = await startRegistry();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-pushpull-'));
});
test.after.always(async () => {
  for (const c of cleanup) await c().catch(() => undefined);
  await reg?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function newStore(name: string): Promise<Store> {
  return openStore(path.join(work, name));
}

async function ociManifestDigest(layoutDir: string): Promise<Digest> {
  const index = JSON.parse(await fs.readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: Digest }> };
  return index.manifests[0]!.digest;
}

test('strata push, then skopeo copy to oci: same manifest digest and same rootfs', async (t) => {
  const store = await newStore('push-skopeo');
  const local = await makeImage(store, 'localhost/t/img:v1', [
    { tarFile: BUSYBOX_TAR },
    { files: { 'etc/motd': 'hello from strata\n', 'srv/data.bin': 100_000 }, gzip: true },
  ]);
  const res = await pushImage(store, 'localhost/t/img:v1', `${reg.host}/t/img:v1`, fast);
  t.is(res.digest, local.digest);
  t.is(res.transferred.length, 3);

  const oci = path.join(work, 'skopeo-out');
  await run('skopeo', ['copy', '-q', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${reg.host}/t/img:v1`, `oci:${oci}:img`]);
  t.is(await ociManifestDigest(oci), local.digest);

  const a = path.join(work, 'rootfs-strata');
  const b = path.join(work, 'rootfs-skopeo');
  await run('umoci', ['raw', 'unpack', '--image', `${store.root}:localhost/t/img:v1`, a]);
  await run('umoci', ['raw', 'unpack', '--image', `${oci}:img`, b]);
  const d = await run('diff', ['-r', '--no-dereference', a, b], { allowFailure: true });
  t.is(d.code, 0, d.stdout);
  t.is(await fs.readFile(path.join(b, 'etc/motd'), 'utf8'), 'hello from strata\n');

  // A second push sends nothing but the manifest.
  const again = await pushImage(store, 'localhost/t/img:v1', `${reg.host}/t/img:v1`, fast);
  t.deepEqual(again.transferred, []);
  t.is(again.present.length, 3);
  // To another repository of the same registry the blobs are mounted, not sent.
  const other = await pushImage(store, 'localhost/t/img:v1', `${reg.host}/t/copy:v1`, { ...fast, mountFrom: ['t/img'] });
  t.deepEqual(other.transferred, []);
  t.is(other.mounted.length, 3);
});

test('an image made by umoci, pushed by skopeo, pulled by strata keeps its digest', async (t) => {
  const layout = path.join(work, 'umoci-layout');
  const bundle = path.join(work, 'umoci-bundle');
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:base`]);
  await run('umoci', ['unpack', '--image', `${layout}:base`, bundle]);
  await fs.mkdir(path.join(bundle, 'rootfs', 'app'), { recursive: true });
  await fs.writeFile(path.join(bundle, 'rootfs', 'app', 'hello.txt'), 'made elsewhere\n');
  await run('umoci', ['repack', '--image', `${layout}:base`, bundle]);
  const digest = await ociManifestDigest(layout);
  await run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${reg.host}/else/img:1`]);

  const store = await newStore('pull-umoci');
  const res = await pullImage(store, `${reg.host}/else/img:1`, fast);
  t.is(res.descriptor.digest, digest);
  t.is(res.name, `${reg.host}/else/img:1`);
  const resolved = await store.resolve(`${reg.host}/else/img:1`);
  t.is(resolved.manifestDescriptor.digest, digest);
  for (const l of resolved.manifest.layers) t.true(await store.content.has(l.digest));
  // And by digest: tagged with the digest since there is no tag.
  const byDigest = await pullImage(store, `${reg.host}/else/img@${digest}`, fast);
  t.is(byDigest.descriptor.digest, digest);
  t.deepEqual(byDigest.transferred, []);
  t.is(byDigest.name, `${reg.host}/else/img:sha256-${digest.slice(7)}`);

  // The same image as a Docker schema 2 manifest (skopeo converts): read and kept as is.
  await run('skopeo', ['copy', '-q', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layout}:base`, `docker://${reg.host}/else/docker:1`]);
  const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/else/docker:1`]);
  const docker = await pullImage(store, `${reg.host}/else/docker:1`, fast);
  t.is(docker.descriptor.mediaType, MediaType.dockerManifest);
  t.is(docker.descriptor.digest, sha256(raw.stdout));
  t.is((await store.resolve(`${reg.host}/else/docker:1`)).manifestDescriptor.digest, docker.descriptor.digest);
});

test('a multi-platform index gives the linux/amd64 image', async (t) => {
  const store = await newStore('index-src');
  const amd = await makeImage(store, 'localhost/multi:amd64', [{ files: { 'arch': 'amd64\n' } }]);
  await pushImage(store, 'localhost/multi:amd64', `${reg.host}/multi/img:amd64`, fast);
  const client = new RegistryClient(reg.host, fast);
  t.teardown(() => client.close());
  // A second, arm64 image made by hand: config only.
  const cfg = Buffer.from(JSON.stringify({ architecture: 'arm64', variant: 'v8', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  await uploadBlob(client, 'multi/img', { digest: sha256(cfg), size: cfg.length }, () => Readable.from([cfg]));
  const arm = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256(cfg), size: cfg.length }, layers: [] }));
  await putManifest(client, 'multi/img', sha256(arm), arm, MediaType.ociManifest);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      { mediaType: MediaType.ociManifest, digest: sha256(arm), size: arm.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      { mediaType: MediaType.ociManifest, digest: amd.digest, size: amd.size, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  }));
  await putManifest(client, 'multi/img', 'latest', index, MediaType.ociIndex);

  const dest = await newStore('index-dest');
  const res = await pullImage(dest, `${reg.host}/multi/img:latest`, fast);
  t.is(res.descriptor.digest, amd.digest);
  t.is(res.config.architecture, 'amd64');
  const armRes = await pullImage(dest, `${reg.host}/multi/img:latest`, { ...fast, platform: { os: 'linux', architecture: 'arm64' }, tag: `${reg.host}/multi/img:arm` });
  t.is(armRes.descriptor.digest, sha256(arm));
  await t.throwsAsync(pullImage(dest, `${reg.host}/multi/img:latest`, { ...fast, platform: { os: 'linux', architecture: 's390x' } }), { message: /no image for platform linux\/s390x.*linux\/arm64\/v8, linux\/amd64/ });
});

test('registry killed mid-push: the next push sends only what is missing', async (t) => {
  const r = await startRegistry();
  cleanup.push(() => r.stop());
  const store = await newStore('kill');
  const img = await makeImage(store, 'localhost/kill:1', [
    { files: { a: 3_000_000 } }, { files: { b: 3_000_000 } }, { files: { c: 3_000_000 } },
  ]);
  const manifest = (await store.resolve('localhost/kill:1')).manifest;
  const [l0, l1] = manifest.layers;
  let killed: Promise<void> | undefined;
  const killer: Progress = {
    start() {}, finish() {}, note() {}, close() {},
    advance(id) {
      // Bytes of the second layer are on the wire: crash the registry now.
      if (!killed && l1!.digest.includes(id)) killed = r.kill();
    },
  };
  const err = await t.throwsAsync(pushImage(store, 'localhost/kill:1', `${r.host}/kill/img:1`, { ...fast, concurrency: 1, progress: killer }));
  t.true(err instanceof RegistryError, String(err));
  await killed;

  const again = await startRegistry({ dataDir: r.dataDir, port: r.port });
  cleanup.push(() => again.stop());
  const res = await pushImage(store, 'localhost/kill:1', `${r.host}/kill/img:1`, { ...fast, concurrency: 1 });
  t.is(res.digest, img.digest);
  t.deepEqual(res.present, [l0!.digest], 'the layer pushed before the crash is not sent again');
  t.true(res.transferred.includes(l1!.digest));
  t.is(res.transferred.length, 3, 'second and third layer, and the config');
  const check = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${r.host}/kill/img:1`]);
  t.is(sha256(check.stdout), img.digest);
});

test('a corrupted blob fails the pull naming the blob, and nothing enters the store', async (t) => {
  const src = await newStore('corrupt-src');
  await makeImage(src, 'localhost/c:1', [{ files: { ok: 50_000 } }, { files: { bad: 400_000 } }]);
  await pushImage(src, 'localhost/c:1', `${reg.host}/corrupt/img:1`, fast);
  const bad = (await src.resolve('localhost/c:1')).manifest.layers[1]!;
  const proxy: Proxy = await startProxy(reg.port, { corruptBlob: bad.digest });
  cleanup.push(() => proxy.stop());
  const dest = await newStore('corrupt-dest');
  const before = await blobSet(dest);
  const e = await t.throwsAsync(pullImage(dest, `${proxy.host}/corrupt/img:1`, fast), { instanceOf: DigestMismatch });
  t.true(e!.message.includes(bad.digest), e!.message);
  t.deepEqual(await blobSet(dest), before);
  t.deepEqual(await dest.images(), []);
  const ingest = await fs.readdir(path.join(dest.root, 'ingest')).catch(() => []);
  t.deepEqual(ingest, [], 'no ingest left behind');
});

test('pull through a dropped connection resumes and still verifies', async (t) => {
  const src = await newStore('resume-src');
  await makeImage(src, 'localhost/r:1', [{ files: { big: 3_000_000 } }]);
  const pushed = await pushImage(src, 'localhost/r:1', `${reg.host}/resume/img:1`, fast);
  const layer = (await src.resolve('localhost/r:1')).manifest.layers[0]!;
  const proxy = await startProxy(reg.port, { dropBlob: { digest: layer.digest, afterBytes: 1_000_000, times: 1 } });
  cleanup.push(() => proxy.stop());
  const dest = await newStore('resume-dest');
  const res = await pullImage(dest, `${proxy.host}/resume/img:1`, fast);
  t.is(res.descriptor.digest, pushed.digest);
  t.true(proxy.requests.some((r) => r.includes(layer.digest) && r.endsWith(' 206')));
  t.true(await dest.content.has(layer.digest));
});

test('layers go up and down concurrently, never more than --concurrency at once', async (t) => {
  const proxy = await startProxy(reg.port);
  cleanup.push(() => proxy.stop());
  const src = await newStore('concurrency-src');
  const layers = Array.from({ length: 6 }, (_, i) => ({ files: { [`f${i}`]: 1_500_000 } }));
  const img = await makeImage(src, 'localhost/conc:1', layers);
  await pushImage(src, 'localhost/conc:1', `${proxy.host}/conc/img:1`, { ...fast, concurrency: 2 });
  t.true(proxy.maxBlobsInFlight <= 2, `push: ${proxy.maxBlobsInFlight} in flight`);
  const up = proxy.maxBlobsInFlight;
  const dest = await newStore('concurrency-dest');
  const res = await pullImage(dest, `${proxy.host}/conc/img:1`, { ...fast, concurrency: 3 });
  t.is(res.descriptor.digest, img.digest);
  t.is(res.transferred.length, 6);
  t.true(proxy.maxBlobsInFlight <= 3, `pull: ${proxy.maxBlobsInFlight} in flight`);
  t.true(Math.max(up, proxy.maxBlobsInFlight) >= 2, 'transfers did overlap');
});
