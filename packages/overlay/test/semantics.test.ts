// The overlay rules through a real strata FUSE mount: lookup with
// whiteouts and opaque directories (both formats), merged readdir,
// copy-up, and every name and attribute operation.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { lgetxattr, lsetxattr, mknod } from '@strata/native';
import { cleanup, ls, makeStack, mountStrata, populate, unmount } from './helpers.ts';

test.afterEach.always(async (t) => cleanup(t));

test('lookup: upper over lower, whiteouts and opaque dirs of both formats hide what is below', async (t) => {
  const s = makeStack(3);
  populate(s.lowers[2]!, { 'a': 'a2', 'b': 'b2', 'c': 'c2', 'd/x': 'x2', 'o/y': 'y2', 'q/z': 'z2', 'keep/k': 'k' });
  populate(s.lowers[1]!, { 'a': 'a1', 'o/': null, 'q/': null, 'q/w': 'w1' });
  mknod(path.join(s.lowers[1]!, 'b'), 0o020000, 0, 0); // overlay whiteout
  fs.writeFileSync(path.join(s.lowers[1]!, '.wh.c'), ''); // aufs whiteout
  lsetxattr(path.join(s.lowers[1]!, 'o'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  fs.writeFileSync(path.join(s.lowers[1]!, 'q', '.wh..wh..opq'), '');
  populate(s.lowers[0]!, { 'a': 'a0' });
  await mountStrata(t, s);
  t.deepEqual(ls(s.mnt), ['a', 'd', 'keep', 'o', 'q']);
  t.is(fs.readFileSync(path.join(s.mnt, 'a'), 'utf8'), 'a0');
  t.throws(() => fs.statSync(path.join(s.mnt, 'b')), { code: 'ENOENT' });
  t.throws(() => fs.statSync(path.join(s.mnt, 'c')), { code: 'ENOENT' });
  t.deepEqual(ls(path.join(s.mnt, 'o')), []);
  t.deepEqual(ls(path.join(s.mnt, 'q')), ['w']);
  t.is(fs.readFileSync(path.join(s.mnt, 'd/x'), 'utf8'), 'x2');
  // d_type of merged entries
  const types = Object.fromEntries(fs.readdirSync(s.mnt, { withFileTypes: true }).map((d) => [d.name, d.isDirectory() ? 'd' : 'f']));
  t.deepEqual(types, { a: 'f', d: 'd', keep: 'd', o: 'd', q: 'd' });
});

test('readdir merges all layers, shows . and .., hides whiteouts and markers', async (t) => {
  const s = makeStack(2);
  populate(s.lowers[1]!, { 'd/one': '1', 'd/two': '2', 'd/gone': 'g' });
  populate(s.lowers[0]!, { 'd/three': '3' });
  mknod(path.join(s.lowers[0]!, 'd', 'gone'), 0o020000, 0, 0);
  populate(s.upper, { 'd/four': '4' });
  await mountStrata(t, s);
  t.deepEqual(ls(path.join(s.mnt, 'd')), ['four', 'one', 'three', 'two']);
  const out = execFileSync('ls', ['-a', path.join(s.mnt, 'd')], { encoding: 'utf8' }).split('\n').filter(Boolean);
  t.deepEqual(out, ['.', '..', 'four', 'one', 'three', 'two']);
});

test('copy-up keeps data, mode, owner, times and xattrs; parents first; the lower layer is untouched', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'p/q/f': 'lower data' });
  const f = path.join(s.lowers[0]!, 'p/q/f');
  fs.chmodSync(f, 0o640);
  fs.chownSync(f, 1234, 5678);
  lsetxattr(f, 'user.color', Buffer.from('blue'), 0);
  fs.utimesSync(f, new Date('2001-01-01T00:00:00Z'), new Date('2002-02-02T00:00:00Z'));
  fs.chmodSync(path.join(s.lowers[0]!, 'p'), 0o750);
  await mountStrata(t, s);
  t.is(fs.statSync(path.join(s.mnt, 'p/q/f')).atime.toISOString(), '2001-01-01T00:00:00.000Z');
  fs.chmodSync(path.join(s.mnt, 'p/q/f'), 0o640); // metadata-only change: copy-up keeps the times
  t.is(fs.statSync(path.join(s.upper, 'p/q/f')).atime.toISOString(), '2001-01-01T00:00:00.000Z');
  fs.appendFileSync(path.join(s.mnt, 'p/q/f'), '+more');
  fs.utimesSync(path.join(s.mnt, 'p/q/f'), new Date('2001-01-01T00:00:00Z'), new Date('2002-02-02T00:00:00Z'));
  t.is(fs.readFileSync(path.join(s.mnt, 'p/q/f'), 'utf8'), 'lower data+more');
  t.is(fs.readFileSync(f, 'utf8'), 'lower data');
  const up = path.join(s.upper, 'p/q/f');
  const st = fs.statSync(up);
  t.is(st.mode & 0o7777, 0o640);
  t.is(st.uid, 1234);
  t.is(st.gid, 5678);
  t.is(lgetxattr(up, 'user.color')?.toString(), 'blue');
  t.is(fs.statSync(path.join(s.upper, 'p')).mode & 0o7777, 0o750);
  t.is(fs.statSync(path.join(s.mnt, 'p/q/f')).mtime.toISOString(), '2002-02-02T00:00:00.000Z');
  // Nothing half-built is left in the work area.
  t.deepEqual(fs.readdirSync(path.join(s.work, 'work')), []);
});

