// The store's CLI end to end, against real buildah, skopeo, umoci, podman
// and kernel overlayfs: an image built by buildah imports; strata's export
// unpacks with umoci to the same tree; the snapshots mount with
// `mount -t overlay` to that same tree; a docker-format export loads in podman.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../packages/common/src/index.ts';
import { snapshot } from '../packages/store/test/helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'packages/cli/bin/strata.js');
const busybox = path.join(repo, 'fixtures/out/busybox-rootfs.tar');

function tmp(t: import('ava').ExecutionContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-interop-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function strata(root: string, ...args: string[]) {
  return run(process.execPath, [cli, '--root', root, ...args], { allowFailure: true });
}

test('CLI: import, images --json, inspect, tag, rmi, gc, fsck; errors exit non-zero naming the file', async (t) => {
  const d = tmp(t);
  const root = path.join(d, 'store');
  const imp = await strata(root, 'import', busybox, 'busybox');
  t.is(imp.code, 0, imp.stderr);
  t.regex(imp.stdout, /^imported localhost\/busybox:latest sha256:[0-9a-f]{64} \(rootfs\)/);
  t.is((await strata(root, 'tag', 'busybox', 'bb:v2', 'quay.io/me/bb')).code, 0);
  const list = JSON.parse((await strata(root, '--json', 'images')).stdout);
  t.deepEqual(list.map((i: { name: string }) => i.name), ['localhost/busybox:latest', 'localhost/bb:v2', 'quay.io/me/bb:latest']);
  t.is(list[0].layers, 1);
  const insp = JSON.parse((await strata(root, 'inspect', '--json', 'bb:v2')).stdout);
  t.is(insp.name, 'localhost/bb:v2');
  t.true(fs.existsSync(path.join(insp.layers[0].snapshot, 'bin', 'busybox')));
  t.is(insp.layers[0].chainId, insp.config.rootfs.diff_ids[0]);

  const missing = await strata(root, 'inspect', 'nosuch');
  t.is(missing.code, 3);
  t.regex(missing.stderr, /image nosuch not found/);
  const bad = path.join(d, 'bad.tar');
  fs.writeFileSync(bad, fs.readFileSync(busybox).subarray(0, 100_000));
  const badImp = await strata(root, 'import', bad, 'bad');
  t.is(badImp.code, 4);
  t.regex(badImp.stderr, new RegExp(`^strata: ${bad}: entry "\\./bin/busybox": truncated archive`));
  t.is((await strata(root, 'import')).code, 2, 'usage error');

  // Export is deterministic, to a file or to stdout.
  const f1 = path.join(d, 'a.tar');
  t.is((await strata(root, 'export', 'bb:v2', '-o', f1)).code, 0);
  const piped = await run('sh', ['-c', `"${process.execPath}" "${cli}" --root "${root}" export bb:v2 -o - > "${path.join(d, 'b.tar')}"`]);
  t.is(piped.code, 0);
  t.true(fs.readFileSync(f1).equals(fs.readFileSync(path.join(d, 'b.tar'))));
  t.is(JSON.parse((await run('skopeo', ['inspect', `oci-archive:${f1}`])).stdout).Digest, insp.digest);

  t.is((await strata(root, 'rmi', 'bb:v2', 'quay.io/me/bb')).code, 0);
  t.is((await strata(root, 'rmi', 'bb:v2')).code, 3);
  const gc1 = JSON.parse((await strata(root, '--json', 'gc')).stdout);
  t.deepEqual(gc1.removedBlobs, [], 'busybox still tagged');
  t.is((await strata(root, 'rmi', 'busybox')).code, 0);
  const gc2 = await strata(root, 'gc');
  t.regex(gc2.stdout, /^removed 3 blobs, 1 snapshots/);
  t.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), []);

  await strata(root, 'import', busybox, 'busybox');
  t.is((await strata(root, 'fsck')).code, 0);
  const insp2 = JSON.parse((await strata(root, 'inspect', '--json', 'busybox')).stdout);
  fs.appendFileSync(path.join(root, 'blobs', 'sha256', insp2.configDigest.slice(7)), ' ');
  const f = await strata(root, 'fsck');
  t.is(f.code, 4);
  t.regex(f.stdout, /corrupt: blob .* is corrupt/);
  const fr = JSON.parse((await strata(root, '--json', 'fsck', '--repair')).stdout);
  t.truthy(fr.problems[0].quarantined);
  t.is(fs.readdirSync(path.join(root, 'quarantine')).length, 1);
});

