// The Store contract: names, tags and resolve; commitLayer and layerDirs
// with every compression; gc roots; a broken index.json.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { chainIds, InvalidInput, NotFound, UsageError, type Digest } from '@strata/common';
import { lgetxattr, mkWhiteout } from '@strata/native';
import { normalizeName, openStore, type Compression, type ImageConfig } from '../src/index.ts';
import { tmpDir } from './helpers.ts';

test('names normalise like podman: short names get localhost/ and :latest', (t) => {
  t.is(normalizeName('busybox'), 'localhost/busybox:latest');
  t.is(normalizeName('busybox:1.36'), 'localhost/busybox:1.36');
  t.is(normalizeName('library/busybox'), 'localhost/library/busybox:latest');
  t.is(normalizeName('quay.io/x/y'), 'quay.io/x/y:latest');
  t.is(normalizeName('localhost:5000/a/b:v1'), 'localhost:5000/a/b:v1');
  t.is(normalizeName('localhost/busybox:latest'), 'localhost/busybox:latest');
  t.throws(() => normalizeName('Bad/Name'), { instanceOf: UsageError, message: /bad path component "Bad"/ });
  t.throws(() => normalizeName('x:bad tag'), { instanceOf: UsageError });
});

async function makeImage(root: string, compression: Compression) {
  const store = await openStore(root);
  const { upperDir } = await store.snapshots.prepare('l1');
  fs.mkdirSync(path.join(upperDir, 'etc'));
  fs.writeFileSync(path.join(upperDir, 'etc', 'hello'), 'one\n');
  fs.writeFileSync(path.join(upperDir, 'gone-later'), 'x');
  const l1 = await store.commitLayer(upperDir, null, { compression });
  t_assert(!fs.existsSync(upperDir), 'upper dir moved into the snapshot');
  const { upperDir: u2 } = await store.snapshots.prepare('l2');
  fs.mkdirSync(path.join(u2, 'etc'));
  fs.writeFileSync(path.join(u2, 'etc', 'hello'), 'two\n');
  mkWhiteout(path.join(u2, 'gone-later'));
  const l2 = await store.commitLayer(u2, l1.chainId, { compression });
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [l1.diffId, l2.diffId] }, config: { Cmd: ['/bin/sh'] } };
  const manifest = await store.putImage(config, [l1.descriptor, l2.descriptor]);
  return { store, l1, l2, manifest, config };
}
function t_assert(c: boolean, msg: string): void {
  if (!c) throw new Error(msg);
}

for (const compression of ['none', 'gzip', 'zstd'] as const) {
  test(`commitLayer and layerDirs (${compression})`, async (t) => {
    const { store, l1, l2, manifest } = await makeImage(tmpDir(t), compression);
    t.is(l2.chainId, chainIds([l1.diffId, l2.diffId])[1]);
    t.is(l1.chainId, l1.diffId);
    t.true(l1.descriptor.mediaType.endsWith(compression === 'none' ? '.tar' : `+${compression}`));
    await store.tag('demo', manifest);
    const r = await store.resolve('demo');
    t.is(r.ref, 'localhost/demo:latest');
    // A second store gets the layers by unpacking the blobs, not by rename.
    const other = await openStore(tmpDir(t));
    for (const d of [manifest.digest, r.configDescriptor.digest, l1.descriptor.digest, l2.descriptor.digest]) {
      const w = await other.content.writer();
      for await (const c of store.content.reader(d)) w.write(c);
      await w.commit(undefined, d);
    }
    const dirs = await other.layerDirs(r);
    t.deepEqual(dirs, [other.snapshots.dir(l2.chainId), other.snapshots.dir(l1.chainId)], 'top layer first');
    t.is(fs.readFileSync(path.join(dirs[0]!, 'etc', 'hello'), 'utf8'), 'two\n');
    t.is(fs.readFileSync(path.join(dirs[1]!, 'etc', 'hello'), 'utf8'), 'one\n');
    const wh = fs.lstatSync(path.join(dirs[0]!, 'gone-later'));
    t.true(wh.isCharacterDevice() && wh.rdev === 0);
    // Unpacked again from the same blobs: the same diffIDs (diff is reproducible).
    const again = await store.layerDirs(r);
    t.deepEqual(again, [store.snapshots.dir(l2.chainId), store.snapshots.dir(l1.chainId)]);
  });
}