test('create, write, unlink, mkdir, rmdir: whiteouts only where a lower layer has the name', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'low': 'L', 'ldir/x': 'x', 'edir/': null });
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.writeFileSync(m('new'), 'N');
  t.is(fs.readFileSync(m('new'), 'utf8'), 'N');
  fs.unlinkSync(m('new'));
  t.throws(() => fs.lstatSync(path.join(s.upper, 'new')), { code: 'ENOENT' });
  fs.unlinkSync(m('low'));
  t.throws(() => fs.statSync(m('low')), { code: 'ENOENT' });
  const wh = fs.lstatSync(path.join(s.upper, 'low'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.throws(() => fs.rmdirSync(m('ldir')), { code: 'ENOTEMPTY' });
  fs.unlinkSync(m('ldir/x'));
  fs.rmdirSync(m('ldir'));
  t.false(ls(s.mnt).includes('ldir'));
  t.true(fs.lstatSync(path.join(s.upper, 'ldir')).isCharacterDevice());
  // mkdir over a whiteout makes an opaque directory: the old contents stay gone
  fs.mkdirSync(m('ldir'));
  t.deepEqual(ls(m('ldir')), []);
  t.is(lgetxattr(path.join(s.upper, 'ldir'), 'trusted.overlay.opaque')?.toString(), 'y');
  // a file over a whiteout
  fs.writeFileSync(m('low'), 'again');
  t.is(fs.readFileSync(m('low'), 'utf8'), 'again');
  t.true(fs.lstatSync(path.join(s.upper, 'low')).isFile());
  fs.mkdirSync(m('fresh'));
  fs.rmdirSync(m('fresh'));
  t.throws(() => fs.lstatSync(path.join(s.upper, 'fresh')), { code: 'ENOENT' });
  t.throws(() => fs.mkdirSync(m('edir')), { code: 'EEXIST' });
  t.throws(() => fs.writeFileSync(m('nodir/f'), ''), { code: 'ENOENT' });
});

test('rename: files across dirs, over existing names, and a lower-only directory (no EXDEV)', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'b': 'B', 'dir/f1': '1', 'dir/sub/f2': '2', 'other/': null });
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.renameSync(m('a'), m('other/a2'));
  t.is(fs.readFileSync(m('other/a2'), 'utf8'), 'A');
  t.throws(() => fs.statSync(m('a')), { code: 'ENOENT' });
  fs.renameSync(m('other/a2'), m('b'));
  t.is(fs.readFileSync(m('b'), 'utf8'), 'A');
  fs.renameSync(m('dir'), m('moved'));
  t.deepEqual(ls(m('moved')), ['f1', 'sub']);
  t.is(fs.readFileSync(m('moved/sub/f2'), 'utf8'), '2');
  t.throws(() => fs.statSync(m('dir')), { code: 'ENOENT' });
  fs.writeFileSync(m('moved/sub/f3'), '3');
  t.deepEqual(ls(m('moved/sub')), ['f2', 'f3']);
  t.throws(() => fs.renameSync(m('moved'), m('moved/sub/x')), { code: 'EINVAL' });
  fs.mkdirSync(m('full'));
  fs.writeFileSync(m('full/x'), '');
  t.throws(() => fs.renameSync(m('other'), m('full')), { code: 'ENOTEMPTY' });
  t.throws(() => fs.renameSync(m('b'), m('full')), { code: 'EISDIR' });
  t.throws(() => fs.renameSync(m('full'), m('b')), { code: 'ENOTDIR' });
});

