// The overlay engine without any transport: lookup, copy-up, whiteout and
// rename rules checked on the layer directories directly, including what a
// fuse-native mount cannot carry (renameat2 flags). Reopening an engine on
// the same directories is what a remount sees.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { lgetxattr, lsetxattr, mknod, RENAME_EXCHANGE, RENAME_NOREPLACE } from '@strata/native';
import { Overlay, type EngineOptions } from '../src/core/overlay.ts';
import { makeStack, populate, type Stack } from './helpers.ts';

const root = { uid: 0, gid: 0 };

function engine(s: Stack, extra: Partial<EngineOptions> = {}): Overlay {
  const work = path.join(s.work, 'work');
  fs.mkdirSync(work, { recursive: true });
  return new Overlay({ lowerDirs: s.lowers, upperDir: s.upper, workDir: work, indexDir: path.join(s.work, 'strata-index'), ...extra });
}

const names = (o: Overlay, p: string) => o.readdir(p).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort();
const read = (o: Overlay, p: string) => {
  const fh = o.open(p, fs.constants.O_RDONLY);
  try {
    return fs.readFileSync(o.fd(fh), 'utf8');
  } finally {
    o.release(fh);
  }
};

test('lookup: the topmost layer wins; whiteouts and opaque directories stop lookups at their layer', (t) => {
  const s = makeStack(3);
  populate(s.lowers[2]!, { 'a': '2', 'd/x': 'x', 'd/y': 'y', 'gone/z': 'z' });
  populate(s.lowers[1]!, { 'a': '1', 'd/': null });
  mknod(path.join(s.lowers[1]!, 'd', 'y'), 0o020000, 0, 0);
  fs.writeFileSync(path.join(s.lowers[1]!, '.wh.gone'), '');
  populate(s.lowers[0]!, { 'd/w': 'w', 'e/': null });
  lsetxattr(path.join(s.lowers[0]!, 'e'), 'user.overlay.opaque', Buffer.from('y'), 0);
  populate(s.lowers[2]!, { 'e/hidden': 'h' });
  const o = engine(s);
  t.is(read(o, '/a'), '1');
  t.deepEqual(names(o, '/'), ['a', 'd', 'e']);
  t.deepEqual(names(o, '/d'), ['w', 'x']);
  t.deepEqual(names(o, '/e'), []);
  t.throws(() => o.getattr('/gone'), { code: 'ENOENT' });
  t.throws(() => o.getattr('/a/x'), { code: 'ENOTDIR' });
  t.is(o.which('/d/x').layer, 3);
  t.is(o.which('/d/w').layer, 1);
});

test('copy-up builds in the work area and renames into place; nothing is left there', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'p/f': 'data' });
  const o = engine(s);
  o.chmod('/p/f', 0o600);
  t.is(fs.statSync(path.join(s.upper, 'p/f')).mode & 0o777, 0o600);
  t.is(fs.readFileSync(path.join(s.upper, 'p/f'), 'utf8'), 'data');
  t.deepEqual(fs.readdirSync(path.join(s.work, 'work')), []);
});

test('RENAME_NOREPLACE refuses an existing target; RENAME_EXCHANGE swaps files and lower directories', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'b': 'B', 'd1/x': 'x', 'd2/y': 'y' });
  const o = engine(s);
  t.throws(() => o.rename('/a', '/b', RENAME_NOREPLACE), { code: 'EEXIST' });
  o.rename('/a', '/c', RENAME_NOREPLACE);
  t.deepEqual(names(o, '/'), ['b', 'c', 'd1', 'd2']);
  o.rename('/b', '/c', RENAME_EXCHANGE);
  t.is(read(o, '/b'), 'A');
  t.is(read(o, '/c'), 'B');
  t.throws(() => o.rename('/b', '/nothing', RENAME_EXCHANGE), { code: 'ENOENT' });
  o.rename('/d1', '/d2', RENAME_EXCHANGE);
  t.deepEqual(names(o, '/d1'), ['y']);
  t.deepEqual(names(o, '/d2'), ['x']);
  t.throws(() => o.rename('/d1', '/d1/y', RENAME_EXCHANGE), { code: 'EINVAL' });
  t.throws(() => o.rename('/a', '/b', RENAME_EXCHANGE | RENAME_NOREPLACE), { code: 'EINVAL' });
  // what a remount sees
  const again = engine(s);
  t.deepEqual(names(again, '/'), ['b', 'c', 'd1', 'd2']);
  t.deepEqual(names(again, '/d1'), ['y']);
  t.deepEqual(names(again, '/d2'), ['x']);
  t.is(read(again, '/c'), 'B');
});

