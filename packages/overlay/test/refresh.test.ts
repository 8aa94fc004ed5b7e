// The native transport fetches the attributes of directories again once a
// walk that listed them is over (native/src/refresh.c): the kernel takes a
// directory's atime for stale after every listing, and a walk that comes
// back (find run twice, ls -l after ls) would wait on a GETATTR for each.
// Serial: the tests set STRATA_FUSE_REFRESH around a mount.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { cleanup, makeStack, mountWithEnv, populate, type Stack } from './helpers.ts';
import { serverStats, type NativeStats } from './native-stats.ts';

test.afterEach.always(async (t) => cleanup(t));

const DIRS = 40;

/** A two-layer stack of DIRS directories under t/, each with files from both layers. */
function stackOfDirs(): Stack {
  const s = makeStack(2);
  for (const [i, layer] of s.lowers.entries()) {
    const files: Record<string, string> = {};
    for (let d = 0; d < DIRS; d++) for (let f = 0; f < 5; f++) files[`t/d${d}/l${i}-f${f}`] = `${d}/${f}`;
    populate(layer, files);
  }
  return s;
}

/** `find` over the mount, as a user runs it: its listings and its stat of each directory it enters. */
function find(mnt: string): string[] {
  return execFileSync('find', ['.'], { cwd: mnt, encoding: 'utf8' }).trim().split('\n').sort();
}

/** The server's stats once it has been quiet for a while: what a refresh does is done by then. */
async function settled(mnt: string): Promise<NativeStats> {
  let last = await serverStats(mnt);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await serverStats(mnt);
    if (now.refreshedDirs === last.refreshedDirs && now.requests.getattr === last.requests.getattr) return now;
    last = now;
  }
  return last;
}

for (const value of [undefined, '0']) {
  const on = value === undefined;
  test.serial(
    on
      ? "after a walk, the directories it listed are stat'ed again while the mount is quiet: the walk that comes back sends no GETATTR"
      : 'with STRATA_FUSE_REFRESH=0 the walk that comes back sends a GETATTR per directory it listed',
    async (t) => {
      // Other test files drop the kernel's caches now and then, which sends
      // GETATTRs again: a few tries, each on a fresh mount.
      let before: NativeStats | undefined;
      let getattrs = -1;
      for (let i = 0; i < 3 && getattrs !== 0; i++) {
        const s = stackOfDirs();
        await mountWithEnv(t, { STRATA_FUSE_REFRESH: value }, s);
        const first = find(s.mnt);
        t.is(first.length, 1 + 1 + DIRS + DIRS * 10, 'the merged tree');
        before = await settled(s.mnt);
        const again = find(s.mnt);
        t.deepEqual(again, first);
        const after = await serverStats(s.mnt);
        getattrs = (after.requests.getattr ?? 0) - (before.requests.getattr ?? 0);
        if (!on) break;
      }
      if (on) {
        t.true((before?.refreshedDirs ?? 0) >= DIRS + 1, `${before?.refreshedDirs} directories stat'ed again`);
        t.is(getattrs, 0, 'GETATTRs sent by the second walk');
      } else {
        t.true(getattrs >= DIRS, `${getattrs} GETATTRs sent by the second walk`);
      }
    },
  );
}
