// What only the native transport does: file data bypasses the server (FUSE
// passthrough; lower files are page cached with lower_passthrough=off), the per-write
// capability query is answered without JavaScript, and files that cannot
// be passed through still read and write correctly through the loop.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { lsetxattr, mkWhiteout, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE } from '@strata/native';
import { chooseTransport } from '../src/fuse/select.ts';
import { cleanup, forget, isMounted, makeStack, mountStrata, populate, unmount, type Stack } from './helpers.ts';
import { engineCount, serverStats } from './native-stats.ts';
import { readState } from '../src/index.ts';

test.afterEach.always(async (t) => cleanup(t));

async function mountNative(t: ExecutionContext, s: Stack) {
  return mountStrata(t, s, { transport: 'native' });
}

test('the transport is chosen by -o transport=, then STRATA_FUSE_TRANSPORT, else native for root and fuse-native for others', (t) => {
  t.is(chooseTransport(undefined, '', 0), 'native');
  t.is(chooseTransport(undefined, '', 1000), 'fuse-native');
  t.is(chooseTransport(undefined, 'native', 1000), 'native');
  t.is(chooseTransport(undefined, 'fuse-native', 0), 'fuse-native');
  t.is(chooseTransport('fuse-native', 'native', 0), 'fuse-native');
  t.throws(() => chooseTransport(undefined, 'libfuse3'), { message: /STRATA_FUSE_TRANSPORT=libfuse3: expected native or fuse-native/ });
});

test('with passthrough, writing and reading 32 MiB of upper files sends no READ or WRITE to user space', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower': 'L'.repeat(1 << 20) });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const before = await serverStats(s.mnt);
  t.is(before.transport, 'native');
  if (!before.passthrough) {
    t.fail('the kernel did not agree to FUSE passthrough (needs root and kernel 6.9+)');
    return;
  }
  execFileSync('dd', ['if=/dev/urandom', `of=${m('big')}`, 'bs=1M', 'count=16', 'status=none']);
  execFileSync('dd', ['if=/dev/zero', `of=${m('small-writes')}`, 'bs=4k', 'count=4096', 'status=none']);
  t.true(fs.readFileSync(m('big')).equals(fs.readFileSync(path.join(s.upper, 'big'))));
  t.is(fs.statSync(m('small-writes')).size, 16 << 20);
  fs.appendFileSync(m('lower'), 'more'); // copy-up, then a passthrough write to the copy
  t.is(fs.statSync(m('lower')).size, (1 << 20) + 4);
  t.is(fs.readFileSync(m('lower'), 'utf8').slice(-5), 'Lmore');
  t.is(fs.readFileSync(path.join(s.upper, 'lower'), 'utf8').slice(-5), 'Lmore');
  const after = await serverStats(s.mnt);
  t.is(after.requests.write ?? 0, 0, 'WRITE requests reached user space');
  t.is(after.requests.read ?? 0, 0, 'READ requests reached user space');
  // The kernel asks for security.capability once per file (FUSE_HANDLE_KILLPRIV_V2 lets it remember the
  // answer: S_NOSEC), not before each of the 4,112 write(2)s; JavaScript answers it at most once per file.
  t.true((after.requests.getxattr ?? 0) < 10, `${after.requests.getxattr} capability queries`);
  t.true(engineCount(after, 'getxattr') < 10);
});

test('lower_passthrough=off: files still in a lower layer are page cached: read once through the loop, then from the cache', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower': 'L'.repeat(4 << 20) });
  await mountStrata(t, s, { transport: 'native', lowerPassthrough: false });
  const m = path.join(s.mnt, 'lower');
  const before = (await serverStats(s.mnt)).requests.read ?? 0;
  t.is(fs.readFileSync(m, 'utf8'), 'L'.repeat(4 << 20));
  const once = (await serverStats(s.mnt)).requests.read ?? 0;
  t.true(once > before);
  // Again: from the page cache, no requests. (Other tests may drop the caches meanwhile: a few tries.)
  let fromCache = false;
  for (let i = 0, last = once; i < 5 && !fromCache; i++) {
    t.is(fs.readFileSync(m, 'utf8'), 'L'.repeat(4 << 20));
    const now = (await serverStats(s.mnt)).requests.read ?? 0;
    fromCache = now === last;
    last = now;
  }
  t.true(fromCache, 'a repeated read came from the page cache');
});

test('lower_passthrough=off: a lower file open for reading while another open copies it up: both go through the loop, the reader sees the writes', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'f': 'original' });
  await mountStrata(t, s, { transport: 'native', lowerPassthrough: false });
  const m = path.join(s.mnt, 'f');
  const ro = fs.openSync(m, 'r'); // a lower file: page cached
  try {
    const rw = fs.openSync(m, 'r+'); // copy-up while the reader is open: cached too, data through the loop
    try {
      fs.writeSync(rw, 'CHANGED', 0);
      const buf = Buffer.alloc(8);
      fs.readSync(rw, buf, 0, 8, 0);
      t.is(buf.toString(), 'CHANGEDl');
    } finally {
      fs.closeSync(rw);
    }
    // As under kernel overlayfs (since Linux 4.19): a file opened before the copy-up reads the copy.
    const old = Buffer.alloc(8);
    fs.readSync(ro, old, 0, 8, 0);
    t.is(old.toString(), 'CHANGEDl');
    // Also once the kernel's page cache let go of it: the reader's own
    // READs reach the loop then, and must read the copy (they read the
    // lower file, and put 'original' back in the cache for every open).
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    old.fill(0);
    fs.readSync(ro, old, 0, 8, 0);
    t.is(old.toString(), 'CHANGEDl', 'the reader reads the copy after the page cache was dropped');
  } finally {
    fs.closeSync(ro);
  }
  t.is(fs.readFileSync(m, 'utf8'), 'CHANGEDl');
  t.is(fs.readFileSync(path.join(s.upper, 'f'), 'utf8'), 'CHANGEDl');
  t.is(fs.readFileSync(path.join(s.lowers[0]!, 'f'), 'utf8'), 'original');
  const st = await serverStats(s.mnt);
  t.true((st.requests.write ?? 0) >= 1, 'the conflicting open went through the loop');
});

test('O_DIRECT reads and writes (dd iflag/oflag=direct) work on lower, copied-up and new files, whichever way the data goes', async (t) => {
  const configs = [
    { transport: 'native' as const },
    { transport: 'native' as const, lowerPassthrough: false },
    { transport: 'fuse-native' as const },
  ];
  const data = Buffer.alloc(256 * 1024);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i * 2654435761 >>> 0, i);
  for (const cfg of configs) {
    const s = makeStack(1);
    fs.writeFileSync(path.join(s.lowers[0]!, 'lower'), data);
    fs.writeFileSync(path.join(s.dir, 'src'), Buffer.from(data.subarray(0, 64 * 1024)).reverse());
    const h = await mountStrata(t, s, cfg);
    const dd = (...args: string[]) => execFileSync('dd', [...args, 'bs=4096', 'status=none']);
    const label = JSON.stringify(cfg);
    dd(`if=${path.join(s.mnt, 'lower')}`, `of=${path.join(s.dir, 'out')}`, 'iflag=direct');
    t.true(fs.readFileSync(path.join(s.dir, 'out')).equals(data), `${label}: direct read of a lower file`);
    dd(`if=${path.join(s.dir, 'src')}`, `of=${path.join(s.mnt, 'new')}`, 'oflag=direct');
    t.true(fs.readFileSync(path.join(s.upper, 'new')).equals(fs.readFileSync(path.join(s.dir, 'src'))), `${label}: direct write of a new file`);
    dd(`if=${path.join(s.dir, 'src')}`, `of=${path.join(s.mnt, 'lower')}`, 'oflag=direct', 'conv=notrunc');
    const want = Buffer.concat([fs.readFileSync(path.join(s.dir, 'src')), data.subarray(64 * 1024)]);
    dd(`if=${path.join(s.mnt, 'lower')}`, `of=${path.join(s.dir, 'out')}`, 'iflag=direct');
    t.true(fs.readFileSync(path.join(s.dir, 'out')).equals(want), `${label}: direct write, then read, of a copied-up file`);
    await unmount(h);
  }
});

test('by default (lower_passthrough), and on mounts without an upper layer, lower files are passed through: no READ reaches user space', async (t) => {
  for (const extra of [{}, { lowerPassthrough: true }, { upperDir: undefined, workDir: undefined, lowerPassthrough: false }]) {
    const s = makeStack(1);
    populate(s.lowers[0]!, { 'lower': 'L'.repeat(4 << 20) });
    const h = await mountStrata(t, s, { transport: 'native', ...extra });
    const m = path.join(s.mnt, 'lower');
    const before = await serverStats(s.mnt);
    if (!before.passthrough) {
      t.fail('the kernel did not agree to FUSE passthrough (needs root and kernel 6.9+)');
      return;
    }
    t.is(fs.readFileSync(m, 'utf8'), 'L'.repeat(4 << 20));
    t.is(execFileSync('head', ['-c', '3', m]).toString(), 'LLL');
    const after = await serverStats(s.mnt);
    t.is((after.requests.read ?? 0) - (before.requests.read ?? 0), 0, `READ requests reached user space (${JSON.stringify(extra)})`);
    await unmount(h);
  }
});

