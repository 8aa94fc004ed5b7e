// The mount's life as a command: daemonising, readiness, clean failures
// that leave nothing mounted, umount waiting for the server, SIGKILL
// recovery, which and --stats.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@strata/common';
import { alive, readState } from '../src/index.ts';
import { cleanup, forget, isMounted, ls, makeStack, mountStrata, populate } from './helpers.ts';

const STRATA = fileURLToPath(new URL('../../cli/bin/strata.js', import.meta.url));
const strata = (args: string[]) => run(process.execPath, [STRATA, ...args], { allowFailure: true, timeoutMs: 60000 });

test.afterEach.always(async (t) => cleanup(t));

test('strata mount daemonises, returns once usable; strata umount waits for the server to exit', async (t) => {
  const s = makeStack(2);
  // a layer whose path has a colon: escaped as \: in lowerdir=
  const colon = path.join(s.dir, 'base:layer');
  fs.renameSync(s.lowers[1]!, colon);
  s.lowers[1] = colon;
  populate(s.lowers[0]!, { 'top': 't' });
  populate(s.lowers[1]!, { 'bottom': 'b' });
  const o = `lowerdir=${s.lowers[0]}:${s.lowers[1]!.replace(':', '\\:')},upperdir=${s.upper},workdir=${s.work}`;
  try {
    const r = await strata(['mount', '-o', o, s.mnt]);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(ls(s.mnt), ['bottom', 'top']); // usable the moment the command returned
    const st = readState(s.mnt);
    t.truthy(st);
    t.true(alive(st!.pid));
    const w = await strata(['which', '--json', s.mnt, '/bottom']);
    t.is(w.code, 0, w.stderr);
    t.like(JSON.parse(w.stdout), { path: '/bottom', kind: 'lower', layerDir: s.lowers[1] });
    fs.writeFileSync(path.join(s.mnt, 'bottom'), 'changed');
    t.like(JSON.parse((await strata(['which', '--json', s.mnt, 'bottom'])).stdout), { kind: 'upper' });
    const stats = await strata(['mount', '--stats', '--json', s.mnt]);
    t.is(stats.code, 0, stats.stderr);
    t.true(JSON.parse(stats.stdout).ops.getattr.count > 0);
    const busy = await strata(['mount', '-o', o, s.mnt]);
    t.is(busy.code, 5);
    t.regex(busy.stderr, /already in use/);
    const u = await strata(['umount', s.mnt]);
    t.is(u.code, 0, u.stderr);
    t.false(isMounted(s.mnt));
    t.false(alive(st!.pid));
  } finally {
    if (isMounted(s.mnt)) await run('umount', ['-l', s.mnt], { allowFailure: true });
  }
});

test('clean failures: missing or unreadable lowerdir, workdir on another filesystem; nothing left mounted', async (t) => {
  const s = makeStack(1);
  const cases: [string, RegExp, number][] = [
    [`lowerdir=${s.dir}/missing`, /lowerdir .*missing: no such directory/, 3],
    [`lowerdir=${s.lowers[0]},upperdir=${s.upper},workdir=/dev/shm`, /not on the same filesystem/, 4],
    [`lowerdir=${s.lowers[0]},upperdir=${s.upper}`, /upperdir and workdir go together/, 2],
    [`lowerdir=${s.lowers[0]},upperdir=${s.upper},workdir=${s.upper}`, /must not contain each other/, 4],
  ];
  for (const [o, re, code] of cases) {
    const r = await strata(['mount', '-o', o, s.mnt]);
    t.is(r.code, code, `${o}: ${r.stderr}`);
    t.regex(r.stderr, re);
    t.false(isMounted(s.mnt));
  }
  const r = await strata(['mount', '-o', `lowerdir=${s.lowers[0]}`, path.join(s.dir, 'nomnt')]);
  t.is(r.code, 3);
  t.regex(r.stderr, /mountpoint .*nomnt: no such directory/);
  // unreadable to an ordinary user: refused for that user (run as uid 1000)
  fs.chmodSync(s.lowers[0]!, 0o700);
  const u = await run('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', process.execPath, STRATA, 'mount', '-o', `lowerdir=${s.lowers[0]}`, s.mnt], { allowFailure: true, timeoutMs: 60000 });
  t.not(u.code, 0);
  t.false(isMounted(s.mnt));
});

test('SIGKILL of the server: upper stays consistent, strata umount clears the dead mount, a remount works', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'big': 'x'.repeat(1 << 20) });
  const h = await mountStrata(t, s);
  fs.writeFileSync(path.join(s.mnt, 'written'), 'w');
  fs.unlinkSync(path.join(s.mnt, 'a'));
  fs.appendFileSync(path.join(s.mnt, 'big'), 'y');
  forget(h);
  process.kill(h.pid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(h.pid); i++) await new Promise((r) => setTimeout(r, 20));
  try {
    // ECONNABORTED if a request was in flight when the server died
    const err = t.throws(() => fs.readdirSync(s.mnt));
    t.true(['ENOTCONN', 'ECONNABORTED'].includes((err as NodeJS.ErrnoException).code!));
  } finally {
    const u = await run(process.execPath, [STRATA, 'umount', s.mnt], { allowFailure: true });
    t.is(u.code, 0, u.stderr);
  }
  t.false(isMounted(s.mnt));
  t.is(fs.readFileSync(path.join(s.upper, 'written'), 'utf8'), 'w');
  t.true(fs.lstatSync(path.join(s.upper, 'a')).isCharacterDevice());
  t.is(fs.statSync(path.join(s.upper, 'big')).size, (1 << 20) + 1);
  await mountStrata(t, s);
  t.deepEqual(ls(s.mnt), ['big', 'written']);
  t.deepEqual(ls(path.join(s.work, 'work')), []);
});

test('mount -t fuse.strata works through the helper script', async (t) => {
  const helper = '/sbin/mount.fuse.strata';
  if (!fs.existsSync(helper)) {
    t.fail(`${helper} is missing: scripts/setup.sh installs it`);
    return;
  }
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'f': 'F' });
  try {
    // The helper is machine-wide; STRATA_HOME points it at this checkout.
    const env = { ...process.env, STRATA_HOME: fileURLToPath(new URL('../../..', import.meta.url)) };
    const r = await run('mount', ['-t', 'fuse.strata', '-o', `lowerdir=${s.lowers[0]},upperdir=${s.upper},workdir=${s.work}`, 'strata', s.mnt], { allowFailure: true, timeoutMs: 60000, env });
    t.is(r.code, 0, r.stderr);
    t.deepEqual(ls(s.mnt), ['f']);
    const u = await strata(['umount', s.mnt]);
    t.is(u.code, 0, u.stderr);
    t.false(isMounted(s.mnt));
  } finally {
    if (isMounted(s.mnt)) await run('umount', ['-l', s.mnt], { allowFailure: true });
  }
});

test('a fresh mount leaves upper and workdir as they were (the warm-up works elsewhere and cleans up)', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'd/f': 'F' });
  await mountStrata(t, s); // the server has warmed up (before mounting) by now
  t.deepEqual(ls(s.upper), []);
  t.deepEqual(ls(path.join(s.work, 'work')), []);
  t.is(fs.readFileSync(path.join(s.mnt, 'd/f'), 'utf8'), 'F');
  fs.renameSync(path.join(s.mnt, 'd'), path.join(s.mnt, 'e'));
  t.deepEqual(ls(s.mnt), ['e']);
});
