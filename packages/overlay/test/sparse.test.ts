// Lookups in a big lower directory that has not been read whole: the name is
// looked up in each layer (Tree.lookup), and must answer exactly what the
// merged read of the directory answers, whiteouts, opaque directories and
// all. STRATA_SPARSE_LOOKUP_MIN=0 makes every lower directory such a one.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { lsetxattr, mkWhiteout } from '@strata/native';
import { Overlay } from '../src/core/overlay.ts';
import { cleanup, makeStack, mountWithEnv, populate } from './helpers.ts';

test.afterEach.always(cleanup);

/** Three lower layers (l0 on top) with every way a name can merge, under d/ and d2/. */
function layeredStack() {
  const s = makeStack(3);
  const [l0, l1, l2] = s.lowers as [string, string, string];
  populate(l2, {
    'd/a': 'a2', 'd/w': 'w2', 'd/x': 'x2', 'd/y': 'y2', 'd/s/p2': 'p2', 'd/o/q2': 'q2', 'd/m/r2': 'r2',
    'd/n/n2': 'n2', 'd/only2': 'o2', 'd2/k2': 'k2',
  });
  populate(l1, { 'd/a': 'a1', 'd/y': 'y1', 'd/.wh.x': '', 'd/.wh.y': '', 'd/o/q1': 'q1', 'd/m/r1': 'r1', 'd/m/.wh..wh..opq': '', 'd/n': 'file', 'd/f/': null, 'd2/k1': 'k1', 'd2/.wh..wh..opq': '' });
  mkWhiteout(path.join(l1, 'd/w'));
  lsetxattr(path.join(l1, 'd/o'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  populate(l0, { 'd/s/p1': 'p1', 'd/n/n1': 'n1', 'd/f': 'f0' });
  return s;
}

/** What each name of the stack above shows: its content (a file), its entries (a directory), or absent. */
const expected: Record<string, string | string[] | null> = {
  'd/a': 'a1', // the top copy serves
  'd/w': null, // an overlay whiteout hides the layer below
  'd/x': null, // so does an aufs one
  'd/y': 'y1', // an aufs whiteout hides from the layers below only
  'd/s': ['p1', 'p2'], // directories merge
  'd/o': ['q1'], // an opaque one does not
  'd/m': ['r1'], // nor one with the aufs opaque marker
  'd/n': ['n1'], // a file below a directory ends its chain
  'd/f': 'f0', // a file above a directory hides it
  'd/only2': 'o2',
  'd/none': null,
  'd/.wh.x': null, // whiteouts are never shown
  'd/.wh..wh..opq': null,
  'd2/k1': 'k1',
  'd2/k2': null, // the marker in d2's copy in l1 cuts l2's
};

function shown(root: string, rel: string): string | string[] | null {
  const p = path.join(root, rel);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return null;
  }
  return st.isDirectory() ? fs.readdirSync(p).sort() : fs.readFileSync(p, 'utf8');
}

test('names looked up one per layer answer what the merged read answers: whiteouts of both formats, opaque directories, markers, files over directories', async (t) => {
  const s = await mountWithEnv(t, { STRATA_SPARSE_LOOKUP_MIN: '0' }, layeredStack());
  // Each looked up by name first (no listing of d/ or d2/ yet), twice: the second from what the first left.
  const inos = new Map<string, number>();
  for (let pass = 0; pass < 2; pass++) {
    for (const [rel, want] of Object.entries(expected)) {
      t.deepEqual(shown(s.mnt, rel), want, `${rel} (pass ${pass + 1})`);
      if (want === null) continue;
      const ino = fs.lstatSync(path.join(s.mnt, rel)).ino;
      if (pass === 0) inos.set(rel, ino);
      else t.is(ino, inos.get(rel)!, `${rel}: one inode number`);
    }
  }
  // Now read whole: the same names, and the same inodes as the lookups gave.
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'd')).sort(), ['a', 'f', 'm', 'n', 'o', 'only2', 's', 'y']);
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'd2')).sort(), ['k1']);
  for (const [rel, ino] of inos) t.is(fs.lstatSync(path.join(s.mnt, rel)).ino, ino, `${rel} after the listing`);
  // Changes through nodes that were looked up one at a time.
  fs.appendFileSync(path.join(s.mnt, 'd/a'), '+');
  t.is(fs.readFileSync(path.join(s.upper, 'd/a'), 'utf8'), 'a1+');
  fs.renameSync(path.join(s.mnt, 'd/s'), path.join(s.mnt, 'd/s2'));
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'd/s2')).sort(), ['p1', 'p2']);
  fs.unlinkSync(path.join(s.mnt, 'd/only2'));
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'd')).sort(), ['a', 'f', 'm', 'n', 'o', 's2', 'y']);
  t.is(fs.readFileSync(path.join(s.mnt, 'd/a'), 'utf8'), 'a1+');
});