test('lower_passthrough (the default): an open that copies up a file a reader holds gets a new kernel inode; the reader keeps the lower file', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'f': 'original' });
  await mountNative(t, s);
  const m = path.join(s.mnt, 'f');
  const ro = fs.openSync(m, 'r'); // passed through to the lower file
  try {
    const rw = fs.openSync(m, 'r+'); // ESTALE inside: open(2) looks the name up again, a new inode
    try {
      fs.writeSync(rw, 'CHANGED', 0);
      t.is(fs.readFileSync(m, 'utf8'), 'CHANGEDl', 'a new open while the reader is open: the new inode, the new data');
    } finally {
      fs.closeSync(rw);
    }
    const old = Buffer.alloc(8);
    fs.readSync(ro, old, 0, 8, 0);
    t.is(old.toString(), 'original', 'the documented price: the earlier reader still reads the lower file');
  } finally {
    fs.closeSync(ro);
  }
  t.is(fs.readFileSync(m, 'utf8'), 'CHANGEDl');
  t.is(fs.readFileSync(path.join(s.lowers[0]!, 'f'), 'utf8'), 'original');
  const st = await serverStats(s.mnt);
  t.is(st.requests.write ?? 0, 0, 'the writer was passed through to the upper copy');
  t.is(st.requests.read ?? 0, 0, 'so were the readers');
});

test('unlinked open files keep working; truncate and fsync through handles', async (t) => {
  const s = makeStack(1);
  await mountNative(t, s);
  const m = path.join(s.mnt, 'tmp');
  const fd = fs.openSync(m, 'w+');
  try {
    fs.writeSync(fd, 'abcdef');
    fs.unlinkSync(m);
    t.is(fs.fstatSync(fd).size, 6);
    fs.ftruncateSync(fd, 3);
    fs.fsyncSync(fd);
    t.is(fs.fstatSync(fd).size, 3);
    const buf = Buffer.alloc(6);
    t.is(fs.readSync(fd, buf, 0, 6, 0), 3);
    t.is(buf.subarray(0, 3).toString(), 'abc');
  } finally {
    fs.closeSync(fd);
  }
  t.false(fs.existsSync(m));
  t.deepEqual(fs.readdirSync(s.upper), []);
});

