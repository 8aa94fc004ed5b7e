import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as native from '../index.ts';

/** A temp dir under `base` (the OS temp dir, or /dev/shm for a tmpfs), removed when the test ends. */
function tmp(t: ExecutionContext, base = os.tmpdir()): string {
  const d = fs.mkdtempSync(path.join(base, 'strata-native-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** cloneFd of file `src` into a new file `dst`, `length` bytes; returns how it copied. */
function cloneFile(src: string, dst: string, length: number): string {
  const from = fs.openSync(src, 'r');
  const to = fs.openSync(dst, 'w');
  try {
    return native.cloneFd(from, to, length);
  } finally {
    fs.closeSync(from);
    fs.closeSync(to);
  }
}

test('mkWhiteout makes a character device 0/0', (t) => {
  const d = tmp(t);
  native.mkWhiteout(path.join(d, 'gone'));
  const st = fs.lstatSync(path.join(d, 'gone'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, 0);
  const err = t.throws(() => native.mkWhiteout(path.join(d, 'gone')));
  t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
});

test('renameat2 NOREPLACE refuses an existing target, EXCHANGE swaps', (t) => {
  const d = tmp(t);
  fs.writeFileSync(path.join(d, 'a'), 'A');
  fs.writeFileSync(path.join(d, 'b'), 'B');
  const err = t.throws(() => native.renameat2(path.join(d, 'a'), path.join(d, 'b'), native.RENAME_NOREPLACE));
  t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
  native.renameat2(path.join(d, 'a'), path.join(d, 'b'), native.RENAME_EXCHANGE);
  t.is(fs.readFileSync(path.join(d, 'a'), 'utf8'), 'B');
  t.is(fs.readFileSync(path.join(d, 'b'), 'utf8'), 'A');
});

test('cloneFd copies a file in the kernel', (t) => {
  const d = tmp(t);
  const data = Buffer.alloc(3 << 20, 7);
  data.write('head');
  fs.writeFileSync(path.join(d, 'src'), data);
  const how = cloneFile(path.join(d, 'src'), path.join(d, 'dst'), data.length);
  t.true(how === 'ficlone' || how === 'copy_file_range' || how === 'sendfile');
  t.deepEqual(fs.readFileSync(path.join(d, 'dst')), data);
});

test('cloneFd keeps holes: a sparse file copies its data only, to the same size and bytes', (t) => {
  for (const d of [tmp(t), tmp(t, '/dev/shm')]) {
    const size = 256 << 20;
    const fd = fs.openSync(path.join(d, 'src'), 'w');
    fs.ftruncateSync(fd, size);
    fs.writeSync(fd, Buffer.from('middle'), 0, 6, 100 << 20);
    fs.writeSync(fd, Buffer.from('end!'), 0, 4, size - 4);
    fs.closeSync(fd);
    cloneFile(path.join(d, 'src'), path.join(d, 'dst'), size);
    const st = fs.statSync(path.join(d, 'dst'));
    t.is(st.size, size, d);
    t.true(st.blocks * 512 < 4 << 20, `${d}: ${st.blocks * 512} bytes allocated for 10 bytes of data`);
    const out = fs.openSync(path.join(d, 'dst'), 'r');
    const at = (off: number, n: number) => { const b = Buffer.alloc(n); fs.readSync(out, b, 0, n, off); return b.toString('latin1'); };
    t.is(at(100 << 20, 6), 'middle');
    t.is(at(size - 4, 4), 'end!');
    t.is(at(0, 4), '\0\0\0\0');
    fs.closeSync(out);
  }
});

test('xattrs on a symlink itself: set, get, list, remove', (t) => {
  const d = tmp(t);
  const f = path.join(d, 'f');
  fs.writeFileSync(f, '');
  native.lsetxattr(f, 'trusted.overlay.opaque', Buffer.from('y'), 0);
  t.is(native.lgetxattr(f, 'trusted.overlay.opaque')?.toString(), 'y');
  t.true(native.llistxattr(f).includes('trusted.overlay.opaque'));
  native.lremovexattr(f, 'trusted.overlay.opaque');
  t.is(native.lgetxattr(f, 'trusted.overlay.opaque'), null);
  const l = path.join(d, 'l');
  fs.symlinkSync('/nowhere', l);
  native.lsetxattr(l, 'trusted.x', Buffer.from('1'), 0);
  t.is(native.lgetxattr(l, 'trusted.x')?.toString(), '1');
  const err = t.throws(() => native.lremovexattr(f, 'user.none'));
  t.is((err as NodeJS.ErrnoException).code, 'ENODATA');
});

test('lutimesNs sets nanosecond mtimes without following symlinks', (t) => {
  const d = tmp(t);
  const l = path.join(d, 'l');
  fs.symlinkSync('/nowhere', l);
  native.lutimesNs(l, 1000, 5, 2000, 123456789);
  const st = fs.lstatSync(l, { bigint: true });
  t.is(st.mtimeNs, 2000123456789n);
});

test('cloneFd copies across filesystems (tmpfs to the test dir) inside the kernel', (t) => {
  const d = tmp(t);
  const shm = tmp(t, '/dev/shm');
  const data = Buffer.alloc((1 << 20) + 123, 3);
  fs.writeFileSync(path.join(shm, 'src'), data);
  const how = cloneFile(path.join(shm, 'src'), path.join(d, 'dst'), data.length);
  t.true(['copy_file_range', 'sendfile'].includes(how));
  t.deepEqual(fs.readFileSync(path.join(d, 'dst')), data);
});

test('lstatArray and fstatArray fill the stat layout with nanosecond times', (t) => {
  const d = tmp(t);
  const f = path.join(d, 'f');
  fs.writeFileSync(f, 'hello');
  native.lutimesNs(f, 1000, 123456789, 2000, 987654321);
  const out = new Float64Array(16);
  native.lstatArray(f, out);
  const st = fs.lstatSync(f, { bigint: true });
  t.is(out[0], Number(st.mode));
  t.is(out[3], 5);
  t.is(out[6], Number(st.ino));
  t.deepEqual([out[10], out[11], out[12], out[13]], [1000, 123456789, 2000, 987654321]);
  const fd = fs.openSync(f, 'r');
  const out2 = new Float64Array(16);
  native.fstatArray(fd, out2);
  fs.closeSync(fd);
  t.deepEqual(out2, out);
  t.throws(() => native.lstatArray(path.join(d, 'missing'), out), { code: 'ENOENT' });
  t.throws(() => native.lstatArray(f, new Float64Array(3)), { instanceOf: TypeError });
});

test('prefetchDirs reads ahead on background threads and ignores what it cannot read', async (t) => {
  const d = tmp(t);
  fs.mkdirSync(path.join(d, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(d, 'file'), 'x');
  const threads = () => fs.readdirSync('/proc/self/task').length;
  const before = threads();
  // A missing path, a file, a directory: a hint never throws.
  t.notThrows(() => native.prefetchDirs([path.join(d, 'missing'), path.join(d, 'file'), d, path.join(d, 'a')]));
  t.notThrows(() => native.prefetchDirs([]));
  t.is(threads(), before + 8, 'eight readers started in this process');
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(fs.readdirSync(d).sort(), ['a', 'file'], 'nothing was changed');
});

test('removeTree removes a tree on a background thread without following links out of it', (t) => {
  const d = tmp(t);
  const outside = path.join(d, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'keep'), 'k');
  const gone = path.join(d, 'gone');
  fs.mkdirSync(path.join(gone, 'a', 'b', 'c'), { recursive: true });
  for (let i = 0; i < 50; i++) native.mkWhiteout(path.join(gone, 'a', `w${i}`));
  fs.writeFileSync(path.join(gone, 'a', 'b', 'c', 'f'), 'f');
  fs.symlinkSync(outside, path.join(gone, 'a', 'link-dir'));
  fs.symlinkSync(path.join(outside, 'keep'), path.join(gone, 'link-file'));
  fs.mkdirSync(path.join(gone, 'locked'), { mode: 0o000 });
  t.true(native.removeTree(gone));
  t.is(native.drainRemovals(10_000), 0);
  t.false(fs.existsSync(gone));
  t.deepEqual(fs.readdirSync(outside), ['keep'], 'what the links pointed to is untouched');
  t.false(native.removeTree('relative/path'), 'only absolute paths are taken');
  t.true(native.removeTree(path.join(d, 'missing')), 'a missing path is queued and is simply nothing to do');
  t.is(native.drainRemovals(10_000), 0);
});

test.serial('removeTree waits for the FUSE loops to be quiet, two seconds at most, and not while drained', async (t) => {
  const d = tmp(t);
  // A struct loop_activity of our own: { i32 busy; i32 unused; u64 idle_since_ns; u64 served }.
  const activity = new ArrayBuffer(24);
  const busy = new Int32Array(activity, 0, 1);
  const idleSince = new BigUint64Array(activity, 8, 1);
  t.teardown(() => {
    busy[0] = 0;
    idleSince[0] = 0n;
  });
  native.removerWatch(activity);
  const tree = (name: string): string => {
    const p = path.join(d, name, 'sub');
    fs.mkdirSync(p, { recursive: true });
    fs.writeFileSync(path.join(p, 'f'), 'x');
    return path.dirname(p);
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  busy[0] = 1;
  const a = tree('a');
  t.true(native.removeTree(a));
  await sleep(300);
  t.true(fs.existsSync(a), 'kept while a loop is serving requests');
  busy[0] = 0;
  idleSince[0] = process.hrtime.bigint(); // CLOCK_MONOTONIC, as the loop keeps it
  await sleep(20);
  t.true(fs.existsSync(a), 'kept until the loops have slept 50 ms');
  for (let i = 0; i < 100 && fs.existsSync(a); i++) await sleep(10);
  t.false(fs.existsSync(a), 'removed once they have');

  busy[0] = 1;
  const b = tree('b');
  const queued = Date.now();
  t.true(native.removeTree(b));
  for (let i = 0; i < 400 && fs.existsSync(b); i++) await sleep(10);
  const waited = Date.now() - queued;
  t.false(fs.existsSync(b), 'removed after two seconds however busy the loops are');
  t.true(waited >= 1900, `waited ${waited} ms`);

  const c = tree('c');
  t.true(native.removeTree(c));
  t.is(native.drainRemovals(1_000), 0, 'a drain does not wait for quiet');
  t.false(fs.existsSync(c));
  t.throws(() => native.removerWatch(new ArrayBuffer(8)), { instanceOf: TypeError });
});