test('symlinks, chmod, chown, utimens and xattrs', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'f': 'data', 'ln': { symlink: 'f' } });
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  t.is(fs.readlinkSync(m('ln')), 'f');
  t.is(fs.readFileSync(m('ln'), 'utf8'), 'data');
  fs.symlinkSync('../nowhere', m('dangling'));
  t.is(fs.readlinkSync(m('dangling')), '../nowhere');
  fs.chmodSync(m('f'), 0o4711);
  t.is(fs.statSync(m('f')).mode & 0o7777, 0o4711);
  fs.chownSync(m('f'), 42, 43);
  t.like(fs.statSync(m('f')), { uid: 42, gid: 43 });
  fs.lchownSync(m('ln'), 7, 8);
  t.like(fs.lstatSync(m('ln')), { uid: 7, gid: 8 });
  fs.utimesSync(m('f'), 1000, 2000);
  t.is(fs.statSync(m('f')).mtimeMs, 2000000);
  lsetxattr(m('f'), 'user.k', Buffer.from('v'), 0);
  t.is(lgetxattr(m('f'), 'user.k')?.toString(), 'v');
  const names = execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', m('f')], { encoding: 'utf8' });
  t.regex(names, /user\.k="v"/);
  execFileSync('setfattr', ['-x', 'user.k', m('f')]);
  t.is(lgetxattr(m('f'), 'user.k'), null);
  t.throws(() => lsetxattr(m('f'), 'trusted.overlay.opaque', Buffer.from('y'), 0), { code: 'EOPNOTSUPP' });
});

test('mtimes set through the mount survive: touch -m -d, cp -p, tar -x', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'f': 'x' });
  const src = path.join(s.dir, 'src');
  populate(src, { 'a': 'A', 'sub/b': 'B' });
  fs.utimesSync(path.join(src, 'a'), 1e9, 1.1e9);
  fs.utimesSync(path.join(src, 'sub/b'), 1e9, 1.2e9);
  execFileSync('tar', ['-cf', path.join(s.dir, 't.tar'), '-C', src, '.']);
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  execFileSync('touch', ['-m', '-d', '2001-02-03 04:05:06.123456789', m('f')]);
  t.is(execFileSync('stat', ['-c', '%y', m('f')], { encoding: 'utf8' }).trim(), '2001-02-03 04:05:06.123456789 +0000');
  const atimeBefore = fs.statSync(m('f')).atimeMs;
  execFileSync('touch', ['-m', '-d', '2001-02-03 04:05:07', m('f')]);
  t.is(fs.statSync(m('f')).atimeMs, atimeBefore, 'touch -m leaves atime alone');
  execFileSync('cp', ['-p', path.join(src, 'a'), m('copied')]);
  t.is(fs.statSync(m('copied')).mtimeMs, 1.1e12);
  fs.mkdirSync(m('x'));
  execFileSync('tar', ['-xf', path.join(s.dir, 't.tar'), '-C', m('x')]);
  t.is(fs.statSync(m('x/a')).mtimeMs, 1.1e12);
  t.is(fs.statSync(m('x/sub/b')).mtimeMs, 1.2e12);
  t.is(fs.statSync(path.join(s.upper, 'x/sub/b')).mtimeMs, 1.2e12);
});

test('inode numbers are stable across copy-up and unique across layers; hard links share one', async (t) => {
  const s = makeStack(2);
  populate(s.lowers[1]!, { 'a': '1', 'b': '2' });
  populate(s.lowers[0]!, { 'c': '3' });
  fs.linkSync(path.join(s.lowers[1]!, 'a'), path.join(s.lowers[1]!, 'hl'));
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const inos = ['a', 'b', 'c'].map((n) => fs.statSync(m(n)).ino);
  t.is(new Set(inos).size, 3);
  t.is(fs.statSync(m('hl')).ino, inos[0]);
  fs.appendFileSync(m('a'), 'x');
  t.is(fs.statSync(m('a')).ino, inos[0], 'same inode after copy-up');
  t.is(fs.statSync(m('hl')).ino, inos[0]);
  fs.linkSync(m('b'), m('b2'));
  t.is(fs.statSync(m('b2')).ino, fs.statSync(m('b')).ino);
  t.is(fs.statSync(m('b2')).nlink, 2);
});

