// fuseprobe, the benchmark's measure of the machine's FUSE round trip: it
// mounts a file system of its own, so it must never leave that mount behind,
// even when it is killed in the middle.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '@strata/common';
import { toolBinary } from '../src/tools.ts';
import { isMounted } from '../src/drivers/mounts.ts';

let tmp: string | undefined;

test.after.always(async () => {
  if (!tmp) return;
  if (await isMounted(tmp)) await run('umount', ['-l', tmp], { allowFailure: true });
  await rm(tmp, { recursive: true, force: true });
});

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('fuseprobe prints the round trip and the syscall, and unmounts', async (t) => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'strata-fuseprobe-test-'));
  const { stdout } = await run(await toolBinary('fuseprobe'), [tmp, '2000']);
  const [fuse, local] = stdout.trim().split(' ').map(Number);
  t.true(fuse! > local! && local! > 0, stdout);
  t.false(await isMounted(tmp));
  await t.throwsAsync(run(await toolBinary('fuseprobe'), [path.join(tmp, 'missing'), '10']), { message: /missing/ });
});

test('a fuseprobe killed while mounted leaves no mount: its server unmounts', async (t) => {
  const dir = tmp ?? (tmp = await mkdtemp(path.join(os.tmpdir(), 'strata-fuseprobe-test-')));
  // Enough calls to be still at it when killed (two seconds of local calls, then the mount and 15 s of FUSE ones).
  const probe = spawn(await toolBinary('fuseprobe'), [dir, '1000000'], { stdio: 'ignore' });
  const exited = new Promise((r) => probe.once('exit', r));
  await until('the probe to mount', () => isMounted(dir), 30_000);
  probe.kill('SIGKILL');
  await exited;
  await until('the mount to go', async () => !(await isMounted(dir)), 5_000);
  t.pass();
});
