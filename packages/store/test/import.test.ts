// import/export of OCI layout and docker save tars; bad archives leave the
// store exactly as it was; gc and fsck.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInput, run, UsageError } from '@strata/common';
import { exportImage, fsck, gc, importArchive, openStore, type FsStore } from '../src/index.ts';
import { makeTar, tmpDir } from './helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const busybox = path.join(repo, 'fixtures/out/busybox-rootfs.tar');

/** Every path and size under the store root except the lock and tmp: "the store as it was". */
function storeState(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(root, r));
      out.push(`${r} ${st.isDirectory() ? 'd' : st.size}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

async function storeWithBusybox(t: import('ava').ExecutionContext): Promise<FsStore> {
  const store = await openStore(path.join(tmpDir(t), 'store'));
  await importArchive(store, busybox, 'busybox');
  return store;
}

test('OCI and docker archives round-trip through export and import, and through skopeo', async (t) => {
  const store = await storeWithBusybox(t);
  const tmp = tmpDir(t);
  const oci = path.join(tmp, 'bb-oci.tar');
  const docker = path.join(tmp, 'bb-docker.tar');
  const src = await store.resolve('busybox');
  await exportImage(store, 'busybox', oci, 'oci');
  await exportImage(store, 'busybox', docker, 'docker');
  // skopeo reads both, and re-packs the OCI one in its own way (gzip layers).
  const viaSkopeo = path.join(tmp, 'skopeo.tar');
  await run('skopeo', ['copy', '--dest-compress', `oci-archive:${oci}`, `oci-archive:${viaSkopeo}:sk:v1`]);
  t.is(JSON.parse((await run('skopeo', ['inspect', `docker-archive:${docker}`])).stdout).Layers.length, 1);
  const bareTag = path.join(tmp, 'bare.tar');
  await run('skopeo', ['copy', `oci-archive:${oci}`, `oci-archive:${bareTag}:v7`]);
  const zst = path.join(tmp, 'bb-oci.tar.zst');
  await run('sh', ['-c', `zstd -q -c ${oci} > ${zst}`]);

  const other = await openStore(path.join(tmp, 'other'));
  t.deepEqual((await importArchive(other, oci)).images.map((i) => i.name), ['localhost/busybox:latest']);
  const d = await importArchive(other, docker, 'fromdocker:1');
  t.is(d.kind, 'docker');
  t.is(d.images[0]!.descriptor.digest, src.manifestDescriptor.digest, 'same blobs, same manifest');
  const s = await importArchive(other, viaSkopeo);
  t.deepEqual(s.images.map((i) => i.name), ['localhost/sk:v1']);
  t.deepEqual((await importArchive(other, bareTag)).images.map((i) => i.name), ['localhost/bare:v7'], 'a bare-tag ref.name tags the file name');
  const z = await importArchive(other, zst, 'zstd-wrapped');
  t.is(z.kind, 'oci');
  const sk = await other.resolve('sk:v1');
  t.true(sk.manifest.layers[0]!.mediaType.endsWith('gzip'));
  t.is(sk.config.rootfs.diff_ids[0], src.config.rootfs.diff_ids[0], 'gzip layer has the same diffID');
  const dirs = await other.layerDirs(sk);
  t.is(dirs[0], other.snapshots.dir(src.config.rootfs.diff_ids[0]!), 'one snapshot per chainID, shared');
  t.is(fs.readdirSync(path.join(other.root, 'snapshots')).length, 1);
});

test('a gzip-compressed root filesystem tar imports as a gzip layer with the same diffID', async (t) => {
  const store = await storeWithBusybox(t);
  const tmp = tmpDir(t);
  const gz = path.join(tmp, 'rootfs.tar.gz');
  await run('sh', ['-c', `gzip -c < ${busybox} > ${gz}`]);
  const res = await importArchive(store, gz);
  t.is(res.kind, 'rootfs');
  t.is(res.images[0]!.name, 'localhost/rootfs:latest');
  const a = await store.resolve('busybox');
  const b = await store.resolve('rootfs');
  t.is(b.manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  t.is(b.manifest.layers[0]!.size, fs.statSync(gz).size);
  t.deepEqual(b.config.rootfs.diff_ids, a.config.rootfs.diff_ids);
  t.is(fs.readdirSync(path.join(store.root, 'snapshots')).length, 1, 'same chain, same snapshot');
});

test('importing a docker save from podman keeps its RepoTags', async (t) => {
  const store = await storeWithBusybox(t);
  const tmp = tmpDir(t);
  const docker = path.join(tmp, 'd.tar');
  await exportImage(store, 'busybox', docker, 'docker');
  const podman = ['--root', path.join(tmp, 'root'), '--runroot', path.join(tmp, 'run'), '--storage-driver', 'vfs'];
  t.teardown(() => run('podman', [...podman, 'system', 'reset', '-f'], { allowFailure: true }));
  await run('podman', [...podman, 'load', '-i', docker]);
  await run('podman', [...podman, 'tag', 'localhost/busybox:latest', 'localhost/again:2']);
  const saved = path.join(tmp, 'saved.tar');
  await run('podman', [...podman, 'save', '--format', 'docker-archive', '-o', saved, 'localhost/again:2']);
  const other = await openStore(path.join(tmp, 'other'));
  const res = await importArchive(other, saved);
  t.is(res.kind, 'docker');
  t.deepEqual(res.images.map((i) => i.name), ['localhost/again:2']);
  const r = await other.resolve('again:2');
  t.deepEqual(fs.readdirSync(path.join(other.root, 'blobs', 'sha256')).sort(),
    [r.manifestDescriptor.digest, r.configDescriptor.digest, ...r.manifest.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort(),
    'only the blobs the image uses are kept');
  t.is(r.config.rootfs.diff_ids[0], (await store.resolve('busybox')).config.rootfs.diff_ids[0]);
});

async function badImport(t: import('ava').ExecutionContext, store: FsStore, file: string, match: RegExp, cls: unknown = InvalidInput) {
  const before = storeState(store.root);
  const err = await t.throwsAsync(importArchive(store, file), { instanceOf: cls as typeof InvalidInput });
  t.regex(err!.message, match);
  t.deepEqual(storeState(store.root), before, 'store left as it was');
}

test('bad archives: clear errors naming file and entry, store unchanged', async (t) => {
  const store = await storeWithBusybox(t);
  const tmp = tmpDir(t);
  const oci = path.join(tmp, 'good.tar');
  await exportImage(store, 'busybox', oci, 'oci');
  const good = fs.readFileSync(oci);
  const fresh = await openStore(path.join(tmp, 'fresh'));

  // Truncated in the middle of the layer blob.
  const trunc = path.join(tmp, 'trunc.tar');
  fs.writeFileSync(trunc, good.subarray(0, 1_000_000));
  await badImport(t, fresh, trunc, /trunc\.tar: entry "blobs\/sha256\/[0-9a-f]{64}": truncated archive/);

  // A flipped byte inside the layer: the blob no longer matches its name.
  const corrupt = path.join(tmp, 'corrupt.tar');
  const c = Buffer.from(good);
  c[600_000] ^= 1;
  fs.writeFileSync(corrupt, c);
  await badImport(t, fresh, corrupt, /corrupt\.tar: entry "blobs\/sha256\/[0-9a-f]{64}": .*digest mismatch/);

  // index.json that is not JSON.
  const badIndex = path.join(tmp, 'badindex.tar');
  fs.writeFileSync(badIndex, makeTar([{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: '{nope' }]));
  await badImport(t, fresh, badIndex, /badindex\.tar: index\.json: not valid JSON/);

  // An index naming a manifest that is not there.
  const missing = path.join(tmp, 'missing.tar');
  fs.writeFileSync(missing, makeTar([
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 3 }] }) },
  ]));
  await badImport(t, fresh, missing, /missing\.tar: index\.json names sha256:a{64}, which is not in the archive/);

  // A rootfs tar with an escaping entry: nothing of it stays.
  const evil = path.join(tmp, 'evil.tar');
  fs.writeFileSync(evil, makeTar([{ name: 'ok', data: 'fine' }, { name: '../../etc/x', data: 'bad' }]));
  await badImport(t, fresh, evil, /evil\.tar: entry "\.\.\/\.\.\/etc\/x": '\.\.' component refused/);

  // Not a tar at all.
  const junk = path.join(tmp, 'junk.tar');
  fs.writeFileSync(junk, 'hello '.repeat(1000));
  await badImport(t, fresh, junk, /junk\.tar: bad header checksum/);

  // A docker save whose layer does not match the config's diffID.
  const docker = path.join(tmp, 'd.tar');
  await exportImage(store, 'busybox', docker, 'docker');
  const dirs = path.join(tmp, 'dx');
  fs.mkdirSync(dirs);
  await run('tar', ['-xf', docker, '-C', dirs]);
  const m = JSON.parse(fs.readFileSync(path.join(dirs, 'manifest.json'), 'utf8'));
  fs.rmSync(path.join(dirs, m[0].Layers[0]));
  fs.writeFileSync(path.join(dirs, 'layer.tar'), makeTar([{ name: 'other', data: 'x' }]));
  m[0].Layers[0] = 'layer.tar';
  fs.writeFileSync(path.join(dirs, 'manifest.json'), JSON.stringify(m));
  const tampered = path.join(tmp, 'tampered.tar');
  await run('tar', ['-cf', tampered, '-C', dirs, '.']);
  await badImport(t, fresh, tampered, /tampered\.tar: .*layer sha256:[0-9a-f]{64}: uncompressed content \(diffID\): digest mismatch/);

  t.deepEqual(fs.readdirSync(path.join(fresh.root, 'blobs', 'sha256')), []);
  await t.throwsAsync(importArchive(fresh, path.join(tmp, 'nope.tar')), { instanceOf: InvalidInput, message: /nope\.tar: no such file/ });
  await t.throwsAsync(importArchive(fresh, busybox, 'Bad Name'), { instanceOf: UsageError });
});

test('gc sweeps what no tag or root keeps; --prune-cache drops cache roots', async (t) => {
  const store = await storeWithBusybox(t);
  const bb = await store.resolve('busybox');
  const { upperDir } = await store.snapshots.prepare('x');
  fs.writeFileSync(path.join(upperDir, 'f'), 'x');
  const l = await store.commitLayer(upperDir, bb.config.rootfs.diff_ids[0]!, { compression: 'zstd' });
  const cfg = { ...bb.config, rootfs: { type: 'layers' as const, diff_ids: [...bb.config.rootfs.diff_ids, l.diffId] } };
  const m = await store.putImage(cfg, [...bb.manifest.layers, l.descriptor]);
  const mConfig = JSON.parse((await store.content.readBlob(m.digest)).toString()).config.digest;
  await store.setRoot('cache-1', { blobs: [m.digest], chainIds: [l.chainId] });
  fs.writeFileSync(path.join(store.content.ingestDir, '999999999-dead'), 'partial');

  const r1 = await gc(store);
  t.deepEqual(r1.removedBlobs, []);
  t.deepEqual(r1.removedSnapshots, []);
  t.is(r1.leftovers, 1, 'a dead writer\'s ingest file is swept');
  const r2 = await gc(store, { pruneCache: true });
  t.deepEqual(r2.prunedRoots, ['cache-1']);
  t.deepEqual([...r2.removedBlobs].sort(), [m.digest, l.descriptor.digest, mConfig].sort());
  t.deepEqual(r2.removedSnapshots, [l.chainId]);
  t.true(await store.snapshots.exists(bb.config.rootfs.diff_ids[0]!));
  await store.untag('busybox');
  const r3 = await gc(store);
  t.is(r3.removedBlobs.length, 3);
  t.deepEqual(fs.readdirSync(path.join(store.root, 'blobs', 'sha256')), []);
  t.deepEqual(fs.readdirSync(path.join(store.root, 'snapshots')), []);
});

test('fsck finds corrupt blobs; --repair quarantines them', async (t) => {
  const store = await storeWithBusybox(t);
  const clean = await fsck(store);
  t.deepEqual(clean.problems, []);
  t.is(clean.blobsChecked, 3);
  const bb = await store.resolve('busybox');
  const layer = store.content.blobPath(bb.manifest.layers[0]!.digest);
  const fd = fs.openSync(layer, 'r+');
  fs.writeSync(fd, Buffer.from('X'), 0, 1, 1000);
  fs.closeSync(fd);
  const found = await fsck(store);
  t.is(found.problems.length, 1);
  t.is(found.problems[0]!.kind, 'corrupt');
  t.regex(found.problems[0]!.message, new RegExp(`blob ${layer} is corrupt`));
  t.true(fs.existsSync(layer), 'report only without repair');
  const repaired = await fsck(store, { repair: true });
  t.truthy(repaired.problems[0]!.quarantined);
  t.false(fs.existsSync(layer));
  t.true(fs.existsSync(repaired.problems[0]!.quarantined!));
  t.true(repaired.problems.some((p) => p.kind === 'missing' && p.image === 'localhost/busybox:latest'));
  // Re-importing heals it.
  await importArchive(store, busybox, 'busybox');
  t.deepEqual((await fsck(store)).problems, []);
});