test('read-only mounts (lowerdir alone) refuse changes with EROFS', async (t) => {
  const s = makeStack(2);
  populate(s.lowers[0]!, { 'a': 'A' });
  populate(s.lowers[1]!, { 'b': 'B' });
  await mountStrata(t, s, { upperDir: undefined, workDir: undefined });
  t.deepEqual(ls(s.mnt), ['a', 'b']);
  t.throws(() => fs.writeFileSync(path.join(s.mnt, 'c'), ''), { code: 'EROFS' });
  t.throws(() => fs.unlinkSync(path.join(s.mnt, 'a')), { code: 'EROFS' });
});

test('aufs whiteout format: deletions write .wh. files and readdir hides them', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'd/x': 'x' });
  const h = await mountStrata(t, s, { whiteout: 'aufs' });
  fs.unlinkSync(path.join(s.mnt, 'a'));
  fs.unlinkSync(path.join(s.mnt, 'd/x'));
  fs.rmdirSync(path.join(s.mnt, 'd'));
  t.deepEqual(ls(s.mnt), []);
  t.true(fs.existsSync(path.join(s.upper, '.wh.a')));
  t.true(fs.existsSync(path.join(s.upper, '.wh.d')));
  fs.mkdirSync(path.join(s.mnt, 'd'));
  t.deepEqual(ls(path.join(s.mnt, 'd')), []);
  t.true(fs.existsSync(path.join(s.upper, 'd', '.wh..wh..opq')));
  await unmount(h);
  // and a remount reads what it wrote
  await mountStrata(t, s);
  t.deepEqual(ls(s.mnt), ['d']);
  t.deepEqual(ls(path.join(s.mnt, 'd')), []);
});

test('a renamed lower directory keeps its contents after a remount (redirect)', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'dir/a': 'A', 'dir/sub/b': 'B' });
  const h = await mountStrata(t, s);
  fs.renameSync(path.join(s.mnt, 'dir'), path.join(s.mnt, 'renamed'));
  fs.unlinkSync(path.join(s.mnt, 'renamed/a'));
  await unmount(h);
  await mountStrata(t, s);
  t.deepEqual(ls(s.mnt), ['renamed']);
  t.deepEqual(ls(path.join(s.mnt, 'renamed')), ['sub']);
  t.is(fs.readFileSync(path.join(s.mnt, 'renamed/sub/b'), 'utf8'), 'B');
});

test('a lower directory moved into a new parent keeps its contents when the upper becomes a lower layer', async (t) => {
  // unionmount-testsuite --ov=3 (rename-move-dir): the redirect points outside
  // the new parent's own merge chain, to the layer below the old upper.
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a/dir/f': 'F', 'a/empty/': null });
  const h = await mountStrata(t, s);
  fs.mkdirSync(path.join(s.mnt, 'a/empty/new'));
  fs.renameSync(path.join(s.mnt, 'a/dir'), path.join(s.mnt, 'a/empty/new/dir'));
  await unmount(h);
  const rotated = { ...s, lowers: [s.upper, ...s.lowers], upper: path.join(s.dir, 'upper2'), work: path.join(s.dir, 'work2') };
  fs.mkdirSync(rotated.upper);
  fs.mkdirSync(rotated.work);
  await mountStrata(t, rotated);
  t.deepEqual(ls(path.join(s.mnt, 'a')), ['empty']);
  t.deepEqual(ls(path.join(s.mnt, 'a/empty/new/dir')), ['f']);
  t.is(fs.readFileSync(path.join(s.mnt, 'a/empty/new/dir/f'), 'utf8'), 'F');
});

test('fchmod, fchown and futimens on an open file change the upper copy (as tar -x does)', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'low': 'L' });
  await mountStrata(t, s);
  for (const name of ['low', 'new']) {
    const fd = fs.openSync(path.join(s.mnt, name), 'a', 0o644);
    try {
      fs.writeSync(fd, '+');
      fs.futimesSync(fd, 1000, 2000.5);
      fs.fchownSync(fd, 1000, 1001);
      fs.fchmodSync(fd, 0o600);
      const st = fs.fstatSync(fd);
      t.like(st, { uid: 1000, gid: 1001, mode: 0o100600 }, name);
      t.is(st.mtimeMs, 2000500, name);
    } finally {
      fs.closeSync(fd);
    }
    const up = fs.statSync(path.join(s.upper, name));
    t.like(up, { uid: 1000, gid: 1001, mode: 0o100600, mtimeMs: 2000500 }, `${name} in the upper layer`);
  }
  t.is(fs.statSync(path.join(s.lowers[0]!, 'low')).mode & 0o777, 0o644, 'the lower file is untouched');
});

