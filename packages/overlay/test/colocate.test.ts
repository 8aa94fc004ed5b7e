// The native loop's CPU placement (native/src/colocate.c): during a burst
// of requests it runs idle-class beside its caller, never while the machine
// has no CPU to spare, and only with STRATA_FUSE_COLOCATE=1 (off by
// default: on this host a normal thread now does better). Serial:
// the tests set the variable around a mount, and the busy loops of one
// would crowd the others.
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readState } from '../src/index.ts';
import { cleanup, makeStack, mountWithEnv, populate } from './helpers.ts';
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

test.serial('a burst of creates from one caller is served idle-class beside it', async (t) => {
  const s = await mountWithEnv(t, { STRATA_FUSE_COLOCATE: '1' });
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

for (const value of [undefined, '0']) {
  test.serial(`STRATA_FUSE_COLOCATE ${value === undefined ? 'unset' : `=${value}`} leaves the loop a normal thread`, async (t) => {
    const s = await mountWithEnv(t, { STRATA_FUSE_COLOCATE: value });
    createMany(path.join(s.mnt, 'd'), 1000);
    const stats = (await serverStats(s.mnt)).colocation;
    t.deepEqual({ enabled: stats?.enabled, bursts: stats?.bursts }, { enabled: false, bursts: 0 });
  });
}

test.serial('with a busy loop on every CPU the server stays a normal thread and keeps answering', async (t) => {
  const s = await mountWithEnv(t, { STRATA_FUSE_COLOCATE: '1' });
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

/** The server's threads: name and scheduling policy (field 41 of /proc/PID/task/TID/stat; 5 = SCHED_IDLE). */
function serverThreads(mnt: string): { name: string; policy: number }[] {
  const pid = readState(mnt)!.pid;
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3
      return [{ name, policy: Number(fields[41 - 3]) }];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

test.serial('a thread started during a burst does not stay idle-class', async (t) => {
  // The remover thread starts at the first removal of a copied-up directory,
  // here inside rm -rf's burst of requests, while the loop may be idle-class.
  const spec: Record<string, string> = {};
  for (let d = 0; d < 10; d++) for (let f = 0; f < 50; f++) spec[`tree/d${d}/f${f}`] = 'x';
  let threads: { name: string; policy: number }[] = [];
  let bursts = 0;
  for (let i = 0; i < 5 && bursts === 0; i++) {
    const s = makeStack(1);
    populate(s.lowers[0]!, spec);
    // Without the warm-up, which would start the remover before the mount.
    await mountWithEnv(t, { STRATA_FUSE_COLOCATE: '1', STRATA_WARMUP: '0' }, s);
    execFileSync('rm', ['-rf', path.join(s.mnt, 'tree')]);
    await new Promise((r) => setTimeout(r, 300)); // the burst is over
    bursts = (await serverStats(s.mnt)).colocation?.bursts ?? 0;
    threads = serverThreads(s.mnt);
  }
  t.true(bursts > 0, 'the rm -rf was served idle-class');
  t.true(threads.some((th) => th.name === 'strata-remover'), `threads: ${JSON.stringify(threads)}`);
  t.deepEqual(threads.filter((th) => th.policy === 5), [], 'idle-class threads after the burst');
});

test.serial('an rm -rf, whose removals leave FORGETs behind, is served as a normal thread', async (t) => {
  const spec: Record<string, string> = {};
  for (let d = 0; d < 10; d++) for (let f = 0; f < 50; f++) spec[`tree/d${d}/f${f}`] = 'x';
  let stats;
  // Beside busy test files the watchdog may rescue the loop first (then it
  // left the idle class too, but not on its own), or the machine is found
  // crowded when the removals' burst begins, so only an earlier burst (the
  // listings, no FORGETs yet) was idle-class: such a try is made again.
  for (let i = 0; i < 8 && (!stats?.declines || stats.rescues); i++) {
    const s = makeStack(1);
    populate(s.lowers[0]!, spec);
    await mountWithEnv(t, { STRATA_FUSE_COLOCATE: '1' }, s);
    execFileSync('rm', ['-rf', path.join(s.mnt, 'tree')]);
    stats = (await serverStats(s.mnt)).colocation;
  }
  t.true((stats?.bursts ?? 0) > 0, `the rm -rf began as a burst: ${JSON.stringify(stats)}`);
  t.true((stats?.declines ?? 0) > 0, `and left it: ${JSON.stringify(stats)}`);
  t.is(stats?.rescues, 0, 'on its own, not rescued by the watchdog');
});

test.serial('a burst of creates leaves nothing behind and stays idle-class', async (t) => {
  let stats;
  for (let i = 0; i < 5 && !stats?.bursts; i++) {
    const s = await mountWithEnv(t, { STRATA_FUSE_COLOCATE: '1' });
    createMany(path.join(s.mnt, 'd'), 1000);
    stats = (await serverStats(s.mnt)).colocation;
  }
  t.true((stats?.bursts ?? 0) > 0, JSON.stringify(stats));
  t.is(stats?.declines, 0, JSON.stringify(stats));
});
