// RUN's executor on its own: runc (and the chroot fallback) on a kernel
// overlayfs mount of a plain busybox rootfs dir, no store involved.
import test from 'ava';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { runContainer, runtimeSpec, type Isolation } from '../src/container.ts';
import { mountRootfs } from '../src/mount.ts';
import { LayerView } from '../src/rootfs-view.ts';
import { resolveUser } from '../src/users.ts';

const repo = path.resolve(import.meta.dirname, '../../..');
let tmp: string;
let lower: string;
const mounted: Array<{ unmount(): Promise<void> }> = [];

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-ctr-'));
  lower = path.join(tmp, 'lower');
  await fs.mkdir(lower);
  await run('tar', ['-xf', path.join(repo, 'fixtures/out/busybox-rootfs.tar'), '-C', lower]);
  await fs.appendFile(path.join(lower, 'etc/passwd'), 'app:x:1001:1001::/home/app:/bin/sh\n');
  await fs.appendFile(path.join(lower, 'etc/group'), 'app:x:1001:\nextra:x:1002:app\n');
});

test.after.always(async () => {
  for (const m of mounted) await m.unmount().catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
});

async function runIn(isolation: Isolation, name: string, script: string, user = '') {
  const upper = path.join(tmp, `${name}-upper`);
  const work = path.join(tmp, `${name}-work`);
  await fs.mkdir(upper);
  await fs.mkdir(work);
  const ids = await resolveUser(new LayerView([lower]), user, 'test');
  const m = await mountRootfs('kernel', [lower], upper, work);
  mounted.push(m);
  let out = '';
  let code: number;
  try {
    code = await runContainer(m.mountpoint, { args: ['/bin/sh', '-c', script], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=bar'], cwd: '/', uid: ids.uid, gid: ids.gid, additionalGids: ids.additionalGids }, {
      isolation, onOutput: (b) => { out += b.toString(); },
    });
  } finally {
    await m.unmount();
    mounted.pop();
  }
  return { code, out, upper };
}

for (const isolation of ['oci', 'chroot'] as const) {
  test.serial(`${isolation}: writes land in the upper dir, deletions as whiteouts`, async (t) => {
    const r = await runIn(isolation, `${isolation}-w`, 'echo $FOO > /made && rm /etc/shadow 2>/dev/null; rm /bin/vi; hostname; echo done');
    t.is(r.code, 0, r.out);
    t.is(await fs.readFile(path.join(r.upper, 'made'), 'utf8'), 'bar\n');
    const wh = await fs.lstat(path.join(r.upper, 'bin/vi'));
    t.true(wh.isCharacterDevice());
    t.is(wh.rdev, 0);
    t.regex(r.out, /done/);
    // Nothing of the runtime's mounts is left in the layer.
    t.false((await fs.readdir(r.upper)).includes('proc'));
  });

  test.serial(`${isolation}: user, supplementary groups, exit code`, async (t) => {
    const r = await runIn(isolation, `${isolation}-u`, 'id -u; id -G; touch /tmp/mine; exit 42', 'app');
    t.is(r.code, 42);
    t.regex(r.out, /1001\n1001 1002\n/);
    const st = await fs.stat(path.join(r.upper, 'tmp/mine'));
    t.is(st.uid, 1001);
  });
}

test.serial('oci: namespaces isolate pid and network, no host paths', async (t) => {
  const r = await runIn('oci', 'ns', 'echo pid=$$; ls /sys/class/net; ls /proc | grep -c "^[0-9]"; test -e /work && echo HOST || echo clean');
  t.is(r.code, 0, r.out);
  t.regex(r.out, /pid=1\n/);
  t.regex(r.out, /^lo$/m);
  t.regex(r.out, /clean/);
});

test('runtime spec has the namespaces and mounts a container has', (t) => {
  const spec = runtimeSpec('/r', { args: ['true'], env: [], cwd: '/', uid: 0, gid: 0, additionalGids: [] }) as { linux: { namespaces: Array<{ type: string }> }; mounts: Array<{ destination: string }> };
  t.deepEqual(spec.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.deepEqual(spec.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);
});