test('redirect_dir=off: renaming a directory with lower parts is EXDEV (as the kernel); pure upper ones rename', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'dir/a': 'A' });
  await mountStrata(t, s, { redirectDir: false });
  t.throws(() => fs.renameSync(path.join(s.mnt, 'dir'), path.join(s.mnt, 'dir2')), { code: 'EXDEV' });
  fs.mkdirSync(path.join(s.mnt, 'mine'));
  fs.renameSync(path.join(s.mnt, 'mine'), path.join(s.mnt, 'mine2'));
  t.deepEqual(ls(s.mnt), ['dir', 'mine2']);
  // mv falls back to copy + delete
  execFileSync('mv', [path.join(s.mnt, 'dir'), path.join(s.mnt, 'moved')]);
  t.is(fs.readFileSync(path.join(s.mnt, 'moved/a'), 'utf8'), 'A');
});

test('rename of a lower directory onto a non-empty upper one: ENOTEMPTY, after the copy-up and redirect kernel overlayfs also leaves', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'low/f': 'f', 'merged/g': 'g' });
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.mkdirSync(m('new'));
  fs.writeFileSync(m('new/x'), 'x');
  fs.writeFileSync(m('merged/h'), 'h');
  // a target with lower parts is checked first: nothing changes
  t.throws(() => fs.renameSync(m('low'), m('merged')), { code: 'ENOTEMPTY' });
  t.false(fs.existsSync(path.join(s.upper, 'low')));
  // a pure upper target is the upper filesystem's to refuse, after the source is copied up and marked
  t.throws(() => fs.renameSync(m('low'), m('new')), { code: 'ENOTEMPTY' });
  t.truthy(lgetxattr(path.join(s.upper, 'low'), 'trusted.overlay.redirect'));
  t.deepEqual(fs.readdirSync(m('low')), ['f']);
  t.deepEqual(fs.readdirSync(m('new')), ['x']);
});

test('hard links: with one lower name removed, the others stay usable, whether the kernel had them from a listing or a lookup', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'd1/a': 'shared', 'd2/': null, 'd3/': null });
  fs.linkSync(path.join(s.lowers[0]!, 'd1/a'), path.join(s.lowers[0]!, 'd2/b'));
  fs.linkSync(path.join(s.lowers[0]!, 'd1/a'), path.join(s.lowers[0]!, 'd3/c'));
  await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const ino = fs.statSync(m('d1/a')).ino;
  fs.unlinkSync(m('d1/a'));
  // d2 listed with attributes (ls -l): b reaches the kernel under the removed name's node id
  t.deepEqual(fs.readdirSync(m('d2'), { withFileTypes: true }).map((e) => [e.name, e.isFile()]), [['b', true]]);
  t.is(fs.readFileSync(m('d2/b'), 'utf8'), 'shared');
  t.is(fs.statSync(m('d2/b')).ino, ino);
  fs.unlinkSync(m('d2/b'));
  t.is(fs.readFileSync(m('d3/c'), 'utf8'), 'shared', 'looked up, not listed');
  fs.appendFileSync(m('d3/c'), '+1');
  t.is(fs.readFileSync(path.join(s.upper, 'd3/c'), 'utf8'), 'shared+1');
});

test('hard links: copy-up of one name keeps one file (data, inode, link count), also after a remount', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'shared', 'x/': null });
  fs.linkSync(path.join(s.lowers[0]!, 'a'), path.join(s.lowers[0]!, 'x/b'));
  fs.linkSync(path.join(s.lowers[0]!, 'a'), path.join(s.lowers[0]!, 'c'));
  const h = await mountStrata(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const ino = fs.statSync(m('a')).ino;
  fs.appendFileSync(m('a'), '+1');
  for (const n of ['a', 'x/b', 'c']) {
    t.is(fs.readFileSync(m(n), 'utf8'), 'shared+1', n);
    t.like(fs.statSync(m(n)), { ino, nlink: 3 }, n);
  }
  fs.appendFileSync(m('x/b'), '+2'); // a second name's copy-up links to the first copy
  t.is(fs.statSync(path.join(s.upper, 'x/b')).ino, fs.statSync(path.join(s.upper, 'a')).ino);
  fs.unlinkSync(m('c'));
  t.like(fs.statSync(m('a')), { nlink: 2 });
  await unmount(h);
  await mountStrata(t, s);
  t.is(fs.readFileSync(m('x/b'), 'utf8'), 'shared+1+2');
  t.is(fs.statSync(m('a')).ino, fs.statSync(m('x/b')).ino);
  t.is(fs.statSync(m('a')).nlink, 2);
});