test('big merged directories list completely, across readdir chunks, and stay right as they change', async (t) => {
  const s = makeStack(2);
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${'x'.repeat(40)}-${i}`);
  for (const n of names('a', 1500)) fs.writeFileSync(path.join(s.lowers[0]!, n), '');
  for (const n of names('b', 1500)) fs.writeFileSync(path.join(s.lowers[1]!, n), '');
  fs.mkdirSync(path.join(s.lowers[1]!, 'sub'));
  await mountNative(t, s);
  const want = [...names('a', 1500), ...names('b', 1500), 'sub'].sort();
  t.deepEqual(fs.readdirSync(s.mnt).sort(), want);
  t.deepEqual(fs.readdirSync(s.mnt).sort(), want, 'again, from the kernel cache');
  // stat every entry (lookups), then list with attributes
  const out = execFileSync('ls', ['-l', s.mnt], { encoding: 'utf8' }).trim().split('\n');
  t.is(out.length, 3002); // "total N" + entries
  fs.unlinkSync(path.join(s.mnt, want[0]!));
  fs.writeFileSync(path.join(s.mnt, 'new'), '');
  const after = [...want.slice(1), 'new'].sort();
  t.deepEqual(fs.readdirSync(s.mnt).sort(), after);
  t.is(execFileSync('find', [s.mnt, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').length, 3000);
});

test('renameat2 through the mount: RENAME_NOREPLACE refuses, RENAME_EXCHANGE swaps names and keeps each inode', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'a': 'A', 'b': 'B', 'd/x': 'x' });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const ia = fs.statSync(m('a')).ino;
  const ib = fs.statSync(m('b')).ino;
  t.throws(() => renameat2(m('a'), m('b'), RENAME_NOREPLACE), { code: 'EEXIST' });
  renameat2(m('a'), m('c'), RENAME_NOREPLACE);
  renameat2(m('c'), m('b'), RENAME_EXCHANGE);
  t.is(fs.readFileSync(m('b'), 'utf8'), 'A');
  t.is(fs.readFileSync(m('c'), 'utf8'), 'B');
  t.is(fs.statSync(m('b')).ino, ia);
  t.is(fs.statSync(m('c')).ino, ib);
  renameat2(m('d'), m('b'), RENAME_EXCHANGE); // a directory and a file swap
  t.is(fs.readFileSync(m('b/x'), 'utf8'), 'x');
  t.is(fs.readFileSync(m('d'), 'utf8'), 'A');
  t.deepEqual(fs.readdirSync(s.mnt).sort(), ['b', 'c', 'd']);
});

test('a lower-only directory: the loop answers its GETATTRs, and stops once the tree changes', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'd/a': 'a', 'd/sub/b': 'b' });
  fs.chmodSync(path.join(s.lowers[0]!, 'd'), 0o755);
  await mountNative(t, s);
  const d = path.join(s.mnt, 'd');
  const count = async () => {
    const st = await serverStats(s.mnt);
    return { sent: st.requests.getattr ?? 0, js: engineCount(st, 'getattr') };
  };
  // A listing: the kernel then forgets d's atime and asks again on the next stat. (Other tests
  // may drop the caches meanwhile, and the kernel looks d up instead: a few tries.)
  let before = await count();
  let after = before;
  for (let i = 0; i < 5; i++) {
    fs.readdirSync(d);
    before = await count();
    t.is(fs.statSync(d).mode & 0o7777, 0o755);
    after = await count();
    if (after.sent - before.sent === 1) break;
  }
  t.is(after.sent - before.sent, 1, 'the kernel asked for d once');
  t.is(after.js - before.js, 0, 'and the loop answered without JavaScript');
  // Changes: d is copied up and changes; every answer after them is fresh.
  fs.chmodSync(d, 0o700);
  fs.writeFileSync(path.join(d, 'new'), 'n');
  fs.readdirSync(d);
  const changed = fs.statSync(d);
  t.is(changed.mode & 0o7777, 0o700);
  t.is(changed.mtimeMs, fs.statSync(path.join(s.upper, 'd')).mtimeMs);
  t.deepEqual(fs.readdirSync(d).sort(), ['a', 'new', 'sub']);
  const last = await count();
  t.true(last.js > after.js, 'GETATTR of the changed directory went to JavaScript');
});

test('rm -rf of a lower tree: files looked up one by one in its first directory only, whiteouts share an inode, the work area empties', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let d = 0; d < 8; d++) for (let f = 0; f < 20; f++) files[`tree/d${d}/f${f}`] = 'x';
  populate(s.lowers[0]!, { ...files, top: 'x' });
  await mountNative(t, s);
  const before = await serverStats(s.mnt);
  execFileSync('rm', ['-rf', path.join(s.mnt, 'tree')]);
  const after = await serverStats(s.mnt);
  t.false(fs.existsSync(path.join(s.mnt, 'tree')));
  t.deepEqual(fs.readdirSync(s.mnt), ['top']);
  const lookups = (after.requests.lookup ?? 0) - (before.requests.lookup ?? 0);
  // Listings of the sibling directories carry their files' attributes: no LOOKUP for those files.
  t.true(lookups < 60, `${lookups} lookups for 160 files in 8 directories`);
  // Whiteouts are links to one whiteout inode in the work area, not an inode each.
  fs.rmSync(path.join(s.mnt, 'top'));
  t.false(fs.existsSync(path.join(s.mnt, 'top')));
  const wh = fs.lstatSync(path.join(s.upper, 'top'));
  t.true(wh.isCharacterDevice() && wh.rdev === 0, 'top is whited out');
  t.true(wh.nlink > 1, 'the whiteout shares its inode');
  // The removed directories (with their whiteouts) are deleted in the background, out of sight.
  const work = path.join(s.work, 'work');
  const dirsLeft = () => fs.readdirSync(work).filter((n) => fs.lstatSync(path.join(work, n)).isDirectory());
  for (let i = 0; i < 500 && dirsLeft().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(dirsLeft(), []);
});

test('lower files removed one by one: the loop whites them out itself, and the engine knows it as if it had', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = { 'dir/keep': 'k', 'dir/sub/x': 'x' };
  for (let i = 0; i < 40; i++) files[`dir/f${i}`] = `lower ${i}`;
  populate(s.lowers[0]!, files);
  const h = await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, 'dir', p);
  fs.writeFileSync(m('new'), 'upper');
  const reader = fs.openSync(m('f10'), 'r'); // open before its name goes
  const base = await serverStats(s.mnt);
  for (let i = 0; i < 30; i++) fs.unlinkSync(m(`f${i}`));
  const mid = await serverStats(s.mnt);
  const sent = (mid.requests.unlink ?? 0) - (base.requests.unlink ?? 0);
  const engine = engineCount(mid, 'unlink') - engineCount(base, 'unlink');
  t.is(sent, 30);
  t.true(engine <= 2, `the loop removed the files (the engine removed ${engine} of ${sent})`);
  // On the host: a whiteout per name, links to one inode, as the engine makes them.
  for (const i of [0, 5, 29]) {
    const wh = fs.lstatSync(path.join(s.upper, 'dir', `f${i}`));
    t.true(wh.isCharacterDevice() && wh.rdev === 0 && wh.nlink > 1, `f${i} is whited out`);
  }
  t.is(fs.readFileSync(reader, 'utf8'), 'lower 10', 'an open file reads on');
  fs.closeSync(reader);
  // What the engine must know: the names are gone, the others stay, a name can come back.
  const expected = ['keep', 'new', 'sub', ...Array.from({ length: 10 }, (_, i) => `f${30 + i}`)].sort();
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'dir')).sort(), expected);
  t.throws(() => fs.unlinkSync(m('f3')), { code: 'ENOENT' });
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']); // the kernel forgets them; the engine answers
  t.false(fs.existsSync(m('f5')));
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'dir')).sort(), expected);
  fs.writeFileSync(m('f5'), 'again');
  t.is(fs.readFileSync(m('f5'), 'utf8'), 'again');
  t.true(fs.lstatSync(path.join(s.upper, 'dir', 'f5')).isFile());
  fs.unlinkSync(m('f5')); // an upper file now: the engine's
  // A change the loop did not see ends its set: the rest is the engine's, still right.
  fs.renameSync(m('f30'), m('f30-moved'));
  fs.unlinkSync(m('f31'));
  fs.unlinkSync(m('f30-moved'));
  t.is(fs.readFileSync(m('f32'), 'utf8'), 'lower 32');
  t.true(fs.lstatSync(path.join(s.upper, 'dir', 'f31')).isCharacterDevice());
  const after = ['keep', 'new', 'sub', ...Array.from({ length: 8 }, (_, i) => `f${32 + i}`)].sort();
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'dir')).sort(), after);
  // A new server reads the whiteouts from the upper layer.
  await unmount(h);
  await mountNative(t, s);
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'dir')).sort(), after);
  t.false(fs.existsSync(m('f0')));
});

test('a lower directory removed as rm -rf does (listed, each file looked up, then removed): the loop answers the lookups before and after the first removal', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let i = 0; i < 60; i++) files[`dir/f${i}`] = `lower ${i}`;
  populate(s.lowers[0]!, files);
  await mountNative(t, s);
  const base = await serverStats(s.mnt);
  execFileSync('rm', ['-rf', path.join(s.mnt, 'dir')]);
  const after = await serverStats(s.mnt);
  const sent = (after.requests.lookup ?? 0) - (base.requests.lookup ?? 0);
  const engine = engineCount(after, 'lookup') - engineCount(base, 'lookup');
  t.true(sent >= 60, `the kernel looked up the files (${sent} LOOKUPs)`);
  // The first removal copies dir/ up, a change to the tree: the loop's answers must outlive it.
  t.true(engine <= 3, `the engine answered ${engine} of ${sent} LOOKUPs`);
  t.true(engineCount(after, 'unlink') - engineCount(base, 'unlink') <= 2);
  // Nor the GETATTRs of the directories after each change (the copied-up dir/, then / after the rmdir).
  t.true(engineCount(after, 'getattr') - engineCount(base, 'getattr') <= 1, `the engine answered ${engineCount(after, 'getattr') - engineCount(base, 'getattr')} GETATTRs`);
  t.false(fs.existsSync(path.join(s.mnt, 'dir')));
  t.deepEqual(fs.readdirSync(s.mnt), []);
});

test('a directory listed twice: the entries the kernel holds stay whole, and stats after it send no LOOKUP and match the layer', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (const d of ['a', 'b']) for (let i = 0; i < 40; i++) files[`p/${d}/f${i}`] = 'x'.repeat(i);
  populate(s.lowers[0]!, files);
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.statSync(m('p/a/f0')); // a file looked up under p/: listings under p/ carry the files' attributes from now on
  const names = (d: string) => execFileSync('ls', ['-f', m(d)], { encoding: 'utf8' }).split('\n').filter((n) => n.startsWith('f'));
  t.is(names('p/b').length, 40);
  // Pinned (other tests drop caches meanwhile): a listing that took a dentry away would still cost a LOOKUP.
  const pins = Array.from({ length: 40 }, (_, i) => fs.openSync(m(`p/b/f${i}`), 'r'));
  t.teardown(() => pins.forEach((fd) => fs.closeSync(fd)));
  const base = await serverStats(s.mnt);
  // Again: the kernel holds the entries now; the second listing leaves them be, with their numbers
  // (from the loop: the kernel's copy of the listing is dropped first).
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
  const again = execFileSync('ls', ['-fi', m('p/b')], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/));
  const listedFiles = again.filter(([, name]) => name!.startsWith('f'));
  t.is(listedFiles.length, 40);
  for (let i = 0; i < 40; i++) t.is(fs.lstatSync(m(`p/b/f${i}`)).size, i);
  for (const [ino, name] of listedFiles) t.is(Number(ino), fs.lstatSync(m(`p/b/${name}`)).ino, `the inode number listed for ${name}`);
  const after = await serverStats(s.mnt);
  t.is((after.requests.lookup ?? 0) - (base.requests.lookup ?? 0), 0, 'stats after the listings needed no LOOKUP');
  const host = fs.lstatSync(path.join(s.lowers[0]!, 'p/b/f7'));
  const seen = fs.lstatSync(m('p/b/f7'));
  t.deepEqual([seen.mode, seen.size, seen.mtimeMs, seen.nlink], [host.mode, host.size, host.mtimeMs, host.nlink]);
});

test('a directory listed as rm -rf lists it (one buffer, then again whole): the loop gives each file the kernel holds its number, unstat\'ed', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let i = 0; i < 100; i++) files[`r/d/f${i}`] = 'x';
  populate(s.lowers[0]!, files);
  await mountNative(t, s);
  const dir = path.join(s.mnt, 'r', 'd');
  fs.readdirSync(path.join(s.mnt, 'r'));
  // The kernel holds every file (looked up): each listing gives them without attributes, by number.
  const inos = new Map(Object.keys(files).filter((f) => f.startsWith('r/d/')).map((f) => [path.basename(f), String(fs.lstatSync(path.join(s.mnt, f)).ino)]));
  const base = await serverStats(s.mnt);
  // Python's scandir reads d_ino as getdents gives it; the first listing stops after one buffer, as rm's emptiness check does.
  const script = [
    'import os, sys',
    'd = sys.argv[1]',
    'it = os.scandir(d); next(it); it.close()',
    'for e in os.scandir(d): print(e.inode(), e.name)',
  ].join('\n');
  const rows = execFileSync('python3', ['-c', script, dir], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(' '));
  const after = await serverStats(s.mnt);
  t.is(rows.length, 100);
  t.deepEqual(rows.filter(([listed, name]) => listed !== inos.get(name!)), [], 'the numbers listed are the files\' own');
  t.is(engineCount(after, 'readdirplus') - engineCount(base, 'readdirplus'), 0, 'the loop listed the directory both times');
  t.true((after.requests.readdirplus ?? 0) - (base.requests.readdirplus ?? 0) >= 2, 'twice');
});

test('a lower directory\'s attributes after changes elsewhere come from the loop, as the layers give them, until it is copied up', async (t) => {
  const s = makeStack(2);
  populate(s.lowers[0]!, { 'a/one/f': 'x', 'a/both/f': 'x', x: 'x' });
  populate(s.lowers[1]!, { 'a/both/g': 'y' });
  fs.chmodSync(path.join(s.lowers[0]!, 'a/one'), 0o750);
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.readdirSync(m('a')); // the loop lists a/ and answers for its subdirectories
  fs.writeFileSync(m('x'), 'changed'); // a change elsewhere: the answers its listing left are gone
  const base = await serverStats(s.mnt);
  const seen = (p: string) => {
    fs.readdirSync(m(p)); // (a listing makes the kernel ask for the directory's attributes again)
    return fs.statSync(m(p));
  };
  const one = seen('a/one');
  const both = seen('a/both');
  const after = await serverStats(s.mnt);
  t.is(engineCount(after, 'getattr') - engineCount(base, 'getattr'), 0, 'the loop answered');
  t.true((after.requests.getattr ?? 0) - (base.requests.getattr ?? 0) >= 2, 'the kernel asked');
  const host = fs.statSync(path.join(s.lowers[0]!, 'a/one'));
  t.deepEqual([one.mode, one.nlink, one.mtimeMs, one.uid], [host.mode, host.nlink, host.mtimeMs, host.uid]);
  t.is(both.nlink, 1, 'a merged directory has one link, as the engine says');
  t.deepEqual(fs.readdirSync(m('a/both')).sort(), ['f', 'g']);
  fs.chmodSync(m('a/one'), 0o700); // copied up: the engine answers for it again
  t.is(seen('a/one').mode & 0o777, 0o700);
  fs.rmSync(m('a/both'), { recursive: true });
  t.false(fs.existsSync(m('a/both')));
});

test('files closed: the loop answers each RELEASE and the engine closes the host files, none left open', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower/a': 'A' });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.mkdirSync(m('new'));
  fs.writeFileSync(m('new/first'), 'first');
  const pid = readState(s.mnt)!.pid;
  const open = () => fs.readdirSync(`/proc/${pid}/fd`).length;
  const base = await serverStats(s.mnt);
  const fds = open();
  for (let i = 0; i < 200; i++) fs.writeFileSync(m(`new/f${i}`), `file ${i}`);
  for (let i = 0; i < 20; i++) t.is(fs.readFileSync(m('lower/a'), 'utf8'), 'A');
  const after = await serverStats(s.mnt);
  const sent = (after.requests.release ?? 0) - (base.requests.release ?? 0);
  t.true(sent >= 220, `${sent} RELEASEs`);
  t.is(engineCount(after, 'release'), 0, 'the engine was sent no RELEASE');
  t.true(open() <= fds + 2, `the server holds ${open()} descriptors, ${fds} before`);
  for (const i of [0, 99, 199]) t.is(fs.readFileSync(m(`new/f${i}`), 'utf8'), `file ${i}`);
  t.is(fs.readFileSync(path.join(s.upper, 'new/f150'), 'utf8'), 'file 150');
});

test('a directory made through the mount: the loop answers its lookups, creates and GETATTRs from the start, and its SETATTRs of owner, mode and times', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower/a': 'A' });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const u = (p: string) => path.join(s.upper, p);
  fs.mkdirSync(m('out'));
  const hold = fs.openSync(m('out'), 'r'); // (kept in the kernel while other tests drop caches)
  t.teardown(() => fs.closeSync(hold));
  const base = await serverStats(s.mnt);
  for (let i = 0; i < 5; i++) fs.writeFileSync(m(`out/f${i}`), `${i}`);
  const mid = await serverStats(s.mnt);
  for (const op of ['lookup', 'create', 'getattr']) t.is(engineCount(mid, op) - engineCount(base, op), 0, `${op} reached the engine`);
  fs.chownSync(m('out'), 1, 2);
  fs.chmodSync(m('out'), 0o750);
  fs.utimesSync(m('out'), 1000, 2000);
  const after = await serverStats(s.mnt);
  for (const op of ['setattr', 'getattr']) t.is(engineCount(after, op) - engineCount(mid, op), 0, `${op} reached the engine`);
  const host = fs.statSync(u('out'));
  t.deepEqual([host.uid, host.gid, host.mode & 0o7777, host.mtimeMs], [1, 2, 0o750, 2000_000]);
  const seen = fs.statSync(m('out'));
  t.deepEqual([seen.uid, seen.gid, seen.mode, seen.mtimeMs, seen.ino], [1, 2, host.mode, 2000_000, seen.ino]);
  t.deepEqual(fs.readdirSync(m('out')).sort(), ['f0', 'f1', 'f2', 'f3', 'f4']);
  // Set-ID bits and directories with lower parts stay the engine's, and still come out right.
  fs.chmodSync(m('out'), 0o2775);
  t.is(fs.statSync(m('out')).mode & 0o7777, 0o2775);
  t.is(fs.statSync(u('out')).mode & 0o7777, 0o2775);
  fs.writeFileSync(m('lower/b'), 'b'); // lower/ is copied up: a directory with a lower part
  fs.chmodSync(m('lower'), 0o700);
  t.is(fs.statSync(m('lower')).mode & 0o7777, 0o700);
  t.is(fs.statSync(u('lower')).mode & 0o7777, 0o700);
  t.is(fs.statSync(m('lower')).nlink, 1);
});

test('an upper directory: the loop answers its GETATTRs from the directory itself, fresh after every change', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'merged/a': 'a' });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const u = (p: string) => path.join(s.upper, p);
  fs.mkdirSync(m('pure'));
  fs.writeFileSync(m('merged/b'), 'b'); // copies merged/ up
  const hold = fs.openSync(m('merged'), 'r'); // (kept in the kernel while other tests drop caches: a forgotten node is the engine's again)
  t.teardown(() => fs.closeSync(hold));
  const base = await serverStats(s.mnt);
  for (let i = 0; i < 5; i++) {
    fs.writeFileSync(m(`pure/f${i}`), 'x');
    fs.mkdirSync(m(`pure/d${i}`));
    fs.writeFileSync(m(`merged/f${i}`), 'x');
    const pure = fs.statSync(m('pure'));
    const host = fs.statSync(u('pure'));
    t.is(pure.nlink, host.nlink, 'a pure upper directory counts its subdirectories');
    t.is(pure.nlink, 3 + i);
    t.is(pure.mtimeMs, host.mtimeMs);
    t.is(pure.size, host.size);
    const merged = fs.statSync(m('merged'));
    t.is(merged.nlink, 1, 'a merged directory reports 1 link, as before');
    t.is(merged.mtimeMs, fs.statSync(u('merged')).mtimeMs);
  }
  fs.chmodSync(m('pure'), 0o711);
  t.is(fs.statSync(m('pure')).mode & 0o7777, 0o711);
  const after = await serverStats(s.mnt);
  t.true((after.requests.getattr ?? 0) - (base.requests.getattr ?? 0) >= 10, 'the kernel asked after the changes');
  t.true(engineCount(after, 'getattr') - engineCount(base, 'getattr') <= 2, 'the loop answered them');
  // A directory removed: the loop lets go of that one only; the others' GETATTRs stay with it.
  fs.rmdirSync(m('pure/d0'));
  t.is(fs.statSync(m('pure')).nlink, 6);
  t.false(fs.existsSync(m('pure/d0')));
  const removed = await serverStats(s.mnt);
  fs.writeFileSync(m('merged/g'), 'g'); // (the kernel asks for merged/'s attributes again)
  t.is(fs.statSync(m('merged')).mtimeMs, fs.statSync(u('merged')).mtimeMs);
  const later = await serverStats(s.mnt);
  t.true((later.requests.getattr ?? 0) - (removed.requests.getattr ?? 0) >= 1, 'the kernel asked after the RMDIR');
  t.is(engineCount(later, 'getattr') - engineCount(removed, 'getattr'), 0, 'the engine answered GETATTRs after the RMDIR');
  // Removed and made again under the same name: the new directory's attributes.
  fs.rmSync(m('pure'), { recursive: true });
  fs.mkdirSync(m('pure'), 0o700);
  fs.writeFileSync(m('pure/x'), 'x');
  const again = fs.statSync(m('pure'));
  t.is(again.mode & 0o7777, 0o700);
  t.is(again.nlink, 2);
  t.is(again.mtimeMs, fs.statSync(u('pure')).mtimeMs);
});

test('a file open for writing: the loop answers its SETATTR of mode, owner and times and its GETATTR, as the engine would', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'low': 'lower', 'linked': 'l' });
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  const u = (p: string) => path.join(s.upper, p);
  fs.chmodSync(m('linked'), 0o600); // not open: the engine answers (and from now on counts only its own)
  const base = await serverStats(s.mnt);
  t.is(engineCount(base, 'setattr'), 1);
  // What tar and cp -p do: write, then set mode, owner and times through the fd.
  for (const name of ['new', 'low']) {
    const fd = fs.openSync(m(name), name === 'new' ? 'wx' : 'r+');
    fs.writeSync(fd, 'data');
    fs.fchmodSync(fd, 0o640);
    fs.fchownSync(fd, 1234, 5678);
    fs.futimesSync(fd, 1_000_000, 2_000_000);
    const st = fs.fstatSync(fd);
    t.is(st.mode & 0o7777, 0o640);
    t.is(st.uid, 1234);
    t.is(st.gid, 5678);
    t.is(st.mtimeMs, 2_000_000_000);
    t.is(st.ino, fs.statSync(m(name)).ino, 'the inode number the kernel was given');
    fs.chmodSync(m(name), 0o755); // by path, while open (set-ID bits would go to the engine: see the set-ID test)
    fs.closeSync(fd);
    const host = fs.statSync(u(name));
    t.is(host.mode & 0o7777, 0o755, `${name}: the upper file got the mode`);
    t.is(host.uid, 1234);
    t.is(host.mtimeMs, 2_000_000_000);
    t.is(fs.statSync(m(name)).mode & 0o7777, 0o755);
  }
  const mid = await serverStats(s.mnt);
  t.true((mid.requests.setattr ?? 0) - (base.requests.setattr ?? 0) >= 8, 'the kernel sent the SETATTRs');
  t.is(engineCount(mid, 'setattr') - engineCount(base, 'setattr'), 0, 'the loop answered them');
  // A second name (hard link) or a closed file: the engine answers again, and gets it right.
  fs.linkSync(m('new'), m('new2'));
  const fd = fs.openSync(m('new'), 'r+');
  fs.fchmodSync(fd, 0o600);
  fs.closeSync(fd);
  fs.chmodSync(m('low'), 0o644);
  t.is(fs.statSync(m('new2')).mode & 0o7777, 0o600);
  t.is(fs.statSync(u('low')).mode & 0o7777, 0o644);
  const end = await serverStats(s.mnt);
  t.true(engineCount(end, 'setattr') - engineCount(mid, 'setattr') >= 2, 'the engine answered those');
  // An unlinked file still open for writing: its attributes through the handle.
  const gone = fs.openSync(m('gone'), 'wx');
  fs.unlinkSync(m('gone'));
  fs.writeSync(gone, 'abc');
  fs.fchmodSync(gone, 0o604);
  const st = fs.fstatSync(gone);
  t.is(st.mode & 0o7777, 0o604);
  t.is(st.size, 3);
  t.is(st.nlink, 0);
  fs.closeSync(gone);
});

test('set-ID bits (FUSE_HANDLE_KILLPRIV_V2): an unprivileged write or truncation drops them, root keeps them, stat shows it at once; a file written 64 times is asked for its capabilities once', async (t) => {
  const s = makeStack(1);
  await mountNative(t, s);
  for (let d = path.dirname(s.mnt); d !== '/' && d !== os.tmpdir(); d = path.dirname(d)) fs.chmodSync(d, 0o755);
  fs.chmodSync(s.mnt, 0o777);
  const m = (p: string) => path.join(s.mnt, p);
  const asNobody = (script: string) => execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', script]);
  // stat -c %a asks for the mode alone (statx), as exec's permission check does: a size that changed
  // makes the kernel refetch everything, a mode it was not told of stays cached.
  const mode = (p: string) => parseInt(execFileSync('stat', ['-c', '%a', m(p)], { encoding: 'utf8' }), 8);
  const fresh = (p: string, bits: number) => {
    fs.rmSync(m(p), { force: true });
    fs.writeFileSync(m(p), 'hi\n');
    fs.chmodSync(m(p), bits);
  };
  fresh('a', 0o4777);
  asNobody(`echo more >> ${m('a')}`);
  t.is(mode('a'), 0o777, 'an unprivileged append drops set-user-ID');
  t.is(fs.statSync(path.join(s.upper, 'a')).mode & 0o7777, 0o777);
  fresh('a', 0o6777);
  asNobody(`echo more >> ${m('a')}`);
  t.is(mode('a'), 0o777, 'and set-group-ID with group execute');
  fresh('a', 0o4777);
  fs.appendFileSync(m('a'), 'root\n');
  t.is(mode('a'), 0o4777, 'root (CAP_FSETID) keeps them');
  fresh('a', 0o4777);
  asNobody(`truncate -s 1 ${m('a')}`);
  t.is(mode('a'), 0o777, 'an unprivileged truncate drops them');
  fresh('a', 0o4777);
  asNobody(`echo x > ${m('a')}`);
  t.is(mode('a'), 0o777, 'so does an unprivileged O_TRUNC open');
  t.is(fs.readFileSync(m('a'), 'utf8'), 'x\n');
  // Made set-ID while a passed-through writer is open: the host drops the bits on the next unprivileged write.
  fresh('b', 0o666);
  const fd = fs.openSync(m('b'), 'a');
  fs.fchmodSync(fd, 0o4777);
  t.is(mode('b'), 0o4777);
  asNobody(`echo more >> ${m('b')}`);
  t.is(mode('b'), 0o777, 'dropped, and the kernel was not left with the old mode');
  fs.closeSync(fd);
  // The capability query before each write: once per file, not once per write.
  const before = await serverStats(s.mnt);
  const w = fs.openSync(m('many'), 'wx');
  for (let i = 0; i < 64; i++) fs.writeSync(w, Buffer.alloc(4096, i));
  fs.closeSync(w);
  const after = await serverStats(s.mnt);
  t.true((after.requests.getxattr ?? 0) - (before.requests.getxattr ?? 0) <= 2, `${(after.requests.getxattr ?? 0) - (before.requests.getxattr ?? 0)} capability queries`);
  t.is(fs.statSync(m('many')).size, 64 * 4096);
});

test('files of a lower directory looked up one by one: the loop answers from prepared entries, the same inodes each time, and stops once the tree changes', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let i = 0; i < 60; i++) files[`dir/f${i}`] = 'x'.repeat(i);
  populate(s.lowers[0]!, { ...files, 'dir/sub/inner': 'i' });
  fs.linkSync(path.join(s.lowers[0]!, 'dir/f1'), path.join(s.lowers[0]!, 'dir/hard'));
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, 'dir', p);
  const names = [...Array(60).keys()].map((i) => `f${i}`);
  const base = await serverStats(s.mnt);
  const first = new Map(names.map((n) => [n, fs.statSync(m(n))]));
  for (const [i, n] of names.entries()) t.is(first.get(n)!.size, i);
  const mid = await serverStats(s.mnt);
  const sent = (mid.requests.lookup ?? 0) - (base.requests.lookup ?? 0);
  const engine = engineCount(mid, 'lookup') - engineCount(base, 'lookup');
  t.true(sent >= 61);
  // (Other tests may drop the caches meanwhile: the directory may be looked up again, by the engine.)
  t.true(sent - engine >= 55, `the loop answered the lookups (${sent - engine} of ${sent})`);
  // A hard link: one inode under both names (the second name is the engine's).
  t.is(fs.statSync(m('hard')).ino, fs.statSync(m('f1')).ino);
  t.is(fs.statSync(m('hard')).nlink, 2);
  // The kernel forgets them (the engine keeps them: the loop may hand them out again), then looks them up again.
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  for (const n of names) t.is(fs.statSync(m(n)).ino, first.get(n)!.ino, `${n}: the same inode number`);
  t.is(fs.readFileSync(m('f59'), 'utf8'), 'x'.repeat(59), 'an entry the loop handed out opens');
  // A change: the loop's entries go, the engine answers what it now is.
  fs.writeFileSync(m('f3'), 'changed');
  fs.unlinkSync(m('f4'));
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  t.is(fs.statSync(m('f3')).size, 7);
  t.is(fs.statSync(m('f3')).ino, first.get('f3')!.ino, 'a copy-up keeps the inode number');
  t.false(fs.existsSync(m('f4')));
  for (const n of names.slice(5)) t.is(fs.statSync(m(n)).size, Number(n.slice(1)));
  t.deepEqual(fs.readdirSync(path.join(s.mnt, 'dir')).length, 61); // 60 - f4 + hard + sub
});

test('a big lower directory is prepared a slice at a time: its files are answered by the loop, and a change between slices leaves no stale answer', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  // More than 256 files: prepared from the second lookup on, in slices of 128.
  for (let i = 0; i < 700; i++) {
    files[`big/f${i}`] = 'x'.repeat(i % 50);
    files[`changing/f${i}`] = 'y'.repeat(i % 50);
  }
  populate(s.lowers[0]!, files);
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, p);
  fs.statSync(m('big/f0'));
  fs.statSync(m('big/f1'));
  // The slices follow on turns of the server's event loop; a stat in between is answered either way.
  await new Promise((r) => setTimeout(r, 300));
  const base = await serverStats(s.mnt);
  for (let i = 2; i < 700; i++) t.is(fs.statSync(m(`big/f${i}`)).size, i % 50, `big/f${i}`);
  const after = await serverStats(s.mnt);
  const sent = (after.requests.lookup ?? 0) - (base.requests.lookup ?? 0);
  const engine = engineCount(after, 'lookup') - engineCount(base, 'lookup');
  t.true(sent - engine >= 600, `the loop answered ${sent - engine} of ${sent} lookups`);
  // Slices start; the tree changes at once (a write and a removal elsewhere in the directory).
  fs.statSync(m('changing/f0'));
  fs.statSync(m('changing/f1'));
  fs.writeFileSync(m('changing/f600'), 'new');
  fs.unlinkSync(m('changing/f601'));
  await new Promise((r) => setTimeout(r, 300));
  // (Names the kernel has not looked up yet: each is a LOOKUP the loop would answer from a stale entry.)
  t.is(fs.readFileSync(m('changing/f600'), 'utf8'), 'new');
  t.false(fs.existsSync(m('changing/f601')));
  for (let i = 0; i < 700; i++) if (i !== 600 && i !== 601) t.is(fs.statSync(m(`changing/f${i}`)).size, i % 50, `changing/f${i}`);
  t.is(fs.readdirSync(m('changing')).length, 699);
});

/** 8 sibling directories' files: stats after the walk reached the second, and the LOOKUPs they sent. */
async function statSiblingsAfterTwo(t: ExecutionContext): Promise<{ lookups: number; wrong: string[] }> {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let d = 0; d < 10; d++) for (let f = 0; f < 30; f++) files[`tree/d${d}/f${f}`] = 'x'.repeat(f);
  populate(s.lowers[0]!, files);
  await mountNative(t, s);
  const m = (p: string) => path.join(s.mnt, 'tree', p);
  const rest = Object.keys(files).map((p) => p.slice('tree/'.length)).filter((p) => !/^d[01]\//.test(p));
  for (let f = 0; f < 30; f++) fs.statSync(m(`d0/f${f}`));
  const base = await serverStats(s.mnt);
  for (let f = 0; f < 30; f++) fs.statSync(m(`d1/f${f}`)); // a second sibling: the others are listed ahead
  // Listed in the background: wait for their 8 READDIRPLUS replies.
  let listed = await serverStats(s.mnt);
  for (let i = 0; i < 200 && (listed.requests.readdirplus ?? 0) - (base.requests.readdirplus ?? 0) < 8; i++) {
    await new Promise((r) => setTimeout(r, 10));
    listed = await serverStats(s.mnt);
  }
  const wrong: string[] = [];
  for (const p of rest) {
    const st = fs.statSync(m(p));
    const want = fs.statSync(path.join(s.lowers[0]!, 'tree', p));
    if (st.size !== want.size || st.mode !== want.mode || !st.isFile()) wrong.push(p);
  }
  const after = await serverStats(s.mnt);
  return { lookups: (after.requests.lookup ?? 0) - (listed.requests.lookup ?? 0), wrong };
}

test('files of one lower directory after another under a parent: the other siblings are listed ahead through the mount, and their stats send no LOOKUP', async (t) => {
  // (Other tests may drop the caches meanwhile, which brings the LOOKUPs back: a few tries, each on a fresh mount.
  // The bench's quick run, in CI beside this file, drops them before each of its ~60 mounts: a CI run once
  // lost all of 3 tries of ~0.4 s to it, where the test alone passed 4 of 4.)
  let got = { lookups: -1, wrong: [] as string[] };
  for (let i = 0; i < 6; i++) {
    got = await statSiblingsAfterTwo(t);
    t.deepEqual(got.wrong, [], 'a stat through a listed-ahead entry differs from the layer');
    if (got.lookups < 24) break;
  }
  t.true(got.lookups >= 0 && got.lookups < 24, `${got.lookups} LOOKUPs for 240 files in 8 directories listed ahead`);
});

test('listing ahead never holds an unmount up: umount right after a walk started it succeeds, and the server ends', async (t) => {
  const s = makeStack(1);
  const files: Record<string, string> = {};
  for (let d = 0; d < 300; d++) for (let f = 0; f < 40; f++) files[`tree/d${d}/f${f}`] = 'x';
  populate(s.lowers[0]!, files);
  const h = await mountNative(t, s);
  fs.statSync(path.join(s.mnt, 'tree/d0/f0'));
  fs.statSync(path.join(s.mnt, 'tree/d1/f0')); // 298 directories queued to be listed
  const t0 = Date.now();
  execFileSync('umount', [s.mnt]); // not EBUSY: the listing goes through a clone of the mount
  forget(h);
  t.false(isMounted(s.mnt));
  const alive = () => {
    try {
      process.kill(h.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 20));
  t.false(alive(), 'the server ended');
  if (alive()) process.kill(h.pid, 'SIGKILL');
});

test('a directory with no lower parts: the loop answers lookups of names it lacks, and sees every way a name arrives', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower/file': 'l', 'lower/dir/inner': 'i', 'lower/other': 'o' });
  const h = await mountNative(t, s);
  const d = path.join(s.mnt, 'new');
  fs.mkdirSync(d);
  const m = (p: string) => path.join(d, p);
  // Held open: the kernel keeps the directory's node while its entries are dropped below.
  const hold = fs.openSync(d, 'r');
  t.false(fs.existsSync(m('first')), 'the engine answers this one and hands the loop the names');
  const base = await serverStats(s.mnt);
  for (let i = 0; i < 50; i++) t.false(fs.existsSync(m(`missing${i}`)));
  const mid = await serverStats(s.mnt);
  const sent = (mid.requests.lookup ?? 0) - (base.requests.lookup ?? 0);
  const engine = engineCount(mid, 'lookup') - engineCount(base, 'lookup');
  t.true(sent >= 50);
  t.true(sent - engine >= 45, `the loop answered the lookups (${sent - engine} of ${sent})`);
  // Every request that brings a name into the directory.
  fs.writeFileSync(m('created'), 'c'); // CREATE
  fs.mkdirSync(m('subdir')); // MKDIR
  fs.symlinkSync('created', m('symlink')); // SYMLINK
  fs.linkSync(m('created'), m('hardlink')); // LINK
  execFileSync('mknod', [m('fifo'), 'p']); // MKNOD
  fs.renameSync(path.join(s.mnt, 'lower/file'), m('moved-file')); // RENAME of a lower file
  fs.renameSync(path.join(s.mnt, 'lower/dir'), m('moved-dir')); // a lower directory (redirect)
  renameat2(path.join(s.mnt, 'lower/other'), m('noreplace'), RENAME_NOREPLACE); // RENAME2
  fs.writeFileSync(m('gone'), 'g');
  fs.unlinkSync(m('gone'));
  const names = ['created', 'subdir', 'symlink', 'hardlink', 'fifo', 'moved-file', 'moved-dir', 'noreplace'];
  // The kernel drops its entries (not the directory, held open) and asks for every name again.
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  for (const n of names) t.notThrows(() => fs.lstatSync(m(n)), n);
  t.is(fs.readFileSync(m('moved-dir/inner'), 'utf8'), 'i');
  t.is(fs.readFileSync(m('noreplace'), 'utf8'), 'o');
  t.false(fs.existsSync(m('gone')), 'a removed name is missing (the engine says so)');
  t.false(fs.existsSync(m('never')));
  // The same inside a directory made inside it, and after the kernel forgot the directory itself.
  fs.writeFileSync(m('subdir/a'), 'a');
  t.false(fs.existsSync(m('subdir/b')));
  fs.writeFileSync(m('subdir/b'), 'b');
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  t.is(fs.readFileSync(m('subdir/b'), 'utf8'), 'b');
  t.deepEqual(fs.readdirSync(d).sort(), [...names].sort());
  t.deepEqual(fs.readdirSync(m('subdir')).sort(), ['a', 'b']);
  // A new server: the directories are upper ones with names already when the loop first gets them.
  fs.closeSync(hold);
  await unmount(h);
  await mountNative(t, s);
  const missing = (p: string) => t.throws(() => fs.lstatSync(m(p)), { code: 'ENOENT' }, p);
  missing('subdir/c');
  missing('nothing-here');
  const holdSub = fs.openSync(m('subdir'), 'r'); // (kept in the kernel while other tests drop caches)
  const again = await serverStats(s.mnt);
  for (let i = 0; i < 20; i++) missing(`subdir/gone${i}`);
  const later = await serverStats(s.mnt);
  fs.closeSync(holdSub);
  const sent2 = (later.requests.lookup ?? 0) - (again.requests.lookup ?? 0);
  const engine2 = engineCount(later, 'lookup') - engineCount(again, 'lookup');
  t.true(sent2 >= 20 && sent2 - engine2 >= 18, `the loop answered the lookups in a directory that had names (${sent2 - engine2} of ${sent2})`);
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  t.is(fs.readFileSync(m('subdir/a'), 'utf8'), 'a');
  for (const n of names) t.notThrows(() => fs.lstatSync(m(n)), `${n} after the remount`);
});

test('files made in a new directory: the loop creates them itself, and the engine knows them as if it had', async (t) => {
  const s = makeStack(1);
  populate(s.lowers[0]!, { 'lower/file': 'l' });
  const h = await mountNative(t, s);
  const d = path.join(s.mnt, 'out');
  fs.mkdirSync(d);
  const m = (p: string) => path.join(d, p);
  const hold = fs.openSync(d, 'r'); // (kept in the kernel while other tests drop caches)
  t.false(fs.existsSync(m('first')), 'the engine hands the loop the names');
  fs.statSync(d); // and the upper directory
  const base = await serverStats(s.mnt);
  if (!base.passthrough) {
    fs.closeSync(hold);
    t.fail('the kernel did not agree to FUSE passthrough (needs root and kernel 6.9+)');
    return;
  }
  for (let i = 0; i < 40; i++) fs.writeFileSync(m(`f${i}`), `content ${i}`);
  const mid = await serverStats(s.mnt);
  const sent = (mid.requests.create ?? 0) - (base.requests.create ?? 0);
  const engine = engineCount(mid, 'create') - engineCount(base, 'create');
  t.is(sent, 40);
  t.true(engine <= 4, `the loop made the files (the engine made ${engine} of ${sent})`);
  t.is((mid.requests.write ?? 0) - (base.requests.write ?? 0), 0, 'their writes were passed through');
  // What the engine must know of them: names, inode numbers, open handles, data, attributes.
  const inos = new Set<number>();
  for (let i = 0; i < 40; i++) {
    const st = fs.statSync(m(`f${i}`));
    t.is(fs.readFileSync(m(`f${i}`), 'utf8'), `content ${i}`);
    t.is(fs.readFileSync(path.join(s.upper, 'out', `f${i}`), 'utf8'), `content ${i}`);
    t.is(st.mode & 0o777, 0o666 & ~process.umask());
    inos.add(st.ino);
  }
  t.is(inos.size, 40, 'each file its own inode number');
  t.false(inos.has(fs.statSync(path.join(s.mnt, 'lower/file')).ino));
  const fd = fs.openSync(m('open'), 'w'); // still open while the engine handles the next requests
  fs.writeSync(fd, 'abc');
  fs.fchmodSync(fd, 0o600);
  fs.renameSync(m('open'), m('renamed'));
  fs.writeSync(fd, 'def');
  fs.closeSync(fd);
  t.is(fs.readFileSync(m('renamed'), 'utf8'), 'abcdef');
  t.is(fs.statSync(m('renamed')).mode & 0o777, 0o600);
  fs.linkSync(m('f1'), m('f1-link'));
  t.is(fs.statSync(m('f1-link')).ino, fs.statSync(m('f1')).ino);
  t.is(fs.statSync(m('f1')).nlink, 2);
  fs.unlinkSync(m('f2'));
  fs.appendFileSync(m('f3'), ' more');
  t.is(fs.readFileSync(m('f3'), 'utf8'), 'content 3 more');
  t.throws(() => fs.writeFileSync(m('f5'), 'x', { flag: 'wx' }), { code: 'EEXIST' });
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']); // the kernel forgets them; the engine answers
  const names = fs.readdirSync(d).sort();
  t.is(names.length, 41);
  t.false(names.includes('f2'));
  t.true(names.includes('renamed') && names.includes('f1-link'));
  t.is(fs.readFileSync(m('f7'), 'utf8'), 'content 7');
  fs.closeSync(hold);
  // A new server reads them from the upper layer.
  await unmount(h);
  await mountNative(t, s);
  t.is(fs.readFileSync(m('f39'), 'utf8'), 'content 39');
  t.is(fs.readFileSync(m('renamed'), 'utf8'), 'abcdef');
  t.is(fs.statSync(m('f1')).nlink, 2);
});

/** Every entry under `root` (relative path -> lstat), by readdir and lstat, as a walk (find, du) sees them. */
function walkTree(root: string, rel = ''): Map<string, fs.Stats> {
  const out = new Map<string, fs.Stats>();
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = fs.lstatSync(path.join(root, p));
    out.set(p, st);
    if (st.isDirectory()) for (const [k, v] of walkTree(root, p)) out.set(k, v);
  }
  return out;
}

test('a lower tree only one layer has: the loop lists its directories itself, as the layer has them less its whiteouts, and the engine knows each entry when asked', async (t) => {
  const s = makeStack(2);
  const [top, below] = [s.lowers[0]!, s.lowers[1]!];
  const files: Record<string, string> = {};
  for (let d = 0; d < 6; d++) for (let f = 0; f < 40; f++) files[`tree/d${d}/sub/f${f}`] = 'x'.repeat(f);
  populate(top, { ...files, 'tree/d0/link': { symlink: 'sub/f1' }, 'tree/r/': null });
  populate(below, { 'other/x': 'below', base: 'b' });
  // Whiteouts in the layer hide their names even with nothing below: an overlay one and an aufs one.
  mkWhiteout(path.join(top, 'tree/d1/sub/gone'));
  fs.writeFileSync(path.join(top, 'tree/d1/sub/.wh.gone2'), '');
  fs.linkSync(path.join(top, 'tree/d2/sub/f1'), path.join(top, 'tree/d2/sub/hard'));
  execFileSync('mkfifo', [path.join(top, 'tree/d3/fifo')]);
  // A redirect: tree/r's lower part is other/ of the layer below (the engine merges it).
  lsetxattr(path.join(top, 'tree/r'), 'trusted.overlay.redirect', Buffer.from('/other'), 0);
  await mountNative(t, s);
  const tree = path.join(s.mnt, 'tree');
  const base = await serverStats(s.mnt);
  const walked = walkTree(tree);
  const after = await serverStats(s.mnt);

  // What the layer has, whiteouts left out, and the redirected directory's part from below.
  const want = walkTree(path.join(top, 'tree'));
  for (const k of [...want.keys()]) if (/(^|\/)(gone|\.wh\.gone2)$/.test(k)) want.delete(k);
  want.set('r/x', fs.lstatSync(path.join(below, 'other/x')));
  t.deepEqual([...walked.keys()].sort(), [...want.keys()].sort());
  for (const [p, st] of walked) {
    const w = want.get(p)!;
    t.is(st.mode, w.mode, `${p}: mode`);
    if (!st.isDirectory()) t.is(st.size, w.size, `${p}: size`);
    if (!st.isDirectory()) t.is(st.nlink, w.nlink, `${p}: link count`);
  }
  t.true(walked.get('d3/fifo')!.isFIFO());
  t.is(walked.get('d2/sub/hard')!.ino, walked.get('d2/sub/f1')!.ino, 'a hard link: one inode');
  const inos = [...walked].filter(([p]) => p !== 'd2/sub/hard').map(([, st]) => st.ino);
  t.is(new Set(inos).size, inos.length, 'every other entry its own inode');

  // The loop answered the listings below tree (14 directories; the engine r/ and at most a few more).
  const sent = (after.requests.readdirplus ?? 0) + (after.requests.readdir ?? 0) - (base.requests.readdirplus ?? 0) - (base.requests.readdir ?? 0);
  const engine = engineCount(after, 'readdirplus') + engineCount(after, 'readdir') - engineCount(base, 'readdirplus') - engineCount(base, 'readdir');
  t.true(sent >= 14, `${sent} listings`);
  t.true(sent - engine >= 12, `the loop answered ${sent - engine} of ${sent} listings`);

  // The engine takes in what the loop listed when asked: contents, the same inode numbers.
  for (const p of ['d0/sub/f39', 'd5/sub/f7', 'd2/sub/hard']) {
    const fd = fs.openSync(path.join(tree, p), 'r');
    t.is(fs.readFileSync(fd, 'utf8'), fs.readFileSync(path.join(top, 'tree', p), 'utf8'));
    t.is(fs.fstatSync(fd).ino, walked.get(p)!.ino, `${p}: opened, the inode listed`);
    fs.closeSync(fd);
  }
  t.is(fs.readlinkSync(path.join(tree, 'd0/link')), 'sub/f1');
  // The kernel forgets them and walks again: the same numbers.
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  const again = walkTree(tree);
  for (const [p, st] of walked) t.is(again.get(p)?.ino, st.ino, `${p}: the same inode after the kernel forgot it`);

  // Changes: a new file, a renamed directory; listings after them are the engine's, and right.
  fs.writeFileSync(path.join(tree, 'd4/sub/new'), 'n');
  t.true(fs.readdirSync(path.join(tree, 'd4/sub')).includes('new'));
  fs.renameSync(path.join(tree, 'd5'), path.join(tree, 'd5b'));
  t.deepEqual(fs.readdirSync(path.join(tree, 'd5b/sub')).sort(), fs.readdirSync(path.join(top, 'tree/d5/sub')).sort());
  t.is(fs.statSync(path.join(tree, 'd5b/sub/f3')).ino, walked.get('d5/sub/f3')!.ino);
  t.false(fs.existsSync(path.join(tree, 'd5')));
});

test('directories several lower layers have: the loop merges them as the engine does (whiteouts, opaque directories, aufs markers, the topmost copy of a name)', async (t) => {
  const s = makeStack(3);
  const [top, mid, bottom] = [s.lowers[0]!, s.lowers[1]!, s.lowers[2]!];
  populate(top, { 'm/a': 'top a', 'm/sub/': null, 'm/opq/o0': 'o0', 'm/deep/d/t': 't' });
  mkWhiteout(path.join(top, 'm/wo'));
  fs.writeFileSync(path.join(top, 'm/.wh.aw'), '');
  lsetxattr(path.join(top, 'm/opq'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  populate(mid, { 'm/a': 'mid a', 'm/b': 'b', 'm/wo': 'hidden', 'm/aw': 'hidden', 'm/sub/s1': 's1', 'm/opq/o1': 'hidden', 'm/f2d': 'a file', 'm/mk/k1': 'k1', 'm/deep/d/u': 'u' });
  fs.writeFileSync(path.join(mid, 'm/mk/.wh..wh..opq'), '');
  populate(bottom, { 'm/c': 'c', 'm/sub/s2': 's2', 'm/f2d/x': 'hidden', 'm/mk/k2': 'hidden', 'm/deep/d/v': 'v', 'm/wo': 'hidden' });
  await mountNative(t, s);
  const m = path.join(s.mnt, 'm');
  // Stat every file, so every listing carries files' attributes (what the loop is asked for most).
  const base = await serverStats(s.mnt);
  const walked = walkTree(m);
  const after = await serverStats(s.mnt);
  t.deepEqual([...walked.keys()].sort(), ['a', 'b', 'c', 'deep', 'deep/d', 'deep/d/t', 'deep/d/u', 'deep/d/v', 'f2d', 'mk', 'mk/k1', 'opq', 'opq/o0', 'sub', 'sub/s1', 'sub/s2']);
  const read = (p: string) => fs.readFileSync(path.join(m, p), 'utf8');
  t.deepEqual(['a', 'b', 'c', 'f2d', 'mk/k1', 'opq/o0', 'sub/s1', 'sub/s2', 'deep/d/t', 'deep/d/u', 'deep/d/v'].map(read), ['top a', 'b', 'c', 'a file', 'k1', 'o0', 's1', 's2', 't', 'u', 'v']);
  t.true(walked.get('f2d')!.isFile());
  t.is(walked.get('sub')!.nlink, 1, 'a merged directory: link count 1, as the engine says');
  t.is(walked.get('opq')!.nlink, fs.statSync(path.join(top, 'm/opq')).nlink, 'an opaque one merges nothing: its own');
  const sent = (after.requests.readdirplus ?? 0) + (after.requests.readdir ?? 0) - (base.requests.readdirplus ?? 0) - (base.requests.readdir ?? 0);
  const engine = engineCount(after, 'readdirplus') + engineCount(after, 'readdir') - engineCount(base, 'readdirplus') - engineCount(base, 'readdir');
  t.true(sent >= 6, `${sent} listings`);
  t.true(sent - engine >= 5, `the loop answered ${sent - engine} of ${sent} listings`);
  // The same inodes once the kernel forgot them; the engine's own stats agree.
  execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
  for (const [p, st] of walkTree(m)) t.is(st.ino, walked.get(p)!.ino, `${p}: the same inode`);
  // A change inside: the engine lists it from then on, and right.
  fs.writeFileSync(path.join(m, 'sub/new'), 'n');
  fs.unlinkSync(path.join(m, 'sub/s2'));
  t.deepEqual(fs.readdirSync(path.join(m, 'sub')).sort(), ['new', 's1']);
});

test('lower directories listed on one mount come from the directory cache on the next while unchanged; changed ones are read again; a broken cache file is ignored', async (t) => {
  const s = makeStack(3);
  const [top, mid, bottom] = [s.lowers[0]!, s.lowers[1]!, s.lowers[2]!];
  populate(top, { 'm/a': 'top a', 'm/opq/o0': 'o0', 'm/deep/d/t': 't' });
  mkWhiteout(path.join(top, 'm/wo'));
  lsetxattr(path.join(top, 'm/opq'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  populate(mid, { 'm/a': 'mid a', 'm/b': 'b', 'm/wo': 'hidden', 'm/sub/s1': 's1', 'm/opq/o1': 'hidden', 'm/deep/d/u': 'u' });
  populate(bottom, { 'm/c': 'c', 'm/sub/s2': 's2', 'm/deep/d/v': 'v' });
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-dircache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  // A directory changed in the last 2 s is not kept (a second change in the same tick would not show).
  await new Promise((r) => setTimeout(r, 2100));
  const mountOnce = async (): Promise<{ walked: Map<string, fs.Stats>; fromCache: number; read: number }> => {
    const h = await mountStrata(t, s, { transport: 'native', dirCache: cacheDir });
    const walked = walkTree(path.join(s.mnt, 'm'));
    const st = (await serverStats(s.mnt)) as unknown as { hostDirs: { fromCache: number; read: number } };
    await unmount(h);
    return { walked, ...st.hostDirs };
  };
  const want = ['a', 'b', 'c', 'deep', 'deep/d', 'deep/d/t', 'deep/d/u', 'deep/d/v', 'opq', 'opq/o0', 'sub', 'sub/s1', 'sub/s2'];

  const first = await mountOnce();
  t.deepEqual([...first.walked.keys()].sort(), want);
  t.is(first.fromCache, 0);
  t.true(first.read >= 10, `${first.read} host directories read`);
  t.is(fs.readdirSync(cacheDir).length, 1, 'one cache file for the stack');

  const second = await mountOnce();
  t.deepEqual([...second.walked.keys()].sort(), want);
  for (const [p, st] of first.walked) {
    t.is(second.walked.get(p)!.ino, st.ino, `${p}: the same inode`);
    t.is(second.walked.get(p)!.mode, st.mode, `${p}: the same type and mode`);
  }
  t.is(second.read, 0, 'nothing read from the layers again');
  t.is(second.fromCache, first.read);

  // Changed while unmounted: a new file below, a whiteout on top, a directory made opaque in the middle.
  fs.writeFileSync(path.join(mid, 'm/sub/new'), 'n');
  mkWhiteout(path.join(top, 'm/c'));
  lsetxattr(path.join(mid, 'm/deep'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  const third = await mountOnce();
  t.deepEqual([...third.walked.keys()].sort(), ['a', 'b', 'deep', 'deep/d', 'deep/d/t', 'deep/d/u', 'opq', 'opq/o0', 'sub', 'sub/new', 'sub/s1', 'sub/s2']);
  t.true(third.read >= 2 && third.fromCache > 0, `${third.read} read, ${third.fromCache} from the cache`);

  // A cache file cut short or overwritten: ignored, the listings right.
  for (const f of fs.readdirSync(cacheDir)) fs.writeFileSync(path.join(cacheDir, f), 'strata dircache 3\n\x07garbage');
  const fourth = await mountOnce();
  t.deepEqual([...fourth.walked.keys()].sort(), [...third.walked.keys()].sort());
  t.is(fourth.fromCache, 0);
  // A cache directory others may write to is not used (they could plant names in the listings).
  const fifth = await mountOnce();
  t.true(fifth.fromCache > 0);
  fs.chmodSync(cacheDir, 0o777);
  const sixth = await mountOnce();
  t.is(sixth.fromCache, 0, 'a world-writable cache directory is ignored');
  t.deepEqual([...sixth.walked.keys()].sort(), [...third.walked.keys()].sort());
});

test('a big directory cache is checked ahead on other threads; directories changed offline early and late in its order are still read again', async (t) => {
  // 2 layers x 150 directories: far more records than the checkers' threshold (64).
  const s = makeStack(2);
  const [top, bottom] = [s.lowers[0]!, s.lowers[1]!];
  const spec = (layer: string): Record<string, string> => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`t/d${String(i).padStart(3, '0')}/${layer}`] = layer;
    return files;
  };
  populate(top, spec('top'));
  populate(bottom, spec('bottom'));
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-dircache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  await new Promise((r) => setTimeout(r, 2100)); // (changed in the last 2 s: not kept)
  const mountOnce = async (dirCache: string | false) => {
    const h = await mountStrata(t, s, { transport: 'native', dirCache });
    const names = [...walkTree(path.join(s.mnt, 't')).keys()];
    const st = (await serverStats(s.mnt)) as unknown as { hostDirs: { fromCache: number; read: number; checkedAhead: number } };
    await unmount(h);
    return { names, ...st.hostDirs };
  };
  const first = await mountOnce(cacheDir);
  t.is(first.names.length, 450);
  t.is(first.checkedAhead, 0, 'nothing to check on the first mount');
  // From the cache, the checks made on the checker threads (mostly): tried
  // a few times, as a loaded machine may leave them no CPU for a walk this short.
  let second = await mountOnce(cacheDir);
  for (let i = 0; i < 4 && second.checkedAhead === 0; i++) second = await mountOnce(cacheDir);
  t.deepEqual(second.names, first.names);
  t.is(second.read, 0);
  t.true(second.checkedAhead > 0, `the checkers made ${second.checkedAhead} of ${second.fromCache} checks`);

  // Offline: a file added near the start of the walk, one removed near its
  // end, a directory in the middle replaced by a new one (a new inode).
  fs.writeFileSync(path.join(top, 't/d001/new'), 'n');
  fs.unlinkSync(path.join(bottom, 't/d148/bottom'));
  fs.rmSync(path.join(bottom, 't/d075'), { recursive: true });
  populate(bottom, { 't/d075/other': 'o' });
  const third = await mountOnce(cacheDir);
  const fresh = await mountOnce(false);
  t.is(fresh.fromCache, 0);
  t.deepEqual(third.names, fresh.names);
  const changed = third.names.filter((n) => /^d(001|075|148)\//.test(n));
  t.deepEqual(changed, ['d001/bottom', 'd001/new', 'd001/top', 'd075/other', 'd075/top', 'd148/top']);
  t.true(third.read >= 3, `${third.read} host directories read again`);
});
