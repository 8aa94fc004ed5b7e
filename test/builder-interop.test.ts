// What strata builds, others read: skopeo inspects the image, umoci unpacks
// it, and its root filesystem equals what buildah (bud, chroot isolation,
// vfs storage) makes of the same Dockerfile from the same base, compared
// file by file: path, type, mode, owner, size, content, link target (mtimes aside).
import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../packages/common/src/index.ts';
import { importArchive, openStore } from '../packages/store/src/index.ts';
import { build, exportOciLayout } from '../packages/builder/src/index.ts';
import { Writable } from 'node:stream';

const repo = path.resolve(import.meta.dirname, '..');
let tmp: string;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-interop-'));
});

test.after.always(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Entry { type: string; mode: number; uid: number; gid: number; size?: number; sha?: string; target?: string }

async function tree(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const visit = async (rel: string): Promise<void> => {
    for (const n of (await fs.readdir(path.join(root, rel))).sort()) {
      const r = path.posix.join(rel, n);
      const p = path.join(root, r);
      const st = await fs.lstat(p);
      const e: Entry = { type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isFile()) {
        e.size = st.size;
        e.sha = createHash('sha256').update(await fs.readFile(p)).digest('hex');
      }
      if (st.isSymbolicLink()) {
        e.target = await fs.readlink(p);
        e.mode = 0;
      }
      out.set(r, e);
      if (st.isDirectory()) await visit(r);
    }
  };
  await visit('/');
  return out;
}

/** Mount points buildah's chroot RUN leaves behind as empty files/dirs; Docker and BuildKit don't. */
function runtimeArtifact(p: string, e: Entry): boolean {
  return (['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/run/.containerenv'].includes(p) && e.type === 'file' && e.size === 0) || (p === '/run' && e.type === 'dir');
}

test('strata and buildah build the same rootfs; skopeo and umoci read strata\'s image', async (t) => {
  const ctx = path.join(tmp, 'ctx');
  await run('cp', ['-a', path.join(repo, 'fixtures/interop'), ctx]);
  await run('tar', ['-cf', path.join(ctx, 'files.tar'), '-C', ctx, '--owner=3', '--group=4', 'files']);

  // strata: base imported from the fixture tar, then the build.
  const store = await openStore(path.join(tmp, 'store'));
  await importArchive(store, path.join(repo, 'fixtures/out/busybox-rootfs.tar'), 'localhost/busybox:latest');
  const base = await store.resolve('localhost/busybox:latest');
  await exportOciLayout(store, base.manifestDescriptor, path.join(tmp, 'base-oci'));
  const sink = new Writable({ write(_c, _e, cb) { cb(); } });
  const res = await build(store, { contextDir: ctx, tags: ['localhost/interop:strata'], progress: 'plain', progressOut: sink });
  const layout = path.join(tmp, 'strata-oci');
  await exportOciLayout(store, res.manifest, layout);

  const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${layout}:latest`])).stdout) as { Layers: string[]; Env: string[] };
  t.is(inspect.Layers.length, res.config.rootfs.diff_ids.length);
  t.true(inspect.Env.includes('GREETING=hello'));
  await run('umoci', ['unpack', '--image', `${layout}:latest`, path.join(tmp, 'strata-bundle')]);

  // buildah: same base (pulled from the OCI layout of strata's import), same context.
  const b = ['--root', path.join(tmp, 'bh-root'), '--runroot', path.join(tmp, 'bh-runroot'), '--storage-driver', 'vfs'];
  const env = { ...process.env, BUILDAH_ISOLATION: 'chroot', TMPDIR: tmp };
  const cs = `containers-storage:[vfs@${path.join(tmp, 'bh-root')}+${path.join(tmp, 'bh-runroot')}]`;
  await run('skopeo', ['copy', '--quiet', `oci:${path.join(tmp, 'base-oci')}:latest`, `${cs}localhost/busybox:latest`], { env });
  await run('buildah', [...b, 'bud', '--isolation', 'chroot', '--pull=never', '--layers', '-t', 'localhost/interop:buildah', ctx], { env });
  await run('buildah', [...b, 'push', '--quiet', 'localhost/interop:buildah', `oci:${path.join(tmp, 'buildah-oci')}:latest`], { env });
  await run('umoci', ['unpack', '--image', `${path.join(tmp, 'buildah-oci')}:latest`, path.join(tmp, 'buildah-bundle')]);

  const a = await tree(path.join(tmp, 'strata-bundle/rootfs'));
  const bt = await tree(path.join(tmp, 'buildah-bundle/rootfs'));
  const diffs: string[] = [];
  for (const p of new Set([...a.keys(), ...bt.keys()])) {
    const x = a.get(p);
    const y = bt.get(p);
    if (x && y) {
      if (JSON.stringify(x) !== JSON.stringify(y)) diffs.push(`${p}: strata ${JSON.stringify(x)} != buildah ${JSON.stringify(y)}`);
    } else if (!(x && runtimeArtifact(p, x)) && !(y && runtimeArtifact(p, y))) {
      diffs.push(`${p}: only in ${x ? 'strata' : 'buildah'}`);
    }
  }
  t.true(a.size > 300, `strata rootfs has ${a.size} entries`);
  t.deepEqual(diffs, []);
  // Spot checks that the comparison saw the interesting entries.
  t.is(a.get('/data/keep')!.mode, 0o4711);
  t.is(a.get('/data/fifo')!.type, 'fifo');
  t.false(a.has('/data/gone'));
  t.is(a.get('/shared/from-app')!.uid, 1000);
  t.is(a.get('/copied/top.txt')!.mode, 0o640);
  t.is(a.get('/unpacked/files/top.txt')!.uid, 3);
});