test('renaming a lower directory is one rename plus a redirect xattr, however many files it holds', (t) => {
  const s = makeStack(1);
  const spec: Record<string, string> = {};
  for (let i = 0; i < 1000; i++) spec[`big/f${i}`] = '';
  populate(s.lowers[0]!, spec);
  const o = engine(s);
  names(o, '/big');
  const t0 = performance.now();
  o.rename('/big', '/moved');
  const ms = performance.now() - t0;
  t.log(`rename of a 1000-file lower directory: ${ms.toFixed(2)} ms`);
  t.is(names(o, '/moved').length, 1000);
  t.is(lgetxattr(path.join(s.upper, 'moved'), 'trusted.overlay.redirect')?.toString(), '/big');
  t.deepEqual(fs.readdirSync(path.join(s.upper, 'moved')), []);
  t.true(fs.lstatSync(path.join(s.upper, 'big')).isCharacterDevice());
  t.true(ms < 250, 'one rename, not a copy of 1000 files (generous bound for a loaded CI machine)');
  t.is(names(engine(s), '/moved').length, 1000);
});

test('the aufs format writes .wh. names and .wh..wh..opq; a remount reads both formats', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'd/x': 'x' });
  const o = engine(s, { whiteout: 'aufs' });
  o.unlink('/a');
  o.unlink('/d/x');
  o.rmdir('/d');
  o.mkdir('/d', 0o755, root);
  t.true(fs.existsSync(path.join(s.upper, '.wh.a')));
  t.true(fs.existsSync(path.join(s.upper, 'd', '.wh..wh..opq')));
  t.false(fs.existsSync(path.join(s.upper, '.wh.d')));
  const again = engine(s);
  t.deepEqual(names(again, '/'), ['d']);
  t.deepEqual(names(again, '/d'), []);
});

test('private overlay xattrs never show and cannot be set; errors carry errno codes', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'd/f': 'f' });
  lsetxattr(path.join(s.lowers[0]!, 'd'), 'user.visible', Buffer.from('1'), 0);
  lsetxattr(path.join(s.lowers[0]!, 'd'), 'trusted.overlay.opaque', Buffer.from('n'), 0);
  const o = engine(s);
  t.deepEqual(o.listxattr('/d'), ['user.visible']);
  t.throws(() => o.getxattr('/d', 'trusted.overlay.opaque'), { code: 'EOPNOTSUPP' });
  t.throws(() => o.setxattr('/d', 'trusted.overlay.redirect', Buffer.from('/x'), 0), { code: 'EOPNOTSUPP' });
  t.throws(() => o.removexattr('/d', 'user.absent'), { code: 'ENODATA' });
  t.throws(() => o.rmdir('/d'), { code: 'ENOTEMPTY' });
  t.throws(() => o.mkdir('/d/f/x', 0o755, root), { code: 'ENOTDIR' });
  t.throws(() => o.unlink('/d'), { code: 'EISDIR' });
});

test('redirect_dir=copy: a renamed lower directory is copied up whole; the upper layer is a self-contained diff', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'dir/a': 'A', 'dir/sub/b': 'B', 'dir/gone': 'G', 'other/': null });
  const o = engine(s, { redirectDir: 'copy' });
  o.unlink('/dir/gone');
  o.rename('/dir', '/other/moved');
  t.deepEqual(names(o, '/other/moved'), ['a', 'sub']);
  const up = path.join(s.upper, 'other/moved');
  t.is(lgetxattr(up, 'trusted.overlay.redirect'), null);
  t.is(lgetxattr(up, 'trusted.overlay.opaque')?.toString(), 'y');
  t.is(fs.readFileSync(path.join(up, 'sub/b'), 'utf8'), 'B');
  t.is(fs.readFileSync(path.join(up, 'a'), 'utf8'), 'A');
  t.true(fs.lstatSync(path.join(s.upper, 'dir')).isCharacterDevice());
  // the upper layer alone, stacked on nothing, shows the moved tree in full
  const alone = new Overlay({ lowerDirs: [s.upper] });
  t.deepEqual(names(alone, '/other/moved'), ['a', 'sub']);
  t.deepEqual(names(engine(s), '/other/moved'), ['a', 'sub']);
});

test('redirects in lower layers are followed: an upper with a renamed directory stacks as a lower layer', (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a/dir/f': 'F', 'a/dir/sub/g': 'G' });
  const o1 = engine(s);
  o1.rename('/a/dir', '/a/x');
  o1.mkdir('/a/x/new', 0o755, root);
  // the first upper becomes a lower layer under a fresh upper (as layers rotate)
  const s2 = makeStack(0);
  s2.lowers.push(s.upper, s.lowers[0]!);
  const o2 = engine(s2);
  t.deepEqual(names(o2, '/a'), ['x']);
  t.deepEqual(names(o2, '/a/x'), ['f', 'new', 'sub']);
  o2.rename('/a/x', '/a/back');
  t.deepEqual(names(o2, '/a/back'), ['f', 'new', 'sub']);
  t.is(read(o2, '/a/back/sub/g'), 'G');
  const s3 = makeStack(0);
  s3.lowers.push(s2.upper, s.upper, s.lowers[0]!);
  const o3 = engine(s3);
  t.deepEqual(names(o3, '/a'), ['back']);
  t.deepEqual(names(o3, '/a/back'), ['f', 'new', 'sub']);
  t.is(read(o3, '/a/back/f'), 'F');
});
