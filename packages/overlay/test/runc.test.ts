// A strata mount as a container's root filesystem, the way the builder's
// RUN uses it: runc execs a static busybox from it (mmap and exec through
// FUSE), mounts proc/dev/sys onto directories of the merged view, and what
// the container writes lands in the upper directory.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import { cleanup, makeStack, mountStrata } from './helpers.ts';

const ROOTFS_TAR = fileURLToPath(new URL('../../../fixtures/out/busybox-rootfs.tar', import.meta.url));

test.afterEach.always(async (t) => cleanup(t));

function runtimeSpec(rootfs: string, args: string[]): object {
  return {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin:/sbin:/usr/bin'], cwd: '/', noNewPrivileges: true },
    root: { path: rootfs, readonly: false },
    hostname: 'strata-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
    },
  };
}

test('runc runs busybox from a strata mount; writes land in the upper directory', async (t) => {
  const s = makeStack(1);
  execFileSync('tar', ['-xf', ROOTFS_TAR, '-C', s.lowers[0]!]);
  // proc/sys must be creatable in the merged view even if the layer lacks them
  for (const d of ['proc', 'sys', 'dev', 'tmp']) fs.rmSync(path.join(s.lowers[0]!, d), { recursive: true, force: true });
  await mountStrata(t, s);
  const bundle = path.join(s.dir, 'bundle');
  fs.mkdirSync(bundle);
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(runtimeSpec(s.mnt, ['/bin/sh', '-c', 'echo built > /etc/made-here && rm /bin/vi && head -1 /proc/self/status && cat /etc/made-here && ls /proc/1/ns | head -1'])));
  const id = `strata-test-${process.pid}-${Date.now()}`;
  const r = await run('runc', ['run', '--bundle', bundle, id], { allowFailure: true, timeoutMs: 60000 });
  await run('runc', ['delete', '-f', id], { allowFailure: true });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Name:\thead\nbuilt\ncgroup\n');
  t.is(fs.readFileSync(path.join(s.upper, 'etc/made-here'), 'utf8'), 'built\n');
  t.true(fs.lstatSync(path.join(s.upper, 'bin/vi')).isCharacterDevice());
  t.true(fs.statSync(path.join(s.upper, 'proc')).isDirectory());
});
