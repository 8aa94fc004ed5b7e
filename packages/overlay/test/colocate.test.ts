// The native loop's CPU placement (native/src/colocate.c): during a burst
// of requests it runs idle-class beside its caller, never while the machine
// has no CPU to spare, and not at all with STRATA_FUSE_COLOCATE=0. Serial:
// the tests set the variable around a mount, and the busy loops of one
// would crowd the others.
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanup, makeStack, mountStrata } from './helpers.ts';
import { serverStats } from './native-stats.ts';

test.afterEach.always(async (t) => cleanup(t));

const hogs: ChildProcess[] = [];
function stopHogs(): void {
  for (const h of hogs.splice(0)) h.kill('SIGKILL');
}
test.after.always(stopHogs);

/** Creates `n` files in `dir` from one shell, one after another: a burst of requests from one caller. */
function createMany(dir: string, n: number): void {
  fs.mkdirSync(dir);
  execFileSync('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do : > "f$i"; i=$((i+1)); done`], { cwd: dir });
  if (fs.readdirSync(dir).length !== n) throw new Error(`created ${fs.readdirSync(dir).length} of ${n} files in ${dir}`);
}

/** Mounts a native-transport stack with STRATA_FUSE_COLOCATE set to `value` (undefined: unset) for its server. */
async function mountWith(t: Parameters<typeof mountStrata>[0], value: string | undefined) {
  const s = makeStack(1);
  const saved = process.env.STRATA_FUSE_COLOCATE;
  if (value === undefined) delete process.env.STRATA_FUSE_COLOCATE;
  else process.env.STRATA_FUSE_COLOCATE = value;
  try {
    await mountStrata(t, s, { transport: 'native' });
  } finally {
    if (saved === undefined) delete process.env.STRATA_FUSE_COLOCATE;
    else process.env.STRATA_FUSE_COLOCATE = saved;
  }
  return s;
}

test.serial('a burst of creates from one caller is served idle-class beside it', async (t) => {
  const s = await mountWith(t, undefined);
  // The loop goes idle-class only when the burst starts with a CPU to spare;
  // other test files run beside this one, so a few bursts may start crowded.
  let stats;
  for (let i = 0; i < 5; i++) {
    createMany(path.join(s.mnt, `d${i}`), 1000);
    stats = (await serverStats(s.mnt)).colocation;
    if (stats && stats.bursts > 0) break;
  }
  t.truthy(stats, 'the server reports its colocation');
  t.true(stats!.enabled);
  t.true(stats!.bursts > 0, `bursts: ${JSON.stringify(stats)}`);
});

test.serial('STRATA_FUSE_COLOCATE=0 leaves the loop a normal thread', async (t) => {
  const s = await mountWith(t, '0');
  createMany(path.join(s.mnt, 'd'), 1000);
  const stats = (await serverStats(s.mnt)).colocation;
  t.deepEqual({ enabled: stats?.enabled, bursts: stats?.bursts }, { enabled: false, bursts: 0 });
});

test.serial('with a busy loop on every CPU the server stays a normal thread and keeps answering', async (t) => {
  const s = await mountWith(t, undefined);
  const cpus = os.availableParallelism();
  for (let c = 0; c < cpus; c++) hogs.push(spawn('taskset', ['-c', String(c), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }));
  t.teardown(stopHogs);
  await new Promise((r) => setTimeout(r, 200));
  const before = (await serverStats(s.mnt)).colocation;
  createMany(path.join(s.mnt, 'd'), 2000);
  const after = (await serverStats(s.mnt)).colocation;
  t.true(after?.enabled);
  // Idle-class beside a busy loop, the server would get a trickle of its CPU.
  t.is(after?.bursts, before?.bursts, `before: ${JSON.stringify(before)}, after: ${JSON.stringify(after)}`);
});
