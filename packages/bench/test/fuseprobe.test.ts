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

// One directory a test (they run at once), all unmounted and removed at the end.
const dirs: string[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-fuseprobe-test-'));
  dirs.push(dir);
  return dir;
}

test.after.always(async () => {
  for (const dir of dirs) {
    if (await isMounted(dir)) await run('umount', ['-l', dir], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
});

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('fuseprobe runs a program against its mount, passes its output and status on, and unmounts', async (t) => {
  const tmp = await freshDir();
  const [probe, fsops] = [await toolBinary('fuseprobe'), await toolBinary('fsops')];
  const fuse = Number((await run(probe, [tmp, fsops, 'xattr', path.join(tmp, 'f'), '2000'])).stdout);
  const local = Number((await run(fsops, ['xattr', tmp, '2000'])).stdout);
  t.true(fuse > local && local > 0, `${fuse} µs through the probe, ${local} µs locally`);
  t.false(await isMounted(tmp));
  // The program's failure is the probe's (a file the probe does not have), and so is a mount that cannot be made.
  await t.throwsAsync(run(probe, [tmp, fsops, 'xattr', path.join(tmp, 'nope'), '10']), { message: /nope/ });
  await t.throwsAsync(run(probe, [path.join(tmp, 'missing'), fsops, 'xattr', tmp, '10']), { message: /missing/ });
  t.false(await isMounted(tmp));
});

test('a fuseprobe killed while mounted leaves no mount: its server unmounts', async (t) => {
  const dir = await freshDir();
  // Enough calls to be still at it when killed (about 15 s of them).
  const probe = spawn(await toolBinary('fuseprobe'), [dir, await toolBinary('fsops'), 'xattr', path.join(dir, 'f'), '1000000'], { stdio: 'ignore' });
  const exited = new Promise((r) => probe.once('exit', r));
  await until('the probe to mount', () => isMounted(dir), 30_000);
  probe.kill('SIGKILL');
  await exited;
  await until('the mount to go', async () => !(await isMounted(dir)), 5_000);
  t.pass();
});
