// The store root is an OCI layout other tools read as is (skopeo, umoci),
// and its snapshots mount with kernel overlayfs.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import { mkWhiteout, lsetxattr } from '@strata/native';
import { importArchive, openStore } from '../src/index.ts';
import { tmpDir } from './helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const busybox = path.join(repo, 'fixtures/out/busybox-rootfs.tar');

test('an imported rootfs is read by skopeo and unpacked by umoci to the same tree as tar -x', async (t) => {
  const tmp = tmpDir(t);
  const store = await openStore(path.join(tmp, 'store'));
  const res = await importArchive(store, busybox, 'busybox');
  t.deepEqual(res.images.map((i) => i.name), ['localhost/busybox:latest']);
  const insp = JSON.parse((await run('skopeo', ['inspect', `oci:${store.root}:localhost/busybox:latest`])).stdout);
  t.is(insp.Digest, res.images[0]!.descriptor.digest);
  t.is(insp.Layers.length, 1);
  await run('umoci', ['unpack', '--image', `${store.root}:localhost/busybox:latest`, path.join(tmp, 'bundle')]);
  fs.mkdirSync(path.join(tmp, 'ref'));
  await run('tar', ['-xpf', busybox, '-C', path.join(tmp, 'ref')]);
  await run('diff', ['-r', '--no-dereference', path.join(tmp, 'bundle', 'rootfs'), path.join(tmp, 'ref')]);
  const snap = (await store.layerDirs(await store.resolve('busybox')))[0]!;
  await run('diff', ['-r', '--no-dereference', snap, path.join(tmp, 'ref')]);
  t.pass();
});

test('a strata snapshot stack mounts with kernel overlayfs and shows the whiteouts', async (t) => {
  const tmp = tmpDir(t);
  const store = await openStore(path.join(tmp, 'store'));
  await importArchive(store, busybox, 'busybox');
  const base = await store.resolve('busybox');
  const [baseDir] = await store.layerDirs(base);
  const { upperDir } = await store.snapshots.prepare('top');
  mkWhiteout(path.join(upperDir, 'linuxrc'));
  fs.mkdirSync(path.join(upperDir, 'etc'));
  lsetxattr(path.join(upperDir, 'etc'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  fs.writeFileSync(path.join(upperDir, 'etc', 'only'), 'me\n');
  const top = await store.commitLayer(upperDir, base.config.rootfs.diff_ids[0]!, { compression: 'gzip' });
  // Check the layer blob itself says it in aufs form.
  const listing = (await run('sh', ['-c', `gzip -dc < ${store.content.blobPath(top.descriptor.digest)} | tar -t`])).stdout.split('\n');
  t.true(listing.includes('.wh.linuxrc'));
  t.true(listing.includes('etc/.wh..wh..opq'));

  const mnt = path.join(tmp, 'mnt');
  fs.mkdirSync(mnt);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${store.snapshots.dir(top.chainId)}:${baseDir}`, mnt]);
  t.teardown(async () => { await run('umount', [mnt], { allowFailure: true }); });
  try {
    t.false(fs.existsSync(path.join(mnt, 'linuxrc')), 'whiteout hides the lower file');
    t.deepEqual(fs.readdirSync(path.join(mnt, 'etc')), ['only'], 'opaque dir hides lower entries');
    t.true(fs.existsSync(path.join(mnt, 'bin', 'busybox')));
  } finally {
    await run('umount', [mnt]);
  }
  t.false(fs.readFileSync('/proc/self/mounts', 'utf8').includes(mnt));
});