test('tags: resolve by short name, full name, digest and prefix; retag; untag', async (t) => {
  const { store, manifest } = await makeImage(tmpDir(t), 'none');
  await store.tag('app:v1', manifest);
  await store.tag('quay.io/x/app:v1', manifest);
  for (const ref of ['app:v1', 'localhost/app:v1', manifest.digest, manifest.digest.slice(7, 19), `app@${manifest.digest}`]) {
    t.is((await store.resolve(ref)).manifestDescriptor.digest, manifest.digest, ref);
  }
  t.deepEqual((await store.images()).map((i) => i.name), ['localhost/app:v1', 'quay.io/x/app:v1']);
  await store.tag('app:v1', manifest); // replacing keeps one entry
  t.is((await store.images()).length, 2);
  await store.untag('app:v1');
  await t.throwsAsync(store.resolve('app:v1'), { instanceOf: NotFound, message: /image app:v1 not found .*looked for localhost\/app:v1/ });
  await t.throwsAsync(store.untag('app:v1'), { instanceOf: NotFound });
  t.is((await store.resolve(manifest.digest)).manifestDescriptor.digest, manifest.digest, 'untagged images resolve by digest');
});

test('gc roots are JSON files under gcroots/', async (t) => {
  const { store, l1, manifest } = await makeImage(tmpDir(t), 'none');
  await store.setRoot('cache-abc', { blobs: [manifest.digest], chainIds: [l1.chainId] });
  const j = JSON.parse(fs.readFileSync(path.join(store.root, 'gcroots', 'cache-abc.json'), 'utf8'));
  t.deepEqual(j, { blobs: [manifest.digest], chainIds: [l1.chainId] });
  t.deepEqual([...(await store.roots()).keys()], ['cache-abc']);
  await store.removeRoot('cache-abc');
  await t.throwsAsync(store.removeRoot('cache-abc'), { instanceOf: NotFound });
  await t.throwsAsync(store.setRoot('../x', { blobs: [], chainIds: [] }), { instanceOf: UsageError });
});

test('an index.json that is not JSON is a clear error and is left alone', async (t) => {
  const { store, manifest } = await makeImage(tmpDir(t), 'none');
  fs.writeFileSync(path.join(store.root, 'index.json'), '{"schemaVersion": 2, manif');
  await t.throwsAsync(store.resolve('x'), { instanceOf: InvalidInput, message: new RegExp(`^${store.root}/index.json: not valid JSON`) });
  await t.throwsAsync(store.tag('x', manifest), { instanceOf: InvalidInput });
  t.is(fs.readFileSync(path.join(store.root, 'index.json'), 'utf8'), '{"schemaVersion": 2, manif');
  t.false(fs.existsSync(path.join(store.root, 'index.json.lock')), 'lock released after the error');
});

test('concurrent tags from one process all land (index.json is locked)', async (t) => {
  const { store, manifest } = await makeImage(tmpDir(t), 'none');
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.tag(`t${i}`, manifest)));
  t.is((await store.images()).length, 20);
});

test('an opaque directory committed from an upper dir keeps its xattr in the snapshot', async (t) => {
  const store = await openStore(tmpDir(t));
  const { upperDir } = await store.snapshots.prepare('o');
  fs.mkdirSync(path.join(upperDir, 'd'));
  const { lsetxattr } = await import('@strata/native');
  lsetxattr(path.join(upperDir, 'd'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  const l = await store.commitLayer(upperDir, null, { compression: 'gzip' });
  t.is(lgetxattr(path.join(store.snapshots.dir(l.chainId as Digest), 'd'), 'trusted.overlay.opaque')?.toString(), 'y');
  const u = await store.snapshots.usage(l.chainId);
  t.true(u.inodes >= 1);
});