test('a big lower directory (default threshold): a few files looked up one at a time, then many, then listed, all with one inode each', async (t) => {
  const s = makeStack(2);
  const files: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) files[`big/file-with-a-longer-name-${i}`] = String(i);
  populate(s.lowers[1]!, files);
  populate(s.lowers[0]!, { 'big/file-with-a-longer-name-7': 'top', 'big/extra': 'e' });
  t.true(fs.statSync(path.join(s.lowers[1]!, 'big')).size >= 16384, 'the host directory is over the threshold');
  await mountWithEnv(t, {}, s);
  const m = (i: number) => path.join(s.mnt, 'big', `file-with-a-longer-name-${i}`);
  const inos: number[] = [];
  // Past the 32 names looked up one at a time: the directory is read whole then.
  for (let i = 0; i < 100; i++) {
    t.is(fs.readFileSync(m(i), 'utf8'), i === 7 ? 'top' : String(i));
    inos.push(fs.statSync(m(i)).ino);
  }
  t.is(new Set(inos).size, 100);
  const names = fs.readdirSync(path.join(s.mnt, 'big'));
  t.is(names.length, 1501);
  for (let i = 0; i < 100; i++) t.is(fs.statSync(m(i)).ino, inos[i]!, `file ${i}: one inode number`);
  t.is(fs.readFileSync(path.join(s.mnt, 'big/extra'), 'utf8'), 'e');
});

test('the engine: nodes of names looked up one at a time are the very nodes of the directory read whole later, with what that read says', (t) => {
  const s = makeStack(2);
  const files: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) files[`big/file-with-a-longer-name-${i}`] = String(i);
  populate(s.lowers[1]!, { ...files, 'big/sub/inner': 'i' });
  populate(s.lowers[0]!, { 'big/file-with-a-longer-name-1': 'top', 'big/sub/top': 't' });
  const ov = new Overlay({ lowerDirs: s.lowers, upperDir: s.upper, workDir: s.work, noSync: true });
  t.teardown(() => ov.close());
  const big = ov.tree.lookup(ov.tree.root, 'big')!;
  const one = ov.tree.lookup(big, 'file-with-a-longer-name-1')!;
  const sub = ov.tree.lookup(big, 'sub')!;
  t.is(big.children, null, 'not read whole for a lookup');
  t.is(ov.tree.lookup(big, 'nothing'), undefined);
  t.is(one.lower?.layer, 1, 'served by the top copy (layer 0 is the upper)');
  t.deepEqual(sub.lowerDirs.map((d) => d.layer), [1, 2], 'a directory merges the one below');
  t.deepEqual([...ov.tree.children(sub).keys()].sort(), ['inner', 'top']);
  // A change through a node looked up alone, then the whole read: one node per name.
  ov.release(ov.open('/big/file-with-a-longer-name-1', fs.constants.O_WRONLY));
  t.true(one.upper);
  const all = ov.tree.children(big);
  t.is(all.size, 1501);
  t.is(all.get('file-with-a-longer-name-1'), one);
  t.is(all.get('sub'), sub);
  t.true(one.upper, 'the whole read says it is in the upper layer now');
  t.true(one.cookie > 2 && sub.cookie > 2 && one.cookie !== sub.cookie, 'cookies given by the read');
  t.is(big.partial, null);
});