test('two processes importing the same image at once both succeed and share one snapshot', async (t) => {
  const root = path.join(tmp(t), 'store');
  const [a, b] = await Promise.all([strata(root, 'import', busybox, 'one'), strata(root, 'import', busybox, 'two')]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.deepEqual(JSON.parse((await strata(root, '--json', 'images')).stdout).map((i: { name: string }) => i.name).sort(), ['localhost/one:latest', 'localhost/two:latest']);
  t.is(fs.readdirSync(path.join(root, 'snapshots')).length, 1);
  t.deepEqual(fs.readdirSync(path.join(root, 'ingest')), []);
  t.is((await strata(root, 'fsck')).code, 0);
});

test('buildah image -> skopeo -> strata import -> strata export -> umoci: same tree; snapshots mount with kernel overlay; podman loads the docker export', async (t) => {
  const d = tmp(t);
  const bo = ['--root', path.join(d, 'c-root'), '--runroot', path.join(d, 'c-run'), '--storage-driver', 'vfs'];
  t.teardown(() => run('buildah', [...bo, 'rm', '--all'], { allowFailure: true }));
  const ctr = (await run('buildah', [...bo, 'from', 'scratch'])).stdout.trim();
  await run('buildah', [...bo, 'add', ctr, busybox, '/']);
  await run('buildah', [...bo, 'commit', '-q', ctr, 'localhost/bbbase']);
  const ctx = path.join(d, 'ctx');
  fs.mkdirSync(ctx);
  fs.writeFileSync(path.join(ctx, 'x'), 'copied\n');
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), [
    'FROM localhost/bbbase',
    'RUN mkdir -p /data/sub && echo hi > /data/f && ln /data/f /data/hl && mkfifo /data/fifo && echo s > /data/sub/s',
    'RUN rm /etc/group /linuxrc && rm -rf /data/sub && mkdir /data/sub && echo new > /data/sub/n && chmod 4755 /bin/busybox && chown 12:34 /data/f',
    'COPY x /x',
    '',
  ].join('\n'));
  await run('buildah', [...bo, 'bud', '-q', '--layers', '--isolation', 'chroot', '-t', 'localhost/test', ctx]);
  const archive = path.join(d, 'test.tar');
  await run('skopeo', ['copy', `containers-storage:[vfs@${path.join(d, 'c-root')}+${path.join(d, 'c-run')}]localhost/test:latest`, `oci-archive:${archive}:localhost/test:latest`]);

  const root = path.join(d, 'store');
  const imp = await strata(root, 'import', archive);
  t.is(imp.code, 0, imp.stderr);
  t.regex(imp.stdout, /imported localhost\/test:latest/);
  const out = path.join(d, 'out.tar');
  t.is((await strata(root, 'export', 'localhost/test', '-o', out)).code, 0);

  const unpack = async (tarFile: string, name: string) => {
    const layout = path.join(d, `${name}-layout`);
    fs.mkdirSync(layout);
    await run('tar', ['-xf', tarFile, '-C', layout]);
    await run('umoci', ['unpack', '--image', `${layout}:localhost/test:latest`, path.join(d, name)]);
    return path.join(d, name, 'rootfs');
  };
  const fromBuildah = await unpack(archive, 'b1');
  const fromStrata = await unpack(out, 'b2');
  const expected = snapshot(fromBuildah);
  t.deepEqual(snapshot(fromStrata), expected);
  t.truthy(expected['data/hl'] && expected['x']);
  t.falsy(expected['etc/group']);

  // Kernel overlayfs over strata's snapshots gives the same tree.
  const insp = JSON.parse((await strata(root, 'inspect', '--json', 'test')).stdout);
  const lowers = insp.layers.map((l: { snapshot: string }) => l.snapshot).reverse();
  t.true(insp.layers.length >= 3);
  const mnt = path.join(d, 'mnt');
  fs.mkdirSync(mnt);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, mnt]);
  let merged;
  try {
    merged = snapshot(mnt);
  } finally {
    await run('umount', [mnt]);
  }
  // The root directory's own mtime is the mount's, not a layer's.
  t.deepEqual(merged, expected);
  t.false(fs.readFileSync('/proc/self/mounts', 'utf8').includes(mnt));

  // docker-format export loads into podman.
  const dock = path.join(d, 'docker.tar');
  t.is((await strata(root, 'export', 'test', '-o', dock, '--format', 'docker')).code, 0);
  const po = ['--root', path.join(d, 'p-root'), '--runroot', path.join(d, 'p-run'), '--storage-driver', 'vfs'];
  t.teardown(() => run('podman', [...po, 'system', 'reset', '-f'], { allowFailure: true }));
  const loaded = await run('podman', [...po, 'load', '-i', dock]);
  t.regex(loaded.stdout, /Loaded image: localhost\/test:latest/);
  const pinsp = JSON.parse((await run('podman', [...po, 'image', 'inspect', 'localhost/test:latest'])).stdout);
  t.deepEqual(pinsp[0].RootFS.Layers, insp.config.rootfs.diff_ids);
});
